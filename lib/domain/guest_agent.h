/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The QEMU guest agent, reached through libvirt: ping, file-system freeze
 * and thaw (VSS on Windows guests), and running commands in the guest
 * (guest-exec).  freeze/thaw use libvirt's own API; ping and exec use
 * virDomainQemuAgentCommand (libvirt notes the domain as tainted by
 * "custom-ga-command" in its log; nothing else changes).
 *
 * Every call has a bounded wait: a guest that does not answer costs at most
 * the timeout given, never a hang.
 */
#ifndef SP_DOMAIN_GUEST_AGENT_H
#define SP_DOMAIN_GUEST_AGENT_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "domain/domain.h"

/* Errors: SP_E_GUEST_AGENT_UNAVAILABLE (no channel configured, agent not
 * connected, or no answer within @timeout_s). */
int sp_guest_agent_ping(struct sp_domain *d, int timeout_s,
			struct sp_error *err);

/* Send a raw agent command; *@ret gets the "return" member (owned).
 * Errors: SP_E_GUEST_AGENT_UNAVAILABLE, SP_E_LIBVIRT (the agent refused
 * the command). */
int sp_guest_agent_command(struct sp_domain *d, const char *cmd, int timeout_s,
			   json_t **ret, struct sp_error *err);

/* Freeze every file system of the guest; *@nfs = how many.  Errors:
 * SP_E_GUEST_AGENT_UNAVAILABLE, SP_E_FREEZE_FAILED. */
int sp_guest_fsfreeze(struct sp_domain *d, int *nfs, struct sp_error *err);
/* Thaw every file system (never by mount point: libvirt 9.0 leaves the
 * guest frozen then).  Errors: SP_E_THAW_FAILED. */
int sp_guest_fsthaw(struct sp_domain *d, struct sp_error *err);
/* The guest's OS id ("linux", "mswindows", ...), malloc'd. */
int sp_guest_os_id(struct sp_domain *d, char **id, struct sp_error *err);

struct sp_guest_exec_result {
	int exit_code; /* -1 when it did not end in time or was signalled */
	bool timed_out;
	long long pid; /* the guest's pid of the command */
	char *out; /* stdout then stderr, decoded, NUL-terminated, malloc'd */
	size_t out_len;
};

/*
 * Run @path with @argv (NULL-terminated, without argv[0]) and @env
 * ("K=V", NULL-terminated, may be NULL) in the guest and wait up to
 * @timeout_ms for it to end.  A command still running then is reported
 * timed out and left running (see sp_guest_exec_kill_tree).  Errors:
 * SP_E_GUEST_AGENT_UNAVAILABLE, SP_E_GUEST_EXEC (the agent could not start
 * it: message has the agent's reason, e.g. no such file).
 */
int sp_guest_exec(struct sp_domain *d, const char *path,
		  const char *const *argv, const char *const *env,
		  unsigned timeout_ms, struct sp_guest_exec_result *res,
		  struct sp_error *err);
void sp_guest_exec_result_release(struct sp_guest_exec_result *res);

/* The two halves of sp_guest_exec(), for a caller that must stop waiting
 * on its own terms (a cancel): start @path in the guest (*@pid: the
 * guest's pid), then ask whether it ended (*@done; @res filled when it
 * did).  Errors: as sp_guest_exec(). */
int sp_guest_exec_start(struct sp_domain *d, const char *path,
			const char *const *argv, const char *const *env,
			long long *pid, struct sp_error *err);
int sp_guest_exec_poll(struct sp_domain *d, long long pid, bool *done,
		       struct sp_guest_exec_result *res, struct sp_error *err);

/*
 * SIGKILL a command started by sp_guest_exec and every process under it
 * (Linux guests: /bin/sh, /proc/PID/task/TID/children).  The agent has no
 * kill of its own.  Returns 0 when the command is gone; SP_E_GUEST_EXEC
 * when the guest could not run the kill.
 */
int sp_guest_exec_kill_tree(struct sp_domain *d, long long pid,
			    struct sp_error *err);

#endif

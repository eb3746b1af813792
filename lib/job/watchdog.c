// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The thaw watchdog (watchdog.h).
 *
 * Invariants:
 *  1. While armed, the guest is thawed no later than the deadline, by the
 *     job or by the watchdog, whichever comes first.
 *  2. When the job's end of the socket closes (exit, crash, SIGKILL), the
 *     watchdog thaws at once if armed, ends the backup job and deletes the
 *     checkpoint being created if one was recorded, then exits.
 *  3. The watchdog is ready (connected to libvirt) before the job freezes:
 *     no freeze happens without it.
 *  4. A virDomainBackupBegin call the job sent before it died is never
 *     raced: it is told of the call before it is sent ('S'), and aborts
 *     the job only once the call has settled, and removes the directories
 *     the call uses only after that.  libvirt aborting a backup whose
 *     start is still in progress frees it under the starting thread.
 */
#include "job/watchdog.h"

#include <stillpoint/stillpoint.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libvirt/virterror.h>

#include "snapshot/snapshot_libvirt.h"
#include "domain/guest_agent.h"
#include "util/fileio.h"
#include "util/log.h"
#include "util/text.h"

#define WATCHDOG_FD 3
#define READY_TIMEOUT_MS 60000
/* How long a dead job's backup job may take to settle and end. */
#define SETTLE_TIMEOUT_MS 60000
/* A call sent just before the kill may reach libvirtd's workers late:
 * no job at all must be seen this long before it is believed. */
#define SETTLE_GRACE_MS 5000
#define SETTLE_POLL_MS 200
#define ABORT_RETRY_MS 2000

extern char **environ;

struct sp_watchdog {
	pid_t pid;
	int fd;
	bool fired;
};

static void send_byte(struct sp_watchdog *w, const char *msg, size_t len)
{
	if (w && w->fd >= 0 &&
	    send(w->fd, msg, len, MSG_NOSIGNAL) != (ssize_t)len)
		sp_log(SP_LOG_WARNING, "watchdog unreachable: %s",
		       strerror(errno));
}

/* Read what the watchdog said so far; an 'X' sets w->fired. */
static void drain(struct sp_watchdog *w, int timeout_ms)
{
	struct pollfd p = {.fd = w->fd, .events = POLLIN};
	char buf[16];
	ssize_t n;

	while (poll(&p, 1, timeout_ms) > 0) {
		n = recv(w->fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n <= 0)
			break;
		for (ssize_t i = 0; i < n; i++)
			if (buf[i] == 'X')
				w->fired = true;
		timeout_ms = 0;
	}
}

int sp_watchdog_start(struct sp_domain *d, unsigned deadline_ms,
		      struct sp_watchdog **ret, struct sp_error *err)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	struct sp_watchdog *w;
	char deadline[16], parent[16];
	char *argv[] = {"stillpoint", SP_WATCHDOG_ARG, d->uri, d->uuid,
			deadline,     parent,	       NULL};
	struct pollfd p;
	int sv[2], r;
	char c = 0;

	snprintf(deadline, sizeof(deadline), "%u", deadline_ms);
	snprintf(parent, sizeof(parent), "%ld", (long)getpid());
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return sp_error_set_errno(err, SP_E_INTERNAL, errno,
					  "cannot start the thaw watchdog");
	w = calloc(1, sizeof(*w));
	if (!w) {
		close(sv[0]);
		close(sv[1]);
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	}
	w->fd = sv[0];
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, sv[1], WATCHDOG_FD);
	posix_spawnattr_init(&attr);
	/* Its own session: a terminal's SIGINT for the job spares it. */
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID);
	r = posix_spawn(&w->pid, "/proc/self/exe", &fa, &attr, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	close(sv[1]);
	if (r != 0) {
		close(w->fd);
		free(w);
		return sp_error_set_errno(err, SP_E_INTERNAL, r,
					  "cannot start the thaw watchdog");
	}
	p = (struct pollfd){.fd = w->fd, .events = POLLIN};
	if (poll(&p, 1, READY_TIMEOUT_MS) <= 0 || recv(w->fd, &c, 1, 0) != 1 ||
	    c != 'R') {
		sp_watchdog_stop(w);
		return sp_error_set(err, SP_E_LIBVIRT,
				    "the thaw watchdog for '%s' could not "
				    "connect to libvirt; not freezing without "
				    "it",
				    d->name);
	}
	*ret = w;
	return 0;
}

void sp_watchdog_arm(struct sp_watchdog *w)
{
	send_byte(w, "F", 1);
}

bool sp_watchdog_disarm(struct sp_watchdog *w)
{
	if (!w)
		return false;
	send_byte(w, "T", 1);
	drain(w, 0);
	return w->fired;
}

static void send_job(struct sp_watchdog *w, char what, const char *checkpoint)
{
	char msg[256];
	int n = snprintf(msg, sizeof(msg), "%c%s\n", what,
			 checkpoint ? checkpoint : "-");

	if (n > 0 && (size_t)n < sizeof(msg))
		send_byte(w, msg, (size_t)n);
}

void sp_watchdog_job_starting(struct sp_watchdog *w, const char *checkpoint)
{
	send_job(w, 'S', checkpoint);
}

void sp_watchdog_job_started(struct sp_watchdog *w, const char *checkpoint)
{
	send_job(w, 'B', checkpoint);
}

void sp_watchdog_job_ended(struct sp_watchdog *w)
{
	send_byte(w, "E", 1);
}

void sp_watchdog_stop(struct sp_watchdog *w)
{
	if (!w)
		return;
	/* Closing is the signal: a disarmed watchdog without a job exits. */
	close(w->fd);
	while (waitpid(w->pid, NULL, 0) < 0 && errno == EINTR)
		;
	free(w);
}

/* ---- the watchdog process ---------------------------------------------- */

static void thaw_now(struct sp_domain *d, const char *why)
{
	uint64_t until = sp_now_mono_ms() + 30000;
	struct sp_error e;

	while (sp_guest_fsthaw(d, &e) < 0) {
		if (sp_now_mono_ms() > until) {
			sp_log(SP_LOG_ERR, "watchdog thaw failed vm=%s: %s",
			       d->name, e.msg);
			return;
		}
		usleep(200000);
	}
	sp_log(SP_LOG_WARNING, "watchdog thawed vm=%s reason=%s", d->name, why);
}

/* The job's socket and scratch directories (snapshot_libvirt.c names
 * them after the domain and the job's pid; the socket is nbd.sock).
 * After a normal end they are gone already. */
static void remove_job_dirs(struct sp_domain *d, long parent)
{
	char dir[512];

	snprintf(dir, sizeof(dir), "%s/%s-%ld", SP_RUN_DIR, d->uuid, parent);
	sp_remove_tree_at(AT_FDCWD, dir);
	snprintf(dir, sizeof(dir), "%s/%s-%ld", SP_SCRATCH_DIR, d->uuid,
		 parent);
	sp_remove_tree_at(AT_FDCWD, dir);
}

static bool socket_listens(const char *path)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	size_t n = strlen(path);
	int fd, r;

	if (n >= sizeof(a.sun_path))
		return false;
	memcpy(a.sun_path, path, n + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	r = connect(fd, (struct sockaddr *)&a, sizeof(a));
	close(fd);
	return r == 0;
}

enum seen {
	SEEN_NONE,	  /* no job on the domain */
	SEEN_OTHER,	  /* a job, not (or not yet known as) ours */
	SEEN_UNKNOWN,	  /* libvirt did not say */
	SEEN_OURS,	  /* our backup, its NBD server not listening */
	SEEN_OURS_SERVING /* our backup, its NBD server listening */
};

/*
 * Which job the domain has.  Ours is the backup whose XML names our
 * socket.  libvirt starts the NBD server late in virDomainBackupBegin and
 * from then to the call's end holds the domain's job (in the monitor) or
 * its lock (between): an abort sent once the server listens runs after
 * the call.  (Before, an abort may land between two steps of the call.)
 */
static enum seen probe(struct sp_domain *d, const char *sock)
{
	virDomainJobInfo info;
	char *xml;
	bool ours;

	if (virDomainGetJobInfo(d->dom, &info) == 0 &&
	    info.type == VIR_DOMAIN_JOB_NONE)
		return SEEN_NONE;
	xml = virDomainBackupGetXMLDesc(d->dom, 0);
	if (!xml)
		return sp_domain_last_error_code() == VIR_ERR_NO_DOMAIN_BACKUP
			   ? SEEN_OTHER
			   : SEEN_UNKNOWN;
	ours = strstr(xml, sock) != NULL;
	free(xml);
	if (!ours)
		return SEEN_OTHER;
	return socket_listens(sock) ? SEEN_OURS_SERVING : SEEN_OURS;
}

/*
 * Invariant 4: end the backup job of a dead job, @started when its call
 * returned, else only starting.  True when the domain has settled (no
 * job of ours left, its checkpoint deleted): the directories may go.
 */
static bool end_job(struct sp_domain *d, const char *checkpoint, bool started,
		    long parent)
{
	uint64_t now = sp_now_mono_ms(), until = now + SETTLE_TIMEOUT_MS;
	uint64_t busy_at = now, aborted_at = 0;
	bool seen_ours = started, aborted = false, waited = false;
	char sock[600];
	struct sp_error e;

	snprintf(sock, sizeof(sock), "%s/%s-%ld/nbd.sock", SP_RUN_DIR, d->uuid,
		 parent);
	for (;;) {
		enum seen s = probe(d, sock);

		now = sp_now_mono_ms();
		if (s != SEEN_NONE)
			busy_at = now;
		if (s == SEEN_OURS || s == SEEN_OURS_SERVING)
			seen_ours = true;
		if (s == SEEN_NONE &&
		    (seen_ours || now - busy_at >= SETTLE_GRACE_MS))
			break;
		if (s == SEEN_OTHER && seen_ours)
			break;
		if ((s == SEEN_OURS_SERVING || (started && s == SEEN_OURS)) &&
		    (!aborted || now - aborted_at >= ABORT_RETRY_MS)) {
			/* Ended when QEMU reports its block jobs cancelled. */
			if (virDomainAbortJob(d->dom) < 0)
				sp_log(SP_LOG_NOTICE,
				       "watchdog: backup job abort failed "
				       "vm=%s: %s (retrying)",
				       d->name,
				       virGetLastError()
					   ? virGetLastError()->message
					   : "?");
			aborted = true;
			aborted_at = now;
		} else if (!started && !waited && s != SEEN_NONE) {
			sp_log(SP_LOG_WARNING,
			       "watchdog waits for the backup call of the dead "
			       "process vm=%s checkpoint=%s",
			       d->name, checkpoint);
			waited = true;
		}
		if (now > until) {
			sp_log(SP_LOG_ERR,
			       "watchdog: the backup job of a dead process did "
			       "not settle in %d s vm=%s checkpoint=%s (run "
			       "'virsh domjobabort %s', then delete the "
			       "checkpoint)",
			       SETTLE_TIMEOUT_MS / 1000, d->name, checkpoint,
			       d->name);
			return false;
		}
		usleep(SETTLE_POLL_MS * 1000);
	}
	if (aborted)
		sp_log(SP_LOG_WARNING,
		       "watchdog ended the backup job of a dead process vm=%s "
		       "checkpoint=%s",
		       d->name, checkpoint);
	else
		sp_log(SP_LOG_NOTICE,
		       "watchdog: no backup job of the dead process left vm=%s "
		       "checkpoint=%s",
		       d->name, checkpoint);
	/* Also when no job started: libvirt keeps the checkpoint of a
	 * call whose export failed. */
	if (strcmp(checkpoint, "-") == 0)
		return true;
	while (sp_libvirt_checkpoint_delete(d, checkpoint, &e) < 0) {
		if (sp_now_mono_ms() > until) {
			sp_log(SP_LOG_ERR,
			       "watchdog checkpoint delete failed vm=%s: %s",
			       d->name, e.msg);
			break;
		}
		usleep(ABORT_RETRY_MS * 1000);
	}
	return true;
}

int sp_watchdog_main(int argc, char **argv)
{
	struct sigaction ign = {.sa_handler = SIG_IGN};
	struct sp_domain *d = NULL;
	struct sp_error e;
	char checkpoint[256] = "", line[200];
	size_t linelen = 0;
	enum { NO_JOB, JOB_STARTING, JOB_STARTED } job = NO_JOB;
	bool armed = false, reading_name = false;
	uint64_t fire_at = 0, deadline, margin;
	long parent;

	if (argc != 5)
		return 2;
	sigaction(SIGINT, &ign, NULL);
	sigaction(SIGTERM, &ign, NULL);
	sigaction(SIGHUP, &ign, NULL);
	sigaction(SIGPIPE, &ign, NULL);
	deadline = strtoull(argv[3], NULL, 10);
	parent = strtol(argv[4], NULL, 10);
	/* Thaw early enough that the thaw itself ends within the deadline. */
	margin = deadline / 5 > 2000 ? 2000 : deadline / 5;
	if (sp_domain_open(argv[1], argv[2], &d, &e) < 0) {
		sp_log(SP_LOG_ERR, "watchdog cannot start: %s", e.msg);
		return 1;
	}
	if (send(WATCHDOG_FD, "R", 1, MSG_NOSIGNAL) != 1)
		goto out;
	for (;;) {
		struct pollfd p = {.fd = WATCHDOG_FD, .events = POLLIN};
		int timeout = -1;
		char buf[64];
		ssize_t n;

		if (armed) {
			uint64_t now = sp_now_mono_ms();
			timeout = fire_at > now ? (int)(fire_at - now) : 0;
		}
		n = poll(&p, 1, timeout);
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0) {
			thaw_now(d, "deadline");
			armed = false;
			send(WATCHDOG_FD, "X", 1, MSG_NOSIGNAL);
			continue;
		}
		n = recv(WATCHDOG_FD, buf, sizeof(buf), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			/* The job is gone (invariant 2). */
			if (armed)
				thaw_now(d, "backup process ended while "
					    "frozen");
			/* Not while a call still uses them (invariant 4). */
			if (job == NO_JOB ||
			    end_job(d, checkpoint, job == JOB_STARTED, parent))
				remove_job_dirs(d, parent);
			break;
		}
		for (ssize_t i = 0; i < n; i++) {
			char c = buf[i];
			if (reading_name) {
				if (c == '\n') {
					line[linelen] = '\0';
					snprintf(checkpoint, sizeof(checkpoint),
						 "%s", line);
					reading_name = false;
				} else if (linelen + 1 < sizeof(line)) {
					line[linelen++] = c;
				}
				continue;
			}
			switch (c) {
			case 'F':
				armed = true;
				fire_at = sp_now_mono_ms() + deadline - margin;
				break;
			case 'T':
				armed = false;
				break;
			case 'S':
			case 'B':
				job = c == 'S' ? JOB_STARTING : JOB_STARTED;
				reading_name = true;
				linelen = 0;
				break;
			case 'E':
				job = NO_JOB;
				break;
			default:
				break;
			}
		}
	}
out:
	sp_domain_close(d);
	return 0;
}

bool sp_watchdog_dispatch(int argc, char **argv, int *status)
{
	if (argc < 2 || strcmp(argv[1], SP_WATCHDOG_ARG) != 0)
		return false;
	*status = sp_watchdog_main(argc - 1, argv + 1);
	return true;
}

// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The QEMU guest agent through libvirt (guest_agent.h).  Commands are
 * built with jansson (never by pasting strings), answers are parsed the
 * same way, and every wait is bounded.
 */
#include "domain/guest_agent.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <libvirt/libvirt-qemu.h>
#include <libvirt/virterror.h>
#include <openssl/evp.h>

#include "util/cleanup.h"
#include "util/text.h"

/* libvirt's answers that mean "no agent to talk to". */
static bool agent_unreachable(int code)
{
	return code == VIR_ERR_AGENT_UNRESPONSIVE ||
	       code == VIR_ERR_ARGUMENT_UNSUPPORTED ||
	       code == VIR_ERR_AGENT_UNSYNCED ||
	       code == VIR_ERR_OPERATION_INVALID ||
	       code == VIR_ERR_OPERATION_TIMEOUT;
}

static int agent_error(struct sp_domain *d, int code, const char *what,
		       struct sp_error *err)
{
	if (agent_unreachable(sp_domain_last_error_code()))
		return sp_domain_error(err, SP_E_GUEST_AGENT_UNAVAILABLE,
				       "cannot %s '%s': guest agent not "
				       "answering (is qemu-guest-agent "
				       "running in the guest?)",
				       what, d->name);
	return sp_domain_error(err, code, "cannot %s '%s'", what, d->name);
}

int sp_guest_agent_command(struct sp_domain *d, const char *cmd, int timeout_s,
			   json_t **ret, struct sp_error *err)
{
	char *answer = virDomainQemuAgentCommand(d->dom, cmd, timeout_s, 0);
	json_t *j, *val;

	if (!answer)
		return agent_error(d, SP_E_LIBVIRT,
				   "talk to the guest agent of", err);
	j = json_loads(answer, 0, NULL);
	free(answer);
	val = j ? json_object_get(j, "return") : NULL;
	if (!val) {
		json_decref(j);
		return sp_error_set(err, SP_E_LIBVIRT,
				    "the guest agent of '%s' gave an answer "
				    "without 'return'",
				    d->name);
	}
	*ret = json_incref(val);
	json_decref(j);
	return 0;
}

int sp_guest_agent_ping(struct sp_domain *d, int timeout_s,
			struct sp_error *err)
{
	json_t *r = NULL;
	int rc = sp_guest_agent_command(d, "{\"execute\":\"guest-ping\"}",
					timeout_s, &r, err);

	json_decref(r);
	if (rc < 0 && rc != SP_E_GUEST_AGENT_UNAVAILABLE) {
		char why[SP_ERROR_MSG_MAX];

		/* err->msg is rewritten below: keep libvirt's words apart. */
		snprintf(why, sizeof(why), "%s", err->msg);
		return sp_error_set(err, SP_E_GUEST_AGENT_UNAVAILABLE,
				    "guest agent of '%s' does not answer "
				    "guest-ping (%s)",
				    d->name, why);
	}
	return rc;
}

int sp_guest_fsfreeze(struct sp_domain *d, int *nfs, struct sp_error *err)
{
	int n = virDomainFSFreeze(d->dom, NULL, 0, 0);

	if (n < 0)
		return agent_error(d, SP_E_FREEZE_FAILED, "freeze", err);
	*nfs = n;
	return 0;
}

int sp_guest_fsthaw(struct sp_domain *d, struct sp_error *err)
{
	if (virDomainFSThaw(d->dom, NULL, 0, 0) < 0)
		return sp_domain_error(err, SP_E_THAW_FAILED,
				       "cannot thaw '%s' (run 'virsh domfsthaw "
				       "%s' and check the guest)",
				       d->name, d->name);
	return 0;
}

int sp_guest_os_id(struct sp_domain *d, char **id, struct sp_error *err)
{
	json_t *r = NULL;
	const char *s;
	int rc = sp_guest_agent_command(d, "{\"execute\":\"guest-get-osinfo\"}",
					5, &r, err);

	if (rc < 0)
		return rc;
	/* A guest without /etc/os-release reports no id: its kernel name
	 * still tells a Linux guest. */
	s = json_string_value(json_object_get(r, "id"));
	if (!s && json_is_string(json_object_get(r, "kernel-name")) &&
	    !strcasecmp(json_string_value(json_object_get(r, "kernel-name")),
			"linux"))
		s = "linux";
	*id = strdup(s ? s : "unknown");
	json_decref(r);
	return *id ? 0 : sp_error_set(err, SP_E_NOMEM, "out of memory");
}

/* Append base64 @b64 decoded to the result's output. */
static void append_b64(struct sp_guest_exec_result *res, const char *b64)
{
	size_t len = strlen(b64), cap = len / 4 * 3 + 4;
	char *grown;
	int n;

	if (!len)
		return;
	grown = realloc(res->out, res->out_len + cap + 1);
	if (!grown)
		return;
	res->out = grown;
	n = EVP_DecodeBlock((unsigned char *)res->out + res->out_len,
			    (const unsigned char *)b64, (int)len);
	if (n < 0)
		n = 0;
	/* EVP_DecodeBlock counts the padding as zero bytes: drop them. */
	while (n > 0 && len > 0 && b64[len - 1] == '=') {
		n--;
		len--;
	}
	res->out_len += (size_t)n;
	res->out[res->out_len] = '\0';
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

/* guest-exec-status of @pid; *st is the "return" object. */
static int exec_status(struct sp_domain *d, long long pid, json_t **st,
		       struct sp_error *err)
{
	char cmd[96];

	snprintf(cmd, sizeof(cmd),
		 "{\"execute\":\"guest-exec-status\","
		 "\"arguments\":{\"pid\":%lld}}",
		 pid);
	return sp_guest_agent_command(d, cmd, 10, st, err);
}

int sp_guest_exec_start(struct sp_domain *d, const char *path,
			const char *const *argv, const char *const *env,
			long long *pid, struct sp_error *err)
{
	json_t *cmd, *args, *a, *e, *ret = NULL;
	sp_autofree char *text = NULL;
	int rc;

	*pid = 0;
	a = json_array();
	e = json_array();
	for (size_t i = 0; argv && argv[i]; i++)
		json_array_append_new(a, json_string(argv[i]));
	for (size_t i = 0; env && env[i]; i++)
		json_array_append_new(e, json_string(env[i]));
	args = json_pack("{s:s, s:o, s:o, s:b}", "path", path, "arg", a, "env",
			 e, "capture-output", 1);
	cmd =
	    json_pack("{s:s, s:o}", "execute", "guest-exec", "arguments", args);
	text = cmd ? json_dumps(cmd, JSON_COMPACT) : NULL;
	json_decref(cmd);
	if (!text)
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	rc = sp_guest_agent_command(d, text, 10, &ret, err);
	if (rc == SP_E_LIBVIRT) {
		char why[SP_ERROR_MSG_MAX];
		const char *agent_said = strstr(err->msg, "error was '");

		/* The agent's own words say it best ("No such file..."). */
		snprintf(why, sizeof(why), "%s",
			 agent_said ? agent_said + 11 : err->msg);
		if (agent_said && strlen(why) > 0 &&
		    why[strlen(why) - 1] == '\'')
			why[strlen(why) - 1] = '\0';
		return sp_error_set(err, SP_E_GUEST_EXEC,
				    "cannot run '%s' in '%s': %s", path,
				    d->name, why);
	}
	if (rc < 0)
		return rc;
	*pid = json_integer_value(json_object_get(ret, "pid"));
	json_decref(ret);
	return 0;
}

int sp_guest_exec_poll(struct sp_domain *d, long long pid, bool *done,
		       struct sp_guest_exec_result *res, struct sp_error *err)
{
	json_t *st = NULL;
	int rc;

	*done = false;
	rc = exec_status(d, pid, &st, err);
	if (rc < 0)
		return rc;
	if (json_is_true(json_object_get(st, "exited"))) {
		json_t *code = json_object_get(st, "exitcode");
		const char *o =
		    json_string_value(json_object_get(st, "out-data"));
		const char *x =
		    json_string_value(json_object_get(st, "err-data"));

		memset(res, 0, sizeof(*res));
		res->pid = pid;
		res->exit_code =
		    json_is_integer(code) ? (int)json_integer_value(code) : -1;
		if (o)
			append_b64(res, o);
		if (x)
			append_b64(res, x);
		*done = true;
	}
	json_decref(st);
	return 0;
}

int sp_guest_exec(struct sp_domain *d, const char *path,
		  const char *const *argv, const char *const *env,
		  unsigned timeout_ms, struct sp_guest_exec_result *res,
		  struct sp_error *err)
{
	uint64_t deadline = sp_now_mono_ms() + timeout_ms;
	unsigned wait = 5;
	long long pid;
	bool done;
	int rc;

	memset(res, 0, sizeof(*res));
	res->exit_code = -1;
	rc = sp_guest_exec_start(d, path, argv, env, &pid, err);
	if (rc < 0)
		return rc;
	res->pid = pid;
	for (;;) {
		rc = sp_guest_exec_poll(d, pid, &done, res, err);
		if (rc < 0 || done)
			return rc;
		if (sp_now_mono_ms() >= deadline) {
			res->timed_out = true;
			return 0;
		}
		sleep_ms(wait);
		if (wait < 100)
			wait *= 2;
	}
}

/*
 * Stop the process first so it forks no more, kill its children depth
 * first, then the process; its status is then collected once, which also
 * frees the agent's record of it.
 */
static const char kill_tree_sh[] =
    "k() { kill -STOP $1 2>/dev/null; "
    "for c in $(cat /proc/$1/task/*/children 2>/dev/null); do k $c; done; "
    "kill -KILL $1 2>/dev/null; }; k \"$1\"";

int sp_guest_exec_kill_tree(struct sp_domain *d, long long pid,
			    struct sp_error *err)
{
	char pidstr[24];
	const char *argv[] = {"-c", kill_tree_sh, "sp-kill", pidstr, NULL};
	struct sp_guest_exec_result res;
	int r;

	snprintf(pidstr, sizeof(pidstr), "%lld", pid);
	r = sp_guest_exec(d, "/bin/sh", argv, NULL, 5000, &res, err);
	if (r < 0)
		return r;
	sp_guest_exec_result_release(&res);
	if (res.timed_out || res.exit_code != 0)
		return sp_error_set(err, SP_E_GUEST_EXEC,
				    "could not kill process %lld in '%s'", pid,
				    d->name);
	/* Reap it in the agent: the status of a killed command, once. */
	for (int i = 0; i < 20; i++) {
		json_t *st = NULL;
		bool exited;

		r = exec_status(d, pid, &st, err);
		if (r < 0)
			return r;
		exited = json_is_true(json_object_get(st, "exited"));
		json_decref(st);
		if (exited)
			return 0;
		sleep_ms(50);
	}
	return sp_error_set(err, SP_E_GUEST_EXEC,
			    "process %lld in '%s' still runs after SIGKILL",
			    pid, d->name);
}

void sp_guest_exec_result_release(struct sp_guest_exec_result *res)
{
	free(res->out);
	res->out = NULL;
	res->out_len = 0;
}

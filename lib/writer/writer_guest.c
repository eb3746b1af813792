// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Guest-side writers through guest-exec (writer_guest.h).  A step that
 * does not end within its timeout is reported timed out and, in a Linux
 * guest, killed with everything it started, as a host writer's process
 * group is: a hung pre script must not hold a database lock for the
 * backup's whole life.  The agent has no kill, so that is a second
 * guest-exec; Windows guests have no /bin/sh and their step is left to
 * end on its own (left_running).
 */
#include "writer/writer_guest.h"

#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "domain/guest_agent.h"
#include "util/cleanup.h"
#include "util/log.h"
#include "util/text.h"

static void keep_tail(struct sp_writer_step_result *res, const char *out,
		      size_t len)
{
	size_t from = len > SP_WRITER_OUTPUT_MAX - 1
			  ? len - (SP_WRITER_OUTPUT_MAX - 1)
			  : 0;

	memcpy(res->output, out + from, len - from);
	res->output[len - from] = '\0';
}

/* One line of output for a message: the last non-empty line. */
static const char *last_line(char *out)
{
	size_t n = strlen(out);

	while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r'))
		out[--n] = '\0';
	char *nl = strrchr(out, '\n');
	return nl ? nl + 1 : out;
}

/* Owner, type and mode of the script and its directory, as the guest
 * sees them: %f is the whole st_mode in hex (%a would drop the type, and a
 * directory or FIFO would pass for a script). */
static int check_guest_script(struct sp_domain *d,
			      const struct sp_writer_def *w, const char *step,
			      const char *path, struct sp_error *err)
{
	sp_autofree char *copy = strdup(path);
	const char *argv[] = {"-L", "-c", "%u %f", path, NULL, NULL};
	struct sp_guest_exec_result res;
	unsigned uid, mode, duid, dmode;
	int r;

	if (!copy)
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	argv[4] = dirname(copy);
	/* The agent may not search PATH (it runs with the environment it
	 * was started with): try where stat lives. */
	static const char *const stats[] = {"/usr/bin/stat", "/bin/stat"};
	r = SP_E_GUEST_EXEC;
	for (size_t i = 0; i < SP_ARRAY_SIZE(stats) && r == SP_E_GUEST_EXEC;
	     i++)
		r = sp_guest_exec(d, stats[i], argv, NULL, 10000, &res, err);
	if (r == SP_E_GUEST_EXEC)
		/* What cannot be checked is not run. */
		return sp_error_set(err, SP_E_WRITER_UNSAFE,
				    "cannot check the owner and mode of %s "
				    "script '%s' of writer '%s' in guest '%s' "
				    "(no /usr/bin/stat or /bin/stat in the "
				    "guest): not running it",
				    step, path, w->name, d->name);
	if (r < 0)
		return r;
	if (res.timed_out || res.exit_code != 0 || !res.out ||
	    sscanf(res.out, "%u %x %u %x", &uid, &mode, &duid, &dmode) != 4) {
		r = sp_error_set(err, SP_E_WRITER_NOT_FOUND,
				 "%s script '%s' of writer '%s' is not in "
				 "guest '%s' (%s)",
				 step, path, w->name, d->name,
				 res.out ? last_line(res.out) : "no answer");
		sp_guest_exec_result_release(&res);
		return r;
	}
	sp_guest_exec_result_release(&res);
	return sp_writer_check_guest_mode(path, w->name, step, uid, mode, duid,
					  dmode, err);
}

/* Kill a timed-out step in the guest; true when it is gone. */
static bool stop_guest_step(struct sp_domain *d, const char *os_id,
			    const struct sp_writer_def *w, const char *step,
			    long long pid)
{
	struct sp_error kerr = {0};

	if (os_id && strcmp(os_id, "mswindows") == 0) {
		sp_log(SP_LOG_WARNING,
		       "writer step left running vm=%s writer=%s step=%s "
		       "pid=%lld why=no-kill-on-windows",
		       d->name, w->name, step, pid);
		return false;
	}
	if (sp_guest_exec_kill_tree(d, pid, &kerr) < 0) {
		sp_log(SP_LOG_WARNING,
		       "writer step left running vm=%s writer=%s step=%s "
		       "pid=%lld why=\"%s\"",
		       d->name, w->name, step, pid, kerr.msg);
		return false;
	}
	return true;
}

int sp_writer_guest_run(struct sp_domain *d, const char *os_id,
			const struct sp_writer_def *w, bool pre,
			const struct sp_writer_env *env,
			struct sp_writer_step_result *res, struct sp_error *err)
{
	const char *step = pre ? "pre" : "post";
	const char *path = pre ? w->pre : w->post;
	char *const *args = pre ? w->pre_args : w->post_args;
	char e_vm[256], e_writer[128], e_step[32], e_type[64], e_attempt[32];
	const char *envp[] = {
	    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
	    e_vm,
	    e_writer,
	    e_step,
	    e_type,
	    e_attempt,
	    NULL};
	uint64_t t0 = sp_now_mono_ms();
	int r;

	memset(res, 0, sizeof(*res));
	res->exit_status = -1;
	if (!path) {
		res->exit_status = 0;
		return 0;
	}
	/* Windows has no owner/mode to check; every other guest does. */
	if (!os_id || strcmp(os_id, "mswindows") != 0) {
		r = check_guest_script(d, w, step, path, err);
		if (r < 0)
			return r;
	}
	snprintf(e_vm, sizeof(e_vm), "STILLPOINT_VM=%s", env->vm);
	snprintf(e_writer, sizeof(e_writer), "STILLPOINT_WRITER=%s", w->name);
	snprintf(e_step, sizeof(e_step), "STILLPOINT_STEP=%s", step);
	snprintf(e_type, sizeof(e_type), "STILLPOINT_BACKUP_TYPE=%s",
		 env->backup_type ? env->backup_type : "full");
	for (unsigned attempt = 1; attempt <= 1 + w->retries; attempt++) {
		struct sp_guest_exec_result ger;

		snprintf(e_attempt, sizeof(e_attempt), "STILLPOINT_ATTEMPT=%u",
			 attempt);
		r = sp_guest_exec(d, path, (const char *const *)args, envp,
				  w->timeout_s * 1000u, &ger, err);
		if (r < 0) {
			res->duration_ms = sp_now_mono_ms() - t0;
			if (r == SP_E_GUEST_EXEC)
				err->code = r = SP_E_WRITER_NOT_FOUND;
			return r;
		}
		res->attempts = attempt;
		res->timed_out = ger.timed_out;
		res->left_running =
		    ger.timed_out &&
		    !stop_guest_step(d, os_id, w, step, ger.pid);
		res->exit_status = ger.timed_out ? -1 : ger.exit_code;
		keep_tail(res, ger.out ? ger.out : "", ger.out_len);
		sp_guest_exec_result_release(&ger);
		/* A killed step is retried like a host one; a step still
		 * running cannot be run again beside itself. */
		if (res->exit_status == 0 || res->left_running)
			break;
	}
	res->duration_ms = sp_now_mono_ms() - t0;
	if (res->timed_out)
		return sp_error_set(
		    err,
		    pre ? SP_E_WRITER_PRE_TIMEOUT : SP_E_WRITER_POST_TIMEOUT,
		    "%s script '%s' of writer '%s' did not end "
		    "within %u s in guest '%s' %s",
		    step, path, w->name, w->timeout_s, d->name,
		    res->left_running ? "and is still running there"
				      : "and was killed with what it started");
	if (res->exit_status != 0) {
		char tail[SP_WRITER_OUTPUT_MAX];
		snprintf(tail, sizeof(tail), "%s", res->output);
		return sp_error_set(
		    err, pre ? SP_E_WRITER_PRE_FAILED : SP_E_WRITER_POST_FAILED,
		    "%s script '%s' of writer '%s' failed in guest '%s' with "
		    "exit status %d after %u attempt%s: %.200s",
		    step, path, w->name, d->name, res->exit_status,
		    res->attempts, res->attempts == 1 ? "" : "s",
		    last_line(tail));
	}
	return 0;
}

// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * `stillpoint restore DOMAIN[@ID] --as NEW --instant` and `restore
 * --resume JOB`: the command starts a background process that owns the
 * server and the copy (it outlives the command), waits until that process
 * says the guest agent answered (or what failed), prints it and returns.
 * The background process logs to STATE_DIR/instant-JOB.log and records
 * its progress and outcome in the job.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <stillpoint/state.h>

#include "cli.h"

/* What the background process says to the command: one JSON object. */
static void tell(int fd, int r, const struct sp_error *err, json_t *res)
{
	json_t *msg = r == 0 ? json_pack("{s:b, s:O}", "ok", 1, "result", res)
			     : json_pack("{s:b, s:i, s:s}", "ok", 0, "code",
					 err->code, "message", err->msg);
	char *text = msg ? json_dumps(msg, JSON_COMPACT) : NULL;
	size_t len = text ? strlen(text) : 0, off = 0;

	while (off < len) {
		ssize_t k = write(fd, text + off, len - off);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		off += (size_t)k;
	}
	free(text);
	json_decref(msg);
	close(fd);
}

/* The background process: its own session, stdio away from the
 * terminal, stderr into the job's log. */
static void detach(const char *state_dir, int64_t job)
{
	char path[4200];
	int fd;

	setsid();
	/* The command may be gone (interrupted) before we tell it: the
	 * recovery goes on regardless. */
	signal(SIGPIPE, SIG_IGN);
	snprintf(path, sizeof(path), "%s/instant-%lld.log", state_dir,
		 (long long)job);
	fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (fd >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
		close(fd);
	}
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd >= 0) {
		dup2(fd, 2);
		close(fd);
	}
}

/* In the background process: boot (or resume), tell, copy, finish. */
static int background(struct cli *cli, struct sp_instant_opts *o,
		      int64_t resume_job, int64_t resume_bw, int fd)
{
	struct sp_state *st = NULL;
	struct sp_vault *v = NULL;
	struct sp_instant *in = NULL;
	struct sp_error err = {0};
	json_t *res = NULL;
	int64_t job = resume_job ? resume_job : o->job;
	int r;

	r = sp_state_open(NULL, &st, &err);
	if (r < 0) {
		tell(fd, r, &err, NULL);
		return 1;
	}
	if (resume_job) {
		r = sp_instant_resume(st, resume_job, resume_bw, cli->cancel,
				      &in, &res, &err);
	} else {
		char log[4200];

		snprintf(log, sizeof(log), "%s/instant-%lld.log",
			 sp_state_dir(st), (long long)job);
		json_t *f = json_pack("{s:I, s:s}", "pid", (json_int_t)getpid(),
				      "log", log);
		r = sp_state_job_update(st, job, f, &err);
		json_decref(f);
		if (r == 0)
			r = sp_vault_open(cli->vault, &v, &err);
		if (r == 0)
			r = sp_instant_boot(v, st, o, &in, &res, &err);
		sp_vault_close(v);
		if (r < 0) {
			struct sp_error e;

			sp_state_job_finish(st, job, NULL, &err, &e);
		}
	}
	tell(fd, r, &err, res);
	json_decref(res);
	if (r == 0) {
		r = sp_instant_copy(in, &err);
		sp_instant_finish(in, r < 0 ? &err : NULL);
		if (r < 0)
			fprintf(stderr, "stillpoint: instant job %lld: %s\n",
				(long long)job, err.msg);
	}
	sp_instant_free(in);
	sp_state_close(st);
	return r < 0 ? 1 : 0;
}

/* Read the background process's word until it closes the pipe. */
static json_t *hear(int fd)
{
	char *buf = NULL;
	size_t len = 0, cap = 0;
	json_t *msg;

	for (;;) {
		if (len + 4096 > cap) {
			char *nb = realloc(buf, cap + 65536);

			if (!nb)
				break;
			buf = nb;
			cap += 65536;
		}
		ssize_t k = read(fd, buf + len, cap - len - 1);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		len += (size_t)k;
	}
	msg = buf ? json_loadb(buf, len, 0, NULL) : NULL;
	free(buf);
	return msg;
}

static void print_result(struct cli *cli, json_t *res, bool resumed)
{
	json_t *d;
	size_t i;

	if (cli->json) {
		cli_print_json(json_incref(res));
		return;
	}
	if (cli->quiet)
		return;
	if (resumed)
		printf(
		    "job %lld: domain '%s' resumed on its served disks\n",
		    (long long)json_integer_value(json_object_get(res, "job")),
		    json_string_value(json_object_get(res, "domain")));
	else
		printf(
		    "domain '%s' (uuid %s) runs from point %s: its guest "
		    "agent answered %.1f s after the command\n",
		    json_string_value(json_object_get(res, "domain")),
		    json_string_value(json_object_get(res, "uuid")),
		    json_string_value(json_object_get(res, "point")),
		    (double)json_integer_value(json_object_get(res, "rto_ms")) /
			1000.0);
	printf("copying its disks to local storage in the background: job "
	       "%lld ('stillpoint job %lld')\n",
	       (long long)json_integer_value(json_object_get(res, "job")),
	       (long long)json_integer_value(json_object_get(res, "job")));
	json_array_foreach(json_object_get(res, "disks"), i, d) printf(
	    "    %s -> %s\n", json_string_value(json_object_get(d, "target")),
	    json_string_value(json_object_get(d, "path")));
	json_array_foreach(json_object_get(res, "not_attached"), i, d)
	    fprintf(stderr, "stillpoint: warning: disk %s was %s: not booted\n",
		    json_string_value(json_object_get(d, "disk")),
		    json_string_value(json_object_get(d, "reason")));
}

/* Fork the background process; wait for its word. */
static int run(struct cli *cli, struct sp_instant_opts *o, int64_t resume_job,
	       int64_t resume_bw, const char *state_dir)
{
	struct sp_error err = {0};
	json_t *msg, *res;
	int fds[2], status;
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC) < 0) {
		sp_error_set_errno(&err, SP_E_INTERNAL, errno, "pipe");
		return cli_fail(cli, &err);
	}
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		sp_error_set_errno(&err, SP_E_INTERNAL, errno, "fork");
		close(fds[0]);
		close(fds[1]);
		return cli_fail(cli, &err);
	}
	if (pid == 0) {
		close(fds[0]);
		detach(state_dir, resume_job ? resume_job : o->job);
		/* The grandchild runs on; the command's child ends at once
		 * so that nothing waits for the copy. */
		pid = fork();
		if (pid != 0)
			_exit(pid < 0 ? 1 : 0);
		_exit(background(cli, o, resume_job, resume_bw, fds[1]));
	}
	close(fds[1]);
	msg = hear(fds[0]);
	close(fds[0]);
	waitpid(pid, &status, 0);
	if (!msg || !json_is_object(msg)) {
		json_decref(msg);
		sp_error_set(&err, SP_E_INTERNAL,
			     "the background process of job %lld ended "
			     "without a word (see %s/instant-%lld.log)",
			     (long long)(resume_job ? resume_job : o->job),
			     state_dir,
			     (long long)(resume_job ? resume_job : o->job));
		return cli_fail(cli, &err);
	}
	if (!json_is_true(json_object_get(msg, "ok"))) {
		err.code =
		    (int)json_integer_value(json_object_get(msg, "code"));
		snprintf(err.msg, sizeof(err.msg), "%s",
			 json_string_value(json_object_get(msg, "message")));
		json_decref(msg);
		return cli_fail(cli, &err);
	}
	res = json_object_get(msg, "result");
	print_result(cli, res, resume_job != 0);
	json_decref(msg);
	return 0;
}

int cli_restore_instant(struct cli *cli, struct sp_instant_opts *o)
{
	struct sp_state *st = NULL;
	struct sp_error err = {0};
	char dir[4096];
	int r;

	o->t0_ms = sp_now_ms();
	o->vault = cli->vault;
	o->cancel = cli->cancel;
	r = sp_state_open(NULL, &st, &err);
	if (r == 0)
		r = sp_state_job_create(st, o->new_name, "instant", "command",
					&o->job, &err);
	if (r == 0) {
		json_t *f = json_pack("{s:s, s:s}", "source", o->spec, "phase",
				      "booting");

		r = sp_state_job_update(st, o->job, f, &err);
		json_decref(f);
		snprintf(dir, sizeof(dir), "%s", sp_state_dir(st));
	}
	sp_state_close(st);
	if (r < 0)
		return cli_fail(cli, &err);
	return run(cli, o, 0, -1, dir);
}

int cli_restore_resume(struct cli *cli, const char *idtxt, int64_t bandwidth)
{
	struct sp_state *st = NULL;
	struct sp_error err = {0};
	char dir[4096], *end;
	long long id = strtoll(idtxt, &end, 10);
	int r;

	if (*end || id <= 0)
		return cli_usage_error(
		    "restore", "--resume wants a job number, not '%s'", idtxt);
	r = sp_state_open(NULL, &st, &err);
	if (r == 0)
		snprintf(dir, sizeof(dir), "%s", sp_state_dir(st));
	sp_state_close(st);
	if (r < 0)
		return cli_fail(cli, &err);
	return run(cli, NULL, id, bandwidth, dir);
}

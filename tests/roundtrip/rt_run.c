// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Running the product and the tools it is compared with: an argv, never a
 * shell; stdout to a file or the case log, stderr to the log; a process
 * group of its own so that a command past its deadline is killed with all
 * it started.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "rt.h"

void rt_argv_add(struct rt_argv *a, const char *fmt, ...)
{
	va_list ap;
	char *s;

	/* A plan never needs more; running out is a bug in this program. */
	if (a->n + 1 >= (int)(sizeof(a->v) / sizeof(a->v[0]))) {
		fprintf(stderr, "sp-roundtrip: argv too long\n");
		abort();
	}
	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0) {
		fprintf(stderr, "sp-roundtrip: out of memory\n");
		abort();
	}
	va_end(ap);
	a->v[a->n++] = s;
	a->v[a->n] = NULL;
}

void rt_argv_free(struct rt_argv *a)
{
	for (int i = 0; i < a->n; i++)
		free(a->v[i]);
	a->n = 0;
	a->v[0] = NULL;
}

static void print_argv(FILE *f, const struct rt_argv *a)
{
	fputs("$", f);
	for (int i = 0; i < a->n; i++) {
		const char *s = a->v[i];
		bool plain = *s != '\0';
		for (const char *p = s; *p; p++)
			if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMN"
				    "OPQRSTUVWXYZ0123456789-_./:=,@+",
				    *p))
				plain = false;
		fprintf(f, plain ? " %s" : " '%s'", s);
	}
	fputc('\n', f);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

bool rt_verbose;

static void child_exec(const struct rt_argv *a, int log_fd, const char *in_path,
		       const char *out_path)
{
	sigset_t none;
	int in = open(in_path ? in_path : "/dev/null", O_RDONLY), out = log_fd;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	setpgid(0, 0);
	if (out_path) {
		out = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
			   0644);
		if (out < 0) {
			dprintf(log_fd, "cannot open %s: %s\n", out_path,
				strerror(errno));
			_exit(127);
		}
	}
	if (in < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 ||
	    dup2(log_fd, 2) < 0)
		_exit(127);
	close_range(3, ~0u, 0);
	execvp(a->v[0], a->v);
	dprintf(2, "cannot run %s: %s\n", a->v[0], strerror(errno));
	_exit(127);
}

int rt_run(const struct rt_argv *a, FILE *log, const char *in_path,
	   const char *out_path, unsigned timeout_s)
{
	sigset_t chld, old;
	uint64_t t0 = now_ms(), deadline = t0 + (uint64_t)timeout_s * 1000;
	int status = 0, r;
	pid_t pid;

	print_argv(log, a);
	fflush(log);
	if (rt_verbose)
		print_argv(stderr, a);
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, &old);
	pid = fork();
	if (pid < 0) {
		fprintf(log, "fork: %s\n", strerror(errno));
		sigprocmask(SIG_SETMASK, &old, NULL);
		return -1;
	}
	if (pid == 0)
		child_exec(a, fileno(log), in_path, out_path);
	for (;;) {
		uint64_t now;
		struct timespec ts;

		r = waitpid(pid, &status, WNOHANG);
		if (r == pid)
			break;
		now = now_ms();
		if (r < 0 || now >= deadline) {
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			fprintf(log, "%s: killed after %u s\n", a->v[0],
				timeout_s);
			sigprocmask(SIG_SETMASK, &old, NULL);
			return -1;
		}
		ts.tv_sec = (time_t)((deadline - now) / 1000);
		ts.tv_nsec = (long)((deadline - now) % 1000) * 1000000;
		sigtimedwait(&chld, NULL, &ts);
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (WIFEXITED(status))
		r = WEXITSTATUS(status);
	else
		r = 128 + WTERMSIG(status);
	if (r != 0)
		fprintf(log, "%s: exit %d\n", a->v[0], r);
	fprintf(log, "# %llu ms\n", (unsigned long long)(now_ms() - t0));
	return r;
}

pid_t rt_spawn(const struct rt_argv *a, FILE *log, const char *out_path)
{
	pid_t pid;

	print_argv(log, a);
	fflush(log);
	if (rt_verbose)
		print_argv(stderr, a);
	pid = fork();
	if (pid == 0)
		child_exec(a, fileno(log), NULL, out_path);
	if (pid < 0)
		fprintf(log, "fork: %s\n", strerror(errno));
	return pid;
}

int rt_stop(pid_t pid, int sig, FILE *log, unsigned timeout_s)
{
	uint64_t deadline = now_ms() + (uint64_t)timeout_s * 1000;
	int status = 0;

	kill(pid, sig);
	while (waitpid(pid, &status, WNOHANG) != pid) {
		if (now_ms() >= deadline) {
			kill(-pid, SIGKILL);
			waitpid(pid, &status, 0);
			fprintf(log, "pid %d: killed after %u s\n", (int)pid,
				timeout_s);
			return -1;
		}
		usleep(20000);
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

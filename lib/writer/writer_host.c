// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Host-side writer steps (writer_host.h): each attempt is a fork + execve
 * of the checked script with an argv (no shell), a clean environment,
 * stdin from /dev/null, stdout and stderr into one pipe, every other
 * descriptor closed, in a process group of its own.
 *
 * An attempt goes STARTED -> (EXITED | TIMED_OUT -> KILLED) -> REAPED.
 * Invariants:
 *   1. every child forked is reaped before sp_writer_host_run() returns,
 *      on every path: no zombie is left behind;
 *   2. on timeout the whole process group is SIGKILLed while its leader
 *      is still unreaped, so the group id cannot have been recycled;
 *   3. the child makes only async-signal-safe calls between fork and
 *      execve (it may have been forked from any thread);
 *   4. @res is filled on every path.
 * A hook that exits normally may leave background processes (a helper
 * holding a lock until the post step); they are not waited for.
 */
#include "writer/writer_host.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/spawn.h"
#include "util/text.h"

/* While the child runs we wake this often to notice its exit even when a
 * background process still holds the output pipe open. */
#define TICK_MS 20
/* Bytes read from the pipe after the child exited, at most. */
#define DRAIN_MAX (64 * 1024)

/* The tail of the output, NUL-terminated, at most SP_WRITER_OUTPUT_MAX-1
 * bytes. */
struct tail {
	char *buf;
	size_t len;
};

static void tail_append(struct tail *t, const char *p, size_t n)
{
	const size_t cap = SP_WRITER_OUTPUT_MAX - 1;

	if (n >= cap) {
		memcpy(t->buf, p + n - cap, cap);
		t->len = cap;
	} else {
		if (t->len + n > cap) {
			size_t drop = t->len + n - cap;
			memmove(t->buf, t->buf + drop, t->len - drop);
			t->len -= drop;
		}
		memcpy(t->buf + t->len, p, n);
		t->len += n;
	}
	t->buf[t->len] = '\0';
}

/* What the child needs, prepared before fork: it may not allocate. */
struct child_plan {
	const char *path;
	char *const *argv;
	char *const *envp;
	int devnull, out_w, err_w;
	int max_fd;
};

static void close_from(int lowfd, int max_fd)
{
#ifdef SYS_close_range
	if (syscall(SYS_close_range, (unsigned)lowfd, ~0u, 0) == 0)
		return;
#endif
	for (int fd = lowfd; fd < max_fd; fd++)
		close(fd);
}

/* Only async-signal-safe calls from here to execve (invariant 3). */
static __attribute__((noreturn)) void run_child(const struct child_plan *c)
{
	struct sigaction dfl = {.sa_handler = SIG_DFL};
	sigset_t none;
	int e, in, out, ew, report = c->err_w;

	setpgid(0, 0);
	/* Lift the three fds above 0..3 first so the dup2()s below cannot
	 * clobber one another whatever numbers they had. */
	in = fcntl(c->devnull, F_DUPFD, 10);
	out = fcntl(c->out_w, F_DUPFD, 10);
	ew = fcntl(c->err_w, F_DUPFD, 10);
	if (in < 0 || out < 0 || ew < 0 || dup2(in, 0) < 0 ||
	    dup2(out, 1) < 0 || dup2(out, 2) < 0 || dup2(ew, 3) < 0)
		goto fail;
	report = 3;
	if (fcntl(3, F_SETFD, FD_CLOEXEC) < 0)
		goto fail;
	close_from(4, c->max_fd);
	/* Handlers vanish at exec, but ignored signals (SIGPIPE...) would
	 * stay ignored, and the mask is inherited: reset both. */
	for (int s = 1; s < NSIG; s++)
		sigaction(s, &dfl, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	execve(c->path, c->argv, c->envp);
fail:
	e = errno;
	/* The parent reads why from the error pipe. */
	if (write(report, &e, sizeof(e)) < 0)
		_exit(127);
	_exit(127);
}

struct attempt {
	int exit_status; /* -1 when killed */
	int signal;	 /* the killing signal, 0 if none */
	bool timed_out;
	int exec_errno; /* execve() failed with this */
};

static void reap(pid_t pid, int *status)
{
	while (waitpid(pid, status, 0) < 0 && errno == EINTR)
		;
}

/* Read what is there without blocking; returns false at EOF or error. */
static bool drain(int fd, struct tail *t, size_t max)
{
	char chunk[4096];
	size_t total = 0;

	while (total < max) {
		ssize_t n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EAGAIN;
		if (n == 0)
			return false;
		tail_append(t, chunk, (size_t)n);
		total += (size_t)n;
	}
	return true;
}

/* Why execve() failed, or 0 when it did not (EOF: the pipe closed on
 * exec). */
static void read_exec_errno(int fd, struct attempt *a)
{
	ssize_t r;

	do
		r = read(fd, &a->exec_errno, sizeof(a->exec_errno));
	while (r < 0 && errno == EINTR);
	if (r != (ssize_t)sizeof(a->exec_errno))
		a->exec_errno = 0;
}

/*
 * One attempt.  Returns 0 with @a filled, or a negative errno when the
 * attempt could not be started (nothing is left running then).
 */
static int run_once(const struct child_plan *plan_in, unsigned timeout_s,
		    struct tail *t, struct attempt *a)
{
	struct child_plan plan = *plan_in;
	int out[2] = {-1, -1}, ep[2] = {-1, -1};
	sp_autoclose int devnull = -1;
	uint64_t deadline;
	sigset_t all, old;
	struct pollfd fds[2];
	bool exited = false;
	int status = 0, e = 0;
	pid_t pid;

	*a = (struct attempt){.exit_status = -1};
	t->len = 0;
	t->buf[0] = '\0';
	devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (devnull < 0)
		return -errno;
	if (pipe2(out, O_CLOEXEC) < 0)
		return -errno;
	if (pipe2(ep, O_CLOEXEC) < 0) {
		e = -errno;
		goto out_close;
	}
	plan.devnull = devnull;
	plan.out_w = out[1];
	plan.err_w = ep[1];

	/* No signal handler may run in the child before it resets them. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pid = fork();
	if (pid == 0)
		run_child(&plan);
	e = pid < 0 ? -errno : 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (pid < 0)
		goto out_close;
	/* Also from here, so that a timeout right away finds the group. */
	setpgid(pid, pid);
	close(out[1]);
	close(ep[1]);
	out[1] = ep[1] = -1;
	fcntl(out[0], F_SETFL, O_NONBLOCK);

	deadline = sp_now_mono_ms() + (uint64_t)timeout_s * 1000;
	fds[0] = (struct pollfd){.fd = out[0], .events = POLLIN};
	fds[1] = (struct pollfd){.fd = ep[0], .events = POLLIN};
	while (!exited) {
		uint64_t now = sp_now_mono_ms();
		int wait_ms, n;
		pid_t w;

		if (now >= deadline) {
			/* Invariant 2: the leader is not reaped yet. */
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
			a->timed_out = true;
			break;
		}
		wait_ms =
		    deadline - now > TICK_MS ? TICK_MS : (int)(deadline - now);
		n = poll(fds, 2, wait_ms);
		if (n < 0 && errno != EINTR) {
			/* Cannot watch it: stop it rather than lose it. */
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
			break;
		}
		if (n > 0 && fds[0].revents && !drain(out[0], t, DRAIN_MAX))
			fds[0].fd = -1;
		if (n > 0 && fds[1].revents) {
			read_exec_errno(ep[0], a);
			fds[1].fd = -1;
		}
		w = waitpid(pid, &status, WNOHANG);
		if (w == pid)
			exited = true;
	}
	if (!exited)
		reap(pid, &status);
	/* The child is gone, so every write end of the error pipe is
	 * closed: this read cannot block. */
	if (fds[1].fd >= 0)
		read_exec_errno(ep[0], a);
	/* What the hook wrote just before exiting; background processes
	 * still holding the pipe are not waited for. */
	if (fds[0].fd >= 0)
		drain(out[0], t, DRAIN_MAX);
	if (WIFEXITED(status)) {
		a->exit_status = WEXITSTATUS(status);
	} else if (WIFSIGNALED(status)) {
		a->exit_status = -1;
		a->signal = a->timed_out ? 0 : WTERMSIG(status);
	}
	if (a->timed_out)
		a->exit_status = -1;
	e = 0;
out_close:
	for (int i = 0; i < 2; i++) {
		if (out[i] >= 0)
			close(out[i]);
		if (ep[i] >= 0)
			close(ep[i]);
	}
	return e;
}

static char *env_var(const char *name, const char *value)
{
	char *s = NULL;

	if (asprintf(&s, "%s=%s", name, value ? value : "") < 0)
		return NULL;
	return s;
}

/* The output's tail for a one-line message: line breaks become "; ",
 * other control characters spaces; surrounding blanks go, and a UTF-8
 * sequence cut at the start. */
static void tail_for_message(const char *in, char *buf, size_t len)
{
	size_t n = strlen(in), o = 0;
	const char *p;

	while (n && (unsigned char)in[n - 1] <= ' ')
		n--;
	p = n > 200 ? in + n - 200 : in;
	while (p < in + n && ((unsigned char)*p & 0xc0) == 0x80)
		p++;
	while (p < in + n && (unsigned char)*p <= ' ')
		p++;
	for (; p < in + n && o + 3 < len; p++) {
		unsigned char c = (unsigned char)*p;
		if (c == '\n' || c == '\r') {
			if (o >= 2 && buf[o - 2] == ';')
				continue;
			buf[o++] = ';';
			buf[o++] = ' ';
			while (p + 1 < in + n && (unsigned char)p[1] <= ' ')
				p++;
		} else {
			buf[o++] = (c < ' ' || c == 0x7f) ? ' ' : (char)c;
		}
	}
	buf[o] = '\0';
}

static int step_failed(const struct sp_writer_def *w, const char *step,
		       const char *path, const struct attempt *a,
		       const struct sp_writer_step_result *res, bool pre,
		       struct sp_error *err)
{
	char how[64], out[256];
	int code;

	tail_for_message(res->output, out, sizeof(out));
	if (a->timed_out) {
		code = pre ? SP_E_WRITER_PRE_TIMEOUT : SP_E_WRITER_POST_TIMEOUT;
		return sp_error_set(err, code,
				    "%s step '%s' of writer '%s' timed out "
				    "after %u s (attempt %u of %u) and was "
				    "killed%s%s (make it finish sooner or "
				    "raise timeout_s)",
				    step, path, w->name, w->timeout_s,
				    res->attempts, w->retries + 1,
				    *out ? ": " : "", out);
	}
	code = pre ? SP_E_WRITER_PRE_FAILED : SP_E_WRITER_POST_FAILED;
	if (a->exec_errno)
		return sp_error_set(err, code,
				    "%s step '%s' of writer '%s' cannot be "
				    "executed: %s (does it start with '#!' "
				    "and name an existing interpreter?)",
				    step, path, w->name,
				    strerror(a->exec_errno));
	if (a->signal)
		snprintf(how, sizeof(how), "was killed by signal %d",
			 a->signal);
	else
		snprintf(how, sizeof(how), "failed with exit %d",
			 a->exit_status);
	return sp_error_set(err, code,
			    "%s step '%s' of writer '%s' %s (attempt %u of "
			    "%u)%s%s (fix the script, or set "
			    "continue_on_failure to go on without it)",
			    step, path, w->name, how, res->attempts,
			    w->retries + 1, *out ? ": " : "", out);
}

int sp_writer_host_run(const struct sp_writer_def *w, bool pre,
		       const struct sp_writer_env *env,
		       struct sp_writer_step_result *res, struct sp_error *err)
{
	const char *step = pre ? "pre" : "post";
	const char *path = pre ? w->pre : w->post;
	char *const *args = pre ? w->pre_args : w->post_args;
	sp_autofree char **argv = NULL;
	char *envp[7] = {NULL};
	struct tail t = {.buf = res->output};
	struct child_plan plan;
	struct attempt a = {.exit_status = -1};
	struct rlimit rl;
	uint64_t start = sp_now_mono_ms();
	size_t nargs = 0;
	int r = 0;

	memset(res, 0, sizeof(*res));
	if (!path)
		return 0;
	r = sp_writer_check_host_script(path, w->name, step, err);
	if (r < 0) {
		res->exit_status = -1;
		return r;
	}
	while (args && args[nargs])
		nargs++;
	argv = calloc(nargs + 2, sizeof(*argv));
	envp[0] = strdup("PATH=" SP_SPAWN_PATH);
	envp[1] = env_var("STILLPOINT_VM", env ? env->vm : NULL);
	envp[2] = env_var("STILLPOINT_WRITER", w->name);
	envp[3] = env_var("STILLPOINT_STEP", step);
	envp[4] = env_var("STILLPOINT_BACKUP_TYPE",
			  env && env->backup_type ? env->backup_type : "full");
	if (!argv || !envp[0] || !envp[1] || !envp[2] || !envp[3] || !envp[4]) {
		res->exit_status = -1;
		r = sp_error_set(err, SP_E_NOMEM, "out of memory");
		goto out;
	}
	argv[0] = (char *)path;
	for (size_t i = 0; i < nargs; i++)
		argv[i + 1] = args[i];
	plan = (struct child_plan){.path = path, .argv = argv, .envp = envp};
	plan.max_fd = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 65536
			  ? (int)rl.rlim_cur
			  : 65536;

	for (unsigned n = 1; n <= w->retries + 1; n++) {
		char attempt[16];

		snprintf(attempt, sizeof(attempt), "%u", n);
		free(envp[5]);
		envp[5] = env_var("STILLPOINT_ATTEMPT", attempt);
		if (!envp[5]) {
			r = sp_error_set(err, SP_E_NOMEM, "out of memory");
			break;
		}
		res->attempts = n;
		r = run_once(&plan, w->timeout_s, &t, &a);
		if (r < 0) {
			a = (struct attempt){.exit_status = -1};
			r = sp_error_set_errno(
			    err,
			    pre ? SP_E_WRITER_PRE_FAILED
				: SP_E_WRITER_POST_FAILED,
			    -r, "cannot start %s step '%s' of writer '%s'",
			    step, path, w->name);
			break;
		}
		if (!a.timed_out && !a.signal && a.exit_status == 0)
			break;
		r = step_failed(w, step, path, &a, res, pre, err);
		/* Running it again will not make it executable. */
		if (a.exec_errno)
			break;
	}
	if (r == 0)
		sp_error_clear(err);
	res->exit_status = a.exit_status;
	res->timed_out = a.timed_out;
out:
	res->duration_ms = sp_now_mono_ms() - start;
	for (size_t i = 0; i < SP_ARRAY_SIZE(envp); i++)
		free(envp[i]);
	return r;
}

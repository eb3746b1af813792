// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * External tools; see spawn.h.  fork + execve with an explicit environment;
 * the child closes every descriptor but the three it is given, so no vault
 * lock or image fd leaks into a tool.
 */
#include "spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define ERR_TAIL 400

const char *sp_spawn_find(const char *prog, char *buf, size_t len)
{
	const char *p = SP_SPAWN_PATH;

	if (strchr(prog, '/')) {
		if (access(prog, X_OK) != 0)
			return NULL;
		snprintf(buf, len, "%s", prog);
		return buf;
	}
	while (*p) {
		const char *colon = strchr(p, ':');
		size_t n = colon ? (size_t)(colon - p) : strlen(p);
		snprintf(buf, len, "%.*s/%s", (int)n, p, prog);
		if (access(buf, X_OK) == 0)
			return buf;
		p += n + (colon ? 1 : 0);
	}
	return NULL;
}

static void close_from(int lowfd)
{
#ifdef SYS_close_range
	if (syscall(SYS_close_range, (unsigned)lowfd, ~0u, 0) == 0)
		return;
#endif
	for (int fd = lowfd; fd < 65536; fd++)
		close(fd);
}

static __attribute__((noreturn)) void
run_child(const char *path, const char *const argv[], int outfd, int errfd)
{
	static char *const envp[] = {"PATH=" SP_SPAWN_PATH, "LC_ALL=C", NULL};
	int devnull = open("/dev/null", O_RDWR);

	if (devnull < 0 || dup2(devnull, 0) < 0 ||
	    dup2(outfd >= 0 ? outfd : devnull, 1) < 0 || dup2(errfd, 2) < 0)
		_exit(127);
	close_from(3);
	signal(SIGPIPE, SIG_DFL);
	execve(path, (char *const *)argv, envp);
	_exit(127);
}

/* Append @n bytes to a growing buffer. */
static int append(char **buf, size_t *len, size_t *cap, const char *p, size_t n)
{
	if (!*buf || *len + n + 1 > *cap) {
		size_t nc = (*cap ? *cap * 2 : 4096);
		while (nc < *len + n + 1)
			nc *= 2;
		char *nb = realloc(*buf, nc);
		if (!nb)
			return -ENOMEM;
		*buf = nb;
		*cap = nc;
	}
	memcpy(*buf + *len, p, n);
	*len += n;
	(*buf)[*len] = '\0';
	return 0;
}

int sp_spawn_run(const char *const argv[], char **out, struct sp_error *err)
{
	char path[512];
	int opipe[2] = {-1, -1}, epipe[2] = {-1, -1};
	char *obuf = NULL, *ebuf = NULL;
	size_t olen = 0, ocap = 0, elen = 0, ecap = 0;
	const char *tool =
	    strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
	struct pollfd fds[2];
	int open_fds = 2;
	pid_t pid;
	int status, r = 0;

	if (!sp_spawn_find(argv[0], path, sizeof(path)))
		return sp_error_set(
		    err, SP_E_TOOL_MISSING,
		    "'%s' is not installed (tools/setup-debian.sh "
		    "installs it)",
		    tool);
	if (pipe2(opipe, O_CLOEXEC) < 0 || pipe2(epipe, O_CLOEXEC) < 0) {
		r = sp_error_set_errno(err, SP_E_TOOL_FAILED, errno,
				       "cannot run '%s'", tool);
		goto out;
	}
	pid = fork();
	if (pid < 0) {
		r = sp_error_set_errno(err, SP_E_TOOL_FAILED, errno,
				       "cannot run '%s'", tool);
		goto out;
	}
	if (pid == 0)
		run_child(path, argv, out ? opipe[1] : -1, epipe[1]);
	close(opipe[1]);
	close(epipe[1]);
	opipe[1] = epipe[1] = -1;

	fds[0] = (struct pollfd){.fd = opipe[0], .events = POLLIN};
	fds[1] = (struct pollfd){.fd = epipe[0], .events = POLLIN};
	while (open_fds > 0) {
		if (poll(fds, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		for (int i = 0; i < 2; i++) {
			char chunk[4096];
			ssize_t n;
			if (fds[i].fd < 0 || !fds[i].revents)
				continue;
			n = read(fds[i].fd, chunk, sizeof(chunk));
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				fds[i].fd = -1;
				open_fds--;
				continue;
			}
			if (i == 0) {
				if (append(&obuf, &olen, &ocap, chunk,
					   (size_t)n) < 0)
					r = SP_E_NOMEM;
			} else {
				if (append(&ebuf, &elen, &ecap, chunk,
					   (size_t)n) < 0)
					r = SP_E_NOMEM;
				/* Keep only the tail: the useful part. */
				if (elen > 4 * ERR_TAIL) {
					memmove(ebuf, ebuf + elen - ERR_TAIL,
						ERR_TAIL + 1);
					elen = ERR_TAIL;
				}
			}
		}
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (r == SP_E_NOMEM) {
		r = sp_error_set(err, SP_E_NOMEM, "out of memory");
		goto out;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		const char *msg = "";
		char how[32];
		if (ebuf) {
			/* trim trailing newlines; keep the tail */
			while (elen && (ebuf[elen - 1] == '\n' ||
					ebuf[elen - 1] == '\r'))
				ebuf[--elen] = '\0';
			msg = elen > ERR_TAIL ? ebuf + elen - ERR_TAIL : ebuf;
		}
		if (WIFEXITED(status))
			snprintf(how, sizeof(how), "exit %d",
				 WEXITSTATUS(status));
		else
			snprintf(how, sizeof(how), "signal %d",
				 WTERMSIG(status));
		r = sp_error_set(err, SP_E_TOOL_FAILED,
				 "'%s%s%s' failed (%s)%s%s", tool,
				 argv[1] ? " " : "", argv[1] ? argv[1] : "",
				 how, *msg ? ": " : "", msg);
		goto out;
	}
	if (out) {
		if (!obuf)
			obuf = strdup("");
		*out = obuf;
		obuf = NULL;
	}
out:
	for (int i = 0; i < 2; i++) {
		if (opipe[i] >= 0)
			close(opipe[i]);
		if (epipe[i] >= 0)
			close(epipe[i]);
	}
	free(obuf);
	free(ebuf);
	return r;
}

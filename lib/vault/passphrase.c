// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Passphrase sources; the order and rules are in passphrase.h.  Every
 * buffer that held a passphrase is wiped before it is freed, including the
 * copy read from a file and a mismatched confirmation.
 */
#include "passphrase.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/log.h"

void sp_passphrase_free(char *p)
{
	if (!p)
		return;
	explicit_bzero(p, strlen(p));
	free(p);
}

static int take(char *p, char **out, const char *from, struct sp_error *err)
{
	if (!*p) {
		sp_passphrase_free(p);
		return sp_error_set(err, SP_E_USAGE,
				    "the passphrase from %s is empty (an empty "
				    "passphrase protects nothing)",
				    from);
	}
	if (strlen(p) > SP_PASSPHRASE_MAX) {
		sp_passphrase_free(p);
		return sp_error_set(err, SP_E_USAGE,
				    "the passphrase from %s is longer than %d "
				    "bytes",
				    from, SP_PASSPHRASE_MAX);
	}
	*out = p;
	return 0;
}

static int from_file(const char *path, char **out, struct sp_error *err)
{
	sp_autoclose int fd = -1;
	struct stat st;

	/* Look at the mode of the file actually read, not of a name that
	 * could be swapped in between. */
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return sp_error_set_errno(err, SP_E_USAGE, errno,
					  "cannot open STILLPOINT_PASSPHRASE_"
					  "FILE '%s'",
					  path);
	if (fstat(fd, &st) < 0)
		return sp_error_set_errno(err, SP_E_USAGE, errno,
					  "cannot stat '%s'", path);
	if (st.st_mode & S_IROTH)
		return sp_error_set(err, SP_E_USAGE,
				    "passphrase file '%s' may be read by every "
				    "user (chmod 600 '%s')",
				    path, path);
	if (st.st_mode & S_IRGRP)
		sp_log(SP_LOG_WARNING,
		       "passphrase file may be read by its group path=%s",
		       path);
	return sp_passphrase_read_fd(fd, path, "STILLPOINT_PASSPHRASE_FILE",
				     out, err);
}

int sp_passphrase_read_fd(int fd, const char *path, const char *from,
			  char **out, struct sp_error *err)
{
	char *data = NULL;
	size_t len = 0;
	int r;

	data = calloc(1, SP_PASSPHRASE_MAX + 3);
	if (!data)
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	while (len < SP_PASSPHRASE_MAX + 2) {
		ssize_t n = read(fd, data + len, SP_PASSPHRASE_MAX + 2 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = errno;
			explicit_bzero(data, len);
			free(data);
			return sp_error_set_errno(err, SP_E_USAGE, r,
						  "cannot read passphrase file "
						  "'%s'",
						  path);
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > SP_PASSPHRASE_MAX + 1 || strlen(data) != len) {
		explicit_bzero(data, len);
		free(data);
		return sp_error_set(err, SP_E_USAGE,
				    "passphrase file '%s' is longer than %d "
				    "bytes or holds a NUL byte",
				    path, SP_PASSPHRASE_MAX);
	}
	if (len && data[len - 1] == '\n')
		data[--len] = '\0';
	if (len && data[len - 1] == '\r')
		data[--len] = '\0';
	return take(data, out, from, err);
}

/* Ask on @tty with echo off; *@out is malloc'ed.  0 or -errno. */
static int ask(int tty, const char *prompt, char **out)
{
	struct termios old, quiet;
	char *buf = calloc(1, SP_PASSPHRASE_MAX + 2);
	size_t len = 0;
	int r = 0;

	if (!buf)
		return -ENOMEM;
	if (tcgetattr(tty, &old) < 0) {
		r = -errno;
		free(buf);
		return r;
	}
	quiet = old;
	quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
	quiet.c_lflag |= ICANON;
	if (write(tty, prompt, strlen(prompt)) < 0 ||
	    tcsetattr(tty, TCSAFLUSH, &quiet) < 0) {
		r = -errno;
		free(buf);
		return r;
	}
	for (;;) {
		char c;
		ssize_t n = read(tty, &c, 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			break;
		}
		if (n == 0 || c == '\n')
			break;
		if (len <= SP_PASSPHRASE_MAX)
			buf[len++] = c;
	}
	tcsetattr(tty, TCSAFLUSH, &old);
	if (write(tty, "\n", 1) < 0) {
		/* The newline is cosmetic. */
	}
	if (r < 0) {
		explicit_bzero(buf, SP_PASSPHRASE_MAX + 2);
		free(buf);
		return r;
	}
	*out = buf;
	return 0;
}

static int from_tty(const char *prompt_for, bool confirm, char **out,
		    struct sp_error *err)
{
	sp_autoclose int tty = -1;
	char prompt[256];
	char *p = NULL, *again = NULL;
	int r;

	tty = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (tty < 0)
		return sp_error_set_errno(err, SP_E_VAULT_KEY_NEEDED, errno,
					  "cannot ask for the passphrase of "
					  "%s: no terminal (set "
					  "STILLPOINT_PASSPHRASE or "
					  "STILLPOINT_PASSPHRASE_FILE, or "
					  "pass --key-file)",
					  prompt_for);
	snprintf(prompt, sizeof(prompt), "Passphrase for %s: ", prompt_for);
	r = ask(tty, prompt, &p);
	if (r == 0 && confirm) {
		snprintf(prompt, sizeof(prompt),
			 "Passphrase for %s (again): ", prompt_for);
		r = ask(tty, prompt, &again);
		if (r == 0 && strcmp(p, again) != 0) {
			sp_passphrase_free(p);
			sp_passphrase_free(again);
			return sp_error_set(err, SP_E_USAGE,
					    "the two passphrases differ (type "
					    "the same one twice)");
		}
		sp_passphrase_free(again);
	}
	if (r < 0) {
		sp_passphrase_free(p);
		return sp_error_set_errno(
		    err, r == -ENOMEM ? SP_E_NOMEM : SP_E_VAULT_KEY_NEEDED, -r,
		    "cannot read the passphrase");
	}
	return take(p, out, "the terminal", err);
}

int sp_passphrase_from_env(char **out, struct sp_error *err)
{
	const char *env = getenv("STILLPOINT_PASSPHRASE");
	const char *file = getenv("STILLPOINT_PASSPHRASE_FILE");

	*out = NULL;
	if (env) {
		char *p = strdup(env);
		if (!p)
			return sp_error_set(err, SP_E_NOMEM, "out of memory");
		return take(p, out, "STILLPOINT_PASSPHRASE", err);
	}
	if (file && *file)
		return from_file(file, out, err);
	return 0;
}

int sp_passphrase_ask(const char *prompt_for, bool confirm, char **out,
		      struct sp_error *err)
{
	if (isatty(STDIN_FILENO))
		return from_tty(prompt_for, confirm, out, err);
	return sp_error_set(err, SP_E_VAULT_KEY_NEEDED,
			    "%s is encrypted and no passphrase was given (set "
			    "STILLPOINT_PASSPHRASE or "
			    "STILLPOINT_PASSPHRASE_FILE, run on a terminal to "
			    "be asked, or pass --key-file)",
			    prompt_for);
}

int sp_passphrase_get(const char *prompt_for, bool confirm, char **out,
		      struct sp_error *err)
{
	int r = sp_passphrase_from_env(out, err);

	if (r < 0 || *out)
		return r;
	return sp_passphrase_ask(prompt_for, confirm, out, err);
}

// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The key settings of a vault's own file (the rules are in vault_conf.h):
 * finding the file of a vault, refusing one that others could read, and
 * reading the passphrase or the key file's name from it.  The invariant:
 * every buffer that held a line or a passphrase is wiped before it is
 * freed, and no message quotes a value but a path.
 */
#include "vault/vault_conf.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/fileio.h"
#include "util/log.h"
#include "vault/passphrase.h"

/* The settings of an S3 vault's file that lib/storage/s3_config.c reads;
 * here they are only passed over. */
static const char *const s3_settings[] = {
    "endpoint",	     "region",	"access_key_id", "secret_access_key",
    "session_token", "ca_file", "path_style",
};

const char *sp_vault_conf_dir(void)
{
	const char *dir = getenv("STILLPOINT_VAULTS_DIR");

	return dir && *dir ? dir : "/etc/stillpoint/vaults";
}

void sp_vault_conf_key_release(struct sp_vault_conf_key *k)
{
	if (!k)
		return;
	sp_passphrase_free(k->passphrase);
	free(k->key_file);
	memset(k, 0, sizeof(*k));
}

/* @fd (named @path; @what says what it is for in messages) is a regular
 * file of this user that group and others cannot use. */
static int check_private(int fd, const char *path, const char *what,
			 const char *conf, struct sp_error *err)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return sp_error_set_errno(err, SP_E_VAULT_KEY_NEEDED, errno,
					  "cannot look at %s '%s'", what, path);
	if (!S_ISREG(st.st_mode))
		return sp_error_set(err, SP_E_VAULT_KEY_NEEDED,
				    "%s '%s'%s%s is not a regular file", what,
				    path, conf ? " named in " : "",
				    conf ? conf : "");
	if (st.st_mode & 077 || st.st_uid != geteuid())
		return sp_error_set(
		    err, SP_E_VAULT_PERMISSION,
		    "%s '%s'%s%s is accessible to other users (mode %04o, "
		    "owner %u; it holds a secret: chown it to uid %u and chmod "
		    "600 it, and change the key if others read it)",
		    what, path, conf ? " named in " : "", conf ? conf : "",
		    (unsigned)(st.st_mode & 07777), (unsigned)st.st_uid,
		    (unsigned)geteuid());
	return 0;
}

/* Open the file a key setting names, for reading, and check it. */
static int open_named(const char *path, const char *setting, const char *conf,
		      int *ret, struct sp_error *err)
{
	sp_autoclose int fd = -1;
	int r;

	if (!*path)
		return sp_error_set(err, SP_E_USAGE,
				    "%s in '%s' is empty (give a path)",
				    setting, conf);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return sp_error_set_errno(
		    err, SP_E_VAULT_KEY_NEEDED, errno,
		    "cannot open %s '%s' named in '%s' (fix the line in '%s' "
		    "or put the file there, mode 0600)",
		    setting, path, conf, conf);
	r = check_private(fd, path, setting, conf, err);
	if (r < 0)
		return r;
	*ret = fd;
	fd = -1;
	return 0;
}

struct key_reader {
	struct sp_vault_conf_key *out;
	bool directory_vault; /* the file of a directory vault */
	bool passphrase_inline;
};

static int read_passphrase_file(struct key_reader *kr, const char *path,
				const char *conf, struct sp_error *err)
{
	char from[2 * PATH_MAX + 48];
	int fd = -1, r;

	r = open_named(path, "passphrase_file", conf, &fd, err);
	if (r < 0)
		return r;
	snprintf(from, sizeof(from), "passphrase_file '%s' (named in '%s')",
		 path, conf);
	r = sp_passphrase_read_fd(fd, path, from, &kr->out->passphrase, err);
	close(fd);
	if (r == SP_E_USAGE && err)
		/* Empty or too long: no key to be had from it. */
		err->code = r = SP_E_VAULT_KEY_NEEDED;
	return r;
}

static int key_line(void *ctx, const char *path, int lineno, const char *key,
		    const char *val, struct sp_error *err)
{
	struct key_reader *kr = ctx;
	struct sp_vault_conf_key *out = kr->out;
	int fd = -1, r;

	if (!strcmp(key, "passphrase") || !strcmp(key, "passphrase_file")) {
		bool inline_ = !strcmp(key, "passphrase");
		if (out->passphrase)
			return sp_error_set(err, SP_E_USAGE,
					    "'%s' line %d: a second passphrase "
					    "(give passphrase or "
					    "passphrase_file, once)",
					    path, lineno);
		if (!inline_)
			return read_passphrase_file(kr, val, path, err);
		if (!*val)
			return sp_error_set(err, SP_E_VAULT_KEY_NEEDED,
					    "'%s' line %d: the passphrase is "
					    "empty",
					    path, lineno);
		kr->passphrase_inline = true;
		out->passphrase = strdup(val);
		return out->passphrase
			   ? 0
			   : sp_error_set(err, SP_E_NOMEM, "out of memory");
	}
	if (!strcmp(key, "key_file")) {
		if (out->key_file)
			return sp_error_set(err, SP_E_USAGE,
					    "'%s' line %d: a second key_file",
					    path, lineno);
		/* Checked here, read by the unlock. */
		r = open_named(val, "key_file", path, &fd, err);
		if (r < 0)
			return r;
		close(fd);
		out->key_file = strdup(val);
		return out->key_file
			   ? 0
			   : sp_error_set(err, SP_E_NOMEM, "out of memory");
	}
	if (kr->directory_vault && !strcmp(key, "vault"))
		return 0;
	for (size_t i = 0;
	     !kr->directory_vault && i < SP_ARRAY_SIZE(s3_settings); i++)
		if (!strcmp(key, s3_settings[i]))
			return 0;
	return sp_error_set(err, SP_E_USAGE,
			    "'%s' line %d: unknown setting '%s' (known: %s"
			    "passphrase, passphrase_file, key_file)",
			    path, lineno, key,
			    kr->directory_vault
				? "vault, "
				: "endpoint, region, access_key_id, "
				  "secret_access_key, session_token, ca_file, "
				  "path_style, ");
}

/* Read the key settings of per-vault file @path into @out. */
static int load_keys(const char *path, bool directory_vault,
		     struct sp_vault_conf_key *out, struct sp_error *err)
{
	struct key_reader kr = {.out = out, .directory_vault = directory_vault};
	int fd, r;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return sp_error_set_errno(err, SP_E_VAULT_KEY_NEEDED, errno,
					  "cannot read vault file '%s'", path);
	r = check_private(fd, path, "vault file", NULL, err);
	if (r < 0) {
		close(fd);
		return r;
	}
	snprintf(out->conf, sizeof(out->conf), "%s", path);
	r = sp_settings_read(fd, path, key_line, &kr, SP_E_VAULT_KEY_NEEDED,
			     err);
	if (r == 0 && (out->passphrase || out->key_file))
		sp_log(SP_LOG_DEBUG,
		       "vault key settings read conf=%s passphrase=%s "
		       "key_file=%s",
		       path,
		       kr.passphrase_inline ? "inline"
		       : out->passphrase    ? "file"
					    : "none",
		       out->key_file ? "yes" : "no");
	return r;
}

/* Looking for the file whose "vault =" line names one directory. */
struct vault_match {
	dev_t dev;
	ino_t ino;
	bool found;
};

static int vault_line(void *ctx, const char *path, int lineno, const char *key,
		      const char *val, struct sp_error *err)
{
	struct vault_match *m = ctx;
	struct stat st;

	(void)path;
	(void)lineno;
	(void)err;
	if (strcmp(key, "vault") != 0 || val[0] != '/')
		return 0;
	if (stat(val, &st) == 0 && st.st_dev == m->dev && st.st_ino == m->ino)
		m->found = true;
	return 0;
}

static bool is_conf_name(const char *name)
{
	size_t n = strlen(name);

	return name[0] != '.' && n > 5 && !strcmp(name + n - 5, ".conf");
}

/* The file of directory vault @location in @dir, into @path ("" when no
 * file names it). */
static int find_directory_conf(const char *dir, const char *location,
			       char *path, size_t cap, struct sp_error *err)
{
	struct vault_match m = {0};
	struct stat st;
	DIR *d;
	struct dirent *e;
	int r = 0;

	path[0] = '\0';
	if (stat(location, &st) < 0)
		return 0;
	m.dev = st.st_dev;
	m.ino = st.st_ino;
	d = opendir(dir);
	if (!d)
		return 0; /* none, or not ours to read */
	while (r == 0 && (e = readdir(d)) != NULL) {
		char cand[PATH_MAX];
		int fd;
		if (!is_conf_name(e->d_name))
			continue;
		snprintf(cand, sizeof(cand), "%s/%s", dir, e->d_name);
		fd = open(cand, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
		if (fd < 0)
			continue; /* another user's: it names no vault of ours
				   */
		if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
			close(fd);
			continue;
		}
		m.found = false;
		struct sp_error ignored;
		/* A line the file's own reader would refuse is refused when
		 * the file is the one chosen; here only "vault =" matters. */
		if (sp_settings_read(fd, cand, vault_line, &m,
				     SP_E_VAULT_KEY_NEEDED, &ignored) < 0 ||
		    !m.found)
			continue;
		if (path[0])
			r = sp_error_set(err, SP_E_USAGE,
					 "both '%s' and '%s' name vault '%s' "
					 "(keep one of them)",
					 path, cand, location);
		else
			snprintf(path, cap, "%s", cand);
	}
	closedir(d);
	return r;
}

int sp_vault_conf_key_load(const char *location, struct sp_vault_conf_key *out,
			   struct sp_error *err)
{
	const char *dir = sp_vault_conf_dir();
	char path[PATH_MAX];
	int r;

	memset(out, 0, sizeof(*out));
	if (!strncmp(location, "s3://", 5)) {
		const char *b = location + 5, *slash = strchr(b, '/');
		snprintf(path, sizeof(path), "%s/%.*s.conf", dir,
			 slash ? (int)(slash - b) : (int)strlen(b), b);
		if (access(path, F_OK) < 0)
			return 0;
		r = load_keys(path, false, out, err);
	} else {
		r = find_directory_conf(dir, location, path, sizeof(path), err);
		if (r < 0 || !path[0])
			return r;
		r = load_keys(path, true, out, err);
	}
	if (r < 0) {
		sp_vault_conf_key_release(out);
		/* Still say which file the failure is in. */
		snprintf(out->conf, sizeof(out->conf), "%s", path);
	}
	return r;
}

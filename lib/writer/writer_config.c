// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * A VM's writer settings (writer_config.h, docs/writers.md): loaded only
 * from a file that nobody but root can change, parsed strictly — every key
 * known, every value typed and in range — so that what runs as root, and
 * when, is exactly what root wrote.  Whatever sp_writer_config_parse()
 * returns holds: names valid and unique, paths absolute, each writer with a
 * pre or a post step, every number in its range.
 */
#include "writer/writer_config.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/cleanup.h"

#define CONFIG_MAX_BYTES (1u << 20)
#define WRITERS_MAX 64
#define ARGS_MAX 64
#define ARG_MAX_LEN 4096

static const char *const top_keys[] = {
    "fsfreeze",	   "freeze_deadline_s", "require",	"pause_fallback",
    "backup_type", "writers",		"shared_disks", NULL,
};

static const char *const writer_keys[] = {
    "name",	 "where",   "pre",
    "pre_args",	 "post",    "post_args",
    "timeout_s", "retries", "continue_on_failure",
    NULL,
};

static const char *const consistency_names[] = {
    [SP_CONSISTENCY_CRASH] = "crash",
    [SP_CONSISTENCY_FILE_SYSTEM] = "file-system",
    [SP_CONSISTENCY_APPLICATION] = "application",
};

const char *sp_consistency_name(enum sp_consistency c)
{
	if ((unsigned)c < SP_ARRAY_SIZE(consistency_names))
		return consistency_names[c];
	return "unknown";
}

int sp_consistency_parse(const char *s)
{
	for (size_t i = 0; s && i < SP_ARRAY_SIZE(consistency_names); i++)
		if (strcmp(s, consistency_names[i]) == 0)
			return (int)i;
	return -1;
}

/* [A-Za-z0-9._-]{1,64}, independent of the locale. */
static bool writer_name_is_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 64)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		      c == '-'))
			return false;
	}
	return true;
}

static void free_args(char **args)
{
	for (size_t i = 0; args && args[i]; i++)
		free(args[i]);
	free(args);
}

void sp_writer_config_free(struct sp_writer_config *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->nwriters; i++) {
		struct sp_writer_def *w = &c->writers[i];
		free(w->name);
		free(w->pre);
		free_args(w->pre_args);
		free(w->post);
		free_args(w->post_args);
	}
	free(c->writers);
	free(c->backup_type);
	free(c);
}

SP_DEFINE_AUTOPTR(sp_writer_config, sp_writer_config_free)

int sp_writer_config_for_vm(const char *vm, const char *path,
			    struct sp_writer_config **ret, struct sp_error *err)
{
	char own[512];

	if (path)
		return sp_writer_config_load(path, ret, err);
	snprintf(own, sizeof(own), "%s/%s.json", SP_WRITERS_DIR, vm);
	if (access(own, F_OK) == 0)
		return sp_writer_config_load(own, ret, err);
	return sp_writer_config_default(ret, err);
}

int sp_writer_config_default(struct sp_writer_config **ret,
			     struct sp_error *err)
{
	struct sp_writer_config *c = calloc(1, sizeof(*c));

	if (!c || !(c->backup_type = strdup("full"))) {
		free(c);
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	}
	c->fsfreeze = true;
	c->freeze_deadline_ms = 10000;
	c->require = SP_CONSISTENCY_CRASH;
	c->pause_fallback = false;
	*ret = c;
	return 0;
}

/* What the parser needs to name things in its messages. */
struct parse_ctx {
	const char *where;
	struct sp_error *err;
};

static int bad(const struct parse_ctx *p, const char *key, const char *what)
{
	return sp_error_set(p->err, SP_E_WRITER_CONFIG,
			    "writer settings '%s': '%s' %s (fix it; the keys "
			    "are described in docs/writers.md)",
			    p->where, key, what);
}

static int nomem(const struct parse_ctx *p)
{
	return sp_error_set(p->err, SP_E_NOMEM, "out of memory");
}

static int check_keys(const struct parse_ctx *p, json_t *obj,
		      const char *const known[], const char *prefix)
{
	const char *key;
	json_t *v;

	json_object_foreach(obj, key, v)
	{
		size_t i;
		for (i = 0; known[i]; i++)
			if (strcmp(key, known[i]) == 0)
				break;
		if (!known[i])
			return sp_error_set(
			    p->err, SP_E_WRITER_CONFIG,
			    "writer settings '%s': unknown key '%s%.64s' "
			    "(remove it or fix its spelling; the keys are "
			    "described in docs/writers.md)",
			    p->where, prefix, key);
	}
	return 0;
}

static int get_bool(const struct parse_ctx *p, json_t *obj, const char *key,
		    const char *label, bool *out)
{
	json_t *v = json_object_get(obj, key);

	if (!v)
		return 0;
	if (!json_is_boolean(v))
		return bad(p, label, "must be true or false");
	*out = json_is_true(v);
	return 0;
}

static int get_uint(const struct parse_ctx *p, json_t *obj, const char *key,
		    const char *label, unsigned lo, unsigned hi, unsigned *out)
{
	json_t *v = json_object_get(obj, key);
	char what[96];

	if (!v)
		return 0;
	if (json_is_integer(v) && json_integer_value(v) >= (json_int_t)lo &&
	    json_integer_value(v) <= (json_int_t)hi) {
		*out = (unsigned)json_integer_value(v);
		return 0;
	}
	snprintf(what, sizeof(what), "must be a whole number from %u to %u", lo,
		 hi);
	return bad(p, label, what);
}

/* A string value; absent leaves *@out alone. */
static int get_string(const struct parse_ctx *p, json_t *obj, const char *key,
		      const char *label, const char **out)
{
	json_t *v = json_object_get(obj, key);

	if (!v)
		return 0;
	if (!json_is_string(v))
		return bad(p, label, "must be a string");
	*out = json_string_value(v);
	return 0;
}

static int get_path(const struct parse_ctx *p, json_t *obj, const char *key,
		    const char *label, char **out)
{
	const char *s = NULL;
	int r = get_string(p, obj, key, label, &s);

	if (r < 0 || !s)
		return r;
	if (s[0] != '/' || strlen(s) >= PATH_MAX)
		return bad(p, label,
			   "must be an absolute path (starting with '/')");
	*out = strdup(s);
	return *out ? 0 : nomem(p);
}

static int get_args(const struct parse_ctx *p, json_t *obj, const char *key,
		    const char *label, char ***out)
{
	json_t *v = json_object_get(obj, key), *a;
	size_t i, n = v ? json_array_size(v) : 0;
	char **args;

	if (v && !json_is_array(v))
		return bad(p, label, "must be a list of strings");
	if (n > ARGS_MAX)
		return bad(p, label, "has more than 64 arguments");
	args = calloc(n + 1, sizeof(*args));
	if (!args)
		return nomem(p);
	*out = args;
	json_array_foreach(v, i, a)
	{
		if (!json_is_string(a) || json_string_length(a) > ARG_MAX_LEN)
			return bad(p, label,
				   "must be a list of strings (each at most "
				   "4096 bytes)");
		args[i] = strdup(json_string_value(a));
		if (!args[i])
			return nomem(p);
	}
	return 0;
}

static int parse_writer(const struct parse_ctx *p, json_t *o, size_t idx,
			struct sp_writer_def *w)
{
	char prefix[32], label[64];
	const char *name = NULL, *where = NULL;
	int r;

	snprintf(prefix, sizeof(prefix), "writers[%zu].", idx);
#define LABEL(k) (snprintf(label, sizeof(label), "%s%s", prefix, k), label)
	/* Defaults first, so a half-parsed writer is still safe to free. */
	w->timeout_s = 60;
	w->retries = 0;
	w->continue_on_failure = true;
	if (!json_is_object(o)) {
		snprintf(label, sizeof(label), "writers[%zu]", idx);
		return bad(p, label, "must be an object");
	}
	r = check_keys(p, o, writer_keys, prefix);
	if (r < 0)
		return r;
	r = get_string(p, o, "name", LABEL("name"), &name);
	if (r < 0)
		return r;
	if (!name || !writer_name_is_valid(name))
		return bad(p, LABEL("name"),
			   "must be 1 to 64 letters, digits, '.', '_' or '-'");
	w->name = strdup(name);
	if (!w->name)
		return nomem(p);
	r = get_string(p, o, "where", LABEL("where"), &where);
	if (r < 0)
		return r;
	if (where && strcmp(where, "guest") == 0)
		w->where = SP_WRITER_GUEST;
	else if (where && strcmp(where, "host") == 0)
		w->where = SP_WRITER_HOST;
	else
		return bad(p, LABEL("where"), "must be \"guest\" or \"host\"");
	if ((r = get_path(p, o, "pre", LABEL("pre"), &w->pre)) < 0 ||
	    (r = get_args(p, o, "pre_args", LABEL("pre_args"), &w->pre_args)) <
		0 ||
	    (r = get_path(p, o, "post", LABEL("post"), &w->post)) < 0 ||
	    (r = get_args(p, o, "post_args", LABEL("post_args"),
			  &w->post_args)) < 0 ||
	    (r = get_uint(p, o, "timeout_s", LABEL("timeout_s"), 1, 3600,
			  &w->timeout_s)) < 0 ||
	    (r = get_uint(p, o, "retries", LABEL("retries"), 0, 10,
			  &w->retries)) < 0 ||
	    (r = get_bool(p, o, "continue_on_failure",
			  LABEL("continue_on_failure"),
			  &w->continue_on_failure)) < 0)
		return r;
	if (!w->pre && !w->post)
		return bad(p, LABEL("pre"),
			   "or 'post' must be given: the writer does nothing");
#undef LABEL
	return 0;
}

static int parse_top(const struct parse_ctx *p, json_t *root,
		     struct sp_writer_config *c)
{
	const char *require = NULL, *type = NULL, *shared = NULL;
	unsigned deadline_s = c->freeze_deadline_ms / 1000;
	json_t *ws, *o;
	size_t i;
	int r;

	if (!json_is_object(root))
		return sp_error_set(p->err, SP_E_WRITER_CONFIG,
				    "writer settings '%s' are not a JSON "
				    "object (write them as { \"key\": value, "
				    "... }, see docs/writers.md)",
				    p->where);
	if ((r = check_keys(p, root, top_keys, "")) < 0 ||
	    (r = get_bool(p, root, "fsfreeze", "fsfreeze", &c->fsfreeze)) < 0 ||
	    (r = get_uint(p, root, "freeze_deadline_s", "freeze_deadline_s", 1,
			  60, &deadline_s)) < 0 ||
	    (r = get_bool(p, root, "pause_fallback", "pause_fallback",
			  &c->pause_fallback)) < 0 ||
	    (r = get_string(p, root, "require", "require", &require)) < 0 ||
	    (r = get_string(p, root, "backup_type", "backup_type", &type)) <
		0 ||
	    (r = get_string(p, root, "shared_disks", "shared_disks", &shared)) <
		0)
		return r;
	if (shared) {
		if (strcmp(shared, "capture") != 0 &&
		    strcmp(shared, "skip") != 0)
			return bad(p, "shared_disks",
				   "must be \"capture\" or \"skip\"");
		c->skip_shared_disks = !strcmp(shared, "skip");
	}
	c->freeze_deadline_ms = deadline_s * 1000;
	if (require) {
		int level = sp_consistency_parse(require);
		if (level < 0)
			return bad(p, "require",
				   "must be \"application\", \"file-system\" "
				   "or \"crash\"");
		c->require = (enum sp_consistency)level;
	}
	if (type) {
		if (strcmp(type, "full") != 0 && strcmp(type, "copy") != 0)
			return bad(p, "backup_type",
				   "must be \"full\" or \"copy\"");
		free(c->backup_type);
		c->backup_type = strdup(type);
		if (!c->backup_type)
			return nomem(p);
	}

	ws = json_object_get(root, "writers");
	if (!ws)
		return 0;
	if (!json_is_array(ws))
		return bad(p, "writers", "must be a list of writer objects");
	if (json_array_size(ws) > WRITERS_MAX)
		return bad(p, "writers", "has more than 64 writers");
	c->writers = calloc(json_array_size(ws) + 1, sizeof(*c->writers));
	if (!c->writers)
		return nomem(p);
	json_array_foreach(ws, i, o)
	{
		/* Counted before parsing, so a failure frees what it got. */
		c->nwriters = i + 1;
		r = parse_writer(p, o, i, &c->writers[i]);
		if (r < 0)
			return r;
		for (size_t j = 0; j < i; j++) {
			char label[48];
			if (strcmp(c->writers[j].name, c->writers[i].name))
				continue;
			snprintf(label, sizeof(label), "writers[%zu].name", i);
			return bad(p, label,
				   "repeats the name of an earlier writer "
				   "(names must be unique)");
		}
	}
	return 0;
}

int sp_writer_config_parse(const char *text, size_t len, const char *where,
			   struct sp_writer_config **ret, struct sp_error *err)
{
	sp_autoptr(sp_writer_config) struct sp_writer_config *c = NULL;
	struct parse_ctx p = {.where = where ? where : "-", .err = err};
	json_error_t jerr;
	json_t *root;
	int r;

	r = sp_writer_config_default(&c, err);
	if (r < 0)
		return r;
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		return sp_error_set(err, SP_E_WRITER_CONFIG,
				    "writer settings '%s' are not valid JSON: "
				    "%s at line %d, column %d (fix the syntax)",
				    p.where, jerr.text, jerr.line, jerr.column);
	r = parse_top(&p, root, c);
	json_decref(root);
	if (r < 0)
		return r;
	*ret = sp_steal_ptr(&c);
	return 0;
}

/* "group", "others" or "group and others" for the w bits of @mode. */
static const char *writable_by(unsigned mode)
{
	if ((mode & 022) == 022)
		return "group and others";
	return (mode & 020) ? "group" : "others";
}

/* The directory part of @path ("/" for "/x", "." for "x") into @buf. */
static void dir_of(const char *path, char *buf, size_t len)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		snprintf(buf, len, ".");
	else if (slash == path)
		snprintf(buf, len, "/");
	else
		snprintf(buf, len, "%.*s", (int)(slash - path), path);
}

/*
 * The one safety rule, for any file that decides what runs as root: owned
 * by root, not writable by group or others, in a directory with the same
 * properties.  @what names the file ("writer settings '/x'", plural when
 * @plural), @as_whom says whose code it could run.
 */
static int check_owner_mode(const char *what, bool plural, const char *as_whom,
			    const char *dir, unsigned uid, unsigned mode,
			    unsigned dir_uid, unsigned dir_mode,
			    struct sp_error *err)
{
	const char *is = plural ? "are" : "is", *it = plural ? "them" : "it";

	if (uid != 0)
		return sp_error_set(err, SP_E_WRITER_UNSAFE,
				    "%s %s owned by uid %u (mode %04o), not "
				    "root: that user could run code %s through "
				    "%s (chown root and chmod go-w it)",
				    what, is, uid, mode & 07777, as_whom, it);
	if (mode & 022)
		return sp_error_set(err, SP_E_WRITER_UNSAFE,
				    "%s %s writable by %s (mode %04o): anyone "
				    "could run code %s through %s (chown root "
				    "and chmod go-w it)",
				    what, is, writable_by(mode), mode & 07777,
				    as_whom, it);
	if (dir_uid != 0)
		return sp_error_set(err, SP_E_WRITER_UNSAFE,
				    "%s %s in directory '%s' owned by uid %u "
				    "(mode %04o), not root: that user could "
				    "replace %s and run code %s (chown root "
				    "and chmod go-w the directory)",
				    what, is, dir, dir_uid, dir_mode & 07777,
				    it, as_whom);
	if (dir_mode & 022)
		return sp_error_set(err, SP_E_WRITER_UNSAFE,
				    "%s %s in directory '%s' writable by %s "
				    "(mode %04o): anyone could replace %s and "
				    "run code %s (chown root and chmod go-w "
				    "the directory)",
				    what, is, dir, writable_by(dir_mode),
				    dir_mode & 07777, it, as_whom);
	return 0;
}

static int read_fd(int fd, const char *path, size_t size, char **out,
		   struct sp_error *err)
{
	sp_autofree char *buf = malloc(size + 1);
	size_t got = 0;

	if (!buf)
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	while (got < size) {
		ssize_t n = read(fd, buf + got, size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return sp_error_set_errno(err, SP_E_WRITER_CONFIG,
						  errno,
						  "cannot read writer settings "
						  "'%s'",
						  path);
		if (n == 0)
			break;
		got += (size_t)n;
	}
	buf[got] = '\0';
	*out = sp_steal_ptr(&buf);
	return (int)got;
}

int sp_writer_config_load(const char *path, struct sp_writer_config **ret,
			  struct sp_error *err)
{
	sp_autoclose int fd = -1;
	sp_autofree char *text = NULL;
	char what[PATH_MAX + 32], dir[PATH_MAX];
	struct stat st, dst;
	int r;

	snprintf(what, sizeof(what), "writer settings '%s'", path);
	/* O_NOFOLLOW: a symlink could point anywhere; O_NONBLOCK: a FIFO
	 * must not hang us before fstat() tells what it is. */
	fd = open(path,
		  O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
	if (fd < 0 && errno == ELOOP)
		return sp_error_set(err, SP_E_WRITER_UNSAFE,
				    "%s are a symbolic link: its target is "
				    "not checked (give --writers the real "
				    "file)",
				    what);
	if (fd < 0 && (errno == ENOENT || errno == ENOTDIR))
		return sp_error_set(err, SP_E_WRITER_CONFIG,
				    "%s do not exist (create the file or fix "
				    "--writers)",
				    what);
	if (fd < 0)
		return sp_error_set_errno(err, SP_E_WRITER_CONFIG, errno,
					  "cannot open %s", what);
	if (fstat(fd, &st) < 0)
		return sp_error_set_errno(err, SP_E_WRITER_CONFIG, errno,
					  "cannot read %s", what);
	if (!S_ISREG(st.st_mode))
		return sp_error_set(err, SP_E_WRITER_UNSAFE,
				    "%s are not a regular file (owner uid %u, "
				    "mode %04o) (give --writers a regular "
				    "file)",
				    what, (unsigned)st.st_uid,
				    (unsigned)st.st_mode & 07777);
	dir_of(path, dir, sizeof(dir));
	if (stat(dir, &dst) < 0)
		return sp_error_set_errno(err, SP_E_WRITER_CONFIG, errno,
					  "cannot check the directory '%s' of "
					  "%s",
					  dir, what);
	r = check_owner_mode(what, true, "as root", dir, st.st_uid, st.st_mode,
			     dst.st_uid, dst.st_mode, err);
	if (r < 0)
		return r;
	if ((uint64_t)st.st_size > CONFIG_MAX_BYTES)
		return sp_error_set(err, SP_E_WRITER_CONFIG,
				    "%s are larger than 1 MiB (is it the right "
				    "file?)",
				    what);
	r = read_fd(fd, path, (size_t)st.st_size, &text, err);
	if (r < 0)
		return r;
	return sp_writer_config_parse(text, (size_t)r, path, ret, err);
}

/* The message subject for a script: "host script '/x' (pre step of writer
 * 'pg')". */
static void script_what(char *buf, size_t len, const char *side,
			const char *path, const char *writer, const char *step)
{
	snprintf(buf, len, "%s script '%s' (%s step of writer '%s')", side,
		 path, step ? step : "?", writer ? writer : "?");
}

int sp_writer_check_host_script(const char *path, const char *writer,
				const char *step, struct sp_error *err)
{
	char what[PATH_MAX + 128], dir[PATH_MAX], real[PATH_MAX];
	struct stat st, lst, dst;
	int r;

	script_what(what, sizeof(what), "host", path, writer, step);
	if (path[0] != '/')
		return sp_error_set(err, SP_E_WRITER_UNSAFE,
				    "%s is not an absolute path (give the full "
				    "path in the writer settings)",
				    what);
	if (stat(path, &st) < 0 || lstat(path, &lst) < 0) {
		if (errno == ENOENT || errno == ENOTDIR || errno == ELOOP)
			return sp_error_set(err, SP_E_WRITER_NOT_FOUND,
					    "%s does not exist (install it or "
					    "fix the path in the writer "
					    "settings)",
					    what);
		return sp_error_set_errno(err, SP_E_WRITER_NOT_FOUND, errno,
					  "cannot check %s", what);
	}
	if (!S_ISREG(st.st_mode))
		return sp_error_set(err, SP_E_WRITER_NOT_FOUND,
				    "%s is not a regular file (give the path "
				    "of the script itself)",
				    what);
	/* The directory of the name we run, and, behind a symlink, that of
	 * the file it resolves to: both decide what gets executed. */
	dir_of(path, dir, sizeof(dir));
	if (stat(dir, &dst) < 0)
		return sp_error_set_errno(err, SP_E_WRITER_NOT_FOUND, errno,
					  "cannot check the directory of %s",
					  what);
	r = check_owner_mode(what, false, "as root", dir, st.st_uid, st.st_mode,
			     dst.st_uid, dst.st_mode, err);
	if (r == 0 && S_ISLNK(lst.st_mode)) {
		if (!realpath(path, real))
			return sp_error_set_errno(err, SP_E_WRITER_NOT_FOUND,
						  errno, "cannot resolve %s",
						  what);
		dir_of(real, dir, sizeof(dir));
		if (stat(dir, &dst) < 0)
			return sp_error_set_errno(
			    err, SP_E_WRITER_NOT_FOUND, errno,
			    "cannot check the directory of %s", what);
		r = check_owner_mode(what, false, "as root", dir, st.st_uid,
				     st.st_mode, dst.st_uid, dst.st_mode, err);
	}
	if (r < 0)
		return r;
	if (!(st.st_mode & 0111))
		return sp_error_set(err, SP_E_WRITER_NOT_FOUND,
				    "%s is not executable (chmod +x it)", what);
	return 0;
}

int sp_writer_check_guest_mode(const char *path, const char *writer,
			       const char *step, unsigned uid, unsigned mode,
			       unsigned dir_uid, unsigned dir_mode,
			       struct sp_error *err)
{
	char what[PATH_MAX + 128], dir[PATH_MAX];
	int r;

	script_what(what, sizeof(what), "guest", path, writer, step);
	if (path[0] != '/')
		return sp_error_set(err, SP_E_WRITER_UNSAFE,
				    "%s is not an absolute path (give the full "
				    "path in the writer settings)",
				    what);
	/* A mode without type bits is no regular file either: what was not
	 * reported is not assumed. */
	if (!S_ISREG(mode))
		return sp_error_set(err, SP_E_WRITER_NOT_FOUND,
				    "%s is not a regular file in the guest "
				    "(give the path of the script itself)",
				    what);
	dir_of(path, dir, sizeof(dir));
	r = check_owner_mode(what, false, "as root in the guest", dir, uid,
			     mode, dir_uid, dir_mode, err);
	if (r < 0)
		return r;
	if (!(mode & 0111))
		return sp_error_set(err, SP_E_WRITER_NOT_FOUND,
				    "%s is not executable in the guest (chmod "
				    "+x it there)",
				    what);
	return 0;
}

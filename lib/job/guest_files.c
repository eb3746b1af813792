// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * `stillpoint files` and `restore --file`: list and copy files out of a
 * point, read through the appliance of guest_fs.h from the point's disks
 * served over NBD (serve.h), so only the chunks the appliance reads are
 * fetched from the vault.
 *
 * Session: S1 find the point; S2 serve its disks; S3 launch the
 * appliance; S4 resolve, mount read-only, list or copy; S5 shut the
 * appliance down, stop the server and take its read counters.
 *
 * Invariants:
 *  1. Every file written is created relative to the target directory's fd
 *     (openat, mkdirat, symlinkat) with O_EXCL|O_NOFOLLOW, from names that
 *     are one path component each: no name or link in the guest file
 *     system makes us write outside the target directory or follow a link.
 *  2. An existing file is replaced only with --force, and then only after
 *     unlinking it (never written through); an existing directory is
 *     merged into only with --force.
 *  3. A file's times are set after its contents, a directory's after
 *     everything in it.
 *  4. Names of one file (hard links) in what is restored stay one file:
 *     the first is copied, the others are linked to it, through a path
 *     resolved beneath the target directory without following links.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <search.h>
#include <string.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <stillpoint/stillpoint.h>

#include "job/guest_fs.h"
#include "job/serve.h"
#include "util/cleanup.h"
#include "util/fileio.h"
#include "util/log.h"
#include "util/text.h"

#define MAX_DEPTH 200

struct session {
	json_t *manifest;
	struct sp_served *served;
	struct sp_guest_fs *gf;
	json_t *vault_read;
};

/* Does the point have disk @name (its target, else its manifest name)? */
static bool point_has_disk(json_t *m, const char *name, size_t len)
{
	json_t *d;
	size_t i;

	json_array_foreach(json_object_get(m, "disks"), i, d)
	{
		const char *t = json_string_value(json_object_get(d, "target"));
		const char *n = json_string_value(json_object_get(d, "name"));
		const char *x = t ? t : n;

		if (x && strlen(x) == len && !strncmp(x, name, len))
			return true;
	}
	return false;
}

/* The mistakes a path can show before the appliance is launched (which
 * costs seconds): a guest path with no mount map, an unknown disk. */
static int precheck(json_t *m, const char *path, struct sp_error *err)
{
	const char *c = strchr(path, ':');

	if (path[0] == '/') {
		if (!json_array_size(json_object_get(m, "guest_mounts")))
			return sp_error_set(
			    err, SP_E_GUEST_PATH_UNMAPPED,
			    "'%s': the point has no mount map (its guest agent "
			    "did not answer at backup); write "
			    "DISK:PARTITION:/path, e.g. vda:1:%s",
			    path, path);
		return 0;
	}
	if (!c)
		return sp_error_set(
		    err, SP_E_USAGE,
		    "'%s' is neither a guest path (/...) nor "
		    "DISK:PARTITION:/path (e.g. vdb:1:/etc/hosts, "
		    "vda::/log)",
		    path);
	if (!strncmp(path, "lvm:", 4) ||
	    point_has_disk(m, path, (size_t)(c - path)))
		return 0;
	return sp_error_set(err, SP_E_GUEST_DISK_NOT_FOUND,
			    "the point has no disk '%.*s' (its disks are "
			    "listed by 'stillpoint points NAME')",
			    (int)(c - path), path);
}

static int session_open(struct sp_vault *v, const struct sp_files_opts *o,
			struct session *s, struct sp_error *err)
{
	struct sp_serve_opts so = {0};
	int r;

	r = sp_vault_find_point(v, o->spec, &s->manifest, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < o->npaths; i++) {
		r = precheck(s->manifest, o->paths[i], err);
		if (r < 0)
			return r;
	}
	so.vault = o->vault;
	so.open_vault = v;
	so.name = json_string_value(json_object_get(s->manifest, "name"));
	so.id = json_string_value(json_object_get(s->manifest, "id"));
	so.exit_with_parent = true;
	so.socket_uid = (uid_t)-1;
	so.socket_gid = (gid_t)-1;
	r = sp_serve_start(&so, &s->served, err);
	if (r < 0)
		return r;
	return sp_guest_fs_open(s->served, s->manifest, &s->gf, err);
}

/* The watchdog's verdict is the first cause of whatever failed after it
 * stopped the appliance. */
static int session_verdict(struct session *s, int r, struct sp_error *err)
{
	unsigned idle = 0;

	if (r < 0 && s->gf && sp_guest_fs_timed_out(s->gf, &idle))
		return sp_error_set(err, SP_E_GUESTFS_FAILED,
				    "the appliance gave no answer for %u s and "
				    "was stopped (a damaged or crafted file "
				    "system? STILLPOINT_FILES_IDLE_TIMEOUT "
				    "sets the wait)",
				    idle);
	return r;
}

static void session_close(struct session *s)
{
	sp_guest_fs_close(s->gf);
	s->gf = NULL;
	if (s->served)
		s->vault_read = sp_serve_stop_stats(s->served);
	s->served = NULL;
	json_decref(s->manifest);
}

/* The result's common members; consumes nothing. */
static void result_common(struct session *s, json_t *res)
{
	json_object_set(res, "name", json_object_get(s->manifest, "name"));
	json_object_set(res, "id", json_object_get(s->manifest, "id"));
}

static void result_finish(struct session *s, json_t *res, const char *accel)
{
	json_object_set_new(res, "accel", json_string(accel));
	json_object_set_new(res, "vault_read",
			    s->vault_read ? s->vault_read : json_null());
	s->vault_read = NULL;
}

/* A name as printable ASCII: bytes outside 0x20..0x7e, and '\', as \xNN
 * (guest names may hold anything but '/' and NUL). */
static json_t *safe_name(const char *name)
{
	size_t l = strlen(name);
	char *out = malloc(l * 4 + 1), *p = out;
	json_t *j;

	if (!out)
		return NULL;
	for (const unsigned char *c = (const unsigned char *)name; *c; c++) {
		if (*c >= 0x20 && *c < 0x7f && *c != '\\')
			*p++ = (char)*c;
		else
			p += snprintf(p, 5, "\\x%02x", *c);
	}
	*p = 0;
	j = json_string(out);
	free(out);
	return j;
}

static const char *type_of(int64_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG:
		return "file";
	case S_IFDIR:
		return "directory";
	case S_IFLNK:
		return "symlink";
	case S_IFCHR:
		return "char";
	case S_IFBLK:
		return "block";
	case S_IFIFO:
		return "fifo";
	case S_IFSOCK:
		return "socket";
	}
	return "unknown";
}

static json_t *entry_json(const char *name, const struct guestfs_statns *st,
			  const char *target)
{
	json_t *e = json_object();

	json_object_set_new(e, "name", safe_name(name));
	json_object_set_new(e, "type", json_string(type_of(st->st_mode)));
	json_object_set_new(e, "mode",
			    json_integer((json_int_t)(st->st_mode & 07777)));
	json_object_set_new(e, "uid", json_integer((json_int_t)st->st_uid));
	json_object_set_new(e, "gid", json_integer((json_int_t)st->st_gid));
	json_object_set_new(e, "size", json_integer((json_int_t)st->st_size));
	json_object_set_new(e, "mtime",
			    json_integer((json_int_t)st->st_mtime_sec));
	json_object_set_new(e, "target",
			    target ? safe_name(target) : json_null());
	return e;
}

static char *join(const char *dir, const char *name)
{
	char *p = NULL;

	if (asprintf(&p, "%s%s%s", dir, strcmp(dir, "/") ? "/" : "", name) < 0)
		return NULL;
	return p;
}

static const char *last_name(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

/* ---- listing ----------------------------------------------------------- */

/* Can @name be one file name on the host (invariant 1)? */
static bool name_ok(const char *name)
{
	return name[0] && strcmp(name, ".") && strcmp(name, "..") &&
	       !strchr(name, '/') && strlen(name) <= NAME_MAX;
}

static void skip_note(json_t *skipped, const char *path, const char *why)
{
	json_t *p = safe_name(path);

	json_array_append_new(
	    skipped, json_pack("{s:o, s:s}", "path", p, "reason", why));
	sp_log(SP_LOG_NOTICE, "skipped path=%s reason=%s", json_string_value(p),
	       why);
}

/* A directory's entries that can be taken: names a host can hold, each
 * with its lstat and, for a symlink, its target. */
struct dir_entries {
	size_t n;
	char **names;
	struct guestfs_statns *st;
	char **targets;
};

static void dir_entries_release(struct dir_entries *de)
{
	for (size_t i = 0; i < de->n; i++) {
		free(de->names[i]);
		free(de->targets[i]);
	}
	free(de->names);
	free(de->targets);
	free(de->st);
	memset(de, 0, sizeof(*de));
}

/*
 * Read directory @dir (@shown: its name for messages).  Names no host
 * can hold, and entries the appliance cannot stat, go to @skipped: one
 * strange entry costs that entry, not the directory.
 */
static int read_dir(guestfs_h *g, const char *dir, const char *shown,
		    json_t *skipped, struct dir_entries *de,
		    struct sp_error *err)
{
	char **all = guestfs_ls(g, dir);
	struct guestfs_statns_list *sts = NULL;
	size_t n = 0, k = 0, o = 0;

	memset(de, 0, sizeof(*de));
	if (!all)
		return sp_error_set(err, SP_E_GUEST_FILE_READ,
				    "cannot list '%s' in the point: %s", shown,
				    guestfs_last_error(g));
	while (all[n])
		n++;
	de->names = calloc(n + 1, sizeof(char *));
	de->targets = calloc(n + 1, sizeof(char *));
	de->st = calloc(n + 1, sizeof(*de->st));
	if (!de->names || !de->targets || !de->st) {
		for (size_t i = 0; i < n; i++)
			free(all[i]);
		free(all);
		dir_entries_release(de);
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	}
	for (size_t i = 0; i < n; i++) {
		if (name_ok(all[i])) {
			de->names[k++] = all[i];
			continue;
		}
		sp_autofree char *p = join(shown, all[i]);
		skip_note(skipped, p ? p : all[i],
			  "a name no host file system can hold");
		free(all[i]);
	}
	free(all);
	if (k)
		sts = guestfs_lstatnslist(g, dir, de->names);
	for (size_t i = 0; i < k; i++) {
		sp_autofree char *gp = join(dir, de->names[i]);
		struct guestfs_statns *one = NULL;

		if (sts && sts->len == k) {
			de->st[o] = sts->val[i];
		} else if (gp && (one = guestfs_lstatns(g, gp))) {
			de->st[o] = *one;
			guestfs_free_statns(one);
		} else {
			sp_autofree char *p = join(shown, de->names[i]);
			skip_note(skipped, p ? p : de->names[i],
				  "the appliance cannot read it");
			free(de->names[i]);
			continue;
		}
		if ((de->st[o].st_mode & S_IFMT) == S_IFLNK && gp)
			de->targets[o] = guestfs_readlink(g, gp);
		de->names[o++] = de->names[i];
	}
	for (size_t i = o; i < k; i++)
		de->names[i] = NULL;
	de->n = o;
	if (sts)
		guestfs_free_statns_list(sts);
	return 0;
}

static int list_dir(guestfs_h *g, const char *dir, json_t *entries,
		    json_t *skipped, struct sp_error *err)
{
	struct dir_entries de;
	int r = read_dir(g, dir, dir, skipped, &de, err);

	if (r < 0)
		return r;
	for (size_t i = 0; i < de.n; i++)
		json_array_append_new(
		    entries, entry_json(de.names[i], &de.st[i], de.targets[i]));
	dir_entries_release(&de);
	return 0;
}

static int lstat_path(guestfs_h *g, const char *inner, const char *given,
		      struct guestfs_statns **st, struct sp_error *err)
{
	if (guestfs_exists(g, inner) <= 0 && guestfs_is_symlink(g, inner) <= 0)
		return sp_error_set(err, SP_E_GUEST_PATH_NOT_FOUND,
				    "'%s' does not exist in the point (list "
				    "the directory above it with 'stillpoint "
				    "files')",
				    given);
	*st = guestfs_lstatns(g, inner);
	if (!*st)
		return sp_error_set(err, SP_E_GUEST_FILE_READ,
				    "cannot read '%s' in the point: %s", given,
				    guestfs_last_error(g));
	return 0;
}

int sp_files_list(struct sp_vault *v, const struct sp_files_opts *o,
		  json_t **ret, struct sp_error *err)
{
	struct session s = {0};
	sp_autofree char *inner = NULL;
	struct guestfs_statns *st = NULL;
	const char *dev = NULL, *accel = NULL;
	json_t *res = json_object(), *entries = json_array();
	int r;

	if (!res || !entries) {
		json_decref(res);
		json_decref(entries);
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	}
	r = session_open(v, o, &s, err);
	if (r < 0)
		goto out;
	accel = sp_guest_fs_accel(s.gf);
	result_common(&s, res);
	if (o->npaths == 0) {
		json_t *fs = NULL;

		r = sp_guest_fs_list(s.gf, &fs, err);
		if (r < 0)
			goto out;
		json_object_set_new(res, "filesystems", fs);
		json_object_set(
		    res, "mounts",
		    json_object_get(s.manifest, "guest_mounts")
			? json_object_get(s.manifest, "guest_mounts")
			: json_null());
		goto out;
	}
	r = sp_guest_fs_resolve(s.gf, o->paths[0], &inner, &dev, err);
	if (r < 0)
		goto out;
	json_object_set_new(res, "path", json_string(o->paths[0]));
	json_object_set_new(res, "device", json_string(dev));
	json_object_set_new(res, "fs_path", safe_name(inner));
	r = lstat_path(sp_guest_fs_handle(s.gf), inner, o->paths[0], &st, err);
	if (r < 0)
		goto out;
	if ((st->st_mode & S_IFMT) == S_IFDIR) {
		json_t *skipped = json_array();

		r = list_dir(sp_guest_fs_handle(s.gf), inner, entries, skipped,
			     err);
		json_object_set_new(res, "skipped", skipped);
	} else {
		char *t =
		    (st->st_mode & S_IFMT) == S_IFLNK
			? guestfs_readlink(sp_guest_fs_handle(s.gf), inner)
			: NULL;
		json_array_append_new(entries,
				      entry_json(last_name(inner), st, t));
		free(t);
	}
out:
	if (st)
		guestfs_free_statns(st);
	r = session_verdict(&s, r, err);
	session_close(&s);
	if (r < 0) {
		json_decref(res);
		json_decref(entries);
		return r;
	}
	if (o->npaths)
		json_object_set_new(res, "entries", entries);
	else
		json_decref(entries);
	result_finish(&s, res, accel);
	*ret = res;
	return 0;
}

/* ---- copying out ------------------------------------------------------- */

/* A file with more than one name, as first restored: its path under the
 * target directory (in struct copy's tree, tsearch(3)). */
struct linked {
	int64_t dev, ino;
	char shown[];
};

struct copy {
	const struct sp_files_opts *o;
	guestfs_h *g;
	bool root;
	int top_fd;  /* the target directory */
	void *links; /* struct linked, by device and inode */
	uint64_t files, dirs, symlinks, hardlinks, bytes, xattrs_failed;
	uint64_t unreadable; /* entries inside a tree the appliance could
				not read: skipped, and the restore fails */
	char first_unreadable[300];
	uint64_t last_report;
	json_t *skipped;
	const char *item;
};

static void skip(struct copy *c, const char *path, const char *why)
{
	skip_note(c->skipped, path, why);
}

static void unreadable(struct copy *c, const char *shown, const char *why)
{
	json_t *p = safe_name(shown);

	if (!c->unreadable++)
		snprintf(c->first_unreadable, sizeof(c->first_unreadable),
			 "'%s': %s", p ? json_string_value(p) : "?", why);
	json_decref(p);
	skip(c, shown, why);
}

static void report(struct copy *c, bool force)
{
	uint64_t now = sp_now_mono_ms();
	struct sp_progress p = {.what = "files",
				.item = c->item,
				.done = c->bytes,
				.bytes_read = c->bytes};

	if (!c->o->job.progress || (!force && now - c->last_report < 250))
		return;
	c->last_report = now;
	c->o->job.progress(c->o->job.progress_ctx, &p);
}

static void set_xattrs(struct copy *c, int fd, const char *gpath)
{
	struct guestfs_xattr_list *xl = guestfs_lgetxattrs(c->g, gpath);

	if (!xl)
		return;
	for (uint32_t i = 0; i < xl->len; i++) {
		if (fsetxattr(fd, xl->val[i].attrname, xl->val[i].attrval,
			      xl->val[i].attrval_len, 0) < 0) {
			c->xattrs_failed++;
			sp_log(SP_LOG_INFO, "xattr not set path=%s name=%s: %s",
			       gpath, xl->val[i].attrname, strerror(errno));
		}
	}
	guestfs_free_xattr_list(xl);
}

/* Owner, xattrs, mode and times of an fd opened on what we made. */
static int set_meta(struct copy *c, int fd, const char *gpath,
		    const struct guestfs_statns *st, const char *shown,
		    struct sp_error *err)
{
	struct timespec ts[2] = {
	    {.tv_sec = st->st_atime_sec, .tv_nsec = st->st_atime_nsec},
	    {.tv_sec = st->st_mtime_sec, .tv_nsec = st->st_mtime_nsec},
	};

	if (c->root && fchown(fd, (uid_t)st->st_uid, (gid_t)st->st_gid) < 0)
		return sp_error_set_errno(err, SP_E_TARGET_WRITE, errno,
					  "cannot set the owner of '%s'",
					  shown);
	set_xattrs(c, fd, gpath);
	if (fchmod(fd, (mode_t)(st->st_mode & 07777)) < 0 ||
	    futimens(fd, ts) < 0)
		return sp_error_set_errno(err, SP_E_TARGET_WRITE, errno,
					  "cannot set the mode or times of "
					  "'%s'",
					  shown);
	return 0;
}

/* Make room for @name under @dfd: refuse (invariant 2) or unlink. */
static int make_room(struct copy *c, int dfd, const char *name,
		     const char *shown, struct sp_error *err)
{
	if (!c->o->force)
		return sp_error_set(err, SP_E_TARGET_EXISTS,
				    "'%s' exists in the target directory "
				    "(remove it or give --force)",
				    shown);
	if (unlinkat(dfd, name, 0) < 0)
		return sp_error_set_errno(err, SP_E_TARGET_EXISTS, errno,
					  "cannot replace '%s'", shown);
	return 0;
}

static int copy_entry(struct copy *c, int dfd, const char *name,
		      const char *gpath, const struct guestfs_statns *st,
		      const char *shown, int depth, struct sp_error *err);

static int copy_children(struct copy *c, int fd, const char *gpath,
			 const char *shown, int depth, struct sp_error *err)
{
	struct dir_entries de;
	int r = read_dir(c->g, gpath, shown, c->skipped, &de, err);

	/* A directory the appliance cannot list (a damaged or crafted
	 * one) costs that directory; the rest of the tree still comes out
	 * and the restore fails at the end. */
	if (r == SP_E_GUEST_FILE_READ && depth > 0) {
		unreadable(c, shown, err->msg);
		return 0;
	}
	for (size_t i = 0; r == 0 && i < de.n; i++) {
		sp_autofree char *gp = join(gpath, de.names[i]);
		sp_autofree char *sh = join(shown, de.names[i]);

		if (!gp || !sh) {
			r = sp_error_set(err, SP_E_NOMEM, "out of memory");
			break;
		}
		r = copy_entry(c, fd, de.names[i], gp, &de.st[i], sh, depth + 1,
			       err);
	}
	dir_entries_release(&de);
	return r;
}

static int copy_dir(struct copy *c, int dfd, const char *name,
		    const char *gpath, const struct guestfs_statns *st,
		    const char *shown, int depth, struct sp_error *err)
{
	sp_autoclose int fd = -1;
	int r;

	if (depth > MAX_DEPTH) {
		skip(c, shown, "deeper than 200 directories");
		return 0;
	}
	if (mkdirat(dfd, name, 0700) < 0) {
		if (errno != EEXIST)
			return sp_error_set_errno(err, SP_E_TARGET_WRITE, errno,
						  "cannot make '%s'", shown);
		if (!c->o->force)
			return sp_error_set(err, SP_E_TARGET_EXISTS,
					    "'%s' exists in the target "
					    "directory (remove it, or give "
					    "--force to merge into it)",
					    shown);
	}
	/* O_NOFOLLOW: an existing symlink of that name is refused, never
	 * entered (invariant 1). */
	fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return sp_error_set_errno(err, SP_E_TARGET_EXISTS, errno,
					  "cannot open '%s' as a directory",
					  shown);
	c->dirs++;
	r = copy_children(c, fd, gpath, shown, depth, err);
	if (r == 0)
		r = set_meta(c, fd, gpath, st, shown, err);
	return r;
}

static int link_cmp(const void *a, const void *b)
{
	const struct linked *x = a, *y = b;

	if (x->dev != y->dev)
		return x->dev < y->dev ? -1 : 1;
	return x->ino < y->ino ? -1 : x->ino > y->ino;
}

/* Where file @st was restored first, or NULL. */
static const char *link_find(const struct copy *c,
			     const struct guestfs_statns *st)
{
	const struct linked key = {.dev = st->st_dev, .ino = st->st_ino};
	struct linked *const *hit = tfind(&key, &c->links, link_cmp);

	return hit ? (*hit)->shown : NULL;
}

/* Remember that file @st is at @shown (a failure only costs the link). */
static void link_add(struct copy *c, const struct guestfs_statns *st,
		     const char *shown)
{
	const size_t len = strlen(shown) + 1;
	struct linked *l = malloc(sizeof(*l) + len);
	struct linked **at;

	if (!l)
		return;
	l->dev = st->st_dev;
	l->ino = st->st_ino;
	memcpy(l->shown, shown, len);
	at = tsearch(l, &c->links, link_cmp);
	if (!at || *at != l)
		free(l); /* out of memory, or known already */
}

/* @name in @dfd as another name of @first (a path under the target
 * directory): 0, or -errno.  Its directories are resolved beneath the
 * target directory, never through a link (invariant 1). */
static int link_to_first(struct copy *c, int dfd, const char *name,
			 const char *first)
{
	struct open_how how = {.flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
			       .resolve = RESOLVE_BENEATH |
					  RESOLVE_NO_SYMLINKS |
					  RESOLVE_NO_MAGICLINKS};
	const char *slash = strrchr(first, '/');
	sp_autofree char *dir =
	    slash ? strndup(first, (size_t)(slash - first)) : strdup(".");
	sp_autoclose int pfd = -1;
	long fd;

	if (!dir)
		return -ENOMEM;
	fd = syscall(SYS_openat2, c->top_fd, dir, &how, sizeof(how));
	if (fd < 0)
		return -errno;
	pfd = (int)fd;
	return linkat(pfd, slash ? slash + 1 : first, dfd, name, 0) == 0
		   ? 0
		   : -errno;
}

/* Another name of a file restored already: linked to it.  *@done false
 * when it must be copied instead (a file system without links, say). */
static int link_again(struct copy *c, int dfd, const char *name,
		      const char *first, const char *shown, bool *done,
		      struct sp_error *err)
{
	int r = link_to_first(c, dfd, name, first);

	if (r == -EEXIST) {
		r = make_room(c, dfd, name, shown, err);
		if (r < 0)
			return r;
		r = link_to_first(c, dfd, name, first);
	}
	*done = r == 0;
	if (*done)
		c->hardlinks++;
	return 0;
}

static int copy_file(struct copy *c, int dfd, const char *name,
		     const char *gpath, const struct guestfs_statns *st,
		     const char *shown, int depth, struct sp_error *err)
{
	const char *first = st->st_nlink > 1 ? link_find(c, st) : NULL;
	sp_autoclose int fd = -1;
	char fdpath[64];
	bool linked = false;
	int r;

	if (first) {
		r = link_again(c, dfd, name, first, shown, &linked, err);
		if (r < 0 || linked)
			return r;
	}
	for (int tries = 0; fd < 0 && tries < 2; tries++) {
		fd = openat(
		    dfd, name,
		    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd >= 0)
			break;
		if (errno != EEXIST || tries)
			return sp_error_set_errno(err, SP_E_TARGET_WRITE, errno,
						  "cannot create '%s'", shown);
		r = make_room(c, dfd, name, shown, err);
		if (r < 0)
			return r;
	}
	c->item = shown;
	report(c, false);
	snprintf(fdpath, sizeof(fdpath), "/dev/fd/%d", fd);
	if (guestfs_download(c->g, gpath, fdpath) < 0) {
		char why[SP_ERROR_MSG_MAX];

		snprintf(why, sizeof(why), "cannot read it in the point: %s",
			 guestfs_last_error(c->g));
		/* No part of a file stays under its name. */
		unlinkat(dfd, name, 0);
		if (depth == 0)
			return sp_error_set(err, SP_E_GUEST_FILE_READ,
					    "cannot read '%s' in the point: "
					    "%s",
					    shown, why);
		unreadable(c, shown, why);
		return 0;
	}
	c->files++;
	c->bytes += (uint64_t)st->st_size;
	report(c, false);
	r = set_meta(c, fd, gpath, st, shown, err);
	if (r == 0 && st->st_nlink > 1)
		link_add(c, st, shown);
	return r;
}

static int copy_symlink(struct copy *c, int dfd, const char *name,
			const char *gpath, const struct guestfs_statns *st,
			const char *shown, struct sp_error *err)
{
	sp_autofree char *target = guestfs_readlink(c->g, gpath);
	struct timespec ts[2] = {
	    {.tv_sec = st->st_atime_sec, .tv_nsec = st->st_atime_nsec},
	    {.tv_sec = st->st_mtime_sec, .tv_nsec = st->st_mtime_nsec},
	};
	int r;

	if (!target)
		return sp_error_set(err, SP_E_GUEST_FILE_READ,
				    "cannot read the link '%s' in the point: "
				    "%s",
				    shown, guestfs_last_error(c->g));
	/* The target is stored as text, never resolved on the host. */
	if (symlinkat(target, dfd, name) < 0) {
		if (errno != EEXIST)
			return sp_error_set_errno(err, SP_E_TARGET_WRITE, errno,
						  "cannot make '%s'", shown);
		r = make_room(c, dfd, name, shown, err);
		if (r < 0)
			return r;
		if (symlinkat(target, dfd, name) < 0)
			return sp_error_set_errno(err, SP_E_TARGET_WRITE, errno,
						  "cannot make '%s'", shown);
	}
	c->symlinks++;
	if (c->root && fchownat(dfd, name, (uid_t)st->st_uid, (gid_t)st->st_gid,
				AT_SYMLINK_NOFOLLOW) < 0)
		return sp_error_set_errno(err, SP_E_TARGET_WRITE, errno,
					  "cannot set the owner of '%s'",
					  shown);
	if (utimensat(dfd, name, ts, AT_SYMLINK_NOFOLLOW) < 0)
		return sp_error_set_errno(err, SP_E_TARGET_WRITE, errno,
					  "cannot set the times of '%s'",
					  shown);
	return 0;
}

static int copy_entry(struct copy *c, int dfd, const char *name,
		      const char *gpath, const struct guestfs_statns *st,
		      const char *shown, int depth, struct sp_error *err)
{
	if (c->o->job.cancel && *c->o->job.cancel)
		return sp_error_set(err, SP_E_INTERRUPTED, "interrupted");
	if (!name_ok(name)) {
		skip(c, shown, "a name no host file system can hold");
		return 0;
	}
	switch (st->st_mode & S_IFMT) {
	case S_IFDIR:
		return copy_dir(c, dfd, name, gpath, st, shown, depth, err);
	case S_IFREG:
		return copy_file(c, dfd, name, gpath, st, shown, depth, err);
	case S_IFLNK:
		return copy_symlink(c, dfd, name, gpath, st, shown, err);
	}
	skip(c, shown, "not a file, directory or symlink");
	return 0;
}

/* The name a restored path gets in DIR: its last component; for a file
 * system's root, the guest path's ("/data0" -> "data0") or the device's
 * ("vdb:1" -> "vdb-1"). */
static char *top_name(const char *given, const char *inner, const char *dev)
{
	const char *l = last_name(inner);
	size_t len;
	char *n;

	if (!*l && given[0] == '/')
		l = last_name(given);
	if (*l)
		return strdup(l);
	n = strdup(dev);
	for (char *p = n; p && *p; p++)
		if (*p == ':' || *p == '/')
			*p = '-';
	len = n ? strlen(n) : 0;
	if (len > 1 && n[len - 1] == '-')
		n[len - 1] = 0;
	return n;
}

static int restore_one(struct copy *c, struct sp_guest_fs *gf, int dfd,
		       const char *path, struct sp_error *err)
{
	sp_autofree char *inner = NULL, *name = NULL;
	struct guestfs_statns *st = NULL;
	const char *dev = NULL;
	int r;

	r = sp_guest_fs_resolve(gf, path, &inner, &dev, err);
	if (r < 0)
		return r;
	r = lstat_path(c->g, inner, path, &st, err);
	if (r < 0)
		return r;
	name = top_name(path, inner, dev);
	if (!name)
		r = sp_error_set(err, SP_E_NOMEM, "out of memory");
	else
		r = copy_entry(c, dfd, name, inner, st, name, 0, err);
	guestfs_free_statns(st);
	return r;
}

int sp_files_restore(struct sp_vault *v, const struct sp_files_opts *o,
		     json_t **ret, struct sp_error *err)
{
	struct session s = {0};
	struct copy c = {.o = o, .root = geteuid() == 0, .top_fd = -1};
	sp_autoclose int dfd = -1;
	const char *accel = NULL;
	json_t *res;
	int r;

	if (!o->to_dir || !o->npaths)
		return sp_error_set(err, SP_E_USAGE,
				    "restore --file needs a path and --to DIR");
	dfd = open(o->to_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 && errno == ENOENT) {
		r = sp_mkdir_parents(o->to_dir);
		if (r < 0)
			return sp_error_set_errno(err, SP_E_TARGET_WRITE, -r,
						  "cannot make '%s'",
						  o->to_dir);
		dfd = open(o->to_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	if (dfd < 0)
		return sp_error_set_errno(err, SP_E_TARGET_NOT_FOUND, errno,
					  "cannot open the directory '%s'",
					  o->to_dir);
	c.top_fd = dfd;
	c.skipped = json_array();
	res = json_object();
	if (!c.skipped || !res) {
		json_decref(c.skipped);
		json_decref(res);
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	}
	r = session_open(v, o, &s, err);
	if (r == 0) {
		accel = sp_guest_fs_accel(s.gf);
		c.g = sp_guest_fs_handle(s.gf);
		result_common(&s, res);
	}
	for (size_t i = 0; r == 0 && i < o->npaths; i++)
		r = restore_one(&c, s.gf, dfd, o->paths[i], err);
	if (r == 0 && c.unreadable) {
		r = sp_error_set(err, SP_E_GUEST_FILE_READ,
				 "%llu entries of the point could not be read "
				 "and were left out (first %s); everything "
				 "else is in '%s'",
				 (unsigned long long)c.unreadable,
				 c.first_unreadable, o->to_dir);
		for (size_t i = 0; i < json_array_size(c.skipped); i++) {
			json_t *k = json_array_get(c.skipped, i);
			sp_log(SP_LOG_WARNING, "left out path=%s reason=%s",
			       json_string_value(json_object_get(k, "path")),
			       json_string_value(json_object_get(k, "reason")));
		}
	}
	if (r == 0 && fsync(dfd) < 0)
		r = sp_error_set_errno(err, SP_E_TARGET_WRITE, errno,
				       "cannot sync '%s'", o->to_dir);
	report(&c, true);
	tdestroy(c.links, free);
	r = session_verdict(&s, r, err);
	session_close(&s);
	if (r < 0) {
		json_decref(c.skipped);
		json_decref(res);
		return r;
	}
	json_object_set_new(res, "to", json_string(o->to_dir));
	json_object_set_new(res, "files", json_integer((json_int_t)c.files));
	json_object_set_new(res, "dirs", json_integer((json_int_t)c.dirs));
	json_object_set_new(res, "symlinks",
			    json_integer((json_int_t)c.symlinks));
	json_object_set_new(res, "hardlinks",
			    json_integer((json_int_t)c.hardlinks));
	json_object_set_new(res, "bytes", json_integer((json_int_t)c.bytes));
	json_object_set_new(res, "xattrs_failed",
			    json_integer((json_int_t)c.xattrs_failed));
	json_object_set_new(res, "skipped", c.skipped);
	result_finish(&s, res, accel);
	*ret = res;
	return 0;
}

// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The trash: soft-deleted recovery points (gc.h, docs/vault-format.md).
 *
 *   delete:   deleted.json published in the point -> rename(points/N/I,
 *             trash/N/I) -> fsync trash/N and points/N
 *   undelete: rename(trash/N/I, points/N/I) -> fsync both -> deleted.json
 *             removed (a stale one in a published point is ignored)
 *   purge:    rename(trash/N/I, trash/.purging-N@I) -> fsync -> remove the
 *             tree; a crash leaves a ".purging-" directory that no reader
 *             looks at and the next purge removes
 *
 * Invariant (gc.h 1): a point is always whole in exactly one of points/ and
 * trash/, and its chunks stay referenced until the purge's rename.
 */
#include "vault/gc.h"
#include "vault/trash_objects.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/fileio.h"
#include "util/log.h"
#include "util/text.h"
#include "vault/catalog.h"
#include <stillpoint/stillpoint.h>

#define RECORD_MAX (64u << 10)
#define PURGING_PREFIX ".purging-"

static int vault_code(int errnum)
{
	return sp_errno_to_code(errnum, SP_E_VAULT_IO, SP_E_VAULT_FULL,
				SP_E_VAULT_PERMISSION);
}

int sp_vault_lock_open(int vault_fd, const char *vault_path, const char *file,
		       int how, int *fd, struct sp_error *err)
{
	int lfd =
	    sp_open_regular(vault_fd, file, O_RDWR | O_CREAT, SP_FILE_MODE);

	if (lfd == -SP_ENOTREG)
		return sp_error_set(err, SP_E_VAULT_FILE_TYPE,
				    "lock file '%s/%s' is a symbolic link or "
				    "not a regular file (remove it: the next "
				    "command creates it again)",
				    vault_path, file);
	if (lfd < 0)
		return sp_error_set_errno(err, vault_code(-lfd), -lfd,
					  "cannot open lock file '%s/%s'",
					  vault_path, file);
	if (flock(lfd, how) < 0) {
		int e = errno;
		close(lfd);
		if (e == EWOULDBLOCK && (how & LOCK_NB))
			return -EWOULDBLOCK;
		return sp_error_set_errno(err, vault_code(e), e,
					  "cannot lock '%s/%s'", vault_path,
					  file);
	}
	*fd = lfd;
	return 0;
}

static int lock_trash(struct sp_vault *v, int how, int *fd,
		      struct sp_error *err)
{
	return sp_vault_lock_open(v->fd, v->path, SP_TRASH_LOCK, how, fd, err);
}

bool sp_time_parse_rfc3339(const char *s, int64_t *out)
{
	struct tm tm = {0};
	const char *p = s ? strptime(s, "%Y-%m-%dT%H:%M:%S", &tm) : NULL;

	if (!p)
		return false;
	if (*p == '.')
		for (p++; *p >= '0' && *p <= '9'; p++)
			;
	if (strcmp(p, "Z") != 0)
		return false;
	*out = (int64_t)timegm(&tm);
	return true;
}

/* The logical key of trash entry @name/@id's record: what an encrypted
 * vault seals it under, wherever the entry's directory is. */
static void record_key(char *out, size_t cap, const char *name, const char *id)
{
	snprintf(out, cap, SP_TRASH_DIR "/%s/%s/" SP_TRASH_RECORD, name, id);
}

/* The record of trash entry @name/@id in @pointfd, opened; NULL and
 * *@errp (a negative errno) when it cannot be read or does not open. */
static json_t *read_record(struct sp_vault *v, int pointfd, const char *name,
			   const char *id, int *errp)
{
	sp_autofree char *text = NULL;
	char key[200];
	size_t len;
	int r;

	r = sp_file_read(pointfd, SP_TRASH_RECORD, RECORD_MAX, &text, &len);
	if (r == 0) {
		record_key(key, sizeof(key), name, id);
		r = sp_vault_record_open(v, key, text, len, &len);
	}
	if (errp)
		*errp = r;
	return r < 0 ? NULL : json_loadb(text, len, 0, NULL);
}

static int open_entry(struct sp_vault *v, const char *name, const char *id)
{
	char rel[200];

	snprintf(rel, sizeof(rel), SP_TRASH_DIR "/%s/%s", name, id);
	return openat(v->fd, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

/* When trash entry @name/@id expires, into *@expires; -1 with @why filled
 * when that cannot be told (the entry or its record is unreadable or
 * damaged: such an entry never expires). */
static int entry_expiry(struct sp_vault *v, const char *name, const char *id,
			int64_t *expires, char *why, size_t whylen)
{
	sp_autoclose int pfd = open_entry(v, name, id);
	json_t *rec;
	bool ok;
	int r;

	if (pfd < 0) {
		snprintf(why, whylen, "cannot open it: %s", strerror(errno));
		return -1;
	}
	rec = read_record(v, pfd, name, id, &r);
	if (r < 0) {
		snprintf(why, whylen, "cannot read its " SP_TRASH_RECORD ": %s",
			 r == -EBADMSG ? "it does not open with the vault's key"
				       : strerror(-r));
		return -1;
	}
	ok = rec && sp_time_parse_rfc3339(
			json_string_value(json_object_get(rec, "expires_at")),
			expires);
	json_decref(rec);
	if (!ok) {
		snprintf(why, whylen,
			 "its " SP_TRASH_RECORD " has no valid expires_at");
		return -1;
	}
	return 0;
}

bool sp_trash_is_expired(struct sp_vault *v, const char *name, const char *id,
			 int64_t now)
{
	char why[160];
	int64_t expires;

	if (!sp_vault_is_local(v))
		return sp_objects_trash_is_expired(v, name, id, now);
	return entry_expiry(v, name, id, &expires, why, sizeof(why)) == 0 &&
	       expires <= now;
}

/* Record, and log, a trash entry that is kept because it cannot be read. */
static void keep_unreadable(json_t *kept, const char *what, const char *why)
{
	sp_log(SP_LOG_WARNING,
	       "cannot read trash entry %s: %s (it is kept: repair it, or "
	       "remove it by hand)",
	       what, why);
	if (kept)
		json_array_append_new(
		    kept, json_pack("{s:s, s:s}", "entry", what, "error", why));
}

/* trash/ and trash/NAME (@dir) made and durable, then the record
 * published in the point. */
static int write_record(struct sp_vault *v, int pfd, const char *dir,
			const void *rec, size_t len, struct sp_error *err)
{
	int r;

	if ((r = sp_mkdir_at(v->fd, SP_TRASH_DIR, SP_DIR_MODE)) < 0 ||
	    (r = sp_mkdir_at(v->fd, dir, SP_DIR_MODE)) < 0 ||
	    (r = sp_fsync_path(v->fd, SP_TRASH_DIR)) < 0 ||
	    (r = sp_fsync_dirfd(v->fd)) < 0)
		return sp_error_set_errno(err, vault_code(-r), -r,
					  "cannot create '%s' in vault '%s'",
					  dir, v->path);
	return sp_file_publish(pfd, SP_TRASH_RECORD, rec, len, err);
}

int sp_vault_point_trash(struct sp_vault *v, const char *name, const char *id,
			 const char *why, unsigned retain_days, int64_t now,
			 struct sp_error *err)
{
	sp_autoclose int lock = -1;
	sp_autoclose int pfd = -1;
	sp_autofree char *text = NULL;
	sp_autofree void *sealed = NULL;
	char from[200], to[200], dir[100], when[32], until[32], key[200];
	size_t slen = 0;
	json_t *rec;
	int r;

	if (!sp_name_is_valid(name) || !sp_name_is_valid(id))
		return sp_error_set(err, SP_E_NAME_INVALID,
				    "invalid point '%s@%s'", name, id);
	if (retain_days > 36500)
		return sp_error_set(err, SP_E_USAGE,
				    "retention of %u days is too long (at most "
				    "36500)",
				    retain_days);
	if (!sp_vault_is_local(v))
		return sp_objects_point_trash(v, name, id, why, retain_days,
					      now, err);
	r = lock_trash(v, LOCK_SH, &lock, err);
	if (r < 0)
		return r;
	r = sp_vault_point_dir(v, name, id, &pfd, err);
	if (r == SP_E_POINT_NOT_FOUND) {
		sp_autoclose int tfd = open_entry(v, name, id);
		if (tfd >= 0)
			return sp_error_set(err, SP_E_POINT_NOT_FOUND,
					    "point '%s@%s' is already in the "
					    "trash (see 'stillpoint trash')",
					    name, id);
	}
	if (r < 0)
		return r;
	snprintf(dir, sizeof(dir), SP_TRASH_DIR "/%s", name);
	sp_time_rfc3339((time_t)now, when, sizeof(when));
	sp_time_rfc3339((time_t)(now + (int64_t)retain_days * 86400), until,
			sizeof(until));
	rec = json_pack("{s:s, s:s, s:s, s:s, s:s}", "name", name, "id", id,
			"deleted_at", when, "expires_at", until, "why",
			why ? why : "");
	text = rec ? json_dumps(rec, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
	json_decref(rec);
	if (!text)
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	/* Sealed in an encrypted vault: it names the VM and says why. */
	record_key(key, sizeof(key), name, id);
	r = sp_vault_record_seal(v, key, text, &sealed, &slen, err);
	if (r < 0)
		return r;
	/* The record goes in first, so the trash never holds an entry
	 * without one; a crash before the rename leaves it in a published
	 * point, where it is ignored.  On a full vault the reserve makes
	 * room for it (and for the trash's directories). */
	r = write_record(v, pfd, dir, sealed, slen, err);
	if (r == SP_E_VAULT_FULL && sp_vault_reserve_release(v))
		r = write_record(v, pfd, dir, sealed, slen, err);
	if (r < 0)
		return r;
	snprintf(from, sizeof(from), "points/%s/%s", name, id);
	snprintf(to, sizeof(to), "%s/%s", dir, id);
	if (renameat2(v->fd, from, v->fd, to, RENAME_NOREPLACE) < 0)
		return sp_error_set_errno(err, vault_code(errno), errno,
					  "cannot move point '%s@%s' to the "
					  "trash",
					  name, id);
	snprintf(from, sizeof(from), "points/%s", name);
	if ((r = sp_fsync_path(v->fd, dir)) < 0 ||
	    (r = sp_fsync_path(v->fd, from)) < 0)
		return sp_error_set_errno(err, vault_code(-r), -r,
					  "cannot sync the move of '%s@%s' to "
					  "the trash",
					  name, id);
	sp_log(SP_LOG_INFO, "point trashed name=%s id=%s expires=%s", name, id,
	       until);
	return 0;
}

int sp_vault_point_undelete(struct sp_vault *v, const char *name,
			    const char *id, struct sp_error *err)
{
	sp_autoclose int lock = -1;
	sp_autoclose int pfd = -1;
	char from[200], to[200], dir[100];
	struct sp_error cat_err;
	json_t *m = NULL;
	int r;

	if (!sp_name_is_valid(name) || !sp_name_is_valid(id))
		return sp_error_set(err, SP_E_NAME_INVALID,
				    "invalid point '%s@%s'", name, id);
	if (!sp_vault_is_local(v))
		return sp_objects_point_undelete(v, name, id, err);
	r = lock_trash(v, LOCK_SH, &lock, err);
	if (r < 0)
		return r;
	snprintf(from, sizeof(from), SP_TRASH_DIR "/%s/%s", name, id);
	snprintf(dir, sizeof(dir), "points/%s", name);
	snprintf(to, sizeof(to), "%s/%s", dir, id);
	if (faccessat(v->fd, from, F_OK, 0) < 0)
		return sp_error_set(
		    err, SP_E_POINT_NOT_FOUND,
		    "no point '%s@%s' in the trash (expired points are purged "
		    "by gc; see 'stillpoint trash')",
		    name, id);
	r = sp_mkdir_at(v->fd, dir, SP_DIR_MODE);
	if (r == -ENOSPC && sp_vault_reserve_release(v))
		r = sp_mkdir_at(v->fd, dir, SP_DIR_MODE);
	if (r == 0)
		r = sp_fsync_path(v->fd, "points");
	if (r < 0)
		return sp_error_set_errno(err, vault_code(-r), -r,
					  "cannot create '%s'", dir);
	if (renameat2(v->fd, from, v->fd, to, RENAME_NOREPLACE) < 0) {
		if (errno == EEXIST || errno == ENOTEMPTY)
			return sp_error_set(err, SP_E_POINT_EXISTS,
					    "point '%s@%s' exists both in the "
					    "trash and in points/ (the "
					    "published one is kept)",
					    name, id);
		return sp_error_set_errno(err, vault_code(errno), errno,
					  "cannot move point '%s@%s' out of "
					  "the trash",
					  name, id);
	}
	snprintf(from, sizeof(from), SP_TRASH_DIR "/%s", name);
	if ((r = sp_fsync_path(v->fd, dir)) < 0 ||
	    (r = sp_fsync_path(v->fd, from)) < 0)
		return sp_error_set_errno(err, vault_code(-r), -r,
					  "cannot sync the undelete of "
					  "'%s@%s'",
					  name, id);
	r = sp_vault_point_dir(v, name, id, &pfd, err);
	if (r < 0)
		return r;
	if (unlinkat(pfd, SP_TRASH_RECORD, 0) == 0)
		sp_fsync_dirfd(pfd);
	/* The catalog would notice at the next listing; tell it now. */
	if (!sp_vault_via_store(v) &&
	    sp_manifest_load_point(pfd, name, id, &m, &cat_err) == 0 &&
	    sp_catalog_add(v->fd, m, &cat_err) < 0)
		sp_log(SP_LOG_WARNING, "%s (the next listing repairs it)",
		       cat_err.msg);
	json_decref(m);
	sp_log(SP_LOG_INFO, "point undeleted name=%s id=%s", name, id);
	return 0;
}

/* Call @fn for each trash/NAME/ID entry (valid names only).  A trash/NAME
 * directory that cannot be opened or listed is reported in @unreadable
 * (may be NULL) and logged, never taken for an empty one. */
static int each_entry(struct sp_vault *v,
		      int (*fn)(struct sp_vault *v, const char *name,
				const char *id, void *ctx,
				struct sp_error *err),
		      void *ctx, json_t *unreadable, struct sp_error *err)
{
	int tfd = openat(v->fd, SP_TRASH_DIR,
			 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *top;
	struct dirent *de;
	int r = 0;

	if (tfd < 0)
		return errno == ENOENT
			   ? 0
			   : sp_error_set_errno(
				 err, vault_code(errno), errno,
				 "cannot open '%s/" SP_TRASH_DIR "'", v->path);
	top = fdopendir(tfd);
	if (!top) {
		close(tfd);
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	}
	for (;;) {
		char what[100];
		struct dirent *pe;
		DIR *nd;
		int nfd;

		errno = 0;
		if (r < 0 || !(de = readdir(top)))
			break;
		if (!sp_name_is_valid(de->d_name))
			continue;
		snprintf(what, sizeof(what), SP_TRASH_DIR "/%.64s", de->d_name);
		nfd = openat(tfd, de->d_name,
			     O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		nd = nfd >= 0 ? fdopendir(nfd) : NULL;
		if (!nd) {
			keep_unreadable(unreadable, what, strerror(errno));
			if (nfd >= 0)
				close(nfd);
			continue;
		}
		for (;;) {
			errno = 0;
			if (r < 0 || !(pe = readdir(nd)))
				break;
			if (sp_name_is_valid(pe->d_name))
				r = fn(v, de->d_name, pe->d_name, ctx, err);
		}
		if (r == 0 && errno)
			keep_unreadable(unreadable, what, strerror(errno));
		closedir(nd);
	}
	if (r == 0 && errno)
		r = sp_error_set_errno(err, vault_code(errno), errno,
				       "cannot list '%s/" SP_TRASH_DIR "'",
				       v->path);
	closedir(top);
	return r;
}

static int list_one(struct sp_vault *v, const char *name, const char *id,
		    void *ctx, struct sp_error *err)
{
	sp_autoclose int pfd = open_entry(v, name, id);
	json_t *rec = pfd >= 0 ? read_record(v, pfd, name, id, NULL) : NULL;
	json_t *m = NULL, *e;
	struct sp_error e2 = {0};
	char where[160];
	int64_t expires;

	snprintf(where, sizeof(where), "%s@%s", name, id);
	if (pfd < 0)
		sp_error_set_errno(&e2, SP_E_VAULT_IO, errno,
				   "cannot open trash entry '%s'", where);
	else if (sp_vault_manifest_load_dir(v, pfd, name, id, &m, &e2) == 0 &&
		 entry_expiry(v, name, id, &expires, e2.msg, sizeof(e2.msg)) <
		     0)
		e2.code = SP_E_MANIFEST_CORRUPT;
	e = json_pack("{s:s, s:s, s:O?, s:O?, s:O?, s:O?, s:O?}", "name", name,
		      "id", id, "time", json_object_get(m, "time"),
		      "consistency", json_object_get(m, "consistency"),
		      "deleted_at", json_object_get(rec, "deleted_at"),
		      "expires_at", json_object_get(rec, "expires_at"), "why",
		      json_object_get(rec, "why"));
	if (e && m)
		json_object_set_new(e, "disks",
				    json_integer((json_int_t)json_array_size(
					json_object_get(m, "disks"))));
	if (e && e2.code) /* listed all the same: it is kept */
		json_object_set_new(e, "error", json_string(e2.msg));
	json_decref(rec);
	json_decref(m);
	if (!e)
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	json_array_append_new(ctx, e);
	return 0;
}

static int cmp_entries(const void *a, const void *b)
{
	json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
	int c = strcmp(json_string_value(json_object_get(x, "name")),
		       json_string_value(json_object_get(y, "name")));

	return c ? c
		 : strcmp(json_string_value(json_object_get(x, "id")),
			  json_string_value(json_object_get(y, "id")));
}

int sp_vault_trash_list(struct sp_vault *v, json_t **ret, struct sp_error *err)
{
	json_t *arr = json_array(), *sorted;
	json_t **items;
	size_t n, i;
	int r;

	if (!arr)
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	if (sp_vault_is_local(v))
		r = each_entry(v, list_one, arr, NULL, err);
	else
		r = sp_objects_trash_list(v, arr, err);
	n = json_array_size(arr);
	items = calloc(n + 1, sizeof(*items));
	sorted = json_array();
	if (r == 0 && (!items || !sorted))
		r = sp_error_set(err, SP_E_NOMEM, "out of memory");
	if (r < 0) {
		free(items);
		json_decref(sorted);
		json_decref(arr);
		return r;
	}
	for (i = 0; i < n; i++)
		items[i] = json_array_get(arr, i);
	qsort(items, n, sizeof(*items), cmp_entries);
	for (i = 0; i < n; i++)
		json_array_append(sorted, items[i]);
	free(items);
	json_decref(arr);
	*ret = sorted;
	return 0;
}

int sp_vault_trash_find(struct sp_vault *v, const char *spec, json_t **ret,
			struct sp_error *err)
{
	const char *at = strchr(spec, '@');
	json_t *all = NULL, *e, *found = NULL;
	size_t i, matches = 0, nlen = at ? (size_t)(at - spec) : 0;
	int r;

	if (!at || !at[1] || nlen == 0 || nlen > 64)
		return sp_error_set(err, SP_E_NAME_INVALID,
				    "invalid point '%s' (use NAME@ID)", spec);
	r = sp_vault_trash_list(v, &all, err);
	if (r < 0)
		return r;
	json_array_foreach(all, i, e)
	{
		const char *n = json_string_value(json_object_get(e, "name"));
		const char *id = json_string_value(json_object_get(e, "id"));
		if (strlen(n) != nlen || strncmp(n, spec, nlen) != 0)
			continue;
		if (!strcmp(id, at + 1)) {
			found = e;
			matches = 1;
			break;
		}
		if (!strncmp(id, at + 1, strlen(at + 1))) {
			found = e;
			matches++;
		}
	}
	if (matches == 0 && sp_vault_is_local(v)) {
		/* A trash/NAME that cannot be read is no empty one: the
		 * listing left it out, and the point may be in it. */
		char rel[100];
		snprintf(rel, sizeof(rel), SP_TRASH_DIR "/%.*s", (int)nlen,
			 spec);
		int fd =
		    openat(v->fd, rel,
			   O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd >= 0)
			close(fd);
		else if (errno != ENOENT) {
			r = sp_error_set_errno(err, vault_code(errno), errno,
					       "cannot read '%s' of vault '%s'",
					       rel, v->path);
			json_decref(all);
			return r;
		}
	}
	if (matches == 0)
		r = sp_error_set(
		    err, SP_E_POINT_NOT_FOUND,
		    "no point '%s' in the trash (expired points are purged "
		    "by gc; see 'stillpoint trash')",
		    spec);
	else if (matches > 1)
		r = sp_error_set(err, SP_E_POINT_AMBIGUOUS,
				 "'%s' matches %zu points in the trash (give "
				 "more of the id)",
				 spec, matches);
	else
		*ret = json_incref(found);
	json_decref(all);
	return r;
}

struct purge_ctx {
	int64_t now;
	bool dry_run;
	json_t *purged, *kept;
};

static int purge_one(struct sp_vault *v, const char *name, const char *id,
		     void *ctx, struct sp_error *err)
{
	struct purge_ctx *p = ctx;
	char from[200], to[200], dir[100], why[200];
	int64_t expires;
	int r;

	if (entry_expiry(v, name, id, &expires, why, sizeof(why)) < 0) {
		snprintf(from, sizeof(from), "%s@%s", name, id);
		keep_unreadable(p->kept, from, why);
		return 0;
	}
	if (expires > p->now)
		return 0;
	if (!p->dry_run) {
		snprintf(dir, sizeof(dir), SP_TRASH_DIR "/%s", name);
		snprintf(from, sizeof(from), "%s/%s", dir, id);
		snprintf(to, sizeof(to),
			 SP_TRASH_DIR "/" PURGING_PREFIX "%s@%s", name, id);
		r = renameat(v->fd, from, v->fd, to) < 0 ? -errno : 0;
		if (r == -ENOSPC && sp_vault_reserve_release(v))
			r = renameat(v->fd, from, v->fd, to) < 0 ? -errno : 0;
		if (r < 0)
			return sp_error_set_errno(err, vault_code(-r), -r,
						  "cannot purge '%s'", from);
		if ((r = sp_fsync_path(v->fd, dir)) < 0 ||
		    (r = sp_fsync_path(v->fd, SP_TRASH_DIR)) < 0)
			return sp_error_set_errno(err, vault_code(-r), -r,
						  "cannot sync '%s'", dir);
		sp_log(SP_LOG_INFO, "trash purged name=%s id=%s", name, id);
	}
	json_array_append_new(p->purged, json_sprintf("%s@%s", name, id));
	return 0;
}

/* Remove what earlier purges left: ".purging-" trees and empty name
 * directories (the exclusive trash lock keeps deletes out meanwhile). */
static void sweep_purged(struct sp_vault *v)
{
	int tfd =
	    openat(v->fd, SP_TRASH_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = tfd >= 0 ? fdopendir(tfd) : NULL;
	struct dirent *de;

	if (!d) {
		if (tfd >= 0)
			close(tfd);
		return;
	}
	while ((de = readdir(d))) {
		if (!strncmp(de->d_name, PURGING_PREFIX,
			     strlen(PURGING_PREFIX))) {
			int r = sp_remove_tree_at(tfd, de->d_name);
			if (r < 0)
				sp_log(SP_LOG_WARNING,
				       "cannot remove '" SP_TRASH_DIR
				       "/%s': %s",
				       de->d_name, strerror(-r));
		} else if (sp_name_is_valid(de->d_name)) {
			unlinkat(tfd, de->d_name, AT_REMOVEDIR); /* if empty */
		}
	}
	closedir(d);
}

int sp_trash_purge_locked(struct sp_vault *v, int64_t now, bool dry_run,
			  json_t *purged, json_t *kept, struct sp_error *err)
{
	struct purge_ctx p = {
	    .now = now, .dry_run = dry_run, .purged = purged, .kept = kept};
	int r;

	if (!sp_vault_is_local(v))
		return sp_objects_trash_purge(v, now, dry_run, purged, kept,
					      err);
	r = each_entry(v, purge_one, &p, kept, err);

	if (r == 0 && !dry_run)
		sweep_purged(v);
	return r;
}

int sp_vault_trash_purge(struct sp_vault *v, int64_t now, size_t *purged,
			 struct sp_error *err)
{
	sp_autoclose int lock = -1;
	json_t *list = json_array();
	int r;

	if (!list)
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	/* A vault in object storage has no lock file: its purges are
	 * idempotent, object by object. */
	r = sp_vault_is_local(v) ? lock_trash(v, LOCK_EX, &lock, err) : 0;
	if (r == 0)
		r = sp_trash_purge_locked(v, now, false, list, NULL, err);
	if (purged)
		*purged = json_array_size(list);
	json_decref(list);
	return r;
}

void sp_trash_explain(struct sp_vault *v, const char *spec,
		      struct sp_error *err)
{
	const char *at = strchr(spec, '@');
	json_t *all = NULL, *e, *hit = NULL;
	size_t i, n = 0, nlen = at ? (size_t)(at - spec) : strlen(spec);
	struct sp_error e2;

	if (!err || sp_vault_trash_list(v, &all, &e2) < 0)
		return;
	json_array_foreach(all, i, e)
	{
		const char *name =
		    json_string_value(json_object_get(e, "name"));
		const char *id = json_string_value(json_object_get(e, "id"));
		if (strlen(name) != nlen || strncmp(name, spec, nlen) != 0)
			continue;
		if (!at || !strncmp(id, at + 1, strlen(at + 1))) {
			hit = e;
			n++;
		}
	}
	const char *deleted =
	    json_string_value(json_object_get(hit, "deleted_at"));
	const char *expires =
	    json_string_value(json_object_get(hit, "expires_at"));
	if (at && n == 1)
		sp_error_set(err, SP_E_POINT_NOT_FOUND,
			     "recovery point '%s' is in the trash (deleted %s, "
			     "purged after %s; bring it back with 'stillpoint "
			     "undelete %s@%s')",
			     spec, deleted ? deleted : "at an unknown time",
			     expires ? expires : "no date",
			     json_string_value(json_object_get(hit, "name")),
			     json_string_value(json_object_get(hit, "id")));
	else if (n > 0)
		sp_error_set(err, SP_E_POINT_NOT_FOUND,
			     "no recovery point '%s' in the vault, but %zu in "
			     "the trash (see 'stillpoint trash'; undelete with "
			     "'stillpoint undelete NAME@ID')",
			     spec, n);
	json_decref(all);
}

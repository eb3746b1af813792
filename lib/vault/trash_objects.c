// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The trash of a vault whose store has no directories to rename (an S3
 * vault): the same entries as trash.c's, moved object by object through
 * the store (docs/vault-format.md, "Vaults in object storage").
 *
 *	trash/<name>/<id>/<file>        the point's objects, as they were
 *	trash/<name>/<id>/deleted.json  {name, id, deleted_at, expires_at, why}
 *
 * Objects are moved by reading and writing them through the store (never
 * by a server-side copy): a sealed object is bound to its key, and the
 * store seals it again under the new one.
 *
 * Sequences, each safe to crash in and to run again:
 *   delete:   deleted.json -> every file copied, manifest.json last ->
 *             points/.../manifest.json removed (the point leaves every
 *             listing at this step) -> the other files removed
 *   undelete: every file copied back but deleted.json, manifest.json last
 *             and create-only (the point appears at this step) -> the
 *             trash entry removed, deleted.json last
 *   purge:    an entry whose expires_at has passed: its files removed,
 *             deleted.json last
 * Until its point's manifest is removed, a point being deleted is in both
 * places; a rerun of the delete finishes it.  A trashed point's indexes
 * keep its chunks referenced (gc_objects.c marks the trash too).
 */
#include "vault/trash_objects.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/cleanup.h"
#include "util/log.h"
#include "util/text.h"
#include "vault/gc.h"
#include "vault/listing_remote.h"

#define RECORD_MAX (64u << 10)
#define FILE_MAX (1u << 30)

static int add_file(void *ctx, const char *name, bool is_dir, uint64_t size)
{
	(void)size;
	if (!is_dir)
		json_array_append_new(ctx, json_string(name));
	return 0;
}

static int add_dir(void *ctx, const char *name, bool is_dir, uint64_t size)
{
	(void)size;
	if (is_dir && sp_name_is_valid(name))
		json_array_append_new(ctx, json_string(name));
	return 0;
}

static int list_under(struct sp_vault *v, const char *prefix, bool dirs,
		      json_t **ret, struct sp_error *err)
{
	json_t *arr = json_array();
	int r;

	if (!arr)
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	r = v->store->ops->list(v->store, prefix, dirs ? add_dir : add_file,
				arr, err);
	if (r < 0) {
		json_decref(arr);
		return sp_vault_store_error(v, r, "list", prefix, err);
	}
	*ret = arr;
	return 0;
}

static bool exists(struct sp_vault *v, const char *key)
{
	struct sp_error e;

	return v->store->ops->stat(v->store, key, NULL, &e) == 0;
}

/* Copy @from_dir/@file to @to_dir/@file through the store. */
static int copy_one(struct sp_vault *v, const char *from_dir,
		    const char *to_dir, const char *file, unsigned flags,
		    struct sp_error *err)
{
	char from[300], to[300];
	sp_autofree void *data = NULL;
	size_t len = 0;
	int r;

	snprintf(from, sizeof(from), "%s%s", from_dir, file);
	snprintf(to, sizeof(to), "%s%s", to_dir, file);
	r = v->store->ops->get(v->store, from, FILE_MAX, &data, &len, err);
	if (r < 0)
		return sp_vault_store_error(v, r, "read", from, err);
	r = v->store->ops->put(v->store, to, data, len, flags, err);
	if (r == -EEXIST)
		return r;
	return r < 0 ? sp_vault_store_error(v, r, "write", to, err) : 0;
}

/* Copy every file of @from_dir but @skip to @to_dir, manifest.json last
 * (create-only when @create_manifest). */
static int copy_files(struct sp_vault *v, const char *from_dir,
		      const char *to_dir, const char *skip,
		      bool create_manifest, struct sp_error *err)
{
	json_t *files = NULL, *f;
	bool has_manifest = false;
	size_t i;
	int r;

	r = list_under(v, from_dir, false, &files, err);
	json_array_foreach(files, i, f)
	{
		const char *name = json_string_value(f);
		if (r < 0)
			break;
		if (skip && !strcmp(name, skip))
			continue;
		if (!strcmp(name, "manifest.json")) {
			has_manifest = true;
			continue;
		}
		r = copy_one(v, from_dir, to_dir, name, 0, err);
	}
	json_decref(files);
	if (r == 0 && has_manifest)
		r = copy_one(v, from_dir, to_dir, "manifest.json",
			     create_manifest ? SP_STORE_CREATE : 0, err);
	return r;
}

/* Remove every file under @dir: @first first, @last last (may be NULL). */
static int remove_files(struct sp_vault *v, const char *dir, const char *first,
			const char *last, struct sp_error *err)
{
	json_t *files = NULL, *f;
	char key[300];
	size_t i;
	int r;

	if (first) {
		snprintf(key, sizeof(key), "%s%s", dir, first);
		r = v->store->ops->remove(v->store, key, err);
		if (r < 0)
			return sp_vault_store_error(v, r, "remove", key, err);
	}
	r = list_under(v, dir, false, &files, err);
	json_array_foreach(files, i, f)
	{
		const char *name = json_string_value(f);
		if (r < 0)
			break;
		if ((first && !strcmp(name, first)) ||
		    (last && !strcmp(name, last)))
			continue;
		snprintf(key, sizeof(key), "%s%s", dir, name);
		r = v->store->ops->remove(v->store, key, err);
		if (r < 0)
			r = sp_vault_store_error(v, r, "remove", key, err);
	}
	json_decref(files);
	if (r == 0 && last) {
		snprintf(key, sizeof(key), "%s%s", dir, last);
		r = v->store->ops->remove(v->store, key, err);
		if (r < 0)
			r = sp_vault_store_error(v, r, "remove", key, err);
	}
	return r;
}

int sp_objects_point_trash(struct sp_vault *v, const char *name, const char *id,
			   const char *why, unsigned retain_days, int64_t now,
			   struct sp_error *err)
{
	char from[200], to[200], key[260], when[32], until[32];
	sp_autofree char *text = NULL;
	json_t *rec;
	int r;

	snprintf(from, sizeof(from), "points/%s/%s/", name, id);
	snprintf(to, sizeof(to), SP_TRASH_DIR "/%s/%s/", name, id);
	snprintf(key, sizeof(key), "%smanifest.json", from);
	if (!exists(v, key)) {
		snprintf(key, sizeof(key), "%s" SP_TRASH_RECORD, to);
		if (exists(v, key))
			return sp_error_set(err, SP_E_POINT_NOT_FOUND,
					    "point '%s@%s' is already in the "
					    "trash (see 'stillpoint trash')",
					    name, id);
		return sp_error_set(err, SP_E_POINT_NOT_FOUND,
				    "no recovery point '%s@%s' in vault '%s'",
				    name, id, v->path);
	}
	r = sp_objects_point_locked(v, name, id, now, until, sizeof(until),
				    err);
	if (r < 0)
		return r;
	if (r > 0)
		return sp_error_set(err, SP_E_OBJECT_LOCKED,
				    "point '%s@%s' is locked until %s (object "
				    "lock of vault '%s'); it can be deleted "
				    "after that",
				    name, id, until, v->path);
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
	snprintf(key, sizeof(key), "%s" SP_TRASH_RECORD, to);
	r = v->store->ops->put(v->store, key, text, strlen(text), 0, err);
	if (r < 0)
		return sp_vault_store_error(v, r, "write", key, err);
	r = copy_files(v, from, to, NULL, false, err);
	if (r == 0)
		r = remove_files(v, from, "manifest.json", NULL, err);
	if (r < 0)
		return r;
	sp_log(SP_LOG_INFO, "point trashed name=%s id=%s expires=%s", name, id,
	       until);
	return 0;
}

int sp_objects_point_locked(struct sp_vault *v, const char *name,
			    const char *id, int64_t now, char *until,
			    size_t untillen, struct sp_error *err)
{
	json_t *m = NULL;
	int64_t t;
	int r;

	if (!v->lock_days)
		return 0;
	r = sp_vault_point_manifest(v, name, id, &m, err);
	if (r < 0)
		return r;
	const char *u = json_string_value(json_object_get(m, "locked_until"));
	r = u && sp_time_parse_rfc3339(u, &t) && t > now;
	if (r && until)
		snprintf(until, untillen, "%s", u);
	json_decref(m);
	return r;
}

int sp_objects_point_undelete(struct sp_vault *v, const char *name,
			      const char *id, struct sp_error *err)
{
	char from[200], to[200], key[260];
	int r;

	snprintf(from, sizeof(from), SP_TRASH_DIR "/%s/%s/", name, id);
	snprintf(to, sizeof(to), "points/%s/%s/", name, id);
	snprintf(key, sizeof(key), "%smanifest.json", from);
	if (!exists(v, key))
		return sp_error_set(
		    err, SP_E_POINT_NOT_FOUND,
		    "no point '%s@%s' in the trash (expired points are purged "
		    "by gc; see 'stillpoint trash')",
		    name, id);
	snprintf(key, sizeof(key), "%smanifest.json", to);
	if (exists(v, key))
		return sp_error_set(err, SP_E_POINT_EXISTS,
				    "point '%s@%s' exists both in the trash "
				    "and in points/ (the published one is "
				    "kept)",
				    name, id);
	r = copy_files(v, from, to, SP_TRASH_RECORD, true, err);
	if (r == -EEXIST)
		return sp_error_set(err, SP_E_POINT_EXISTS,
				    "point '%s@%s' was published meanwhile",
				    name, id);
	if (r == 0)
		r = remove_files(v, from, NULL, SP_TRASH_RECORD, err);
	if (r < 0)
		return r;
	sp_log(SP_LOG_INFO, "point undeleted name=%s id=%s", name, id);
	return 0;
}

static json_t *get_json(struct sp_vault *v, const char *key, char *why,
			size_t whylen)
{
	sp_autofree char *text = NULL;
	struct sp_error e;
	size_t len = 0;
	json_t *j;
	int r = v->store->ops->get(v->store, key, RECORD_MAX, (void **)&text,
				   &len, &e);

	if (r < 0) {
		snprintf(why, whylen, "cannot read '%.120s': %.160s", key,
			 SP_STORE_IS_ERRNO(r) ? strerror(-r) : e.msg);
		return NULL;
	}
	j = json_loadb(text, len, 0, NULL);
	if (!j)
		snprintf(why, whylen, "'%s' is not JSON", key);
	return j;
}

/* Call @fn for each trash/NAME/ID/ entry. */
static int list_one(struct sp_vault *v, const char *name, const char *id,
		    void *ctx, struct sp_error *err)
{
	char key[260], why[300] = "", where[140];
	sp_autofree char *text = NULL;
	struct sp_error e2 = {0};
	json_t *rec, *m = NULL, *e;
	size_t len = 0;
	int64_t expires;
	int r;

	snprintf(key, sizeof(key), SP_TRASH_DIR "/%s/%s/" SP_TRASH_RECORD, name,
		 id);
	rec = get_json(v, key, why, sizeof(why));
	snprintf(key, sizeof(key), SP_TRASH_DIR "/%s/%s/manifest.json", name,
		 id);
	snprintf(where, sizeof(where), "%s@%s", name, id);
	r = v->store->ops->get(v->store, key, SP_MANIFEST_MAX, (void **)&text,
			       &len, &e2);
	if (r == 0)
		r = sp_manifest_parse_point(text, len, name, id, &m, &e2);
	else if (SP_STORE_IS_ERRNO(r))
		sp_error_set(&e2, SP_E_MANIFEST_CORRUPT,
			     "point %s: manifest.json %s", where,
			     r == -ENOENT ? "is missing" : strerror(-r));
	if (r == 0 &&
	    (!rec || !sp_time_parse_rfc3339(
			 json_string_value(json_object_get(rec, "expires_at")),
			 &expires)))
		sp_error_set(&e2, SP_E_MANIFEST_CORRUPT, "%s",
			     why[0] ? why
				    : "its " SP_TRASH_RECORD
				      " has no valid expires_at");
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
	if (e && e2.code)
		json_object_set_new(e, "error", json_string(e2.msg));
	json_decref(rec);
	json_decref(m);
	if (!e)
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	json_array_append_new(ctx, e);
	return 0;
}

int sp_objects_trash_list(struct sp_vault *v, json_t *arr, struct sp_error *err)
{
	return sp_vault_store_error(
	    v, sp_vault_each_point(v, SP_TRASH_DIR, NULL, list_one, arr, err),
	    "list", SP_TRASH_DIR "/", err);
}

bool sp_objects_trash_is_expired(struct sp_vault *v, const char *name,
				 const char *id, int64_t now)
{
	char key[260], why[300];
	json_t *rec;
	int64_t expires;
	bool ok;

	snprintf(key, sizeof(key), SP_TRASH_DIR "/%s/%s/" SP_TRASH_RECORD, name,
		 id);
	rec = get_json(v, key, why, sizeof(why));
	ok = rec &&
	     sp_time_parse_rfc3339(
		 json_string_value(json_object_get(rec, "expires_at")),
		 &expires) &&
	     expires <= now;
	json_decref(rec);
	return ok;
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
	char key[260], dir[200], why[300] = "";
	json_t *rec;
	int64_t expires;
	bool ok;
	int r;

	snprintf(dir, sizeof(dir), SP_TRASH_DIR "/%s/%s/", name, id);
	snprintf(key, sizeof(key), "%s" SP_TRASH_RECORD, dir);
	rec = get_json(v, key, why, sizeof(why));
	ok = rec && sp_time_parse_rfc3339(
			json_string_value(json_object_get(rec, "expires_at")),
			&expires);
	json_decref(rec);
	if (!ok) {
		if (p->kept)
			json_array_append_new(
			    p->kept,
			    json_pack("{s:s++, s:s}", "entry", name, "@", id,
				      "error",
				      why[0] ? why : "no valid expires_at"));
		sp_log(SP_LOG_WARNING,
		       "trash entry %s@%s is kept: %s (see 'stillpoint "
		       "trash')",
		       name, id, why[0] ? why : "no valid expires_at");
		return 0;
	}
	if (expires > p->now)
		return 0;
	if (!p->dry_run) {
		r = remove_files(v, dir, NULL, SP_TRASH_RECORD, err);
		if (r < 0)
			return r;
		sp_log(SP_LOG_INFO, "trash purged name=%s id=%s", name, id);
	}
	json_array_append_new(p->purged, json_sprintf("%s@%s", name, id));
	return 0;
}

int sp_objects_trash_purge(struct sp_vault *v, int64_t now, bool dry_run,
			   json_t *purged, json_t *kept, struct sp_error *err)
{
	struct purge_ctx p = {now, dry_run, purged, kept};

	return sp_vault_store_error(
	    v, sp_vault_each_point(v, SP_TRASH_DIR, NULL, purge_one, &p, err),
	    "list", SP_TRASH_DIR "/", err);
}

// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Listing a vault's points: from the catalog of a local vault, or from
 * the manifests themselves (a remote or encrypted vault, or a catalog that
 * cannot be used), and resolving NAME[@ID] to one point.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/fileio.h"
#include "util/log.h"
#include "vault/catalog.h"
#include "vault/gc.h"
#include "vault/vault.h"

static int vault_code(int errnum)
{
	return sp_errno_to_code(errnum, SP_E_VAULT_IO, SP_E_VAULT_FULL,
				SP_E_VAULT_PERMISSION);
}

/* One entry of sp_vault_unreadable_points(). */
static int add_unreadable(json_t *arr, const char *point, const char *why)
{
	sp_log(SP_LOG_WARNING,
	       "cannot read point %s: %s (it is left as it "
	       "is; see 'stillpoint verify')",
	       point, why);
	return json_array_append_new(
	    arr, json_pack("{s:s, s:s}", "point", point, "error", why));
}

int sp_vault_unreadable_points(struct sp_vault *v, const char *name,
			       json_t **ret, struct sp_error *err)
{
	char rel[100];
	json_t *arr;
	struct dirent *de;
	DIR *d;
	int fd;

	if (!sp_name_is_valid(name))
		return sp_error_set(err, SP_E_NAME_INVALID,
				    "invalid VM name '%s'", name);
	arr = json_array();
	if (!arr)
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	snprintf(rel, sizeof(rel), "points/%s", name);
	fd =
	    openat(v->fd, rel, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		else if (errno != ENOENT)
			add_unreadable(arr, name, strerror(errno));
		*ret = arr;
		return 0;
	}
	for (;;) {
		char spec[140];
		sp_autoclose int pfd = -1;
		struct sp_error e;
		json_t *m = NULL;

		errno = 0;
		if (!(de = readdir(d)))
			break;
		if (!sp_name_is_valid(de->d_name))
			continue;
		snprintf(spec, sizeof(spec), "%s@%.64s", name, de->d_name);
		pfd = openat(dirfd(d), de->d_name,
			     O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (pfd < 0)
			add_unreadable(arr, spec, strerror(errno));
		else if (sp_vault_manifest_load_dir(v, pfd, name, de->d_name,
						    &m, &e) < 0)
			add_unreadable(arr, spec, e.msg);
		json_decref(m);
	}
	if (errno)
		add_unreadable(arr, name, strerror(errno));
	closedir(d);
	*ret = arr;
	return 0;
}

static int cmp_points(const void *a, const void *b)
{
	json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
	int c = strcmp(json_string_value(json_object_get(x, "name")),
		       json_string_value(json_object_get(y, "name")));
	if (!c)
		c = strcmp(json_string_value(json_object_get(x, "time")),
			   json_string_value(json_object_get(y, "time")));
	if (!c)
		c = strcmp(json_string_value(json_object_get(x, "id")),
			   json_string_value(json_object_get(y, "id")));
	return c;
}

/* The slow path, when the catalog cannot be used (e.g. the vault's file
 * system is full): read every manifest. */
static int list_from_manifests(struct sp_vault *v, const char *name,
			       json_t **ret, struct sp_error *err)
{
	json_t *set = json_object(), *unreadable = json_object(), *val, *arr;
	const char *key;
	json_t **items = NULL;
	size_t n = 0;
	int r = sp_catalog_scan(v->fd, name, set, unreadable, err);

	/* Without the catalog nothing else knows the points of a directory
	 * that cannot be read: no listing rather than a short one. */
	void *first = json_object_iter(unreadable);
	if (r == 0 && first)
		r = sp_error_set(
		    err, SP_E_VAULT_IO, "%s",
		    json_string_value(json_object_iter_value(first)));
	json_decref(unreadable);
	if (r < 0) {
		json_decref(set);
		return r;
	}
	items = calloc(json_object_size(set) + 1, sizeof(*items));
	json_object_foreach(set, key, val)
	{
		char rel[200];
		sp_autoclose int pd = -1;
		struct sp_error e2;
		json_t *m;

		char vm[80];
		const char *slash = strchr(key, '/');

		snprintf(vm, sizeof(vm), "%.*s", (int)(slash - key), key);
		snprintf(rel, sizeof(rel), "points/%s", key);
		pd = openat(v->fd, rel,
			    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (!items)
			break;
		if (pd < 0) {
			r = sp_error_set_errno(err, SP_E_VAULT_IO, errno,
					       "cannot open '%s'", rel);
			break;
		}
		r = sp_manifest_load_point(pd, vm, slash + 1, &m, &e2);
		if (r == SP_E_VAULT_IO) {
			sp_error_set(err, r, "%s", e2.msg);
			break;
		}
		if (r == 0)
			items[n++] = m;
		else /* a damaged point is listed by verify, not here */
			sp_log(SP_LOG_WARNING, "skipping point %s: %s", key,
			       e2.msg);
		r = 0;
	}
	json_decref(set);
	if (!items)
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	if (r < 0) {
		while (n > 0)
			json_decref(items[--n]);
		free(items);
		return r;
	}
	qsort(items, n, sizeof(*items), cmp_points);
	arr = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, items[i]);
	free(items);
	*ret = arr;
	return 0;
}

struct name_list {
	json_t *names;
};

static int collect_dir(void *ctx, const char *name, bool is_dir, uint64_t size)
{
	(void)size;
	if (is_dir && sp_name_is_valid(name))
		json_array_append_new(((struct name_list *)ctx)->names,
				      json_string(name));
	return 0;
}

/*
 * The manifest cache of a remote vault: a published manifest never changes
 * (a point is replaced only by deleting it), so the listing keeps each one
 * it read in $STILLPOINT_CACHE_DIR (else /var/cache/stillpoint for root,
 * else $XDG_CACHE_HOME or ~/.cache/stillpoint), under the vault's id, and
 * reads from the server only the manifests of points it has not seen.
 * What points exist is still asked of the server every time.  A cache
 * that cannot be used is no cache: everything is read.
 */
static bool cache_path(struct sp_vault *v, const char *name, const char *id,
		       char *out, size_t cap)
{
	const char *dir = getenv("STILLPOINT_CACHE_DIR");
	char base[2048];

	if (dir && *dir)
		snprintf(base, sizeof(base), "%s", dir);
	else if (geteuid() == 0)
		snprintf(base, sizeof(base), "/var/cache/stillpoint");
	else if ((dir = getenv("XDG_CACHE_HOME")) && *dir)
		snprintf(base, sizeof(base), "%s/stillpoint", dir);
	else if ((dir = getenv("HOME")) && *dir)
		snprintf(base, sizeof(base), "%s/.cache/stillpoint", dir);
	else
		return false;
	return snprintf(out, cap, "%s/%s/manifests/%s@%s.json", base,
			v->vault_id, name, id) < (int)cap;
}

/* An encrypted vault's manifests are cached sealed, as the vault holds
 * them: the cache shows no more than the vault. */
static bool cache_get(struct sp_vault *v, const char *name, const char *id,
		      char **text, size_t *len)
{
	char path[4096];

	if (!cache_path(v, name, id, path, sizeof(path)) ||
	    sp_file_read(AT_FDCWD, path, SP_MANIFEST_MAX, text, len) < 0)
		return false;
	if (v->encrypted &&
	    sp_vault_unseal_point_file(v, name, id, "manifest.json", *text,
				       *len, len) < 0) {
		free(*text);
		*text = NULL;
		return false; /* damaged: read it from the vault */
	}
	return true;
}

static void cache_put(struct sp_vault *v, const char *name, const char *id,
		      const char *text, size_t len)
{
	sp_autofree void *sealed = NULL;
	char path[4096], *slash, key[300];
	struct sp_error e;
	int dfd;

	if (!cache_path(v, name, id, path, sizeof(path)))
		return;
	snprintf(key, sizeof(key), "points/%s/%s/manifest.json", name, id);
	if (v->encrypted) {
		if (sp_store_seal_copy(v->store, key, text, len, &sealed,
				       &len) < 0)
			return;
		text = sealed;
	}
	slash = strrchr(path, '/');
	*slash = '\0';
	if (sp_vault_mkdir_parents(path) < 0)
		return;
	dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return;
	sp_file_publish(dfd, slash + 1, text, len, &e);
	close(dfd);
}

/* The points of a vault without a catalog: every manifest, read.  A point
 * whose manifest is missing (a draft being written, or one a writer left)
 * or damaged is not listed (verify names damaged ones). */
static int list_remote(struct sp_vault *v, const char *only, json_t **ret,
		       struct sp_error *err)
{
	struct name_list vms = {json_array()}, ids = {NULL};
	json_t *items = json_array(), *vm, *idj;
	size_t i, k;
	int r = 0;

	if (!vms.names || !items) {
		json_decref(vms.names);
		json_decref(items);
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	}
	if (only)
		json_array_append_new(vms.names, json_string(only));
	else
		r = v->store->ops->list(v->store, "points/", collect_dir, &vms,
					err);
	json_array_foreach(vms.names, i, vm)
	{
		char prefix[100];
		if (r < 0)
			break;
		snprintf(prefix, sizeof(prefix), "points/%s/",
			 json_string_value(vm));
		ids.names = json_array();
		r = v->store->ops->list(v->store, prefix, collect_dir, &ids,
					err);
		json_array_foreach(ids.names, k, idj)
		{
			sp_autofree char *text = NULL;
			size_t len = 0;
			struct sp_error e2;
			json_t *m = NULL;
			char where[140];
			if (r < 0)
				break;
			if (cache_get(v, json_string_value(vm),
				      json_string_value(idj), &text, &len))
				r = 0;
			else
				r = sp_vault_point_get(
				    v, json_string_value(vm),
				    json_string_value(idj), "manifest.json",
				    SP_MANIFEST_MAX, &text, &len, &e2);
			if (r == -ENOENT) {
				r = 0; /* not published (yet) */
				continue;
			}
			if (r == SP_E_VAULT_IO || r == SP_E_VAULT_REMOTE ||
			    r == SP_E_VAULT_UNREACHABLE ||
			    r == SP_E_VAULT_AUTH) {
				sp_error_set(err, r, "%s", e2.msg);
				break;
			}
			snprintf(where, sizeof(where), "%s@%s",
				 json_string_value(vm), json_string_value(idj));
			if (r == 0)
				r = sp_manifest_parse_point(
				    text, len, json_string_value(vm),
				    json_string_value(idj), &m, &e2);
			if (r < 0)
				sp_log(SP_LOG_WARNING, "skipping point %s: %s",
				       where, e2.msg);
			if (m)
				cache_put(v, json_string_value(vm),
					  json_string_value(idj), text, len);
			r = 0;
			if (m)
				json_array_append_new(items, m);
		}
		json_decref(ids.names);
	}
	json_decref(vms.names);
	if (SP_STORE_IS_ERRNO(r))
		r = sp_error_set_errno(err, vault_code(-r), -r,
				       "cannot list the points of '%s'",
				       v->path);
	if (r < 0) {
		json_decref(items);
		return r;
	}
	size_t n = json_array_size(items);
	json_t **arr = calloc(n + 1, sizeof(*arr));
	if (!arr) {
		json_decref(items);
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	}
	for (i = 0; i < n; i++)
		arr[i] = json_incref(json_array_get(items, i));
	json_decref(items);
	qsort(arr, n, sizeof(*arr), cmp_points);
	*ret = json_array();
	for (i = 0; i < n; i++)
		json_array_append_new(*ret, arr[i]);
	free(arr);
	return 0;
}

int sp_vault_scan_points(struct sp_vault *v, const char *only, json_t *set,
			 json_t *unreadable, struct sp_error *err)
{
	struct name_list vms = {json_array()}, ids = {NULL};
	json_t *vm, *idj;
	size_t i, k;
	int r = 0;

	if (!sp_vault_via_store(v))
		return sp_catalog_scan(v->fd, only, set, unreadable, err);
	if (only)
		json_array_append_new(vms.names, json_string(only));
	else
		r = v->store->ops->list(v->store, "points/", collect_dir, &vms,
					err);
	json_array_foreach(vms.names, i, vm)
	{
		char prefix[100];
		if (r < 0)
			break;
		snprintf(prefix, sizeof(prefix), "points/%s/",
			 json_string_value(vm));
		ids.names = json_array();
		r = v->store->ops->list(v->store, prefix, collect_dir, &ids,
					err);
		json_array_foreach(ids.names, k, idj)
		{
			char key[140], mkey[200];
			snprintf(key, sizeof(key), "%s/%s",
				 json_string_value(vm), json_string_value(idj));
			/* A point is published by its manifest, put last:
			 * without one it is a draft being written. */
			snprintf(mkey, sizeof(mkey), "points/%s/manifest.json",
				 key);
			if (v->store->ops->stat(v->store, mkey, NULL, err) == 0)
				json_object_set_new(set, key, json_true());
		}
		json_decref(ids.names);
	}
	json_decref(vms.names);
	if (SP_STORE_IS_ERRNO(r)) {
		json_object_set_new(unreadable, "points",
				    json_string(strerror(-r)));
		r = 0;
	}
	return r;
}

int sp_vault_list_points(struct sp_vault *v, const char *name, json_t **ret,
			 struct sp_error *err)
{
	int r;

	if (name && !sp_name_is_valid(name))
		return sp_error_set(err, SP_E_NAME_INVALID,
				    "invalid VM name '%s'", name);
	if (sp_vault_via_store(v))
		return list_remote(v, name, ret, err);
	r = sp_catalog_list(v->fd, name, ret, err);
	if (r == SP_E_CATALOG) {
		sp_log(SP_LOG_WARNING, "%s; listing from the manifests instead",
		       err->msg);
		sp_error_clear(err);
		r = list_from_manifests(v, name, ret, err);
	}
	return r;
}

int sp_vault_find_point(struct sp_vault *v, const char *spec, json_t **ret,
			struct sp_error *err)
{
	char name[80];
	const char *at = strchr(spec, '@');
	const char *idp = at ? at + 1 : NULL;
	json_t *all = NULL, *m, *found = NULL;
	size_t i, matches = 0;
	int r;

	snprintf(name, sizeof(name), "%.*s",
		 at ? (int)(at - spec) : (int)strlen(spec), spec);
	if (!sp_name_is_valid(name) || (idp && !*idp))
		return sp_error_set(err, SP_E_NAME_INVALID,
				    "invalid point '%s' (use NAME or NAME@ID)",
				    spec);
	r = sp_vault_list_points(v, name, &all, err);
	if (r < 0)
		return r;
	json_array_foreach(all, i, m)
	{
		const char *id = json_string_value(json_object_get(m, "id"));
		if (!idp) {
			found = m; /* oldest first: the last one wins */
			matches = 1;
		} else if (!strcmp(id, idp)) {
			found = m;
			matches = 1;
			break;
		} else if (!strncmp(id, idp, strlen(idp))) {
			found = m;
			matches++;
		}
	}
	if (matches == 0)
		r = sp_error_set(err, SP_E_POINT_NOT_FOUND,
				 idp ? "no recovery point '%s' in the vault "
				       "(list them with 'stillpoint points %s')"
				     : "VM '%s' has no recovery points (list "
				       "them with 'stillpoint points%s')",
				 spec, idp ? name : "");
	if (matches == 0 && idp) {
		/* Not listed: a point whose manifest is damaged says so
		 * rather than that it is not there. */
		struct sp_error e2 = {0};
		json_t *m2 = NULL;
		if (sp_vault_point_manifest(v, name, idp, &m2, &e2) < 0 &&
		    e2.code != SP_E_POINT_NOT_FOUND &&
		    e2.code != SP_E_NAME_INVALID) {
			json_decref(all);
			*err = e2;
			return e2.code;
		}
		json_decref(m2);
	}
	if (matches == 0)
		sp_trash_explain(v, spec, err); /* deleted, not gone? */
	else if (matches > 1)
		r = sp_error_set(err, SP_E_POINT_AMBIGUOUS,
				 "'%s' matches %zu recovery points (give more "
				 "of the id)",
				 spec, matches);
	else
		*ret = json_incref(found);
	json_decref(all);
	return r;
}

int sp_vault_rebuild_catalog(struct sp_vault *v, struct sp_error *err)
{
	if (sp_vault_via_store(v))
		return 0; /* no catalog: every listing reads the manifests */
	return sp_catalog_rebuild(v->fd, err);
}

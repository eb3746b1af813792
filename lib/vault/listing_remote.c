// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Listing the points of a vault without a catalog (a vault in object
 * storage): what points exist is asked of the store every time; each
 * manifest is read once and kept in a local cache (listing_remote.h).
 */
#include "vault/listing_remote.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/fileio.h"
#include "util/log.h"
#include "util/text.h"
#include "vault/catalog.h"

static int vault_code(int errnum)
{
	return sp_errno_to_code(errnum, SP_E_VAULT_IO, SP_E_VAULT_FULL,
				SP_E_VAULT_PERMISSION);
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
	char base[2048];

	if (!sp_cache_dir(base, sizeof(base)))
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
	if (sp_mkdir_parents(path) < 0)
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
int sp_vault_each_point(struct sp_vault *v, const char *top, const char *only,
			sp_point_fn fn, void *ctx, struct sp_error *err)
{
	struct name_list vms = {json_array()};
	json_t *vm, *idj;
	char prefix[100];
	size_t i, k;
	int r = 0;

	if (!vms.names)
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	snprintf(prefix, sizeof(prefix), "%s/", top);
	if (only)
		json_array_append_new(vms.names, json_string(only));
	else
		r = v->store->ops->list(v->store, prefix, collect_dir, &vms,
					err);
	json_array_foreach(vms.names, i, vm)
	{
		struct name_list ids = {json_array()};
		if (r != 0 || !ids.names) {
			json_decref(ids.names);
			break;
		}
		snprintf(prefix, sizeof(prefix), "%s/%s/", top,
			 json_string_value(vm));
		r = v->store->ops->list(v->store, prefix, collect_dir, &ids,
					err);
		json_array_foreach(ids.names, k, idj)
		{
			if (r != 0)
				break;
			r = fn(v, json_string_value(vm), json_string_value(idj),
			       ctx, err);
		}
		json_decref(ids.names);
	}
	json_decref(vms.names);
	return r;
}

/* One point of a listing: its manifest (from the cache, else the store),
 * parsed, appended to @ctx.  A draft (no manifest) or a damaged point is
 * left out; a failing store stops the listing. */
static int list_one(struct sp_vault *v, const char *vm, const char *id,
		    void *ctx, struct sp_error *err)
{
	sp_autofree char *text = NULL;
	size_t len = 0;
	struct sp_error e2;
	json_t *m = NULL;
	char where[140];
	int r;

	if (cache_get(v, vm, id, &text, &len))
		r = 0;
	else
		r = sp_vault_point_get(v, vm, id, "manifest.json",
				       SP_MANIFEST_MAX, &text, &len, &e2);
	if (r == -ENOENT)
		return 0; /* not published (yet) */
	if (r == SP_E_VAULT_IO || r == SP_E_VAULT_REMOTE ||
	    r == SP_E_VAULT_UNREACHABLE || r == SP_E_VAULT_AUTH)
		return sp_error_set(err, r, "%s", e2.msg);
	snprintf(where, sizeof(where), "%s@%s", vm, id);
	if (r == 0)
		r = sp_manifest_parse_point(text, len, vm, id, &m, &e2);
	if (r < 0)
		sp_log(SP_LOG_WARNING, "skipping point %s: %s", where, e2.msg);
	if (m) {
		cache_put(v, vm, id, text, len);
		json_array_append_new(ctx, m);
	}
	return 0;
}

/* The points of a vault without a catalog: every manifest, read.  A point
 * whose manifest is missing (a draft being written, or one a writer left)
 * or damaged is not listed (verify names damaged ones). */
int sp_vault_list_remote(struct sp_vault *v, const char *only, json_t **ret,
			 struct sp_error *err)
{
	json_t *items = json_array();
	size_t i;
	int r;

	if (!items)
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	r = sp_vault_each_point(v, "points", only, list_one, items, err);
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
	qsort(arr, n, sizeof(*arr), sp_points_cmp);
	*ret = json_array();
	for (i = 0; i < n; i++)
		json_array_append_new(*ret, arr[i]);
	free(arr);
	return 0;
}

/* A point is published by its manifest, put last: without one it is a
 * draft being written. */
static int scan_one(struct sp_vault *v, const char *vm, const char *id,
		    void *ctx, struct sp_error *err)
{
	char key[140], mkey[200];

	snprintf(key, sizeof(key), "%s/%s", vm, id);
	snprintf(mkey, sizeof(mkey), "points/%s/manifest.json", key);
	if (v->store->ops->stat(v->store, mkey, NULL, err) == 0)
		json_object_set_new(ctx, key, json_true());
	return 0;
}

int sp_vault_scan_points(struct sp_vault *v, const char *only, json_t *set,
			 json_t *unreadable, struct sp_error *err)
{
	int r;

	if (!sp_vault_via_store(v))
		return sp_catalog_scan(v->fd, only, set, unreadable, err);
	r = sp_vault_each_point(v, "points", only, scan_one, set, err);
	if (SP_STORE_IS_ERRNO(r)) {
		json_object_set_new(unreadable, "points",
				    json_string(strerror(-r)));
		r = 0;
	}
	return r;
}

/* One point whose manifest cannot be read or parsed, into @ctx. */
static int unreadable_one(struct sp_vault *v, const char *name, const char *id,
			  void *ctx, struct sp_error *err)
{
	sp_autofree char *text = NULL;
	struct sp_error e2;
	json_t *m = NULL;
	size_t len = 0;
	char spec[140];
	int r;

	(void)err;
	if (cache_get(v, name, id, &text, &len))
		return 0; /* read and parsed before */
	r = sp_vault_point_get(v, name, id, "manifest.json", SP_MANIFEST_MAX,
			       &text, &len, &e2);
	if (r == -ENOENT)
		return 0; /* a draft */
	if (r == 0)
		r = sp_manifest_parse_point(text, len, name, id, &m, &e2);
	json_decref(m);
	if (r < 0) {
		snprintf(spec, sizeof(spec), "%s@%s", name, id);
		sp_log(SP_LOG_WARNING,
		       "cannot read point %s: %s (it is left as it is; see "
		       "'stillpoint verify')",
		       spec, e2.msg);
		json_array_append_new(ctx, json_pack("{s:s, s:s}", "point",
						     spec, "error", e2.msg));
	}
	return 0;
}

int sp_vault_unreadable_remote(struct sp_vault *v, const char *name,
			       json_t *arr, struct sp_error *err)
{
	int r =
	    sp_vault_each_point(v, "points", name, unreadable_one, arr, err);

	if (SP_STORE_IS_ERRNO(r))
		r = sp_error_set_errno(err, vault_code(-r), -r,
				       "cannot list the points of '%s'", name);
	return r;
}

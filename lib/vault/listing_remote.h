/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The listing of a vault that has no catalog (a vault in object storage).
 * A point exists when its manifest does; the manifests read are cached
 * under $STILLPOINT_CACHE_DIR (else /var/cache/stillpoint for root, else
 * $XDG_CACHE_HOME or ~/.cache/stillpoint), by vault id: a published
 * manifest never changes.
 */
#ifndef SP_VAULT_LISTING_REMOTE_H
#define SP_VAULT_LISTING_REMOTE_H

#include <jansson.h>

#include "util/error.h"
#include "vault/vault.h"

/* Call @fn(v, name, id, ctx, err) for each "<@top>/<name>/<id>/" of the
 * store ("points" or "trash"; of VM @only, or every VM), valid names only.
 * Stops at the first non-zero return of @fn, and returns it, or the
 * store's error (a negative errno, @err untouched, or an SP_E_* code). */
typedef int (*sp_point_fn)(struct sp_vault *v, const char *name, const char *id,
			   void *ctx, struct sp_error *err);
int sp_vault_each_point(struct sp_vault *v, const char *top, const char *only,
			sp_point_fn fn, void *ctx, struct sp_error *err);

/* sp_vault_list_points() of such a vault. */
int sp_vault_list_remote(struct sp_vault *v, const char *only, json_t **ret,
			 struct sp_error *err);
/* sp_vault_unreadable_points() of such a vault: each published point of
 * VM @name (its manifest there) whose manifest cannot be read or parsed,
 * as {point, error} appended to @arr. */
int sp_vault_unreadable_remote(struct sp_vault *v, const char *name,
			       json_t *arr, struct sp_error *err);
/* Order of listings: by name, then time, then id (qsort of json_t *). */
int sp_points_cmp(const void *a, const void *b);

#endif

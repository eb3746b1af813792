/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The catalog: an SQLite cache of every point's manifest for fast listing.
 * It is derived data (vault.h invariant 3): sp_catalog_list() first
 * reconciles it with the point directories (a readdir, no manifest reads
 * unless a point is new to the catalog), so a crash between publishing a
 * point and recording it, or a lost catalog file, costs nothing but time.
 * Concurrent processes are serialised by SQLite (WAL, busy timeout).
 */
#ifndef SP_VAULT_CATALOG_H
#define SP_VAULT_CATALOG_H

#include <jansson.h>

#include "util/error.h"

#define SP_CATALOG_FILE "catalog.sqlite"

/* Record a freshly published point (best effort is fine for callers: the
 * next listing reconciles). */
int sp_catalog_add(int vault_fd, json_t *manifest, struct sp_error *err);
/* Manifests of @name's points (all when NULL), ordered by name then time. */
int sp_catalog_list(int vault_fd, const char *name, json_t **ret,
		    struct sp_error *err);
/* The points present under points/ (of @only, or all), added to the JSON
 * object @set as keys "NAME/ID".  A directory that cannot be opened or
 * listed is added to @unreadable (when not NULL) as "points/NAME[/ID]" ->
 * the reason; without @unreadable it is skipped. */
int sp_catalog_scan(int vault_fd, const char *only, json_t *set,
		    json_t *unreadable, struct sp_error *err);
/* Delete the catalog file and build it again from points/. */
int sp_catalog_rebuild(int vault_fd, struct sp_error *err);

#endif

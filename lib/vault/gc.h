/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The trash and the garbage collector, inside the library (the public calls
 * are in <stillpoint/stillpoint.h>; the format in docs/vault-format.md).
 *
 *	trash/<name>/<id>/      a soft-deleted point: the point directory as it
 *	                        was, plus deleted.json {deleted_at, expires_at,
 *	                        why}
 *	trash.lock              flock: shared by delete and undelete, exclusive
 *	                        while gc purges and marks (no point moves
 *	                        between points/ and trash/ during a mark)
 *	gc.lock                 flock: exclusive for one gc at a time
 *	gc.json                 the gc state: {state, fossils_since, fossils,
 *	                        drafts}
 *	chunks/XYZ/<id>.fossil  a chunk gc found unreferenced (pass 1)
 *
 * Invariants:
 *  1. A point is in points/ or in trash/, moved by one rename(2) under the
 *     shared trash lock; a trashed point keeps its chunks referenced until
 *     it is purged, so undelete always restores a complete point.
 *  2. A fossil is deleted only by a gc run that (a) finds every draft that
 *     existed when the fossils were made gone, then (b) reads every draft,
 *     published and trashed point again and finds no reference to it.
 *  3. A writer never relies on a fossil: sp_chunk_store_has() renames it
 *     back first, and rename and unlink are atomic, so gc's unlink of a
 *     fossil and a writer's resurrection of it cannot both succeed.
 */
#ifndef SP_VAULT_GC_H
#define SP_VAULT_GC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "util/error.h"
#include "vault/chunk_id.h"
#include "vault/vault.h"

#define SP_TRASH_DIR "trash"
#define SP_TRASH_LOCK "trash.lock"
#define SP_TRASH_RECORD "deleted.json"
#define SP_GC_LOCK "gc.lock"
#define SP_GC_STATE "gc.json"

/* Purge expired trash entries while the caller holds the trash lock
 * exclusively.  Appends "NAME@ID" of each purged (or, when @dry_run, each
 * expired) entry to @purged, and {entry, error} of each entry that cannot
 * be read, and so is kept whatever its age, to @kept (may be NULL). */
int sp_trash_purge_locked(struct sp_vault *v, int64_t now, bool dry_run,
			  json_t *purged, json_t *kept, struct sp_error *err);

/* Is trash entry @name/@id expired at @now?  False when its record is
 * missing or unreadable: such an entry is kept. */
bool sp_trash_is_expired(struct sp_vault *v, const char *name, const char *id,
			 int64_t now);

/* When @spec ("NAME" or "NAME@ID") names nothing in points/ but something
 * in the trash, say so in @err's message (how to undelete it). */
void sp_trash_explain(struct sp_vault *v, const char *spec,
		      struct sp_error *err);

/* Parse "YYYY-MM-DDTHH:MM:SS[.fff]Z" into UNIX seconds. */
bool sp_time_parse_rfc3339(const char *s, int64_t *out);

/* A set of chunk ids (open addressing), what gc's mark collects. */
struct sp_id_set {
	struct sp_chunk_id *ids;
	uint8_t *used;
	size_t cap, count;
};

int sp_id_set_add(struct sp_id_set *s, const struct sp_chunk_id *id);
bool sp_id_set_has(const struct sp_id_set *s, const struct sp_chunk_id *id);
void sp_id_set_release(struct sp_id_set *s);

#endif

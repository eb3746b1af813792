/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The trash of a vault in object storage (an S3 vault), where points move
 * object by object; trash.c calls these for any vault that is not a local
 * directory.  The sequences and what a crash leaves are at the top of
 * trash_objects.c; the entries are those of the local trash (gc.h).
 */
#ifndef SP_VAULT_TRASH_OBJECTS_H
#define SP_VAULT_TRASH_OBJECTS_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "util/error.h"
#include "vault/vault.h"

/* sp_vault_point_trash() and sp_vault_point_undelete() of such a vault
 * (names already checked). */
int sp_objects_point_trash(struct sp_vault *v, const char *name, const char *id,
			   const char *why, unsigned retain_days, int64_t now,
			   struct sp_error *err);
/* Is point @name@@id of a vault with object lock still locked at @now?
 * 1 (and its locked_until in @until), 0, or an error. */
int sp_objects_point_locked(struct sp_vault *v, const char *name,
			    const char *id, int64_t now, char *until,
			    size_t untillen, struct sp_error *err);
int sp_objects_point_undelete(struct sp_vault *v, const char *name,
			      const char *id, struct sp_error *err);
/* Append each trash entry, as sp_vault_trash_list() describes it, to
 * @arr (unsorted). */
int sp_objects_trash_list(struct sp_vault *v, json_t *arr,
			  struct sp_error *err);
bool sp_objects_trash_is_expired(struct sp_vault *v, const char *name,
				 const char *id, int64_t now);
/* sp_trash_purge_locked() of such a vault. */
int sp_objects_trash_purge(struct sp_vault *v, int64_t now, bool dry_run,
			   json_t *purged, json_t *kept, struct sp_error *err);

#endif

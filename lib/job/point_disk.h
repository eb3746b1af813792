/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One disk of a recovery point, readable like a disk: its index says
 * which slots are zero and which chunk holds each other slot, and reads
 * come from the vault's chunks, each checked against its id and its slot's
 * length before a byte of it is handed out.  Restore and verify walk it
 * with the same extent cursor (disk/extent_cursor.h) that backups walk
 * their sources with.
 *
 * Thread safety: one thread at a time (it caches one decoded chunk).
 */
#ifndef SP_JOB_POINT_DISK_H
#define SP_JOB_POINT_DISK_H

#include <jansson.h>

#include "disk/extent_cursor.h"
#include "vault/disk_index.h"
#include "vault/vault.h"

struct sp_point_disk;

/*
 * Open the disk described by manifest entry @d of point @p; @where names
 * the point in messages.  The index
 * is checked (trailer, the manifest's index_sha256, its size against the
 * manifest's).  Errors: SP_E_INDEX_CORRUPT, SP_E_VAULT_IO, SP_E_NOMEM.
 */
int sp_point_disk_open(const struct sp_point_ref *p, json_t *d,
		       const char *where, struct sp_point_disk **ret,
		       struct sp_error *err);
void sp_point_disk_free(struct sp_point_disk *pd);

const char *sp_point_disk_name(const struct sp_point_disk *pd);
uint64_t sp_point_disk_size(const struct sp_point_disk *pd);
struct sp_disk_index *sp_point_disk_index(struct sp_point_disk *pd);

/*
 * Check the index against the manifest's "digest" (disk_index.h).  A
 * point made before digests were recorded has none: *@had is false and
 * 0 is returned.  Errors: SP_E_INDEX_CORRUPT ("slots swapped or
 * substituted"), SP_E_NOMEM.
 */
int sp_point_disk_check_digest(struct sp_point_disk *pd, bool *had,
			       struct sp_error *err);

/* A cursor over the point's disk: zero slots are zero extents, every
 * other slot a data extent; fills read (and check) its chunks. */
int sp_point_disk_cursor(struct sp_point_disk *pd,
			 struct sp_extent_cursor **ret, struct sp_error *err);

/* The vault's chunk size (a slot's length but the last's). */
uint32_t sp_point_disk_chunk_size(const struct sp_point_disk *pd);
bool sp_point_disk_slot_is_zero(const struct sp_point_disk *pd, uint64_t slot);
/*
 * Read slot @slot's chunk into @buf (chunk size bytes), checked against
 * its id and the slot's length, with @codec.  Unlike the cursor's reads
 * this keeps no state: threads may call it at once, each with its own
 * codec.  Errors: SP_E_CHUNK_CORRUPT, SP_E_CHUNK_MISSING, vault I/O.
 */
int sp_point_disk_read_slot(struct sp_point_disk *pd,
			    struct sp_chunk_codec *codec, uint64_t slot,
			    void *buf, struct sp_error *err);

#endif

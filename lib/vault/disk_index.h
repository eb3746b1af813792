/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A disk's chunk index: which chunk holds each fixed-size slice of the disk.
 *
 * File layout (little-endian; docs/vault-format.md):
 *	0   "SPIX"            magic
 *	4   u32 version       1
 *	8   u64 disk_size     bytes
 *	16  u32 chunk_size    bytes
 *	20  u32 id_len        32
 *	24  u64 count         ceil(disk_size / chunk_size)
 *	32  32 bytes reserved (zero)
 *	64  count * id_len    chunk ids; the all-zero id = all-zero slice
 *	end 32 bytes          SHA-256 of everything before it
 *
 * The writer fills slots in any order from several threads (pwrite at a
 * fixed offset), so memory stays bounded whatever the disk size; finish()
 * seals the file with its checksum and fsyncs it.  The reader maps the file
 * and checks the checksum before handing out ids.
 */
#ifndef SP_VAULT_DISK_INDEX_H
#define SP_VAULT_DISK_INDEX_H

#include <stdint.h>

#include "util/error.h"
#include "vault/chunk_id.h"

#define SP_INDEX_HEADER_LEN 64

struct sp_index_writer;
struct sp_disk_index;

/* @dirfd SP_INDEX_ANONYMOUS: the index is written into an unnamed
 * scratch file (sp_tmpfile_open()), read back with sp_index_writer_fd(). */
#define SP_INDEX_ANONYMOUS (-200)
int sp_index_writer_create(int dirfd, const char *name, uint64_t disk_size,
			   uint32_t chunk_size, struct sp_index_writer **ret,
			   struct sp_error *err);
/* Thread-safe. */
int sp_index_writer_set(struct sp_index_writer *w, uint64_t slot,
			const struct sp_chunk_id *id, struct sp_error *err);
/* Append the checksum and fsync; @sha receives the checksum (the SHA-256
 * of the file before its trailer), which the manifest records. */
int sp_index_writer_finish(struct sp_index_writer *w, uint8_t sha[32],
			   struct sp_error *err);
void sp_index_writer_free(struct sp_index_writer *w);
/* The writer's file (to store it elsewhere once finished). */
int sp_index_writer_fd(struct sp_index_writer *w);
const char *sp_index_writer_name(const struct sp_index_writer *w);

/* Open and validate.  @expect_sha (may be NULL) is the manifest's record of
 * the checksum.  Errors: SP_E_INDEX_CORRUPT, SP_E_VAULT_IO. */
/* The same from an open file @fd (not closed; the index maps it), @name
 * for messages. */
int sp_disk_index_open_fd(int fd, const char *name, const uint8_t *expect_sha,
			  struct sp_disk_index **ret, struct sp_error *err);
int sp_disk_index_open(int dirfd, const char *name, const uint8_t *expect_sha,
		       struct sp_disk_index **ret, struct sp_error *err);
void sp_disk_index_free(struct sp_disk_index *ix);
uint64_t sp_disk_index_disk_size(const struct sp_disk_index *ix);
uint32_t sp_disk_index_chunk_size(const struct sp_disk_index *ix);
uint64_t sp_disk_index_count(const struct sp_disk_index *ix);
/* The caller is done with slots before @slot: their pages may leave
 * memory (they are read back from the file if needed again). */
void sp_disk_index_forget(struct sp_disk_index *ix, uint64_t slot);
const struct sp_chunk_id *sp_disk_index_get(const struct sp_disk_index *ix,
					    uint64_t slot);

/*
 * The disk's digest (docs/vault-format.md, "disk digest"): SHA-256 over
 * "stillpoint-disk-digest-1\0", the disk size (u64le), the chunk size
 * (u32le), then for each slot in order the SHA-256 of the slot's bytes
 * (the chunk id for a data slot, the hash of that many zeroes for a zero
 * slot).  Recorded in the manifest at backup and recomputed by verify and
 * restore, it makes swapped or substituted slots visible even when the
 * index's own checksums were recomputed.  Walks the index in order and
 * releases its pages as it goes.  Returns 0 or SP_E_NOMEM.
 */
int sp_disk_index_digest(struct sp_disk_index *ix, uint8_t out[32],
			 struct sp_error *err);

/*
 * Check @ix against a manifest's "digest" @hex (NULL: a point made before
 * digests, nothing to check).  @what names the disk in messages.  Errors:
 * SP_E_MANIFEST_CORRUPT (not 64 hex digits), SP_E_INDEX_CORRUPT (slots
 * swapped or substituted), SP_E_NOMEM.
 */
int sp_disk_index_check_digest(struct sp_disk_index *ix, const char *hex,
			       const char *what, struct sp_error *err);

#endif

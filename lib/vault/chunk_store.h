/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The chunk store: content-addressed, compressed chunks, each one object
 * "chunks/XYZ/<id hex>" of the vault's store (store.h), where XYZ is the
 * id's first three hex digits.
 *
 * Invariants:
 *  1. A chunk that exists under its name has complete content (the store
 *     puts it whole, create-only: an existing chunk is never replaced).
 *  2. A chunk's id is the hash of its plaintext, so concurrent writers of the
 *     same id write the same content and the first one wins.
 *  3. Chunks written or relied on become durable with sp_chunk_store_sync()
 *     (the store's sync: a local store fsyncs every prefix directory
 *     touched); a recovery point is published only after that.
 *
 * On-disk chunk file: 16-byte header then payload (docs/vault-format.md):
 *	"SPCH" | u8 version=1 | u8 codec (0 none, 1 zstd) | u16 0 |
 *	u32le plain length | u32le payload length
 *
 * Thread safety: a store may be shared by threads; each thread uses its own
 * struct sp_chunk_codec.
 */
#ifndef SP_VAULT_CHUNK_STORE_H
#define SP_VAULT_CHUNK_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"
#include "vault/chunk_id.h"
#include "vault/store.h"

#define SP_CHUNK_HEADER_LEN 16
#define SP_CHUNK_MAX_SIZE (16u << 20)

struct sp_chunk_store;
struct sp_chunk_codec;

/* Create VAULT/chunks and its 4096 prefix directories (init of a local
 * vault). */
int sp_chunk_store_create(int vault_fd, struct sp_error *err);

/* A chunk store over @store (which outlives it). */
int sp_chunk_store_open(struct sp_store *store, int zstd_level,
			struct sp_chunk_store **ret, struct sp_error *err);
void sp_chunk_store_free(struct sp_chunk_store *s);

/* Key this store's chunk ids: HMAC-SHA-256 under @id_key (an encrypted
 * vault's id key, vault_key.h) instead of SHA-256.  Before any chunk is
 * put or got. */
void sp_chunk_store_set_id_key(struct sp_chunk_store *s,
			       const uint8_t id_key[SP_CHUNK_ID_LEN]);

/* The id of a chunk of @len bytes in this store: SHA-256 of the bytes, or
 * for a keyed store HMAC-SHA-256 under its id key.  Callers give zero
 * slices the reserved zero id before they ask. */
void sp_chunk_store_id(const struct sp_chunk_store *s, const void *data,
		       size_t len, struct sp_chunk_id *id);

/* Take chunk @id, named by a published point, to be present (see
 * sp_store_ops.assume_present); a no-op where asking is cheap. */
void sp_chunk_store_assume(struct sp_chunk_store *s,
			   const struct sp_chunk_id *id);

/* Make sure chunk @id stays locked until at least @until (UNIX s) in a
 * store with object lock (sp_store_ops.ensure_locked); 0 at once in any
 * other store.  Thread-safe.  Errors: SP_E_CHUNK_MISSING (the chunk is
 * gone), the store's (VaultRemoteError, VaultAuthFailed, ...). */
int sp_chunk_store_ensure_locked(struct sp_chunk_store *s,
				 const struct sp_chunk_id *id, int64_t until,
				 struct sp_error *err);

/* Per-thread scratch (compression contexts and buffers) for chunks of up to
 * @max_chunk bytes.  Returns NULL when out of memory. */
struct sp_chunk_codec *sp_chunk_codec_new(size_t max_chunk);
void sp_chunk_codec_free(struct sp_chunk_codec *c);
/* The chunks read with @c are read once (a restore): sp_chunk_store_get
 * reads them past the page cache where the store can (read_once).  The
 * checks of what is read are the same. */
void sp_chunk_codec_read_once(struct sp_chunk_codec *c);

/* Is the chunk present?  Also records its prefix directory for
 * sp_chunk_store_sync(), since a backup that relies on it needs its name to
 * be durable too.  A chunk that gc has fossilized ("<id>.fossil", gc.h) is
 * resurrected (renamed back) and counts as present: a writer that relies
 * on a chunk always holds it under its own name. */
bool sp_chunk_store_has(struct sp_chunk_store *s, const struct sp_chunk_id *id);

/*
 * Store @len bytes under @id (computed by the caller from @data).  Sets
 * *@added to true and *@stored to the file size when this call created the
 * chunk, false when it was already there.  Errors: SP_E_VAULT_FULL,
 * SP_E_VAULT_IO, SP_E_VAULT_PERMISSION, SP_E_NOMEM.
 */
int sp_chunk_store_put(struct sp_chunk_store *s, struct sp_chunk_codec *c,
		       const struct sp_chunk_id *id, const void *data,
		       size_t len, bool *added, size_t *stored,
		       struct sp_error *err);

/*
 * Read chunk @id into @buf (capacity @cap), decompress and check its hash.
 * When only its fossil exists, the fossil is read (and left as it is:
 * readers never change the vault).  Sets *@len.  Errors: SP_E_CHUNK_MISSING,
 * SP_E_CHUNK_CORRUPT (bad header, undecodable, wrong length or hash mismatch),
 * SP_E_VAULT_IO.
 */
int sp_chunk_store_get(struct sp_chunk_store *s, struct sp_chunk_codec *c,
		       const struct sp_chunk_id *id, void *buf, size_t cap,
		       size_t *len, struct sp_error *err);

/* fsync each prefix directory touched since the last call. */
int sp_chunk_store_sync(struct sp_chunk_store *s, struct sp_error *err);

/* Relative path "XYZ/<hex>" of a chunk, for messages and tests. */
void sp_chunk_store_path(const struct sp_chunk_id *id, char out[69]);

/* A fossil's name is its chunk's name plus this suffix. */
#define SP_CHUNK_FOSSIL_SUFFIX ".fossil"
#define SP_CHUNK_FOSSIL_PATH_MAX (69 + sizeof(SP_CHUNK_FOSSIL_SUFFIX) - 1)

/*
 * Rename "XYZ/<hex>.fossil" back to "XYZ/<hex>" without replacing a chunk
 * that exists under its name (then the fossil is left for gc).  Returns 0,
 * or -ENOENT when there is no fossil (and no chunk), or -errno.
 */
int sp_chunk_store_resurrect(struct sp_chunk_store *s,
			     const struct sp_chunk_id *id);

#endif

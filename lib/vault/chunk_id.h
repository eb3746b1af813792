/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Chunk ids: SHA-256 of the chunk's plaintext (vault format 1, "sha256"),
 * or, in an encrypted vault ("hmac-sha256"), HMAC-SHA-256 of the plaintext
 * under the vault's chunk-id key, so that an id tells nothing about the
 * content to whoever lacks the key.  The id algorithm is named in the
 * vault's config.  The all-zero id is reserved whatever the algorithm: it
 * marks an all-zero chunk, which is never hashed nor stored, so callers
 * test sp_buffer_is_zero() before computing an id.
 */
#ifndef SP_VAULT_CHUNK_ID_H
#define SP_VAULT_CHUNK_ID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SP_CHUNK_ID_LEN 32
#define SP_CHUNK_ID_HEX_LEN (2 * SP_CHUNK_ID_LEN)

struct sp_chunk_id {
	uint8_t bytes[SP_CHUNK_ID_LEN];
};

void sp_chunk_id_compute(const void *data, size_t len, struct sp_chunk_id *id);
/* HMAC-SHA-256 of @data under @key (the vault key's id_key, vault_key.h).
 * Thread-safe; allocates nothing that outlives the call. */
void sp_chunk_id_compute_keyed(const uint8_t key[SP_CHUNK_ID_LEN],
			       const void *data, size_t len,
			       struct sp_chunk_id *id);
/* The reserved all-zero id ("this chunk reads as zeroes"). */
bool sp_chunk_id_is_zero(const struct sp_chunk_id *id);
void sp_chunk_id_to_hex(const struct sp_chunk_id *id,
			char out[SP_CHUNK_ID_HEX_LEN + 1]);
bool sp_chunk_id_from_hex(const char *hex, struct sp_chunk_id *id);

/* True when every byte of @buf is zero (word-at-a-time). */
bool sp_buffer_is_zero(const void *buf, size_t len);

/* SHA-256 of arbitrary data, for file checksums (index, config). */
void sp_sha256(const void *data, size_t len, uint8_t out[32]);

#endif

// SPDX-License-Identifier: LGPL-2.1-or-later
/* Chunk ids; see chunk_id.h. */
#include "chunk_id.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "util/text.h"

void sp_sha256(const void *data, size_t len, uint8_t out[32])
{
	unsigned int n = 32;

	/* EVP_Digest cannot fail for SHA-256 on valid memory; a failure
	 * here means a broken libcrypto and must not yield a usable id. */
	if (!EVP_Digest(data, len, out, &n, EVP_sha256(), NULL))
		abort();
}

void sp_chunk_id_compute(const void *data, size_t len, struct sp_chunk_id *id)
{
	sp_sha256(data, len, id->bytes);
}

void sp_chunk_id_compute_keyed(const uint8_t key[SP_CHUNK_ID_LEN],
			       const void *data, size_t len,
			       struct sp_chunk_id *id)
{
	unsigned int n = SP_CHUNK_ID_LEN;

	/* One-shot HMAC: its per-call set-up is lost in the noise of a
	 * chunk's hash (bench/seal-speed.c measures both).  As above, a
	 * failure must not yield a usable id. */
	if (!HMAC(EVP_sha256(), key, SP_CHUNK_ID_LEN, data, len, id->bytes,
		  &n) ||
	    n != SP_CHUNK_ID_LEN)
		abort();
}

bool sp_chunk_id_is_zero(const struct sp_chunk_id *id)
{
	return sp_buffer_is_zero(id->bytes, sizeof(id->bytes));
}

void sp_chunk_id_to_hex(const struct sp_chunk_id *id,
			char out[SP_CHUNK_ID_HEX_LEN + 1])
{
	sp_hex_encode(id->bytes, SP_CHUNK_ID_LEN, out);
}

bool sp_chunk_id_from_hex(const char *hex, struct sp_chunk_id *id)
{
	return sp_hex_decode(hex, id->bytes, SP_CHUNK_ID_LEN);
}

bool sp_buffer_is_zero(const void *buf, size_t len)
{
	const unsigned char *p = buf;

	/* Check a head, then compare the buffer with itself shifted: memcmp
	 * runs at memory speed, and the first 16 zero bytes anchor it. */
	for (size_t i = 0; i < len && i < 16; i++)
		if (p[i])
			return false;
	return len <= 16 || memcmp(p, p + 16, len - 16) == 0;
}

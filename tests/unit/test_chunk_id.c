// SPDX-License-Identifier: LGPL-2.1-or-later
/* Chunk ids are SHA-256 of the plaintext; the zero id is reserved. */
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "vault/chunk_id.h"

static void test_known_vector(void)
{
	struct sp_chunk_id id, back;
	char hex[SP_CHUNK_ID_HEX_LEN + 1];

	sp_chunk_id_compute("abc", 3, &id);
	sp_chunk_id_to_hex(&id, hex);
	CHECK_STR(hex, "ba7816bf8f01cfea414140de5dae2223"
		       "b00361a396177a9cb410ff61f20015ad");
	CHECK(sp_chunk_id_from_hex(hex, &back));
	CHECK(memcmp(&id, &back, sizeof(id)) == 0);
	CHECK(!sp_chunk_id_from_hex("zz", &back));
	hex[10] = 'g';
	CHECK(!sp_chunk_id_from_hex(hex, &back));
	CHECK(!sp_chunk_id_is_zero(&id));
	memset(&id, 0, sizeof(id));
	CHECK(sp_chunk_id_is_zero(&id));
}

static void test_buffer_is_zero(void)
{
	size_t n = 4 << 20;
	unsigned char *b = calloc(1, n);

	CHECK(sp_buffer_is_zero(b, n));
	CHECK(sp_buffer_is_zero(b, 0));
	CHECK(sp_buffer_is_zero(b, 7));
	b[n - 1] = 1;
	CHECK(!sp_buffer_is_zero(b, n));
	b[n - 1] = 0;
	b[3] = 1;
	CHECK(!sp_buffer_is_zero(b, n));
	CHECK(!sp_buffer_is_zero(b, 5));
	b[3] = 0;
	b[17] = 1;
	CHECK(!sp_buffer_is_zero(b, n));
	free(b);
}

int main(void)
{
	SP_RUN(test_known_vector);
	SP_RUN(test_buffer_is_zero);
	SP_TEST_EXIT();
}

// SPDX-License-Identifier: LGPL-2.1-or-later
/* Chunk ids are SHA-256 of the plaintext, or HMAC-SHA-256 under the vault's
 * id key; the zero id is reserved. */
#include <stdio.h>
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

/* RFC 4231 test cases 1 and 2: a key shorter than SHA-256's block is
 * zero-padded by HMAC, so the same key padded to 32 bytes gives the RFC's
 * values. */
static void test_keyed_rfc4231(void)
{
	uint8_t key[SP_CHUNK_ID_LEN] = {0};
	char hex[SP_CHUNK_ID_HEX_LEN + 1];
	struct sp_chunk_id id;

	memset(key, 0x0b, 20);
	sp_chunk_id_compute_keyed(key, "Hi There", 8, &id);
	sp_chunk_id_to_hex(&id, hex);
	CHECK_STR(hex, "b0344c61d8db38535ca8afceaf0bf12b"
		       "881dc200c9833da726e9376c2e32cff7");
	memset(key, 0, sizeof(key));
	memcpy(key, "Jefe", 4);
	sp_chunk_id_compute_keyed(key, "what do ya want for nothing?", 28, &id);
	sp_chunk_id_to_hex(&id, hex);
	CHECK_STR(hex, "5bdcc146bf60754e6a042426089575c7"
		       "5a003f089d2739839dec58b964ec3843");
}

/* A keyed id differs from the plain hash and between keys, and matches
 * the openssl tool on a whole 4 MiB chunk. */
static void test_keyed_chunk(void)
{
	size_t n = 4 << 20;
	uint8_t *b = malloc(n), k1[SP_CHUNK_ID_LEN], k2[SP_CHUNK_ID_LEN];
	struct sp_chunk_id plain, a, b1, again;
	char hex[SP_CHUNK_ID_HEX_LEN + 1], khex[2 * SP_CHUNK_ID_LEN + 1];
	char path[512], cmd[1200], line[256];
	FILE *f;

	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)(i * 2654435761u >> 13);
	for (size_t i = 0; i < sizeof(k1); i++) {
		k1[i] = (uint8_t)(i + 1);
		k2[i] = (uint8_t)(i + 1);
	}
	k2[31] ^= 1;
	sp_chunk_id_compute(b, n, &plain);
	sp_chunk_id_compute_keyed(k1, b, n, &a);
	sp_chunk_id_compute_keyed(k2, b, n, &b1);
	sp_chunk_id_compute_keyed(k1, b, n, &again);
	CHECK(memcmp(&a, &plain, sizeof(a)) != 0);
	CHECK(memcmp(&a, &b1, sizeof(a)) != 0);
	CHECK(memcmp(&a, &again, sizeof(a)) == 0);

	snprintf(path, sizeof(path), "%s/chunk", sp_test_tmpdir());
	f = fopen(path, "w");
	CHECK(f && fwrite(b, 1, n, f) == n);
	if (f)
		fclose(f);
	for (size_t i = 0; i < sizeof(k1); i++)
		snprintf(khex + 2 * i, 3, "%02x", k1[i]);
	snprintf(cmd, sizeof(cmd),
		 "openssl dgst -sha256 -mac HMAC -macopt hexkey:%s '%s' "
		 "2>/dev/null",
		 khex, path);
	f = popen(cmd, "r");
	if (!f || !fgets(line, sizeof(line), f)) {
		fprintf(stderr,
			"openssl tool not usable: cross-check skipped\n");
	} else {
		sp_chunk_id_to_hex(&a, hex);
		CHECK(strstr(line, hex) != NULL);
	}
	if (f)
		pclose(f);
	free(b);
}

int main(void)
{
	SP_RUN(test_known_vector);
	SP_RUN(test_buffer_is_zero);
	SP_RUN(test_keyed_rfc4231);
	SP_RUN(test_keyed_chunk);
	SP_TEST_EXIT();
}

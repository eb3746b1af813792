// SPDX-License-Identifier: LGPL-2.1-or-later
/* Sealed objects: round trips, and every kind of tampering refused. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "harness.h"
#include "util/cleanup.h"
#include "vault/seal.h"

static const uint8_t key[SP_SEAL_KEY_LEN] = {
    0x60, 0x3d, 0xeb, 0x10, 0x15, 0xca, 0x71, 0xbe, 0x2b, 0x73, 0xae,
    0xf0, 0x85, 0x7d, 0x77, 0x81, 0x1f, 0x35, 0x2c, 0x07, 0x3b, 0x61,
    0x08, 0xd7, 0x2d, 0x98, 0x10, 0xa3, 0x09, 0x14, 0xdf, 0xf4};
static const char aad[] = "chunk\0aaaa";

static void fill(uint8_t *b, size_t n, uint32_t seed)
{
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		b[i] = (uint8_t)(seed >> 16);
	}
}

static void round_trip(struct sp_sealer *s, size_t n)
{
	uint8_t *plain = malloc(n + 1), *sealed = malloc(n + SP_SEAL_OVERHEAD);
	uint8_t *back = malloc(n + 1);
	size_t sl = 0, bl = 0;

	fill(plain, n, (uint32_t)n);
	CHECK_INT(sp_seal(s, key, aad, sizeof(aad), plain, n, sealed,
			  n + SP_SEAL_OVERHEAD, &sl),
		  0);
	CHECK_INT(sl, n + SP_SEAL_OVERHEAD);
	CHECK_INT(sealed[0], SP_SEAL_VERSION);
	if (n >= 64)
		CHECK(memcmp(sealed + 1 + SP_SEAL_NONCE_LEN, plain, 64) != 0);
	CHECK_INT(
	    sp_unseal(s, key, aad, sizeof(aad), sealed, sl, back, n + 1, &bl),
	    0);
	CHECK_INT(bl, n);
	CHECK(memcmp(back, plain, n) == 0);
	/* One byte short of room is refused, both ways. */
	CHECK_INT(sp_seal(s, key, aad, sizeof(aad), plain, n, sealed,
			  n + SP_SEAL_OVERHEAD - 1, &sl),
		  -ENOBUFS);
	if (n > 0)
		CHECK_INT(sp_unseal(s, key, aad, sizeof(aad), sealed,
				    n + SP_SEAL_OVERHEAD, back, n - 1, &bl),
			  -ENOBUFS);
	free(plain);
	free(sealed);
	free(back);
}

static void test_round_trip(void)
{
	struct sp_sealer *s = sp_sealer_new();

	CHECK(s != NULL);
	round_trip(s, 0);
	round_trip(s, 1);
	round_trip(s, 4096 + 7);
	round_trip(s, 4 << 20);
	sp_sealer_free(s);
}

/* Flip every bit of a small object, and bits spread over a large one:
 * header, nonce, ciphertext and tag alike. */
static void test_tamper(void)
{
	struct sp_sealer *s = sp_sealer_new();
	uint8_t plain[100], sealed[100 + SP_SEAL_OVERHEAD], back[100];
	size_t sl, bl;
	int refused = 0, total = 0;

	fill(plain, sizeof(plain), 7);
	CHECK_INT(sp_seal(s, key, aad, sizeof(aad), plain, sizeof(plain),
			  sealed, sizeof(sealed), &sl),
		  0);
	for (size_t bit = 0; bit < 8 * sl; bit++) {
		sealed[bit / 8] ^= (uint8_t)(1u << bit % 8);
		memset(back, 0xaa, sizeof(back));
		refused += sp_unseal(s, key, aad, sizeof(aad), sealed, sl, back,
				     sizeof(back), &bl) == -EBADMSG;
		total++;
		sealed[bit / 8] ^= (uint8_t)(1u << bit % 8);
	}
	CHECK_INT(refused, total);
	/* A refused open leaves no plaintext behind. */
	sealed[50] ^= 1;
	CHECK_INT(sp_unseal(s, key, aad, sizeof(aad), sealed, sl, back,
			    sizeof(back), &bl),
		  -EBADMSG);
	for (size_t i = 0; i < sizeof(back); i++)
		CHECK(back[i] == 0);
	sealed[50] ^= 1;
	/* Cut short, or grown by a byte. */
	CHECK_INT(sp_unseal(s, key, aad, sizeof(aad), sealed, sl - 1, back,
			    sizeof(back), &bl),
		  -EBADMSG);
	CHECK_INT(sp_unseal(s, key, aad, sizeof(aad), sealed, 5, back,
			    sizeof(back), &bl),
		  -EBADMSG);
	CHECK_INT(sp_unseal(s, key, aad, sizeof(aad), sealed, sl, back,
			    sizeof(back), &bl),
		  0);
	sp_sealer_free(s);
}

static void test_tamper_large(void)
{
	struct sp_sealer *s = sp_sealer_new();
	size_t n = 4 << 20;
	uint8_t *plain = malloc(n), *sealed = malloc(n + SP_SEAL_OVERHEAD);
	uint8_t *back = malloc(n);
	size_t sl, bl;
	size_t where[] = {
	    0,	  1,	 12,	 13,	 14,
	    4096, n / 2, n + 12, n + 13, n + SP_SEAL_OVERHEAD - 1};

	fill(plain, n, 3);
	CHECK_INT(sp_seal(s, key, aad, sizeof(aad), plain, n, sealed,
			  n + SP_SEAL_OVERHEAD, &sl),
		  0);
	for (size_t i = 0; i < SP_ARRAY_SIZE(where); i++) {
		sealed[where[i]] ^= 0x10;
		CHECK_INT(sp_unseal(s, key, aad, sizeof(aad), sealed, sl, back,
				    n, &bl),
			  -EBADMSG);
		sealed[where[i]] ^= 0x10;
	}
	CHECK_INT(sp_unseal(s, key, aad, sizeof(aad), sealed, sl, back, n, &bl),
		  0);
	CHECK(memcmp(back, plain, n) == 0);
	free(plain);
	free(sealed);
	free(back);
	sp_sealer_free(s);
}

/* The AAD binds an object to its name; the key is the key. */
static void test_wrong_aad_or_key(void)
{
	struct sp_sealer *s = sp_sealer_new();
	static const char other[] = "chunk\0aaab";
	uint8_t plain[64], sealed[64 + SP_SEAL_OVERHEAD], back[64], k2[32];
	size_t sl, bl;

	fill(plain, sizeof(plain), 11);
	CHECK_INT(sp_seal(s, key, aad, sizeof(aad), plain, sizeof(plain),
			  sealed, sizeof(sealed), &sl),
		  0);
	CHECK_INT(sp_unseal(s, key, other, sizeof(other), sealed, sl, back,
			    sizeof(back), &bl),
		  -EBADMSG);
	CHECK_INT(sp_unseal(s, key, aad, sizeof(aad) - 1, sealed, sl, back,
			    sizeof(back), &bl),
		  -EBADMSG);
	CHECK_INT(
	    sp_unseal(s, key, NULL, 0, sealed, sl, back, sizeof(back), &bl),
	    -EBADMSG);
	memcpy(k2, key, sizeof(k2));
	k2[0] ^= 1;
	CHECK_INT(sp_unseal(s, k2, aad, sizeof(aad), sealed, sl, back,
			    sizeof(back), &bl),
		  -EBADMSG);
	/* A failure leaves the sealer usable. */
	CHECK_INT(sp_unseal(s, key, aad, sizeof(aad), sealed, sl, back,
			    sizeof(back), &bl),
		  0);
	CHECK(memcmp(back, plain, sizeof(plain)) == 0);
	sp_sealer_free(s);
}

/* Random nonces: the same plaintext never seals the same way. */
static void test_nonces_differ(void)
{
	struct sp_sealer *s = sp_sealer_new();
	uint8_t plain[32] = {0}, a[32 + SP_SEAL_OVERHEAD],
		b[32 + SP_SEAL_OVERHEAD];
	size_t al, bl;

	CHECK_INT(sp_seal(s, key, aad, sizeof(aad), plain, sizeof(plain), a,
			  sizeof(a), &al),
		  0);
	CHECK_INT(sp_seal(s, key, aad, sizeof(aad), plain, sizeof(plain), b,
			  sizeof(b), &bl),
		  0);
	CHECK(memcmp(a + 1, b + 1, SP_SEAL_NONCE_LEN) != 0);
	CHECK(memcmp(a + 1 + SP_SEAL_NONCE_LEN, b + 1 + SP_SEAL_NONCE_LEN,
		     sizeof(plain)) != 0);
	sp_sealer_free(s);
}

/* In place: plaintext at out + SP_SEAL_HEADER_LEN, both ways. */
static void test_in_place(void)
{
	struct sp_sealer *s = sp_sealer_new();
	size_t n = (1 << 20) + 3, sl, bl;
	uint8_t *buf = malloc(n + SP_SEAL_OVERHEAD), *plain = malloc(n);

	fill(plain, n, 9);
	memcpy(buf + SP_SEAL_HEADER_LEN, plain, n);
	CHECK_INT(sp_seal(s, key, aad, sizeof(aad), buf + SP_SEAL_HEADER_LEN, n,
			  buf, n + SP_SEAL_OVERHEAD, &sl),
		  0);
	CHECK(memcmp(buf + SP_SEAL_HEADER_LEN, plain, 64) != 0);
	CHECK_INT(sp_unseal(s, key, aad, sizeof(aad), buf, sl,
			    buf + SP_SEAL_HEADER_LEN, n, &bl),
		  0);
	CHECK_INT(bl, n);
	CHECK(memcmp(buf + SP_SEAL_HEADER_LEN, plain, n) == 0);
	free(buf);
	free(plain);
	sp_sealer_free(s);
}

/* The format as docs/encryption.md gives it to an independent reader:
 * plain AES-256-GCM, nonce at 1, tag at the end, and the version byte
 * followed by the caller's AAD as GCM's associated data. */
static void test_independent_reader(void)
{
	struct sp_sealer *s = sp_sealer_new();
	uint8_t plain[300], sealed[300 + SP_SEAL_OVERHEAD], back[300];
	uint8_t version = SP_SEAL_VERSION, tag[SP_SEAL_TAG_LEN];
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	size_t sl;
	int n;

	fill(plain, sizeof(plain), 5);
	CHECK_INT(sp_seal(s, key, aad, sizeof(aad), plain, sizeof(plain),
			  sealed, sizeof(sealed), &sl),
		  0);
	memcpy(tag, sealed + sl - SP_SEAL_TAG_LEN, SP_SEAL_TAG_LEN);
	CHECK(EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, key, sealed + 1));
	CHECK(EVP_DecryptUpdate(c, NULL, &n, &version, 1));
	CHECK(EVP_DecryptUpdate(c, NULL, &n, (const uint8_t *)aad,
				(int)sizeof(aad)));
	CHECK(EVP_DecryptUpdate(c, back, &n, sealed + 1 + SP_SEAL_NONCE_LEN,
				(int)sizeof(plain)));
	CHECK(
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, SP_SEAL_TAG_LEN, tag));
	CHECK_INT(EVP_DecryptFinal_ex(c, back + n, &n), 1);
	CHECK(memcmp(back, plain, sizeof(plain)) == 0);
	EVP_CIPHER_CTX_free(c);
	sp_sealer_free(s);
}

int main(void)
{
	SP_RUN(test_round_trip);
	SP_RUN(test_tamper);
	SP_RUN(test_tamper_large);
	SP_RUN(test_wrong_aad_or_key);
	SP_RUN(test_nonces_differ);
	SP_RUN(test_in_place);
	SP_RUN(test_independent_reader);
	SP_TEST_EXIT();
}

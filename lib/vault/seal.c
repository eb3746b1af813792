// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Sealed objects; the format and the AAD convention are in seal.h.  The
 * cipher is fetched once per sealer and its context reused, so a seal costs
 * one key schedule plus the AES-NI/PCLMUL pass over the data.  The version
 * byte is authenticated as the first byte of the AAD, so a reader never
 * acts on a version an attacker chose.
 */
#include "seal.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

/* EVP lengths are ints: feed large objects in pieces. */
#define PIECE (1u << 30)

struct sp_sealer {
	EVP_CIPHER *cipher;
	EVP_CIPHER_CTX *ctx;
};

struct sp_sealer *sp_sealer_new(void)
{
	struct sp_sealer *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->cipher = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
	s->ctx = EVP_CIPHER_CTX_new();
	if (!s->cipher || !s->ctx ||
	    !EVP_CipherInit_ex(s->ctx, s->cipher, NULL, NULL, NULL, 1)) {
		sp_sealer_free(s);
		return NULL;
	}
	return s;
}

void sp_sealer_free(struct sp_sealer *s)
{
	if (!s)
		return;
	/* EVP_CIPHER_CTX_free cleanses the expanded key. */
	EVP_CIPHER_CTX_free(s->ctx);
	EVP_CIPHER_free(s->cipher);
	free(s);
}

/* Key the context for one object and feed it the version and the AAD. */
static bool start(struct sp_sealer *s, const uint8_t *key, const uint8_t *nonce,
		  const void *aad, size_t aadlen, int enc)
{
	static const uint8_t version = SP_SEAL_VERSION;
	const uint8_t *a = aad;
	int n;

	if (!EVP_CipherInit_ex(s->ctx, NULL, NULL, key, nonce, enc))
		return false;
	if (!EVP_CipherUpdate(s->ctx, NULL, &n, &version, 1))
		return false;
	while (aadlen > 0) {
		size_t piece = aadlen < PIECE ? aadlen : PIECE;
		if (!EVP_CipherUpdate(s->ctx, NULL, &n, a, (int)piece))
			return false;
		a += piece;
		aadlen -= piece;
	}
	return true;
}

/* En- or decrypt @len bytes; GCM is a stream mode, so out == len bytes. */
static bool cipher_run(struct sp_sealer *s, const uint8_t *in, size_t len,
		       uint8_t *out)
{
	int n;

	while (len > 0) {
		size_t piece = len < PIECE ? len : PIECE;
		if (!EVP_CipherUpdate(s->ctx, out, &n, in, (int)piece) ||
		    (size_t)n != piece)
			return false;
		in += piece;
		out += piece;
		len -= piece;
	}
	return true;
}

int sp_seal(struct sp_sealer *s, const uint8_t key[SP_SEAL_KEY_LEN],
	    const void *aad, size_t aadlen, const void *plain, size_t len,
	    void *out, size_t outcap, size_t *outlen)
{
	uint8_t *o = out;
	uint8_t *nonce = o + 1;
	uint8_t *body = nonce + SP_SEAL_NONCE_LEN;
	int n;

	/* In place, or apart: GCM handles in == out, never a shifted
	 * overlap, and the nonce must not land on the plaintext. */
	assert((const uint8_t *)plain == body || len == 0 ||
	       (const uint8_t *)plain + len <= o ||
	       (const uint8_t *)plain >= body + len + SP_SEAL_TAG_LEN);
	if (outcap < SP_SEAL_OVERHEAD || len > outcap - SP_SEAL_OVERHEAD)
		return -ENOBUFS;
	o[0] = SP_SEAL_VERSION;
	if (RAND_bytes(nonce, SP_SEAL_NONCE_LEN) != 1)
		return -EIO;
	if (!start(s, key, nonce, aad, aadlen, 1) ||
	    !cipher_run(s, plain, len, body) ||
	    !EVP_CipherFinal_ex(s->ctx, body + len, &n) ||
	    !EVP_CIPHER_CTX_ctrl(s->ctx, EVP_CTRL_GCM_GET_TAG, SP_SEAL_TAG_LEN,
				 body + len))
		return -EIO;
	*outlen = len + SP_SEAL_OVERHEAD;
	return 0;
}

int sp_unseal(struct sp_sealer *s, const uint8_t key[SP_SEAL_KEY_LEN],
	      const void *aad, size_t aadlen, const void *in, size_t inlen,
	      void *out, size_t outcap, size_t *outlen)
{
	const uint8_t *i = in;
	const uint8_t *nonce = i + 1;
	const uint8_t *body = nonce + SP_SEAL_NONCE_LEN;
	uint8_t tag[SP_SEAL_TAG_LEN];
	size_t len;
	int n;

	if (inlen < SP_SEAL_OVERHEAD || i[0] != SP_SEAL_VERSION)
		return -EBADMSG;
	len = inlen - SP_SEAL_OVERHEAD;
	if (outcap < len)
		return -ENOBUFS;
	/* The tag buffer is not const in OpenSSL's signature. */
	memcpy(tag, body + len, SP_SEAL_TAG_LEN);
	if (!start(s, key, nonce, aad, aadlen, 0) ||
	    !cipher_run(s, body, len, out) ||
	    !EVP_CIPHER_CTX_ctrl(s->ctx, EVP_CTRL_GCM_SET_TAG, SP_SEAL_TAG_LEN,
				 tag))
		return -EIO;
	if (EVP_CipherFinal_ex(s->ctx, (uint8_t *)out + len, &n) != 1) {
		/* Do not leave unauthenticated plaintext behind. */
		explicit_bzero(out, len);
		return -EBADMSG;
	}
	*outlen = len;
	return 0;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Sealed objects: AES-256-GCM with a random 96-bit nonce, for chunks and
 * every metadata object of an encrypted vault (docs/encryption.md).
 *
 * A sealed object is, byte for byte:
 *
 *	u8 version = 1 | nonce[12] | ciphertext[len] | tag[16]
 *
 * so it is exactly SP_SEAL_OVERHEAD (29) bytes longer than its plaintext.
 * The tag authenticates the version byte, the caller's associated data
 * (AAD) and the ciphertext.
 *
 * The AAD is how an object is bound to its identity.  Callers pass
 * "stillpoint-object-v1", a NUL and the object's logical name, e.g.
 * "chunk/<64 hex id>" or "point/<name>/<id>/manifest.json" (the table is
 * in docs/encryption.md): a chunk sealed for id A then fails to open as
 * chunk B, and point X's manifest cannot be swapped for point Y's, even by
 * someone who can write every object of the vault.  The AAD is not
 * stored: the reader must know it, which it does, since it asked for the
 * object by that name.
 *
 * Nonces come from RAND_bytes(); with random 96-bit nonces one key may seal
 * up to 2^32 objects (NIST SP 800-38D), i.e. 16 PiB of 4 MiB chunks.
 *
 * Thread safety: a struct sp_sealer holds one EVP_CIPHER_CTX and is used
 * by one thread at a time; make one per worker thread (as for
 * struct sp_chunk_codec).  Sealing allocates nothing.
 */
#ifndef SP_VAULT_SEAL_H
#define SP_VAULT_SEAL_H

#include <stddef.h>
#include <stdint.h>

#define SP_SEAL_VERSION 1
#define SP_SEAL_KEY_LEN 32
#define SP_SEAL_NONCE_LEN 12
#define SP_SEAL_TAG_LEN 16
#define SP_SEAL_HEADER_LEN (1 + SP_SEAL_NONCE_LEN)
#define SP_SEAL_OVERHEAD (SP_SEAL_HEADER_LEN + SP_SEAL_TAG_LEN)

struct sp_sealer;

/* One per thread.  Returns NULL when out of memory. */
struct sp_sealer *sp_sealer_new(void);
void sp_sealer_free(struct sp_sealer *s);

/*
 * Seal @len bytes of @plain under @key with @aad (@aadlen bytes; NULL when
 * 0) into @out, which has room for @outcap bytes.  @plain either does not
 * overlap @out or is exactly out + SP_SEAL_HEADER_LEN: a caller that
 * compresses straight into that place seals in place, without a second
 * pass through memory.  Sets *@outlen to len + SP_SEAL_OVERHEAD.  Returns 0,
 * -ENOBUFS when @outcap is too small, or -EIO when libcrypto fails (no
 * randomness): then @out holds nothing usable.
 */
int sp_seal(struct sp_sealer *s, const uint8_t key[SP_SEAL_KEY_LEN],
	    const void *aad, size_t aadlen, const void *plain, size_t len,
	    void *out, size_t outcap, size_t *outlen);

/*
 * Open the sealed object @in (@inlen bytes) with @key and the same @aad it
 * was sealed with, writing the plaintext to @out (room for @outcap bytes;
 * not overlapping @in, or exactly in + SP_SEAL_HEADER_LEN to open in
 * place).  Sets *@outlen.  Returns 0, or:
 *   -EBADMSG  the object is not authentic: too short, unknown version, or
 *             the tag does not match (a flipped bit anywhere, another key,
 *             another AAD).  Nothing of @out may be used.  The caller maps
 *             this to the object's own damage code (ChunkCorrupt,
 *             ManifestCorrupt, ...) and names the object; there is no
 *             struct sp_error here for that reason.
 *   -ENOBUFS  @outcap is smaller than inlen - SP_SEAL_OVERHEAD.
 *   -EIO      libcrypto failed for another reason.
 */
int sp_unseal(struct sp_sealer *s, const uint8_t key[SP_SEAL_KEY_LEN],
	      const void *aad, size_t aadlen, const void *in, size_t inlen,
	      void *out, size_t outcap, size_t *outlen);

#endif

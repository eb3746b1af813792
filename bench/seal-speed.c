// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * seal-speed: what encryption costs a chunk, on one core.
 *
 *	build/bench/seal-speed [chunks [rounds]]
 *
 * Builds @chunks 4 MiB chunks of mixed data (64 KiB blocks: 30 % random
 * bytes, 40 % text-like records, 30 % sparse binary records; about 2:1
 * with zstd level 1, a little less than the bench corpus's 2.4:1),
 * then times, per step, the best of @rounds passes over all of them:
 *
 *	id sha256        the unencrypted vault's chunk id
 *	id hmac-sha256   the encrypted vault's chunk id (keyed)
 *	zstd-1           compression alone
 *	zstd-1 + seal    compression then AES-256-GCM
 *	write plain      sha256 id + zstd-1           (a backup's CPU per chunk)
 *	write sealed     hmac id + zstd-1 + seal (in place)
 *	read plain       unzstd + sha256 check        (restore / verify)
 *	read sealed      unseal + unzstd + hmac check
 *
 * and prints MB/s of plaintext and the cost of the sealed paths.  Nothing
 * is written to disk: the figures are the CPU's share of a backup.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <zstd.h>

#include "vault/chunk_id.h"
#include "vault/seal.h"

#define CHUNK (4u << 20)
#define BLOCK (64u << 10)

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void fill_block(uint8_t *b)
{
	static const char *words[] = {"backup", "vault",   "chunk", "point",
				      "disk",	"restore", "guest", "kernel",
				      "INFO",	"WARN",	   "GET",   "200"};
	unsigned kind = (unsigned)(next() % 10);
	size_t i = 0;

	if (kind < 3) { /* random: media, compressed files, encrypted data */
		for (; i + 8 <= BLOCK; i += 8) {
			uint64_t v = next();
			memcpy(b + i, &v, 8);
		}
	} else if (kind < 7) { /* text: logs, configuration, sources */
		while (i < BLOCK) {
			int n = snprintf((char *)b + i, BLOCK - i,
					 "%s %s id=%u t=%u\n",
					 words[next() % 12], words[next() % 12],
					 (unsigned)(next() % 100000),
					 (unsigned)(next() % 1000));
			if (n <= 0 || (size_t)n >= BLOCK - i)
				break;
			i += (size_t)n;
		}
	} else { /* binary records: a database's pages */
		memset(b, 0, BLOCK);
		for (; i + 64 <= BLOCK; i += 64) {
			uint64_t v = next();
			memcpy(b + i, &v, 8);
			b[i + 8] = (uint8_t)(i >> 6);
		}
	}
	for (; i < BLOCK; i++)
		b[i] = ' ';
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

enum step {
	ID_SHA,
	ID_HMAC,
	ZSTD,
	ZSTD_SEAL,
	WRITE_PLAIN,
	WRITE_SEALED,
	READ_PLAIN,
	READ_SEALED,
	STEPS
};

static const char *names[STEPS] = {
    "id sha256",   "id hmac-sha256", "zstd-1",	   "zstd-1 + seal",
    "write plain", "write sealed",   "read plain", "read sealed",
};

struct ctx {
	uint8_t **chunks, **packed, **sealed;
	size_t *packed_len, *sealed_len;
	size_t n;
	uint8_t *zbuf, *sbuf, *plain;
	size_t zcap;
	ZSTD_CCtx *cctx;
	ZSTD_DCtx *dctx;
	struct sp_sealer *sealer;
	uint8_t key[32], idkey[32];
};

static void aad_of(const struct sp_chunk_id *id, char aad[72])
{
	memcpy(aad, "chunk", 6);
	sp_chunk_id_to_hex(id, aad + 6);
}

static int run(struct ctx *c, enum step s, size_t i)
{
	struct sp_chunk_id id;
	char aad[72];
	size_t z, out;

	switch (s) {
	case ID_SHA:
		sp_chunk_id_compute(c->chunks[i], CHUNK, &id);
		return 0;
	case ID_HMAC:
		sp_chunk_id_compute_keyed(c->idkey, c->chunks[i], CHUNK, &id);
		return 0;
	case ZSTD:
	case WRITE_PLAIN:
		if (s == WRITE_PLAIN)
			sp_chunk_id_compute(c->chunks[i], CHUNK, &id);
		z = ZSTD_compressCCtx(c->cctx, c->zbuf, c->zcap, c->chunks[i],
				      CHUNK, 1);
		return ZSTD_isError(z) ? -1 : 0;
	case ZSTD_SEAL:
	case WRITE_SEALED:
		memset(&id, 0, sizeof(id));
		if (s == WRITE_SEALED)
			sp_chunk_id_compute_keyed(c->idkey, c->chunks[i], CHUNK,
						  &id);
		aad_of(&id, aad);
		/* As a chunk store would: compress straight into the sealed
		 * object's body, then seal in place. */
		z = ZSTD_compressCCtx(c->cctx, c->sbuf + SP_SEAL_HEADER_LEN,
				      c->zcap, c->chunks[i], CHUNK, 1);
		if (ZSTD_isError(z))
			return -1;
		return sp_seal(c->sealer, c->key, aad, sizeof(aad),
			       c->sbuf + SP_SEAL_HEADER_LEN, z, c->sbuf,
			       c->zcap + SP_SEAL_OVERHEAD, &out);
	case READ_PLAIN:
		z = ZSTD_decompressDCtx(c->dctx, c->plain, CHUNK, c->packed[i],
					c->packed_len[i]);
		if (ZSTD_isError(z) || z != CHUNK)
			return -1;
		sp_chunk_id_compute(c->plain, CHUNK, &id);
		return 0;
	case READ_SEALED:
		memset(&id, 0, sizeof(id));
		aad_of(&id, aad);
		if (sp_unseal(c->sealer, c->key, aad, sizeof(aad), c->sealed[i],
			      c->sealed_len[i], c->zbuf, c->zcap, &out) < 0)
			return -1;
		z = ZSTD_decompressDCtx(c->dctx, c->plain, CHUNK, c->zbuf, out);
		if (ZSTD_isError(z) || z != CHUNK)
			return -1;
		sp_chunk_id_compute_keyed(c->idkey, c->plain, CHUNK, &id);
		return 0;
	case STEPS:
		break;
	}
	return -1;
}

int main(int argc, char **argv)
{
	size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 64;
	int rounds = argc > 2 ? atoi(argv[2]) : 5;
	double best[STEPS];
	uint64_t stored = 0;
	struct ctx c = {.n = n};

	if (n == 0 || rounds <= 0) {
		fprintf(stderr, "usage: seal-speed [chunks [rounds]]\n");
		return 2;
	}
	c.zcap = ZSTD_compressBound(CHUNK);
	c.chunks = calloc(n, sizeof(*c.chunks));
	c.packed = calloc(n, sizeof(*c.packed));
	c.sealed = calloc(n, sizeof(*c.sealed));
	c.packed_len = calloc(n, sizeof(size_t));
	c.sealed_len = calloc(n, sizeof(size_t));
	c.zbuf = malloc(c.zcap);
	c.sbuf = malloc(c.zcap + SP_SEAL_OVERHEAD);
	c.plain = malloc(CHUNK);
	c.cctx = ZSTD_createCCtx();
	c.dctx = ZSTD_createDCtx();
	c.sealer = sp_sealer_new();
	if (!c.chunks || !c.packed || !c.sealed || !c.zbuf || !c.sbuf ||
	    !c.plain || !c.cctx || !c.dctx || !c.sealer) {
		fprintf(stderr, "out of memory\n");
		return 1;
	}
	for (size_t i = 0; i < 32; i++) {
		c.key[i] = (uint8_t)next();
		c.idkey[i] = (uint8_t)next();
	}
	for (size_t i = 0; i < n; i++) {
		struct sp_chunk_id zero = {{0}};
		char aad[72];
		size_t z;

		c.chunks[i] = malloc(CHUNK);
		c.packed[i] = malloc(c.zcap);
		c.sealed[i] = malloc(c.zcap + SP_SEAL_OVERHEAD);
		if (!c.chunks[i] || !c.packed[i] || !c.sealed[i])
			return 1;
		for (size_t b = 0; b < CHUNK; b += BLOCK)
			fill_block(c.chunks[i] + b);
		z = ZSTD_compressCCtx(c.cctx, c.packed[i], c.zcap, c.chunks[i],
				      CHUNK, 1);
		if (ZSTD_isError(z))
			return 1;
		c.packed_len[i] = z;
		stored += z;
		aad_of(&zero, aad);
		if (sp_seal(c.sealer, c.key, aad, sizeof(aad), c.packed[i], z,
			    c.sealed[i], c.zcap + SP_SEAL_OVERHEAD,
			    &c.sealed_len[i]) < 0)
			return 1;
	}
	for (int s = 0; s < STEPS; s++)
		best[s] = 1e9;
	/* Interleave steps round by round, so a slow spell of a noisy host
	 * hits every step alike. */
	for (int r = 0; r < rounds; r++)
		for (int s = 0; s < STEPS; s++) {
			double t0 = now(), t;
			for (size_t i = 0; i < n; i++)
				if (run(&c, (enum step)s, i) < 0) {
					fprintf(stderr, "%s failed\n",
						names[s]);
					return 1;
				}
			t = now() - t0;
			if (t < best[s])
				best[s] = t;
		}

	printf("%zu chunks of 4 MiB (%.0f MiB), zstd-1 ratio %.2f, best of "
	       "%d rounds, one core\n\n",
	       n, n * 4.0, (double)n * CHUNK / (double)stored, rounds);
	printf("| step | MB/s | ms per chunk |\n|---|---|---|\n");
	for (int s = 0; s < STEPS; s++)
		printf("| %s | %.0f | %.2f |\n", names[s],
		       (double)n * CHUNK / best[s] / 1e6, best[s] * 1e3 / n);
	printf("\n| sealed vs plain | time cost |\n|---|---|\n");
	printf("| id: hmac vs sha256 | %+.1f %% |\n",
	       100 * (best[ID_HMAC] / best[ID_SHA] - 1));
	printf("| zstd-1 + seal vs zstd-1 | %+.1f %% |\n",
	       100 * (best[ZSTD_SEAL] / best[ZSTD] - 1));
	printf("| write path | %+.1f %% |\n",
	       100 * (best[WRITE_SEALED] / best[WRITE_PLAIN] - 1));
	printf("| read path | %+.1f %% |\n",
	       100 * (best[READ_SEALED] / best[READ_PLAIN] - 1));

	for (size_t i = 0; i < n; i++) {
		free(c.chunks[i]);
		free(c.packed[i]);
		free(c.sealed[i]);
	}
	free(c.chunks);
	free(c.packed);
	free(c.sealed);
	free(c.packed_len);
	free(c.sealed_len);
	free(c.zbuf);
	free(c.sbuf);
	free(c.plain);
	ZSTD_freeCCtx(c.cctx);
	ZSTD_freeDCtx(c.dctx);
	sp_sealer_free(c.sealer);
	return 0;
}

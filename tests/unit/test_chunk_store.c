// SPDX-License-Identifier: LGPL-2.1-or-later
/* Chunk store: round trips, dedup, raw fallback, and damage detection. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "vault/chunk_store.h"

#define CS (1u << 20)

static struct sp_store *store;
static struct sp_store *store;
static int vault_fd;

static void fill_random(unsigned char *b, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		b[i] = (unsigned char)(seed >> 16);
	}
}

static void test_roundtrip_and_dedup(void)
{
	struct sp_error err;
	struct sp_chunk_store *s = NULL;
	struct sp_chunk_codec *c = sp_chunk_codec_new(CS);
	unsigned char *data = malloc(CS), *out = malloc(CS);
	struct sp_chunk_id id;
	bool added;
	size_t stored, len;

	CHECK_OK(sp_chunk_store_open(store, 1, &s, &err), &err);
	memset(data, 'x', CS);
	memcpy(data, "header", 6);
	sp_chunk_id_compute(data, CS, &id);
	CHECK(!sp_chunk_store_has(s, &id));
	CHECK_OK(sp_chunk_store_put(s, c, &id, data, CS, &added, &stored, &err),
		 &err);
	CHECK(added);
	CHECK(stored < CS / 10); /* compressible data was compressed */
	CHECK(sp_chunk_store_has(s, &id));
	/* The second put of the same content is a dedup. */
	CHECK_OK(sp_chunk_store_put(s, c, &id, data, CS, &added, &stored, &err),
		 &err);
	CHECK(!added);
	CHECK_INT(stored, 0);
	CHECK_OK(sp_chunk_store_get(s, c, &id, out, CS, &len, &err), &err);
	CHECK_INT(len, CS);
	CHECK(memcmp(out, data, CS) == 0);

	/* Incompressible data is stored raw, and still round-trips. */
	fill_random(data, CS, 7);
	sp_chunk_id_compute(data, CS, &id);
	CHECK_OK(sp_chunk_store_put(s, c, &id, data, CS, &added, &stored, &err),
		 &err);
	CHECK_INT(stored, CS + SP_CHUNK_HEADER_LEN);
	CHECK_OK(sp_chunk_store_get(s, c, &id, out, CS, &len, &err), &err);
	CHECK(memcmp(out, data, CS) == 0);
	CHECK_OK(sp_chunk_store_sync(s, &err), &err);

	sp_chunk_codec_free(c);
	sp_chunk_store_free(s);
	free(data);
	free(out);
}

static void test_damage(void)
{
	struct sp_error err;
	struct sp_chunk_store *s = NULL;
	struct sp_chunk_codec *c = sp_chunk_codec_new(CS);
	unsigned char *data = malloc(CS), *out = malloc(CS);
	struct sp_chunk_id id, other;
	char rel[69], path[600];
	bool added;
	size_t stored, len;
	int fd;

	CHECK_OK(sp_chunk_store_open(store, 3, &s, &err), &err);
	fill_random(data, CS / 2, 9);
	memset(data + CS / 2, 0, CS / 2);
	sp_chunk_id_compute(data, CS, &id);
	CHECK_OK(sp_chunk_store_put(s, c, &id, data, CS, &added, &stored, &err),
		 &err);
	sp_chunk_store_path(&id, rel);
	snprintf(path, sizeof(path), "%s/vault/chunks/%s", sp_test_tmpdir(),
		 rel);
	/* Flip one byte in the payload. */
	fd = open(path, O_RDWR);
	CHECK(fd >= 0);
	unsigned char b;
	CHECK(pread(fd, &b, 1, 100) == 1);
	b ^= 0x40;
	CHECK(pwrite(fd, &b, 1, 100) == 1);
	close(fd);
	CHECK_INT(sp_chunk_store_get(s, c, &id, out, CS, &len, &err),
		  SP_E_CHUNK_CORRUPT);
	CHECK(strstr(err.msg, rel) != NULL);
	/* Truncated header. */
	CHECK(truncate(path, 5) == 0);
	CHECK_INT(sp_chunk_store_get(s, c, &id, out, CS, &len, &err),
		  SP_E_CHUNK_CORRUPT);
	/* A chunk that is not there. */
	memset(&other, 0x11, sizeof(other));
	CHECK_INT(sp_chunk_store_get(s, c, &other, out, CS, &len, &err),
		  SP_E_CHUNK_MISSING);
	sp_chunk_codec_free(c);
	sp_chunk_store_free(s);
	free(data);
	free(out);
}

int main(void)
{
	struct sp_error err;
	char path[512];

	snprintf(path, sizeof(path), "%s/vault", sp_test_tmpdir());
	mkdir(path, 0755);
	vault_fd = open(path, O_RDONLY | O_DIRECTORY);
	CHECK_OK(sp_chunk_store_create(vault_fd, &err), &err);
	CHECK_OK(sp_store_local_open(vault_fd, path, &store, &err), &err);
	SP_RUN(test_roundtrip_and_dedup);
	SP_RUN(test_damage);
	sp_store_close(store);
	close(vault_fd);
	SP_TEST_EXIT();
}

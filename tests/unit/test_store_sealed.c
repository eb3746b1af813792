// SPDX-License-Identifier: LGPL-2.1-or-later
/* The sealing store over a local store: what it stores is sealed and 29
 * bytes longer, it reads back whole and in ranges with plaintext sizes, an
 * object moved under another key or with a flipped byte does not open
 * (-EBADMSG), another key opens nothing, the settings and key slots are
 * stored as they are, and drafts are sealed under the point's name. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "util/fileio.h"
#include "vault/chunk_store.h"
#include "vault/seal.h"
#include "vault/store.h"
#include "vault/vault_key.h"

static char path[512];
static int vault_fd;

static struct sp_store *open_sealed(struct sp_vault_key *key)
{
	struct sp_store *inner = NULL, *st = NULL;
	struct sp_error err;

	CHECK_OK(sp_store_local_open(vault_fd, path, &inner, &err), &err);
	CHECK_OK(sp_store_sealed_wrap(inner, key, &st, &err), &err);
	CHECK(sp_store_is_sealed(st));
	CHECK(sp_store_inner(st) == inner);
	return st;
}

/* The bytes the inner store holds at @key. */
static char *raw(const char *key, size_t *len)
{
	char *text = NULL;

	CHECK_INT(sp_file_read(vault_fd, key, 1u << 24, &text, len), 0);
	return text;
}

/* Store bytes as they are, under the sealing store. */
static int raw_put(struct sp_store *st, const char *key, const void *data,
		   size_t len)
{
	struct sp_store *in = sp_store_inner(st);
	struct sp_error err;

	return in->ops->put(in, key, data, len, 0, &err);
}

static size_t size_seen;
static int list_size(void *ctx, const char *name, bool is_dir, uint64_t size)
{
	if (!is_dir && !strcmp(name, ctx))
		size_seen = size;
	return 0;
}

static void test_objects(void)
{
	struct sp_vault_key *key = NULL, *other = NULL;
	struct sp_error err;
	struct sp_store *st, *st2;
	static const char msg[] = "the plaintext of a job record";
	char buf[64], *r;
	void *got = NULL;
	size_t len = 0, n = 0;
	uint64_t size = 0;

	CHECK_OK(sp_vault_key_new(&key, &err), &err);
	CHECK_OK(sp_vault_key_new(&other, &err), &err);
	st = open_sealed(key);

	CHECK_OK(st->ops->put(st, "state/vm/last-job.json", msg, strlen(msg), 0,
			      &err),
		 &err);
	r = raw("state/vm/last-job.json", &len);
	CHECK_INT(len, strlen(msg) + SP_SEAL_OVERHEAD);
	CHECK(!memmem(r, len, "plaintext", 9));
	free(r);

	CHECK_OK(
	    st->ops->get(st, "state/vm/last-job.json", 1024, &got, &len, &err),
	    &err);
	CHECK_INT(len, strlen(msg));
	CHECK(!memcmp(got, msg, len));
	free(got);

	/* A range: from the middle, plaintext size reported. */
	CHECK_OK(st->ops->read(st, "state/vm/last-job.json", 4, buf, 9, &n,
			       &size, &err),
		 &err);
	CHECK_INT(n, 9);
	CHECK_INT(size, strlen(msg));
	CHECK(!memcmp(buf, msg + 4, 9));
	CHECK_OK(st->ops->read(st, "state/vm/last-job.json", 0, buf,
			       sizeof(buf), &n, NULL, &err),
		 &err);
	CHECK_INT(n, strlen(msg));
	CHECK_OK(st->ops->stat(st, "state/vm/last-job.json", &size, &err),
		 &err);
	CHECK_INT(size, strlen(msg));
	CHECK_OK(
	    st->ops->list(st, "state/vm/", list_size, "last-job.json", &err),
	    &err);
	CHECK_INT(size_seen, strlen(msg));

	/* Moved under another key: does not open. */
	r = raw("state/vm/last-job.json", &len);
	CHECK_OK(raw_put(st, "state/vm/other.json", r, len), &err);
	CHECK_INT(st->ops->get(st, "state/vm/other.json", 1024, &got, &n, &err),
		  -EBADMSG);
	/* A flipped byte: does not open, neither whole nor in part. */
	r[len / 2] ^= 1;
	CHECK_OK(raw_put(st, "state/vm/last-job.json", r, len), &err);
	free(r);
	CHECK_INT(
	    st->ops->get(st, "state/vm/last-job.json", 1024, &got, &n, &err),
	    -EBADMSG);
	CHECK_INT(st->ops->read(st, "state/vm/last-job.json", 2, buf, 4, &n,
				NULL, &err),
		  -EBADMSG);

	/* Another vault's key opens nothing. */
	st2 = open_sealed(other);
	CHECK_OK(st->ops->put(st, "state/vm/a.json", msg, strlen(msg), 0, &err),
		 &err);
	CHECK_INT(st2->ops->get(st2, "state/vm/a.json", 1024, &got, &n, &err),
		  -EBADMSG);
	sp_store_close(st2);

	/* Settings and key slots: stored as they are. */
	CHECK_OK(st->ops->put(st, SP_STORE_KEYS, "{}", 2, 0, &err), &err);
	r = raw(SP_STORE_KEYS, &len);
	CHECK_INT(len, 2);
	free(r);
	sp_store_close(st);
	sp_vault_key_free(key);
	sp_vault_key_free(other);
}

static void test_chunks_and_drafts(void)
{
	struct sp_vault_key *key = NULL;
	struct sp_error err;
	struct sp_store *st;
	struct sp_chunk_store *cs = NULL;
	struct sp_chunk_codec *c = sp_chunk_codec_new(1u << 20);
	struct sp_store_draft *d = NULL;
	struct sp_chunk_id id, plain;
	unsigned char *data = malloc(1u << 20), *out = malloc(1u << 20);
	char rel[69], k[100], *r;
	bool added;
	size_t stored, len;

	CHECK_OK(sp_vault_key_new(&key, &err), &err);
	st = open_sealed(key);
	CHECK_OK(sp_chunk_store_open(st, 1, &cs, &err), &err);
	sp_chunk_store_set_id_key(cs, key->id_key);
	memset(data, 'q', 1u << 20);
	sp_chunk_store_id(cs, data, 1u << 20, &id);
	sp_chunk_id_compute(data, 1u << 20, &plain);
	CHECK(memcmp(id.bytes, plain.bytes, SP_CHUNK_ID_LEN) != 0);
	CHECK_OK(sp_chunk_store_put(cs, c, &id, data, 1u << 20, &added, &stored,
				    &err),
		 &err);
	CHECK(added);
	CHECK_OK(sp_chunk_store_get(cs, c, &id, out, 1u << 20, &len, &err),
		 &err);
	CHECK_INT(len, 1u << 20);
	CHECK(!memcmp(out, data, len));
	sp_chunk_store_path(&id, rel);
	snprintf(k, sizeof(k), "chunks/%s", rel);
	r = raw(k, &len);
	CHECK(!memmem(r, len, "SPCH", 4)); /* the chunk header is sealed too */
	free(r);

	CHECK_OK(st->ops->draft_begin(st, "vm1", "20261129T000000Z-aaaaaa", &d,
				      &err),
		 &err);
	CHECK(sp_store_local_draft_dirfd(st, d) >= 0);
	CHECK_OK(st->ops->draft_put(d, "config", "<domain/>", 9, &err), &err);
	CHECK_OK(st->ops->draft_publish(d, "{\"m\":1}", 7, &err), &err);
	void *got = NULL;
	CHECK_OK(
	    st->ops->get(st, "points/vm1/20261129T000000Z-aaaaaa/manifest.json",
			 1024, &got, &len, &err),
	    &err);
	CHECK_INT(len, 7);
	free(got);
	CHECK_OK(st->ops->get(st, "points/vm1/20261129T000000Z-aaaaaa/config",
			      1024, &got, &len, &err),
		 &err);
	CHECK(len == 9 && !memcmp(got, "<domain/>", 9));
	free(got);
	r = raw("points/vm1/20261129T000000Z-aaaaaa/config", &len);
	CHECK_INT(len, 9 + SP_SEAL_OVERHEAD);
	free(r);

	sp_chunk_store_free(cs);
	sp_chunk_codec_free(c);
	sp_store_close(st);
	sp_vault_key_free(key);
	free(data);
	free(out);
}

int main(void)
{
	struct sp_error err;

	snprintf(path, sizeof(path), "%s/vault", sp_test_tmpdir());
	mkdir(path, 0700);
	vault_fd = open(path, O_RDONLY | O_DIRECTORY);
	CHECK_OK(sp_chunk_store_create(vault_fd, &err), &err);
	CHECK_INT(sp_mkdir_at(vault_fd, "tmp", 0700), 0);
	SP_RUN(test_objects);
	SP_RUN(test_chunks_and_drafts);
	close(vault_fd);
	SP_TEST_EXIT();
}

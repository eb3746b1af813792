// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Chunk store; the invariants are listed in chunk_store.h.  The write path
 * is: compress (or keep raw when zstd does not help) -> O_TMPFILE in the
 * prefix directory -> write -> fdatasync -> link to the final name.  A crash
 * at any point leaves either no name or a complete chunk: an unnamed
 * O_TMPFILE vanishes with the crash.
 */
#include "chunk_store.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zstd.h>

#include "util/cleanup.h"
#include "util/fileio.h"
#include "util/iobuf.h"
#include "vault/store.h"

#define PREFIXES 4096
#define CODEC_NONE 0
#define CODEC_ZSTD 1

struct sp_chunk_store {
	struct sp_store *store;
	int level;
	bool keyed;
	uint8_t id_key[SP_CHUNK_ID_LEN];
};

struct sp_chunk_codec {
	ZSTD_CCtx *cctx;
	ZSTD_DCtx *dctx;
	uint8_t *buf; /* header + compressed payload, or a read file */
	size_t cap;
	size_t max_chunk;
	/* buf is SP_STORE_ONCE_ALIGN-aligned and holds buf_cap bytes, cap
	 * rounded up to it: a read_once may read the whole last block */
	size_t buf_cap;
	bool read_once;
};

void sp_chunk_store_path(const struct sp_chunk_id *id, char out[69])
{
	char hex[SP_CHUNK_ID_HEX_LEN + 1];

	sp_chunk_id_to_hex(id, hex);
	snprintf(out, 69, "%.3s/%s", hex, hex);
}

static int vault_code(int errnum)
{
	return sp_errno_to_code(errnum, SP_E_VAULT_IO, SP_E_VAULT_FULL,
				SP_E_VAULT_PERMISSION);
}

int sp_chunk_store_create(int vault_fd, struct sp_error *err)
{
	sp_autoclose int fd = -1;
	char name[4];
	int r;

	r = sp_mkdir_at(vault_fd, "chunks", SP_DIR_MODE);
	if (r < 0)
		return sp_error_set_errno(err, vault_code(-r), -r,
					  "cannot create 'chunks'");
	fd = openat(vault_fd, "chunks", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return sp_error_set_errno(err, vault_code(errno), errno,
					  "cannot open 'chunks'");
	for (unsigned i = 0; i < PREFIXES; i++) {
		snprintf(name, sizeof(name), "%03x", i);
		r = sp_mkdir_at(fd, name, SP_DIR_MODE);
		if (r < 0)
			return sp_error_set_errno(err, vault_code(-r), -r,
						  "cannot create 'chunks/%s'",
						  name);
	}
	r = sp_fsync_dirfd(fd);
	if (r < 0)
		return sp_error_set_errno(err, vault_code(-r), -r,
					  "cannot sync 'chunks'");
	return 0;
}

int sp_chunk_store_open(struct sp_store *store, int zstd_level,
			struct sp_chunk_store **ret, struct sp_error *err)
{
	struct sp_chunk_store *s = calloc(1, sizeof(*s));

	if (!s)
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	s->store = store;
	s->level = zstd_level;
	*ret = s;
	return 0;
}

void sp_chunk_store_set_id_key(struct sp_chunk_store *s,
			       const uint8_t id_key[SP_CHUNK_ID_LEN])
{
	memcpy(s->id_key, id_key, SP_CHUNK_ID_LEN);
	s->keyed = true;
}

static void chunk_key(const struct sp_chunk_id *id, char out[76])
{
	char rel[69];

	sp_chunk_store_path(id, rel);
	snprintf(out, 76, "chunks/%s", rel);
}

void sp_chunk_store_id(const struct sp_chunk_store *s, const void *data,
		       size_t len, struct sp_chunk_id *id)
{
	if (s->keyed)
		sp_chunk_id_compute_keyed(s->id_key, data, len, id);
	else
		sp_chunk_id_compute(data, len, id);
}

void sp_chunk_store_assume(struct sp_chunk_store *s,
			   const struct sp_chunk_id *id)
{
	char key[76];

	if (!s->store->ops->assume_present || sp_chunk_id_is_zero(id))
		return;
	chunk_key(id, key);
	s->store->ops->assume_present(s->store, key);
}

int sp_chunk_store_ensure_locked(struct sp_chunk_store *s,
				 const struct sp_chunk_id *id, int64_t until,
				 struct sp_error *err)
{
	char key[76];
	int r;

	if (!s->store->ops->ensure_locked || sp_chunk_id_is_zero(id))
		return 0;
	chunk_key(id, key);
	r = s->store->ops->ensure_locked(s->store, key, until, err);
	if (r == -ENOENT)
		return sp_error_set(err, SP_E_CHUNK_MISSING,
				    "chunk '%s' is missing: it cannot be "
				    "locked ('stillpoint verify' names the "
				    "points that need it)",
				    key);
	if (SP_STORE_IS_ERRNO(r))
		return sp_error_set_errno(err, SP_E_VAULT_IO, -r,
					  "cannot lock chunk '%s'", key);
	return r;
}

void sp_chunk_store_free(struct sp_chunk_store *s)
{
	if (s)
		explicit_bzero(s->id_key, sizeof(s->id_key));
	free(s);
}

struct sp_chunk_codec *sp_chunk_codec_new(size_t max_chunk)
{
	struct sp_chunk_codec *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->max_chunk = max_chunk;
	c->cap = SP_CHUNK_HEADER_LEN + ZSTD_compressBound(max_chunk);
	c->buf_cap = (c->cap + SP_STORE_ONCE_ALIGN - 1) / SP_STORE_ONCE_ALIGN *
		     SP_STORE_ONCE_ALIGN;
	c->buf = sp_iobuf_new(c->buf_cap);
	c->cctx = ZSTD_createCCtx();
	c->dctx = ZSTD_createDCtx();
	if (!c->buf || !c->cctx || !c->dctx) {
		sp_chunk_codec_free(c);
		return NULL;
	}
	return c;
}

void sp_chunk_codec_read_once(struct sp_chunk_codec *c)
{
	c->read_once = true;
}

void sp_chunk_codec_free(struct sp_chunk_codec *c)
{
	if (!c)
		return;
	ZSTD_freeCCtx(c->cctx);
	ZSTD_freeDCtx(c->dctx);
	sp_iobuf_free(c->buf, c->buf_cap);
	free(c);
}

int sp_chunk_store_resurrect(struct sp_chunk_store *s,
			     const struct sp_chunk_id *id)
{
	char key[76];

	chunk_key(id, key);
	return sp_store_local_resurrect(s->store, key);
}

bool sp_chunk_store_has(struct sp_chunk_store *s, const struct sp_chunk_id *id)
{
	char key[76];
	struct sp_error err;

	chunk_key(id, key);
	/* Anything but a chunk under the name (a link, a FIFO): not held,
	 * and a writer stores it again (put repairs). */
	return s->store->ops->stat(s->store, key, NULL, &err) == 0;
}

static void put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

int sp_chunk_store_put(struct sp_chunk_store *s, struct sp_chunk_codec *c,
		       const struct sp_chunk_id *id, const void *data,
		       size_t len, bool *added, size_t *stored,
		       struct sp_error *err)
{
	char key[76];
	size_t payload;
	uint8_t codec = CODEC_ZSTD;
	int r;

	*added = false;
	*stored = 0;
	if (len > c->max_chunk)
		return sp_error_set(
		    err, SP_E_INTERNAL,
		    "chunk of %zu bytes exceeds the codec's %zu", len,
		    c->max_chunk);
	if (s->store->ops->known_present) {
		char k[76];
		chunk_key(id, k);
		if (s->store->ops->known_present(s->store, k))
			return 0;
	} else if (sp_chunk_store_has(s, id)) {
		return 0;
	}

	payload = ZSTD_compressCCtx(c->cctx, c->buf + SP_CHUNK_HEADER_LEN,
				    c->cap - SP_CHUNK_HEADER_LEN, data, len,
				    s->level);
	if (ZSTD_isError(payload) || payload >= len) {
		/* Incompressible: store the plaintext as is. */
		codec = CODEC_NONE;
		payload = len;
		memcpy(c->buf + SP_CHUNK_HEADER_LEN, data, len);
	}
	memcpy(c->buf, "SPCH", 4);
	c->buf[4] = 1;
	c->buf[5] = codec;
	c->buf[6] = c->buf[7] = 0;
	put_le32(c->buf + 8, (uint32_t)len);
	put_le32(c->buf + 12, (uint32_t)payload);

	chunk_key(id, key);
	r = s->store->ops->put(s->store, key, c->buf,
			       SP_CHUNK_HEADER_LEN + payload, SP_STORE_CREATE,
			       err);
	if (r == -EEXIST)
		return 0; /* another writer stored it meanwhile */
	if (r == -EISDIR)
		return sp_error_set(err, SP_E_CHUNK_CORRUPT,
				    "chunk '%s' is a directory, not a "
				    "chunk (remove it; 'stillpoint verify' "
				    "names the points that need it)",
				    key);
	if (SP_STORE_IS_ERRNO(r))
		return sp_error_set_errno(err, vault_code(-r), -r,
					  "cannot store chunk '%s'", key);
	if (r < 0)
		return r;
	*added = true;
	*stored = SP_CHUNK_HEADER_LEN + payload;
	return 0;
}

int sp_chunk_store_get(struct sp_chunk_store *s, struct sp_chunk_codec *c,
		       const struct sp_chunk_id *id, void *buf, size_t cap,
		       size_t *len, struct sp_error *err)
{
	char key[76];
	struct sp_chunk_id got;
	uint64_t size = 0;
	size_t n = 0;
	uint32_t plain, payload;
	int r;

	chunk_key(id, key);
	/* A FIFO or a directory under a chunk's name is a damaged chunk, told
	 * at once: never a read that blocks or a job that stops. */
	if (c->read_once && s->store->ops->read_once)
		r = s->store->ops->read_once(s->store, key, c->buf, c->buf_cap,
					     &n, &size, err);
	else
		r = s->store->ops->read(s->store, key, 0, c->buf, c->cap, &n,
					&size, err);
	if (r == -ENOENT)
		return sp_error_set(err, SP_E_CHUNK_MISSING,
				    "chunk '%s' is missing", key);
	if (r == -SP_ENOTREG)
		return sp_error_set(err, SP_E_CHUNK_CORRUPT,
				    "chunk '%s' is not a regular file", key);
	if (r == -EBADMSG)
		return sp_error_set(err, SP_E_CHUNK_CORRUPT,
				    "chunk '%s' does not open with the "
				    "vault's key (damaged, or not this "
				    "chunk)",
				    key);
	if (SP_STORE_IS_ERRNO(r))
		return sp_error_set_errno(err, vault_code(-r), -r,
					  "cannot read chunk '%s'", key);
	if (r < 0)
		return r;
	if (size < SP_CHUNK_HEADER_LEN || size > c->cap || n != size)
		return sp_error_set(err, SP_E_CHUNK_CORRUPT,
				    "chunk '%s' has an impossible size "
				    "(%llu bytes)",
				    key, (unsigned long long)size);
	plain = get_le32(c->buf + 8);
	payload = get_le32(c->buf + 12);
	if (memcmp(c->buf, "SPCH", 4) != 0 || c->buf[4] != 1 ||
	    c->buf[5] > CODEC_ZSTD ||
	    (uint64_t)payload + SP_CHUNK_HEADER_LEN != size || plain > cap)
		return sp_error_set(err, SP_E_CHUNK_CORRUPT,
				    "chunk '%s' has a damaged header", key);
	if (c->buf[5] == CODEC_NONE) {
		if (payload != plain)
			return sp_error_set(err, SP_E_CHUNK_CORRUPT,
					    "chunk '%s' has a damaged header",
					    key);
		memcpy(buf, c->buf + SP_CHUNK_HEADER_LEN, plain);
	} else {
		size_t d = ZSTD_decompressDCtx(
		    c->dctx, buf, cap, c->buf + SP_CHUNK_HEADER_LEN, payload);
		if (ZSTD_isError(d) || d != plain)
			return sp_error_set(err, SP_E_CHUNK_CORRUPT,
					    "chunk '%s' cannot be "
					    "decompressed (%s)",
					    key,
					    ZSTD_isError(d)
						? ZSTD_getErrorName(d)
						: "wrong length");
	}
	sp_chunk_store_id(s, buf, plain, &got);
	if (memcmp(got.bytes, id->bytes, SP_CHUNK_ID_LEN) != 0)
		return sp_error_set(err, SP_E_CHUNK_CORRUPT,
				    "chunk '%s' does not match its id "
				    "(content damaged)",
				    key);
	*len = plain;
	return 0;
}

int sp_chunk_store_sync(struct sp_chunk_store *s, struct sp_error *err)
{
	int r = s->store->ops->sync(s->store, err);

	if (SP_STORE_IS_ERRNO(r))
		return sp_error_set_errno(err, vault_code(-r), -r,
					  "cannot sync the chunks of '%s'",
					  s->store->location);
	return r;
}

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

#define PREFIXES 4096
#define CODEC_NONE 0
#define CODEC_ZSTD 1

struct sp_chunk_store {
	int chunks_fd;
	int level;
	_Atomic uint64_t touched[PREFIXES / 64];
};

struct sp_chunk_codec {
	ZSTD_CCtx *cctx;
	ZSTD_DCtx *dctx;
	uint8_t *buf; /* header + compressed payload, or a read file */
	size_t cap;
	size_t max_chunk;
};

static unsigned prefix_of(const struct sp_chunk_id *id)
{
	return (unsigned)id->bytes[0] << 4 | id->bytes[1] >> 4;
}

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

int sp_chunk_store_open(int vault_fd, int zstd_level,
			struct sp_chunk_store **ret, struct sp_error *err)
{
	struct sp_chunk_store *s = calloc(1, sizeof(*s));

	if (!s)
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	s->level = zstd_level;
	s->chunks_fd =
	    openat(vault_fd, "chunks", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->chunks_fd < 0) {
		int e = errno;
		free(s);
		return sp_error_set_errno(
		    err, e == ENOENT ? SP_E_NOT_A_VAULT : vault_code(e), e,
		    "cannot open the vault's 'chunks'");
	}
	*ret = s;
	return 0;
}

void sp_chunk_store_free(struct sp_chunk_store *s)
{
	if (!s)
		return;
	close(s->chunks_fd);
	free(s);
}

struct sp_chunk_codec *sp_chunk_codec_new(size_t max_chunk)
{
	struct sp_chunk_codec *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->max_chunk = max_chunk;
	c->cap = SP_CHUNK_HEADER_LEN + ZSTD_compressBound(max_chunk);
	c->buf = malloc(c->cap);
	c->cctx = ZSTD_createCCtx();
	c->dctx = ZSTD_createDCtx();
	if (!c->buf || !c->cctx || !c->dctx) {
		sp_chunk_codec_free(c);
		return NULL;
	}
	return c;
}

void sp_chunk_codec_free(struct sp_chunk_codec *c)
{
	if (!c)
		return;
	ZSTD_freeCCtx(c->cctx);
	ZSTD_freeDCtx(c->dctx);
	free(c->buf);
	free(c);
}

static void mark_touched(struct sp_chunk_store *s, unsigned prefix)
{
	atomic_fetch_or(&s->touched[prefix / 64], 1ull << (prefix % 64));
}

int sp_chunk_store_resurrect(struct sp_chunk_store *s,
			     const struct sp_chunk_id *id)
{
	char rel[69], fossil[SP_CHUNK_FOSSIL_PATH_MAX];

	sp_chunk_store_path(id, rel);
	snprintf(fossil, sizeof(fossil), "%s" SP_CHUNK_FOSSIL_SUFFIX, rel);
	if (renameat2(s->chunks_fd, fossil, s->chunks_fd, rel,
		      RENAME_NOREPLACE) == 0)
		return 0;
	if (errno == EEXIST)
		return 0; /* the chunk is there: its fossil is gc's to drop */
	if (errno != EINVAL)
		return -errno;
	/* No RENAME_NOREPLACE here: replacing is harmless, the content of
	 * a name is fixed by the name. */
	return renameat(s->chunks_fd, fossil, s->chunks_fd, rel) < 0 ? -errno
								     : 0;
}

/* What is under a chunk's name: 1 a regular file (a chunk), 0 nothing,
 * -1 something else (a link, FIFO, directory: damage, never a chunk). */
static int name_kind(int chunks_fd, const char *rel)
{
	struct stat st;

	if (fstatat(chunks_fd, rel, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -1;
	return S_ISREG(st.st_mode) ? 1 : -1;
}

bool sp_chunk_store_has(struct sp_chunk_store *s, const struct sp_chunk_id *id)
{
	char rel[69];
	int k;

	sp_chunk_store_path(id, rel);
	k = name_kind(s->chunks_fd, rel);
	if (k == 0 && sp_chunk_store_resurrect(s, id) == 0)
		k = name_kind(s->chunks_fd, rel);
	if (k != 1)
		return false; /* a writer stores it again (put repairs) */
	mark_touched(s, prefix_of(id));
	return true;
}

/* A chunk's name is taken by something that is no chunk (a link, a FIFO,
 * a device: damage that would stand for the chunk).  Remove it so that
 * the chunk just written can take its place; a directory is left for a
 * person to look at.  Returns 0 when the name is free again, or -errno
 * (-EISDIR for a directory). */
static int clear_damaged_name(int chunks_fd, const char *rel)
{
	struct stat st;

	if (fstatat(chunks_fd, rel, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (S_ISREG(st.st_mode))
		return -EEXIST; /* a chunk after all: a dedup */
	if (S_ISDIR(st.st_mode))
		return -EISDIR;
	return unlinkat(chunks_fd, rel, 0) < 0 && errno != ENOENT ? -errno : 0;
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

/* Link an anonymous file in as @rel.  Returns 0, 1 when the name already
 * holds the chunk (someone else stored it), or -errno. */
static int link_tmpfile(int chunks_fd, int fd, const char *rel)
{
	char proc[64];
	int r;

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	for (int attempt = 0; attempt < 2; attempt++) {
		if (linkat(AT_FDCWD, proc, chunks_fd, rel, AT_SYMLINK_FOLLOW) ==
		    0)
			return 0;
		if (errno != EEXIST)
			return -errno;
		r = clear_damaged_name(chunks_fd, rel);
		if (r == -EEXIST)
			return 1;
		if (r < 0)
			return r;
	}
	return 1; /* another writer put the chunk there meanwhile */
}

/* Fallback for file systems without O_TMPFILE: a named temporary file in
 * the prefix directory, renamed without replacing. */
static int write_named(int chunks_fd, const char *rel, const uint8_t *data,
		       size_t len)
{
	char tmp[96];
	static _Atomic unsigned long seq;
	sp_autoclose int fd = -1;
	int r;

	snprintf(tmp, sizeof(tmp), "%.3s/.tmp-%ld-%lu", rel, (long)getpid(),
		 atomic_fetch_add(&seq, 1));
	fd = openat(chunks_fd, tmp,
		    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		    SP_FILE_MODE);
	if (fd < 0)
		return -errno;
	r = fchmod(fd, SP_FILE_MODE) < 0 ? -errno : 0;
	if (r == 0)
		r = sp_pwrite_all(fd, data, len, 0);
	if (r == 0 && fdatasync(fd) < 0)
		r = -errno;
	for (int attempt = 0; r == 0 && attempt < 2; attempt++) {
		if (renameat2(chunks_fd, tmp, chunks_fd, rel,
			      RENAME_NOREPLACE) == 0)
			return 0;
		if (errno != EEXIST) {
			r = -errno;
			break;
		}
		r = clear_damaged_name(chunks_fd, rel);
		if (r == -EEXIST || (r == 0 && attempt == 1))
			r = 1;
	}
	unlinkat(chunks_fd, tmp, 0);
	return r;
}

int sp_chunk_store_put(struct sp_chunk_store *s, struct sp_chunk_codec *c,
		       const struct sp_chunk_id *id, const void *data,
		       size_t len, bool *added, size_t *stored,
		       struct sp_error *err)
{
	char rel[69];
	char prefix[4];
	sp_autoclose int fd = -1;
	size_t payload;
	uint8_t codec = CODEC_ZSTD;
	const uint8_t *out;
	size_t outlen;
	int r;

	*added = false;
	*stored = 0;
	if (len > c->max_chunk)
		return sp_error_set(
		    err, SP_E_INTERNAL,
		    "chunk of %zu bytes exceeds the codec's %zu", len,
		    c->max_chunk);
	if (sp_chunk_store_has(s, id))
		return 0;

	payload = ZSTD_compressCCtx(c->cctx, c->buf + SP_CHUNK_HEADER_LEN,
				    c->cap - SP_CHUNK_HEADER_LEN, data, len,
				    s->level);
	if (ZSTD_isError(payload) || payload >= len) {
		/* Incompressible: store the plaintext as is. */
		codec = CODEC_NONE;
		payload = len;
	}
	memcpy(c->buf, "SPCH", 4);
	c->buf[4] = 1;
	c->buf[5] = codec;
	c->buf[6] = c->buf[7] = 0;
	put_le32(c->buf + 8, (uint32_t)len);
	put_le32(c->buf + 12, (uint32_t)payload);
	if (codec == CODEC_NONE) {
		/* Header and data are written by two pwrites below. */
		out = data;
	} else {
		out = c->buf + SP_CHUNK_HEADER_LEN;
	}
	outlen = payload;

	sp_chunk_store_path(id, rel);
	memcpy(prefix, rel, 3);
	prefix[3] = '\0';
	fd = openat(s->chunks_fd, prefix, O_TMPFILE | O_WRONLY | O_CLOEXEC,
		    SP_FILE_MODE);
	if (fd < 0 &&
	    (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
		/* Assemble header + payload contiguously for the named path. */
		uint8_t *whole = malloc(SP_CHUNK_HEADER_LEN + outlen);
		if (!whole)
			return sp_error_set(err, SP_E_NOMEM, "out of memory");
		memcpy(whole, c->buf, SP_CHUNK_HEADER_LEN);
		memcpy(whole + SP_CHUNK_HEADER_LEN, out, outlen);
		r = write_named(s->chunks_fd, rel, whole,
				SP_CHUNK_HEADER_LEN + outlen);
		free(whole);
		goto linked;
	}
	if (fd < 0)
		return sp_error_set_errno(err, vault_code(errno), errno,
					  "cannot create chunk in 'chunks/%s'",
					  prefix);
	r = fchmod(fd, SP_FILE_MODE) < 0 ? -errno : 0;
	if (r == 0)
		r = sp_pwrite_all(fd, c->buf, SP_CHUNK_HEADER_LEN, 0);
	if (r == 0)
		r = sp_pwrite_all(fd, out, outlen, SP_CHUNK_HEADER_LEN);
	if (r == 0 && fdatasync(fd) < 0)
		r = -errno;
	if (r < 0)
		return sp_error_set_errno(err, vault_code(-r), -r,
					  "cannot write chunk 'chunks/%s'",
					  rel);
	r = link_tmpfile(s->chunks_fd, fd, rel);
linked:
	if (r == -EISDIR)
		return sp_error_set(err, SP_E_CHUNK_CORRUPT,
				    "chunk 'chunks/%s' is a directory, not a "
				    "chunk (remove it; 'stillpoint verify' "
				    "names the points that need it)",
				    rel);
	if (r < 0)
		return sp_error_set_errno(err, vault_code(-r), -r,
					  "cannot store chunk 'chunks/%s'",
					  rel);
	mark_touched(s, prefix_of(id));
	if (r == 0) {
		*added = true;
		*stored = SP_CHUNK_HEADER_LEN + outlen;
	}
	return 0;
}

int sp_chunk_store_get(struct sp_chunk_store *s, struct sp_chunk_codec *c,
		       const struct sp_chunk_id *id, void *buf, size_t cap,
		       size_t *len, struct sp_error *err)
{
	char rel[69];
	sp_autoclose int fd = -1;
	struct sp_chunk_id got;
	struct stat st;
	uint32_t plain, payload;
	int r;

	sp_chunk_store_path(id, rel);
	/* A FIFO or a directory under a chunk's name is a damaged chunk, told
	 * at once: never a read that blocks or a job that stops. */
	fd = sp_open_regular(s->chunks_fd, rel, O_RDONLY, 0);
	if (fd == -ENOENT) {
		char fossil[SP_CHUNK_FOSSIL_PATH_MAX];

		snprintf(fossil, sizeof(fossil), "%s" SP_CHUNK_FOSSIL_SUFFIX,
			 rel);
		fd = sp_open_regular(s->chunks_fd, fossil, O_RDONLY, 0);
		if (fd == -SP_ENOTREG)
			return sp_error_set(err, SP_E_CHUNK_CORRUPT,
					    "chunk 'chunks/%s' is not a "
					    "regular file",
					    fossil);
		if (fd < 0 && fd != -ENOENT)
			return sp_error_set_errno(
			    err, vault_code(-fd), -fd,
			    "cannot open chunk 'chunks/%s'", fossil);
	}
	if (fd == -ENOENT)
		return sp_error_set(err, SP_E_CHUNK_MISSING,
				    "chunk 'chunks/%s' is missing", rel);
	if (fd == -SP_ENOTREG)
		return sp_error_set(err, SP_E_CHUNK_CORRUPT,
				    "chunk 'chunks/%s' is not a regular file",
				    rel);
	if (fd < 0)
		return sp_error_set_errno(err, vault_code(-fd), -fd,
					  "cannot open chunk 'chunks/%s'", rel);
	if (fstat(fd, &st) < 0)
		return sp_error_set_errno(err, SP_E_VAULT_IO, errno,
					  "cannot stat chunk 'chunks/%s'", rel);
	if (st.st_size < SP_CHUNK_HEADER_LEN || (size_t)st.st_size > c->cap)
		return sp_error_set(err, SP_E_CHUNK_CORRUPT,
				    "chunk 'chunks/%s' has an impossible size "
				    "(%lld bytes)",
				    rel, (long long)st.st_size);
	r = sp_pread_all(fd, c->buf, (size_t)st.st_size, 0);
	if (r < 0)
		return sp_error_set_errno(err, SP_E_VAULT_IO, -r,
					  "cannot read chunk 'chunks/%s'", rel);
	plain = get_le32(c->buf + 8);
	payload = get_le32(c->buf + 12);
	if (memcmp(c->buf, "SPCH", 4) != 0 || c->buf[4] != 1 ||
	    c->buf[5] > CODEC_ZSTD ||
	    (uint64_t)payload + SP_CHUNK_HEADER_LEN != (uint64_t)st.st_size ||
	    plain > cap)
		return sp_error_set(err, SP_E_CHUNK_CORRUPT,
				    "chunk 'chunks/%s' has a damaged header",
				    rel);
	if (c->buf[5] == CODEC_NONE) {
		if (payload != plain)
			return sp_error_set(err, SP_E_CHUNK_CORRUPT,
					    "chunk 'chunks/%s' has a damaged "
					    "header",
					    rel);
		memcpy(buf, c->buf + SP_CHUNK_HEADER_LEN, plain);
	} else {
		size_t n = ZSTD_decompressDCtx(
		    c->dctx, buf, cap, c->buf + SP_CHUNK_HEADER_LEN, payload);
		if (ZSTD_isError(n) || n != plain)
			return sp_error_set(err, SP_E_CHUNK_CORRUPT,
					    "chunk 'chunks/%s' cannot be "
					    "decompressed (%s)",
					    rel,
					    ZSTD_isError(n)
						? ZSTD_getErrorName(n)
						: "wrong length");
	}
	sp_chunk_id_compute(buf, plain, &got);
	if (memcmp(got.bytes, id->bytes, SP_CHUNK_ID_LEN) != 0)
		return sp_error_set(err, SP_E_CHUNK_CORRUPT,
				    "chunk 'chunks/%s' does not match its id "
				    "(content damaged)",
				    rel);
	*len = plain;
	return 0;
}

int sp_chunk_store_sync(struct sp_chunk_store *s, struct sp_error *err)
{
	char name[4];

	for (unsigned w = 0; w < PREFIXES / 64; w++) {
		uint64_t bits = atomic_exchange(&s->touched[w], 0);
		while (bits) {
			unsigned b = (unsigned)__builtin_ctzll(bits);
			bits &= bits - 1;
			snprintf(name, sizeof(name), "%03x", w * 64 + b);
			int r = sp_fsync_path(s->chunks_fd, name);
			if (r < 0)
				return sp_error_set_errno(
				    err, vault_code(-r), -r,
				    "cannot sync 'chunks/%s'", name);
		}
	}
	return 0;
}

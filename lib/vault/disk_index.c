// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Disk chunk index; the format is in disk_index.h.  Invariant: a reader
 * hands out ids only from a file whose checksum (and, when given, whose
 * manifest-recorded hash) matched, so a damaged index is reported as such
 * instead of restoring the wrong chunks.
 */
#include "disk_index.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "util/cleanup.h"
#include "util/fileio.h"
#include "util/text.h"

struct sp_index_writer {
	int fd;
	uint64_t count;
	char name[128];
};

struct sp_disk_index {
	uint8_t *map;
	size_t map_len;
	uint64_t disk_size;
	uint32_t chunk_size;
	uint64_t count;
};

static void put_le(uint8_t *p, uint64_t v, int bytes)
{
	for (int i = 0; i < bytes; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, int bytes)
{
	uint64_t v = 0;

	for (int i = bytes - 1; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static int vault_code(int errnum)
{
	return sp_errno_to_code(errnum, SP_E_VAULT_IO, SP_E_VAULT_FULL,
				SP_E_VAULT_PERMISSION);
}

int sp_index_writer_create(int dirfd, const char *name, uint64_t disk_size,
			   uint32_t chunk_size, struct sp_index_writer **ret,
			   struct sp_error *err)
{
	uint8_t hdr[SP_INDEX_HEADER_LEN] = {0};
	struct sp_index_writer *w;
	uint64_t count = (disk_size + chunk_size - 1) / chunk_size;
	int r;

	w = calloc(1, sizeof(*w));
	if (!w)
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	snprintf(w->name, sizeof(w->name), "%s", name);
	w->count = count;
	if (dirfd == SP_INDEX_ANONYMOUS)
		w->fd = sp_tmpfile_open();
	else
		w->fd =
		    openat(dirfd, name,
			   O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
			   SP_FILE_MODE);
	if (w->fd < 0 || fchmod(w->fd, SP_FILE_MODE) < 0) {
		r = errno;
		sp_index_writer_free(w);
		return sp_error_set_errno(err, vault_code(r), r,
					  "cannot create index '%s'", name);
	}
	memcpy(hdr, "SPIX", 4);
	put_le(hdr + 4, 1, 4);
	put_le(hdr + 8, disk_size, 8);
	put_le(hdr + 16, chunk_size, 4);
	put_le(hdr + 20, SP_CHUNK_ID_LEN, 4);
	put_le(hdr + 24, count, 8);
	r = sp_pwrite_all(w->fd, hdr, sizeof(hdr), 0);
	/* Slots default to the zero id: a sparse file reads as zeroes. */
	if (r == 0 && ftruncate(w->fd, (off_t)(SP_INDEX_HEADER_LEN +
					       count * SP_CHUNK_ID_LEN)) < 0)
		r = -errno;
	if (r < 0) {
		sp_index_writer_free(w);
		return sp_error_set_errno(err, vault_code(-r), -r,
					  "cannot write index '%s'", name);
	}
	*ret = w;
	return 0;
}

int sp_index_writer_set(struct sp_index_writer *w, uint64_t slot,
			const struct sp_chunk_id *id, struct sp_error *err)
{
	int r;

	if (slot >= w->count)
		return sp_error_set(err, SP_E_INTERNAL,
				    "index slot %llu out of range",
				    (unsigned long long)slot);
	r = sp_pwrite_all(
	    w->fd, id->bytes, SP_CHUNK_ID_LEN,
	    (off_t)(SP_INDEX_HEADER_LEN + slot * SP_CHUNK_ID_LEN));
	if (r < 0)
		return sp_error_set_errno(err, vault_code(-r), -r,
					  "cannot write index '%s'", w->name);
	return 0;
}

int sp_index_writer_finish(struct sp_index_writer *w, uint8_t sha[32],
			   struct sp_error *err)
{
	uint64_t len = SP_INDEX_HEADER_LEN + w->count * SP_CHUNK_ID_LEN;
	uint8_t buf[65536];
	uint8_t sum[32];
	unsigned int n = 32;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	int r = 0;

	if (!md)
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	EVP_DigestInit_ex(md, EVP_sha256(), NULL);
	for (uint64_t off = 0; off < len && r == 0;) {
		size_t want =
		    len - off < sizeof(buf) ? (size_t)(len - off) : sizeof(buf);
		r = sp_pread_all(w->fd, buf, want, (off_t)off);
		if (r == 0)
			EVP_DigestUpdate(md, buf, want);
		off += want;
	}
	EVP_DigestFinal_ex(md, sum, &n);
	if (r == 0)
		r = sp_pwrite_all(w->fd, sum, sizeof(sum), (off_t)len);
	memcpy(sha, sum, sizeof(sum));
	EVP_MD_CTX_free(md);
	if (r == 0 && fsync(w->fd) < 0)
		r = -errno;
	if (r < 0)
		return sp_error_set_errno(err, vault_code(-r), -r,
					  "cannot finish index '%s'", w->name);
	return 0;
}

void sp_index_writer_free(struct sp_index_writer *w)
{
	if (!w)
		return;
	if (w->fd >= 0)
		close(w->fd);
	free(w);
}

/* SHA-256 of the first @len bytes of @fd, in bounded memory. */
static int file_sha256(int fd, uint64_t len, uint8_t out[32])
{
	uint8_t buf[65536];
	unsigned int n = 32;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	int r = 0;

	if (!md) {
		errno = ENOMEM;
		return -1;
	}
	EVP_DigestInit_ex(md, EVP_sha256(), NULL);
	for (uint64_t off = 0; off < len && r == 0; off += sizeof(buf)) {
		size_t want =
		    len - off < sizeof(buf) ? (size_t)(len - off) : sizeof(buf);
		r = sp_pread_all(fd, buf, want, (off_t)off);
		if (r == 0)
			EVP_DigestUpdate(md, buf, want);
	}
	EVP_DigestFinal_ex(md, out, &n);
	EVP_MD_CTX_free(md);
	if (r < 0)
		errno = -r;
	return r < 0 ? -1 : 0;
}

int sp_disk_index_open(int dirfd, const char *name, const uint8_t *expect_sha,
		       struct sp_disk_index **ret, struct sp_error *err)
{
	sp_autoclose int fd = sp_open_regular(dirfd, name, O_RDONLY, 0);

	if (fd == -SP_ENOTREG)
		return sp_error_set(err, SP_E_INDEX_CORRUPT,
				    "index '%s' is not a regular file", name);
	if (fd < 0)
		return sp_error_set_errno(
		    err, fd == -ENOENT ? SP_E_INDEX_CORRUPT : vault_code(-fd),
		    -fd, "cannot open index '%s'", name);
	return sp_disk_index_open_fd(fd, name, expect_sha, ret, err);
}

int sp_index_writer_fd(struct sp_index_writer *w)
{
	return w->fd;
}

const char *sp_index_writer_name(const struct sp_index_writer *w)
{
	return w->name;
}

int sp_disk_index_open_fd(int fd, const char *name, const uint8_t *expect_sha,
			  struct sp_disk_index **ret, struct sp_error *err)
{
	struct sp_disk_index *ix;
	struct stat st;
	uint8_t sum[32];
	const uint8_t *m;

	if (fstat(fd, &st) < 0)
		return sp_error_set_errno(err, SP_E_VAULT_IO, errno,
					  "cannot stat index '%s'", name);
	if (st.st_size < SP_INDEX_HEADER_LEN + 32)
		return sp_error_set(err, SP_E_INDEX_CORRUPT,
				    "index '%s' is truncated", name);
	ix = calloc(1, sizeof(*ix));
	if (!ix)
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	ix->map_len = (size_t)st.st_size;
	ix->map = mmap(NULL, ix->map_len, PROT_READ, MAP_PRIVATE, fd, 0);
	if (ix->map == MAP_FAILED) {
		int e = errno;
		free(ix);
		return sp_error_set_errno(err, SP_E_VAULT_IO, e,
					  "cannot map index '%s'", name);
	}
	m = ix->map;
	ix->disk_size = get_le(m + 8, 8);
	ix->chunk_size = (uint32_t)get_le(m + 16, 4);
	ix->count = get_le(m + 24, 8);
	if (memcmp(m, "SPIX", 4) != 0 || get_le(m + 4, 4) != 1 ||
	    get_le(m + 20, 4) != SP_CHUNK_ID_LEN || ix->chunk_size == 0 ||
	    ix->count !=
		(ix->disk_size + ix->chunk_size - 1) / ix->chunk_size ||
	    ix->count >
		(ix->map_len - SP_INDEX_HEADER_LEN - 32) / SP_CHUNK_ID_LEN ||
	    SP_INDEX_HEADER_LEN + ix->count * SP_CHUNK_ID_LEN + 32 !=
		ix->map_len) {
		sp_disk_index_free(ix);
		return sp_error_set(err, SP_E_INDEX_CORRUPT,
				    "index '%s' has a damaged header", name);
	}
	/* Hash through read(2), not the mapping, so that checking a large
	 * index does not pull it all into memory: readers fault in only what
	 * they use and give it back with sp_disk_index_forget(). */
	if (file_sha256(fd, ix->map_len - 32, sum) < 0) {
		sp_disk_index_free(ix);
		return sp_error_set_errno(err, SP_E_VAULT_IO, errno,
					  "cannot read index '%s'", name);
	}
	if (memcmp(sum, m + ix->map_len - 32, 32) != 0) {
		sp_disk_index_free(ix);
		return sp_error_set(err, SP_E_INDEX_CORRUPT,
				    "index '%s' fails its checksum", name);
	}
	if (expect_sha) {
		if (memcmp(m + ix->map_len - 32, expect_sha, 32) != 0) {
			sp_disk_index_free(ix);
			return sp_error_set(err, SP_E_INDEX_CORRUPT,
					    "index '%s' does not match its "
					    "manifest",
					    name);
		}
	}
	*ret = ix;
	return 0;
}

void sp_disk_index_free(struct sp_disk_index *ix)
{
	if (!ix)
		return;
	if (ix->map && ix->map != MAP_FAILED)
		munmap(ix->map, ix->map_len);
	free(ix);
}

uint64_t sp_disk_index_disk_size(const struct sp_disk_index *ix)
{
	return ix->disk_size;
}

uint32_t sp_disk_index_chunk_size(const struct sp_disk_index *ix)
{
	return ix->chunk_size;
}

uint64_t sp_disk_index_count(const struct sp_disk_index *ix)
{
	return ix->count;
}

void sp_disk_index_forget(struct sp_disk_index *ix, uint64_t slot)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t upto =
	    (SP_INDEX_HEADER_LEN + slot * SP_CHUNK_ID_LEN) / page * page;

	if (upto > 0)
		madvise(ix->map, upto, MADV_DONTNEED);
}

const struct sp_chunk_id *sp_disk_index_get(const struct sp_disk_index *ix,
					    uint64_t slot)
{
	return (const struct sp_chunk_id *)(ix->map + SP_INDEX_HEADER_LEN +
					    slot * SP_CHUNK_ID_LEN);
}

#define DIGEST_TAG "stillpoint-disk-digest-1"

/* SHA-256 of @len zero bytes, without a buffer of that size. */
static int zero_hash(uint64_t len, uint8_t out[32])
{
	static const uint8_t zeroes[65536];
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned int n = 32;

	if (!md)
		return -ENOMEM;
	EVP_DigestInit_ex(md, EVP_sha256(), NULL);
	for (; len > 0; len -= len < sizeof(zeroes) ? len : sizeof(zeroes))
		EVP_DigestUpdate(md, zeroes,
				 len < sizeof(zeroes) ? (size_t)len
						      : sizeof(zeroes));
	EVP_DigestFinal_ex(md, out, &n);
	EVP_MD_CTX_free(md);
	return 0;
}

int sp_disk_index_digest(struct sp_disk_index *ix, uint8_t out[32],
			 struct sp_error *err)
{
	const uint64_t last_len =
	    ix->disk_size - (ix->count ? (ix->count - 1) : 0) * ix->chunk_size;
	uint8_t zfull[32], zlast[32], head[12];
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned int n = 32;

	if (!md || zero_hash(ix->chunk_size, zfull) < 0 ||
	    zero_hash(last_len, zlast) < 0) {
		EVP_MD_CTX_free(md);
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	}
	put_le(head, ix->disk_size, 8);
	put_le(head + 8, ix->chunk_size, 4);
	EVP_DigestInit_ex(md, EVP_sha256(), NULL);
	EVP_DigestUpdate(md, DIGEST_TAG, sizeof(DIGEST_TAG)); /* with NUL */
	EVP_DigestUpdate(md, head, sizeof(head));
	for (uint64_t slot = 0; slot < ix->count; slot++) {
		const struct sp_chunk_id *id = sp_disk_index_get(ix, slot);

		if (sp_chunk_id_is_zero(id))
			EVP_DigestUpdate(
			    md, slot + 1 == ix->count ? zlast : zfull, 32);
		else
			EVP_DigestUpdate(md, id->bytes, SP_CHUNK_ID_LEN);
		if (slot % 65536 == 65535)
			sp_disk_index_forget(ix, slot + 1);
	}
	EVP_DigestFinal_ex(md, out, &n);
	EVP_MD_CTX_free(md);
	sp_disk_index_forget(ix, ix->count);
	return 0;
}

int sp_disk_index_check_digest(struct sp_disk_index *ix, const char *hex,
			       const char *what, struct sp_error *err)
{
	uint8_t want[32], got[32];
	int r;

	if (!hex)
		return 0;
	if (strlen(hex) != 64 || !sp_hex_decode(hex, want, 32))
		return sp_error_set(err, SP_E_MANIFEST_CORRUPT,
				    "the manifest's digest of %s is invalid",
				    what);
	r = sp_disk_index_digest(ix, got, err);
	if (r < 0)
		return r;
	if (memcmp(want, got, 32) != 0)
		return sp_error_set(err, SP_E_INDEX_CORRUPT,
				    "%s does not match its digest: slots were "
				    "swapped or substituted in its index",
				    what);
	return 0;
}

// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The local store: a vault in a directory of this host (store.h).  A key
 * is a path under the vault directory.  How each invariant of store.h is
 * kept here:
 *
 *  1. Whole or absent: a chunk is written into an unnamed O_TMPFILE,
 *     fdatasync'ed and linked in; any other object is written to a temp
 *     sibling, fsynced and renamed (sp_file_publish).
 *  2. Create-only: linkat(2) and renameat2(RENAME_NOREPLACE) never replace
 *     a name.
 *  3. sync() fsyncs every chunk prefix directory written to or relied on
 *     since the last call.
 *  4. A draft is a directory tmp/d-<random>/ beside a flock'd
 *     tmp/d-<random>.lock; publication renames the directory to
 *     points/<name>/<id> (one rename).  A draft whose lock nobody holds
 *     belongs to a dead process: drafts_clean() removes it.
 *
 * Chunks under gc: gc renames an unreferenced chunk to "<id>.fossil"
 * (gc.h).  stat() of a chunk whose fossil exists renames it back (a
 * writer that relies on a chunk holds it under its own name), and read()
 * of a chunk falls back to its fossil (readers never change the vault).
 *
 * Every name is opened without following a link and without waiting on a
 * FIFO; a chunk's name taken by something that is no regular file is
 * cleared by the next put of that chunk (a directory is left for a
 * person).
 */
#include "vault/store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/fileio.h"
#include "util/log.h"
#include "util/text.h"
#include "vault/chunk_store.h"

#define PREFIXES 4096

struct store_local {
	struct sp_store base;
	int fd;
	int chunks_fd; /* -1 until chunks/ exists */
	_Atomic uint64_t touched[PREFIXES / 64];
};

struct sp_store_draft {
	struct store_local *st;
	char name[65];
	char id[64];
	char tmp[64]; /* directory name under tmp/ */
	int dirfd;
	int lock_fd;
};

static const struct sp_store_ops sp_store_local_ops;

static struct store_local *local_of(struct sp_store *st)
{
	return (struct store_local *)st;
}

/* "chunks/XYZ/<hex>[.fossil]" -> the path under chunks/ and its prefix
 * number; NULL for any other key. */
static const char *chunk_rel(const char *key, unsigned *prefix)
{
	if (strncmp(key, "chunks/", 7) != 0 || strlen(key) < 7 + 4 ||
	    key[10] != '/')
		return NULL;
	char *end;
	char p[4] = {key[7], key[8], key[9], 0};
	unsigned long n = strtoul(p, &end, 16);
	if (*end || n >= PREFIXES)
		return NULL;
	*prefix = (unsigned)n;
	return key + 7;
}

static void mark_touched(struct store_local *s, unsigned prefix)
{
	atomic_fetch_or(&s->touched[prefix / 64], 1ull << (prefix % 64));
}

static int ensure_chunks_fd(struct store_local *s)
{
	if (s->chunks_fd >= 0)
		return 0;
	int fd = openat(s->fd, "chunks", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int expected = -1;
	/* Two threads may race here: the first wins, the other closes. */
	if (!__atomic_compare_exchange_n(&s->chunks_fd, &expected, fd, false,
					 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		close(fd);
	return 0;
}

/* Make the parent directories of @key (each SP_DIR_MODE). */
static int make_parents(int fd, const char *key)
{
	char buf[512];
	size_t n = strlen(key);
	int r;

	if (n >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, key, n + 1);
	for (char *p = buf; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		r = sp_mkdir_at(fd, buf, SP_DIR_MODE);
		*p = '/';
		if (r < 0)
			return r;
	}
	return 0;
}

/* ---- chunks ------------------------------------------------------------ */

/* What is under a chunk's name: 1 a regular file, 0 nothing, -1 something
 * else (a link, FIFO, directory: damage, never a chunk). */
static int name_kind(int dirfd, const char *rel, uint64_t *size)
{
	struct stat st;

	if (fstatat(dirfd, rel, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -1;
	if (size)
		*size = (uint64_t)st.st_size;
	return S_ISREG(st.st_mode) ? 1 : -1;
}

/* Rename "<rel>.fossil" back to <rel> without replacing a chunk that
 * exists under its name.  0, -ENOENT (no fossil), or -errno. */
static int resurrect(int chunks_fd, const char *rel)
{
	char fossil[SP_CHUNK_FOSSIL_PATH_MAX];

	snprintf(fossil, sizeof(fossil), "%s" SP_CHUNK_FOSSIL_SUFFIX, rel);
	if (renameat2(chunks_fd, fossil, chunks_fd, rel, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno == EEXIST)
		return 0; /* the chunk is there: its fossil is gc's to drop */
	if (errno != EINVAL)
		return -errno;
	/* No RENAME_NOREPLACE here: replacing is harmless, the content of a
	 * name is fixed by the name. */
	return renameat(chunks_fd, fossil, chunks_fd, rel) < 0 ? -errno : 0;
}

int sp_store_local_resurrect(struct sp_store *st, const char *key)
{
	struct store_local *s;
	unsigned prefix;
	const char *rel;
	int r;

	st = sp_store_inner(st);
	s = local_of(st);
	if (!st || st->ops != &sp_store_local_ops ||
	    !(rel = chunk_rel(key, &prefix)))
		return -EINVAL;
	r = ensure_chunks_fd(s);
	return r < 0 ? r : resurrect(s->chunks_fd, rel);
}

/* A chunk's name is taken by something that is no chunk: remove it so
 * that the chunk just written can take its place; a directory is left for
 * a person.  0 when the name is free again, -EEXIST when a chunk is there
 * after all, or -errno (-EISDIR for a directory). */
static int clear_damaged_name(int chunks_fd, const char *rel)
{
	struct stat st;

	if (fstatat(chunks_fd, rel, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (S_ISREG(st.st_mode))
		return -EEXIST;
	if (S_ISDIR(st.st_mode))
		return -EISDIR;
	return unlinkat(chunks_fd, rel, 0) < 0 && errno != ENOENT ? -errno : 0;
}

/* Link an anonymous file in as @rel: 0, -EEXIST, or -errno. */
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
		if (r < 0)
			return r;
	}
	return -EEXIST; /* another writer put the chunk there meanwhile */
}

/* Fill a new file @fd with @data: private mode, the bytes, durable
 * (fdatasync is enough for a file that gets its name after).  0 or
 * -errno. */
static int fill_new_file(int fd, const void *data, size_t len)
{
	int r = fchmod(fd, SP_FILE_MODE) < 0 ? -errno : 0;

	if (r == 0)
		r = sp_pwrite_all(fd, data, len, 0);
	if (r == 0 && fdatasync(fd) < 0)
		r = -errno;
	return r;
}

/* Fallback for file systems without O_TMPFILE: a named temporary file in
 * the prefix directory, renamed without replacing. */
static int write_named(int chunks_fd, const char *rel, const void *data,
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
	r = fill_new_file(fd, data, len);
	for (int attempt = 0; r == 0 && attempt < 2; attempt++) {
		if (renameat2(chunks_fd, tmp, chunks_fd, rel,
			      RENAME_NOREPLACE) == 0)
			return 0;
		if (errno != EEXIST) {
			r = -errno;
			break;
		}
		r = clear_damaged_name(chunks_fd, rel);
		if (r == 0 && attempt == 1)
			r = -EEXIST;
	}
	unlinkat(chunks_fd, tmp, 0);
	return r;
}

static int chunk_put(struct store_local *s, const char *rel, unsigned prefix,
		     const void *data, size_t len)
{
	char dir[4];
	sp_autoclose int fd = -1;
	int r;

	memcpy(dir, rel, 3);
	dir[3] = '\0';
	fd = openat(s->chunks_fd, dir, O_TMPFILE | O_WRONLY | O_CLOEXEC,
		    SP_FILE_MODE);
	if (fd < 0 &&
	    (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
		r = write_named(s->chunks_fd, rel, data, len);
		goto linked;
	}
	if (fd < 0)
		return -errno;
	r = fill_new_file(fd, data, len);
	if (r < 0)
		return r;
	r = link_tmpfile(s->chunks_fd, fd, rel);
linked:
	if (r == 0 || r == -EEXIST)
		mark_touched(s, prefix);
	return r;
}

/* ---- the store operations ------------------------------------------- */

/* Invariant 2 for any object: written whole into an unnamed file, then
 * linked in, which never replaces a name (-EEXIST), then the directory
 * synced. */
static int create_only(int dirfd, const char *name, const void *data,
		       size_t len)
{
	sp_autoclose int fd = -1;
	char proc[64];
	int r;

	fd = openat(dirfd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, SP_FILE_MODE);
	if (fd < 0)
		return -errno;
	r = fill_new_file(fd, data, len);
	if (r < 0)
		return r;
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	if (linkat(AT_FDCWD, proc, dirfd, name, AT_SYMLINK_FOLLOW) < 0)
		return -errno;
	return sp_fsync_dirfd(dirfd);
}

static int local_put(struct sp_store *st, const char *key, const void *data,
		     size_t len, unsigned flags, struct sp_error *err)
{
	struct store_local *s = local_of(st);
	unsigned prefix;
	const char *rel = chunk_rel(key, &prefix);
	const char *slash = strrchr(key, '/');
	sp_autoclose int dfd = -1;
	char dir[512];
	int r;

	if (rel) {
		/* Chunks are named by their content: always create-only. */
		r = ensure_chunks_fd(s);
		return r < 0 ? r : chunk_put(s, rel, prefix, data, len);
	}
	r = make_parents(s->fd, key);
	if (r < 0)
		return r;
	if (slash) {
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - key), key);
		dfd = openat(s->fd, dir,
			     O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (dfd < 0)
			return -errno;
	}
	int at = slash ? dfd : s->fd;
	const char *base = slash ? slash + 1 : key;
	if (flags & SP_STORE_CREATE) {
		r = create_only(at, base, data, len);
		if (r != -EOPNOTSUPP && r != -EISDIR && r != -EINVAL)
			return r;
		/* No O_TMPFILE here: as close as a rename gets. */
		struct stat sb;
		if (fstatat(at, base, &sb, AT_SYMLINK_NOFOLLOW) == 0)
			return -EEXIST;
	}
	return sp_file_publish(at, base, data, len, err);
}

static int local_get(struct sp_store *st, const char *key, size_t max,
		     void **data, size_t *len, struct sp_error *err)
{
	char *text = NULL;
	int r;

	(void)err;
	r = sp_file_read(local_of(st)->fd, key, max, &text, len);
	if (r == 0)
		*data = text;
	return r;
}

static int open_chunk_or_fossil(struct store_local *s, const char *rel)
{
	char fossil[SP_CHUNK_FOSSIL_PATH_MAX];
	int fd, r = ensure_chunks_fd(s);

	if (r < 0)
		return r;
	fd = sp_open_regular(s->chunks_fd, rel, O_RDONLY, 0);
	if (fd != -ENOENT)
		return fd;
	snprintf(fossil, sizeof(fossil), "%s" SP_CHUNK_FOSSIL_SUFFIX, rel);
	return sp_open_regular(s->chunks_fd, fossil, O_RDONLY, 0);
}

static int local_read(struct sp_store *st, const char *key, uint64_t off,
		      void *buf, size_t cap, size_t *got, uint64_t *size,
		      struct sp_error *err)
{
	struct store_local *s = local_of(st);
	unsigned prefix;
	const char *rel = chunk_rel(key, &prefix);
	sp_autoclose int fd = -1;
	struct stat sb;

	(void)err;
	fd = rel ? open_chunk_or_fossil(s, rel)
		 : sp_open_regular(s->fd, key, O_RDONLY, 0);
	if (fd < 0)
		return fd;
	if (fstat(fd, &sb) < 0)
		return -errno;
	if (size)
		*size = (uint64_t)sb.st_size;
	uint64_t left =
	    off < (uint64_t)sb.st_size ? (uint64_t)sb.st_size - off : 0;
	size_t want = left < cap ? (size_t)left : cap;
	int r = sp_pread_all(fd, buf, want, (off_t)off);
	if (r < 0)
		return r;
	*got = want;
	return 0;
}

/* A chunk read past the page cache (O_DIRECT): a restore from a cold
 * cache spent 12 % of its CPU time putting chunk files in the page cache
 * and copying them out of it, for bytes it never reads again.  Where the
 * file system has no direct I/O (tmpfs), or for any other object, it is
 * an ordinary read.  A chunk file is complete before its name exists
 * (O_TMPFILE, fdatasync, linkat), and direct reads see what the page cache
 * holds: the bytes are the same either way. */
static int local_read_once(struct sp_store *st, const char *key, void *buf,
			   size_t cap, size_t *got, uint64_t *size,
			   struct sp_error *err)
{
	struct store_local *s = local_of(st);
	unsigned prefix;
	const char *rel = chunk_rel(key, &prefix);
	sp_autoclose int fd = -1;
	struct stat sb;
	size_t want, whole;
	ssize_t n;

	if (!rel)
		return local_read(st, key, 0, buf, cap, got, size, err);
	fd = open_chunk_or_fossil(s, rel);
	if (fd < 0)
		return fd;
	if (fstat(fd, &sb) < 0)
		return -errno;
	if (size)
		*size = (uint64_t)sb.st_size;
	want = (uint64_t)sb.st_size < cap ? (size_t)sb.st_size : cap;
	whole = (want + SP_STORE_ONCE_ALIGN - 1) / SP_STORE_ONCE_ALIGN *
		SP_STORE_ONCE_ALIGN;
	/* One read of whole blocks: the file ends inside the last. */
	if (whole <= cap && fcntl(fd, F_SETFL, O_DIRECT | O_NONBLOCK) == 0) {
		n = pread(fd, buf, whole, 0);
		if (n == (ssize_t)want) {
			*got = want;
			return 0;
		}
		if (n < 0 && errno != EINVAL)
			return -errno;
		/* No direct I/O here after all (EINVAL), or a short read:
		 * read it as ever, below. */
		if (fcntl(fd, F_SETFL, O_NONBLOCK) < 0)
			return -errno;
	}
	int r = sp_pread_all(fd, buf, want, 0);
	if (r < 0)
		return r;
	*got = want;
	return 0;
}

static int local_stat(struct sp_store *st, const char *key, uint64_t *size,
		      struct sp_error *err)
{
	struct store_local *s = local_of(st);
	unsigned prefix;
	const char *rel = chunk_rel(key, &prefix);
	int k;

	(void)err;
	if (!rel) {
		k = name_kind(s->fd, key, size);
		return k == 1 ? 0 : k == 0 ? -ENOENT : -SP_ENOTREG;
	}
	if (ensure_chunks_fd(s) < 0)
		return -errno;
	k = name_kind(s->chunks_fd, rel, size);
	if (k == 0 && resurrect(s->chunks_fd, rel) == 0)
		k = name_kind(s->chunks_fd, rel, size);
	if (k != 1)
		return k == 0 ? -ENOENT : -SP_ENOTREG;
	/* A backup that relies on a chunk needs its name durable too. */
	mark_touched(s, prefix);
	return 0;
}

static int local_list(struct sp_store *st, const char *prefix,
		      sp_store_list_cb cb, void *ctx, struct sp_error *err)
{
	struct store_local *s = local_of(st);
	char dir[512];
	struct dirent *de;
	DIR *d;
	int fd, r = 0;

	(void)err;
	snprintf(dir, sizeof(dir), "%s", prefix[0] ? prefix : ".");
	size_t n = strlen(dir);
	if (n > 1 && dir[n - 1] == '/')
		dir[n - 1] = '\0';
	fd =
	    openat(s->fd, dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	while (r == 0) {
		struct stat sb;
		errno = 0;
		if (!(de = readdir(d))) {
			r = errno ? -errno : 0;
			break;
		}
		if (de->d_name[0] == '.')
			continue;
		if (fstatat(dirfd(d), de->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (!S_ISDIR(sb.st_mode) && !S_ISREG(sb.st_mode))
			continue;
		r = cb(ctx, de->d_name, S_ISDIR(sb.st_mode),
		       (uint64_t)sb.st_size);
	}
	closedir(d);
	return r;
}

static int local_remove(struct sp_store *st, const char *key,
			struct sp_error *err)
{
	(void)err;
	if (unlinkat(local_of(st)->fd, key, 0) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

static int local_sync(struct sp_store *st, struct sp_error *err)
{
	struct store_local *s = local_of(st);
	char name[4];

	(void)err;
	if (s->chunks_fd < 0)
		return 0;
	for (unsigned w = 0; w < PREFIXES / 64; w++) {
		uint64_t bits = atomic_exchange(&s->touched[w], 0);
		while (bits) {
			unsigned b = (unsigned)__builtin_ctzll(bits);
			bits &= bits - 1;
			snprintf(name, sizeof(name), "%03x", w * 64 + b);
			int r = sp_fsync_path(s->chunks_fd, name);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

/* ---- drafts ------------------------------------------------------------ */

static void local_draft_discard(struct sp_store_draft *d)
{
	char rel[80];

	if (!d)
		return;
	if (d->dirfd >= 0)
		close(d->dirfd);
	snprintf(rel, sizeof(rel), "tmp/%s", d->tmp);
	int removed = sp_remove_tree_at(d->st->fd, rel);
	if (d->lock_fd >= 0) {
		/* A draft that could not be removed keeps its lock, released
		 * by close(): the next drafts_clean() takes it and removes
		 * both (a lockless draft would stay for ever). */
		snprintf(rel, sizeof(rel), "tmp/%s.lock", d->tmp);
		if (removed == 0)
			unlinkat(d->st->fd, rel, 0);
		close(d->lock_fd);
	}
	free(d);
}

static int local_draft_begin(struct sp_store *st, const char *name,
			     const char *id, struct sp_store_draft **ret,
			     struct sp_error *err)
{
	struct store_local *s = local_of(st);
	struct sp_store_draft *d;
	char lockname[80], rel[80];
	struct stat a, b;
	int e;

	(void)err;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->st = s;
	d->dirfd = d->lock_fd = -1;
	snprintf(d->name, sizeof(d->name), "%s", name);
	snprintf(d->id, sizeof(d->id), "%s", id);
	for (int attempt = 0; attempt < 8; attempt++) {
		char r8[17];
		sp_random_hex(r8, 8);
		snprintf(d->tmp, sizeof(d->tmp), "d-%s", r8);
		snprintf(lockname, sizeof(lockname), "tmp/%s.lock", d->tmp);
		d->lock_fd = sp_open_regular(
		    s->fd, lockname, O_RDWR | O_CREAT | O_EXCL, SP_FILE_MODE);
		if (d->lock_fd < 0) {
			e = -d->lock_fd;
			goto fail;
		}
		if (flock(d->lock_fd, LOCK_EX) < 0) {
			e = errno;
			goto fail;
		}
		/* A cleaner may have taken the lock between our create and
		 * our flock and unlinked it: make sure we lock the live
		 * file. */
		if (fstat(d->lock_fd, &a) == 0 &&
		    fstatat(s->fd, lockname, &b, 0) == 0 &&
		    a.st_ino == b.st_ino && a.st_dev == b.st_dev)
			break;
		close(d->lock_fd);
		d->lock_fd = -1;
	}
	if (d->lock_fd < 0) {
		free(d);
		return -EIO;
	}
	snprintf(rel, sizeof(rel), "tmp/%s", d->tmp);
	if (mkdirat(s->fd, rel, SP_DIR_MODE) < 0) {
		e = errno;
		goto fail;
	}
	d->dirfd =
	    openat(s->fd, rel, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (d->dirfd < 0 || fchmod(d->dirfd, SP_DIR_MODE) < 0) {
		e = errno;
		goto fail;
	}
	*ret = d;
	return 0;
fail:
	local_draft_discard(d);
	return -e;
}

static int local_draft_put(struct sp_store_draft *d, const char *file,
			   const void *data, size_t len, struct sp_error *err)
{
	return sp_file_publish(d->dirfd, file, data, len, err);
}

static int local_draft_publish(struct sp_store_draft *d, const void *manifest,
			       size_t len, struct sp_error *err)
{
	struct store_local *s = d->st;
	char from[80], to[200], namedir[100];
	int r;

	r = sp_file_publish(d->dirfd, "manifest.json", manifest, len, err);
	if (r < 0)
		return r;
	snprintf(namedir, sizeof(namedir), "points/%s", d->name);
	r = sp_mkdir_at(s->fd, "points", SP_DIR_MODE);
	if (r == 0)
		r = sp_mkdir_at(s->fd, namedir, SP_DIR_MODE);
	if (r == 0)
		r = sp_fsync_path(s->fd, "points");
	if (r < 0)
		return sp_error_set_errno(
		    err,
		    sp_errno_to_code(-r, SP_E_VAULT_IO, SP_E_VAULT_FULL,
				     SP_E_VAULT_PERMISSION),
		    -r, "cannot create '%s'", namedir);
	snprintf(from, sizeof(from), "tmp/%s", d->tmp);
	snprintf(to, sizeof(to), "%s/%s", namedir, d->id);
	if (renameat(s->fd, from, s->fd, to) < 0)
		return sp_error_set_errno(
		    err,
		    sp_errno_to_code(errno, SP_E_VAULT_IO, SP_E_VAULT_FULL,
				     SP_E_VAULT_PERMISSION),
		    errno, "cannot publish point '%s'", to);
	r = sp_fsync_path(s->fd, namedir);
	if (r < 0)
		/* Renamed but not known durable: report it, and let the
		 * operator decide; the point itself is complete. */
		r = sp_error_set_errno(err,
				       sp_errno_to_code(-r, SP_E_VAULT_IO,
							SP_E_VAULT_FULL,
							SP_E_VAULT_PERMISSION),
				       -r, "cannot sync '%s'", namedir);
	/* The draft directory has moved: only its lock remains. */
	close(d->dirfd);
	snprintf(from, sizeof(from), "tmp/%s.lock", d->tmp);
	unlinkat(s->fd, from, 0);
	close(d->lock_fd);
	free(d);
	return r < 0 ? r : 0;
}

static void local_drafts_clean(struct sp_store *st)
{
	struct store_local *s = local_of(st);
	int tfd = openat(s->fd, "tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d;
	struct dirent *de;

	if (tfd < 0)
		return;
	d = fdopendir(tfd);
	if (!d) {
		close(tfd);
		return;
	}
	while ((de = readdir(d))) {
		size_t n = strlen(de->d_name);
		char dir[256];

		if (n >= 3 && n < sizeof(dir) - 5 &&
		    strncmp(de->d_name, "d-", 2) == 0 &&
		    strchr(de->d_name, '.') == NULL) {
			/* A draft directory without its lock: its owner is
			 * gone, since a lock is made before its draft and
			 * removed after it. */
			snprintf(dir, sizeof(dir), "%s.lock", de->d_name);
			struct stat lst;
			if (fstatat(tfd, dir, &lst, AT_SYMLINK_NOFOLLOW) < 0 &&
			    errno == ENOENT) {
				sp_log(SP_LOG_INFO,
				       "removing abandoned draft %s",
				       de->d_name);
				sp_remove_tree_at(tfd, de->d_name);
			}
			continue;
		}
		if (n < 6 || strcmp(de->d_name + n - 5, ".lock") != 0)
			continue;
		int lfd = sp_open_regular(tfd, de->d_name, O_RDONLY, 0);
		if (lfd < 0)
			continue; /* not a draft's lock: left alone */
		if (flock(lfd, LOCK_EX | LOCK_NB) == 0) {
			/* Its owner is gone.  The lock goes only with its
			 * draft. */
			snprintf(dir, sizeof(dir), "%.*s", (int)(n - 5),
				 de->d_name);
			sp_log(SP_LOG_INFO, "removing abandoned draft %s", dir);
			if (sp_remove_tree_at(tfd, dir) == 0)
				unlinkat(tfd, de->d_name, 0);
		}
		close(lfd);
	}
	closedir(d);
}

static void local_close(struct sp_store *st)
{
	struct store_local *s = local_of(st);

	if (s->chunks_fd >= 0)
		close(s->chunks_fd);
	free(s->base.location);
	free(s);
}

static const struct sp_store_ops sp_store_local_ops = {
    .kind = "local",
    .close = local_close,
    .put = local_put,
    .get = local_get,
    .read = local_read,
    .read_once = local_read_once,
    .stat = local_stat,
    .list = local_list,
    .remove = local_remove,
    .sync = local_sync,
    .draft_begin = local_draft_begin,
    .draft_put = local_draft_put,
    .draft_publish = local_draft_publish,
    .draft_discard = local_draft_discard,
    .drafts_clean = local_drafts_clean,
    .counters = NULL,
};

int sp_store_local_open(int vault_fd, const char *path, struct sp_store **ret,
			struct sp_error *err)
{
	struct store_local *s = calloc(1, sizeof(*s));

	if (!s || !(s->base.location = strdup(path))) {
		free(s);
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	}
	s->base.ops = &sp_store_local_ops;
	s->fd = vault_fd;
	s->chunks_fd = -1;
	*ret = &s->base;
	return 0;
}

int sp_store_local_fd(struct sp_store *st)
{
	st = sp_store_inner(st);
	return st && st->ops == &sp_store_local_ops ? local_of(st)->fd : -1;
}

int sp_store_local_chunks_fd(struct sp_store *st)
{
	st = sp_store_inner(st);
	if (!st || st->ops != &sp_store_local_ops)
		return -1;
	return ensure_chunks_fd(local_of(st)) < 0 ? -1
						  : local_of(st)->chunks_fd;
}

int sp_store_local_draft_dirfd(struct sp_store *st, struct sp_store_draft *d)
{
	d = sp_store_inner_draft(st, d);
	st = sp_store_inner(st);
	return st && st->ops == &sp_store_local_ops ? d->dirfd : -1;
}

int sp_store_local_draft_lockfd(struct sp_store *st, struct sp_store_draft *d)
{
	d = sp_store_inner_draft(st, d);
	st = sp_store_inner(st);
	return st && st->ops == &sp_store_local_ops ? d->lock_fd : -1;
}

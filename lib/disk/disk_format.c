// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The disk layer's front door: format names, probing, and dispatch of
 * sources and targets to their implementations (files and block devices
 * directly, everything else through qemu-nbd).  Targets are written under a
 * temporary sibling name and renamed into place at commit (disk.h).
 */
#include "disk/disk_impl.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libnbd.h>

#include "util/cleanup.h"
#include "util/fileio.h"
#include "util/log.h"
#include "util/spawn.h"
#include "util/text.h"

static const char *const format_names[] = {
    [SP_DISK_FORMAT_UNDECLARED] = "undeclared",
    [SP_DISK_FORMAT_RAW] = "raw",
    [SP_DISK_FORMAT_QCOW2] = "qcow2",
};

const char *sp_disk_format_name(enum sp_disk_format fmt)
{
	if ((unsigned)fmt >= SP_ARRAY_SIZE(format_names))
		return NULL;
	return format_names[fmt];
}

int sp_disk_format_parse(const char *name)
{
	for (size_t i = 0; name && i < SP_ARRAY_SIZE(format_names); i++)
		if (!strcmp(name, format_names[i]))
			return (int)i;
	return -1;
}

int sp_disk_spec_split(const char *spec, char **path, enum sp_disk_format *fmt)
{
	const char *colon = strrchr(spec, ':');
	int f = colon && colon != spec ? sp_disk_format_parse(colon + 1) : -1;

	if (f == SP_DISK_FORMAT_RAW || f == SP_DISK_FORMAT_QCOW2) {
		*fmt = (enum sp_disk_format)f;
		*path = strndup(spec, (size_t)(colon - spec));
	} else {
		*fmt = SP_DISK_FORMAT_UNDECLARED;
		*path = strdup(spec);
	}
	return *path ? 0 : -ENOMEM;
}

static int open_errno_code(int e)
{
	switch (e) {
	case ENOENT:
	case ENOTDIR:
		return SP_E_DISK_NOT_FOUND;
	case EACCES:
	case EPERM:
		return SP_E_DISK_PERMISSION;
	case EISDIR:
		return SP_E_DISK_IS_DIRECTORY;
	default:
		return SP_E_DISK_READ;
	}
}

int sp_disk_source_open(const char *path, enum sp_disk_format fmt,
			struct sp_disk_source **ret, struct sp_error *err)
{
	struct sp_disk_source *src;
	struct stat st;
	unsigned char magic[4] = {0};
	int fd, r;

	if (stat(path, &st) < 0)
		return sp_error_set_errno(err, open_errno_code(errno), errno,
					  "cannot open disk '%s'", path);
	if (S_ISDIR(st.st_mode))
		return sp_error_set(err, SP_E_DISK_IS_DIRECTORY,
				    "disk '%s' is a directory (give the image "
				    "file or block device)",
				    path);
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
		return sp_error_set(err, SP_E_DISK_NOT_SUPPORTED,
				    "disk '%s' is neither a regular file nor a "
				    "block device",
				    path);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOATIME);
	if (fd < 0 && errno == EPERM)
		fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return sp_error_set_errno(err, open_errno_code(errno), errno,
					  "cannot open disk '%s'", path);
	if (fmt == SP_DISK_FORMAT_UNDECLARED) {
		/* Looked at only to refuse a guess, never to choose. */
		ssize_t n = pread(fd, magic, sizeof(magic), 0);
		if (n < 0) {
			r = sp_error_set_errno(err, SP_E_DISK_READ, errno,
					       "cannot read disk '%s'", path);
			close(fd);
			return r;
		}
		if (n == 4 && !memcmp(magic, "QFI\xfb", 4)) {
			close(fd);
			return sp_error_set(
			    err, SP_E_DISK_FORMAT_UNDECLARED,
			    "disk '%s' starts with a qcow2 header but its "
			    "format was not declared (give '%s:qcow2' if it "
			    "is a qcow2 image, '%s:raw' if it is a raw disk "
			    "whose guest wrote that header)",
			    path, path, path);
		}
		fmt = SP_DISK_FORMAT_RAW;
	}
	src = calloc(1, sizeof(*src));
	if (!src || !(src->path = strdup(path))) {
		free(src);
		close(fd);
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	}
	src->fd = src->direct_fd = -1;
	src->format = fmt;
	src->kind =
	    S_ISBLK(st.st_mode) ? SP_DISK_KIND_BLOCK : SP_DISK_KIND_FILE;
	if (fmt == SP_DISK_FORMAT_RAW) {
		r = sp_disk_source_file_open(src, fd, err);
	} else {
		close(fd);
		r = sp_disk_source_nbd_open(src, err);
	}
	if (r < 0) {
		sp_disk_source_free(src);
		return r;
	}
	*ret = src;
	return 0;
}

void sp_disk_source_free(struct sp_disk_source *src)
{
	if (!src)
		return;
	if (src->ops)
		src->ops->free(src);
	if (src->fd >= 0)
		close(src->fd);
	if (src->direct_fd >= 0)
		close(src->direct_fd);
	free(src->path);
	free(src);
}

uint64_t sp_disk_source_size(const struct sp_disk_source *src)
{
	return src->size;
}

enum sp_disk_format sp_disk_source_format(const struct sp_disk_source *src)
{
	return src->format;
}

enum sp_disk_kind sp_disk_source_kind(const struct sp_disk_source *src)
{
	return src->kind;
}

int sp_disk_source_extents(struct sp_disk_source *src, uint64_t offset,
			   uint64_t length, struct sp_disk_extent *out,
			   size_t max, size_t *n, struct sp_error *err)
{
	int r;

	*n = 0;
	if (offset >= src->size || max == 0)
		return 0;
	if (length > src->size - offset)
		length = src->size - offset;
	r = src->ops->extents(src, offset, length, out, max, n, err);
	if (r == 0 && !src->bitmap)
		for (size_t i = 0; i < *n; i++)
			out[i].dirty = true;
	return r;
}

int sp_disk_source_pread(struct sp_disk_source *src, void *buf, size_t len,
			 uint64_t offset, struct sp_error *err)
{
	if (offset > src->size || len > src->size - offset)
		return sp_error_set(err, SP_E_DISK_READ,
				    "read past the end of disk '%s'",
				    src->path);
	return src->ops->pread(src, buf, len, offset, err);
}

int sp_disk_source_pread_uncached(struct sp_disk_source *src, void *buf,
				  size_t len, uint64_t offset,
				  struct sp_error *err)
{
	if (offset > src->size || len > src->size - offset)
		return sp_error_set(err, SP_E_DISK_READ,
				    "read past the end of disk '%s'",
				    src->path);
	if (!src->ops->pread_uncached)
		return src->ops->pread(src, buf, len, offset, err);
	return src->ops->pread_uncached(src, buf, len, offset, err);
}

int sp_disk_source_check_unchanged(struct sp_disk_source *src,
				   struct sp_error *err)
{
	return src->ops->check_unchanged(src, err);
}

/* ---- targets ----------------------------------------------------------
 *
 * A file target is made as a temporary sibling ".NAME.partial-XXXXXX" and
 * renamed onto NAME at commit.  Invariants:
 *  1. Every name is resolved from the directory opened once at create:
 *     the temporary file is created with O_EXCL | O_NOFOLLOW, the rename
 *     replaces whatever is at NAME (a link included) and never writes
 *     through it; tools get the file by /proc/PID/fd, not by name.
 *  2. A block device is written only when it is itself at the path given
 *     (the caller resolves a link the operator named explicitly); a link
 *     at the path is a link to replace (FORCE) or refuse, never followed.
 *  3. The temporary file is flock'd for as long as it exists; one whose
 *     lock is free belongs to a restore that died, and any later target
 *     created in the same directory removes it.
 */

#define PARTIAL_MARK ".partial-"
#define PARTIAL_RANDOM 6

int sp_disk_target_code(int errnum)
{
	return sp_errno_to_code(errnum, SP_E_TARGET_WRITE, SP_E_TARGET_FULL, 0);
}

int sp_disk_target_dir_code(int errnum)
{
	return errnum == ENOENT || errnum == ENOTDIR
		   ? SP_E_TARGET_NOT_FOUND
		   : sp_disk_target_code(errnum);
}

/* ".NAME.partial-XXXXXX": the name a target's temporary file has. */
static bool is_partial_name(const char *n)
{
	const char *m = strstr(n, PARTIAL_MARK);
	size_t k;

	if (n[0] != '.' || !m || m == n + 1)
		return false;
	m += strlen(PARTIAL_MARK);
	for (k = 0; m[k]; k++)
		if (!isalnum((unsigned char)m[k]))
			return false;
	return k == PARTIAL_RANDOM;
}

/* Remove the temporary files of restores that died in @dir_fd (invariant
 * 3): one whose lock can be taken, and that is still the file under its
 * name once locked.  Best effort. */
static void sweep_partials(int dir_fd, const char *dir)
{
	int dfd = dup(dir_fd);
	DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
	struct dirent *de;

	if (!d) {
		if (dfd >= 0)
			close(dfd);
		return;
	}
	while ((de = readdir(d))) {
		struct stat a, b;
		int fd;

		if (!is_partial_name(de->d_name))
			continue;
		fd = sp_open_regular(dir_fd, de->d_name, O_RDONLY, 0);
		if (fd < 0)
			continue;
		if (flock(fd, LOCK_EX | LOCK_NB) == 0 && fstat(fd, &a) == 0 &&
		    fstatat(dir_fd, de->d_name, &b, AT_SYMLINK_NOFOLLOW) == 0 &&
		    a.st_ino == b.st_ino && a.st_dev == b.st_dev &&
		    unlinkat(dir_fd, de->d_name, 0) == 0)
			sp_log(SP_LOG_INFO,
			       "removed '%s/%s', left by a restore that did "
			       "not finish",
			       dir, de->d_name);
		close(fd);
	}
	closedir(d);
}

/* Create, lock and size-check the temporary file of @t (invariant 3: the
 * lock is taken before anyone else could take it for a dead one's). */
static int create_partial(struct sp_disk_target *t, const char *dir,
			  struct sp_error *err)
{
	static const char set[] = "abcdefghijklmnopqrstuvwxyz"
				  "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

	for (int attempt = 0; attempt < 16; attempt++) {
		unsigned char rnd[PARTIAL_RANDOM];
		char suffix[PARTIAL_RANDOM + 1];
		struct stat a, b;
		int fd;

		if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
			for (size_t i = 0; i < sizeof(rnd); i++)
				rnd[i] = (unsigned char)(sp_now_mono_ns() >>
							 (i * 5));
		for (size_t i = 0; i < sizeof(rnd); i++)
			suffix[i] = set[rnd[i] % (sizeof(set) - 1)];
		suffix[PARTIAL_RANDOM] = '\0';
		free(t->tmp_name);
		if (asprintf(&t->tmp_name, ".%s" PARTIAL_MARK "%s", t->name,
			     suffix) < 0) {
			t->tmp_name = NULL;
			return sp_error_set(err, SP_E_NOMEM, "out of memory");
		}
		fd = openat(t->dir_fd, t->tmp_name,
			    O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
			    0600);
		if (fd < 0 && errno == EEXIST)
			continue;
		if (fd < 0) {
			int e = errno;
			free(t->tmp_name);
			t->tmp_name = NULL;
			return sp_error_set_errno(err, sp_disk_target_code(e),
						  e,
						  "cannot create a file in "
						  "'%s'",
						  dir);
		}
		if (flock(fd, LOCK_EX) == 0 && fstat(fd, &a) == 0 &&
		    fstatat(t->dir_fd, t->tmp_name, &b, AT_SYMLINK_NOFOLLOW) ==
			0 &&
		    a.st_ino == b.st_ino && a.st_dev == b.st_dev) {
			t->lock_fd = fd;
			break;
		}
		close(fd); /* swept between create and lock: again */
	}
	if (t->lock_fd < 0) {
		free(t->tmp_name);
		t->tmp_name = NULL;
		return sp_error_set(err, SP_E_TARGET_WRITE,
				    "cannot create a file in '%s'", dir);
	}
	if (fchmod(t->lock_fd, 0600) < 0 ||
	    asprintf(&t->tmp_path, "/proc/%ld/fd/%d", (long)getpid(),
		     t->lock_fd) < 0) {
		t->tmp_path = NULL;
		return sp_error_set_errno(err, SP_E_TARGET_WRITE, errno,
					  "cannot prepare '%s'", t->path);
	}
	return 0;
}

/* What is at @t->name now, not following a link (invariant 2). */
static int check_existing(struct sp_disk_target *t, unsigned flags,
			  bool *is_block, struct sp_error *err)
{
	struct stat st;

	*is_block = false;
	if (fstatat(t->dir_fd, t->name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT
			   ? 0
			   : sp_error_set_errno(err, SP_E_TARGET_WRITE, errno,
						"cannot check '%s'", t->path);
	if (S_ISBLK(st.st_mode)) {
		*is_block = true;
		return 0;
	}
	if (S_ISLNK(st.st_mode) && !(flags & SP_DISK_TARGET_FORCE))
		return sp_error_set(err, SP_E_TARGET_EXISTS,
				    "'%s' is a symbolic link (a restore never "
				    "writes through one: remove it, name the "
				    "file it points to, or pass --force to "
				    "replace the link itself)",
				    t->path);
	if (S_ISREG(st.st_mode) && !(flags & SP_DISK_TARGET_FORCE))
		return sp_error_set(err, SP_E_TARGET_EXISTS,
				    "'%s' already exists (pass --force to "
				    "overwrite)",
				    t->path);
	if (!S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode))
		return sp_error_set(err, SP_E_TARGET_EXISTS,
				    "'%s' exists and is neither a regular "
				    "file nor a block device (restore "
				    "elsewhere)",
				    t->path);
	return 0;
}

int sp_disk_target_create(const char *path, enum sp_disk_format fmt,
			  uint64_t size, unsigned flags,
			  struct sp_disk_target **ret, struct sp_error *err)
{
	struct sp_disk_target *t;
	char *dir = NULL;
	const char *base, *slash;
	bool is_block;
	int r;

	t = calloc(1, sizeof(*t));
	if (!t)
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	t->fd = t->dir_fd = t->lock_fd = t->direct_fd = -1;
	t->size = size;
	slash = strrchr(path, '/');
	base = slash ? slash + 1 : path;
	t->path = strdup(path);
	t->name = strdup(base);
	dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path))
		    : strdup(".");
	if (!t->path || !t->name || !dir) {
		r = sp_error_set(err, SP_E_NOMEM, "out of memory");
		goto done;
	}
	if (!*base || !strcmp(base, ".") || !strcmp(base, "..")) {
		r = sp_error_set(err, SP_E_TARGET_WRITE,
				 "invalid target path '%s'", path);
		goto done;
	}
	t->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (t->dir_fd < 0) {
		r = sp_error_set_errno(err, sp_disk_target_dir_code(errno),
				       errno, "cannot open directory '%s'",
				       dir);
		goto done;
	}
	r = check_existing(t, flags, &is_block, err);
	if (r < 0)
		goto done;
	if (is_block) {
		r = sp_disk_target_block_open(t, err);
		goto done;
	}
	if (fmt == SP_DISK_FORMAT_QCOW2 && size % 512) {
		r = sp_error_set(err, SP_E_TARGET_SIZE_UNALIGNED,
				 "cannot write '%s' as qcow2: the disk has "
				 "%llu bytes, not a multiple of 512, and qcow2 "
				 "would grow it (restore it with --format raw)",
				 path, (unsigned long long)size);
		goto done;
	}
	sweep_partials(t->dir_fd, dir);
	r = create_partial(t, dir, err);
	if (r < 0)
		goto done;
	t->zeroed = true;
	if (fmt == SP_DISK_FORMAT_QCOW2) {
		r = sp_disk_target_nbd_open(t, err);
	} else {
		t->fd = dup(t->lock_fd);
		r = t->fd < 0
			? sp_error_set_errno(err, SP_E_TARGET_WRITE, errno,
					     "cannot open '%s'", path)
			: sp_disk_target_file_open(t, err);
	}
done:
	free(dir);
	if (r < 0) {
		sp_disk_target_abort(t);
		return r;
	}
	*ret = t;
	return 0;
}

bool sp_disk_target_is_zeroed(const struct sp_disk_target *t)
{
	return t->zeroed;
}

int sp_disk_target_pwrite(struct sp_disk_target *t, const void *buf, size_t len,
			  uint64_t offset, struct sp_error *err)
{
	return t->ops->pwrite(t, buf, len, offset, err);
}

int sp_disk_target_write_zeroes(struct sp_disk_target *t, uint64_t offset,
				uint64_t len, struct sp_error *err)
{
	return t->ops->write_zeroes(t, offset, len, err);
}

static void target_free(struct sp_disk_target *t)
{
	if (t->direct_fd >= 0)
		close(t->direct_fd);
	if (t->fd >= 0)
		close(t->fd);
	if (t->lock_fd >= 0)
		close(t->lock_fd); /* the temporary file is gone or renamed */
	if (t->dir_fd >= 0)
		close(t->dir_fd);
	free(t->tmp_name);
	free(t->tmp_path);
	free(t->name);
	free(t->path);
	free(t);
}

int sp_disk_target_commit(struct sp_disk_target *t, struct sp_error *err)
{
	int r = t->ops->finish(t, err);

	if (r < 0) {
		sp_disk_target_abort(t);
		return r;
	}
	if (t->tmp_name) {
		/* Still locked: no sweep takes it before it has its name. */
		if (renameat(t->dir_fd, t->tmp_name, t->dir_fd, t->name) < 0) {
			r = sp_error_set_errno(err, sp_disk_target_code(errno),
					       errno, "cannot rename onto '%s'",
					       t->path);
			sp_disk_target_abort(t);
			return r;
		}
		free(t->tmp_name);
		t->tmp_name = NULL;
		if (fsync(t->dir_fd) < 0) {
			r = sp_error_set_errno(err, SP_E_TARGET_WRITE, errno,
					       "cannot sync the directory of "
					       "'%s'",
					       t->path);
		}
	}
	target_free(t);
	return r;
}

void sp_disk_target_abort(struct sp_disk_target *t)
{
	if (!t)
		return;
	if (t->ops)
		t->ops->close(t);
	if (t->tmp_name)
		unlinkat(t->dir_fd, t->tmp_name, 0);
	target_free(t);
}

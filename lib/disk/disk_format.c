// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The disk layer's front door: format names, probing, and dispatch of
 * sources and targets to their implementations (files and block devices
 * directly, everything else through qemu-nbd).  Targets are written under a
 * temporary sibling name and renamed into place at commit (disk.h).
 */
#include "disk/disk_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libnbd.h>

#include "util/cleanup.h"
#include "util/spawn.h"

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
	src->fd = -1;
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

int sp_disk_source_check_unchanged(struct sp_disk_source *src,
				   struct sp_error *err)
{
	return src->ops->check_unchanged(src, err);
}

/* ---- targets ---------------------------------------------------------- */

static int target_code(int e)
{
	return e == ENOSPC || e == EDQUOT ? SP_E_TARGET_FULL
					  : SP_E_TARGET_WRITE;
}

int sp_disk_target_create(const char *path, enum sp_disk_format fmt,
			  uint64_t size, unsigned flags,
			  struct sp_disk_target **ret, struct sp_error *err)
{
	struct sp_disk_target *t;
	struct stat st;
	char *dir = NULL;
	const char *base, *slash;
	int r;

	t = calloc(1, sizeof(*t));
	if (!t)
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	t->fd = t->dir_fd = -1;
	t->size = size;
	t->path = strdup(path);
	if (!t->path) {
		free(t);
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	}
	if (stat(path, &st) == 0 && S_ISBLK(st.st_mode)) {
		r = sp_disk_target_block_open(t, err);
		goto done;
	}
	if (stat(path, &st) == 0 && !(flags & SP_DISK_TARGET_FORCE)) {
		r = sp_error_set(err, SP_E_TARGET_EXISTS,
				 "'%s' already exists (pass --force to "
				 "overwrite)",
				 path);
		goto done;
	}
	if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
		r = sp_error_set(err, SP_E_TARGET_WRITE,
				 "'%s' is neither a regular file nor a block "
				 "device",
				 path);
		goto done;
	}
	slash = strrchr(path, '/');
	base = slash ? slash + 1 : path;
	dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path))
		    : strdup(".");
	if (!dir || !*base) {
		r = sp_error_set(err, !dir ? SP_E_NOMEM : SP_E_TARGET_WRITE,
				 "invalid target path '%s'", path);
		goto done;
	}
	t->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (t->dir_fd < 0) {
		r = sp_error_set_errno(
		    err,
		    errno == ENOENT ? SP_E_TARGET_NOT_FOUND : SP_E_TARGET_WRITE,
		    errno, "cannot open directory '%s'", dir);
		goto done;
	}
	if (asprintf(&t->tmp_path, "%s/.%s.partial-XXXXXX", dir, base) < 0) {
		t->tmp_path = NULL;
		r = sp_error_set(err, SP_E_NOMEM, "out of memory");
		goto done;
	}
	t->fd = mkostemp(t->tmp_path, O_CLOEXEC);
	if (t->fd < 0) {
		r = sp_error_set_errno(err, target_code(errno), errno,
				       "cannot create a file in '%s'", dir);
		free(t->tmp_path);
		t->tmp_path = NULL;
		goto done;
	}
	fchmod(t->fd, 0600);
	t->zeroed = true;
	if (fmt == SP_DISK_FORMAT_QCOW2) {
		close(t->fd);
		t->fd = -1;
		r = sp_disk_target_nbd_open(t, err);
	} else {
		r = sp_disk_target_file_open(t, err);
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
	if (t->fd >= 0)
		close(t->fd);
	if (t->dir_fd >= 0)
		close(t->dir_fd);
	free(t->tmp_path);
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
	if (t->tmp_path) {
		if (rename(t->tmp_path, t->path) < 0) {
			r = sp_error_set_errno(err, target_code(errno), errno,
					       "cannot rename onto '%s'",
					       t->path);
			sp_disk_target_abort(t);
			return r;
		}
		free(t->tmp_path);
		t->tmp_path = NULL;
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
	if (t->tmp_path)
		unlink(t->tmp_path);
	target_free(t);
}

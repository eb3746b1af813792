// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Raw image files and block devices read directly.  Regular files report
 * their holes through SEEK_DATA/SEEK_HOLE, so sparse ranges are never read;
 * block devices cannot tell and report one data extent (the backup job then
 * recognises zero chunks after reading them).
 */
#include "disk/disk_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/fileio.h"

static int file_extents(struct sp_disk_source *src, uint64_t offset,
			uint64_t length, struct sp_disk_extent *out, size_t max,
			size_t *n, struct sp_error *err)
{
	const uint64_t end = offset + length;
	uint64_t pos = offset;

	*n = 0;
	if (src->kind == SP_DISK_KIND_BLOCK) {
		out[0] =
		    (struct sp_disk_extent){.offset = offset, .length = length};
		*n = 1;
		return 0;
	}
	while (pos < end && *n < max) {
		off_t data = lseek(src->fd, (off_t)pos, SEEK_DATA);
		uint64_t data_at, hole_at;

		if (data < 0 && errno == ENXIO) {
			/* No data from here to the end of the file. */
			data_at = end;
		} else if (data < 0) {
			if (errno == EINVAL || errno == EOPNOTSUPP) {
				/* The file system cannot tell: all data. */
				out[(*n)++] = (struct sp_disk_extent){
				    .offset = pos, .length = end - pos};
				return 0;
			}
			return sp_error_set_errno(err, SP_E_DISK_READ, errno,
						  "cannot map disk '%s'",
						  src->path);
		} else {
			data_at = (uint64_t)data < end ? (uint64_t)data : end;
		}
		if (data_at > pos) {
			out[(*n)++] =
			    (struct sp_disk_extent){.offset = pos,
						    .length = data_at - pos,
						    .zero = true};
			pos = data_at;
			if (pos >= end || *n == max)
				break;
		}
		off_t hole = lseek(src->fd, (off_t)pos, SEEK_HOLE);
		if (hole < 0)
			return sp_error_set_errno(err, SP_E_DISK_READ, errno,
						  "cannot map disk '%s'",
						  src->path);
		hole_at = (uint64_t)hole < end ? (uint64_t)hole : end;
		if (hole_at <= pos) /* raced with a writer; take it as data */
			hole_at = end;
		out[(*n)++] = (struct sp_disk_extent){.offset = pos,
						      .length = hole_at - pos};
		pos = hole_at;
	}
	return 0;
}

static int file_pread(struct sp_disk_source *src, void *buf, size_t len,
		      uint64_t offset, struct sp_error *err)
{
	int r = sp_pread_all(src->fd, buf, len, (off_t)offset);
	struct stat st;

	/* -EIO is also the end of the file: tell a disk that shrank from
	 * one that failed. */
	if (r == -EIO && fstat(src->fd, &st) == 0 && S_ISREG(st.st_mode) &&
	    (uint64_t)st.st_size < offset + len)
		return sp_error_set(err, SP_E_DISK_READ,
				    "disk '%s' ended before %llu bytes "
				    "(did it shrink?)",
				    src->path, (unsigned long long)src->size);
	if (r < 0)
		return sp_error_set_errno(
		    err, SP_E_DISK_READ, -r,
		    "cannot read disk '%s' at offset %llu", src->path,
		    (unsigned long long)offset);
	return 0;
}

/* O_DIRECT reads of whole aligned blocks: the file's last block may be
 * short (the read ends at the end of the file). */
static int file_pread_uncached(struct sp_disk_source *src, void *buf,
			       size_t len, uint64_t offset,
			       struct sp_error *err)
{
	const size_t a = SP_DISK_DIRECT_ALIGN;
	size_t want = (len + a - 1) / a * a, done = 0;

	if (src->direct_fd < 0 && !(offset % a) && !((uintptr_t)buf % a)) {
		char proc[64];
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", src->fd);
		src->direct_fd = open(proc, O_RDONLY | O_DIRECT | O_CLOEXEC);
		if (src->direct_fd < 0)
			src->direct_fd = -2; /* not here: plain reads */
	}
	if (src->direct_fd < 0 || offset % a || (uintptr_t)buf % a)
		return file_pread(src, buf, len, offset, err);
	while (done < len) {
		ssize_t n = pread(src->direct_fd, (char *)buf + done,
				  want - done, (off_t)(offset + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EINVAL) /* the file system says no */
			return file_pread(src, (char *)buf + done, len - done,
					  offset + done, err);
		if (n < 0)
			return sp_error_set_errno(
			    err, SP_E_DISK_READ, errno,
			    "cannot read disk '%s' at offset %llu", src->path,
			    (unsigned long long)(offset + done));
		if (n == 0)
			return sp_error_set(err, SP_E_DISK_READ,
					    "disk '%s' ended before %llu bytes "
					    "(did it shrink?)",
					    src->path,
					    (unsigned long long)src->size);
		done += (size_t)n;
	}
	return 0;
}

static int file_check_unchanged(struct sp_disk_source *src,
				struct sp_error *err)
{
	uint64_t now;
	int r = sp_fd_size(src->fd, &now);

	if (r < 0)
		return sp_error_set_errno(err, SP_E_DISK_READ, -r,
					  "cannot stat disk '%s'", src->path);
	if (now != src->size)
		return sp_error_set(err, SP_E_DISK_CHANGED,
				    "disk '%s' changed size from %llu to %llu "
				    "bytes while it was read",
				    src->path, (unsigned long long)src->size,
				    (unsigned long long)now);
	return 0;
}

static void file_free(struct sp_disk_source *src)
{
	(void)src; /* the common code closes src->fd */
}

const struct sp_disk_source_ops sp_disk_source_file_ops = {
    .name = "file",
    .extents = file_extents,
    .pread = file_pread,
    .check_unchanged = file_check_unchanged,
    .pread_uncached = file_pread_uncached,
    .free = file_free,
};

int sp_disk_source_file_open(struct sp_disk_source *src, int fd,
			     struct sp_error *err)
{
	int r;

	src->fd = fd;
	src->ops = &sp_disk_source_file_ops;
	r = sp_fd_size(src->fd, &src->size);
	if (r < 0)
		return sp_error_set_errno(err, SP_E_DISK_READ, -r,
					  "cannot get the size of disk '%s'",
					  src->path);
	posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	return 0;
}

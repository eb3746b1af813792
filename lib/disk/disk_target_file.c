// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Restore targets written directly: a new raw sparse file (a temporary
 * sibling, renamed at commit by the common code) or an existing block
 * device, opened exclusively so a mounted device is refused.
 */
#include "disk/disk_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/fault.h"
#include "util/fileio.h"

/* Whole aligned blocks go straight to the device (O_DIRECT): a restore
 * writes each byte once, and copying it through the page cache cost as
 * much CPU as hashing and decompressing it; what is left (an unaligned
 * tail, a buffer that is not aligned) goes through the page cache. */
static bool direct_ok(const struct sp_disk_target *t, const void *buf,
		      size_t len, uint64_t offset)
{
	const size_t a = SP_DISK_DIRECT_ALIGN;

	return t->direct_fd >= 0 && !(offset % a) && !(len % a) &&
	       !((uintptr_t)buf % a);
}

static int fd_pwrite(struct sp_disk_target *t, const void *buf, size_t len,
		     uint64_t offset, struct sp_error *err)
{
	int r = -EINVAL;

	sp_test_hold("target");
	if (direct_ok(t, buf, len, offset))
		r = sp_pwrite_all(t->direct_fd, buf, len, (off_t)offset);
	if (r == -EINVAL) {
		r = sp_pwrite_all(t->fd, buf, len, (off_t)offset);
		/* Start writing back now, while the other workers still
		 * hash and decompress, so the fsync at commit finds little
		 * left to do. */
		if (r == 0)
			sync_file_range(t->fd, (off_t)offset, (off_t)len,
					SYNC_FILE_RANGE_WRITE);
	}
	if (r < 0)
		return sp_error_set_errno(err, sp_disk_target_code(-r), -r,
					  "cannot write '%s' at offset %llu",
					  t->path, (unsigned long long)offset);
	return 0;
}

/* A second descriptor of the target with O_DIRECT; none where the file
 * system has no direct I/O (tmpfs): every write is then buffered. */
static void open_direct(struct sp_disk_target *t)
{
	char proc[64];

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", t->fd);
	t->direct_fd = open(proc, O_WRONLY | O_DIRECT | O_CLOEXEC);
}

static int file_zeroes(struct sp_disk_target *t, uint64_t offset, uint64_t len,
		       struct sp_error *err)
{
	if (fallocate(t->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		      (off_t)offset, (off_t)len) < 0)
		return sp_error_set_errno(err, sp_disk_target_code(errno),
					  errno,
					  "cannot zero '%s' at offset %llu",
					  t->path, (unsigned long long)offset);
	return 0;
}

static int fd_finish(struct sp_disk_target *t, struct sp_error *err)
{
	if (fsync(t->fd) < 0)
		return sp_error_set_errno(err, sp_disk_target_code(errno),
					  errno, "cannot flush '%s'", t->path);
	if (close(t->fd) < 0) {
		t->fd = -1;
		return sp_error_set_errno(err, sp_disk_target_code(errno),
					  errno, "cannot close '%s'", t->path);
	}
	t->fd = -1;
	return 0;
}

static void fd_close(struct sp_disk_target *t)
{
	(void)t; /* the common code closes t->fd */
}

const struct sp_disk_target_ops sp_disk_target_file_ops = {
    .name = "file",
    .pwrite = fd_pwrite,
    .write_zeroes = file_zeroes,
    .finish = fd_finish,
    .close = fd_close,
};

int sp_disk_target_file_open(struct sp_disk_target *t, struct sp_error *err)
{
	t->ops = &sp_disk_target_file_ops;
	if (ftruncate(t->fd, (off_t)t->size) < 0)
		return sp_error_set_errno(err, sp_disk_target_code(errno),
					  errno, "cannot size '%s'", t->path);
	open_direct(t);
	return 0;
}

static int block_zeroes(struct sp_disk_target *t, uint64_t offset, uint64_t len,
			struct sp_error *err)
{
	uint64_t range[2] = {offset, len};
	static const char zeros[1 << 16];

	if (ioctl(t->fd, BLKZEROOUT, range) == 0)
		return 0;
	/* No offload: write zeroes by hand. */
	while (len > 0) {
		size_t step = len > sizeof(zeros) ? sizeof(zeros) : (size_t)len;
		int r = fd_pwrite(t, zeros, step, offset, err);
		if (r < 0)
			return r;
		offset += step;
		len -= step;
	}
	return 0;
}

const struct sp_disk_target_ops sp_disk_target_block_ops = {
    .name = "block",
    .pwrite = fd_pwrite,
    .write_zeroes = block_zeroes,
    .finish = fd_finish,
    .close = fd_close,
};

int sp_disk_target_block_open(struct sp_disk_target *t, struct sp_error *err)
{
	uint64_t devsize = 0;
	struct stat st;

	t->ops = &sp_disk_target_block_ops;
	t->zeroed = false;
	/* The device node itself, at its name in the directory already
	 * opened: never through a link (disk_format.c invariant 2). */
	t->fd = openat(t->dir_fd, t->name,
		       O_WRONLY | O_EXCL | O_NOFOLLOW | O_CLOEXEC);
	if (t->fd < 0)
		return sp_error_set_errno(
		    err, errno == EBUSY ? SP_E_TARGET_BUSY : SP_E_TARGET_WRITE,
		    errno, "cannot open block device '%s'%s", t->path,
		    errno == EBUSY ? " (is it mounted "
				     "or in use?)"
				   : "");
	if (fstat(t->fd, &st) < 0 || !S_ISBLK(st.st_mode))
		return sp_error_set(err, SP_E_TARGET_WRITE,
				    "'%s' is no longer a block device",
				    t->path);
	if (ioctl(t->fd, BLKGETSIZE64, &devsize) < 0)
		return sp_error_set_errno(err, SP_E_TARGET_WRITE, errno,
					  "cannot get the size of '%s'",
					  t->path);
	if (devsize < t->size)
		return sp_error_set(
		    err, SP_E_TARGET_TOO_SMALL,
		    "block device '%s' has %llu bytes, the disk "
		    "needs %llu",
		    t->path, (unsigned long long)devsize,
		    (unsigned long long)t->size);
	open_direct(t);
	return 0;
}

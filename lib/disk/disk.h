/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Disk images as Stillpoint reads and writes them: a source is a disk to be
 * backed up (raw file, block device, or any image QEMU can open, read through
 * qemu-nbd + libnbd), a target is where a restored disk is written (raw
 * sparse file, qcow2 image, or an existing block device).
 *
 * Sources report their extents so that holes and zero ranges are never read
 * (SEEK_DATA/SEEK_HOLE for files, NBD block status for images).  Targets are
 * written under a temporary name and appear under their final name only on
 * sp_disk_target_commit(); sp_disk_target_abort() leaves nothing behind, so a
 * failed restore never leaves a silently wrong file in place.  (A block
 * device cannot be renamed: on abort its content is undefined and the
 * caller reports the failure.)
 *
 * Thread safety: a source is used by one thread at a time.  A target's
 * pwrite and write_zeroes may be called from several threads at once;
 * create, commit and abort from one.
 */
#ifndef SP_DISK_DISK_H
#define SP_DISK_DISK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

/*
 * A disk's format comes from what its owner declared (the domain XML's
 * <driver type=...>, or the user's PATH:FORMAT), never from its content: a
 * guest can write a qcow2 header into its own raw disk, and reading that
 * disk as qcow2 would back up the wrong bytes, or a host file named as its
 * backing file.
 */
enum sp_disk_format {
	SP_DISK_FORMAT_UNDECLARED = 0, /* raw; refused if it looks like qcow2 */
	SP_DISK_FORMAT_RAW,
	SP_DISK_FORMAT_QCOW2,
};

/* "raw", "qcow2" (and "undeclared"); NULL for out-of-range values. */
const char *sp_disk_format_name(enum sp_disk_format fmt);
/* Parse a name; returns -1 if unknown. */
int sp_disk_format_parse(const char *name);

/*
 * Split a disk argument "PATH" or "PATH:FORMAT" (FORMAT raw or qcow2) into
 * a newly allocated *@path and *@fmt (UNDECLARED without a suffix).  A
 * path that itself ends in ":raw" is written "PATH:raw:raw".  Returns 0 or
 * -ENOMEM.
 */
int sp_disk_spec_split(const char *spec, char **path, enum sp_disk_format *fmt);

enum sp_disk_kind {
	SP_DISK_KIND_FILE,  /* regular file */
	SP_DISK_KIND_BLOCK, /* block device */
};

struct sp_disk_extent {
	uint64_t offset;
	uint64_t length;
	bool zero;  /* reads as zeroes (hole, or zero cluster) */
	bool dirty; /* changed since the dirty bitmap's checkpoint; true on
		       every source opened without a bitmap */
};

/* ---- sources ---------------------------------------------------------- */

struct sp_disk_source;

/*
 * Open @path read-only as @fmt.  RAW is read as it is, whatever it holds.
 * UNDECLARED is read raw too, but refused with SP_E_DISK_FORMAT_UNDECLARED
 * when it starts with a qcow2 header (the user must say which it is).
 * QCOW2 is read through qemu-nbd; a backing file is followed only when
 * the image that names it also records its format (never probed).
 * Errors: SP_E_DISK_NOT_FOUND, SP_E_DISK_PERMISSION, SP_E_DISK_IS_DIRECTORY,
 * SP_E_DISK_NOT_SUPPORTED (fifo, socket, char device), SP_E_DISK_FORMAT,
 * SP_E_DISK_FORMAT_UNDECLARED, SP_E_TOOL_MISSING (qemu-nbd absent),
 * SP_E_NBD, SP_E_DISK_READ.
 */
int sp_disk_source_open(const char *path, enum sp_disk_format fmt,
			struct sp_disk_source **ret, struct sp_error *err);
void sp_disk_source_free(struct sp_disk_source *src);

/* Guest-visible (virtual) size in bytes. */
uint64_t sp_disk_source_size(const struct sp_disk_source *src);
enum sp_disk_format sp_disk_source_format(const struct sp_disk_source *src);
enum sp_disk_kind sp_disk_source_kind(const struct sp_disk_source *src);

/*
 * Describe [offset, offset+length) as consecutive extents, each either data
 * or zero, and dirty or clean on an export opened with a bitmap (dirty
 * everywhere else), covering the range in order from @offset (length is
 * clipped to the disk size).  Writes at most @max extents to @out and sets
 * *@n; the answer may stop early, and the caller asks again from where it
 * stopped.  A source that cannot tell (block device) reports one data
 * extent.  Callers walk extents with the cursor (extent_cursor.h), which
 * checks these answers.  Errors: SP_E_DISK_READ, SP_E_NBD,
 * SP_E_EXPORT_READ.
 */
int sp_disk_source_extents(struct sp_disk_source *src, uint64_t offset,
			   uint64_t length, struct sp_disk_extent *out,
			   size_t max, size_t *n, struct sp_error *err);

/* Read exactly @len bytes at @offset (within the disk).  Errors:
 * SP_E_DISK_READ (including a short read: the disk shrank), SP_E_NBD. */
int sp_disk_source_pread(struct sp_disk_source *src, void *buf, size_t len,
			 uint64_t offset, struct sp_error *err);

/*
 * Open a point-in-time export of a running VM's disk: the NBD server of a
 * libvirt pull-mode backup job on unix socket @socket, export @export (the
 * disk's target, e.g. "vda").  @bitmap, when not NULL, is the dirty-bitmap
 * meta context of an incremental backup ("qemu:dirty-bitmap:backup-vda")
 * and must be offered by the server.  @label names the disk in messages.
 * Errors: SP_E_NBD (cannot connect, or the bitmap is not offered: then
 * the caller falls back to a full read).
 */
int sp_disk_source_open_export(const char *socket, const char *export,
			       const char *bitmap, const char *label,
			       struct sp_disk_source **ret,
			       struct sp_error *err);

/*
 * Read like sp_disk_source_pread(), but past the page cache where the
 * source allows it (O_DIRECT on files and devices): a second read of a
 * disk (the transfer check) then neither fills the cache with the disk's
 * holes nor is answered from what the first read left there.  @buf must
 * be aligned to SP_DISK_DIRECT_ALIGN and hold @len rounded up to it.
 * Falls back to a plain read where direct I/O is not possible.
 */
#define SP_DISK_DIRECT_ALIGN 4096
int sp_disk_source_pread_uncached(struct sp_disk_source *src, void *buf,
				  size_t len, uint64_t offset,
				  struct sp_error *err);

/* Re-check the size against the one seen at open.  Errors: SP_E_DISK_CHANGED.
 */
int sp_disk_source_check_unchanged(struct sp_disk_source *src,
				   struct sp_error *err);

/* ---- targets ---------------------------------------------------------- */

struct sp_disk_target;

enum sp_disk_target_flags {
	SP_DISK_TARGET_FORCE = 1 << 0, /* replace an existing file */
};

/* The code of a target's failed write, flush or sync for errno @errnum:
 * SP_E_TARGET_FULL for ENOSPC and EDQUOT, else SP_E_TARGET_WRITE. */
int sp_disk_target_code(int errnum);
/* The code of a restore directory that cannot be opened: only ENOENT and
 * ENOTDIR say it is not there (SP_E_TARGET_NOT_FOUND). */
int sp_disk_target_dir_code(int errnum);

/*
 * Prepare to write a disk of @size bytes to @path in @fmt (RAW or QCOW2;
 * ignored for block devices, which are written raw).  A regular file is
 * created as a temporary sibling and renamed onto @path at commit.  An
 * existing block device must be at least @size bytes and not in use
 * (opened O_EXCL).  Errors: SP_E_TARGET_EXISTS (without FORCE),
 * SP_E_TARGET_NOT_FOUND (parent directory missing), SP_E_TARGET_TOO_SMALL,
 * SP_E_TARGET_BUSY, SP_E_TARGET_WRITE, SP_E_TARGET_FULL, SP_E_TOOL_FAILED,
 * SP_E_TOOL_MISSING, SP_E_NBD.
 */
int sp_disk_target_create(const char *path, enum sp_disk_format fmt,
			  uint64_t size, unsigned flags,
			  struct sp_disk_target **ret, struct sp_error *err);

/* True when unwritten ranges already read as zeroes (a new file or image),
 * so the caller may skip write_zeroes for zero chunks. */
bool sp_disk_target_is_zeroed(const struct sp_disk_target *t);

/* Thread-safe.  Errors: SP_E_TARGET_WRITE, SP_E_TARGET_FULL, SP_E_NBD. */
int sp_disk_target_pwrite(struct sp_disk_target *t, const void *buf, size_t len,
			  uint64_t offset, struct sp_error *err);
/* Make [offset, offset+len) read as zeroes (punch / BLKZEROOUT / NBD
 * write_zeroes).  Thread-safe. */
int sp_disk_target_write_zeroes(struct sp_disk_target *t, uint64_t offset,
				uint64_t len, struct sp_error *err);

/* Flush to stable storage, close and publish under the final name; frees
 * @t whatever the outcome (on failure it aborts). */
int sp_disk_target_commit(struct sp_disk_target *t, struct sp_error *err);
/* Discard: remove the temporary file; frees @t. */
void sp_disk_target_abort(struct sp_disk_target *t);

#endif

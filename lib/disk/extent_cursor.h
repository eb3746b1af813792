/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The one way to walk a disk's extents.  Every path that moves disk bytes
 * (full and incremental backup, the transfer check, restore and verify
 * against a disk) asks the cursor for the extents of one slice at a time
 * and fills its buffer from them, so there is one piece of code, tested
 * against a model, between "what the source says it holds" and "the bytes
 * that are hashed".
 *
 * Contract of sp_extent_cursor_next(): the extents it yields tile the
 * asked range exactly: the first starts at its offset, each starts where
 * the previous ended, the last ends at its end, none is empty.  Adjacent
 * extents differ in kind (data/zero, dirty/clean).  The source's answers
 * are checked before they are believed: a reply that starts elsewhere,
 * leaves a gap, overlaps or runs backwards is an SP_E_DISK_READ error,
 * never a wrongly filled slice.
 *
 * Contract of sp_extent_cursor_fill(): every byte of the buffer for the
 * last slice is written, from the source (data) or as zeroes (zero), or —
 * when only the dirty extents are asked for — the clean extents keep what
 * the caller put there (the base chunk of an incremental).  No byte of an
 * earlier slice survives a full fill.
 *
 * Memory: the cursor holds the extents of the current slice plus at most
 * one reply of the source (SP_EXTENT_REPLY_MAX extents), whatever the disk
 * size.  Thread safety: one thread at a time.
 */
#ifndef SP_DISK_EXTENT_CURSOR_H
#define SP_DISK_EXTENT_CURSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "disk/disk.h"
#include "util/error.h"

/* Extents asked of the source per call. */
#define SP_EXTENT_REPLY_MAX 1024

/*
 * What the cursor reads from.  @extents describes [offset, offset+length)
 * as sp_disk_source_extents() does (consecutive extents from @offset, at
 * most @max, possibly ending early); @pread reads exactly @len bytes.
 */
struct sp_extent_reader {
	int (*extents)(void *opaque, uint64_t offset, uint64_t length,
		       struct sp_disk_extent *out, size_t max, size_t *n,
		       struct sp_error *err);
	int (*pread)(void *opaque, void *buf, size_t len, uint64_t offset,
		     struct sp_error *err);
};

/* One slice as the cursor saw it. */
struct sp_extent_slice {
	uint64_t offset, length;
	const struct sp_disk_extent *ex; /* valid until the next call */
	size_t n;
	uint64_t data_bytes;  /* bytes in data (non-zero) extents */
	uint64_t dirty_bytes; /* bytes in dirty extents */
};

struct sp_extent_cursor;

/*
 * A cursor over a reader of a disk of @size bytes.  @step is how much to
 * ask the source about per call (a larger step means fewer calls on
 * sparse disks); 0 picks a default.  Returns 0 or SP_E_NOMEM.
 */
int sp_extent_cursor_new(const struct sp_extent_reader *rd, void *opaque,
			 uint64_t size, uint64_t step,
			 struct sp_extent_cursor **ret, struct sp_error *err);
/* A cursor over a disk source (its extents, dirty flags and reads). */
int sp_extent_cursor_open(struct sp_disk_source *src, uint64_t step,
			  struct sp_extent_cursor **ret, struct sp_error *err);
void sp_extent_cursor_free(struct sp_extent_cursor *c);

/*
 * The extents tiling [@offset, @offset+@length) into *@slice.  Offsets of
 * successive calls must not decrease (a later slice may skip ahead); the
 * range must lie within the disk.  Errors: SP_E_DISK_READ (the source
 * failed or answered inconsistently; the message says which), those of
 * the reader, SP_E_INTERNAL (a caller asking backwards), SP_E_NOMEM.
 */
int sp_extent_cursor_next(struct sp_extent_cursor *c, uint64_t offset,
			  uint64_t length, struct sp_extent_slice *slice,
			  struct sp_error *err);

/*
 * Fill @buf (the last slice's length) from the last slice's extents: data
 * extents are read, zero extents zeroed.  With @only_dirty, clean extents
 * are skipped (left as the caller filled them).  Adds the bytes read to
 * *@bytes_read.  Errors: those of the reader's pread.
 */
int sp_extent_cursor_fill(struct sp_extent_cursor *c, uint8_t *buf,
			  bool only_dirty, uint64_t *bytes_read,
			  struct sp_error *err);

#endif

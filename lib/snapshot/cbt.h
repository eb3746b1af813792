/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Changed-block tracking for raw disks (docs/cbt.md).  libvirt keeps a
 * checkpoint's dirty bitmap only in a qcow2 image; a raw file or block
 * device gets one through a small qcow2 *metadata image* whose external
 * data file is the raw disk itself, kept raw (data_file_raw): the guest's
 * bytes stay where they were, in the same layout, and the metadata image
 * holds only the cluster map (every cluster mapped to its own offset) and
 * the bitmaps.  `stillpoint cbt enable` makes the image and points the
 * domain's persistent definition at it (effective at the domain's next
 * start); `cbt disable` points it back at the raw disk and removes the
 * image.  Both change the domain only on the owner's request.
 *
 * Invariants:
 *  1. The raw disk's bytes are never written: the image is created over a
 *     scratch data file and only then pointed at the raw disk (creating it
 *     over the raw disk directly would zero it).
 *  2. A definition is changed only after every image it names exists,
 *     complete; images made for a define that failed are removed.
 *  3. An image is removed only when the definition no longer names it and
 *     no running QEMU has it open.
 */
#ifndef SP_SNAPSHOT_CBT_H
#define SP_SNAPSHOT_CBT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include <stillpoint/stillpoint.h>

#include "util/error.h"

/* The user and group QEMU runs as (qemu.conf's, else libvirt-qemu): the
 * owner of what QEMU must open that libvirt does not label (an NBD
 * socket).  Errors: SP_E_LIBVIRT. */
int sp_qemu_identity(uid_t *uid, gid_t *gid, struct sp_error *err);

/*
 * Make the metadata image @meta (absent) for the raw disk @data of @size
 * bytes, under a temporary name renamed into place once checked.
 * Errors: SP_E_TARGET_EXISTS, SP_E_TARGET_SIZE_UNALIGNED (a size that is
 * not a multiple of 512), SP_E_TOOL_*, SP_E_CBT_META_INVALID,
 * SP_E_TARGET_WRITE.
 */
int sp_cbt_meta_create(const char *data, uint64_t size, const char *meta,
		       struct sp_error *err);

/*
 * Replace metadata image @meta of raw disk @data with a fresh one (no
 * bitmaps), for a disk whose content was replaced behind QEMU's back (a
 * restore in place): its bitmaps describe writes that no longer matter.
 * Errors: as sp_cbt_meta_create().
 */
int sp_cbt_meta_renew(const char *meta, const char *data, struct sp_error *err);

/*
 * Is @meta a metadata image whose data is @data, kept raw, of @size
 * bytes (0: any)?  Errors: SP_E_CBT_META_INVALID naming what differs,
 * SP_E_TOOL_* when qemu-img cannot read it.
 */
int sp_cbt_meta_check(const char *meta, const char *data, uint64_t size,
		      struct sp_error *err);

#endif

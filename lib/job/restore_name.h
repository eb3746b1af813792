/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The file names a restore gives a point's disks under --to DIR: one rule
 * for points of files and of libvirt domains.
 *
 *  - A disk with a target (a point of a domain: "vda") is TARGET.EXT.
 *  - A disk of a point of files is its source file's name with a disk
 *    image extension (.raw .img .qcow2 .qcow .dsk .bin .iso .vmdk .vdi
 *    .vhd .vhdx, any case) replaced by EXT; a name without one gets EXT
 *    added ("web01.qcow2" restored raw is "web01.raw", "data" is
 *    "data.raw").
 *  - EXT is that of the bytes written: ".qcow2" for qcow2, ".raw" for raw
 *    (".img" names images of any format in libvirt's pools; ".raw" says
 *    what the bytes are).
 *  - Two disks given the same name: the first in the point's order keeps
 *    it, each later one gets "-2", "-3", ... before EXT, the first number
 *    that makes it unique.  Every disk of the point takes part, so the
 *    name a disk gets does not depend on which disks --disk-to sends
 *    elsewhere.
 */
#ifndef SP_JOB_RESTORE_NAME_H
#define SP_JOB_RESTORE_NAME_H

#include <jansson.h>
#include <stddef.h>

#include "disk/disk.h"

/* The format a disk of a point is restored in: @override ("raw" or
 * "qcow2") or the disk's own; anything but qcow2 is written raw. */
enum sp_disk_format sp_restore_format(json_t *disk, const char *override);

/* The name of every disk of manifest array @disks (restored in its
 * sp_restore_format), by the rule above.  *@names: an array of
 * json_array_size(@disks) strings, free with sp_restore_names_free.
 * Returns 0 or SP_E_NOMEM. */
int sp_restore_names(json_t *disks, const char *override, char ***names);
void sp_restore_names_free(char **names, size_t n);

#endif

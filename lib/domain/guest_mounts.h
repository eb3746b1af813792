/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The guest's mount map, recorded in a point so that guest paths
 * ("/var/lib/pgsql/...") resolve to a disk, partition or logical volume
 * when files are taken out of the point later (docs/files.md).
 */
#ifndef SP_DOMAIN_GUEST_MOUNTS_H
#define SP_DOMAIN_GUEST_MOUNTS_H

#include <jansson.h>

#include "domain/domain.h"

/*
 * Ask the guest agent (guest-get-fsinfo) what is mounted where, and match
 * each file system's disks to the domain's disks in @live_xml: by serial
 * number, else by PCI address (virtio-blk), else by the guest's device
 * name equal to the target (vdb).  Device-mapper devices (LVM) are named
 * by their dm name, read in the guest (/sys/block/dm-N/dm/name), as
 * "VG/LV".  *@ret: [{"mountpoint", "type", "name" (the guest's device,
 * "vdb1", "dm-0"), "partition" (number or null), "lvm" ("VG/LV" or null),
 * "disks": [targets]}].  Errors: SP_E_GUEST_AGENT_UNAVAILABLE,
 * SP_E_LIBVIRT (the agent refused guest-get-fsinfo).
 */
int sp_guest_mount_map(struct sp_domain *d, const char *live_xml, json_t **ret,
		       struct sp_error *err);

/* "vg-lv" (a dm name, '-' in names doubled) -> "vg/lv"; malloc'd, or NULL
 * when it is not a VG-LV name. */
char *sp_dm_name_to_lv(const char *dm);

#endif

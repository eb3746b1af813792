/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The file systems inside a point's disks, read in an isolated appliance.
 *
 * A point's disks are served over NBD (serve.h) and attached read-only to a
 * libguestfs appliance: a small VM whose own kernel parses partition
 * tables, LVM and file systems.  The host's kernel never mounts a guest
 * file system (they are untrusted input); the host only speaks libguestfs'
 * protocol to the appliance and writes what it hands back.
 *
 * Names of devices, as users write them and as listings print them:
 *   "vdb:1"        partition 1 of the disk served as "vdb"
 *   "vda:"         a disk without a partition table (the whole disk)
 *   "lvm:VG/LV"    a logical volume found on the point's disks
 * A path is either "DEVICE:/path" in those forms ("vdb:1:/etc/hosts",
 * "vda::/log", "lvm:vg0/data:/x"), or a guest path ("/var/log/x") resolved
 * through the mount map the point recorded at backup (guest_mounts).
 *
 * One appliance per session; not thread-safe.
 */
#ifndef SP_JOB_GUEST_FS_H
#define SP_JOB_GUEST_FS_H

#include <stdbool.h>

#include <guestfs.h>
#include <jansson.h>

#include "util/error.h"

struct sp_served;
struct sp_guest_fs;

/*
 * Launch an appliance with every export of @s attached read-only.
 * @manifest: the point's manifest (borrowed, kept for the mount map).
 * Errors: SP_E_GUESTFS_FAILED (libguestfs could not launch; its words).
 */
int sp_guest_fs_open(const struct sp_served *s, json_t *manifest,
		     struct sp_guest_fs **ret, struct sp_error *err);
void sp_guest_fs_close(struct sp_guest_fs *gf);

/* The handle, for calls on the mounted file system ("/" is its root). */
guestfs_h *sp_guest_fs_handle(struct sp_guest_fs *gf);

/*
 * The file systems found: [{"device": "vdb:1", "type": "ext4", "label",
 * "uuid", "mountpoint" (from the mount map, or null)}].
 */
int sp_guest_fs_list(struct sp_guest_fs *gf, json_t **ret,
		     struct sp_error *err);

/*
 * Resolve @path (either form above), mount its file system read-only at
 * the appliance's "/" (replacing the one mounted before, if another), and
 * return the path inside it (malloc'd, "/..." ) and the device name
 * ("vdb:1", borrowed until the next call).  Errors: SP_E_GUEST_PATH_UNMAPPED
 * (a guest path and no mount map), SP_E_GUEST_DISK_NOT_FOUND (no such disk,
 * partition or LV), SP_E_GUEST_FS_NOT_FOUND (nothing mountable there),
 * SP_E_USAGE (a path that is not absolute).
 */
int sp_guest_fs_resolve(struct sp_guest_fs *gf, const char *path, char **inner,
			const char **device, struct sp_error *err);

/* Did the idle watchdog stop the appliance (no call and no download
 * progress for *@idle_s seconds)?  Then every later call fails. */
bool sp_guest_fs_timed_out(struct sp_guest_fs *gf, unsigned *idle_s);

/* Which accelerator the appliance uses and why ("kvm"/"tcg"). */
const char *sp_guest_fs_accel(const struct sp_guest_fs *gf);

#endif

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The libvirt/QEMU snapshot provider: one pull-mode backup job for all
 * disks of a running domain (the multi-disk still point), exported over
 * NBD on a unix socket, with a checkpoint whose dirty bitmaps make the next
 * backup incremental.
 *
 * Lifecycle: prepare (directories, XML: slow things, done before the
 * freeze) -> start (virDomainBackupBegin only: the freeze window) ->
 * exports read by the transfer phase -> end (virDomainAbortJob ends a
 * pull-mode job; sockets and scratch files removed).
 *
 * Checkpoints are named "stillpoint-<time>" so that ours are told apart
 * from anyone else's, and never touched otherwise.
 */
#ifndef SP_SNAPSHOT_SNAPSHOT_LIBVIRT_H
#define SP_SNAPSHOT_SNAPSHOT_LIBVIRT_H

#include <stdbool.h>
#include <stddef.h>

#include "domain/domain.h"
#include "util/error.h"

#define SP_CHECKPOINT_PREFIX "stillpoint-"
#define SP_RUN_DIR "/run/stillpoint"
#define SP_SCRATCH_DIR "/var/lib/stillpoint-scratch"

struct sp_backup_disk_req {
	const char *target;	 /* "vda" */
	bool incremental;	 /* read only what changed since the base */
	bool bitmap;		 /* in the new checkpoint (qcow2 disks only);
				    else checkpoint='no' */
	const char *scratch_fmt; /* unused for now (qcow2 scratch) */
};

struct sp_libvirt_backup {
	struct sp_domain *d;
	char *dir;	   /* per-job directory for the socket */
	char *socket;	   /* NBD unix socket path */
	char *scratch_dir; /* per-job scratch directory */
	char *backup_xml;
	char *checkpoint_xml;
	char *checkpoint; /* the new checkpoint's name, NULL if none */
	char *base;	  /* the incremental base, NULL for full */
	bool started;
};

/*
 * Build the job: directories the domain's QEMU can write, the backup and
 * checkpoint XML.  @base NULL = full backup of every disk; else disks with
 * .incremental read changes since @base (backupmode='incremental'), the
 * others in full (backupmode='full'), in the same job.  @new_checkpoint
 * NULL = none; else it holds a bitmap for each disk with .bitmap and
 * leaves the others out (checkpoint='no').
 * Errors: SP_E_LIBVIRT, SP_E_SNAPSHOT_FAILED (directories).
 */
int sp_libvirt_backup_prepare(struct sp_domain *d,
			      const struct sp_backup_disk_req *disks,
			      size_t ndisks, const char *base,
			      const char *new_checkpoint,
			      struct sp_libvirt_backup **ret,
			      struct sp_error *err);

/* Begin the job (the still point).  Errors: SP_E_DOMAIN_BUSY (a backup job
 * already runs), SP_E_CHECKPOINT_INCONSISTENT / SP_E_CHECKPOINT_MISSING
 * (the base cannot be used: fall back to full), SP_E_CHECKPOINT_REFUSED
 * (libvirt refused a disk's bitmap in the new checkpoint: the message
 * names the disk and its format), SP_E_SNAPSHOT_FAILED (naming the disk
 * when libvirt's reason does). */
int sp_libvirt_backup_start(struct sp_libvirt_backup *b, struct sp_error *err);

/*
 * The error of a refused virDomainBackupBegin of @domain from libvirt's
 * error code @code (VIR_ERR_*) and message @msg (may be NULL), into @err;
 * returns the code, as sp_libvirt_backup_start() (which calls it).  @base:
 * the incremental base, or NULL.  No libvirt call: unit-tested alone.
 */
int sp_libvirt_begin_error(const char *domain, const char *base, int code,
			   const char *msg, struct sp_error *err);

/* Turn a prepared incremental job into a full one (same new checkpoint),
 * after start refused the base. */
int sp_libvirt_backup_make_full(struct sp_libvirt_backup *b,
				const struct sp_backup_disk_req *disks,
				size_t ndisks, struct sp_error *err);

/* The dirty-bitmap meta context of disk @target in an incremental job,
 * into @out. */
void sp_libvirt_backup_bitmap(const char *target, char *out, size_t len);

/* End the job (if started) and remove sockets and scratch files; frees
 * @b.  Errors are logged: ending must not fail a job that succeeded. */
void sp_libvirt_backup_end(struct sp_libvirt_backup *b);

/* Does checkpoint @name exist?  Errors: SP_E_LIBVIRT. */
int sp_libvirt_checkpoint_exists(struct sp_domain *d, const char *name,
				 bool *exists, struct sp_error *err);

/* Delete checkpoint @name (its bitmaps too); when libvirt cannot (bitmap
 * broken or domain state), delete its metadata only.  A missing checkpoint
 * is not an error. */
int sp_libvirt_checkpoint_delete(struct sp_domain *d, const char *name,
				 struct sp_error *err);

/* Delete every stillpoint-* checkpoint except @keep (may be NULL).
 * *@deleted counts them.  Errors: SP_E_LIBVIRT. */
int sp_libvirt_checkpoints_prune(struct sp_domain *d, const char *keep,
				 unsigned *deleted, struct sp_error *err);

/*
 * Remove stillpoint-* dirty bitmaps that no checkpoint owns any more: a
 * domain undefined with --checkpoints-metadata, or a checkpoint's metadata
 * deleted alone, leaves its bitmaps in the images, where QEMU would keep
 * tracking writes for nobody.  Running domains only (through QEMU's
 * monitor; libvirt notes a "custom-monitor" taint in its log).  *@removed
 * counts them.  Errors: SP_E_LIBVIRT.
 */
int sp_libvirt_bitmaps_sweep(struct sp_domain *d, unsigned *removed,
			     struct sp_error *err);

/* Names of the domain's stillpoint-* checkpoints, NULL-terminated
 * (free each and the array).  Errors: SP_E_LIBVIRT. */
int sp_libvirt_checkpoints_list(struct sp_domain *d, char ***names,
				struct sp_error *err);

#endif

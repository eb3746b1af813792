/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The "Transfer data to vault" phase shared by every backup: disks already
 * opened (image files, or the point-in-time exports of a live VM) are read
 * through the pipeline into a point draft (transfer.c).
 *
 * A disk with a base index (@prev) and a dirty bitmap on its source is
 * transferred incrementally: clean chunk slots take the base's chunk id
 * without a read; a partly dirty slot is the base chunk (from the vault)
 * with the dirty ranges read over it; so only dirty bytes are read.
 */
#ifndef SP_JOB_TRANSFER_H
#define SP_JOB_TRANSFER_H

#include <jansson.h>

#include "disk/disk.h"
#include "job/job.h"
#include "vault/disk_index.h"
#include "vault/vault.h"

struct sp_transfer_disk {
	struct sp_disk_source *src;
	const char *name;	    /* the disk's name in the point */
	const char *source;	    /* recorded as "source" */
	const char *format;	    /* recorded format; NULL: the source's */
	struct sp_disk_index *prev; /* base of an incremental, or NULL */
	const char *read_reason;    /* why it is read in full (no @prev);
				       NULL: a generic reason */
	json_t *extra;		    /* borrowed; merged into the entry */
};

/*
 * Transfer @disks into @draft as disk-0.idx, disk-1.idx, ... and append
 * each disk's manifest entry (with its digest) to @disks_out.  The entry
 * says how the disk was read: "read_mode" is "dirty-bitmap" (changed
 * blocks only, over @prev), "full-compare" (read in full, each chunk
 * looked up by its hash, so only chunks unlike those of @prev_manifest's
 * points are stored) or "full" (read in full; @prev_manifest has no disk
 * of that name), "read_reason" why it was not "dirty-bitmap".
 * @prev_manifest (may be NULL) is the VM's newest point: a disk whose size
 * changed since gets a warning in @warnings.  With @check, every
 * transferred slot is read again from its source once the disk is done
 * and compared with what was stored (SP_E_TRANSFER_MISMATCH on a
 * difference).  Errors: those of the sources and the vault,
 * SP_E_TRANSFER_MISMATCH, SP_E_INTERRUPTED.
 */
int sp_transfer_run(struct sp_vault *v, struct sp_point_draft *draft,
		    struct sp_transfer_disk *disks, size_t ndisks,
		    const struct sp_job_opts *o, bool check,
		    json_t *prev_manifest, json_t *disks_out, json_t *warnings,
		    struct sp_error *err);

/*
 * Phase 2 of every backup, written once: abandoned drafts cleaned, a draft
 * begun, the files beside the disks stored (@store_files), the disks
 * transferred (sp_transfer_run), the manifest built (sp_transfer_manifest)
 * and completed with what this kind of point records (@complete), then
 * published.  Whatever fails, nothing half-made is left in the vault.
 */
struct sp_point_writer {
	struct sp_vault *v;
	const char *name;
	struct sp_transfer_disk *disks;
	size_t ndisks;
	const struct sp_job_opts *job;
	bool check;
	json_t *prev;	  /* the VM's newest point, or NULL */
	json_t *warnings; /* the job's warnings, added to (borrowed) */
	const char *consistency;
	const struct timespec *wall;
	uint64_t t_start, t_snap;
	/* Store the files beside the disks in @d; *@config gets the
	 * manifest's "config" entry (left NULL: none).  May be NULL. */
	int (*store_files)(void *ctx, struct sp_point_draft *d, json_t **config,
			   struct sp_error *err);
	/* Add this kind of point's fields to @m.  May be NULL. */
	int (*complete)(void *ctx, json_t *m, struct sp_error *err);
	void *ctx;
};
int sp_point_write(const struct sp_point_writer *w, json_t **manifest_out,
		   struct sp_error *err);

/* Sum "bytes_read", "bytes_new", "bytes_stored" of @disks into @m. */
void sp_transfer_totals(json_t *disks, json_t *m);

/*
 * The fields every point's manifest has (docs/vault-format.md): format,
 * version, name, id, time (@wall), consistency, host, tool, chunk size and
 * id, @disks, @config (may be NULL), @warnings, the two phases' durations
 * from the monotonic times @t_start, @t_snap (snapshot done) and @t_end,
 * and the byte totals.  Takes references to @disks, @config, @warnings.
 * NULL when out of memory.
 */
json_t *sp_transfer_manifest(struct sp_vault *v, const char *name,
			     const char *id, const struct timespec *wall,
			     const char *consistency, json_t *disks,
			     json_t *config, json_t *warnings, uint64_t t_start,
			     uint64_t t_snap, uint64_t t_end);

#endif

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libstillpoint: the public API that the `stillpoint` command (and later the
 * daemon) is built on.  Nothing here prints or exits; every fallible call
 * returns 0 or a negative SP_E_* code and fills a struct sp_error.
 *
 * Ownership: JSON values handed out (json_t *) belong to the caller
 * (json_decref).  A struct sp_vault is used by one job at a time; several
 * processes may use one vault directory at once.
 */
#ifndef STILLPOINT_STILLPOINT_H
#define STILLPOINT_STILLPOINT_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include <stillpoint/error.h>

#define SP_DEFAULT_VAULT "/var/lib/stillpoint"
#define SP_DEFAULT_CHUNK_SIZE (4u << 20)

struct sp_vault;

int sp_vault_init(const char *path, uint32_t chunk_size, struct sp_error *err);
int sp_vault_open(const char *path, struct sp_vault **ret,
		  struct sp_error *err);
void sp_vault_close(struct sp_vault *v);
int sp_vault_list_points(struct sp_vault *v, const char *name, json_t **ret,
			 struct sp_error *err);
int sp_vault_find_point(struct sp_vault *v, const char *spec, json_t **ret,
			struct sp_error *err);
int sp_vault_rebuild_catalog(struct sp_vault *v, struct sp_error *err);
/* Settings from the vault's config, as JSON (path, id, chunk_size, ...). */
json_t *sp_vault_describe(struct sp_vault *v);

/* Progress of a long job, reported about four times a second from the
 * job's own thread.  @total is 0 when unknown. */
struct sp_progress {
	const char *what; /* "backup", "restore", "verify" */
	const char *item; /* the disk being worked on */
	uint64_t done;	  /* bytes of virtual disk covered */
	uint64_t total;
	uint64_t bytes_read; /* bytes actually read */
	uint64_t bytes_new;  /* bytes new to the vault */
};
typedef void (*sp_progress_fn)(void *ctx, const struct sp_progress *p);

/* Common job settings. */
struct sp_job_opts {
	unsigned threads;	 /* workers; 0 = twice the CPUs */
	sp_progress_fn progress; /* may be NULL */
	void *progress_ctx;
	/* When set non-zero (e.g. by a signal handler) the job stops at the
	 * next chunk, publishes nothing and fails with SP_E_INTERRUPTED. */
	volatile sig_atomic_t *cancel;
};

struct sp_backup_opts {
	struct sp_job_opts job;
	const char *name;	  /* the VM's name */
	const char *const *disks; /* paths; disk names are basenames */
	size_t ndisks;
	const char *config_path; /* VM definition to store, or NULL */
};

/*
 * Back up @o->disks as one crash-consistent recovery point of @o->name.
 * On success *@manifest (if non-NULL) receives the point's manifest.
 * Nothing is published unless every disk was read in full and every chunk
 * is durable.  Warnings (e.g. a disk whose size changed since the previous
 * point) are in the manifest's "warnings" array.
 */
int sp_backup_run(struct sp_vault *v, const struct sp_backup_opts *o,
		  json_t **manifest, struct sp_error *err);

struct sp_restore_opts {
	struct sp_job_opts job;
	const char *spec;	 /* NAME or NAME@ID */
	const char *to_dir;	 /* write DIR/<disk name> (may be NULL
				    when every disk is mapped) */
	const char *const *maps; /* "DISK=PATH" (file or block device) */
	size_t nmaps;
	const char *format; /* "raw", "qcow2" or NULL = as source */
	bool force;	    /* overwrite existing files */
};

/*
 * Restore every disk (and the stored config) of a point.  Every chunk is
 * checked against its id before it is written; on any failure the files
 * being written are removed (a block device is left as is and named in
 * the error).  *@result lists the files written.
 */
int sp_restore_run(struct sp_vault *v, const struct sp_restore_opts *o,
		   json_t **result, struct sp_error *err);

struct sp_verify_opts {
	struct sp_job_opts job;
	const char *spec; /* NULL: all points; NAME: all of NAME's;
			     NAME@ID: one point */
};

/*
 * Read back every chunk the selected points need and check it.  *@report
 * receives {"points": N, "chunks": N, "damaged": [{"point", "disk",
 * "ranges": [{"offset","length","error"}], "error"}...]}.  Returns 0 when
 * all is sound, SP_E_POINT_DAMAGED when something is damaged (the report
 * says what), or another error when verify itself could not run.
 */
int sp_verify_run(struct sp_vault *v, const struct sp_verify_opts *o,
		  json_t **report, struct sp_error *err);

/* Parse "4194304", "4M", "1GiB"...; false on bad input. */
bool sp_parse_size(const char *s, uint64_t *out);
/* "1.5 GiB"-style rendering of a byte count into @out. */
void sp_format_bytes(uint64_t bytes, char *out, size_t outlen);

#endif

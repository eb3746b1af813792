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
/* Where a remote vault's server is, when the environment does not say
 * (NULL members: from the environment), and (init) its object lock. */
struct sp_vault_remote_opts {
	const char *endpoint;
	const char *ca_file;
	unsigned object_lock_days; /* 0: no object lock */
	const char *lock_mode;	   /* "GOVERNANCE" (NULL) or "COMPLIANCE" */
};
int sp_vault_init_with(const char *path, uint32_t chunk_size,
		       const struct sp_vault_remote_opts *o,
		       struct sp_error *err);
int sp_vault_open(const char *path, struct sp_vault **ret,
		  struct sp_error *err);
void sp_vault_close(struct sp_vault *v);
int sp_vault_list_points(struct sp_vault *v, const char *name, json_t **ret,
			 struct sp_error *err);
int sp_vault_find_point(struct sp_vault *v, const char *spec, json_t **ret,
			struct sp_error *err);
int sp_vault_rebuild_catalog(struct sp_vault *v, struct sp_error *err);
/*
 * A new vault, encrypted or not (docs/encryption.md).  @encrypt: 1 to
 * encrypt, 0 not to, -1 the default (encrypted for s3:// vaults, not for
 * directories).  An encrypted vault gets a passphrase slot when a
 * passphrase is at hand (STILLPOINT_PASSPHRASE, STILLPOINT_PASSPHRASE_FILE,
 * a prompt on a terminal, asked twice) and a key-file slot for @key_file
 * (made, 32 random bytes, when it does not exist); at least one.  Errors:
 * those of sp_vault_init(), SP_E_VAULT_KEY_NEEDED (no passphrase and no key
 * file), SP_E_USAGE.  @o: as for sp_vault_init_with() (may be NULL).
 */
struct sp_vault_init_opts {
	uint32_t chunk_size; /* 0: SP_DEFAULT_CHUNK_SIZE */
	int encrypt;
	const char *key_file;
};
int sp_vault_init_opts(const char *path, const struct sp_vault_init_opts *io,
		       const struct sp_vault_remote_opts *o,
		       struct sp_error *err);
/* Opening an encrypted vault asks for its key: the key file named by
 * $STILLPOINT_KEY_FILE (a raw key file or a paper key) when set, else a
 * passphrase (STILLPOINT_PASSPHRASE, STILLPOINT_PASSPHRASE_FILE, a prompt).
 * Errors: SP_E_VAULT_KEY_NEEDED, SP_E_VAULT_KEY_WRONG (nothing written). */
bool sp_vault_is_encrypted(const struct sp_vault *v);

/*
 * The key slots of an open encrypted vault (SP_E_USAGE for a vault that
 * is not encrypted).  keys.json is replaced by one atomic put each time.
 *  - list: [{id, kind, label, created, kdf, unlocked}] (no secret);
 *  - add: a passphrase slot (@key_file NULL; the new passphrase from
 *    $STILLPOINT_NEW_PASSPHRASE or a prompt, asked twice) or a key-file
 *    slot (the file made when missing); its id into @id;
 *  - remove: slot @id; the last slot is refused (SP_E_USAGE);
 *  - passwd: a new passphrase slot replaces the slot the vault was opened
 *    with (a key-file or paper-key opening only adds one);
 *  - paper: the paper key, malloc'ed (wipe it before free()).
 */
int sp_vault_keys_list(struct sp_vault *v, json_t **ret, struct sp_error *err);
int sp_vault_keys_add(struct sp_vault *v, const char *key_file,
		      const char *label, char id[9], struct sp_error *err);
int sp_vault_keys_remove(struct sp_vault *v, const char *id,
			 struct sp_error *err);
int sp_vault_keys_passwd(struct sp_vault *v, const char *label, char id[9],
			 struct sp_error *err);
int sp_vault_keys_paper(struct sp_vault *v, char **text, struct sp_error *err);
/* Settings from the vault's config, as JSON (path, id, chunk_size, ...). */
json_t *sp_vault_describe(struct sp_vault *v);
/* The requests made to a remote vault's server since it was opened, as
 * JSON {requests, puts, gets, heads, lists, deletes, retries, bytes_up,
 * bytes_down}; NULL for a local vault. */
json_t *sp_vault_requests(struct sp_vault *v);

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
	const char *name; /* the VM's name */
	/* "PATH" or "PATH:FORMAT" (raw, qcow2); disk names are basenames */
	const char *const *disks;
	size_t ndisks;
	const char *format;	 /* format of disks given without one; NULL:
				    raw, refused if it holds a qcow2 header */
	const char *config_path; /* VM definition to store, or NULL */
	bool check_transfer;	 /* read every transferred slot again and
				    compare it with what was stored */
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

struct sp_domain_backup_opts {
	struct sp_job_opts job;
	const char *uri;	  /* libvirt URI; NULL: $LIBVIRT_DEFAULT_URI,
				     else qemu:///system */
	const char *domain;	  /* name or UUID */
	const char *writers_path; /* writer settings; NULL: the file
				     /etc/stillpoint/writers/DOMAIN.json if it
				     exists, else the defaults */
	const char *require;	  /* NULL, or a consistency level that
				     overrides the settings' "require" */
	int pause_fallback;	  /* -1: as the settings say; 0 or 1 */
	bool full;		  /* read all data even if a checkpoint allows
				     an incremental */
	bool check_transfer;	  /* as in sp_backup_opts */
};

/*
 * Back up a libvirt domain (running, paused or shut off) as one recovery
 * point named after it: every disk at one still point, at the highest
 * consistency reached (application, file-system or crash; the reason is
 * recorded when lower), then its changed blocks (or all allocated data)
 * into the vault.  The guest is never left frozen, even if this process is
 * killed (a watchdog process thaws it).  The manifest has "consistency",
 * "consistency_reason", "phases", "freeze_ms", "writers",
 * "excluded_disks", "checkpoint" and "incremental".
 */
int sp_domain_backup_run(struct sp_vault *v,
			 const struct sp_domain_backup_opts *o,
			 json_t **manifest, struct sp_error *err);

/*
 * Changed-block tracking for raw disks (`stillpoint cbt`, docs/cbt.md):
 * a raw disk gets a qcow2 metadata image over it, kept raw, so that
 * checkpoints can hold its dirty bitmap.
 */
#define SP_CBT_DEFAULT_DIR "/var/lib/libvirt/images/stillpoint-cbt"

struct sp_cbt_opts {
	const char *uri;	    /* libvirt URI; NULL: default */
	const char *domain;	    /* name or UUID */
	const char *const *targets; /* disks ("vdb"); none: every one */
	size_t ntargets;
	const char *meta_dir; /* enable: NULL: SP_CBT_DEFAULT_DIR */
};

/* Enable, disable, or report on (@enable ignored) tracking; *@result is
 * {domain, state, disks: [...], restart_needed} (docs/cbt.md). */
int sp_cbt_enable(const struct sp_cbt_opts *o, json_t **result,
		  struct sp_error *err);
int sp_cbt_disable(const struct sp_cbt_opts *o, json_t **result,
		   struct sp_error *err);
int sp_cbt_status(const struct sp_cbt_opts *o, json_t **result,
		  struct sp_error *err);

/*
 * The writers of a domain and their states (`stillpoint writers`): the
 * configured writers with the last job's outcome (from @v, may be NULL),
 * the file-system freeze, and on Windows guests the VSS writers read live
 * through the guest agent.  *@ret: {"domain", "state", "agent",
 * "agent_error", "guest_os", "writers": [{"name", "where", "kind",
 * "state", "last_error", ...}], "last_job"}.
 */
int sp_domain_writers(struct sp_vault *v, const char *uri, const char *domain,
		      const char *writers_path, json_t **ret,
		      struct sp_error *err);

/* Programs built on libstillpoint call this first thing in main(): when
 * @argv is a watchdog's, it runs the watchdog and returns true (exit with
 * *@status). */
bool sp_watchdog_dispatch(int argc, char **argv, int *status);

/* Test hold point: with STILLPOINT_TEST_HOLD=STEP:MS in the environment,
 * sp_test_hold("STEP") sleeps MS; otherwise it returns at once.  The steps
 * are listed in lib/util/fault.h. */
void sp_test_hold(const char *step);

struct sp_restore_opts {
	struct sp_job_opts job;
	const char *spec;	 /* NAME or NAME@ID */
	const char *to_dir;	 /* write each disk to DIR under the name
				    of lib/job/restore_name.h (may be NULL
				    when every disk is mapped) */
	const char *const *maps; /* "DISK=PATH" (file or block device) */
	size_t nmaps;
	const char *format; /* "raw", "qcow2" or NULL = as source */
	bool force;	    /* overwrite existing files */
	bool no_config;	    /* do not write the stored config out */
	bool only_mapped;   /* restore only the disks in @maps */
	bool no_state;	    /* do not write the stored NVRAM and TPM
			       state files out */
};

/*
 * Restore every disk (and the stored config) of a point.  Every chunk is
 * checked against its id before it is written; on any failure the files
 * being written are removed (a block device is left as is and named in
 * the error).  A point of a UEFI or TPM domain also writes its stored
 * NVRAM as DIR/<its file name> and its TPM state files into
 * DIR/tpm2/ (DIR/tpm1.2/ for a TPM 1.2), each checked against its
 * SHA-256 first.  *@result lists the files written.
 */
int sp_restore_run(struct sp_vault *v, const struct sp_restore_opts *o,
		   json_t **result, struct sp_error *err);

/*
 * Files out of a point, read in an isolated appliance (docs/files.md): the
 * point's disks are served over NBD and read lazily; the host's kernel
 * never mounts a guest file system.  A path is a guest path ("/var/log",
 * resolved through the mount map a live backup recorded) or
 * DISK:PARTITION:/path ("vdb:1:/etc/hosts", "vda::/log", "lvm:VG/LV:/x").
 */
struct sp_files_opts {
	struct sp_job_opts job;
	const char *vault; /* the vault's location (for the NBD server) */
	const char *spec;  /* NAME or NAME@ID */
	const char *const *paths;
	size_t npaths;	    /* list: 0 (the file systems) or 1 */
	const char *to_dir; /* restore: made (0700) when missing */
	bool force;	    /* restore: replace existing files, merge into
			       existing directories */
};

/*
 * List a directory (or one file) of a point like ls -l, or with no path
 * the file systems found.  *@ret: {"name", "id", "path", "device",
 * "entries": [{"name", "type", "mode", "uid", "gid", "size", "mtime",
 * "target"}]} or {"name", "id", "filesystems": [{"device", "type",
 * "label", "uuid", "mountpoint"}], "mounts"}; both with "vault_read"
 * (what the server read from the vault) and "accel".  Errors:
 * SP_E_POINT_NOT_FOUND, SP_E_GUEST_PATH_NOT_FOUND, SP_E_GUEST_PATH_UNMAPPED,
 * SP_E_GUEST_DISK_NOT_FOUND, SP_E_GUEST_FS_NOT_FOUND, SP_E_GUESTFS_FAILED,
 * SP_E_SERVE_FAILED.
 */
int sp_files_list(struct sp_vault *v, const struct sp_files_opts *o,
		  json_t **ret, struct sp_error *err);

/*
 * Copy files and directory trees out of a point into @o->to_dir, each
 * path as DIR/<its last name>, with modes, owners (when root), times and
 * extended attributes (POSIX ACLs included) where the target file system
 * takes them.  Every file is created relative to DIR, exclusively and
 * without following links: no name from the guest can write outside DIR;
 * names no host file system can hold ("..", "/", longer than 255 bytes)
 * are skipped and listed.  *@ret: {"name", "id", "files", "dirs",
 * "symlinks", "bytes", "skipped": [{"path", "reason"}], "xattrs_failed",
 * "vault_read", "accel"}.  Errors: those of sp_files_list(),
 * SP_E_TARGET_EXISTS (without @force), SP_E_TARGET_WRITE_FAILED,
 * SP_E_GUEST_FILE_READ (the appliance could not read a file), and
 * SP_E_INTERRUPTED.
 */
int sp_files_restore(struct sp_vault *v, const struct sp_files_opts *o,
		     json_t **ret, struct sp_error *err);

struct sp_domain_restore_opts {
	struct sp_job_opts job;
	const char *uri;      /* as in sp_domain_backup_opts */
	const char *spec;     /* DOMAIN or DOMAIN@ID */
	const char *new_name; /* define a new domain of this name, or */
	bool in_place;	      /* replace the (shut off) original's disks */
	const char *to_dir;   /* new domain's disks: DIR/NEWNAME-<target>.<fmt>
				 (default /var/lib/libvirt/images) */
	const char *format;   /* "raw", "qcow2", NULL = as the disks were */
	bool force;	      /* overwrite existing image files (new domain) */
};

/*
 * Restore a domain's point.  As a new domain: disks restored into files,
 * the stored definition defined anew with the new name, no UUID (libvirt
 * makes one), no MAC addresses (libvirt makes new ones) and the disks
 * pointing at the new files; a stored UEFI NVRAM becomes a new file
 * (NEWNAME_VARS.fd beside the original's) and a stored TPM state is put
 * in swtpm's directory for the UUID chosen for the copy.  In place: the
 * original must be shut off; each of its disks, its NVRAM and its TPM
 * state files are replaced whole (written aside, renamed over), and its
 * checkpoints are dropped (the new images carry no bitmaps), so the next
 * backup reads all data.  Nothing is defined, and nothing is left, unless
 * every disk and state file was restored.  *@result: {"domain", "uuid",
 * "files" (disks, then {"state", "name", "path"}), "point", "mode"}.
 * Errors also: SP_E_POINT_FILE_CORRUPT.  Errors: SP_E_DOMAIN_EXISTS,
 * SP_E_DOMAIN_STATE, SP_E_DOMAIN_NOT_FOUND, SP_E_LIBVIRT, restore and vault
 * errors.
 */
int sp_domain_restore_run(struct sp_vault *v,
			  const struct sp_domain_restore_opts *o,
			  json_t **result, struct sp_error *err);

/*
 * Instant recovery (lib/job/instant.c): a point of a libvirt domain
 * started as a new domain on its disks served from the vault through
 * local overlays, its disks then copied to local files while it runs and
 * pivoted onto them.  The job record (state.h, kind "instant", made by
 * the caller) follows it: "phase" booting, copying, done; "rto_ms"
 * (from @t0_ms to the guest agent's answer), "copy" {"done", "total"}
 * bytes, "disks" [{"target", "path", "overlay", "pivoted", ...}].
 */
struct sp_state;
struct sp_instant;
struct sp_instant_opts {
	const char *vault;    /* the vault's location, for the server */
	const char *uri;      /* libvirt, as in sp_domain_backup_opts */
	const char *spec;     /* DOMAIN[@ID] */
	const char *new_name; /* must be free */
	const char *to_dir;   /* overlays and copies: DIR/NEW-<target>.* ;
				 NULL: /var/lib/libvirt/images */
	const char *format;   /* the copies' format; NULL: as the disks were */
	bool force;	      /* replace existing overlay, copy, NVRAM files */
	uint64_t bandwidth;   /* copy limit in bytes/s; 0: none */
	int agent_timeout_s;  /* 0: 300 */
	int64_t job;	      /* the job record */
	int64_t t0_ms;	      /* when the command began (UNIX ms) */
	volatile sig_atomic_t *cancel; /* set: the copy stops (resumable) */
};
/* Serve, define, start, wait for the agent.  On failure nothing is left
 * (no domain, overlay or server).  *@result: {"job", "domain", "uuid",
 * "point", "rto_ms", "boot_ms", "disks", "not_attached"}.  Errors:
 * SP_E_DOMAIN_EXISTS, SP_E_TARGET_EXISTS, SP_E_INSTANT_DIR,
 * SP_E_INSTANT_BOOT, SP_E_SERVE_FAILED, point and vault errors. */
int sp_instant_boot(struct sp_vault *v, struct sp_state *st,
		    const struct sp_instant_opts *o, struct sp_instant **ret,
		    json_t **result, struct sp_error *err);
/* Copy every disk not yet pivoted, pivot, define the domain on the
 * copies, stop the server.  Errors: SP_E_INSTANT_SERVE_LOST (the guest is
 * paused), SP_E_INSTANT_COPY, SP_E_INTERRUPTED via @cancel. */
int sp_instant_copy(struct sp_instant *in, struct sp_error *err);
/* Take failed (or orphaned) job @job up again in this process: serve on
 * its socket again and resume (or start) its guest; @bandwidth (bytes/s,
 * 0: none) replaces the job's copy limit, -1 keeps it.  Errors:
 * SP_E_INSTANT_JOB (no such instant recovery, or it is not resumable),
 * SP_E_SERVE_FAILED, SP_E_LIBVIRT. */
int sp_instant_resume(struct sp_state *st, int64_t job, int64_t bandwidth,
		      volatile sig_atomic_t *cancel, struct sp_instant **ret,
		      json_t **result, struct sp_error *err);
/* Whether job record @job is an instant recovery that booted, which
 * sp_instant_resume() can take up (once failed, cancelled or gone). */
bool sp_instant_job_resumable(json_t *job);
/* Record the outcome (@failure NULL: completed) in the job. */
int sp_instant_finish(struct sp_instant *in, const struct sp_error *failure);
/* Stop the server (if still running) and free. */
void sp_instant_free(struct sp_instant *in);

struct sp_verify_opts {
	struct sp_job_opts job;
	const char *spec; /* NULL: all points; NAME: all of NAME's;
			     NAME@ID: one point */
	/* "DISK=PATH" or "DISK=PATH:FORMAT": compare the point's disk DISK
	 * with that image or block device instead (one point: NAME is its
	 * newest) */
	const char *const *against;
	size_t nagainst;
};

/*
 * Read back every chunk the selected points need and check it, and each
 * file a point keeps beside its indexes (config, NVRAM, TPM state)
 * against its recorded SHA-256.  *@report receives {"points": N,
 * "chunks": N, "files": N, "damaged": [{"point", "disk", "ranges":
 * [{"offset","length","error"}], "error"} or {"point", "file", "state",
 * "code", "error"}...]}.  Returns 0 when
 * all is sound, SP_E_POINT_DAMAGED when something is damaged (the report
 * says what), or another error when verify itself could not run.
 */
int sp_verify_run(struct sp_vault *v, const struct sp_verify_opts *o,
		  json_t **report, struct sp_error *err);
/*
 * With @o->against: *@report receives {"point", "disks": [{"disk", "path",
 * "size", "disk_size", "equal", "bytes_differing", "ranges":
 * [{"offset","length"}...], "ranges_omitted"}]}: the byte ranges where the
 * point's disk and the given disk differ, in order (the first 32 of
 * them).  Returns 0 when every compared disk is equal, SP_E_POINT_DIFFERS
 * otherwise; the point's own damage and the disk's read errors are errors.
 */

/* ---- boot verification ---- */

struct sp_verify_boot_opts {
	struct sp_job_opts job;
	const char *vault_path; /* the vault's location, for its NBD server */
	const char *spec;	/* NAME (its newest point) or NAME@ID */
	/* A command run in the guest as "/bin/sh -c PROBE" once its agent
	 * answers; exit 0 means the application answers.  NULL: the agent
	 * answering is the check. */
	const char *probe;
	const char *uri;    /* libvirt URI; NULL: the default */
	unsigned timeout_s; /* boot and probe, from the start; 0: 600 */
	/* Where the scratch directory goes (overlays, NVRAM copy, console
	 * log); NULL: $STILLPOINT_TMPDIR, else /var/tmp. */
	const char *work_dir;
	/* The registry of runs (what to clean after a killed one); NULL:
	 * STATE_DIR/verify-boot. */
	const char *runs_dir;
};

/*
 * Boot a domain's point as a throwaway, isolated domain and prove it: the
 * point's disks served over NBD read-only, each under a qcow2 overlay in a
 * private scratch directory; the definition under a new name
 * ("sp-verify-NAME-ID8"), a new UUID, no network interface, nothing of the
 * original's files; started transient (never defined: nothing survives a
 * host restart) and destroyed when this process's libvirt connection
 * closes.  Waits for the guest agent, runs the probe, then removes all it
 * made; runs that were killed are cleaned up first (their leftovers in
 * *@result's "cleaned").  The result is recorded beside the point as its
 * verified.json note, failures too; RTO is the milliseconds from the
 * request until the probe passed (or the agent answered).
 *
 * *@result: {"point", "domain", "passed", "time", "rto_ms", "boot_ms",
 * "probe", "exit_code", "output", "error", "recorded", "cleaned"}.
 * Errors: SP_E_BOOT_PROBE_FAILED (the probe exited non-zero; *@result
 * holds its exit code and output), SP_E_BOOT_TIMEOUT, SP_E_BOOT_FAILED
 * (libvirt refused to start it, or it stopped), SP_E_USAGE (a point of
 * disk images), SP_E_SERVE_FAILED, SP_E_DOMAIN_EXISTS (a run of the same
 * point is going on), SP_E_LIBVIRT, SP_E_STATE, vault errors.
 */
int sp_verify_boot_run(struct sp_vault *v, const struct sp_verify_boot_opts *o,
		       json_t **result, struct sp_error *err);

/* Remove what killed verify --boot runs left (@runs_dir as above);
 * *@cleaned gets what was removed. */
int sp_verify_boot_cleanup(const char *runs_dir, json_t **cleaned,
			   struct sp_error *err);

/* The last boot verification of point @name@@id (its verified.json), or
 * *@ret NULL when it was never booted.  Vault errors. */
int sp_point_boot_verified(struct sp_vault *v, const char *name, const char *id,
			   json_t **ret, struct sp_error *err);

/* ---- offsite copies ---- */

struct sp_copy_opts {
	struct sp_job_opts job;
	const char *spec; /* NAME (its newest point) or NAME@ID; with @all:
			     every point of VM NAME, or NULL: every point */
	bool all;
	/* Called after each point with its report entry (may be NULL). */
	void (*on_point)(void *ctx, json_t *entry);
	void *on_point_ctx;
};

/*
 * Copy points of @src into @dst (another vault, made with init, of the
 * same chunk size), oldest first, each with only the chunks @dst lacks: a
 * chunk whose id @dst has is not even read when both vaults use plain
 * SHA-256 ids; otherwise each chunk is read, its id computed by @dst (a
 * vault with keyed ids has its own) and stored unless present.  A point
 * @dst has already (same name and id) is skipped.  Each copy keeps the
 * point's name and id, records "copied_from" in its manifest, and appears
 * in @dst only when whole: a copy that is killed leaves no point, and the
 * next run sends only the chunks still missing.  *@report (also on
 * failure, listing what was done): {"from", "to", "from_chunk_id",
 * "to_chunk_id", "ok", "points": [{"point", "status" ("copied" or
 * "exists"), "time", "chunks", "chunks_zero", "chunks_reused",
 * "chunks_read", "chunks_present", "chunks_new", "bytes_read",
 * "bytes_new", "bytes_stored", "bytes_reused", "files", "consistency",
 * "phases": {"transfer", "publish": {"duration_ms"}}, "duration_ms"}],
 * "copied", "skipped", "totals": {...}, "duration_ms", "requests":
 * {"source", "destination"} (each store's request counts, null for a
 * local vault)}.  Errors: SP_E_USAGE (same vault, chunk sizes differ),
 * SP_E_POINT_NOT_FOUND, SP_E_POINT_EXISTS (being written by a live
 * writer), SP_E_INTERRUPTED, chunk, index and vault errors.
 */
int sp_copy_run(struct sp_vault *src, struct sp_vault *dst,
		const struct sp_copy_opts *o, json_t **report,
		struct sp_error *err);

/* ---- policies (see also <stillpoint/state.h>) ---- */
/*
 * `stillpoint serve` (lib/job/serve.c): the disks of point @point
 * ("NAME[@ID]") of vault @v (at @location) as NBD exports, read lazily,
 * until *@stop is set or the server ends.  @ready is called once it
 * listens, with {"point", "socket" or "port", "writable", "exports":
 * [{"export", "name", "size", "format", "uri"}]}.  *@stats: what was read
 * from the vault ({"chunks_read", "bytes_read", "cache_hits"}).  Errors:
 * SP_E_POINT_NOT_FOUND, SP_E_USAGE (no such disk), SP_E_SERVE_FAILED.
 */
struct sp_serve_request {
	const char *point;
	const char *disk;   /* NULL: every disk */
	const char *socket; /* NULL and no port: a private socket */
	int port;
	bool writable;	      /* writes kept in a temporary overlay */
	uint64_t cache_bytes; /* 0: the default */
	volatile sig_atomic_t *stop;
	void (*ready)(void *ctx, json_t *info);
	void *ctx;
};
int sp_serve_run(struct sp_vault *v, const char *location,
		 const struct sp_serve_request *r, json_t **stats,
		 struct sp_error *err);

/*
 * `stillpoint mount` (lib/job/mount_fuse.c): point @point's disks as
 * read-only raw image files in directory @dir (FUSE), one per disk, until
 * the directory is unmounted or the process is interrupted (SIGINT,
 * SIGTERM, SIGHUP).  @ready is called once mounted with {"point", "dir",
 * "files": [{"file", "disk", "size"}]}.  Errors: SP_E_POINT_NOT_FOUND,
 * SP_E_TARGET_NOT_FOUND (no directory), SP_E_MOUNT_FAILED.
 */
struct sp_mount_request {
	const char *point;
	const char *dir;
	uint64_t cache_bytes;
	/* set by the caller's signal handler before FUSE's took over: the
	 * session ends as soon as it starts */
	volatile sig_atomic_t *stop;
	void (*ready)(void *ctx, json_t *info);
	void *ctx;
};
int sp_mount_run(struct sp_vault *v, const struct sp_mount_request *r,
		 json_t **stats, struct sp_error *err);

struct sp_state;

/* Check a policy document (schedule, window, time zone, keep counts).
 * Errors: SP_E_USAGE naming the bad part. */
int sp_policy_check(json_t *policy, struct sp_error *err);

/* When protected VM @vm is due next after @after (UNIX seconds).
 * Errors: SP_E_NOT_PROTECTED, SP_E_POLICY_NOT_FOUND, SP_E_USAGE. */
int sp_policy_next_run(struct sp_state *st, const char *vm, int64_t after,
		       int64_t *next, struct sp_error *err);

/* The schedule of a policy document, parsed once for any number of
 * sp_policy_schedule_next() calls (a scheduler that looks every second).
 * Immutable once made; free with sp_policy_schedule_free().  Errors:
 * SP_E_USAGE naming the bad part, SP_E_NOMEM. */
struct sp_schedule;
int sp_policy_schedule(json_t *policy, struct sp_schedule **ret,
		       struct sp_error *err);
/* When @vm is due next, strictly after @after, under schedule @s. */
int sp_policy_schedule_next(const struct sp_schedule *s, const char *vm,
			    int64_t after, int64_t *next, struct sp_error *err);
void sp_policy_schedule_free(struct sp_schedule *s);

/*
 * Apply protected VM @vm's retention to its points in the vault at
 * @vault_path (NULL: the protection's): points outside the rules go to the
 * vault's trash for the policy's soft_delete_days (nothing moves with
 * @dry_run).  *@report: {"vm", "policy", "dry_run", "kept": [{"id",
 * "time", "why"}], "deleted": [...], "unreadable": [{"point", "error"}]}.
 * The newest point is never pruned; a point that cannot be read is left
 * as it is and listed in "unreadable".
 */
int sp_prune_vm(struct sp_state *st, const char *vault_path, const char *vm,
		bool dry_run, int64_t now, json_t **report,
		struct sp_error *err);

/* Move every point of @vm in the vault at @vault_path to its trash. */
int sp_vault_delete_points_at(const char *vault_path, const char *vm,
			      const char *why, struct sp_error *err);

/* VM names and point ids: [A-Za-z0-9._-]{1,64}, not starting with '.'. */
bool sp_name_is_valid(const char *name);

/* Parse "4194304", "4M", "1GiB"...; false on bad input. */
bool sp_parse_size(const char *s, uint64_t *out);
/* "1.5 GiB"-style rendering of a byte count into @out. */
void sp_format_bytes(uint64_t bytes, char *out, size_t outlen);

/* ---- the trash (soft delete) and garbage collection ---- */

#define SP_TRASH_RETAIN_DAYS 14

/*
 * Soft-delete point @name@@id: it moves (one rename) from points/ to
 * trash/, with a record {deleted_at, expires_at = @now + @retain_days,
 * why}.  It is no longer listed nor restorable, its chunks stay until gc
 * purges it after expiry.  @now is UNIX seconds.  Errors:
 * SP_E_POINT_NOT_FOUND (also when it is in the trash already),
 * SP_E_NAME_INVALID, SP_E_USAGE (retention over 100 years), vault I/O.
 */
int sp_vault_point_trash(struct sp_vault *v, const char *name, const char *id,
			 const char *why, unsigned retain_days, int64_t now,
			 struct sp_error *err);
/* Bring a trashed point back, whole, into points/ and the listings.
 * Errors: SP_E_POINT_NOT_FOUND (not in the trash: never deleted, or
 * purged), SP_E_POINT_EXISTS, SP_E_NAME_INVALID, vault I/O. */
int sp_vault_point_undelete(struct sp_vault *v, const char *name,
			    const char *id, struct sp_error *err);
/* The trash as [{name, id, time, consistency, disks, deleted_at,
 * expires_at, why}], by name then id.  Caller owns it. */
int sp_vault_trash_list(struct sp_vault *v, json_t **ret, struct sp_error *err);
/* Resolve "NAME@ID" (ID may be a unique prefix) to its trash entry.
 * Errors: SP_E_POINT_NOT_FOUND, SP_E_POINT_AMBIGUOUS, SP_E_NAME_INVALID. */
int sp_vault_trash_find(struct sp_vault *v, const char *spec, json_t **ret,
			struct sp_error *err);
/* Remove the trash entries expired at @now; *@purged (may be NULL) counts
 * them.  Their chunks are left for gc. */
int sp_vault_trash_purge(struct sp_vault *v, int64_t now, size_t *purged,
			 struct sp_error *err);

struct sp_gc_opts {
	struct sp_job_opts job; /* only cancel is used */
	bool dry_run;		/* change nothing; report what would be done */
	int64_t now;		/* trash expiry clock (UNIX s); 0 = now */
};

/*
 * Garbage collection, safe while backups run (docs/vault-format.md,
 * "Garbage collection"): purge expired trash, sweep the fossils of the
 * previous run once every backup that ran when they were made is over
 * (resurrecting any a point now needs), and fossilize the chunks no point,
 * trashed point or draft references.  A chunk is thus deleted by the
 * second run that finds it unreferenced.  *@report: {"dry_run",
 * "trash_purged": ["NAME@ID"], "trash_kept": [{"entry", "error"}] (trash
 * entries that cannot be read: kept whatever their age), "swept",
 * "waiting_for": [drafts],
 * "chunks", "referenced", "fossilized", "resurrected", "deleted",
 * "bytes_freed", "bytes_fossilized", "fossils_pending", "young", "state"}.
 * Errors: SP_E_GC_BUSY, SP_E_GC_UNSAFE (a point could not be read: nothing
 * collected), SP_E_INTERRUPTED, vault I/O.
 */
int sp_gc_run(struct sp_vault *v, const struct sp_gc_opts *o, json_t **report,
	      struct sp_error *err);

#endif

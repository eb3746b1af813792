/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The vault: a directory holding chunks, recovery points and a catalog.
 *
 *	stillpoint-vault.json    format marker and settings (written last by
 *init) lock                     flock: shared by every job, gc included
 *	chunks/XYZ/<id>          chunk files (chunk_store.h)
 *	points/<name>/<id>/      published recovery points:
 *	    manifest.json, disk-<n>.idx, config
 *	tmp/                     drafts of points being written, each with a
 *	                         flock'd sibling "<draft>.lock"
 *	catalog.sqlite           listing cache, rebuilt from points/ at will
 *	state/<name>/<file>      per-VM state outside points (the last job's
 *	                         record: writers, consistency, error)
 *	trash/, gc.json, chunks/XYZ/<id>.fossil
 *	                         deleted points and gc's state (gc.h)
 *	reserve                  SP_VAULT_RESERVE_SIZE bytes set aside, so
 *	                         that delete and gc can start on a full vault
 *
 * Invariants:
 *  1. A point appears by one rename(2) of a complete, fsynced draft
 *     directory, after every chunk it names is durable; a reader never sees
 *     half a point.
 *  2. A draft whose lock is not held belongs to a dead process and may be
 *     removed by anyone; one whose lock is held is never touched.
 *  3. The catalog is derived data: points/ is the truth.
 */
#ifndef SP_VAULT_VAULT_H
#define SP_VAULT_VAULT_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "util/error.h"
#include "vault/chunk_store.h"
#include "vault/disk_index.h"
#include "vault/store.h"
#include <stillpoint/stillpoint.h>

#define SP_VAULT_FORMAT_VERSION 1
#define SP_VAULT_CONFIG "stillpoint-vault.json"
/* Space set aside for the cleanup commands of a full vault. */
#define SP_VAULT_RESERVE "reserve"
#define SP_VAULT_RESERVE_SIZE (1u << 20)
#define SP_POINT_ID_MAX 40

struct sp_vault {
	int fd;	    /* the vault directory of a local vault; -1 otherwise */
	char *path; /* where it is: a directory, or s3://bucket/prefix */
	uint32_t chunk_size;
	int zstd_level;
	char vault_id[33];
	struct sp_store *store; /* every object of the vault (store.h) */
	struct sp_chunk_store *chunks;
	int lock_fd;
	/* An encrypted vault (docs/encryption.md): its key check from the
	 * settings, and once unlocked its key; v->store is then a sealing
	 * store over the vault's own store. */
	bool encrypted;
	char key_check[33];
	struct sp_vault_key *key;
	unsigned lock_days; /* object lock of an S3 vault; 0: none */
	char lock_mode[16];
};

struct sp_point_draft {
	struct sp_vault *vault;
	char name[65];
	char id[SP_POINT_ID_MAX];
	struct sp_store_draft *sd;
	/* A vault with object lock: the finished indexes (descriptors of
	 * their files), whose chunks publication locks (draft_lock.c). */
	int *index_fds;
	size_t n_index_fds;
};

/* Create a vault in @path (created if missing; must be empty otherwise).
 * Errors: SP_E_VAULT_EXISTS, SP_E_NOT_A_VAULT (non-empty directory),
 * SP_E_USAGE (bad chunk size), SP_E_VAULT_IO/FULL/PERMISSION. */
int sp_vault_init(const char *path, uint32_t chunk_size, struct sp_error *err);

/* sp_vault_init_with() (stillpoint.h) makes a vault at a directory or at
 * "s3://BUCKET[/P]" (an empty bucket or prefix; the settings object is
 * put create-only). */
/* The text of a new vault's stillpoint-vault.json; @key_check for an
 * encrypted vault, NULL otherwise. */
char *sp_vault_config_text(uint32_t chunk_size, unsigned lock_days,
			   const char *lock_mode, const char *key_check);
/* The s3:// part of sp_vault_init_with() (vault_init_s3.c).  Beyond those
 * of the store: SP_E_VAULT_EXISTS, SP_E_NOT_A_VAULT, and
 * SP_E_VAULT_UNSUPPORTED for a server without conditional writes. */
int sp_vault_init_s3(const char *path, uint32_t chunk_size, bool encrypt,
		     const char *key_file, const struct sp_vault_remote_opts *o,
		     struct sp_error *err);
int sp_vault_open_with(const char *path, const struct sp_vault_remote_opts *o,
		       struct sp_vault **ret, struct sp_error *err);

/* Open and take the shared lock.  Errors: SP_E_VAULT_NOT_FOUND,
 * SP_E_NOT_A_VAULT, SP_E_VAULT_VERSION, SP_E_VAULT_PERMISSION. */
int sp_vault_open(const char *path, struct sp_vault **ret,
		  struct sp_error *err);
void sp_vault_close(struct sp_vault *v);

/* Open (creating it) and flock lock file @file ("lock", SP_TRASH_LOCK,
 * SP_GC_LOCK) of the vault in @vault_fd with @how (LOCK_SH, LOCK_EX, |
 * LOCK_NB); *@fd receives the locked descriptor.  A link or special file
 * in its place is refused, never followed.  Returns 0, -EWOULDBLOCK (busy
 * with LOCK_NB; @err untouched), or SP_E_VAULT_FILE_TYPE and vault I/O
 * codes. */
int sp_vault_lock_open(int vault_fd, const char *vault_path, const char *file,
		       int how, int *fd, struct sp_error *err);

/* Set aside the reserve file when it is missing (best effort: on a full
 * file system there is no room for it, and nothing is left half made).
 * Called by init, by each backup before it writes, and by gc once it has
 * freed space. */
void sp_vault_reserve_make(int vault_fd);
/* Give the reserve's space back to the file system, for a cleanup command
 * (delete, gc) whose own small write met ENOSPC.  True when a reserve was
 * there to release: the caller retries its write once. */
bool sp_vault_reserve_release(struct sp_vault *v);

/* Remove drafts left by dead processes (invariant 2).  Best effort. */
void sp_vault_clean_drafts(struct sp_vault *v);

/* Start a draft for a new point of VM @name.  The id is chosen here. */
int sp_point_draft_begin(struct sp_vault *v, const char *name,
			 struct sp_point_draft **ret, struct sp_error *err);
/* The same for a point whose id is given (a copy of a point of another
 * vault keeps its id).  Errors as above, SP_E_NAME_INVALID for @id. */
int sp_point_draft_begin_as(struct sp_vault *v, const char *name,
			    const char *id, struct sp_point_draft **ret,
			    struct sp_error *err);
/* Write @manifest, sync chunks and the draft, and publish it (invariant 1).
 * Frees the draft whatever the outcome. */
int sp_point_draft_publish(struct sp_point_draft *d, json_t *manifest,
			   struct sp_error *err);
/* Remove the draft and free it. */
void sp_point_draft_discard(struct sp_point_draft *d);

/*
 * Object lock, at publication (before the manifest is put): set the
 * point's "locked_until" in @manifest (the date the store locks the
 * draft's own objects until) and make sure every chunk the draft's
 * finished indexes name stays locked until then, extending the locks the
 * store does not know to last that long, several at a time.  A failure is
 * the first chunk's error, and the point is not published.
 */
int sp_point_draft_lock(struct sp_point_draft *d, json_t *manifest,
			struct sp_error *err);
/* Keep @fd (a finished index of the draft, duplicated) for the above. */
int sp_point_draft_keep_index(struct sp_point_draft *d, int fd,
			      struct sp_error *err);

/* A published point, as job code names it. */
struct sp_point_ref {
	struct sp_vault *vault;
	const char *name;
	const char *id;
};

/* Load and validate the manifest of point @name@@id (as
 * sp_manifest_load_point()).  Errors: SP_E_POINT_NOT_FOUND (no such
 * point), SP_E_MANIFEST_CORRUPT, vault I/O codes. */
int sp_vault_point_manifest(struct sp_vault *v, const char *name,
			    const char *id, json_t **ret, struct sp_error *err);

/* Store @file (config, a state file) in the draft.  Errors: vault I/O
 * codes. */
int sp_point_draft_put(struct sp_point_draft *d, const char *file,
		       const void *data, size_t len, struct sp_error *err);
/* Start the disk index @file of a disk of @disk_size bytes.  A local
 * draft's index is written in place as the job goes (gc reads it to keep
 * the chunks a running backup relies on); another store's index is kept
 * in a scratch file until sp_point_draft_index_end(). */
int sp_point_draft_index_begin(struct sp_point_draft *d, const char *file,
			       uint64_t disk_size, struct sp_index_writer **ret,
			       struct sp_error *err);
/* Finish @w (freed here), store it in the draft, and read it back checked
 * against its checksum *@sha into *@sealed (which the caller frees). */
int sp_point_draft_index_end(struct sp_point_draft *d,
			     struct sp_index_writer *w, uint8_t sha[32],
			     struct sp_disk_index **sealed,
			     struct sp_error *err);

/* A file of a published point, whole (at most @max bytes), in a
 * NUL-terminated malloc'd buffer.  -ENOENT when the point has no such
 * file (@err untouched); otherwise SP_E_POINT_NOT_FOUND,
 * SP_E_POINT_FILE_CORRUPT (not a regular file, too large), vault I/O
 * codes. */
int sp_vault_point_get(struct sp_vault *v, const char *name, const char *id,
		       const char *file, size_t max, char **data, size_t *len,
		       struct sp_error *err);
/* Open the disk index @file of a published point, checked against its
 * checksum @sha (may be NULL).  Errors: SP_E_INDEX_CORRUPT, vault I/O. */
int sp_vault_point_index_open(struct sp_vault *v, const char *name,
			      const char *id, const char *file,
			      const uint8_t *sha, struct sp_disk_index **ret,
			      struct sp_error *err);
/* Open the disk index object @key through the store (into a scratch
 * file; gc reads trashed points' indexes this way). */
int sp_vault_index_open_key(struct sp_vault *v, const char *key,
			    const uint8_t *sha, struct sp_disk_index **ret,
			    struct sp_error *err);
/* Is point @name@@id published (its manifest there) right now? */
bool sp_vault_point_exists(struct sp_vault *v, const char *name,
			   const char *id);
/* The names of the files of a published point, as a JSON array. */
int sp_vault_point_files(struct sp_vault *v, const char *name, const char *id,
			 json_t **ret, struct sp_error *err);
/* Open a published point's directory (O_DIRECTORY fd) of a local vault;
 * SP_E_VAULT_UNSUPPORTED on another store. */
int sp_vault_point_dir(struct sp_vault *v, const char *name, const char *id,
		       int *dirfd, struct sp_error *err);
/* Does the vault's store take chunks to be present on its word
 * (sp_chunk_store_assume), because asking costs a request? */
bool sp_vault_assumes_chunks(const struct sp_vault *v);
/* A store call's result @r as the vault's error: a negative errno becomes
 * SP_E_VAULT_IO "cannot @what '@key' in vault ..."; an SP_E_* code (its
 * message already in @err) and 0 pass through. */
int sp_vault_store_error(struct sp_vault *v, int r, const char *what,
			 const char *key, struct sp_error *err);
/* Is the vault in this host's file system? */
bool sp_vault_is_local(const struct sp_vault *v);
/* Are its points read through the store rather than a directory's fds
 * (a remote vault, or an encrypted one: its files are sealed and it keeps
 * no catalog)? */
bool sp_vault_via_store(const struct sp_vault *v);
/* Open the point file @file of point @name@@id whose @len bytes in @buf
 * were read from a local directory (a draft, the trash): in place, as
 * sp_store_unseal_in_place().  A vault that is not encrypted leaves them
 * as they are. */
int sp_vault_unseal_point_file(struct sp_vault *v, const char *name,
			       const char *id, const char *file, void *buf,
			       size_t len, size_t *outlen);
/* A record a local vault keeps beside its points (the trash's
 * deleted.json, gc.json) as it goes to its file: in an encrypted vault
 * sealed with the logical @key as associated data ("trash/NAME/ID/
 * deleted.json", "gc.json": the key an S3 vault keeps it under), otherwise
 * @text itself.  *@out: free(). */
int sp_vault_record_seal(struct sp_vault *v, const char *key, const char *text,
			 void **out, size_t *outlen, struct sp_error *err);
/* Such a record's @len bytes read from its file, opened in place (a vault
 * that is not encrypted leaves them as they are); -EBADMSG when they do not
 * open under @key. */
int sp_vault_record_open(struct sp_vault *v, const char *key, void *buf,
			 size_t len, size_t *outlen);
/* Internal to lib/vault (vault.c, vault_crypt.c, vault_list.c). */
/* The key slots of a new encrypted vault: a passphrase slot when one is at
 * hand, a key-file slot for @key_file (made when missing).  *@doc gets
 * keys.json (free()), @check the key check. */
int sp_vault_new_keys(const char *path, const char *key_file, char **doc,
		      char check[33], struct sp_error *err);
/* Unlock the vault @v whose settings say it is encrypted (v->key) and put
 * the sealing store in front of v->store.  Errors: SP_E_VAULT_KEY_NEEDED,
 * SP_E_VAULT_KEY_WRONG (nothing written), SP_E_NOT_A_VAULT. */
int sp_vault_unlock(struct sp_vault *v, struct sp_error *err);
/* The largest index read whole (an encrypted vault's): 32 bytes a slot,
 * a 128 TiB disk in 4 MiB chunks, 2 TiB in 64 KiB ones. */
#define SP_INDEX_MAX (1u << 30)
/* Open an index held in memory (@len bytes) through a scratch file. */
int sp_vault_index_from_bytes(const void *bytes, size_t len, const char *name,
			      const uint8_t *sha, struct sp_disk_index **ret,
			      struct sp_error *err);
/* sp_manifest_load_point() for a vault that may be encrypted. */
int sp_vault_manifest_load_dir(struct sp_vault *v, int point_dirfd,
			       const char *name, const char *id, json_t **ret,
			       struct sp_error *err);
/* sp_disk_index_open() for a vault that may be encrypted. */
int sp_vault_index_open_dir(struct sp_vault *v, int point_dirfd,
			    const char *name, const char *id, const char *file,
			    const uint8_t *sha, struct sp_disk_index **ret,
			    struct sp_error *err);

/*
 * All points (of @name, or of every VM when NULL) as a JSON array of
 * manifests, oldest first within a name, names in order; from the catalog,
 * reconciled with points/ first.  Caller owns the array.
 */
int sp_vault_list_points(struct sp_vault *v, const char *name, json_t **ret,
			 struct sp_error *err);

/* Resolve "NAME" (newest point) or "NAME@ID" (ID may be a unique prefix)
 * to its manifest.  Errors: SP_E_POINT_NOT_FOUND, SP_E_POINT_AMBIGUOUS,
 * SP_E_NAME_INVALID. */
int sp_vault_find_point(struct sp_vault *v, const char *spec, json_t **ret,
			struct sp_error *err);

/* The points of VM @name that no listing shows because they cannot be
 * read (directory, manifest), as [{point, error}] (each also logged);
 * a points/@name that cannot be listed is one entry.  Nothing is changed:
 * callers keep such points and report them. */
int sp_vault_unreadable_points(struct sp_vault *v, const char *name,
			       json_t **ret, struct sp_error *err);

/* Every point's "NAME/ID" (of VM @only, or all) as a key of @set, read
 * from the store, not the catalog; what cannot be listed goes into
 * @unreadable (key: its path, value: why). */
int sp_vault_scan_points(struct sp_vault *v, const char *only, json_t *set,
			 json_t *unreadable, struct sp_error *err);

/* Drop and rebuild the catalog from points/. */
int sp_vault_rebuild_catalog(struct sp_vault *v, struct sp_error *err);

/* Write @doc as state/@name/@file (atomically), or read it (NULL when
 * absent).  Errors: SP_E_NAME_INVALID, vault I/O codes. */
int sp_vault_state_put(struct sp_vault *v, const char *name, const char *file,
		       json_t *doc, struct sp_error *err);
int sp_vault_state_get(struct sp_vault *v, const char *name, const char *file,
		       json_t **doc, struct sp_error *err);

/* A note beside published point @name@@id (point_note.c): the JSON
 * object @doc written whole as points/NAME/ID/@file (a "*.json" name that
 * is not the manifest), replacing an earlier one; or read back (*@doc NULL
 * when there is none).  Errors: SP_E_NAME_INVALID, SP_E_POINT_NOT_FOUND
 * (put), SP_E_POINT_FILE_CORRUPT (not JSON, or does not open under the
 * vault's key), vault I/O codes. */
int sp_vault_point_note_put(struct sp_vault *v, const char *name,
			    const char *id, const char *file, json_t *doc,
			    struct sp_error *err);
int sp_vault_point_note_get(struct sp_vault *v, const char *name,
			    const char *id, const char *file, json_t **doc,
			    struct sp_error *err);

/* Load and validate the manifest of point @name@@id from its directory
 * @point_dirfd: it must pass sp_manifest_check() and name that very point
 * (a manifest copied into another point's directory is damage).  Errors:
 * SP_E_MANIFEST_CORRUPT, vault I/O codes. */
int sp_manifest_load_point(int point_dirfd, const char *name, const char *id,
			   json_t **ret, struct sp_error *err);
/* The same from a manifest's text @text of @len bytes (read from any
 * store). */
int sp_manifest_parse_point(const char *text, size_t len, const char *name,
			    const char *id, json_t **ret, struct sp_error *err);
#define SP_MANIFEST_MAX (16u << 20)
/* Validate a parsed manifest's schema (used by load and by the fuzzer):
 * every field a reader relies on, disk names valid and distinct. */
int sp_manifest_check(json_t *m, const char *where, struct sp_error *err);

/* A disk name a point may hold, of @len bytes (no NUL inside): not empty,
 * not "." or "..", no '/' and no control character.  Restore writes each
 * disk under its name. */
bool sp_disk_name_is_valid(const char *name, size_t len);
/* @name for a message: control characters and backslashes as \xNN. */
void sp_disk_name_quote(const char *name, char *out, size_t outlen);

#endif

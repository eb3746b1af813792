/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The storage seam: everything a vault keeps is an object under a key, and
 * a store puts, gets, lists and removes objects.  The vault (vault.c,
 * chunk_store.c, and what is built on them) speaks only to this interface;
 * two stores implement it:
 *
 *	store_local.c   a directory on this host: keys are paths under it
 *	store_s3.c      a bucket (and prefix) of an S3 object store
 *
 * Keys are '/'-separated, relative, made of the characters of point and
 * VM names plus '/':
 *
 *	stillpoint-vault.json           the vault's settings (written last by
 *	                                init: its presence makes a vault)
 *	chunks/XYZ/<id>                 one chunk (XYZ: the id's first three
 *	                                hex digits)
 *	points/<name>/<id>/<file>       the files of a published point
 *	state/<name>/<file>             per-VM records
 *
 * Invariants every store keeps:
 *  1. An object is whole or absent: a reader never sees part of a put.
 *  2. A put with SP_STORE_CREATE never replaces an object; of two writers
 *     of one key exactly one succeeds, the other gets -EEXIST.
 *  3. Once sync() returns 0, every object put before it survives a crash
 *     of this host (a local store fsyncs; an S3 store's puts are durable
 *     when they return).
 *  4. A point appears all at once: draft_publish() is the moment its
 *     manifest becomes visible, after everything else it holds.
 *
 * Return values: 0, or a negative errno the caller words (-ENOENT absent,
 * -EEXIST present, -SP_ENOTREG a local name that holds no regular file)
 * with @err untouched, or an SP_E_* code with @err filled (a remote store
 * says what the server answered).
 */
#ifndef SP_VAULT_STORE_H
#define SP_VAULT_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

struct sp_store;
struct sp_store_draft;

/* Is @r a negative errno (which the caller words) rather than an SP_E_*
 * code (whose message is in the sp_error)?  SP_E_* codes are -1000 and
 * below. */
#define SP_STORE_IS_ERRNO(r) ((r) < 0 && (r) > -1000)

/* A draft's lease (store_s3.c) older than this belongs to a writer that is
 * gone: gc stops waiting for it and drafts_clean() removes its draft. */
#define SP_STORE_LEASE_MAX (24 * 3600)
/* The marker a gc of an object store puts while it deletes chunks; a
 * writer waits while it is there (gc_objects.c). */
#define SP_STORE_SWEEP_KEY "gc/sweep"
/* A counter a gc of an object store raises before it deletes chunks:
 * what a host saw present at one epoch is present while it lasts. */
#define SP_STORE_EPOCH_KEY "gc/epoch"

/* sp_store_ops.put flags */
#define SP_STORE_CREATE 1u /* create only: -EEXIST when the key exists */

/* One entry of a listing: a key directly under the prefix, or (is_dir) a
 * deeper level, given without its trailing '/'.  Return 0 to go on. */
typedef int (*sp_store_list_cb)(void *ctx, const char *name, bool is_dir,
				uint64_t size);
/* One object of a walk: its whole key, size and time of writing (UNIX
 * s, the server's clock). */
typedef int (*sp_store_walk_cb)(void *ctx, const char *key, uint64_t size,
				int64_t mtime);

struct sp_store_counters {
	uint64_t requests, puts, gets, heads, lists, deletes, retentions,
	    retries;
	uint64_t bytes_up, bytes_down;
};

/* The alignment of read_once's buffer and capacity (O_DIRECT's). */
#define SP_STORE_ONCE_ALIGN 4096

struct sp_store_ops {
	const char *kind; /* "local", "s3" */
	void (*close)(struct sp_store *st);
	/* Store @len bytes at @key (invariant 1; with SP_STORE_CREATE,
	 * invariant 2). */
	int (*put)(struct sp_store *st, const char *key, const void *data,
		   size_t len, unsigned flags, struct sp_error *err);
	/* The whole object, into a malloc'd buffer; an object larger than
	 * @max is refused (-EFBIG). */
	int (*get)(struct sp_store *st, const char *key, size_t max,
		   void **data, size_t *len, struct sp_error *err);
	/* Bytes from @off into @buf (capacity @cap); *@got gets the count,
	 * less than @cap only at the object's end.  *@size (may be NULL)
	 * gets the object's whole size. */
	int (*read)(struct sp_store *st, const char *key, uint64_t off,
		    void *buf, size_t cap, size_t *got, uint64_t *size,
		    struct sp_error *err);
	/* 0 when @key exists (*@size its size, @size may be NULL). */
	int (*stat)(struct sp_store *st, const char *key, uint64_t *size,
		    struct sp_error *err);
	/* The names directly under @prefix (a key ending in '/', or "" for
	 * the top), in no particular order. */
	int (*list)(struct sp_store *st, const char *prefix,
		    sp_store_list_cb cb, void *ctx, struct sp_error *err);
	/* Every object under @prefix, at any depth (NULL for a store whose
	 * gc walks its directories itself: the local one). */
	int (*walk)(struct sp_store *st, const char *prefix,
		    sp_store_walk_cb cb, void *ctx, struct sp_error *err);
	/* Remove @key; an absent key is not an error. */
	int (*remove)(struct sp_store *st, const char *key,
		      struct sp_error *err);
	/* Invariant 3. */
	int (*sync)(struct sp_store *st, struct sp_error *err);

	/* Drafts: a point is written as a draft and published at once
	 * (invariant 4).  @name and @id are valid names. */
	int (*draft_begin)(struct sp_store *st, const char *name,
			   const char *id, struct sp_store_draft **ret,
			   struct sp_error *err);
	int (*draft_put)(struct sp_store_draft *d, const char *file,
			 const void *data, size_t len, struct sp_error *err);
	/* Write @manifest (the point's manifest.json) last and make the
	 * point visible.  Frees the draft on success only. */
	int (*draft_publish)(struct sp_store_draft *d, const void *manifest,
			     size_t len, struct sp_error *err);
	/* Remove what the draft wrote and free it. */
	void (*draft_discard)(struct sp_store_draft *d);
	/* Remove drafts whose writers are gone (best effort). */
	void (*drafts_clean)(struct sp_store *st);

	/* Take @key (a chunk) to exist without asking the server: a chunk
	 * a published point names, while this process holds a draft's lease
	 * (gc sweeps nothing while a lease is held; gc_objects.c).  NULL
	 * where asking costs nothing. */
	void (*assume_present)(struct sp_store *st, const char *key);
	/* Is @key a chunk this store knows to exist, without a request?
	 * NULL for a store where sp_store_ops.stat costs nothing; with it,
	 * a chunk not known is put create-only without asking first (one
	 * request, not two, for a new chunk). */
	bool (*known_present)(struct sp_store *st, const char *key);
	/* Object lock (NULL for a store without it: the local one).  Make
	 * sure chunk @key cannot be deleted or overwritten before @until
	 * (UNIX s): nothing when the store knows its lock lasts that long,
	 * else its lock is extended (to @until or later, so that the next
	 * points find it long enough too).  0 as well when the store locks
	 * nothing; -ENOENT when the chunk is absent. */
	int (*ensure_locked)(struct sp_store *st, const char *key,
			     int64_t until, struct sp_error *err);
	/* The date (UNIX s) until which every object of draft @d, its
	 * manifest included, is locked; 0 when the store locks nothing.
	 * Fixed when the draft begins.  NULL: never locks. */
	int64_t (*draft_locked_until)(struct sp_store_draft *d);
	/* As read, from offset 0, for an object read once and not again
	 * soon (a restore reads each chunk once): past the page cache where
	 * the store can, so that its bytes are not copied twice and do not
	 * push out what is cached.  @buf is aligned to SP_STORE_ONCE_ALIGN
	 * and @cap a multiple of it.  NULL where read is all there is. */
	int (*read_once)(struct sp_store *st, const char *key, void *buf,
			 size_t cap, size_t *got, uint64_t *size,
			 struct sp_error *err);
	/* Request counters (NULL for a store that makes no requests). */
	void (*counters)(struct sp_store *st, struct sp_store_counters *out);
};

struct sp_store {
	const struct sp_store_ops *ops;
	char *location; /* for messages: a path, or s3://bucket/prefix */
};

/* A local directory store over the open vault directory @vault_fd (kept
 * open by the caller for the store's life). */
int sp_store_local_open(int vault_fd, const char *path, struct sp_store **ret,
			struct sp_error *err);
/* The directory of a local store; -1 for any other store. */
int sp_store_local_fd(struct sp_store *st);
/* Directory fd of a local store's chunks/ (for gc), -1 otherwise. */
int sp_store_local_chunks_fd(struct sp_store *st);
/* The directory of a local store's draft: its disk indexes are written
 * into it as the job goes, where gc finds the chunks a running backup
 * already relies on (gc.h).  -1 for a draft of any other store. */
int sp_store_local_draft_dirfd(struct sp_store *st, struct sp_store_draft *d);
/* Its lock's descriptor (tests stand for a dead writer by unlocking it). */
int sp_store_local_draft_lockfd(struct sp_store *st, struct sp_store_draft *d);
/* Rename a fossil chunk key's "<key>.fossil" back (gc.h); -EINVAL for
 * another store or key, -ENOENT without a fossil. */
int sp_store_local_resurrect(struct sp_store *st, const char *key);

/* Does @location name an S3 vault ("s3://...")? */
bool sp_store_is_s3(const char *location);
/* An S3 store for "s3://BUCKET[/PREFIX]"; credentials and endpoint from the
 * environment or @opts (see sp_s3_config_from_url()).  Checks the bucket
 * and the credentials. */
struct sp_store_s3_opts {
	const char *endpoint; /* NULL: $AWS_ENDPOINT_URL or AWS */
	const char *ca_file;  /* NULL: system CAs */
};
int sp_store_s3_open(const char *location, const struct sp_store_s3_opts *o,
		     struct sp_store **ret, struct sp_error *err);
/* Does the S3 store's bucket have object lock enabled? */
int sp_store_s3_has_object_lock(struct sp_store *st, bool *enabled,
				struct sp_error *err);
/* From now on, lock every object put under chunks/, points/ and trash/
 * for @days days in @mode ("GOVERNANCE", "COMPLIANCE"); chunks for a
 * margin more (sp_store_s3_lock_margin()). */
void sp_store_s3_set_lock(struct sp_store *st, unsigned days, const char *mode);
/* The margin (s) a chunk is locked for beyond a point's lock: a chunk
 * put or extended at T serves every point published before T + margin
 * with no request.  min(days, 10) days; $STILLPOINT_LOCK_MARGIN (s)
 * replaces it, for tests. */
int64_t sp_store_s3_lock_margin(unsigned days);

/* The key slots of an encrypted vault (vault_key.h); never sealed. */
#define SP_STORE_KEYS "keys.json"

/*
 * A sealing store over @inner (which it owns from then on, and closes):
 * every object but the settings and the key slots is sealed with the
 * vault's data key (AES-256-GCM, seal.h), bound to its logical name
 * (docs/encryption.md).  Sizes (stat, list, read) are plaintext sizes.
 * An object that does not open (damaged, moved under another key, another
 * vault's) is -EBADMSG from get and read, which callers word as the damage
 * of that object (ChunkCorrupt, ManifestCorrupt, IndexCorrupt, ...).
 */
struct sp_vault_key;
extern const struct sp_store_ops sp_store_sealed_ops;
int sp_store_sealed_wrap(struct sp_store *inner, const struct sp_vault_key *key,
			 struct sp_store **ret, struct sp_error *err);
bool sp_store_is_sealed(const struct sp_store *st);
/* Is object @key sealed in an encrypted vault? */
bool sp_store_key_is_sealed(const char *key);
/* The store under a sealing store (@st itself for any other store), and
 * the same for one of its drafts. */
struct sp_store *sp_store_inner(struct sp_store *st);
struct sp_store_draft *sp_store_inner_draft(struct sp_store *st,
					    struct sp_store_draft *d);
/* Open @buf (@len bytes of object @key, read by other means, e.g. a local
 * file) in place: the plaintext moves to @buf's start, *@outlen its
 * length.  A store that does not seal leaves @buf as it is.  -EBADMSG when
 * it does not open. */
int sp_store_unseal_in_place(struct sp_store *st, const char *key, void *buf,
			     size_t len, size_t *outlen);
/* @data sealed as object @key of the sealing store @st, into a malloc'd
 * *@out (for a copy kept elsewhere, e.g. a cache).  -EINVAL for another
 * store or a key that is not sealed. */
int sp_store_seal_copy(struct sp_store *st, const char *key, const void *data,
		       size_t len, void **out, size_t *outlen);

static inline void sp_store_close(struct sp_store *st)
{
	if (st)
		st->ops->close(st);
}

#endif

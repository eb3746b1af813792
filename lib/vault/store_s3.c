// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The S3 store: a vault in a bucket (and prefix) of an S3 object store
 * (store.h), over the S3 client (storage/s3_client.h).  A key is an object
 * key under the prefix.  How each invariant of store.h is kept here:
 *
 *  1. Whole or absent: an S3 PUT is atomic; its body's SHA-256 is signed,
 *     so the server refuses a damaged upload.
 *  2. Create-only: PUT with "If-None-Match: *".  A server without
 *     conditional writes answers VaultFeatureUnsupported; for chunks (whose
 *     content is fixed by their name, so a second write changes nothing)
 *     the store then falls back to HEAD + PUT, and says so once.
 *  3. A PUT is durable when the server answers it: sync() has nothing to
 *     do.
 *  4. A draft's objects are put under points/<name>/<id>/ and its
 *     manifest.json last, create-only: readers take a point to exist when
 *     its manifest does.  While the draft is written, a lease object
 *     leases/<name>@<id> says who writes it and since when (gc keeps what
 *     a lease's draft may rely on; drafts_clean() removes a draft whose
 *     lease is older than SP_S3_LEASE_MAX and whose manifest never came).
 *
 * Chunk presence: a backup asks for each chunk it would reuse or store
 * whether the vault has it.  Asking the server each time would cost one
 * request per chunk; instead the store keeps the chunk keys it has seen
 * exist (put or found), takes the chunks of the base point's indexes to
 * exist (assume_present: gc sweeps nothing while a backup's lease is
 * held), and asks the server only about the others.  What it has seen is
 * kept between jobs in this host's cache (sp_cache_dir()/chunks/<hash of
 * the location>), stamped with the vault's gc epoch (gc/epoch, which a gc
 * raises before it deletes anything): read back only while the epoch is
 * the same, that is while no chunk has been deleted since; otherwise
 * dropped and filled again as jobs go.
 *
 * Object lock (a vault made with --object-lock DAYS): every object a point
 * needs must stay locked at least until the point's locked_until, its
 * chunks included, also those it shares with older points.  The store
 * remembers with each chunk it knows the date it is locked until (the one
 * it put, the one a HEAD told, the one it extended it to; in the cache
 * file as "<key> <UNIX s>", a key alone: not known), and
 * ensure_locked() extends the lock of a chunk only when that date is not
 * late enough.  A new or extended chunk is locked for DAYS plus a margin
 * (sp_store_s3_lock_margin()), so a chunk that every backup reuses is
 * extended at most once per margin.  A chunk known to be locked beyond
 * the next SP_STORE_LEASE_MAX cannot be deleted by a gc meanwhile (a gc
 * never bypasses a lock): it is kept from the cache across gc epochs.
 */
#include "vault/store.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "storage/s3_client.h"
#include "util/cleanup.h"
#include "util/fileio.h"
#include "util/log.h"
#include "util/text.h"

#define SP_S3_LEASE_MAX SP_STORE_LEASE_MAX
/* How long a writer waits for a gc's sweep to end (tests shorten it). */
#define SWEEP_WAIT_S 900
/* The most a chunk is locked for beyond a point's lock (store.h). */
#define LOCK_MARGIN_DAYS 10

/* Chunk keys, each with the date (UNIX s) it is known to be locked
 * until, 0 when not known. */
struct key_set {
	char **slots;
	int64_t *until;
	size_t cap, n;
};

struct store_s3 {
	struct sp_store base;
	struct sp_s3 *s3;
	bool no_conditional; /* the server refused If-None-Match */
	unsigned lock_days;  /* object lock of what points need */
	int64_t lock_margin; /* chunks: s beyond lock_days (store.h) */
	char lock_mode[16];
	pthread_mutex_t lock;
	struct key_set present; /* chunk keys known to exist */
	char epoch[64];		/* gc/epoch when the lease was taken, "" */
	bool present_loaded;
};

struct sp_store_draft {
	struct store_s3 *st;
	char name[65];
	char id[64];
	char lease[160];
	int64_t locked_until; /* of every object of the draft; 0 */
	json_t *written;      /* file names put so far */
};

static struct store_s3 *s3_of(struct sp_store *st)
{
	return (struct store_s3 *)st;
}

static bool is_chunk_key(const char *key)
{
	return strncmp(key, "chunks/", 7) == 0;
}

/* ---- the set of chunk keys known present ------------------------------- */

static uint64_t key_hash(const char *k)
{
	uint64_t h = 1469598103934665603ull;

	for (; *k; k++)
		h = (h ^ (unsigned char)*k) * 1099511628211ull;
	return h;
}

/* The slot of @k, or -1. */
static ssize_t set_find(const struct key_set *s, const char *k)
{
	if (!s->cap)
		return -1;
	for (size_t i = key_hash(k) & (s->cap - 1);; i = (i + 1) & (s->cap - 1))
		if (!s->slots[i])
			return -1;
		else if (!strcmp(s->slots[i], k))
			return (ssize_t)i;
}

static bool set_has(const struct key_set *s, const char *k)
{
	return set_find(s, k) >= 0;
}

/* Add @k, or raise its date to @until. */
static void set_add(struct key_set *s, const char *k, int64_t until)
{
	ssize_t at = set_find(s, k);

	if (at >= 0) {
		if (s->until[at] < until)
			s->until[at] = until;
		return;
	}
	if ((s->n + 1) * 2 > s->cap) {
		size_t ncap = s->cap ? s->cap * 2 : 1024;
		char **ns = calloc(ncap, sizeof(*ns));
		int64_t *nu = calloc(ncap, sizeof(*nu));
		if (!ns || !nu) {
			free(ns);
			free(nu);
			return; /* a cache: forgetting is safe */
		}
		for (size_t i = 0; i < s->cap; i++) {
			if (!s->slots[i])
				continue;
			size_t j = key_hash(s->slots[i]) & (ncap - 1);
			while (ns[j])
				j = (j + 1) & (ncap - 1);
			ns[j] = s->slots[i];
			nu[j] = s->until[i];
		}
		free(s->slots);
		free(s->until);
		s->slots = ns;
		s->until = nu;
		s->cap = ncap;
	}
	char *dup = strdup(k);
	if (!dup)
		return;
	size_t i = key_hash(k) & (s->cap - 1);
	while (s->slots[i])
		i = (i + 1) & (s->cap - 1);
	s->slots[i] = dup;
	s->until[i] = until;
	s->n++;
}

static void set_release(struct key_set *s)
{
	for (size_t i = 0; i < s->cap; i++)
		free(s->slots[i]);
	free(s->slots);
	free(s->until);
	memset(s, 0, sizeof(*s));
}

static bool known_present(struct store_s3 *s, const char *key)
{
	pthread_mutex_lock(&s->lock);
	bool r = set_has(&s->present, key);
	pthread_mutex_unlock(&s->lock);
	return r;
}

/* The date chunk @key is known to be locked until; 0 when not known. */
static int64_t known_until(struct store_s3 *s, const char *key)
{
	pthread_mutex_lock(&s->lock);
	ssize_t at = set_find(&s->present, key);
	int64_t until = at >= 0 ? s->present.until[at] : 0;
	pthread_mutex_unlock(&s->lock);
	return until;
}

/* Chunk @key exists, locked until @until (0: not known). */
static void note_present(struct store_s3 *s, const char *key, int64_t until)
{
	pthread_mutex_lock(&s->lock);
	set_add(&s->present, key, until);
	pthread_mutex_unlock(&s->lock);
}

/* The date a point's own objects put now are locked until. */
static int64_t point_lock_until(const struct store_s3 *s)
{
	return (int64_t)time(NULL) + 86400 * (int64_t)s->lock_days;
}

/* The date a chunk put or extended now is locked until. */
static int64_t chunk_lock_until(const struct store_s3 *s)
{
	return point_lock_until(s) + s->lock_margin;
}

/* ---- the store operations ------------------------------------------- */

/* Put @key, locked until @retain_until (0: by the rule of its kind). */
static int put_locked(struct store_s3 *s, const char *key, const void *data,
		      size_t len, unsigned flags, int64_t retain_until,
		      struct sp_error *err)
{
	struct sp_s3_put_opts o = {0};
	bool chunk = is_chunk_key(key);
	int r;

	if (chunk)
		flags |= SP_STORE_CREATE;
	if (s->lock_days && (chunk || !strncmp(key, "points/", 7) ||
			     !strncmp(key, "trash/", 6))) {
		if (!retain_until)
			retain_until =
			    chunk ? chunk_lock_until(s) : point_lock_until(s);
		o.retain_until = retain_until;
		o.lock_mode = s->lock_mode;
	}
	if ((flags & SP_STORE_CREATE) && !s->no_conditional)
		o.flags = SP_S3_IF_NONE_MATCH;
	if ((flags & SP_STORE_CREATE) && s->no_conditional) {
		if (!chunk)
			return sp_error_set(
			    err, SP_E_VAULT_UNSUPPORTED,
			    "the object store of '%s' cannot create '%s' "
			    "only if it is absent (no conditional writes): "
			    "use a server that has them (Ceph RGW, AWS S3, "
			    "MinIO)",
			    s->base.location, key);
		struct sp_s3_object_info info;
		r = sp_s3_head_info(s->s3, key, &info, err);
		if (r == 0) {
			note_present(s, key, info.retain_until);
			return -EEXIST;
		}
		if (r != -ENOENT)
			return r;
	}
	r = sp_s3_put(s->s3, key, data, len, &o, err);
	if (r == SP_E_VAULT_UNSUPPORTED && chunk && !s->no_conditional) {
		sp_log(SP_LOG_WARNING,
		       "the object store of '%s' has no conditional writes: "
		       "chunks are checked before they are written",
		       s->base.location);
		s->no_conditional = true;
		sp_error_clear(err);
		return put_locked(s, key, data, len, flags, retain_until, err);
	}
	if (chunk && r == 0)
		note_present(s, key, o.retain_until);
	else if (chunk && r == -EEXIST)
		note_present(s, key, 0);
	return r;
}

static int s3_put(struct sp_store *st, const char *key, const void *data,
		  size_t len, unsigned flags, struct sp_error *err)
{
	return put_locked(s3_of(st), key, data, len, flags, 0, err);
}

static int s3_get(struct sp_store *st, const char *key, size_t max, void **data,
		  size_t *len, struct sp_error *err)
{
	int r = sp_s3_get(s3_of(st)->s3, key, max, data, len, err);

	if (r == SP_E_VAULT_REMOTE && strstr(err->msg, "larger than"))
		return -EFBIG;
	return r;
}

static int s3_read(struct sp_store *st, const char *key, uint64_t off,
		   void *buf, size_t cap, size_t *got, uint64_t *size,
		   struct sp_error *err)
{
	struct store_s3 *s = s3_of(st);
	int r = sp_s3_get_range(s->s3, key, off, cap, buf, got, err);

	if (r < 0)
		return r;
	if (size) {
		if (*got < cap)
			*size = off + *got;
		else
			r = sp_s3_head(s->s3, key, size, NULL, err);
	}
	return r;
}

static int s3_stat(struct sp_store *st, const char *key, uint64_t *size,
		   struct sp_error *err)
{
	struct store_s3 *s = s3_of(st);
	bool chunk = is_chunk_key(key);
	struct sp_s3_object_info info;
	int r;

	if (chunk && !size && known_present(s, key))
		return 0;
	r = sp_s3_head_info(s->s3, key, &info, err);
	if (r == 0 && chunk)
		note_present(s, key, info.retain_until);
	if (r == 0 && size)
		*size = info.size;
	return r;
}

struct list_ctx {
	size_t skip; /* length of the listed prefix */
	sp_store_list_cb cb;
	void *ctx;
};

static int list_one(void *ctx, const char *key, bool is_prefix, uint64_t size,
		    int64_t mtime)
{
	struct list_ctx *l = ctx;
	char name[512];
	size_t n;

	(void)mtime;
	if (strlen(key) <= l->skip)
		return 0;
	snprintf(name, sizeof(name), "%s", key + l->skip);
	n = strlen(name);
	if (is_prefix && n > 0 && name[n - 1] == '/')
		name[n - 1] = '\0';
	if (!name[0])
		return 0;
	return l->cb(l->ctx, name, is_prefix, size);
}

static int s3_list(struct sp_store *st, const char *prefix, sp_store_list_cb cb,
		   void *ctx, struct sp_error *err)
{
	struct list_ctx l = {strlen(prefix), cb, ctx};

	return sp_s3_list(s3_of(st)->s3, prefix, "/", list_one, &l, err);
}

struct walk_ctx {
	sp_store_walk_cb cb;
	void *ctx;
};

static int walk_one(void *ctx, const char *key, bool is_prefix, uint64_t size,
		    int64_t mtime)
{
	struct walk_ctx *w = ctx;

	return is_prefix ? 0 : w->cb(w->ctx, key, size, mtime);
}

static int s3_walk(struct sp_store *st, const char *prefix, sp_store_walk_cb cb,
		   void *ctx, struct sp_error *err)
{
	struct walk_ctx w = {cb, ctx};

	return sp_s3_list(s3_of(st)->s3, prefix, NULL, walk_one, &w, err);
}

static int s3_remove(struct sp_store *st, const char *key, struct sp_error *err)
{
	return sp_s3_delete(s3_of(st)->s3, key, err);
}

static bool s3_known_present(struct sp_store *st, const char *key)
{
	struct store_s3 *s = s3_of(st);
	struct sp_error e;

	if (known_present(s, key))
		return true;
	/* A bucket with object lock keeps versions, and RGW ignores
	 * If-None-Match there: a PUT of a chunk that exists would store it
	 * again.  Ask first. */
	return (s->lock_days || s->no_conditional) &&
	       s3_stat(st, key, NULL, &e) == 0;
}

static void s3_assume_present(struct sp_store *st, const char *key)
{
	note_present(s3_of(st), key, 0);
}

static int s3_ensure_locked(struct sp_store *st, const char *key, int64_t until,
			    struct sp_error *err)
{
	struct store_s3 *s = s3_of(st);
	int64_t want, held = 0;
	int r;

	if (!s->lock_days || known_until(s, key) >= until)
		return 0;
	want = chunk_lock_until(s);
	if (want < until)
		want = until;
	r = sp_s3_put_retention(s->s3, key, want, s->lock_mode, &held, err);
	if (r == 0)
		note_present(s, key, held);
	return r;
}

static int s3_sync(struct sp_store *st, struct sp_error *err)
{
	(void)st;
	(void)err;
	return 0; /* invariant 3: an answered PUT is durable */
}

/* ---- drafts ------------------------------------------------------------ */

/* The presence cache's file for this vault. */
static bool present_path(struct store_s3 *s, char *out, size_t cap)
{
	char dir[2048];

	if (!sp_cache_dir(dir, sizeof(dir)))
		return false;
	return snprintf(out, cap, "%s/chunks/%016llx", dir,
			(unsigned long long)key_hash(s->base.location)) <
	       (int)cap;
}

static int list_present(void *ctx, const char *key, bool is_prefix,
			uint64_t size, int64_t mtime)
{
	(void)mtime;
	if (!is_prefix && size && is_chunk_key(key))
		note_present(ctx, key, 0); /* its lock date is not listed */
	return 0;
}

/* The host has no usable record of the vault's chunks (@why): list them
 * (one request per 1000 chunks) rather than send each new chunk's bytes
 * only to hear that the vault has it.  A lease is held, so no sweep can
 * remove a listed chunk before the lease ends.  A failed listing only
 * costs what it would have saved. */
static void rebuild_present(struct store_s3 *s, const char *why)
{
	struct sp_error e;

	if (sp_s3_list(s->s3, "chunks/", NULL, list_present, s, &e) < 0)
		sp_log(SP_LOG_DEBUG,
		       "the chunks of '%s' could not be listed (%s): each new "
		       "chunk is written only if absent",
		       s->base.location, e.msg);
	else
		sp_log(SP_LOG_DEBUG,
		       "chunk presence of '%s' rebuilt by listing (%s): %zu "
		       "chunks",
		       s->base.location, why, s->present.n);
}

/* Once a lease is held (no sweep can start before it ends): the vault's
 * gc epoch, and the cached chunk keys when they were seen at that epoch. */
static void load_present(struct store_s3 *s)
{
	sp_autofree char *text = NULL;
	sp_autofree char *cached = NULL;
	struct sp_error e;
	char path[4096];
	size_t len = 0;

	if (s->present_loaded)
		return;
	s->present_loaded = true;
	if (sp_s3_get(s->s3, SP_STORE_EPOCH_KEY, 64, (void **)&text, &len,
		      &e) == 0)
		snprintf(s->epoch, sizeof(s->epoch), "%.*s", (int)len, text);
	else
		snprintf(s->epoch, sizeof(s->epoch), "0");
	if (!present_path(s, path, sizeof(path)) ||
	    sp_file_read(AT_FDCWD, path, 256u << 20, &cached, &len) < 0) {
		rebuild_present(s, "none on this host");
		return;
	}
	char *line = cached, *nl = strchr(line, '\n');
	if (!nl || strncmp(line, "epoch ", 6)) {
		rebuild_present(s, "its record is unreadable");
		return;
	}
	/* At another epoch chunks may have been deleted since: only those
	 * locked for longer than a job lasts are still certain. */
	bool same_epoch = (size_t)(nl - line - 6) == strlen(s->epoch) &&
			  !strncmp(line + 6, s->epoch, strlen(s->epoch));
	int64_t locked_enough = (int64_t)time(NULL) + SP_STORE_LEASE_MAX;
	for (line = nl + 1; (nl = strchr(line, '\n')); line = nl + 1) {
		char *sp;
		int64_t until = 0;
		*nl = '\0'; /* first: a line without a date ends here */
		sp = strchr(line, ' ');
		if (sp) {
			*sp = '\0';
			until = strtoll(sp + 1, NULL, 10);
		}
		if (strncmp(line, "chunks/", 7) ||
		    (!same_epoch && until <= locked_enough))
			continue;
		note_present(s, line, until > 0 ? until : 0);
	}
	if (!same_epoch)
		rebuild_present(s, "a gc ran since it was written");
}

/* Keep what this job saw for the next one (best effort). */
static void save_present(struct store_s3 *s)
{
	char path[4096], *slash;
	struct sp_error e;
	size_t cap = 64, n = 0;
	char *buf;
	int dfd;

	if (!s->present_loaded || !s->epoch[0] ||
	    !present_path(s, path, sizeof(path)))
		return;
	cap += s->present.n * 100;
	buf = malloc(cap);
	if (!buf)
		return;
	n = (size_t)snprintf(buf, cap, "epoch %s\n", s->epoch);
	for (size_t i = 0; i < s->present.cap; i++)
		if (s->present.slots[i] && s->present.until[i] > 0)
			n += (size_t)snprintf(buf + n, cap - n, "%s %lld\n",
					      s->present.slots[i],
					      (long long)s->present.until[i]);
		else if (s->present.slots[i])
			n += (size_t)snprintf(buf + n, cap - n, "%s\n",
					      s->present.slots[i]);
	slash = strrchr(path, '/');
	*slash = '\0';
	if (sp_mkdir_parents(path) == 0 &&
	    (dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		sp_file_publish(dfd, slash + 1, buf, n, &e);
		close(dfd);
	}
	free(buf);
}

static int collect_keys(void *ctx, const char *key, bool is_prefix,
			uint64_t size, int64_t mtime);

/* The lease @key exists: does it belong to a process of this host that is
 * gone (killed before it published or discarded its draft)?  Then its
 * draft is abandoned, and a rerun of the same point (a copy keeps the
 * point's id) takes it over at once rather than after SP_S3_LEASE_MAX. */
static bool lease_abandoned_here(struct store_s3 *s, const char *key)
{
	sp_autofree char *text = NULL;
	char host[128] = "";
	struct sp_error e;
	size_t len = 0;
	json_t *l;
	json_int_t pid;
	bool dead = false;

	if (sp_s3_get(s->s3, key, 4096, (void **)&text, &len, &e) < 0)
		return false;
	l = json_loadb(text, len, 0, NULL);
	gethostname(host, sizeof(host) - 1);
	pid = json_integer_value(json_object_get(l, "pid"));
	if (json_is_string(json_object_get(l, "host")) &&
	    !strcmp(json_string_value(json_object_get(l, "host")), host) &&
	    pid > 0 && pid != getpid() && pid <= INT32_MAX &&
	    kill((pid_t)pid, 0) < 0 && errno == ESRCH)
		dead = true;
	json_decref(l);
	return dead;
}

/* Remove the abandoned draft of lease @lease (points/@name/@id/ unless it
 * has a manifest: then it is a point, and nothing of it is touched), and
 * the lease.  0 when the lease is gone. */
static int draft_take_over(struct store_s3 *s, const char *lease,
			   const char *name, const char *id,
			   struct sp_error *err)
{
	char prefix[200], mkey[260];
	json_t *keys = json_array(), *k;
	uint64_t size;
	size_t i;
	int r;

	if (!keys)
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	snprintf(prefix, sizeof(prefix), "points/%s/%s/", name, id);
	snprintf(mkey, sizeof(mkey), "%smanifest.json", prefix);
	r = sp_s3_head(s->s3, mkey, &size, NULL, err);
	if (r == 0)
		r = -EEXIST;
	else if (r == -ENOENT)
		r = sp_s3_list(s->s3, prefix, NULL, collect_keys, keys, err);
	json_array_foreach(keys, i, k) if (r == 0) r =
	    sp_s3_delete(s->s3, json_string_value(k), err);
	json_decref(keys);
	if (r == 0) {
		sp_log(SP_LOG_INFO,
		       "taking over draft %s@%s of a process of this host "
		       "that is gone",
		       name, id);
		r = sp_s3_delete(s->s3, lease, err);
	}
	return r;
}

/* Put the draft's lease, then make sure no gc sweeps: a writer relies on
 * chunks only once both hold (gc_objects.c).  While a sweep runs, the
 * lease is taken back and the writer waits for the sweep to end. */
static int take_lease(struct store_s3 *s, struct sp_store_draft *d,
		      const char *text, struct sp_error *err)
{
	const char *w = getenv("STILLPOINT_GC_WAIT");
	int64_t wait_s = w && *w ? atoll(w) : SWEEP_WAIT_S;
	time_t until = time(NULL) + (time_t)wait_s;
	bool said = false, took_over = false;
	uint64_t size;
	int r;

	for (;;) {
		r = s3_put(&s->base, d->lease, text, strlen(text),
			   SP_STORE_CREATE, err);
		if (r == -EEXIST && !took_over &&
		    lease_abandoned_here(s, d->lease) &&
		    draft_take_over(s, d->lease, d->name, d->id, err) == 0) {
			took_over = true;
			continue;
		}
		if (r == -EEXIST)
			return sp_error_set(err, SP_E_POINT_EXISTS,
					    "point '%s@%s' is being written "
					    "already",
					    d->name, d->id);
		if (r < 0)
			return r;
		r = sp_s3_head(s->s3, SP_STORE_SWEEP_KEY, &size, NULL, err);
		if (r == -ENOENT) {
			load_present(s);
			return 0;
		}
		sp_s3_delete(s->s3, d->lease, err);
		if (r < 0)
			return r;
		if (time(NULL) >= until)
			return sp_error_set(err, SP_E_GC_BUSY,
					    "a gc has been deleting chunks of "
					    "'%s' for too long (if no gc runs, "
					    "remove its '%s')",
					    s->base.location,
					    SP_STORE_SWEEP_KEY);
		if (!said)
			sp_log(SP_LOG_INFO,
			       "a gc is deleting chunks of '%s': waiting",
			       s->base.location);
		said = true;
		sleep(2);
	}
}

static int s3_draft_begin(struct sp_store *st, const char *name, const char *id,
			  struct sp_store_draft **ret, struct sp_error *err)
{
	struct store_s3 *s = s3_of(st);
	struct sp_store_draft *d = calloc(1, sizeof(*d));
	char host[128] = "", started[32];
	sp_autofree char *text = NULL;
	json_t *lease;
	int r;

	if (!d)
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	d->st = s;
	d->written = json_array();
	snprintf(d->name, sizeof(d->name), "%s", name);
	snprintf(d->id, sizeof(d->id), "%s", id);
	snprintf(d->lease, sizeof(d->lease), "leases/%s@%s", name, id);
	if (s->lock_days)
		d->locked_until = point_lock_until(s);
	gethostname(host, sizeof(host) - 1);
	sp_time_rfc3339(time(NULL), started, sizeof(started));
	lease = json_pack("{s:s, s:s, s:s, s:I, s:s}", "point", d->lease + 7,
			  "host", host, "started", started, "pid",
			  (json_int_t)getpid(), "kind", "backup");
	text = lease ? json_dumps(lease, JSON_COMPACT) : NULL;
	json_decref(lease);
	if (!text || !d->written) {
		json_decref(d->written);
		free(d);
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	}
	r = take_lease(s, d, text, err);
	if (r < 0) {
		json_decref(d->written);
		free(d);
		return r;
	}
	*ret = d;
	return 0;
}

static void draft_key(const struct sp_store_draft *d, const char *file,
		      char *out, size_t cap)
{
	snprintf(out, cap, "points/%s/%s/%s", d->name, d->id, file);
}

static int s3_draft_put(struct sp_store_draft *d, const char *file,
			const void *data, size_t len, struct sp_error *err)
{
	char key[300];
	int r;

	draft_key(d, file, key, sizeof(key));
	r = put_locked(d->st, key, data, len, 0, d->locked_until, err);
	if (r == 0)
		json_array_append_new(d->written, json_string(file));
	return r;
}

static void draft_free(struct sp_store_draft *d)
{
	json_decref(d->written);
	free(d);
}

static int s3_draft_publish(struct sp_store_draft *d, const void *manifest,
			    size_t len, struct sp_error *err)
{
	struct sp_error e2;
	char key[300];
	int r;

	draft_key(d, "manifest.json", key, sizeof(key));
	r = put_locked(d->st, key, manifest, len, SP_STORE_CREATE,
		       d->locked_until, err);
	if (r == -EEXIST)
		r = sp_error_set(err, SP_E_POINT_EXISTS,
				 "point '%s@%s' exists already", d->name,
				 d->id);
	if (r < 0)
		return r;
	if (sp_s3_delete(d->st->s3, d->lease, &e2) < 0)
		sp_log(SP_LOG_WARNING,
		       "cannot remove lease '%s' (%s): the point is published; "
		       "the lease expires by itself",
		       d->lease, e2.msg);
	draft_free(d);
	return 0;
}

static int64_t s3_draft_locked_until(struct sp_store_draft *d)
{
	return d->locked_until;
}

static void s3_draft_discard(struct sp_store_draft *d)
{
	struct sp_error e;
	json_t *f;
	size_t i;

	if (!d)
		return;
	json_array_foreach(d->written, i, f)
	{
		char key[300];
		draft_key(d, json_string_value(f), key, sizeof(key));
		if (sp_s3_delete(d->st->s3, key, &e) < 0)
			sp_log(SP_LOG_WARNING,
			       "cannot remove '%s' of a discarded draft: %s",
			       key, e.msg);
	}
	if (sp_s3_delete(d->st->s3, d->lease, &e) < 0)
		sp_log(SP_LOG_WARNING, "cannot remove lease '%s': %s", d->lease,
		       e.msg);
	draft_free(d);
}

struct stale {
	json_t *leases;
	int64_t now;
};

static int note_stale(void *ctx, const char *key, bool is_prefix, uint64_t size,
		      int64_t mtime)
{
	struct stale *st = ctx;

	(void)size;
	if (!is_prefix && mtime > 0 && st->now - mtime > SP_S3_LEASE_MAX)
		json_array_append_new(st->leases, json_string(key));
	return 0;
}

static int collect_keys(void *ctx, const char *key, bool is_prefix,
			uint64_t size, int64_t mtime)
{
	(void)size;
	(void)mtime;
	if (!is_prefix)
		json_array_append_new(ctx, json_string(key));
	return 0;
}

static void s3_drafts_clean(struct sp_store *st)
{
	struct store_s3 *s = s3_of(st);
	struct stale stale = {json_array(), (int64_t)time(NULL)};
	struct sp_error e;
	json_t *l;
	size_t i;

	if (!stale.leases ||
	    sp_s3_list(s->s3, "leases/", NULL, note_stale, &stale, &e) < 0) {
		json_decref(stale.leases);
		return;
	}
	json_array_foreach(stale.leases, i, l)
	{
		const char *point = json_string_value(l) + 7;
		const char *at = strchr(point, '@');
		char prefix[200], mkey[260];
		uint64_t size;
		json_t *keys = json_array();
		json_t *k;
		size_t j;

		if (!at || !keys) {
			json_decref(keys);
			continue;
		}
		snprintf(prefix, sizeof(prefix), "points/%.*s/%s/",
			 (int)(at - point), point, at + 1);
		snprintf(mkey, sizeof(mkey), "%smanifest.json", prefix);
		if (sp_s3_head(s->s3, mkey, &size, NULL, &e) == -ENOENT &&
		    sp_s3_list(s->s3, prefix, NULL, collect_keys, keys, &e) ==
			0) {
			sp_log(SP_LOG_INFO, "removing abandoned draft %s",
			       point);
			json_array_foreach(keys, j, k)
			    sp_s3_delete(s->s3, json_string_value(k), &e);
		}
		json_decref(keys);
		sp_s3_delete(s->s3, json_string_value(l), &e);
	}
	json_decref(stale.leases);
}

static void s3_counters(struct sp_store *st, struct sp_store_counters *out)
{
	struct sp_s3_stats s;

	sp_s3_stats_get(s3_of(st)->s3, &s);
	*out = (struct sp_store_counters){
	    .requests = s.requests,
	    .puts = s.puts,
	    .gets = s.gets,
	    .heads = s.heads,
	    .lists = s.lists,
	    .deletes = s.deletes,
	    .retentions = s.retentions,
	    .retries = s.retries,
	    .bytes_up = s.bytes_up,
	    .bytes_down = s.bytes_down,
	};
}

static void s3_close(struct sp_store *st)
{
	struct store_s3 *s = s3_of(st);

	save_present(s);
	sp_s3_close(s->s3);
	set_release(&s->present);
	pthread_mutex_destroy(&s->lock);
	free(s->base.location);
	free(s);
}

static const struct sp_store_ops sp_store_s3_ops = {
    .kind = "s3",
    .close = s3_close,
    .put = s3_put,
    .get = s3_get,
    .read = s3_read,
    .stat = s3_stat,
    .list = s3_list,
    .walk = s3_walk,
    .remove = s3_remove,
    .sync = s3_sync,
    .draft_begin = s3_draft_begin,
    .draft_put = s3_draft_put,
    .draft_publish = s3_draft_publish,
    .draft_discard = s3_draft_discard,
    .drafts_clean = s3_drafts_clean,
    .assume_present = s3_assume_present,
    .known_present = s3_known_present,
    .ensure_locked = s3_ensure_locked,
    .draft_locked_until = s3_draft_locked_until,
    .counters = s3_counters,
};

int sp_store_s3_has_object_lock(struct sp_store *st, bool *enabled,
				struct sp_error *err)
{
	st = sp_store_inner(st);
	if (st->ops != &sp_store_s3_ops)
		return sp_error_set(err, SP_E_VAULT_UNSUPPORTED,
				    "object lock needs an S3 vault");
	return sp_s3_probe(s3_of(st)->s3, NULL, enabled, err);
}

void sp_store_s3_set_lock(struct sp_store *st, unsigned days, const char *mode)
{
	st = sp_store_inner(st);
	if (st->ops != &sp_store_s3_ops)
		return;
	s3_of(st)->lock_days = days;
	s3_of(st)->lock_margin = sp_store_s3_lock_margin(days);
	snprintf(s3_of(st)->lock_mode, sizeof(s3_of(st)->lock_mode), "%s",
		 mode && *mode ? mode : "GOVERNANCE");
}

int64_t sp_store_s3_lock_margin(unsigned days)
{
	const char *v = getenv("STILLPOINT_LOCK_MARGIN");

	if (v && *v && strtoll(v, NULL, 10) >= 0)
		return strtoll(v, NULL, 10);
	return 86400 *
	       (int64_t)(days < LOCK_MARGIN_DAYS ? days : LOCK_MARGIN_DAYS);
}

bool sp_store_is_s3(const char *location)
{
	return location && strncmp(location, "s3://", 5) == 0;
}

/* The credentials file of the vault's bucket, for the daemon (and anyone
 * who prefers a file to the environment): $STILLPOINT_VAULTS_DIR, else
 * /etc/stillpoint/vaults, /BUCKET.conf.  Loaded when it exists; its values
 * win over the environment's. */
static int load_vault_file(const char *location, struct sp_s3_config *cfg,
			   struct sp_error *err)
{
	const char *dir = getenv("STILLPOINT_VAULTS_DIR");
	const char *b = location + 5, *slash = strchr(b, '/');
	char path[4096];

	if (!dir || !*dir)
		dir = "/etc/stillpoint/vaults";
	snprintf(path, sizeof(path), "%s/%.*s.conf", dir,
		 slash ? (int)(slash - b) : (int)strlen(b), b);
	if (access(path, F_OK) < 0)
		return 0;
	return sp_s3_config_load_file(path, cfg, err);
}

int sp_store_s3_open(const char *location, const struct sp_store_s3_opts *o,
		     struct sp_store **ret, struct sp_error *err)
{
	struct sp_s3_config cfg = {0};
	struct store_s3 *s;
	int r;

	r = load_vault_file(location, &cfg, err);
	if (r < 0)
		return r;
	r = sp_s3_config_from_url(location, o ? o->endpoint : NULL,
				  o ? o->ca_file : NULL, &cfg, err);
	if (r < 0)
		return r;
	s = calloc(1, sizeof(*s));
	if (!s || !(s->base.location = strdup(location))) {
		free(s);
		sp_s3_config_release(&cfg);
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	}
	s->base.ops = &sp_store_s3_ops;
	pthread_mutex_init(&s->lock, NULL);
	r = sp_s3_open(&cfg, &s->s3, err);
	sp_s3_config_release(&cfg);
	if (r < 0) {
		pthread_mutex_destroy(&s->lock);
		free(s->base.location);
		free(s);
		return r;
	}
	*ret = &s->base;
	return 0;
}

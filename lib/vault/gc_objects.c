// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Garbage collection of a vault in object storage (an S3 vault), where
 * there is no rename to make a fossil and no flock, and where backups on
 * other hosts may write at any time.  Coordination lives in the vault
 * (docs/vault-format.md, "Vaults in object storage"):
 *
 *	leases/<name>@<id>   one per draft being written (store_s3.c); a
 *	                     writer puts it before it relies on any chunk
 *	gc/state.json        {state: "candidates", since, leases, candidates}
 *	gc/sweep             present while a gc deletes chunks
 *
 * One run:
 *   O1. purge the expired trash (trash_objects.c)
 *   O2. if gc/state.json holds candidates from an earlier run: they may be
 *       swept once every lease that existed then is gone.  To sweep, put
 *       gc/sweep (create-only), then list the leases: any live lease (a
 *       backup that started meanwhile and may rely on a candidate) and the
 *       sweep is called off (gc/sweep removed, nothing deleted).  Else
 *       mark (O3) and delete each candidate still unreferenced; then
 *       remove gc/state.json and gc/sweep.
 *   O3. mark: read every published and every trashed point's indexes; a
 *       point that cannot be read stops gc (GcUnsafe, nothing deleted)
 *   O4. walk chunks/: an unreferenced chunk written before this run
 *       started becomes a candidate; gc/state.json records the candidates
 *       with the leases live now.
 *
 * Why no chunk a writer needs is deleted: a writer puts its lease, then
 * looks for gc/sweep, and waits while it is there (store_s3.c); gc puts
 * gc/sweep, then lists the leases.  The store is strongly consistent, so
 * of a writer and a sweep that overlap at least one sees the other.  A
 * writer that relied on a candidate before the sweep either published a
 * point (read by the sweep's own mark) or still holds its lease (the sweep
 * waits).  A chunk written by a running backup is newer than any run that
 * could make it a candidate while the backup's lease is live.
 */
#include "vault/gc_objects.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/log.h"
#include "util/text.h"
#include "vault/disk_index.h"
#include "vault/listing_remote.h"
#include "vault/trash_objects.h"

#define STATE_KEY "gc/state.json"
#define SWEEP_KEY SP_STORE_SWEEP_KEY
#define STATE_MAX (256u << 20)

struct ogc {
	struct sp_vault *v;
	struct sp_id_set refs;
	int64_t start;
	uint64_t chunks, referenced, candidates, young, deleted, resurrected;
	uint64_t bytes_freed, bytes_candidate;
	json_t *cand; /* hex ids of the new candidates */
};

static int unsafe(struct sp_error *err, const char *what, const char *why)
{
	return sp_error_set(err, SP_E_GC_UNSAFE,
			    "gc stopped: %s cannot be read (%s); nothing was "
			    "deleted (run 'stillpoint verify')",
			    what, why);
}

/* Mark the point whose objects are under @dir ("points/N/I/" or
 * "trash/N/I/"). */
static int mark_point(struct ogc *g, const char *dir, const char *name,
		      const char *id, bool published, struct sp_error *err)
{
	struct sp_vault *v = g->v;
	sp_autofree char *text = NULL;
	char key[300], where[140];
	struct sp_error e;
	json_t *m = NULL, *d;
	size_t len = 0, i;
	int r;

	snprintf(where, sizeof(where), "point %s@%s", name, id);
	snprintf(key, sizeof(key), "%smanifest.json", dir);
	r = v->store->ops->get(v->store, key, SP_MANIFEST_MAX, (void **)&text,
			       &len, &e);
	if (r == -ENOENT && published)
		return 0; /* a draft being written: leases cover it */
	if (r < 0)
		return unsafe(err, where,
			      SP_STORE_IS_ERRNO(r) ? strerror(-r) : e.msg);
	r = sp_manifest_parse_point(text, len, name, id, &m, &e);
	if (r < 0)
		return unsafe(err, where, e.msg);
	json_array_foreach(json_object_get(m, "disks"), i, d)
	{
		struct sp_disk_index *ix = NULL;
		uint8_t sha[32];
		sp_hex_decode(
		    json_string_value(json_object_get(d, "index_sha256")), sha,
		    32);
		snprintf(key, sizeof(key), "%s%s", dir,
			 json_string_value(json_object_get(d, "index")));
		r = sp_vault_index_open_key(v, key, sha, &ix, &e);
		if (r < 0) {
			r = unsafe(err, where, e.msg);
			break;
		}
		for (uint64_t s = 0; r == 0 && s < sp_disk_index_count(ix);
		     s++) {
			const struct sp_chunk_id *cid =
			    sp_disk_index_get(ix, s);
			if (!sp_chunk_id_is_zero(cid) &&
			    sp_id_set_add(&g->refs, cid) < 0)
				r = sp_error_set(err, SP_E_NOMEM,
						 "out of memory");
		}
		sp_disk_index_free(ix);
		if (r < 0)
			break;
	}
	json_decref(m);
	return r;
}

static int mark_published(struct sp_vault *v, const char *name, const char *id,
			  void *ctx, struct sp_error *err)
{
	char dir[200];

	snprintf(dir, sizeof(dir), "points/%s/%s/", name, id);
	(void)v;
	return mark_point(ctx, dir, name, id, true, err);
}

static int mark_trashed(struct sp_vault *v, const char *name, const char *id,
			void *ctx, struct sp_error *err)
{
	char dir[200];

	snprintf(dir, sizeof(dir), "trash/%s/%s/", name, id);
	(void)v;
	return mark_point(ctx, dir, name, id, false, err);
}

static int mark(struct ogc *g, struct sp_error *err)
{
	int r;

	sp_id_set_release(&g->refs);
	r = sp_vault_each_point(g->v, "points", NULL, mark_published, g, err);
	if (r == 0)
		r = sp_vault_each_point(g->v, "trash", NULL, mark_trashed, g,
					err);
	r = sp_vault_store_error(g->v, r, "list", "points/ and trash/", err);
	g->referenced = g->refs.count;
	return r;
}

/* The live leases: every object under leases/ younger than a lease may
 * live (older ones belong to writers that are gone; drafts_clean removes
 * them). */
struct leases {
	json_t *keys;
	int64_t now;
};

static int note_lease(void *ctx, const char *key, uint64_t size, int64_t mtime)
{
	struct leases *l = ctx;

	(void)size;
	if (mtime <= 0 || l->now - mtime < SP_GC_LEASE_MAX)
		json_array_append_new(l->keys, json_string(key));
	return 0;
}

static int live_leases(struct sp_vault *v, json_t **ret, struct sp_error *err)
{
	struct leases l = {json_array(), (int64_t)time(NULL)};
	int r;

	if (!l.keys)
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	r = v->store->ops->walk(v->store, "leases/", note_lease, &l, err);
	if (r < 0) {
		json_decref(l.keys);
		return sp_vault_store_error(v, r, "list", "leases/", err);
	}
	*ret = l.keys;
	return 0;
}

static bool in_array(json_t *arr, const char *s)
{
	json_t *it;
	size_t i;

	json_array_foreach(
	    arr, i, it) if (!strcmp(json_string_value(it), s)) return true;
	return false;
}

struct walk {
	struct ogc *g;
};

static int walk_chunk(void *ctx, const char *key, uint64_t size, int64_t mtime)
{
	struct ogc *g = ctx;
	const char *hex = strrchr(key, '/');
	struct sp_chunk_id id;

	if (!hex || !sp_chunk_id_from_hex(hex + 1, &id))
		return 0; /* not a chunk: left alone */
	g->chunks++;
	if (sp_id_set_has(&g->refs, &id))
		return 0;
	if (mtime <= 0 || mtime >= g->start) {
		g->young++; /* written while this run went: not judged */
		return 0;
	}
	g->candidates++;
	g->bytes_candidate += size;
	json_array_append_new(g->cand, json_string(hex + 1));
	return 0;
}

/* Before any chunk is deleted: hosts' caches of what is present are void
 * from now on (store_s3.c). */
static int raise_epoch(struct sp_vault *v, struct sp_error *err)
{
	sp_autofree char *text = NULL;
	char next[32];
	size_t len = 0;
	long long e = 0;
	int r;

	r = v->store->ops->get(v->store, SP_STORE_EPOCH_KEY, 64, (void **)&text,
			       &len, err);
	if (r == 0)
		e = strtoll(text, NULL, 10);
	else if (r != -ENOENT)
		return sp_vault_store_error(v, r, "read", SP_STORE_EPOCH_KEY,
					    err);
	snprintf(next, sizeof(next), "%lld", e + 1);
	r = v->store->ops->put(v->store, SP_STORE_EPOCH_KEY, next, strlen(next),
			       0, err);
	return r < 0 ? sp_vault_store_error(v, r, "write", SP_STORE_EPOCH_KEY,
					    err)
		     : 0;
}

/* O2: sweep the recorded candidates, when every lease recorded with them
 * is gone and no writer runs.  *@waiting gets the leases that stop it. */
static int sweep(struct ogc *g, json_t *state, bool dry_run, bool *swept,
		 json_t **waiting, struct sp_error *err)
{
	struct sp_vault *v = g->v;
	json_t *now = NULL, *l, *c;
	struct sp_error e2;
	size_t i;
	int r;

	*swept = false;
	r = live_leases(v, &now, err);
	if (r < 0)
		return r;
	*waiting = json_array();
	json_array_foreach(now, i,
			   l) if (in_array(json_object_get(state, "leases"),
					   json_string_value(l)))
	    json_array_append(*waiting, l);
	json_decref(now);
	if (json_array_size(*waiting) > 0 || dry_run)
		return 0;
	r = v->store->ops->put(v->store, SWEEP_KEY, "{}", 2, SP_STORE_CREATE,
			       err);
	if (r == -EEXIST)
		return sp_error_set(err, SP_E_GC_BUSY,
				    "another gc is sweeping vault '%s' (if "
				    "none runs, remove its '%s')",
				    v->path, SWEEP_KEY);
	if (r < 0)
		return sp_vault_store_error(v, r, "write", SWEEP_KEY, err);
	/* Any lease now, and the sweep is off: its writer may rely on a
	 * candidate it found before gc/sweep was there. */
	r = live_leases(v, &now, err);
	if (r == 0 && json_array_size(now) > 0) {
		json_decref(*waiting);
		*waiting = now;
		now = NULL;
		goto out;
	}
	json_decref(now);
	now = NULL;
	if (r == 0)
		r = raise_epoch(v, err);
	if (r == 0)
		r = mark(g, err);
	json_array_foreach(json_object_get(state, "candidates"), i, c)
	{
		struct sp_chunk_id id;
		char key[80];
		uint64_t size = 0;
		if (r < 0)
			break;
		if (!sp_chunk_id_from_hex(json_string_value(c), &id))
			continue;
		if (sp_id_set_has(&g->refs, &id)) {
			g->resurrected++; /* a point took it meanwhile */
			continue;
		}
		snprintf(key, sizeof(key), "chunks/%.3s/%s",
			 json_string_value(c), json_string_value(c));
		if (v->store->ops->stat(v->store, key, &size, &e2) < 0)
			continue;
		r = v->store->ops->remove(v->store, key, err);
		if (r == SP_E_OBJECT_LOCKED) {
			/* Locked until a later date: kept for now. */
			sp_log(SP_LOG_INFO, "gc keeps locked chunk %s",
			       json_string_value(c));
			sp_error_clear(err);
			r = 0;
			continue;
		}
		if (r < 0) {
			r = sp_vault_store_error(v, r, "remove", key, err);
			break;
		}
		g->deleted++;
		g->bytes_freed += size;
	}
	if (r == 0) {
		r = v->store->ops->remove(v->store, STATE_KEY, err);
		if (r < 0)
			r = sp_vault_store_error(v, r, "remove", STATE_KEY,
						 err);
		*swept = r == 0;
	}
out:
	if (v->store->ops->remove(v->store, SWEEP_KEY, &e2) < 0)
		sp_log(SP_LOG_WARNING,
		       "cannot remove '%s' of vault '%s': backups wait until "
		       "it is removed",
		       SWEEP_KEY, v->path);
	return r;
}

int sp_gc_objects_run(struct sp_vault *v, const struct sp_gc_opts *o,
		      json_t **report, struct sp_error *err)
{
	struct ogc g = {.v = v, .start = (int64_t)time(NULL)};
	json_t *purged = json_array(), *kept = json_array();
	json_t *state = NULL, *waiting = NULL, *leases = NULL, *rep;
	int64_t now = o->now ? o->now : (int64_t)time(NULL);
	sp_autofree char *text = NULL;
	size_t len = 0;
	bool swept = false;
	int r;

	g.cand = json_array();
	if (!purged || !kept || !g.cand) {
		r = sp_error_set(err, SP_E_NOMEM, "out of memory");
		goto out;
	}
	if (!v->store->ops->walk) {
		r = sp_error_set(err, SP_E_VAULT_UNSUPPORTED,
				 "vault '%s' cannot be walked", v->path);
		goto out;
	}
	/* O1 */
	r = sp_objects_trash_purge(v, now, o->dry_run, purged, kept, err);
	if (r < 0)
		goto out;
	/* O2 */
	r = v->store->ops->get(v->store, STATE_KEY, STATE_MAX, (void **)&text,
			       &len, err);
	if (r == 0)
		state = json_loadb(text, len, 0, NULL);
	else if (r != -ENOENT) {
		r = sp_vault_store_error(v, r, "read", STATE_KEY, err);
		goto out;
	}
	r = 0;
	if (state) {
		r = sweep(&g, state, o->dry_run, &swept, &waiting, err);
		if (r < 0)
			goto out;
		if (!swept) {
			if (json_array_size(waiting))
				sp_log(SP_LOG_INFO,
				       "gc waits for %zu writer(s) before it "
				       "deletes %zu candidate(s)",
				       json_array_size(waiting),
				       json_array_size(json_object_get(
					   state, "candidates")));
			goto report;
		}
	}
	/* O3, O4 */
	if (!swept || g.referenced == 0)
		r = mark(&g, err);
	if (r == 0)
		r = live_leases(v, &leases, err);
	if (r == 0) {
		r = v->store->ops->walk(v->store, "chunks/", walk_chunk, &g,
					err);
		if (r < 0)
			r = sp_vault_store_error(v, r, "list", "chunks/", err);
	}
	if (r == 0 && !o->dry_run && g.candidates > 0) {
		char since[32];
		json_t *st;
		sp_autofree char *out = NULL;
		sp_time_rfc3339((time_t)g.start, since, sizeof(since));
		st = json_pack("{s:s, s:s, s:O, s:O}", "state", "candidates",
			       "since", since, "leases", leases, "candidates",
			       g.cand);
		out = st ? json_dumps(st, JSON_COMPACT) : NULL;
		json_decref(st);
		if (!out)
			r = sp_error_set(err, SP_E_NOMEM, "out of memory");
		else
			r = v->store->ops->put(v->store, STATE_KEY, out,
					       strlen(out), 0, err);
		if (r < 0)
			r = sp_vault_store_error(v, r, "write", STATE_KEY, err);
	}
	if (r < 0)
		goto out;
	sp_log(SP_LOG_INFO,
	       "gc done chunks=%llu referenced=%llu candidates=%llu "
	       "deleted=%llu bytes_freed=%llu",
	       (unsigned long long)g.chunks, (unsigned long long)g.referenced,
	       (unsigned long long)g.candidates, (unsigned long long)g.deleted,
	       (unsigned long long)g.bytes_freed);
report:
	if (!waiting)
		waiting = json_array();
	rep = json_pack(
	    "{s:b, s:O, s:O, s:b, s:O, s:I, s:I, s:I, s:I, s:I, s:I, s:I, "
	    "s:I, s:I}",
	    "dry_run", o->dry_run, "trash_purged", purged, "trash_kept", kept,
	    "swept", swept, "waiting_for", waiting, "chunks",
	    (json_int_t)g.chunks, "referenced", (json_int_t)g.referenced,
	    "fossilized", (json_int_t)g.candidates, "resurrected",
	    (json_int_t)g.resurrected, "deleted", (json_int_t)g.deleted,
	    "bytes_freed", (json_int_t)g.bytes_freed, "bytes_fossilized",
	    (json_int_t)g.bytes_candidate, "fossils_pending",
	    (json_int_t)g.candidates, "young", (json_int_t)g.young);
	if (!rep)
		r = sp_error_set(err, SP_E_NOMEM, "out of memory");
	else if (report)
		*report = rep;
	else
		json_decref(rep);
out:
	sp_id_set_release(&g.refs);
	json_decref(g.cand);
	json_decref(state);
	json_decref(waiting);
	json_decref(leases);
	json_decref(purged);
	json_decref(kept);
	return r;
}

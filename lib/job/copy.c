// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The copy job: recovery points of one vault copied into another (an
 * offsite copy), each with only the chunks the destination lacks.
 *
 * Per point (oldest first): a point the destination has already (same
 * name and id) is skipped.  Otherwise a draft of the same name and id is
 * begun in the destination, and for each disk the source's index is
 * walked by worker threads, slot by slot:
 *
 *   zero slot           zero in the copy (nothing read)
 *   same id scheme and  the id is reused as it is, nothing read (both
 *   destination has it  vaults say "chunk_id": "sha256": equal bytes,
 *                       equal ids)
 *   otherwise           the chunk is read from the source (checked
 *                       against its id and its slot's length), its id
 *                       computed by the destination's chunk store (a
 *                       vault with keyed ids computes another), and put
 *                       there unless the destination has that id
 *
 * The copy's index is the destination's own (its index_sha256 replaces
 * the source's in the manifest).  The disk's digest, taken over the
 * index's ids, is checked on the source's index first; with plain SHA-256
 * ids on both sides the copy's index is the same and must match it too,
 * otherwise (keyed ids) the digest is computed anew from the copy's index.  The
 * files beside the indexes (config, NVRAM, TPM state) are copied as they are;
 * the manifest is the source's with "copied_from" added, and is published last.
 *
 * Invariants:
 *  1. A copy appears in the destination all at once, at publish, after
 *     every chunk it names is durable there (sp_point_draft_publish): a
 *     killed copy leaves no point, only chunks (harmless; reused by the
 *     next run, reclaimable by gc) and a draft (cleaned as any abandoned
 *     draft).
 *  2. A rerun reads and sends only the chunks the destination still
 *     lacks, so an interrupted copy resumes where it stopped.
 *  3. The source is only read.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "job/job.h"
#include "job/point_disk.h"
#include "util/cleanup.h"
#include "util/fault.h"
#include "util/log.h"
#include "util/text.h"
#include "vault/disk_index.h"
#include "vault/vault.h"

/* A file beside a point's indexes is at most this large. */
#define COPY_FILE_MAX (256u << 20)

struct copy_counts {
	atomic_uint_fast64_t slots, zero, reused, read, present, added;
	atomic_uint_fast64_t bytes_read, bytes_new, bytes_stored, bytes_reused;
};

struct copy_disk {
	struct sp_vault *src, *dst;
	bool same_ids; /* both vaults compute ids the same way */
	struct sp_disk_index *ix;
	struct sp_index_writer *w;
	uint64_t size, count;
	atomic_uint_fast64_t next;
	struct sp_job_status *status;
	struct copy_counts *c;
	const char *where; /* "NAME@ID disk D" for messages */
};

/* How a vault computes chunk ids ("sha256", or a keyed scheme). */
static const char *id_scheme(struct sp_vault *v, char *out, size_t cap)
{
	json_t *d = sp_vault_describe(v);
	const char *s = json_string_value(json_object_get(d, "chunk_id"));

	snprintf(out, cap, "%s", s ? s : "");
	json_decref(d);
	return out;
}

static void copy_slot(struct copy_disk *cd, struct sp_chunk_codec *codec,
		      uint8_t *buf, uint64_t slot)
{
	const uint32_t cs = cd->src->chunk_size;
	const struct sp_chunk_id *sid = sp_disk_index_get(cd->ix, slot);
	uint64_t off = slot * cs;
	size_t want = cd->size - off < cs ? (size_t)(cd->size - off) : cs;
	struct sp_chunk_id did;
	struct sp_error e;
	size_t len = 0, stored = 0;
	bool added = false;

	atomic_fetch_add(&cd->c->slots, 1);
	if (sp_chunk_id_is_zero(sid)) {
		atomic_fetch_add(&cd->c->zero, 1);
		did = *sid;
		goto set;
	}
	if (cd->same_ids && sp_chunk_store_has(cd->dst->chunks, sid)) {
		atomic_fetch_add(&cd->c->reused, 1);
		atomic_fetch_add(&cd->c->bytes_reused, want);
		did = *sid;
		goto set;
	}
	if (sp_chunk_store_get(cd->src->chunks, codec, sid, buf, cs, &len, &e) <
	    0) {
		sp_job_status_fail(cd->status, &e);
		return;
	}
	if (len != want) {
		sp_error_set(&e, SP_E_CHUNK_CORRUPT,
			     "%s: the chunk of slot %llu holds %zu bytes, the "
			     "slot %zu; nothing was published",
			     cd->where, (unsigned long long)slot, len, want);
		sp_job_status_fail(cd->status, &e);
		return;
	}
	atomic_fetch_add(&cd->c->read, 1);
	atomic_fetch_add(&cd->c->bytes_read, len);
	sp_chunk_store_id(cd->dst->chunks, buf, len, &did);
	if (sp_chunk_id_is_zero(&did)) {
		/* The reserved id is never a chunk's: a keyed scheme that
		 * gave it would lose the slot. */
		sp_error_set(&e, SP_E_INTERNAL,
			     "%s: slot %llu's id in the destination is the "
			     "zero id",
			     cd->where, (unsigned long long)slot);
		sp_job_status_fail(cd->status, &e);
		return;
	}
	if (sp_chunk_store_put(cd->dst->chunks, codec, &did, buf, len, &added,
			       &stored, &e) < 0) {
		sp_job_status_fail(cd->status, &e);
		return;
	}
	if (added) {
		sp_test_hold("copy");
		atomic_fetch_add(&cd->c->added, 1);
		atomic_fetch_add(&cd->c->bytes_new, len);
		atomic_fetch_add(&cd->c->bytes_stored, stored);
	} else {
		atomic_fetch_add(&cd->c->present, 1);
	}
set:
	if (sp_index_writer_set(cd->w, slot, &did, &e) < 0)
		sp_job_status_fail(cd->status, &e);
}

static void *copy_worker(void *arg)
{
	struct copy_disk *cd = arg;
	struct sp_chunk_codec *codec = sp_chunk_codec_new(cd->src->chunk_size);
	uint8_t *buf = malloc(cd->src->chunk_size);
	struct sp_error e;

	if (!codec || !buf) {
		sp_error_set(&e, SP_E_NOMEM, "out of memory");
		sp_job_status_fail(cd->status, &e);
		goto out;
	}
	for (;;) {
		uint64_t slot = atomic_fetch_add(&cd->next, 1);

		if (slot >= cd->count || sp_job_status_stopped(cd->status))
			break;
		copy_slot(cd, codec, buf, slot);
	}
out:
	free(buf);
	sp_chunk_codec_free(codec);
	return NULL;
}

struct point_copy {
	struct sp_vault *src, *dst;
	const struct sp_copy_opts *o;
	bool same_ids, check_digest;
	struct sp_job_status status;
	struct copy_counts c;
	struct sp_job_progress jp;
};

/* Copy one disk of the point into @draft; @d is the manifest's entry,
 * updated with the copy's index checksum. */
static int copy_disk(struct point_copy *pc, const struct sp_point_ref *p,
		     struct sp_point_draft *draft, json_t *d, const char *where,
		     struct sp_error *err)
{
	const char *file = json_string_value(json_object_get(d, "index"));
	const char *digest = json_string_value(json_object_get(d, "digest"));
	char what[400], hex[65];
	struct sp_point_disk *pd = NULL;
	struct sp_disk_index *sealed = NULL;
	struct copy_disk cd = {0};
	unsigned nthreads = sp_job_threads(&pc->o->job), started = 0;
	pthread_t th[64];
	uint8_t sha[32];
	bool had;
	int r;

	snprintf(what, sizeof(what), "%s disk %s", where,
		 json_string_value(json_object_get(d, "name")));
	r = sp_point_disk_open(p, d, where, &pd, err);
	if (r < 0)
		return r;
	r = sp_point_disk_check_digest(pd, &had, err);
	if (r < 0)
		goto out;
	cd = (struct copy_disk){
	    .src = pc->src,
	    .dst = pc->dst,
	    .same_ids = pc->same_ids,
	    .ix = sp_point_disk_index(pd),
	    .size = sp_point_disk_size(pd),
	    .status = &pc->status,
	    .c = &pc->c,
	    .where = what,
	};
	cd.count = sp_disk_index_count(cd.ix);
	r = sp_point_draft_index_begin(draft, file, cd.size, &cd.w, err);
	if (r < 0)
		goto out;
	pc->jp.p.item = json_string_value(json_object_get(d, "name"));
	pc->jp.p.total = cd.size;
	pc->jp.p.done = 0;
	if (nthreads > 64)
		nthreads = 64;
	for (; started < nthreads; started++)
		if (pthread_create(&th[started], NULL, copy_worker, &cd))
			break;
	if (started == 0) {
		r = sp_error_set(err, SP_E_NOMEM, "cannot start threads");
		goto out;
	}
	while (atomic_load(&cd.next) < cd.count &&
	       !sp_job_status_stopped(&pc->status)) {
		uint64_t done = atomic_load(&cd.next) * pc->src->chunk_size;
		usleep(50000);
		pc->jp.p.done = done < cd.size ? done : cd.size;
		pc->jp.p.bytes_read = atomic_load(&pc->c.bytes_read);
		pc->jp.p.bytes_new = atomic_load(&pc->c.bytes_new);
		sp_job_progress_tick(&pc->jp, false);
	}
	for (unsigned i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	if (sp_job_status_stopped(&pc->status)) {
		*err = pc->status.err;
		r = err->code;
		goto out;
	}
	pc->jp.p.done = cd.size;
	sp_job_progress_tick(&pc->jp, true);
	r = sp_point_draft_index_end(draft, cd.w, sha, &sealed, err);
	cd.w = NULL;
	if (r < 0)
		goto out;
	if (pc->check_digest && digest) {
		/* Plain SHA-256 ids on both sides: the copy's index must
		 * describe the very same bytes. */
		r = sp_disk_index_check_digest(sealed, digest, what, err);
		if (r < 0)
			goto out;
	} else {
		/* The digest is taken over the index's ids, which are the
		 * destination's own now (the source's index passed its own
		 * digest above, and each chunk its id). */
		uint8_t dg[32];
		r = sp_disk_index_digest(sealed, dg, err);
		if (r < 0)
			goto out;
		sp_hex_encode(dg, 32, hex);
		json_object_set_new(d, "digest", json_string(hex));
	}
	sp_hex_encode(sha, 32, hex);
	json_object_set_new(d, "index_sha256", json_string(hex));
out:
	if (cd.w)
		sp_index_writer_free(cd.w);
	sp_disk_index_free(sealed);
	sp_point_disk_free(pd);
	return r;
}

/* Is @file one of the point's disk indexes (written by copy_disk)? */
static bool is_index_of(json_t *m, const char *file)
{
	json_t *d;
	size_t i;

	json_array_foreach(json_object_get(m, "disks"), i, d)
	{
		const char *ix = json_string_value(json_object_get(d, "index"));
		if (ix && !strcmp(ix, file))
			return true;
	}
	return false;
}

/* The files beside the indexes (config, NVRAM, TPM state), as they are. */
static int copy_files(struct point_copy *pc, const char *name, const char *id,
		      json_t *m, struct sp_point_draft *draft, size_t *nfiles,
		      struct sp_error *err)
{
	json_t *files = NULL, *f;
	size_t i;
	int r;

	r = sp_vault_point_files(pc->src, name, id, &files, err);
	if (r < 0)
		return r;
	json_array_foreach(files, i, f)
	{
		const char *file = json_string_value(f);
		sp_autofree char *data = NULL;
		size_t len = 0;

		if (!file || !strcmp(file, "manifest.json") ||
		    is_index_of(m, file))
			continue;
		r = sp_vault_point_get(pc->src, name, id, file, COPY_FILE_MAX,
				       &data, &len, err);
		if (r == -ENOENT)
			continue; /* gone meanwhile: verify would say so */
		if (r < 0)
			break;
		r = sp_point_draft_put(draft, file, data, len, err);
		if (r < 0)
			break;
		(*nfiles)++;
	}
	json_decref(files);
	return r < 0 ? r : 0;
}

static json_t *store_counters(struct sp_vault *v)
{
	json_t *r = sp_vault_requests(v);

	return r ? r : json_null();
}

/* The chunks of the destination's newest point of the VM are there: a
 * remote destination need not be asked about each one this copy finds
 * again (an incremental copy then asks only about the chunks that are
 * new since; sp_chunk_store_assume).  Called while the draft's lease is
 * held.  Best effort: without that point's index, the store asks. */
static void assume_dst_chunks(struct sp_vault *dst, const char *name, json_t *m)
{
	json_t *pts = NULL, *prev, *d, *pd;
	struct sp_error e;
	size_t i, k;

	if (!sp_vault_assumes_chunks(dst) ||
	    sp_vault_list_points(dst, name, &pts, &e) < 0)
		return;
	prev = json_array_get(pts, json_array_size(pts) - 1);
	/* Still there now that the lease is held: gc then deletes none of
	 * its chunks until the lease ends. */
	if (!prev || !sp_vault_point_exists(
			 dst, json_string_value(json_object_get(prev, "name")),
			 json_string_value(json_object_get(prev, "id")))) {
		json_decref(pts);
		return;
	}
	json_array_foreach(json_object_get(m, "disks"), i, d)
	{
		const char *dn = json_string_value(json_object_get(d, "name"));
		struct sp_disk_index *ix = NULL;
		uint8_t sha[32];

		json_array_foreach(json_object_get(prev, "disks"), k, pd)
		{
			if (!dn || strcmp(dn, json_string_value(json_object_get(
						  pd, "name"))) != 0)
				continue;
			if (!sp_hex_decode(json_string_value(json_object_get(
					       pd, "index_sha256")),
					   sha, 32) ||
			    sp_vault_point_index_open(
				dst,
				json_string_value(
				    json_object_get(prev, "name")),
				json_string_value(json_object_get(prev, "id")),
				json_string_value(json_object_get(pd, "index")),
				sha, &ix, &e) < 0)
				break;
			for (uint64_t n = 0; n < sp_disk_index_count(ix); n++)
				sp_chunk_store_assume(dst->chunks,
						      sp_disk_index_get(ix, n));
			sp_disk_index_free(ix);
			break;
		}
	}
	json_decref(pts);
}

static json_t *counts_json(struct copy_counts *c)
{
	return json_pack(
	    "{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "chunks",
	    (json_int_t)atomic_load(&c->slots), "chunks_zero",
	    (json_int_t)atomic_load(&c->zero), "chunks_reused",
	    (json_int_t)atomic_load(&c->reused), "chunks_read",
	    (json_int_t)atomic_load(&c->read), "chunks_present",
	    (json_int_t)atomic_load(&c->present), "chunks_new",
	    (json_int_t)atomic_load(&c->added), "bytes_read",
	    (json_int_t)atomic_load(&c->bytes_read), "bytes_new",
	    (json_int_t)atomic_load(&c->bytes_new), "bytes_stored",
	    (json_int_t)atomic_load(&c->bytes_stored), "bytes_reused",
	    (json_int_t)atomic_load(&c->bytes_reused));
}

/* Copy point @m (a manifest of the source) unless the destination has
 * it; *@entry receives its report. */
static int copy_point(struct sp_vault *src, struct sp_vault *dst,
		      const struct sp_copy_opts *o, const char *dst_scheme,
		      bool same_ids, json_t *m, json_t **entry,
		      struct sp_error *err)
{
	const char *name = json_string_value(json_object_get(m, "name"));
	const char *id = json_string_value(json_object_get(m, "id"));
	struct sp_point_ref p = {src, name, id};
	struct point_copy pc = {.src = src,
				.dst = dst,
				.o = o,
				.same_ids = same_ids,
				.check_digest = same_ids,
				.jp = {.opts = &o->job}};
	struct sp_point_draft *draft = NULL;
	sp_autofree char *where_abs = NULL;
	json_t *full = NULL, *have = NULL, *d;
	char where[140], when[32];
	uint64_t t0 = sp_now_mono_ms(), t_pub = 0;
	size_t i, nfiles = 0;
	int r;

	snprintf(where, sizeof(where), "%s@%s", name, id);
	r = sp_vault_point_manifest(dst, name, id, &have, err);
	if (r == 0) {
		json_decref(have);
		*entry = json_pack(
		    "{s:s, s:s, s:s}", "point", where, "status", "exists",
		    "time", json_string_value(json_object_get(m, "time")));
		return 0;
	}
	if (r != SP_E_POINT_NOT_FOUND)
		return r;
	/* The whole manifest, as the source holds it (a listing's may be
	 * the catalog's summary). */
	r = sp_vault_point_manifest(src, name, id, &full, err);
	if (r < 0)
		return r;
	sp_job_status_init(&pc.status, o->job.cancel);
	pc.jp.p.what = "copy";
	r = sp_point_draft_begin_as(dst, name, id, &draft, err);
	if (r < 0)
		goto out;
	assume_dst_chunks(dst, name, full);
	json_array_foreach(json_object_get(full, "disks"), i, d)
	{
		r = copy_disk(&pc, &p, draft, d, where, err);
		if (r < 0)
			goto out;
	}
	r = copy_files(&pc, name, id, full, draft, &nfiles, err);
	if (r < 0)
		goto out;
	if (o->job.cancel && *o->job.cancel) {
		r = sp_error_set(err, SP_E_INTERRUPTED,
				 "interrupted: point '%s' was not copied",
				 where);
		goto out;
	}
	t_pub = sp_now_mono_ms();
	sp_time_rfc3339(time(NULL), when, sizeof(when));
	if (sp_vault_is_local(src))
		where_abs = realpath(src->path, NULL);
	json_object_set_new(full, "chunk_id", json_string(dst_scheme));
	json_object_set_new(
	    full, "copied_from",
	    json_pack("{s:s, s:s, s:s}", "vault", src->vault_id, "location",
		      where_abs ? where_abs : src->path, "time", when));
	r = sp_point_draft_publish(draft, full, err);
	draft = NULL;
	if (r < 0)
		goto out;
	*entry = counts_json(&pc.c);
	json_object_set_new(*entry, "point", json_string(where));
	json_object_set_new(*entry, "status", json_string("copied"));
	json_object_set(*entry, "time", json_object_get(m, "time"));
	json_object_set_new(*entry, "files", json_integer((json_int_t)nfiles));
	json_object_set(*entry, "consistency",
			json_object_get(full, "consistency"));
	json_object_set_new(*entry, "phases",
			    json_pack("{s:{s:I}, s:{s:I}}", "transfer",
				      "duration_ms", (json_int_t)(t_pub - t0),
				      "publish", "duration_ms",
				      (json_int_t)(sp_now_mono_ms() - t_pub)));
	json_object_set_new(*entry, "duration_ms",
			    json_integer((json_int_t)(sp_now_mono_ms() - t0)));
out:
	if (draft)
		sp_point_draft_discard(draft);
	if (r < 0 && err->code != SP_E_INTERRUPTED) {
		/* Say which point, whatever the cause. */
		struct sp_error e = *err;
		if (!strstr(e.msg, where))
			sp_error_set(err, e.code, "copy of point '%s': %s",
				     where, e.msg);
	}
	sp_job_status_release(&pc.status);
	json_decref(full);
	return r;
}

/* The points to copy, oldest first. */
static int select_points(struct sp_vault *src, const struct sp_copy_opts *o,
			 json_t **ret, struct sp_error *err)
{
	json_t *m = NULL;
	int r;

	if (o->all) {
		if (o->spec && !sp_name_is_valid(o->spec))
			return sp_error_set(err, SP_E_NAME_INVALID,
					    "invalid VM name '%s' (with --all, "
					    "give a VM's name or none)",
					    o->spec);
		r = sp_vault_list_points(src, o->spec, ret, err);
		if (r == 0 && o->spec && json_array_size(*ret) == 0) {
			json_decref(*ret);
			*ret = NULL;
			return sp_error_set(err, SP_E_POINT_NOT_FOUND,
					    "VM '%s' has no recovery points "
					    "in '%s'",
					    o->spec, src->path);
		}
		return r;
	}
	if (!o->spec)
		return sp_error_set(err, SP_E_USAGE,
				    "name a point (NAME[@ID]) or --all");
	r = sp_vault_find_point(src, o->spec, &m, err);
	if (r < 0)
		return r;
	*ret = json_array();
	json_array_append_new(*ret, m);
	return 0;
}

int sp_copy_run(struct sp_vault *src, struct sp_vault *dst,
		const struct sp_copy_opts *o, json_t **report,
		struct sp_error *err)
{
	char ss[32], ds[32];
	json_t *points = NULL, *done = json_array(), *m, *entry;
	uint64_t t0 = sp_now_mono_ms();
	size_t i, copied = 0, skipped = 0;
	bool same_ids;
	int r;

	if (!done)
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	if (!strcmp(src->vault_id, dst->vault_id)) {
		json_decref(done);
		return sp_error_set(err, SP_E_USAGE,
				    "'%s' and '%s' are the same vault (id %s): "
				    "a copy goes to another vault",
				    src->path, dst->path, src->vault_id);
	}
	if (src->chunk_size != dst->chunk_size) {
		json_decref(done);
		return sp_error_set(
		    err, SP_E_USAGE,
		    "vault '%s' has %u-byte chunks and '%s' %u-byte ones: "
		    "copy between vaults of one chunk size (init the "
		    "destination with --chunk-size %u)",
		    src->path, src->chunk_size, dst->path, dst->chunk_size,
		    src->chunk_size);
	}
	id_scheme(src, ss, sizeof(ss));
	id_scheme(dst, ds, sizeof(ds));
	same_ids = !strcmp(ss, "sha256") && !strcmp(ds, "sha256");
	r = select_points(src, o, &points, err);
	if (r < 0) {
		json_decref(done);
		return r;
	}
	sp_vault_clean_drafts(dst);
	json_array_foreach(points, i, m)
	{
		entry = NULL;
		r = copy_point(src, dst, o, ds, same_ids, m, &entry, err);
		if (r < 0)
			break;
		if (!strcmp(json_string_value(json_object_get(entry, "status")),
			    "exists"))
			skipped++;
		else
			copied++;
		json_array_append_new(done, entry);
		if (o->on_point)
			o->on_point(o->on_point_ctx, entry);
	}
	if (report) {
		json_t *tot = json_object();
		static const char *const sum[] = {
		    "chunks",	   "chunks_zero",    "chunks_reused",
		    "chunks_read", "chunks_present", "chunks_new",
		    "bytes_read",  "bytes_new",	     "bytes_stored",
		    "bytes_reused"};
		json_t *e;
		size_t k;

		for (size_t s = 0; s < sizeof(sum) / sizeof(sum[0]); s++) {
			json_int_t n = 0;
			json_array_foreach(done, k, e) n +=
			    json_integer_value(json_object_get(e, sum[s]));
			json_object_set_new(tot, sum[s], json_integer(n));
		}
		*report = json_pack(
		    "{s:s, s:s, s:s, s:s, s:b, s:O, s:I, s:I, s:o, s:I, "
		    "s:{s:o, s:o}}",
		    "from", src->path, "to", dst->path, "from_chunk_id", ss,
		    "to_chunk_id", ds, "ok", r == 0, "points", done, "copied",
		    (json_int_t)copied, "skipped", (json_int_t)skipped,
		    "totals", tot, "duration_ms",
		    (json_int_t)(sp_now_mono_ms() - t0), "requests", "source",
		    store_counters(src), "destination", store_counters(dst));
	}
	json_decref(done);
	json_decref(points);
	return r;
}

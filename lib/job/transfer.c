// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * "Transfer data to vault" (transfer.h): the one loop that moves a source
 * disk's bytes into a point, for offline images and live exports alike.
 *
 * This thread walks the disk slot by slot with the extent cursor
 * (disk/extent_cursor.h) and fills pooled buffers from it; worker threads
 * hash, look up, compress and store the slices and write their ids into
 * the index.  Buffers come from a fixed pool, so memory is bounded by
 * (threads * 2 + 2) chunks whatever the disk size.
 *
 * Per slot (of chunk_size bytes; the last may be shorter):
 *   full         no data extent: zero slot (never read nor hashed);
 *                else every extent written into the buffer (read or
 *                zeroed) before it is hashed
 *   incremental  no dirty extent: the base's id (its chunk must still be
 *                there); partly dirty: the base chunk, checked against its
 *                id, with the dirty extents written over it; wholly dirty,
 *                or the base chunk unusable: as a full slot
 *
 * Invariants:
 *  1. Every byte of a slice that is hashed was written for this slice:
 *     from the source, as zeroes, or from the base chunk that held those
 *     bytes of this very slot.  The cursor checks that a slice's extents
 *     tile it, so no byte of a pooled buffer survives from another slice.
 *  2. Nothing is published unless every slot of every disk was read and
 *     stored, each disk kept its size to the end, and, with the transfer
 *     check, every transferred slot read again equals what was stored.
 *  3. Any failure or cancel discards the draft; chunks already stored stay
 *     (unreferenced, harmless, reclaimable by gc).  Every point still
 *     restores on its own.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "disk/disk.h"
#include "disk/extent_cursor.h"
#include "job/job.h"
#include "job/transfer.h"
#include "job/workq.h"
#include "util/cleanup.h"
#include "util/fault.h"
#include "util/iobuf.h"
#include "util/log.h"
#include "util/text.h"
#include "vault/disk_index.h"
#include "vault/vault.h"

/* Ask the source about this many chunks at a time. */
#define EXTENT_STEP_CHUNKS 256

struct slice {
	uint64_t slot;
	size_t len;
	uint8_t *buf;
	/* The transfer check: compare buf with what the vault holds for
	 * the slot (@want, the zero id for a zero slot) instead of storing. */
	bool check;
	struct sp_chunk_id want;
	const char *disk; /* for the check's message */
};

struct disk_counts {
	atomic_uint_fast64_t chunks_data, chunks_zero, chunks_new, chunks_clean;
	atomic_uint_fast64_t bytes_read, bytes_new, bytes_stored;
	atomic_uint_fast64_t bytes_checked;
};

struct transfer {
	struct sp_vault *vault;
	struct sp_job_status status;
	struct sp_workq *work; /* filled slices */
	struct sp_workq *pool; /* empty buffers */
	struct sp_index_writer *index;
	struct disk_counts counts;
	size_t nbufs;
	uint8_t **bufs;
	struct sp_chunk_codec *codec; /* this thread's, for base chunks */
};

/* The transfer check of one slot (invariant 2), on a worker: @scratch
 * receives the stored chunk. */
static void check_slice(struct transfer *t, struct sp_chunk_codec *codec,
			const struct slice *s, uint8_t **scratch)
{
	const uint32_t cs = t->vault->chunk_size;
	const uint8_t *b;
	struct sp_error e;
	size_t got = s->len, at = 0;

	if (sp_chunk_id_is_zero(&s->want)) {
		if (sp_buffer_is_zero(s->buf, s->len))
			goto ok;
		b = NULL;
	} else {
		if (!*scratch && !(*scratch = malloc(cs))) {
			sp_error_set(&e, SP_E_NOMEM, "out of memory");
			sp_job_status_fail(&t->status, &e);
			return;
		}
		if (sp_chunk_store_get(t->vault->chunks, codec, &s->want,
				       *scratch, cs, &got, &e) < 0) {
			sp_job_status_fail(&t->status, &e);
			return;
		}
		b = *scratch;
		if (got == s->len && memcmp(s->buf, b, s->len) == 0)
			goto ok;
	}
	while (at < s->len && at < got && s->buf[at] == (b ? b[at] : 0))
		at++;
	sp_error_set(&e, SP_E_TRANSFER_MISMATCH,
		     "disk '%s' read again differs from what was stored for "
		     "it at offset %llu (slot %llu); the point was not "
		     "published",
		     s->disk, (unsigned long long)(s->slot * cs + at),
		     (unsigned long long)s->slot);
	sp_job_status_fail(&t->status, &e);
	return;
ok:
	atomic_fetch_add(&t->counts.bytes_checked, s->len);
}

static void *transfer_worker(void *arg)
{
	struct transfer *t = arg;
	struct sp_chunk_codec *codec = sp_chunk_codec_new(t->vault->chunk_size);
	uint8_t *scratch = NULL;
	struct slice *s;
	struct sp_error e;

	if (!codec) {
		sp_error_set(&e, SP_E_NOMEM, "out of memory");
		sp_job_status_fail(&t->status, &e);
	}
	while ((s = sp_workq_pop(t->work))) {
		struct sp_chunk_id id;
		bool added;
		size_t stored;

		if (!codec || sp_job_status_stopped(&t->status))
			goto next;
		if (s->check) {
			check_slice(t, codec, s, &scratch);
			goto next;
		}
		if (sp_buffer_is_zero(s->buf, s->len)) {
			atomic_fetch_add(&t->counts.chunks_zero, 1);
			goto next;
		}
		sp_chunk_store_id(t->vault->chunks, s->buf, s->len, &id);
		if (sp_chunk_store_put(t->vault->chunks, codec, &id, s->buf,
				       s->len, &added, &stored, &e) < 0 ||
		    sp_index_writer_set(t->index, s->slot, &id, &e) < 0) {
			sp_job_status_fail(&t->status, &e);
			goto next;
		}
		atomic_fetch_add(&t->counts.chunks_data, 1);
		if (added) {
			atomic_fetch_add(&t->counts.chunks_new, 1);
			atomic_fetch_add(&t->counts.bytes_new, s->len);
			atomic_fetch_add(&t->counts.bytes_stored, stored);
		}
next:
		sp_workq_push(t->pool, s->buf);
		free(s);
	}
	free(scratch);
	sp_chunk_codec_free(codec);
	return NULL;
}

/* Hand a filled buffer to the workers: to store, or (@want not NULL) to
 * check against the stored chunk @want. */
static int push_slice(struct transfer *t, uint64_t slot, size_t len,
		      uint8_t *buf, const struct sp_chunk_id *want,
		      const char *disk, struct sp_error *err)
{
	struct slice *s = calloc(1, sizeof(*s));

	if (!s) {
		sp_workq_push(t->pool, buf);
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	}
	s->slot = slot;
	s->len = len;
	s->buf = buf;
	s->disk = disk;
	if (want) {
		s->check = true;
		s->want = *want;
	}
	sp_workq_push(t->work, s);
	return 0;
}

/* Wait until the workers have given every buffer back to the pool. */
static void drain(struct transfer *t)
{
	for (size_t i = 0; i < t->nbufs; i++)
		t->bufs[i] = sp_workq_pop(t->pool);
	for (size_t i = 0; i < t->nbufs; i++)
		sp_workq_push(t->pool, t->bufs[i]);
}

/* Load the base chunk of an incremental slot into @buf; false when it
 * cannot serve (gone, damaged, wrong length): the slot is read whole. */
static bool load_base(struct transfer *t, const struct sp_chunk_id *id,
		      uint8_t *buf, size_t len, const char *name, uint64_t slot)
{
	struct sp_error e;
	size_t got = 0;

	if (sp_chunk_id_is_zero(id)) {
		memset(buf, 0, len);
		return true;
	}
	if (sp_chunk_store_get(t->vault->chunks, t->codec, id, buf,
			       t->vault->chunk_size, &got, &e) == 0 &&
	    got == len)
		return true;
	sp_log(SP_LOG_WARNING,
	       "base chunk of slot %llu of disk '%s' unusable, reading the "
	       "slot whole: %s",
	       (unsigned long long)slot, name,
	       got != len ? "wrong length" : e.msg);
	return false;
}

static void mark(uint8_t *bits, uint64_t slot)
{
	if (bits)
		bits[slot / 8] |= (uint8_t)(1u << (slot % 8));
}

static bool marked(const uint8_t *bits, uint64_t slot)
{
	return bits[slot / 8] & (1u << (slot % 8));
}

/*
 * The transfer check (invariant 2): read every transferred slot of the
 * source again, plainly (no extents, holes included), and have the
 * workers compare it with what the sealed index and the vault hold.
 */
static int check_transfer(struct transfer *t, struct sp_disk_source *src,
			  const char *name, struct sp_disk_index *ix,
			  const uint8_t *bits, struct sp_job_progress *jp,
			  struct sp_error *err)
{
	const uint32_t cs = t->vault->chunk_size;
	const uint64_t size = sp_disk_source_size(src);
	int r = 0;

	jp->p.what = "check";
	for (uint64_t slot = 0; r == 0 && slot < sp_disk_index_count(ix);
	     slot++) {
		uint64_t off = slot * cs;
		size_t len = (size_t)(size - off < cs ? size - off : cs);
		uint8_t *buf;

		if (!marked(bits, slot))
			continue;
		if (sp_job_status_stopped(&t->status))
			break;
		buf = sp_workq_pop(t->pool);
		r = sp_disk_source_pread_uncached(src, buf, len, off, err);
		if (r < 0) {
			sp_workq_push(t->pool, buf);
			break;
		}
		r = push_slice(t, slot, len, buf, sp_disk_index_get(ix, slot),
			       name, err);
		jp->p.done += len;
		sp_job_progress_tick(jp, false);
	}
	drain(t);
	if (r == 0 && sp_job_status_stopped(&t->status)) {
		*err = t->status.err;
		r = err->code;
	}
	return r;
}

/* Transfer one disk into the draft's index @ixname (the loop above). */
static int transfer_disk(struct transfer *t, struct sp_transfer_disk *td,
			 struct sp_point_draft *draft, const char *ixname,
			 bool check, struct sp_job_progress *jp,
			 uint8_t ix_sha[32], uint8_t digest[32],
			 bool *incremental, struct sp_error *err)
{
	const uint32_t cs = t->vault->chunk_size;
	const uint64_t size = sp_disk_source_size(td->src);
	const uint64_t count = (size + cs - 1) / cs;
	struct sp_disk_index *prev = td->prev;
	struct sp_extent_cursor *cur = NULL;
	sp_autofree uint8_t *bits = NULL;
	struct sp_disk_index *sealed = NULL;
	int r;

	if (check && !(bits = calloc((size_t)(count / 8 + 1), 1)))
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	if (prev && (sp_disk_index_disk_size(prev) != size ||
		     sp_disk_index_chunk_size(prev) != cs)) {
		/* Callers drop a base of another shape; never index past
		 * one, whatever they do. */
		sp_log(
		    SP_LOG_WARNING,
		    "disk '%s' no longer has its base point's shape: reading "
		    "it whole",
		    td->name);
		prev = NULL;
	}
	*incremental = prev != NULL;
	r = sp_extent_cursor_open(td->src, (uint64_t)cs * EXTENT_STEP_CHUNKS,
				  &cur, err);
	if (r < 0)
		return r;
	r = sp_point_draft_index_begin(draft, ixname, size, &t->index, err);
	if (r < 0) {
		sp_extent_cursor_free(cur);
		return r;
	}
	jp->p.item = td->name;
	for (uint64_t slot = 0; slot < count; slot++) {
		const uint64_t off = slot * cs;
		const size_t len = (size_t)(size - off < cs ? size - off : cs);
		const struct sp_chunk_id *base =
		    prev ? sp_disk_index_get(prev, slot) : NULL;
		struct sp_extent_slice sl;
		bool only_dirty = false;
		uint64_t got = 0;
		uint8_t *buf;

		if (sp_job_status_stopped(&t->status))
			break;
		sp_test_hold("slice");
		r = sp_extent_cursor_next(cur, off, len, &sl, err);
		if (r < 0)
			goto fail;
		if (base && sl.dirty_bytes == 0 &&
		    (sp_chunk_id_is_zero(base) ||
		     sp_chunk_store_has(t->vault->chunks, base))) {
			/* Clean: the base's chunk serves again.  has()
			 * brought it back if gc had made it a fossil. */
			atomic_fetch_add(&t->counts.chunks_clean, 1);
			if (sp_chunk_id_is_zero(base)) {
				atomic_fetch_add(&t->counts.chunks_zero, 1);
			} else {
				r = sp_index_writer_set(t->index, slot, base,
							err);
				if (r < 0)
					goto fail;
				atomic_fetch_add(&t->counts.chunks_data, 1);
			}
			goto progress;
		}
		mark(bits, slot);
		if (sl.data_bytes == 0 && (!base || sl.dirty_bytes == len)) {
			atomic_fetch_add(&t->counts.chunks_zero, 1);
			goto progress;
		}
		buf = sp_workq_pop(t->pool);
		if (base && sl.dirty_bytes < len && sl.dirty_bytes > 0)
			only_dirty =
			    load_base(t, base, buf, len, td->name, slot);
		r = sp_extent_cursor_fill(cur, buf, only_dirty, &got, err);
		if (r < 0) {
			sp_workq_push(t->pool, buf);
			goto fail;
		}
		atomic_fetch_add(&t->counts.bytes_read, got);
		r = push_slice(t, slot, len, buf, NULL, td->name, err);
		if (r < 0)
			goto fail;
progress:
		if (slot % 65536 == 65535 && prev)
			sp_disk_index_forget(prev, slot + 1);
		jp->p.done += len;
		jp->p.bytes_read = atomic_load(&t->counts.bytes_read);
		jp->p.bytes_new = atomic_load(&t->counts.bytes_new);
		sp_job_progress_tick(jp, false);
	}
	drain(t);
	if (sp_job_status_stopped(&t->status)) {
		*err = t->status.err;
		r = err->code;
		goto fail;
	}
	r = sp_disk_source_check_unchanged(td->src, err);
	if (r == 0) {
		struct sp_index_writer *w = t->index;
		t->index = NULL; /* ended (and freed) whatever the outcome */
		r = sp_point_draft_index_end(draft, w, ix_sha, &sealed, err);
	}
	if (r == 0)
		r = sp_disk_index_digest(sealed, digest, err);
	if (r == 0 && check)
		r = check_transfer(t, td->src, td->name, sealed, bits, jp, err);
	sp_disk_index_free(sealed);
fail:
	if (r < 0) {
		sp_job_status_fail(&t->status, err);
		drain(t);
	}
	sp_extent_cursor_free(cur);
	sp_index_writer_free(t->index);
	t->index = NULL;
	return r;
}

static void transfer_release(struct transfer *t)
{
	if (t->pool) {
		uint8_t *b;
		sp_workq_close(t->pool);
		while ((b = sp_workq_pop(t->pool)))
			sp_iobuf_free(b, t->vault->chunk_size);
	}
	sp_workq_free(t->pool);
	sp_workq_free(t->work);
	free(t->bufs);
	sp_chunk_codec_free(t->codec);
	sp_job_status_release(&t->status);
}

static void size_warning(json_t *prev, json_t *pd, const char *name,
			 uint64_t size, json_t *warnings)
{
	char msg[256];

	if (!pd ||
	    (uint64_t)json_integer_value(json_object_get(pd, "size")) == size)
		return;
	snprintf(msg, sizeof(msg),
		 "disk '%s' changed size from %lld to %llu bytes since point "
		 "%s",
		 name,
		 (long long)json_integer_value(json_object_get(pd, "size")),
		 (unsigned long long)size,
		 json_string_value(json_object_get(prev, "id")));
	sp_log(SP_LOG_WARNING, "%s", msg);
	json_array_append_new(warnings, json_string(msg));
}

/* How a disk was read, and why not from a dirty bitmap (transfer.h). */
static void read_mode(const struct sp_transfer_disk *td, bool incremental,
		      bool in_prev, json_t *entry)
{
	const char *mode, *why;

	if (incremental) {
		mode = "dirty-bitmap";
		why = NULL;
	} else if (in_prev) {
		mode = "full-compare";
		why = td->read_reason ? td->read_reason
				      : "no dirty bitmap: read in full and "
					"compared by chunk hash";
	} else {
		mode = "full";
		why = td->read_reason ? td->read_reason
				      : "no earlier point holds this disk";
	}
	json_object_set_new(entry, "read_mode", json_string(mode));
	json_object_set_new(entry, "read_reason",
			    why ? json_string(why) : json_null());
}

static json_t *disk_entry(struct sp_transfer_disk *td, const char *ixname,
			  const uint8_t sha[32], const uint8_t digest[32],
			  const struct disk_counts *dc, bool check,
			  bool incremental, bool in_prev, uint64_t ms)
{
	char hex[65], dhex[65];
	uint64_t size = sp_disk_source_size(td->src);
	json_t *entry;

	sp_hex_encode(sha, 32, hex);
	sp_hex_encode(digest, 32, dhex);
	entry = json_pack(
	    "{s:s, s:s, s:s, s:s, s:I, s:s, s:s, s:s, s:I, s:I, s:I, s:I, "
	    "s:I, s:I, s:I, s:s}",
	    "name", td->name, "source", td->source, "format",
	    td->format ? td->format
		       : sp_disk_format_name(sp_disk_source_format(td->src)),
	    "kind",
	    sp_disk_source_kind(td->src) == SP_DISK_KIND_BLOCK ? "block"
							       : "file",
	    "size", (json_int_t)size, "index", ixname, "index_sha256", hex,
	    "digest", dhex, "chunks",
	    (json_int_t)(dc->chunks_data + dc->chunks_zero), "chunks_zero",
	    (json_int_t)dc->chunks_zero, "chunks_new",
	    (json_int_t)dc->chunks_new, "bytes_read",
	    (json_int_t)dc->bytes_read, "bytes_new", (json_int_t)dc->bytes_new,
	    "bytes_stored", (json_int_t)dc->bytes_stored, "duration_ms",
	    (json_int_t)ms, "read", incremental ? "dirty" : "allocated");
	if (!entry)
		return NULL;
	read_mode(td, incremental, in_prev, entry);
	if (incremental)
		json_object_set_new(entry, "chunks_clean",
				    json_integer((json_int_t)dc->chunks_clean));
	if (check)
		json_object_set_new(
		    entry, "bytes_checked",
		    json_integer((json_int_t)dc->bytes_checked));
	if (td->extra)
		json_object_update(entry, td->extra);
	return entry;
}

/* The chunks of the disk's previous point are in the vault: a remote store
 * need not be asked about each one this backup finds again.  Only while
 * the draft's lease is held (sp_transfer_run() runs in a draft) and only
 * if the point is still there then: from that moment gc deletes none of
 * its chunks until the lease ends (docs/vault-format.md, "Vaults in object
 * storage").  Best effort: without the index, the store asks. */
static void assume_base_chunks(struct sp_vault *v, json_t *prev_manifest,
			       json_t *pd)
{
	struct sp_disk_index *ix = NULL;
	struct sp_error e;
	uint8_t sha[32];

	if (!pd || !sp_vault_assumes_chunks(v) ||
	    !sp_vault_point_exists(
		v, json_string_value(json_object_get(prev_manifest, "name")),
		json_string_value(json_object_get(prev_manifest, "id"))))
		return;
	sp_hex_decode(json_string_value(json_object_get(pd, "index_sha256")),
		      sha, 32);
	if (sp_vault_point_index_open(
		v, json_string_value(json_object_get(prev_manifest, "name")),
		json_string_value(json_object_get(prev_manifest, "id")),
		json_string_value(json_object_get(pd, "index")), sha, &ix,
		&e) < 0)
		return;
	for (uint64_t i = 0; i < sp_disk_index_count(ix); i++)
		sp_chunk_store_assume(v->chunks, sp_disk_index_get(ix, i));
	sp_disk_index_free(ix);
}

int sp_transfer_run(struct sp_vault *v, struct sp_point_draft *draft,
		    struct sp_transfer_disk *disks, size_t ndisks,
		    const struct sp_job_opts *o, bool check,
		    json_t *prev_manifest, json_t *disks_out, json_t *warnings,
		    struct sp_error *err)
{
	struct transfer t = {.vault = v};
	struct sp_job_progress jp = {.opts = o};
	pthread_t *threads = NULL;
	unsigned nthreads = sp_job_threads_for(o, v), started = 0;
	int r = 0;

	for (size_t i = 0; i < ndisks; i++) /* a second pass to check */
		jp.p.total +=
		    sp_disk_source_size(disks[i].src) * (check ? 2 : 1);
	sp_job_status_init(&t.status, o->cancel);
	t.nbufs = nthreads * 2 + 2;
	t.work = sp_workq_new(t.nbufs);
	t.pool = sp_workq_new(t.nbufs);
	t.bufs = calloc(t.nbufs, sizeof(*t.bufs));
	t.codec = sp_chunk_codec_new(v->chunk_size);
	threads = calloc(nthreads, sizeof(*threads));
	if (!t.work || !t.pool || !t.bufs || !t.codec || !threads) {
		r = sp_error_set(err, SP_E_NOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < t.nbufs; i++) {
		/* aligned for the direct reads of sources and checks */
		void *b = sp_iobuf_new(v->chunk_size);
		if (!b) {
			r = sp_error_set(err, SP_E_NOMEM, "out of memory");
			goto out;
		}
		sp_workq_push(t.pool, b);
	}
	for (; started < nthreads; started++)
		if (pthread_create(&threads[started], NULL, transfer_worker,
				   &t) != 0) {
			r = sp_error_set(err, SP_E_NOMEM,
					 "cannot start worker threads");
			goto out_threads;
		}

	for (size_t i = 0; i < ndisks; i++) {
		struct sp_transfer_disk *td = &disks[i];
		char ixname[32];
		uint8_t sha[32], digest[32];
		bool incremental = false;
		json_t *pd =
		    prev_manifest
			? sp_json_named(prev_manifest, "disks", td->name, NULL)
			: NULL;
		uint64_t t0 = sp_now_mono_ms();
		json_t *entry;

		memset(&t.counts, 0, sizeof(t.counts));
		assume_base_chunks(v, prev_manifest, pd);
		jp.p.what = "backup";
		snprintf(ixname, sizeof(ixname), "disk-%zu.idx", i);
		r = transfer_disk(&t, td, draft, ixname, check, &jp, sha,
				  digest, &incremental, err);
		if (r < 0)
			break;
		size_warning(prev_manifest, pd, td->name,
			     sp_disk_source_size(td->src), warnings);
		entry =
		    disk_entry(td, ixname, sha, digest, &t.counts, check,
			       incremental, pd != NULL, sp_now_mono_ms() - t0);
		if (!entry) {
			r = sp_error_set(err, SP_E_NOMEM, "out of memory");
			break;
		}
		json_array_append_new(disks_out, entry);
	}
	sp_job_progress_tick(&jp, true);

out_threads:
	sp_workq_close(t.work);
	for (unsigned i = 0; i < started; i++)
		pthread_join(threads[i], NULL);
out:
	if (r < 0 && t.status.err.code && !err->code)
		*err = t.status.err;
	transfer_release(&t);
	free(threads);
	return r;
}

void sp_transfer_totals(json_t *disks, json_t *m)
{
	static const char *const keys[] = {"bytes_read", "bytes_new",
					   "bytes_stored"};

	for (size_t k = 0; k < SP_ARRAY_SIZE(keys); k++) {
		json_int_t sum = 0;
		size_t i;
		json_t *d;
		json_array_foreach(disks, i, d) sum +=
		    json_integer_value(json_object_get(d, keys[k]));
		json_object_set_new(m, keys[k], json_integer(sum));
	}
}

json_t *sp_transfer_manifest(struct sp_vault *v, const char *name,
			     const char *id, const struct timespec *wall,
			     const char *consistency, json_t *disks,
			     json_t *config, json_t *warnings, uint64_t t_start,
			     uint64_t t_snap, uint64_t t_end)
{
	char when[32], host[256] = "";
	json_t *m;

	sp_time_rfc3339_ms(wall, when, sizeof(when));
	gethostname(host, sizeof(host) - 1);
	m = json_pack(
	    "{s:s, s:i, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:s, "
	    "s:O, s:O, s:O, s:{s:{s:I}, s:{s:I}}, s:I}",
	    "format", "stillpoint-point", "version", 1, "name", name, "id", id,
	    "time", when, "consistency", consistency, "host", host, "tool",
	    "stillpoint " SP_VERSION, "chunk_size", (json_int_t)v->chunk_size,
	    "chunk_id", v->encrypted ? "hmac-sha256" : "sha256", "disks", disks,
	    "config", config ? config : json_null(), "warnings", warnings,
	    "phases", "snapshot", "duration_ms", (json_int_t)(t_snap - t_start),
	    "transfer", "duration_ms", (json_int_t)(t_end - t_snap),
	    "duration_ms", (json_int_t)(t_end - t_start));
	json_decref(disks);
	json_decref(config);
	json_decref(warnings);
	if (m)
		sp_transfer_totals(json_object_get(m, "disks"), m);
	return m;
}

int sp_point_write(const struct sp_point_writer *w, json_t **manifest_out,
		   struct sp_error *err)
{
	struct sp_point_draft *draft = NULL;
	json_t *disks = json_array(), *config = NULL, *m = NULL;
	int r;

	if (!disks)
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	sp_vault_clean_drafts(w->v);
	r = sp_point_draft_begin(w->v, w->name, &draft, err);
	if (r == 0 && w->store_files)
		r = w->store_files(w->ctx, draft, &config, err);
	if (r == 0)
		r = sp_transfer_run(w->v, draft, w->disks, w->ndisks, w->job,
				    w->check, w->prev, disks, w->warnings, err);
	if (r < 0)
		goto out;
	m = sp_transfer_manifest(
	    w->v, w->name, draft->id, w->wall, w->consistency, disks, config,
	    json_incref(w->warnings), w->t_start, w->t_snap, sp_now_mono_ms());
	disks = config = NULL;
	if (!m) {
		r = sp_error_set(err, SP_E_NOMEM, "cannot build the manifest");
		goto out;
	}
	if (w->complete) {
		r = w->complete(w->ctx, m, err);
		if (r < 0)
			goto out;
	}
	r = sp_point_draft_publish(draft, m, err);
	draft = NULL;
	if (r == 0 && manifest_out)
		*manifest_out = json_incref(m);
out:
	if (draft)
		sp_point_draft_discard(draft);
	json_decref(m);
	json_decref(disks);
	json_decref(config);
	return r;
}

// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The transfer pipeline (transfer.h) and the backup job for disk images of
 * a VM that is off (crash-consistent).
 *
 * Phases: "snapshot" (open every disk and fix the set and sizes: for an
 * offline VM the disks themselves are the still point) then "transfer"
 * (read -> hash -> dedup -> compress -> store, on a pipeline).  Live VMs
 * reach the same transfer from backup_domain.c.
 *
 * Pipeline: this thread reads slices of chunk_size bytes; zero slices
 * (holes, zero extents) are never read nor hashed and keep the index's
 * zero id; data slices go through a bounded queue to worker threads that
 * hash, look up, compress and store them and write their id into the
 * index.  Buffers come from a fixed pool, so memory is bounded by
 * (threads * 2 + 2) chunks whatever the disk size.
 *
 * Invariants:
 *  1. Nothing is published unless every slice of every disk was read and
 *     stored and each disk kept its size to the end.
 *  2. Any failure or cancel discards the draft; chunks already stored stay
 *     (unreferenced, harmless, reclaimable by gc).
 *  3. An incremental slot is assembled from the base chunk (read back and
 *     checked against its id) and the dirty bytes; a clean slot keeps the
 *     base's id.  Every point still restores on its own.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "disk/disk.h"
#include "job/job.h"
#include "job/transfer.h"
#include "job/workq.h"
#include "util/cleanup.h"
#include "util/fault.h"
#include "util/fileio.h"
#include "util/log.h"
#include "util/text.h"
#include "vault/disk_index.h"
#include "vault/vault.h"

#define CONFIG_MAX (16u << 20)
#define EXTENT_WINDOW_CHUNKS 256
#define MAX_EXTENTS 512

struct slice {
	uint64_t slot;
	size_t len;
	uint8_t *buf;
};

struct disk_counts {
	atomic_uint_fast64_t chunks_data, chunks_zero, chunks_new, chunks_clean;
	atomic_uint_fast64_t bytes_read, bytes_new, bytes_stored;
};

struct backup_ctx {
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

static void *backup_worker(void *arg)
{
	struct backup_ctx *c = arg;
	struct sp_chunk_codec *codec = sp_chunk_codec_new(c->vault->chunk_size);
	struct slice *s;
	struct sp_error e;

	if (!codec) {
		sp_error_set(&e, SP_E_NOMEM, "out of memory");
		sp_job_status_fail(&c->status, &e);
	}
	while ((s = sp_workq_pop(c->work))) {
		struct sp_chunk_id id;
		bool added;
		size_t stored;

		if (!codec || sp_job_status_stopped(&c->status))
			goto next;
		if (sp_buffer_is_zero(s->buf, s->len)) {
			atomic_fetch_add(&c->counts.chunks_zero, 1);
			goto next;
		}
		sp_chunk_id_compute(s->buf, s->len, &id);
		if (sp_chunk_store_put(c->vault->chunks, codec, &id, s->buf,
				       s->len, &added, &stored, &e) < 0 ||
		    sp_index_writer_set(c->index, s->slot, &id, &e) < 0) {
			sp_job_status_fail(&c->status, &e);
			goto next;
		}
		atomic_fetch_add(&c->counts.chunks_data, 1);
		if (added) {
			atomic_fetch_add(&c->counts.chunks_new, 1);
			atomic_fetch_add(&c->counts.bytes_new, s->len);
			atomic_fetch_add(&c->counts.bytes_stored, stored);
		}
next:
		sp_workq_push(c->pool, s->buf);
		free(s);
	}
	sp_chunk_codec_free(codec);
	return NULL;
}

/* Fill @buf with [off, off+len) from the extents, reading data ranges and
 * zeroing the rest.  Returns bytes actually read, or <0. */
static int read_slice(struct sp_disk_source *src,
		      const struct sp_disk_extent *ex, size_t nex, uint64_t off,
		      size_t len, uint8_t *buf, uint64_t *bytes_read,
		      struct sp_error *err)
{
	for (size_t i = 0; i < nex; i++) {
		uint64_t s = ex[i].offset > off ? ex[i].offset : off;
		uint64_t e = ex[i].offset + ex[i].length;
		if (e > off + len)
			e = off + len;
		if (s >= e)
			continue;
		if (ex[i].zero) {
			memset(buf + (s - off), 0, (size_t)(e - s));
		} else {
			int r = sp_disk_source_pread(src, buf + (s - off),
						     (size_t)(e - s), s, err);
			if (r < 0)
				return r;
			*bytes_read += e - s;
		}
	}
	return 0;
}

/* Hand a filled buffer to the workers. */
static int push_slice(struct backup_ctx *c, uint64_t slot, size_t len,
		      uint8_t *buf, struct sp_error *err)
{
	struct slice *s = malloc(sizeof(*s));

	if (!s) {
		sp_workq_push(c->pool, buf);
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	}
	s->slot = slot;
	s->len = len;
	s->buf = buf;
	sp_workq_push(c->work, s);
	return 0;
}

/* Fill buf[at - base ...] with [at, at+len) of the disk, reading data
 * extents and zeroing the rest. */
static int read_range(struct sp_disk_source *src, const char *name,
		      uint64_t base, uint64_t at, uint64_t len, uint8_t *buf,
		      uint64_t *bytes_read, struct sp_error *err)
{
	struct sp_disk_extent ex[64];
	uint64_t end = at + len;

	while (at < end) {
		size_t n = 0;
		int r = sp_disk_source_extents(src, at, end - at, ex,
					       SP_ARRAY_SIZE(ex), &n, err);
		if (r < 0)
			return r;
		if (n == 0)
			return sp_error_set(err, SP_E_DISK_READ,
					    "disk '%s' reports no extents at "
					    "offset %llu",
					    name, (unsigned long long)at);
		r = read_slice(src, ex, n, at, (size_t)(end - at),
			       buf + (at - base), bytes_read, err);
		if (r < 0)
			return r;
		at = ex[n - 1].offset + ex[n - 1].length;
	}
	return 0;
}

#define MAX_DIRTY 1024

/*
 * Incremental transfer of one disk (invariant 3): the dirty bitmap says
 * which ranges changed since the base point's checkpoint.
 */
static int backup_disk_incremental(struct backup_ctx *c,
				   struct sp_disk_source *src, const char *name,
				   struct sp_disk_index *prev,
				   struct sp_job_progress *jp,
				   struct sp_error *err)
{
	const uint32_t cs = c->vault->chunk_size;
	const uint64_t size = sp_disk_source_size(src);
	const uint64_t count = (size + cs - 1) / cs;
	struct sp_disk_range *dr = NULL;
	size_t ndr = 0, first = 0;
	uint64_t covered = 0;
	int r = 0;

	dr = calloc(MAX_DIRTY, sizeof(*dr));
	if (!dr)
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	for (uint64_t slot = 0; slot < count; slot++) {
		uint64_t off = slot * cs, end;
		size_t len = (size_t)(size - off < cs ? size - off : cs);
		uint64_t dirty_bytes = 0, got = 0;
		uint8_t *buf;

		end = off + len;
		if (sp_job_status_stopped(&c->status))
			break;
		/* Make the dirty list reach the end of this slot, keeping
		 * ranges that still overlap it. */
		while (covered < end) {
			size_t keep = 0, n = 0;
			for (size_t i = first; i < ndr; i++)
				if (dr[i].offset + dr[i].length > off)
					dr[keep++] = dr[i];
			ndr = keep;
			first = 0;
			if (ndr == MAX_DIRTY) {
				/* Pathologically fragmented: read it whole. */
				dr[0] = (struct sp_disk_range){off, len};
				ndr = 1;
				covered = end;
				break;
			}
			r = sp_disk_source_dirty_ranges(
			    src, covered > off ? covered : off,
			    (uint64_t)cs * EXTENT_WINDOW_CHUNKS, dr + ndr,
			    MAX_DIRTY - ndr, &n, &covered, err);
			if (r < 0)
				goto out;
			ndr += n;
		}
		while (first < ndr &&
		       dr[first].offset + dr[first].length <= off)
			first++;
		for (size_t i = first; i < ndr && dr[i].offset < end; i++) {
			uint64_t s = dr[i].offset > off ? dr[i].offset : off;
			uint64_t e = dr[i].offset + dr[i].length;
			dirty_bytes += (e < end ? e : end) - s;
		}
		if (dirty_bytes == 0) {
			/* A clean slot relies on the base's chunk: has()
			 * resurrects it if gc made it a fossil; if it is gone,
			 * the slot is read again. */
			const struct sp_chunk_id *id =
			    sp_disk_index_get(prev, slot);
			if (!sp_chunk_id_is_zero(id) &&
			    !sp_chunk_store_has(c->vault->chunks, id))
				dirty_bytes = len;
		}
		if (dirty_bytes == 0) {
			const struct sp_chunk_id *id =
			    sp_disk_index_get(prev, slot);
			atomic_fetch_add(&c->counts.chunks_clean, 1);
			if (sp_chunk_id_is_zero(id)) {
				atomic_fetch_add(&c->counts.chunks_zero, 1);
			} else {
				r = sp_index_writer_set(c->index, slot, id,
							err);
				if (r < 0)
					goto out;
				atomic_fetch_add(&c->counts.chunks_data, 1);
			}
			goto progress;
		}
		buf = sp_workq_pop(c->pool);
		if (dirty_bytes < len) {
			const struct sp_chunk_id *id =
			    sp_disk_index_get(prev, slot);
			size_t blen = 0;
			if (sp_chunk_id_is_zero(id)) {
				memset(buf, 0, len);
			} else {
				r = sp_chunk_store_get(c->vault->chunks,
						       c->codec, id, buf, cs,
						       &blen, err);
				if (r == 0 && blen != len)
					r = sp_error_set(
					    err, SP_E_CHUNK_CORRUPT,
					    "base chunk of slot %llu of disk "
					    "'%s' has the wrong length",
					    (unsigned long long)slot, name);
				if (r < 0) {
					sp_workq_push(c->pool, buf);
					goto out;
				}
			}
			for (size_t i = first; i < ndr && dr[i].offset < end;
			     i++) {
				uint64_t s =
				    dr[i].offset > off ? dr[i].offset : off;
				uint64_t e = dr[i].offset + dr[i].length;
				r = read_range(src, name, off, s,
					       (e < end ? e : end) - s, buf,
					       &got, err);
				if (r < 0)
					break;
			}
		} else {
			r = read_range(src, name, off, off, len, buf, &got,
				       err);
		}
		if (r < 0) {
			sp_workq_push(c->pool, buf);
			goto out;
		}
		atomic_fetch_add(&c->counts.bytes_read, got);
		r = push_slice(c, slot, len, buf, err);
		if (r < 0)
			goto out;
progress:
		jp->p.done += len;
		jp->p.bytes_read = atomic_load(&c->counts.bytes_read);
		jp->p.bytes_new = atomic_load(&c->counts.bytes_new);
		sp_job_progress_tick(jp, false);
	}
out:
	free(dr);
	return r;
}

/* Transfer one disk into the draft's index @ixname. */
static int backup_disk(struct backup_ctx *c, struct sp_disk_source *src,
		       struct sp_disk_index *prev, const char *disk_name,
		       int draft_fd, const char *ixname,
		       struct sp_job_progress *jp, uint8_t ix_sha[32],
		       struct sp_error *err)
{
	const uint32_t cs = c->vault->chunk_size;
	const uint64_t size = sp_disk_source_size(src);
	const uint64_t count = (size + cs - 1) / cs;
	struct sp_disk_extent ex[MAX_EXTENTS];
	size_t nex = 0;
	uint64_t ex_end = 0; /* extents in @ex cover [.., ex_end) */
	size_t ex_first = 0;
	int r;

	r = sp_index_writer_create(draft_fd, ixname, size, cs, &c->index, err);
	if (r < 0)
		return r;
	jp->p.item = disk_name;
	if (prev) {
		r = backup_disk_incremental(c, src, disk_name, prev, jp, err);
		if (r < 0)
			goto fail;
	}

	for (uint64_t slot = 0; !prev && slot < count; slot++) {
		uint64_t off = slot * cs;
		size_t len = (size_t)(size - off < cs ? size - off : cs);
		bool any_data = false;

		if (sp_job_status_stopped(&c->status))
			break;
		sp_test_hold("slice");
		/* Make sure the extents cover this slice. */
		while (ex_end < off + len) {
			size_t got = 0;
			uint64_t from = ex_end > off ? ex_end : off;
			if (ex_end > off && nex > 0) {
				/* keep the extent that straddles the slice */
				ex[0] = ex[nex - 1];
				nex = 1;
			} else {
				nex = 0;
			}
			r = sp_disk_source_extents(
			    src, from, (uint64_t)cs * EXTENT_WINDOW_CHUNKS,
			    ex + nex, MAX_EXTENTS - nex, &got, err);
			if (r < 0)
				goto fail;
			if (got == 0) {
				r = sp_error_set(err, SP_E_DISK_READ,
						 "disk '%s' reports no extents "
						 "at offset %llu",
						 disk_name,
						 (unsigned long long)from);
				goto fail;
			}
			nex += got;
			ex_end = ex[nex - 1].offset + ex[nex - 1].length;
			ex_first = 0;
		}
		while (ex_first < nex &&
		       ex[ex_first].offset + ex[ex_first].length <= off)
			ex_first++;
		for (size_t i = ex_first; i < nex && ex[i].offset < off + len;
		     i++)
			if (!ex[i].zero)
				any_data = true;
		if (!any_data) {
			atomic_fetch_add(&c->counts.chunks_zero, 1);
		} else {
			uint8_t *buf = sp_workq_pop(c->pool);
			uint64_t got = 0;

			r = read_slice(src, ex + ex_first, nex - ex_first, off,
				       len, buf, &got, err);
			if (r < 0) {
				sp_workq_push(c->pool, buf);
				goto fail;
			}
			atomic_fetch_add(&c->counts.bytes_read, got);
			r = push_slice(c, slot, len, buf, err);
			if (r < 0)
				goto fail;
		}
		jp->p.done += len;
		jp->p.bytes_read = atomic_load(&c->counts.bytes_read);
		jp->p.bytes_new = atomic_load(&c->counts.bytes_new);
		sp_job_progress_tick(jp, false);
	}
	/* Wait until the workers have taken every slice back to the pool. */
	for (size_t i = 0; i < c->nbufs; i++)
		c->bufs[i] = sp_workq_pop(c->pool);
	for (size_t i = 0; i < c->nbufs; i++)
		sp_workq_push(c->pool, c->bufs[i]);
	if (sp_job_status_stopped(&c->status)) {
		*err = c->status.err;
		r = err->code;
		goto fail;
	}
	r = sp_disk_source_check_unchanged(src, err);
	if (r < 0)
		goto fail;
	r = sp_index_writer_finish(c->index, ix_sha, err);
fail:
	if (r < 0)
		sp_job_status_fail(&c->status, err);
	sp_index_writer_free(c->index);
	c->index = NULL;
	return r;
}

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');

	return s && s[1] ? s + 1 : path;
}

/* The newest point of @name, to compare disk sizes with; NULL if none. */
static json_t *previous_point(struct sp_vault *v, const char *name)
{
	json_t *m = NULL;
	struct sp_error e;

	if (sp_vault_find_point(v, name, &m, &e) < 0)
		return NULL;
	return m;
}

static int store_config(int draft_fd, const char *path, json_t **entry,
			struct sp_error *err)
{
	sp_autofree char *data = NULL;
	size_t len;
	uint8_t sha[32];
	char hex[65];
	int r;

	r = sp_file_read(AT_FDCWD, path, CONFIG_MAX, &data, &len);
	if (r < 0)
		return sp_error_set_errno(err, SP_E_CONFIG_NOT_FOUND, -r,
					  "cannot read config '%s'", path);
	r = sp_file_publish(draft_fd, "config", data, len, err);
	if (r < 0)
		return r;
	sp_sha256(data, len, sha);
	sp_hex_encode(sha, 32, hex);
	*entry =
	    json_pack("{s:s, s:s, s:I, s:s}", "file", base_name(path), "source",
		      path, "size", (json_int_t)len, "sha256", hex);
	return 0;
}

static void ctx_release(struct backup_ctx *c)
{
	if (c->pool) {
		uint8_t *b;
		sp_workq_close(c->pool);
		while ((b = sp_workq_pop(c->pool)))
			free(b);
	}
	sp_workq_free(c->pool);
	sp_workq_free(c->work);
	free(c->bufs);
	sp_chunk_codec_free(c->codec);
	sp_job_status_release(&c->status);
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

int sp_transfer_run(struct sp_vault *v, struct sp_point_draft *draft,
		    struct sp_transfer_disk *disks, size_t ndisks,
		    const struct sp_job_opts *o, json_t *prev,
		    json_t *disks_out, json_t *warnings, struct sp_error *err)
{
	struct backup_ctx c = {.vault = v};
	struct sp_job_progress jp = {.opts = o};
	pthread_t *threads = NULL;
	unsigned nthreads = sp_job_threads(o), started = 0;
	int r = 0;

	for (size_t i = 0; i < ndisks; i++)
		jp.p.total += sp_disk_source_size(disks[i].src);
	sp_job_status_init(&c.status, o->cancel);
	c.nbufs = nthreads * 2 + 2;
	c.work = sp_workq_new(c.nbufs);
	c.pool = sp_workq_new(c.nbufs);
	c.bufs = calloc(c.nbufs, sizeof(*c.bufs));
	c.codec = sp_chunk_codec_new(v->chunk_size);
	threads = calloc(nthreads, sizeof(*threads));
	if (!c.work || !c.pool || !c.bufs || !c.codec || !threads) {
		r = sp_error_set(err, SP_E_NOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < c.nbufs; i++) {
		uint8_t *b = malloc(v->chunk_size);
		if (!b) {
			r = sp_error_set(err, SP_E_NOMEM, "out of memory");
			goto out;
		}
		sp_workq_push(c.pool, b);
	}
	for (; started < nthreads; started++)
		if (pthread_create(&threads[started], NULL, backup_worker,
				   &c) != 0) {
			r = sp_error_set(err, SP_E_NOMEM,
					 "cannot start worker threads");
			goto out_threads;
		}

	jp.p.what = "backup";
	for (size_t i = 0; i < ndisks; i++) {
		struct sp_transfer_disk *td = &disks[i];
		char ixname[32], hex[65];
		uint8_t sha[32];
		uint64_t size = sp_disk_source_size(td->src);
		struct disk_counts *dc = &c.counts;
		json_t *pd =
		    prev ? sp_json_named(prev, "disks", td->name, NULL) : NULL;
		uint64_t t0 = sp_now_mono_ms();
		json_t *entry;

		memset(dc, 0, sizeof(*dc));
		snprintf(ixname, sizeof(ixname), "disk-%zu.idx", i);
		r = backup_disk(&c, td->src, td->prev, td->name, draft->dirfd,
				ixname, &jp, sha, err);
		if (r < 0)
			break;
		sp_hex_encode(sha, 32, hex);
		size_warning(prev, pd, td->name, size, warnings);
		entry = json_pack(
		    "{s:s, s:s, s:s, s:s, s:I, s:s, s:s, s:I, "
		    "s:I, s:I, s:I, s:I, s:I, s:I, s:s}",
		    "name", td->name, "source", td->source, "format",
		    td->format
			? td->format
			: sp_disk_format_name(sp_disk_source_format(td->src)),
		    "kind",
		    sp_disk_source_kind(td->src) == SP_DISK_KIND_BLOCK ? "block"
								       : "file",
		    "size", (json_int_t)size, "index", ixname, "index_sha256",
		    hex, "chunks",
		    (json_int_t)(dc->chunks_data + dc->chunks_zero),
		    "chunks_zero", (json_int_t)dc->chunks_zero, "chunks_new",
		    (json_int_t)dc->chunks_new, "bytes_read",
		    (json_int_t)dc->bytes_read, "bytes_new",
		    (json_int_t)dc->bytes_new, "bytes_stored",
		    (json_int_t)dc->bytes_stored, "duration_ms",
		    (json_int_t)(sp_now_mono_ms() - t0), "read",
		    td->prev ? "dirty" : "allocated");
		if (!entry) {
			r = sp_error_set(err, SP_E_NOMEM, "out of memory");
			break;
		}
		if (td->prev)
			json_object_set_new(
			    entry, "chunks_clean",
			    json_integer((json_int_t)dc->chunks_clean));
		if (td->extra)
			json_object_update(entry, td->extra);
		json_array_append_new(disks_out, entry);
	}
	sp_job_progress_tick(&jp, true);

out_threads:
	sp_workq_close(c.work);
	for (unsigned i = 0; i < started; i++)
		pthread_join(threads[i], NULL);
out:
	if (r < 0 && c.status.err.code && !err->code)
		*err = c.status.err;
	ctx_release(&c);
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
	    "chunk_id", "sha256", "disks", disks, "config",
	    config ? config : json_null(), "warnings", warnings, "phases",
	    "snapshot", "duration_ms", (json_int_t)(t_snap - t_start),
	    "transfer", "duration_ms", (json_int_t)(t_end - t_snap),
	    "duration_ms", (json_int_t)(t_end - t_start));
	json_decref(disks);
	json_decref(config);
	json_decref(warnings);
	if (m)
		sp_transfer_totals(json_object_get(m, "disks"), m);
	return m;
}

int sp_backup_run(struct sp_vault *v, const struct sp_backup_opts *o,
		  json_t **manifest_out, struct sp_error *err)
{
	struct sp_disk_source **src = NULL;
	struct sp_transfer_disk *td = NULL;
	char **abs = NULL, **paths = NULL;
	int deflt = SP_DISK_FORMAT_UNDECLARED;
	struct sp_point_draft *draft = NULL;
	json_t *manifest = NULL, *disks = NULL, *warnings = NULL;
	json_t *prev = NULL, *config = NULL;
	uint64_t t_start = sp_now_mono_ms(), t_snap, t_end;
	struct timespec wall;
	int r = 0;

	clock_gettime(CLOCK_REALTIME, &wall);
	if (!sp_name_is_valid(o->name))
		return sp_error_set(
		    err, SP_E_NAME_INVALID,
		    "invalid VM name '%s' (use letters, digits, "
		    "'.', '_' and '-', at most 64)",
		    o->name);
	if (o->ndisks == 0)
		return sp_error_set(err, SP_E_USAGE,
				    "no disks to back up (give --disk PATH)");
	if (o->format) {
		deflt = sp_disk_format_parse(o->format);
		if (deflt != SP_DISK_FORMAT_RAW &&
		    deflt != SP_DISK_FORMAT_QCOW2)
			return sp_error_set(err, SP_E_USAGE,
					    "unknown disk format '%s' (use raw "
					    "or qcow2)",
					    o->format);
	}

	/* Phase 1, snapshot: fix the set of disks and their sizes. */
	src = calloc(o->ndisks, sizeof(*src));
	td = calloc(o->ndisks, sizeof(*td));
	abs = calloc(o->ndisks, sizeof(*abs));
	paths = calloc(o->ndisks, sizeof(*paths));
	if (!src || !td || !abs || !paths) {
		r = sp_error_set(err, SP_E_NOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < o->ndisks; i++) {
		enum sp_disk_format fmt;

		if (sp_disk_spec_split(o->disks[i], &paths[i], &fmt) < 0) {
			r = sp_error_set(err, SP_E_NOMEM, "out of memory");
			goto out;
		}
		if (fmt == SP_DISK_FORMAT_UNDECLARED)
			fmt = (enum sp_disk_format)deflt;
		for (size_t j = 0; j < i; j++)
			if (!strcmp(base_name(paths[i]), base_name(paths[j]))) {
				r = sp_error_set(err, SP_E_DISK_DUPLICATE,
						 "disks '%s' and '%s' have the "
						 "same name '%s'",
						 paths[j], paths[i],
						 base_name(paths[i]));
				goto out;
			}
		r = sp_disk_source_open(paths[i], fmt, &src[i], err);
		if (r < 0)
			goto out;
		abs[i] = realpath(paths[i], NULL);
		td[i] = (struct sp_transfer_disk){
		    .src = src[i],
		    .name = base_name(paths[i]),
		    .source = abs[i] ? abs[i] : paths[i],
		};
	}
	t_snap = sp_now_mono_ms();

	/* Phase 2, transfer. */
	sp_vault_clean_drafts(v);
	prev = previous_point(v, o->name);
	r = sp_point_draft_begin(v, o->name, &draft, err);
	if (r < 0)
		goto out;
	if (o->config_path) {
		r = store_config(draft->dirfd, o->config_path, &config, err);
		if (r < 0)
			goto out;
	}
	disks = json_array();
	warnings = json_array();
	r = sp_transfer_run(v, draft, td, o->ndisks, &o->job, prev, disks,
			    warnings, err);
	if (r < 0)
		goto out;

	t_end = sp_now_mono_ms();
	manifest =
	    sp_transfer_manifest(v, o->name, draft->id, &wall, "crash", disks,
				 config, warnings, t_start, t_snap, t_end);
	config = disks = warnings = NULL;
	if (!manifest) {
		r = sp_error_set(err, SP_E_NOMEM, "cannot build the manifest");
		goto out;
	}
	r = sp_point_draft_publish(draft, manifest, err);
	draft = NULL;
	if (r == 0 && manifest_out)
		*manifest_out = json_incref(manifest);

out:
	if (draft)
		sp_point_draft_discard(draft);
	json_decref(manifest);
	json_decref(disks);
	json_decref(warnings);
	json_decref(config);
	json_decref(prev);
	for (size_t i = 0; src && i < o->ndisks; i++) {
		sp_disk_source_free(src[i]);
		if (abs)
			free(abs[i]);
		if (paths)
			free(paths[i]);
	}
	free(paths);
	free(src);
	free(td);
	free(abs);
	return r;
}

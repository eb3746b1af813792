// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The verify job: read back every chunk the selected points need, check it
 * against its id and its slots' length, check each disk's index against
 * its manifest (checksum, size, digest), check the files stored beside the
 * indexes (config, NVRAM, TPM state) against their SHA-256, and name each
 * damaged point, disk, file and byte range.  (verify_against.c compares a
 * point with a disk.)
 *
 * Points are found by scanning points/ (not the catalog, which skips
 * points it cannot read); a point directory that cannot be opened or read
 * is damage, never skipped.  Every distinct chunk is checked once, in
 * parallel, however many points share it.  A chunk that cannot be read
 * for any reason is damage in the ranges that use it; verify stops only
 * when it cannot go on at all (out of memory, interrupted).  Invariant:
 * verify only reads; it never changes the vault.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "job/job.h"
#include "job/point_disk.h"
#include "job/vm_state.h"
#include "util/cleanup.h"
#include "util/text.h"
#include "vault/catalog.h"
#include "vault/disk_index.h"
#include "vault/vault.h"

enum chunk_state {
	CH_UNCHECKED = 0,
	CH_OK,
	CH_MISSING,
	CH_CORRUPT,
	CH_UNREADABLE, /* an I/O or permission error, not the content */
};

struct chunk_slot {
	struct sp_chunk_id id;
	uint32_t len; /* plaintext length, once checked */
	uint8_t used;
	uint8_t state;
};

/* An open-addressing set of the distinct chunk ids to check. */
struct chunk_set {
	struct chunk_slot *slots;
	size_t cap, count;
};

static uint64_t id_hash(const struct sp_chunk_id *id)
{
	uint64_t h;

	memcpy(&h, id->bytes, sizeof(h)); /* ids are uniform already */
	return h;
}

static struct chunk_slot *set_find(struct chunk_set *s,
				   const struct sp_chunk_id *id)
{
	size_t i = id_hash(id) & (s->cap - 1);

	while (s->slots[i].used &&
	       memcmp(s->slots[i].id.bytes, id->bytes, SP_CHUNK_ID_LEN))
		i = (i + 1) & (s->cap - 1);
	return &s->slots[i];
}

static int set_add(struct chunk_set *s, const struct sp_chunk_id *id)
{
	struct chunk_slot *slot;

	if ((s->count + 1) * 2 > s->cap) {
		struct chunk_set n = {.cap = s->cap ? s->cap * 2 : 1024};
		n.slots = calloc(n.cap, sizeof(*n.slots));
		if (!n.slots)
			return -ENOMEM;
		for (size_t i = 0; i < s->cap; i++)
			if (s->slots[i].used) {
				*set_find(&n, &s->slots[i].id) = s->slots[i];
				n.count++;
			}
		free(s->slots);
		*s = n;
	}
	slot = set_find(s, id);
	if (!slot->used) {
		slot->id = *id;
		slot->used = 1;
		s->count++;
	}
	return 0;
}

struct point_disk {
	char point[160];
	char disk[256];
	uint64_t size;
	struct sp_point_disk *pd;
};

struct verify_ctx {
	struct sp_vault *vault;
	struct chunk_set set;
	struct sp_job_status status;
	atomic_size_t next;
	atomic_uint_fast64_t checked, bytes;
	size_t files; /* files beside the indexes checked */
};

static void *verify_worker(void *arg)
{
	struct verify_ctx *c = arg;
	struct sp_chunk_codec *codec = sp_chunk_codec_new(c->vault->chunk_size);
	uint8_t *buf = malloc(c->vault->chunk_size);
	struct sp_error e;

	if (!codec || !buf) {
		sp_error_set(&e, SP_E_NOMEM, "out of memory");
		sp_job_status_fail(&c->status, &e);
		goto out;
	}
	for (;;) {
		size_t i = atomic_fetch_add(&c->next, 1);
		struct chunk_slot *s;
		size_t len;
		int r;

		if (i >= c->set.cap || sp_job_status_stopped(&c->status))
			break;
		s = &c->set.slots[i];
		if (!s->used)
			continue;
		r = sp_chunk_store_get(c->vault->chunks, codec, &s->id, buf,
				       c->vault->chunk_size, &len, &e);
		if (r == 0) {
			s->state = CH_OK;
			s->len = (uint32_t)len;
			atomic_fetch_add(&c->bytes, len);
		} else if (r == SP_E_CHUNK_MISSING) {
			s->state = CH_MISSING;
		} else if (r == SP_E_CHUNK_CORRUPT) {
			s->state = CH_CORRUPT;
		} else if (r == SP_E_NOMEM) {
			sp_job_status_fail(&c->status, &e);
			break;
		} else {
			s->state = CH_UNREADABLE;
		}
		atomic_fetch_add(&c->checked, 1);
	}
out:
	free(buf);
	sp_chunk_codec_free(codec);
	return NULL;
}

static void add_damage(json_t *damaged, const char *point, const char *disk,
		       json_t *ranges, const char *error)
{
	json_t *e = json_pack("{s:s}", "point", point);

	if (disk)
		json_object_set_new(e, "disk", json_string(disk));
	if (ranges)
		json_object_set_new(e, "ranges", ranges);
	if (error)
		json_object_set_new(e, "error", json_string(error));
	json_array_append_new(damaged, e);
}

static void add_file_damage(json_t *damaged, const char *point,
			    const char *file, const char *kind,
			    const struct sp_error *e)
{
	json_array_append_new(
	    damaged, json_pack("{s:s, s:s, s:s?, s:s, s:s}", "point", point,
			       "file", file, "state", kind, "code",
			       sp_errcode_name(e->code), "error", e->msg));
}

static const char *state_name(int st)
{
	switch (st) {
	case CH_MISSING:
		return "ChunkMissing";
	case CH_UNREADABLE:
		return "VaultIOError";
	default:
		return "ChunkCorrupt";
	}
}

/* Damaged ranges of one disk, adjacent slots with the same fault merged.
 * A chunk whose length is not its slot's is corrupt there (a chunk's
 * length follows from its id, so no slot of another length may use it). */
static json_t *disk_ranges(struct verify_ctx *c, struct point_disk *pd)
{
	struct sp_disk_index *ix = sp_point_disk_index(pd->pd);
	const uint32_t cs = sp_disk_index_chunk_size(ix);
	const uint64_t count = sp_disk_index_count(ix);
	json_t *ranges = json_array();
	json_t *last = NULL;
	int last_state = 0;
	uint64_t last_end = 0;

	for (uint64_t slot = 0; slot < count; slot++) {
		const struct sp_chunk_id *id = sp_disk_index_get(ix, slot);
		uint64_t off = slot * cs;
		uint64_t len = pd->size - off < cs ? pd->size - off : cs;
		const struct chunk_slot *cs_ = NULL;
		int st;

		if (slot % 65536 == 65535)
			sp_disk_index_forget(ix, slot);
		if (sp_chunk_id_is_zero(id))
			continue;
		cs_ = set_find(&c->set, id);
		st = cs_->state;
		if (st == CH_OK && cs_->len != len)
			st = CH_CORRUPT;
		if (st == CH_OK || st == CH_UNCHECKED)
			continue;
		if (last && last_state == st && last_end == off) {
			json_object_set_new(
			    last, "length",
			    json_integer(json_integer_value(
					     json_object_get(last, "length")) +
					 (json_int_t)len));
		} else {
			last = json_pack(
			    "{s:I, s:I, s:s}", "offset", (json_int_t)off,
			    "length", (json_int_t)len, "error", state_name(st));
			json_array_append_new(ranges, last);
		}
		last_state = st;
		last_end = off + len;
	}
	sp_disk_index_forget(ix, count);
	if (json_array_size(ranges) == 0) {
		json_decref(ranges);
		return NULL;
	}
	return ranges;
}

static int select_points(struct sp_vault *v, const char *spec, json_t *set,
			 json_t *unreadable, struct sp_error *err)
{
	char name[80];
	const char *at;
	json_t *m = NULL;
	int r;

	if (!spec)
		return sp_vault_scan_points(v, NULL, set, unreadable, err);
	at = strchr(spec, '@');
	if (!at) {
		if (!sp_name_is_valid(spec))
			return sp_error_set(err, SP_E_NAME_INVALID,
					    "invalid VM name '%s'", spec);
		r = sp_vault_scan_points(v, spec, set, unreadable, err);
		if (r == 0 && json_object_size(set) == 0 &&
		    json_object_size(unreadable) == 0)
			r = sp_error_set(err, SP_E_POINT_NOT_FOUND,
					 "VM '%s' has no recovery points",
					 spec);
		return r;
	}
	r = sp_vault_find_point(v, spec, &m, err);
	if (r < 0)
		return r;
	snprintf(name, sizeof(name), "%s/%s",
		 json_string_value(json_object_get(m, "name")),
		 json_string_value(json_object_get(m, "id")));
	json_object_set_new(set, name, json_true());
	json_decref(m);
	return 0;
}

/* The files a point holds beside its indexes: the config and each stored
 * state file, against the SHA-256 (and size) of the manifest. */
static void check_files(struct verify_ctx *c, const struct sp_point_ref *p,
			json_t *m, const char *key, json_t *damaged)
{
	json_t *cfg = json_object_get(m, "config"), *it;
	struct sp_error e;
	size_t i;

	if (json_is_object(cfg)) {
		c->files++;
		if (sp_point_file_check(
			p, "config", SP_POINT_FILE_ANY_SIZE,
			json_string_value(json_object_get(cfg, "sha256")),
			&e) < 0)
			add_file_damage(damaged, key, "config", NULL, &e);
	}
	json_array_foreach(json_object_get(m, "state"), i, it)
	{
		const char *file =
		    json_string_value(json_object_get(it, "file"));

		if (!file)
			continue;
		c->files++;
		if (sp_point_file_check(
			p, file,
			(uint64_t)json_integer_value(
			    json_object_get(it, "size")),
			json_string_value(json_object_get(it, "sha256")),
			&e) < 0)
			add_file_damage(
			    damaged, key, file,
			    json_string_value(json_object_get(it, "kind")), &e);
	}
}

/* Load one point: its manifest, each disk's index (checksums, size and
 * digest); what fails is damage.  Adds the disks' chunk ids to the set. */
static int load_point(struct verify_ctx *c, const char *key, json_t *damaged,
		      struct point_disk **pds, size_t *npds, size_t *cap,
		      struct sp_error *err)
{
	char pname[80], where[160];
	const char *slash = strchr(key, '/');
	struct sp_point_ref pref = {c->vault, pname, slash + 1};
	json_t *m = NULL, *d;
	struct sp_error e;
	size_t i;
	int r = 0;

	snprintf(pname, sizeof(pname), "%.*s", (int)(slash - key), key);
	snprintf(where, sizeof(where), "%s@%s", pname, slash + 1);
	if (sp_vault_point_manifest(c->vault, pname, slash + 1, &m, &e) < 0) {
		add_damage(damaged, key, NULL, NULL, e.msg);
		return 0;
	}
	json_array_foreach(json_object_get(m, "disks"), i, d)
	{
		struct point_disk pd = {0};
		struct sp_disk_index *ix;
		bool had;

		snprintf(pd.point, sizeof(pd.point), "%s", key);
		snprintf(pd.disk, sizeof(pd.disk), "%s",
			 json_string_value(json_object_get(d, "name")));
		if (sp_point_disk_open(&pref, d, where, &pd.pd, &e) < 0 ||
		    sp_point_disk_check_digest(pd.pd, &had, &e) < 0) {
			if (e.code == SP_E_NOMEM) {
				sp_point_disk_free(pd.pd);
				r = sp_error_set(err, SP_E_NOMEM,
						 "out of memory");
				break;
			}
			add_damage(damaged, key, pd.disk, NULL, e.msg);
			sp_point_disk_free(pd.pd);
			continue;
		}
		pd.size = sp_point_disk_size(pd.pd);
		ix = sp_point_disk_index(pd.pd);
		for (uint64_t s = 0; r == 0 && s < sp_disk_index_count(ix);
		     s++) {
			const struct sp_chunk_id *id = sp_disk_index_get(ix, s);
			if (s % 65536 == 65535)
				sp_disk_index_forget(ix, s);
			if (!sp_chunk_id_is_zero(id) &&
			    set_add(&c->set, id) < 0)
				r = sp_error_set(err, SP_E_NOMEM,
						 "out of memory");
		}
		sp_disk_index_forget(ix, sp_disk_index_count(ix));
		if (r == 0 && *npds == *cap) {
			size_t ncap = *cap ? *cap * 2 : 16;
			void *np = realloc(*pds, ncap * sizeof(**pds));
			if (!np)
				r = sp_error_set(err, SP_E_NOMEM,
						 "out of memory");
			else
				*pds = np, *cap = ncap;
		}
		if (r < 0) {
			sp_point_disk_free(pd.pd);
			break;
		}
		(*pds)[(*npds)++] = pd;
	}
	if (r == 0)
		check_files(c, &pref, m, key, damaged);
	json_decref(m);
	return r;
}

int sp_verify_run(struct sp_vault *v, const struct sp_verify_opts *o,
		  json_t **report, struct sp_error *err)
{
	struct verify_ctx c = {.vault = v};
	struct sp_job_progress jp = {.opts = &o->job};
	json_t *sel = json_object(), *damaged = json_array(), *val;
	json_t *unreadable = json_object();
	struct point_disk *pds = NULL;
	size_t npds = 0, cap = 0, npoints = 0;
	const char *key;
	unsigned nthreads = sp_job_threads_for(&o->job, v), started = 0;
	pthread_t th[32];
	int r;

	if (o->nagainst > 0) {
		json_decref(sel);
		json_decref(damaged);
		json_decref(unreadable);
		return sp_verify_against(v, o, report, err);
	}
	sp_job_status_init(&c.status, o->job.cancel);
	r = select_points(v, o->spec, sel, unreadable, err);
	if (r < 0)
		goto out;
	json_object_foreach(unreadable, key, val)
	{
		npoints++;
		add_damage(damaged, key, NULL, NULL, json_string_value(val));
	}
	json_object_foreach(sel, key, val)
	{
		npoints++;
		r = load_point(&c, key, damaged, &pds, &npds, &cap, err);
		if (r < 0)
			goto out;
	}

	jp.p.what = "verify";
	jp.p.total = c.set.count;
	for (; started < nthreads && started < 32; started++)
		if (pthread_create(&th[started], NULL, verify_worker, &c))
			break;
	if (started == 0) {
		r = sp_error_set(err, SP_E_NOMEM, "cannot start threads");
		goto out;
	}
	while (atomic_load(&c.next) < c.set.cap &&
	       !sp_job_status_stopped(&c.status)) {
		usleep(50000);
		jp.p.done = atomic_load(&c.checked);
		jp.p.bytes_read = atomic_load(&c.bytes);
		sp_job_progress_tick(&jp, false);
	}
	for (unsigned i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	jp.p.done = atomic_load(&c.checked);
	sp_job_progress_tick(&jp, true);
	if (sp_job_status_stopped(&c.status)) {
		*err = c.status.err;
		r = err->code;
		goto out;
	}
	for (size_t i = 0; i < npds; i++) {
		json_t *ranges = disk_ranges(&c, &pds[i]);
		if (ranges)
			add_damage(damaged, pds[i].point, pds[i].disk, ranges,
				   NULL);
	}
	if (report)
		*report = json_pack("{s:I, s:I, s:I, s:I, s:O}", "points",
				    (json_int_t)npoints, "chunks",
				    (json_int_t)c.set.count, "bytes",
				    (json_int_t)atomic_load(&c.bytes), "files",
				    (json_int_t)c.files, "damaged", damaged);
	if (json_array_size(damaged) > 0)
		r = sp_error_set(err, SP_E_POINT_DAMAGED,
				 "%zu damaged item(s) found in %zu point(s)",
				 json_array_size(damaged), npoints);
out:
	for (size_t i = 0; i < npds; i++)
		sp_point_disk_free(pds[i].pd);
	free(pds);
	free(c.set.slots);
	sp_job_status_release(&c.status);
	json_decref(sel);
	json_decref(unreadable);
	json_decref(damaged);
	return r;
}

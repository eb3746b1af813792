// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Garbage collection and the trash on a temporary vault: fossils and their
 * resurrection by writers and readers, the mark over points, trashed
 * points and drafts, the two-run sweep, the wait for drafts that ran when
 * fossils were made, and a run killed after "marking".
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "util/fileio.h"
#include "util/text.h"
#include "vault/disk_index.h"
#include "vault/gc.h"
#include "vault/vault.h"
#include <stillpoint/stillpoint.h>

#define CS 65536u

static struct sp_vault *v;
static struct sp_chunk_codec *codec;
static char vpath[300];

static struct sp_chunk_id chunk(unsigned seed, bool old)
{
	static unsigned char data[CS];
	struct sp_chunk_id id;
	struct sp_error err;
	bool added;
	size_t stored;
	char rel[69], path[400];

	for (size_t i = 0; i < CS; i++) {
		seed = seed * 1103515245u + 12345u;
		data[i] = (unsigned char)(seed >> 16);
	}
	sp_chunk_id_compute(data, CS, &id);
	CHECK_OK(sp_chunk_store_put(v->chunks, codec, &id, data, CS, &added,
				    &stored, &err),
		 &err);
	if (old) {
		/* older than any gc run of this test */
		struct timespec ts[2] = {{time(NULL) - 3600, 0},
					 {time(NULL) - 3600, 0}};
		sp_chunk_store_path(&id, rel);
		snprintf(path, sizeof(path), "%s/chunks/%s", vpath, rel);
		CHECK(utimensat(AT_FDCWD, path, ts, 0) == 0);
	}
	return id;
}

/* 0: absent, 1: under its name, 2: as a fossil only. */
static int where(const struct sp_chunk_id *id)
{
	char rel[69], path[400];

	sp_chunk_store_path(id, rel);
	snprintf(path, sizeof(path), "%s/chunks/%s", vpath, rel);
	if (access(path, F_OK) == 0)
		return 1;
	strcat(path, SP_CHUNK_FOSSIL_SUFFIX);
	return access(path, F_OK) == 0 ? 2 : 0;
}

/* A draft of VM @name whose one disk names @ids (NULL: a zero slot). */
static struct sp_point_draft *draft(const char *name,
				    const struct sp_chunk_id *ids, size_t n,
				    struct sp_index_writer **w)
{
	struct sp_point_draft *d = NULL;
	struct sp_error err;

	CHECK_OK(sp_point_draft_begin(v, name, &d, &err), &err);
	CHECK_OK(sp_point_draft_index_begin(d, "disk-0.idx", (uint64_t)n * CS,
					    w, &err),
		 &err);
	for (size_t i = 0; i < n; i++)
		CHECK_OK(sp_index_writer_set(*w, i, &ids[i], &err), &err);
	return d;
}

static void publish(struct sp_point_draft *d, struct sp_index_writer *w,
		    size_t n, char id_out[SP_POINT_ID_MAX])
{
	struct sp_error err;
	uint8_t sha[32];
	char hex[65], when[32];
	json_t *m;

	struct sp_disk_index *sealed = NULL;

	CHECK_OK(sp_point_draft_index_end(d, w, sha, &sealed, &err), &err);
	sp_disk_index_free(sealed);
	sp_hex_encode(sha, 32, hex);
	sp_time_rfc3339(time(NULL), when, sizeof(when));
	snprintf(id_out, SP_POINT_ID_MAX, "%s", d->id);
	m = json_pack("{s:s, s:i, s:s, s:s, s:s, s:s, s:I, s:s, s:[{s:s, "
		      "s:I, s:s, s:s, s:s}], s:n}",
		      "format", "stillpoint-point", "version", 1, "name",
		      d->name, "id", d->id, "time", when, "consistency",
		      "crash", "chunk_size", (json_int_t)CS, "chunk_id",
		      "sha256", "disks", "name", "d.img", "size",
		      (json_int_t)(n * CS), "format", "raw", "index",
		      "disk-0.idx", "index_sha256", hex, "config");
	CHECK_OK(sp_point_draft_publish(d, m, &err), &err);
	json_decref(m);
}

static json_t *gc(bool dry, int64_t now)
{
	struct sp_gc_opts o = {.dry_run = dry, .now = now};
	struct sp_error err;
	json_t *rep = NULL;

	CHECK_OK(sp_gc_run(v, &o, &rep, &err), &err);
	return rep;
}

static long long num(json_t *rep, const char *k)
{
	return (long long)json_integer_value(json_object_get(rep, k));
}

static void test_resurrect(void)
{
	struct sp_chunk_id a = chunk(1, true);
	char rel[69], from[400], to[420];
	unsigned char buf[CS];
	struct sp_error err;
	size_t len;

	sp_chunk_store_path(&a, rel);
	snprintf(from, sizeof(from), "%s/chunks/%s", vpath, rel);
	snprintf(to, sizeof(to), "%s" SP_CHUNK_FOSSIL_SUFFIX, from);
	CHECK(rename(from, to) == 0);
	/* A reader reads the fossil and leaves it be. */
	CHECK_OK(sp_chunk_store_get(v->chunks, codec, &a, buf, CS, &len, &err),
		 &err);
	CHECK_INT(len, CS);
	CHECK_INT(where(&a), 2);
	/* A writer that relies on it takes it back. */
	CHECK(sp_chunk_store_has(v->chunks, &a));
	CHECK_INT(where(&a), 1);
	/* So does a put of the same content (a dedup). */
	CHECK(rename(from, to) == 0);
	struct sp_chunk_id again = chunk(1, false);
	CHECK(memcmp(&again, &a, sizeof(a)) == 0);
	CHECK_INT(where(&a), 1);
	CHECK(access(to, F_OK) != 0);
	/* Neither chunk nor fossil: absent. */
	struct sp_chunk_id none;
	sp_chunk_id_compute("nothing", 7, &none);
	CHECK(!sp_chunk_store_has(v->chunks, &none));
}

static void test_two_runs(void)
{
	struct sp_chunk_id ids[2] = {chunk(10, true), chunk(11, true)};
	struct sp_chunk_id lone = chunk(12, true), young = chunk(13, false);
	struct sp_index_writer *w;
	struct sp_point_draft *d;
	char id[SP_POINT_ID_MAX];
	json_t *rep;

	d = draft("vm", ids, 2, &w);
	publish(d, w, 2, id);
	rep = gc(true, 0);
	CHECK_INT(num(rep, "fossilized"), 2); /* lone, and test 1's chunk */
	CHECK_INT(where(&lone), 1);	      /* dry run: nothing changed */
	json_decref(rep);

	rep = gc(false, 0);
	CHECK_INT(num(rep, "referenced"), 2);
	CHECK_INT(num(rep, "fossilized"), 2);
	CHECK_INT(num(rep, "deleted"), 0);
	CHECK_INT(where(&lone), 2);
	CHECK_INT(where(&young), 1); /* newer than the run */
	CHECK_INT(where(&ids[0]), 1);
	json_decref(rep);

	rep = gc(false, 0);
	CHECK(json_is_true(json_object_get(rep, "swept")));
	CHECK_INT(num(rep, "deleted"), 2);
	CHECK(num(rep, "bytes_freed") > 0);
	CHECK_INT(where(&lone), 0);
	CHECK_INT(where(&ids[1]), 1);
	json_decref(rep);

	/* young has served: gone, it cannot age into the counts of a later
	 * test's runs, whatever the clock says by then. */
	char rel[69], path[400];
	sp_chunk_store_path(&young, rel);
	snprintf(path, sizeof(path), "%s/chunks/%s", vpath, rel);
	CHECK(unlink(path) == 0);
}

static void test_drafts(void)
{
	struct sp_chunk_id e = chunk(20, true), f = chunk(21, true);
	struct sp_chunk_id zero = {{0}};
	struct sp_index_writer *w;
	struct sp_point_draft *d;
	char id[SP_POINT_ID_MAX];
	json_t *rep;

	/* A draft's index is read as far as it is written. */
	struct sp_chunk_id slots[2] = {e, zero};
	d = draft("vm2", slots, 2, &w);
	rep = gc(false, 0);
	CHECK_INT(where(&e), 1);
	CHECK_INT(where(&f), 2);
	CHECK_INT(num(rep, "fossilized"), 1);
	json_decref(rep);
	/* The draft relied on f before it became a fossil (it wrote the id
	 * without has()): the next run must wait for it. */
	struct sp_error err;
	CHECK_OK(sp_index_writer_set(w, 1, &f, &err), &err);
	rep = gc(false, 0);
	CHECK_INT(json_array_size(json_object_get(rep, "waiting_for")), 1);
	CHECK_INT(num(rep, "deleted"), 0);
	CHECK_INT(where(&f), 2);
	json_decref(rep);
	/* Published: the sweep reads the point and resurrects f. */
	publish(d, w, 2, id);
	rep = gc(false, 0);
	CHECK(json_is_true(json_object_get(rep, "swept")));
	CHECK_INT(num(rep, "resurrected"), 1);
	CHECK_INT(num(rep, "deleted"), 0);
	CHECK_INT(where(&f), 1);
	json_decref(rep);

	/* A dead draft (lock free) is not waited for. */
	struct sp_chunk_id g = chunk(22, true);
	slots[0] = zero;
	slots[1] = zero;
	d = draft("vm3", slots, 2, &w);
	rep = gc(false, 0);
	CHECK_INT(where(&g), 2);
	json_decref(rep);
	CHECK_OK(sp_index_writer_set(w, 0, &g, &err), &err);
	/* as if its process died */
	flock(sp_store_local_draft_lockfd(v->store, d->sd), LOCK_UN);
	rep = gc(false, 0);
	CHECK_INT(json_array_size(json_object_get(rep, "waiting_for")), 0);
	CHECK(json_is_true(json_object_get(rep, "swept")));
	/* ... though its index is still read while it is there */
	CHECK_INT(where(&g), 1);
	json_decref(rep);
	sp_index_writer_free(w);
	sp_point_draft_discard(d);
}

static void test_trash(void)
{
	struct sp_chunk_id ids[1] = {chunk(30, true)};
	struct sp_index_writer *w;
	struct sp_point_draft *d;
	char id[SP_POINT_ID_MAX], spec[120];
	struct sp_error err;
	json_t *rep, *list = NULL, *m = NULL;
	int64_t now = time(NULL);

	d = draft("vt", ids, 1, &w);
	publish(d, w, 1, id);
	snprintf(spec, sizeof(spec), "vt@%s", id);
	CHECK_OK(sp_vault_point_trash(v, "vt", id, "test", 14, now, &err),
		 &err);
	CHECK_INT(sp_vault_find_point(v, spec, &m, &err), SP_E_POINT_NOT_FOUND);
	CHECK(strstr(err.msg, "undelete") != NULL);
	CHECK_INT(sp_vault_point_trash(v, "vt", id, NULL, 14, now, &err),
		  SP_E_POINT_NOT_FOUND);
	CHECK_OK(sp_vault_trash_list(v, &list, &err), &err);
	CHECK_INT(json_array_size(list), 1);
	CHECK_STR(
	    json_string_value(json_object_get(json_array_get(list, 0), "why")),
	    "test");
	json_decref(list);
	/* Trashed points keep their chunks, over two runs. */
	json_decref(gc(false, now));
	json_decref(gc(false, now));
	CHECK_INT(where(&ids[0]), 1);
	/* Undelete: listed again. */
	CHECK_OK(sp_vault_point_undelete(v, "vt", id, &err), &err);
	CHECK_OK(sp_vault_find_point(v, spec, &m, &err), &err);
	json_decref(m);
	CHECK_INT(sp_vault_point_undelete(v, "vt", id, &err),
		  SP_E_POINT_NOT_FOUND);
	/* Expiry: not before its time, then purged and collected. */
	CHECK_OK(sp_vault_point_trash(v, "vt", id, NULL, 1, now, &err), &err);
	rep = gc(false, now + 3600);
	CHECK_INT(json_array_size(json_object_get(rep, "trash_purged")), 0);
	json_decref(rep);
	rep = gc(false, now + 86400);
	CHECK_INT(json_array_size(json_object_get(rep, "trash_purged")), 1);
	CHECK_INT(where(&ids[0]), 2);
	json_decref(rep);
	CHECK_INT(sp_vault_point_undelete(v, "vt", id, &err),
		  SP_E_POINT_NOT_FOUND);
	rep = gc(false, now);
	CHECK_INT(where(&ids[0]), 0);
	json_decref(rep);
}

static void test_killed_and_busy(void)
{
	struct sp_chunk_id h = chunk(40, true);
	struct sp_error err;
	json_t *rep, *none = json_array();
	struct sp_gc_opts o = {0};
	int lock = -1;

	rep = gc(false, 0);
	CHECK_INT(where(&h), 2);
	json_decref(rep);
	/* A run killed after G4 leaves "marking": no sweep from that. */
	json_t *doc = json_pack("{s:i, s:s, s:O}", "version", 1, "state",
				"marking", "drafts", none);
	char *text = json_dumps(doc, 0);
	CHECK_OK(sp_file_publish(v->fd, SP_GC_STATE, text, strlen(text), &err),
		 &err);
	free(text);
	json_decref(doc);
	json_decref(none);
	rep = gc(false, 0);
	CHECK(!json_is_true(json_object_get(rep, "swept")));
	CHECK_INT(num(rep, "deleted"), 0);
	CHECK_INT(where(&h), 2);
	json_decref(rep);
	rep = gc(false, 0);
	CHECK_INT(num(rep, "deleted"), 1);
	CHECK_INT(where(&h), 0);
	json_decref(rep);

	CHECK_OK(sp_vault_lock_open(v->fd, v->path, SP_GC_LOCK, LOCK_EX, &lock,
				    &err),
		 &err);
	CHECK_INT(sp_gc_run(v, &o, &rep, &err), SP_E_GC_BUSY);
	close(lock);
}

int main(void)
{
	struct sp_error err;

	snprintf(vpath, sizeof(vpath), "%s/vault", sp_test_tmpdir());
	CHECK_OK(sp_vault_init(vpath, CS, &err), &err);
	CHECK_OK(sp_vault_open(vpath, &v, &err), &err);
	if (!v)
		return 1;
	codec = sp_chunk_codec_new(CS);
	SP_RUN(test_resurrect);
	SP_RUN(test_two_runs);
	SP_RUN(test_drafts);
	SP_RUN(test_trash);
	SP_RUN(test_killed_and_busy);
	sp_chunk_codec_free(codec);
	sp_vault_close(v);
	SP_TEST_EXIT();
}

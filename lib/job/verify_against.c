// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * verify --against: prove a point against a disk without restoring it.
 * The point's disk (point_disk.h) and the given image or block device are
 * walked side by side, slice by slice, with one extent cursor each; a
 * slice that both say is zero is equal without a read, any other slice is
 * filled from both and compared byte for byte.  The differing byte ranges
 * are named, in order, adjacent bytes merged.
 *
 * Invariant: nothing is written anywhere; a chunk of the point is used
 * only once it matched its id and its slot's length (point_disk.c).
 */
#include <stdlib.h>
#include <string.h>

#include "disk/disk.h"
#include "disk/extent_cursor.h"
#include "job/job.h"
#include "job/point_disk.h"
#include "util/cleanup.h"
#include "util/text.h"
#include "vault/vault.h"

#define RANGES_MAX 32
#define COMPARE_STEP (4u << 20)

struct diff {
	json_t *ranges;
	json_t *last; /* the newest range, to extend */
	uint64_t last_end, bytes, omitted;
};

static void diff_add(struct diff *d, uint64_t off, uint64_t len)
{
	if (d->last && d->last_end == off) {
		json_object_set_new(
		    d->last, "length",
		    json_integer(
			json_integer_value(json_object_get(d->last, "length")) +
			(json_int_t)len));
	} else if (json_array_size(d->ranges) < RANGES_MAX) {
		d->last = json_pack("{s:I, s:I}", "offset", (json_int_t)off,
				    "length", (json_int_t)len);
		json_array_append_new(d->ranges, d->last);
	} else {
		d->last = NULL;
		d->omitted++;
	}
	d->last_end = off + len;
	d->bytes += len;
}

/* Add the byte ranges where @a and @b (@len bytes at disk offset @off)
 * differ. */
static void diff_buffers(struct diff *d, const uint8_t *a, const uint8_t *b,
			 size_t len, uint64_t off)
{
	size_t i = 0;

	while (i < len) {
		size_t start, blk = len - i < 64 ? len - i : 64;

		if (memcmp(a + i, b + i, blk) == 0) {
			i += blk;
			continue;
		}
		while (a[i] == b[i])
			i++;
		start = i;
		while (i < len && a[i] != b[i])
			i++;
		diff_add(d, off + start, i - start);
	}
}

static json_t *find_disk(json_t *m, const char *name, size_t n)
{
	size_t i;
	json_t *d;

	json_array_foreach(json_object_get(m, "disks"), i, d)
	{
		const char *dn = json_string_value(json_object_get(d, "name"));
		if (dn && strlen(dn) == n && !strncmp(dn, name, n))
			return d;
	}
	return NULL;
}

/* Compare one point disk with @path; appends its entry to @out. */
static int compare_disk(struct sp_point_disk *pd, const char *path,
			enum sp_disk_format fmt, struct sp_job_progress *jp,
			volatile sig_atomic_t *cancel, json_t *out, bool *equal,
			struct sp_error *err)
{
	struct sp_disk_source *src = NULL;
	struct sp_extent_cursor *pc = NULL, *dc = NULL;
	sp_autofree uint8_t *a = malloc(COMPARE_STEP);
	sp_autofree uint8_t *b = malloc(COMPARE_STEP);
	struct diff d = {.ranges = json_array()};
	uint64_t psize = sp_point_disk_size(pd), dsize, common;
	json_t *entry;
	int r;

	if (!a || !b || !d.ranges) {
		json_decref(d.ranges);
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	}
	r = sp_disk_source_open(path, fmt, &src, err);
	if (r == 0)
		r = sp_point_disk_cursor(pd, &pc, err);
	if (r == 0)
		r = sp_extent_cursor_open(src, 0, &dc, err);
	if (r < 0)
		goto out;
	dsize = sp_disk_source_size(src);
	common = psize < dsize ? psize : dsize;
	jp->p.item = sp_point_disk_name(pd);
	for (uint64_t off = 0; off < common; off += COMPARE_STEP) {
		uint64_t len =
		    common - off < COMPARE_STEP ? common - off : COMPARE_STEP;
		struct sp_extent_slice ps, ds;
		uint64_t got = 0;

		if (cancel && *cancel) {
			r = sp_error_set(err, SP_E_INTERRUPTED,
					 "verify interrupted");
			goto out;
		}
		r = sp_extent_cursor_next(pc, off, len, &ps, err);
		if (r == 0)
			r = sp_extent_cursor_next(dc, off, len, &ds, err);
		if (r < 0)
			goto out;
		if (ps.data_bytes || ds.data_bytes) {
			r = sp_extent_cursor_fill(pc, a, false, &got, err);
			if (r == 0)
				r = sp_extent_cursor_fill(dc, b, false, &got,
							  err);
			if (r < 0)
				goto out;
			diff_buffers(&d, a, b, (size_t)len, off);
		}
		jp->p.done += len;
		jp->p.bytes_read += got;
		sp_job_progress_tick(jp, false);
	}
	*equal = d.bytes == 0 && psize == dsize;
	entry = json_pack("{s:s, s:s, s:I, s:I, s:b, s:I, s:O, s:I}", "disk",
			  sp_point_disk_name(pd), "path", path, "size",
			  (json_int_t)psize, "disk_size", (json_int_t)dsize,
			  "equal", *equal, "bytes_differing",
			  (json_int_t)d.bytes, "ranges", d.ranges,
			  "ranges_omitted", (json_int_t)d.omitted);
	if (!entry)
		r = sp_error_set(err, SP_E_NOMEM, "out of memory");
	else
		json_array_append_new(out, entry);
out:
	json_decref(d.ranges);
	sp_extent_cursor_free(pc);
	sp_extent_cursor_free(dc);
	sp_disk_source_free(src);
	return r;
}

/* The message of a difference: the first ranges, in words. */
static void describe(json_t *e, char *msg, size_t len)
{
	json_t *rg = json_array_get(json_object_get(e, "ranges"), 0);
	json_int_t ps = json_integer_value(json_object_get(e, "size"));
	json_int_t ds = json_integer_value(json_object_get(e, "disk_size"));
	int n = 0;

	if (rg)
		n = snprintf(
		    msg, len,
		    "disk '%s' differs from '%s' first at bytes %lld+%lld "
		    "(%lld bytes differ in %zu range(s)%s)",
		    json_string_value(json_object_get(e, "disk")),
		    json_string_value(json_object_get(e, "path")),
		    (long long)json_integer_value(
			json_object_get(rg, "offset")),
		    (long long)json_integer_value(
			json_object_get(rg, "length")),
		    (long long)json_integer_value(
			json_object_get(e, "bytes_differing")),
		    json_array_size(json_object_get(e, "ranges")),
		    json_integer_value(json_object_get(e, "ranges_omitted"))
			? " and more"
			: "");
	if (ps != ds && n >= 0 && (size_t)n < len)
		snprintf(msg + n, len - (size_t)n,
			 "%sdisk '%s' has %lld bytes in the point, '%s' %lld",
			 n ? "; " : "",
			 json_string_value(json_object_get(e, "disk")),
			 (long long)ps,
			 json_string_value(json_object_get(e, "path")),
			 (long long)ds);
}

int sp_verify_against(struct sp_vault *v, const struct sp_verify_opts *o,
		      json_t **report, struct sp_error *err)
{
	struct sp_job_progress jp = {.opts = &o->job};
	struct sp_point_ref pref = {v, NULL, NULL};
	json_t *m = NULL, *found = NULL, *disks = json_array();
	char where[160], first[512] = "";
	size_t ndiffer = 0;
	int r;

	if (!o->spec) {
		json_decref(disks);
		return sp_error_set(err, SP_E_USAGE,
				    "verify --against needs the point: give "
				    "NAME or NAME@ID");
	}
	r = sp_vault_find_point(v, o->spec, &found, err);
	if (r < 0)
		goto out;
	pref.name = json_string_value(json_object_get(found, "name"));
	pref.id = json_string_value(json_object_get(found, "id"));
	snprintf(where, sizeof(where), "%s@%s",
		 json_string_value(json_object_get(found, "name")),
		 json_string_value(json_object_get(found, "id")));
	r = sp_vault_point_manifest(v, pref.name, pref.id, &m, err);
	if (r < 0)
		goto out;
	jp.p.what = "compare";
	for (size_t i = 0; i < o->nagainst; i++) {
		const char *eq = strchr(o->against[i], '=');
		json_t *d = eq ? find_disk(m, o->against[i],
					   (size_t)(eq - o->against[i]))
			       : NULL;
		if (!d) {
			r = sp_error_set(err, SP_E_USAGE,
					 "--against '%s' names no disk of "
					 "point '%s' (use DISK=PATH with a "
					 "disk name from 'stillpoint points')",
					 o->against[i], where);
			goto out;
		}
		jp.p.total +=
		    (uint64_t)json_integer_value(json_object_get(d, "size"));
	}
	for (size_t i = 0; i < o->nagainst; i++) {
		const char *eq = strchr(o->against[i], '=');
		json_t *d =
		    find_disk(m, o->against[i], (size_t)(eq - o->against[i]));
		struct sp_point_disk *pd = NULL;
		sp_autofree char *path = NULL;
		enum sp_disk_format fmt;
		bool had, equal = true;

		if (sp_disk_spec_split(eq + 1, &path, &fmt) < 0) {
			r = sp_error_set(err, SP_E_NOMEM, "out of memory");
			goto out;
		}
		r = sp_point_disk_open(&pref, d, where, &pd, err);
		if (r == 0)
			r = sp_point_disk_check_digest(pd, &had, err);
		if (r == 0)
			r = compare_disk(pd, path, fmt, &jp, o->job.cancel,
					 disks, &equal, err);
		sp_point_disk_free(pd);
		if (r < 0)
			goto out;
		if (!equal && ndiffer++ == 0)
			describe(
			    json_array_get(disks, json_array_size(disks) - 1),
			    first, sizeof(first));
	}
	sp_job_progress_tick(&jp, true);
	if (report)
		*report =
		    json_pack("{s:s, s:O}", "point", where, "disks", disks);
	if (ndiffer)
		r = sp_error_set(err, SP_E_POINT_DIFFERS, "point '%s': %s%s",
				 where, first,
				 ndiffer > 1 ? " (and other disks)" : "");
out:
	json_decref(found);
	json_decref(m);
	json_decref(disks);
	return r;
}

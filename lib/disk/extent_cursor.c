// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The extent cursor (contracts in extent_cursor.h).  It keeps a window of
 * extents, as the source described them, that tiles [win[first].offset,
 * win_end) without a gap; a slice is cut out of the window once the
 * window reaches the slice's end.  Extents wholly before a slice are
 * dropped, so the window never holds more than one slice's extents plus
 * one reply.
 *
 * Invariants:
 *  1. win[first..nwin) are contiguous, non-empty, and end at win_end.
 *  2. A source's reply enters the window only after every extent of it
 *     was checked to continue exactly where the window ends.
 *  3. A slice handed out tiles its range exactly (checked again before it
 *     leaves, so that a mistake here is an error, never wrong bytes).
 */
#include "disk/extent_cursor.h"

#include <stdlib.h>
#include <string.h>

#define DEFAULT_STEP (1ull << 30)

struct sp_extent_cursor {
	struct sp_extent_reader rd;
	void *opaque;
	uint64_t size, step;
	struct sp_disk_extent *win; /* the window (invariant 1) */
	size_t first, nwin, win_cap;
	uint64_t win_end;
	struct sp_disk_extent *reply; /* SP_EXTENT_REPLY_MAX */
	struct sp_disk_extent *out;   /* the last slice's extents */
	size_t out_cap;
	struct sp_extent_slice last;
	bool started;
};

int sp_extent_cursor_new(const struct sp_extent_reader *rd, void *opaque,
			 uint64_t size, uint64_t step,
			 struct sp_extent_cursor **ret, struct sp_error *err)
{
	struct sp_extent_cursor *c = calloc(1, sizeof(*c));

	if (!c ||
	    !(c->reply = calloc(SP_EXTENT_REPLY_MAX, sizeof(*c->reply)))) {
		free(c);
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	}
	c->rd = *rd;
	c->opaque = opaque;
	c->size = size;
	c->step = step ? step : DEFAULT_STEP;
	*ret = c;
	return 0;
}

static int source_extents(void *opaque, uint64_t offset, uint64_t length,
			  struct sp_disk_extent *out, size_t max, size_t *n,
			  struct sp_error *err)
{
	return sp_disk_source_extents(opaque, offset, length, out, max, n, err);
}

/* Past the page cache where the source allows it (O_DIRECT): a backup
 * reads each byte once, so the copy through the cache was pure cost (as
 * much system time as the hashing's user time) and evicted what the host
 * had cached. */
static int source_pread(void *opaque, void *buf, size_t len, uint64_t offset,
			struct sp_error *err)
{
	return sp_disk_source_pread_uncached(opaque, buf, len, offset, err);
}

int sp_extent_cursor_open(struct sp_disk_source *src, uint64_t step,
			  struct sp_extent_cursor **ret, struct sp_error *err)
{
	static const struct sp_extent_reader source_reader = {
	    .extents = source_extents,
	    .pread = source_pread,
	};

	return sp_extent_cursor_new(&source_reader, src,
				    sp_disk_source_size(src), step, ret, err);
}

void sp_extent_cursor_free(struct sp_extent_cursor *c)
{
	if (!c)
		return;
	free(c->win);
	free(c->reply);
	free(c->out);
	free(c);
}

static bool same_kind(const struct sp_disk_extent *a,
		      const struct sp_disk_extent *b)
{
	return a->zero == b->zero && a->dirty == b->dirty;
}

/* Append one checked extent to the window, merging it with the last one
 * when they are of one kind. */
static int window_append(struct sp_extent_cursor *c,
			 const struct sp_disk_extent *e, struct sp_error *err)
{
	if (c->nwin > c->first && same_kind(&c->win[c->nwin - 1], e)) {
		c->win[c->nwin - 1].length += e->length;
		return 0;
	}
	if (c->nwin == c->win_cap && c->first > 0) {
		memmove(c->win, c->win + c->first,
			(c->nwin - c->first) * sizeof(*c->win));
		c->nwin -= c->first;
		c->first = 0;
	}
	if (c->nwin == c->win_cap) {
		size_t cap = c->win_cap ? c->win_cap * 2 : 256;
		void *p = realloc(c->win, cap * sizeof(*c->win));
		if (!p)
			return sp_error_set(err, SP_E_NOMEM, "out of memory");
		c->win = p;
		c->win_cap = cap;
	}
	c->win[c->nwin++] = *e;
	return 0;
}

/* Ask the source about the bytes after the window (invariant 2). */
static int window_extend(struct sp_extent_cursor *c, uint64_t need_end,
			 struct sp_error *err)
{
	uint64_t ask = need_end - c->win_end, pos = c->win_end;
	size_t got = 0;
	int r;

	if (ask < c->step)
		ask = c->step;
	if (ask > c->size - c->win_end)
		ask = c->size - c->win_end;
	r = c->rd.extents(c->opaque, c->win_end, ask, c->reply,
			  SP_EXTENT_REPLY_MAX, &got, err);
	if (r < 0)
		return r;
	if (got == 0 || got > SP_EXTENT_REPLY_MAX)
		return sp_error_set(err, SP_E_DISK_READ,
				    "the disk reports no extents at offset "
				    "%llu",
				    (unsigned long long)pos);
	for (size_t i = 0; i < got; i++) {
		const struct sp_disk_extent *e = &c->reply[i];
		if (e->offset != pos || e->length == 0 ||
		    e->length > c->win_end + ask - pos)
			return sp_error_set(
			    err, SP_E_DISK_READ,
			    "the disk reports inconsistent extents at offset "
			    "%llu (extent %llu+%llu where %llu was expected; "
			    "nothing was read from it)",
			    (unsigned long long)c->win_end,
			    (unsigned long long)e->offset,
			    (unsigned long long)e->length,
			    (unsigned long long)pos);
		pos += e->length;
	}
	for (size_t i = 0; i < got; i++) {
		r = window_append(c, &c->reply[i], err);
		if (r < 0)
			return r;
	}
	c->win_end = pos;
	return 0;
}

int sp_extent_cursor_next(struct sp_extent_cursor *c, uint64_t offset,
			  uint64_t length, struct sp_extent_slice *slice,
			  struct sp_error *err)
{
	const uint64_t end = offset + length;
	const uint64_t prev = c->last.offset;
	uint64_t at = offset;
	size_t n = 0;
	int r;

	memset(&c->last, 0, sizeof(c->last));
	if (length == 0 || end < offset || end > c->size ||
	    (c->started && offset < prev))
		return sp_error_set(err, SP_E_INTERNAL,
				    "extent cursor asked for %llu+%llu "
				    "(disk of %llu bytes)",
				    (unsigned long long)offset,
				    (unsigned long long)length,
				    (unsigned long long)c->size);
	while (c->first < c->nwin &&
	       c->win[c->first].offset + c->win[c->first].length <= offset)
		c->first++;
	if (c->first == c->nwin) { /* nothing left: start again here */
		c->first = c->nwin = 0;
		c->win_end = offset;
	}
	while (c->win_end < end) {
		r = window_extend(c, end, err);
		if (r < 0)
			return r;
	}
	/* Cut the slice out of the window (invariant 3 checked as we go). */
	for (size_t i = c->first; i < c->nwin && c->win[i].offset < end; i++) {
		const struct sp_disk_extent *w = &c->win[i];
		uint64_t s = w->offset > offset ? w->offset : offset;
		uint64_t e =
		    w->offset + w->length < end ? w->offset + w->length : end;

		if (s != at || e <= s)
			return sp_error_set(err, SP_E_INTERNAL,
					    "extent cursor lost the tiling of "
					    "%llu+%llu at %llu",
					    (unsigned long long)offset,
					    (unsigned long long)length,
					    (unsigned long long)at);
		if (n == c->out_cap) {
			size_t cap = c->out_cap ? c->out_cap * 2 : 64;
			void *p = realloc(c->out, cap * sizeof(*c->out));
			if (!p)
				return sp_error_set(err, SP_E_NOMEM,
						    "out of memory");
			c->out = p;
			c->out_cap = cap;
		}
		c->out[n] = *w;
		c->out[n].offset = s;
		c->out[n].length = e - s;
		if (!w->zero)
			c->last.data_bytes += e - s;
		if (w->dirty)
			c->last.dirty_bytes += e - s;
		n++;
		at = e;
	}
	if (at != end)
		return sp_error_set(err, SP_E_INTERNAL,
				    "extent cursor left %llu+%llu uncovered",
				    (unsigned long long)at,
				    (unsigned long long)(end - at));
	c->started = true;
	c->last.offset = offset;
	c->last.length = length;
	c->last.ex = c->out;
	c->last.n = n;
	*slice = c->last;
	return 0;
}

int sp_extent_cursor_fill(struct sp_extent_cursor *c, uint8_t *buf,
			  bool only_dirty, uint64_t *bytes_read,
			  struct sp_error *err)
{
	const struct sp_extent_slice *s = &c->last;
	uint64_t at = s->offset;

	if (s->n == 0)
		return sp_error_set(err, SP_E_INTERNAL,
				    "extent cursor filled before next()");
	for (size_t i = 0; i < s->n; i++) {
		const struct sp_disk_extent *e = &s->ex[i];
		uint8_t *dst = buf + (e->offset - s->offset);
		int r;

		if (e->offset != at) /* next() guarantees it: belt and braces */
			return sp_error_set(err, SP_E_INTERNAL,
					    "extent cursor slice is not tiled");
		at += e->length;
		if (only_dirty && !e->dirty)
			continue;
		if (e->zero) {
			memset(dst, 0, (size_t)e->length);
			continue;
		}
		r = c->rd.pread(c->opaque, dst, (size_t)e->length, e->offset,
				err);
		if (r < 0)
			return r;
		*bytes_read += e->length;
	}
	return 0;
}

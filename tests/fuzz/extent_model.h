/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A reference model of a disk for the extent cursor's tests: every byte
 * has a kind (data or zero, dirty or clean) and data bytes a value that
 * depends on their offset only.  The model serves the cursor as a source
 * (struct sp_extent_reader) with programmable quirks: replies limited to
 * a few extents, replies that stop early inside an extent, and, when
 * asked, one malformed reply (a gap, an overlap, an empty extent, a wrong
 * start).  model_check_slice() compares a slice and its filled buffer
 * with the model, byte for byte.
 */
#ifndef SP_TEST_EXTENT_MODEL_H
#define SP_TEST_EXTENT_MODEL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "disk/extent_cursor.h"

#define MODEL_ZERO 1
#define MODEL_DIRTY 2

/* The model is the yardstick, not the code under test: keep the fuzzer's
 * coverage probes (a compare hook per byte) out of its loops. */
#if defined(__clang__)
#define MODEL_FN static inline __attribute__((no_sanitize("coverage")))
#else
#define MODEL_FN static inline
#endif

struct model {
	uint64_t size;
	uint8_t *kind;	     /* MODEL_* bits per byte */
	size_t reply_max;    /* extents per reply, 1..SP_EXTENT_REPLY_MAX */
	unsigned stop_every; /* every Nth reply stops early (0: never) */
	unsigned evil_at;    /* the Nth reply is malformed (0: never) */
	unsigned evil_kind;  /* which malformation */
	unsigned replies;
	bool bad_read; /* pread touched a byte that is not data */
};

MODEL_FN uint8_t model_byte(uint64_t off)
{
	uint64_t x = off * 0x9e3779b97f4a7c15ull;
	return (uint8_t)((x >> 56) | 1); /* never zero: a hole shows */
}

MODEL_FN int model_extents(void *opaque, uint64_t offset, uint64_t length,
			   struct sp_disk_extent *out, size_t max, size_t *n,
			   struct sp_error *err)
{
	struct model *m = opaque;
	uint64_t end = offset + length, pos = offset;
	size_t lim = m->reply_max < max ? m->reply_max : max;

	(void)err;
	*n = 0;
	m->replies++;
	if (end > m->size)
		end = m->size;
	while (pos < end && *n < lim) {
		uint8_t k = m->kind[pos];
		uint64_t e = pos + 1;
		while (e < end && m->kind[e] == k)
			e++;
		out[(*n)++] = (struct sp_disk_extent){
		    .offset = pos,
		    .length = e - pos,
		    .zero = (k & MODEL_ZERO) != 0,
		    .dirty = (k & MODEL_DIRTY) != 0,
		};
		pos = e;
	}
	if (*n == 0)
		return 0;
	/* Stop early, inside the last extent, as block status may. */
	if (m->stop_every && m->replies % m->stop_every == 0 &&
	    out[*n - 1].length > 1)
		out[*n - 1].length /= 2;
	if (m->evil_at && m->replies == m->evil_at) {
		struct sp_disk_extent *e = &out[*n - 1];
		switch (m->evil_kind % 4) {
		case 0: /* a gap, or a wrong start */
			e->offset += 1;
			break;
		case 1: /* an empty extent */
			e->length = 0;
			break;
		case 2: /* an overlap with the one before, or a wrong start */
			if (e->offset > 0)
				e->offset -= 1;
			else
				e->offset = 1;
			break;
		default: /* runs past the range asked */
			e->length += end - pos + 1 + length;
			break;
		}
	}
	return 0;
}

MODEL_FN int model_pread(void *opaque, void *buf, size_t len, uint64_t offset,
			 struct sp_error *err)
{
	struct model *m = opaque;
	uint8_t *p = buf;

	(void)err;
	for (size_t i = 0; i < len; i++) {
		if (offset + i >= m->size || (m->kind[offset + i] & MODEL_ZERO))
			m->bad_read = true;
		p[i] = model_byte(offset + i);
	}
	return 0;
}

static const struct sp_extent_reader model_reader = {
    .extents = model_extents,
    .pread = model_pread,
};

/* Does @s tile [off, off+len) with the model's kinds, and does @buf (filled
 * over @poison, @only_dirty or not) hold the model's bytes?  Returns NULL
 * or what is wrong. */
MODEL_FN const char *model_check_slice(const struct model *m,
				       const struct sp_extent_slice *s,
				       uint64_t off, uint64_t len,
				       const uint8_t *buf, uint8_t poison,
				       bool only_dirty)
{
	uint64_t at = off, data = 0, dirty = 0;

	if (s->offset != off || s->length != len || s->n == 0)
		return "slice does not describe the range asked";
	for (size_t i = 0; i < s->n; i++) {
		const struct sp_disk_extent *e = &s->ex[i];
		if (e->offset != at || e->length == 0)
			return "extents do not tile the slice";
		if (i > 0 && e->zero == s->ex[i - 1].zero &&
		    e->dirty == s->ex[i - 1].dirty)
			return "adjacent extents of one kind";
		for (uint64_t b = e->offset; b < e->offset + e->length; b++)
			if (((m->kind[b] & MODEL_ZERO) != 0) != e->zero ||
			    ((m->kind[b] & MODEL_DIRTY) != 0) != e->dirty)
				return "an extent's kind is not the model's";
		if (!e->zero)
			data += e->length;
		if (e->dirty)
			dirty += e->length;
		at += e->length;
	}
	if (at != off + len)
		return "extents do not reach the slice's end";
	if (data != s->data_bytes || dirty != s->dirty_bytes)
		return "byte counts are wrong";
	if (!buf)
		return NULL;
	for (uint64_t b = off; b < off + len; b++) {
		uint8_t k = m->kind[b];
		uint8_t want = (k & MODEL_ZERO) ? 0 : model_byte(b);
		if (only_dirty && !(k & MODEL_DIRTY))
			want = poison;
		if (buf[b - off] != want)
			return "a filled byte is not the model's";
	}
	return NULL;
}

#endif

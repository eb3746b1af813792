// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Fuzz target: the extent cursor against a reference model
 * (extent_model.h).  The input lays out a disk of data/zero and
 * dirty/clean runs, the source's quirks (tiny replies, replies that stop
 * early, one malformed reply) and the walk (slice size, skips, dirty-only
 * fills).  Every slice handed out must tile its range with the model's
 * kinds, every filled byte must be the model's (or, filling dirty extents
 * only, the caller's), the cursor must never read a byte that is not
 * data, and a malformed reply must end the walk with SP_E_DISK_READ.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "extent_model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define HEAD 9
#define POISON 0xa5

static void fail(const char *what)
{
	fprintf(stderr, "extent cursor: %s\n", what);
	abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct model m = {0};
	struct sp_extent_cursor *c = NULL;
	struct sp_error err;
	uint8_t *buf = NULL;
	uint64_t slice, step, pos = 0, off;
	size_t in = HEAD;
	bool only_dirty;
	int r = 0;

	if (size < HEAD + 2)
		return 0;
	/* Small disks keep an execution short: what matters is how many
	 * extents a slice and a reply hold, not how many bytes. */
	m.size = 1 + (((uint64_t)data[0] | (uint64_t)data[1] << 8) & 0x3fff) +
		 (data[2] & 3 ? 0 : 3 * 16384);
	m.reply_max = data[3] & 0x80 ? SP_EXTENT_REPLY_MAX : 1 + data[3] % 16;
	m.stop_every = data[4] % 5;
	m.evil_at = data[5] % 8;
	m.evil_kind = data[5] >> 3;
	slice = (1ull << (data[6] % 13)) + (data[6] & 0x80 ? 511 : 0);
	step = 1 + (uint64_t)data[7] * 13;
	while (m.size / slice > 256) /* bound the work of one input */
		slice *= 2;
	only_dirty = data[8] & 1;
	m.kind = malloc(m.size);
	buf = malloc(slice);
	if (!m.kind || !buf)
		abort();
	/* The layout: (length, kind) pairs, cycled until the disk is full. */
	while (pos < m.size) {
		uint64_t len = 1 + (uint64_t)data[in] * (data[in + 1] >> 4);
		uint8_t k = data[in + 1] & 3;
		if (len > m.size - pos)
			len = m.size - pos;
		memset(m.kind + pos, k, (size_t)len);
		pos += len;
		in += 2;
		if (in + 1 >= size)
			in = HEAD;
	}
	if (sp_extent_cursor_new(&model_reader, &m, m.size, step, &c, &err) < 0)
		abort();
	for (off = 0; off < m.size && r == 0;) {
		uint64_t len = m.size - off < slice ? m.size - off : slice;
		struct sp_extent_slice s;
		const char *why;
		uint64_t got = 0;

		r = sp_extent_cursor_next(c, off, len, &s, &err);
		if (r < 0)
			break;
		why = model_check_slice(&m, &s, off, len, NULL, 0, false);
		if (why)
			fail(why);
		memset(buf, POISON, (size_t)len);
		r = sp_extent_cursor_fill(c, buf, only_dirty, &got, &err);
		if (r < 0)
			fail("fill failed on a sound slice");
		why = model_check_slice(&m, &s, off, len, buf, POISON,
					only_dirty);
		if (why)
			fail(why);
		for (size_t i = 0; i < s.n; i++)
			if (!s.ex[i].zero && (!only_dirty || s.ex[i].dirty))
				got -= s.ex[i].length;
		if (got != 0)
			fail("bytes read miscounted");
		off += len;
		/* Now and then skip ahead, as incrementals and restores do. */
		if (data[(off / (len ? len : 1)) % size] == 0x5a)
			off += slice;
	}
	if (m.bad_read)
		fail("read a byte that is not data");
	if (r < 0 && err.code != SP_E_DISK_READ)
		fail("failed with another error than DiskReadFailed");
	if (r < 0 && !(m.evil_at && m.replies >= m.evil_at))
		fail("failed on a sound source");
	if (r == 0 && m.evil_at && m.replies >= m.evil_at)
		fail("believed a malformed reply");
	sp_extent_cursor_free(c);
	free(m.kind);
	free(buf);
	return 0;
}

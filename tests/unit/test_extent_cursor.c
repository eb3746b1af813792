// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The extent cursor against its reference model (tests/fuzz/
 * extent_model.h): layouts that broke the old extent window (more than
 * 512 extents per window, a slice needing several replies), random
 * layouts and walks, malformed sources, and a real sparse file.
 */
#include <fcntl.h>
#include <sys/stat.h>

#include "../fuzz/extent_model.h"
#include "harness.h"

#define POISON 0xa5

/* Walk the whole model in slices of @slice bytes; every slice and every
 * filled byte checked.  Returns the cursor's result. */
static int walk(struct model *m, uint64_t slice, uint64_t step, bool only_dirty,
		struct sp_error *err)
{
	struct sp_extent_cursor *c = NULL;
	uint8_t *buf = malloc(slice);
	int r;

	CHECK(buf != NULL);
	r = sp_extent_cursor_new(&model_reader, m, m->size, step, &c, err);
	for (uint64_t off = 0; r == 0 && off < m->size; off += slice) {
		uint64_t len = m->size - off < slice ? m->size - off : slice;
		struct sp_extent_slice s;
		const char *why;
		uint64_t got = 0;

		r = sp_extent_cursor_next(c, off, len, &s, err);
		if (r < 0)
			break;
		memset(buf, POISON, (size_t)len);
		r = sp_extent_cursor_fill(c, buf, only_dirty, &got, err);
		CHECK_INT(r, 0);
		why =
		    model_check_slice(m, &s, off, len, buf, POISON, only_dirty);
		if (why)
			fprintf(stderr, "slice %llu+%llu: %s\n",
				(unsigned long long)off,
				(unsigned long long)len, why);
		CHECK(why == NULL);
	}
	CHECK(!m->bad_read);
	sp_extent_cursor_free(c);
	free(buf);
	return r;
}

/* 2 KiB of data every 4 KiB: thousands of extents per window, the layout
 * that lost data before the cursor (an extent window refilled in the
 * middle of a slice kept only its last extent), and 2048 extents per
 * 4 MiB slice, more than one reply holds. */
static void test_dense_extents(void)
{
	struct model m = {.size = 64ull << 20,
			  .reply_max = SP_EXTENT_REPLY_MAX};
	struct sp_error err;

	m.kind = malloc(m.size);
	for (uint64_t b = 0; b < m.size; b++)
		m.kind[b] = ((b / 2048) % 2 ? MODEL_ZERO : 0) | MODEL_DIRTY;
	CHECK_OK(walk(&m, 4u << 20, 1ull << 30, false, &err), &err);
	CHECK(m.replies >= 2 * 16);
	free(m.kind);
}

/* Random layouts, reply limits, early stops, slice sizes and dirty-only
 * fills, from fixed seeds. */
static void test_random(void)
{
	struct sp_error err;

	for (unsigned seed = 1; seed <= 400; seed++) {
		struct model m = {0};
		uint64_t pos = 0, slice;

		srandom(seed);
		m.size = 1 + (uint64_t)(random() % (3 << 20));
		m.kind = malloc(m.size);
		m.reply_max = 1 + (size_t)(random() % 40);
		m.stop_every = (unsigned)(random() % 4);
		while (pos < m.size) {
			uint64_t len = 1 + (uint64_t)(random() % 9000);
			if (random() % 8 == 0)
				len *= 300;
			if (len > m.size - pos)
				len = m.size - pos;
			memset(m.kind + pos, (int)(random() % 4), (size_t)len);
			pos += len;
		}
		slice = 1 + (uint64_t)(random() % (1 << 20));
		CHECK_OK(walk(&m, slice, 1 + (uint64_t)(random() % (8 << 20)),
			      random() % 2, &err),
			 &err);
		free(m.kind);
	}
}

/* Each kind of malformed reply is refused with DiskReadFailed. */
static void test_malformed(void)
{
	struct sp_error err;

	for (unsigned kind = 0; kind < 4; kind++)
		for (unsigned at = 1; at <= 3; at++) {
			struct model m = {.size = 1 << 20,
					  .reply_max = 3,
					  .evil_at = at,
					  .evil_kind = kind};
			m.kind = malloc(m.size);
			for (uint64_t b = 0; b < m.size; b++)
				m.kind[b] =
				    (b / 1000) % 3 ? MODEL_DIRTY : MODEL_ZERO;
			CHECK_INT(walk(&m, 65536, 4096, false, &err),
				  SP_E_DISK_READ);
			CHECK(strstr(err.msg, "extents") != NULL);
			free(m.kind);
		}
}

/* Slices may skip ahead but never go back; a range past the end is a
 * caller's mistake. */
static void test_order(void)
{
	struct model m = {.size = 1 << 20, .reply_max = 8};
	struct sp_extent_cursor *c = NULL;
	struct sp_extent_slice s;
	struct sp_error err;

	m.kind = calloc(1, m.size);
	CHECK_OK(sp_extent_cursor_new(&model_reader, &m, m.size, 0, &c, &err),
		 &err);
	CHECK_OK(sp_extent_cursor_next(c, 4096, 4096, &s, &err), &err);
	CHECK_OK(sp_extent_cursor_next(c, 900000, 4096, &s, &err), &err);
	CHECK_INT(sp_extent_cursor_next(c, 4096, 4096, &s, &err),
		  SP_E_INTERNAL);
	CHECK_INT(sp_extent_cursor_next(c, m.size - 1, 2, &s, &err),
		  SP_E_INTERNAL);
	sp_extent_cursor_free(c);
	free(m.kind);
}

/* A real sparse file through a disk source: the same bytes come out. */
static void test_sparse_file(void)
{
	char path[300];
	struct sp_disk_source *src = NULL;
	struct sp_extent_cursor *c = NULL;
	struct sp_error err;
	const uint64_t size = (24ull << 20) + 3;
	uint8_t *buf = malloc(1 << 20), *want = malloc(1 << 20);
	int fd;

	snprintf(path, sizeof(path), "%s/holes.raw", sp_test_tmpdir());
	fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0600);
	CHECK(fd >= 0 && ftruncate(fd, (off_t)size) == 0);
	for (uint64_t off = 0; off < size; off += 12288) {
		uint8_t blk[4096];
		for (size_t i = 0; i < sizeof(blk); i++)
			blk[i] = model_byte(off + i);
		size_t n = size - off < sizeof(blk) ? (size_t)(size - off)
						    : sizeof(blk);
		CHECK(pwrite(fd, blk, n, (off_t)off) == (ssize_t)n);
	}
	close(fd);
	CHECK_OK(sp_disk_source_open(path, SP_DISK_FORMAT_RAW, &src, &err),
		 &err);
	CHECK_OK(sp_extent_cursor_open(src, 0, &c, &err), &err);
	for (uint64_t off = 0; src && c && off < size; off += 1 << 20) {
		uint64_t len = size - off < (1 << 20) ? size - off : 1 << 20;
		struct sp_extent_slice s;
		uint64_t got = 0;

		CHECK_OK(sp_extent_cursor_next(c, off, len, &s, &err), &err);
		memset(buf, POISON, (size_t)len);
		CHECK_OK(sp_extent_cursor_fill(c, buf, false, &got, &err),
			 &err);
		for (uint64_t b = 0; b < len; b++)
			want[b] =
			    (off + b) % 12288 < 4096
				? model_byte((off + b) - (off + b) % 12288 +
					     (off + b) % 12288)
				: 0;
		CHECK(memcmp(buf, want, (size_t)len) == 0);
		CHECK(got < len || len < 12288); /* holes were not read */
	}
	sp_extent_cursor_free(c);
	sp_disk_source_free(src);
	free(buf);
	free(want);
}

int main(void)
{
	SP_RUN(test_dense_extents);
	SP_RUN(test_random);
	SP_RUN(test_malformed);
	SP_RUN(test_order);
	SP_RUN(test_sparse_file);
	SP_TEST_EXIT();
}

// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * File helpers of the round-trip tests: disk contents from seeds, sparse
 * reference copies, and the byte comparer every verdict rests on.  The
 * comparer reads both sides in full (holes included) and reports the first
 * differing byte and how many slots differ, so a failure says where.
 */
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <linux/fs.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rt.h"

#define IO_BLOCK (1u << 20)
#define TEXT_LINE 64

void rt_path(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= size) {
		fprintf(stderr, "sp-roundtrip: path too long: %s...\n", buf);
		abort();
	}
}

/* A stream of disk content; successive fills continue it. */
struct gen {
	enum rt_data data;
	uint8_t byte;
	struct rt_rng rng;
};

static void gen_init(struct gen *g, enum rt_data data, uint64_t seed)
{
	g->data = data;
	g->byte = (uint8_t)seed;
	rt_rng_seed(&g->rng, seed);
}

/* Lines of words: compressible, yet no two chunks alike. */
static void text_line(struct gen *g, char line[TEXT_LINE])
{
	static const char *const words[] = {
	    "backup", "restore", "chunk", "vault", "extent", "sparse",
	    "qcow2",  "cluster", "guest", "disk",  "point",  "seed",
	    "the",    "of",	 "and",	  "zero",  "hole",   "slice",
	};
	size_t n = 0;

	while (n < TEXT_LINE - 1) {
		const char *w = words[rt_rng_below(&g->rng, 18)];
		size_t l = strlen(w);
		if (n + l + 1 > TEXT_LINE - 1)
			break;
		memcpy(line + n, w, l);
		n += l;
		line[n++] = ' ';
	}
	memset(line + n, '.', TEXT_LINE - 1 - n);
	line[TEXT_LINE - 1] = '\n';
}

/* Fill @len bytes; every call but the last must be a multiple of 64. */
static void gen_fill(struct gen *g, uint8_t *buf, size_t len)
{
	char line[TEXT_LINE];

	switch (g->data) {
	case RT_DATA_RANDOM:
		rt_rng_fill(&g->rng, buf, len);
		break;
	case RT_DATA_BYTE:
		memset(buf, g->byte, len);
		break;
	case RT_DATA_TEXT:
		for (size_t at = 0; at < len; at += TEXT_LINE) {
			size_t n = len - at < TEXT_LINE ? len - at : TEXT_LINE;
			text_line(g, line);
			memcpy(buf + at, line, n);
		}
		break;
	}
}

int rt_write_data(int fd, uint64_t off, uint64_t len, enum rt_data data,
		  uint64_t seed)
{
	uint8_t *buf = malloc(len < IO_BLOCK ? (size_t)len + 1 : IO_BLOCK);
	struct gen g;

	if (!buf)
		return -ENOMEM;
	gen_init(&g, data, seed);
	while (len > 0) {
		size_t n = len < IO_BLOCK ? (size_t)len : IO_BLOCK;
		gen_fill(&g, buf, n);
		if (pwrite(fd, buf, n, (off_t)off) != (ssize_t)n) {
			int e = errno ? -errno : -EIO;
			free(buf);
			return e;
		}
		off += n;
		len -= n;
	}
	free(buf);
	return 0;
}

int rt_write_file(const char *path, uint64_t len, enum rt_data data,
		  uint64_t seed)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	int r;

	if (fd < 0)
		return -errno;
	r = rt_write_data(fd, 0, len, data, seed);
	if (close(fd) < 0 && r == 0)
		r = -errno;
	return r;
}

int rt_file_size(const char *path, uint64_t *size)
{
	struct stat st;
	int fd, r = 0;

	if (stat(path, &st) < 0)
		return -errno;
	if (!S_ISBLK(st.st_mode)) {
		*size = (uint64_t)st.st_size;
		return 0;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (ioctl(fd, BLKGETSIZE64, size) < 0)
		r = -errno;
	close(fd);
	return r;
}

static int copy_range(int in, int out, uint64_t off, uint64_t end, uint8_t *buf)
{
	while (off < end) {
		size_t n =
		    end - off < IO_BLOCK ? (size_t)(end - off) : IO_BLOCK;
		ssize_t got = pread(in, buf, n, (off_t)off);
		if (got <= 0)
			return got < 0 ? -errno : -EIO;
		if (pwrite(out, buf, (size_t)got, (off_t)off) != got)
			return -errno;
		off += (uint64_t)got;
	}
	return 0;
}

int rt_copy_sparse(const char *from, const char *to)
{
	int in = -1, out = -1, r = 0;
	uint8_t *buf = malloc(IO_BLOCK);
	struct stat st;
	off_t pos = 0;

	if (!buf)
		return -ENOMEM;
	in = open(from, O_RDONLY | O_CLOEXEC);
	out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (in < 0 || out < 0 || fstat(in, &st) < 0 ||
	    ftruncate(out, st.st_size) < 0) {
		r = -errno;
		goto out;
	}
	while (pos < st.st_size) {
		off_t data = lseek(in, pos, SEEK_DATA), hole;
		if (data < 0) {
			if (errno != ENXIO)
				r = -errno;
			break;
		}
		hole = lseek(in, data, SEEK_HOLE);
		if (hole < 0) {
			r = -errno;
			break;
		}
		r = copy_range(in, out, (uint64_t)data, (uint64_t)hole, buf);
		if (r < 0)
			break;
		pos = hole;
	}
out:
	if (in >= 0)
		close(in);
	if (out >= 0 && close(out) < 0 && r == 0)
		r = -errno;
	free(buf);
	return r;
}

/* Read up to @n bytes at @off; a short count means the end. */
static ssize_t read_full(int fd, uint8_t *buf, size_t n, uint64_t off)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = pread(fd, buf + got, n - got, (off_t)(off + got));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

static void note_diff(struct rt_diff *d, uint64_t at, uint64_t n, uint32_t slot,
		      uint64_t *last_slot)
{
	uint64_t s = at / slot, e = (at + n - 1) / slot;

	if (d->bytes == 0) {
		d->first = at;
		d->first_slot = s;
	}
	d->bytes += n;
	for (uint64_t i = s; i <= e; i++)
		if (*last_slot == UINT64_MAX || i > *last_slot) {
			d->nslots++;
			*last_slot = i;
		}
}

struct cmp {
	int fa, fb;
	uint8_t *a, *b;
	uint32_t slot;
	uint64_t last_slot;
	struct rt_diff *d;
};

/* Compare [off, end) of both sides; -1 when one cannot be read. */
static int compare_range(struct cmp *c, uint64_t off, uint64_t end)
{
	for (; off < end; off += IO_BLOCK) {
		size_t n =
		    end - off < IO_BLOCK ? (size_t)(end - off) : IO_BLOCK;
		ssize_t na = read_full(c->fa, c->a, n, off);
		ssize_t nb = read_full(c->fb, c->b, n, off);
		size_t i;

		if (na < 0 || nb < 0)
			return -1;
		if ((size_t)na == n && (size_t)nb == n &&
		    !memcmp(c->a, c->b, n))
			continue;
		/* Bytes one side lacks count as different. */
		for (i = 0; i < n; i++) {
			size_t j = i;
			if (i < (size_t)na && i < (size_t)nb &&
			    c->a[i] == c->b[i])
				continue;
			while (j < n && (j >= (size_t)na || j >= (size_t)nb ||
					 c->a[j] != c->b[j]))
				j++;
			note_diff(c->d, off + i, j - i, c->slot, &c->last_slot);
			i = j;
		}
	}
	return 0;
}

int rt_compare(const char *want, const char *got, uint64_t len, uint32_t slot,
	       struct rt_diff *d)
{
	struct cmp c = {
	    .fa = open(want, O_RDONLY | O_CLOEXEC),
	    .fb = open(got, O_RDONLY | O_CLOEXEC),
	    .a = malloc(IO_BLOCK),
	    .b = malloc(IO_BLOCK),
	    .slot = slot,
	    .last_slot = UINT64_MAX,
	    .d = d,
	};
	int r = -1;

	memset(d, 0, sizeof(*d));
	/* Every byte, holes included: skipping what both sides call a hole
	 * would cost more in SEEK_DATA on tmpfs than reading zeroes. */
	if (c.a && c.b && c.fa >= 0 && c.fb >= 0 &&
	    compare_range(&c, 0, len) == 0)
		r = d->bytes ? 1 : 0;
	if (c.fa >= 0)
		close(c.fa);
	if (c.fb >= 0)
		close(c.fb);
	free(c.a);
	free(c.b);
	return r;
}

int rt_all_bytes(const char *path, uint64_t off, uint64_t len, uint8_t byte)
{
	uint8_t *buf = malloc(IO_BLOCK);
	int fd = open(path, O_RDONLY | O_CLOEXEC), r = 1;

	if (!buf || fd < 0) {
		r = -1;
		goto out;
	}
	while (len > 0 && r == 1) {
		size_t n = len < IO_BLOCK ? (size_t)len : IO_BLOCK;
		ssize_t got = read_full(fd, buf, n, off);
		if (got < 0) {
			r = -1;
			break;
		}
		if ((size_t)got < n)
			r = 0;
		for (ssize_t i = 0; i < got; i++)
			if (buf[i] != byte)
				r = 0;
		off += n;
		len -= n;
	}
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	return r;
}

/* Remove everything in directory @fd; d_type saves a stat per entry,
 * which counts with a vault's 4096 chunk directories per case. */
static int rm_under(int fd)
{
	DIR *dir = fdopendir(fd);
	struct dirent *e;
	int r = 0;

	if (!dir) {
		close(fd);
		return -errno;
	}
	while ((e = readdir(dir))) {
		bool is_dir = e->d_type == DT_DIR;
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (e->d_type == DT_UNKNOWN) {
			struct stat st;
			is_dir = fstatat(dirfd(dir), e->d_name, &st,
					 AT_SYMLINK_NOFOLLOW) == 0 &&
				 S_ISDIR(st.st_mode);
		}
		if (is_dir) {
			int sub = openat(dirfd(dir), e->d_name,
					 O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
					     O_CLOEXEC);
			if (sub < 0 || rm_under(sub) < 0)
				r = -1;
		}
		if (unlinkat(dirfd(dir), e->d_name, is_dir ? AT_REMOVEDIR : 0) <
		    0)
			r = -errno;
	}
	closedir(dir);
	return r;
}

int rt_rm_rf(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0)
		return errno == ENOENT ? 0 : unlink(path) < 0 ? -errno : 0;
	if (rm_under(fd) < 0)
		return -1;
	return rmdir(path) < 0 ? -errno : 0;
}

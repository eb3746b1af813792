// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Plans: from a kind and a seed, the disks of a case, their first layouts
 * and a sequence of changes and backups.  The layouts are chosen to be hard
 * for a backup tool: thousands of tiny extents (far more than any fixed
 * extent window holds), runs across chunk boundaries, data at the first and
 * the last byte, sizes that are no multiple of the chunk size or of 512,
 * zeroes written as data, identical chunks, qcow2 compression, zero
 * clusters and backing chains.
 *
 * Invariant: only the seed's random stream decides; a plan is the same on
 * every machine and for every binary.
 */
#include <inttypes.h>
#include <string.h>

#include "rt.h"

/* Largest disks per kind: big enough for thousands of extents in one
 * extent window, small enough for hundreds of cases a minute. */
#define RAW_MAX (64 * RT_MIB)
#define QCOW2_MAX (32 * RT_MIB)
#define LOOP_MAX (32 * RT_MIB)
#define MAX_LAYERS 3

struct gen {
	struct rt_rng r;
	struct rt_plan *p;
	uint64_t size[RT_MAX_DISKS];
	uint32_t cluster[RT_MAX_DISKS]; /* of the current qcow2 top */
	bool materialized[RT_MAX_DISKS];
	int layers[RT_MAX_DISKS];
	uint64_t dedup_seed; /* shared by every case's identical blocks */
};

static const char *const kind_names[RT_KIND_COUNT] = {"raw", "qcow2", "loop"};

const char *rt_kind_name(enum rt_kind k)
{
	return k < RT_KIND_COUNT ? kind_names[k] : "?";
}

int rt_kind_parse(const char *s, enum rt_kind *k)
{
	for (int i = 0; i < RT_KIND_COUNT; i++)
		if (!strcmp(s, kind_names[i])) {
			*k = (enum rt_kind)i;
			return 0;
		}
	return -1;
}

static uint64_t round_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) / a * a;
}

static uint64_t round_down(uint64_t v, uint64_t a)
{
	return v / a * a;
}

static struct rt_op *add(struct gen *g, enum rt_op_type type, int disk)
{
	struct rt_plan *p = g->p;
	struct rt_op *op;

	if (p->nops == RT_MAX_OPS)
		return NULL;
	op = &p->ops[p->nops++];
	memset(op, 0, sizeof(*op));
	op->type = type;
	op->disk = disk;
	return op;
}

static enum rt_data pick_data(struct gen *g, uint64_t *seed)
{
	uint64_t x = rt_rng_below(&g->r, 100);

	*seed = rt_rng_next(&g->r);
	if (x < 55)
		return RT_DATA_RANDOM;
	if (x < 75)
		return RT_DATA_TEXT;
	*seed = rt_rng_range(&g->r, 1, 255); /* a non-zero byte */
	return RT_DATA_BYTE;
}

/* Granularity of sizes: loop devices and qcow2 images have whole sectors
 * (offsets are free: qemu-io writes any byte range). */
static uint64_t grain(const struct gen *g, int d)
{
	return g->p->disks[d].type == RT_DISK_RAW ? 1 : 512;
}

static void op_write(struct gen *g, int d, uint64_t off, uint64_t len,
		     enum rt_data data, uint64_t seed)
{
	struct rt_op *op;

	if (off >= g->size[d] || len == 0)
		return;
	if (len > g->size[d] - off)
		len = g->size[d] - off;
	op = add(g, RT_OP_WRITE, d);
	if (!op)
		return;
	op->off = off;
	op->len = len;
	op->data = data;
	op->seed = seed;
}

static void op_random_write(struct gen *g, int d, uint64_t off, uint64_t len)
{
	uint64_t seed;
	enum rt_data data = pick_data(g, &seed);

	op_write(g, d, off, len, data, seed);
}

/* ---- layout pieces ------------------------------------------------------ */

/* Thousands of tiny extents: len bytes every step over a span. */
static void lay_stripes(struct gen *g, int d, uint64_t max_count)
{
	static const uint64_t steps[] = {8192, 8192, 8192, 12288, 16384, 24576};
	static const uint64_t lens[] = {4096, 4096, 4096, 512, 1024, 3000};
	uint64_t size = g->size[d], step, len, start, count;
	struct rt_op *op;

	step = rt_rng_pick(&g->r, steps, 6);
	len = rt_rng_pick(&g->r, lens, 6);
	if (size < 2 * step)
		return;
	start = rt_rng_below(&g->r, size / 4 + 1);
	if (rt_rng_chance(&g->r, 60))
		start = round_down(start, 4096);
	count = (size - start) / step;
	if (rt_rng_chance(&g->r, 30))
		count = rt_rng_range(&g->r, count / 4, count);
	if (count > max_count)
		count = max_count;
	if (count == 0)
		return;
	op = add(g, RT_OP_STRIPES, d);
	if (!op)
		return;
	op->off = start;
	op->step = step;
	op->len = len;
	op->count = count;
	op->data = rt_rng_chance(&g->r, 70) ? RT_DATA_RANDOM : RT_DATA_BYTE;
	op->seed = op->data == RT_DATA_RANDOM ? rt_rng_next(&g->r)
					      : rt_rng_range(&g->r, 1, 255);
}

/* Data at the very first and the very last byte. */
static void lay_edges(struct gen *g, int d)
{
	uint64_t size = g->size[d];

	if (rt_rng_chance(&g->r, 70))
		op_write(g, d, 0, rt_rng_chance(&g->r, 50) ? 1 : 4096,
			 RT_DATA_BYTE, rt_rng_range(&g->r, 1, 255));
	if (rt_rng_chance(&g->r, 80)) {
		uint64_t n = rt_rng_chance(&g->r, 50)
				 ? 1
				 : rt_rng_range(&g->r, 1, 70000);
		if (n > size)
			n = size;
		op_write(g, d, size - n, n, RT_DATA_BYTE,
			 rt_rng_range(&g->r, 1, 255));
	}
}

/* Short runs across chunk boundaries (the vault's, and 4 MiB). */
static void lay_boundaries(struct gen *g, int d)
{
	uint64_t unit =
	    rt_rng_chance(&g->r, 70) ? g->p->chunk_size : 4 * RT_MIB;
	int n = (int)rt_rng_range(&g->r, 1, 6);

	for (int i = 0; i < n; i++) {
		uint64_t k = rt_rng_range(&g->r, 1, g->size[d] / unit + 1);
		uint64_t b = k * unit, before, after;
		if (b >= g->size[d])
			b = g->size[d] / 2;
		before = rt_rng_range(&g->r, 1, 65536);
		after = rt_rng_range(&g->r, 1, 65536);
		if (before > b)
			before = b;
		op_random_write(g, d, b - before, before + after);
	}
}

static void lay_runs(struct gen *g, int d, int max)
{
	int n = (int)rt_rng_range(&g->r, 1, (uint64_t)max);

	for (int i = 0; i < n; i++) {
		uint64_t x = rt_rng_below(&g->r, 100);
		uint64_t len =
		    x < 30   ? rt_rng_range(&g->r, 1, 4096)
		    : x < 85 ? rt_rng_range(&g->r, 4096, 256 * RT_KIB)
			     : rt_rng_range(&g->r, 256 * RT_KIB, 3 * RT_MIB);
		uint64_t off = rt_rng_below(&g->r, g->size[d]);
		op_random_write(g, d, off, len);
	}
}

/* Zeroes written as data: allocated, yet all zero. */
static void lay_zero_data(struct gen *g, int d)
{
	int n = (int)rt_rng_range(&g->r, 1, 3);
	uint64_t cs = g->p->chunk_size;

	for (int i = 0; i < n; i++) {
		uint64_t off, len;
		if (rt_rng_chance(&g->r, 50) && g->size[d] >= cs) {
			off = round_down(rt_rng_below(&g->r, g->size[d]), cs);
			len = cs;
		} else {
			off = rt_rng_below(&g->r, g->size[d]);
			len = rt_rng_range(&g->r, 1, 2 * RT_MIB);
		}
		op_write(g, d, off, len, RT_DATA_BYTE, 0);
	}
}

/* Identical chunks: one block at several slot-aligned places. */
static void lay_dedup(struct gen *g, int d)
{
	uint64_t cs = g->p->chunk_size, slots = g->size[d] / cs;
	int n = (int)rt_rng_range(&g->r, 2, 3);

	if (slots < 2)
		return;
	for (int i = 0; i < n; i++)
		op_write(g, d, rt_rng_below(&g->r, slots) * cs, cs,
			 RT_DATA_RANDOM, g->dedup_seed);
	if (rt_rng_chance(&g->r, 30)) /* and once where it cannot dedup */
		op_write(g, d, rt_rng_below(&g->r, g->size[d]), cs,
			 RT_DATA_RANDOM, g->dedup_seed);
}

static void lay_dense(struct gen *g, int d)
{
	uint64_t len = rt_rng_range(&g->r, RT_MIB, 4 * RT_MIB);
	uint64_t off = rt_rng_below(&g->r, g->size[d]);

	op_random_write(g, d, off, len);
}

/* ---- disks --------------------------------------------------------------- */

static uint64_t pick_size(struct gen *g, int d, uint64_t max, bool *fragment)
{
	static const uint64_t tiny[] = {0,     1,    2,	    511,   512,
					513,   4095, 4096,  4097,  65535,
					65537, 7,    12345, 131079};
	uint64_t cs = g->p->chunk_size, x = rt_rng_below(&g->r, 100), size;
	uint64_t gr = grain(g, d);

	*fragment = false;
	if (x < 12) {
		size = rt_rng_pick(&g->r, tiny, RT_COUNT(tiny));
	} else if (x < 30) {
		uint64_t unit = rt_rng_chance(&g->r, 60) ? cs : 4 * RT_MIB;
		uint64_t k = rt_rng_range(&g->r, 1, 4);
		int64_t delta = (int64_t)rt_rng_range(&g->r, 0, 2) - 1;
		if (unit * k > max)
			k = 1;
		size = (uint64_t)((int64_t)(unit * k) + delta * (int64_t)gr);
	} else if (x < 65) {
		size = rt_rng_range(&g->r, RT_MIB, 12 * RT_MIB);
	} else if (x < 95) {
		/* Enough tiny extents to overflow any small extent window
		 * many times over, little data. */
		size = rt_rng_range(&g->r, 5 * RT_MIB, 16 * RT_MIB);
		*fragment = true;
	} else {
		size = rt_rng_range(&g->r, 16 * RT_MIB, max);
		*fragment = rt_rng_chance(&g->r, 50);
	}
	size = round_up(size, gr);
	if (size == 0 && g->p->disks[d].type == RT_DISK_QCOW2)
		size = 512;
	if (size < 4096 && g->p->disks[d].type == RT_DISK_LOOP)
		size = 4096; /* losetup wants whole sectors, a few at least */
	if (size > max)
		size = round_down(max, gr);
	return size;
}

static uint64_t max_size(const struct rt_disk_plan *dp)
{
	switch (dp->type) {
	case RT_DISK_QCOW2:
		return QCOW2_MAX;
	case RT_DISK_LOOP:
		return LOOP_MAX;
	default:
		return RAW_MAX;
	}
}

/* How many stripes a layout may have: qcow2 writes go through qemu-io. */
static uint64_t max_stripes(const struct gen *g, int d)
{
	return g->p->disks[d].type == RT_DISK_QCOW2 ? 2000 : 8000;
}

static void plan_disk(struct gen *g, int d, enum rt_disk_type type)
{
	static const uint64_t clusters[] = {512,    1024,    2048,	 4096,
					    16384,  65536,   65536,	 131072,
					    262144, 1048576, 2 * 1048576};
	struct rt_disk_plan *dp = &g->p->disks[d];
	bool fragment;

	dp->type = type;
	dp->size = g->size[d] = pick_size(g, d, max_size(dp), &fragment);
	if (type == RT_DISK_QCOW2) {
		uint64_t b = rt_rng_below(&g->r, 100);
		dp->base = b < 45   ? RT_BASE_CONVERT
			   : b < 75 ? RT_BASE_CREATE
				    : RT_BASE_RAW;
		dp->cluster =
		    (uint32_t)rt_rng_pick(&g->r, clusters, RT_COUNT(clusters));
		dp->compressed =
		    dp->base == RT_BASE_CONVERT && rt_rng_chance(&g->r, 35);
		g->cluster[d] = dp->cluster;
		g->materialized[d] = dp->base == RT_BASE_CREATE;
	}

	/* The first layout. */
	if (rt_rng_chance(&g->r, 3))
		return; /* all holes */
	if (fragment || rt_rng_chance(&g->r, 15))
		lay_stripes(g, d, max_stripes(g, d));
	if (rt_rng_chance(&g->r, 60))
		lay_edges(g, d);
	if (rt_rng_chance(&g->r, 45))
		lay_boundaries(g, d);
	if (rt_rng_chance(&g->r, 55))
		lay_runs(g, d, 10);
	if (rt_rng_chance(&g->r, 30))
		lay_zero_data(g, d);
	if (rt_rng_chance(&g->r, 25))
		lay_dedup(g, d);
	if (rt_rng_chance(&g->r, 10))
		lay_dense(g, d);
	if (type != RT_DISK_QCOW2 && rt_rng_chance(&g->r, 6))
		add(g, RT_OP_HEADER, d);
}

/* A qcow2 disk gets its image before the first point or the first
 * overlay; a raw base needs an overlay to be a qcow2 disk at all. */
static void materialize(struct gen *g, int d)
{
	const struct rt_disk_plan *dp = &g->p->disks[d];

	if (dp->type != RT_DISK_QCOW2 || g->materialized[d])
		return;
	if (dp->base == RT_BASE_RAW) {
		struct rt_op *op = add(g, RT_OP_OVERLAY, d);
		if (op)
			op->arg = dp->cluster;
		g->layers[d]++;
	}
	g->materialized[d] = true;
}

/* ---- changes between points ---------------------------------------------- */

static void change_resize(struct gen *g, int d)
{
	uint64_t size = g->size[d], gr = grain(g, d), to;
	uint64_t max = max_size(&g->p->disks[d]);
	struct rt_op *op;

	if (rt_rng_chance(&g->r, 55) && size < max) {
		to = size + rt_rng_range(&g->r, 1, 4 * RT_MIB);
		if (rt_rng_chance(&g->r, 30))
			to = size + rt_rng_range(&g->r, 1, 1024);
	} else {
		to = rt_rng_range(&g->r, size / 2, size);
	}
	to = round_up(to, gr);
	if (to > max)
		to = round_down(max, gr);
	if (to < gr || (g->p->disks[d].type == RT_DISK_LOOP && to < 4096))
		to = g->p->disks[d].type == RT_DISK_LOOP ? 4096 : gr;
	if (to == size)
		return;
	op = add(g, RT_OP_RESIZE, d);
	if (!op)
		return;
	op->len = to;
	g->size[d] = to;
	if (to > size && rt_rng_chance(&g->r, 60))
		lay_edges(g, d);
}

static void change_punch(struct gen *g, int d, enum rt_op_type type)
{
	int n = (int)rt_rng_range(&g->r, 1, 4);

	for (int i = 0; i < n; i++) {
		uint64_t off = rt_rng_below(&g->r, g->size[d]);
		uint64_t len = rt_rng_chance(&g->r, 40)
				   ? rt_rng_range(&g->r, 1, 65536)
				   : rt_rng_range(&g->r, 65536, 8 * RT_MIB);
		struct rt_op *op;
		if (len > g->size[d] - off)
			len = g->size[d] - off;
		if (len == 0)
			continue;
		op = add(g, type, d);
		if (!op)
			return;
		op->off = off;
		op->len = len;
		op->arg = rt_rng_chance(&g->r, 50); /* qcow2 zero: unmap */
	}
}

static void change_compress(struct gen *g, int d)
{
	uint64_t cl = g->cluster[d], clusters = g->size[d] / cl;
	uint64_t k, m;
	struct rt_op *op;

	if (clusters == 0)
		return;
	k = rt_rng_below(&g->r, clusters);
	m = rt_rng_range(&g->r, 1, 4);
	if (k + m > clusters)
		m = clusters - k;
	if (m * cl > 4 * RT_MIB)
		m = 1;
	op = add(g, RT_OP_COMPRESS, d);
	if (!op)
		return;
	op->off = k * cl;
	op->len = m * cl;
	op->data = rt_rng_chance(&g->r, 50) ? RT_DATA_TEXT : RT_DATA_RANDOM;
	op->seed = rt_rng_next(&g->r);
}

static void change_overlay(struct gen *g, int d)
{
	static const uint64_t clusters[] = {512,   4096,   65536,
					    65536, 262144, 2 * 1048576};
	struct rt_op *op;

	if (g->layers[d] >= MAX_LAYERS)
		return;
	op = add(g, RT_OP_OVERLAY, d);
	if (!op)
		return;
	op->arg = rt_rng_pick(&g->r, clusters, RT_COUNT(clusters));
	g->cluster[d] = (uint32_t)op->arg;
	g->layers[d]++;
}

static void change_disk(struct gen *g, int d)
{
	bool qcow2 = g->p->disks[d].type == RT_DISK_QCOW2;
	int n = (int)rt_rng_range(&g->r, 1, 3);

	for (int i = 0; i < n; i++) {
		uint64_t x = rt_rng_below(&g->r, qcow2 ? 110 : 100);
		if (x < 22)
			lay_runs(g, d, 6);
		else if (x < 32)
			lay_stripes(g, d, max_stripes(g, d) / 2);
		else if (x < 46)
			change_punch(g, d, RT_OP_PUNCH);
		else if (x < 56)
			change_punch(g, d, RT_OP_ZERO);
		else if (x < 62)
			lay_zero_data(g, d);
		else if (x < 78)
			change_resize(g, d);
		else if (x < 84)
			lay_edges(g, d);
		else if (x < 90)
			lay_dedup(g, d);
		else if (x < 100)
			lay_boundaries(g, d);
		else if (x < 106)
			change_compress(g, d);
		else
			change_overlay(g, d);
	}
}

/* ---- the case ------------------------------------------------------------ */

static int pick_points(struct gen *g)
{
	uint64_t x = rt_rng_below(&g->r, 100);

	if (x < 35)
		return 1;
	if (x < 73)
		return 2;
	if (x < 88)
		return 3;
	if (x < 96)
		return 4;
	return (int)rt_rng_range(&g->r, 5, 6);
}

static enum rt_disk_type pick_type(struct gen *g, enum rt_kind kind, int d)
{
	switch (kind) {
	case RT_KIND_QCOW2:
		return d == 0 || rt_rng_chance(&g->r, 60) ? RT_DISK_QCOW2
							  : RT_DISK_RAW;
	case RT_KIND_LOOP:
		return d == 0 || rt_rng_chance(&g->r, 50) ? RT_DISK_LOOP
							  : RT_DISK_RAW;
	default:
		return RT_DISK_RAW;
	}
}

static void plan_checks(struct gen *g, int point)
{
	struct rt_point_check *ck = &g->p->checks[point];
	unsigned alt = g->p->kind == RT_KIND_QCOW2 ? 40
		       : g->p->kind == RT_KIND_RAW ? 12
						   : 10;
	unsigned loop = g->p->kind == RT_KIND_LOOP ? 50 : 3;

	ck->alt_format = rt_rng_chance(&g->r, alt);
	ck->loop_disk = -1;
	if (rt_rng_chance(&g->r, loop))
		ck->loop_disk =
		    (int)rt_rng_below(&g->r, (uint64_t)g->p->ndisks);
	ck->loop_to = g->p->ndisks == 1 && rt_rng_chance(&g->r, 50);
}

void rt_plan_make(enum rt_kind kind, uint64_t seed, struct rt_plan *p)
{
	static const uint64_t chunks[] = {65536,   131072,  262144,
					  524288,  1048576, 2097152,
					  4194304, 4194304, 4194304};
	struct gen g = {.p = p};
	uint64_t x;
	int points;

	memset(p, 0, sizeof(*p));
	/* Each kind its own stream: raw:7 and qcow2:7 are unrelated. */
	rt_rng_seed(&g.r, seed * RT_KIND_COUNT + (uint64_t)kind);
	p->kind = kind;
	p->seed = seed;
	p->chunk_size = (uint32_t)rt_rng_pick(&g.r, chunks, RT_COUNT(chunks));
	g.dedup_seed = rt_rng_next(&g.r);
	x = rt_rng_below(&g.r, 100);
	p->ndisks = x < 70 ? 1 : x < 92 ? 2 : 3;
	if (kind != RT_KIND_RAW && p->ndisks > 2)
		p->ndisks = 2;
	for (int d = 0; d < p->ndisks; d++)
		plan_disk(&g, d, pick_type(&g, kind, d));

	points = pick_points(&g);
	for (int i = 0; i < points && p->npoints < RT_MAX_POINTS - 1; i++) {
		struct rt_op *op;
		if (i > 0)
			for (int d = 0; d < p->ndisks; d++)
				if (rt_rng_chance(&g.r, 75))
					change_disk(&g, d);
		for (int d = 0; d < p->ndisks; d++)
			materialize(&g, d);
		op = add(&g, RT_OP_BACKUP, -1);
		if (!op)
			break;
		op->arg = rt_rng_pick(&g.r, (const uint64_t[]){1, 2, 8}, 3);
		op->twin = rt_rng_chance(&g.r, 12);
		plan_checks(&g, p->npoints++);
		if (op->twin)
			plan_checks(&g, p->npoints++);
	}
	/* A case ends with a point: drop changes after the last one. */
	while (p->nops > 0 && p->ops[p->nops - 1].type != RT_OP_BACKUP)
		p->nops--;
}

/* ---- descriptions ------------------------------------------------------ */

const char *rt_size_str(uint64_t v, char *buf, size_t size)
{
	if (v >= RT_MIB && v % RT_MIB == 0)
		snprintf(buf, size, "%" PRIu64 "M", v / RT_MIB);
	else if (v >= RT_KIB && v % RT_KIB == 0)
		snprintf(buf, size, "%" PRIu64 "K", v / RT_KIB);
	else
		snprintf(buf, size, "%" PRIu64, v);
	return buf;
}

static const char *type_name(enum rt_disk_type t)
{
	return t == RT_DISK_QCOW2  ? "qcow2"
	       : t == RT_DISK_LOOP ? "loop"
				   : "raw";
}

static const char *base_name(enum rt_qcow2_base b)
{
	return b == RT_BASE_CONVERT  ? "convert"
	       : b == RT_BASE_CREATE ? "create"
				     : "raw-backing";
}

static const char *data_name(enum rt_data d, uint64_t seed, char *buf,
			     size_t size)
{
	if (d == RT_DATA_BYTE)
		snprintf(buf, size, "byte 0x%02x", (unsigned)(seed & 0xff));
	else
		snprintf(buf, size, "%s",
			 d == RT_DATA_TEXT ? "text" : "random");
	return buf;
}

void rt_plan_summary(const struct rt_plan *p, char *buf, size_t size)
{
	char s1[32], s2[32];
	size_t n;

	n = (size_t)snprintf(buf, size, "%s:%" PRIu64 ": chunk %s, disks",
			     rt_kind_name(p->kind), p->seed,
			     rt_size_str(p->chunk_size, s1, sizeof(s1)));
	for (int d = 0; d < p->ndisks && n < size; d++) {
		const struct rt_disk_plan *dp = &p->disks[d];
		n += (size_t)snprintf(buf + n, size - n, "%s d%d %s %" PRIu64,
				      d ? "," : "", d, type_name(dp->type),
				      dp->size);
		if (dp->type == RT_DISK_QCOW2 && n < size)
			n += (size_t)snprintf(
			    buf + n, size - n, " (%s, cluster %s%s)",
			    base_name(dp->base),
			    rt_size_str(dp->cluster, s2, sizeof(s2)),
			    dp->compressed ? ", compressed" : "");
	}
	if (n < size)
		snprintf(buf + n, size - n, "; %d ops, %d points", p->nops,
			 p->npoints);
}

void rt_plan_print(const struct rt_plan *p, FILE *f, const char *indent)
{
	char a[32], b[32], c[32];
	int point = 0;

	for (int i = 0; i < p->nops; i++) {
		const struct rt_op *op = &p->ops[i];
		fprintf(f, "%s", indent);
		if (op->type != RT_OP_BACKUP)
			fprintf(f, "d%d ", op->disk);
		switch (op->type) {
		case RT_OP_WRITE:
			fprintf(f, "write %" PRIu64 "+%" PRIu64 " %s\n",
				op->off, op->len,
				data_name(op->data, op->seed, a, sizeof(a)));
			break;
		case RT_OP_STRIPES:
			fprintf(f,
				"stripes from %" PRIu64
				": %s every %s x%" PRIu64 " %s\n",
				op->off, rt_size_str(op->len, b, sizeof(b)),
				rt_size_str(op->step, c, sizeof(c)), op->count,
				data_name(op->data, op->seed, a, sizeof(a)));
			break;
		case RT_OP_PUNCH:
			fprintf(f, "punch %" PRIu64 "+%" PRIu64 "\n", op->off,
				op->len);
			break;
		case RT_OP_ZERO:
			fprintf(f, "zero %" PRIu64 "+%" PRIu64 "%s\n", op->off,
				op->len, op->arg ? " (unmap)" : "");
			break;
		case RT_OP_COMPRESS:
			fprintf(f, "compressed %" PRIu64 "+%" PRIu64 " %s\n",
				op->off, op->len,
				data_name(op->data, op->seed, a, sizeof(a)));
			break;
		case RT_OP_RESIZE:
			fprintf(f, "resize to %" PRIu64 "\n", op->len);
			break;
		case RT_OP_OVERLAY:
			fprintf(f, "overlay, cluster %s\n",
				rt_size_str(op->arg, a, sizeof(a)));
			break;
		case RT_OP_HEADER:
			fprintf(f, "qcow2 header at byte 0 (declared raw)\n");
			break;
		case RT_OP_BACKUP:
			if (op->twin)
				fprintf(f,
					"backup -> points %d and %d, threads "
					"1 then 8 (twins)\n",
					point, point + 1);
			else
				fprintf(f,
					"backup -> point %d, threads %" PRIu64
					"\n",
					point, op->arg);
			point += op->twin ? 2 : 1;
			break;
		}
	}
}

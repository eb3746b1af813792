/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sp-roundtrip: differential round trips of generated disks through the
 * real `stillpoint` binary.
 *
 * A case is a kind (raw files, qcow2 images, loop devices) and a seed.  The
 * seed alone determines a plan (rt_plan.c): the disks, their initial
 * layouts and a sequence of changes and backups.  The runner (rt_case.c)
 * executes the plan on real files (rt_disk.c), keeps a sparse copy of every
 * disk as it was when each point was taken, then restores every point (raw,
 * qcow2, onto a loop device) and compares the bytes itself (rt_file.c),
 * never trusting the tool's own checksums.  Nothing here links the library:
 * the product is only ever run as a program (rt_run.c), with an argv.
 *
 * Invariant: a plan depends on (kind, seed) only, never on the machine, the
 * binary or earlier results, so a printed case replays exactly.
 */
#ifndef SP_RT_H
#define SP_RT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#define RT_KIB ((uint64_t)1024)
#define RT_MIB ((uint64_t)1024 * 1024)

#define RT_MAX_DISKS 3
#define RT_MAX_OPS 160
#define RT_MAX_POINTS 12
#define RT_PATH 512
#define RT_COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* ---- deterministic random numbers (rt_rng.c) ---------------------------- */

struct rt_rng {
	uint64_t s[4];
};

void rt_rng_seed(struct rt_rng *r, uint64_t seed);
uint64_t rt_rng_next(struct rt_rng *r);
/* Uniform in [0, n); 0 when n is 0. */
uint64_t rt_rng_below(struct rt_rng *r, uint64_t n);
/* Uniform in [lo, hi]. */
uint64_t rt_rng_range(struct rt_rng *r, uint64_t lo, uint64_t hi);
bool rt_rng_chance(struct rt_rng *r, unsigned percent);
uint64_t rt_rng_pick(struct rt_rng *r, const uint64_t *v, size_t n);
void rt_rng_fill(struct rt_rng *r, void *buf, size_t len);

/* ---- the plan (rt_plan.c) ----------------------------------------------- */

enum rt_kind { RT_KIND_RAW, RT_KIND_QCOW2, RT_KIND_LOOP, RT_KIND_COUNT };

const char *rt_kind_name(enum rt_kind k);
int rt_kind_parse(const char *s, enum rt_kind *k);

/* What a disk is backed up as. */
enum rt_disk_type {
	RT_DISK_RAW,   /* a sparse raw file */
	RT_DISK_QCOW2, /* a qcow2 image, maybe the top of a backing chain */
	RT_DISK_LOOP,  /* a raw file behind a loop device */
};

/* How a qcow2 disk comes to exist. */
enum rt_qcow2_base {
	RT_BASE_CONVERT, /* layout written raw, then `qemu-img convert` */
	RT_BASE_CREATE,	 /* `qemu-img create`, layout through qemu-io */
	RT_BASE_RAW,	 /* a raw backing file under a first overlay */
};

enum rt_data {
	RT_DATA_RANDOM, /* incompressible, from the op's seed */
	RT_DATA_TEXT,	/* compressible words, from the op's seed */
	RT_DATA_BYTE,	/* one byte value repeated; 0 = zeroes as data */
};

enum rt_op_type {
	RT_OP_WRITE,	/* [off, off+len) := data */
	RT_OP_STRIPES,	/* count writes of len bytes, one every step */
	RT_OP_PUNCH,	/* raw: PUNCH_HOLE; qcow2: discard */
	RT_OP_ZERO,	/* raw: ZERO_RANGE; qcow2: write -z (arg: unmap) */
	RT_OP_COMPRESS, /* qcow2: compressed clusters of data */
	RT_OP_RESIZE,	/* new size (len) */
	RT_OP_OVERLAY,	/* qcow2: a new top over the old one (arg: cluster) */
	RT_OP_HEADER,	/* a qcow2 header at byte 0 of a raw disk */
	RT_OP_BACKUP,	/* a point (arg: threads; twin: again with -t 8) */
};

struct rt_op {
	enum rt_op_type type;
	int disk;
	uint64_t off, len, step, count;
	enum rt_data data;
	uint64_t seed; /* data seed, or byte value for RT_DATA_BYTE */
	uint64_t arg;
	bool twin; /* RT_OP_BACKUP: a second point, threads 1 vs 8 */
};

struct rt_disk_plan {
	enum rt_disk_type type;
	uint64_t size; /* initial */
	/* qcow2 */
	enum rt_qcow2_base base;
	uint32_t cluster;
	bool compressed; /* RT_BASE_CONVERT with -c */
};

/* What the checks do with one point once the sequence is over. */
struct rt_point_check {
	bool alt_format; /* restore again in the other format */
	int loop_disk;	 /* restore this disk onto a loop device, or -1 */
	bool loop_to;	 /* via --to DEV rather than --disk-to */
};

struct rt_plan {
	enum rt_kind kind;
	uint64_t seed;
	uint32_t chunk_size;
	int ndisks;
	struct rt_disk_plan disks[RT_MAX_DISKS];
	int nops;
	struct rt_op ops[RT_MAX_OPS];
	int npoints; /* points taken, twins counted */
	struct rt_point_check checks[RT_MAX_POINTS];
};

void rt_plan_make(enum rt_kind kind, uint64_t seed, struct rt_plan *p);
/* One line: kind, chunk size, disks, points. */
void rt_plan_summary(const struct rt_plan *p, char *buf, size_t size);
/* Every op, one per line, each prefixed with @indent. */
void rt_plan_print(const struct rt_plan *p, FILE *f, const char *indent);
const char *rt_size_str(uint64_t v, char *buf, size_t size);

/* ---- running programs (rt_run.c) ---------------------------------------- */

struct rt_argv {
	int n;
	char *v[48];
};

void rt_argv_add(struct rt_argv *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void rt_argv_free(struct rt_argv *a);

/* Start @a in the background (own process group, stdout to @out_path,
 * stderr to the log); rt_stop() sends it @sig and reaps it, killing its
 * group after @timeout_s.  rt_stop returns the exit status (128 + signal),
 * or -1 when it had to be killed. */
pid_t rt_spawn(const struct rt_argv *a, FILE *log, const char *out_path);
int rt_stop(pid_t pid, int sig, FILE *log, unsigned timeout_s);

/*
 * Run @a with stdin from @in_path (or /dev/null), stdout to @out_path (or the
 * log), stderr to the log, in its own process group, killed after @timeout_s.
 * The command line goes to the log first.  Returns the exit status, 128+signal,
 * or -1 when it could not run or timed out (reason in the log).
 */
int rt_run(const struct rt_argv *a, FILE *log, const char *in_path,
	   const char *out_path, unsigned timeout_s);
/* Commands are echoed to stderr too (-v). */
extern bool rt_verbose;

/* ---- files (rt_file.c) -------------------------------------------------- */

/* snprintf for paths: a path that does not fit is a bug here, and aborts. */
void rt_path(char *buf, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

struct rt_diff {
	uint64_t first;	     /* first differing byte */
	uint64_t nslots;     /* differing slots of @slot bytes */
	uint64_t first_slot; /* the first of them */
	uint64_t bytes;	     /* differing bytes */
};

/* Copy @from to @to (created), holes as holes: the reference copies. */
int rt_copy_sparse(const char *from, const char *to);
/* Compare the first @len bytes of two files or devices; 0 equal, 1
 * different (@d filled), -1 unreadable (errno). */
int rt_compare(const char *want, const char *got, uint64_t len, uint32_t slot,
	       struct rt_diff *d);
/* True when [off, off+len) of @path holds only @byte. */
int rt_all_bytes(const char *path, uint64_t off, uint64_t len, uint8_t byte);
int rt_file_size(const char *path, uint64_t *size);
int rt_write_data(int fd, uint64_t off, uint64_t len, enum rt_data data,
		  uint64_t seed);
int rt_write_file(const char *path, uint64_t len, enum rt_data data,
		  uint64_t seed);
int rt_rm_rf(const char *path);

/* ---- disks (rt_disk.c) -------------------------------------------------- */

struct rt_env {
	const char *sp;		/* the stillpoint binary */
	bool declare_format;	/* backup takes --disk PATH:FORMAT */
	bool loop_ok;		/* root with loop devices */
	bool keep_all;		/* keep restored files too (--keep) */
	unsigned timeout_s;	/* per command */
	const char *vault_base; /* NULL: a vault in each case's scratch
				   directory; else "s3://B/P": the case's
				   vault is B/P/<case> */
};

/* A disk while its case runs. */
struct rt_disk {
	int index;
	const struct rt_disk_plan *plan;
	char file[RT_PATH]; /* raw file, qcow2 top, or loop backing file */
	uint64_t size;
	int layers;	   /* qcow2 overlays pushed */
	bool materialized; /* qcow2 image exists (else still a stage file) */
	char stage[RT_PATH];
	char dev[64]; /* loop device while attached */
	/* qemu-io commands not yet run, and their pattern files */
	char cmd_path[RT_PATH];
	FILE *cmds;
	int npatterns;
};

struct rt_case;
int rt_disk_init(struct rt_case *c, struct rt_disk *d, int index,
		 const struct rt_disk_plan *p);
/* Apply one op (not a backup) to the disk. */
int rt_disk_apply(struct rt_case *c, struct rt_disk *d, const struct rt_op *op);
/* Flush pending qemu-io work; materialize a staged qcow2. */
int rt_disk_settle(struct rt_case *c, struct rt_disk *d);
/* The path to give `backup --disk` (attaching a loop device if needed). */
int rt_disk_source(struct rt_case *c, struct rt_disk *d, char *buf,
		   size_t size);
/* The format the disk is declared as: "raw" or "qcow2". */
const char *rt_disk_format(const struct rt_disk *d);
void rt_disk_release(struct rt_case *c, struct rt_disk *d);
/* The guest-visible bytes now, as a sparse raw file at @ref. */
int rt_disk_snapshot(struct rt_case *c, struct rt_disk *d, const char *ref);

int rt_loop_attach(struct rt_case *c, const char *file, char *dev, size_t size);
void rt_loop_detach(struct rt_case *c, const char *dev);

/* ---- cases (rt_case.c) -------------------------------------------------- */

struct rt_case {
	const struct rt_env *env;
	struct rt_plan plan;
	char dir[RT_PATH];     /* sources and the log */
	char scratch[RT_PATH]; /* vault, references, restores */
	char vault[RT_PATH];   /* the case's own vault */
	FILE *log;
	FILE *report; /* failures, for the campaign's output */
	int failures;
	int harness_errors;
	unsigned seq; /* scratch file numbering */
	struct rt_stats {
		long points, twins, restores, loop_restores, disks_compared;
		uint64_t bytes_compared;
	} stats;
};

/* Complain about the product (counted as a failure of the case). */
void rt_fail(struct rt_case *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Complain about the test's own setup (also fails the case). */
void rt_harness(struct rt_case *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * Run one case: its sources and log in directory @dir, its vault,
 * references and restores in directory @scratch (both created here; a
 * tmpfs for @scratch spares fsyncs).  Its failures are written to @report.
 * Returns 0 passed, 1 failed, 77 skipped.
 */
int rt_case_run(const struct rt_env *env, enum rt_kind kind, uint64_t seed,
		const char *dir, const char *scratch, FILE *report);

#endif

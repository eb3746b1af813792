// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Disks while a case runs: plan ops made real.  A raw disk (also the file
 * behind a loop device) is changed with pwrite, fallocate and ftruncate; a
 * qcow2 disk through QEMU's own tools: qemu-io for writes, zero clusters,
 * discards and compressed clusters, `qemu-img create -b` for backing
 * chains, `qemu-img resize` for sizes.  A qcow2 disk may start as a raw
 * stage file that becomes its image (or its backing file) before its first
 * point.
 *
 * The reference copy of a disk is what its guest would read: the raw file
 * itself, or `qemu-img convert` of the qcow2 chain.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rt.h"

/* Run a setup tool; its failure is the harness's, not the product's. */
static int tool(struct rt_case *c, struct rt_argv *a, const char *in)
{
	int r = rt_run(a, c->log, in, NULL, c->env->timeout_s);

	if (r != 0)
		rt_harness(c, "%s failed (exit %d)", a->v[0], r);
	rt_argv_free(a);
	return r == 0 ? 0 : -1;
}

static bool is_qcow2(const struct rt_disk *d)
{
	return d->plan->type == RT_DISK_QCOW2;
}

/* The raw file the next op writes: the disk, or a qcow2's stage file. */
static const char *raw_file(const struct rt_disk *d)
{
	return is_qcow2(d) ? d->stage : d->file;
}

const char *rt_disk_format(const struct rt_disk *d)
{
	return is_qcow2(d) ? "qcow2" : "raw";
}

static int create_raw(struct rt_case *c, const char *path, uint64_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd < 0 || ftruncate(fd, (off_t)size) < 0) {
		rt_harness(c, "cannot create %s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

int rt_disk_init(struct rt_case *c, struct rt_disk *d, int index,
		 const struct rt_disk_plan *p)
{
	struct rt_argv a = {0};

	memset(d, 0, sizeof(*d));
	d->index = index;
	d->plan = p;
	d->size = p->size;
	rt_path(d->cmd_path, sizeof(d->cmd_path), "%s/d%d.qemu-io", c->dir,
		index);
	if (!is_qcow2(d)) {
		rt_path(d->file, sizeof(d->file), "%s/d%d.img", c->dir, index);
		return create_raw(c, d->file, d->size);
	}
	rt_path(d->file, sizeof(d->file), "%s/d%d.qcow2", c->dir, index);
	if (p->base == RT_BASE_CREATE) {
		d->materialized = true;
		rt_argv_add(&a, "qemu-img");
		rt_argv_add(&a, "create");
		rt_argv_add(&a, "-q");
		rt_argv_add(&a, "-f");
		rt_argv_add(&a, "qcow2");
		rt_argv_add(&a, "-o");
		rt_argv_add(&a, "cluster_size=%" PRIu32, p->cluster);
		rt_argv_add(&a, "%s", d->file);
		rt_argv_add(&a, "%" PRIu64, d->size);
		return tool(c, &a, NULL);
	}
	rt_path(d->stage, sizeof(d->stage), "%s/d%d.%s.raw", c->dir, index,
		p->base == RT_BASE_RAW ? "base" : "stage");
	return create_raw(c, d->stage, d->size);
}

/* ---- raw files ---------------------------------------------------------- */

/* fallocate, or plain zeroes where the file system cannot. */
static int raw_zero(int fd, int mode, uint64_t off, uint64_t len)
{
	if (fallocate(fd, mode | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len) ==
	    0)
		return 0;
	if (errno != EOPNOTSUPP)
		return -errno;
	return rt_write_data(fd, off, len, RT_DATA_BYTE, 0);
}

/* The first bytes of a real qcow2 image whose backing file is a file of
 * the host: a raw disk declared raw must keep them as plain data. */
static int raw_header(struct rt_case *c, int fd, uint64_t size)
{
	char hdr[RT_PATH], secret[RT_PATH];
	struct rt_argv a = {0};
	uint8_t buf[4096];
	ssize_t n;
	int hfd;

	if (!c->env->declare_format) {
		fprintf(c->log, "(qcow2 header skipped: the binary cannot "
				"declare a disk's format)\n");
		return 0;
	}
	rt_path(secret, sizeof(secret), "%s/host-secret", c->dir);
	rt_path(hdr, sizeof(hdr), "%s/header.qcow2", c->dir);
	if (rt_write_file(secret, 65536, RT_DATA_BYTE, 0x53) < 0)
		return -1;
	rt_argv_add(&a, "qemu-img");
	rt_argv_add(&a, "create");
	rt_argv_add(&a, "-q");
	rt_argv_add(&a, "-f");
	rt_argv_add(&a, "qcow2");
	rt_argv_add(&a, "-b");
	rt_argv_add(&a, "%s", secret);
	rt_argv_add(&a, "-F");
	rt_argv_add(&a, "raw");
	rt_argv_add(&a, "%s", hdr);
	rt_argv_add(&a, "65536");
	if (tool(c, &a, NULL) < 0)
		return -1;
	hfd = open(hdr, O_RDONLY | O_CLOEXEC);
	if (hfd < 0)
		return -errno;
	n = pread(hfd, buf, sizeof(buf), 0);
	close(hfd);
	if (n <= 0)
		return -EIO;
	if ((uint64_t)n > size)
		n = (ssize_t)size;
	return pwrite(fd, buf, (size_t)n, 0) == n ? 0 : -errno;
}

static int raw_apply(struct rt_case *c, struct rt_disk *d,
		     const struct rt_op *op)
{
	const char *path = raw_file(d);
	int fd = open(path, O_WRONLY | O_CLOEXEC), r = 0;

	if (fd < 0) {
		rt_harness(c, "cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	switch (op->type) {
	case RT_OP_WRITE:
		r = rt_write_data(fd, op->off, op->len, op->data, op->seed);
		break;
	case RT_OP_STRIPES:
		for (uint64_t k = 0; k < op->count && r == 0; k++) {
			uint64_t at = op->off + k * op->step, n = op->len;
			if (at >= d->size)
				break;
			if (n > d->size - at)
				n = d->size - at;
			/* Random stripes differ from each other. */
			r = rt_write_data(
			    fd, at, n, op->data,
			    op->data == RT_DATA_BYTE ? op->seed : op->seed + k);
		}
		break;
	case RT_OP_PUNCH:
		r = raw_zero(fd, FALLOC_FL_PUNCH_HOLE, op->off, op->len);
		break;
	case RT_OP_ZERO:
		r = raw_zero(fd, FALLOC_FL_ZERO_RANGE, op->off, op->len);
		break;
	case RT_OP_RESIZE:
		r = ftruncate(fd, (off_t)op->len) < 0 ? -errno : 0;
		if (r == 0)
			d->size = op->len;
		break;
	case RT_OP_HEADER:
		r = raw_header(c, fd, d->size);
		break;
	default:
		r = -EINVAL;
		break;
	}
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r < 0) {
		rt_harness(c, "cannot change %s: %s", path, strerror(-r));
		return -1;
	}
	return 0;
}

/* ---- qcow2 images ------------------------------------------------------- */

static FILE *cmds(struct rt_case *c, struct rt_disk *d)
{
	if (!d->cmds) {
		d->cmds = fopen(d->cmd_path, "we");
		if (!d->cmds)
			rt_harness(c, "cannot write %s: %s", d->cmd_path,
				   strerror(errno));
	}
	return d->cmds;
}

/* A pattern file holding the op's data, for qemu-io's write -s. */
static int pattern(struct rt_case *c, struct rt_disk *d, uint64_t len,
		   enum rt_data data, uint64_t seed, char *path, size_t size)
{
	rt_path(path, size, "%s/d%d.pattern%d", c->dir, d->index,
		d->npatterns++);
	if (rt_write_file(path, len, data, seed) < 0) {
		rt_harness(c, "cannot write %s", path);
		return -1;
	}
	return 0;
}

/* Run the queued qemu-io commands in one process. */
static int flush_cmds(struct rt_case *c, struct rt_disk *d)
{
	struct rt_argv a = {0};
	int r;

	if (!d->cmds)
		return 0;
	fclose(d->cmds);
	d->cmds = NULL;
	rt_argv_add(&a, "qemu-io");
	rt_argv_add(&a, "-f");
	rt_argv_add(&a, "qcow2");
	/* Discards free clusters, as a guest's TRIM would. */
	rt_argv_add(&a, "-d");
	rt_argv_add(&a, "unmap");
	/* No flush per write: the image is closed cleanly at the end. */
	rt_argv_add(&a, "-t");
	rt_argv_add(&a, "unsafe");
	rt_argv_add(&a, "%s", d->file);
	r = tool(c, &a, d->cmd_path);
	unlink(d->cmd_path);
	for (int i = 0; i < d->npatterns; i++) {
		char p[RT_PATH];
		rt_path(p, sizeof(p), "%s/d%d.pattern%d", c->dir, d->index, i);
		unlink(p);
	}
	d->npatterns = 0;
	return r;
}

/* Turn the stage file into the image (convert) or its backing file. */
static int materialize(struct rt_case *c, struct rt_disk *d, uint32_t cluster)
{
	const struct rt_disk_plan *p = d->plan;
	struct rt_argv a = {0};

	if (d->materialized)
		return 0;
	d->materialized = true;
	rt_argv_add(&a, "qemu-img");
	if (p->base == RT_BASE_RAW) {
		rt_argv_add(&a, "create");
		rt_argv_add(&a, "-q");
		rt_argv_add(&a, "-f");
		rt_argv_add(&a, "qcow2");
		rt_argv_add(&a, "-o");
		rt_argv_add(&a, "cluster_size=%" PRIu32, cluster);
		rt_argv_add(&a, "-b");
		rt_argv_add(&a, "%s", strrchr(d->stage, '/') + 1);
		rt_argv_add(&a, "-F");
		rt_argv_add(&a, "raw");
		rt_argv_add(&a, "%s", d->file);
		d->layers++;
		return tool(c, &a, NULL);
	}
	rt_argv_add(&a, "convert");
	rt_argv_add(&a, "-f");
	rt_argv_add(&a, "raw");
	rt_argv_add(&a, "-O");
	rt_argv_add(&a, "qcow2");
	rt_argv_add(&a, "-o");
	rt_argv_add(&a, "cluster_size=%" PRIu32, p->cluster);
	if (p->compressed)
		rt_argv_add(&a, "-c");
	rt_argv_add(&a, "%s", d->stage);
	rt_argv_add(&a, "%s", d->file);
	if (tool(c, &a, NULL) < 0)
		return -1;
	unlink(d->stage);
	return 0;
}

/* A new top: the old one renamed beneath it (nothing refers to a top by
 * name, so the chain stays intact). */
static int push_overlay(struct rt_case *c, struct rt_disk *d, uint32_t cluster)
{
	struct rt_argv a = {0};
	char below[RT_PATH];

	if (!d->materialized)
		return materialize(c, d, cluster);
	if (flush_cmds(c, d) < 0)
		return -1;
	rt_path(below, sizeof(below), "%s/d%d.layer%d.qcow2", c->dir, d->index,
		d->layers);
	if (rename(d->file, below) < 0) {
		rt_harness(c, "cannot rename %s: %s", d->file, strerror(errno));
		return -1;
	}
	d->layers++;
	rt_argv_add(&a, "qemu-img");
	rt_argv_add(&a, "create");
	rt_argv_add(&a, "-q");
	rt_argv_add(&a, "-f");
	rt_argv_add(&a, "qcow2");
	rt_argv_add(&a, "-o");
	rt_argv_add(&a, "cluster_size=%" PRIu32, cluster);
	rt_argv_add(&a, "-b");
	rt_argv_add(&a, "%s", strrchr(below, '/') + 1);
	rt_argv_add(&a, "-F");
	rt_argv_add(&a, "qcow2");
	rt_argv_add(&a, "%s", d->file);
	return tool(c, &a, NULL);
}

static int qcow2_resize(struct rt_case *c, struct rt_disk *d, uint64_t size)
{
	struct rt_argv a = {0};

	if (flush_cmds(c, d) < 0)
		return -1;
	rt_argv_add(&a, "qemu-img");
	rt_argv_add(&a, "resize");
	rt_argv_add(&a, "-q");
	rt_argv_add(&a, "-f");
	rt_argv_add(&a, "qcow2");
	if (size < d->size)
		rt_argv_add(&a, "--shrink");
	rt_argv_add(&a, "%s", d->file);
	rt_argv_add(&a, "%" PRIu64, size);
	d->size = size;
	return tool(c, &a, NULL);
}

static int qcow2_apply(struct rt_case *c, struct rt_disk *d,
		       const struct rt_op *op)
{
	char pat[RT_PATH];
	FILE *f;

	if (op->type == RT_OP_OVERLAY)
		return push_overlay(c, d, (uint32_t)op->arg);
	if (op->type == RT_OP_RESIZE)
		return qcow2_resize(c, d, op->len);
	f = cmds(c, d);
	if (!f)
		return -1;
	switch (op->type) {
	case RT_OP_WRITE:
	case RT_OP_COMPRESS:
		if (op->data == RT_DATA_BYTE && op->type == RT_OP_WRITE) {
			fprintf(f,
				"write -q -P 0x%02x %" PRIu64 " %" PRIu64 "\n",
				(unsigned)(op->seed & 0xff), op->off, op->len);
			break;
		}
		if (pattern(c, d, op->len, op->data, op->seed, pat,
			    sizeof(pat)) < 0)
			return -1;
		/* qcow2 compresses only into unallocated clusters. */
		if (op->type == RT_OP_COMPRESS)
			fprintf(f, "discard -q %" PRIu64 " %" PRIu64 "\n",
				op->off, op->len);
		fprintf(f, "write -q%s -s %s %" PRIu64 " %" PRIu64 "\n",
			op->type == RT_OP_COMPRESS ? " -c" : "", pat, op->off,
			op->len);
		break;
	case RT_OP_STRIPES:
		/* One pattern byte per stripe: a pattern file each would
		 * cost more than the backup under test. */
		for (uint64_t k = 0; k < op->count; k++) {
			uint64_t at = op->off + k * op->step, n = op->len;
			if (at >= d->size)
				break;
			if (n > d->size - at)
				n = d->size - at;
			fprintf(f,
				"write -q -P 0x%02x %" PRIu64 " %" PRIu64 "\n",
				(unsigned)((op->seed + k) % 255 + 1), at, n);
		}
		break;
	case RT_OP_PUNCH:
		fprintf(f, "discard -q %" PRIu64 " %" PRIu64 "\n", op->off,
			op->len);
		break;
	case RT_OP_ZERO:
		fprintf(f, "write -q -z%s %" PRIu64 " %" PRIu64 "\n",
			op->arg ? " -u" : "", op->off, op->len);
		break;
	default:
		rt_harness(c, "op %d makes no sense on a qcow2 image",
			   (int)op->type);
		return -1;
	}
	return 0;
}

int rt_disk_apply(struct rt_case *c, struct rt_disk *d, const struct rt_op *op)
{
	if (is_qcow2(d) && (d->materialized || op->type == RT_OP_OVERLAY))
		return qcow2_apply(c, d, op);
	return raw_apply(c, d, op);
}

int rt_disk_settle(struct rt_case *c, struct rt_disk *d)
{
	if (!is_qcow2(d))
		return 0;
	if (!d->materialized && materialize(c, d, d->plan->cluster) < 0)
		return -1;
	return flush_cmds(c, d);
}

/* ---- loop devices ------------------------------------------------------- */

int rt_loop_attach(struct rt_case *c, const char *file, char *dev, size_t size)
{
	struct rt_argv a = {0};
	char out[RT_PATH];
	FILE *f;
	int r;

	rt_path(out, sizeof(out), "%s/losetup.out", c->dir);
	rt_argv_add(&a, "losetup");
	rt_argv_add(&a, "--find");
	rt_argv_add(&a, "--show");
	rt_argv_add(&a, "%s", file);
	r = rt_run(&a, c->log, NULL, out, c->env->timeout_s);
	rt_argv_free(&a);
	if (r != 0) {
		rt_harness(c, "losetup %s failed (exit %d)", file, r);
		return -1;
	}
	f = fopen(out, "re");
	if (!f || !fgets(dev, (int)size, f) || strncmp(dev, "/dev/", 5)) {
		if (f)
			fclose(f);
		rt_harness(c, "losetup printed no device");
		return -1;
	}
	fclose(f);
	dev[strcspn(dev, "\n")] = '\0';
	return 0;
}

void rt_loop_detach(struct rt_case *c, const char *dev)
{
	struct rt_argv a = {0};

	rt_argv_add(&a, "losetup");
	rt_argv_add(&a, "-d");
	rt_argv_add(&a, "%s", dev);
	if (rt_run(&a, c->log, NULL, NULL, c->env->timeout_s) != 0)
		rt_harness(c, "cannot detach %s", dev);
	rt_argv_free(&a);
}

int rt_disk_source(struct rt_case *c, struct rt_disk *d, char *buf, size_t size)
{
	if (rt_disk_settle(c, d) < 0)
		return -1;
	if (d->plan->type != RT_DISK_LOOP) {
		rt_path(buf, size, "%s", d->file);
		return 0;
	}
	if (!d->dev[0] &&
	    rt_loop_attach(c, d->file, d->dev, sizeof(d->dev)) < 0)
		return -1;
	rt_path(buf, size, "%s", d->dev);
	return 0;
}

void rt_disk_release(struct rt_case *c, struct rt_disk *d)
{
	if (d->dev[0]) {
		rt_loop_detach(c, d->dev);
		d->dev[0] = '\0';
	}
	if (d->cmds) {
		fclose(d->cmds);
		d->cmds = NULL;
	}
}

int rt_disk_snapshot(struct rt_case *c, struct rt_disk *d, const char *ref)
{
	struct rt_argv a = {0};
	uint64_t size = 0;
	int r;

	if (rt_disk_settle(c, d) < 0)
		return -1;
	if (!is_qcow2(d)) {
		r = rt_copy_sparse(d->file, ref);
		if (r < 0) {
			rt_harness(c, "cannot copy %s: %s", d->file,
				   strerror(-r));
			return -1;
		}
	} else {
		rt_argv_add(&a, "qemu-img");
		rt_argv_add(&a, "convert");
		rt_argv_add(&a, "-f");
		rt_argv_add(&a, "qcow2");
		rt_argv_add(&a, "-O");
		rt_argv_add(&a, "raw");
		rt_argv_add(&a, "%s", d->file);
		rt_argv_add(&a, "%s", ref);
		if (tool(c, &a, NULL) < 0)
			return -1;
	}
	if (rt_file_size(ref, &size) < 0 || size != d->size) {
		rt_harness(c,
			   "reference of d%d has %" PRIu64
			   " bytes, the plan says %" PRIu64,
			   d->index, size, d->size);
		return -1;
	}
	return 0;
}

// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The sequence runner: one case from its plan.
 *
 *   1. init a vault with the plan's chunk size;
 *   2. run the ops in order; at each backup op, first keep a sparse copy of
 *      every disk as its guest sees it (the reference), then back the disks
 *      up (a twin backs the same disks up again, threads 1 then 8, and the
 *      two points' indexes must be byte-identical);
 *   3. restore EVERY point: in its disks' own formats, in the other format
 *      when the plan says so, onto a loop device when it says so; compare
 *      each disk with its reference, byte for byte;
 *   4. `verify` must find the vault sound.
 *
 * Invariant: a verdict rests only on bytes read back from restored disks
 * and on exit codes, never on the tool's own checksums or its summary.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rt.h"

#define POINT_NAME "rt"
/* What restore targets are filled with: holes must not show it. */
#define TARGET_FILL 0xa5

struct point {
	bool ok; /* backed up, and its manifest as expected */
	char id[80];
	int ndisks;
	char name[RT_MAX_DISKS][80];
	char ref[RT_MAX_DISKS][RT_PATH];
	uint64_t size[RT_MAX_DISKS];
	const char *format[RT_MAX_DISKS];
	char index[RT_MAX_DISKS][32];
	char index_sha[RT_MAX_DISKS][65];
};

struct run {
	struct rt_case *c;
	struct rt_disk disks[RT_MAX_DISKS];
	struct point points[RT_MAX_POINTS];
	int npoints;
};

__attribute__((format(printf, 3, 0))) static void
vmsg(struct rt_case *c, const char *what, const char *fmt, va_list ap)
{
	char msg[1024];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	fprintf(c->log, "%s: %s\n", what, msg);
	fflush(c->log);
	if (c->report)
		fprintf(c->report, "  %s: %s\n", what, msg);
}

void rt_fail(struct rt_case *c, const char *fmt, ...)
{
	va_list ap;

	c->failures++;
	va_start(ap, fmt);
	vmsg(c, "FAIL", fmt, ap);
	va_end(ap);
}

void rt_harness(struct rt_case *c, const char *fmt, ...)
{
	va_list ap;

	c->harness_errors++;
	va_start(ap, fmt);
	vmsg(c, "HARNESS", fmt, ap);
	va_end(ap);
}

/* stillpoint --vault V --no-progress [more global options] */
static void sp_argv(struct rt_case *c, struct rt_argv *a)
{
	rt_argv_add(a, "%s", c->env->sp);
	rt_argv_add(a, "--vault");
	rt_argv_add(a, "%s", c->vault);
	rt_argv_add(a, "--no-progress");
}

static int sp_run(struct rt_case *c, struct rt_argv *a, const char *out)
{
	int r = rt_run(a, c->log, NULL, out, c->env->timeout_s);

	rt_argv_free(a);
	return r;
}

static void scratch(struct rt_case *c, char *buf, size_t size, const char *what)
{
	rt_path(buf, size, "%s/%s.%u", c->scratch, what, c->seq++);
}

/* ---- backups ------------------------------------------------------------ */

/* Read the new point's id and disks from `backup --json`, and check that
 * the manifest describes the disks as they were given. */
static int read_manifest(struct run *run, const char *path, struct point *pt)
{
	struct rt_case *c = run->c;
	json_error_t je;
	json_t *m = json_load_file(path, 0, &je), *disks, *dj;
	size_t i;
	int r = 0;

	if (!m) {
		rt_fail(c, "backup --json printed no manifest: %s", je.text);
		return -1;
	}
	disks = json_object_get(m, "disks");
	if (!json_is_string(json_object_get(m, "id")) ||
	    json_array_size(disks) != (size_t)c->plan.ndisks) {
		rt_fail(c, "manifest lacks its id or has %zu disks, not %d",
			json_array_size(disks), c->plan.ndisks);
		json_decref(m);
		return -1;
	}
	snprintf(pt->id, sizeof(pt->id), "%s",
		 json_string_value(json_object_get(m, "id")));
	json_array_foreach(disks, i, dj)
	{
		const char *name =
		    json_string_value(json_object_get(dj, "name"));
		const char *fmt =
		    json_string_value(json_object_get(dj, "format"));
		const char *ix =
		    json_string_value(json_object_get(dj, "index"));
		uint64_t size =
		    (uint64_t)json_integer_value(json_object_get(dj, "size"));
		if (!name || !fmt || !ix) {
			rt_fail(c,
				"manifest disk %zu lacks name, format or "
				"index",
				i);
			r = -1;
			break;
		}
		snprintf(pt->name[i], sizeof(pt->name[i]), "%s", name);
		snprintf(pt->index[i], sizeof(pt->index[i]), "%s", ix);
		snprintf(pt->index_sha[i], sizeof(pt->index_sha[i]), "%s",
			 json_string_value(json_object_get(dj, "index_sha256"))
			     ?: "");
		if (size != pt->size[i]) {
			rt_fail(c,
				"point %s disk %s: manifest size %" PRIu64
				", the disk has %" PRIu64,
				pt->id, name, size, pt->size[i]);
			r = -1;
		}
		if (strcmp(fmt, pt->format[i])) {
			rt_fail(c, "point %s disk %s: format %s, declared %s",
				pt->id, name, fmt, pt->format[i]);
			r = -1;
		}
	}
	json_decref(m);
	return r;
}

/* One `backup` of every disk as they are now, into @pt (refs set). */
static void backup_once(struct run *run, struct point *pt, unsigned threads)
{
	struct rt_case *c = run->c;
	struct rt_argv a = {0};
	char out[RT_PATH];
	int r;

	pt->ok = false;
	sp_argv(c, &a);
	rt_argv_add(&a, "--json");
	rt_argv_add(&a, "--threads");
	rt_argv_add(&a, "%u", threads);
	rt_argv_add(&a, "backup");
	rt_argv_add(&a, "--name");
	rt_argv_add(&a, POINT_NAME);
	for (int d = 0; d < c->plan.ndisks; d++) {
		char src[RT_PATH];
		if (rt_disk_source(c, &run->disks[d], src, sizeof(src)) < 0) {
			rt_argv_free(&a);
			goto out;
		}
		if (c->env->declare_format)
			rt_argv_add(&a, "--disk=%s:%s", src,
				    rt_disk_format(&run->disks[d]));
		else
			rt_argv_add(&a, "--disk=%s", src);
	}
	scratch(c, out, sizeof(out), "backup.json");
	r = sp_run(c, &a, out);
	if (r != 0) {
		rt_fail(c, "backup of point %d failed (exit %d)",
			(int)(pt - run->points), r);
		goto out;
	}
	pt->ok = read_manifest(run, out, pt) == 0;
	unlink(out);
out:
	for (int d = 0; d < c->plan.ndisks; d++)
		rt_disk_release(c, &run->disks[d]);
}

static int same_file(const char *a, const char *b)
{
	struct rt_diff d;
	uint64_t sa, sb;

	if (rt_file_size(a, &sa) < 0 || rt_file_size(b, &sb) < 0 || sa != sb)
		return 0;
	return rt_compare(a, b, sa, 4096, &d) == 0;
}

/* Threads must not change what is stored: the indexes of the twins are
 * the same bytes. */
static void compare_twins(struct run *run, const struct point *a,
			  const struct point *b)
{
	struct rt_case *c = run->c;
	char keys[RT_PATH * 2];
	bool sealed;

	/* An encrypted vault seals each index with a nonce of its own: the
	 * same index is other bytes in the vault. */
	rt_path(keys, sizeof(keys), "%s/keys.json", c->vault);
	sealed = access(keys, F_OK) == 0;
	for (int d = 0; d < a->ndisks; d++) {
		char pa[RT_PATH * 2], pb[RT_PATH * 2];
		if (c->env->vault_base || sealed) {
			/* Not in a directory here, or sealed: the manifests'
			 * record of each index's SHA-256 (of its plaintext)
			 * stands for its bytes. */
			if (!a->index_sha[d][0] ||
			    strcmp(a->index_sha[d], b->index_sha[d]))
				rt_fail(c,
					"disk %s: the index of point %s "
					"(threads 1) differs from that of %s "
					"(threads 8)",
					a->name[d], a->id, b->id);
			continue;
		}
		rt_path(pa, sizeof(pa), "%s/points/%s/%s/%s", c->vault,
			POINT_NAME, a->id, a->index[d]);
		rt_path(pb, sizeof(pb), "%s/points/%s/%s/%s", c->vault,
			POINT_NAME, b->id, b->index[d]);
		if (!same_file(pa, pb))
			rt_fail(c,
				"disk %s: the index of point %s (threads 1) "
				"differs from that of %s (threads 8)",
				a->name[d], a->id, b->id);
	}
}

/* A backup op: references, then the point (and its twin, threads 1 then
 * 8, of the same disks). */
static void do_backup(struct run *run, const struct rt_op *op)
{
	struct rt_case *c = run->c;
	int n = run->npoints;
	struct point *pt = &run->points[n], *twin = &run->points[n + 1];

	/* Numbered as planned even when this op fails: the checks of later
	 * points stay theirs. */
	run->npoints += op->twin ? 2 : 1;
	pt->ndisks = c->plan.ndisks;
	for (int d = 0; d < c->plan.ndisks; d++) {
		rt_path(pt->ref[d], sizeof(pt->ref[d]), "%s/ref-p%d-d%d.raw",
			c->scratch, n, d);
		pt->size[d] = run->disks[d].size;
		pt->format[d] = rt_disk_format(&run->disks[d]);
		if (rt_disk_snapshot(c, &run->disks[d], pt->ref[d]) < 0)
			return;
	}
	backup_once(run, pt, op->twin ? 1 : (unsigned)op->arg);
	c->stats.points++;
	if (!op->twin)
		return;
	*twin = *pt;
	backup_once(run, twin, 8);
	c->stats.points++;
	c->stats.twins++;
	if (pt->ok && twin->ok)
		compare_twins(run, pt, twin);
}

/* ---- checks ------------------------------------------------------------- */

static void report_diff(struct rt_case *c, int n, const struct point *pt, int d,
			const char *how, const struct rt_diff *df)
{
	rt_fail(c,
		"point %d (%s) disk %s, %s: %" PRIu64
		" bytes differ in %" PRIu64 " of %" PRIu64 " slots of %" PRIu32
		", first at byte %" PRIu64 " (slot %" PRIu64 ")",
		n, pt->id, pt->name[d], how, df->bytes, df->nslots,
		(pt->size[d] + c->plan.chunk_size - 1) / c->plan.chunk_size,
		c->plan.chunk_size, df->first, df->first_slot);
}

/* A restored raw file (or device, @exact false) against the reference. */
static void check_raw(struct rt_case *c, int n, const struct point *pt, int d,
		      const char *path, const char *how, bool exact)
{
	struct rt_diff df;
	uint64_t size = 0;
	int r;

	if (rt_file_size(path, &size) < 0) {
		rt_fail(c, "point %d disk %s, %s: %s missing", n, pt->name[d],
			how, path);
		return;
	}
	if (exact ? size != pt->size[d] : size < pt->size[d]) {
		rt_fail(c,
			"point %d disk %s, %s: %" PRIu64 " bytes, the source "
			"had %" PRIu64,
			n, pt->name[d], how, size, pt->size[d]);
		return;
	}
	r = rt_compare(pt->ref[d], path, pt->size[d], c->plan.chunk_size, &df);
	c->stats.disks_compared++;
	c->stats.bytes_compared += pt->size[d];
	if (r < 0)
		rt_harness(c, "cannot compare %s: %s", path, strerror(errno));
	else if (r > 0)
		report_diff(c, n, pt, d, how, &df);
}

/*
 * A restored qcow2 image: consistent, and its guest-visible bytes those of
 * the reference, at the disk's very size (a disk of another size than
 * whole sectors is refused as qcow2, see restore_to_dir()).
 */
static void check_qcow2(struct rt_case *c, int n, const struct point *pt, int d,
			const char *path, const char *how)
{
	struct rt_argv a = {0};
	char raw[RT_PATH];
	uint64_t size = 0, want = pt->size[d];

	rt_argv_add(&a, "qemu-img");
	rt_argv_add(&a, "check");
	rt_argv_add(&a, "-q");
	rt_argv_add(&a, "-f");
	rt_argv_add(&a, "qcow2");
	rt_argv_add(&a, "%s", path);
	if (rt_run(&a, c->log, NULL, NULL, c->env->timeout_s) != 0)
		rt_fail(c, "point %d disk %s, %s: qemu-img check fails on it",
			n, pt->name[d], how);
	rt_argv_free(&a);
	scratch(c, raw, sizeof(raw), "restored.raw");
	rt_argv_add(&a, "qemu-img");
	rt_argv_add(&a, "convert");
	rt_argv_add(&a, "-f");
	rt_argv_add(&a, "qcow2");
	rt_argv_add(&a, "-O");
	rt_argv_add(&a, "raw");
	rt_argv_add(&a, "%s", path);
	rt_argv_add(&a, "%s", raw);
	if (rt_run(&a, c->log, NULL, NULL, c->env->timeout_s) != 0) {
		rt_fail(c, "point %d disk %s, %s: qemu-img cannot read it", n,
			pt->name[d], how);
		rt_argv_free(&a);
		return;
	}
	rt_argv_free(&a);
	if (rt_file_size(raw, &size) < 0 || size != want)
		rt_fail(c,
			"point %d disk %s, %s: virtual size %" PRIu64
			", want %" PRIu64,
			n, pt->name[d], how, size, want);
	else
		check_raw(c, n, pt, d, raw, how, true);
	unlink(raw);
}

static bool odd_sized(const struct point *pt)
{
	for (int d = 0; d < pt->ndisks; d++)
		if (pt->size[d] % 512)
			return true;
	return false;
}

static bool dir_is_empty(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;
	bool empty = true;

	while (d && (de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			empty = false;
	if (d)
		closedir(d);
	return empty;
}

/* The file name restore gives disk @d of @pt restored in @fmt under --to
 * DIR, written here from the rule (README, "Restored file names"), not
 * taken from the library: an image extension replaced by the format's,
 * later disks given the same name suffixed -2, -3, ... */
static void restored_name(const struct point *pt, int d, const char *fmt,
			  char *out, size_t cap)
{
	static const char *const ext[] = {"raw", "img", "qcow2", "qcow",
					  "dsk", "bin", "iso",	 "vmdk",
					  "vdi", "vhd", "vhdx"};
	const char *x = !strcmp(fmt, "qcow2") ? "qcow2" : "raw";
	char given[RT_MAX_DISKS][RT_PATH];
	int n = d + 1;

	for (int i = 0; i < n; i++) {
		const char *name = pt->name[i];
		const char *dot = strrchr(name, '.');
		int len = (int)strlen(name);

		for (size_t k = 0; dot && dot != name && k < 11; k++)
			if (!strcasecmp(dot + 1, ext[k]))
				len = (int)(dot - name);
		snprintf(given[i], sizeof(given[i]), "%.*s.%s", len, name, x);
		for (int suffix = 2;; suffix++) {
			bool dup = false;
			for (int j = 0; j < i; j++)
				dup = dup || !strcmp(given[j], given[i]);
			if (!dup)
				break;
			snprintf(given[i], sizeof(given[i]), "%.*s-%d.%s", len,
				 name, suffix, x);
		}
	}
	snprintf(out, cap, "%s", given[n - 1]);
}

/* restore NAME@ID --to DIR [--format F]; then check every disk. */
static void restore_to_dir(struct run *run, int n, const char *format)
{
	struct rt_case *c = run->c;
	const struct point *pt = &run->points[n];
	struct rt_argv a = {0};
	char dir[RT_PATH], how[64];
	int r;

	scratch(c, dir, sizeof(dir), "restore");
	if (mkdir(dir, 0755) < 0) {
		rt_harness(c, "mkdir %s: %s", dir, strerror(errno));
		return;
	}
	sp_argv(c, &a);
	rt_argv_add(&a, "restore");
	rt_argv_add(&a, POINT_NAME "@%s", pt->id);
	rt_argv_add(&a, "--to");
	rt_argv_add(&a, "%s", dir);
	if (format) {
		rt_argv_add(&a, "--format");
		rt_argv_add(&a, "%s", format);
	}
	r = sp_run(c, &a, NULL);
	c->stats.restores++;
	/* A qcow2 disk holds whole sectors: a disk of another size must be
	 * refused as qcow2 (TargetSizeUnaligned), before anything is
	 * written, never grown. */
	if (format && !strcmp(format, "qcow2") && odd_sized(pt)) {
		if (r != 1)
			rt_fail(c,
				"restore of point %d (%s) as qcow2, a disk not "
				"a multiple of 512 bytes: exit %d, not 1",
				n, pt->id, r);
		else if (!dir_is_empty(dir))
			rt_fail(c,
				"refused restore of point %d (%s) as qcow2 "
				"left files in %s",
				n, pt->id, dir);
		goto out;
	}
	if (r != 0) {
		rt_fail(c, "restore of point %d (%s)%s%s failed (exit %d)", n,
			pt->id, format ? " as " : "", format ? format : "", r);
		goto out;
	}
	for (int d = 0; d < pt->ndisks; d++) {
		const char *f = format ? format : pt->format[d];
		char path[RT_PATH * 2], name[RT_PATH];
		restored_name(pt, d, f, name, sizeof(name));
		rt_path(path, sizeof(path), "%s/%s", dir, name);
		snprintf(how, sizeof(how), "restored %s%s", f,
			 format ? " (--format)" : "");
		if (!strcmp(f, "qcow2"))
			check_qcow2(c, n, pt, d, path, how);
		else
			check_raw(c, n, pt, d, path, how, true);
	}
out:
	if (!c->env->keep_all)
		rt_rm_rf(dir);
}

/* Onto a loop device over a file of junk: the disk's bytes, holes zeroed,
 * nothing written past the disk's last sector. */
static void restore_to_loop(struct run *run, int n, int d, bool to)
{
	struct rt_case *c = run->c;
	const struct point *pt = &run->points[n];
	uint64_t sectors = (pt->size[d] + 511) / 512 * 512;
	uint64_t extra = (uint64_t)(n % 3) * 65536;
	struct rt_argv a = {0};
	char file[RT_PATH], dev[64], dir[RT_PATH];
	int r;

	scratch(c, file, sizeof(file), "target.img");
	scratch(c, dir, sizeof(dir), "restore");
	if (rt_write_file(file, sectors + extra, RT_DATA_BYTE, TARGET_FILL) <
		0 ||
	    mkdir(dir, 0755) < 0) {
		rt_harness(c, "cannot make the target %s", file);
		return;
	}
	if (rt_loop_attach(c, file, dev, sizeof(dev)) < 0)
		goto out;
	sp_argv(c, &a);
	rt_argv_add(&a, "restore");
	rt_argv_add(&a, POINT_NAME "@%s", pt->id);
	if (to) {
		rt_argv_add(&a, "--to");
		rt_argv_add(&a, "%s", dev);
	} else {
		rt_argv_add(&a, "--disk-to");
		rt_argv_add(&a, "%s=%s", pt->name[d], dev);
		if (pt->ndisks > 1) {
			rt_argv_add(&a, "--to");
			rt_argv_add(&a, "%s", dir);
		}
	}
	r = sp_run(c, &a, NULL);
	c->stats.restores++;
	c->stats.loop_restores++;
	if (r != 0) {
		rt_fail(c,
			"restore of point %d disk %s onto %s failed "
			"(exit %d)",
			n, pt->name[d], dev, r);
	} else {
		check_raw(c, n, pt, d, dev, "restored onto a loop device",
			  false);
		if (extra &&
		    rt_all_bytes(dev, sectors, extra, TARGET_FILL) != 1)
			rt_fail(c,
				"point %d disk %s: restore wrote past the "
				"disk's end on the device",
				n, pt->name[d]);
		for (int o = 0; o < pt->ndisks; o++) {
			char path[RT_PATH * 2], name[RT_PATH];
			if (o == d)
				continue;
			restored_name(pt, o, pt->format[o], name, sizeof(name));
			rt_path(path, sizeof(path), "%s/%s", dir, name);
			if (!strcmp(pt->format[o], "qcow2"))
				check_qcow2(c, n, pt, o, path,
					    "restored beside a loop device");
			else
				check_raw(c, n, pt, o, path,
					  "restored beside a loop device",
					  true);
		}
	}
	rt_loop_detach(c, dev);
out:
	if (!c->env->keep_all) {
		unlink(file);
		rt_rm_rf(dir);
	}
}

/*
 * The point served over NBD (`stillpoint serve`), never restored: each
 * disk copied out of its export with nbdcopy, which skips what the
 * server calls holes, must equal the reference; a server that misreports
 * a hole or reads a wrong chunk shows here.  Interrupted, it exits 0.
 */
static void check_served(struct run *run, int n)
{
	struct rt_case *c = run->c;
	const struct point *pt = &run->points[n];
	struct rt_argv a = {0};
	char sock[RT_PATH], out[RT_PATH], raw[RT_PATH];
	uint64_t listening = 0;
	pid_t pid;
	int r;

	scratch(c, sock, sizeof(sock), "serve.sock");
	scratch(c, out, sizeof(out), "serve.out");
	sp_argv(c, &a);
	rt_argv_add(&a, "serve");
	rt_argv_add(&a, POINT_NAME "@%s", pt->id);
	rt_argv_add(&a, "--socket");
	rt_argv_add(&a, "%s", sock);
	pid = rt_spawn(&a, c->log, out);
	rt_argv_free(&a);
	if (pid < 0) {
		rt_harness(c, "cannot start the server of point %d", n);
		return;
	}
	/* It prints its exports once it listens. */
	for (int i = 0; i < 3000 && listening == 0; i++) {
		if (rt_file_size(out, &listening) < 0)
			listening = 0;
		if (listening == 0)
			usleep(20000);
	}
	if (listening == 0) {
		rt_fail(c, "point %d: 'stillpoint serve' did not listen", n);
		rt_stop(pid, SIGKILL, c->log, 10);
		unlink(out);
		return;
	}
	for (int d = 0; d < pt->ndisks; d++) {
		if (pt->size[d] == 0)
			continue;
		scratch(c, raw, sizeof(raw), "served.raw");
		rt_argv_add(&a, "nbdcopy");
		rt_argv_add(&a, "nbd+unix:///%s?socket=%s", pt->name[d], sock);
		rt_argv_add(&a, "%s", raw);
		r = rt_run(&a, c->log, NULL, NULL, c->env->timeout_s);
		rt_argv_free(&a);
		if (r != 0)
			rt_fail(c,
				"point %d disk %s: reading its NBD export "
				"failed (exit %d)",
				n, pt->name[d], r);
		else
			check_raw(c, n, pt, d, raw, "served over NBD", true);
		unlink(raw);
	}
	r = rt_stop(pid, SIGINT, c->log, 30);
	if (r != 0)
		rt_fail(c,
			"point %d: 'stillpoint serve' exited %d when "
			"interrupted, not 0",
			n, r);
	unlink(out);
}

static void check_point(struct run *run, int n)
{
	struct rt_case *c = run->c;
	const struct point *pt = &run->points[n];
	const struct rt_point_check *ck = &c->plan.checks[n];
	bool any_qcow2 = false;

	if (!pt->ok)
		return;
	for (int d = 0; d < pt->ndisks; d++)
		any_qcow2 |= !strcmp(pt->format[d], "qcow2");
	restore_to_dir(run, n, NULL);
	/* Every other point of one case in five (by seed), so that a
	 * campaign's time grows by little. */
	if (c->plan.seed % 5 == 0 && n % 2 == 0)
		check_served(run, n);
	if (ck->alt_format)
		restore_to_dir(run, n, any_qcow2 ? "raw" : "qcow2");
	if (ck->loop_disk >= 0 && ck->loop_disk < pt->ndisks &&
	    pt->size[ck->loop_disk] > 0) {
		if (c->env->loop_ok)
			restore_to_loop(run, n, ck->loop_disk, ck->loop_to);
		else
			fprintf(c->log,
				"(point %d: no loop devices, restore "
				"onto one skipped)\n",
				n);
	}
}

static void verify(struct rt_case *c)
{
	struct rt_argv a = {0};
	int r;

	sp_argv(c, &a);
	rt_argv_add(&a, "verify");
	r = sp_run(c, &a, NULL);
	if (r != 0)
		rt_fail(c, "verify found the vault unsound (exit %d)", r);
}

/* ---- the case ----------------------------------------------------------- */

static int init_vault(struct rt_case *c)
{
	struct rt_argv a = {0};
	char cs[32];
	int r;

	sp_argv(c, &a);
	rt_argv_add(&a, "init");
	rt_argv_add(&a, "--chunk-size");
	rt_argv_add(&a, "%s", rt_size_str(c->plan.chunk_size, cs, sizeof(cs)));
	r = sp_run(c, &a, NULL);
	if (r != 0)
		rt_fail(c, "init --chunk-size %s failed (exit %d)", cs, r);
	return r;
}

static bool needs_loop(const struct rt_plan *p)
{
	for (int d = 0; d < p->ndisks; d++)
		if (p->disks[d].type == RT_DISK_LOOP)
			return true;
	return false;
}

int rt_case_run(const struct rt_env *env, enum rt_kind kind, uint64_t seed,
		const char *dir, const char *scratch, FILE *report)
{
	struct rt_case *c = calloc(1, sizeof(*c));
	struct run *run = calloc(1, sizeof(*run));
	char path[RT_PATH + 16], summary[512];
	int result = 1;

	if (!c || !run) {
		free(c);
		free(run);
		return 1;
	}
	c->env = env;
	c->report = report;
	run->c = c;
	rt_plan_make(kind, seed, &c->plan);
	rt_path(c->dir, sizeof(c->dir), "%s", dir);
	rt_path(c->scratch, sizeof(c->scratch), "%s", scratch);
	if (env->vault_base) {
		const char *base = strrchr(scratch, '/');
		rt_path(c->vault, sizeof(c->vault), "%s/%s", env->vault_base,
			base ? base + 1 : scratch);
	} else {
		rt_path(c->vault, sizeof(c->vault), "%s/vault", scratch);
	}
	if (needs_loop(&c->plan) && !env->loop_ok) {
		fprintf(report, "  skipped: loop devices need root and "
				"losetup\n");
		result = 77;
		goto out_free;
	}
	rt_path(path, sizeof(path), "%s/case.log", dir);
	if (mkdir(dir, 0755) < 0 || !(c->log = fopen(path, "we")) ||
	    (strcmp(dir, scratch) && mkdir(scratch, 0755) < 0)) {
		fprintf(report, "  HARNESS: cannot create %s: %s\n", dir,
			strerror(errno));
		goto out_free;
	}
	rt_plan_summary(&c->plan, summary, sizeof(summary));
	fprintf(c->log, "case %s\n", summary);
	rt_plan_print(&c->plan, c->log, "  ");
	fflush(c->log);

	if (init_vault(c) != 0)
		goto out;
	for (int d = 0; d < c->plan.ndisks; d++)
		if (rt_disk_init(c, &run->disks[d], d, &c->plan.disks[d]) < 0)
			goto out;
	for (int i = 0; i < c->plan.nops && !c->harness_errors; i++) {
		const struct rt_op *op = &c->plan.ops[i];
		if (op->type == RT_OP_BACKUP)
			do_backup(run, op);
		else
			rt_disk_apply(c, &run->disks[op->disk], op);
	}
	for (int n = 0; n < run->npoints; n++)
		check_point(run, n);
	verify(c);
out:
	for (int d = 0; d < c->plan.ndisks; d++)
		rt_disk_release(c, &run->disks[d]);
	result = c->failures || c->harness_errors ? 1 : 0;
	fprintf(report, "#stats %ld %ld %ld %ld %ld %" PRIu64 "\n",
		c->stats.points, c->stats.twins, c->stats.restores,
		c->stats.loop_restores, c->stats.disks_compared,
		c->stats.bytes_compared);
	fprintf(c->log, "case %s: %d failures, %d harness errors\n",
		result ? "FAILED" : "passed", c->failures, c->harness_errors);
	fclose(c->log);
out_free:
	free(run);
	free(c);
	return result;
}

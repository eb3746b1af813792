// SPDX-License-Identifier: LGPL-2.1-or-later
/* Disk layer and spawn: extents of sparse raw and qcow2 images, reads,
 * open errors, targets that publish only on commit, tool failures. */
#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "disk/disk.h"
#include "harness.h"
#include "util/spawn.h"

#define MiB (1u << 20)

static char path_raw[512], path_qcow[512];

static void make_sparse_raw(void)
{
	int fd;
	char *buf = malloc(MiB);

	snprintf(path_raw, sizeof(path_raw), "%s/a.raw", sp_test_tmpdir());
	fd = open(path_raw, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	memset(buf, 0xab, MiB);
	CHECK(ftruncate(fd, 64 * MiB) == 0);
	CHECK(pwrite(fd, buf, MiB, 8 * MiB) == MiB);  /* data at 8 MiB */
	CHECK(pwrite(fd, buf, MiB, 63 * MiB) == MiB); /* and at the end */
	close(fd);
	free(buf);
}

/* Sum the data bytes the source reports over the whole disk. */
static uint64_t data_bytes(struct sp_disk_source *src, bool *covered)
{
	struct sp_disk_extent ex[64];
	struct sp_error err;
	uint64_t off = 0, data = 0;
	size_t n;

	*covered = true;
	while (off < sp_disk_source_size(src)) {
		if (sp_disk_source_extents(src, off, sp_disk_source_size(src),
					   ex, 64, &n, &err) < 0 ||
		    n == 0) {
			*covered = false;
			return 0;
		}
		for (size_t i = 0; i < n; i++) {
			if (ex[i].offset != off)
				*covered = false;
			if (!ex[i].zero)
				data += ex[i].length;
			off = ex[i].offset + ex[i].length;
		}
	}
	return data;
}

static void test_raw_source(void)
{
	struct sp_disk_source *src = NULL;
	struct sp_error err;
	unsigned char b[4096];
	bool covered;
	uint64_t data;

	CHECK_OK(sp_disk_source_open(path_raw, SP_DISK_FORMAT_UNDECLARED, &src,
				     &err),
		 &err);
	if (!src)
		return;
	CHECK_INT(sp_disk_source_format(src), SP_DISK_FORMAT_RAW);
	CHECK_INT(sp_disk_source_size(src), 64 * MiB);
	data = data_bytes(src, &covered);
	CHECK(covered);
	/* The holes are reported: only the two written MiB (rounded to the
	 * file system's blocks) are data. */
	CHECK(data >= 2 * MiB && data <= 4 * MiB);
	CHECK_OK(sp_disk_source_pread(src, b, sizeof(b), 8 * MiB, &err), &err);
	CHECK(b[0] == 0xab && b[4095] == 0xab);
	CHECK_INT(sp_disk_source_pread(src, b, sizeof(b), 64 * MiB - 100, &err),
		  SP_E_DISK_READ);
	CHECK_OK(sp_disk_source_check_unchanged(src, &err), &err);
	CHECK(truncate(path_raw, 65 * MiB) == 0);
	CHECK_INT(sp_disk_source_check_unchanged(src, &err), SP_E_DISK_CHANGED);
	CHECK(truncate(path_raw, 64 * MiB) == 0);
	sp_disk_source_free(src);
}

static void test_qcow2_source(void)
{
	const char *argv[] = {"qemu-img", "convert", "-O", "qcow2",
			      path_raw,	  path_qcow, NULL};
	struct sp_disk_source *src = NULL, *raw = NULL;
	struct sp_error err;
	unsigned char *a = malloc(MiB), *b = malloc(MiB);
	bool covered;

	snprintf(path_qcow, sizeof(path_qcow), "%s/a.qcow2", sp_test_tmpdir());
	CHECK_OK(sp_spawn_run(argv, NULL, &err), &err);
	/* Undeclared, a qcow2 image is refused, never guessed. */
	CHECK_INT(sp_disk_source_open(path_qcow, SP_DISK_FORMAT_UNDECLARED,
				      &src, &err),
		  SP_E_DISK_FORMAT_UNDECLARED);
	CHECK_OK(
	    sp_disk_source_open(path_qcow, SP_DISK_FORMAT_QCOW2, &src, &err),
	    &err);
	CHECK_OK(sp_disk_source_open(path_raw, SP_DISK_FORMAT_UNDECLARED, &raw,
				     &err),
		 &err);
	if (!src || !raw)
		goto out;
	CHECK_INT(sp_disk_source_format(src), SP_DISK_FORMAT_QCOW2);
	CHECK_INT(sp_disk_source_size(src), 64 * MiB);
	CHECK(data_bytes(src, &covered) <= 4 * MiB);
	CHECK(covered);
	for (uint64_t off = 0; off < 64 * MiB; off += MiB) {
		CHECK_OK(sp_disk_source_pread(src, a, MiB, off, &err), &err);
		CHECK_OK(sp_disk_source_pread(raw, b, MiB, off, &err), &err);
		if (memcmp(a, b, MiB) != 0) {
			fprintf(stderr, "qcow2 differs from raw at %llu\n",
				(unsigned long long)off);
			sp_test_failures++;
			break;
		}
	}
out:
	sp_disk_source_free(src);
	sp_disk_source_free(raw);
	free(a);
	free(b);
}

static void test_open_errors(void)
{
	struct sp_disk_source *src = NULL;
	struct sp_error err;
	char p[600];

	CHECK_INT(sp_disk_source_open("/nonexistent/x.img",
				      SP_DISK_FORMAT_UNDECLARED, &src, &err),
		  SP_E_DISK_NOT_FOUND);
	CHECK(strstr(err.msg, "/nonexistent/x.img") != NULL);
	CHECK_INT(sp_disk_source_open(sp_test_tmpdir(),
				      SP_DISK_FORMAT_UNDECLARED, &src, &err),
		  SP_E_DISK_IS_DIRECTORY);
	CHECK_INT(sp_disk_source_open("/dev/null", SP_DISK_FORMAT_UNDECLARED,
				      &src, &err),
		  SP_E_DISK_NOT_SUPPORTED);
	snprintf(p, sizeof(p), "%s/fake.qcow2", sp_test_tmpdir());
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	CHECK(write(fd, "QFI\xfbnot really", 14) == 14);
	close(fd);
	CHECK_INT(sp_disk_source_open(p, SP_DISK_FORMAT_QCOW2, &src, &err),
		  SP_E_DISK_FORMAT);
	CHECK(strstr(err.msg, "fake.qcow2") != NULL);
	/* Declared raw, the same bytes are just a raw disk. */
	CHECK_OK(sp_disk_source_open(p, SP_DISK_FORMAT_RAW, &src, &err), &err);
	CHECK_INT(sp_disk_source_size(src), 14);
	sp_disk_source_free(src);
	src = NULL;
}

static int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	while (d && (de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	if (d)
		closedir(d);
	return n;
}

static void test_targets(void)
{
	struct sp_disk_target *t = NULL;
	struct sp_error err;
	char dir[600], p[700];
	unsigned char buf[4096];
	struct stat st;

	snprintf(dir, sizeof(dir), "%s/out", sp_test_tmpdir());
	mkdir(dir, 0755);
	snprintf(p, sizeof(p), "%s/d.img", dir);
	memset(buf, 0x5a, sizeof(buf));

	/* Abort leaves nothing behind. */
	CHECK_OK(
	    sp_disk_target_create(p, SP_DISK_FORMAT_RAW, 16 * MiB, 0, &t, &err),
	    &err);
	CHECK(t && sp_disk_target_is_zeroed(t));
	CHECK_INT(count_entries(dir), 1); /* the temporary sibling */
	CHECK(access(p, F_OK) != 0);	  /* not under its name yet */
	sp_disk_target_abort(t);
	CHECK_INT(count_entries(dir), 0);

	/* Commit publishes a sparse file of the right size. */
	CHECK_OK(
	    sp_disk_target_create(p, SP_DISK_FORMAT_RAW, 16 * MiB, 0, &t, &err),
	    &err);
	CHECK_OK(sp_disk_target_pwrite(t, buf, sizeof(buf), 4 * MiB, &err),
		 &err);
	CHECK_OK(sp_disk_target_commit(t, &err), &err);
	CHECK(stat(p, &st) == 0 && st.st_size == 16 * MiB);
	CHECK(st.st_blocks * 512 < MiB);
	CHECK_INT(count_entries(dir), 1);

	/* An existing file needs FORCE. */
	CHECK_INT(
	    sp_disk_target_create(p, SP_DISK_FORMAT_RAW, MiB, 0, &t, &err),
	    SP_E_TARGET_EXISTS);
	CHECK_OK(sp_disk_target_create(p, SP_DISK_FORMAT_RAW, MiB,
				       SP_DISK_TARGET_FORCE, &t, &err),
		 &err);
	CHECK_OK(sp_disk_target_commit(t, &err), &err);
	CHECK(stat(p, &st) == 0 && st.st_size == MiB);

	/* qcow2 targets go through qemu-img and qemu-nbd. */
	snprintf(p, sizeof(p), "%s/q.qcow2", dir);
	CHECK_OK(sp_disk_target_create(p, SP_DISK_FORMAT_QCOW2, 16 * MiB, 0, &t,
				       &err),
		 &err);
	if (t) {
		CHECK_OK(
		    sp_disk_target_pwrite(t, buf, sizeof(buf), 5 * MiB, &err),
		    &err);
		CHECK_OK(sp_disk_target_commit(t, &err), &err);
	}
	struct sp_disk_source *src = NULL;
	CHECK_OK(sp_disk_source_open(p, SP_DISK_FORMAT_QCOW2, &src, &err),
		 &err);
	if (src) {
		unsigned char back[4096];
		CHECK_INT(sp_disk_source_format(src), SP_DISK_FORMAT_QCOW2);
		CHECK_OK(sp_disk_source_pread(src, back, sizeof(back), 5 * MiB,
					      &err),
			 &err);
		CHECK(memcmp(back, buf, sizeof(buf)) == 0);
		sp_disk_source_free(src);
	}

	snprintf(p, sizeof(p), "%s/missing/d.img", dir);
	CHECK_INT(
	    sp_disk_target_create(p, SP_DISK_FORMAT_RAW, MiB, 0, &t, &err),
	    SP_E_TARGET_NOT_FOUND);
}

/* A link at the target's name is refused, or replaced itself (FORCE),
 * never written through; temporary files of dead restores are removed by
 * the next target in their directory, those still locked are not. */
static void test_target_links_and_partials(void)
{
	struct sp_disk_target *t = NULL;
	struct sp_error err;
	char dir[600], p[700], victim[700], dead[700], live[700];
	struct stat st;
	int fd, lfd;

	snprintf(dir, sizeof(dir), "%s/links", sp_test_tmpdir());
	mkdir(dir, 0755);
	snprintf(victim, sizeof(victim), "%s/victim", sp_test_tmpdir());
	fd = open(victim, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	CHECK(fd >= 0 && write(fd, "keep", 4) == 4);
	close(fd);
	snprintf(p, sizeof(p), "%s/d.img", dir);
	CHECK(symlink(victim, p) == 0);
	CHECK_INT(
	    sp_disk_target_create(p, SP_DISK_FORMAT_RAW, MiB, 0, &t, &err),
	    SP_E_TARGET_EXISTS);
	CHECK(strstr(err.msg, "symbolic link") != NULL);
	CHECK_OK(sp_disk_target_create(p, SP_DISK_FORMAT_RAW, MiB,
				       SP_DISK_TARGET_FORCE, &t, &err),
		 &err);
	CHECK_OK(sp_disk_target_commit(t, &err), &err);
	CHECK(lstat(p, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == MiB);
	CHECK(stat(victim, &st) == 0 && st.st_size == 4);

	/* a FIFO at the name: refused even with FORCE, and nothing hangs */
	snprintf(p, sizeof(p), "%s/f.img", dir);
	CHECK(mkfifo(p, 0600) == 0);
	CHECK_INT(sp_disk_target_create(p, SP_DISK_FORMAT_RAW, MiB,
					SP_DISK_TARGET_FORCE, &t, &err),
		  SP_E_TARGET_EXISTS);
	unlink(p);

	/* a dead restore's file (unlocked) and a live one's (locked) */
	snprintf(dead, sizeof(dead), "%s/.a.img.partial-AbC123", dir);
	snprintf(live, sizeof(live), "%s/.b.img.partial-XyZ789", dir);
	close(open(dead, O_WRONLY | O_CREAT, 0600));
	lfd = open(live, O_WRONLY | O_CREAT, 0600);
	CHECK(lfd >= 0 && flock(lfd, LOCK_EX) == 0);
	snprintf(p, sizeof(p), "%s/c.img", dir);
	CHECK_OK(sp_disk_target_create(p, SP_DISK_FORMAT_RAW, MiB, 0, &t, &err),
		 &err);
	CHECK(access(dead, F_OK) != 0);
	CHECK(access(live, F_OK) == 0);
	sp_disk_target_abort(t);
	close(lfd);
	unlink(live);

	/* qcow2 cannot hold a size that is not whole sectors */
	snprintf(p, sizeof(p), "%s/q.qcow2", dir);
	CHECK_INT(sp_disk_target_create(p, SP_DISK_FORMAT_QCOW2, MiB + 1, 0, &t,
					&err),
		  SP_E_TARGET_SIZE_UNALIGNED);
	CHECK(access(p, F_OK) != 0);
}

static void test_spawn(void)
{
	struct sp_error err;
	char *out = NULL;
	const char *echo[] = {"echo", "hi", NULL};
	const char *fail[] = {"sh", "-c", "echo boom >&2; exit 3", NULL};
	const char *none[] = {"no-such-tool-here", NULL};

	CHECK_OK(sp_spawn_run(echo, &out, &err), &err);
	CHECK_STR(out, "hi\n");
	free(out);
	CHECK_INT(sp_spawn_run(fail, NULL, &err), SP_E_TOOL_FAILED);
	CHECK(strstr(err.msg, "exit 3") && strstr(err.msg, "boom"));
	CHECK_INT(sp_spawn_run(none, NULL, &err), SP_E_TOOL_MISSING);
}

int main(void)
{
	make_sparse_raw();
	SP_RUN(test_raw_source);
	SP_RUN(test_qcow2_source);
	SP_RUN(test_open_errors);
	SP_RUN(test_targets);
	SP_RUN(test_target_links_and_partials);
	SP_RUN(test_spawn);
	SP_TEST_EXIT();
}

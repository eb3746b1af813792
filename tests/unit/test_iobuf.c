// SPDX-License-Identifier: LGPL-2.1-or-later
/* Direct-I/O buffers: aligned, zeroed, exactly their own mapping (nothing
 * left over from the alignment), marked for huge pages where the kernel
 * has them, and usable for an O_DIRECT write and read. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "util/iobuf.h"

/* The mapping of /proc/self/smaps that holds @addr: its bounds and
 * whether it may get transparent huge pages; false when there is none. */
static bool find_mapping(const void *addr, uintptr_t *start, uintptr_t *end,
			 int *thp_eligible)
{
	FILE *f = fopen("/proc/self/smaps", "re");
	char line[512];
	bool in = false, found = false;

	*thp_eligible = -1;
	if (!f)
		return false;
	while (fgets(line, sizeof(line), f)) {
		uintptr_t a, b;
		int v;

		/* A mapping's line starts "start-end "; its fields are
		 * "Name: value". */
		if (sscanf(line, "%lx-%lx ", &a, &b) == 2) {
			if (found)
				break;
			in = (uintptr_t)addr >= a && (uintptr_t)addr < b;
			if (in) {
				*start = a;
				*end = b;
				found = true;
			}
		} else if (in && sscanf(line, "THPeligible: %d", &v) == 1) {
			*thp_eligible = v;
		}
	}
	fclose(f);
	return found;
}

static bool thp_enabled(void)
{
	FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "re");
	char line[128] = "";
	bool on;

	if (!f)
		return false;
	if (!fgets(line, sizeof(line), f))
		line[0] = 0;
	fclose(f);
	on = strstr(line, "[always]") || strstr(line, "[madvise]");
	return on;
}

static bool all_zero(const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i])
			return false;
	return true;
}

static void test_chunk_buffer(void)
{
	const size_t len = ((size_t)4 << 20) + 123;
	const size_t page = (size_t)sysconf(_SC_PAGESIZE);
	const size_t mapped = (len + page - 1) / page * page;
	uint8_t *b = sp_iobuf_new(len);
	uintptr_t start = 0, end = 0;
	int eligible;

	CHECK(b != NULL);
	if (!b)
		return;
	CHECK_INT((uintptr_t)b % SP_IOBUF_HUGE, 0);
	CHECK(all_zero(b, len));
	memset(b, 0xa5, len);
	CHECK(find_mapping(b, &start, &end, &eligible));
	/* Its own mapping, trimmed to the buffer on both sides (a neighbour
	 * mapping of the same flags would merge: then it is only inside). */
	CHECK(start <= (uintptr_t)b && end >= (uintptr_t)b + mapped);
	if (eligible >= 0 && thp_enabled())
		CHECK_INT(eligible, 1);
	sp_iobuf_free(b, len);
	/* Gone whole: nothing of the alignment slack stays mapped. */
	CHECK(!find_mapping(b, &start, &end, &eligible));
	CHECK(!find_mapping(b + mapped - 1, &start, &end, &eligible));
}

static long vm_size_kib(void)
{
	FILE *f = fopen("/proc/self/status", "re");
	char line[256];
	long kib = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmSize: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

/* Whatever alignment the kernel's mapping comes back at, the slack is
 * given back: buffers made and freed leave the address space as it was. */
static void test_no_leftovers(void)
{
	const size_t len = (size_t)4 << 20;
	long before;

	vm_size_kib(); /* stdio's own allocations made before counting */
	before = vm_size_kib();
	for (int i = 0; i < 16; i++) {
		size_t n = len + (size_t)i * 4096;
		uint8_t *b = sp_iobuf_new(n);
		CHECK(b && (uintptr_t)b % SP_IOBUF_HUGE == 0);
		sp_iobuf_free(b, n);
	}
	CHECK_INT(vm_size_kib(), before);
}

static void test_small_buffer(void)
{
	const size_t page = (size_t)sysconf(_SC_PAGESIZE);
	uint8_t *b = sp_iobuf_new(10000);

	CHECK(b != NULL);
	if (!b)
		return;
	CHECK_INT((uintptr_t)b % page, 0);
	CHECK(all_zero(b, 10000));
	sp_iobuf_free(b, 10000);
	sp_iobuf_free(NULL, 10000);
}

/* The point of the buffer: a direct write and read of a whole chunk. */
static void test_direct_io(void)
{
	const size_t len = (size_t)4 << 20;
	char path[512];
	uint8_t *w = sp_iobuf_new(len), *r = sp_iobuf_new(len);
	int fd;

	CHECK(w && r);
	if (!w || !r)
		return;
	for (size_t i = 0; i < len; i++)
		w[i] = (uint8_t)(i * 7 + i / 4096);
	snprintf(path, sizeof(path), "%s/direct", sp_test_tmpdir());
	fd = open(path, O_CREAT | O_RDWR | O_DIRECT | O_CLOEXEC, 0600);
	if (fd < 0 && errno == EINVAL) {
		fprintf(stderr, "no O_DIRECT under %s: direct I/O not tried\n",
			sp_test_tmpdir());
	} else {
		CHECK(fd >= 0);
		CHECK_INT(pwrite(fd, w, len, 0), (long long)len);
		CHECK_INT(pread(fd, r, len, 0), (long long)len);
		CHECK(memcmp(w, r, len) == 0);
		close(fd);
	}
	sp_iobuf_free(w, len);
	sp_iobuf_free(r, len);
}

int main(void)
{
	SP_RUN(test_chunk_buffer);
	SP_RUN(test_no_leftovers);
	SP_RUN(test_small_buffer);
	SP_RUN(test_direct_io);
	SP_TEST_EXIT();
}

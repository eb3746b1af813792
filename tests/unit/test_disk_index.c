// SPDX-License-Identifier: LGPL-2.1-or-later
/* Disk index: slots written out of order round-trip; damage is caught. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "vault/disk_index.h"

static int dir_fd;

static void test_roundtrip(void)
{
	struct sp_error err;
	struct sp_index_writer *w = NULL;
	struct sp_disk_index *ix = NULL;
	struct sp_chunk_id a, b;
	uint8_t sha[32], wrong[32];
	const uint64_t size = 10 * 65536 + 5; /* 11 slots, last one short */

	memset(&a, 0xaa, sizeof(a));
	memset(&b, 0xbb, sizeof(b));
	CHECK_OK(sp_index_writer_create(dir_fd, "d.idx", size, 65536, &w, &err),
		 &err);
	CHECK_OK(sp_index_writer_set(w, 10, &b, &err), &err);
	CHECK_OK(sp_index_writer_set(w, 0, &a, &err), &err);
	CHECK_INT(sp_index_writer_set(w, 11, &a, &err), SP_E_INTERNAL);
	CHECK_OK(sp_index_writer_finish(w, sha, &err), &err);
	sp_index_writer_free(w);

	CHECK_OK(sp_disk_index_open(dir_fd, "d.idx", sha, &ix, &err), &err);
	if (!ix)
		return;
	CHECK_INT(sp_disk_index_count(ix), 11);
	CHECK_INT(sp_disk_index_disk_size(ix), size);
	CHECK_INT(sp_disk_index_chunk_size(ix), 65536);
	CHECK(memcmp(sp_disk_index_get(ix, 0), &a, sizeof(a)) == 0);
	CHECK(memcmp(sp_disk_index_get(ix, 10), &b, sizeof(b)) == 0);
	/* Slots never set read as the zero id. */
	CHECK(sp_chunk_id_is_zero(sp_disk_index_get(ix, 5)));
	sp_disk_index_free(ix);

	/* The manifest's record must match. */
	memcpy(wrong, sha, 32);
	wrong[0] ^= 1;
	CHECK_INT(sp_disk_index_open(dir_fd, "d.idx", wrong, &ix, &err),
		  SP_E_INDEX_CORRUPT);
}

static void test_damage(void)
{
	struct sp_error err;
	struct sp_disk_index *ix = NULL;
	int fd = openat(dir_fd, "d.idx", O_RDWR);
	unsigned char byte;

	/* One flipped bit in an id fails the checksum. */
	CHECK(pread(fd, &byte, 1, 64 + 32 * 3) == 1);
	byte ^= 1;
	CHECK(pwrite(fd, &byte, 1, 64 + 32 * 3) == 1);
	CHECK_INT(sp_disk_index_open(dir_fd, "d.idx", NULL, &ix, &err),
		  SP_E_INDEX_CORRUPT);
	CHECK(strstr(err.msg, "checksum") != NULL);
	/* A truncated file fails its header check. */
	CHECK(ftruncate(fd, 100) == 0);
	CHECK_INT(sp_disk_index_open(dir_fd, "d.idx", NULL, &ix, &err),
		  SP_E_INDEX_CORRUPT);
	close(fd);
	CHECK_INT(sp_disk_index_open(dir_fd, "none.idx", NULL, &ix, &err),
		  SP_E_INDEX_CORRUPT);
}

int main(void)
{
	dir_fd = open(sp_test_tmpdir(), O_RDONLY | O_DIRECTORY);
	SP_RUN(test_roundtrip);
	SP_RUN(test_damage);
	close(dir_fd);
	SP_TEST_EXIT();
}

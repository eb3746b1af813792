// SPDX-License-Identifier: LGPL-2.1-or-later
/* Fuzz target: any bytes as a disk index file are refused or yield an
 * index whose every slot lies inside the mapped file. */
#include <assert.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "vault/disk_index.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int dirfd = -1;
	struct sp_disk_index *ix = NULL;
	struct sp_error err;
	int fd;

	if (dirfd < 0) {
		char tmpl[] = "/tmp/sp-fuzz-index-XXXXXX";
		if (!mkdtemp(tmpl))
			abort();
		dirfd = open(tmpl, O_RDONLY | O_DIRECTORY);
	}
	fd = openat(dirfd, "f.idx", O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, data, size) != (ssize_t)size)
		abort();
	close(fd);
	if (sp_disk_index_open(dirfd, "f.idx", NULL, &ix, &err) == 0) {
		uint64_t n = sp_disk_index_count(ix);
		volatile uint8_t sink = 0;
		for (uint64_t s = 0; s < n; s++)
			sink ^= sp_disk_index_get(ix, s)->bytes[31];
		(void)sink;
		assert(sp_disk_index_chunk_size(ix) > 0);
		sp_disk_index_free(ix);
	} else {
		assert(err.code == SP_E_INDEX_CORRUPT);
	}
	return 0;
}

// SPDX-License-Identifier: LGPL-2.1-or-later
#include "util/iobuf.h"

#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

static size_t page_round(size_t len)
{
	const size_t page = (size_t)sysconf(_SC_PAGESIZE);

	return (len + page - 1) / page * page;
}

void *sp_iobuf_new(size_t len)
{
	const size_t size = page_round(len ? len : 1);
	const size_t slack = size >= SP_IOBUF_HUGE ? SP_IOBUF_HUGE : 0;
	uint8_t *map, *buf;
	size_t head;

	map = mmap(NULL, size + slack, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (map == MAP_FAILED)
		return NULL;
	if (!slack)
		return map;
	/* Keep the SP_IOBUF_HUGE-aligned part; give back the rest. */
	head = (SP_IOBUF_HUGE - (uintptr_t)map % SP_IOBUF_HUGE) % SP_IOBUF_HUGE;
	buf = map + head;
	if (head)
		munmap(map, head);
	if (slack - head)
		munmap(buf + size, slack - head);
	/* Advice only: without THP the buffer is ordinary pages. */
	(void)madvise(buf, size, MADV_HUGEPAGE);
	return buf;
}

void sp_iobuf_free(void *buf, size_t len)
{
	if (buf)
		munmap(buf, page_round(len ? len : 1));
}

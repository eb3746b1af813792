/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Buffers for whole-chunk direct I/O (O_DIRECT reads and writes of up to a
 * chunk at a time).
 *
 * A buffer of at least SP_IOBUF_HUGE bytes is its own mapping, aligned to
 * SP_IOBUF_HUGE and marked for transparent huge pages.  Physically
 * contiguous memory makes a direct request of 4 MiB a few scatter-gather
 * pieces instead of 1024: a virtio disk (at most 254 pieces per request)
 * then gets whole requests rather than slices of one, and the kernel pins
 * two pages per request instead of a thousand.  Where the kernel gives no
 * huge pages (THP "never", or none free) the buffer is ordinary pages and
 * works the same, only slower (docs/internals/pipeline.md).
 *
 * Smaller buffers are page-aligned mappings too.  Either way the memory
 * starts zeroed and is aligned for O_DIRECT on any block size up to a
 * page.
 */
#ifndef SP_UTIL_IOBUF_H
#define SP_UTIL_IOBUF_H

#include <stddef.h>

#define SP_IOBUF_HUGE ((size_t)2 << 20)

/* A buffer of @len bytes, or NULL (errno set) when out of memory. */
void *sp_iobuf_new(size_t len);
/* Free a buffer from sp_iobuf_new(@len); NULL is ignored. */
void sp_iobuf_free(void *buf, size_t len);

#endif

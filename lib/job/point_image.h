/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One disk of a point read at random offsets by many threads at once,
 * without restoring it: the NBD server (nbdkit/) and the FUSE mount read
 * through it.  Chunks are fetched from the vault only when a read needs
 * them and kept, decoded and checked, in a cache of bounded size (least
 * recently used out first); a chunk wanted by several readers is fetched
 * once.  Zero slots read as zeroes without touching the vault.
 */
#ifndef SP_JOB_POINT_IMAGE_H
#define SP_JOB_POINT_IMAGE_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "util/error.h"

struct sp_vault;
struct sp_point_image;

/* The cache when the caller does not say: 128 MiB of decoded chunks. */
#define SP_POINT_IMAGE_CACHE_DEFAULT (128ull << 20)

/*
 * Open disk @disk (its manifest entry) of point @name@@id; the index is
 * checked against the manifest (sp_point_disk_open) and against its
 * digest.  @cache_bytes 0 means the default; the cache always holds at
 * least 4 chunks.  Errors: those of sp_point_disk_open(), SP_E_NOMEM.
 */
int sp_point_image_open(struct sp_vault *v, const char *name, const char *id,
			json_t *disk, uint64_t cache_bytes,
			struct sp_point_image **ret, struct sp_error *err);
void sp_point_image_free(struct sp_point_image *img);

uint64_t sp_point_image_size(const struct sp_point_image *img);
uint32_t sp_point_image_chunk_size(const struct sp_point_image *img);

/* Read @len bytes at @offset (within the disk).  Thread-safe. */
int sp_point_image_pread(struct sp_point_image *img, void *buf, size_t len,
			 uint64_t offset, struct sp_error *err);

/* Is the slot holding byte @offset all zero (no chunk)?  Thread-safe. */
bool sp_point_image_is_zero(const struct sp_point_image *img, uint64_t offset);

struct sp_point_image_stats {
	uint64_t chunks_read; /* fetched from the vault */
	uint64_t bytes_read;  /* their decoded bytes */
	uint64_t cache_hits;
};
void sp_point_image_stats(struct sp_point_image *img,
			  struct sp_point_image_stats *out);

#endif

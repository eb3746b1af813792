// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * A point's disk for many readers at once (point_image.h).
 *
 * Invariants: an entry's bytes are handed out only while it is READY,
 * and only READY entries nobody holds (refs == 0) are evicted; an entry
 * is LOADING while exactly one thread fetches it, outside the lock, and
 * readers of the same slot wait on @changed instead of fetching it again.
 * Every byte comes from sp_point_disk_read_slot(), which checks the chunk
 * against its id and the slot's length.
 */
#include "job/point_image.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "job/point_disk.h"
#include "util/cleanup.h"
#include "vault/chunk_store.h"

enum entry_state { ENTRY_EMPTY, ENTRY_LOADING, ENTRY_READY };

struct cache_entry {
	enum entry_state state;
	uint64_t slot;
	uint64_t used; /* the clock when last read */
	unsigned refs;
	uint8_t *data; /* chunk size bytes, allocated on first use */
};

struct sp_point_image {
	struct sp_point_disk *pd;
	uint64_t size;
	uint32_t cs;
	pthread_mutex_t lock;
	pthread_cond_t changed;
	struct cache_entry *entries;
	size_t n_entries;
	uint64_t clock;
	/* codecs not in use; a loader takes one or makes one */
	struct sp_chunk_codec **codecs;
	size_t n_codecs, cap_codecs;
	struct sp_point_image_stats stats;
};

int sp_point_image_open(struct sp_vault *v, const char *name, const char *id,
			json_t *disk, uint64_t cache_bytes,
			struct sp_point_image **ret, struct sp_error *err)
{
	struct sp_point_ref pref = {v, name, id};
	struct sp_point_image *img = calloc(1, sizeof(*img));
	char where[300];
	bool had;
	int r;

	if (!img)
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	pthread_mutex_init(&img->lock, NULL);
	pthread_cond_init(&img->changed, NULL);
	snprintf(where, sizeof(where), "%s@%s", name, id);
	r = sp_point_disk_open(&pref, disk, where, &img->pd, err);
	if (r == 0)
		r = sp_point_disk_check_digest(img->pd, &had, err);
	if (r < 0) {
		sp_point_image_free(img);
		return r;
	}
	img->size = sp_point_disk_size(img->pd);
	img->cs = sp_point_disk_chunk_size(img->pd);
	if (cache_bytes == 0)
		cache_bytes = SP_POINT_IMAGE_CACHE_DEFAULT;
	img->n_entries = cache_bytes / img->cs;
	if (img->n_entries < 4)
		img->n_entries = 4;
	img->entries = calloc(img->n_entries, sizeof(*img->entries));
	if (!img->entries) {
		sp_point_image_free(img);
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	}
	*ret = img;
	return 0;
}

void sp_point_image_free(struct sp_point_image *img)
{
	if (!img)
		return;
	for (size_t i = 0; img->entries && i < img->n_entries; i++)
		free(img->entries[i].data);
	free(img->entries);
	for (size_t i = 0; i < img->n_codecs; i++)
		sp_chunk_codec_free(img->codecs[i]);
	free(img->codecs);
	sp_point_disk_free(img->pd);
	pthread_cond_destroy(&img->changed);
	pthread_mutex_destroy(&img->lock);
	free(img);
}

uint64_t sp_point_image_size(const struct sp_point_image *img)
{
	return img->size;
}

uint32_t sp_point_image_chunk_size(const struct sp_point_image *img)
{
	return img->cs;
}

bool sp_point_image_is_zero(const struct sp_point_image *img, uint64_t offset)
{
	return sp_point_disk_slot_is_zero(img->pd, offset / img->cs);
}

void sp_point_image_stats(struct sp_point_image *img,
			  struct sp_point_image_stats *out)
{
	pthread_mutex_lock(&img->lock);
	*out = img->stats;
	pthread_mutex_unlock(&img->lock);
}

/* Under the lock: the entry holding @slot, or NULL. */
static struct cache_entry *find_entry(struct sp_point_image *img, uint64_t slot)
{
	for (size_t i = 0; i < img->n_entries; i++)
		if (img->entries[i].state != ENTRY_EMPTY &&
		    img->entries[i].slot == slot)
			return &img->entries[i];
	return NULL;
}

/* Under the lock: an empty entry, else the least recently used READY one
 * nobody holds; NULL when every entry is busy. */
static struct cache_entry *victim(struct sp_point_image *img)
{
	struct cache_entry *best = NULL;

	for (size_t i = 0; i < img->n_entries; i++) {
		struct cache_entry *e = &img->entries[i];

		if (e->state == ENTRY_EMPTY)
			return e;
		if (e->state == ENTRY_READY && e->refs == 0 &&
		    (!best || e->used < best->used))
			best = e;
	}
	return best;
}

/* Fetch @slot into @e (LOADING, held by us) outside the lock. */
static int fill_entry(struct sp_point_image *img, struct cache_entry *e,
		      uint64_t slot, struct sp_error *err)
{
	struct sp_chunk_codec *codec = NULL;
	int r;

	pthread_mutex_lock(&img->lock);
	if (img->n_codecs > 0)
		codec = img->codecs[--img->n_codecs];
	pthread_mutex_unlock(&img->lock);
	if (!codec && !(codec = sp_chunk_codec_new(img->cs)))
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	if (!e->data && !(e->data = malloc(img->cs)))
		r = sp_error_set(err, SP_E_NOMEM, "out of memory");
	else
		r = sp_point_disk_read_slot(img->pd, codec, slot, e->data, err);
	pthread_mutex_lock(&img->lock);
	if (img->n_codecs == img->cap_codecs) {
		size_t cap = img->cap_codecs ? img->cap_codecs * 2 : 8;
		struct sp_chunk_codec **n =
		    realloc(img->codecs, cap * sizeof(*n));

		if (n) {
			img->codecs = n;
			img->cap_codecs = cap;
		}
	}
	if (img->n_codecs < img->cap_codecs)
		img->codecs[img->n_codecs++] = codec;
	else
		sp_chunk_codec_free(codec);
	pthread_mutex_unlock(&img->lock);
	return r;
}

/* Hold the READY entry of @slot (fetching it if needed): refs is raised
 * and the caller calls release() when done with its bytes. */
static int hold_slot(struct sp_point_image *img, uint64_t slot,
		     struct cache_entry **ret, struct sp_error *err)
{
	struct cache_entry *e;
	int r;

	pthread_mutex_lock(&img->lock);
	for (;;) {
		e = find_entry(img, slot);
		if (e && e->state == ENTRY_READY) {
			e->refs++;
			e->used = ++img->clock;
			img->stats.cache_hits++;
			pthread_mutex_unlock(&img->lock);
			*ret = e;
			return 0;
		}
		if (!e && (e = victim(img)))
			break;
		/* being fetched by another reader, or every entry busy */
		pthread_cond_wait(&img->changed, &img->lock);
	}
	e->state = ENTRY_LOADING;
	e->slot = slot;
	e->refs = 1;
	pthread_mutex_unlock(&img->lock);

	r = fill_entry(img, e, slot, err);

	pthread_mutex_lock(&img->lock);
	if (r < 0) {
		e->state = ENTRY_EMPTY;
		e->refs = 0;
	} else {
		e->state = ENTRY_READY;
		e->used = ++img->clock;
		img->stats.chunks_read++;
		img->stats.bytes_read += img->size - slot * img->cs < img->cs
					     ? img->size - slot * img->cs
					     : img->cs;
	}
	pthread_cond_broadcast(&img->changed);
	pthread_mutex_unlock(&img->lock);
	*ret = e;
	return r;
}

static void release(struct sp_point_image *img, struct cache_entry *e)
{
	pthread_mutex_lock(&img->lock);
	if (--e->refs == 0)
		pthread_cond_broadcast(&img->changed);
	pthread_mutex_unlock(&img->lock);
}

int sp_point_image_pread(struct sp_point_image *img, void *buf, size_t len,
			 uint64_t offset, struct sp_error *err)
{
	uint8_t *p = buf;

	if (offset > img->size || len > img->size - offset)
		return sp_error_set(err, SP_E_USAGE,
				    "read of %zu bytes at offset %llu is past "
				    "the end of the disk (%llu bytes)",
				    len, (unsigned long long)offset,
				    (unsigned long long)img->size);
	while (len > 0) {
		uint64_t slot = offset / img->cs;
		uint64_t in = offset - slot * img->cs;
		size_t step = img->cs - in;
		struct cache_entry *e;
		int r;

		if (step > len)
			step = len;
		if (sp_point_disk_slot_is_zero(img->pd, slot)) {
			memset(p, 0, step);
		} else {
			r = hold_slot(img, slot, &e, err);
			if (r < 0)
				return r;
			memcpy(p, e->data + in, step);
			release(img, e);
		}
		p += step;
		offset += step;
		len -= step;
	}
	return 0;
}

// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * A point's disk as a readable disk (point_disk.h).  Invariant: no byte
 * leaves pread() unless its chunk matched its id and had its slot's
 * length; a zero slot reads as zeroes without touching the vault.
 */
#include "job/point_disk.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/text.h"

struct sp_point_disk {
	struct sp_vault *vault;
	struct sp_disk_index *ix;
	char *name, *where, *digest_hex;
	uint64_t size;
	uint32_t cs;
	struct sp_chunk_codec *codec;
	uint8_t *chunk; /* the cached chunk's plaintext */
	uint64_t chunk_slot;
	bool chunk_valid;
};

int sp_point_disk_open(const struct sp_point_ref *p, json_t *d,
		       const char *where, struct sp_point_disk **ret,
		       struct sp_error *err)
{
	const char *name = json_string_value(json_object_get(d, "name"));
	const char *ixname = json_string_value(json_object_get(d, "index"));
	const char *digest = json_string_value(json_object_get(d, "digest"));
	struct sp_point_disk *pd = calloc(1, sizeof(*pd));
	uint8_t sha[32];
	int r;

	if (!pd || !(pd->name = strdup(name ? name : "?")) ||
	    !(pd->where = strdup(where)) ||
	    (digest && !(pd->digest_hex = strdup(digest)))) {
		sp_point_disk_free(pd);
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	}
	pd->vault = p->vault;
	pd->size = (uint64_t)json_integer_value(json_object_get(d, "size"));
	sp_hex_decode(json_string_value(json_object_get(d, "index_sha256")),
		      sha, 32);
	r = sp_vault_point_index_open(p->vault, p->name, p->id, ixname, sha,
				      &pd->ix, err);
	if (r == 0 && sp_disk_index_disk_size(pd->ix) != pd->size)
		r = sp_error_set(err, SP_E_INDEX_CORRUPT,
				 "index of disk '%s' of point '%s' disagrees "
				 "with the manifest on its size",
				 pd->name, where);
	if (r < 0) {
		sp_point_disk_free(pd);
		return r;
	}
	pd->cs = sp_disk_index_chunk_size(pd->ix);
	*ret = pd;
	return 0;
}

void sp_point_disk_free(struct sp_point_disk *pd)
{
	if (!pd)
		return;
	sp_disk_index_free(pd->ix);
	sp_chunk_codec_free(pd->codec);
	free(pd->chunk);
	free(pd->name);
	free(pd->where);
	free(pd->digest_hex);
	free(pd);
}

const char *sp_point_disk_name(const struct sp_point_disk *pd)
{
	return pd->name;
}

uint64_t sp_point_disk_size(const struct sp_point_disk *pd)
{
	return pd->size;
}

struct sp_disk_index *sp_point_disk_index(struct sp_point_disk *pd)
{
	return pd->ix;
}

int sp_point_disk_check_digest(struct sp_point_disk *pd, bool *had,
			       struct sp_error *err)
{
	char what[400];

	*had = pd->digest_hex != NULL;
	snprintf(what, sizeof(what), "disk '%s' of point '%s'", pd->name,
		 pd->where);
	return sp_disk_index_check_digest(pd->ix, pd->digest_hex, what, err);
}

static uint64_t slot_len(const struct sp_point_disk *pd, uint64_t slot)
{
	uint64_t off = slot * pd->cs;

	return pd->size - off < pd->cs ? pd->size - off : pd->cs;
}

static int pd_extents(void *opaque, uint64_t offset, uint64_t length,
		      struct sp_disk_extent *out, size_t max, size_t *n,
		      struct sp_error *err)
{
	struct sp_point_disk *pd = opaque;
	const uint64_t end = offset + length;
	uint64_t pos = offset;

	(void)err;
	*n = 0;
	while (pos < end && *n < max) {
		uint64_t slot = pos / pd->cs;
		uint64_t e = slot * pd->cs + slot_len(pd, slot);
		bool zero =
		    sp_chunk_id_is_zero(sp_disk_index_get(pd->ix, slot));

		if (e > end)
			e = end;
		if (*n > 0 && out[*n - 1].zero == zero)
			out[*n - 1].length += e - pos;
		else
			out[(*n)++] = (struct sp_disk_extent){
			    .offset = pos,
			    .length = e - pos,
			    .zero = zero,
			    .dirty = true,
			};
		pos = e;
		if (slot % 65536 == 65535)
			sp_disk_index_forget(pd->ix, slot + 1);
	}
	return 0;
}

int sp_point_disk_read_slot(struct sp_point_disk *pd,
			    struct sp_chunk_codec *codec, uint64_t slot,
			    void *buf, struct sp_error *err)
{
	const uint64_t want = slot_len(pd, slot);
	size_t got = 0;
	struct sp_error e;
	int r;

	r = sp_chunk_store_get(pd->vault->chunks, codec,
			       sp_disk_index_get(pd->ix, slot), buf, pd->cs,
			       &got, &e);
	if (r == 0 && got != want)
		r = sp_error_set(&e, SP_E_CHUNK_CORRUPT,
				 "its chunk has %zu bytes, the slot %llu", got,
				 (unsigned long long)want);
	if (r < 0)
		return sp_error_set(err, r,
				    "cannot read disk '%s' of point '%s' at "
				    "offset %llu: %s",
				    pd->name, pd->where,
				    (unsigned long long)(slot * pd->cs), e.msg);
	return 0;
}

uint32_t sp_point_disk_chunk_size(const struct sp_point_disk *pd)
{
	return pd->cs;
}

bool sp_point_disk_slot_is_zero(const struct sp_point_disk *pd, uint64_t slot)
{
	return sp_chunk_id_is_zero(sp_disk_index_get(pd->ix, slot));
}

/* Decode slot @slot's chunk into the cache, checked (the invariant). */
static int load_chunk(struct sp_point_disk *pd, uint64_t slot,
		      struct sp_error *err)
{
	if (pd->chunk_valid && pd->chunk_slot == slot)
		return 0;
	pd->chunk_valid = false;
	/* Made on first use: verify keeps many disks open, reading none. */
	if (!pd->codec && !(pd->codec = sp_chunk_codec_new(pd->cs)))
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	if (!pd->chunk && !(pd->chunk = malloc(pd->cs)))
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	if (sp_point_disk_read_slot(pd, pd->codec, slot, pd->chunk, err) < 0)
		return err->code;
	pd->chunk_slot = slot;
	pd->chunk_valid = true;
	return 0;
}

static int pd_pread(void *opaque, void *buf, size_t len, uint64_t offset,
		    struct sp_error *err)
{
	struct sp_point_disk *pd = opaque;
	uint8_t *p = buf;

	while (len > 0) {
		uint64_t slot = offset / pd->cs;
		uint64_t in = offset - slot * pd->cs;
		size_t step = (size_t)(slot_len(pd, slot) - in);
		int r;

		if (step > len)
			step = len;
		if (sp_chunk_id_is_zero(sp_disk_index_get(pd->ix, slot))) {
			memset(p, 0, step);
		} else {
			r = load_chunk(pd, slot, err);
			if (r < 0)
				return r;
			memcpy(p, pd->chunk + in, step);
		}
		p += step;
		offset += step;
		len -= step;
	}
	return 0;
}

int sp_point_disk_cursor(struct sp_point_disk *pd,
			 struct sp_extent_cursor **ret, struct sp_error *err)
{
	static const struct sp_extent_reader point_reader = {
	    .extents = pd_extents,
	    .pread = pd_pread,
	};

	return sp_extent_cursor_new(&point_reader, pd, pd->size,
				    (uint64_t)pd->cs * 256, ret, err);
}

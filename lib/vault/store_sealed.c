// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The sealing store: a decorator over any store (store.h) that seals every
 * object it puts and opens every object it gets, with AES-256-GCM under the
 * vault's data key (seal.h, docs/encryption.md).  The object's logical name
 * is its associated data, so an object moved under another key does not
 * open:
 *
 *	chunks/XYZ/<id>            chunk/<id>
 *	points/<name>/<id>/<file>  point/<name>/<id>/<file> (also in a draft)
 *	anything else              its key (state/<name>/<file>, ...)
 *
 * The vault's settings and its key slots (stillpoint-vault.json,
 * keys.json) are never sealed: they are what a reader needs first.
 *
 * Each thread keeps a sealer and two scratch buffers (thread-local, freed
 * when the thread ends): a chunk is sealed from the codec's buffer into the
 * scratch buffer in one pass, and opened from the scratch buffer straight
 * into the reader's buffer, so encryption adds no copy of its own.
 */
#include "store.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vault/seal.h"
#include "vault/vault_key.h"

#define AAD_PREFIX "stillpoint-object-v1"
#define AAD_MAX 400
#define OBJECT_MAX (1ull << 31)

struct sealed {
	struct sp_store base;
	/* sp_store_sealed_ops, less the optional operations the inner store
	 * has not: a caller that tests for one (walk, known_present, ...)
	 * must see what the store under it does. */
	struct sp_store_ops ops;
	struct sp_store *inner;
	uint8_t key[SP_SEAL_KEY_LEN];
};

struct sp_store_draft {
	struct sealed *s;
	struct sp_store_draft *inner;
	char name[80];
	char id[80];
};

struct scratch {
	struct sp_sealer *sealer;
	uint8_t *in;
	size_t incap;
};

static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;

static void scratch_free(void *p)
{
	struct scratch *t = p;

	if (!t)
		return;
	sp_sealer_free(t->sealer);
	free(t->in);
	free(t);
}

static void scratch_init(void)
{
	(void)pthread_key_create(&scratch_key, scratch_free);
}

/* This thread's scratch, with room for @need bytes in ->in. */
static struct scratch *scratch_get(size_t need)
{
	struct scratch *t;

	pthread_once(&scratch_once, scratch_init);
	t = pthread_getspecific(scratch_key);
	if (!t) {
		t = calloc(1, sizeof(*t));
		if (!t)
			return NULL;
		t->sealer = sp_sealer_new();
		if (!t->sealer || pthread_setspecific(scratch_key, t) != 0) {
			scratch_free(t);
			return NULL;
		}
	}
	if (t->incap < need) {
		/* Chunks differ in size: grow with room to spare, so that a
		 * thread reallocates a few times, not per chunk. */
		size_t cap = need < 65536 ? 65536 : need + need / 8;
		uint8_t *b = malloc(cap);
		if (!b)
			return NULL;
		free(t->in);
		t->in = b;
		t->incap = cap;
	}
	return t;
}

static struct sealed *sealed_of(struct sp_store *st)
{
	return (struct sealed *)st;
}

bool sp_store_key_is_sealed(const char *key)
{
	return strcmp(key, "stillpoint-vault.json") != 0 &&
	       strcmp(key, SP_STORE_KEYS) != 0 &&
	       strcmp(key, SP_STORE_KEYS ".old") != 0;
}

/* The AAD of object @key: the convention's prefix, a NUL, and the
 * logical name.  Returns its length, 0 when it does not fit. */
static size_t object_aad(const char *key, char out[AAD_MAX])
{
	const size_t pre = sizeof(AAD_PREFIX); /* with its NUL */
	const char *logical = key, *kind = "";
	int n;

	memcpy(out, AAD_PREFIX, pre);
	if (!strncmp(key, "chunks/", 7) && strrchr(key, '/') > key + 7) {
		kind = "chunk/";
		logical = strrchr(key, '/') + 1;
	} else if (!strncmp(key, "points/", 7)) {
		kind = "point/";
		logical = key + 7;
	}
	n = snprintf(out + pre, AAD_MAX - pre, "%s%s", kind, logical);
	if (n < 0 || (size_t)n >= AAD_MAX - pre)
		return 0;
	return pre + (size_t)n;
}

static size_t draft_aad(const struct sp_store_draft *d, const char *file,
			char out[AAD_MAX])
{
	char key[300];

	snprintf(key, sizeof(key), "points/%s/%s/%s", d->name, d->id, file);
	return object_aad(key, out);
}

static int nomem(struct sp_error *err)
{
	return sp_error_set(err, SP_E_NOMEM, "out of memory");
}

/* Seal @data into this thread's scratch; *@t and *@outlen say where. */
static int seal_to_scratch(struct sealed *s, const char *aad, size_t aadlen,
			   const void *data, size_t len, struct scratch **t,
			   size_t *outlen, struct sp_error *err)
{
	int r;

	*t = scratch_get(len + SP_SEAL_OVERHEAD);
	if (!*t)
		return nomem(err);
	r = sp_seal((*t)->sealer, s->key, aad, aadlen, data, len, (*t)->in,
		    (*t)->incap, outlen);
	if (r < 0)
		return sp_error_set(err, SP_E_INTERNAL,
				    "cannot seal an object (no randomness)");
	return 0;
}

static void sealed_close(struct sp_store *st)
{
	struct sealed *s = sealed_of(st);

	sp_store_close(s->inner);
	explicit_bzero(s->key, sizeof(s->key));
	free(s->base.location);
	free(s);
}

static int sealed_put(struct sp_store *st, const char *key, const void *data,
		      size_t len, unsigned flags, struct sp_error *err)
{
	struct sealed *s = sealed_of(st);
	struct scratch *t;
	char aad[AAD_MAX];
	size_t aadlen, n = 0;
	int r;

	if (!sp_store_key_is_sealed(key))
		return s->inner->ops->put(s->inner, key, data, len, flags, err);
	aadlen = object_aad(key, aad);
	if (!aadlen)
		return -ENAMETOOLONG;
	r = seal_to_scratch(s, aad, aadlen, data, len, &t, &n, err);
	if (r < 0)
		return r;
	return s->inner->ops->put(s->inner, key, t->in, n, flags, err);
}

int sp_store_unseal_in_place(struct sp_store *st, const char *key, void *buf,
			     size_t len, size_t *outlen)
{
	struct sealed *s;
	struct scratch *t;
	char aad[AAD_MAX];
	size_t aadlen;

	if (!st || !sp_store_is_sealed(st) || !sp_store_key_is_sealed(key)) {
		*outlen = len;
		return 0;
	}
	s = sealed_of(st);
	aadlen = object_aad(key, aad);
	t = scratch_get(0);
	if (!aadlen || !t)
		return !t ? -ENOMEM : -ENAMETOOLONG;
	if (len < SP_SEAL_OVERHEAD)
		return -EBADMSG;
	int r = sp_unseal(t->sealer, s->key, aad, aadlen, buf, len,
			  (uint8_t *)buf + SP_SEAL_HEADER_LEN, len, outlen);
	if (r < 0)
		return r == -EBADMSG ? -EBADMSG : -EIO;
	memmove(buf, (uint8_t *)buf + SP_SEAL_HEADER_LEN, *outlen);
	return 0;
}

int sp_store_seal_copy(struct sp_store *st, const char *key, const void *data,
		       size_t len, void **out, size_t *outlen)
{
	struct sealed *s;
	struct scratch *t;
	char aad[AAD_MAX];
	size_t aadlen, n = 0;

	if (!st || !sp_store_is_sealed(st) || !sp_store_key_is_sealed(key))
		return -EINVAL;
	s = sealed_of(st);
	aadlen = object_aad(key, aad);
	t = scratch_get(len + SP_SEAL_OVERHEAD);
	*out = malloc(len + SP_SEAL_OVERHEAD);
	if (!aadlen || !t || !*out ||
	    sp_seal(t->sealer, s->key, aad, aadlen, data, len, *out,
		    len + SP_SEAL_OVERHEAD, &n) < 0) {
		free(*out);
		*out = NULL;
		return -ENOMEM;
	}
	*outlen = n;
	return 0;
}

static int sealed_get(struct sp_store *st, const char *key, size_t max,
		      void **data, size_t *len, struct sp_error *err)
{
	struct sealed *s = sealed_of(st);
	void *buf = NULL;
	size_t n = 0;
	int r;

	if (!sp_store_key_is_sealed(key))
		return s->inner->ops->get(s->inner, key, max, data, len, err);
	r = s->inner->ops->get(
	    s->inner, key,
	    max > SIZE_MAX - SP_SEAL_OVERHEAD ? max : max + SP_SEAL_OVERHEAD,
	    &buf, &n, err);
	if (r < 0)
		return r;
	r = sp_store_unseal_in_place(st, key, buf, n, len);
	if (r < 0) {
		free(buf);
		return r;
	}
	*data = buf;
	return 0;
}

/* The whole sealed object @key into this thread's scratch, which is made
 * room for @hint bytes first (what the caller expects at most: a chunk is
 * then one read, one request to a remote store). */
static int fetch(struct sealed *s, const char *key, size_t hint,
		 struct scratch **tp, size_t *sealed_len, struct sp_error *err)
{
	struct scratch *t = scratch_get(hint);
	uint64_t size = 0;
	size_t got = 0, more = 0;
	int r;

	if (!t)
		return nomem(err);
	r = s->inner->ops->read(s->inner, key, 0, t->in, t->incap, &got, &size,
				err);
	if (r < 0)
		return r;
	if (size > got) {
		if (size > OBJECT_MAX)
			return -EFBIG;
		/* Larger than the scratch: grow it, keep what was read. */
		uint8_t *b = malloc((size_t)size);
		if (!b)
			return nomem(err);
		memcpy(b, t->in, got);
		free(t->in);
		t->in = b;
		t->incap = (size_t)size;
		r = s->inner->ops->read(s->inner, key, got, t->in + got,
					(size_t)size - got, &more, NULL, err);
		if (r < 0)
			return r;
		got += more;
		if (got != size)
			return -EBADMSG; /* changed under us: not whole */
	}
	*tp = t;
	*sealed_len = got;
	return 0;
}

static int sealed_read(struct sp_store *st, const char *key, uint64_t off,
		       void *buf, size_t cap, size_t *got, uint64_t *size,
		       struct sp_error *err)
{
	struct sealed *s = sealed_of(st);
	struct scratch *t = NULL;
	char aad[AAD_MAX];
	size_t aadlen, n = 0, plain = 0;
	int r;

	if (!sp_store_key_is_sealed(key))
		return s->inner->ops->read(s->inner, key, off, buf, cap, got,
					   size, err);
	aadlen = object_aad(key, aad);
	if (!aadlen)
		return -ENAMETOOLONG;
	r = fetch(s, key,
		  off == 0 && cap < OBJECT_MAX ? cap + SP_SEAL_OVERHEAD : 0, &t,
		  &n, err);
	if (r < 0)
		return r;
	if (n < SP_SEAL_OVERHEAD)
		return -EBADMSG;
	plain = n - SP_SEAL_OVERHEAD;
	if (off == 0 && cap >= plain) {
		/* The common case (a chunk): open straight into @buf. */
		r = sp_unseal(t->sealer, s->key, aad, aadlen, t->in, n, buf,
			      cap, &plain);
	} else {
		r = sp_unseal(t->sealer, s->key, aad, aadlen, t->in, n,
			      t->in + SP_SEAL_HEADER_LEN, n, &plain);
		if (r == 0) {
			size_t k = off >= plain ? 0 : plain - (size_t)off;
			if (k > cap)
				k = cap;
			memcpy(buf, t->in + SP_SEAL_HEADER_LEN + off, k);
			*got = k;
		}
	}
	if (r < 0)
		return r == -EBADMSG ? -EBADMSG : -EIO;
	if (off == 0 && cap >= plain)
		*got = plain;
	if (size)
		*size = plain;
	return 0;
}

static int sealed_stat(struct sp_store *st, const char *key, uint64_t *size,
		       struct sp_error *err)
{
	struct sealed *s = sealed_of(st);
	uint64_t n = 0;
	int r = s->inner->ops->stat(s->inner, key, &n, err);

	if (r == 0 && size)
		*size = !sp_store_key_is_sealed(key) ? n
			: n >= SP_SEAL_OVERHEAD	     ? n - SP_SEAL_OVERHEAD
						     : 0;
	return r;
}

struct list_ctx {
	sp_store_list_cb cb;
	void *ctx;
	bool top;
};

static int list_one(void *ctx, const char *name, bool is_dir, uint64_t size)
{
	struct list_ctx *l = ctx;

	if (!is_dir && !(l->top && !sp_store_key_is_sealed(name)))
		size = size >= SP_SEAL_OVERHEAD ? size - SP_SEAL_OVERHEAD : 0;
	return l->cb(l->ctx, name, is_dir, size);
}

static int sealed_list(struct sp_store *st, const char *prefix,
		       sp_store_list_cb cb, void *ctx, struct sp_error *err)
{
	struct sealed *s = sealed_of(st);
	struct list_ctx l = {cb, ctx, !*prefix};

	return s->inner->ops->list(s->inner, prefix, list_one, &l, err);
}

static int sealed_remove(struct sp_store *st, const char *key,
			 struct sp_error *err)
{
	struct sealed *s = sealed_of(st);

	return s->inner->ops->remove(s->inner, key, err);
}

static int sealed_sync(struct sp_store *st, struct sp_error *err)
{
	struct sealed *s = sealed_of(st);

	return s->inner->ops->sync(s->inner, err);
}

static int sealed_draft_begin(struct sp_store *st, const char *name,
			      const char *id, struct sp_store_draft **ret,
			      struct sp_error *err)
{
	struct sealed *s = sealed_of(st);
	struct sp_store_draft *d = calloc(1, sizeof(*d));
	int r;

	if (!d)
		return nomem(err);
	d->s = s;
	snprintf(d->name, sizeof(d->name), "%s", name);
	snprintf(d->id, sizeof(d->id), "%s", id);
	r = s->inner->ops->draft_begin(s->inner, name, id, &d->inner, err);
	if (r < 0) {
		free(d);
		return r;
	}
	*ret = d;
	return 0;
}

static int sealed_draft_put(struct sp_store_draft *d, const char *file,
			    const void *data, size_t len, struct sp_error *err)
{
	struct sealed *s = d->s;
	struct scratch *t;
	char aad[AAD_MAX];
	size_t aadlen = draft_aad(d, file, aad), n = 0;
	int r;

	if (!aadlen)
		return -ENAMETOOLONG;
	r = seal_to_scratch(s, aad, aadlen, data, len, &t, &n, err);
	if (r < 0)
		return r;
	return s->inner->ops->draft_put(d->inner, file, t->in, n, err);
}

static int sealed_draft_publish(struct sp_store_draft *d, const void *manifest,
				size_t len, struct sp_error *err)
{
	struct sealed *s = d->s;
	struct scratch *t;
	char aad[AAD_MAX];
	size_t aadlen = draft_aad(d, "manifest.json", aad), n = 0;
	int r;

	if (!aadlen)
		return -ENAMETOOLONG;
	r = seal_to_scratch(s, aad, aadlen, manifest, len, &t, &n, err);
	if (r < 0)
		return r;
	r = s->inner->ops->draft_publish(d->inner, t->in, n, err);
	if (r == 0)
		free(d);
	return r;
}

static void sealed_draft_discard(struct sp_store_draft *d)
{
	d->s->inner->ops->draft_discard(d->inner);
	free(d);
}

static void sealed_drafts_clean(struct sp_store *st)
{
	struct sealed *s = sealed_of(st);

	s->inner->ops->drafts_clean(s->inner);
}

struct walk_ctx {
	sp_store_walk_cb cb;
	void *ctx;
};

static int walk_one(void *ctx, const char *key, uint64_t size, int64_t mtime)
{
	struct walk_ctx *w = ctx;

	if (sp_store_key_is_sealed(key))
		size = size >= SP_SEAL_OVERHEAD ? size - SP_SEAL_OVERHEAD : 0;
	return w->cb(w->ctx, key, size, mtime);
}

static int sealed_walk(struct sp_store *st, const char *prefix,
		       sp_store_walk_cb cb, void *ctx, struct sp_error *err)
{
	struct sealed *s = sealed_of(st);
	struct walk_ctx w = {cb, ctx};

	return s->inner->ops->walk(s->inner, prefix, walk_one, &w, err);
}

static bool sealed_known_present(struct sp_store *st, const char *key)
{
	struct sealed *s = sealed_of(st);

	return s->inner->ops->known_present(s->inner, key);
}

static void sealed_assume_present(struct sp_store *st, const char *key)
{
	struct sealed *s = sealed_of(st);

	s->inner->ops->assume_present(s->inner, key);
}

/* Chunk keys are the same below: the id is keyed already. */
static int sealed_ensure_locked(struct sp_store *st, const char *key,
				int64_t until, struct sp_error *err)
{
	struct sealed *s = sealed_of(st);

	return s->inner->ops->ensure_locked(s->inner, key, until, err);
}

static int64_t sealed_draft_locked_until(struct sp_store_draft *d)
{
	return d->s->inner->ops->draft_locked_until(d->inner);
}

static void sealed_counters(struct sp_store *st, struct sp_store_counters *out)
{
	struct sealed *s = sealed_of(st);

	s->inner->ops->counters(s->inner, out);
}

const struct sp_store_ops sp_store_sealed_ops = {
    .kind = "sealed",
    .close = sealed_close,
    .put = sealed_put,
    .get = sealed_get,
    .read = sealed_read,
    .stat = sealed_stat,
    .list = sealed_list,
    .walk = sealed_walk,
    .remove = sealed_remove,
    .sync = sealed_sync,
    .draft_begin = sealed_draft_begin,
    .draft_put = sealed_draft_put,
    .draft_publish = sealed_draft_publish,
    .draft_discard = sealed_draft_discard,
    .drafts_clean = sealed_drafts_clean,
    .assume_present = sealed_assume_present,
    .known_present = sealed_known_present,
    .ensure_locked = sealed_ensure_locked,
    .draft_locked_until = sealed_draft_locked_until,
    .counters = sealed_counters,
};

int sp_store_sealed_wrap(struct sp_store *inner, const struct sp_vault_key *key,
			 struct sp_store **ret, struct sp_error *err)
{
	struct sealed *s = calloc(1, sizeof(*s));

	if (!s || !(s->base.location = strdup(inner->location))) {
		free(s);
		return nomem(err);
	}
	s->ops = sp_store_sealed_ops;
	if (!inner->ops->walk)
		s->ops.walk = NULL;
	if (!inner->ops->assume_present)
		s->ops.assume_present = NULL;
	if (!inner->ops->known_present)
		s->ops.known_present = NULL;
	if (!inner->ops->ensure_locked)
		s->ops.ensure_locked = NULL;
	if (!inner->ops->draft_locked_until)
		s->ops.draft_locked_until = NULL;
	if (!inner->ops->counters)
		s->ops.counters = NULL;
	s->base.ops = &s->ops;
	s->inner = inner;
	memcpy(s->key, key->data_key, sizeof(s->key));
	*ret = &s->base;
	return 0;
}

struct sp_store *sp_store_inner(struct sp_store *st)
{
	return sp_store_is_sealed(st) ? sealed_of(st)->inner : st;
}

struct sp_store_draft *sp_store_inner_draft(struct sp_store *st,
					    struct sp_store_draft *d)
{
	return d && sp_store_is_sealed(st) ? d->inner : d;
}

bool sp_store_is_sealed(const struct sp_store *st)
{
	return st && st->ops->close == sealed_close;
}

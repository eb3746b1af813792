// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Object lock at publication: a point of a vault with object lock promises
 * (its manifest's locked_until) that nothing it needs can be deleted or
 * overwritten before that date by credentials that cannot bypass the lock
 * (the host's).  Its own objects are put locked until then; its chunks
 * are shared with older points and may have been locked for an older
 * date.  Before the manifest is put, every chunk of every index of the
 * draft is passed to the store's ensure_locked, which extends the lock of
 * those it does not know to last long enough (store_s3.c).
 *
 * Invariants:
 *  1. The manifest is put only after every chunk the point names is
 *     locked at least until its locked_until (or publication fails).
 *  2. Memory stays bounded: the indexes are read from their files, a
 *     slot at a time; the store remembers what it locked, so a chunk that
 *     several slots name is extended once (twice when two threads meet it
 *     at the same moment, which is harmless).
 */
#include "vault/vault.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "util/text.h"

/* Extensions in flight at once: each is one small request. */
#define LOCK_THREADS 16

struct lock_walk {
	struct sp_chunk_store *chunks;
	struct sp_disk_index *ix;
	int64_t until;
	atomic_uint_fast64_t next; /* the next slot to look at */
	atomic_bool failed;
	pthread_mutex_t lock; /* guards err */
	struct sp_error err;  /* the first failure */
	int r;
};

static void *lock_slots(void *u)
{
	struct lock_walk *w = u;
	uint64_t count = sp_disk_index_count(w->ix);
	struct sp_error e;

	while (!atomic_load(&w->failed)) {
		uint64_t slot = atomic_fetch_add(&w->next, 1);
		if (slot >= count)
			break;
		int r = sp_chunk_store_ensure_locked(
		    w->chunks, sp_disk_index_get(w->ix, slot), w->until, &e);
		if (r == 0)
			continue;
		pthread_mutex_lock(&w->lock);
		if (!atomic_exchange(&w->failed, true)) {
			w->r = r;
			w->err = e;
		}
		pthread_mutex_unlock(&w->lock);
	}
	return NULL;
}

/* Every chunk of the index in @fd. */
static int lock_index(struct sp_point_draft *d, int fd, int64_t until,
		      struct sp_error *err)
{
	struct lock_walk w = {.chunks = d->vault->chunks, .until = until};
	pthread_t threads[LOCK_THREADS];
	size_t n = 0;
	int r;

	r = sp_disk_index_open_fd(fd, "index of the draft", NULL, &w.ix, err);
	if (r < 0)
		return r;
	pthread_mutex_init(&w.lock, NULL);
	for (; n < LOCK_THREADS; n++)
		if (pthread_create(&threads[n], NULL, lock_slots, &w) != 0)
			break;
	if (n == 0)
		lock_slots(&w); /* no thread to spare: this one does it */
	for (size_t i = 0; i < n; i++)
		pthread_join(threads[i], NULL);
	pthread_mutex_destroy(&w.lock);
	sp_disk_index_free(w.ix);
	if (atomic_load(&w.failed)) {
		*err = w.err;
		return w.r;
	}
	return 0;
}

int sp_point_draft_lock(struct sp_point_draft *d, json_t *manifest,
			struct sp_error *err)
{
	struct sp_vault *v = d->vault;
	int64_t until = 0;
	char text[32];

	if (v->store->ops->draft_locked_until)
		until = v->store->ops->draft_locked_until(d->sd);
	if (!until)
		until = (int64_t)time(NULL) + 86400 * (int64_t)v->lock_days;
	for (size_t i = 0; i < d->n_index_fds; i++) {
		int r = lock_index(d, d->index_fds[i], until, err);
		if (r < 0)
			return r;
	}
	sp_time_rfc3339((time_t)until, text, sizeof(text));
	if (json_object_set_new(manifest, "locked_until", json_string(text)))
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	return 0;
}

int sp_point_draft_keep_index(struct sp_point_draft *d, int fd,
			      struct sp_error *err)
{
	int *fds = realloc(d->index_fds, (d->n_index_fds + 1) * sizeof(*fds));
	int dup_fd;

	if (!fds)
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	d->index_fds = fds;
	dup_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (dup_fd < 0)
		return sp_error_set_errno(err, SP_E_VAULT_IO, errno,
					  "cannot keep the index of point "
					  "'%s@%s' for its object lock",
					  d->name, d->id);
	d->index_fds[d->n_index_fds++] = dup_fd;
	return 0;
}

// SPDX-License-Identifier: LGPL-2.1-or-later
/* Shared job helpers; see job.h. */
#include "job.h"

#include "vault/vault.h"

#include <string.h>
#include <unistd.h>

#include "util/text.h"

void sp_job_status_init(struct sp_job_status *s, volatile sig_atomic_t *cancel)
{
	pthread_mutex_init(&s->lock, NULL);
	atomic_init(&s->failed, false);
	sp_error_clear(&s->err);
	s->cancel = cancel;
}

void sp_job_status_release(struct sp_job_status *s)
{
	pthread_mutex_destroy(&s->lock);
}

void sp_job_status_fail(struct sp_job_status *s, const struct sp_error *e)
{
	pthread_mutex_lock(&s->lock);
	if (!atomic_load(&s->failed)) {
		s->err = *e;
		atomic_store(&s->failed, true);
	}
	pthread_mutex_unlock(&s->lock);
}

bool sp_job_status_stopped(struct sp_job_status *s)
{
	if (atomic_load(&s->failed))
		return true;
	if (s->cancel && *s->cancel) {
		struct sp_error e;
		sp_error_set(&e, SP_E_INTERRUPTED,
			     "interrupted; nothing was published");
		sp_job_status_fail(s, &e);
		return true;
	}
	return false;
}

json_t *sp_json_named(json_t *obj, const char *member, const char *name,
		      size_t *index)
{
	size_t i;
	json_t *e;

	json_array_foreach(json_object_get(obj, member), i, e)
	{
		const char *n = json_string_value(json_object_get(e, "name"));
		if (n && !strcmp(n, name)) {
			if (index)
				*index = i;
			return e;
		}
	}
	return NULL;
}

unsigned sp_job_threads_for(const struct sp_job_opts *o,
			    const struct sp_vault *v)
{
	unsigned n = sp_job_threads(o);
	uint64_t per_worker, fit;

	if (o->threads || !v)
		return n;
	/* A remote vault's requests wait on the network and on the server,
	 * not on this host's CPUs: more of them in flight. */
	if (!sp_vault_is_local(v) && n < 8)
		n = 8;
	/* Each worker holds about four chunks (two pooled buffers, its
	 * compressed or decompressed copy, its request), five when it seals:
	 * measured 13.5 and 18 MiB a worker with 4 MiB chunks
	 * (bench/README.md, "Peak RSS").  The default stays within the
	 * memory budget whatever the host's CPUs; --threads overrides it. */
	per_worker = (uint64_t)v->chunk_size * (v->encrypted ? 5 : 4);
	fit = per_worker ? SP_JOB_WORKER_MEMORY / per_worker : n;
	if (fit < 2)
		fit = 2;
	return n > fit ? (unsigned)fit : n;
}

unsigned sp_job_threads(const struct sp_job_opts *o)
{
	long n;

	if (o->threads)
		return o->threads;
	/* Two workers per CPU: a worker waiting on fdatasync, pread or pwrite
	 * leaves its CPU to the other (measured: restore 6.8 s -> 4.7 s,
	 * backup 7.7 s -> 6.5 s on 2 CPUs, bench/README.md). */
	n = sysconf(_SC_NPROCESSORS_ONLN) * 2;
	return n < 2 ? 2 : n > 16 ? 16 : (unsigned)n;
}

void sp_job_progress_tick(struct sp_job_progress *jp, bool force)
{
	uint64_t now;

	if (!jp->opts->progress)
		return;
	now = sp_now_mono_ms();
	if (!force && now - jp->last_ms < 250)
		return;
	jp->last_ms = now;
	jp->opts->progress(jp->opts->progress_ctx, &jp->p);
}

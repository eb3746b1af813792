/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Shared pieces of the backup, restore and verify jobs. */
#ifndef SP_JOB_JOB_H
#define SP_JOB_JOB_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include <stillpoint/stillpoint.h>

#include "util/error.h"

/* The first error of a multi-threaded job wins; the rest are dropped. */
struct sp_job_status {
	pthread_mutex_t lock;
	atomic_bool failed;
	struct sp_error err;
	volatile sig_atomic_t *cancel;
};

void sp_job_status_init(struct sp_job_status *s, volatile sig_atomic_t *cancel);
void sp_job_status_release(struct sp_job_status *s);
/* Record @e as the job's error if it is the first. */
void sp_job_status_fail(struct sp_job_status *s, const struct sp_error *e);
/* True once the job failed or was cancelled (records SP_E_INTERRUPTED). */
bool sp_job_status_stopped(struct sp_job_status *s);

/* What the default number of workers may hold in chunk buffers: the
 * peak RSS of a job stays under 256 MiB (its bar) on any host. */
#define SP_JOB_WORKER_MEMORY (192ull << 20)

unsigned sp_job_threads(const struct sp_job_opts *o);
/* The same for a job on vault @v: at least 8 for a remote one, no more
 * than SP_JOB_WORKER_MEMORY allows for its chunk size (and sealing),
 * unless --threads says otherwise. */
unsigned sp_job_threads_for(const struct sp_job_opts *o,
			    const struct sp_vault *v);

/* verify --against (verify_against.c); called by sp_verify_run(). */
int sp_verify_against(struct sp_vault *v, const struct sp_verify_opts *o,
		      json_t **report, struct sp_error *err);

struct sp_state;
/* The protection of @vm and its policy (both owned by the caller).
 * Errors: SP_E_NOT_PROTECTED, SP_E_POLICY_NOT_FOUND, SP_E_STATE. */
int sp_policy_of(struct sp_state *st, const char *vm, json_t **prot,
		 json_t **policy, struct sp_error *err);

/* The element of array @obj[@member] whose "name" is @name (borrowed), and
 * its index in *@index (may be NULL); NULL when there is none. */
json_t *sp_json_named(json_t *obj, const char *member, const char *name,
		      size_t *index);

/* Rate-limited progress reporting (at most every 250 ms, plus a final). */
struct sp_job_progress {
	const struct sp_job_opts *opts;
	struct sp_progress p;
	uint64_t last_ms;
};
void sp_job_progress_tick(struct sp_job_progress *jp, bool force);

#endif

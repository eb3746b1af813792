/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The host's Stillpoint state: policies, protected VMs and the job history,
 * in one SQLite database shared by the `stillpoint` command and the
 * `stillpointd` daemon (STATE_DIR/state.db; STATE_DIR is
 * $STILLPOINT_STATE_DIR, else /var/lib/stillpointd).
 *
 * Records travel as JSON objects:
 *   policy      {"name", "schedule", "window", "tz", "keep": {"last",
 *                "daily", "weekly", "monthly", "yearly"}, "soft_delete_days"}
 *   protection  {"vm", "policy", "uri", "vault", "require", "writers",
 *                "created"}
 *   job         {"id", "vm", "kind", "trigger", "status", "created",
 *                "started", "ended", "pid", "attempt", "phases",
 *                "consistency", "point", "bytes_read", "bytes_new",
 *                "code", "number", "message", "action", "warnings"}
 * Job statuses: "queued", "in progress", "completed", "completed with
 * warnings", "failed", "cancelled".  Times are UNIX seconds;
 * "started_ms" and "ended_ms" are UNIX milliseconds.
 *
 * Thread safety: one struct sp_state per thread; several processes may
 * share the database (SQLite WAL, busy timeout).
 */
#ifndef STILLPOINT_STATE_H
#define STILLPOINT_STATE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include <stillpoint/error.h>

#define SP_DEFAULT_STATE_DIR "/var/lib/stillpointd"
#define SP_DAEMON_SOCKET "/run/stillpointd.sock"

struct sp_state;

/* @dir NULL: $STILLPOINT_STATE_DIR, else SP_DEFAULT_STATE_DIR (created
 * 0700).  Errors: SP_E_STATE. */
int sp_state_open(const char *dir, struct sp_state **ret, struct sp_error *err);
void sp_state_close(struct sp_state *s);
const char *sp_state_dir(const struct sp_state *s);

/* Policies.  put: @create refuses an existing name (SP_E_POLICY_EXISTS),
 * else it must exist (SP_E_POLICY_NOT_FOUND).  delete: SP_E_POLICY_IN_USE
 * while a VM is protected by it. */
int sp_state_policy_put(struct sp_state *s, json_t *policy, bool create,
			struct sp_error *err);
int sp_state_policy_get(struct sp_state *s, const char *name, json_t **ret,
			struct sp_error *err);
int sp_state_policy_list(struct sp_state *s, json_t **ret,
			 struct sp_error *err);
int sp_state_policy_delete(struct sp_state *s, const char *name,
			   struct sp_error *err);

/* A number that grows each time a policy or a protection is created,
 * changed or deleted, by any process: a scheduler that keeps them in memory
 * reloads when it moves. */
int sp_state_generation(struct sp_state *s, int64_t *gen, struct sp_error *err);

/* Protection: bind a VM to a policy (replacing an earlier binding). */
int sp_state_protect(struct sp_state *s, json_t *protection,
		     struct sp_error *err);
int sp_state_unprotect(struct sp_state *s, const char *vm,
		       struct sp_error *err);
int sp_state_protection_get(struct sp_state *s, const char *vm, json_t **ret,
			    struct sp_error *err);
/* The scheduler's mark: @vm's run due at or before @due_done was handled
 * (kept as "due_done" in the protection, in one transaction).  *@gen: the
 * generation after this write, which moved it by exactly one.  Errors:
 * SP_E_NOT_PROTECTED when the VM was unprotected meanwhile. */
int sp_state_protection_set_due(struct sp_state *s, const char *vm,
				int64_t due_done, int64_t *gen,
				struct sp_error *err);
int sp_state_protected_list(struct sp_state *s, json_t **ret,
			    struct sp_error *err);

/*
 * Jobs.  Each is run by exactly one process, the one its "pid" names while
 * it is "in progress".  Every change of status below is one transaction
 * that reads the status it starts from, so of two processes racing for a
 * job one wins and the other is told:
 *
 *   create   (new) -> "in progress" by the calling process: a command that
 *            runs its own job; no one else ever sees it queued.
 *   queue    (new) -> "queued", for stillpointd to run; @fields (may be
 *            NULL) are added to the record (attempt, not_before, ...).
 *   claim    "queued" -> "in progress" by @pid.  A job @pid already holds
 *            is claimed again; any other state is SP_E_JOB_NOT_QUEUED.
 *   cancel   "queued" -> "cancelled" (code Interrupted), *@pid = 0; for a
 *            job in progress nothing changes and *@pid names its process,
 *            to be signalled; any other state is SP_E_USAGE.
 *   finish   -> "completed", "completed with warnings", "failed" or
 *            "cancelled" (see sp_state_job_finish).
 *   recover  "in progress" by a process that is gone -> "failed".
 *
 * create and queue refuse a second active job of a VM (SP_E_JOB_RUNNING).
 * update merges the members of @fields into the job.  list: newest first;
 * @vm, @status may be NULL, @since 0.
 */
int sp_state_job_create(struct sp_state *s, const char *vm, const char *kind,
			const char *trigger, int64_t *id, struct sp_error *err);
int sp_state_job_queue(struct sp_state *s, const char *vm, const char *kind,
		       const char *trigger, json_t *fields, int64_t *id,
		       struct sp_error *err);
int sp_state_job_claim(struct sp_state *s, int64_t id, pid_t pid,
		       struct sp_error *err);
/* reclaim: "failed", "cancelled" or "in progress" by a process that is
 * gone -> "in progress" by @pid, its error members cleared: a job taken
 * up again (an instant recovery resumed).  Any other state is
 * SP_E_JOB_RUNNING. */
int sp_state_job_reclaim(struct sp_state *s, int64_t id, pid_t pid,
			 struct sp_error *err);
int sp_state_job_cancel(struct sp_state *s, int64_t id, pid_t *pid,
			struct sp_error *err);
int sp_state_job_update(struct sp_state *s, int64_t id, json_t *fields,
			struct sp_error *err);
int sp_state_job_get(struct sp_state *s, int64_t id, json_t **ret,
		     struct sp_error *err);
/* Is the process recorded as running @job (in progress) gone?  Read
 * only: recovery is its owner's. */
bool sp_state_job_process_gone(json_t *job);
int sp_state_jobs_list(struct sp_state *s, const char *vm, const char *status,
		       int64_t since, json_t **ret, struct sp_error *err);
/* Is a job of @vm queued or in progress?  Its id in *@id (0: none). */
int sp_state_job_active(struct sp_state *s, const char *vm, int64_t *id,
			struct sp_error *err);
/* Jobs "in progress" whose process is gone (a crash, a restart) become
 * "failed" with code Interrupted; each is appended, as recorded now, to
 * @recovered (may be NULL).  A job that ends meanwhile keeps its outcome.
 * With @commands_only, only jobs a command made itself ("runner":
 * "command", sp_state_job_create()) are touched: the daemon's jobs are
 * the daemon's to recover, with its failure hook. */
int sp_state_jobs_recover(struct sp_state *s, bool commands_only,
			  json_t *recovered, struct sp_error *err);

/* Record a job's outcome from a backup's result: @manifest (NULL on
 * failure) and @err (failure).  Sets status, phases, consistency, bytes,
 * code, message, action, ended. */
/* UNIX time in milliseconds. */
int64_t sp_now_ms(void);

int sp_state_job_finish(struct sp_state *s, int64_t id, json_t *manifest,
			const struct sp_error *failure, struct sp_error *err);

#endif

// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The host state database (include/stillpoint/state.h): policies,
 * protections and jobs, each a JSON document in a row with the columns
 * that are searched on.
 *
 * Invariants:
 *  1. A policy that protects a VM cannot be deleted.
 *  2. At most one job per VM is queued or in progress at a time (checked in
 *     the same transaction that creates one).
 *  3. A job "in progress" names the pid that runs it; a job whose pid is
 *     gone is failed by sp_state_jobs_recover(), never left in progress.
 *  4. A job is run by one process only: it becomes "in progress" either
 *     when it is created by the process that runs it, or by a claim that
 *     finds it "queued" in the same transaction; a job read and written
 *     back is read and written in one transaction.
 *  5. Every write to policies or protections moves the generation (SQL
 *     triggers, in the writer's transaction).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include <stillpoint/state.h>

#include "util/cleanup.h"
#include "util/error.h"
#include "util/fault.h"

struct sp_state {
	sqlite3 *db;
	char *dir;
};

static const char schema[] =
    "PRAGMA journal_mode=WAL;"
    "CREATE TABLE IF NOT EXISTS policies (name TEXT PRIMARY KEY,"
    "  doc TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS protections (vm TEXT PRIMARY KEY,"
    "  policy TEXT NOT NULL, doc TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS jobs (id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  vm TEXT NOT NULL, status TEXT NOT NULL, created INTEGER NOT NULL,"
    "  doc TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS jobs_vm ON jobs (vm, status);"
    /* Invariant 5: the generation counts policy and protection writes. */
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY,"
    "  value INTEGER NOT NULL);";

/* Invariant 5: every write to these tables moves the generation. */
static int create_generation_triggers(sqlite3 *db)
{
	static const char *const tables[] = {"policies", "protections"};
	static const char *const ops[] = {"INSERT", "UPDATE", "DELETE"};
	char sql[256];

	for (size_t t = 0; t < SP_ARRAY_SIZE(tables); t++)
		for (size_t o = 0; o < SP_ARRAY_SIZE(ops); o++) {
			snprintf(
			    sql, sizeof(sql),
			    "CREATE TRIGGER IF NOT EXISTS %s_%s_generation "
			    "AFTER %s ON %s BEGIN INSERT INTO meta VALUES "
			    "('generation', 1) ON CONFLICT (key) DO UPDATE "
			    "SET value = value + 1; END;",
			    tables[t], ops[o], ops[o], tables[t]);
			if (sqlite3_exec(db, sql, NULL, NULL, NULL) !=
			    SQLITE_OK)
				return -1;
		}
	return 0;
}

static int db_error(struct sp_state *s, struct sp_error *err, const char *what)
{
	return sp_error_set(err, SP_E_STATE,
			    "state database '%s/state.db': "
			    "cannot %s: %s",
			    s->dir, what, sqlite3_errmsg(s->db));
}

static int64_t now_s(void)
{
	return (int64_t)time(NULL);
}

int64_t sp_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int sp_state_open(const char *dir, struct sp_state **ret, struct sp_error *err)
{
	struct sp_state *s;
	char path[4096];
	const char *env = getenv("STILLPOINT_STATE_DIR");

	if (!dir)
		dir = env && *env ? env : SP_DEFAULT_STATE_DIR;
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return sp_error_set_errno(err, SP_E_STATE, errno,
					  "cannot create state directory '%s'",
					  dir);
	s = calloc(1, sizeof(*s));
	if (!s || !(s->dir = strdup(dir))) {
		free(s);
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	}
	snprintf(path, sizeof(path), "%s/state.db", dir);
	if (sqlite3_open_v2(path, &s->db,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
				SQLITE_OPEN_NOMUTEX,
			    NULL) != SQLITE_OK ||
	    sqlite3_busy_timeout(s->db, 30000) != SQLITE_OK ||
	    sqlite3_exec(s->db, schema, NULL, NULL, NULL) != SQLITE_OK ||
	    create_generation_triggers(s->db) < 0) {
		int r = db_error(s, err, "open");
		sp_state_close(s);
		return r;
	}
	*ret = s;
	return 0;
}

void sp_state_close(struct sp_state *s)
{
	if (!s)
		return;
	sqlite3_close(s->db);
	free(s->dir);
	free(s);
}

const char *sp_state_dir(const struct sp_state *s)
{
	return s->dir;
}

/* Run @sql with text parameters (NULL-terminated list); rows go to
 * @rows as parsed "doc" documents when @rows is not NULL. */
static int exec(struct sp_state *s, const char *sql, const char *const *args,
		json_t *rows, int *changes, struct sp_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
		return db_error(s, err, "prepare a query");
	for (int i = 0; args && args[i]; i++)
		sqlite3_bind_text(st, i + 1, args[i], -1, SQLITE_TRANSIENT);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *doc = (const char *)sqlite3_column_text(st, 0);
		json_t *j = doc ? json_loads(doc, 0, NULL) : NULL;
		if (rows && j)
			json_array_append_new(rows, j);
		else
			json_decref(j);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return db_error(s, err, "run a query");
	if (changes)
		*changes = sqlite3_changes(s->db);
	return 0;
}

static char *dump(json_t *j)
{
	return json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
}

/* ---- policies ----------------------------------------------------------- */

int sp_state_policy_put(struct sp_state *s, json_t *policy, bool create,
			struct sp_error *err)
{
	const char *name = json_string_value(json_object_get(policy, "name"));
	sp_autofree char *doc = dump(policy);
	const char *args[] = {name, doc, NULL};
	int changes = 0, r;

	if (!name || !doc)
		return sp_error_set(err, SP_E_USAGE, "a policy needs a name");
	r = exec(s,
		 create ? "INSERT OR IGNORE INTO policies VALUES (?1, ?2)"
			: "UPDATE policies SET doc = ?2 WHERE name = ?1",
		 args, NULL, &changes, err);
	if (r < 0)
		return r;
	if (changes == 0)
		return create ? sp_error_set(err, SP_E_POLICY_EXISTS,
					     "policy '%s' exists already", name)
			      : sp_error_set(err, SP_E_POLICY_NOT_FOUND,
					     "no policy '%s'", name);
	return 0;
}

static int one(struct sp_state *s, const char *sql, const char *key,
	       json_t **ret, int notfound, const char *what,
	       struct sp_error *err)
{
	const char *args[] = {key, NULL};
	json_t *rows = json_array();
	int r = exec(s, sql, args, rows, NULL, err);

	if (r == 0 && json_array_size(rows) == 0)
		r = sp_error_set(err, notfound, "no %s '%s'", what, key);
	if (r == 0)
		*ret = json_incref(json_array_get(rows, 0));
	json_decref(rows);
	return r;
}

int sp_state_policy_get(struct sp_state *s, const char *name, json_t **ret,
			struct sp_error *err)
{
	return one(s, "SELECT doc FROM policies WHERE name = ?1", name, ret,
		   SP_E_POLICY_NOT_FOUND, "policy", err);
}

int sp_state_policy_list(struct sp_state *s, json_t **ret, struct sp_error *err)
{
	json_t *rows = json_array();
	int r = exec(s, "SELECT doc FROM policies ORDER BY name", NULL, rows,
		     NULL, err);

	if (r < 0)
		json_decref(rows);
	else
		*ret = rows;
	return r;
}

int sp_state_policy_delete(struct sp_state *s, const char *name,
			   struct sp_error *err)
{
	const char *args[] = {name, NULL};
	json_t *users = json_array();
	int changes = 0, r;

	r = exec(s, "SELECT doc FROM protections WHERE policy = ?1", args,
		 users, NULL, err);
	if (r == 0 && json_array_size(users) > 0)
		r = sp_error_set(err, SP_E_POLICY_IN_USE,
				 "policy '%s' protects %zu VM(s), e.g. '%s' "
				 "(see 'stillpoint protected')",
				 name, json_array_size(users),
				 json_string_value(json_object_get(
				     json_array_get(users, 0), "vm")));
	json_decref(users);
	if (r == 0)
		r = exec(s, "DELETE FROM policies WHERE name = ?1", args, NULL,
			 &changes, err);
	if (r == 0 && changes == 0)
		r = sp_error_set(err, SP_E_POLICY_NOT_FOUND, "no policy '%s'",
				 name);
	return r;
}

/* One write transaction: BEGIN IMMEDIATE takes the database's write lock
 * at once, so what is read inside cannot change before it is written. */
static int tx_begin(struct sp_state *s, struct sp_error *err)
{
	if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) !=
	    SQLITE_OK)
		return db_error(s, err, "begin a transaction");
	return 0;
}

/* Commit when @r is 0, else roll back; @r, or the commit's failure. */
static int tx_end(struct sp_state *s, int r, struct sp_error *err)
{
	if (r == 0 &&
	    sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		r = db_error(s, err, "commit a transaction");
	if (r < 0)
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	return r;
}

int sp_state_generation(struct sp_state *s, int64_t *gen, struct sp_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if (sqlite3_prepare_v2(
		s->db, "SELECT value FROM meta WHERE key = 'generation'", -1,
		&st, NULL) != SQLITE_OK)
		return db_error(s, err, "prepare a query");
	rc = sqlite3_step(st);
	*gen = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return db_error(s, err, "read the generation");
	return 0;
}

/* ---- protections -------------------------------------------------------- */

int sp_state_protect(struct sp_state *s, json_t *prot, struct sp_error *err)
{
	const char *vm = json_string_value(json_object_get(prot, "vm"));
	const char *policy = json_string_value(json_object_get(prot, "policy"));
	json_t *p = NULL;
	sp_autofree char *doc = NULL;
	int r;

	if (!vm || !policy)
		return sp_error_set(err, SP_E_USAGE,
				    "protect needs a VM and a policy");
	r = sp_state_policy_get(s, policy, &p, err);
	if (r < 0)
		return r;
	json_decref(p);
	if (!json_object_get(prot, "created"))
		json_object_set_new(prot, "created", json_integer(now_s()));
	doc = dump(prot);
	const char *args[] = {vm, policy, doc, NULL};
	return exec(s, "INSERT OR REPLACE INTO protections VALUES (?1, ?2, ?3)",
		    args, NULL, NULL, err);
}

int sp_state_unprotect(struct sp_state *s, const char *vm, struct sp_error *err)
{
	const char *args[] = {vm, NULL};
	int changes = 0;
	int r = exec(s, "DELETE FROM protections WHERE vm = ?1", args, NULL,
		     &changes, err);

	if (r == 0 && changes == 0)
		r = sp_error_set(err, SP_E_NOT_PROTECTED,
				 "VM '%s' is not protected", vm);
	return r;
}

int sp_state_protection_get(struct sp_state *s, const char *vm, json_t **ret,
			    struct sp_error *err)
{
	return one(s, "SELECT doc FROM protections WHERE vm = ?1", vm, ret,
		   SP_E_NOT_PROTECTED, "protected VM", err);
}

int sp_state_protection_set_due(struct sp_state *s, const char *vm,
				int64_t due_done, int64_t *gen,
				struct sp_error *err)
{
	json_t *prot = NULL;
	sp_autofree char *doc = NULL;
	int r = tx_begin(s, err);

	if (r < 0)
		return r;
	r = sp_state_protection_get(s, vm, &prot, err);
	if (r == 0) {
		json_object_set_new(prot, "due_done", json_integer(due_done));
		doc = dump(prot);
		const char *args[] = {vm, doc, NULL};
		r = doc ? exec(s,
			       "UPDATE protections SET doc = ?2 WHERE vm = ?1",
			       args, NULL, NULL, err)
			: sp_error_set(err, SP_E_NOMEM, "out of memory");
	}
	if (r == 0)
		r = sp_state_generation(s, gen, err);
	json_decref(prot);
	return tx_end(s, r, err);
}

int sp_state_protected_list(struct sp_state *s, json_t **ret,
			    struct sp_error *err)
{
	json_t *rows = json_array();
	int r = exec(s, "SELECT doc FROM protections ORDER BY vm", NULL, rows,
		     NULL, err);

	if (r < 0)
		json_decref(rows);
	else
		*ret = rows;
	return r;
}

/* ---- jobs --------------------------------------------------------------- */

static const char *status_of(json_t *job)
{
	const char *s = json_string_value(json_object_get(job, "status"));

	return s ? s : "";
}

static pid_t pid_of(json_t *job)
{
	return (pid_t)json_integer_value(json_object_get(job, "pid"));
}

static int job_write(struct sp_state *s, int64_t id, json_t *job,
		     struct sp_error *err)
{
	sp_autofree char *doc = dump(job);
	char idtxt[24];
	const char *args[] = {status_of(job), doc, idtxt, NULL};

	if (!doc)
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	snprintf(idtxt, sizeof(idtxt), "%lld", (long long)id);
	return exec(s, "UPDATE jobs SET status = ?1, doc = ?2 WHERE id = ?3",
		    args, NULL, NULL, err);
}

/* Read job @id, merge @fields into it and write it back; inside a
 * transaction of the caller. */
static int job_merge(struct sp_state *s, int64_t id, json_t *fields,
		     struct sp_error *err)
{
	json_t *job = NULL;
	int r = sp_state_job_get(s, id, &job, err);

	if (r < 0)
		return r;
	json_object_update(job, fields);
	r = job_write(s, id, job, err);
	json_decref(job);
	return r;
}

/* A new job of @vm in @status (invariant 2), its document made of the
 * usual members and @fields (may be NULL). */
static int job_insert(struct sp_state *s, const char *vm, const char *kind,
		      const char *trigger, const char *status, json_t *fields,
		      int64_t *id, struct sp_error *err)
{
	char created[24];
	const char *args[] = {vm, status, created, NULL};
	json_t *job;
	int64_t active = 0;
	int r;

	r = tx_begin(s, err);
	if (r < 0)
		return r;
	r = sp_state_job_active(s, vm, &active, err);
	if (r == 0 && active)
		r = sp_error_set(err, SP_E_JOB_RUNNING,
				 "job %lld of VM '%s' is queued or running "
				 "(see 'stillpoint job %lld')",
				 (long long)active, vm, (long long)active);
	snprintf(created, sizeof(created), "%lld", (long long)now_s());
	if (r == 0)
		r = exec(s,
			 "INSERT INTO jobs (vm, status, created, doc) VALUES "
			 "(?1, ?2, ?3, '{}')",
			 args, NULL, NULL, err);
	if (r == 0) {
		*id = sqlite3_last_insert_rowid(s->db);
		job = json_pack("{s:I, s:s, s:s, s:s, s:s, s:I, s:i}", "id",
				(json_int_t)*id, "vm", vm, "kind", kind,
				"trigger", trigger, "status", status, "created",
				(json_int_t)now_s(), "attempt", 1);
		if (!job) {
			r = sp_error_set(err, SP_E_NOMEM, "out of memory");
		} else {
			if (fields)
				json_object_update(job, fields);
			/* The id and status are this function's to say. */
			json_object_set_new(job, "id", json_integer(*id));
			json_object_set_new(job, "status", json_string(status));
			r = job_write(s, *id, job, err);
			json_decref(job);
		}
	}
	return tx_end(s, r, err);
}

/* Members that say process @pid runs a job from now on. */
static json_t *running_fields(pid_t pid)
{
	return json_pack("{s:s, s:I, s:I, s:I}", "status", "in progress", "pid",
			 (json_int_t)pid, "started", (json_int_t)now_s(),
			 "started_ms", (json_int_t)sp_now_ms());
}

int sp_state_job_create(struct sp_state *s, const char *vm, const char *kind,
			const char *trigger, int64_t *id, struct sp_error *err)
{
	json_t *f = running_fields(getpid());
	int r;

	if (!f || json_object_set_new(f, "runner", json_string("command")))
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	r = job_insert(s, vm, kind, trigger, "in progress", f, id, err);
	json_decref(f);
	if (r == 0)
		sp_test_hold("job-created");
	return r;
}

int sp_state_job_queue(struct sp_state *s, const char *vm, const char *kind,
		       const char *trigger, json_t *fields, int64_t *id,
		       struct sp_error *err)
{
	return job_insert(s, vm, kind, trigger, "queued", fields, id, err);
}

int sp_state_job_claim(struct sp_state *s, int64_t id, pid_t pid,
		       struct sp_error *err)
{
	json_t *job = NULL, *f = NULL;
	const char *st;
	int r;

	r = tx_begin(s, err);
	if (r < 0)
		return r;
	r = sp_state_job_get(s, id, &job, err);
	st = r == 0 ? status_of(job) : "";
	if (r == 0 && !strcmp(st, "queued")) {
		f = running_fields(pid);
		r = f ? job_merge(s, id, f, err)
		      : sp_error_set(err, SP_E_NOMEM, "out of memory");
	} else if (r == 0 &&
		   !(!strcmp(st, "in progress") && pid_of(job) == pid)) {
		r = sp_error_set(err, SP_E_JOB_NOT_QUEUED,
				 "job %lld is %s%s, not queued: another "
				 "process took it (see 'stillpoint job %lld')",
				 (long long)id, st,
				 !strcmp(st, "in progress") ? " elsewhere" : "",
				 (long long)id);
	}
	json_decref(f);
	json_decref(job);
	return tx_end(s, r, err);
}

int sp_state_job_reclaim(struct sp_state *s, int64_t id, pid_t pid,
			 struct sp_error *err)
{
	json_t *job = NULL, *f = NULL;
	const char *st;
	int r;

	r = tx_begin(s, err);
	if (r < 0)
		return r;
	r = sp_state_job_get(s, id, &job, err);
	st = r == 0 ? status_of(job) : "";
	if (r == 0 &&
	    (!strcmp(st, "failed") || !strcmp(st, "cancelled") ||
	     (!strcmp(st, "in progress") && sp_state_job_process_gone(job)))) {
		f = running_fields(pid);
		static const char *const clear[] = {
		    "code", "number", "message", "action", "ended", "ended_ms"};

		for (size_t i = 0; f && i < sizeof(clear) / sizeof(*clear); i++)
			json_object_set_new(f, clear[i], json_null());
		r = f ? job_merge(s, id, f, err)
		      : sp_error_set(err, SP_E_NOMEM, "out of memory");
	} else if (r == 0) {
		r = sp_error_set(err, SP_E_JOB_RUNNING,
				 "job %lld is %s: only a failed job, or one "
				 "whose process is gone, is taken up again",
				 (long long)id, *st ? st : "?");
	}
	json_decref(f);
	json_decref(job);
	return tx_end(s, r, err);
}

int sp_state_job_cancel(struct sp_state *s, int64_t id, pid_t *pid,
			struct sp_error *err)
{
	json_t *job = NULL, *f = NULL;
	const char *st;
	int r;

	*pid = 0;
	r = tx_begin(s, err);
	if (r < 0)
		return r;
	r = sp_state_job_get(s, id, &job, err);
	st = r == 0 ? status_of(job) : "";
	if (r == 0 && !strcmp(st, "queued")) {
		f = json_pack(
		    "{s:s, s:s, s:i, s:s, s:s, s:I, s:I}", "status",
		    "cancelled", "code", sp_errcode_name(SP_E_INTERRUPTED),
		    "number", sp_errcode_number(SP_E_INTERRUPTED), "message",
		    "cancelled before it started", "action",
		    sp_errcode_lookup(SP_E_INTERRUPTED)->action, "ended",
		    (json_int_t)now_s(), "ended_ms", (json_int_t)sp_now_ms());
		r = f ? job_merge(s, id, f, err)
		      : sp_error_set(err, SP_E_NOMEM, "out of memory");
	} else if (r == 0 && !strcmp(st, "in progress") && pid_of(job) > 0) {
		*pid = pid_of(job);
	} else if (r == 0) {
		r = sp_error_set(err, SP_E_USAGE,
				 "job %lld is %s: nothing to cancel",
				 (long long)id, *st ? st : "?");
	}
	json_decref(f);
	json_decref(job);
	return tx_end(s, r, err);
}

int sp_state_job_get(struct sp_state *s, int64_t id, json_t **ret,
		     struct sp_error *err)
{
	char idtxt[24];

	snprintf(idtxt, sizeof(idtxt), "%lld", (long long)id);
	return one(s, "SELECT doc FROM jobs WHERE id = ?1", idtxt, ret,
		   SP_E_JOB_NOT_FOUND, "job", err);
}

int sp_state_job_update(struct sp_state *s, int64_t id, json_t *fields,
			struct sp_error *err)
{
	int r = tx_begin(s, err);

	if (r < 0)
		return r;
	return tx_end(s, job_merge(s, id, fields, err), err);
}

int sp_state_jobs_list(struct sp_state *s, const char *vm, const char *status,
		       int64_t since, json_t **ret, struct sp_error *err)
{
	char sincetxt[24];
	const char *args[] = {vm ? vm : "", status ? status : "", sincetxt,
			      NULL};
	json_t *rows = json_array();
	int r;

	snprintf(sincetxt, sizeof(sincetxt), "%lld", (long long)since);
	r = exec(s,
		 "SELECT doc FROM jobs WHERE (?1 = '' OR vm = ?1) AND "
		 "(?2 = '' OR status = ?2) AND created >= CAST(?3 AS INTEGER) "
		 "ORDER BY id DESC",
		 args, rows, NULL, err);
	if (r < 0)
		json_decref(rows);
	else
		*ret = rows;
	return r;
}

int sp_state_job_active(struct sp_state *s, const char *vm, int64_t *id,
			struct sp_error *err)
{
	const char *args[] = {vm, NULL};
	json_t *rows = json_array();
	int r = exec(s,
		     "SELECT doc FROM jobs WHERE vm = ?1 AND status IN "
		     "('queued', 'in progress') ORDER BY id LIMIT 1",
		     args, rows, NULL, err);

	*id = r == 0 && json_array_size(rows)
		  ? json_integer_value(
			json_object_get(json_array_get(rows, 0), "id"))
		  : 0;
	json_decref(rows);
	return r;
}

/* Has process @pid ended?  A zombie has: a job process whose parent
 * died (a daemon killed with it) stays one until init reaps it, and
 * kill(pid, 0) still reaches it. */
static bool process_gone(pid_t pid)
{
	char path[64], stat[512], *end;
	ssize_t n;
	int fd;

	if (pid <= 0 || (kill(pid, 0) < 0 && errno != EPERM))
		return true;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT;
	n = read(fd, stat, sizeof(stat) - 1);
	close(fd);
	if (n <= 0)
		return false;
	stat[n] = '\0';
	/* "PID (COMM) STATE ...": COMM may hold anything, even ") ". */
	end = strrchr(stat, ')');
	return end && end[1] == ' ' && (end[2] == 'Z' || end[2] == 'X');
}

/* Fail job @id if it is still in progress by a process that is gone (a
 * job that ended meanwhile keeps its outcome); *@done says whether it
 * was.  Inside a transaction of the caller. */
static int recover_one(struct sp_state *s, int64_t id, bool *done,
		       struct sp_error *err)
{
	json_t *job = NULL, *f;
	int r = sp_state_job_get(s, id, &job, err);

	*done = false;
	if (r < 0 || strcmp(status_of(job), "in progress") ||
	    !process_gone(pid_of(job))) {
		json_decref(job);
		return r;
	}
	json_decref(job);
	f = json_pack("{s:s, s:s, s:i, s:s, s:s, s:I}", "status", "failed",
		      "code", sp_errcode_name(SP_E_INTERRUPTED), "number",
		      sp_errcode_number(SP_E_INTERRUPTED), "message",
		      "the process running this job ended before it "
		      "did (crash or restart); no point was published",
		      "action", sp_errcode_lookup(SP_E_INTERRUPTED)->action,
		      "ended", (json_int_t)now_s());
	if (!f)
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	r = job_merge(s, id, f, err);
	json_decref(f);
	*done = r == 0;
	return r;
}

bool sp_state_job_process_gone(json_t *job)
{
	return !strcmp(status_of(job), "in progress") &&
	       process_gone(pid_of(job));
}

int sp_state_jobs_recover(struct sp_state *s, bool commands_only,
			  json_t *recovered, struct sp_error *err)
{
	json_t *rows = NULL, *job;
	size_t i;
	int r = sp_state_jobs_list(s, NULL, "in progress", 0, &rows, err);

	if (r < 0)
		return r;
	json_array_foreach(rows, i, job)
	{
		int64_t id = json_integer_value(json_object_get(job, "id"));
		bool done = false;

		const char *runner =
		    json_string_value(json_object_get(job, "runner"));

		if (!process_gone(pid_of(job)) ||
		    (commands_only && (!runner || strcmp(runner, "command"))))
			continue;
		r = tx_begin(s, err);
		if (r == 0)
			r = tx_end(s, recover_one(s, id, &done, err), err);
		if (r < 0)
			break;
		if (done && recovered) {
			json_t *now = NULL;
			if (sp_state_job_get(s, id, &now, err) == 0)
				json_array_append_new(recovered, now);
		}
	}
	json_decref(rows);
	return r;
}

int sp_state_job_finish(struct sp_state *s, int64_t id, json_t *m,
			const struct sp_error *failure, struct sp_error *err)
{
	json_t *f = json_object();
	int r;

	json_object_set_new(f, "ended", json_integer(now_s()));
	json_object_set_new(f, "ended_ms", json_integer(sp_now_ms()));
	if (m) {
		size_t nwarn = json_array_size(json_object_get(m, "warnings"));
		json_object_set_new(f, "status",
				    json_string(nwarn
						    ? "completed with warnings"
						    : "completed"));
		json_object_set(f, "point", json_object_get(m, "id"));
		json_object_set(f, "consistency",
				json_object_get(m, "consistency"));
		json_object_set(f, "consistency_reason",
				json_object_get(m, "consistency_reason"));
		json_object_set(f, "phases", json_object_get(m, "phases"));
		json_object_set(f, "freeze_ms",
				json_object_get(m, "freeze_ms"));
		json_object_set(f, "bytes_read",
				json_object_get(m, "bytes_read"));
		json_object_set(f, "bytes_new",
				json_object_get(m, "bytes_new"));
		json_object_set(f, "warnings", json_object_get(m, "warnings"));
	} else if (failure) {
		const struct sp_errcode_info *info =
		    sp_errcode_lookup(failure->code);
		json_object_set_new(
		    f, "status",
		    json_string(failure->code == SP_E_INTERRUPTED ? "cancelled"
								  : "failed"));
		json_object_set_new(f, "code", json_string(info->name));
		json_object_set_new(
		    f, "number", json_integer(sp_errcode_number(info->code)));
		json_object_set_new(f, "message", json_string(failure->msg));
		json_object_set_new(f, "action", json_string(info->action));
	}
	r = sp_state_job_update(s, id, f, err);
	json_decref(f);
	return r;
}

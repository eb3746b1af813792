// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * stillpointd: runs the backups of protected VMs on their policies'
 * schedules, one job per VM at a time, within concurrency limits per host
 * and per vault, retrying transient failures with backoff; answers the
 * command line on a unix socket (root only); logs to stderr with syslog
 * priorities for journald.
 *
 * A job runs in a child process (`stillpoint backup VM --job-id N`), which
 * records its own outcome in the state database: a daemon that crashes or
 * restarts loses no job, and a job whose process is gone is failed by
 * sp_state_jobs_recover() at start, or later when it stands in the way of
 * a new job of its VM.  The protected VMs and their parsed schedules are
 * kept in memory (the plan) and loaded again only when the state
 * database's generation says a policy or protection changed, or on SIGHUP.
 *
 * State machine of a job: queued -> in progress -> completed | completed
 * with warnings | failed | cancelled; a failed job with a transient code
 * is followed by a new queued job (attempt + 1) not before its backoff.
 *
 * Invariants:
 *  1. A VM due at a schedule instant gets one job, however often the
 *     scheduler looks (the instant is remembered per VM in "due_done").
 *  2. Never more than --max-jobs children, nor --max-per-vault children
 *     writing to one vault.
 *  3. No job stays "in progress" once its process is gone.
 *  4. The plan is never older than the tick that uses it: each tick
 *     compares the generation it was loaded at with the database's.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <stillpoint/state.h>
#include <stillpoint/stillpoint.h>

#define MAX_CHILDREN 64

static const char help[] =
    "NAME\n"
    "    stillpointd - run protected VMs' backups on schedule\n"
    "\n"
    "SYNOPSIS\n"
    "    stillpointd [--max-jobs N] [--max-per-vault N] [--retries N]\n"
    "                [--retry-delay SECONDS] [--metrics FILE]\n"
    "                [--on-failure COMMAND] [--socket PATH] [--tick MS]\n"
    "\n"
    "DESCRIPTION\n"
    "    Backs up every VM protected with 'stillpoint protect' when its\n"
    "    policy says, each as a job ('stillpoint jobs').  A VM has at most\n"
    "    one job queued or running; jobs start in the order they became\n"
    "    due, at most --max-jobs at once on this host (default 1: backing\n"
    "    up every VM of a host at once hurts them all) and --max-per-vault\n"
    "    into one vault (default 1).  A job that failed for a transient\n"
    "    reason (libvirt unreachable, domain busy, guest agent not\n"
    "    answering, vault locked, the S3 server unreachable or failing, a\n"
    "    gc sweeping) is retried up to --retries times (default\n"
    "    2), after --retry-delay seconds (default 300), doubling each time.\n"
    "    After a successful backup the VM's points are pruned by its\n"
    "    policy's retention, and when the policy names a copy target\n"
    "    (policy --copy-to) the new point is copied there by a job of\n"
    "    kind \"copy\" ('stillpoint copy'; retried when the target is\n"
    "    unreachable).  A policy with --verify-boot gets a job of kind\n"
    "    \"verify-boot\" per VM once a period ('stillpoint verify --boot'\n"
    "    of the VM's newest point, with the policy's --verify-probe), when\n"
    "    the VM has a point, no other job, and its next backup is at least\n"
    "    15 minutes away; a failed one is not retried.  At start, what\n"
    "    killed verify --boot runs left is removed.\n"
    "\n"
    "    The command line reaches it on --socket (default " SP_DAEMON_SOCKET
    ",\n"
    "    root only): 'stillpoint backup VM --now' queues a job there.\n"
    "    Logs go to stderr with syslog priority prefixes (journald).\n"
    "    SIGTERM or SIGINT: running jobs are asked to stop (they publish\n"
    "    nothing), then the daemon exits.  Policies and protections are\n"
    "    read again as soon as one changes; SIGHUP makes it read them\n"
    "    anyway.\n"
    "\n"
    "OPTIONS\n"
    "    --metrics FILE      write Prometheus metrics (text format) to FILE\n"
    "                        after every job (for node_exporter's textfile\n"
    "                        collector)\n"
    "    --on-failure CMD    run CMD (no shell) with STILLPOINT_JOB,\n"
    "                        STILLPOINT_VM, STILLPOINT_CODE and\n"
    "                        STILLPOINT_MESSAGE set when a job fails\n"
    "    --tick MS           how often the schedule is looked at (1000)\n"
    "\n"
    "ENCRYPTED VAULTS\n"
    "    Each job opens its vaults as 'stillpoint' does: with the key its\n"
    "    environment gives (STILLPOINT_PASSPHRASE_FILE,\n"
    "    STILLPOINT_KEY_FILE, ...), else with the key settings of each\n"
    "    vault's own file in $STILLPOINT_VAULTS_DIR (default\n"
    "    /etc/stillpoint/vaults; mode 0600, owned by root): BUCKET.conf for\n"
    "    an S3 vault, for a directory vault the *.conf file whose line\n"
    "    'vault = /PATH' names it; settings passphrase_file = FILE,\n"
    "    passphrase = TEXT, key_file = FILE.  To serve vaults with\n"
    "    different keys, or copy between them, give the daemon no key in\n"
    "    its environment and each vault its file.  A job never prompts:\n"
    "    without a key it fails with VaultKeyNeeded, with a wrong one\n"
    "    VaultKeyWrong, with a file others may read\n"
    "    VaultPermissionDenied, having written nothing.  Keys appear in\n"
    "    no argument, log, job record or --json output.\n"
    "\n"
    "ENVIRONMENT\n"
    "    STILLPOINT_STATE_DIR   the state database's directory\n"
    "                           (default " SP_DEFAULT_STATE_DIR ")\n"
    "    STILLPOINT_VAULTS_DIR  the per-vault files' directory\n"
    "                           (default /etc/stillpoint/vaults)\n"
    "    STILLPOINT_CLOCK_OFFSET seconds added to the clock when deciding\n"
    "                           what is due (tests)\n";

struct child {
	pid_t pid;
	int64_t job;
	char vm[128];
	char vault[PATH_MAX];
};

static struct {
	unsigned max_jobs, max_per_vault, retries, retry_delay, tick_ms;
	const char *metrics, *on_failure, *socket_path;
	const char *self_dir; /* where stillpoint is, beside us */
	int64_t clock_offset;
} cfg = {1, 1, 2, 300, 1000, NULL, NULL, SP_DAEMON_SOCKET, NULL, 0};

static struct child children[MAX_CHILDREN];
static volatile sig_atomic_t stopping, reload_requested;
/* Jobs changed since the metrics were last written. */
static bool metrics_stale = true;

static void on_stop(int sig)
{
	(void)sig;
	stopping = 1;
}

static void on_hup(int sig)
{
	(void)sig;
	reload_requested = 1;
}

static void logmsg(int prio, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void logmsg(int prio, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "<%d>", prio);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* What killed verify --boot runs left on this host (stillpoint.h). */
static void verify_boot_cleanup(void)
{
	struct sp_error err;
	json_t *cleaned = NULL;

	if (sp_verify_boot_cleanup(NULL, &cleaned, &err) < 0)
		logmsg(4, "verify-boot cleanup failed: %s", err.msg);
	else if (json_array_size(cleaned))
		logmsg(5, "verify-boot cleanup runs=%zu",
		       json_array_size(cleaned));
	json_decref(cleaned);
}

static int64_t now_s(void)
{
	return (int64_t)time(NULL) + cfg.clock_offset;
}

static unsigned running(const char *vault)
{
	unsigned n = 0;

	for (size_t i = 0; i < MAX_CHILDREN; i++)
		if (children[i].pid > 0 &&
		    (!vault || !strcmp(children[i].vault, vault)))
			n++;
	return n;
}

/* ---- the plan: protected VMs and their schedules ------------------------ */

/*
 * What the scheduler knows, loaded from the state database at start, again
 * whenever its generation moves (a policy or a protection was written, by
 * anyone: a tick costs one small query) and on SIGHUP.  Each policy's
 * schedule is parsed once per load; a VM whose policy cannot be used is
 * logged once per load and skipped.
 */
struct plan_vm {
	json_t *prot;		   /* its protection record */
	struct sp_schedule *sched; /* its policy's (owned by plan.scheds) */
	json_t *policy;		   /* its policy, or NULL */
	int64_t verify_looked;	   /* when verify_tick() last looked */
};

static struct {
	struct plan_vm *vms;
	size_t nvms;
	struct sp_schedule **scheds; /* one per policy, NULL when unusable */
	size_t nscheds;
	int64_t generation;
	bool loaded;
} plan;

static void plan_clear(void)
{
	for (size_t i = 0; i < plan.nvms; i++) {
		json_decref(plan.vms[i].prot);
		json_decref(plan.vms[i].policy);
	}
	for (size_t k = 0; k < plan.nscheds; k++)
		sp_policy_schedule_free(plan.scheds[k]);
	free(plan.vms);
	free(plan.scheds);
	plan.vms = NULL;
	plan.scheds = NULL;
	plan.nvms = plan.nscheds = 0;
}

/* The schedule of policy @name among @pols, parsed in @scheds. */
static struct sp_schedule *
schedule_named(json_t *pols, struct sp_schedule **scheds, const char *name)
{
	json_t *p;
	size_t k;

	json_array_foreach(pols, k, p)
	{
		const char *n = json_string_value(json_object_get(p, "name"));
		if (name && n && !strcmp(name, n))
			return scheds[k];
	}
	return NULL;
}

/* The policy @name among @pols (borrowed), or NULL. */
static json_t *policy_named(json_t *pols, const char *name)
{
	json_t *p;
	size_t k;

	json_array_foreach(pols, k, p)
	{
		const char *n = json_string_value(json_object_get(p, "name"));
		if (name && n && !strcmp(name, n))
			return p;
	}
	return NULL;
}

static void plan_load(struct sp_state *st, const char *why)
{
	struct sp_error err;
	json_t *prots = NULL, *pols = NULL, *p;
	struct plan_vm *vms = NULL;
	struct sp_schedule **scheds = NULL;
	size_t nvms = 0, npols = 0, i, k;
	int64_t gen = 0;

	/* The generation first: a write made while this loads moves it
	 * again, and the next tick loads once more. */
	if (sp_state_generation(st, &gen, &err) < 0 ||
	    sp_state_protected_list(st, &prots, &err) < 0 ||
	    sp_state_policy_list(st, &pols, &err) < 0) {
		logmsg(3, "cannot load the protected VMs: %s", err.msg);
		goto out;
	}
	nvms = json_array_size(prots);
	npols = json_array_size(pols);
	vms = calloc(nvms + 1, sizeof(*vms));
	scheds = calloc(npols + 1, sizeof(*scheds));
	if (!vms || !scheds) {
		logmsg(3, "cannot load the protected VMs: out of memory");
		goto out;
	}
	json_array_foreach(pols, k, p)
	{
		if (sp_policy_schedule(p, &scheds[k], &err) < 0)
			logmsg(4, "policy unusable policy=%s: %s",
			       json_string_value(json_object_get(p, "name")),
			       err.msg);
	}
	json_array_foreach(prots, i, p)
	{
		const char *pol =
		    json_string_value(json_object_get(p, "policy"));
		vms[i].prot = json_incref(p);
		vms[i].sched = schedule_named(pols, scheds, pol);
		vms[i].policy = json_incref(policy_named(pols, pol));
		if (!vms[i].sched)
			logmsg(4,
			       "no schedule vm=%s: policy '%s' is missing "
			       "or cannot be used",
			       json_string_value(json_object_get(p, "vm")),
			       pol ? pol : "?");
	}
	plan_clear();
	plan.vms = vms;
	plan.nvms = nvms;
	plan.scheds = scheds;
	plan.nscheds = npols;
	vms = NULL;
	scheds = NULL;
	plan.generation = gen;
	plan.loaded = true;
	logmsg(6,
	       "schedules loaded why=%s vms=%zu policies=%zu generation=%lld",
	       why, plan.nvms, plan.nscheds, (long long)gen);
out:
	for (i = 0; vms && i < nvms; i++) {
		json_decref(vms[i].prot);
		json_decref(vms[i].policy);
	}
	for (k = 0; scheds && k < npols; k++)
		sp_policy_schedule_free(scheds[k]);
	free(vms);
	free(scheds);
	json_decref(prots);
	json_decref(pols);
}

/* Load the plan again when asked (SIGHUP) or when it is out of date. */
static void plan_refresh(struct sp_state *st)
{
	struct sp_error err;
	int64_t gen = 0;

	if (reload_requested) {
		reload_requested = 0;
		plan_load(st, "SIGHUP");
		return;
	}
	if (sp_state_generation(st, &gen, &err) < 0) {
		logmsg(3, "cannot read the state generation: %s", err.msg);
		return;
	}
	if (!plan.loaded || gen != plan.generation)
		plan_load(st, plan.loaded ? "changed" : "start");
}

static size_t recover(struct sp_state *st, const char *why);

/* Queue a job of @kind ("backup", "copy") of @vm.  A job of the VM left
 * "in progress" by a process that is gone (a command killed with -9)
 * stands in the way: recovery runs then, and the queueing is tried once
 * more. */
static int queue_kind(struct sp_state *st, const char *vm, const char *kind,
		      const char *trigger, json_t *fields, int64_t *id,
		      struct sp_error *err)
{
	int r = sp_state_job_queue(st, vm, kind, trigger, fields, id, err);

	if (r == SP_E_JOB_RUNNING && recover(st, "blocked") > 0)
		r = sp_state_job_queue(st, vm, kind, trigger, fields, id, err);
	return r;
}

static int queue_job(struct sp_state *st, const char *vm, const char *trigger,
		     json_t *fields, int64_t *id, struct sp_error *err)
{
	return queue_kind(st, vm, "backup", trigger, fields, id, err);
}

/* Invariant 1: each VM's next due instant after the last one handled; a
 * new protection starts counting from now (no backlog of the past). */
static void schedule_tick(struct sp_state *st)
{
	struct sp_error err;

	for (size_t i = 0; i < plan.nvms; i++) {
		json_t *p = plan.vms[i].prot;
		const char *vm = json_string_value(json_object_get(p, "vm"));
		json_t *done = json_object_get(p, "due_done");
		int64_t from =
		    json_is_integer(done)
			? json_integer_value(done)
			: json_integer_value(json_object_get(p, "created"));
		int64_t due = 0, job = 0, gen = 0, now = now_s();

		if (!plan.vms[i].sched)
			continue;
		if (from > now)
			from = now;
		if (sp_policy_schedule_next(plan.vms[i].sched, vm, from, &due,
					    &err) < 0) {
			logmsg(4, "no schedule vm=%s: %s", vm, err.msg);
			continue;
		}
		if (due > now)
			continue;
		/* Due (a missed run counts once).  Remember it first: a VM
		 * that cannot be queued now is not queued twice later. */
		if (sp_state_protection_set_due(st, vm, now, &gen, &err) < 0) {
			logmsg(3, "cannot record schedule vm=%s: %s", vm,
			       err.msg);
			continue;
		}
		json_object_set_new(p, "due_done", json_integer(now));
		/* Our own mark alone moved the generation: the plan, which
		 * has it too, is still up to date. */
		if (gen == plan.generation + 1)
			plan.generation = gen;
		if (queue_job(st, vm, "schedule", NULL, &job, &err) < 0) {
			logmsg(4, "backup due but not queued vm=%s: %s", vm,
			       err.msg);
			continue;
		}
		logmsg(6, "backup queued job=%lld vm=%s trigger=schedule",
		       (long long)job, vm);
		metrics_stale = true;
	}
}

/* ---- boot verification ----------------------------------------------------
 */

/* A policy's --verify-boot period in seconds; 0: none. */
static int64_t verify_period(json_t *policy)
{
	const char *vb =
	    json_string_value(json_object_get(policy, "verify_boot"));

	if (!vb)
		return 0;
	if (!strcmp(vb, "daily"))
		return 86400;
	if (!strcmp(vb, "weekly"))
		return 7 * 86400;
	if (!strcmp(vb, "monthly"))
		return 30 * 86400;
	return 0;
}

/* Has @vm a job of @kind (a "completed" one only, with @completed) made
 * at @since or later by the daemon's clock: its "clock" when the daemon
 * queued it, else when it was created?  A cancelled one does not count. */
static bool has_job(struct sp_state *st, const char *vm, const char *kind,
		    bool completed, int64_t since)
{
	struct sp_error err;
	json_t *jobs = NULL, *j;
	bool found = false;
	size_t i;

	/* "created" is the host's own clock: widen by the test offset */
	if (sp_state_jobs_list(st, vm, completed ? "completed" : NULL,
			       since ? since - llabs(cfg.clock_offset) : 0,
			       &jobs, &err) < 0)
		return true; /* cannot tell: do not queue */
	json_array_foreach(jobs, i, j)
	{
		const char *k = json_string_value(json_object_get(j, "kind"));
		const char *s = json_string_value(json_object_get(j, "status"));
		json_t *clock = json_object_get(j, "clock");
		int64_t at =
		    json_is_integer(clock)
			? json_integer_value(clock)
			: json_integer_value(json_object_get(j, "created"));

		if (!strcmp(k ? k : "backup", kind) &&
		    (!s || strcmp(s, "cancelled")) && at >= since)
			found = true;
	}
	json_decref(jobs);
	return found;
}

#define VERIFY_LOOK_S 10
#define VERIFY_CLEAR_S 900

/*
 * Queue a verify-boot job of each VM whose policy asks for one when none
 * was made within its period (a cancelled one does not count), the VM has
 * a point (a completed backup), no job of it is active and its next
 * backup is at least VERIFY_CLEAR_S away: a VM has one job at a time, and
 * a boot must not make it miss a backup.  Looked at every VERIFY_LOOK_S.
 */
static void verify_tick(struct sp_state *st)
{
	struct sp_error err;

	for (size_t i = 0; i < plan.nvms; i++) {
		struct plan_vm *pv = &plan.vms[i];
		const char *vm =
		    json_string_value(json_object_get(pv->prot, "vm"));
		int64_t period = verify_period(pv->policy), now = now_s();
		int64_t active = 0, next = 0, id = 0, real = time(NULL);
		const char *probe;
		json_t *f;

		if (!period || !vm || real < pv->verify_looked + VERIFY_LOOK_S)
			continue;
		pv->verify_looked = real;
		if (sp_state_job_active(st, vm, &active, &err) < 0 || active)
			continue;
		if (pv->sched && (sp_policy_schedule_next(pv->sched, vm, now,
							  &next, &err) < 0 ||
				  next - now < VERIFY_CLEAR_S))
			continue;
		if (has_job(st, vm, "verify-boot", false, now - period) ||
		    !has_job(st, vm, "backup", true, 0))
			continue;
		probe = json_string_value(
		    json_object_get(pv->policy, "verify_probe"));
		f = json_pack("{s:s?, s:I}", "probe", probe, "clock",
			      (json_int_t)now);
		if (f && queue_kind(st, vm, "verify-boot", "policy", f, &id,
				    &err) == 0) {
			logmsg(6, "verify-boot queued job=%lld vm=%s",
			       (long long)id, vm);
			metrics_stale = true;
		} else {
			logmsg(4, "verify-boot not queued vm=%s: %s", vm,
			       f ? err.msg : "out of memory");
		}
		json_decref(f);
	}
}

/* ---- running jobs ------------------------------------------------------- */

/* The job's process: it waits at the gate until the daemon has claimed
 * the job for its pid, and exits untouched if the claim failed (the gate
 * closes without a byte).  Between fork and exec: async-signal-safe calls
 * only (the daemon has one thread). */
static void job_child(int gate, const char *exe, const char *const *argv)
{
	struct sigaction dfl = {.sa_handler = SIG_DFL};
	int nul = open("/dev/null", O_RDWR | O_CLOEXEC);
	ssize_t n;
	char go;

	/* A cancel that comes before the exec ends the child as a signal
	 * (job_ended() knows it), not as the daemon's own stop. */
	sigaction(SIGTERM, &dfl, NULL);
	sigaction(SIGINT, &dfl, NULL);
	while ((n = read(gate, &go, 1)) < 0 && errno == EINTR)
		;
	if (n != 1)
		_exit(0);
	dup2(nul, STDIN_FILENO);
	dup2(nul, STDOUT_FILENO);
	execv(exe, (char *const *)argv);
	_exit(127);
}

/* Start queued job @job in a child process, if the claim for the child's
 * pid wins: a job cancelled, or taken by someone else, since it was
 * listed is not run. */
static void start_job(struct sp_state *st, json_t *job)
{
	struct sp_error err;
	json_t *prot = NULL;
	const char *vm = json_string_value(json_object_get(job, "vm"));
	int64_t id = json_integer_value(json_object_get(job, "id"));
	const char *kind = json_string_value(json_object_get(job, "kind"));
	bool is_copy = kind && !strcmp(kind, "copy");
	bool is_verify = kind && !strcmp(kind, "verify-boot");
	char exe[PATH_MAX], idtxt[24], point[300];
	const char *argv[20];
	int n = 0, gate[2];
	size_t slot;
	pid_t pid;

	if (sp_state_protection_get(st, vm, &prot, &err) < 0) {
		struct sp_error fail;
		/* Ours to end only if still queued. */
		if (sp_state_job_claim(st, id, getpid(), &err) < 0)
			return;
		sp_error_set(&fail, SP_E_NOT_PROTECTED,
			     "VM '%s' is not protected any more", vm);
		sp_state_job_finish(st, id, NULL, &fail, &err);
		return;
	}
	for (slot = 0; slot < MAX_CHILDREN && children[slot].pid > 0; slot++)
		;
	snprintf(exe, sizeof(exe), "%s/stillpoint", cfg.self_dir);
	snprintf(idtxt, sizeof(idtxt), "%lld", (long long)id);
	argv[n++] = "stillpoint";
	argv[n++] = "--vault";
	argv[n++] = json_string_value(json_object_get(prot, "vault"));
	argv[n++] = "--quiet";
	argv[n++] = "--no-progress";
	if (is_copy) {
		/* A policy's offsite copy of the point a backup made. */
		snprintf(point, sizeof(point), "%s@%s", vm,
			 json_string_value(json_object_get(job, "point")));
		argv[n++] = "copy";
		argv[n++] = point;
		argv[n++] = "--to";
		argv[n++] = json_string_value(json_object_get(job, "copy_to"));
		argv[n++] = "--job-id";
		argv[n++] = idtxt;
		goto argv_done;
	}
	if (is_verify) {
		/* A policy's boot verification of the VM's newest point. */
		argv[n++] = "verify";
		argv[n++] = "--boot";
		argv[n++] = vm;
		argv[n++] = "--job-id";
		argv[n++] = idtxt;
		if (json_is_string(json_object_get(job, "probe"))) {
			argv[n++] = "--probe";
			argv[n++] =
			    json_string_value(json_object_get(job, "probe"));
		}
		if (json_is_string(json_object_get(prot, "uri"))) {
			argv[n++] = "--connect";
			argv[n++] =
			    json_string_value(json_object_get(prot, "uri"));
		}
		goto argv_done;
	}
	argv[n++] = "backup";
	argv[n++] = vm;
	argv[n++] = "--job-id";
	argv[n++] = idtxt;
	if (json_is_string(json_object_get(prot, "uri"))) {
		argv[n++] = "--connect";
		argv[n++] = json_string_value(json_object_get(prot, "uri"));
	}
	if (json_is_string(json_object_get(prot, "writers"))) {
		argv[n++] = "--writers";
		argv[n++] = json_string_value(json_object_get(prot, "writers"));
	}
	if (json_is_string(json_object_get(prot, "require"))) {
		argv[n++] = "--require";
		argv[n++] = json_string_value(json_object_get(prot, "require"));
	}
argv_done:
	argv[n] = NULL;
	if (pipe2(gate, O_CLOEXEC) < 0) {
		/* Still queued: the next tick tries again. */
		logmsg(3, "cannot start job=%lld vm=%s: pipe: %s",
		       (long long)id, vm, strerror(errno));
		json_decref(prot);
		return;
	}
	pid = fork();
	if (pid == 0) {
		close(gate[1]);
		job_child(gate[0], exe, argv);
	}
	close(gate[0]);
	if (pid < 0) {
		struct sp_error fail;
		close(gate[1]);
		if (sp_state_job_claim(st, id, getpid(), &err) == 0) {
			sp_error_set_errno(&fail, SP_E_INTERNAL, errno,
					   "cannot start the job's process");
			sp_state_job_finish(st, id, NULL, &fail, &err);
		}
		json_decref(prot);
		return;
	}
	/* In progress by the child from here (invariant 4 of the state
	 * database): a daemon that dies now leaves a job whose process is
	 * gone or runs it, never a queued job someone else could start. */
	if (sp_state_job_claim(st, id, pid, &err) < 0) {
		close(gate[1]);
		waitpid(pid, NULL, 0);
		logmsg(err.code == SP_E_JOB_NOT_QUEUED ? 6 : 3,
		       "job not started job=%lld vm=%s: %s", (long long)id, vm,
		       err.msg);
		json_decref(prot);
		return;
	}
	if (write(gate[1], "g", 1) != 1)
		logmsg(3, "cannot release job=%lld pid=%d: %s", (long long)id,
		       (int)pid, strerror(errno));
	close(gate[1]);
	children[slot].pid = pid;
	children[slot].job = id;
	metrics_stale = true;
	snprintf(children[slot].vm, sizeof(children[slot].vm), "%s", vm);
	snprintf(children[slot].vault, sizeof(children[slot].vault), "%s",
		 argv[2]);
	logmsg(6, "job started job=%lld vm=%s pid=%d attempt=%lld",
	       (long long)id, vm, (int)pid,
	       (long long)json_integer_value(json_object_get(job, "attempt")));
	json_decref(prot);
}

static void dispatch(struct sp_state *st)
{
	struct sp_error err;
	json_t *queued = NULL, *job;
	size_t i;

	if (sp_state_jobs_list(st, NULL, "queued", 0, &queued, &err) < 0)
		return;
	/* The list is newest first: start from the oldest. */
	for (i = json_array_size(queued); i-- > 0;) {
		json_t *prot = NULL;
		const char *vault;

		if (stopping || running(NULL) >= cfg.max_jobs ||
		    running(NULL) >= MAX_CHILDREN)
			break;
		job = json_array_get(queued, i);
		if (json_integer_value(json_object_get(job, "not_before")) >
		    now_s())
			continue;
		if (sp_state_protection_get(
			st, json_string_value(json_object_get(job, "vm")),
			&prot, &err) == 0) {
			vault =
			    json_string_value(json_object_get(prot, "vault"));
			if (vault && running(vault) >= cfg.max_per_vault) {
				json_decref(prot);
				continue;
			}
		}
		json_decref(prot);
		sp_test_hold("dispatch");
		start_job(st, job);
	}
	json_decref(queued);
}

static bool transient(const char *code)
{
	static const char *const codes[] = {"LibvirtFailed",
					    "DomainBusy",
					    "GuestAgentUnavailable",
					    "VaultLocked",
					    "SnapshotFailed",
					    "ExportReadFailed",
					    "Interrupted",
					    "CheckpointRefused",
					    "VaultUnreachable",
					    "VaultRemoteError",
					    "GcBusy"};

	for (size_t i = 0; code && i < sizeof(codes) / sizeof(codes[0]); i++)
		if (!strcmp(code, codes[i]))
			return true;
	return false;
}

static void on_failure_hook(json_t *job)
{
	char e_job[40], e_vm[200], e_code[100], e_msg[600];
	char *envp[] = {e_job, e_vm, e_code, e_msg, NULL};
	char *argv[] = {(char *)cfg.on_failure, NULL};
	pid_t pid;

	if (!cfg.on_failure)
		return;
	snprintf(e_job, sizeof(e_job), "STILLPOINT_JOB=%lld",
		 (long long)json_integer_value(json_object_get(job, "id")));
	snprintf(e_vm, sizeof(e_vm), "STILLPOINT_VM=%s",
		 json_string_value(json_object_get(job, "vm")));
	snprintf(e_code, sizeof(e_code), "STILLPOINT_CODE=%s",
		 json_string_value(json_object_get(job, "code")));
	snprintf(e_msg, sizeof(e_msg), "STILLPOINT_MESSAGE=%s",
		 json_string_value(json_object_get(job, "message")));
	pid = fork();
	if (pid == 0) {
		execve(cfg.on_failure, argv, envp);
		_exit(127);
	}
	/* Reaped with the jobs' children (waitpid(-1)). */
}

/* After backup job @job of @c->vm completed: when the VM's policy names a
 * copy target, queue a copy of the new point there (a job of its own). */
static void queue_copy(struct sp_state *st, struct child *c, json_t *job)
{
	struct sp_error err;
	json_t *prot = NULL, *policy = NULL, *f = NULL;
	const char *to, *point;
	int64_t id = 0;

	point = json_string_value(json_object_get(job, "point"));
	if (!point || sp_state_protection_get(st, c->vm, &prot, &err) < 0)
		goto out;
	if (sp_state_policy_get(
		st, json_string_value(json_object_get(prot, "policy")), &policy,
		&err) < 0)
		goto out;
	to = json_string_value(json_object_get(policy, "copy_to"));
	if (!to)
		goto out;
	f = json_pack("{s:s, s:s, s:I}", "point", point, "copy_to", to,
		      "copy_of", (json_int_t)c->job);
	if (f && queue_kind(st, c->vm, "copy", "policy", f, &id, &err) == 0)
		logmsg(6, "copy queued job=%lld vm=%s point=%s to=%s",
		       (long long)id, c->vm, point, to);
	else
		logmsg(4, "copy not queued vm=%s point=%s to=%s: %s", c->vm,
		       point, to, f ? err.msg : "out of memory");
out:
	json_decref(f);
	json_decref(policy);
	json_decref(prot);
}

/* Codes worth a retry of a copy: the destination's server or network, a
 * gc sweeping it, a vault locked for a while. */
static bool copy_transient(const char *code)
{
	return code &&
	       (!strcmp(code, "VaultUnreachable") ||
		!strcmp(code, "VaultRemoteError") || !strcmp(code, "GcBusy") ||
		!strcmp(code, "VaultLocked") || !strcmp(code, "Interrupted"));
}

/* A child ended: make sure its job is recorded, retry, prune, or queue
 * the copy of the new point. */
static void job_ended(struct sp_state *st, struct child *c, int status)
{
	struct sp_error err;
	json_t *job = NULL;
	const char *s, *code, *kind;
	bool is_copy, is_verify;

	if (sp_state_job_get(st, c->job, &job, &err) < 0)
		goto out;
	s = json_string_value(json_object_get(job, "status"));
	if (s && (!strcmp(s, "in progress") || !strcmp(s, "queued"))) {
		struct sp_error fail;
		if (WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM)
			/* Cancelled before it could even catch the signal:
			 * nothing had started, nothing to clean up. */
			sp_error_set(&fail, SP_E_INTERRUPTED,
				     "cancelled before the backup started");
		else
			sp_error_set(&fail, SP_E_INTERNAL,
				     "the job's process ended (%s %d) without "
				     "recording an outcome",
				     WIFSIGNALED(status) ? "signal"
							 : "exit status",
				     WIFSIGNALED(status) ? WTERMSIG(status)
							 : WEXITSTATUS(status));
		sp_state_job_finish(st, c->job, NULL, &fail, &err);
		json_decref(job);
		job = NULL;
		sp_state_job_get(st, c->job, &job, &err);
	}
	s = json_string_value(json_object_get(job, "status"));
	code = json_string_value(json_object_get(job, "code"));
	kind = json_string_value(json_object_get(job, "kind"));
	is_copy = kind && !strcmp(kind, "copy");
	is_verify = kind && !strcmp(kind, "verify-boot");
	logmsg(s && !strncmp(s, "completed", 9) ? 6 : 4,
	       "job ended job=%lld vm=%s kind=%s status=%s code=%s",
	       (long long)c->job, c->vm, kind ? kind : "backup", s ? s : "?",
	       code ? code : "-");
	if (s && !strcmp(s, "failed")) {
		json_int_t attempt =
		    json_integer_value(json_object_get(job, "attempt"));
		on_failure_hook(job);
		/* A failed boot verification is a finding, not a hiccup:
		 * the next one comes with the next period. */
		if (!is_verify &&
		    (is_copy ? copy_transient(code) : transient(code)) &&
		    attempt <= (json_int_t)cfg.retries && !stopping) {
			int64_t id = 0;
			json_t *f = json_pack(
			    "{s:I, s:I, s:I}", "attempt", attempt + 1,
			    "not_before",
			    (json_int_t)(now_s() + ((int64_t)cfg.retry_delay
						    << (attempt - 1))),
			    "retry_of", (json_int_t)c->job);
			if (f && is_copy) {
				json_object_set(f, "point",
						json_object_get(job, "point"));
				json_object_set(
				    f, "copy_to",
				    json_object_get(job, "copy_to"));
				json_object_set(
				    f, "copy_of",
				    json_object_get(job, "copy_of"));
			}
			if (f &&
			    queue_kind(st, c->vm, is_copy ? "copy" : "backup",
				       "retry", f, &id, &err) == 0) {
				logmsg(
				    5,
				    "retry queued job=%lld vm=%s attempt=%lld",
				    (long long)id, c->vm,
				    (long long)attempt + 1);
			}
			json_decref(f);
		}
	} else if (s && !strncmp(s, "completed", 9) && !is_copy && !is_verify) {
		json_t *report = NULL;
		if (sp_prune_vm(st, c->vault, c->vm, false, now_s(), &report,
				&err) < 0)
			logmsg(4, "prune failed vm=%s: %s", c->vm, err.msg);
		else
			logmsg(6, "pruned vm=%s deleted=%zu", c->vm,
			       json_array_size(
				   json_object_get(report, "deleted")));
		json_decref(report);
		queue_copy(st, c, job);
	}
out:
	json_decref(job);
	c->pid = 0;
	metrics_stale = true;
}

static void reap(struct sp_state *st)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
		for (size_t i = 0; i < MAX_CHILDREN; i++)
			if (children[i].pid == pid)
				job_ended(st, &children[i], status);
}

/* Jobs whose process died with a previous daemon (or on its own): failed
 * as interrupted, and the failure hook told.  Runs at start, and when such
 * a job stands in the way of a new one (queue_job()); the daemon's own
 * children are followed by reap().  Returns how many were recovered. */
static size_t recover(struct sp_state *st, const char *why)
{
	struct sp_error err;
	json_t *gone = json_array(), *job;
	size_t i, n;

	if (sp_state_jobs_recover(st, false, gone, &err) < 0)
		logmsg(3, "job recovery failed: %s", err.msg);
	json_array_foreach(gone, i, job)
	{
		logmsg(
		    4, "job interrupted job=%lld vm=%s code=Interrupted",
		    (long long)json_integer_value(json_object_get(job, "id")),
		    json_string_value(json_object_get(job, "vm")));
		on_failure_hook(job);
		metrics_stale = true;
	}
	n = json_array_size(gone);
	logmsg(6, "recovery done why=%s recovered=%zu", why, n);
	json_decref(gone);
	return n;
}

/* ---- metrics ------------------------------------------------------------ */

/* Each VM's last boot verification that ended (jobs newest first). */
static void metrics_verify_boot(FILE *f, json_t *jobs)
{
	json_t *seen = json_object(), *j;
	size_t i;

	fprintf(f, "# HELP stillpoint_last_verify_boot_passed Whether the "
		   "VM's last boot verification passed (1) or not (0).\n"
		   "# TYPE stillpoint_last_verify_boot_passed gauge\n"
		   "# HELP stillpoint_last_verify_boot_timestamp_seconds End "
		   "of the VM's last boot verification.\n"
		   "# TYPE stillpoint_last_verify_boot_timestamp_seconds "
		   "gauge\n"
		   "# HELP stillpoint_last_verify_boot_rto_seconds Its RTO: "
		   "request to probe passed.\n"
		   "# TYPE stillpoint_last_verify_boot_rto_seconds gauge\n");
	json_array_foreach(jobs, i, j)
	{
		const char *vm = json_string_value(json_object_get(j, "vm"));
		const char *s = json_string_value(json_object_get(j, "status"));
		const char *kind =
		    json_string_value(json_object_get(j, "kind"));
		bool ok;

		if (!vm || !s || !kind || strcmp(kind, "verify-boot") ||
		    (strncmp(s, "completed", 9) && strcmp(s, "failed")) ||
		    json_object_get(seen, vm))
			continue;
		json_object_set_new(seen, vm, json_true());
		ok = !strncmp(s, "completed", 9);
		fprintf(
		    f,
		    "stillpoint_last_verify_boot_passed{vm=\"%s\"} %d\n"
		    "stillpoint_last_verify_boot_timestamp_seconds{vm=\"%s\"} "
		    "%lld\n",
		    vm, ok ? 1 : 0, vm,
		    (long long)json_integer_value(json_object_get(j, "ended")));
		if (ok && json_is_integer(json_object_get(j, "rto_ms")))
			fprintf(f,
				"stillpoint_last_verify_boot_rto_seconds{vm="
				"\"%s\"} %.3f\n",
				vm,
				(double)json_integer_value(
				    json_object_get(j, "rto_ms")) /
				    1000);
	}
	json_decref(seen);
}

static void write_metrics(struct sp_state *st)
{
	struct sp_error err;
	json_t *jobs = NULL, *j, *seen = json_object();
	char tmp[PATH_MAX];
	size_t i;
	FILE *f;

	if (!cfg.metrics ||
	    sp_state_jobs_list(st, NULL, NULL, 0, &jobs, &err) < 0)
		goto out;
	snprintf(tmp, sizeof(tmp), "%s.tmp", cfg.metrics);
	f = fopen(tmp, "w");
	if (!f)
		goto out;
	fprintf(f,
		"# HELP stillpoint_jobs_total Backup jobs by VM and status.\n"
		"# TYPE stillpoint_jobs_total gauge\n");
	{
		json_t *counts = json_object(), *copies = json_object();
		json_t *verifies = json_object();
		const char *key;
		json_t *v;
		json_array_foreach(jobs, i, j)
		{
			const char *kind =
			    json_string_value(json_object_get(j, "kind"));
			json_t *to = kind && !strcmp(kind, "copy") ? copies
				     : kind && !strcmp(kind, "verify-boot")
					 ? verifies
					 : counts;
			char k[400];
			snprintf(
			    k, sizeof(k), "vm=\"%s\",status=\"%s\"",
			    json_string_value(json_object_get(j, "vm")),
			    json_string_value(json_object_get(j, "status")));
			json_object_set_new(
			    to, k,
			    json_integer(
				json_integer_value(json_object_get(to, k)) +
				1));
		}
		json_object_foreach(counts, key, v)
		    fprintf(f, "stillpoint_jobs_total{%s} %lld\n", key,
			    (long long)json_integer_value(v));
		fprintf(f, "# HELP stillpoint_copy_jobs_total Offsite copy "
			   "jobs (a policy's copy-to) by VM and status.\n"
			   "# TYPE stillpoint_copy_jobs_total gauge\n");
		json_object_foreach(copies, key, v)
		    fprintf(f, "stillpoint_copy_jobs_total{%s} %lld\n", key,
			    (long long)json_integer_value(v));
		fprintf(f, "# HELP stillpoint_verify_boot_jobs_total Boot "
			   "verification jobs (a policy's verify-boot) by VM "
			   "and status.\n"
			   "# TYPE stillpoint_verify_boot_jobs_total gauge\n");
		json_object_foreach(verifies, key, v)
		    fprintf(f, "stillpoint_verify_boot_jobs_total{%s} %lld\n",
			    key, (long long)json_integer_value(v));
		json_decref(counts);
		json_decref(copies);
		json_decref(verifies);
	}
	fprintf(f,
		"# HELP stillpoint_last_success_timestamp_seconds End of "
		"the VM's last successful backup.\n"
		"# TYPE stillpoint_last_success_timestamp_seconds gauge\n"
		"# HELP stillpoint_last_consistency Consistency of the last "
		"successful backup (2 application, 1 file-system, 0 crash).\n"
		"# TYPE stillpoint_last_consistency gauge\n");
	json_array_foreach(jobs, i, j)
	{
		const char *vm = json_string_value(json_object_get(j, "vm"));
		const char *s = json_string_value(json_object_get(j, "status"));
		const char *c =
		    json_string_value(json_object_get(j, "consistency"));
		const char *kind =
		    json_string_value(json_object_get(j, "kind"));
		json_t *ph = json_object_get(j, "phases");
		if (!vm || !s || strncmp(s, "completed", 9) ||
		    (kind && strcmp(kind, "backup")) ||
		    json_object_get(seen, vm))
			continue;
		json_object_set_new(seen, vm, json_true());
		fprintf(
		    f,
		    "stillpoint_last_success_timestamp_seconds{vm=\"%s\"} "
		    "%lld\n",
		    vm,
		    (long long)json_integer_value(json_object_get(j, "ended")));
		fprintf(f, "stillpoint_last_consistency{vm=\"%s\"} %d\n", vm,
			c && !strcmp(c, "application")	 ? 2
			: c && !strcmp(c, "file-system") ? 1
							 : 0);
		fprintf(f, "stillpoint_last_bytes_read{vm=\"%s\"} %lld\n", vm,
			(long long)json_integer_value(
			    json_object_get(j, "bytes_read")));
		fprintf(f, "stillpoint_last_bytes_new{vm=\"%s\"} %lld\n", vm,
			(long long)json_integer_value(
			    json_object_get(j, "bytes_new")));
		fprintf(f,
			"stillpoint_last_phase_seconds{vm=\"%s\",phase="
			"\"snapshot\"} "
			"%.3f\n"
			"stillpoint_last_phase_seconds{vm=\"%s\",phase="
			"\"transfer\"} "
			"%.3f\n",
			vm,
			(double)json_integer_value(json_object_get(
			    json_object_get(ph, "snapshot"), "duration_ms")) /
			    1000,
			vm,
			(double)json_integer_value(json_object_get(
			    json_object_get(ph, "transfer"), "duration_ms")) /
			    1000);
	}
	metrics_verify_boot(f, jobs);
	if (fflush(f) == 0 && fsync(fileno(f)) == 0 && fclose(f) == 0)
		rename(tmp, cfg.metrics);
	else
		unlink(tmp);
out:
	json_decref(seen);
	json_decref(jobs);
}

/* ---- the control socket ------------------------------------------------- */

static int listen_socket(void)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	mode_t mask;
	int fd;

	if (strlen(cfg.socket_path) >= sizeof(a.sun_path))
		return -1;
	memcpy(a.sun_path, cfg.socket_path, strlen(cfg.socket_path) + 1);
	unlink(cfg.socket_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -1;
	/* Root only: the socket's mode and the peer's uid both say so.  The
	 * mask covers the bind alone: jobs and the metrics file keep theirs. */
	mask = umask(077);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		umask(mask);
		close(fd);
		return -1;
	}
	umask(mask);
	if (listen(fd, 16) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void answer(struct sp_state *st, int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	char line[512], reply[600];
	struct sp_error err;
	ssize_t n;
	int64_t id = 0;
	long long cid;

	/* The request is read even from a peer that is refused: closing a
	 * socket with unread data resets it, and the peer would lose the
	 * answer that says why. */
	n = read(fd, line, sizeof(line) - 1);
	if (n <= 0)
		return;
	line[n] = '\0';
	line[strcspn(line, "\r\n")] = '\0';
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 ||
	    cred.uid != 0) {
		snprintf(reply, sizeof(reply),
			 "error %s %d stillpointd takes requests from root "
			 "only, not from uid %u (run the command as root, e.g. "
			 "with sudo)\n",
			 sp_errcode_name(SP_E_DAEMON_PERMISSION),
			 sp_errcode_number(SP_E_DAEMON_PERMISSION),
			 (unsigned)cred.uid);
		logmsg(5, "request refused uid=%u pid=%d", (unsigned)cred.uid,
		       (int)cred.pid);
		goto send;
	}
	if (!strncmp(line, "backup ", 7)) {
		json_t *prot = NULL;
		/* Only protected VMs have a vault here; the command line
		 * backs up the others itself. */
		if (sp_state_protection_get(st, line + 7, &prot, &err) < 0 ||
		    queue_job(st, line + 7, "manual", NULL, &id, &err) < 0)
			snprintf(reply, sizeof(reply), "error %s %d %s\n",
				 sp_errcode_name(err.code),
				 sp_errcode_number(err.code), err.msg);
		else
			snprintf(reply, sizeof(reply), "ok %lld\n",
				 (long long)id);
		if (id)
			logmsg(6, "backup queued job=%lld vm=%s trigger=manual",
			       (long long)id, line + 7);
		json_decref(prot);
	} else if (sscanf(line, "cancel %lld", &cid) == 1) {
		for (size_t i = 0; i < MAX_CHILDREN; i++)
			if (children[i].pid > 0 && children[i].job == cid)
				kill(children[i].pid, SIGTERM);
		snprintf(reply, sizeof(reply), "ok %lld\n", cid);
	} else if (!strcmp(line, "ping")) {
		snprintf(reply, sizeof(reply), "ok running=%u\n",
			 running(NULL));
	} else {
		snprintf(reply, sizeof(reply),
			 "error UsageError 1001 unknown request\n");
	}
send:
	if (write(fd, reply, strlen(reply)) < 0)
		logmsg(4, "cannot answer a request: %s", strerror(errno));
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"max-jobs", required_argument, NULL, 'j'},
	    {"max-per-vault", required_argument, NULL, 'v'},
	    {"retries", required_argument, NULL, 'r'},
	    {"retry-delay", required_argument, NULL, 'd'},
	    {"metrics", required_argument, NULL, 'm'},
	    {"on-failure", required_argument, NULL, 'f'},
	    {"socket", required_argument, NULL, 's'},
	    {"tick", required_argument, NULL, 't'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct sigaction sa = {.sa_handler = on_stop};
	struct sigaction hup = {.sa_handler = on_hup};
	struct sp_state *st = NULL;
	struct sp_error err;
	char self[PATH_MAX], lock[PATH_MAX];
	ssize_t sn;
	int c, lfd, lockfd, status;
	const char *off = getenv("STILLPOINT_CLOCK_OFFSET");

	if (sp_watchdog_dispatch(argc, argv, &status))
		return status;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		unsigned long n = optarg ? strtoul(optarg, NULL, 10) : 0;
		switch (c) {
		case 'j':
			cfg.max_jobs = n ? (unsigned)n : 1;
			break;
		case 'v':
			cfg.max_per_vault = n ? (unsigned)n : 1;
			break;
		case 'r':
			cfg.retries = (unsigned)n;
			break;
		case 'd':
			cfg.retry_delay = (unsigned)n;
			break;
		case 'm':
			cfg.metrics = optarg;
			break;
		case 'f':
			cfg.on_failure = optarg;
			break;
		case 's':
			cfg.socket_path = optarg;
			break;
		case 't':
			cfg.tick_ms = n ? (unsigned)n : 1000;
			break;
		case 'h':
			fputs(help, stdout);
			return 0;
		default:
			fprintf(stderr, "stillpointd: unknown option (see "
					"--help)\n");
			return 2;
		}
	}
	if (off)
		cfg.clock_offset = strtoll(off, NULL, 10);
	sn = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (sn <= 0)
		return 1;
	self[sn] = '\0';
	*strrchr(self, '/') = '\0';
	cfg.self_dir = self;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &hup, NULL);
	signal(SIGPIPE, SIG_IGN);
	/* One daemon per socket: a second one would take the socket over and
	 * start the same queued jobs.  The lock dies with the process. */
	snprintf(lock, sizeof(lock), "%s.lock", cfg.socket_path);
	lockfd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lockfd < 0 || flock(lockfd, LOCK_EX | LOCK_NB) < 0) {
		logmsg(2,
		       "cannot start: %s '%s' (another stillpointd runs on "
		       "'%s': stop it first, or give --socket)",
		       lockfd < 0 ? "cannot open" : "held", lock,
		       cfg.socket_path);
		return 1;
	}
	if (sp_state_open(NULL, &st, &err) < 0) {
		logmsg(2, "cannot start: %s", err.msg);
		return 1;
	}
	recover(st, "start");
	verify_boot_cleanup();
	plan_load(st, "start");
	lfd = listen_socket();
	if (lfd < 0) {
		logmsg(2, "cannot listen on '%s': %s", cfg.socket_path,
		       strerror(errno));
		sp_state_close(st);
		return 1;
	}
	logmsg(6, "stillpointd started max_jobs=%u max_per_vault=%u socket=%s",
	       cfg.max_jobs, cfg.max_per_vault, cfg.socket_path);
	while (!stopping || running(NULL) > 0) {
		struct pollfd p = {.fd = lfd, .events = POLLIN};
		if (stopping) {
			static bool told;
			if (!told) {
				for (size_t i = 0; i < MAX_CHILDREN; i++)
					if (children[i].pid > 0)
						kill(children[i].pid, SIGTERM);
				told = true;
			}
		}
		if (poll(&p, 1, (int)cfg.tick_ms) > 0 && (p.revents & POLLIN)) {
			int cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
			/* A client that sends nothing must not stop the
			 * daemon's loop: its request has 2 s to arrive. */
			struct timeval rto = {.tv_sec = 2};
			if (cfd >= 0) {
				if (setsockopt(cfd, SOL_SOCKET, SO_RCVTIMEO,
					       &rto, sizeof(rto)) == 0) {
					answer(st, cfd);
					metrics_stale = true;
				}
				close(cfd);
			}
		}
		reap(st);
		if (!stopping) {
			plan_refresh(st);
			schedule_tick(st);
			verify_tick(st);
			dispatch(st);
		}
		if (metrics_stale) {
			write_metrics(st);
			metrics_stale = false;
		}
	}
	close(lfd);
	unlink(cfg.socket_path);
	plan_clear();
	sp_state_close(st);
	logmsg(6, "stillpointd stopped");
	return 0;
}

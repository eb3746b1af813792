// SPDX-License-Identifier: LGPL-2.1-or-later
/* `stillpoint jobs` and `stillpoint job ID [cancel]`: the job history. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <stillpoint/state.h>

#include "cli.h"

static const char jobs_help[] =
    "NAME\n"
    "    stillpoint jobs - backup, copy and instant recovery jobs, their\n"
    "    phases and outcome\n"
    "\n"
    "SYNOPSIS\n"
    "    stillpoint jobs [--vm DOMAIN] [--status STATUS] [--since WHEN]\n"
    "               [--json]\n"
    "    stillpoint job ID [--json]\n"
    "    stillpoint job cancel ID [--json]\n"
    "\n"
    "DESCRIPTION\n"
    "    Every backup of a domain, run by stillpointd on schedule or by\n"
    "    hand, is a job: queued, in progress, completed, completed with\n"
    "    warnings, failed or cancelled.  A job shows its two phases (Take\n"
    "    Snapshot, Transfer data to vault) with their durations, the\n"
    "    bytes read and in new chunks, the consistency reached, and for a\n"
    "    failure its error code, message and recommended action.\n"
    "\n"
    "    When a policy names a copy target (policy --copy-to), stillpointd\n"
    "    copies each new point there as a job of its own, of kind \"copy\"\n"
    "    (listed as \"VM [copy]\"), with the phases Transfer chunks to the\n"
    "    copy target and Publish, the bytes read and new there.  When a\n"
    "    policy asks for boot verification (policy --verify-boot), the\n"
    "    boot of a VM's newest point is a job of kind \"verify-boot\"\n"
    "    (\"VM [verify-boot]\"), with the point, passed and rto_ms.\n"
    "\n"
    "    An instant recovery (restore --as NEW --instant) is a job of kind\n"
    "    \"instant\" (listed as \"NEW [instant]\", its last column the\n"
    "    phase: booting, copying N%, done) with its RTO (command to guest\n"
    "    agent answer), the bytes copied, each disk's copy and whether\n"
    "    the domain was pivoted onto it; a failed one names the command\n"
    "    that resumes it.\n"
    "\n"
    "    A job whose process was killed shows \"in progress (gone)\" (in\n"
    "    --json, \"process_gone\": true) until its owner fails it as\n"
    "    Interrupted: the next backup command for a command's job,\n"
    "    stillpointd for its own (which then runs its failure hook).\n"
    "    An instant recovery has no owner but you: its action names\n"
    "    'stillpoint restore --resume ID', which takes its copy up.\n"
    "\n"
    "    'job cancel' stops a queued job, or asks a running one to stop\n"
    "    (it ends its backup job, deletes its checkpoint and publishes\n"
    "    nothing; an instant recovery stops copying and pauses its guest,\n"
    "    to be taken up with 'stillpoint restore --resume ID').\n"
    "\n"
    "OPTIONS\n"
    "    --vm DOMAIN      only this VM's jobs\n"
    "    --status STATUS  only jobs in this status (e.g. failed)\n"
    "    --since WHEN     only jobs created since WHEN: 24h, 7d, or a date\n"
    "                     YYYY-MM-DD[THH:MM] in local time\n"
    "    --json           the jobs (an array), the job, or the job as the\n"
    "                     cancel left it with \"cancel\": \"cancelled\" or\n"
    "                     \"requested\", as JSON (also accepted before the\n"
    "                     command)\n"
    "\n"
    "ERRORS\n"
    "    JobNotFound, StateError, UsageError.\n";

static bool parse_since(const char *s, int64_t *out)
{
	char *end;
	long n = strtol(s, &end, 10);
	struct tm tm = {0};

	if (end != s && n >= 0 && (!strcmp(end, "h") || !strcmp(end, "d"))) {
		*out = (int64_t)time(NULL) - n * (*end == 'h' ? 3600 : 86400);
		return true;
	}
	end = strptime(s, "%Y-%m-%dT%H:%M", &tm);
	if (!end || *end) {
		memset(&tm, 0, sizeof(tm));
		end = strptime(s, "%Y-%m-%d", &tm);
	}
	if (!end || *end)
		return false;
	tm.tm_isdst = -1;
	*out = (int64_t)mktime(&tm);
	return true;
}

static void when(json_t *t, char *out, size_t len)
{
	time_t v = (time_t)json_integer_value(t);
	struct tm tm;

	if (!json_is_integer(t)) {
		snprintf(out, len, "-");
		return;
	}
	localtime_r(&v, &tm);
	strftime(out, len, "%Y-%m-%d %H:%M:%S", &tm);
}

static double phase_s(json_t *job, const char *phase)
{
	return (double)json_integer_value(json_object_get(
		   json_object_get(json_object_get(job, "phases"), phase),
		   "duration_ms")) /
	       1000.0;
}

/* A job in progress whose process is gone (killed, crashed) says so; it
 * is recovered by its owner, the next backup command for a command's
 * job, stillpointd for its own.  An instant recovery that booted has no
 * owner but the operator: it says how to take its copy up.  Listing
 * changes nothing. */
static void mark_gone(json_t *j)
{
	char action[128];

	if (!sp_state_job_process_gone(j))
		return;
	json_object_set_new(j, "process_gone", json_true());
	if (sp_instant_job_resumable(j)) {
		snprintf(
		    action, sizeof(action),
		    "its process is gone (killed, or the host went "
		    "down); resume with 'stillpoint restore --resume "
		    "%lld'",
		    (long long)json_integer_value(json_object_get(j, "id")));
		json_object_set_new(j, "action", json_string(action));
	}
}

static const char *status_text(json_t *j)
{
	return json_is_true(json_object_get(j, "process_gone"))
		   ? "in progress (gone)"
		   : json_string_value(json_object_get(j, "status"));
}

static bool is_copy(json_t *j)
{
	const char *k = json_string_value(json_object_get(j, "kind"));

	return k && !strcmp(k, "copy");
}

static bool is_instant(json_t *j)
{
	const char *k = json_string_value(json_object_get(j, "kind"));

	return k && !strcmp(k, "instant");
}

/* "copying 42%", "done", ...: an instant recovery's progress. */
static void instant_progress(json_t *j, char *out, size_t len)
{
	json_t *c = json_object_get(j, "copy");
	const char *ph = json_string_value(json_object_get(j, "phase"));
	uint64_t done =
	    (uint64_t)json_integer_value(json_object_get(c, "done"));
	uint64_t total =
	    (uint64_t)json_integer_value(json_object_get(c, "total"));

	if (ph && !strcmp(ph, "copying") && total)
		snprintf(out, len, "copying %u%%",
			 (unsigned)(done * 100 / total));
	else
		snprintf(out, len, "%s", ph ? ph : "-");
}

static bool is_verify_boot(json_t *j)
{
	const char *k = json_string_value(json_object_get(j, "kind"));

	return k && !strcmp(k, "verify-boot");
}

static void print_row(json_t *j)
{
	char created[32], nw[32], vm[160];
	const char *cons = json_string_value(json_object_get(j, "consistency"));
	const char *code = json_string_value(json_object_get(j, "code"));

	when(json_object_get(j, "created"), created, sizeof(created));
	sp_format_bytes(
	    (uint64_t)json_integer_value(json_object_get(j, "bytes_new")), nw,
	    sizeof(nw));
	snprintf(vm, sizeof(vm), "%s%s",
		 json_string_value(json_object_get(j, "vm")),
		 is_copy(j)	     ? " [copy]"
		 : is_instant(j)     ? " [instant]"
		 : is_verify_boot(j) ? " [verify-boot]"
				     : "");
	if (is_instant(j) && !code)
		instant_progress(j, nw, sizeof(nw));
	printf("%-6lld %-20s %-19s %-23s %-12s %s\n",
	       (long long)json_integer_value(json_object_get(j, "id")), vm,
	       created, status_text(j), cons ? cons : "-", code ? code : nw);
}

static void print_job(json_t *j)
{
	char a[32], b[32], c[32], rd[32], nw[32];
	const char *s;

	when(json_object_get(j, "created"), a, sizeof(a));
	when(json_object_get(j, "started"), b, sizeof(b));
	when(json_object_get(j, "ended"), c, sizeof(c));
	sp_format_bytes(
	    (uint64_t)json_integer_value(json_object_get(j, "bytes_read")), rd,
	    sizeof(rd));
	sp_format_bytes(
	    (uint64_t)json_integer_value(json_object_get(j, "bytes_new")), nw,
	    sizeof(nw));
	if (is_instant(j))
		printf("job %lld: instant recovery of %s as %s (%s)\n",
		       (long long)json_integer_value(json_object_get(j, "id")),
		       json_string_value(json_object_get(j, "source")),
		       json_string_value(json_object_get(j, "vm")),
		       json_string_value(json_object_get(j, "trigger")));
	else if (is_copy(j))
		printf("job %lld: copy of %s@%s to %s (%s)\n",
		       (long long)json_integer_value(json_object_get(j, "id")),
		       json_string_value(json_object_get(j, "vm")),
		       json_string_value(json_object_get(j, "point")),
		       json_string_value(json_object_get(j, "copy_to")),
		       json_string_value(json_object_get(j, "trigger")));
	else if (is_verify_boot(j))
		printf("job %lld: verify --boot of %s%s%s (%s)\n",
		       (long long)json_integer_value(json_object_get(j, "id")),
		       json_string_value(json_object_get(j, "vm")),
		       json_is_string(json_object_get(j, "point")) ? "@" : "",
		       json_is_string(json_object_get(j, "point"))
			   ? json_string_value(json_object_get(j, "point"))
			   : "",
		       json_string_value(json_object_get(j, "trigger")));
	else
		printf("job %lld: backup of %s (%s)\n",
		       (long long)json_integer_value(json_object_get(j, "id")),
		       json_string_value(json_object_get(j, "vm")),
		       json_string_value(json_object_get(j, "trigger")));
	printf("    status       %s\n", status_text(j));
	if (is_verify_boot(j) && json_is_integer(json_object_get(j, "rto_ms")))
		printf("    rto          %lld ms (booted and probed)\n",
		       (long long)json_integer_value(
			   json_object_get(j, "rto_ms")));
	if (json_is_true(json_object_get(j, "process_gone")))
		printf(
		    "    its process (pid %lld) is gone: the job is failed "
		    "as Interrupted by the next backup command (its own "
		    "jobs) or by stillpointd (the daemon's)\n",
		    (long long)json_integer_value(json_object_get(j, "pid")));
	printf(
	    "    created      %s\n    started      %s\n    ended        %s\n",
	    a, b, c);
	if (is_instant(j)) {
		char pr[64], cd[32], ct[32];
		json_t *cp = json_object_get(j, "copy");

		instant_progress(j, pr, sizeof(pr));
		sp_format_bytes(
		    (uint64_t)json_integer_value(json_object_get(cp, "done")),
		    cd, sizeof(cd));
		sp_format_bytes(
		    (uint64_t)json_integer_value(json_object_get(cp, "total")),
		    ct, sizeof(ct));
		printf("    phase        %s\n", pr);
		if (json_is_integer(json_object_get(j, "rto_ms")))
			printf(
			    "    RTO          %.1f s (command to guest agent "
			    "answer)\n",
			    (double)json_integer_value(
				json_object_get(j, "rto_ms")) /
				1000.0);
		if (cp)
			printf("    copied       %s of %s\n", cd, ct);
		if (json_is_integer(json_object_get(j, "copy_ms")))
			printf("    copy took    %.1f s\n",
			       (double)json_integer_value(
				   json_object_get(j, "copy_ms")) /
				   1000.0);
		size_t k;
		json_t *d;
		json_array_foreach(json_object_get(j, "disks"), k, d) printf(
		    "    disk %-7s %s%s\n",
		    json_string_value(json_object_get(d, "target")),
		    json_string_value(json_object_get(d, "path")),
		    json_is_true(json_object_get(d, "pivoted")) ? " (pivoted)"
								: "");
		if ((s = json_string_value(json_object_get(j, "log"))))
			printf("    log          %s\n", s);
	} else if (json_object_get(j, "phases") && is_copy(j))
		printf("    Transfer chunks to the copy target %.1f s\n"
		       "    Publish                            %.1f s\n",
		       phase_s(j, "transfer"), phase_s(j, "publish"));
	else if (json_object_get(j, "phases"))
		printf("    Take Snapshot          %.1f s\n"
		       "    Transfer data to vault %.1f s\n",
		       phase_s(j, "snapshot"), phase_s(j, "transfer"));
	if ((s = json_string_value(json_object_get(j, "consistency"))))
		printf("    consistency  %s\n", s);
	if (json_is_integer(json_object_get(j, "freeze_ms")))
		printf("    frozen       %lld ms\n",
		       (long long)json_integer_value(
			   json_object_get(j, "freeze_ms")));
	if (json_object_get(j, "bytes_read"))
		printf("    read %s, new chunks %s\n", rd, nw);
	if ((s = json_string_value(json_object_get(j, "point"))))
		printf("    point        %s@%s\n",
		       json_string_value(json_object_get(
			   j, is_instant(j) ? "point_name" : "vm")),
		       s);
	if ((s = json_string_value(json_object_get(j, "code")))) {
		printf("    error        %s (SP%lld)\n", s,
		       (long long)json_integer_value(
			   json_object_get(j, "number")));
		printf("    message      %s\n",
		       json_string_value(json_object_get(j, "message")));
		printf("    action       %s\n",
		       json_string_value(json_object_get(j, "action")));
	} else if ((s = json_string_value(json_object_get(j, "action")))) {
		printf("    action       %s\n", s);
	}
	size_t i;
	json_t *w;
	json_array_foreach(json_object_get(j, "warnings"), i, w)
	    printf("    warning      %s\n", json_string_value(w));
}

int cmd_jobs(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"vm", required_argument, NULL, 'v'},
	    {"status", required_argument, NULL, 's'},
	    {"since", required_argument, NULL, 'S'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *vm = NULL, *status = NULL;
	struct sp_state *st = NULL;
	struct sp_error err = {0};
	int64_t since = 0;
	json_t *list = NULL, *j;
	size_t i;
	int c, r;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'v':
			vm = optarg;
			break;
		case 's':
			status = optarg;
			break;
		case 'S':
			if (!parse_since(optarg, &since))
				return cli_usage_error(
				    "jobs",
				    "--since wants 24h, 7d or YYYY-MM-DD, not "
				    "'%s'",
				    optarg);
			break;
		case 'h':
			fputs(jobs_help, stdout);
			return 0;
		default:
			return cli_usage_error("jobs", "unknown option");
		}
	}
	if (optind < argc)
		return cli_usage_error("jobs", "unexpected argument '%s'",
				       argv[optind]);
	r = sp_state_open(NULL, &st, &err);
	if (r == 0)
		r = sp_state_jobs_list(st, vm, status, since, &list, &err);
	sp_state_close(st);
	if (r < 0)
		return cli_fail(cli, &err);
	json_array_foreach(list, i, j) mark_gone(j);
	if (cli->json) {
		cli_print_json(list);
		return 0;
	}
	printf("%-6s %-20s %-19s %-23s %-12s %s\n", "ID", "VM", "CREATED",
	       "STATUS", "CONSISTENCY", "NEW / ERROR");
	json_array_foreach(list, i, j) print_row(j);
	json_decref(list);
	return 0;
}

int cli_job_cancel(struct sp_state *st, int64_t id, pid_t *signalled,
		   struct sp_error *err)
{
	pid_t pid = 0;
	int r = sp_state_job_cancel(st, id, &pid, err);

	if (signalled)
		*signalled = r == 0 ? pid : 0;

	/* In progress: the job stops itself (ends its backup job, deletes
	 * its checkpoint, publishes nothing). */
	if (r == 0 && pid > 0 && kill(pid, SIGTERM) < 0 && errno != ESRCH)
		r = sp_error_set_errno(err, SP_E_INTERNAL, errno,
				       "cannot signal job %lld (pid %d)",
				       (long long)id, (int)pid);
	return r;
}

int cmd_job(struct cli *cli, int argc, char **argv)
{
	struct sp_state *st = NULL;
	struct sp_error err = {0};
	bool cancel = false;
	json_t *j = NULL;
	pid_t pid = 0;
	const char *idtxt;
	char *end;
	long long id;
	int r;

	if (cli_wants_help(argc, argv)) {
		fputs(jobs_help, stdout);
		return 0;
	}
	if (argc == 3 && !strcmp(argv[1], "cancel")) {
		cancel = true;
		idtxt = argv[2];
	} else if (argc == 2) {
		idtxt = argv[1];
	} else {
		return cli_usage_error("job", "expected ID or 'cancel ID'");
	}
	id = strtoll(idtxt, &end, 10);
	if (*end || id <= 0)
		return cli_usage_error("job", "a job id is a number, not '%s'",
				       idtxt);
	r = sp_state_open(NULL, &st, &err);
	if (r == 0)
		r = sp_state_job_get(st, id, &j, &err);
	if (r == 0 && cancel)
		r = cli_job_cancel(st, id, &pid, &err);
	if (r == 0 && cancel) {
		/* The record as the cancel left it. */
		json_decref(j);
		j = NULL;
		r = sp_state_job_get(st, id, &j, &err);
	}
	sp_state_close(st);
	if (r < 0) {
		json_decref(j);
		return cli_fail(cli, &err);
	}
	if (cancel && cli->json) {
		json_object_set_new(
		    j, "cancel", json_string(pid ? "requested" : "cancelled"));
		cli_print_json(j);
		return 0;
	}
	if (cancel) {
		if (!cli->quiet)
			printf("job %lld: %s\n", id,
			       pid ? "cancel requested" : "cancelled");
		json_decref(j);
		return 0;
	}
	mark_gone(j);
	if (cli->json) {
		cli_print_json(j);
		return 0;
	}
	print_job(j);
	json_decref(j);
	return 0;
}

// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * `stillpoint policy`, `protect`, `unprotect`, `protected`: schedules with
 * retention, and the VMs they protect (include/stillpoint/state.h).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <stillpoint/state.h>

#include "cli.h"

static const char policy_help[] =
    "NAME\n"
    "    stillpoint policy - backup schedules and retention\n"
    "\n"
    "SYNOPSIS\n"
    "    stillpoint policy create NAME --schedule SPEC [--window HH:MM-HH:MM]\n"
    "               [--tz ZONE] [--keep-last N] [--keep-daily N]\n"
    "               [--keep-weekly N] [--keep-monthly N] [--keep-yearly N]\n"
    "               [--soft-delete-days N] [--copy-to VAULT]\n"
    "               [--verify-boot daily|weekly|monthly|never]\n"
    "               [--verify-probe CMD] [--json]\n"
    "    stillpoint policy edit NAME [the same options] [--no-copy-to]\n"
    "               [--json]\n"
    "    stillpoint policy edit NAME [the same options] [--json]\n"
    "    stillpoint policy list [--json]\n"
    "    stillpoint policy show NAME [--json]\n"
    "    stillpoint policy delete NAME [--json]\n"
    "\n"
    "DESCRIPTION\n"
    "    A policy says when protected VMs are backed up and which of their\n"
    "    points are kept.  stillpointd runs the backups; after each one the\n"
    "    points outside the retention rules are deleted softly (they stay\n"
    "    recoverable with 'stillpoint undelete' for --soft-delete-days).\n"
    "    The most recent point is never pruned.  A policy that protects\n"
    "    VMs cannot be deleted.\n"
    "\n"
    "    --copy-to VAULT names an offsite copy target (a vault made with\n"
    "    'stillpoint init': an absolute directory or s3://BUCKET[/PREFIX]):\n"
    "    after each backup of a VM of the policy, stillpointd copies the\n"
    "    new point there as a job of its own (kind \"copy\", phases\n"
    "    transfer and publish; see 'stillpoint copy').  --no-copy-to\n"
    "    (edit) removes it.\n"
    "\n"
    "    --verify-boot daily|weekly|monthly proves the VMs' points by\n"
    "    booting them: once a day, week (7 days) or month (30 days) per\n"
    "    VM, stillpointd boots the newest point of each VM of the policy\n"
    "    as a temporary, isolated domain (a job of kind \"verify-boot\",\n"
    "    'stillpoint verify --boot'), runs --verify-probe CMD in it\n"
    "    through the guest agent when given (exit 0 = the application\n"
    "    answers; an empty CMD removes it), records the result and RTO\n"
    "    beside the point ('stillpoint points') and removes the domain.\n"
    "    It starts only when the VM's next backup is at least 15 minutes\n"
    "    away.  never (the default) turns it off.\n"
    "\n"
    "SCHEDULES (local time of --tz, default the host's zone)\n"
    "    daily HH:MM[,HH:MM...]          e.g. 'daily 02:00,14:00'\n"
    "    weekly DAY[,DAY...] HH:MM       e.g. 'weekly sat,sun 03:30'\n"
    "    every Nh from HH:MM for Mh      e.g. 'every 4h from 08:00 for 12h'\n"
    "    every Nm from HH:MM for Mh      every N minutes (N >= 5) in a span\n"
    "    every Nh | every Nm             all day from 00:00, e.g. 'every 15m'\n"
    "    --window HH:MM-HH:MM spreads each VM's start inside the window.\n"
    "    A time that a DST change skips runs right after the gap; a time\n"
    "    that repeats runs once.  See docs/policies.md.\n"
    "\n"
    "RETENTION (GFS)\n"
    "    --keep-last N     the N newest points\n"
    "    --keep-daily N    the newest point of each of the last N days with\n"
    "                      points; likewise weekly (ISO weeks), monthly,\n"
    "                      yearly\n"
    "\n"
    "OUTPUT\n"
    "    With --json (also accepted before the command): create, edit and\n"
    "    show print the policy, list an array of them, delete {\"policy\",\n"
    "    \"deleted\": true}.\n"
    "\n"
    "ERRORS\n"
    "    PolicyNotFound, PolicyExists, PolicyInUse, UsageError, StateError.\n";

static const char protect_help[] =
    "NAME\n"
    "    stillpoint protect - bind a VM to a policy (enable backup)\n"
    "\n"
    "SYNOPSIS\n"
    "    stillpoint [--vault DIR] protect DOMAIN --policy NAME\n"
    "               [--require LEVEL] [--writers FILE] [--connect URI]\n"
    "               [--json]\n"
    "    stillpoint unprotect DOMAIN [--keep-points | --delete-points]\n"
    "               [--json]\n"
    "    stillpoint protected [--json]\n"
    "\n"
    "DESCRIPTION\n"
    "    protect binds DOMAIN to a policy and to the vault (--vault):\n"
    "    stillpointd backs it up on the policy's schedule from then on.\n"
    "    --require fails its jobs below that consistency; --writers names\n"
    "    its writer settings.  Protecting a protected VM again replaces\n"
    "    its binding.  unprotect stops its backups; its points stay\n"
    "    (--keep-points, the default) or are deleted softly\n"
    "    (--delete-points).  protected lists protected VMs with their last\n"
    "    backup, its consistency, and the next run.\n"
    "\n"
    "    With --json (also accepted before the command): protect prints\n"
    "    the protection, unprotect {\"vm\", \"protected\": false,\n"
    "    \"points\": \"kept\" or \"deleted\"}, protected an array of\n"
    "    protections with last_backup and next_run.\n"
    "\n"
    "ERRORS\n"
    "    PolicyNotFound, NotProtected, UsageError, StateError.\n";

struct policy_args {
	const char *schedule, *window, *tz;
	long keep[5]; /* last daily weekly monthly yearly; -1 unset */
	long soft_days;
	const char *copy_to;
	bool no_copy_to;
	const char *verify_boot; /* daily, weekly, monthly, never */
	const char *verify_probe;
};

static const char *const keep_names[] = {"last", "daily", "weekly", "monthly",
					 "yearly"};

static int parse_policy_args(int argc, char **argv, struct policy_args *a)
{
	static const struct option opts[] = {
	    {"schedule", required_argument, NULL, 's'},
	    {"window", required_argument, NULL, 'w'},
	    {"tz", required_argument, NULL, 'z'},
	    {"keep-last", required_argument, NULL, '0'},
	    {"keep-daily", required_argument, NULL, '1'},
	    {"keep-weekly", required_argument, NULL, '2'},
	    {"keep-monthly", required_argument, NULL, '3'},
	    {"keep-yearly", required_argument, NULL, '4'},
	    {"soft-delete-days", required_argument, NULL, 'd'},
	    {"copy-to", required_argument, NULL, 'c'},
	    {"no-copy-to", no_argument, NULL, 'C'},
	    {"verify-boot", required_argument, NULL, 'v'},
	    {"verify-probe", required_argument, NULL, 'P'},
	    {NULL, 0, NULL, 0},
	};
	int c;

	for (int i = 0; i < 5; i++)
		a->keep[i] = -1;
	a->soft_days = -1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		char *end;
		long n;
		switch (c) {
		case 's':
			a->schedule = optarg;
			break;
		case 'w':
			a->window = optarg;
			break;
		case 'z':
			a->tz = optarg;
			break;
		case 'c':
			a->copy_to = optarg;
			break;
		case 'C':
			a->no_copy_to = true;
			break;
		case 'v':
			if (strcmp(optarg, "daily") &&
			    strcmp(optarg, "weekly") &&
			    strcmp(optarg, "monthly") &&
			    strcmp(optarg, "never"))
				return cli_usage_error(
				    "policy",
				    "--verify-boot wants daily, weekly, "
				    "monthly or never, not '%s'",
				    optarg);
			a->verify_boot = optarg;
			break;
		case 'P':
			a->verify_probe = optarg;
			break;
		case '0':
		case '1':
		case '2':
		case '3':
		case '4':
		case 'd':
			n = strtol(optarg, &end, 10);
			if (*end || n < 0 || n > 100000)
				return cli_usage_error(
				    "policy", "'%s' wants a count, not '%s'",
				    argv[optind - 1], optarg);
			if (c == 'd')
				a->soft_days = n;
			else
				a->keep[c - '0'] = n;
			break;
		default:
			return cli_usage_error("policy", "unknown option");
		}
	}
	return 0;
}

/* Apply @a onto @p (a policy document). */
static void apply(json_t *p, const struct policy_args *a)
{
	json_t *keep = json_object_get(p, "keep");

	if (!keep) {
		keep = json_object();
		json_object_set_new(p, "keep", keep);
	}
	if (a->schedule)
		json_object_set_new(p, "schedule", json_string(a->schedule));
	if (a->window)
		json_object_set_new(p, "window", json_string(a->window));
	if (a->tz)
		json_object_set_new(p, "tz", json_string(a->tz));
	for (int i = 0; i < 5; i++) {
		if (a->keep[i] >= 0)
			json_object_set_new(keep, keep_names[i],
					    json_integer(a->keep[i]));
		else if (!json_object_get(keep, keep_names[i]))
			json_object_set_new(keep, keep_names[i],
					    json_integer(0));
	}
	if (a->copy_to) {
		/* The daemon runs elsewhere: a directory is kept absolute. */
		char *abs =
		    strncmp(a->copy_to, "s3://", 5) && a->copy_to[0] != '/'
			? realpath(a->copy_to, NULL)
			: NULL;
		json_object_set_new(p, "copy_to",
				    json_string(abs ? abs : a->copy_to));
		free(abs);
	}
	if (a->no_copy_to)
		json_object_del(p, "copy_to");
	if (a->verify_boot && !strcmp(a->verify_boot, "never"))
		json_object_del(p, "verify_boot");
	else if (a->verify_boot)
		json_object_set_new(p, "verify_boot",
				    json_string(a->verify_boot));
	if (a->verify_probe && !*a->verify_probe)
		json_object_del(p, "verify_probe");
	else if (a->verify_probe)
		json_object_set_new(p, "verify_probe",
				    json_string(a->verify_probe));
	if (a->soft_days >= 0)
		json_object_set_new(p, "soft_delete_days",
				    json_integer(a->soft_days));
	else if (!json_object_get(p, "soft_delete_days"))
		json_object_set_new(p, "soft_delete_days",
				    json_integer(SP_TRASH_RETAIN_DAYS));
}

static void print_policy(json_t *p)
{
	json_t *k = json_object_get(p, "keep");
	const char *w = json_string_value(json_object_get(p, "window"));
	const char *tz = json_string_value(json_object_get(p, "tz"));
	const char *to = json_string_value(json_object_get(p, "copy_to"));
	const char *vb = json_string_value(json_object_get(p, "verify_boot"));

	printf("%-16s %s%s%s%s%s  keep last %lld daily %lld weekly %lld "
	       "monthly %lld yearly %lld  soft-delete %lld days%s%s%s%s\n",
	       json_string_value(json_object_get(p, "name")),
	       json_string_value(json_object_get(p, "schedule")),
	       w ? " window " : "", w ? w : "", tz ? " tz " : "", tz ? tz : "",
	       (long long)json_integer_value(json_object_get(k, "last")),
	       (long long)json_integer_value(json_object_get(k, "daily")),
	       (long long)json_integer_value(json_object_get(k, "weekly")),
	       (long long)json_integer_value(json_object_get(k, "monthly")),
	       (long long)json_integer_value(json_object_get(k, "yearly")),
	       (long long)json_integer_value(
		   json_object_get(p, "soft_delete_days")),
	       to ? "  copy to " : "", to ? to : "", vb ? "  verify-boot " : "",
	       vb ? vb : "");
}

int cmd_policy(struct cli *cli, int argc, char **argv)
{
	struct sp_state *s = NULL;
	struct sp_error err = {0};
	struct policy_args a = {0};
	const char *verb, *name = NULL;
	json_t *p = NULL;
	int r;

	if (cli_wants_help(argc, argv)) {
		fputs(policy_help, stdout);
		return 0;
	}
	if (argc < 2)
		return cli_usage_error("policy",
				       "expected create, edit, list, show or "
				       "delete");
	verb = argv[1];
	if (strcmp(verb, "list") != 0) {
		if (argc < 3)
			return cli_usage_error(
			    "policy", "'policy %s' needs a NAME", verb);
		name = argv[2];
	}
	if (!strcmp(verb, "create") || !strcmp(verb, "edit")) {
		optind = 1;
		r = parse_policy_args(argc - 2, argv + 2, &a);
		if (r)
			return r;
		if (optind < argc - 2)
			return cli_usage_error("policy",
					       "unexpected argument '%s'",
					       argv[optind + 2]);
		if (!strcmp(verb, "create") && !a.schedule)
			return cli_usage_error(
			    "policy", "'policy create' needs --schedule");
	} else if (argc > (name ? 3 : 2)) {
		return cli_usage_error("policy", "unexpected argument '%s'",
				       argv[name ? 3 : 2]);
	}
	r = sp_state_open(NULL, &s, &err);
	if (r < 0)
		return cli_fail(cli, &err);
	if (!strcmp(verb, "create") || !strcmp(verb, "edit")) {
		bool create = !strcmp(verb, "create");
		if (create) {
			p = json_pack("{s:s}", "name", name);
		} else {
			r = sp_state_policy_get(s, name, &p, &err);
		}
		if (r == 0) {
			apply(p, &a);
			r = sp_policy_check(p, &err);
		}
		if (r == 0 && create && !sp_name_is_valid(name))
			r = sp_error_set(&err, SP_E_NAME_INVALID,
					 "invalid policy name '%s' (letters, "
					 "digits, '.', '_', '-')",
					 name);
		if (r == 0)
			r = sp_state_policy_put(s, p, create, &err);
	} else if (!strcmp(verb, "show")) {
		r = sp_state_policy_get(s, name, &p, &err);
	} else if (!strcmp(verb, "list")) {
		r = sp_state_policy_list(s, &p, &err);
	} else if (!strcmp(verb, "delete")) {
		r = sp_state_policy_delete(s, name, &err);
	} else {
		sp_state_close(s);
		return cli_usage_error("policy", "unknown verb '%s'", verb);
	}
	sp_state_close(s);
	if (r < 0) {
		json_decref(p);
		return cli_fail(cli, &err);
	}
	if (cli->json) {
		cli_print_json(
		    p ? p
		      : json_pack("{s:s, s:b}", "policy", name, "deleted", 1));
		return 0;
	}
	if (json_is_array(p)) {
		size_t i;
		json_t *x;
		json_array_foreach(p, i, x) print_policy(x);
	} else if (p) {
		print_policy(p);
	} else if (!cli->quiet) {
		printf("policy %s deleted\n", name);
	}
	json_decref(p);
	return 0;
}

int cmd_protect(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"policy", required_argument, NULL, 'p'},
	    {"require", required_argument, NULL, 'r'},
	    {"writers", required_argument, NULL, 'w'},
	    {"connect", required_argument, NULL, 'C'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *policy = NULL, *require = NULL, *writers = NULL,
		   *uri = NULL;
	struct sp_state *s = NULL;
	struct sp_error err = {0};
	char *vault_abs = NULL;
	json_t *prot;
	int c, r;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			policy = optarg;
			break;
		case 'r':
			require = optarg;
			break;
		case 'w':
			writers = optarg;
			break;
		case 'C':
			uri = optarg;
			break;
		case 'h':
			fputs(protect_help, stdout);
			return 0;
		default:
			return cli_usage_error("protect", "unknown option");
		}
	}
	if (optind + 1 != argc || !policy)
		return cli_usage_error("protect",
				       "expected DOMAIN and --policy NAME");
	if (require && strcmp(require, "application") &&
	    strcmp(require, "file-system") && strcmp(require, "crash"))
		return cli_usage_error("protect",
				       "--require wants application, "
				       "file-system or crash, not '%s'",
				       require);
	if (!strncmp(cli->vault, "s3://", 5)) {
		/* A bucket is named by its location: check it is a vault
		 * (and that the credentials work) now, not at 2 a.m. */
		struct sp_vault *v = NULL;
		if (sp_vault_open(cli->vault, &v, &err) < 0)
			return cli_fail(cli, &err);
		sp_vault_close(v);
		vault_abs = strdup(cli->vault);
	} else {
		vault_abs = realpath(cli->vault, NULL);
	}
	if (!vault_abs) {
		sp_error_set(&err, SP_E_VAULT_NOT_FOUND,
			     "vault '%s' does not exist (create it with "
			     "'stillpoint --vault %s init')",
			     cli->vault, cli->vault);
		return cli_fail(cli, &err);
	}
	prot = json_pack("{s:s, s:s, s:s, s:s?, s:s?, s:s?}", "vm",
			 argv[optind], "policy", policy, "vault", vault_abs,
			 "uri", uri, "require", require, "writers", writers);
	free(vault_abs);
	r = sp_state_open(NULL, &s, &err);
	if (r == 0)
		r = sp_state_protect(s, prot, &err);
	sp_state_close(s);
	if (r < 0) {
		json_decref(prot);
		return cli_fail(cli, &err);
	}
	if (cli->json)
		cli_print_json(prot);
	else {
		if (!cli->quiet)
			printf("%s protected by policy %s\n", argv[optind],
			       policy);
		json_decref(prot);
	}
	return 0;
}

int cmd_unprotect(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"keep-points", no_argument, NULL, 'k'},
	    {"delete-points", no_argument, NULL, 'd'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct sp_state *s = NULL;
	struct sp_error err = {0};
	json_t *prot = NULL;
	bool del = false;
	int c, r;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'k':
			del = false;
			break;
		case 'd':
			del = true;
			break;
		case 'h':
			fputs(protect_help, stdout);
			return 0;
		default:
			return cli_usage_error("unprotect", "unknown option");
		}
	}
	if (optind + 1 != argc)
		return cli_usage_error("unprotect", "expected one DOMAIN");
	r = sp_state_open(NULL, &s, &err);
	if (r == 0)
		r = sp_state_protection_get(s, argv[optind], &prot, &err);
	if (r == 0 && del)
		r = sp_vault_delete_points_at(
		    json_string_value(json_object_get(prot, "vault")),
		    argv[optind], "unprotected with --delete-points", &err);
	if (r == 0)
		r = sp_state_unprotect(s, argv[optind], &err);
	sp_state_close(s);
	json_decref(prot);
	if (r < 0)
		return cli_fail(cli, &err);
	if (cli->json)
		cli_print_json(json_pack("{s:s, s:b, s:s}", "vm", argv[optind],
					 "protected", 0, "points",
					 del ? "deleted" : "kept"));
	else if (!cli->quiet)
		printf("%s unprotected%s\n", argv[optind],
		       del ? "; its points were deleted softly" : "");
	return 0;
}

int cmd_protected(struct cli *cli, int argc, char **argv)
{
	struct sp_state *s = NULL;
	struct sp_error err = {0};
	json_t *list = NULL, *p;
	size_t i;
	int r;

	if (cli_wants_help(argc, argv)) {
		fputs(protect_help, stdout);
		return 0;
	}
	if (argc > 1)
		return cli_usage_error("protected", "unexpected argument '%s'",
				       argv[1]);
	r = sp_state_open(NULL, &s, &err);
	if (r == 0)
		r = sp_state_protected_list(s, &list, &err);
	if (r == 0)
		json_array_foreach(list, i, p)
		{
			json_t *jobs = NULL;
			const char *vm =
			    json_string_value(json_object_get(p, "vm"));
			int64_t next = 0;
			if (sp_state_jobs_list(s, vm, NULL, 0, &jobs, &err) ==
			    0) {
				size_t k;
				json_t *jb;
				json_array_foreach(jobs, k, jb)
				{
					const char *st = json_string_value(
					    json_object_get(jb, "status"));
					const char *kind = json_string_value(
					    json_object_get(jb, "kind"));
					/* a copy or a boot verification is
					 * no backup */
					if (kind && strcmp(kind, "backup"))
						continue;
					if (st &&
					    !strncmp(st, "completed", 9)) {
						json_object_set(
						    p, "last_backup", jb);
						break;
					}
				}
				json_decref(jobs);
			}
			if (sp_policy_next_run(s, vm, (int64_t)time(NULL),
					       &next, &err) == 0)
				json_object_set_new(p, "next_run",
						    json_integer(next));
		}
	sp_state_close(s);
	if (r < 0)
		return cli_fail(cli, &err);
	if (cli->json) {
		cli_print_json(list);
		return 0;
	}
	printf("%-20s %-14s %-22s %-12s %s\n", "VM", "POLICY", "LAST BACKUP",
	       "CONSISTENCY", "NEXT RUN");
	json_array_foreach(list, i, p)
	{
		json_t *lb = json_object_get(p, "last_backup");
		char last[32] = "never", nxt[32] = "-";
		time_t t;
		struct tm tm;
		if (lb) {
			t = (time_t)json_integer_value(
			    json_object_get(lb, "ended"));
			localtime_r(&t, &tm);
			strftime(last, sizeof(last), "%Y-%m-%d %H:%M", &tm);
		}
		if (json_object_get(p, "next_run")) {
			t = (time_t)json_integer_value(
			    json_object_get(p, "next_run"));
			localtime_r(&t, &tm);
			strftime(nxt, sizeof(nxt), "%Y-%m-%d %H:%M", &tm);
		}
		printf(
		    "%-20s %-14s %-22s %-12s %s\n",
		    json_string_value(json_object_get(p, "vm")),
		    json_string_value(json_object_get(p, "policy")), last,
		    lb ? json_string_value(json_object_get(lb, "consistency"))
		       : "-",
		    nxt);
	}
	json_decref(list);
	return 0;
}

static const char prune_help[] =
    "NAME\n"
    "    stillpoint prune - apply protected VMs' retention\n"
    "\n"
    "SYNOPSIS\n"
    "    stillpoint prune [DOMAIN] [--dry-run] [--json]\n"
    "\n"
    "DESCRIPTION\n"
    "    Applies the retention of each protected VM's policy (or only\n"
    "    DOMAIN's) to its points in its vault: points no rule keeps are\n"
    "    moved to the vault's trash, recoverable with 'stillpoint\n"
    "    undelete' for the policy's soft-delete days.  The most recent\n"
    "    point is never pruned.  stillpointd prunes after every backup.\n"
    "\n"
    "    --dry-run shows what would go and which rule keeps each point\n"
    "    that stays (last, daily, weekly, monthly, yearly, newest).\n"
    "    With --json (also accepted before the command): an array of\n"
    "    reports {vm, policy, dry_run, kept, deleted}.\n"
    "\n"
    "ERRORS\n"
    "    NotProtected, PolicyNotFound, VaultNotFound, StateError.\n";

int cmd_prune(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"dry-run", no_argument, NULL, 'n'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct sp_state *s = NULL;
	struct sp_error err = {0};
	json_t *list = NULL, *reports = json_array(), *p;
	bool dry = false;
	size_t i;
	int c, r;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			dry = true;
			break;
		case 'h':
			fputs(prune_help, stdout);
			json_decref(reports);
			return 0;
		default:
			json_decref(reports);
			return cli_usage_error("prune", "unknown option");
		}
	}
	if (optind + 1 < argc) {
		json_decref(reports);
		return cli_usage_error("prune", "unexpected argument '%s'",
				       argv[optind + 1]);
	}
	r = sp_state_open(NULL, &s, &err);
	if (r == 0 && optind < argc) {
		list = json_array();
		r = sp_state_protection_get(s, argv[optind], &p, &err);
		if (r == 0)
			json_array_append_new(list, p);
	} else if (r == 0) {
		r = sp_state_protected_list(s, &list, &err);
	}
	json_array_foreach(list, i, p)
	{
		json_t *rep = NULL;
		if (r < 0)
			break;
		r = sp_prune_vm(s, NULL,
				json_string_value(json_object_get(p, "vm")),
				dry, (int64_t)time(NULL), &rep, &err);
		if (r == 0)
			json_array_append_new(reports, rep);
	}
	sp_state_close(s);
	json_decref(list);
	if (r < 0) {
		json_decref(reports);
		return cli_fail(cli, &err);
	}
	if (cli->json) {
		cli_print_json(reports);
		return 0;
	}
	json_array_foreach(reports, i, p)
	{
		size_t k;
		json_t *e;
		printf("%s (policy %s)%s\n",
		       json_string_value(json_object_get(p, "vm")),
		       json_string_value(json_object_get(p, "policy")),
		       dry ? ": dry run, nothing deleted" : "");
		json_array_foreach(json_object_get(p, "kept"), k, e)
		    printf("    keep    %s  %s  (%s)\n",
			   json_string_value(json_object_get(e, "id")),
			   json_string_value(json_object_get(e, "time")),
			   json_string_value(json_object_get(e, "why")));
		json_array_foreach(json_object_get(p, "deleted"), k, e)
		    printf("    %s  %s  %s\n", dry ? "would go" : "deleted ",
			   json_string_value(json_object_get(e, "id")),
			   json_string_value(json_object_get(e, "time")));
		json_array_foreach(json_object_get(p, "locked"), k, e) printf(
		    "    locked  %s  %s  (object lock until %s; pruned "
		    "after that)\n",
		    json_string_value(json_object_get(e, "id")),
		    json_string_value(json_object_get(e, "time")),
		    json_string_value(json_object_get(e, "locked_until")));
		json_array_foreach(json_object_get(p, "unreadable"), k, e)
		    printf("    keep    %s  (unreadable: %s)\n",
			   json_string_value(json_object_get(e, "point")),
			   json_string_value(json_object_get(e, "error")));
	}
	json_decref(reports);
	return 0;
}

// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * `stillpoint delete`, `undelete`, `trash` and `gc`: soft deletion of
 * points and the garbage collector that reclaims their chunks.  The clock
 * of the trash is read here and nowhere else (STILLPOINT_NOW, for tests).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

/* Now, in UNIX seconds; STILLPOINT_NOW=<seconds> overrides it (tests of
 * expiry). */
static int64_t trash_now(void)
{
	const char *s = getenv("STILLPOINT_NOW");
	char *end;
	long long t;

	if (s && *s) {
		t = strtoll(s, &end, 10);
		if (!*end && t > 0)
			return (int64_t)t;
	}
	return (int64_t)time(NULL);
}

static const char *str(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "-";
}

static const char delete_help[] =
    "NAME\n"
    "    stillpoint delete - move a recovery point to the trash\n"
    "\n"
    "SYNOPSIS\n"
    "    stillpoint [--vault DIR] delete NAME@ID [--reason TEXT]\n"
    "        [--retain-days N] [--json]\n"
    "\n"
    "DESCRIPTION\n"
    "    Soft-deletes the point: it leaves the listings and can no longer\n"
    "    be restored, but stays whole in the vault's trash, with its\n"
    "    chunks, until it expires (N days, default 14).  'stillpoint\n"
    "    undelete NAME@ID' brings it back until then; 'stillpoint gc'\n"
    "    purges expired points and reclaims the chunks nothing else uses.\n"
    "    ID may be a unique prefix of the point's id.\n"
    "\n"
    "OPTIONS\n"
    "    --reason TEXT     why, recorded in the trash ('stillpoint trash')\n"
    "    --retain-days N   keep it in the trash N days (0: until the next\n"
    "                      gc)\n"
    "    --json            print the trash record as JSON (also accepted\n"
    "                      before the command)\n"
    "\n"
    "ERRORS\n"
    "    PointNotFound, PointAmbiguous, NameInvalid, UsageError.\n"
    "\n"
    "EXAMPLES\n"
    "    stillpoint delete web01@20261122T151804Z --reason 'bad patch'\n";

int cmd_delete(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"reason", required_argument, NULL, 'r'},
	    {"retain-days", required_argument, NULL, 'd'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *why = NULL;
	long days = SP_TRASH_RETAIN_DAYS;
	struct sp_vault *v = NULL;
	struct sp_error err = {0};
	json_t *m = NULL, *rec = NULL;
	char spec[200];
	char *end;
	int c, r;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			why = optarg;
			break;
		case 'd':
			days = strtol(optarg, &end, 10);
			if (*end || days < 0 || days > 36500)
				return cli_usage_error(
				    "delete",
				    "--retain-days wants 0 to 36500, not '%s'",
				    optarg);
			break;
		case 'h':
			fputs(delete_help, stdout);
			return 0;
		default:
			return cli_usage_error("delete", "unknown option");
		}
	}
	if (optind + 1 != argc)
		return cli_usage_error("delete", "expected one NAME@ID");
	if (!strchr(argv[optind], '@'))
		return cli_usage_error("delete",
				       "give the point as NAME@ID (see "
				       "'stillpoint points %s')",
				       argv[optind]);
	r = sp_vault_open(cli->vault, &v, &err);
	if (r == 0)
		r = sp_vault_find_point(v, argv[optind], &m, &err);
	if (r == 0) {
		snprintf(spec, sizeof(spec), "%s@%s", str(m, "name"),
			 str(m, "id"));
		r = sp_vault_point_trash(v, str(m, "name"), str(m, "id"), why,
					 (unsigned)days, trash_now(), &err);
	}
	if (r == 0)
		r = sp_vault_trash_find(v, spec, &rec, &err);
	sp_vault_close(v);
	json_decref(m);
	if (r < 0)
		return cli_fail(cli, &err);
	if (cli->json)
		cli_print_json(rec);
	else {
		if (!cli->quiet)
			printf("deleted %s (in the trash until %s; bring it "
			       "back with 'stillpoint undelete %s')\n",
			       spec, str(rec, "expires_at"), spec);
		json_decref(rec);
	}
	return 0;
}

static const char undelete_help[] =
    "NAME\n"
    "    stillpoint undelete - bring a point back from the trash\n"
    "\n"
    "SYNOPSIS\n"
    "    stillpoint [--vault DIR] undelete NAME@ID [--json]\n"
    "\n"
    "DESCRIPTION\n"
    "    Moves a deleted point back, whole, among the recovery points: it\n"
    "    is listed and restores again.  Possible until 'stillpoint gc'\n"
    "    purges it after it expired.  ID may be a unique prefix.\n"
    "    With --json (also accepted before the command): {name, id,\n"
    "    state}.\n"
    "\n"
    "ERRORS\n"
    "    PointNotFound (not in the trash: never deleted, or purged),\n"
    "    PointAmbiguous, PointExists, NameInvalid.\n";

int cmd_undelete(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct sp_vault *v = NULL;
	struct sp_error err = {0};
	json_t *rec = NULL;
	int c, r;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			fputs(undelete_help, stdout);
			return 0;
		default:
			return cli_usage_error("undelete", "unknown option");
		}
	}
	if (optind + 1 != argc)
		return cli_usage_error("undelete", "expected one NAME@ID");
	r = sp_vault_open(cli->vault, &v, &err);
	if (r == 0)
		r = sp_vault_trash_find(v, argv[optind], &rec, &err);
	if (r == 0)
		r = sp_vault_point_undelete(v, str(rec, "name"), str(rec, "id"),
					    &err);
	sp_vault_close(v);
	if (r < 0) {
		json_decref(rec);
		return cli_fail(cli, &err);
	}
	if (cli->json)
		cli_print_json(json_pack(
		    "{s:O, s:O, s:s}", "name", json_object_get(rec, "name"),
		    "id", json_object_get(rec, "id"), "state", "restored"));
	else if (!cli->quiet)
		printf("undeleted %s@%s\n", str(rec, "name"), str(rec, "id"));
	json_decref(rec);
	return 0;
}

static const char trash_help[] =
    "NAME\n"
    "    stillpoint trash - list deleted recovery points\n"
    "\n"
    "SYNOPSIS\n"
    "    stillpoint [--vault DIR] trash [--json]\n"
    "\n"
    "DESCRIPTION\n"
    "    Lists the points in the trash: when each was taken and deleted,\n"
    "    when it expires (then 'stillpoint gc' purges it) and why it was\n"
    "    deleted.  With --json (also accepted before the command): [{name,\n"
    "    id, time, consistency, disks, deleted_at, expires_at, why,\n"
    "    error}]; error is there when the entry cannot be read whole\n"
    "    (such an entry never expires: repair it, or remove it by hand).\n";

int cmd_trash(struct cli *cli, int argc, char **argv)
{
	struct sp_vault *v = NULL;
	struct sp_error err = {0};
	json_t *all = NULL, *e;
	size_t i;
	int r;

	for (int k = 1; k < argc; k++) {
		if (!strcmp(argv[k], "-h") || !strcmp(argv[k], "--help")) {
			fputs(trash_help, stdout);
			return 0;
		}
		return cli_usage_error("trash", "unexpected argument '%s'",
				       argv[k]);
	}
	r = sp_vault_open(cli->vault, &v, &err);
	if (r == 0)
		r = sp_vault_trash_list(v, &all, &err);
	sp_vault_close(v);
	if (r < 0)
		return cli_fail(cli, &err);
	if (cli->json) {
		cli_print_json(all);
		return 0;
	}
	if (json_array_size(all) == 0 && !cli->quiet)
		printf("the trash is empty\n");
	else
		printf("%-40s %-24s %-20s %-20s %s\n", "POINT", "TAKEN",
		       "DELETED", "EXPIRES", "WHY");
	json_array_foreach(all, i, e)
	{
		char point[140];
		snprintf(point, sizeof(point), "%s@%s", str(e, "name"),
			 str(e, "id"));
		printf("%-40s %-24s %-20s %-20s %s\n", point, str(e, "time"),
		       str(e, "deleted_at"), str(e, "expires_at"),
		       json_object_get(e, "error") ? str(e, "error")
						   : str(e, "why"));
	}
	json_decref(all);
	return 0;
}

static const char gc_help[] =
    "NAME\n"
    "    stillpoint gc - reclaim the space of chunks no point uses\n"
    "\n"
    "SYNOPSIS\n"
    "    stillpoint [--vault DIR] gc [--dry-run] [--json]\n"
    "\n"
    "DESCRIPTION\n"
    "    Purges the expired points of the trash, then collects garbage in\n"
    "    two steps, so that it never needs to stop backups:\n"
    "\n"
    "    1. mark: every chunk that no point, trashed point or running\n"
    "       backup references, and that is older than the run, becomes a\n"
    "       fossil (renamed chunks/XYZ/ID.fossil).  A backup that needs a\n"
    "       fossil renames it back and uses it.\n"
    "    2. sweep, in the next run: once every backup that was running\n"
    "       when the fossils were made is over, the fossils are read\n"
    "       against all points again; those still unreferenced are\n"
    "       deleted, the others resurrected.\n"
    "\n"
    "    So a chunk is deleted by the second gc that finds it unused.  A\n"
    "    run that finds the backups of the last run still going purges\n"
    "    the trash only, and says which backups it waits for.  Restore\n"
    "    and verify read a fossil as the chunk itself.  Only one gc runs\n"
    "    at a time.\n"
    "\n"
    "OPTIONS\n"
    "    --dry-run   change nothing; report what would be purged,\n"
    "                fossilized and deleted\n"
    "    --json      the report as JSON: trash_purged, trash_kept\n"
    "                (entries that cannot be read, kept), swept,\n"
    "                waiting_for, chunks, referenced, fossilized,\n"
    "                resurrected, deleted, bytes_freed, fossils_pending\n"
    "                (also accepted before the command)\n"
    "\n"
    "ERRORS\n"
    "    GcBusy (another gc runs), GcUnsafe (a point could not be read:\n"
    "    nothing was collected; run 'stillpoint verify'), Interrupted.\n";

static void print_gc(const json_t *rep)
{
	const bool dry = json_is_true(json_object_get(rep, "dry_run"));
	json_t *purged = json_object_get(rep, "trash_purged");
	json_t *waiting = json_object_get(rep, "waiting_for"), *val;
	char freed[32], fossil[32];
	size_t i;

#define N(k) ((unsigned long long)json_integer_value(json_object_get(rep, k)))
	sp_format_bytes(N("bytes_freed"), freed, sizeof(freed));
	sp_format_bytes(N("bytes_fossilized"), fossil, sizeof(fossil));
	printf("%strash: %zu expired point(s) %s\n", dry ? "(dry run) " : "",
	       json_array_size(purged), dry ? "to purge" : "purged");
	json_array_foreach(purged, i, val)
	    printf("  %s\n", json_string_value(val));
	json_array_foreach(json_object_get(rep, "trash_kept"), i, val)
	    printf("kept, cannot be read: %s: %s\n", str(val, "entry"),
		   str(val, "error"));
	if (json_array_size(waiting) > 0) {
		printf("waiting for %zu backup(s) that ran when the last "
		       "fossils were made:",
		       json_array_size(waiting));
		json_array_foreach(waiting, i, val)
		    printf(" %s", json_string_value(val));
		printf("\nrun gc again once they are over\n");
		return;
	}
	printf("chunks %llu, referenced %llu\n", N("chunks"), N("referenced"));
	printf("fossilized %llu (%s), resurrected %llu\n", N("fossilized"),
	       fossil, N("resurrected"));
	printf("deleted %llu, %s freed%s\n", N("deleted"), freed,
	       json_is_true(json_object_get(rep, "swept"))
		   ? ""
		   : " (no fossils of an earlier run to sweep)");
	printf("fossils pending %llu (deleted by the next gc unless a "
	       "backup needs them)\n",
	       N("fossils_pending"));
#undef N
}

int cmd_gc(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"dry-run", no_argument, NULL, 'n'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct sp_gc_opts o = {0};
	struct sp_vault *v = NULL;
	struct sp_error err = {0};
	json_t *rep = NULL;
	int c, r;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			o.dry_run = true;
			break;
		case 'h':
			fputs(gc_help, stdout);
			return 0;
		default:
			return cli_usage_error("gc", "unknown option");
		}
	}
	if (optind < argc)
		return cli_usage_error("gc", "unexpected argument '%s'",
				       argv[optind]);
	cli_job_opts(cli, &o.job);
	o.now = trash_now();
	r = sp_vault_open(cli->vault, &v, &err);
	if (r == 0)
		r = sp_gc_run(v, &o, &rep, &err);
	sp_vault_close(v);
	if (r < 0)
		return cli_fail(cli, &err);
	if (cli->json)
		cli_print_json(json_incref(rep));
	else if (!cli->quiet)
		print_gc(rep);
	json_decref(rep);
	return 0;
}

// SPDX-License-Identifier: LGPL-2.1-or-later
/* `stillpoint init`, `info`, `catalog` and `errors`: the vault itself. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli.h"

static const char init_help[] =
    "NAME\n"
    "    stillpoint init - create a vault\n"
    "\n"
    "SYNOPSIS\n"
    "    stillpoint [--vault DIR] init [--chunk-size SIZE] [--json]\n"
    "    stillpoint [--vault s3://BUCKET[/PREFIX]] init [--chunk-size SIZE]\n"
    "        [--object-lock DAYS [--lock-mode governance|compliance]]\n"
    "\n"
    "DESCRIPTION\n"
    "    Creates a vault in DIR (made if missing; it must be empty\n"
    "    otherwise).  DIR is made private to its owner (mode 0700, also\n"
    "    when it existed), as is everything the vault holds; 1 MiB is\n"
    "    set aside (DIR/reserve) so that delete and gc can still work\n"
    "    when the vault's file system is full.  The vault's layout is\n"
    "    documented in docs/vault-format.md.\n"
    "\n"
    "    With s3://BUCKET[/PREFIX] the vault is made in S3 object storage\n"
    "    (the bucket must exist; the prefix must hold nothing).  See\n"
    "    'stillpoint --help' for credentials and endpoints.\n"
    "\n"
    "OPTIONS\n"
    "    --chunk-size SIZE  size of the fixed chunks disks are cut into,\n"
    "                       a power of two from 64K to 16M (default 4M;\n"
    "                       see bench/README.md for why).  Fixed for the\n"
    "                       life of the vault.\n"
    "    --object-lock DAYS  (S3) lock every chunk and point object for\n"
    "                       DAYS days with S3 Object Lock: no one, not\n"
    "                       even with this host's credentials, can delete\n"
    "                       or overwrite it before then.  The bucket must\n"
    "                       have been created with object lock enabled.\n"
    "                       delete and prune refuse a point until its\n"
    "                       locked_until; gc keeps locked chunks.\n"
    "    --lock-mode MODE   governance (default: a user with the bypass\n"
    "                       permission may still delete) or compliance\n"
    "                       (nobody may, root account included)\n"
    "    --json             the vault's path and chunk size as JSON (also\n"
    "                       accepted before the command)\n"
    "\n"
    "ERRORS\n"
    "    VaultExists, NotAVault (a non-empty directory or prefix),\n"
    "    UsageError, VaultAuthFailed, VaultNotFound (no such bucket),\n"
    "    VaultUnreachable, VaultFeatureUnsupported (no object lock on the\n"
    "    bucket).\n";

int cmd_init(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"chunk-size", required_argument, NULL, 'c'},
	    {"object-lock", required_argument, NULL, 'L'},
	    {"lock-mode", required_argument, NULL, 'M'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	uint64_t chunk = SP_DEFAULT_CHUNK_SIZE;
	struct sp_vault_remote_opts ro = {0};
	struct sp_error err = {0};
	char *end;
	long days;
	int c;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			if (!sp_parse_size(optarg, &chunk) ||
			    chunk > UINT32_MAX)
				return cli_usage_error("init",
						       "invalid --chunk-size "
						       "'%s' (e.g. 1M, 4M)",
						       optarg);
			break;
		case 'L':
			days = strtol(optarg, &end, 10);
			if (*end || days < 1 || days > 36500)
				return cli_usage_error("init",
						       "--object-lock wants "
						       "1 to 36500 days, not "
						       "'%s'",
						       optarg);
			ro.object_lock_days = (unsigned)days;
			break;
		case 'M':
			if (!strcasecmp(optarg, "governance"))
				ro.lock_mode = "GOVERNANCE";
			else if (!strcasecmp(optarg, "compliance"))
				ro.lock_mode = "COMPLIANCE";
			else
				return cli_usage_error(
				    "init",
				    "--lock-mode is governance or "
				    "compliance, not '%s'",
				    optarg);
			break;
		case 'h':
			fputs(init_help, stdout);
			return 0;
		default:
			return cli_usage_error("init", "unknown option");
		}
	}
	if (optind < argc)
		return cli_usage_error("init", "unexpected argument '%s'",
				       argv[optind]);
	if (ro.lock_mode && !ro.object_lock_days)
		return cli_usage_error("init", "--lock-mode goes with "
					       "--object-lock DAYS");
	if (sp_vault_init_with(cli->vault, (uint32_t)chunk, &ro, &err) < 0)
		return cli_fail(cli, &err);
	if (cli->json)
		cli_print_json(json_pack("{s:s, s:I}", "vault", cli->vault,
					 "chunk_size", (json_int_t)chunk));
	else if (!cli->quiet)
		printf("created vault %s (chunk size %llu)\n", cli->vault,
		       (unsigned long long)chunk);
	return 0;
}

static const char info_help[] =
    "NAME\n"
    "    stillpoint info - show the vault's settings\n"
    "\n"
    "SYNOPSIS\n"
    "    stillpoint [--vault DIR] info [--json]\n"
    "\n"
    "DESCRIPTION\n"
    "    Prints the vault's path, id, format version and chunk size; with\n"
    "    --json (also accepted before the command) as one JSON object.\n";

int cmd_info(struct cli *cli, int argc, char **argv)
{
	struct sp_vault *v = NULL;
	struct sp_error err = {0};
	json_t *d;

	if (cli_wants_help(argc, argv)) {
		fputs(info_help, stdout);
		return 0;
	}
	if (argc > 1)
		return cli_usage_error("info", "unexpected argument '%s'",
				       argv[1]);
	if (sp_vault_open(cli->vault, &v, &err) < 0)
		return cli_fail(cli, &err);
	d = sp_vault_describe(v);
	sp_vault_close(v);
	if (cli->json) {
		cli_print_json(d);
		return 0;
	}
	const char *k;
	json_t *val;
	json_object_foreach(d, k, val)
	{
		if (json_is_string(val))
			printf("%-12s %s\n", k, json_string_value(val));
		else
			printf("%-12s %lld\n", k,
			       (long long)json_integer_value(val));
	}
	json_decref(d);
	return 0;
}

static const char catalog_help[] =
    "NAME\n"
    "    stillpoint catalog - maintain the vault's listing catalog\n"
    "\n"
    "SYNOPSIS\n"
    "    stillpoint [--vault DIR] catalog rebuild [--json]\n"
    "\n"
    "DESCRIPTION\n"
    "    The catalog (catalog.sqlite) only caches the points' manifests\n"
    "    for fast listing; 'rebuild' deletes it and reads every point's\n"
    "    manifest again.  Listing also repairs it on the fly.  With --json\n"
    "    (also accepted before the command): {\"vault\", \"catalog\":\n"
    "    \"rebuilt\"}.\n";

int cmd_catalog(struct cli *cli, int argc, char **argv)
{
	struct sp_vault *v = NULL;
	struct sp_error err = {0};
	int r;

	if (cli_wants_help(argc, argv)) {
		fputs(catalog_help, stdout);
		return 0;
	}
	if (argc != 2 || strcmp(argv[1], "rebuild") != 0)
		return cli_usage_error("catalog", "expected 'catalog rebuild'");
	if (sp_vault_open(cli->vault, &v, &err) < 0)
		return cli_fail(cli, &err);
	r = sp_vault_rebuild_catalog(v, &err);
	sp_vault_close(v);
	if (r < 0)
		return cli_fail(cli, &err);
	if (cli->json)
		cli_print_json(json_pack("{s:s, s:s}", "vault", cli->vault,
					 "catalog", "rebuilt"));
	else if (!cli->quiet)
		printf("catalog rebuilt\n");
	return 0;
}

static const char errors_help[] =
    "NAME\n"
    "    stillpoint errors - list the error catalogue\n"
    "\n"
    "SYNOPSIS\n"
    "    stillpoint errors [CODE] [--json]\n"
    "\n"
    "DESCRIPTION\n"
    "    Prints every stable error code (or the one named, by name or\n"
    "    number) with its meaning and the recommended action; with --json\n"
    "    (also accepted before the command) as an array of {code, number,\n"
    "    summary, action}.\n";

int cmd_errors(struct cli *cli, int argc, char **argv)
{
	const struct sp_errcode_info *e = sp_errcode_table();
	json_t *arr = json_array();
	const char *only = NULL;
	bool found = false;

	if (cli_wants_help(argc, argv)) {
		fputs(errors_help, stdout);
		json_decref(arr);
		return 0;
	}
	for (int i = 1; i < argc; i++) {
		if (!only && argv[i][0] != '-') {
			only = argv[i];
		} else {
			json_decref(arr);
			return cli_usage_error(
			    "errors", "unexpected argument '%s'", argv[i]);
		}
	}
	for (; e->name; e++) {
		char num[16];
		snprintf(num, sizeof(num), "%d", -e->code);
		if (only && strcasecmp(only, e->name) && strcmp(only, num) &&
		    (strncasecmp(only, "SP", 2) || strcmp(only + 2, num)))
			continue;
		found = true;
		if (cli->json)
			json_array_append_new(
			    arr,
			    json_pack("{s:s, s:i, s:s, s:s}", "code", e->name,
				      "number", -e->code, "summary", e->summary,
				      "action", e->action));
		else
			printf("SP%d %-24s %s\n        action: %s\n", -e->code,
			       e->name, e->summary, e->action);
	}
	if (only && !found) {
		json_decref(arr);
		return cli_usage_error("errors", "no error code '%s'", only);
	}
	if (cli->json)
		cli_print_json(arr);
	else
		json_decref(arr);
	return 0;
}

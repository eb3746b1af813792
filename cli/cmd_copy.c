// SPDX-License-Identifier: LGPL-2.1-or-later
/* `stillpoint copy`: recovery points copied into another vault. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stillpoint/state.h>

#include "cli.h"

static const char copy_help[] =
    "NAME\n"
    "    stillpoint copy - copy recovery points into another vault\n"
    "\n"
    "SYNOPSIS\n"
    "    stillpoint [--vault SRC] copy NAME[@ID] --to DST [--json]\n"
    "    stillpoint [--vault SRC] copy --all [NAME] --to DST [--json]\n"
    "\n"
    "DESCRIPTION\n"
    "    Copies recovery points of vault SRC (the global --vault) into\n"
    "    vault DST, an offsite copy: a directory or an S3 location\n"
    "    s3://BUCKET[/PREFIX], made with 'stillpoint init' and of the\n"
    "    same chunk size.  Either may be local or in S3.  NAME copies\n"
    "    VM NAME's newest point, NAME@ID that point (ID may be a unique\n"
    "    prefix), --all every point of every VM, --all NAME every point\n"
    "    of VM NAME; points are copied oldest first.\n"
    "\n"
    "    Only the chunks DST lacks travel.  When both vaults use plain\n"
    "    SHA-256 chunk ids, a chunk DST has is not even read from SRC;\n"
    "    when their ids differ (a vault with keyed ids), each chunk is\n"
    "    read, checked, given DST's id and stored unless DST has it.\n"
    "    Every chunk read is checked against its id before it is stored.\n"
    "    Between vaults with different keys each chunk is sealed anew\n"
    "    under DST's key; give DST's passphrase or key file with\n"
    "    --to-passphrase-file or --to-key-file, or in DST's own file.\n"
    "    A copy keeps the point's name and id and records where it came\n"
    "    from (\"copied_from\" in its manifest); a point DST has already\n"
    "    is skipped, and said so, so running the same copy again is\n"
    "    cheap.\n"
    "\n"
    "    A copy appears in DST only once it is whole.  A copy that is\n"
    "    interrupted or killed leaves no point in DST; run it again and\n"
    "    it sends only the chunks still missing.  The draft a killed\n"
    "    copy left is taken over by the rerun (S3) or removed as any\n"
    "    abandoned draft (directory).\n"
    "\n"
    "    S3 credentials and endpoint come from the environment\n"
    "    (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL,\n"
    "    AWS_REGION), for both vaults.\n"
    "\n"
    "OPTIONS\n"
    "    --to DST        the destination vault (required)\n"
    "    --all           every point (of VM NAME, if given)\n"
    "    --to-passphrase-file F\n"
    "                    open an encrypted DST with the passphrase in F\n"
    "                    (default: DST opens as SRC does, with\n"
    "                    $STILLPOINT_PASSPHRASE, $STILLPOINT_PASSPHRASE_FILE\n"
    "                    or --key-file, else with the key settings of\n"
    "                    DST's own file in $STILLPOINT_VAULTS_DIR, as the\n"
    "                    daemon's copy jobs do ('stillpoint --help',\n"
    "                    ENCRYPTED VAULTS); $STILLPOINT_TO_PASSPHRASE gives\n"
    "                    DST's passphrase itself)\n"
    "    --to-key-file F open an encrypted DST with key file F\n"
    "    --job-id N      run job N of the state database, queued by\n"
    "                    stillpointd for a policy's copy target, and\n"
    "                    record its phases and outcome there ('stillpoint\n"
    "                    jobs'); one point only\n"
    "    --threads N     chunks moved at once (default: twice the CPUs;\n"
    "                    S3 requests wait on the network, more helps)\n"
    "    --json          the report as JSON on stdout: per point the\n"
    "                    chunks read, reused (present in DST, not read),\n"
    "                    present (read, found in DST), new, the bytes,\n"
    "                    and each S3 store's request counts\n"
    "\n"
    "EXIT STATUS\n"
    "    0 when every selected point is in DST; 1 on failure (the points\n"
    "    copied before it stay, the one being copied does not appear);\n"
    "    2 on a usage error.  DST missing: VaultNotFound; not a vault:\n"
    "    NotAVault; the same vault as SRC or another chunk size:\n"
    "    UsageError.\n"
    "\n"
    "EXAMPLES\n"
    "    stillpoint --vault /srv/vault copy web01 --to s3://offsite/vault\n"
    "    stillpoint --vault /srv/vault copy --all --to /mnt/usb/vault\n"
    "    stillpoint --vault s3://offsite/vault copy web01@20261122T1518 \\\n"
    "        --to /srv/restore-vault\n";

static void print_entry(void *ctx, json_t *e)
{
	const struct cli *cli = ctx;
	const char *point = json_string_value(json_object_get(e, "point"));
	char nb[32], sb[32];

	if (cli->json || cli->quiet)
		return;
	cli_progress_done();
	if (!strcmp(json_string_value(json_object_get(e, "status")),
		    "exists")) {
		printf("%s: in the destination already, skipped\n", point);
		return;
	}
	sp_format_bytes(
	    (uint64_t)json_integer_value(json_object_get(e, "bytes_new")), nb,
	    sizeof(nb));
	sp_format_bytes(
	    (uint64_t)json_integer_value(json_object_get(e, "bytes_stored")),
	    sb, sizeof(sb));
	printf(
	    "%s: copied, %lld chunk(s): %lld new (%s, %s stored), "
	    "%lld reused, %lld read, %lld zero\n",
	    point, (long long)json_integer_value(json_object_get(e, "chunks")),
	    (long long)json_integer_value(json_object_get(e, "chunks_new")), nb,
	    sb,
	    (long long)json_integer_value(json_object_get(e, "chunks_reused")) +
		(long long)json_integer_value(
		    json_object_get(e, "chunks_present")),
	    (long long)json_integer_value(json_object_get(e, "chunks_read")),
	    (long long)json_integer_value(json_object_get(e, "chunks_zero")));
	fflush(stdout);
}

/* The outcome of job @id: the copied point's phases and bytes, or the
 * failure @failure. */
static void record_job(struct sp_state *st, int64_t id, json_t *rep,
		       const struct sp_error *failure)
{
	json_t *e = json_array_get(json_object_get(rep, "points"), 0);
	json_t *m = NULL;
	struct sp_error err;
	const char *point;

	if (rep) {
		point = json_string_value(json_object_get(e, "point"));
		point = point && strchr(point, '@') ? strchr(point, '@') + 1
						    : point;
		m = json_pack("{s:s?, s:O?, s:O?, s:O?, s:O?, s:[]}", "id",
			      point, "consistency",
			      json_object_get(e, "consistency"), "phases",
			      json_object_get(e, "phases"), "bytes_read",
			      json_object_get(e, "bytes_read"), "bytes_new",
			      json_object_get(e, "bytes_new"), "warnings");
	}
	if (sp_state_job_finish(st, id, m, m ? NULL : failure, &err) < 0)
		fprintf(stderr,
			"stillpoint: warning: job %lld not recorded: %s\n",
			(long long)id, err.msg);
	json_decref(m);
}

/* The variables an encrypted vault is opened with (its passphrase or key
 * file): the destination's may differ from the source's. */
static const char *const key_vars[] = {"STILLPOINT_PASSPHRASE",
				       "STILLPOINT_PASSPHRASE_FILE",
				       "STILLPOINT_KEY_FILE"};
#define NKEY_VARS (sizeof(key_vars) / sizeof(key_vars[0]))

/* Open vault @to with the destination's key material, when given, in
 * place of the source's; the environment is put back after. */
static int open_dst(const char *to, const char *pass_file, const char *key_file,
		    struct sp_vault **ret, struct sp_error *err)
{
	const char *to_pass = getenv("STILLPOINT_TO_PASSPHRASE");
	char *saved[NKEY_VARS];
	int r;

	if (!pass_file && !key_file && !to_pass)
		return sp_vault_open(to, ret, err);
	for (size_t i = 0; i < NKEY_VARS; i++) {
		const char *v = getenv(key_vars[i]);
		saved[i] = v ? strdup(v) : NULL;
		unsetenv(key_vars[i]);
	}
	if (key_file)
		setenv("STILLPOINT_KEY_FILE", key_file, 1);
	else if (pass_file)
		setenv("STILLPOINT_PASSPHRASE_FILE", pass_file, 1);
	else
		setenv("STILLPOINT_PASSPHRASE", to_pass, 1);
	r = sp_vault_open(to, ret, err);
	for (size_t i = 0; i < NKEY_VARS; i++) {
		if (saved[i])
			setenv(key_vars[i], saved[i], 1);
		else
			unsetenv(key_vars[i]);
		free(saved[i]);
	}
	return r;
}

int cmd_copy(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"to", required_argument, NULL, 't'},
	    {"all", no_argument, NULL, 'a'},
	    {"threads", required_argument, NULL, 'T'},
	    {"job-id", required_argument, NULL, 'J'},
	    {"to-passphrase-file", required_argument, NULL, 'p'},
	    {"to-key-file", required_argument, NULL, 'k'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct sp_copy_opts o = {0};
	struct sp_vault *src = NULL, *dst = NULL;
	struct sp_error err = {0};
	const char *to = NULL;
	unsigned threads = 0;
	int64_t job_id = 0;
	const char *to_pass_file = NULL, *to_key_file = NULL;
	struct sp_state *st = NULL;
	json_t *rep = NULL;
	int c, r;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 't':
			to = optarg;
			break;
		case 'a':
			o.all = true;
			break;
		case 'T': {
			char *end;
			long n = strtol(optarg, &end, 10);
			if (*end || n < 1 || n > 64)
				return cli_usage_error(
				    "copy", "--threads wants 1 to 64, not '%s'",
				    optarg);
			threads = (unsigned)n;
			break;
		}
		case 'J': {
			char *end;
			job_id = strtoll(optarg, &end, 10);
			if (*end || job_id < 1)
				return cli_usage_error(
				    "copy",
				    "--job-id wants a job number, not "
				    "'%s'",
				    optarg);
			break;
		}
		case 'p':
			to_pass_file = optarg;
			break;
		case 'k':
			to_key_file = optarg;
			break;
		case 'h':
			fputs(copy_help, stdout);
			return 0;
		default:
			return cli_usage_error("copy", "unknown option");
		}
	}
	if (optind < argc)
		o.spec = argv[optind++];
	if (optind < argc)
		return cli_usage_error("copy", "unexpected argument '%s'",
				       argv[optind]);
	if (!to)
		return cli_usage_error("copy", "--to DST names the vault to "
					       "copy into");
	if (!o.spec && !o.all)
		return cli_usage_error("copy", "name a point (NAME[@ID]) or "
					       "give --all");
	if (o.all && o.spec && strchr(o.spec, '@'))
		return cli_usage_error("copy", "--all takes a VM's name, not "
					       "a point");
	if (job_id && (o.all || strchr(o.spec, '@') == NULL))
		return cli_usage_error("copy", "--job-id copies one point: "
					       "NAME@ID");
	if (job_id) {
		/* The job must still be ours (stillpointd claimed it for
		 * this process). */
		r = sp_state_open(NULL, &st, &err);
		if (r == 0)
			r = sp_state_job_claim(st, job_id, getpid(), &err);
		if (r < 0) {
			sp_state_close(st);
			return cli_fail(cli, &err);
		}
	}
	cli_job_opts(cli, &o.job);
	if (threads)
		o.job.threads = threads;
	o.on_point = print_entry;
	o.on_point_ctx = cli;
	r = sp_vault_open(cli->vault, &src, &err);
	if (r == 0) {
		r = open_dst(to, to_pass_file, to_key_file, &dst, &err);
		if (r < 0) {
			struct sp_error e = err;
			sp_error_set(&err, e.code, "copy destination: %s",
				     e.msg);
		}
	}
	if (r == 0)
		r = sp_copy_run(src, dst, &o, &rep, &err);
	sp_vault_close(dst);
	sp_vault_close(src);
	cli_progress_done();
	if (st) {
		record_job(st, job_id, r == 0 ? rep : NULL, &err);
		sp_state_close(st);
	}
	if (rep && cli->json)
		/* Also on failure: which points did get there. */
		cli_print_json(json_incref(rep));
	else if (rep && !cli->quiet && r == 0)
		printf("%lld point(s) copied, %lld already there\n",
		       (long long)json_integer_value(
			   json_object_get(rep, "copied")),
		       (long long)json_integer_value(
			   json_object_get(rep, "skipped")));
	json_decref(rep);
	if (r < 0)
		return cli_fail(cli, &err);
	return 0;
}

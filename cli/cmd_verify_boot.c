// SPDX-License-Identifier: LGPL-2.1-or-later
/* `stillpoint verify --boot`: prove a point by booting it. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <stillpoint/state.h>

#include "cli.h"

const char verify_boot_help[] =
    "NAME\n"
    "    stillpoint verify --boot - prove a point by booting it\n"
    "\n"
    "SYNOPSIS\n"
    "    stillpoint [--vault DIR] verify --boot NAME[@ID] [--probe CMD]\n"
    "               [--timeout SECONDS] [--connect URI] [--work-dir DIR]\n"
    "               [--json]\n"
    "    stillpoint verify --boot-cleanup [--json]\n"
    "\n"
    "DESCRIPTION\n"
    "    Boots point NAME@ID of a libvirt domain (NAME alone: its newest\n"
    "    point) at once, without restoring it, as a temporary domain that\n"
    "    cannot touch the original: the point's disks are served read-only\n"
    "    over NBD from the vault and each is put under a throwaway qcow2\n"
    "    overlay in a private scratch directory; the domain gets a new\n"
    "    name (sp-verify-NAME-ID8), a new UUID and no network interface at\n"
    "    all (no MAC, no bridge: it cannot answer for the original on\n"
    "    the network); host devices, shared file systems and host sockets\n"
    "    are removed, console files go to the scratch directory, the\n"
    "    point's UEFI NVRAM and TPM state are copies.  It is started\n"
    "    transient (never defined: a host restart leaves nothing) and no\n"
    "    checkpoint or bitmap is made.\n"
    "\n"
    "    Then waits for the guest agent (qemu-guest-agent must start at\n"
    "    boot) and runs the probe in the guest as /bin/sh -c CMD: exit 0\n"
    "    means the application answers.  Without --probe the agent\n"
    "    answering is the check.  Everything made is removed afterwards;\n"
    "    a run killed on the way (even kill -9) is cleaned up by the next\n"
    "    run or by the daemon when it starts, and --boot-cleanup does\n"
    "    only that.\n"
    "\n"
    "    The result is recorded beside the point (its verified.json, not\n"
    "    its manifest): time, passed or failed with the error's code, the\n"
    "    probe and its exit code, and the RTO, the milliseconds from the\n"
    "    request until the probe passed (boot_ms: until the agent\n"
    "    answered).  'stillpoint points' shows it as boot-verified.\n"
    "\n"
    "OPTIONS\n"
    "    --boot          boot the point to verify it\n"
    "    --probe CMD     run CMD in the guest (/bin/sh -c CMD); exit 0 =\n"
    "                    pass\n"
    "    --timeout SECONDS\n"
    "                    for the boot and the probe together (default\n"
    "                    600)\n"
    "    --connect URI   libvirt connection (default: $LIBVIRT_DEFAULT_URI,\n"
    "                    else qemu:///system)\n"
    "    --work-dir DIR  where the scratch directory is made (default:\n"
    "                    $STILLPOINT_TMPDIR, else /var/tmp); QEMU's user\n"
    "                    must be able to reach it\n"
    "    --boot-cleanup  only remove what killed runs left\n"
    "    --job-id N      run job N of the state database, queued by\n"
    "                    stillpointd (a policy's --verify-boot): its\n"
    "                    outcome, point and RTO are recorded in the job\n"
    "    --json          the result as JSON on stdout\n"
    "\n"
    "FILES\n"
    "    $STILLPOINT_STATE_DIR/verify-boot (default\n"
    "    /var/lib/stillpointd/verify-boot): what each run made, so that a\n"
    "    killed run is cleaned up.\n"
    "\n"
    "EXIT STATUS\n"
    "    0 when the point booted and the probe passed; 3 when it did not\n"
    "    (BootProbeFailed, BootTimeout, BootFailed: the result is\n"
    "    recorded); 1 when verify could not run; 2 on usage errors.\n";

/* The outcome of job @id: the point verified and its RTO, or the failure
 * @failure (with what the run found out, when it booted). */
static void record_job(struct sp_state *st, int64_t id, json_t *res,
		       const struct sp_error *failure)
{
	const char *point = json_string_value(json_object_get(res, "point"));
	json_t *m = NULL, *f;
	struct sp_error err;

	point = point && strchr(point, '@') ? strchr(point, '@') + 1 : point;
	if (!failure)
		m = json_pack("{s:s?, s:[]}", "id", point, "warnings");
	if (sp_state_job_finish(st, id, m, failure, &err) < 0)
		fprintf(stderr,
			"stillpoint: warning: job %lld not recorded: %s\n",
			(long long)id, err.msg);
	json_decref(m);
	f = json_pack("{s:s?, s:O?, s:O?, s:O?, s:O?, s:O?}", "point", point,
		      "passed", json_object_get(res, "passed"), "rto_ms",
		      json_object_get(res, "rto_ms"), "boot_ms",
		      json_object_get(res, "boot_ms"), "domain",
		      json_object_get(res, "domain"), "exit_code",
		      json_object_get(res, "exit_code"));
	if (f && res && sp_state_job_update(st, id, f, &err) < 0)
		fprintf(stderr,
			"stillpoint: warning: job %lld not recorded: %s\n",
			(long long)id, err.msg);
	json_decref(f);
}

static void print_result(json_t *res)
{
	json_t *c;
	size_t i;

	json_array_foreach(json_object_get(res, "cleaned"), i, c)
	    printf("cleaned up after killed run %lld: %lld thing(s) removed\n",
		   (long long)json_integer_value(json_object_get(c, "pid")),
		   (long long)json_array_size(json_object_get(c, "removed")));
	if (json_is_true(json_object_get(res, "passed")))
		printf("BOOT-VERIFIED %s as %s: rto %lld ms (agent after %lld "
		       "ms)%s%s\n",
		       json_string_value(json_object_get(res, "point")),
		       json_string_value(json_object_get(res, "domain")),
		       (long long)json_integer_value(
			   json_object_get(res, "rto_ms")),
		       (long long)json_integer_value(
			   json_object_get(res, "boot_ms")),
		       json_is_string(json_object_get(res, "probe"))
			   ? ", probe passed: "
			   : ", no probe",
		       json_is_string(json_object_get(res, "probe"))
			   ? json_string_value(json_object_get(res, "probe"))
			   : "");
	else if (json_is_string(json_object_get(res, "point")))
		printf("BOOT-FAILED %s: %s\n",
		       json_string_value(json_object_get(res, "point")),
		       json_is_string(json_object_get(res, "error"))
			   ? json_string_value(json_object_get(res, "error"))
			   : "?");
}

int cmd_verify_boot(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"boot", no_argument, NULL, 'b'},
	    {"boot-cleanup", no_argument, NULL, 'K'},
	    {"probe", required_argument, NULL, 'p'},
	    {"timeout", required_argument, NULL, 't'},
	    {"connect", required_argument, NULL, 'C'},
	    {"work-dir", required_argument, NULL, 'w'},
	    {"job-id", required_argument, NULL, 'J'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct sp_verify_boot_opts o = {0};
	struct sp_vault *v = NULL;
	struct sp_error err = {0};
	json_t *res = NULL;
	struct sp_state *st = NULL;
	bool cleanup_only = false;
	int64_t job_id = 0;
	char *end;
	long t;
	int c, r;

	optind = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'b':
			break;
		case 'K':
			cleanup_only = true;
			break;
		case 'p':
			if (!*optarg)
				return cli_usage_error("verify",
						       "--probe needs a "
						       "command");
			o.probe = optarg;
			break;
		case 't':
			t = strtol(optarg, &end, 10);
			if (*end || t <= 0 || t > 86400)
				return cli_usage_error(
				    "verify",
				    "--timeout '%s' is not a number of "
				    "seconds from 1 to 86400",
				    optarg);
			o.timeout_s = (unsigned)t;
			break;
		case 'C':
			o.uri = optarg;
			break;
		case 'w':
			o.work_dir = optarg;
			break;
		case 'J':
			job_id = strtoll(optarg, &end, 10);
			if (*end || job_id < 1)
				return cli_usage_error(
				    "verify",
				    "--job-id wants a job number, not '%s'",
				    optarg);
			break;
		case 'h':
			fputs(verify_boot_help, stdout);
			return 0;
		default:
			return cli_usage_error("verify", "unknown option");
		}
	}
	if (cleanup_only) {
		if (optind < argc)
			return cli_usage_error("verify",
					       "--boot-cleanup takes no point");
		r = sp_verify_boot_cleanup(NULL, &res, &err);
		if (r < 0)
			return cli_fail(cli, &err);
		if (cli->json)
			cli_print_json(res);
		else {
			printf("cleaned up after %zu killed run(s)\n",
			       json_array_size(res));
			json_decref(res);
		}
		return 0;
	}
	if (optind >= argc)
		return cli_usage_error("verify",
				       "--boot needs the point: NAME[@ID]");
	o.spec = argv[optind++];
	if (optind < argc)
		return cli_usage_error("verify", "unexpected argument '%s'",
				       argv[optind]);
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
	o.vault_path = cli->vault;
	cli_job_opts(cli, &o.job);
	r = sp_vault_open(cli->vault, &v, &err);
	if (r == 0)
		r = sp_verify_boot_run(v, &o, &res, &err);
	sp_vault_close(v);
	if (st) {
		record_job(st, job_id, res, r < 0 ? &err : NULL);
		sp_state_close(st);
	}
	if (res) {
		if (cli->json)
			cli_print_json(json_incref(res));
		else
			print_result(res);
		json_decref(res);
	}
	if (r < 0) {
		int rc = cli_fail(cli, &err);

		if (err.code == SP_E_BOOT_PROBE_FAILED ||
		    err.code == SP_E_BOOT_TIMEOUT ||
		    err.code == SP_E_BOOT_FAILED)
			return EXIT_DAMAGED;
		return rc;
	}
	return 0;
}

// SPDX-License-Identifier: LGPL-2.1-or-later
/* `stillpoint backup`: one recovery point of a VM's disks. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <time.h>
#include <unistd.h>

#include <stillpoint/state.h>

#include "cli.h"

static const char backup_help[] =
    "NAME\n"
    "    stillpoint backup - back up the disks of a VM as one recovery point\n"
    "\n"
    "SYNOPSIS\n"
    "    stillpoint [--vault DIR] backup DOMAIN [--connect URI]\n"
    "               [--writers FILE] [--require LEVEL] [--full]\n"
    "               [--pause-fallback | --no-pause-fallback]\n"
    "               [--check-transfer] [--json]\n"
    "    stillpoint [--vault DIR] backup --name NAME --disk PATH[:FORMAT]\n"
    "               [--disk PATH[:FORMAT] ...] [--format FORMAT]\n"
    "               [--config FILE] [--check-transfer] [--json]\n"
    "\n"
    "DESCRIPTION\n"
    "    With DOMAIN, backs up a libvirt domain (by name or UUID) as one\n"
    "    recovery point named after it: all its disks and its definition.\n"
    "    A running domain is captured at one still point in two phases:\n"
    "\n"
    "    Take Snapshot: the writers' pre steps run (scripts in the guest\n"
    "    through qemu-guest-agent, or on the host), the guest's file\n"
    "    systems are frozen, one libvirt backup job captures every disk at\n"
    "    the same instant and creates a checkpoint, the guest is thawed at\n"
    "    once and the writers' post steps run.  A watchdog process thaws\n"
    "    the guest by the freeze deadline (10 s) even if this command is\n"
    "    killed.\n"
    "\n"
    "    Any mix of qcow2 images, raw files and block devices is captured\n"
    "    in that one backup job.  Only qcow2 disks keep a dirty bitmap in\n"
    "    the checkpoint; raw files and block devices (of any format but\n"
    "    qcow2) are left out of it.\n"
    "\n"
    "    Transfer data to vault: the point-in-time exports are read over\n"
    "    NBD.  A qcow2 disk whose bitmap in the previous point's\n"
    "    checkpoint is usable has only the blocks changed since read\n"
    "    (dirty-bitmap); any other disk has all its allocated data read\n"
    "    and each chunk compared by hash with the vault, so only changed\n"
    "    chunks are stored (full-compare; full for a disk no earlier\n"
    "    point holds).  The summary, 'stillpoint points' and the\n"
    "    manifest (read_mode, read_reason) say how each disk was read and\n"
    "    why; an unexpected cause (checkpoint gone, disk resized) is also\n"
    "    a warning.\n"
    "\n"
    "    A UEFI domain's NVRAM (the <nvram> variable store) and an\n"
    "    emulated TPM's state (swtpm's files) are stored with the point,\n"
    "    whole, read right after the still point (each file twice, so a\n"
    "    file rewritten meanwhile is never stored torn); the firmware\n"
    "    code is named only.  A domain that never started has neither\n"
    "    yet: the point says so.\n"
    "\n"
    "    The point's consistency is application (every writer and the\n"
    "    freeze succeeded), file-system (the freeze succeeded, a writer\n"
    "    failed or none is configured) or crash (the domain is off or\n"
    "    paused, the guest agent does not answer, or the freeze failed);\n"
    "    'stillpoint points DOMAIN' shows why a point is lower.  Each run\n"
    "    is a job in 'stillpoint jobs'.  A paused\n"
    "    or shut-off domain is backed up crash-consistent.\n"
    "\n"
    "    With --name and --disk, reads every disk of a powered-off VM and\n"
    "    stores it in the vault\n"
    "    as one crash-consistent recovery point.  A disk is a raw image\n"
    "    file, a block device, or a qcow2 image (read through qemu-nbd;\n"
    "    backing chains are followed).  Holes and zero clusters are never\n"
    "    read; all-zero chunks are never stored.  Only chunks the vault\n"
    "    does not hold yet are compressed and written, yet every point is\n"
    "    logically full and restores on its own.\n"
    "\n"
    "    The point is published atomically once every chunk it needs is\n"
    "    on stable storage: an interrupted or failed backup leaves no\n"
    "    point (at most unreferenced chunks).\n"
    "\n"
    "OPTIONS\n"
    "    --connect URI   libvirt connection (default: $LIBVIRT_DEFAULT_URI,\n"
    "                    else qemu:///system)\n"
    "    --writers FILE  the VM's writer settings (default:\n"
    "                    /etc/stillpoint/writers/DOMAIN.json if present);\n"
    "                    see docs/writers.md.  The file must be owned by\n"
    "                    root and not writable by others.\n"
    "    --require LEVEL fail instead of degrading below LEVEL:\n"
    "                    application, file-system or crash (default: as\n"
    "                    the settings say, else never fail)\n"
    "    --pause-fallback, --no-pause-fallback\n"
    "                    without a guest agent, pause the domain for the\n"
    "                    snapshot instant (crash-consistent, stun time\n"
    "                    recorded) or not (default: as the settings say)\n"
    "    --full          read all data even when an incremental is\n"
    "                    possible (the checkpoint chain goes on)\n"
    "    --check-transfer\n"
    "                    proof over speed: before the point is published,\n"
    "                    read every slot that was transferred again from\n"
    "                    its source (the snapshot of a running domain)\n"
    "                    and compare it byte for byte with what the vault\n"
    "                    now holds; a difference fails the backup with\n"
    "                    TransferCheckFailed.  Costs a second read of the\n"
    "                    transferred data (bench/README.md)\n"
    "    --now           an ad-hoc backup: of a protected domain through\n"
    "                    stillpointd when it runs (the job waits its turn\n"
    "                    under its limits), else right here, as the\n"
    "                    daemon would run it: into the protection's vault,\n"
    "                    with its --connect, --writers and --require\n"
    "                    (those given here win)\n"
    "    --name NAME     the VM's name: letters, digits, '.', '_', '-'\n"
    "    --disk PATH[:FORMAT]\n"
    "                    a disk of the VM (repeat for each disk); disks\n"
    "                    are named in the point by their file name.\n"
    "                    FORMAT is raw or qcow2, as the VM uses the disk:\n"
    "                    it is never guessed from the disk's content (a\n"
    "                    guest can write anything into a raw disk).  An\n"
    "                    undeclared disk is read raw, and refused when it\n"
    "                    starts with a qcow2 header.  A qcow2 image's\n"
    "                    backing files are followed when each image\n"
    "                    records its backing file's format.\n"
    "    --format FORMAT the format of every --disk given without one\n"
    "    --config FILE   store the VM's definition (e.g. libvirt domain\n"
    "                    XML) with the point; restore writes it back\n"
    "\n"
    "OUTPUT\n"
    "    A summary line per point; with --json (also accepted before the\n"
    "    command) the point's manifest, or with --now the job's record.\n"
    "    Progress (bytes, rate, ETA) on stderr when it is a terminal.\n"
    "\n"
    "ERRORS\n"
    "    DomainNotFound, LibvirtFailed, DomainBusy, DomainStateInvalid,\n"
    "    SnapshotFailed, CheckpointRefused, ExportReadFailed,\n"
    "    ConsistencyNotReached,\n"
    "    WriterPreFailed, WriterPreTimedOut, WriterNotFound,\n"
    "    WriterUnsafePermissions, WriterConfigInvalid, GuestAgentUnavailable,\n"
    "    DiskNotFound, DiskIsDirectory, DiskPermissionDenied,\n"
    "    DiskNotSupported, DiskReadFailed, DiskChanged, DiskDuplicate,\n"
    "    DiskFormatUnsupported, DiskFormatUndeclared, ConfigNotFound,\n"
    "    TransferCheckFailed,\n"
    "    VaultFull, VaultIOError, NotAVault, VaultNotFound, Interrupted.\n";

static void print_summary(const struct cli *cli, const char *name, json_t *m)
{
	char rd[32], nw[32], st[32];
	json_int_t ms = json_integer_value(json_object_get(m, "duration_ms"));
	json_t *fz = json_object_get(m, "freeze_ms");
	json_t *why = json_object_get(m, "consistency_reason");
	json_t *w;
	size_t i;

	if (cli->quiet)
		return;
	sp_format_bytes(
	    (uint64_t)json_integer_value(json_object_get(m, "bytes_read")), rd,
	    sizeof(rd));
	sp_format_bytes(
	    (uint64_t)json_integer_value(json_object_get(m, "bytes_new")), nw,
	    sizeof(nw));
	sp_format_bytes(
	    (uint64_t)json_integer_value(json_object_get(m, "bytes_stored")),
	    st, sizeof(st));
	printf("point %s@%s (%s): read %s, new chunks %s, stored %s, %.1f s",
	       name, json_string_value(json_object_get(m, "id")),
	       json_string_value(json_object_get(m, "consistency")), rd, nw, st,
	       (double)ms / 1000.0);
	if (json_is_integer(fz))
		printf(", frozen %lld ms", (long long)json_integer_value(fz));
	printf("\n");
	if (json_is_object(why))
		printf("    %s because: %s\n",
		       json_string_value(json_object_get(m, "consistency")),
		       json_string_value(json_object_get(why, "message")));
	json_array_foreach(json_object_get(m, "disks"), i, w)
	    cli_print_read_mode(w, "    ");
	json_array_foreach(json_object_get(m, "warnings"), i, w)
	    fprintf(stderr, "stillpoint: warning: %s\n", json_string_value(w));
}

/*
 * The job record of a domain backup in the host's state database: created
 * here ("manual"), or given by stillpointd (--job-id).  The backup runs
 * without a record when the state database cannot be opened (e.g. not
 * root): it says so and goes on.
 */
static struct sp_state *job_begin(const char *domain, int64_t *job_id,
				  struct sp_error *err)
{
	struct sp_state *st = NULL;
	struct sp_error e;

	if (sp_state_open(NULL, &st, &e) < 0) {
		fprintf(stderr, "stillpoint: warning: no job record: %s\n",
			e.msg);
		return NULL;
	}
	/* Only jobs of commands like this one: a job of the daemon's is
	 * recovered by the daemon, which tells its failure hook. */
	sp_state_jobs_recover(st, true, NULL, &e);
	/* Our own record is made in progress; a job handed over by
	 * stillpointd (--job-id) must still be ours to run. */
	if ((*job_id == 0
		 ? sp_state_job_create(st, domain, "backup", "manual", job_id,
				       err)
		 : sp_state_job_claim(st, *job_id, getpid(), err)) < 0) {
		sp_state_close(st);
		return NULL;
	}
	return st;
}

/* The protection record of @domain, or NULL (not protected, or no state
 * database here). */
static json_t *protection_of(const char *domain)
{
	struct sp_state *st = NULL;
	struct sp_error e;
	json_t *prot = NULL;

	if (sp_state_open(NULL, &st, &e) == 0 &&
	    sp_state_protection_get(st, domain, &prot, &e) < 0)
		prot = NULL;
	sp_state_close(st);
	return prot;
}

/* backup --now without a daemon runs the job stillpointd would have run:
 * into the protection's vault, with its libvirt URI, writer settings and
 * required level, unless the command line gives them (@prot must outlive
 * the backup: the options point into it). */
static void protected_settings(struct cli *cli, struct sp_domain_backup_opts *o,
			       json_t *prot)
{
	const char *s;

	if ((s = json_string_value(json_object_get(prot, "vault"))))
		cli->vault = s;
	if (!o->uri)
		o->uri = json_string_value(json_object_get(prot, "uri"));
	if (!o->writers_path)
		o->writers_path =
		    json_string_value(json_object_get(prot, "writers"));
	if (!o->require)
		o->require =
		    json_string_value(json_object_get(prot, "require"));
}

static int backup_domain(struct cli *cli, const char *domain,
			 struct sp_domain_backup_opts *o, int64_t job_id)
{
	struct sp_vault *v = NULL;
	struct sp_error err = {0}, e;
	struct sp_state *st;
	json_t *m = NULL;
	int r;

	st = job_begin(domain, &job_id, &err);
	if (!st && err.code)
		return cli_fail(cli, &err);
	o->domain = domain;
	cli_job_opts(cli, &o->job);
	r = sp_vault_open(cli->vault, &v, &err);
	if (r == 0)
		r = sp_domain_backup_run(v, o, &m, &err);
	if (r == 0 && m && v)
		json_object_set_new(m, "requests", sp_vault_requests(v));
	sp_vault_close(v);
	cli_progress_done();
	if (st) {
		if (sp_state_job_finish(st, job_id, r == 0 ? m : NULL,
					r < 0 ? &err : NULL, &e) < 0)
			fprintf(stderr,
				"stillpoint: warning: job %lld not "
				"recorded: %s\n",
				(long long)job_id, e.msg);
		sp_state_close(st);
	}
	if (r < 0)
		return cli_fail(cli, &err);
	if (cli->json)
		cli_print_json(json_incref(m));
	else
		print_summary(cli, domain, m);
	json_decref(m);
	return 0;
}

int cmd_backup(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"name", required_argument, NULL, 'n'},
	    {"disk", required_argument, NULL, 'd'},
	    {"format", required_argument, NULL, 'f'},
	    {"config", required_argument, NULL, 'c'},
	    {"connect", required_argument, NULL, 'C'},
	    {"writers", required_argument, NULL, 'W'},
	    {"require", required_argument, NULL, 'R'},
	    {"pause-fallback", no_argument, NULL, 'P'},
	    {"no-pause-fallback", no_argument, NULL, 'p'},
	    {"full", no_argument, NULL, 'F'},
	    {"check-transfer", no_argument, NULL, 'K'},
	    {"now", no_argument, NULL, 'N'},
	    {"job-id", required_argument, NULL, 'J'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct sp_backup_opts o = {0};
	struct sp_domain_backup_opts dop = {.pause_fallback = -1};
	bool live_opt = false, now = false;
	int64_t job_id = 0;
	struct sp_vault *v = NULL;
	struct sp_error err = {0};
	const char **disks = calloc((size_t)argc, sizeof(*disks));
	json_t *m = NULL;
	int c, r;

	if (!disks) {
		sp_error_set(&err, SP_E_NOMEM, "out of memory");
		return cli_fail(cli, &err);
	}
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			o.name = optarg;
			break;
		case 'd':
			disks[o.ndisks++] = optarg;
			break;
		case 'f':
			o.format = optarg;
			break;
		case 'c':
			o.config_path = optarg;
			break;
		case 'C':
			dop.uri = optarg;
			live_opt = true;
			break;
		case 'W':
			dop.writers_path = optarg;
			live_opt = true;
			break;
		case 'R':
			dop.require = optarg;
			live_opt = true;
			break;
		case 'P':
		case 'p':
			dop.pause_fallback = c == 'P';
			live_opt = true;
			break;
		case 'F':
			dop.full = true;
			live_opt = true;
			break;
		case 'K':
			o.check_transfer = dop.check_transfer = true;
			break;
		case 'N':
			now = true;
			live_opt = true;
			break;
		case 'J':
			/* stillpointd hands over the job it queued. */
			job_id = strtoll(optarg, NULL, 10);
			live_opt = true;
			break;
		case 'h':
			fputs(backup_help, stdout);
			free(disks);
			return 0;
		default:
			free(disks);
			return cli_usage_error("backup", "unknown option");
		}
	}
	if (optind < argc) {
		if (o.name || o.ndisks || o.config_path || optind + 1 < argc) {
			r = cli_usage_error(
			    "backup",
			    optind + 1 < argc
				? "one DOMAIN at a time, not '%s'"
				: "give a DOMAIN, or --name and --disk, not "
				  "both ('%s')",
			    argv[optind + 1 < argc ? optind + 1 : optind]);
			free(disks);
			return r;
		}
		free(disks);
		json_t *prot = NULL;
		if (now && !job_id) {
			r = cli_backup_via_daemon(cli, argv[optind]);
			if (r != -1)
				return r;
			/* No daemon: run here the job stillpointd would. */
			prot = protection_of(argv[optind]);
			if (prot)
				protected_settings(cli, &dop, prot);
		}
		r = backup_domain(cli, argv[optind], &dop, job_id);
		json_decref(prot);
		return r;
	}
	if (live_opt) {
		free(disks);
		return cli_usage_error("backup",
				       "--connect, --writers, --require, "
				       "--full and --pause-fallback need a "
				       "DOMAIN");
	}
	if (!o.name || o.ndisks == 0) {
		free(disks);
		return cli_usage_error("backup",
				       "give a DOMAIN, or --name NAME and at "
				       "least one --disk PATH");
	}
	o.disks = disks;
	cli_job_opts(cli, &o.job);
	r = sp_vault_open(cli->vault, &v, &err);
	if (r == 0)
		r = sp_backup_run(v, &o, &m, &err);
	if (r == 0 && m && v)
		json_object_set_new(m, "requests", sp_vault_requests(v));
	sp_vault_close(v);
	free(disks);
	cli_progress_done();
	if (r < 0)
		return cli_fail(cli, &err);
	if (cli->json) {
		cli_print_json(m);
		return 0;
	}
	print_summary(cli, o.name, m);
	json_decref(m);
	return 0;
}

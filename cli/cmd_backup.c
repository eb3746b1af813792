// SPDX-License-Identifier: LGPL-2.1-or-later
/* `stillpoint backup`: one recovery point of a VM's disks. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char backup_help[] =
    "NAME\n"
    "    stillpoint backup - back up the disks of a VM as one recovery point\n"
    "\n"
    "SYNOPSIS\n"
    "    stillpoint [--vault DIR] backup --name NAME --disk PATH\n"
    "               [--disk PATH ...] [--config FILE]\n"
    "\n"
    "DESCRIPTION\n"
    "    Reads every disk of a powered-off VM and stores it in the vault\n"
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
    "    --name NAME     the VM's name: letters, digits, '.', '_', '-'\n"
    "    --disk PATH     a disk of the VM (repeat for each disk); disks\n"
    "                    are named in the point by their file name\n"
    "    --config FILE   store the VM's definition (e.g. libvirt domain\n"
    "                    XML) with the point; restore writes it back\n"
    "\n"
    "OUTPUT\n"
    "    A summary line per point; with --json the point's manifest.\n"
    "    Progress (bytes, rate, ETA) on stderr when it is a terminal.\n"
    "\n"
    "ERRORS\n"
    "    DiskNotFound, DiskIsDirectory, DiskPermissionDenied,\n"
    "    DiskNotSupported, DiskReadFailed, DiskChanged, DiskDuplicate,\n"
    "    DiskFormatUnsupported, ConfigNotFound, VaultFull, VaultIOError,\n"
    "    NotAVault, VaultNotFound, Interrupted.\n";

int cmd_backup(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"name", required_argument, NULL, 'n'},
	    {"disk", required_argument, NULL, 'd'},
	    {"config", required_argument, NULL, 'c'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct sp_backup_opts o = {0};
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
		case 'c':
			o.config_path = optarg;
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
		r = cli_usage_error("backup",
				    "unexpected argument '%s' (live domains "
				    "come later; give --name and --disk)",
				    argv[optind]);
		free(disks);
		return r;
	}
	if (!o.name || o.ndisks == 0) {
		free(disks);
		return cli_usage_error("backup",
				       "--name NAME and at least one --disk "
				       "PATH are required");
	}
	o.disks = disks;
	cli_job_opts(cli, &o.job);
	r = sp_vault_open(cli->vault, &v, &err);
	if (r == 0)
		r = sp_backup_run(v, &o, &m, &err);
	sp_vault_close(v);
	free(disks);
	cli_progress_done();
	if (r < 0)
		return cli_fail(cli, &err);
	if (cli->json) {
		cli_print_json(m);
		return 0;
	}
	if (!cli->quiet) {
		char rd[32], nw[32], st[32];
		json_int_t ms =
		    json_integer_value(json_object_get(m, "duration_ms"));
		sp_format_bytes((uint64_t)json_integer_value(
				    json_object_get(m, "bytes_read")),
				rd, sizeof(rd));
		sp_format_bytes((uint64_t)json_integer_value(
				    json_object_get(m, "bytes_new")),
				nw, sizeof(nw));
		sp_format_bytes((uint64_t)json_integer_value(
				    json_object_get(m, "bytes_stored")),
				st, sizeof(st));
		printf("point %s@%s (%s): read %s, new %s, stored %s, %.1f s\n",
		       o.name, json_string_value(json_object_get(m, "id")),
		       json_string_value(json_object_get(m, "consistency")), rd,
		       nw, st, (double)ms / 1000.0);
	}
	json_decref(m);
	return 0;
}

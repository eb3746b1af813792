// SPDX-License-Identifier: LGPL-2.1-or-later
/* `stillpoint restore`: write a point's disks and config back out. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char restore_help[] =
    "NAME\n"
    "    stillpoint restore - write a recovery point's disks back out\n"
    "\n"
    "SYNOPSIS\n"
    "    stillpoint [--vault DIR] restore NAME[@ID] --to DIR\n"
    "               [--format raw|qcow2] [--disk-to DISK=PATH ...] [--force]\n"
    "               [--json]\n"
    "    stillpoint [--vault DIR] restore DOMAIN[@ID] --as NEWNAME [--to DIR]\n"
    "               [--format raw|qcow2] [--force] [--connect URI] [--json]\n"
    "    stillpoint [--vault DIR] restore DOMAIN[@ID] --in-place\n"
    "               [--connect URI] [--json]\n"
    "    stillpoint [--vault DIR] restore NAME[@ID] --file PATH\n"
    "               [--file PATH ...] --to DIR [--force] [--json]\n"
    "    stillpoint [--vault DIR] restore DOMAIN[@ID] --as NEWNAME --instant\n"
    "               [--to DIR] [--format raw|qcow2] [--bandwidth MIB]\n"
    "               [--agent-timeout SECONDS] [--force] [--connect URI]\n"
    "               [--json]\n"
    "    stillpoint restore --resume JOB [--bandwidth MIB] [--json]\n"
    "\n"
    "DESCRIPTION\n"
    "    With --as, a point of a libvirt domain becomes a new domain: its\n"
    "    disks are restored to DIR/NEWNAME-<target>.qcow2 (or .img for\n"
    "    raw; DIR defaults to /var/lib/libvirt/images) and its stored\n"
    "    definition is defined anew with the new name, a new UUID and new\n"
    "    MAC addresses, its disks pointing at the new files.  A UEFI\n"
    "    domain's stored NVRAM becomes a new file, NEWNAME_VARS.fd beside\n"
    "    the original's, and a stored TPM state is put where libvirt\n"
    "    looks for the new domain's (/var/lib/libvirt/swtpm/<uuid>/tpm2).\n"
    "    Nothing is defined unless every disk and state file was restored\n"
    "    whole.  The original is not touched.\n"
    "\n"
    "    With --in-place, the original domain (which must be shut off)\n"
    "    gets each disk replaced whole by the point's: written beside the\n"
    "    image, then renamed over it; so do its NVRAM and TPM state, when\n"
    "    the point holds them.  Its checkpoints are dropped, so the next\n"
    "    backup reads all data.  Its definition is kept.\n"
    "\n"
    "    With --file, files and directory trees are copied out of the\n"
    "    point's file systems instead of whole disks: each PATH becomes\n"
    "    DIR/<its last name>, with its mode, owner and group (when run as\n"
    "    root), times, symlinks as links (their targets never followed),\n"
    "    hard links among the files restored as links, and extended\n"
    "    attributes and POSIX ACLs where DIR's file system takes them.\n"
    "    PATH is a guest path (/etc/hosts) or\n"
    "    DEVICE:/path (vdb:1:/etc/hosts, vda::/log, lvm:VG/LV:/x), as\n"
    "    for 'stillpoint files'.  The disks are read lazily through a\n"
    "    small appliance VM; the host's kernel never mounts them.  Files\n"
    "    are created inside DIR only, never through a link; names no\n"
    "    host file system can hold are skipped and listed.  Existing\n"
    "    files are refused unless --force, which replaces them and merges\n"
    "    into existing directories.  Files copied before a failure stay.\n"
    "    A directory or file inside a tree that the appliance cannot read\n"
    "    is left out, the rest restored, and the command then fails\n"
    "    naming it.  Environment as for 'stillpoint files --help'.\n"

    "    With --as and --instant (instant recovery), the new domain runs\n"
    "    within seconds, before its disks are restored: the point's disks\n"
    "    are served from the vault over NBD by a background process, each\n"
    "    behind a local qcow2 overlay DIR/NEWNAME-<target>.overlay.qcow2\n"
    "    that takes the guest's writes; the domain is defined on the\n"
    "    overlays and started, and the command returns once its guest\n"
    "    agent answers, printing that time (the RTO).  The background\n"
    "    process then copies every disk, whole, into\n"
    "    DIR/NEWNAME-<target>.qcow2 (or .img) with libvirt block copy\n"
    "    while the guest runs and writes, pivots the domain onto the\n"
    "    copies, defines it on them, removes the overlays and stops\n"
    "    serving: from then on the domain needs neither the vault nor\n"
    "    Stillpoint.  It is a job of kind \"instant\": 'stillpoint jobs'\n"
    "    shows its progress, 'stillpoint job ID' its phase, bytes copied\n"
    "    and RTO; its log is STATE_DIR/instant-ID.log.\n"
    "\n"
    "    The disks stop on I/O errors: if the server or the vault goes\n"
    "    away before the copy ends, the guest is paused (never given\n"
    "    bytes that were not read), nothing it wrote is lost, and the job\n"
    "    fails with InstantServeLost.  'stillpoint restore --resume ID'\n"
    "    then serves the point again on the same socket, resumes (or\n"
    "    starts) the guest and copies what was not pivoted yet, at the\n"
    "    job's bandwidth unless --bandwidth gives another.  The guest's\n"
    "    writes reach both the overlay and the copy before they complete,\n"
    "    so a copy comes in step however fast the guest writes.\n"
    "\n"
    "    Without them:\n"
    "    Writes each disk of the point into DIR, named as FILE NAMES\n"
    "    says, in the source's format unless --format says otherwise:\n"
    "    raw files are written sparse, qcow2 images through qemu-nbd.\n"
    "    The stored VM config, if any, is written to\n"
    "    DIR/<its file name>, a stored NVRAM to DIR/<its file name> and\n"
    "    TPM state files into DIR/tpm2/.  NAME alone means the newest\n"
    "    point; ID may be a unique prefix of a point id.\n"
    "\n"
    "    Every chunk is checked against its id before it is written.  A\n"
    "    file appears under its name only when complete: on any failure\n"
    "    nothing is left behind.  Existing files are refused unless\n"
    "    --force is given.\n"
    "\n"
    "FILE NAMES\n"
    "    One rule for points of running or shut-off domains and points of\n"
    "    image files, the same for every restore of the same point:\n"
    "      - a disk of a domain is named by its target: vda.qcow2, sdb.raw;\n"
    "      - a disk of a point of files keeps its source file's name, an\n"
    "        image extension (.raw .img .qcow2 .qcow .dsk .bin .iso .vmdk\n"
    "        .vdi .vhd .vhdx) replaced: web01.qcow2 restored with --format\n"
    "        raw is web01.raw, a source named 'data' is data.raw;\n"
    "      - the extension is that of the bytes written: .qcow2 for qcow2,\n"
    "        .raw for raw (never .img, which libvirt gives any format);\n"
    "      - when two disks would get one name, the first in the point's\n"
    "        order keeps it and each later one gets -2, -3, ... before\n"
    "        the extension (d.img and d.raw restored raw: d.raw, d-2.raw);\n"
    "        --disk-to does not change the names the others get.\n"
    "    --disk-to takes the disk's name as 'stillpoint points' lists it\n"
    "    (vda, web01.qcow2).  --as names its files NEWNAME-<target>.qcow2\n"
    "    or NEWNAME-<target>.img: they go to a shared images directory,\n"
    "    where the domain's name keeps them apart and .img is libvirt's\n"
    "    own name for a raw volume.  --in-place keeps the original's\n"
    "    file names.\n"
    "\n"
    "OPTIONS\n"
    "    --to DIR              directory to restore into, made (mode 0700,\n"
    "                          with its parents) when it does not exist;\n"
    "                          for a point with one disk, DIR may be a\n"
    "                          block device to write the disk onto\n"
    "    --format raw|qcow2    format of the files written\n"
    "    --disk-to DISK=PATH   write disk DISK to PATH instead: a file or\n"
    "                          a block device (at least the disk's size,\n"
    "                          not in use); repeat for several disks\n"
    "    --force               overwrite existing files\n"
    "    --file PATH           copy PATH out of the point's file systems\n"
    "                          (repeat for several)\n"
    "    --as NEWNAME          define the restored domain under NEWNAME\n"
    "    --in-place            replace the shut-off original's disks\n"
    "    --instant             with --as: run the new domain at once on\n"
    "                          served disks, copy them in the background\n"
    "    --bandwidth MIB       with --instant: read at most MIB MiB/s\n"
    "                          from the vault for the background copy\n"
    "                          (the guest's own reads and writes are not\n"
    "                          held back); with --resume: the new limit,\n"
    "                          0 for none\n"
    "    --agent-timeout S     with --instant: wait S seconds (default\n"
    "                          300) for the guest agent\n"
    "    --resume JOB          take up instant recovery JOB that failed\n"
    "                          or whose process died\n"
    "    --connect URI         libvirt connection (default:\n"
    "                          $LIBVIRT_DEFAULT_URI, else qemu:///system)\n"
    "    --json                what was restored (files, domain) as JSON\n"
    "                          (also accepted before the command)\n"
    "\n"
    "ERRORS\n"
    "    PointNotFound, PointAmbiguous, TargetExists, TargetNotFound,\n"
    "    TargetTooSmall, TargetBusy, TargetWriteFailed, TargetFull,\n"
    "    ChunkMissing, ChunkCorrupt, IndexCorrupt, ManifestCorrupt,\n"
    "    PointFileCorrupt,\n"
    "    DomainExists, DomainStateInvalid, DomainNotFound, LibvirtFailed;\n"
    "    with --file: GuestPathNotFound, GuestPathUnmapped,\n"
    "    GuestDiskNotFound, GuestFsNotFound, GuestfsFailed,\n"
    "    GuestFileReadFailed; with --instant or --resume: ServeFailed,\n"
    "    InstantDirUnusable, InstantBootFailed, InstantCopyFailed,\n"
    "    InstantServeLost, InstantJobUnknown.\n";

static int restore_domain(struct cli *cli, struct sp_domain_restore_opts *o)
{
	struct sp_vault *v = NULL;
	struct sp_error err = {0};
	json_t *res = NULL;
	size_t i;
	json_t *f;
	int r;

	cli_job_opts(cli, &o->job);
	r = sp_vault_open(cli->vault, &v, &err);
	if (r == 0)
		r = sp_domain_restore_run(v, o, &res, &err);
	if (r == 0 && res && v)
		json_object_set_new(res, "requests", sp_vault_requests(v));
	sp_vault_close(v);
	cli_progress_done();
	if (r < 0)
		return cli_fail(cli, &err);
	if (cli->json) {
		cli_print_json(res);
		return 0;
	}
	if (!cli->quiet) {
		printf("%s domain '%s' (uuid %s) from point %s\n",
		       o->in_place ? "restored in place" : "defined",
		       json_string_value(json_object_get(res, "domain")),
		       json_string_value(json_object_get(res, "uuid")),
		       json_string_value(json_object_get(res, "point")));
		json_array_foreach(json_object_get(res, "files"), i, f) printf(
		    "    %s\n", json_string_value(json_object_get(f, "path")));
	}
	json_array_foreach(json_object_get(res, "left_alone"), i, f)
	    fprintf(stderr, "stillpoint: note: disk %s left as it is: %s\n",
		    json_string_value(json_object_get(f, "disk")),
		    json_string_value(json_object_get(f, "reason")));
	/* A warning even with -q: a disk the new domain does not have. */
	json_array_foreach(json_object_get(res, "not_attached"), i, f)
	    fprintf(stderr,
		    "stillpoint: warning: disk %s was %s: restored to %s but "
		    "not attached (virsh attach-disk %s %s %s --config)\n",
		    json_string_value(json_object_get(f, "disk")),
		    json_string_value(json_object_get(f, "reason")),
		    json_string_value(json_object_get(f, "path")),
		    json_string_value(json_object_get(res, "domain")),
		    json_string_value(json_object_get(f, "path")),
		    json_string_value(json_object_get(f, "disk")));
	json_decref(res);
	return 0;
}

int cmd_restore(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"to", required_argument, NULL, 't'},
	    {"format", required_argument, NULL, 'f'},
	    {"disk-to", required_argument, NULL, 'm'},
	    {"force", no_argument, NULL, 'F'},
	    {"as", required_argument, NULL, 'a'},
	    {"in-place", no_argument, NULL, 'i'},
	    {"connect", required_argument, NULL, 'C'},
	    {"file", required_argument, NULL, 'L'},
	    {"instant", no_argument, NULL, 'I'},
	    {"resume", required_argument, NULL, 'R'},
	    {"bandwidth", required_argument, NULL, 'B'},
	    {"agent-timeout", required_argument, NULL, 'T'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct sp_restore_opts o = {0};
	struct sp_domain_restore_opts dop = {0};
	struct sp_vault *v = NULL;
	struct sp_error err = {0};
	const char **maps = calloc((size_t)argc, sizeof(*maps));
	const char **file_paths = calloc((size_t)argc, sizeof(*file_paths));
	size_t nfiles = 0;
	json_t *res = NULL;
	bool instant = false;
	const char *resume = NULL;
	long long bw = 0, agent_s = 0, *n;
	bool bw_given = false;
	char *end;
	int c, r;

	if (!maps || !file_paths) {
		free(maps);
		free(file_paths);
		sp_error_set(&err, SP_E_NOMEM, "out of memory");
		return cli_fail(cli, &err);
	}
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 't':
			o.to_dir = optarg;
			break;
		case 'f':
			o.format = optarg;
			break;
		case 'm':
			if (!strchr(optarg, '=')) {
				free(maps);
				free(file_paths);
				return cli_usage_error("restore",
						       "--disk-to wants "
						       "DISK=PATH, not '%s'",
						       optarg);
			}
			maps[o.nmaps++] = optarg;
			break;
		case 'F':
			o.force = true;
			break;
		case 'a':
			dop.new_name = optarg;
			break;
		case 'i':
			dop.in_place = true;
			break;
		case 'C':
			dop.uri = optarg;
			break;
		case 'L':
			file_paths[nfiles++] = optarg;
			break;
		case 'I':
			instant = true;
			break;
		case 'R':
			resume = optarg;
			break;
		case 'B':
		case 'T':
			/* --bandwidth 0: no limit (for a resume). */
			n = c == 'B' ? &bw : &agent_s;
			*n = strtoll(optarg, &end, 10);
			bw_given |= c == 'B';
			if (!*optarg || *end || *n < (c == 'B' ? 0 : 1) ||
			    *n > 1000000) {
				free(maps);
				free(file_paths);
				return cli_usage_error(
				    "restore", "--%s wants %s number, not '%s'",
				    c == 'B' ? "bandwidth" : "agent-timeout",
				    c == 'B' ? "a whole" : "a positive",
				    optarg);
			}
			break;
		case 'h':
			free(maps);
			free(file_paths);
			fputs(restore_help, stdout);
			return 0;
		default:
			free(maps);
			free(file_paths);
			return cli_usage_error("restore", "unknown option");
		}
	}
	if (o.format && strcmp(o.format, "raw") && strcmp(o.format, "qcow2")) {
		free(maps);
		free(file_paths);
		return cli_usage_error(
		    "restore", "--format must be raw or qcow2, not '%s'",
		    o.format);
	}
	if (nfiles) {
		free(maps);
		if (optind + 1 != argc || !o.to_dir || o.nmaps || o.format ||
		    dop.new_name || dop.in_place || dop.uri || instant ||
		    resume) {
			free(file_paths);
			return cli_usage_error(
			    "restore", "--file wants NAME[@ID] and --to DIR "
				       "(and no --format, --disk-to, --as, "
				       "--in-place, --instant, --resume or "
				       "--connect)");
		}
		r = cli_files_restore(cli, argv[optind], file_paths, nfiles,
				      o.to_dir, o.force);
		free(file_paths);
		return r;
	}
	free(file_paths);
	if (resume) {
		free(maps);
		if (optind != argc || instant || dop.new_name || dop.in_place ||
		    o.to_dir || o.format || o.nmaps || agent_s)
			return cli_usage_error(
			    "restore", "--resume JOB takes nothing else "
				       "but --bandwidth");
		return cli_restore_resume(cli, resume,
					  bw_given ? (int64_t)bw << 20 : -1);
	}
	if ((instant || bw_given || agent_s) &&
	    (!instant || !dop.new_name || dop.in_place || o.nmaps ||
	     optind + 1 != argc)) {
		free(maps);
		return cli_usage_error(
		    "restore", "--instant wants DOMAIN[@ID] --as NEWNAME "
			       "(and --bandwidth, --agent-timeout only "
			       "with it)");
	}
	if (instant) {
		struct sp_instant_opts io = {.uri = dop.uri,
					     .spec = argv[optind],
					     .new_name = dop.new_name,
					     .to_dir = o.to_dir,
					     .format = o.format,
					     .force = o.force,
					     .bandwidth = (uint64_t)bw << 20,
					     .agent_timeout_s = (int)agent_s};

		free(maps);
		return cli_restore_instant(cli, &io);
	}
	if (dop.new_name || dop.in_place || dop.uri) {
		free(maps);
		if (optind + 1 != argc)
			return cli_usage_error("restore",
					       "expected one DOMAIN[@ID]");
		if (!dop.new_name == !dop.in_place)
			return cli_usage_error("restore",
					       "give either --as NEWNAME or "
					       "--in-place");
		if (o.nmaps || (dop.in_place && (o.to_dir || o.format)))
			return cli_usage_error(
			    "restore", "--in-place takes no --to, --format or "
				       "--disk-to; --as takes no --disk-to");
		dop.spec = argv[optind];
		dop.to_dir = o.to_dir;
		dop.format = o.format;
		dop.force = o.force;
		return restore_domain(cli, &dop);
	}
	if (optind + 1 != argc || (!o.to_dir && o.nmaps == 0)) {
		free(maps);
		return cli_usage_error("restore",
				       "expected NAME[@ID] and --to DIR");
	}
	if (o.format && strcmp(o.format, "raw") && strcmp(o.format, "qcow2")) {
		free(maps);
		return cli_usage_error(
		    "restore", "--format must be raw or qcow2, not '%s'",
		    o.format);
	}
	o.spec = argv[optind];
	o.maps = maps;
	cli_job_opts(cli, &o.job);
	r = sp_vault_open(cli->vault, &v, &err);
	if (r == 0)
		r = sp_restore_run(v, &o, &res, &err);
	if (r == 0 && res && v)
		json_object_set_new(res, "requests", sp_vault_requests(v));
	sp_vault_close(v);
	free(maps);
	cli_progress_done();
	if (r < 0)
		return cli_fail(cli, &err);
	if (cli->json) {
		cli_print_json(res);
		return 0;
	}
	if (!cli->quiet) {
		size_t i;
		json_t *f;
		printf("restored %s@%s\n",
		       json_string_value(json_object_get(res, "name")),
		       json_string_value(json_object_get(res, "id")));
		json_array_foreach(json_object_get(res, "files"), i, f) printf(
		    "    %s\n", json_string_value(json_object_get(f, "path")));
	}
	json_decref(res);
	return 0;
}

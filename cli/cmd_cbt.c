// SPDX-License-Identifier: LGPL-2.1-or-later
/* `stillpoint cbt enable|disable|status DOMAIN`: changed-block tracking
 * for raw disks through metadata images (docs/cbt.md). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char cbt_help[] =
    "NAME\n"
    "    stillpoint cbt - changed-block tracking for raw disks\n"
    "\n"
    "SYNOPSIS\n"
    "    stillpoint cbt status  DOMAIN [--connect URI] [--json]\n"
    "    stillpoint cbt enable  DOMAIN [--disk TARGET]... [--meta-dir DIR]\n"
    "                           [--connect URI] [--json]\n"
    "    stillpoint cbt disable DOMAIN [--disk TARGET]... [--connect URI]\n"
    "                           [--json]\n"
    "\n"
    "DESCRIPTION\n"
    "    A backup of a running domain reads only the blocks that changed\n"
    "    since the last point when the disk keeps a dirty bitmap in a\n"
    "    libvirt checkpoint.  qcow2 images keep one; raw files and block\n"
    "    devices (LVM volumes, loop devices, multipath) cannot, and are\n"
    "    read in full and compared by chunk hash instead.\n"
    "\n"
    "    'enable' gives each raw disk a small qcow2 metadata image\n"
    "    (DIR/DOMAIN-TARGET.cbt.qcow2) whose data file is the raw disk\n"
    "    itself, kept raw: the disk's bytes are not moved, copied or\n"
    "    written, and the image holds only the cluster map (8 bytes per\n"
    "    64 KiB, 128 MiB per TiB) and the bitmaps.  The domain's\n"
    "    persistent definition is changed to use it; a running domain\n"
    "    uses it from its next start (a shutdown and start, not a reboot\n"
    "    inside the guest).  Until then, and for the first backup after,\n"
    "    the disk is read in full.\n"
    "\n"
    "    'disable' points the definition back at the raw disk, removes the\n"
    "    metadata image and drops Stillpoint's checkpoints of the domain\n"
    "    (the next backup reads every disk in full).  It refuses while the\n"
    "    running domain has the image open: shut it off first.\n"
    "\n"
    "    'status' lists every disk and how its changes are tracked:\n"
    "    qcow2 (its own bitmaps), metadata-image, or none with the reason.\n"
    "\n"
    "    Only the disks named with --disk are changed; without --disk,\n"
    "    every raw disk that can be (enable) or every disk Stillpoint\n"
    "    adopted (disable).  Shared, read-only, network and removable\n"
    "    disks are refused with the reason.\n"
    "\n"
    "OPTIONS\n"
    "    --disk TARGET   a disk by its target name (vdb); repeatable\n"
    "    --meta-dir DIR  where metadata images are made (absolute; default\n"
    "                    " SP_CBT_DEFAULT_DIR ")\n"
    "    --connect URI   libvirt connection (default: $LIBVIRT_DEFAULT_URI,\n"
    "                    else qemu:///system)\n"
    "    --json          {domain, state, restart_needed, disks: [{target,\n"
    "                    type, format, tracking, active, meta, data,\n"
    "                    source, reason}]} (disable adds\n"
    "                    checkpoints_dropped)\n"
    "\n"
    "EXIT STATUS\n"
    "    0 success, 1 failure, 2 usage error.\n"
    "\n"
    "ERRORS\n"
    "    DomainNotFound, LibvirtFailed, UsageError (a disk that cannot be\n"
    "    adopted, with the reason), DomainState (disable while the image\n"
    "    is in use), TargetExists (a metadata image is in the way),\n"
    "    TargetSizeUnaligned, CbtMetadataInvalid, ToolFailed.\n"
    "\n"
    "EXAMPLES\n"
    "    stillpoint cbt status web01\n"
    "    stillpoint cbt enable web01 --disk vdb\n"
    "    virsh shutdown web01; virsh start web01\n"
    "    stillpoint backup web01          # full; incrementals from here\n"
    "    stillpoint cbt disable web01     # with web01 shut off\n";

static void print_report(json_t *res)
{
	json_t *d;
	size_t i;

	printf("domain %s (%s)\n",
	       json_string_value(json_object_get(res, "domain")),
	       json_string_value(json_object_get(res, "state")));
	printf("%-8s %-6s %-6s %-15s %s\n", "DISK", "TYPE", "FORMAT",
	       "TRACKING", "DETAILS");
	json_array_foreach(json_object_get(res, "disks"), i, d)
	{
		const char *meta =
		    json_string_value(json_object_get(d, "meta"));
		const char *why =
		    json_string_value(json_object_get(d, "reason"));

		printf("%-8s %-6s %-6s %-15s ",
		       json_string_value(json_object_get(d, "target")),
		       json_string_value(json_object_get(d, "type")),
		       json_string_value(json_object_get(d, "format"))
			   ? json_string_value(json_object_get(d, "format"))
			   : "-",
		       json_string_value(json_object_get(d, "tracking")));
		if (meta)
			printf("%s over %s", meta,
			       json_string_value(json_object_get(d, "data")));
		else if (why)
			printf("%s", why);
		if (!json_is_true(json_object_get(d, "active")))
			printf(" (from the domain's next start)");
		putchar('\n');
	}
	if (json_is_true(json_object_get(res, "restart_needed")))
		printf("The running domain uses the change from its next "
		       "start: shut it down and start it.\n");
}

int cmd_cbt(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"disk", required_argument, NULL, 'd'},
	    {"meta-dir", required_argument, NULL, 'M'},
	    {"connect", required_argument, NULL, 'C'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char **targets = calloc((size_t)argc + 1, sizeof(*targets));
	struct sp_cbt_opts o = {0};
	struct sp_error err = {0};
	const char *what;
	json_t *res = NULL;
	int c, r;

	if (!targets)
		return cli_usage_error("cbt", "out of memory");
	o.targets = targets;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			targets[o.ntargets++] = optarg;
			break;
		case 'M':
			o.meta_dir = optarg;
			break;
		case 'C':
			o.uri = optarg;
			break;
		case 'h':
			fputs(cbt_help, stdout);
			free(targets);
			return 0;
		default:
			free(targets);
			return cli_usage_error("cbt", "unknown option");
		}
	}
	if (optind + 2 != argc) {
		free(targets);
		return cli_usage_error("cbt", "expected enable, disable or "
					      "status, then one DOMAIN");
	}
	what = argv[optind];
	o.domain = argv[optind + 1];
	if (!strcmp(what, "status") && !o.ntargets && !o.meta_dir)
		r = sp_cbt_status(&o, &res, &err);
	else if (!strcmp(what, "enable"))
		r = sp_cbt_enable(&o, &res, &err);
	else if (!strcmp(what, "disable") && !o.meta_dir)
		r = sp_cbt_disable(&o, &res, &err);
	else {
		free(targets);
		return cli_usage_error("cbt",
				       "'%s' is not enable, disable or "
				       "status (or takes other options)",
				       what);
	}
	free(targets);
	if (r < 0)
		return cli_fail(cli, &err);
	if (cli->json)
		cli_print_json(res);
	else
		print_report(res);
	json_decref(res);
	return 0;
}

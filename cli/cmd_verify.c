// SPDX-License-Identifier: LGPL-2.1-or-later
/* `stillpoint verify`: read back and check every chunk points need. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char verify_help[] =
    "NAME\n"
    "    stillpoint verify - check that recovery points can be restored\n"
    "\n"
    "SYNOPSIS\n"
    "    stillpoint [--vault DIR] verify [NAME[@ID]] [--json]\n"
    "    stillpoint [--vault DIR] verify NAME[@ID] --against DISK=PATH\n"
    "               [--against DISK=PATH ...] [--json]\n"
    "    stillpoint [--vault DIR] verify --boot NAME[@ID] [--probe CMD]\n"
    "               [--timeout SECONDS] [--connect URI] [--json]\n"
    "\n"
    "DESCRIPTION\n"
    "    Reads back every chunk the selected points need (all points, the\n"
    "    points of VM NAME, or point NAME@ID), decompresses it and checks\n"
    "    its hash and length; also checks each point's manifest and disk\n"
    "    indexes, and each disk's digest, which shows slots swapped or\n"
    "    substituted in an index.  Chunks shared by several points are\n"
    "    read once.  The files a point keeps beside its indexes (the VM\n"
    "    config, a UEFI NVRAM, TPM state files) are checked against the\n"
    "    size and SHA-256 its manifest records (PointFileCorrupt).  A\n"
    "    point directory that cannot be opened or read counts as damage,\n"
    "    never as skipped.\n"
    "\n"
    "    With --against, proves a point against a disk without restoring\n"
    "    it: the point's disk DISK (NAME alone means its newest point) is\n"
    "    compared byte for byte with PATH, an image file or a block\n"
    "    device (PATH:qcow2 for a qcow2 image; raw otherwise), and the\n"
    "    differing byte ranges are named.  Ranges both sides say are\n"
    "    zero are compared without reading them.\n"
    "\n"
    "    With --boot, proves a point by booting it as a temporary,\n"
    "    isolated domain and running a probe in it through the guest\n"
    "    agent; see 'stillpoint verify --boot --help'.\n"
    "\n"
    "OPTIONS\n"
    "    --against DISK=PATH[:FORMAT]\n"
    "                    compare disk DISK of the point with PATH (repeat\n"
    "                    for several disks)\n"
    "    --json          the report as JSON on stdout\n"
    "\n"
    "EXIT STATUS\n"
    "    0 when everything is sound (or equal); 3 when damage was found,\n"
    "    after naming each damaged point, disk and byte range\n"
    "    (offset+length) with ChunkMissing, ChunkCorrupt or VaultIOError,\n"
    "    and each damaged file of a point,\n"
    "    or when a disk differs (PointDiffers, with the first ranges);\n"
    "    1 if verify could not run.\n";

static void print_against(json_t *rep)
{
	json_t *d, *rg;
	size_t i, k;

	json_array_foreach(json_object_get(rep, "disks"), i, d)
	{
		const char *dn = json_string_value(json_object_get(d, "disk"));
		const char *path =
		    json_string_value(json_object_get(d, "path"));
		json_int_t ps = json_integer_value(json_object_get(d, "size"));
		json_int_t ds =
		    json_integer_value(json_object_get(d, "disk_size"));

		if (json_is_true(json_object_get(d, "equal"))) {
			printf("EQUAL %s disk %s and %s\n",
			       json_string_value(json_object_get(rep, "point")),
			       dn, path);
			continue;
		}
		if (ps != ds)
			printf("DIFFERS %s disk %s and %s: sizes %lld and "
			       "%lld bytes\n",
			       json_string_value(json_object_get(rep, "point")),
			       dn, path, (long long)ps, (long long)ds);
		json_array_foreach(json_object_get(d, "ranges"), k, rg) printf(
		    "DIFFERS %s disk %s and %s: bytes %lld+%lld\n",
		    json_string_value(json_object_get(rep, "point")), dn, path,
		    (long long)json_integer_value(
			json_object_get(rg, "offset")),
		    (long long)json_integer_value(
			json_object_get(rg, "length")));
		if (json_integer_value(json_object_get(d, "ranges_omitted")))
			printf("DIFFERS %s disk %s and %s: %lld more "
			       "range(s), %lld bytes in all\n",
			       json_string_value(json_object_get(rep, "point")),
			       dn, path,
			       (long long)json_integer_value(
				   json_object_get(d, "ranges_omitted")),
			       (long long)json_integer_value(
				   json_object_get(d, "bytes_differing")));
	}
}

int cmd_verify(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"against", required_argument, NULL, 'a'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct sp_verify_opts o = {0};
	const char **against = calloc((size_t)argc, sizeof(*against));
	struct sp_vault *v = NULL;
	struct sp_error err = {0};
	json_t *rep = NULL, *d;
	size_t i;
	int c, r;

	for (int k = 1; k < argc; k++)
		if (!strcmp(argv[k], "--boot") ||
		    !strcmp(argv[k], "--boot-cleanup")) {
			free(against);
			return cmd_verify_boot(cli, argc, argv);
		}
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'a':
			if (against)
				against[o.nagainst++] = optarg;
			break;
		case 'h':
			fputs(verify_help, stdout);
			free(against);
			return 0;
		default:
			free(against);
			return cli_usage_error("verify", "unknown option");
		}
	}
	if (!against) {
		sp_error_set(&err, SP_E_NOMEM, "out of memory");
		return cli_fail(cli, &err);
	}
	if (optind < argc)
		o.spec = argv[optind++];
	if (optind < argc || (o.nagainst && !o.spec)) {
		free(against);
		return optind < argc
			   ? cli_usage_error("verify",
					     "unexpected argument "
					     "'%s'",
					     argv[optind])
			   : cli_usage_error("verify", "--against needs the "
						       "point: NAME[@ID]");
	}
	o.against = against;
	cli_job_opts(cli, &o.job);
	r = sp_vault_open(cli->vault, &v, &err);
	if (r == 0)
		r = sp_verify_run(v, &o, &rep, &err);
	if (rep && v)
		json_object_set_new(rep, "requests", sp_vault_requests(v));
	sp_vault_close(v);
	free(against);
	cli_progress_done();
	if (!rep)
		return cli_fail(cli, &err);
	if (cli->json) {
		cli_print_json(json_incref(rep));
	} else if (o.nagainst) {
		print_against(rep);
	} else {
		json_array_foreach(json_object_get(rep, "damaged"), i, d)
		{
			json_t *rg;
			size_t k;
			const char *disk =
			    json_string_value(json_object_get(d, "disk"));
			const char *file =
			    json_string_value(json_object_get(d, "file"));
			const char *e =
			    json_string_value(json_object_get(d, "error"));
			if (e && file)
				printf("DAMAGED %s file %s: %s\n",
				       json_string_value(
					   json_object_get(d, "point")),
				       file, e);
			else if (e)
				printf("DAMAGED %s%s%s: %s\n",
				       json_string_value(
					   json_object_get(d, "point")),
				       disk ? " disk " : "", disk ? disk : "",
				       e);
			json_array_foreach(json_object_get(d, "ranges"), k, rg)
			    printf(
				"DAMAGED %s disk %s: bytes %lld+%lld "
				"%s\n",
				json_string_value(json_object_get(d, "point")),
				disk,
				(long long)json_integer_value(
				    json_object_get(rg, "offset")),
				(long long)json_integer_value(
				    json_object_get(rg, "length")),
				json_string_value(
				    json_object_get(rg, "error")));
		}
		if (!cli->quiet || r < 0)
			printf("verified %lld point(s), %lld chunk(s), %lld "
			       "file(s): %s\n",
			       (long long)json_integer_value(
				   json_object_get(rep, "points")),
			       (long long)json_integer_value(
				   json_object_get(rep, "chunks")),
			       (long long)json_integer_value(
				   json_object_get(rep, "files")),
			       r == 0 ? "all sound" : "DAMAGE FOUND");
	}
	json_decref(rep);
	if (r < 0)
		return cli_fail(cli, &err);
	return 0;
}

// SPDX-License-Identifier: LGPL-2.1-or-later
/* `stillpoint verify`: read back and check every chunk points need. */
#include <getopt.h>
#include <stdio.h>

#include "cli.h"

static const char verify_help[] =
    "NAME\n"
    "    stillpoint verify - check that recovery points can be restored\n"
    "\n"
    "SYNOPSIS\n"
    "    stillpoint [--vault DIR] verify [NAME[@ID]] [--json]\n"
    "\n"
    "DESCRIPTION\n"
    "    Reads back every chunk the selected points need (all points, the\n"
    "    points of VM NAME, or point NAME@ID), decompresses it and checks\n"
    "    its hash; also checks each point's manifest and disk indexes.\n"
    "    Chunks shared by several points are read once.\n"
    "\n"
    "EXIT STATUS\n"
    "    0 when everything is sound; 3 when damage was found, after\n"
    "    naming each damaged point, disk and byte range (offset+length)\n"
    "    with ChunkMissing or ChunkCorrupt; 1 if verify could not run.\n";

int cmd_verify(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct sp_verify_opts o = {0};
	struct sp_vault *v = NULL;
	struct sp_error err = {0};
	json_t *rep = NULL, *d;
	size_t i;
	int c, r;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			cli->json = true;
			break;
		case 'h':
			fputs(verify_help, stdout);
			return 0;
		default:
			return cli_usage_error("verify", "unknown option");
		}
	}
	if (optind < argc)
		o.spec = argv[optind++];
	if (optind < argc)
		return cli_usage_error("verify", "unexpected argument '%s'",
				       argv[optind]);
	cli_job_opts(cli, &o.job);
	r = sp_vault_open(cli->vault, &v, &err);
	if (r == 0)
		r = sp_verify_run(v, &o, &rep, &err);
	sp_vault_close(v);
	cli_progress_done();
	if (!rep)
		return cli_fail(cli, &err);
	if (cli->json) {
		cli_print_json(json_incref(rep));
	} else {
		json_array_foreach(json_object_get(rep, "damaged"), i, d)
		{
			json_t *rg;
			size_t k;
			const char *disk =
			    json_string_value(json_object_get(d, "disk"));
			const char *e =
			    json_string_value(json_object_get(d, "error"));
			if (e)
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
			printf("verified %lld point(s), %lld chunk(s): %s\n",
			       (long long)json_integer_value(
				   json_object_get(rep, "points")),
			       (long long)json_integer_value(
				   json_object_get(rep, "chunks")),
			       r == 0 ? "all sound" : "DAMAGE FOUND");
	}
	json_decref(rep);
	if (r < 0)
		return cli_fail(cli, &err);
	return 0;
}

// SPDX-License-Identifier: LGPL-2.1-or-later
/* `stillpoint points`: list recovery points. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const char points_help[] =
    "NAME\n"
    "    stillpoint points - list recovery points\n"
    "\n"
    "SYNOPSIS\n"
    "    stillpoint [--vault DIR] points [NAME] [--json]\n"
    "\n"
    "DESCRIPTION\n"
    "    Lists the recovery points of VM NAME (of every VM when omitted),\n"
    "    oldest first: id, time (UTC), consistency, each disk with its\n"
    "    virtual size, bytes read and the size of the chunks it added\n"
    "    to the vault (whole slots: a 1 MiB change can add a 4 MiB chunk),\n"
    "    then how it was read: dirty-bitmap (only blocks changed since\n"
    "    the previous point), full-compare (read in full, only chunks\n"
    "    unlike the vault's stored) or full (no earlier point of that\n"
    "    disk), with the reason when not dirty-bitmap.  A point of a\n"
    "    UEFI or TPM domain also lists the state stored with it: the\n"
    "    NVRAM (nvram) and the swtpm state files (tpm), each with its\n"
    "    size and where it came from, or why it was not stored, and the\n"
    "    firmware code, named only (it is read-only and not stored).\n"
    "    A point booted by 'stillpoint verify --boot' shows the last\n"
    "    result: boot-verified with its time and RTO (milliseconds from\n"
    "    the request until the probe passed), or boot-verify FAILED with\n"
    "    the error's code and the probe's exit code; a note that does\n"
    "    not read (damaged, or moved from another point) is named and the\n"
    "    point listed all the same.\n"
    "\n"
    "    With --json (also accepted before the command): an array of the\n"
    "    points' manifests, each with at least id, name, time (RFC 3339),\n"
    "    consistency, disks (name, size, format, bytes_read, bytes_new,\n"
    "    read_mode, read_reason, ...), bytes_read, bytes_new, phases,\n"
    "    warnings, and for domains state (kind, name, source, file, size,\n"
    "    sha256, or reason) and firmware, and boot_verified (time,\n"
    "    passed, rto_ms, boot_ms, probe, exit_code, error) when the point\n"
    "    was booted by verify --boot.  See docs/vault-format.md.\n";

/* The NVRAM and TPM state stored with point @m, and its firmware. */
static void print_state(json_t *m)
{
	json_t *fw = json_object_get(m, "firmware"), *it;
	size_t i;

	json_array_foreach(json_object_get(m, "state"), i, it)
	{
		const char *kind =
		    json_string_value(json_object_get(it, "kind"));
		const char *src =
		    json_string_value(json_object_get(it, "source"));
		char sz[32];

		if (!json_is_string(json_object_get(it, "file"))) {
			printf(
			    "    %-5s not stored: %s\n", kind,
			    json_string_value(json_object_get(it, "reason")));
			continue;
		}
		sp_format_bytes(
		    (uint64_t)json_integer_value(json_object_get(it, "size")),
		    sz, sizeof(sz));
		printf("    %-5s %-24s size %-10s from %s\n", kind,
		       json_string_value(json_object_get(it, "name")), sz,
		       src ? src : "?");
	}
	if (json_is_string(json_object_get(fw, "loader")))
		printf(
		    "    firmware %s (%s%s: not stored)\n",
		    json_string_value(json_object_get(fw, "loader")),
		    json_is_string(json_object_get(fw, "loader_type"))
			? json_string_value(json_object_get(fw, "loader_type"))
			: "loader",
		    json_is_true(json_object_get(fw, "loader_readonly"))
			? ", read-only"
			: "");
}

/* Each domain point's last boot verification (verify --boot) as its
 * "boot_verified". */
static int add_boot_verified(struct sp_vault *v, json_t *all,
			     struct sp_error *err)
{
	json_t *m, *bv;
	size_t i;
	int r;

	json_array_foreach(all, i, m)
	{
		if (!json_is_object(json_object_get(m, "source")))
			continue;
		r = sp_point_boot_verified(
		    v, json_string_value(json_object_get(m, "name")),
		    json_string_value(json_object_get(m, "id")), &bv, err);
		/* A damaged note says nothing about the point: list it. */
		if (r < 0 && err->code != SP_E_POINT_FILE_CORRUPT)
			return r;
		if (r < 0)
			json_object_set_new(
			    m, "boot_verified",
			    json_pack("{s:s, s:s}", "error",
				      sp_errcode_name(err->code), "message",
				      err->msg));
		else if (bv)
			json_object_set_new(m, "boot_verified", bv);
	}
	return 0;
}

static void print_boot_verified(json_t *m)
{
	json_t *bv = json_object_get(m, "boot_verified");

	if (!json_is_object(bv))
		return;
	if (json_is_string(json_object_get(bv, "message")) &&
	    !json_is_string(json_object_get(bv, "time")))
		printf("    boot-verified: unknown, its note is damaged: %s\n",
		       json_string_value(json_object_get(bv, "message")));
	else if (json_is_true(json_object_get(bv, "passed")))
		printf("    boot-verified %s  rto %lld ms%s%s\n",
		       json_string_value(json_object_get(bv, "time")),
		       (long long)json_integer_value(
			   json_object_get(bv, "rto_ms")),
		       json_is_string(json_object_get(bv, "probe"))
			   ? "  probe: "
			   : "  (agent answered, no probe)",
		       json_is_string(json_object_get(bv, "probe"))
			   ? json_string_value(json_object_get(bv, "probe"))
			   : "");
	else if (json_is_integer(json_object_get(bv, "exit_code")))
		printf("    boot-verify FAILED %s  %s  probe exit code %lld\n",
		       json_string_value(json_object_get(bv, "time")),
		       json_string_value(json_object_get(bv, "error")),
		       (long long)json_integer_value(
			   json_object_get(bv, "exit_code")));
	else
		printf("    boot-verify FAILED %s  %s\n",
		       json_string_value(json_object_get(bv, "time")),
		       json_string_value(json_object_get(bv, "error")));
}

int cmd_points(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct sp_vault *v = NULL;
	struct sp_error err = {0};
	const char *name = NULL;
	json_t *all = NULL, *m;
	size_t i;
	int c, r;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			fputs(points_help, stdout);
			return 0;
		default:
			return cli_usage_error("points", "unknown option");
		}
	}
	if (optind < argc)
		name = argv[optind++];
	if (optind < argc)
		return cli_usage_error("points", "unexpected argument '%s'",
				       argv[optind]);
	r = sp_vault_open(cli->vault, &v, &err);
	if (r == 0)
		r = sp_vault_list_points(v, name, &all, &err);
	if (r == 0)
		r = add_boot_verified(v, all, &err);
	sp_vault_close(v);
	if (r < 0) {
		json_decref(all);
		return cli_fail(cli, &err);
	}
	if (cli->json) {
		cli_print_json(all);
		return 0;
	}
	if (json_array_size(all) == 0 && !cli->quiet)
		fprintf(stderr, "no recovery points%s%s\n", name ? " for " : "",
			name ? name : "");
	json_array_foreach(all, i, m)
	{
		size_t k;
		json_t *d;
		char nw[32];

		sp_format_bytes((uint64_t)json_integer_value(
				    json_object_get(m, "bytes_new")),
				nw, sizeof(nw));
		printf("%s@%s  %s  %-11s  new chunks %s",
		       json_string_value(json_object_get(m, "name")),
		       json_string_value(json_object_get(m, "id")),
		       json_string_value(json_object_get(m, "time")),
		       json_string_value(json_object_get(m, "consistency")),
		       nw);
		json_t *ph = json_object_get(m, "phases");
		if (json_is_integer(json_object_get(m, "freeze_ms")))
			printf("  frozen %lld ms",
			       (long long)json_integer_value(
				   json_object_get(m, "freeze_ms")));
		if (json_is_object(json_object_get(m, "source")))
			printf("  snapshot %.1f s, transfer %.1f s",
			       (double)json_integer_value(json_object_get(
				   json_object_get(ph, "snapshot"),
				   "duration_ms")) /
				   1000.0,
			       (double)json_integer_value(json_object_get(
				   json_object_get(ph, "transfer"),
				   "duration_ms")) /
				   1000.0);
		printf("\n");
		json_t *why = json_object_get(m, "consistency_reason");
		if (json_is_object(why))
			printf(
			    "    %s because%s%s: %s\n",
			    json_string_value(
				json_object_get(m, "consistency")),
			    json_is_string(json_object_get(why, "code")) ? " "
									 : "",
			    json_is_string(json_object_get(why, "code"))
				? json_string_value(
				      json_object_get(why, "code"))
				: "",
			    json_string_value(json_object_get(why, "message")));
		json_array_foreach(json_object_get(m, "disks"), k, d)
		{
			char sz[32], rd[32], dn[32];
			sp_format_bytes((uint64_t)json_integer_value(
					    json_object_get(d, "size")),
					sz, sizeof(sz));
			sp_format_bytes((uint64_t)json_integer_value(
					    json_object_get(d, "bytes_read")),
					rd, sizeof(rd));
			sp_format_bytes((uint64_t)json_integer_value(
					    json_object_get(d, "bytes_new")),
					dn, sizeof(dn));
			printf("    %-24s %-5s size %-10s read %-10s new "
			       "chunks %s\n",
			       json_string_value(json_object_get(d, "name")),
			       json_string_value(json_object_get(d, "format")),
			       sz, rd, dn);
			cli_print_read_mode(d, "      ");
		}
		print_state(m);
		print_boot_verified(m);
		json_t *w;
		size_t wi;
		json_array_foreach(json_object_get(m, "warnings"), wi, w)
		    printf("    warning: %s\n", json_string_value(w));
	}
	json_decref(all);
	return 0;
}

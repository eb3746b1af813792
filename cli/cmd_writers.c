// SPDX-License-Identifier: LGPL-2.1-or-later
/* `stillpoint writers DOMAIN`: a VM's writers and their states. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char writers_help[] =
    "NAME\n"
    "    stillpoint writers - list a VM's writers and their states\n"
    "\n"
    "SYNOPSIS\n"
    "    stillpoint [--vault DIR] writers DOMAIN [--connect URI]\n"
    "               [--writers FILE] [--json]\n"
    "\n"
    "DESCRIPTION\n"
    "    Like 'vssadmin list writers' on Windows: every writer that takes\n"
    "    part in the still point of DOMAIN, where it runs (guest or host),\n"
    "    its state and its last error.\n"
    "\n"
    "    fsfreeze     the file-system freeze through qemu-guest-agent\n"
    "                 (VSS on Windows guests); 'disabled' when the\n"
    "                 settings turn it off\n"
    "    hooks        the writers of the VM's settings (--writers FILE,\n"
    "                 else /etc/stillpoint/writers/DOMAIN.json), with the\n"
    "                 outcome of the last backup job\n"
    "    VSS writers  on a Windows guest, read live with 'vssadmin list\n"
    "                 writers' through the guest agent\n"
    "\n"
    "    States: stable, failed at prepare, failed at freeze, failed at\n"
    "    thaw, timed out, never run, disabled; VSS writers keep their own\n"
    "    (waiting for completion, failed at freeze, ...).\n"
    "\n"
    "OPTIONS\n"
    "    --connect URI   libvirt connection (default: $LIBVIRT_DEFAULT_URI,\n"
    "                    else qemu:///system)\n"
    "    --writers FILE  the VM's writer settings\n"
    "    --json          {domain, state, agent, writers: [{name, where,\n"
    "                    kind, state, last_error}]} (also accepted before\n"
    "                    the command)\n"
    "\n"
    "EXIT STATUS\n"
    "    0 when every writer is stable (or never run, or disabled), 1\n"
    "    when one has failed or timed out, 2 on a usage error.\n"
    "\n"
    "ERRORS\n"
    "    DomainNotFound, LibvirtFailed, WriterConfigInvalid,\n"
    "    WriterUnsafePermissions.\n";

int cmd_writers(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"connect", required_argument, NULL, 'C'},
	    {"writers", required_argument, NULL, 'W'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *uri = NULL, *wpath = NULL;
	struct sp_vault *v = NULL;
	struct sp_error err = {0}, verr;
	json_t *res = NULL, *w;
	bool bad = false;
	size_t i;
	int c, r;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'C':
			uri = optarg;
			break;
		case 'W':
			wpath = optarg;
			break;
		case 'h':
			fputs(writers_help, stdout);
			return 0;
		default:
			return cli_usage_error("writers", "unknown option");
		}
	}
	if (optind + 1 != argc)
		return cli_usage_error("writers", "expected one DOMAIN");
	/* The vault only adds the last job's outcome: list without it. */
	if (sp_vault_open(cli->vault, &v, &verr) < 0)
		v = NULL;
	r = sp_domain_writers(v, uri, argv[optind], wpath, &res, &err);
	sp_vault_close(v);
	if (r < 0)
		return cli_fail(cli, &err);
	json_array_foreach(json_object_get(res, "writers"), i, w)
	{
		const char *st = json_string_value(json_object_get(w, "state"));
		if (st &&
		    (!strncmp(st, "failed", 6) || !strcmp(st, "timed out")))
			bad = true;
	}
	if (cli->json) {
		cli_print_json(res);
		return bad ? 1 : 0;
	}
	printf("domain %s (%s), guest agent %s%s%s\n",
	       json_string_value(json_object_get(res, "domain")),
	       json_string_value(json_object_get(res, "state")),
	       json_is_true(json_object_get(res, "agent")) ? "answering"
							   : "not answering",
	       json_is_true(json_object_get(res, "agent")) ? "" : ": ",
	       json_is_true(json_object_get(res, "agent"))
		   ? ""
		   : json_string_value(json_object_get(res, "agent_error")));
	printf("%-28s %-6s %-17s %-20s %s\n", "WRITER", "WHERE", "KIND",
	       "STATE", "LAST ERROR");
	json_array_foreach(json_object_get(res, "writers"), i, w)
	{
		const char *le =
		    json_string_value(json_object_get(w, "last_error"));
		printf("%-28s %-6s %-17s %-20s %s\n",
		       json_string_value(json_object_get(w, "name")),
		       json_string_value(json_object_get(w, "where")),
		       json_string_value(json_object_get(w, "kind")),
		       json_string_value(json_object_get(w, "state")),
		       le && *le ? le : "-");
	}
	json_decref(res);
	return bad ? 1 : 0;
}

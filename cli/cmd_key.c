// SPDX-License-Identifier: LGPL-2.1-or-later
/* `stillpoint key list|add|remove|passwd|export`: the key slots of an
 * encrypted vault (docs/encryption.md). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char key_help[] =
    "NAME\n"
    "    stillpoint key - the key slots of an encrypted vault\n"
    "\n"
    "SYNOPSIS\n"
    "    stillpoint [--vault DIR] [--key-file F] key list [--json]\n"
    "    stillpoint key add [--key-file NEWFILE] [--label TEXT] [--json]\n"
    "    stillpoint key remove SLOT-ID [--json]\n"
    "    stillpoint key passwd [--label TEXT] [--json]\n"
    "    stillpoint key export --paper [--json]\n"
    "\n"
    "DESCRIPTION\n"
    "    An encrypted vault has one key, kept in key slots (keys.json):\n"
    "    each slot is the key wrapped by a passphrase (scrypt) or by a key\n"
    "    file.  Every command first opens the vault with a slot it already\n"
    "    has: the global --key-file (or $STILLPOINT_KEY_FILE), else the\n"
    "    passphrase from $STILLPOINT_PASSPHRASE, $STILLPOINT_PASSPHRASE_FILE\n"
    "    or the terminal.\n"
    "\n"
    "    list      the slots: id, kind, label, when made, KDF; the slot\n"
    "              the vault was opened with is marked\n"
    "    add       a new passphrase slot (the new passphrase from\n"
    "              $STILLPOINT_NEW_PASSPHRASE, else asked twice), or with\n"
    "              --key-file NEWFILE a key-file slot (NEWFILE is made, 32\n"
    "              random bytes, mode 0600, when it does not exist)\n"
    "    remove    remove slot SLOT-ID; the last slot is refused (a vault\n"
    "              without one could never be opened again)\n"
    "    passwd    change the passphrase: a new passphrase slot replaces\n"
    "              the slot the vault was opened with (opened with a key\n"
    "              file or paper key, the new slot is only added)\n"
    "    export --paper\n"
    "              print the vault's key as a paper key: seven short lines\n"
    "              with check symbols.  Whoever holds them can read the\n"
    "              vault: print them, keep them offline.  Typed into a\n"
    "              file, they open the vault as --key-file.\n"
    "\n"
    "    keys.json is replaced whole by one atomic write; no copy of the\n"
    "    old one is kept (a removed slot must stop working).  Changing a\n"
    "    passphrase does not re-encrypt anything: the vault's key stays.\n"
    "\n"
    "OPTIONS\n"
    "    --key-file NEWFILE  (add) a key-file slot instead of a passphrase\n"
    "    --label TEXT        (add, passwd) a note shown by list\n"
    "    --paper             (export) the only export form\n"
    "    --json              list: [{id, kind, label, created, kdf,\n"
    "                        unlocked}]; add, passwd: {slot}; remove:\n"
    "                        {removed}; export: {paper_key} (the text)\n"
    "\n"
    "EXIT STATUS\n"
    "    0 success, 1 failure, 2 usage error.\n"
    "\n"
    "ERRORS\n"
    "    VaultKeyNeeded (no passphrase or key file given), VaultKeyWrong\n"
    "    (none of the slots opens with it; nothing is changed),\n"
    "    UsageError (the vault is not encrypted, no such slot, the last\n"
    "    slot, a key file that cannot be read).\n"
    "\n"
    "EXAMPLES\n"
    "    stillpoint --vault s3://backups/vms key list\n"
    "    STILLPOINT_NEW_PASSPHRASE=... stillpoint key add --label ops\n"
    "    stillpoint key add --key-file /etc/stillpoint/vault.key\n"
    "    stillpoint key remove 5c1e09a2\n"
    "    stillpoint key export --paper > /dev/lp0\n";

static int key_list(struct cli *cli, struct sp_vault *v)
{
	struct sp_error err = {0};
	json_t *arr = NULL, *s;
	size_t i;

	if (sp_vault_keys_list(v, &arr, &err) < 0)
		return cli_fail(cli, &err);
	if (cli->json) {
		cli_print_json(arr);
		return 0;
	}
	printf("%-9s %-10s %-20s %-24s %s\n", "SLOT", "KIND", "CREATED", "KDF",
	       "LABEL");
	json_array_foreach(arr, i, s)
	{
		const char *label =
		    json_string_value(json_object_get(s, "label"));
		printf("%-9s %-10s %-20s %-24s %s%s%s\n",
		       json_string_value(json_object_get(s, "id")),
		       json_string_value(json_object_get(s, "kind")),
		       json_string_value(json_object_get(s, "created")),
		       json_string_value(json_object_get(s, "kdf")), label,
		       *label ? " " : "",
		       json_is_true(json_object_get(s, "unlocked"))
			   ? "(opened with)"
			   : "");
	}
	json_decref(arr);
	return 0;
}

int cmd_key(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"key-file", required_argument, NULL, 'k'},
	    {"label", required_argument, NULL, 'l'},
	    {"paper", no_argument, NULL, 'p'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *key_file = NULL, *label = NULL, *sub;
	struct sp_vault *v = NULL;
	struct sp_error err = {0};
	bool paper = false;
	char id[9] = "";
	int c, r = 0;

	if (argc < 2)
		return cli_usage_error("key", "which key command: list, add, "
					      "remove, passwd or export?");
	if (cli_wants_help(argc, argv)) {
		fputs(key_help, stdout);
		return 0;
	}
	sub = argv[1];
	argc--;
	argv++;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'k':
			key_file = optarg;
			break;
		case 'l':
			label = optarg;
			break;
		case 'p':
			paper = true;
			break;
		case 'h':
			fputs(key_help, stdout);
			return 0;
		default:
			return cli_usage_error("key", "unknown option");
		}
	}
	bool is_remove = !strcmp(sub, "remove");
	if (strcmp(sub, "list") && strcmp(sub, "add") && !is_remove &&
	    strcmp(sub, "passwd") && strcmp(sub, "export"))
		return cli_usage_error("key", "unknown key command '%s'", sub);
	if (is_remove ? optind + 1 != argc : optind != argc)
		return cli_usage_error("key",
				       is_remove ? "remove wants one SLOT-ID"
						 : "unexpected argument '%s'",
				       argv[optind]);
	if (key_file && strcmp(sub, "add"))
		return cli_usage_error("key", "--key-file after 'key' is for "
					      "'key add' (open the vault "
					      "with the global --key-file)");
	if (!strcmp(sub, "export") && !paper)
		return cli_usage_error("key", "export wants --paper");
	if (sp_vault_open(cli->vault, &v, &err) < 0)
		return cli_fail(cli, &err);
	if (!strcmp(sub, "list")) {
		r = key_list(cli, v);
		sp_vault_close(v);
		return r;
	}
	if (!strcmp(sub, "add"))
		r = sp_vault_keys_add(v, key_file, label, id, &err);
	else if (!strcmp(sub, "passwd"))
		r = sp_vault_keys_passwd(v, label, id, &err);
	else if (is_remove)
		r = sp_vault_keys_remove(v, argv[optind], &err);
	else {
		char *text = NULL;
		r = sp_vault_keys_paper(v, &text, &err);
		if (r == 0 && cli->json)
			cli_print_json(json_pack("{s:s}", "paper_key", text));
		else if (r == 0)
			fputs(text, stdout);
		if (r == 0) {
			explicit_bzero(text, strlen(text));
			free(text);
		}
	}
	sp_vault_close(v);
	if (r < 0)
		return cli_fail(cli, &err);
	if (!strcmp(sub, "export"))
		return 0;
	if (cli->json)
		cli_print_json(is_remove
				   ? json_pack("{s:s}", "removed", argv[optind])
				   : json_pack("{s:s}", "slot", id));
	else if (!cli->quiet)
		printf(is_remove ? "removed slot %s\n" : "added slot %s\n",
		       is_remove ? argv[optind] : id);
	return 0;
}

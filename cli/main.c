// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * `stillpoint`: global options, then one command.  Each command family
 * lives in its own cmd_*.c with its own --help text.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static volatile sig_atomic_t cancel_requested;

static void on_signal(int sig)
{
	(void)sig;
	cancel_requested = 1;
}

static const char main_help[] =
    "NAME\n"
    "    stillpoint - back up and restore virtual machines\n"
    "\n"
    "SYNOPSIS\n"
    "    stillpoint [GLOBAL OPTIONS] COMMAND [ARGS...]\n"
    "    stillpoint COMMAND --help\n"
    "\n"
    "DESCRIPTION\n"
    "    Stillpoint keeps recovery points of virtual machines in a vault:\n"
    "    a directory of deduplicated, compressed chunks.  Every point is\n"
    "    logically full (it restores on its own) while storing only the\n"
    "    chunks that changed since earlier points.\n"
    "\n"
    "COMMANDS\n"
    "    init       create a vault\n"
    "    backup     back up a libvirt domain (or disk images) as one\n"
    "               recovery point, at one still point\n"
    "    points     list recovery points\n"
    "    files      list the files of a point (read in place, lazily)\n"
    "    restore    write a point's disks back out, define it as a new\n"
    "               domain (--as) or replace the original's (--in-place)\n"
    "    verify     read back and check every chunk points need; --boot:\n"
    "               boot a point as a throwaway domain and probe it\n"
    "    copy       copy points into another vault (an offsite copy),\n"
    "               sending only the chunks it lacks\n"
    "    delete     move a point to the trash\n"
    "    undelete   bring a point back from the trash\n"
    "    trash      list the points in the trash\n"
    "    gc         reclaim chunks no point uses (safe during backups)\n"
    "    info       show the vault's settings\n"
    "    catalog    rebuild the listing catalog from the vault's files\n"
    "    writers    list a VM's writers and their states\n"
    "    cbt        changed-block tracking for raw disks: enable,\n"
    "               disable, status\n"
    "    policy     create, list, show, edit, delete backup policies\n"
    "    protect    bind a VM to a policy\n"
    "    unprotect  stop backing up a VM\n"
    "    protected  list the protected VMs, their last and next backup\n"
    "    jobs       the job history\n"
    "    job        one job (job ID), or cancel it (job cancel ID)\n"
    "    prune      apply protected VMs' retention (--dry-run shows why)\n"
    "    key        an encrypted vault's key slots: list, add, remove,\n"
    "               passwd, export --paper\n"
    "    serve      a point's disks over NBD, read lazily from the vault\n"
    "    mount      a point's disks as read-only image files (FUSE)\n"
    "    errors     list the error codes with their recommended actions\n"
    "\n"
    "GLOBAL OPTIONS\n"
    "    --vault DIR     the vault (default: $STILLPOINT_VAULT, else\n"
    "                    " SP_DEFAULT_VAULT "); a directory, or\n"
    "                    s3://BUCKET[/PREFIX] for a vault in S3 object\n"
    "                    storage (see S3 VAULTS)\n"
    "    --s3-endpoint URL  the S3 server (default: $AWS_ENDPOINT_URL,\n"
    "                    else AWS); path-style addressing is used for any\n"
    "                    endpoint but AWS's\n"
    "    --s3-ca FILE    trust the CA certificates in FILE for the S3\n"
    "                    server's TLS (default: $AWS_CA_BUNDLE, else the\n"
    "                    system's); TLS is always verified\n"
    "    --key-file F    open an encrypted vault with the key file (or\n"
    "                    paper key) F instead of a passphrase (default:\n"
    "                    $STILLPOINT_KEY_FILE)\n"
    "    --json          machine-readable output: one JSON document on\n"
    "                    stdout, errors as JSON on stderr; every command\n"
    "                    also takes it after its name\n"
    "    -q, --quiet     no progress and no chatter\n"
    "    --progress      show progress even when stderr is no terminal\n"
    "    --no-progress   never show progress\n"
    "    --threads N     worker threads (default: twice the number of CPUs)\n"
    "    -h, --help      this text\n"
    "    --version       print the version\n"
    "\n"
    "S3 VAULTS\n"
    "    Credentials come the way AWS tools take them:\n"
    "    AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN,\n"
    "    AWS_REGION (default us-east-1), AWS_ENDPOINT_URL, AWS_CA_BUNDLE.\n"
    "    A file /etc/stillpoint/vaults/BUCKET.conf (mode 0600, owned by\n"
    "    the user; keys endpoint, region, access_key_id,\n"
    "    secret_access_key, session_token, ca_file, path_style; and the\n"
    "    vault's key, see ENCRYPTED VAULTS) gives them\n"
    "    to the daemon, and wins over the environment.  Secrets never\n"
    "    appear in arguments, logs, job records or --json output.\n"
    "\n"
    "ENCRYPTED VAULTS\n"
    "    'init' encrypts s3:// vaults unless told --no-encrypt, and a\n"
    "    directory with --encrypt (docs/encryption.md).  An encrypted vault\n"
    "    opens with its passphrase, from STILLPOINT_PASSPHRASE,\n"
    "    STILLPOINT_PASSPHRASE_FILE or the terminal, or with a key file\n"
    "    (--key-file, STILLPOINT_KEY_FILE).  Without either, the vault's\n"
    "    own file in $STILLPOINT_VAULTS_DIR (default\n"
    "    /etc/stillpoint/vaults) gives it, before any prompt: an S3\n"
    "    vault's is BUCKET.conf, a directory vault's the *.conf file\n"
    "    whose line 'vault = /PATH' names it; its settings\n"
    "    passphrase_file = FILE, passphrase = TEXT or key_file = FILE.\n"
    "    That file and the files it names must be the user's own, mode\n"
    "    0600.  This is how the daemon opens vaults with different keys.\n"
    "    A wrong key is VaultKeyWrong and nothing is written.  See\n"
    "    'stillpoint key --help'.\n"
    "\n"
    "EXIT STATUS\n"
    "    0 success, 1 failure, 2 usage error, 3 verify found damage (or\n"
    "    a point booted by verify --boot did not prove itself).\n"
    "    Every failure prints a stable error code (see 'stillpoint\n"
    "    errors' and docs/errors.md).\n"
    "\n"
    "EXAMPLES\n"
    "    stillpoint --vault /srv/vault init\n"
    "    stillpoint --vault /srv/vault backup web01\n"
    "    stillpoint --vault /srv/vault points web01 --json\n"
    "    stillpoint --vault /srv/vault writers web01\n"
    "    stillpoint --vault /srv/vault restore web01 --as web01-copy\n"
    "    stillpoint --vault /srv/vault backup --name web01 \\\n"
    "        --disk /var/lib/libvirt/images/web01.qcow2:qcow2\n"
    "    stillpoint --vault /srv/vault points web01\n"
    "    stillpoint --vault /srv/vault restore web01 --to /srv/restore\n";

static const struct {
	const char *name;
	int (*fn)(struct cli *, int, char **);
} commands[] = {
    {"init", cmd_init},
    {"backup", cmd_backup},
    {"points", cmd_points},
    {"restore", cmd_restore},
    {"verify", cmd_verify},
    /* offsite copies */
    {"copy", cmd_copy},
    {"catalog", cmd_catalog},
    {"errors", cmd_errors},
    {"info", cmd_info},
    {"writers", cmd_writers},
    {"delete", cmd_delete},
    {"undelete", cmd_undelete},
    {"trash", cmd_trash},
    {"gc", cmd_gc},
    {"policy", cmd_policy},
    {"protect", cmd_protect},
    {"unprotect", cmd_unprotect},
    {"protected", cmd_protected},
    {"jobs", cmd_jobs},
    {"job", cmd_job},
    {"prune", cmd_prune},
    {"cbt", cmd_cbt},
    {"key", cmd_key},
    {"serve", cmd_serve},
    {"mount", cmd_mount},
    {"files", cmd_files},
};

/*
 * --json is a global option that every command also takes after its name
 * (`stillpoint points --json`, `stillpoint policy list --json`): it is
 * taken out of the command's arguments here, once, up to a "--", so that
 * no command can forget it.  A value "--json" given to an option of the
 * command is taken out as well.  Returns the new argument count.
 */
static int take_json(int argc, char **argv, bool *json)
{
	int n = 1;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--")) {
			while (i < argc)
				argv[n++] = argv[i++];
			break;
		}
		if (!strcmp(argv[i], "--json"))
			*json = true;
		else
			argv[n++] = argv[i];
	}
	argv[n] = NULL;
	return n;
}

int main(int argc, char **argv)
{
	struct cli cli = {.progress = -1, .cancel = &cancel_requested};
	static const struct option opts[] = {
	    {"vault", required_argument, NULL, 'V'},
	    {"key-file", required_argument, NULL, 'K'},
	    {"s3-endpoint", required_argument, NULL, 'E'},
	    {"s3-ca", required_argument, NULL, 'C'},
	    {"json", no_argument, NULL, 'j'},
	    {"quiet", no_argument, NULL, 'q'},
	    {"progress", no_argument, NULL, 'P'},
	    {"no-progress", no_argument, NULL, 'N'},
	    {"threads", required_argument, NULL, 'T'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'v'},
	    {NULL, 0, NULL, 0},
	};
	struct sigaction sa = {.sa_handler = on_signal};
	int c, nargs, status;

	if (sp_watchdog_dispatch(argc, argv, &status))
		return status;
	cli_output_init(&cli);
	cli.vault = getenv("STILLPOINT_VAULT");
	if (!cli.vault || !*cli.vault)
		cli.vault = SP_DEFAULT_VAULT;
	/* "+": stop at the command; its options are its own. */
	while ((c = getopt_long(argc, argv, "+qh", opts, NULL)) != -1) {
		switch (c) {
		case 'V':
			cli.vault = optarg;
			break;
		case 'K':
			/* Read where the vault is opened (the library). */
			setenv("STILLPOINT_KEY_FILE", optarg, 1);
			break;
		case 'E':
			/* As AWS tools take it: every vault this process
			 * opens (a copy's target too) sees it. */
			setenv("AWS_ENDPOINT_URL", optarg, 1);
			break;
		case 'C':
			setenv("AWS_CA_BUNDLE", optarg, 1);
			break;
		case 'j':
			cli.json = true;
			break;
		case 'q':
			cli.quiet = true;
			break;
		case 'P':
			cli.progress = 1;
			break;
		case 'N':
			cli.progress = 0;
			break;
		case 'T': {
			char *end;
			long n = strtol(optarg, &end, 10);
			if (*end || n < 1 || n > 32)
				return cli_usage_error(
				    NULL,
				    "--threads wants 1 to 32, "
				    "not '%s'",
				    optarg);
			cli.threads = (unsigned)n;
			break;
		}
		case 'h':
			fputs(main_help, stdout);
			return 0;
		case 'v':
			printf("stillpoint %s\n", SP_VERSION);
			return 0;
		default:
			return cli_usage_error(NULL, "unknown option");
		}
	}
	if (optind >= argc) {
		if (cli.json)
			return cli_usage_error(NULL, "no command given");
		fputs(main_help, stderr);
		return EXIT_USAGE;
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	nargs = take_json(argc - optind, argv + optind, &cli.json);
	/* Under --json a command's bad option is reported by the command, as
	 * JSON; getopt's own words would land on stderr beside it. */
	opterr = !cli.json;
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(argv[optind], commands[i].name)) {
			char **av = argv + optind;
			optind = 0; /* reset getopt for the command */
			return commands[i].fn(&cli, nargs, av);
		}
	return cli_usage_error(NULL, "unknown command '%s'", argv[optind]);
}

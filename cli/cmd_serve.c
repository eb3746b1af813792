// SPDX-License-Identifier: LGPL-2.1-or-later
/* `stillpoint serve` and `stillpoint mount`: a point's disks without
 * restoring them, over NBD or as files. */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char serve_help[] =
    "NAME\n"
    "    stillpoint serve - export a recovery point's disks over NBD\n"
    "\n"
    "SYNOPSIS\n"
    "    stillpoint [--vault V] serve NAME[@ID] [--disk D]\n"
    "                   [--socket PATH | --port N] [--writable]\n"
    "                   [--cache SIZE] [--json]\n"
    "\n"
    "DESCRIPTION\n"
    "    Serves the disks of a recovery point (the newest of VM NAME, or\n"
    "    NAME@ID; ID may be a unique prefix) as NBD exports, without\n"
    "    restoring them: chunks are read from the vault only when a\n"
    "    client reads their bytes, checked against their ids, and kept\n"
    "    in a cache of bounded size.  Each export is a disk's guest-\n"
    "    visible bytes (raw, whatever format the source had), named by\n"
    "    the disk's target (vda) or, for a point of image files, by the\n"
    "    file's name; the default export is the first disk.  Runs in the\n"
    "    foreground until interrupted (Ctrl-C, SIGTERM); once it listens\n"
    "    it prints the NBD URI of each export, e.g.\n"
    "\n"
    "        qemu-img convert -O qcow2 'nbd+unix:///vda?socket=S' vda.qcow2\n"
    "        nbdcopy 'nbd+unix:///vda?socket=S' vda.raw\n"
    "        qemu-system-x86_64 ... -drive file=nbd+unix:///vda?socket=S\n"
    "\n"
    "    The server is nbdkit running Stillpoint's plugin; reads of zero\n"
    "    regions are answered without the vault and reported as holes,\n"
    "    so copies stay sparse.  The vault is opened as by any command\n"
    "    (credentials and key from the environment or the vault's file,\n"
    "    else a passphrase asked on the terminal; nbdkit is handed the\n"
    "    unlocked key, never the passphrase) and its shared lock is held\n"
    "    while serving: gc and the trash never take the chunks of a\n"
    "    point being served.\n"
    "\n"
    "OPTIONS\n"
    "    --disk D        serve disk D only (its target or name)\n"
    "    --socket PATH   listen on Unix socket PATH (default: a private\n"
    "                    socket under /tmp, printed)\n"
    "    --port N        listen on TCP port N of 127.0.0.1 instead\n"
    "    --writable      accept writes, kept in a temporary overlay and\n"
    "                    dropped when the server stops; the vault is never\n"
    "                    written (default: read-only exports)\n"
    "    --cache SIZE    decoded chunks kept in memory (default 128M;\n"
    "                    at least 4 chunks)\n"
    "    --json          print {point, socket|port, writable, exports:\n"
    "                    [{export, name, size, format, uri}]} once\n"
    "                    listening, and what was read from the vault\n"
    "                    ({chunks_read, bytes_read, cache_hits}) at the end\n"
    "\n"
    "EXIT STATUS\n"
    "    0 when stopped by a signal; 1 on failure: no such point\n"
    "    (PointNotFound), no such disk (Usage), nbdkit missing or the\n"
    "    server ended on its own (ServeFailed); 2 on a usage error.\n";

static const char mount_help[] =
    "NAME\n"
    "    stillpoint mount - show a recovery point's disks as image files\n"
    "\n"
    "SYNOPSIS\n"
    "    stillpoint [--vault V] mount NAME[@ID] DIR [--cache SIZE] [--json]\n"
    "\n"
    "DESCRIPTION\n"
    "    Mounts a read-only file system (FUSE) on directory DIR holding\n"
    "    one raw image file per disk of the point (the newest of VM\n"
    "    NAME, or NAME@ID): DISK.raw, named by the disk's target (vda)\n"
    "    or, for a point of image files, by the file's name with its\n"
    "    extension replaced.  Reads fetch chunks from the vault lazily,\n"
    "    checked against their ids, through a bounded cache: copy one\n"
    "    disk with cp, attach it to a loop device read-only, or hand it\n"
    "    to any tool that wants files, without restoring the point.\n"
    "\n"
    "    Runs in the foreground until DIR is unmounted (umount DIR or\n"
    "    fusermount3 -u DIR) or the command is interrupted (Ctrl-C,\n"
    "    SIGTERM), which unmounts DIR cleanly.  Nothing is written to\n"
    "    the vault; the files refuse writes.\n"
    "\n"
    "OPTIONS\n"
    "    --cache SIZE    decoded chunks kept in memory (default 128M)\n"
    "    --json          print {point, dir, files: [{file, disk, size}]}\n"
    "                    once mounted\n"
    "\n"
    "EXIT STATUS\n"
    "    0 once unmounted; 1 on failure: no such point (PointNotFound),\n"
    "    DIR missing (TargetNotFound), FUSE unavailable or DIR busy\n"
    "    (MountFailed); 2 on a usage error.\n";

/* One JSON object on a line of stdout. */
static void print_json_line(json_t *v)
{
	char *text = json_dumps(v, JSON_COMPACT);

	printf("%s\n", text ? text : "{}");
	free(text);
}

static void serve_ready(void *ctx, json_t *info)
{
	const struct cli *cli = ctx;
	json_t *ex;
	size_t i;

	if (cli->json) {
		json_t *line = json_deep_copy(info);

		json_object_set_new(line, "event", json_string("listening"));
		print_json_line(line);
		json_decref(line);
	} else if (!cli->quiet) {
		printf("serving point %s%s (Ctrl-C stops)\n",
		       json_string_value(json_object_get(info, "point")),
		       json_is_true(json_object_get(info, "writable"))
			   ? ", writes kept in a temporary overlay"
			   : ", read-only");
		json_array_foreach(json_object_get(info, "exports"), i, ex)
		{
			char sz[32];

			sp_format_bytes((uint64_t)json_integer_value(
					    json_object_get(ex, "size")),
					sz, sizeof(sz));
			printf("    %-8s %9s  %s\n",
			       json_string_value(json_object_get(ex, "export")),
			       sz,
			       json_string_value(json_object_get(ex, "uri")));
		}
	}
	fflush(stdout);
}

static bool parse_cache(const char *arg, uint64_t *out)
{
	return sp_parse_size(arg, out) && *out > 0;
}

int cmd_serve(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"disk", required_argument, NULL, 'd'},
	    {"socket", required_argument, NULL, 's'},
	    {"port", required_argument, NULL, 'p'},
	    {"writable", no_argument, NULL, 'w'},
	    {"cache", required_argument, NULL, 'c'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct sp_serve_request rq = {.stop = cli->cancel};
	struct sp_vault *v = NULL;
	struct sp_error err = {0};
	json_t *stats = NULL;
	int c, r;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			rq.disk = optarg;
			break;
		case 's':
			rq.socket = optarg;
			break;
		case 'p': {
			char *end;
			long p = strtol(optarg, &end, 10);

			if (*end || p < 1 || p > 65535)
				return cli_usage_error(
				    "serve", "--port takes 1-65535, not '%s'",
				    optarg);
			rq.port = (int)p;
			break;
		}
		case 'w':
			rq.writable = true;
			break;
		case 'c':
			if (!parse_cache(optarg, &rq.cache_bytes))
				return cli_usage_error(
				    "serve",
				    "--cache takes a size (256M), not "
				    "'%s'",
				    optarg);
			break;
		case 'h':
			fputs(serve_help, stdout);
			return 0;
		default:
			return cli_usage_error("serve", "unknown option");
		}
	}
	if (optind + 1 != argc)
		return cli_usage_error("serve", "give one point: NAME[@ID]");
	if (rq.socket && rq.port)
		return cli_usage_error(
		    "serve", "--socket and --port exclude each other");
	rq.point = argv[optind];
	rq.ready = serve_ready;
	rq.ctx = cli;
	r = sp_vault_open(cli->vault, &v, &err);
	if (r == 0)
		r = sp_serve_run(v, cli->vault, &rq, &stats, &err);
	sp_vault_close(v);
	if (r < 0) {
		json_decref(stats);
		return cli_fail(cli, &err);
	}
	if (cli->json && stats) {
		json_object_set_new(stats, "event", json_string("stopped"));
		print_json_line(stats);
	} else if (!cli->quiet && stats) {
		char sz[32];

		sp_format_bytes((uint64_t)json_integer_value(
				    json_object_get(stats, "bytes_read")),
				sz, sizeof(sz));
		printf("stopped: %lld chunks (%s) read from the vault\n",
		       (long long)json_integer_value(
			   json_object_get(stats, "chunks_read")),
		       sz);
	}
	json_decref(stats);
	return 0;
}

static void mount_ready(void *ctx, json_t *info)
{
	const struct cli *cli = ctx;
	json_t *f;
	size_t i;

	if (cli->json) {
		print_json_line(info);
	} else if (!cli->quiet) {
		printf("point %s mounted on %s (umount or Ctrl-C ends it)\n",
		       json_string_value(json_object_get(info, "point")),
		       json_string_value(json_object_get(info, "dir")));
		json_array_foreach(json_object_get(info, "files"), i, f) printf(
		    "    %s\n", json_string_value(json_object_get(f, "file")));
	}
	fflush(stdout);
}

int cmd_mount(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"cache", required_argument, NULL, 'c'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct sp_mount_request rq = {
	    .ready = mount_ready, .ctx = cli, .stop = cli->cancel};
	struct sp_vault *v = NULL;
	struct sp_error err = {0};
	int c, r;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			if (!parse_cache(optarg, &rq.cache_bytes))
				return cli_usage_error(
				    "mount",
				    "--cache takes a size (256M), not "
				    "'%s'",
				    optarg);
			break;
		case 'h':
			fputs(mount_help, stdout);
			return 0;
		default:
			return cli_usage_error("mount", "unknown option");
		}
	}
	if (optind + 2 != argc)
		return cli_usage_error(
		    "mount", "give a point and a directory: NAME[@ID] "
			     "DIR");
	rq.point = argv[optind];
	rq.dir = argv[optind + 1];
	r = sp_vault_open(cli->vault, &v, &err);
	if (r == 0)
		r = sp_mount_run(v, &rq, NULL, &err);
	sp_vault_close(v);
	if (r < 0)
		return cli_fail(cli, &err);
	return 0;
}

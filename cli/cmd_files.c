// SPDX-License-Identifier: LGPL-2.1-or-later
/* `stillpoint files` and `stillpoint restore --file`: files out of a point. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli.h"

static const char files_help[] =
    "NAME\n"
    "    stillpoint files - list the files of a recovery point\n"
    "\n"
    "SYNOPSIS\n"
    "    stillpoint [--vault DIR] files NAME[@ID] [PATH] [--json]\n"
    "\n"
    "DESCRIPTION\n"
    "    Without PATH, lists the file systems found on the point's disks\n"
    "    (partitions, whole disks and LVM logical volumes): the device\n"
    "    to name them by, the type, label, UUID, and where the guest had\n"
    "    mounted it, when the point knows.  With PATH, lists that\n"
    "    directory like ls -l (type and mode, owner and group ids, size,\n"
    "    modification time, name, a link's target), or that one entry\n"
    "    when PATH is not a directory.\n"
    "\n"
    "    PATH is either a guest path (/var/log/messages) or\n"
    "    DEVICE:/path.  A guest path is resolved through the mount map a\n"
    "    backup of a running domain records when its guest agent answers\n"
    "    (guest-get-fsinfo): the file system mounted deepest above the\n"
    "    path.  DEVICE names a file system directly, for any point:\n"
    "        vdb:1:/etc/hosts     partition 1 of disk vdb\n"
    "        vda::/log            disk vda without a partition table\n"
    "        lvm:vg0/data:/x      logical volume data of group vg0\n"
    "    DISK is the disk's target (vda) for points of domains, the\n"
    "    image's file name for points of image files.\n"
    "\n"
    "    The point is not restored: its disks are served over NBD and\n"
    "    read lazily, chunk by chunk, by a small appliance VM\n"
    "    (libguestfs) that parses partition tables, LVM and file systems\n"
    "    with its own kernel.  The host's kernel never mounts a guest\n"
    "    file system.  Launching the appliance takes seconds (about 15 s\n"
    "    under TCG); ext4, xfs, btrfs, vfat and ntfs are read where the\n"
    "    appliance's kernel and tools can.  See docs/files.md.\n"
    "\n"
    "    Names are printed with bytes outside printable ASCII as \\xNN.\n"
    "\n"
    "OPTIONS\n"
    "    --json    the listing as JSON: {name, id, path, device, entries:\n"
    "              [{name, type, mode, uid, gid, size, mtime, target}],\n"
    "              vault_read, accel}, or without PATH {name, id,\n"
    "              filesystems: [{device, type, label, uuid,\n"
    "              mountpoint}], mounts, vault_read, accel}\n"
    "\n"
    "ENVIRONMENT\n"
    "    STILLPOINT_FILES_ACCEL=kvm|tcg  the appliance's accelerator; by\n"
    "              default KVM when /dev/kvm is usable and the host is\n"
    "              not itself a virtual machine, else TCG\n"
    "    STILLPOINT_FILES_IDLE_TIMEOUT=S  stop the appliance when it has\n"
    "              not answered for S seconds (default 600)\n"
    "\n"
    "EXAMPLES\n"
    "    stillpoint files web01\n"
    "    stillpoint files web01@20261129 /var/lib/pgsql\n"
    "    stillpoint files disk.img vda::/ --json\n"
    "\n"
    "ERRORS\n"
    "    PointNotFound, PointAmbiguous, GuestPathNotFound,\n"
    "    GuestPathUnmapped, GuestDiskNotFound, GuestFsNotFound,\n"
    "    GuestfsFailed, GuestFileReadFailed, ServeFailed.\n";

static void mode_string(int mode, const char *type, char out[11])
{
	static const char rwx[] = "rwxrwxrwx";

	out[0] = !strcmp(type, "directory") ? 'd'
		 : !strcmp(type, "symlink") ? 'l'
		 : !strcmp(type, "char")    ? 'c'
		 : !strcmp(type, "block")   ? 'b'
		 : !strcmp(type, "fifo")    ? 'p'
		 : !strcmp(type, "socket")  ? 's'
					    : '-';
	for (int i = 0; i < 9; i++)
		out[1 + i] = mode & (0400 >> i) ? rwx[i] : '-';
	if (mode & S_ISUID)
		out[3] = out[3] == 'x' ? 's' : 'S';
	if (mode & S_ISGID)
		out[6] = out[6] == 'x' ? 's' : 'S';
	if (mode & S_ISVTX)
		out[9] = out[9] == 'x' ? 't' : 'T';
	out[10] = 0;
}

static void print_vault_read(json_t *res)
{
	json_t *vr = json_object_get(res, "vault_read");
	char b[32];

	if (!json_is_object(vr))
		return;
	sp_format_bytes(
	    (uint64_t)json_integer_value(json_object_get(vr, "bytes_read")), b,
	    sizeof(b));
	fprintf(
	    stderr, "stillpoint: read %s from the vault (%lld chunks)\n", b,
	    (long long)json_integer_value(json_object_get(vr, "chunks_read")));
}

static void print_listing(json_t *res)
{
	json_t *e;
	size_t i;

	if (json_object_get(res, "filesystems")) {
		printf("%-20s %-8s %-16s %s\n", "DEVICE", "TYPE", "LABEL",
		       "MOUNTED AT");
		json_array_foreach(json_object_get(res, "filesystems"), i, e)
		{
			const char *l =
			    json_string_value(json_object_get(e, "label"));
			const char *m =
			    json_string_value(json_object_get(e, "mountpoint"));
			printf("%-20s %-8s %-16s %s\n",
			       json_string_value(json_object_get(e, "device")),
			       json_string_value(json_object_get(e, "type")),
			       l ? l : "-", m ? m : "-");
		}
		return;
	}
	json_array_foreach(json_object_get(res, "entries"), i, e)
	{
		const char *t = json_string_value(json_object_get(e, "target"));
		time_t mt =
		    (time_t)json_integer_value(json_object_get(e, "mtime"));
		char mode[11], when[32];
		struct tm tm;

		mode_string((int)json_integer_value(json_object_get(e, "mode")),
			    json_string_value(json_object_get(e, "type")),
			    mode);
		gmtime_r(&mt, &tm);
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M", &tm);
		printf(
		    "%s %6lld %6lld %12lld %s %s%s%s\n", mode,
		    (long long)json_integer_value(json_object_get(e, "uid")),
		    (long long)json_integer_value(json_object_get(e, "gid")),
		    (long long)json_integer_value(json_object_get(e, "size")),
		    when, json_string_value(json_object_get(e, "name")),
		    t ? " -> " : "", t ? t : "");
	}
}

int cmd_files(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct sp_files_opts o = {0};
	struct sp_vault *v = NULL;
	struct sp_error err = {0};
	const char *path[1];
	json_t *res = NULL;
	int c, r;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			fputs(files_help, stdout);
			return 0;
		default:
			return cli_usage_error("files", "unknown option");
		}
	}
	if (optind >= argc || argc - optind > 2)
		return cli_usage_error("files", "expected NAME[@ID] [PATH]");
	o.spec = argv[optind];
	if (argc - optind == 2) {
		path[0] = argv[optind + 1];
		o.paths = path;
		o.npaths = 1;
	}
	o.vault = cli->vault;
	cli_job_opts(cli, &o.job);
	r = sp_vault_open(cli->vault, &v, &err);
	if (r == 0)
		r = sp_files_list(v, &o, &res, &err);
	sp_vault_close(v);
	if (r < 0)
		return cli_fail(cli, &err);
	if (cli->json) {
		cli_print_json(res);
		return 0;
	}
	print_listing(res);
	if (!cli->quiet)
		print_vault_read(res);
	json_decref(res);
	return 0;
}

int cli_files_restore(struct cli *cli, const char *spec,
		      const char *const *paths, size_t npaths,
		      const char *to_dir, bool force)
{
	struct sp_files_opts o = {0};
	struct sp_vault *v = NULL;
	struct sp_error err = {0};
	json_t *res = NULL, *s;
	size_t i;
	int r;

	o.spec = spec;
	o.paths = paths;
	o.npaths = npaths;
	o.to_dir = to_dir;
	o.force = force;
	o.vault = cli->vault;
	cli_job_opts(cli, &o.job);
	r = sp_vault_open(cli->vault, &v, &err);
	if (r == 0)
		r = sp_files_restore(v, &o, &res, &err);
	sp_vault_close(v);
	cli_progress_done();
	if (r < 0)
		return cli_fail(cli, &err);
	json_array_foreach(json_object_get(res, "skipped"), i, s)
	    fprintf(stderr, "stillpoint: note: skipped '%s': %s\n",
		    json_string_value(json_object_get(s, "path")),
		    json_string_value(json_object_get(s, "reason")));
	if (json_integer_value(json_object_get(res, "xattrs_failed")))
		fprintf(stderr,
			"stillpoint: note: %lld extended attributes could not "
			"be set on %s (its file system refused them)\n",
			(long long)json_integer_value(
			    json_object_get(res, "xattrs_failed")),
			to_dir);
	if (cli->json) {
		cli_print_json(res);
		return 0;
	}
	if (!cli->quiet) {
		char b[32];
		sp_format_bytes(
		    (uint64_t)json_integer_value(json_object_get(res, "bytes")),
		    b, sizeof(b));
		printf(
		    "restored %lld files, %lld directories, %lld symlinks, "
		    "%lld hard links (%s) from %s@%s into %s\n",
		    (long long)json_integer_value(
			json_object_get(res, "files")),
		    (long long)json_integer_value(json_object_get(res, "dirs")),
		    (long long)json_integer_value(
			json_object_get(res, "symlinks")),
		    (long long)json_integer_value(
			json_object_get(res, "hardlinks")),
		    b, json_string_value(json_object_get(res, "name")),
		    json_string_value(json_object_get(res, "id")), to_dir);
		print_vault_read(res);
	}
	json_decref(res);
	return 0;
}

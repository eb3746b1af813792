// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * `stillpoint mount` (stillpoint.h): a read-only FUSE file system whose
 * root holds one raw image file per disk of a point, read lazily through
 * point_image.h.  Zero slots are holes: st_blocks counts only the slots
 * with data and SEEK_DATA/SEEK_HOLE find them, so `cp` stays sparse.
 */
#define FUSE_USE_VERSION 35
#include <fuse.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "job/point_image.h"
#include "job/serve.h"
#include "vault/vault.h"

struct mount_file {
	char *file;
	struct sp_point_image *img;
	uint64_t data_bytes; /* bytes in slots with data */
};

struct mount_ctx {
	struct mount_file *files;
	size_t n;
	time_t time; /* the point's */
};

static struct mount_ctx *ctx_of(void)
{
	return fuse_get_context()->private_data;
}

static struct mount_file *lookup(const char *path)
{
	struct mount_ctx *c = ctx_of();

	if (path[0] != '/')
		return NULL;
	for (size_t i = 0; i < c->n; i++)
		if (!strcmp(c->files[i].file, path + 1))
			return &c->files[i];
	return NULL;
}

static int fs_getattr(const char *path, struct stat *st,
		      struct fuse_file_info *fi)
{
	struct mount_ctx *c = ctx_of();
	struct mount_file *f;

	memset(st, 0, sizeof(*st));
	st->st_uid = getuid();
	st->st_gid = getgid();
	st->st_mtime = st->st_ctime = st->st_atime = c->time;
	if (!strcmp(path, "/")) {
		st->st_mode = S_IFDIR | 0555;
		st->st_nlink = 2;
		return 0;
	}
	if (!(f = lookup(path)))
		return -ENOENT;
	st->st_mode = S_IFREG | 0444;
	st->st_nlink = 1;
	st->st_size = (off_t)sp_point_image_size(f->img);
	st->st_blksize = (blksize_t)sp_point_image_chunk_size(f->img);
	st->st_blocks = (blkcnt_t)(f->data_bytes / 512);
	return 0;
}

static int fs_readdir(const char *path, void *buf, fuse_fill_dir_t fill,
		      off_t off, struct fuse_file_info *fi,
		      enum fuse_readdir_flags flags)
{
	struct mount_ctx *c = ctx_of();

	if (strcmp(path, "/"))
		return -ENOTDIR;
	fill(buf, ".", NULL, 0, 0);
	fill(buf, "..", NULL, 0, 0);
	for (size_t i = 0; i < c->n; i++)
		fill(buf, c->files[i].file, NULL, 0, 0);
	return 0;
}

static int fs_open(const char *path, struct fuse_file_info *fi)
{
	struct mount_file *f = lookup(path);

	if (!f)
		return -ENOENT;
	if ((fi->flags & O_ACCMODE) != O_RDONLY)
		return -EROFS;
	fi->fh = (uint64_t)(f - ctx_of()->files);
	fi->keep_cache = 1; /* the bytes never change */
	return 0;
}

static int fs_read(const char *path, char *buf, size_t size, off_t off,
		   struct fuse_file_info *fi)
{
	struct mount_file *f = &ctx_of()->files[fi->fh];
	uint64_t disk = sp_point_image_size(f->img);
	struct sp_error err = {0};

	if (off < 0)
		return -EINVAL;
	if ((uint64_t)off >= disk)
		return 0;
	if (size > disk - (uint64_t)off)
		size = (size_t)(disk - (uint64_t)off);
	if (sp_point_image_pread(f->img, buf, size, (uint64_t)off, &err) < 0) {
		fprintf(stderr, "stillpoint: error: SP%d %s\n",
			sp_errcode_number(err.code), err.msg);
		return -EIO;
	}
	return (int)size;
}

/* SEEK_DATA / SEEK_HOLE over the slots. */
static off_t fs_lseek(const char *path, off_t off, int whence,
		      struct fuse_file_info *fi)
{
	struct mount_file *f = &ctx_of()->files[fi->fh];
	uint64_t size = sp_point_image_size(f->img);
	uint64_t cs = sp_point_image_chunk_size(f->img);
	uint64_t pos = (uint64_t)off;

	if (whence != SEEK_DATA && whence != SEEK_HOLE)
		return -EINVAL;
	if (off < 0 || pos >= size)
		return -ENXIO;
	while (pos < size) {
		bool zero = sp_point_image_is_zero(f->img, pos);

		if ((whence == SEEK_DATA) != zero)
			return (off_t)pos;
		pos = (pos / cs + 1) * cs;
	}
	return whence == SEEK_HOLE ? (off_t)size : -ENXIO;
}

static int fs_statfs(const char *path, struct statvfs *st)
{
	memset(st, 0, sizeof(*st));
	st->f_bsize = 4096;
	st->f_namemax = 255;
	return 0;
}

static void *fs_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	cfg->kernel_cache = 1;
	cfg->entry_timeout = cfg->attr_timeout = 3600;
	return ctx_of();
}

static const struct fuse_operations ops = {
    .getattr = fs_getattr,
    .readdir = fs_readdir,
    .open = fs_open,
    .read = fs_read,
    .lseek = fs_lseek,
    .statfs = fs_statfs,
    .init = fs_init,
};

/* "vda" -> "vda.raw"; "web.qcow2" -> "web.raw"; taken names get "-2"... */
static char *file_name(const char *export, struct mount_ctx *c)
{
	static const char *const exts[] = {".qcow2", ".img", ".raw", ".vmdk",
					   ".vdi",   ".vhd", ".vhdx"};
	size_t len = strlen(export);
	char *name = NULL;

	for (size_t i = 0; i < sizeof(exts) / sizeof(*exts); i++) {
		size_t el = strlen(exts[i]);

		if (len > el && !strcmp(export + len - el, exts[i])) {
			len -= el;
			break;
		}
	}
	for (int n = 1; n < 1000; n++) {
		bool taken = false;

		free(name);
		if ((n == 1 ? asprintf(&name, "%.*s.raw", (int)len, export)
			    : asprintf(&name, "%.*s-%d.raw", (int)len, export,
				       n)) < 0)
			return NULL;
		for (size_t i = 0; i < c->n; i++)
			taken = taken || !strcmp(c->files[i].file, name);
		if (!taken)
			return name;
	}
	free(name);
	return NULL;
}

static void ctx_free(struct mount_ctx *c)
{
	for (size_t i = 0; i < c->n; i++) {
		sp_point_image_free(c->files[i].img);
		free(c->files[i].file);
	}
	free(c->files);
}

static int open_files(struct sp_vault *v, json_t *m, uint64_t cache,
		      struct mount_ctx *c, struct sp_error *err)
{
	const char *name = json_string_value(json_object_get(m, "name"));
	const char *id = json_string_value(json_object_get(m, "id"));
	json_t *disks = json_object_get(m, "disks"), *d;
	struct tm tm = {0};
	size_t i;
	int r;

	if (strptime(json_string_value(json_object_get(m, "time")) ?: "",
		     "%Y-%m-%dT%H:%M:%S", &tm))
		c->time = timegm(&tm);
	if (!(c->files = calloc(json_array_size(disks) + 1, sizeof(*c->files))))
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	json_array_foreach(disks, i, d)
	{
		struct mount_file *f = &c->files[c->n];
		uint64_t cs, size;

		r = sp_point_image_open(v, name, id, d, cache, &f->img, err);
		if (r < 0)
			return r;
		if (!(f->file = file_name(sp_serve_export_name(d), c))) {
			sp_point_image_free(f->img);
			return sp_error_set(err, SP_E_NOMEM, "out of memory");
		}
		c->n++;
		cs = sp_point_image_chunk_size(f->img);
		size = sp_point_image_size(f->img);
		for (uint64_t off = 0; off < size; off += cs)
			if (!sp_point_image_is_zero(f->img, off))
				f->data_bytes +=
				    size - off < cs ? size - off : cs;
	}
	return 0;
}

int sp_mount_run(struct sp_vault *v, const struct sp_mount_request *rq,
		 json_t **stats, struct sp_error *err)
{
	struct mount_ctx c = {0};
	json_t *m = NULL, *point = NULL, *info, *files;
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	struct fuse *fuse = NULL;
	struct fuse_loop_config lc = {.clone_fd = 0, .max_idle_threads = 8};
	struct stat st;
	char fsname[200];
	int r;

	if (stat(rq->dir, &st) < 0 || !S_ISDIR(st.st_mode))
		return sp_error_set(err, SP_E_TARGET_NOT_FOUND,
				    "'%s' is not a directory (make it first: "
				    "mkdir '%s')",
				    rq->dir, rq->dir);
	r = sp_vault_find_point(v, rq->point, &point, err);
	if (r == 0)
		r = sp_vault_point_manifest(
		    v, json_string_value(json_object_get(point, "name")),
		    json_string_value(json_object_get(point, "id")), &m, err);
	json_decref(point);
	if (r == 0)
		r = open_files(v, m, rq->cache_bytes, &c, err);
	if (r < 0)
		goto out;
	snprintf(fsname, sizeof(fsname), "fsname=stillpoint:%s@%s",
		 json_string_value(json_object_get(m, "name")),
		 json_string_value(json_object_get(m, "id")));
	if (fuse_opt_add_arg(&args, "stillpoint") < 0 ||
	    fuse_opt_add_arg(&args, "-o") < 0 ||
	    fuse_opt_add_arg(&args,
			     "ro,default_permissions,subtype=stillpoint") < 0 ||
	    fuse_opt_add_arg(&args, "-o") < 0 ||
	    fuse_opt_add_arg(&args, fsname) < 0) {
		r = sp_error_set(err, SP_E_NOMEM, "out of memory");
		goto out;
	}
	fuse = fuse_new(&args, &ops, sizeof(ops), &c);
	if (!fuse || fuse_mount(fuse, rq->dir) != 0) {
		r = sp_error_set(
		    err, SP_E_MOUNT_FAILED,
		    "cannot mount point '%s' on '%s' (see the FUSE "
		    "message above)",
		    rq->point, rq->dir);
		goto out;
	}
	/* FUSE's handlers unmount on SIGINT, SIGTERM and SIGHUP; it
	 * installs them only over the default ones. */
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	if (fuse_set_signal_handlers(fuse_get_session(fuse)) != 0) {
		fuse_unmount(fuse);
		r = sp_error_set(err, SP_E_MOUNT_FAILED,
				 "cannot set FUSE's signal handlers");
		goto out;
	}
	info = json_pack("{s:s++, s:s, s:[]}", "point",
			 json_string_value(json_object_get(m, "name")), "@",
			 json_string_value(json_object_get(m, "id")), "dir",
			 rq->dir, "files");
	files = json_object_get(info, "files");
	for (size_t i = 0; i < c.n; i++)
		json_array_append_new(
		    files,
		    json_pack("{s:s, s:s, s:I}", "file", c.files[i].file,
			      "disk",
			      sp_serve_export_name(json_array_get(
				  json_object_get(m, "disks"), i)),
			      "size",
			      (json_int_t)sp_point_image_size(c.files[i].img)));
	if (rq->ready)
		rq->ready(rq->ctx, info);
	json_decref(info);
	if (fuse_loop_mt(fuse, &lc) < 0)
		r = sp_error_set(err, SP_E_MOUNT_FAILED,
				 "the FUSE session of '%s' failed", rq->dir);
	fuse_remove_signal_handlers(fuse_get_session(fuse));
	fuse_unmount(fuse);
	if (stats) {
		struct sp_point_image_stats t = {0}, s;

		for (size_t i = 0; i < c.n; i++) {
			sp_point_image_stats(c.files[i].img, &s);
			t.chunks_read += s.chunks_read;
			t.bytes_read += s.bytes_read;
		}
		*stats = json_pack("{s:I, s:I}", "chunks_read",
				   (json_int_t)t.chunks_read, "bytes_read",
				   (json_int_t)t.bytes_read);
	}
out:
	if (fuse)
		fuse_destroy(fuse);
	fuse_opt_free_args(&args);
	ctx_free(&c);
	json_decref(m);
	return r;
}

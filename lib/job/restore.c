// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The restore job: every disk of a recovery point written to a file (raw
 * sparse or qcow2) or a block device, plus the stored config.
 *
 * Pipeline: this thread walks each point disk with the extent cursor
 * (point_disk.h: zero slots are zero extents); zero slots are skipped on
 * fresh targets (they read as zeroes already) or zeroed in runs on block
 * devices; data slots go to workers that read the chunk, check it against
 * its id and length, and write it at the slot's offset.
 *
 * Invariants:
 *  1. No byte is written that did not match its chunk id and its slot's
 *     length.
 *  2. Every target is checked before the first byte is written: an
 *     existing file is refused unless forced; a disk whose index does not
 *     match the manifest's digest is refused before its target is made.
 *  3. On failure, files being written are removed (sp_disk_target_abort):
 *     what is left under the final names is either the old content or the
 *     complete restore.
 *  4. Stored state files (NVRAM, TPM) are read and checked against their
 *     SHA-256, and their targets checked, before the first disk target is
 *     made; they are written, like the config, once the disks are.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "disk/disk.h"
#include "disk/extent_cursor.h"
#include "job/job.h"
#include "job/point_disk.h"
#include "job/restore_name.h"
#include "job/vm_state.h"
#include "job/workq.h"
#include "util/cleanup.h"
#include "util/fileio.h"
#include "util/iobuf.h"
#include "util/log.h"
#include "util/text.h"
#include "vault/chunk_id.h"
#include "vault/disk_index.h"
#include "vault/vault.h"

struct rjob {
	uint64_t slot;
};

struct restore_ctx {
	struct sp_vault *vault;
	struct sp_job_status status;
	struct sp_workq *work;
	struct sp_disk_index *index;
	struct sp_disk_target *target;
	const char *disk_name;
	uint64_t disk_size;
	atomic_uint_fast64_t bytes_written;
};

static size_t next_block(size_t len, size_t at, size_t bs)
{
	return len - at < bs ? len : at + bs;
}

static bool block_is_zero(const uint8_t *buf, size_t len, size_t at, size_t bs)
{
	return sp_buffer_is_zero(buf + at, next_block(len, at, bs) - at);
}

/* A slot's bytes at @off.  A fresh target already reads as zeroes: only
 * the runs of blocks that hold data are written, so the restored file is
 * as sparse as the disk was and no zero block costs a write. */
static int write_slot(struct sp_disk_target *t, const uint8_t *buf, size_t len,
		      uint64_t off, struct sp_error *err)
{
	const size_t bs = SP_DISK_DIRECT_ALIGN;
	size_t at = 0;

	if (!sp_disk_target_is_zeroed(t))
		return sp_disk_target_pwrite(t, buf, len, off, err);
	while (at < len) {
		size_t start;
		int r;

		while (at < len && block_is_zero(buf, len, at, bs))
			at = next_block(len, at, bs);
		start = at;
		while (at < len && !block_is_zero(buf, len, at, bs))
			at = next_block(len, at, bs);
		if (at > start) {
			r = sp_disk_target_pwrite(t, buf + start, at - start,
						  off + start, err);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

static void *restore_worker(void *arg)
{
	struct restore_ctx *c = arg;
	const uint32_t cs = sp_disk_index_chunk_size(c->index);
	struct sp_chunk_codec *codec = sp_chunk_codec_new(cs);
	/* aligned, so that the target can write it without a copy */
	uint8_t *buf = sp_iobuf_new(cs);
	struct rjob *j;
	struct sp_error e;

	if (!codec || !buf) {
		sp_error_set(&e, SP_E_NOMEM, "out of memory");
		sp_job_status_fail(&c->status, &e);
	} else {
		sp_chunk_codec_read_once(codec);
	}
	while ((j = sp_workq_pop(c->work))) {
		uint64_t off = j->slot * cs;
		size_t want =
		    (size_t)(c->disk_size - off < cs ? c->disk_size - off : cs);
		size_t got = 0;
		int r;

		if (!codec || !buf || sp_job_status_stopped(&c->status))
			goto next;
		r = sp_chunk_store_get(c->vault->chunks, codec,
				       sp_disk_index_get(c->index, j->slot),
				       buf, cs, &got, &e);
		if (r == 0 && got != want)
			r = sp_error_set(&e, SP_E_CHUNK_CORRUPT,
					 "chunk has %zu bytes, expected %zu",
					 got, want);
		if (r < 0) {
			struct sp_error ctx;
			/* A file is removed on abort; a device cannot be. */
			sp_error_set(&ctx, r,
				     "cannot restore disk '%s' at offset %llu "
				     "(%zu bytes): %s; %s",
				     c->disk_name, (unsigned long long)off,
				     want, e.msg,
				     sp_disk_target_is_zeroed(c->target)
					 ? "nothing was left under the "
					   "target's name"
					 : "the block device now holds a "
					   "partial restore");
			sp_job_status_fail(&c->status, &ctx);
			goto next;
		}
		r = write_slot(c->target, buf, want, off, &e);
		if (r < 0) {
			sp_job_status_fail(&c->status, &e);
			goto next;
		}
		atomic_fetch_add(&c->bytes_written, want);
next:
		free(j);
	}
	sp_iobuf_free(buf, cs);
	sp_chunk_codec_free(codec);
	return NULL;
}

static int restore_disk(struct restore_ctx *c, struct sp_point_disk *pd,
			unsigned nthreads, struct sp_job_progress *jp,
			struct sp_error *err)
{
	const uint32_t cs = sp_disk_index_chunk_size(c->index);
	const uint64_t count = sp_disk_index_count(c->index);
	const bool zeroed = sp_disk_target_is_zeroed(c->target);
	struct sp_extent_cursor *cur = NULL;
	uint64_t zero_from = 0, zero_len = 0;
	pthread_t th[32];
	unsigned started = 0;
	int r;

	r = sp_point_disk_cursor(pd, &cur, err);
	if (r < 0)
		return r;
	c->work = sp_workq_new(nthreads * 2 + 2);
	if (!c->work) {
		sp_extent_cursor_free(cur);
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	}
	for (; started < nthreads && started < 32; started++)
		if (pthread_create(&th[started], NULL, restore_worker, c)) {
			r = sp_error_set(err, SP_E_NOMEM,
					 "cannot start worker threads");
			break;
		}
	for (uint64_t slot = 0; r == 0 && slot < count; slot++) {
		uint64_t off = slot * cs;
		uint64_t len =
		    c->disk_size - off < cs ? c->disk_size - off : cs;
		struct sp_extent_slice sl;

		if (sp_job_status_stopped(&c->status))
			break;
		r = sp_extent_cursor_next(cur, off, len, &sl, err);
		if (r < 0)
			break;
		if (sl.data_bytes == 0) {
			if (!zeroed) {
				if (zero_len && zero_from + zero_len == off) {
					zero_len += len;
				} else {
					if (zero_len)
						r = sp_disk_target_write_zeroes(
						    c->target, zero_from,
						    zero_len, err);
					zero_from = off;
					zero_len = len;
				}
			}
		} else {
			struct rjob *j = malloc(sizeof(*j));
			if (!j) {
				r = sp_error_set(err, SP_E_NOMEM,
						 "out of memory");
				break;
			}
			j->slot = slot;
			sp_workq_push(c->work, j);
		}
		jp->p.done += len;
		jp->p.bytes_read = atomic_load(&c->bytes_written);
		sp_job_progress_tick(jp, false);
	}
	if (r == 0 && zero_len)
		r = sp_disk_target_write_zeroes(c->target, zero_from, zero_len,
						err);
	sp_workq_close(c->work);
	for (unsigned i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	sp_workq_free(c->work);
	c->work = NULL;
	sp_extent_cursor_free(cur);
	if (r == 0 && sp_job_status_stopped(&c->status)) {
		*err = c->status.err;
		r = err->code;
	}
	return r;
}

static const char *map_lookup(const struct sp_restore_opts *o, const char *disk)
{
	size_t n = strlen(disk);

	for (size_t i = 0; i < o->nmaps; i++)
		if (!strncmp(o->maps[i], disk, n) && o->maps[i][n] == '=')
			return o->maps[i] + n + 1;
	return NULL;
}

static bool is_block_device(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISBLK(st.st_mode);
}

/* A target the operator named (--disk-to, or --to naming a device): a
 * block device is taken as named, through a link such as
 * /dev/disk/by-id/... too, so the device node itself is passed on; any
 * other path is passed as given, where a link is never followed. */
static char *named_target(const char *path)
{
	return is_block_device(path) ? realpath(path, NULL) : strdup(path);
}

/* What is at @name in --to's directory @dfd may be replaced only when it is
 * a regular file or a link (--force), never written through; a block
 * device there is written only when named (invariant 2). */
static int check_in_dir(int dfd, const char *name, const char *path,
			const char *disk, bool force, struct sp_error *err)
{
	struct stat st;

	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT
			   ? 0
			   : sp_error_set_errno(err, SP_E_TARGET_WRITE, errno,
						"cannot check '%s'", path);
	if (S_ISLNK(st.st_mode) && !force)
		return sp_error_set(err, SP_E_TARGET_EXISTS,
				    "'%s' is a symbolic link (a restore never "
				    "writes through one: remove it, or pass "
				    "--force to replace the link itself)",
				    path);
	if (S_ISBLK(st.st_mode))
		return sp_error_set(err, SP_E_TARGET_EXISTS,
				    "'%s' is a block device (a device is "
				    "written only when named: --disk-to "
				    "%s=DEVICE)",
				    path, disk);
	if (!S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode))
		return sp_error_set(err, SP_E_TARGET_EXISTS,
				    "'%s' exists and is not a regular file "
				    "(restore into another directory)",
				    path);
	if (!force && S_ISREG(st.st_mode))
		return sp_error_set(err, SP_E_TARGET_EXISTS,
				    "'%s' already exists (restore into "
				    "another directory, or pass --force "
				    "to overwrite)",
				    path);
	return 0;
}

/* A disk qcow2 cannot hold at its size is refused before anything is
 * written, never grown to the next sector. */
static int check_format(const struct sp_restore_opts *o, json_t *d,
			struct sp_error *err)
{
	const char *f = o->format
			    ? o->format
			    : json_string_value(json_object_get(d, "format"));
	uint64_t size =
	    (uint64_t)json_integer_value(json_object_get(d, "size"));
	char q[200];

	if (sp_disk_format_parse(f) != SP_DISK_FORMAT_QCOW2 || size % 512 == 0)
		return 0;
	sp_disk_name_quote(json_string_value(json_object_get(d, "name")), q,
			   sizeof(q));
	return sp_error_set(err, SP_E_TARGET_SIZE_UNALIGNED,
			    "cannot restore disk '%s' as qcow2: its size, %llu "
			    "bytes, is not a multiple of 512 and qcow2 would "
			    "round it up (restore it with --format raw)",
			    q, (unsigned long long)size);
}

/* --to DIR that does not exist is made (its parents too), as an operator
 * restoring into a new directory expects; *@created says so, for the
 * cleanup of a restore that fails. */
static int open_to_dir(const char *dir, bool *created)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int r;

	if (fd >= 0 || errno != ENOENT)
		return fd;
	r = sp_mkdir_parents(dir);
	if (r < 0) {
		errno = -r;
		return -1;
	}
	*created = true;
	sp_log(SP_LOG_NOTICE, "created restore directory '%s'", dir);
	return open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

/* Each disk's path: its --disk-to, or DIR/@names[i]. */
static int plan_paths(const struct sp_restore_opts *o, json_t *disks,
		      char **names, char **p, bool *created_dir,
		      struct sp_error *err)
{
	size_t n = json_array_size(disks), i;
	sp_autoclose int dfd = -1;
	json_t *d;
	int r;

	for (i = 0; i < o->nmaps; i++) {
		const char *eq = strchr(o->maps[i], '=');
		bool known = false;
		size_t k;
		json_array_foreach(disks, k, d)
		{
			const char *dn =
			    json_string_value(json_object_get(d, "name"));
			if (eq && strlen(dn) == (size_t)(eq - o->maps[i]) &&
			    !strncmp(dn, o->maps[i], strlen(dn)))
				known = true;
		}
		if (!known)
			return sp_error_set(
			    err, SP_E_USAGE,
			    "--disk-to '%s' names no disk of "
			    "the point (use DISK=PATH with a "
			    "disk name from 'stillpoint points')",
			    o->maps[i]);
	}
	json_array_foreach(disks, i, d)
	{
		r = check_format(o, d, err);
		if (r < 0)
			return r;
	}
	if (o->to_dir) {
		dfd = open_to_dir(o->to_dir, created_dir);
		int open_errno = errno;
		if (dfd < 0 && n == 1 && !o->nmaps &&
		    is_block_device(o->to_dir)) {
			p[0] = named_target(o->to_dir);
			return p[0] ? 0
				    : sp_error_set(err, SP_E_NOMEM,
						   "out of memory");
		}
		if (dfd < 0) {
			int code = sp_disk_target_dir_code(open_errno);
			if (code == SP_E_TARGET_NOT_FOUND)
				return sp_error_set(err, code,
						    "restore directory '%s' "
						    "cannot be made: a part of "
						    "its path is not a "
						    "directory",
						    o->to_dir);
			return sp_error_set_errno(
			    err, code, open_errno,
			    "cannot open restore directory '%s'", o->to_dir);
		}
	}
	json_array_foreach(disks, i, d)
	{
		const char *dn = json_string_value(json_object_get(d, "name"));
		const char *m = map_lookup(o, dn);

		if (!m && o->only_mapped)
			continue; /* p[i] stays NULL: not restored */
		if (!m && !o->to_dir)
			return sp_error_set(
			    err, SP_E_USAGE,
			    "no target for disk '%s' (give --to "
			    "DIR or --disk-to %s=PATH)",
			    dn, dn);
		if (m)
			p[i] = named_target(m);
		else if (asprintf(&p[i], "%s/%s", o->to_dir, names[i]) < 0)
			p[i] = NULL;
		if (!p[i])
			return sp_error_set(err, SP_E_NOMEM, "out of memory");
		if (!m) {
			r = check_in_dir(dfd, names[i], p[i], dn, o->force,
					 err);
			if (r < 0)
				return r;
		} else if (!o->force && !is_block_device(p[i]) &&
			   faccessat(AT_FDCWD, p[i], F_OK,
				     AT_SYMLINK_NOFOLLOW) == 0) {
			return sp_error_set(
			    err, SP_E_TARGET_EXISTS,
			    "'%s' already exists (restore into "
			    "another directory, or pass --force "
			    "to overwrite)",
			    p[i]);
		}
	}
	return 0;
}

/* Where each disk goes, named by restore_name.h under --to DIR; checked
 * before anything is written (invariant 2). */
static int plan_targets(const struct sp_restore_opts *o, json_t *disks,
			char ***paths, bool *created_dir, struct sp_error *err)
{
	size_t n = json_array_size(disks);
	char **p = calloc(n, sizeof(*p));
	char **names = NULL;
	int r;

	if (!p)
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	*paths = p;
	r = sp_restore_names(disks, o->format, &names);
	if (r < 0)
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	r = plan_paths(o, disks, names, p, created_dir, err);
	sp_restore_names_free(names, n);
	return r;
}

/* The stored config, beside the disks in @dir, by the same rules as a
 * disk named there: nothing is written through a link at its name.  With
 * @check_only, everything is checked (the stored copy, the target name)
 * and nothing written: the restore does that before its first target. */
static int restore_config(const struct sp_point_ref *p, json_t *cfg,
			  const char *dir, bool force, bool check_only,
			  json_t *files, struct sp_error *err)
{
	sp_autofree char *data = NULL;
	sp_autofree char *path = NULL;
	size_t len;
	uint8_t sha[32];
	char hex[65];
	sp_autoclose int dfd = -1;
	const char *fname = json_string_value(json_object_get(cfg, "file"));
	int r;

	if (!fname || strchr(fname, '/') || fname[0] == '.' ||
	    !sp_disk_name_is_valid(fname, strlen(fname)))
		fname = "config";
	r = sp_vault_point_get(p->vault, p->name, p->id, "config", 16u << 20,
			       &data, &len, err);
	if (r == -ENOENT)
		return sp_error_set(err, SP_E_MANIFEST_CORRUPT,
				    "cannot read the point's config: %s",
				    strerror(-r));
	if (r == SP_E_POINT_FILE_CORRUPT)
		return sp_error_set(err, SP_E_MANIFEST_CORRUPT,
				    "cannot read the point's config: not a "
				    "regular file");
	if (r < 0)
		return r;
	sp_sha256(data, len, sha);
	sp_hex_encode(sha, 32, hex);
	if (strcmp(hex, json_string_value(json_object_get(cfg, "sha256"))))
		return sp_error_set(err, SP_E_MANIFEST_CORRUPT,
				    "the point's stored config is damaged");
	if (asprintf(&path, "%s/%s", dir, fname) < 0) {
		path = NULL; /* undefined after a failed asprintf */
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	}
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return sp_error_set_errno(err, sp_disk_target_dir_code(errno),
					  errno, "cannot open '%s'", dir);
	r = check_in_dir(dfd, fname, path, fname, force, err);
	if (r < 0 || check_only)
		return r;
	/* A temp file made with O_EXCL | O_NOFOLLOW, renamed onto the
	 * name: a link there is replaced, never followed. */
	r = sp_file_publish(dfd, fname, data, len, err);
	if (r < 0) {
		/* sp_file_publish speaks of the vault; here it is a target. */
		err->code = err->code == SP_E_VAULT_FULL ? SP_E_TARGET_FULL
							 : SP_E_TARGET_WRITE;
		return err->code;
	}
	json_array_append_new(
	    files, json_pack("{s:s, s:s}", "config", fname, "path", path));
	return 0;
}

/* Where a stored state file goes under --to DIR: an NVRAM as DIR/<name>,
 * a TPM file as DIR/tpm2/<name> (the layout of swtpm's directory). */
static int state_target(const struct sp_restore_opts *o,
			const struct sp_state_file *f, char **path)
{
	int n = !strcmp(f->kind, "tpm")
		    ? asprintf(path, "%s/%s/%s", o->to_dir,
			       sp_tpm_dir_name(f->version), f->name)
		    : asprintf(path, "%s/%s", o->to_dir, f->name);

	if (n < 0)
		*path = NULL;
	return *path ? 0 : SP_E_NOMEM;
}

/* Invariant 4: every state target is free (or --force) and none is a
 * disk's target; checked before anything is written. */
static int plan_state(const struct sp_restore_opts *o,
		      const struct sp_point_state *ps, char **paths, size_t n,
		      struct sp_error *err)
{
	for (size_t i = 0; i < ps->n; i++) {
		const struct sp_state_file *f = &ps->files[i];
		sp_autofree char *path = NULL;
		struct stat st;

		if (state_target(o, f, &path) < 0)
			return sp_error_set(err, SP_E_NOMEM, "out of memory");
		for (size_t k = 0; k < n; k++)
			if (paths[k] && !strcmp(paths[k], path))
				return sp_error_set(
				    err, SP_E_USAGE,
				    "the point's %s state '%s' would be "
				    "written over its disk '%s' (restore "
				    "that disk elsewhere with --disk-to)",
				    f->kind, f->name, path);
		if (lstat(path, &st) == 0 &&
		    (!o->force ||
		     (!S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode))))
			return sp_error_set(err, SP_E_TARGET_EXISTS,
					    "'%s' already exists (restore into "
					    "another directory, or pass "
					    "--force to overwrite)",
					    path);
	}
	return 0;
}

/* Write the state files out (after the disks), through sp_state_put:
 * each appears only complete, and on failure none does. */
static int write_state(const struct sp_restore_opts *o,
		       const struct sp_point_state *ps, json_t *files,
		       struct sp_error *err)
{
	struct sp_state_put *p = sp_state_put_new();
	json_t *done;
	int r = p ? 0 : sp_error_set(err, SP_E_NOMEM, "out of memory");

	for (size_t i = 0; r == 0 && i < ps->n; i++) {
		const struct sp_state_file *f = &ps->files[i];
		sp_autofree char *path = NULL;

		if (state_target(o, f, &path) < 0) {
			r = sp_error_set(err, SP_E_NOMEM, "out of memory");
			break;
		}
		if (!strcmp(f->kind, "tpm")) {
			sp_autofree char *dir = strdup(path);
			if (!dir) {
				r = sp_error_set(err, SP_E_NOMEM,
						 "out of memory");
				break;
			}
			*strrchr(dir, '/') = '\0';
			r = sp_state_put_mkdir(p, dir, SP_DIR_MODE, (uid_t)-1,
					       (gid_t)-1, err);
		}
		if (r == 0)
			r = sp_state_put_file(p, path, f, SP_FILE_MODE,
					      (uid_t)-1, (gid_t)-1, o->force,
					      err);
	}
	if (r == 0)
		r = sp_state_put_commit(p, err);
	if (r < 0) {
		sp_state_put_abort(p, false);
	} else {
		done = sp_state_put_files(p);
		json_array_extend(files, done);
		json_decref(done);
	}
	sp_state_put_free(p);
	return r;
}

int sp_restore_run(struct sp_vault *v, const struct sp_restore_opts *o,
		   json_t **result, struct sp_error *err)
{
	struct sp_point_state ps = {0};
	json_t *m = NULL, *disks, *d, *files = json_array();
	char **paths = NULL;
	struct sp_disk_target **targets = NULL;
	struct sp_point_ref pref = {v, NULL, NULL};
	struct sp_job_progress jp = {.opts = &o->job};
	size_t i, n = 0;
	int fmt_override = -1;
	char where[160], name[80], id[80];
	bool created_dir = false;
	int r;

	if (o->format) {
		fmt_override = sp_disk_format_parse(o->format);
		if (fmt_override != SP_DISK_FORMAT_RAW &&
		    fmt_override != SP_DISK_FORMAT_QCOW2) {
			json_decref(files);
			return sp_error_set(err, SP_E_USAGE,
					    "unknown format '%s' (use raw or "
					    "qcow2)",
					    o->format);
		}
	}
	r = sp_vault_find_point(v, o->spec, &m, err);
	if (r < 0)
		goto out;
	snprintf(name, sizeof(name), "%s",
		 json_string_value(json_object_get(m, "name")));
	snprintf(id, sizeof(id), "%s",
		 json_string_value(json_object_get(m, "id")));
	snprintf(where, sizeof(where), "%s@%s", name, id);
	pref.name = name;
	pref.id = id;
	/* The catalog is a cache: trust only the manifest in the vault. */
	json_decref(m);
	m = NULL;
	r = sp_vault_point_manifest(v, name, id, &m, err);
	if (r < 0)
		goto out;
	disks = json_object_get(m, "disks");
	n = json_array_size(disks);
	r = plan_targets(o, disks, &paths, &created_dir, err);
	if (r < 0)
		goto out;
	if (json_is_object(json_object_get(m, "config")) && !o->no_config) {
		if (!o->to_dir) {
			r = sp_error_set(err, SP_E_USAGE,
					 "the point has a stored config: give "
					 "--to DIR for it");
			goto out;
		}
		r = restore_config(&pref, json_object_get(m, "config"),
				   o->to_dir, o->force, true, files, err);
		if (r < 0)
			goto out;
	}
	if (!o->no_state) {
		r = sp_point_state_load(&pref, m, where, &ps, err);
		if (r == 0 && ps.n && !o->to_dir)
			r = sp_error_set(err, SP_E_USAGE,
					 "the point has stored NVRAM or TPM "
					 "state: give --to DIR for it");
		if (r == 0)
			r = plan_state(o, &ps, paths, n, err);
		if (r < 0)
			goto out;
	}
	targets = calloc(n, sizeof(*targets));
	if (!targets) {
		r = sp_error_set(err, SP_E_NOMEM, "out of memory");
		goto out;
	}
	jp.p.what = "restore";
	json_array_foreach(disks, i, d)
	{
		if (paths[i])
			jp.p.total += (uint64_t)json_integer_value(
			    json_object_get(d, "size"));
	}

	json_array_foreach(disks, i, d)
	{
		struct restore_ctx c = {.vault = v};
		const char *dn = json_string_value(json_object_get(d, "name"));
		struct sp_point_disk *pd = NULL;
		bool had_digest;
		enum sp_disk_format fmt = sp_restore_format(d, o->format);

		if (!paths[i])
			continue; /* left out (only_mapped) */
		r = sp_point_disk_open(&pref, d, where, &pd, err);
		if (r == 0)
			r = sp_point_disk_check_digest(pd, &had_digest, err);
		if (r < 0) {
			sp_point_disk_free(pd);
			break;
		}
		c.disk_name = dn;
		c.disk_size = sp_point_disk_size(pd);
		c.index = sp_point_disk_index(pd);
		r = sp_disk_target_create(paths[i], fmt, c.disk_size,
					  o->force ? SP_DISK_TARGET_FORCE : 0,
					  &c.target, err);
		if (r < 0) {
			sp_point_disk_free(pd);
			break;
		}
		sp_job_status_init(&c.status, o->job.cancel);
		jp.p.item = dn;
		r = restore_disk(&c, pd, sp_job_threads_for(&o->job, v), &jp,
				 err);
		sp_job_status_release(&c.status);
		sp_point_disk_free(pd);
		targets[i] = c.target;
		if (r < 0)
			break;
		json_array_append_new(
		    files,
		    json_pack("{s:s, s:s, s:s, s:I}", "disk", dn, "path",
			      paths[i], "format", sp_disk_format_name(fmt),
			      "size", (json_int_t)c.disk_size));
	}
	sp_job_progress_tick(&jp, true);
	/* Publish the disks only once all of them were written whole. */
	for (i = 0; i < n && r == 0; i++) {
		if (!targets[i])
			continue;
		r = sp_disk_target_commit(targets[i], err);
		targets[i] = NULL;
	}
	if (r == 0 && json_is_object(json_object_get(m, "config")) &&
	    !o->no_config)
		r = restore_config(&pref, json_object_get(m, "config"),
				   o->to_dir, o->force, false, files, err);
	if (r == 0 && ps.n)
		r = write_state(o, &ps, files, err);
	if (r == 0 && result)
		*result =
		    json_pack("{s:s, s:s, s:O}", "name",
			      json_string_value(json_object_get(m, "name")),
			      "id", json_string_value(json_object_get(m, "id")),
			      "files", files);
out:
	for (i = 0; targets && i < n; i++)
		if (targets[i])
			sp_disk_target_abort(targets[i]);
	free(targets);
	if (r < 0 && created_dir)
		rmdir(o->to_dir); /* only if the failure left it empty */
	for (i = 0; paths && i < n; i++)
		free(paths[i]);
	free(paths);
	sp_point_state_release(&ps);
	json_decref(files);
	json_decref(m);
	return r;
}

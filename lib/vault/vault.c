// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Vault lifecycle and recovery-point publication; the layout and its
 * invariants are written at the top of vault.h.  The publication sequence:
 *
 *   1. draft: tmp/<draft>.lock created and flock'd, then tmp/<draft>/
 *   2. the job writes chunks and disk indexes into the draft
 *   3. publish: chunk prefix dirs fsynced -> manifest.json published in the
 *      draft -> draft dir fsynced -> rename(tmp/<draft>, points/NAME/ID) ->
 *      points/NAME fsynced -> catalog row (derived, best effort)
 *
 * A crash before the rename leaves a draft that the next job removes; after
 * it, a complete point.
 */
#include "vault.h"

#include <dirent.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/fileio.h"
#include "util/log.h"
#include "util/text.h"
#include "vault/catalog.h"
#include "vault/gc.h"
#include "vault/passphrase.h"
#include "vault/vault_key.h"
#include "vault/listing_remote.h"
#include <stillpoint/stillpoint.h>

#define CONFIG_MAX (1u << 20)
#define DEFAULT_ZSTD_LEVEL 1

static int vault_code(int errnum)
{
	return sp_errno_to_code(errnum, SP_E_VAULT_IO, SP_E_VAULT_FULL,
				SP_E_VAULT_PERMISSION);
}

static bool dir_is_empty(int fd)
{
	int dup_fd = dup(fd);
	DIR *d = dup_fd >= 0 ? fdopendir(dup_fd) : NULL;
	struct dirent *de;
	bool empty = true;

	if (!d) {
		if (dup_fd >= 0)
			close(dup_fd);
		return false;
	}
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
			empty = false;
			break;
		}
	closedir(d);
	return empty;
}

/*
 * A vault location that starts with a URL scheme other than s3:// (which
 * sp_store_is_s3() takes) names no directory: taken as one, it would
 * quietly make a local directory "gs:".  A directory whose name really looks
 * like that is reached as "./s3://...".
 */
static int check_location(const char *path, struct sp_error *err)
{
	size_t n = 0;

	if (!path || !path[0])
		return sp_error_set(err, SP_E_USAGE,
				    "the vault location is empty (give a "
				    "directory with --vault or "
				    "$STILLPOINT_VAULT)");
	if (!isalpha((unsigned char)path[0]))
		return 0;
	while (isalnum((unsigned char)path[n]) || path[n] == '+' ||
	       path[n] == '-' || path[n] == '.')
		n++;
	if (strncmp(path + n, "://", 3) != 0)
		return 0;
	return sp_error_set(err, SP_E_USAGE,
			    "vault '%s' is a '%.*s://' location, which this "
			    "version of Stillpoint cannot use (a vault is a "
			    "directory or an s3://BUCKET[/PREFIX]; for a "
			    "directory of that name, write './%s')",
			    path, (int)n, path, path);
}

char *sp_vault_config_text(uint32_t chunk_size, unsigned lock_days,
			   const char *lock_mode, const char *key_check)
{
	char created[32], id[33];
	json_t *cfg;
	char *text;

	sp_random_hex(id, 16);
	sp_time_rfc3339(time(NULL), created, sizeof(created));
	cfg = json_pack("{s:s, s:i, s:s, s:s, s:I, s:s, s:s, s:i}", "format",
			"stillpoint-vault", "version", SP_VAULT_FORMAT_VERSION,
			"id", id, "created", created, "chunk_size",
			(json_int_t)chunk_size, "chunk_id",
			key_check ? "hmac-sha256" : "sha256", "compression",
			"zstd", "zstd_level", DEFAULT_ZSTD_LEVEL);
	if (cfg && lock_days)
		json_object_set_new(cfg, "object_lock",
				    json_pack("{s:i, s:s}", "days",
					      (int)lock_days, "mode",
					      lock_mode));
	if (cfg && key_check) {
		json_object_set_new(cfg, "encryption",
				    json_string("aes-256-gcm"));
		json_object_set_new(cfg, "key_check", json_string(key_check));
	}
	text = json_dumps(cfg, JSON_INDENT(2));
	json_decref(cfg);
	return text;
}

int sp_vault_init(const char *path, uint32_t chunk_size, struct sp_error *err)
{
	return sp_vault_init_with(path, chunk_size, NULL, err);
}

int sp_vault_init_with(const char *path, uint32_t chunk_size,
		       const struct sp_vault_remote_opts *o,
		       struct sp_error *err)
{
	struct sp_vault_init_opts io = {chunk_size, -1, NULL};

	return sp_vault_init_opts(path, &io, o, err);
}

int sp_vault_init_opts(const char *path, const struct sp_vault_init_opts *io,
		       const struct sp_vault_remote_opts *o,
		       struct sp_error *err)
{
	sp_autoclose int fd = -1;
	sp_autoclose int lock = -1;
	sp_autofree char *text = NULL;
	sp_autofree char *keys = NULL;
	char check[SP_VAULT_KEY_CHECK_LEN + 1];
	uint32_t chunk_size =
	    io->chunk_size ? io->chunk_size : SP_DEFAULT_CHUNK_SIZE;
	bool encrypt = io->encrypt < 0 ? sp_store_is_s3(path) : io->encrypt;
	int r;

	if (!encrypt && io->key_file)
		return sp_error_set(err, SP_E_USAGE,
				    "a key file is for an encrypted vault "
				    "(drop --no-encrypt)");
	if (sp_store_is_s3(path))
		return sp_vault_init_s3(path, chunk_size, encrypt, io->key_file,
					o, err);
	r = check_location(path, err);
	if (r < 0)
		return r;
	if (chunk_size < 65536 || chunk_size > SP_CHUNK_MAX_SIZE ||
	    (chunk_size & (chunk_size - 1)))
		return sp_error_set(err, SP_E_USAGE,
				    "invalid chunk size %u (use a power of two "
				    "from 64K to 16M)",
				    chunk_size);
	r = sp_mkdir_parents(path);
	if (r < 0)
		return sp_error_set_errno(err, vault_code(-r), -r,
					  "cannot create vault directory '%s'",
					  path);
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return sp_error_set_errno(err, vault_code(errno), errno,
					  "cannot open '%s'", path);
	if (faccessat(fd, SP_VAULT_CONFIG, F_OK, 0) == 0)
		return sp_error_set(err, SP_E_VAULT_EXISTS,
				    "a vault already exists in '%s'", path);
	if (!dir_is_empty(fd))
		return sp_error_set(
		    err, SP_E_NOT_A_VAULT,
		    "'%s' is not empty and holds no vault (init "
		    "needs a new or empty directory)",
		    path);
	/* An empty directory made by someone else keeps no mode of its own:
	 * the vault holds disk contents, and is its owner's alone. */
	if (fchmod(fd, SP_DIR_MODE) < 0)
		return sp_error_set_errno(err, vault_code(errno), errno,
					  "cannot make '%s' private", path);
	r = sp_chunk_store_create(fd, err);
	if (r < 0)
		return r;
	if ((r = sp_mkdir_at(fd, "points", SP_DIR_MODE)) < 0 ||
	    (r = sp_mkdir_at(fd, "tmp", SP_DIR_MODE)) < 0)
		return sp_error_set_errno(err, vault_code(-r), -r,
					  "cannot create vault directories in "
					  "'%s'",
					  path);
	lock = sp_open_regular(fd, "lock", O_WRONLY | O_CREAT | O_EXCL,
			       SP_FILE_MODE);
	if (lock < 0)
		return sp_error_set_errno(err, vault_code(-lock), -lock,
					  "cannot create '%s/lock'", path);
	if (o && o->object_lock_days)
		return sp_error_set(err, SP_E_USAGE,
				    "--object-lock needs an s3:// vault (a "
				    "local directory has no object lock)");
	if (encrypt) {
		r = sp_vault_new_keys(path, io->key_file, &keys, check, err);
		if (r < 0)
			return r;
		r = sp_file_publish(fd, SP_STORE_KEYS, keys, strlen(keys), err);
		if (r < 0)
			return r;
	}
	text =
	    sp_vault_config_text(chunk_size, 0, NULL, encrypt ? check : NULL);
	if (!text)
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	sp_vault_reserve_make(fd);
	/* The config is written last: its presence marks a complete vault. */
	return sp_file_publish(fd, SP_VAULT_CONFIG, text, strlen(text), err);
}

static int read_config(struct sp_vault *v, struct sp_error *err)
{
	sp_autofree char *text = NULL;
	json_t *cfg;
	json_error_t jerr;
	size_t len = 0;
	int r;

	r = v->store->ops->get(v->store, SP_VAULT_CONFIG, CONFIG_MAX,
			       (void **)&text, &len, err);
	if (r == -ENOENT)
		return sp_error_set(err, SP_E_NOT_A_VAULT,
				    "'%s' is not a Stillpoint vault (no %s)",
				    v->path, SP_VAULT_CONFIG);
	if (r == -SP_ENOTREG)
		return sp_error_set(err, SP_E_VAULT_FILE_TYPE,
				    "'%s/%s' is a symbolic link or not a "
				    "regular file (put the vault's own "
				    "configuration back)",
				    v->path, SP_VAULT_CONFIG);
	if (SP_STORE_IS_ERRNO(r))
		return sp_error_set_errno(err, vault_code(-r), -r,
					  "cannot read '%s/%s'", v->path,
					  SP_VAULT_CONFIG);
	if (r < 0)
		return r;
	cfg = json_loadb(text, len, 0, &jerr);
	if (!cfg || !json_is_string(json_object_get(cfg, "format")) ||
	    strcmp(json_string_value(json_object_get(cfg, "format")),
		   "stillpoint-vault") != 0) {
		json_decref(cfg);
		return sp_error_set(err, SP_E_NOT_A_VAULT,
				    "'%s/%s' is not a Stillpoint vault "
				    "configuration",
				    v->path, SP_VAULT_CONFIG);
	}
	json_int_t version =
	    json_integer_value(json_object_get(cfg, "version"));
	json_int_t cs = json_integer_value(json_object_get(cfg, "chunk_size"));
	const char *idalg = json_string_value(json_object_get(cfg, "chunk_id"));
	const char *vid = json_string_value(json_object_get(cfg, "id"));
	json_t *lvl = json_object_get(cfg, "zstd_level");
	const char *enc = json_string_value(json_object_get(cfg, "encryption"));
	const char *kc = json_string_value(json_object_get(cfg, "key_check"));
	bool keyed = idalg && !strcmp(idalg, "hmac-sha256");
	if (version != SP_VAULT_FORMAT_VERSION || !idalg ||
	    (strcmp(idalg, "sha256") != 0 && !keyed) ||
	    (json_object_get(cfg, "encryption") &&
	     (!enc || strcmp(enc, "aes-256-gcm") != 0)) ||
	    keyed != (enc != NULL)) {
		json_decref(cfg);
		return sp_error_set(err, SP_E_VAULT_VERSION,
				    "vault '%s' has format version %lld; this "
				    "build reads version %d",
				    v->path, (long long)version,
				    SP_VAULT_FORMAT_VERSION);
	}
	if (cs < 65536 || cs > SP_CHUNK_MAX_SIZE || !vid ||
	    (enc && (!kc || strlen(kc) != SP_VAULT_KEY_CHECK_LEN))) {
		json_decref(cfg);
		return sp_error_set(err, SP_E_NOT_A_VAULT,
				    "'%s/%s' is damaged (chunk_size, id)",
				    v->path, SP_VAULT_CONFIG);
	}
	v->chunk_size = (uint32_t)cs;
	json_t *lock = json_object_get(cfg, "object_lock");
	if (json_is_object(lock)) {
		v->lock_days =
		    (unsigned)json_integer_value(json_object_get(lock, "days"));
		snprintf(v->lock_mode, sizeof(v->lock_mode), "%s",
			 json_string_value(json_object_get(lock, "mode"))
			     ?: "GOVERNANCE");
	}
	v->zstd_level = json_is_integer(lvl) ? (int)json_integer_value(lvl)
					     : DEFAULT_ZSTD_LEVEL;
	snprintf(v->vault_id, sizeof(v->vault_id), "%s", vid);
	v->encrypted = enc != NULL;
	if (enc)
		snprintf(v->key_check, sizeof(v->key_check), "%s", kc);
	json_decref(cfg);
	return 0;
}

/*
 * An encrypted vault's key: from $STILLPOINT_KEY_FILE, else a passphrase,
 * tried against keys.json and checked against the settings' key check
 * before anything is written; then every object goes through a sealing
 * store, and chunk ids are keyed.
 */

static int open_chunks(struct sp_vault *v, struct sp_error *err)
{
	int r = sp_chunk_store_open(v->store, v->zstd_level, &v->chunks, err);

	if (r == 0 && v->key)
		sp_chunk_store_set_id_key(v->chunks, v->key->id_key);
	return r;
}

/* The vault's directories are its own: one replaced by a symbolic link
 * (or by anything but a directory) would have every file under it read,
 * written and deleted elsewhere. */
static int check_own_dirs(struct sp_vault *v, struct sp_error *err)
{
	static const char *const dirs[] = {"chunks", "points", "tmp", "trash"};
	struct stat st;

	for (size_t i = 0; i < SP_ARRAY_SIZE(dirs); i++) {
		if (fstatat(v->fd, dirs[i], &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno == ENOENT)
				continue; /* made when first needed */
			return sp_error_set_errno(err, vault_code(errno), errno,
						  "cannot look at '%s/%s'",
						  v->path, dirs[i]);
		}
		if (!S_ISDIR(st.st_mode))
			return sp_error_set(
			    err, SP_E_VAULT_FILE_TYPE,
			    "'%s/%s' is %s, not a directory: a vault's "
			    "directories must be its own (put the directory "
			    "itself in its place)",
			    v->path, dirs[i],
			    S_ISLNK(st.st_mode) ? "a symbolic link"
						: "not a directory");
	}
	return 0;
}

/* An S3 vault: everything is in the store; there is no directory, no
 * flock and no reserve (see docs/vault-format.md, "Vaults in S3"). */
static int open_s3(struct sp_vault *v, const struct sp_vault_remote_opts *o,
		   struct sp_error *err)
{
	struct sp_store_s3_opts so = {o ? o->endpoint : NULL,
				      o ? o->ca_file : NULL};
	int r = sp_store_s3_open(v->path, &so, &v->store, err);

	if (r < 0)
		return r;
	r = read_config(v, err);
	if (r == 0 && v->encrypted)
		r = sp_vault_unlock(v, err);
	if (r < 0)
		return r;
	if (v->lock_days)
		sp_store_s3_set_lock(v->store, v->lock_days, v->lock_mode);
	return open_chunks(v, err);
}

int sp_vault_open_with(const char *path, const struct sp_vault_remote_opts *o,
		       struct sp_vault **ret, struct sp_error *err)
{
	struct sp_vault *v = calloc(1, sizeof(*v));
	int r;

	if (!v)
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	v->lock_fd = v->fd = -1;
	v->path = strdup(path ? path : "");
	if (sp_store_is_s3(path)) {
		r = open_s3(v, o, err);
		if (r < 0)
			goto fail;
		*ret = v;
		return 0;
	}
	r = check_location(path, err);
	if (r < 0)
		goto fail;
	v->fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (v->fd < 0) {
		int e = errno;
		if (e == ENOENT)
			r = sp_error_set(err, SP_E_VAULT_NOT_FOUND,
					 "vault '%s' does not exist", path);
		else if (e == ENOTDIR)
			r = sp_error_set(err, SP_E_NOT_A_VAULT,
					 "'%s' is not a directory", path);
		else
			r = sp_error_set_errno(err, vault_code(e), e,
					       "cannot open vault '%s'", path);
		goto fail;
	}
	r = sp_store_local_open(v->fd, v->path, &v->store, err);
	if (r < 0)
		goto fail;
	r = read_config(v, err);
	if (r < 0)
		goto fail;
	if (v->encrypted) {
		r = sp_vault_unlock(v, err);
		if (r < 0)
			goto fail;
	}
	r = check_own_dirs(v, err);
	if (r < 0)
		goto fail;
	r = sp_vault_lock_open(v->fd, v->path, "lock", LOCK_SH, &v->lock_fd,
			       err);
	if (r < 0)
		goto fail;
	r = open_chunks(v, err);
	if (r < 0)
		goto fail;
	*ret = v;
	return 0;
fail:
	sp_vault_close(v);
	return r;
}

int sp_vault_open(const char *path, struct sp_vault **ret, struct sp_error *err)
{
	return sp_vault_open_with(path, NULL, ret, err);
}

void sp_vault_close(struct sp_vault *v)
{
	if (!v)
		return;
	sp_chunk_store_free(v->chunks);
	sp_store_close(v->store);
	sp_vault_key_free(v->key);
	if (v->lock_fd >= 0)
		close(v->lock_fd);
	if (v->fd >= 0)
		close(v->fd);
	free(v->path);
	free(v);
}

bool sp_vault_assumes_chunks(const struct sp_vault *v)
{
	return v->store->ops->assume_present != NULL;
}

bool sp_vault_is_local(const struct sp_vault *v)
{
	return v->fd >= 0;
}

bool sp_vault_via_store(const struct sp_vault *v)
{
	return v->fd < 0 || v->encrypted;
}

bool sp_vault_is_encrypted(const struct sp_vault *v)
{
	return v->encrypted;
}

void sp_vault_reserve_make(int vault_fd)
{
	char tmp[64];
	struct stat st;
	int fd, r;

	if (fstatat(vault_fd, SP_VAULT_RESERVE, &st, AT_SYMLINK_NOFOLLOW) == 0)
		return;
	snprintf(tmp, sizeof(tmp), "." SP_VAULT_RESERVE ".tmp-%ld",
		 (long)getpid());
	unlinkat(vault_fd, tmp, 0);
	fd = openat(vault_fd, tmp,
		    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		    SP_FILE_MODE);
	if (fd < 0)
		return;
	/* Allocated blocks, not a sparse file: the space must be there to
	 * give back.  Without fallocate, zeroes written by hand. */
	r = fchmod(fd, SP_FILE_MODE) < 0 ? -errno : 0;
	if (r == 0 && fallocate(fd, 0, 0, SP_VAULT_RESERVE_SIZE) < 0) {
		static const char zeros[65536];
		r = errno == EOPNOTSUPP ? 0 : -errno;
		for (off_t off = 0; r == 0 && off < SP_VAULT_RESERVE_SIZE;
		     off += (off_t)sizeof(zeros))
			r = sp_pwrite_all(fd, zeros, sizeof(zeros), off);
	}
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	close(fd);
	if (r == 0 && renameat2(vault_fd, tmp, vault_fd, SP_VAULT_RESERVE,
				RENAME_NOREPLACE) == 0) {
		fsync(vault_fd);
		return;
	}
	unlinkat(vault_fd, tmp, 0);
}

bool sp_vault_reserve_release(struct sp_vault *v)
{
	if (unlinkat(v->fd, SP_VAULT_RESERVE, 0) < 0)
		return false;
	fsync(v->fd);
	sp_log(SP_LOG_WARNING,
	       "vault '%s' is full: released its %u KiB reserve to clean "
	       "it up (gc makes it again once it frees space)",
	       v->path, SP_VAULT_RESERVE_SIZE >> 10);
	return true;
}

void sp_vault_clean_drafts(struct sp_vault *v)
{
	v->store->ops->drafts_clean(v->store);
}

int sp_point_draft_begin(struct sp_vault *v, const char *name,
			 struct sp_point_draft **ret, struct sp_error *err)
{
	return sp_point_draft_begin_as(v, name, NULL, ret, err);
}

int sp_point_draft_begin_as(struct sp_vault *v, const char *name,
			    const char *id, struct sp_point_draft **ret,
			    struct sp_error *err)
{
	struct sp_point_draft *d;
	char rnd[9], stamp[20];
	time_t now = time(NULL);
	struct tm tm;
	int r;

	if (id && (!sp_name_is_valid(id) || strlen(id) >= SP_POINT_ID_MAX))
		return sp_error_set(err, SP_E_NAME_INVALID,
				    "invalid point id '%s'", id);
	if (!sp_name_is_valid(name))
		return sp_error_set(
		    err, SP_E_NAME_INVALID,
		    "invalid VM name '%s' (use letters, digits, "
		    "'.', '_' and '-', at most 64)",
		    name);
	d = calloc(1, sizeof(*d));
	if (!d)
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	/* Before a backup fills the vault: room for delete and gc. */
	if (v->fd >= 0)
		sp_vault_reserve_make(v->fd);
	d->vault = v;
	snprintf(d->name, sizeof(d->name), "%s", name);
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	sp_random_hex(rnd, 3);
	if (id)
		snprintf(d->id, sizeof(d->id), "%s", id);
	else
		snprintf(d->id, sizeof(d->id), "%s-%s", stamp, rnd);
	r = v->store->ops->draft_begin(v->store, d->name, d->id, &d->sd, err);
	if (r < 0) {
		free(d);
		if (SP_STORE_IS_ERRNO(r))
			return sp_error_set_errno(
			    err, vault_code(-r), -r,
			    "cannot create a draft in '%s/tmp'", v->path);
		return r;
	}
	*ret = d;
	return 0;
}

void sp_point_draft_discard(struct sp_point_draft *d)
{
	if (!d)
		return;
	if (d->sd)
		d->vault->store->ops->draft_discard(d->sd);
	for (size_t i = 0; i < d->n_index_fds; i++)
		close(d->index_fds[i]);
	free(d->index_fds);
	free(d);
}

int sp_point_draft_put(struct sp_point_draft *d, const char *file,
		       const void *data, size_t len, struct sp_error *err)
{
	int r = d->vault->store->ops->draft_put(d->sd, file, data, len, err);

	if (SP_STORE_IS_ERRNO(r))
		return sp_error_set_errno(err, vault_code(-r), -r,
					  "cannot store '%s' of point '%s@%s'",
					  file, d->name, d->id);
	return r;
}

int sp_point_draft_index_begin(struct sp_point_draft *d, const char *file,
			       uint64_t disk_size, struct sp_index_writer **ret,
			       struct sp_error *err)
{
	int dfd = sp_store_local_draft_dirfd(d->vault->store, d->sd);

	return sp_index_writer_create(dfd >= 0 ? dfd : SP_INDEX_ANONYMOUS, file,
				      disk_size, d->vault->chunk_size, ret,
				      err);
}

/* The whole of @fd (a finished index) into a buffer. */
static int slurp_fd(int fd, char **data, size_t *len)
{
	uint64_t size;
	int r = sp_fd_size(fd, &size);

	if (r < 0)
		return r;
	*data = malloc(size ? (size_t)size : 1);
	if (!*data)
		return -ENOMEM;
	r = sp_pread_all(fd, *data, (size_t)size, 0);
	if (r < 0) {
		free(*data);
		*data = NULL;
		return r;
	}
	*len = (size_t)size;
	return 0;
}

int sp_point_draft_index_end(struct sp_point_draft *d,
			     struct sp_index_writer *w, uint8_t sha[32],
			     struct sp_disk_index **sealed,
			     struct sp_error *err)
{
	int dfd = sp_store_local_draft_dirfd(d->vault->store, d->sd);
	sp_autofree char *file = NULL;
	sp_autofree char *bytes = NULL;
	size_t len = 0;
	int r;

	r = sp_index_writer_finish(w, sha, err);
	if (r == 0 && d->vault->lock_days)
		r = sp_point_draft_keep_index(d, sp_index_writer_fd(w), err);
	if (r < 0)
		goto out;
	file = strdup(sp_index_writer_name(w));
	if (!file) {
		r = sp_error_set(err, SP_E_NOMEM, "out of memory");
		goto out;
	}
	if (dfd >= 0 && !d->vault->encrypted) {
		/* Written in place: read back what is on disk. */
		r = sp_disk_index_open(dfd, file, sha, sealed, err);
		goto out;
	}
	/* Another store's, or an encrypted local vault's: the plain index
	 * written in place (for gc) is replaced by its sealed form. */
	r = slurp_fd(sp_index_writer_fd(w), &bytes, &len);
	if (r < 0) {
		r = sp_error_set_errno(err, SP_E_VAULT_IO, -r,
				       "cannot read back index '%s'", file);
		goto out;
	}
	r = sp_point_draft_put(d, file, bytes, len, err);
	if (r == 0)
		r = sp_disk_index_open_fd(sp_index_writer_fd(w), file, sha,
					  sealed, err);
out:
	sp_index_writer_free(w);
	return r;
}

/* A point is published only with a manifest every reader accepts: disk
 * names that restore can write (NameInvalid, DiskDuplicate name the disk),
 * and the draft's own name and id. */
static int check_publishable(struct sp_point_draft *d, json_t *manifest,
			     struct sp_error *err)
{
	json_t *disks = json_object_get(manifest, "disks"), *a, *b;
	char where[140], q[200];
	size_t i, k;

	json_array_foreach(disks, i, a)
	{
		json_t *n = json_object_get(a, "name");
		const char *dn = json_string_value(n);

		if (!dn)
			continue; /* sp_manifest_check says what is wrong */
		sp_disk_name_quote(dn, q, sizeof(q));
		if (!sp_disk_name_is_valid(dn, json_string_length(n)))
			return sp_error_set(err, SP_E_NAME_INVALID,
					    "invalid disk name '%s' (a point "
					    "names each disk by its file name: "
					    "no control characters, no '/'; "
					    "rename or link the image)",
					    q);
		for (k = 0; k < i; k++) {
			b = json_array_get(disks, k);
			if (!strcmp(dn, json_string_value(
					    json_object_get(b, "name"))))
				return sp_error_set(
				    err, SP_E_DISK_DUPLICATE,
				    "two disks are named '%s' (a restore "
				    "would write one over the other; give "
				    "them distinct file names)",
				    q);
		}
	}
	snprintf(where, sizeof(where), "%s@%s", d->name, d->id);
	if (sp_manifest_check(manifest, where, err) < 0)
		return err->code;
	if (strcmp(json_string_value(json_object_get(manifest, "name")),
		   d->name) ||
	    strcmp(json_string_value(json_object_get(manifest, "id")), d->id))
		return sp_error_set(err, SP_E_INTERNAL,
				    "the manifest of draft '%s' names another "
				    "point",
				    where);
	return 0;
}

int sp_point_draft_publish(struct sp_point_draft *d, json_t *manifest,
			   struct sp_error *err)
{
	struct sp_vault *v = d->vault;
	sp_autofree char *text = NULL;
	struct sp_error cat_err;
	int r;

	r = check_publishable(d, manifest, err);
	if (r < 0)
		goto fail;
	r = sp_chunk_store_sync(v->chunks, err);
	if (r == 0 && v->lock_days)
		r = sp_point_draft_lock(d, manifest, err);
	if (r < 0)
		goto fail;
	text = json_dumps(manifest, JSON_INDENT(2) | JSON_SORT_KEYS);
	if (!text) {
		r = sp_error_set(err, SP_E_NOMEM, "out of memory");
		goto fail;
	}
	r = v->store->ops->draft_publish(d->sd, text, strlen(text), err);
	if (SP_STORE_IS_ERRNO(r))
		r = sp_error_set_errno(err, vault_code(-r), -r,
				       "cannot publish point '%s@%s'", d->name,
				       d->id);
	if (r < 0)
		goto fail;
	d->sd = NULL; /* published: the store freed its draft */
	if (!sp_vault_via_store(v) &&
	    sp_catalog_add(v->fd, manifest, &cat_err) < 0)
		sp_log(SP_LOG_WARNING, "%s (the next listing repairs it)",
		       cat_err.msg);
	sp_point_draft_discard(d); /* published: only frees it */
	return 0;
fail:
	sp_point_draft_discard(d);
	return r;
}

static int point_key(char *out, size_t cap, const char *name, const char *id,
		     const char *file, struct sp_error *err)
{
	if (!sp_name_is_valid(name) || !sp_name_is_valid(id))
		return sp_error_set(err, SP_E_NAME_INVALID,
				    "invalid point '%s@%s'", name, id);
	if (file && (!*file || strchr(file, '/') || file[0] == '.'))
		return sp_error_set(err, SP_E_NAME_INVALID,
				    "invalid file name '%s' of point '%s@%s'",
				    file, name, id);
	snprintf(out, cap, "points/%s/%s%s%s", name, id, file ? "/" : "",
		 file ? file : "");
	return 0;
}

int sp_vault_point_dir(struct sp_vault *v, const char *name, const char *id,
		       int *dirfd, struct sp_error *err)
{
	char rel[200];
	int fd, r;

	r = point_key(rel, sizeof(rel), name, id, NULL, err);
	if (r < 0)
		return r;
	if (v->fd < 0)
		return sp_error_set(err, SP_E_VAULT_UNSUPPORTED,
				    "point '%s@%s' of '%s' is not in a local "
				    "directory",
				    name, id, v->path);
	fd =
	    openat(v->fd, rel, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return sp_error_set_errno(
		    err,
		    errno == ENOENT ? SP_E_POINT_NOT_FOUND : vault_code(errno),
		    errno, "cannot open point '%s@%s'", name, id);
	*dirfd = fd;
	return 0;
}

static bool is_index_name(const char *file)
{
	size_t n = strlen(file);

	return n > 4 && !strcmp(file + n - 4, ".idx");
}

int sp_vault_point_get(struct sp_vault *v, const char *name, const char *id,
		       const char *file, size_t max, char **data, size_t *len,
		       struct sp_error *err)
{
	char key[300];
	void *buf = NULL;
	size_t n = 0;
	int r;

	r = point_key(key, sizeof(key), name, id, file, err);
	if (r < 0)
		return r;
	r = v->store->ops->get(v->store, key, max, &buf, &n, err);
	if (r == -ENOENT)
		return r;
	if (r == -SP_ENOTREG)
		return sp_error_set(err, SP_E_POINT_FILE_CORRUPT,
				    "'%s' of point '%s@%s' is not a regular "
				    "file",
				    file, name, id);
	if (r == -EFBIG)
		return sp_error_set(err, SP_E_POINT_FILE_CORRUPT,
				    "'%s' of point '%s@%s' is larger than "
				    "%zu bytes",
				    file, name, id, max);
	if (r == -EBADMSG)
		return sp_error_set(
		    err,
		    !strcmp(file, "manifest.json") ? SP_E_MANIFEST_CORRUPT
		    : is_index_name(file)	   ? SP_E_INDEX_CORRUPT
						   : SP_E_POINT_FILE_CORRUPT,
		    "'%s' of point '%s@%s' does not open with "
		    "the vault's key (damaged, or not this "
		    "point's)",
		    file, name, id);
	if (SP_STORE_IS_ERRNO(r))
		return sp_error_set_errno(err, vault_code(-r), -r,
					  "cannot read '%s' of point '%s@%s'",
					  file, name, id);
	if (r < 0)
		return r;
	/* NUL-terminated for text readers. */
	char *t = realloc(buf, n + 1);
	if (!t) {
		free(buf);
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	}
	t[n] = '\0';
	*data = t;
	if (len)
		*len = n;
	return 0;
}

int sp_vault_point_index_open(struct sp_vault *v, const char *name,
			      const char *id, const char *file,
			      const uint8_t *sha, struct sp_disk_index **ret,
			      struct sp_error *err)
{
	char key[300];
	int r;

	r = point_key(key, sizeof(key), name, id, file, err);
	if (r < 0)
		return r;
	if (v->encrypted) {
		sp_autofree char *text = NULL;
		size_t len = 0;
		r = sp_vault_point_get(v, name, id, file, SP_INDEX_MAX, &text,
				       &len, err);
		if (r == -ENOENT)
			return sp_error_set(err, SP_E_INDEX_CORRUPT,
					    "index '%s' is missing", key);
		return r < 0 ? r
			     : sp_vault_index_from_bytes(text, len, key, sha,
							 ret, err);
	}
	if (v->fd >= 0) {
		sp_autoclose int pfd = -1;
		r = sp_vault_point_dir(v, name, id, &pfd, err);
		return r < 0 ? r : sp_disk_index_open(pfd, file, sha, ret, err);
	}
	return sp_vault_index_open_key(v, key, sha, ret, err);
}

int sp_vault_index_open_key(struct sp_vault *v, const char *key,
			    const uint8_t *sha, struct sp_disk_index **ret,
			    struct sp_error *err)
{
	sp_autoclose int fd = -1;
	uint8_t *buf = NULL;
	uint64_t off = 0, size = 0;
	int r = 0;

	if (v->encrypted) {
		/* Sealed: opened whole, then kept in a scratch file. */
		sp_autofree char *text = NULL;
		size_t len = 0;
		r = v->store->ops->get(v->store, key, SP_INDEX_MAX,
				       (void **)&text, &len, err);
		if (r == -ENOENT)
			return sp_error_set(err, SP_E_INDEX_CORRUPT,
					    "index '%s' is missing", key);
		if (r == -EBADMSG || r == -EFBIG)
			return sp_error_set(err, SP_E_INDEX_CORRUPT,
					    "index '%s' does not open with the "
					    "vault's key (damaged, or not "
					    "this point's)",
					    key);
		if (SP_STORE_IS_ERRNO(r))
			return sp_error_set_errno(err, vault_code(-r), -r,
						  "cannot read index '%s'",
						  key);
		return r < 0 ? r
			     : sp_vault_index_from_bytes(text, len, key, sha,
							 ret, err);
	}

	/* Remote: into a scratch file, which the index maps (memory stays
	 * bounded whatever the disk's size). */
	fd = sp_tmpfile_open();
	if (fd < 0)
		return sp_error_set_errno(err, SP_E_VAULT_IO, -fd,
					  "cannot make a scratch file for "
					  "index '%s'",
					  key);
	buf = malloc(1u << 20);
	if (!buf)
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	for (;;) {
		size_t got = 0;
		r = v->store->ops->read(v->store, key, off, buf, 1u << 20, &got,
					&size, err);
		if (r == -ENOENT)
			r = sp_error_set(err, SP_E_INDEX_CORRUPT,
					 "index '%s' is missing", key);
		else if (SP_STORE_IS_ERRNO(r))
			r = sp_error_set_errno(err, vault_code(-r), -r,
					       "cannot read index '%s'", key);
		if (r == 0 && got > 0) {
			int w = sp_pwrite_all(fd, buf, got, (off_t)off);
			if (w < 0)
				r = sp_error_set_errno(
				    err, SP_E_VAULT_IO, -w,
				    "cannot keep index '%s' in a scratch "
				    "file",
				    key);
		}
		if (r < 0 || got == 0)
			break;
		off += got;
		if (off >= size)
			break;
	}
	free(buf);
	if (r < 0)
		return r;
	return sp_disk_index_open_fd(fd, key, sha, ret, err);
}

bool sp_vault_point_exists(struct sp_vault *v, const char *name, const char *id)
{
	char key[300];
	struct sp_error e;

	return point_key(key, sizeof(key), name, id, "manifest.json", &e) ==
		   0 &&
	       v->store->ops->stat(v->store, key, NULL, &e) == 0;
}

int sp_vault_point_manifest(struct sp_vault *v, const char *name,
			    const char *id, json_t **ret, struct sp_error *err)
{
	sp_autofree char *text = NULL;
	size_t len = 0;
	int r;

	if (!sp_vault_via_store(v)) {
		sp_autoclose int pfd = -1;
		r = sp_vault_point_dir(v, name, id, &pfd, err);
		return r < 0 ? r
			     : sp_manifest_load_point(pfd, name, id, ret, err);
	}
	r = sp_vault_point_get(v, name, id, "manifest.json", SP_MANIFEST_MAX,
			       &text, &len, err);
	if (r == -ENOENT)
		return sp_error_set(err, SP_E_POINT_NOT_FOUND,
				    "no recovery point '%s@%s' in '%s'", name,
				    id, v->path);
	if (r < 0)
		return r;
	return sp_manifest_parse_point(text, len, name, id, ret, err);
}

static int add_name(void *ctx, const char *name, bool is_dir, uint64_t size)
{
	(void)size;
	if (!is_dir)
		json_array_append_new(ctx, json_string(name));
	return 0;
}

int sp_vault_point_files(struct sp_vault *v, const char *name, const char *id,
			 json_t **ret, struct sp_error *err)
{
	char key[300];
	json_t *arr;
	int r;

	r = point_key(key, sizeof(key), name, id, "x", err);
	if (r < 0)
		return r;
	key[strlen(key) - 1] = '\0'; /* "points/N/ID/" */
	arr = json_array();
	if (!arr)
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	r = v->store->ops->list(v->store, key, add_name, arr, err);
	if (SP_STORE_IS_ERRNO(r))
		r = sp_error_set_errno(err, vault_code(-r), -r,
				       "cannot list point '%s@%s'", name, id);
	if (r < 0) {
		json_decref(arr);
		return r;
	}
	*ret = arr;
	return 0;
}

/* One entry of sp_vault_unreadable_points(). */
static int add_unreadable(json_t *arr, const char *point, const char *why)
{
	sp_log(SP_LOG_WARNING,
	       "cannot read point %s: %s (it is left as it "
	       "is; see 'stillpoint verify')",
	       point, why);
	return json_array_append_new(
	    arr, json_pack("{s:s, s:s}", "point", point, "error", why));
}

int sp_vault_unreadable_points(struct sp_vault *v, const char *name,
			       json_t **ret, struct sp_error *err)
{
	char rel[100];
	json_t *arr;
	struct dirent *de;
	DIR *d;
	int fd;

	if (!sp_name_is_valid(name))
		return sp_error_set(err, SP_E_NAME_INVALID,
				    "invalid VM name '%s'", name);
	arr = json_array();
	if (!arr)
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	if (sp_vault_via_store(v)) {
		int r = sp_vault_unreadable_remote(v, name, arr, err);
		if (r < 0) {
			json_decref(arr);
			return r;
		}
		*ret = arr;
		return 0;
	}
	snprintf(rel, sizeof(rel), "points/%s", name);
	fd =
	    openat(v->fd, rel, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		else if (errno != ENOENT)
			add_unreadable(arr, name, strerror(errno));
		*ret = arr;
		return 0;
	}
	for (;;) {
		char spec[140];
		sp_autoclose int pfd = -1;
		struct sp_error e;
		json_t *m = NULL;

		errno = 0;
		if (!(de = readdir(d)))
			break;
		if (!sp_name_is_valid(de->d_name))
			continue;
		snprintf(spec, sizeof(spec), "%s@%.64s", name, de->d_name);
		pfd = openat(dirfd(d), de->d_name,
			     O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (pfd < 0)
			add_unreadable(arr, spec, strerror(errno));
		else if (sp_manifest_load_point(pfd, name, de->d_name, &m, &e) <
			 0)
			add_unreadable(arr, spec, e.msg);
		json_decref(m);
	}
	if (errno)
		add_unreadable(arr, name, strerror(errno));
	closedir(d);
	*ret = arr;
	return 0;
}

int sp_points_cmp(const void *a, const void *b)
{
	json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
	int c = strcmp(json_string_value(json_object_get(x, "name")),
		       json_string_value(json_object_get(y, "name")));
	if (!c)
		c = strcmp(json_string_value(json_object_get(x, "time")),
			   json_string_value(json_object_get(y, "time")));
	if (!c)
		c = strcmp(json_string_value(json_object_get(x, "id")),
			   json_string_value(json_object_get(y, "id")));
	return c;
}

/* The slow path, when the catalog cannot be used (e.g. the vault's file
 * system is full): read every manifest. */
static int list_from_manifests(struct sp_vault *v, const char *name,
			       json_t **ret, struct sp_error *err)
{
	json_t *set = json_object(), *unreadable = json_object(), *val, *arr;
	const char *key;
	json_t **items = NULL;
	size_t n = 0;
	int r = sp_catalog_scan(v->fd, name, set, unreadable, err);

	/* Without the catalog nothing else knows the points of a directory
	 * that cannot be read: no listing rather than a short one. */
	void *first = json_object_iter(unreadable);
	if (r == 0 && first)
		r = sp_error_set(
		    err, SP_E_VAULT_IO, "%s",
		    json_string_value(json_object_iter_value(first)));
	json_decref(unreadable);
	if (r < 0) {
		json_decref(set);
		return r;
	}
	items = calloc(json_object_size(set) + 1, sizeof(*items));
	json_object_foreach(set, key, val)
	{
		char rel[200];
		sp_autoclose int pd = -1;
		struct sp_error e2;
		json_t *m;

		char vm[80];
		const char *slash = strchr(key, '/');

		snprintf(vm, sizeof(vm), "%.*s", (int)(slash - key), key);
		snprintf(rel, sizeof(rel), "points/%s", key);
		pd = openat(v->fd, rel,
			    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (!items)
			break;
		if (pd < 0) {
			r = sp_error_set_errno(err, SP_E_VAULT_IO, errno,
					       "cannot open '%s'", rel);
			break;
		}
		r = sp_manifest_load_point(pd, vm, slash + 1, &m, &e2);
		if (r == SP_E_VAULT_IO) {
			sp_error_set(err, r, "%s", e2.msg);
			break;
		}
		if (r == 0)
			items[n++] = m;
		else /* a damaged point is listed by verify, not here */
			sp_log(SP_LOG_WARNING, "skipping point %s: %s", key,
			       e2.msg);
		r = 0;
	}
	json_decref(set);
	if (!items)
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	if (r < 0) {
		while (n > 0)
			json_decref(items[--n]);
		free(items);
		return r;
	}
	qsort(items, n, sizeof(*items), sp_points_cmp);
	arr = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, items[i]);
	free(items);
	*ret = arr;
	return 0;
}

int sp_vault_list_points(struct sp_vault *v, const char *name, json_t **ret,
			 struct sp_error *err)
{
	int r;

	if (name && !sp_name_is_valid(name))
		return sp_error_set(err, SP_E_NAME_INVALID,
				    "invalid VM name '%s'", name);
	if (sp_vault_via_store(v))
		return sp_vault_list_remote(v, name, ret, err);
	r = sp_catalog_list(v->fd, name, ret, err);
	if (r == SP_E_CATALOG) {
		sp_log(SP_LOG_WARNING, "%s; listing from the manifests instead",
		       err->msg);
		sp_error_clear(err);
		r = list_from_manifests(v, name, ret, err);
	}
	return r;
}

int sp_vault_find_point(struct sp_vault *v, const char *spec, json_t **ret,
			struct sp_error *err)
{
	char name[80];
	const char *at = strchr(spec, '@');
	const char *idp = at ? at + 1 : NULL;
	json_t *all = NULL, *m, *found = NULL;
	size_t i, matches = 0;
	int r;

	snprintf(name, sizeof(name), "%.*s",
		 at ? (int)(at - spec) : (int)strlen(spec), spec);
	if (!sp_name_is_valid(name) || (idp && !*idp))
		return sp_error_set(err, SP_E_NAME_INVALID,
				    "invalid point '%s' (use NAME or NAME@ID)",
				    spec);
	r = sp_vault_list_points(v, name, &all, err);
	if (r < 0)
		return r;
	json_array_foreach(all, i, m)
	{
		const char *id = json_string_value(json_object_get(m, "id"));
		if (!idp) {
			found = m; /* oldest first: the last one wins */
			matches = 1;
		} else if (!strcmp(id, idp)) {
			found = m;
			matches = 1;
			break;
		} else if (!strncmp(id, idp, strlen(idp))) {
			found = m;
			matches++;
		}
	}
	if (matches == 0)
		r = sp_error_set(err, SP_E_POINT_NOT_FOUND,
				 idp ? "no recovery point '%s' in the vault "
				       "(list them with 'stillpoint points %s')"
				     : "VM '%s' has no recovery points (list "
				       "them with 'stillpoint points%s')",
				 spec, idp ? name : "");
	if (matches == 0 && idp) {
		/* Not listed: a point whose manifest is damaged says so
		 * rather than that it is not there. */
		struct sp_error e2 = {0};
		json_t *m2 = NULL;
		if (sp_vault_point_manifest(v, name, idp, &m2, &e2) < 0 &&
		    e2.code != SP_E_POINT_NOT_FOUND &&
		    e2.code != SP_E_NAME_INVALID) {
			json_decref(all);
			*err = e2;
			return e2.code;
		}
		json_decref(m2);
	}
	if (matches == 0)
		sp_trash_explain(v, spec, err); /* deleted, not gone? */
	else if (matches > 1)
		r = sp_error_set(err, SP_E_POINT_AMBIGUOUS,
				 "'%s' matches %zu recovery points (give more "
				 "of the id)",
				 spec, matches);
	else
		*ret = json_incref(found);
	json_decref(all);
	return r;
}

int sp_vault_rebuild_catalog(struct sp_vault *v, struct sp_error *err)
{
	if (sp_vault_via_store(v))
		return 0; /* no catalog: every listing reads the manifests */
	return sp_catalog_rebuild(v->fd, err);
}

json_t *sp_vault_requests(struct sp_vault *v)
{
	struct sp_store_counters c;

	if (!v->store->ops->counters)
		return NULL;
	v->store->ops->counters(v->store, &c);
	return json_pack(
	    "{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "requests",
	    (json_int_t)c.requests, "puts", (json_int_t)c.puts, "gets",
	    (json_int_t)c.gets, "heads", (json_int_t)c.heads, "lists",
	    (json_int_t)c.lists, "deletes", (json_int_t)c.deletes, "retentions",
	    (json_int_t)c.retentions, "retries", (json_int_t)c.retries,
	    "bytes_up", (json_int_t)c.bytes_up, "bytes_down",
	    (json_int_t)c.bytes_down);
}

json_t *sp_vault_describe(struct sp_vault *v)
{
	return json_pack("{s:s, s:s, s:i, s:I, s:s, s:s, s:i, s:s}", "path",
			 v->path, "id", v->vault_id, "version",
			 SP_VAULT_FORMAT_VERSION, "chunk_size",
			 (json_int_t)v->chunk_size, "chunk_id",
			 v->encrypted ? "hmac-sha256" : "sha256", "compression",
			 "zstd", "zstd_level", v->zstd_level, "encryption",
			 v->encrypted ? "aes-256-gcm" : "none");
}

/* ---- per-VM state: the last job's record -------------------------------- */

int sp_vault_state_put(struct sp_vault *v, const char *name, const char *file,
		       json_t *doc, struct sp_error *err)
{
	sp_autofree char *text = NULL;
	char key[200];
	int r;

	if (!sp_name_is_valid(name) || !sp_name_is_valid(file))
		return sp_error_set(err, SP_E_NAME_INVALID,
				    "invalid state name '%s/%s'", name, file);
	snprintf(key, sizeof(key), "state/%s/%s", name, file);
	text = json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS);
	if (!text)
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	r = v->store->ops->put(v->store, key, text, strlen(text), 0, err);
	if (SP_STORE_IS_ERRNO(r))
		return sp_error_set_errno(err, vault_code(-r), -r,
					  "cannot write '%s' in vault '%s'",
					  key, v->path);
	return r;
}

int sp_vault_state_get(struct sp_vault *v, const char *name, const char *file,
		       json_t **doc, struct sp_error *err)
{
	sp_autofree char *text = NULL;
	char key[200];
	size_t len = 0;
	int r;

	*doc = NULL;
	if (!sp_name_is_valid(name) || !sp_name_is_valid(file))
		return sp_error_set(err, SP_E_NAME_INVALID,
				    "invalid state name '%s/%s'", name, file);
	snprintf(key, sizeof(key), "state/%s/%s", name, file);
	r = v->store->ops->get(v->store, key, 1u << 20, (void **)&text, &len,
			       err);
	if (r == -ENOENT)
		return 0;
	if (r == -EBADMSG)
		return sp_error_set(err, SP_E_POINT_FILE_CORRUPT,
				    "'%s' in vault '%s' does not open with the "
				    "vault's key (damaged)",
				    key, v->path);
	if (SP_STORE_IS_ERRNO(r))
		return sp_error_set_errno(err, vault_code(-r), -r,
					  "cannot read '%s' in vault '%s'", key,
					  v->path);
	if (r < 0)
		return r;
	*doc = json_loadb(text, len, 0, NULL);
	return 0;
}

int sp_vault_store_error(struct sp_vault *v, int r, const char *what,
			 const char *key, struct sp_error *err)
{
	if (!SP_STORE_IS_ERRNO(r))
		return r;
	return sp_error_set_errno(err, vault_code(-r), -r,
				  "cannot %s '%s' in vault '%s'", what, key,
				  v->path);
}

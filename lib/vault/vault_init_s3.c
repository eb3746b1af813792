// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * A new vault in a bucket (vault.h: sp_vault_init_s3).  The prefix must
 * hold nothing; the keys (encrypted) and then the settings are put
 * create-only, so of two inits at once exactly one wins, and the server is
 * checked to honour that (check_create_only).
 */
#include "vault.h"

#include <errno.h>
#include <string.h>

#include "util/cleanup.h"
#include "util/log.h"
#include "vault/store.h"
#include "vault/vault_key.h"

static int count_one(void *ctx, const char *name, bool is_dir, uint64_t size)
{
	(void)name;
	(void)is_dir;
	(void)size;
	++*(size_t *)ctx;
	return 1; /* one is enough */
}

/* Some servers take If-None-Match on a PUT and overwrite all the same (an
 * S3 front over OpenStack Swift, MinIO before it had conditional PUTs,
 * Ceph RGW in a versioned bucket): the settings, just put, are put
 * create-only once more, which such a server lets through.  Without object
 * lock the new vault is taken away again and refused; a bucket with object
 * lock is versioned, and RGW ignores the header in every versioned bucket,
 * so there it is a warning (docs/vault-format.md says what is then not
 * guarded). */
static int check_create_only(struct sp_store *st, const char *path,
			     const char *text, bool locked, bool encrypt,
			     struct sp_error *err)
{
	struct sp_error e2;
	int r;

	r = st->ops->put(st, SP_VAULT_CONFIG, text, strlen(text),
			 SP_STORE_CREATE, err);
	if (r == -EEXIST)
		return 0;
	if (r < 0)
		return r;
	if (locked) {
		sp_log(SP_LOG_WARNING,
		       "the object store of '%s' ignores If-None-Match in this "
		       "bucket: two inits, or two gc sweeps, at once are not "
		       "told apart",
		       path);
		return 0;
	}
	st->ops->remove(st, SP_VAULT_CONFIG, &e2);
	if (encrypt)
		st->ops->remove(st, SP_STORE_KEYS, &e2);
	return sp_error_set(
	    err, SP_E_VAULT_UNSUPPORTED,
	    "the object store of '%s' ignores conditional writes "
	    "(If-None-Match: * on a PUT of an existing object succeeded), "
	    "which a vault needs: use an object store that has them (AWS "
	    "S3, Ceph RGW in a bucket without versioning) or a local vault",
	    path);
}

int sp_vault_init_s3(const char *path, uint32_t chunk_size, bool encrypt,
		     const char *key_file, const struct sp_vault_remote_opts *o,
		     struct sp_error *err)
{
	struct sp_store_s3_opts so = {o ? o->endpoint : NULL,
				      o ? o->ca_file : NULL};
	struct sp_store *st = NULL;
	sp_autofree char *text = NULL;
	sp_autofree char *keys = NULL;
	char check[SP_VAULT_KEY_CHECK_LEN + 1];
	const char *mode = o && o->lock_mode ? o->lock_mode : "GOVERNANCE";
	size_t n = 0;
	int r;

	r = sp_store_s3_open(path, &so, &st, err);
	if (r < 0)
		return r;
	r = st->ops->stat(st, SP_VAULT_CONFIG, NULL, err);
	if (r == 0) {
		r = sp_error_set(err, SP_E_VAULT_EXISTS,
				 "a vault already exists in '%s'", path);
		goto out;
	}
	if (r != -ENOENT)
		goto out;
	r = st->ops->list(st, "", count_one, &n, err);
	if (r < 0 && r != 1)
		goto out;
	if (n > 0) {
		r = sp_error_set(err, SP_E_NOT_A_VAULT,
				 "'%s' is not empty and holds no vault (init "
				 "needs a new or empty bucket or prefix)",
				 path);
		goto out;
	}
	if (o && o->object_lock_days) {
		bool lock = false;
		if (strcmp(mode, "GOVERNANCE") && strcmp(mode, "COMPLIANCE")) {
			r = sp_error_set(err, SP_E_USAGE,
					 "unknown lock mode '%s' (use "
					 "governance or compliance)",
					 mode);
			goto out;
		}
		r = sp_store_s3_has_object_lock(st, &lock, err);
		if (r == 0 && !lock)
			r = sp_error_set(
			    err, SP_E_VAULT_UNSUPPORTED,
			    "bucket of '%s' has no object lock (create the "
			    "bucket with object lock enabled; it cannot be "
			    "turned on later on every server)",
			    path);
		if (r < 0)
			goto out;
	}
	if (encrypt) {
		r = sp_vault_new_keys(path, key_file, &keys, check, err);
		if (r < 0)
			goto out;
		r = st->ops->put(st, SP_STORE_KEYS, keys, strlen(keys),
				 SP_STORE_CREATE, err);
		if (r == -EEXIST)
			r = sp_error_set(err, SP_E_VAULT_EXISTS,
					 "a vault is being made in '%s'", path);
		if (r < 0)
			goto out;
	}
	text = sp_vault_config_text(chunk_size, o ? o->object_lock_days : 0,
				    mode, encrypt ? check : NULL);
	if (!text) {
		r = sp_error_set(err, SP_E_NOMEM, "out of memory");
		goto out;
	}
	r = st->ops->put(st, SP_VAULT_CONFIG, text, strlen(text),
			 SP_STORE_CREATE, err);
	if (r == -EEXIST)
		r = sp_error_set(err, SP_E_VAULT_EXISTS,
				 "a vault already exists in '%s'", path);
	if (r == 0)
		r = check_create_only(st, path, text, o && o->object_lock_days,
				      encrypt, err);
out:
	sp_store_close(st);
	return r < 0 ? r : 0;
}

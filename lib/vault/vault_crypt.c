// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The encrypted vault (docs/encryption.md): the key slots a new vault
 * gets, the unlock when one is opened (before anything is written), and
 * the point files a local vault's gc and trash read through descriptors,
 * opened here.  Objects are sealed and opened by the sealing store
 * (store_sealed.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/fileio.h"
#include "util/log.h"
#include "vault/passphrase.h"
#include "vault/vault.h"
#include "vault/vault_conf.h"
#include "vault/vault_key.h"

#define KEYS_MAX (1u << 20)

static int vault_code(int errnum)
{
	return sp_errno_to_code(errnum, SP_E_VAULT_IO, SP_E_VAULT_FULL,
				SP_E_VAULT_PERMISSION);
}

/* The key slots of a new encrypted vault: a passphrase slot when one is at
 * hand, a key-file slot for @key_file (made when missing).  *@doc gets
 * keys.json, *@check the key check. */
int sp_vault_new_keys(const char *path, const char *key_file, char **doc,
		      char check[SP_VAULT_KEY_CHECK_LEN + 1],
		      struct sp_error *err)
{
	sp_autoptr(sp_vault_key) struct sp_vault_key *key = NULL;
	char *pass = NULL, prompt[300];
	struct stat st;
	int r;

	r = sp_vault_key_new(&key, err);
	if (r < 0)
		return r;
	r = sp_vault_keys_new(key, doc, err);
	if (r < 0)
		return r;
	snprintf(prompt, sizeof(prompt), "new vault '%s'", path);
	r = sp_passphrase_get(prompt, true, &pass, err);
	if (r == SP_E_VAULT_KEY_NEEDED && key_file) {
		sp_error_clear(err);
		r = 0;
	} else if (r == SP_E_VAULT_KEY_NEEDED) {
		sp_error_set(err, SP_E_VAULT_KEY_NEEDED,
			     "an encrypted vault needs a passphrase "
			     "(STILLPOINT_PASSPHRASE, "
			     "STILLPOINT_PASSPHRASE_FILE, or a terminal to "
			     "ask on) or --key-file; or say --no-encrypt");
	}
	if (r == 0 && pass)
		r = sp_vault_key_slot_add_passphrase(doc, key, pass, NULL, NULL,
						     NULL, err);
	sp_passphrase_free(pass);
	if (r == 0 && key_file && stat(key_file, &st) < 0 && errno == ENOENT)
		r = sp_vault_key_file_create(key_file, err);
	if (r == 0 && key_file)
		r = sp_vault_key_slot_add_keyfile(doc, key, key_file, NULL,
						  NULL, err);
	if (r < 0) {
		free(*doc);
		*doc = NULL;
		return r;
	}
	sp_vault_key_check(key, check);
	return 0;
}

static int wrap_sealed(struct sp_vault *v, struct sp_error *err);

/* keys.json is gone: a paper key still opens the vault, checked against
 * the settings' key check (and `key add` writes a new keys.json). */
static int unlock_paper(struct sp_vault *v, const char *key_file,
			struct sp_error *err)
{
	sp_autofree char *text = NULL;
	char check[SP_VAULT_KEY_CHECK_LEN + 1];
	size_t len = 0;
	int r = sp_file_read(AT_FDCWD, key_file, 65536, &text, &len);

	if (r < 0)
		return sp_error_set_errno(
		    err, SP_E_USAGE, -r, "cannot read key file '%s'", key_file);
	r = sp_vault_key_paper_decode(text, &v->key, err);
	explicit_bzero(text, len);
	if (r < 0)
		return r;
	sp_vault_key_check(v->key, check);
	if (strcmp(check, v->key_check) != 0)
		return sp_error_set(err, SP_E_VAULT_KEY_WRONG,
				    "the paper key '%s' is not the key of '%s' "
				    "(nothing was written)",
				    key_file, v->path);
	sp_log(SP_LOG_WARNING,
	       "vault '%s' has no %s: opened with the paper key (add a "
	       "slot with 'stillpoint key add')",
	       v->path, SP_STORE_KEYS);
	return wrap_sealed(v, err);
}

/*
 * Where the key comes from, first found wins: the key file of --key-file or
 * STILLPOINT_KEY_FILE; a passphrase from STILLPOINT_PASSPHRASE or
 * STILLPOINT_PASSPHRASE_FILE; the key settings of the vault's own file
 * (vault_conf.h), read only when neither gave one; the terminal.
 */
static int key_sources(struct sp_vault *v, struct sp_vault_conf_key *conf,
		       const char **key_file, char **pass, struct sp_error *err)
{
	const char *env_key = getenv("STILLPOINT_KEY_FILE");
	int r;

	*key_file = env_key && *env_key ? env_key : NULL;
	*pass = NULL;
	if (*key_file)
		return 0;
	r = sp_passphrase_from_env(pass, err);
	if (r < 0 || *pass)
		return r;
	r = sp_vault_conf_key_load(v->path, conf, err);
	if (r < 0)
		return r;
	*key_file = conf->key_file;
	*pass = conf->passphrase;
	conf->passphrase = NULL; /* ours to wipe now */
	return 0;
}

/* @err, a failure to open the vault with what its own file gave, says
 * which file that was. */
static int name_conf(const struct sp_vault_conf_key *conf, int r,
		     struct sp_error *err)
{
	char msg[SP_ERROR_MSG_MAX];

	if (!err || !conf->conf[0] || strstr(err->msg, conf->conf))
		return r;
	snprintf(msg, sizeof(msg), "%s", err->msg);
	return sp_error_set(err, r, "%s (the key settings of '%s')", msg,
			    conf->conf);
}

int sp_vault_unlock(struct sp_vault *v, struct sp_error *err)
{
	struct sp_vault_conf_key conf = {0};
	sp_autofree char *doc = NULL;
	const char *key_file = NULL;
	char *pass = NULL, prompt[300], check[SP_VAULT_KEY_CHECK_LEN + 1];
	char *t = NULL;
	size_t len = 0;
	int r;

	r = key_sources(v, &conf, &key_file, &pass, err);
	if (r < 0)
		goto out;
	r = v->store->ops->get(v->store, SP_STORE_KEYS, KEYS_MAX, (void **)&doc,
			       &len, err);
	if (r == -ENOENT && key_file) {
		r = unlock_paper(v, key_file, err);
		goto out;
	}
	if (r == -ENOENT) {
		r = sp_error_set(err, SP_E_NOT_A_VAULT,
				 "encrypted vault '%s' has no %s (its key "
				 "slots): it cannot be opened",
				 v->path, SP_STORE_KEYS);
		goto out;
	}
	if (SP_STORE_IS_ERRNO(r)) {
		r = sp_error_set_errno(err, vault_code(-r), -r,
				       "cannot read '%s/%s'", v->path,
				       SP_STORE_KEYS);
		goto out;
	}
	if (r < 0)
		goto out;
	t = realloc(doc, len + 1);
	if (!t) {
		r = sp_error_set(err, SP_E_NOMEM, "out of memory");
		goto out;
	}
	doc = t;
	doc[len] = '\0';
	if (!key_file && !pass) {
		snprintf(prompt, sizeof(prompt), "vault '%s'", v->path);
		r = sp_passphrase_ask(prompt, false, &pass, err);
		if (r == SP_E_VAULT_KEY_NEEDED)
			r = sp_error_set(
			    err, SP_E_VAULT_KEY_NEEDED,
			    "vault '%s' is encrypted: give its passphrase "
			    "(STILLPOINT_PASSPHRASE, "
			    "STILLPOINT_PASSPHRASE_FILE, or a terminal to ask "
			    "on) or a key file (--key-file, "
			    "STILLPOINT_KEY_FILE), or name one in the vault's "
			    "file in %s (passphrase_file = or key_file =)",
			    v->path, sp_vault_conf_dir());
		if (r < 0)
			goto out;
	}
	r = sp_vault_key_unlock(doc, pass, key_file, &v->key, err);
	if (r < 0)
		goto out;
	sp_vault_key_check(v->key, check);
	if (strcmp(check, v->key_check) != 0) {
		r = sp_error_set(err, SP_E_VAULT_KEY_WRONG,
				 "the key of '%s' does not match the "
				 "vault's key check (keys.json belongs to "
				 "another vault?)",
				 v->path);
		goto out;
	}
	r = wrap_sealed(v, err);
out:
	if (r < 0)
		r = name_conf(&conf, r, err);
	sp_passphrase_free(pass);
	sp_vault_conf_key_release(&conf);
	return r;
}

static int wrap_sealed(struct sp_vault *v, struct sp_error *err)
{
	struct sp_store *sealed = NULL;
	int r = sp_store_sealed_wrap(v->store, v->key, &sealed, err);

	if (r < 0)
		return r;
	v->store = sealed;
	return 0;
}

int sp_vault_record_seal(struct sp_vault *v, const char *key, const char *text,
			 void **out, size_t *outlen, struct sp_error *err)
{
	size_t len = strlen(text);

	if (!v->encrypted) {
		*out = strdup(text);
		*outlen = len;
		return *out ? 0
			    : sp_error_set(err, SP_E_NOMEM, "out of memory");
	}
	if (sp_store_seal_copy(v->store, key, text, len, out, outlen) < 0)
		return sp_error_set(err, SP_E_NOMEM, "cannot seal '%s'", key);
	return 0;
}

int sp_vault_record_open(struct sp_vault *v, const char *key, void *buf,
			 size_t len, size_t *outlen)
{
	if (!v->encrypted) {
		*outlen = len;
		return 0;
	}
	return sp_store_unseal_in_place(v->store, key, buf, len, outlen);
}

/* An index held in memory (an opened sealed one), as a scratch file the
 * index maps. */
int sp_vault_index_from_bytes(const void *bytes, size_t len, const char *name,
			      const uint8_t *sha, struct sp_disk_index **ret,
			      struct sp_error *err)
{
	sp_autoclose int fd = sp_tmpfile_open();
	int r;

	if (fd < 0)
		return sp_error_set_errno(err, SP_E_VAULT_IO, -fd,
					  "cannot make a scratch file for "
					  "index '%s'",
					  name);
	r = sp_pwrite_all(fd, bytes, len, 0);
	if (r < 0)
		return sp_error_set_errno(err, SP_E_VAULT_IO, -r,
					  "cannot keep index '%s' in a scratch "
					  "file",
					  name);
	return sp_disk_index_open_fd(fd, name, sha, ret, err);
}

/* ---- encrypted local vaults: point files read through fds --------------- */

int sp_vault_unseal_point_file(struct sp_vault *v, const char *name,
			       const char *id, const char *file, void *buf,
			       size_t len, size_t *outlen)
{
	char key[300];

	if (!v->encrypted) {
		*outlen = len;
		return 0;
	}
	snprintf(key, sizeof(key), "points/%s/%s/%s", name, id, file);
	return sp_store_unseal_in_place(v->store, key, buf, len, outlen);
}

int sp_vault_manifest_load_dir(struct sp_vault *v, int point_dirfd,
			       const char *name, const char *id, json_t **ret,
			       struct sp_error *err)
{
	sp_autofree char *text = NULL;
	size_t len = 0;
	int r;

	if (!v->encrypted)
		return sp_manifest_load_point(point_dirfd, name, id, ret, err);
	r = sp_file_read(point_dirfd, "manifest.json", SP_MANIFEST_MAX, &text,
			 &len);
	if (r == -ENOENT || r == -SP_ENOTREG)
		return sp_error_set(err, SP_E_MANIFEST_CORRUPT,
				    "manifest of point '%s@%s' is missing or "
				    "not a regular file",
				    name, id);
	if (r < 0)
		return sp_error_set_errno(err, SP_E_VAULT_IO, -r,
					  "cannot read manifest of point "
					  "'%s@%s'",
					  name, id);
	r = sp_vault_unseal_point_file(v, name, id, "manifest.json", text, len,
				       &len);
	if (r < 0)
		return sp_error_set(err, SP_E_MANIFEST_CORRUPT,
				    "manifest of point '%s@%s' does not open "
				    "with the vault's key (damaged, or not "
				    "this point's)",
				    name, id);
	return sp_manifest_parse_point(text, len, name, id, ret, err);
}

int sp_vault_index_open_dir(struct sp_vault *v, int point_dirfd,
			    const char *name, const char *id, const char *file,
			    const uint8_t *sha, struct sp_disk_index **ret,
			    struct sp_error *err)
{
	sp_autofree char *text = NULL;
	size_t len = 0;
	int r;

	if (!v->encrypted)
		return sp_disk_index_open(point_dirfd, file, sha, ret, err);
	if (!file || !*file || strchr(file, '/') || file[0] == '.')
		return sp_error_set(err, SP_E_INDEX_CORRUPT,
				    "invalid index name of point '%s@%s'", name,
				    id);
	r = sp_file_read(point_dirfd, file, SP_INDEX_MAX, &text, &len);
	if (r < 0)
		return sp_error_set_errno(err,
					  r == -ENOENT || r == -SP_ENOTREG
					      ? SP_E_INDEX_CORRUPT
					      : SP_E_VAULT_IO,
					  -r,
					  "cannot read index '%s' of point "
					  "'%s@%s'",
					  file, name, id);
	r = sp_vault_unseal_point_file(v, name, id, file, text, len, &len);
	if (r < 0)
		return sp_error_set(err, SP_E_INDEX_CORRUPT,
				    "index '%s' of point '%s@%s' does not open "
				    "with the vault's key (damaged, or not "
				    "this point's)",
				    file, name, id);
	return sp_vault_index_from_bytes(text, len, file, sha, ret, err);
}

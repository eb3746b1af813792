// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The key slots of an open encrypted vault (`stillpoint key ...`): read
 * keys.json, change it with vault_key.c, and put it back whole.
 *
 * keys.json is replaced by one put, which every store makes atomic (a
 * local store writes a temporary file, fsyncs it and renames it over; an
 * S3 PUT replaces an object whole): a reader sees the old document or the
 * new one, never a part.  No copy of the old document is kept on purpose:
 * a slot is removed because its passphrase or key file is no longer
 * trusted, and a copy would keep it working.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/cleanup.h"
#include "vault/passphrase.h"
#include "vault/vault.h"
#include "vault/vault_key.h"

#define KEYS_MAX (1u << 20)

static int need_encrypted(struct sp_vault *v, struct sp_error *err)
{
	if (!v->encrypted || !v->key)
		return sp_error_set(err, SP_E_USAGE,
				    "vault '%s' is not encrypted: it has no "
				    "keys",
				    v->path);
	return 0;
}

static int keys_get(struct sp_vault *v, char **doc, struct sp_error *err)
{
	struct sp_store *st = sp_store_inner(v->store);
	size_t len = 0;
	char *t;
	int r = need_encrypted(v, err);

	if (r < 0)
		return r;
	r = st->ops->get(st, SP_STORE_KEYS, KEYS_MAX, (void **)doc, &len, err);
	if (r == -ENOENT) /* opened with a paper key: a new document */
		return sp_vault_keys_new(v->key, doc, err);
	if (SP_STORE_IS_ERRNO(r))
		return sp_error_set_errno(err, SP_E_VAULT_IO, -r,
					  "cannot read '%s/%s'", v->path,
					  SP_STORE_KEYS);
	if (r < 0)
		return r;
	t = realloc(*doc, len + 1);
	if (!t) {
		free(*doc);
		*doc = NULL;
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	}
	t[len] = '\0';
	*doc = t;
	return 0;
}

static int keys_put(struct sp_vault *v, const char *doc, struct sp_error *err)
{
	struct sp_store *st = sp_store_inner(v->store);
	int r = st->ops->put(st, SP_STORE_KEYS, doc, strlen(doc), 0, err);

	if (r == 0)
		r = st->ops->sync(st, err);
	if (SP_STORE_IS_ERRNO(r))
		return sp_error_set_errno(err, SP_E_VAULT_IO, -r,
					  "cannot write '%s/%s'", v->path,
					  SP_STORE_KEYS);
	return r;
}

int sp_vault_keys_list(struct sp_vault *v, json_t **ret, struct sp_error *err)
{
	sp_autofree char *doc = NULL;
	sp_autofree struct sp_key_slot_info *slots = NULL;
	size_t n = 0;
	json_t *arr;
	int r;

	r = keys_get(v, &doc, err);
	if (r == 0)
		r = sp_vault_key_slots_list(doc, &slots, &n, err);
	if (r < 0)
		return r;
	arr = json_array();
	for (size_t i = 0; arr && i < n; i++)
		json_array_append_new(
		    arr, json_pack("{s:s, s:s, s:s, s:s, s:s, s:b}", "id",
				   slots[i].id, "kind", slots[i].kind, "label",
				   slots[i].label, "created", slots[i].created,
				   "kdf", slots[i].kdf, "unlocked",
				   !strcmp(slots[i].id, v->key->slot)));
	if (!arr)
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	*ret = arr;
	return 0;
}

/* A new passphrase: $STILLPOINT_NEW_PASSPHRASE, else asked twice on the
 * terminal (the sources of the passphrase that opened the vault are set
 * aside for the question, so that the old one is not taken as new). */
static int new_passphrase(struct sp_vault *v, char **out, struct sp_error *err)
{
	const char *env = getenv("STILLPOINT_NEW_PASSPHRASE");
	char prompt[300];
	char *saved[2] = {NULL, NULL};
	static const char *const names[2] = {"STILLPOINT_PASSPHRASE",
					     "STILLPOINT_PASSPHRASE_FILE"};
	int r;

	if (env && *env) {
		*out = strdup(env);
		return *out ? 0
			    : sp_error_set(err, SP_E_NOMEM, "out of memory");
	}
	for (int i = 0; i < 2; i++) {
		const char *e = getenv(names[i]);
		if (e) {
			saved[i] = strdup(e);
			unsetenv(names[i]);
		}
	}
	snprintf(prompt, sizeof(prompt), "a new passphrase of vault '%s'",
		 v->path);
	r = sp_passphrase_get(prompt, true, out, err);
	for (int i = 0; i < 2; i++)
		if (saved[i]) {
			setenv(names[i], saved[i], 1);
			sp_passphrase_free(saved[i]);
		}
	if (r == SP_E_VAULT_KEY_NEEDED)
		return sp_error_set(err, SP_E_VAULT_KEY_NEEDED,
				    "no new passphrase: set "
				    "STILLPOINT_NEW_PASSPHRASE or run on a "
				    "terminal");
	return r;
}

int sp_vault_keys_add(struct sp_vault *v, const char *key_file,
		      const char *label, char id[9], struct sp_error *err)
{
	sp_autofree char *doc = NULL;
	char *pass = NULL;
	int r;

	r = keys_get(v, &doc, err);
	if (r < 0)
		return r;
	if (key_file) {
		FILE *f = fopen(key_file, "r");
		if (f)
			fclose(f);
		else if (errno == ENOENT &&
			 (r = sp_vault_key_file_create(key_file, err)) < 0)
			return r;
		r = sp_vault_key_slot_add_keyfile(&doc, v->key, key_file, label,
						  id, err);
	} else {
		r = new_passphrase(v, &pass, err);
		if (r == 0)
			r = sp_vault_key_slot_add_passphrase(
			    &doc, v->key, pass, label, NULL, id, err);
		sp_passphrase_free(pass);
	}
	return r < 0 ? r : keys_put(v, doc, err);
}

int sp_vault_keys_remove(struct sp_vault *v, const char *id,
			 struct sp_error *err)
{
	sp_autofree char *doc = NULL;
	int r = keys_get(v, &doc, err);

	if (r == 0)
		r = sp_vault_key_slot_remove(&doc, id, err);
	return r < 0 ? r : keys_put(v, doc, err);
}

int sp_vault_keys_passwd(struct sp_vault *v, const char *label, char id[9],
			 struct sp_error *err)
{
	sp_autofree char *doc = NULL;
	sp_autofree struct sp_key_slot_info *slots = NULL;
	char *pass = NULL;
	size_t n = 0;
	int r = keys_get(v, &doc, err);

	if (r < 0)
		return r;
	/* Only a passphrase slot is replaced; a key file keeps its slot. */
	r = sp_vault_key_slots_list(doc, &slots, &n, err);
	if (r < 0)
		return r;
	struct sp_vault_key k = *v->key;
	k.slot[0] = '\0';
	for (size_t i = 0; i < n; i++)
		if (!strcmp(slots[i].id, v->key->slot) &&
		    !strcmp(slots[i].kind, "passphrase"))
			memcpy(k.slot, v->key->slot, sizeof(k.slot));
	r = new_passphrase(v, &pass, err);
	if (r == 0)
		r = sp_vault_key_passwd(&doc, &k, pass, label, NULL, id, err);
	sp_passphrase_free(pass);
	explicit_bzero(&k, sizeof(k));
	return r < 0 ? r : keys_put(v, doc, err);
}

int sp_vault_keys_paper(struct sp_vault *v, char **text, struct sp_error *err)
{
	int r = need_encrypted(v, err);

	return r < 0 ? r : sp_vault_key_paper_encode(v->key, text, err);
}

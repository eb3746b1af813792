// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Vault keys and key slots; the formats are in vault_key.h and
 * docs/encryption.md.
 *
 * Invariants:
 *  1. Only the master is stored, and only wrapped (in a slot) or printed
 *     (a paper key); every working key is derived from it.
 *  2. A key handed out by sp_vault_key_unlock() matches the document's
 *     key_check: a slot or paper key of another vault is never accepted.
 *  3. Every buffer that held a master, a KEK, a passphrase or a key file is
 *     wiped before it is freed or goes out of scope.
 *  4. A document is replaced only when the whole change succeeded.
 */
#include "vault_key.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <jansson.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>

#include "util/fileio.h"
#include "util/text.h"
#include "vault/chunk_id.h"
#include "vault/seal.h"

#define KEYS_FORMAT "stillpoint-keys"
#define KEYS_VERSION 1
#define SALT_LEN 16
#define WRAPPED_LEN (SP_VAULT_KEY_LEN + SP_SEAL_OVERHEAD)
#define KEYFILE_MIN 32
#define KEYFILE_MAX (64 << 10)
#define SCRYPT_MAX_MEM (1ull << 30)
#define DOC_MAX (1 << 20)

const struct sp_scrypt_params sp_scrypt_default = {
    .n = 1u << 17,
    .r = 8,
    .p = 1,
};

static void wipe_freep(char **p)
{
	if (*p) {
		explicit_bzero(*p, strlen(*p));
		free(*p);
	}
}
#define sp_autowipe __attribute__((cleanup(wipe_freep)))

static int hkdf(const void *ikm, size_t ikmlen, const void *salt,
		size_t saltlen, const char *info, uint8_t *out, size_t outlen)
{
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	EVP_KDF_CTX *ctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	OSSL_PARAM params[5], *p = params;
	int ok;

	EVP_KDF_free(kdf);
	if (!ctx)
		return -EIO;
	*p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
						(char *)"SHA256", 0);
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY,
						 (void *)ikm, ikmlen);
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO,
						 (void *)info, strlen(info));
	if (saltlen)
		*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT,
							 (void *)salt, saltlen);
	*p = OSSL_PARAM_construct_end();
	ok = EVP_KDF_derive(ctx, out, outlen, params);
	EVP_KDF_CTX_free(ctx);
	return ok == 1 ? 0 : -EIO;
}

static int key_from_master(const uint8_t master[SP_VAULT_KEY_LEN],
			   struct sp_vault_key **ret, struct sp_error *err)
{
	struct sp_vault_key *k = calloc(1, sizeof(*k));

	if (!k)
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	memcpy(k->master, master, SP_VAULT_KEY_LEN);
	if (hkdf(master, SP_VAULT_KEY_LEN, NULL, 0, "stillpoint data key v1",
		 k->data_key, SP_VAULT_KEY_LEN) < 0 ||
	    hkdf(master, SP_VAULT_KEY_LEN, NULL, 0,
		 "stillpoint chunk id key v1", k->id_key,
		 SP_VAULT_KEY_LEN) < 0 ||
	    hkdf(master, SP_VAULT_KEY_LEN, NULL, 0, "stillpoint name key v1",
		 k->name_key, SP_VAULT_KEY_LEN) < 0) {
		sp_vault_key_free(k);
		return sp_error_set(err, SP_E_INTERNAL,
				    "cannot derive the vault's keys (HKDF "
				    "failed in libcrypto)");
	}
	*ret = k;
	return 0;
}

int sp_vault_key_new(struct sp_vault_key **ret, struct sp_error *err)
{
	uint8_t master[SP_VAULT_KEY_LEN];
	int r;

	if (RAND_priv_bytes(master, sizeof(master)) != 1)
		return sp_error_set(err, SP_E_INTERNAL,
				    "cannot draw a random vault key (libcrypto "
				    "has no randomness)");
	r = key_from_master(master, ret, err);
	explicit_bzero(master, sizeof(master));
	return r;
}

void sp_vault_key_free(struct sp_vault_key *key)
{
	if (!key)
		return;
	explicit_bzero(key, sizeof(*key));
	free(key);
}

void sp_vault_key_check(const struct sp_vault_key *key,
			char out[SP_VAULT_KEY_CHECK_LEN + 1])
{
	uint8_t check[SP_VAULT_KEY_CHECK_LEN / 2];

	if (hkdf(key->master, SP_VAULT_KEY_LEN, NULL, 0,
		 "stillpoint key check v1", check, sizeof(check)) < 0)
		abort(); /* as chunk ids: never hand out a made-up value */
	sp_hex_encode(check, sizeof(check), out);
}

void sp_vault_key_hide_name(const struct sp_vault_key *key, const char *name,
			    char out[SP_HIDDEN_NAME_LEN + 1])
{
	uint8_t mac[32];
	unsigned int n = sizeof(mac);

	if (!HMAC(EVP_sha256(), key->name_key, SP_VAULT_KEY_LEN,
		  (const uint8_t *)name, strlen(name), mac, &n))
		abort();
	out[0] = 'n';
	out[1] = '-';
	sp_hex_encode(mac, (SP_HIDDEN_NAME_LEN - 2) / 2, out + 2);
}

static int paper_read(const char *text, bool strict,
		      uint8_t master[SP_VAULT_KEY_LEN], struct sp_error *err);

/* --- base64 ----------------------------------------------------------- */

static char *b64_encode(const uint8_t *in, size_t len)
{
	char *out = malloc(4 * ((len + 2) / 3) + 1);

	if (out)
		EVP_EncodeBlock((uint8_t *)out, in, (int)len);
	return out;
}

/* Decode exactly @len bytes from @in; false on anything else. */
static bool b64_decode(const char *in, uint8_t *out, size_t len)
{
	size_t inlen = strlen(in);
	size_t pad = 0;
	uint8_t buf[128];
	int n;

	if (inlen == 0 || inlen % 4 || inlen > 4 * sizeof(buf) / 3)
		return false;
	pad = (in[inlen - 1] == '=') + (in[inlen - 2] == '=');
	n = EVP_DecodeBlock(buf, (const uint8_t *)in, (int)inlen);
	if (n < 0 || (size_t)n - pad != len) {
		explicit_bzero(buf, sizeof(buf));
		return false;
	}
	memcpy(out, buf, len);
	explicit_bzero(buf, sizeof(buf));
	return true;
}

/* --- the document ----------------------------------------------------- */

struct slot {
	const char *id, *kind;
	json_t *json;
	bool scrypt;
	struct sp_scrypt_params params;
	uint8_t salt[SALT_LEN];
	uint8_t wrapped[WRAPPED_LEN];
};

static bool scrypt_params_valid(const struct sp_scrypt_params *p)
{
	return p->n >= 2 && p->n <= (1u << 22) && !(p->n & (p->n - 1)) &&
	       p->r >= 1 && p->r <= 32 && p->p >= 1 && p->p <= 16 &&
	       128ull * p->r * p->n <= SCRYPT_MAX_MEM;
}

static int doc_damaged(struct sp_error *err, const char *what)
{
	return sp_error_set(err, SP_E_NOT_A_VAULT,
			    "the vault's key slots are damaged (%s) (restore "
			    "keys.json from a copy, or open the vault with "
			    "its paper key)",
			    what);
}

/* Parse @doc: *@root owns everything; *@slots borrows from it. */
static int doc_parse(const char *doc, json_t **root, json_t **slots,
		     const char **check, struct sp_error *err)
{
	json_error_t jerr;
	json_t *j = json_loads(doc, JSON_REJECT_DUPLICATES, &jerr);
	const char *fmt;

	if (!j || !json_is_object(j)) {
		json_decref(j);
		return doc_damaged(err, "not a JSON object");
	}
	*root = j;
	fmt = json_string_value(json_object_get(j, "format"));
	if (!fmt || strcmp(fmt, KEYS_FORMAT) != 0)
		return doc_damaged(err, "no \"format\": \"" KEYS_FORMAT "\"");
	if (json_integer_value(json_object_get(j, "version")) != KEYS_VERSION)
		return sp_error_set(err, SP_E_VAULT_VERSION,
				    "the vault's key slots have a format "
				    "version this build does not read (use a "
				    "newer Stillpoint)");
	*check = json_string_value(json_object_get(j, "key_check"));
	if (!*check || strlen(*check) != SP_VAULT_KEY_CHECK_LEN)
		return doc_damaged(err, "no key_check");
	*slots = json_object_get(j, "slots");
	if (!json_is_array(*slots))
		return doc_damaged(err, "no slot array");
	return 0;
}

/* Read one slot; false when it is damaged (it is then skipped). */
static bool slot_parse(json_t *j, struct slot *s)
{
	json_t *kdf = json_object_get(j, "kdf");
	const char *name = json_string_value(json_object_get(kdf, "name"));
	const char *salt = json_string_value(json_object_get(kdf, "salt"));
	const char *wrapped = json_string_value(json_object_get(j, "wrapped"));

	memset(s, 0, sizeof(*s));
	s->json = j;
	s->id = json_string_value(json_object_get(j, "id"));
	s->kind = json_string_value(json_object_get(j, "kind"));
	if (!s->id || strlen(s->id) != SP_KEY_SLOT_ID_LEN || !s->kind ||
	    !name || !salt || !wrapped ||
	    !b64_decode(salt, s->salt, SALT_LEN) ||
	    !b64_decode(wrapped, s->wrapped, WRAPPED_LEN))
		return false;
	if (strcmp(s->kind, "passphrase") == 0 && strcmp(name, "scrypt") == 0) {
		json_t *n = json_object_get(kdf, "n");
		json_t *r = json_object_get(kdf, "r");
		json_t *p = json_object_get(kdf, "p");
		if (!json_is_integer(n) || !json_is_integer(r) ||
		    !json_is_integer(p) || json_integer_value(n) < 0 ||
		    json_integer_value(r) < 0 || json_integer_value(p) < 0 ||
		    json_integer_value(r) > UINT32_MAX ||
		    json_integer_value(p) > UINT32_MAX)
			return false;
		s->scrypt = true;
		s->params.n = (uint64_t)json_integer_value(n);
		s->params.r = (uint32_t)json_integer_value(r);
		s->params.p = (uint32_t)json_integer_value(p);
		return scrypt_params_valid(&s->params);
	}
	return strcmp(s->kind, "keyfile") == 0 &&
	       strcmp(name, "hkdf-sha256") == 0;
}

/* The AAD of a slot's wrapping: everything that decides its KEK. */
static void slot_aad(const struct slot *s, char *out, size_t outlen,
		     size_t *len)
{
	char salt[2 * SALT_LEN + 1];
	int n;

	sp_hex_encode(s->salt, SALT_LEN, salt);
	if (s->scrypt)
		n = snprintf(out, outlen,
			     "stillpoint key slot v1 id=%s kind=%s kdf=scrypt "
			     "n=%" PRIu64 " r=%" PRIu32 " p=%" PRIu32
			     " salt=%s",
			     s->id, s->kind, s->params.n, s->params.r,
			     s->params.p, salt);
	else
		n = snprintf(out, outlen,
			     "stillpoint key slot v1 id=%s kind=%s "
			     "kdf=hkdf-sha256 salt=%s",
			     s->id, s->kind, salt);
	*len = (size_t)n < outlen ? (size_t)n : outlen - 1;
}

static int kek_scrypt(const struct slot *s, const char *passphrase,
		      uint8_t kek[SP_SEAL_KEY_LEN])
{
	uint64_t mem = 128ull * s->params.r * (s->params.n + s->params.p + 2);

	if (EVP_PBE_scrypt(passphrase, strlen(passphrase), s->salt, SALT_LEN,
			   s->params.n, s->params.r, s->params.p,
			   mem + (1 << 20), kek, SP_SEAL_KEY_LEN) != 1)
		return -EIO;
	return 0;
}

static int kek_keyfile(const struct slot *s, const uint8_t *file, size_t len,
		       uint8_t kek[SP_SEAL_KEY_LEN])
{
	return hkdf(file, len, s->salt, SALT_LEN, "stillpoint key file v1", kek,
		    SP_SEAL_KEY_LEN);
}

static int seal_master(const struct slot *s, const uint8_t *kek,
		       const struct sp_vault_key *key,
		       uint8_t wrapped[WRAPPED_LEN])
{
	struct sp_sealer *sealer = sp_sealer_new();
	char aad[256];
	size_t aadlen, n;
	int r;

	if (!sealer)
		return -ENOMEM;
	slot_aad(s, aad, sizeof(aad), &aadlen);
	r = sp_seal(sealer, kek, aad, aadlen, key->master, SP_VAULT_KEY_LEN,
		    wrapped, WRAPPED_LEN, &n);
	sp_sealer_free(sealer);
	return r;
}

/* 0 and the master, -EBADMSG when @kek is not this slot's, or -errno. */
static int open_master(const struct slot *s, const uint8_t *kek,
		       uint8_t master[SP_VAULT_KEY_LEN])
{
	struct sp_sealer *sealer = sp_sealer_new();
	char aad[256];
	size_t aadlen, n;
	int r;

	if (!sealer)
		return -ENOMEM;
	slot_aad(s, aad, sizeof(aad), &aadlen);
	r = sp_unseal(sealer, kek, aad, aadlen, s->wrapped, WRAPPED_LEN, master,
		      SP_VAULT_KEY_LEN, &n);
	sp_sealer_free(sealer);
	return r;
}

/* Read a key file given by the operator. */
static int keyfile_read(const char *path, char **data, size_t *len,
			struct sp_error *err)
{
	int r = sp_file_read(AT_FDCWD, path, KEYFILE_MAX, data, len);

	if (r == -EFBIG)
		return sp_error_set(err, SP_E_USAGE,
				    "key file '%s' is larger than 64 KiB (is "
				    "it the right file?)",
				    path);
	if (r < 0)
		return sp_error_set_errno(err, SP_E_USAGE, -r,
					  "cannot read key file '%s'", path);
	return 0;
}

static int doc_replace(char **doc, json_t *root, struct sp_error *err)
{
	char *text = json_dumps(root, JSON_INDENT(2));

	if (!text)
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	free(*doc);
	*doc = text;
	return 0;
}

int sp_vault_keys_new(const struct sp_vault_key *key, char **doc,
		      struct sp_error *err)
{
	char check[SP_VAULT_KEY_CHECK_LEN + 1];
	json_auto_t *root = NULL;
	char *text;

	sp_vault_key_check(key, check);
	root = json_pack("{s:s, s:i, s:s, s:[]}", "format", KEYS_FORMAT,
			 "version", KEYS_VERSION, "key_check", check, "slots");
	text = root ? json_dumps(root, JSON_INDENT(2)) : NULL;
	if (!text)
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	*doc = text;
	return 0;
}

static bool slot_id_taken(json_t *slots, const char *id)
{
	size_t i;
	json_t *s;

	json_array_foreach(slots, i, s)
	{
		const char *sid = json_string_value(json_object_get(s, "id"));
		if (sid && strcmp(sid, id) == 0)
			return true;
	}
	return false;
}

/* How a slot's KEK comes from its secret. */
typedef int (*kek_fn)(const struct slot *s, const void *secret, size_t len,
		      uint8_t kek[SP_SEAL_KEY_LEN]);

static int derive_scrypt(const struct slot *s, const void *secret, size_t len,
			 uint8_t kek[SP_SEAL_KEY_LEN])
{
	return kek_scrypt(s, secret, kek);
}

static int derive_keyfile(const struct slot *s, const void *secret, size_t len,
			  uint8_t kek[SP_SEAL_KEY_LEN])
{
	return kek_keyfile(s, secret, len, kek);
}

/*
 * Add a slot: @s has kind and KDF set; this draws its id and salt, asks
 * @derive for the KEK, wraps the master and appends the slot to *@doc.
 */
static int slot_add(char **doc, const struct sp_vault_key *key, struct slot *s,
		    kek_fn derive, const void *secret, size_t secretlen,
		    const char *label, char id[SP_KEY_SLOT_ID_LEN + 1],
		    struct sp_error *err)
{
	char check[SP_VAULT_KEY_CHECK_LEN + 1], created[32];
	char newid[SP_KEY_SLOT_ID_LEN + 1];
	sp_autofree char *salt = NULL, *wrapped = NULL;
	json_auto_t *root = NULL;
	uint8_t kek[SP_SEAL_KEY_LEN], raw[SP_KEY_SLOT_ID_LEN / 2];
	const char *doc_check;
	json_t *slots, *kdf, *slot;
	int r;

	r = doc_parse(*doc, &root, &slots, &doc_check, err);
	if (r < 0)
		return r;
	sp_vault_key_check(key, check);
	if (strcmp(check, doc_check) != 0)
		return sp_error_set(err, SP_E_VAULT_KEY_WRONG,
				    "the key given is not the one these key "
				    "slots hold (unlock the vault first)");
	do {
		if (RAND_bytes(raw, sizeof(raw)) != 1)
			return sp_error_set(err, SP_E_INTERNAL,
					    "libcrypto has no randomness");
		sp_hex_encode(raw, sizeof(raw), newid);
	} while (slot_id_taken(slots, newid));
	s->id = newid;
	if (RAND_bytes(s->salt, SALT_LEN) != 1)
		return sp_error_set(err, SP_E_INTERNAL,
				    "libcrypto has no randomness");
	r = derive(s, secret, secretlen, kek);
	if (r == 0)
		r = seal_master(s, kek, key, s->wrapped);
	explicit_bzero(kek, sizeof(kek));
	if (r == -ENOMEM)
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	if (r < 0)
		return sp_error_set(err, SP_E_INTERNAL,
				    "cannot wrap the vault key (libcrypto "
				    "failed)");
	salt = b64_encode(s->salt, SALT_LEN);
	wrapped = b64_encode(s->wrapped, WRAPPED_LEN);
	if (s->scrypt)
		kdf = json_pack("{s:s, s:I, s:I, s:I, s:s?}", "name", "scrypt",
				"n", (json_int_t)s->params.n, "r",
				(json_int_t)s->params.r, "p",
				(json_int_t)s->params.p, "salt", salt);
	else
		kdf = json_pack("{s:s, s:s?}", "name", "hkdf-sha256", "salt",
				salt);
	sp_time_rfc3339(time(NULL), created, sizeof(created));
	slot = json_pack("{s:s, s:s, s:s?, s:s, s:o?, s:s?}", "id", newid,
			 "kind", s->kind, "label", label ? label : "",
			 "created", created, "kdf", kdf, "wrapped", wrapped);
	if (!salt || !wrapped || !kdf || !slot ||
	    json_array_append_new(slots, slot) < 0)
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	r = doc_replace(doc, root, err);
	if (r == 0 && id)
		memcpy(id, newid, sizeof(newid));
	return r;
}

int sp_vault_key_slot_add_passphrase(char **doc, const struct sp_vault_key *key,
				     const char *passphrase, const char *label,
				     const struct sp_scrypt_params *params,
				     char id[SP_KEY_SLOT_ID_LEN + 1],
				     struct sp_error *err)
{
	struct slot s = {.kind = "passphrase", .scrypt = true};

	s.params = params ? *params : sp_scrypt_default;
	if (!passphrase || !*passphrase)
		return sp_error_set(err, SP_E_USAGE,
				    "an empty passphrase protects nothing "
				    "(choose a passphrase)");
	if (!scrypt_params_valid(&s.params))
		return sp_error_set(err, SP_E_USAGE,
				    "scrypt parameters N=%" PRIu64 " r=%" PRIu32
				    " p=%" PRIu32
				    " are out of range (N a power of two up "
				    "to 2^22, r 1-32, p 1-16, at most 1 GiB)",
				    s.params.n, s.params.r, s.params.p);
	return slot_add(doc, key, &s, derive_scrypt, passphrase,
			strlen(passphrase), label, id, err);
}

int sp_vault_key_slot_add_keyfile(char **doc, const struct sp_vault_key *key,
				  const char *path, const char *label,
				  char id[SP_KEY_SLOT_ID_LEN + 1],
				  struct sp_error *err)
{
	struct slot s = {.kind = "keyfile"};
	sp_autowipe char *data = NULL;
	size_t len = 0;
	int r;

	r = keyfile_read(path, &data, &len, err);
	if (r < 0)
		return r;
	if (len < KEYFILE_MIN) {
		explicit_bzero(data, len);
		return sp_error_set(err, SP_E_USAGE,
				    "key file '%s' holds %zu bytes, fewer than "
				    "32 (make one of 32 random bytes, e.g. "
				    "with 'head -c 32 /dev/urandom')",
				    path, len);
	}
	r = slot_add(doc, key, &s, derive_keyfile, data, len, label, id, err);
	/* sp_autowipe stops at a NUL: wipe what was read. */
	explicit_bzero(data, len);
	return r;
}

int sp_vault_key_slot_remove(char **doc, const char *id, struct sp_error *err)
{
	json_auto_t *root = NULL;
	const char *check;
	json_t *slots, *s;
	size_t i;
	int r;

	r = doc_parse(*doc, &root, &slots, &check, err);
	if (r < 0)
		return r;
	json_array_foreach(slots, i, s)
	{
		const char *sid = json_string_value(json_object_get(s, "id"));
		if (!sid || strcmp(sid, id) != 0)
			continue;
		if (json_array_size(slots) == 1)
			return sp_error_set(err, SP_E_USAGE,
					    "cannot remove key slot '%s': it "
					    "is the vault's last one, and a "
					    "vault without a slot can never be "
					    "opened again (add another slot "
					    "first)",
					    id);
		if (json_array_remove(slots, i) < 0)
			return sp_error_set(err, SP_E_NOMEM, "out of memory");
		return doc_replace(doc, root, err);
	}
	return sp_error_set(err, SP_E_USAGE,
			    "the vault has no key slot '%s' (see 'stillpoint "
			    "key list')",
			    id);
}

int sp_vault_key_passwd(char **doc, const struct sp_vault_key *key,
			const char *passphrase, const char *label,
			const struct sp_scrypt_params *params,
			char id[SP_KEY_SLOT_ID_LEN + 1], struct sp_error *err)
{
	sp_autofree char *work = strdup(*doc);
	int r;

	if (!work)
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	r = sp_vault_key_slot_add_passphrase(&work, key, passphrase, label,
					     params, id, err);
	if (r == 0 && key->slot[0])
		r = sp_vault_key_slot_remove(&work, key->slot, err);
	if (r < 0)
		return r;
	free(*doc);
	*doc = sp_steal_ptr(&work);
	return 0;
}

int sp_vault_key_slots_list(const char *doc, struct sp_key_slot_info **ret,
			    size_t *n, struct sp_error *err)
{
	json_auto_t *root = NULL;
	struct sp_key_slot_info *out;
	const char *check;
	json_t *slots, *j;
	size_t i;
	int r;

	r = doc_parse(doc, &root, &slots, &check, err);
	if (r < 0)
		return r;
	out = calloc(json_array_size(slots) + 1, sizeof(*out));
	if (!out)
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	json_array_foreach(slots, i, j)
	{
		struct sp_key_slot_info *o = &out[i];
		const char *label =
		    json_string_value(json_object_get(j, "label"));
		const char *created =
		    json_string_value(json_object_get(j, "created"));
		struct slot s;

		if (!slot_parse(j, &s)) {
			snprintf(o->id, sizeof(o->id), "%.8s",
				 s.id ? s.id : "?");
			snprintf(o->kind, sizeof(o->kind), "damaged");
			continue;
		}
		snprintf(o->id, sizeof(o->id), "%s", s.id);
		snprintf(o->kind, sizeof(o->kind), "%s", s.kind);
		snprintf(o->label, sizeof(o->label), "%s", label ? label : "");
		snprintf(o->created, sizeof(o->created), "%s",
			 created ? created : "");
		if (s.scrypt)
			snprintf(o->kdf, sizeof(o->kdf),
				 "scrypt N=%" PRIu64 " r=%" PRIu32
				 " p=%" PRIu32,
				 s.params.n, s.params.r, s.params.p);
		else
			snprintf(o->kdf, sizeof(o->kdf), "hkdf-sha256");
	}
	*ret = out;
	*n = json_array_size(slots);
	return 0;
}

/* Try every slot of @kind with @secret; 1 and the master when one opens. */
static int try_slots(json_t *slots, const char *kind, const void *secret,
		     size_t len, uint8_t master[SP_VAULT_KEY_LEN],
		     char id[SP_KEY_SLOT_ID_LEN + 1], size_t *damaged)
{
	uint8_t kek[SP_SEAL_KEY_LEN];
	struct slot s;
	json_t *j;
	size_t i;
	int r;

	json_array_foreach(slots, i, j)
	{
		const char *k = json_string_value(json_object_get(j, "kind"));
		if (!k || strcmp(k, kind) != 0)
			continue;
		if (!slot_parse(j, &s)) {
			(*damaged)++;
			continue;
		}
		r = s.scrypt ? kek_scrypt(&s, secret, kek)
			     : kek_keyfile(&s, secret, len, kek);
		if (r == 0)
			r = open_master(&s, kek, master);
		explicit_bzero(kek, sizeof(kek));
		if (r == 0) {
			snprintf(id, SP_KEY_SLOT_ID_LEN + 1, "%s", s.id);
			return 1;
		}
		if (r != -EBADMSG)
			return r;
	}
	return 0;
}

static int key_accept(const uint8_t master[SP_VAULT_KEY_LEN],
		      const char *doc_check, const char *slot,
		      struct sp_vault_key **ret, struct sp_error *err)
{
	char check[SP_VAULT_KEY_CHECK_LEN + 1];
	struct sp_vault_key *k = NULL;
	int r;

	r = key_from_master(master, &k, err);
	if (r < 0)
		return r;
	sp_vault_key_check(k, check);
	if (strcmp(check, doc_check) != 0) {
		sp_vault_key_free(k);
		if (slot)
			return sp_error_set(
			    err, SP_E_VAULT_KEY_WRONG,
			    "key slot '%s' holds a key that is not the "
			    "vault's (keys.json was altered; open the vault "
			    "with its paper key)",
			    slot);
		return sp_error_set(err, SP_E_VAULT_KEY_WRONG,
				    "the paper key given is not this vault's "
				    "(key check %.8s..., the vault's is "
				    "%.8s...)",
				    check, doc_check);
	}
	snprintf(k->slot, sizeof(k->slot), "%s", slot ? slot : "");
	*ret = k;
	return 0;
}

int sp_vault_key_unlock(const char *doc, const char *passphrase,
			const char *key_file, struct sp_vault_key **ret,
			struct sp_error *err)
{
	char id[SP_KEY_SLOT_ID_LEN + 1] = "";
	uint8_t master[SP_VAULT_KEY_LEN];
	json_auto_t *root = NULL;
	sp_autowipe char *file = NULL;
	size_t filelen = 0, damaged = 0;
	const char *check;
	json_t *slots;
	int r, found = 0;

	r = doc_parse(doc, &root, &slots, &check, err);
	if (r < 0)
		return r;
	if (!passphrase && !key_file)
		return sp_error_set(err, SP_E_VAULT_KEY_NEEDED,
				    "the vault is encrypted: give its "
				    "passphrase (STILLPOINT_PASSPHRASE, "
				    "STILLPOINT_PASSPHRASE_FILE, or run on a "
				    "terminal to be asked) or --key-file");
	if (key_file) {
		r = keyfile_read(key_file, &file, &filelen, err);
		if (r < 0)
			return r;
		r = paper_read(file, false, master, err);
		if (r == 0) {
			r = key_accept(master, check, NULL, ret, err);
			explicit_bzero(master, sizeof(master));
			explicit_bzero(file, filelen);
			return r;
		}
		if (r != -ENOMSG) {
			explicit_bzero(file, filelen);
			return r;
		}
		found = try_slots(slots, "keyfile", file, filelen, master, id,
				  &damaged);
		explicit_bzero(file, filelen);
	}
	if (found == 0 && passphrase && *passphrase)
		found = try_slots(slots, "passphrase", passphrase,
				  strlen(passphrase), master, id, &damaged);
	if (found == 1) {
		r = key_accept(master, check, id, ret, err);
		explicit_bzero(master, sizeof(master));
		return r;
	}
	if (found < 0)
		return sp_error_set(
		    err, found == -ENOMEM ? SP_E_NOMEM : SP_E_INTERNAL,
		    "cannot derive a key-encryption key "
		    "(libcrypto failed)");
	return sp_error_set(err, SP_E_VAULT_KEY_WRONG,
			    "no key slot of the vault opens with the %s given "
			    "(check it; nothing was written)%s",
			    key_file && passphrase ? "passphrase or key file"
			    : key_file		   ? "key file"
						   : "passphrase",
			    damaged ? "; some slots are damaged and were "
				      "skipped"
				    : "");
}

int sp_vault_key_file_create(const char *path, struct sp_error *err)
{
	uint8_t data[KEYFILE_MIN];
	sp_autoclose int fd = -1;
	int r;

	if (RAND_priv_bytes(data, sizeof(data)) != 1)
		return sp_error_set(err, SP_E_INTERNAL,
				    "libcrypto has no randomness");
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
		  0600);
	if (fd < 0) {
		explicit_bzero(data, sizeof(data));
		return sp_error_set_errno(err, SP_E_USAGE, errno,
					  "cannot create key file '%s'", path);
	}
	r = sp_pwrite_all(fd, data, sizeof(data), 0);
	explicit_bzero(data, sizeof(data));
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (r < 0) {
		unlink(path);
		return sp_error_set_errno(err, SP_E_USAGE, -r,
					  "cannot write key file '%s'", path);
	}
	return 0;
}

/* --- the paper key ---------------------------------------------------- */

/*
 * 32 bytes of master and a 3-byte whole-key check (SHA-256 of a label and
 * the master) make 280 bits: 56 Crockford base32 symbols, written as 7
 * lines of 8.  Each line ends in a Luhn mod 32 check symbol over the line's
 * number and its 8 symbols, which catches any single wrong symbol and most
 * swaps of neighbours, and names the line.
 */
#define PAPER_LINES 7
#define PAPER_PER_LINE 8
#define PAPER_BYTES (SP_VAULT_KEY_LEN + 3)
#define PAPER_MARK "stillpoint recovery key"

static const char crockford[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

static int crockford_value(int c)
{
	const char *p;

	c = c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c;
	if (c == 'O')
		return 0;
	if (c == 'I' || c == 'L')
		return 1;
	p = c ? strchr(crockford, c) : NULL;
	return p ? (int)(p - crockford) : -1;
}

static int luhn32(int line, const uint8_t sym[PAPER_PER_LINE])
{
	int factor = 2, sum = 0;

	/* From the right, the check symbol's place taken as the first. */
	for (int i = PAPER_PER_LINE; i >= 0; i--) {
		int addend = factor * (i ? sym[i - 1] : line);
		sum += addend / 32 + addend % 32;
		factor = factor == 2 ? 1 : 2;
	}
	return (32 - sum % 32) % 32;
}

static void paper_check(const uint8_t master[SP_VAULT_KEY_LEN], uint8_t out[3])
{
	static const char label[] = "stillpoint paper key v1";
	uint8_t buf[sizeof(label) + SP_VAULT_KEY_LEN], sum[32];

	memcpy(buf, label, sizeof(label));
	memcpy(buf + sizeof(label), master, SP_VAULT_KEY_LEN);
	sp_sha256(buf, sizeof(buf), sum);
	explicit_bzero(buf, sizeof(buf));
	memcpy(out, sum, 3);
}

int sp_vault_key_paper_encode(const struct sp_vault_key *key, char **text,
			      struct sp_error *err)
{
	char check[SP_VAULT_KEY_CHECK_LEN + 1];
	uint8_t bytes[PAPER_BYTES], sym[PAPER_LINES * PAPER_PER_LINE];
	size_t cap = 512, off;
	char *out = malloc(cap);

	if (!out)
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	memcpy(bytes, key->master, SP_VAULT_KEY_LEN);
	paper_check(key->master, bytes + SP_VAULT_KEY_LEN);
	for (size_t i = 0; i < sizeof(sym); i++) {
		size_t bit = 5 * i;
		unsigned v = (unsigned)bytes[bit / 8] << 8;
		if (bit / 8 + 1 < sizeof(bytes))
			v |= bytes[bit / 8 + 1];
		sym[i] = (uint8_t)(v >> (11 - bit % 8) & 31);
	}
	sp_vault_key_check(key, check);
	off = (size_t)snprintf(out, cap,
			       "# Stillpoint recovery key (paper key); key "
			       "check %s\n"
			       "# Whoever holds these lines can read the "
			       "vault: keep them offline.\n"
			       "# To use them, type them into a file and give "
			       "it as --key-file.\n",
			       check);
	for (int l = 0; l < PAPER_LINES; l++) {
		const uint8_t *s = sym + l * PAPER_PER_LINE;
		off += (size_t)snprintf(
		    out + off, cap - off, "%d: %c%c%c%c %c%c%c%c  %c\n", l + 1,
		    crockford[s[0]], crockford[s[1]], crockford[s[2]],
		    crockford[s[3]], crockford[s[4]], crockford[s[5]],
		    crockford[s[6]], crockford[s[7]],
		    crockford[luhn32(l + 1, s)]);
	}
	explicit_bzero(bytes, sizeof(bytes));
	explicit_bzero(sym, sizeof(sym));
	*text = out;
	return 0;
}

/* Does @text look like a paper key?  Its mark, or 7 lines of 9 symbols. */
static bool paper_shaped(const char *text)
{
	int lines = 0;

	if (strcasestr(text, PAPER_MARK))
		return true;
	for (const char *p = text; *p;) {
		const char *end = strchrnul(p, '\n');
		int n = 0;
		while (p < end && (*p == ' ' || *p == '\t' || *p == '\r'))
			p++;
		if (p < end && *p != '#') {
			const char *q = p;
			while (q < end && *q >= '0' && *q <= '9')
				q++;
			if (q < end && q > p && *q == ':')
				p = q + 1;
			for (; p < end; p++)
				if (*p > ' ' && *p != '-' && *p < 127)
					n++;
			if (n != PAPER_PER_LINE + 1)
				return false;
			lines++;
		}
		p = *end ? end + 1 : end;
	}
	return lines == PAPER_LINES;
}

/* Read one line's symbols; 0, or an error naming line @l. */
static int paper_line(const char *p, const char *end, int l, uint8_t *sym,
		      struct sp_error *err)
{
	const char *q = p;
	int n = 0;

	while (q < end && *q >= '0' && *q <= '9')
		q++;
	if (q < end && q > p && *q == ':') {
		int label = atoi(p);
		if (label != l)
			return sp_error_set(err, SP_E_VAULT_KEY_WRONG,
					    "the paper key's lines are out of "
					    "order (line %d is labelled %d)",
					    l, label);
		p = q + 1;
	}
	for (; p < end; p++) {
		int v;
		if (*p == ' ' || *p == '\t' || *p == '\r' || *p == '-')
			continue;
		v = crockford_value((unsigned char)*p);
		if (v < 0)
			return sp_error_set(err, SP_E_VAULT_KEY_WRONG,
					    "line %d of the paper key has "
					    "'%c', which is not a paper key "
					    "symbol (0-9, A-Z but U)",
					    l, *p > ' ' && *p < 127 ? *p : '?');
		if (n < PAPER_PER_LINE + 1)
			sym[n] = (uint8_t)v;
		n++;
	}
	if (n != PAPER_PER_LINE + 1)
		return sp_error_set(err, SP_E_VAULT_KEY_WRONG,
				    "line %d of the paper key has %d symbols, "
				    "not %d",
				    l, n, PAPER_PER_LINE + 1);
	if (luhn32(l, sym) != sym[PAPER_PER_LINE])
		return sp_error_set(err, SP_E_VAULT_KEY_WRONG,
				    "line %d of the paper key has a typo (its "
				    "check symbol does not match)",
				    l);
	return 0;
}

/*
 * The master of paper key @text.  Not @strict: -ENOMSG when @text does not
 * look like a paper key at all (a raw key file).
 */
static int paper_read(const char *text, bool strict,
		      uint8_t master[SP_VAULT_KEY_LEN], struct sp_error *err)
{
	uint8_t sym[PAPER_LINES * PAPER_PER_LINE], line[PAPER_PER_LINE + 1];
	uint8_t bytes[PAPER_BYTES] = {0}, check[3];
	int l = 0, r = 0;

	if (!strict && !paper_shaped(text))
		return -ENOMSG;
	for (const char *p = text; *p && r == 0;) {
		const char *end = strchrnul(p, '\n');
		while (p < end && (*p == ' ' || *p == '\t' || *p == '\r'))
			p++;
		if (p < end && *p != '#') {
			if (++l > PAPER_LINES)
				break;
			r = paper_line(p, end, l, line, err);
			memcpy(sym + (l - 1) * PAPER_PER_LINE, line,
			       PAPER_PER_LINE);
		}
		p = *end ? end + 1 : end;
	}
	explicit_bzero(line, sizeof(line));
	if (r == 0 && l != PAPER_LINES)
		r = sp_error_set(err, SP_E_VAULT_KEY_WRONG,
				 "a paper key has %d lines of symbols, this "
				 "one %s%d",
				 PAPER_LINES,
				 l > PAPER_LINES ? "more than " : "",
				 l > PAPER_LINES ? PAPER_LINES : l);
	if (r < 0)
		goto out;
	for (size_t i = 0; i < sizeof(sym); i++) {
		size_t bit = 5 * i;
		unsigned v = (unsigned)sym[i] << 11 >> (bit % 8);
		bytes[bit / 8] |= (uint8_t)(v >> 8);
		if (bit / 8 + 1 < sizeof(bytes))
			bytes[bit / 8 + 1] |= (uint8_t)v;
	}
	paper_check(bytes, check);
	if (memcmp(check, bytes + SP_VAULT_KEY_LEN, sizeof(check)) != 0) {
		r = sp_error_set(err, SP_E_VAULT_KEY_WRONG,
				 "the paper key's whole-key check does not "
				 "match (a line with two typos?)");
		goto out;
	}
	memcpy(master, bytes, SP_VAULT_KEY_LEN);
out:
	explicit_bzero(sym, sizeof(sym));
	explicit_bzero(bytes, sizeof(bytes));
	return r;
}

int sp_vault_key_paper_decode(const char *text, struct sp_vault_key **ret,
			      struct sp_error *err)
{
	uint8_t master[SP_VAULT_KEY_LEN];
	int r;

	r = paper_read(text, true, master, err);
	if (r == 0)
		r = key_from_master(master, ret, err);
	explicit_bzero(master, sizeof(master));
	return r;
}

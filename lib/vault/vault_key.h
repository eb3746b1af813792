/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The key of an encrypted vault, and the key slots that wrap it
 * (docs/encryption.md).
 *
 * A vault key is one random 32-byte *master*.  Every key the vault uses is
 * derived from it with HKDF-SHA-256 (no salt: the master is uniformly
 * random) under a distinct label, so only the master is ever stored, wrapped
 * or printed:
 *
 *	data_key   "stillpoint data key v1"      seals objects (seal.h)
 *	id_key     "stillpoint chunk id key v1"  keyed chunk ids (chunk_id.h)
 *	name_key   "stillpoint name key v1"      reserved: names hidden in keys
 *	key check  "stillpoint key check v1"     16 bytes, public: tells a
 *	                                         wrong key before any write
 *
 * The master is kept in *key slots*, each the master sealed (AES-256-GCM,
 * seal.h) under a key-encryption key (KEK) derived from
 *   - a passphrase, with scrypt (N, r, p and a random 16-byte salt stored
 *     in the slot; default N = 2^17, r = 8, p = 1: 128 MiB, about 0.3 s on
 *     a 2026 x86 core), or
 *   - a key file (at least 32 bytes, e.g. from sp_vault_key_file_create()),
 *     with HKDF-SHA-256 and a random salt.
 * The slot's id, kind and KDF parameters are the AAD of its wrapping, so a
 * slot whose parameters were edited fails like a wrong passphrase.
 *
 * The slots live in one JSON document (the vault's keys.json):
 *
 *	{ "format": "stillpoint-keys", "version": 1,
 *	  "key_check": "<32 hex>",
 *	  "slots": [ { "id": "<8 hex>", "kind": "passphrase" | "keyfile",
 *	               "label": "...", "created": "<RFC 3339>",
 *	               "kdf": { "name": "scrypt", "n": 131072, "r": 8,
 *	                        "p": 1, "salt": "<base64>" }
 *	                    | { "name": "hkdf-sha256", "salt": "<base64>" },
 *	               "wrapped": "<base64 of a sealed 32-byte master>" } ] }
 *
 * The functions that change the document take it as a string (*@doc) and
 * replace it with a new string (the old one is freed) only on success; the
 * caller stores it.  Documents hold no secret in the clear.
 *
 * A *paper key* is the master printed for safekeeping: seven lines of two
 * groups of four Crockford base32 symbols and one check symbol per line
 * (a typo is caught and its line named), the last line also carrying a
 * 24-bit check of the whole key.  A file holding a paper key is accepted
 * wherever a key file is (sp_vault_key_unlock()).
 *
 * Secrets (masters, KEKs, passphrases) are wiped with explicit_bzero() when
 * freed and never logged.  Functions are thread-safe; a struct
 * sp_vault_key may be shared read-only between threads.
 */
#ifndef SP_VAULT_VAULT_KEY_H
#define SP_VAULT_VAULT_KEY_H

#include <stddef.h>
#include <stdint.h>

#include "util/cleanup.h"
#include "util/error.h"

#define SP_VAULT_KEY_LEN 32
#define SP_KEY_SLOT_ID_LEN 8	  /* hex digits */
#define SP_VAULT_KEY_CHECK_LEN 32 /* hex digits */
#define SP_HIDDEN_NAME_LEN 34	  /* "n-" and 32 hex digits */

struct sp_vault_key {
	uint8_t master[SP_VAULT_KEY_LEN];
	uint8_t data_key[SP_VAULT_KEY_LEN];
	uint8_t id_key[SP_VAULT_KEY_LEN];
	uint8_t name_key[SP_VAULT_KEY_LEN];
	/* The slot sp_vault_key_unlock() opened, "" for a new key or one
	 * read from a paper key. */
	char slot[SP_KEY_SLOT_ID_LEN + 1];
};

struct sp_scrypt_params {
	uint64_t n; /* a power of two, 2 .. 2^22 */
	uint32_t r; /* 1 .. 32 */
	uint32_t p; /* 1 .. 16; 128 * r * n must stay within 1 GiB */
};

/* N = 2^17, r = 8, p = 1. */
extern const struct sp_scrypt_params sp_scrypt_default;

/* A new random key.  Errors: SP_E_NOMEM, SP_E_INTERNAL (no randomness). */
int sp_vault_key_new(struct sp_vault_key **ret, struct sp_error *err);
/* Wipe and free; NULL is allowed. */
void sp_vault_key_free(struct sp_vault_key *key);
SP_DEFINE_AUTOPTR(sp_vault_key, sp_vault_key_free)

/* The key check value in hex: public, recorded in keys.json and in the
 * vault's configuration so that a wrong key is told before a write. */
void sp_vault_key_check(const struct sp_vault_key *key,
			char out[SP_VAULT_KEY_CHECK_LEN + 1]);

/* The name a vault format that hides VM names in its object keys would
 * store point name @name under (format 1 keeps names: docs/encryption.md):
 * "n-" and 32 hex digits of HMAC-SHA-256(name_key, name); a valid name
 * itself (sp_name_is_valid()). */
void sp_vault_key_hide_name(const struct sp_vault_key *key, const char *name,
			    char out[SP_HIDDEN_NAME_LEN + 1]);

/* A keys document with no slot, for @key.  Errors: SP_E_NOMEM. */
int sp_vault_keys_new(const struct sp_vault_key *key, char **doc,
		      struct sp_error *err);

/*
 * Add a slot that opens with @passphrase (not empty), KDF scrypt with
 * @params (NULL: sp_scrypt_default).  @label may be NULL.  The new slot's id
 * goes to @id (may be NULL).  Takes the KDF's time (about 0.3 s by
 * default).  Errors: SP_E_USAGE (empty passphrase, parameters out of
 * range), SP_E_VAULT_KEY_WRONG (@key is not the document's key),
 * SP_E_NOT_A_VAULT / SP_E_VAULT_VERSION (document damaged / too new),
 * SP_E_NOMEM, SP_E_INTERNAL.
 */
int sp_vault_key_slot_add_passphrase(char **doc, const struct sp_vault_key *key,
				     const char *passphrase, const char *label,
				     const struct sp_scrypt_params *params,
				     char id[SP_KEY_SLOT_ID_LEN + 1],
				     struct sp_error *err);

/* Add a slot that opens with the key file at @path (read whole, 32 bytes
 * to 64 KiB).  Errors as above, and SP_E_USAGE for a file that cannot be
 * read or is too short or too long. */
int sp_vault_key_slot_add_keyfile(char **doc, const struct sp_vault_key *key,
				  const char *path, const char *label,
				  char id[SP_KEY_SLOT_ID_LEN + 1],
				  struct sp_error *err);

/* Remove slot @id.  Errors: SP_E_USAGE (no such slot; it is the last slot:
 * a vault without a slot could never be opened again), SP_E_NOT_A_VAULT,
 * SP_E_VAULT_VERSION, SP_E_NOMEM.  The caller proves it holds the key
 * (unlocks) before it calls this. */
int sp_vault_key_slot_remove(char **doc, const char *id, struct sp_error *err);

/* Change a passphrase: add a passphrase slot for @passphrase, then remove
 * the slot @key was unlocked with (key->slot; none for a new key or a
 * paper key: then the slot is only added).  Errors as the two calls. */
int sp_vault_key_passwd(char **doc, const struct sp_vault_key *key,
			const char *passphrase, const char *label,
			const struct sp_scrypt_params *params,
			char id[SP_KEY_SLOT_ID_LEN + 1], struct sp_error *err);

/* What `key list` shows of a slot; no secret in it. */
struct sp_key_slot_info {
	char id[SP_KEY_SLOT_ID_LEN + 1];
	char kind[16]; /* "passphrase" or "keyfile" */
	char label[128];
	char created[32];
	char kdf[64]; /* e.g. "scrypt N=131072 r=8 p=1", "hkdf-sha256" */
};

/* The slots of @doc, in order, as a malloc'ed array in *@slots (free()).
 * Errors: SP_E_NOT_A_VAULT, SP_E_VAULT_VERSION, SP_E_NOMEM. */
int sp_vault_key_slots_list(const char *doc, struct sp_key_slot_info **slots,
			    size_t *n, struct sp_error *err);

/*
 * Open the vault key of @doc with @passphrase and/or the key file at
 * @key_file (a raw key file or a paper key; either may be NULL).  Every
 * slot of the matching kind is tried; the key found is checked against the
 * document's key_check.  On success *@ret is the key, with ->slot set.
 * Errors:
 *   SP_E_VAULT_KEY_NEEDED  neither a passphrase nor a key file was given;
 *   SP_E_VAULT_KEY_WRONG   no slot opens with what was given (wrong
 *                          passphrase or key file, a slot edited or
 *                          damaged), or a paper key with a typo (the
 *                          message names the line) or of another vault;
 *   SP_E_USAGE             the key file cannot be read;
 *   SP_E_NOT_A_VAULT / SP_E_VAULT_VERSION, SP_E_NOMEM, SP_E_INTERNAL.
 * Nothing is written, so a wrong key costs nothing but the KDF's time.
 */
int sp_vault_key_unlock(const char *doc, const char *passphrase,
			const char *key_file, struct sp_vault_key **ret,
			struct sp_error *err);

/* Write a new key file: 32 random bytes, mode 0600, never replacing a file.
 * Errors: SP_E_USAGE (exists, cannot be created), SP_E_INTERNAL. */
int sp_vault_key_file_create(const char *path, struct sp_error *err);

/*
 * The paper key of @key, as malloc'ed text (free() after wiping it with
 * explicit_bzero: it is the key): a comment header, then seven lines
 * "N: XXXX XXXX C".  Errors: SP_E_NOMEM.
 */
int sp_vault_key_paper_encode(const struct sp_vault_key *key, char **text,
			      struct sp_error *err);

/*
 * Read a paper key.  Lines starting with '#' and blank lines are skipped;
 * case, spaces, '-' and a leading "N:" do not matter, and O, I and L read as
 * 0, 1 and 1.  Errors: SP_E_VAULT_KEY_WRONG for a typo, naming the line
 * (and the symbol that cannot be one), or for lines in the wrong order or
 * a whole-key check mismatch; SP_E_NOMEM.
 */
int sp_vault_key_paper_decode(const char *text, struct sp_vault_key **ret,
			      struct sp_error *err);

#endif

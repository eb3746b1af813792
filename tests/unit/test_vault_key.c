// SPDX-License-Identifier: LGPL-2.1-or-later
/* Vault keys: slots opened by passphrase and key file, wrong secrets and
 * tampered slots refused, slot removal and passwd, paper keys, passphrase
 * sources. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <jansson.h>

#include "harness.h"
#include "vault/passphrase.h"
#include "vault/vault_key.h"

/* Fast scrypt for tests; one test runs the default. */
static const struct sp_scrypt_params quick = {.n = 1024, .r = 8, .p = 1};

static bool same_key(const struct sp_vault_key *a, const struct sp_vault_key *b)
{
	return a && b && memcmp(a->master, b->master, sizeof(a->master)) == 0;
}

static char *write_file(const char *name, const void *data, size_t len,
			mode_t mode)
{
	static char path[8][512];
	static int next;
	char *p = path[next++ % 8];
	FILE *f;

	snprintf(p, 512, "%s/%s", sp_test_tmpdir(), name);
	f = fopen(p, "w");
	CHECK(f && fwrite(data, 1, len, f) == len);
	if (f)
		fclose(f);
	chmod(p, mode);
	return p;
}

static void test_derived_keys(void)
{
	sp_autoptr(sp_vault_key) struct sp_vault_key *a = NULL;
	sp_autoptr(sp_vault_key) struct sp_vault_key *b = NULL;
	char ca[SP_VAULT_KEY_CHECK_LEN + 1], cb[SP_VAULT_KEY_CHECK_LEN + 1];
	char na[SP_HIDDEN_NAME_LEN + 1], nb[SP_HIDDEN_NAME_LEN + 1];
	struct sp_error e;

	CHECK_OK(sp_vault_key_new(&a, &e), &e);
	CHECK_OK(sp_vault_key_new(&b, &e), &e);
	CHECK(!same_key(a, b));
	CHECK(memcmp(a->data_key, a->id_key, 32) != 0);
	CHECK(memcmp(a->data_key, a->master, 32) != 0);
	CHECK(memcmp(a->name_key, a->id_key, 32) != 0);
	sp_vault_key_check(a, ca);
	sp_vault_key_check(b, cb);
	CHECK_INT(strlen(ca), SP_VAULT_KEY_CHECK_LEN);
	CHECK(strcmp(ca, cb) != 0);
	sp_vault_key_hide_name(a, "web01", na);
	sp_vault_key_hide_name(b, "web01", nb);
	CHECK_INT(strlen(na), SP_HIDDEN_NAME_LEN);
	CHECK(strncmp(na, "n-", 2) == 0);
	CHECK(strcmp(na, nb) != 0);
	sp_vault_key_hide_name(a, "web02", nb);
	CHECK(strcmp(na, nb) != 0);
}

static void test_passphrase_slot(void)
{
	sp_autoptr(sp_vault_key) struct sp_vault_key *key = NULL;
	sp_autoptr(sp_vault_key) struct sp_vault_key *got = NULL;
	sp_autofree char *doc = NULL;
	char id[SP_KEY_SLOT_ID_LEN + 1], *before;
	struct sp_error e;

	CHECK_OK(sp_vault_key_new(&key, &e), &e);
	CHECK_OK(sp_vault_keys_new(key, &doc, &e), &e);
	/* No slot yet: nothing opens it. */
	CHECK_INT(sp_vault_key_unlock(doc, "secret", NULL, &got, &e),
		  SP_E_VAULT_KEY_WRONG);
	CHECK_OK(sp_vault_key_slot_add_passphrase(&doc, key, "secret", "ops",
						  &quick, id, &e),
		 &e);
	CHECK(strstr(doc, "\"scrypt\"") != NULL);
	CHECK(strstr(doc, "secret") == NULL);
	CHECK_OK(sp_vault_key_unlock(doc, "secret", NULL, &got, &e), &e);
	CHECK(same_key(key, got));
	CHECK_STR(got ? got->slot : NULL, id);
	sp_vault_key_free(got);
	got = NULL;

	CHECK_INT(sp_vault_key_unlock(doc, "Secret", NULL, &got, &e),
		  SP_E_VAULT_KEY_WRONG);
	CHECK(got == NULL);
	CHECK(strstr(e.msg, "passphrase") != NULL);
	CHECK_INT(sp_vault_key_unlock(doc, NULL, NULL, &got, &e),
		  SP_E_VAULT_KEY_NEEDED);
	CHECK(strstr(e.msg, "STILLPOINT_PASSPHRASE") != NULL);
	CHECK(strstr(e.msg, "STILLPOINT_PASSPHRASE_FILE") != NULL);
	CHECK(strstr(e.msg, "--key-file") != NULL);
	/* A failed change leaves the document as it was. */
	before = strdup(doc);
	CHECK_INT(sp_vault_key_slot_add_passphrase(&doc, key, "", NULL, &quick,
						   NULL, &e),
		  SP_E_USAGE);
	CHECK_INT(sp_vault_key_slot_add_passphrase(
		      &doc, key, "x", NULL,
		      &(struct sp_scrypt_params){.n = 1000, .r = 8, .p = 1},
		      NULL, &e),
		  SP_E_USAGE);
	CHECK_STR(doc, before);
	free(before);
}

/* Another key cannot add a slot to this document. */
static void test_slot_of_another_key(void)
{
	sp_autoptr(sp_vault_key) struct sp_vault_key *key = NULL;
	sp_autoptr(sp_vault_key) struct sp_vault_key *other = NULL;
	sp_autofree char *doc = NULL;
	struct sp_error e;

	CHECK_OK(sp_vault_key_new(&key, &e), &e);
	CHECK_OK(sp_vault_key_new(&other, &e), &e);
	CHECK_OK(sp_vault_keys_new(key, &doc, &e), &e);
	CHECK_INT(sp_vault_key_slot_add_passphrase(&doc, other, "x", NULL,
						   &quick, NULL, &e),
		  SP_E_VAULT_KEY_WRONG);
}

static void test_keyfile_slot(void)
{
	sp_autoptr(sp_vault_key) struct sp_vault_key *key = NULL;
	sp_autoptr(sp_vault_key) struct sp_vault_key *got = NULL;
	sp_autofree char *doc = NULL;
	char path[512], other[512], *shortf;
	char kid[SP_KEY_SLOT_ID_LEN + 1];
	struct sp_error e;
	struct stat st;

	snprintf(path, sizeof(path), "%s/key1", sp_test_tmpdir());
	snprintf(other, sizeof(other), "%s/key2", sp_test_tmpdir());
	CHECK_OK(sp_vault_key_file_create(path, &e), &e);
	CHECK_OK(sp_vault_key_file_create(other, &e), &e);
	CHECK_INT(sp_vault_key_file_create(path, &e), SP_E_USAGE);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600 &&
	      st.st_size == 32);

	CHECK_OK(sp_vault_key_new(&key, &e), &e);
	CHECK_OK(sp_vault_keys_new(key, &doc, &e), &e);
	CHECK_OK(sp_vault_key_slot_add_passphrase(&doc, key, "pw", NULL, &quick,
						  NULL, &e),
		 &e);
	CHECK_OK(
	    sp_vault_key_slot_add_keyfile(&doc, key, path, "robot", kid, &e),
	    &e);
	CHECK_OK(sp_vault_key_unlock(doc, NULL, path, &got, &e), &e);
	CHECK(same_key(key, got));
	CHECK_STR(got ? got->slot : NULL, kid);
	sp_vault_key_free(got);
	got = NULL;
	CHECK_INT(sp_vault_key_unlock(doc, NULL, other, &got, &e),
		  SP_E_VAULT_KEY_WRONG);
	/* A wrong key file with the right passphrase still opens. */
	CHECK_OK(sp_vault_key_unlock(doc, "pw", other, &got, &e), &e);
	CHECK(same_key(key, got));
	/* A passphrase does not open a key file slot, nor the reverse. */
	CHECK_INT(sp_vault_key_unlock(doc, NULL, "/nonexistent/key", &got, &e),
		  SP_E_USAGE);
	shortf = write_file("short", "0123456789", 10, 0600);
	CHECK_INT(
	    sp_vault_key_slot_add_keyfile(&doc, key, shortf, NULL, NULL, &e),
	    SP_E_USAGE);
}

static void test_remove_and_passwd(void)
{
	sp_autoptr(sp_vault_key) struct sp_vault_key *key = NULL;
	sp_autoptr(sp_vault_key) struct sp_vault_key *got = NULL;
	sp_autoptr(sp_vault_key) struct sp_vault_key *got2 = NULL;
	sp_autofree char *doc = NULL;
	sp_autofree struct sp_key_slot_info *list = NULL;
	char a[SP_KEY_SLOT_ID_LEN + 1], b[SP_KEY_SLOT_ID_LEN + 1];
	char c[SP_KEY_SLOT_ID_LEN + 1];
	struct sp_error e;
	size_t n = 0;

	CHECK_OK(sp_vault_key_new(&key, &e), &e);
	CHECK_OK(sp_vault_keys_new(key, &doc, &e), &e);
	CHECK_OK(sp_vault_key_slot_add_passphrase(&doc, key, "one", "first",
						  &quick, a, &e),
		 &e);
	CHECK_OK(sp_vault_key_slot_add_passphrase(&doc, key, "two", "second",
						  &quick, b, &e),
		 &e);
	CHECK(strcmp(a, b) != 0);
	CHECK_OK(sp_vault_key_slots_list(doc, &list, &n, &e), &e);
	CHECK_INT(n, 2);
	if (n == 2) {
		CHECK_STR(list[0].id, a);
		CHECK_STR(list[0].kind, "passphrase");
		CHECK_STR(list[0].label, "first");
		CHECK_STR(list[0].kdf, "scrypt N=1024 r=8 p=1");
		CHECK_INT(strlen(list[1].created), 20);
	}

	CHECK_INT(sp_vault_key_slot_remove(&doc, "ffffffff", &e), SP_E_USAGE);
	CHECK_OK(sp_vault_key_slot_remove(&doc, a, &e), &e);
	CHECK_INT(sp_vault_key_unlock(doc, "one", NULL, &got, &e),
		  SP_E_VAULT_KEY_WRONG);
	CHECK_INT(sp_vault_key_slot_remove(&doc, b, &e), SP_E_USAGE);
	CHECK(strstr(e.msg, "last") != NULL);
	CHECK_OK(sp_vault_key_unlock(doc, "two", NULL, &got, &e), &e);

	/* passwd: the new passphrase opens, the old one no longer does. */
	CHECK_OK(sp_vault_key_passwd(&doc, got, "three", NULL, &quick, c, &e),
		 &e);
	CHECK_OK(sp_vault_key_unlock(doc, "three", NULL, &got2, &e), &e);
	CHECK(same_key(key, got2));
	CHECK_STR(got2 ? got2->slot : NULL, c);
	sp_vault_key_free(got2);
	got2 = NULL;
	CHECK_INT(sp_vault_key_unlock(doc, "two", NULL, &got2, &e),
		  SP_E_VAULT_KEY_WRONG);
	free(list);
	list = NULL;
	CHECK_OK(sp_vault_key_slots_list(doc, &list, &n, &e), &e);
	CHECK_INT(n, 1);
}

/* Change one field of the first slot and try to open with the right
 * passphrase. */
static int unlock_tampered(const char *doc, const char *field, json_t *value,
			   struct sp_error *e)
{
	json_t *root = json_loads(doc, 0, NULL);
	json_t *slot = json_array_get(json_object_get(root, "slots"), 0);
	json_t *kdf = json_object_get(slot, "kdf");
	struct sp_vault_key *got = NULL;
	char *text;
	int r;

	if (strcmp(field, "wrapped") == 0 || strcmp(field, "id") == 0 ||
	    strcmp(field, "kind") == 0)
		json_object_set_new(slot, field, value);
	else
		json_object_set_new(kdf, field, value);
	text = json_dumps(root, 0);
	r = sp_vault_key_unlock(text, "secret", NULL, &got, e);
	sp_vault_key_free(got);
	free(text);
	json_decref(root);
	return r;
}

static void test_tampered_slots(void)
{
	sp_autoptr(sp_vault_key) struct sp_vault_key *key = NULL;
	sp_autofree char *doc = NULL;
	json_t *root;
	struct sp_error e;
	char *wrapped;
	int r;

	CHECK_OK(sp_vault_key_new(&key, &e), &e);
	CHECK_OK(sp_vault_keys_new(key, &doc, &e), &e);
	CHECK_OK(sp_vault_key_slot_add_passphrase(&doc, key, "secret", NULL,
						  &quick, NULL, &e),
		 &e);
	root = json_loads(doc, 0, NULL);
	wrapped = strdup(json_string_value(json_object_get(
	    json_array_get(json_object_get(root, "slots"), 0), "wrapped")));
	json_decref(root);

	/* One symbol of the wrapped key changed. */
	wrapped[20] = wrapped[20] == 'A' ? 'B' : 'A';
	CHECK_INT(unlock_tampered(doc, "wrapped", json_string(wrapped), &e),
		  SP_E_VAULT_KEY_WRONG);
	/* Not base64, or cut short: the slot is damaged and skipped. */
	CHECK_INT(unlock_tampered(doc, "wrapped", json_string("!!"), &e),
		  SP_E_VAULT_KEY_WRONG);
	CHECK(strstr(e.msg, "damaged") != NULL);
	free(wrapped);
	/* KDF parameters changed within range: another KEK, refused. */
	CHECK_INT(unlock_tampered(doc, "n", json_integer(2048), &e),
		  SP_E_VAULT_KEY_WRONG);
	CHECK_INT(unlock_tampered(doc, "r", json_integer(4), &e),
		  SP_E_VAULT_KEY_WRONG);
	CHECK_INT(unlock_tampered(doc, "salt",
				  json_string("AAAAAAAAAAAAAAAAAAAAAA=="), &e),
		  SP_E_VAULT_KEY_WRONG);
	/* Out of range (no 16 GiB scrypt), or of the wrong type. */
	CHECK_INT(unlock_tampered(doc, "n", json_integer(1ll << 27), &e),
		  SP_E_VAULT_KEY_WRONG);
	CHECK_INT(unlock_tampered(doc, "n", json_integer(1000), &e),
		  SP_E_VAULT_KEY_WRONG);
	CHECK_INT(unlock_tampered(doc, "p", json_string("1"), &e),
		  SP_E_VAULT_KEY_WRONG);
	/* The id is part of the wrapping's AAD. */
	CHECK_INT(unlock_tampered(doc, "id", json_string("00000000"), &e),
		  SP_E_VAULT_KEY_WRONG);
	/* Untouched, it opens. */
	r = unlock_tampered(doc, "name", json_string("scrypt"), &e);
	CHECK_INT(r, 0);
}

static void test_damaged_document(void)
{
	struct sp_vault_key *got = NULL;
	struct sp_error e;

	CHECK_INT(sp_vault_key_unlock("", "x", NULL, &got, &e),
		  SP_E_NOT_A_VAULT);
	CHECK_INT(sp_vault_key_unlock("[]", "x", NULL, &got, &e),
		  SP_E_NOT_A_VAULT);
	CHECK_INT(sp_vault_key_unlock("{\"format\": \"stillpoint-keys\", "
				      "\"version\": 2}",
				      "x", NULL, &got, &e),
		  SP_E_VAULT_VERSION);
	CHECK_INT(sp_vault_key_unlock("{\"format\": \"stillpoint-keys\", "
				      "\"version\": 1, \"key_check\": "
				      "\"00000000000000000000000000000000\"}",
				      "x", NULL, &got, &e),
		  SP_E_NOT_A_VAULT);
	CHECK(got == NULL);
}

/* The default parameters, timed (the figure docs/encryption.md quotes). */
static void test_default_kdf(void)
{
	sp_autoptr(sp_vault_key) struct sp_vault_key *key = NULL;
	sp_autoptr(sp_vault_key) struct sp_vault_key *got = NULL;
	sp_autofree char *doc = NULL;
	struct sp_error e;
	struct timespec t0, t1;

	CHECK_OK(sp_vault_key_new(&key, &e), &e);
	CHECK_OK(sp_vault_keys_new(key, &doc, &e), &e);
	CHECK_OK(sp_vault_key_slot_add_passphrase(&doc, key, "default", NULL,
						  NULL, NULL, &e),
		 &e);
	CHECK(strstr(doc, "131072") != NULL);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CHECK_OK(sp_vault_key_unlock(doc, "default", NULL, &got, &e), &e);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	CHECK(same_key(key, got));
	fprintf(stderr, "scrypt N=2^17 r=8 p=1 unlock: %.0f ms\n",
		(double)(t1.tv_sec - t0.tv_sec) * 1e3 +
		    (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
}

/* Replace the @n-th symbol (0-based, counting symbols only) of line @line
 * of a paper key. */
static void paper_typo(char *text, int line, int n)
{
	char *p = text;
	int l = 0;

	for (; *p; p = strchr(p, '\n') + 1) {
		if (*p == '#')
			continue;
		if (++l == line)
			break;
	}
	p = strchr(p, ':') + 1;
	for (; *p; p++) {
		if (*p == ' ')
			continue;
		if (n-- == 0) {
			*p = *p == 'Z' ? 'Y' : 'Z';
			return;
		}
	}
}

static void test_paper_key(void)
{
	sp_autoptr(sp_vault_key) struct sp_vault_key *key = NULL;
	sp_autoptr(sp_vault_key) struct sp_vault_key *got = NULL;
	sp_autoptr(sp_vault_key) struct sp_vault_key *other = NULL;
	sp_autofree char *doc = NULL, *text = NULL, *bad = NULL;
	sp_autofree char *other_text = NULL;
	char *path, *lower;
	struct sp_error e;

	CHECK_OK(sp_vault_key_new(&key, &e), &e);
	CHECK_OK(sp_vault_key_paper_encode(key, &text, &e), &e);
	fprintf(stderr, "%s", text);
	CHECK_OK(sp_vault_key_paper_decode(text, &got, &e), &e);
	CHECK(same_key(key, got));
	CHECK(got && memcmp(got->id_key, key->id_key, 32) == 0);
	sp_vault_key_free(got);
	got = NULL;

	/* Lowercase, no labels, O for 0: still the key. */
	lower = strdup(text);
	for (char *p = lower; *p; p++)
		*p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
	CHECK_OK(sp_vault_key_paper_decode(lower, &got, &e), &e);
	CHECK(same_key(key, got));
	sp_vault_key_free(got);
	got = NULL;
	free(lower);

	/* Every single typo is caught and its line named. */
	for (int line = 1; line <= 7; line++)
		for (int n = 0; n < 9; n++) {
			char want[64];
			free(bad);
			bad = strdup(text);
			paper_typo(bad, line, n);
			CHECK_INT(sp_vault_key_paper_decode(bad, &got, &e),
				  SP_E_VAULT_KEY_WRONG);
			snprintf(want, sizeof(want), "line %d ", line);
			if (!strstr(e.msg, want)) {
				fprintf(stderr, "typo at %d/%d: %s\n", line, n,
					e.msg);
				sp_test_failures++;
			}
		}
	/* A symbol that is none: named too. */
	free(bad);
	bad = strdup(text);
	*strchr(strstr(bad, "\n3: ") + 4, ' ') = 'U';
	CHECK_INT(sp_vault_key_paper_decode(bad, &got, &e),
		  SP_E_VAULT_KEY_WRONG);
	CHECK(strstr(e.msg, "line 3 ") && strstr(e.msg, "'U'"));
	/* A missing line. */
	free(bad);
	bad = strdup(text);
	*strstr(bad, "\n7: ") = '\0';
	CHECK_INT(sp_vault_key_paper_decode(bad, &got, &e),
		  SP_E_VAULT_KEY_WRONG);

	/* As a key file: opens the vault; another vault's does not. */
	CHECK_OK(sp_vault_keys_new(key, &doc, &e), &e);
	CHECK_OK(sp_vault_key_slot_add_passphrase(&doc, key, "pw", NULL, &quick,
						  NULL, &e),
		 &e);
	path = write_file("paper", text, strlen(text), 0600);
	CHECK_OK(sp_vault_key_unlock(doc, NULL, path, &got, &e), &e);
	CHECK(same_key(key, got));
	CHECK_STR(got ? got->slot : NULL, "");
	sp_vault_key_free(got);
	got = NULL;
	CHECK_OK(sp_vault_key_new(&other, &e), &e);
	CHECK_OK(sp_vault_key_paper_encode(other, &other_text, &e), &e);
	path = write_file("paper2", other_text, strlen(other_text), 0600);
	CHECK_INT(sp_vault_key_unlock(doc, NULL, path, &got, &e),
		  SP_E_VAULT_KEY_WRONG);
	CHECK(strstr(e.msg, "paper key") != NULL);
	/* A paper key with a typo, as a key file: the typo is named. */
	bad = realloc(bad, strlen(text) + 1);
	strcpy(bad, text);
	paper_typo(bad, 5, 2);
	path = write_file("paper3", bad, strlen(bad), 0600);
	CHECK_INT(sp_vault_key_unlock(doc, NULL, path, &got, &e),
		  SP_E_VAULT_KEY_WRONG);
	CHECK(strstr(e.msg, "line 5 ") != NULL);
	explicit_bzero(text, strlen(text));
}

static void test_passphrase_sources(void)
{
	char *p = NULL, *path;
	struct sp_error e;

	setenv("STILLPOINT_PASSPHRASE", "from env", 1);
	setenv("STILLPOINT_PASSPHRASE_FILE", "/nonexistent", 1);
	CHECK_OK(sp_passphrase_get("vault 'x'", false, &p, &e), &e);
	CHECK_STR(p, "from env");
	sp_passphrase_free(p);
	p = NULL;
	setenv("STILLPOINT_PASSPHRASE", "", 1);
	CHECK_INT(sp_passphrase_get("vault 'x'", false, &p, &e), SP_E_USAGE);
	unsetenv("STILLPOINT_PASSPHRASE");

	path = write_file("pass", "from file\n", 10, 0600);
	setenv("STILLPOINT_PASSPHRASE_FILE", path, 1);
	CHECK_OK(sp_passphrase_get("vault 'x'", false, &p, &e), &e);
	CHECK_STR(p, "from file");
	sp_passphrase_free(p);
	p = NULL;
	/* Only one newline is dropped. */
	path = write_file("pass2", "two\n\n", 5, 0600);
	setenv("STILLPOINT_PASSPHRASE_FILE", path, 1);
	CHECK_OK(sp_passphrase_get("vault 'x'", false, &p, &e), &e);
	CHECK_STR(p, "two\n");
	sp_passphrase_free(p);
	p = NULL;
	path = write_file("pass3", "open\n", 5, 0644);
	setenv("STILLPOINT_PASSPHRASE_FILE", path, 1);
	CHECK_INT(sp_passphrase_get("vault 'x'", false, &p, &e), SP_E_USAGE);
	CHECK(strstr(e.msg, "chmod") != NULL);
	path = write_file("pass4", "\n", 1, 0600);
	setenv("STILLPOINT_PASSPHRASE_FILE", path, 1);
	CHECK_INT(sp_passphrase_get("vault 'x'", false, &p, &e), SP_E_USAGE);
	unsetenv("STILLPOINT_PASSPHRASE_FILE");

	/* No source and no terminal on stdin. */
	if (!isatty(0)) {
		CHECK_INT(sp_passphrase_get("vault 'x'", false, &p, &e),
			  SP_E_VAULT_KEY_NEEDED);
		CHECK(strstr(e.msg, "--key-file") != NULL);
	}
	CHECK(p == NULL);
}

int main(void)
{
	SP_RUN(test_derived_keys);
	SP_RUN(test_passphrase_slot);
	SP_RUN(test_slot_of_another_key);
	SP_RUN(test_keyfile_slot);
	SP_RUN(test_remove_and_passwd);
	SP_RUN(test_tampered_slots);
	SP_RUN(test_damaged_document);
	SP_RUN(test_default_kdf);
	SP_RUN(test_paper_key);
	SP_RUN(test_passphrase_sources);
	SP_TEST_EXIT();
}

// SPDX-License-Identifier: LGPL-2.1-or-later
/* Manifest validation: a good manifest passes; each kind of damage or
 * hostile value is refused with ManifestCorrupt. */
#include <string.h>

#include "harness.h"
#include "vault/vault.h"

static json_t *good(void)
{
	return json_pack(
	    "{s:s, s:i, s:s, s:s, s:s, s:s, s:i, s:[{s:s, s:I, s:s, s:s, "
	    "s:s}], s:n}",
	    "format", "stillpoint-point", "version", 1, "name", "web01", "id",
	    "20261122T150102Z-a1b2c3", "time", "2026-11-22T15:01:02Z",
	    "consistency", "crash", "chunk_size", 4194304, "disks", "name",
	    "root.img", "size", (json_int_t)1 << 30, "format", "raw", "index",
	    "disk-0.idx", "index_sha256",
	    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
	    "config");
}

static void expect_bad(json_t *m, const char *what)
{
	struct sp_error err;
	int r = sp_manifest_check(m, "p", &err);

	if (r != SP_E_MANIFEST_CORRUPT) {
		fprintf(stderr, "accepted a manifest with %s\n", what);
		sp_test_failures++;
	}
	json_decref(m);
}

static json_t *disk0(json_t *m)
{
	return json_array_get(json_object_get(m, "disks"), 0);
}

static void test_check(void)
{
	struct sp_error err;
	json_t *m = good();

	CHECK_OK(sp_manifest_check(m, "p", &err), &err);
	json_decref(m);

	m = good();
	json_object_set_new(m, "format", json_string("other"));
	expect_bad(m, "a wrong format");
	m = good();
	json_object_set_new(m, "version", json_integer(2));
	expect_bad(m, "a future version");
	m = good();
	json_object_set_new(m, "name", json_string("../etc"));
	expect_bad(m, "a name with a path");
	m = good();
	json_object_set_new(m, "chunk_size", json_integer(0));
	expect_bad(m, "a zero chunk size");
	m = good();
	json_object_set_new(m, "disks", json_array());
	expect_bad(m, "no disks");
	m = good();
	json_object_set_new(disk0(m), "index", json_string("../../x"));
	expect_bad(m, "an index path outside the point");
	m = good();
	json_object_set_new(disk0(m), "name", json_string("a/b"));
	expect_bad(m, "a disk name with a slash");
	m = good();
	json_object_set_new(disk0(m), "size", json_integer(-1));
	expect_bad(m, "a negative size");
	m = good();
	json_object_set_new(disk0(m), "index_sha256", json_string("abc"));
	expect_bad(m, "a short index hash");
	m = good();
	json_object_set_new(m, "config", json_string("x"));
	expect_bad(m, "a config that is not an object");
	expect_bad(json_array(), "an array");
}

int main(void)
{
	SP_RUN(test_check);
	SP_TEST_EXIT();
}

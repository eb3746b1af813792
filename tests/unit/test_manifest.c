// SPDX-License-Identifier: LGPL-2.1-or-later
/* Manifest validation: a good manifest passes; each kind of damage or
 * hostile value is refused with ManifestCorrupt, and a manifest loaded
 * from a directory must name that directory's point. */
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "util/fileio.h"
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

	m = good();
	json_object_set_new(disk0(m), "name", json_string("a\nb.img"));
	expect_bad(m, "a disk name with a newline");
	m = good();
	json_object_set_new(disk0(m), "name", json_string("a\x1b[2Jb"));
	expect_bad(m, "a disk name with an escape sequence");
	m = good();
	json_object_set_new(disk0(m), "name", json_string("a\x7f"));
	expect_bad(m, "a disk name with DEL");
	m = good();
	json_object_set_new(disk0(m), "name", json_stringn("a\0/x", 4));
	expect_bad(m, "a disk name with a NUL");
	m = good();
	json_object_set_new(disk0(m), "name", json_string(".."));
	expect_bad(m, "a disk name '..'");

	/* two disks of one name: the second would overwrite the first */
	m = good();
	json_t *d1 = json_deep_copy(disk0(m));
	json_object_set_new(d1, "index", json_string("disk-1.idx"));
	json_array_append_new(json_object_get(m, "disks"), d1);
	expect_bad(m, "two disks of the same name");
	m = good();
	d1 = json_deep_copy(disk0(m));
	json_object_set_new(d1, "index", json_string("disk-1.idx"));
	json_object_set_new(d1, "name", json_string("data.img"));
	json_array_append_new(json_object_get(m, "disks"), d1);
	CHECK_OK(sp_manifest_check(m, "p", &err), &err);
	json_decref(m);
}

#define SHA "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"

/* A point of a UEFI domain with a TPM: its NVRAM and a TPM file stored,
 * a second TPM's state not. */
static json_t *with_state(void)
{
	json_t *m = good();

	json_object_set_new(
	    m, "state",
	    json_pack("[{s:s, s:s, s:s, s:s, s:I, s:s}, {s:s, s:s, s:s, s:s, "
		      "s:I, s:s, s:s}, {s:s, s:n, s:s}]",
		      "kind", "nvram", "name", "web01_VARS.fd", "source",
		      "/var/lib/libvirt/qemu/nvram/web01_VARS.fd", "file",
		      "state-0", "size", (json_int_t)540672, "sha256", SHA,
		      "kind", "tpm", "name", "tpm2-00.permall", "source",
		      "/var/lib/libvirt/swtpm/u/tpm2/tpm2-00.permall", "file",
		      "state-1", "size", (json_int_t)6122, "sha256", SHA,
		      "tpm_version", "2.0", "kind", "tpm", "file", "reason",
		      "a TPM with backend 'passthrough' keeps no state"));
	json_object_set_new(m, "firmware",
			    json_pack("{s:s}", "loader", "/usr/share/c.fd"));
	return m;
}

static json_t *state_n(json_t *m, size_t i)
{
	return json_array_get(json_object_get(m, "state"), i);
}

static void test_state(void)
{
	struct sp_error err;
	json_t *m = with_state();

	CHECK_OK(sp_manifest_check(m, "p", &err), &err);
	json_decref(m);
	/* points made before state was stored have none */
	m = good();
	json_object_set_new(m, "state", json_null());
	CHECK_OK(sp_manifest_check(m, "p", &err), &err);
	json_decref(m);
	/* a kind a later version stores is no damage */
	m = with_state();
	json_object_set_new(state_n(m, 0), "kind", json_string("vtpm-next"));
	CHECK_OK(sp_manifest_check(m, "p", &err), &err);
	json_decref(m);

	m = with_state();
	json_object_set_new(m, "state", json_object());
	expect_bad(m, "a state that is not an array");
	m = with_state();
	json_object_del(state_n(m, 1), "kind");
	expect_bad(m, "a state entry without a kind");
	m = with_state();
	json_object_set_new(state_n(m, 0), "file", json_string("state-1"));
	expect_bad(m, "a state file of another position");
	m = with_state();
	json_object_set_new(state_n(m, 0), "file", json_string("../config"));
	expect_bad(m, "a state file outside the point");
	m = with_state();
	json_object_set_new(state_n(m, 0), "sha256", json_string("abc"));
	expect_bad(m, "a state file without its hash");
	m = with_state();
	json_object_del(state_n(m, 1), "size");
	expect_bad(m, "a state file without its size");
	m = with_state();
	json_object_set_new(state_n(m, 0), "name", json_string("a/b"));
	expect_bad(m, "an NVRAM name with a slash");
	m = with_state();
	json_object_set_new(state_n(m, 1), "name", json_string(".lock"));
	expect_bad(m, "a hidden TPM file name");
	m = with_state();
	json_object_set_new(state_n(m, 1), "kind", json_string("nvram"));
	expect_bad(m, "two stored NVRAM files");
	m = with_state();
	json_object_set_new(state_n(m, 0), "kind", json_string("tpm"));
	json_object_set_new(state_n(m, 0), "name",
			    json_string("tpm2-00.permall"));
	expect_bad(m, "two TPM files of one name");
	m = with_state();
	json_object_set_new(m, "firmware", json_string("/usr/share/c.fd"));
	expect_bad(m, "a firmware that is not an object");
}

static void test_names(void)
{
	char q[64];

	CHECK(sp_disk_name_is_valid("vda", 3));
	CHECK(sp_disk_name_is_valid("root disk (1).img", 17));
	CHECK(!sp_disk_name_is_valid("", 0));
	CHECK(!sp_disk_name_is_valid("a\tb", 3));
	CHECK(!sp_disk_name_is_valid("a", 2)); /* a NUL inside */
	sp_disk_name_quote("a\nb\\c", q, sizeof(q));
	CHECK_STR(q, "a\\x0ab\\x5cc");
}

/* Write @m as DIR/NAME/ID/manifest.json; returns the point's dir fd. */
static int point_dir(const char *name, const char *id, json_t *m)
{
	char path[512];
	struct sp_error err;
	char *text = json_dumps(m, 0);
	int fd;

	snprintf(path, sizeof(path), "%s/%s", sp_test_tmpdir(), name);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/%s/%s", sp_test_tmpdir(), name, id);
	mkdir(path, 0700);
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	CHECK(fd >= 0);
	CHECK_OK(sp_file_publish(fd, "manifest.json", text, strlen(text), &err),
		 &err);
	free(text);
	return fd;
}

static void test_load_named(void)
{
	struct sp_error err;
	json_t *m = good(), *got = NULL;
	const char *id = "20261122T150102Z-a1b2c3";
	int fd;

	fd = point_dir("web01", id, m);
	CHECK_OK(sp_manifest_load_point(fd, "web01", id, &got, &err), &err);
	json_decref(got);
	got = NULL;
	CHECK_INT(sp_manifest_load_point(fd, "web02", id, &got, &err),
		  SP_E_MANIFEST_CORRUPT);
	CHECK(strstr(err.msg, "another point") != NULL);
	close(fd);

	/* the same manifest copied into another VM's, another id's dir */
	fd = point_dir("db01", id, m);
	CHECK_INT(sp_manifest_load_point(fd, "db01", id, &got, &err),
		  SP_E_MANIFEST_CORRUPT);
	close(fd);
	fd = point_dir("web01", "20261122T150102Z-ffffff", m);
	CHECK_INT(sp_manifest_load_point(fd, "web01", "20261122T150102Z-ffffff",
					 &got, &err),
		  SP_E_MANIFEST_CORRUPT);
	CHECK(got == NULL);
	close(fd);
	json_decref(m);
}

int main(void)
{
	SP_RUN(test_check);
	SP_RUN(test_state);
	SP_RUN(test_names);
	SP_RUN(test_load_named);
	SP_TEST_EXIT();
}

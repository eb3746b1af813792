// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The names restored disks get under --to DIR (lib/job/restore_name.h):
 * a target names a domain's disk, a file point's disk keeps its name with
 * the extension of the bytes written, and collisions get -2, -3, ...
 */
#include "harness.h"
#include "job/restore_name.h"

/* The names of the disks in JSON array @manifest_disks, restored in
 * @override, joined by spaces into @out. */
static void names_of(const char *manifest_disks, const char *override,
		     char *out, size_t cap)
{
	json_t *disks = json_loads(manifest_disks, 0, NULL);
	char **names = NULL;
	size_t n = json_array_size(disks);

	CHECK(disks != NULL);
	CHECK_INT(sp_restore_names(disks, override, &names), 0);
	out[0] = '\0';
	for (size_t i = 0; names && i < n; i++) {
		if (i)
			strncat(out, " ", cap - strlen(out) - 1);
		strncat(out, names[i], cap - strlen(out) - 1);
	}
	sp_restore_names_free(names, n);
	json_decref(disks);
}

#define CHECK_NAMES(disks, override, want)                                     \
	do {                                                                   \
		char got_[512];                                                \
		names_of(disks, override, got_, sizeof(got_));                 \
		if (strcmp(got_, want)) {                                      \
			fprintf(stderr, "%s:%d: names '%s', expected '%s'\n",  \
				__FILE__, __LINE__, got_, want);               \
			sp_test_failures++;                                    \
		}                                                              \
	} while (0)

static void test_domain_disks_by_target(void)
{
	const char *d = "[{\"name\":\"vda\",\"target\":\"vda\","
			"\"format\":\"qcow2\"},"
			"{\"name\":\"vdb\",\"target\":\"vdb\","
			"\"format\":\"raw\"}]";

	CHECK_NAMES(d, NULL, "vda.qcow2 vdb.raw");
	CHECK_NAMES(d, "raw", "vda.raw vdb.raw");
	CHECK_NAMES(d, "qcow2", "vda.qcow2 vdb.qcow2");
}

static void test_file_disks_extension_replaced(void)
{
	CHECK_NAMES("[{\"name\":\"web01.qcow2\",\"format\":\"qcow2\"}]", "raw",
		    "web01.raw");
	CHECK_NAMES("[{\"name\":\"web01.qcow2\",\"format\":\"qcow2\"}]", NULL,
		    "web01.qcow2");
	CHECK_NAMES("[{\"name\":\"disk.img\",\"format\":\"raw\"}]", NULL,
		    "disk.raw");
	CHECK_NAMES("[{\"name\":\"disk.IMG\",\"format\":\"raw\"}]", "qcow2",
		    "disk.qcow2");
	CHECK_NAMES("[{\"name\":\"data\",\"format\":\"raw\"}]", NULL,
		    "data.raw");
	/* not an image extension: part of the name */
	CHECK_NAMES("[{\"name\":\"db.2026-11\",\"format\":\"raw\"}]", NULL,
		    "db.2026-11.raw");
	CHECK_NAMES("[{\"name\":\".qcow2\",\"format\":\"raw\"}]", NULL,
		    ".qcow2.raw");
	/* undeclared formats are written raw */
	CHECK_NAMES("[{\"name\":\"a.raw\"}]", NULL, "a.raw");
}

static void test_collisions(void)
{
	CHECK_NAMES("[{\"name\":\"d.img\",\"format\":\"raw\"},"
		    "{\"name\":\"d.raw\",\"format\":\"raw\"},"
		    "{\"name\":\"d\",\"format\":\"raw\"}]",
		    NULL, "d.raw d-2.raw d-3.raw");
	/* a later disk's own name already given as a suffixed name */
	CHECK_NAMES("[{\"name\":\"d.img\",\"format\":\"raw\"},"
		    "{\"name\":\"d.raw\",\"format\":\"raw\"},"
		    "{\"name\":\"d-2.img\",\"format\":\"raw\"}]",
		    NULL, "d.raw d-2.raw d-2-2.raw");
	/* same stem, different formats: no collision */
	CHECK_NAMES("[{\"name\":\"d.img\",\"format\":\"raw\"},"
		    "{\"name\":\"d.qcow2\",\"format\":\"qcow2\"}]",
		    NULL, "d.raw d.qcow2");
	CHECK_NAMES("[{\"name\":\"d.img\",\"format\":\"raw\"},"
		    "{\"name\":\"d.qcow2\",\"format\":\"qcow2\"}]",
		    "qcow2", "d.qcow2 d-2.qcow2");
}

int main(void)
{
	SP_RUN(test_domain_disks_by_target);
	SP_RUN(test_file_disks_extension_replaced);
	SP_RUN(test_collisions);
	SP_TEST_EXIT();
}

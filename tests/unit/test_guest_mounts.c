// SPDX-License-Identifier: LGPL-2.1-or-later
/* The mount map's names: device-mapper names of LVM volumes to VG/LV. */
#include <stdlib.h>
#include <string.h>

#include "domain/guest_mounts.h"
#include "harness.h"

static void check_lv(const char *dm, const char *want)
{
	char *got = sp_dm_name_to_lv(dm);

	if (!want) {
		CHECK(got == NULL);
	} else {
		CHECK(got != NULL);
		if (got)
			CHECK_STR(got, want);
	}
	free(got);
}

static void test_dm_names(void)
{
	check_lv("vg0-data", "vg0/data");
	check_lv("spvg-lvxfs", "spvg/lvxfs");
	/* '-' inside a name is doubled by device-mapper */
	check_lv("my--vg-lv--x", "my-vg/lv-x");
	check_lv("a-b--c", "a/b-c");
	check_lv("a--b-c", "a-b/c");
	/* not VG-LV: no single '-', or one at an end */
	check_lv("nodash", NULL);
	check_lv("only--doubled", NULL);
	check_lv("-lead", NULL);
	check_lv("trail-", NULL);
	check_lv("", NULL);
}

int main(void)
{
	SP_RUN(test_dm_names);
	SP_TEST_EXIT();
}

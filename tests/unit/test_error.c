// SPDX-License-Identifier: LGPL-2.1-or-later
/* The error catalogue: names and numbers unique, messages formatted, and
 * every code documented in docs/errors.md. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "util/error.h"
#include "util/fileio.h"

static void test_unique(void)
{
	const struct sp_errcode_info *t = sp_errcode_table();

	for (size_t i = 0; t[i].name; i++) {
		CHECK(t[i].code < 0);
		CHECK(t[i].summary && *t[i].summary);
		CHECK(t[i].action && *t[i].action);
		for (size_t j = 0; j < i; j++) {
			CHECK(t[i].code != t[j].code);
			CHECK(strcmp(t[i].name, t[j].name) != 0);
		}
	}
	CHECK_STR(sp_errcode_name(SP_E_VAULT_FULL), "VaultFull");
	CHECK_INT(sp_errcode_number(SP_E_VAULT_FULL), 1104);
	/* Unknown codes fall back to InternalError, never crash. */
	CHECK_STR(sp_errcode_name(-99999), "InternalError");
}

static void test_format(void)
{
	struct sp_error e;

	CHECK_INT(
	    sp_error_set(&e, SP_E_DISK_NOT_FOUND, "cannot open '%s'", "/x"),
	    SP_E_DISK_NOT_FOUND);
	CHECK_STR(e.msg, "cannot open '/x'");
	sp_error_set_errno(&e, SP_E_DISK_READ, 2, "read '%s'", "d");
	CHECK_STR(e.msg, "read 'd': No such file or directory");
	CHECK_INT(e.code, SP_E_DISK_READ);
	/* NULL is allowed: the code still comes back. */
	CHECK_INT(sp_error_set(NULL, SP_E_USAGE, "x"), SP_E_USAGE);
}

static void test_documented(void)
{
	const struct sp_errcode_info *t = sp_errcode_table();
	const char *top = getenv("SP_TOP");
	char path[512], row[128];
	char *doc = NULL;

	snprintf(path, sizeof(path), "%s/docs/errors.md", top ? top : ".");
	if (sp_file_read(AT_FDCWD, path, 1 << 20, &doc, NULL) < 0) {
		fprintf(stderr, "cannot read %s\n", path);
		sp_test_failures++;
		return;
	}
	for (size_t i = 0; t[i].name; i++) {
		snprintf(row, sizeof(row), "| SP%d | %s |", -t[i].code,
			 t[i].name);
		if (!strstr(doc, row)) {
			fprintf(stderr, "docs/errors.md lacks row '%s'\n", row);
			sp_test_failures++;
		}
	}
	free(doc);
}

int main(void)
{
	SP_RUN(test_unique);
	SP_RUN(test_format);
	SP_RUN(test_documented);
	SP_TEST_EXIT();
}

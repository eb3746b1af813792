// SPDX-License-Identifier: LGPL-2.1-or-later
/* `vssadmin list writers` parsing: the captured-style samples in
 * tests/data/vss (English, Japanese with a BOM, banner only) give every
 * writer with its ids, state number and words; odd layouts (LF, tabs, a
 * nameless block, no brackets) are read as documented. */
#include <string.h>

#include "harness.h"
#include "writer/vss_writers.h"

static char *read_sample(const char *name, size_t *len)
{
	const char *top = getenv("SP_TOP");
	char path[1024];
	char *buf;
	FILE *f;
	long n;

	if (!top)
		SP_SKIP("SP_TOP is not set (run through tests/run.sh)");
	snprintf(path, sizeof(path), "%s/tests/data/vss/%s", top, name);
	f = fopen(path, "rb");
	if (!f) {
		perror(path);
		exit(1);
	}
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n)
		exit(1);
	fclose(f);
	buf[n] = '\0';
	*len = (size_t)n;
	return buf;
}

static const struct sp_vss_writer *find(const struct sp_vss_writer *w, size_t n,
					const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(w[i].name, name) == 0)
			return &w[i];
	return NULL;
}

static void test_english(void)
{
	struct sp_vss_writer *w = NULL;
	const struct sp_vss_writer *x;
	struct sp_error err;
	size_t len, n = 0;
	char *text = read_sample("en-writers.txt", &len);

	CHECK(strstr(text, "\r\n") != NULL); /* the sample keeps CRLF */
	CHECK_OK(sp_vss_writers_parse(text, len, &w, &n, &err), &err);
	CHECK_INT(n, 7);
	if (n != 7)
		goto out;
	CHECK_STR(w[0].name, "Task Scheduler Writer");
	CHECK_STR(w[0].id, "{d61d61c8-d73a-4eee-8cdd-f6f9786b7124}");
	CHECK_STR(w[0].instance_id, "{1bddd48e-5052-49db-9b07-b96f96727e6b}");
	CHECK_INT(w[0].state, 1);
	CHECK_STR(w[0].state_text, "Stable");
	CHECK_STR(w[0].last_error, "No error");
	CHECK_STR(w[6].name, "WMI Writer");

	x = find(w, n, "SqlServerWriter");
	CHECK(x != NULL);
	if (x) {
		CHECK_INT(x->state, 8);
		CHECK_STR(x->state_text, "Failed");
		CHECK_STR(x->last_error, "Timed out");
		CHECK_STR(x->id, "{a65faa63-5ea8-4ebc-9dbd-a0c4db26912a}");
		CHECK_STR(sp_vss_state_describe(x->state),
			  "failed at prepare snapshot");
	}
	/* indented with a tab in the sample */
	x = find(w, n, "Registry Writer");
	CHECK(x != NULL);
	if (x) {
		CHECK_INT(x->state, 5);
		CHECK_STR(x->state_text, "Waiting for completion");
		CHECK_STR(x->last_error, "No error");
		CHECK_STR(x->instance_id,
			  "{5eebbeb4-8f1c-4a2c-9b6a-5a8e1f0e3a1d}");
	}
	for (size_t i = 0; i < n; i++) {
		/* no CR or blank survives at the end of a value */
		size_t l = strlen(w[i].last_error);
		CHECK(l > 0 && w[i].last_error[l - 1] != '\r');
		CHECK(!strchr(w[i].id, '\r'));
	}
out:
	sp_vss_writers_free(w, n);
	free(text);
}

static void test_japanese(void)
{
	struct sp_vss_writer *w = NULL;
	const struct sp_vss_writer *x;
	struct sp_error err;
	size_t len, n = 0;
	char *text = read_sample("ja-writers.txt", &len);

	CHECK(len > 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0);
	CHECK_OK(sp_vss_writers_parse(text, len, &w, &n, &err), &err);
	CHECK_INT(n, 4);
	if (n >= 1) {
		CHECK_STR(w[0].name, "Task Scheduler Writer");
		CHECK_STR(w[0].id, "{d61d61c8-d73a-4eee-8cdd-f6f9786b7124}");
		CHECK_STR(w[0].instance_id,
			  "{1bddd48e-5052-49db-9b07-b96f96727e6b}");
		CHECK_INT(w[0].state, 1);
		CHECK_STR(w[0].state_text, "安定");
		CHECK_STR(w[0].last_error, "エラーなし");
	}
	x = find(w, n, "SqlServerWriter");
	CHECK(x != NULL);
	if (x) {
		CHECK_INT(x->state, 9);
		CHECK_STR(x->state_text, "失敗");
		CHECK_STR(x->last_error, "再試行不可能なエラー");
		CHECK_STR(sp_vss_state_describe(x->state), "failed at freeze");
	}
	sp_vss_writers_free(w, n);
	free(text);
}

static void test_banner_only(void)
{
	struct sp_vss_writer *w = NULL;
	struct sp_error err;
	size_t len, n = 99;
	char *text = read_sample("empty.txt", &len);

	CHECK_OK(sp_vss_writers_parse(text, len, &w, &n, &err), &err);
	CHECK_INT(n, 0);
	CHECK(w == NULL);
	free(text);

	n = 99;
	CHECK_OK(sp_vss_writers_parse("", 0, &w, &n, &err), &err);
	CHECK_INT(n, 0);
}

static void test_odd_layouts(void)
{
	/* LF only, tabs, a full-width colon, a nameless block, fields
	 * before any writer, a state without its number, a missing
	 * instance id, a repeated field, and no final newline. */
	static const char text[] =
	    "State: [1] Stable\n"
	    "Writer name: ''\n"
	    "\tWriter Id: {00000000-0000-0000-0000-000000000001}\n"
	    "\t \tWRITER NAME :'Odd Writer'\n"
	    "  Writer Id: {11111111-2222-3333-4444-555555555555}  \n"
	    "  State: Stable\n"
	    "  Last error: No error\n"
	    "  Last error: Retryable error\n"
	    "ライター名\xef\xbc\x9a 'Wide'\r\n"
	    "  状態: [12] Failed\r\n"
	    "Writer name: Bare Name\n"
	    "  State: [99999999999] x";
	struct sp_vss_writer *w = NULL;
	struct sp_error err;
	size_t n = 0;

	CHECK_OK(sp_vss_writers_parse(text, sizeof(text) - 1, &w, &n, &err),
		 &err);
	CHECK_INT(n, 3);
	if (n == 3) {
		CHECK_STR(w[0].name, "Odd Writer");
		CHECK_STR(w[0].id, "{11111111-2222-3333-4444-555555555555}");
		CHECK(w[0].instance_id == NULL);
		CHECK_INT(w[0].state, -1);
		CHECK_STR(w[0].state_text, "Stable");
		CHECK_STR(w[0].last_error, "Retryable error");
		CHECK_STR(w[1].name, "Wide");
		CHECK_INT(w[1].state, 12);
		CHECK_STR(w[1].id, ""); /* absent: empty, never NULL */
		CHECK_STR(w[1].last_error, "");
		CHECK_STR(w[2].name, "Bare Name");
		/* a number too long to be a state is not one */
		CHECK_INT(w[2].state, -1);
	}
	sp_vss_writers_free(w, n);
}

static void test_describe(void)
{
	CHECK_STR(sp_vss_state_describe(0), "unknown");
	CHECK_STR(sp_vss_state_describe(1), "stable");
	CHECK_STR(sp_vss_state_describe(2), "waiting for freeze");
	CHECK_STR(sp_vss_state_describe(5), "waiting for completion");
	CHECK_STR(sp_vss_state_describe(6), "failed at identify");
	CHECK_STR(sp_vss_state_describe(8), "failed at prepare snapshot");
	CHECK_STR(sp_vss_state_describe(15), "failed at backup shutdown");
	CHECK_STR(sp_vss_state_describe(16), "unknown");
	CHECK_STR(sp_vss_state_describe(-1), "unknown");
}

int main(void)
{
	SP_RUN(test_english);
	SP_RUN(test_japanese);
	SP_RUN(test_banner_only);
	SP_RUN(test_odd_layouts);
	SP_RUN(test_describe);
	SP_TEST_EXIT();
}

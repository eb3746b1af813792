/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A tiny unit-test harness.  One executable per library file; each test is
 * a function run by SP_RUN(); a failed CHECK prints where and why and the
 * executable exits 1.  Exit 77 means skipped (SP_SKIP).  Tests get a fresh
 * temporary directory from sp_test_tmpdir(), removed at exit unless
 * SP_TEST_KEEP is set.
 */
#ifndef SP_TEST_HARNESS_H
#define SP_TEST_HARNESS_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int sp_test_failures;
static char sp_test_dir[256];

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, \
				__LINE__, #cond);                              \
			sp_test_failures++;                                    \
		}                                                              \
	} while (0)

#define CHECK_INT(a, b)                                                        \
	do {                                                                   \
		long long sp_a_ = (long long)(a), sp_b_ = (long long)(b);      \
		if (sp_a_ != sp_b_) {                                          \
			fprintf(stderr,                                        \
				"%s:%d: %s == %lld, expected %s == %lld\n",    \
				__FILE__, __LINE__, #a, sp_a_, #b, sp_b_);     \
			sp_test_failures++;                                    \
		}                                                              \
	} while (0)

#define CHECK_STR(a, b)                                                        \
	do {                                                                   \
		const char *sp_a_ = (a), *sp_b_ = (b);                         \
		if (!sp_a_ || !sp_b_ || strcmp(sp_a_, sp_b_) != 0) {           \
			fprintf(                                               \
			    stderr, "%s:%d: %s == \"%s\", expected \"%s\"\n",  \
			    __FILE__, __LINE__, #a, sp_a_ ? sp_a_ : "(null)",  \
			    sp_b_ ? sp_b_ : "(null)");                         \
			sp_test_failures++;                                    \
		}                                                              \
	} while (0)

/* A fallible call that must succeed: prints the sp_error message if not. */
#define CHECK_OK(call, errp)                                                   \
	do {                                                                   \
		int sp_r_ = (call);                                            \
		if (sp_r_ != 0) {                                              \
			fprintf(stderr, "%s:%d: %s failed (%d): %s\n",         \
				__FILE__, __LINE__, #call, sp_r_,              \
				(errp)->msg);                                  \
			sp_test_failures++;                                    \
		}                                                              \
	} while (0)

#define SP_SKIP(why)                                                           \
	do {                                                                   \
		fprintf(stderr, "skipped: %s\n", why);                         \
		exit(77);                                                      \
	} while (0)

static void sp_test_cleanup(void)
{
	if (sp_test_dir[0] && !getenv("SP_TEST_KEEP")) {
		char cmd[300];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", sp_test_dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", sp_test_dir);
	}
}

static inline const char *sp_test_tmpdir(void)
{
	if (!sp_test_dir[0]) {
		const char *base = getenv("TMPDIR");
		snprintf(sp_test_dir, sizeof(sp_test_dir), "%s/sp-unit-XXXXXX",
			 base ? base : "/tmp");
		if (!mkdtemp(sp_test_dir)) {
			perror("mkdtemp");
			exit(99);
		}
		atexit(sp_test_cleanup);
	}
	return sp_test_dir;
}

#define SP_RUN(fn)                                                             \
	do {                                                                   \
		int sp_before_ = sp_test_failures;                             \
		fn();                                                          \
		fprintf(stderr, "%s %s\n",                                     \
			sp_test_failures == sp_before_ ? "ok  " : "FAIL",      \
			#fn);                                                  \
	} while (0)

#define SP_TEST_EXIT() return sp_test_failures ? 1 : 0

#endif

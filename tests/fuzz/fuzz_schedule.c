// SPDX-License-Identifier: LGPL-2.1-or-later
/* Fuzz target: any bytes as a schedule, split at the first newline into
 * spec and window.  Whatever parses must answer next() strictly later
 * than asked, within a week and a window, the same way twice, and its
 * canonical text must parse back to itself; whatever fails must fail
 * with UsageError. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "policy/schedule.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Around Berlin's DST changes of 2026, and an ordinary day. */
static const int64_t afters[] = {
    1774745400, /* 2026-03-29T00:50:00Z, just before spring forward */
    1774746000, /* 2026-03-29T01:00:00Z, the first instant after it */
    1792886400, /* 2026-10-25T00:00:00Z, before the repeated hour */
    1792890000, /* 2026-10-25T01:00:00Z, inside it */
    1768435200, /* 2026-01-15T00:00:00Z */
};

static void check_schedule(const struct sp_schedule *s, const char *window)
{
	static const char *const vms[] = {"web01", "db01", ""};
	struct sp_schedule *again = NULL;
	struct sp_error err;
	char text[256], text2[256], win[32];
	int64_t t, t2, t3;

	for (size_t v = 0; v < sizeof(vms) / sizeof(vms[0]); v++)
		for (size_t a = 0; a < sizeof(afters) / sizeof(afters[0]);
		     a++) {
			assert(sp_schedule_next(s, vms[v], afters[a], &t,
						&err) == 0);
			assert(t > afters[a]);
			/* weekly: at most a week, plus a day of window
			 * and an hour of DST */
			assert(t - afters[a] <= 8 * 86400 + 3600);
			assert(sp_schedule_next(s, vms[v], afters[a], &t2,
						&err) == 0);
			assert(t2 == t);
			assert(sp_schedule_next(s, vms[v], t, &t3, &err) == 0);
			assert(t3 > t);
		}
	assert(sp_schedule_describe(s, text, sizeof(text)) < (int)sizeof(text));
	sp_schedule_describe_window(s, win, sizeof(win));
	assert((window[0] != 0) == (win[0] != 0));
	assert(sp_schedule_parse(text, win, sp_schedule_tz(s), &again, &err) ==
	       0);
	sp_schedule_describe(again, text2, sizeof(text2));
	assert(strcmp(text, text2) == 0);
	sp_schedule_describe_window(again, text2, sizeof(text2));
	assert(strcmp(win, text2) == 0);
	sp_schedule_free(again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sp_schedule *s = NULL;
	struct sp_error err;
	char *spec, *window;

	if (size > 4096)
		return 0;
	spec = malloc(size + 1);
	if (!spec)
		return 0;
	memcpy(spec, data, size);
	spec[size] = '\0';
	window = memchr(spec, '\n', size);
	if (window)
		*window++ = '\0';
	else
		window = spec + size;
	if (sp_schedule_parse(spec, window, "Europe/Berlin", &s, &err) == 0) {
		check_schedule(s, window);
		sp_schedule_free(s);
	} else {
		assert(err.code == SP_E_USAGE);
		assert(!s);
	}
	free(spec);
	return 0;
}

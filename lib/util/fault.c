// SPDX-License-Identifier: LGPL-2.1-or-later
/* Test hold points; see fault.h. */
#include "util/fault.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

void sp_test_hold(const char *step)
{
	const char *s = getenv("STILLPOINT_TEST_HOLD");
	size_t n = strlen(step);
	long ms = 0;

	if (s && !strncmp(s, step, n) && s[n] == ':')
		ms = strtol(s + n + 1, NULL, 10);
	if (ms > 0) {
		struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
		nanosleep(&ts, NULL);
	}
}

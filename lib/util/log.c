// SPDX-License-Identifier: LGPL-2.1-or-later
/* stderr logger; see log.h.  One write(2) per line so lines from threads do
 * not interleave. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

int sp_log_max_level = SP_LOG_WARNING;
static int syslog_prefix;

void sp_log_set_level(int level)
{
	sp_log_max_level = level;
}

void sp_log_set_syslog_prefix(int on)
{
	syslog_prefix = on;
}

void sp_log_impl(int level, const char *fmt, ...)
{
	static const char *const names[] = {
	    [SP_LOG_ERR] = "error",	[SP_LOG_WARNING] = "warning",
	    [SP_LOG_NOTICE] = "notice", [SP_LOG_INFO] = "info",
	    [SP_LOG_DEBUG] = "debug",
	};
	char line[2048];
	int n;
	va_list ap;

	if (syslog_prefix)
		n = snprintf(line, sizeof(line), "<%d>", level);
	else
		n = snprintf(line, sizeof(line), "stillpoint: %s: ",
			     level >= SP_LOG_ERR && level <= SP_LOG_DEBUG
				 ? names[level]
				 : "log");
	va_start(ap, fmt);
	n += vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	(void)!write(STDERR_FILENO, line, (size_t)n);
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One logging call for the whole code base.  Lines are an event followed by
 * key=value context ("backup done vm=web01 bytes_new=..."), written to
 * stderr.  The level is checked before formatting.  The library logs only
 * what a caller cannot see otherwise (a second error during cleanup, a
 * warning); errors themselves travel in struct sp_error.
 */
#ifndef SP_UTIL_LOG_H
#define SP_UTIL_LOG_H

enum sp_log_level {
	SP_LOG_ERR = 3,
	SP_LOG_WARNING = 4,
	SP_LOG_NOTICE = 5,
	SP_LOG_INFO = 6,
	SP_LOG_DEBUG = 7,
};

extern int sp_log_max_level;

void sp_log_set_level(int level);
/* Prefix each line with "<N>" (syslog priority) for journald. */
void sp_log_set_syslog_prefix(int on);
void sp_log_impl(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define sp_log(level, ...)                                                     \
	do {                                                                   \
		if ((level) <= sp_log_max_level)                               \
			sp_log_impl((level), __VA_ARGS__);                     \
	} while (0)

#endif

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Local time in a named IANA time zone ("Europe/Berlin"), through the C
 * library: TZ is switched with setenv() + tzset() under one process-wide
 * mutex and restored afterwards, so Stillpoint's own callers may use these
 * functions from any thread.  Other code in the process that reads TZ or
 * calls localtime() concurrently is not covered by the mutex.
 *
 * A zone name of NULL or "" means the process's local zone (TZ if set,
 * else /etc/localtime).  Instants are UNIX seconds (UTC); "naive" times are
 * a local wall-clock reading counted like UNIX seconds, i.e. local date
 * and time as if the zone were UTC.
 */
#ifndef SP_POLICY_ZONE_H
#define SP_POLICY_ZONE_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "util/error.h"

/* Instants the functions accept: years 1 to 9999. */
#define SP_ZONE_TIME_MIN (-62135596800LL) /* 0001-01-01T00:00:00Z */
#define SP_ZONE_TIME_MAX 253402300799LL	  /* 9999-12-31T23:59:59Z */

/* 0, or SP_E_USAGE when @tz is neither local nor a readable zone file
 * under $TZDIR or /usr/share/zoneinfo ("UTC" is always accepted). */
int sp_zone_check(const char *tz, struct sp_error *err);

/* A scope in which the C library's local time is @tz: hold it briefly,
 * it holds the mutex.  sp_zone_enter() fails only with SP_E_NOMEM. */
struct sp_zone_scope {
	char *saved; /* the caller's TZ, restored on leave */
	bool had_tz;
	bool switched;
};
int sp_zone_enter(const char *tz, struct sp_zone_scope *z,
		  struct sp_error *err);
void sp_zone_leave(struct sp_zone_scope *z);

/* Inside a scope: the broken-down local time of @t (false when out of
 * range), and the instant of a naive local time under the DST rules:
 * a time in a spring-forward gap maps to the first instant after the gap,
 * a time that occurs twice maps to its first occurrence.  The mapping is
 * monotonic (never decreasing) in @naive. */
bool sp_zone_localtime_in(int64_t t, struct tm *out);
int64_t sp_zone_utc_in(int64_t naive);

/* One-shot forms of the two above (they enter and leave a scope). */
int sp_zone_localtime(const char *tz, int64_t t, struct tm *out,
		      struct sp_error *err);
int sp_zone_utc(const char *tz, int64_t naive, int64_t *out,
		struct sp_error *err);

/* Proleptic Gregorian calendar: days since 1970-01-01 and back; the ISO
 * weekday (0 = monday ... 6 = sunday); the ISO 8601 week-numbering year
 * and week (1..53) of a day. */
int64_t sp_days_from_civil(int64_t y, unsigned m, unsigned d);
void sp_civil_from_days(int64_t days, int64_t *y, unsigned *m, unsigned *d);
unsigned sp_days_weekday(int64_t days);
void sp_days_iso_week(int64_t days, int64_t *iso_year, unsigned *week);

#endif

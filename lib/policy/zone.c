// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Local time in a named zone through glibc; see zone.h.  The key
 * invariant: TZ is only ever changed with zone_lock held, and every scope
 * puts the caller's TZ back before releasing it.
 */
#include "policy/zone.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "util/cleanup.h"

static pthread_mutex_t zone_lock = PTHREAD_MUTEX_INITIALIZER;

static bool local_zone(const char *tz)
{
	return !tz || !*tz;
}

/* Only names a zone database could hold: no absolute path, no "..". */
static bool zone_name_is_valid(const char *tz)
{
	size_t len = strlen(tz);

	if (len > 200 || tz[0] == '/' || tz[0] == '.' || strstr(tz, "..") ||
	    strstr(tz, "//") || tz[len - 1] == '/')
		return false;
	for (const char *p = tz; *p; p++) {
		char c = *p;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '/' || c == '_' ||
		      c == '-' || c == '+' || c == '.'))
			return false;
	}
	return true;
}

int sp_zone_check(const char *tz, struct sp_error *err)
{
	const char *dir = getenv("TZDIR");
	char path[512], magic[4];
	sp_autoclose int fd = -1;

	if (local_zone(tz) || strcmp(tz, "UTC") == 0)
		return 0;
	if (!zone_name_is_valid(tz))
		goto out_unknown;
	if (!dir || !*dir)
		dir = "/usr/share/zoneinfo";
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, tz) >=
	    sizeof(path))
		goto out_unknown;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0 || read(fd, magic, 4) != 4 || memcmp(magic, "TZif", 4) != 0)
		goto out_unknown;
	return 0;
out_unknown:
	return sp_error_set(err, SP_E_USAGE,
			    "unknown time zone '%.200s' (give an IANA name "
			    "such as 'Europe/Berlin' from /usr/share/zoneinfo; "
			    "is tzdata installed?)",
			    tz);
}

int sp_zone_enter(const char *tz, struct sp_zone_scope *z, struct sp_error *err)
{
	const char *old;

	z->saved = NULL;
	z->had_tz = false;
	z->switched = false;
	pthread_mutex_lock(&zone_lock);
	if (!local_zone(tz)) {
		old = getenv("TZ");
		if (old) {
			z->saved = strdup(old);
			if (!z->saved)
				goto out_nomem;
			z->had_tz = true;
		}
		if (setenv("TZ", tz, 1) < 0)
			goto out_nomem;
		z->switched = true;
	}
	tzset();
	return 0;
out_nomem:
	free(z->saved);
	z->saved = NULL;
	pthread_mutex_unlock(&zone_lock);
	return sp_error_set(
	    err, SP_E_NOMEM,
	    "cannot switch to time zone '%.200s': out of memory "
	    "(free memory on the host)",
	    tz);
}

void sp_zone_leave(struct sp_zone_scope *z)
{
	if (z->switched) {
		/* setenv() of a string TZ held before: only ENOMEM can fail,
		 * and then unsetting is the closest we can get. */
		if (!z->had_tz || setenv("TZ", z->saved, 1) < 0)
			unsetenv("TZ");
		tzset();
	}
	free(z->saved);
	z->saved = NULL;
	pthread_mutex_unlock(&zone_lock);
}

bool sp_zone_localtime_in(int64_t t, struct tm *out)
{
	time_t tt = (time_t)t;

	if (t < SP_ZONE_TIME_MIN - 86400 || t > SP_ZONE_TIME_MAX + 86400)
		return false;
	return localtime_r(&tt, out) != NULL;
}

static int64_t gmtoff_at(int64_t t)
{
	struct tm tm;

	return sp_zone_localtime_in(t, &tm) ? tm.tm_gmtoff : 0;
}

static int64_t local_of(int64_t t)
{
	return t + gmtoff_at(t);
}

int64_t sp_zone_utc_in(int64_t naive)
{
	/* The offsets a day before and after cover both sides of any one
	 * transition near @naive: the candidates are the instants that
	 * read as @naive under either offset. */
	int64_t c1 = naive - gmtoff_at(naive - 86400);
	int64_t c2 = naive - gmtoff_at(naive + 86400);
	int64_t lo = c1 < c2 ? c1 : c2, hi = c1 < c2 ? c2 : c1, mid;

	if (local_of(lo) == naive)
		return lo; /* the first occurrence */
	if (local_of(hi) == naive)
		return hi;
	/* A gap: the clock reads before @naive at lo and after it at hi;
	 * find the transition, the first instant that reads past it. */
	if (local_of(lo) > naive || local_of(hi) < naive)
		return hi;
	while (hi - lo > 1) {
		mid = lo + (hi - lo) / 2;
		if (local_of(mid) > naive)
			hi = mid;
		else
			lo = mid;
	}
	return hi;
}

int sp_zone_localtime(const char *tz, int64_t t, struct tm *out,
		      struct sp_error *err)
{
	struct sp_zone_scope z;
	bool ok;
	int r;

	r = sp_zone_enter(tz, &z, err);
	if (r < 0)
		return r;
	ok = sp_zone_localtime_in(t, out);
	sp_zone_leave(&z);
	if (!ok)
		return sp_error_set(err, SP_E_USAGE,
				    "time %lld out of range (use years 1 to "
				    "9999)",
				    (long long)t);
	return 0;
}

int sp_zone_utc(const char *tz, int64_t naive, int64_t *out,
		struct sp_error *err)
{
	struct sp_zone_scope z;
	int r;

	if (naive < SP_ZONE_TIME_MIN || naive > SP_ZONE_TIME_MAX)
		return sp_error_set(err, SP_E_USAGE,
				    "local time %lld out of range (use years 1 "
				    "to 9999)",
				    (long long)naive);
	r = sp_zone_enter(tz, &z, err);
	if (r < 0)
		return r;
	*out = sp_zone_utc_in(naive);
	sp_zone_leave(&z);
	return 0;
}

/* Howard Hinnant's days_from_civil / civil_from_days. */
int64_t sp_days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

void sp_civil_from_days(int64_t days, int64_t *y, unsigned *m, unsigned *d)
{
	int64_t z = days + 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;

	*d = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
	*m = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

unsigned sp_days_weekday(int64_t days)
{
	/* 1970-01-01 was a thursday (3). */
	int64_t w = (days + 3) % 7;

	return (unsigned)(w < 0 ? w + 7 : w);
}

void sp_days_iso_week(int64_t days, int64_t *iso_year, unsigned *week)
{
	/* The week belongs to the year of its thursday. */
	int64_t thursday = days - sp_days_weekday(days) + 3;
	unsigned m, d;

	sp_civil_from_days(thursday, iso_year, &m, &d);
	*week =
	    (unsigned)((thursday - sp_days_from_civil(*iso_year, 1, 1)) / 7) +
	    1;
}

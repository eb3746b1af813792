// SPDX-License-Identifier: LGPL-2.1-or-later
/* Schedules with an injected clock: each grammar form, refusals naming
 * the bad part, a simulated year of next() in Europe/Berlin and
 * America/New_York counted per local day across both DST changes, exact
 * instants checked by hand, and the spreading of VMs inside a window. */
#include <pthread.h>
#include <time.h>

#include "harness.h"
#include "policy/schedule.h"
#include "policy/zone.h"

#define BERLIN "Europe/Berlin"
#define NEW_YORK "America/New_York"

static int64_t utc(int y, int mo, int d, int h, int mi)
{
	struct tm tm = {.tm_year = y - 1900,
			.tm_mon = mo - 1,
			.tm_mday = d,
			.tm_hour = h,
			.tm_min = mi};

	return (int64_t)timegm(&tm);
}

static struct sp_schedule *parse(const char *spec, const char *window,
				 const char *tz)
{
	struct sp_schedule *s = NULL;
	struct sp_error err;

	CHECK_OK(sp_schedule_parse(spec, window, tz, &s, &err), &err);
	if (!s) {
		fprintf(stderr, "cannot go on without '%s'\n", spec);
		exit(1);
	}
	return s;
}

static int64_t next(const struct sp_schedule *s, const char *vm, int64_t after)
{
	struct sp_error err;
	int64_t t = 0;

	CHECK_OK(sp_schedule_next(s, vm, after, &t, &err), &err);
	CHECK(t > after);
	return t;
}

/* Seconds after local midnight, and the local date as days. */
static int local_secs(const char *tz, int64_t t, int64_t *days)
{
	struct sp_error err;
	struct tm tm;

	CHECK_OK(sp_zone_localtime(tz, t, &tm, &err), &err);
	if (days)
		*days = sp_days_from_civil(tm.tm_year + 1900, tm.tm_mon + 1,
					   tm.tm_mday);
	return tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec;
}

static void check_describe(const char *spec, const char *window,
			   const char *want, const char *want_window)
{
	struct sp_schedule *s = parse(spec, window, "UTC"), *again;
	char buf[128], wbuf[32];

	CHECK_INT(sp_schedule_describe(s, buf, sizeof(buf)), strlen(want));
	CHECK_STR(buf, want);
	sp_schedule_describe_window(s, wbuf, sizeof(wbuf));
	CHECK_STR(wbuf, want_window);
	again = parse(buf, wbuf, "UTC");
	sp_schedule_describe(again, buf, sizeof(buf));
	CHECK_STR(buf, want);
	sp_schedule_free(again);
	sp_schedule_free(s);
}

static void test_grammar(void)
{
	struct sp_schedule *s;
	char small[8];
	int64_t t, day = utc(2026, 1, 15, 0, 0);

	check_describe("daily 02:30", NULL, "daily 02:30", "");
	check_describe("  DAILY 14:00 , 2:30,02:30 ", "", "daily 02:30,14:00",
		       "");
	check_describe("weekly Fri,mon 02:30", NULL, "weekly mon,fri 02:30",
		       "");
	check_describe("weekly sun 2:30", "01:00 - 05:00", "weekly sun 02:30",
		       "01:00-05:00");
	check_describe("every 4h from 08:00 for 12h", "08:00-22:00",
		       "every 4h from 08:00 for 12h", "08:00-22:00");
	check_describe(" Every 4 H  FROM 8:00 for 12H", NULL,
		       "every 4h from 08:00 for 12h", "");
	check_describe("daily 23:00", "22:00-02:00", "daily 23:00",
		       "22:00-02:00");

	s = parse("daily 02:30,14:00", NULL, "UTC");
	CHECK_INT(sp_schedule_describe(s, small, sizeof(small)), 17);
	CHECK_STR(small, "daily 0"); /* truncated like snprintf */
	CHECK_STR(sp_schedule_tz(s), "UTC");
	sp_schedule_free(s);

	/* Azure's enhanced policy: 08:00, 12:00, 16:00, 20:00 each day */
	s = parse("every 4h from 08:00 for 12h", NULL, "UTC");
	t = next(s, "vm", day);
	CHECK_INT(t, day + 8 * 3600);
	CHECK_INT(t = next(s, "vm", t), day + 12 * 3600);
	CHECK_INT(t = next(s, "vm", t), day + 16 * 3600);
	CHECK_INT(t = next(s, "vm", t), day + 20 * 3600);
	CHECK_INT(t = next(s, "vm", t), day + 86400 + 8 * 3600);
	/* strictly after: at a start, the next one */
	CHECK_INT(next(s, "vm", day + 12 * 3600), day + 16 * 3600);
	CHECK_INT(next(s, "vm", day + 12 * 3600 - 1), day + 12 * 3600);
	sp_schedule_free(s);

	/* a recovery point every 15 minutes, all day (RPO 15 min) */
	check_describe("every 15m", NULL, "every 15m", "");
	check_describe("every 90M", NULL, "every 90m", "");
	check_describe("every 120m", NULL, "every 2h", "");
	check_describe("every 4h", NULL, "every 4h", "");
	check_describe("every 30m from 8:00 for 2h", NULL,
		       "every 30m from 08:00 for 2h", "");
	s = parse("every 15m", NULL, "UTC");
	t = next(s, "vm", day);
	CHECK_INT(t, day + 15 * 60);
	for (int k = 2; k < 96; k++)
		CHECK_INT(t = next(s, "vm", t), day + k * 15 * 60);
	CHECK_INT(t = next(s, "vm", t), day + 86400); /* 00:00, not 24:00+ */
	CHECK_INT(next(s, "vm", day + 10 * 3600 + 7 * 60),
		  day + 10 * 3600 + 15 * 60);
	sp_schedule_free(s);
	/* 90 minutes does not divide the day: the last start is 22:30,
	 * then 00:00 again */
	s = parse("every 90m", NULL, "UTC");
	CHECK_INT(next(s, "vm", day + 22 * 3600), day + 22 * 3600 + 30 * 60);
	CHECK_INT(next(s, "vm", day + 22 * 3600 + 30 * 60), day + 86400);
	sp_schedule_free(s);
	/* the span's end included, as for hours: 08:00 .. 10:00 */
	s = parse("every 30m from 08:00 for 2h", NULL, "UTC");
	CHECK_INT(t = next(s, "vm", day), day + 8 * 3600);
	for (int k = 1; k <= 4; k++)
		CHECK_INT(t = next(s, "vm", t), day + 8 * 3600 + k * 30 * 60);
	CHECK_INT(next(s, "vm", t), day + 86400 + 8 * 3600);
	sp_schedule_free(s);
	/* every 5 minutes is the most a schedule names: 288 a day */
	s = parse("every 5m", NULL, "UTC");
	CHECK_INT(next(s, "vm", day + 86400 - 1), day + 86400);
	CHECK_INT(next(s, "vm", day + 86400 - 301), day + 86400 - 300);
	sp_schedule_free(s);

	/* a span crossing midnight: 20:00, 00:00, 04:00 */
	s = parse("every 4h from 20:00 for 8h", NULL, "UTC");
	CHECK_INT(t = next(s, "vm", day), day + 4 * 3600);
	CHECK_INT(t = next(s, "vm", t), day + 20 * 3600);
	CHECK_INT(t = next(s, "vm", t), day + 86400);
	sp_schedule_free(s);

	/* 2026-01-15 is a thursday */
	s = parse("weekly mon,thu 06:00", NULL, "UTC");
	CHECK_INT(t = next(s, "vm", day), day + 6 * 3600);
	CHECK_INT(t = next(s, "vm", t), day + 4 * 86400 + 6 * 3600);
	CHECK_INT(t = next(s, "vm", t), day + 7 * 86400 + 6 * 3600);
	sp_schedule_free(s);
}

struct bad_case {
	const char *spec, *window, *tz, *names;
};

static void test_errors(void)
{
	static const struct bad_case cases[] = {
	    {"daily 25:00", NULL, NULL, "'25:00'"},
	    {"daily 12:60", NULL, NULL, "'12:60'"},
	    {"daily 02:30,7", NULL, NULL, "'7'"},
	    {"daily 2:3", NULL, NULL, "'2:3'"},
	    {"daily", NULL, NULL, "missing time"},
	    {"daily 02:30 02:40", NULL, NULL, "'02:40'"},
	    {"weekly fun 02:00", NULL, NULL, "unknown day 'fun'"},
	    {"weekly mon,, 02:00", NULL, NULL, "unknown day ','"},
	    {"weekly 02:00", NULL, NULL, "unknown day '02:00'"},
	    {"weekly mon", NULL, NULL, "missing time"},
	    {"every 0h from 08:00 for 12h", NULL, NULL, "'0h'"},
	    {"every 25h from 08:00 for 12h", NULL, NULL, "'25h'"},
	    {"every 4h from 08:00 for 0h", NULL, NULL, "'0h'"},
	    {"every 4x from 08:00 for 12h", NULL, NULL, "'4x'"},
	    {"every 4h at 08:00 for 12h", NULL, NULL, "unexpected 'at'"},
	    {"every 4h from 08:00", NULL, NULL, "expected 'for'"},
	    {"every 4m", NULL, NULL, "'4m' out of range (use 5m"},
	    {"every 0m", NULL, NULL, "'0m' out of range"},
	    {"every 1441m", NULL, NULL, "'1441m' out of range"},
	    {"every 15", NULL, NULL, "bad interval '15'"},
	    {"every 15min", NULL, NULL, "bad interval '15min'"},
	    {"every 15m at 08:00", NULL, NULL, "unexpected 'at"},
	    {"hourly 02:00", NULL, NULL, "unknown kind 'hourly'"},
	    {"", NULL, NULL, "empty schedule"},
	    {"   ", NULL, NULL, "empty schedule"},
	    {"daily 03:00", "22:00-02:00", NULL, "03:00"},
	    {"daily 02:00", "22:00-02:00", NULL, "02:00"},
	    {"every 4h from 08:00 for 12h", "08:00-20:00", NULL, "20:00"},
	    {"daily 22:00", "22:00", NULL, "bad window '22:00'"},
	    {"daily 22:00", "22:00-22:00", NULL, "is empty"},
	    {"daily 22:00", "22:00-25:00", NULL, "'22:00-25:00'"},
	    {"daily 02:30", NULL, "Mars/Olympus_Mons", "'Mars/Olympus_Mons'"},
	    {"daily 02:30", NULL, "../../etc/passwd", "'../../etc/passwd'"},
	    {"daily 02:30", NULL, "/etc/localtime", "'/etc/localtime'"},
	    {"daily 02:30", NULL, "zone.tab", "'zone.tab'"},
	};
	struct sp_schedule *s, *sentinel = (struct sp_schedule *)&s;
	struct sp_error err;
	int64_t t;

	for (size_t i = 0; i < SP_ARRAY_SIZE(cases); i++) {
		const struct bad_case *c = &cases[i];
		s = sentinel;
		err.msg[0] = '\0';
		int r = sp_schedule_parse(c->spec, c->window, c->tz, &s, &err);
		CHECK_INT(r, SP_E_USAGE);
		CHECK_INT(err.code, SP_E_USAGE);
		CHECK(s == sentinel);
		if (!strstr(err.msg, c->names)) {
			fprintf(stderr, "'%s' / '%s': message '%s' lacks %s\n",
				c->spec, c->window ? c->window : "", err.msg,
				c->names);
			sp_test_failures++;
		}
		/* lowercase, with the fix in parentheses */
		CHECK(strchr(err.msg, '(') &&
		      err.msg[strlen(err.msg) - 1] == ')');
	}

	s = parse("daily 02:30", NULL, BERLIN);
	CHECK_INT(sp_schedule_next(s, "vm", INT64_MAX, &t, &err), SP_E_USAGE);
	CHECK_INT(sp_schedule_next(s, "vm", INT64_MIN, &t, &err), SP_E_USAGE);
	sp_schedule_free(s);
}

/* Starts of @spec from local 2026-01-01 00:00 to 2027-01-01 00:00,
 * counted per local day (index: day of the year). */
static int count_year(const char *tz, const char *spec, const char *window,
		      const char *vm, int counts[366])
{
	struct sp_schedule *s = parse(spec, window, tz);
	struct sp_error err;
	int64_t t, end, days, jan1 = sp_days_from_civil(2026, 1, 1);
	int total = 0;

	memset(counts, 0, 366 * sizeof(counts[0]));
	CHECK_OK(sp_zone_utc(tz, jan1 * 86400, &t, &err), &err);
	CHECK_OK(sp_zone_utc(tz, (jan1 + 365) * 86400, &end, &err), &err);
	for (t = t - 1;;) {
		t = next(s, vm, t);
		if (t >= end)
			break;
		local_secs(tz, t, &days);
		CHECK(days >= jan1 && days < jan1 + 365);
		if (days >= jan1 && days < jan1 + 365)
			counts[days - jan1]++;
		total++;
	}
	sp_schedule_free(s);
	return total;
}

static int yday(int m, int d)
{
	return (int)(sp_days_from_civil(2026, (unsigned)m, (unsigned)d) -
		     sp_days_from_civil(2026, 1, 1));
}

static void check_counts(const char *what, const int *counts, int per_day,
			 int on_sunday, int spring, int spring_count)
{
	int64_t jan1 = sp_days_from_civil(2026, 1, 1);

	for (int d = 0; d < 365; d++) {
		int want = sp_days_weekday(jan1 + d) == 6 ? on_sunday : per_day;
		if (d == spring)
			want = spring_count;
		if (counts[d] != want) {
			fprintf(stderr,
				"%s: day %d of 2026 has %d starts, "
				"expected %d\n",
				what, d, counts[d], want);
			sp_test_failures++;
		}
	}
}

static void test_year(void)
{
	int counts[366], n;
	int berlin_spring = yday(3, 29), ny_spring = yday(3, 8);

	/* 02:30 does not exist on the spring-forward day: it runs at 03:00,
	 * once; on the fall-back day it runs once */
	n = count_year(BERLIN, "daily 02:30", NULL, "vm", counts);
	CHECK_INT(n, 365);
	check_counts("berlin daily 02:30", counts, 1, 1, -1, 0);
	n = count_year(NEW_YORK, "daily 02:30", NULL, "vm", counts);
	CHECK_INT(n, 365);
	check_counts("new york daily 02:30", counts, 1, 1, -1, 0);
	/* 01:00-02:00 repeats in New York on 2026-11-01 */
	n = count_year(NEW_YORK, "daily 01:30", NULL, "vm", counts);
	CHECK_INT(n, 365);
	check_counts("new york daily 01:30", counts, 1, 1, -1, 0);
	n = count_year(BERLIN, "weekly sun 02:30", NULL, "vm", counts);
	CHECK_INT(n, 52);
	check_counts("berlin weekly sun 02:30", counts, 0, 1, -1, 0);
	n = count_year(NEW_YORK, "every 4h from 08:00 for 12h", NULL, "vm",
		       counts);
	CHECK_INT(n, 4 * 365);
	check_counts("new york every 4h", counts, 4, 4, -1, 0);
	n = count_year(BERLIN, "every 4h from 08:00 for 12h", NULL, "vm",
		       counts);
	CHECK_INT(n, 4 * 365);
	check_counts("berlin every 4h", counts, 4, 4, -1, 0);
	/* hourly: 02:00 and 03:00 are one instant on the spring-forward day,
	 * and the repeated hour of the fall-back day runs once */
	n = count_year(BERLIN, "every 1h from 00:00 for 23h", NULL, "vm",
		       counts);
	CHECK_INT(n, 24 * 365 - 1);
	check_counts("berlin every 1h", counts, 24, 24, berlin_spring, 23);
	/* every 15 minutes: the spring-forward day loses the 4 starts of the
	 * hour that does not exist (02:00-02:45 are one instant, 03:00,
	 * with 03:00 itself), the fall-back day runs its repeated hour once */
	n = count_year(BERLIN, "every 15m", NULL, "vm", counts);
	CHECK_INT(n, 96 * 365 - 4);
	check_counts("berlin every 15m", counts, 96, 96, berlin_spring, 92);
	/* a spread start inside a window crossing the gap */
	n = count_year(NEW_YORK, "daily 01:00", "01:00-04:00", "db01", counts);
	CHECK_INT(n, 365);
	check_counts("new york daily 01:00 in 01:00-04:00", counts, 1, 1,
		     ny_spring, 1);
}

static void test_dst_by_hand(void)
{
	struct sp_schedule *s;
	int64_t t;

	s = parse("daily 02:30", NULL, BERLIN);
	/* CET, UTC+1 */
	CHECK_INT(next(s, "vm", utc(2026, 3, 27, 12, 0)),
		  utc(2026, 3, 28, 1, 30));
	/* spring forward 2026-03-29 02:00 CET -> 03:00 CEST: 03:00 local */
	CHECK_INT(t = next(s, "vm", utc(2026, 3, 28, 12, 0)),
		  utc(2026, 3, 29, 1, 0));
	CHECK_INT(next(s, "vm", t), utc(2026, 3, 30, 0, 30));
	/* fall back 2026-10-25 03:00 CEST -> 02:00 CET: the first 02:30 */
	CHECK_INT(t = next(s, "vm", utc(2026, 10, 24, 12, 0)),
		  utc(2026, 10, 25, 0, 30));
	CHECK_INT(next(s, "vm", t), utc(2026, 10, 26, 1, 30));
	/* during the repeated hour, before the second 02:30: no rerun */
	CHECK_INT(next(s, "vm", utc(2026, 10, 25, 1, 15)),
		  utc(2026, 10, 26, 1, 30));
	sp_schedule_free(s);

	s = parse("daily 02:30", NULL, NEW_YORK);
	/* 2026-03-08 02:00 EST -> 03:00 EDT: 03:00 EDT = 07:00Z */
	CHECK_INT(next(s, "vm", utc(2026, 3, 7, 12, 0)), utc(2026, 3, 8, 7, 0));
	/* 2026-11-01 02:00 EDT -> 01:00 EST: 02:30 EST = 07:30Z */
	CHECK_INT(next(s, "vm", utc(2026, 10, 31, 12, 0)),
		  utc(2026, 11, 1, 7, 30));
	sp_schedule_free(s);

	s = parse("daily 01:30", NULL, NEW_YORK);
	/* the first 01:30 (EDT, 05:30Z), not the second (EST, 06:30Z) */
	CHECK_INT(t = next(s, "vm", utc(2026, 10, 31, 12, 0)),
		  utc(2026, 11, 1, 5, 30));
	CHECK_INT(next(s, "vm", t), utc(2026, 11, 2, 6, 30));
	CHECK_INT(next(s, "vm", utc(2026, 3, 7, 12, 0)),
		  utc(2026, 3, 8, 6, 30));
	sp_schedule_free(s);

	s = parse("weekly sun 02:30", NULL, BERLIN);
	CHECK_INT(t = next(s, "vm", utc(2026, 3, 23, 0, 0)),
		  utc(2026, 3, 29, 1, 0));
	CHECK_INT(next(s, "vm", t), utc(2026, 4, 5, 0, 30));
	sp_schedule_free(s);

	s = parse("every 4h from 08:00 for 12h", NULL, BERLIN);
	CHECK_INT(t = next(s, "vm", utc(2026, 1, 15, 0, 0)),
		  utc(2026, 1, 15, 7, 0));
	CHECK_INT(t = next(s, "vm", t), utc(2026, 1, 15, 11, 0));
	CHECK_INT(t = next(s, "vm", t), utc(2026, 1, 15, 15, 0));
	CHECK_INT(t = next(s, "vm", t), utc(2026, 1, 15, 19, 0));
	CHECK_INT(t = next(s, "vm", t), utc(2026, 1, 16, 7, 0));
	CHECK_INT(next(s, "vm", utc(2026, 7, 15, 0, 0)),
		  utc(2026, 7, 15, 6, 0));
	sp_schedule_free(s);
}

static void test_window_spread(void)
{
	struct sp_schedule *s = parse("daily 22:00", "22:00-02:00", BERLIN);
	int64_t after = utc(2026, 6, 10, 12, 0), first[64], t;
	int distinct = 0, lo = 86400, hi = 0;
	char vm[16];

	for (int i = 0; i < 64; i++) {
		snprintf(vm, sizeof(vm), "vm%02d", i);
		first[i] = next(s, vm, after);
		int off =
		    (local_secs(BERLIN, first[i], NULL) - 22 * 3600 + 86400) %
		    86400;
		CHECK(off >= 0 && off < 4 * 3600);
		lo = off < lo ? off : lo;
		hi = off > hi ? off : hi;
		CHECK_INT(next(s, vm, after), first[i]); /* the same name */
		/* and the same local time on another day */
		t = next(s, vm, utc(2026, 1, 10, 12, 0));
		CHECK_INT(local_secs(BERLIN, t, NULL),
			  local_secs(BERLIN, first[i], NULL));
		bool seen = false;
		for (int j = 0; j < i; j++)
			seen |= first[j] == first[i];
		distinct += !seen;
	}
	CHECK(distinct >= 60);
	CHECK(lo < 3600 && hi > 3 * 3600); /* spread over the window */
	sp_schedule_free(s);

	/* two starts a day: each stays in its slot, in order */
	s = parse("daily 08:00,12:00", "08:00-14:00", "UTC");
	after = utc(2026, 6, 10, 0, 0);
	for (int i = 0; i < 32; i++) {
		snprintf(vm, sizeof(vm), "web%d", i);
		t = next(s, vm, after);
		CHECK(t >= after + 8 * 3600 && t < after + 12 * 3600);
		t = next(s, vm, t);
		CHECK(t >= after + 12 * 3600 && t < after + 14 * 3600);
	}
	sp_schedule_free(s);

	/* no window: no spread */
	s = parse("daily 22:00", NULL, "UTC");
	CHECK_INT(next(s, "a", after), after + 22 * 3600);
	CHECK_INT(next(s, "b", after), after + 22 * 3600);
	CHECK_INT(next(s, NULL, after), after + 22 * 3600);
	sp_schedule_free(s);
}

static void test_local_zone(void)
{
	struct sp_schedule *local, *ny;
	int64_t after = utc(2026, 10, 31, 12, 0);

	setenv("TZ", NEW_YORK, 1);
	tzset();
	local = parse("daily 01:30", NULL, NULL);
	CHECK_STR(sp_schedule_tz(local), "");
	ny = parse("daily 01:30", NULL, NEW_YORK);
	CHECK_INT(next(local, "vm", after), next(ny, "vm", after));
	sp_schedule_free(ny);
	/* a named zone leaves the caller's TZ as it was */
	ny = parse("daily 01:30", NULL, BERLIN);
	next(ny, "vm", after);
	CHECK_STR(getenv("TZ"), NEW_YORK);
	CHECK_INT(next(local, "vm", after), utc(2026, 11, 1, 5, 30));
	sp_schedule_free(ny);
	sp_schedule_free(local);
	unsetenv("TZ");
	tzset();
}

struct worker {
	const char *tz;
	int64_t want, got;
};

static void *work(void *arg)
{
	struct worker *w = arg;
	struct sp_schedule *s = NULL;
	struct sp_error err;
	int64_t t = utc(2026, 1, 1, 0, 0);

	if (sp_schedule_parse("daily 02:30", NULL, w->tz, &s, &err) < 0)
		return NULL;
	for (int i = 0; i < 200; i++)
		if (sp_schedule_next(s, "vm", t, &t, &err) < 0)
			break;
	w->got = t;
	sp_schedule_free(s);
	return NULL;
}

/* Threads in different zones at once get what one thread gets. */
static void test_threads(void)
{
	struct worker w[4] = {{BERLIN, 0, 0},
			      {NEW_YORK, 0, 0},
			      {"Asia/Tokyo", 0, 0},
			      {"UTC", 0, 0}};
	pthread_t th[4];

	for (int i = 0; i < 4; i++) {
		work(&w[i]);
		w[i].want = w[i].got;
		w[i].got = 0;
	}
	for (int i = 0; i < 4; i++)
		CHECK_INT(pthread_create(&th[i], NULL, work, &w[i]), 0);
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		CHECK_INT(w[i].got, w[i].want);
	}
	CHECK_INT(w[3].want, utc(2026, 7, 19, 2, 30));
}

int main(void)
{
	if (access("/usr/share/zoneinfo/" BERLIN, R_OK) != 0 ||
	    access("/usr/share/zoneinfo/" NEW_YORK, R_OK) != 0)
		SP_SKIP("no time-zone data (install tzdata)");
	SP_RUN(test_grammar);
	SP_RUN(test_errors);
	SP_RUN(test_year);
	SP_RUN(test_dst_by_hand);
	SP_RUN(test_window_spread);
	SP_RUN(test_local_zone);
	SP_RUN(test_threads);
	SP_TEST_EXIT();
}

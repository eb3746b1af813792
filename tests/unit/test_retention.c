// SPDX-License-Identifier: LGPL-2.1-or-later
/* GFS retention against hand-checked tables: 40 days of points in
 * Europe/Berlin across the fall-back change, points at 00:30 local (the
 * day before in UTC, so a UTC slip shows), a simulated year; the newest
 * is always kept; all-zero counts; any input order; ISO weeks at the turn
 * of the year. */
#include <time.h>

#include "harness.h"
#include "policy/retention.h"
#include "policy/zone.h"
#include "util/cleanup.h"

#define BERLIN "Europe/Berlin"

struct kept {
	const char *id, *why;
};

static char ids[600][16];

/* Local wall time in Berlin; @second picks the second occurrence of a
 * repeated time. */
static int64_t berlin(int y, int mo, int d, int h, int mi, bool second)
{
	struct sp_error err;
	int64_t t = 0;

	CHECK_OK(sp_zone_utc(BERLIN,
			     sp_days_from_civil(y, (unsigned)mo, (unsigned)d) *
				     86400 +
				 h * 3600 + mi * 60,
			     &t, &err),
		 &err);
	return second ? t + 3600 : t;
}

static size_t add(struct sp_retention_point *pts, size_t n, const char *id,
		  int64_t t)
{
	snprintf(ids[n], sizeof(ids[n]), "%s", id);
	pts[n] = (struct sp_retention_point){.id = ids[n], .time = t};
	return n + 1;
}

/* Exactly the points of @want are kept, each with exactly its reasons. */
static void check_kept(const struct sp_retention_point *pts, size_t n,
		       const struct kept *want, size_t nwant)
{
	size_t kept = 0;

	for (size_t i = 0; i < n; i++) {
		const char *why = NULL;
		for (size_t j = 0; j < nwant; j++)
			if (strcmp(pts[i].id, want[j].id) == 0)
				why = want[j].why;
		kept += pts[i].keep;
		if (pts[i].keep != (why != NULL) ||
		    strcmp(pts[i].why, why ? why : "") != 0) {
			fprintf(stderr, "%s: kept %d '%s', expected '%s'\n",
				pts[i].id, pts[i].keep, pts[i].why,
				why ? why : "(not kept)");
			sp_test_failures++;
		}
	}
	CHECK_INT(kept, nwant);
}

/* 2026-10-01 .. 2026-11-09 at 00:30 local, plus four extra points. */
static size_t forty_days(struct sp_retention_point *pts)
{
	int64_t first = sp_days_from_civil(2026, 10, 1);
	size_t n = 0;
	char id[16];

	for (int64_t d = first; d < first + 40; d++) {
		int64_t y;
		unsigned m, day;
		sp_civil_from_days(d, &y, &m, &day);
		snprintf(id, sizeof(id), "d%02u%02u", m, day);
		n = add(pts, n, id, berlin(2026, (int)m, (int)day, 0, 30, 0));
	}
	n = add(pts, n, "x1109", berlin(2026, 11, 9, 14, 0, 0));
	n = add(pts, n, "x1108", berlin(2026, 11, 8, 20, 0, 0));
	/* 02:30 twice on the fall-back day: CEST, then CET */
	n = add(pts, n, "x1025a", berlin(2026, 10, 25, 2, 30, 0));
	n = add(pts, n, "x1025b", berlin(2026, 10, 25, 2, 30, 1));
	return n;
}

/* Worked out by hand (docs/policies.md walks through it): 2026-11-09 is
 * the monday of ISO week 46; d1001 is 2026-09-30T22:30Z, yet local
 * october, so there is no "monthly 2026-09". */
static const struct kept forty_days_kept[] = {
    {"x1109", "last 1/3, daily 2026-11-09, weekly 2026-W46, monthly 2026-11, "
	      "yearly 2026, newest"},
    {"d1109", "last 2/3"},
    {"x1108", "last 3/3, daily 2026-11-08, weekly 2026-W45"},
    {"d1107", "daily 2026-11-07"},
    {"d1106", "daily 2026-11-06"},
    {"d1105", "daily 2026-11-05"},
    {"d1104", "daily 2026-11-04"},
    {"d1103", "daily 2026-11-03"},
    {"d1101", "weekly 2026-W44"},
    {"d1031", "monthly 2026-10"},
    {"x1025b", "weekly 2026-W43"},
};

static const struct sp_retention gfs = {
    .last = 3, .daily = 7, .weekly = 4, .monthly = 12, .yearly = 2};

static void test_forty_days(void)
{
	struct sp_retention_point pts[64], tmp;
	struct sp_error err;
	size_t n = forty_days(pts);

	CHECK_INT(pts[0].time, 1790807400); /* 2026-09-30T22:30:00Z */
	CHECK_OK(sp_retention_apply(&gfs, BERLIN, pts, n, &err), &err);
	check_kept(pts, n, forty_days_kept, SP_ARRAY_SIZE(forty_days_kept));

	/* any order gives the same answer: reverse, then shuffle */
	for (size_t i = 0; i < n / 2; i++) {
		tmp = pts[i];
		pts[i] = pts[n - 1 - i];
		pts[n - 1 - i] = tmp;
	}
	CHECK_OK(sp_retention_apply(&gfs, BERLIN, pts, n, &err), &err);
	check_kept(pts, n, forty_days_kept, SP_ARRAY_SIZE(forty_days_kept));
	srand(7);
	for (size_t i = n - 1; i > 0; i--) {
		size_t j = (size_t)rand() % (i + 1);
		tmp = pts[i];
		pts[i] = pts[j];
		pts[j] = tmp;
	}
	CHECK_OK(sp_retention_apply(&gfs, BERLIN, pts, n, &err), &err);
	check_kept(pts, n, forty_days_kept, SP_ARRAY_SIZE(forty_days_kept));
}

static void test_year(void)
{
	static struct sp_retention_point pts[600];
	static const struct kept want[] = {
	    {"p20261122", "last 1/3, daily 2026-11-22, weekly 2026-W47, "
			  "monthly 2026-11, yearly 2026, newest"},
	    {"p20261121", "last 2/3, daily 2026-11-21"},
	    {"x20261120", "last 3/3, daily 2026-11-20"},
	    {"p20261119", "daily 2026-11-19"},
	    {"p20261118", "daily 2026-11-18"},
	    {"p20261117", "daily 2026-11-17"},
	    {"p20261116", "daily 2026-11-16"},
	    {"p20261115", "weekly 2026-W46"},
	    {"p20261108", "weekly 2026-W45"},
	    {"p20261101", "weekly 2026-W44"},
	    {"x20261031", "monthly 2026-10"},
	    {"p20260930", "monthly 2026-09"},
	    {"p20260831", "monthly 2026-08"},
	    {"p20260731", "monthly 2026-07"},
	    {"p20260630", "monthly 2026-06"},
	    {"p20260531", "monthly 2026-05"},
	    {"p20260430", "monthly 2026-04"},
	    {"p20260331", "monthly 2026-03"},
	    {"p20260228", "monthly 2026-02"},
	    {"p20260131", "monthly 2026-01"},
	    {"p20251231", "monthly 2025-12, yearly 2025"},
	};
	int64_t first = sp_days_from_civil(2025, 11, 15);
	int64_t last = sp_days_from_civil(2026, 11, 22);
	struct sp_error err;
	size_t n = 0;
	char id[16];

	/* every day at 02:00 local, every tenth day also at 14:00 */
	for (int64_t d = first; d <= last; d++) {
		int64_t y;
		unsigned m, day;
		sp_civil_from_days(d, &y, &m, &day);
		snprintf(id, sizeof(id), "p%04lld%02u%02u", (long long)y, m,
			 day);
		n = add(pts, n, id, berlin((int)y, (int)m, (int)day, 2, 0, 0));
		if ((d - first) % 10 == 0) {
			id[0] = 'x';
			n = add(pts, n, id,
				berlin((int)y, (int)m, (int)day, 14, 0, 0));
		}
	}
	CHECK_INT(n, 411);
	CHECK_OK(sp_retention_apply(&gfs, BERLIN, pts, n, &err), &err);
	check_kept(pts, n, want, SP_ARRAY_SIZE(want));
}

static void test_newest_always(void)
{
	struct sp_retention_point pts[64];
	struct sp_retention none = {0}, daily1 = {.daily = 1};
	struct sp_error err;
	size_t n = forty_days(pts);
	static const struct kept only_newest[] = {{"x1109", "newest"}};
	static const struct kept newest_daily[] = {
	    {"x1109", "daily 2026-11-09, newest"}};

	CHECK_OK(sp_retention_apply(&none, BERLIN, pts, n, &err), &err);
	check_kept(pts, n, only_newest, 1);
	CHECK_OK(sp_retention_apply(&daily1, BERLIN, pts, n, &err), &err);
	check_kept(pts, n, newest_daily, 1);
	/* one point */
	CHECK_OK(sp_retention_apply(&none, BERLIN, pts + 5, 1, &err), &err);
	CHECK(pts[5].keep);
	CHECK_STR(pts[5].why, "newest");
	/* no point */
	CHECK_OK(sp_retention_apply(&gfs, BERLIN, NULL, 0, &err), &err);
}

/* Several points a day: the newest of the day is the one kept; equal
 * times are ordered by id. */
static void test_same_day(void)
{
	struct sp_retention_point pts[8];
	struct sp_retention daily2 = {.daily = 2};
	struct sp_error err;
	size_t n = 0;
	static const struct kept want[] = {
	    {"c", "daily 2026-03-29, newest"},
	    {"e", "daily 2026-03-28"},
	};

	n = add(pts, n, "a", berlin(2026, 3, 29, 0, 10, 0));
	n = add(pts, n, "c", berlin(2026, 3, 29, 23, 50, 0));
	n = add(pts, n, "b", berlin(2026, 3, 29, 3, 0, 0));
	n = add(pts, n, "d", berlin(2026, 3, 28, 23, 59, 0));
	n = add(pts, n, "e", berlin(2026, 3, 28, 23, 59, 0));
	n = add(pts, n, "f", berlin(2026, 3, 27, 12, 0, 0));
	CHECK_OK(sp_retention_apply(&daily2, BERLIN, pts, n, &err), &err);
	check_kept(pts, n, want, SP_ARRAY_SIZE(want));
}

/* ISO 8601 weeks across the turn of the year. */
static void test_iso_weeks(void)
{
	struct sp_retention_point pts[4];
	struct sp_retention weekly = {.weekly = 3};
	struct sp_error err;
	size_t n = 0;
	static const struct kept want[] = {
	    {"2027-01-01", "weekly 2026-W53, newest"},
	    {"2024-12-30", "weekly 2025-W01"},
	    {"2024-12-29", "weekly 2024-W52"},
	};

	n = add(pts, n, "2027-01-01", berlin(2027, 1, 1, 12, 0, 0));
	n = add(pts, n, "2026-12-28", berlin(2026, 12, 28, 12, 0, 0));
	n = add(pts, n, "2024-12-30", berlin(2024, 12, 30, 12, 0, 0));
	n = add(pts, n, "2024-12-29", berlin(2024, 12, 29, 12, 0, 0));
	CHECK_OK(sp_retention_apply(&weekly, BERLIN, pts, n, &err), &err);
	check_kept(pts, n, want, SP_ARRAY_SIZE(want));
}

static void test_errors(void)
{
	struct sp_retention_point pts[2] = {{.id = "a", .time = 0},
					    {.id = "far", .time = INT64_MAX}};
	struct sp_error err;

	CHECK_INT(sp_retention_apply(&gfs, "Nowhere/Land", pts, 1, &err),
		  SP_E_USAGE);
	CHECK(strstr(err.msg, "'Nowhere/Land'") != NULL);
	CHECK_INT(sp_retention_apply(&gfs, BERLIN, pts, 2, &err), SP_E_USAGE);
	CHECK(strstr(err.msg, "'far'") != NULL);
	CHECK(!pts[0].keep && !pts[1].keep);
}

int main(void)
{
	if (access("/usr/share/zoneinfo/" BERLIN, R_OK) != 0)
		SP_SKIP("no time-zone data (install tzdata)");
	SP_RUN(test_forty_days);
	SP_RUN(test_year);
	SP_RUN(test_newest_always);
	SP_RUN(test_same_day);
	SP_RUN(test_iso_weeks);
	SP_RUN(test_errors);
	SP_TEST_EXIT();
}

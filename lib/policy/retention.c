// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * GFS retention; see retention.h.  The points are walked newest first;
 * each rule keeps a point when the point opens a new period (day, week,
 * month, year) of that rule and the rule still has periods left, so the
 * point kept for a period is always its newest.  Invariant: the newest
 * point is kept whatever the counts, so a policy can never empty a VM.
 */
#include "policy/retention.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/zone.h"
#include "util/cleanup.h"

enum { RULE_DAY, RULE_WEEK, RULE_MONTH, RULE_YEAR, RULE_COUNT };

struct ranked {
	struct sp_retention_point *pt;
	int64_t period[RULE_COUNT]; /* a number naming the day, week... */
	char label[RULE_COUNT][40]; /* "2026-11-22", "2026-W47"... */
};

static int newest_first(const void *a, const void *b)
{
	const struct sp_retention_point *x = ((const struct ranked *)a)->pt;
	const struct sp_retention_point *y = ((const struct ranked *)b)->pt;
	int c;

	if (x->time != y->time)
		return x->time < y->time ? 1 : -1;
	c = strcmp(y->id ? y->id : "", x->id ? x->id : "");
	if (c)
		return c;
	return (x > y) - (x < y); /* a total order: qsort is not stable */
}

static void add_reason(struct sp_retention_point *pt, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void add_reason(struct sp_retention_point *pt, const char *fmt, ...)
{
	size_t at = strlen(pt->why);
	va_list ap;

	if (at && at + 2 < sizeof(pt->why)) {
		memcpy(pt->why + at, ", ", 3);
		at += 2;
	}
	va_start(ap, fmt);
	vsnprintf(pt->why + at, sizeof(pt->why) - at, fmt, ap);
	va_end(ap);
	pt->keep = true;
}

/* The periods of @rk's local time @tm. */
static void set_periods(struct ranked *rk, const struct tm *tm)
{
	int64_t y = tm->tm_year + 1900LL, iso_year;
	unsigned m = (unsigned)tm->tm_mon + 1, d = (unsigned)tm->tm_mday, w;
	int64_t days = sp_days_from_civil(y, m, d);

	sp_days_iso_week(days, &iso_year, &w);
	rk->period[RULE_DAY] = days;
	rk->period[RULE_WEEK] = iso_year * 100 + w;
	rk->period[RULE_MONTH] = y * 100 + m;
	rk->period[RULE_YEAR] = y;
	snprintf(rk->label[RULE_DAY], sizeof(rk->label[0]), "%04lld-%02u-%02u",
		 (long long)y, m, d);
	snprintf(rk->label[RULE_WEEK], sizeof(rk->label[0]), "%04lld-W%02u",
		 (long long)iso_year, w);
	snprintf(rk->label[RULE_MONTH], sizeof(rk->label[0]), "%04lld-%02u",
		 (long long)y, m);
	snprintf(rk->label[RULE_YEAR], sizeof(rk->label[0]), "%04lld",
		 (long long)y);
}

static int rank(struct ranked *rk, const char *tz,
		struct sp_retention_point *pts, size_t n, struct sp_error *err)
{
	struct sp_zone_scope z;
	struct tm tm;
	size_t i;
	int r;

	r = sp_zone_enter(tz, &z, err);
	if (r < 0)
		return r;
	for (i = 0; i < n; i++) {
		rk[i].pt = &pts[i];
		if (pts[i].time < SP_ZONE_TIME_MIN ||
		    pts[i].time > SP_ZONE_TIME_MAX ||
		    !sp_zone_localtime_in(pts[i].time, &tm))
			break;
		set_periods(&rk[i], &tm);
	}
	sp_zone_leave(&z);
	if (i < n)
		return sp_error_set(err, SP_E_USAGE,
				    "point '%.100s' has time %lld out of range "
				    "(give a time in the years 1 to 9999)",
				    pts[i].id ? pts[i].id : "",
				    (long long)pts[i].time);
	qsort(rk, n, sizeof(*rk), newest_first);
	return 0;
}

int sp_retention_apply(const struct sp_retention *r, const char *tz,
		       struct sp_retention_point *pts, size_t n,
		       struct sp_error *err)
{
	static const char *const rule_names[RULE_COUNT] = {"daily", "weekly",
							   "monthly", "yearly"};
	sp_autofree struct ranked *rk = NULL;
	unsigned left[RULE_COUNT] = {r->daily, r->weekly, r->monthly,
				     r->yearly};
	int64_t seen[RULE_COUNT] = {0};
	bool any[RULE_COUNT] = {false};
	int ret;

	ret = sp_zone_check(tz, err);
	if (ret < 0)
		return ret;
	for (size_t i = 0; i < n; i++) {
		pts[i].keep = false;
		pts[i].why[0] = '\0';
	}
	if (!n)
		return 0;
	rk = calloc(n, sizeof(*rk));
	if (!rk)
		return sp_error_set(err, SP_E_NOMEM,
				    "cannot apply retention to %zu points: out "
				    "of memory (free memory on the host)",
				    n);
	ret = rank(rk, tz, pts, n, err);
	if (ret < 0)
		return ret;
	for (size_t i = 0; i < n; i++) {
		struct sp_retention_point *pt = rk[i].pt;

		if (i < r->last)
			add_reason(pt, "last %zu/%u", i + 1, r->last);
		for (int k = 0; k < RULE_COUNT; k++) {
			if (any[k] && seen[k] == rk[i].period[k])
				continue;
			any[k] = true;
			seen[k] = rk[i].period[k];
			if (!left[k])
				continue;
			left[k]--;
			add_reason(pt, "%s %s", rule_names[k], rk[i].label[k]);
		}
		if (i == 0)
			add_reason(pt, "newest");
	}
	return 0;
}

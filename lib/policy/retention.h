/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Which recovery points to keep: grandfather-father-son rules like
 * restic's "forget" policy, on local calendar days, ISO 8601 weeks,
 * months and years of a time zone.  Pure: the caller supplies the points
 * and their times; nothing is read or deleted here.
 *
 * With the points ordered newest first:
 *   - last N keeps the N newest points;
 *   - daily N keeps the newest point of each of the N most recent local
 *     days that have points (days without points do not count); weekly,
 *     monthly and yearly likewise, with ISO weeks ("2026-W47"), months
 *     and years;
 *   - the newest point is always kept, even when every count is 0.
 * A point may be kept by several rules; it carries every reason.
 */
#ifndef SP_POLICY_RETENTION_H
#define SP_POLICY_RETENTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

struct sp_retention {
	unsigned last, daily, weekly, monthly, yearly;
};

/* Long enough for every reason of one point. */
#define SP_RETENTION_WHY_MAX 160

struct sp_retention_point {
	const char *id; /* in: the caller's, breaks ties of equal times */
	int64_t time;	/* in: UNIX seconds (UTC) */
	bool keep;	/* out */
	/* out: the reasons it is kept, in this order, comma-separated:
	 * "last 1/3, daily 2026-11-22, weekly 2026-W47, monthly 2026-11,
	 * yearly 2026, newest"; "" if it is not kept. */
	char why[SP_RETENTION_WHY_MAX];
};

/*
 * Mark each of the @n points in @pts (any order; not reordered) kept or
 * not under @r in zone @tz (NULL or "" for the system's local zone).
 * Points with equal times are ordered by id, the greater id counting as
 * newer.  Errors: SP_E_USAGE for an unknown zone or a time outside years
 * 1..9999 (naming the point); SP_E_NOMEM.  Thread-safe (policy/zone.h).
 */
int sp_retention_apply(const struct sp_retention *r, const char *tz,
		       struct sp_retention_point *pts, size_t n,
		       struct sp_error *err);

#endif

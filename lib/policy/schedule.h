/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Backup schedules in the local time of an IANA time zone.  Pure: no
 * clock is read, every function is given the time it needs.
 *
 * Grammar (case-insensitive, spaces flexible; docs/policies.md):
 *
 *	daily HH:MM[,HH:MM...]			at each time, every day
 *	weekly DAY[,DAY...] HH:MM		DAY: mon tue wed thu fri sat sun
 *	every Nh from HH:MM for Mh		HH:MM, +N h, ... up to +M h
 *						(N, M in 1..24), every day
 *	every Nm from HH:MM for Mh		the same every N minutes
 *						(N in 5..1440)
 *	every Nh | every Nm			all day: 00:00, +N, ... before
 *						the next midnight
 *
 * An optional window "HH:MM-HH:MM" (it may cross midnight) spreads the
 * starts of many VMs sharing one schedule: each VM starts at the nominal
 * time plus an offset derived from its name alone (FNV-1a), which stays
 * inside the window and before the next nominal time in it.  The window
 * must contain every nominal time.
 *
 * DST: a local time that does not exist (spring forward) runs at the
 * first instant after the gap, a local time that occurs twice (fall back)
 * runs at its first occurrence only; a backup is neither skipped nor
 * doubled.  Invariants are listed at the top of schedule.c.
 *
 * A struct sp_schedule is immutable after parsing: any number of threads
 * may use one at once.  Time-zone conversion serialises on one mutex
 * (policy/zone.h).
 */
#ifndef SP_POLICY_SCHEDULE_H
#define SP_POLICY_SCHEDULE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/cleanup.h"
#include "util/error.h"

/* Most distinct times one schedule may name per day: every 5 minutes. */
#define SP_SCHEDULE_MAX_TIMES 288

struct sp_schedule;

/*
 * Parse @spec with an optional @window (NULL or "" for none) in zone @tz
 * (NULL or "" for the system's local zone).  On success *@ret owns a new
 * schedule (sp_schedule_free()).  Errors: SP_E_USAGE naming the bad part
 * of the spec, the window, or the zone (*@ret untouched); SP_E_NOMEM.
 */
int sp_schedule_parse(const char *spec, const char *window, const char *tz,
		      struct sp_schedule **ret, struct sp_error *err);
void sp_schedule_free(struct sp_schedule *s);
SP_DEFINE_AUTOPTR(sp_schedule, sp_schedule_free)

/*
 * *@next = the first start of @vm (NULL is treated as "") strictly after
 * @after; both UNIX seconds (UTC).  The same inputs always give the same
 * answer.  Errors: SP_E_USAGE when @after is outside years 1..9998;
 * SP_E_NOMEM.
 */
int sp_schedule_next(const struct sp_schedule *s, const char *vm, int64_t after,
		     int64_t *next, struct sp_error *err);

/*
 * Canonical text of the spec ("weekly mon,fri 02:30") and of the window
 * ("22:00-02:00", "" without one), which parse back to the same
 * schedule.  Like snprintf(): the length of the full text, which was
 * truncated if it is >= @len.
 */
int sp_schedule_describe(const struct sp_schedule *s, char *buf, size_t len);
int sp_schedule_describe_window(const struct sp_schedule *s, char *buf,
				size_t len);

/* The zone name as given, "" for the system's local zone. */
const char *sp_schedule_tz(const struct sp_schedule *s);

#endif

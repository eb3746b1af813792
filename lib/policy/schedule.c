// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Backup schedules in local time; see schedule.h for the grammar.
 *
 * A schedule is a set of nominal local times of day (minutes after
 * midnight), on every day or on some weekdays.  For one VM each nominal
 * time n becomes a start W = n + offset (seconds after the local midnight
 * of its day, so W may reach into the next day when a window crosses
 * midnight), and each W on each day is turned into an instant by the
 * zone's rules.  Invariants:
 *
 *  1. A local start that does not exist (in a spring-forward gap, e.g.
 *     02:30 in Europe/Berlin on the last sunday of March) runs at the
 *     first instant after the gap (03:00), once.
 *  2. A local start that occurs twice (in a fall-back overlap) runs once,
 *     at its first occurrence.
 *  3. Hence DST neither skips nor doubles a backup: each nominal start of
 *     each day yields exactly one instant, and several starts that land
 *     on one instant (say 02:30 and 03:00 on a spring-forward day) run
 *     once, because next() answers strictly after its argument.
 *  4. The instant of a local time never decreases as the local time
 *     grows (policy/zone.h), so the starts of a day are in order and
 *     next() may stop at the first start past @after on each day.
 *  5. A VM's offset depends only on its name and the schedule: it lies in
 *     [0, slot), the slot running from its nominal time to the next
 *     nominal time in the window or to the window's end, whichever is
 *     first.  Starts never leave the window nor overtake one another.
 */
#include "policy/schedule.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/zone.h"

enum sched_kind { SCHED_DAILY, SCHED_WEEKLY, SCHED_EVERY };

struct sp_schedule {
	enum sched_kind kind;
	unsigned days;	    /* weekly: bit 0 = monday ... 6 = sunday */
	unsigned every_min; /* every: interval, minutes */
	unsigned for_h;	    /* every: span, hours; 0: the whole day */
	int from;	    /* every: first time, minutes */
	size_t ntimes;
	int times[SP_SCHEDULE_MAX_TIMES]; /* minutes, ascending, distinct */
	bool has_window;
	int win_start, win_len; /* minutes; 0 < win_len < 1440 */
	char *tz;		/* NULL: the system's local zone */
};

static const char *const day_names[7] = {"mon", "tue", "wed", "thu",
					 "fri", "sat", "sun"};

#define SPEC_HELP                                                              \
	"write 'daily HH:MM[,HH:MM...]', 'weekly DAY[,DAY...] HH:MM' or "      \
	"'every Nh|Nm [from HH:MM for Mh]'"

/* "schedule 'SPEC': WHAT (FIX)" */
__attribute__((format(printf, 3, 4))) static int
bad_spec(struct sp_error *err, const char *spec, const char *fmt, ...)
{
	char what[320];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return sp_error_set(err, SP_E_USAGE, "schedule '%.100s': %s", spec,
			    what);
}

/* The word or number at @p, for messages. */
static const char *token(const char *p, char *buf, size_t len)
{
	size_t i = 0;

	/* at least one character, so a stray ',' is named too */
	while (p[i] &&
	       (i == 0 || (p[i] != ' ' && p[i] != '\t' && p[i] != ',')) &&
	       i + 1 < len) {
		buf[i] = p[i];
		i++;
	}
	buf[i] = '\0';
	return buf;
}

static void skip_ws(const char **p)
{
	while (**p == ' ' || **p == '\t')
		(*p)++;
}

static bool is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* A word of letters, lowercased into @w; false if none or too long. */
static bool read_word(const char **p, char *w, size_t len)
{
	size_t i = 0;
	const char *q = *p;

	while (is_alpha(*q)) {
		if (i + 1 >= len)
			return false;
		w[i++] = (char)(*q | 0x20);
		q++;
	}
	w[i] = '\0';
	if (!i)
		return false;
	*p = q;
	return true;
}

enum time_status { TIME_OK, TIME_FORMAT, TIME_HOUR, TIME_MINUTE };

/* HH:MM (H:MM too) into minutes after midnight. */
static enum time_status read_time(const char **p, int *minutes)
{
	const char *q = *p;
	int h = 0, m;

	if (!is_digit(*q))
		return TIME_FORMAT;
	h = *q++ - '0';
	if (is_digit(*q))
		h = h * 10 + (*q++ - '0');
	if (*q != ':')
		return TIME_FORMAT;
	q++;
	if (!is_digit(q[0]) || !is_digit(q[1]) || is_digit(q[2]))
		return TIME_FORMAT;
	m = (q[0] - '0') * 10 + (q[1] - '0');
	if (h > 23)
		return TIME_HOUR;
	if (m > 59)
		return TIME_MINUTE;
	*minutes = h * 60 + m;
	*p = q + 2;
	return TIME_OK;
}

static const char *time_problem(enum time_status st)
{
	switch (st) {
	case TIME_HOUR:
		return "hour out of range in";
	case TIME_MINUTE:
		return "minute out of range in";
	default:
		return "bad time";
	}
}

static int parse_time(const char **p, int *minutes, const char *spec,
		      struct sp_error *err)
{
	enum time_status st = read_time(p, minutes);
	char tok[24];

	if (st == TIME_OK)
		return 0;
	if (!**p)
		return bad_spec(err, spec, "missing time (%s)", SPEC_HELP);
	return bad_spec(err, spec, "%s '%s' (write HH:MM, 00:00 to 23:59)",
			time_problem(st), token(*p, tok, sizeof(tok)));
}

/* "Nh" with N in 1..24. */
static int parse_hours(const char **p, unsigned *hours, const char *what,
		       const char *spec, struct sp_error *err)
{
	const char *q = *p;
	unsigned n = 0, digits = 0;
	char tok[24];

	while (is_digit(*q) && digits < 4) {
		n = n * 10 + (unsigned)(*q++ - '0');
		digits++;
	}
	skip_ws(&q);
	if (!digits || (*q | 0x20) != 'h' || is_alpha(q[1]))
		return bad_spec(err, spec, "bad %s '%s' (write Nh, e.g. 4h)",
				what, token(*p, tok, sizeof(tok)));
	if (n < 1 || n > 24)
		return bad_spec(err, spec,
				"%s '%s' out of range (use 1h to 24h)", what,
				token(*p, tok, sizeof(tok)));
	*hours = n;
	*p = q + 1;
	return 0;
}

static int expect_word(const char **p, const char *word, const char *spec,
		       struct sp_error *err)
{
	char w[16], tok[24];
	const char *q = *p, *start;

	skip_ws(&q);
	start = q;
	if (!read_word(&q, w, sizeof(w)) || strcmp(w, word) != 0)
		return bad_spec(err, spec, "expected '%s' at '%s' (%s)", word,
				token(start, tok, sizeof(tok)), SPEC_HELP);
	*p = q;
	return 0;
}

/* Insert keeping times ascending and distinct. */
static int add_time(struct sp_schedule *s, int t, const char *spec,
		    struct sp_error *err)
{
	size_t i = 0;

	while (i < s->ntimes && s->times[i] < t)
		i++;
	if (i < s->ntimes && s->times[i] == t)
		return 0;
	if (s->ntimes == SP_SCHEDULE_MAX_TIMES)
		return bad_spec(err, spec,
				"more than %d times a day (use "
				"fewer times or an 'every' schedule)",
				SP_SCHEDULE_MAX_TIMES);
	memmove(&s->times[i + 1], &s->times[i],
		(s->ntimes - i) * sizeof(s->times[0]));
	s->times[i] = t;
	s->ntimes++;
	return 0;
}

static int parse_daily(struct sp_schedule *s, const char **p, const char *spec,
		       struct sp_error *err)
{
	int t, r;

	for (;;) {
		skip_ws(p);
		r = parse_time(p, &t, spec, err);
		if (r < 0)
			return r;
		r = add_time(s, t, spec, err);
		if (r < 0)
			return r;
		skip_ws(p);
		if (**p != ',')
			return 0;
		(*p)++;
	}
}

static int parse_weekly(struct sp_schedule *s, const char **p, const char *spec,
			struct sp_error *err)
{
	char w[8], tok[24];
	const char *start;
	unsigned d;
	int t, r;

	for (;;) {
		skip_ws(p);
		start = *p;
		if (!read_word(p, w, sizeof(w)))
			w[0] = '\0';
		for (d = 0; d < 7 && strcmp(w, day_names[d]) != 0; d++)
			;
		if (d == 7 && !*start)
			return bad_spec(err, spec, "missing day (%s)",
					SPEC_HELP);
		if (d == 7)
			return bad_spec(err, spec,
					"unknown day '%s' (use mon, tue, wed, "
					"thu, fri, sat or sun)",
					token(start, tok, sizeof(tok)));
		s->days |= 1u << d;
		skip_ws(p);
		if (**p != ',')
			break;
		(*p)++;
	}
	skip_ws(p);
	r = parse_time(p, &t, spec, err);
	if (r < 0)
		return r;
	return add_time(s, t, spec, err);
}

/* "Nh" (1 to 24 hours) or "Nm" (5 to 1440 minutes), in minutes. */
static int parse_interval(const char **p, unsigned *minutes, const char *spec,
			  struct sp_error *err)
{
	const char *q = *p;
	unsigned n = 0, digits = 0;
	char tok[24], unit;

	while (is_digit(*q) && digits < 5) {
		n = n * 10 + (unsigned)(*q++ - '0');
		digits++;
	}
	skip_ws(&q);
	unit = (char)(*q | 0x20);
	if (!digits || (unit != 'h' && unit != 'm') || is_alpha(q[1]))
		return bad_spec(err, spec,
				"bad interval '%s' (write Nh or Nm, e.g. 4h "
				"or 15m)",
				token(*p, tok, sizeof(tok)));
	if (unit == 'h' && (n < 1 || n > 24))
		return bad_spec(err, spec,
				"interval '%s' out of range (use 1h to 24h)",
				token(*p, tok, sizeof(tok)));
	if (unit == 'm' && (n < 5 || n > 1440))
		return bad_spec(err, spec,
				"interval '%s' out of range (use 5m to 1440m: "
				"a backup needs a few minutes of its own)",
				token(*p, tok, sizeof(tok)));
	*minutes = unit == 'h' ? n * 60 : n;
	*p = q + 1;
	return 0;
}

static int parse_every(struct sp_schedule *s, const char **p, const char *spec,
		       struct sp_error *err)
{
	const char *q;
	char w[8];
	unsigned span;
	int r;

	skip_ws(p);
	r = parse_interval(p, &s->every_min, spec, err);
	if (r < 0)
		return r;
	/* Without "from ... for ...": all day, from midnight. */
	q = *p;
	skip_ws(&q);
	if (!read_word(&q, w, sizeof(w)) || strcmp(w, "from") != 0) {
		for (unsigned m = 0; m < 1440; m += s->every_min) {
			r = add_time(s, (int)m, spec, err);
			if (r < 0)
				return r;
		}
		return 0;
	}
	r = expect_word(p, "from", spec, err);
	if (r < 0)
		return r;
	skip_ws(p);
	r = parse_time(p, &s->from, spec, err);
	if (r < 0)
		return r;
	r = expect_word(p, "for", spec, err);
	if (r < 0)
		return r;
	skip_ws(p);
	r = parse_hours(p, &s->for_h, "span", spec, err);
	if (r < 0)
		return r;
	/* The span's end is included: from 08:00 for 12h runs at 20:00. */
	span = s->for_h * 60;
	for (unsigned k = 0; k * s->every_min <= span; k++) {
		r = add_time(s, (s->from + (int)(k * s->every_min)) % 1440,
			     spec, err);
		if (r < 0)
			return r;
	}
	return 0;
}

static int parse_spec(struct sp_schedule *s, const char *spec,
		      struct sp_error *err)
{
	const char *p = spec, *start;
	char kind[16], tok[24];
	int r;

	skip_ws(&p);
	if (!*p)
		return sp_error_set(err, SP_E_USAGE, "empty schedule (%s)",
				    SPEC_HELP);
	start = p;
	if (!read_word(&p, kind, sizeof(kind)))
		kind[0] = '\0';
	if (strcmp(kind, "daily") == 0) {
		s->kind = SCHED_DAILY;
		r = parse_daily(s, &p, spec, err);
	} else if (strcmp(kind, "weekly") == 0) {
		s->kind = SCHED_WEEKLY;
		r = parse_weekly(s, &p, spec, err);
	} else if (strcmp(kind, "every") == 0) {
		s->kind = SCHED_EVERY;
		r = parse_every(s, &p, spec, err);
	} else {
		return bad_spec(err, spec, "unknown kind '%s' (%s)",
				token(start, tok, sizeof(tok)), SPEC_HELP);
	}
	if (r < 0)
		return r;
	skip_ws(&p);
	if (*p)
		return bad_spec(err, spec, "unexpected '%s' at the end (%s)",
				token(p, tok, sizeof(tok)), SPEC_HELP);
	return 0;
}

static int window_pos(const struct sp_schedule *s, int t)
{
	return ((t - s->win_start) % 1440 + 1440) % 1440;
}

static int parse_window(struct sp_schedule *s, const char *window,
			const char *spec, struct sp_error *err)
{
	const char *p = window;
	int start, end;

	skip_ws(&p);
	if (read_time(&p, &start) != TIME_OK)
		goto out_bad;
	skip_ws(&p);
	if (*p != '-')
		goto out_bad;
	p++;
	skip_ws(&p);
	if (read_time(&p, &end) != TIME_OK)
		goto out_bad;
	skip_ws(&p);
	if (*p)
		goto out_bad;
	if (start == end)
		return sp_error_set(err, SP_E_USAGE,
				    "window '%.40s' is empty (give an end "
				    "other than its start, e.g. 22:00-02:00)",
				    window);
	s->has_window = true;
	s->win_start = start;
	s->win_len = ((end - start) % 1440 + 1440) % 1440;
	for (size_t i = 0; i < s->ntimes; i++)
		if (window_pos(s, s->times[i]) >= s->win_len)
			return sp_error_set(
			    err, SP_E_USAGE,
			    "window '%.40s' does not contain %02d:%02d of "
			    "schedule '%.100s' (widen the window or move the "
			    "time; the end is excluded)",
			    window, s->times[i] / 60, s->times[i] % 60, spec);
	return 0;
out_bad:
	return sp_error_set(err, SP_E_USAGE,
			    "bad window '%.40s' (write HH:MM-HH:MM, e.g. "
			    "22:00-02:00)",
			    window);
}

int sp_schedule_parse(const char *spec, const char *window, const char *tz,
		      struct sp_schedule **ret, struct sp_error *err)
{
	sp_autoptr(sp_schedule) struct sp_schedule *s = NULL;
	int r;

	if (!spec)
		spec = "";
	r = sp_zone_check(tz, err);
	if (r < 0)
		return r;
	s = calloc(1, sizeof(*s));
	if (!s)
		return sp_error_set(err, SP_E_NOMEM,
				    "cannot parse schedule '%.100s': out of "
				    "memory (free memory on the host)",
				    spec);
	r = parse_spec(s, spec, err);
	if (r < 0)
		return r;
	if (window && *window) {
		r = parse_window(s, window, spec, err);
		if (r < 0)
			return r;
	}
	if (tz && *tz) {
		s->tz = strdup(tz);
		if (!s->tz)
			return sp_error_set(err, SP_E_NOMEM,
					    "cannot parse schedule '%.100s': "
					    "out of memory (free memory on "
					    "the host)",
					    spec);
	}
	*ret = sp_steal_ptr(&s);
	return 0;
}

void sp_schedule_free(struct sp_schedule *s)
{
	if (!s)
		return;
	free(s->tz);
	free(s);
}

const char *sp_schedule_tz(const struct sp_schedule *s)
{
	return s->tz ? s->tz : "";
}

/* FNV-1a, then murmur3's finaliser: FNV alone leaves the high bits of
 * names that differ only in their last byte too alike. */
static uint64_t vm_hash(const char *vm)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (const unsigned char *p = (const unsigned char *)vm; *p; p++) {
		h ^= *p;
		h *= 0x100000001b3ULL;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* The VM's starts, seconds after the local midnight of their day,
 * ascending (invariant 5). */
static size_t vm_starts(const struct sp_schedule *s, const char *vm, int64_t *w)
{
	uint64_t frac = vm_hash(vm ? vm : "") >> 32; /* [0, 2^32) */

	for (size_t i = 0; i < s->ntimes; i++) {
		int p, end;
		uint64_t slot;

		w[i] = (int64_t)s->times[i] * 60;
		if (!s->has_window)
			continue;
		p = window_pos(s, s->times[i]);
		end = s->win_len;
		for (size_t j = 0; j < s->ntimes; j++) {
			int q = window_pos(s, s->times[j]);
			if (q > p && q < end)
				end = q;
		}
		slot = (uint64_t)(end - p) * 60;
		w[i] += (int64_t)((frac * slot) >> 32);
	}
	qsort(w, s->ntimes, sizeof(w[0]), cmp_i64);
	return s->ntimes;
}

int sp_schedule_next(const struct sp_schedule *s, const char *vm, int64_t after,
		     int64_t *next, struct sp_error *err)
{
	int64_t w[SP_SCHEDULE_MAX_TIMES], best = INT64_MAX, best_day = 0;
	int64_t day0, t;
	struct sp_zone_scope z;
	struct tm tm;
	size_t n;
	int r;

	if (after < SP_ZONE_TIME_MIN || after > SP_ZONE_TIME_MAX - 10 * 86400)
		return sp_error_set(err, SP_E_USAGE,
				    "time %lld out of range (give a time in "
				    "the years 1 to 9998)",
				    (long long)after);
	n = vm_starts(s, vm, w);
	r = sp_zone_enter(s->tz, &z, err);
	if (r < 0)
		return r;
	if (!sp_zone_localtime_in(after, &tm)) {
		sp_zone_leave(&z);
		return sp_error_set(err, SP_E_INTERNAL,
				    "cannot convert %lld to local time in "
				    "'%s' (report a bug)",
				    (long long)after, sp_schedule_tz(s));
	}
	day0 = sp_days_from_civil(tm.tm_year + 1900LL, (unsigned)tm.tm_mon + 1,
				  (unsigned)tm.tm_mday);
	/* A start of the day before may fall after midnight (a window
	 * crossing it); a weekly schedule's next day is at most 7 days on.
	 * Starts of day d lie before those of day d + 2 (invariants 4, 5). */
	for (int64_t day = day0 - 1; day <= day0 + 8; day++) {
		if (best != INT64_MAX && day > best_day + 1)
			break;
		if (s->kind == SCHED_WEEKLY &&
		    !(s->days & 1u << sp_days_weekday(day)))
			continue;
		for (size_t i = 0; i < n; i++) {
			t = sp_zone_utc_in(day * 86400 + w[i]);
			if (t <= after)
				continue;
			if (t < best) {
				best = t;
				best_day = day;
			}
			break;
		}
	}
	sp_zone_leave(&z);
	if (best == INT64_MAX)
		return sp_error_set(err, SP_E_INTERNAL,
				    "no start found for schedule in '%s' after "
				    "%lld (report a bug)",
				    sp_schedule_tz(s), (long long)after);
	*next = best;
	return 0;
}

static size_t put(char *buf, size_t len, size_t at, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Append at @at like snprintf(), returning the new full length. */
static size_t put(char *buf, size_t len, size_t at, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(at < len ? buf + at : NULL, at < len ? len - at : 0, fmt,
		      ap);
	va_end(ap);
	return at + (n > 0 ? (size_t)n : 0);
}

int sp_schedule_describe(const struct sp_schedule *s, char *buf, size_t len)
{
	size_t at = 0;
	const char *sep = "";

	if (len)
		buf[0] = '\0';
	switch (s->kind) {
	case SCHED_DAILY:
		at = put(buf, len, at, "daily ");
		for (size_t i = 0; i < s->ntimes; i++, sep = ",")
			at = put(buf, len, at, "%s%02d:%02d", sep,
				 s->times[i] / 60, s->times[i] % 60);
		break;
	case SCHED_WEEKLY:
		at = put(buf, len, at, "weekly ");
		for (unsigned d = 0; d < 7; d++)
			if (s->days & 1u << d) {
				at = put(buf, len, at, "%s%s", sep,
					 day_names[d]);
				sep = ",";
			}
		at = put(buf, len, at, " %02d:%02d", s->times[0] / 60,
			 s->times[0] % 60);
		break;
	case SCHED_EVERY:
		if (s->every_min % 60)
			at = put(buf, len, at, "every %um", s->every_min);
		else
			at = put(buf, len, at, "every %uh", s->every_min / 60);
		if (s->for_h)
			at = put(buf, len, at, " from %02d:%02d for %uh",
				 s->from / 60, s->from % 60, s->for_h);
		break;
	}
	return (int)at;
}

int sp_schedule_describe_window(const struct sp_schedule *s, char *buf,
				size_t len)
{
	int end = (s->win_start + s->win_len) % 1440;

	if (!s->has_window)
		return snprintf(buf, len, "%s", "");
	return snprintf(buf, len, "%02d:%02d-%02d:%02d", s->win_start / 60,
			s->win_start % 60, end / 60, end % 60);
}

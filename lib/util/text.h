/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Small text helpers: hex, RFC 3339 times, sizes, names.  No allocation. */
#ifndef SP_UTIL_TEXT_H
#define SP_UTIL_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Lowercase hex of @len bytes into @out (2*len+1 bytes). */
void sp_hex_encode(const uint8_t *in, size_t len, char *out);
/* Parse exactly 2*@len hex digits; returns false on any other input. */
bool sp_hex_decode(const char *in, uint8_t *out, size_t len);
/* @bytes (at most 32) random bytes as 2 * @bytes hex digits and a NUL in
 * @out: names and ids that must not collide, not secrets. */
void sp_random_hex(char *out, size_t bytes);

/* "2026-11-22T15:01:02Z" (UTC) into @out (>= 21 bytes). */
void sp_time_rfc3339(time_t t, char *out, size_t outlen);
/* "2026-11-22T15:01:02.123Z": with milliseconds, so that points taken
 * within one second still sort in order. */
void sp_time_rfc3339_ms(const struct timespec *ts, char *out, size_t outlen);
/* Milliseconds on CLOCK_MONOTONIC / CLOCK_REALTIME. */
uint64_t sp_now_mono_ms(void);
uint64_t sp_now_mono_ns(void);

/* "1.5 GiB"-style rendering into @out. */
void sp_format_bytes(uint64_t bytes, char *out, size_t outlen);
/* Parse "4194304", "4M", "4MiB", "1G"...  Returns false on bad input. */
bool sp_parse_size(const char *s, uint64_t *out);

/* *@out = a copy of @s, or NULL when @s is NULL.  False: out of memory. */
bool sp_strdup_opt(const char *s, char **out);

/* VM names and point ids: [A-Za-z0-9._-]{1,64}, not starting with '.'. */
bool sp_name_is_valid(const char *name);

#endif

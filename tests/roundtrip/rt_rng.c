// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Deterministic pseudo-random numbers for plans and disk contents:
 * xoshiro256** seeded through splitmix64, so a seed means the same bytes on
 * every machine and every run.
 */
#include <string.h>

#include "rt.h"

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

void rt_rng_seed(struct rt_rng *r, uint64_t seed)
{
	for (int i = 0; i < 4; i++)
		r->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

uint64_t rt_rng_next(struct rt_rng *r)
{
	uint64_t *s = r->s;
	uint64_t out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return out;
}

uint64_t rt_rng_below(struct rt_rng *r, uint64_t n)
{
	uint64_t limit, x;

	if (n == 0) /* an empty disk has no offset but 0 */
		return 0;
	/* Rejection keeps it uniform; the loop almost never repeats. */
	limit = UINT64_MAX - UINT64_MAX % n;
	do
		x = rt_rng_next(r);
	while (x >= limit);
	return x % n;
}

uint64_t rt_rng_range(struct rt_rng *r, uint64_t lo, uint64_t hi)
{
	if (hi <= lo)
		return lo;
	if (hi - lo == UINT64_MAX)
		return rt_rng_next(r);
	return lo + rt_rng_below(r, hi - lo + 1);
}

bool rt_rng_chance(struct rt_rng *r, unsigned percent)
{
	return rt_rng_below(r, 100) < percent;
}

uint64_t rt_rng_pick(struct rt_rng *r, const uint64_t *v, size_t n)
{
	return v[rt_rng_below(r, n)];
}

void rt_rng_fill(struct rt_rng *r, void *buf, size_t len)
{
	unsigned char *p = buf;

	while (len >= 8) {
		uint64_t x = rt_rng_next(r);
		memcpy(p, &x, 8);
		p += 8;
		len -= 8;
	}
	if (len) {
		uint64_t x = rt_rng_next(r);
		memcpy(p, &x, len);
	}
}

// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The lab workload's record format, shared by the guest writer (workload.c)
 * and the host checker (records_check.c).  A record is 512 bytes, written
 * with one write() and fsync()ed: a magic, the sequence number, the write
 * time, the disk's index, a payload derived from the sequence, and a CRC-32
 * (IEEE) of everything before it.  All fields are little-endian.
 */
#ifndef SP_LAB_RECORD_H
#define SP_LAB_RECORD_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define REC_SIZE 512
#define REC_MAGIC 0x31434552u /* "REC1" */
#define REC_OFF_MAGIC 0
#define REC_OFF_DISK 4
#define REC_OFF_SEQ 8
#define REC_OFF_TIME 16
#define REC_OFF_PAYLOAD 24
#define REC_OFF_CRC (REC_SIZE - 4)

static inline uint32_t rec_crc32(const unsigned char *p, size_t n)
{
	uint32_t c = 0xffffffffu;

	while (n--) {
		c ^= *p++;
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0xedb88320u & -(c & 1));
	}
	return ~c;
}

static inline void rec_put32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static inline void rec_put64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static inline uint32_t rec_get32(const unsigned char *p)
{
	uint32_t v = 0;

	for (int i = 3; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static inline uint64_t rec_get64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

/* The payload is a function of the sequence, so the checker can verify it
 * beyond the CRC. */
static inline void rec_payload(unsigned char *p, uint64_t seq)
{
	uint64_t x = seq * 0x9e3779b97f4a7c15ull + 1;

	for (size_t i = 0; i < REC_OFF_CRC - REC_OFF_PAYLOAD; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = (unsigned char)x;
	}
}

static inline void rec_build(unsigned char *r, uint32_t disk, uint64_t seq,
			     uint64_t time_ns)
{
	memset(r, 0, REC_SIZE);
	rec_put32(r + REC_OFF_MAGIC, REC_MAGIC);
	rec_put32(r + REC_OFF_DISK, disk);
	rec_put64(r + REC_OFF_SEQ, seq);
	rec_put64(r + REC_OFF_TIME, time_ns);
	rec_payload(r + REC_OFF_PAYLOAD, seq);
	rec_put32(r + REC_OFF_CRC, rec_crc32(r, REC_OFF_CRC));
}

/* Whether r is an intact record (magic, CRC and payload). */
static inline int rec_valid(const unsigned char *r)
{
	unsigned char p[REC_OFF_CRC - REC_OFF_PAYLOAD];

	if (rec_get32(r + REC_OFF_MAGIC) != REC_MAGIC)
		return 0;
	if (rec_get32(r + REC_OFF_CRC) != rec_crc32(r, REC_OFF_CRC))
		return 0;
	rec_payload(p, rec_get64(r + REC_OFF_SEQ));
	return memcmp(p, r + REC_OFF_PAYLOAD, sizeof(p)) == 0;
}

#endif

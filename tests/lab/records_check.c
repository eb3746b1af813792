// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Host-side checker for the lab workload's records file (record.h): every
 * record must be intact (magic, CRC, payload), belong to one disk and follow
 * its predecessor's sequence number.  A clean end prints the last sequence
 * number on stdout and exits 0.  A torn end — a partial record, or a final
 * record that is zeros or garbage (the file grew but the data did not land)
 * — and a corrupt or out-of-order record anywhere are reported on stderr
 * with exit 1; I/O and usage errors exit 2.  With -p, stdout also gets
 * the longest pause between consecutive records in milliseconds (by their
 * write times): how long a freeze held the workload.
 * Usage: records_check [-p] FILE
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "record.h"

static int all_zero(const unsigned char *p, size_t n)
{
	while (n--)
		if (*p++)
			return 0;
	return 1;
}

int main(int argc, char **argv)
{
	unsigned char r[REC_SIZE], next[REC_SIZE];
	uint64_t nrec = 0, first = 0, prev = 0, seq, t, prev_t = 0;
	uint64_t pause = 0, pause_at = 0;
	uint32_t disk = 0;
	int pauses = 0, opt;
	size_t n, m;
	FILE *f;

	while ((opt = getopt(argc, argv, "p")) != -1) {
		if (opt != 'p')
			goto usage;
		pauses = 1;
	}
	if (argc - optind != 1)
		goto usage;
	argv += optind - 1;
	f = fopen(argv[1], "rb");
	if (!f) {
		fprintf(stderr, "records_check: %s: %s\n", argv[1],
			strerror(errno));
		return 2;
	}
	n = fread(r, 1, REC_SIZE, f);
	for (;;) {
		if (n == 0)
			break;
		if (n < REC_SIZE) {
			fprintf(stderr,
				"records_check: %s: torn end: %zu trailing "
				"bytes after record %llu\n",
				argv[1], n, (unsigned long long)prev);
			return 1;
		}
		m = fread(next, 1, REC_SIZE, f);
		if (!rec_valid(r)) {
			fprintf(stderr,
				"records_check: %s: %s record at offset %llu "
				"(after record %llu)\n",
				argv[1],
				m			? "corrupt"
				: all_zero(r, REC_SIZE) ? "torn end: zeroed"
							: "torn end: garbled",
				(unsigned long long)(nrec * REC_SIZE),
				(unsigned long long)prev);
			return 1;
		}
		seq = rec_get64(r + REC_OFF_SEQ);
		if (nrec == 0) {
			first = seq;
			disk = rec_get32(r + REC_OFF_DISK);
		} else if (seq != prev + 1) {
			fprintf(stderr,
				"records_check: %s: record %llu follows %llu\n",
				argv[1], (unsigned long long)seq,
				(unsigned long long)prev);
			return 1;
		} else if (rec_get32(r + REC_OFF_DISK) != disk) {
			fprintf(stderr,
				"records_check: %s: record %llu is for disk "
				"%u, not %u\n",
				argv[1], (unsigned long long)seq,
				rec_get32(r + REC_OFF_DISK), disk);
			return 1;
		}
		t = rec_get64(r + REC_OFF_TIME);
		if (nrec > 0 && t > prev_t && t - prev_t > pause) {
			pause = t - prev_t;
			pause_at = seq;
		}
		prev_t = t;
		prev = seq;
		nrec++;
		memcpy(r, next, m);
		n = m;
	}
	if (ferror(f)) {
		fprintf(stderr, "records_check: %s: read error\n", argv[1]);
		return 2;
	}
	if (nrec == 0) {
		fprintf(stderr, "records_check: %s: no records\n", argv[1]);
		return 1;
	}
	fprintf(stderr,
		"records_check: %s: %llu records %llu..%llu, clean end; "
		"longest pause %llu ms before record %llu\n",
		argv[1], (unsigned long long)nrec, (unsigned long long)first,
		(unsigned long long)prev, (unsigned long long)(pause / 1000000),
		(unsigned long long)pause_at);
	printf("%llu\n", (unsigned long long)prev);
	if (pauses)
		printf("%llu\n", (unsigned long long)(pause / 1000000));
	return 0;
usage:
	fprintf(stderr, "usage: records_check [-p] FILE\n");
	return 2;
}

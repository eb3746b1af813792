// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The lab guest's workload: appends numbered 512-byte records (record.h) to
 * DIR/records for every DIR given, in order — record N to the first disk,
 * then to the second, ... — each with one write() and an fsync(), one
 * sequence every -i milliseconds (10 by default).  A crash-consistent
 * backup of all disks therefore holds, on each disk, an unbroken run of
 * intact records whose last sequence numbers differ by at most one.
 * Restarted on existing files (a restored guest), it drops a torn tail and
 * continues after the highest sequence, first filling lagging disks.
 * SIGTERM or SIGINT stops it after a complete sequence.
 * Usage: workload [-i MS] [-n COUNT] DIR...
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "record.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void put_record(int fd, const char *path, uint32_t disk, uint64_t seq)
{
	unsigned char r[REC_SIZE];
	ssize_t n;

	rec_build(r, disk, seq, now_ns());
	do
		n = write(fd, r, sizeof(r));
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)sizeof(r)) {
		fprintf(stderr, "workload: %s: write of record %llu: %s\n",
			path, (unsigned long long)seq,
			n < 0 ? strerror(errno) : "short write");
		exit(1);
	}
	while (fsync(fd) != 0) {
		if (errno != EINTR) {
			fprintf(stderr, "workload: %s: fsync: %s\n", path,
				strerror(errno));
			exit(1);
		}
	}
}

/* Open DIR/records, cut a torn tail, and return the last sequence in it
 * (0 when empty or when its last record is not intact). */
static int open_records(const char *dir, char **path, uint64_t *last)
{
	unsigned char r[REC_SIZE];
	struct stat st;
	int fd;

	if (asprintf(path, "%s/records", dir) < 0)
		exit(1);
	fd = open(*path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0 || fstat(fd, &st) != 0) {
		fprintf(stderr, "workload: %s: %s\n", *path, strerror(errno));
		exit(1);
	}
	*last = 0;
	if (st.st_size % REC_SIZE) {
		fprintf(stderr, "workload: %s: dropping %lld torn bytes\n",
			*path, (long long)(st.st_size % REC_SIZE));
		st.st_size -= st.st_size % REC_SIZE;
		if (ftruncate(fd, st.st_size) != 0)
			exit(1);
	}
	if (st.st_size >= REC_SIZE &&
	    pread(fd, r, sizeof(r), st.st_size - REC_SIZE) == REC_SIZE &&
	    rec_valid(r))
		*last = rec_get64(r + REC_OFF_SEQ);
	return fd;
}

int main(int argc, char **argv)
{
	long interval_ms = 10, count = -1;
	uint64_t start = 0, seq, *last;
	struct sigaction sa = {.sa_handler = on_signal};
	struct timespec next;
	char **path;
	int opt, ndisks, *fd;

	while ((opt = getopt(argc, argv, "i:n:")) != -1) {
		switch (opt) {
		case 'i':
			interval_ms = strtol(optarg, NULL, 10);
			break;
		case 'n':
			count = strtol(optarg, NULL, 10);
			break;
		default:
			goto usage;
		}
	}
	ndisks = argc - optind;
	if (ndisks < 1 || interval_ms < 0)
		goto usage;
	fd = calloc((size_t)ndisks, sizeof(*fd));
	path = calloc((size_t)ndisks, sizeof(*path));
	last = calloc((size_t)ndisks, sizeof(*last));
	if (!fd || !path || !last)
		return 1;
	for (int i = 0; i < ndisks; i++) {
		fd[i] = open_records(argv[optind + i], &path[i], &last[i]);
		if (last[i] > start)
			start = last[i];
	}
	for (int i = 0; i < ndisks; i++)
		for (seq = last[i] + 1; seq <= start; seq++)
			put_record(fd[i], path[i], (uint32_t)i, seq);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	fprintf(stderr,
		"workload: %d disk(s), from record %llu, every %ld ms\n",
		ndisks, (unsigned long long)start + 1, interval_ms);
	clock_gettime(CLOCK_MONOTONIC, &next);
	for (seq = start + 1; !stop && count != 0; seq++, count--) {
		for (int i = 0; i < ndisks; i++)
			put_record(fd[i], path[i], (uint32_t)i, seq);
		next.tv_nsec += interval_ms * 1000000;
		while (next.tv_nsec >= 1000000000) {
			next.tv_nsec -= 1000000000;
			next.tv_sec++;
		}
		/* Fall behind without bursts when a freeze held us up. */
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec > next.tv_sec ||
		    (now.tv_sec == next.tv_sec && now.tv_nsec > next.tv_nsec))
			next = now;
		while (!stop && clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME,
						&next, NULL) == EINTR)
			;
	}
	fprintf(stderr, "workload: stopped after record %llu\n",
		(unsigned long long)seq - 1);
	return 0;
usage:
	fprintf(stderr, "usage: workload [-i MS] [-n COUNT] DIR...\n");
	return 2;
}

// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * s3probe: a command-line driver of lib/storage/s3_client for the
 * integration tests (not installed).  Credentials come from the AWS_*
 * environment, like the product's.
 *
 *   s3probe [--endpoint URL] [--ca FILE] [--stats] s3://BUCKET[/PREFIX] CMD
 *   CMD: open | put KEY FILE [create] [retain UNIX [MODE]] | get KEY [MAX]
 *        | range KEY OFF LEN | head KEY | list [PREFIX [DELIM]]
 *        | delete KEY | copy FROM TO | probe | many N PREFIX THREADS
 *
 * Data goes to stdout.  Exit 0 on success, 3 for an absent object (-ENOENT),
 * 4 for an existing one (-EEXIST), 1 with "s3probe: CODE: message" on
 * stderr for any other error, 2 for bad usage.  --stats prints the request
 * counters to stderr at the end.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/s3_client.h"
#include "util/fileio.h"

#include <fcntl.h>

static int usage(void)
{
	fprintf(stderr, "usage: s3probe [--endpoint URL] [--ca FILE] "
			"[--stats] s3://BUCKET[/PREFIX] CMD ARGS...\n");
	return 2;
}

static int report(int r, const struct sp_error *err)
{
	if (r == 0)
		return 0;
	if (r == -ENOENT) {
		fprintf(stderr, "s3probe: absent\n");
		return 3;
	}
	if (r == -EEXIST) {
		fprintf(stderr, "s3probe: exists\n");
		return 4;
	}
	fprintf(stderr, "s3probe: %s: %s\n", sp_errcode_name(err->code),
		err->msg);
	return 1;
}

static int print_entry(void *ctx, const char *key, bool is_prefix,
		       uint64_t size, int64_t mtime)
{
	if (is_prefix)
		printf("P %s\n", key);
	else
		printf("K %s %" PRIu64 " %" PRId64 "\n", key, size, mtime);
	return 0;
}

struct many {
	struct sp_s3 *s3;
	const char *prefix;
	long n, next;
	pthread_mutex_t lock;
	int rc;
	struct sp_error err;
};

static void *many_worker(void *u)
{
	struct many *m = u;
	char key[512], body[64];

	for (;;) {
		struct sp_error err = {0};
		long i;
		int r;

		pthread_mutex_lock(&m->lock);
		i = m->rc ? m->n : m->next++;
		pthread_mutex_unlock(&m->lock);
		if (i >= m->n)
			return NULL;
		snprintf(key, sizeof(key), "%s%05ld", m->prefix, i);
		snprintf(body, sizeof(body), "object %ld", i);
		r = sp_s3_put(m->s3, key, body, strlen(body), NULL, &err);
		if (r < 0) {
			pthread_mutex_lock(&m->lock);
			if (!m->rc) {
				m->rc = r;
				m->err = err;
			}
			pthread_mutex_unlock(&m->lock);
		}
	}
}

static int cmd_many(struct sp_s3 *s3, long n, const char *prefix, int threads,
		    struct sp_error *err)
{
	struct many m = {.s3 = s3, .prefix = prefix, .n = n};
	pthread_t tid[64];

	if (threads < 1 || threads > 64)
		return sp_error_set(err, SP_E_USAGE, "1-64 threads");
	pthread_mutex_init(&m.lock, NULL);
	for (int i = 0; i < threads; i++)
		pthread_create(&tid[i], NULL, many_worker, &m);
	for (int i = 0; i < threads; i++)
		pthread_join(tid[i], NULL);
	pthread_mutex_destroy(&m.lock);
	if (m.rc)
		*err = m.err;
	return m.rc;
}

static int run(struct sp_s3 *s3, int argc, char **argv, struct sp_error *err)
{
	const char *cmd = argv[0];

	if (!strcmp(cmd, "open"))
		return 0;
	if (!strcmp(cmd, "put") && argc >= 3) {
		struct sp_s3_put_opts o = {0};
		char *data = NULL;
		size_t len = 0;
		int r;

		for (int i = 3; i < argc; i++) {
			if (!strcmp(argv[i], "create"))
				o.flags |= SP_S3_IF_NONE_MATCH;
			else if (!strcmp(argv[i], "retain") && i + 1 < argc)
				o.retain_until = strtoll(argv[++i], NULL, 10);
			else
				o.lock_mode = argv[i];
		}
		if (sp_file_read(AT_FDCWD, argv[2], 1 << 30, &data, &len) < 0)
			return sp_error_set(err, SP_E_USAGE, "cannot read %s",
					    argv[2]);
		r = sp_s3_put(s3, argv[1], data, len, &o, err);
		free(data);
		return r;
	}
	if (!strcmp(cmd, "get") && argc >= 2) {
		void *data = NULL;
		size_t len = 0;
		size_t max = argc > 2 ? strtoull(argv[2], NULL, 10) : 1 << 30;
		int r = sp_s3_get(s3, argv[1], max, &data, &len, err);
		if (r == 0)
			fwrite(data, 1, len, stdout);
		free(data);
		return r;
	}
	if (!strcmp(cmd, "range") && argc >= 4) {
		uint64_t off = strtoull(argv[2], NULL, 10);
		size_t len = strtoull(argv[3], NULL, 10), got = 0;
		char *buf = malloc(len ? len : 1);
		int r;

		if (!buf)
			return sp_error_set(err, SP_E_NOMEM, "out of memory");
		r = sp_s3_get_range(s3, argv[1], off, len, buf, &got, err);
		if (r == 0)
			fwrite(buf, 1, got, stdout);
		free(buf);
		return r;
	}
	if (!strcmp(cmd, "head") && argc >= 2) {
		uint64_t size = 0;
		int64_t mtime = 0;
		int r = sp_s3_head(s3, argv[1], &size, &mtime, err);
		if (r == 0)
			printf("%" PRIu64 " %" PRId64 "\n", size, mtime);
		return r;
	}
	if (!strcmp(cmd, "list"))
		return sp_s3_list(s3, argc > 1 ? argv[1] : NULL,
				  argc > 2 ? argv[2] : NULL, print_entry, NULL,
				  err);
	if (!strcmp(cmd, "delete") && argc >= 2)
		return sp_s3_delete(s3, argv[1], err);
	if (!strcmp(cmd, "copy") && argc >= 3)
		return sp_s3_copy(s3, argv[1], argv[2], err);
	if (!strcmp(cmd, "probe")) {
		bool cond = false, lock = false;
		int r = sp_s3_probe(s3, &cond, &lock, err);
		if (r == 0)
			printf("conditional_put=%s object_lock=%s\n",
			       cond ? "true" : "false",
			       lock ? "true" : "false");
		return r;
	}
	if (!strcmp(cmd, "many") && argc >= 4)
		return cmd_many(s3, strtol(argv[1], NULL, 10), argv[2],
				atoi(argv[3]), err);
	return sp_error_set(err, SP_E_USAGE, "unknown command or arguments");
}

int main(int argc, char **argv)
{
	const char *endpoint = NULL, *ca = NULL;
	struct sp_s3_config cfg = {0};
	struct sp_error err = {0};
	struct sp_s3 *s3 = NULL;
	bool stats = false;
	int i = 1, r;

	for (; i < argc && !strncmp(argv[i], "--", 2); i++) {
		if (!strcmp(argv[i], "--endpoint") && i + 1 < argc)
			endpoint = argv[++i];
		else if (!strcmp(argv[i], "--ca") && i + 1 < argc)
			ca = argv[++i];
		else if (!strcmp(argv[i], "--stats"))
			stats = true;
		else
			return usage();
	}
	if (argc - i < 2)
		return usage();
	r = sp_s3_config_from_url(argv[i], endpoint, ca, &cfg, &err);
	if (r == 0) {
		r = sp_s3_open(&cfg, &s3, &err);
		sp_s3_config_release(&cfg);
	}
	if (r == 0)
		r = run(s3, argc - i - 1, argv + i + 1, &err);
	if (s3 && stats) {
		struct sp_s3_stats st;
		sp_s3_stats_get(s3, &st);
		fprintf(stderr,
			"stats requests=%" PRIu64 " puts=%" PRIu64
			" gets=%" PRIu64 " heads=%" PRIu64 " lists=%" PRIu64
			" deletes=%" PRIu64 " copies=%" PRIu64
			" retries=%" PRIu64 " bytes_up=%" PRIu64
			" bytes_down=%" PRIu64 "\n",
			st.requests, st.puts, st.gets, st.heads, st.lists,
			st.deletes, st.copies, st.retries, st.bytes_up,
			st.bytes_down);
	}
	sp_s3_close(s3);
	fflush(stdout);
	return report(r, &err);
}

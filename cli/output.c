// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Output of the command line: errors (once, with code and action), JSON,
 * and the progress line.  stdout carries only primary output; everything
 * else goes to stderr.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <time.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static bool progress_drawn;
/* The command line's options, for the errors that are not given them. */
static const struct cli *out_cli;

void cli_output_init(const struct cli *cli)
{
	out_cli = cli;
}

int cli_fail(const struct cli *cli, const struct sp_error *err)
{
	const struct sp_errcode_info *info = sp_errcode_lookup(err->code);

	cli_progress_done();
	if (cli && cli->json) {
		json_t *j = json_pack("{s:{s:s, s:i, s:s, s:s}}", "error",
				      "code", info->name, "number",
				      sp_errcode_number(err->code), "message",
				      err->msg, "action", info->action);
		char *s = json_dumps(j, JSON_INDENT(2));
		if (s)
			fprintf(stderr, "%s\n", s);
		free(s);
		json_decref(j);
	} else {
		fprintf(stderr, "stillpoint: error: %s\n", err->msg);
		fprintf(stderr, "stillpoint: %s (SP%d): %s\n", info->name,
			sp_errcode_number(err->code), info->action);
	}
	if (err->code == SP_E_USAGE)
		return EXIT_USAGE;
	if (err->code == SP_E_POINT_DAMAGED || err->code == SP_E_POINT_DIFFERS)
		return EXIT_DAMAGED;
	return 1;
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
	char msg[SP_ERROR_MSG_MAX], action[128];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(action, sizeof(action), "see 'stillpoint%s%s --help'",
		 cmd ? " " : "", cmd ? cmd : "");
	if (out_cli && out_cli->json) {
		json_t *j = json_pack("{s:{s:s, s:i, s:s, s:s}}", "error",
				      "code", sp_errcode_name(SP_E_USAGE),
				      "number", sp_errcode_number(SP_E_USAGE),
				      "message", msg, "action", action);
		char *s = j ? json_dumps(j, JSON_INDENT(2)) : NULL;
		if (s)
			fprintf(stderr, "%s\n", s);
		free(s);
		json_decref(j);
		return EXIT_USAGE;
	}
	fprintf(stderr, "stillpoint%s%s: %s\n", cmd ? " " : "", cmd ? cmd : "",
		msg);
	fprintf(stderr, "stillpoint: UsageError (SP%d): %s\n",
		sp_errcode_number(SP_E_USAGE), action);
	return EXIT_USAGE;
}

void cli_print_json(json_t *v)
{
	char *s = json_dumps(v, JSON_INDENT(2));

	if (s)
		printf("%s\n", s);
	free(s);
	json_decref(v);
}

static void draw_progress(void *ctx, const struct sp_progress *p)
{
	const uint64_t *start = ctx;
	char done[32], total[32], rate[32];
	uint64_t now_ms;
	struct timespec ts;
	double secs, bps;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	now_ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	secs = (double)(now_ms - *start) / 1000.0;
	bps = secs > 0 ? (double)p->done / secs : 0;
	if (!strcmp(p->what, "verify")) {
		snprintf(done, sizeof(done), "%llu",
			 (unsigned long long)p->done);
		snprintf(total, sizeof(total), "%llu chunks",
			 (unsigned long long)p->total);
		sp_format_bytes(
		    (uint64_t)((double)p->bytes_read / (secs > 0 ? secs : 1)),
		    rate, sizeof(rate));
	} else {
		sp_format_bytes(p->done, done, sizeof(done));
		sp_format_bytes(p->total, total, sizeof(total));
		sp_format_bytes((uint64_t)bps, rate, sizeof(rate));
	}
	double frac = p->total ? (double)p->done / (double)p->total : 0;
	double eta = frac > 0 && frac < 1 ? secs / frac - secs : 0;
	char item[64];
	size_t n = 0;

	/* Items may be guest file names: no control bytes reach the
	 * terminal. */
	for (const char *c = p->item ? p->item : ""; *c && n < 63; c++)
		item[n++] = (unsigned char)*c < 0x20 || *c == 0x7f ? '?' : *c;
	item[n] = 0;
	if (!p->total) {
		fprintf(stderr, "\r\033[K%s %s: %s  %s/s", p->what, item, done,
			rate);
		progress_drawn = true;
		return;
	}
	fprintf(stderr, "\r\033[K%s %s: %s / %s (%3.0f%%)  %s/s  ETA %02d:%02d",
		p->what, item, done, total, frac * 100, rate, (int)eta / 60,
		(int)eta % 60);
	progress_drawn = true;
}

void cli_progress_done(void)
{
	if (progress_drawn) {
		fputc('\n', stderr);
		progress_drawn = false;
	}
}

void cli_job_opts(const struct cli *cli, struct sp_job_opts *o)
{
	static uint64_t start_ms;
	struct timespec ts;
	bool show = cli->progress == 1 || (cli->progress == -1 && !cli->quiet &&
					   isatty(STDERR_FILENO));

	memset(o, 0, sizeof(*o));
	o->threads = cli->threads;
	o->cancel = cli->cancel;
	if (show) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		start_ms =
		    (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
		o->progress = draw_progress;
		o->progress_ctx = &start_ms;
	}
}

bool cli_wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--"))
			return false;
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
			return true;
	}
	return false;
}

void cli_print_read_mode(json_t *d, const char *indent)
{
	const char *mode = json_string_value(json_object_get(d, "read_mode"));
	const char *why = json_string_value(json_object_get(d, "read_reason"));

	if (!mode)
		return;
	printf("%s%s read %s%s%s\n", indent,
	       json_string_value(json_object_get(d, "name")), mode,
	       why ? ": " : "", why ? why : "");
}

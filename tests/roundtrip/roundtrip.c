// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * sp-roundtrip: campaigns of generated round trips through `stillpoint`.
 *
 *   sp-roundtrip --seed 2500 --cases 500 --mix raw=8,qcow2=2,loop=1
 *   sp-roundtrip --case qcow2:2517 --keep        # replay one case
 *
 * Case i of a campaign is KIND:(SEED+i), its kind dealt from the mix by a
 * smooth weighted round robin.  Each case runs in a process of its own (a
 * crash fails that case, not the campaign), --jobs at a time.  A failing
 * case prints its description, what differed, and the command that
 * replays it.  Exit 0 when every case passed (or was skipped), 1 when one
 * failed, 2 on a usage error.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "rt.h"

#define MAX_SINGLE 64
#define MAX_JOBS 32

struct opts {
	const char *sp;
	const char *prog; /* how replay lines name this program */
	uint64_t seed;
	bool seed_set;
	long cases; /* -1: as many as --seconds allow */
	double seconds;
	unsigned weight[RT_KIND_COUNT];
	int jobs;
	const char *work, *scratch, *vault_base;
	bool keep, keep_failed, list;
	int nsingle;
	enum rt_kind single_kind[MAX_SINGLE];
	uint64_t single_seed[MAX_SINGLE];
};

struct slot {
	pid_t pid;
	enum rt_kind kind;
	uint64_t seed;
	char dir[RT_PATH], scratch[RT_PATH], report[RT_PATH];
	double t0;
};

struct totals {
	long run[RT_KIND_COUNT], failed, skipped;
	double secs[RT_KIND_COUNT];
	struct rt_stats stats;
};

static const char usage[] =
    "usage: sp-roundtrip [options]\n"
    "  --stillpoint PATH  the binary under test (default $SP, else\n"
    "                     build/stillpoint)\n"
    "  --case KIND:SEED   run this case (repeatable); KIND is raw, qcow2\n"
    "                     or loop\n"
    "  --seed N           first seed of a campaign (default: random)\n"
    "  --cases N          cases in the campaign (default 100)\n"
    "  --seconds S        start no case after S seconds\n"
    "  --mix K=W,...      weights of the kinds (default raw=8,qcow2=2,"
    "loop=1)\n"
    "  --jobs N           cases at once (default: the number of CPUs)\n"
    "  --work DIR         where cases keep their files (default $TMPDIR,\n"
    "                     else /var/tmp)\n"
    "  --scratch DIR      where their vaults, reference copies and\n"
    "                     restores go (default: with the sources; a\n"
    "                     tmpfs spares the fsyncs)\n"
    "  --vault-base URL   put each case's vault under URL (an\n"
    "                     s3://BUCKET/PREFIX), not in its scratch\n"
    "  --keep             keep every case's files\n"
    "  --keep-failed      keep the files of failing cases\n"
    "  --list             print the cases' plans, run nothing\n"
    "  --replay-as PROG   how replay lines name this program\n"
    "  -v, --verbose      echo every command\n";

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int parse_case(const char *s, enum rt_kind *kind, uint64_t *seed)
{
	char name[16], *end;
	const char *colon = strchr(s, ':');

	if (!colon || (size_t)(colon - s) >= sizeof(name))
		return -1;
	memcpy(name, s, (size_t)(colon - s));
	name[colon - s] = '\0';
	errno = 0;
	*seed = strtoull(colon + 1, &end, 10);
	if (errno || *end || end == colon + 1)
		return -1;
	return rt_kind_parse(name, kind);
}

static int parse_mix(const char *s, unsigned weight[RT_KIND_COUNT])
{
	char *copy = strdup(s), *save = NULL, *tok;
	int r = 0;

	if (!copy)
		return -1;
	memset(weight, 0, sizeof(unsigned) * RT_KIND_COUNT);
	for (tok = strtok_r(copy, ",", &save); tok && r == 0;
	     tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');
		enum rt_kind k;
		if (!eq) {
			r = -1;
			break;
		}
		*eq = '\0';
		if (rt_kind_parse(tok, &k) < 0)
			r = -1;
		else
			weight[k] = (unsigned)strtoul(eq + 1, NULL, 10);
	}
	free(copy);
	return r;
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
	    {"stillpoint", required_argument, NULL, 'S'},
	    {"case", required_argument, NULL, 'c'},
	    {"seed", required_argument, NULL, 's'},
	    {"cases", required_argument, NULL, 'n'},
	    {"seconds", required_argument, NULL, 't'},
	    {"mix", required_argument, NULL, 'm'},
	    {"jobs", required_argument, NULL, 'j'},
	    {"work", required_argument, NULL, 'w'},
	    {"scratch", required_argument, NULL, 'V'},
	    {"vault-base", required_argument, NULL, 'B'},
	    {"keep", no_argument, NULL, 'k'},
	    {"keep-failed", no_argument, NULL, 'K'},
	    {"list", no_argument, NULL, 'l'},
	    {"replay-as", required_argument, NULL, 'R'},
	    {"verbose", no_argument, NULL, 'v'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int ch;

	o->cases = -1;
	o->prog = argv[0];
	o->weight[RT_KIND_RAW] = 8;
	o->weight[RT_KIND_QCOW2] = 2;
	o->weight[RT_KIND_LOOP] = 1;
	o->jobs = (int)sysconf(_SC_NPROCESSORS_ONLN);
	while ((ch = getopt_long(argc, argv, "vh", lo, NULL)) != -1) {
		switch (ch) {
		case 'S':
			o->sp = optarg;
			break;
		case 'c':
			if (o->nsingle == MAX_SINGLE ||
			    parse_case(optarg, &o->single_kind[o->nsingle],
				       &o->single_seed[o->nsingle]) < 0) {
				fprintf(stderr,
					"sp-roundtrip: bad --case '%s' "
					"(want KIND:SEED)\n",
					optarg);
				return -1;
			}
			o->nsingle++;
			break;
		case 's':
			o->seed = strtoull(optarg, NULL, 10);
			o->seed_set = true;
			break;
		case 'n':
			o->cases = strtol(optarg, NULL, 10);
			break;
		case 't':
			o->seconds = strtod(optarg, NULL);
			break;
		case 'm':
			if (parse_mix(optarg, o->weight) < 0) {
				fprintf(stderr,
					"sp-roundtrip: bad --mix '%s'\n",
					optarg);
				return -1;
			}
			break;
		case 'j':
			o->jobs = atoi(optarg);
			break;
		case 'w':
			o->work = optarg;
			break;
		case 'V':
			o->scratch = optarg;
			break;
		case 'B':
			o->vault_base = optarg;
			break;
		case 'k':
			o->keep = true;
			break;
		case 'K':
			o->keep_failed = true;
			break;
		case 'l':
			o->list = true;
			break;
		case 'R':
			o->prog = optarg;
			break;
		case 'v':
			rt_verbose = true;
			break;
		case 'h':
			fputs(usage, stdout);
			exit(0);
		default:
			fputs(usage, stderr);
			return -1;
		}
	}
	if (optind != argc) {
		fputs(usage, stderr);
		return -1;
	}
	if (o->jobs < 1)
		o->jobs = 1;
	if (o->jobs > MAX_JOBS)
		o->jobs = MAX_JOBS;
	if (o->cases < 0 && o->seconds <= 0)
		o->cases = 100;
	return 0;
}

/* ---- the environment ---------------------------------------------------- */

static bool runs(const char *prog, const char *arg, FILE *log)
{
	struct rt_argv a = {0};
	bool ok;

	rt_argv_add(&a, "%s", prog);
	rt_argv_add(&a, "%s", arg);
	ok = rt_run(&a, log, NULL, NULL, 30) == 0;
	rt_argv_free(&a);
	return ok;
}

/* Does `backup --help` offer --disk PATH[:FORMAT]? */
static bool can_declare_format(const char *sp, const char *dir, FILE *log)
{
	struct rt_argv a = {0};
	char out[RT_PATH], line[512];
	bool yes = false;
	FILE *f;

	rt_path(out, sizeof(out), "%s/backup-help.txt", dir);
	rt_argv_add(&a, "%s", sp);
	rt_argv_add(&a, "backup");
	rt_argv_add(&a, "--help");
	if (rt_run(&a, log, NULL, out, 30) == 0 && (f = fopen(out, "re"))) {
		while (fgets(line, sizeof(line), f))
			if (strstr(line, ":FORMAT"))
				yes = true;
		fclose(f);
	}
	rt_argv_free(&a);
	unlink(out);
	return yes;
}

static int setup_env(const struct opts *o, const char *work, struct rt_env *env)
{
	char path[RT_PATH];
	FILE *log;

	rt_path(path, sizeof(path), "%s/probe.log", work);
	log = fopen(path, "we");
	if (!log)
		return -1;
	env->timeout_s = 300;
	env->vault_base = o->vault_base;
	env->keep_all = o->keep;
	if (!runs(env->sp, "--version", log)) {
		fprintf(stderr, "sp-roundtrip: cannot run %s\n", env->sp);
		fclose(log);
		return -1;
	}
	if (!runs("qemu-img", "--version", log) ||
	    !runs("qemu-io", "--version", log)) {
		fprintf(stderr, "sp-roundtrip: needs qemu-img and qemu-io "
				"(qemu-utils)\n");
		fclose(log);
		return -1;
	}
	env->declare_format = can_declare_format(env->sp, work, log);
	env->loop_ok = geteuid() == 0 &&
		       access("/dev/loop-control", F_OK) == 0 &&
		       runs("losetup", "--version", log);
	fclose(log);
	unlink(path);
	return 0;
}

/* ---- one case in a child ------------------------------------------------ */

static int start_case(const struct opts *o, const struct rt_env *env,
		      const char *work, const char *scratch, struct slot *s)
{
	const char *k = rt_kind_name(s->kind);

	rt_path(s->dir, sizeof(s->dir), "%s/%s-%" PRIu64, work, k, s->seed);
	rt_path(s->scratch, sizeof(s->scratch), "%s/%s-%" PRIu64 ".scratch",
		scratch, k, s->seed);
	rt_path(s->report, sizeof(s->report), "%s/%s-%" PRIu64 ".report", work,
		k, s->seed);
	s->t0 = now_s();
	fflush(stdout);
	fflush(stderr);
	s->pid = fork();
	if (s->pid < 0)
		return -1;
	if (s->pid == 0) {
		FILE *rep = fopen(s->report, "we");
		int r;
		if (!rep)
			_exit(1);
		r = rt_case_run(env, s->kind, s->seed, s->dir, s->scratch, rep);
		fclose(rep);
		_exit(r);
	}
	return 0;
}

/* Print a case's report, adding its "#stats" line to @st. */
static void read_report(const char *path, bool print, struct rt_stats *st)
{
	char line[1200];
	FILE *f = fopen(path, "re");

	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		struct rt_stats s = {0};
		if (sscanf(line, "#stats %ld %ld %ld %ld %ld %" SCNu64,
			   &s.points, &s.twins, &s.restores, &s.loop_restores,
			   &s.disks_compared, &s.bytes_compared) == 6) {
			st->points += s.points;
			st->twins += s.twins;
			st->restores += s.restores;
			st->loop_restores += s.loop_restores;
			st->disks_compared += s.disks_compared;
			st->bytes_compared += s.bytes_compared;
		} else if (print) {
			fputs(line, stdout);
		}
	}
	fclose(f);
}

static void finish_case(const struct opts *o, const struct rt_env *env,
			struct slot *s, int status, struct totals *t)
{
	int rc = WIFEXITED(status) ? WEXITSTATUS(status) : 1;
	bool failed = rc != 0 && rc != 77, keep;
	char summary[512];

	t->run[s->kind]++;
	t->secs[s->kind] += now_s() - s->t0;
	keep = o->keep || (failed && (o->keep_failed || o->nsingle));
	if (rc == 77) {
		t->skipped++;
		if (o->nsingle)
			printf("skip %s:%" PRIu64 "\n", rt_kind_name(s->kind),
			       s->seed);
		read_report(s->report, o->nsingle, &t->stats);
	} else if (failed) {
		struct rt_plan p;
		t->failed++;
		rt_plan_make(s->kind, s->seed, &p);
		rt_plan_summary(&p, summary, sizeof(summary));
		printf("FAIL %s\n", summary);
		if (WIFSIGNALED(status))
			printf("  the case crashed (signal %d)\n",
			       WTERMSIG(status));
		read_report(s->report, true, &t->stats);
		if (o->nsingle) {
			printf("  plan:\n");
			rt_plan_print(&p, stdout, "    ");
		}
		printf("  replay: %s --stillpoint %s --case %s:%" PRIu64
		       " --keep\n",
		       o->prog, env->sp, rt_kind_name(s->kind), s->seed);
		if (keep)
			printf("  files: %s (log case.log), %s (vault, "
			       "references)\n",
			       s->dir, s->scratch);
	} else {
		if (o->nsingle)
			printf("ok   %s:%" PRIu64 "\n", rt_kind_name(s->kind),
			       s->seed);
		read_report(s->report, false, &t->stats);
	}
	unlink(s->report);
	if (!keep) {
		rt_rm_rf(s->dir);
		rt_rm_rf(s->scratch);
	} else if (!failed) {
		printf("  files: %s, %s\n", s->dir, s->scratch);
	}
	fflush(stdout);
	s->pid = 0;
}

/* ---- the campaign ------------------------------------------------------- */

/* Smooth weighted round robin: kinds interleaved in proportion. */
static enum rt_kind next_kind(const unsigned weight[RT_KIND_COUNT],
			      long current[RT_KIND_COUNT])
{
	long total = 0;
	int best = -1;

	for (int k = 0; k < RT_KIND_COUNT; k++) {
		current[k] += weight[k];
		total += weight[k];
		if (weight[k] && (best < 0 || current[k] > current[best]))
			best = k;
	}
	current[best] -= total;
	return (enum rt_kind)best;
}

/* The i-th case of the campaign (or of the --case list). */
static void case_at(const struct opts *o, long i, long current[],
		    struct slot *s)
{
	if (o->nsingle) {
		s->kind = o->single_kind[i];
		s->seed = o->single_seed[i];
	} else {
		s->kind = next_kind(o->weight, current);
		s->seed = o->seed + (uint64_t)i;
	}
}

static void list_cases(const struct opts *o, long n)
{
	long current[RT_KIND_COUNT] = {0};
	char summary[512];

	for (long i = 0; i < n; i++) {
		struct slot s;
		struct rt_plan p;
		case_at(o, i, current, &s);
		rt_plan_make(s.kind, s.seed, &p);
		rt_plan_summary(&p, summary, sizeof(summary));
		printf("%s\n", summary);
		rt_plan_print(&p, stdout, "  ");
	}
}

static int make_dir(const char *base, char *out, size_t size)
{
	rt_path(out, size, "%s/sp-roundtrip-XXXXXX", base);
	if (!mkdtemp(out)) {
		fprintf(stderr,
			"sp-roundtrip: cannot create a directory in "
			"%s: %s\n",
			base, strerror(errno));
		return -1;
	}
	return 0;
}

static int campaign(const struct opts *o, struct rt_env *env)
{
	long n = o->nsingle ? o->nsingle : o->cases, started = 0, running = 0;
	long finished = 0;
	long current[RT_KIND_COUNT] = {0};
	struct slot slots[MAX_JOBS] = {0};
	struct totals t = {0};
	char work[RT_PATH], scratch[RT_PATH];
	const char *base = o->work ? o->work : getenv("TMPDIR");
	double t0 = now_s();

	if (make_dir(base ? base : "/var/tmp", work, sizeof(work)) < 0)
		return 1;
	if (o->scratch) {
		if (make_dir(o->scratch, scratch, sizeof(scratch)) < 0)
			return 1;
	} else {
		rt_path(scratch, sizeof(scratch), "%s", work);
	}
	if (setup_env(o, work, env) < 0)
		return 1;
	if (!o->nsingle)
		printf("sp-roundtrip: seed %" PRIu64 ", mix raw=%u,qcow2=%u,"
		       "loop=%u, %d jobs%s%s\n",
		       o->seed, o->weight[RT_KIND_RAW],
		       o->weight[RT_KIND_QCOW2], o->weight[RT_KIND_LOOP],
		       o->jobs, env->declare_format ? ", formats declared" : "",
		       env->loop_ok ? "" : ", no loop devices");
	fflush(stdout);
	for (;;) {
		int status;
		pid_t pid;
		while (running < o->jobs && (n < 0 || started < n) &&
		       (o->seconds <= 0 || now_s() - t0 < o->seconds)) {
			struct slot *s = NULL;
			for (int j = 0; j < o->jobs; j++)
				if (!slots[j].pid) {
					s = &slots[j];
					break;
				}
			case_at(o, started, current, s);
			if (start_case(o, env, work, scratch, s) < 0) {
				perror("sp-roundtrip: fork");
				return 1;
			}
			started++;
			running++;
		}
		if (running == 0)
			break;
		pid = wait(&status);
		if (pid < 0)
			break;
		for (int j = 0; j < o->jobs; j++)
			if (slots[j].pid == pid) {
				finish_case(o, env, &slots[j], status, &t);
				running--;
				finished++;
				if (!o->nsingle && finished % 100 == 0)
					printf("... %ld cases, %ld failed, "
					       "%.0f s\n",
					       finished, t.failed,
					       now_s() - t0);
			}
	}
	if (!o->keep && !(t.failed && (o->keep_failed || o->nsingle))) {
		rt_rm_rf(work);
		if (o->scratch)
			rt_rm_rf(scratch);
	}
	printf("sp-roundtrip: %ld cases (raw %ld in %.1f s, qcow2 %ld in "
	       "%.1f s, loop %ld in %.1f s), %ld failed, %ld skipped, %.1f s",
	       started, t.run[RT_KIND_RAW], t.secs[RT_KIND_RAW],
	       t.run[RT_KIND_QCOW2], t.secs[RT_KIND_QCOW2], t.run[RT_KIND_LOOP],
	       t.secs[RT_KIND_LOOP], t.failed, t.skipped, now_s() - t0);
	if (!o->nsingle)
		printf(", seed %" PRIu64, o->seed);
	printf("\nsp-roundtrip: %ld points (%ld twins), %ld restores (%ld onto "
	       "loop devices), %ld disks compared, %.1f GiB\n",
	       t.stats.points, t.stats.twins, t.stats.restores,
	       t.stats.loop_restores, t.stats.disks_compared,
	       (double)t.stats.bytes_compared / (1024.0 * 1024 * 1024));
	return t.failed ? 1 : 0;
}

int main(int argc, char **argv)
{
	struct opts o = {0};
	struct rt_env env = {0};
	char *sp_abs = NULL;
	int r;

	if (parse_opts(argc, argv, &o) < 0)
		return 2;
	if (!o.seed_set && !o.nsingle &&
	    getrandom(&o.seed, sizeof(o.seed), 0) != sizeof(o.seed))
		o.seed = (uint64_t)time(NULL);
	if (!o.seed_set)
		o.seed %= 1000000000; /* short enough to type */
	if (o.list) {
		list_cases(&o, o.nsingle ? o.nsingle
					 : (o.cases > 0 ? o.cases : 100));
		return 0;
	}
	env.sp = o.sp ? o.sp : getenv("SP");
	if (!env.sp)
		env.sp = "build/stillpoint";
	/* Absolute, so that replay lines work from anywhere. */
	sp_abs = realpath(env.sp, NULL);
	if (sp_abs)
		env.sp = sp_abs;
	signal(SIGPIPE, SIG_IGN);
	r = campaign(&o, &env);
	free(sp_abs);
	return r;
}

// SPDX-License-Identifier: LGPL-2.1-or-later
/* Writer settings and host hooks: a good file is parsed with its defaults
 * filled; every bad key or value is refused with WriterConfigInvalid
 * naming the key; a settings file or script anyone but root could change
 * is refused; hooks run with their arguments and environment only, fail,
 * time out (their whole process group killed) and retry as documented. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "harness.h"
#include "util/spawn.h"
#include "util/text.h"
#include "writer/writer_config.h"
#include "writer/writer_host.h"

#define NOBODY 65534

static bool is_root(void)
{
	return geteuid() == 0;
}

static struct sp_writer_config *parse(const char *json, struct sp_error *err)
{
	struct sp_writer_config *c = NULL;

	if (sp_writer_config_parse(json, strlen(json), "t.json", &c, err) < 0)
		return NULL;
	return c;
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");

	if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
		perror(path);
		exit(99);
	}
	if (chmod(path, mode) < 0) {
		perror(path);
		exit(99);
	}
}

/* A directory under the test's temp dir, with @mode exactly. */
static const char *mkdir_mode(const char *name, mode_t mode)
{
	static char paths[8][512];
	static int next;
	char *p = paths[next++ % 8];

	snprintf(p, 512, "%s/%s", sp_test_tmpdir(), name);
	if ((mkdir(p, 0700) < 0 && errno != EEXIST) || chmod(p, mode) < 0) {
		perror(p);
		exit(99);
	}
	return p;
}

static void test_defaults(void)
{
	struct sp_writer_config *c = NULL;
	struct sp_error err;

	CHECK_OK(sp_writer_config_default(&c, &err), &err);
	CHECK(c->fsfreeze);
	CHECK_INT(c->freeze_deadline_ms, 10000);
	CHECK_INT(c->require, SP_CONSISTENCY_CRASH);
	CHECK(!c->pause_fallback);
	CHECK_STR(c->backup_type, "full");
	CHECK_INT(c->nwriters, 0);
	sp_writer_config_free(c);

	c = parse("{}", &err);
	CHECK(c != NULL);
	if (c) {
		CHECK(c->fsfreeze);
		CHECK_INT(c->freeze_deadline_ms, 10000);
		CHECK_STR(c->backup_type, "full");
		CHECK(!c->skip_shared_disks);
		CHECK_INT(c->nwriters, 0);
	}
	sp_writer_config_free(c);
}

#define ONE(body) "{\"writers\": [{" body "}]}"
#define W(extra)                                                               \
	ONE("\"name\": \"pg\", \"where\": \"guest\", \"pre\": \"/p\"" extra)
#define NAMED(n) ONE("\"name\": " n ", \"where\": \"guest\", \"pre\": \"/p\"")
#define N64 "0123456789abcdef0123456789ABCDEF0123456789abcdef0123456789-._xyz"

static void test_parse_good(void)
{
	static const char json[] =
	    "{ \"fsfreeze\": false, \"freeze_deadline_s\": 30,"
	    "  \"require\": \"application\", \"pause_fallback\": true,"
	    "  \"backup_type\": \"copy\", \"shared_disks\": \"skip\","
	    "  \"writers\": ["
	    "    { \"name\": \"postgres\", \"where\": \"guest\","
	    "      \"pre\": \"/etc/stillpoint/pg-pre.sh\","
	    "      \"pre_args\": [\"main\", \"--fast\"],"
	    "      \"post\": \"/etc/stillpoint/pg-post.sh\", \"post_args\": [],"
	    "      \"timeout_s\": 120, \"retries\": 2,"
	    "      \"continue_on_failure\": false },"
	    "    { \"name\": \"lb-drain_1.x\", \"where\": \"host\","
	    "      \"post\": \"/usr/local/sbin/undrain\" } ] }";
	struct sp_writer_config *c;
	struct sp_writer_def *w;
	struct sp_error err;

	c = parse(json, &err);
	CHECK(c != NULL);
	if (!c) {
		fprintf(stderr, "%s\n", err.msg);
		return;
	}
	CHECK(!c->fsfreeze);
	CHECK_INT(c->freeze_deadline_ms, 30000);
	CHECK_INT(c->require, SP_CONSISTENCY_APPLICATION);
	CHECK(c->pause_fallback);
	CHECK_STR(c->backup_type, "copy");
	CHECK(c->skip_shared_disks);
	CHECK_INT(c->nwriters, 2);
	w = &c->writers[0];
	CHECK_STR(w->name, "postgres");
	CHECK_INT(w->where, SP_WRITER_GUEST);
	CHECK_STR(w->pre, "/etc/stillpoint/pg-pre.sh");
	CHECK_STR(w->pre_args[0], "main");
	CHECK_STR(w->pre_args[1], "--fast");
	CHECK(w->pre_args[2] == NULL);
	CHECK_STR(w->post, "/etc/stillpoint/pg-post.sh");
	CHECK(w->post_args && !w->post_args[0]);
	CHECK_INT(w->timeout_s, 120);
	CHECK_INT(w->retries, 2);
	CHECK(!w->continue_on_failure);
	/* the second one: defaults filled */
	w = &c->writers[1];
	CHECK_STR(w->name, "lb-drain_1.x");
	CHECK_INT(w->where, SP_WRITER_HOST);
	CHECK(w->pre == NULL);
	CHECK(w->pre_args && !w->pre_args[0]);
	CHECK(w->post_args && !w->post_args[0]);
	CHECK_INT(w->timeout_s, 60);
	CHECK_INT(w->retries, 0);
	CHECK(w->continue_on_failure);
	sp_writer_config_free(c);

	/* the edges of every range are accepted */
	c = parse("{\"freeze_deadline_s\": 60, \"writers\": [{\"name\": \"a\","
		  "\"where\": \"host\", \"pre\": \"/a\", \"timeout_s\": 3600,"
		  "\"retries\": 10}, {\"name\": \"b\", \"where\": \"host\","
		  "\"pre\": \"/b\", \"timeout_s\": 1}]}",
		  &err);
	CHECK(c != NULL);
	if (c) {
		CHECK_INT(c->freeze_deadline_ms, 60000);
		CHECK_INT(c->writers[0].timeout_s, 3600);
		CHECK_INT(c->writers[0].retries, 10);
		CHECK_INT(c->writers[1].timeout_s, 1);
	}
	sp_writer_config_free(c);
	c = parse(NAMED("\"" N64 "\""), &err);
	CHECK(c && strlen(c->writers[0].name) == 64);
	sp_writer_config_free(c);
	c = parse("{\"freeze_deadline_s\": 1, \"require\": \"file-system\"}",
		  &err);
	CHECK(c && c->freeze_deadline_ms == 1000 &&
	      c->require == SP_CONSISTENCY_FILE_SYSTEM);
	sp_writer_config_free(c);
}

static void test_parse_bad(void)
{
	static const struct {
		const char *json, *key; /* key: quoted in the message */
	} cases[] = {
	    {"{\"fsfreez\": true}", "'fsfreez'"},
	    {"{\"fsfreeze\": \"yes\"}", "'fsfreeze'"},
	    {"{\"fsfreeze\": 1}", "'fsfreeze'"},
	    {"{\"freeze_deadline_s\": 0}", "'freeze_deadline_s'"},
	    {"{\"freeze_deadline_s\": 61}", "'freeze_deadline_s'"},
	    {"{\"freeze_deadline_s\": 1.5}", "'freeze_deadline_s'"},
	    {"{\"freeze_deadline_s\": \"10\"}", "'freeze_deadline_s'"},
	    {"{\"require\": \"app\"}", "'require'"},
	    {"{\"require\": 2}", "'require'"},
	    {"{\"pause_fallback\": null}", "'pause_fallback'"},
	    {"{\"backup_type\": \"incremental\"}", "'backup_type'"},
	    {"{\"shared_disks\": \"sometimes\"}", "'shared_disks'"},
	    {"{\"shared_disks\": true}", "'shared_disks'"},
	    {"{\"writers\": {}}", "'writers'"},
	    {"{\"writers\": [42]}", "'writers[0]'"},
	    {W(", \"prex\": \"/x\""), "'writers[0].prex'"},
	    {ONE("\"where\": \"guest\", \"pre\": \"/p\""), "'writers[0].name'"},
	    {NAMED("\"a b\""), "'writers[0].name'"},
	    {NAMED("\"\""), "'writers[0].name'"},
	    {NAMED("\"a/b\""), "'writers[0].name'"},
	    {NAMED("\"" N64 "a\""), "'writers[0].name'"},
	    {"{\"writers\": [{\"name\": \"pg\", \"where\": \"guest\", "
	     "\"pre\": \"/p\"}, {\"name\": \"pg\", \"where\": \"host\", "
	     "\"post\": \"/q\"}]}",
	     "'writers[1].name'"},
	    {ONE("\"name\": \"pg\", \"pre\": \"/p\""), "'writers[0].where'"},
	    {ONE("\"name\": \"pg\", \"where\": \"vm\", \"pre\": \"/p\""),
	     "'writers[0].where'"},
	    {ONE("\"name\": \"pg\", \"where\": \"guest\", \"pre\": \"p.sh\""),
	     "'writers[0].pre'"},
	    {ONE("\"name\": \"pg\", \"where\": \"guest\", \"pre\": \"\""),
	     "'writers[0].pre'"},
	    {ONE("\"name\": \"pg\", \"where\": \"guest\""), "'writers[0].pre'"},
	    {W(", \"post\": 5"), "'writers[0].post'"},
	    {W(", \"post\": \"./post\""), "'writers[0].post'"},
	    {W(", \"pre_args\": \"-x\""), "'writers[0].pre_args'"},
	    {W(", \"pre_args\": [1]"), "'writers[0].pre_args'"},
	    {W(", \"post_args\": [null]"), "'writers[0].post_args'"},
	    {W(", \"timeout_s\": 0"), "'writers[0].timeout_s'"},
	    {W(", \"timeout_s\": 3601"), "'writers[0].timeout_s'"},
	    {W(", \"timeout_s\": -1"), "'writers[0].timeout_s'"},
	    {W(", \"timeout_s\": 4294967357"), "'writers[0].timeout_s'"},
	    {W(", \"retries\": 11"), "'writers[0].retries'"},
	    {W(", \"retries\": true"), "'writers[0].retries'"},
	    {W(", \"continue_on_failure\": \"no\""),
	     "'writers[0].continue_on_failure'"},
	    /* not keys: the whole file is named */
	    {"[]", "'t.json'"},
	    {"{\"fsfreeze\": true,}", "'t.json'"},
	    {"{\"fsfreeze\": true, \"fsfreeze\": false}", "'t.json'"},
	    {"", "'t.json'"},
	};
	struct sp_writer_config *c = NULL;
	struct sp_error err;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int r = sp_writer_config_parse(
		    cases[i].json, strlen(cases[i].json), "t.json", &c, &err);
		if (r != SP_E_WRITER_CONFIG || !strstr(err.msg, cases[i].key)) {
			fprintf(stderr,
				"case %zu %s: got %d \"%s\", wanted "
				"WriterConfigInvalid naming %s\n",
				i, cases[i].json, r, r ? err.msg : "",
				cases[i].key);
			sp_test_failures++;
		}
		if (r == 0)
			sp_writer_config_free(c);
	}
	/* a NUL inside the text is not the end of it */
	CHECK_INT(sp_writer_config_parse("{}\0{", 4, "t.json", &c, &err),
		  SP_E_WRITER_CONFIG);
}

static void test_consistency_names(void)
{
	for (int i = SP_CONSISTENCY_CRASH; i <= SP_CONSISTENCY_APPLICATION; i++)
		CHECK_INT(sp_consistency_parse(
			      sp_consistency_name((enum sp_consistency)i)),
			  i);
	CHECK_STR(sp_consistency_name(SP_CONSISTENCY_FILE_SYSTEM),
		  "file-system");
	CHECK_INT(sp_consistency_parse("application"),
		  SP_CONSISTENCY_APPLICATION);
	CHECK_INT(sp_consistency_parse("Application"), -1);
	CHECK_INT(sp_consistency_parse(""), -1);
	CHECK_INT(sp_consistency_parse(NULL), -1);
}

static int load(const char *path, struct sp_error *err)
{
	struct sp_writer_config *c = NULL;
	int r = sp_writer_config_load(path, &c, err);

	sp_writer_config_free(c);
	return r;
}

#define CHECK_MSG(err, s)                                                      \
	do {                                                                   \
		if (!strstr((err).msg, (s))) {                                 \
			fprintf(stderr,                                        \
				"%s:%d: message \"%s\" lacks \"%s\"\n",        \
				__FILE__, __LINE__, (err).msg, (s));           \
			sp_test_failures++;                                    \
		}                                                              \
	} while (0)

static void test_load(void)
{
	const char *dir = mkdir_mode("etc", 0755);
	const char *open_dir = mkdir_mode("open", 0777);
	char path[600], link[600], other[600], fifo[600], bad[600];
	struct sp_error err;

	snprintf(path, sizeof(path), "%s/web01.json", dir);
	write_file(path, "{\"require\": \"file-system\"}", 0644);

	CHECK_INT(load("/nonexistent/x.json", &err), SP_E_WRITER_CONFIG);
	CHECK_MSG(err, "'/nonexistent/x.json'");
	if (!is_root()) {
		/* our own file, not root's */
		CHECK_INT(load(path, &err), SP_E_WRITER_UNSAFE);
		CHECK_MSG(err, "not root");
		fprintf(stderr, "note: not root, owner cases skipped\n");
		return;
	}
	CHECK_OK(load(path, &err), &err);

	chmod(path, 0666);
	CHECK_INT(load(path, &err), SP_E_WRITER_UNSAFE);
	CHECK_MSG(err, path);
	CHECK_MSG(err, "mode 0666");
	CHECK_MSG(err, "writable by group and others");
	chmod(path, 0646);
	CHECK_INT(load(path, &err), SP_E_WRITER_UNSAFE);
	CHECK_MSG(err, "writable by others (mode 0646)");
	chmod(path, 0664);
	CHECK_INT(load(path, &err), SP_E_WRITER_UNSAFE);
	CHECK_MSG(err, "writable by group (mode 0664)");
	chmod(path, 0600);
	CHECK_OK(load(path, &err), &err);

	CHECK(chown(path, NOBODY, NOBODY) == 0);
	CHECK_INT(load(path, &err), SP_E_WRITER_UNSAFE);
	CHECK_MSG(err, "owned by uid 65534 (mode 0600)");
	CHECK(chown(path, 0, 0) == 0);

	/* a symlink, even to a good file in a good directory */
	snprintf(link, sizeof(link), "%s/link.json", dir);
	CHECK(symlink(path, link) == 0);
	CHECK_INT(load(link, &err), SP_E_WRITER_UNSAFE);
	CHECK_MSG(err, "symbolic link");

	/* a good file in a directory anyone can write to */
	snprintf(other, sizeof(other), "%s/web01.json", open_dir);
	write_file(other, "{}", 0644);
	CHECK_INT(load(other, &err), SP_E_WRITER_UNSAFE);
	CHECK_MSG(err, "directory");
	CHECK_MSG(err, "mode 0777");
	chmod(open_dir, 0755);
	CHECK(chown(open_dir, NOBODY, NOBODY) == 0);
	CHECK_INT(load(other, &err), SP_E_WRITER_UNSAFE);
	CHECK_MSG(err, "uid 65534");

	/* not a regular file: refused without blocking on it */
	snprintf(fifo, sizeof(fifo), "%s/fifo.json", dir);
	CHECK(mkfifo(fifo, 0600) == 0);
	CHECK_INT(load(fifo, &err), SP_E_WRITER_UNSAFE);
	CHECK_INT(load(dir, &err), SP_E_WRITER_UNSAFE);

	/* a safe file with bad content names the file and the key */
	snprintf(bad, sizeof(bad), "%s/bad.json", dir);
	write_file(bad, "{\"writers\": [{\"name\": \"x\"}]}", 0644);
	CHECK_INT(load(bad, &err), SP_E_WRITER_CONFIG);
	CHECK_MSG(err, bad);
	CHECK_MSG(err, "'writers[0].where'");
}

static void test_guest_mode(void)
{
	struct sp_error err;

#define GM(path, uid, mode, duid, dmode)                                       \
	sp_writer_check_guest_mode(path, "pg", "pre", uid, mode, duid, dmode,  \
				   &err)
	CHECK_OK(GM("/etc/sp/pre.sh", 0, 0100755, 0, 040755), &err);
	CHECK_OK(GM("/etc/sp/pre.sh", 0, 0100700, 0, 040755), &err);
	CHECK_INT(GM("/etc/sp/pre.sh", 1000, 0100755, 0, 040755),
		  SP_E_WRITER_UNSAFE);
	CHECK_MSG(err, "'/etc/sp/pre.sh'");
	CHECK_MSG(err, "uid 1000");
	CHECK_MSG(err, "writer 'pg'");
	CHECK_INT(GM("/etc/sp/pre.sh", 0, 0100775, 0, 040755),
		  SP_E_WRITER_UNSAFE);
	CHECK_MSG(err, "mode 0775");
	CHECK_INT(GM("/etc/sp/pre.sh", 0, 0100757, 0, 040755),
		  SP_E_WRITER_UNSAFE);
	CHECK_INT(GM("/etc/sp/pre.sh", 0, 0100755, 1000, 040755),
		  SP_E_WRITER_UNSAFE);
	CHECK_MSG(err, "'/etc/sp'");
	CHECK_INT(GM("/tmp/pre.sh", 0, 0100755, 0, 041777), SP_E_WRITER_UNSAFE);
	CHECK_MSG(err, "mode 1777");
	CHECK_INT(GM("/etc/sp/pre.sh", 0, 0100644, 0, 040755),
		  SP_E_WRITER_NOT_FOUND);
	CHECK_INT(GM("/etc/sp", 0, 040755, 0, 040755), SP_E_WRITER_NOT_FOUND);
	CHECK_MSG(err, "not a regular file");
	CHECK_INT(GM("/etc/sp/fifo", 0, 010755, 0, 040755),
		  SP_E_WRITER_NOT_FOUND);
	CHECK_MSG(err, "not a regular file");
	/* Permission bits alone (the type not reported) are not a script. */
	CHECK_INT(GM("/etc/sp/pre.sh", 0, 0755, 0, 040755),
		  SP_E_WRITER_NOT_FOUND);
	CHECK_INT(GM("pre.sh", 0, 0100755, 0, 040755), SP_E_WRITER_UNSAFE);
#undef GM
}

/* --- host hooks -------------------------------------------------------- */

static const char *hooks; /* root-owned, 0755 */

static char *script(const char *name, const char *body)
{
	char *path = NULL;
	char *text = NULL;

	if (asprintf(&path, "%s/%s", hooks, name) < 0 ||
	    asprintf(&text, "#!/bin/sh\n%s\n", body) < 0)
		exit(99);
	write_file(path, text, 0755);
	free(text);
	return path;
}

static struct sp_writer_def def(const char *pre, unsigned timeout_s,
				unsigned retries)
{
	static char *noargs[] = {NULL};

	return (struct sp_writer_def){
	    .name = "pg",
	    .where = SP_WRITER_HOST,
	    .pre = (char *)pre,
	    .pre_args = noargs,
	    .post_args = noargs,
	    .timeout_s = timeout_s,
	    .retries = retries,
	    .continue_on_failure = true,
	};
}

static const struct sp_writer_env env = {.vm = "web01", .backup_type = "copy"};

/* Is any live (not zombie) process still in group @pgid? */
static bool group_alive(long pgid)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	bool alive = false;

	while (d && !alive && (de = readdir(d))) {
		char p[300], buf[512], state;
		long pgrp;
		const char *rp;
		FILE *f;
		size_t n;

		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		snprintf(p, sizeof(p), "/proc/%s/stat", de->d_name);
		f = fopen(p, "r");
		if (!f)
			continue;
		n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		buf[n] = '\0';
		rp = strrchr(buf, ')');
		if (rp && sscanf(rp + 1, " %c %*d %ld", &state, &pgrp) == 2 &&
		    pgrp == pgid && state != 'Z')
			alive = true;
	}
	if (d)
		closedir(d);
	return alive;
}

static long read_long(const char *path)
{
	FILE *f = fopen(path, "r");
	long v = -1;

	if (f) {
		if (fscanf(f, "%ld", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

static void test_host_checks(void)
{
	const char *open_dir = mkdir_mode("open-hooks", 0777);
	char *ok = script("ok.sh", "exit 0");
	char *plain = script("plain.sh", "exit 0");
	char *other = NULL, *link = NULL;
	struct sp_error err;

	CHECK_OK(sp_writer_check_host_script(ok, "pg", "pre", &err), &err);
	CHECK_INT(sp_writer_check_host_script("/nonexistent/pre.sh", "pg",
					      "pre", &err),
		  SP_E_WRITER_NOT_FOUND);
	CHECK_MSG(err, "'/nonexistent/pre.sh'");
	CHECK_MSG(err, "writer 'pg'");
	chmod(plain, 0644);
	CHECK_INT(sp_writer_check_host_script(plain, "pg", "pre", &err),
		  SP_E_WRITER_NOT_FOUND);
	CHECK_MSG(err, "not executable");
	CHECK_INT(sp_writer_check_host_script(hooks, "pg", "pre", &err),
		  SP_E_WRITER_NOT_FOUND);
	chmod(plain, 0775);
	CHECK_INT(sp_writer_check_host_script(plain, "pg", "post", &err),
		  SP_E_WRITER_UNSAFE);
	CHECK_MSG(err, "writable by group (mode 0775)");
	CHECK_MSG(err, "post step");
	chmod(plain, 0755);
	CHECK(chown(plain, NOBODY, NOBODY) == 0);
	CHECK_INT(sp_writer_check_host_script(plain, "pg", "pre", &err),
		  SP_E_WRITER_UNSAFE);
	CHECK_MSG(err, "uid 65534");

	/* a good script in an open directory, directly or behind a link */
	if (asprintf(&other, "%s/x.sh", open_dir) < 0 ||
	    asprintf(&link, "%s/link.sh", hooks) < 0)
		exit(99);
	write_file(other, "#!/bin/sh\nexit 0\n", 0755);
	CHECK_INT(sp_writer_check_host_script(other, "pg", "pre", &err),
		  SP_E_WRITER_UNSAFE);
	CHECK_MSG(err, "mode 0777");
	CHECK(symlink(other, link) == 0);
	CHECK_INT(sp_writer_check_host_script(link, "pg", "pre", &err),
		  SP_E_WRITER_UNSAFE);
	free(ok);
	free(plain);
	free(other);
	free(link);
}

static void test_host_fail(void)
{
	char *s = script("fail.sh", "echo starting\necho 'pg said no' >&2\n"
				    "exit 3");
	char *big = script("big.sh", "i=0; while [ $i -lt 300 ]; do "
				     "echo 0123456789; i=$((i+1)); done\n"
				     "echo THE-END; exit 1");
	char *sig = script("sig.sh", "kill -TERM $$");
	struct sp_writer_def w = def(s, 10, 0);
	struct sp_writer_step_result res;
	struct sp_error err;
	size_t n;

	CHECK_INT(sp_writer_host_run(&w, true, &env, &res, &err),
		  SP_E_WRITER_PRE_FAILED);
	CHECK_INT(res.exit_status, 3);
	CHECK_INT(res.attempts, 1);
	CHECK(!res.timed_out);
	CHECK(strstr(res.output, "starting\n") != NULL);
	CHECK(strstr(res.output, "pg said no") != NULL);
	CHECK_MSG(err, "exit 3");
	CHECK_MSG(err, "pg said no");
	CHECK_MSG(err, "writer 'pg'");
	CHECK_MSG(err, "pre step");

	/* the same as a post step */
	w.post = s;
	CHECK_INT(sp_writer_host_run(&w, false, &env, &res, &err),
		  SP_E_WRITER_POST_FAILED);
	CHECK_MSG(err, "post step");

	/* only the tail of a long output is kept */
	w = def(big, 10, 0);
	CHECK_INT(sp_writer_host_run(&w, true, &env, &res, &err),
		  SP_E_WRITER_PRE_FAILED);
	n = strlen(res.output);
	CHECK_INT(n, SP_WRITER_OUTPUT_MAX - 1);
	CHECK(n > 8 && strcmp(res.output + n - 8, "THE-END\n") == 0);
	CHECK_MSG(err, "THE-END");

	w = def(sig, 10, 0);
	CHECK_INT(sp_writer_host_run(&w, true, &env, &res, &err),
		  SP_E_WRITER_PRE_FAILED);
	CHECK_INT(res.exit_status, -1);
	CHECK_MSG(err, "signal 15");
	free(s);
	free(big);
	free(sig);
}

static void test_host_not_run(void)
{
	char marker[600];
	char *body, *s;
	struct sp_writer_def w;
	struct sp_writer_step_result res;
	struct sp_error err;

	snprintf(marker, sizeof(marker), "%s/ran", hooks);
	if (asprintf(&body, "touch '%s'", marker) < 0)
		exit(99);
	s = script("unsafe.sh", body);
	chmod(s, 0757);
	w = def(s, 10, 0);
	CHECK_INT(sp_writer_host_run(&w, true, &env, &res, &err),
		  SP_E_WRITER_UNSAFE);
	CHECK_INT(res.attempts, 0);
	CHECK(access(marker, F_OK) != 0);

	w.pre = "/nonexistent/pre.sh";
	CHECK_INT(sp_writer_host_run(&w, true, &env, &res, &err),
		  SP_E_WRITER_NOT_FOUND);

	/* no post step: nothing to do, success */
	CHECK_OK(sp_writer_host_run(&w, false, &env, &res, &err), &err);
	CHECK_INT(res.attempts, 0);
	CHECK_INT(res.exit_status, 0);

	/* no '#!': execve() refuses it, and retrying would not help */
	write_file(s, "just text\n", 0755);
	w = def(s, 10, 2);
	CHECK_INT(sp_writer_host_run(&w, true, &env, &res, &err),
		  SP_E_WRITER_PRE_FAILED);
	CHECK_MSG(err, "cannot be executed");
	CHECK_INT(res.attempts, 1);
	free(body);
	free(s);
}

static void test_host_timeout(void)
{
	char pidfile[600];
	char *body, *s;
	struct sp_writer_def w;
	struct sp_writer_step_result res;
	struct sp_error err;
	uint64_t t0, took;
	long pgid;
	int waited = 0;

	/* a background grandchild holding the output pipe, then a sleep */
	snprintf(pidfile, sizeof(pidfile), "%s/timeout.pid", hooks);
	if (asprintf(&body,
		     "echo $$ > '%s'\nsleep 30 &\necho waiting\n"
		     "sleep 30",
		     pidfile) < 0)
		exit(99);
	s = script("slow.sh", body);
	w = def(s, 1, 0);
	t0 = sp_now_mono_ms();
	CHECK_INT(sp_writer_host_run(&w, true, &env, &res, &err),
		  SP_E_WRITER_PRE_TIMEOUT);
	took = sp_now_mono_ms() - t0;
	CHECK(took >= 1000 && took < 2500);
	CHECK(res.timed_out);
	CHECK_INT(res.exit_status, -1);
	CHECK_INT(res.attempts, 1);
	CHECK(strstr(res.output, "waiting") != NULL);
	CHECK_MSG(err, "timed out after 1 s");
	pgid = read_long(pidfile);
	CHECK(pgid > 1);
	/* SIGKILL is delivered asynchronously: allow it a moment */
	while (pgid > 1 && group_alive(pgid) && waited++ < 100)
		usleep(10000);
	CHECK(pgid > 1 && !group_alive(pgid));
	/* and no zombie of ours: we have no child at all */
	CHECK(waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD);

	/* a hook that exits at once but leaves a process holding its
	 * output pipe is not waited for */
	free(body);
	if (asprintf(&body, "echo $$ > '%s'\nsleep 5 &\necho done", pidfile) <
	    0)
		exit(99);
	free(s);
	s = script("slow.sh", body);
	w.pre = s;
	t0 = sp_now_mono_ms();
	CHECK_OK(sp_writer_host_run(&w, true, &env, &res, &err), &err);
	CHECK(sp_now_mono_ms() - t0 < 1000);
	CHECK(strstr(res.output, "done") != NULL);
	pgid = read_long(pidfile);
	if (pgid > 1)
		kill(-(pid_t)pgid, SIGKILL);
	free(body);
	free(s);
}

static void test_host_retries(void)
{
	char counter[600];
	char *s = script("flaky.sh", "n=$(cat \"$1\" 2>/dev/null || echo 0)\n"
				     "n=$((n+1)); echo $n > \"$1\"\n"
				     "echo attempt $STILLPOINT_ATTEMPT\n"
				     "[ $n -ge 3 ]");
	char *args[] = {counter, NULL};
	struct sp_writer_def w = def(s, 10, 2);
	struct sp_writer_step_result res;
	struct sp_error err;

	snprintf(counter, sizeof(counter), "%s/counter", hooks);
	w.pre_args = args;
	CHECK_OK(sp_writer_host_run(&w, true, &env, &res, &err), &err);
	CHECK_INT(res.attempts, 3);
	CHECK_INT(res.exit_status, 0);
	CHECK(strstr(res.output, "attempt 3") != NULL);
	CHECK_INT(read_long(counter), 3);

	/* one retry is not enough: the last attempt's status is kept */
	unlink(counter);
	w.retries = 1;
	CHECK_INT(sp_writer_host_run(&w, true, &env, &res, &err),
		  SP_E_WRITER_PRE_FAILED);
	CHECK_INT(res.attempts, 2);
	CHECK_INT(res.exit_status, 1);
	CHECK_MSG(err, "attempt 2 of 2");
	free(s);
}

static bool file_has_line(const char *path, const char *line)
{
	char buf[4096];
	FILE *f = fopen(path, "r");
	bool found = false;

	while (f && !found && fgets(buf, sizeof(buf), f)) {
		buf[strcspn(buf, "\n")] = '\0';
		found = strcmp(buf, line) == 0;
	}
	if (f)
		fclose(f);
	return found;
}

static void test_host_env_args(void)
{
	char envf[600], argf[600];
	char *s = script("env.sh", "env > \"$1\"\nshift\n"
				   "printf '%s\\n' \"$@\" > \"$1\"\n"
				   "read x && exit 8\n"
				   "[ -e /proc/$$/fd/42 ] && exit 9\n"
				   "exit 0");
	char *args[] = {envf, argf, "two words", "it's $HOME", NULL};
	struct sp_writer_def w = def(s, 10, 0);
	struct sp_writer_step_result res;
	struct sp_error err;
	int fd;

	snprintf(envf, sizeof(envf), "%s/env.out", hooks);
	snprintf(argf, sizeof(argf), "%s/args.out", hooks);
	setenv("SP_TEST_LEAK", "secret", 1);
	/* a descriptor without O_CLOEXEC must not reach the hook */
	fd = open("/dev/null", O_RDONLY);
	CHECK(dup2(fd, 42) == 42);
	w.pre_args = args;
	CHECK_OK(sp_writer_host_run(&w, true, &env, &res, &err), &err);
	close(42);
	close(fd);
	CHECK(file_has_line(envf, "STILLPOINT_VM=web01"));
	CHECK(file_has_line(envf, "STILLPOINT_WRITER=pg"));
	CHECK(file_has_line(envf, "STILLPOINT_STEP=pre"));
	CHECK(file_has_line(envf, "STILLPOINT_BACKUP_TYPE=copy"));
	CHECK(file_has_line(envf, "STILLPOINT_ATTEMPT=1"));
	CHECK(file_has_line(envf, "PATH=" SP_SPAWN_PATH));
	CHECK(!file_has_line(envf, "SP_TEST_LEAK=secret"));
	CHECK(file_has_line(argf, argf));
	CHECK(file_has_line(argf, "two words"));
	CHECK(file_has_line(argf, "it's $HOME"));

	/* the post step says so */
	w.post = s;
	w.post_args = args;
	CHECK_OK(sp_writer_host_run(&w, false, NULL, &res, &err), &err);
	CHECK(file_has_line(envf, "STILLPOINT_STEP=post"));
	CHECK(file_has_line(envf, "STILLPOINT_BACKUP_TYPE=full"));
	free(s);
}

struct job {
	struct sp_writer_def w;
	struct sp_writer_step_result res;
	struct sp_error err;
	int r;
};

static void *job_run(void *arg)
{
	struct job *j = arg;

	j->r = sp_writer_host_run(&j->w, true, &env, &j->res, &j->err);
	return NULL;
}

/* Hooks run from several job threads at once keep their results apart. */
static void test_host_threads(void)
{
	char *ok = script("t-ok.sh", "sleep 0.2; echo fine");
	char *bad = script("t-bad.sh", "sleep 0.2; echo broken; exit 5");
	struct job jobs[4];
	pthread_t th[4];

	for (int i = 0; i < 4; i++) {
		jobs[i] = (struct job){.w = def(i % 2 ? bad : ok, 10, 0)};
		CHECK(pthread_create(&th[i], NULL, job_run, &jobs[i]) == 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		if (i % 2) {
			CHECK_INT(jobs[i].r, SP_E_WRITER_PRE_FAILED);
			CHECK_INT(jobs[i].res.exit_status, 5);
			CHECK_STR(jobs[i].res.output, "broken\n");
		} else {
			CHECK_INT(jobs[i].r, 0);
			CHECK_STR(jobs[i].res.output, "fine\n");
		}
	}
	free(ok);
	free(bad);
}

int main(void)
{
	SP_RUN(test_defaults);
	SP_RUN(test_parse_good);
	SP_RUN(test_parse_bad);
	SP_RUN(test_consistency_names);
	SP_RUN(test_load);
	SP_RUN(test_guest_mode);
	if (!is_root()) {
		fprintf(stderr, "note: not root, host hook tests skipped "
				"(scripts must be root-owned)\n");
		SP_TEST_EXIT();
	}
	hooks = mkdir_mode("hooks", 0755);
	SP_RUN(test_host_checks);
	SP_RUN(test_host_fail);
	SP_RUN(test_host_not_run);
	SP_RUN(test_host_timeout);
	SP_RUN(test_host_retries);
	SP_RUN(test_host_env_args);
	SP_RUN(test_host_threads);
	SP_TEST_EXIT();
}

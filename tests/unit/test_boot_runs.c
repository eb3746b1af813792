// SPDX-License-Identifier: LGPL-2.1-or-later
/* boot_runs.c: what a run that is gone left is removed, what a live run
 * holds is not, and nothing a record names that is not the run's own. */
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "job/boot_runs.h"
#include "harness.h"

static char registry[300];

static bool exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

/* A child that records @dir (made) and @other, then either exits without
 * ending its run (@hold false: killed) or holds it until killed. */
static pid_t run_child(const char *dir, const char *other, bool hold,
		       int *ready)
{
	int p[2];
	pid_t pid;

	CHECK(pipe(p) == 0);
	pid = fork();
	if (pid == 0) {
		struct sp_boot_run *r = NULL;
		struct sp_error err = {0};

		close(p[0]);
		if (sp_boot_run_begin(registry, &r, &err) < 0 ||
		    sp_boot_run_note(r, "dir", json_string(dir), &err) < 0 ||
		    (other && sp_boot_run_note(r, "other_dir",
					       json_string(other), &err) < 0) ||
		    mkdir(dir, 0700) < 0)
			_exit(1);
		if (write(p[1], "r", 1) != 1)
			_exit(1);
		if (hold)
			pause();
		_exit(0); /* gone without sp_boot_run_end() */
	}
	close(p[1]);
	*ready = p[0];
	return pid;
}

static void wait_ready(int fd)
{
	char c;

	CHECK(read(fd, &c, 1) == 1);
	close(fd);
}

static void test_gone_run_cleaned(void)
{
	char dir[400], rec[420];
	struct sp_error err = {0};
	json_t *cleaned = NULL;
	int st, fd;
	pid_t pid;

	snprintf(dir, sizeof(dir), "%s/sp-verify-gone", sp_test_tmpdir());
	pid = run_child(dir, NULL, false, &fd);
	wait_ready(fd);
	waitpid(pid, &st, 0);
	snprintf(rec, sizeof(rec), "%s/%d.json", registry, (int)pid);
	CHECK(exists(dir));
	CHECK(exists(rec));
	CHECK_OK(sp_boot_runs_clean(registry, &cleaned, &err), &err);
	CHECK(!exists(dir));
	CHECK(!exists(rec));
	CHECK_INT(json_array_size(cleaned), 1);
	CHECK(json_is_true(
	    json_object_get(json_array_get(cleaned, 0), "complete")));
	json_decref(cleaned);
}

static void test_live_run_kept(void)
{
	char dir[400];
	struct sp_error err = {0};
	json_t *cleaned = NULL;
	int fd;
	pid_t pid;

	snprintf(dir, sizeof(dir), "%s/sp-verify-live", sp_test_tmpdir());
	pid = run_child(dir, NULL, true, &fd);
	wait_ready(fd);
	CHECK_OK(sp_boot_runs_clean(registry, &cleaned, &err), &err);
	CHECK(exists(dir));
	CHECK_INT(json_array_size(cleaned), 0);
	json_decref(cleaned);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	CHECK_OK(sp_boot_runs_clean(registry, &cleaned, &err), &err);
	CHECK(!exists(dir));
	CHECK_INT(json_array_size(cleaned), 1);
	json_decref(cleaned);
}

static void test_only_its_own(void)
{
	struct sp_boot_run *r = NULL;
	struct sp_error err = {0};
	json_t *cleaned = NULL;
	char dir[400], rec[400];
	int fd;
	pid_t pid;

	/* a record naming a directory that is not a run's, and a server
	 * pid whose start time is not the one recorded */
	snprintf(dir, sizeof(dir), "%s/precious", sp_test_tmpdir());
	CHECK(mkdir(dir, 0700) == 0);
	pid = fork();
	if (pid == 0) {
		pause();
		_exit(0);
	}
	CHECK_OK(sp_boot_run_begin(registry, &r, &err), &err);
	CHECK_OK(sp_boot_run_note(r, "dir", json_string(dir), &err), &err);
	CHECK_OK(sp_boot_run_note(r, "server_pid", json_integer(pid), &err),
		 &err);
	CHECK_OK(sp_boot_run_note(r, "server_start", json_integer(1), &err),
		 &err);
	/* the record as a run that is gone would leave it: another pid's */
	snprintf(rec, sizeof(rec), "%s/%d.json", registry, (int)getpid());
	{
		char moved[420], lock[420], moved_lock[420];

		snprintf(moved, sizeof(moved), "%s/999998.json", registry);
		snprintf(lock, sizeof(lock), "%s/%d.lock", registry,
			 (int)getpid());
		snprintf(moved_lock, sizeof(moved_lock), "%s/999998.lock",
			 registry);
		CHECK(link(rec, moved) == 0);
		fd = open(moved_lock, O_CREAT | O_RDWR, 0600);
		close(fd);
		(void)lock;
	}
	CHECK_OK(sp_boot_runs_clean(registry, &cleaned, &err), &err);
	CHECK(exists(dir));
	CHECK(kill(pid, 0) == 0);
	CHECK_INT(json_array_size(cleaned), 1);
	json_decref(cleaned);
	sp_boot_run_end(r);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

int main(void)
{
	snprintf(registry, sizeof(registry), "%s/runs", sp_test_tmpdir());
	SP_RUN(test_gone_run_cleaned);
	SP_RUN(test_live_run_kept);
	SP_RUN(test_only_its_own);
	SP_TEST_EXIT();
}

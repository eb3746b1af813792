// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The registry of `verify --boot` runs (boot_runs.h): lock files held by
 * live runs, records naming what each made, and the cleanup of the runs
 * that are gone.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include <stillpoint/state.h>

#include "domain/domain.h"
#include "job/boot_runs.h"
#include "util/cleanup.h"
#include "util/fileio.h"
#include "util/log.h"

struct sp_boot_run {
	int dirfd;
	int lock_fd;
	pid_t pid;
	json_t *doc;
	char dir[PATH_MAX];
};

const char *sp_boot_runs_dir(const char *dir, char *buf, size_t cap)
{
	const char *st = getenv("STILLPOINT_STATE_DIR");

	if (dir && *dir)
		return dir;
	snprintf(buf, cap, "%s/verify-boot",
		 st && *st ? st : SP_DEFAULT_STATE_DIR);
	return buf;
}

unsigned long long sp_boot_proc_start(pid_t pid)
{
	sp_autofree char *text = NULL;
	char path[64];
	const char *p;
	size_t len;
	int field;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	if (pid <= 0 || sp_file_read(AT_FDCWD, path, 4096, &text, &len) < 0)
		return 0;
	/* the command name may hold spaces and parentheses: count from
	 * the last ')' (field 2's end); field 22 is the start time */
	p = strrchr(text, ')');
	for (field = 2; p && field < 22; field++) {
		p = strchr(p + 1, ' ');
	}
	return p ? strtoull(p + 1, NULL, 10) : 0;
}

static int open_dir(const char *dir, struct sp_error *err)
{
	int fd, r = sp_mkdir_parents(dir);

	if (r < 0)
		return sp_error_set_errno(err, SP_E_STATE, -r,
					  "cannot make the directory '%s' of "
					  "verify --boot runs",
					  dir);
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return sp_error_set_errno(err, SP_E_STATE, errno,
					  "cannot open the directory '%s' of "
					  "verify --boot runs",
					  dir);
	return fd;
}

static int publish(struct sp_boot_run *r, struct sp_error *err)
{
	sp_autofree char *text = json_dumps(r->doc, JSON_SORT_KEYS);
	char name[32];
	struct sp_error e = {0};

	if (!text)
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	snprintf(name, sizeof(name), "%ld.json", (long)r->pid);
	if (sp_file_publish(r->dirfd, name, text, strlen(text), &e) < 0)
		return sp_error_set(err, SP_E_STATE,
				    "cannot record a verify --boot run in "
				    "'%s': %s",
				    r->dir, e.msg);
	return 0;
}

int sp_boot_run_begin(const char *dir, struct sp_boot_run **ret,
		      struct sp_error *err)
{
	struct sp_boot_run *r = calloc(1, sizeof(*r));
	char name[32];
	int rc;

	*ret = NULL;
	if (!r)
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	r->lock_fd = -1;
	r->pid = getpid();
	snprintf(r->dir, sizeof(r->dir), "%s", dir);
	r->dirfd = open_dir(dir, err);
	if (r->dirfd < 0) {
		rc = r->dirfd;
		free(r);
		return rc;
	}
	snprintf(name, sizeof(name), "%ld.lock", (long)r->pid);
	r->lock_fd = openat(r->dirfd, name,
			    O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (r->lock_fd < 0 || flock(r->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		rc = sp_error_set_errno(err, SP_E_STATE, errno,
					"cannot lock '%s/%s'", dir, name);
		sp_boot_run_end(r);
		return rc;
	}
	r->doc = json_pack("{s:I, s:I}", "pid", (json_int_t)r->pid, "start",
			   (json_int_t)sp_boot_proc_start(r->pid));
	rc = r->doc ? publish(r, err)
		    : sp_error_set(err, SP_E_NOMEM, "out of memory");
	if (rc < 0) {
		sp_boot_run_end(r);
		return rc;
	}
	*ret = r;
	return 0;
}

int sp_boot_run_note(struct sp_boot_run *r, const char *key, json_t *value,
		     struct sp_error *err)
{
	if (json_object_set_new(r->doc, key, value) < 0)
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	return publish(r, err);
}

json_t *sp_boot_run_doc(struct sp_boot_run *r)
{
	return r->doc;
}

void sp_boot_run_end(struct sp_boot_run *r)
{
	char name[32];

	if (!r)
		return;
	if (r->dirfd >= 0) {
		snprintf(name, sizeof(name), "%ld.json", (long)r->pid);
		unlinkat(r->dirfd, name, 0);
		if (r->lock_fd >= 0) {
			snprintf(name, sizeof(name), "%ld.lock", (long)r->pid);
			unlinkat(r->dirfd, name, 0);
		}
		close(r->dirfd);
	}
	if (r->lock_fd >= 0)
		close(r->lock_fd);
	json_decref(r->doc);
	free(r);
}

/* ---- cleanup ---------------------------------------------------------- */

static bool base_is_ours(const char *path)
{
	const char *b = path ? strrchr(path, '/') : NULL;

	return b && path[0] == '/' &&
	       !strncmp(b + 1, SP_BOOT_PREFIX, strlen(SP_BOOT_PREFIX)) &&
	       !strstr(path, "/../");
}

/* Destroy the transient domain @name of @uri; 0 when it is gone. */
static int clean_domain(const char *uri, const char *name, json_t *removed)
{
	struct sp_error e = {0};
	virConnectPtr conn = NULL;
	virDomainPtr dom;
	int r = 0;

	if (strncmp(name, SP_BOOT_PREFIX, strlen(SP_BOOT_PREFIX)) != 0)
		return 0; /* invariant 2: never anything else's */
	if (sp_domain_connect(uri, &conn, &e) < 0) {
		sp_log(SP_LOG_WARNING,
		       "verify-boot cleanup cannot reach libvirt domain=%s: %s",
		       name, e.msg);
		return -1;
	}
	dom = virDomainLookupByName(conn, name);
	if (dom) {
		if (virDomainIsPersistent(dom) == 0) {
			if (virDomainDestroy(dom) < 0 &&
			    virDomainIsActive(dom) == 1) {
				r = -1;
				sp_log(SP_LOG_WARNING,
				       "verify-boot cleanup cannot destroy "
				       "domain=%s",
				       name);
			} else {
				json_array_append_new(
				    removed, json_sprintf("domain %s", name));
			}
		}
		virDomainFree(dom);
	}
	virConnectClose(conn);
	return r;
}

static void clean_process(pid_t pid, unsigned long long start, json_t *removed)
{
	if (pid <= 0 || !start || sp_boot_proc_start(pid) != start)
		return; /* gone, or the pid is another process's now */
	kill(pid, SIGKILL);
	for (int i = 0; i < 100 && sp_boot_proc_start(pid) == start; i++)
		usleep(20000);
	json_array_append_new(removed,
			      json_sprintf("server pid %ld", (long)pid));
}

static int clean_dir(const char *path, json_t *removed)
{
	struct stat st;

	if (!path || !base_is_ours(path))
		return 0;
	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -1;
	if (!S_ISDIR(st.st_mode) || sp_remove_tree_at(AT_FDCWD, path) < 0) {
		sp_log(SP_LOG_WARNING,
		       "verify-boot cleanup cannot remove "
		       "dir=%s",
		       path);
		return -1;
	}
	json_array_append_new(removed, json_sprintf("dir %s", path));
	return 0;
}

/* The swtpm state directory made for the run's UUID @uuid: removed only
 * when it is that UUID's directory (invariant 2). */
static int clean_tpm_dir(const char *path, const char *uuid, json_t *removed)
{
	const char *b = path ? strrchr(path, '/') : NULL;
	struct stat st;

	if (!b || !uuid || strlen(uuid) != 36 || strcmp(b + 1, uuid) != 0 ||
	    path[0] != '/' || !strstr(path, "/swtpm/"))
		return 0;
	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -1;
	if (!S_ISDIR(st.st_mode) || sp_remove_tree_at(AT_FDCWD, path) < 0)
		return -1;
	json_array_append_new(removed, json_sprintf("tpm state %s", path));
	return 0;
}

/* Clean up after record @pid of the registry @dirfd, whose lock we hold. */
static json_t *clean_one(int dirfd, const char *dirpath, long pid)
{
	sp_autofree char *text = NULL;
	char name[32];
	json_t *doc, *removed = json_array(), *out;
	const char *uri, *dom;
	size_t len;
	int bad = 0;

	snprintf(name, sizeof(name), "%ld.json", pid);
	if (sp_file_read(dirfd, name, 1 << 20, &text, &len) < 0 ||
	    !(doc = json_loadb(text, len, 0, NULL)))
		doc = json_object(); /* killed before its first record */
	uri = json_string_value(json_object_get(doc, "uri"));
	dom = json_string_value(json_object_get(doc, "domain"));
	if (dom && clean_domain(uri, dom, removed) < 0)
		bad = 1;
	clean_process(
	    (pid_t)json_integer_value(json_object_get(doc, "server_pid")),
	    (unsigned long long)json_integer_value(
		json_object_get(doc, "server_start")),
	    removed);
	if (clean_dir(json_string_value(json_object_get(doc, "dir")), removed) <
	    0)
		bad = 1;
	if (!bad &&
	    clean_tpm_dir(json_string_value(json_object_get(doc, "tpm_dir")),
			  json_string_value(json_object_get(doc, "uuid")),
			  removed) < 0)
		bad = 1;
	if (!bad) /* invariant 3 */
		unlinkat(dirfd, name, 0);
	out = json_pack("{s:I, s:o, s:b}", "pid", (json_int_t)pid, "removed",
			removed, "complete", !bad);
	if (dom)
		json_object_set_new(out, "domain", json_string(dom));
	sp_log(SP_LOG_INFO,
	       "verify-boot cleanup run=%ld registry=%s removed=%zu "
	       "complete=%s",
	       pid, dirpath, json_array_size(removed), bad ? "no" : "yes");
	json_decref(doc);
	return bad ? (json_object_set_new(out, "kept", json_true()), out) : out;
}

int sp_boot_runs_clean(const char *dir, json_t **cleaned, struct sp_error *err)
{
	sp_autoclose int dirfd = -1;
	json_t *all = json_array();
	struct dirent *de;
	DIR *d;
	int dfd;

	if (cleaned)
		*cleaned = NULL;
	dirfd = open_dir(dir, err);
	if (dirfd < 0) {
		json_decref(all);
		return dirfd;
	}
	dfd = dup(dirfd);
	d = dfd >= 0 ? fdopendir(dfd) : NULL;
	if (!d) {
		if (dfd >= 0)
			close(dfd);
		json_decref(all);
		return sp_error_set_errno(err, SP_E_STATE, errno,
					  "cannot read '%s'", dir);
	}
	while ((de = readdir(d))) {
		char *end;
		long pid = strtol(de->d_name, &end, 10);
		int fd;

		if (pid <= 0 || strcmp(end, ".lock") != 0 ||
		    pid == (long)getpid())
			continue;
		fd = openat(dirfd, de->d_name, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0)
			continue;
		if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
			json_t *one = clean_one(dirfd, dir, pid);

			if (!json_is_true(json_object_get(one, "kept")))
				unlinkat(dirfd, de->d_name, 0);
			json_array_append_new(all, one);
		}
		close(fd); /* a live run holds it: leave it be */
	}
	closedir(d);
	if (cleaned)
		*cleaned = all;
	else
		json_decref(all);
	return 0;
}

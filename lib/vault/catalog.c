// SPDX-License-Identifier: LGPL-2.1-or-later
/* The SQLite catalog; see catalog.h. */
#include "catalog.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "util/cleanup.h"
#include "util/fileio.h"
#include "util/log.h"
#include "util/text.h"
#include "vault/vault.h"

static const char schema[] =
    "PRAGMA journal_mode=WAL;"
    "CREATE TABLE IF NOT EXISTS points ("
    "  name TEXT NOT NULL, id TEXT NOT NULL, time TEXT NOT NULL,"
    "  manifest TEXT NOT NULL, PRIMARY KEY (name, id));";

static int db_error(struct sp_error *err, sqlite3 *db, const char *what)
{
	return sp_error_set(err, SP_E_CATALOG, "catalog: cannot %s: %s", what,
			    db ? sqlite3_errmsg(db) : "out of memory");
}

/* SQLite creates a database with 0644 less the umask: create it private
 * first (its -wal and -shm files take the database's mode), and refuse a
 * link or special file in its place. */
static int catalog_file_check(int vault_fd, struct sp_error *err)
{
	int fd = sp_open_regular(vault_fd, SP_CATALOG_FILE,
				 O_RDWR | O_CREAT | O_EXCL, SP_FILE_MODE);

	if (fd >= 0 && fchmod(fd, SP_FILE_MODE) < 0) {
		close(fd);
		fd = -errno;
	}
	if (fd == -EEXIST)
		fd = sp_open_regular(vault_fd, SP_CATALOG_FILE, O_RDWR, 0);
	if (fd < 0)
		return sp_error_set(
		    err, SP_E_CATALOG,
		    "catalog: cannot open " SP_CATALOG_FILE ": %s",
		    fd == -SP_ENOTREG ? "not a regular file" : strerror(-fd));
	close(fd);
	return 0;
}

static int catalog_open(int vault_fd, sqlite3 **ret, struct sp_error *err)
{
	char path[64];
	sqlite3 *db = NULL;

	if (catalog_file_check(vault_fd, err) < 0)
		return SP_E_CATALOG;
	/* SQLite wants a path; /proc/self/fd keeps us relative to the fd. */
	snprintf(path, sizeof(path), "/proc/self/fd/%d/" SP_CATALOG_FILE,
		 vault_fd);
	if (sqlite3_open_v2(path, &db,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
				SQLITE_OPEN_NOMUTEX,
			    NULL) != SQLITE_OK) {
		int r = db_error(err, db, "open " SP_CATALOG_FILE);
		sqlite3_close(db);
		return r;
	}
	sqlite3_busy_timeout(db, 30000);
	if (sqlite3_exec(db, schema, NULL, NULL, NULL) != SQLITE_OK) {
		int r = db_error(err, db, "create its schema");
		sqlite3_close(db);
		return r;
	}
	*ret = db;
	return 0;
}

static int insert(sqlite3 *db, json_t *m, struct sp_error *err)
{
	sqlite3_stmt *st = NULL;
	sp_autofree char *text = json_dumps(m, JSON_COMPACT);
	int rc;

	if (!text)
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	rc = sqlite3_prepare_v2(
	    db, "INSERT OR REPLACE INTO points VALUES (?,?,?,?)", -1, &st,
	    NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(st, 1,
				  json_string_value(json_object_get(m, "name")),
				  -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 2,
				  json_string_value(json_object_get(m, "id")),
				  -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 3,
				  json_string_value(json_object_get(m, "time")),
				  -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 4, text, -1, SQLITE_STATIC);
		rc = sqlite3_step(st);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return db_error(err, db, "record a point");
	return 0;
}

int sp_catalog_add(int vault_fd, json_t *manifest, struct sp_error *err)
{
	sqlite3 *db;
	int r = catalog_open(vault_fd, &db, err);

	if (r < 0)
		return r;
	r = insert(db, manifest, err);
	sqlite3_close(db);
	return r;
}

/* Note @rel as unreadable for @why (errno), when the caller asked. */
static void note_unreadable(json_t *unreadable, const char *rel, int why)
{
	char msg[320];

	if (!unreadable)
		return;
	snprintf(msg, sizeof(msg), "cannot read '%s': %s", rel, strerror(why));
	json_object_set_new(unreadable, rel, json_string(msg));
}

/* The set of "name/id" strings present on disk, as a JSON object used as a
 * set (keys only). */
int sp_catalog_scan(int vault_fd, const char *only, json_t *set,
		    json_t *unreadable, struct sp_error *err)
{
	int pfd =
	    openat(vault_fd, "points", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *top;
	struct dirent *de;

	if (pfd < 0)
		return sp_error_set_errno(err, SP_E_VAULT_IO, errno,
					  "cannot open 'points'");
	top = fdopendir(pfd);
	if (!top) {
		close(pfd);
		return sp_error_set_errno(err, SP_E_VAULT_IO, errno,
					  "cannot read 'points'");
	}
	for (;;) {
		char rel[100];
		struct dirent *pe;
		DIR *nd;
		int nfd;

		errno = 0;
		de = readdir(top);
		if (!de) {
			if (errno)
				note_unreadable(unreadable, "points", errno);
			break;
		}
		if (!sp_name_is_valid(de->d_name))
			continue;
		if (only && strcmp(only, de->d_name) != 0)
			continue;
		snprintf(rel, sizeof(rel), "points/%.64s", de->d_name);
		nfd = openat(pfd, de->d_name,
			     O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		nd = nfd >= 0 ? fdopendir(nfd) : NULL;
		if (!nd) {
			note_unreadable(unreadable, rel, errno);
			if (nfd >= 0)
				close(nfd);
			continue;
		}
		for (;;) {
			char key[160];
			errno = 0;
			pe = readdir(nd);
			if (!pe) {
				if (errno)
					note_unreadable(unreadable, rel, errno);
				break;
			}
			if (!sp_name_is_valid(pe->d_name))
				continue;
			snprintf(key, sizeof(key), "%.64s/%.64s", de->d_name,
				 pe->d_name);
			json_object_set_new(set, key, json_true());
		}
		closedir(nd);
	}
	closedir(top);
	return 0;
}

static int reconcile(sqlite3 *db, int vault_fd, const char *only,
		     struct sp_error *err)
{
	json_t *disk = json_object(), *unreadable = json_object();
	sqlite3_stmt *st = NULL;
	json_t *gone = NULL;
	const char *key;
	json_t *val;
	size_t i;
	int r, rc;

	if (!disk || !unreadable) {
		r = sp_error_set(err, SP_E_NOMEM, "out of memory");
		goto out;
	}
	r = sp_catalog_scan(vault_fd, only, disk, unreadable, err);
	if (r < 0)
		goto out;
	/* A listing of points/ cut short cannot tell which points are gone:
	 * no listing rather than a short one. */
	val = json_object_get(unreadable, "points");
	if (val) {
		r = sp_error_set(err, SP_E_VAULT_IO, "%s",
				 json_string_value(val));
		goto out;
	}
	if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) !=
	    SQLITE_OK) {
		r = db_error(err, db, "begin a transaction");
		goto out;
	}
	/* Rows without a directory go; directories we know are ticked off. */
	sqlite3_prepare_v2(db,
			   only ? "SELECT name, id FROM points WHERE name = ?"
				: "SELECT name, id FROM points",
			   -1, &st, NULL);
	if (only)
		sqlite3_bind_text(st, 1, only, -1, SQLITE_STATIC);
	gone = json_array();
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		char k[160], dir[100];
		snprintf(k, sizeof(k), "%s/%s", sqlite3_column_text(st, 0),
			 sqlite3_column_text(st, 1));
		snprintf(dir, sizeof(dir), "points/%.64s",
			 sqlite3_column_text(st, 0));
		if (json_object_get(disk, k))
			json_object_del(disk, k);
		else if (!json_object_get(unreadable, dir))
			json_array_append_new(gone, json_string(k));
		/* else a point of a directory that cannot be read now stays
		 * listed: its reader meets the error and says so. */
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		r = db_error(err, db, "read the points");
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		goto out;
	}
	json_object_foreach(unreadable, key, val)
	    sp_log(SP_LOG_WARNING,
		   "%s (its points stay listed; see "
		   "'stillpoint verify')",
		   json_string_value(val));
	json_array_foreach(gone, i, val)
	{
		char name[80];
		const char *slash;
		key = json_string_value(val);
		slash = strchr(key, '/');
		snprintf(name, sizeof(name), "%.*s", (int)(slash - key), key);
		sqlite3_prepare_v2(db,
				   "DELETE FROM points WHERE name=? AND id=?",
				   -1, &st, NULL);
		sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 2, slash + 1, -1, SQLITE_TRANSIENT);
		sqlite3_step(st);
		sqlite3_finalize(st);
	}
	json_object_foreach(disk, key, val)
	{
		char rel[200];
		sp_autoclose int pd = -1;
		json_t *m = NULL;
		struct sp_error e2;

		snprintf(rel, sizeof(rel), "points/%s", key);
		pd = openat(vault_fd, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		char name[80];
		const char *slash = strchr(key, '/');

		snprintf(name, sizeof(name), "%.*s", (int)(slash - key), key);
		if (pd < 0 ||
		    sp_manifest_load_point(pd, name, slash + 1, &m, &e2) < 0) {
			/* A damaged point is listed by verify, not here. */
			sp_log(SP_LOG_WARNING, "skipping point %s: %s", key,
			       pd < 0 ? strerror(errno) : e2.msg);
			continue;
		}
		r = insert(db, m, err);
		json_decref(m);
		if (r < 0)
			break;
	}
	if (r == 0 && sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		r = db_error(err, db, "commit");
	if (r < 0)
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
out:
	json_decref(gone);
	json_decref(disk);
	json_decref(unreadable);
	return r;
}

int sp_catalog_list(int vault_fd, const char *name, json_t **ret,
		    struct sp_error *err)
{
	sqlite3 *db;
	sqlite3_stmt *st = NULL;
	json_t *arr;
	int r = catalog_open(vault_fd, &db, err);

	if (r < 0)
		return r;
	r = reconcile(db, vault_fd, name, err);
	if (r < 0)
		goto out;
	arr = json_array();
	sqlite3_prepare_v2(db,
			   name ? "SELECT manifest FROM points WHERE name = ? "
				  "ORDER BY name, time, id"
				: "SELECT manifest FROM points "
				  "ORDER BY name, time, id",
			   -1, &st, NULL);
	if (name)
		sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		json_t *m = json_loads((const char *)sqlite3_column_text(st, 0),
				       0, NULL);
		if (m)
			json_array_append_new(arr, m);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		/* A listing cut short is no listing. */
		json_decref(arr);
		r = db_error(err, db, "list the points");
		goto out;
	}
	*ret = arr;
out:
	sqlite3_close(db);
	return r;
}

int sp_catalog_rebuild(int vault_fd, struct sp_error *err)
{
	json_t *arr = NULL;
	static const char *const files[] = {
	    SP_CATALOG_FILE, SP_CATALOG_FILE "-wal", SP_CATALOG_FILE "-shm"};

	for (size_t i = 0; i < SP_ARRAY_SIZE(files); i++)
		if (unlinkat(vault_fd, files[i], 0) < 0 && errno != ENOENT)
			return sp_error_set_errno(err, SP_E_CATALOG, errno,
						  "cannot remove '%s'",
						  files[i]);
	int r = sp_catalog_list(vault_fd, NULL, &arr, err);
	json_decref(arr);
	return r;
}

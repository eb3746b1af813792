// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * File helpers; see fileio.h.  The invariant kept here: a name that appears
 * through sp_file_publish() has durable content, and its appearance itself
 * is durable once the function returns.
 */
#include "fileio.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"

int sp_errno_to_code(int errnum, int io_code, int full_code, int perm_code)
{
	if (full_code && (errnum == ENOSPC || errnum == EDQUOT))
		return full_code;
	if (perm_code &&
	    (errnum == EACCES || errnum == EPERM || errnum == EROFS))
		return perm_code;
	return io_code;
}

int sp_pwrite_all(int fd, const void *buf, size_t len, off_t off)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = pwrite(fd, p, len, off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
		off += n;
	}
	return 0;
}

int sp_pread_all(int fd, void *buf, size_t len, off_t off)
{
	char *p = buf;

	while (len > 0) {
		ssize_t n = pread(fd, p, len, off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
		off += n;
	}
	return 0;
}

int sp_fsync_dirfd(int dirfd)
{
	return fsync(dirfd) < 0 ? -errno : 0;
}

int sp_fsync_path(int dirfd, const char *path)
{
	sp_autoclose int fd =
	    openat(dirfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	return fsync(fd) < 0 ? -errno : 0;
}

int sp_file_publish(int dirfd, const char *name, const void *data, size_t len,
		    struct sp_error *err)
{
	char tmp[512];
	sp_autoclose int fd = -1;
	int r;

	r = snprintf(tmp, sizeof(tmp), ".%s.tmp-%ld", name, (long)getpid());
	if (r < 0 || (size_t)r >= sizeof(tmp))
		return sp_error_set(err, SP_E_INTERNAL,
				    "file name too long '%s'", name);
	/* A stale temp of a dead process of the same pid goes first; then
	 * O_EXCL: whatever sits under the temp name (a planted link, a FIFO)
	 * is never written through. */
	unlinkat(dirfd, tmp, 0);
	fd = openat(dirfd, tmp,
		    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		    SP_FILE_MODE);
	if (fd < 0)
		goto fail;
	if (fchmod(fd, SP_FILE_MODE) < 0)
		goto fail_unlink;
	r = sp_pwrite_all(fd, data, len, 0);
	if (r < 0) {
		errno = -r;
		goto fail_unlink;
	}
	if (fsync(fd) < 0)
		goto fail_unlink;
	if (renameat(dirfd, tmp, dirfd, name) < 0)
		goto fail_unlink;
	if (fsync(dirfd) < 0)
		goto fail;
	return 0;

fail_unlink : {
	int saved = errno;
	unlinkat(dirfd, tmp, 0);
	errno = saved;
}
fail:
	return sp_error_set_errno(err,
				  sp_errno_to_code(errno, SP_E_VAULT_IO,
						   SP_E_VAULT_FULL,
						   SP_E_VAULT_PERMISSION),
				  errno, "cannot write '%s'", name);
}

/* Keep @fd only if it is a regular file, then make it blocking again.
 * Returns @fd or -errno (closing it). */
static int keep_regular(int fd)
{
	struct stat st;
	int e = 0;

	if (fstat(fd, &st) < 0)
		e = errno;
	else if (!S_ISREG(st.st_mode))
		e = SP_ENOTREG;
	else if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) < 0)
		e = errno;
	if (e) {
		close(fd);
		return -e;
	}
	return fd;
}

int sp_open_regular(int dirfd, const char *path, int flags, mode_t mode)
{
	int fd = openat(dirfd, path,
			flags | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC,
			mode);

	if (fd < 0)
		return errno == ELOOP || errno == EISDIR || errno == ENXIO
			   ? -SP_ENOTREG
			   : -errno;
	return keep_regular(fd);
}

/* An operator's path: follow a link, but read only a regular file. */
static int open_path(const char *path)
{
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);

	if (fd < 0)
		return errno == EISDIR || errno == ENXIO ? -SP_ENOTREG : -errno;
	return keep_regular(fd);
}

int sp_file_read(int dirfd, const char *path, size_t max, char **data,
		 size_t *len)
{
	sp_autoclose int fd = dirfd == AT_FDCWD
				  ? open_path(path)
				  : sp_open_regular(dirfd, path, O_RDONLY, 0);
	sp_autofree char *buf = NULL;
	struct stat st;
	size_t have = 0;

	if (fd < 0)
		return fd;
	if (fstat(fd, &st) < 0)
		return -errno;
	if ((size_t)st.st_size > max)
		return -EFBIG;
	buf = malloc((size_t)st.st_size + 1);
	if (!buf)
		return -ENOMEM;
	while (have < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + have, (size_t)st.st_size - have);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		have += (size_t)n;
	}
	buf[have] = '\0';
	*data = sp_steal_ptr(&buf);
	if (len)
		*len = have;
	return 0;
}

int sp_mkdir_at(int dirfd, const char *path, mode_t mode)
{
	sp_autoclose int fd = -1;

	if (mkdirat(dirfd, path, mode) < 0)
		return errno == EEXIST ? 0 : -errno;
	fd = openat(dirfd, path,
		    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fchmod(fd, mode) < 0)
		return -errno;
	return 0;
}

int sp_remove_tree_at(int dirfd, const char *path)
{
	int fd = openat(dirfd, path,
			O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *d;
	struct dirent *de;
	int r = 0;

	if (fd < 0) {
		if (errno == ENOTDIR)
			return unlinkat(dirfd, path, 0) < 0 ? -errno : 0;
		return errno == ENOENT ? 0 : -errno;
	}
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (de->d_type == DT_DIR) {
			int q = sp_remove_tree_at(fd, de->d_name);
			if (q < 0 && !r)
				r = q;
		} else if (unlinkat(fd, de->d_name, 0) < 0 && !r) {
			r = -errno;
		}
	}
	closedir(d);
	if (unlinkat(dirfd, path, AT_REMOVEDIR) < 0 && !r)
		r = -errno;
	return r;
}

int sp_fd_size(int fd, uint64_t *size)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (S_ISBLK(st.st_mode))
		return ioctl(fd, BLKGETSIZE64, size) < 0 ? -errno : 0;
	*size = (uint64_t)st.st_size;
	return 0;
}

int sp_tmpfile_open(void)
{
	const char *dir = getenv("STILLPOINT_TMPDIR");
	char path[4096];
	int fd;

	if (!dir || !*dir)
		dir = getenv("TMPDIR");
	if (!dir || !*dir)
		dir = "/var/tmp";
	fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, SP_FILE_MODE);
	if (fd >= 0)
		return fd;
	if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
		return -errno;
	/* No O_TMPFILE on that file system: a named file, unlinked at once. */
	if (snprintf(path, sizeof(path), "%s/.stillpoint-XXXXXX", dir) >=
	    (int)sizeof(path))
		return -ENAMETOOLONG;
	fd = mkostemp(path, O_CLOEXEC);
	if (fd < 0)
		return -errno;
	unlink(path);
	return fd;
}

int sp_mkdir_parents(const char *path)
{
	char buf[4096];
	size_t n = strlen(path);

	if (n >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, n + 1);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, SP_DIR_MODE) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

bool sp_cache_dir(char *out, size_t cap)
{
	const char *dir = getenv("STILLPOINT_CACHE_DIR");
	int n;

	if (dir && *dir)
		n = snprintf(out, cap, "%s", dir);
	else if (geteuid() == 0)
		n = snprintf(out, cap, "/var/cache/stillpoint");
	else if ((dir = getenv("XDG_CACHE_HOME")) && *dir)
		n = snprintf(out, cap, "%s/stillpoint", dir);
	else if ((dir = getenv("HOME")) && *dir)
		n = snprintf(out, cap, "%s/.cache/stillpoint", dir);
	else
		return false;
	return n > 0 && (size_t)n < cap;
}

static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

int sp_settings_read(int fd, const char *path, sp_settings_line_fn fn,
		     void *ctx, int read_code, struct sp_error *err)
{
	FILE *f = fdopen(fd, "r");
	char *line = NULL;
	size_t cap = 0;
	int lineno = 0, r = 0;

	if (!f) {
		close(fd);
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	}
	while (r == 0 && getline(&line, &cap, f) >= 0) {
		char *s = trim(line), *eq;
		lineno++;
		if (!*s || *s == '#')
			continue;
		eq = strchr(s, '=');
		if (!eq) {
			r = sp_error_set(err, SP_E_USAGE,
					 "'%s' line %d: expected key = value",
					 path, lineno);
			break;
		}
		*eq = '\0';
		r = fn(ctx, path, lineno, trim(s), trim(eq + 1), err);
	}
	if (r == 0 && ferror(f))
		r = sp_error_set(err, read_code, "cannot read '%s'", path);
	if (line) {
		explicit_bzero(line, cap);
		free(line);
	}
	fclose(f);
	return r;
}

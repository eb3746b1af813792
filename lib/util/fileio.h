/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * File helpers with the durability rules of the vault: a file is published
 * by write temp -> fsync -> rename -> fsync(dir), in sp_file_publish() and
 * nowhere else.  Errors are mapped to SP_E_* with sp_errno_to_code() so
 * that a full file system always reads as "...Full".
 */
#ifndef SP_UTIL_FILEIO_H
#define SP_UTIL_FILEIO_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "error.h"

/* Map errno of a failed write/read to @io_code, except ENOSPC/EDQUOT ->
 * @full_code and EACCES/EPERM/EROFS -> @perm_code (when non-zero). */
int sp_errno_to_code(int errnum, int io_code, int full_code, int perm_code);

/* Write all of @len bytes at @off (pwrite loop).  Returns 0 or -errno. */
int sp_pwrite_all(int fd, const void *buf, size_t len, off_t off);
/* Read exactly @len bytes at @off.  Returns 0, -errno, or -EIO on EOF. */
int sp_pread_all(int fd, void *buf, size_t len, off_t off);

/* fsync a directory by fd or path.  Returns 0 or -errno. */
int sp_fsync_dirfd(int dirfd);
int sp_fsync_path(int dirfd, const char *path);

/*
 * Write @len bytes as @name inside @dirfd durably and atomically: a temp
 * sibling is written and fsynced, renamed onto @name, then the directory is
 * fsynced.  Vault error codes (SP_E_VAULT_FULL/IO/PERMISSION).
 */
int sp_file_publish(int dirfd, const char *name, const void *data, size_t len,
		    struct sp_error *err);

/*
 * Read a whole file (at most @max bytes, else -EFBIG).  *@data is
 * NUL-terminated and owned by the caller.  Returns 0 or -errno (no
 * sp_error: the caller knows what the file means).
 */
int sp_file_read(int dirfd, const char *path, size_t max, char **data,
		 size_t *len);

/* mkdir that tolerates EEXIST.  Returns 0 or -errno. */
int sp_mkdir_at(int dirfd, const char *path, mode_t mode);

/* Remove a directory tree under @dirfd (no symlink following). */
int sp_remove_tree_at(int dirfd, const char *path);

#endif

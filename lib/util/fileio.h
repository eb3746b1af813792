/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * File helpers with the durability rules of the vault: a file is published
 * by write temp -> fsync -> rename -> fsync(dir), in sp_file_publish() and
 * nowhere else.  Errors are mapped to SP_E_* with sp_errno_to_code() so
 * that a full file system always reads as "...Full".
 */
#ifndef SP_UTIL_FILEIO_H
#define SP_UTIL_FILEIO_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"

/* Map errno of a failed write/read to @io_code, except ENOSPC/EDQUOT ->
 * @full_code and EACCES/EPERM/EROFS -> @perm_code (when non-zero). */
int sp_errno_to_code(int errnum, int io_code, int full_code, int perm_code);

/* One "key = value" line of a settings file, both sides trimmed. */
typedef int (*sp_settings_line_fn)(void *ctx, const char *path, int lineno,
				   const char *key, const char *val,
				   struct sp_error *err);
/* Read the settings file open as @fd (named @path; the fd is consumed):
 * blank lines and lines starting with '#' are skipped, any other must be
 * "key = value" (else SP_E_USAGE naming the line); @fn gets each, and the
 * first error it returns ends the reading.  A failed read is @read_code.
 * Every line is wiped from memory after use: such files hold secrets. */
int sp_settings_read(int fd, const char *path, sp_settings_line_fn fn,
		     void *ctx, int read_code, struct sp_error *err);

/* Write all of @len bytes at @off (pwrite loop).  Returns 0 or -errno. */
int sp_pwrite_all(int fd, const void *buf, size_t len, off_t off);
/* Read exactly @len bytes at @off.  Returns 0, -errno, or -EIO on EOF. */
int sp_pread_all(int fd, void *buf, size_t len, off_t off);
/* The size of the regular file or block device open as @fd; 0 or
 * -errno. */
int sp_fd_size(int fd, uint64_t *size);

/* fsync a directory by fd or path.  Returns 0 or -errno. */
int sp_fsync_dirfd(int dirfd);
int sp_fsync_path(int dirfd, const char *path);

/*
 * Write @len bytes as @name inside @dirfd durably and atomically: a temp
 * sibling is written and fsynced, renamed onto @name, then the directory is
 * fsynced.  The file gets SP_FILE_MODE.  Vault error codes
 * (SP_E_VAULT_FULL/IO/PERMISSION).
 */
int sp_file_publish(int dirfd, const char *name, const void *data, size_t len,
		    struct sp_error *err);

/* What sp_open_regular() and sp_file_read() return for a name that is a
 * symbolic link, a directory, a FIFO, a socket or a device. */
#define SP_ENOTREG EMEDIUMTYPE

/*
 * Open @path under @dirfd as a regular file: a symbolic link at its last
 * component is not followed, and a FIFO or device is not waited on
 * (O_NOFOLLOW | O_NONBLOCK, the latter cleared once fstat() has said it is
 * a regular file).  @flags are open(2)'s (O_RDONLY, O_RDWR | O_CREAT, ...),
 * @mode is used with O_CREAT.  Every file of the vault is opened this way:
 * a link or FIFO planted in a vault must neither redirect a write nor hang
 * a job.  Returns the descriptor (O_CLOEXEC) or -errno: -SP_ENOTREG for
 * anything but a regular file.
 */
int sp_open_regular(int dirfd, const char *path, int flags, mode_t mode);

/*
 * Read a whole file (at most @max bytes, else -EFBIG).  *@data is
 * NUL-terminated and owned by the caller.  Under a directory fd the file
 * is opened with sp_open_regular(); with AT_FDCWD (a path given by the
 * operator) a symbolic link is followed, but the file must still be a
 * regular one.  Returns 0 or -errno, -SP_ENOTREG as sp_open_regular() (no
 * sp_error: the caller knows what the file means).
 */
int sp_file_read(int dirfd, const char *path, size_t max, char **data,
		 size_t *len);

/* The modes of what Stillpoint creates in a vault (and of restored
 * files): private to their owner, whatever the umask and whatever mode
 * the vault's directory had before init. */
#define SP_FILE_MODE 0600
#define SP_DIR_MODE 0700

/* mkdir that tolerates EEXIST.  A directory it creates gets exactly @mode
 * (set with fchmod, not left to the umask); an existing one is left as it
 * is.  Returns 0 or -errno. */
int sp_mkdir_at(int dirfd, const char *path, mode_t mode);

/* An unnamed scratch file (read-write, private, gone when closed) in
 * $STILLPOINT_TMPDIR, else $TMPDIR, else /var/tmp: room for what a job
 * keeps on this host while it works on a remote vault.  Returns the
 * descriptor or -errno. */
int sp_tmpfile_open(void);

/* Stillpoint's cache directory on this host: $STILLPOINT_CACHE_DIR, else
 * /var/cache/stillpoint for root, else $XDG_CACHE_HOME/stillpoint or
 * ~/.cache/stillpoint.  False when none can be named. */
bool sp_cache_dir(char *out, size_t cap);

/* mkdir -p @path: missing parents 0755, the last one SP_DIR_MODE (an
 * existing one is left as it is).  Returns 0 or -errno. */
int sp_mkdir_parents(const char *path);

/* Remove a directory tree under @dirfd (no symlink following). */
int sp_remove_tree_at(int dirfd, const char *path);

#endif

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Inside the disk layer: the source and target vtables behind disk.h. */
#ifndef SP_DISK_DISK_IMPL_H
#define SP_DISK_DISK_IMPL_H

#include "disk/disk.h"

struct sp_disk_source_ops {
	const char *name;
	int (*extents)(struct sp_disk_source *src, uint64_t offset,
		       uint64_t length, struct sp_disk_extent *out, size_t max,
		       size_t *n, struct sp_error *err);
	int (*pread)(struct sp_disk_source *src, void *buf, size_t len,
		     uint64_t offset, struct sp_error *err);
	int (*check_unchanged)(struct sp_disk_source *src,
			       struct sp_error *err);
	/* May be NULL: pread serves. */
	int (*pread_uncached)(struct sp_disk_source *src, void *buf, size_t len,
			      uint64_t offset, struct sp_error *err);
	void (*free)(struct sp_disk_source *src);
};

struct sp_disk_source {
	const struct sp_disk_source_ops *ops;
	char *path;
	uint64_t size;
	enum sp_disk_format format;
	enum sp_disk_kind kind;
	int fd;			/* file source */
	int direct_fd;		/* the same file with O_DIRECT, once used */
	struct nbd_handle *nbd; /* nbd source */
	char *bitmap;		/* export source: dirty bitmap context */
	int read_error;		/* SP_E_NBD, or SP_E_EXPORT_READ for exports */
};

struct sp_disk_target_ops {
	const char *name;
	int (*pwrite)(struct sp_disk_target *t, const void *buf, size_t len,
		      uint64_t offset, struct sp_error *err);
	int (*write_zeroes)(struct sp_disk_target *t, uint64_t offset,
			    uint64_t len, struct sp_error *err);
	/* Flush and close; the common code renames. */
	int (*finish)(struct sp_disk_target *t, struct sp_error *err);
	/* Close without flushing. */
	void (*close)(struct sp_disk_target *t);
};

struct sp_disk_target {
	const struct sp_disk_target_ops *ops;
	char *path;	/* final name, as given (for messages) */
	char *name;	/* its last component, within dir_fd */
	char *tmp_name; /* temporary sibling in dir_fd, NULL for a device */
	char *tmp_path; /* the same by path (for tools) */
	int dir_fd;	/* parent directory, opened once: every name of the
			   target is resolved from it, never again by path */
	int lock_fd;	/* flock'd on the temporary file while it exists */
	uint64_t size;
	bool zeroed;
	int fd;
	int direct_fd; /* the same file opened O_DIRECT, or -1 */
	struct nbd_handle *nbd;
};

extern const struct sp_disk_source_ops sp_disk_source_file_ops;
extern const struct sp_disk_source_ops sp_disk_source_nbd_ops;
extern const struct sp_disk_target_ops sp_disk_target_file_ops;
extern const struct sp_disk_target_ops sp_disk_target_block_ops;
extern const struct sp_disk_target_ops sp_disk_target_nbd_ops;

int sp_disk_source_file_open(struct sp_disk_source *src, int fd,
			     struct sp_error *err);
int sp_disk_source_nbd_open(struct sp_disk_source *src, struct sp_error *err);
int sp_disk_target_file_open(struct sp_disk_target *t, struct sp_error *err);
int sp_disk_target_block_open(struct sp_disk_target *t, struct sp_error *err);
int sp_disk_target_nbd_open(struct sp_disk_target *t, struct sp_error *err);

/* Start qemu-nbd on @argv through socket activation; @what names the
 * image for messages.  Errors: SP_E_TOOL_MISSING, SP_E_NBD. */
int sp_disk_nbd_connect(struct nbd_handle **ret, char **argv, bool allocation,
			const char *what, struct sp_error *err);

/* Disconnect cleanly and wait for qemu-nbd to exit (so the image is
 * closed); sets *@h to NULL.  No-op on NULL. */
void sp_disk_nbd_disconnect(struct nbd_handle **h);

#endif

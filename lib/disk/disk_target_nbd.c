// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * qcow2 restore targets: qemu-img creates the image in the temporary
 * sibling, a private writable qemu-nbd serves it and libnbd writes the
 * chunks.  Both tools open the file through /proc/PID/fd (t->tmp_path),
 * so they write the very file this process created and holds locked,
 * whatever is put under its name meanwhile.  Commit flushes, disconnects and
 * waits for qemu-nbd to close the image cleanly before the common code renames
 * it into place.
 */
#include "disk/disk_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include <libnbd.h>

#include "util/spawn.h"

#define NBD_MAX_IO (32u << 20)

static int nbd_write(struct sp_disk_target *t, const void *buf, size_t len,
		     uint64_t offset, struct sp_error *err)
{
	const char *p = buf;

	while (len > 0) {
		size_t step = len > NBD_MAX_IO ? NBD_MAX_IO : len;
		if (nbd_pwrite(t->nbd, p, step, offset, 0) < 0)
			return sp_error_set(
			    err, sp_disk_target_code(nbd_get_errno()),
			    "cannot write '%s' at offset %llu: "
			    "%s",
			    t->path, (unsigned long long)offset,
			    nbd_get_error());
		p += step;
		len -= step;
		offset += step;
	}
	return 0;
}

static int nbd_zeroes(struct sp_disk_target *t, uint64_t offset, uint64_t len,
		      struct sp_error *err)
{
	while (len > 0) {
		uint64_t step = len > (1ull << 30) ? (1ull << 30) : len;
		if (nbd_zero(t->nbd, step, offset, 0) < 0)
			return sp_error_set(
			    err, sp_disk_target_code(nbd_get_errno()),
			    "cannot zero '%s' at offset %llu: "
			    "%s",
			    t->path, (unsigned long long)offset,
			    nbd_get_error());
		offset += step;
		len -= step;
	}
	return 0;
}

static int nbd_finish(struct sp_disk_target *t, struct sp_error *err)
{
	int r = 0;

	if (nbd_flush(t->nbd, 0) < 0)
		r = sp_error_set(err, sp_disk_target_code(nbd_get_errno()),
				 "cannot flush '%s': %s", t->path,
				 nbd_get_error());
	sp_disk_nbd_disconnect(&t->nbd);
	if (r < 0)
		return r;
	if (fsync(t->lock_fd) < 0)
		r = sp_error_set_errno(err, sp_disk_target_code(errno), errno,
				       "cannot flush '%s'", t->path);
	return r;
}

static void nbd_target_close(struct sp_disk_target *t)
{
	sp_disk_nbd_disconnect(&t->nbd);
}

const struct sp_disk_target_ops sp_disk_target_nbd_ops = {
    .name = "qcow2",
    .pwrite = nbd_write,
    .write_zeroes = nbd_zeroes,
    .finish = nbd_finish,
    .close = nbd_target_close,
};

int sp_disk_target_nbd_open(struct sp_disk_target *t, struct sp_error *err)
{
	char size[32];
	const char *create[] = {"qemu-img", "create",	 "-q", "-f",
				"qcow2",    t->tmp_path, size, NULL};
	char *serve[] = {"qemu-nbd",   "--format=qcow2", "--discard=unmap",
			 "--shared=1", t->tmp_path,	 NULL};
	int r;

	t->ops = &sp_disk_target_nbd_ops;
	snprintf(size, sizeof(size), "%llu", (unsigned long long)t->size);
	r = sp_spawn_run(create, NULL, err);
	if (r < 0)
		return r;
	r = sp_disk_nbd_connect(&t->nbd, serve, false, t->path, err);
	if (r < 0)
		return r;
	return 0;
}

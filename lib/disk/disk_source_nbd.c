// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Images QEMU understands (qcow2, with backing chains) read through a
 * private qemu-nbd started by libnbd with socket activation: QEMU's own code
 * interprets the format, we never parse it.  Block status (base:allocation)
 * reports zero ranges, which are never read.
 */
#include "disk/disk_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>
#include <libnbd.h>

#include "util/cleanup.h"
#include "util/spawn.h"

/* qemu-nbd refuses requests over 32 MiB; block status in 1 GiB steps. */
#define NBD_MAX_IO (32u << 20)
#define NBD_MAX_STATUS (1ull << 30)
/* Runs kept per meta context and request. */
#define SP_STATUS_RUNS 2048

/* Read failures of a backup export are the job's, not a tool's. */
static int read_code(const struct sp_disk_source *src)
{
	return src->read_error ? src->read_error : SP_E_NBD;
}

/* The tail of what qemu-nbd wrote to @fd, trimmed, into @out. */
static void read_tail(int fd, char *out, size_t len)
{
	off_t end = lseek(fd, 0, SEEK_END);
	off_t from = end > (off_t)len - 1 ? end - (off_t)len + 1 : 0;
	ssize_t n = pread(fd, out, len - 1, from);

	out[n > 0 ? n : 0] = '\0';
	while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == ' '))
		out[--n] = '\0';
	for (char *p = out; *p; p++)
		if (*p == '\n')
			*p = ' ';
}

int sp_disk_nbd_connect(struct nbd_handle **ret, char **argv, bool allocation,
			const char *what, struct sp_error *err)
{
	char path[512], said[320] = "";
	struct nbd_handle *h;
	int errfd, saved, r;

	if (!sp_spawn_find(argv[0], path, sizeof(path)))
		return sp_error_set(err, SP_E_TOOL_MISSING,
				    "'%s' is not installed (it is needed for "
				    "'%s'; tools/setup-debian.sh installs it)",
				    argv[0], what);
	argv[0] = path;
	h = nbd_create();
	if (!h)
		return sp_error_set(err, SP_E_NBD,
				    "cannot create an NBD handle: %s",
				    nbd_get_error());
	if (allocation &&
	    nbd_add_meta_context(h, LIBNBD_CONTEXT_BASE_ALLOCATION) < 0) {
		r = sp_error_set(err, SP_E_NBD,
				 "cannot set up NBD for '%s': %s", what,
				 nbd_get_error());
		nbd_close(h);
		return r;
	}
	/*
	 * qemu-nbd inherits our stderr.  Give it a memory file instead while
	 * it starts, so that its reason for refusing an image ends up in our
	 * message rather than loose on the terminal.  Disks are opened before
	 * any worker thread runs, so nothing else writes to stderr meanwhile.
	 */
	errfd = memfd_create("qemu-nbd-stderr", MFD_CLOEXEC);
	saved = errfd >= 0 ? fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3) : -1;
	if (saved >= 0)
		dup2(errfd, STDERR_FILENO);
	r = nbd_connect_systemd_socket_activation(h, argv);
	if (saved >= 0) {
		dup2(saved, STDERR_FILENO);
		close(saved);
	}
	if (r < 0 && errfd >= 0)
		read_tail(errfd, said, sizeof(said));
	if (errfd >= 0)
		close(errfd);
	if (r < 0) {
		r = sp_error_set(err, SP_E_NBD, "cannot open '%s': %s", what,
				 said[0] ? said : nbd_get_error());
		nbd_close(h);
		return r;
	}
	*ret = h;
	return 0;
}

void sp_disk_nbd_disconnect(struct nbd_handle **h)
{
	if (!*h)
		return;
	nbd_shutdown(*h, 0);
	/* nbd_close waits for the socket-activated qemu-nbd to exit. */
	nbd_close(*h);
	*h = NULL;
}

/*
 * One meta context's answer to a block status request: runs of (length,
 * flag) from @pos, merged when the flag repeats.  For base:allocation
 * the flag is "reads as zeroes"; for a dirty bitmap, "dirty".
 */
struct status_list {
	const char *context;
	uint32_t flag_mask;
	uint64_t pos, end; /* the runs cover [start, pos) */
	size_t n;
	bool seen;
	struct {
		uint64_t length;
		bool flag;
	} run[SP_STATUS_RUNS];
};

struct status_acc {
	struct status_list alloc, dirty;
};

static void status_add(struct status_list *l, const uint32_t *entries,
		       size_t nr)
{
	l->seen = true;
	for (size_t i = 0; i + 1 < nr && l->pos < l->end; i += 2) {
		uint64_t len = entries[i];
		bool flag = (entries[i + 1] & l->flag_mask) != 0;

		if (len == 0)
			break; /* a server bug: stop believing it here */
		if (len > l->end - l->pos)
			len = l->end - l->pos;
		if (l->n > 0 && l->run[l->n - 1].flag == flag) {
			l->run[l->n - 1].length += len;
		} else {
			if (l->n == SP_STATUS_RUNS)
				break;
			l->run[l->n].length = len;
			l->run[l->n].flag = flag;
			l->n++;
		}
		l->pos += len;
	}
}

static int status_cb(void *opaque, const char *metacontext, uint64_t offset,
		     uint32_t *entries, size_t nr, int *error)
{
	struct status_acc *a = opaque;

	(void)offset;
	(void)error;
	if (!strcmp(metacontext, a->alloc.context))
		status_add(&a->alloc, entries, nr);
	else if (a->dirty.context && !strcmp(metacontext, a->dirty.context))
		status_add(&a->dirty, entries, nr);
	return 0;
}

/* Cut the two lists, both from @from, into extents of one kind each, as
 * far as both reach; returns where the output stops. */
static uint64_t status_merge(const struct status_list *al,
			     const struct status_list *dl, uint64_t from,
			     struct sp_disk_extent *out, size_t max, size_t *n)
{
	uint64_t pos = from, a_end = from, d_end = from;
	size_t ai = 0, di = 0;

	*n = 0;
	if (al->n)
		a_end += al->run[0].length;
	if (dl->n)
		d_end += dl->run[0].length;
	while (ai < al->n && di < dl->n && *n < max) {
		uint64_t e = a_end < d_end ? a_end : d_end;
		bool zero = al->run[ai].flag, dirty = dl->run[di].flag;

		if (*n > 0 && out[*n - 1].zero == zero &&
		    out[*n - 1].dirty == dirty)
			out[*n - 1].length += e - pos;
		else
			out[(*n)++] =
			    (struct sp_disk_extent){pos, e - pos, zero, dirty};
		pos = e;
		if (pos == a_end && ++ai < al->n)
			a_end += al->run[ai].length;
		if (pos == d_end && ++di < dl->n)
			d_end += dl->run[di].length;
	}
	return pos;
}

static int nbd_extents(struct sp_disk_source *src, uint64_t offset,
		       uint64_t length, struct sp_disk_extent *out, size_t max,
		       size_t *n, struct sp_error *err)
{
	uint64_t end =
	    offset + (length > NBD_MAX_STATUS ? NBD_MAX_STATUS : length);
	struct status_acc *a = calloc(1, sizeof(*a));
	uint64_t reached;

	if (!a)
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	a->alloc.context = LIBNBD_CONTEXT_BASE_ALLOCATION;
	a->alloc.flag_mask = LIBNBD_STATE_ZERO;
	a->alloc.pos = offset;
	a->alloc.end = end;
	a->dirty.context = src->bitmap;
	a->dirty.flag_mask = 1; /* NBD_STATE_DIRTY */
	a->dirty.pos = offset;
	a->dirty.end = end;
	if (nbd_block_status(
		src->nbd, end - offset, offset,
		(nbd_extent_callback){.callback = status_cb, .user_data = a},
		0) < 0) {
		int r = sp_error_set(err, read_code(src),
				     "block status of '%s' failed: %s",
				     src->path, nbd_get_error());
		free(a);
		return r;
	}
	/* A context the server said nothing about is taken at its safest:
	 * data, and dirty. */
	if (a->alloc.n == 0) {
		a->alloc.run[0].length = end - offset;
		a->alloc.run[0].flag = false;
		a->alloc.n = 1;
	}
	if (a->dirty.n == 0) {
		a->dirty.run[0].length = end - offset;
		a->dirty.run[0].flag = true;
		a->dirty.n = 1;
	}
	reached = status_merge(&a->alloc, &a->dirty, offset, out, max, n);
	free(a);
	if (*n == 0)
		return sp_error_set(err, read_code(src),
				    "block status of '%s' at offset %llu "
				    "said nothing",
				    src->path, (unsigned long long)offset);
	(void)reached;
	return 0;
}

static int nbd_read(struct sp_disk_source *src, void *buf, size_t len,
		    uint64_t offset, struct sp_error *err)
{
	char *p = buf;

	while (len > 0) {
		size_t step = len > NBD_MAX_IO ? NBD_MAX_IO : len;
		if (nbd_pread(src->nbd, p, step, offset, 0) < 0)
			return sp_error_set(err, read_code(src),
					    "cannot read '%s' at offset %llu: "
					    "%s",
					    src->path,
					    (unsigned long long)offset,
					    nbd_get_error());
		p += step;
		len -= step;
		offset += step;
	}
	return 0;
}

static int nbd_check_unchanged(struct sp_disk_source *src, struct sp_error *err)
{
	int64_t size = nbd_get_size(src->nbd);

	if (size < 0)
		return sp_error_set(err, read_code(src),
				    "cannot get the size of "
				    "'%s': %s",
				    src->path, nbd_get_error());
	if ((uint64_t)size != src->size)
		return sp_error_set(err, SP_E_DISK_CHANGED,
				    "disk '%s' changed size while it was read",
				    src->path);
	return 0;
}

static void nbd_free(struct sp_disk_source *src)
{
	free(src->bitmap);
	sp_disk_nbd_disconnect(&src->nbd);
}

const struct sp_disk_source_ops sp_disk_source_nbd_ops = {
    .name = "nbd",
    .extents = nbd_extents,
    .pread = nbd_read,
    .check_unchanged = nbd_check_unchanged,
    .free = nbd_free,
};

#define BACKING_DEPTH_MAX 64

/*
 * The code of a failure of qemu-img or qemu-nbd to open the image @err
 * names: QEMU ends its message with the system's error text when the
 * system refused, which is a failing or unreadable disk, not a format we
 * cannot read (SP_E_DISK_FORMAT, the default).
 */
static int qemu_open_failure_code(const struct sp_error *err)
{
	static const struct {
		int errnum, code;
	} system[] = {
	    {EIO, SP_E_DISK_READ},	   {EMFILE, SP_E_DISK_READ},
	    {ENFILE, SP_E_DISK_READ},	   {ENOMEM, SP_E_DISK_READ},
	    {ENXIO, SP_E_DISK_READ},	   {EACCES, SP_E_DISK_PERMISSION},
	    {EPERM, SP_E_DISK_PERMISSION}, {ENOENT, SP_E_DISK_NOT_FOUND},
	};

	for (size_t i = 0; i < SP_ARRAY_SIZE(system); i++)
		if (strstr(err->msg, strerror(system[i].errnum)))
			return system[i].code;
	return SP_E_DISK_FORMAT;
}

/*
 * Walk the backing chain of @src as its images record it, each level
 * opened with the format the level above names: a backing file whose
 * format is not recorded would be probed by QEMU, and the content of a
 * raw backing file is the guest's to choose.  Errors: SP_E_DISK_FORMAT
 * (an undeclared backing format, or a chain too deep), SP_E_TOOL_*.
 */
static int check_backing_chain(struct sp_disk_source *src, struct sp_error *err)
{
	sp_autofree char *path = strdup(src->path);
	char fmt[16];
	int r = 0;

	snprintf(fmt, sizeof(fmt), "%s", sp_disk_format_name(src->format));
	for (int depth = 0; path && r == 0; depth++) {
		const char *argv[] = {"qemu-img", "info",	   "-U", "-f",
				      fmt,	  "--output=json", path, NULL};
		sp_autofree char *out = NULL;
		json_t *info, *next, *nfmt;

		if (!strcmp(fmt, "raw"))
			return 0; /* raw has no backing file */
		if (depth == BACKING_DEPTH_MAX)
			return sp_error_set(err, SP_E_DISK_FORMAT,
					    "the backing chain of disk '%s' is "
					    "deeper than %d images",
					    src->path, BACKING_DEPTH_MAX);
		r = sp_spawn_run(argv, &out, err);
		if (r == SP_E_TOOL_FAILED) /* qemu-img could not read it */
			err->code = r = qemu_open_failure_code(err);
		if (r < 0)
			return r;
		info = json_loads(out, 0, NULL);
		next = json_object_get(info, "full-backing-filename");
		if (!next)
			next = json_object_get(info, "backing-filename");
		nfmt = json_object_get(info, "backing-filename-format");
		if (json_is_string(next) && !json_is_string(nfmt)) {
			r = sp_error_set(
			    err, SP_E_DISK_FORMAT,
			    "image '%s' (in the chain of disk '%s') names its "
			    "backing file '%s' without its format, which "
			    "would have to be guessed from its content (record "
			    "it: qemu-img rebase -u -F raw|qcow2 -b '%s' '%s')",
			    path, src->path, json_string_value(next),
			    json_string_value(next), path);
		} else if (json_is_string(next)) {
			char *np = strdup(json_string_value(next));
			snprintf(fmt, sizeof(fmt), "%s",
				 json_string_value(nfmt));
			free(path);
			path = np;
		} else {
			free(path);
			path = NULL;
		}
		json_decref(info);
	}
	return r;
}

int sp_disk_source_nbd_open(struct sp_disk_source *src, struct sp_error *err)
{
	char *argv[] = {
	    "qemu-nbd",	  "--read-only",
	    "--format",	  (char *)sp_disk_format_name(src->format),
	    "--shared=1", src->path,
	    NULL,
	};
	int64_t size;
	int r;

	src->ops = &sp_disk_source_nbd_ops;
	r = check_backing_chain(src, err);
	if (r < 0)
		return r;
	r = sp_disk_nbd_connect(&src->nbd, argv, true, src->path, err);
	if (r == SP_E_NBD) {
		/* qemu-nbd could not open the image. */
		return err->code = qemu_open_failure_code(err);
	}
	if (r < 0)
		return r;
	size = nbd_get_size(src->nbd);
	if (size < 0)
		return sp_error_set(err, SP_E_NBD,
				    "cannot get the size of "
				    "'%s': %s",
				    src->path, nbd_get_error());
	src->size = (uint64_t)size;
	return 0;
}

int sp_disk_source_open_export(const char *socket, const char *export,
			       const char *bitmap, const char *label,
			       struct sp_disk_source **ret,
			       struct sp_error *err)
{
	struct sp_disk_source *src = calloc(1, sizeof(*src));
	int64_t size;
	int r;

	if (!src || !(src->path = strdup(label)) ||
	    (bitmap && !(src->bitmap = strdup(bitmap)))) {
		if (src)
			free(src->path);
		free(src);
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	}
	src->ops = &sp_disk_source_nbd_ops;
	src->fd = src->direct_fd = -1;
	src->format = SP_DISK_FORMAT_RAW;
	src->kind = SP_DISK_KIND_FILE;
	src->read_error = SP_E_EXPORT_READ;
	src->nbd = nbd_create();
	if (!src->nbd ||
	    nbd_add_meta_context(src->nbd, LIBNBD_CONTEXT_BASE_ALLOCATION) <
		0 ||
	    (bitmap && nbd_add_meta_context(src->nbd, bitmap) < 0) ||
	    nbd_set_export_name(src->nbd, export) < 0 ||
	    nbd_connect_unix(src->nbd, socket) < 0) {
		r = sp_error_set(err, SP_E_NBD,
				 "cannot open the backup export of disk '%s' "
				 "('%s' on %s): %s",
				 label, export, socket, nbd_get_error());
		goto fail;
	}
	if (bitmap && nbd_can_meta_context(src->nbd, bitmap) != 1) {
		r = sp_error_set(err, SP_E_NBD,
				 "the backup export of disk '%s' does not "
				 "offer the dirty bitmap '%s'",
				 label, bitmap);
		goto fail;
	}
	size = nbd_get_size(src->nbd);
	if (size < 0) {
		r = sp_error_set(err, SP_E_EXPORT_READ,
				 "cannot get the size of disk '%s': %s", label,
				 nbd_get_error());
		goto fail;
	}
	src->size = (uint64_t)size;
	*ret = src;
	return 0;
fail:
	sp_disk_source_free(src);
	return r;
}

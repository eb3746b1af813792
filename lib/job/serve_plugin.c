// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Stillpoint's nbdkit plugin: the disks of one recovery point as NBD
 * exports, read lazily from the vault (point_image.h).  sp_serve_start()
 * (serve.c) runs it as
 *
 *   nbdkit --foreground ... nbdkit-stillpoint-plugin.so \
 *       vault=LOCATION name=VM id=ID [disk=D] [cache=BYTES] [stats=FILE]
 *
 * The vault is opened, as by the command line, from the environment
 * (credentials, passphrase or key file); its shared lock is held while
 * serving.  The plugin never writes: nbdkit's cow filter keeps the writes
 * of a writable export.  Zero slots are reported as holes so that copies
 * over NBD stay sparse.
 */
#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "job/point_image.h"
#include "job/serve.h"
#include "util/fileio.h"
#include "vault/vault.h"

#define THREAD_MODEL NBDKIT_THREAD_MODEL_PARALLEL

static const char *cfg_vault, *cfg_name, *cfg_id, *cfg_disk, *cfg_stats;
static uint64_t cfg_cache;

static struct sp_vault *vault;
struct export
{
	char *export;
	struct sp_point_image *img;
};
static struct export *exports;
static size_t n_exports;

static int sp_config(const char *key, const char *value)
{
	if (!strcmp(key, "vault"))
		cfg_vault = value;
	else if (!strcmp(key, "name"))
		cfg_name = value;
	else if (!strcmp(key, "id"))
		cfg_id = value;
	else if (!strcmp(key, "disk"))
		cfg_disk = value;
	else if (!strcmp(key, "stats"))
		cfg_stats = value;
	else if (!strcmp(key, "cache")) {
		if (nbdkit_parse_uint64_t("cache", value, &cfg_cache) < 0)
			return -1;
	} else {
		nbdkit_error("unknown parameter '%s'", key);
		return -1;
	}
	return 0;
}

static int sp_config_complete(void)
{
	if (!cfg_vault || !cfg_name || !cfg_id) {
		nbdkit_error("vault=, name= and id= are required");
		return -1;
	}
	return 0;
}

/* Open the vault and every disk served; errors before nbdkit listens. */
static int sp_get_ready(void)
{
	struct sp_error err = {0};
	json_t *m = NULL, *d;
	size_t i;
	int r;

	r = sp_vault_open(cfg_vault, &vault, &err);
	if (r == 0)
		r = sp_vault_point_manifest(vault, cfg_name, cfg_id, &m, &err);
	if (r < 0)
		goto fail;
	exports = calloc(json_array_size(json_object_get(m, "disks")) + 1,
			 sizeof(*exports));
	if (!exports) {
		r = sp_error_set(&err, SP_E_NOMEM, "out of memory");
		goto fail;
	}
	json_array_foreach(json_object_get(m, "disks"), i, d)
	{
		const char *ex = sp_serve_export_name(d);
		struct export *e = &exports[n_exports];

		if (cfg_disk && strcmp(cfg_disk, ex) &&
		    strcmp(cfg_disk,
			   json_string_value(json_object_get(d, "name"))))
			continue;
		r = sp_point_image_open(vault, cfg_name, cfg_id, d, cfg_cache,
					&e->img, &err);
		if (r < 0)
			goto fail;
		if (!(e->export = strdup(ex))) {
			sp_point_image_free(e->img);
			r = sp_error_set(&err, SP_E_NOMEM, "out of memory");
			goto fail;
		}
		n_exports++;
	}
	if (n_exports == 0) {
		r = sp_error_set(&err, SP_E_USAGE,
				 "point '%s@%s' has no disk '%s'", cfg_name,
				 cfg_id, cfg_disk ? cfg_disk : "");
		goto fail;
	}
	json_decref(m);
	return 0;
fail:
	json_decref(m);
	nbdkit_error("SP%d %s", sp_errcode_number(err.code), err.msg);
	return -1;
}

static void write_stats(void)
{
	struct sp_point_image_stats t = {0}, s;
	char text[256];
	int n, fd;

	for (size_t i = 0; i < n_exports; i++) {
		sp_point_image_stats(exports[i].img, &s);
		t.chunks_read += s.chunks_read;
		t.bytes_read += s.bytes_read;
		t.cache_hits += s.cache_hits;
	}
	n = snprintf(text, sizeof(text),
		     "{\"chunks_read\": %" PRIu64 ", \"bytes_read\": %" PRIu64
		     ", \"cache_hits\": %" PRIu64 "}\n",
		     t.chunks_read, t.bytes_read, t.cache_hits);
	fd = open(cfg_stats,
		  O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0 || sp_pwrite_all(fd, text, (size_t)n, 0) < 0)
		nbdkit_error("cannot write '%s': %m", cfg_stats);
	if (fd >= 0)
		close(fd);
}

static void sp_unload(void)
{
	if (cfg_stats && n_exports)
		write_stats();
	for (size_t i = 0; i < n_exports; i++) {
		sp_point_image_free(exports[i].img);
		free(exports[i].export);
	}
	free(exports);
	sp_vault_close(vault);
}

static int sp_list_exports(int readonly, int is_tls,
			   struct nbdkit_exports *list)
{
	for (size_t i = 0; i < n_exports; i++)
		if (nbdkit_add_export(list, exports[i].export, NULL) < 0)
			return -1;
	return 0;
}

static const char *sp_default_export(int readonly, int is_tls)
{
	return n_exports ? exports[0].export : "";
}

static void *sp_open(int readonly)
{
	const char *name = nbdkit_export_name();

	if (!name || !*name)
		return &exports[0];
	for (size_t i = 0; i < n_exports; i++)
		if (!strcmp(exports[i].export, name))
			return &exports[i];
	nbdkit_error("point '%s@%s' has no disk '%s' (exports: the disks' "
		     "targets, e.g. '%s')",
		     cfg_name, cfg_id, name, exports[0].export);
	nbdkit_set_error(ENOENT);
	return NULL;
}

static int64_t sp_get_size(void *handle)
{
	return (int64_t)sp_point_image_size(((struct export *)handle)->img);
}

static int sp_can_multi_conn(void *handle)
{
	return 1; /* read-only: every connection sees the same bytes */
}

static int sp_pread(void *handle, void *buf, uint32_t count, uint64_t offset,
		    uint32_t flags)
{
	struct export *e = handle;
	struct sp_error err = {0};

	if (sp_point_image_pread(e->img, buf, count, offset, &err) < 0) {
		nbdkit_error("SP%d %s", sp_errcode_number(err.code), err.msg);
		nbdkit_set_error(EIO);
		return -1;
	}
	return 0;
}

static int sp_can_extents(void *handle)
{
	return 1;
}

/* Zero slots are holes that read as zeroes; the rest is data. */
static int sp_extents(void *handle, uint32_t count, uint64_t offset,
		      uint32_t flags, struct nbdkit_extents *list)
{
	struct export *e = handle;
	const uint64_t cs = sp_point_image_chunk_size(e->img);
	const uint64_t size = sp_point_image_size(e->img);
	uint64_t end = offset + count, pos = offset;

	while (pos < end) {
		uint64_t next = (pos / cs + 1) * cs;
		bool zero = sp_point_image_is_zero(e->img, pos);

		if (next > size)
			next = size;
		if (nbdkit_add_extent(
			list, pos, next - pos,
			zero ? NBDKIT_EXTENT_HOLE | NBDKIT_EXTENT_ZERO : 0) < 0)
			return -1;
		pos = next;
		if (flags & NBDKIT_FLAG_REQ_ONE)
			break;
	}
	return 0;
}

static struct nbdkit_plugin plugin = {
    .name = "stillpoint",
    .longname = "Stillpoint recovery points",
    .version = SP_VERSION,
    .description = "the disks of a Stillpoint recovery point, read lazily "
		   "from its vault",
    .config = sp_config,
    .config_complete = sp_config_complete,
    .config_help = "vault=LOCATION name=VM id=ID  the point (required)\n"
		   "disk=TARGET                   serve this disk only\n"
		   "cache=BYTES                   decoded chunks kept\n"
		   "stats=FILE                    what was read, on exit",
    .get_ready = sp_get_ready,
    .unload = sp_unload,
    .list_exports = sp_list_exports,
    .default_export = sp_default_export,
    .open = sp_open,
    .get_size = sp_get_size,
    .can_multi_conn = sp_can_multi_conn,
    .pread = sp_pread,
    .can_extents = sp_can_extents,
    .extents = sp_extents,
};

NBDKIT_REGISTER_PLUGIN(plugin)

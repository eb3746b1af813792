// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The backup job for disk images of a VM that is off (crash-consistent).
 *
 * Phases: "snapshot" (open every disk as its owner declared it and fix
 * the set and sizes: for an offline VM the disks themselves are the still
 * point) then "transfer" (transfer.c: read -> hash -> dedup -> compress ->
 * store).  Live VMs reach the same transfer from backup_domain.c.
 *
 * Invariant: nothing is published unless the transfer stored every slot
 * of every disk (transfer.c's invariants) and the manifest names them.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "disk/disk.h"
#include "job/job.h"
#include "job/transfer.h"
#include "job/workq.h"
#include "util/cleanup.h"
#include "util/fault.h"
#include "util/fileio.h"
#include "util/log.h"
#include "util/text.h"
#include "vault/disk_index.h"
#include "vault/vault.h"

#define CONFIG_MAX (16u << 20)

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');

	return s && s[1] ? s + 1 : path;
}

/* The newest point of @name, to compare disk sizes with; NULL if none. */
static json_t *previous_point(struct sp_vault *v, const char *name)
{
	json_t *m = NULL;
	struct sp_error e;

	if (sp_vault_find_point(v, name, &m, &e) < 0)
		return NULL;
	return m;
}

/* sp_point_writer.store_files: the file --config names. */
static int store_config(void *ctx, struct sp_point_draft *draft, json_t **entry,
			struct sp_error *err)
{
	const char *path = ctx;
	sp_autofree char *data = NULL;
	size_t len;
	uint8_t sha[32];
	char hex[65];
	int r;

	r = sp_file_read(AT_FDCWD, path, CONFIG_MAX, &data, &len);
	if (r < 0)
		return sp_error_set_errno(err, SP_E_CONFIG_NOT_FOUND, -r,
					  "cannot read config '%s'", path);
	r = sp_point_draft_put(draft, "config", data, len, err);
	if (r < 0)
		return r;
	sp_sha256(data, len, sha);
	sp_hex_encode(sha, 32, hex);
	*entry =
	    json_pack("{s:s, s:s, s:I, s:s}", "file", base_name(path), "source",
		      path, "size", (json_int_t)len, "sha256", hex);
	return 0;
}

int sp_backup_run(struct sp_vault *v, const struct sp_backup_opts *o,
		  json_t **manifest_out, struct sp_error *err)
{
	struct sp_disk_source **src = NULL;
	struct sp_transfer_disk *td = NULL;
	char **abs = NULL, **paths = NULL;
	int deflt = SP_DISK_FORMAT_UNDECLARED;
	json_t *warnings = NULL, *prev = NULL;
	struct sp_point_writer w;
	uint64_t t_start = sp_now_mono_ms(), t_snap;
	struct timespec wall;
	int r = 0;

	clock_gettime(CLOCK_REALTIME, &wall);
	if (!sp_name_is_valid(o->name))
		return sp_error_set(
		    err, SP_E_NAME_INVALID,
		    "invalid VM name '%s' (use letters, digits, "
		    "'.', '_' and '-', at most 64)",
		    o->name);
	if (o->ndisks == 0)
		return sp_error_set(err, SP_E_USAGE,
				    "no disks to back up (give --disk PATH)");
	if (o->format) {
		deflt = sp_disk_format_parse(o->format);
		if (deflt != SP_DISK_FORMAT_RAW &&
		    deflt != SP_DISK_FORMAT_QCOW2)
			return sp_error_set(err, SP_E_USAGE,
					    "unknown disk format '%s' (use raw "
					    "or qcow2)",
					    o->format);
	}

	/* Phase 1, snapshot: fix the set of disks and their sizes. */
	src = calloc(o->ndisks, sizeof(*src));
	td = calloc(o->ndisks, sizeof(*td));
	abs = calloc(o->ndisks, sizeof(*abs));
	paths = calloc(o->ndisks, sizeof(*paths));
	if (!src || !td || !abs || !paths) {
		r = sp_error_set(err, SP_E_NOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < o->ndisks; i++) {
		enum sp_disk_format fmt;

		if (sp_disk_spec_split(o->disks[i], &paths[i], &fmt) < 0) {
			r = sp_error_set(err, SP_E_NOMEM, "out of memory");
			goto out;
		}
		if (fmt == SP_DISK_FORMAT_UNDECLARED)
			fmt = (enum sp_disk_format)deflt;
		if (!sp_disk_name_is_valid(base_name(paths[i]),
					   strlen(base_name(paths[i])))) {
			char q[160];
			sp_disk_name_quote(base_name(paths[i]), q, sizeof(q));
			r = sp_error_set(err, SP_E_NAME_INVALID,
					 "disk '%s' cannot be named in a "
					 "point: its file name is empty, '.', "
					 "'..' or holds a control character "
					 "(rename or link it)",
					 q);
			goto out;
		}
		for (size_t j = 0; j < i; j++)
			if (!strcmp(base_name(paths[i]), base_name(paths[j]))) {
				r = sp_error_set(err, SP_E_DISK_DUPLICATE,
						 "disks '%s' and '%s' have the "
						 "same name '%s'",
						 paths[j], paths[i],
						 base_name(paths[i]));
				goto out;
			}
		r = sp_disk_source_open(paths[i], fmt, &src[i], err);
		if (r < 0)
			goto out;
		abs[i] = realpath(paths[i], NULL);
		td[i] = (struct sp_transfer_disk){
		    .src = src[i],
		    .name = base_name(paths[i]),
		    .source = abs[i] ? abs[i] : paths[i],
		};
	}
	t_snap = sp_now_mono_ms();

	/* Phase 2, transfer. */
	prev = previous_point(v, o->name);
	warnings = json_array();
	if (!warnings) {
		r = sp_error_set(err, SP_E_NOMEM, "out of memory");
		goto out;
	}
	w = (struct sp_point_writer){
	    .v = v,
	    .name = o->name,
	    .disks = td,
	    .ndisks = o->ndisks,
	    .job = &o->job,
	    .check = o->check_transfer,
	    .prev = prev,
	    .warnings = warnings,
	    .consistency = "crash",
	    .wall = &wall,
	    .t_start = t_start,
	    .t_snap = t_snap,
	    .store_files = o->config_path ? store_config : NULL,
	    .ctx = (void *)o->config_path,
	};
	r = sp_point_write(&w, manifest_out, err);

out:
	json_decref(warnings);
	json_decref(prev);
	for (size_t i = 0; src && i < o->ndisks; i++) {
		sp_disk_source_free(src[i]);
		if (abs)
			free(abs[i]);
		if (paths)
			free(paths[i]);
	}
	free(paths);
	free(src);
	free(td);
	free(abs);
	return r;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A VM's writer settings: how its still point is reached.  A JSON file
 * (docs/writers.md) in the spirit of Azure's Linux pre/post script
 * settings:
 *
 *	{
 *	  "fsfreeze": true,              freeze file systems via qemu-ga
 *	  "freeze_deadline_s": 10,       thaw by then whatever happens
 *	  "require": "application",      fail the job below this level
 *	                                 ("application", "file-system",
 *	                                 "crash" = default, never fail)
 *	  "pause_fallback": false,       no agent: pause for the snapshot
 *	  "backup_type": "full",         or "copy": passed to hooks (VSS
 *	                                 full/copy semantics)
 *	  "shared_disks": "capture",     or "skip": <shareable/> disks are
 *	                                 left out of every point
 *	  "writers": [
 *	    { "name": "postgres", "where": "guest",   or "host"
 *	      "pre":  "/etc/stillpoint/pg-pre.sh",  "pre_args":  ["a"],
 *	      "post": "/etc/stillpoint/pg-post.sh", "post_args": [],
 *	      "timeout_s": 60, "retries": 0, "continue_on_failure": true }
 *	  ]
 *	}
 *
 * The file must be a regular file owned by root and not writable by group
 * or others, in a directory with the same properties: otherwise anyone
 * who can edit it runs code as root (host) or in the guest.  Host scripts
 * are held to the same rule when they are run.
 */
#ifndef SP_WRITER_WRITER_CONFIG_H
#define SP_WRITER_WRITER_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "util/error.h"

enum sp_writer_where {
	SP_WRITER_GUEST, /* run inside the guest through guest-exec */
	SP_WRITER_HOST,	 /* run on the host */
};

enum sp_consistency {
	SP_CONSISTENCY_CRASH = 0,
	SP_CONSISTENCY_FILE_SYSTEM = 1,
	SP_CONSISTENCY_APPLICATION = 2,
};

/* "crash", "file-system", "application"; parse returns -1 if unknown. */
const char *sp_consistency_name(enum sp_consistency c);
int sp_consistency_parse(const char *s);

struct sp_writer_def {
	char *name; /* [A-Za-z0-9._-]{1,64} */
	enum sp_writer_where where;
	char *pre;	 /* absolute path, or NULL: no pre step */
	char **pre_args; /* NULL-terminated, never NULL */
	char *post;	 /* absolute path, or NULL */
	char **post_args;
	unsigned timeout_s;	  /* per step; default 60, 1..3600 */
	unsigned retries;	  /* extra attempts of a failed step; 0..10 */
	bool continue_on_failure; /* default true: degrade to file-system
				     consistency instead of failing */
};

struct sp_writer_config {
	bool fsfreeze;		     /* default true */
	unsigned freeze_deadline_ms; /* default 10000; 1000..60000 */
	enum sp_consistency require; /* default CRASH (never fail) */
	bool pause_fallback;	     /* default false */
	char *backup_type;	     /* "full" (default) or "copy" */
	bool skip_shared_disks;	     /* "shared_disks": "skip"; default
					"capture" (crash-consistent, with a
					warning) */
	struct sp_writer_def *writers;
	size_t nwriters;
};

/* The defaults: fsfreeze on, 10 s deadline, no writers. */
int sp_writer_config_default(struct sp_writer_config **ret,
			     struct sp_error *err);

/*
 * Load @path: check ownership and modes of the file and its directory
 * (SP_E_WRITER_UNSAFE, naming the file, its owner and mode), then parse.
 * Errors: SP_E_WRITER_CONFIG (missing file, bad JSON, unknown key, value
 * out of range — the message names the key), SP_E_WRITER_UNSAFE.
 */
int sp_writer_config_load(const char *path, struct sp_writer_config **ret,
			  struct sp_error *err);

/* Parse JSON text only (no file checks); @where names it in messages. */
int sp_writer_config_parse(const char *text, size_t len, const char *where,
			   struct sp_writer_config **ret, struct sp_error *err);

/* Where a VM's settings live when no file is named: DIR/<vm>.json. */
#define SP_WRITERS_DIR "/etc/stillpoint/writers"

/*
 * The settings of VM @vm: @path when given, else SP_WRITERS_DIR/<vm>.json
 * when it exists, else the defaults.  Errors as sp_writer_config_load.
 */
int sp_writer_config_for_vm(const char *vm, const char *path,
			    struct sp_writer_config **ret,
			    struct sp_error *err);

void sp_writer_config_free(struct sp_writer_config *c);

/*
 * Check a host script before running it: SP_E_WRITER_NOT_FOUND when it
 * does not exist or is not executable, SP_E_WRITER_UNSAFE when it or its
 * directory is not root-owned or is writable by group or others.  @step
 * ("pre" or "post") and @writer name it in the message.
 */
int sp_writer_check_host_script(const char *path, const char *writer,
				const char *step, struct sp_error *err);

/*
 * The same check for a guest script, from the owner uid and whole st_mode
 * (type and permission bits) the guest reported for it and its directory.
 * Anything but a regular file is refused with SP_E_WRITER_NOT_FOUND, as on
 * the host.
 */
int sp_writer_check_guest_mode(const char *path, const char *writer,
			       const char *step, unsigned uid, unsigned mode,
			       unsigned dir_uid, unsigned dir_mode,
			       struct sp_error *err);

#endif

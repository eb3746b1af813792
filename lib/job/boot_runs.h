/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What each `verify --boot` run made on this host, so that the next run
 * (or the daemon at start) removes what a killed one left: its transient
 * domain, its NBD server, its scratch directory.
 *
 * The registry is a directory (STATE_DIR/verify-boot): per run a lock file
 * PID.lock that the run holds locked (flock) while it lives, and a record
 * PID.json that it republishes (write, fsync, rename) before it makes each
 * thing, naming the thing.  A record whose lock can be taken belongs to a
 * run that is gone, whatever became of its pid.
 *
 * Invariants:
 *  1. A thing is named in the record before it is made, so a kill at any
 *     instant leaves nothing the record does not name.
 *  2. Cleanup removes only what a record names and only when it is ours:
 *     a domain that is transient and named "sp-verify-*", a process whose
 *     start time is the recorded one, a directory named "sp-verify-*",
 *     swtpm's state directory of the run's own fresh UUID.
 *  3. A record goes only after everything it names is gone.
 */
#ifndef SP_JOB_BOOT_RUNS_H
#define SP_JOB_BOOT_RUNS_H

#include <sys/types.h>

#include <jansson.h>

#include "util/error.h"

#define SP_BOOT_PREFIX "sp-verify-"

struct sp_boot_run;

/* The registry's directory: @dir, else $STILLPOINT_STATE_DIR/verify-boot,
 * else /var/lib/stillpointd/verify-boot. */
const char *sp_boot_runs_dir(const char *dir, char *buf, size_t cap);

/* Start this process's record (locked, empty).  Errors: SP_E_STATE. */
int sp_boot_run_begin(const char *dir, struct sp_boot_run **ret,
		      struct sp_error *err);
/* Set @key to @value (reference stolen) and republish (invariant 1). */
int sp_boot_run_note(struct sp_boot_run *r, const char *key, json_t *value,
		     struct sp_error *err);
/* The record's whole document (borrowed). */
json_t *sp_boot_run_doc(struct sp_boot_run *r);
/* The run ended and removed what it made: drop its record and lock. */
void sp_boot_run_end(struct sp_boot_run *r);

/* The start time of process @pid (clock ticks since boot, /proc/PID/stat)
 * or 0 when it is gone. */
unsigned long long sp_boot_proc_start(pid_t pid);

/*
 * Remove what the runs that are gone left (invariant 2) through libvirt at
 * each record's URI, and their records (invariant 3).  *@cleaned (may be
 * NULL) gets an array of {"pid", "domain", "server_pid", "dir", "removed":
 * [...]} of the records handled.  A thing that cannot be removed is logged
 * and its record kept for the next run.  Errors: SP_E_STATE (the registry
 * cannot be read).
 */
int sp_boot_runs_clean(const char *dir, json_t **cleaned, struct sp_error *err);

#endif

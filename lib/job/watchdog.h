/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The thaw watchdog: a small process beside a live backup that makes sure
 * a guest is never left frozen and a backup job never left behind, even
 * when the backup process is killed with SIGKILL at the worst moment.
 *
 * It is this same program re-executed (/proc/self/exe) with the hidden
 * first argument SP_WATCHDOG_ARG, in its own session (a Ctrl-C aimed at
 * the backup does not reach it), with its own libvirt connection, and
 * talks to the job over a socketpair:
 *
 *	job -> watchdog   'F'        frozen from now: thaw at the deadline
 *	                  'T'        thawed: disarm
 *	                  'S' name\n a backup job may be starting: the
 *	                             virDomainBackupBegin call for checkpoint
 *	                             name (or "-") is about to be sent
 *	                  'B' name\n a backup job runs: end it if the job dies
 *	                  'E'        the backup job was ended, or did not
 *	                             start: forget it
 *	watchdog -> job   'R'        connected and ready
 *	                  'X'        the deadline passed: it thawed the guest
 *
 * End of file from the job (the job exited, or was killed) while armed:
 * thaw at once.  Then, with a backup job running or starting: wait until
 * the call that starts it has settled (libvirtd keeps processing a call
 * after its client died), end the job if one exists and delete the
 * checkpoint it was creating; then remove the job's directories, which a
 * call in flight still uses.  Then the watchdog exits.
 */
#ifndef SP_JOB_WATCHDOG_H
#define SP_JOB_WATCHDOG_H

#include <stdbool.h>

#include "domain/domain.h"
#include "util/error.h"

#define SP_WATCHDOG_ARG "__thaw-watchdog"

struct sp_watchdog;

/* Start the watchdog for @d, which thaws @deadline_ms after 'F' at the
 * latest (minus the time a thaw takes).  Errors: SP_E_INTERNAL (cannot
 * start it), SP_E_LIBVIRT (it could not connect). */
int sp_watchdog_start(struct sp_domain *d, unsigned deadline_ms,
		      struct sp_watchdog **ret, struct sp_error *err);
void sp_watchdog_arm(struct sp_watchdog *w);
/* Disarm; true when the watchdog had already thawed (deadline passed). */
bool sp_watchdog_disarm(struct sp_watchdog *w);
/* Before virDomainBackupBegin: a job creating @checkpoint (NULL: none)
 * may be starting.  Then either started (the call succeeded) or ended. */
void sp_watchdog_job_starting(struct sp_watchdog *w, const char *checkpoint);
void sp_watchdog_job_started(struct sp_watchdog *w, const char *checkpoint);
void sp_watchdog_job_ended(struct sp_watchdog *w);
/* Tell it to exit, and reap it.  No-op on NULL. */
void sp_watchdog_stop(struct sp_watchdog *w);

/* The watchdog process's main(); argv[0] is SP_WATCHDOG_ARG. */
int sp_watchdog_main(int argc, char **argv);

#endif

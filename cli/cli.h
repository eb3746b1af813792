/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The `stillpoint` command: global options, output and the command table.
 * Only <stillpoint/...> headers are used here (the public API).
 * Exit status: 0 success, 1 failure, 2 usage error, 3 verify found damage.
 */
#ifndef SP_CLI_CLI_H
#define SP_CLI_CLI_H

#include <signal.h>
#include <stdbool.h>
#include <sys/types.h>

#include <stillpoint/stillpoint.h>

#define EXIT_USAGE 2
#define EXIT_DAMAGED 3

struct cli {
	const char *vault; /* --vault, $STILLPOINT_VAULT, or default */
	bool json;
	bool quiet;
	int progress; /* -1 auto (a terminal), 0 off, 1 on */
	unsigned threads;
	volatile sig_atomic_t *cancel;
};

/* The output functions follow @cli's options from now on (--json for
 * usage errors, which are not given @cli). */
void cli_output_init(const struct cli *cli);
/* Print @err once, with its code and the recommended action; returns the
 * exit status for it.  With --json, one JSON object on stderr. */
int cli_fail(const struct cli *cli, const struct sp_error *err);
/* Usage error: message plus a hint to --help (with --json, as a JSON
 * error object); returns EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Print @v as pretty JSON on stdout and free it. */
void cli_print_json(json_t *v);
/* Fill @o with threads, progress and cancel from the global options. */
void cli_job_opts(const struct cli *cli, struct sp_job_opts *o);
/* Finish a progress line on stderr, if one was drawn. */
void cli_progress_done(void);

/* "    vdb read full-compare: raw file keeps ...\n" for a manifest's disk
 * entry @d that says how it was read (nothing for older points). */
void cli_print_read_mode(json_t *d, const char *indent);
/* True when @arg is -h or --help. */
bool cli_wants_help(int argc, char **argv);

int cmd_init(struct cli *cli, int argc, char **argv);
int cmd_backup(struct cli *cli, int argc, char **argv);
int cmd_restore(struct cli *cli, int argc, char **argv);
int cmd_points(struct cli *cli, int argc, char **argv);
int cmd_verify(struct cli *cli, int argc, char **argv);
/* verify --boot (cmd_verify_boot.c), called by cmd_verify(). */
int cmd_verify_boot(struct cli *cli, int argc, char **argv);
extern const char verify_boot_help[];
int cmd_copy(struct cli *cli, int argc, char **argv);
int cmd_catalog(struct cli *cli, int argc, char **argv);
int cmd_errors(struct cli *cli, int argc, char **argv);
int cmd_info(struct cli *cli, int argc, char **argv);
int cmd_writers(struct cli *cli, int argc, char **argv);
int cmd_delete(struct cli *cli, int argc, char **argv);
int cmd_undelete(struct cli *cli, int argc, char **argv);
int cmd_trash(struct cli *cli, int argc, char **argv);
int cmd_gc(struct cli *cli, int argc, char **argv);
int cmd_policy(struct cli *cli, int argc, char **argv);
int cmd_protect(struct cli *cli, int argc, char **argv);
int cmd_unprotect(struct cli *cli, int argc, char **argv);
int cmd_protected(struct cli *cli, int argc, char **argv);
int cmd_jobs(struct cli *cli, int argc, char **argv);
int cmd_job(struct cli *cli, int argc, char **argv);
int cmd_prune(struct cli *cli, int argc, char **argv);
int cmd_cbt(struct cli *cli, int argc, char **argv);
int cmd_key(struct cli *cli, int argc, char **argv);
/* restore --instant and restore --resume (cmd_instant.c). */
int cli_restore_instant(struct cli *cli, struct sp_instant_opts *o);
/* @bandwidth: the copy's new limit in bytes/s (0: none), -1: as it was. */
int cli_restore_resume(struct cli *cli, const char *job, int64_t bandwidth);
int cmd_serve(struct cli *cli, int argc, char **argv);
int cmd_mount(struct cli *cli, int argc, char **argv);
int cmd_files(struct cli *cli, int argc, char **argv);
/* restore --file: copy @paths out of point @spec into @to_dir. */
int cli_files_restore(struct cli *cli, const char *spec,
		      const char *const *paths, size_t npaths,
		      const char *to_dir, bool force);

struct sp_state;
/* Cancel job @id: a queued job is cancelled in the state database (the
 * daemon will not start it), a running one is sent SIGTERM (its pid in
 * *@signalled, 0 for a queued one; @signalled may be NULL).  Errors:
 * SP_E_USAGE when it has ended, SP_E_JOB_NOT_FOUND. */
int cli_job_cancel(struct sp_state *st, int64_t id, pid_t *signalled,
		   struct sp_error *err);

/* stillpointd's control socket ($STILLPOINTD_SOCKET overrides). */
const char *cli_daemon_socket(void);
/* One request line, one reply line; -1 when no daemon answers, -EACCES
 * when its socket refuses this user. */
int cli_daemon_request(const char *line, char *reply, size_t len);
/* backup --now through the daemon: the exit status, or -1 when no daemon
 * runs (the caller then backs up directly). */
int cli_backup_via_daemon(struct cli *cli, const char *domain);

#endif

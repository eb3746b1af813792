/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Writers' steps: running a writer's pre or post command, with its timeout
 * and retries, and recording what happened.  This file runs host-side
 * writers (executables on the host, through fork/exec with an argv — no
 * shell — a clean environment and closed descriptors, in their own process
 * group so a timeout kills the whole tree).  Guest-side writers run through
 * the guest agent (writer_guest.c) and fill the same result.
 *
 * Hooks are told what is happening through their environment:
 *	STILLPOINT_VM           the domain's name
 *	STILLPOINT_WRITER       the writer's name
 *	STILLPOINT_STEP         "pre" or "post"
 *	STILLPOINT_BACKUP_TYPE  "full" or "copy" (VSS full/copy semantics)
 *	STILLPOINT_ATTEMPT      1, 2, ... (retries)
 * and their arguments are the writer's pre_args / post_args.
 */
#ifndef SP_WRITER_WRITER_HOST_H
#define SP_WRITER_WRITER_HOST_H

#include <stdbool.h>
#include <stdint.h>

#include "util/error.h"
#include "writer/writer_config.h"

#define SP_WRITER_OUTPUT_MAX 1024

struct sp_writer_step_result {
	int exit_status;      /* exit code; -1 when killed or timed out */
	bool timed_out;	      /* the last attempt hit timeout_s */
	bool left_running;    /* timed out in a guest that could not kill it */
	unsigned attempts;    /* 1 + retries used */
	uint64_t duration_ms; /* all attempts */
	char output[SP_WRITER_OUTPUT_MAX]; /* tail of stdout+stderr of the
					      last attempt, NUL-terminated */
};

/* What hooks get in their environment (see above). */
struct sp_writer_env {
	const char *vm;
	const char *backup_type; /* "full" or "copy" */
};

/*
 * Run @w's pre (@pre true) or post step on the host, retrying a failed
 * attempt up to w->retries times; a step that is NULL succeeds at once
 * with attempts = 0.  The script is checked first with
 * sp_writer_check_host_script().  Errors (message names writer, step,
 * exit status or signal, and the output's tail): SP_E_WRITER_NOT_FOUND,
 * SP_E_WRITER_UNSAFE, SP_E_WRITER_PRE_FAILED / SP_E_WRITER_POST_FAILED,
 * SP_E_WRITER_PRE_TIMEOUT / SP_E_WRITER_POST_TIMEOUT.
 */
int sp_writer_host_run(const struct sp_writer_def *w, bool pre,
		       const struct sp_writer_env *env,
		       struct sp_writer_step_result *res, struct sp_error *err);

#endif

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Running external tools safely: an argv array (never a shell), a clean
 * environment, stdin from /dev/null and no inherited descriptors.
 */
#ifndef SP_UTIL_SPAWN_H
#define SP_UTIL_SPAWN_H

#include <stddef.h>

#include "util/error.h"

/* The fixed search path for tools. */
#define SP_SPAWN_PATH                                                          \
	"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* Find @prog (a bare name or a path) in SP_SPAWN_PATH; returns @buf or
 * NULL when it is not an executable anywhere. */
const char *sp_spawn_find(const char *prog, char *buf, size_t len);

/*
 * Run @argv to completion.  Its stdout goes to *@out (malloc'd,
 * NUL-terminated; pass NULL to discard); the tail of its stderr goes into
 * the error message.  Errors: SP_E_TOOL_MISSING, SP_E_TOOL_FAILED (non-zero
 * exit or a signal), SP_E_NOMEM.
 */
int sp_spawn_run(const char *const argv[], char **out, struct sp_error *err);

#endif

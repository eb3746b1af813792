/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Where the passphrase of an encrypted vault comes from, in this order:
 *
 *  1. STILLPOINT_PASSPHRASE, the passphrase itself (for scripts; note that
 *     a process's environment is visible to root and to the same user);
 *  2. STILLPOINT_PASSPHRASE_FILE, a file holding it: one trailing newline
 *     ("\n" or "\r\n") is dropped; a file others may read is refused, one
 *     its group may read is used with a warning;
 *  3. a prompt on /dev/tty with echo off, when standard input is a
 *     terminal (asked twice when @confirm, for a new passphrase).
 *
 * The passphrase is never logged, and callers wipe it with
 * sp_passphrase_free().
 */
#ifndef SP_VAULT_PASSPHRASE_H
#define SP_VAULT_PASSPHRASE_H

#include <stdbool.h>

#include "util/error.h"

#define SP_PASSPHRASE_MAX 1024

/*
 * Get a passphrase into *@out (NUL-terminated, not empty).  @prompt_for
 * names what it is for in the prompt, e.g. "vault '/srv/vault'".
 * Errors: SP_E_VAULT_KEY_NEEDED (no source: not set, not a terminal),
 * SP_E_USAGE (empty, longer than SP_PASSPHRASE_MAX, a passphrase file that
 * cannot be read or that others may read, two answers that differ),
 * SP_E_NOMEM.
 */
int sp_passphrase_get(const char *prompt_for, bool confirm, char **out,
		      struct sp_error *err);

/* Sources 1 and 2 only: *@out is NULL (and 0 returned) when neither
 * variable is set.  Errors as sp_passphrase_get(), never
 * SP_E_VAULT_KEY_NEEDED. */
int sp_passphrase_from_env(char **out, struct sp_error *err);

/* Source 3 only: the prompt, or SP_E_VAULT_KEY_NEEDED without a
 * terminal. */
int sp_passphrase_ask(const char *prompt_for, bool confirm, char **out,
		      struct sp_error *err);

/* The passphrase held in the file open at @fd (named @path, from @from in
 * messages: e.g. "STILLPOINT_PASSPHRASE_FILE"), read by the same rules as
 * source 2: one trailing newline dropped; not empty, at most
 * SP_PASSPHRASE_MAX bytes, no NUL byte.  The caller checks who may read
 * the file.  Errors: SP_E_USAGE, SP_E_NOMEM. */
int sp_passphrase_read_fd(int fd, const char *path, const char *from,
			  char **out, struct sp_error *err);

/* Wipe and free; NULL is allowed. */
void sp_passphrase_free(char *p);

#endif

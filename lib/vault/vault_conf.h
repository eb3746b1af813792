/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The key settings of a vault's own file (docs/encryption.md, "The
 * daemon and per-vault files"): how the daemon, and anyone who prefers a
 * file to the environment, opens an encrypted vault without a key in its
 * environment or on its command line.
 *
 * The files live in $STILLPOINT_VAULTS_DIR, else /etc/stillpoint/vaults:
 *   - an S3 vault's is BUCKET.conf (the file its credentials come from);
 *   - a directory vault's is the one *.conf file whose line
 *     "vault = /ABSOLUTE/PATH" names that directory (the same directory,
 *     compared by device and inode, so a symbolic link or a trailing
 *     slash does not matter).
 * Key settings (key = value lines, '#' comments):
 *	passphrase_file = PATH   a file holding the passphrase (one trailing
 *	                         newline dropped)
 *	passphrase = TEXT        the passphrase itself (spaces at its ends are
 *	                         dropped: use passphrase_file for such)
 *	key_file = PATH          a key file, or a paper key
 * The per-vault file, and every file it names, must be a regular file
 * owned by the user reading it and closed to group and others (mode 0600
 * or 0400): it holds a secret or the way to one.
 *
 * Where they stand: an explicit option (--key-file, --to-key-file ...) and
 * the environment (STILLPOINT_KEY_FILE, STILLPOINT_PASSPHRASE,
 * STILLPOINT_PASSPHRASE_FILE) win; the file is read only when neither
 * gave a key, and before a terminal prompt.
 *
 * The passphrase lives only in a malloc'd string, wiped by
 * sp_vault_conf_key_release(), and no message names it.
 */
#ifndef SP_VAULT_VAULT_CONF_H
#define SP_VAULT_VAULT_CONF_H

#include <limits.h>

#include "util/error.h"

struct sp_vault_conf_key {
	char conf[PATH_MAX]; /* the per-vault file; "" when there is none */
	char *passphrase;    /* NULL when the file gives none */
	char *key_file;	     /* NULL when the file gives none */
};

/* The directory of per-vault files. */
const char *sp_vault_conf_dir(void);

/*
 * Find the per-vault file of the vault at @location and read its key
 * settings into @out (zeroed first; release it in every case).  No file,
 * or a file without key settings, leaves both NULL and returns 0; so does
 * a directory of files this user may not list.
 * Errors (each message names the per-vault file and the fix):
 *   SP_E_VAULT_PERMISSION  the per-vault file or a file it names may be
 *                          read by others, or is owned by another user;
 *   SP_E_VAULT_KEY_NEEDED  a file it names is missing or unreadable, or
 *                          holds an empty passphrase;
 *   SP_E_USAGE             a line that is no key = value, an unknown
 *                          setting, both passphrase and passphrase_file,
 *                          two files naming the same directory vault;
 *   SP_E_NOMEM.
 */
int sp_vault_conf_key_load(const char *location, struct sp_vault_conf_key *out,
			   struct sp_error *err);

/* Wipe the passphrase and free; @k may be NULL. */
void sp_vault_conf_key_release(struct sp_vault_conf_key *k);

#endif

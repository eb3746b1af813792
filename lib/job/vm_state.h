/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What a libvirt domain keeps outside its disks and a point stores all the
 * same: the UEFI variable store (<os><nvram>, e.g.
 * /var/lib/libvirt/qemu/nvram/NAME_VARS.fd) and the emulated TPM's state
 * (swtpm's directory, /var/lib/libvirt/swtpm/<uuid>/tpm2/).  Each file is
 * stored whole beside the point's indexes as state-<n>, with its size and
 * SHA-256 in the manifest's "state" array (docs/vault-format.md, "State
 * files"); the firmware code (<loader>) is never stored, only named in
 * "firmware".
 *
 * Invariants:
 *  1. A file is stored only as one version of itself: it is read twice,
 *     between fstat()s that agree (same inode, size, mtime and ctime), and
 *     both reads are equal.  OVMF rewrites its variable store in place
 *     while the guest runs (a few bytes per flash write, power-fail safe);
 *     swtpm replaces its files by rename.  A file that keeps changing is
 *     not stored and the point says why.
 *  2. A state file that is missing because the domain never started
 *     (libvirt makes both on first start) is recorded with that reason and
 *     fails nothing.
 *  3. A stored file is used only when its size and SHA-256 are the
 *     manifest's (SP_E_POINT_FILE_CORRUPT otherwise).
 *  4. Files are put in place through temporary names in their target
 *     directory, renamed over the final names only on commit; an aborted
 *     put leaves nothing of its own behind.
 */
#ifndef SP_JOB_VM_STATE_H
#define SP_JOB_VM_STATE_H

#include <libvirt/libvirt.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "domain/domain_xml.h"
#include "util/error.h"
#include "vault/vault.h"

/* The largest state file stored (AAVMF's variable store is 64 MiB). */
#define SP_STATE_FILE_MAX (64u << 20)

/* Where the libvirt daemon behind a URI keeps a domain's NVRAM (when its
 * definition names none: <os firmware='efi'> before libvirt 9.2) and its
 * swtpm state.  Known only for the qemu driver on this host. */
struct sp_libvirt_dirs {
	char nvram[PATH_MAX]; /* NAME_VARS.fd is made here */
	char swtpm[PATH_MAX]; /* <uuid>/tpm2 and <uuid>/tpm1.2 live here */
};

/* Fill @d for @uri (qemu:///system, qemu:///session, qemu+unix://...);
 * false, with @why (may be NULL) set to a static phrase, for a remote
 * host or another driver. */
bool sp_libvirt_dirs(const char *uri, struct sp_libvirt_dirs *d,
		     const char **why);

/* A random UUID (version 4) for a new domain: none of @conn's domains
 * has it, nor does a swtpm state directory under @dirs (may be NULL).
 * @out: VIR_UUID_STRING_BUFLEN bytes.  Errors: SP_E_INTERNAL. */
int sp_new_domain_uuid(virConnectPtr conn, const struct sp_libvirt_dirs *dirs,
		       char *out, struct sp_error *err);

/* "tpm2" for TPM version "2.0" (also when @version is NULL: libvirt 9.0
 * writes the version it chose into the definition), "tpm1.2" for "1.2". */
const char *sp_tpm_dir_name(const char *version);

/* The emulated TPM of @def, or NULL. */
const struct sp_domain_tpm *
sp_domain_emulated_tpm(const struct sp_domain_def *def);

/* ---- backup ------------------------------------------------------------ */

struct sp_vmstate;

/*
 * Read the NVRAM and TPM state of domain @def (the live definition of a
 * running domain: the paths QEMU and swtpm use; @uuid its UUID) from the
 * libvirt behind @uri (invariant 1).  What is not stored gets a reason;
 * what could not be read although it should have been also a warning,
 * appended to @warnings as "StateNotStored: ...".  Errors: SP_E_NOMEM
 * only: a state file never fails a backup.
 */
int sp_vmstate_capture(const struct sp_domain_def *def, const char *uri,
		       const char *uuid, json_t *warnings,
		       struct sp_vmstate **ret, struct sp_error *err);
/* Write the captured files into @draft as state-<n>;
 * *@state receives the manifest's "state" array, *@firmware its
 * "firmware" (an object, or JSON null for a BIOS domain).  Vault errors. */
int sp_vmstate_store(const struct sp_vmstate *s, struct sp_point_draft *draft,
		     json_t **state, json_t **firmware, struct sp_error *err);
void sp_vmstate_free(struct sp_vmstate *s);

/* ---- verify and restore --------------------------------------------------
 */

/* One stored state file of a point, read and checked (invariant 3). */
struct sp_state_file {
	json_t *item;	     /* its manifest entry (borrowed) */
	const char *kind;    /* "nvram", "tpm" */
	const char *name;    /* its file name at the source */
	const char *source;  /* its path at backup */
	const char *file;    /* state-<n> */
	const char *version; /* TPM version ("2.0"), or NULL */
	uint8_t *data;
	size_t len;
	mode_t mode;
	bool has_owner;
	uid_t uid;
	gid_t gid;
};

struct sp_point_state {
	struct sp_state_file *files;
	size_t n;
	json_t *not_stored; /* the entries without a file */
	json_t *manifest;   /* a reference: the files' strings are its */
};

/*
 * Read every state file of point @p (manifest @m, @where in messages) and
 * check its size and SHA-256.  A point without "state" (made before state
 * was stored, or of disk images) has none.  Errors:
 * SP_E_POINT_FILE_CORRUPT (missing, another size or SHA-256, not a
 * regular file), SP_E_USAGE (a kind this version cannot restore),
 * SP_E_VAULT_IO, SP_E_NOMEM.
 */
int sp_point_state_load(const struct sp_point_ref *p, json_t *m,
			const char *where, struct sp_point_state *ps,
			struct sp_error *err);
void sp_point_state_release(struct sp_point_state *ps);
/* The stored NVRAM of @ps, or NULL; whether it has TPM state files. */
const struct sp_state_file *
sp_point_state_nvram(const struct sp_point_state *ps);
bool sp_point_state_has_tpm(const struct sp_point_state *ps);

/* Check the file @file of point @p against @size (any with
 * SP_POINT_FILE_ANY_SIZE) and the hex SHA-256 @sha (verify).  0, or
 * SP_E_POINT_FILE_CORRUPT / SP_E_VAULT_IO with a message naming @file. */
#define SP_POINT_FILE_ANY_SIZE UINT64_MAX
int sp_point_file_check(const struct sp_point_ref *p, const char *file,
			uint64_t size, const char *sha, struct sp_error *err);

/* Putting files in place (invariant 4). */
struct sp_state_put;

struct sp_state_put *sp_state_put_new(void);
/* Make directory @path (one level, its parent must exist) with @mode and,
 * when @uid is not (uid_t)-1, that owner, unless it exists; an aborted
 * put removes, whole, the directories it made.  Errors: SP_E_TARGET_*. */
int sp_state_put_mkdir(struct sp_state_put *p, const char *path, mode_t mode,
		       uid_t uid, gid_t gid, struct sp_error *err);
/* Write the bytes of @f under a temporary name beside @path with @mode
 * (and owner @uid/@gid unless (uid_t)-1).  @path must not exist
 * unless @replace: an existing regular file is then replaced on commit
 * (never written through), anything else refused.  Errors:
 * SP_E_TARGET_EXISTS, SP_E_TARGET_NOT_FOUND, SP_E_TARGET_WRITE,
 * SP_E_TARGET_FULL. */
int sp_state_put_file(struct sp_state_put *p, const char *path,
		      const struct sp_state_file *f, mode_t mode, uid_t uid,
		      gid_t gid, bool replace, struct sp_error *err);
/* Remove @path on commit (a state file the point does not have). */
int sp_state_put_unlink(struct sp_state_put *p, const char *path,
			struct sp_error *err);
/* Rename every file over its final name, then remove what was to go. */
int sp_state_put_commit(struct sp_state_put *p, struct sp_error *err);
/* Before a commit: remove the temporary files and the directories made.
 * After one, with @undo_commit: also the files put in place (they were
 * new: --as) and the directories made. */
void sp_state_put_abort(struct sp_state_put *p, bool undo_commit);
/* The final paths put, as a JSON array of {"state", "name", "path"}. */
json_t *sp_state_put_files(const struct sp_state_put *p);
void sp_state_put_free(struct sp_state_put *p);

#endif

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The one error pattern of Stillpoint.
 *
 * A fallible function returns 0 on success or a negative SP_E_* code, and
 * the function that *detects* the failure fills a struct sp_error with the
 * code and a message written for the operator: lowercase, the subject in
 * quotes, then the fix in parentheses.  Callers pass the struct through;
 * they do not reword it.  Each code has a stable public name (e.g.
 * "VaultFull") and number, catalogued in docs/errors.md; a unit test keeps
 * the catalogue and this table in step.
 */
#ifndef STILLPOINT_ERROR_H
#define STILLPOINT_ERROR_H

#include <stdarg.h>
#include <stdbool.h>

enum sp_errcode {
	SP_OK = 0,

	/* general */
	SP_E_INTERNAL = -1000,
	SP_E_USAGE = -1001,
	SP_E_NOMEM = -1002,
	SP_E_INTERRUPTED = -1003,
	SP_E_TOOL_FAILED = -1004,
	SP_E_TOOL_MISSING = -1005,

	/* the vault */
	SP_E_VAULT_NOT_FOUND = -1100,
	SP_E_NOT_A_VAULT = -1101,
	SP_E_VAULT_VERSION = -1102,
	SP_E_VAULT_EXISTS = -1103,
	SP_E_VAULT_FULL = -1104,
	SP_E_VAULT_IO = -1105,
	SP_E_VAULT_PERMISSION = -1106,
	SP_E_CATALOG = -1107,
	SP_E_VAULT_LOCKED = -1108,
	SP_E_VAULT_FILE_TYPE = -1109,
	SP_E_VAULT_REMOTE = -1110,
	SP_E_VAULT_AUTH = -1111,
	SP_E_VAULT_CLOCK_SKEW = -1112,
	SP_E_VAULT_UNREACHABLE = -1113,
	SP_E_VAULT_UNSUPPORTED = -1114,
	SP_E_VAULT_KEY_WRONG = -1115,
	SP_E_VAULT_KEY_NEEDED = -1116,
	SP_E_OBJECT_LOCKED = -1117,

	/* recovery points and their data */
	SP_E_POINT_NOT_FOUND = -1200,
	SP_E_POINT_AMBIGUOUS = -1201,
	SP_E_MANIFEST_CORRUPT = -1202,
	SP_E_INDEX_CORRUPT = -1203,
	SP_E_CHUNK_MISSING = -1204,
	SP_E_CHUNK_CORRUPT = -1205,
	SP_E_POINT_DAMAGED = -1206,
	SP_E_NAME_INVALID = -1207,
	SP_E_POINT_DIFFERS = -1208,
	SP_E_TRANSFER_MISMATCH = -1209,
	SP_E_POINT_FILE_CORRUPT = -1210,

	/* source disks */
	SP_E_DISK_NOT_FOUND = -1300,
	SP_E_DISK_PERMISSION = -1301,
	SP_E_DISK_IS_DIRECTORY = -1302,
	SP_E_DISK_NOT_SUPPORTED = -1303,
	SP_E_DISK_READ = -1304,
	SP_E_DISK_CHANGED = -1305,
	SP_E_DISK_FORMAT = -1306,
	SP_E_DISK_DUPLICATE = -1307,
	SP_E_NBD = -1308,
	SP_E_CONFIG_NOT_FOUND = -1309,
	SP_E_DISK_FORMAT_UNDECLARED = -1310,
	SP_E_CBT_META_INVALID = -1311,

	/* restore targets */
	SP_E_TARGET_EXISTS = -1400,
	SP_E_TARGET_TOO_SMALL = -1401,
	SP_E_TARGET_WRITE = -1402,
	SP_E_TARGET_NOT_FOUND = -1403,
	SP_E_TARGET_FULL = -1404,
	SP_E_TARGET_BUSY = -1405,
	SP_E_DOMAIN_EXISTS = -1406,
	SP_E_TARGET_SIZE_UNALIGNED = -1407,

	/* live VMs: libvirt domains and their snapshots */
	SP_E_DOMAIN_NOT_FOUND = -1500,
	SP_E_LIBVIRT = -1501,
	SP_E_DOMAIN_BUSY = -1502,
	SP_E_DOMAIN_STATE = -1503,
	SP_E_SNAPSHOT_FAILED = -1504,
	SP_E_CHECKPOINT_MISSING = -1505,
	SP_E_CHECKPOINT_INCONSISTENT = -1506,
	SP_E_DISKS_CHANGED = -1507,
	SP_E_EXPORT_READ = -1508,
	SP_E_CONSISTENCY_NOT_REACHED = -1509,
	SP_E_CHECKPOINT_REFUSED = -1510,

	/* guest agent and writers */
	SP_E_GUEST_AGENT_UNAVAILABLE = -1600,
	SP_E_FREEZE_FAILED = -1601,
	SP_E_FREEZE_TIMEOUT = -1602,
	SP_E_THAW_FAILED = -1603,
	SP_E_WRITER_PRE_FAILED = -1604,
	SP_E_WRITER_POST_FAILED = -1605,
	SP_E_WRITER_PRE_TIMEOUT = -1606,
	SP_E_WRITER_POST_TIMEOUT = -1607,
	SP_E_WRITER_NOT_FOUND = -1608,
	SP_E_WRITER_UNSAFE = -1609,
	SP_E_WRITER_CONFIG = -1610,
	SP_E_GUEST_EXEC = -1611,

	/* the trash and garbage collection */
	SP_E_GC_BUSY = -1700,
	SP_E_POINT_EXISTS = -1701,
	SP_E_GC_UNSAFE = -1702,

	/* policies, protection, jobs and the daemon */
	SP_E_POLICY_NOT_FOUND = -1800,
	SP_E_POLICY_EXISTS = -1801,
	SP_E_POLICY_IN_USE = -1802,
	SP_E_NOT_PROTECTED = -1803,
	SP_E_JOB_NOT_FOUND = -1804,
	SP_E_STATE = -1805,
	SP_E_DAEMON_UNAVAILABLE = -1806,
	SP_E_JOB_RUNNING = -1807,
	SP_E_DAEMON_PERMISSION = -1808,
	SP_E_JOB_NOT_QUEUED = -1809,

	/* restore everywhere: serving points (1900-1909), guest files
	 * (1910-1929), instant recovery (1930-1949), boot verification
	 * (1950-1969) */
	SP_E_SERVE_FAILED = -1900,
	SP_E_MOUNT_FAILED = -1901,
	SP_E_GUEST_PATH_NOT_FOUND = -1910,
	SP_E_GUEST_PATH_UNMAPPED = -1911,
	SP_E_GUEST_DISK_NOT_FOUND = -1912,
	SP_E_GUEST_FS_NOT_FOUND = -1913,
	SP_E_GUESTFS_FAILED = -1914,
	SP_E_GUEST_FILE_READ = -1915,
	SP_E_INSTANT_DIR = -1930,
	SP_E_INSTANT_BOOT = -1931,
	SP_E_INSTANT_COPY = -1932,
	SP_E_INSTANT_SERVE_LOST = -1933,
	SP_E_INSTANT_JOB = -1934,
	SP_E_BOOT_PROBE_FAILED = -1950,
	SP_E_BOOT_TIMEOUT = -1951,
	SP_E_BOOT_FAILED = -1952,
};

#define SP_ERROR_MSG_MAX 512

struct sp_error {
	int code; /* SP_OK or an SP_E_* value */
	char msg[SP_ERROR_MSG_MAX];
};

struct sp_errcode_info {
	int code;
	const char *name;    /* stable public name, e.g. "VaultFull" */
	const char *summary; /* one line: what went wrong */
	const char *action;  /* recommended action */
};

/* Fill @err (may be NULL) and return @code, so callers can write
 * "return sp_error_set(err, SP_E_..., "cannot ... '%s'", path);". */
int sp_error_set(struct sp_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Like sp_error_set() and appends ": strerror(errnum)". */
int sp_error_set_errno(struct sp_error *err, int code, int errnum,
		       const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

void sp_error_clear(struct sp_error *err);

/* Catalogue look-ups; unknown codes map to the SP_E_INTERNAL entry. */
const struct sp_errcode_info *sp_errcode_lookup(int code);
const char *sp_errcode_name(int code);
/* The public number, e.g. 1104 for SP_E_VAULT_FULL. */
int sp_errcode_number(int code);
/* The whole table, terminated by an entry whose name is NULL. */
const struct sp_errcode_info *sp_errcode_table(void);

#endif

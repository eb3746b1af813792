// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The error catalogue: every SP_E_* code with its stable public name, a
 * summary and the recommended action.  Names and numbers never change once
 * released; docs/errors.md is checked against this table by a unit test.
 */
#include "error.h"

#include <stdio.h>
#include <string.h>

static const struct sp_errcode_info catalogue[] = {
    {SP_E_INTERNAL, "InternalError", "an internal error occurred",
     "report a bug with the full message"},
    {SP_E_USAGE, "UsageError", "the command line is invalid",
     "see 'stillpoint CMD --help'"},
    {SP_E_NOMEM, "OutOfMemory", "memory could not be allocated",
     "free memory on the host or lower the number of jobs"},
    {SP_E_INTERRUPTED, "Interrupted",
     "the operation was interrupted by a signal",
     "run it again; nothing partial was published"},
    {SP_E_TOOL_FAILED, "ToolFailed", "an external tool failed",
     "read the tool's message included in the error"},
    {SP_E_TOOL_MISSING, "ToolMissing", "an external tool is not installed",
     "install it (tools/setup-debian.sh installs every dependency)"},

    {SP_E_VAULT_NOT_FOUND, "VaultNotFound", "the vault does not exist",
     "create it with 'stillpoint --vault DIR init' or fix --vault"},
    {SP_E_NOT_A_VAULT, "NotAVault", "the directory is not a Stillpoint vault",
     "point --vault at a vault, or init a new one in an empty directory"},
    {SP_E_VAULT_VERSION, "VaultVersionUnsupported",
     "the vault's format version is not supported by this build",
     "use a Stillpoint release that supports this format version"},
    {SP_E_VAULT_EXISTS, "VaultExists", "a vault already exists there",
     "use the existing vault or choose another directory"},
    {SP_E_VAULT_FULL, "VaultFull", "the vault's file system is out of space",
     "free space on the vault's file system; nothing partial was "
     "published"},
    {SP_E_VAULT_IO, "VaultIOError", "reading or writing the vault failed",
     "check the vault's file system and run 'stillpoint verify'"},
    {SP_E_VAULT_PERMISSION, "VaultPermissionDenied",
     "the vault cannot be accessed with this user's permissions",
     "run as the vault's owner (usually root)"},
    {SP_E_CATALOG, "CatalogError", "the vault's catalog could not be used",
     "run 'stillpoint catalog rebuild'"},
    {SP_E_VAULT_LOCKED, "VaultLocked",
     "another process holds the vault exclusively",
     "wait for it to finish and retry"},
    {SP_E_VAULT_FILE_TYPE, "VaultFileNotRegular",
     "a file of the vault's own is a symbolic link or not a regular file",
     "remove the file the message names (a vault holds no links, FIFOs or "
     "devices; lock files are created again), then run 'stillpoint "
     "verify'"},
    {SP_E_VAULT_REMOTE, "VaultRemoteError",
     "the vault's object store answered a request with an error",
     "read the HTTP status and S3 error code in the message; check the "
     "bucket's settings and the server's health, then retry"},
    {SP_E_VAULT_AUTH, "VaultAuthFailed",
     "the vault's object store refused the credentials",
     "check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (or the vault's "
     "config file) and that the key may use the bucket"},
    {SP_E_VAULT_CLOCK_SKEW, "VaultClockSkew",
     "the object store refused the request because the host's clock "
     "differs too much from the server's",
     "fix the host clock (run NTP: chrony or systemd-timesyncd), then "
     "retry"},
    {SP_E_VAULT_UNREACHABLE, "VaultUnreachable",
     "the vault's object store could not be reached (DNS, connection or "
     "TLS failed, or it stopped answering)",
     "check the endpoint URL, the network and, for TLS, the CA file "
     "(--s3-ca or AWS_CA_BUNDLE)"},
    {SP_E_VAULT_UNSUPPORTED, "VaultFeatureUnsupported",
     "the object store lacks a feature the vault needs (conditional "
     "writes or object lock)",
     "use a server or bucket that supports it (conditional writes: AWS "
     "S3, or Ceph RGW in a bucket without versioning; object lock: a "
     "bucket created with it enabled), or a local vault"},
    {SP_E_OBJECT_LOCKED, "ObjectLocked",
     "an object is protected by object lock and cannot be deleted or "
     "overwritten yet",
     "wait until its retention date has passed; nothing was changed"},
    {SP_E_VAULT_KEY_WRONG, "VaultKeyWrong",
     "the passphrase or key file does not open the encrypted vault",
     "give the vault's passphrase or key file (a paper key file works "
     "too; a typo in it is named by line); nothing was written"},
    {SP_E_VAULT_KEY_NEEDED, "VaultKeyNeeded",
     "the vault is encrypted and no passphrase or key file was given",
     "set STILLPOINT_PASSPHRASE or STILLPOINT_PASSPHRASE_FILE, run on a "
     "terminal to be asked, pass --key-file, or name the key in the "
     "vault's file in /etc/stillpoint/vaults (docs/encryption.md)"},

    {SP_E_POINT_NOT_FOUND, "PointNotFound",
     "no recovery point matches the name or id",
     "list points with 'stillpoint points'"},
    {SP_E_POINT_AMBIGUOUS, "PointAmbiguous",
     "the id prefix matches several recovery points",
     "give more characters of the id"},
    {SP_E_MANIFEST_CORRUPT, "ManifestCorrupt",
     "a recovery point's manifest is damaged",
     "restore from another point; run 'stillpoint verify'"},
    {SP_E_INDEX_CORRUPT, "IndexCorrupt", "a disk's chunk index is damaged",
     "restore from another point; run 'stillpoint verify'"},
    {SP_E_CHUNK_MISSING, "ChunkMissing",
     "a chunk a recovery point needs is missing from the vault",
     "restore from another point; run a new full backup"},
    {SP_E_CHUNK_CORRUPT, "ChunkCorrupt",
     "a chunk's content does not match its id",
     "restore from another point; run a new backup to store a good copy"},
    {SP_E_POINT_DAMAGED, "PointDamaged", "verify found damaged recovery points",
     "see the listed points, disks and ranges; back up again"},
    {SP_E_NAME_INVALID, "NameInvalid", "a VM name or point id is invalid",
     "use letters, digits, '.', '_' and '-' (1-64 characters, not "
     "starting with '.')"},
    {SP_E_POINT_DIFFERS, "PointDiffers",
     "a recovery point's disk differs from the disk it was compared with",
     "the message names the first differing byte ranges; if the disk "
     "was not written since the point was taken, the point is wrong: "
     "take a new backup and report it"},
    {SP_E_TRANSFER_MISMATCH, "TransferCheckFailed",
     "bytes stored for a backup differ from the source read again",
     "the point was not published; if the source changed during the "
     "backup (a disk written outside a snapshot) back it up from a "
     "snapshot, else report it with the message"},
    {SP_E_POINT_FILE_CORRUPT, "PointFileCorrupt",
     "a file stored with a recovery point (NVRAM, TPM state, config) "
     "does not match the size and SHA-256 its manifest records",
     "restore from another point; run 'stillpoint verify' and back up "
     "again"},

    {SP_E_DISK_NOT_FOUND, "DiskNotFound", "a disk does not exist",
     "check the path given with --disk"},
    {SP_E_DISK_PERMISSION, "DiskPermissionDenied",
     "a disk cannot be read with this user's permissions",
     "run as root or grant read access to the disk"},
    {SP_E_DISK_IS_DIRECTORY, "DiskIsDirectory", "a disk path names a directory",
     "give the image file or block device itself"},
    {SP_E_DISK_NOT_SUPPORTED, "DiskNotSupported",
     "a disk is neither a regular file nor a block device",
     "give an image file or a block device"},
    {SP_E_DISK_READ, "DiskReadFailed", "reading a disk failed",
     "check the disk and the kernel log, then retry"},
    {SP_E_DISK_CHANGED, "DiskChanged",
     "a disk changed size while it was being backed up",
     "stop the VM (or use a live backup) and retry"},
    {SP_E_DISK_FORMAT, "DiskFormatUnsupported",
     "a disk image's format cannot be read",
     "convert it with qemu-img to raw or qcow2"},
    {SP_E_DISK_FORMAT_UNDECLARED, "DiskFormatUndeclared",
     "a disk looks like an image format it was not declared to have",
     "declare the format: --disk PATH:qcow2 or PATH:raw (or --format); "
     "Stillpoint never guesses it from the disk's content"},
    {SP_E_CBT_META_INVALID, "CbtMetadataInvalid",
     "a disk's changed-block-tracking metadata image does not describe its "
     "raw data store (it names another data file, or its data is not kept "
     "raw)",
     "run 'stillpoint cbt status DOMAIN'; if the image was not made by "
     "'stillpoint cbt enable', point the domain back at its raw disk, else "
     "'stillpoint cbt disable' and 'enable' again with the domain shut "
     "off"},
    {SP_E_DISK_DUPLICATE, "DiskDuplicate",
     "two disks of one backup have the same file name",
     "give each disk once; disks are named by their file name"},
    {SP_E_NBD, "NbdFailed", "talking NBD to the disk server failed",
     "read the included message; check qemu-nbd and the image"},
    {SP_E_CONFIG_NOT_FOUND, "ConfigNotFound",
     "the VM configuration file cannot be read",
     "check the path given with --config"},

    {SP_E_TARGET_EXISTS, "TargetExists", "a restore target file already exists",
     "choose an empty directory or pass --force to overwrite"},
    {SP_E_TARGET_TOO_SMALL, "TargetTooSmall",
     "a restore target block device is smaller than the disk",
     "use a device at least as large as the disk's size"},
    {SP_E_TARGET_WRITE, "TargetWriteFailed", "writing a restore target failed",
     "check the target's file system or device and retry"},
    {SP_E_TARGET_NOT_FOUND, "TargetNotFound",
     "the restore target's directory does not exist and cannot be made",
     "fix --to or --disk-to: a part of the path is not a directory, or the "
     "directory of a --disk-to file is missing"},
    {SP_E_TARGET_FULL, "TargetFull",
     "the restore target's file system is out of space",
     "free space or restore elsewhere; the partial file was removed"},
    {SP_E_TARGET_BUSY, "TargetBusy", "a restore target block device is in use",
     "unmount it or stop what uses it"},
    {SP_E_DOMAIN_EXISTS, "DomainExists",
     "a libvirt domain with the restore's new name already exists",
     "choose another name with --as, or undefine the old domain"},
    {SP_E_TARGET_SIZE_UNALIGNED, "TargetSizeUnaligned",
     "the disk's size cannot be kept in the requested target format (a "
     "qcow2 image is a whole number of 512-byte sectors)",
     "restore the disk with --format raw"},

    {SP_E_DOMAIN_NOT_FOUND, "DomainNotFound",
     "no libvirt domain has that name or UUID",
     "check 'virsh list --all' and --connect (or LIBVIRT_DEFAULT_URI)"},
    {SP_E_LIBVIRT, "LibvirtFailed", "talking to libvirt failed",
     "check that libvirtd runs and the connection URI (--connect) is "
     "right; the message has libvirt's reason"},
    {SP_E_DOMAIN_BUSY, "DomainBusy",
     "another backup job is running on the domain",
     "wait for it to end, or abort it with 'virsh domjobabort DOMAIN'"},
    {SP_E_DOMAIN_STATE, "DomainStateInvalid",
     "the domain is not in a state this operation allows",
     "shut the domain off (or start it) as the message says, then retry"},
    {SP_E_SNAPSHOT_FAILED, "SnapshotFailed",
     "libvirt could not start the backup job (the snapshot)",
     "read libvirt's reason in the message (with the disk it names, when "
     "one); check the scratch directory and the domain's QEMU log"},
    {SP_E_CHECKPOINT_MISSING, "CheckpointMissing",
     "the checkpoint of the previous backup is gone",
     "nothing to do: this backup read all data and the next one is "
     "incremental again"},
    {SP_E_CHECKPOINT_INCONSISTENT, "CheckpointInconsistent",
     "the previous checkpoint's dirty bitmap is missing or broken "
     "(e.g. after QEMU crashed)",
     "nothing to do: this backup read all data and repaired the chain"},
    {SP_E_DISKS_CHANGED, "DomainDisksChanged",
     "a disk was added to or removed from the domain during the snapshot "
     "phase",
     "retry the backup once the disk change is done"},
    {SP_E_EXPORT_READ, "ExportReadFailed",
     "reading the point-in-time NBD export of a disk failed",
     "check QEMU's log for the domain and the host's disk, then retry; "
     "no point was published"},
    {SP_E_CONSISTENCY_NOT_REACHED, "ConsistencyNotReached",
     "the consistency the VM's settings require was not reached",
     "fix the failed step named in the message, or lower the required "
     "consistency"},
    {SP_E_CHECKPOINT_REFUSED, "CheckpointRefused",
     "libvirt refused a disk's dirty bitmap in the backup's checkpoint",
     "retry once the disk's definition is settled: Stillpoint asks "
     "bitmaps for qcow2 disks only and reads raw files and block devices "
     "in full; the message names the disk and the format libvirt runs"},

    {SP_E_GUEST_AGENT_UNAVAILABLE, "GuestAgentUnavailable",
     "the QEMU guest agent does not answer",
     "install and start qemu-guest-agent in the guest and give the "
     "domain an org.qemu.guest_agent.0 channel"},
    {SP_E_FREEZE_FAILED, "FreezeFailed",
     "freezing the guest's file systems failed",
     "check the guest agent's log in the guest; the guest was thawed"},
    {SP_E_FREEZE_TIMEOUT, "FreezeTimeout",
     "the guest stayed frozen past the freeze deadline and was thawed",
     "check the host's load and libvirt; raise freeze_deadline_s only "
     "if the guest tolerates it"},
    {SP_E_THAW_FAILED, "ThawFailed", "thawing the guest's file systems failed",
     "check the guest now: run 'virsh domfsthaw DOMAIN' and the guest "
     "agent's log"},
    {SP_E_WRITER_PRE_FAILED, "WriterPreFailed",
     "a writer's pre (prepare/freeze) command failed",
     "read the writer's output in the message and fix its script"},
    {SP_E_WRITER_POST_FAILED, "WriterPostFailed",
     "a writer's post (thaw) command failed",
     "read the writer's output in the message and fix its script"},
    {SP_E_WRITER_PRE_TIMEOUT, "WriterPreTimedOut",
     "a writer's pre command did not finish within its timeout",
     "make the script faster or raise its timeout_s"},
    {SP_E_WRITER_POST_TIMEOUT, "WriterPostTimedOut",
     "a writer's post command did not finish within its timeout",
     "make the script faster or raise its timeout_s"},
    {SP_E_WRITER_NOT_FOUND, "WriterNotFound",
     "a writer's command does not exist or is not executable",
     "install the script at the path the writer settings give"},
    {SP_E_WRITER_UNSAFE, "WriterUnsafePermissions",
     "a writer's settings file or script is not root-owned or is "
     "writable by others",
     "chown root and chmod go-w the file (and its directory)"},
    {SP_E_WRITER_CONFIG, "WriterConfigInvalid",
     "the VM's writer settings file is invalid",
     "fix the file as the message says (docs/writers.md)"},
    {SP_E_GUEST_EXEC, "GuestExecFailed",
     "running a command in the guest through the guest agent failed",
     "check that the guest agent allows guest-exec"},

    {SP_E_GC_BUSY, "GcBusy", "another gc is running on the vault",
     "wait for it to finish; backups may run meanwhile"},
    {SP_E_POINT_EXISTS, "PointExists",
     "a recovery point with that name and id already exists",
     "nothing to undelete: the point is already listed"},
    {SP_E_GC_UNSAFE, "GcUnsafe",
     "gc could not read every point that may reference chunks, so it "
     "collected nothing",
     "run 'stillpoint verify'; repair or delete the damaged point, then "
     "run gc again"},

    {SP_E_POLICY_NOT_FOUND, "PolicyNotFound", "no policy has that name",
     "list policies with 'stillpoint policy list'"},
    {SP_E_POLICY_EXISTS, "PolicyExists", "a policy with that name exists",
     "choose another name, or change it with 'stillpoint policy edit'"},
    {SP_E_POLICY_IN_USE, "PolicyInUse",
     "the policy protects VMs and cannot be deleted",
     "move those VMs to another policy with 'stillpoint protect', or "
     "unprotect them"},
    {SP_E_NOT_PROTECTED, "NotProtected", "the VM is not protected",
     "protect it with 'stillpoint protect VM --policy NAME'"},
    {SP_E_JOB_NOT_FOUND, "JobNotFound", "no job has that id",
     "list jobs with 'stillpoint jobs'"},
    {SP_E_STATE, "StateError", "the job and policy database could not be used",
     "check the state directory ($STILLPOINT_STATE_DIR, default "
     "/var/lib/stillpointd) and its file system"},
    {SP_E_DAEMON_UNAVAILABLE, "DaemonUnavailable",
     "stillpointd does not answer on its socket",
     "start it ('systemctl start stillpointd', or 'stillpointd'), or run "
     "the backup directly"},
    {SP_E_JOB_RUNNING, "JobRunning", "a job of this VM is already running",
     "wait for it ('stillpoint jobs --vm VM') or cancel it"},
    {SP_E_DAEMON_PERMISSION, "DaemonPermissionDenied",
     "stillpointd takes requests from root only",
     "run the command as root (e.g. with sudo)"},
    {SP_E_JOB_NOT_QUEUED, "JobNotQueued",
     "the job was taken by another process, or cancelled, before it started",
     "nothing to do: see who ran it with 'stillpoint job ID'"},
    {SP_E_SERVE_FAILED, "ServeFailed",
     "the NBD server of a point could not be started or stopped serving",
     "check that nbdkit is installed and the socket or port is free; the "
     "message "
     "gives nbdkit's own words"},
    {SP_E_MOUNT_FAILED, "MountFailed",
     "the disks of a point could not be mounted as files (FUSE)",
     "check that /dev/fuse exists (modprobe fuse) and that the directory is "
     "an empty one not already mounted"},
    {SP_E_GUEST_PATH_NOT_FOUND, "GuestPathNotFound",
     "the path does not exist in the point's file system",
     "list the directory above it with 'stillpoint files NAME@ID DIR'"},
    {SP_E_GUEST_PATH_UNMAPPED, "GuestPathUnmapped",
     "a guest path was given but the point records no mount for it",
     "name the file system: DISK:PARTITION:/path (e.g. vdb:1:/etc/hosts, "
     "vda::/log, lvm:VG/LV:/x); 'stillpoint files NAME' lists them"},
    {SP_E_GUEST_DISK_NOT_FOUND, "GuestDiskNotFound",
     "the point has no such disk, partition or logical volume",
     "list the file systems with 'stillpoint files NAME@ID'"},
    {SP_E_GUEST_FS_NOT_FOUND, "GuestFsNotFound",
     "no readable file system on that disk or partition",
     "list the file systems with 'stillpoint files NAME@ID'; the disk may "
     "hold a damaged or unsupported file system"},
    {SP_E_GUESTFS_FAILED, "GuestfsFailed",
     "the appliance that reads guest file systems failed",
     "check that libguestfs is installed (tools/setup-debian.sh); "
     "LIBGUESTFS_DEBUG=1 shows its boot; STILLPOINT_FILES_ACCEL=tcg avoids "
     "a nested KVM that hangs"},
    {SP_E_GUEST_FILE_READ, "GuestFileReadFailed",
     "a file or directory of the point could not be read",
     "the guest file system may be damaged: run 'stillpoint verify' and "
     "take the other files"},
    {SP_E_INSTANT_DIR, "InstantDirUnusable",
     "the directory for an instant recovery's disks cannot be used",
     "give --to a directory on local storage that exists or can be made, "
     "with room for the disks, that QEMU's user can reach (mode 0711 or "
     "more on it and its parents)"},
    {SP_E_INSTANT_BOOT, "InstantBootFailed",
     "the domain of an instant recovery did not start or its guest agent "
     "did not answer",
     "read the message and the domain's log (/var/log/libvirt/qemu/NAME.log); "
     "the new domain was removed again and the vault is untouched"},
    {SP_E_INSTANT_COPY, "InstantCopyFailed",
     "copying an instantly recovered domain's disks to local storage failed",
     "free space in the --to directory or fix what the message names, then "
     "'stillpoint restore --resume JOB' copies again; the guest keeps "
     "running on the vault meanwhile"},
    {SP_E_INSTANT_SERVE_LOST, "InstantServeLost",
     "the server of an instantly recovered domain's disks, or the vault "
     "behind it, went away before the copy ended: the guest is paused",
     "make the vault reachable again, then 'stillpoint restore --resume "
     "JOB' serves the disks on the same socket, resumes the guest and "
     "finishes the copy"},
    {SP_E_INSTANT_JOB, "InstantJobUnknown",
     "the job given to 'restore --resume' is not an instant recovery that "
     "can be resumed",
     "list instant recoveries with 'stillpoint jobs'; only a failed or "
     "interrupted one whose domain still exists can be resumed"},
    {SP_E_BOOT_PROBE_FAILED, "BootProbeFailed",
     "a point booted, but the probe run in the guest failed (non-zero exit)",
     "the point's application does not answer: look at the probe's output "
     "in the message, restore the point and examine it, or verify an "
     "older point"},
    {SP_E_BOOT_TIMEOUT, "BootTimeout",
     "a point booted for verification did not answer through its guest "
     "agent (or its probe did not end) within the timeout",
     "give it longer with --timeout; check that the guest starts "
     "qemu-guest-agent at boot and that the point's disks boot"},
    {SP_E_BOOT_FAILED, "BootFailed",
     "a point could not be started as a temporary domain for verification",
     "the message gives libvirt's words; check that the host can run the "
     "point's definition (emulator, firmware, CPU model)"},
    {0, NULL, NULL, NULL},
};

const struct sp_errcode_info *sp_errcode_table(void)
{
	return catalogue;
}

const struct sp_errcode_info *sp_errcode_lookup(int code)
{
	for (const struct sp_errcode_info *e = catalogue; e->name; e++)
		if (e->code == code)
			return e;
	return &catalogue[0];
}

const char *sp_errcode_name(int code)
{
	return sp_errcode_lookup(code)->name;
}

int sp_errcode_number(int code)
{
	return -sp_errcode_lookup(code)->code;
}

static int error_vset(struct sp_error *err, int code, int errnum,
		      const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));

static int error_vset(struct sp_error *err, int code, int errnum,
		      const char *fmt, va_list ap)
{
	if (!err)
		return code;
	err->code = code;
	int n = vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	if (errnum && n >= 0 && (size_t)n < sizeof(err->msg))
		snprintf(err->msg + n, sizeof(err->msg) - (size_t)n, ": %s",
			 strerror(errnum));
	return code;
}

int sp_error_set(struct sp_error *err, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	error_vset(err, code, 0, fmt, ap);
	va_end(ap);
	return code;
}

int sp_error_set_errno(struct sp_error *err, int code, int errnum,
		       const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	error_vset(err, code, errnum, fmt, ap);
	va_end(ap);
	return code;
}

void sp_error_clear(struct sp_error *err)
{
	if (err) {
		err->code = SP_OK;
		err->msg[0] = '\0';
	}
}

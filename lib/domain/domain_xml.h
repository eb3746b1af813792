/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libvirt domain XML, read and rewritten with libxml2: the disks a backup
 * must capture, and the definition a restore defines anew.  Pure functions
 * of their input (no libvirt connection), so they are unit-tested and
 * fuzzed on their own.
 *
 * Nothing here trusts the XML: unknown elements are kept as they are,
 * missing attributes read as NULL, and a document that is not a <domain>
 * is refused with SP_E_CONFIG_INVALID-like errors (SP_E_LIBVIRT with a
 * message naming what is wrong).
 */
#ifndef SP_DOMAIN_DOMAIN_XML_H
#define SP_DOMAIN_DOMAIN_XML_H

#include <stdbool.h>
#include <stddef.h>

#include "util/error.h"

/* One <disk> of a domain, in document order. */
struct sp_domain_disk {
	char *target; /* <target dev=...>: "vda", "sdb"; never NULL */
	char *bus;    /* <target bus=...>: "virtio", "sata", ...; may be NULL */
	char *device; /* <disk device=...>: "disk" (default), "cdrom",
			 "floppy", "lun" */
	char *type;   /* <disk type=...>: "file", "block", "network",
			 "volume", "dir", "nvme", "vhostuser" */
	char *source; /* <source file=...> or <source dev=...>; NULL for
			 network disks and empty drives */
	char *format; /* <driver type=...>: "qcow2", "raw"; may be NULL */
	char *error_policy;  /* <driver error_policy=...>, or NULL */
	char *rerror_policy; /* <driver rerror_policy=...>, or NULL */
	/* A qcow2 image whose guest data lives in an external file or
	 * device (<source file=...><dataStore type=...>): */
	char *data_source; /* its <dataStore><source file|dev>, or NULL */
	char *data_type;   /* <dataStore type>: "file" or "block" */
	char *data_format; /* <dataStore><format type>: "raw", or NULL */
	char *cbt_meta;	   /* the metadata image, when Stillpoint made it to
			      track the disk's changes (sp_domain_xml_cbt_*);
			      NULL otherwise */
	char *cbt_owner;   /* the data store's owner before the adoption,
			      "UID:GID:MODE" (octal mode), or NULL */
	char *protocol;	   /* network disks: <source protocol=...>, else NULL */
	char *net_source;  /* network disks: "nbd://host:port/name" or
			      "nbd+unix:///name?socket=PATH" (display only) */
	bool readonly;	   /* <readonly/> */
	bool media;	   /* a read-only medium: a cdrom or floppy with media,
			      or a disk with <readonly/>; the guest cannot
			      change it */
	bool shareable;	   /* <shareable/> */
	bool transient;	   /* <transient/> */
	bool backup_no;	   /* <disk ...><backup>? no: libvirt's per-disk opt-out
			      is not in 9.0; set when the disk cannot be
			      captured by a pull-mode backup */
	const char *why_excluded; /* static text when backup_no is set:
				     "empty drive", "pass-through LUN",
				     "network disk (protocol rbd): ...",
				     ... */
};

/* The firmware of <os>: what a UEFI domain boots from and where its
 * variable store lives.  Every field may be NULL (a BIOS domain has none). */
struct sp_domain_firmware {
	char *firmware;	   /* <os firmware=...>: "efi", "bios" */
	char *loader;	   /* <loader> text: the firmware code */
	char *loader_type; /* <loader type=...>: "pflash", "rom" */
	bool loader_readonly;
	bool has_nvram;	  /* an <nvram> element is there */
	char *nvram;	  /* its file: the element's text, or <source file=...>
			     (type='file') or <source dev=...> (type='block') */
	char *nvram_type; /* <nvram type=...>: NULL for the plain path
			     form, "file", "block", "network" */
	char *nvram_template; /* <nvram template=...> */
};

/* One <tpm> device. */
struct sp_domain_tpm {
	char *model;	/* "tpm-crb", "tpm-tis", ...; may be NULL */
	char *backend;	/* <backend type=...>: "emulator", "passthrough",
			   "external"; may be NULL */
	char *version;	/* <backend version=...>: "2.0", "1.2"; may be NULL */
	bool encrypted; /* <backend><encryption secret=.../> */
	bool persistent_state; /* <backend persistent_state='yes'> */
};

struct sp_domain_def {
	char *name;
	char *uuid; /* may be NULL */
	char *type; /* "kvm", "qemu" */
	struct sp_domain_disk *disks;
	size_t ndisks;
	size_t ninterfaces;
	struct sp_domain_firmware fw;
	struct sp_domain_tpm *tpms;
	size_t ntpms;
};

/* Does the domain boot UEFI firmware with a variable store of its own
 * (<os firmware='efi'>, a read-only pflash <loader>, or an <nvram>)? */
bool sp_domain_has_nvram(const struct sp_domain_def *def);

/*
 * Parse a domain definition.  Errors: SP_E_LIBVIRT ("domain XML of '%s'
 * is invalid: ...") when the text is not well-formed XML or has no
 * <domain> root with a <name>; SP_E_NOMEM.
 */
int sp_domain_def_parse(const char *xml, size_t len, struct sp_domain_def **ret,
			struct sp_error *err);
void sp_domain_def_free(struct sp_domain_def *def);

/* The disk of @def (may be NULL) with target @target ("vda"), or NULL. */
const struct sp_domain_disk *sp_domain_def_disk(const struct sp_domain_def *def,
						const char *target);

/*
 * Can disk @d keep a persistent dirty bitmap, i.e. take part in a libvirt
 * checkpoint (checkpoint='bitmap')?  Only a qcow2 image can, on a file or
 * a block device (libvirt 9.0 refuses any other format: "checkpoint for
 * disk X unsupported for storage type Y"); a qcow2 image whose data lives
 * in an external raw file (<dataStore>) is qcow2 here.  A disk without
 * <driver type> runs raw.  A read-only medium (QEMU opens it read-only:
 * no bitmap can be written) and a network disk keep none.  When it cannot,
 * *@why (may be NULL) gets a static phrase for manifests and messages, e.g.
 * "raw file keeps no checkpoint bitmap (only qcow2 can)".
 */
bool sp_domain_disk_keeps_bitmap(const struct sp_domain_disk *d,
				 const char **why);

/* Where a restored disk now lives, by target ("vda"). */
struct sp_domain_disk_map {
	const char *target;
	const char *path;   /* new image file */
	const char *format; /* "qcow2" or "raw" */
	/* With a socket: @path is a qcow2 overlay whose backing is the raw
	 * NBD export @backing_export served on the Unix socket
	 * @backing_socket (an explicit <backingStore type='network'>). */
	const char *backing_socket;
	const char *backing_export;
	/* error_policy='stop' rerror_policy='stop': a failed read or write
	 * pauses the guest instead of reaching it as an I/O error. */
	bool stop_on_error;
	/* Without stop_on_error (sp_domain_xml_set_disks): the policies the
	 * disk gets, NULL for none (libvirt's default). */
	const char *error_policy;
	const char *rerror_policy;
};

/* What identifies the restored copy besides its name (see below). */
struct sp_domain_restore_ids {
	const char *uuid;  /* its <uuid>; NULL: none, libvirt makes one */
	const char *nvram; /* its NVRAM file; NULL: the path is dropped and
			      libvirt makes one from the template */
};

/*
 * The definition of a restored copy of a domain: <name> set to @new_name,
 * <uuid> removed (libvirt makes a new one) or set to @ids->uuid, every
 * <interface>'s <mac> removed (libvirt makes new addresses), each disk in
 * @maps turned into <disk type='file'> with <source file=path>, <driver
 * type=format> and no <backingStore>; disks not in @maps are left as they
 * are.  Console logs get files of their own; the NVRAM's path is dropped
 * (libvirt makes a fresh store from its template) or, with @ids->nvram,
 * set to that file (an <nvram> is added to <os> when there is none, as
 * for <os firmware='efi'>).  @ids may be NULL.  Checkpoint and
 * runtime-only elements are not part of an inactive definition and are
 * left alone.  *@out is NUL-terminated, malloc'd, owned by the caller.
 * Errors: as sp_domain_def_parse(); SP_E_USAGE when a map names a target
 * the domain has no disk for, or @ids is not text.
 */
int sp_domain_xml_for_restore(const char *xml, size_t len, const char *new_name,
			      const struct sp_domain_disk_map *maps,
			      size_t nmaps,
			      const struct sp_domain_restore_ids *ids,
			      char **out, struct sp_error *err);

/*
 * The same definition with only the disks in @maps changed as above (no
 * new name, UUID or MACs): an instantly recovered domain's definition
 * once its disks were copied to local files.  A map without
 * @stop_on_error sets the disk's error policies to its @error_policy and
 * @rerror_policy (dropped where NULL).
 */
int sp_domain_xml_set_disks(const char *xml, size_t len,
			    const struct sp_domain_disk_map *maps, size_t nmaps,
			    char **out, struct sp_error *err);

/*
 * Changed-block tracking for a raw disk (docs/cbt.md): the disk @target, a
 * raw file or block device, becomes a qcow2 metadata image @meta whose
 * data store is the raw disk, unchanged, so that libvirt checkpoints can
 * keep a dirty bitmap of it.  The definition records the adoption in its
 * <metadata> (namespace SP_CBT_XMLNS) so that only disks Stillpoint
 * adopted are ever released, with @owner ("UID:GID:MODE", may be NULL),
 * the data's owner to give back then.  libvirt before 10.10 does not
 * know <dataStore> and drops it: QEMU then finds the data file through
 * the image's header, and the record alone says where it is (parsing
 * fills data_source from it).  *@out is malloc'd.  Errors: SP_E_USAGE when
 * the disk is missing, not a writable raw disk of type file or block, or
 * already adopted; those of sp_domain_def_parse().
 */
/* Why disk @d cannot be adopted (static text), or NULL when it can. */
const char *sp_domain_disk_cbt_refusal(const struct sp_domain_disk *d);

#define SP_CBT_XMLNS "https://stillpoint.dev/xmlns/cbt/1"
int sp_domain_xml_cbt_adopt(const char *xml, size_t len, const char *target,
			    const char *meta, const char *owner, char **out,
			    struct sp_error *err);

/*
 * Undo sp_domain_xml_cbt_adopt() for @target: the disk is its raw file or
 * device again and the adoption record is gone.  Errors: SP_E_USAGE when
 * the disk is not one Stillpoint adopted.
 */
int sp_domain_xml_cbt_release(const char *xml, size_t len, const char *target,
			      char **out, struct sp_error *err);

/*
 * Isolate @xml, a definition made by sp_domain_xml_for_restore(), for a
 * throwaway boot (domain_xml_isolate.c): every <interface>, host device,
 * shared file system and vsock removed; every disk removed but those whose
 * target is in @keep, a cdrom or floppy not in @keep left as an empty
 * drive (no host file); console and log files moved into
 * @dir; character devices on host sockets or ports cut off (type 'null'),
 * the guest agent's channel on a socket libvirt makes; graphics on a port
 * of their own.  *@out malloc'd.  Errors: SP_E_LIBVIRT (not XML),
 * SP_E_NOMEM.
 */
int sp_domain_xml_isolate(const char *xml, size_t len, const char *dir,
			  const char *const *keep, size_t nkeep, char **out,
			  struct sp_error *err);

#endif

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A point booted as a new domain on served disks, without restoring them:
 * the point's stored definition is rewritten for the new domain (as
 * `restore --as` does: name, UUID, MACs, NVRAM and TPM state) with each
 * disk a local qcow2 overlay DIR/NEW-<target>.overlay.qcow2 whose backing
 * is the disk's export on a running server (serve.h), then the domain is
 * started and the guest agent waited for.
 *
 * The guest's writes land in the overlays, never on the server: a server
 * that dies loses nothing the guest wrote.  Every disk has
 * error_policy='stop' and rerror_policy='stop', so a read the server
 * cannot answer pauses the guest instead of handing it garbage or an I/O
 * error.
 *
 * Used by instant recovery (a persistent domain whose disks are then
 * copied to local storage, instant.c) and by `verify --boot` (a transient
 * domain thrown away after the check).
 *
 * Thread safety: one boot per thread.
 */
#ifndef SP_JOB_POINT_BOOT_H
#define SP_JOB_POINT_BOOT_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "job/serve.h"
#include "util/error.h"

struct sp_vault;

struct sp_point_boot_opts {
	const char *uri;      /* libvirt; NULL: $LIBVIRT_DEFAULT_URI, else
				 qemu:///system */
	const char *spec;     /* DOMAIN[@ID]: the point */
	const char *new_name; /* the new domain's name; must be free */
	const char *dir;      /* the overlays go here (made 0711 if missing;
				 QEMU's user must reach it) */
	const struct sp_served *served; /* the point's disks, running */
	/* Define the domain (it stays after a crash of the caller), then
	 * start it; else start a transient domain that vanishes when it
	 * stops. */
	bool persistent;
	/* Replace an existing overlay or NVRAM file of the same name. */
	bool force;
};

struct sp_point_boot_disk {
	char *target;  /* "vda" */
	char *name;    /* the disk's name in the point */
	char *export;  /* the server's export */
	char *overlay; /* DIR/NEW-<target>.overlay.qcow2 */
	char *format;  /* the format the point's disk had ("raw", "qcow2") */
	uint64_t size; /* guest-visible bytes */
	/* The stored definition's error policies of the disk (NULL: none),
	 * replaced by 'stop' while the disk is served. */
	char *error_policy;
	char *rerror_policy;
};

struct sp_point_boot {
	char *name; /* the new domain */
	char *uri;
	char uuid[40];
	bool persistent;
	char *xml; /* the definition it was started with */
	size_t ndisks;
	struct sp_point_boot_disk *disks;
	/* The NVRAM and TPM state files made for it: [{"state", "name",
	 * "path"}] (sp_point_boot_remove() removes them). */
	json_t *state_files;
	/* Disks of the point the stored definition lacks (attached to the
	 * running domain only): [{"disk", "reason"}]; not booted. */
	json_t *not_attached;
	int64_t started_ms; /* sp_point_boot_start() was called (UNIX ms) */
	int64_t running_ms; /* the domain was running */
	int64_t agent_ms;   /* the agent answered (0: not yet) */
};

/*
 * Make the overlays, define (or create) the domain and start it.  On
 * failure nothing is left: no domain, no overlay, no state file.
 * Errors: SP_E_DOMAIN_EXISTS, SP_E_NAME_INVALID, SP_E_INSTANT_DIR (DIR
 * unusable), SP_E_INSTANT_BOOT (libvirt refused the definition or the
 * start; its words), SP_E_USAGE (a disk the server does not export),
 * point and vault errors.
 */
int sp_point_boot_start(struct sp_vault *v, const struct sp_point_boot_opts *o,
			struct sp_point_boot **ret, struct sp_error *err);

/*
 * Wait until the guest agent answers a ping, at most @timeout_s seconds;
 * sets b->agent_ms.  Errors: SP_E_INSTANT_BOOT (the domain stopped, or no
 * answer in time), SP_E_LIBVIRT.
 */
int sp_point_boot_wait_agent(struct sp_point_boot *b, int timeout_s,
			     struct sp_error *err);

/* Destroy the domain, undefine it (a persistent one), remove its
 * overlays and the state files made for it.  For a boot that is thrown
 * away (verify --boot, a failed instant recovery). */
void sp_point_boot_remove(struct sp_point_boot *b);

void sp_point_boot_free(struct sp_point_boot *b);

/* The export of disk @target (or name) in @served's exports, or NULL. */
const char *sp_point_boot_export(const struct sp_served *served,
				 const char *target, const char *name,
				 uint64_t *size);

#endif

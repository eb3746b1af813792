/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A libvirt domain as Stillpoint uses it: one connection, one domain
 * handle, its state and its definition.  libvirt's own error printing is
 * silenced; its last error becomes the text of our struct sp_error.
 *
 * Thread safety: a struct sp_domain is used by one thread at a time
 * (libvirt connections themselves are thread-safe).
 */
#ifndef SP_DOMAIN_DOMAIN_H
#define SP_DOMAIN_DOMAIN_H

#include <stdbool.h>

#include <libvirt/libvirt.h>

#include "util/error.h"

#define SP_DEFAULT_LIBVIRT_URI "qemu:///system"

enum sp_domain_state {
	SP_DOMAIN_RUNNING,
	SP_DOMAIN_PAUSED,
	SP_DOMAIN_SHUTOFF,
	SP_DOMAIN_OTHER, /* crashed, pmsuspended, shutting down, ... */
};

struct sp_domain {
	virConnectPtr conn;
	virDomainPtr dom;
	char *uri;  /* the URI actually used */
	char *name; /* the domain's name */
	char uuid[VIR_UUID_STRING_BUFLEN];
};

/* @uri NULL: $LIBVIRT_DEFAULT_URI, else qemu:///system. */
const char *sp_domain_default_uri(const char *uri);

/* Connect (errors: SP_E_LIBVIRT naming the URI). */
int sp_domain_connect(const char *uri, virConnectPtr *ret,
		      struct sp_error *err);

/* Connect and look up @name (a name or a UUID).  Errors: SP_E_LIBVIRT,
 * SP_E_DOMAIN_NOT_FOUND. */
int sp_domain_open(const char *uri, const char *name, struct sp_domain **ret,
		   struct sp_error *err);
void sp_domain_close(struct sp_domain *d);

int sp_domain_get_state(struct sp_domain *d, enum sp_domain_state *state,
			struct sp_error *err);
const char *sp_domain_state_name(enum sp_domain_state s);

/* The definition: @inactive gives the persistent one (what a restore
 * defines again), else the live one (the paths QEMU has open now).
 * *@xml is malloc'd.  Errors: SP_E_LIBVIRT. */
int sp_domain_get_xml(struct sp_domain *d, bool inactive, char **xml,
		      struct sp_error *err);

/* The other domains that have a disk on @source (the same file, or the
 * same block device however named): the running ones (their QEMU has it
 * open) into *@running, the defined ones that are not running into
 * *@stopped, each a NULL-terminated vector of names or NULL when there is
 * none (free with sp_domain_names_free()); both NULL when @source cannot
 * be looked at.  Errors: SP_E_LIBVIRT, SP_E_NOMEM. */
int sp_domain_others_using(struct sp_domain *d, const char *source,
			   char ***running, char ***stopped,
			   struct sp_error *err);
void sp_domain_names_free(char **names);

/* The uid and gid the domain's QEMU process runs as (for sockets it must
 * create); errors: SP_E_LIBVIRT. */
int sp_domain_qemu_owner(struct sp_domain *d, unsigned *uid, unsigned *gid,
			 struct sp_error *err);

/*
 * Fill @err with @code, the formatted text and libvirt's last error of
 * this thread ("...: libvirt says X").  Returns @code.
 */
int sp_domain_error(struct sp_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* libvirt's last error number of this thread (virErrorNumber), 0 if
 * none. */
int sp_domain_last_error_code(void);

#endif

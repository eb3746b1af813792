// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libvirt connections and domains (domain.h).  libvirt prints its errors
 * on stderr by default: a no-op handler is installed once, so that its
 * words reach the operator only inside our one error message.
 */
#include "domain/domain.h"
#include "domain/domain_xml.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <libvirt/virterror.h>

#include "util/cleanup.h"
#include "util/fileio.h"

static pthread_once_t init_once = PTHREAD_ONCE_INIT;

static void quiet_errors(void *ctx, virErrorPtr e)
{
	(void)ctx;
	(void)e;
}

static void libvirt_init(void)
{
	virInitialize();
	virSetErrorFunc(NULL, quiet_errors);
}

int sp_domain_last_error_code(void)
{
	virErrorPtr e = virGetLastError();

	return e ? e->code : 0;
}

int sp_domain_error(struct sp_error *err, int code, const char *fmt, ...)
{
	virErrorPtr e = virGetLastError();
	char head[SP_ERROR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(head, sizeof(head), fmt, ap);
	va_end(ap);
	if (e && e->message)
		return sp_error_set(err, code, "%s: %s", head, e->message);
	return sp_error_set(err, code, "%s", head);
}

const char *sp_domain_default_uri(const char *uri)
{
	const char *env = getenv("LIBVIRT_DEFAULT_URI");

	if (uri && *uri)
		return uri;
	return env && *env ? env : SP_DEFAULT_LIBVIRT_URI;
}

int sp_domain_connect(const char *uri, virConnectPtr *ret, struct sp_error *err)
{
	virConnectPtr c;

	pthread_once(&init_once, libvirt_init);
	uri = sp_domain_default_uri(uri);
	c = virConnectOpen(uri);
	if (!c)
		return sp_domain_error(err, SP_E_LIBVIRT,
				       "cannot connect to libvirt at '%s' (is "
				       "libvirtd running?)",
				       uri);
	virConnSetErrorFunc(c, NULL, quiet_errors);
	*ret = c;
	return 0;
}

int sp_domain_open(const char *uri, const char *name, struct sp_domain **ret,
		   struct sp_error *err)
{
	struct sp_domain *d = calloc(1, sizeof(*d));
	int r;

	if (!d)
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	r = sp_domain_connect(uri, &d->conn, err);
	if (r < 0)
		goto fail;
	d->uri = strdup(sp_domain_default_uri(uri));
	d->dom = virDomainLookupByName(d->conn, name);
	if (!d->dom && strlen(name) == VIR_UUID_STRING_BUFLEN - 1)
		d->dom = virDomainLookupByUUIDString(d->conn, name);
	if (!d->dom) {
		if (sp_domain_last_error_code() == VIR_ERR_NO_DOMAIN)
			r = sp_error_set(err, SP_E_DOMAIN_NOT_FOUND,
					 "no domain '%s' at '%s' (see 'virsh "
					 "-c %s list --all')",
					 name, d->uri, d->uri);
		else
			r = sp_domain_error(err, SP_E_LIBVIRT,
					    "cannot look up domain '%s'", name);
		goto fail;
	}
	d->name = strdup(virDomainGetName(d->dom));
	if (!d->uri || !d->name ||
	    virDomainGetUUIDString(d->dom, d->uuid) < 0) {
		r = sp_error_set(err, SP_E_NOMEM, "out of memory");
		goto fail;
	}
	*ret = d;
	return 0;
fail:
	sp_domain_close(d);
	return r;
}

void sp_domain_close(struct sp_domain *d)
{
	if (!d)
		return;
	if (d->dom)
		virDomainFree(d->dom);
	if (d->conn)
		virConnectClose(d->conn);
	free(d->uri);
	free(d->name);
	free(d);
}

int sp_domain_get_state(struct sp_domain *d, enum sp_domain_state *state,
			struct sp_error *err)
{
	int st, reason;

	if (virDomainGetState(d->dom, &st, &reason, 0) < 0)
		return sp_domain_error(err, SP_E_LIBVIRT,
				       "cannot get the state of domain '%s'",
				       d->name);
	switch (st) {
	case VIR_DOMAIN_RUNNING:
		*state = SP_DOMAIN_RUNNING;
		break;
	case VIR_DOMAIN_PAUSED:
		*state = SP_DOMAIN_PAUSED;
		break;
	case VIR_DOMAIN_SHUTOFF:
		*state = SP_DOMAIN_SHUTOFF;
		break;
	default:
		*state = SP_DOMAIN_OTHER;
	}
	return 0;
}

const char *sp_domain_state_name(enum sp_domain_state s)
{
	switch (s) {
	case SP_DOMAIN_RUNNING:
		return "running";
	case SP_DOMAIN_PAUSED:
		return "paused";
	case SP_DOMAIN_SHUTOFF:
		return "shut off";
	default:
		return "in transition";
	}
}

int sp_domain_get_xml(struct sp_domain *d, bool inactive, char **xml,
		      struct sp_error *err)
{
	char *x =
	    virDomainGetXMLDesc(d->dom, inactive ? VIR_DOMAIN_XML_INACTIVE : 0);

	if (!x)
		return sp_domain_error(err, SP_E_LIBVIRT,
				       "cannot read the definition of domain "
				       "'%s'",
				       d->name);
	*xml = x;
	return 0;
}

static bool same_disk(const struct stat *a, const char *path)
{
	struct stat b;

	if (!path || stat(path, &b) < 0)
		return false;
	if (S_ISBLK(a->st_mode) || S_ISBLK(b.st_mode))
		return S_ISBLK(a->st_mode) && S_ISBLK(b.st_mode) &&
		       a->st_rdev == b.st_rdev;
	return a->st_dev == b.st_dev && a->st_ino == b.st_ino;
}

/* Append a copy of @name to the NULL-terminated vector *@v of *@n. */
static int names_add(char ***v, size_t *n, const char *name)
{
	char **nv = realloc(*v, (*n + 2) * sizeof(**v));

	if (!nv)
		return SP_E_NOMEM;
	*v = nv;
	nv[*n] = strdup(name);
	if (!nv[*n])
		return SP_E_NOMEM;
	nv[++*n] = NULL;
	return 0;
}

void sp_domain_names_free(char **names)
{
	for (size_t i = 0; names && names[i]; i++)
		free(names[i]);
	free(names);
}

int sp_domain_others_using(struct sp_domain *d, const char *source,
			   char ***running, char ***stopped,
			   struct sp_error *err)
{
	virDomainPtr *doms = NULL;
	struct stat want;
	size_t nrun = 0, nstop = 0;
	int n, r = 0;

	*running = *stopped = NULL;
	if (!source || stat(source, &want) < 0)
		return 0;
	n = virConnectListAllDomains(d->conn, &doms, 0);
	if (n < 0)
		return sp_domain_error(err, SP_E_LIBVIRT,
				       "cannot list the domains of '%s'",
				       d->uri);
	for (int i = 0; i < n; i++) {
		char uuid[VIR_UUID_STRING_BUFLEN];
		struct sp_domain_def *def = NULL;
		struct sp_error e;
		char *xml = NULL;
		int active = virDomainIsActive(doms[i]);

		/* A running domain: the disks its QEMU has open now; a
		 * stopped one: those it will open when started. */
		if (r == 0 && active >= 0 &&
		    virDomainGetUUIDString(doms[i], uuid) == 0 &&
		    strcmp(uuid, d->uuid) != 0 &&
		    (xml = virDomainGetXMLDesc(doms[i], 0)) &&
		    sp_domain_def_parse(xml, strlen(xml), &def, &e) == 0) {
			for (size_t k = 0; k < def->ndisks; k++) {
				if (!same_disk(&want, def->disks[k].source))
					continue;
				r = active
					? names_add(running, &nrun, def->name)
					: names_add(stopped, &nstop, def->name);
				break;
			}
		}
		sp_domain_def_free(def);
		free(xml);
		virDomainFree(doms[i]);
	}
	free(doms);
	if (r < 0) {
		sp_domain_names_free(*running);
		sp_domain_names_free(*stopped);
		*running = *stopped = NULL;
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	}
	return 0;
}

int sp_domain_qemu_owner(struct sp_domain *d, unsigned *uid, unsigned *gid,
			 struct sp_error *err)
{
	sp_autofree char *pidtxt = NULL;
	char path[512];
	struct stat st;
	size_t len;
	long pid;
	int r;

	/* The QEMU driver writes the process id of each running domain here;
	 * /proc/PID itself is owned by the process's user. */
	snprintf(path, sizeof(path), "/run/libvirt/qemu/%s.pid", d->name);
	r = sp_file_read(AT_FDCWD, path, 64, &pidtxt, &len);
	if (r < 0)
		return sp_error_set_errno(err, SP_E_LIBVIRT, -r,
					  "cannot find the QEMU process of "
					  "domain '%s' ('%s')",
					  d->name, path);
	pid = strtol(pidtxt, NULL, 10);
	snprintf(path, sizeof(path), "/proc/%ld", pid);
	if (pid <= 0 || stat(path, &st) < 0)
		return sp_error_set_errno(err, SP_E_LIBVIRT, errno,
					  "cannot inspect the QEMU process of "
					  "domain '%s' ('%s')",
					  d->name, path);
	*uid = st.st_uid;
	*gid = st.st_gid;
	return 0;
}

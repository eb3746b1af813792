// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * A point booted as a new domain on served disks (point_boot.h).
 *
 *   1. the point and its stored definition are read (restore_domain.h);
 *      the name must be free, DIR usable, every disk of the definition
 *      exported by the server
 *   2. the definition is rewritten as for `restore --as` (name, UUID,
 *      MACs, NVRAM), each disk an overlay DIR/NEW-<target>.overlay.qcow2
 *      over its NBD export, with the stop error policies
 *   3. the overlays are made (qemu-img, backing not opened), the NVRAM and
 *      TPM state files staged and committed
 *   4. the domain is defined and started (or created transient)
 *
 * Invariants:
 *  1. A failure at any step leaves nothing: no domain, overlay or state
 *     file made here.
 *  2. No existing domain, overlay or NVRAM file is replaced (unless
 *     @force, for files).
 *  3. The guest never writes to the server: its disks are the overlays.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include <stillpoint/state.h>

#include "domain/domain.h"
#include "domain/domain_xml.h"
#include "domain/guest_agent.h"
#include "job/point_boot.h"
#include "job/restore_domain.h"
#include "util/cleanup.h"
#include "util/log.h"
#include "util/spawn.h"
#include "util/text.h"

const char *sp_point_boot_export(const struct sp_served *served,
				 const char *target, const char *name,
				 uint64_t *size)
{
	json_t *e;
	size_t i;

	for (int pass = 0; pass < 2; pass++)
		json_array_foreach(served->exports, i, e)
		{
			const char *x = json_string_value(
			    json_object_get(e, pass ? "name" : "export"));
			const char *want = pass ? name : target;

			if (!x || !want || strcmp(x, want))
				continue;
			if (size)
				*size = (uint64_t)json_integer_value(
				    json_object_get(e, "size"));
			return json_string_value(json_object_get(e, "export"));
		}
	return NULL;
}

static void disks_free(struct sp_point_boot *b)
{
	for (size_t i = 0; i < b->ndisks; i++) {
		free(b->disks[i].target);
		free(b->disks[i].name);
		free(b->disks[i].export);
		free(b->disks[i].overlay);
		free(b->disks[i].format);
		free(b->disks[i].error_policy);
		free(b->disks[i].rerror_policy);
	}
	free(b->disks);
	b->disks = NULL;
	b->ndisks = 0;
}

void sp_point_boot_free(struct sp_point_boot *b)
{
	if (!b)
		return;
	disks_free(b);
	free(b->name);
	free(b->uri);
	free(b->xml);
	json_decref(b->state_files);
	json_decref(b->not_attached);
	free(b);
}

static void remove_overlays(struct sp_point_boot *b)
{
	for (size_t i = 0; i < b->ndisks; i++)
		if (b->disks[i].overlay && unlink(b->disks[i].overlay) < 0 &&
		    errno != ENOENT)
			sp_log(SP_LOG_WARNING,
			       "overlay not removed path=%s: %s",
			       b->disks[i].overlay, strerror(errno));
}

/* DIR exists (made 0711 when missing) and we can write in it. */
static int dir_ready(const char *dir, struct sp_error *err)
{
	struct stat st;

	if (mkdir(dir, 0711) < 0 && errno != EEXIST)
		return sp_error_set_errno(err, SP_E_INSTANT_DIR, errno,
					  "cannot make directory '%s' for the "
					  "disks (give --to an existing "
					  "directory on local storage)",
					  dir);
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
		return sp_error_set(err, SP_E_INSTANT_DIR,
				    "'%s' is not a directory (give --to a "
				    "directory on local storage)",
				    dir);
	if (access(dir, W_OK | X_OK) < 0)
		return sp_error_set_errno(err, SP_E_INSTANT_DIR, errno,
					  "cannot write in '%s' (give --to a "
					  "directory this user can write)",
					  dir);
	if ((st.st_mode & 0001) == 0)
		return sp_error_set(err, SP_E_INSTANT_DIR,
				    "QEMU's user cannot reach '%s' (mode "
				    "%03o: allow search with 'chmod o+x %s')",
				    dir, (unsigned)(st.st_mode & 0777), dir);
	return 0;
}

/* Step 1 for one disk of the point: its entry in @b, or a note in
 * b->not_attached.  *@ok false when not booted. */
static int disk_add(struct sp_point_boot *b, const struct sp_point_boot_opts *o,
		    const struct sp_domain_def *def, json_t *d, bool *ok,
		    struct sp_error *err)
{
	const char *name = json_string_value(json_object_get(d, "name"));
	const char *t = json_string_value(json_object_get(d, "target"));
	const char *fmt = json_string_value(json_object_get(d, "format"));
	struct sp_point_boot_disk *pd = &b->disks[b->ndisks];
	const struct sp_domain_disk *dd;
	bool policies;
	const char *exp;
	uint64_t size = 0;
	struct stat st;

	*ok = false;
	if (!t)
		t = name;
	dd = sp_domain_def_disk(def, t);
	if (!dd) {
		json_array_append_new(
		    b->not_attached,
		    json_pack("{s:s, s:s}", "disk", t, "reason",
			      "attached to the running domain only, not in "
			      "its definition"));
		return 0;
	}
	exp = sp_point_boot_export(o->served, t, name, &size);
	if (!exp)
		return sp_error_set(err, SP_E_USAGE,
				    "the server of point '%s' does not export "
				    "disk '%s' (serve every disk of the point)",
				    o->spec, t);
	pd->target = strdup(t);
	pd->name = strdup(name ? name : t);
	pd->export = strdup(exp);
	pd->format = strdup(fmt ? fmt : "raw");
	pd->size = size;
	policies = sp_strdup_opt(dd->error_policy, &pd->error_policy) &&
		   sp_strdup_opt(dd->rerror_policy, &pd->rerror_policy);
	if (asprintf(&pd->overlay, "%s/%s-%s.overlay.qcow2", o->dir,
		     o->new_name, t) < 0)
		pd->overlay = NULL;
	b->ndisks++;
	if (!pd->target || !pd->name || !pd->export || !pd->format ||
	    !pd->overlay || !policies)
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	if (!o->force && lstat(pd->overlay, &st) == 0) {
		/* Not ours to remove (invariant 2). */
		char *keep = pd->overlay;

		pd->overlay = NULL;
		sp_error_set(err, SP_E_TARGET_EXISTS,
			     "'%s' exists already (remove it, or choose "
			     "another --as name or --to directory)",
			     keep);
		free(keep);
		return SP_E_TARGET_EXISTS;
	}
	*ok = true;
	return 0;
}

/* Step 3: one overlay over its export, the backing not opened. */
static int overlay_make(const struct sp_point_boot_opts *o,
			const struct sp_point_boot_disk *pd,
			struct sp_error *err)
{
	sp_autofree char *uri = sp_served_uri(o->served, pd->export);
	char size[32];
	int r;

	if (!uri)
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	snprintf(size, sizeof(size), "%llu", (unsigned long long)pd->size);
	unlink(pd->overlay); /* @force: checked in disk_add() */
	const char *argv[] = {"qemu-img",  "create", "-q",  "-f", "qcow2",
			      "-u",	   "-F",     "raw", "-b", uri,
			      pd->overlay, size,     NULL};
	r = sp_spawn_run(argv, NULL, err);
	if (r < 0)
		return r == SP_E_TOOL_MISSING
			   ? r
			   : sp_error_set(err, SP_E_INSTANT_DIR,
					  "cannot make overlay '%s': %s",
					  pd->overlay, err->msg);
	return 0;
}

/* Steps 2-4 once the disks are known. */
static int boot(struct sp_point_boot *b, const struct sp_point_boot_opts *o,
		virConnectPtr conn, const char *xml, struct sp_new_state *ns,
		struct sp_error *err)
{
	struct sp_domain_disk_map *dm = calloc(b->ndisks + 1, sizeof(*dm));
	virDomainPtr dom = NULL;
	size_t made = 0;
	int r;

	if (!dm)
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	for (size_t i = 0; i < b->ndisks; i++)
		dm[i] = (struct sp_domain_disk_map){
		    .target = b->disks[i].target,
		    .path = b->disks[i].overlay,
		    .format = "qcow2",
		    .backing_socket = o->served->socket,
		    .backing_export = b->disks[i].export,
		    .stop_on_error = true};
	r = sp_domain_xml_for_restore(xml, strlen(xml), o->new_name, dm,
				      b->ndisks, &ns->ids, &b->xml, err);
	free(dm);
	if (r < 0)
		return r;
	for (; made < b->ndisks && r == 0; made++)
		r = overlay_make(o, &b->disks[made], err);
	if (r == 0)
		r = sp_new_state_stage(ns, o->force, err);
	if (r == 0)
		r = sp_state_put_commit(ns->put, err);
	if (r < 0)
		goto out_files;
	b->state_files = sp_state_put_files(ns->put);
	if (o->persistent) {
		dom = virDomainDefineXML(conn, b->xml);
		if (dom && virDomainCreate(dom) < 0) {
			r = sp_domain_error(err, SP_E_INSTANT_BOOT,
					    "cannot start domain '%s' on the "
					    "served disks",
					    o->new_name);
			virDomainUndefineFlags(dom,
					       VIR_DOMAIN_UNDEFINE_KEEP_NVRAM);
			goto out_dom;
		}
	} else {
		dom = virDomainCreateXML(conn, b->xml, 0);
	}
	if (!dom) {
		r = sp_domain_error(err, SP_E_INSTANT_BOOT,
				    "libvirt refused domain '%s' on the served "
				    "disks",
				    o->new_name);
		goto out_files;
	}
	b->running_ms = sp_now_ms();
	virDomainGetUUIDString(dom, b->uuid);
	virDomainFree(dom);
	return 0;

out_dom:
	virDomainFree(dom);
out_files:
	sp_state_put_abort(ns->put, true);
	json_decref(b->state_files);
	b->state_files = NULL;
	for (size_t i = 0; i < made; i++)
		unlink(b->disks[i].overlay);
	return r;
}

int sp_point_boot_start(struct sp_vault *v, const struct sp_point_boot_opts *o,
			struct sp_point_boot **ret, struct sp_error *err)
{
	struct sp_point_boot *b = calloc(1, sizeof(*b));
	sp_autofree char *xml = NULL;
	struct sp_domain_def *def = NULL;
	struct sp_new_state ns = {0};
	virConnectPtr conn = NULL;
	json_t *m = NULL, *d;
	size_t i, n;
	int r;

	if (!b)
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	b->started_ms = sp_now_ms();
	b->persistent = o->persistent;
	b->name = strdup(o->new_name ? o->new_name : "");
	b->uri = strdup(sp_domain_default_uri(o->uri));
	b->not_attached = json_array();
	if (!b->name || !b->uri || !b->not_attached) {
		r = sp_error_set(err, SP_E_NOMEM, "out of memory");
		goto out;
	}
	if (!o->served || !o->served->socket) {
		r = sp_error_set(err, SP_E_USAGE,
				 "booting point '%s' needs its disks served "
				 "on a Unix socket",
				 o->spec);
		goto out;
	}
	r = sp_new_domain_connect(o->uri, o->new_name, &conn, err);
	if (r < 0)
		goto out;
	r = dir_ready(o->dir, err);
	if (r == 0)
		r = sp_domain_point_load(v, o->spec, &m, &xml, err);
	if (r == 0)
		r = sp_domain_def_parse(xml, strlen(xml), &def, err);
	if (r < 0)
		goto out;
	n = json_array_size(json_object_get(m, "disks"));
	b->disks = calloc(n + 1, sizeof(*b->disks));
	if (!b->disks) {
		r = sp_error_set(err, SP_E_NOMEM, "out of memory");
		goto out;
	}
	json_array_foreach(json_object_get(m, "disks"), i, d)
	{
		bool ok;

		r = disk_add(b, o, def, d, &ok, err);
		if (r < 0)
			goto out;
	}
	r = sp_new_state_prepare(v, m, conn, o->uri, o->spec, o->new_name, &ns,
				 err);
	if (r == 0)
		r = boot(b, o, conn, xml, &ns, err);
out:
	sp_new_state_release(&ns);
	sp_domain_def_free(def);
	json_decref(m);
	if (conn)
		virConnectClose(conn);
	if (r < 0) {
		sp_point_boot_free(b);
		return r;
	}
	*ret = b;
	return 0;
}

int sp_point_boot_wait_agent(struct sp_point_boot *b, int timeout_s,
			     struct sp_error *err)
{
	int64_t deadline = sp_now_ms() + (int64_t)timeout_s * 1000;
	struct sp_domain *d = NULL;
	enum sp_domain_state st;
	struct sp_error pe;
	int r;

	r = sp_domain_open(b->uri, b->name, &d, err);
	if (r < 0)
		return r;
	for (;;) {
		r = sp_domain_get_state(d, &st, err);
		if (r < 0)
			break;
		if (st == SP_DOMAIN_SHUTOFF || st == SP_DOMAIN_PAUSED) {
			r = sp_error_set(err, SP_E_INSTANT_BOOT,
					 "domain '%s' is %s before its guest "
					 "agent answered (see "
					 "/var/log/libvirt/qemu/%s.log)",
					 b->name, sp_domain_state_name(st),
					 b->name);
			break;
		}
		if (sp_guest_agent_ping(d, 1, &pe) == 0) {
			b->agent_ms = sp_now_ms();
			break;
		}
		if (sp_now_ms() >= deadline) {
			r = sp_error_set(err, SP_E_INSTANT_BOOT,
					 "the guest agent of '%s' did not "
					 "answer within %d s (%s)",
					 b->name, timeout_s, pe.msg);
			break;
		}
		struct timespec ts = {0, 200 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	sp_domain_close(d);
	return r;
}

void sp_point_boot_remove(struct sp_point_boot *b)
{
	struct sp_error err;
	virConnectPtr conn = NULL;
	virDomainPtr dom;
	json_t *f;
	size_t i;

	if (sp_domain_connect(b->uri, &conn, &err) == 0) {
		dom = virDomainLookupByName(conn, b->name);
		if (dom) {
			if (virDomainIsActive(dom) == 1)
				virDomainDestroy(dom);
			if (b->persistent)
				virDomainUndefineFlags(
				    dom, VIR_DOMAIN_UNDEFINE_KEEP_NVRAM);
			virDomainFree(dom);
		}
		virConnectClose(conn);
	} else {
		sp_log(SP_LOG_WARNING, "boot not removed vm=%s: %s", b->name,
		       err.msg);
	}
	remove_overlays(b);
	json_array_foreach(b->state_files, i, f)
	{
		const char *p = json_string_value(json_object_get(f, "path"));

		if (p && unlink(p) < 0 && errno != ENOENT)
			sp_log(SP_LOG_WARNING, "state file not removed path=%s",
			       p);
	}
}

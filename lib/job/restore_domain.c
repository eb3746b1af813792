// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Restoring a libvirt domain from a point: as a new domain beside the
 * original, or in place of the original's disks.
 *
 * As new (--as NAME):
 *   1. the point and its stored definition are read; NAME must be free
 *   2. every disk is restored to DIR/NAME-<target>.<fmt> (restore.c: each
 *      file appears only once complete)
 *   3. the definition is rewritten (new name, no UUID, no MACs, disks on
 *      the new files) and defined; if libvirt refuses it, the files of
 *      step 2 are removed again
 * In place (--in-place):
 *   1. the domain must be shut off (a running QEMU holds its images)
 *   2. each disk is restored aside and renamed over the domain's image
 *   3. its stillpoint checkpoints are dropped: the images that carried
 *      their bitmaps are gone, and the next backup must read all data
 *
 * Invariants:
 *  1. Nothing is defined in libvirt unless all its disks were restored.
 *  2. An existing domain or image is never overwritten by --as (images
 *     only with force).
 *  3. --in-place never touches a domain that is not shut off.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libvirt/virterror.h>

#include "domain/domain.h"
#include "domain/domain_xml.h"
#include "job/job.h"
#include "snapshot/snapshot_libvirt.h"
#include "util/cleanup.h"
#include "util/fileio.h"
#include "util/log.h"
#include "util/text.h"
#include "vault/vault.h"

#define DEFAULT_IMAGE_DIR "/var/lib/libvirt/images"
#define CONFIG_MAX (16u << 20)

static int load_point(struct sp_vault *v, const char *spec, json_t **m,
		      char **xml, struct sp_error *err)
{
	sp_autoclose int pfd = -1;
	size_t len;
	int r;

	r = sp_vault_find_point(v, spec, m, err);
	if (r < 0)
		return r;
	if (!json_is_object(json_object_get(*m, "source")) ||
	    !json_is_object(json_object_get(*m, "config")))
		return sp_error_set(err, SP_E_USAGE,
				    "point '%s' is not of a libvirt domain (it "
				    "was made with --disk): restore its disks "
				    "with 'stillpoint restore --to DIR'",
				    spec);
	r = sp_vault_point_dir(
	    v, json_string_value(json_object_get(*m, "name")),
	    json_string_value(json_object_get(*m, "id")), &pfd, err);
	if (r < 0)
		return r;
	r = sp_file_read(pfd, "config", CONFIG_MAX, xml, &len);
	if (r < 0)
		return sp_error_set_errno(err, SP_E_VAULT_IO, -r,
					  "cannot read the definition stored "
					  "in point '%s'",
					  spec);
	return 0;
}

static const char *disk_target(json_t *d)
{
	const char *t = json_string_value(json_object_get(d, "target"));

	return t ? t : json_string_value(json_object_get(d, "name"));
}

/* Run the plain restore with @maps ("disk=path") and no config file. */
static int restore_disks(struct sp_vault *v,
			 const struct sp_domain_restore_opts *o, json_t *m,
			 char **maps, size_t n, bool force, json_t **files,
			 struct sp_error *err)
{
	struct sp_restore_opts ro = {.job = o->job,
				     .maps = (const char *const *)maps,
				     .nmaps = n,
				     .format = o->in_place ? NULL : o->format,
				     .force = force,
				     .no_config = true};
	char spec[160];
	json_t *res = NULL;
	int r;

	snprintf(spec, sizeof(spec), "%s@%s",
		 json_string_value(json_object_get(m, "name")),
		 json_string_value(json_object_get(m, "id")));
	ro.spec = spec;
	r = sp_restore_run(v, &ro, &res, err);
	if (r == 0)
		*files = json_incref(json_object_get(res, "files"));
	json_decref(res);
	return r;
}

static void free_maps(char **maps, size_t n)
{
	for (size_t i = 0; maps && i < n; i++)
		free(maps[i]);
	free(maps);
}

static int restore_as_new(struct sp_vault *v,
			  const struct sp_domain_restore_opts *o, json_t *m,
			  const char *xml, json_t **result,
			  struct sp_error *err)
{
	json_t *disks = json_object_get(m, "disks"), *d, *files = NULL;
	const char *dir = o->to_dir ? o->to_dir : DEFAULT_IMAGE_DIR;
	size_t n = json_array_size(disks), i;
	struct sp_domain_disk_map *dm = calloc(n ? n : 1, sizeof(*dm));
	char **maps = calloc(n ? n : 1, sizeof(*maps));
	virConnectPtr conn = NULL;
	virDomainPtr dom = NULL;
	sp_autofree char *newxml = NULL;
	char uuid[VIR_UUID_STRING_BUFLEN] = "";
	int r;

	if (!dm || !maps) {
		r = sp_error_set(err, SP_E_NOMEM, "out of memory");
		goto out;
	}
	if (!sp_name_is_valid(o->new_name)) {
		r = sp_error_set(err, SP_E_NAME_INVALID,
				 "invalid domain name '%s' (use letters, "
				 "digits, '.', '_' and '-')",
				 o->new_name);
		goto out;
	}
	r = sp_domain_connect(o->uri, &conn, err);
	if (r < 0)
		goto out;
	dom = virDomainLookupByName(conn, o->new_name);
	if (dom) {
		r = sp_error_set(err, SP_E_DOMAIN_EXISTS,
				 "a domain named '%s' exists already (choose "
				 "another --as name)",
				 o->new_name);
		goto out;
	}
	json_array_foreach(disks, i, d)
	{
		const char *t = disk_target(d);
		const char *fmt =
		    o->format ? o->format
			      : json_string_value(json_object_get(d, "format"));
		bool qcow2 = fmt && !strcmp(fmt, "qcow2");
		char path[1024];

		snprintf(path, sizeof(path), "%s/%s-%s.%s", dir, o->new_name, t,
			 qcow2 ? "qcow2" : "img");
		if (asprintf(&maps[i], "%s=%s",
			     json_string_value(json_object_get(d, "name")),
			     path) < 0) {
			maps[i] = NULL;
			r = sp_error_set(err, SP_E_NOMEM, "out of memory");
			goto out;
		}
		dm[i] = (struct sp_domain_disk_map){
		    .target = t,
		    .path = strchr(maps[i], '=') + 1,
		    .format = qcow2 ? "qcow2" : "raw"};
	}
	/* Check the rewrite before writing gigabytes (invariant 1). */
	r = sp_domain_xml_for_restore(xml, strlen(xml), o->new_name, dm, n,
				      NULL, &newxml, err);
	if (r < 0)
		goto out;
	r = restore_disks(v, o, m, maps, n, o->force, &files, err);
	if (r < 0)
		goto out;
	dom = virDomainDefineXML(conn, newxml);
	if (!dom) {
		r = sp_domain_error(err, SP_E_LIBVIRT,
				    "libvirt refused the restored definition "
				    "of '%s' (its disks were removed again)",
				    o->new_name);
		for (i = 0; i < n; i++)
			unlink(dm[i].path);
		goto out;
	}
	virDomainGetUUIDString(dom, uuid);
	*result = json_pack("{s:s, s:s, s:s, s:s, s:O}", "mode", "new",
			    "domain", o->new_name, "uuid", uuid, "point",
			    json_string_value(json_object_get(m, "id")),
			    "files", files);
out:
	if (dom)
		virDomainFree(dom);
	if (conn)
		virConnectClose(conn);
	json_decref(files);
	free(dm);
	free_maps(maps, n);
	return r;
}

static int restore_in_place(struct sp_vault *v,
			    const struct sp_domain_restore_opts *o, json_t *m,
			    json_t **result, struct sp_error *err)
{
	const char *name = json_string_value(json_object_get(m, "name"));
	json_t *disks = json_object_get(m, "disks"), *d, *files = NULL;
	size_t n = json_array_size(disks), i;
	char **maps = calloc(n ? n : 1, sizeof(*maps));
	struct sp_domain *dom = NULL;
	struct sp_domain_def *def = NULL;
	sp_autofree char *xml = NULL;
	enum sp_domain_state st;
	unsigned dropped = 0;
	struct sp_error ce;
	int r;

	if (!maps)
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	r = sp_domain_open(o->uri, name, &dom, err);
	if (r < 0)
		goto out;
	r = sp_domain_get_state(dom, &st, err);
	if (r < 0)
		goto out;
	if (st != SP_DOMAIN_SHUTOFF) {
		r = sp_error_set(err, SP_E_DOMAIN_STATE,
				 "domain '%s' is %s: shut it off first ('virsh "
				 "shutdown %s') to restore in place",
				 name, sp_domain_state_name(st), name);
		goto out;
	}
	r = sp_domain_get_xml(dom, true, &xml, err);
	if (r == 0)
		r = sp_domain_def_parse(xml, strlen(xml), &def, err);
	if (r < 0)
		goto out;
	json_array_foreach(disks, i, d)
	{
		const char *t = disk_target(d);
		const struct sp_domain_disk *cur = NULL;

		for (size_t k = 0; k < def->ndisks; k++)
			if (!strcmp(def->disks[k].target, t))
				cur = &def->disks[k];
		if (!cur || !cur->source ||
		    (strcmp(cur->type, "file") && strcmp(cur->type, "block"))) {
			r = sp_error_set(err, SP_E_USAGE,
					 "disk '%s' of the point has no image "
					 "file or device in domain '%s' now "
					 "(restore it as a new domain with "
					 "--as)",
					 t, name);
			goto out;
		}
		if (asprintf(&maps[i], "%s=%s",
			     json_string_value(json_object_get(d, "name")),
			     cur->source) < 0) {
			maps[i] = NULL;
			r = sp_error_set(err, SP_E_NOMEM, "out of memory");
			goto out;
		}
	}
	r = restore_disks(v, o, m, maps, n, true, &files, err);
	if (r < 0)
		goto out;
	/* Invariant 3 of the header: the bitmaps left with the old images. */
	if (sp_libvirt_checkpoints_prune(dom, NULL, &dropped, &ce) < 0)
		sp_log(SP_LOG_WARNING, "checkpoints not all dropped vm=%s: %s",
		       name, ce.msg);
	*result =
	    json_pack("{s:s, s:s, s:s, s:s, s:O, s:i}", "mode", "in-place",
		      "domain", name, "uuid", dom->uuid, "point",
		      json_string_value(json_object_get(m, "id")), "files",
		      files, "checkpoints_dropped", (int)dropped);
out:
	json_decref(files);
	free_maps(maps, n);
	sp_domain_def_free(def);
	sp_domain_close(dom);
	return r;
}

int sp_domain_restore_run(struct sp_vault *v,
			  const struct sp_domain_restore_opts *o,
			  json_t **result, struct sp_error *err)
{
	sp_autofree char *xml = NULL;
	json_t *m = NULL;
	int r;

	if (!o->in_place == !o->new_name)
		return sp_error_set(err, SP_E_USAGE,
				    "give either --as NEWNAME or --in-place");
	r = load_point(v, o->spec, &m, &xml, err);
	if (r == 0)
		r = o->in_place ? restore_in_place(v, o, m, result, err)
				: restore_as_new(v, o, m, xml, result, err);
	json_decref(m);
	return r;
}

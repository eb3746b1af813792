// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Restoring a libvirt domain from a point: as a new domain beside the
 * original, or in place of the original's disks.
 *
 * As new (--as NAME):
 *   1. the point and its stored definition are read; NAME must be free;
 *      the stored NVRAM and TPM state files are read and checked
 *      (vm_state.h)
 *   2. the state files are written under temporary names where the new
 *      domain's will be: the NVRAM beside the original's as NAME_VARS.fd,
 *      the TPM state in swtpm's directory for a UUID chosen here (libvirt
 *      looks for it there, by UUID, and runs swtpm_setup only when it
 *      finds nothing)
 *   3. every disk is restored to DIR/NAME-<target>.<fmt> (restore.c: each
 *      file appears only once complete); then the state files get their
 *      names
 *   4. the definition is rewritten (new name, no UUID or the chosen one,
 *      no MACs, disks on the new files, the new NVRAM) and defined; if
 *      libvirt refuses it, the files of steps 2-3 are removed again.  A disk of
 * the point that the stored (persistent) definition lacks, one attached to the
 * running domain only, is restored to its file but not attached
 * ("not_attached") In place (--in-place):
 *   1. the domain must be shut off (a running QEMU holds its images, a
 *      running swtpm its state)
 *   2. the stored NVRAM and TPM state are written beside the domain's own
 *      (its current NVRAM file and swtpm directory), then each disk is
 *      restored aside and renamed over the domain's image, then the state
 *      files are renamed over theirs (TPM files the point lacks removed)
 *   3. its stillpoint checkpoints are dropped: the images that carried
 *      their bitmaps are gone, and the next backup must read all data
 *
 * Invariants:
 *  1. Nothing is defined in libvirt unless all its disks and state files
 *     were restored; on failure the files restored are removed.
 *  2. An existing domain, image or state file is never overwritten by --as
 *     (images and the NVRAM file only with force).
 *  3. --in-place never touches a domain that is not shut off.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libvirt/virterror.h>

#include "domain/domain.h"
#include "domain/domain_xml.h"
#include "job/job.h"
#include "job/restore_domain.h"
#include "snapshot/cbt.h"
#include "job/vm_state.h"
#include "snapshot/snapshot_libvirt.h"
#include "util/cleanup.h"
#include "util/fileio.h"
#include "util/log.h"
#include "util/text.h"
#include "vault/vault.h"

#define DEFAULT_IMAGE_DIR "/var/lib/libvirt/images"
#define CONFIG_MAX (16u << 20)

int sp_new_domain_connect(const char *uri, const char *new_name,
			  virConnectPtr *conn, struct sp_error *err)
{
	virDomainPtr other;
	int r;

	*conn = NULL;
	if (!sp_name_is_valid(new_name))
		return sp_error_set(err, SP_E_NAME_INVALID,
				    "invalid domain name '%s' (use letters, "
				    "digits, '.', '_' and '-')",
				    new_name ? new_name : "");
	r = sp_domain_connect(uri, conn, err);
	if (r < 0)
		return r;
	other = virDomainLookupByName(*conn, new_name);
	if (!other)
		return 0;
	virDomainFree(other);
	virConnectClose(*conn);
	*conn = NULL;
	return sp_error_set(err, SP_E_DOMAIN_EXISTS,
			    "a domain named '%s' exists already (choose "
			    "another --as name)",
			    new_name);
}

int sp_domain_point_load(struct sp_vault *v, const char *spec, json_t **m,
			 char **xml, struct sp_error *err)
{
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
	r = sp_vault_point_get(v,
			       json_string_value(json_object_get(*m, "name")),
			       json_string_value(json_object_get(*m, "id")),
			       "config", CONFIG_MAX, xml, &len, err);
	if (r == -ENOENT)
		return sp_error_set(err, SP_E_VAULT_IO,
				    "cannot read the definition stored in "
				    "point '%s': it is missing",
				    spec);
	return r;
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
				     .no_config = true,
				     .only_mapped = o->in_place,
				     .no_state = true};
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

/* The point's stored state files, read and checked (vm_state.h). */
static int load_state(struct sp_vault *v, json_t *m, struct sp_point_state *ps,
		      struct sp_error *err)
{
	const char *name = json_string_value(json_object_get(m, "name"));
	const char *id = json_string_value(json_object_get(m, "id"));
	struct sp_point_ref pref = {v, name, id};
	json_t *disk_m = NULL;
	char where[160];
	int r;

	snprintf(where, sizeof(where), "%s@%s", name, id);
	/* The catalog is a cache: the manifest in the vault says what is
	 * stored. */
	r = sp_vault_point_manifest(v, name, id, &disk_m, err);
	if (r == 0)
		r = sp_point_state_load(&pref, disk_m, where, ps, err);
	json_decref(disk_m);
	return r;
}

/* The TPM version of the point's TPM state files. */
static const char *stored_tpm_version(const struct sp_point_state *ps)
{
	for (size_t i = 0; i < ps->n; i++)
		if (!strcmp(ps->files[i].kind, "tpm"))
			return ps->files[i].version;
	return NULL;
}

static uid_t owner_uid(const struct sp_state_file *f)
{
	return f->has_owner ? f->uid : (uid_t)-1;
}

static gid_t owner_gid(const struct sp_state_file *f)
{
	return f->has_owner ? f->gid : (gid_t)-1;
}

/* Make swtpm's directory DIRS->swtpm/@uuid/tpm2 (as libvirt does: the
 * first two levels root's, 0711; the last swtpm's user's, 0700) through
 * @p; its path into @dir. */
static int tpm_dir_make(struct sp_state_put *p,
			const struct sp_libvirt_dirs *dirs, const char *uuid,
			const struct sp_point_state *ps, char *dir,
			size_t dirlen, struct sp_error *err)
{
	const struct sp_state_file *first = NULL;
	char up[PATH_MAX];
	int r;

	for (size_t i = 0; i < ps->n && !first; i++)
		if (!strcmp(ps->files[i].kind, "tpm"))
			first = &ps->files[i];
	snprintf(up, sizeof(up), "%.3000s/%.40s", dirs->swtpm, uuid);
	snprintf(dir, dirlen, "%.3100s/%s", up,
		 sp_tpm_dir_name(first ? first->version : NULL));
	r = sp_state_put_mkdir(p, dirs->swtpm, 0711, (uid_t)-1, (gid_t)-1, err);
	if (r == 0)
		r = sp_state_put_mkdir(p, up, 0711, (uid_t)-1, (gid_t)-1, err);
	if (r == 0)
		r = sp_state_put_mkdir(
		    p, dir, 0700, first ? owner_uid(first) : (uid_t)-1,
		    first ? owner_gid(first) : (gid_t)-1, err);
	return r;
}

/* --as, step 2: the new domain's NVRAM at @nvram, its TPM state under
 * @uuid; nothing of the original's is touched. */
static int stage_state_new(bool force, const struct sp_point_state *ps,
			   const struct sp_libvirt_dirs *dirs, const char *uuid,
			   const char *nvram, struct sp_state_put *p,
			   struct sp_error *err)
{
	char dir[PATH_MAX], path[PATH_MAX + 256];
	int r = 0;

	if (sp_point_state_has_tpm(ps))
		r = tpm_dir_make(p, dirs, uuid, ps, dir, sizeof(dir), err);
	for (size_t i = 0; r == 0 && i < ps->n; i++) {
		const struct sp_state_file *f = &ps->files[i];

		if (!strcmp(f->kind, "nvram")) {
			r = sp_state_put_file(p, nvram, f, f->mode & 0777,
					      owner_uid(f), owner_gid(f), force,
					      err);
			continue;
		}
		snprintf(path, sizeof(path), "%s/%s", dir, f->name);
		r = sp_state_put_file(p, path, f, f->mode & 0777, owner_uid(f),
				      owner_gid(f), false, err);
	}
	return r;
}

/* Is @name a file swtpm keeps its state in (what a backup stores)? */
static bool is_tpm_state_file(int dfd, const char *name)
{
	struct stat st;

	return name[0] != '.' && strncmp(name, "TMP", 3) &&
	       fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	       S_ISREG(st.st_mode);
}

/* --in-place, step 2: the stored state written beside the domain's own
 * NVRAM and swtpm state (renamed over them on commit); TPM files the
 * point does not have go on commit. */
static int stage_state_in_place(const struct sp_point_state *ps,
				const struct sp_domain *dom,
				const struct sp_domain_def *def,
				struct sp_state_put *p, struct sp_error *err)
{
	const struct sp_state_file *nv = sp_point_state_nvram(ps);
	const struct sp_domain_tpm *t = sp_domain_emulated_tpm(def);
	const char *version = stored_tpm_version(ps), *no_dirs = NULL;
	struct sp_libvirt_dirs dirs;
	bool known = sp_libvirt_dirs(dom->uri, &dirs, &no_dirs);
	char path[PATH_MAX + 256], dir[PATH_MAX];
	struct stat st;
	int r = 0;

	if (ps->n && !known)
		return sp_error_set(err, SP_E_USAGE,
				    "the point holds NVRAM or TPM state of "
				    "'%s', which cannot be put back: %s",
				    dom->name, no_dirs);
	if (nv) {
		const struct sp_domain_firmware *fw = &def->fw;

		if (fw->nvram_type && strcmp(fw->nvram_type, "file"))
			return sp_error_set(err, SP_E_USAGE,
					    "domain '%s' keeps its NVRAM in "
					    "storage of type '%s' now, not in "
					    "a file (restore it as a new "
					    "domain with --as)",
					    dom->name, fw->nvram_type);
		if (fw->nvram)
			snprintf(path, sizeof(path), "%s", fw->nvram);
		else if (sp_domain_has_nvram(def))
			snprintf(path, sizeof(path), "%.3000s/%.200s_VARS.fd",
				 dirs.nvram, dom->name);
		else
			return sp_error_set(err, SP_E_USAGE,
					    "the point holds the NVRAM of "
					    "'%s', but the domain has no UEFI "
					    "NVRAM now (restore it as a new "
					    "domain with --as)",
					    dom->name);
		/* The store keeps the owner and mode it has now. */
		if (lstat(path, &st) == 0)
			r = sp_state_put_file(p, path, nv, st.st_mode & 0777,
					      st.st_uid, st.st_gid, true, err);
		else
			r = sp_state_put_file(p, path, nv, nv->mode & 0777,
					      owner_uid(nv), owner_gid(nv),
					      true, err);
		if (r < 0)
			return r;
	}
	if (!sp_point_state_has_tpm(ps))
		return 0;
	if (!t)
		return sp_error_set(err, SP_E_USAGE,
				    "the point holds the TPM state of '%s', "
				    "but the domain has no emulated TPM now "
				    "(restore it as a new domain with --as)",
				    dom->name);
	if (strcmp(sp_tpm_dir_name(t->version), sp_tpm_dir_name(version)))
		return sp_error_set(err, SP_E_USAGE,
				    "the point holds the state of a TPM %s, "
				    "but domain '%s' has a TPM %s now (restore "
				    "it as a new domain with --as)",
				    version ? version : "2.0", dom->name,
				    t->version ? t->version : "2.0");
	r = tpm_dir_make(p, &dirs, dom->uuid, ps, dir, sizeof(dir), err);
	for (size_t i = 0; r == 0 && i < ps->n; i++) {
		const struct sp_state_file *f = &ps->files[i];

		if (strcmp(f->kind, "tpm"))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, f->name);
		r = sp_state_put_file(p, path, f, f->mode & 0777, owner_uid(f),
				      owner_gid(f), true, err);
	}
	if (r == 0) {
		/* What swtpm wrote since (a volatile state, say) would be
		 * read with the restored state: it goes. */
		DIR *d = opendir(dir);
		struct dirent *de;

		while (d && r == 0 && (de = readdir(d))) {
			bool stored = false;

			if (!is_tpm_state_file(dirfd(d), de->d_name))
				continue;
			for (size_t i = 0; i < ps->n; i++)
				if (!strcmp(ps->files[i].kind, "tpm") &&
				    !strcmp(ps->files[i].name, de->d_name))
					stored = true;
			if (stored || strstr(de->d_name, ".stillpoint-"))
				continue;
			snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
			r = sp_state_put_unlink(p, path, err);
		}
		if (d)
			closedir(d);
	}
	return r;
}

/* Remove the files of the "disk=path" @maps restore_disks() wrote. */
static void remove_disks(char *const *maps, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (maps[i])
			unlink(strchr(maps[i], '=') + 1);
}

static void free_maps(char **maps, size_t n)
{
	for (size_t i = 0; maps && i < n; i++)
		free(maps[i]);
	free(maps);
}

int sp_new_state_prepare(struct sp_vault *v, json_t *m, virConnectPtr conn,
			 const char *uri, const char *spec,
			 const char *new_name, struct sp_new_state *ns,
			 struct sp_error *err)
{
	const char *no_dirs = NULL;
	bool known;
	int r;

	known =
	    sp_libvirt_dirs(sp_domain_default_uri(uri), &ns->dirs, &no_dirs);
	ns->put = sp_state_put_new();
	if (!ns->put)
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	r = load_state(v, m, &ns->ps, err);
	if (r < 0)
		return r;
	if (ns->ps.n && !known)
		return sp_error_set(err, SP_E_USAGE,
				    "point '%s' holds NVRAM or TPM state, "
				    "which cannot be put in place: %s",
				    spec, no_dirs);
	if (sp_point_state_nvram(&ns->ps)) {
		/* Beside the original's store, under libvirt's name for
		 * the new domain's. */
		const char *src = sp_point_state_nvram(&ns->ps)->source;
		const char *slash = src ? strrchr(src, '/') : NULL;
		int k;

		if (slash && slash != src)
			k = asprintf(&ns->nvram, "%.*s/%s_VARS.fd",
				     (int)(slash - src), src, new_name);
		else
			k = asprintf(&ns->nvram, "%s/%s_VARS.fd",
				     ns->dirs.nvram, new_name);
		if (k < 0) {
			ns->nvram = NULL;
			return sp_error_set(err, SP_E_NOMEM, "out of memory");
		}
		ns->ids.nvram = ns->nvram;
	}
	if (sp_point_state_has_tpm(&ns->ps)) {
		r = sp_new_domain_uuid(conn, &ns->dirs, ns->uuid, err);
		if (r < 0)
			return r;
		ns->ids.uuid = ns->uuid;
	}
	return 0;
}

int sp_new_state_stage(struct sp_new_state *ns, bool force,
		       struct sp_error *err)
{
	return stage_state_new(force, &ns->ps, &ns->dirs, ns->uuid, ns->nvram,
			       ns->put, err);
}

void sp_new_state_release(struct sp_new_state *ns)
{
	sp_state_put_free(ns->put);
	sp_point_state_release(&ns->ps);
	free(ns->nvram);
	memset(ns, 0, sizeof(*ns));
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
	struct sp_new_state ns = {0};
	struct sp_domain_def *def = NULL;
	json_t *loose = json_array();
	size_t ndm = 0;
	int r;

	if (!dm || !maps || !loose) {
		r = sp_error_set(err, SP_E_NOMEM, "out of memory");
		goto out;
	}
	r = sp_new_domain_connect(o->uri, o->new_name, &conn, err);
	if (r < 0)
		goto out;
	r = sp_domain_def_parse(xml, strlen(xml), &def, err);
	if (r < 0)
		goto out;
	json_array_foreach(disks, i, d)
	{
		const char *t = disk_target(d);
		const char *fmt =
		    o->format ? o->format
			      : json_string_value(json_object_get(d, "format"));
		bool qcow2 = fmt && !strcmp(fmt, "qcow2");
		bool defined = sp_domain_def_disk(def, t) != NULL;
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
		if (!defined) {
			/* Attached to the running domain only: the stored
			 * (persistent) definition has no place for it. */
			json_array_append_new(
			    loose,
			    json_pack("{s:s, s:s, s:s}", "disk", t, "path",
				      strchr(maps[i], '=') + 1, "reason",
				      "attached to the running domain "
				      "only, not in its definition"));
			continue;
		}
		dm[ndm++] = (struct sp_domain_disk_map){
		    .target = t,
		    .path = strchr(maps[i], '=') + 1,
		    .format = qcow2 ? "qcow2" : "raw"};
	}
	r = sp_new_state_prepare(v, m, conn, o->uri, o->spec, o->new_name, &ns,
				 err);
	if (r < 0)
		goto out;
	/* Check the rewrite before writing gigabytes (invariant 1). */
	r = sp_domain_xml_for_restore(xml, strlen(xml), o->new_name, dm, ndm,
				      &ns.ids, &newxml, err);
	if (r == 0)
		r = sp_new_state_stage(&ns, o->force, err);
	if (r < 0) {
		sp_state_put_abort(ns.put, false);
		goto out;
	}
	r = restore_disks(v, o, m, maps, n, o->force, &files, err);
	if (r == 0)
		r = sp_state_put_commit(ns.put, err);
	if (r < 0) {
		if (files) /* the disks were all written: remove them */
			remove_disks(maps, n);
		sp_state_put_abort(ns.put, true);
		goto out;
	}
	dom = virDomainDefineXML(conn, newxml);
	if (!dom) {
		r = sp_domain_error(err, SP_E_LIBVIRT,
				    "libvirt refused the restored definition "
				    "of '%s' (its disks and state files were "
				    "removed again)",
				    o->new_name);
		remove_disks(maps, n);
		sp_state_put_abort(ns.put, true);
		goto out;
	}
	virDomainGetUUIDString(dom, uuid);
	if (ns.ps.n) {
		json_t *sf = sp_state_put_files(ns.put);
		json_array_extend(files, sf);
		json_decref(sf);
	}
	*result = json_pack("{s:s, s:s, s:s, s:s, s:O, s:O}", "mode", "new",
			    "domain", o->new_name, "uuid", uuid, "point",
			    json_string_value(json_object_get(m, "id")),
			    "files", files, "not_attached", loose);
out:
	sp_domain_def_free(def);
	json_decref(loose);
	if (dom)
		virDomainFree(dom);
	if (conn)
		virConnectClose(conn);
	json_decref(files);
	sp_new_state_release(&ns);
	free(dm);
	free_maps(maps, n);
	return r;
}

/* Is disk @dd one of point @m's? */
static bool in_point(json_t *m, const struct sp_domain_disk *dd)
{
	json_t *d;
	size_t i;

	json_array_foreach(json_object_get(m, "disks"), i, d)
	{
		if (!strcmp(disk_target(d), dd->target))
			return true;
	}
	return false;
}

/* A disk whose guest data lives in a data store is restored into the
 * store, raw, which only a metadata image that keeps it raw allows, and
 * only from a raw disk of the point. */
static int check_data_store(const struct sp_domain_disk *cur, json_t *d,
			    const char *name, struct sp_error *err)
{
	const char *f = json_string_value(json_object_get(d, "format"));
	int r;

	r = sp_cbt_meta_check(cur->source, cur->data_source, 0, err);
	if (r < 0)
		return r;
	if (f && strcmp(f, "raw") != 0)
		return sp_error_set(err, SP_E_USAGE,
				    "disk '%s' of domain '%s' keeps its data "
				    "raw in '%s', but the point holds it as "
				    "%s: restore it with --as or --to instead",
				    cur->target, name, cur->data_source, f);
	return 0;
}

static int restore_in_place(struct sp_vault *v,
			    const struct sp_domain_restore_opts *o, json_t *m,
			    json_t **result, struct sp_error *err)
{
	const char *name = json_string_value(json_object_get(m, "name"));
	json_t *disks = json_object_get(m, "disks"), *d, *files = NULL;
	size_t n = json_array_size(disks), i, nm = 0;
	char **maps = calloc(n ? n : 1, sizeof(*maps));
	struct sp_domain *dom = NULL;
	struct sp_domain_def *def = NULL;
	sp_autofree char *xml = NULL;
	enum sp_domain_state st;
	unsigned dropped = 0;
	struct sp_error ce;
	json_t *left = json_array();
	struct sp_point_state ps = {0};
	struct sp_state_put *put = sp_state_put_new();
	int r;

	if (!maps || !put || !left) {
		free(maps);
		sp_state_put_free(put);
		json_decref(left);
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	}
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
		const struct sp_domain_disk *cur = sp_domain_def_disk(def, t);
		const char *why = NULL;

		/* Media and network disks are not the domain's to
		 * overwrite: an ISO may be shared by other VMs or changed
		 * since, a network disk lives on its server. */
		if (json_is_true(json_object_get(d, "read_only_media")) ||
		    (cur && (cur->media || cur->readonly)))
			why = "read-only media: not written in place";
		else if (cur && !strcmp(cur->type, "network"))
			why = "network disk: not written in place (restore it "
			      "with --to and copy it to its server)";
		if (why) {
			json_array_append_new(
			    left,
			    json_pack("{s:s, s:s}", "disk", t, "reason", why));
			continue;
		}
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
		if (cur->data_source) {
			r = check_data_store(cur, d, name, err);
			if (r < 0)
				goto out;
		}
		if (asprintf(&maps[nm++], "%s=%s",
			     json_string_value(json_object_get(d, "name")),
			     cur->data_source ? cur->data_source
					      : cur->source) < 0) {
			maps[--nm] = NULL;
			r = sp_error_set(err, SP_E_NOMEM, "out of memory");
			goto out;
		}
	}
	if (nm == 0) {
		r = sp_error_set(err, SP_E_USAGE,
				 "point '%s' has no disk to write in place "
				 "(only media or network disks: restore them "
				 "with --to)",
				 json_string_value(json_object_get(m, "id")));
		goto out;
	}
	r = load_state(v, m, &ps, err);
	if (r == 0)
		r = stage_state_in_place(&ps, dom, def, put, err);
	if (r == 0)
		r = restore_disks(v, o, m, maps, nm, true, &files, err);
	/* A raw data store was written behind its metadata image: the
	 * image's bitmaps describe the old content. */
	for (size_t k = 0; r == 0 && k < def->ndisks; k++)
		if (def->disks[k].data_source && in_point(m, &def->disks[k]))
			r = sp_cbt_meta_renew(def->disks[k].source,
					      def->disks[k].data_source, err);
	if (r == 0)
		r = sp_state_put_commit(put, err);
	if (r < 0) {
		sp_state_put_abort(put, false);
		goto out;
	}
	if (ps.n) {
		json_t *sf = sp_state_put_files(put);
		json_array_extend(files, sf);
		json_decref(sf);
	}
	/* Invariant 3 of the header: the bitmaps left with the old images. */
	if (sp_libvirt_checkpoints_prune(dom, NULL, &dropped, &ce) < 0)
		sp_log(SP_LOG_WARNING, "checkpoints not all dropped vm=%s: %s",
		       name, ce.msg);
	*result = json_pack(
	    "{s:s, s:s, s:s, s:s, s:O, s:i, s:O}", "mode", "in-place", "domain",
	    name, "uuid", dom->uuid, "point",
	    json_string_value(json_object_get(m, "id")), "files", files,
	    "checkpoints_dropped", (int)dropped, "left_alone", left);
out:
	json_decref(left);
	json_decref(files);
	free_maps(maps, n);
	sp_state_put_free(put);
	sp_point_state_release(&ps);
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
	r = sp_domain_point_load(v, o->spec, &m, &xml, err);
	if (r == 0)
		r = o->in_place ? restore_in_place(v, o, m, result, err)
				: restore_as_new(v, o, m, xml, result, err);
	json_decref(m);
	return r;
}

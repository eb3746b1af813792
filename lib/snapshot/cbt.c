// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Changed-block tracking for raw disks: metadata images made and checked
 * with qemu-img, and the domain's definition switched to them and back
 * (cbt.h says why and what holds).
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "domain/domain.h"
#include "domain/domain_xml.h"
#include "snapshot/cbt.h"
#include "snapshot/snapshot_libvirt.h"
#include "util/cleanup.h"
#include "util/fileio.h"
#include "util/log.h"
#include "util/spawn.h"
#include "util/text.h"

/* 64 KiB clusters (qcow2's default): the bitmap's granularity, and 8
 * bytes of cluster map per 64 KiB of disk (128 MiB per TiB). */
#define CBT_CLUSTER "65536"

int sp_cbt_meta_check(const char *meta, const char *data, uint64_t size,
		      struct sp_error *err)
{
	const char *argv[] = {"qemu-img", "info",  "-U", "--output=json",
			      "-f",	  "qcow2", meta, NULL};
	sp_autofree char *out = NULL;
	json_t *info, *fs;
	const char *df;
	int r;

	r = sp_spawn_run(argv, &out, err);
	if (r < 0)
		return r;
	info = json_loads(out, 0, NULL);
	if (!json_is_object(info)) {
		json_decref(info);
		return sp_error_set(err, SP_E_TOOL_FAILED,
				    "qemu-img info gave no JSON object for "
				    "metadata image '%s'",
				    meta);
	}
	fs = json_object_get(json_object_get(info, "format-specific"), "data");
	df = json_string_value(json_object_get(fs, "data-file"));
	if (!df || strcmp(df, data) != 0)
		r = sp_error_set(err, SP_E_CBT_META_INVALID,
				 "metadata image '%s' names %s%s%s as its "
				 "data, not '%s'",
				 meta, df ? "'" : "no data file", df ? df : "",
				 df ? "'" : "", data);
	else if (!json_is_true(json_object_get(fs, "data-file-raw")))
		r = sp_error_set(err, SP_E_CBT_META_INVALID,
				 "metadata image '%s' does not keep its data "
				 "file '%s' raw (data-file-raw is off): the "
				 "file alone is not the disk",
				 meta, data);
	else if (size && (uint64_t)json_integer_value(
			     json_object_get(info, "virtual-size")) != size)
		r = sp_error_set(err, SP_E_CBT_META_INVALID,
				 "metadata image '%s' describes %" PRIu64
				 " bytes, its "
				 "data '%s' has %" PRIu64,
				 meta,
				 (uint64_t)json_integer_value(
				     json_object_get(info, "virtual-size")),
				 data, size);
	json_decref(info);
	return r;
}

/* chmod 0600 and fsync a file qemu-img made; 0 or -errno. */
static int sync_file(const char *path)
{
	sp_autoclose int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0 || fchmod(fd, 0600) < 0 || fsync(fd) < 0)
		return -errno;
	return 0;
}

int sp_cbt_meta_create(const char *data, uint64_t size, const char *meta,
		       struct sp_error *err)
{
	sp_autofree char *tmp = NULL, *scratch = NULL, *opts = NULL,
			 *amend = NULL, *dir = NULL;
	char sz[32];
	struct stat st;
	int r, e;

	if (size == 0 || size % 512)
		return sp_error_set(err, SP_E_TARGET_SIZE_UNALIGNED,
				    "raw disk '%s' has %" PRIu64 " bytes, not "
				    "a positive multiple of 512: no qcow2 "
				    "image can describe it exactly (grow it "
				    "to a multiple of 512 first)",
				    data, size);
	if (lstat(meta, &st) == 0)
		return sp_error_set(err, SP_E_TARGET_EXISTS,
				    "metadata image '%s' exists already "
				    "(remove it if no domain uses it: 'virsh "
				    "domblklist --details' shows what they "
				    "use)",
				    meta);
	if (asprintf(&tmp, "%s.tmp-%d", meta, (int)getpid()) < 0 ||
	    asprintf(&scratch, "%s.scratch-%d", meta, (int)getpid()) < 0 ||
	    asprintf(&opts,
		     "data_file=%s,data_file_raw=on,preallocation=metadata,"
		     "cluster_size=" CBT_CLUSTER,
		     scratch) < 0 ||
	    asprintf(&amend, "data_file=%s", data) < 0 || !(dir = strdup(meta)))
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	snprintf(sz, sizeof(sz), "%" PRIu64, size);
	unlink(tmp);
	unlink(scratch);
	/* Invariant 1: qemu-img creates the data file it is given, over
	 * whatever was there, so the image is made over a scratch file
	 * (sparse, never written) and pointed at the raw disk after. */
	const char *create[] = {"qemu-img", "create", "-q", "-f", "qcow2",
				"-o",	    opts,     tmp,  sz,	  NULL};
	const char *repoint[] = {"qemu-img", "amend", "-q", "-f", "qcow2",
				 "-o",	     amend,   tmp,  NULL};
	r = sp_spawn_run(create, NULL, err);
	if (r == 0)
		r = sp_spawn_run(repoint, NULL, err);
	unlink(scratch);
	if (r == 0)
		r = sp_cbt_meta_check(tmp, data, size, err);
	if (r == 0 && (e = sync_file(tmp)) < 0)
		r = sp_error_set_errno(err, SP_E_TARGET_WRITE, -e,
				       "cannot sync metadata image '%s'", tmp);
	/* link(), not rename(): never over an image that appeared since. */
	if (r == 0 && link(tmp, meta) < 0)
		r = sp_error_set_errno(
		    err,
		    errno == EEXIST ? SP_E_TARGET_EXISTS : SP_E_TARGET_WRITE,
		    errno, "cannot create metadata image '%s'", meta);
	unlink(tmp);
	if (r == 0 && (e = sp_fsync_path(AT_FDCWD, dirname(dir))) < 0)
		r = sp_error_set_errno(err, SP_E_TARGET_WRITE, -e,
				       "cannot sync directory of '%s'", meta);
	if (r < 0 && r != SP_E_TARGET_EXISTS)
		unlink(meta);
	return r;
}

/* The size of raw disk @path, a regular file or a block device. */
static int raw_size(const char *path, uint64_t *size, struct sp_error *err)
{
	sp_autoclose int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	struct stat st;
	int e;

	if (fd < 0 || fstat(fd, &st) < 0)
		return sp_error_set_errno(err, SP_E_DISK_NOT_FOUND, errno,
					  "cannot open raw disk '%s'", path);
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
		return sp_error_set(err, SP_E_DISK_NOT_SUPPORTED,
				    "'%s' is neither a file nor a block device",
				    path);
	e = sp_fd_size(fd, size);
	if (e < 0)
		return sp_error_set_errno(err, SP_E_DISK_READ, -e,
					  "cannot get the size of '%s'", path);
	return 0;
}

/* qemu.conf's "user" or "group" value @name ("+N": the number N) as a
 * number; false when no such user or group exists. */
static bool qemu_conf_id(const char *name, bool group, unsigned *id)
{
	struct passwd *pw;
	struct group *gr;

	if (name[0] == '+') {
		*id = (unsigned)strtoul(name + 1, NULL, 10);
		return true;
	}
	if (group && (gr = getgrnam(name)))
		*id = (unsigned)gr->gr_gid;
	else if (!group && (pw = getpwnam(name)))
		*id = (unsigned)pw->pw_uid;
	else
		return false;
	return true;
}

/*
 * The user and group QEMU runs as: the running process's, else qemu.conf's
 * "user"/"group", else the Debian build's default, libvirt-qemu.  libvirt
 * before 10.10 does not know the data store (QEMU opens it through the
 * image's header), so libvirt never grants QEMU access to it: we do.
 */
static int qemu_identity(struct sp_domain *d, uid_t *uid, gid_t *gid,
			 struct sp_error *err)
{
	char user[64] = "libvirt-qemu", group[64] = "libvirt-qemu";
	char line[256];
	unsigned u, g;
	FILE *f;

	if (d && sp_domain_qemu_owner(d, &u, &g, err) == 0) {
		*uid = u;
		*gid = g;
		return 0;
	}
	f = fopen("/etc/libvirt/qemu.conf", "re");
	while (f && fgets(line, sizeof(line), f)) {
		sscanf(line, " user = \"%63[^\"]\"", user);
		sscanf(line, " group = \"%63[^\"]\"", group);
	}
	if (f)
		fclose(f);
	if (!qemu_conf_id(user, false, &u))
		return sp_error_set(err, SP_E_LIBVIRT,
				    "QEMU's user '%s' (qemu.conf) does not "
				    "exist",
				    user);
	if (!qemu_conf_id(group, true, &g))
		return sp_error_set(err, SP_E_LIBVIRT,
				    "QEMU's group '%s' (qemu.conf) does not "
				    "exist",
				    group);
	*uid = u;
	*gid = g;
	return 0;
}

int sp_qemu_identity(uid_t *uid, gid_t *gid, struct sp_error *err)
{
	return qemu_identity(NULL, uid, gid, err);
}

/* Give raw disk @data to @uid:@gid with @mode; *@was (may be NULL) gets
 * its owner before, as "UID:GID:MODE". */
static int set_owner(const char *data, uid_t uid, gid_t gid, mode_t mode,
		     char *was, size_t wlen, struct sp_error *err)
{
	sp_autoclose int fd =
	    open(data, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	struct stat st;

	if (fd < 0 || fstat(fd, &st) < 0)
		return sp_error_set_errno(err, SP_E_DISK_NOT_FOUND, errno,
					  "cannot open raw disk '%s'", data);
	if (was)
		snprintf(was, wlen, "%u:%u:%o", (unsigned)st.st_uid,
			 (unsigned)st.st_gid, (unsigned)(st.st_mode & 07777));
	if (fchown(fd, uid, gid) < 0 || fchmod(fd, mode) < 0)
		return sp_error_set_errno(err, SP_E_DISK_PERMISSION, errno,
					  "cannot give raw disk '%s' to QEMU's "
					  "user",
					  data);
	return 0;
}

/* Give the raw disk back to its owner of "UID:GID:MODE" @owner. */
static void restore_owner(const char *data, const char *owner)
{
	unsigned u, g, m;
	struct sp_error e;

	if (owner && sscanf(owner, "%u:%u:%o", &u, &g, &m) == 3 &&
	    set_owner(data, (uid_t)u, (gid_t)g, (mode_t)m, NULL, 0, &e) < 0)
		sp_log(SP_LOG_WARNING, "cannot give back raw disk path=%s: %s",
		       data, e.msg);
}

int sp_cbt_meta_renew(const char *meta, const char *data, struct sp_error *err)
{
	sp_autofree char *fresh = NULL, *dir = strdup(meta);
	uint64_t size = 0;
	uid_t uid;
	gid_t gid;
	int r, e;

	if (!dir || asprintf(&fresh, "%s.renew-%d", meta, (int)getpid()) < 0)
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	unlink(fresh);
	r = raw_size(data, &size, err);
	if (r == 0)
		r = sp_cbt_meta_create(data, size, fresh, err);
	/* A restored file is new, and QEMU must open it as before. */
	if (r == 0)
		r = qemu_identity(NULL, &uid, &gid, err);
	if (r == 0)
		r = set_owner(data, uid, gid, 0660, NULL, 0, err);
	if (r == 0 && rename(fresh, meta) < 0)
		r = sp_error_set_errno(err, SP_E_TARGET_WRITE, errno,
				       "cannot replace metadata image '%s'",
				       meta);
	if (r == 0 && (e = sp_fsync_path(AT_FDCWD, dirname(dir))) < 0)
		r = sp_error_set_errno(err, SP_E_TARGET_WRITE, -e,
				       "cannot sync directory of '%s'", meta);
	if (r < 0)
		unlink(fresh);
	return r;
}

/* The domain, its state, and its persistent definition parsed. */
struct cbt_dom {
	struct sp_domain *d;
	enum sp_domain_state state;
	char *xml;
	struct sp_domain_def *def;
	struct sp_domain_def *live; /* running only: the live definition */
};

static void cbt_dom_close(struct cbt_dom *c)
{
	sp_domain_def_free(c->def);
	sp_domain_def_free(c->live);
	free(c->xml);
	sp_domain_close(c->d);
}

static int cbt_dom_open(const struct sp_cbt_opts *o, struct cbt_dom *c,
			struct sp_error *err)
{
	sp_autofree char *live = NULL;
	int r;

	*c = (struct cbt_dom){0};
	r = sp_domain_open(o->uri, o->domain, &c->d, err);
	if (r == 0)
		r = sp_domain_get_state(c->d, &c->state, err);
	if (r == 0)
		r = sp_domain_get_xml(c->d, true, &c->xml, err);
	if (r == 0)
		r = sp_domain_def_parse(c->xml, strlen(c->xml), &c->def, err);
	if (r == 0 && c->state != SP_DOMAIN_SHUTOFF) {
		r = sp_domain_get_xml(c->d, false, &live, err);
		if (r == 0)
			r = sp_domain_def_parse(live, strlen(live), &c->live,
						err);
	}
	return r;
}

/* Does the running QEMU have metadata image @meta open for @target? */
static bool in_use(const struct cbt_dom *c, const char *target,
		   const char *meta)
{
	const struct sp_domain_disk *l = sp_domain_def_disk(c->live, target);

	return l && l->source && !strcmp(l->source, meta);
}

/* The disks to act on: those named, else each disk @want accepts. */
static int pick(const struct sp_cbt_opts *o, const struct cbt_dom *c,
		bool (*want)(const struct sp_domain_disk *), const char ***out,
		size_t *n, struct sp_error *err)
{
	const char **t = calloc(c->def->ndisks + o->ntargets + 1, sizeof(*t));

	*n = 0;
	if (!t)
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	for (size_t i = 0; i < o->ntargets; i++) {
		if (!sp_domain_def_disk(c->def, o->targets[i])) {
			free(t);
			return sp_error_set(err, SP_E_USAGE,
					    "domain '%s' has no disk '%s' "
					    "(see 'virsh domblklist %s')",
					    c->d->name, o->targets[i],
					    c->d->name);
		}
		t[(*n)++] = o->targets[i];
	}
	for (size_t i = 0; !o->ntargets && i < c->def->ndisks; i++)
		if (want(&c->def->disks[i]))
			t[(*n)++] = c->def->disks[i].target;
	*out = t;
	return 0;
}

static bool can_adopt(const struct sp_domain_disk *d)
{
	return sp_domain_disk_cbt_refusal(d) == NULL;
}

static bool adopted(const struct sp_domain_disk *d)
{
	return d->cbt_meta != NULL;
}

/* libvirt learnt <dataStore> in 10.10; before, QEMU opens the data store
 * through the image's header, from its private /dev, where a block device
 * libvirt does not know is absent. */
#define DATASTORE_LIBVIRT 10010000UL
static const char block_why[] =
    "a block device needs libvirt 10.10 or later (this libvirt drops "
    "<dataStore>, and QEMU cannot open a device libvirt did not give it); "
    "its backups read it in full and compare chunk hashes";

static const char *host_refusal(const struct cbt_dom *c,
				const struct sp_domain_disk *d)
{
	unsigned long v = 0;

	if (d->type && !strcmp(d->type, "block") &&
	    (virConnectGetLibVersion(c->d->conn, &v) < 0 ||
	     v < DATASTORE_LIBVIRT))
		return block_why;
	return NULL;
}

static int define(struct cbt_dom *c, const char *xml, struct sp_error *err)
{
	virDomainPtr nd = virDomainDefineXML(c->d->conn, xml);

	if (!nd)
		return sp_domain_error(err, SP_E_LIBVIRT,
				       "cannot define domain '%s' anew",
				       c->d->name);
	virDomainFree(nd);
	return 0;
}

/* Every disk of the persistent definition, as 'cbt status' shows it. */
static json_t *report(const struct cbt_dom *c)
{
	json_t *disks = json_array();
	bool restart = false;

	for (size_t i = 0; i < c->def->ndisks; i++) {
		const struct sp_domain_disk *d = &c->def->disks[i];
		const char *why = sp_domain_disk_cbt_refusal(d);
		const char *tracking;
		json_t *e;
		bool active = true;

		if (d->cbt_meta) {
			tracking = "metadata-image";
			why = NULL;
			active = c->state == SP_DOMAIN_SHUTOFF ||
				 in_use(c, d->target, d->cbt_meta);
		} else if (sp_domain_disk_keeps_bitmap(d, NULL) &&
			   !d->backup_no) {
			tracking = "qcow2";
			why = NULL;
			/* the running QEMU may still have another image */
			if (c->live) {
				const struct sp_domain_disk *l =
				    sp_domain_def_disk(c->live, d->target);
				active = l && l->source && d->source &&
					 !strcmp(l->source, d->source);
			}
		} else {
			tracking = "none";
			if (!why)
				why = host_refusal(c, d);
			if (!why)
				why = "raw: 'stillpoint cbt enable' gives it a "
				      "metadata image";
		}
		if (!active)
			restart = true;
		e = json_pack("{s:s, s:s, s:s?, s:s, s:b}", "target", d->target,
			      "type", d->type, "format", d->format, "tracking",
			      tracking, "active", active);
		if (d->cbt_meta) {
			json_object_set_new(e, "meta",
					    json_string(d->cbt_meta));
			json_object_set_new(e, "data",
					    json_string(d->data_source));
		} else if (d->source) {
			json_object_set_new(e, "source",
					    json_string(d->source));
		}
		if (why)
			json_object_set_new(e, "reason", json_string(why));
		json_array_append_new(disks, e);
	}
	return json_pack("{s:s, s:s, s:o, s:b}", "domain", c->d->name, "state",
			 sp_domain_state_name(c->state), "disks", disks,
			 "restart_needed", restart);
}

int sp_cbt_status(const struct sp_cbt_opts *o, json_t **result,
		  struct sp_error *err)
{
	struct cbt_dom c;
	int r = cbt_dom_open(o, &c, err);

	if (r == 0) {
		*result = report(&c);
		if (!*result)
			r = sp_error_set(err, SP_E_NOMEM, "out of memory");
	}
	cbt_dom_close(&c);
	return r;
}

static char *meta_path(const char *dir, const struct sp_domain *d,
		       const char *target)
{
	char *p = NULL;

	if (asprintf(&p, "%s/%s-%s.cbt.qcow2", dir,
		     sp_name_is_valid(d->name) ? d->name : d->uuid, target) < 0)
		return NULL;
	return p;
}

/* Does the domain's persistent definition, read back, run each of
 * @targets on its image in @metas and record it as adopted? */
static int kept(const struct sp_cbt_opts *o, const char *const *targets,
		size_t n, char *const *metas, struct sp_error *err)
{
	struct cbt_dom c;
	int r = cbt_dom_open(o, &c, err);

	for (size_t i = 0; r == 0 && i < n; i++) {
		const struct sp_domain_disk *d =
		    sp_domain_def_disk(c.def, targets[i]);

		if (!d || !d->cbt_meta || strcmp(d->cbt_meta, metas[i]) != 0)
			r = sp_error_set(err, SP_E_LIBVIRT,
					 "libvirt did not keep disk '%s' of "
					 "'%s' on its metadata image (its "
					 "definition is put back as it was)",
					 targets[i], c.d->name);
	}
	cbt_dom_close(&c);
	return r;
}

int sp_cbt_enable(const struct sp_cbt_opts *o, json_t **result,
		  struct sp_error *err)
{
	const char *dir = o->meta_dir ? o->meta_dir : SP_CBT_DEFAULT_DIR;
	sp_autofree const char **targets = NULL;
	sp_autofree char **made = NULL;
	sp_autofree char *xml = NULL;
	struct cbt_dom c;
	size_t n = 0, nmade = 0;
	struct sp_error e;
	struct given {
		const char *data;
		char was[64];
	} *given = NULL;
	int r;

	r = cbt_dom_open(o, &c, err);
	if (r == 0 && dir[0] != '/')
		r = sp_error_set(err, SP_E_USAGE,
				 "--meta-dir needs an absolute path, not '%s'",
				 dir);
	if (r == 0)
		r = pick(o, &c, can_adopt, &targets, &n, err);
	/* Unnamed disks this host cannot adopt are left as they are. */
	for (size_t i = 0, k = 0; r == 0 && !o->ntargets && i < n; i++) {
		if (!host_refusal(&c, sp_domain_def_disk(c.def, targets[i])))
			targets[k++] = targets[i];
		if (i + 1 == n)
			n = k;
	}
	if (r == 0 && n == 0)
		r = sp_error_set(err, SP_E_DISK_NOT_SUPPORTED,
				 "domain '%s' has no raw disk whose changes "
				 "are not tracked yet (see 'stillpoint cbt "
				 "status %s')",
				 c.d->name, c.d->name);
	if (r == 0 && (!(made = calloc(n, sizeof(*made))) ||
		       !(given = calloc(n, sizeof(*given)))))
		r = sp_error_set(err, SP_E_NOMEM, "out of memory");
	if (r == 0 && mkdir(dir, 0711) < 0 && errno != EEXIST)
		r = sp_error_set_errno(err, SP_E_TARGET_WRITE, errno,
				       "cannot create directory '%s'", dir);
	if (r == 0 && !(xml = strdup(c.xml)))
		r = sp_error_set(err, SP_E_NOMEM, "out of memory");
	for (size_t i = 0; r == 0 && i < n; i++) {
		const struct sp_domain_disk *dd =
		    sp_domain_def_disk(c.def, targets[i]);
		const char *why = sp_domain_disk_cbt_refusal(dd);
		sp_autofree char *meta = meta_path(dir, c.d, targets[i]);
		char *next = NULL, was[64];
		uint64_t size = 0;
		uid_t uid;
		gid_t gid;

		if (!meta) {
			r = sp_error_set(err, SP_E_NOMEM, "out of memory");
			break;
		}
		if (!why)
			why = host_refusal(&c, dd);
		if (why) {
			r = sp_error_set(err, SP_E_USAGE,
					 "disk '%s' of domain '%s' cannot have "
					 "its changes tracked: %s",
					 targets[i], c.d->name, why);
			break;
		}
		r = raw_size(dd->source, &size, err);
		if (r == 0)
			r = sp_cbt_meta_create(dd->source, size, meta, err);
		if (r < 0)
			break;
		made[nmade++] = sp_steal_ptr(&meta);
		r = qemu_identity(c.state == SP_DOMAIN_SHUTOFF ? NULL : c.d,
				  &uid, &gid, err);
		if (r == 0)
			r = set_owner(dd->source, uid, gid, 0660, was,
				      sizeof(was), err);
		if (r == 0) {
			snprintf(given[i].was, sizeof(given[i].was), "%s", was);
			given[i].data = dd->source;
		}
		if (r == 0)
			r = sp_domain_xml_cbt_adopt(xml, strlen(xml),
						    targets[i], made[nmade - 1],
						    was, &next, err);
		free(xml);
		xml = next;
	}
	/* Invariant 2: define only once every image exists. */
	if (r == 0)
		r = define(&c, xml, err);
	/* libvirt drops what it does not know without a word: the
	 * definition is read back, and must say every disk is adopted. */
	if (r == 0 && (r = kept(o, targets, n, made, err)) < 0)
		define(&c, c.xml, &e);
	if (r < 0) {
		for (size_t i = 0; i < nmade; i++)
			unlink(made[i]);
		for (size_t i = 0; given && i < n; i++)
			if (given[i].data)
				restore_owner(given[i].data, given[i].was);
	} else {
		cbt_dom_close(&c);
		r = cbt_dom_open(o, &c, err);
		if (r == 0 && !(*result = report(&c)))
			r = sp_error_set(err, SP_E_NOMEM, "out of memory");
	}
	for (size_t i = 0; i < nmade; i++)
		free(made[i]);
	free(given);
	cbt_dom_close(&c);
	return r;
}

int sp_cbt_disable(const struct sp_cbt_opts *o, json_t **result,
		   struct sp_error *err)
{
	sp_autofree const char **targets = NULL;
	sp_autofree char *xml = NULL;
	sp_autofree char **metas = NULL, **datas = NULL, **owners = NULL;
	struct cbt_dom c;
	struct sp_error ce;
	unsigned dropped = 0;
	size_t n = 0;
	int r;

	r = cbt_dom_open(o, &c, err);
	if (r == 0)
		r = pick(o, &c, adopted, &targets, &n, err);
	if (r == 0 && n == 0)
		r = sp_error_set(err, SP_E_USAGE,
				 "no disk of domain '%s' has its changes "
				 "tracked through a metadata image",
				 c.d->name);
	if (r == 0 &&
	    (!(xml = strdup(c.xml)) || !(metas = calloc(n, sizeof(*metas))) ||
	     !(datas = calloc(n, sizeof(*datas))) ||
	     !(owners = calloc(n, sizeof(*owners)))))
		r = sp_error_set(err, SP_E_NOMEM, "out of memory");
	for (size_t i = 0; r == 0 && i < n; i++) {
		const struct sp_domain_disk *dd =
		    sp_domain_def_disk(c.def, targets[i]);
		char *next = NULL;

		/* Invariant 3. */
		if (dd->cbt_meta && in_use(&c, targets[i], dd->cbt_meta)) {
			r = sp_error_set(err, SP_E_DOMAIN_STATE,
					 "disk '%s' of domain '%s' runs on its "
					 "metadata image now: shut the domain "
					 "off first ('virsh shutdown %s')",
					 targets[i], c.d->name, c.d->name);
			break;
		}
		metas[i] = dd->cbt_meta;
		datas[i] = dd->data_source;
		owners[i] = dd->cbt_owner;
		r = sp_domain_xml_cbt_release(xml, strlen(xml), targets[i],
					      &next, err);
		free(xml);
		xml = next;
	}
	/* The checkpoints hold bitmaps in the images about to go; an
	 * incremental from them would find none.  The next backup reads
	 * every disk in full. */
	if (r == 0 &&
	    sp_libvirt_checkpoints_prune(c.d, NULL, &dropped, &ce) < 0)
		sp_log(SP_LOG_WARNING, "checkpoints not all dropped vm=%s: %s",
		       c.d->name, ce.msg);
	if (r == 0)
		r = define(&c, xml, err);
	for (size_t i = 0; r == 0 && i < n; i++) {
		sp_autofree char *dir = strdup(metas[i]);

		restore_owner(datas[i], owners[i]);
		if (unlink(metas[i]) < 0 && errno != ENOENT)
			sp_log(SP_LOG_WARNING,
			       "cannot remove metadata image path=%s: %s",
			       metas[i], strerror(errno));
		if (dir)
			sp_fsync_path(AT_FDCWD, dirname(dir));
	}
	if (r == 0) {
		json_t *rep;

		cbt_dom_close(&c);
		r = cbt_dom_open(o, &c, err);
		if (r == 0 && (rep = report(&c))) {
			json_object_set_new(rep, "checkpoints_dropped",
					    json_integer(dropped));
			*result = rep;
		} else if (r == 0) {
			r = sp_error_set(err, SP_E_NOMEM, "out of memory");
		}
	}
	cbt_dom_close(&c);
	return r;
}

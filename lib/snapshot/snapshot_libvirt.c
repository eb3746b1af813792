// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libvirt pull-mode backup jobs and checkpoints (snapshot_libvirt.h).
 *
 * Invariants:
 *  1. Only virDomainBackupBegin runs between freeze and thaw: the XML,
 *     the directories and their ownership are ready before (prepare).
 *  2. Every started job is ended (sp_libvirt_backup_end) on every path;
 *     a job left by a killed process is ended by its watchdog.
 *  3. Only checkpoints named SP_CHECKPOINT_PREFIX* are ever deleted.
 */
#include "snapshot/snapshot_libvirt.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <libvirt/libvirt-qemu.h>
#include <libvirt/virterror.h>

#include "util/cleanup.h"
#include "util/fileio.h"
#include "util/log.h"

/* A growing string for the XML documents. */
struct xbuf {
	char *s;
	size_t len, cap;
	bool oom;
};

static void xb_add(struct xbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void xb_add(struct xbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->oom)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->s ? b->s + b->len : NULL,
			      b->s ? b->cap - b->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->oom = true;
			return;
		}
		if (b->s && b->len + (size_t)n < b->cap) {
			b->len += (size_t)n;
			return;
		}
		size_t cap = (b->cap + (size_t)n + 1) * 2;
		char *s = realloc(b->s, cap);
		if (!s) {
			b->oom = true;
			return;
		}
		b->s = s;
		b->cap = cap;
	}
}

/* Names that go into XML attributes: disk targets and our checkpoint
 * names, which libvirt restricts; refuse anything else rather than
 * escape it. */
static bool xml_safe(const char *s)
{
	for (; *s; s++)
		if (*s == '<' || *s == '>' || *s == '&' || *s == '\'' ||
		    *s == '"')
			return false;
	return true;
}

static int make_owned_dir(const char *path, unsigned uid, unsigned gid,
			  struct sp_error *err)
{
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return sp_error_set_errno(err, SP_E_SNAPSHOT_FAILED, errno,
					  "cannot create directory '%s'", path);
	if (chown(path, uid, gid) < 0)
		return sp_error_set_errno(err, SP_E_SNAPSHOT_FAILED, errno,
					  "cannot hand directory '%s' to the "
					  "domain's QEMU user",
					  path);
	return 0;
}

static int build_xml(struct sp_libvirt_backup *b,
		     const struct sp_backup_disk_req *disks, size_t ndisks,
		     struct sp_error *err)
{
	struct xbuf x = {0}, c = {0};

	xb_add(&x, "<domainbackup mode='pull'>\n");
	if (b->base)
		xb_add(&x, "  <incremental>%s</incremental>\n", b->base);
	xb_add(&x,
	       "  <server transport='unix' socket='%s'/>\n"
	       "  <disks>\n",
	       b->socket);
	for (size_t i = 0; i < ndisks; i++) {
		const char *t = disks[i].target;
		bool inc = b->base && disks[i].incremental;

		xb_add(&x,
		       "    <disk name='%s' backup='yes' type='file' "
		       "backupmode='%s'",
		       t, inc ? "incremental" : "full");
		if (inc)
			xb_add(&x, " incremental='%s'", b->base);
		xb_add(&x,
		       ">\n      <scratch file='%s/%s.qcow2'/>\n"
		       "      <driver type='qcow2'/>\n    </disk>\n",
		       b->scratch_dir, t);
	}
	xb_add(&x, "  </disks>\n</domainbackup>\n");
	if (b->checkpoint) {
		xb_add(&c,
		       "<domaincheckpoint>\n  <name>%s</name>\n"
		       "  <description>Stillpoint backup</description>\n"
		       "  <disks>\n",
		       b->checkpoint);
		for (size_t i = 0; i < ndisks; i++)
			xb_add(&c, "    <disk name='%s' checkpoint='%s'/>\n",
			       disks[i].target,
			       disks[i].bitmap ? "bitmap" : "no");
		xb_add(&c, "  </disks>\n</domaincheckpoint>\n");
	}
	if (x.oom || c.oom) {
		free(x.s);
		free(c.s);
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	}
	free(b->backup_xml);
	free(b->checkpoint_xml);
	b->backup_xml = x.s;
	b->checkpoint_xml = c.s;
	return 0;
}

int sp_libvirt_backup_prepare(struct sp_domain *d,
			      const struct sp_backup_disk_req *disks,
			      size_t ndisks, const char *base,
			      const char *new_checkpoint,
			      struct sp_libvirt_backup **ret,
			      struct sp_error *err)
{
	struct sp_libvirt_backup *b = calloc(1, sizeof(*b));
	unsigned uid, gid;
	char path[512];
	int r;

	if (!b)
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	b->d = d;
	for (size_t i = 0; i < ndisks; i++)
		if (!xml_safe(disks[i].target)) {
			r = sp_error_set(err, SP_E_SNAPSHOT_FAILED,
					 "disk target '%s' of '%s' has "
					 "characters Stillpoint refuses",
					 disks[i].target, d->name);
			goto fail;
		}
	if ((base && !(b->base = strdup(base))) ||
	    (new_checkpoint && !(b->checkpoint = strdup(new_checkpoint)))) {
		r = sp_error_set(err, SP_E_NOMEM, "out of memory");
		goto fail;
	}
	r = sp_domain_qemu_owner(d, &uid, &gid, err);
	if (r < 0)
		goto fail;
	/* QEMU creates the socket and the scratch images: both directories
	 * belong to its user, one per job. */
	if (sp_mkdir_at(AT_FDCWD, SP_RUN_DIR, 0711) < 0 ||
	    sp_mkdir_at(AT_FDCWD, SP_SCRATCH_DIR, 0711) < 0) {
		r = sp_error_set_errno(err, SP_E_SNAPSHOT_FAILED, errno,
				       "cannot create '%s' or '%s'", SP_RUN_DIR,
				       SP_SCRATCH_DIR);
		goto fail;
	}
	snprintf(path, sizeof(path), "%s/%s-%ld", SP_RUN_DIR, d->uuid,
		 (long)getpid());
	b->dir = strdup(path);
	snprintf(path, sizeof(path), "%s/%s-%ld/nbd.sock", SP_RUN_DIR, d->uuid,
		 (long)getpid());
	b->socket = strdup(path);
	snprintf(path, sizeof(path), "%s/%s-%ld", SP_SCRATCH_DIR, d->uuid,
		 (long)getpid());
	b->scratch_dir = strdup(path);
	if (!b->dir || !b->socket || !b->scratch_dir) {
		r = sp_error_set(err, SP_E_NOMEM, "out of memory");
		goto fail;
	}
	r = make_owned_dir(b->dir, uid, gid, err);
	if (r == 0)
		r = make_owned_dir(b->scratch_dir, uid, gid, err);
	if (r == 0)
		r = build_xml(b, disks, ndisks, err);
	if (r < 0)
		goto fail;
	*ret = b;
	return 0;
fail:
	sp_libvirt_backup_end(b);
	return r;
}

int sp_libvirt_backup_make_full(struct sp_libvirt_backup *b,
				const struct sp_backup_disk_req *disks,
				size_t ndisks, struct sp_error *err)
{
	free(b->base);
	b->base = NULL;
	return build_xml(b, disks, ndisks, err);
}

/* The word after @key in @msg (a disk target, a format), without quotes,
 * into @out; false when @key is not in @msg. */
static bool word_after(const char *msg, const char *key, char *out, size_t len)
{
	const char *p = strstr(msg, key);
	size_t n = 0;

	if (!p || len == 0)
		return false;
	p += strlen(key);
	if (*p == '\'')
		p++;
	while (p[n] && p[n] != '\'' && p[n] != ' ' && p[n] != ',' &&
	       p[n] != ':' && n + 1 < len)
		n++;
	memcpy(out, p, n);
	out[n] = '\0';
	return n > 0;
}

int sp_libvirt_begin_error(const char *domain, const char *base, int code,
			   const char *msg, struct sp_error *err)
{
	char disk[64], fmt[32];

	if (!msg)
		msg = "";
	if (code == VIR_ERR_NO_DOMAIN_CHECKPOINT)
		return sp_error_set(err, SP_E_CHECKPOINT_MISSING,
				    "checkpoint '%s' of '%s' is gone: %s",
				    base ? base : "?", domain, msg);
	if (base && strstr(msg, "bitmap"))
		return sp_error_set(
		    err, SP_E_CHECKPOINT_INCONSISTENT,
		    "checkpoint '%s' of '%s' cannot be used: %s", base, domain,
		    msg);
	if (strstr(msg, "job") &&
	    (strstr(msg, "already") || strstr(msg, "active") ||
	     strstr(msg, "another")))
		return sp_error_set(err, SP_E_DOMAIN_BUSY,
				    "cannot start a backup of '%s': %s", domain,
				    msg);
	if (word_after(msg, "checkpoint for disk ", disk, sizeof(disk))) {
		/* Bitmaps are asked for qcow2 disks only (domain_xml.h):
		 * libvirt runs this disk otherwise than its definition said
		 * when the job was planned. */
		if (!word_after(msg, "storage type ", fmt, sizeof(fmt)))
			snprintf(fmt, sizeof(fmt), "not qcow2");
		return sp_error_set(
		    err, SP_E_CHECKPOINT_REFUSED,
		    "libvirt refused a checkpoint bitmap for disk '%s' of "
		    "'%s': it runs the disk as %s and only qcow2 keeps one, "
		    "yet the domain's definition said qcow2 when the backup "
		    "was planned (retry: a disk that is not qcow2 is left out "
		    "of the checkpoint and read in full)",
		    disk, domain, fmt);
	}
	if (word_after(msg, "disk ", disk, sizeof(disk)))
		return sp_error_set(err, SP_E_SNAPSHOT_FAILED,
				    "cannot start the backup job of '%s' (disk "
				    "'%s'): %s",
				    domain, disk, msg);
	return sp_error_set(err, SP_E_SNAPSHOT_FAILED,
			    "cannot start the backup job of '%s': %s", domain,
			    msg);
}

int sp_libvirt_backup_start(struct sp_libvirt_backup *b, struct sp_error *err)
{
	virErrorPtr e;

	if (virDomainBackupBegin(b->d->dom, b->backup_xml, b->checkpoint_xml,
				 0) == 0) {
		b->started = true;
		return 0;
	}
	e = virGetLastError();
	sp_log(SP_LOG_INFO, "backup begin refused vm=%s: %s", b->d->name,
	       e && e->message ? e->message : "?");
	return sp_libvirt_begin_error(b->d->name, b->base, e ? e->code : 0,
				      e ? e->message : NULL, err);
}

void sp_libvirt_backup_bitmap(const char *target, char *out, size_t len)
{
	/* libvirt exports the incremental's bitmap as "backup-<target>". */
	snprintf(out, len, "qemu:dirty-bitmap:backup-%s", target);
}

static void remove_dir_files(const char *dir)
{
	if (!dir)
		return;
	sp_remove_tree_at(AT_FDCWD, dir);
}

void sp_libvirt_backup_end(struct sp_libvirt_backup *b)
{
	if (!b)
		return;
	if (b->started && virDomainAbortJob(b->d->dom) < 0)
		sp_log(SP_LOG_WARNING,
		       "backup job end failed vm=%s: %s (run 'virsh "
		       "domjobabort %s')",
		       b->d->name,
		       virGetLastError() ? virGetLastError()->message : "?",
		       b->d->name);
	remove_dir_files(b->dir);
	remove_dir_files(b->scratch_dir);
	free(b->dir);
	free(b->socket);
	free(b->scratch_dir);
	free(b->backup_xml);
	free(b->checkpoint_xml);
	free(b->checkpoint);
	free(b->base);
	free(b);
}

int sp_libvirt_checkpoint_exists(struct sp_domain *d, const char *name,
				 bool *exists, struct sp_error *err)
{
	virDomainCheckpointPtr cp =
	    virDomainCheckpointLookupByName(d->dom, name, 0);

	if (cp) {
		virDomainCheckpointFree(cp);
		*exists = true;
		return 0;
	}
	if (sp_domain_last_error_code() == VIR_ERR_NO_DOMAIN_CHECKPOINT) {
		*exists = false;
		return 0;
	}
	return sp_domain_error(err, SP_E_LIBVIRT,
			       "cannot look up checkpoint '%s' of '%s'", name,
			       d->name);
}

int sp_libvirt_checkpoint_delete(struct sp_domain *d, const char *name,
				 struct sp_error *err)
{
	virDomainCheckpointPtr cp;
	int r = 0;

	if (strncmp(name, SP_CHECKPOINT_PREFIX, strlen(SP_CHECKPOINT_PREFIX)))
		return sp_error_set(err, SP_E_INTERNAL,
				    "refusing to delete checkpoint '%s': not "
				    "Stillpoint's",
				    name);
	cp = virDomainCheckpointLookupByName(d->dom, name, 0);
	if (!cp)
		return sp_domain_last_error_code() ==
			       VIR_ERR_NO_DOMAIN_CHECKPOINT
			   ? 0
			   : sp_domain_error(err, SP_E_LIBVIRT,
					     "cannot look up checkpoint '%s' "
					     "of '%s'",
					     name, d->name);
	if (virDomainCheckpointDelete(cp, 0) < 0) {
		/* A broken bitmap (QEMU crashed) cannot be merged away:
		 * drop the metadata so that the chain can start anew. */
		sp_log(SP_LOG_NOTICE,
		       "checkpoint delete failed, dropping metadata vm=%s "
		       "checkpoint=%s: %s",
		       d->name, name,
		       virGetLastError() ? virGetLastError()->message : "?");
		if (virDomainCheckpointDelete(
			cp, VIR_DOMAIN_CHECKPOINT_DELETE_METADATA_ONLY) < 0)
			r = sp_domain_error(err, SP_E_LIBVIRT,
					    "cannot delete checkpoint '%s' of "
					    "'%s'",
					    name, d->name);
	}
	virDomainCheckpointFree(cp);
	return r;
}

int sp_libvirt_checkpoints_list(struct sp_domain *d, char ***names,
				struct sp_error *err)
{
	virDomainCheckpointPtr *cps = NULL;
	int n = virDomainListAllCheckpoints(d->dom, &cps, 0);
	char **out;
	size_t k = 0;
	bool oom;

	if (n < 0)
		return sp_domain_error(err, SP_E_LIBVIRT,
				       "cannot list checkpoints of '%s'",
				       d->name);
	out = calloc((size_t)n + 1, sizeof(*out));
	oom = !out;
	for (int i = 0; i < n; i++) {
		const char *nm = virDomainCheckpointGetName(cps[i]);
		/* A name lost here would let the bitmap sweep take a live
		 * checkpoint's bitmap: the whole list or an error. */
		if (!oom && nm &&
		    !strncmp(nm, SP_CHECKPOINT_PREFIX,
			     strlen(SP_CHECKPOINT_PREFIX)) &&
		    !(out[k++] = strdup(nm)))
			oom = true;
		virDomainCheckpointFree(cps[i]);
	}
	free(cps);
	if (oom) {
		for (size_t i = 0; out && i < k; i++)
			free(out[i]);
		free(out);
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	}
	*names = out;
	return 0;
}

int sp_libvirt_checkpoints_prune(struct sp_domain *d, const char *keep,
				 unsigned *deleted, struct sp_error *err)
{
	char **names = NULL;
	int r, first = 0;

	*deleted = 0;
	r = sp_libvirt_checkpoints_list(d, &names, err);
	if (r < 0)
		return r;
	for (size_t i = 0; names[i]; i++) {
		if (!keep || strcmp(names[i], keep) != 0) {
			struct sp_error e;
			if (sp_libvirt_checkpoint_delete(d, names[i], &e) < 0) {
				if (!first)
					*err = e;
				first = e.code;
			} else {
				(*deleted)++;
			}
		}
		free(names[i]);
	}
	free(names);
	return first;
}

static bool owned(char **names, const char *bitmap)
{
	for (size_t i = 0; names[i]; i++)
		if (!strcmp(names[i], bitmap))
			return true;
	return false;
}

int sp_libvirt_bitmaps_sweep(struct sp_domain *d, unsigned *removed,
			     struct sp_error *err)
{
	static const char query[] = "{\"execute\":\"query-named-block-nodes\","
				    "\"arguments\":{\"flat\":true}}";
	char **names = NULL, *answer = NULL;
	json_t *reply = NULL, *node, *bm;
	size_t i, k;
	int r;

	*removed = 0;
	r = sp_libvirt_checkpoints_list(d, &names, err);
	if (r < 0)
		return r;
	if (virDomainQemuMonitorCommand(d->dom, query, &answer, 0) < 0) {
		r = sp_domain_error(err, SP_E_LIBVIRT,
				    "cannot list the dirty bitmaps of '%s'",
				    d->name);
		goto out;
	}
	reply = json_loads(answer, 0, NULL);
	if (!reply) {
		r = sp_error_set(err, SP_E_LIBVIRT,
				 "the dirty bitmaps of '%s' came back as "
				 "unreadable JSON",
				 d->name);
		goto out;
	}
	json_array_foreach(json_object_get(reply, "return"), i, node)
	{
		const char *nn =
		    json_string_value(json_object_get(node, "node-name"));
		json_array_foreach(json_object_get(node, "dirty-bitmaps"), k,
				   bm)
		{
			const char *name =
			    json_string_value(json_object_get(bm, "name"));
			char cmd[512], *out = NULL;
			if (!nn || !name ||
			    strncmp(name, SP_CHECKPOINT_PREFIX,
				    strlen(SP_CHECKPOINT_PREFIX)) ||
			    owned(names, name) || !xml_safe(name) ||
			    !xml_safe(nn))
				continue;
			snprintf(cmd, sizeof(cmd),
				 "{\"execute\":\"block-dirty-bitmap-remove\","
				 "\"arguments\":{\"node\":\"%s\","
				 "\"name\":\"%s\"}}",
				 nn, name);
			if (virDomainQemuMonitorCommand(d->dom, cmd, &out, 0) <
			    0) {
				sp_log(
				    SP_LOG_WARNING,
				    "cannot remove stale bitmap vm=%s node=%s "
				    "bitmap=%s",
				    d->name, nn, name);
			} else {
				sp_log(SP_LOG_INFO,
				       "stale bitmap removed vm=%s node=%s "
				       "bitmap=%s",
				       d->name, nn, name);
				(*removed)++;
			}
			free(out);
		}
	}
out:
	json_decref(reply);
	free(answer);
	for (i = 0; names && names[i]; i++)
		free(names[i]);
	free(names);
	return r;
}

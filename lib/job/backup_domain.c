// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The backup job of a libvirt domain: the still point, then the transfer.
 *
 * Take Snapshot (running domain):
 *   S1 open      connect, look up, read the definition, plan the disks
 *                (excluded ones named), find the incremental base
 *   S2 prepare   writers' pre steps (guest through guest-exec, host by
 *                exec); backup job XML and directories; watchdog started
 *   S3 freeze    watchdog armed, guest file systems frozen (qemu-ga;
 *                VSS on Windows) — or, without an agent and with
 *                pause_fallback, the domain suspended
 *   S4 snapshot  one virDomainBackupBegin for all disks, with the new
 *                checkpoint (falls back to full when the base is unusable)
 *   S5 thaw      at once, then watchdog disarmed; writers' post steps
 *   S6 judge     consistency from what succeeded; a required level not
 *                reached fails the job here
 * Transfer data to vault:
 *   T1 read the NBD exports (dirty blocks only when incremental) into a
 *      draft; T2 publish; T3 end the backup job, delete checkpoints no
 *      longer needed (or the new one, on failure); record the job's state.
 * A domain that is shut off skips S2-S5: its image files are read as they
 * are (crash-consistent), with no checkpoint.
 * T0 (between S5 and the post steps, or at once for a domain that is off):
 * the UEFI NVRAM and the swtpm state files are read whole (vm_state.h:
 * one version of each file, never a torn one), to be stored beside the
 * disks; the guest is not held for it (invariant 2).
 *
 * Invariants:
 *  1. No path leaves the guest frozen: every path from S3 goes through S5,
 *     and the watchdog thaws by the deadline even if this process dies.
 *  2. The freeze window holds only virDomainBackupBegin (and its fallback
 *     retry): everything slow is prepared in S2.
 *  3. A started backup job is ended on every path; a checkpoint created by
 *     a job that publishes no point is deleted, so the next incremental
 *     uses the last published point's checkpoint.
 *  4. A point claims a consistency level only when every step it depends
 *     on succeeded; otherwise the reason (step, writer, code, message) is
 *     in the manifest.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "disk/disk.h"
#include "domain/domain.h"
#include "domain/domain_xml.h"
#include "domain/guest_agent.h"
#include "domain/guest_mounts.h"
#include "job/job.h"
#include "job/transfer.h"
#include "job/vm_state.h"
#include "job/watchdog.h"
#include "snapshot/cbt.h"
#include "snapshot/snapshot_libvirt.h"
#include "util/cleanup.h"
#include "util/fault.h"
#include "util/fileio.h"
#include "util/log.h"
#include "util/text.h"
#include "vault/disk_index.h"
#include "vault/vault.h"
#include "writer/writer_config.h"
#include "writer/writer_guest.h"
#include "writer/writer_host.h"

#define AGENT_PING_TIMEOUT_S 2

struct plan_disk {
	const struct sp_domain_disk *dd;
	uint64_t size;	  /* capacity now */
	bool bitmap;	  /* in the new checkpoint (qcow2 only) */
	bool raw_store;	  /* a metadata image over a raw data store (cbt.h):
			     the point holds the raw disk, read as raw */
	bool incremental; /* base usable for this disk */
	int prev_slot;	  /* index of the disk in the base point */
	struct sp_disk_index *prev; /* base index, when incremental */
	struct sp_disk_source *src;
	char read_reason[200]; /* why it is read in full; first cause wins */
	json_t *shared;	       /* a shareable disk: plan_shared_disk() */
};

struct domain_job {
	struct sp_vault *v;
	const struct sp_domain_backup_opts *o;
	struct sp_domain *d;
	struct sp_domain_def *def;
	char *inactive_xml;
	enum sp_domain_state state;
	struct sp_writer_config *cfg;
	char *os_id;
	bool agent_ok;
	bool persistent; /* defined, not only created (virsh create) */

	struct plan_disk *disks;
	size_t ndisks;
	json_t *excluded, *warnings, *writers, *prev;
	json_t *mounts;	  /* the guest's mount map, when its agent told it */
	const char *base; /* borrowed from prev */
	char new_cp[64];
	struct sp_libvirt_backup *bk;
	struct sp_watchdog *wd;
	struct sp_vmstate *vmstate; /* NVRAM and TPM state, read at T0 */
	json_t *state_entry, *firmware_entry; /* stored: manifest entries */

	/* judging (invariant 4) */
	bool chain_broken;  /* a checkpoint vanished: bitmaps may be stale */
	bool crash;	    /* a crash-level cause was recorded */
	bool writer_failed; /* a writer's pre step failed */
	json_t *reason;	    /* the first cause below application */
	bool frozen;	    /* the snapshot was taken frozen */
	uint64_t freeze_ms, begin_ms, thaw_ms, window_ms, stun_ms;
	int nfs;
};

static void warn(struct domain_job *j, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void warn(struct domain_job *j, const char *code, const char *fmt, ...)
{
	char msg[400], line[460];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(line, sizeof(line), "%s: %s", code, msg);
	sp_log(SP_LOG_INFO, "backup warning vm=%s %s", j->d->name, line);
	json_array_append_new(j->warnings, json_string(line));
}

/* Record why the point is below application (the first cause wins, a
 * crash-level cause replaces a file-system one). */
static void lower(struct domain_job *j, bool crash, const char *step,
		  const char *writer, int code, const char *message)
{
	if (j->reason && (!crash || j->crash))
		goto out;
	json_decref(j->reason);
	j->reason = json_pack(
	    "{s:s, s:s?, s:s?, s:s}", "step", step, "writer", writer, "code",
	    code ? sp_errcode_name(code) : NULL, "message", message);
out:
	if (crash)
		j->crash = true;
}

static json_t *step_json(const struct sp_writer_step_result *r, int code,
			 const char *msg)
{
	return json_pack(
	    "{s:i, s:b, s:b, s:i, s:I, s:s, s:s?, s:s?}", "exit_status",
	    r->exit_status, "timed_out", r->timed_out, "left_running",
	    r->left_running, "attempts", (int)r->attempts, "duration_ms",
	    (json_int_t)r->duration_ms, "output", r->output, "code",
	    code ? sp_errcode_name(code) : NULL, "error", code ? msg : NULL);
}

/* ---- S1: open and plan --------------------------------------------------- */

static void reason(struct plan_disk *pd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Why @pd is read in full, unless a cause is known already. */
static void reason(struct plan_disk *pd, const char *fmt, ...)
{
	va_list ap;

	if (pd->read_reason[0])
		return;
	va_start(ap, fmt);
	vsnprintf(pd->read_reason, sizeof(pd->read_reason), fmt, ap);
	va_end(ap);
}

/* The same cause for every disk (the base as a whole is unusable). */
static void reason_all(struct domain_job *j, const char *why)
{
	for (size_t i = 0; i < j->ndisks; i++)
		reason(&j->disks[i], "%s", why);
}

static int load_settings(struct domain_job *j, struct sp_error *err)
{
	const struct sp_domain_backup_opts *o = j->o;
	int r;

	r = sp_writer_config_for_vm(j->d->name, o->writers_path, &j->cfg, err);
	if (r < 0)
		return r;
	if (o->require) {
		int lvl = sp_consistency_parse(o->require);
		if (lvl < 0)
			return sp_error_set(err, SP_E_USAGE,
					    "unknown consistency '%s' (use "
					    "application, file-system or "
					    "crash)",
					    o->require);
		j->cfg->require = (enum sp_consistency)lvl;
	}
	if (o->pause_fallback >= 0)
		j->cfg->pause_fallback = o->pause_fallback > 0;
	return 0;
}

/* Record disk @dd as left out of the point, for @why. */
static void exclude(struct domain_job *j, const struct sp_domain_disk *dd,
		    const char *why)
{
	json_array_append_new(
	    j->excluded, json_pack("{s:s, s:s?, s:s}", "target", dd->target,
				   "source", dd->source, "reason", why));
}

/* @v joined by ", " into @buf ("none" when empty). */
static const char *names_join(char **v, char *buf, size_t size)
{
	size_t len = 0;

	buf[0] = '\0';
	for (size_t i = 0; v && v[i] && len < size; i++)
		len += (size_t)snprintf(buf + len, size - len, "%s%s",
					i ? ", " : "", v[i]);
	return buf[0] ? buf : "none";
}

static json_t *names_json(char **v)
{
	json_t *a = json_array();

	for (size_t i = 0; a && v && v[i]; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

/*
 * A shareable disk, and what became of it, in *@shared for the manifest
 * ("decision" and the other domains that have it in their definition,
 * running or not):
 *   "skipped"  the VM's settings say "shared_disks": "skip";
 *   "left-out" another running domain has it open: QEMU cannot start a
 *              backup job on an image another QEMU holds open for
 *              writing, and libvirt 9.0 was seen to crash on that
 *              failure; with this domain shut off, its file would be read
 *              while another VM writes it;
 *   "captured" read crash-consistent, with a warning naming the other
 *              domains that can write it (none of them frozen with this
 *              one).
 * *@out says whether the disk is left out of the point.
 */
static int plan_shared_disk(struct domain_job *j,
			    const struct sp_domain_disk *dd, bool *out,
			    json_t **shared, struct sp_error *err)
{
	char **run = NULL, **stop = NULL;
	char why[512], rnames[256], snames[256];
	const char *decision;
	int r;

	*out = true;
	r = sp_domain_others_using(j->d, dd->source, &run, &stop, err);
	if (r < 0)
		return r;
	names_join(run, rnames, sizeof(rnames));
	names_join(stop, snames, sizeof(snames));
	if (j->cfg->skip_shared_disks) {
		decision = "skipped";
		exclude(j, dd,
			"shareable: the VM's settings say \"shared_disks\": "
			"\"skip\"");
	} else if (run) {
		decision = "left-out";
		snprintf(why, sizeof(why),
			 "shared with running domain(s) %s: no still point "
			 "can hold a disk other VMs write; back it up from one "
			 "of them, or with them shut off",
			 rnames);
		exclude(j, dd, why);
		warn(j, "SharedDisk",
		     "disk '%s' (%s) is left out of this point: %s", dd->target,
		     dd->source, why);
	} else {
		decision = "captured";
		*out = false;
		warn(
		    j, "SharedDisk",
		    "disk '%s' (%s) is shareable and captured "
		    "crash-consistent: "
		    "other VMs writing to it are not frozen with '%s' (defined "
		    "with it, not running now: %s)",
		    dd->target, dd->source, j->d->name, snames);
	}
	*shared = json_pack("{s:s, s:o, s:o}", "decision", decision, "running",
			    names_json(run), "not_running", names_json(stop));
	if (*out && *shared)
		json_object_set(
		    json_array_get(j->excluded,
				   json_array_size(j->excluded) - 1),
		    "shared", *shared);
	sp_domain_names_free(run);
	sp_domain_names_free(stop);
	return *shared ? 0 : sp_error_set(err, SP_E_NOMEM, "out of memory");
}

/* A qcow2 image whose data lives in a data store: when the image keeps
 * its data raw (as 'stillpoint cbt enable' makes it), the data store is
 * the disk, and the point holds it as a raw disk; read while the domain
 * is off, straight from the store.  Any other such image can only be read
 * through QEMU, while the domain runs. */
static int plan_data_store(struct domain_job *j, struct plan_disk *pd,
			   bool running, struct sp_error *err)
{
	const struct sp_domain_disk *dd = pd->dd;
	struct sp_error me;

	if (sp_cbt_meta_check(dd->source, dd->data_source, 0, &me) == 0) {
		pd->raw_store = true;
		return 0;
	}
	if (running)
		return 0;
	return sp_error_set(err, me.code,
			    "disk '%s' of '%s' cannot be read while the "
			    "domain is off (back it up while it runs): %s",
			    dd->target, j->d->name, me.msg);
}

/*
 * Choose the disks, their sizes, which keep a bitmap in the new checkpoint
 * (qcow2 ones: domain_xml.h) and the incremental base.  A disk that cannot
 * keep a bitmap, or has none usable in the base, is read in full in the
 * same backup job and compared by chunk hash; its read_reason says why.
 */
static int plan(struct domain_job *j, struct sp_error *err)
{
	struct sp_error e;
	json_t *src;
	bool running = j->state != SP_DOMAIN_SHUTOFF, any_bitmap = false;
	char why[200];
	size_t n = 0;

	j->disks =
	    calloc(j->def->ndisks ? j->def->ndisks : 1, sizeof(*j->disks));
	if (!j->disks)
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	for (size_t i = 0; i < j->def->ndisks; i++) {
		const struct sp_domain_disk *dd = &j->def->disks[i];
		virDomainBlockInfo info;

		if (dd->backup_no) {
			exclude(j, dd,
				dd->why_excluded ? dd->why_excluded
						 : "excluded");
			continue;
		}
		if (!sp_name_is_valid(dd->target))
			return sp_error_set(err, SP_E_NAME_INVALID,
					    "disk target '%s' of '%s' cannot "
					    "name a disk in a point",
					    dd->target, j->d->name);
		if (dd->shareable) {
			bool out = false;
			json_t *shared = NULL;
			int r = plan_shared_disk(j, dd, &out, &shared, err);
			if (r < 0)
				return r;
			if (out) {
				json_decref(shared);
				continue;
			}
			j->disks[n].shared = shared;
		}
		if (!strcmp(dd->type, "network") && !running) {
			/* Reached only through QEMU's block layer. */
			exclude(j, dd,
				dd->protocol && !strcmp(dd->protocol, "nbd")
				    ? "network disk (protocol nbd): read only "
				      "while the domain runs (through its "
				      "backup job)"
				    : "network disk: read only while the "
				      "domain runs");
			json_decref(j->disks[n].shared);
			j->disks[n].shared = NULL;
			continue;
		}
		if (dd->media) {
			const char *media_why = NULL;
			sp_domain_disk_keeps_bitmap(dd, &media_why);
			reason(&j->disks[n], "%s", media_why);
		}
		if (running) {
			if (virDomainGetBlockInfo(j->d->dom, dd->target, &info,
						  0) < 0)
				return sp_domain_error(
				    err, SP_E_LIBVIRT,
				    "cannot get the size of disk '%s' of '%s'",
				    dd->target, j->d->name);
			j->disks[n].size = info.capacity;
			const char *no_bitmap = NULL;
			j->disks[n].bitmap =
			    sp_domain_disk_keeps_bitmap(dd, &no_bitmap);
			if (j->disks[n].bitmap)
				any_bitmap = true;
			else
				reason(&j->disks[n], "%s", no_bitmap);
		} else {
			reason(&j->disks[n], "the domain was shut off: its "
					     "image was read as it is");
		}
		j->disks[n].dd = dd;
		j->disks[n].prev_slot = -1;
		if (dd->data_source) {
			int r = plan_data_store(j, &j->disks[n], running, err);
			if (r < 0)
				return r;
		}
		n++;
	}
	j->ndisks = n;
	if (n == 0)
		return sp_error_set(err, SP_E_DISK_NOT_SUPPORTED,
				    "domain '%s' has no disk a backup can read "
				    "(excluded: see 'virsh domblklist %s')",
				    j->d->name, j->d->name);
	if (sp_vault_find_point(j->v, j->d->name, &j->prev, &e) < 0)
		j->prev = NULL;
	if (!j->prev)
		reason_all(j, "no earlier point of this domain");
	else if (j->o->full)
		reason_all(j, "--full was asked");
	if (!running || !j->prev || j->o->full || !any_bitmap)
		return 0;

	/* The base: the newest point's checkpoint, if it is this domain's
	 * and libvirt still has it (invariant 3). */
	src = json_object_get(j->prev, "source");
	j->base = json_string_value(json_object_get(j->prev, "checkpoint"));
	snprintf(why, sizeof(why), "point %s has no usable checkpoint",
		 json_string_value(json_object_get(j->prev, "id")));
	if (!j->base) {
		reason_all(j, why);
		warn(j, "CheckpointMissing",
		     "point %s has no checkpoint (taken while the domain was "
		     "off or by an older tool): reading all data",
		     json_string_value(json_object_get(j->prev, "id")));
		return 0;
	}
	const char *uuid = json_string_value(json_object_get(src, "uuid"));
	if (!uuid || strcmp(uuid, j->d->uuid) != 0) {
		warn(j, "CheckpointMissing",
		     "point %s was taken of another domain named '%s' "
		     "(UUID changed: redefined?): reading all data",
		     json_string_value(json_object_get(j->prev, "id")),
		     j->d->name);
		reason_all(j, why);
		j->base = NULL;
		j->chain_broken = true;
		return 0;
	}
	bool exists = false;
	if (sp_libvirt_checkpoint_exists(j->d, j->base, &exists, err) < 0)
		return err->code;
	if (!exists) {
		warn(j, "CheckpointMissing",
		     "checkpoint '%s' of point %s is gone (domain redefined or "
		     "checkpoint deleted): reading all data",
		     j->base,
		     json_string_value(json_object_get(j->prev, "id")));
		reason_all(j, why);
		j->base = NULL;
		j->chain_broken = true;
		return 0;
	}
	if ((uint32_t)json_integer_value(
		json_object_get(j->prev, "chunk_size")) != j->v->chunk_size) {
		reason_all(j, "the vault's chunk size differs from the base "
			      "point's");
		j->base = NULL;
		return 0;
	}
	bool any = false;
	for (size_t i = 0; i < j->ndisks; i++) {
		struct plan_disk *pd = &j->disks[i];
		size_t slot = 0;
		json_t *p =
		    sp_json_named(j->prev, "disks", pd->dd->target, &slot);
		const char *pid =
		    json_string_value(json_object_get(j->prev, "id"));

		if (!pd->bitmap)
			continue;
		if (!p) {
			reason(pd, "disk is new since point %s", pid);
			warn(j, "CheckpointMissing",
			     "disk '%s' is new since point %s: reading all its "
			     "data",
			     pd->dd->target,
			     json_string_value(json_object_get(j->prev, "id")));
			continue;
		}
		if (json_is_false(json_object_get(p, "checkpoint_bitmap"))) {
			/* Points before per-disk bitmaps had one on every
			 * disk: only an explicit false says none. */
			reason(pd,
			       "point %s's checkpoint holds no bitmap of "
			       "this disk",
			       pid);
			continue;
		}
		if ((uint64_t)json_integer_value(json_object_get(p, "size")) !=
		    pd->size) {
			reason(pd, "disk was resized since point %s", pid);
			warn(j, "CheckpointMissing",
			     "disk '%s' was resized since point %s: reading "
			     "all its data",
			     pd->dd->target,
			     json_string_value(json_object_get(j->prev, "id")));
			continue;
		}
		pd->prev_slot = (int)slot;
		pd->incremental = true;
		any = true;
	}
	if (!any)
		j->base = NULL;
	return 0;
}

static bool any_bitmap(const struct domain_job *j)
{
	for (size_t i = 0; i < j->ndisks; i++)
		if (j->disks[i].bitmap)
			return true;
	return false;
}

/* Open the base point's indexes of the incremental disks. */
static int open_base_indexes(struct domain_job *j, struct sp_error *err)
{
	const char *id = json_string_value(json_object_get(j->prev, "id"));
	int r;

	if (!j->base)
		return 0;
	for (size_t i = 0; i < j->ndisks; i++) {
		struct plan_disk *pd = &j->disks[i];
		json_t *p;
		uint8_t sha[32];

		if (!pd->incremental)
			continue;
		p = json_array_get(json_object_get(j->prev, "disks"),
				   (size_t)pd->prev_slot);
		sp_hex_decode(
		    json_string_value(json_object_get(p, "index_sha256")), sha,
		    32);
		r = sp_vault_point_index_open(
		    j->v, j->d->name, id,
		    json_string_value(json_object_get(p, "index")), sha,
		    &pd->prev, err);
		if (r < 0)
			return r;
	}
	return 0;
}

/* ---- S2 and S5: writers ---------------------------------------------------
 */

static void run_writers(struct domain_job *j, bool pre, bool *fatal,
			struct sp_error *err)
{
	struct sp_writer_env env = {.vm = j->d->name,
				    .backup_type = j->cfg->backup_type};

	for (size_t i = 0; i < j->cfg->nwriters; i++) {
		const struct sp_writer_def *w = &j->cfg->writers[i];
		json_t *wj = json_array_get(j->writers, i);
		struct sp_writer_step_result res;
		struct sp_error e;
		int r;

		sp_error_clear(&e);
		memset(&res, 0, sizeof(res));
		if (!pre && json_is_true(json_object_get(wj, "skip_post")))
			continue;
		if (w->where == SP_WRITER_GUEST && !j->agent_ok) {
			r = sp_error_set(&e, SP_E_GUEST_AGENT_UNAVAILABLE,
					 "guest writer '%s' cannot run: the "
					 "guest agent of '%s' does not answer",
					 w->name, j->d->name);
		} else if (w->where == SP_WRITER_GUEST) {
			r = sp_writer_guest_run(j->d, j->os_id, w, pre, &env,
						&res, &e);
		} else {
			r = sp_writer_host_run(w, pre, &env, &res, &e);
		}
		json_object_set_new(wj, pre ? "pre" : "post",
				    step_json(&res, r < 0 ? e.code : 0, e.msg));
		if (r == 0) {
			if (!pre)
				json_object_set_new(wj, "state",
						    json_string("stable"));
			continue;
		}
		sp_log(SP_LOG_WARNING,
		       "writer failed vm=%s writer=%s step=%s: %s", j->d->name,
		       w->name, pre ? "pre" : "post", e.msg);
		json_object_set_new(
		    wj, "state",
		    json_string(r == SP_E_WRITER_PRE_TIMEOUT ||
					r == SP_E_WRITER_POST_TIMEOUT
				    ? "timed out"
				: pre ? "failed at prepare"
				      : "failed at thaw"));
		json_object_set_new(wj, "last_error", json_string(e.msg));
		json_object_set_new(wj, "code",
				    json_string(sp_errcode_name(e.code)));
		if (pre) {
			/* Its post step would undo a prepare that did not
			 * happen. */
			json_object_set_new(wj, "skip_post", json_true());
			j->writer_failed = true;
			lower(j, false, "writer-pre", w->name, e.code, e.msg);
			if (!w->continue_on_failure && !*fatal) {
				*fatal = true;
				*err = e;
			}
		} else {
			/* The data was captured already: the level stands,
			 * the failure is reported. */
			warn(j, sp_errcode_name(e.code), "%s", e.msg);
		}
	}
}

static int writers_init(struct domain_job *j, struct sp_error *err)
{
	for (size_t i = 0; i < j->cfg->nwriters; i++) {
		const struct sp_writer_def *w = &j->cfg->writers[i];
		json_t *wj =
		    json_pack("{s:s, s:s, s:s, s:n}", "name", w->name, "where",
			      w->where == SP_WRITER_GUEST ? "guest" : "host",
			      "state", "stable", "last_error");
		if (!wj || json_array_append_new(j->writers, wj) < 0)
			return sp_error_set(err, SP_E_NOMEM, "out of memory");
	}
	return 0;
}

/* ---- S3..S5: the still point ------------------------------------------- */

/* What releases the guest once the still point is fixed: thaw, resume,
 * or nothing. */
struct release {
	struct domain_job *j;
	enum { RELEASE_NONE, RELEASE_THAW, RELEASE_RESUME } what;
	uint64_t t0; /* freeze or pause sent */
	bool done, ok;
	struct sp_error err;
};

static void release_guest(void *arg)
{
	struct release *rl = arg;
	struct domain_job *j = rl->j;
	uint64_t t1 = sp_now_mono_ms();

	if (rl->done)
		return;
	rl->done = true;
	rl->ok = true;
	if (rl->what == RELEASE_THAW) {
		rl->ok = sp_guest_fsthaw(j->d, &rl->err) == 0;
		j->thaw_ms = sp_now_mono_ms() - t1;
		j->window_ms = sp_now_mono_ms() - rl->t0;
	} else if (rl->what == RELEASE_RESUME) {
		if (virDomainResume(j->d->dom) < 0) {
			rl->ok = false;
			sp_domain_error(&rl->err, SP_E_LIBVIRT,
					"cannot resume '%s' (run 'virsh resume "
					"%s')",
					j->d->name, j->d->name);
		}
		j->stun_ms = sp_now_mono_ms() - rl->t0;
	}
}

/* S4: one backup job for all disks. */
static int start_backup_job(struct domain_job *j,
			    const struct sp_backup_disk_req *reqs,
			    struct sp_error *err)
{
	uint64_t t0 = sp_now_mono_ms();
	int r = sp_libvirt_backup_start(j->bk, err);

	if ((r == SP_E_CHECKPOINT_INCONSISTENT ||
	     r == SP_E_CHECKPOINT_MISSING) &&
	    j->base) {
		/* Still frozen: retry at once as a full backup (invariant 2:
		 * the XML swap is in memory). */
		warn(j, sp_errcode_name(r), "%s: reading all data", err->msg);
		j->base = NULL;
		j->chain_broken = true;
		for (size_t i = 0; i < j->ndisks; i++)
			j->disks[i].incremental = false;
		r = sp_libvirt_backup_make_full(j->bk, reqs, j->ndisks, err);
		if (r == 0)
			r = sp_libvirt_backup_start(j->bk, err);
	}
	j->begin_ms = sp_now_mono_ms() - t0;
	return r;
}

static int still_point(struct domain_job *j,
		       const struct sp_backup_disk_req *reqs,
		       struct sp_error *err)
{
	bool want_freeze =
	    j->agent_ok && j->cfg->fsfreeze && j->state == SP_DOMAIN_RUNNING;
	bool want_pause = !j->agent_ok && j->cfg->pause_fallback &&
			  j->state == SP_DOMAIN_RUNNING;
	struct release rl = {.j = j, .what = RELEASE_NONE};
	struct sp_error fe;
	int r;

	if (want_pause) {
		rl.t0 = sp_now_mono_ms();
		if (virDomainSuspend(j->d->dom) < 0) {
			sp_domain_error(&fe, SP_E_SNAPSHOT_FAILED,
					"cannot pause '%s'", j->d->name);
			lower(j, true, "pause", NULL, fe.code, fe.msg);
		} else {
			rl.what = RELEASE_RESUME;
		}
	} else if (want_freeze) {
		/* S3: the watchdog is armed before the freeze is sent. */
		sp_watchdog_arm(j->wd);
		rl.t0 = sp_now_mono_ms();
		rl.what = RELEASE_THAW;
		r = sp_guest_fsfreeze(j->d, &j->nfs, &fe);
		j->freeze_ms = sp_now_mono_ms() - rl.t0;
		if (r < 0) {
			/* Thawed all the same below: it may have frozen some
			 * file systems. */
			lower(j, true, "freeze", NULL, r, fe.msg);
			sp_log(SP_LOG_WARNING, "freeze failed vm=%s: %s",
			       j->d->name, fe.msg);
		} else {
			j->frozen = true;
			sp_test_hold("frozen");
		}
	}
	/* S4, then S5 at once.  (Thawing from a second thread as soon as
	 * libvirt has fixed the point, while it still sets up the exports,
	 * was measured: no shorter window, the thaw competes with the
	 * exports for QEMU's main loop.) */
	sp_watchdog_job_starting(j->wd, j->new_cp);
	r = start_backup_job(j, reqs, err);
	sp_test_hold("begun");
	if (r == 0)
		sp_watchdog_job_started(j->wd, j->new_cp);
	else
		sp_watchdog_job_ended(j->wd);
	release_guest(&rl);
	if (!rl.ok) {
		/* A failed thaw: the watchdog stays armed and keeps trying. */
		sp_log(SP_LOG_ERR, "releasing the guest failed vm=%s: %s",
		       j->d->name, rl.err.msg);
		warn(j, sp_errcode_name(rl.err.code), "%s", rl.err.msg);
		if (rl.what == RELEASE_THAW)
			j->frozen = false;
		return r;
	}
	if (rl.what != RELEASE_THAW)
		return r;
	if (sp_watchdog_disarm(j->wd) ||
	    j->window_ms > j->cfg->freeze_deadline_ms) {
		char msg[200];
		snprintf(msg, sizeof(msg),
			 "'%s' stayed frozen %llu ms, past its %u ms deadline: "
			 "the watchdog thawed it before the snapshot",
			 j->d->name, (unsigned long long)j->window_ms,
			 j->cfg->freeze_deadline_ms);
		j->frozen = false;
		lower(j, true, "freeze", NULL, SP_E_FREEZE_TIMEOUT, msg);
	}
	return r;
}

/* Was disk @target left out of the point by plan() (j->excluded)? */
static bool left_out(const struct domain_job *j, const char *target)
{
	json_t *x;
	size_t i;

	json_array_foreach(j->excluded, i, x)
	{
		const char *t = json_string_value(json_object_get(x, "target"));
		if (t && !strcmp(t, target))
			return true;
	}
	return false;
}

/*
 * A disk hot-plugged or unplugged while the snapshot was being taken makes
 * the point's disk set wrong: the job fails rather than publish a VM with
 * a disk missing (or a disk it no longer has).  Disks plan() left out
 * stay out.
 */

static int check_disks_unchanged(struct domain_job *j, struct sp_error *err)
{
	sp_autofree char *xml = NULL;
	struct sp_domain_def *now = NULL;
	size_t n = 0;
	int r;

	r = sp_domain_get_xml(j->d, false, &xml, err);
	if (r == 0)
		r = sp_domain_def_parse(xml, strlen(xml), &now, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < now->ndisks; i++) {
		bool planned = false;
		if (now->disks[i].backup_no ||
		    left_out(j, now->disks[i].target))
			continue;
		n++;
		for (size_t k = 0; k < j->ndisks; k++)
			if (!strcmp(j->disks[k].dd->target,
				    now->disks[i].target))
				planned = true;
		if (!planned) {
			r = sp_error_set(
			    err, SP_E_DISKS_CHANGED,
			    "disk '%s' was added to '%s' while its "
			    "snapshot was taken (retry the backup)",
			    now->disks[i].target, j->d->name);
			break;
		}
	}
	if (r == 0 && n != j->ndisks)
		r = sp_error_set(err, SP_E_DISKS_CHANGED,
				 "a disk was removed from '%s' while its "
				 "snapshot was taken (retry the backup)",
				 j->d->name);
	sp_domain_def_free(now);
	return r;
}

/* ---- the manifest ------------------------------------------------------- */

static const char *judge(struct domain_job *j, enum sp_consistency *lvl)
{
	if (j->state == SP_DOMAIN_SHUTOFF || j->crash ||
	    (!j->frozen && j->cfg->fsfreeze)) {
		if (!j->reason)
			lower(j, true, "freeze", NULL, 0,
			      "the guest's file systems were not frozen");
		*lvl = SP_CONSISTENCY_CRASH;
	} else if (!j->cfg->fsfreeze) {
		/* No freeze by choice: the writers alone decide. */
		if (j->writer_failed || j->cfg->nwriters == 0) {
			if (!j->reason)
				lower(j, true, "freeze", NULL, 0,
				      "fsfreeze is off and no writer "
				      "quiesced the guest");
			*lvl = SP_CONSISTENCY_CRASH;
		} else {
			*lvl = SP_CONSISTENCY_APPLICATION;
		}
	} else if (j->writer_failed || j->cfg->nwriters == 0) {
		if (!j->reason)
			lower(j, false, "writers", NULL, 0,
			      "no writers are configured for this VM");
		*lvl = SP_CONSISTENCY_FILE_SYSTEM;
	} else {
		*lvl = SP_CONSISTENCY_APPLICATION;
	}
	return sp_consistency_name(*lvl);
}

/* T0: the NVRAM and TPM state, as close to the still point as the guest
 * can run on (see the header). */
static int capture_state(struct domain_job *j, struct sp_error *err)
{
	uint64_t t0 = sp_now_mono_ms();
	int r = sp_vmstate_capture(j->def, j->d->uri, j->d->uuid, j->warnings,
				   &j->vmstate, err);

	if (r == 0)
		sp_log(SP_LOG_INFO, "state read vm=%s ms=%llu", j->d->name,
		       (unsigned long long)(sp_now_mono_ms() - t0));
	return r;
}

static int store_xml(struct domain_job *j, struct sp_point_draft *draft,
		     json_t **entry, struct sp_error *err)
{
	size_t len = strlen(j->inactive_xml);
	char file[128], src[512], hex[65];
	uint8_t sha[32];
	int r;

	r = sp_point_draft_put(draft, "config", j->inactive_xml, len, err);
	if (r < 0)
		return r;
	sp_sha256(j->inactive_xml, len, sha);
	sp_hex_encode(sha, 32, hex);
	snprintf(file, sizeof(file), "%s.xml", j->d->name);
	snprintf(src, sizeof(src), "libvirt %s domain %s", j->d->uri,
		 j->d->name);
	*entry = json_pack("{s:s, s:s, s:I, s:s}", "file", file, "source", src,
			   "size", (json_int_t)len, "sha256", hex);
	return *entry ? 0 : sp_error_set(err, SP_E_NOMEM, "out of memory");
}

/* ---- T1..T3: transfer --------------------------------------------------- */

static int open_sources(struct domain_job *j, struct sp_error *err)
{
	char bitmap[128];
	int r;

	for (size_t i = 0; i < j->ndisks; i++) {
		struct plan_disk *pd = &j->disks[i];
		const char *t = pd->dd->target;

		if (!j->bk) {
			/* The domain's definition declares the format;
			 * without <driver type>, libvirt runs it raw. */
			int fmt = pd->raw_store ? SP_DISK_FORMAT_RAW
				  : pd->dd->format
				      ? sp_disk_format_parse(pd->dd->format)
				      : SP_DISK_FORMAT_RAW;
			if (fmt != SP_DISK_FORMAT_RAW &&
			    fmt != SP_DISK_FORMAT_QCOW2)
				return sp_error_set(
				    err, SP_E_DISK_FORMAT,
				    "disk '%s' of domain '%s' is in format "
				    "'%s', which cannot be read while the "
				    "domain is off (convert it to raw or "
				    "qcow2, or back it up while it runs)",
				    t, j->d->name, pd->dd->format);
			r = sp_disk_source_open(
			    pd->raw_store ? pd->dd->data_source
					  : pd->dd->source,
			    (enum sp_disk_format)fmt, &pd->src, err);
			if (r < 0)
				return r;
			continue;
		}
		sp_libvirt_backup_bitmap(t, bitmap, sizeof(bitmap));
		r = sp_disk_source_open_export(j->bk->socket, t,
					       pd->incremental ? bitmap : NULL,
					       t, &pd->src, err);
		if (r < 0 && pd->incremental) {
			reason(pd, "the export's dirty bitmap could not be "
				   "read");
			warn(j, "CheckpointInconsistent",
			     "%s: reading all data of disk '%s'", err->msg, t);
			pd->incremental = false;
			sp_disk_index_free(pd->prev);
			pd->prev = NULL;
			r = sp_disk_source_open_export(j->bk->socket, t, NULL,
						       t, &pd->src, err);
		}
		if (r < 0)
			return r;
		if (sp_disk_source_size(pd->src) != pd->size && pd->prev) {
			/* Resized between plan and snapshot. */
			reason(pd, "disk was resized during the snapshot");
			pd->incremental = false;
			sp_disk_index_free(pd->prev);
			pd->prev = NULL;
		}
	}
	return 0;
}

/* "kind" of the disk's data, where the guest's bytes are (not of the NBD
 * export it was read from): a metadata image's data store, or the disk. */
static const char *disk_kind(const struct plan_disk *pd)
{
	const char *t = pd->raw_store ? pd->dd->data_type : pd->dd->type;

	if (!strcmp(t, "block"))
		return "block";
	return strcmp(t, "network") ? "file" : "network";
}

/* sp_point_writer.store_files: the definition, NVRAM and TPM state. */
static int store_files(void *ctx, struct sp_point_draft *draft, json_t **config,
		       struct sp_error *err)
{
	struct domain_job *j = ctx;
	int r = store_xml(j, draft, config, err);

	if (r == 0 && j->vmstate)
		r = sp_vmstate_store(j->vmstate, draft, &j->state_entry,
				     &j->firmware_entry, err);
	return r;
}

/* sp_point_writer.complete: what a point of a libvirt domain records. */
static int complete_manifest(void *ctx, json_t *m, struct sp_error *err)
{
	struct domain_job *j = ctx;
	json_t *state = j->state_entry, *firmware = j->firmware_entry;

	(void)err;
	json_object_set(m, "consistency_reason",
			j->reason ? j->reason : json_null());
	json_object_set(m, "writers", j->writers);
	json_object_set(m, "excluded_disks", j->excluded);
	if (j->mounts)
		json_object_set(m, "guest_mounts", j->mounts);
	if (state) {
		json_object_set(m, "state", state);
		json_object_set(m, "firmware", firmware);
	}
	json_object_set_new(
	    m, "source",
	    json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:s?}", "type", "libvirt",
		      "uri", j->d->uri, "domain", j->d->name, "uuid",
		      j->d->uuid, "state", sp_domain_state_name(j->state),
		      "persistent", j->persistent, "guest_os", j->os_id));
	json_object_set_new(m, "checkpoint",
			    j->bk && j->bk->checkpoint
				? json_string(j->bk->checkpoint)
				: json_null());
	json_object_set_new(m, "incremental",
			    j->base ? json_pack("{s:s, s:O}", "checkpoint",
						j->base, "point",
						json_object_get(j->prev, "id"))
				    : json_null());
	json_object_set_new(m, "freeze_ms",
			    j->frozen || j->window_ms
				? json_integer((json_int_t)j->window_ms)
				: json_null());
	json_object_set_new(
	    m, "freeze",
	    json_pack("{s:b, s:i, s:I, s:I, s:I, s:I, s:I}", "frozen",
		      j->frozen, "file_systems", j->nfs, "freeze_ms",
		      (json_int_t)j->freeze_ms, "backup_begin_ms",
		      (json_int_t)j->begin_ms, "thaw_ms",
		      (json_int_t)j->thaw_ms, "deadline_ms",
		      (json_int_t)j->cfg->freeze_deadline_ms, "stun_ms",
		      (json_int_t)j->stun_ms));
	return 0;
}

static int transfer(struct domain_job *j, json_t **manifest_out,
		    uint64_t t_start, uint64_t t_snap, const char *level,
		    struct sp_error *err)
{
	struct sp_transfer_disk *td = NULL;
	struct timespec wall;
	int r;

	clock_gettime(CLOCK_REALTIME, &wall);
	r = open_sources(j, err);
	if (r < 0)
		return r;
	sp_test_hold("transfer");
	td = calloc(j->ndisks, sizeof(*td));
	if (!td)
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	for (size_t i = 0; i < j->ndisks; i++) {
		struct plan_disk *pd = &j->disks[i];
		td[i] = (struct sp_transfer_disk){
		    .src = pd->src,
		    .name = pd->dd->target,
		    .source = pd->raw_store	   ? pd->dd->data_source
			      : pd->dd->source	   ? pd->dd->source
			      : pd->dd->net_source ? pd->dd->net_source
						   : pd->dd->target,
		    .format = pd->raw_store    ? "raw"
			      : pd->dd->format ? pd->dd->format
					       : "raw",
		    .prev = pd->incremental ? pd->prev : NULL,
		    /* Planned incremental, then not: the base was refused
		     * at the snapshot (a warning says why). */
		    .read_reason =
			pd->incremental ? NULL
			: pd->read_reason[0]
			    ? pd->read_reason
			    : "the base checkpoint could not be used",
		    /* "kind" of the domain's disk, not of the NBD export it
		     * was read from. */
		    .extra = json_pack(
			"{s:s, s:s, s:s, s:b, s:b, s:b, s:s?, s:O?, s:s?}",
			"target", pd->dd->target, "kind", disk_kind(pd),
			"device", pd->dd->device, "read_only_media",
			pd->dd->media, "shareable", pd->dd->shareable,
			"checkpoint_bitmap",
			j->bk && j->bk->checkpoint && pd->bitmap, "protocol",
			pd->dd->protocol, "shared", pd->shared,
			"metadata_image",
			pd->raw_store ? pd->dd->source : NULL),
		};
	}
	struct sp_point_writer w = {
	    .v = j->v,
	    .name = j->d->name,
	    .disks = td,
	    .ndisks = j->ndisks,
	    .job = &j->o->job,
	    .check = j->o->check_transfer,
	    .prev = j->prev,
	    .warnings = j->warnings,
	    .consistency = level,
	    .wall = &wall,
	    .t_start = t_start,
	    .t_snap = t_snap,
	    .store_files = store_files,
	    .complete = complete_manifest,
	    .ctx = j,
	};
	r = sp_point_write(&w, manifest_out, err);
	for (size_t i = 0; i < j->ndisks; i++)
		json_decref(td[i].extra);
	free(td);
	return r;
}

/* ---- the job ------------------------------------------------------------ */

static void record_state(struct domain_job *j, const char *level, int r,
			 const struct sp_error *err)
{
	struct timespec now;
	char when[32];
	struct sp_error e;
	json_t *st;

	clock_gettime(CLOCK_REALTIME, &now);
	sp_time_rfc3339_ms(&now, when, sizeof(when));
	st = json_pack("{s:s, s:s, s:s?, s:O, s:O?, s:s?, s:s?, s:O}", "time",
		       when, "result", r == 0 ? "completed" : "failed",
		       "consistency", level, "writers", j->writers,
		       "consistency_reason", j->reason, "code",
		       r < 0 ? sp_errcode_name(r) : NULL, "message",
		       r < 0 ? err->msg : NULL, "warnings", j->warnings);
	if (!st)
		return;
	json_object_set_new(st, "agent", json_boolean(j->agent_ok));
	if (j->os_id)
		json_object_set_new(st, "guest_os", json_string(j->os_id));
	if (sp_vault_state_put(j->v, j->d->name, "last-job.json", st, &e) < 0)
		sp_log(SP_LOG_WARNING, "cannot record job state vm=%s: %s",
		       j->d->name, e.msg);
	json_decref(st);
}

static void release(struct domain_job *j)
{
	for (size_t i = 0; j->disks && i < j->ndisks; i++) {
		sp_disk_source_free(j->disks[i].src);
		sp_disk_index_free(j->disks[i].prev);
		json_decref(j->disks[i].shared);
	}
	free(j->disks);
	sp_vmstate_free(j->vmstate);
	json_decref(j->state_entry);
	json_decref(j->firmware_entry);
	sp_domain_def_free(j->def);
	free(j->inactive_xml);
	sp_writer_config_free(j->cfg);
	free(j->os_id);
	json_decref(j->excluded);
	json_decref(j->mounts);
	json_decref(j->warnings);
	json_decref(j->writers);
	json_decref(j->prev);
	json_decref(j->reason);
	sp_domain_close(j->d);
}

int sp_domain_backup_run(struct sp_vault *v,
			 const struct sp_domain_backup_opts *o,
			 json_t **manifest, struct sp_error *err)
{
	struct domain_job j = {.v = v, .o = o};
	struct sp_backup_disk_req *reqs = NULL;
	sp_autofree char *live_xml = NULL;
	enum sp_consistency lvl = SP_CONSISTENCY_CRASH;
	const char *level = NULL;
	uint64_t t_start = sp_now_mono_ms(), t_snap;
	bool fatal = false;
	struct sp_error pe;
	int r;

	j.excluded = json_array();
	j.warnings = json_array();
	j.writers = json_array();
	if (!j.excluded || !j.warnings || !j.writers) {
		r = sp_error_set(err, SP_E_NOMEM, "out of memory");
		goto out_free;
	}

	/* S1 */
	r = sp_domain_open(o->uri, o->domain, &j.d, err);
	if (r < 0)
		goto out_free;
	if (!sp_name_is_valid(j.d->name)) {
		r = sp_error_set(err, SP_E_NAME_INVALID,
				 "domain name '%s' cannot name points (use "
				 "letters, digits, '.', '_' and '-')",
				 j.d->name);
		goto out_free;
	}
	if ((r = load_settings(&j, err)) < 0 ||
	    (r = writers_init(&j, err)) < 0 ||
	    (r = sp_domain_get_state(j.d, &j.state, err)) < 0)
		goto out_free;
	j.persistent = virDomainIsPersistent(j.d->dom) != 0;
	if (!j.persistent)
		warn(&j, "TransientDomain",
		     "'%s' is transient: its checkpoints vanish when it stops, "
		     "and the backup after that reads all data (make it "
		     "persistent with 'virsh dumpxml %s > %s.xml; virsh define "
		     "%s.xml')",
		     j.d->name, j.d->name, j.d->name, j.d->name);
	if (j.state == SP_DOMAIN_OTHER) {
		r = sp_error_set(err, SP_E_DOMAIN_STATE,
				 "domain '%s' is neither running, paused nor "
				 "shut off (wait until it settles)",
				 j.d->name);
		goto out_free;
	}
	if ((r = sp_domain_get_xml(j.d, false, &live_xml, err)) < 0 ||
	    (r = sp_domain_get_xml(j.d, true, &j.inactive_xml, err)) < 0 ||
	    (r = sp_domain_def_parse(live_xml, strlen(live_xml), &j.def, err)) <
		0 ||
	    (r = plan(&j, err)) < 0 || (r = open_base_indexes(&j, err)) < 0)
		goto out_free;

	if (j.state == SP_DOMAIN_SHUTOFF) {
		lower(&j, true, "domain", NULL, 0,
		      "the domain is shut off: its disks were read as they "
		      "are");
		r = capture_state(&j, err);
		if (r < 0)
			goto out_record;
		goto transfer;
	}
	if (j.state == SP_DOMAIN_PAUSED) {
		lower(&j, true, "domain", NULL, 0,
		      "the domain is paused: its guest agent cannot freeze");
	} else {
		r = sp_guest_agent_ping(j.d, AGENT_PING_TIMEOUT_S, &pe);
		j.agent_ok = r == 0;
		if (!j.agent_ok) {
			lower(&j, true, "agent", NULL, pe.code, pe.msg);
		} else if (sp_guest_os_id(j.d, &j.os_id, &pe) < 0) {
			j.os_id = NULL;
		}
		/* Before the still point, not inside it (invariant 2): the
		 * map of a running guest changes rarely, and files resolve
		 * through it only as a convenience. */
		if (j.agent_ok &&
		    sp_guest_mount_map(j.d, live_xml, &j.mounts, &pe) < 0) {
			j.mounts = NULL;
			warn(
			    &j, "GuestMountMap",
			    "no mount map of '%s': %s (files of this point are "
			    "named DISK:PARTITION:/path)",
			    j.d->name, pe.msg);
		}
	}

	/* S2 */
	run_writers(&j, true, &fatal, err);
	if (fatal) {
		r = err->code;
		goto out_post;
	}
	reqs = calloc(j.ndisks, sizeof(*reqs));
	if (!reqs) {
		r = sp_error_set(err, SP_E_NOMEM, "out of memory");
		goto out_post;
	}
	for (size_t i = 0; i < j.ndisks; i++)
		reqs[i] = (struct sp_backup_disk_req){
		    .target = j.disks[i].dd->target,
		    .incremental = j.disks[i].incremental,
		    .bitmap = j.disks[i].bitmap};
	{
		struct timespec now;
		struct tm tm;
		clock_gettime(CLOCK_REALTIME, &now);
		gmtime_r(&now.tv_sec, &tm);
		snprintf(
		    j.new_cp, sizeof(j.new_cp),
		    SP_CHECKPOINT_PREFIX "%04d%02d%02dT%02d%02d%02d.%03ldZ",
		    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		    tm.tm_min, tm.tm_sec, now.tv_nsec / 1000000);
	}
	/* No qcow2 disk: no checkpoint (the name stays, unused: the chain's
	 * old checkpoints go after a published point all the same). */
	r = sp_libvirt_backup_prepare(j.d, reqs, j.ndisks, j.base,
				      any_bitmap(&j) ? j.new_cp : NULL, &j.bk,
				      err);
	if (r < 0)
		goto out_post;
	r = sp_watchdog_start(j.d, j.cfg->freeze_deadline_ms, &j.wd, err);
	if (r < 0)
		goto out_post;

	/* S3..S5 */
	r = still_point(&j, reqs, err);
	if (r < 0) /* no job started: nothing to end, no checkpoint made */
		goto out_post;
	sp_log(SP_LOG_INFO,
	       "still point vm=%s frozen=%d freeze_ms=%llu begin_ms=%llu "
	       "thaw_ms=%llu window_ms=%llu",
	       j.d->name, j.frozen, (unsigned long long)j.freeze_ms,
	       (unsigned long long)j.begin_ms, (unsigned long long)j.thaw_ms,
	       (unsigned long long)j.window_ms);
	/* T0, before the post steps (which may take long); they run even
	 * when it fails (out of memory). */
	r = capture_state(&j, &pe);
	run_writers(&j, false, &fatal, err);
	if (r < 0) {
		*err = pe;
		goto out_end;
	}
	r = check_disks_unchanged(&j, err);
	if (r < 0)
		goto out_end;

	/* S6 */
	level = judge(&j, &lvl);
	if (lvl < j.cfg->require) {
		r = sp_error_set(
		    err, SP_E_CONSISTENCY_NOT_REACHED,
		    "'%s' requires %s consistency but reached %s: %s",
		    j.d->name, sp_consistency_name(j.cfg->require), level,
		    json_string_value(json_object_get(j.reason, "message")));
		goto out_end;
	}

transfer:
	if (!level)
		level = judge(&j, &lvl);
	t_snap = sp_now_mono_ms();
	r = transfer(&j, manifest, t_start, t_snap, level, err);

out_end:
	if (j.bk) {
		/* T3 (invariant 3) */
		bool started = j.bk->started;
		sp_libvirt_backup_end(j.bk);
		j.bk = NULL;
		if (started)
			sp_watchdog_job_ended(j.wd);
		/* Also when the job failed to start: libvirt keeps a
		 * checkpoint whose export failed. */
		if (r < 0 && j.new_cp[0] &&
		    sp_libvirt_checkpoint_delete(j.d, j.new_cp, &pe) < 0)
			sp_log(SP_LOG_ERR,
			       "cannot delete checkpoint vm=%s checkpoint=%s: "
			       "%s",
			       j.d->name, j.new_cp, pe.msg);
		if (started && r == 0) {
			unsigned n = 0;
			if (sp_libvirt_checkpoints_prune(j.d, j.new_cp, &n,
							 &pe) < 0)
				warn(&j, "CheckpointInconsistent",
				     "old checkpoints not all deleted: %s",
				     pe.msg);
			sp_log(SP_LOG_INFO,
			       "checkpoints pruned vm=%s kept=%s deleted=%u",
			       j.d->name, j.new_cp, n);
			if (j.chain_broken &&
			    sp_libvirt_bitmaps_sweep(j.d, &n, &pe) < 0)
				warn(&j, "CheckpointMissing",
				     "stale bitmaps not removed: %s", pe.msg);
		}
	}
	goto out_record;

out_post:
	/* A job that stops before the snapshot still runs the post steps of
	 * writers whose pre step ran. */
	if (j.cfg && j.d) {
		bool ignored = false;
		struct sp_error ignored_err;
		run_writers(&j, false, &ignored, &ignored_err);
	}
	goto out_end;

out_record:
	if (j.d && j.cfg)
		record_state(&j, r == 0 ? level : NULL, r, err);
	sp_watchdog_stop(j.wd);
	free(reqs);
out_free:
	release(&j);
	return r;
}

// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Instant recovery: a point running as a new domain within seconds, on
 * its disks served from the vault, then copied to local files while the
 * guest runs, and pivoted onto them.
 *
 * States of the job (its record, "phase"):
 *   booting   the point served (serve.h), the domain defined on local
 *             qcow2 overlays over the exports and started (point_boot.h);
 *             ends when the guest agent answers: the RTO
 *   copying   one libvirt block copy per disk, whole chain, into
 *             DIR/NEW-<target>.<qcow2|img>; each disk pivoted onto its
 *             copy once in step ("pivoted" in the record's disk).  The
 *             guest's writes reach the copy as they are made
 *             (synchronous writes), so a copy comes in step whatever
 *             the guest's write rate and the bandwidth limit, which
 *             only throttles the background copy of the rest
 *   done      every disk pivoted; the persistent definition names only
 *             the copies; overlays removed, server stopped
 * A failure in copying (the server or the vault gone, a copy failed)
 * pauses the guest, fails the job with an action naming
 * 'stillpoint restore --resume JOB', and leaves the domain, overlays and
 * pivoted copies as they are; resume serves again on the same socket,
 * resumes (or starts) the guest and copies what was not pivoted.
 *
 * Invariants:
 *  1. The guest never reads bytes the server did not give: its disks
 *     stop on a read error (error_policy/rerror_policy 'stop'), and a
 *     server found gone pauses it at once.
 *  2. Guest writes live in the overlays (then the copies), never in the
 *     server: a server that dies loses none of them.
 *  3. The persistent definition names the vault's server until every disk
 *     is pivoted, then only local files; "done" is recorded after that.
 *  4. A disk is pivoted only when its copy is in step (libvirt refuses
 *     otherwise), so a copy that was pivoted onto holds all the data.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include <stillpoint/state.h>
#include <stillpoint/stillpoint.h>

#include "domain/domain.h"
#include "domain/domain_xml.h"
#include "job/point_boot.h"
#include "job/restore_domain.h"
#include "job/serve.h"
#include "snapshot/cbt.h"
#include "util/cleanup.h"
#include "util/log.h"
#include "util/text.h"
#include "vault/vault.h"

#define DEFAULT_IMAGE_DIR "/var/lib/libvirt/images"
#define AGENT_TIMEOUT_S 300
#define POLL_MS 250
#define COPY_RESTARTS 6
#define IO_RETRIES 60
#define STALL_MS 30000
#define COPY_STALLS 10
#define RESUME_TRIES 240

struct instant_disk {
	char *target;
	char *export;
	char *overlay;
	char *path;	     /* the local copy */
	char *format;	     /* its format: "qcow2" or "raw" */
	char *error_policy;  /* the point's own, for the final definition; */
	char *rerror_policy; /* NULL: none */
	uint64_t size;
	bool pivoted;
	int restarts;		/* copies started again after a failed read */
	int stalls;		/* copies ended because they stopped moving */
	uint64_t last_cur;	/* the copy's progress when last seen ... */
	int64_t last_change_ms; /* ... and when it last moved */
};

struct sp_instant {
	struct sp_state *st;
	int64_t job;
	char *uri, *name, *vault, *point_name, *point_id, *dir, *socket;
	uint64_t bandwidth;
	struct sp_served *served;
	size_t n;
	struct instant_disk *disks;
	int64_t copy_started_ms;
	bool failed; /* the server is ended hard (see sp_instant_free()) */
	volatile sig_atomic_t *cancel;
};

static void disks_release(struct sp_instant *in)
{
	for (size_t i = 0; i < in->n; i++) {
		free(in->disks[i].target);
		free(in->disks[i].export);
		free(in->disks[i].overlay);
		free(in->disks[i].path);
		free(in->disks[i].format);
		free(in->disks[i].error_policy);
		free(in->disks[i].rerror_policy);
	}
	free(in->disks);
}

void sp_instant_free(struct sp_instant *in)
{
	if (!in)
		return;
	if (in->served) {
		/* After a failure QEMU is still connected.  A server that
		 * shuts down in good order answers it in a way QEMU never
		 * connects again after; a lost connection it makes again
		 * (the resume).  The guest is paused: it reads nothing. */
		if (in->failed && in->served->pid > 0)
			kill(in->served->pid, SIGKILL);
		sp_serve_stop(in->served);
		unlink(in->socket); /* ours: the server leaves a given one */
	}
	disks_release(in);
	free(in->uri);
	free(in->name);
	free(in->vault);
	free(in->point_name);
	free(in->point_id);
	free(in->dir);
	free(in->socket);
	free(in);
}

static const char *jstr(json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

/* The record's "disks". */
static json_t *disks_json(const struct sp_instant *in)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < in->n; i++) {
		const struct instant_disk *d = &in->disks[i];

		json_t *o = json_pack(
		    "{s:s, s:s, s:s, s:s, s:s, s:I, s:b}", "target", d->target,
		    "export", d->export, "overlay", d->overlay, "path", d->path,
		    "format", d->format, "size", (json_int_t)d->size, "pivoted",
		    d->pivoted);

		if (o && d->error_policy)
			json_object_set_new(o, "error_policy",
					    json_string(d->error_policy));
		if (o && d->rerror_policy)
			json_object_set_new(o, "rerror_policy",
					    json_string(d->rerror_policy));
		json_array_append_new(a, o);
	}
	return a;
}

/* Merge @f (stolen) into the job's record; a failure is logged only:
 * the record is a report, the recovery goes on. */
static void record(struct sp_instant *in, json_t *f)
{
	struct sp_error e;

	if (f && sp_state_job_update(in->st, in->job, f, &e) < 0)
		sp_log(SP_LOG_WARNING, "job record not updated job=%lld: %s",
		       (long long)in->job, e.msg);
	json_decref(f);
}

/* The final file of disk @target: restore's naming (DIR/NEW-<target>.
 * qcow2, or .img for raw). */
static char *final_path(const char *dir, const char *name, const char *target,
			const char *fmt)
{
	char *p = NULL;

	if (asprintf(&p, "%s/%s-%s.%s", dir, name, target,
		     strcmp(fmt, "qcow2") ? "img" : "qcow2") < 0)
		return NULL;
	return p;
}

/* Text that goes into XML attributes unescaped must not need escaping. */
static bool xml_plain(const char *s)
{
	return !strpbrk(s, "<>&'\"");
}

/* Serve the point on @in->socket, owned by QEMU's user; from @v when the
 * vault is open already (its key then goes to the server as it is), else
 * opened again (a resume). */
static int serve(struct sp_instant *in, struct sp_vault *v,
		 struct sp_error *err)
{
	struct sp_serve_opts so = {.vault = in->vault,
				   .open_vault = v,
				   .name = in->point_name,
				   .id = in->point_id,
				   .socket = in->socket,
				   .exit_with_parent = true,
				   .socket_uid = (uid_t)-1,
				   .socket_gid = (gid_t)-1};
	int r;

	r = sp_qemu_identity(&so.socket_uid, &so.socket_gid, err);
	if (r == 0)
		r = sp_serve_start(&so, &in->served, err);
	if (r == 0)
		record(in, json_pack("{s:I}", "server_pid",
				     (json_int_t)in->served->pid));
	return r;
}

static int instant_new(struct sp_state *st, int64_t job,
		       struct sp_instant **ret, struct sp_error *err)
{
	struct sp_instant *in = calloc(1, sizeof(*in));

	if (!in)
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	in->st = st;
	in->job = job;
	*ret = in;
	return 0;
}

static bool strs_ok(const struct sp_instant *in)
{
	return in->uri && in->name && in->vault && in->point_name &&
	       in->point_id && in->dir && in->socket;
}

/* Booting, before the domain: the point, the paths, the server. */
static int boot_prepare(struct sp_vault *v, struct sp_instant *in,
			const struct sp_instant_opts *o, struct sp_error *err)
{
	virConnectPtr conn = NULL;
	json_t *m = NULL;
	struct stat st;
	int r;

	/* The name is valid and free: said before anything is served
	 * (point_boot.c asks again, and libvirt's define last). */
	r = sp_new_domain_connect(o->uri, o->new_name, &conn, err);
	if (conn)
		virConnectClose(conn);
	if (r == 0)
		r = sp_vault_find_point(v, o->spec, &m, err);
	if (r < 0)
		return r;
	in->uri = strdup(sp_domain_default_uri(o->uri));
	in->name = strdup(o->new_name);
	in->vault = strdup(o->vault);
	in->point_name = strdup(jstr(m, "name"));
	in->point_id = strdup(jstr(m, "id"));
	in->dir = strdup(o->to_dir ? o->to_dir : DEFAULT_IMAGE_DIR);
	json_decref(m);
	if (!in->uri || !in->name || !in->vault || !in->point_name ||
	    !in->point_id || !in->dir)
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	if (!xml_plain(in->dir))
		return sp_error_set(err, SP_E_INSTANT_DIR,
				    "directory '%s' has a character libvirt "
				    "XML would need escaped (<>&'\"): give "
				    "--to a plainer path",
				    in->dir);
	if (mkdir(in->dir, 0711) < 0 && errno != EEXIST)
		return sp_error_set_errno(err, SP_E_INSTANT_DIR, errno,
					  "cannot make directory '%s' for the "
					  "disks (give --to an existing "
					  "directory on local storage)",
					  in->dir);
	if (asprintf(&in->socket, "%s/.%s.nbd.sock", in->dir, in->name) < 0) {
		in->socket = NULL;
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	}
	if (strlen(in->socket) >= 100)
		return sp_error_set(err, SP_E_INSTANT_DIR,
				    "the socket path '%s' is too long for a "
				    "Unix socket (give --to a shorter "
				    "directory)",
				    in->socket);
	if (lstat(in->socket, &st) == 0)
		return sp_error_set(err, SP_E_TARGET_EXISTS,
				    "'%s' exists already: another instant "
				    "recovery of '%s' runs or ran (resume it "
				    "with 'stillpoint restore --resume JOB', "
				    "or remove the file)",
				    in->socket, in->name);
	return serve(in, v, err);
}

/* The disks of @b with their final paths; refuses existing ones. */
static int disks_from_boot(struct sp_instant *in, const struct sp_point_boot *b,
			   const char *format, bool force, struct sp_error *err)
{
	struct stat st;

	in->disks = calloc(b->ndisks + 1, sizeof(*in->disks));
	if (!in->disks)
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	for (size_t i = 0; i < b->ndisks; i++) {
		const struct sp_point_boot_disk *pd = &b->disks[i];
		struct instant_disk *d = &in->disks[in->n++];
		const char *fmt = format ? format : pd->format;

		fmt = strcmp(fmt, "qcow2") ? "raw" : "qcow2";
		d->target = strdup(pd->target);
		d->export = strdup(pd->export);
		d->overlay = strdup(pd->overlay);
		d->format = strdup(fmt);
		d->path = final_path(in->dir, in->name, pd->target, fmt);
		d->size = pd->size;
		if (!sp_strdup_opt(pd->error_policy, &d->error_policy) ||
		    !sp_strdup_opt(pd->rerror_policy, &d->rerror_policy) ||
		    !d->target || !d->export || !d->overlay || !d->format ||
		    !d->path)
			return sp_error_set(err, SP_E_NOMEM, "out of memory");
		if (!force && lstat(d->path, &st) == 0)
			return sp_error_set(err, SP_E_TARGET_EXISTS,
					    "'%s' exists already (remove it, "
					    "or choose another --as name or "
					    "--to directory)",
					    d->path);
	}
	return 0;
}

int sp_instant_boot(struct sp_vault *v, struct sp_state *st,
		    const struct sp_instant_opts *o, struct sp_instant **ret,
		    json_t **result, struct sp_error *err)
{
	struct sp_point_boot_opts bo = {0};
	struct sp_point_boot *b = NULL;
	struct sp_instant *in = NULL;
	int64_t rto;
	int r;

	r = instant_new(st, o->job, &in, err);
	if (r < 0)
		return r;
	in->bandwidth = o->bandwidth;
	in->cancel = o->cancel;
	record(in, json_pack("{s:s, s:s, s:I}", "phase", "booting", "source",
			     o->spec, "t0_ms", (json_int_t)o->t0_ms));
	r = boot_prepare(v, in, o, err);
	if (r < 0)
		goto out;
	bo = (struct sp_point_boot_opts){.uri = in->uri,
					 .spec = o->spec,
					 .new_name = in->name,
					 .dir = in->dir,
					 .served = in->served,
					 .persistent = true,
					 .force = o->force};
	r = sp_point_boot_start(v, &bo, &b, err);
	if (r < 0)
		goto out;
	r = disks_from_boot(in, b, o->format, o->force, err);
	if (r == 0) {
		record(in,
		       json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, "
				 "s:s, s:I, s:o}",
				 "domain", in->name, "uuid", b->uuid,
				 "point_name", in->point_name, "point",
				 in->point_id, "vault", in->vault, "uri",
				 in->uri, "to", in->dir, "socket", in->socket,
				 "bandwidth", (json_int_t)in->bandwidth,
				 "disks", disks_json(in)));
		r = sp_point_boot_wait_agent(
		    b,
		    o->agent_timeout_s ? o->agent_timeout_s : AGENT_TIMEOUT_S,
		    err);
	}
	if (r < 0) {
		sp_point_boot_remove(b);
		goto out;
	}
	rto = b->agent_ms - o->t0_ms;
	record(in, json_pack("{s:s, s:I, s:I, s:{s:{s:I}}}", "phase", "copying",
			     "rto_ms", (json_int_t)rto, "boot_ms",
			     (json_int_t)(b->running_ms - o->t0_ms), "phases",
			     "boot", "duration_ms", (json_int_t)rto));
	*result =
	    json_pack("{s:I, s:s, s:s, s:s, s:I, s:I, s:o, s:O}", "job",
		      (json_int_t)in->job, "domain", in->name, "uuid", b->uuid,
		      "point", in->point_id, "rto_ms", (json_int_t)rto,
		      "boot_ms", (json_int_t)(b->running_ms - o->t0_ms),
		      "disks", disks_json(in), "not_attached", b->not_attached);
out:
	sp_point_boot_free(b);
	if (r < 0) {
		sp_instant_free(in);
		return r;
	}
	*ret = in;
	return 0;
}

/* ---- the copy ----------------------------------------------------------- */

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

/* Start the block copy of disk @d (its destination made anew). */
static int copy_start(virDomainPtr dom, struct sp_instant *in,
		      struct instant_disk *d, struct sp_error *err)
{
	virTypedParameterPtr params = NULL;
	int nparams = 0, maxparams = 0;
	char xml[1400];
	int r;

	if (unlink(d->path) < 0 && errno != ENOENT)
		return sp_error_set_errno(err, SP_E_INSTANT_COPY, errno,
					  "cannot remove the partial copy "
					  "'%s'",
					  d->path);
	snprintf(xml, sizeof(xml),
		 "<disk type='file'><driver type='%s'/>"
		 "<source file='%s'/></disk>",
		 d->format, d->path);
	if (in->bandwidth &&
	    virTypedParamsAddULLong(&params, &nparams, &maxparams,
				    VIR_DOMAIN_BLOCK_COPY_BANDWIDTH,
				    in->bandwidth) < 0)
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	/* A persistent domain takes a copy only as a job that does not
	 * outlive its QEMU: the definition is changed after the pivot.
	 * Guest writes go to the copy as well before they complete: with
	 * only a background copy, a guest writing faster than the limit
	 * (an fsync every 50 ms dirties more than 1 MiB/s of 64 KiB
	 * granules) keeps the copy from ever coming in step. */
	r = virDomainBlockCopy(dom, d->target, xml, params, nparams,
			       VIR_DOMAIN_BLOCK_COPY_TRANSIENT_JOB |
				   VIR_DOMAIN_BLOCK_COPY_SYNCHRONOUS_WRITES);
	virTypedParamsFree(params, nparams);
	if (r < 0)
		return sp_domain_error(err, SP_E_INSTANT_COPY,
				       "cannot start copying disk '%s' of "
				       "'%s' to '%s'",
				       d->target, in->name, d->path);
	sp_log(SP_LOG_INFO, "instant copy started vm=%s disk=%s path=%s",
	       in->name, d->target, d->path);
	return 0;
}

/* Is the server gone (exited)? */
static bool server_gone(struct sp_instant *in)
{
	int status;

	if (!in->served || in->served->pid <= 0)
		return true;
	return waitpid(in->served->pid, &status, WNOHANG) == in->served->pid ||
	       (kill(in->served->pid, 0) < 0 && errno == ESRCH);
}

/* The persistent definition on the copies (invariant 3). */
static int define_final(virConnectPtr conn, virDomainPtr dom,
			struct sp_instant *in, struct sp_error *err)
{
	struct sp_domain_disk_map *dm = calloc(in->n + 1, sizeof(*dm));
	sp_autofree char *out = NULL;
	char *xml = NULL;
	virDomainPtr again;
	int r;

	if (!dm)
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	for (size_t i = 0; i < in->n; i++)
		dm[i] = (struct sp_domain_disk_map){
		    .target = in->disks[i].target,
		    .path = in->disks[i].path,
		    .format = in->disks[i].format,
		    .error_policy = in->disks[i].error_policy,
		    .rerror_policy = in->disks[i].rerror_policy};
	xml = virDomainGetXMLDesc(dom, VIR_DOMAIN_XML_INACTIVE |
					   VIR_DOMAIN_XML_SECURE);
	if (!xml) {
		free(dm);
		return sp_domain_error(err, SP_E_INSTANT_COPY,
				       "cannot read the definition of '%s'",
				       in->name);
	}
	r = sp_domain_xml_set_disks(xml, strlen(xml), dm, in->n, &out, err);
	free(xml);
	free(dm);
	if (r < 0)
		return r;
	again = virDomainDefineXML(conn, out);
	if (!again)
		return sp_domain_error(err, SP_E_INSTANT_COPY,
				       "libvirt refused the definition of '%s' "
				       "on its copied disks",
				       in->name);
	virDomainFree(again);
	return 0;
}

/* One look at every disk: progress, pivots.  *@all: every disk pivoted. */
static int copy_poll(virDomainPtr dom, struct sp_instant *in, bool *all,
		     uint64_t *done, uint64_t *total, struct sp_error *err)
{
	*all = true;
	*done = *total = 0;
	for (size_t i = 0; i < in->n; i++) {
		struct instant_disk *d = &in->disks[i];
		virDomainBlockJobInfo info;
		int r;

		if (d->pivoted) {
			*done += d->size;
			*total += d->size;
			continue;
		}
		*all = false;
		r = virDomainGetBlockJobInfo(dom, d->target, &info, 0);
		if (r < 0)
			return sp_domain_error(err, SP_E_INSTANT_COPY,
					       "cannot follow the copy of "
					       "disk '%s' of '%s'",
					       d->target, in->name);
		if (r == 0 && d->restarts < COPY_RESTARTS && !server_gone(in)) {
			/* The first read over a connection QEMU is making
			 * again fails (a reconnect is not waited for): the
			 * server is back, so copy again. */
			d->restarts++;
			sp_log(SP_LOG_WARNING,
			       "instant copy started again vm=%s disk=%s",
			       in->name, d->target);
			/* QEMU's connecting thread backs off (up to 16 s)
			 * after attempts made while no server listened. */
			sleep_ms(500L << d->restarts);
			d->last_change_ms = 0;
			r = copy_start(dom, in, d, err);
			if (r < 0)
				return r;
			continue;
		}
		if (r == 0)
			return sp_error_set(err, SP_E_INSTANT_COPY,
					    "the copy of disk '%s' of '%s' "
					    "ended before it was in step (a "
					    "read failed, or it was aborted)",
					    d->target, in->name);
		*done += info.end ? (uint64_t)((double)info.cur / info.end *
					       (double)d->size)
				  : 0;
		*total += d->size;
		if (info.cur != d->last_cur || !d->last_change_ms) {
			/* Moving: QEMU's connection works again. */
			if (d->last_change_ms && info.cur != d->last_cur)
				d->restarts = 0;
			d->last_cur = info.cur;
			d->last_change_ms = sp_now_ms();
		} else if (sp_now_ms() - d->last_change_ms > STALL_MS &&
			   d->stalls < COPY_STALLS) {
			d->stalls++;
			/* A mirror whose read was caught by the loss of a
			 * server can stay at its end without ever becoming
			 * ready: end it; it is started again above. */
			sp_log(SP_LOG_WARNING,
			       "instant copy stalled vm=%s disk=%s cur=%llu",
			       in->name, d->target,
			       (unsigned long long)info.cur);
			virDomainBlockJobAbort(dom, d->target, 0);
			d->last_change_ms = 0;
			continue;
		}
		if (info.end == 0 || info.cur != info.end)
			continue;
		if (virDomainBlockJobAbort(
			dom, d->target, VIR_DOMAIN_BLOCK_JOB_ABORT_PIVOT) < 0) {
			sp_log(SP_LOG_DEBUG, "pivot not yet vm=%s disk=%s",
			       in->name, d->target);
			continue;
		}
		d->pivoted = true;
		sp_log(SP_LOG_INFO, "instant pivot vm=%s disk=%s path=%s",
		       in->name, d->target, d->path);
		record(in, json_pack("{s:o}", "disks", disks_json(in)));
	}
	return 0;
}

/* Pause the guest (invariant 1) and say why the copy stopped. */
static int lost(virDomainPtr dom, struct sp_instant *in, const char *why,
		struct sp_error *err)
{
	int state = 0, reason = 0;

	if (virDomainGetState(dom, &state, &reason, 0) == 0 &&
	    state == VIR_DOMAIN_RUNNING && virDomainSuspend(dom) < 0)
		sp_log(SP_LOG_ERR, "guest not paused vm=%s", in->name);
	return sp_error_set(err, SP_E_INSTANT_SERVE_LOST,
			    "%s while the disks of '%s' were being copied: "
			    "the guest is paused (resume with 'stillpoint "
			    "restore --resume %lld')",
			    why, in->name, (long long)in->job);
}

static int copy_loop(virConnectPtr conn, virDomainPtr dom,
		     struct sp_instant *in, struct sp_error *err)
{
	int64_t last = 0;
	int io_retries = 0;
	uint64_t done, total;
	bool all = false;
	int r = 0;

	for (size_t i = 0; r == 0 && i < in->n; i++) {
		virDomainBlockJobInfo info;

		if (in->disks[i].pivoted)
			continue;
		/* A copy that survived (a resume after a crash of ours)
		 * goes on, at the bandwidth the resume asked for. */
		if (virDomainGetBlockJobInfo(
			dom, in->disks[i].target, &info,
			VIR_DOMAIN_BLOCK_JOB_INFO_BANDWIDTH_BYTES) == 1) {
			if (info.bandwidth != in->bandwidth &&
			    virDomainBlockJobSetSpeed(
				dom, in->disks[i].target, in->bandwidth,
				VIR_DOMAIN_BLOCK_JOB_SPEED_BANDWIDTH_BYTES) < 0)
				sp_log(SP_LOG_WARNING,
				       "instant copy speed unchanged vm=%s "
				       "disk=%s",
				       in->name, in->disks[i].target);
			continue;
		}
		r = copy_start(dom, in, &in->disks[i], err);
	}
	while (r == 0 && !all) {
		int state = 0, reason = 0;

		if (in->cancel && *in->cancel) {
			/* The server ends with us: the guest is paused now
			 * rather than on its next read. */
			lost(dom, in, "the copy was cancelled", err);
			r = sp_error_set(
			    err, SP_E_INTERRUPTED,
			    "the copy of the disks of '%s' was "
			    "cancelled: the guest is paused (resume "
			    "with 'stillpoint restore --resume %lld')",
			    in->name, (long long)in->job);
			break;
		}
		if (server_gone(in)) {
			r = lost(dom, in,
				 "the server of the point's disks "
				 "went away",
				 err);
			break;
		}
		if (virDomainGetState(dom, &state, &reason, 0) == 0 &&
		    state == VIR_DOMAIN_PAUSED &&
		    reason == VIR_DOMAIN_PAUSED_IOERROR) {
			/* Once or twice after a resume: QEMU's connection to
			 * the new server was still being made. */
			if (io_retries++ < IO_RETRIES &&
			    virDomainResume(dom) == 0) {
				sleep_ms(2 * POLL_MS);
				continue;
			}
			r = lost(dom, in, "a read from the vault failed", err);
			break;
		}
		if (state == VIR_DOMAIN_SHUTOFF) {
			r = sp_error_set(err, SP_E_INSTANT_COPY,
					 "domain '%s' stopped before its disks "
					 "were copied (resume with 'stillpoint "
					 "restore --resume %lld')",
					 in->name, (long long)in->job);
			break;
		}
		r = copy_poll(dom, in, &all, &done, &total, err);
		if (r < 0 && server_gone(in))
			r = lost(dom, in,
				 "the server of the point's disks went away",
				 err);
		if (r == 0 && (sp_now_ms() - last >= 1000 || all)) {
			last = sp_now_ms();
			record(in, json_pack("{s:{s:I, s:I}}", "copy", "done",
					     (json_int_t)done, "total",
					     (json_int_t)total));
		}
		if (r == 0 && !all)
			sleep_ms(POLL_MS);
	}
	if (r == 0)
		r = define_final(conn, dom, in, err);
	return r;
}

int sp_instant_copy(struct sp_instant *in, struct sp_error *err)
{
	virConnectPtr conn = NULL;
	virDomainPtr dom = NULL;
	int64_t t0 = sp_now_ms();
	int r;

	in->copy_started_ms = t0;
	r = sp_domain_connect(in->uri, &conn, err);
	if (r < 0)
		return r;
	dom = virDomainLookupByName(conn, in->name);
	if (!dom)
		r = sp_domain_error(err, SP_E_DOMAIN_NOT_FOUND,
				    "domain '%s' is gone", in->name);
	if (r == 0)
		r = copy_loop(conn, dom, in, err);
	if (dom)
		virDomainFree(dom);
	virConnectClose(conn);
	if (r < 0)
		return r;
	/* Invariant 3 holds: nothing needs the server or the overlays. */
	sp_serve_stop(in->served);
	in->served = NULL;
	unlink(in->socket);
	for (size_t i = 0; i < in->n; i++)
		if (unlink(in->disks[i].overlay) < 0 && errno != ENOENT)
			sp_log(SP_LOG_WARNING, "overlay not removed path=%s",
			       in->disks[i].overlay);
	uint64_t bytes = 0;
	for (size_t i = 0; i < in->n; i++)
		bytes += in->disks[i].size;
	record(in,
	       json_pack("{s:s, s:I, s:{s:I, s:I}}", "phase", "done", "copy_ms",
			 (json_int_t)(sp_now_ms() - t0), "copy", "done",
			 (json_int_t)bytes, "total", (json_int_t)bytes));
	return 0;
}

int sp_instant_finish(struct sp_instant *in, const struct sp_error *failure)
{
	struct sp_error e;
	json_t *job = NULL, *m = NULL;
	char action[256];
	int r;

	if (!failure) {
		r = sp_state_job_get(in->st, in->job, &job, &e);
		if (r == 0) {
			json_t *ph = json_object_get(job, "phases");

			m = json_pack("{s:s, s:O, s:[]}", "id", in->point_id,
				      "phases", ph ? ph : json_null(),
				      "warnings");
			json_object_set_new(
			    json_object_get(m, "phases"), "copy",
			    json_pack("{s:I}", "duration_ms",
				      (json_int_t)(sp_now_ms() -
						   in->copy_started_ms)));
		}
		json_decref(job);
	}
	in->failed = failure != NULL;
	r = sp_state_job_finish(in->st, in->job, m, failure, &e);
	json_decref(m);
	if (r == 0 && failure && failure->code != SP_E_INSTANT_BOOT &&
	    in->socket) {
		snprintf(action, sizeof(action),
			 "%s; resume with 'stillpoint restore --resume %lld'",
			 sp_errcode_lookup(failure->code)->action,
			 (long long)in->job);
		record(in, json_pack("{s:s, s:b}", "action", action,
				     "resumable", 1));
	}
	if (r < 0)
		sp_log(SP_LOG_ERR, "job not finished job=%lld: %s",
		       (long long)in->job, e.msg);
	return r;
}

/* ---- resume ------------------------------------------------------------- */

static int from_record(struct sp_instant *in, json_t *job, struct sp_error *err)
{
	json_t *ds = json_object_get(job, "disks"), *d;
	size_t i;

	in->uri = strdup(jstr(job, "uri") ? jstr(job, "uri") : "");
	in->name = strdup(jstr(job, "domain") ? jstr(job, "domain") : "");
	in->vault = strdup(jstr(job, "vault") ? jstr(job, "vault") : "");
	in->point_name =
	    strdup(jstr(job, "point_name") ? jstr(job, "point_name") : "");
	in->point_id = strdup(jstr(job, "point") ? jstr(job, "point") : "");
	in->dir = strdup(jstr(job, "to") ? jstr(job, "to") : "");
	in->socket = strdup(jstr(job, "socket") ? jstr(job, "socket") : "");
	in->bandwidth =
	    (uint64_t)json_integer_value(json_object_get(job, "bandwidth"));
	if (!strs_ok(in))
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	in->disks = calloc(json_array_size(ds) + 1, sizeof(*in->disks));
	if (!in->disks)
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	json_array_foreach(ds, i, d)
	{
		struct instant_disk *x = &in->disks[in->n++];

		x->target = strdup(jstr(d, "target") ? jstr(d, "target") : "");
		x->export = strdup(jstr(d, "export") ? jstr(d, "export") : "");
		x->overlay =
		    strdup(jstr(d, "overlay") ? jstr(d, "overlay") : "");
		x->path = strdup(jstr(d, "path") ? jstr(d, "path") : "");
		x->format = strdup(jstr(d, "format") ? jstr(d, "format") : "");
		x->size =
		    (uint64_t)json_integer_value(json_object_get(d, "size"));
		x->pivoted = json_is_true(json_object_get(d, "pivoted"));
		if (!sp_strdup_opt(jstr(d, "error_policy"), &x->error_policy) ||
		    !sp_strdup_opt(jstr(d, "rerror_policy"), &x->rerror_policy))
			return sp_error_set(err, SP_E_NOMEM, "out of memory");
		if (!x->target || !x->export || !x->overlay || !x->path ||
		    !x->format)
			return sp_error_set(err, SP_E_NOMEM, "out of memory");
	}
	return 0;
}

/* Serve again and let the guest run. */
static int resume_guest(struct sp_instant *in, struct sp_error *err)
{
	virConnectPtr conn = NULL;
	virDomainPtr dom = NULL;
	int state = 0, reason = 0;
	int r;

	r = sp_domain_connect(in->uri, &conn, err);
	if (r < 0)
		return r;
	dom = virDomainLookupByName(conn, in->name);
	if (!dom) {
		r = sp_error_set(err, SP_E_INSTANT_JOB,
				 "domain '%s' of job %lld is gone: nothing "
				 "to resume",
				 in->name, (long long)in->job);
		goto out;
	}
	/* The socket of the server that went away is in the way. */
	unlink(in->socket);
	r = serve(in, NULL, err);
	if (r < 0)
		goto out;
	/* QEMU connects again in the background after the first request
	 * that finds the connection gone, which fails: the guest may pause
	 * once more on it, for as long as QEMU's connecting thread backs
	 * off (up to 16 s after attempts made while no server listened).
	 * Running for a second in a row is resumed. */
	for (int tries = 0, steady = 0; r == 0 && steady < 4; tries++) {
		if (tries == RESUME_TRIES) {
			r = sp_error_set(err, SP_E_INSTANT_SERVE_LOST,
					 "domain '%s' keeps pausing on read "
					 "errors after the server was started "
					 "again (is the vault reachable?)",
					 in->name);
			break;
		}
		if (virDomainGetState(dom, &state, &reason, 0) < 0)
			r = sp_domain_error(err, SP_E_LIBVIRT,
					    "cannot read the state of '%s'",
					    in->name);
		else if (state == VIR_DOMAIN_PAUSED && virDomainResume(dom) < 0)
			r = sp_domain_error(err, SP_E_INSTANT_COPY,
					    "cannot resume domain '%s'",
					    in->name);
		else if (state == VIR_DOMAIN_SHUTOFF &&
			 virDomainCreate(dom) < 0)
			r = sp_domain_error(err, SP_E_INSTANT_BOOT,
					    "cannot start domain '%s' again",
					    in->name);
		steady = state == VIR_DOMAIN_RUNNING ? steady + 1 : 0;
		sleep_ms(POLL_MS);
	}
	if (r == 0)
		sp_log(SP_LOG_INFO, "instant resumed vm=%s job=%lld", in->name,
		       (long long)in->job);
out:
	if (dom)
		virDomainFree(dom);
	virConnectClose(conn);
	return r;
}

bool sp_instant_job_resumable(json_t *job)
{
	const char *kind = jstr(job, "kind");

	return kind && !strcmp(kind, "instant") &&
	       json_is_array(json_object_get(job, "disks"));
}

int sp_instant_resume(struct sp_state *st, int64_t job_id, int64_t bandwidth,
		      volatile sig_atomic_t *cancel, struct sp_instant **ret,
		      json_t **result, struct sp_error *err)
{
	struct sp_instant *in = NULL;
	json_t *job = NULL;
	int r;

	r = sp_state_job_get(st, job_id, &job, err);
	if (r == SP_E_JOB_NOT_FOUND)
		r = sp_error_set(err, SP_E_INSTANT_JOB,
				 "there is no job %lld (list instant "
				 "recoveries with 'stillpoint jobs')",
				 (long long)job_id);
	if (r < 0)
		return r;
	if (!sp_instant_job_resumable(job)) {
		r = sp_error_set(err, SP_E_INSTANT_JOB,
				 "job %lld is not an instant recovery that "
				 "booted (see 'stillpoint job %lld')",
				 (long long)job_id, (long long)job_id);
		goto out;
	}
	r = sp_state_job_reclaim(st, job_id, getpid(), err);
	if (r == SP_E_JOB_RUNNING)
		r = sp_error_set(err, SP_E_INSTANT_JOB,
				 "job %lld cannot be resumed: %s",
				 (long long)job_id, err->msg);
	if (r < 0)
		goto out;
	r = instant_new(st, job_id, &in, err);
	if (r == 0) {
		in->cancel = cancel;
		r = from_record(in, job, err);
	}
	if (r == 0 && bandwidth >= 0)
		in->bandwidth = (uint64_t)bandwidth;
	if (r == 0) {
		record(in, json_pack("{s:s, s:I, s:I}", "phase", "copying",
				     "resumed_ms", (json_int_t)sp_now_ms(),
				     "bandwidth", (json_int_t)in->bandwidth));
		r = resume_guest(in, err);
	}
	if (r == 0)
		*result = json_pack(
		    "{s:I, s:s, s:s, s:o}", "job", (json_int_t)job_id, "domain",
		    in->name, "point", in->point_id, "disks", disks_json(in));
	if (r < 0 && in) {
		sp_instant_finish(in, err);
		sp_instant_free(in);
		in = NULL;
	}
out:
	json_decref(job);
	if (r == 0)
		*ret = in;
	return r;
}

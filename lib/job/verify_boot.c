// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * verify --boot: a point booted as a throwaway, isolated domain whose
 * application must answer (stillpoint.h, sp_verify_boot_run()).
 *
 * States, in order; each undoes what the earlier ones made on the way out:
 *   B0 clean     runs that are gone are cleaned up (boot_runs.h)
 *   B1 record    this run's record; the scratch directory named, then made
 *                (0711: QEMU's user passes through to its overlays)
 *   B2 serve     the point's disks served read-only over NBD on a socket
 *                in the scratch directory, owned by QEMU's user, ending
 *                with this process (exit_with_parent)
 *   B3 overlays  one qcow2 overlay per disk over its export; the NVRAM and
 *                TPM state of the point copied to files of the new domain
 *   B4 start     the definition rewritten (new name and UUID, overlays,
 *                isolated: domain_xml_isolate.c), named in the record,
 *                created transient with AUTODESTROY (libvirt destroys it
 *                when this process's connection closes, kill -9 too)
 *   B5 agent     guest-ping until it answers, the domain running
 *   B6 probe     /bin/sh -c PROBE through guest-exec
 *   B7 teardown  domain destroyed, server stopped, files removed, record
 *                dropped; then the result noted beside the point
 *
 * Invariants:
 *  1. Nothing of the original is opened for writing or shared: the
 *     vault's chunks are read through the server, the domain's disks are
 *     overlays in the scratch directory, its NVRAM and TPM state copies,
 *     its console files in the scratch directory; it has no network.
 *  2. No checkpoint, bitmap or persistent definition is made.
 *  3. Every thing made is named in the run's record before it is made
 *     (boot_runs.h), so a killed run is cleaned up by the next.
 *  4. The result is noted only as the point's note (verified.json); the
 *     point's manifest and files are never written.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "domain/domain.h"
#include "domain/domain_xml.h"
#include "domain/guest_agent.h"
#include "job/boot_runs.h"
#include "job/job.h"
#include "job/serve.h"
#include "job/vm_state.h"
#include "util/cleanup.h"
#include "util/fileio.h"
#include "util/log.h"
#include "util/spawn.h"
#include "util/text.h"
#include "vault/vault.h"

#define NOTE_FILE "verified.json"
#define CONFIG_MAX (16u << 20)
#define DEFAULT_TIMEOUT_S 600
#define OUTPUT_KEEP 2048

struct boot {
	const struct sp_verify_boot_opts *o;
	struct sp_vault *v;
	const char *name, *id;
	json_t *m; /* the point's catalog entry */
	uint64_t t0, deadline;
	struct sp_boot_run *run;
	char dir[PATH_MAX]; /* the scratch directory, once made */
	bool dir_made;
	struct sp_served *served;
	struct sp_state_put *state;
	struct sp_domain *d; /* the temporary domain, once started */
	char dom_name[128];
	char uuid[VIR_UUID_STRING_BUFLEN];
	char *def_type;
	json_t *res;
};

static const char *scratch_base(const struct sp_verify_boot_opts *o)
{
	const char *e = getenv("STILLPOINT_TMPDIR");

	if (o->work_dir && *o->work_dir)
		return o->work_dir;
	return e && *e ? e : "/var/tmp";
}

/*
 * The user and group QEMU runs as for domains of @type ("kvm", "qemu"):
 * the DAC model's base label in the host's capabilities ("+64055:+994").
 * (uid_t)-1 when libvirt does not say (a session daemon: our own user).
 */
static void qemu_owner(virConnectPtr conn, const char *type, uid_t *uid,
		       gid_t *gid)
{
	char *caps = virConnectGetCapabilities(conn);
	char want[64];
	const char *p, *dac;
	unsigned long u, g;

	*uid = (uid_t)-1;
	*gid = (gid_t)-1;
	dac = caps ? strstr(caps, "<model>dac</model>") : NULL;
	snprintf(want, sizeof(want), "<baselabel type='%s'>+",
		 type ? type : "kvm");
	p = dac ? strstr(dac, want) : NULL;
	if (p && sscanf(p + strlen(want), "%lu:+%lu", &u, &g) == 2) {
		*uid = (uid_t)u;
		*gid = (gid_t)g;
	}
	free(caps);
}

static int note(struct boot *b, const char *key, json_t *value,
		struct sp_error *err)
{
	return sp_boot_run_note(b->run, key, value, err);
}

/* B1: this run's record and its scratch directory. */
static int make_scratch(struct boot *b, struct sp_error *err)
{
	char runs[PATH_MAX];
	int r;

	r = sp_boot_run_begin(
	    sp_boot_runs_dir(b->o->runs_dir, runs, sizeof(runs)), &b->run, err);
	if (r < 0)
		return r;
	r = note(b, "uri", json_string(sp_domain_default_uri(b->o->uri)), err);
	if (r < 0)
		return r;
	snprintf(b->dir, sizeof(b->dir), "%s/" SP_BOOT_PREFIX "%.64s-%ld",
		 scratch_base(b->o), b->name, (long)getpid());
	r = note(b, "dir", json_string(b->dir), err); /* invariant 3 */
	if (r < 0)
		return r;
	if (mkdir(b->dir, 0711) < 0 || chmod(b->dir, 0711) < 0)
		return sp_error_set_errno(err, SP_E_TARGET_WRITE, errno,
					  "cannot make the scratch directory "
					  "'%s' (set --work-dir or "
					  "$STILLPOINT_TMPDIR to a writable "
					  "place)",
					  b->dir);
	b->dir_made = true;
	return 0;
}

/* B2: the point served on a socket QEMU's user may connect to. */
static int serve(struct boot *b, virConnectPtr conn, struct sp_error *err)
{
	char sock[PATH_MAX + 16];
	struct sp_serve_opts so = {.vault = b->o->vault_path,
				   .open_vault = b->v,
				   .name = b->name,
				   .id = b->id,
				   .exit_with_parent = true};
	int r;

	snprintf(sock, sizeof(sock), "%s/nbd.sock", b->dir);
	so.socket = sock;
	qemu_owner(conn, b->def_type, &so.socket_uid, &so.socket_gid);
	r = sp_serve_start(&so, &b->served, err);
	if (r < 0)
		return r;
	r = note(b, "server_pid", json_integer(b->served->pid), err);
	if (r == 0)
		r = note(b, "server_start",
			 json_integer(
			     (json_int_t)sp_boot_proc_start(b->served->pid)),
			 err);
	return r;
}

/* B3: a qcow2 overlay over each export; @maps and @keep get one entry a
 * disk, their strings owned by @keepalive. */
static int make_overlays(struct boot *b, struct sp_domain_disk_map *maps,
			 const char **keep, size_t *n, json_t *keepalive,
			 struct sp_error *err)
{
	json_t *e;
	size_t i;

	*n = 0;
	json_array_foreach(b->served->exports, i, e)
	{
		const char *ex =
		    json_string_value(json_object_get(e, "export"));
		json_int_t size =
		    json_integer_value(json_object_get(e, "size"));
		sp_autofree char *uri = NULL;
		char path[PATH_MAX + 64], sz[32];
		json_t *p;
		int r;

		if (!ex || !*ex || i >= 64)
			continue;
		uri = sp_served_uri(b->served, ex);
		if (!uri)
			return sp_error_set(err, SP_E_NOMEM, "out of memory");
		snprintf(path, sizeof(path), "%s/%s.qcow2", b->dir, ex);
		snprintf(sz, sizeof(sz), "%lld", (long long)size);
		/* -u: the size is known, the server need not be asked */
		const char *argv[] = {"qemu-img", "create", "-q", "-f", "qcow2",
				      "-u",	  "-b",	    uri,  "-F", "raw",
				      path,	  sz,	    NULL};
		r = sp_spawn_run(argv, NULL, err);
		if (r < 0)
			return r;
		p = json_pack("[s,s]", ex, path);
		json_array_append_new(keepalive, p);
		maps[*n].target = json_string_value(json_array_get(p, 0));
		maps[*n].path = json_string_value(json_array_get(p, 1));
		maps[*n].format = "qcow2";
		keep[*n] = maps[*n].target;
		(*n)++;
	}
	if (*n == 0)
		return sp_error_set(err, SP_E_USAGE,
				    "point '%s@%s' has no disk to boot from",
				    b->name, b->id);
	return 0;
}

/* B3: the point's NVRAM as a file in the scratch directory (*@nvram), its
 * TPM state where libvirt looks for the new UUID's (noted first). */
static int copy_state(struct boot *b, char *nvram, size_t cap,
		      struct sp_error *err)
{
	struct sp_point_ref pref = {b->v, b->name, b->id};
	struct sp_point_state ps = {0};
	struct sp_libvirt_dirs dirs;
	json_t *disk_m = NULL;
	const char *why = NULL;
	char where[160], path[PATH_MAX + 300], tpm[PATH_MAX + 64];
	int r;

	nvram[0] = '\0';
	snprintf(where, sizeof(where), "%s@%s", b->name, b->id);
	r = sp_vault_point_manifest(b->v, b->name, b->id, &disk_m, err);
	if (r == 0)
		r = sp_point_state_load(&pref, disk_m, where, &ps, err);
	if (r < 0)
		goto out;
	b->state = sp_state_put_new();
	if (!b->state) {
		r = sp_error_set(err, SP_E_NOMEM, "out of memory");
		goto out;
	}
	if (sp_point_state_has_tpm(&ps)) {
		const char *ver = NULL;
		char up[PATH_MAX + 64];

		if (!sp_libvirt_dirs(sp_domain_default_uri(b->o->uri), &dirs,
				     &why)) {
			r = sp_error_set(err, SP_E_USAGE,
					 "the point holds TPM state, which "
					 "cannot be put where libvirt looks "
					 "for it: %s",
					 why);
			goto out;
		}
		for (size_t i = 0; i < ps.n; i++)
			if (!strcmp(ps.files[i].kind, "tpm"))
				ver = ps.files[i].version;
		snprintf(up, sizeof(up), "%.3000s/%s", dirs.swtpm, b->uuid);
		snprintf(tpm, sizeof(tpm), "%.3100s/%s", up,
			 sp_tpm_dir_name(ver));
		r = note(b, "tpm_dir", json_string(up), err);
		if (r == 0)
			r = sp_state_put_mkdir(b->state, dirs.swtpm, 0711,
					       (uid_t)-1, (gid_t)-1, err);
		if (r == 0)
			r = sp_state_put_mkdir(b->state, up, 0711, (uid_t)-1,
					       (gid_t)-1, err);
		if (r == 0)
			r = sp_state_put_mkdir(b->state, tpm, 0700, (uid_t)-1,
					       (gid_t)-1, err);
		if (r < 0)
			goto out;
	}
	for (size_t i = 0; r == 0 && i < ps.n; i++) {
		const struct sp_state_file *f = &ps.files[i];
		uid_t uid = f->has_owner ? f->uid : (uid_t)-1;
		gid_t gid = f->has_owner ? f->gid : (gid_t)-1;

		if (!strcmp(f->kind, "nvram")) {
			snprintf(nvram, cap, "%s/VARS.fd", b->dir);
			r = sp_state_put_file(b->state, nvram, f, 0600, uid,
					      gid, false, err);
		} else {
			snprintf(path, sizeof(path), "%s/%s", tpm, f->name);
			r = sp_state_put_file(b->state, path, f, f->mode & 0777,
					      uid, gid, false, err);
		}
	}
	if (r == 0)
		r = sp_state_put_commit(b->state, err);
out:
	sp_point_state_release(&ps);
	json_decref(disk_m);
	return r;
}

/* B4: the isolated definition, created transient. */
static int start(struct boot *b, virConnectPtr conn, const char *config,
		 size_t config_len, struct sp_error *err)
{
	struct sp_domain_disk_map maps[64];
	const char *keep[64];
	struct sp_domain_restore_ids ids = {0};
	sp_autofree char *renamed = NULL, *xml = NULL;
	char nvram[PATH_MAX + 16];
	json_t *keepalive = json_array();
	virDomainPtr dom;
	size_t n = 0;
	int r;

	memset(maps, 0, sizeof(maps));
	r = make_overlays(b, maps, keep, &n, keepalive, err);
	if (r == 0)
		r = copy_state(b, nvram, sizeof(nvram), err);
	ids.uuid = b->uuid;
	ids.nvram = nvram[0] ? nvram : NULL;
	if (r == 0)
		r = sp_domain_xml_for_restore(config, config_len, b->dom_name,
					      maps, n, &ids, &renamed, err);
	if (r == 0)
		r = sp_domain_xml_isolate(renamed, strlen(renamed), b->dir,
					  keep, n, &xml, err);
	json_decref(keepalive);
	if (r < 0)
		return r;
	r = note(b, "domain", json_string(b->dom_name), err);
	if (r == 0)
		r = note(b, "uuid", json_string(b->uuid), err);
	if (r < 0)
		return r;
	/* invariant 2: never defined; AUTODESTROY: gone with this process */
	dom = virDomainCreateXML(conn, xml, VIR_DOMAIN_START_AUTODESTROY);
	if (!dom)
		return sp_domain_error(err, SP_E_BOOT_FAILED,
				       "cannot start point '%s@%s' as "
				       "domain '%s'",
				       b->name, b->id, b->dom_name);
	b->d = calloc(1, sizeof(*b->d));
	if (!b->d) {
		virDomainDestroy(dom);
		virDomainFree(dom);
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	}
	b->d->conn = conn;
	b->d->dom = dom;
	b->d->name = strdup(b->dom_name);
	snprintf(b->d->uuid, sizeof(b->d->uuid), "%s", b->uuid);
	sp_log(SP_LOG_INFO, "verify-boot started point=%s@%s domain=%s dir=%s",
	       b->name, b->id, b->dom_name, b->dir);
	return 0;
}

static bool cancelled(const struct boot *b)
{
	return b->o->job.cancel && *b->o->job.cancel;
}

/* B5: until the agent answers, the domain running, within the deadline. */
static int wait_agent(struct boot *b, struct sp_error *err)
{
	struct sp_error e = {0};

	for (;;) {
		if (cancelled(b))
			return sp_error_set(err, SP_E_INTERRUPTED,
					    "verify --boot of '%s@%s' "
					    "interrupted",
					    b->name, b->id);
		if (virDomainIsActive(b->d->dom) != 1)
			return sp_error_set(err, SP_E_BOOT_FAILED,
					    "domain '%s' booted from point "
					    "'%s@%s' stopped before its guest "
					    "agent answered (see its console "
					    "in the domain's log)",
					    b->dom_name, b->name, b->id);
		if (sp_guest_agent_ping(b->d, 2, &e) == 0)
			return 0;
		if (sp_now_mono_ms() >= b->deadline)
			return sp_error_set(
			    err, SP_E_BOOT_TIMEOUT,
			    "point '%s@%s' booted as '%s' but its guest agent "
			    "did not answer within %u s (last: %s)",
			    b->name, b->id, b->dom_name,
			    b->o->timeout_s ? b->o->timeout_s
					    : DEFAULT_TIMEOUT_S,
			    e.msg);
		usleep(500 * 1000);
	}
}

/* B6: the probe; its exit code and output go into the result. */
static int probe(struct boot *b, struct sp_error *err)
{
	const char *argv[] = {"-c", b->o->probe, NULL};
	struct sp_guest_exec_result res = {.exit_code = -1};
	bool done = false;
	unsigned wait_ms = 5;
	long long pid;
	size_t keep;
	int r;

	r = sp_guest_exec_start(b->d, "/bin/sh", argv, NULL, &pid, err);
	while (r == 0) {
		r = sp_guest_exec_poll(b->d, pid, &done, &res, err);
		if (r < 0 || done)
			break;
		if (cancelled(b))
			return sp_error_set(err, SP_E_INTERRUPTED,
					    "verify --boot of '%s@%s' "
					    "interrupted during its probe",
					    b->name, b->id);
		if (sp_now_mono_ms() >= b->deadline) {
			res.timed_out = true;
			break;
		}
		/* a quick probe is seen at once: part of the RTO */
		usleep(wait_ms * 1000);
		if (wait_ms < 100)
			wait_ms *= 2;
	}
	if (r < 0)
		return r;
	keep = res.out_len > OUTPUT_KEEP ? OUTPUT_KEEP : res.out_len;
	json_object_set_new(b->res, "exit_code",
			    res.timed_out ? json_null()
					  : json_integer(res.exit_code));
	json_object_set_new(
	    b->res, "output",
	    json_stringn_nocheck(res.out ? res.out + res.out_len - keep : "",
				 keep));
	if (res.timed_out)
		r = sp_error_set(err, SP_E_BOOT_TIMEOUT,
				 "the probe of point '%s@%s' did not end "
				 "within the timeout ('%s')",
				 b->name, b->id, b->o->probe);
	else if (res.exit_code != 0)
		r = sp_error_set(err, SP_E_BOOT_PROBE_FAILED,
				 "the probe of point '%s@%s' failed with exit "
				 "code %d ('%s'): %.200s",
				 b->name, b->id, res.exit_code, b->o->probe,
				 res.out && keep ? res.out + res.out_len - keep
						 : "no output");
	sp_guest_exec_result_release(&res);
	return r;
}

/* B7: everything made, in reverse; the record goes last (invariant 3). */
static void teardown(struct boot *b, virConnectPtr conn)
{
	json_t *stats;

	if (b->d) {
		if (virDomainDestroy(b->d->dom) < 0 &&
		    virDomainIsActive(b->d->dom) == 1)
			sp_log(SP_LOG_ERR,
			       "verify-boot cannot destroy domain=%s: the "
			       "next run will",
			       b->dom_name);
		virDomainFree(b->d->dom);
		free(b->d->name);
		free(b->d);
		b->d = NULL;
	}
	if (b->served) {
		stats = sp_serve_stop_stats(b->served);
		if (stats && b->res)
			json_object_set_new(b->res, "served", stats);
		else
			json_decref(stats);
		b->served = NULL;
	}
	if (b->state) {
		sp_state_put_abort(b->state, true);
		sp_state_put_free(b->state);
		b->state = NULL;
	}
	if (b->dir_made && sp_remove_tree_at(AT_FDCWD, b->dir) < 0)
		sp_log(SP_LOG_ERR,
		       "verify-boot cannot remove dir=%s: the next "
		       "run will",
		       b->dir);
	else
		sp_boot_run_end(b->run);
	b->run = NULL;
	(void)conn;
}

static bool is_result(int code)
{
	return code == 0 || code == SP_E_BOOT_PROBE_FAILED ||
	       code == SP_E_BOOT_TIMEOUT || code == SP_E_BOOT_FAILED;
}

/* The note: what the run found out about the point (invariant 4). */
static int record(struct boot *b, int code, const struct sp_error *why,
		  struct sp_error *err)
{
	json_t *n =
	    json_pack("{s:O, s:O, s:O, s:O, s:O, s:O, s:O, s:I}", "time",
		      json_object_get(b->res, "time"), "passed",
		      json_object_get(b->res, "passed"), "rto_ms",
		      json_object_get(b->res, "rto_ms"), "boot_ms",
		      json_object_get(b->res, "boot_ms"), "probe",
		      json_object_get(b->res, "probe"), "exit_code",
		      json_object_get(b->res, "exit_code"), "domain",
		      json_object_get(b->res, "domain"), "timeout_s",
		      (json_int_t)(b->o->timeout_s ? b->o->timeout_s
						   : DEFAULT_TIMEOUT_S));
	int r;

	if (!n)
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	if (code < 0) {
		json_object_set_new(n, "error",
				    json_string(sp_errcode_name(code)));
		json_object_set_new(n, "message", json_string(why->msg));
	}
	r = sp_vault_point_note_put(b->v, b->name, b->id, NOTE_FILE, n, err);
	json_decref(n);
	return r;
}

static int load_config(struct boot *b, char **xml, size_t *len,
		       struct sp_error *err)
{
	const char *spec = b->o->spec;
	int r;

	if (!json_is_object(json_object_get(b->m, "source")) ||
	    !json_is_object(json_object_get(b->m, "config")))
		return sp_error_set(err, SP_E_USAGE,
				    "point '%s' is not of a libvirt domain (it "
				    "was made with --disk): only a domain's "
				    "point can be booted",
				    spec);
	r = sp_vault_point_get(b->v, b->name, b->id, "config", CONFIG_MAX, xml,
			       len, err);
	if (r == -ENOENT)
		return sp_error_set(err, SP_E_VAULT_IO,
				    "cannot read the definition stored in "
				    "point '%s': it is missing",
				    spec);
	return r;
}

static int boot_def(struct boot *b, virConnectPtr conn, const char *config,
		    size_t len, struct sp_error *err);

static int boot_and_probe(struct boot *b, virConnectPtr conn,
			  struct sp_error *err)
{
	sp_autofree char *config = NULL;
	struct sp_domain_def *def = NULL;
	size_t len = 0;
	int r;

	r = load_config(b, &config, &len, err);
	if (r == 0)
		r = sp_domain_def_parse(config, len, &def, err);
	if (r < 0)
		return r;
	b->def_type = def->type;
	r = boot_def(b, conn, config, len, err);
	b->def_type = NULL;
	sp_domain_def_free(def);
	return r;
}

static int boot_def(struct boot *b, virConnectPtr conn, const char *config,
		    size_t len, struct sp_error *err)
{
	int r;

	snprintf(b->dom_name, sizeof(b->dom_name), SP_BOOT_PREFIX "%.64s-%.8s",
		 b->name, b->id);
	json_object_set_new(b->res, "domain", json_string(b->dom_name));
	{
		virDomainPtr other = virDomainLookupByName(conn, b->dom_name);

		if (other) {
			virDomainFree(other);
			return sp_error_set(err, SP_E_DOMAIN_EXISTS,
					    "domain '%s' exists: a boot "
					    "verification of point '%s@%s' "
					    "is going on (wait for it)",
					    b->dom_name, b->name, b->id);
		}
	}
	/* swtpm's directory for the new UUID gets the point's TPM state */
	{
		struct sp_libvirt_dirs dirs;

		r = sp_new_domain_uuid(
		    conn,
		    sp_libvirt_dirs(sp_domain_default_uri(b->o->uri), &dirs,
				    NULL)
			? &dirs
			: NULL,
		    b->uuid, err);
	}
	if (r == 0)
		r = make_scratch(b, err);
	if (r == 0)
		r = serve(b, conn, err);
	if (r == 0)
		r = start(b, conn, config, len, err);
	if (r == 0)
		r = wait_agent(b, err);
	if (r < 0)
		return r;
	json_object_set_new(
	    b->res, "boot_ms",
	    json_integer((json_int_t)(sp_now_mono_ms() - b->t0)));
	if (b->o->probe)
		r = probe(b, err);
	return r;
}

int sp_verify_boot_run(struct sp_vault *v, const struct sp_verify_boot_opts *o,
		       json_t **result, struct sp_error *err)
{
	struct boot b = {.o = o, .v = v};
	struct sp_error why = {0}, rec = {0};
	virConnectPtr conn = NULL;
	json_t *cleaned = NULL;
	char runs[PATH_MAX], when[40];
	int r;

	*result = NULL;
	if (!o->spec || !o->vault_path)
		return sp_error_set(err, SP_E_USAGE,
				    "verify --boot needs a point: NAME[@ID]");
	/* B0: what killed runs left, before anything of ours */
	r = sp_boot_runs_clean(
	    sp_boot_runs_dir(o->runs_dir, runs, sizeof(runs)), &cleaned, err);
	if (r < 0)
		return r;
	b.t0 = sp_now_mono_ms();
	b.deadline =
	    b.t0 + 1000ull * (o->timeout_s ? o->timeout_s : DEFAULT_TIMEOUT_S);
	r = sp_vault_find_point(v, o->spec, &b.m, err);
	if (r < 0) {
		json_decref(cleaned);
		return r;
	}
	b.name = json_string_value(json_object_get(b.m, "name"));
	b.id = json_string_value(json_object_get(b.m, "id"));
	sp_time_rfc3339(time(NULL), when, sizeof(when));
	b.res =
	    json_pack("{s:s++, s:s, s:b, s:n, s:n, s:n, s:n, s:o}", "point",
		      b.name, "@", b.id, "time", when, "passed", 0, "rto_ms",
		      "boot_ms", "exit_code", "domain", "cleaned", cleaned);
	json_object_set_new(b.res, "probe",
			    o->probe ? json_string(o->probe) : json_null());
	r = sp_domain_connect(o->uri, &conn, err);
	if (r == 0)
		r = boot_and_probe(&b, conn, &why);
	else
		why = *err;
	if (r == 0) {
		json_object_set_new(b.res, "passed", json_true());
		json_object_set_new(
		    b.res, "rto_ms",
		    json_integer((json_int_t)(sp_now_mono_ms() - b.t0)));
	}
	teardown(&b, conn);
	if (conn)
		virConnectClose(conn);
	if (r < 0)
		json_object_set_new(b.res, "error",
				    json_string(sp_errcode_name(r)));
	if (is_result(r) && record(&b, r, &why, &rec) < 0) {
		sp_log(SP_LOG_ERR, "verify-boot cannot note point=%s@%s: %s",
		       b.name, b.id, rec.msg);
		if (r == 0) {
			r = rec.code;
			why = rec;
		}
	}
	json_object_set_new(b.res, "recorded",
			    json_boolean(is_result(r) && rec.code == 0));
	sp_log(SP_LOG_INFO,
	       "verify-boot done point=%s@%s passed=%s rto_ms=%lld code=%s",
	       b.name, b.id, r == 0 ? "yes" : "no",
	       (long long)json_integer_value(json_object_get(b.res, "rto_ms")),
	       r < 0 ? sp_errcode_name(r) : "-");
	json_decref(b.m);
	*result = b.res;
	if (r < 0 && err != &why)
		*err = why;
	return r;
}

int sp_verify_boot_cleanup(const char *runs_dir, json_t **cleaned,
			   struct sp_error *err)
{
	char runs[PATH_MAX];

	return sp_boot_runs_clean(
	    sp_boot_runs_dir(runs_dir, runs, sizeof(runs)), cleaned, err);
}

int sp_point_boot_verified(struct sp_vault *v, const char *name, const char *id,
			   json_t **ret, struct sp_error *err)
{
	return sp_vault_point_note_get(v, name, id, NOTE_FILE, ret, err);
}

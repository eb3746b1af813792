// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The appliance that reads a point's file systems (guest_fs.h).
 *
 * Invariants:
 *  1. Guest bytes reach only the appliance's kernel: drives are attached
 *     over NBD, read-only, and the host mounts nothing.
 *  2. At most one file system is mounted (at the appliance's "/"), always
 *     read-only; a journal that needs replaying is replayed into the
 *     appliance's throw-away overlay, never into the point.
 *  3. Every device name users see maps to one the appliance listed
 *     (list_devices, list_partitions, lvs): nothing else is mounted.
 *  4. No call waits on the appliance forever: when no call starts and no
 *     download makes progress for the idle timeout (600 s, or
 *     $STILLPOINT_FILES_IDLE_TIMEOUT), the appliance's QEMU is killed,
 *     the pending call fails, and the error says why.
 */
#include <ctype.h>
#include <pthread.h>
#include <signal.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <time.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "job/guest_fs.h"
#include "job/serve.h"
#include "util/cleanup.h"
#include "util/fault.h"
#include "util/fileio.h"
#include "util/log.h"
#include "util/text.h"

struct sp_guest_fs {
	guestfs_h *g;
	json_t *manifest; /* borrowed */
	char **devs;	  /* appliance devices, in export order */
	char **exports;	  /* the export (disk) names, same order */
	size_t ndevs;
	char *mounted;	/* appliance device mounted at "/", or NULL */
	char name[300]; /* the user-facing name of the last resolve */
	const char *accel;

	/* The idle watchdog (invariant 4). */
	pthread_t wd;
	bool wd_running;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stop, timed_out;
	uint64_t last_ms;
	unsigned idle_s;
	pid_t qemu;
};

static void strv_free(char **v)
{
	if (!v)
		return;
	for (size_t i = 0; v[i]; i++)
		free(v[i]);
	free(v);
}

static int gfs_error(guestfs_h *g, struct sp_error *err, int code,
		     const char *what)
{
	const char *m = g ? guestfs_last_error(g) : NULL;

	return sp_error_set(err, code, "%s: %s", what,
			    m ? m : "libguestfs gave no reason");
}

/*
 * KVM or TCG.  $STILLPOINT_FILES_ACCEL=kvm|tcg decides; else KVM only when
 * /dev/kvm opens and the host is not itself a virtual machine: nested KVM
 * often opens and runs a trivial vCPU, then hangs the appliance's boot for
 * good, and a hang is worse than TCG's slower launch.
 */
static const char *pick_accel(void)
{
	const char *e = getenv("STILLPOINT_FILES_ACCEL");
	sp_autofree char *line = NULL;
	size_t cap = 0;
	bool nested = false;
	FILE *f;
	int fd;

	if (e && (!strcmp(e, "kvm") || !strcmp(e, "tcg")))
		return e[0] == 'k' ? "kvm" : "tcg";
	fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return "tcg";
	close(fd);
	f = fopen("/proc/cpuinfo", "re");
	if (!f)
		return "tcg";
	while (!nested && getline(&line, &cap, f) > 0)
		if (!strncmp(line, "flags", 5) && strstr(line, " hypervisor"))
			nested = true;
	fclose(f);
	return nested ? "tcg" : "kvm";
}

#define DEFAULT_IDLE_S 600

/* Every call entered and every progress report of a download. */
static void on_activity(guestfs_h *g, void *opaque, uint64_t event,
			int event_handle, int flags, const char *buf,
			size_t buf_len, const uint64_t *array, size_t array_len)
{
	struct sp_guest_fs *gf = opaque;

	pthread_mutex_lock(&gf->mu);
	gf->last_ms = sp_now_mono_ms();
	pthread_mutex_unlock(&gf->mu);
}

static void *watchdog(void *arg)
{
	struct sp_guest_fs *gf = arg;

	pthread_mutex_lock(&gf->mu);
	while (!gf->stop) {
		uint64_t due = gf->last_ms + (uint64_t)gf->idle_s * 1000;
		uint64_t now = sp_now_mono_ms();
		struct timespec ts;

		if (now >= due) {
			gf->timed_out = true;
			sp_log(SP_LOG_WARNING,
			       "appliance idle for %us: stopping it pid=%d",
			       gf->idle_s, (int)gf->qemu);
			kill(gf->qemu, SIGKILL);
			break;
		}
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += (time_t)((due - now) / 1000) + 1;
		pthread_cond_timedwait(&gf->cv, &gf->mu, &ts);
	}
	pthread_mutex_unlock(&gf->mu);
	return NULL;
}

static void watchdog_start(struct sp_guest_fs *gf)
{
	const char *e = getenv("STILLPOINT_FILES_IDLE_TIMEOUT");
	long v = e ? strtol(e, NULL, 10) : 0;
	int pid = guestfs_get_pid(gf->g);

	gf->idle_s = v > 0 ? (unsigned)v : DEFAULT_IDLE_S;
	if (pid <= 0)
		return;
	gf->qemu = (pid_t)pid;
	gf->last_ms = sp_now_mono_ms();
	if (guestfs_set_event_callback(
		gf->g, on_activity,
		GUESTFS_EVENT_ENTER | GUESTFS_EVENT_PROGRESS, 0, gf) < 0)
		return;
	gf->wd_running = pthread_create(&gf->wd, NULL, watchdog, gf) == 0;
}

static void watchdog_stop(struct sp_guest_fs *gf)
{
	if (!gf->wd_running)
		return;
	pthread_mutex_lock(&gf->mu);
	gf->stop = true;
	pthread_cond_signal(&gf->cv);
	pthread_mutex_unlock(&gf->mu);
	pthread_join(gf->wd, NULL);
	gf->wd_running = false;
}

bool sp_guest_fs_timed_out(struct sp_guest_fs *gf, unsigned *idle_s)
{
	bool t;

	pthread_mutex_lock(&gf->mu);
	t = gf->timed_out;
	pthread_mutex_unlock(&gf->mu);
	*idle_s = gf->idle_s;
	return t;
}

#define APPLIANCE_KERNELS "/var/cache/stillpoint/appliance-kernel"
#define APPLIANCE_CACHE "/var/cache/stillpoint/appliance"

/*
 * The appliance's kernel.  libguestfs builds its appliance from the
 * host's /boot/vmlinuz-* and /lib/modules; a host without one (a
 * container) uses the kernel tools/appliance-kernel.sh unpacked, told to
 * supermin through its SUPERMIN_* variables, and an appliance cache of
 * our own so that it never mixes with one built from another kernel.
 * Returns false when the host's kernel serves.
 */
static bool pick_kernel(guestfs_h *g)
{
	sp_autofree char *k = NULL, *m = NULL;
	struct dirent *e;
	char ver[256] = "";
	DIR *d;

	if (getenv("SUPERMIN_KERNEL"))
		return false;
	d = opendir("/boot");
	while (d && (e = readdir(d)))
		if (!strncmp(e->d_name, "vmlinuz-", 8)) {
			closedir(d);
			return false;
		}
	if (d)
		closedir(d);
	d = opendir(APPLIANCE_KERNELS);
	while (d && (e = readdir(d))) {
		if (strncmp(e->d_name, "linux-image-", 12))
			continue;
		/* linux-image-VERSION: the newest name sorts last enough
		 * for Debian's versions; one is all setup unpacks. */
		if (strcmp(e->d_name + 12, ver) > 0)
			snprintf(ver, sizeof(ver), "%s", e->d_name + 12);
	}
	if (d)
		closedir(d);
	if (!ver[0])
		return false;
	if (asprintf(&k, APPLIANCE_KERNELS "/linux-image-%s/boot/vmlinuz-%s",
		     ver, ver) < 0 ||
	    asprintf(&m, APPLIANCE_KERNELS "/linux-image-%s/lib/modules/%s",
		     ver, ver) < 0 ||
	    access(k, R_OK) < 0)
		return false;
	setenv("SUPERMIN_KERNEL", k, 1);
	setenv("SUPERMIN_MODULES", m, 1);
	setenv("SUPERMIN_KERNEL_VERSION", ver, 1);
	if (sp_mkdir_parents(APPLIANCE_CACHE) == 0)
		guestfs_set_cachedir(g, APPLIANCE_CACHE);
	sp_log(SP_LOG_INFO, "appliance kernel=%s", k);
	return true;
}

int sp_guest_fs_open(const struct sp_served *s, json_t *manifest,
		     struct sp_guest_fs **ret, struct sp_error *err)
{
	struct sp_guest_fs *gf = calloc(1, sizeof(*gf));
	size_t n = json_array_size(s->exports), i;
	sp_autofree char *server = NULL;
	uint64_t t0 = sp_now_mono_ms();
	json_t *x;
	int r;

	if (!gf)
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	gf->manifest = manifest;
	pthread_mutex_init(&gf->mu, NULL);
	pthread_cond_init(&gf->cv, NULL);
	gf->g = guestfs_create_flags(GUESTFS_CREATE_NO_ENVIRONMENT);
	if (!gf->g) {
		free(gf);
		return sp_error_set(err, SP_E_GUESTFS_FAILED,
				    "cannot create a libguestfs handle (is "
				    "libguestfs installed?)");
	}
	guestfs_set_error_handler(gf->g, NULL, NULL);
	if (getenv("LIBGUESTFS_DEBUG") || getenv("LIBGUESTFS_TRACE"))
		guestfs_parse_environment(gf->g);
	/* The direct backend: QEMU run by this process, not through a
	 * libvirt daemon (which may run it as another user, unable to reach
	 * the socket), and gone with it. */
	guestfs_set_backend(gf->g, "direct");
	gf->accel = pick_accel();
	pick_kernel(gf->g);
	if (!strcmp(gf->accel, "tcg"))
		guestfs_set_backend_setting(gf->g, "force_tcg", "1");
	gf->exports = calloc(n + 1, sizeof(char *));
	if (!gf->exports || asprintf(&server, "unix:%s", s->socket) < 0) {
		sp_guest_fs_close(gf);
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	}
	json_array_foreach(s->exports, i, x)
	{
		const char *name =
		    json_string_value(json_object_get(x, "export"));
		const char *servers[] = {server, NULL};

		gf->exports[i] = strdup(name ? name : "");
		if (!gf->exports[i]) {
			sp_guest_fs_close(gf);
			return sp_error_set(err, SP_E_NOMEM, "out of memory");
		}
		r = guestfs_add_drive_opts(
		    gf->g, gf->exports[i], GUESTFS_ADD_DRIVE_OPTS_READONLY, 1,
		    GUESTFS_ADD_DRIVE_OPTS_FORMAT, "raw",
		    GUESTFS_ADD_DRIVE_OPTS_PROTOCOL, "nbd",
		    GUESTFS_ADD_DRIVE_OPTS_SERVER, servers, -1);
		if (r < 0) {
			r = gfs_error(gf->g, err, SP_E_GUESTFS_FAILED,
				      "cannot attach a disk of the point");
			sp_guest_fs_close(gf);
			return r;
		}
	}
	if (guestfs_launch(gf->g) < 0) {
		r = gfs_error(gf->g, err, SP_E_GUESTFS_FAILED,
			      "the file-reading appliance did not start "
			      "(try STILLPOINT_FILES_ACCEL=tcg; "
			      "LIBGUESTFS_DEBUG=1 shows its boot)");
		sp_guest_fs_close(gf);
		return r;
	}
	watchdog_start(gf);
	sp_log(SP_LOG_INFO, "appliance up accel=%s disks=%zu ms=%llu",
	       gf->accel, n, (unsigned long long)(sp_now_mono_ms() - t0));
	gf->devs = guestfs_list_devices(gf->g);
	for (gf->ndevs = 0; gf->devs && gf->devs[gf->ndevs]; gf->ndevs++)
		;
	if (!gf->devs || gf->ndevs != n) {
		sp_guest_fs_close(gf);
		return sp_error_set(err, SP_E_GUESTFS_FAILED,
				    "the appliance shows %zu disks, the point "
				    "served %zu",
				    gf->ndevs, n);
	}
	sp_test_hold("appliance");
	*ret = gf;
	return 0;
}

void sp_guest_fs_close(struct sp_guest_fs *gf)
{
	if (!gf)
		return;
	watchdog_stop(gf);
	if (gf->g) {
		guestfs_shutdown(gf->g);
		guestfs_close(gf->g);
	}
	strv_free(gf->devs);
	strv_free(gf->exports);
	free(gf->mounted);
	pthread_mutex_destroy(&gf->mu);
	pthread_cond_destroy(&gf->cv);
	free(gf);
}

guestfs_h *sp_guest_fs_handle(struct sp_guest_fs *gf)
{
	return gf->g;
}

const char *sp_guest_fs_accel(const struct sp_guest_fs *gf)
{
	return gf->accel;
}

/* ---- names ------------------------------------------------------------- */

/* The user-facing name of appliance device @dev into @out. */
static void dev_to_name(struct sp_guest_fs *gf, const char *dev, char *out,
			size_t cap)
{
	for (size_t i = 0; i < gf->ndevs; i++) {
		size_t l = strlen(gf->devs[i]);

		if (strncmp(dev, gf->devs[i], l))
			continue;
		if (!dev[l]) {
			snprintf(out, cap, "%s:", gf->exports[i]);
			return;
		}
		if (isdigit((unsigned char)dev[l])) {
			snprintf(out, cap, "%s:%s", gf->exports[i], dev + l);
			return;
		}
	}
	if (!strncmp(dev, "/dev/", 5) && strchr(dev + 5, '/')) {
		snprintf(out, cap, "lvm:%s", dev + 5);
		return;
	}
	snprintf(out, cap, "%s", dev);
}

/* Is @dev among the devices the appliance listed (invariant 3)? */
static bool dev_known(struct sp_guest_fs *gf, const char *dev)
{
	char **l;
	bool found = false;

	for (size_t i = 0; i < gf->ndevs; i++)
		if (!strcmp(gf->devs[i], dev))
			return true;
	l = guestfs_list_partitions(gf->g);
	for (size_t i = 0; l && l[i]; i++)
		found = found || !strcmp(l[i], dev);
	strv_free(l);
	if (found)
		return true;
	l = guestfs_lvs(gf->g);
	for (size_t i = 0; l && l[i]; i++)
		found = found || !strcmp(l[i], dev);
	strv_free(l);
	return found;
}

/* "vdb" + "1" -> "/dev/sdb1", "lvm" + "vg/lv" -> "/dev/vg/lv". */
static int name_to_dev(struct sp_guest_fs *gf, const char *disk,
		       const char *part, char *out, size_t cap,
		       struct sp_error *err)
{
	if (!strcmp(disk, "lvm")) {
		if (!*part || strstr(part, "..") || part[0] == '/' ||
		    !strchr(part, '/'))
			return sp_error_set(err, SP_E_GUEST_DISK_NOT_FOUND,
					    "'lvm:%s' is not a logical volume "
					    "(write lvm:VG/LV)",
					    part);
		snprintf(out, cap, "/dev/%s", part);
		if (!dev_known(gf, out))
			return sp_error_set(err, SP_E_GUEST_DISK_NOT_FOUND,
					    "no logical volume '%s' in the "
					    "point (list them with "
					    "'stillpoint files NAME')",
					    part);
		return 0;
	}
	for (size_t i = 0; i < gf->ndevs; i++) {
		if (strcmp(gf->exports[i], disk))
			continue;
		for (const char *p = part; *p; p++)
			if (!isdigit((unsigned char)*p))
				return sp_error_set(
				    err, SP_E_GUEST_DISK_NOT_FOUND,
				    "partition '%s' of disk '%s' is not a "
				    "number (write DISK:N:/path, or "
				    "DISK::/path "
				    "for a disk without partitions)",
				    part, disk);
		snprintf(out, cap, "%s%s", gf->devs[i], part);
		if (!dev_known(gf, out))
			return sp_error_set(err, SP_E_GUEST_DISK_NOT_FOUND,
					    "disk '%s' has no partition %s "
					    "(list them with 'stillpoint files "
					    "NAME')",
					    disk, part);
		return 0;
	}
	return sp_error_set(err, SP_E_GUEST_DISK_NOT_FOUND,
			    "the point has no disk '%s' (its disks are "
			    "listed by 'stillpoint points NAME')",
			    disk);
}

/* ---- the mount map ----------------------------------------------------- */

/* The entry of the mount map whose mount point is the longest prefix of
 * @path; *@rest: the path below it. */
static json_t *map_lookup(json_t *map, const char *path, const char **rest)
{
	json_t *best = NULL, *m;
	size_t best_len = 0, i;

	json_array_foreach(map, i, m)
	{
		const char *mp =
		    json_string_value(json_object_get(m, "mountpoint"));
		size_t l = mp ? strlen(mp) : 0;

		if (!mp || mp[0] != '/')
			continue;
		if (!strcmp(mp, "/"))
			l = 0;
		if (strncmp(path, mp, l) || (path[l] && path[l] != '/'))
			continue;
		if (!best || l > best_len) {
			best = m;
			best_len = l;
		}
	}
	if (best)
		*rest = path[best_len] ? path + best_len : "/";
	return best;
}

static int map_entry_dev(struct sp_guest_fs *gf, json_t *m, char *out,
			 size_t cap, struct sp_error *err)
{
	const char *lv = json_string_value(json_object_get(m, "lvm"));
	json_t *disks = json_object_get(m, "disks");
	json_t *part = json_object_get(m, "partition");
	char num[24] = "";

	if (lv)
		return name_to_dev(gf, "lvm", lv, out, cap, err);
	if (json_array_size(disks) != 1 ||
	    !json_is_string(json_array_get(disks, 0)))
		return sp_error_set(
		    err, SP_E_GUEST_DISK_NOT_FOUND,
		    "the guest's '%s' (%s) is not on one disk of the point "
		    "(give DISK:PARTITION:/path)",
		    json_string_value(json_object_get(m, "mountpoint")),
		    json_string_value(json_object_get(m, "name")));
	if (json_is_integer(part))
		snprintf(num, sizeof(num), "%lld",
			 (long long)json_integer_value(part));
	return name_to_dev(gf, json_string_value(json_array_get(disks, 0)), num,
			   out, cap, err);
}

/* ---- mounting ---------------------------------------------------------- */

static int mount_ro(struct sp_guest_fs *gf, const char *dev,
		    struct sp_error *err)
{
	/* "ro" replays a dirty journal into the overlay (invariant 2); a
	 * journal the kernel cannot replay is skipped as a last resort. */
	static const char *const tries[] = {"ro", "ro,norecovery", "ro,noload"};
	sp_autofree char *first = NULL;

	if (gf->mounted && !strcmp(gf->mounted, dev))
		return 0;
	if (gf->mounted) {
		guestfs_umount_all(gf->g);
		free(gf->mounted);
		gf->mounted = NULL;
	}
	for (size_t i = 0; i < SP_ARRAY_SIZE(tries); i++) {
		if (guestfs_mount_options(gf->g, tries[i], dev, "/") == 0) {
			gf->mounted = strdup(dev);
			if (!gf->mounted)
				return sp_error_set(err, SP_E_NOMEM,
						    "out of memory");
			return 0;
		}
		if (!first) {
			const char *m = guestfs_last_error(gf->g);
			first = strdup(m ? m : "no reason given");
		}
	}
	return sp_error_set(
	    err, SP_E_GUEST_FS_NOT_FOUND,
	    "no file system can be read on '%s': %s (list "
	    "what the point holds with 'stillpoint files NAME')",
	    gf->name, first ? first : "");
}

int sp_guest_fs_resolve(struct sp_guest_fs *gf, const char *path, char **inner,
			const char **device, struct sp_error *err)
{
	char dev[300];
	const char *rest = NULL;
	int r;

	if (path[0] == '/') {
		json_t *map = json_object_get(gf->manifest, "guest_mounts");
		json_t *m;

		if (!json_array_size(map))
			return sp_error_set(
			    err, SP_E_GUEST_PATH_UNMAPPED,
			    "'%s': the point has no mount map (its guest agent "
			    "did not answer at backup); write "
			    "DISK:PARTITION:/path, e.g. vda:1:%s",
			    path, path);
		m = map_lookup(map, path, &rest);
		if (!m)
			return sp_error_set(err, SP_E_GUEST_PATH_UNMAPPED,
					    "'%s' is on no file system the "
					    "guest had mounted (write "
					    "DISK:PARTITION:/path)",
					    path);
		r = map_entry_dev(gf, m, dev, sizeof(dev), err);
		if (r < 0)
			return r;
	} else {
		/* DISK:PARTITION:/path */
		const char *c1 = strchr(path, ':');
		const char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		sp_autofree char *disk = NULL, *part = NULL;

		if (!c1 || !c2 || c2[1] != '/')
			return sp_error_set(err, SP_E_USAGE,
					    "'%s' is neither a guest path "
					    "(/...) nor DISK:PARTITION:/path "
					    "(e.g. vdb:1:/etc/hosts, "
					    "vda::/log)",
					    path);
		disk = strndup(path, (size_t)(c1 - path));
		part = strndup(c1 + 1, (size_t)(c2 - c1 - 1));
		if (!disk || !part)
			return sp_error_set(err, SP_E_NOMEM, "out of memory");
		r = name_to_dev(gf, disk, part, dev, sizeof(dev), err);
		if (r < 0)
			return r;
		rest = c2 + 1;
	}
	dev_to_name(gf, dev, gf->name, sizeof(gf->name));
	r = mount_ro(gf, dev, err);
	if (r < 0)
		return r;
	*inner = strdup(rest);
	if (!*inner)
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	*device = gf->name;
	return 0;
}

/* ---- listing ----------------------------------------------------------- */

static const char *mountpoint_of(struct sp_guest_fs *gf, const char *dev)
{
	json_t *map = json_object_get(gf->manifest, "guest_mounts"), *m;
	struct sp_error e;
	char d[300];
	size_t i;

	json_array_foreach(map, i, m)
	{
		if (map_entry_dev(gf, m, d, sizeof(d), &e) == 0 &&
		    !strcmp(d, dev))
			return json_string_value(
			    json_object_get(m, "mountpoint"));
	}
	return NULL;
}

int sp_guest_fs_list(struct sp_guest_fs *gf, json_t **ret, struct sp_error *err)
{
	char **fs = guestfs_list_filesystems(gf->g);
	json_t *out = json_array();
	char name[300];

	if (!fs || !out) {
		json_decref(out);
		strv_free(fs);
		return gfs_error(gf->g, err, SP_E_GUESTFS_FAILED,
				 "cannot list the point's file systems");
	}
	for (size_t i = 0; fs[i] && fs[i + 1]; i += 2) {
		const char *dev = fs[i], *type = fs[i + 1];
		char *label = NULL, *uuid = NULL;
		const char *mp;

		/* Not file systems: swap, LVM's own volumes, nothing known. */
		if (!strcmp(type, "unknown") || !strcmp(type, "swap"))
			continue;
		mp = mountpoint_of(gf, dev);
		label = guestfs_vfs_label(gf->g, dev);
		uuid = guestfs_vfs_uuid(gf->g, dev);
		dev_to_name(gf, dev, name, sizeof(name));
		json_array_append_new(
		    out,
		    json_pack("{s:s, s:s, s:s?, s:s?, s:s?}", "device", name,
			      "type", type, "label",
			      label && *label ? label : NULL, "uuid",
			      uuid && *uuid ? uuid : NULL, "mountpoint", mp));
		free(label);
		free(uuid);
	}
	strv_free(fs);
	*ret = out;
	return 0;
}

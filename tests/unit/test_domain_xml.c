// SPDX-License-Identifier: LGPL-2.1-or-later
/* Domain XML: disks are read in order with their fields and exclusions;
 * the restore rewrite renames, forgets uuid and MACs, points mapped disks
 * at new files and keeps everything else; hostile or broken documents are
 * refused with SP_E_LIBVIRT, quickly, and libxml2 prints nothing. */
#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>

#include "domain/domain_xml.h"
#include "harness.h"
#include "util/cleanup.h"

static char *load_path(const char *path, size_t *len)
{
	char *buf;
	FILE *f;
	long n;

	f = fopen(path, "rb");
	if (!f) {
		perror(path);
		exit(99);
	}
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n)
		exit(99);
	fclose(f);
	buf[n] = '\0';
	*len = (size_t)n;
	return buf;
}

static char *load(const char *name, size_t *len)
{
	const char *top = getenv("SP_TOP");
	char path[1024];

	snprintf(path, sizeof(path), "%s/tests/data/domain/%s", top ? top : ".",
		 name);
	return load_path(path, len);
}

static struct sp_domain_def *parse_str(const char *xml, size_t len)
{
	struct sp_domain_def *def = NULL;
	struct sp_error err;

	CHECK_OK(sp_domain_def_parse(xml, len, &def, &err), &err);
	if (!def)
		exit(1);
	return def;
}

static struct sp_domain_def *parse_file(const char *name)
{
	struct sp_domain_def *def;
	size_t len;
	char *xml = load(name, &len);

	def = parse_str(xml, len);
	free(xml);
	return def;
}

/* Everything written to fd 2 between capture and release must be nothing:
 * libxml2 prints its parse errors there unless told not to. */
static int saved_stderr = -1;
static char captured[512];

static void stderr_capture(void)
{
	int fd;

	snprintf(captured, sizeof(captured), "%s/stderr", sp_test_tmpdir());
	fflush(stderr);
	saved_stderr = dup(2);
	fd = open(captured, O_CREAT | O_TRUNC | O_WRONLY, 0600);
	if (saved_stderr < 0 || fd < 0 || dup2(fd, 2) < 0)
		exit(99);
	close(fd);
}

static void stderr_release_expect_empty(void)
{
	struct stat st;
	size_t len;
	char *text;

	fflush(stderr);
	dup2(saved_stderr, 2);
	close(saved_stderr);
	if (stat(captured, &st) != 0)
		exit(99);
	if (st.st_size != 0) {
		text = load_path(captured, &len);
		fprintf(stderr, "printed on stderr:\n%s\n", text);
		free(text);
	}
	CHECK_INT(st.st_size, 0);
}

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;

	while ((hay = strstr(hay, needle))) {
		n++;
		hay += strlen(needle);
	}
	return n;
}

#define CHECK_NULL(p) CHECK((p) == NULL)

static void test_parse_two_disks_and_cdrom(void)
{
	struct sp_domain_def *def = parse_file("web01.xml");
	struct sp_domain_disk *d = def->disks;

	CHECK_STR(def->name, "web01");
	CHECK_STR(def->uuid, "4dea22b3-1d52-d8f3-2516-782e98ab3fa0");
	CHECK_STR(def->type, "kvm");
	CHECK_INT(def->ninterfaces, 1);
	CHECK_INT(def->ndisks, 3);
	if (def->ndisks != 3)
		exit(1);

	CHECK_STR(d[0].target, "vda");
	CHECK_STR(d[0].bus, "virtio");
	CHECK_STR(d[0].device, "disk");
	CHECK_STR(d[0].type, "file");
	CHECK_STR(d[0].source, "/var/lib/libvirt/images/web01.qcow2");
	CHECK_STR(d[0].format, "qcow2");
	CHECK(!d[0].readonly && !d[0].shareable && !d[0].transient);
	CHECK(!d[0].backup_no);
	CHECK_NULL(d[0].why_excluded);

	CHECK_STR(d[1].target, "vdb");
	CHECK_STR(d[1].source, "/var/lib/libvirt/images/web01-data.qcow2");
	CHECK_STR(d[1].format, "qcow2");
	CHECK(!d[1].backup_no);

	CHECK_STR(d[2].target, "sda");
	CHECK_STR(d[2].bus, "sata");
	CHECK_STR(d[2].device, "cdrom");
	CHECK_STR(d[2].format, "raw");
	CHECK_STR(d[2].source,
		  "/var/lib/libvirt/boot/debian-12.2.0-amd64-netinst.iso");
	CHECK(d[2].readonly);
	/* a cdrom with media is backed up: the guest cannot change it */
	CHECK(!d[2].backup_no);
	CHECK_NULL(d[2].why_excluded);
	CHECK(d[2].media);
	CHECK(!d[0].media && !d[1].media);
	CHECK(!sp_domain_disk_keeps_bitmap(&d[2], NULL));
	sp_domain_def_free(def);
}

static void test_parse_storage_kinds(void)
{
	struct sp_domain_def *def = parse_file("db01.xml");
	struct sp_domain_disk *d = def->disks;

	CHECK_STR(def->name, "db01");
	CHECK_INT(def->ninterfaces, 2);
	CHECK_INT(def->ndisks, 5);
	if (def->ndisks != 5)
		exit(1);

	/* a backing chain does not change what is backed up */
	CHECK_STR(d[0].target, "vda");
	CHECK_STR(d[0].source, "/var/lib/libvirt/images/db01-root.qcow2");
	CHECK(!d[0].backup_no);

	CHECK_STR(d[1].target, "vdb");
	CHECK_STR(d[1].type, "network");
	CHECK_NULL(d[1].source);
	CHECK_STR(d[1].format, "raw");
	CHECK(d[1].backup_no);
	CHECK_STR(d[1].why_excluded,
		  "network disk (protocol rbd): only nbd network disks are "
		  "read");
	CHECK_STR(d[1].protocol, "rbd");
	CHECK_STR(d[1].net_source, "rbd://ceph-mon1.example.net:6789/"
				   "vms/db01-data");

	CHECK_STR(d[2].target, "sda");
	CHECK_STR(d[2].device, "lun");
	CHECK_STR(d[2].type, "block");
	CHECK_STR(d[2].bus, "scsi");
	CHECK_STR(d[2].source,
		  "/dev/disk/by-id/scsi-36001405a1b2c3d4e5f60718293a4b5c6");
	CHECK(d[2].backup_no);
	CHECK_STR(
	    d[2].why_excluded,
	    "pass-through LUN: only a backup inside the guest reaches it");

	/* shareable disks are backed up; the caller reports them */
	CHECK_STR(d[3].target, "vdc");
	CHECK(d[3].shareable);
	CHECK(!d[3].backup_no);
	CHECK_NULL(d[3].why_excluded);

	CHECK_STR(d[4].target, "vdd");
	CHECK_STR(d[4].type, "block");
	CHECK_STR(d[4].source, "/dev/vg0/db01-wal");
	CHECK_STR(d[4].format, "raw");
	CHECK(!d[4].backup_no);
	sp_domain_def_free(def);
}

/* Only qcow2 keeps a checkpoint bitmap, on a file or a block device; a
 * disk without <driver type> runs raw. */
static void test_keeps_bitmap(void)
{
	static const char xml[] =
	    "<domain><name>mix</name><devices>"
	    "<disk type='file' device='disk'><driver type='qcow2'/>"
	    "<source file='/i/a.qcow2'/><target dev='vda'/></disk>"
	    "<disk type='file' device='disk'><driver type='raw'/>"
	    "<source file='/i/b.raw'/><target dev='vdb'/></disk>"
	    "<disk type='block' device='disk'><driver type='raw'/>"
	    "<source dev='/dev/loop7'/><target dev='vdc'/></disk>"
	    "<disk type='block' device='disk'><driver type='qcow2'/>"
	    "<source dev='/dev/vg/lv'/><target dev='vdd'/></disk>"
	    "<disk type='file' device='disk'>"
	    "<source file='/i/e.img'/><target dev='vde'/></disk>"
	    "<disk type='file' device='disk'><driver type='vmdk'/>"
	    "<source file='/i/f.vmdk'/><target dev='vdf'/></disk>"
	    "<disk type='file' device='disk'><driver type='qcow2'/>"
	    "<source file='/i/g.qcow2'><dataStore type='file'>"
	    "<format type='raw'/><source file='/i/g.raw'/></dataStore>"
	    "</source><target dev='vdg'/></disk>"
	    "</devices></domain>";
	struct sp_domain_def *def = parse_str(xml, sizeof(xml) - 1);
	const struct sp_domain_disk *d = def->disks;
	const char *why = NULL;

	CHECK_INT(def->ndisks, 7);
	if (def->ndisks != 7)
		exit(1);
	CHECK(sp_domain_disk_keeps_bitmap(&d[0], &why));
	CHECK_NULL(why);
	CHECK(!sp_domain_disk_keeps_bitmap(&d[1], &why));
	CHECK_STR(why, "raw file keeps no checkpoint bitmap (only qcow2 can)");
	CHECK(!sp_domain_disk_keeps_bitmap(&d[2], &why));
	CHECK_STR(why, "raw block device keeps no checkpoint bitmap (only "
		       "qcow2 can)");
	why = NULL;
	CHECK(sp_domain_disk_keeps_bitmap(&d[3], &why));
	CHECK_NULL(why);
	CHECK(!sp_domain_disk_keeps_bitmap(&d[4], &why));
	CHECK_STR(why, "raw file keeps no checkpoint bitmap (only qcow2 can)");
	CHECK(!sp_domain_disk_keeps_bitmap(&d[5], NULL));
	CHECK(!sp_domain_disk_keeps_bitmap(&d[5], &why));
	CHECK_STR(why,
		  "its format keeps no checkpoint bitmap (only qcow2 can)");
	/* a raw disk given a qcow2 metadata image keeps one */
	CHECK(sp_domain_disk_keeps_bitmap(&d[6], NULL));
	CHECK_STR(d[6].source, "/i/g.qcow2");
	sp_domain_def_free(def);
}

static void test_parse_exclusions(void)
{
	static const struct {
		const char *target, *why;
	} want[] = {
	    {"hda", NULL},
	    {"hdc", "empty drive"},
	    {"fda", NULL},
	    {"vda", NULL},
	    {"vdb", NULL},
	    {"vdc", "disk type 'volume' is not supported by pull-mode backup"},
	    {"vdd",
	     "network disk (protocol iscsi): only nbd network disks are read"},
	    {"vde", "empty drive"},
	};
	struct sp_domain_def *def = parse_file("lab01.xml");
	size_t i;

	CHECK_STR(def->type, "qemu");
	CHECK_INT(def->ninterfaces, 0);
	CHECK_INT(def->ndisks, SP_ARRAY_SIZE(want));
	if (def->ndisks != SP_ARRAY_SIZE(want))
		exit(1);
	for (i = 0; i < def->ndisks; i++) {
		struct sp_domain_disk *d = &def->disks[i];

		CHECK_STR(d->target, want[i].target);
		CHECK_INT(d->backup_no, want[i].why != NULL);
		if (want[i].why)
			CHECK_STR(d->why_excluded, want[i].why);
		else
			CHECK_NULL(d->why_excluded);
	}
	CHECK_NULL(def->disks[1].source); /* empty cdrom */
	CHECK_NULL(def->disks[5].source); /* volume */
	CHECK_NULL(def->disks[7].source); /* dev='' */
	CHECK(def->disks[4].transient);	  /* backed up anyway */
	CHECK_STR(def->disks[2].device, "floppy");
	/* the floppy and the read-only disk are read-only media, whose
	 * qcow2 cannot keep a bitmap (QEMU opens it read-only) */
	CHECK(def->disks[2].media && def->disks[3].media);
	CHECK(!def->disks[0].media && !def->disks[4].media);
	CHECK(!sp_domain_disk_keeps_bitmap(&def->disks[3], NULL));
	sp_domain_def_free(def);
}

/* An nbd network disk is backed up (through the running domain's backup
 * job); its source is named as an NBD URI. */
static void test_parse_nbd(void)
{
	static const char xml[] =
	    "<domain><name>net</name><devices>"
	    "<disk type='network' device='disk'><driver type='raw'/>"
	    "<source protocol='nbd' name='exp'>"
	    "<host transport='unix' socket='/run/n.sock'/></source>"
	    "<target dev='vda'/></disk>"
	    "<disk type='network' device='disk'>"
	    "<source protocol='nbd' name='e2'>"
	    "<host name='10.0.0.5' port='10809'/></source>"
	    "<target dev='vdb'/></disk>"
	    "<disk type='network' device='cdrom'>"
	    "<source protocol='https' name='/isos/d.iso'>"
	    "<host name='mirror.example.net'/></source>"
	    "<target dev='sda'/></disk>"
	    "</devices></domain>";
	struct sp_domain_def *def = parse_str(xml, strlen(xml));
	const char *why = NULL;

	CHECK_INT(def->ndisks, 3);
	if (def->ndisks != 3)
		exit(1);
	CHECK(!def->disks[0].backup_no);
	CHECK_NULL(def->disks[0].source);
	CHECK_STR(def->disks[0].protocol, "nbd");
	CHECK_STR(def->disks[0].net_source,
		  "nbd+unix:///exp?socket=/run/n.sock");
	CHECK(!sp_domain_disk_keeps_bitmap(&def->disks[0], &why));
	CHECK_STR(why, "network disk keeps no checkpoint bitmap here (read in "
		       "full, compared by chunk hash)");
	CHECK(!def->disks[1].backup_no);
	CHECK_STR(def->disks[1].net_source, "nbd://10.0.0.5:10809/e2");
	CHECK(def->disks[2].backup_no);
	CHECK_STR(def->disks[2].why_excluded,
		  "network disk (protocol https): only nbd network disks are "
		  "read");
	sp_domain_def_free(def);
}

static void test_parse_defaults(void)
{
	static const char xml[] =
	    "<domain><name>tiny</name><devices>"
	    "<disk><source file='/a.img'/><target dev='vda'/></disk>"
	    "<disk type='file'><target dev='vdb'/></disk>"
	    "<disk type='network'><source protocol='zz'/>"
	    "<target dev='vdc'/></disk>"
	    "</devices><devices><interface type='user'/></devices></domain>";
	struct sp_domain_def *def = parse_str(xml, strlen(xml));

	CHECK_STR(def->name, "tiny");
	CHECK_NULL(def->uuid);
	CHECK_NULL(def->type);
	CHECK_INT(def->ninterfaces, 1);
	CHECK_INT(def->ndisks, 3);
	if (def->ndisks != 3)
		exit(1);
	CHECK_STR(def->disks[0].device, "disk");
	CHECK_STR(def->disks[0].type, "file");
	CHECK_STR(def->disks[0].source, "/a.img");
	CHECK_NULL(def->disks[0].bus);
	CHECK_NULL(def->disks[0].format);
	CHECK(!def->disks[0].backup_no);
	CHECK_STR(def->disks[1].why_excluded, "empty drive");
	CHECK_STR(def->disks[2].why_excluded,
		  "network disk: only nbd network disks are read");
	sp_domain_def_free(def);
}

static char *restore(const char *file, const char *name,
		     const struct sp_domain_disk_map *maps, size_t nmaps)
{
	struct sp_error err;
	char *xml, *out = NULL;
	size_t len;

	xml = load(file, &len);
	CHECK_OK(sp_domain_xml_for_restore(xml, len, name, maps, nmaps, NULL,
					   &out, &err),
		 &err);
	free(xml);
	if (!out)
		exit(1);
	return out;
}

static void test_restore_web01(void)
{
	static const struct sp_domain_disk_map maps[] = {
	    {"vda", "/srv/restore/web01-copy/vda.raw", "raw", NULL, NULL, false,
	     NULL, NULL},
	    {"vdb", "/srv/r/data & 'more' <x>.qcow2", "qcow2", NULL, NULL,
	     false, NULL, NULL},
	};
	struct sp_domain_def *def;
	char *out;

	stderr_capture();
	out = restore("web01.xml", "web01-copy", maps, SP_ARRAY_SIZE(maps));
	stderr_release_expect_empty();
	def = parse_str(out, strlen(out));

	CHECK_STR(def->name, "web01-copy");
	CHECK_NULL(def->uuid);
	CHECK_STR(def->type, "kvm");
	CHECK_INT(count(out, "<uuid"), 0);
	CHECK_INT(count(out, "<mac"), 0);
	CHECK_INT(count(out, "52:54:00"), 0);
	CHECK_INT(def->ninterfaces, 1);
	CHECK_INT(def->ndisks, 3);
	if (def->ndisks != 3)
		exit(1);
	CHECK_STR(def->disks[0].type, "file");
	CHECK_STR(def->disks[0].source, "/srv/restore/web01-copy/vda.raw");
	CHECK_STR(def->disks[0].format, "raw");
	CHECK_STR(def->disks[1].source, "/srv/r/data & 'more' <x>.qcow2");
	CHECK_STR(def->disks[1].format, "qcow2");
	/* unmapped: the cdrom keeps its image */
	CHECK_STR(def->disks[2].device, "cdrom");
	CHECK_STR(def->disks[2].source,
		  "/var/lib/libvirt/boot/debian-12.2.0-amd64-netinst.iso");
	CHECK(def->disks[2].readonly);

	/* other driver attributes and the rest of the domain stay */
	CHECK(strstr(out, "discard=\"unmap\""));
	CHECK(strstr(out, "cache=\"none\" io=\"native\""));
	CHECK(strstr(out, "<memory unit=\"KiB\">4194304</memory>"));
	CHECK(strstr(out, "name=\"org.qemu.guest_agent.0\""));
	CHECK(strstr(out, "<source network=\"default\"/>"));
	CHECK(
	    strstr(out, "<libosinfo:os id=\"http://debian.org/debian/12\"/>"));
	CHECK(strstr(out, "<rng model=\"virtio\">"));
	CHECK_INT(count(out, "<address "), 13);
	CHECK_INT(count(out, "web01.qcow2"), 0);
	CHECK_INT(count(out, "<name>"), 1);
	CHECK_INT(out[strlen(out) - 1], '\n');
	free(out);
	sp_domain_def_free(def);
}

/* An overlay over an NBD export (point_boot.c): the qcow2 file on top, an
 * explicit raw nbd+unix backing, and the stop error policies. */
static void test_restore_overlay_on_nbd(void)
{
	static const struct sp_domain_disk_map maps[] = {
	    {"vda", "/srv/i/web01-copy-vda.overlay.qcow2", "qcow2",
	     "/srv/i/.web01-copy.sock", "vda", true, NULL, NULL},
	};
	struct sp_domain_def *def;
	char *out;

	stderr_capture();
	out = restore("web01.xml", "web01-copy", maps, SP_ARRAY_SIZE(maps));
	stderr_release_expect_empty();
	def = parse_str(out, strlen(out));
	CHECK_STR(def->disks[0].source, "/srv/i/web01-copy-vda.overlay.qcow2");
	CHECK_STR(def->disks[0].format, "qcow2");
	CHECK(strstr(out, "error_policy=\"stop\" rerror_policy=\"stop\""));
	CHECK(strstr(out, "<backingStore type=\"network\"><format "
			  "type=\"raw\"/><source protocol=\"nbd\" "
			  "name=\"vda\"><host transport=\"unix\" "
			  "socket=\"/srv/i/.web01-copy.sock\"/></source>"
			  "<backingStore/></backingStore>"));
	CHECK_INT(count(out, "<backingStore"), 2);
	CHECK_INT(count(out, "error_policy"), 2); /* rerror_ too */
	free(out);
	sp_domain_def_free(def);
}

/* Instant recovery's final definition (sp_domain_xml_set_disks): the
 * overlay's 'stop' policies give way to the disk's own, parsed back. */
/* sp_domain_xml_set_disks() of @xml with one map, which must succeed. */
static char *set_disk(const char *xml, const struct sp_domain_disk_map *map)
{
	struct sp_error err;
	char *out = NULL;

	CHECK_OK(sp_domain_xml_set_disks(xml, strlen(xml), map, 1, &out, &err),
		 &err);
	if (!out)
		exit(1);
	return out;
}

static void test_set_disks_policies(void)
{
	static const struct sp_domain_disk_map over[] = {
	    {"vda", "/i/n-vda.overlay.qcow2", "qcow2", "/i/.n.sock", "vda",
	     true, NULL, NULL},
	};
	static const struct sp_domain_disk_map own = {
	    "vda", "/i/n-vda.qcow2", "qcow2", NULL, NULL,
	    false, "enospace",	     "report"};
	static const struct sp_domain_disk_map none = {
	    "vda", "/i/n-vda.qcow2", "qcow2", NULL, NULL, false, NULL, NULL};
	struct sp_domain_def *def;
	char *served, *out;

	stderr_capture();
	served = restore("web01.xml", "n", over, SP_ARRAY_SIZE(over));
	stderr_release_expect_empty();
	out = set_disk(served, &own);
	CHECK(strstr(out, "error_policy=\"enospace\""));
	CHECK(strstr(out, "rerror_policy=\"report\""));
	CHECK_INT(count(out, "\"stop\""), 0);
	CHECK_INT(count(out, "nbd"), 0);
	def = parse_str(out, strlen(out));
	CHECK_STR(def->disks[0].source, "/i/n-vda.qcow2");
	CHECK_STR(def->disks[0].error_policy, "enospace");
	CHECK_STR(def->disks[0].rerror_policy, "report");
	sp_domain_def_free(def);
	free(out);
	out = set_disk(served, &none);
	CHECK_INT(count(out, "error_policy"), 0);
	def = parse_str(out, strlen(out));
	CHECK_NULL(def->disks[0].error_policy);
	sp_domain_def_free(def);
	free(out);
	free(served);
}

static void test_restore_network_and_backing(void)
{
	static const struct sp_domain_disk_map maps[] = {
	    {"vda", "/srv/r/vda.qcow2", "qcow2", NULL, NULL, false, NULL, NULL},
	    {"vdb", "/srv/r/vdb.raw", "raw", NULL, NULL, false, NULL, NULL},
	    {"vdd", "/srv/r/vdd.raw", "raw", NULL, NULL, false, NULL, NULL},
	};
	struct sp_domain_def *def;
	char *out;

	stderr_capture();
	out = restore("db01.xml", "db01-restored", maps, SP_ARRAY_SIZE(maps));
	stderr_release_expect_empty();
	def = parse_str(out, strlen(out));

	CHECK_STR(def->name, "db01-restored");
	CHECK_INT(count(out, "<mac"), 0);
	CHECK_INT(def->ninterfaces, 2);
	CHECK_INT(count(out, "<mtu size=\"9000\"/>"), 1);
	CHECK_INT(count(out, "backingStore"), 0);
	CHECK_INT(count(out, "debian-12-base"), 0);
	/* the rbd disk lost its hosts, credentials and protocol */
	CHECK_INT(count(out, "<host"), 0);
	CHECK_INT(count(out, "<auth"), 0);
	CHECK_INT(count(out, "<secret"), 0);
	CHECK_INT(count(out, "protocol="), 0);
	CHECK_INT(count(out, "<disk type=\"network\""), 0);
	CHECK_INT(def->ndisks, 5);
	if (def->ndisks != 5)
		exit(1);
	CHECK_STR(def->disks[0].source, "/srv/r/vda.qcow2");
	CHECK_STR(def->disks[1].type, "file");
	CHECK_STR(def->disks[1].source, "/srv/r/vdb.raw");
	CHECK(!def->disks[1].backup_no);
	/* the block disk became a file */
	CHECK_STR(def->disks[4].type, "file");
	CHECK_STR(def->disks[4].source, "/srv/r/vdd.raw");
	/* the LUN and the shareable disk are untouched */
	CHECK_STR(def->disks[2].device, "lun");
	CHECK_STR(def->disks[2].type, "block");
	CHECK_STR(def->disks[2].source,
		  "/dev/disk/by-id/scsi-36001405a1b2c3d4e5f60718293a4b5c6");
	CHECK_STR(def->disks[3].source,
		  "/var/lib/libvirt/images/cluster-quorum.raw");
	CHECK(def->disks[3].shareable);
	CHECK(strstr(out, "<description>PostgreSQL primary</description>"));
	CHECK(strstr(out, "<boot order=\"1\"/>"));
	free(out);
	sp_domain_def_free(def);
}

static void test_restore_adds_driver(void)
{
	static const char xml[] =
	    "<domain type='kvm'>\n  <name>n</name>\n  <devices>\n"
	    "    <disk type='volume' device='disk'>\n"
	    "      <source pool='default' volume='v1'/>\n"
	    "      <target dev='vda' bus='virtio'/>\n"
	    "    </disk>\n"
	    "    <disk type='file' device='disk'>\n"
	    "      <target dev='vdb' bus='virtio'/>\n"
	    "    </disk>\n  </devices>\n</domain>\n";
	static const struct sp_domain_disk_map maps[] = {
	    {"vda", "/r/vda.qcow2", "qcow2", NULL, NULL, false, NULL, NULL},
	    {"vdb", "/r/vdb.raw", "raw", NULL, NULL, false, NULL, NULL},
	};
	struct sp_domain_def *def;
	struct sp_error err;
	char *out = NULL;

	CHECK_OK(sp_domain_xml_for_restore(xml, sizeof(xml) - 1, "n2", maps, 2,
					   NULL, &out, &err),
		 &err);
	if (!out)
		exit(1);
	def = parse_str(out, strlen(out));
	CHECK_INT(count(out, "<driver name=\"qemu\" type=\"qcow2\"/>"), 1);
	CHECK_INT(count(out, "<driver name=\"qemu\" type=\"raw\"/>"), 1);
	CHECK_INT(count(out, "pool="), 0);
	CHECK_STR(def->disks[0].type, "file");
	CHECK_STR(def->disks[0].source, "/r/vda.qcow2");
	CHECK(!def->disks[0].backup_no);
	CHECK_STR(def->disks[1].source, "/r/vdb.raw");
	CHECK_STR(def->disks[1].format, "raw");
	/* new elements sit on their own lines, indented like their siblings */
	CHECK(strstr(out, "\n      <source file=\"/r/vdb.raw\"/>\n"));
	CHECK(strstr(out, "\n      <driver name=\"qemu\" type=\"raw\"/>\n"));
	free(out);
	sp_domain_def_free(def);
}

/* The copy gets console logs of its own and a fresh NVRAM. */
static void test_restore_separate_files(void)
{
	static const char xml[] =
	    "<domain type='kvm'>\n  <name>web01</name>\n"
	    "  <os>\n    <type>hvm</type>\n"
	    "    <nvram template='/usr/share/OVMF/OVMF_VARS.fd'>"
	    "/var/lib/libvirt/qemu/nvram/web01_VARS.fd</nvram>\n  </os>\n"
	    "  <devices>\n"
	    "    <serial type='file'>\n"
	    "      <source path='/var/log/vm/web01-console.log'/>\n"
	    "      <log file='/var/log/vm/serial.log'/>\n"
	    "    </serial>\n"
	    "    <console type='pty'/>\n"
	    "  </devices>\n</domain>\n";
	struct sp_error err;
	char *out = NULL;

	CHECK_OK(sp_domain_xml_for_restore(xml, sizeof(xml) - 1, "web02", NULL,
					   0, NULL, &out, &err),
		 &err);
	if (!out)
		exit(1);
	CHECK(strstr(out, "path=\"/var/log/vm/web02-console.log\""));
	CHECK(strstr(out, "file=\"/var/log/vm/web02-serial.log\""));
	CHECK_INT(count(out, "web01"), 0);
	CHECK_INT(count(out, "OVMF_VARS.fd"), 1); /* the template stays */
	free(out);
}

/* <os>: firmware, loader and NVRAM in their forms; <tpm> devices. */
static void test_parse_firmware_tpm(void)
{
	static const char uefi[] =
	    "<domain type='kvm'><name>u</name>\n"
	    "  <os>\n    <type machine='q35'>hvm</type>\n"
	    "    <loader readonly='yes' type='pflash'>/usr/share/OVMF/"
	    "OVMF_CODE_4M.fd</loader>\n"
	    "    <nvram template='/usr/share/OVMF/OVMF_VARS_4M.fd'>"
	    "/var/lib/libvirt/qemu/nvram/u_VARS.fd</nvram>\n  </os>\n"
	    "  <devices>\n"
	    "    <tpm model='tpm-crb'><backend type='emulator' "
	    "version='2.0'><encryption secret='0e5c2a7e-8f4b-4d1a-9c3e-"
	    "2b7f6a1d9e40'/></backend></tpm>\n"
	    "    <tpm model='spapr-tpm-proxy'><backend type='passthrough'>"
	    "<device path='/dev/tpmrm0'/></backend></tpm>\n"
	    "  </devices>\n</domain>\n";
	static const char efi_auto[] =
	    "<domain><name>e</name><os firmware='efi'><type>hvm</type></os>"
	    "</domain>";
	static const char nvram_file[] =
	    "<domain><name>f</name><os><type>hvm</type>"
	    "<nvram type='file'><source file='/srv/f.fd'/></nvram></os>"
	    "</domain>";
	static const char bios[] =
	    "<domain><name>b</name><os><type>hvm</type></os>"
	    "<devices><tpm><backend type='emulator'/></tpm></devices>"
	    "</domain>";
	struct sp_domain_def *def = parse_str(uefi, sizeof(uefi) - 1);

	CHECK_STR(def->fw.loader, "/usr/share/OVMF/OVMF_CODE_4M.fd");
	CHECK_STR(def->fw.loader_type, "pflash");
	CHECK(def->fw.loader_readonly);
	CHECK(def->fw.has_nvram);
	CHECK_STR(def->fw.nvram, "/var/lib/libvirt/qemu/nvram/u_VARS.fd");
	CHECK_STR(def->fw.nvram_template, "/usr/share/OVMF/OVMF_VARS_4M.fd");
	CHECK_NULL(def->fw.nvram_type);
	CHECK_NULL(def->fw.firmware);
	CHECK(sp_domain_has_nvram(def));
	CHECK_INT((int)def->ntpms, 2);
	CHECK_STR(def->tpms[0].model, "tpm-crb");
	CHECK_STR(def->tpms[0].backend, "emulator");
	CHECK_STR(def->tpms[0].version, "2.0");
	CHECK(def->tpms[0].encrypted);
	CHECK(!def->tpms[0].persistent_state);
	CHECK_STR(def->tpms[1].backend, "passthrough");
	sp_domain_def_free(def);

	/* libvirt 9.0 names the store of <os firmware='efi'> only at start */
	def = parse_str(efi_auto, sizeof(efi_auto) - 1);
	CHECK_STR(def->fw.firmware, "efi");
	CHECK(!def->fw.has_nvram);
	CHECK_NULL(def->fw.nvram);
	CHECK(sp_domain_has_nvram(def));
	sp_domain_def_free(def);

	def = parse_str(nvram_file, sizeof(nvram_file) - 1);
	CHECK_STR(def->fw.nvram_type, "file");
	CHECK_STR(def->fw.nvram, "/srv/f.fd");
	sp_domain_def_free(def);

	def = parse_str(bios, sizeof(bios) - 1);
	CHECK(!sp_domain_has_nvram(def));
	CHECK_NULL(def->fw.loader);
	CHECK_INT((int)def->ntpms, 1);
	CHECK_STR(def->tpms[0].backend, "emulator");
	CHECK_NULL(def->tpms[0].version);
	CHECK_NULL(def->tpms[0].model);
	sp_domain_def_free(def);
}

/* With ids: the copy gets the UUID given and its NVRAM at the file given,
 * whatever form the original's had (or none, for <os firmware='efi'>). */
static void test_restore_ids(void)
{
	static const char *const docs[] = {
	    "<domain><name>web01</name>\n  <uuid>5b7b64cd-0000-4000-8000-"
	    "000000000001</uuid>\n  <os>\n    <type>hvm</type>\n"
	    "    <loader readonly='yes' type='pflash'>/c.fd</loader>\n"
	    "    <nvram template='/t.fd'>/var/lib/libvirt/qemu/nvram/"
	    "web01_VARS.fd</nvram>\n  </os>\n</domain>\n",
	    "<domain><name>web01</name>\n  <os firmware='efi'>\n"
	    "    <type>hvm</type>\n  </os>\n</domain>\n",
	    "<domain><name>web01</name>\n  <os>\n    <type>hvm</type>\n"
	    "    <nvram type='file' template='/t.fd'>\n      <source "
	    "file='/srv/web01.fd'/>\n    </nvram>\n  </os>\n</domain>\n",
	};
	const struct sp_domain_restore_ids ids = {
	    "0e5c2a7e-8f4b-4d1a-9c3e-2b7f6a1d9e40",
	    "/var/lib/libvirt/qemu/nvram/web02_VARS.fd"};
	const struct sp_domain_restore_ids bad = {"", NULL};
	struct sp_error err;

	for (size_t i = 0; i < SP_ARRAY_SIZE(docs); i++) {
		struct sp_domain_def *def;
		char *out = NULL;

		CHECK_OK(sp_domain_xml_for_restore(docs[i], strlen(docs[i]),
						   "web02", NULL, 0, &ids, &out,
						   &err),
			 &err);
		if (!out)
			exit(1);
		def = parse_str(out, strlen(out));
		CHECK_STR(def->name, "web02");
		CHECK_STR(def->uuid, ids.uuid);
		CHECK(def->fw.has_nvram);
		CHECK_NULL(def->fw.nvram_type);
		CHECK_STR(def->fw.nvram, ids.nvram);
		CHECK_INT(count(out, "web01"), 0);
		CHECK_INT(count(out, "<uuid>"), 1);
		/* the template and the loader stay */
		CHECK_INT(count(out, "/t.fd"), i == 1 ? 0 : 1);
		CHECK_INT(count(out, "<source"), 0);
		sp_domain_def_free(def);
		free(out);
	}
	/* without <os>, an NVRAM has nowhere to go */
	{
		static const char no_os[] = "<domain><name>x</name></domain>";
		char *out = NULL;

		CHECK_INT(sp_domain_xml_for_restore(no_os, sizeof(no_os) - 1,
						    "y", NULL, 0, &ids, &out,
						    &err),
			  SP_E_USAGE);
		CHECK_NULL(out);
		CHECK_INT(sp_domain_xml_for_restore(docs[0], strlen(docs[0]),
						    "y", NULL, 0, &bad, &out,
						    &err),
			  SP_E_USAGE);
		CHECK_NULL(out);
	}
}

static void test_restore_usage(void)
{
	static const struct sp_domain_disk_map bad[] = {
	    {"vda", "/r/vda.raw", "raw", NULL, NULL, false, NULL, NULL},
	    {"vdz", "/r/vdz.raw", "raw", NULL, NULL, false, NULL, NULL},
	};
	static const struct sp_domain_disk_map incomplete[] = {
	    {"vda", NULL, "raw", NULL, NULL, false, NULL, NULL},
	};
	struct sp_error err;
	char *xml, *out = NULL;
	size_t len;

	xml = load("web01.xml", &len);
	CHECK_INT(
	    sp_domain_xml_for_restore(xml, len, "c", bad, 2, NULL, &out, &err),
	    SP_E_USAGE);
	CHECK_INT(err.code, SP_E_USAGE);
	CHECK(strstr(err.msg, "'vdz'"));
	CHECK(strstr(err.msg, "'web01'"));
	CHECK_NULL(out);
	CHECK_INT(sp_domain_xml_for_restore(xml, len, "c", incomplete, 1, NULL,
					    &out, &err),
		  SP_E_USAGE);
	CHECK_INT(
	    sp_domain_xml_for_restore(xml, len, "", NULL, 0, NULL, &out, &err),
	    SP_E_USAGE);
	CHECK_NULL(out);
	/* no maps: only the identity changes */
	CHECK_OK(
	    sp_domain_xml_for_restore(xml, len, "c", NULL, 0, NULL, &out, &err),
	    &err);
	CHECK(out && strstr(out, "/var/lib/libvirt/images/web01.qcow2"));
	free(out);
	/* a name is text, never markup */
	out = NULL;
	CHECK_OK(sp_domain_xml_for_restore(xml, len, "a<b>&amp;", NULL, 0, NULL,
					   &out, &err),
		 &err);
	if (out) {
		struct sp_domain_def *def = parse_str(out, strlen(out));

		CHECK_STR(def->name, "a<b>&amp;");
		sp_domain_def_free(def);
	}
	free(out);
	free(xml);
}

static const char billion_laughs[] =
    "<?xml version='1.0'?>\n"
    "<!DOCTYPE domain [\n"
    " <!ENTITY a \"lol\">\n"
    " <!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\">\n"
    " <!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;\">\n"
    " <!ENTITY d \"&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;\">\n"
    " <!ENTITY e \"&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;\">\n"
    " <!ENTITY f \"&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;\">\n"
    " <!ENTITY g \"&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;\">\n"
    " <!ENTITY h \"&g;&g;&g;&g;&g;&g;&g;&g;&g;&g;\">\n"
    " <!ENTITY i \"&h;&h;&h;&h;&h;&h;&h;&h;&h;&h;\">\n"
    "]>\n"
    "<domain type='kvm'><name>&i;</name><devices><disk type='file'>"
    "<source file='&i;'/><target dev='vda'/></disk></devices></domain>\n";

static void test_refused(void)
{
	static const char *const docs[] = {
	    "",
	    "hello, not XML",
	    "<domain type='kvm'><name>x</name>",
	    "<domain><name>x</name></domian>",
	    "<network><name>default</name></network>",
	    "<d:domain xmlns:d='urn:x'><name>x</name></d:domain>",
	    "<domain type='kvm'><uuid>4dea22b3</uuid></domain>",
	    "<domain><name></name></domain>",
	    "<domain><name>x</name><devices><disk type='file'>"
	    "<source file='/a'/></disk></devices></domain>",
	    "<domain><name>&undefined;</name></domain>",
	    "<domain><name>x\x01</name></domain>",
	    billion_laughs,
	    "<!DOCTYPE domain [<!ENTITY x SYSTEM 'file:///etc/passwd'>]>"
	    "<domain><name>&x;</name></domain>",
	    "<!DOCTYPE domain SYSTEM 'http://127.0.0.1:9/domain.dtd'>"
	    "<domain><name>x</name></domain>",
	    "<!DOCTYPE domain><domain><name>x</name></domain>",
	    "<?xml version='1.0' encoding='x-no-such-encoding'?>"
	    "<domain><name>x</name></domain>",
	};
	struct sp_domain_def *def;
	struct sp_error err[SP_ARRAY_SIZE(docs)], err2[SP_ARRAY_SIZE(docs)];
	int r[SP_ARRAY_SIZE(docs)], r2[SP_ARRAY_SIZE(docs)];
	char *out;
	size_t i;

	stderr_capture();
	for (i = 0; i < SP_ARRAY_SIZE(docs); i++) {
		def = (void *)1;
		out = (void *)1;
		r[i] = sp_domain_def_parse(docs[i], strlen(docs[i]), &def,
					   &err[i]);
		if (def != NULL)
			r[i] = 12345;
		r2[i] =
		    sp_domain_xml_for_restore(docs[i], strlen(docs[i]), "c",
					      NULL, 0, NULL, &out, &err2[i]);
		if (out != NULL)
			r2[i] = 12345;
	}
	stderr_release_expect_empty();

	for (i = 0; i < SP_ARRAY_SIZE(docs); i++) {
		if (r[i] != SP_E_LIBVIRT || r2[i] != SP_E_LIBVIRT) {
			fprintf(stderr, "document %zu: %d %d, not refused\n", i,
				r[i], r2[i]);
			sp_test_failures++;
			continue;
		}
		CHECK_INT(err[i].code, SP_E_LIBVIRT);
		CHECK(strncmp(err[i].msg, "domain XML ", 11) == 0);
		CHECK_STR(err[i].msg, err2[i].msg);
	}
	CHECK(strstr(err[1].msg, "line 1: "));
	CHECK(strstr(err[4].msg, "not <domain>"));
	CHECK(strstr(err[6].msg, "no <name>"));
	CHECK(strstr(err[8].msg, "'x'") && strstr(err[8].msg, "disk 1"));
	CHECK(strstr(err[11].msg, "<!DOCTYPE>"));
	CHECK(strstr(err[12].msg, "<!DOCTYPE>"));
}

static void *parse_loop(void *arg)
{
	const char *xml = arg;
	struct sp_domain_def *def;
	struct sp_error err;
	int i, bad = 0;

	for (i = 0; i < 200; i++) {
		if (sp_domain_def_parse(xml, strlen(xml), &def, &err) < 0 ||
		    def->ndisks != 3)
			bad++;
		sp_domain_def_free(def);
		if (sp_domain_def_parse("<x", 2, &def, &err) != SP_E_LIBVIRT)
			bad++;
	}
	return bad ? (void *)1 : NULL;
}

static void test_threads(void)
{
	pthread_t t[4];
	size_t len, i;
	char *xml = load("web01.xml", &len);
	void *ret;

	stderr_capture();
	for (i = 0; i < SP_ARRAY_SIZE(t); i++)
		if (pthread_create(&t[i], NULL, parse_loop, xml) != 0)
			exit(99);
	for (i = 0; i < SP_ARRAY_SIZE(t); i++) {
		pthread_join(t[i], &ret);
		CHECK(ret == NULL);
	}
	stderr_release_expect_empty();
	free(xml);
}

/* A raw disk adopted for changed-block tracking reads back as a qcow2
 * metadata image over its raw data store, recorded as ours; released, it
 * is the very disk it was; disks that must not be adopted are refused
 * with the reason. */
static void test_cbt_adopt_release(void)
{
	size_t len;
	char *xml = load("db01.xml", &len), *a = NULL, *b = NULL, *c = NULL;
	struct sp_domain_def *def, *orig = parse_str(xml, len);
	const struct sp_domain_disk *d;
	struct sp_error err;

	CHECK_OK(sp_domain_xml_cbt_adopt(xml, len, "vdd", "/m/db01-vdd.qcow2",
					 "0:6:660", &a, &err),
		 &err);
	if (!a)
		exit(1);
	def = parse_str(a, strlen(a));
	d = &def->disks[4];
	CHECK_STR(d->target, "vdd");
	CHECK_STR(d->type, "file");
	CHECK_STR(d->format, "qcow2");
	CHECK_STR(d->source, "/m/db01-vdd.qcow2");
	CHECK_STR(d->data_type, "block");
	CHECK_STR(d->data_format, "raw");
	CHECK_STR(d->data_source, "/dev/vg0/db01-wal");
	CHECK_STR(d->cbt_meta, "/m/db01-vdd.qcow2");
	CHECK_STR(d->cbt_owner, "0:6:660");
	CHECK(sp_domain_disk_keeps_bitmap(d, NULL));
	/* the rest of the disk is kept: cache and io modes, address */
	CHECK_INT(count(a, "cache=\"none\" io=\"native\""), 2);
	CHECK_INT(count(a, "bus=\"0x09\""), 1);
	CHECK_INT(count(a, SP_CBT_XMLNS), 1);
	/* the other disks are untouched */
	CHECK(def->disks[0].cbt_meta == NULL);
	CHECK(def->disks[0].data_source == NULL);
	sp_domain_def_free(def);

	/* twice is refused */
	CHECK_INT(sp_domain_xml_cbt_adopt(a, strlen(a), "vdd", "/m/x.qcow2",
					  NULL, &c, &err),
		  SP_E_USAGE);
	CHECK(strstr(err.msg, "tracked already") != NULL);

	CHECK_OK(sp_domain_xml_cbt_release(a, strlen(a), "vdd", &b, &err),
		 &err);
	if (!b)
		exit(1);
	def = parse_str(b, strlen(b));
	d = &def->disks[4];
	CHECK_STR(d->type, orig->disks[4].type);
	CHECK_STR(d->format, "raw");
	CHECK_STR(d->source, orig->disks[4].source);
	CHECK(d->data_source == NULL && d->cbt_meta == NULL);
	CHECK_INT(count(b, SP_CBT_XMLNS), 0);
	CHECK_INT(count(b, "<metadata"), 0);
	CHECK_INT(count(b, "cache=\"none\" io=\"native\""), 2);
	sp_domain_def_free(def);

	/* only disks we adopted are released */
	CHECK_INT(sp_domain_xml_cbt_release(b, strlen(b), "vdd", &c, &err),
		  SP_E_USAGE);
	CHECK(strstr(err.msg, "not one whose changes") != NULL);
	/* a qcow2 disk, a shared disk, a network disk, a LUN, no disk */
	CHECK_INT(sp_domain_xml_cbt_adopt(xml, len, "vda", "/m/a.qcow2", NULL,
					  &c, &err),
		  SP_E_USAGE);
	CHECK(strstr(err.msg, "not raw") != NULL);
	CHECK_INT(sp_domain_xml_cbt_adopt(xml, len, "vdc", "/m/a.qcow2", NULL,
					  &c, &err),
		  SP_E_USAGE);
	CHECK(strstr(err.msg, "shared") != NULL);
	CHECK_INT(sp_domain_xml_cbt_adopt(xml, len, "vdb", "/m/a.qcow2", NULL,
					  &c, &err),
		  SP_E_USAGE);
	CHECK_INT(sp_domain_xml_cbt_adopt(xml, len, "sda", "/m/a.qcow2", NULL,
					  &c, &err),
		  SP_E_USAGE);
	CHECK_INT(sp_domain_xml_cbt_adopt(xml, len, "vdz", "/m/a.qcow2", NULL,
					  &c, &err),
		  SP_E_USAGE);
	CHECK(strstr(err.msg, "no disk 'vdz'") != NULL);
	CHECK_INT(sp_domain_xml_cbt_adopt(xml, len, "vdd", "m/a.qcow2", NULL,
					  &c, &err),
		  SP_E_USAGE);
	CHECK(c == NULL);
	sp_domain_def_free(orig);
	free(a);
	free(b);
	free(xml);
}

/* A record whose metadata image is not the one the disk runs on (the
 * definition was edited by hand since) does not make the disk ours. */
static void test_cbt_record_must_match(void)
{
	static const char xml[] =
	    "<domain type='kvm'>\n  <name>n</name>\n"
	    "  <metadata>\n    <sp:cbt xmlns:sp='" SP_CBT_XMLNS "'>\n"
	    "      <sp:disk target='vda' meta='/m/old.qcow2' data='/d.raw' "
	    "type='file'/>\n"
	    "      <sp:disk target='vdb' meta='/m/b.qcow2' data='/b.raw' "
	    "type='file'/>\n"
	    "    </sp:cbt>\n  </metadata>\n  <devices>\n"
	    "    <disk type='file' device='disk'>\n"
	    "      <driver name='qemu' type='qcow2'/>\n"
	    "      <source file='/m/new.qcow2'>\n"
	    "        <dataStore type='file'><format type='raw'/>"
	    "<source file='/d.raw'/></dataStore>\n      </source>\n"
	    "      <target dev='vda' bus='virtio'/>\n    </disk>\n"
	    "    <disk type='file' device='disk'>\n"
	    "      <driver name='qemu' type='qcow2'/>\n"
	    "      <source file='/m/b.qcow2'>\n"
	    "        <dataStore type='file'><format type='raw'/>"
	    "<source file='/b.raw'/></dataStore>\n      </source>\n"
	    "      <target dev='vdb' bus='virtio'/>\n    </disk>\n"
	    "  </devices>\n</domain>\n";
	struct sp_domain_def *def = parse_str(xml, sizeof(xml) - 1);

	CHECK_STR(def->disks[0].data_source, "/d.raw");
	CHECK(def->disks[0].cbt_meta == NULL);
	CHECK_STR(def->disks[1].cbt_meta, "/m/b.qcow2");
	sp_domain_def_free(def);
}

/* libvirt before 10.10 drops <dataStore> from the definition: the record
 * alone says where the data is, and releasing puts it back as the disk's
 * source. */
static void test_cbt_without_datastore(void)
{
	static const char xml[] =
	    "<domain type='kvm'>\n  <name>n</name>\n"
	    "  <metadata>\n    <sp:cbt xmlns:sp='" SP_CBT_XMLNS "'>\n"
	    "      <sp:disk target='vdb' meta='/m/b.qcow2' data='/dev/vg/b' "
	    "type='block'/>\n"
	    "    </sp:cbt>\n  </metadata>\n  <devices>\n"
	    "    <disk type='file' device='disk'>\n"
	    "      <driver name='qemu' type='qcow2' cache='none'/>\n"
	    "      <source file='/m/b.qcow2'/>\n"
	    "      <target dev='vdb' bus='virtio'/>\n    </disk>\n"
	    "  </devices>\n</domain>\n";
	struct sp_domain_def *def = parse_str(xml, sizeof(xml) - 1);
	struct sp_error err;
	char *out = NULL;

	CHECK_STR(def->disks[0].cbt_meta, "/m/b.qcow2");
	CHECK_STR(def->disks[0].data_source, "/dev/vg/b");
	CHECK_STR(def->disks[0].data_type, "block");
	CHECK_STR(def->disks[0].data_format, "raw");
	sp_domain_def_free(def);
	CHECK_OK(
	    sp_domain_xml_cbt_release(xml, sizeof(xml) - 1, "vdb", &out, &err),
	    &err);
	if (!out)
		exit(1);
	def = parse_str(out, strlen(out));
	CHECK_STR(def->disks[0].type, "block");
	CHECK_STR(def->disks[0].source, "/dev/vg/b");
	CHECK_STR(def->disks[0].format, "raw");
	CHECK(def->disks[0].data_source == NULL);
	CHECK_INT(count(out, "cache=\"none\""), 1);
	sp_domain_def_free(def);
	free(out);
}

int main(void)
{
	/* a hostile document must be refused, not expanded for minutes */
	alarm(60);
	SP_RUN(test_parse_two_disks_and_cdrom);
	SP_RUN(test_parse_storage_kinds);
	SP_RUN(test_keeps_bitmap);
	SP_RUN(test_parse_exclusions);
	SP_RUN(test_parse_nbd);
	SP_RUN(test_parse_defaults);
	SP_RUN(test_restore_web01);
	SP_RUN(test_restore_network_and_backing);
	SP_RUN(test_restore_overlay_on_nbd);
	SP_RUN(test_set_disks_policies);
	SP_RUN(test_restore_adds_driver);
	SP_RUN(test_restore_separate_files);
	SP_RUN(test_parse_firmware_tpm);
	SP_RUN(test_restore_ids);
	SP_RUN(test_restore_usage);
	SP_RUN(test_refused);
	SP_RUN(test_cbt_adopt_release);
	SP_RUN(test_cbt_record_must_match);
	SP_RUN(test_cbt_without_datastore);
	SP_RUN(test_threads);
	SP_TEST_EXIT();
}

// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The guest's mount map (guest_mounts.h): guest-get-fsinfo, matched to the
 * domain's disks.  Best effort by design: a file system whose disk cannot
 * be matched is recorded with no disks, and such a path is then named
 * DISK:PARTITION:/path by the user; nothing here fails a backup.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "domain/guest_agent.h"
#include "domain/guest_mounts.h"
#include "util/cleanup.h"
#include "util/log.h"

#define FSINFO_TIMEOUT_S 10

struct xml_disk {
	char target[32];
	char serial[128];
	char pci[32]; /* "0000:00:08.0" or "" */
};

static void attr_copy(xmlNode *n, const char *name, char *out, size_t cap)
{
	xmlChar *v = xmlGetProp(n, (const xmlChar *)name);

	snprintf(out, cap, "%s", v ? (const char *)v : "");
	xmlFree(v);
}

static unsigned long attr_num(xmlNode *n, const char *name)
{
	char b[32];

	attr_copy(n, name, b, sizeof(b));
	return strtoul(b, NULL, 0);
}

/* The domain's disks with their serial and PCI address. */
static size_t xml_disks(const char *xml, struct xml_disk *out, size_t cap)
{
	xmlDoc *doc = xmlReadMemory(xml, (int)strlen(xml), "domain.xml", NULL,
				    XML_PARSE_NONET | XML_PARSE_NOERROR |
					XML_PARSE_NOWARNING);
	xmlNode *root = doc ? xmlDocGetRootElement(doc) : NULL, *devs = NULL;
	size_t n = 0;

	for (xmlNode *c = root ? root->children : NULL; c; c = c->next)
		if (c->type == XML_ELEMENT_NODE &&
		    !xmlStrcmp(c->name, (const xmlChar *)"devices"))
			devs = c;
	for (xmlNode *dk = devs ? devs->children : NULL; dk && n < cap;
	     dk = dk->next) {
		struct xml_disk *x = &out[n];

		if (dk->type != XML_ELEMENT_NODE ||
		    xmlStrcmp(dk->name, (const xmlChar *)"disk"))
			continue;
		memset(x, 0, sizeof(*x));
		for (xmlNode *c = dk->children; c; c = c->next) {
			if (c->type != XML_ELEMENT_NODE)
				continue;
			if (!xmlStrcmp(c->name, (const xmlChar *)"target")) {
				attr_copy(c, "dev", x->target,
					  sizeof(x->target));
			} else if (!xmlStrcmp(c->name,
					      (const xmlChar *)"serial")) {
				xmlChar *t = xmlNodeGetContent(c);
				snprintf(x->serial, sizeof(x->serial), "%s",
					 t ? (const char *)t : "");
				xmlFree(t);
			} else if (!xmlStrcmp(c->name,
					      (const xmlChar *)"address")) {
				char type[16];
				attr_copy(c, "type", type, sizeof(type));
				if (!strcmp(type, "pci"))
					snprintf(x->pci, sizeof(x->pci),
						 "%04lx:%02lx:%02lx.%lx",
						 attr_num(c, "domain"),
						 attr_num(c, "bus"),
						 attr_num(c, "slot"),
						 attr_num(c, "function"));
			}
		}
		if (x->target[0])
			n++;
	}
	xmlFreeDoc(doc);
	return n;
}

/* The target of the guest's disk @gd (a guest-get-fsinfo "disk" entry). */
static const char *match_disk(json_t *gd, const struct xml_disk *xd, size_t n)
{
	const char *serial = json_string_value(json_object_get(gd, "serial"));
	const char *dev = json_string_value(json_object_get(gd, "dev"));
	json_t *pc = json_object_get(gd, "pci-controller");
	const char *hit = NULL;
	char pci[32] = "";
	size_t same = 0;

	if (serial && *serial)
		for (size_t i = 0; i < n; i++)
			if (!strcmp(xd[i].serial, serial))
				return xd[i].target;
	if (json_is_object(pc) &&
	    json_integer_value(json_object_get(pc, "slot")) >= 0)
		snprintf(
		    pci, sizeof(pci), "%04llx:%02llx:%02llx.%llx",
		    (long long)json_integer_value(
			json_object_get(pc, "domain")),
		    (long long)json_integer_value(json_object_get(pc, "bus")),
		    (long long)json_integer_value(json_object_get(pc, "slot")),
		    (long long)json_integer_value(
			json_object_get(pc, "function")));
	/* A PCI address names a disk only when one disk has it (virtio-blk;
	 * the disks of a SCSI controller share its address). */
	for (size_t i = 0; pci[0] && i < n; i++)
		if (!strcmp(xd[i].pci, pci)) {
			hit = xd[i].target;
			same++;
		}
	if (same == 1)
		return hit;
	if (dev && !strncmp(dev, "/dev/", 5))
		for (size_t i = 0; i < n; i++)
			if (!strcmp(xd[i].target, dev + 5))
				return xd[i].target;
	return NULL;
}

char *sp_dm_name_to_lv(const char *dm)
{
	size_t l = strlen(dm), o = 0;
	char *out = malloc(l + 1);
	bool split = false;

	if (!out)
		return NULL;
	for (size_t i = 0; i < l; i++) {
		if (dm[i] == '-' && dm[i + 1] == '-') {
			out[o++] = '-';
			i++;
		} else if (dm[i] == '-' && !split && i > 0 && dm[i + 1]) {
			out[o++] = '/';
			split = true;
		} else {
			out[o++] = dm[i];
		}
	}
	out[o] = 0;
	if (!split) {
		free(out);
		return NULL;
	}
	return out;
}

/* The first line of sysfs file /sys/class/block/@name/@file in the guest
 * (guest-exec of cat), malloc'd; NULL when it cannot be read. */
static char *guest_sysfs(struct sp_domain *d, const char *name,
			 const char *file)
{
	sp_autofree char *path = NULL;
	const char *argv[2] = {NULL, NULL};
	struct sp_guest_exec_result res = {0};
	struct sp_error e;
	char *line = NULL;

	for (const char *c = name; *c; c++)
		if (!isalnum((unsigned char)*c) && *c != '-' && *c != '_')
			return NULL;
	if (asprintf(&path, "/sys/class/block/%s/%s", name, file) < 0)
		return NULL;
	argv[0] = path;
	if (sp_guest_exec(d, "/bin/cat", argv, NULL, 5000, &res, &e) == 0 &&
	    res.exit_code == 0 && res.out) {
		res.out[strcspn(res.out, "\n")] = 0;
		line = strdup(res.out);
	}
	sp_guest_exec_result_release(&res);
	return line;
}

/* dm-N -> "VG/LV"; NULL when it cannot be read or is not LVM's. */
static char *dm_lv(struct sp_domain *d, const char *name)
{
	sp_autofree char *dm = guest_sysfs(d, name, "dm/name");

	return dm ? sp_dm_name_to_lv(dm) : NULL;
}

/*
 * The partition number of guest device @name: sysfs says it
 * (/sys/class/block/vda1/partition); without guest-exec, names of the
 * vdX/sdX/hdX/xvdX kinds end in it ("vdb1"), and nvme0n1p2/mmcblk0p1 end
 * in pN.  -1: a whole disk, or not known.
 */
static long partition_of(struct sp_domain *d, const char *name)
{
	sp_autofree char *sys = guest_sysfs(d, name, "partition");
	const char *p = name + strlen(name);
	char *end;
	long n;

	if (sys) {
		n = strtol(sys, &end, 10);
		return *end || n <= 0 ? -1 : n;
	}
	while (p > name && isdigit((unsigned char)p[-1]))
		p--;
	if (!*p || p == name)
		return -1;
	if (p[-1] == 'p' && p - 1 > name && isdigit((unsigned char)p[-2]))
		return strtol(p, NULL, 10);
	if (strncmp(name, "vd", 2) && strncmp(name, "sd", 2) &&
	    strncmp(name, "hd", 2) && strncmp(name, "xvd", 3))
		return -1;
	return strtol(p, NULL, 10);
}

int sp_guest_mount_map(struct sp_domain *d, const char *live_xml, json_t **ret,
		       struct sp_error *err)
{
	struct xml_disk xd[64];
	size_t nxd = xml_disks(live_xml, xd, SP_ARRAY_SIZE(xd)), i;
	json_t *fs = NULL, *out, *f;
	int r;

	r = sp_guest_agent_command(d, "{\"execute\":\"guest-get-fsinfo\"}",
				   FSINFO_TIMEOUT_S, &fs, err);
	if (r < 0)
		return r;
	out = json_array();
	json_array_foreach(fs, i, f)
	{
		const char *mp =
		    json_string_value(json_object_get(f, "mountpoint"));
		const char *name =
		    json_string_value(json_object_get(f, "name"));
		json_t *gdisks = json_object_get(f, "disk"), *gd;
		json_t *targets = json_array();
		char *lv = NULL;
		long part = -1;
		size_t k;

		if (!mp || !name || !targets) {
			json_decref(targets);
			continue;
		}
		json_array_foreach(gdisks, k, gd)
		{
			const char *t = match_disk(gd, xd, nxd);
			if (t)
				json_array_append_new(targets, json_string(t));
		}
		if (!strncmp(name, "dm-", 3))
			lv = dm_lv(d, name);
		else if (json_array_size(gdisks) == 1)
			part = partition_of(d, name);
		json_array_append_new(
		    out,
		    json_pack("{s:s, s:s?, s:s, s:o, s:s?, s:o}", "mountpoint",
			      mp, "type",
			      json_string_value(json_object_get(f, "type")),
			      "name", name, "partition",
			      part > 0 ? json_integer(part) : json_null(),
			      "lvm", lv, "disks", targets));
		free(lv);
	}
	json_decref(fs);
	sp_log(SP_LOG_INFO, "guest mount map vm=%s mounts=%zu", d->name,
	       json_array_size(out));
	*ret = out;
	return 0;
}

// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The definition of a throwaway copy of a domain that must not be able to
 * touch anything of the original's or reach a network: a recovery point
 * booted to prove it (`stillpoint verify --boot`).  It takes the text made
 * by sp_domain_xml_for_restore() (new name, UUID, disks on their overlays)
 * and removes what would still be shared.
 *
 * Invariant: the result names no file outside @dir but the ones the
 * caller mapped (its overlays) and the firmware code; it has no network
 * interface and no host device.  A cdrom or floppy the caller did not map
 * stays as an empty drive.
 */
#include <stdio.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "domain/domain_xml.h"
#include "util/cleanup.h"

#define AGENT_CHANNEL "org.qemu.guest_agent.0"

static xmlNode *first_child(xmlNode *parent, const char *name)
{
	for (xmlNode *n = parent ? parent->children : NULL; n; n = n->next)
		if (n->type == XML_ELEMENT_NODE &&
		    !xmlStrcmp(n->name, BAD_CAST name))
			return n;
	return NULL;
}

static bool attr_is(xmlNode *n, const char *attr, const char *value)
{
	xmlChar *v = xmlGetProp(n, BAD_CAST attr);
	bool is = v && !xmlStrcmp(v, BAD_CAST value);

	xmlFree(v);
	return is;
}

static void drop(xmlNode *n)
{
	xmlUnlinkNode(n);
	xmlFreeNode(n);
}

static bool is_kept_target(xmlNode *disk, const char *const *keep, size_t n)
{
	xmlNode *t = first_child(disk, "target");
	xmlChar *dev = t ? xmlGetProp(t, BAD_CAST "dev") : NULL;
	bool kept = false;

	for (size_t i = 0; dev && i < n && !kept; i++)
		kept = !xmlStrcmp(dev, BAD_CAST keep[i]);
	xmlFree(dev);
	return kept;
}

/* A medium the point does not hold stays as an empty drive: the guest
 * sees the same devices, none of the host's files. */
static void eject(xmlNode *disk)
{
	for (xmlNode *c = disk->children, *next; c; c = next) {
		next = c->next;
		if (c->type == XML_ELEMENT_NODE &&
		    (!xmlStrcmp(c->name, BAD_CAST "source") ||
		     !xmlStrcmp(c->name, BAD_CAST "backingStore")))
			drop(c);
	}
	if (!attr_is(disk, "device", "cdrom") &&
	    !attr_is(disk, "device", "floppy"))
		drop(disk); /* a read-only disk cannot be empty */
}

/* A read-only medium: a cdrom/floppy, or a disk marked <readonly/>. */
static bool is_medium(xmlNode *disk)
{
	return attr_is(disk, "device", "cdrom") ||
	       attr_is(disk, "device", "floppy") ||
	       first_child(disk, "readonly") != NULL;
}

/* A character device: files go to @dir, host endpoints are cut off (a
 * socket or port of the original's would be taken over), the agent's
 * channel gets a socket libvirt makes for this domain. */
static int isolate_chardev(xmlNode *n, const char *dir, unsigned k)
{
	xmlNode *src = first_child(n, "source"), *log = first_child(n, "log");
	xmlNode *tgt = first_child(n, "target");
	char path[4096];

	if (log) {
		snprintf(path, sizeof(path), "%s/%s%u-log.txt", dir, n->name,
			 k);
		if (!xmlSetProp(log, BAD_CAST "file", BAD_CAST path))
			return -1;
	}
	if (attr_is(n, "type", "file") || attr_is(n, "type", "pty") ||
	    attr_is(n, "type", "null") || attr_is(n, "type", "vc") ||
	    attr_is(n, "type", "spicevmc") ||
	    attr_is(n, "type", "qemu-vdagent")) {
		if (src && attr_is(n, "type", "file")) {
			snprintf(path, sizeof(path), "%s/%s%u.txt", dir,
				 n->name, k);
			if (!xmlSetProp(src, BAD_CAST "path", BAD_CAST path))
				return -1;
		}
		return 0;
	}
	if (tgt && attr_is(tgt, "name", AGENT_CHANNEL) &&
	    attr_is(n, "type", "unix")) {
		if (src)
			xmlUnsetProp(src, BAD_CAST "path");
		return 0;
	}
	/* tcp, udp, unix, dev, pipe, ...: nothing of the host's */
	for (xmlNode *c = n->children, *next; c; c = next) {
		next = c->next;
		if (c->type == XML_ELEMENT_NODE &&
		    (!xmlStrcmp(c->name, BAD_CAST "source") ||
		     !xmlStrcmp(c->name, BAD_CAST "protocol") ||
		     !xmlStrcmp(c->name, BAD_CAST "reconnect")))
			drop(c);
	}
	return xmlSetProp(n, BAD_CAST "type", BAD_CAST "null") ? 0 : -1;
}

static int isolate(xmlNode *root, const char *dir, const char *const *keep,
		   size_t nkeep)
{
	static const char *const removed[] = {
	    "interface",  "hostdev", "redirdev", "smartcard",
	    "filesystem", "shmem",   "vsock",	 "redirfilter"};
	static const char *const chardevs[] = {"serial", "console", "parallel",
					       "channel"};
	xmlNode *devs = first_child(root, "devices");
	unsigned k = 0;

	for (xmlNode *n = devs ? devs->children : NULL, *next; n; n = next) {
		next = n->next;
		if (n->type != XML_ELEMENT_NODE)
			continue;
		for (size_t i = 0; i < SP_ARRAY_SIZE(removed); i++)
			if (!xmlStrcmp(n->name, BAD_CAST removed[i])) {
				drop(n);
				n = NULL;
				break;
			}
		if (!n)
			continue;
		if (!xmlStrcmp(n->name, BAD_CAST "disk")) {
			if (is_kept_target(n, keep, nkeep))
				continue;
			if (!is_medium(n))
				drop(n);
			else
				eject(n);
			continue;
		}
		if (!xmlStrcmp(n->name, BAD_CAST "graphics")) {
			/* a port of its own, never the original's */
			xmlUnsetProp(n, BAD_CAST "port");
			xmlUnsetProp(n, BAD_CAST "tlsPort");
			xmlUnsetProp(n, BAD_CAST "websocket");
			if (!xmlSetProp(n, BAD_CAST "autoport", BAD_CAST "yes"))
				return -1;
			continue;
		}
		for (size_t i = 0; i < SP_ARRAY_SIZE(chardevs); i++)
			if (!xmlStrcmp(n->name, BAD_CAST chardevs[i]) &&
			    isolate_chardev(n, dir, k++) < 0)
				return -1;
	}
	return 0;
}

int sp_domain_xml_isolate(const char *xml, size_t len, const char *dir,
			  const char *const *keep, size_t nkeep, char **out,
			  struct sp_error *err)
{
	xmlDocPtr doc;
	xmlChar *text = NULL;
	int n = 0, r;

	*out = NULL;
	if (len > (size_t)(1 << 30))
		return sp_error_set(err, SP_E_USAGE, "domain XML too large");
	doc = xmlReadMemory(xml, (int)len, NULL, NULL,
			    XML_PARSE_NONET | XML_PARSE_NOERROR |
				XML_PARSE_NOWARNING);
	if (!doc || !xmlDocGetRootElement(doc)) {
		xmlFreeDoc(doc);
		return sp_error_set(err, SP_E_LIBVIRT,
				    "domain XML to isolate is invalid");
	}
	r = isolate(xmlDocGetRootElement(doc), dir, keep, nkeep);
	if (r == 0)
		xmlDocDumpFormatMemoryEnc(doc, &text, &n, "UTF-8", 0);
	xmlFreeDoc(doc);
	if (r < 0 || !text || n < 0) {
		xmlFree(text);
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	}
	*out = strndup((const char *)text, (size_t)n);
	xmlFree(text);
	return *out ? 0 : sp_error_set(err, SP_E_NOMEM, "out of memory");
}

// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libvirt domain XML with libxml2: which disks a backup captures (and why
 * the others are left out), and the definition a restored copy is defined
 * with.  The text comes from libvirt or from a vault, so it is read as
 * hostile: no network, no DTD (a <!DOCTYPE> stops the parser before its
 * internal subset, so no entity is ever declared, let alone expanded), and
 * libxml2's messages go into the sp_error, never to stderr.  Key
 * invariant: a document sp_domain_xml_for_restore() accepts produces text
 * that sp_domain_def_parse() accepts, with the new name.
 */
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>

#include "domain/domain_xml.h"
#include "util/cleanup.h"

/* No NOENT (entities stay unexpanded), no DTDLOAD, no XINCLUDE, no HUGE. */
#define XML_OPTIONS (XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING)

#define HINT "(is it the output of 'virsh dumpxml'?)"

SP_DEFINE_AUTOPTR(sp_domain_def, sp_domain_def_free)

static pthread_once_t xml_once = PTHREAD_ONCE_INIT;

static void xml_init(void)
{
	xmlInitParser();
}

static void xml_doc_freep(xmlDocPtr *doc)
{
	if (*doc)
		xmlFreeDoc(*doc);
}

static void xml_str_freep(xmlChar **s)
{
	if (*s)
		xmlFree(*s);
}

#define sp_autodoc __attribute__((cleanup(xml_doc_freep)))
#define sp_autoxmlstr __attribute__((cleanup(xml_str_freep)))

/* What one parse learnt besides the tree. */
struct xml_read {
	bool dtd; /* a <!DOCTYPE> was met, and the parse stopped */
	int line;
	char first[200]; /* libxml2's first error, cleaned up */
};

/* libxml2's error channels are per thread; they are pointed here for the
 * length of one call and put back after, so other libxml2 users in the
 * process (libvirt's client library) keep theirs. */
struct xml_quiet {
	xmlStructuredErrorFunc serror;
	void *sctx;
	xmlGenericErrorFunc gerror;
	void *gctx;
};

static void note_error(struct xml_read *st, const xmlError *e)
{
	size_t n;

	if (!st || !e || e->level < XML_ERR_ERROR || st->first[0])
		return;
	snprintf(st->first, sizeof(st->first), "%s",
		 e->message ? e->message : "not well-formed");
	for (n = 0; st->first[n]; n++)
		if ((unsigned char)st->first[n] < 0x20)
			st->first[n] = ' ';
	while (n > 0 && st->first[n - 1] == ' ')
		st->first[--n] = '\0';
	st->line = e->line;
}

static void on_error(void *data, xmlErrorPtr e)
{
	note_error(data, e);
}

static void on_ctxt_error(void *data, xmlErrorPtr e)
{
	xmlParserCtxtPtr ctxt = data;

	note_error(ctxt ? ctxt->_private : NULL, e);
}

static void on_generic(void *data, const char *fmt, ...)
{
}

static void quiet_begin(struct xml_quiet *q, struct xml_read *st)
{
	q->serror = xmlStructuredError;
	q->sctx = xmlStructuredErrorContext;
	q->gerror = xmlGenericError;
	q->gctx = xmlGenericErrorContext;
	xmlSetStructuredErrorFunc(st, on_error);
	xmlSetGenericErrorFunc(NULL, on_generic);
}

static void quiet_end(const struct xml_quiet *q)
{
	xmlSetStructuredErrorFunc(q->sctx, q->serror);
	xmlSetGenericErrorFunc(q->gctx, q->gerror);
}

/* A document type declaration is where entities (billion laughs, external
 * files) come from: refuse it the moment it starts. */
static void on_dtd(void *ctx, const xmlChar *name, const xmlChar *public_id,
		   const xmlChar *system_id)
{
	xmlParserCtxtPtr ctxt = ctx;
	struct xml_read *st = ctxt->_private;

	if (st)
		st->dtd = true;
	xmlStopParser(ctxt);
}

static void on_entity(void *ctx, const xmlChar *name, int type,
		      const xmlChar *public_id, const xmlChar *system_id,
		      xmlChar *content)
{
	on_dtd(ctx, name, public_id, system_id);
}

static int invalid(struct sp_error *err, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* "domain XML of 'web01' is invalid: WHAT (hint)", or without the name
 * when the document has none (yet). */
static int invalid(struct sp_error *err, const char *name, const char *fmt, ...)
{
	char what[SP_ERROR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (name)
		return sp_error_set(err, SP_E_LIBVIRT,
				    "domain XML of '%s' is invalid: %s %s",
				    name, what, HINT);
	return sp_error_set(err, SP_E_LIBVIRT, "domain XML is invalid: %s %s",
			    what, HINT);
}

static int no_memory(struct sp_error *err)
{
	return sp_error_set(err, SP_E_NOMEM,
			    "out of memory reading the domain XML (free some "
			    "memory and try again)");
}

/* Parse @xml into a tree, refusing anything with a DTD. */
static int xml_read(const char *xml, size_t len, xmlDocPtr *ret,
		    struct sp_error *err)
{
	struct xml_read st = {0};
	struct xml_quiet q;
	xmlParserCtxtPtr ctxt;
	xmlDocPtr doc;

	*ret = NULL;
	if (!xml || len == 0)
		return invalid(err, NULL, "the text is empty");
	if (len > INT_MAX)
		return invalid(err, NULL, "%zu bytes is too large", len);
	pthread_once(&xml_once, xml_init);

	quiet_begin(&q, &st);
	ctxt = xmlNewParserCtxt();
	if (!ctxt) {
		quiet_end(&q);
		return no_memory(err);
	}
	ctxt->_private = &st;
	ctxt->sax->serror = on_ctxt_error;
	ctxt->sax->internalSubset = on_dtd;
	ctxt->sax->externalSubset = on_dtd;
	ctxt->sax->entityDecl = on_entity;
	doc = xmlCtxtReadMemory(ctxt, xml, (int)len, NULL, NULL, XML_OPTIONS);
	xmlFreeParserCtxt(ctxt);
	quiet_end(&q);

	if (st.dtd || (doc && (doc->intSubset || doc->extSubset))) {
		if (doc)
			xmlFreeDoc(doc);
		return invalid(err, NULL,
			       "a document type declaration (<!DOCTYPE>) is "
			       "not allowed");
	}
	if (!doc) {
		if (!st.first[0])
			return invalid(err, NULL, "not well-formed XML");
		return invalid(err, NULL, "line %d: %s", st.line, st.first);
	}
	*ret = doc;
	return 0;
}

static bool is_elem(const xmlNode *n, const char *name)
{
	return n && n->type == XML_ELEMENT_NODE && !n->ns &&
	       xmlStrEqual(n->name, BAD_CAST name);
}

/* The next element named @name from @n on (@n included). */
static xmlNode *find_from(xmlNode *n, const char *name)
{
	for (; n; n = n->next)
		if (is_elem(n, name))
			return n;
	return NULL;
}

static xmlNode *child(const xmlNode *parent, const char *name)
{
	return parent ? find_from(parent->children, name) : NULL;
}

static xmlNode *sibling(const xmlNode *n, const char *name)
{
	return find_from(n->next, name);
}

/* Iterate over every <devices>/<@name> of the domain, in document order. */
#define for_each_device(root, dev, n, name)                                    \
	for (dev = child(root, "devices"); dev; dev = sibling(dev, "devices")) \
		for (n = child(dev, name); n; n = sibling(n, name))

/* *@out = a malloc'd copy of attribute @attr of @n (NULL when @n or the
 * attribute is absent, or when it is empty and @empty_is_null). */
static int dup_prop(const xmlNode *n, const char *attr, bool empty_is_null,
		    char **out)
{
	sp_autoxmlstr xmlChar *v = NULL;

	*out = NULL;
	if (!n)
		return 0;
	v = xmlGetNoNsProp(n, BAD_CAST attr);
	if (!v || (empty_is_null && !v[0]))
		return 0;
	*out = strdup((const char *)v);
	return *out ? 0 : SP_E_NOMEM;
}

static int dup_or(char **s, const char *dflt)
{
	if (!*s)
		*s = strdup(dflt);
	return *s ? 0 : SP_E_NOMEM;
}

/* why_excluded is static text: one line per protocol and disk type.  Only
 * nbd was read through libvirt 9.0's backup job here; the others are left
 * out rather than risk failing the whole job. */
static const char *const network_why[][2] = {
    {"rbd", "network disk (protocol rbd): only nbd network disks are read"},
    {"iscsi", "network disk (protocol iscsi): only nbd network disks are read"},
    {"gluster",
     "network disk (protocol gluster): only nbd network disks are read"},
    {"nfs", "network disk (protocol nfs): only nbd network disks are read"},
    {"http", "network disk (protocol http): only nbd network disks are read"},
    {"https", "network disk (protocol https): only nbd network disks are read"},
    {"ftp", "network disk (protocol ftp): only nbd network disks are read"},
    {"ftps", "network disk (protocol ftps): only nbd network disks are read"},
    {"tftp", "network disk (protocol tftp): only nbd network disks are read"},
    {"ssh", "network disk (protocol ssh): only nbd network disks are read"},
    {"vxhs", "network disk (protocol vxhs): only nbd network disks are read"},
};

static const char *const type_why[][2] = {
    {"volume", "disk type 'volume' is not supported by pull-mode backup"},
    {"dir", "disk type 'dir' is not supported by pull-mode backup"},
    {"nvme", "disk type 'nvme' is not supported by pull-mode backup"},
    {"vhostuser", "disk type 'vhostuser' is not supported by pull-mode backup"},
    {"vhostvdpa", "disk type 'vhostvdpa' is not supported by pull-mode backup"},
};

/* Why a pull-mode backup cannot (or must not) read @d, or NULL. */
static const char *exclusion(const struct sp_domain_disk *d,
			     const char *protocol)
{
	size_t i;

	if (!strcmp(d->device, "lun"))
		return "pass-through LUN: only a backup inside the guest "
		       "reaches it";
	if (strcmp(d->device, "disk") != 0 && strcmp(d->device, "cdrom") != 0 &&
	    strcmp(d->device, "floppy") != 0)
		return "not a disk device";
	if (!strcmp(d->type, "network")) {
		if (protocol && !strcmp(protocol, "nbd"))
			return NULL;
		for (i = 0; protocol && i < SP_ARRAY_SIZE(network_why); i++)
			if (!strcmp(protocol, network_why[i][0]))
				return network_why[i][1];
		return "network disk: only nbd network disks are read";
	}
	if (strcmp(d->type, "file") != 0 && strcmp(d->type, "block") != 0) {
		for (i = 0; i < SP_ARRAY_SIZE(type_why); i++)
			if (!strcmp(d->type, type_why[i][0]))
				return type_why[i][1];
		return "disk type is not supported by pull-mode backup";
	}
	if (!d->source)
		return "empty drive";
	return NULL;
}

bool sp_domain_disk_keeps_bitmap(const struct sp_domain_disk *d,
				 const char **why)
{
	bool block = d->type && !strcmp(d->type, "block");
	const char *w;

	if (d->media)
		w = "read-only medium: the guest cannot change it (read in "
		    "full, stored once by chunk hash)";
	else if (d->type && !strcmp(d->type, "network"))
		w = "network disk keeps no checkpoint bitmap here (read in "
		    "full, compared by chunk hash)";
	else if (d->format && !strcmp(d->format, "qcow2"))
		return true;
	else if (!d->format || !strcmp(d->format, "raw"))
		w = block ? "raw block device keeps no checkpoint bitmap (only "
			    "qcow2 can)"
			  : "raw file keeps no checkpoint bitmap (only qcow2 "
			    "can)";
	else
		w = "its format keeps no checkpoint bitmap (only qcow2 can)";
	if (why)
		*why = w;
	return false;
}

/* <dataStore type=T><format type=F/><source file|dev=P/></dataStore> of
 * a qcow2 image with an external data file; 0 or SP_E_NOMEM. */
static int data_store_read(const xmlNode *ds, struct sp_domain_disk *d)
{
	if (!ds)
		return 0;
	if (dup_prop(ds, "type", true, &d->data_type) < 0 ||
	    dup_or(&d->data_type, "file") < 0 ||
	    dup_prop(child(ds, "format"), "type", true, &d->data_format) < 0)
		return SP_E_NOMEM;
	if (!strcmp(d->data_type, "file"))
		return dup_prop(child(ds, "source"), "file", true,
				&d->data_source);
	if (!strcmp(d->data_type, "block"))
		return dup_prop(child(ds, "source"), "dev", true,
				&d->data_source);
	return 0;
}

/* d->net_source of a network disk: its first <host>, as an NBD URI for
 * nbd, "PROTOCOL://HOST/NAME" otherwise; 0 or SP_E_NOMEM. */
static int net_source(const xmlNode *src, struct sp_domain_disk *d)
{
	xmlNode *host = child(src, "host");
	sp_autoxmlstr xmlChar *name = NULL, *hname = NULL, *port = NULL,
			      *transport = NULL, *sock = NULL;
	int r;

	if (src)
		name = xmlGetNoNsProp(src, BAD_CAST "name");
	if (host) {
		hname = xmlGetNoNsProp(host, BAD_CAST "name");
		port = xmlGetNoNsProp(host, BAD_CAST "port");
		transport = xmlGetNoNsProp(host, BAD_CAST "transport");
		sock = xmlGetNoNsProp(host, BAD_CAST "socket");
	}
#define S(x) ((x) ? (const char *)(x) : "")
	if (transport && xmlStrEqual(transport, BAD_CAST "unix"))
		r = asprintf(&d->net_source, "%s+unix:///%s?socket=%s",
			     S(d->protocol), S(name), S(sock));
	else
		r = asprintf(&d->net_source, "%s://%s%s%s/%s", S(d->protocol),
			     S(hname), port ? ":" : "", S(port), S(name));
#undef S
	if (r < 0) {
		d->net_source = NULL;
		return SP_E_NOMEM;
	}
	return 0;
}

/* Fill @d from <disk> element @n; 0 or SP_E_NOMEM (target may be NULL). */
static int disk_read(const xmlNode *n, struct sp_domain_disk *d)
{
	xmlNode *target = child(n, "target"), *src = child(n, "source");
	sp_autofree char *protocol = NULL;
	const char *src_attr = NULL;

	if (dup_prop(target, "dev", true, &d->target) < 0 ||
	    dup_prop(target, "bus", true, &d->bus) < 0 ||
	    dup_prop(n, "device", true, &d->device) < 0 ||
	    dup_or(&d->device, "disk") < 0 ||
	    dup_prop(n, "type", true, &d->type) < 0 ||
	    dup_or(&d->type, "file") < 0 ||
	    dup_prop(child(n, "driver"), "type", true, &d->format) < 0 ||
	    dup_prop(child(n, "driver"), "error_policy", true,
		     &d->error_policy) < 0 ||
	    dup_prop(child(n, "driver"), "rerror_policy", true,
		     &d->rerror_policy) < 0 ||
	    dup_prop(src, "protocol", true, &protocol) < 0)
		return SP_E_NOMEM;
	if (!strcmp(d->type, "file"))
		src_attr = "file";
	else if (!strcmp(d->type, "block"))
		src_attr = "dev";
	if (src_attr && dup_prop(src, src_attr, true, &d->source) < 0)
		return SP_E_NOMEM;
	if (data_store_read(child(src, "dataStore"), d) < 0)
		return SP_E_NOMEM;
	d->readonly = child(n, "readonly") != NULL;
	d->shareable = child(n, "shareable") != NULL;
	d->transient = child(n, "transient") != NULL;
	d->why_excluded = exclusion(d, protocol);
	d->backup_no = d->why_excluded != NULL;
	/* A cdrom or floppy is read-only to the guest with or without
	 * <readonly/> (libvirt adds it to a cdrom). */
	d->media = !d->backup_no && (d->readonly || strcmp(d->device, "disk"));
	if (!strcmp(d->type, "network")) {
		d->protocol = protocol;
		protocol = NULL;
		if (net_source(src, d) < 0)
			return SP_E_NOMEM;
	}
	return 0;
}

/* The text of the first <@name> child of @root, malloc'd; NULL if absent
 * or empty. */
static int dup_text(const xmlNode *root, const char *name, char **out)
{
	xmlNode *n = child(root, name);
	sp_autoxmlstr xmlChar *v = NULL;

	*out = NULL;
	if (!n)
		return 0;
	v = xmlNodeGetContent(n);
	if (!v || !v[0])
		return 0;
	*out = strdup((const char *)v);
	return *out ? 0 : SP_E_NOMEM;
}

static int disks_read(const xmlNode *root, struct sp_domain_def *def,
		      struct sp_error *err)
{
	xmlNode *dev, *n;
	size_t count = 0, i = 0;

	for_each_device(root, dev, n, "disk")
	{
		count++;
	}
	for_each_device(root, dev, n, "interface")
	{
		def->ninterfaces++;
	}
	if (!count)
		return 0;
	def->disks = calloc(count, sizeof(*def->disks));
	if (!def->disks)
		return no_memory(err);
	for_each_device(root, dev, n, "disk")
	{
		struct sp_domain_disk *d = &def->disks[i++];

		def->ndisks = i;
		if (disk_read(n, d) < 0)
			return no_memory(err);
		if (!d->target)
			return invalid(err, def->name,
				       "disk %zu has no <target dev=...>", i);
	}
	return 0;
}

/* The root of @doc if it is a <domain> with a <name>. */
static int domain_root(xmlDocPtr doc, xmlNode **ret, struct sp_error *err)
{
	xmlNode *root = xmlDocGetRootElement(doc);
	sp_autoxmlstr xmlChar *name = NULL;

	if (!root)
		return invalid(err, NULL, "there is no root element");
	if (root->ns)
		return invalid(
		    err, NULL,
		    "the root element '%.64s' is in namespace '%.64s', "
		    "libvirt's <domain> is in none",
		    (const char *)root->name,
		    root->ns->href ? (const char *)root->ns->href : "");
	if (!is_elem(root, "domain"))
		return invalid(err, NULL,
			       "the root element '%.64s' is not "
			       "<domain>",
			       (const char *)root->name);
	if (child(root, "name"))
		name = xmlNodeGetContent(child(root, "name"));
	if (!name || !name[0])
		return invalid(err, NULL, "<domain> has no <name>");
	*ret = root;
	return 0;
}

/* An element @name in namespace SP_CBT_XMLNS. */
static bool is_cbt_elem(const xmlNode *n, const char *name)
{
	return n && n->type == XML_ELEMENT_NODE && n->ns && n->ns->href &&
	       xmlStrEqual(n->ns->href, BAD_CAST SP_CBT_XMLNS) &&
	       xmlStrEqual(n->name, BAD_CAST name);
}

/* <metadata><cbt xmlns=SP_CBT_XMLNS>, or NULL. */
static xmlNode *cbt_record(const xmlNode *root)
{
	for (xmlNode *n = child(root, "metadata")
			      ? child(root, "metadata")->children
			      : NULL;
	     n; n = n->next)
		if (is_cbt_elem(n, "cbt"))
			return n;
	return NULL;
}

/* The record's <disk target=@target>, or NULL. */
static xmlNode *cbt_record_disk(const xmlNode *rec, const char *target)
{
	for (xmlNode *n = rec ? rec->children : NULL; n; n = n->next) {
		sp_autoxmlstr xmlChar *t = NULL;

		if (!is_cbt_elem(n, "disk"))
			continue;
		t = xmlGetNoNsProp(n, BAD_CAST "target");
		if (t && xmlStrEqual(t, BAD_CAST target))
			return n;
	}
	return NULL;
}

/* A disk counts as adopted only when the record names it with the very
 * qcow2 image it runs on, and a data store that is raw (and the one
 * <dataStore> names, where libvirt keeps it): a definition edited by hand
 * since is not taken for ours.  0 or SP_E_NOMEM. */
static int cbt_marks_read(const xmlNode *root, struct sp_domain_def *def)
{
	xmlNode *rec = cbt_record(root);

	for (size_t i = 0; rec && i < def->ndisks; i++) {
		struct sp_domain_disk *d = &def->disks[i];
		xmlNode *n = cbt_record_disk(rec, d->target);
		sp_autoxmlstr xmlChar *meta = NULL;

		sp_autofree char *data = NULL, *type = NULL;

		if (!n || !d->source || !d->format ||
		    strcmp(d->format, "qcow2") != 0 ||
		    (d->data_format && strcmp(d->data_format, "raw")))
			continue;
		meta = xmlGetNoNsProp(n, BAD_CAST "meta");
		if (!meta || strcmp((const char *)meta, d->source) != 0)
			continue;
		if (dup_prop(n, "data", true, &data) < 0 ||
		    dup_prop(n, "type", true, &type) < 0)
			return SP_E_NOMEM;
		if (!data || !type ||
		    (strcmp(type, "file") != 0 && strcmp(type, "block") != 0) ||
		    (d->data_source && strcmp(d->data_source, data) != 0))
			continue;
		if (!d->data_source) {
			d->data_source = sp_steal_ptr(&data);
			d->data_type = sp_steal_ptr(&type);
		}
		if ((!d->data_format && !(d->data_format = strdup("raw"))) ||
		    !(d->cbt_meta = strdup(d->source)) ||
		    dup_prop(n, "owner", true, &d->cbt_owner) < 0)
			return SP_E_NOMEM;
	}
	return 0;
}

/* <os>: the firmware and its variable store. */
static int firmware_read(const xmlNode *root, struct sp_domain_firmware *fw)
{
	xmlNode *os = child(root, "os");
	xmlNode *loader = child(os, "loader"), *nvram = child(os, "nvram");
	sp_autofree char *ro = NULL;

	if (!os)
		return 0;
	if (dup_prop(os, "firmware", true, &fw->firmware) < 0 ||
	    dup_text(os, "loader", &fw->loader) < 0 ||
	    dup_prop(loader, "type", true, &fw->loader_type) < 0 ||
	    dup_prop(loader, "readonly", true, &ro) < 0)
		return SP_E_NOMEM;
	fw->loader_readonly = ro && !strcmp(ro, "yes");
	if (!nvram)
		return 0;
	fw->has_nvram = true;
	if (dup_prop(nvram, "template", true, &fw->nvram_template) < 0 ||
	    dup_prop(nvram, "type", true, &fw->nvram_type) < 0)
		return SP_E_NOMEM;
	if (!fw->nvram_type)
		return dup_text(os, "nvram", &fw->nvram);
	if (!strcmp(fw->nvram_type, "file"))
		return dup_prop(child(nvram, "source"), "file", true,
				&fw->nvram);
	if (!strcmp(fw->nvram_type, "block"))
		return dup_prop(child(nvram, "source"), "dev", true,
				&fw->nvram);
	return 0;
}

bool sp_domain_has_nvram(const struct sp_domain_def *def)
{
	const struct sp_domain_firmware *fw = &def->fw;

	return fw->has_nvram ||
	       (fw->firmware && !strcmp(fw->firmware, "efi")) ||
	       (fw->loader_readonly && fw->loader_type &&
		!strcmp(fw->loader_type, "pflash"));
}

static int tpms_read(const xmlNode *root, struct sp_domain_def *def,
		     struct sp_error *err)
{
	xmlNode *dev, *n;
	size_t count = 0, i = 0;

	for_each_device(root, dev, n, "tpm")
	{
		count++;
	}
	if (!count)
		return 0;
	def->tpms = calloc(count, sizeof(*def->tpms));
	if (!def->tpms)
		return no_memory(err);
	for_each_device(root, dev, n, "tpm")
	{
		struct sp_domain_tpm *t = &def->tpms[i++];
		xmlNode *backend = child(n, "backend");
		sp_autofree char *ps = NULL;

		def->ntpms = i;
		if (dup_prop(n, "model", true, &t->model) < 0 ||
		    dup_prop(backend, "type", true, &t->backend) < 0 ||
		    dup_prop(backend, "version", true, &t->version) < 0 ||
		    dup_prop(backend, "persistent_state", true, &ps) < 0)
			return no_memory(err);
		t->persistent_state = ps && !strcmp(ps, "yes");
		t->encrypted = child(backend, "encryption") != NULL;
	}
	return 0;
}

static int def_from_doc(xmlDocPtr doc, struct sp_domain_def **ret,
			struct sp_error *err)
{
	sp_autoptr(sp_domain_def) struct sp_domain_def *def = NULL;
	xmlNode *root = NULL;
	int r;

	r = domain_root(doc, &root, err);
	if (r < 0)
		return r;
	def = calloc(1, sizeof(*def));
	if (!def)
		return no_memory(err);
	if (dup_text(root, "name", &def->name) < 0 || !def->name ||
	    dup_text(root, "uuid", &def->uuid) < 0 ||
	    dup_prop(root, "type", true, &def->type) < 0)
		return no_memory(err);
	r = disks_read(root, def, err);
	if (r == 0 && firmware_read(root, &def->fw) < 0)
		r = no_memory(err);
	if (r == 0)
		r = tpms_read(root, def, err);
	if (r < 0)
		return r;
	if (cbt_marks_read(root, def) < 0)
		return no_memory(err);
	*ret = sp_steal_ptr(&def);
	return 0;
}

int sp_domain_def_parse(const char *xml, size_t len, struct sp_domain_def **ret,
			struct sp_error *err)
{
	sp_autodoc xmlDocPtr doc = NULL;
	int r;

	*ret = NULL;
	r = xml_read(xml, len, &doc, err);
	if (r < 0)
		return r;
	return def_from_doc(doc, ret, err);
}

const struct sp_domain_disk *sp_domain_def_disk(const struct sp_domain_def *def,
						const char *target)
{
	for (size_t i = 0; def && i < def->ndisks; i++)
		if (!strcmp(def->disks[i].target, target))
			return &def->disks[i];
	return NULL;
}

void sp_domain_def_free(struct sp_domain_def *def)
{
	size_t i;

	if (!def)
		return;
	for (i = 0; i < def->ndisks; i++) {
		struct sp_domain_disk *d = &def->disks[i];

		free(d->target);
		free(d->bus);
		free(d->device);
		free(d->type);
		free(d->source);
		free(d->format);
		free(d->error_policy);
		free(d->rerror_policy);
		free(d->data_source);
		free(d->data_type);
		free(d->data_format);
		free(d->cbt_meta);
		free(d->cbt_owner);
		free(d->protocol);
		free(d->net_source);
	}
	free(def->disks);
	for (i = 0; i < def->ntpms; i++) {
		free(def->tpms[i].model);
		free(def->tpms[i].backend);
		free(def->tpms[i].version);
	}
	free(def->tpms);
	free(def->fw.firmware);
	free(def->fw.loader);
	free(def->fw.loader_type);
	free(def->fw.nvram);
	free(def->fw.nvram_type);
	free(def->fw.nvram_template);
	free(def->name);
	free(def->uuid);
	free(def->type);
	free(def);
}

/* Rewriting.  Nodes are added and removed together with the indentation
 * before them, so the definition still reads like libvirt's own. */

static bool is_blank(const xmlNode *n)
{
	return n && n->type == XML_TEXT_NODE && xmlIsBlankNode((xmlNode *)n);
}

static void drop(xmlNode *n)
{
	if (is_blank(n->prev)) {
		xmlNode *ws = n->prev;

		xmlUnlinkNode(ws);
		xmlFreeNode(ws);
	}
	xmlUnlinkNode(n);
	xmlFreeNode(n);
}

static void drop_children(xmlNode *parent, const char *name)
{
	xmlNode *n, *next;

	for (n = child(parent, name); n; n = next) {
		next = sibling(n, name);
		drop(n);
	}
}

/* The first element at or after @n. */
static xmlNode *elem_from(xmlNode *n)
{
	while (n && n->type != XML_ELEMENT_NODE)
		n = n->next;
	return n;
}

/* Put @n under @parent before element @ref (last if NULL), indented as
 * @ref is. */
static int insert_before(xmlNode *parent, xmlNode *ref, xmlNode *n)
{
	xmlNode *ws;

	if (!ref)
		return xmlAddChild(parent, n) ? 0 : SP_E_NOMEM;
	if (!xmlAddPrevSibling(ref, n))
		return SP_E_NOMEM;
	if (is_blank(n->prev)) {
		ws = xmlCopyNode(n->prev, 1);
		if (!ws || !xmlAddNextSibling(n, ws)) {
			xmlFreeNode(ws);
			return SP_E_NOMEM;
		}
	}
	return 0;
}

/* Replace the content of <@name> under @root with @text (as text: no
 * entity in it is interpreted). */
static int set_text(xmlNode *root, const char *name, const char *text)
{
	xmlNode *n = child(root, name), *t;

	if (!n)
		return SP_E_INTERNAL;
	xmlNodeSetContent(n, NULL);
	t = xmlNewDocText(n->doc, BAD_CAST text);
	if (!t || !xmlAddChild(n, t)) {
		xmlFreeNode(t);
		return SP_E_NOMEM;
	}
	return 0;
}

/* <driver type=@fmt>, the <driver name='qemu'> made if missing. */
static int set_driver_type(xmlNode *disk, const char *fmt)
{
	xmlNode *driver = child(disk, "driver");
	int r;

	if (!driver) {
		driver =
		    xmlNewDocNode(disk->doc, NULL, BAD_CAST "driver", NULL);
		if (!driver)
			return SP_E_NOMEM;
		r = insert_before(disk, elem_from(disk->children), driver);
		if (r < 0) {
			xmlFreeNode(driver);
			return r;
		}
		if (!xmlSetProp(driver, BAD_CAST "name", BAD_CAST "qemu"))
			return SP_E_NOMEM;
	}
	return xmlSetProp(driver, BAD_CAST "type", BAD_CAST fmt) ? 0
								 : SP_E_NOMEM;
}

/* <backingStore type='network'><format type='raw'/><source protocol='nbd'
 * name=EXPORT><host transport='unix' socket=SOCKET/></source><backingStore/>
 * </backingStore>, after @src. */
static int add_nbd_backing(xmlNode *disk, xmlNode *src,
			   const struct sp_domain_disk_map *m)
{
	xmlNode *bs =
	    xmlNewDocNode(disk->doc, NULL, BAD_CAST "backingStore", NULL);
	xmlNode *fmt, *bsrc, *host, *end;

	if (!bs)
		return SP_E_NOMEM;
	if (!xmlAddNextSibling(src, bs)) {
		xmlFreeNode(bs);
		return SP_E_NOMEM;
	}
	fmt = xmlNewChild(bs, NULL, BAD_CAST "format", NULL);
	bsrc = xmlNewChild(bs, NULL, BAD_CAST "source", NULL);
	host = bsrc ? xmlNewChild(bsrc, NULL, BAD_CAST "host", NULL) : NULL;
	end = xmlNewChild(bs, NULL, BAD_CAST "backingStore", NULL);
	if (!fmt || !host || !end ||
	    !xmlSetProp(bs, BAD_CAST "type", BAD_CAST "network") ||
	    !xmlSetProp(fmt, BAD_CAST "type", BAD_CAST "raw") ||
	    !xmlSetProp(bsrc, BAD_CAST "protocol", BAD_CAST "nbd") ||
	    !xmlSetProp(bsrc, BAD_CAST "name",
			BAD_CAST(m->backing_export ? m->backing_export : "")) ||
	    !xmlSetProp(host, BAD_CAST "transport", BAD_CAST "unix") ||
	    !xmlSetProp(host, BAD_CAST "socket", BAD_CAST m->backing_socket))
		return SP_E_NOMEM;
	return 0;
}

/* One mapped disk: a plain file in @m->format at @m->path. */
static int disk_rewrite(xmlNode *disk, const struct sp_domain_disk_map *m)
{
	xmlNode *driver, *old = child(disk, "source");
	xmlNode *src;
	int r;

	if (!xmlSetProp(disk, BAD_CAST "type", BAD_CAST "file"))
		return SP_E_NOMEM;
	r = set_driver_type(disk, m->format);
	if (r < 0)
		return r;
	driver = child(disk, "driver");

	src = xmlNewDocNode(disk->doc, NULL, BAD_CAST "source", NULL);
	if (!src || !xmlSetProp(src, BAD_CAST "file", BAD_CAST m->path)) {
		xmlFreeNode(src);
		return SP_E_NOMEM;
	}
	if (old) {
		xmlReplaceNode(old, src);
		xmlFreeNode(old);
	} else {
		r = insert_before(disk, elem_from(driver->next), src);
		if (r < 0) {
			xmlFreeNode(src);
			return r;
		}
	}
	drop_children(disk, "backingStore");
	/* credentials of a network source mean nothing to a file */
	drop_children(disk, "auth");
	if (m->stop_on_error &&
	    (!xmlSetProp(driver, BAD_CAST "error_policy", BAD_CAST "stop") ||
	     !xmlSetProp(driver, BAD_CAST "rerror_policy", BAD_CAST "stop")))
		return SP_E_NOMEM;
	return m->backing_socket ? add_nbd_backing(disk, src, m) : 0;
}

static xmlNode *disk_by_target(xmlNode *root, const char *target)
{
	xmlNode *dev, *n;

	for_each_device(root, dev, n, "disk")
	{
		sp_autoxmlstr xmlChar *t =
		    xmlGetNoNsProp(child(n, "target"), BAD_CAST "dev");

		if (t && xmlStrEqual(t, BAD_CAST target))
			return n;
	}
	return NULL;
}

static bool is_text(const char *s)
{
	return s && s[0] && xmlCheckUTF8(BAD_CAST s);
}

static int check_usage(const char *new_name,
		       const struct sp_domain_disk_map *maps, size_t nmaps,
		       char **out, struct sp_error *err)
{
	size_t i;

	if (!out || !is_text(new_name))
		return sp_error_set(err, SP_E_USAGE,
				    "the restored domain needs a name (give "
				    "a non-empty UTF-8 name)");
	for (i = 0; i < nmaps; i++)
		if (!is_text(maps[i].target) || !is_text(maps[i].path) ||
		    !is_text(maps[i].format) ||
		    (maps[i].backing_socket &&
		     !is_text(maps[i].backing_socket)))
			return sp_error_set(err, SP_E_USAGE,
					    "disk map %zu of '%s' is "
					    "incomplete (give a target, "
					    "a path and a format)",
					    i, new_name);
	return 0;
}

/* A file the copy must not share with the original (console log): the
 * old name in its file name becomes the new one, else the new name is put
 * in front.  NULL when out of memory. */
static char *fresh_path(const char *path, const char *name,
			const char *new_name)
{
	const char *base = strrchr(path, '/');
	size_t dirlen = base ? (size_t)(base - path) + 1 : 0;
	const char *hit;
	char *out = NULL;

	base = path + dirlen;
	hit = *name ? strstr(base, name) : NULL;
	if (hit) {
		if (asprintf(&out, "%.*s%.*s%s%s", (int)dirlen, path,
			     (int)(hit - base), base, new_name,
			     hit + strlen(name)) < 0)
			return NULL;
	} else if (asprintf(&out, "%.*s%s-%s", (int)dirlen, path, new_name,
			    base) < 0) {
		return NULL;
	}
	return out;
}

static int fresh_attr(xmlNode *n, const char *attr, const char *name,
		      const char *new_name)
{
	sp_autoxmlstr xmlChar *old = xmlGetProp(n, (const xmlChar *)attr);
	sp_autofree char *p = NULL;

	if (!old)
		return 0;
	p = fresh_path((const char *)old, name, new_name);
	if (!p || !xmlSetProp(n, (const xmlChar *)attr, (const xmlChar *)p))
		return -1;
	return 0;
}

/* Put a new <@name> element holding @text under @parent, after its
 * first <@after> (else after its first element, else last).  NULL when
 * out of memory. */
static xmlNode *add_text_elem(xmlNode *parent, const char *name,
			      const char *text, const char *after)
{
	xmlNode *n = xmlNewDocNode(parent->doc, NULL, BAD_CAST name, NULL);
	xmlNode *t = n ? xmlNewDocText(parent->doc, BAD_CAST text) : NULL;
	xmlNode *prev = child(parent, after);

	if (!t || !xmlAddChild(n, t)) {
		xmlFreeNode(t);
		xmlFreeNode(n);
		return NULL;
	}
	if (!prev)
		prev = elem_from(parent->children);
	if (insert_before(parent, prev ? elem_from(prev->next) : NULL, n) < 0) {
		xmlFreeNode(n);
		return NULL;
	}
	return n;
}

/* The copy's NVRAM is @path: the plain form <nvram>PATH</nvram>, its
 * template kept; a <source> form (file, block, network) becomes it too. */
static int nvram_set(xmlNode *root, const char *path)
{
	xmlNode *os = child(root, "os"), *nv = child(os, "nvram"), *t;

	if (!os)
		return SP_E_USAGE;
	if (!nv)
		return add_text_elem(os, "nvram", path, "loader") ? 0
								  : SP_E_NOMEM;
	xmlUnsetProp(nv, BAD_CAST "type");
	xmlNodeSetContent(nv, NULL);
	t = xmlNewDocText(nv->doc, BAD_CAST path);
	if (!t || !xmlAddChild(nv, t)) {
		xmlFreeNode(t);
		return SP_E_NOMEM;
	}
	return 0;
}

/* Character devices writing to files (serial console logs and the like)
 * get files of their own, and a UEFI domain's NVRAM is left for libvirt
 * to create anew from its template (or is set to @nvram, the restored
 * store): sharing either with the original would make the two domains
 * trip over each other. */
static int separate_files(xmlNode *root, const char *name, const char *new_name,
			  const char *nvram)
{
	static const char *const chardevs[] = {"serial", "console", "parallel",
					       "channel"};
	xmlNode *dev, *n, *os;

	for (size_t k = 0; k < SP_ARRAY_SIZE(chardevs); k++) {
		for_each_device(root, dev, n, chardevs[k])
		{
			sp_autoxmlstr xmlChar *type =
			    xmlGetProp(n, (const xmlChar *)"type");
			xmlNode *src = child(n, "source");
			xmlNode *log = child(n, "log");

			if (type && !xmlStrcmp(type, (const xmlChar *)"file") &&
			    src && fresh_attr(src, "path", name, new_name) < 0)
				return -1;
			if (log && fresh_attr(log, "file", name, new_name) < 0)
				return -1;
		}
	}
	if (nvram)
		return nvram_set(root, nvram);
	os = child(root, "os");
	if (os && child(os, "nvram"))
		xmlNodeSetContent(child(os, "nvram"), NULL);
	return 0;
}

/* Apply the restore edits to @root; 0 or a negative SP_E_* code. */
static int rewrite(xmlNode *root, const char *name, const char *new_name,
		   const struct sp_domain_disk_map *maps, size_t nmaps,
		   const struct sp_domain_restore_ids *ids,
		   struct sp_error *err)
{
	sp_autofree xmlNode **disks = NULL;
	xmlNode *dev, *n;
	size_t i;
	int r;

	disks = calloc(nmaps ? nmaps : 1, sizeof(*disks));
	if (!disks)
		return no_memory(err);
	/* every target is looked up before anything changes */
	for (i = 0; i < nmaps; i++) {
		disks[i] = disk_by_target(root, maps[i].target);
		if (!disks[i])
			return sp_error_set(
			    err, SP_E_USAGE,
			    "domain '%s' has no disk '%s' to restore (pick a "
			    "target the definition has, as 'virsh domblklist "
			    "%s' lists them)",
			    name, maps[i].target, name);
	}
	if (set_text(root, "name", new_name) < 0)
		return no_memory(err);
	drop_children(root, "uuid");
	if (ids && ids->uuid && !add_text_elem(root, "uuid", ids->uuid, "name"))
		return no_memory(err);
	for_each_device(root, dev, n, "interface")
	{
		drop_children(n, "mac");
	}
	for (i = 0; i < nmaps; i++) {
		r = disk_rewrite(disks[i], &maps[i]);
		if (r < 0)
			return no_memory(err);
	}
	r = separate_files(root, name, new_name, ids ? ids->nvram : NULL);
	if (r == SP_E_USAGE)
		return sp_error_set(err, SP_E_USAGE,
				    "domain '%s' has no <os> to hold its "
				    "restored NVRAM",
				    name);
	if (r < 0)
		return no_memory(err);
	return 0;
}

/* @doc as text into *@out (malloc'd, NUL-terminated). */
static int doc_text(xmlDocPtr doc, char **out, struct sp_error *err)
{
	struct xml_read st = {0};
	struct xml_quiet q;
	xmlChar *text = NULL;
	int n = 0;

	quiet_begin(&q, &st);
	xmlDocDumpFormatMemoryEnc(doc, &text, &n, "UTF-8", 0);
	quiet_end(&q);
	if (!text || n < 0) {
		xmlFree(text);
		return no_memory(err);
	}
	*out = malloc((size_t)n + 1);
	if (*out) {
		memcpy(*out, text, (size_t)n);
		(*out)[n] = '\0';
	}
	xmlFree(text);
	return *out ? 0 : no_memory(err);
}

int sp_domain_xml_for_restore(const char *xml, size_t len, const char *new_name,
			      const struct sp_domain_disk_map *maps,
			      size_t nmaps,
			      const struct sp_domain_restore_ids *ids,
			      char **out, struct sp_error *err)
{
	sp_autodoc xmlDocPtr doc = NULL;
	sp_autoptr(sp_domain_def) struct sp_domain_def *def = NULL;
	struct xml_read st = {0};
	struct xml_quiet q;
	int r;

	if (out)
		*out = NULL;
	r = check_usage(new_name, maps, nmaps, out, err);
	if (r == 0 && ids &&
	    ((ids->uuid && !is_text(ids->uuid)) ||
	     (ids->nvram && !is_text(ids->nvram))))
		r = sp_error_set(err, SP_E_USAGE,
				 "the restored domain's UUID and NVRAM path "
				 "must be non-empty UTF-8 text");
	if (r < 0)
		return r;
	r = xml_read(xml, len, &doc, err);
	if (r < 0)
		return r;
	/* the same checks as a parse, so the result parses too */
	r = def_from_doc(doc, &def, err);
	if (r < 0)
		return r;

	quiet_begin(&q, &st);
	r = rewrite(xmlDocGetRootElement(doc), def->name, new_name, maps, nmaps,
		    ids, err);
	quiet_end(&q);
	if (r < 0)
		return r;
	return doc_text(doc, out, err);
}

/* A disk's own error policies back, in place of 'stop'. */
static int set_policies(xmlNode *driver, const struct sp_domain_disk_map *m)
{
	xmlUnsetProp(driver, BAD_CAST "error_policy");
	xmlUnsetProp(driver, BAD_CAST "rerror_policy");
	if ((m->error_policy && !xmlSetProp(driver, BAD_CAST "error_policy",
					    BAD_CAST m->error_policy)) ||
	    (m->rerror_policy && !xmlSetProp(driver, BAD_CAST "rerror_policy",
					     BAD_CAST m->rerror_policy)))
		return SP_E_NOMEM;
	return 0;
}

int sp_domain_xml_set_disks(const char *xml, size_t len,
			    const struct sp_domain_disk_map *maps, size_t nmaps,
			    char **out, struct sp_error *err)
{
	sp_autodoc xmlDocPtr doc = NULL;
	sp_autoptr(sp_domain_def) struct sp_domain_def *def = NULL;
	struct xml_read st = {0};
	struct xml_quiet q;
	xmlNode *disk;
	int r;

	*out = NULL;
	r = xml_read(xml, len, &doc, err);
	if (r == 0)
		r = def_from_doc(doc, &def, err);
	if (r == 0)
		r = check_usage(def->name, maps, nmaps, out, err);
	for (size_t i = 0; r == 0 && i < nmaps; i++) {
		disk =
		    disk_by_target(xmlDocGetRootElement(doc), maps[i].target);
		if (!disk)
			return sp_error_set(err, SP_E_USAGE,
					    "domain '%s' has no disk '%s'",
					    def->name, maps[i].target);
		quiet_begin(&q, &st);
		r = disk_rewrite(disk, &maps[i]);
		if (r == 0 && !maps[i].stop_on_error)
			r = set_policies(child(disk, "driver"), &maps[i]);
		quiet_end(&q);
		if (r < 0)
			return no_memory(err);
	}
	return r < 0 ? r : doc_text(doc, out, err);
}

/* ---- changed-block tracking for raw disks --------------------------------
 */

/* The domain's <metadata><cbt xmlns=SP_CBT_XMLNS>, made if missing. */
static xmlNode *cbt_record_get(xmlNode *root)
{
	xmlNode *md = child(root, "metadata"), *rec = cbt_record(root);
	xmlNsPtr ns;

	if (rec)
		return rec;
	if (!md) {
		md = xmlNewDocNode(root->doc, NULL, BAD_CAST "metadata", NULL);
		if (!md || insert_before(root, NULL, md) < 0) {
			xmlFreeNode(md);
			return NULL;
		}
	}
	rec = xmlNewDocNode(root->doc, NULL, BAD_CAST "cbt", NULL);
	if (!rec)
		return NULL;
	ns = xmlNewNs(rec, BAD_CAST SP_CBT_XMLNS, BAD_CAST "stillpoint");
	if (!ns || !xmlAddChild(md, rec)) {
		xmlFreeNode(rec);
		return NULL;
	}
	xmlSetNs(rec, ns);
	return rec;
}

/* Parse @xml and find disk @target in both the tree and the parsed
 * definition. */
static int cbt_open(const char *xml, size_t len, const char *target,
		    xmlDocPtr *doc, struct sp_domain_def **def,
		    const struct sp_domain_disk **dd, xmlNode **node,
		    struct sp_error *err)
{
	int r;

	r = xml_read(xml, len, doc, err);
	if (r == 0)
		r = def_from_doc(*doc, def, err);
	if (r < 0)
		return r;
	*dd = sp_domain_def_disk(*def, target);
	*node = disk_by_target(xmlDocGetRootElement(*doc), target);
	if (!*dd || !*node)
		return sp_error_set(err, SP_E_USAGE,
				    "domain '%s' has no disk '%s' (see 'virsh "
				    "domblklist %s')",
				    (*def)->name, target, (*def)->name);
	return 0;
}

const char *sp_domain_disk_cbt_refusal(const struct sp_domain_disk *d)
{
	if (d->cbt_meta)
		return "its changes are tracked already";
	if (d->data_source)
		return "it is a qcow2 image with a data store already";
	if (d->backup_no)
		return d->why_excluded;
	if (strcmp(d->device, "disk") != 0 || d->readonly || d->media)
		return "it is read-only or removable media: nothing changes "
		       "on it to track";
	if (strcmp(d->type, "file") != 0 && strcmp(d->type, "block") != 0)
		return "only a raw file or block device can be given a "
		       "metadata image";
	if (d->shareable)
		return "it is shared with other domains (<shareable/>), "
		       "which would not see the metadata image";
	if (d->transient)
		return "it is a transient disk";
	if (d->format && strcmp(d->format, "raw") != 0)
		return "it is not raw (only a raw file or block device needs "
		       "a metadata image; qcow2 keeps its own bitmaps)";
	return NULL;
}

int sp_domain_xml_cbt_adopt(const char *xml, size_t len, const char *target,
			    const char *meta, const char *owner, char **out,
			    struct sp_error *err)
{
	sp_autodoc xmlDocPtr doc = NULL;
	sp_autoptr(sp_domain_def) struct sp_domain_def *def = NULL;
	const struct sp_domain_disk *dd;
	xmlNode *disk, *old, *src, *ds, *fmt, *rec, *mark;
	const char *why;
	int r;

	*out = NULL;
	if (!is_text(meta) || meta[0] != '/')
		return sp_error_set(err, SP_E_USAGE,
				    "the metadata image needs an absolute "
				    "path");
	r = cbt_open(xml, len, target, &doc, &def, &dd, &disk, err);
	if (r < 0)
		return r;
	why = sp_domain_disk_cbt_refusal(dd);
	if (why)
		return sp_error_set(err, SP_E_USAGE,
				    "disk '%s' of domain '%s' cannot have its "
				    "changes tracked: %s",
				    target, def->name, why);
	old = child(disk, "source");
	src = xmlNewDocNode(doc, NULL, BAD_CAST "source", NULL);
	ds = xmlNewDocNode(doc, NULL, BAD_CAST "dataStore", NULL);
	fmt = xmlNewDocNode(doc, NULL, BAD_CAST "format", NULL);
	if (!src || !ds || !fmt || !old ||
	    !xmlSetProp(src, BAD_CAST "file", BAD_CAST meta) ||
	    !xmlSetProp(ds, BAD_CAST "type", BAD_CAST dd->type) ||
	    !xmlSetProp(fmt, BAD_CAST "type", BAD_CAST "raw")) {
		xmlFreeNode(src);
		xmlFreeNode(ds);
		xmlFreeNode(fmt);
		return no_memory(err);
	}
	/* The disk's own <source> becomes the data store's, whole. */
	xmlReplaceNode(old, src);
	xmlAddChild(src, ds);
	xmlAddChild(ds, fmt);
	xmlAddChild(ds, old);
	if (!xmlSetProp(disk, BAD_CAST "type", BAD_CAST "file") ||
	    set_driver_type(disk, "qcow2") < 0)
		return no_memory(err);
	rec = cbt_record_get(xmlDocGetRootElement(doc));
	if (!rec)
		return no_memory(err);
	mark = cbt_record_disk(rec, target);
	if (mark) {
		xmlUnlinkNode(mark);
		xmlFreeNode(mark);
	}
	mark = xmlNewChild(rec, rec->ns, BAD_CAST "disk", NULL);
	if (!mark || !xmlSetProp(mark, BAD_CAST "target", BAD_CAST target) ||
	    !xmlSetProp(mark, BAD_CAST "meta", BAD_CAST meta) ||
	    !xmlSetProp(mark, BAD_CAST "data", BAD_CAST dd->source) ||
	    !xmlSetProp(mark, BAD_CAST "type", BAD_CAST dd->type) ||
	    (owner && !xmlSetProp(mark, BAD_CAST "owner", BAD_CAST owner)))
		return no_memory(err);
	return doc_text(doc, out, err);
}

int sp_domain_xml_cbt_release(const char *xml, size_t len, const char *target,
			      char **out, struct sp_error *err)
{
	sp_autodoc xmlDocPtr doc = NULL;
	sp_autoptr(sp_domain_def) struct sp_domain_def *def = NULL;
	const struct sp_domain_disk *dd;
	xmlNode *disk, *src, *inner, *rec, *mark;
	int r;

	*out = NULL;
	r = cbt_open(xml, len, target, &doc, &def, &dd, &disk, err);
	if (r < 0)
		return r;
	if (!dd->cbt_meta)
		return sp_error_set(err, SP_E_USAGE,
				    "disk '%s' of domain '%s' is not one "
				    "whose changes Stillpoint tracks (its "
				    "definition records no metadata image "
				    "for it)",
				    target, def->name);
	src = child(disk, "source");
	inner = child(child(src, "dataStore"), "source");
	if (inner) {
		xmlUnlinkNode(inner);
	} else {
		/* libvirt dropped <dataStore>: the record says where. */
		inner = xmlNewDocNode(doc, NULL, BAD_CAST "source", NULL);
		if (!inner ||
		    !xmlSetProp(inner,
				BAD_CAST(strcmp(dd->data_type, "block")
					     ? "file"
					     : "dev"),
				BAD_CAST dd->data_source)) {
			xmlFreeNode(inner);
			return no_memory(err);
		}
	}
	if (src) {
		xmlReplaceNode(src, inner);
		xmlFreeNode(src);
	} else if (insert_before(disk, child(disk, "target"), inner) < 0) {
		xmlFreeNode(inner);
		return no_memory(err);
	}
	if (!xmlSetProp(disk, BAD_CAST "type", BAD_CAST dd->data_type) ||
	    set_driver_type(disk, "raw") < 0)
		return no_memory(err);
	rec = cbt_record(xmlDocGetRootElement(doc));
	mark = cbt_record_disk(rec, target);
	if (mark)
		drop(mark);
	if (rec && !elem_from(rec->children)) {
		xmlNode *md = rec->parent;

		drop(rec);
		if (md && !elem_from(md->children))
			drop(md);
	}
	return doc_text(doc, out, err);
}

// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The text side of S3: SigV4 URI encoding, canonical query strings, bucket
 * names, times and the XML documents S3 answers with (errors, listings).
 * libcurl signs the query string exactly as it is given, so the canonical
 * form built here is what both the URL and the signature use.  XML is read
 * with libxml2 with network access and entity loading off.
 */
#include "storage/s3_client.h"
#include "storage/s3_internal.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

static bool unreserved(unsigned char c)
{
	return isascii(c) &&
	       (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~');
}

char *sp_s3_uri_encode(const char *s, bool encode_slash)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(s);
	char *out = malloc(3 * n + 1), *p = out;

	if (!out)
		return NULL;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (unreserved(c) || (c == '/' && !encode_slash)) {
			*p++ = (char)c;
		} else {
			*p++ = '%';
			*p++ = hex[c >> 4];
			*p++ = hex[c & 15];
		}
	}
	*p = '\0';
	return out;
}

static int param_cmp(const void *a, const void *b)
{
	const struct sp_s3_param *x = a, *y = b;
	return strcmp(x->name, y->name);
}

char *sp_s3_query_canonical(struct sp_s3_param *params, size_t n)
{
	struct sp_s3_strbuf sb = {0};

	/* Names are compared encoded; encoding keeps the byte order of the
	 * unreserved names S3 uses, so sorting the plain names is the same. */
	qsort(params, n, sizeof(*params), param_cmp);
	if (sp_s3_strbuf_add(&sb, "", 0) < 0)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		char *k = sp_s3_uri_encode(params[i].name, true);
		char *v = sp_s3_uri_encode(
		    params[i].value ? params[i].value : "", true);
		int r = (k && v) ? 0 : -1;

		if (r == 0 && i > 0)
			r = sp_s3_strbuf_add(&sb, "&", 1);
		if (r == 0)
			r = sp_s3_strbuf_add(&sb, k, strlen(k));
		if (r == 0)
			r = sp_s3_strbuf_add(&sb, "=", 1);
		if (r == 0)
			r = sp_s3_strbuf_add(&sb, v, strlen(v));
		free(k);
		free(v);
		if (r < 0) {
			free(sb.data);
			return NULL;
		}
	}
	return sb.data;
}

bool sp_s3_bucket_name_is_valid(const char *name)
{
	size_t n = strlen(name);
	unsigned a, b, c, d;
	char tail;

	if (n < 3 || n > 63)
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = name[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
		      ch == '.' || ch == '-'))
			return false;
	}
	if (!isalnum((unsigned char)name[0]) ||
	    !isalnum((unsigned char)name[n - 1]))
		return false;
	if (strstr(name, "..") || strstr(name, ".-") || strstr(name, "-."))
		return false;
	if (sscanf(name, "%u.%u.%u.%u%c", &a, &b, &c, &d, &tail) == 4)
		return false;
	return true;
}

int64_t sp_s3_parse_time(const char *s)
{
	struct tm tm = {0};
	int y, mo, d, h, mi, sec, used = 0;

	if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi,
			 &sec, &used) != 6)
		return -1;
	s += used;
	if (*s == '.')
		for (s++; isdigit((unsigned char)*s); s++)
			;
	if (strcmp(s, "Z") != 0 && strcmp(s, "+00:00") != 0)
		return -1;
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 ||
	    sec > 60)
		return -1;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	return (int64_t)timegm(&tm);
}

int sp_s3_strbuf_add(struct sp_s3_strbuf *sb, const char *s, size_t n)
{
	if (sb->len + n + 1 > sb->cap) {
		size_t cap = sb->cap ? sb->cap : 256;
		while (cap < sb->len + n + 1)
			cap *= 2;
		char *p = realloc(sb->data, cap);
		if (!p)
			return -1;
		sb->data = p;
		sb->cap = cap;
	}
	memcpy(sb->data + sb->len, s, n);
	sb->len += n;
	sb->data[sb->len] = '\0';
	return 0;
}

/* ---- XML ---- */

static xmlDocPtr xml_read(const char *body, size_t len)
{
	if (!body || len == 0 || len > INT32_MAX)
		return NULL;
	/* No network, no external entities or DTDs, no noise on stderr. */
	return xmlReadMemory(body, (int)len, "s3.xml", NULL,
			     XML_PARSE_NONET | XML_PARSE_NOERROR |
				 XML_PARSE_NOWARNING);
}

static bool is_elem(xmlNodePtr n, const char *name)
{
	return n->type == XML_ELEMENT_NODE &&
	       strcmp((const char *)n->name, name) == 0;
}

static xmlNodePtr child(xmlNodePtr n, const char *name)
{
	for (xmlNodePtr c = n ? n->children : NULL; c; c = c->next)
		if (is_elem(c, name))
			return c;
	return NULL;
}

/* The text of @n (malloc'd by libxml2; "" for an empty element), or NULL. */
static char *text_of(xmlNodePtr n)
{
	xmlChar *t;

	if (!n)
		return NULL;
	t = xmlNodeGetContent(n);
	return (char *)t;
}

static void copy_text(xmlNodePtr n, char *out, size_t out_len)
{
	char *t = text_of(n);

	if (out_len)
		snprintf(out, out_len, "%s", t ? t : "");
	xmlFree(t);
}

bool sp_s3_parse_error(const char *body, size_t len, char *code,
		       size_t code_len, char *msg, size_t msg_len)
{
	xmlDocPtr doc = xml_read(body, len);
	xmlNodePtr root = doc ? xmlDocGetRootElement(doc) : NULL;
	bool ok = root && is_elem(root, "Error");

	if (code_len)
		code[0] = '\0';
	if (msg_len)
		msg[0] = '\0';
	if (ok) {
		copy_text(child(root, "Code"), code, code_len);
		copy_text(child(root, "Message"), msg, msg_len);
	}
	if (doc)
		xmlFreeDoc(doc);
	return ok;
}

int sp_s3_parse_listing(const char *body, size_t len,
			struct sp_s3_listing_page *page, sp_s3_entry_fn fn,
			void *ctx)
{
	xmlDocPtr doc = xml_read(body, len);
	xmlNodePtr root = doc ? xmlDocGetRootElement(doc) : NULL;
	char *t = NULL;
	int r = 0;

	memset(page, 0, sizeof(*page));
	if (!root || !(is_elem(root, "ListBucketResult") ||
		       is_elem(root, "ListVersionsResult"))) {
		r = -EBADMSG;
		goto out;
	}
	t = text_of(child(root, "IsTruncated"));
	page->truncated = t && strcmp(t, "true") == 0;
	xmlFree(t);
	page->next_token = text_of(child(root, "NextContinuationToken"));
	page->next_key_marker = text_of(child(root, "NextKeyMarker"));
	page->next_version_marker = text_of(child(root, "NextVersionIdMarker"));

	/* Objects first, then common prefixes (each sorted by the server). */
	for (int pass = 0; pass < 2 && r == 0; pass++) {
		for (xmlNodePtr c = root->children; c && r == 0; c = c->next) {
			struct sp_s3_entry e = {0};
			char *key, *size, *mtime, *ver;

			if (pass == 0 && is_elem(c, "Contents")) {
			} else if (pass == 0 && is_elem(c, "Version")) {
			} else if (pass == 0 && is_elem(c, "DeleteMarker")) {
				e.delete_marker = true;
			} else if (pass == 1 && is_elem(c, "CommonPrefixes")) {
				e.is_prefix = true;
			} else {
				continue;
			}
			key = text_of(child(c, e.is_prefix ? "Prefix" : "Key"));
			size = text_of(child(c, "Size"));
			mtime = text_of(child(c, "LastModified"));
			ver = text_of(child(c, "VersionId"));
			if (!key) {
				r = -EBADMSG;
			} else {
				e.key = key;
				e.size = size ? strtoull(size, NULL, 10) : 0;
				e.mtime = mtime ? sp_s3_parse_time(mtime) : 0;
				e.version_id = ver;
				r = fn(ctx, &e);
			}
			xmlFree(key);
			xmlFree(size);
			xmlFree(mtime);
			xmlFree(ver);
		}
	}
out:
	if (doc)
		xmlFreeDoc(doc);
	return r;
}

void sp_s3_listing_page_release(struct sp_s3_listing_page *page)
{
	xmlFree(page->next_token);
	xmlFree(page->next_key_marker);
	xmlFree(page->next_version_marker);
	memset(page, 0, sizeof(*page));
}

bool sp_s3_parse_text(const char *body, size_t len, const char *root_name,
		      const char *elem, char *out, size_t out_len)
{
	xmlDocPtr doc = xml_read(body, len);
	xmlNodePtr root = doc ? xmlDocGetRootElement(doc) : NULL;
	xmlNodePtr n =
	    root && is_elem(root, root_name) ? child(root, elem) : NULL;

	if (n)
		copy_text(n, out, out_len);
	if (doc)
		xmlFreeDoc(doc);
	return n != NULL;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Shared between the S3 client's files; not for use outside lib/storage. */
#ifndef SP_STORAGE_S3_INTERNAL_H
#define SP_STORAGE_S3_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A growing NUL-terminated buffer. */
struct sp_s3_strbuf {
	char *data;
	size_t len, cap;
};
/* Append @n bytes; 0 or -1 (out of memory). */
int sp_s3_strbuf_add(struct sp_s3_strbuf *sb, const char *s, size_t n);

/* One entry of a ListObjectsV2 or ListObjectVersions page. */
struct sp_s3_entry {
	const char *key;	/* full key, as the server has it */
	const char *version_id; /* versions listing only, else NULL */
	bool is_prefix, delete_marker;
	uint64_t size;
	int64_t mtime;
};
typedef int (*sp_s3_entry_fn)(void *ctx, const struct sp_s3_entry *e);

struct sp_s3_listing_page {
	bool truncated;
	char *next_token; /* ListObjectsV2; NULL when absent */
	char *next_key_marker, *next_version_marker; /* versions */
};

/* Call @fn for each entry of a listing page (objects, then prefixes);
 * returns -EBADMSG for a document that is no listing, or what @fn
 * returned when non-zero.  Release @page after. */
int sp_s3_parse_listing(const char *body, size_t len,
			struct sp_s3_listing_page *page, sp_s3_entry_fn fn,
			void *ctx);
void sp_s3_listing_page_release(struct sp_s3_listing_page *page);

/* The text of element @elem under root element @root_name. */
bool sp_s3_parse_text(const char *body, size_t len, const char *root_name,
		      const char *elem, char *out, size_t out_len);

#endif

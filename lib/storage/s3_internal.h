/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Shared between the S3 client's files; not for use outside lib/storage. */
#ifndef SP_STORAGE_S3_INTERNAL_H
#define SP_STORAGE_S3_INTERNAL_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "storage/s3_client.h"

/* The most of an answer's body read as an error or a small document. */
#define SP_S3_ERROR_BODY_MAX (64 * 1024)

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

/* ---- one request (s3_client.c), for the calls in other files ---- */

enum sp_s3_op {
	SP_S3_OP_PUT,
	SP_S3_OP_GET,
	SP_S3_OP_HEAD,
	SP_S3_OP_LIST,
	SP_S3_OP_DELETE,
	SP_S3_OP_COPY,
	SP_S3_OP_RETENTION
};

struct sp_s3_req {
	/* what to send */
	const char *method;
	enum sp_s3_op op;
	const char *key;   /* full key, or NULL for the bucket */
	const char *query; /* canonical, or NULL */
	const void *body;
	size_t body_len;
	const char *headers[6]; /* "Name: value", NULL-terminated */
	const char *what;	/* "store", "read"...: for messages */
	/* where the answer goes */
	size_t max;		 /* cap of @out */
	struct sp_s3_strbuf out; /* a 2xx body, unless @range */
	char *range;		 /* a 2xx body into this buffer... */
	size_t range_len;	 /* ...of this size... */
	uint64_t range_skip;	 /* ...after skipping this much of a 200 */
	/* per attempt */
	CURL *curl;
	size_t up_off;
	uint64_t pos, range_got;
	bool too_big, enough;
	struct sp_s3_strbuf errbody;
	/* the result */
	long status;
	time_t server_date;
	int64_t retain_until; /* x-amz-object-lock-retain-until-date, 0 */
	curl_off_t content_length, filetime;
	char code[64], msg[200];
	char curl_msg[CURL_ERROR_SIZE];
};

/* Send @q, retrying transient failures.  Returns 0 once an HTTP answer
 * that is not worth retrying came (any status: q->status, q->code), or an
 * error when none came.  Release @q after. */
int sp_s3_send(struct sp_s3 *s3, struct sp_s3_req *q, struct sp_error *err);
void sp_s3_req_release(struct sp_s3_req *q);
/* The error for an HTTP answer the caller did not expect. */
int sp_s3_status_error(struct sp_s3 *s3, const struct sp_s3_req *q,
		       struct sp_error *err);
/* @key under the config's prefix, into a malloc'd *@out. */
int sp_s3_full_key(struct sp_s3 *s3, const char *key, char **out,
		   struct sp_error *err);
/* A 404 about the key (not about the bucket, which is an error). */
bool sp_s3_key_not_found(const struct sp_s3_req *q);

#endif

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A small S3 client: whole-object PUT/GET, ranged GET, HEAD, ListObjectsV2,
 * DELETE, server-side copy, object retention and a capability probe,
 * signed with SigV4 by libcurl.  It is what a vault in object storage is
 * built on.
 *
 * Contract:
 *  - Every fallible call returns 0 or a negative code and fills @err, except
 *    where a documented errno (-ENOENT, -EEXIST) leaves @err untouched: those
 *    are answers, not failures.
 *  - Transient failures (HTTP 5xx, 429, SlowDown, timeouts, resets, refused
 *    connections) are retried with exponential backoff and jitter; other
 *    4xx answers are not.  STILLPOINT_S3_RETRIES="ATTEMPTS[,BASE_MS]"
 *    (default "5,400") and STILLPOINT_S3_TIMEOUT=SECONDS (the time a request
 *    may go without progress, default 30) tune that, for tests.
 *  - Secrets (secret key, session token) never appear in an error message
 *    or log line.  TLS is always verified.
 *  - A struct sp_s3 may be used by many threads at once.
 */
#ifndef SP_STORAGE_S3_CLIENT_H
#define SP_STORAGE_S3_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

struct sp_s3_config {	/* all strings owned by the config (malloc'd) */
	char *endpoint; /* "http(s)://host[:port]"; NULL = AWS:
			   https://s3.<region>.amazonaws.com */
	char *region;	/* default "us-east-1" */
	char *bucket;
	char *prefix; /* "" or "dir/sub/" (ends with '/' when non-empty) */
	char *access_key, *secret_key, *session_token; /* token may be NULL */
	char *ca_file;				       /* NULL = system CAs */
	bool path_style;     /* default: true for a non-AWS endpoint */
	bool path_style_set; /* path_style was given (by a config file) */
};

/*
 * Parse "s3://BUCKET[/PREFIX]" and complete @cfg from the environment the
 * way AWS tools do: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
 * AWS_SESSION_TOKEN, AWS_REGION (then AWS_DEFAULT_REGION, then us-east-1),
 * AWS_ENDPOINT_URL (replaced by @endpoint when non-NULL), AWS_CA_BUNDLE
 * (replaced by @ca_file).  @cfg is either zeroed or holds what
 * sp_s3_config_load_file() read: values already there win over the
 * environment, @endpoint and @ca_file win over both.  The prefix is
 * normalised: no leading '/', runs of '/' collapsed, a trailing '/' added.
 * Errors: SP_E_USAGE (bad URL or bucket name), SP_E_VAULT_AUTH (no
 * credentials; the message names the variables).  On error @cfg is
 * released.
 */
int sp_s3_config_from_url(const char *url, const char *endpoint,
			  const char *ca_file, struct sp_s3_config *cfg,
			  struct sp_error *err);

/*
 * Read "key = value" lines into @cfg (zeroed or partly filled; what the
 * file names replaces what is there): endpoint, region, access_key_id,
 * secret_access_key, session_token, ca_file, path_style (true/false).
 * '#' starts a comment line.  The file must be a regular file of this user
 * with no permission bits for group or others (it holds a secret):
 * SP_E_VAULT_PERMISSION otherwise.  SP_E_USAGE for an unknown key or a bad
 * line, SP_E_CONFIG_NOT_FOUND when it cannot be read.
 */
int sp_s3_config_load_file(const char *path, struct sp_s3_config *cfg,
			   struct sp_error *err);

/* Free the strings (the secret and token are wiped first) and zero @cfg. */
void sp_s3_config_release(struct sp_s3_config *cfg);

/* Deep copy; -ENOMEM. */
int sp_s3_config_copy(struct sp_s3_config *dst, const struct sp_s3_config *src);

struct sp_s3;

/*
 * Connect: one ListObjectsV2 request proves the bucket exists and the
 * credentials work.  @cfg is copied.  Errors: SP_E_VAULT_NOT_FOUND (no such
 * bucket), SP_E_VAULT_AUTH (403 InvalidAccessKeyId, SignatureDoesNotMatch,
 * AccessDenied), SP_E_VAULT_CLOCK_SKEW (RequestTimeTooSkewed),
 * SP_E_VAULT_UNREACHABLE (DNS, connect, TLS, timeout), SP_E_VAULT_REMOTE
 * (anything else; the message has the HTTP status and S3 error code).
 * The same mapping holds for every call below.
 */
int sp_s3_open(const struct sp_s3_config *cfg, struct sp_s3 **ret,
	       struct sp_error *err);
void sp_s3_close(struct sp_s3 *s3);

/* Keys below are relative to the config's prefix. */

#define SP_S3_IF_NONE_MATCH 1u /* create only: present → -EEXIST */
struct sp_s3_put_opts {
	unsigned flags;
	int64_t retain_until;  /* unix s, 0 = none (object lock retention) */
	const char *lock_mode; /* "GOVERNANCE", "COMPLIANCE" or NULL (=
				  GOVERNANCE when retain_until is set) */
};

/*
 * Store @len bytes under @key (the body's SHA-256 is signed, so the server
 * checks it).  With SP_S3_IF_NONE_MATCH an existing object is left alone
 * and -EEXIST returned, @err untouched — also when an earlier attempt of
 * this call may have created it before its answer was lost.  A server that
 * refuses conditional writes gives SP_E_VAULT_UNSUPPORTED.
 */
int sp_s3_put(struct sp_s3 *s3, const char *key, const void *data, size_t len,
	      const struct sp_s3_put_opts *opts, struct sp_error *err);

/* The whole object into a malloc'd buffer (*@data, NUL-terminated beyond
 * *@len).  One larger than @max is refused (SP_E_VAULT_REMOTE).  -ENOENT
 * when absent (@err untouched). */
int sp_s3_get(struct sp_s3 *s3, const char *key, size_t max, void **data,
	      size_t *len, struct sp_error *err);

/* Bytes [off, off+len) into @buf; *@got gets the count, short at the
 * object's end (0 at or past it).  -ENOENT when absent. */
int sp_s3_get_range(struct sp_s3 *s3, const char *key, uint64_t off, size_t len,
		    void *buf, size_t *got, struct sp_error *err);

/* 0 with *@size (and *@mtime, unix s, when non-NULL), or -ENOENT. */
int sp_s3_head(struct sp_s3 *s3, const char *key, uint64_t *size,
	       int64_t *mtime, struct sp_error *err);

/* What a HEAD tells of an object. */
struct sp_s3_object_info {
	uint64_t size;
	int64_t mtime;	      /* unix s, 0 when not told */
	int64_t retain_until; /* object lock retention, unix s; 0: none, or
				 not told (a key without the right to read
				 retentions is not told) */
};
/* The same HEAD, with all it tells.  0 or -ENOENT. */
int sp_s3_head_info(struct sp_s3 *s3, const char *key,
		    struct sp_s3_object_info *info, struct sp_error *err);

/*
 * PutObjectRetention: lock the current version of @key until @until (unix
 * s) in @mode ("GOVERNANCE", "COMPLIANCE"; NULL = GOVERNANCE).  *@held
 * gets the date the object is now locked until: @until, or a later one it
 * had already (a server never shortens a retention: such a refusal is
 * checked with GetObjectRetention and is no failure when the date there is
 * at least @until).  -ENOENT when @key is absent (@err untouched).
 */
int sp_s3_put_retention(struct sp_s3 *s3, const char *key, int64_t until,
			const char *mode, int64_t *held, struct sp_error *err);

/*
 * ListObjectsV2 under @prefix (relative to the config's prefix; NULL = ""),
 * following continuation tokens.  With @delimiter (e.g. "/") common
 * prefixes come with is_prefix=true, size 0 and mtime 0.  Within a page the
 * objects come first, then the prefixes.  Keys given to @cb are relative to
 * the config's prefix.  @cb returns 0 to go on; any other value stops the
 * listing and is returned.
 */
typedef int (*sp_s3_list_cb)(void *ctx, const char *key, bool is_prefix,
			     uint64_t size, int64_t mtime);
int sp_s3_list(struct sp_s3 *s3, const char *prefix, const char *delimiter,
	       sp_s3_list_cb cb, void *ctx, struct sp_error *err);

/*
 * Delete @key; an absent key is success.  In a versioned bucket (every
 * bucket with object lock is one) a plain DELETE only hides the object
 * behind a delete marker, so there every version of the key is deleted by
 * id.  A deletion refused by object lock gives SP_E_OBJECT_LOCKED.
 */
int sp_s3_delete(struct sp_s3 *s3, const char *key, struct sp_error *err);

/* Server-side copy within the bucket; -ENOENT when @from_key is absent. */
int sp_s3_copy(struct sp_s3 *s3, const char *from_key, const char *to_key,
	       struct sp_error *err);

/*
 * The bucket's capabilities, asked once and cached: whether object lock is
 * enabled (GetObjectLockConfiguration) and whether create-only PUTs work
 * (two PUTs with If-None-Match: * on a scratch key under the prefix, which
 * is then deleted).  Either pointer may be NULL.
 */
int sp_s3_probe(struct sp_s3 *s3, bool *conditional_put, bool *object_lock,
		struct sp_error *err);

/* Counters since open (atomic). */
struct sp_s3_stats {
	uint64_t requests, puts, gets, heads, lists, deletes, copies,
	    retentions, retries, bytes_up, bytes_down;
};
void sp_s3_stats_get(struct sp_s3 *s3, struct sp_s3_stats *out);

/* ---- encoding helpers, exposed for tests ---- */

/* SigV4 URI encoding: unreserved characters (A-Z a-z 0-9 - _ . ~) stay,
 * every other byte becomes %XX (uppercase); '/' stays unless
 * @encode_slash.  malloc'd, NULL when out of memory. */
char *sp_s3_uri_encode(const char *s, bool encode_slash);

/* Query parameters in canonical form: sorted by name, names and values
 * encoded (values including '/'), "name=" for an empty or NULL value,
 * joined by '&'.  Sorts @params in place.  malloc'd, NULL on ENOMEM. */
struct sp_s3_param {
	const char *name, *value;
};
char *sp_s3_query_canonical(struct sp_s3_param *params, size_t n);

/* Is @name a valid S3 bucket name (3-63 of a-z 0-9 . -, starting and
 * ending with a letter or digit, no "..", not an IPv4 address)? */
bool sp_s3_bucket_name_is_valid(const char *name);

/* The Code and Message of an S3 XML error body (either may come back
 * empty); false when @body is no S3 error document. */
bool sp_s3_parse_error(const char *body, size_t len, char *code,
		       size_t code_len, char *msg, size_t msg_len);

/* "2026-11-22T15:01:02.123Z" → unix seconds; -1 when malformed. */
int64_t sp_s3_parse_time(const char *s);

#endif

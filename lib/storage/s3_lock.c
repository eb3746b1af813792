// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Object lock calls of the S3 client (s3_client.h): the retention of one
 * object, read and extended.  A retention is only ever lengthened: the
 * server refuses to shorten one (without a bypass no vault uses).
 */
#include "storage/s3_client.h"
#include "storage/s3_internal.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#include "util/cleanup.h"
#include "util/text.h"

/* GetObjectRetention: *@until the retention date of @fk's current
 * version, 0 when it has none. */
static int get_retention(struct sp_s3 *s3, const char *fk, int64_t *until,
			 struct sp_error *err)
{
	struct sp_s3_req q = {0};
	char date[64];
	int r;

	q.method = "GET";
	q.op = SP_S3_OP_GET;
	q.key = fk;
	q.query = "retention=";
	q.what = "read the retention of";
	q.max = SP_S3_ERROR_BODY_MAX;
	*until = 0;
	r = sp_s3_send(s3, &q, err);
	if (r == 0 && sp_s3_key_not_found(&q) &&
	    strcmp(q.code, "NoSuchKey") == 0)
		r = -ENOENT;
	else if (r == 0 && q.status == 404)
		r = 0; /* NoSuchObjectLockConfiguration: no retention */
	else if (r == 0 && q.status != 200)
		r = sp_s3_status_error(s3, &q, err);
	else if (r == 0 &&
		 sp_s3_parse_text(q.out.data, q.out.len, "Retention",
				  "RetainUntilDate", date, sizeof(date)))
		*until = sp_s3_parse_time(date);
	if (*until < 0)
		*until = 0; /* a date that does not parse: none known */
	sp_s3_req_release(&q);
	return r;
}

int sp_s3_put_retention(struct sp_s3 *s3, const char *key, int64_t until,
			const char *mode, int64_t *held, struct sp_error *err)
{
	sp_autofree char *fk = NULL;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdn = 0;
	struct sp_s3_req q = {0};
	char body[256], stamp[40], b64[32], md5_hdr[64];
	struct sp_error e2;
	int64_t now_held = 0;
	int n, r;

	if (!mode)
		mode = "GOVERNANCE";
	if (strcmp(mode, "GOVERNANCE") != 0 && strcmp(mode, "COMPLIANCE") != 0)
		return sp_error_set(err, SP_E_INTERNAL,
				    "invalid object lock mode '%s'", mode);
	r = sp_s3_full_key(s3, key, &fk, err);
	if (r < 0)
		return r;
	sp_time_rfc3339((time_t)until, stamp, sizeof(stamp));
	n = snprintf(body, sizeof(body),
		     "<Retention xmlns=\"http://s3.amazonaws.com/doc/"
		     "2006-03-01/\"><Mode>%s</Mode><RetainUntilDate>%s"
		     "</RetainUntilDate></Retention>",
		     mode, stamp);
	/* AWS refuses this call without an integrity header. */
	if (!EVP_Digest(body, (size_t)n, md, &mdn, EVP_md5(), NULL))
		return sp_error_set(err, SP_E_INTERNAL, "MD5 is not available");
	EVP_EncodeBlock((unsigned char *)b64, md, (int)mdn);
	snprintf(md5_hdr, sizeof(md5_hdr), "Content-MD5: %s", b64);
	q.headers[0] = md5_hdr;
	q.headers[1] = "Content-Type: application/xml";
	q.method = "PUT";
	q.op = SP_S3_OP_RETENTION;
	q.key = fk;
	q.query = "retention=";
	q.body = body;
	q.body_len = (size_t)n;
	q.what = "extend the object lock of";
	q.max = SP_S3_ERROR_BODY_MAX;
	r = sp_s3_send(s3, &q, err);
	if (r == 0 && sp_s3_key_not_found(&q))
		r = -ENOENT;
	else if (r == 0 && q.status == 200)
		*held = until;
	else if (r == 0 && q.status == 403 &&
		 strcmp(q.code, "AccessDenied") == 0 &&
		 get_retention(s3, fk, &now_held, &e2) == 0 &&
		 now_held >= until)
		/* A later date is there already (another host extended
		 * it further): a retention is never shortened. */
		*held = now_held;
	else if (r == 0)
		r = sp_s3_status_error(s3, &q, err);
	sp_s3_req_release(&q);
	return r;
}

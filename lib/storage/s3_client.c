// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The S3 client: requests signed by libcurl (CURLOPT_AWS_SIGV4), with the
 * payload hash, canonical query and key encoding curl 7.88 leaves to its
 * caller, retries of transient failures, and S3 answers mapped to the
 * vault's error codes.
 *
 * Invariants:
 *  1. A request is retried only when the failure may be transient (5xx,
 *     429, SlowDown, RequestTimeout, timeouts, resets, refused
 *     connections), within a bounded number of attempts and time.
 *  2. A retried create-only PUT that then finds the object present (412)
 *     reports -EEXIST: an earlier attempt may have made it.
 *  3. The secret key and the session token go to curl only; no message,
 *     log line or URL carries them.
 *  4. Easy handles are pooled (each keeps its connections warm) and share
 *     DNS and TLS sessions through one CURLSH, so any number of threads may
 *     issue requests at once.
 */
#include "storage/s3_client.h"
#include "storage/s3_internal.h"

#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <libxml/parser.h>

#include "util/cleanup.h"
#include "util/log.h"
#include "util/text.h"

#define EMPTY_SHA256                                                           \
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define LIST_PAGE_MAX (16 * 1024 * 1024)
#define KEY_MAX 1024
#define CONNECT_TIMEOUT_S 10L

struct s3_handle {
	CURL *curl;
	struct s3_handle *next;
};

struct sp_s3 {
	struct sp_s3_config cfg;
	char *base; /* URL of the bucket, no trailing '/' */
	char sigv4[96];
	CURLSH *share;
	pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST];
	pthread_mutex_t pool_lock;
	struct s3_handle *pool;

	int attempts;
	unsigned base_delay_ms;
	long stall_s;

	pthread_mutex_t probe_lock;
	bool probed, cond_put, object_lock;
	pthread_mutex_t versioning_lock;
	int versioned; /* -1 not asked yet */

	_Atomic uint64_t n_requests, n_puts, n_gets, n_heads, n_lists,
	    n_deletes, n_copies, n_retentions, n_retries, n_up, n_down;
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc;

static void global_init(void)
{
	global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
	xmlInitParser();
}

void sp_s3_req_release(struct sp_s3_req *q)
{
	free(q->out.data);
	free(q->errbody.data);
	q->out = (struct sp_s3_strbuf){0};
	q->errbody = (struct sp_s3_strbuf){0};
}

/* ---- curl callbacks ---- */

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access a,
		       void *u)
{
	struct sp_s3 *s3 = u;
	pthread_mutex_lock(&s3->share_locks[data]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *u)
{
	struct sp_s3 *s3 = u;
	pthread_mutex_unlock(&s3->share_locks[data]);
}

static size_t on_read(char *dst, size_t size, size_t n, void *u)
{
	struct sp_s3_req *q = u;
	size_t k = q->body_len - q->up_off;

	if (k > size * n)
		k = size * n;
	if (k)
		memcpy(dst, (const char *)q->body + q->up_off, k);
	q->up_off += k;
	return k;
}

static int on_seek(void *u, curl_off_t off, int origin)
{
	struct sp_s3_req *q = u;

	if (origin != SEEK_SET || off < 0 || (uint64_t)off > q->body_len)
		return CURL_SEEKFUNC_FAIL;
	q->up_off = (size_t)off;
	return CURL_SEEKFUNC_OK;
}

static size_t on_body(char *p, size_t size, size_t n, void *u)
{
	struct sp_s3_req *q = u;
	size_t k = size * n;
	long status = 0;

	curl_easy_getinfo(q->curl, CURLINFO_RESPONSE_CODE, &status);
	if (status >= 300) {
		size_t room = SP_S3_ERROR_BODY_MAX - q->errbody.len;
		if (k < room)
			room = k;
		if (room && sp_s3_strbuf_add(&q->errbody, p, room) < 0)
			return 0;
		return k;
	}
	if (q->range) {
		/* A server that ignores Range sends the whole object. */
		uint64_t skip = status == 200 ? q->range_skip : 0;
		size_t from = 0, room, take;

		if (q->pos < skip)
			from = skip - q->pos < k ? (size_t)(skip - q->pos) : k;
		q->pos += k;
		if (from == k)
			return k;
		room = q->range_len - q->range_got;
		take = k - from < room ? k - from : room;
		memcpy(q->range + q->range_got, p + from, take);
		q->range_got += take;
		if (take < k - from) {
			q->enough = true; /* more than asked for: stop it */
			return 0;
		}
		return k;
	}
	if (q->out.len + k > q->max) {
		q->too_big = true;
		return 0;
	}
	if (sp_s3_strbuf_add(&q->out, p, k) < 0)
		return 0;
	return k;
}

static size_t on_header(char *p, size_t size, size_t n, void *u)
{
	static const char until_name[] = "x-amz-object-lock-retain-until-date:";
	const size_t until_len = sizeof(until_name) - 1;
	struct sp_s3_req *q = u;
	size_t k = size * n;
	char line[128];

	if (k > 5 && k < sizeof(line) && strncasecmp(p, "date:", 5) == 0) {
		memcpy(line, p + 5, k - 5);
		line[k - 5] = '\0';
		time_t t = curl_getdate(line, NULL);
		if (t > 0)
			q->server_date = t;
	} else if (k > until_len && k < sizeof(line) &&
		   strncasecmp(p, until_name, until_len) == 0) {
		memcpy(line, p + until_len, k - until_len);
		line[k - until_len] = '\0';
		char *v = line + strspn(line, " \t");
		v[strcspn(v, " \t\r\n")] = '\0';
		int64_t t = sp_s3_parse_time(v);
		if (t > 0)
			q->retain_until = t;
	}
	return k;
}

/* ---- one request, with retries ---- */

static CURL *handle_get(struct sp_s3 *s3)
{
	struct s3_handle *h;
	CURL *c;

	pthread_mutex_lock(&s3->pool_lock);
	h = s3->pool;
	if (h)
		s3->pool = h->next;
	pthread_mutex_unlock(&s3->pool_lock);
	if (!h)
		return curl_easy_init();
	c = h->curl;
	free(h);
	return c;
}

static void handle_put(struct sp_s3 *s3, CURL *c)
{
	struct s3_handle *h = malloc(sizeof(*h));

	if (!h) {
		curl_easy_cleanup(c);
		return;
	}
	h->curl = c;
	pthread_mutex_lock(&s3->pool_lock);
	h->next = s3->pool;
	s3->pool = h;
	pthread_mutex_unlock(&s3->pool_lock);
}

static void sha256_hex(const void *data, size_t len, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	if (!EVP_Digest(data, len, md, &n, EVP_sha256(), NULL) || n != 32)
		abort(); /* the default provider always has SHA-256 */
	sp_hex_encode(md, 32, out);
}

static char *request_url(struct sp_s3 *s3, const struct sp_s3_req *q)
{
	sp_autofree char *enc = NULL;
	char *url = NULL;
	int n;

	if (q->key) {
		enc = sp_s3_uri_encode(q->key, false);
		if (!enc)
			return NULL;
	}
	n = asprintf(&url, "%s/%s%s%s", s3->base, enc ? enc : "",
		     q->query ? "?" : "", q->query ? q->query : "");
	return n < 0 ? NULL : url;
}

static bool status_retryable(const struct sp_s3_req *q)
{
	/* 501: the server lacks what the request asks for (a conditional
	 * write); asking again changes nothing. */
	if (q->status == 501 || strcmp(q->code, "NotImplemented") == 0)
		return false;
	if (q->status >= 500 || q->status == 429)
		return true;
	return strcmp(q->code, "SlowDown") == 0 ||
	       strcmp(q->code, "RequestTimeout") == 0 ||
	       strcmp(q->code, "ConditionalRequestConflict") == 0;
}

static bool curl_retryable(CURLcode rc)
{
	switch (rc) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return true;
	default:
		return false;
	}
}

static void backoff(struct sp_s3 *s3, int attempt)
{
	uint64_t d = (uint64_t)s3->base_delay_ms << (attempt < 8 ? attempt : 8);
	uint32_t rnd = 0;
	struct timespec ts;

	if (d > 5000)
		d = 5000;
	if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != sizeof(rnd))
		rnd = (uint32_t)sp_now_mono_ns();
	/* Half fixed, half random: spread the retries of many threads. */
	d = d / 2 + rnd % (d / 2 + 1);
	ts.tv_sec = (time_t)(d / 1000);
	ts.tv_nsec = (long)(d % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static CURLcode perform_once(struct sp_s3 *s3, struct sp_s3_req *q,
			     const char *url, struct curl_slist *hdrs)
{
	CURL *c = q->curl;
	CURLcode rc;
	curl_off_t up = 0, down = 0;

	curl_easy_reset(c);
	q->up_off = 0;
	q->pos = q->range_got = 0;
	q->too_big = q->enough = false;
	q->out.len = 0;
	q->errbody.len = 0;
	q->status = 0;
	q->server_date = 0;
	q->retain_until = 0;
	q->code[0] = q->msg[0] = q->curl_msg[0] = '\0';

	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_SHARE, s3->share);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(c, CURLOPT_AWS_SIGV4, s3->sigv4);
	/* Not CURLOPT_USERPWD: a key may contain ':'. */
	curl_easy_setopt(c, CURLOPT_USERNAME, s3->cfg.access_key);
	curl_easy_setopt(c, CURLOPT_PASSWORD, s3->cfg.secret_key);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, CONNECT_TIMEOUT_S);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, s3->stall_s);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, q->curl_msg);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	if (s3->cfg.ca_file)
		curl_easy_setopt(c, CURLOPT_CAINFO, s3->cfg.ca_file);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, q);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, q);
	if (strcmp(q->method, "PUT") == 0) {
		curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(c, CURLOPT_READDATA, q);
		curl_easy_setopt(c, CURLOPT_SEEKFUNCTION, on_seek);
		curl_easy_setopt(c, CURLOPT_SEEKDATA, q);
		curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE,
				 (curl_off_t)q->body_len);
		/* RGW sends no "100 Continue" to a PutObjectRetention: do
		 * not wait a second for it before the (small) body. */
		if (q->op == SP_S3_OP_RETENTION)
			curl_easy_setopt(c, CURLOPT_EXPECT_100_TIMEOUT_MS, 0L);
	} else if (strcmp(q->method, "HEAD") == 0) {
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
		curl_easy_setopt(c, CURLOPT_FILETIME, 1L);
	} else if (strcmp(q->method, "GET") != 0) {
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, q->method);
	}

	rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &q->status);
	curl_easy_getinfo(c, CURLINFO_SIZE_UPLOAD_T, &up);
	curl_easy_getinfo(c, CURLINFO_SIZE_DOWNLOAD_T, &down);
	q->content_length = -1;
	q->filetime = -1;
	curl_easy_getinfo(c, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T,
			  &q->content_length);
	curl_easy_getinfo(c, CURLINFO_FILETIME_T, &q->filetime);
	atomic_fetch_add(&s3->n_requests, 1);
	atomic_fetch_add(&s3->n_up, (uint64_t)(up > 0 ? up : 0));
	atomic_fetch_add(&s3->n_down, (uint64_t)(down > 0 ? down : 0));
	switch (q->op) {
	case SP_S3_OP_PUT:
		atomic_fetch_add(&s3->n_puts, 1);
		break;
	case SP_S3_OP_GET:
		atomic_fetch_add(&s3->n_gets, 1);
		break;
	case SP_S3_OP_HEAD:
		atomic_fetch_add(&s3->n_heads, 1);
		break;
	case SP_S3_OP_LIST:
		atomic_fetch_add(&s3->n_lists, 1);
		break;
	case SP_S3_OP_DELETE:
		atomic_fetch_add(&s3->n_deletes, 1);
		break;
	case SP_S3_OP_COPY:
		atomic_fetch_add(&s3->n_copies, 1);
		break;
	case SP_S3_OP_RETENTION:
		atomic_fetch_add(&s3->n_retentions, 1);
		break;
	}
	/* Stopping early is ours, not a failure. */
	if (rc == CURLE_WRITE_ERROR && q->enough)
		rc = CURLE_OK;
	if (rc == CURLE_OK && q->status >= 300)
		sp_s3_parse_error(q->errbody.data, q->errbody.len, q->code,
				  sizeof(q->code), q->msg, sizeof(q->msg));
	return rc;
}

static const char *endpoint_name(const struct sp_s3 *s3)
{
	return s3->cfg.endpoint ? s3->cfg.endpoint : "AWS";
}

static const char *target(struct sp_s3 *s3, const struct sp_s3_req *q,
			  char *buf, size_t len)
{
	snprintf(buf, len, "s3://%s/%s", s3->cfg.bucket,
		 q->key ? q->key : s3->cfg.prefix);
	return buf;
}

static int transport_error(struct sp_s3 *s3, struct sp_s3_req *q, CURLcode rc,
			   int attempts, struct sp_error *err)
{
	char t[300];
	const char *why = q->curl_msg[0] ? q->curl_msg : curl_easy_strerror(rc);
	const char *fix = "check the endpoint, the network and that the "
			  "server runs";

	target(s3, q, t, sizeof(t));
	if (rc == CURLE_WRITE_ERROR && q->too_big)
		return sp_error_set(err, SP_E_VAULT_REMOTE,
				    "cannot %s '%s': the object is larger "
				    "than %zu bytes (it is not one Stillpoint "
				    "wrote, or it is damaged)",
				    q->what, t, q->max);
	if (rc == CURLE_OUT_OF_MEMORY || rc == CURLE_WRITE_ERROR)
		return sp_error_set(err, SP_E_NOMEM,
				    "cannot %s '%s': out of memory", q->what,
				    t);
	switch (rc) {
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SSL_CERTPROBLEM:
		fix = "check the server's certificate and the CA file "
		      "(--s3-ca or AWS_CA_BUNDLE)";
		break;
	case CURLE_COULDNT_RESOLVE_HOST:
		fix = "check the endpoint's host name and DNS";
		break;
	case CURLE_OPERATION_TIMEDOUT:
		fix = "the server stopped answering: check it and the network";
		break;
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_URL_MALFORMAT:
		return sp_error_set(err, SP_E_USAGE,
				    "cannot %s '%s': invalid endpoint '%s'",
				    q->what, t, s3->base);
	default:
		break;
	}
	return sp_error_set(err, SP_E_VAULT_UNREACHABLE,
			    "cannot %s '%s' at %s: %s after %d attempt%s (%s)",
			    q->what, t, endpoint_name(s3), why, attempts,
			    attempts == 1 ? "" : "s", fix);
}

/*
 * Send @q, retrying transient failures.  Returns 0 once an HTTP answer
 * that is not worth retrying came (any status: q->status, q->code), or an
 * error when none came.
 */
int sp_s3_send(struct sp_s3 *s3, struct sp_s3_req *q, struct sp_error *err)
{
	sp_autofree char *url = NULL;
	struct curl_slist *hdrs = NULL, *h;
	char sha_hdr[96], tok_hdr_prefix[] = "x-amz-security-token: ";
	char sha[65];
	uint64_t t0 = sp_now_mono_ms();
	/* about 10 s with the default delay, never under 2 s */
	uint64_t budget = 25ULL * s3->base_delay_ms;
	CURLcode rc = CURLE_OK;
	int attempt, r = 0;

	if (budget < 2000)
		budget = 2000;
	url = request_url(s3, q);
	if (!url)
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	if (q->body_len)
		sha256_hex(q->body, q->body_len, sha);
	else
		snprintf(sha, sizeof(sha), "%s", EMPTY_SHA256);
	snprintf(sha_hdr, sizeof(sha_hdr), "x-amz-content-sha256: %s", sha);
	h = curl_slist_append(NULL, sha_hdr);
	hdrs = h;
	if (h && s3->cfg.session_token) {
		size_t n =
		    sizeof(tok_hdr_prefix) + strlen(s3->cfg.session_token);
		char *tok = malloc(n);
		if (tok) {
			snprintf(tok, n, "%s%s", tok_hdr_prefix,
				 s3->cfg.session_token);
			h = curl_slist_append(hdrs, tok);
			explicit_bzero(tok, n);
			free(tok);
		} else {
			h = NULL;
		}
	}
	for (size_t i = 0; h && q->headers[i]; i++)
		h = curl_slist_append(hdrs, q->headers[i]);
	if (!h) {
		curl_slist_free_all(hdrs);
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	}

	q->curl = handle_get(s3);
	if (!q->curl) {
		curl_slist_free_all(hdrs);
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	}
	for (attempt = 1;; attempt++) {
		bool retry;

		rc = perform_once(s3, q, url, hdrs);
		if (rc == CURLE_OK)
			retry = status_retryable(q);
		else
			retry = curl_retryable(rc);
		if (!retry || attempt >= s3->attempts ||
		    sp_now_mono_ms() - t0 > budget)
			break;
		sp_log(SP_LOG_INFO,
		       "s3 retry method=%s bucket=%s key=%s attempt=%d "
		       "status=%ld code=%s curl=%d",
		       q->method, s3->cfg.bucket, q->key ? q->key : "", attempt,
		       q->status, q->code, (int)rc);
		atomic_fetch_add(&s3->n_retries, 1);
		backoff(s3, attempt - 1);
	}
	if (rc != CURLE_OK)
		r = transport_error(s3, q, rc, attempt, err);
	handle_put(s3, q->curl);
	q->curl = NULL;
	/* The header list held the token: wipe its copies. */
	for (h = hdrs; h; h = h->next)
		explicit_bzero(h->data, strlen(h->data));
	curl_slist_free_all(hdrs);
	return r;
}

/* The error for an HTTP answer the caller did not expect. */
int sp_s3_status_error(struct sp_s3 *s3, const struct sp_s3_req *q,
		       struct sp_error *err)
{
	char t[300];
	const char *code = q->code[0] ? q->code : "-";

	target(s3, q, t, sizeof(t));
	if (strcmp(q->code, "NoSuchBucket") == 0 ||
	    (q->status == 404 && !q->key))
		return sp_error_set(err, SP_E_VAULT_NOT_FOUND,
				    "bucket '%s' does not exist at %s (create "
				    "it, or fix the bucket name or endpoint)",
				    s3->cfg.bucket, endpoint_name(s3));
	if (strcmp(q->code, "RequestTimeTooSkewed") == 0) {
		if (q->server_date > 0) {
			long long skew =
			    (long long)time(NULL) - (long long)q->server_date;
			return sp_error_set(
			    err, SP_E_VAULT_CLOCK_SKEW,
			    "cannot %s '%s': the host clock differs from the "
			    "server's by %lld s (it is %s; fix the clock: NTP)",
			    q->what, t, skew < 0 ? -skew : skew,
			    skew < 0 ? "behind" : "ahead");
		}
		return sp_error_set(err, SP_E_VAULT_CLOCK_SKEW,
				    "cannot %s '%s': the host clock differs "
				    "from the server's by more than 15 "
				    "minutes (fix the clock: NTP)",
				    q->what, t);
	}
	if (q->status == 403 &&
	    (strcmp(q->code, "InvalidAccessKeyId") == 0 ||
	     strcmp(q->code, "SignatureDoesNotMatch") == 0 ||
	     strcmp(q->code, "AccessDenied") == 0 || !q->code[0]))
		return sp_error_set(err, SP_E_VAULT_AUTH,
				    "cannot %s '%s': the server refused the "
				    "credentials (403 %s%s%s; check "
				    "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY "
				    "and the key's rights on the bucket)",
				    q->what, t, code, q->msg[0] ? ": " : "",
				    q->msg);
	return sp_error_set(err, SP_E_VAULT_REMOTE,
			    "cannot %s '%s': HTTP %ld %s%s%s (endpoint %s)",
			    q->what, t, q->status, code, q->msg[0] ? ": " : "",
			    q->msg, endpoint_name(s3));
}

int sp_s3_full_key(struct sp_s3 *s3, const char *key, char **out,
		   struct sp_error *err)
{
	size_t n;

	if (!key || !*key)
		return sp_error_set(err, SP_E_INTERNAL, "empty S3 object key");
	n = strlen(s3->cfg.prefix) + strlen(key);
	if (n > KEY_MAX)
		return sp_error_set(err, SP_E_INTERNAL,
				    "S3 object key '%s%s' is longer than %d "
				    "bytes",
				    s3->cfg.prefix, key, KEY_MAX);
	if (asprintf(out, "%s%s", s3->cfg.prefix, key) < 0) {
		*out = NULL;
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	}
	return 0;
}

/* ---- open and close ---- */

static int read_tunables(struct sp_s3 *s3)
{
	const char *v = getenv("STILLPOINT_S3_RETRIES");
	const char *t = getenv("STILLPOINT_S3_TIMEOUT");

	s3->attempts = 5;
	s3->base_delay_ms = 400;
	s3->stall_s = 30;
	if (v && *v) {
		unsigned a = 0, d = 0;
		int n = sscanf(v, "%u,%u", &a, &d);
		if (n < 1 || a < 1 || a > 100 || (n == 2 && d > 60000))
			return -1;
		s3->attempts = (int)a;
		if (n == 2)
			s3->base_delay_ms = d;
	}
	if (t && *t) {
		long s = strtol(t, NULL, 10);
		if (s < 1 || s > 3600)
			return -1;
		s3->stall_s = s;
	}
	return 0;
}

void sp_s3_close(struct sp_s3 *s3)
{
	if (!s3)
		return;
	while (s3->pool) {
		struct s3_handle *h = s3->pool;
		s3->pool = h->next;
		curl_easy_cleanup(h->curl);
		free(h);
	}
	if (s3->share)
		curl_share_cleanup(s3->share);
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_destroy(&s3->share_locks[i]);
	pthread_mutex_destroy(&s3->pool_lock);
	pthread_mutex_destroy(&s3->probe_lock);
	pthread_mutex_destroy(&s3->versioning_lock);
	sp_s3_config_release(&s3->cfg);
	free(s3->base);
	free(s3);
}

SP_DEFINE_AUTOPTR(sp_s3, sp_s3_close)

static int make_base(struct sp_s3 *s3)
{
	const struct sp_s3_config *c = &s3->cfg;
	int n;

	if (!c->endpoint && c->path_style)
		n = asprintf(&s3->base, "https://s3.%s.amazonaws.com/%s",
			     c->region, c->bucket);
	else if (!c->endpoint)
		n = asprintf(&s3->base, "https://%s.s3.%s.amazonaws.com",
			     c->bucket, c->region);
	else if (c->path_style)
		n = asprintf(&s3->base, "%s/%s", c->endpoint, c->bucket);
	else {
		/* http(s)://HOST → http(s)://BUCKET.HOST */
		const char *host = strstr(c->endpoint, "://") + 3;
		n = asprintf(&s3->base, "%.*s%s.%s", (int)(host - c->endpoint),
			     c->endpoint, c->bucket, host);
	}
	if (n < 0) {
		s3->base = NULL;
		return -ENOMEM;
	}
	return 0;
}

int sp_s3_open(const struct sp_s3_config *cfg, struct sp_s3 **ret,
	       struct sp_error *err)
{
	sp_autoptr(sp_s3) struct sp_s3 *s3 = NULL;
	struct sp_s3_req q = {0};
	int r;

	if (!cfg->bucket || !cfg->access_key || !cfg->secret_key ||
	    !cfg->region)
		return sp_error_set(err, SP_E_INTERNAL,
				    "incomplete S3 configuration");
	pthread_once(&global_once, global_init);
	if (global_rc != CURLE_OK)
		return sp_error_set(err, SP_E_INTERNAL,
				    "cannot initialise libcurl: %s",
				    curl_easy_strerror(global_rc));
	s3 = calloc(1, sizeof(*s3));
	if (!s3)
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_init(&s3->share_locks[i], NULL);
	pthread_mutex_init(&s3->pool_lock, NULL);
	pthread_mutex_init(&s3->probe_lock, NULL);
	pthread_mutex_init(&s3->versioning_lock, NULL);
	s3->versioned = -1;
	if (sp_s3_config_copy(&s3->cfg, cfg) < 0 || make_base(s3) < 0)
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	if (!s3->cfg.prefix) {
		s3->cfg.prefix = strdup("");
		if (!s3->cfg.prefix)
			return sp_error_set(err, SP_E_NOMEM, "out of memory");
	}
	if (read_tunables(s3) < 0)
		return sp_error_set(err, SP_E_USAGE,
				    "invalid STILLPOINT_S3_RETRIES or "
				    "STILLPOINT_S3_TIMEOUT (give "
				    "ATTEMPTS[,BASE_MS] and SECONDS)");
	snprintf(s3->sigv4, sizeof(s3->sigv4), "aws:amz:%s:s3", s3->cfg.region);
	s3->share = curl_share_init();
	if (!s3->share)
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	curl_share_setopt(s3->share, CURLSHOPT_LOCKFUNC, share_lock);
	curl_share_setopt(s3->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
	curl_share_setopt(s3->share, CURLSHOPT_USERDATA, s3);
	curl_share_setopt(s3->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
	curl_share_setopt(s3->share, CURLSHOPT_SHARE,
			  CURL_LOCK_DATA_SSL_SESSION);

	/* One small listing proves the bucket, the credentials and the
	 * clock at once (a HEAD would have no error body to tell them
	 * apart). */
	sp_autofree char *query = NULL;
	struct sp_s3_param params[] = {
	    {"list-type", "2"},
	    {"max-keys", "1"},
	    {"prefix", s3->cfg.prefix},
	};
	query = sp_s3_query_canonical(params, SP_ARRAY_SIZE(params));
	if (!query)
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	q.method = "GET";
	q.op = SP_S3_OP_LIST;
	q.query = query;
	q.what = "open";
	q.max = LIST_PAGE_MAX;
	r = sp_s3_send(s3, &q, err);
	if (r == 0 && q.status != 200)
		r = sp_s3_status_error(s3, &q, err);
	sp_s3_req_release(&q);
	if (r < 0)
		return r;
	*ret = sp_steal_ptr(&s3);
	return 0;
}

void sp_s3_stats_get(struct sp_s3 *s3, struct sp_s3_stats *out)
{
	out->requests = atomic_load(&s3->n_requests);
	out->puts = atomic_load(&s3->n_puts);
	out->gets = atomic_load(&s3->n_gets);
	out->heads = atomic_load(&s3->n_heads);
	out->lists = atomic_load(&s3->n_lists);
	out->deletes = atomic_load(&s3->n_deletes);
	out->copies = atomic_load(&s3->n_copies);
	out->retentions = atomic_load(&s3->n_retentions);
	out->retries = atomic_load(&s3->n_retries);
	out->bytes_up = atomic_load(&s3->n_up);
	out->bytes_down = atomic_load(&s3->n_down);
}

/* ---- objects ---- */

int sp_s3_put(struct sp_s3 *s3, const char *key, const void *data, size_t len,
	      const struct sp_s3_put_opts *opts, struct sp_error *err)
{
	sp_autofree char *fk = NULL;
	struct sp_s3_req q = {0};
	char mode_hdr[64], until_hdr[96], md5_hdr[64];
	size_t nh = 0;
	bool create_only = opts && (opts->flags & SP_S3_IF_NONE_MATCH);
	int r;

	r = sp_s3_full_key(s3, key, &fk, err);
	if (r < 0)
		return r;
	if (create_only)
		q.headers[nh++] = "If-None-Match: *";
	/* Objects written by a host whose credential is not the bucket
	 * owner's (an add-only user, docs/vault-format.md) stay the owner's
	 * to read, copy and collect.  Where ACLs are off this is the one ACL
	 * still accepted. */
	q.headers[nh++] = "x-amz-acl: bucket-owner-full-control";
	if (opts && opts->retain_until > 0) {
		unsigned char md[EVP_MAX_MD_SIZE];
		unsigned int mdn = 0;
		char stamp[40], b64[32];
		const char *mode =
		    opts->lock_mode ? opts->lock_mode : "GOVERNANCE";

		if (strcmp(mode, "GOVERNANCE") != 0 &&
		    strcmp(mode, "COMPLIANCE") != 0)
			return sp_error_set(err, SP_E_INTERNAL,
					    "invalid object lock mode '%s'",
					    mode);
		sp_time_rfc3339((time_t)opts->retain_until, stamp,
				sizeof(stamp));
		snprintf(mode_hdr, sizeof(mode_hdr),
			 "x-amz-object-lock-mode: %s", mode);
		snprintf(until_hdr, sizeof(until_hdr),
			 "x-amz-object-lock-retain-until-date: %s", stamp);
		/* AWS wants an integrity header on a PUT with retention. */
		if (!EVP_Digest(data, len, md, &mdn, EVP_md5(), NULL))
			return sp_error_set(err, SP_E_INTERNAL,
					    "MD5 is not available");
		EVP_EncodeBlock((unsigned char *)b64, md, (int)mdn);
		snprintf(md5_hdr, sizeof(md5_hdr), "Content-MD5: %s", b64);
		q.headers[nh++] = mode_hdr;
		q.headers[nh++] = until_hdr;
		q.headers[nh++] = md5_hdr;
	}
	q.method = "PUT";
	q.op = SP_S3_OP_PUT;
	q.key = fk;
	q.body = data;
	q.body_len = len;
	q.what = "store";
	r = sp_s3_send(s3, &q, err);
	if (r == 0 && q.status == 412 && create_only)
		r = -EEXIST;
	else if (r == 0 && create_only &&
		 (q.status == 501 || strcmp(q.code, "NotImplemented") == 0))
		r = sp_error_set(
		    err, SP_E_VAULT_UNSUPPORTED,
		    "cannot create 's3://%s/%s': the server refuses "
		    "conditional writes (If-None-Match: *; HTTP %ld %s), "
		    "which a vault needs: use an object store that has "
		    "them (AWS S3, Ceph RGW) or a local vault",
		    s3->cfg.bucket, fk, q.status, q.code);
	else if (r == 0 && q.status != 200)
		r = sp_s3_status_error(s3, &q, err);
	sp_s3_req_release(&q);
	return r;
}

/* A 404 about the key (not about the bucket, which is an error). */
bool sp_s3_key_not_found(const struct sp_s3_req *q)
{
	return q->status == 404 && strcmp(q->code, "NoSuchBucket") != 0;
}

int sp_s3_get(struct sp_s3 *s3, const char *key, size_t max, void **data,
	      size_t *len, struct sp_error *err)
{
	sp_autofree char *fk = NULL;
	struct sp_s3_req q = {0};
	int r;

	r = sp_s3_full_key(s3, key, &fk, err);
	if (r < 0)
		return r;
	q.method = "GET";
	q.op = SP_S3_OP_GET;
	q.key = fk;
	q.what = "read";
	q.max = max;
	r = sp_s3_send(s3, &q, err);
	if (r == 0 && sp_s3_key_not_found(&q))
		r = -ENOENT;
	else if (r == 0 && q.status != 200)
		r = sp_s3_status_error(s3, &q, err);
	if (r == 0) {
		if (!q.out.data && sp_s3_strbuf_add(&q.out, "", 0) < 0) {
			sp_s3_req_release(&q);
			return sp_error_set(err, SP_E_NOMEM, "out of memory");
		}
		*len = q.out.len;
		*data = sp_steal_ptr(&q.out.data);
	}
	sp_s3_req_release(&q);
	return r;
}

int sp_s3_get_range(struct sp_s3 *s3, const char *key, uint64_t off, size_t len,
		    void *buf, size_t *got, struct sp_error *err)
{
	sp_autofree char *fk = NULL;
	struct sp_s3_req q = {0};
	char range[80];
	int r;

	*got = 0;
	if (len == 0) {
		uint64_t size;
		return sp_s3_head(s3, key, &size, NULL, err);
	}
	r = sp_s3_full_key(s3, key, &fk, err);
	if (r < 0)
		return r;
	snprintf(range, sizeof(range), "Range: bytes=%" PRIu64 "-%" PRIu64, off,
		 off + len - 1);
	q.headers[0] = range;
	q.method = "GET";
	q.op = SP_S3_OP_GET;
	q.key = fk;
	q.what = "read";
	q.range = buf;
	q.range_len = len;
	q.range_skip = off;
	r = sp_s3_send(s3, &q, err);
	if (r == 0 && sp_s3_key_not_found(&q))
		r = -ENOENT;
	else if (r == 0 && q.status == 416)
		r = 0; /* at or past the end: nothing to read */
	else if (r == 0 && q.status != 206 && q.status != 200)
		r = sp_s3_status_error(s3, &q, err);
	else if (r == 0)
		*got = q.range_got;
	sp_s3_req_release(&q);
	return r;
}

int sp_s3_head_info(struct sp_s3 *s3, const char *key,
		    struct sp_s3_object_info *info, struct sp_error *err)
{
	sp_autofree char *fk = NULL;
	struct sp_s3_req q = {0};
	int r;

	r = sp_s3_full_key(s3, key, &fk, err);
	if (r < 0)
		return r;
	q.method = "HEAD";
	q.op = SP_S3_OP_HEAD;
	q.key = fk;
	q.what = "look up";
	r = sp_s3_send(s3, &q, err);
	if (r == 0 && q.status == 404)
		r = -ENOENT; /* no body to tell key from bucket: open did */
	else if (r == 0 && q.status != 200)
		r = sp_s3_status_error(s3, &q, err);
	if (r == 0)
		*info = (struct sp_s3_object_info){
		    .size =
			(uint64_t)(q.content_length > 0 ? q.content_length : 0),
		    .mtime = q.filetime > 0 ? (int64_t)q.filetime : 0,
		    .retain_until = q.retain_until,
		};
	sp_s3_req_release(&q);
	return r;
}

int sp_s3_head(struct sp_s3 *s3, const char *key, uint64_t *size,
	       int64_t *mtime, struct sp_error *err)
{
	struct sp_s3_object_info info;
	int r = sp_s3_head_info(s3, key, &info, err);

	if (r < 0)
		return r;
	*size = info.size;
	if (mtime)
		*mtime = info.mtime;
	return 0;
}

/* ---- listing ---- */

struct list_ctx {
	struct sp_s3 *s3;
	sp_s3_list_cb cb;
	void *ctx;
	char *last_key;
};

static int list_entry(void *u, const struct sp_s3_entry *e)
{
	struct list_ctx *lc = u;
	size_t pn = strlen(lc->s3->cfg.prefix);

	/* The server only returns keys under the prefix asked for. */
	if (strncmp(e->key, lc->s3->cfg.prefix, pn) != 0)
		return 0;
	return lc->cb(lc->ctx, e->key + pn, e->is_prefix, e->size,
		      e->mtime > 0 ? e->mtime : 0);
}

/* One page of a listing (ListObjectsV2 or ListObjectVersions) of the
 * bucket with query @params: fetched, and parsed into @page with each
 * entry given to @fn.  0, what @fn returned, -EBADMSG (no listing), or an
 * error. */
static int list_page(struct sp_s3 *s3, struct sp_s3_param *params, size_t n,
		     const char *what, sp_s3_entry_fn fn, void *ctx,
		     struct sp_s3_listing_page *page, struct sp_error *err)
{
	sp_autofree char *query = sp_s3_query_canonical(params, n);
	struct sp_s3_req q = {0};
	int r;

	if (!query)
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	q.method = "GET";
	q.op = SP_S3_OP_LIST;
	q.query = query;
	q.what = what;
	q.max = LIST_PAGE_MAX;
	r = sp_s3_send(s3, &q, err);
	if (r == 0 && q.status != 200)
		r = sp_s3_status_error(s3, &q, err);
	if (r == 0)
		r = sp_s3_parse_listing(q.out.data, q.out.len, page, fn, ctx);
	sp_s3_req_release(&q);
	return r;
}

int sp_s3_list(struct sp_s3 *s3, const char *prefix, const char *delimiter,
	       sp_s3_list_cb cb, void *ctx, struct sp_error *err)
{
	sp_autofree char *fprefix = NULL;
	char *token = NULL;
	struct list_ctx lc = {s3, cb, ctx, NULL};
	int r = 0;

	if (asprintf(&fprefix, "%s%s", s3->cfg.prefix, prefix ? prefix : "") <
	    0) {
		fprefix = NULL;
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	}
	for (;;) {
		struct sp_s3_param params[4];
		struct sp_s3_listing_page page;
		size_t n = 0;

		params[n++] = (struct sp_s3_param){"list-type", "2"};
		params[n++] = (struct sp_s3_param){"prefix", fprefix};
		if (delimiter && *delimiter)
			params[n++] =
			    (struct sp_s3_param){"delimiter", delimiter};
		if (token)
			params[n++] =
			    (struct sp_s3_param){"continuation-token", token};
		r = list_page(s3, params, n, "list", list_entry, &lc, &page,
			      err);
		if (r < 0 && r != -EBADMSG)
			break;
		if (r == -EBADMSG)
			r = sp_error_set(err, SP_E_VAULT_REMOTE,
					 "cannot list 's3://%s/%s': the answer "
					 "is no ListObjectsV2 result",
					 s3->cfg.bucket, fprefix);
		free(token);
		token = NULL;
		if (r == 0 && page.truncated) {
			if (!page.next_token || !*page.next_token)
				r = sp_error_set(err, SP_E_VAULT_REMOTE,
						 "cannot list 's3://%s/%s': "
						 "a truncated page without a "
						 "continuation token",
						 s3->cfg.bucket, fprefix);
			else
				token = strdup(page.next_token);
			if (r == 0 && !token)
				r = sp_error_set(err, SP_E_NOMEM,
						 "out of memory");
		}
		sp_s3_listing_page_release(&page);
		if (r != 0 || !token)
			break;
	}
	free(token);
	return r;
}

/* ---- deletion ---- */

/* Is the bucket versioned (asked once)?  1, 0 or an error. */
static int bucket_versioned(struct sp_s3 *s3, struct sp_error *err)
{
	struct sp_s3_req q = {0};
	char status[32];
	int r;

	pthread_mutex_lock(&s3->versioning_lock);
	if (s3->versioned >= 0) {
		r = s3->versioned;
		goto out;
	}
	q.method = "GET";
	q.op = SP_S3_OP_GET;
	q.query = "versioning=";
	q.what = "read the versioning of";
	q.max = SP_S3_ERROR_BODY_MAX;
	r = sp_s3_send(s3, &q, err);
	if (r == 0 && q.status != 200)
		r = sp_s3_status_error(s3, &q, err);
	if (r == 0) {
		bool on = sp_s3_parse_text(q.out.data, q.out.len,
					   "VersioningConfiguration", "Status",
					   status, sizeof(status)) &&
			  (strcmp(status, "Enabled") == 0 ||
			   strcmp(status, "Suspended") == 0);
		s3->versioned = on;
		r = on;
	}
	sp_s3_req_release(&q);
out:
	pthread_mutex_unlock(&s3->versioning_lock);
	return r;
}

static int delete_error(struct sp_s3 *s3, const struct sp_s3_req *q,
			const char *fk, struct sp_error *err)
{
	if (q->status == 403 && strcmp(q->code, "AccessDenied") == 0 &&
	    q->query && strncmp(q->query, "versionId=", 10) == 0)
		return sp_error_set(err, SP_E_OBJECT_LOCKED,
				    "cannot delete 's3://%s/%s': object lock "
				    "keeps it until its retention date (%s)",
				    s3->cfg.bucket, fk,
				    q->msg[0] ? q->msg : "access denied");
	if (q->status == 403 && strcmp(q->code, "AccessDenied") == 0 &&
	    strstr(q->msg, "lock"))
		return sp_error_set(err, SP_E_OBJECT_LOCKED,
				    "cannot delete 's3://%s/%s': %s",
				    s3->cfg.bucket, fk, q->msg);
	return sp_s3_status_error(s3, q, err);
}

static int delete_one(struct sp_s3 *s3, const char *fk, const char *version,
		      struct sp_error *err)
{
	sp_autofree char *query = NULL;
	struct sp_s3_req q = {0};
	int r;

	if (version) {
		struct sp_s3_param p = {"versionId", version};
		query = sp_s3_query_canonical(&p, 1);
		if (!query)
			return sp_error_set(err, SP_E_NOMEM, "out of memory");
	}
	q.method = "DELETE";
	q.op = SP_S3_OP_DELETE;
	q.key = fk;
	q.query = query;
	q.what = "delete";
	r = sp_s3_send(s3, &q, err);
	if (r == 0 && sp_s3_key_not_found(&q))
		r = 0;
	else if (r == 0 && q.status != 204 && q.status != 200)
		r = delete_error(s3, &q, fk, err);
	sp_s3_req_release(&q);
	return r;
}

struct versions {
	const char *key;
	char **ids;
	size_t n, cap;
};

static int collect_version(void *u, const struct sp_s3_entry *e)
{
	struct versions *v = u;

	if (strcmp(e->key, v->key) != 0 || !e->version_id)
		return 0;
	if (v->n == v->cap) {
		size_t cap = v->cap ? 2 * v->cap : 8;
		char **ids = realloc(v->ids, cap * sizeof(*ids));
		if (!ids)
			return -ENOMEM;
		v->ids = ids;
		v->cap = cap;
	}
	v->ids[v->n] = strdup(e->version_id);
	if (!v->ids[v->n])
		return -ENOMEM;
	v->n++;
	return 0;
}

/* Every version and delete marker of @fk, each deleted by id. */
static int delete_versions(struct sp_s3 *s3, const char *fk,
			   struct sp_error *err)
{
	struct versions v = {fk, NULL, 0, 0};
	char *key_marker = NULL, *version_marker = NULL;
	int r = 0;

	for (;;) {
		struct sp_s3_param params[4];
		struct sp_s3_listing_page page;
		size_t n = 0;

		params[n++] = (struct sp_s3_param){"prefix", fk};
		params[n++] = (struct sp_s3_param){"versions", ""};
		if (key_marker)
			params[n++] =
			    (struct sp_s3_param){"key-marker", key_marker};
		if (version_marker)
			params[n++] = (struct sp_s3_param){"version-id-marker",
							   version_marker};
		r = list_page(s3, params, n, "list the versions of",
			      collect_version, &v, &page, err);
		if (r < 0 && r != -EBADMSG)
			break;
		free(key_marker);
		free(version_marker);
		key_marker = version_marker = NULL;
		if (r == -EBADMSG)
			r = sp_error_set(err, SP_E_VAULT_REMOTE,
					 "cannot list the versions of "
					 "'s3://%s/%s': the answer is no "
					 "ListVersionsResult",
					 s3->cfg.bucket, fk);
		else if (r == -ENOMEM)
			r = sp_error_set(err, SP_E_NOMEM, "out of memory");
		if (r == 0 && page.truncated && page.next_key_marker &&
		    strcmp(page.next_key_marker, fk) == 0) {
			key_marker = strdup(page.next_key_marker);
			version_marker = page.next_version_marker
					     ? strdup(page.next_version_marker)
					     : NULL;
			if (!key_marker)
				r = sp_error_set(err, SP_E_NOMEM,
						 "out of memory");
		}
		sp_s3_listing_page_release(&page);
		if (r != 0 || !key_marker)
			break;
	}
	free(key_marker);
	free(version_marker);
	for (size_t i = 0; r == 0 && i < v.n; i++)
		r = delete_one(s3, fk, v.ids[i], err);
	for (size_t i = 0; i < v.n; i++)
		free(v.ids[i]);
	free(v.ids);
	return r;
}

int sp_s3_delete(struct sp_s3 *s3, const char *key, struct sp_error *err)
{
	sp_autofree char *fk = NULL;
	int r;

	r = sp_s3_full_key(s3, key, &fk, err);
	if (r < 0)
		return r;
	r = bucket_versioned(s3, err);
	if (r < 0)
		return r;
	if (r == 1)
		return delete_versions(s3, fk, err);
	return delete_one(s3, fk, NULL, err);
}

int sp_s3_copy(struct sp_s3 *s3, const char *from_key, const char *to_key,
	       struct sp_error *err)
{
	sp_autofree char *from = NULL, *to = NULL, *enc = NULL, *hdr = NULL;
	struct sp_s3_req q = {0};
	char code[64], msg[200];
	int r;

	r = sp_s3_full_key(s3, from_key, &from, err);
	if (r == 0)
		r = sp_s3_full_key(s3, to_key, &to, err);
	if (r < 0)
		return r;
	enc = sp_s3_uri_encode(from, false);
	if (!enc || asprintf(&hdr, "x-amz-copy-source: /%s/%s", s3->cfg.bucket,
			     enc) < 0) {
		hdr = NULL;
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	}
	q.headers[0] = hdr;
	q.method = "PUT";
	q.op = SP_S3_OP_COPY;
	q.key = to;
	q.what = "copy to";
	q.max = SP_S3_ERROR_BODY_MAX;
	r = sp_s3_send(s3, &q, err);
	if (r == 0 && q.status == 404 && strcmp(q.code, "NoSuchKey") == 0)
		r = -ENOENT;
	else if (r == 0 && q.status != 200)
		r = sp_s3_status_error(s3, &q, err);
	/* A copy can fail after its 200 was sent: the body says so. */
	else if (r == 0 && sp_s3_parse_error(q.out.data, q.out.len, code,
					     sizeof(code), msg, sizeof(msg)))
		r = sp_error_set(err, SP_E_VAULT_REMOTE,
				 "cannot copy 's3://%s/%s' to '%s': %s %s",
				 s3->cfg.bucket, from, to, code, msg);
	sp_s3_req_release(&q);
	return r;
}

/* ---- capabilities ---- */

/* The answer of a bucket without object lock: 404 (AWS, RGW: no lock
 * configuration) or 400/405/501 (a server that has no object lock at
 * all).  *on stays false; any other answer is an error. */
static bool no_object_lock(const struct sp_s3_req *q)
{
	return (sp_s3_key_not_found(q) || q->status == 400 ||
		q->status == 405 || q->status == 501);
}

static int probe_object_lock(struct sp_s3 *s3, bool *on, struct sp_error *err)
{
	struct sp_s3_req q = {0};
	char enabled[32];
	int r;

	q.method = "GET";
	q.op = SP_S3_OP_GET;
	q.query = "object-lock=";
	q.what = "read the object lock settings of";
	q.max = SP_S3_ERROR_BODY_MAX;
	*on = false;
	r = sp_s3_send(s3, &q, err);
	if (r == 0 && q.status == 200)
		*on = sp_s3_parse_text(
			  q.out.data, q.out.len, "ObjectLockConfiguration",
			  "ObjectLockEnabled", enabled, sizeof(enabled)) &&
		      strcmp(enabled, "Enabled") == 0;
	else if (r == 0 && !no_object_lock(&q))
		r = sp_s3_status_error(s3, &q, err);
	sp_s3_req_release(&q);
	return r;
}

static int probe_conditional_put(struct sp_s3 *s3, bool *works,
				 struct sp_error *err)
{
	struct sp_s3_put_opts o = {.flags = SP_S3_IF_NONE_MATCH};
	struct sp_error derr = {0};
	uint64_t rnd = 0;
	char key[64];
	int r;

	if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
		rnd = sp_now_mono_ns();
	snprintf(key, sizeof(key), ".sp-probe-%016" PRIx64, rnd);
	*works = false;
	r = sp_s3_put(s3, key, "1", 1, &o, err);
	if (r == SP_E_VAULT_UNSUPPORTED)
		return 0;
	if (r < 0 && r != -EEXIST)
		return r;
	r = sp_s3_put(s3, key, "2", 1, &o, err);
	if (r == -EEXIST)
		*works = true;
	else if (r == SP_E_VAULT_UNSUPPORTED || r == 0)
		*works = false;
	else
		return r;
	if (sp_s3_delete(s3, key, &derr) < 0)
		sp_log(SP_LOG_WARNING,
		       "s3 probe object not deleted bucket=%s key=%s%s: %s",
		       s3->cfg.bucket, s3->cfg.prefix, key, derr.msg);
	return 0;
}

int sp_s3_probe(struct sp_s3 *s3, bool *conditional_put, bool *object_lock,
		struct sp_error *err)
{
	int r = 0;

	pthread_mutex_lock(&s3->probe_lock);
	if (!s3->probed) {
		r = probe_object_lock(s3, &s3->object_lock, err);
		if (r == 0)
			r = probe_conditional_put(s3, &s3->cond_put, err);
		s3->probed = r == 0;
	}
	if (r == 0) {
		if (conditional_put)
			*conditional_put = s3->cond_put;
		if (object_lock)
			*object_lock = s3->object_lock;
	}
	pthread_mutex_unlock(&s3->probe_lock);
	return r;
}

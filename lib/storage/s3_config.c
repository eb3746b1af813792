// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Where an S3 vault is and how to sign in: "s3://BUCKET/PREFIX", the AWS_*
 * environment variables and the root-only per-vault config file.  The
 * invariant: the secret key and session token live only in malloc'd
 * strings of a struct sp_s3_config, are wiped when released, and are never
 * put in a message.
 */
#include "storage/s3_client.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/fileio.h"

#define AWS_HOST_SUFFIX ".amazonaws.com"

static void wipe_free(char **s)
{
	if (*s) {
		explicit_bzero(*s, strlen(*s));
		free(*s);
		*s = NULL;
	}
}

void sp_s3_config_release(struct sp_s3_config *cfg)
{
	if (!cfg)
		return;
	free(cfg->endpoint);
	free(cfg->region);
	free(cfg->bucket);
	free(cfg->prefix);
	free(cfg->ca_file);
	wipe_free(&cfg->access_key);
	wipe_free(&cfg->secret_key);
	wipe_free(&cfg->session_token);
	memset(cfg, 0, sizeof(*cfg));
}

static int dup_field(char **dst, const char *src)
{
	if (!src) {
		*dst = NULL;
		return 0;
	}
	*dst = strdup(src);
	return *dst ? 0 : -ENOMEM;
}

int sp_s3_config_copy(struct sp_s3_config *dst, const struct sp_s3_config *src)
{
	memset(dst, 0, sizeof(*dst));
	if (dup_field(&dst->endpoint, src->endpoint) < 0 ||
	    dup_field(&dst->region, src->region) < 0 ||
	    dup_field(&dst->bucket, src->bucket) < 0 ||
	    dup_field(&dst->prefix, src->prefix) < 0 ||
	    dup_field(&dst->access_key, src->access_key) < 0 ||
	    dup_field(&dst->secret_key, src->secret_key) < 0 ||
	    dup_field(&dst->session_token, src->session_token) < 0 ||
	    dup_field(&dst->ca_file, src->ca_file) < 0) {
		sp_s3_config_release(dst);
		return -ENOMEM;
	}
	dst->path_style = src->path_style;
	dst->path_style_set = src->path_style_set;
	return 0;
}

/* Replace *@dst by a copy of @src (NULL or "" clears it). */
static int set_field(char **dst, const char *src, bool secret)
{
	char *v = NULL;

	if (src && *src) {
		v = strdup(src);
		if (!v)
			return -ENOMEM;
	}
	if (secret)
		wipe_free(dst);
	else
		free(*dst);
	*dst = v;
	return 0;
}

/* Fill *@dst from the environment variable @var when it is still NULL. */
static int env_default(char **dst, const char *var, bool secret)
{
	const char *v = getenv(var);

	if (*dst || !v || !*v)
		return 0;
	return set_field(dst, v, secret);
}

/* "dir//sub" → "dir/sub/"; "" and "/" → "". */
static char *normalise_prefix(const char *p)
{
	size_t n = strlen(p);
	char *out = malloc(n + 2), *o = out;

	if (!out)
		return NULL;
	while (*p == '/')
		p++;
	for (; *p; p++) {
		if (*p == '/' && o > out && o[-1] == '/')
			continue;
		*o++ = *p;
	}
	if (o > out && o[-1] != '/')
		*o++ = '/';
	*o = '\0';
	return out;
}

static bool endpoint_is_valid(const char *e)
{
	const char *host;

	if (strncmp(e, "http://", 7) == 0)
		host = e + 7;
	else if (strncmp(e, "https://", 8) == 0)
		host = e + 8;
	else
		return false;
	if (!*host || *host == '/' || strpbrk(host, "?#@ \t\r\n"))
		return false;
	return true;
}

static int finish(struct sp_s3_config *cfg, struct sp_error *err)
{
	if (cfg->endpoint) {
		size_t n = strlen(cfg->endpoint);
		if (!endpoint_is_valid(cfg->endpoint))
			return sp_error_set(err, SP_E_USAGE,
					    "invalid S3 endpoint '%s' (give "
					    "http(s)://HOST[:PORT])",
					    cfg->endpoint);
		while (n > 0 && cfg->endpoint[n - 1] == '/')
			cfg->endpoint[--n] = '\0';
	}
	if (!cfg->region && set_field(&cfg->region, "us-east-1", false) < 0)
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	if (!cfg->path_style_set) {
		const char *e = cfg->endpoint;
		size_t n = e ? strlen(e) : 0, s = strlen(AWS_HOST_SUFFIX);
		bool aws =
		    !e || (n > s && strcmp(e + n - s, AWS_HOST_SUFFIX) == 0);
		cfg->path_style = !aws;
	}
	/* Virtual-hosted style puts the bucket in a host name, where a dot
	 * would break the certificate match. */
	if (!cfg->path_style && strchr(cfg->bucket, '.') && !cfg->endpoint)
		cfg->path_style = true;
	if (!cfg->access_key || !cfg->secret_key)
		return sp_error_set(
		    err, SP_E_VAULT_AUTH,
		    "no S3 credentials for 's3://%s' (set AWS_ACCESS_KEY_ID "
		    "and AWS_SECRET_ACCESS_KEY, or access_key_id and "
		    "secret_access_key in the vault's config file)",
		    cfg->bucket);
	return 0;
}

/* Bucket and prefix of "s3://BUCKET[/PREFIX]" into @cfg. */
static int parse_url(const char *url, struct sp_s3_config *cfg,
		     struct sp_error *err)
{
	const char *rest, *slash, *p;
	size_t blen;

	if (!url || strncmp(url, "s3://", 5) != 0)
		return sp_error_set(err, SP_E_USAGE,
				    "'%s' is not an S3 location (give "
				    "s3://BUCKET[/PREFIX])",
				    url ? url : "");
	rest = url + 5;
	slash = strchr(rest, '/');
	blen = slash ? (size_t)(slash - rest) : strlen(rest);
	free(cfg->bucket);
	cfg->bucket = strndup(rest, blen);
	if (!cfg->bucket)
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	if (!sp_s3_bucket_name_is_valid(cfg->bucket))
		return sp_error_set(err, SP_E_USAGE,
				    "invalid bucket name '%s' in '%s' (3-63 "
				    "lowercase letters, digits, '.' and '-', "
				    "starting and ending with a letter or "
				    "digit)",
				    cfg->bucket, url);
	p = slash ? slash : "";
	for (const char *c = p; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f || *c == '?' ||
		    *c == '#')
			return sp_error_set(err, SP_E_USAGE,
					    "invalid prefix in '%s' (no "
					    "control characters, '?' or '#')",
					    url);
	free(cfg->prefix);
	cfg->prefix = normalise_prefix(p);
	if (!cfg->prefix)
		return sp_error_set(err, SP_E_NOMEM, "out of memory");
	if (strlen(cfg->prefix) > 512)
		return sp_error_set(err, SP_E_USAGE,
				    "the prefix in '%s' is too long (at most "
				    "512 bytes)",
				    url);
	return 0;
}

static int fill_from_env(const char *endpoint, const char *ca_file,
			 struct sp_s3_config *cfg)
{
	/* Credentials come as a pair: from the file, else the environment. */
	if (!cfg->access_key && !cfg->secret_key &&
	    (env_default(&cfg->access_key, "AWS_ACCESS_KEY_ID", true) < 0 ||
	     env_default(&cfg->secret_key, "AWS_SECRET_ACCESS_KEY", true) < 0 ||
	     env_default(&cfg->session_token, "AWS_SESSION_TOKEN", true) < 0))
		return -ENOMEM;
	if (env_default(&cfg->region, "AWS_REGION", false) < 0 ||
	    env_default(&cfg->region, "AWS_DEFAULT_REGION", false) < 0 ||
	    env_default(&cfg->endpoint, "AWS_ENDPOINT_URL", false) < 0 ||
	    env_default(&cfg->ca_file, "AWS_CA_BUNDLE", false) < 0)
		return -ENOMEM;
	if ((endpoint && set_field(&cfg->endpoint, endpoint, false) < 0) ||
	    (ca_file && set_field(&cfg->ca_file, ca_file, false) < 0))
		return -ENOMEM;
	return 0;
}

int sp_s3_config_from_url(const char *url, const char *endpoint,
			  const char *ca_file, struct sp_s3_config *cfg,
			  struct sp_error *err)
{
	int r = parse_url(url, cfg, err);

	if (r == 0 && fill_from_env(endpoint, ca_file, cfg) < 0)
		r = sp_error_set(err, SP_E_NOMEM, "out of memory");
	if (r == 0)
		r = finish(cfg, err);
	if (r < 0)
		sp_s3_config_release(cfg);
	return r;
}

static int parse_bool(const char *v, bool *out)
{
	if (!strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "1"))
		*out = true;
	else if (!strcmp(v, "false") || !strcmp(v, "no") || !strcmp(v, "0"))
		*out = false;
	else
		return -1;
	return 0;
}

static int apply_line(void *ctx, const char *path, int lineno, const char *key,
		      const char *val, struct sp_error *err)
{
	struct sp_s3_config *cfg = ctx;
	static const struct {
		const char *name;
		size_t off;
		bool secret;
	} fields[] = {
	    {"endpoint", offsetof(struct sp_s3_config, endpoint), false},
	    {"region", offsetof(struct sp_s3_config, region), false},
	    {"access_key_id", offsetof(struct sp_s3_config, access_key), true},
	    {"secret_access_key", offsetof(struct sp_s3_config, secret_key),
	     true},
	    {"session_token", offsetof(struct sp_s3_config, session_token),
	     true},
	    {"ca_file", offsetof(struct sp_s3_config, ca_file), false},
	};

	/* The vault's key settings share the file; the vault reads them
	 * (lib/vault/vault_conf.c). */
	if (!strcmp(key, "passphrase") || !strcmp(key, "passphrase_file") ||
	    !strcmp(key, "key_file"))
		return 0;
	if (strcmp(key, "path_style") == 0) {
		if (parse_bool(val, &cfg->path_style) < 0)
			return sp_error_set(err, SP_E_USAGE,
					    "'%s' line %d: path_style must be "
					    "true or false",
					    path, lineno);
		cfg->path_style_set = true;
		return 0;
	}
	for (size_t i = 0; i < SP_ARRAY_SIZE(fields); i++) {
		if (strcmp(key, fields[i].name) != 0)
			continue;
		char **dst = (char **)((char *)cfg + fields[i].off);
		if (set_field(dst, val, fields[i].secret) < 0)
			return sp_error_set(err, SP_E_NOMEM, "out of memory");
		return 0;
	}
	return sp_error_set(err, SP_E_USAGE,
			    "'%s' line %d: unknown setting '%s' (known: "
			    "endpoint, region, access_key_id, "
			    "secret_access_key, session_token, ca_file, "
			    "path_style, passphrase, passphrase_file, "
			    "key_file)",
			    path, lineno, key);
}

int sp_s3_config_load_file(const char *path, struct sp_s3_config *cfg,
			   struct sp_error *err)
{
	sp_autoclose int fd = -1;
	struct stat st;
	int r;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return sp_error_set_errno(err, SP_E_USAGE, errno,
					  "cannot read vault config '%s'",
					  path);
	if (fstat(fd, &st) < 0)
		return sp_error_set_errno(err, SP_E_USAGE, errno,
					  "cannot read vault config '%s'",
					  path);
	if (!S_ISREG(st.st_mode))
		return sp_error_set(err, SP_E_USAGE,
				    "vault config '%s' is not a regular file",
				    path);
	/* It holds a secret: refuse it before reading a byte when others
	 * could have read it too. */
	if (st.st_mode & 077 || st.st_uid != geteuid())
		return sp_error_set(
		    err, SP_E_VAULT_PERMISSION,
		    "vault config '%s' is accessible to other users (mode "
		    "%04o, owner %u; it holds a secret: chown it to uid %u "
		    "and chmod 600 it, and rotate the key if others read it)",
		    path, (unsigned)(st.st_mode & 07777), (unsigned)st.st_uid,
		    (unsigned)geteuid());
	r = sp_settings_read(fd, path, apply_line, cfg, SP_E_USAGE, err);
	fd = -1; /* consumed */
	return r;
}

// SPDX-License-Identifier: LGPL-2.1-or-later
/* The S3 client without a server: key and query encoding, bucket names,
 * s3:// URLs and the AWS_* environment, the config file and its
 * permissions, S3 error documents and times, and an endpoint nobody
 * listens on. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "harness.h"
#include "storage/s3_client.h"

static void clear_env(void)
{
	static const char *vars[] = {
	    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
	    "AWS_REGION",	 "AWS_DEFAULT_REGION",	  "AWS_ENDPOINT_URL",
	    "AWS_CA_BUNDLE",
	};
	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
		unsetenv(vars[i]);
}

static void test_uri_encode(void)
{
	struct {
		const char *in;
		bool slash;
		const char *out;
	} cases[] = {
	    {"abc-_.~XYZ019", false, "abc-_.~XYZ019"},
	    {"a b", false, "a%20b"},
	    {"a+b", false, "a%2Bb"},
	    {"100%", false, "100%25"},
	    {"dir/sub/key", false, "dir/sub/key"},
	    {"dir/sub/key", true, "dir%2Fsub%2Fkey"},
	    {"\xc3\xa9", false, "%C3%A9"},
	    {"a=b&c?d#e*", false, "a%3Db%26c%3Fd%23e%2A"},
	    {"", true, ""},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *e = sp_s3_uri_encode(cases[i].in, cases[i].slash);
		CHECK_STR(e, cases[i].out);
		free(e);
	}
}

static void test_query(void)
{
	struct sp_s3_param p[] = {
	    {"prefix", "many/dir x"},
	    {"list-type", "2"},
	    {"continuation-token", "a+b/c=="},
	    {"delimiter", "/"},
	};
	char *q = sp_s3_query_canonical(p, 4);
	CHECK_STR(q, "continuation-token=a%2Bb%2Fc%3D%3D&delimiter=%2F&"
		     "list-type=2&prefix=many%2Fdir%20x");
	free(q);

	struct sp_s3_param v[] = {{"versions", NULL}, {"prefix", ""}};
	q = sp_s3_query_canonical(v, 2);
	CHECK_STR(q, "prefix=&versions=");
	free(q);

	q = sp_s3_query_canonical(NULL, 0);
	CHECK_STR(q, "");
	free(q);
}

static void test_bucket_names(void)
{
	const char *good[] = {"abc", "my-bucket.2", "a1b",
			      "b23456789012345678901234567890123456789012345678"
			      "901234567890123"};
	const char *bad[] = {"ab",
			     "Abc",
			     "a_b",
			     "-abc",
			     "abc-",
			     "a..b",
			     "a.-b",
			     "192.168.1.1",
			     "a b",
			     "abc/",
			     "",
			     "b234567890123456789012345678901234567890123456"
			     "789012345678901234"};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		CHECK(sp_s3_bucket_name_is_valid(good[i]));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (sp_s3_bucket_name_is_valid(bad[i])) {
			fprintf(stderr, "accepted '%s'\n", bad[i]);
			sp_test_failures++;
		}
}

static void test_url(void)
{
	struct sp_s3_config c = {0};
	struct sp_error err = {0};

	clear_env();
	setenv("AWS_ACCESS_KEY_ID", "AKID", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "se:cret", 1);

	CHECK_OK(sp_s3_config_from_url("s3://bkt", NULL, NULL, &c, &err), &err);
	CHECK_STR(c.bucket, "bkt");
	CHECK_STR(c.prefix, "");
	CHECK_STR(c.region, "us-east-1");
	CHECK(c.endpoint == NULL);
	CHECK(!c.path_style); /* AWS: virtual-hosted */
	CHECK_STR(c.access_key, "AKID");
	CHECK_STR(c.secret_key, "se:cret");
	CHECK(c.session_token == NULL);
	sp_s3_config_release(&c);

	const char *prefixes[][2] = {
	    {"s3://bkt/", ""},
	    {"s3://bkt/dir", "dir/"},
	    {"s3://bkt/dir/sub/", "dir/sub/"},
	    {"s3://bkt//dir//sub", "dir/sub/"},
	    {"s3://bkt/a b+c", "a b+c/"},
	};
	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
		CHECK_OK(
		    sp_s3_config_from_url(prefixes[i][0], NULL, NULL, &c, &err),
		    &err);
		CHECK_STR(c.prefix, prefixes[i][1]);
		sp_s3_config_release(&c);
	}

	const char *bad[] = {"bkt",	    "s3:/bkt",	"s3://",
			     "s3://Bkt/x",  "s3://b/x", "s3://bkt/x?y",
			     "http://bkt/x"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_INT(sp_s3_config_from_url(bad[i], NULL, NULL, &c, &err),
			  SP_E_USAGE);
		CHECK(c.bucket == NULL); /* released on error */
	}
}

static void test_env(void)
{
	struct sp_s3_config c = {0};
	struct sp_error err = {0};

	clear_env();
	CHECK_INT(sp_s3_config_from_url("s3://bkt/p", NULL, NULL, &c, &err),
		  SP_E_VAULT_AUTH);
	CHECK(strstr(err.msg, "AWS_ACCESS_KEY_ID") &&
	      strstr(err.msg, "AWS_SECRET_ACCESS_KEY"));
	setenv("AWS_ACCESS_KEY_ID", "AKID", 1);
	CHECK_INT(sp_s3_config_from_url("s3://bkt/p", NULL, NULL, &c, &err),
		  SP_E_VAULT_AUTH);

	setenv("AWS_SECRET_ACCESS_KEY", "topsecret", 1);
	setenv("AWS_SESSION_TOKEN", "tok", 1);
	setenv("AWS_DEFAULT_REGION", "eu-west-1", 1);
	setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:7480/", 1);
	setenv("AWS_CA_BUNDLE", "/env/ca.pem", 1);
	CHECK_OK(sp_s3_config_from_url("s3://bkt/p", NULL, NULL, &c, &err),
		 &err);
	CHECK_STR(c.region, "eu-west-1");
	CHECK_STR(c.endpoint, "http://127.0.0.1:7480"); /* '/' trimmed */
	CHECK(c.path_style); /* not AWS: path style */
	CHECK_STR(c.session_token, "tok");
	CHECK_STR(c.ca_file, "/env/ca.pem");
	sp_s3_config_release(&c);

	/* AWS_REGION wins over AWS_DEFAULT_REGION; arguments over both. */
	setenv("AWS_REGION", "ap-south-1", 1);
	CHECK_OK(sp_s3_config_from_url("s3://bkt/p", "https://s3.example.net",
				       "/arg/ca.pem", &c, &err),
		 &err);
	CHECK_STR(c.region, "ap-south-1");
	CHECK_STR(c.endpoint, "https://s3.example.net");
	CHECK_STR(c.ca_file, "/arg/ca.pem");
	sp_s3_config_release(&c);

	CHECK_INT(
	    sp_s3_config_from_url("s3://bkt/p", "ftp://x", NULL, &c, &err),
	    SP_E_USAGE);
	/* An AWS endpoint given explicitly stays virtual-hosted. */
	CHECK_OK(sp_s3_config_from_url("s3://bkt/p",
				       "https://s3.eu-west-1.amazonaws.com",
				       NULL, &c, &err),
		 &err);
	CHECK(!c.path_style);
	sp_s3_config_release(&c);
	clear_env();
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");
	if (!f) {
		perror(path);
		exit(99);
	}
	fputs(text, f);
	fclose(f);
	chmod(path, mode);
}

static void test_file(void)
{
	char path[512];
	struct sp_s3_config c = {0};
	struct sp_error err = {0};

	clear_env();
	snprintf(path, sizeof(path), "%s/vault.conf", sp_test_tmpdir());
	write_file(path,
		   "# the vault's S3 settings\n"
		   "endpoint = https://s3.example.net:8443\n"
		   "region=eu-central-1\n"
		   "  access_key_id = test:tester  \n"
		   "secret_access_key = s3cr:et=x\n"
		   "\n"
		   "ca_file = /etc/ssl/ca.pem\n"
		   "path_style = false\n",
		   0600);
	CHECK_OK(sp_s3_config_load_file(path, &c, &err), &err);
	CHECK_STR(c.endpoint, "https://s3.example.net:8443");
	CHECK_STR(c.access_key, "test:tester");
	CHECK_STR(c.secret_key, "s3cr:et=x");
	CHECK(c.path_style_set && !c.path_style);
	/* The file's credentials win over the environment. */
	setenv("AWS_ACCESS_KEY_ID", "ENVKEY", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "envsecret", 1);
	CHECK_OK(sp_s3_config_from_url("s3://bkt/v1", NULL, NULL, &c, &err),
		 &err);
	CHECK_STR(c.access_key, "test:tester");
	CHECK_STR(c.region, "eu-central-1");
	CHECK(!c.path_style);
	sp_s3_config_release(&c);
	clear_env();

	/* Readable by group or others: refused, naming the fix, no secret. */
	chmod(path, 0640);
	CHECK_INT(sp_s3_config_load_file(path, &c, &err),
		  SP_E_VAULT_PERMISSION);
	CHECK(strstr(err.msg, "chmod 600") != NULL);
	CHECK(strstr(err.msg, "s3cr") == NULL);
	CHECK(c.secret_key == NULL);
	chmod(path, 0604);
	CHECK_INT(sp_s3_config_load_file(path, &c, &err),
		  SP_E_VAULT_PERMISSION);
	sp_s3_config_release(&c);

	write_file(path, "endpoint = x\nsecret = y\n", 0600);
	CHECK_INT(sp_s3_config_load_file(path, &c, &err), SP_E_USAGE);
	CHECK(strstr(err.msg, "line 2") != NULL);
	sp_s3_config_release(&c);
	write_file(path, "path_style = maybe\n", 0600);
	CHECK_INT(sp_s3_config_load_file(path, &c, &err), SP_E_USAGE);
	sp_s3_config_release(&c);
	CHECK_INT(sp_s3_config_load_file("/nonexistent/x.conf", &c, &err),
		  SP_E_USAGE);
}

static void test_xml(void)
{
	const char *e =
	    "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>"
	    "RequestTimeTooSkewed</Code><Message>a &amp; b</Message>"
	    "<RequestId>tx1</RequestId></Error>";
	char code[64], msg[64];

	CHECK(sp_s3_parse_error(e, strlen(e), code, sizeof(code), msg,
				sizeof(msg)));
	CHECK_STR(code, "RequestTimeTooSkewed");
	CHECK_STR(msg, "a & b");
	CHECK(!sp_s3_parse_error("<html>", 6, code, sizeof(code), msg,
				 sizeof(msg)));
	CHECK(!sp_s3_parse_error("", 0, code, sizeof(code), msg, sizeof(msg)));
	CHECK(!sp_s3_parse_error("<ListBucketResult/>", 19, code, sizeof(code),
				 msg, sizeof(msg)));

	CHECK_INT(sp_s3_parse_time("2026-11-22T15:01:02.123Z"), 1795359662);
	CHECK_INT(sp_s3_parse_time("2026-11-22T15:01:02Z"), 1795359662);
	CHECK_INT(sp_s3_parse_time("2026-11-22 15:01:02"), -1);
	CHECK_INT(sp_s3_parse_time("2026-13-22T15:01:02Z"), -1);
}

/* Nobody listens on port 9 of loopback: a quick, bounded failure. */
static void test_unreachable(void)
{
	struct sp_s3_config c = {0};
	struct sp_error err = {0};
	struct sp_s3 *s3 = NULL;

	clear_env();
	setenv("AWS_ACCESS_KEY_ID", "AKID", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "not-in-messages", 1);
	setenv("STILLPOINT_S3_RETRIES", "2,1", 1);
	CHECK_OK(sp_s3_config_from_url("s3://bkt/p", "http://127.0.0.1:9", NULL,
				       &c, &err),
		 &err);
	CHECK_INT(sp_s3_open(&c, &s3, &err), SP_E_VAULT_UNREACHABLE);
	CHECK(s3 == NULL);
	CHECK(strstr(err.msg, "127.0.0.1:9") != NULL);
	CHECK(strstr(err.msg, "2 attempts") != NULL);
	CHECK(strstr(err.msg, "not-in-messages") == NULL);
	setenv("STILLPOINT_S3_RETRIES", "zero", 1);
	CHECK_INT(sp_s3_open(&c, &s3, &err), SP_E_USAGE);
	sp_s3_config_release(&c);
	unsetenv("STILLPOINT_S3_RETRIES");
	clear_env();
}

int main(void)
{
	SP_RUN(test_uri_encode);
	SP_RUN(test_query);
	SP_RUN(test_bucket_names);
	SP_RUN(test_url);
	SP_RUN(test_env);
	SP_RUN(test_file);
	SP_RUN(test_xml);
	SP_RUN(test_unreachable);
	SP_TEST_EXIT();
}

// SPDX-License-Identifier: LGPL-2.1-or-later
/* Fuzz target: any bytes as writer settings are parsed without a crash or
 * a leak, are refused with WriterConfigInvalid (or OutOfMemory), and
 * whatever is accepted holds the parser's promises: valid unique names,
 * absolute paths, a pre or a post step, every number in its range. */
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "writer/writer_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_name(const char *s)
{
	size_t n = strlen(s);

	assert(n >= 1 && n <= 64);
	assert(strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			 "0123456789._-") == n);
}

static void check_args(char **args)
{
	assert(args);
	for (size_t i = 0; args[i]; i++)
		assert(i < 64);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sp_writer_config *c = NULL;
	struct sp_error err;
	int r;

	r = sp_writer_config_parse((const char *)data, size, "fuzz", &c, &err);
	if (r < 0) {
		assert(r == SP_E_WRITER_CONFIG || r == SP_E_NOMEM);
		assert(err.code == r && err.msg[0]);
		return 0;
	}
	assert(c->freeze_deadline_ms >= 1000 && c->freeze_deadline_ms <= 60000);
	assert(c->freeze_deadline_ms % 1000 == 0);
	assert(c->require == SP_CONSISTENCY_CRASH ||
	       c->require == SP_CONSISTENCY_FILE_SYSTEM ||
	       c->require == SP_CONSISTENCY_APPLICATION);
	assert(strcmp(c->backup_type, "full") == 0 ||
	       strcmp(c->backup_type, "copy") == 0);
	assert(c->nwriters <= 64);
	for (size_t i = 0; i < c->nwriters; i++) {
		const struct sp_writer_def *w = &c->writers[i];

		check_name(w->name);
		for (size_t j = 0; j < i; j++)
			assert(strcmp(w->name, c->writers[j].name) != 0);
		assert(w->where == SP_WRITER_GUEST ||
		       w->where == SP_WRITER_HOST);
		assert(w->pre || w->post);
		assert(!w->pre || w->pre[0] == '/');
		assert(!w->post || w->post[0] == '/');
		check_args(w->pre_args);
		check_args(w->post_args);
		assert(w->timeout_s >= 1 && w->timeout_s <= 3600);
		assert(w->retries <= 10);
	}
	sp_writer_config_free(c);
	return 0;
}

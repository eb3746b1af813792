// SPDX-License-Identifier: LGPL-2.1-or-later
/* Fuzz target: any bytes as `vssadmin list writers` output are parsed
 * without a crash, an overread or a leak; every writer returned has a
 * non-empty name and texts that are never NULL (but the instance id), and
 * a state that is -1 or a number read from the brackets. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "writer/vss_writers.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sp_vss_writer *w = NULL;
	struct sp_error err;
	size_t n = 0;
	int r;

	r = sp_vss_writers_parse((const char *)data, size, &w, &n, &err);
	if (r < 0) {
		assert(r == SP_E_NOMEM && !w && n == 0);
		return 0;
	}
	assert((n == 0) == (w == NULL));
	for (size_t i = 0; i < n; i++) {
		assert(w[i].name && w[i].name[0]);
		assert(w[i].id && w[i].state_text && w[i].last_error);
		assert(strlen(w[i].name) <= size);
		assert(!strchr(w[i].name, '\n'));
		assert(w[i].state >= -1);
		assert(sp_vss_state_describe(w[i].state) != NULL);
	}
	sp_vss_writers_free(w, n);
	return 0;
}

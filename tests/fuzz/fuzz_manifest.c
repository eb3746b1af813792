// SPDX-License-Identifier: LGPL-2.1-or-later
/* Fuzz target: any bytes as a manifest must be parsed and checked without
 * a crash, and whatever passes the check must be safe to use (disk names
 * without '/', index names of the fixed form). */
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "vault/vault.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sp_error err;
	json_t *m =
	    json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
	json_t *d;
	size_t i;

	if (!m)
		return 0;
	if (sp_manifest_check(m, "fuzz", &err) == 0) {
		json_array_foreach(json_object_get(m, "disks"), i, d)
		{
			const char *n =
			    json_string_value(json_object_get(d, "name"));
			assert(n && !strchr(n, '/'));
			assert(json_integer_value(json_object_get(d, "size")) >=
			       0);
		}
	} else {
		assert(err.code == SP_E_MANIFEST_CORRUPT);
	}
	json_decref(m);
	return 0;
}

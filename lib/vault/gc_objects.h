/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Garbage collection of a vault in object storage (an S3 vault): leases,
 * candidates and a sweep marker in the vault itself instead of fossils and
 * flock (the protocol is at the top of gc_objects.c).  sp_gc_run() calls
 * it for any vault that is not a local directory; the report has the same
 * fields as the local gc's ("fossilized" counts the new candidates).
 */
#ifndef SP_VAULT_GC_OBJECTS_H
#define SP_VAULT_GC_OBJECTS_H

#include <jansson.h>

#include "util/error.h"
#include "vault/gc.h"
#include "vault/vault.h"
#include <stillpoint/stillpoint.h>

/* A lease older than this belongs to a writer that is gone. */
#define SP_GC_LEASE_MAX SP_STORE_LEASE_MAX

int sp_gc_objects_run(struct sp_vault *v, const struct sp_gc_opts *o,
		      json_t **report, struct sp_error *err);

#endif

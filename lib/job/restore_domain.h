/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The pieces of `restore --as` that other ways of bringing a point up as a
 * new domain share (point_boot.c): the point and its stored definition,
 * and the new domain's identity and state files (a UUID when it has a
 * TPM, its NVRAM file), staged under temporary names until committed.
 */
#ifndef SP_JOB_RESTORE_DOMAIN_H
#define SP_JOB_RESTORE_DOMAIN_H

#include <stdbool.h>

#include <jansson.h>
#include <libvirt/libvirt.h>

#include "domain/domain_xml.h"
#include "job/vm_state.h"
#include "util/error.h"

struct sp_vault;

/* Point @spec of a libvirt domain: its catalog entry *@m and its stored
 * definition *@xml (malloc'd).  Errors: SP_E_POINT_NOT_FOUND, SP_E_USAGE
 * (a point made with --disk), SP_E_VAULT_IO. */
int sp_domain_point_load(struct sp_vault *v, const char *spec, json_t **m,
			 char **xml, struct sp_error *err);

/* A connection to @uri for new domain @new_name: the name is valid and
 * no domain has it.  Errors: SP_E_NAME_INVALID, SP_E_DOMAIN_EXISTS,
 * SP_E_LIBVIRT. */
int sp_new_domain_connect(const char *uri, const char *new_name,
			  virConnectPtr *conn, struct sp_error *err);

/* The new domain's identity and state files. */
struct sp_new_state {
	struct sp_point_state ps;
	struct sp_state_put *put;
	struct sp_libvirt_dirs dirs;
	struct sp_domain_restore_ids ids; /* for sp_domain_xml_for_restore */
	char *nvram;
	char uuid[VIR_UUID_STRING_BUFLEN];
};

/* Read and check the point's state files and choose where the new
 * domain @new_name keeps them (nothing written yet).  Release @ns in any
 * case.  Errors: SP_E_USAGE (state the host cannot take), vault errors. */
int sp_new_state_prepare(struct sp_vault *v, json_t *m, virConnectPtr conn,
			 const char *uri, const char *spec,
			 const char *new_name, struct sp_new_state *ns,
			 struct sp_error *err);
/* Write them under temporary names (sp_state_put_commit() names them,
 * sp_state_put_abort() removes them); @force replaces an NVRAM file. */
int sp_new_state_stage(struct sp_new_state *ns, bool force,
		       struct sp_error *err);
void sp_new_state_release(struct sp_new_state *ns);

#endif

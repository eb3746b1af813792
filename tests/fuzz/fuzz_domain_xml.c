// SPDX-License-Identifier: LGPL-2.1-or-later
/* Fuzz target: any bytes as a domain definition must be parsed or refused
 * with SP_E_LIBVIRT, without a crash.  What parses has a name and a target
 * for every disk, an exclusion reason exactly for the excluded disks, and
 * goes through the restore rewrite (its first disk mapped to a new file)
 * into text that parses again, with the new name and that file; and, given
 * a UUID and an NVRAM file, with those too; the isolated definition of a
 * throwaway boot made from it parses with no interface. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "domain/domain_xml.h"

#define NEW_NAME "fuzz-restored"
#define NEW_PATH "/srv/restore/fuzz & <co>/disk-0.qcow2"
#define NEW_UUID "0e5c2a7e-8f4b-4d1a-9c3e-2b7f6a1d9e40"
#define NEW_NVRAM "/var/lib/libvirt/qemu/nvram/fuzz & <x>_VARS.fd"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_def(const struct sp_domain_def *def)
{
	size_t i;

	assert(def->name && def->name[0]);
	assert(def->ndisks == 0 || def->disks);
	for (i = 0; i < def->ndisks; i++) {
		const struct sp_domain_disk *d = &def->disks[i];

		assert(d->target && d->target[0]);
		assert(d->device && d->type);
		assert(!d->source || d->source[0]);
		assert(d->backup_no == (d->why_excluded != NULL));
		assert(d->backup_no || !strcmp(d->device, "disk") ||
		       !strcmp(d->device, "cdrom") ||
		       !strcmp(d->device, "floppy"));
		assert(d->backup_no || d->source ||
		       (!strcmp(d->type, "network") && d->net_source));
		assert(!d->media || !d->backup_no);
	}
}

static void check_rewrite(const uint8_t *data, size_t size,
			  const struct sp_domain_def *def)
{
	struct sp_domain_disk_map map = {NULL, NEW_PATH, "qcow2", NULL,
					 NULL, false,	 NULL,	  NULL};
	struct sp_domain_def *again = NULL;
	struct sp_error err;
	char *out = NULL;
	int r;

	if (def->ndisks)
		map.target = def->disks[0].target;
	r = sp_domain_xml_for_restore((const char *)data, size, NEW_NAME, &map,
				      def->ndisks ? 1 : 0, NULL, &out, &err);
	assert(r == 0 || r == SP_E_NOMEM);
	if (r < 0)
		return;
	assert(out && strlen(out) > 0);
	r = sp_domain_def_parse(out, strlen(out), &again, &err);
	assert(r == 0 || r == SP_E_NOMEM);
	if (r == 0) {
		check_def(again);
		assert(!strcmp(again->name, NEW_NAME));
		assert(again->uuid == NULL);
		assert(again->ndisks == def->ndisks);
		assert(again->ninterfaces == def->ninterfaces);
		if (again->ndisks) {
			assert(!strcmp(again->disks[0].type, "file"));
			assert(!strcmp(again->disks[0].source, NEW_PATH));
			assert(!strcmp(again->disks[0].format, "qcow2"));
		}
	}
	sp_domain_def_free(again);
	free(out);
}

/* With a UUID and an NVRAM file: a domain with an <os> takes both. */
static void check_rewrite_ids(const uint8_t *data, size_t size,
			      const struct sp_domain_def *def)
{
	const struct sp_domain_restore_ids ids = {NEW_UUID, NEW_NVRAM};
	struct sp_domain_def *again = NULL;
	struct sp_error err;
	char *out = NULL;
	int r;

	r = sp_domain_xml_for_restore((const char *)data, size, NEW_NAME, NULL,
				      0, &ids, &out, &err);
	assert(r == 0 || r == SP_E_NOMEM || r == SP_E_USAGE);
	if (r < 0) {
		assert(out == NULL);
		return;
	}
	r = sp_domain_def_parse(out, strlen(out), &again, &err);
	assert(r == 0 || r == SP_E_NOMEM);
	if (r == 0) {
		check_def(again);
		assert(!strcmp(again->name, NEW_NAME));
		assert(again->uuid && !strcmp(again->uuid, NEW_UUID));
		assert(again->fw.has_nvram && again->fw.nvram_type == NULL);
		assert(again->fw.nvram && !strcmp(again->fw.nvram, NEW_NVRAM));
		assert(again->ndisks == def->ndisks);
		assert(again->ntpms == def->ntpms);
	}
	sp_domain_def_free(again);
	free(out);
}

/* The throwaway boot's definition (domain_xml_isolate.c) of the restore
 * rewrite: it parses, keeps the name, the first disk (on its new file) and
 * no interface. */
static void check_isolate(const uint8_t *data, size_t size,
			  const struct sp_domain_def *def)
{
	struct sp_domain_disk_map map = {.path = NEW_PATH, .format = "qcow2"};
	struct sp_domain_def *again = NULL;
	const char *keep[1] = {NULL};
	struct sp_error err;
	char *out = NULL, *iso = NULL;
	int r;

	if (def->ndisks)
		map.target = keep[0] = def->disks[0].target;
	r = sp_domain_xml_for_restore((const char *)data, size, NEW_NAME, &map,
				      def->ndisks ? 1 : 0, NULL, &out, &err);
	if (r < 0)
		return;
	r = sp_domain_xml_isolate(out, strlen(out), "/scratch & <x>", keep,
				  def->ndisks ? 1 : 0, &iso, &err);
	assert(r == 0 || r == SP_E_NOMEM);
	if (r == 0)
		r = sp_domain_def_parse(iso, strlen(iso), &again, &err);
	assert(r == 0 || r == SP_E_NOMEM);
	if (r == 0) {
		check_def(again);
		assert(!strcmp(again->name, NEW_NAME));
		assert(again->ninterfaces == 0);
		assert(again->ndisks <= def->ndisks);
		if (def->ndisks) {
			assert(again->ndisks >= 1);
			assert(!strcmp(again->disks[0].source, NEW_PATH));
		}
	}
	sp_domain_def_free(again);
	free(iso);
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sp_domain_def *def = NULL;
	struct sp_error err;
	int r;

	r = sp_domain_def_parse((const char *)data, size, &def, &err);
	if (r < 0) {
		assert(r == SP_E_LIBVIRT || r == SP_E_NOMEM);
		assert(err.code == r && err.msg[0]);
		assert(def == NULL);
		return 0;
	}
	check_def(def);
	check_rewrite(data, size, def);
	check_rewrite_ids(data, size, def);
	check_isolate(data, size, def);
	sp_domain_def_free(def);
	return 0;
}

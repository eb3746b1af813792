// SPDX-License-Identifier: LGPL-2.1-or-later
/* A refused libvirt backup job becomes an error that names what was
 * refused: a disk's checkpoint bitmap (with the disk and the format libvirt
 * runs), a stale base, a busy domain; libvirt's own words are kept. */
#include <libvirt/virterror.h>

#include "harness.h"
#include "snapshot/snapshot_libvirt.h"

static void test_checkpoint_refused(void)
{
	struct sp_error err;
	int r;

	/* libvirt 9.0, a raw disk given checkpoint='bitmap' */
	r = sp_libvirt_begin_error(
	    "web01", NULL, VIR_ERR_CONFIG_UNSUPPORTED,
	    "unsupported configuration: checkpoint for disk vdy unsupported "
	    "for storage type raw",
	    &err);
	CHECK_INT(r, SP_E_CHECKPOINT_REFUSED);
	CHECK_INT(err.code, SP_E_CHECKPOINT_REFUSED);
	CHECK(strstr(err.msg, "disk 'vdy' of 'web01'") != NULL);
	CHECK(strstr(err.msg, "runs the disk as raw") != NULL);
	CHECK(strstr(err.msg, "read in full") != NULL);
	/* the same during an incremental: not a broken base */
	r = sp_libvirt_begin_error(
	    "web01", "stillpoint-1", VIR_ERR_CONFIG_UNSUPPORTED,
	    "unsupported configuration: checkpoint for disk vdb unsupported "
	    "for storage type vmdk",
	    &err);
	CHECK_INT(r, SP_E_CHECKPOINT_REFUSED);
	CHECK(strstr(err.msg, "disk 'vdb'") != NULL);
	CHECK(strstr(err.msg, "as vmdk") != NULL);
	/* a format missing from the message */
	r = sp_libvirt_begin_error("web01", NULL, VIR_ERR_CONFIG_UNSUPPORTED,
				   "checkpoint for disk sda unsupported", &err);
	CHECK_INT(r, SP_E_CHECKPOINT_REFUSED);
	CHECK(strstr(err.msg, "disk 'sda'") != NULL);
	CHECK(strstr(err.msg, "as not qcow2") != NULL);
}

static void test_other_refusals(void)
{
	struct sp_error err;

	CHECK_INT(sp_libvirt_begin_error(
		      "db01", "stillpoint-2", VIR_ERR_CHECKPOINT_INCONSISTENT,
		      "missing or broken bitmap 'stillpoint-2' for disk 'vda'",
		      &err),
		  SP_E_CHECKPOINT_INCONSISTENT);
	CHECK_INT(sp_libvirt_begin_error(
		      "db01", "stillpoint-2", VIR_ERR_NO_DOMAIN_CHECKPOINT,
		      "Checkpoint 'stillpoint-2' for incremental backup of "
		      "disk 'vda' not found",
		      &err),
		  SP_E_CHECKPOINT_MISSING);
	CHECK_INT(sp_libvirt_begin_error("db01", NULL,
					 VIR_ERR_OPERATION_INVALID,
					 "another job is already active", &err),
		  SP_E_DOMAIN_BUSY);
	/* a refusal naming a disk names it first */
	CHECK_INT(sp_libvirt_begin_error(
		      "db01", NULL, VIR_ERR_OPERATION_UNSUPPORTED,
		      "Operation not supported: block jobs are not supported "
		      "on transient disk 'vdc'",
		      &err),
		  SP_E_SNAPSHOT_FAILED);
	CHECK(strstr(err.msg, "of 'db01' (disk 'vdc'): Operation not") != NULL);
	CHECK_INT(sp_libvirt_begin_error("db01", NULL, 0, NULL, &err),
		  SP_E_SNAPSHOT_FAILED);
	CHECK(strstr(err.msg, "cannot start the backup job of 'db01'") != NULL);
}

int main(void)
{
	SP_RUN(test_checkpoint_refused);
	SP_RUN(test_other_refusals);
	SP_TEST_EXIT();
}

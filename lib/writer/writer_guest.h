/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Guest-side writers: a writer's pre or post command run inside the guest
 * through the guest agent's guest-exec, with the same timeout, retries,
 * environment and result as host writers (writer_host.h).
 *
 * Before a script runs in a guest other than Windows, its owner, type and
 * mode and those of its directory are read in the guest (`stat`) and held to
 * the rule of host scripts: a regular file, root-owned, not writable by group
 * or others.
 */
#ifndef SP_WRITER_WRITER_GUEST_H
#define SP_WRITER_WRITER_GUEST_H

#include "domain/domain.h"
#include "writer/writer_host.h"

/*
 * Run @w's pre (@pre true) or post step in the guest of @d.  @os_id is the
 * guest's OS (on "mswindows" there is no owner/mode to check).  Errors:
 * as sp_writer_host_run(), plus SP_E_GUEST_AGENT_UNAVAILABLE.
 */
int sp_writer_guest_run(struct sp_domain *d, const char *os_id,
			const struct sp_writer_def *w, bool pre,
			const struct sp_writer_env *env,
			struct sp_writer_step_result *res,
			struct sp_error *err);

#endif

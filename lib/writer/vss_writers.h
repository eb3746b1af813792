/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The output of Windows' `vssadmin list writers`, read back through the
 * guest agent, parsed into writers and their states.  English and Japanese
 * Windows are understood (the labels differ: "Writer name:" / "ライター名:",
 * "State:" / "状態:", "Last error:" / "最後のエラー:"); the numeric state in
 * brackets ("[1] Stable", "[8] Failed") is the truth, the words are kept
 * as given.
 */
#ifndef SP_WRITER_VSS_WRITERS_H
#define SP_WRITER_VSS_WRITERS_H

#include <stddef.h>

#include "util/error.h"

struct sp_vss_writer {
	char *name;	   /* "SqlServerWriter" */
	char *id;	   /* "{a65faa63-5ea8-4ebc-9dbd-a0c4db26912a}" */
	char *instance_id; /* may be NULL */
	int state;	   /* VSS_WRITER_STATE number, -1 if absent */
	char *state_text;  /* "Stable", "Failed", ... as printed */
	char *last_error;  /* "No error", "Timed out", ... as printed */
};

/* Our words for a VSS state: "stable", "waiting", "failed" (1 = stable,
 * 2..5 = waiting for freeze/thaw/post-snapshot/completion, 6..15 =
 * failed at identify/prepare/freeze/thaw/...) plus the step, e.g.
 * "failed at freeze"; "unknown" otherwise.  Static text. */
const char *sp_vss_state_describe(int state);

/*
 * Parse @text (UTF-8; CRLF or LF line ends).  A block without a name is
 * skipped; no writer at all is not an error (*@n = 0).  Errors:
 * SP_E_NOMEM only.  Free with sp_vss_writers_free().
 */
int sp_vss_writers_parse(const char *text, size_t len,
			 struct sp_vss_writer **ret, size_t *n,
			 struct sp_error *err);
void sp_vss_writers_free(struct sp_vss_writer *w, size_t n);

#endif

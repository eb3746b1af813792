// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * `stillpoint writers DOMAIN`: the writers of a VM and their states, as
 * `vssadmin list writers` shows them on Windows.  Three sources:
 *  - the writers configured in the VM's settings, with the state and last
 *    error recorded by the last backup job (vault state/<vm>/last-job.json);
 *  - the file-system freeze itself (qemu-guest-agent), a writer of its own:
 *    its state is the last job's, and whether the agent answers now;
 *  - on Windows guests, the VSS writers, read live: `vssadmin list
 *    writers` run through the guest agent and parsed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "domain/domain.h"
#include "domain/guest_agent.h"
#include "job/job.h"
#include "util/cleanup.h"
#include "vault/vault.h"
#include "writer/vss_writers.h"
#include "writer/writer_config.h"

#include <stillpoint/stillpoint.h>

#define VSSADMIN "C:\\Windows\\System32\\vssadmin.exe"

static void add_vss(struct sp_domain *d, json_t *out)
{
	const char *argv[] = {"list", "writers", NULL};
	struct sp_guest_exec_result res;
	struct sp_vss_writer *w = NULL;
	struct sp_error e;
	size_t n = 0;

	if (sp_guest_exec(d, VSSADMIN, argv, NULL, 30000, &res, &e) < 0) {
		json_array_append_new(
		    out, json_pack("{s:s, s:s, s:s, s:s, s:s}", "name",
				   "vssadmin", "where", "guest", "kind", "vss",
				   "state", "unknown", "last_error", e.msg));
		return;
	}
	if (res.out &&
	    sp_vss_writers_parse(res.out, res.out_len, &w, &n, &e) == 0) {
		for (size_t i = 0; i < n; i++)
			json_array_append_new(
			    out,
			    json_pack("{s:s, s:s, s:s, s:s, s:s?, s:i, s:s?, "
				      "s:s?}",
				      "name", w[i].name, "where", "guest",
				      "kind", "vss", "state",
				      sp_vss_state_describe(w[i].state),
				      "state_text", w[i].state_text,
				      "vss_state", w[i].state, "last_error",
				      w[i].last_error, "id", w[i].id));
		sp_vss_writers_free(w, n);
	}
	sp_guest_exec_result_release(&res);
}

int sp_domain_writers(struct sp_vault *v, const char *uri, const char *domain,
		      const char *writers_path, json_t **ret,
		      struct sp_error *err)
{
	struct sp_domain *d = NULL;
	struct sp_writer_config *cfg = NULL;
	json_t *last = NULL, *out = NULL, *reason;
	sp_autofree char *os = NULL;
	enum sp_domain_state st;
	struct sp_error ae, e;
	bool agent = false;
	int r;

	r = sp_domain_open(uri, domain, &d, err);
	if (r < 0)
		return r;
	r = sp_writer_config_for_vm(d->name, writers_path, &cfg, err);
	if (r < 0)
		goto out;
	if (v && sp_vault_state_get(v, d->name, "last-job.json", &last, &e) < 0)
		last = NULL;
	r = sp_domain_get_state(d, &st, err);
	if (r < 0)
		goto out;
	sp_error_clear(&ae);
	if (st == SP_DOMAIN_RUNNING) {
		agent = sp_guest_agent_ping(d, 2, &ae) == 0;
		if (agent && sp_guest_os_id(d, &os, &e) < 0)
			os = NULL;
	} else {
		sp_error_set(&ae, SP_E_GUEST_AGENT_UNAVAILABLE,
			     "domain '%s' is %s", d->name,
			     sp_domain_state_name(st));
	}
	out = json_array();
	reason = json_object_get(last, "consistency_reason");
	{
		const char *step =
		    json_string_value(json_object_get(reason, "step"));
		bool failed =
		    step && (!strcmp(step, "freeze") || !strcmp(step, "agent"));
		json_array_append_new(
		    out, json_pack("{s:s, s:s, s:s, s:s, s:s?, s:s?}", "name",
				   "fsfreeze", "where", "guest", "kind",
				   "qemu-guest-agent", "state",
				   !cfg->fsfreeze ? "disabled"
				   : failed	  ? "failed at freeze"
						  : "stable",
				   "last_error",
				   failed ? json_string_value(json_object_get(
						reason, "message"))
					  : NULL,
				   "code",
				   failed ? json_string_value(
						json_object_get(reason, "code"))
					  : NULL));
	}
	for (size_t i = 0; i < cfg->nwriters; i++) {
		const struct sp_writer_def *w = &cfg->writers[i];
		json_t *lw = sp_json_named(last, "writers", w->name, NULL);
		json_t *st_j = json_object_get(lw, "state");
		json_array_append_new(
		    out,
		    json_pack("{s:s, s:s, s:s, s:s, s:O?, s:O?, s:s?, s:s?}",
			      "name", w->name, "where",
			      w->where == SP_WRITER_GUEST ? "guest" : "host",
			      "kind", "hook", "state",
			      json_is_string(st_j) ? json_string_value(st_j)
			      : lw		   ? "stable"
						   : "never run",
			      "last_error", json_object_get(lw, "last_error"),
			      "code", json_object_get(lw, "code"), "pre",
			      w->pre, "post", w->post));
	}
	if (agent && os && !strcmp(os, "mswindows"))
		add_vss(d, out);
	*ret = json_pack("{s:s, s:s, s:s, s:b, s:s?, s:s?, s:o, s:O?}",
			 "domain", d->name, "uuid", d->uuid, "state",
			 sp_domain_state_name(st), "agent", agent,
			 "agent_error", agent ? NULL : ae.msg, "guest_os", os,
			 "writers", out, "last_job", last);
	r = *ret ? 0 : sp_error_set(err, SP_E_NOMEM, "out of memory");
out:
	json_decref(last);
	sp_writer_config_free(cfg);
	sp_domain_close(d);
	return r;
}

// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Retention at work: the points of a protected VM outside its policy's
 * rules are moved to the vault's trash (soft delete), from where
 * `stillpoint undelete` brings them back until they expire.
 *
 * Invariant: the newest point is never pruned (policy/retention.h keeps
 * it whatever the counts), and nothing is deleted when the retention
 * cannot be computed.  A point that cannot be read is never listed, so
 * never pruned: it is kept and reported ("unreadable"), and, being left out
 * of the counts, it only makes the retention keep more.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <stillpoint/state.h>
#include <stillpoint/stillpoint.h>

#include "job/job.h"
#include "policy/retention.h"
#include "util/log.h"
#include "vault/gc.h"
#include "vault/vault.h"

static unsigned count(json_t *keep, const char *k)
{
	json_int_t v = json_integer_value(json_object_get(keep, k));

	return v > 0 ? (unsigned)v : 0;
}

/* Take out of @points those in @unreadable: the catalog may still list a
 * point from its cache after its manifest became unreadable. */
static void drop_unreadable(const char *vm, json_t *points, json_t *unreadable)
{
	json_t *u;
	size_t i, k;

	json_array_foreach(unreadable, k, u)
	{
		const char *spec =
		    json_string_value(json_object_get(u, "point"));
		size_t n = strlen(vm);

		if (!strcmp(spec, vm)) {
			/* The VM's directory cannot be read: the catalog's
			 * list of its points is all there is, and none of
			 * them is pruned on it. */
			json_array_clear(points);
			return;
		}
		if (strncmp(spec, vm, n) != 0 || spec[n] != '@')
			continue;
		for (i = 0; i < json_array_size(points); i++) {
			json_t *m = json_array_get(points, i);
			if (!strcmp(json_string_value(json_object_get(m, "id")),
				    spec + n + 1)) {
				json_array_remove(points, i);
				break;
			}
		}
	}
}

int sp_prune_vm(struct sp_state *st, const char *vault_path, const char *vm,
		bool dry_run, int64_t now, json_t **report,
		struct sp_error *err)
{
	json_t *prot = NULL, *policy = NULL, *points = NULL, *m, *keep;
	json_t *unreadable = NULL;
	json_t *kept = json_array(), *deleted = json_array(),
	       *locked = json_array();
	struct sp_retention_point *rp = NULL;
	struct sp_retention ret;
	struct sp_vault *v = NULL;
	unsigned days;
	size_t n = 0, i;
	int r;

	r = sp_policy_of(st, vm, &prot, &policy, err);
	if (r < 0)
		goto out;
	if (!vault_path)
		vault_path = json_string_value(json_object_get(prot, "vault"));
	r = sp_vault_open(vault_path, &v, err);
	if (r == 0)
		r = sp_vault_list_points(v, vm, &points, err);
	if (r == 0)
		r = sp_vault_unreadable_points(v, vm, &unreadable, err);
	if (r < 0)
		goto out;
	drop_unreadable(vm, points, unreadable);
	keep = json_object_get(policy, "keep");
	ret = (struct sp_retention){
	    count(keep, "last"), count(keep, "daily"), count(keep, "weekly"),
	    count(keep, "monthly"), count(keep, "yearly")};
	days = (unsigned)json_integer_value(
	    json_object_get(policy, "soft_delete_days"));
	n = json_array_size(points);
	rp = calloc(n ? n : 1, sizeof(*rp));
	if (!rp) {
		r = sp_error_set(err, SP_E_NOMEM, "out of memory");
		goto out;
	}
	json_array_foreach(points, i, m)
	{
		/* Ties within a second are broken by this key: the time
		 * with its milliseconds sorts as the points were taken (the
		 * random part of an id would not). */
		rp[i].id = json_string_value(json_object_get(m, "time"));
		if (!sp_time_parse_rfc3339(
			json_string_value(json_object_get(m, "time")),
			&rp[i].time)) {
			r = sp_error_set(
			    err, SP_E_MANIFEST_CORRUPT,
			    "point '%s@%s' has no valid time: not "
			    "pruning '%s'",
			    vm, json_string_value(json_object_get(m, "id")),
			    vm);
			goto out;
		}
	}
	r = sp_retention_apply(
	    &ret, json_string_value(json_object_get(policy, "tz")), rp, n, err);
	if (r < 0)
		goto out;
	for (i = 0; i < n; i++) {
		json_t *pm = json_array_get(points, i);
		const char *id = json_string_value(json_object_get(pm, "id"));
		json_t *e =
		    json_pack("{s:s, s:O, s:s}", "id", id, "time",
			      json_object_get(pm, "time"), "why", rp[i].why);
		if (rp[i].keep) {
			json_array_append_new(kept, e);
			continue;
		}
		/* Object lock: the point cannot go before its date; said,
		 * and tried again by a later prune. */
		int64_t until;
		const char *lu =
		    json_string_value(json_object_get(pm, "locked_until"));
		if (lu && sp_time_parse_rfc3339(lu, &until) && until > now) {
			json_object_set_new(e, "locked_until", json_string(lu));
			json_array_append_new(locked, e);
			continue;
		}
		json_array_append_new(deleted, e);
		if (dry_run)
			continue;
		char why[200];
		snprintf(why, sizeof(why), "pruned by policy %s",
			 json_string_value(json_object_get(policy, "name")));
		r = sp_vault_point_trash(v, vm, id, why, days, now, err);
		if (r < 0)
			goto out;
		sp_log(SP_LOG_INFO, "point pruned vm=%s id=%s", vm, id);
	}
	*report = json_pack("{s:s, s:O, s:b, s:O, s:O, s:O, s:O, s:i}", "vm",
			    vm, "policy", json_object_get(policy, "name"),
			    "dry_run", dry_run, "kept", kept, "deleted",
			    deleted, "locked", locked, "unreadable", unreadable,
			    "soft_delete_days", (int)days);
out:
	free(rp);
	json_decref(kept);
	json_decref(deleted);
	json_decref(locked);
	json_decref(points);
	json_decref(unreadable);
	json_decref(prot);
	json_decref(policy);
	sp_vault_close(v);
	return r;
}

int sp_vault_delete_points_at(const char *vault_path, const char *vm,
			      const char *why, struct sp_error *err)
{
	struct sp_vault *v = NULL;
	json_t *points = NULL, *unreadable = NULL, *m;
	size_t i;
	int r;

	r = sp_vault_open(vault_path, &v, err);
	if (r == 0)
		r = sp_vault_list_points(v, vm, &points, err);
	/* What cannot be read stays, logged by the call. */
	if (r == 0)
		r = sp_vault_unreadable_points(v, vm, &unreadable, err);
	if (r == 0)
		drop_unreadable(vm, points, unreadable);
	json_array_foreach(points, i, m)
	{
		if (r < 0)
			break;
		r = sp_vault_point_trash(
		    v, vm, json_string_value(json_object_get(m, "id")), why,
		    SP_TRASH_RETAIN_DAYS, (int64_t)time(NULL), err);
	}
	json_decref(points);
	json_decref(unreadable);
	sp_vault_close(v);
	return r;
}

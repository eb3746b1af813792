// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Policies at work: checking a policy document, and when a protected VM
 * is due next, from the state database or from a schedule parsed once
 * (include/stillpoint/stillpoint.h).
 */
#include <string.h>

#include <stillpoint/state.h>
#include <stillpoint/stillpoint.h>

#include "job/job.h"
#include "policy/schedule.h"
#include "util/cleanup.h"

static int schedule_of(json_t *policy, struct sp_schedule **ret,
		       struct sp_error *err)
{
	return sp_schedule_parse(
	    json_string_value(json_object_get(policy, "schedule")),
	    json_string_value(json_object_get(policy, "window")),
	    json_string_value(json_object_get(policy, "tz")), ret, err);
}

int sp_policy_check(json_t *policy, struct sp_error *err)
{
	struct sp_schedule *s = NULL;
	json_t *keep = json_object_get(policy, "keep");
	int r;

	if (!json_is_string(json_object_get(policy, "schedule")))
		return sp_error_set(
		    err, SP_E_USAGE,
		    "policy '%s' has no schedule (give "
		    "--schedule SPEC)",
		    json_string_value(json_object_get(policy, "name")));
	r = schedule_of(policy, &s, err);
	sp_schedule_free(s);
	if (r < 0)
		return r;
	if (json_object_get(policy, "copy_to")) {
		const char *to =
		    json_string_value(json_object_get(policy, "copy_to"));
		if (!to || (strncmp(to, "s3://", 5) && to[0] != '/'))
			return sp_error_set(
			    err, SP_E_USAGE,
			    "copy-to of policy '%s' must be an absolute "
			    "directory or s3://BUCKET[/PREFIX]",
			    json_string_value(json_object_get(policy, "name")));
	}
	if (json_object_get(policy, "verify_boot")) {
		const char *vb =
		    json_string_value(json_object_get(policy, "verify_boot"));
		if (!vb || (strcmp(vb, "daily") && strcmp(vb, "weekly") &&
			    strcmp(vb, "monthly")))
			return sp_error_set(
			    err, SP_E_USAGE,
			    "verify-boot of policy '%s' must be daily, "
			    "weekly or monthly",
			    json_string_value(json_object_get(policy, "name")));
	}
	if (json_is_object(keep)) {
		const char *k;
		json_t *v;
		json_object_foreach(keep, k, v)
		{
			if (!json_is_integer(v) || json_integer_value(v) < 0)
				return sp_error_set(
				    err, SP_E_USAGE,
				    "keep-%s of policy '%s' must be a count", k,
				    json_string_value(
					json_object_get(policy, "name")));
		}
	}
	return 0;
}

int sp_policy_of(struct sp_state *st, const char *vm, json_t **prot,
		 json_t **policy, struct sp_error *err)
{
	int r = sp_state_protection_get(st, vm, prot, err);

	if (r == 0)
		r = sp_state_policy_get(
		    st, json_string_value(json_object_get(*prot, "policy")),
		    policy, err);
	if (r < 0) {
		json_decref(*prot);
		*prot = NULL;
	}
	return r;
}

int sp_policy_schedule(json_t *policy, struct sp_schedule **ret,
		       struct sp_error *err)
{
	return schedule_of(policy, ret, err);
}

int sp_policy_schedule_next(const struct sp_schedule *s, const char *vm,
			    int64_t after, int64_t *next, struct sp_error *err)
{
	return sp_schedule_next(s, vm, after, next, err);
}

void sp_policy_schedule_free(struct sp_schedule *s)
{
	sp_schedule_free(s);
}

int sp_policy_next_run(struct sp_state *st, const char *vm, int64_t after,
		       int64_t *next, struct sp_error *err)
{
	json_t *prot = NULL, *policy = NULL;
	struct sp_schedule *s = NULL;
	int r;

	r = sp_policy_of(st, vm, &prot, &policy, err);
	if (r == 0)
		r = schedule_of(policy, &s, err);
	if (r == 0)
		r = sp_schedule_next(s, vm, after, next, err);
	sp_schedule_free(s);
	json_decref(prot);
	json_decref(policy);
	return r;
}

#!/bin/bash
# The kill -9 campaign in small, with a fixed seed: 20 kills at random
# moments of, in turn, backup (full, incremental; raw, qcow2), restore (raw,
# qcow2, a loop device), verify, gc, prune, delete, undelete and of
# stillpointd with its job (the daemon, the job, both), each checked as
# tests/fault/campaign.sh says (the long campaign, with live backups of a
# lab guest, is tests/torture/c30-kill9.sh, `make torture`).
. "$(dirname "$0")/lib.sh"
need_root
[ -f "$SP_BUILD/tests/faultshim.so" ] || { say "no fault shim"; exit 77; }

SP_SEED=${SP_SEED:-4550} SP_KILLS=${SP_KILLS:-20} SP_LAB_KILLS=0 SP_KILL_FIXTURE=small \
	SP_TORTURE_SECONDS=${SP_TORTURE_SECONDS:-200} \
	bash "$SP_TOP/tests/torture/c30-kill9.sh" >c30.log 2>&1
rc=$?
grep -E '^(FAIL|    )' c30.log | head -n 60
check "the campaign ran to its end" grep -q '^campaign c30-kill9: [0-9]* runs' c30.log
check "no run failed (exit $rc)" grep -q '^campaign c30-kill9: [0-9]* runs, 0 failures' c30.log
tail -n1 c30.log
done_testing

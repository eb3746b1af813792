#!/bin/bash
# The fault campaign in small, with a fixed seed: ENOSPC, EDQUOT, EIO and
# EMFILE at a write, fsync, directory sync, rename, link, read, open,
# create, unlink, mkdir and truncate, each once in the vault, the source
# disks and the restore targets, in backup, restore, verify, gc, prune,
# delete and undelete; each run checked as tests/fault/campaign.sh says
# (the long campaign is tests/torture/c20-faults.sh, `make torture`).
. "$(dirname "$0")/lib.sh"
need_root
[ -f "$SP_BUILD/tests/faultshim.so" ] || { say "no fault shim"; exit 77; }

SP_SEED=${SP_SEED:-4450} SP_FAULT_QUICK=1 SP_TORTURE_SECONDS=${SP_TORTURE_SECONDS:-200} \
	bash "$SP_TOP/tests/torture/c20-faults.sh" >c20.log 2>&1
rc=$?
grep -E '^(FAIL|    )' c20.log | head -n 60
check "the campaign ran to its end" grep -q '^campaign c20-faults: [0-9]* runs' c20.log
check "every call and errno was injected" \
	bash -c "[ \$(grep -c ' runs ' c20.log) -ge 30 ]"
check "no run failed (exit $rc)" grep -q '^campaign c20-faults: [0-9]* runs, 0 failures' c20.log
tail -n1 c20.log
done_testing

#!/bin/bash
# verify --boot of a point whose guest never answers (no guest agent):
# BootTimeout after --timeout, exit 3, recorded as failed with no probe
# exit code, and everything removed; and of a guest whose agent answers,
# with no probe: the agent answering is the check.
. "$(dirname "$0")/lib.sh"
. "$SP_TOP/tests/lab/lab.sh"
lab_need
lab_build_guest

export STILLPOINT_STATE_DIR=$T/state STILLPOINT_TMPDIR=$T/scratch
mkdir -p "$T/scratch" && chmod 755 "$T/scratch"
sp init >/dev/null
mute=verifyboot-t6950-$$-mute
talk=verifyboot-t6950-$$-talk
lab_make_data_disk "$T/m.qcow2" 32
lab_make_data_disk "$T/t.qcow2" 32
LAB_AGENT=0 lab_define_domain "$mute" "$T/m.qcow2"
lab_define_domain "$talk" "$T/t.qcow2"
expect_ok "offline backup of a guest without an agent" sp backup "$mute"
expect_ok "offline backup of a guest with one" sp backup "$talk"

rc=0
sp --json verify --boot "$mute" --timeout 60 --probe true >"$T/mute.json" 2>"$T/mute.err" || rc=$?
check "no agent: exit 3" test "$rc" = 3
check "BootTimeout (SP1951) on stderr" \
	jqe '.error.code == "BootTimeout" and .error.number == 1951' "$T/mute.err"
check "the result says so" jqe '(.passed | not) and .error == "BootTimeout" and .rto_ms == null' "$T/mute.json"
expect_ok "points" sp --json points "$mute"
check "recorded as failed, no exit code" \
	jqe '.[0].boot_verified | (.passed | not) and .error == "BootTimeout" and .exit_code == null and (.message | test("did not answer within 60 s"))' "$T/.out"
check "nothing left" \
	bash -c "! virsh list --all --name | grep -q '^sp-verify-verifyboot-t6950-$$' && [ -z \"\$(ls -A '$T/scratch')\" ] && [ -z \"\$(ls -A '$T/state/verify-boot')\" ]"

expect_ok "no probe: the agent answering is the check" \
	sp --json verify --boot "$talk" --timeout 900
check "passed without a probe" jqe '.passed and .probe == null and .exit_code == null and .rto_ms >= .boot_ms' "$T/.out"
expect_ok "points" sp points "$talk"
check "shown as verified without a probe" grep -q "boot-verified .*(agent answered, no probe)" "$T/.out"
done_testing

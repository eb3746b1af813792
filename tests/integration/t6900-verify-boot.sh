#!/bin/bash
# verify --boot on a real guest: a point whose data disk holds a file
# written before the backup boots as a temporary, isolated domain, and a
# probe run in it through the guest agent reads that file (from the
# served disks, not the original's); the result and its RTO are recorded
# beside the point and shown by `points`; a probe that fails fails with
# BootProbeFailed and is recorded as failed.  The original domain's disks
# (their bytes) and checkpoints are untouched, and nothing is left: no
# sp-verify-* domain, no NBD server, no scratch directory, no record.
. "$(dirname "$0")/lib.sh"
. "$SP_TOP/tests/lab/lab.sh"
lab_need
lab_build_guest

vm=verifyboot-t6900-$$
export STILLPOINT_STATE_DIR=$T/state STILLPOINT_TMPDIR=$T/scratch
mkdir -p "$T/scratch" && chmod 755 "$T/scratch"
sp init >/dev/null

# Bad input: named, with the fix, before anything is made.
expect_fail UsageError "--boot without a point" sp verify --boot
check "says what to give" grep -q "NAME\[@ID\]" "$T/.err"
expect_fail UsageError "--timeout 0" sp verify --boot x --timeout 0
expect_fail PointNotFound "a VM without points" sp verify --boot verifyboot-none-$$
make_raw_disk "$T/plain.img" 8
sp backup --name verifyboot-plain-$$ --disk "$T/plain.img" >/dev/null
expect_fail UsageError "a point of disk images, not of a domain" \
	sp verify --boot verifyboot-plain-$$
check "says only a domain's point boots" grep -q "only a domain's point can be booted" "$T/.err"
check "none of them left a record or a directory" \
	bash -c "[ -z \"\$(ls -A '$T/scratch')\" ] && [ -z \"\$(ls -A '$T/state/verify-boot' 2>/dev/null)\" ]"
lab_make_data_disk "$T/d1.qcow2" 128
lab_define_domain "$vm" "$T/d1.qcow2"
lab_start "$vm"
lab_wait_agent "$vm" 300 || die "guest did not come up"
token=token-$RANDOM-$$
lab_guest_exec "$vm" /bin/sh -c "echo $token >/mnt/vda/app-answer && sync" ||
	die "cannot write the file the probe reads"
expect_ok "live backup" sp --json backup "$vm"
id=$(jq -r .id "$T/.out")
export vm id
# Written after the point: the boot must not see it.
lab_guest_exec "$vm" /bin/sh -c "echo later >/mnt/vda/app-answer && sync" ||
	die "cannot change the file after the backup"
lab_stop "$vm" 60 || die "guest did not stop"

# What must stay as it is: the original's disk bytes and checkpoints.
sha_before=$(sha256sum "$T/d1.qcow2" | cut -d' ' -f1)
virsh checkpoint-list "$vm" --name | sort >"$T/cp-before"
check "the backup made a checkpoint" test -s "$T/cp-before"

expect_ok "verify --boot with a probe reading the file" \
	sp --json verify --boot "$vm@$id" --timeout 900 \
	--probe "grep -qx $token /mnt/vda/app-answer"
cp "$T/.out" good.json
check "passed, with an RTO and the probe" \
	jqe '.passed and .rto_ms > 0 and .boot_ms > 0 and .boot_ms <= .rto_ms and .exit_code == 0 and (.probe | contains("grep")) and .recorded' good.json
check "the temporary domain had its own name" \
	jqe '.domain == "sp-verify-\($ENV.vm)-\(.point | split("@")[1][0:8])"' good.json
expect_ok "points --json" sp --json points "$vm"
check "points --json shows boot_verified with its RTO" \
	jqe '.[] | select(.id == $ENV.id) | .boot_verified | .passed and .rto_ms > 0 and (.time | test("^20")) and .exit_code == 0' "$T/.out"
expect_ok "points" sp points "$vm"
check "points shows boot-verified and the RTO" \
	grep -qE "^    boot-verified 20.* rto [0-9]+ ms" "$T/.out"

expect_fail BootProbeFailed "verify --boot whose probe fails" \
	sp --json verify --boot "$vm@$id" --timeout 900 \
	--probe "grep -qx later /mnt/vda/app-answer"
rc=0
sp verify --boot "$vm@$id" --timeout 900 --probe "exit 7" >"$T/p7.out" 2>"$T/p7.err" || rc=$?
check "a failed probe exits 3" test "$rc" = 3
check "the error names the code and the exit code" \
	grep -q "BootProbeFailed (SP1950).*" "$T/p7.err"
grep -q "exit code 7" "$T/p7.err" || say "# p7.err: $(cat "$T/p7.err")"
check "the message has the probe's exit code" grep -q "exit code 7" "$T/p7.err"
expect_ok "points --json after the failure" sp --json points "$vm"
check "recorded as failed, with the code and exit code" \
	jqe '.[] | select(.id == $ENV.id) | .boot_verified | (.passed | not) and .error == "BootProbeFailed" and .exit_code == 7' "$T/.out"
expect_ok "points after the failure" sp points "$vm"
check "points shows the failure" grep -q "boot-verify FAILED .* BootProbeFailed  probe exit code 7" "$T/.out"

# Nothing left behind, nothing of the original's changed.
check "no sp-verify domain left" \
	bash -c "! virsh list --all --name | grep -q '^sp-verify-$vm'"
check "no NBD server left" bash -c "! pgrep -f 'nbdki[t].*$T/scratch' >/dev/null"
check "no scratch directory left" bash -c "[ -z \"\$(ls -A '$T/scratch')\" ]"
check "no run record left" bash -c "[ -z \"\$(ls -A '$T/state/verify-boot')\" ]"
check "the original's disk is unchanged" \
	test "$(sha256sum "$T/d1.qcow2" | cut -d' ' -f1)" = "$sha_before"
virsh checkpoint-list "$vm" --name | sort >"$T/cp-after"
check "the original's checkpoints are unchanged" cmp -s "$T/cp-before" "$T/cp-after"
check "the original is still defined and shut off" \
	test "$(virsh domstate "$vm")" = "shut off"
expect_ok "the vault verifies" sp verify "$vm"
done_testing

#!/bin/bash
# verify --boot of a point in an encrypted S3 vault: the point is served
# from the bucket, boots and passes its probe; its note (verified.json) is
# an object beside the point's others, sealed (no byte of the result in
# clear), shown by `points`; a note moved to another point does not open
# there (its key is bound in: points lists the point and names the
# damaged note); deleting the point takes the note to the
# trash with it, undelete brings it back.
. "$(dirname "$0")/lib.sh"
. "$SP_TOP/tests/lab/lab.sh"
lab_need
need_s3
lab_build_guest

vm=verifyboot-t6940-$$
export STILLPOINT_STATE_DIR=$T/state STILLPOINT_TMPDIR=$T/scratch
export STILLPOINT_CACHE_DIR=$T/cache
export STILLPOINT_PASSPHRASE="verify boot s3 $$"
mkdir -p "$T/scratch" && chmod 755 "$T/scratch"
PFX=v
export STILLPOINT_VAULT="s3://$S3_BUCKET/$PFX"
expect_ok "init an encrypted S3 vault" sp init
lab_make_data_disk "$T/d1.qcow2" 32
lab_define_domain "$vm" "$T/d1.qcow2"
lab_start "$vm"
lab_wait_agent "$vm" 300 || die "guest did not come up"
lab_guest_exec "$vm" /bin/sh -c "echo s3-answer-$$ >/mnt/vda/app-answer && sync" ||
	die "cannot write the file the probe reads"
expect_ok "two live backups" bash -c "sp backup '$vm' && sp --json backup '$vm'"
lab_stop "$vm" 60 || die "guest did not stop"
ids=($(point_ids "$vm"))
check "two points" test ${#ids[@]} = 2

expect_ok "verify --boot of the first point, from S3" \
	sp --json verify --boot "$vm@${ids[0]}" --timeout 900 \
	--probe "grep -qx s3-answer-$$ /mnt/vda/app-answer"
check "passed" jqe '.passed and .recorded and .rto_ms > 0' "$T/.out"
key=$PFX/points/$vm/${ids[0]}/verified.json
check "the note is an object beside the point" \
	bash -c "s3_ls '$S3_BUCKET' '$PFX/points/$vm/${ids[0]}/' | grep -qx '$key'"
s3_get "$S3_BUCKET/$key" >"$T/note.obj"
check "sealed: nothing of it in clear" \
	bash -c "! grep -qaE 'passed|rto_ms|s3-answer|sp-verify' '$T/note.obj'"
expect_ok "points --json" sp --json points "$vm"
check "points shows it on the first point only" \
	jqe '(.[0].boot_verified.passed == true) and (.[1].boot_verified == null)' "$T/.out"

# The same bytes under the second point: bound to the first's key.
s3_put "$S3_BUCKET/$PFX/points/$vm/${ids[1]}/verified.json" "$T/note.obj"
expect_ok "points with a note moved to another point" sp --json points "$vm"
check "the moved note does not open there, the points are listed" \
	jqe '(.[0].boot_verified.passed == true) and (.[1].boot_verified | .error == "PointFileCorrupt" and .passed == null)' "$T/.out"
expect_ok "points (text)" sp points "$vm"
check "names the damaged note" grep -q "boot-verified: unknown, its note is damaged" "$T/.out"
s3_rm "$S3_BUCKET/$PFX/points/$vm/${ids[1]}/verified.json"

expect_ok "delete the first point" sp delete "$vm@${ids[0]}"
check "its note went with it" \
	bash -c "! s3_ls '$S3_BUCKET' '$PFX/points/$vm/${ids[0]}/' | grep -q verified.json"
expect_ok "undelete it" sp undelete "$vm@${ids[0]}"
expect_ok "points after undelete" sp --json points "$vm"
check "the note is back" jqe '.[0].boot_verified.passed == true' "$T/.out"
done_testing

#!/bin/bash
# Crash-consistent points, each with its reason: a guest without an agent
# (and the pause fallback that stuns it for the snapshot instant), a paused
# domain, a shut-off domain read from its images; a domain that does not
# exist.  Each point restores to disks whose records are intact (the
# journal replays) even though the guest was not frozen.
. "$(dirname "$0")/lib.sh"
. "$SP_TOP/tests/lab/lab.sh"
lab_need
lab_build_guest

vm=sp-t6300-$$
sp init >/dev/null
lab_make_data_disk "$T/d1.qcow2" 64
LAB_AGENT=0 LAB_WORKLOAD=1 lab_define_domain "$vm" "$T/d1.qcow2"
lab_start "$vm"
# No agent to wait for: wait for the guest's console line instead.
lab_wait_ready "$vm" || die "guest did not come up"
sleep 2

expect_ok "backup of a guest without an agent" sp --json backup "$vm"
cp "$T/.out" p1.json
check "crash consistency, reason GuestAgentUnavailable at step agent" \
	jqe '.consistency == "crash" and .consistency_reason.step == "agent" and .consistency_reason.code == "GuestAgentUnavailable"' p1.json
check "not frozen, no freeze window" jqe '.freeze.frozen == false and .freeze_ms == null' p1.json
check "still a checkpoint: the next one is incremental" jqe '.checkpoint != null' p1.json
sp points "$vm" >pts.txt
check "points says why in words" grep -q "crash because GuestAgentUnavailable" pts.txt

expect_ok "pause fallback" sp --json backup "$vm" --pause-fallback
cp "$T/.out" p2.json
check "crash, stun time recorded, incremental" \
	jqe '.consistency == "crash" and .freeze.stun_ms > 0 and .incremental != null' p2.json
check "the domain runs again after the pause" \
	test "$(virsh domstate "$vm")" = running

virsh suspend "$vm" >/dev/null
expect_ok "backup of a paused domain" sp --json backup "$vm"
check "crash, reason: paused" \
	jqe '.consistency == "crash" and .consistency_reason.step == "domain" and (.consistency_reason.message | test("paused"))' "$T/.out"
check "a paused domain stays paused" test "$(virsh domstate "$vm")" = paused
virsh resume "$vm" >/dev/null

virsh destroy "$vm" >/dev/null
expect_ok "backup of a shut-off domain" sp --json backup "$vm"
cp "$T/.out" p3.json
check "crash, reason: shut off, read from the image, no checkpoint" \
	jqe '.consistency == "crash" and .consistency_reason.step == "domain" and .checkpoint == null and .source.state == "shut off" and .disks[0].read == "allocated"' p3.json
check "the disk keeps its format in the point" jqe '.disks[0].format == "qcow2"' p3.json

mkdir -m 755 r
for id in $(point_ids "$vm"); do
	expect_ok "restore point $id" sp restore "$vm@$id" --to "$T/r" --force
	check "point $id: records intact after journal replay" \
		lab_records_check "$T/r/vda.qcow2"
done

expect_fail DomainNotFound "a domain that does not exist" sp backup "no-such-vm-$$"
check "the message names the domain and how to list them" grep -q "no-such-vm-$$.*virsh" "$T/.err"
expect_fail UsageError "a domain and --disk together" sp backup "$vm" --disk "$T/d1.qcow2"
done_testing

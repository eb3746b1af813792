#!/bin/bash
# The live path, compared byte for byte: a lab guest writing records to two
# data disks is backed up full and then incrementally while it writes, and
# every point must equal copies of its disks taken at the point's instant.
#
# The instant is made still by pausing the guest (QEMU drains and flushes
# its block layer on stop).  A paused domain is backed up as it is: no
# freeze, no resume by stillpoint; its libvirt backup job begins while the
# guest is paused.  STILLPOINT_TEST_HOLD=transfer holds the backup after
# the job began; meanwhile the disk images are copied (qemu-img -U), then
# the guest resumes and writes while the point is transferred from the
# job's exports.  So the copies and the point are of one instant, and the
# transfer races the guest's writes.
. "$(dirname "$0")/lib.sh"
. "$SP_TOP/tests/lab/lab.sh"
lab_need
lab_build_guest

vm=sp-t6510-$$
hold_ms=4000
sp init >/dev/null
lab_make_data_disk "$T/d1.qcow2" 192
lab_make_data_disk "$T/d2.qcow2" 96
LAB_WORKLOAD=1 LAB_WORKLOAD_MS=5 lab_define_domain "$vm" "$T/d1.qcow2" "$T/d2.qcow2"
lab_start "$vm"
lab_wait_agent "$vm" || die "guest did not come up"

# The backup job of the domain has begun (and not ended).
job_begun() { virsh domjobinfo "$vm" 2>/dev/null | grep -q 'Operation: *Backup'; }

# take_point N [--full]: pause, begin the backup, copy the disks, resume,
# let the backup transfer while the guest writes; the point's manifest in
# pN.json and the copies in cN-vda.raw, cN-vdb.raw.
take_point() {
	local n=$1 i pid rc
	shift
	virsh suspend "$vm" >/dev/null || die "cannot pause $vm"
	[ "$(virsh domstate "$vm")" = paused ] || die "$vm is not paused"
	STILLPOINT_TEST_HOLD=transfer:$hold_ms sp --json backup "$vm" "$@" \
		>"p$n.json" 2>"p$n.err" &
	pid=$!
	for ((i = 0; i < 600; i++)); do
		job_begun && break
		kill -0 $pid 2>/dev/null || break
		sleep 0.05
	done
	check "point $n: the backup job began while the guest was paused" job_begun
	# Copied now: the guest has not run since it was paused.
	qemu-img convert -U -f qcow2 -O raw "$T/d1.qcow2" "c$n-vda.raw" &&
		qemu-img convert -U -f qcow2 -O raw "$T/d2.qcow2" "c$n-vdb.raw" ||
		die "cannot copy the disks of the paused guest"
	check "point $n: still paused after the copies" \
		test "$(virsh domstate "$vm")" = paused
	check "point $n: the backup is still holding before its transfer" job_begun
	virsh resume "$vm" >/dev/null || die "cannot resume $vm"
	wait $pid
	rc=$?
	check "point $n: the backup succeeded" test $rc = 0
	[ $rc = 0 ] || sed 's/^/#   /' "p$n.err" | tail -n 20
	check "point $n: taken of the paused domain" \
		jqe '.source.state == "paused" and .consistency == "crash"' "p$n.json"
	# Records kept arriving during the transfer: the live disk has moved
	# on from the point's instant.
	sleep 1
	check "point $n: the guest wrote while the point was transferred" \
		bash -c "! qemu-img compare -q -U -f raw -F qcow2 c$n-vda.raw $T/d1.qcow2"
}

take_point 1
check "point 1 is full" jqe '.incremental == null and ([.disks[].read] | all(. == "allocated"))' p1.json
sleep 2
take_point 2
check "point 2 is incremental" \
	jqe '.incremental != null and ([.disks[].read] | all(. == "dirty"))' p2.json
# A file rewritten in the guest, on top of the records: more dirty blocks.
lab_guest_exec "$vm" /bin/sh -c 'dd if=/dev/urandom of=/mnt/vdb/blob bs=64k count=37 2>/dev/null; sync' ||
	die "cannot write in the guest"
take_point 3
check "point 3 is incremental" \
	jqe '.incremental != null and ([.disks[].read] | all(. == "dirty"))' p3.json
lab_stop "$vm"

for n in 1 2 3; do
	id=$(jq -r .id "p$n.json")
	mkdir "r$n" "q$n"
	expect_ok "restore point $n as raw" sp restore "$vm@$id" --to "$T/r$n" --format raw
	expect_ok "restore point $n as qcow2" sp restore "$vm@$id" --to "$T/q$n"
	for d in vda vdb; do
		check "point $n disk $d: equal to the copy of the paused guest's disk" \
			cmp "c$n-$d.raw" "r$n/$d.raw"
		check "point $n disk $d: as qcow2 too" \
			qemu-img compare -q -f raw -F qcow2 "c$n-$d.raw" "q$n/$d.qcow2"
	done
	# Implied by the bytes; said in the workload's terms.
	a=$(lab_records_check "r$n/vda.raw") || a=-1
	b=$(lab_records_check "r$n/vdb.raw") || b=-9
	check "point $n: records end cleanly on both disks, at one instant ($a / $b)" \
		test "$a" -ge 0 -a $((a - b)) -ge 0 -a $((a - b)) -le 1
	eval "last$n=$a"
	rm -rf "q$n"
done
check "each point holds later records than the one before" \
	test "$last1" -lt "$last2" -a "$last2" -lt "$last3"
expect_ok "verify" sp verify "$vm"
done_testing

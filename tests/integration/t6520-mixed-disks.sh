#!/bin/bash
# One still point for any mix of disks: a running lab guest with a qcow2
# image (vda), a raw file (vdb), a raw block device (vdc, a loop device)
# and a raw file attached live after boot (vdd, as `virsh attach-disk
# --live` does) is backed up in one libvirt backup job, full and then
# incremental.  Only the qcow2 disk keeps a bitmap in the checkpoint; the
# others are read in full and compared by chunk hash (full-compare), and
# the manifest says so per disk.  Every point equals copies of its disks
# taken while the guest was paused at the point's instant (as t6510: the
# backup job begins while the guest is paused and holds before its
# transfer while the copies are made).
. "$(dirname "$0")/lib.sh"
. "$SP_TOP/tests/lab/lab.sh"
lab_need
lab_build_guest

vm=sp-t6520-$$
hold_ms=4000
disks="vda vdb vdc vdd"
# Small chunks, so that "few new chunks" means something on small disks.
sp init --chunk-size 256K >/dev/null
# ext4 on each, holding 24 MiB of data, so that reading a disk in full
# costs visibly more than reading its changes.
lab_mkfs_with_data "$T/q.raw" 64 q && qemu-img convert -f raw -O qcow2 "$T/q.raw" "$T/q.qcow2" &&
	rm "$T/q.raw" && lab_mkfs_with_data "$T/r.raw" 64 r &&
	lab_mkfs_with_data "$T/b.img" 48 b || die "cannot make the disks"
loop=$(losetup -f --show "$T/b.img") || die "no loop device"
at_exit losetup -d "$loop"
# Not mounted in the guest (attached after boot): written there with dd.
truncate -s 40M "$T/live.raw"
poke "$T/live.raw" 0 2 live0

LAB_WORKLOAD=1 LAB_WORKLOAD_MS=5 lab_define_domain "$vm" "$T/q.qcow2"
virsh attach-disk "$vm" "$T/r.raw" vdb --subdriver raw --config >/dev/null &&
	virsh attach-disk "$vm" "$loop" vdc --sourcetype block --subdriver raw \
		--config >/dev/null || die "cannot add the raw disks"
lab_start "$vm"
lab_wait_agent "$vm" 240 || die "guest did not come up"
virsh attach-disk "$vm" "$T/live.raw" vdd --subdriver raw --live >/dev/null ||
	die "cannot attach a raw disk live"
for ((i = 0; i < 100; i++)); do
	lab_guest_exec "$vm" /bin/sh -c 'test -b /dev/vdd' && break
	sleep 0.2
done

job_begun() { virsh domjobinfo "$vm" 2>/dev/null | grep -q 'Operation: *Backup'; }

# take_point N: as t6510 (pause, begin the backup, copy the disks while
# paused and the backup holds, resume); manifest in pN.json, copies in
# cN-<disk>.raw.
take_point() {
	local n=$1 i pid rc
	shift
	virsh suspend "$vm" >/dev/null || die "cannot pause $vm"
	STILLPOINT_TEST_HOLD=transfer:$hold_ms sp --json backup "$vm" "$@" \
		>"p$n.json" 2>"p$n.err" &
	pid=$!
	for ((i = 0; i < 1200; i++)); do
		job_begun && break
		kill -0 $pid 2>/dev/null || break
		sleep 0.05
	done
	check "point $n: the backup job began while the guest was paused" job_begun
	qemu-img convert -U -f qcow2 -O raw "$T/q.qcow2" "c$n-vda.raw" &&
		qemu-img convert -U -f raw -O raw "$T/r.raw" "c$n-vdb.raw" &&
		qemu-img convert -U -f raw -O raw "$loop" "c$n-vdc.raw" &&
		qemu-img convert -U -f raw -O raw "$T/live.raw" "c$n-vdd.raw" ||
		die "cannot copy the disks of the paused guest"
	check "point $n: still paused after the copies" \
		test "$(virsh domstate "$vm")" = paused
	virsh resume "$vm" >/dev/null || die "cannot resume $vm"
	wait $pid
	rc=$?
	check "point $n: the backup succeeded" test $rc = 0
	[ $rc = 0 ] || sed 's/^/#   /' "p$n.err" | tail -n 20
}

# disk N TARGET FILTER: jq FILTER on point N's entry of disk TARGET.
disk() { jqe ".disks[] | select(.name == \"$2\") | $3" "p$1.json"; }

take_point 1
check "point 1: one checkpoint, made with the point" \
	jqe '.checkpoint | startswith("stillpoint-")' p1.json
check "point 1: every disk read in full (first point)" \
	jqe '[.disks[] | .read_mode] == ["full","full","full","full"]' p1.json
check "point 1: only the qcow2 disk keeps a bitmap in the checkpoint" \
	jqe '[.disks[] | .checkpoint_bitmap] == [true,false,false,false]' p1.json
check "point 1: vdb and vdd say why: raw file" \
	jqe '[.disks[] | select(.name == "vdb" or .name == "vdd") | .read_reason] | all(startswith("raw file keeps no checkpoint bitmap"))' p1.json
check "point 1: vdc says why: raw block device" \
	disk 1 vdc '.kind == "block" and (.read_reason | startswith("raw block device keeps no checkpoint bitmap"))'
check "point 1: the checkpoint has a bitmap for vda only" \
	bash -c "virsh checkpoint-dumpxml $vm $(jq -r .checkpoint p1.json) --no-domain |
		grep -q \"<disk name='vda' checkpoint='bitmap'\" &&
		virsh checkpoint-dumpxml $vm $(jq -r .checkpoint p1.json) --no-domain |
		grep -c \"checkpoint='no'\" | grep -qx 3"
check "no warning for raw disks" jqe '.warnings == []' p1.json

# Changes on every disk, from inside the guest (the workload adds records
# to vda, vdb and vdc meanwhile).
lab_guest_exec "$vm" /bin/sh -c '
	for d in vda vdb vdc; do
		dd if=/dev/urandom of=/mnt/$d/blob bs=64k count=16 2>/dev/null || exit 1
	done
	dd if=/dev/urandom of=/dev/vdd bs=64k count=8 seek=100 conv=fsync 2>/dev/null &&
	sync' || die "cannot write in the guest"
sleep 1
take_point 2
check "point 2: incremental from point 1's checkpoint" \
	jqe ".incremental.checkpoint == $(jq .checkpoint p1.json)" p2.json
check "point 2: vda read from its dirty bitmap" \
	disk 2 vda '.read_mode == "dirty-bitmap" and .read == "dirty" and .read_reason == null and .chunks_clean > 0'
check "point 2: the raw file and the block device read in full and compared" \
	jqe '[.disks[] | select(.name != "vda") | .read_mode] == ["full-compare","full-compare","full-compare"]' p2.json
check "point 2: and say why" \
	jqe '[.disks[] | select(.name != "vda") | .read_reason] == ["raw file keeps no checkpoint bitmap (only qcow2 can)","raw block device keeps no checkpoint bitmap (only qcow2 can)","raw file keeps no checkpoint bitmap (only qcow2 can)"]' p2.json
check "point 2: vda read little (< 8 MiB)" disk 2 vda '.bytes_read < 8388608'
for d in vdb vdc; do
	check "point 2: $d read in full (its 24 MiB of data at least)" \
		disk 2 $d '.bytes_read >= 25165824'
done
for d in vdb vdc; do
	check "point 2: $d stored few new chunks (under a quarter of what it read)" \
		disk 2 $d '.chunks_new > 0 and .bytes_new * 4 < .bytes_read'
done
check "point 2: vdd stored only its changed chunks (<= 3 of 256 KiB)" \
	disk 2 vdd '.chunks_new >= 1 and .chunks_new <= 3'
check "point 2: no warning" jqe '.warnings == []' p2.json
check "one checkpoint is kept" \
	test "$(virsh checkpoint-list "$vm" --name | grep -c stillpoint-)" = 1
check "no backup job left on the domain" \
	bash -c "virsh domjobinfo $vm | grep -q 'Job type: *None'"

sp points "$vm" >points.txt
check "points shows how each disk was read" \
	bash -c "grep -q 'vda read dirty-bitmap' points.txt &&
		grep -q 'vdc read full-compare: raw block device keeps no checkpoint bitmap' points.txt"
lab_stop "$vm" 60

for n in 1 2; do
	id=$(jq -r .id "p$n.json")
	mkdir "r$n"
	expect_ok "restore point $n as raw" sp restore "$vm@$id" --to "$T/r$n" --format raw
	for d in $disks; do
		check "point $n disk $d: equal to the copy of the paused guest's disk" \
			cmp "c$n-$d.raw" "r$n/$d.raw"
	done
	a=$(lab_records_check "r$n/vda.raw") || a=-1
	b=$(lab_records_check "r$n/vdb.raw") || b=-9
	c=$(lab_records_check "r$n/vdc.raw") || c=-9
	check "point $n: records end cleanly on vda, vdb, vdc at one instant ($a / $b / $c)" \
		test "$a" -ge 0 -a $((a - b)) -ge 0 -a $((a - b)) -le 1 -a $((a - c)) -ge 0 -a $((a - c)) -le 1
done
check "point 2's copies differ from point 1's on every disk" \
	bash -c "! cmp -s c1-vda.raw c2-vda.raw && ! cmp -s c1-vdb.raw c2-vdb.raw &&
		! cmp -s c1-vdc.raw c2-vdc.raw && ! cmp -s c1-vdd.raw c2-vdd.raw"
# Restored as a new domain: every disk (the block device's too) becomes a
# file of its own, and the copy boots with its records on every disk.
# vdd was attached live only: the definition stored in the point has no
# place for it, so it is restored beside the others but not attached.
mkdir -m 755 copy
expect_ok "restore point 2 as a new domain" \
	sp restore "$vm@$(jq -r .id p2.json)" --as "$vm-copy" --to "$T/copy"
at_exit lab_undefine "$vm-copy"
check "the live-only disk is restored, not attached, with a warning" \
	bash -c "grep -q 'disk vdd was attached to the running domain only' '$T/.err' &&
		cmp c2-vdd.raw '$T/copy/$vm-copy-vdd.img'"
virsh domblklist "$vm-copy" --details >copy-disks.txt
check "the copy's disks are files of its own" \
	bash -c "test \$(grep -c ' file *disk .*$T/copy/' copy-disks.txt) = 3 &&
		! grep -q '$T/q.qcow2\|$T/r.raw\|$loop' copy-disks.txt"
lab_start "$vm-copy"
check "the copy boots" lab_wait_agent "$vm-copy" 240
check "the copy's workload finds its records on vda, vdb and vdc" \
	lab_guest_exec "$vm-copy" /bin/sh -c 'for d in vda vdb vdc; do test -s /mnt/$d/records || exit 1; done'
lab_stop "$vm-copy" 60
expect_ok "verify" sp verify "$vm"
done_testing

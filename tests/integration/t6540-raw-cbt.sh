#!/bin/bash
# Changed-block tracking for raw disks: `stillpoint cbt enable` gives a raw
# file (vdb) a qcow2 metadata image over it, without changing a byte of
# it; from the domain's next start its incrementals read only what
# changed.  A raw block device (vdc, a loop device: what an LVM volume is
# to QEMU) cannot be adopted on libvirt before 10.10 and says why; it is
# read in full and compared.  Points of adopted disks hold them as raw disks, read offline
# straight from the data store; every point equals copies of the disks
# taken while the guest was paused.  Restore in place writes the raw disk
# and gives it a fresh metadata image; `cbt disable` undoes the adoption
# (refused while QEMU has the image open).  Bad requests are refused with
# the reason.
. "$(dirname "$0")/lib.sh"
. "$SP_TOP/tests/lab/lab.sh"
lab_need
lab_build_guest

vm=sp-t6540-$$
sp init --chunk-size 256K >/dev/null
lab_mkfs_with_data "$T/q.raw" 48 q && qemu-img convert -f raw -O qcow2 "$T/q.raw" "$T/q.qcow2" &&
	rm "$T/q.raw" && lab_mkfs_with_data "$T/r.raw" 64 r &&
	lab_mkfs_with_data "$T/b.img" 48 b || die "cannot make the disks"
loop=$(losetup -f --show "$T/b.img") || die "no loop device"
at_exit losetup -d "$loop"
meta=$T/cbt
mkdir "$meta" && chmod 755 "$meta"

LAB_WORKLOAD=1 LAB_WORKLOAD_MS=20 lab_define_domain "$vm" "$T/q.qcow2"
virsh attach-disk "$vm" "$T/r.raw" vdb --subdriver raw --config >/dev/null &&
	virsh attach-disk "$vm" "$loop" vdc --sourcetype block --subdriver raw \
		--config >/dev/null || die "cannot add the raw disks"

# ---- status and refusals, domain shut off
sp --json cbt status "$vm" >s0.json
check "status: vda tracks its changes itself (qcow2)" \
	jqe '.disks[0] | .target == "vda" and .tracking == "qcow2"' s0.json
check "status: vdb is not tracked, and says how it could be" \
	jqe '.disks[1] | .tracking == "none" and (.reason | contains("cbt enable"))' s0.json
check "status: vdc, a block device, says why it cannot be on this libvirt" \
	jqe '.disks[2] | .tracking == "none" and (.reason | contains("libvirt 10.10"))' s0.json
expect_fail UsageError "enable refuses the block device, saying why" \
	sp cbt enable "$vm" --disk vdc --meta-dir "$meta"
check "  ... libvirt 10.10" grep -q "libvirt 10.10" "$T/.err"
expect_fail UsageError "enable refuses a qcow2 disk, saying why" \
	sp cbt enable "$vm" --disk vda --meta-dir "$meta"
check "  ... it is not raw" grep -q "not raw" "$T/.err"
expect_fail UsageError "enable refuses a disk the domain lacks" \
	sp cbt enable "$vm" --disk vdz --meta-dir "$meta"
expect_fail UsageError "enable refuses a relative directory" \
	sp cbt enable "$vm" --meta-dir cbt
expect_fail UsageError "disable refuses when nothing is adopted" \
	sp cbt disable "$vm"
check "nothing was made by the refused requests" \
	test -z "$(ls -A "$meta")"

# ---- enable: the raw disks' bytes do not change (qemu-img would zero a
# data file it creates: the trap the scratch file avoids)
sum_r=$(sha256sum <"$T/r.raw") && sum_b=$(sha256sum <"$loop") || die "sha256"
expect_ok "enable on the shut-off domain" \
	sp --json cbt enable "$vm" --meta-dir "$meta"
cp "$T/.out" e1.json
check "enable: vdb adopted, in effect at once; vdc left as it is" \
	jqe '(.disks[1] | .tracking == "metadata-image" and .active) and .disks[2].tracking == "none" and .restart_needed == false' e1.json
check "enable: the raw file was given to QEMU's user" \
	test "$(stat -c %U:%a "$T/r.raw")" = libvirt-qemu:660
check "enable: the raw file is byte for byte what it was" \
	test "$(sha256sum <"$T/r.raw")" = "$sum_r"
check "enable: the metadata image shows the raw file exactly" \
	qemu-img compare -q -f raw -F qcow2 "$T/r.raw" "$meta/$vm-vdb.cbt.qcow2"
check "enable: the metadata images are small (< 1 MiB each)" \
	test "$(du -k "$meta/$vm-vdb.cbt.qcow2" | cut -f1)" -lt 1024
virsh dumpxml --inactive "$vm" >adopted.xml
check "the definition runs vdb on its image" \
	grep -q "<source file='$meta/$vm-vdb.cbt.qcow2'" adopted.xml
check "the definition records the adoption" \
	grep -q 'stillpoint.dev/xmlns/cbt' adopted.xml
expect_fail UsageError "enable twice refuses: tracked already" \
	sp cbt enable "$vm" --disk vdb --meta-dir "$meta"

# ---- offline point: adopted disks are read from their data store, raw
expect_ok "offline backup of the adopted disks" sp --json backup "$vm"
cp "$T/.out" p0.json
check "offline: vdb is held as a raw disk of its data store" \
	jqe ".disks[1] | .format == \"raw\" and .source == \"$T/r.raw\" and .kind == \"file\" and .metadata_image == \"$meta/$vm-vdb.cbt.qcow2\"" p0.json
check "offline: vdc as a raw block device" \
	jqe ".disks[2] | .format == \"raw\" and .source == \"$loop\" and .kind == \"block\"" p0.json
mkdir r0
expect_ok "restore the offline point" sp restore "$vm@$(jq -r .id p0.json)" --to "$T/r0" --format raw
check "offline point: vdb equals the raw file" cmp r0/vdb.raw "$T/r.raw"
check "offline point: vdc equals the device" cmp r0/vdc.raw "$loop"

# ---- live: full, then 1 % changed
# take_point N: the backup runs while the guest is paused, and the disks
# are copied while it still is: cN-<disk>.raw is the point's instant.
take_point() {
	local n=$1
	virsh suspend "$vm" >/dev/null || die "cannot pause $vm"
	sp --json backup "$vm" >"p$n.json" 2>"p$n.err"
	check "point $n: the backup succeeded" test $? = 0
	qemu-img convert -U -f qcow2 -O raw "$T/q.qcow2" "c$n-vda.raw" &&
		qemu-img convert -U -f raw -O raw "$T/r.raw" "c$n-vdb.raw" &&
		qemu-img convert -U -f raw -O raw "$loop" "c$n-vdc.raw" ||
		die "cannot copy the disks of the paused guest"
	virsh resume "$vm" >/dev/null || die "cannot resume $vm"
}
disk() { jqe ".disks[] | select(.name == \"$2\") | $3" "p$1.json"; }

lab_start "$vm"
lab_wait_agent "$vm" 240 || die "guest did not come up"
take_point 1
check "point 1: vda and vdb keep a bitmap in the checkpoint, vdc not" \
	jqe '[.disks[] | .checkpoint_bitmap] == [true,true,false]' p1.json
check "point 1: vdb read in full (no bitmap in the base)" \
	disk 1 vdb '.read_mode != "dirty-bitmap"'
# 1 % of each raw disk, written from inside the guest past the file system
# (the workload keeps adding records meanwhile).
lab_guest_exec "$vm" /bin/sh -c '
	dd if=/dev/urandom of=/mnt/vdb/blob bs=64k count=10 conv=fsync 2>/dev/null &&
	dd if=/dev/urandom of=/mnt/vdc/blob bs=64k count=8 conv=fsync 2>/dev/null &&
	sync' || die "cannot write in the guest"
take_point 2
check "point 2: incremental from point 1's checkpoint" \
	jqe ".incremental.checkpoint == $(jq .checkpoint p1.json)" p2.json
check "point 2: vdb read from its dirty bitmap" \
	disk 2 vdb '.read_mode == "dirty-bitmap" and .read == "dirty" and .metadata_image != null'
full=$(jq '.disks[] | select(.name == "vdb") | .bytes_read' p1.json)
check "point 2: vdb read at most 10 % of its full read ($full bytes)" \
	disk 2 vdb ".bytes_read > 0 and .bytes_read * 10 <= $full"
check "point 2: vdc read in full and compared" \
	disk 2 vdc '.read_mode == "full-compare" and .bytes_read >= 25165824' 
for n in 1 2; do
	mkdir "r$n"
	expect_ok "restore point $n" sp restore "$vm@$(jq -r .id "p$n.json")" --to "$T/r$n" --format raw
	for d in vda vdb vdc; do
		check "point $n disk $d: equal to the paused guest's disk" \
			cmp "c$n-$d.raw" "r$n/$d.raw"
	done
done
check "point 2 differs from point 1 on the raw disks" \
	bash -c "! cmp -s c1-vdb.raw c2-vdb.raw && ! cmp -s c1-vdc.raw c2-vdc.raw"

# ---- disable is refused while QEMU has the images open
expect_fail DomainState "disable refuses while the domain runs on the images" \
	sp cbt disable "$vm"
check "  ... and changed nothing" \
	bash -c "test -e '$meta/$vm-vdb.cbt.qcow2' && virsh dumpxml --inactive $vm | grep -q stillpoint.dev"
lab_stop "$vm" 60

# ---- restore in place: into the raw data store, with a fresh image
poke "$T/r.raw" 10 2 scribble
check "the raw file was scribbled on" bash -c "! cmp -s '$T/r.raw' c2-vdb.raw"
expect_ok "restore point 2 in place" sp restore "$vm@$(jq -r .id p2.json)" --in-place
check "in place: the raw file equals point 2's instant" cmp "$T/r.raw" c2-vdb.raw
check "in place: the device equals point 2's instant" cmp "$loop" c2-vdc.raw
check "in place: the metadata image is fresh (no bitmap) and still shows the raw file" \
	bash -c "! qemu-img info '$meta/$vm-vdb.cbt.qcow2' | grep -q bitmaps &&
		qemu-img compare -q -f raw -F qcow2 '$T/r.raw' '$meta/$vm-vdb.cbt.qcow2'"
lab_start "$vm"
lab_wait_agent "$vm" 240 || die "the restored guest did not come up"
check "in place: the guest sees its records on vdb" \
	lab_guest_exec "$vm" /bin/sh -c 'test -s /mnt/vdb/records'
take_point 3
check "point 3: after the restore, read in full (checkpoints dropped)" \
	jqe '[.disks[] | .read_mode] | all(. != "dirty-bitmap")' p3.json
lab_stop "$vm" 60

# ---- disable: the definition is the raw disks again, the images go
sum_r=$(sha256sum <"$T/r.raw") || die "sha256"
expect_ok "disable on the shut-off domain" sp --json cbt disable "$vm"
cp "$T/.out" d1.json
check "disable: vdb is a plain raw disk again" \
	jqe '.disks[1].tracking == "none"' d1.json
check "disable: the raw file has its owner back" \
	test "$(stat -c %U "$T/r.raw")" = root
check "disable: the images are removed" test -z "$(ls -A "$meta")"
virsh dumpxml --inactive "$vm" >released.xml
check "disable: no data store, no record left in the definition" \
	bash -c "! grep -q 'dataStore\|stillpoint.dev' released.xml &&
		grep -q \"<source file=.$T/r.raw.\" released.xml"
check "disable: the raw file is byte for byte what it was" \
	test "$(sha256sum <"$T/r.raw")" = "$sum_r"

# ---- enable on a running domain: from its next start
lab_start "$vm"
lab_wait_agent "$vm" 240 || die "guest did not come up"
expect_ok "enable on the running domain" \
	sp --json cbt enable "$vm" --disk vdb --meta-dir "$meta"
cp "$T/.out" e2.json
check "running: the adoption waits for the next start" \
	jqe '.restart_needed and (.disks[1] | .tracking == "metadata-image" and .active == false)' e2.json
check "running: QEMU still runs the raw file" \
	bash -c "virsh dumpxml $vm | grep -A3 \"target dev='vdb'\" -B6 | grep -q \"type='raw'\""
take_point 4
check "point 4: vdb read in full and compared, as a raw file" \
	disk 4 vdb '.read_mode == "full-compare" and .checkpoint_bitmap == false'
expect_ok "disable while the adoption waits is allowed" sp cbt disable "$vm"
check "  ... and the unused image is removed" test -z "$(ls -A "$meta")"
expect_ok "verify" sp verify "$vm"
done_testing

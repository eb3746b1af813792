#!/bin/bash
# The checkpoint chain, broken every way we know and repaired: an
# incremental reads exactly the dirty blocks; a checkpoint deleted behind
# our back, a QEMU crash (bitmaps left inconsistent), a domain redefined, a
# disk resized and a disk added each make the next backup read all data
# (of the disks concerned) with a warning naming why, and the one after it
# is incremental again.  No checkpoint or bitmap leaks; every point
# verifies and the last one restores byte-exact against a full backup.
. "$(dirname "$0")/lib.sh"
. "$SP_TOP/tests/lab/lab.sh"
lab_need
lab_build_guest

vm=sp-t6500-$$
sp init >/dev/null
lab_make_data_disk "$T/d1.qcow2" 128
lab_define_domain "$vm" "$T/d1.qcow2"
lab_start "$vm"
lab_wait_agent "$vm" || die "guest did not come up"

backup() { sp --json backup "$vm" "$@" >"$T/last.json" 2>"$T/last.err"; }
checkpoints() { virsh checkpoint-list "$vm" --name | grep -c stillpoint-; }
incremental_again() {
	backup && jqe '.incremental != null and ([.disks[].read] | all(. == "dirty"))' "$T/last.json"
}

check "first backup" backup
check "it reads all allocated data" jqe '.incremental == null and .disks[0].read == "allocated"' "$T/last.json"

# Exactly 4 MiB rewritten in place in a 4 MiB-aligned file: the
# incremental reads those bytes (plus metadata the file system touched).
lab_guest_exec "$vm" /bin/sh -c 'dd if=/dev/urandom of=/mnt/vda/f bs=1M count=16 2>/dev/null; sync' >/dev/null
check "backup after creating a 16 MiB file" backup
lab_guest_exec "$vm" /bin/sh -c 'dd if=/dev/urandom of=/mnt/vda/f bs=1M count=4 seek=4 conv=notrunc 2>/dev/null; sync' >/dev/null
check "incremental after rewriting 4 MiB" backup
check "it read the 4 MiB and little more (< 5 MiB)" \
	jqe '.incremental != null and .bytes_read >= 4194304 and .bytes_read < 5242880' "$T/last.json"
check "most chunk slots were not read at all" \
	jqe '.disks[0].chunks_clean >= 28' "$T/last.json"
check "one checkpoint" test "$(checkpoints)" = 1

# 1. The checkpoint deleted behind our back.
virsh checkpoint-delete "$vm" "$(virsh checkpoint-list "$vm" --name | grep stillpoint- | head -1)" >/dev/null
check "backup after the checkpoint was deleted" backup
check "reads all data, warns CheckpointMissing" \
	jqe '.incremental == null and .disks[0].read == "allocated" and (.warnings | any(test("^CheckpointMissing: checkpoint .* is gone")))' "$T/last.json"
check "the backup after is incremental again" incremental_again

# 2. QEMU crashes: the bitmaps were never written back.
kill -9 "$(cat "/run/libvirt/qemu/$vm.pid")"
for _ in $(seq 1 50); do [ "$(virsh domstate "$vm")" = "shut off" ] && break; sleep 0.1; done
lab_start "$vm"
lab_wait_agent "$vm" || die "guest did not come back"
check "backup after QEMU crashed" backup
check "reads all data, warns CheckpointInconsistent" \
	jqe '.incremental == null and (.warnings | any(test("^CheckpointInconsistent:")))' "$T/last.json"
check "the broken checkpoint is gone, one left" test "$(checkpoints)" = 1
check "the backup after is incremental again" incremental_again

# 3. The domain redefined: libvirt forgot its checkpoints.
virsh dumpxml --inactive "$vm" >"$T/def.xml"
virsh destroy "$vm" >/dev/null
virsh undefine --checkpoints-metadata "$vm" >/dev/null
virsh define "$T/def.xml" >/dev/null
lab_start "$vm"
lab_wait_agent "$vm" || die "guest did not come back"
check "backup after the domain was redefined" backup
check "reads all data, warns CheckpointMissing" \
	jqe '.incremental == null and (.warnings | any(test("^CheckpointMissing:")))' "$T/last.json"
check "the backup after is incremental again" incremental_again

# 4. A disk resized, 5. a disk added.
virsh blockresize "$vm" vda 192M >/dev/null
lab_make_data_disk "$T/d2.qcow2" 64
virsh attach-disk "$vm" "$T/d2.qcow2" vdb --driver qemu --subdriver qcow2 --targetbus virtio --live --config >/dev/null
check "backup after a resize and a new disk" backup
check "two disks, both read whole, with a warning each" \
	jqe '([.disks[].read] == ["allocated","allocated"]) and (.warnings | any(test("vda.* resized"))) and (.warnings | any(test("vdb.* new")))' "$T/last.json"
check "the new size is recorded" jqe '.disks[0].size == 201326592' "$T/last.json"
check "the backup after is incremental for both" incremental_again

check "every point verifies" sp verify "$vm"

# An incremental restores to the same bytes as a full backup of the same
# instant: the guest paused, both taken without a freeze.
lab_guest_exec "$vm" /bin/sync >/dev/null
virsh suspend "$vm" >/dev/null
check "an incremental of the paused guest" incremental_again
inc=$(jq -r .id "$T/last.json")
check "a full backup of the same instant" backup --full
check "--full read all, and the chain goes on" \
	jqe '.incremental == null and .disks[0].read == "allocated" and .checkpoint != null' "$T/last.json"
full=$(jq -r .id "$T/last.json")
virsh resume "$vm" >/dev/null
mkdir -m 755 ri rf
sp restore "$vm@$inc" --to "$T/ri" --format raw >/dev/null
sp restore "$vm@$full" --to "$T/rf" --format raw >/dev/null
check "incremental and full restore to the same vda" cmp "$T/ri/vda.raw" "$T/rf/vda.raw"
check "and the same vdb" cmp "$T/ri/vdb.raw" "$T/rf/vdb.raw"
lab_stop "$vm"
# No bitmaps leak into the images: only the newest checkpoint's remains.
keep=$(virsh checkpoint-list "$vm" --name | grep stillpoint-)
check "one checkpoint left in libvirt" test "$(checkpoints)" = 1
check "and only its bitmap in the images" bash -c "
	for d in $T/d1.qcow2 $T/d2.qcow2; do
		qemu-img info --output=json \$d | jqe '[.\"format-specific\".data.bitmaps[]?.name] | (. == [\"$keep\"] or (error(tostring)))' || exit 1
	done"
done_testing

#!/bin/bash
# A domain without a disk that can keep a bitmap: a guest whose disks are
# a raw file and a shareable raw file is backed up live with no checkpoint
# at all, twice, the second time read in full and compared by chunk hash,
# with no warning about a missing checkpoint.  The guest is paused while
# each point is taken and the points must equal copies made meanwhile.
#
# Then a second guest is started on the shareable disk: QEMU 7.2 cannot
# start a backup job on an image another QEMU holds open for writing
# ("Could not replace node: Failed to get shared "write" lock"), and
# libvirt 9.0's qemu-event thread was seen to crash on that failure, so
# the disk is left out of the point, with the other guest named, and
# libvirtd keeps running; so it is when the first guest is shut off (its
# file would be read while the other guest writes it).  Before the second
# guest starts, the warning of the captured disk names it all the same
# (defined with the disk, not running), and each point records what
# became of the shareable disk and which other domains have it.  Last,
# the VM's settings leave the shareable disk out of every point
# ("shared_disks": "skip").
. "$(dirname "$0")/lib.sh"
. "$SP_TOP/tests/lab/lab.sh"
lab_need
lab_build_guest

a=sp-t6530-$$
sp init --chunk-size 256K >/dev/null
truncate -s 48M "$T/a.raw" &&
	mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 "$T/a.raw" ||
	die "cannot make a.raw"
# No file system on the shareable disk: written with dd.  No workload: it
# would wait for records on that disk too.
truncate -s 32M "$T/s.raw"
poke "$T/s.raw" 1 2 shared
lab_make_data_disk "$T/x.qcow2" 16

lab_define_domain "$a" "$T/x.qcow2"
virsh detach-disk "$a" vda --config >/dev/null &&
	virsh attach-disk "$a" "$T/a.raw" vda --subdriver raw --config >/dev/null &&
	virsh attach-disk "$a" "$T/s.raw" vdb --subdriver raw --mode shareable \
		--config >/dev/null || die "cannot give $a its raw disks"
lab_start "$a"
b=sp-t6530b-$$
lab_make_data_disk "$T/y.qcow2" 16
LAB_AGENT=0 lab_define_domain "$b" "$T/y.qcow2"
virsh attach-disk "$b" "$T/s.raw" vdb --subdriver raw --mode shareable \
	--config >/dev/null || die "cannot give $b the shared disk"
lab_wait_agent "$a" 300 || die "$a did not come up"

# point N: guest paused, copies of its disks, the backup, resume.
point() {
	local n=$1 rc
	virsh suspend "$a" >/dev/null || die "cannot pause the guest"
	qemu-img convert -U -f raw -O raw "$T/a.raw" "c$n-vda.raw" &&
		qemu-img convert -U -f raw -O raw "$T/s.raw" "c$n-vdb.raw" ||
		die "cannot copy the disks"
	sp --json backup "$a" >"p$n.json" 2>"p$n.err"
	rc=$?
	virsh resume "$a" >/dev/null || die "cannot resume the guest"
	check "point $n: the backup succeeded" test $rc = 0
	[ $rc = 0 ] || sed 's/^/#   /' "p$n.err" | tail -n 20
}

point 1
check "point 1: no checkpoint, every disk read in full" \
	jqe '.checkpoint == null and [.disks[] | .read_mode] == ["full","full"] and ([.disks[] | .checkpoint_bitmap] | all(. == false))' p1.json
check "point 1: the shareable disk is named in a warning" \
	jqe '.warnings | length == 1 and (.[0] | startswith("SharedDisk:"))' p1.json
check "point 1: ...which names the stopped domain defined with it" \
	jqe "(.warnings[0] | contains(\"captured crash-consistent\") and contains(\"not running now: $b\"))" p1.json
check "point 1: the point records the disk captured, and who else has it" \
	jqe "(.disks[] | select(.name == \"vdb\") | .shared) == {\"decision\": \"captured\", \"running\": [], \"not_running\": [\"$b\"]}" p1.json
check "no checkpoint was left on the domain" \
	test "$(virsh checkpoint-list "$a" --name | grep -c stillpoint-)" = 0

lab_guest_exec "$a" /bin/sh -c \
	'dd if=/dev/urandom of=/dev/vdb bs=64k count=4 seek=200 conv=fsync 2>/dev/null &&
	dd if=/dev/urandom of=/mnt/vda/blob bs=64k count=8 2>/dev/null && sync' ||
	die "cannot write in the guest"
point 2
check "point 2: both disks full-compare, no CheckpointMissing warning" \
	jqe '.checkpoint == null and .incremental == null and [.disks[] | .read_mode] == ["full-compare","full-compare"] and ([.warnings[] | select(startswith("CheckpointMissing"))] == [])' p2.json
check "point 2: the shareable disk stored only the changed chunk(s)" \
	jqe '.disks[1].chunks_new >= 1 and .disks[1].chunks_new <= 2' p2.json
lab_start "$b"
check "the second guest runs on the shared disk" \
	bash -c "[ \"\$(virsh domstate '$b')\" = running ]"
sp --json backup "$a" >p3.json 2>p3.err
check "a backup of the first guest succeeds" test $? = 0
check "...with the shared disk left out, the other guest named" \
	jqe "(.excluded_disks | map(select(.target == \"vdb\" and (.reason | contains(\"$b\")))) | length == 1) and [.disks[].name] == [\"vda\"]" p3.json
check "...and said in a SharedDisk warning" \
	jqe "[.warnings[] | select(startswith(\"SharedDisk:\") and contains(\"$b\"))] | length == 1" p3.json
check "...and recorded as left out, the running domain named" \
	jqe "(.excluded_disks[] | select(.target == \"vdb\") | .shared) == {\"decision\": \"left-out\", \"running\": [\"$b\"], \"not_running\": []}" p3.json
check "libvirtd still answers, no job is left on the first guest" \
	bash -c "virsh domjobinfo '$a' | grep -q 'Job type: *None'"

# The VM's settings can leave shareable disks out of every point.
mkdir -m 0700 "$T/wr"
echo '{"shared_disks": "skip"}' >"$T/wr/a.json"
chmod 0600 "$T/wr/a.json"
sp --json backup "$a" --writers "$T/wr/a.json" >p4.json 2>p4.err
check "with \"shared_disks\": \"skip\", the backup succeeds" test $? = 0
check "...and leaves the shareable disk out, saying why" \
	jqe '(.excluded_disks | map(select(.target == "vdb" and (.reason | contains("shared_disks")))) | length == 1) and [.disks[].name] == ["vda"]' p4.json
check "...recorded as skipped" \
	jqe '(.excluded_disks[] | select(.target == "vdb") | .shared.decision) == "skipped"' p4.json
echo '{"shared_disks": "sometimes"}' >"$T/wr/a.json"
expect_fail WriterConfigInvalid "an unknown shared_disks value is refused" \
	sp backup "$a" --writers "$T/wr/a.json"
lab_stop "$a" 60
sp --json backup "$a" >p5.json 2>p5.err
check "shut off, with the other guest running: the backup succeeds" test $? = 0
check "...and leaves the shared disk out, the running domain named" \
	jqe "(.excluded_disks[] | select(.target == \"vdb\") | .shared) == {\"decision\": \"left-out\", \"running\": [\"$b\"], \"not_running\": []} and [.disks[].name] == [\"vda\"]" p5.json
lab_undefine "$b"

for n in 1 2; do
	mkdir "r$n"
	expect_ok "restore point $n" sp restore "$a@$(jq -r .id "p$n.json")" --to "$T/r$n" --format raw
	for d in vda vdb; do
		check "point $n disk $d: equal to the copy of the paused guest's disk" \
			cmp "c$n-$d.raw" "r$n/$d.raw"
	done
done
done_testing

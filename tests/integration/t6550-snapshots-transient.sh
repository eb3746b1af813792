#!/bin/bash
# Domains with libvirt snapshots, and transient domains.
#
# A guest whose qcow2 disk holds an internal snapshot (taken while it was
# off) is backed up live; then an external disk-only snapshot makes its
# active image an overlay on the old one, between two backups.  libvirt
# 9.0 keeps the checkpoint across the overlay: the second point is still
# incremental, and it holds the guest's current state, the whole chain
# flattened, as the shut-off backup does too.  Every point equals a
# flattening of the chain made while the guest was paused (or off); a
# restore as a new domain gives it one image, no chain.
#
# A transient domain (virsh create, never defined) is backed up with
# checkpoints like any other, its point saying it is not persistent, with
# a TransientDomain warning (its checkpoints vanish when it stops); a
# restore of that point defines a persistent domain.
. "$(dirname "$0")/lib.sh"
. "$SP_TOP/tests/lab/lab.sh"
lab_need
lab_build_guest

vm=sp-t6550-$$
sp init --chunk-size 256K >/dev/null
lab_make_data_disk "$T/q.qcow2" 32
LAB_WORKLOAD=0 lab_define_domain "$vm" "$T/q.qcow2"
virsh snapshot-create-as "$vm" i1 >/dev/null ||
	die "cannot take an internal snapshot"
check "the image holds an internal snapshot" \
	bash -c "qemu-img snapshot -l '$T/q.qcow2' | grep -qw i1"
lab_start "$vm"
lab_wait_agent "$vm" 300 || die "guest did not come up"

# point N IMAGE: guest paused, the chain from IMAGE flattened, the backup,
# resume.
point() {
	local n=$1 rc
	virsh suspend "$vm" >/dev/null || die "cannot pause the guest"
	qemu-img convert -U -O raw "$2" "c$n.raw" || die "cannot copy the disk"
	sp --json backup "$vm" >"p$n.json" 2>"p$n.err"
	rc=$?
	virsh resume "$vm" >/dev/null || die "cannot resume the guest"
	check "point $n: the backup succeeded" test $rc = 0
	[ $rc = 0 ] || sed 's/^/#   /' "p$n.err" | tail -n 20
}
write() { # TAG
	lab_guest_exec "$vm" /bin/sh -c \
		"dd if=/dev/urandom of=/mnt/vda/$1 bs=64k count=16 2>/dev/null && sync" ||
		die "cannot write in the guest"
}

point 1 "$T/q.qcow2"
check "point 1: with an internal snapshot, a checkpoint is made" \
	jqe '.checkpoint != null and .warnings == []' p1.json
write a
virsh snapshot-create-as "$vm" s1 --disk-only --atomic \
	--diskspec "vda,snapshot=external,file=$T/q.s1.qcow2" >/dev/null ||
	die "cannot take an external snapshot"
check "the active image is now an overlay" \
	bash -c "virsh domblklist '$vm' | grep -q '$T/q.s1.qcow2'"
write b
point 2 "$T/q.s1.qcow2"
check "point 2: still incremental from point 1's checkpoint, across the overlay" \
	jqe ".incremental.checkpoint == $(jq .checkpoint p1.json) and .disks[0].read_mode == \"dirty-bitmap\" and .warnings == []" p2.json
check "point 2: its source is the overlay" \
	jqe ".disks[0].source == \"$T/q.s1.qcow2\"" p2.json
lab_stop "$vm" 60
qemu-img convert -O raw "$T/q.s1.qcow2" c3.raw
sp --json backup "$vm" >p3.json 2>p3.err
check "point 3 (shut off): the backup of the chain succeeded" test $? = 0

for n in 1 2 3; do
	mkdir "r$n"
	expect_ok "restore point $n" sp restore "$vm@$(jq -r .id "p$n.json")" --to "$T/r$n" --format raw
	check "point $n: equal to the flattened chain of the paused guest" cmp "c$n.raw" "r$n/vda.raw"
done
check "point 2 differs from point 1" bash -c "! cmp -s c1.raw c2.raw"
new=sp-t6550n-$$
at_exit lab_undefine "$new"
mkdir "$T/as"
expect_ok "restore point 2 as a new domain" \
	sp restore "$vm@$(jq -r .id p2.json)" --as "$new" --to "$T/as"
check "...one image, no backing chain, equal to the current state" \
	bash -c "! qemu-img info '$T/as/$new-vda.qcow2' | grep -q 'backing file' &&
		qemu-img compare -q '$T/as/$new-vda.qcow2' c2.raw"

# A transient domain, on a copy of the current state.
tr=sp-t6550t-$$
qemu-img convert -O qcow2 "$T/q.s1.qcow2" "$T/t.qcow2"
virsh dumpxml --inactive "$vm" | sed -e "s|<name>$vm</name>|<name>$tr</name>|" \
	-e '/<uuid>/d' -e "s|$T/q.s1.qcow2|$T/t.qcow2|" -e "s|$vm-console|$tr-console|" \
	-e '/<mac /d' >t.xml
at_exit virsh destroy "$tr"
virsh create t.xml >/dev/null || die "cannot create the transient domain"
check "the domain is transient" \
	bash -c "virsh dominfo '$tr' | grep -q 'Persistent: *no'"
lab_wait_agent "$tr" 300 || die "transient guest did not come up"
sp --json backup "$tr" >t1.json 2>t1.err
check "transient: the backup succeeded, with a checkpoint" \
	jqe '.checkpoint != null and .source.persistent == false' t1.json
check "transient: a TransientDomain warning says what to do" \
	jqe '[.warnings[] | select(startswith("TransientDomain:") and contains("virsh define"))] | length == 1' t1.json
vm=$tr write c
vm=$tr point t2 "$T/t.qcow2"
check "transient: the second point is incremental" \
	jqe ".incremental.checkpoint == $(jq .checkpoint t1.json) and .disks[0].read_mode == \"dirty-bitmap\"" pt2.json
virsh destroy "$tr" >/dev/null
mkdir rt
expect_ok "transient: restore" sp restore "$tr@$(jq -r .id pt2.json)" --to "$T/rt" --format raw
check "transient: equal to the copy of the paused guest" cmp ct2.raw rt/vda.raw
expect_ok "transient: restore as a new, persistent domain" \
	sp restore "$tr@$(jq -r .id pt2.json)" --as "$tr-p" --to "$T/as"
at_exit lab_undefine "$tr-p"
check "...which is persistent" \
	bash -c "virsh dominfo '$tr-p' | grep -q 'Persistent: *yes'"
done_testing

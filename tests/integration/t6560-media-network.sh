#!/bin/bash
# Every other disk kind a domain can have, in one lab guest: a qcow2 disk
# (vda), a network disk served over NBD by qemu-nbd on a unix socket
# (vdb, written by the guest), an ISO in a cdrom drive (sda), an empty
# cdrom drive (sdb), a floppy image (fda) and a read-only raw disk (vdc).
#
# libvirt 9.0's pull-mode backup job reads the NBD disk and the read-only
# media like any other disk (checkpoint='no'), so all but the empty drive
# are in the point; the media are marked read_only_media and stored once:
# the second point stores no new chunk for them.  Each point equals copies
# of the disks taken while the guest was paused; a backup of the shut-off
# guest reads the media from their files and leaves the network disk out,
# saying why.  A restore as a new domain puts the media back as files the
# new definition points to, and the network disk as a file too.
. "$(dirname "$0")/lib.sh"
. "$SP_TOP/tests/lab/lab.sh"
lab_need
lab_build_guest
command -v qemu-nbd >/dev/null || { say "no qemu-nbd"; exit 77; }

vm=sp-t6560-$$
sp init --chunk-size 256K >/dev/null
lab_make_data_disk "$T/q.qcow2" 16
random_file "$T/cd.iso" 8 iso
random_file "$T/fd.img" 1 floppy
truncate -s 1440K "$T/fd.img"
random_file "$T/ro.raw" 4 readonly
truncate -s 16M "$T/nbd.raw"
poke "$T/nbd.raw" 1 2 nbd0
chmod 0644 "$T"/*.iso "$T"/*.img "$T"/*.raw
mkdir -m 0777 "$T/nbd"
qemu-nbd -f raw -t -x exp -k "$T/nbd/sock" --pid-file="$T/nbd/pid" \
	--fork "$T/nbd.raw" || die "cannot serve the NBD disk"
at_exit 'kill $(cat "$T/nbd/pid")'
chmod 0777 "$T/nbd/sock"

LAB_WORKLOAD=0 lab_define_domain "$vm" "$T/q.qcow2"
add() { # XML
	printf '%s\n' "$1" >"$T/dev.xml"
	virsh attach-device "$vm" "$T/dev.xml" --config >/dev/null ||
		die "cannot add $1"
}
add "<disk type='network' device='disk'><driver name='qemu' type='raw'/>
  <source protocol='nbd' name='exp'><host transport='unix' socket='$T/nbd/sock'/></source>
  <target dev='vdb' bus='virtio'/></disk>"
add "<disk type='file' device='cdrom'><driver name='qemu' type='raw'/>
  <source file='$T/cd.iso'/><target dev='sda' bus='sata'/><readonly/></disk>"
add "<disk type='file' device='cdrom'><driver name='qemu' type='raw'/>
  <target dev='sdb' bus='sata'/><readonly/></disk>"
add "<disk type='file' device='floppy'><driver name='qemu' type='raw'/>
  <source file='$T/fd.img'/><target dev='fda' bus='fdc'/></disk>"
add "<disk type='file' device='disk'><driver name='qemu' type='raw'/>
  <source file='$T/ro.raw'/><target dev='vdc' bus='virtio'/><readonly/></disk>"
lab_start "$vm"
lab_wait_agent "$vm" 300 || die "guest did not come up"

# point N: guest paused, copies of its disks, the backup, resume.
point() {
	local n=$1 rc
	virsh suspend "$vm" >/dev/null || die "cannot pause the guest"
	qemu-img convert -U -f qcow2 -O raw "$T/q.qcow2" "c$n-vda.raw" &&
		cp "$T/nbd.raw" "c$n-vdb.raw" || die "cannot copy the disks"
	sp --json backup "$vm" >"p$n.json" 2>"p$n.err"
	rc=$?
	virsh resume "$vm" >/dev/null || die "cannot resume the guest"
	check "point $n: the backup succeeded" test $rc = 0
	[ $rc = 0 ] || sed 's/^/#   /' "p$n.err" | tail -n 20
}
# disk N TARGET FILTER: jq FILTER on point N's entry of disk TARGET.
disk() { jqe ".disks[] | select(.name == \"$2\") | $3" "p$1.json"; }

point 1
check "point 1: every disk but the empty drive is in the point" \
	jqe '[.disks[].name] | sort == ["fda","sda","vda","vdb","vdc"]' p1.json
check "point 1: the empty drive is left out, saying why" \
	jqe '.excluded_disks == [{"target":"sdb","source":null,"reason":"empty drive"}]' p1.json
check "point 1: the NBD disk is a network disk, named by its NBD URI" \
	disk 1 vdb ".kind == \"network\" and .protocol == \"nbd\" and .source == \"nbd+unix:///exp?socket=$T/nbd/sock\" and .checkpoint_bitmap == false"
check "point 1: the cdrom, the floppy and the read-only disk are read-only media" \
	jqe '[.disks[] | select(.read_only_media) | .name] | sort == ["fda","sda","vdc"]' p1.json
check "point 1: ...saying so" \
	disk 1 sda '.device == "cdrom" and (.read_reason | startswith("read-only medium"))'
check "point 1: only vda keeps a bitmap in the checkpoint" \
	jqe '.checkpoint != null and ([.disks[] | select(.checkpoint_bitmap) | .name] == ["vda"])' p1.json
check "point 1: no warning" jqe '.warnings == []' p1.json

lab_guest_exec "$vm" /bin/sh -c \
	'dd if=/dev/urandom of=/dev/vdb bs=64k count=4 seek=100 conv=fsync 2>/dev/null &&
	dd if=/dev/urandom of=/mnt/vda/blob bs=64k count=8 2>/dev/null && sync' ||
	die "cannot write in the guest"
point 2
check "point 2: vda incremental, the others read in full and compared" \
	jqe '(.disks[] | select(.name == "vda") | .read_mode) == "dirty-bitmap" and ([.disks[] | select(.name != "vda") | .read_mode] | all(. == "full-compare"))' p2.json
check "point 2: the NBD disk stored only its changed chunk(s)" \
	disk 2 vdb '.chunks_new >= 1 and .chunks_new <= 2'
check "point 2: the media stored nothing new (each stored once)" \
	jqe '[.disks[] | select(.read_only_media) | .bytes_new] == [0,0,0]' p2.json
iso() { jq -r '.disks[] | select(.name == "sda") | "\(.bytes_read) bytes read, \(.bytes_new) new"' "$1"; }
say "# the 8 MiB ISO: point 1 $(iso p1.json), point 2 $(iso p2.json)"
lab_stop "$vm" 60

sp --json backup "$vm" >p3.json 2>p3.err
check "point 3 (shut off): the backup succeeded" test $? = 0
check "point 3: the network disk is left out: read only while the domain runs" \
	jqe '.excluded_disks | map(select(.target == "vdb" and (.reason | contains("read only while the domain runs")))) | length == 1' p3.json
check "point 3: the media are read from their files, storing nothing new" \
	jqe '[.disks[] | select(.read_only_media) | .bytes_new] == [0,0,0]' p3.json

for n in 1 2 3; do
	mkdir "r$n"
	expect_ok "restore point $n" sp restore "$vm@$(jq -r .id "p$n.json")" --to "$T/r$n" --format raw
	check "point $n: the cdrom equals its ISO" cmp "$T/cd.iso" "r$n/sda.raw"
	check "point $n: the floppy equals its image" cmp "$T/fd.img" "r$n/fda.raw"
	check "point $n: the read-only disk equals its file" cmp "$T/ro.raw" "r$n/vdc.raw"
done
for n in 1 2; do
	for d in vda vdb; do
		check "point $n disk $d: equal to the copy of the paused guest's disk" \
			cmp "c$n-$d.raw" "r$n/$d.raw"
	done
done

new=sp-t6560n-$$
at_exit lab_undefine "$new"
mkdir "$T/as"
expect_ok "restore point 2 as a new domain" \
	sp restore "$vm@$(jq -r .id p2.json)" --as "$new" --to "$T/as"
virsh dumpxml --inactive "$new" >new.xml 2>/dev/null
check "the new domain's cdrom is its own copy of the ISO, still a read-only cdrom" \
	bash -c "grep -q \"<source file='$T/as/$new-sda.img'/>\" new.xml &&
		cmp '$T/cd.iso' '$T/as/$new-sda.img' &&
		[ \"\$(virsh domblklist '$new' --details | awk '\$3 == \"sda\" {print \$2}')\" = cdrom ]"
check "the new domain's network disk became a file equal to the paused copy" \
	bash -c "grep -q \"<source file='$T/as/$new-vdb.img'/>\" new.xml &&
		! grep -q 'protocol=' new.xml && cmp c2-vdb.raw '$T/as/$new-vdb.img'"
check "the empty drive stays empty" \
	bash -c "[ \"\$(virsh domblklist '$new' | awk '\$1 == \"sdb\" {print \$2}')\" = - ]"
# In place: the media and the network disk are left as they are (an ISO
# may have been swapped or be shared by other VMs; a network disk lives on
# its server), the domain's own disk is written.
random_file "$T/cd.iso" 8 swapped
cp "$T/cd.iso" swapped.iso
cp "$T/nbd.raw" nbd-before.raw
expect_ok "restore point 2 in place" sp restore "$vm@$(jq -r .id p2.json)" --in-place
check "in place: the cdrom's current ISO is untouched, and said so" \
	bash -c "cmp swapped.iso '$T/cd.iso' && grep -q 'disk sda left as it is: read-only media' '$T/.err'"
check "in place: the network disk is untouched, and said so" \
	bash -c "cmp nbd-before.raw '$T/nbd.raw' && grep -q 'disk vdb left as it is: network disk' '$T/.err'"
check "in place: the domain's own disk is point 2's" \
	bash -c "qemu-img convert -f qcow2 -O raw '$T/q.qcow2' q-now.raw && cmp c2-vda.raw q-now.raw"
expect_ok "verify" sp verify "$vm"
done_testing

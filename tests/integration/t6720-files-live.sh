#!/bin/bash
# Files out of a live point by guest path.  A lab guest whose data disk has
# a GPT partition table, ext4 on partition 1 and LVM on partition 2 with an
# ext4 and an xfs logical volume, mounted in the guest at /data0,
# /var/lib/app and /data1 (the guest gets dm-mod, xfs and lvm for it).
# Files of known content are written through the guest agent, the domain
# is backed up live, the point records the guest's mount map, and `files`
# and `restore --file` by guest path give back the same bytes, modes,
# owners, times and links.
. "$(dirname "$0")/lib.sh"
. "$SP_TOP/tests/lab/lab.sh"
lab_need
need_guestfs
command -v lvm >/dev/null || { say "needs lvm2 on the host (copied into the guest)"; exit 77; }

# The guest's extras: device-mapper and xfs modules, lvm with its
# libraries (as the lab copies qemu-ga), an lvm.conf for a guest without
# udev.
extra=$T/extra
kt=$(_lab_kernel_tree)
kver=$(basename "$(echo "$kt"/lib/modules/*)")
mkdir -p "$extra/lib/modules/sp-files" "$extra/usr/sbin" "$extra/etc/lvm"
for m in drivers/md/dm-mod lib/libcrc32c fs/xfs/xfs; do
	f=$(ls "$kt/lib/modules/$kver/kernel/$m.ko"* | head -n1)
	case $f in
	*.xz) xz -dc "$f" ;; *.zst) zstd -qdc "$f" ;; *) cat "$f" ;;
	esac >"$extra/lib/modules/sp-files/$(basename "$m").ko" || die "no module $m"
done
cp /usr/sbin/lvm "$extra/usr/sbin/"
for lib in $(ldd /usr/sbin/lvm | grep -o '/[^ ]*'); do
	mkdir -p "$extra$(dirname "$lib")"
	cp -L "$lib" "$extra$lib"
done
cat >"$extra/etc/lvm/lvm.conf" <<'EOF'
activation { udev_sync = 0 udev_rules = 0 monitoring = 0 }
devices { obtain_device_list_from_udev = 0 }
global { use_lvmetad = 0 }
EOF
LAB_GUEST_EXTRA=$extra lab_build_guest

sp init >/dev/null
truncate -s 600M data.raw
cat >mk.fish <<'EOF'
run
part-init /dev/sda gpt
part-add /dev/sda p 2048 206847
part-add /dev/sda p 206848 -2048
mkfs ext4 /dev/sda1
pvcreate /dev/sda2
vgcreate spvg /dev/sda2
lvcreate lvext spvg 150
lvcreate lvxfs spvg 300
mkfs ext4 /dev/spvg/lvext
mkfs xfs /dev/spvg/lvxfs
EOF
gfish -a data.raw -f mk.fish || die "guestfish could not make the disk"
qemu-img convert -O qcow2 data.raw data.qcow2 && rm data.raw
chmod 644 data.qcow2

vm=files-t6720-$$
lab_define_domain "$vm" "$T/data.qcow2"
lab_start "$vm"
lab_wait_agent "$vm" 300 || die "guest did not come up"
g() { lab_guest_exec "$vm" "$@"; }
for m in dm-mod libcrc32c xfs; do
	g /sbin/insmod "/lib/modules/sp-files/$m.ko" || die "insmod $m in the guest"
done
g /usr/sbin/lvm vgchange -ay spvg >/dev/null || die "lvm vgchange in the guest"
g /bin/mkdir -p /data0 /var/lib/app /data1 &&
	g /bin/mount -t ext4 /dev/vda1 /data0 &&
	g /bin/mount -t ext4 /dev/mapper/spvg-lvext /var/lib/app &&
	g /bin/mount -t xfs /dev/mapper/spvg-lvxfs /data1 || die "mounts in the guest"

random_file hosts 1 live-hosts
head -c 60000 hosts >hosts.txt
random_file a.bin 1 live-a
head -c 200000 a.bin >a.part
printf 'nested\n' >b.txt
head -c 150000 hosts >x.log
lab_guest_write_file "$vm" /data0/etc/hosts 644 <hosts.txt || die "write /data0/etc/hosts"
lab_guest_write_file "$vm" /var/lib/app/tree/a.bin 640 <a.part || die "write a.bin"
lab_guest_write_file "$vm" /var/lib/app/tree/sub/b.txt 600 <b.txt || die "write b.txt"
lab_guest_write_file "$vm" /data1/log/x.log 644 <x.log || die "write x.log"
g /bin/chown 1234:5678 /var/lib/app/tree/a.bin &&
	g /bin/ln -s a.bin /var/lib/app/tree/link &&
	g /bin/touch -d '2020-01-02 03:04:05' /var/lib/app/tree/sub/b.txt &&
	g /bin/sync || die "metadata in the guest"

expect_ok "live backup" sp --json backup "$vm"
cp .out p.json
check "the point records the guest's mount map" jqe '
	(.guest_mounts | map({(.mountpoint): .}) | add) as $m |
	$m["/data0"].type == "ext4" and $m["/data0"].partition == 1 and $m["/data0"].disks == ["vda"] and
	$m["/var/lib/app"].lvm == "spvg/lvext" and $m["/var/lib/app"].disks == ["vda"] and
	$m["/data1"].type == "xfs" and $m["/data1"].lvm == "spvg/lvxfs"' p.json

expect_ok "list the file systems with their mount points" sp --json files "$vm"
check "each file system knows where the guest mounted it" jqe '
	[.filesystems[] | "\(.device) \(.mountpoint)"] | sort ==
	["lvm:spvg/lvext /var/lib/app", "lvm:spvg/lvxfs /data1", "vda:1 /data0"]' .out
expect_ok "list a directory by guest path" sp --json files "$vm" /var/lib/app/tree
cp .out ls.json
check "the listing resolves to the LV and shows owner and link" jqe '
	.device == "lvm:spvg/lvext" and
	(.entries | map({(.name): .}) | add) as $e |
	$e["a.bin"].uid == 1234 and $e["a.bin"].size == 200000 and $e["a.bin"].mode == 416 and
	$e.link.target == "a.bin" and $e.sub.type == "directory"' ls.json

expect_ok "restore by guest paths on three file systems" \
	sp restore "$vm" --file /var/lib/app/tree --file /data0/etc/hosts --file /data1/log/x.log --to r
check "ext4 on a partition: byte-identical" cmp hosts.txt r/hosts
check "xfs on an LV: byte-identical" cmp x.log r/x.log
check "ext4 on an LV: tree byte-identical" sh -c 'cmp a.part r/tree/a.bin && cmp b.txt r/tree/sub/b.txt'
check "owner and mode kept" test "$(stat -c '%u:%g %a' r/tree/a.bin)" = "1234:5678 640"
check "time kept" test "$(stat -c %Y r/tree/sub/b.txt)" = "$(date -u -d '2020-01-02 03:04:05' +%s)"
check "symlink kept" test "$(readlink r/tree/link)" = a.bin
expect_fail GuestPathUnmapped "a guest path on no mounted file system" \
	sp files "$vm" /nowhere/x
done_testing

#!/bin/bash
# Files out of a point of disk images: a data disk with a GPT partition
# table, ext4 on partition 1 and LVM on partition 2 (ext4 and xfs logical
# volumes), a second disk with ext4 on the whole disk, and a third with an
# MBR partition table holding vfat, btrfs and ntfs.  The images are
# made by guestfish's appliance (the host's kernel mounts nothing) from
# host files of known content; the point is listed and restored by
# DISK:PARTITION:/path, vda::/path and lvm:VG/LV:/path, and what comes out
# is compared byte for byte, with its modes, owners, times, symlink,
# xattr and ACL.  Bad paths fail with their codes.
. "$(dirname "$0")/lib.sh"
need_root
need_guestfs

sp init >/dev/null
random_file big.bin 3 big
random_file hosts 1 hosts
head -c 12345 hosts >small.txt
random_file app.log 2 applog
random_file w.bin 1 whole
random_file v.bin 1 vfat
random_file b.bin 1 btrfs
random_file n.bin 1 ntfs
printf 'second\n' >sub.txt

truncate -s 600M data.img
truncate -s 100M whole.img
truncate -s 400M more.img
cat >mk.fish <<EOF
run
part-init /dev/sda gpt
part-add /dev/sda p 2048 206847
part-add /dev/sda p 206848 -2048
mkfs ext4 /dev/sda1 label:boot1
pvcreate /dev/sda2
vgcreate spvg /dev/sda2
lvcreate lvext spvg 150
lvcreate lvxfs spvg 300
mkfs ext4 /dev/spvg/lvext
mkfs xfs /dev/spvg/lvxfs
mkfs ext4 /dev/sdb
mount /dev/sda1 /
mkdir /etc
upload $T/hosts /etc/hosts
umount /
mount /dev/spvg/lvxfs /
mkdir-p /log/app
upload $T/app.log /log/app/a.log
umount /
mount /dev/spvg/lvext /
mkdir-p /tree/sub
upload $T/big.bin /tree/big.bin
upload $T/small.txt /tree/small.txt
upload $T/sub.txt /tree/sub/sub.txt
ln /tree/sub/sub.txt /tree/hard
ln-s small.txt /tree/link
ln-s ../../../../../../etc/passwd /tree/escape
chmod 0640 /tree/small.txt
chmod 04755 /tree/big.bin
chmod 0710 /tree/sub
chown 1234 5678 /tree/small.txt
chown 42 43 /tree/sub
setxattr user.color blue 4 /tree/small.txt
acl-set-file /tree/big.bin access "u::rwx,u:1234:r-x,g::r-x,m::r-x,o::r-x"
utimens /tree/small.txt 1500000000 0 1500000000 0
utimens /tree/sub/sub.txt 1600000000 0 1600000000 0
utimens /tree/sub 1400000000 0 1400000000 0
umount /
mount /dev/sdb /
upload $T/w.bin /w.bin
umount /
part-init /dev/sdc mbr
part-add /dev/sdc p 2048 204799
part-add /dev/sdc p 204800 540671
part-add /dev/sdc p 540672 -2048
mkfs vfat /dev/sdc1
mkfs btrfs /dev/sdc2
mkfs ntfs /dev/sdc3
mount /dev/sdc1 /
upload $T/v.bin /v.bin
umount /
mount /dev/sdc2 /
upload $T/b.bin /b.bin
umount /
mount /dev/sdc3 /
upload $T/n.bin /n.bin
EOF
gfish -a data.img -a whole.img -a more.img -f mk.fish || die "guestfish could not make the images"
expect_ok "back up the three images" sp backup --name files-img --disk data.img --disk whole.img --disk more.img

expect_ok "list the file systems" sp --json files files-img
cp .out fs.json
check "seven file systems, named by disk and partition or LV" jqe '
	[.filesystems[] | "\(.device) \(.type)"] | sort ==
	["data.img:1 ext4", "lvm:spvg/lvext ext4", "lvm:spvg/lvxfs xfs",
	 "more.img:1 vfat", "more.img:2 btrfs", "more.img:3 ntfs", "whole.img: ext4"]' fs.json
check "the label of partition 1" jqe '.filesystems[] | select(.device == "data.img:1") | .label == "boot1"' fs.json
check "only part of the disks was read from the vault" jqe '
	.vault_read.bytes_read > 0 and .vault_read.bytes_read < 1100*1048576' fs.json

expect_ok "list a directory of an LV" sp --json files files-img lvm:spvg/lvext:/tree
cp .out ls.json
check "entries like ls -l" jqe '
	(.entries | map({(.name): .}) | add) as $e |
	$e["small.txt"].type == "file" and $e["small.txt"].mode == 416 and
	$e["small.txt"].uid == 1234 and $e["small.txt"].gid == 5678 and
	$e["small.txt"].size == 12345 and $e["small.txt"].mtime == 1500000000 and
	$e["big.bin"].mode == 2541 and $e["big.bin"].size == 3145728 and
	$e.link.type == "symlink" and $e.link.target == "small.txt" and
	$e.sub.type == "directory" and $e.sub.mode == 456' ls.json
expect_ok "the text listing" sp files files-img lvm:spvg/lvext:/tree
check "text shows mode, owner and link" grep -q '^-rw-r-----   1234   5678        12345 2017-07-14 02:40 small.txt$' .out
check "text shows the link target" grep -q ' link -> small.txt$' .out

mkdir r
expect_ok "restore a tree, a file of a partition, of xfs and of a whole disk" \
	sp --json restore files-img --file lvm:spvg/lvext:/tree --file data.img:1:/etc/hosts \
	--file lvm:spvg/lvxfs:/log/app/a.log --file whole.img::/w.bin \
	--file more.img:1:/v.bin --file more.img:2:/b.bin --file more.img:3:/n.bin --to r
check "a file of partition 1 is byte-identical" cmp hosts r/hosts
check "a file of the xfs LV is byte-identical" cmp app.log r/a.log
check "a file of the whole disk is byte-identical" cmp w.bin r/w.bin
check "vfat on an MBR partition: byte-identical" cmp v.bin r/v.bin
check "btrfs: byte-identical" cmp b.bin r/b.bin
check "ntfs: byte-identical" cmp n.bin r/n.bin
check "tree: big file byte-identical" cmp big.bin r/tree/big.bin
check "tree: small file byte-identical" cmp small.txt r/tree/small.txt
check "tree: nested file byte-identical" cmp sub.txt r/tree/sub/sub.txt
check "a hard link stays one file with two names" \
	test "$(stat -c %i:%h r/tree/hard)" = "$(stat -c %i r/tree/sub/sub.txt):2"
check "the restore counts it" jqe '.hardlinks == 1 and .symlinks == 2' .out
check "modes kept (setuid too)" test "$(stat -c %a r/tree/small.txt r/tree/big.bin r/tree/sub | tr '\n' ' ')" = "640 4755 710 "
check "owners kept" test "$(stat -c %u:%g r/tree/small.txt r/tree/sub | tr '\n' ' ')" = "1234:5678 42:43 "
check "file times kept" test "$(stat -c %Y r/tree/small.txt r/tree/sub/sub.txt | tr '\n' ' ')" = "1500000000 1600000000 "
check "directory time kept (set after its contents)" test "$(stat -c %Y r/tree/sub)" = 1400000000
check "symlink kept as a link" test "$(readlink r/tree/link)" = small.txt
check "a link pointing outside is a link, not followed" test "$(readlink r/tree/escape)" = ../../../../../../etc/passwd
check "xattr kept" test "$(getfattr --only-values -n user.color r/tree/small.txt 2>/dev/null)" = blue
check "POSIX ACL kept" sh -c "getfacl -cn r/tree/big.bin 2>/dev/null | grep -qx 'user:1234:r-x'"

expect_fail TargetExists "an existing file is refused without --force" \
	sp restore files-img --file data.img:1:/etc/hosts --to r
echo changed >r/hosts
expect_ok "--force replaces it" sp restore files-img --file data.img:1:/etc/hosts --to r --force
check "replaced by the point's file" cmp hosts r/hosts

expect_fail GuestPathNotFound "a missing path" sp files files-img data.img:1:/etc/nope
expect_fail GuestFsNotFound "a disk with a partition table holds no file system itself" \
	sp files files-img data.img::/
expect_fail GuestDiskNotFound "an unknown disk" sp files files-img vdz:1:/etc
expect_fail GuestPathUnmapped "a guest path without a mount map" sp files files-img /etc/hosts
expect_fail UsageError "a relative path" sp files files-img etc/hosts
check "nothing but the restored names in r" test "$(ls -A r | sort | tr '\n' ' ')" = "a.log b.bin hosts n.bin tree v.bin w.bin "
done_testing

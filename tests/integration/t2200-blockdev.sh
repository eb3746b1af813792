#!/bin/bash
# Block devices (loop devices over image files) as backup sources and as
# restore targets.
. "$(dirname "$0")/lib.sh"
need_root
command -v losetup >/dev/null || { say "no losetup"; exit 77; }

sp init >/dev/null
make_raw_disk src.img 96 b1
src=$(losetup --find --show src.img) || { say "no loop device"; exit 77; }
at_exit "losetup -d $src"
expect_ok "back up a block device" sp backup --name blk --disk "$src"
name=$(basename "$src")
check "disk kind is block, size exact" \
	bash -c "sp points blk --json | jqe '.[0].disks[0].kind == \"block\" and .[0].disks[0].size == 100663296' >/dev/null"
mkdir r
expect_ok "restore it to a file" sp restore blk --to r
check "file equals the device" cmp "$src" "r/$name.raw"

truncate -s 128M big.img
dd if=/dev/urandom of=big.img bs=1M count=128 conv=notrunc status=none
dst=$(losetup --find --show big.img)
at_exit "losetup -d $dst"
expect_ok "restore onto a larger block device" sp restore blk --disk-to "$name=$dst"
check "device holds the disk (first 96 MiB)" cmp -n 100663296 "$src" "$dst"
check "holes were zeroed on the device" \
	bash -c "cmp -n 100663296 src.img $dst"

truncate -s 32M small.img
small=$(losetup --find --show small.img)
at_exit "losetup -d $small"
expect_fail TargetTooSmall "a device smaller than the disk is refused" \
	sp restore blk --disk-to "$name=$small"
truncate -s 100M one.img
one=$(losetup --find --show one.img)
at_exit "losetup -d $one"
expect_ok "--to a block device for a one-disk point" sp restore blk --to "$one"
check "device content" cmp -n 100663296 src.img "$one"
done_testing

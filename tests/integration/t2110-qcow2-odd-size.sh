#!/bin/bash
# A disk whose size is not a multiple of 512 cannot be a qcow2 image of
# the same size: restore --format qcow2 refuses it with TargetSizeUnaligned
# (naming the disk, its size and --format raw) before writing anything,
# instead of growing it to the next sector.  Raw keeps the size.
. "$(dirname "$0")/lib.sh"

sp init --chunk-size 1M >/dev/null
printf x >one.img
truncate -s $((3 * 1048576 + 7)) odd.img
poke odd.img 1 1 odd
printf tail | dd of=odd.img bs=1 seek=$((3 * 1048576 + 3)) conv=notrunc status=none
expect_ok "back up a 1-byte disk" sp backup --name one --disk one.img
expect_ok "back up a point of a 3 MiB + 7 disk and the 1-byte one" sp backup --name two --disk odd.img --disk one.img

mkdir r1
expect_fail TargetSizeUnaligned "--format qcow2 of a 1-byte disk is refused" \
	sp restore one --to r1 --format qcow2
check "...naming the disk" grep -q "disk 'one.img'" "$T/.err"
check "...its size" grep -q "1 bytes" "$T/.err"
check "...and the fix" grep -q -- "--format raw" "$T/.err"
check "...nothing written" test -z "$(ls -A r1)"
expect_fail TargetSizeUnaligned "a two-disk point with one odd disk: refused before any disk" \
	sp restore two --to r1 --format qcow2
check "...naming the odd disk" grep -q "disk 'odd.img'.*3145735 bytes" "$T/.err"
check "...nothing written" test -z "$(ls -A r1)"
expect_ok "--format raw keeps the size" sp restore two --to r1 --format raw
check "...byte-exact" bash -c "cmp odd.img r1/odd.raw && cmp one.img r1/one.raw"
mkdir r2
expect_ok "a 512-multiple disk restores as qcow2" bash -c "sp restore one --to r2 --format raw && truncate -s 1M r2/one.raw && sp backup --name m --disk r2/one.raw && mkdir r3 && sp restore m --to r3 --format qcow2"
check "...at its size" bash -c "qemu-img info --output=json r3/one.qcow2 | jq -e '.\"virtual-size\" == 1048576' >/dev/null"
done_testing

#!/bin/bash
# qcow2 images, read through qemu-nbd: round trips in both formats, backing
# chains, and zero clusters never read.
. "$(dirname "$0")/lib.sh"

sp init >/dev/null
make_raw_disk base.raw 128 q1
qemu-img convert -O qcow2 base.raw plain.qcow2
qemu-img convert -O qcow2 base.raw base.qcow2
qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 over.qcow2
qemu-io -c 'write -P 0x5a 1M 2M' over.qcow2 >/dev/null

expect_ok "back up a qcow2 image" sp backup --name q --disk plain.qcow2:qcow2
check "format recorded as qcow2" \
	bash -c "sp points q --json | jqe '.[0].disks[0].format == \"qcow2\" and .[0].disks[0].size == 134217728' >/dev/null"
mkdir a b
expect_ok "restore keeps qcow2" sp restore q --to a
check "restored file is qcow2" \
	bash -c "qemu-img info --output=json a/plain.qcow2 | jqe '.format == \"qcow2\"' >/dev/null"
check "guest-visible content identical" qemu-img compare -q plain.qcow2 a/plain.qcow2
expect_ok "restore as raw" sp restore q --to b --format raw
# Named for the bytes it holds: a raw file is *.raw, never *.qcow2.
check "restored raw as plain.raw, nothing else" test "$(ls -A b)" = plain.raw
qemu-img convert -O raw plain.qcow2 plain.guest.raw
check "raw restore is the guest-visible bytes of the source" \
	cmp plain.guest.raw b/plain.raw
check "and is raw" \
	bash -c "qemu-img info --output=json b/plain.raw | jqe '.format == \"raw\"' >/dev/null"

expect_ok "back up an overlay with a backing file" sp backup --name ov --disk over.qcow2:qcow2
mkdir c
expect_ok "restore the overlay" sp restore ov --to c
check "overlay + backing content preserved" qemu-img compare -q over.qcow2 c/over.qcow2
check "restored image stands alone (no backing file)" \
	bash -c "! qemu-img info --output=json c/over.qcow2 | jqe '.\"backing-filename\"' >/dev/null"

# A 1 GiB qcow2 with 4 MiB of data: zero clusters are never read.
qemu-img create -q -f qcow2 big.qcow2 1G
qemu-io -c 'write -P 0x11 300M 4M' big.qcow2 >/dev/null
expect_ok "back up a mostly empty qcow2" sp backup --name big --disk big.qcow2:qcow2
check "only allocated data was read (< 32 MiB)" \
	bash -c "sp points big --json | jqe '.[0].bytes_read <= 33554432 and .[0].bytes_read >= 4194304' >/dev/null"
mkdir d
expect_ok "restore the mostly empty qcow2" sp restore big --to d
check "content identical" qemu-img compare -q big.qcow2 d/big.qcow2
done_testing

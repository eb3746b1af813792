#!/bin/bash
# A disk's format is what its owner declares (PATH:FORMAT, --format), never
# what its content looks like: a guest may write a qcow2 header, naming any
# host file as its backing file, into its own raw disk.
. "$(dirname "$0")/lib.sh"

sp init >/dev/null
make_raw_disk base.raw 16 f1
qemu-img convert -O qcow2 base.raw img.qcow2

expect_fail DiskFormatUndeclared "an undeclared qcow2 image is refused" \
	sp backup --name q --disk img.qcow2
check "...the message says how to declare it" grep -q "img.qcow2:qcow2" "$T/.err"
check "...and no point was made" bash -c '! ls "$STILLPOINT_VAULT"/points/q 2>/dev/null | grep -q .'
expect_ok "PATH:qcow2 declares it" sp backup --name q --disk img.qcow2:qcow2
expect_ok "--format qcow2 declares every plain --disk" \
	sp backup --name q2 --format qcow2 --disk img.qcow2
mkdir r1
expect_ok "restore as raw" sp restore q --to r1 --format raw
check "the image's guest-visible bytes came back" cmp base.raw r1/img.raw

# The attack: a raw disk whose first bytes are a qcow2 header naming a
# host file as backing file.  Read raw, it is just bytes.
printf 'host secret 7f3a9c\n' >secret.txt
truncate -s 1M secret.txt
qemu-img create -q -f qcow2 -b "$T/secret.txt" -F raw hdr.qcow2 1M
cp base.raw guest.raw
dd if=hdr.qcow2 of=guest.raw bs=64k count=1 conv=notrunc status=none
expect_fail DiskFormatUndeclared "a raw disk holding a qcow2 header, undeclared" \
	sp backup --name g --disk guest.raw
expect_ok "declared raw, it is backed up as the bytes it holds" \
	sp backup --name g --disk guest.raw:raw
mkdir r2
expect_ok "restore the raw disk" sp restore g --to r2
check "restored bytes are the raw disk's" cmp guest.raw r2/guest.raw
check "the host file named in the header is not in the point" \
	bash -c '! grep -q "host secret 7f3a9c" r2/guest.raw'
check "the point records format raw" \
	bash -c "sp points g --json | jqe '.[0].disks[0].format == \"raw\"'"

# A declared qcow2 whose backing file's format is not recorded: QEMU would
# probe the backing file, so it is refused.
qemu-img create -q -f qcow2 -b "$T/base.raw" -F raw over.qcow2 16M
python3 - over.qcow2 <<'PY'
import sys
# Rename the "backing file format" header extension (0xe2792aca) to one
# QEMU ignores, as in images made before the format was recorded.
p = sys.argv[1]
b = bytearray(open(p, 'rb').read())
i = b.find(bytes.fromhex('e2792aca'), 0, 65536)
assert i > 0
b[i:i + 4] = bytes.fromhex('6a6a6a6a')
open(p, 'wb').write(b)
PY
check "the test image lost its backing format" \
	bash -c "qemu-img info -U --output=json over.qcow2 | jqe 'has(\"backing-filename\") and (has(\"backing-filename-format\") | not)'"
expect_fail DiskFormatUnsupported "a backing file without a recorded format" \
	sp backup --name o --disk over.qcow2:qcow2
check "...the message names the backing file and the fix" \
	grep -q 'base.raw.*qemu-img rebase' "$T/.err"
qemu-img create -q -f qcow2 -b "$T/base.raw" -F raw over2.qcow2 16M
qemu-io -c 'write -P 0x33 2M 1M' over2.qcow2 >/dev/null
expect_ok "with the format recorded, the chain is followed" \
	sp backup --name o --disk over2.qcow2:qcow2
mkdir r3
expect_ok "restore the overlay" sp restore o --to r3 --format raw
check "overlay and backing bytes came back" \
	qemu-img compare -q -f qcow2 -F raw over2.qcow2 r3/over2.raw
done_testing

#!/bin/bash
# Proving points: verify --against names differing byte ranges; a disk's
# digest shows slots swapped in an index whose checksums were recomputed;
# a chunk of the wrong length for its slot is damage; a point directory
# verify cannot open is damage; backup --check-transfer catches a source
# that changed under the backup.
. "$(dirname "$0")/lib.sh"

sp init >/dev/null
make_raw_disk d.img 24 v1
expect_ok "back up" sp backup --name vm --disk d.img

# --against
expect_ok "the point equals its source" sp verify vm --against d.img=d.img
check "...and says so" grep -q "^EQUAL vm@.* disk d.img" "$T/.out"
cp d.img e.img
printf 'abc' | dd of=e.img bs=1 seek=5000000 conv=notrunc status=none
printf 'z' | dd of=e.img bs=1 seek=20000001 conv=notrunc status=none
sp verify vm --against d.img=e.img >"$T/o" 2>"$T/e"
check "a differing disk exits 3" test $? = 3
check "...with PointDiffers naming the first range" \
	grep -q "PointDiffers.*\|first at bytes 5000000+3" "$T/e"
check "...and every differing range" \
	bash -c "grep -q 'bytes 5000000+3' '$T/o' && grep -q 'bytes 20000001+1' '$T/o'"
sp --json verify vm --against d.img=e.img >"$T/j" 2>/dev/null
check "--json lists the ranges and the count of differing bytes" \
	jqe '.disks[0].bytes_differing == 4 and (.disks[0].ranges | length) == 2 and .disks[0].equal == false' "$T/j"
truncate -s 25M e2.img && dd if=d.img of=e2.img conv=notrunc status=none
expect_fail PointDiffers "a disk of another size differs" sp verify vm --against d.img=e2.img
qemu-img convert -O qcow2 d.img d.qcow2
expect_ok "a qcow2 image is compared by its guest-visible bytes" \
	sp verify vm --against d.img=d.qcow2:qcow2
expect_fail UsageError "an unknown disk is a usage error" sp verify vm --against nope=d.img
expect_fail UsageError "--against needs a point" sp verify --against d.img=d.img

# The digest: swap two data slots of the index, recompute its trailer and
# the manifest's index_sha256, and the point still does not pass.
make_raw_disk s.img 16 sw
dd if=/dev/urandom of=s.img bs=1M count=16 conv=notrunc status=none
expect_ok "back up a disk of four distinct chunks" sp backup --name sw --disk s.img
pdir=$(echo "$STILLPOINT_VAULT"/points/sw/*)
cp -a "$pdir" "$T/sw.orig"
python3 - "$pdir" <<'PY'
import hashlib, json, sys
d = sys.argv[1]
ix = bytearray(open(d + '/disk-0.idx', 'rb').read())
body = ix[:-32]
a, b = 64, 64 + 32
body[a:a + 32], body[b:b + 32] = body[b:b + 32], body[a:a + 32]
sha = hashlib.sha256(body).digest()
open(d + '/disk-0.idx', 'wb').write(bytes(body) + sha)
m = json.load(open(d + '/manifest.json'))
m['disks'][0]['index_sha256'] = sha.hex()
json.dump(m, open(d + '/manifest.json', 'w'), indent=2, sort_keys=True)
PY
expect_fail PointDamaged "swapped slots are seen by their digest" sp verify sw
check "...the report names the digest" grep -q "digest" "$T/.out"
mkdir rs
expect_fail IndexCorrupt "restore refuses the point" sp restore sw --to rs
check "...and wrote nothing" bash -c '[ -z "$(ls -A rs)" ]'
rm -rf "$pdir" && cp -a "$T/sw.orig" "$pdir"
expect_ok "the original index passes again" sp verify sw

# A chunk whose length is not its slot's: an index that claims 2 GiB
# chunks, with valid checksums, over the 4 MiB chunks of the vault.
python3 - "$pdir" <<'PY'
import hashlib, json, struct, sys
d = sys.argv[1]
ix = bytearray(open(d + '/disk-0.idx', 'rb').read())
body = ix[:-32]
size = struct.unpack_from('<Q', body, 8)[0]
struct.pack_into('<I', body, 16, 1 << 31)
count = (size + (1 << 31) - 1) >> 31
struct.pack_into('<Q', body, 24, count)
body = body[:64 + 32 * count]
sha = hashlib.sha256(body).digest()
open(d + '/disk-0.idx', 'wb').write(bytes(body) + sha)
m = json.load(open(d + '/manifest.json'))
m['disks'][0]['index_sha256'] = sha.hex()
m['disks'][0].pop('digest', None)
json.dump(m, open(d + '/manifest.json', 'w'), indent=2, sort_keys=True)
PY
expect_fail PointDamaged "a chunk shorter than its slot is damage" sp verify sw
check "...reported as ChunkCorrupt at offset 0" grep -q "bytes 0+16777216 ChunkCorrupt" "$T/.out"
rm -rf "$pdir" && cp -a "$T/sw.orig" "$pdir"

# A point directory verify cannot open counts as damage.
if command -v setpriv >/dev/null; then
	chmod 000 "$STILLPOINT_VAULT/points/sw"
	setpriv --bounding-set -dac_override,-dac_read_search \
		"$SP" --no-progress verify >"$T/o" 2>"$T/e"
	check "an unreadable point directory fails verify (exit 3)" test $? = 3
	check "...and is named" grep -q "points/sw.*Permission denied" "$T/o"
	chmod 700 "$STILLPOINT_VAULT/points/sw"
fi
expect_ok "verify is clean again" sp verify

# --check-transfer: a source written while it is backed up.
make_raw_disk c.img 64 ct
(sleep 1.2; printf 'changed' | dd of=c.img bs=1 seek=100 conv=notrunc status=none) &
STILLPOINT_TEST_HOLD=slice:150 sp backup --name ct --disk c.img \
	--check-transfer >"$T/o" 2>"$T/e"
rc=$?
wait
check "a source changed during the backup fails it" test $rc = 1
check "...with TransferCheckFailed at the changed offset" \
	grep -q "differs from what was stored for it at offset 100 " "$T/e"
check "...and no point was published" \
	bash -c '! ls "$STILLPOINT_VAULT/points/ct" 2>/dev/null | grep -q .'
expect_ok "an unchanged source passes the check" \
	sp backup --name ct2 --disk c.img --check-transfer
check "...every byte of the disk was checked" \
	bash -c "sp points ct2 --json | jqe '.[0].disks[0].bytes_checked == 67108864'"
done_testing

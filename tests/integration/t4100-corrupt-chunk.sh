#!/bin/bash
# Damage in the vault: verify names the point, disk and byte range; restore
# refuses to write silently wrong data and leaves no file; damaged
# manifests and indexes are reported too.
. "$(dirname "$0")/lib.sh"

sp init >/dev/null
make_raw_disk d.img 64 c1
id1=$(sp --json backup --name vm --disk d.img | jq -r .id)
check "point 1" test -n "$id1" 
poke d.img 33 1 c2    # changes the chunk at 32 MiB (slot 8) only
id2=$(sp --json backup --name vm --disk d.img | jq -r .id)
check "point 2" test -n "$id2" 
expect_ok "sound before damage" sp verify

# The chunk at slot 8 (offset 32 MiB) of point 1 is used only by point 1.
idx="vault/points/vm/$id1/disk-0.idx"
chunk_at() { # index, slot -> chunk path
	local hex
	hex=$(od -An -tx1 -v -j $((64 + 32 * $2)) -N 32 "$1" | tr -d ' \n')
	echo "vault/chunks/${hex:0:3}/$hex"
}
c=$(chunk_at "$idx" 8)
check "the chunk exists" test -f "$c"
printf 'XXXX' | dd of="$c" bs=1 seek=200 conv=notrunc status=none

"$SP" verify >v.out 2>v.err
check "verify exits 3 on damage" test $? = 3
check "verify names point 1, the disk and the range" \
	grep -q "vm/$id1 disk d.img: bytes 33554432+4194304 ChunkCorrupt" v.out
check "verify does not blame point 2" bash -c "! grep -q 'vm/$id2' v.out"
check "verify prints the stable code" grep -q PointDamaged v.err
"$SP" verify --json >v.json 2>/dev/null
check "verify --json lists the damaged range" \
	jqe ".damaged[0].point == \"vm/$id1\" and .damaged[0].ranges[0].offset == 33554432 and .damaged[0].ranges[0].error == \"ChunkCorrupt\"" v.json
expect_ok "verify of the sound point alone passes" sp verify "vm@$id2"

mkdir r1 r2
expect_fail ChunkCorrupt "restore of the damaged point refuses" sp restore "vm@$id1" --to r1
expect_fail ChunkCorrupt "the same into a new directory" sp restore "vm@$id1" --to new/r
check "  ... which the failed restore does not leave behind" test ! -e new/r
check "...the message names disk and offset" grep -q "disk 'd.img' at offset 33554432" "$T/.err"
check "...and leaves no file at all" test -z "$(ls -A r1)"
expect_ok "the undamaged point still restores" sp restore "vm@$id2" --to r2
check "...identically" cmp d.img r2/d.raw

# A missing chunk.
rm -f "$c"
"$SP" verify >v.out 2>&1
check "a missing chunk is ChunkMissing" grep -q "ChunkMissing" v.out
expect_fail ChunkMissing "restore with a missing chunk" sp restore "vm@$id1" --to r1
check "...leaves nothing" test -z "$(ls -A r1)"

# A new backup of the same data heals the vault for new points.
poke d.img 33 1 c1b
expect_ok "a new backup" sp backup --name vm --disk d.img

# Damaged index and manifest.
printf 'Z' | dd of="vault/points/vm/$id2/disk-0.idx" bs=1 seek=100 conv=notrunc status=none
"$SP" verify "vm@$id2" >v.out 2>&1
check "a damaged index is reported (exit 3)" test $? = 3
check "...as such" grep -q "index" v.out
expect_fail IndexCorrupt "restore with a damaged index" sp restore "vm@$id2" --to r1
echo '{ broken' >"vault/points/vm/$id1/manifest.json"
"$SP" verify >v.out 2>&1
check "a damaged manifest is reported (exit 3)" test $? = 3
check "...naming the point" grep -q "vm/$id1" v.out
done_testing

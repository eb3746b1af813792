#!/bin/bash
# gc deletes nothing when it cannot read every point: a point directory it
# cannot open (out of file descriptors, no permission) or an index that is
# damaged in any way stops it with GcUnsafe, naming the point, before it
# fossilizes anything.  After each refusal the point, repaired, restores
# byte-exact: no chunk of it was lost.
. "$(dirname "$0")/lib.sh"

nfiles() { find "$T/vault/chunks" -type f -name "${1:-*}" | wc -l; }
nfossils() { nfiles '*.fossil'; }

sp init --chunk-size 1M >/dev/null
for vm in vmA vmB vmC; do
	truncate -s 24M $vm.img
	poke $vm.img 0 8 "$vm-data"
	expect_ok "back up $vm" sp backup --name $vm --disk $vm.img
done
total=$(nfiles)
check "24 chunks stored" test "$total" = 24
sleep 2 # chunks older than any gc run below

# gc twice, as a sweep needs; both must refuse and change nothing.
gc_refuses() { # what, pattern the message must hold
	local what=$1 pattern=$2
	expect_fail GcUnsafe "$what: gc refuses" sp gc
	check "$what: the message names it" grep -q -- "$pattern" "$T/.err"
	expect_fail GcUnsafe "$what: a second gc refuses too" sp gc
	check "$what: nothing fossilized" test "$(nfossils)" = 0
	check "$what: nothing deleted" test "$(nfiles)" = "$total"
}

# restores byte-exact after repair: no chunk of it was lost
restores() { # what, vm
	local dir
	dir=$(mktemp -d "$T/r-XXXXXX")
	expect_ok "$1: $2 restores" sp restore "$2" --to "$dir"
	check "$1: byte-exact" cmp "$2.img" "$dir/$2.raw"
}

# 1. out of file descriptors while reading points/NAME/ID.  The point ids
# are opened with the vault's own descriptors in use; find a limit that
# gets that far and no further by trying from small to large.
refused=
for n in 8 9 10 11 12 13 14; do
	if (ulimit -n $n; exec "$SP" --no-progress gc) >gc.out 2>gc.err; then
		break
	fi
	if grep -q GcUnsafe gc.err; then
		refused=$n
		break
	fi
done
check "with few file descriptors gc refuses (GcUnsafe)" test -n "$refused"
check "...and says which directory it could not read" \
	grep -Eq "points|too many open files|Too many open files" gc.err
check "...nothing fossilized" test "$(nfossils)" = 0
if [ -n "$refused" ]; then
	(ulimit -n "$refused"; exec "$SP" --no-progress gc) >gc.out 2>gc.err
	check "...a second run refuses too" grep -q GcUnsafe gc.err
fi
check "...nothing deleted" test "$(nfiles)" = "$total"

# 2. a point directory without permission, for a root that honours it.
if command -v capsh >/dev/null && [ "$(id -u)" = 0 ]; then
	nodac() { capsh --drop=cap_dac_override,cap_dac_read_search -- -c '"$@"' nodac "$@"; }
	chmod 000 "$T/vault/points/vmB"
	expect_fail GcUnsafe "points/vmB unreadable: gc without DAC override" nodac "$SP" --no-progress gc
	check "points/vmB unreadable: the message names it" grep -q "points/vmB" "$T/.err"
	expect_fail GcUnsafe "points/vmB unreadable: again" nodac "$SP" --no-progress gc
	check "points/vmB unreadable: nothing fossilized" test "$(nfossils)" = 0
	check "points/vmB unreadable: nothing deleted" test "$(nfiles)" = "$total"
	chmod 755 "$T/vault/points/vmB"
	idb=$(point_ids vmB)
	chmod 000 "$T/vault/points/vmB/$idb"
	expect_fail GcUnsafe "point vmB@ID unreadable: gc refuses" nodac "$SP" --no-progress gc
	check "...naming the point" grep -q "vmB@$idb" "$T/.err"
	check "...nothing fossilized" test "$(nfossils)" = 0
	chmod 700 "$T/vault/points/vmB/$idb"
	restores "permissions back" vmB

	# the same in the trash
	expect_ok "delete vmC" sp delete "vmC@$(point_ids vmC)"
	chmod 000 "$T/vault/trash/vmC"
	expect_fail GcUnsafe "trash/vmC unreadable: gc refuses" nodac "$SP" --no-progress gc
	check "...naming it" grep -q "trash/vmC" "$T/.err"
	check "...nothing fossilized" test "$(nfossils)" = 0
	check "...nothing deleted" test "$(nfiles)" = "$total"
	chmod 700 "$T/vault/trash/vmC"
	expect_ok "undelete vmC" sp undelete "vmC@$(sp trash --json | jq -r '.[0].id')"
else
	say "# skipped the permission cases (needs root and capsh)"
fi

# 3. damaged indexes: each is detected by the checks a reader makes.
ida=$(point_ids vmA)
idx="$T/vault/points/vmA/$ida/disk-0.idx"
cp "$idx" good.idx
damage() { # what, python statement on bytearray b
	cp good.idx "$idx"
	python3 - "$idx" "$2" <<'EOF'
import sys
p, stmt = sys.argv[1], sys.argv[2]
b = bytearray(open(p, 'rb').read())
exec(stmt)
open(p, 'wb').write(bytes(b))
EOF
	gc_refuses "$1" "vmA@$ida"
	cp good.idx "$idx"
	restores "$1, index repaired" vmA
}
damage "id count zeroed" "b[24:32] = bytes(8)"
damage "a byte flipped in every id" \
	"n = int.from_bytes(b[24:32], 'little')
for i in range(n): b[64 + 32 * i + 5] ^= 0x40"
damage "7 bytes damaged at offset 100" "b[100:107] = b'\\xff' * 7"
damage "index truncated" "del b[-40:]"
damage "index longer than its slots" "b.extend(bytes(32))"

# an index that is sound in itself but not the one of the manifest
cp good.idx "$idx"
cp "$T/vault/points/vmB/$(point_ids vmB)/disk-0.idx" "$idx"
gc_refuses "another point's index" "vmA@$ida"
cp good.idx "$idx"

# an index whose checksum and index_sha256 agree, but whose disk size is
# not the manifest's
man="$T/vault/points/vmA/$ida/manifest.json"
cp "$man" good.json
# resign EDIT: apply the Python statement EDIT to the index's bytes b,
# then make its checksum and the manifest's index_sha256 agree anew.
cat >resign.py <<'EOF'
import hashlib, json, sys
p, m, edit = sys.argv[1], sys.argv[2], sys.argv[3]
b = bytearray(open(p, 'rb').read())
exec(edit)
body = bytes(b[:-32])
b[-32:] = hashlib.sha256(body).digest()
open(p, 'wb').write(bytes(b))
j = json.load(open(m))
j['disks'][0]['index_sha256'] = hashlib.sha256(body).hexdigest()
json.dump(j, open(m, 'w'), indent=2, sort_keys=True)
EOF
resign() { python3 resign.py "$idx" "$man" "$1"; }

# same slot count, 4 KiB less
resign "b[8:16] = (int.from_bytes(b[8:16], 'little') - 4096).to_bytes(8, 'little')"
gc_refuses "an index of another disk size" "vmA@$ida"
cp good.idx "$idx"
cp good.json "$man"
restores "manifest and index repaired" vmA

# a data slot replaced by a zero slot, checksum and index_sha256 made
# anew: only the disk's digest tells
check "the manifest records the disk's digest" jqe '.disks[0].digest' "$man"
resign "b[64 + 32 * 7:64 + 32 * 8] = bytes(32)"   # slot 7 held data
gc_refuses "a slot substituted, checksums made anew" "digest"
cp good.idx "$idx"
cp good.json "$man"
restores "index repaired after a substituted slot" vmA

# 4. with every point readable, gc works: nothing is unreferenced.
expect_ok "gc runs" sp gc --json
check "...and fossilizes nothing a point needs" jqe '.fossilized == 0 and .referenced == 24' "$T/.out"
expect_ok "the vault verifies" sp verify
done_testing

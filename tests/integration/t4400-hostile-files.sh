#!/bin/bash
# Files of the vault are opened without following a symbolic link and
# without waiting on a FIFO: a chunk replaced by a FIFO or a directory is
# reported as a damaged chunk at once (verify goes on with the other
# points, restore stops), a FIFO in place of a manifest, an index, a trash
# record or gc's state hangs nothing, and a lock file replaced by a link
# is refused, naming the file, without creating the link's target.
. "$(dirname "$0")/lib.sh"

# every command here must finish well inside this
quick() { timeout -k 2 20 "$@"; }

sp init --chunk-size 1M >/dev/null
truncate -s 8M a.img b.img
poke a.img 0 4 a-data
poke b.img 0 4 b-data
ida=$(sp --json backup --name va --disk a.img | jq -r .id)
idb=$(sp --json backup --name vb --disk b.img | jq -r .id)
check "two points" test -n "$ida" -a -n "$idb"
chunk_at() { # index, slot -> chunk path
	local hex
	hex=$(od -An -tx1 -v -j $((64 + 32 * $2)) -N 32 "$1" | tr -d ' \n')
	echo "$T/vault/chunks/${hex:0:3}/$hex"
}
c=$(chunk_at "$T/vault/points/va/$ida/disk-0.idx" 1)
check "the chunk of va's slot 1 exists" test -f "$c"
cp "$c" chunk.good

# 1. a chunk that is a FIFO
rm "$c"
mkfifo "$c"
quick "$SP" --no-progress verify --json >v.json 2>v.err
check "verify with a FIFO chunk ends, with damage (exit 3)" test $? = 3
check "...va's slot 1 is ChunkCorrupt" \
	jqe ".damaged | length == 1 and .[0].point == \"va/$ida\" and .[0].ranges[0].offset == 1048576 and .[0].ranges[0].error == \"ChunkCorrupt\"" v.json
mkdir r1
expect_fail ChunkCorrupt "restore with a FIFO chunk fails at once" quick "$SP" --no-progress restore va --to r1
check "...saying the chunk is not a regular file" grep -q "is not a regular file" "$T/.err"
check "...and leaves nothing" test -z "$(ls -A r1)"
expect_ok "vb still restores" quick "$SP" --no-progress restore vb --to r1
check "...identically" cmp b.img r1/b.raw

# 2. a chunk that is a directory: one damaged point, not an aborted verify
rm "$c"
mkdir "$c"
expect_fail ChunkCorrupt "a backup that needs a chunk taken by a directory fails" \
	quick "$SP" --no-progress backup --name va --disk a.img
check "...naming it" grep -q "is a directory, not a chunk" "$T/.err"
quick "$SP" --no-progress verify --json >v.json 2>v.err
check "verify with a directory chunk reports damage (exit 3)" test $? = 3
check "...only va, at slot 1" \
	jqe ".damaged | length == 1 and .[0].point == \"va/$ida\" and .[0].ranges[0].error == \"ChunkCorrupt\"" v.json
check "...and read every other chunk, vb's too" jqe '.chunks == 8 and .bytes == 7 * 1048576' v.json
rmdir "$c"

# 3. a chunk that is a symbolic link to an equal copy outside the vault
ln -s "$T/chunk.good" "$c"
quick "$SP" --no-progress verify --json >v.json 2>v.err
check "a symlinked chunk is damage too" \
	jqe ".damaged | length == 1 and .[0].ranges[0].error == \"ChunkCorrupt\"" v.json
rm "$c"
cp chunk.good "$c"
expect_ok "with the chunk back the vault verifies" quick "$SP" --no-progress verify

# 4. FIFOs for a manifest and an index: verify reports, and ends
pa="$T/vault/points/va/$ida"
mv "$pa/manifest.json" manifest.good
mkfifo "$pa/manifest.json"
quick "$SP" --no-progress verify --json >v.json 2>v.err
check "a FIFO manifest is reported as damage" \
	jqe '.damaged | length == 1 and (.[0].error | test("not a regular file"))' v.json
expect_fail GcUnsafe "gc refuses with a FIFO manifest, at once" quick "$SP" --no-progress gc
rm "$pa/manifest.json"
mv manifest.good "$pa/manifest.json"
mv "$pa/disk-0.idx" index.good
mkfifo "$pa/disk-0.idx"
quick "$SP" --no-progress verify --json >v.json 2>v.err
check "a FIFO index is reported as damage" \
	jqe '.damaged | length == 1 and (.[0].error | test("not a regular file"))' v.json
expect_fail IndexCorrupt "restore refuses a FIFO index, at once" quick "$SP" --no-progress restore va --to r1
rm "$pa/disk-0.idx"
mv index.good "$pa/disk-0.idx"

# 5. FIFOs for gc's state and a trash record
mkfifo "$T/vault/gc.json"
expect_ok "gc with a FIFO gc.json runs (no state to sweep)" quick "$SP" --no-progress gc
check "...and leaves a real gc.json" test -f "$T/vault/gc.json"
expect_ok "delete vb" sp delete "vb@$idb" --retain-days 0
rm "$T/vault/trash/vb/$idb/deleted.json"
mkfifo "$T/vault/trash/vb/$idb/deleted.json"
expect_ok "gc with a FIFO trash record runs" quick "$SP" --no-progress gc --json
check "...and keeps the entry, reported" jqe ".trash_kept[0].entry == \"vb@$idb\"" "$T/.out"
expect_ok "the trash lists" quick "$SP" --no-progress trash
rm "$T/vault/trash/vb/$idb/deleted.json"
expect_ok "undelete vb" sp undelete "vb@$idb"

# 6. lock files replaced by links: refused, the target never created
mkdir outside
for lock in lock trash.lock gc.lock; do
	rm -f "$T/vault/$lock"
	ln -s "$T/outside/$lock" "$T/vault/$lock"
done
expect_fail VaultFileNotRegular "a command with 'lock' a symlink is refused" sp points
check "...naming the file" grep -q "$T/vault/lock" "$T/.err"
check "...and the fix" grep -q "remove it" "$T/.err"
expect_fail VaultFileNotRegular "a backup too" sp backup --name va --disk a.img
rm "$T/vault/lock"
expect_fail VaultFileNotRegular "delete with 'trash.lock' a symlink" sp delete "va@$ida"
check "...naming it" grep -q "trash.lock" "$T/.err"
expect_fail VaultFileNotRegular "gc with 'gc.lock' a symlink" sp gc
check "...naming it" grep -q "gc.lock" "$T/.err"
check "no file was created outside the vault" test -z "$(ls -A outside)"
rm -f "$T/vault/lock" "$T/vault/trash.lock" "$T/vault/gc.lock"
mkfifo "$T/vault/lock"
expect_fail VaultFileNotRegular "a FIFO 'lock' is refused at once" quick "$SP" --no-progress points
rm "$T/vault/lock"

# 7. the vault's configuration as a link
mv "$T/vault/stillpoint-vault.json" cfg.good
ln -s "$T/cfg.good" "$T/vault/stillpoint-vault.json"
expect_fail VaultFileNotRegular "a symlinked vault configuration is refused" sp points
rm "$T/vault/stillpoint-vault.json"
mv cfg.good "$T/vault/stillpoint-vault.json"
expect_ok "all back: the vault verifies" sp verify
# 6. a backup of the same data does not take a FIFO for the chunk: it
# stores the chunk again in its place, which repairs the older point
rm "$c"
mkfifo "$c"
expect_ok "a backup of va's data under another name" \
	quick "$SP" --no-progress backup --name va2 --disk a.img
check "...put a chunk back in the FIFO's place" test -f "$c" -a ! -p "$c"
expect_ok "...and every point verifies again" quick "$SP" --no-progress verify
mkdir r6
expect_ok "the first point of va restores" quick "$SP" --no-progress restore "va@$ida" --to r6
check "...identically" cmp a.img r6/a.raw

# 8. a vault directory replaced by a link to another place: refused before
# anything under it is read, written or deleted
for d in chunks points tmp; do
	mv "$T/vault/$d" "$T/moved-$d"
	ln -s "$T/moved-$d" "$T/vault/$d"
	before=$(find "$T/moved-$d" | sort | md5sum)
	expect_fail VaultFileNotRegular "a symlinked '$d' is refused by backup" \
		quick "$SP" --no-progress backup --name va3 --disk a.img
	expect_fail VaultFileNotRegular "...and by gc" quick "$SP" --no-progress gc
	check "...which changed nothing behind the link" \
		test "$(find "$T/moved-$d" | sort | md5sum)" = "$before"
	rm "$T/vault/$d"
	mv "$T/moved-$d" "$T/vault/$d"
done
expect_ok "all back: the vault verifies" sp verify
done_testing

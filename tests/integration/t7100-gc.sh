#!/bin/bash
# gc reclaims the chunks of a deleted and purged point in two runs, never
# loses a chunk a running backup relies on (it runs twice while a backup
# that shares chunks with the deleted point is held mid-disk), and a kill
# -9 in the middle of either step leaves a vault that verifies.
. "$(dirname "$0")/lib.sh"

# sp with the trash clock 30 days ahead: every deleted point expired
later() { STILLPOINT_NOW=$(($(date +%s) + 30 * 86400)) "$SP" --no-progress "$@"; }
nfiles() { find "$T/vault/chunks" -type f -name "${1:-*}" | wc -l; }

sp init --chunk-size 1M >/dev/null
truncate -s 40M a.img
poke a.img 0 16 shared
poke a.img 24 8 onlya
cp --sparse=always a.img b.img
poke b.img 24 8 onlyb

# 1. reclaim: delete, purge, fossilize, sweep.
expect_ok "back up a" sp backup --name va --disk a.img
ida=$(point_ids va)
check "24 chunks stored" test "$(nfiles)" = 24
expect_ok "delete it" sp delete "va@$ida"
sleep 2 # chunks older than the gc run
expect_ok "gc 1 purges and fossilizes" later gc --json
check "24 fossilized, none deleted" \
	jqe '.trash_purged | length == 1' "$T/.out"
check "report" jqe '.fossilized == 24 and .deleted == 0 and .referenced == 0' "$T/.out"
check "24 fossils on disk" test "$(nfiles '*.fossil')" = 24
expect_ok "gc 2 sweeps" later gc --json
check "24 deleted, bytes freed" jqe '.swept and .deleted == 24 and .bytes_freed > 0' "$T/.out"
check "no chunk left" test "$(nfiles)" = 0
check "gc.json records the state" jqe '.state == "fossils" and .fossils == 0' "$T/vault/gc.json"

# 2. a held backup sharing chunks with a deleted point, gc twice meanwhile.
expect_ok "back up a again" sp backup --name va --disk a.img
ida=$(point_ids va)
expect_ok "delete it" sp delete "va@$ida"
sleep 2
STILLPOINT_TEST_HOLD=slice:200 "$SP" --no-progress --threads 2 \
	backup --name vb --disk b.img >b.out 2>&1 &
bpid=$!
at_exit "kill $bpid"
sleep 1.5
check "the backup is running" kill -0 $bpid
expect_ok "gc 1 during the backup" later gc --json
cp "$T/.out" gc1.json
check "it fossilized what the backup had not reached yet" \
	jqe '.fossilized > 0 and .referenced > 0' gc1.json
check "it recorded the running backup's draft" \
	jqe '.drafts | length == 1' "$T/vault/gc.json"
expect_ok "gc 2 during the backup" later gc --json
check "it waits for the backup, deletes nothing" \
	jqe '(.waiting_for | length == 1) and .deleted == 0' "$T/.out"
check "the backup was still running" kill -0 $bpid
wait $bpid
check "the backup succeeded" test $? = 0
check "it deduplicated against the fossils (only onlyb is new)" \
	bash -c "sp points vb --json | jqe '.[0].disks[0].chunks_new == 8'"
expect_ok "the vault verifies" sp verify
mkdir r1
expect_ok "the new point restores" sp restore vb --to r1
check "byte-exact" cmp b.img r1/b.raw
expect_ok "gc 3 sweeps" later gc --json
check "it deleted only a's own chunks" jqe '.swept and .deleted == 8' "$T/.out"
check "no fossil left" test "$(nfiles '*.fossil')" = 0
check "exactly b's 24 chunks remain" test "$(nfiles)" = 24
expect_ok "the vault verifies" sp verify
mkdir r2
expect_ok "restores again" sp restore vb --to r2
check "byte-exact" cmp b.img r2/b.raw

# 3. kill -9 of gc in the middle of the mark's renames, then of a sweep.
truncate -s 16M c.img
poke c.img 0 16 cdata
expect_ok "back up c" sp backup --name vc --disk c.img
expect_ok "delete it" sp delete "vc@$(point_ids vc)"
sleep 2
for step in fossilize sweep; do
	(
		export STILLPOINT_TEST_HOLD=gc:150
		export STILLPOINT_NOW=$(($(date +%s) + 30 * 86400))
		exec "$SP" --no-progress gc >gc.out 2>&1
	) &
	gpid=$!
	sleep 1
	kill -9 $gpid 2>/dev/null
	wait $gpid 2>/dev/null
	check "$step: gc was killed in the middle" \
		bash -c "n=\$(find '$T/vault/chunks' -name '*.fossil' | wc -l); [ \$n -gt 0 ] && [ \$n -lt 16 ]"
	expect_ok "$step: the vault verifies after kill -9" sp verify
	mkdir "r-$step"
	expect_ok "$step: vb restores" sp restore vb --to "r-$step"
	check "$step: byte-exact" cmp b.img "r-$step/b.raw"
	if [ $step = fossilize ]; then
		expect_ok "a complete gc after the killed one" later gc --json
		check "it swept nothing of the killed run" jqe '.deleted == 0' "$T/.out"
	fi
done
expect_ok "gc completes the sweep" later gc --json
expect_ok "and once more" later gc --json
check "c's chunks are gone, b's remain" test "$(nfiles)" = 24
expect_ok "the vault verifies" sp verify
mkdir r3
expect_ok "vb restores" sp restore vb --to r3
check "byte-exact" cmp b.img r3/b.raw
expect_ok "gc --help" sp gc --help
done_testing

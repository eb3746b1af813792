#!/bin/bash
# What cannot be read is kept and reported, never removed blindly: a trash
# entry whose deleted.json is damaged, missing or not a file survives gc's
# purge however old it is, and gc says so; prune leaves a point whose
# manifest it cannot read and lists it as unreadable.
. "$(dirname "$0")/lib.sh"
export STILLPOINT_STATE_DIR="$T/state"

later() { STILLPOINT_NOW=$(($(date +%s) + 30 * 86400)) "$SP" --no-progress "$@"; }

sp init --chunk-size 1M >/dev/null
truncate -s 8M d.img
for i in 1 2 3 4; do
	poke d.img 0 2 "v$i"
	expect_ok "backup $i" sp backup --name vm --disk d.img
done
ids=($(point_ids vm))

# 1. the trash: three entries whose record cannot be used, one sound
for i in 0 1 2 3; do
	expect_ok "delete point $i" sp delete "vm@${ids[i]}"
done
rec() { echo "$T/vault/trash/vm/${ids[$1]}/deleted.json"; }
echo '{"expires_at": "soon"' >"$(rec 0)"
rm "$(rec 1)"
rm "$(rec 2)"
mkdir "$(rec 2)"
expect_ok "gc with the trash clock 30 days ahead" later gc --json
cp "$T/.out" gc.json
check "the sound entry is purged" jqe ".trash_purged == [\"vm@${ids[3]}\"]" gc.json
check "the three others are kept and reported" \
	jqe '.trash_kept | length == 3' gc.json
for i in 0 1 2; do
	check "entry $i is named in the report" \
		jqe ".trash_kept | map(.entry) | index(\"vm@${ids[i]}\")" gc.json
	check "entry $i is still in the trash" test -d "$T/vault/trash/vm/${ids[i]}"
done
expect_ok "gc in text" later gc
check "the text says which entries it kept" grep -q "kept, cannot be read: vm@${ids[0]}" "$T/.out"
check "and stderr warns" grep -q "cannot read trash entry" "$T/.err"
expect_ok "the trash lists them with the error" sp --json trash
check "each with an error" jqe '[.[] | select(.error)] | length == 3' "$T/.out"
for i in 0 1 2; do
	expect_ok "undelete entry $i" sp undelete "vm@${ids[i]}"
done

# 2. prune: a point with a damaged manifest is kept and reported
expect_ok "a policy keeping the newest only" sp policy create one --schedule "daily 02:00" --keep-last 1
expect_ok "protect vm" sp protect vm --policy one
ids=($(point_ids vm))
check "three points" test ${#ids[@]} = 3
echo garbage >"$T/vault/points/vm/${ids[0]}/manifest.json"
expect_ok "prune" sp --json prune vm
cp "$T/.out" prune.json
check "the unreadable point is reported" \
	jqe "(.[0].unreadable | length == 1) and .[0].unreadable[0].point == \"vm@${ids[0]}\"" prune.json
check "and is still there" test -f "$T/vault/points/vm/${ids[0]}/disk-0.idx"
check "the readable older one went to the trash" \
	jqe ".[0].deleted | map(.id) == [\"${ids[1]}\"]" prune.json
check "stderr warns about it" grep -q "cannot read point vm@${ids[0]}" "$T/.err"
expect_ok "prune --dry-run in words" sp prune vm --dry-run
check "...lists the unreadable point as kept" \
	grep -q "keep    vm@${ids[0]}  (unreadable: " "$T/.out"
done_testing

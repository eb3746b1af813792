#!/bin/bash
# Two processes backing up into one vault at once, and a reader listing
# while they write: both points complete, none half-visible.
. "$(dirname "$0")/lib.sh"

sp init >/dev/null
truncate -s 256M a.img
poke a.img 0 64 shared
cp --sparse=always a.img b.img
poke b.img 100 32 onlyb
cp --sparse=always a.img c.img

( while :; do
	sp points --json >>listings.json 2>>listings.err || echo FAIL >>listings.err
	echo >>listings.json
	sleep 0.1
  done ) &
lister=$!
at_exit "kill $lister"

sp backup --name vma --disk a.img >a.out 2>&1 & p1=$!
sp backup --name vmb --disk b.img >b.out 2>&1 & p2=$!
sp backup --name vma --disk c.img >c.out 2>&1 & p3=$!
wait $p1; r1=$?
wait $p2; r2=$?
wait $p3; r3=$?
kill $lister 2>/dev/null; wait $lister 2>/dev/null
check "backup 1 succeeded" test $r1 = 0
check "backup 2 succeeded" test $r2 = 0
check "backup 3 (same VM name, at once) succeeded" test $r3 = 0
check "three points listed" bash -c "sp points --json | jqe 'length == 3' >/dev/null"
check "the lister never failed" bash -c "! grep -q FAIL listings.err"
check "every point the lister saw was complete" \
	bash -c "jq -s 'map(.[]) | all(.disks | length == 1 and .[0].index_sha256 != null)' listings.json | jqe "."  >/dev/null"
expect_ok "vault verifies" sp verify
mkdir ra rb
expect_ok "restore vmb" sp restore vmb --to rb
check "vmb identical" cmp b.img rb/b.raw
for id in $(point_ids vma); do
	mkdir "r-$id"
	expect_ok "restore vma@$id" sp restore "vma@$id" --to "r-$id"
done
check "vma points hold a.img and c.img" \
	bash -c "ls r-*/ | grep -q a.raw && ls r-*/ | grep -q c.raw"
done_testing

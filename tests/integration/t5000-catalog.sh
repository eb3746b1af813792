#!/bin/bash
# The catalog is derived data: lost, stale or rebuilt, listings stay right.
. "$(dirname "$0")/lib.sh"

sp init >/dev/null
make_raw_disk d.img 16 cat
for i in 1 2 3; do
	poke d.img 1 1 "cat$i"
	sp backup --name vm --disk d.img >/dev/null
done
sp backup --name other --disk d.img >/dev/null
check "four points listed" bash -c "sp points --json | jqe 'length == 4' >/dev/null"
rm -f vault/catalog.sqlite*
check "with the catalog deleted, listing rebuilds it" \
	bash -c "sp points --json | jqe 'length == 4' >/dev/null"
check "the catalog file is back" test -f vault/catalog.sqlite
victim=$(point_ids vm | head -1)
rm -rf "vault/points/vm/$victim"
check "a point removed by hand leaves the listing" \
	bash -c "sp points vm --json | jqe 'length == 2 and all(.id != \"$victim\")' >/dev/null"
expect_ok "catalog rebuild" sp catalog rebuild
check "listing after rebuild" bash -c "sp points --json | jqe 'length == 3' >/dev/null"
check "points are listed oldest first" \
	bash -c "sp points vm --json | jqe '.[0].time <= .[1].time' >/dev/null"
check "listing of one VM only shows it" \
	bash -c "sp points other --json | jqe 'length == 1 and .[0].name == \"other\"' >/dev/null"
expect_ok "human listing" sp points
check "human listing shows disks and sizes" grep -q "d.img" "$T/.out"
done_testing

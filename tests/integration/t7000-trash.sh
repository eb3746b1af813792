#!/bin/bash
# Soft delete: a deleted point leaves the listings and restore refuses it
# (naming the trash and undelete); undelete brings it back whole; after it
# expires (an injected clock, STILLPOINT_NOW) gc purges it for good.
. "$(dirname "$0")/lib.sh"

# sp with the trash clock set to $1 (UNIX seconds)
at_time() { local t=$1; shift; STILLPOINT_NOW=$t "$SP" --no-progress "$@"; }

sp init >/dev/null
make_raw_disk d.img 64 t1
cp --sparse=always d.img first.img
expect_ok "a first point" sp backup --name vm --disk d.img
poke d.img 10 2 t2
expect_ok "a second point" sp backup --name vm --disk d.img
first=$(point_ids vm | head -n1)
second=$(point_ids vm | tail -n1)
check "two points" test -n "$first" -a "$first" != "$second"

expect_ok "delete the first" sp delete "vm@$first" --reason "bad patch"
check "it is no longer listed" \
	bash -c "sp points vm --json | jqe 'length == 1 and .[0].id == \"$second\"'"
check "nor in the catalog-free listing" \
	bash -c "rm -f '$T/vault/catalog.sqlite'; sp points vm --json | jqe 'length == 1'"
expect_fail PointNotFound "restore refuses the deleted point" \
	sp restore "vm@$first" --to r0
check "the refusal names the trash and undelete" \
	bash -c "grep -q 'trash' '$T/.err' && grep -q 'undelete vm@$first' '$T/.err'"
expect_fail PointNotFound "deleting it again refuses" sp delete "vm@$first"
expect_fail UsageError "delete wants NAME@ID" sp delete vm
check "the trash lists it with its reason and expiry" \
	bash -c "sp trash --json | jqe 'length == 1 and .[0].id == \"$first\" and .[0].why == \"bad patch\" and (.[0].expires_at | test(\"Z\$\"))'"
check "on disk: trash/vm/ID with deleted.json" \
	test -f "$T/vault/trash/vm/$first/deleted.json" -a ! -e "$T/vault/points/vm/$first"
expect_ok "verify ignores the trash" sp verify

expect_ok "gc while it is in the trash" at_time $(($(date +%s) + 86400)) gc
expect_ok "gc again" at_time $(($(date +%s) + 86400)) gc
expect_ok "undelete it" sp undelete "vm@${first:0:20}"
check "listed again" bash -c "sp points vm --json | jqe 'length == 2'"
check "the trash is empty" bash -c "sp trash --json | jqe 'length == 0'"
check "no stale record in the point" test ! -e "$T/vault/points/vm/$first/deleted.json"
mkdir r1
expect_ok "it restores" sp restore "vm@$first" --to r1
check "byte-exact after two gc runs" cmp first.img r1/d.raw
expect_fail PointNotFound "undelete of a point not in the trash" sp undelete "vm@$first"
expect_ok "the vault verifies" sp verify

now=$(date +%s)
expect_ok "delete it for two days" at_time $now delete "vm@$first" --retain-days 2
expect_ok "gc one day later" at_time $((now + 86400)) gc --json
check "did not purge it" jqe '.trash_purged | length == 0' "$T/.out"
check "still in the trash" bash -c "sp trash --json | jqe 'length == 1'"
expect_ok "gc --dry-run three days later" at_time $((now + 3 * 86400)) gc --dry-run --json
check "would purge it" jqe ".dry_run and .trash_purged == [\"vm@$first\"]" "$T/.out"
check "but did not" bash -c "sp trash --json | jqe 'length == 1'"
expect_ok "gc three days later" at_time $((now + 3 * 86400)) gc --json
check "purged it" jqe ".trash_purged == [\"vm@$first\"]" "$T/.out"
check "the trash is empty" bash -c "sp trash --json | jqe 'length == 0'"
expect_fail PointNotFound "undelete after the purge" sp undelete "vm@$first"
check "the refusal names the trash" grep -q "trash" "$T/.err"
expect_ok "the other point verifies" sp verify
mkdir r2
expect_ok "and restores" sp restore vm --to r2
check "byte-exact" cmp d.img r2/d.raw
expect_ok "help is a manual" sp delete --help
check "with a synopsis" grep -q SYNOPSIS "$T/.out"
done_testing

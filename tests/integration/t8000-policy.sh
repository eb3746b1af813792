#!/bin/bash
# Policies and protection without a daemon: create, show, edit, list and
# delete policies (bad schedules refused by name, a policy in use kept);
# protect, protected, unprotect; prune by retention into the trash (dry
# run first, which says why each point stays), undelete from it; the job
# history of direct backups.
. "$(dirname "$0")/lib.sh"
export STILLPOINT_STATE_DIR="$T/state"

sp init >/dev/null
expect_ok "create a policy" sp policy create nightly --schedule "daily 02:00" \
	--window 02:00-04:00 --tz Europe/Berlin --keep-last 2 --keep-daily 7 \
	--keep-weekly 4 --keep-monthly 12 --keep-yearly 2
expect_ok "show it as JSON" sp --json policy show nightly
check "its schedule, window, zone and counts are kept" \
	jqe '.schedule == "daily 02:00" and .window == "02:00-04:00" and .tz == "Europe/Berlin" and .keep == {"last":2,"daily":7,"weekly":4,"monthly":12,"yearly":2} and .soft_delete_days == 14' "$T/.out"
expect_fail PolicyExists "the same name twice" sp policy create nightly --schedule "daily 03:00"
expect_fail UsageError "an hour that does not exist" sp policy create bad --schedule "daily 25:00"
check "the message names the bad part" grep -q "25:00" "$T/.err"
expect_fail UsageError "an unknown day" sp policy create bad --schedule "weekly funday 02:00"
expect_fail UsageError "an unknown time zone" sp policy create bad --schedule "daily 02:00" --tz Mars/Olympus
expect_fail UsageError "a window that misses the time" sp policy create bad --schedule "daily 05:00" --window 02:00-04:00
expect_ok "an Azure-like enhanced policy" sp policy create hourly --schedule "every 4h from 08:00 for 12h" --keep-last 1
expect_ok "edit a count" sp policy edit hourly --keep-daily 3
check "the edit kept the rest" bash -c "sp --json policy show hourly | jqe '.keep.daily == 3 and .keep.last == 1 and .schedule == \"every 4h from 08:00 for 12h\"'"
expect_fail PolicyNotFound "edit an unknown policy" sp policy edit nosuch --keep-last 1
sp --json policy list >pl.json
check "list has both, by name" jqe '[.[].name] == ["hourly","nightly"]' pl.json

# Points of a VM made from disk images, then protected.
make_raw_disk d.img 64 s1
for i in 1 2 3 4 5; do
	poke d.img 1 1 "change$i"
	sp backup --name vm1 --disk d.img >/dev/null || die "backup $i"
done
expect_fail PolicyNotFound "protect with an unknown policy" sp protect vm1 --policy nosuch
expect_ok "protect vm1" sp protect vm1 --policy hourly
sp --json protected >pr.json
check "protected lists it with its policy, vault and next run" \
	jqe ".[0].vm == \"vm1\" and .[0].policy == \"hourly\" and .[0].vault == \"$T/vault\" and (.[0].next_run > now)" pr.json
expect_fail PolicyInUse "a policy in use cannot be deleted" sp policy delete hourly
check "the message names the VM" grep -q vm1 "$T/.err"

expect_ok "prune dry run" sp --json prune vm1 --dry-run
cp "$T/.out" dry.json
newest=$(point_ids vm1 | tail -1)
check "dry run: keep last 1 and daily 3 keep the newest only (same day)" \
	jqe ".[0].dry_run and (.[0].kept | length) == 1 and .[0].kept[0].id == \"$newest\" and (.[0].deleted | length) == 4" dry.json
check "the kept point says which rules keep it" \
	jqe '.[0].kept[0].why | test("last 1/1") and test("daily") and test("newest")' dry.json
check "a dry run deletes nothing" test "$(point_ids vm1 | wc -l)" = 5
expect_ok "prune" sp prune vm1
check "four points went, the newest stayed" \
	bash -c "[ \"\$(point_ids vm1)\" = $newest ]"
expect_ok "the trash lists them" sp --json trash
check "four points in the trash, recoverable for 14 days" \
	jqe '[.[] | select(.name == "vm1")] | length == 4' "$T/.out"
first=$(jq -r '[.[] | select(.name == "vm1")][0].id' "$T/.out")
expect_ok "undelete one" sp undelete "vm1@$first"
check "it is listed again" bash -c "point_ids vm1 | grep -qx $first"
mkdir r
expect_ok "and restores" sp restore "vm1@$first" --to r
expect_ok "verify" sp verify

expect_ok "unprotect keeping the points" sp unprotect vm1
expect_fail NotProtected "unprotect twice" sp unprotect vm1
expect_ok "now the policy can go" sp policy delete hourly
expect_fail PolicyNotFound "and is gone" sp policy show hourly

expect_ok "jobs lists nothing for image backups" sp --json jobs
check "no job records for --disk backups" jqe 'length == 0' "$T/.out"
expect_fail JobNotFound "an unknown job" sp job 999
expect_fail UsageError "a bad --since" sp jobs --since yesterdayish
done_testing

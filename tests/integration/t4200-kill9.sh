#!/bin/bash
# kill -9 at random moments of a backup: the vault always verifies, lists
# only complete points, and the next backup succeeds, cleaning the drafts of
# dead processes.
. "$(dirname "$0")/lib.sh"

sp init >/dev/null
truncate -s 512M d.img
poke d.img 0 96 k1
poke d.img 200 96 k2
expect_ok "a first complete point" sp backup --name vm --disk d.img
poke d.img 300 96 k3
RANDOM=42
for i in 1 2 3 4 5 6; do
	"$SP" --no-progress --threads 2 backup --name vm --disk d.img >/dev/null 2>&1 &
	pid=$!
	sleep "0.$((RANDOM % 9 + 1))$((RANDOM % 10))"
	kill -9 $pid 2>/dev/null
	wait $pid 2>/dev/null
	expect_ok "round $i: vault verifies after kill -9" sp verify
	check "round $i: every listed point restores completely (manifest has its disk)" \
		bash -c "sp points vm --json | jqe 'all(.disks | length == 1)' >/dev/null"
done
n_before=$(sp points vm --json | jq length)
expect_ok "the next backup succeeds" sp backup --name vm --disk d.img
check "it added exactly one point" test "$(sp points vm --json | jq length)" = $((n_before + 1))
check "drafts of the killed backups were cleaned" bash -c "[ -z \"\$(ls -A $T/vault/tmp)\" ]"
mkdir r
expect_ok "the newest point restores" sp restore vm --to r
check "identically" cmp d.img r/d.raw
done_testing

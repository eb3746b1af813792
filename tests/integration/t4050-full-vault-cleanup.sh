#!/bin/bash
# A full vault can be cleaned with the tool alone: once backups fail with
# VaultFull and not a byte is left, delete still moves points to the trash
# (its record goes into the reserve init set aside), gc purges them and
# collects their chunks in its two runs, and a new backup then succeeds;
# the vault verifies at every step.
. "$(dirname "$0")/lib.sh"
need_root

mkdir vault
mount -t tmpfs -o size=48m tmpfs vault || { say "cannot mount tmpfs"; exit 77; }
at_exit "umount -l $T/vault"
sp init --chunk-size 1M >/dev/null
check "init set a reserve aside" test -f vault/reserve
later() { STILLPOINT_NOW=$(($(date +%s) + 60)) "$SP" --no-progress "$@"; }

# Fill it: incompressible disks until a backup fails for lack of space.
n=0 full=
while [ $n -lt 12 ]; do
	n=$((n + 1))
	truncate -s 8M "d$n.img"
	poke "d$n.img" 0 8 "fill$n"
	if ! sp backup --name "vm$n" --disk "d$n.img" >b.out 2>b.err; then
		grep -q VaultFull b.err && full=$n
		break
	fi
done
check "backups end with VaultFull" test -n "$full"
# not a block left: the rest goes to a file of no use
dd if=/dev/zero of=vault/filler bs=4k status=none 2>/dev/null
check "the file system is full to the last block" \
	test "$(stat -f -c %a vault)" = 0
expect_fail VaultFull "a backup fails" sp backup --name more --disk d1.img
expect_ok "the vault verifies" sp verify

# Clean it up with the tool.
last=$((full - 1))
for i in $(seq 1 $((last - 1))); do
	expect_ok "delete vm$i's point, retained 0 days" \
		sp delete "vm$i@$(point_ids "vm$i")" --retain-days 0
done
check "the reserve was used" test ! -e vault/reserve
expect_ok "the vault verifies" sp verify
sleep 2 # the chunks are older than the gc runs
expect_ok "gc 1 purges the trash and fossilizes" later gc --json
check "...every deleted point purged" jqe ".trash_purged | length == $((last - 1))" "$T/.out"
check "...their chunks, and the failed backup's, are fossils" jqe '.fossilized >= 8' "$T/.out"
expect_ok "the vault verifies" sp verify
expect_ok "gc 2 sweeps" later gc --json
check "...and frees the space" jqe '.deleted >= 8 and .bytes_freed >= 8 * 1048576' "$T/.out"
check "the reserve is set aside again" test -f vault/reserve
expect_ok "the vault verifies" sp verify
expect_ok "a new backup succeeds" sp backup --name again --disk "d$full.img"
mkdir r
expect_ok "it restores" sp restore again --to r
check "byte-exact" cmp "d$full.img" "r/d$full.raw"
mkdir r2
expect_ok "the kept point restores" sp restore "vm$last" --to r2
check "byte-exact" cmp "d$last.img" "r2/d$last.raw"
expect_ok "the vault verifies" sp verify
done_testing

#!/bin/bash
# A vault on a full file system: the backup fails with VaultFull, publishes
# nothing, the vault still verifies, and once there is room the next backup
# succeeds.
. "$(dirname "$0")/lib.sh"
need_root

mkdir vault
mount -t tmpfs -o size=40m tmpfs vault || { say "cannot mount tmpfs"; exit 77; }
at_exit "umount -l $T/vault"
sp init >/dev/null
truncate -s 128M small.img
poke small.img 0 4 ok
expect_ok "a small backup fits" sp backup --name vm --disk small.img
truncate -s 256M d.img
poke d.img 0 100 full
expect_fail VaultFull "a backup larger than the free space" sp backup --name vm --disk d.img
check "...the message says what ran out" grep -qi "space" "$T/.err"
check "...only the first point is listed" \
	bash -c "sp points vm --json | jqe 'length == 1' >/dev/null"
check "...no draft left in tmp/" bash -c "[ -z \"\$(ls -A $T/vault/tmp)\" ]"
expect_ok "...the vault still verifies" sp verify
mkdir r0
expect_ok "...the earlier point still restores" sp restore vm --to r0
check "...identically" cmp small.img r0/small.raw

mount -o remount,size=400m "$T/vault"
expect_ok "with room again the same backup succeeds" sp backup --name vm --disk d.img
mkdir r
expect_ok "and restores" sp restore vm --to r
check "identically" cmp d.img r/d.raw
expect_ok "vault verifies" sp verify
done_testing

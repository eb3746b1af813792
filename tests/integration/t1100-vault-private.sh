#!/bin/bash
# A vault is its owner's alone, whatever existed before init and whatever
# the umask: init into an existing empty 0755 directory makes it 0700, and
# every file the vault gets is 0600, every directory 0700 (chunks, prefix
# directories, points, indexes, manifests, configs, the trash, gc's state,
# the catalog); restored disks and configs are 0600 too.
. "$(dirname "$0")/lib.sh"

umask 000 # the modes must not come from the umask
mkdir -m 0755 vault
chmod 0755 vault
sp init --chunk-size 1M >/dev/null
check "init made the existing 0755 directory 0700" \
	test "$(stat -c %a vault)" = 700
make_raw_disk d.img 16 p1
printf '<domain/>\n' >d.xml
expect_ok "a backup with a config" sp backup --name vm --disk d.img --config d.xml
expect_ok "a second point" sp backup --name vm --disk d.img
expect_ok "a listing (the catalog)" sp points
expect_ok "delete the second point" sp delete "vm@$(point_ids vm | tail -1)"
expect_ok "gc (trash, gc.json)" sp gc
expect_ok "verify" sp verify

open=$(find vault \( -type f -o -type d \) -perm /077 -printf '%m %p\n')
check "nothing in the vault is open to group or others" test -z "$open"
[ -z "$open" ] || say "# $open"
check "files are 0600" \
	test -z "$(find vault -mindepth 1 -type f ! -perm 0600 -printf '%m %p\n')"
check "directories are 0700" \
	test -z "$(find vault -type d ! -perm 0700 -printf '%m %p\n')"
for f in chunks/000 points tmp trash catalog.sqlite gc.json lock \
	stillpoint-vault.json; do
	check "$f exists" test -e "vault/$f"
done

mkdir -m 0755 r
expect_ok "restore" sp restore vm --to r
check "the restored disk is 0600" test "$(stat -c %a r/d.raw)" = 600
check "the restored config is 0600" test "$(stat -c %a r/d.xml)" = 600
check "byte-exact" cmp d.img r/d.raw
done_testing

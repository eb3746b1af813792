#!/bin/bash
# Bad input: each failure has a clear message and its stable code, exits
# non-zero, and leaves the vault as it was (no point, still verifying).
. "$(dirname "$0")/lib.sh"

sp init >/dev/null
make_raw_disk d.img 32 bad
expect_ok "a good backup first" sp backup --name vm --disk d.img

no_new_point() {
	check "...no new point" bash -c "sp points --json | jqe 'length == 1' >/dev/null"
	check "...no draft left behind" bash -c "[ -z \"\$(ls -A $T/vault/tmp)\" ]"
}

expect_fail DiskNotFound "a missing disk" sp backup --name vm --disk nope.img
check "...message names the path" grep -q "nope.img" "$T/.err"
no_new_point
mkdir adir
expect_fail DiskIsDirectory "a directory" sp backup --name vm --disk adir
no_new_point
mkfifo fifo
expect_fail DiskNotSupported "a fifo" sp backup --name vm --disk fifo
no_new_point
mkdir sub && cp d.img sub/d.img
expect_fail DiskDuplicate "two disks with one name" sp backup --name vm --disk d.img --disk sub/d.img
no_new_point
expect_fail ConfigNotFound "a missing config" sp backup --name vm --disk d.img --config none.xml
no_new_point
expect_fail NameInvalid "a name with a slash" sp backup --name ../x --disk d.img
expect_fail NameInvalid "a name with a space" sp backup --name "a b" --disk d.img
no_new_point
"$SP" backup --name vm >/dev/null 2>&1
check "no --disk is a usage error (exit 2)" test $? = 2
printf 'QFI\xfb garbage that is not a qcow2 image' >fake.qcow2
truncate -s 1M fake.qcow2
expect_fail DiskFormatUndeclared "qcow2 magic, undeclared" sp backup --name vm --disk fake.qcow2
expect_fail DiskFormatUnsupported "qcow2 magic with garbage" sp backup --name vm --disk fake.qcow2:qcow2
check "...message names the file" grep -q fake.qcow2 "$T/.err"
no_new_point

if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
	chmod 755 "$T"
	chmod -R a+rwX "$T/vault"
	cp d.img locked.img && chmod 000 locked.img
	expect_fail DiskPermissionDenied "an unreadable disk" \
		setpriv --reuid=65534 --regid=65534 --clear-groups \
		env STILLPOINT_VAULT="$T/vault" "$SP" --no-progress backup --name vm --disk locked.img
	no_new_point
fi

expect_fail PointNotFound "restore of an unknown VM" sp restore ghost --to .
expect_ok "restore into a missing directory makes it" sp restore vm --to "$T/missing/dir"
check "  ... with the disk in it, equal" cmp d.img "$T/missing/dir/d.raw"
check "  ... private to its owner" test "$(stat -c %a "$T/missing/dir")" = 700
echo file >not-a-dir
expect_fail TargetNotFound "restore under a path that is a file" sp restore vm --to not-a-dir/sub
check "  ... saying so" grep -q "not a directory" "$T/.err"
expect_ok "verify after all failures" sp verify

# A disk that changes size between backups: both points stand.
cp d.img d.small
truncate -s 48M d.img
poke d.img 40 2 grow
cp --sparse=always d.img d.large
expect_ok "backup after the disk grew" sp backup --name vm --disk d.img
sp points vm --json >p.json
check "the new point warns about the size change" \
	jqe '.[-1].warnings | map(test("changed size")) | any' p.json
check "sizes recorded per point" jqe '.[0].disks[0].size == 33554432 and .[-1].disks[0].size == 50331648' p.json
id1=$(jq -r '.[0].id' p.json)
mkdir s1 s2
expect_ok "restore the small point" sp restore "vm@$id1" --to s1
check "small point restores at its own size" cmp d.small s1/d.raw
expect_ok "restore the large point" sp restore vm --to s2
check "large point restores at its own size" cmp d.large s2/d.raw
done_testing

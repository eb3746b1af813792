#!/bin/bash
# Restore never writes through a link placed in its target directory: a
# symbolic link named like a disk (to a block device, to a file outside the
# directory, dangling) or like the config is refused with TargetExists
# naming it; with --force the link itself is replaced, never what it points
# to.  A block device is written only when named: --disk-to DISK=DEV (a
# link the operator names, such as /dev/disk/by-id/..., is fine) or --to DEV
# for a one-disk point; a device node inside --to DIR is refused.
. "$(dirname "$0")/lib.sh"
need_root
command -v losetup >/dev/null || { say "no losetup"; exit 77; }

sp init --chunk-size 1M >/dev/null
truncate -s 8M vda
poke vda 0 3 src
printf '<domain><name>vm</name></domain>\n' >vm.xml
expect_ok "back up a one-disk point with a config" sp backup --name vm --disk vda --config vm.xml
expect_ok "and one without" sp backup --name dv --disk vda

truncate -s 16M dev.img
poke dev.img 0 16 devdata
cp dev.img dev.orig
loop=$(losetup --find --show dev.img) || { say "no loop device"; exit 77; }
at_exit "losetup -d $loop"
mkdir outside
printf 'precious\n' >outside/victim
printf 'precious xml\n' >outside/victim.xml

device_intact() { cmp -s "$loop" dev.orig; }
victim_intact() { [ "$(cat outside/victim)" = precious ]; }

# 1. a link to a block device, named like the disk
mkdir r1
ln -s "$loop" r1/vda.raw
expect_fail TargetExists "a link to a device in --to DIR is refused" sp restore vm --to r1
check "...naming it" grep -q "r1/vda.raw' is a symbolic link" "$T/.err"
check "...the device is untouched" device_intact
expect_ok "with --force" sp restore vm --to r1 --force
check "...the link itself was replaced by the disk" bash -c "[ ! -L r1/vda.raw ] && cmp vda r1/vda.raw"
check "...the device is untouched" device_intact

# 2. a link to a file outside the directory
mkdir r2
ln -s "$T/outside/victim" r2/vda.raw
expect_fail TargetExists "a link to a file outside is refused" sp restore vm --to r2
check "...the file is untouched" victim_intact
expect_ok "with --force" sp restore vm --to r2 --force
check "...the link was replaced" bash -c "[ ! -L r2/vda.raw ] && cmp vda r2/vda.raw"
check "...the file it pointed to is untouched" victim_intact

# 3. a dangling link: nothing created where it points
mkdir r3
ln -s "$T/outside/new" r3/vda.raw
expect_fail TargetExists "a dangling link is refused" sp restore vm --to r3
check "...nothing created at its target" test ! -e outside/new

# 4. a device node itself in the directory: never without being named
mkdir r4
mknod r4/vda.raw b "$(stat -c '%t' "$loop" | xargs printf '%d')" \
	"$(stat -c '%T' "$loop" | xargs printf '%d')"
expect_fail TargetExists "a device node in --to DIR is refused" sp restore vm --to r4
check "...saying how to name it" grep -q -- "--disk-to vda=" "$T/.err"
expect_fail TargetExists "...with --force too" sp restore vm --to r4 --force
check "...the device is untouched" device_intact
rm r4/vda.raw

# 5. the config beside the disks, by the same rules
mkdir r5
ln -s "$T/outside/victim.xml" r5/vm.xml
expect_fail TargetExists "a link named like the config is refused" sp restore vm --to r5
check "...naming it" grep -q "r5/vm.xml' is a symbolic link" "$T/.err"
check "...before any disk was written" bash -c '[ -z "$(ls -A r5 | grep -v vm.xml)" ]'
expect_ok "with --force" sp restore vm --to r5 --force
check "...the link was replaced by the config" bash -c "[ ! -L r5/vm.xml ] && cmp vm.xml r5/vm.xml"
check "...the file it pointed to is untouched" \
	test "$(cat outside/victim.xml)" = "precious xml"

# 6. devices the operator names are written
expect_ok "--disk-to vda=DEVICE" sp restore dv --disk-to "vda=$loop"
check "...the device holds the disk" cmp -n 8388608 vda "$loop"
wipe() { dd if=/dev/zero of="$loop" bs=1M count=8 conv=fsync status=none; }
wipe
ln -s "$loop" byid
expect_ok "--disk-to vda=LINK-TO-DEVICE (named: followed)" sp restore dv --disk-to "vda=$T/byid"
check "...the device holds the disk" cmp -n 8388608 vda "$loop"
check "...the link is still a link" test -L byid
wipe
expect_ok "--to DEVICE for a one-disk point" sp restore dv --to "$loop"
check "...the device holds the disk" cmp -n 8388608 vda "$loop"
done_testing

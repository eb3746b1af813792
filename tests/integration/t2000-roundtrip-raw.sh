#!/bin/bash
# Raw images: byte-exact round trips, sparse restores, incrementals that
# store only changed chunks, every point restoring on its own, refusal to
# overwrite, qcow2 output, several disks, the stored config.
. "$(dirname "$0")/lib.sh"

sp init >/dev/null
make_raw_disk d.img 256 s1
cp --sparse=always d.img d.v1
expect_ok "first backup" sp backup --name vm1 --disk d.img
sp points vm1 --json >p.json
check "one point listed" jqe 'length == 1' p.json
check "point has id, name, RFC 3339 time, crash consistency" \
	jqe '.[0] | (.id|length > 10) and .name == "vm1" and (.time|test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}([.][0-9]+)?Z$")) and .consistency == "crash"' p.json
check "disk named by basename with its virtual size" \
	jqe '.[0].disks[0] | .name == "d.img" and .size == 268435456 and .format == "raw"' p.json
check "bytes read are the allocated data only (holes never read)" \
	jqe '.[0].bytes_read < 16*1048576 and .[0].bytes_read >= 8*1048576' p.json
check "bytes new counted" jqe '.[0].bytes_new > 0' p.json
id1=$(jq -r '.[0].id' p.json)

mkdir r1
expect_ok "restore the newest point" sp restore vm1 --to r1
check "restored disk is byte-identical" cmp d.img r1/d.raw
check "restored disk is sparse" test "$(du -k r1/d.raw | cut -f1)" -lt 40000
check "no temporary files left" test "$(ls -A r1)" = d.raw

# Zero blocks inside a chunk are not written either: 64 KiB of data, then
# written (allocated) zeroes to the end of the 4 MiB chunk.
head -c 65536 /dev/urandom >z.img
dd if=/dev/zero of=z.img bs=64K seek=1 count=63 conv=notrunc status=none
check "the source holds 4 MiB allocated" test "$(du -k z.img | cut -f1)" -ge 4096
expect_ok "back up a chunk that is mostly zeroes" sp backup --name vmz --disk z.img
mkdir rz
expect_ok "restore it" sp restore vmz --to rz
check "restored byte-identical" cmp z.img rz/z.raw
check "restored with only its data blocks allocated" \
	test "$(du -k rz/z.raw | cut -f1)" -lt 1024

# A small change: 1 MiB in the middle of an allocated region.
poke d.img 129 1 change1
cp --sparse=always d.img d.v2
expect_ok "second backup after a small change" sp backup --name vm1 --disk d.img
sp points vm1 --json >p.json
check "two points" jqe 'length == 2' p.json
check "second point stores only the changed chunk (<= 2 chunks)" \
	jqe '.[1].bytes_new > 0 and .[1].bytes_new <= 8388608 and .[1].disks[0].chunks_new <= 2' p.json
id2=$(jq -r '.[1].id' p.json)
check "ids differ" test "$id1" != "$id2"

mkdir r2 r3 r4
expect_ok "restore point 1 by id" sp restore "vm1@$id1" --to r2
check "point 1 is the image as it was" cmp d.v1 r2/d.raw
expect_ok "restore point 2 by id prefix" sp restore "vm1@${id2:0:21}" --to r3
check "point 2 is the image as it is" cmp d.v2 r3/d.raw
expect_fail PointNotFound "an unknown id" sp restore vm1@nosuchid --to r4

# Never overwrite without --force.
echo precious >r4/d.raw
expect_fail TargetExists "restore refuses an existing file" sp restore vm1 --to r4
check "the existing file is untouched" grep -q precious r4/d.raw
expect_ok "restore --force replaces it" sp restore vm1 --to r4 --force
check "forced restore is right" cmp d.v2 r4/d.raw

mkdir q
expect_ok "restore as qcow2" sp restore "vm1@$id1" --to q --format qcow2
check "qcow2 written" bash -c "qemu-img info --output=json q/d.qcow2 | jqe '.format == \"qcow2\"' >/dev/null"
check "qcow2 content identical" qemu-img compare -q d.v1 q/d.qcow2

expect_ok "unchanged re-backup" sp backup --name vm1 --disk d.img
check "an unchanged disk stores nothing new" \
	bash -c "sp points vm1 --json | jqe '.[-1].bytes_new == 0' >/dev/null"

# Two disks and a config in one point.
make_raw_disk e.img 64 s2
printf '<domain><name>vm2</name></domain>\n' >vm2.xml
expect_ok "two disks and a config" sp backup --name vm2 --disk d.img --disk e.img --config vm2.xml
mkdir r5
expect_ok "restore both disks and the config" sp --json restore vm2 --to r5
check "disk 1" cmp d.img r5/d.raw
check "disk 2" cmp e.img r5/e.raw
check "config" cmp vm2.xml r5/vm2.xml
expect_ok "verify all" sp verify
done_testing

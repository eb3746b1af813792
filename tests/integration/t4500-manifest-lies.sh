#!/bin/bash
# Manifests that lie are damage: two disks of one name (restore would
# write the second over the first), a disk name with a control character,
# a manifest that names another point than its directory's.  Backup
# refuses to make such a point; verify reports one; restore refuses it and
# writes nothing.
. "$(dirname "$0")/lib.sh"

sp init --chunk-size 1M >/dev/null
mkdir a b
truncate -s 4M a/x.img b/y.img
poke a/x.img 0 2 xdata
poke b/y.img 0 2 ydata

# 1. backup refuses names a restore could not write
cp a/x.img b/x.img
expect_fail DiskDuplicate "two disks of the same file name" sp backup --name dup --disk a/x.img --disk b/x.img
nl=$'new\nline.img'
cp a/x.img "$nl"
expect_fail NameInvalid "a disk name with a newline" sp backup --name nl --disk "$nl"
check "...the message names the disk, escaped" grep -q 'new\\x0aline.img' "$T/.err"
esc=$'esc\e[2J.img'
cp a/x.img "$esc"
expect_fail NameInvalid "a disk name with an escape sequence" sp backup --name esc --disk "$esc"
check "no point was published" bash -c "[ -z \"\$(ls $T/vault/points)\" ]"
check "no draft left" bash -c "[ -z \"\$(ls -A $T/vault/tmp)\" ]"

# 2. a manifest whose two disks have one name
expect_ok "a two-disk point" sp backup --name two --disk a/x.img --disk b/y.img
id2=$(point_ids two)
m="$T/vault/points/two/$id2/manifest.json"
cp "$m" two.json
jq '.disks[1].name = .disks[0].name' two.json >"$m"
"$SP" verify --json >v.json 2>/dev/null
check "verify reports it" \
	jqe ".damaged | length == 1 and .[0].point == \"two/$id2\" and (.[0].error | test(\"same\"))" v.json
mkdir r1
expect_fail ManifestCorrupt "restore refuses it" sp restore two --to r1
check "...and writes nothing" test -z "$(ls -A r1)"
jq '.disks[1].name = "a\nb"' two.json >"$m"
"$SP" verify --json >v.json 2>/dev/null
check "a control character in a disk name is damage too" \
	jqe ".damaged | length == 1 and .[0].point == \"two/$id2\"" v.json
cp two.json "$m"
expect_ok "the true manifest back: the vault verifies" sp verify
expect_ok "...and the point restores" sp restore two --to r1
check "...both disks" bash -c "cmp a/x.img r1/x.raw && cmp b/y.img r1/y.raw"

# 3. manifests that name another point than their directory's
expect_ok "a point of vm1" sp backup --name vm1 --disk a/x.img
expect_ok "a point of vm2" sp backup --name vm2 --disk b/y.img
id1=$(point_ids vm1)
idv2=$(point_ids vm2)
m2="$T/vault/points/vm2/$idv2/manifest.json"
cp "$m2" vm2.json
cp "$T/vault/points/vm1/$id1/manifest.json" "$m2" # vm1's, in vm2's place
"$SP" verify --json >v.json 2>/dev/null
check "verify reports vm2's point as damaged" \
	jqe ".damaged | length == 1 and .[0].point == \"vm2/$idv2\" and (.[0].error | test(\"another point\"))" v.json
mkdir r2
expect_fail ManifestCorrupt "restore of vm2 refuses it" sp restore vm2 --to r2
check "...and writes nothing" test -z "$(ls -A r2)"
expect_fail GcUnsafe "gc refuses to mark from it" sp gc
cp vm2.json "$m2"

# the whole point directory copied under another VM's name
mkdir -p "$T/vault/points/vm3"
cp -a "$T/vault/points/vm1/$id1" "$T/vault/points/vm3/$id1"
"$SP" verify --json >v.json 2>/dev/null
check "a point copied under another name is damage" \
	jqe ".damaged | length == 1 and .[0].point == \"vm3/$id1\"" v.json
check "...and is not listed" bash -c "[ -z \"\$(point_ids vm3)\" ]"
mkdir r3
expect_fail PointNotFound "...nor restored" sp restore vm3 --to r3
rm -rf "$T/vault/points/vm3"
expect_ok "all back: the vault verifies" sp verify
done_testing

#!/bin/bash
# What the fault campaigns found, each replayed with one fault of the shim
# (tests/fault/faultshim.c): a failed backup whose draft cannot be opened
# leaves no draft behind once the next backup ran; a catalog that fails
# mid-listing gives all the points or an error, never fewer; a point
# directory that cannot be opened keeps its points listed, so restore says
# VaultIOError (not PointNotFound) and prune prunes nothing; an I/O error
# opening a restore directory is TargetWriteFailed (not TargetNotFound,
# "create it first"); qemu-nbd failing to read a qcow2 source is
# DiskReadFailed (not DiskFormatUnsupported), and a raw source's read
# error is not taken for a disk that shrank; ENOSPC in qemu-nbd writing a
# qcow2 target, at any of its writes, is TargetFull.
. "$(dirname "$0")/lib.sh"
need_root
SHIM=$SP_BUILD/tests/faultshim.so
[ -f "$SHIM" ] || { say "no fault shim"; exit 77; }
shim() { # SP_FAULT command...
	local f=$1
	shift
	LD_PRELOAD=$SHIM SP_FAULT="$f" "$@"
}
V=$T/vault
export STILLPOINT_STATE_DIR=$T/state
sp --vault "$V" init >/dev/null
make_raw_disk a.raw 24 a
qemu-img convert -O qcow2 a.raw q.qcow2

# 1. A draft that cannot be removed keeps its lock: the next backup sweeps
# both.
expect_fail VaultIOError "a backup whose tmp/ cannot be opened fails" \
	shim "op=open,nth=1,times=0,errno=EIO,path=$V/tmp" \
	sp --vault "$V" backup --name a --disk a.raw:raw
check "...and leaves its draft (it could not remove it)" \
	bash -c "ls '$V/tmp' | grep -q '^d-'"
expect_ok "the next backup works" sp --vault "$V" backup --name a --disk a.raw:raw
check "...and leaves tmp/ empty" bash -c "[ -z \"\$(ls -A '$V/tmp')\" ]"
# A draft directory without a lock, as the old code left them.
mkdir "$V/tmp/d-0123456789abcdef"
echo x >"$V/tmp/d-0123456789abcdef/disk-0.idx"
expect_ok "a backup with a lockless draft in tmp/" \
	sp --vault "$V" backup --name a --disk a.raw:raw
check "...removes that draft" test ! -e "$V/tmp/d-0123456789abcdef"

# 2. Listings are whole or fail.  Every N of the catalog's reads.
sp --vault "$V" backup --name b --disk a.raw:raw >/dev/null
want=$(sp --vault "$V" --json points | jq length)
short=0
for n in $(seq 1 30); do
	out=$(shim "op=read,nth=$n,times=0,errno=EIO,path=$V/catalog.sqlite" \
		"$SP" --no-progress --vault "$V" --json points 2>/dev/null) || continue
	got=$(printf '%s' "$out" | jq length)
	[ "$got" = "$want" ] || { short=$((short + 1)); say "# N=$n: $got of $want points"; }
done
check "no catalog read error gives a shorter listing with exit 0 ($want points)" \
	test $short = 0

# 3. A point directory that cannot be opened.
id=$(point_ids a | tail -n1)
na=$(point_ids a | wc -l)
mkdir r
expect_fail VaultIOError "restore of a point whose directory fails says VaultIOError" \
	shim "op=open,nth=1,times=0,errno=EIO,path=$V/points/a" \
	sp --vault "$V" restore "a@$id" --to r
check "...not PointNotFound" bash -c "! grep -q PointNotFound '$T/.err'"
check "...and the $na points of a stay listed" \
	bash -c "LD_PRELOAD='$SHIM' SP_FAULT='op=open,nth=1,times=0,errno=EIO,path=$V/points/a' \
		'$SP' --vault '$V' --json points a 2>/dev/null | jq -e 'length == $na' >/dev/null"
check "once the directory reads again, restore works" \
	bash -c "sp --vault '$V' restore 'a@$id' --to r >/dev/null && cmp r/a.raw a.raw"
sp policy create keep1 --schedule "daily 02:00" --keep-last 1 >/dev/null
sp protect a --policy keep1 >/dev/null
before=$(point_ids a | wc -l)
shim "op=open,nth=1,times=0,errno=EIO,path=$V/points/a" \
	"$SP" --no-progress --vault "$V" prune a >prune.out 2>&1
check "prune of a VM whose directory fails deletes nothing ($before points)" \
	bash -c "[ \$(point_ids a | wc -l) = $before ]"

# 4. An I/O error opening the restore directory.
rm -rf r && mkdir r
expect_fail TargetWriteFailed "EIO opening the restore directory is TargetWriteFailed" \
	shim "op=open,nth=1,errno=EIO,path=$T/r" sp --vault "$V" restore a --to r
check "...not TargetNotFound" bash -c "! grep -q TargetNotFound '$T/.err'"

# 5. qemu-nbd cannot read a qcow2 source: the disk failed, not its format.
for n in 1 2 3; do
	expect_fail DiskReadFailed "EIO at qemu-nbd's read $n of a qcow2 source" \
		shim "op=read,nth=$n,errno=EIO,exe=qemu-nbd,path=$T/q.qcow2" \
		sp --vault "$V" backup --name q --disk q.qcow2:qcow2
done
expect_fail DiskFormatUnsupported "a file that is not qcow2 declared qcow2 still is DiskFormatUnsupported" \
	sp --vault "$V" backup --name q --disk a.raw:qcow2

# 5b. A raw source failing a read is an I/O error, not a disk that shrank.
expect_fail DiskReadFailed "EIO reading a raw source" \
	shim "op=read,nth=1,errno=EIO,path=$T/a.raw" \
	sp --vault "$V" backup --name r --disk a.raw:raw
check "...says so, not 'did it shrink?'" \
	bash -c "grep -q 'Input/output error' '$T/.err' && ! grep -q shrink '$T/.err'"

# 6. ENOSPC in qemu-nbd writing a qcow2 target, write by write (the last
# ones come with the flush).
sp --vault "$V" backup --name q --disk q.qcow2:qcow2 >/dev/null
writes=$(mkdir -p rq && shim "count,exe=qemu-nbd,path=$T/rq,report=$T/count" \
	"$SP" --no-progress --vault "$V" restore q --to rq --format qcow2 >/dev/null 2>&1;
	sed -n 's/.* counts write=\([0-9]*\) .*/\1/p' count | head -n1)
check "qemu-nbd's writes to the target were counted ($writes)" test "${writes:-0}" -gt 0
bad=0
for n in $(seq 1 "${writes:-0}"); do
	rm -rf rq && mkdir rq
	shim "op=write,nth=$n,times=0,errno=ENOSPC,exe=qemu-nbd,path=$T/rq" \
		"$SP" --no-progress --vault "$V" restore q --to rq --format qcow2 >/dev/null 2>e.txt
	rc=$?
	[ $rc = 0 ] || grep -q TargetFull e.txt || { bad=$((bad + 1)); say "# N=$n: $(tail -n1 e.txt)"; }
done
check "ENOSPC at every write of qemu-nbd is TargetFull" test $bad = 0
done_testing

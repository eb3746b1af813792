#!/bin/bash
# A point's disks without restoring them: `stillpoint serve` (NBD through
# nbdkit and Stillpoint's plugin) and `stillpoint mount` (FUSE).  Bytes
# read over NBD and through the mounted files are compared with copies of
# the sources; reads are lazy (one chunk read fetches one chunk) through a
# bounded cache; --writable keeps writes out of the vault; a corrupt chunk
# is an I/O error, never other bytes; bad input is refused with its code.
. "$(dirname "$0")/lib.sh"
need_root
command -v nbdkit >/dev/null || { say "no nbdkit"; exit 77; }
command -v nbdcopy >/dev/null || { say "no nbdcopy (libnbd-bin)"; exit 77; }
[ -e /dev/fuse ] || { say "no /dev/fuse"; exit 77; }

sp init --chunk-size 1M >/dev/null || die "init"
# a raw disk of an odd size with data in many places, a qcow2 disk
truncate -s $((64 * 1048576 + 4097)) a.img
for i in 0 3 7 8 20 41 63; do poke a.img $i 1 "a$i"; done
printf 'last-bytes' | dd of=a.img bs=1 seek=$((64 * 1048576 + 4087)) conv=notrunc status=none
qemu-img create -q -f qcow2 b.qcow2 32M
qemu-io -f qcow2 -c 'write -P 0x5a 1M 3M' -c 'write -P 0x11 30M 1M' b.qcow2 >/dev/null
qemu-img convert -O raw b.qcow2 b.raw
expect_ok "back up two disks" sp backup --name sv --disk a.img:raw --disk b.qcow2:qcow2
id=$(point_ids sv | tail -1)

# ---- serve ----
serve_start() { # socket, extra args...: start, wait until it listens
	local sock=$1
	shift
	rm -f serve.out
	"$SP" serve sv --socket "$sock" --json "$@" >serve.out 2>serve.err &
	spid=$!
	at_exit "kill $spid"
	wait_for 30 grep -q listening serve.out
}
serve_stop() { kill -INT "$spid"; wait "$spid"; }

check "serve listens and lists both disks" serve_start "$T/s.sock"
check "the exports are named by the disks and carry their sizes" \
	jqe 'select(.event == "listening") | (.exports | map(.export) == ["a.img", "b.qcow2"]) and .exports[0].size == 67112961' serve.out
check "the socket is private to its owner" \
	test "$(stat -c %a "$T/s.sock")" = 600
nbdcopy "nbd+unix:///a.img?socket=$T/s.sock" a.out
nbdcopy "nbd+unix:///b.qcow2?socket=$T/s.sock" b.out
check "the raw disk read over NBD equals its source, odd size and all" cmp a.img a.out
check "the qcow2 disk reads as its guest-visible bytes" cmp b.raw b.out
check "a copy over NBD stays sparse (zero slots are holes)" \
	test "$(du -k a.out | cut -f1)" -lt 12000
nbdcopy "nbd+unix:///?socket=$T/s.sock" first.out
check "the default export is the first disk" cmp a.img first.out
check "writes are refused on a read-only export" \
	bash -c "! qemu-io -f raw -c 'write 0 4k' 'nbd+unix:///a.img?socket=$T/s.sock' 2>/dev/null"
# a second server beside it: neither takes the other's private directory
"$SP" serve sv --socket "$T/s2.sock" --json >serve2.out 2>serve2.err &
s2pid=$!
at_exit "kill $s2pid"
wait_for 30 grep -q listening serve2.out
nbdcopy "nbd+unix:///a.img?socket=$T/s2.sock" a3.out
nbdcopy "nbd+unix:///a.img?socket=$T/s.sock" a4.out
check "two servers at once both serve (each keeps its directory)" \
	bash -c "cmp a.img a3.out && cmp a.img a4.out"
kill -INT $s2pid
wait $s2pid
check "interrupted, serve exits 0" serve_stop
check "and says what it read from the vault" \
	jqe 'select(.event == "stopped") | .chunks_read >= 9 and .bytes_read > 0' serve.out

# lazy: one read of 64 KiB in slot 41 fetches that chunk only
serve_start "$T/s.sock"
qemu-io -f raw -r -c 'read -P 0 0 0' "nbd+unix:///a.img?socket=$T/s.sock" >/dev/null
qemu-io -f raw -r -c 'read 41M 64k' "nbd+unix:///a.img?socket=$T/s.sock" >/dev/null
serve_stop
check "a 64 KiB read fetched one chunk from the vault" \
	jqe 'select(.event == "stopped") | .chunks_read == 1' serve.out

# bounded cache: read the disk twice with room for 4 chunks: every chunk
# is fetched twice; with room for all of them, once
serve_start "$T/s.sock" --cache 4M
nbdcopy "nbd+unix:///a.img?socket=$T/s.sock" c1.out
nbdcopy "nbd+unix:///a.img?socket=$T/s.sock" c2.out
serve_stop
small=$(jq -r 'select(.event == "stopped") | .chunks_read' serve.out)
serve_start "$T/s.sock" --cache 256M
nbdcopy "nbd+unix:///a.img?socket=$T/s.sock" c1.out
nbdcopy "nbd+unix:///a.img?socket=$T/s.sock" c2.out
serve_stop
big=$(jq -r 'select(.event == "stopped") | .chunks_read' serve.out)
check "a 4-chunk cache evicts (chunks fetched: $small, at least twice the data slots)" \
	test "$small" -ge $((2 * big))
check "a big cache keeps every chunk ($big fetched for two reads)" \
	test "$big" -ge 8 -a "$big" -le 9
check "the copies read through a small cache are right" cmp a.img c1.out

# --writable: writes land in an overlay, never in the vault
serve_start "$T/s.sock" --writable --disk a.img
qemu-io -f raw -c 'write -P 0xee 2M 1M' "nbd+unix:///a.img?socket=$T/s.sock" >/dev/null
check "a write to a writable export reads back" \
	bash -c "qemu-io -f raw -r -c 'read -P 0xee 2M 1M' 'nbd+unix:///a.img?socket=$T/s.sock' | grep -q 'read 1048576/'"
check "--disk serves that disk only" \
	jqe 'select(.event == "listening") | .exports | length == 1' serve.out
serve_stop
serve_start "$T/s.sock"
nbdcopy "nbd+unix:///a.img?socket=$T/s.sock" a2.out
serve_stop
check "after the writable server, the point still holds the source's bytes" cmp a.img a2.out
expect_ok "and the vault verifies" sp verify

# killed: nbdkit goes with it, and the socket it left is taken over
serve_start "$T/s.sock"
npid=$(pgrep -f '[n]bdkit.*name=sv ' | head -1)
sdir=$(dirname "$(grep -lx "$npid" /tmp/stillpoint-serve-*/nbdkit.pid)")
kill -9 "$spid"
wait "$spid" 2>/dev/null
check "serve killed with -9 takes its nbdkit along" \
	wait_for 10 bash -c "! pgrep -f '[n]bdkit.*name=sv ' >/dev/null"
check "the next serve takes over the stale socket" serve_start "$T/s.sock"
check "and removes the killed server's private directory" \
	test -n "$npid" -a -d "$(dirname "$sdir")" -a ! -e "$sdir"
serve_stop

# TCP
"$SP" serve sv@"$id" --port 10899 --json >serve.out 2>serve.err &
spid=$!
wait_for 30 grep -q listening serve.out
check "serve on a TCP port prints nbd:// URIs" \
	jqe '.exports[0].uri == "nbd://127.0.0.1:10899/a.img"' serve.out
nbdcopy "nbd://127.0.0.1:10899/a.img" tcp.out
check "read over TCP equals the source" cmp a.img tcp.out
kill -INT $spid
wait $spid

# ---- mount ----
mkdir mnt
mount_start() {
	rm -f mount.out
	"$SP" mount sv mnt --json >mount.out 2>mount.err &
	mpid=$!
	at_exit "umount -l $T/mnt"
	wait_for 30 grep -q files mount.out
}
check "mount shows the point" mount_start
check "one raw image file per disk, the qcow2 one renamed .raw" \
	test "$(ls mnt | tr '\n' ' ')" = "a.raw b.raw "
check "a.raw holds the raw disk's bytes" cmp a.img mnt/a.raw
check "b.raw holds the qcow2 disk's guest-visible bytes" cmp b.raw mnt/b.raw
check "the files count only their data slots (sparse)" \
	test "$(stat -c %b mnt/a.raw)" -lt 30000
cp --sparse=always mnt/a.raw cp.raw
check "cp of a mounted file stays sparse and right" \
	bash -c "cmp a.img cp.raw && [ \$(du -k cp.raw | cut -f1) -lt 12000 ]"
check "the files refuse writes" bash -c "! (echo x >>mnt/a.raw) 2>/dev/null"
umount mnt
check "umount ends 'stillpoint mount' with 0" wait $mpid
mount_start
kill -INT $mpid
check "Ctrl-C ends it with 0" wait $mpid
check "and leaves the directory unmounted" bash -c "! mountpoint -q mnt"

# ---- a corrupt chunk: an I/O error, never other bytes ----
chunk=$(find vault/chunks -type f | head -1)
cp vault/chunks -r chunks.bak
for f in $(find vault/chunks -type f); do
	printf 'garbage' | dd of="$f" bs=1 seek=20 conv=notrunc status=none
done
serve_start "$T/s.sock"
check "reading a corrupt chunk over NBD fails" \
	bash -c "! nbdcopy 'nbd+unix:///a.img?socket=$T/s.sock' bad.out 2>/dev/null"
serve_stop
check "serve names the chunk's check" grep -q "SP12" serve.err
rm -rf vault/chunks && mv chunks.bak vault/chunks
: "$chunk"

# ---- bad input ----
expect_fail PointNotFound "serve of a point that does not exist" sp serve nosuch
expect_fail UsageError "serve of a disk the point lacks" sp serve sv --disk vdz
expect_fail UsageError "--socket and --port together" sp serve sv --socket x --port 1
expect_fail TargetNotFound "mount on a missing directory" sp mount sv "$T/none"
touch busy.sock
expect_fail ServeFailed "a socket path that is taken" sp serve sv --socket "$T/busy.sock"
check "a failed serve leaves no nbdkit behind" \
	bash -c "! pgrep -f '[n]bdkit.*name=sv ' >/dev/null"
done_testing

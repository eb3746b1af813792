#!/bin/bash
# RTO of `stillpoint verify --boot` on the test lab's guest (QEMU TCG under
# libvirt): a 1 GiB data disk holding ~900 MiB of data and a small file the
# probe reads, backed up offline; then RUNS (default 5) boot verifications
# of that point with the probe, each timed by the tool (rto_ms: request to
# probe passed; boot_ms: to the guest agent answering) and the bytes the
# NBD server fetched from the vault; and, for comparison, a full restore of
# the same point (`restore --to DIR`, which is only the first step of
# getting it running).  Writes bench/results/verify-boot-latest.{json,md}.
# As root, after tools/setup-debian.sh && make.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
export SP=${SP:-$top/build/stillpoint} SP_TOP=$top
. "$top/tests/integration/lib.sh"
. "$top/tests/lab/lab.sh"
lab_need
lab_build_guest
runs=${RUNS:-5}
out=$top/bench/results
mkdir -p "$out" "$T/scratch"
chmod 755 "$T/scratch"
export STILLPOINT_STATE_DIR=$T/state STILLPOINT_TMPDIR=$T/scratch
sp init >/dev/null

median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

vm=${BENCH_VM:-sp-bench-verify-boot}
mkdir -p "$T/fill"
openssl enc -aes-128-ctr -nosalt -pass pass:vb -in /dev/zero 2>/dev/null |
	head -c $((900 * 1048576)) >"$T/fill/data"
echo "bench-answer" >"$T/fill/app-answer"
truncate -s 1G "$T/big.raw"
mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 -d "$T/fill" "$T/big.raw"
qemu-img convert -f raw -O qcow2 "$T/big.raw" "$T/big.qcow2"
rm -rf "$T/fill" "$T/big.raw"
lab_define_domain "$vm" "$T/big.qcow2"
sp --json backup "$vm" >"$T/backup.json" || die "backup failed"
id=$(jq -r .id "$T/backup.json")

for i in $(seq 1 "$runs"); do
	sp --json verify --boot "$vm@$id" --timeout 900 \
		--probe 'grep -qx bench-answer /mnt/vda/app-answer' \
		>"$T/v-$i.json" || die "verify --boot $i failed"
done
t0=$(date +%s%N)
sp restore "$vm@$id" --to "$T/restored" >/dev/null || die "restore failed"
restore_ms=$((($(date +%s%N) - t0) / 1000000))

col() { jq -r "$1" "$T"/v-*.json; }
rto_med=$(col .rto_ms | median)
rto_min=$(col .rto_ms | sort -n | head -1)
rto_max=$(col .rto_ms | sort -n | tail -1)
boot_med=$(col .boot_ms | median)
read_med=$(col '.served.bytes_read // 0' | median)
chunks_med=$(col '.served.chunks_read // 0' | median)
jq -n --argjson rto "[$(col .rto_ms | paste -sd,)]" \
	--argjson boot "[$(col .boot_ms | paste -sd,)]" \
	--argjson read "[$(col '.served.bytes_read // 0' | paste -sd,)]" \
	--argjson restore "$restore_ms" \
	'{disk_mib: 1024, data_mib: 900, rto_ms: $rto, boot_ms: $boot,
	  served_bytes_read: $read, restore_to_dir_ms: $restore}' \
	>"$out/verify-boot-latest.json"
cat >"$out/verify-boot-latest.md" <<MD
verify --boot, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, $runs runs, 1 GiB disk with 900 MiB of data

| measure | median | min | max |
|---|---|---|---|
| rto_ms (request -> probe passed) | $rto_med | $rto_min | $rto_max |
| boot_ms (request -> agent answered) | $boot_med | | |
| bytes the server read from the vault | $read_med ($chunks_med chunks) | | |
| full restore of the same point (restore --to DIR) | $restore_ms ms | | |
MD
cat "$out/verify-boot-latest.md"

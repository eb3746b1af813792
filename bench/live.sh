#!/bin/bash
# Live-backup benchmark on the test lab's guest (QEMU TCG under libvirt):
#  1. the freeze window: 20 backups of a guest whose workload appends an
#     fsynced record every 10 ms; median and spread of freeze_ms and of its
#     parts (freeze, backup-begin, thaw), and the longest write stall the
#     workload itself saw (largest gap between consecutive records);
#  2. incremental transfer: a 1 GiB disk holding ~900 MiB of data, backed
#     up full, then 1 % of it (10 MiB in 5 places) rewritten and backed up
#     again, incrementally (dirty bitmap) and, for comparison, with --full
#     (read everything, compare hashes).
# Writes bench/results/live-latest.{json,md}.  As root, after
# tools/setup-debian.sh && make.  BACKUPS=20 sets the count.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
export SP=${SP:-$top/build/stillpoint} SP_TOP=$top
. "$top/tests/integration/lib.sh"
. "$top/tests/lab/lab.sh"
lab_need
lab_build_guest
backups=${BACKUPS:-20}
out=$top/bench/results
mkdir -p "$out"
sp init >/dev/null

median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
col() { jq -r "$1" "$T"/f-*.json; }

# --- 1. freeze window ----------------------------------------------------
vm=sp-bench-freeze
lab_make_data_disk "$T/w.qcow2" 256
LAB_WORKLOAD=1 lab_define_domain "$vm" "$T/w.qcow2"
lab_start "$vm"
lab_wait_agent "$vm" || die "guest did not come up"
sleep 2
for i in $(seq -w 1 "$backups"); do
	sp --json backup "$vm" >"$T/f-$i.json" || die "backup $i failed"
	sleep 0.5
done
lab_stop "$vm" 60
# The workload's own view: the largest gap between consecutive records
# (a record every 10 ms when nothing stalls it).
qemu-img convert -O raw "$T/w.qcow2" "$T/w.raw"
e2fsck -fy "$T/w.raw" >/dev/null 2>&1
debugfs -R "dump /records $T/records" "$T/w.raw" >/dev/null 2>&1
stall_ms=$(perl -e '
	open(my $f, "<", $ARGV[0]) or die; binmode $f; my ($prev, $max) = (0, 0);
	while (read($f, my $r, 512) == 512) {
		my $t = unpack("Q<", substr($r, 16, 8));
		$max = $t - $prev if $prev && $t - $prev > $max; $prev = $t;
	}
	printf "%.0f\n", $max / 1e6;' "$T/records")
records=$(($(stat -c %s "$T/records") / 512))

fz_med=$(col .freeze_ms | median)
fz_min=$(col .freeze_ms | sort -n | head -1)
fz_max=$(col .freeze_ms | sort -n | tail -1)
f_med=$(col .freeze.freeze_ms | median)
b_med=$(col .freeze.backup_begin_ms | median)
t_med=$(col .freeze.thaw_ms | median)
cons=$(col .consistency | sort | uniq -c | awk '{ printf "%s%s x%s", s, $2, $1; s = ", " }')

# --- 2. incremental transfer ---------------------------------------------
vm2=sp-bench-inc
mkdir -p "$T/fill"
openssl enc -aes-128-ctr -nosalt -pass pass:bench -in /dev/zero 2>/dev/null |
	head -c $((900 * 1048576)) >"$T/fill/data"
truncate -s 1G "$T/big.raw"
mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 -d "$T/fill" "$T/big.raw"
qemu-img convert -f raw -O qcow2 "$T/big.raw" "$T/big.qcow2"
rm -rf "$T/fill" "$T/big.raw"
lab_define_domain "$vm2" "$T/big.qcow2"
lab_start "$vm2"
lab_wait_agent "$vm2" || die "guest did not come up"
timed() { # label, args...: wall seconds of a backup, its manifest kept
	local label=$1 t0
	shift
	sync
	echo 3 >/proc/sys/vm/drop_caches
	t0=$EPOCHREALTIME
	sp --json backup "$vm2" "$@" >"$T/$label.json" || die "$label backup failed"
	awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }'
}
full_s=$(timed full)
# 1 % of the disk: 10 MiB rewritten in place, 2 MiB at each of 5 offsets.
lab_guest_exec "$vm2" /bin/sh -c 'for o in 37 211 403 597 811; do
	dd if=/dev/urandom of=/mnt/vda/data bs=1M count=2 seek=$o conv=notrunc 2>/dev/null
	done; sync' >/dev/null
inc_s=$(timed inc)
lab_guest_exec "$vm2" /bin/sh -c 'for o in 41 215 407 601 815; do
	dd if=/dev/urandom of=/mnt/vda/data bs=1M count=2 seek=$o conv=notrunc 2>/dev/null
	done; sync' >/dev/null
rescan_s=$(timed rescan --full)
lab_stop "$vm2" 60
mib() { jq -r "$1 / 1048576 | floor" "$T/$2.json"; }
ms() { jq -r ".phases.$1.duration_ms" "$T/$2.json"; }
ratio=$(awk -v i="$inc_s" -v f="$full_s" 'BEGIN { printf "%.1f", 100 * i / f }')
tratio=$(awk -v i="$(ms transfer inc)" -v f="$(ms transfer full)" 'BEGIN { printf "%.1f", 100 * i / f }')

jq -n --argjson backups "$backups" --argjson fz_med "$fz_med" \
	--argjson fz_min "$fz_min" --argjson fz_max "$fz_max" \
	--argjson f_med "$f_med" --argjson b_med "$b_med" --argjson t_med "$t_med" \
	--argjson stall "$stall_ms" --argjson records "$records" \
	--argjson full_s "$full_s" --argjson inc_s "$inc_s" --argjson rescan_s "$rescan_s" \
	--argjson full_read "$(mib .bytes_read full)" --argjson inc_read "$(mib .bytes_read inc)" \
	--argjson rescan_read "$(mib .bytes_read rescan)" \
	--argjson full_t "$(ms transfer full)" --argjson inc_t "$(ms transfer inc)" \
	--argjson rescan_t "$(ms transfer rescan)" \
	--argjson full_p "$(ms snapshot full)" --argjson inc_p "$(ms snapshot inc)" \
	--arg cons "$cons" --arg date "$(date -u +%FT%TZ)" '{date: $date,
	freeze: {backups: $backups, freeze_ms_median: $fz_med, freeze_ms_min: $fz_min,
		freeze_ms_max: $fz_max, parts_median: {freeze: $f_med,
		backup_begin: $b_med, thaw: $t_med}, longest_write_stall_ms: $stall,
		records: $records, consistency: $cons},
	incremental: {full_s: $full_s, full_read_mib: $full_read,
		full_snapshot_ms: $full_p, full_transfer_ms: $full_t,
		incremental_s: $inc_s, incremental_read_mib: $inc_read,
		incremental_snapshot_ms: $inc_p, incremental_transfer_ms: $inc_t,
		rescan_s: $rescan_s, rescan_read_mib: $rescan_read,
		rescan_transfer_ms: $rescan_t}}' >"$out/live-latest.json"
cat >"$out/live-latest.md" <<EOF
# Live backup benchmark ($(date -u +%F), $(nproc) CPUs, QEMU TCG guest)

Freeze window over $backups backups of a guest appending an fsynced 512-byte
record every 10 ms ($cons):

| | median | min | max |
|---|---|---|---|
| freeze_ms (freeze sent -> thaw answered) | $fz_med ms | $fz_min ms | $fz_max ms |
| of which freeze | $f_med ms | | |
| of which backup-begin | $b_med ms | | |
| of which thaw | $t_med ms | | |

Every window, sorted: $(col .freeze_ms | sort -n | tr '\n' ' ')ms.

Longest write stall the workload saw: $stall_ms ms (largest gap between
consecutive records, $records records).

Incremental transfer, 1 GiB disk with 900 MiB of data, 1 % (10 MiB)
rewritten:

| backup | transfer phase | whole job (wall) | read |
|---|---|---|---|
| full | $(ms transfer full) ms | ${full_s} s | $(mib .bytes_read full) MiB |
| incremental (dirty bitmap) | $(ms transfer inc) ms (${tratio} % of full) | ${inc_s} s (${ratio} % of full) | $(mib .bytes_read inc) MiB |
| --full (read all, compare) | $(ms transfer rescan) ms | ${rescan_s} s | $(mib .bytes_read rescan) MiB |

The whole job includes the snapshot phase (writers, freeze, backup-begin,
thaw: $(ms snapshot inc) ms for the incremental) and starting and ending
the job (connecting, checkpoint clean-up, publishing the point durably).
EOF
cat "$out/live-latest.md"

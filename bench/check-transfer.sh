#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The cost of backup --check-transfer on a running guest: a lab guest
# (tests/lab) with a 1 GiB disk holding 900 MiB of data is backed up full,
# then incrementally after 10 MiB changed, each without and with the
# check, ROUNDS times, from a cold page cache.  Prints medians and ratios
# (also bench/results/check-transfer-latest.md).
#   bench/check-transfer.sh [ROUNDS]     (as root, after make)
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
export SP=${SP:-$top/build/stillpoint} SP_TOP=$top
. "$top/tests/integration/lib.sh"
. "$top/tests/lab/lab.sh"
rounds=${1:-3}
lab_need
lab_build_guest
sp init >/dev/null

vm=sp-bench-check
mkdir -p "$T/fill"
openssl enc -aes-128-ctr -nosalt -pass pass:bench -in /dev/zero 2>/dev/null |
	head -c $((900 * 1048576)) >"$T/fill/data"
truncate -s 1G "$T/big.raw"
mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 -d "$T/fill" "$T/big.raw"
qemu-img convert -f raw -O qcow2 "$T/big.raw" "$T/big.qcow2"
rm -rf "$T/fill" "$T/big.raw"
lab_define_domain "$vm" "$T/big.qcow2"
lab_start "$vm"
lab_wait_agent "$vm" || die "guest did not come up"
timed() { # label, args...: wall seconds of a backup, appended to results
	local label=$1 t0
	shift
	sync
	echo 3 >/proc/sys/vm/drop_caches
	t0=$EPOCHREALTIME
	sp --json backup "$vm" "$@" >"$T/last.json" || die "$label backup failed"
	printf '%s %s\n' "$label" \
		"$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }')" \
		>>"$T/times"
}
change() {
	lab_guest_exec "$vm" /bin/sh -c "for o in $1; do
		dd if=/dev/urandom of=/mnt/vda/data bs=1M count=2 seek=\$o conv=notrunc 2>/dev/null
		done; sync" >/dev/null
}
for ((i = 1; i <= rounds; i++)); do
	timed full --full
	timed full-checked --full --check-transfer
	jq -e '.disks[0].bytes_checked > 0' "$T/last.json" >/dev/null ||
		die "the checked backup checked nothing"
	change "$((37 + i)) $((211 + i)) $((403 + i)) $((597 + i)) $((811 + i))"
	timed incremental
	change "$((41 + i)) $((215 + i)) $((407 + i)) $((601 + i)) $((815 + i))"
	timed incremental-checked --check-transfer
	echo "round $i done" >&2
done
lab_stop "$vm" 60
python3 - "$T/times" "$top/bench/results/check-transfer-latest.md" <<'PY'
import statistics, sys
t = {}
for line in open(sys.argv[1]):
    k, v = line.split()
    t.setdefault(k, []).append(float(v))
m = {k: statistics.median(v) for k, v in t.items()}
out = ["| backup of a running guest (1 GiB disk, 900 MiB data) | plain (s) | --check-transfer (s) | ratio | runs |",
       "|---|---|---|---|---|"]
for k in ("full", "incremental"):
    out.append("| %s | %.2f | %.2f | %.2f | %d |" % (k, m[k], m[k + "-checked"], m[k + "-checked"] / m[k], len(t[k])))
text = "\n".join(out) + "\n"
print(text)
open(sys.argv[2], "w").write(text)
PY
done_testing

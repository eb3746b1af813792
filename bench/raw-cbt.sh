#!/bin/bash
# Changed-block tracking on raw disks (`stillpoint cbt`), on the test lab's
# guest (QEMU TCG under libvirt).  Two raw files of 1 GiB, each an ext4
# file system holding 900 MiB of data: vdb adopted under a metadata image,
# vdc left plain raw (what a raw disk gets without it, and what a block
# device gets on libvirt before 10.10: read in full, chunk hashes
# compared).  Backed up full, then 1 % of each disk (10 MiB in 5 places)
# rewritten in the guest and backed up again.  Writes
# bench/results/raw-cbt-latest.{json,md}.  As root, after
# tools/setup-debian.sh && make.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
export SP=${SP:-$top/build/stillpoint} SP_TOP=$top
. "$top/tests/integration/lib.sh"
. "$top/tests/lab/lab.sh"
lab_need
lab_build_guest
out=$top/bench/results
mkdir -p "$out"
sp init >/dev/null

vm=sp-bench-rawcbt
mkdir -p "$T/fill"
openssl enc -aes-128-ctr -nosalt -pass pass:bench -in /dev/zero 2>/dev/null |
	head -c $((900 * 1048576)) >"$T/fill/data"
for d in b c; do
	truncate -s 1G "$T/$d.raw"
	mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 -d "$T/fill" "$T/$d.raw"
done
rm -rf "$T/fill"
lab_make_data_disk "$T/a.qcow2" 64
lab_define_domain "$vm" "$T/a.qcow2"
virsh attach-disk "$vm" "$T/b.raw" vdb --subdriver raw --config >/dev/null &&
	virsh attach-disk "$vm" "$T/c.raw" vdc --subdriver raw --config >/dev/null ||
	die "cannot add the raw disks"
mkdir -m 755 "$T/cbt"
t0=$EPOCHREALTIME
sp cbt enable "$vm" --disk vdb --meta-dir "$T/cbt" >/dev/null || die "cbt enable failed"
enable_s=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }')
meta_kib=$(du -k "$T/cbt/$vm-vdb.cbt.qcow2" | cut -f1)
lab_start "$vm"
lab_wait_agent "$vm" || die "guest did not come up"
backup() { # label
	sync
	echo 3 >/proc/sys/vm/drop_caches
	sp --json backup "$vm" >"$T/$1.json" || die "$1 backup failed"
}
backup full
lab_guest_exec "$vm" /bin/sh -c 'for d in vdb vdc; do for o in 37 211 403 597 811; do
	dd if=/dev/urandom of=/mnt/$d/data bs=1M count=2 seek=$o conv=notrunc 2>/dev/null
	done; done; sync' >/dev/null || die "cannot write in the guest"
backup inc
lab_stop "$vm" 60

d() { jq -r ".disks[] | select(.name == \"$2\") | $3" "$T/$1.json"; }
mib() { d "$1" "$2" ".bytes_read / 1048576 | . * 10 | floor / 10"; }
pct() { awk -v i="$(d inc "$1" .bytes_read)" -v f="$(d full "$1" .bytes_read)" 'BEGIN { printf "%.1f", 100 * i / f }'; }
tpct() { awk -v i="$(d inc "$1" .duration_ms)" -v f="$(d full "$1" .duration_ms)" 'BEGIN { printf "%.1f", 100 * i / f }'; }
jq -n --arg date "$(date -u +%FT%TZ)" --argjson enable_s "$enable_s" \
	--argjson meta_kib "$meta_kib" \
	--argjson b_full "$(d full vdb .bytes_read)" --argjson b_inc "$(d inc vdb .bytes_read)" \
	--argjson b_full_ms "$(d full vdb .duration_ms)" --argjson b_inc_ms "$(d inc vdb .duration_ms)" \
	--argjson c_full "$(d full vdc .bytes_read)" --argjson c_inc "$(d inc vdc .bytes_read)" \
	--argjson c_full_ms "$(d full vdc .duration_ms)" --argjson c_inc_ms "$(d inc vdc .duration_ms)" \
	--arg b_mode "$(d inc vdb .read_mode)" --arg c_mode "$(d inc vdc .read_mode)" \
	'{date: $date, enable_s: $enable_s, metadata_image_kib: $meta_kib,
	adopted: {read_mode: $b_mode, full_read: $b_full, incremental_read: $b_inc,
		full_ms: $b_full_ms, incremental_ms: $b_inc_ms},
	plain_raw: {read_mode: $c_mode, full_read: $c_full, incremental_read: $c_inc,
		full_ms: $c_full_ms, incremental_ms: $c_inc_ms}}' >"$out/raw-cbt-latest.json"
cat >"$out/raw-cbt-latest.md" <<EOM
# Changed-block tracking on raw disks ($(date -u +%F), $(nproc) CPUs, QEMU TCG guest)

Two raw files of 1 GiB with 900 MiB of data each; 1 % (10 MiB in 5
places) rewritten in the guest between a full and an incremental backup.

| disk | incremental read as | full: read | incremental: read | share of full | full: transfer | incremental: transfer | share |
|---|---|---|---|---|---|---|---|
| vdb, raw file under a metadata image | $(d inc vdb .read_mode) | $(mib full vdb) MiB | $(mib inc vdb) MiB | $(pct vdb) % | $(d full vdb .duration_ms) ms | $(d inc vdb .duration_ms) ms | $(tpct vdb) % |
| vdc, plain raw file | $(d inc vdc .read_mode) | $(mib full vdc) MiB | $(mib inc vdc) MiB | $(pct vdc) % | $(d full vdc .duration_ms) ms | $(d inc vdc .duration_ms) ms | $(tpct vdc) % |

\`stillpoint cbt enable\` took ${enable_s} s; the metadata image holds ${meta_kib} KiB.
EOM
cat "$out/raw-cbt-latest.md"

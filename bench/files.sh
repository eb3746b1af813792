#!/bin/bash
# Files out of a point without restoring it (`stillpoint files`,
# `restore --file`): a 16 GiB sparse raw disk with an ext4 file system
# (made in user space by mkfs.ext4 -d) holding a 10 MiB file, 256 MiB of
# other data and 2,000 small files, backed up to a local vault.  Measured:
# the first listing of the file systems and of a directory (each launches
# the appliance, TCG here), the restore of the 10 MiB file, and what the
# NBD server read from the vault for each (lazy reads: the goal is at most
# 64 MiB for the 10 MiB file).  The restored file is compared with cmp.
# Writes bench/results/files-latest.{json,md}.  With FILES_S3=1 the
# vault is an encrypted S3 vault on the test S3 server (tests/s3; its
# SP_S3_* settings pick the instance) and the results go to
# files-s3-latest.{json,md}.  As root, after tools/setup-debian.sh && make.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
export SP=${SP:-$top/build/stillpoint} SP_TOP=$top
. "$top/tests/integration/lib.sh"
out=$top/bench/results
mkdir -p "$out"
kind=local name=files-latest
if [ "${FILES_S3:-0}" = 1 ]; then
	need_s3
	export STILLPOINT_VAULT=s3://$S3_BUCKET/v STILLPOINT_PASSPHRASE=bench
	kind="S3 (encrypted, local RADOS Gateway)" name=files-s3-latest
	sp init --encrypt >/dev/null || die "init of the S3 vault failed"
else
	sp init >/dev/null
fi

mkdir -p src/data src/many
random_file src/data/big10.bin 10 big10
for i in 1 2 3 4; do random_file "src/data/other$i.bin" 64 "other$i"; done
for i in $(seq 1 2000); do echo "small file $i" >"src/many/f$i.txt"; done
truncate -s 16G disk.img
mkfs.ext4 -q -F -d src disk.img || die "mkfs.ext4 -d failed"
alloc_mib=$(($(du -k disk.img | cut -f1) / 1024))
t0=$EPOCHREALTIME
sp backup --name files-bench --disk disk.img >/dev/null || die "backup failed"
backup_s=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')

# timed NAME command...: seconds into $NAME_s, JSON output into NAME.json
timed() {
	local name=$1 t0; shift
	t0=$EPOCHREALTIME
	"$@" >"$name.json" || die "$name failed: $*"
	printf -v "${name}_s" '%s' "$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')"
}
timed list_fs sp --json files files-bench
timed list_dir sp --json files files-bench disk.img::/data
timed restore sp --json restore files-bench --file disk.img::/data/big10.bin --to r
cmp src/data/big10.bin r/big10.bin || die "the restored file differs"
mib() { jq -r ".vault_read.bytes_read / 1048576 | . * 10 | floor / 10" "$1"; }
chunks() { jq -r '.vault_read.chunks_read' "$1"; }
accel=$(jq -r .accel list_fs.json)

jq -n --arg date "$(date -u +%FT%TZ)" --arg accel "$accel" --arg vault "$kind" \
	--argjson alloc "$alloc_mib" --argjson backup "$backup_s" \
	--argjson lfs "$list_fs_s" --argjson ldir "$list_dir_s" --argjson rst "$restore_s" \
	--slurpfile a list_fs.json --slurpfile b list_dir.json --slurpfile c restore.json '{
	date: $date, accel: $accel, vault: $vault, disk_gib: 16, allocated_mib: $alloc, backup_s: $backup,
	list_filesystems: {seconds: $lfs, vault_read: $a[0].vault_read},
	list_directory: {seconds: $ldir, vault_read: $b[0].vault_read},
	restore_10mib: {seconds: $rst, vault_read: $c[0].vault_read}}' >"$out/$name.json"
cat >"$out/$name.md" <<EOT
# Files out of a point ($(date -u +%F), accel $accel)

16 GiB sparse raw disk, ext4, ${alloc_mib} MiB allocated; $kind vault;
backup ${backup_s} s.

| step | time | read from the vault | chunks |
|---|---|---|---|
| \`files NAME\` (file systems, first listing) | ${list_fs_s} s | $(mib list_fs.json) MiB | $(chunks list_fs.json) |
| \`files NAME disk.img::/data\` | ${list_dir_s} s | $(mib list_dir.json) MiB | $(chunks list_dir.json) |
| \`restore --file disk.img::/data/big10.bin\` (10 MiB, cmp equal) | ${restore_s} s | $(mib restore.json) MiB | $(chunks restore.json) |
EOT
cat "$out/$name.md"

#!/bin/bash
# Recovery points minutes apart: a running lab guest (QEMU TCG under
# libvirt) under a steady write load, protected by a policy that runs
# every CADENCE, backed up by stillpointd as a user would have it, RUNS
# points in a row.  Per run: when the job started (and how late after its
# scheduled instant), how long it took, the freeze window, the bytes read
# from the guest and stored in the vault, how the disk was read (full for
# the first point, dirty-bitmap after it), and the achieved RPO: the gap
# between consecutive points.  Then the newest point is restored and its
# data disk checked (file system clean, the workload's records intact and
# ending cleanly), so the points are shown to be good, not only fast.
#
# The guest: one qcow2 data disk of DISK_GIB GiB (ext4) holding a
# CHURN_MIB MiB file of random data; in the guest, the lab workload
# appends an fsynced 512-byte record every RECORD_MS ms to /records, and a
# writer rewrites WRITES_PER_MIN random 4-64 KiB extents (4 KiB aligned,
# each fsynced) of the churn file every minute.  The guest agent answers,
# so every point is file-system consistent (frozen).
#
# Environment (defaults):
#   RUNS=8 CADENCE=15m     points to take and the schedule's interval
#                          (CADENCE=5m RUNS=3 tries it out in ~15 min)
#   SCHEDULE               the policy's schedule; default 'every CADENCE
#                          from HH:MM for Mh' with HH:MM the first whole
#                          minute 3 minutes after the guest is up, so the
#                          first point does not wait for the next
#                          quarter-hour; SCHEDULE='every 15m' for the
#                          plain form
#   VAULT                  a vault made with 'stillpoint init' (directory
#                          or s3://...); default a new one in the run's
#                          directory
#   DISK_GIB=4 CHURN_MIB=1024 WRITES_PER_MIN=120 RECORD_MS=100
#   RPO_DIR=/var/tmp/rpo-bench   the run's directory (kept), and the log
#   OUT=bench/results/rpo-latest  the table as OUT.md and OUT.json
# As root, after tools/setup-debian.sh && make.  The whole run takes about
# (RUNS - 1) x CADENCE plus 5 minutes.
set -u
top=${SP_TOP:-$(cd "$(dirname "$0")/.." && pwd)}
export SP=${SP:-$top/build/stillpoint} SP_TOP=$top
runs=${RUNS:-8} cadence=${CADENCE:-15m}
disk_gib=${DISK_GIB:-4} churn_mib=${CHURN_MIB:-1024}
wpm=${WRITES_PER_MIN:-120} record_ms=${RECORD_MS:-100}
rpo_dir=${RPO_DIR:-/var/tmp/rpo-bench}
out=${OUT:-$top/bench/results/rpo-latest}
case $cadence in
[0-9]*m) cad_s=$((${cadence%m} * 60)) ;;
[0-9]*h) cad_s=$((${cadence%h} * 3600)) ;;
*) echo "rpo.sh: CADENCE '$cadence': use Nm (N >= 5) or Nh" >&2; exit 2 ;;
esac
[ "$runs" -ge 2 ] 2>/dev/null || { echo "rpo.sh: RUNS '$runs': at least 2" >&2; exit 2; }
mkdir -p "$rpo_dir" "$(dirname "$out")"
export TMPDIR=$rpo_dir SP_TEST_KEEP=1
. "$top/tests/integration/lib.sh"
. "$top/tests/lab/lab.sh"
log() { printf '%s %s\n' "$(date -u +%T)" "$*"; }
log "run directory $T"
lab_need
lab_build_guest
export STILLPOINT_STATE_DIR="$T/state" STILLPOINTD_SOCKET="$T/d.sock"
if [ -n "${VAULT:-}" ]; then
	export STILLPOINT_VAULT=$VAULT
else
	sp init >/dev/null || die "cannot make the vault $STILLPOINT_VAULT"
fi
D="$(dirname "$SP")/stillpointd"

# --- the guest -----------------------------------------------------------
vm=rpo-bench-$$
log "data disk: ${disk_gib} GiB qcow2, ext4, ${churn_mib} MiB churn file"
mkdir -p "$T/fill"
openssl enc -aes-128-ctr -nosalt -pass pass:rpo -in /dev/zero 2>/dev/null |
	head -c $((churn_mib * 1048576)) >"$T/fill/churn"
truncate -s "${disk_gib}G" "$T/d.raw"
mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 -d "$T/fill" "$T/d.raw" ||
	die "mkfs failed"
qemu-img convert -f raw -O qcow2 "$T/d.raw" "$T/d.qcow2" || die "qemu-img failed"
rm -rf "$T/fill" "$T/d.raw"
LAB_WORKLOAD=1 LAB_WORKLOAD_MS=$record_ms lab_define_domain "$vm" "$T/d.qcow2"
lab_start "$vm"
lab_wait_agent "$vm" 300 || die "guest did not come up"
# The random writer: WRITES_PER_MIN writes of 1-16 blocks of 4 KiB at
# random block offsets of the churn file, each fsynced; it keeps its count
# of writes and bytes in /run/churn.stat.
lab_guest_write_file "$vm" /bin/churn 755 <<EOF ||
#!/bin/sh
f=/mnt/vda/churn
blocks=\$((\$(stat -c %s \$f) / 4096 - 16))
echo \$\$ >/run/churn.pid
n=0 bytes=0 pause=$((60000000 / wpm))
while :; do
	set -- \$(od -An -N8 -tu4 /dev/urandom)
	c=\$((\$1 % 16 + 1))
	dd if=/dev/urandom of=\$f bs=4096 count=\$c seek=\$((\$2 % blocks)) conv=notrunc,fsync 2>/dev/null
	n=\$((n + 1)) bytes=\$((bytes + c * 4096))
	echo "\$n \$bytes" >/run/churn.stat
	usleep \$pause
done
EOF
	die "cannot write the writer into the guest"
lab_guest_exec "$vm" /bin/sh -c '/bin/churn </dev/null >/dev/null 2>&1 &' ||
	die "cannot start the writer"
churn_t0=$EPOCHREALTIME
sleep 5
lab_guest_exec "$vm" /bin/cat /run/churn.stat >/dev/null || die "the writer does not run"

# --- the policy and the daemon -------------------------------------------
if [ -z "${SCHEDULE:-}" ]; then
	first=$(date -d "@$(($(date +%s) / 60 * 60 + 180))" +%H:%M)
	hours=$((((runs - 1) * cad_s + 3599) / 3600))
	[ $hours -ge 1 ] || hours=1
	SCHEDULE="every $cadence from $first for ${hours}h"
	anchor=$(date -d "$first" +%s)
fi
# The scheduled instants are anchor + k x cadence (midnight UTC for the
# plain 'every N' forms on a UTC host).
anchor=${anchor:-0}
log "policy schedule: $SCHEDULE; $runs points"
sp policy create rpo-bench --schedule "$SCHEDULE" --keep-last $((runs + 2)) >/dev/null ||
	die "cannot create the policy"
sp protect "$vm" --policy rpo-bench >/dev/null || die "cannot protect $vm"
"$D" --socket "$STILLPOINTD_SOCKET" --max-jobs 1 --retries 0 2>>"$T/daemon.log" &
dpid=$!
at_exit kill $dpid
sleep 2
kill -0 $dpid 2>/dev/null || { cat "$T/daemon.log"; die "stillpointd did not start"; }

# --- the runs ------------------------------------------------------------
# restored_disk DIR: the data disk restore wrote into DIR (named vda, or
# vda.qcow2 since restored files carry the extension of their format).
restored_disk() {
	local f
	for f in "$1/vda.qcow2" "$1/vda.raw" "$1/vda"; do
		[ -f "$f" ] && { echo "$f"; return 0; }
	done
	return 1
}
# One row per point, from its manifest and its job: run, start (UTC),
# late s (after the scheduled instant), job s, transfer ms, freeze ms,
# read MiB, new MiB, stored MiB, read mode, RPO s (gap to the previous
# point), status.
rows() {
	local pts jobs
	pts=$(sp points "$vm" --json) || return 1
	jobs=$(sp --json jobs --vm "$vm") || return 1
	jq -nr --argjson pts "$pts" --argjson jobs "$jobs" --argjson cad "$cad_s" \
		--argjson anchor "$anchor" '
	def mib: . / 1048576 | . * 10 | round / 10;
	def t: (sub("\\.[0-9]+"; "") | sub("\\+00:00$"; "Z") | fromdateiso8601) +
		((capture("\\.(?<f>[0-9]+)").f // "0") | "0." + . | tonumber);
	($pts | sort_by(.time)) as $p |
	range(0; $p | length) as $i | $p[$i] as $m |
	([$jobs[] | select(.point == $m.id)][0] // {}) as $j |
	[$i + 1,
	 (($j.started_ms // 0) / 1000 | floor | strftime("%H:%M:%S")),
	 (($j.started_ms // 0) / 1000 - $anchor | . - (. / $cad | floor) * $cad | if . > $cad / 2 then . - $cad else . end | . * 10 | round / 10),
	 ((($j.ended_ms // 0) - ($j.started_ms // 0)) / 1000 | . * 10 | round / 10),
	 $m.phases.transfer.duration_ms, $m.freeze_ms,
	 ($m.bytes_read | mib), ($m.bytes_new | mib), ($m.bytes_stored // 0 | mib),
	 ([$m.disks[].read_mode] | join(",")),
	 (if $i == 0 then "-" else ($m.time | t) - ($p[$i - 1].time | t) | . * 10 | round / 10 end),
	 ($j.trigger // "?") + "/" + ($j.status // "?")] | @tsv'
}
got=0
deadline=$((SECONDS + (runs - 1) * cad_s + 900))
while [ "$got" -lt "$runs" ]; do
	[ $SECONDS -lt $deadline ] || die "only $got of $runs points in time"
	kill -0 $dpid 2>/dev/null || { tail -n 20 "$T/daemon.log"; die "stillpointd died"; }
	sleep 10
	# A job is counted once it has ended: its point is published before.
	jobs=$(sp --json jobs --vm "$vm" 2>/dev/null) || continue
	failed=$(jq '[.[] | select(.status == "failed")] | length' <<<"$jobs")
	[ "$failed" = 0 ] || { sp jobs --vm "$vm"; die "a scheduled job failed"; }
	n=$(jq '[.[] | select(.status | startswith("completed"))] | length' <<<"$jobs")
	if [ "$n" -gt "$got" ]; then
		# The host's load (1-minute average) seen right after the job:
		# other work on the machine slows the guest and the backup.
		for ((i = got; i < n; i++)); do cut -d' ' -f1 /proc/loadavg; done >>"$T/load.txt"
		got=$n
		rows | paste - "$T/load.txt" >"$T/rows.tsv"
		log "point $got of $runs: $(tail -n 1 "$T/rows.tsv" | tr '\t' ' ')"
	fi
done
churn_s=$(awk -v a="$churn_t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%d", b - a }')
read -r cw cb < <(lab_guest_exec "$vm" /bin/cat /run/churn.stat)
sp --json jobs --vm "$vm" >"$T/jobs.json"
sp points "$vm" --json >"$T/points.json"

# --- the newest point restores and holds good data ------------------------
last=$(jq -r 'sort_by(.time) | .[-1].id' "$T/points.json")
mkdir -p "$T/restored"
log "restoring $vm@$last"
t0=$EPOCHREALTIME
sp restore "$vm@$last" --to "$T/restored" >/dev/null || die "restore of $vm@$last failed"
rdisk=$(restored_disk "$T/restored") || die "no data disk restored: $(ls "$T/restored")"
restore_s=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
{ read -r last_rec; read -r stall_ms; } < <(lab_records_check "$rdisk" -p) ||
	die "the restored data disk's records are torn"
churn_size=$(qemu-img convert -O raw "$rdisk" "$T/r.raw" &&
	debugfs -R 'stat /churn' "$T/r.raw" 2>/dev/null |
	sed -n 's/.*[^a-z]Size: \([0-9]*\).*/\1/p' | head -n 1)
rm -f "$T/r.raw"
[ "$churn_size" = $((churn_mib * 1048576)) ] || die "the restored churn file is $churn_size bytes"
restore_ok="yes: e2fsck clean, $last_rec records intact and ending cleanly, churn file whole"

# --- and one more point, byte for byte ------------------------------------
# With both writers stopped, the guest's own SHA-256 of its files against
# those of the files restored from one more incremental point (taken
# through the daemon, read by dirty bitmap like the others): the chain of
# incrementals rebuilt every byte the guest wrote.
log "stopping the writers for the byte check"
lab_guest_exec "$vm" /bin/sh -c 'for p in $(cat /run/churn.pid /run/workload.pid); do
	kill $p; while kill -0 $p 2>/dev/null; do sleep 0.1; done; done; sync' ||
	die "cannot stop the writers in the guest"
lab_guest_exec "$vm" /bin/sh -c 'sha256sum /mnt/vda/churn /mnt/vda/records' >"$T/guest.out" &&
	awk '{ print $1 }' "$T/guest.out" >"$T/guest.sha256" &&
	[ "$(grep -c '^[0-9a-f]\{64\}$' "$T/guest.sha256")" = 2 ] ||
	die "cannot hash the files in the guest"
sp --json backup "$vm" --now >"$T/final-job.json" || die "the final backup failed"
final=$(jq -r .point "$T/final-job.json")
sp points "$vm" --json | jq ".[] | select(.id == \"$final\")" >"$T/final.json"
jqe '[.disks[].read_mode] == ["dirty-bitmap"]' "$T/final.json" ||
	die "the final point was not read by dirty bitmap"
mkdir -p "$T/final"
sp restore "$vm@$final" --to "$T/final" >/dev/null || die "restore of $vm@$final failed"
fdisk=$(restored_disk "$T/final") || die "no data disk restored: $(ls "$T/final")"
# e2fsck replays a journal, if any, as a mount would (exit 1: fixed).
qemu-img convert -O raw "$fdisk" "$T/f.raw" &&
	{ e2fsck -fy "$T/f.raw" >/dev/null 2>&1; [ $? -lt 4 ]; } &&
	debugfs -R "dump /churn $T/f.churn" "$T/f.raw" >/dev/null 2>&1 &&
	debugfs -R "dump /records $T/f.records" "$T/f.raw" >/dev/null 2>&1 ||
	die "cannot read the files of the final point"
sha256sum "$T/f.churn" "$T/f.records" | awk '{ print $1 }' >"$T/host.sha256"
rm -f "$T/f.raw" "$T/f.churn" "$T/f.records"
cmp -s "$T/guest.sha256" "$T/host.sha256" ||
	die "the final point's files differ from the guest's"
bytes_ok="the churn file and the records restored from a final incremental point (read $(jq '.bytes_read / 1048576 | floor' "$T/final.json") MiB by dirty bitmap, writers stopped) have the guest's own SHA-256"
kill $dpid
wait $dpid 2>/dev/null
lab_stop "$vm" 60

# --- the table -----------------------------------------------------------
median() { sort -n | awk '{ a[NR] = $1 } END { if (NR) print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
# Medians over the incremental runs (2..RUNS): column $1 of rows.tsv.
med() { awk -F'\t' -v c="$1" 'NR > 1 && $c != "-" { print $c }' "$T/rows.tsv" | median; }
rate=$(awk -v b="$cb" -v s="$churn_s" 'BEGIN { printf "%.1f", b / 1048576 / (s / 60) }')
commit=$(git -C "$top" rev-parse --short HEAD 2>/dev/null || echo unknown)
cpu=$(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1)
{
	echo "# RPO benchmark: a point every $cadence ($(date -u +%F), commit $commit)"
	echo
	echo "Machine: $(nproc) CPUs ($cpu), $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo);"
	echo "guest: QEMU TCG under libvirt, one ${disk_gib} GiB qcow2 data disk (ext4) with a"
	echo "${churn_mib} MiB file rewritten at random (${wpm} writes/min of 4-64 KiB, each"
	echo "fsynced: $cw writes, $((cb / 1048576)) MiB in ${churn_s} s, ${rate} MiB/min measured) and a"
	echo "record appended and fsynced every ${record_ms} ms; vault: ${VAULT:-a local directory}."
	echo "Schedule \`$SCHEDULE\`, run by stillpointd; file-system consistent (frozen) points."
	echo
	echo "| run | start (UTC) | late (s) | job (s) | transfer (ms) | freeze (ms) | read (MiB) | new (MiB) | stored (MiB) | read mode | RPO (s) | job | host load |"
	echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
	awk -F'\t' '{ printf "|"; for (i = 1; i <= NF; i++) printf " %s |", $i; print "" }' "$T/rows.tsv"
	echo
	echo "Medians of the incremental runs (2-$runs): job $(med 4) s, transfer $(med 5) ms,"
	echo "freeze $(med 6) ms, read $(med 7) MiB, new $(med 8) MiB, stored $(med 9) MiB,"
	echo "RPO $(med 11) s (max $(awk -F'\t' 'NR > 1 { print $11 }' "$T/rows.tsv" | sort -n | tail -1) s)."
	echo
	echo "Newest point restored in ${restore_s} s: $restore_ok; longest pause"
	echo "between records over the whole run ${stall_ms} ms.  Byte check: $bytes_ok."
} >"$out.md"
jq -n --rawfile rows "$T/rows.tsv" --argjson points "$(cat "$T/points.json")" \
	--argjson jobs "$(cat "$T/jobs.json")" --arg schedule "$SCHEDULE" \
	--arg commit "$commit" --arg date "$(date -u +%FT%TZ)" \
	--argjson churn_writes "$cw" --argjson churn_bytes "$cb" --argjson churn_s "$churn_s" \
	--arg restore_s "$restore_s" --argjson last_record "$last_rec" --argjson stall_ms "$stall_ms" '
	{date: $date, commit: $commit, schedule: $schedule,
	 churn: {writes: $churn_writes, bytes: $churn_bytes, seconds: $churn_s},
	 restore: {seconds: ($restore_s | tonumber), last_record: $last_record,
		longest_record_pause_ms: $stall_ms},
	 rows: [$rows | split("\n")[] | select(length > 0) | split("\t")],
	 jobs: $jobs,
	 points: [$points[] | {id, time, consistency, freeze_ms, bytes_read,
		bytes_new, bytes_stored, phases, disks: [.disks[] | {name, read_mode,
		bytes_read, bytes_new}]}]}' >"$out.json"
cp "$out.md" "$out.json" "$T/"
cat "$out.md"

#!/bin/bash
# Instant recovery benchmark on the test lab's guest (QEMU TCG under
# libvirt): the RTO of 'restore --as NEW --instant' (from the command to
# the new guest's agent answering, as the job records it) and the time
# the background copy then takes, for a guest with a 1 GiB and a 16 GiB
# data disk (ext4 holding 200 MiB of random data and the workload's
# records), from a local vault and from an S3 vault (a RADOS Gateway of
# our own, tests/s3/s3-server.sh).  The guest's workload writes during the
# copy.  Writes bench/results/instant-latest.{json,md}.
#
# As root, after tools/setup-debian.sh && make:
#   bench/instant.sh                 # both sizes, both vaults
#   SIZES="1" VAULTS="local" RUNS=1 bench/instant.sh
# Each case runs RUNS times (default 3) from the same point, the page
# cache dropped before each.
# The S3 server: SP_S3_DIR (default /var/tmp/sp-s3-instant), SP_S3_PORT
# (7495), SP_S3_MON_PORT (40350); it is left running for the next run.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
export SP=${SP:-$top/build/stillpoint} SP_TOP=$top
. "$top/tests/integration/lib.sh"
. "$top/tests/lab/lab.sh"
lab_need
lab_build_guest
sizes=${SIZES:-1 16}
vaults=${VAULTS:-local s3}
runs=${RUNS:-3}
out=$top/bench/results
mkdir -p "$out"
export STILLPOINT_STATE_DIR=$T/state STILLPOINT_CACHE_DIR=$T/cache
if [[ " $vaults " == *" s3 "* ]]; then
	export SP_S3_DIR=${SP_S3_DIR:-/var/tmp/sp-s3-instant}
	export SP_S3_PORT=${SP_S3_PORT:-7495} SP_S3_MON_PORT=${SP_S3_MON_PORT:-40350}
	need_s3
fi
random_file "$T/seed" 200 instant

results=()
for size in $sizes; do
	vm=instant-bench-$size-$$
	disk=$T/d$size.qcow2
	mkdir -p "$T/fill$size" && cp "$T/seed" "$T/fill$size/data"
	truncate -s "${size}G" "$T/d.raw"
	mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 -d "$T/fill$size" "$T/d.raw"
	qemu-img convert -f raw -O qcow2 "$T/d.raw" "$disk"
	rm -rf "$T/d.raw" "$T/fill$size"
	LAB_WORKLOAD=1 LAB_WORKLOAD_MS=50 lab_define_domain "$vm" "$disk"
	lab_start "$vm"
	lab_wait_agent "$vm" 300 || die "guest did not come up"
	for vault in $vaults; do
		if [ "$vault" = s3 ]; then
			loc="s3://$S3_BUCKET/v$size"
		else
			loc=$T/vault$size
		fi
		"$SP" --no-progress --vault "$loc" init --no-encrypt >/dev/null ||
			die "init $loc"
		"$SP" --no-progress --vault "$loc" --json backup "$vm" >"$T/b.json" ||
			die "backup to $loc failed"
		id=$(jq -r .id "$T/b.json")
		for run in $(seq "$runs"); do
			new=instant-bench-new-$size-$vault-$run-$$
			to=$T/to-$size-$vault-$run
			mkdir "$to" && chmod 755 "$to"
			at_exit lab_undefine "$new"
			sync
			echo 3 >/proc/sys/vm/drop_caches
			t0=$EPOCHREALTIME
			"$SP" --no-progress --vault "$loc" --json restore "$vm@$id" --as "$new" \
				--instant --to "$to" --agent-timeout 600 >"$T/i.json" ||
				die "instant restore of $size GiB from $vault failed"
			t1=$EPOCHREALTIME
			job=$(jq -r .job "$T/i.json")
			while [ "$("$SP" --json job "$job" | jq -r .status)" = "in progress" ]; do
				sleep 1
			done
			"$SP" --json job "$job" >"$T/j.json"
			[ "$(jq -r .status "$T/j.json")" = completed ] ||
				die "job $job did not complete: $(cat "$T/j.json")"
			cmd_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
			results+=("$(jq -c --arg vault "$vault" --argjson size "$size" \
				--argjson cmd_s "$cmd_s" --argjson run "$run" '{size_gib: $size,
				vault: $vault, run: $run, rto_ms, boot_ms, copy_ms,
				copied: .copy.total, command_s: $cmd_s}' "$T/j.json")")
			say "# ${size} GiB from $vault: ${results[-1]}"
			lab_undefine "$new"
			rm -rf "$to"
		done
	done
	lab_undefine "$vm"
	rm -f "$disk"
done

printf '%s\n' "${results[@]}" | jq -s . >"$out/instant-latest.json"
{
	echo "| disk | vault | run | RTO (command to agent) | domain running | background copy |"
	echo "|---|---|---|---|---|---|"
	jq -r '.[] | "| \(.size_gib) GiB | \(.vault) | \(.run) | \(.rto_ms / 1000 * 10 | round / 10) s | \(.boot_ms / 1000 * 10 | round / 10) s | \(.copy_ms / 100 | round / 10) s |"' \
		"$out/instant-latest.json"
} >"$out/instant-latest.md"
cat "$out/instant-latest.md"

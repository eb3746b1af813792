#!/bin/bash
# Stillpoint alone with vaults of 1, 2 and 4 MiB chunks on the benchmark
# corpus: time of full, incremental and restore, bytes new in the
# incremental, vault size and number of chunk files.  The default chunk
# size (SP_DEFAULT_CHUNK_SIZE) was chosen from this table.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dir=${BENCH_DIR:-/var/tmp/stillpoint-bench}
sp=${STILLPOINT:-$here/../build/stillpoint}
out=$here/results/chunk-size.md
{
	echo "| chunk | full (s) | incr (s) | restore (s) | incr bytes new | vault | chunk files |"
	echo "|---|---|---|---|---|---|---|"
} >"$out.tmp"
for cs in 1M 2M 4M; do
	SP_INIT_ARGS="--chunk-size $cs" TOOLS=stillpoint RESULTS_NAME="chunk-$cs" \
		"$here/run.sh" >/dev/null
	# run.sh removed the restore but kept the vault: read its numbers.
	vault=$dir/repo-stillpoint
	new=$("$sp" --vault "$vault" points bench --json | jq '.[-1].bytes_new')
	files=$(find "$vault/chunks" -type f | wc -l)
	size=$(du -sh "$vault" | cut -f1)
	j=$here/results/chunk-$cs.json
	printf '| %s | %s | %s | %s | %s MiB | %s | %s |\n' "$cs" \
		"$(jq -r '.results.stillpoint.full' "$j")" \
		"$(jq -r '.results.stillpoint.incr' "$j")" \
		"$(jq -r '.results.stillpoint.restore' "$j")" \
		"$((new / 1048576))" "$size" "$files" >>"$out.tmp"
done
mv "$out.tmp" "$out"
cat "$out"

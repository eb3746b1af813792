#!/bin/bash
# What encryption costs a backup: full backup (and restore) of the
# benchmark corpus (state0: root.img + db.img) into an unencrypted and an
# encrypted vault of the same kind, from a cold page cache, ROUNDS times,
# the two interleaved round by round so that a slow spell of the machine
# hits both.  Prints the times, the throughput over the allocated bytes
# and the ratio encrypted / unencrypted of the median times.
#
#   bench/encryption.sh                       # local vaults in BENCH_DIR
#   ROUNDS=5 bench/encryption.sh
#   S3_VAULT=s3://BUCKET/PREFIX bench/encryption.sh
#       # vaults in S3 instead (PREFIX-plain-N, PREFIX-enc-N; AWS_* from
#       # the environment, e.g. eval "$(tests/s3/s3-server.sh env)")
#
# As root (drop_caches), after make-corpus.sh made the corpus (bench/run.sh
# does on its first run).  Results also in bench/results/encryption.md.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
dir=${BENCH_DIR:-/var/tmp/stillpoint-bench}
sp=${STILLPOINT:-$top/build/stillpoint}
rounds=${ROUNDS:-3}
s3=${S3_VAULT:-}
corpus=$dir/corpus/state0
out=$here/results/encryption.md
export STILLPOINT_PASSPHRASE=bench-passphrase
unset STILLPOINT_PASSPHRASE_FILE STILLPOINT_KEY_FILE

[ "$(id -u)" = 0 ] || { echo "run as root (drop_caches)" >&2; exit 1; }
[ -f "$corpus/.complete" ] || "$here/make-corpus.sh" "$dir/corpus"
[ -x "$sp" ] || { echo "no $sp (run make)" >&2; exit 1; }

cold() { sync; echo 3 >/proc/sys/vm/drop_caches; }
alloc=$(($(du -k "$corpus/root.img" | cut -f1) + $(du -k "$corpus/db.img" | cut -f1)))
times=$dir/encryption.tsv
: >"$times"

vault_of() { # MODE ROUND
	if [ -n "$s3" ]; then echo "$s3-$1-$2"; else echo "$dir/enc-bench-$1"; fi
}
for ((r = 1; r <= rounds; r++)); do
	for mode in plain enc; do
		v=$(vault_of $mode $r)
		[ -n "$s3" ] || rm -rf "$v"
		rm -rf "$dir/enc-restore" && mkdir -p "$dir/enc-restore"
		if [ $mode = enc ]; then flag=--encrypt; else flag=--no-encrypt; fi
		"$sp" --quiet --vault "$v" init $flag >/dev/null
		cold
		t0=$(date +%s.%N)
		"$sp" --quiet --vault "$v" backup --name bench \
			--disk "$corpus/root.img" --disk "$corpus/db.img"
		t1=$(date +%s.%N)
		cold
		"$sp" --quiet --vault "$v" restore bench --to "$dir/enc-restore"
		t2=$(date +%s.%N)
		cmp "$corpus/db.img" "$dir/enc-restore/db.img"
		full=$(echo "$t1 - $t0" | bc -l)
		rest=$(echo "$t2 - $t1" | bc -l)
		printf '%s\t%s\t%.2f\t%.2f\n' "$mode" "$r" "$full" "$rest" >>"$times"
		printf 'round %d %-5s full %6.2f s  restore %6.2f s\n' "$r" "$mode" "$full" "$rest" >&2
	done
done
rm -rf "$dir/enc-restore"
[ -n "$s3" ] || rm -rf "$dir/enc-bench-plain" "$dir/enc-bench-enc"

median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
med() { awk -v m="$1" -v c="$2" '$1 == m { print $c }' "$times" | median; }
pf=$(med plain 3) ef=$(med enc 3) pr=$(med plain 4) er=$(med enc 4)
kind=local
[ -z "$s3" ] || kind=s3
{
	echo "Corpus: $((alloc / 1024)) MiB allocated (state0 root.img + db.img), $kind vaults, $rounds rounds, medians"
	echo
	echo "| vault | full (s) | full MB/s | restore (s) |"
	echo "|---|---|---|---|"
	for m in plain enc; do
		f=$(med $m 3)
		printf '| %s | %.2f | %.0f | %.2f |\n' "$m" "$f" "$(echo "$alloc * 1024 / 1000000 / $f" | bc -l)" "$(med $m 4)"
	done
	echo
	printf 'encrypted / unencrypted time: full %.3f (cost %+.1f %% throughput), restore %.3f\n' \
		"$(echo "$ef / $pf" | bc -l)" "$(echo "(1 - $pf / $ef) * 100" | bc -l)" "$(echo "$er / $pr" | bc -l)"
	echo
	echo "Every round (mode, round, full s, restore s):"
	echo
	sed 's/^/    /' "$times"
} | tee "$out"

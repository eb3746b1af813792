#!/bin/bash
# What encryption costs a backup: full backup (and restore) of the
# benchmark corpus (state0: root.img + db.img) into an unencrypted and an
# encrypted vault of the same kind, from a cold page cache, ROUNDS times,
# the two interleaved round by round so that a slow spell of the machine
# hits both.  Prints wall and CPU (user + system) times, the throughput
# over the allocated bytes and the ratios encrypted / unencrypted of the
# medians.  On a shared machine the CPU time is the steadier figure:
# encryption costs CPU, and other loads move wall times by more than it.
#
#   bench/encryption.sh                       # local vaults in BENCH_DIR
#   ROUNDS=5 bench/encryption.sh
#   UNLOCK=passphrase bench/encryption.sh     # see below
#   FILES=db.img bench/encryption.sh          # a part of the corpus
#   S3_VAULT=s3://BUCKET/PREFIX bench/encryption.sh
#       # vaults in S3 instead (PREFIX-plain-N, PREFIX-enc-N; AWS_* from
#       # the environment, e.g. eval "$(tests/s3/s3-server.sh env)")
#
# The encrypted vault is opened with a key file by default: a passphrase
# costs each command one scrypt run (about 0.3 s of one core, whatever the
# amount of data), which is a fixed cost per command, not a throughput
# cost; UNLOCK=passphrase includes it.
#
# As root (drop_caches), after make-corpus.sh made the corpus (bench/run.sh
# does on its first run).  Results also in bench/results/encryption-KIND.md.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
dir=${BENCH_DIR:-/var/tmp/stillpoint-bench}
sp=${STILLPOINT:-$top/build/stillpoint}
rounds=${ROUNDS:-3}
s3=${S3_VAULT:-}
corpus=$dir/corpus/state0
files=${FILES:-root.img db.img}
kind=local
[ -z "$s3" ] || kind=s3
out=$here/results/encryption-$kind.md
unlock=${UNLOCK:-keyfile}
keyfile=$dir/enc-bench.key
export STILLPOINT_PASSPHRASE=bench-passphrase
unset STILLPOINT_PASSPHRASE_FILE STILLPOINT_KEY_FILE

[ "$(id -u)" = 0 ] || { echo "run as root (drop_caches)" >&2; exit 1; }
[ -f "$corpus/.complete" ] || "$here/make-corpus.sh" "$dir/corpus"
[ -x "$sp" ] || { echo "no $sp (run make)" >&2; exit 1; }

cold() { sync; echo 3 >/proc/sys/vm/drop_caches; }
alloc=0 disks=()
for f in $files; do
	alloc=$((alloc + $(du -k "$corpus/$f" | cut -f1)))
	disks+=(--disk "$corpus/$f")
done
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
		unset STILLPOINT_KEY_FILE
		if [ $mode = plain ]; then
			"$sp" --quiet --vault "$v" init --no-encrypt >/dev/null
		elif [ "$unlock" = passphrase ]; then
			"$sp" --quiet --vault "$v" init --encrypt >/dev/null
		else
			rm -f "$keyfile"
			"$sp" --quiet --vault "$v" init --encrypt --key-file "$keyfile" >/dev/null
			export STILLPOINT_KEY_FILE=$keyfile
		fi
		cold
		/usr/bin/time -f "%e %U %S" -o "$dir/enc-time" \
			"$sp" --quiet --vault "$v" backup --name bench "${disks[@]}"
		read -r full fu fs <"$dir/enc-time"
		cold
		/usr/bin/time -f "%e %U %S" -o "$dir/enc-time" \
			"$sp" --quiet --vault "$v" restore bench --to "$dir/enc-restore"
		read -r rest ru rs <"$dir/enc-time"
		# a raw disk is restored as *.raw (README, "Restored file names")
		for f in $files; do cmp "$corpus/$f" "$dir/enc-restore/${f%.img}.raw"; done
		fcpu=$(echo "$fu + $fs" | bc -l)
		rcpu=$(echo "$ru + $rs" | bc -l)
		printf '%s\t%s\t%.2f\t%.2f\t%.2f\t%.2f\n' "$mode" "$r" "$full" "$rest" "$fcpu" "$rcpu" >>"$times"
		printf 'round %d %-5s full %6.2f s (cpu %6.2f s)  restore %6.2f s (cpu %6.2f s)\n' \
			"$r" "$mode" "$full" "$fcpu" "$rest" "$rcpu" >&2
	done
done
rm -rf "$dir/enc-restore" "$keyfile"
[ -n "$s3" ] || rm -rf "$dir/enc-bench-plain" "$dir/enc-bench-enc"

median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
med() { awk -v m="$1" -v c="$2" '$1 == m { print $c }' "$times" | median; }
pf=$(med plain 3) ef=$(med enc 3) pr=$(med plain 4) er=$(med enc 4)
pc=$(med plain 5) ec=$(med enc 5) prc=$(med plain 6) erc=$(med enc 6)
{
	echo "Corpus: $((alloc / 1024)) MiB allocated (state0: $files), $kind vaults, $rounds rounds, medians; encrypted vault opened with a $unlock"
	echo
	echo "| vault | full wall (s) | full MB/s | full CPU (s) | restore wall (s) | restore CPU (s) |"
	echo "|---|---|---|---|---|---|"
	for m in plain enc; do
		f=$(med $m 3)
		printf '| %s | %.2f | %.0f | %.2f | %.2f | %.2f |\n' "$m" "$f" \
			"$(echo "$alloc * 1024 / 1000000 / $f" | bc -l)" "$(med $m 5)" "$(med $m 4)" "$(med $m 6)"
	done
	echo
	printf 'encrypted / unencrypted, full backup: wall %.3f (throughput %+.1f %%), CPU %.3f\n' \
		"$(echo "$ef / $pf" | bc -l)" "$(echo "($pf / $ef - 1) * 100" | bc -l)" "$(echo "$ec / $pc" | bc -l)"
	printf 'encrypted / unencrypted, restore:     wall %.3f, CPU %.3f\n' \
		"$(echo "$er / $pr" | bc -l)" "$(echo "$erc / $prc" | bc -l)"
	echo
	echo "Every round (mode, round, full s, restore s, full CPU s, restore CPU s):"
	echo
	sed 's/^/    /' "$times"
} | tee "$out"

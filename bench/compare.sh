#!/bin/bash
# Two builds of stillpoint on the benchmark corpus, run alternately in one
# session so that a drifting host affects both alike: full backup of
# state0 and incremental of state1, each from a cold page cache, ROUNDS
# times; plus the cost of --check-transfer for the second build.  Prints
# medians and the ratio second/first.
#
#   bench/compare.sh OLD_STILLPOINT NEW_STILLPOINT [ROUNDS]
#   (BENCH_DIR as bench/run.sh; the corpus is built there if missing)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
a=${1:?usage: compare.sh OLD NEW [ROUNDS]} b=${2:?usage: compare.sh OLD NEW [ROUNDS]}
rounds=${3:-5}
dir=${BENCH_DIR:-/var/tmp/stillpoint-bench}
[ "$(id -u)" = 0 ] || { echo "run as root (drop_caches)" >&2; exit 1; }
"$here/make-corpus.sh" "$dir/corpus"
corpus=$dir/corpus
out=$dir/compare.tsv
: >"$out"

cold() { sync; echo 3 >/proc/sys/vm/drop_caches; }
put_state() {
	rm -rf "$dir/cwork"; mkdir -p "$dir/cwork"
	cp --sparse=always "$corpus/$1/root.img" "$corpus/$1/db.img" "$dir/cwork/"
}
# run LABEL BIN [backup options...]: one full + one incremental, timed.
run() {
	local label=$1 bin=$2 vault=$dir/cvault t0 t1; shift 2
	rm -rf "$vault"
	"$bin" --vault "$vault" init >/dev/null
	put_state state0
	cold
	t0=$EPOCHREALTIME
	"$bin" --quiet --vault "$vault" backup --name bench \
		--disk "$dir/cwork/root.img" --disk "$dir/cwork/db.img" "$@"
	t1=$EPOCHREALTIME
	printf '%s\tfull\t%s\n' "$label" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')" >>"$out"
	put_state state1
	cold
	t0=$EPOCHREALTIME
	"$bin" --quiet --vault "$vault" backup --name bench \
		--disk "$dir/cwork/root.img" --disk "$dir/cwork/db.img" "$@"
	t1=$EPOCHREALTIME
	printf '%s\tincr\t%s\n' "$label" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')" >>"$out"
}
for ((i = 1; i <= rounds; i++)); do
	if ((i % 2)); then run old "$a"; run new "$b"; else run new "$b"; run old "$a"; fi
	run checked "$b" --check-transfer
	echo "round $i done" >&2
done
rm -rf "$dir/cwork" "$dir/cvault"
python3 - "$out" <<'PY'
import statistics, sys
rows = [l.split("\t") for l in open(sys.argv[1]).read().split("\n") if l]
t = {}
for label, step, secs in rows:
    t.setdefault((label, step), []).append(float(secs))
med = {k: statistics.median(v) for k, v in t.items()}
print("| build | full (s, median) | incremental (s, median) | runs |")
print("|---|---|---|---|")
for label in ("old", "new", "checked"):
    print("| %s | %.2f | %.2f | %d |" % (label, med[(label, "full")], med[(label, "incr")], len(t[(label, "full")])))
print()
print("new/old: full %.3f, incremental %.3f; checked/new: full %.3f, incremental %.3f" % (
    med[("new", "full")] / med[("old", "full")], med[("new", "incr")] / med[("old", "incr")],
    med[("checked", "full")] / med[("new", "full")], med[("checked", "incr")] / med[("new", "incr")]))
PY

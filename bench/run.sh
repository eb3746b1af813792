#!/bin/bash
# One run that measures Stillpoint, restic and borg on the same corpus:
# full backup of state0, incremental backup of state1 (after a realistic
# change), restore of the newest backup -- each from a cold page cache.
# Writes a Markdown table to stdout and bench/results/latest.{md,json}.
#
#   bench/run.sh                    # all three tools
#   TOOLS="stillpoint restic" bench/run.sh
#   BENCH_DIR=/var/tmp/stillpoint-bench  (work and corpus; not in the repo)
#   STILLPOINT=build/stillpoint         SP_INIT_ARGS="--chunk-size 4M"
#   ROUNDS=5   restores of each tool, taken in turns (tool A, tool B, A,
#              B, ...) after all backups; the tables give the median
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
dir=${BENCH_DIR:-/var/tmp/stillpoint-bench}
sp=${STILLPOINT:-$top/build/stillpoint}
tools=${TOOLS:-stillpoint restic borg}
export RESTIC_PASSWORD=bench BORG_PASSPHRASE=bench
export BORG_RELOCATED_REPO_ACCESS_IS_OK=yes BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes

[ "$(id -u)" = 0 ] || { echo "run as root (loop mounts, drop_caches)" >&2; exit 1; }
"$here/make-corpus.sh" "$dir/corpus"
corpus=$dir/corpus
results=$dir/results.tsv
: >"$results"

cold() { sync; echo 3 >/proc/sys/vm/drop_caches; }
# measure TOOL STEP command...: wall seconds and peak RSS (KiB) to results.
measure() {
	local tool=$1 step=$2; shift 2
	cold
	/usr/bin/time -f "%e %M" -o "$dir/time.out" "$@" >"$dir/$tool-$step.log" 2>&1 || {
		echo "$tool $step failed:" >&2; tail -5 "$dir/$tool-$step.log" >&2; exit 1; }
	read -r secs rss <"$dir/time.out"
	printf '%s\t%s\t%s\t%s\n' "$tool" "$step" "$secs" "$rss" >>"$results"
	printf '%-10s %-8s %8.2f s  %7d KiB peak RSS\n' "$tool" "$step" "$secs" "$rss" >&2
}
put_state() { # copy a corpus state to the fixed path every tool backs up
	rm -rf "$dir/work"; mkdir -p "$dir/work"
	cp --sparse=always "$corpus/$1/root.img" "$corpus/$1/db.img" "$dir/work/"
}
repo_size() { du -sk "$1" | cut -f1; }

declare -A restores
for tool in $tools; do
	repo=$dir/repo-$tool
	rm -rf "$repo" "$dir/restore-$tool"
	mkdir -p "$dir/restore-$tool"
	case $tool in
	stillpoint)
		[ -x "$sp" ] || { echo "skipping stillpoint: $sp not built (run make)" >&2; continue; }
		"$sp" --vault "$repo" init ${SP_INIT_ARGS:-} >/dev/null
		backup="'$sp' --quiet --vault '$repo' backup --name bench --disk '$dir/work/root.img' --disk '$dir/work/db.img'"
		restore="'$sp' --quiet --vault '$repo' restore bench --to '$dir/restore-$tool'"
		;;
	restic)
		restic init -q -r "$repo"
		backup="cd '$dir/work' && restic -q -r '$repo' backup root.img db.img"
		restore="restic -q -r '$repo' restore latest --target '$dir/restore-$tool'"
		;;
	borg)
		borg init -e none "$repo"
		backup="cd '$dir/work' && borg create \"$repo::\$(date +%s%N)\" root.img db.img"
		restore="cd '$dir/restore-$tool' && borg extract --sparse \"$repo::\$(borg list --short --last 1 '$repo')\""
		;;
	esac
	put_state state0
	measure "$tool" full bash -c "$backup"
	printf '%s\tsize_full\t%s\t0\n' "$tool" "$(repo_size "$repo")" >>"$results"
	put_state state1
	measure "$tool" incr bash -c "$backup"
	printf '%s\tsize_incr\t%s\t0\n' "$tool" "$(repo_size "$repo")" >>"$results"
	restores[$tool]=$restore
done

# The restores in turns, so that a noisy neighbour slows every tool alike;
# each from a cold cache, checked with cmp.  restore_sync: the seconds a
# sync(1) right after the restore took, i.e. what the tool left unwritten
# (Stillpoint fsyncs what it restores before it exits; restic does not).
for ((round = 1; round <= ${ROUNDS:-1}; round++)); do
	for tool in $tools; do
		[ -n "${restores[$tool]:-}" ] || continue
		rm -rf "$dir/restore-$tool"
		mkdir -p "$dir/restore-$tool"
		measure "$tool" "restore$round" bash -c "${restores[$tool]}"
		s0=$(date +%s%N); sync; s1=$(date +%s%N)
		printf '%s\trestore_sync%s\t%s\t0\n' "$tool" "$round" \
			"$(awk -v a="$s0" -v b="$s1" 'BEGIN {printf "%.2f", (b - a) / 1e9}')" >>"$results"
		ok=yes
		for f in root.img db.img; do
			out=$f # stillpoint names a raw disk *.raw (README, "Restored file names")
			[ "$tool" != stillpoint ] || out=${f%.img}.raw
			cmp -s "$corpus/state1/$f" "$dir/restore-$tool/$out" || ok=no
		done
		[ "$ok" = yes ] || { echo "$tool restore $round: not equal to the source" >&2; exit 1; }
		printf '%s\tcorrect\t%s\t0\n' "$tool" "$ok" >>"$results"
		rm -rf "$dir/restore-$tool"
	done
done

alloc=$(du -k "$corpus/state0/root.img" "$corpus/state0/db.img" | awk '{s+=$1} END {print s}')
virt=$(du -k --apparent-size "$corpus/state0/root.img" "$corpus/state0/db.img" | awk '{s+=$1} END {print s}')
python3 - "$results" "$alloc" "$virt" "$here/results" <<'PY'
import json, sys, os, datetime
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
alloc, virt, outdir = int(sys.argv[2]) * 1024, int(sys.argv[3]) * 1024, sys.argv[4]
import re, statistics
r = {}
rounds = {}
for tool, step, a, b in rows:
    m = re.fullmatch(r"(restore|restore_sync)(\d+)", step)
    if m:
        rounds.setdefault(tool, {}).setdefault(m.group(1), []).append((float(a), int(b)))
        continue
    r.setdefault(tool, {})[step] = (a, b)
for tool, d in rounds.items():
    # the median of the rounds (and the largest peak RSS)
    for step, v in d.items():
        r[tool][step] = ("%.2f" % statistics.median(x for x, _ in v), str(max(y for _, y in v)))
    r[tool]["restore_rounds"] = ([x for x, _ in d["restore"]], "0")
def f(tool, step):
    return float(r[tool][step][0])
lines = ["| tool | full (s) | full MB/s (allocated) | incremental (s) | restore (s) | vault after full | after incr | peak RSS | restore correct |",
         "|---|---|---|---|---|---|---|---|---|"]
for tool in r:
    peak = max(int(r[tool][s][1]) for s in ("full", "incr", "restore"))
    lines.append("| %s | %.1f | %.0f | %.1f | %.1f | %.0f MiB | %.0f MiB | %.0f MiB | %s |" % (
        tool, f(tool, "full"), alloc / 1e6 / f(tool, "full"), f(tool, "incr"),
        f(tool, "restore"), int(r[tool]["size_full"][0]) / 1024,
        int(r[tool]["size_incr"][0]) / 1024, peak / 1024, r[tool]["correct"][0]))
ratios = []
if "stillpoint" in r:
    for other in r:
        if other == "stillpoint":
            continue
        ratios.append("| %s / stillpoint | %.1f× | %.1f× | %.1f× |" % (
            other, f(other, "full") / f("stillpoint", "full"),
            f(other, "incr") / f("stillpoint", "incr"),
            f(other, "restore") / f("stillpoint", "restore")))
md = ["Corpus: %.2f GiB virtual, %.2f GiB allocated (root.img + db.img), %s" % (
        virt / 2**30, alloc / 2**30, datetime.date.today().isoformat()), ""] + lines
if ratios:
    md += ["", "| time ratio | full | incremental | restore |", "|---|---|---|---|"] + ratios
n = len(r.get("stillpoint", {}).get("restore_rounds", ([], 0))[0])
if n:
    md += ["", "Restores, %d round(s) in turns (median in the tables above):" % n, "",
           "| tool | restore (s) per round | median | sync after it (s), median | restore + sync, median |",
           "|---|---|---|---|---|"]
    for tool in r:
        md.append("| %s | %s | %.2f | %.2f | %.2f |" % (
            tool, " ".join("%.2f" % x for x in r[tool]["restore_rounds"][0]),
            f(tool, "restore"), f(tool, "restore_sync"),
            statistics.median(a + b for a, b in zip(r[tool]["restore_rounds"][0],
                                                     [x for x, _ in rounds[tool]["restore_sync"]]))))
    if "stillpoint" in r:
        for other in r:
            if other != "stillpoint":
                md.append("")
                md.append("%s / stillpoint restore, per round: %s" % (other, " ".join(
                    "%.2f×" % (a / b) for a, b in zip(r[other]["restore_rounds"][0],
                                                      r["stillpoint"]["restore_rounds"][0]))))
text = "\n".join(md) + "\n"
print(text)
os.makedirs(outdir, exist_ok=True)
name = os.environ.get("RESULTS_NAME", "latest")
open(os.path.join(outdir, name + ".md"), "w").write(text)
json.dump({"virtual_bytes": virt, "allocated_bytes": alloc,
           "rounds": {t: {s: [x for x, _ in v] for s, v in d.items()} for t, d in rounds.items()},
           "results": {t: {s: v[0] for s, v in d.items() if s != "restore_rounds"} for t, d in r.items()},
           "peak_rss_kib": {t: {s: int(v[1]) for s, v in d.items() if s in ("full", "incr", "restore")} for t, d in r.items()}},
          open(os.path.join(outdir, name + ".json"), "w"), indent=2)
PY

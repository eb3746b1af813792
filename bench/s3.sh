#!/bin/bash
# Stillpoint's S3 vault against restic's S3 repository, in one run, on the
# same S3 server (the test suite's Ceph RADOS Gateway, tests/s3/s3-server.sh,
# started if it is not running; never stopped here: others may use it).
#
#   bench/s3.sh                 the three parts below
#   bench/s3.sh compare         the bench corpus (bench/make-corpus.sh):
#                               full backup of state0, incremental of
#                               state1, restore of the newest, each from a
#                               cold page cache, for Stillpoint and restic
#   bench/s3.sh requests        a sparse 16 GiB disk holding BIG_DATA_MIB
#                               of random data: full backup, 1 % of the
#                               16 GiB rewritten in 164 places of 1 MiB,
#                               incremental; its S3 requests besides PUTs
#   bench/s3.sh rss             peak RSS of an S3 backup and restore of a
#                               disk holding 1 GiB against --threads
#                               (RSS_THREADS="1 2 4 8 16 32")
#
# Writes Markdown to stdout and bench/results/s3-latest.md (compare),
# s3-requests-latest.md (requests) and s3-rss-latest.md (rss), with .json
# beside them.
#
# Settings (environment):
#   BENCH_DIR=/var/tmp/stillpoint-bench   corpus (built once, reused) and,
#                                         under s3/, this script's work
#   STILLPOINT=build/stillpoint  SP_INIT_ARGS=   SP_ARGS= (global options,
#                                         e.g. "--threads 2")
#   SP_ENCRYPT=auto   auto: when the build has `init --encrypt`, Stillpoint
#                     runs twice, encrypted (STILLPOINT_PASSPHRASE) and
#                     with --no-encrypt, and the encryption cost is
#                     reported; 1: the same, but fail without encryption;
#                     0: one unencrypted Stillpoint vault only
#   BIG_DATA_MIB=4096  random data in the 16 GiB disk of `requests`
#   RESULTS_NAME=s3-latest   file name of the compare part's results
#   TOOLS="stillpoint restic"   the compare part's tools, in this order
#                     (stillpoint-plain: Stillpoint with --no-encrypt)
#
# Installs nothing: needs restic, time, curl, python3 (apt-get install
# restic time) and root (drop_caches).  Its buckets are removed at exit.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
dir=${BENCH_DIR:-/var/tmp/stillpoint-bench}
work=$dir/s3
sp=${STILLPOINT:-$top/build/stillpoint}
big_data_mib=${BIG_DATA_MIB:-4096}
parts=${*:-compare requests rss}
export RESTIC_PASSWORD=bench STILLPOINT_PASSPHRASE=bench

[ "$(id -u)" = 0 ] || { echo "run as root (drop_caches)" >&2; exit 1; }
[ -x "$sp" ] || { echo "$sp not built (run make)" >&2; exit 1; }
for t in restic curl python3 /usr/bin/time; do
	command -v "$t" >/dev/null ||
		{ echo "needs $t (apt-get install restic time curl python3)" >&2; exit 1; }
done

# ---- the S3 server and our buckets ----
s3_dir=${SP_S3_DIR:-/var/tmp/sp-s3}
eval "$(flock "$s3_dir.lock" "$top/tests/s3/s3-server.sh" start)"
endpoint=$AWS_ENDPOINT_URL

# s3 METHOD BUCKET[/KEY][?QUERY] [curl args...]: one signed request (query
# percent-encoded, in canonical order); the answer's body on stdout.
s3() {
	local method=$1 path=$2
	shift 2
	curl -sS --fail-with-body -X "$method" --aws-sigv4 "aws:amz:${AWS_REGION:-us-east-1}:s3" \
		--user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
		-H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' "$@" "$endpoint/$path"
}
# s3_objects BUCKET: "KEY SIZE" for every object (all pages).
s3_objects() {
	local token="" q page
	while :; do
		q=list-type=2
		[ -z "$token" ] || q="continuation-token=$(python3 -c \
			'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe="-_.~"))' "$token")&$q"
		page=$(s3 GET "$1?$q")
		python3 -c '
import sys, xml.etree.ElementTree as ET
root = ET.fromstring(sys.stdin.buffer.read())
tag = lambda e: e.tag.split("}")[-1]
for e in root:
    if tag(e) == "Contents":
        f = {tag(c): c.text for c in e}
        print(f["Key"], f["Size"])' <<<"$page"
		token=$(python3 -c '
import sys, xml.etree.ElementTree as ET
root = ET.fromstring(sys.stdin.buffer.read())
t = [e.text for e in root if e.tag.split("}")[-1] == "NextContinuationToken"]
print(t[0] if t else "")' <<<"$page")
		[ -n "$token" ] || break
	done
}
# bucket_bytes BUCKET: "BYTES OBJECTS" stored in the bucket.
bucket_bytes() {
	s3_objects "$1" | awk '{s += $2; n++} END {printf "%d %d\n", s, n}'
}
buckets=()
new_bucket() { # new_bucket NAME
	s3 PUT "$1" >/dev/null
	buckets+=("$1")
}
remove_bucket() { # every object (1000 per listing), then the bucket
	local key
	while :; do
		s3_objects "$1" >"$work/.objects" || break
		[ -s "$work/.objects" ] || break
		while read -r key _; do
			[[ $key =~ ^[A-Za-z0-9/._~-]+$ ]] ||
				key=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe="-_.~/"))' "$key")
			s3 DELETE "$1/$key" >/dev/null
		done <"$work/.objects"
	done
	s3 DELETE "$1" >/dev/null || echo "bucket $1 not removed" >&2
	local b rest=()
	for b in "${buckets[@]}"; do [ "$b" = "$1" ] || rest+=("$b"); done
	buckets=("${rest[@]}")
}
cleanup() {
	local b
	for b in "${buckets[@]}"; do remove_bucket "$b"; done
}
tag=$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')

# Encryption: does this build have it?
has_encrypt=no
"$sp" init --help 2>&1 | grep -q -- --no-encrypt && has_encrypt=yes
case ${SP_ENCRYPT:-auto} in
auto) encrypt=$has_encrypt ;;
1) [ $has_encrypt = yes ] || { echo "SP_ENCRYPT=1: $sp has no init --encrypt" >&2; exit 1; }
   encrypt=yes ;;
*) encrypt=no ;;
esac

mkdir -p "$work"
results=$work/results.tsv
# What a host saw present in a vault is cached between jobs: its own
# cache, so that runs start alike and leave nothing in the host's.
export STILLPOINT_CACHE_DIR=$work/cache
rm -rf "$STILLPOINT_CACHE_DIR"
trap 'cleanup; rm -rf "$STILLPOINT_CACHE_DIR"' EXIT
cold() { sync; echo 3 >/proc/sys/vm/drop_caches; }
server_pids() { pgrep -d, -x 'radosgw|ceph-osd|ceph-mon' || true; }
# server_cpu: CPU seconds (user+sys) the S3 server's daemons have used.
server_cpu() {
	local p t=0 tck
	tck=$(getconf CLK_TCK)
	for p in $(server_pids | tr , ' '); do
		t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)))
	done
	awk -v t="$t" -v h="$tck" 'BEGIN {printf "%.2f", t / h}'
}
# measure TOOL STEP command...: wall, peak RSS (KiB), user and sys seconds,
# and the S3 server's CPU seconds over the step, to results.  stdout of the
# command goes to TOOL-STEP.out, stderr to TOOL-STEP.log.
measure() {
	local tool=$1 step=$2 c0 c1 secs rss usr sys srv
	shift 2
	cold
	c0=$(server_cpu)
	/usr/bin/time -f "%e %M %U %S" -o "$work/time.out" "$@" \
		>"$work/$tool-$step.out" 2>"$work/$tool-$step.log" || {
		echo "$tool $step failed:" >&2; tail -5 "$work/$tool-$step.log" >&2; exit 1; }
	c1=$(server_cpu)
	read -r secs rss usr sys <"$work/time.out"
	srv=$(awk -v a="$c0" -v b="$c1" 'BEGIN {printf "%.2f", b - a}')
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$tool" "$step" "$secs" "$rss" "$usr" "$sys" "$srv" >>"$results"
	printf '%-18s %-8s %8.2f s  %7d KiB peak RSS  user %s s  sys %s s  S3 server CPU %s s\n' \
		"$tool" "$step" "$secs" "$rss" "$usr" "$sys" "$srv" >&2
}
note() { printf '%s\t%s\t%s\t0\t0\t0\t0\n' "$1" "$2" "$3" >>"$results"; }

# ---- part 1: the corpus, Stillpoint vs restic ----
compare() {
	"$here/make-corpus.sh" "$dir/corpus"
	local corpus=$dir/corpus tools=() tool bucket backup restore init ok f s0 s1
	put_state() { # the fixed paths every tool backs up
		rm -rf "$work/src"; mkdir -p "$work/src"
		cp --sparse=always "$corpus/$1/root.img" "$corpus/$1/db.img" "$work/src/"
	}
	: >"$results"
	cut -d' ' -f1-3 /proc/loadavg >"$work/loadavg"
	if [ -n "${TOOLS:-}" ]; then
		read -ra tools <<<"$TOOLS"
	elif [ $encrypt = yes ]; then
		tools=(stillpoint stillpoint-plain restic)
	else
		tools=(stillpoint restic)
	fi
	for tool in "${tools[@]}"; do
		bucket=spbench-$tag-${tool}
		new_bucket "$bucket"
		rm -rf "$work/restore-$tool"; mkdir -p "$work/restore-$tool"
		case $tool in
		stillpoint*)
			init=""
			if [ $has_encrypt = yes ]; then
				[ "$tool" = stillpoint ] && [ $encrypt = yes ] && init=--encrypt || init=--no-encrypt
			fi
			# shellcheck disable=SC2086
			"$sp" --vault "s3://$bucket/v" init $init ${SP_INIT_ARGS:-} >/dev/null
			backup="'$sp' ${SP_ARGS:-} --json --vault 's3://$bucket/v' backup --name bench --disk '$work/src/root.img' --disk '$work/src/db.img'"
			restore="'$sp' ${SP_ARGS:-} --json --vault 's3://$bucket/v' restore bench --to '$work/restore-$tool'"
			;;
		restic)
			export RESTIC_CACHE_DIR=$work/restic-cache
			rm -rf "$RESTIC_CACHE_DIR"
			restic -q -r "s3:$endpoint/$bucket" init >/dev/null
			backup="cd '$work/src' && restic -q -r 's3:$endpoint/$bucket' backup root.img db.img"
			restore="restic -q -r 's3:$endpoint/$bucket' restore latest --target '$work/restore-$tool'"
			;;
		esac
		put_state state0
		measure "$tool" full bash -c "$backup"
		note "$tool" size_full "$(bucket_bytes "$bucket" | tr ' ' /)"
		put_state state1
		measure "$tool" incr bash -c "$backup"
		note "$tool" size_incr "$(bucket_bytes "$bucket" | tr ' ' /)"
		measure "$tool" restore bash -c "$restore"
		# what the restore left unwritten: Stillpoint fsyncs what it
		# restores, restic does not
		s0=$(date +%s%N); sync; s1=$(date +%s%N)
		note "$tool" restore_sync "$(awk -v a="$s0" -v b="$s1" 'BEGIN {printf "%.2f", (b - a) / 1e9}')"
		ok=yes
		for f in root.img db.img; do
			out=$f # stillpoint names a raw disk *.raw (README, "Restored file names")
			[ "${tool#stillpoint}" = "$tool" ] || out=${f%.img}.raw
			cmp -s "$corpus/state1/$f" "$work/restore-$tool/$out" || ok=no
		done
		note "$tool" correct $ok
		rm -rf "$work/restore-$tool"
		remove_bucket "$bucket"
	done
	rm -rf "$work/src" "$work/restic-cache"

	local alloc virt
	alloc=$(du -k "$corpus/state0/root.img" "$corpus/state0/db.img" | awk '{s+=$1} END {print s}')
	virt=$(du -k --apparent-size "$corpus/state0/root.img" "$corpus/state0/db.img" | awk '{s+=$1} END {print s}')
	python3 - "$results" "$alloc" "$virt" "$here/results" "$work" "$(nproc)" "$endpoint" \
		"$(restic version | cut -d' ' -f2)" "$("$sp" --version)" <<'PY'
import json, sys, os, datetime
res, alloc, virt, outdir, work, ncpu, endpoint, restic_v, sp_v = sys.argv[1:]
alloc, virt = int(alloc) * 1024, int(virt) * 1024
r = {}
for l in open(res):
    tool, step, a, rss, usr, sys_, srv = l.rstrip("\n").split("\t")
    r.setdefault(tool, {})[step] = dict(secs=a, rss=int(rss), user=float(usr),
                                         sys=float(sys_), server_cpu=float(srv))
reqs = {}
for tool in r:
    if not tool.startswith("stillpoint"):
        continue
    for step in ("full", "incr", "restore"):
        try:
            reqs.setdefault(tool, {})[step] = json.load(open(os.path.join(work, "%s-%s.out" % (tool, step)))).get("requests")
        except Exception:
            reqs.setdefault(tool, {})[step] = None
t = lambda tool, step: float(r[tool][step]["secs"])
mib = lambda s: int(s.split("/")[0]) / 2**20
objs = lambda s: int(s.split("/")[1])
def rq(tool, step):
    q = reqs.get(tool, {}).get(step)
    return "%d (%d PUT, %d GET)" % (q["requests"], q["puts"], q["gets"]) if q else "–"
md = ["Load average at the start: %s" % open(os.path.join(work, "loadavg")).read().strip(), "",
      "Corpus: %.2f GiB virtual, %.2f GiB allocated (root.img + db.img); S3: Ceph RGW at %s on the same machine (%s CPUs); %s; %s, restic %s" % (
    virt / 2**30, alloc / 2**30, endpoint, ncpu, datetime.date.today().isoformat(), sp_v, restic_v), "",
    "| tool | full (s) | full MB/s (allocated) | incremental (s) | restore (s) | sync after restore (s) | bucket after full | after incr | peak RSS full / incr / restore | restore correct |",
    "|---|---|---|---|---|---|---|---|---|---|"]
for tool in r:
    d = r[tool]
    md.append("| %s | %.1f | %.0f | %.1f | %.1f | %.1f | %.0f MiB (%d objects) | %.0f MiB (%d objects) | %.0f / %.0f / %.0f MiB | %s |" % (
        tool, t(tool, "full"), alloc / 1e6 / t(tool, "full"), t(tool, "incr"), t(tool, "restore"), t(tool, "restore_sync"),
        mib(d["size_full"]["secs"]), objs(d["size_full"]["secs"]),
        mib(d["size_incr"]["secs"]), objs(d["size_incr"]["secs"]),
        d["full"]["rss"] / 1024, d["incr"]["rss"] / 1024, d["restore"]["rss"] / 1024, d["correct"]["secs"]))
md += ["", "| where the time goes | step | wall (s) | user (s) | sys (s) | S3 server CPU (s) | S3 requests |", "|---|---|---|---|---|---|---|"]
for tool in r:
    for step in ("full", "incr", "restore"):
        d = r[tool][step]
        md.append("| %s | %s | %.1f | %.1f | %.1f | %.1f | %s |" % (
            tool, step, t(tool, step), d["user"], d["sys"], d["server_cpu"], rq(tool, step)))
if "restic" in r:
    md += ["", "| time ratio | full | incremental | restore | restore + sync |", "|---|---|---|---|---|"]
    rs = lambda tool: t(tool, "restore") + t(tool, "restore_sync")
    for tool in r:
        if tool.startswith("stillpoint"):
            md.append("| restic / %s | %.2f× | %.2f× | %.2f× | %.2f× |" % (tool, t("restic", "full") / t(tool, "full"),
                      t("restic", "incr") / t(tool, "incr"), t("restic", "restore") / t(tool, "restore"),
                      rs("restic") / rs(tool)))
if "stillpoint-plain" in r:
    md += ["", "| encryption cost (encrypted / unencrypted time) | full | incremental | restore |", "|---|---|---|---|",
           "| stillpoint / stillpoint-plain | %+.1f %% | %+.1f %% | %+.1f %% |" % tuple(
               (t("stillpoint", s) / t("stillpoint-plain", s) - 1) * 100 for s in ("full", "incr", "restore"))]
text = "\n".join(md) + "\n"
print(text)
os.makedirs(outdir, exist_ok=True)
name = os.environ.get("RESULTS_NAME", "s3-latest")
open(os.path.join(outdir, name + ".md"), "w").write(text)
json.dump({"virtual_bytes": virt, "allocated_bytes": alloc, "endpoint": endpoint,
           "stillpoint": sp_v, "restic": restic_v, "results": r, "requests": reqs},
          open(os.path.join(outdir, name + ".json"), "w"), indent=2)
PY
}

# ---- part 2: requests of a 1 % incremental of a 16 GiB disk ----
requests() {
	local bucket=spbench-$tag-req img=$work/big.img init=""
	: >"$results"
	[ $has_encrypt = yes ] && { [ $encrypt = yes ] && init=--encrypt || init=--no-encrypt; }
	new_bucket "$bucket"
	# shellcheck disable=SC2086
	"$sp" --vault "s3://$bucket/v" init $init ${SP_INIT_ARGS:-} >/dev/null
	# 16 GiB sparse; the data in 64 runs spread evenly over the disk
	rm -f "$img"; truncate -s 16G "$img"
	local runs=64 run_mib=$((big_data_mib / 64)) i
	for ((i = 0; i < runs; i++)); do
		{ openssl enc -aes-128-ctr -nosalt -pass "pass:run$i" -in /dev/zero 2>/dev/null || :; } |
			head -c $((run_mib << 20)) |
			dd of="$img" bs=1M seek=$((i * 16384 / runs)) conv=notrunc,sparse status=none iflag=fullblock
	done
	local backup="'$sp' ${SP_ARGS:-} --json --vault 's3://$bucket/v' backup --name big --disk '$img'"
	measure big full bash -c "$backup"
	note big size_full "$(bucket_bytes "$bucket" | tr ' ' /)"
	# 1 % of 16 GiB (164 MiB): 1 MiB at 164 random 1 MiB-aligned offsets
	python3 - "$img" <<'PY'
import os, random, sys
rng = random.Random(16)
fd = os.open(sys.argv[1], os.O_WRONLY)
for off in rng.sample(range(16384), 164):
    os.pwrite(fd, os.urandom(1 << 20), off << 20)
os.fsync(fd); os.close(fd)
PY
	measure big incr bash -c "$backup"
	note big size_incr "$(bucket_bytes "$bucket" | tr ' ' /)"
	rm -f "$img"
	remove_bucket "$bucket"
	python3 - "$results" "$work" "$here/results" "$big_data_mib" "$("$sp" --version)" "$encrypt" <<'PY'
import json, sys, os, datetime
res, work, outdir, data_mib, sp_v, enc = sys.argv[1:]
r = {}
for l in open(res):
    tool, step, a, rss, usr, sys_, srv = l.rstrip("\n").split("\t")
    r[step] = dict(secs=a, rss=int(rss), user=float(usr), sys=float(sys_), server_cpu=float(srv))
j = {s: json.load(open(os.path.join(work, "big-%s.out" % s))) for s in ("full", "incr")}
md = ["16 GiB sparse raw disk, %s MiB of random data in 64 runs; then 1 %% of 16 GiB (164 MiB) rewritten as 1 MiB at 164 random places; %s; %s; encrypted vault: %s" % (
    data_mib, datetime.date.today().isoformat(), sp_v, enc), "",
    "| backup | wall (s) | peak RSS | chunks new | bytes new | requests | PUTs | GETs | HEADs | LISTs | DELETEs | requests besides PUTs |",
    "|---|---|---|---|---|---|---|---|---|---|---|---|"]
for s in ("full", "incr"):
    q, d = j[s]["requests"], j[s]["disks"][0]
    md.append("| %s | %.1f | %.0f MiB | %d | %.0f MiB | %d | %d | %d | %d | %d | %d | **%d** |" % (
        s, float(r[s]["secs"]), r[s]["rss"] / 1024, d["chunks_new"], d["bytes_new"] / 2**20,
        q["requests"], q["puts"], q["gets"], q["heads"], q["lists"], q["deletes"], q["requests"] - q["puts"]))
inc = j["incr"]["requests"]
md += ["", "Incremental: %d requests besides PUTs (bar: ≤ 100); %d PUTs for %d new chunks (%d PUTs besides the chunks')." % (
    inc["requests"] - inc["puts"], inc["puts"], j["incr"]["disks"][0]["chunks_new"],
    inc["puts"] - j["incr"]["disks"][0]["chunks_new"])]
text = "\n".join(md) + "\n"
print(text)
os.makedirs(outdir, exist_ok=True)
open(os.path.join(outdir, "s3-requests-latest.md"), "w").write(text)
json.dump({"data_mib": int(data_mib), "results": r, "requests": {s: j[s]["requests"] for s in j},
           "disks": {s: j[s]["disks"] for s in j}},
          open(os.path.join(outdir, "s3-requests-latest.json"), "w"), indent=2)
PY
}

# ---- part 3: peak RSS against worker threads ----
rss() {
	local bucket=spbench-$tag-rss img=$work/rss.img n plain=()
	[ $has_encrypt = yes ] && plain=(--no-encrypt)
	: >"$results"
	new_bucket "$bucket"
	rm -f "$img"; truncate -s 4G "$img"
	{ openssl enc -aes-128-ctr -nosalt -pass pass:rss -in /dev/zero 2>/dev/null || :; } |
		head -c 1G | dd of="$img" bs=1M conv=notrunc status=none iflag=fullblock
	for n in ${RSS_THREADS:-1 2 4 8 16 32}; do
		"$sp" --vault "s3://$bucket/t$n" init "${plain[@]}" >/dev/null
		measure "threads-$n" full "$sp" --threads "$n" --json --vault "s3://$bucket/t$n" \
			backup --name rss --disk "$img"
		rm -rf "$work/rss-restore"; mkdir -p "$work/rss-restore"
		measure "threads-$n" restore "$sp" --threads "$n" --json --vault "s3://$bucket/t$n" \
			restore rss --to "$work/rss-restore"
		cmp -s "$img" "$work/rss-restore/rss.img" || { echo "threads $n: restore differs" >&2; exit 1; }
		rm -rf "$work/rss-restore"
		remove_bucket "$bucket"; new_bucket "$bucket"
	done
	rm -f "$img"
	remove_bucket "$bucket"
	python3 - "$results" "$here/results" "$("$sp" --version)" <<'PY'
import json, sys, os, datetime
res, outdir, sp_v = sys.argv[1:]
r = {}
for l in open(res):
    tool, step, a, rss, usr, sys_, srv = l.rstrip("\n").split("\t")
    r.setdefault(int(tool.split("-")[1]), {})[step] = dict(secs=float(a), rss=int(rss))
md = ["4 GiB sparse raw disk holding 1 GiB of random data, 4 MiB chunks, S3 vault; peak RSS by `--threads`; %s; %s" % (
    datetime.date.today().isoformat(), sp_v), "",
    "| threads | backup (s) | backup peak RSS | restore (s) | restore peak RSS |", "|---|---|---|---|---|"]
for n in sorted(r):
    md.append("| %d | %.1f | %.0f MiB | %.1f | %.0f MiB |" % (n, r[n]["full"]["secs"], r[n]["full"]["rss"] / 1024,
              r[n]["restore"]["secs"], r[n]["restore"]["rss"] / 1024))
text = "\n".join(md) + "\n"
print(text)
open(os.path.join(outdir, "s3-rss-latest.md"), "w").write(text)
json.dump(r, open(os.path.join(outdir, "s3-rss-latest.json"), "w"), indent=2)
PY
}

for p in $parts; do
	case $p in
	compare) compare ;;
	requests) requests ;;
	rss) rss ;;
	*) echo "unknown part $p (compare, requests, rss)" >&2; exit 1 ;;
	esac
done

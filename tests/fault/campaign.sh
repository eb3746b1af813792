# SPDX-License-Identifier: LGPL-2.1-or-later
# Fault campaigns, shared by tests/torture/c20-faults.sh, c30-kill9.sh and
# their fixed-seed subsets tests/integration/t4400-faults.sh and
# t4500-kill9-mixed.sh.  Sourced after tests/integration/lib.sh.
#
# A campaign builds one fixture (a vault with points of raw, qcow2 and
# two-disk VMs, a trashed point, an expired one, a protected VM, and the
# sources of each point as they were when it was taken), then, run after
# run, clones it, disturbs one command — a fault injected by
# tests/fault/faultshim.so, or kill -9 — and checks without faults that
#   1. the command succeeded with the right result, or failed with a
#      stable error code that fits the fault (never a crash, never a hang);
#   2. every point is where it should be (published, or in the trash),
#      none lost, none unknown;
#   3. the next backup works and leaves no draft in tmp/;
#   4. two gc runs, then verify, find the vault sound;
#   5. every published and trashed point restores equal (cmp) to the copy
#      of its sources taken when it was backed up;
#   6. the next restore into the same place works and no .partial file is
#      left there, and the command wrote nothing outside the vault and its
#      targets (the shim watches).
#
#   camp_begin NAME            seed, work directory (a tmpfs as root)
#   camp_fixture [big]         build the fixture in $F
#   camp_scenarios             the names of the scenarios (scen_* below)
#   camp_clone                 a fresh copy of the fixture in $R
#   camp_exec SCEN             run the scenario's command (exec: one pid)
#   camp_judge / camp_check    verdicts on the last run, see below
#   camp_end                   prints "campaign NAME: N runs, F failures"
set -u
: "${SP:?}" "${SP_BUILD:?}" "${SP_TOP:?}"
SHIM=$SP_BUILD/tests/faultshim.so
SPD=$(dirname "$SP")/stillpointd
CAMP_RUNS=0
CAMP_FAILS=0
CAMP_THREADS=${SP_THREADS:-2}
CAMP_WRAP=()
CAMP_ENV=()
CAMP_DAEMON_ENV=()
declare -gA CAMP_STAT=()
CS_KIB=256 # chunk size of the fixture vault

# ---- randomness ---------------------------------------------------------

# Seed bash's generator from the campaign seed and a label, so that each
# run draws the same numbers on replay whatever ran before it.
camp_rng() {
	local h
	h=$(printf '%s %s' "$CAMP_SEED" "$*" | cksum)
	RANDOM=${h%% *}
}

# camp_rand N: REPLY = a number in [0, N) (no subshell: it would not
# advance the generator of this shell).
camp_rand() {
	REPLY=$(((RANDOM << 15 | RANDOM) % $1))
}

# Seeded bytes: camp_bytes KEY LEN | ...
camp_bytes() {
	openssl enc -aes-128-ctr -nosalt -pass "pass:$CAMP_SEED-$1" \
		-in /dev/zero 2>/dev/null | head -c "$2"
}

# camp_put FILE OFFSET LEN KEY: seeded bytes at a byte offset.
camp_put() {
	camp_bytes "$4" "$3" |
		dd of="$1" bs=1M seek="$2" oflag=seek_bytes conv=notrunc \
			status=none
}

# camp_disk FILE MIB KEY [SCALE]: a sparse raw disk with extents of random
# sizes (up to 1.5 MiB times SCALE) at random places, none aligned to
# chunks, a written run of zeroes, and data in the very last bytes.
camp_disk() {
	local f=$1 size=$(($2 << 20)) key=$3 scale=${4:-1} i off len
	truncate -s "$size" "$f"
	for i in 1 2 3 4 5 6; do
		camp_rand $((size / 4096))
		off=$((REPLY * 4096 + (i & 1) * 512))
		camp_rand $((CS_KIB * 6 * scale))
		len=$(((REPLY + 1) * 1024))
		[ $((off + len)) -le $size ] || len=$((size - off))
		camp_put "$f" "$off" "$len" "$key-$i"
	done
	camp_rand $((size / 4096 - 64))
	head -c $((CS_KIB * 1024 + 4096)) /dev/zero |
		dd of="$f" bs=1M seek=$((REPLY * 4096)) oflag=seek_bytes \
			conv=notrunc status=none
	camp_put "$f" $((size - 3000)) 3000 "$key-end"
}

# camp_change FILE KEY: change a few ranges of an existing disk.
camp_change() {
	local f=$1 size i
	size=$(stat -c %s "$f")
	for i in 1 2 3; do
		camp_rand $((size / 512 - 2048))
		camp_put "$f" $((REPLY * 512)) $((CS_KIB * 1024 / 3 + i * 777)) "$2-$i"
	done
}

# ---- setup --------------------------------------------------------------

camp_begin() {
	CAMP_NAME=$1
	CAMP_SEED=${SP_SEED:-$(((RANDOM << 15 | RANDOM) % 1000000))}
	CAMP_T0=$SECONDS
	# Not under $T: a cleaner of stale test directories must not empty
	# a campaign that runs for an hour.
	W=$(mktemp -d "${SP_CAMPAIGN_DIR:-/var/tmp}/stillpoint-campaign.XXXXXX") ||
		die "no work directory"
	at_exit "rm -rf '$W'"
	if [ "$(id -u)" = 0 ] &&
		mount -t tmpfs -o "size=${SP_CAMPAIGN_TMPFS:-3g}" tmpfs "$W" 2>/dev/null; then
		at_exit "umount -l '$W'"
	fi
	F=$W/fixture
	say "campaign $CAMP_NAME: seed $CAMP_SEED, threads $CAMP_THREADS"
	# Settings that change the plan are part of the replay command.
	CAMP_REPLAY="SP_SEED=$CAMP_SEED"
	local v
	for v in SP_FAULT_SAMPLES SP_FAULT_QUICK SP_FAULT_OPS SP_FAULT_PLACES \
		SP_SCENARIOS SP_KILLS SP_KILL_FIXTURE SP_THREADS; do
		[ -z "${!v:-}" ] || CAMP_REPLAY+=" $v=${!v}"
	done
	say "replay: $CAMP_REPLAY SP_CAMPAIGNS=$CAMP_NAME.sh make torture" \
		"(one run: add SP_RUN=N)"
}

# Fault-free stillpoint on the vault of $1 (a fixture or a run directory).
spv() {
	local d=$1
	shift
	"$SP" --no-progress --vault "$d/vault" "$@"
}

# camp_backup DIR NAME DISK...: a fault-free backup in the fixture, with
# the copy of its sources that its restores must equal.
camp_backup() {
	local d=$1 name=$2 id
	shift 2
	local args=()
	for disk; do args+=(--disk "$(camp_disk_arg "$disk")"); done
	id=$(spv "$d" --json backup --name "$name" "${args[@]}" | jq -r .id) ||
		die "fixture backup of $name failed"
	[ -n "$id" ] && [ "$id" != null ] || die "fixture backup of $name: no id"
	camp_copy_sources "$d/expect/$name/$id" "$@"
	LAST_ID=$id
}

# The --disk argument for an image: its format is declared, never probed
# (by builds that know PATH:FORMAT; older ones probed it themselves).
camp_disk_arg() {
	if [ -z "${CAMP_DECLARE:-}" ]; then
		CAMP_DECLARE=no
		! "$SP" backup --help 2>/dev/null | grep -q 'PATH\[:FORMAT\]' ||
			CAMP_DECLARE=yes
	fi
	case $CAMP_DECLARE:$1 in
	no:*) echo "$1" ;;
	*.qcow2) echo "$1:qcow2" ;;
	*) echo "$1:raw" ;;
	esac
}

# camp_copy_sources DEST DISK...: raw copies named as the point names its
# disks (the file name; NAME=PATH for another name).
camp_copy_sources() {
	local dest=$1 disk name path
	shift
	mkdir -p "$dest"
	for disk; do
		name=${disk%%=*} path=${disk#*=}
		[ "$name" != "$disk" ] || name=$(basename "$disk")
		case $path in
		*.qcow2) qemu-img convert -O raw "$path" "$dest/$name" ;;
		*) cp --sparse=always "$path" "$dest/$name" ;;
		esac
	done
}

# camp_qcow2 RAW QCOW2: the qcow2 image of a raw one (sometimes with
# compressed clusters).
camp_qcow2() {
	local c=()
	camp_rand 2
	[ "$REPLY" = 0 ] || c=(-c)
	rm -f "$2"
	qemu-img convert "${c[@]}" -O qcow2 -o cluster_size=65536 "$1" "$2"
}

# camp_fixture [big]: the fixture in $F.  "big" makes disks large enough
# for kill -9 to land inside the data transfer.
camp_fixture() {
	local m=1
	[ "${1:-}" != big ] || m=4
	camp_rng fixture
	rm -rf "$F"
	mkdir -p "$F"/{src,expect,expect-src,state}
	spv "$F" init --chunk-size "${CS_KIB}K" >/dev/null || die "init failed"
	# r: two raw disks, two points, then changed for the incremental.
	camp_disk "$F/src/r0.img" $((12 * m)) r0 "$m"
	camp_disk "$F/src/r1.img" $((5 * m)) r1 "$m"
	camp_backup "$F" r "$F/src/r0.img" "$F/src/r1.img"
	R_FIRST=$LAST_ID
	camp_change "$F/src/r0.img" r0b
	camp_backup "$F" r "$F/src/r0.img" "$F/src/r1.img"
	R_LAST=$LAST_ID
	camp_change "$F/src/r0.img" r0c
	camp_change "$F/src/r1.img" r1c
	# q: a qcow2 disk, one point, then changed.
	camp_disk "$F/src/q.raw" $((8 * m)) q "$m"
	camp_qcow2 "$F/src/q.raw" "$F/src/q.qcow2"
	camp_backup "$F" q "$F/src/q.qcow2"
	Q_LAST=$LAST_ID
	camp_change "$F/src/q.raw" qb
	camp_qcow2 "$F/src/q.raw" "$F/src/q.qcow2"
	# nr, nq: new VMs for full backups.
	camp_disk "$F/src/nr.img" $((10 * m)) nr "$m"
	camp_disk "$F/src/nq.raw" $((8 * m)) nq "$m"
	camp_qcow2 "$F/src/nq.raw" "$F/src/nq.qcow2"
	# b: one disk, restored onto a loop device.
	camp_disk "$F/src/b.img" $((6 * m)) b "$m"
	camp_backup "$F" b "$F/src/b.img"
	B_LAST=$LAST_ID
	# t: in the trash for 14 days; x: expired, gc purges it.
	camp_disk "$F/src/t.img" 3 t
	camp_backup "$F" t "$F/src/t.img"
	T_ID=$LAST_ID
	spv "$F" delete "t@$T_ID" >/dev/null || die "delete t"
	camp_disk "$F/src/x.img" 2 x
	camp_backup "$F" x "$F/src/x.img"
	X_ID=$LAST_ID
	spv "$F" delete "x@$X_ID" --retain-days 0 >/dev/null || die "delete x"
	# p: protected, keep-last 1, three points.
	camp_disk "$F/src/p.img" 3 p
	camp_backup "$F" p "$F/src/p.img"
	camp_change "$F/src/p.img" pb
	camp_backup "$F" p "$F/src/p.img"
	camp_change "$F/src/p.img" pc
	camp_backup "$F" p "$F/src/p.img"
	STILLPOINT_STATE_DIR=$F/state spv "$F" policy create keep1 \
		--schedule 'daily 03:00' --keep-last 1 >/dev/null ||
		die "policy create"
	# probe: the "next backup" of every check.
	truncate -s 300K "$F/src/probe.img"
	camp_put "$F/src/probe.img" 1000 5000 probe
	# What a backup of each VM from the current sources must restore to.
	camp_copy_sources "$F/expect-src/r" "$F/src/r0.img" "$F/src/r1.img"
	camp_copy_sources "$F/expect-src/q" "$F/src/q.qcow2"
	camp_copy_sources "$F/expect-src/nr" "$F/src/nr.img"
	camp_copy_sources "$F/expect-src/nq" "$F/src/nq.qcow2"
	camp_copy_sources "$F/expect-src/probe" "$F/src/probe.img"
	cat >"$F/meta" <<-EOF
		R_FIRST=$R_FIRST R_LAST=$R_LAST Q_LAST=$Q_LAST B_LAST=$B_LAST
		T_ID=$T_ID X_ID=$X_ID
	EOF
	echo "x/$X_ID" >"$F/purgeable"
	camp_loop_setup
	camp_fixture_done
}

# The fixture is complete (call again after adding to it): what a full
# verify of it reads.
camp_fixture_done() {
	# Chunks must be older than gc runs by more than a second.
	touch -d '-1 min' "$F"/vault/chunks/*/* 2>/dev/null
	spv "$F" --json verify >"$F/verify.json" || die "the fixture does not verify"
	CAMP_VERIFY_CHUNKS=$(jq .chunks "$F/verify.json")
	CAMP_VERIFY_POINTS=$(jq .points "$F/verify.json")
}

# The loop device restores of b are written to (root only).
CAMP_LOOP=
camp_loop_setup() {
	[ -z "$CAMP_LOOP" ] || return 0
	[ "$(id -u)" = 0 ] || return 0
	truncate -s "$(stat -c %s "$F/src/b.img")" "$W/loop.img"
	CAMP_LOOP=$(losetup -f --show "$W/loop.img" 2>/dev/null) || CAMP_LOOP=
	[ -z "$CAMP_LOOP" ] || at_exit "losetup -d $CAMP_LOOP"
}

# A fresh run directory $R: the fixture's vault and state; sources and
# expected copies stay in the fixture (read only).
camp_clone() {
	R=$W/run
	rm -rf "$R"
	mkdir -p "$R"/{out,log,chk,expect}
	cp -a "$F/vault" "$F/state" "$R/"
	: >"$R/log/shim"
}

# ---- scenarios ------------------------------------------------------------
#
# scen_NAME prep|run|ok|classes
#   prep     fault-free setup in $R before the disturbed command
#   run      the disturbed command; ends in exec so that its pid is
#            stillpoint's own (the shim and kill -9 need that)
#   ok       the command exited 0: check its result
#   again    (restores) run it again without a fault, check the result
#   classes  where faults go: "vault", "source EXE PATH", "target EXE PATH"
#   pending  the VM whose new point maps to expect-src/VM (backups);
#            "VM multi" when the run may publish several

camp_scenarios() {
	local s
	for s in backup-full-raw backup-full-qcow2 backup-incr-raw \
		backup-incr-qcow2 restore-raw restore-qcow2 restore-loop verify \
		gc-mark gc-sweep gc-twice prune delete undelete; do
		[ "$s" != restore-loop ] || [ -n "$CAMP_LOOP" ] || continue
		[[ $s =~ ^(${SP_SCENARIOS:-.*})$ ]] || continue
		echo "$s"
	done
}

# camp_sp ARGS: stillpoint as the disturbed command.
camp_sp() {
	exec "${CAMP_WRAP[@]}" env "${CAMP_ENV[@]}" "$SP" --no-progress \
		--threads "$CAMP_THREADS" --vault "$R/vault" "$@"
}

later() { echo $(($(date +%s) + ${1:-30} * 86400)); }

scen_backup() { # name pending|classes|run|ok, disks...
	local vm=$1 what=$2 d args=() src=()
	shift 2
	for d; do args+=(--disk "$(camp_disk_arg "$F/src/$d")"); done
	case $what in
	prep) ;;
	pending) echo "$vm" ;;
	classes)
		echo vault
		for d; do
			case $d in
			*.qcow2) echo "source qemu-nbd $F/src/$d" ;;
			*) echo "source stillpoint $F/src/$d" ;;
			esac
		done
		;;
	run) camp_sp backup --name "$vm" "${args[@]}" ;;
	ok) [ "$(camp_new_points "$vm" | wc -l)" = 1 ] ||
		{ echo "exit 0 but no new point of $vm"; return 1; } ;;
	esac
}
scen_backup-full-raw() { scen_backup nr "$1" nr.img; }
scen_backup-full-qcow2() { scen_backup nq "$1" nq.qcow2; }
scen_backup-incr-raw() { scen_backup r "$1" r0.img r1.img; }
scen_backup-incr-qcow2() { scen_backup q "$1" q.qcow2; }

scen_restore() { # vm id format dir|DEV what
	local vm=$1 id=$2 fmt=$3 to=$4 what=$5
	case $what in
	prep) [ "${to#/dev/}" != "$to" ] || mkdir -p "$to" ;;
	pending) ;;
	classes)
		echo vault
		echo "target stillpoint $to"
		[ "$fmt" != qcow2 ] || echo "target qemu-nbd $to"
		;;
	run) camp_sp restore "$vm@$id" --to "$to" ;;
	ok) camp_same_restore "$F/expect/$vm/$id" "$to" "$fmt" ;;
	again)
		# The next restore into the same place: it works, and sweeps
		# what a killed one left.
		spv "$R" restore "$vm@$id" --to "$to" --force >"$R/log/chk.out" 2>&1 ||
			{ echo "the next restore fails: $(tail -n2 "$R/log/chk.out" | tr '\n' ' ')"; return 1; }
		camp_same_restore "$F/expect/$vm/$id" "$to" "$fmt"
		;;
	esac
}
scen_restore-raw() { scen_restore r "$R_LAST" raw "$R/out/r" "$1"; }
scen_restore-qcow2() { scen_restore q "$Q_LAST" qcow2 "$R/out/q" "$1"; }
scen_restore-loop() { scen_restore b "$B_LAST" raw "$CAMP_LOOP" "$1"; }

scen_verify() {
	case $1 in
	classes) echo vault ;;
	run) camp_sp --json verify ;;
	ok)
		jqe ".points == $CAMP_VERIFY_POINTS and .chunks == $CAMP_VERIFY_CHUNKS and (.damaged | length) == 0" \
			"$R/log/run.out" ||
			{ echo "exit 0 but verify did not check every point and chunk: $(jq -c 'del(.damaged)' "$R/log/run.out" 2>&1)"; return 1; }
		;;
	esac
}

scen_gc() { # mark|sweep|twice what
	case $2 in
	classes) echo vault ;;
	prep)
		[ "$1" != sweep ] ||
			STILLPOINT_NOW=$(later 30) spv "$R" gc >/dev/null 2>&1 ||
			echo "prep: gc failed"
		;;
	run)
		if [ "$1" = twice ]; then
			# The same fault in two runs, as a failing disk would
			# give it: the second run sweeps what the first marked.
			(
				export STILLPOINT_NOW
				STILLPOINT_NOW=$(later 30)
				camp_sp --json gc
			)
			local rc=$?
			[ $rc = 0 ] || exit $rc
		fi
		STILLPOINT_NOW=$(later 30)
		export STILLPOINT_NOW
		camp_sp --json gc
		;;
	ok) jqe '.deleted >= 0' "$R/log/run.out" ||
		{ echo "exit 0 without a report"; return 1; } ;;
	esac
}
scen_gc-mark() { scen_gc mark "$1"; }
scen_gc-sweep() { scen_gc sweep "$1"; }
scen_gc-twice() { scen_gc twice "$1"; }

scen_prune() {
	case $1 in
	classes) echo vault ;;
	prep)
		STILLPOINT_STATE_DIR=$R/state spv "$R" protect p --policy keep1 \
			>/dev/null || echo "prep: protect failed"
		;;
	run)
		export STILLPOINT_STATE_DIR=$R/state
		camp_sp --json prune p
		;;
	ok)
		# One point kept by the policy, and any point prune could not
		# read: kept too, and named in its report (prune.c's contract).
		# A directory of p that cannot be read keeps all three of the
		# fixture's points.
		local unread want
		unread=$(jq '[.[].unreadable[]] | length' "$R/log/run.out" 2>/dev/null) ||
			{ echo "exit 0 but no prune report"; return 1; }
		want=$((unread + (unread < 3 ? 1 : 0)))
		jq -e '[.[].unreadable[] | select(.point == "p")] | length > 0' \
			"$R/log/run.out" >/dev/null && want=3
		[ "$(ls "$R/vault/points/p" | wc -l)" = $want ] ||
			{ echo "exit 0 but p keeps $(ls "$R/vault/points/p" | wc -l) points ($unread reported unreadable)"; return 1; } ;;
	esac
}

scen_delete() {
	case $1 in
	classes) echo vault ;;
	run) camp_sp --json delete "r@$R_FIRST" --reason campaign ;;
	ok) [ -d "$R/vault/trash/r/$R_FIRST" ] && [ ! -d "$R/vault/points/r/$R_FIRST" ] ||
		{ echo "exit 0 but r@$R_FIRST is not in the trash"; return 1; } ;;
	esac
}

scen_undelete() {
	case $1 in
	classes) echo vault ;;
	run) camp_sp --json undelete "t@$T_ID" ;;
	ok) [ -d "$R/vault/points/t/$T_ID" ] && [ ! -d "$R/vault/trash/t/$T_ID" ] ||
		{ echo "exit 0 but t@$T_ID is not back"; return 1; } ;;
	esac
}

# camp_exec SCEN: the scenario's prep, then its command with its output in
# $R/log/run.{out,err}.  Call as "( camp_exec S ) &" or "( camp_exec S )".
camp_exec() {
	exec >"$R/log/run.out" 2>"$R/log/run.err"
	"scen_$1" run
}

# ---- verdicts ---------------------------------------------------------------

# The stable code a failed command named (the last one on stderr).
camp_code() {
	{
		grep -oE '\b[A-Z][A-Za-z]+ \(SP[0-9]{4}\)' "$R/log/run.err" |
			cut -d' ' -f1
		grep -oE '"code": *"[A-Za-z]+"' "$R/log/run.err" | cut -d'"' -f4
	} | tail -n1
}

# Points in the vault (published or trashed) that no expectation knows yet
# (NAME/ID lines), of VM $1 or all.
camp_new_points() {
	local p n i
	for p in "$R"/vault/points/*/* "$R"/vault/trash/*/*; do
		[ -d "$p" ] || continue
		i=${p##*/} n=${p%/*}
		n=${n##*/}
		[ "${1:-$n}" = "$n" ] || continue
		[ -d "$F/expect/$n/$i" ] || [ -d "$R/expect/$n/$i" ] || echo "$n/$i"
	done | sort -u
}

# camp_restored_name SOURCE FORMAT: the name restore gives the disk of a
# point of files (README, "Restored file names"): an image extension
# replaced by the format's.
camp_restored_name() {
	local n=$1 stem=$1
	case ${n,,} in
	?*.raw | ?*.img | ?*.qcow2 | ?*.qcow | ?*.dsk | ?*.bin | ?*.iso | ?*.vmdk | ?*.vdi | ?*.vhd | ?*.vhdx)
		stem=${n%.*} ;;
	esac
	if [ "$2" = qcow2 ]; then echo "$stem.qcow2"; else echo "$stem.raw"; fi
}

# camp_same_restore EXPECT_DIR TARGET FORMAT: a restore equals the sources.
camp_same_restore() {
	local exp=$1 to=$2 fmt=$3 f n
	for f in "$exp"/*; do
		n=$(camp_restored_name "$(basename "$f")" "$fmt")
		if [ "${to#/dev/}" != "$to" ]; then
			cmp -s -n "$(stat -c %s "$f")" "$f" "$to" ||
				{ echo "restore onto $to differs from $f"; return 1; }
		elif [ "$fmt" = qcow2 ]; then
			qemu-img compare -q -f qcow2 -F raw "$to/$n" "$f" ||
				{ echo "restored $to/$n differs from $f"; return 1; }
		else
			cmp -s "$f" "$to/$n" ||
				{ echo "restored $to/$n differs from $f"; return 1; }
		fi
	done
}

camp_fail() {
	CAMP_RUN_FAILS+=("$*")
}

# The shim's settings that watch a run: where it may write (allow=) and
# what must be durable when it succeeds (audit=; drafts and the catalog
# have no such promise).
camp_watch() {
	local p
	for p in "$R/vault" "$R/out" "$R/log" "$R/state" "$R/chk" '/tmp/libnbd*' $CAMP_LOOP; do
		printf 'allow=%s,' "$p"
	done
	for p in "$R/vault" "$R/out" $CAMP_LOOP; do
		printf 'audit=%s,' "$p"
	done
	printf 'noaudit=%s,noaudit=%s' "$R/vault/tmp" "$R/vault/catalog.sqlite*"
}

# camp_judge SCEN RC FIRED EXPECT_RE: the command's own verdict.  FIRED is
# 1 when the disturbance happened (the fault fired, the kill landed
# before the command ended); EXPECT_RE the codes that fit it.
camp_judge() {
	local s=$1 rc=$2 fired=$3 expect=$4 code why
	CAMP_CODE=
	if [ "$rc" -ge 124 ] && [ "$fired" != kill ]; then
		camp_fail "crashed or hung: exit $rc"
		return
	fi
	if [ "$rc" = 0 ]; then
		CAMP_CODE=ok
		why=$("scen_$s" ok) || camp_fail "$why"
		why=$(grep -E ' (unsynced|dirty) ' "$R/log/shim" | head -n3 | cut -d' ' -f2- | tr '\n' ';')
		[ -z "$why" ] || camp_fail "exit 0, but not durable: $why"
		return
	fi
	[ "$fired" != kill ] || { CAMP_CODE=killed; return; }
	code=$(camp_code)
	CAMP_CODE=${code:-none}
	if [ -z "$code" ]; then
		camp_fail "exit $rc without a stable error code: $(tail -n2 "$R/log/run.err" | tr '\n' ' ')"
	elif [ "$code" = InternalError ]; then
		camp_fail "InternalError: $(tail -n2 "$R/log/run.err" | tr '\n' ' ')"
	elif [ "$fired" = 0 ]; then
		camp_fail "failed ($code) though no fault fired"
	elif [ -n "$expect" ] && ! [[ $code =~ ^($expect)$ ]]; then
		camp_fail "misclassified: $code where $expect fits: $(grep -v '^stillpoint: [A-Z][A-Za-z]* (SP' "$R/log/run.err" | tail -n1)"
	fi
}

# camp_check SCEN: the vault after the run, without faults (see the top).
camp_check() {
	local s=$1 p n i pending multi x out
	# 6. leftovers, after the next restore into the same place (a kill
	#    -9 cannot help leaving a partial file; the next restore must
	#    sweep it), and writes outside.
	out=$("scen_$s" again) || camp_fail "$out"
	out=$(find "$R/out" -name '.*.partial-*' 2>/dev/null)
	[ -z "$out" ] || camp_fail "partial files left: $out"
	out=$(grep ' outside ' "$R/log/shim" | head -n3)
	[ -z "$out" ] || camp_fail "wrote outside the vault and targets: $out"
	# 2. new points are the disturbed backup's: they restore to the
	#    sources it read.
	x=$("scen_$s" pending)
	pending=${x%% *} multi=${x#"$pending"}
	for p in $(camp_new_points); do
		n=${p%/*}
		if [ "$n" = "$pending" ] && { [ "$multi" = " multi" ] || [ ! -d "$R/expect/$n" ]; }; then
			mkdir -p "$R/expect/$n"
			ln -s "$F/expect-src/$n" "$R/expect/$p"
		else
			camp_fail "an unexpected point appeared: $p"
		fi
	done
	for p in "$F"/expect/*/* "$R"/expect/*/*; do
		[ -e "$p" ] || continue
		i=${p##*/} n=${p%/*}
		n=${n##*/}
		if [ -d "$R/vault/points/$n/$i" ] && [ -d "$R/vault/trash/$n/$i" ]; then
			camp_fail "point $n@$i is both published and in the trash"
		elif [ ! -d "$R/vault/points/$n/$i" ] && [ ! -d "$R/vault/trash/$n/$i" ] &&
			! grep -qx "$n/$i" "$F/purgeable" &&
			! { [ "${s#gc}" != "$s" ] && [ "$n/$i" = "t/$T_ID" ]; }; then
			camp_fail "point $n@$i is lost"
		fi
	done
	# 3. the next backup.
	if ! spv "$R" backup --name probe --disk "$F/src/probe.img" >"$R/log/chk.out" 2>&1; then
		camp_fail "the next backup fails: $(tail -n2 "$R/log/chk.out" | tr '\n' ' ')"
	else
		p=$(camp_new_points probe)
		mkdir -p "$R/expect/probe"
		[ -z "$p" ] || ln -s "$F/expect-src/probe" "$R/expect/$p"
	fi
	out=$(ls -A "$R/vault/tmp" 2>/dev/null)
	[ -z "$out" ] || camp_fail "drafts left in tmp/ after the next backup: $out"
	# 4. gc twice, every trashed point back, verify.
	for x in 1 2; do
		STILLPOINT_NOW=$(($(date +%s) + 60)) spv "$R" gc >"$R/log/chk.out" 2>&1 ||
			camp_fail "gc $x after the run fails: $(tail -n2 "$R/log/chk.out" | tr '\n' ' ')"
	done
	for p in "$R"/vault/trash/*/*; do
		[ -d "$p" ] || continue
		i=${p##*/} n=${p%/*}
		n=${n##*/}
		spv "$R" undelete "$n@$i" >"$R/log/chk.out" 2>&1 ||
			camp_fail "undelete $n@$i fails: $(tail -n2 "$R/log/chk.out" | tr '\n' ' ')"
	done
	spv "$R" --json verify >"$R/log/verify.json" 2>"$R/log/chk.out" ||
		camp_fail "verify is not clean: $(jq -c '.damaged' "$R/log/verify.json" 2>/dev/null) $(tail -n1 "$R/log/chk.out")"
	# 5. every point restores equal to its sources.
	out=$(spv "$R" --json points | jq -r '.[] | "\(.name)/\(.id)"' | sort)
	x=$(cd "$R/vault/points" && ls -d */* 2>/dev/null | sort)
	[ "$out" = "$x" ] || camp_fail "listing differs from points/: [$out] vs [$x]"
	for p in $x; do
		n=${p%/*} i=${p#*/}
		if [ -d "$R/expect/$p" ]; then
			x=$R/expect/$p
		elif [ -d "$F/expect/$p" ]; then
			x=$F/expect/$p
		else
			camp_fail "no sources known for point $p"
			continue
		fi
		rm -rf "$R/chk/r"
		mkdir "$R/chk/r"
		if ! spv "$R" restore "$n@$i" --to "$R/chk/r" --format raw >"$R/log/chk.out" 2>&1; then
			camp_fail "point $p does not restore: $(tail -n2 "$R/log/chk.out" | tr '\n' ' ')"
			continue
		fi
		out=$(camp_same_restore "$x" "$R/chk/r" raw) || camp_fail "point $p: $out"
	done
	out=$(find "$R/chk" -name '.*.partial-*')
	[ -z "$out" ] || camp_fail "partial files left by check restores: $out"
}

# The known bug all of a run's failures match, if any (tests/fault/known-bugs):
# each failure is matched as "LABEL -> CODE: FAILURE".
camp_known() {
	local label=$1 f pat why hit=
	while IFS=$'\t' read -r pat why; do
		[ -n "$pat" ] && [ "${pat#\#}" = "$pat" ] || continue
		for f in "${CAMP_RUN_FAILS[@]}"; do
			[[ "$label -> $CAMP_CODE: $f" =~ $pat ]] || continue 2
		done
		hit=$why
		break
	done <"${SP_KNOWN_BUGS:-$SP_TOP/tests/fault/known-bugs}"
	[ -n "$hit" ] && echo "$hit"
}

# camp_account LABEL KEY: count the run, print its line and its failures.
CAMP_KNOWN=0
declare -gA CAMP_KNOWN_WHY=()
camp_account() {
	local label=$1 key=$2 f known
	CAMP_RUNS=$((CAMP_RUNS + 1))
	CAMP_STAT[$key.runs]=$((${CAMP_STAT[$key.runs]:-0} + 1))
	CAMP_STAT[$key.codes]="${CAMP_STAT[$key.codes]:-} $CAMP_CODE"
	known=
	[ ${#CAMP_RUN_FAILS[@]} = 0 ] || known=$(camp_known "$label")
	if [ -n "$known" ]; then
		CAMP_KNOWN=$((CAMP_KNOWN + 1))
		CAMP_KNOWN_WHY[$known]=$((${CAMP_KNOWN_WHY[$known]:-0} + 1))
		CAMP_STAT[$key.known]=$((${CAMP_STAT[$key.known]:-0} + 1))
		say "KNOWN run $CAMP_RUN $label -> $CAMP_CODE: $known"
		say "    ${CAMP_RUN_FAILS[0]}"
		say "    replay: $CAMP_REPLAY SP_RUN=$CAMP_RUN SP_CAMPAIGNS=$CAMP_NAME.sh make torture"
	elif [ ${#CAMP_RUN_FAILS[@]} -gt 0 ]; then
		CAMP_FAILS=$((CAMP_FAILS + 1))
		CAMP_STAT[$key.fails]=$((${CAMP_STAT[$key.fails]:-0} + 1))
		say "FAIL run $CAMP_RUN $label -> $CAMP_CODE"
		for f in "${CAMP_RUN_FAILS[@]}"; do say "    $f"; done
		say "    replay: $CAMP_REPLAY SP_RUN=$CAMP_RUN SP_CAMPAIGNS=$CAMP_NAME.sh make torture"
		if [ -n "${SP_CAMPAIGN_KEEP:-}" ]; then
			# SP_CAMPAIGN_KEEP=DIR keeps the run directory of each
			# failure there.
			mkdir -p "$SP_CAMPAIGN_KEEP"
			rm -rf "$SP_CAMPAIGN_KEEP/$CAMP_NAME-$CAMP_RUN"
			cp -a "$R" "$SP_CAMPAIGN_KEEP/$CAMP_NAME-$CAMP_RUN" 2>/dev/null
		fi
	elif [ -n "${SP_VERBOSE:-}" ]; then
		say "ok   run $CAMP_RUN $label -> $CAMP_CODE"
	fi
}

# The budget: SP_TORTURE_SECONDS of wall time.
camp_time_left() {
	[ -z "${SP_TORTURE_SECONDS:-}" ] ||
		[ $((SECONDS - CAMP_T0)) -lt "$SP_TORTURE_SECONDS" ]
}

# camp_summary: per key, runs, failures and the outcomes seen.
camp_summary() {
	local k key
	for k in "${!CAMP_STAT[@]}"; do
		[[ $k == *.runs ]] && echo "${k%.runs}"
	done | sort | while read -r key; do
		printf '  %-44s %4d runs %3d failed %3d known  %s\n' "$key" \
			"${CAMP_STAT[$key.runs]}" "${CAMP_STAT[$key.fails]:-0}" \
			"${CAMP_STAT[$key.known]:-0}" \
			"$(tr ' ' '\n' <<<"${CAMP_STAT[$key.codes]}" | grep . |
				sort | uniq -c | sort -rn | awk '{printf "%s%s×%s", (NR > 1 ? " " : ""), $2, $1}')"
	done
}

# The last line says runs and failures; failures that are known bugs
# (tests/fault/known-bugs) are counted on the line before it.
camp_end() {
	local why
	for why in "${!CAMP_KNOWN_WHY[@]}"; do
		say "# known bug, ${CAMP_KNOWN_WHY[$why]} run(s): $why"
	done
	say "campaign $CAMP_NAME: $CAMP_KNOWN runs failed on known bugs"
	say "campaign $CAMP_NAME: $CAMP_RUNS runs, $CAMP_FAILS failures"
	[ "$CAMP_FAILS" = 0 ]
}

# ---- the daemon -------------------------------------------------------------

# camp_domain_fixture: a shut-off libvirt domain whose disks (a raw and a
# qcow2 image) live in the fixture, one point of it, and a policy that
# prunes it to one point after each backup of stillpointd.  Returns 1
# when libvirt does not answer.
DOM=
camp_domain_fixture() {
	local m=${1:-1}
	export LIBVIRT_DEFAULT_URI=qemu:///system
	timeout 20 virsh version >/dev/null 2>&1 || return 1
	DOM=sp-camp-$$
	camp_rng domain
	camp_disk "$F/src/dom-vda.img" $((6 * m)) dv "$m"
	camp_disk "$F/src/dom-vdb.raw" $((4 * m)) dw "$m"
	camp_qcow2 "$F/src/dom-vdb.raw" "$F/src/dom-vdb.qcow2"
	cat >"$F/dom.xml" <<-EOF
		<domain type='qemu'>
		  <name>$DOM</name>
		  <memory unit='MiB'>64</memory>
		  <vcpu>1</vcpu>
		  <os><type arch='x86_64' machine='pc'>hvm</type></os>
		  <devices>
		    <disk type='file' device='disk'>
		      <driver name='qemu' type='raw'/>
		      <source file='$F/src/dom-vda.img'/>
		      <target dev='vda' bus='virtio'/>
		    </disk>
		    <disk type='file' device='disk'>
		      <driver name='qemu' type='qcow2'/>
		      <source file='$F/src/dom-vdb.qcow2'/>
		      <target dev='vdb' bus='virtio'/>
		    </disk>
		  </devices>
		</domain>
	EOF
	virsh undefine "$DOM" >/dev/null 2>&1
	virsh define "$F/dom.xml" >/dev/null || return 1
	at_exit "virsh undefine '$DOM'"
	camp_copy_sources "$F/expect-src/$DOM" "vda=$F/src/dom-vda.img" \
		"vdb=$F/src/dom-vdb.qcow2"
	LAST_ID=$(spv "$F" --json backup "$DOM" | jq -r .id) ||
		die "fixture backup of $DOM failed"
	mkdir -p "$F/expect/$DOM"
	cp -a "$F/expect-src/$DOM" "$F/expect/$DOM/$LAST_ID"
	camp_fixture_done
}

scen_daemon() {
	case $1 in
	pending) echo "$DOM multi" ;;
	esac
}

# camp_daemon_start: stillpointd on the run's state and socket (the shim
# watches its job children's writes).
camp_daemon_start() {
	local i
	(
		export STILLPOINT_STATE_DIR=$R/state STILLPOINTD_SOCKET=$R/d.sock
		exec env "${CAMP_ENV[@]}" "${CAMP_DAEMON_ENV[@]}" "$SPD" \
			--socket "$R/d.sock" --tick 100 \
			--max-jobs 1 --retries 0 2>>"$R/log/daemon.log"
	) &
	DPID=$!
	for ((i = 0; i < 100; i++)); do
		[ -S "$R/d.sock" ] && return 0
		sleep 0.05
	done
	return 1
}

# cspd ARGS: the command line as a client of the run's daemon.
cspd() {
	STILLPOINT_STATE_DIR=$R/state STILLPOINTD_SOCKET=$R/d.sock \
		"$SP" --no-progress --vault "$R/vault" "$@"
}

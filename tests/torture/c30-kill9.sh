#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# c30-kill9: kill -9 at random moments of backup (full and incremental,
# raw and qcow2 sources), restore (raw, qcow2, a loop device), verify, gc,
# prune, delete, undelete and of stillpointd running a job (the daemon,
# its job child, or both, then a restart), each checked as
# tests/fault/campaign.sh says; the daemon must leave no job "in
# progress" and run the next one.  Then kills of live backups of a lab
# guest, some while it is frozen: the guest must be thawed within its
# 10 s freeze deadline, no backup job left, the vault sound and the newest
# point's workload records whole.
#
#   SP_SEED            replay a campaign (else random, printed)
#   SP_RUN=N           replay kill N only
#   SP_KILLS           kills of commands and of the daemon, each in turn
#                      (1000)
#   SP_KILL_FIXTURE    small: the fixture of c20 (quicker, make check)
#   SP_LAB_KILLS       kills of live backups of a lab guest (20; 0: none)
#   SP_TORTURE_SECONDS stop starting kills after that long
# Ends with "campaign c30-kill9: N runs, F failures".
. "$SP_TOP/tests/integration/lib.sh"
. "$SP_TOP/tests/fault/campaign.sh"
[ -f "$SHIM" ] || die "no $SHIM (build with make)"

camp_begin c30-kill9
# Large enough disks that a kill lands inside the transfer, not only in
# the start and the end.
camp_fixture "${SP_KILL_FIXTURE:-big}"
. "$F/meta"
kills=${SP_KILLS:-1000}
lab_kills=${SP_LAB_KILLS:-20}
scens=()
for s in $(camp_scenarios); do
	# gc-twice is two processes: one kill -9 stops only one of them.
	[ "$s" = gc-twice ] || scens+=("$s")
done
if camp_domain_fixture "$([ "${SP_KILL_FIXTURE:-big}" = big ] && echo 4 || echo 1)"; then
	scens+=(daemon-job daemon-self daemon-both)
else
	say "# libvirt does not answer: no daemon kills"
fi

# The shim injects nothing here; it watches where the command writes and
# what it leaves unsynced when it ends before the kill.
watch_env() {
	CAMP_ENV=(LD_PRELOAD="$SHIM" "SP_FAULT=count,path=/nonexistent,report=$R/log/shim,$(camp_watch)")
}

job_child() { pgrep -P "$DPID" -x stillpoint | head -n1; }
now_ms() { echo $((${EPOCHREALTIME/./} / 1000)); }
nap_ms() { sleep "$(printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)))"; }

# ---- how long each command runs, to spread the kills over it ------------
declare -A dur=()
for s in "${scens[@]}"; do
	[ "${s#daemon}" = "$s" ] || continue
	best=0
	for i in 1 2; do
		camp_clone
		"scen_$s" prep >/dev/null
		CAMP_ENV=()
		t0=$(now_ms)
		(camp_exec "$s") || die "$s fails without a kill: $(tail -n2 "$R/log/run.err")"
		t=$(($(now_ms) - t0))
		[ $t -le $best ] || best=$t
	done
	dur[$s]=$best
done
# Jobs of the daemon take a pause at each slice so that kills land inside
# their transfer, not only around it.
CAMP_DAEMON_ENV=(STILLPOINT_TEST_HOLD=slice:${SP_DAEMON_HOLD_MS:-4})
if [ -n "$DOM" ]; then
	camp_clone
	STILLPOINT_STATE_DIR=$R/state spv "$R" protect "$DOM" --policy keep1 >/dev/null
	CAMP_ENV=()
	camp_daemon_start || die "stillpointd does not start: $(tail -n3 "$R/log/daemon.log")"
	t0=$(now_ms)
	cspd backup "$DOM" --now >/dev/null 2>"$R/log/run.err" &
	cpid=$!
	until jpid=$(job_child) && [ -n "$jpid" ]; do sleep 0.01; done
	t1=$(now_ms)
	while kill -0 "$jpid" 2>/dev/null; do sleep 0.01; done
	dur[daemon-job]=$(($(now_ms) - t1))
	dur[daemon-both]=${dur[daemon-job]}
	wait "$cpid" || die "a daemon job fails without a kill: $(tail -n3 "$R/log/run.err")"
	dur[daemon-self]=$(($(now_ms) - t0))
	kill "$DPID"
	wait "$DPID"
fi
say "# durations (ms) without a kill:$(for s in "${!dur[@]}"; do printf ' %s=%s' "$s" "${dur[$s]}"; done)"

# ---- one kill of a command ----------------------------------------------------
kill_command() { # scenario delay_ms
	local s=$1 delay=$2 pid rc how
	out=$("scen_$s" prep)
	[ -z "$out" ] || camp_fail "$out"
	watch_env
	(camp_exec "$s") &
	pid=$!
	nap_ms "$delay"
	kill -9 "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	rc=$?
	if [ $rc = 137 ]; then
		how=killed
		camp_judge "$s" "$rc" kill ""
	else
		how="ended first"
		camp_judge "$s" "$rc" 0 ""
	fi
	camp_check "$s"
	camp_account "$s: kill -9 at ${delay}ms ($how)" "$s $how"
}

# ---- one kill of the daemon, its job, or both -------------------------------

kill_daemon() { # scenario delay_ms
	local s=$1 delay=$2 cpid jpid="" i rc how=killed st code point msg
	STILLPOINT_STATE_DIR=$R/state spv "$R" protect "$DOM" --policy keep1 >/dev/null ||
		camp_fail "protect fails"
	watch_env
	camp_daemon_start || { camp_fail "stillpointd does not start"; return; }
	cspd backup "$DOM" --now >"$R/log/run.out" 2>"$R/log/run.err" &
	cpid=$!
	if [ "$s" = daemon-self ]; then
		nap_ms "$delay"
		jpid=$(job_child)
		kill -9 "$DPID"
	else
		for ((i = 0; i < 200; i++)); do
			jpid=$(job_child)
			[ -z "$jpid" ] || break
			sleep 0.02
		done
		[ -n "$jpid" ] || camp_fail "the daemon started no job in 4 s"
		nap_ms "$delay"
		[ -n "$jpid" ] && kill -0 "$jpid" 2>/dev/null || how="job ended first"
		if [ "$s" = daemon-both ]; then
			kill -9 "$DPID" $jpid 2>/dev/null
		else
			kill -9 $jpid 2>/dev/null
		fi
	fi
	if [ "$s" != daemon-job ]; then
		wait "$DPID" 2>/dev/null
		# A job whose daemon died runs on; a restarted daemon finds it.
		for ((i = 0; i < 600; i++)); do
			[ -n "$jpid" ] && kill -0 "$jpid" 2>/dev/null || break
			sleep 0.1
		done
		camp_daemon_start || { camp_fail "stillpointd does not restart: $(tail -n2 "$R/log/daemon.log")"; }
	fi
	# No job may stay "in progress", the client must end, the job must
	# have ended as failed (Interrupted) or completed with its point.
	for ((i = 0; i < 300; i++)); do
		st=$(cspd --json jobs --status 'in progress' 2>/dev/null | jq length)
		[ "$st" != 0 ] || break
		sleep 0.1
	done
	[ "$st" = 0 ] || camp_fail "a job stays in progress after the kill: $(cspd --json jobs | jq -c '[.[] | {id, status, pid}]')"
	for ((i = 0; i < 150; i++)); do
		kill -0 "$cpid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$cpid" 2>/dev/null; then
		camp_fail "backup --now still waits 15 s after its job ended"
		kill "$cpid"
	fi
	wait "$cpid"
	rc=$?
	st=$(cspd --json jobs | jq -r 'max_by(.id) | "\(.status) \(.code) \(.point) \(.message)"')
	read -r st code point msg <<<"$st"
	case $st in
	completed*)
		[ -d "$R/vault/points/$DOM/$point" ] || [ -d "$R/vault/trash/$DOM/$point" ] ||
			camp_fail "job completed with point $point, which is not in the vault"
		how="$how, job completed"
		;;
	failed)
		# Killed with its daemon: Interrupted (the restart finds it);
		# killed alone: the daemon saw it die of signal 9.
		[ "$code" = Interrupted ] ||
			{ [ "$code" = InternalError ] && [[ $msg == *"signal 9"* ]]; } ||
			camp_fail "the killed job failed with $code: $msg"
		how="$how, job $code"
		;;
	*) camp_fail "the killed job's status is '$st'" ;;
	esac
	if [ "$rc" = 0 ] && [ "${st#completed}" = "$st" ]; then
		camp_fail "backup --now exit 0 for a job that is '$st'"
	fi
	# The next job runs.
	cspd backup "$DOM" --now >"$R/log/chk.out" 2>&1 ||
		camp_fail "the next job fails: $(tail -n2 "$R/log/chk.out" | tr '\n' ' ')"
	kill "$DPID" 2>/dev/null
	wait "$DPID"
	CAMP_CODE=${st%% *}
	camp_check daemon
	camp_account "$s: kill -9 at ${delay}ms ($how)" "$s ${how%%,*}, job ${st%% *}"
}

# ---- the kills ----------------------------------------------------------------
for ((CAMP_RUN = 1; CAMP_RUN <= kills; CAMP_RUN++)); do
	[ -z "${SP_RUN:-}" ] || [ "$SP_RUN" = "$CAMP_RUN" ] || continue
	camp_time_left || { say "# time is up after $CAMP_RUNS runs"; break; }
	camp_rng run "$CAMP_RUN"
	# Every command in turn, each at a random moment.
	s=${scens[(CAMP_RUN - 1) % ${#scens[@]}]}
	d=${dur[$s]}
	camp_rand $((d * 115 / 100 + 1))
	delay=$REPLY
	camp_clone
	CAMP_RUN_FAILS=()
	if [ "${s#daemon}" != "$s" ]; then
		kill_daemon "$s" "$delay"
	else
		kill_command "$s" "$delay"
	fi
	[ $((CAMP_RUN % 100)) != 0 ] ||
		say "# $CAMP_RUN of $kills kills, $CAMP_FAILS failures, $((SECONDS - CAMP_T0)) s"
done

# ---- live backups of a lab guest ------------------------------------------------
lab_kill_campaign() {
	local vm i j hold extra delay pid t0 took st base how
	. "$SP_TOP/tests/lab/lab.sh"
	lab_need
	lab_build_guest
	chmod 755 "$W"
	vm=sp-c30-$$
	mkdir -p "$W/lab"
	spv "$W/lab" init >/dev/null || { say "# lab: init fails"; return 1; }
	lab_make_data_disk "$W/lab-d1.qcow2" 64
	LAB_WORKLOAD=1 lab_define_domain "$vm" "$W/lab-d1.qcow2"
	lab_start "$vm"
	lab_wait_agent "$vm" || { say "# lab: the guest did not come up"; return 1; }
	spv "$W/lab" backup "$vm" >/dev/null 2>&1 || { say "# lab: the first backup fails"; return 1; }
	t0=$(now_ms)
	spv "$W/lab" backup "$vm" >/dev/null 2>&1 || { say "# lab: the second backup fails"; return 1; }
	base=$(($(now_ms) - t0))
	say "# lab: a live incremental backup takes ${base} ms"
	status() { lab_agent "$vm" '{"execute":"guest-fsfreeze-status"}' | jq -r .return; }
	for ((i = 1; i <= lab_kills; i++)); do
		CAMP_RUN=lab-$i
		[ -z "${SP_RUN:-}" ] || [ "$SP_RUN" = "$CAMP_RUN" ] || continue
		camp_rng lab "$i"
		CAMP_RUN_FAILS=()
		# A third of the kills hold the freeze 1.5 s, so that they
		# land while the guest is frozen.
		camp_rand 3
		hold=none extra=0
		[ "$REPLY" != 0 ] || hold=frozen:1500 extra=1500
		camp_rand $((base * 115 / 100 + extra + 1))
		delay=$REPLY
		(
			exec >"$W/lab-run.out" 2>"$W/lab-run.err"
			[ "$hold" = none ] || export STILLPOINT_TEST_HOLD=$hold
			exec "$SP" --no-progress --vault "$W/lab/vault" backup "$vm"
		) &
		pid=$!
		nap_ms "$delay"
		kill -9 "$pid" 2>/dev/null
		t0=$EPOCHREALTIME
		wait "$pid" 2>/dev/null
		[ $? = 137 ] && how=killed || how="ended first"
		for ((j = 0; j < 120; j++)); do
			st=$(status)
			[ "$st" != frozen ] && break
			sleep 0.1
		done
		took=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
		# The watchdog says when it thawed a guest the dead job froze.
		! grep -q 'watchdog thawed' "$W/lab-run.err" || how="$how while frozen"
		[ "$st" = thawed ] && awk -v t="$took" 'BEGIN { exit !(t <= 10.0) }' ||
			camp_fail "the guest is '$st' ${took}s after the kill (deadline 10 s)"
		awk -v t="$took" -v m="$LAB_MAX_THAW" 'BEGIN { exit !(t > m) }' && LAB_MAX_THAW=$took
		if ! timeout 20 virsh version >/dev/null 2>&1; then
			camp_fail "libvirtd died after the kill"
			_lab_daemons
		fi
		for ((j = 0; j < 300; j++)); do
			virsh domjobinfo "$vm" 2>/dev/null | grep -q 'Job type: *None' && break
			sleep 0.1
		done
		virsh domjobinfo "$vm" | grep -q 'Job type: *None' ||
			camp_fail "a backup job is left on the domain"
		spv "$W/lab" backup "$vm" >"$W/lab-chk.out" 2>&1 ||
			camp_fail "the next backup fails: $(tail -n2 "$W/lab-chk.out" | tr '\n' ' ')"
		[ -z "$(ls -A "$W/lab/vault/tmp")" ] || camp_fail "drafts left: $(ls "$W/lab/vault/tmp")"
		spv "$W/lab" verify >"$W/lab-chk.out" 2>&1 ||
			camp_fail "verify: $(tail -n2 "$W/lab-chk.out" | tr '\n' ' ')"
		rm -rf "$W/lab-r"
		mkdir "$W/lab-r"
		if spv "$W/lab" restore "$vm" --to "$W/lab-r" --format raw >"$W/lab-chk.out" 2>&1; then
			lab_records_check "$W/lab-r/vda.raw" >/dev/null 2>"$W/lab-chk.out" ||
				camp_fail "the newest point's records are torn: $(tail -n3 "$W/lab-chk.out" | tr '\n' ' ')"
		else
			camp_fail "the newest point does not restore: $(tail -n2 "$W/lab-chk.out" | tr '\n' ' ')"
		fi
		CAMP_CODE=$how
		camp_account "lab live backup ($hold): kill -9 at ${delay}ms ($how, thawed ${took}s after)" "lab $hold $how"
	done
	say "# lab: $lab_kills kills; the guest was thawed at most ${LAB_MAX_THAW}s after one"
	lab_stop "$vm"
}
LAB_MAX_THAW=0
if [ "$lab_kills" -gt 0 ] && camp_time_left; then
	if (. "$SP_TOP/tests/lab/lab.sh" && lab_need) >/dev/null 2>&1; then
		lab_kill_campaign || camp_fail "lab part did not run"
	else
		say "# lab: not available here (tests/lab/lab.sh lab_need): no live kills"
	fi
fi

say "# outcomes per command (killed: the kill landed before it ended)"
camp_summary
camp_end

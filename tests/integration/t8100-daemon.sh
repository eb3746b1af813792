#!/bin/bash
# stillpointd with real guests: two protected VMs due at the same minute
# run one after the other under --max-jobs 1, each as a job with both
# phases timed, metrics written; backup --now goes through the daemon;
# a daemon killed with its running job (a crash) leaves no job "in
# progress" after restart and no point; a failing job runs the failure
# hook; --max-per-vault serializes jobs of one vault only; job cancel and
# Ctrl-C on backup --now stop a job during its transfer.
. "$(dirname "$0")/lib.sh"
. "$SP_TOP/tests/lab/lab.sh"
lab_need
lab_build_guest
export STILLPOINT_STATE_DIR="$T/state" STILLPOINTD_SOCKET="$T/d.sock"
D="$(dirname "$SP")/stillpointd"

sp init >/dev/null
a=sp-t8100-$$-a b=sp-t8100-$$-b
lab_make_data_disk "$T/a.qcow2" 32
lab_make_data_disk "$T/b.qcow2" 32
LAB_WORKLOAD=1 lab_define_domain "$a" "$T/a.qcow2"
LAB_WORKLOAD=1 lab_define_domain "$b" "$T/b.qcow2"
lab_start "$a"
lab_start "$b"
lab_wait_agent "$a" || die "guest a"
lab_wait_agent "$b" || die "guest b"

# Due two minutes from now; the daemon's clock runs 150 s ahead.
due=$(date -d '+2 min' +%H:%M)
expect_ok "a policy due in two minutes" sp policy create soon --schedule "daily $due" --keep-last 3
expect_ok "protect a" sp protect "$a" --policy soon
expect_ok "protect b" sp protect "$b" --policy soon
cat >"$T/hook.sh" <<EOF
#!/bin/sh
echo "\$STILLPOINT_VM \$STILLPOINT_CODE" >>"$T/hook.log"
EOF
chmod 755 "$T/hook.sh"

start_daemon() {
	"$D" --socket "$STILLPOINTD_SOCKET" --tick 200 --max-jobs 1 --retries 0 \
		--metrics "$T/metrics.prom" --on-failure "$T/hook.sh" "$@" \
		2>>"$T/daemon.log" &
	dpid=$!
	at_exit kill -9 $dpid
	for _ in $(seq 1 50); do [ -S "$STILLPOINTD_SOCKET" ] && break; sleep 0.1; done
}
done_jobs() { [ "$(sp --json jobs | jq '[.[] | select(.status | startswith("completed"))] | length')" -ge "$1" ]; }

STILLPOINT_CLOCK_OFFSET=150 start_daemon
check "both due backups complete" wait_for 180 done_jobs 2
sp --json jobs >jobs.json
check "one scheduled job per VM, both completed" \
	jqe '[.[] | select(.trigger == "schedule")] | length == 2 and all(.status | startswith("completed"))' jobs.json
check "with both phases timed and a point" \
	jqe 'all(.phases.snapshot.duration_ms >= 0 and .phases.transfer.duration_ms > 0 and (.point | length > 10))' jobs.json
check "never at once: one ended before the other started" \
	jqe 'sort_by(.id) | .[0].ended_ms <= .[1].started_ms' jobs.json
check "the points are in the vault" bash -c "[ \$(sp points $a --json | jq length) = 1 ] && [ \$(sp points $b --json | jq length) = 1 ]"
# The daemon writes its metrics on the tick after a job ends.
check "metrics name both VMs' last success and consistency" \
	wait_for 10 bash -c "grep -q 'stillpoint_last_success_timestamp_seconds{vm=\"$a\"}' $T/metrics.prom && grep -q 'stillpoint_last_consistency{vm=\"$b\"} 1' $T/metrics.prom"
sleep 2
check "no second run of the same due time" \
	bash -c "[ \$(sp --json jobs | jq length) = 2 ]"
check "protected shows the last backup" \
	bash -c "sp --json protected | jqe 'all(.last_backup.consistency == \"file-system\")'"

# A second daemon on the same socket is refused and leaves the first alone.
check "a second daemon on the socket is refused (exit 1)" \
	bash -c "timeout 10 '$D' --socket '$STILLPOINTD_SOCKET' 2>'$T/second.log'; [ \$? = 1 ]"
check "it says another one runs" grep -q "another stillpointd runs" "$T/second.log"
check "the first still runs" kill -0 $dpid

expect_ok "backup --now goes through the daemon" sp --json backup "$a" --now
check "a manual job, completed, incremental point" \
	bash -c "sp --json jobs --vm $a | jqe '.[0].trigger == \"manual\" and (.[0].status | startswith(\"completed\"))'"

# Per-vault limit: room for two jobs on the host, one per vault.  Each job
# is held 3 s in its transfer so that two allowed at once must overlap.
both_now() {
	local m=$(($(sp --json jobs | jq 'map(.id) | max') + 0))
	sp backup "$a" --now >/dev/null 2>&1 &
	local pa=$!
	STILLPOINT_VAULT=$1 sp backup "$b" --now >/dev/null 2>&1 &
	local pb=$!
	wait $pa && wait $pb || return 1
	sp --json jobs | jq "[.[] | select(.id > $m)] | sort_by(.started_ms)" >pair.json
}
kill $dpid; wait $dpid 2>/dev/null
STILLPOINT_TEST_HOLD=transfer:3000 start_daemon --max-jobs 2 --max-per-vault 1
check "two jobs in one vault, --max-per-vault 1" both_now "$STILLPOINT_VAULT"
check "one ended before the other started" \
	jqe 'length == 2 and all(.status | startswith("completed")) and .[0].ended_ms <= .[1].started_ms' pair.json
STILLPOINT_VAULT=$T/vault2 sp init >/dev/null
expect_ok "b moves to a second vault" env STILLPOINT_VAULT="$T/vault2" "$SP" protect "$b" --policy soon
check "two jobs in two vaults" both_now "$T/vault2"
check "ran at once: the second started before the first ended" \
	jqe 'length == 2 and all(.status | startswith("completed")) and .[1].started_ms < .[0].ended_ms' pair.json
check "b's point is in the second vault" \
	bash -c "[ \$(STILLPOINT_VAULT=$T/vault2 $SP points $b --json | jq length) = 1 ]"
expect_ok "b back to the first vault" sp protect "$b" --policy soon

# A crash: the daemon and its running job killed together.
kill $dpid; wait $dpid 2>/dev/null
STILLPOINT_TEST_HOLD=transfer:60000 start_daemon
sp backup "$b" --now >/dev/null 2>&1 &
check "the job runs" wait_for 60 bash -c "sp --json jobs --vm $b --status 'in progress' | jqe 'length == 1'"
job=$(sp --json jobs --vm "$b" --status 'in progress' | jq '.[0].id')
kill -9 $dpid "$(sp --json job "$job" | jq .pid)"
wait $dpid 2>/dev/null
n=$(sp points "$b" --json | jq length)
check "while no daemon runs, jobs shows the job's process gone" \
	bash -c "sp --json jobs --vm $b --status 'in progress' | jqe '.[0].process_gone == true' &&
		sp jobs --vm $b | grep -q 'in progress (gone)'"
# A command's own job killed with -9: the next backup command fails it.
STILLPOINT_TEST_HOLD=transfer:60000 sp backup "$a" >/dev/null 2>&1 &
cpid=$!
check "a command's backup runs" wait_for 60 bash -c "sp --json jobs --vm $a --status 'in progress' | jqe 'length == 1'"
cjob=$(sp --json jobs --vm "$a" --status 'in progress' | jq '.[0].id')
kill -9 "$(sp --json job "$cjob" | jq .pid)"
wait $cpid 2>/dev/null
expect_ok "the next backup command runs" sp backup "$a"
check "it failed the killed command's job as Interrupted" \
	jqe '.status == "failed" and .code == "Interrupted"' <(sp --json job "$cjob")
check "but left the daemon's job to the daemon" \
	jqe '.status == "in progress"' <(sp --json job "$job")
start_daemon
check "after restart the job is failed, not in progress" \
	wait_for 20 bash -c "sp --json job $job | jqe '.status == \"failed\" and .code == \"Interrupted\"'"
check "its half-written data is not a point" test "$(sp points "$b" --json | jq length)" = "$n"
check "the failure hook ran" wait_for 10 grep -q "$b Interrupted" "$T/hook.log"
check "no job of b is stuck" bash -c "[ \$(sp --json jobs --vm $b --status 'in progress' | jq length) = 0 ]"
expect_ok "the next backup of b works" sp --json backup "$b" --now
expect_fail UsageError "nothing to cancel in a finished job" sp job cancel "$job"

# job cancel during the transfer: no point, no backup job, no checkpoint.
kill $dpid; wait $dpid 2>/dev/null
STILLPOINT_TEST_HOLD=transfer:60000 start_daemon
n=$(sp points "$a" --json | jq length)
sp backup "$a" --now >/dev/null 2>&1 &
check "a job to cancel is transferring" wait_for 60 bash -c "virsh domjobinfo $a 2>/dev/null | grep -q 'Operation: *Backup'"
job=$(sp --json jobs --vm "$a" --status 'in progress' | jq '.[0].id')
expect_ok "job cancel" sp job cancel "$job"
check "the job ends cancelled" wait_for 30 bash -c "sp --json job $job | jqe '.status == \"cancelled\"'"
check "no point, no backup job, one checkpoint" \
	bash -c "[ \$(sp points $a --json | jq length) = $n ] && virsh domjobinfo $a | grep -q 'Job type: *None' && [ \$(virsh checkpoint-list $a --name | grep -c stillpoint-) = 1 ]"
# Ctrl-C on backup --now while its job transfers: the job is told to stop
# (once), ends cancelled, and the command exits with Interrupted.
"$SP" --no-progress backup "$a" --now >/dev/null 2>"$T/now.err" &
npid=$!
check "a --now job to interrupt is transferring" wait_for 60 bash -c "virsh domjobinfo $a 2>/dev/null | grep -q 'Operation: *Backup'"
job=$(sp --json jobs --vm "$a" --status 'in progress' | jq '.[0].id')
kill -INT $npid
wait $npid
rc=$?
check "the command exits 1 with Interrupted" bash -c "[ $rc = 1 ] && grep -q Interrupted '$T/now.err'"
check "its job ended cancelled" bash -c "sp --json job $job | jqe '.status == \"cancelled\"'"
check "and made no point" test "$(sp points "$a" --json | jq length)" = "$n"
kill $dpid; wait $dpid
check "the daemon stops on SIGTERM and removes its socket" test ! -e "$STILLPOINTD_SOCKET"
check "the log has syslog priorities" grep -q '^<6>stillpointd started' "$T/daemon.log"
lab_stop "$a"
lab_stop "$b"
done_testing

#!/bin/bash
# Never a guest left frozen, never a backup job or checkpoint left behind:
# the backup process killed with SIGKILL while the guest is frozen and
# while it transfers, stopped with SIGTERM while it transfers, and held
# frozen past the freeze deadline.  (STILLPOINT_TEST_HOLD holds the job at
# a step so that the signal lands there.)
. "$(dirname "$0")/lib.sh"
. "$SP_TOP/tests/lab/lab.sh"
lab_need
lab_build_guest

vm=sp-t6400-$$
sp init >/dev/null
lab_make_data_disk "$T/d1.qcow2" 64
LAB_WORKLOAD=1 lab_define_domain "$vm" "$T/d1.qcow2"
lab_start "$vm"
lab_wait_agent "$vm" || die "guest did not come up"
uuid=$(virsh domuuid "$vm")

status() { lab_agent "$vm" '{"execute":"guest-fsfreeze-status"}' | jq -r .return; }
is_frozen() { [ "$(status)" = frozen ]; }
job_runs() { virsh domjobinfo "$vm" 2>/dev/null | grep -q 'Operation: *Backup'; }
no_job() { virsh domjobinfo "$vm" | grep -q 'Job type: *None'; }
checkpoints() { virsh checkpoint-list "$vm" --name | grep -c stillpoint-; }
no_dirs() { ! ls -d /run/stillpoint/"$uuid"-* /var/lib/stillpoint-scratch/"$uuid"-* >/dev/null 2>&1; }

expect_ok "a first point" sp backup "$vm"
n=$(point_ids "$vm" | wc -l)

# 1. SIGKILL while frozen.
STILLPOINT_TEST_HOLD=frozen:60000 "$SP" --no-progress backup "$vm" >/dev/null 2>"$T/k1.err" &
pid=$!
check "the guest gets frozen" wait_for 60 is_frozen
t0=$EPOCHREALTIME
kill -9 $pid
wait $pid 2>/dev/null
check "thawed after SIGKILL, well within the 10 s deadline" wait_for 10 bash -c "[ \"\$(virsh qemu-agent-command $vm '{\"execute\":\"guest-fsfreeze-status\"}' | jq -r .return)\" = thawed ]"
took=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }')
say "# thawed ${took}s after the kill"
check "the watchdog says why it thawed" grep -q "watchdog thawed vm=$vm reason=backup process ended while frozen" "$T/k1.err"
check "no backup job, no job directories left" bash -c "virsh domjobinfo $vm | grep -q 'Job type: *None'"
check "no job directories left" no_dirs
check "no new point" test "$(point_ids "$vm" | wc -l)" = "$n"
check "one checkpoint: the last point's" test "$(checkpoints)" = 1

# 2. SIGKILL during the transfer.
STILLPOINT_TEST_HOLD=transfer:60000 "$SP" --no-progress backup "$vm" >/dev/null 2>"$T/k2.err" &
pid=$!
check "the backup job runs" wait_for 60 job_runs
check "and its checkpoint exists" test "$(checkpoints)" = 2
check "the guest is not frozen while the data is transferred" test "$(status)" = thawed
kill -9 $pid
wait $pid 2>/dev/null
check "the watchdog ends the dead job's backup job" wait_for 20 no_job
check "and deletes the checkpoint it was creating" wait_for 20 bash -c "[ \$(virsh checkpoint-list $vm --name | grep -c stillpoint-) = 1 ]"
check "job directories removed" wait_for 10 no_dirs
check "no new point" test "$(point_ids "$vm" | wc -l)" = "$n"

# 3. SIGTERM during the transfer: the job stops itself, cleanly.
STILLPOINT_TEST_HOLD=transfer:3000 "$SP" --no-progress backup "$vm" >/dev/null 2>"$T/k3.err" &
pid=$!
wait_for 60 job_runs
kill -TERM $pid
wait $pid
rc=$?
check "SIGTERM: the job fails with Interrupted" bash -c "[ $rc != 0 ] && grep -q Interrupted $T/k3.err"
check "SIGTERM: no job, one checkpoint, no point" \
	bash -c "virsh domjobinfo $vm | grep -q 'Job type: *None' && [ \$(virsh checkpoint-list $vm --name | grep -c stillpoint-) = 1 ] && [ \$(sp points $vm --json | jq length) = $n ]"

expect_ok "the next backup is incremental again" sp --json backup "$vm"
check "incremental from the surviving checkpoint" jqe '.incremental != null and .consistency == "file-system"' "$T/.out"
n=$((n + 1))

# 4. Held frozen past a 2 s deadline: the watchdog thaws in time and the
#    point does not claim a freeze.
printf '{ "freeze_deadline_s": 2, "writers": [] }\n' >"$T/deadline.json"
chmod 644 "$T/deadline.json"
STILLPOINT_TEST_HOLD=frozen:6000 "$SP" --no-progress --json backup "$vm" --writers "$T/deadline.json" >"$T/p4.json" 2>"$T/k4.err" &
pid=$!
wait_for 60 is_frozen
t0=$SECONDS
check "thawed by the watchdog before the 2 s deadline ends" wait_for 3 bash -c "[ \"\$(virsh qemu-agent-command $vm '{\"execute\":\"guest-fsfreeze-status\"}' | jq -r .return)\" = thawed ]"
check "while the job itself was still held" kill -0 $pid
wait $pid
check "the point is crash-consistent: FreezeTimeout" \
	jqe '.consistency == "crash" and .consistency_reason.code == "FreezeTimeout" and .freeze.frozen == false' "$T/p4.json"
check "nothing left behind" no_job

# 5. A disk hot-plugged while the snapshot is taken: the job fails with
#    DomainDisksChanged rather than publish a point without it.
lab_make_data_disk "$T/d2.qcow2" 16
n=$(point_ids "$vm" | wc -l)
STILLPOINT_TEST_HOLD=frozen:3000 "$SP" --no-progress backup "$vm" >/dev/null 2>"$T/k5.err" &
pid=$!
wait_for 60 is_frozen
virsh attach-disk "$vm" "$T/d2.qcow2" vdb --driver qemu --subdriver qcow2 --targetbus virtio --live >/dev/null
wait $pid
rc=$?
check "a disk added during the snapshot fails the job: DomainDisksChanged" \
	bash -c "[ $rc != 0 ] && grep -q DomainDisksChanged $T/k5.err && grep -q \"disk 'vdb' was added\" $T/k5.err"
check "no point, no job, no extra checkpoint" \
	bash -c "[ \$(sp points $vm --json | jq length) = $n ] && virsh domjobinfo $vm | grep -q 'Job type: *None' && [ \$(virsh checkpoint-list $vm --name | grep -c stillpoint-) = 1 ]"
check "the guest is thawed" test "$(status)" = thawed

lab_stop "$vm"
done_testing

#!/bin/bash
# A job is run by exactly one process.  A backup the command line runs
# itself is never queued, so stillpointd cannot start it too, however long
# the command waits between making the record and starting the backup; a
# queued job cancelled after the daemon listed it is not started; a --now
# job is started once.  No guest is needed: the protected VM's libvirt
# does not answer, so every run fails at once with LibvirtFailed, and the
# daemon's log says which jobs it started.
. "$(dirname "$0")/lib.sh"
export STILLPOINT_STATE_DIR="$T/state" STILLPOINTD_SOCKET="$T/d.sock"
D="$(dirname "$SP")/stillpointd"
nolibvirt="qemu:///system?socket=$T/no-libvirt.sock"

sp init >/dev/null
sp policy create p --schedule "daily 03:00" --keep-last 1 >/dev/null
sp protect vm1 --policy p --connect "$nolibvirt" >/dev/null

start_daemon() {
	"$D" --socket "$STILLPOINTD_SOCKET" --tick 50 --retries 0 \
		2>>"$T/daemon.log" &
	dpid=$!
	at_exit kill $dpid
	for _ in $(seq 1 50); do [ -S "$STILLPOINTD_SOCKET" ] && break; sleep 0.1; done
}
stop_daemon() { kill $dpid; wait $dpid 2>/dev/null; }
started() { grep -c "job started job=$1 " "$T/daemon.log"; }
jobs_of_vm1() { [ "$(sp --json jobs --vm vm1 | jq length)" = "$1" ]; }

# The command line's own job, held 2 s right after its record is made,
# while the daemon looks for queued jobs every 50 ms.
start_daemon
STILLPOINT_TEST_HOLD=job-created:2000 "$SP" --no-progress backup vm1 \
	--connect "$nolibvirt" >/dev/null 2>"$T/direct.err" &
cpid=$!
check "the command's job has a record" wait_for 10 jobs_of_vm1 1
sp --json jobs --vm vm1 >held.json
id=$(jq '.[0].id' held.json)
check "while held it is in progress by the command, never queued" \
	jqe ".[0].status == \"in progress\" and .[0].pid == $cpid" held.json
wait $cpid
check "the command ran it: LibvirtFailed" grep -q LibvirtFailed "$T/direct.err"
check "the daemon did not start it" test "$(started "$id")" = 0
check "one job, failed by the command's own run" \
	bash -c "sp --json jobs --vm vm1 | jqe 'length == 1 and .[0].status == \"failed\" and .[0].code == \"LibvirtFailed\" and .[0].pid == $cpid'"
stop_daemon

# A queued job cancelled while the daemon, having listed it, is held just
# before starting it.
STILLPOINT_TEST_HOLD=dispatch:2000 start_daemon
"$SP" --no-progress backup vm1 --now >/dev/null 2>&1 &
npid=$!
check "the --now job is queued" \
	wait_for 10 bash -c "sp --json jobs --vm vm1 --status queued | jqe 'length == 1'"
id=$(sp --json jobs --vm vm1 --status queued | jq '.[0].id')
expect_ok "cancel it while the daemon holds it" sp job cancel "$id"
wait $npid
check "the daemon got past its hold" \
	wait_for 10 grep -q "job not started job=$id" "$T/daemon.log"
check "it did not start the cancelled job" test "$(started "$id")" = 0
check "the job stays cancelled" \
	bash -c "sp --json job $id | jqe '.status == \"cancelled\" and .code == \"Interrupted\"'"
stop_daemon

# A --now job through the daemon: started once, by one child.
start_daemon
expect_fail LibvirtFailed "backup --now fails with libvirt's code" sp backup vm1 --now
id=$(sp --json jobs --vm vm1 | jq '.[0].id')
check "the daemon started it once" test "$(started "$id")" = 1
check "and the record names that child" \
	bash -c "sp --json job $id | jqe \".pid == \$(grep -o 'job started job=$id .*pid=[0-9]*' $T/daemon.log | grep -o '[0-9]*\$')\""
stop_daemon

# A job handed over by hand must still be queued (or this process's).
expect_fail JobNotQueued "--job-id of a job that already ran is refused" \
	sp backup vm1 --job-id "$id"
check "...and the job keeps its outcome" \
	bash -c "sp --json job $id | jqe '.status == \"failed\" and .code == \"LibvirtFailed\"'"
done_testing

#!/bin/bash
# stillpointd reads policies and protections, and parses schedules, once:
# at start, again when another process changes one (the state database's
# generation moves), and on SIGHUP; never on a plain tick, nor after its
# own mark of a due run.  Crash recovery runs once at start, and again
# only when a dead job stands in the way of a new one of its VM.  The
# daemon logs each load and each recovery; it ticks every 20 ms here.
# No guest is needed (the protected VMs' libvirt does not answer).
. "$(dirname "$0")/lib.sh"
export STILLPOINT_STATE_DIR="$T/state" STILLPOINTD_SOCKET="$T/d.sock"
D="$(dirname "$SP")/stillpointd"
nolibvirt="qemu:///system?socket=$T/no-libvirt.sock"

sp init >/dev/null
far=$(date -d '+3 hours' +%H:%M)
sp policy create p --schedule "daily $far" --keep-last 1 >/dev/null
sp policy create q --schedule "daily $far" --keep-last 1 >/dev/null
for vm in vm1 vm2; do sp protect $vm --policy p --connect "$nolibvirt" >/dev/null; done
sp protect vm3 --policy q --connect "$nolibvirt" >/dev/null

# The daemon's clock runs 150 s ahead: a run two minutes from now is due.
STILLPOINT_CLOCK_OFFSET=150 "$D" --socket "$STILLPOINTD_SOCKET" --tick 20 \
	--retries 0 2>"$T/daemon.log" &
dpid=$!
at_exit kill $dpid
for _ in $(seq 1 50); do [ -S "$STILLPOINTD_SOCKET" ] && break; sleep 0.1; done
loads() { grep -c 'schedules loaded' "$T/daemon.log"; }
loads_are() { [ "$(loads)" = "$1" ]; }
recoveries() { grep -c 'recovery done' "$T/daemon.log"; }

sleep 2
check "about 100 ticks: schedules loaded once ($(loads))" loads_are 1
check "at start, 3 VMs and 2 policies" grep -q 'schedules loaded why=start vms=3 policies=2' "$T/daemon.log"
check "crash recovery ran once, at start ($(recoveries))" \
	bash -c "[ $(recoveries) = 1 ] && grep -q 'recovery done why=start' '$T/daemon.log'"

# Changes made by other processes are seen at the next tick, once.
sp policy edit p --keep-last 2 >/dev/null
check "a policy edit loads them again" wait_for 5 loads_are 2
sleep 0.5
check "once" loads_are 2
check "as changed" grep -q 'schedules loaded why=changed' "$T/daemon.log"
sp unprotect vm2 >/dev/null
check "unprotect loads them again, two VMs left" \
	wait_for 5 bash -c "grep -q 'schedules loaded why=changed vms=2' '$T/daemon.log'"
check "three loads in all" loads_are 3
kill -HUP $dpid
check "SIGHUP loads them again" wait_for 5 bash -c "grep -q 'schedules loaded why=SIGHUP' '$T/daemon.log'"
check "and the daemon goes on" kill -0 $dpid
check "four loads in all" loads_are 4

# The reloaded schedule is the one used: p made due now runs vm1.
sp policy edit p --schedule "daily $(date -d '+2 min' +%H:%M)" >/dev/null
check "vm1's scheduled job ran on the edited schedule" \
	wait_for 10 bash -c "sp --json jobs --vm vm1 | jqe 'length == 1 and .[0].trigger == \"schedule\" and .[0].code == \"LibvirtFailed\"'"
check "vm3, on policy q, is not due" bash -c "sp --json jobs --vm vm3 | jqe 'length == 0'"
sleep 0.5
check "no load after the daemon marked the due run itself" loads_are 5

# A command killed with -9 leaves its job in progress: recovery is not run
# for it on a tick, but when the next job of that VM needs the way clear.
STILLPOINT_TEST_HOLD=job-created:60000 "$SP" --no-progress backup vm3 \
	--connect "$nolibvirt" >/dev/null 2>&1 &
kp=$!
check "a command's job of vm3 is in progress" \
	wait_for 10 bash -c "sp --json jobs --vm vm3 --status 'in progress' | jqe 'length == 1'"
dead=$(sp --json jobs --vm vm3 | jq '.[0].id')
kill -9 $kp
wait $kp 2>/dev/null
sleep 1
check "no recovery on the ticks since" bash -c "[ $(recoveries) = 1 ]"
expect_fail LibvirtFailed "backup --now of vm3 is queued and runs" sp backup vm3 --now
check "the dead job was failed as Interrupted" \
	bash -c "sp --json job $dead | jqe '.status == \"failed\" and .code == \"Interrupted\"'"
check "by a recovery the new job needed" \
	grep -q 'recovery done why=blocked recovered=1' "$T/daemon.log"
check "two recoveries in all" bash -c "[ $(recoveries) = 2 ]"
done_testing

#!/bin/bash
# Ctrl-C on 'backup DOMAIN --now' while its job still waits in the daemon's
# queue cancels the job in the state database, as 'job cancel' does: the
# job ends cancelled, the command exits at once with Interrupted, and the
# daemon never starts it.  The daemon is held 8 s after it listed the job,
# so that the job is surely still queued when the signal comes.  No guest
# is needed (the protected VM's libvirt does not answer).
. "$(dirname "$0")/lib.sh"
export STILLPOINT_STATE_DIR="$T/state" STILLPOINTD_SOCKET="$T/d.sock"
D="$(dirname "$SP")/stillpointd"

sp init >/dev/null
sp policy create p --schedule "daily 03:00" --keep-last 1 >/dev/null
sp protect vm1 --policy p --connect "qemu:///system?socket=$T/no-libvirt.sock" >/dev/null
STILLPOINT_TEST_HOLD=dispatch:8000 "$D" --socket "$STILLPOINTD_SOCKET" \
	--tick 50 --retries 0 2>"$T/daemon.log" &
dpid=$!
at_exit kill $dpid
for _ in $(seq 1 50); do [ -S "$STILLPOINTD_SOCKET" ] && break; sleep 0.1; done

"$SP" --no-progress backup vm1 --now >"$T/now.out" 2>"$T/now.err" &
npid=$!
check "the job is queued" \
	wait_for 10 bash -c "sp --json jobs --vm vm1 --status queued | jqe 'length == 1'"
id=$(sp --json jobs --vm vm1 | jq '.[0].id')
t0=$EPOCHREALTIME
kill -INT $npid
wait $npid
rc=$?
ms=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%d", (b - a) * 1000 }')
say "# backup --now ended ${ms} ms after SIGINT, exit $rc"
check "the command exits at once (${ms} ms), not when the daemon gets to it" test "$ms" -lt 2000
check "with exit status 1 and the code Interrupted" \
	bash -c "[ $rc = 1 ] && grep -q 'Interrupted (SP1003)' '$T/now.err'"
check "the job is cancelled in jobs --json" \
	bash -c "sp --json jobs --vm vm1 | jqe '.[0].id == $id and .[0].status == \"cancelled\" and .[0].code == \"Interrupted\"'"
check "the daemon, past its hold, does not start it" \
	wait_for 15 grep -q "job not started job=$id" "$T/daemon.log"
check "no 'job started' for it" bash -c "! grep -q 'job started job=$id ' '$T/daemon.log'"
check "still cancelled, one job" \
	bash -c "sp --json jobs --vm vm1 | jqe 'length == 1 and .[0].status == \"cancelled\"'"

# Without a daemon, --now runs the job here as the daemon would: with the
# protection's libvirt URI (its socket is named in the error) and into the
# protection's vault, whatever \$STILLPOINT_VAULT says.
kill $dpid
wait $dpid 2>/dev/null
STILLPOINT_VAULT=$T/elsewhere expect_fail LibvirtFailed \
	"backup --now without a daemon uses the protection's --connect" \
	sp backup vm1 --now
check "...whose socket the error names" grep -q "no-libvirt.sock" "$T/.err"
check "...and no vault was made at \$STILLPOINT_VAULT" test ! -e "$T/elsewhere"
expect_fail DomainNotFound "an explicit --connect still wins" \
	sp backup vm1 --now --connect "test:///default"
done_testing

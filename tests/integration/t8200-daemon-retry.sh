#!/bin/bash
# stillpointd retries a job that failed for a transient reason (libvirt
# unreachable) with a doubling delay, up to --retries, then stops; each
# attempt is its own job; the failure hook runs for each failure.
. "$(dirname "$0")/lib.sh"
export STILLPOINT_STATE_DIR="$T/state" STILLPOINTD_SOCKET="$T/d.sock"
D="$(dirname "$SP")/stillpointd"

sp init >/dev/null
sp policy create p --schedule "daily 03:00" --keep-last 1 >/dev/null
# A libvirt that does not answer: a socket that does not exist.
sp protect vm1 --policy p --connect "qemu:///system?socket=$T/no-libvirt.sock" >/dev/null
cat >"$T/hook.sh" <<EOF2
#!/bin/sh
echo "\$STILLPOINT_JOB \$STILLPOINT_CODE" >>"$T/hook.log"
EOF2
chmod 755 "$T/hook.sh"
"$D" --socket "$STILLPOINTD_SOCKET" --tick 100 --retries 2 --retry-delay 1 \
	--on-failure "$T/hook.sh" 2>"$T/daemon.log" &
dpid=$!
at_exit kill $dpid
for _ in $(seq 1 50); do [ -S "$STILLPOINTD_SOCKET" ] && break; sleep 0.1; done

expect_fail LibvirtFailed "backup --now fails with libvirt's code" sp backup vm1 --now
three() { [ "$(sp --json jobs --vm vm1 | jq '[.[] | select(.status == "failed")] | length')" = 3 ]; }
for _ in $(seq 1 100); do three && break; sleep 0.1; done
sleep 1.5
sp --json jobs --vm vm1 >jobs.json
check "three attempts, then no more" jqe 'length == 3 and all(.status == "failed" and .code == "LibvirtFailed")' jobs.json
check "attempts 1, 2, 3: the manual job, then two retries" \
	jqe 'sort_by(.id) | [.[] | [.attempt, .trigger]] == [[1,"manual"],[2,"retry"],[3,"retry"]]' jobs.json
check "each retry was due after its doubled delay (1 s, then 2 s)" \
	jqe 'sort_by(.id) | (.[1].not_before - .[0].ended) >= 1 and (.[2].not_before - .[1].ended) >= 2' jobs.json
check "and did not start before it was due" \
	jqe 'sort_by(.id) | all(.[1:][]; .started_ms >= .not_before * 1000)' jobs.json
check "the failure hook ran for each" test "$(grep -c LibvirtFailed "$T/hook.log")" = 3
# A VM the daemon does not protect is backed up by the command itself.
expect_fail LibvirtFailed "backup --now of an unprotected VM runs here, not in the daemon" \
	sp backup "no-such-vm-$$" --connect "qemu:///system?socket=$T/no-libvirt.sock" --now
check "and is no daemon job" bash -c "[ \$(sp --json jobs --vm no-such-vm-$$ | jq '[.[] | select(.trigger != \"manual\")] | length') = 0 ]"
done_testing

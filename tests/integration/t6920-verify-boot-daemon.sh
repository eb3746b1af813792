#!/bin/bash
# A policy with --verify-boot makes stillpointd boot-verify a protected
# VM's newest point as a job of its own once its backup exists: the job
# (kind verify-boot) completes with the point and its RTO, the point shows
# boot-verified, the policy's probe ran in the booted copy, and no second
# verification comes within the period; metrics say it passed with its RTO
# and still take the last backup from the backup job, as `protected`
# does.  A week and a day later (the daemon's clock ahead) the next one
# comes, after that week's backup; with a probe that fails it is
# BootProbeFailed, not retried, runs the failure hook and marks the point.
# The policy options are checked.
. "$(dirname "$0")/lib.sh"
. "$SP_TOP/tests/lab/lab.sh"
lab_need
lab_build_guest
export STILLPOINT_STATE_DIR="$T/state" STILLPOINTD_SOCKET="$T/d.sock"
export STILLPOINT_TMPDIR=$T/scratch
mkdir -p "$T/scratch" && chmod 755 "$T/scratch"
D="$(dirname "$SP")/stillpointd"

expect_fail UsageError "--verify-boot with a bad period" \
	sp policy create bad --schedule "daily 01:00" --verify-boot hourly
sp init >/dev/null
vm=verifyboot-t6920-$$
lab_make_data_disk "$T/d1.qcow2" 32
lab_define_domain "$vm" "$T/d1.qcow2"
lab_start "$vm"
lab_wait_agent "$vm" 300 || die "guest did not come up"
lab_guest_exec "$vm" /bin/sh -c "echo answer-$$ >/mnt/vda/app-answer && sync" ||
	die "cannot write the file the probe reads"

# Due two minutes from now; the daemon's clock runs 150 s ahead.
due=$(date -d '+2 min' +%H:%M)
expect_ok "a policy with boot verification" \
	sp --json policy create vb --schedule "daily $due" --keep-last 3 \
	--verify-boot weekly --verify-probe "grep -qx answer-$$ /mnt/vda/app-answer"
check "the policy keeps it" jqe '.verify_boot == "weekly" and (.verify_probe | startswith("grep"))' "$T/.out"
expect_ok "policy list shows it" sp policy list
check "as verify-boot weekly" grep -q "verify-boot weekly" "$T/.out"
expect_ok "protect" sp protect "$vm" --policy vb

STILLPOINT_CLOCK_OFFSET=150 "$D" --socket "$STILLPOINTD_SOCKET" --tick 200 \
	--retries 0 --metrics "$T/metrics.prom" 2>>"$T/daemon.log" &
dpid=$!
at_exit kill -9 $dpid
vb_done() { sp --json jobs | jqe 'any(.[]; .kind == "verify-boot" and (.status | startswith("completed") or . == "failed"))'; }
check "the backup and then the boot verification ran" wait_for 900 vb_done
sp --json jobs >jobs.json
check "a verify-boot job, completed, of the backup's point, with its RTO" \
	jqe '(.[] | select(.kind == "backup") | .point) as $p | any(.[]; .kind == "verify-boot" and .status == "completed" and .point == $p and .rto_ms > 0 and .passed)' jobs.json
check "it came after the backup" \
	jqe '(.[] | select(.kind == "backup") | .ended_ms) <= (.[] | select(.kind == "verify-boot") | .started_ms)' jobs.json
expect_ok "jobs lists it" sp jobs
check "as VM [verify-boot]" grep -q "$vm \[verify-boot\]" "$T/.out"
expect_ok "points --json" sp --json points "$vm"
check "the point is boot-verified, with the policy's probe" \
	jqe '.[-1].boot_verified | .passed and .rto_ms > 0 and (.probe | startswith("grep -qx answer"))' "$T/.out"
sleep 15
check "metrics: the last boot verification passed, with its RTO" \
	bash -c "grep -q 'stillpoint_last_verify_boot_passed{vm=\"$vm\"} 1' '$T/metrics.prom' && grep -q 'stillpoint_last_verify_boot_rto_seconds{vm=\"$vm\"} [0-9]' '$T/metrics.prom' && grep -q 'stillpoint_verify_boot_jobs_total{vm=\"$vm\",status=\"completed\"} 1' '$T/metrics.prom'"
check "metrics: the last backup is the backup, not the verification" \
	bash -c "grep -q 'stillpoint_last_success_timestamp_seconds{vm=\"$vm\"} '\$(jq '.[] | select(.kind == \"backup\") | .ended' jobs.json)\$ '$T/metrics.prom' && grep -q 'stillpoint_jobs_total{vm=\"$vm\",status=\"completed\"} 1' '$T/metrics.prom'"
expect_ok "protected" sp --json protected
check "protected's last backup is the backup job" \
	jqe '.[0].last_backup.kind == "backup"' "$T/.out"
check "one verification a period" \
	jqe '[.[] | select(.kind == "verify-boot")] | length == 1' <(sp --json jobs)
check "nothing of it is left" \
	bash -c "! virsh list --all --name | grep -q '^sp-verify-$vm' && [ -z \"\$(ls -A '$T/scratch')\" ]"
check "the daemon logged the queueing" grep -q "verify-boot queued job=.* vm=$vm" "$T/daemon.log"

# A week and a day later, with a probe that fails: the week's backup, then
# the next verification, which fails, is not retried, runs the hook.
kill "$dpid"
wait "$dpid" 2>/dev/null
expect_ok "the policy's probe now fails" sp policy edit vb --verify-probe "exit 9"
printf '#!/bin/sh\necho "$STILLPOINT_VM $STILLPOINT_CODE" >>"%s/hook.log"\n' "$T" >"$T/hook.sh"
chmod 755 "$T/hook.sh"
STILLPOINT_CLOCK_OFFSET=$((8 * 86400 + 150)) "$D" --socket "$STILLPOINTD_SOCKET" \
	--tick 200 --retries 2 --retry-delay 1 --on-failure "$T/hook.sh" \
	--metrics "$T/metrics.prom" 2>>"$T/daemon.log" &
dpid=$!
at_exit kill -9 $dpid
vb_failed() { sp --json jobs | jqe 'any(.[]; .kind == "verify-boot" and .status == "failed")'; }
check "a week later the next verification ran, and failed" wait_for 900 vb_failed
sleep 15
sp --json jobs >jobs2.json
check "BootProbeFailed, with the probe's exit code, of the week's new point" \
	jqe '([.[] | select(.kind == "backup")] | .[0].point) as $p | any(.[]; .kind == "verify-boot" and .status == "failed" and .code == "BootProbeFailed" and .exit_code == 9 and .point == $p)' jobs2.json
check "not retried: two verifications in all" \
	jqe '[.[] | select(.kind == "verify-boot")] | length == 2' jobs2.json
check "the failure hook ran with its code" grep -qx "$vm BootProbeFailed" "$T/hook.log"
expect_ok "points --json" sp --json points "$vm"
check "the newest point shows the failed verification" \
	jqe '.[-1].boot_verified | (.passed | not) and .error == "BootProbeFailed" and .exit_code == 9' "$T/.out"
check "metrics: the last boot verification failed" \
	grep -q "stillpoint_last_verify_boot_passed{vm=\"$vm\"} 0" "$T/metrics.prom"
check "nothing of it is left" \
	bash -c "! virsh list --all --name | grep -q '^sp-verify-$vm' && [ -z \"\$(ls -A '$T/scratch')\" ]"
done_testing

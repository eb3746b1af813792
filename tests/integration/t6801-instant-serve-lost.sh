#!/bin/bash
# sp-timeout: 900
# Instant recovery when what serves the disks goes away mid-copy: the
# server killed (the background process sees it, pauses the guest, fails
# the job with InstantServeLost and says how to resume), then the
# background process itself killed with -9 (its server ends with it; the
# guest's next read of served data pauses it with an I/O error instead of
# handing it anything).  Each time 'restore --resume' serves again on the
# same socket and lets the guest go on; the copy completes, the workload's
# records are intact and run past the point, and no disk needs the vault.
# A cancelled copy ('job cancel') pauses the guest and resumes the same way.
. "$(dirname "$0")/lib.sh"
. "$SP_TOP/tests/lab/lab.sh"
lab_need
command -v nbdkit >/dev/null || { say "no nbdkit (run tools/setup-debian.sh)"; exit 77; }
lab_build_guest
export STILLPOINT_STATE_DIR=$T/state

vm=instant-t6801-$$
new=instant-t6801-new-$$
sp init >/dev/null
lab_workload_point "$vm" "$T/d1.qcow2" 160 || die "no point of the source"
id=$LAB_POINT_ID

to=$T/to
mkdir "$to" && chmod 755 "$to"
at_exit lab_undefine "$new"
# 1 MiB/s: the copy of 160 MiB takes minutes, time enough to pull the plug.
expect_ok "instant restore" sp --json restore "$vm@$id" --as "$new" --instant \
	--to "$to" --bandwidth 1 --agent-timeout 600
job=$(jq -r .job "$T/.out")
sleep 3

# wait_status STATUS: until the job has it (at most 120 s).
wait_status() {
	local i
	for ((i = 0; i < 600; i++)); do
		[ "$(sp --json job "$job" | jq -r .status)" = "$1" ] && return 0
		sleep 0.2
	done
	return 1
}

server=$(sp --json job "$job" | jq -r .server_pid)
check "the server runs" kill -0 "$server"
kill -9 $server
check "the job fails when the server is gone" wait_status failed
expect_ok "job after the loss" sp --json job "$job"
check "it says InstantServeLost and how to resume" \
	jqe '.code == "InstantServeLost" and (.action | contains("restore --resume '"$job"'"))' "$T/.out"
check "the guest is paused" test "$(virsh domstate "$new")" = paused
check "nothing was pivoted" jqe '[.disks[].pivoted] | all | not' "$T/.out"

expect_ok "resume" sp --json restore --resume "$job"
check "the guest runs again" test "$(virsh domstate "$new")" = running
check "the job is in progress again" wait_status "in progress"
check "the agent answers after the resume" lab_agent "$new" '{"execute":"guest-ping"}'
sleep 3

# Now the background process itself, kill -9: its server goes with it.
bg=$(sp --json job "$job" | jq -r .pid)
kill -9 "$bg"
# nbdkit is sent SIGTERM when its parent dies: from then on it answers no
# request (its process ends once QEMU's connection does).
# A read of served data (not in the overlay) must pause the guest.
lab_guest_exec "$new" /bin/dd if=/dev/vda of=/dev/null bs=1M count=150 \
	iflag=direct >/dev/null 2>&1 &
reader=$!
for ((i = 0; i < 300; i++)); do
	[ "$(virsh domstate "$new")" = paused ] && break
	sleep 0.2
done
check "the guest paused on the failed read" \
	bash -c "virsh domstate --reason $new | grep -q 'paused (I/O error)'"
expect_ok "the job shows its process gone" sp --json job "$job"
check "in progress (gone), and how to resume" \
	jqe '.process_gone == true and (.action | contains("restore --resume '"$job"'"))' "$T/.out"

expect_ok "resume after kill -9, at 2 MiB/s" sp --json restore --resume "$job" \
	--bandwidth 2
check "the guest runs again" test "$(virsh domstate "$new")" = running
# wait_limit MIB: until the copy of vda runs at that limit (at most 60 s).
wait_limit() {
	local i
	for ((i = 0; i < 300; i++)); do
		virsh blockjob "$new" vda --info --bytes 2>/dev/null |
			grep -q "Bandwidth limit: $(($1 << 20)) bytes/s" && return 0
		sleep 0.2
	done
	return 1
}
check "the copy runs at the new limit" wait_limit 2
expect_ok "job with the new limit" sp --json job "$job"
check "the job records it" jqe ".bandwidth == $((2 << 20))" "$T/.out"
wait "$reader" 2>/dev/null
check "the agent answers after the second resume" lab_agent "$new" '{"execute":"guest-ping"}'
# Cancelled: the copy stops, the guest is paused, and it can be resumed.
sleep 2
expect_ok "job cancel" sp job cancel "$job"
check "the job is cancelled" wait_status cancelled
check "the guest is paused after the cancel" test "$(virsh domstate "$new")" = paused
expect_ok "job after the cancel" sp --json job "$job"
check "it says how to resume" jqe '.action | contains("restore --resume '"$job"'")' "$T/.out"
expect_ok "resume after the cancel" sp --json restore --resume "$job"
check "the guest runs again" test "$(virsh domstate "$new")" = running
check "the copy keeps the job's limit" wait_limit 2
# The guest fsyncs a record every 50 ms, dirtying more than the limit
# allows to copy: the copy comes in step only because the guest's writes
# reach it as they are made.  160 MiB at 2 MiB/s: about 80 s.
lab_instant_end "$job" "$new" "$T/d1.qcow2" "$to/$new-vda.qcow2"
done_testing

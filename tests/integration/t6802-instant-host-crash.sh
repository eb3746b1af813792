#!/bin/bash
# sp-timeout: 900
# Instant recovery through a host crash mid-copy, as far as one host can
# play it: the recovered guest's QEMU, the background process and its
# server all killed with -9 at once.  The domain is left shut off on its
# overlays (what the guest wrote since the point is kept there), the job
# says its process is gone, and 'restore --resume' serves the point again,
# starts the domain again and copies from the start (the partial copy is
# made anew).  The copy completes, the workload's records are intact and
# run past the point, no disk needs the vault and no server is left.
. "$(dirname "$0")/lib.sh"
. "$SP_TOP/tests/lab/lab.sh"
lab_need
command -v nbdkit >/dev/null || { say "no nbdkit (run tools/setup-debian.sh)"; exit 77; }
lab_build_guest
export STILLPOINT_STATE_DIR=$T/state

vm=instant-t6802-$$
new=instant-t6802-new-$$
sp init >/dev/null
lab_workload_point "$vm" "$T/d1.qcow2" 96 || die "no point of the source"
id=$LAB_POINT_ID

to=$T/to
mkdir "$to" && chmod 755 "$to"
at_exit lab_undefine "$new"
# 1 MiB/s: the copy takes minutes, time enough to crash in the middle.
expect_ok "instant restore" sp --json restore "$vm@$id" --as "$new" --instant \
	--to "$to" --bandwidth 1 --agent-timeout 600
job=$(jq -r .job "$T/.out")
# let the guest write records after the point, and the copy start
sleep 8
expect_ok "job before the crash" sp --json job "$job"
check "the copy is under way" jqe '.status == "in progress" and .phase == "copying"' "$T/.out"
bg=$(jq -r .pid "$T/.out")
server=$(jq -r .server_pid "$T/.out")
qemu=$(cat "/run/libvirt/qemu/$new.pid")
check "the guest's QEMU, the background process and the server run" \
	kill -0 "$qemu" "$bg" "$server"
kill -9 "$qemu" "$bg" "$server"
for ((i = 0; i < 150; i++)); do
	[ "$(virsh domstate "$new")" = "shut off" ] && break
	sleep 0.2
done
check "the domain is shut off (crashed)" \
	bash -c "virsh domstate --reason $new | grep -q 'shut off (crashed)'"
expect_ok "the job after the crash" sp --json job "$job"
check "in progress, its process gone, resumable" \
	jqe '.process_gone == true and (.action | contains("restore --resume '"$job"'"))' "$T/.out"
expect_ok "the job after the crash (text)" sp job "$job"
check "the text says it and how to resume" bash -c "grep -q 'in progress (gone)' $T/.out &&
	grep -q \"action .*restore --resume $job'\" $T/.out"
check "the partial copy is there" test -e "$to/$new-vda.qcow2"
check "the definition still names the overlay" \
	bash -c "virsh dumpxml --inactive $new | grep -q overlay"

expect_ok "resume after the crash, without a limit" sp --json restore --resume "$job" \
	--bandwidth 0
check "the domain runs again" test "$(virsh domstate "$new")" = running
check "its agent answers" lab_wait_agent "$new" 300
lab_instant_end "$job" "$new" "$T/d1.qcow2" "$to/$new-vda.qcow2"
check "no overlay is left" bash -c "! ls $to | grep -q overlay"
check "no server of the job is left" bash -c "! pgrep -f '[n]bdkit.*$new' >/dev/null"
done_testing

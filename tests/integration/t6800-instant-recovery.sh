#!/bin/bash
# Instant recovery: a lab guest's point runs as a new domain on disks
# served from the vault; its workload keeps writing while the disks are
# copied to local files in the background; the job completes, the domain
# is pivoted onto the copies and defined on them (no socket, NBD or
# overlay left), the records on the copied disk are intact after a clean
# shutdown and run past the point's, and a disk the guest never writes is
# byte for byte the source's.
. "$(dirname "$0")/lib.sh"
. "$SP_TOP/tests/lab/lab.sh"
lab_need
command -v nbdkit >/dev/null || { say "no nbdkit (run tools/setup-debian.sh)"; exit 77; }
lab_build_guest
export STILLPOINT_STATE_DIR=$T/state

vm=instant-t6800-$$
new=instant-t6800-new-$$
sp init >/dev/null
lab_make_data_disk "$T/d1.qcow2" 128
# sdb: random bytes on a SATA disk the lab guest has no driver for: it
# never reads or writes it, so its copy must be the source byte for byte.
random_file "$T/d2.raw" 48 6800
qemu-img convert -f raw -O qcow2 "$T/d2.raw" "$T/d2.qcow2"
LAB_WORKLOAD=1 LAB_WORKLOAD_MS=50 lab_define_domain "$vm" "$T/d1.qcow2"
virsh attach-disk "$vm" "$T/d2.qcow2" sdb --targetbus sata --subdriver qcow2 \
	--config >/dev/null || die "cannot attach the second disk"
# sdb has error policies of its own: served, both disks stop on errors;
# once copied, sdb gets its own back and vda none.
virsh dumpxml --inactive "$vm" | python3 -c '
import sys, xml.etree.ElementTree as E
d = E.parse(sys.stdin)
for disk in d.iter("disk"):
    if disk.find("target").get("dev") == "sdb":
        disk.find("driver").set("error_policy", "report")
        disk.find("driver").set("rerror_policy", "ignore")
d.write(sys.stdout, encoding="unicode")' >"$T/src.xml" &&
	virsh define "$T/src.xml" >/dev/null || die "cannot set sdb's error policies"
lab_start "$vm"
lab_wait_agent "$vm" 300 || die "guest did not come up"
sleep 2
expect_ok "backup" sp --json backup "$vm"
id=$(jq -r .id "$T/.out")
lab_stop "$vm" 120 || die "no clean shutdown of the source"

to=$T/to
mkdir "$to" && chmod 755 "$to"
at_exit lab_undefine "$new"
expect_fail InstantJobUnknown "resume of a job that does not exist" \
	sp restore --resume 999
expect_fail UsageError "--instant wants --as" sp restore "$vm@$id" --instant
expect_fail NameInvalid "an instant restore under a bad name" \
	sp restore "$vm@$id" --as "a/b" --instant --to "$to"
expect_fail NameInvalid "a restore --as under a bad name" \
	sp restore "$vm@$id" --as "a b" --to "$to"
expect_fail DomainExists "a restore --as under a taken name" \
	sp restore "$vm@$id" --as "$vm" --to "$to"
check "nothing was written" bash -c "[ -z \"\$(ls -A $to)\" ]"
expect_fail UsageError "a negative bandwidth" sp restore --resume 1 --bandwidth -1
expect_fail UsageError "--resume takes no --agent-timeout" \
	sp restore --resume 1 --agent-timeout 30
expect_fail UsageError "--bandwidth 0 only with --resume" \
	sp restore "$vm@$id" --to "$T/x" --bandwidth 0
expect_fail InstantDirUnusable "a --to that cannot be made" \
	sp restore "$vm@$id" --as "$new" --instant --to /proc/no/such/dir
check "it names the directory" grep -q "/proc/no/such/dir" "$T/.err"
check "nothing is defined" bash -c "! virsh dominfo $new >/dev/null 2>&1"

expect_ok "instant restore" sp --json restore "$vm@$id" --as "$new" --instant \
	--to "$to" --bandwidth 2 --agent-timeout 600
job=$(jq -r .job "$T/.out")
check "the RTO is reported" jqe '.rto_ms > 0 and .domain == "'"$new"'"' "$T/.out"
check "the guest agent answers" lab_agent "$new" '{"execute":"guest-ping"}'
check "it runs on overlays over the served disks" \
	bash -c "virsh dumpxml $new | grep -q \"protocol='nbd'\""
check "served, both disks stop on errors" \
	test "$(virsh dumpxml "$new" | grep -c "error_policy='stop' rerror_policy='stop'")" = 2

# The job shows the copy going on.
sleep 3
expect_ok "job while copying" sp --json job "$job"
check "in progress, copying, RTO recorded" \
	jqe '.status == "in progress" and .phase == "copying" and .rto_ms > 0 and .kind == "instant"' "$T/.out"
expect_ok "jobs lists it" sp jobs
check "jobs shows it as an instant recovery" grep -q "$new \[instant\]" "$T/.out"

end=$((SECONDS + 900))
while [ $SECONDS -lt $end ]; do
	st=$(sp --json job "$job" | jq -r .status)
	[ "$st" = "in progress" ] || break
	sleep 2
done
expect_ok "job after the copy" sp --json job "$job"
check "the job completed" jqe '.status == "completed" and .phase == "done" and .copy.done == .copy.total and .copy.total > 0' "$T/.out"
check "the domain still runs" test "$(virsh domstate "$new")" = running
for w in "" --inactive; do
	virsh dumpxml $w "$new" >"$T/def$w.xml"
	check "definition ${w:-live} names no socket, NBD or overlay" \
		bash -c "! grep -Eq 'nbd|sock|overlay|backingStore type' $T/def$w.xml"
	check "definition ${w:-live} names the copies" \
		bash -c "grep -q '$to/$new-vda.qcow2' $T/def$w.xml && grep -q '$to/$new-sdb.qcow2' $T/def$w.xml"
done
check "once copied, sdb has its own error policies again" \
	grep -q "error_policy='report' rerror_policy='ignore'" "$T/def--inactive.xml"
check "and no disk stops on errors" \
	bash -c "! grep -q \"'stop'\" $T/def--inactive.xml"
check "there are no others" \
	test "$(grep -c error_policy "$T/def--inactive.xml")" = 1
check "overlays and socket are gone" \
	bash -c "! ls -A $to | grep -Eq 'overlay|sock'"
server=$(jq -r .server_pid "$T/.out")
check "no server process is left" \
	bash -c "! kill -0 $server 2>/dev/null || ps -o stat= -p $server | grep -q Z"
expect_fail DomainExists "the name is taken now" \
	sp restore "$vm@$id" --as "$new" --instant --to "$to"
expect_fail InstantJobUnknown "a completed job is not resumed" \
	sp restore --resume "$job"
sleep 3
check "the guest still answers" lab_agent "$new" '{"execute":"guest-ping"}'
lab_stop "$new" 120 || die "no clean shutdown of the recovered domain"
point=$(lab_records_check "$T/d1.qcow2") || die "records of the source torn"
after=$(lab_records_check "$to/$new-vda.qcow2")
check "records check passes on the copied disk" test -n "$after"
check "records written during the copy are kept ($after > $point)" \
	test "${after:-0}" -gt "$point"
check "the untouched disk is the source's, byte for byte" \
	qemu-img compare -q -f raw -F qcow2 "$T/d2.raw" "$to/$new-sdb.qcow2"
lab_start "$new"
check "the recovered domain boots again from its own disks" lab_wait_agent "$new" 300
lab_stop "$new" 120
done_testing

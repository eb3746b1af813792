#!/bin/bash
# The test lab end to end (tests/lab/): a tiny guest under libvirt/TCG
# boots, its agent answers, freezes and thaws its file systems, runs
# commands and fsfreeze hooks, and its workload leaves intact records on
# both data disks, whose last sequences differ by at most one.  A second
# guest without agent survives a hard power-off (records intact after
# journal replay), resumes its workload after a restart and stops cleanly
# through ACPI.
. "$(dirname "$0")/lib.sh"
. "$SP_TOP/tests/lab/lab.sh"
lab_need
lab_build_guest

vm=sp-t6000-$$ vm2=sp-t6000-$$-noga
lab_make_data_disk "$T/d1.qcow2" 64
lab_make_data_disk "$T/d2.qcow2" 64
lab_make_data_disk "$T/d3.qcow2" 64
LAB_WORKLOAD=1 LAB_MAC=52:54:00:50:00:01 lab_define_domain "$vm" "$T/d1.qcow2" "$T/d2.qcow2"
LAB_AGENT=0 LAB_WORKLOAD=1 lab_define_domain "$vm2" "$T/d3.qcow2"
check "the guest is a TCG domain with its MAC" bash -c \
	"virsh dumpxml $vm | grep -q \"<domain type='qemu'\" &&
	 virsh dumpxml $vm | grep -q 52:54:00:50:00:01"
lab_start "$vm"
lab_start "$vm2"
lab_wait_agent "$vm" || die "guest did not come up"
say "# boot to agent ready (workload records included): ${LAB_BOOT_SECONDS:-?}s"

size() { lab_guest_exec "$vm" /bin/stat -c %s "$@" | tr '\n' ' '; }
check "records appear on both disks" bash -c \
	"[ \"\$(lab_guest_exec $vm /bin/sh -c 'test -s /mnt/vda/records && test -s /mnt/vdb/records && echo yes')\" = yes ]"

# guest-exec of a script written through the agent's file calls.
lab_guest_write_file "$vm" /usr/local/bin/hello.sh 755 <<'SH'
#!/bin/sh
echo "hello $1"
echo "to stderr" >&2
exit 3
SH
out=$(lab_guest_exec "$vm" /usr/local/bin/hello.sh world 2>/dev/null)
rc=$?
check "guest-exec runs a script: its output" test "$out" = "hello world"
check "guest-exec runs a script: its exit code" test $rc = 3
check "the script is root's, mode 755" \
	test "$(lab_guest_exec "$vm" /bin/stat -c '%a %U' /usr/local/bin/hello.sh)" = "755 root"

# An fsfreeze hook sees freeze and thaw.
lab_guest_write_file "$vm" /etc/qemu/fsfreeze-hook.d/10-mark 755 <<'SH'
#!/bin/sh
echo "$1" >>/run/hook.log
SH
expect_ok "domfsfreeze freezes the guest" virsh domfsfreeze "$vm"
check "guest-fsfreeze-status says frozen" bash -c \
	"lab_agent $vm '{\"execute\":\"guest-fsfreeze-status\"}' | grep -q '\"frozen\"'"
check "the agent refuses guest-exec while frozen" \
	bash -c "lab_guest_exec $vm /bin/true 2>/dev/null; [ \$? = 125 ]"
sleep 2
# Whole guest: libvirt 9.0 leaves it frozen when given mountpoints.
expect_ok "domfsthaw thaws it" virsh domfsthaw "$vm"
check "guest-fsfreeze-status says thawed" bash -c \
	"lab_agent $vm '{\"execute\":\"guest-fsfreeze-status\"}' | grep -q '\"thawed\"'"
thawed=$(size /mnt/vda/records /mnt/vdb/records)
sleep 0.5
check "the workload goes on after the thaw" \
	test "$(size /mnt/vda/records /mnt/vdb/records)" != "$thawed"
check "the hook ran on freeze and on thaw" \
	test "$(lab_guest_exec "$vm" /bin/cat /run/hook.log | tr '\n' ' ')" = "freeze thaw "

# The agent-less guest: hard power-off under load, then restart and ACPI.
lab_wait_ready "$vm2" || die "second guest did not come up"
sleep 1
virsh destroy "$vm2" >/dev/null
crash_last=$(lab_records_check "$T/d3.qcow2")
check "records survive a hard power-off (journal replayed)" test -n "$crash_last"

t0=$SECONDS
expect_ok "clean shutdown through the agent" lab_stop "$vm"
say "# shutdown took $((SECONDS - t0))s"
check "the guest is off" test "$(virsh domstate "$vm")" = "shut off"
out=$(lab_records_check "$T/d1.qcow2" -p)
last1=$(sed -n 1p <<<"$out") pause=$(sed -n 2p <<<"$out")
check "disk 1 records end cleanly" test -n "$last1"
check "the records show the 2 s freeze (longest pause ${pause:-?} ms)" \
	test "${pause:-0}" -ge 1500
last2=$(lab_records_check "$T/d2.qcow2")
check "disk 2 records end cleanly" test -n "$last2"
check "the disks' last records differ by at most one ($last1, $last2)" \
	test $((${last1:-0} - ${last2:-9})) -ge 0 -a $((${last1:-0} - ${last2:-9})) -le 1

lab_start "$vm2"
lab_wait_ready "$vm2" || die "second guest did not come back"
sleep 1
expect_ok "clean shutdown through ACPI (no agent)" lab_stop "$vm2"
last3=$(lab_records_check "$T/d3.qcow2")
check "after the restart the workload went on ($crash_last -> $last3)" \
	test "${last3:-0}" -gt "${crash_last:-0}"

# The checker tells a torn end from a clean one.
qemu-img convert -O raw "$T/d1.qcow2" "$T/d1.raw"
debugfs -R "dump /records $T/rec" "$T/d1.raw" >/dev/null 2>&1
head -c $((512 * 10 + 100)) "$T/rec" >"$T/rec.torn"
check "records_check: a partial last record fails" \
	bash -c "! $LAB_RECORDS_CHECK $T/rec.torn 2>&1 | grep -q torn; [ \${PIPESTATUS[0]} != 0 ] && $LAB_RECORDS_CHECK $T/rec.torn 2>&1 | grep -q 'torn end'"
head -c $((512 * 10)) "$T/rec" >"$T/rec.ok"
check "records_check: a whole prefix is clean, last = 10" \
	test "$("$LAB_RECORDS_CHECK" "$T/rec.ok" 2>/dev/null)" = 10
done_testing

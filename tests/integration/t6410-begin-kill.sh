#!/bin/bash
# A live backup killed with SIGKILL around virDomainBackupBegin: the guest
# is thawed, the backup job the call started is ended and its checkpoint
# deleted, the job's directories stay until the call has settled (libvirtd
# keeps processing a call after its client died), and the next backup
# works.  1: killed after the call returned, before the watchdog heard of
# the job (STILLPOINT_TEST_HOLD=begun).  2: killed while the call is in
# flight, held in libvirtd behind another backup job.
. "$(dirname "$0")/lib.sh"
. "$SP_TOP/tests/lab/lab.sh"
lab_need
lab_build_guest

vm=sp-t6410-$$
sp init >/dev/null
lab_make_data_disk "$T/d1.qcow2" 64
LAB_WORKLOAD=1 lab_define_domain "$vm" "$T/d1.qcow2"
lab_start "$vm"
lab_wait_agent "$vm" || die "guest did not come up"
uuid=$(virsh domuuid "$vm")

status() { lab_agent "$vm" '{"execute":"guest-fsfreeze-status"}' | jq -r .return; }
is_frozen() { [ "$(status)" = frozen ]; }
is_thawed() { [ "$(status)" = thawed ]; }
no_job() { virsh domjobinfo "$vm" | grep -q 'Job type: *None'; }
checkpoints() { virsh checkpoint-list "$vm" --name | grep -c stillpoint-; }
dirs_of() { ls -d /run/stillpoint/"$uuid-$1" /var/lib/stillpoint-scratch/"$uuid-$1" 2>/dev/null | wc -l; }
no_dirs() { [ "$(dirs_of "$1")" = 0 ]; }
# The job's watchdog (its last argument is the job's pid) has exited.
watchdog_gone() { ! pgrep -f -- "__thaw-watchdog .* $1\$" >/dev/null; }
libvirtd_answers() { timeout 20 virsh version >/dev/null 2>&1; }

expect_ok "a first point" sp backup "$vm"
n=$(point_ids "$vm" | wc -l)

# 1. SIGKILL after virDomainBackupBegin returned, before the watchdog was
#    told the job runs: it knew the call was coming.
STILLPOINT_TEST_HOLD=begun:60000 "$SP" --no-progress backup "$vm" >/dev/null 2>"$T/k1.err" &
pid=$!
check "the call returns: the job's NBD server listens" wait_for 60 test -S "/run/stillpoint/$uuid-$pid/nbd.sock"
sleep 1
check "the job is held before telling the watchdog" kill -0 $pid
kill -9 $pid
wait $pid 2>/dev/null
check "thawed after SIGKILL" wait_for 10 is_thawed
check "the watchdog ends the backup job the call started" wait_for 60 watchdog_gone $pid
check "no backup job left on the domain" no_job
check "the checkpoint the job created is deleted" test "$(checkpoints)" = 1
check "no job directories left" no_dirs $pid
check "the watchdog says so" grep -q "watchdog ended the backup job of a dead process vm=$vm" "$T/k1.err"
check "no new point" test "$(point_ids "$vm" | wc -l)" = "$n"
expect_ok "the next backup works, incremental" sp --json backup "$vm"
check "incremental from the last point's checkpoint" jqe '.incremental != null' "$T/.out"
n=$((n + 1))

# 2. SIGKILL while virDomainBackupBegin is in flight.  Another backup job
#    (a pull backup of the test's own) holds the domain: libvirtd holds the
#    call until that one ends.  The job backs up into a second vault.
qpid=$(cat "/run/libvirt/qemu/$vm.pid")
mkdir "$T/blocker"
chown "$(stat -c %u:%g "/proc/$qpid")" "$T/blocker"
cat >"$T/blocker.xml" <<EOF
<domainbackup mode='pull'>
  <server transport='unix' socket='$T/blocker/nbd.sock'/>
  <disks>
    <disk name='vda' backup='yes' type='file'>
      <scratch file='$T/blocker/vda.qcow2'/>
      <driver type='qcow2'/>
    </disk>
  </disks>
</domainbackup>
EOF
expect_ok "another backup job holds the domain" virsh backup-begin "$vm" "$T/blocker.xml"
at_exit "virsh domjobabort $vm"
sp --vault "$T/vault2" init >/dev/null
"$SP" --no-progress --vault "$T/vault2" backup "$vm" >/dev/null 2>"$T/k2.err" &
pid=$!
check "the job freezes the guest" wait_for 60 is_frozen
# The call follows the freeze at once, and waits in libvirtd (up to 30 s).
sleep 2
check "the job is still in its call" kill -0 $pid
kill -9 $pid
wait $pid 2>/dev/null
check "thawed after SIGKILL" wait_for 10 is_thawed
check "the watchdog waits for the call in flight" wait_for 20 grep -q "watchdog waits for the backup call of the dead process vm=$vm" "$T/k2.err"
check "the job's directories stay while the call is in flight" test "$(dirs_of $pid)" = 2
expect_ok "the other backup job ends: the call goes on" virsh domjobabort "$vm"
check "the watchdog ends the backup job the call started" wait_for 90 watchdog_gone $pid
check "libvirtd still answers" libvirtd_answers
check "no backup job left on the domain" no_job
check "the checkpoint the call created is deleted" test "$(checkpoints)" = 1
check "no job directories left" no_dirs $pid
check "the watchdog says so" grep -q "watchdog ended the backup job of a dead process vm=$vm" "$T/k2.err"
check "nothing published in the second vault" test "$(sp --vault "$T/vault2" points --json | jq length)" = 0

expect_ok "the next backup works, incremental" sp --json backup "$vm"
check "incremental from the last point's checkpoint" jqe '.incremental != null and .consistency == "file-system"' "$T/.out"
expect_ok "verify is clean" sp verify
expect_ok "a full backup into the second vault works" sp --vault "$T/vault2" backup "$vm"
check "no job directories of any job left" bash -c "! ls /run/stillpoint/$uuid-* /var/lib/stillpoint-scratch/$uuid-* >/dev/null 2>&1"

lab_stop "$vm"
done_testing

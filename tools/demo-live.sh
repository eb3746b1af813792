#!/bin/bash
# The main job on a live VM: a tiny guest (the test lab's, under QEMU TCG)
# writing records to its data disk is backed up twice at its still point
# (the second time incrementally), its points and writers are listed, and
# the last point is restored as a new domain.  Needs root and libvirt
# (tools/setup-debian.sh installs it; libvirtd is started if nothing runs
# it).  The guest and the copy are removed at the end; the vault stays.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
export SP=${1:-$top/build/stillpoint} SP_TOP=$top
vault=${STILLPOINT_VAULT:-/var/lib/stillpoint}
. "$top/tests/integration/lib.sh"
. "$top/tests/lab/lab.sh"
export STILLPOINT_VAULT=$vault
lab_need
lab_build_guest
vm=stillpoint-demo
lab_make_data_disk "$T/data.qcow2" 128
LAB_WORKLOAD=1 lab_define_domain "$vm" "$T/data.qcow2"
lab_start "$vm"
lab_wait_agent "$vm" || die "the demo guest did not come up"
[ -f "$vault/stillpoint-vault.json" ] || "$SP" init
set -e
echo "== live backup of a running guest (file systems frozen for the snapshot)"
"$SP" backup "$vm"
lab_guest_exec "$vm" /bin/sh -c 'dd if=/dev/urandom of=/mnt/vda/blob bs=1M count=2 2>/dev/null; sync' >/dev/null
echo "== incremental: only the blocks changed since"
"$SP" backup "$vm"
echo "== points"
"$SP" points "$vm"
echo "== writers"
"$SP" writers "$vm"
echo "== restore as a new domain"
mkdir -m 755 "$T/restored"
"$SP" restore "$vm" --as "$vm-copy" --to "$T/restored"
at_exit lab_undefine "$vm-copy"
"$SP" verify "$vm"
lab_stop "$vm"

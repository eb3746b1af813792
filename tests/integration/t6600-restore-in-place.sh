#!/bin/bash
# Restore in place: refused while the domain runs, then, once it is shut
# off, its disk replaced whole by the point's (the records end where the
# point was taken), its checkpoints dropped so that the next backup reads
# all data, and the domain boots again.
. "$(dirname "$0")/lib.sh"
. "$SP_TOP/tests/lab/lab.sh"
lab_need
lab_build_guest

vm=sp-t6600-$$
sp init >/dev/null
lab_make_data_disk "$T/d1.qcow2" 64
LAB_WORKLOAD=1 lab_define_domain "$vm" "$T/d1.qcow2"
lab_start "$vm"
lab_wait_agent "$vm" || die "guest did not come up"

expect_ok "backup" sp --json backup "$vm"
id=$(jq -r .id "$T/.out")
sleep 2
expect_fail DomainStateInvalid "in place is refused while the domain runs" \
	sp restore "$vm" --in-place
check "the message says to shut it off" grep -q "shut it off" "$T/.err"
lab_stop "$vm"
after=$(lab_records_check "$T/d1.qcow2") || die "records torn before restore"

expect_ok "restore in place" sp --json restore "$vm@$id" --in-place
check "reports the domain, the file and the checkpoints dropped" \
	jqe ".mode == \"in-place\" and .files[0].path == \"$T/d1.qcow2\" and .checkpoints_dropped == 1" "$T/.out"
restored=$(lab_records_check "$T/d1.qcow2") || die "records torn after restore"
check "the disk holds the point's records ($restored), fewer than before ($after)" \
	test "$restored" -lt "$after"
check "still a qcow2 image" bash -c "qemu-img info --output=json $T/d1.qcow2 | jqe '.format == \"qcow2\"'"
check "no checkpoint left" test "$(virsh checkpoint-list "$vm" --name | grep -c stillpoint-)" = 0

lab_start "$vm"
check "the domain boots on the restored disk" lab_wait_agent "$vm"
expect_ok "the next backup" sp --json backup "$vm"
check "reads all data (the chain restarts)" \
	jqe '.incremental == null and .disks[0].read == "allocated"' "$T/.out"
lab_stop "$vm"
done_testing

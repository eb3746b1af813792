#!/bin/bash
# A running guest with two data disks under a steady write workload, backed
# up live: application consistency with guest and host writers, both phases
# and the freeze window recorded, an incremental that reads only dirty
# blocks, one checkpoint kept, and a restore as a new domain that boots,
# with new UUID and MAC, whose disks end in whole records captured at one
# instant.
. "$(dirname "$0")/lib.sh"
. "$SP_TOP/tests/lab/lab.sh"
lab_need
lab_build_guest

vm=sp-t6100-$$
sp init >/dev/null
lab_make_data_disk "$T/d1.qcow2" 256
lab_make_data_disk "$T/d2.qcow2" 128
LAB_WORKLOAD=1 LAB_MAC=52:54:00:61:00:01 lab_define_domain "$vm" "$T/d1.qcow2" "$T/d2.qcow2"
lab_start "$vm"
lab_wait_agent "$vm" || die "guest did not come up"

# Guest writer: its pre step leaves a marker on the data disk that the
# point must hold; its post step a second one that it must not.
lab_guest_write_file "$vm" /etc/stillpoint/app-pre.sh 755 <<'EOF'
#!/bin/sh
echo "quiesced $STILLPOINT_WRITER $STILLPOINT_STEP $STILLPOINT_BACKUP_TYPE $1" >/mnt/vda/app-state
sync
EOF
lab_guest_write_file "$vm" /etc/stillpoint/app-post.sh 755 <<'EOF'
#!/bin/sh
echo "resumed" >/mnt/vda/app-state
EOF
cat >"$T/host-pre.sh" <<EOF
#!/bin/sh
echo "host \$STILLPOINT_VM \$STILLPOINT_STEP \$1" >>"$T/host-ran"
EOF
chmod 755 "$T/host-pre.sh"
cat >"$T/writers.json" <<EOF
{ "writers": [
  { "name": "app", "where": "guest", "pre": "/etc/stillpoint/app-pre.sh",
    "pre_args": ["arg1"], "post": "/etc/stillpoint/app-post.sh",
    "timeout_s": 20 },
  { "name": "hostside", "where": "host", "pre": "$T/host-pre.sh",
    "pre_args": ["h1"], "timeout_s": 20 } ] }
EOF
chmod 644 "$T/writers.json"

expect_ok "live backup with writers" sp --json backup "$vm" --writers "$T/writers.json"
cp "$T/.out" p1.json
check "application consistency, no reason" \
	jqe '.consistency == "application" and .consistency_reason == null' p1.json
check "both phases timed, snapshot before transfer" \
	jqe '.phases.snapshot.duration_ms >= 0 and .phases.transfer.duration_ms >= 0' p1.json
check "freeze window recorded and split" \
	jqe '.freeze_ms > 0 and .freeze.frozen and .freeze.file_systems == 2 and (.freeze.freeze_ms + .freeze.backup_begin_ms + .freeze.thaw_ms) <= .freeze_ms + 5' p1.json
check "writers stable, pre and post ran once" \
	jqe '[.writers[] | .state] == ["stable","stable"] and .writers[0].pre.exit_status == 0 and .writers[0].post.attempts == 1' p1.json
check "host writer ran with its environment and arguments" \
	grep -qx "host $vm pre h1" "$T/host-ran"
check "a checkpoint for the next incremental" jqe '.checkpoint | startswith("stillpoint-")' p1.json
check "first point reads all allocated data" jqe '[.disks[].read] == ["allocated","allocated"]' p1.json
check "the domain definition is stored" jqe ".config.file == \"$vm.xml\"" p1.json

sp points "$vm" --json >pts.json
check "points lists it with its consistency and phases" \
	jqe '.[0].consistency == "application" and .[0].phases.transfer.duration_ms >= 0' pts.json
expect_ok "writers lists the writers" sp --json writers "$vm" --writers "$T/writers.json"
check "writers: fsfreeze and both hooks stable" \
	jqe '[.writers[] | [.name, .state]] == [["fsfreeze","stable"],["app","stable"],["hostside","stable"]] and .agent' "$T/.out"

# 1 MiB written in the guest: the incremental reads about that, not the
# disks.
lab_guest_exec "$vm" /bin/sh -c 'dd if=/dev/urandom of=/mnt/vdb/blob bs=1M count=1 2>/dev/null; sync' ||
	die "cannot write in the guest"
expect_ok "incremental backup" sp --json backup "$vm" --writers "$T/writers.json"
cp "$T/.out" p2.json
check "incremental from the first point's checkpoint" \
	jqe ".incremental.checkpoint == $(jq .checkpoint p1.json)" p2.json
check "dirty blocks only: both disks read as dirty, under 8 MiB in all" \
	jqe '[.disks[].read] == ["dirty","dirty"] and .bytes_read < 8388608 and .bytes_read >= 1048576' p2.json
check "clean chunks not read" jqe '.disks[0].chunks_clean > 0' p2.json
check "only the newest checkpoint is kept" \
	test "$(virsh checkpoint-list "$vm" --name | grep -c stillpoint-)" = 1
check "no backup job left on the domain" \
	bash -c "virsh domjobinfo $vm | grep -q 'Job type: *None'"
expect_ok "verify both points" sp verify "$vm"

# Restore the incremental point as a new domain.
mkdir -m 755 r
expect_ok "restore as a new domain" sp --json restore "$vm" --as "$vm-copy" --to "$T/r"
cp "$T/.out" res.json
at_exit lab_undefine "$vm-copy"
check "new domain defined with its own UUID" \
	jqe ".uuid != \"$(virsh domuuid "$vm")\" and (.uuid | length == 36)" res.json
check "its disks are the restored files" \
	bash -c "virsh domblklist $vm-copy --details | grep -q '$T/r/$vm-copy-vda.qcow2'"
check "its MAC address is new" \
	bash -c "! virsh domiflist $vm-copy | grep -q 52:54:00:61:00:01"
check "a second restore under the same name is refused" \
	bash -c "sp restore $vm --as $vm-copy --to $T/r 2>&1 | grep -q DomainExists"

last1=$(lab_records_check "$T/r/$vm-copy-vda.qcow2") || die "vda records torn"
last2=$(lab_records_check "$T/r/$vm-copy-vdb.qcow2") || die "vdb records torn"
check "records on both disks end cleanly and agree (one instant): $last1 / $last2" \
	test $((last1 - last2)) -ge 0 -a $((last1 - last2)) -le 1
check "records were being written" test "$last1" -gt 10
check "the point holds what the pre step wrote, not the post step" \
	bash -c "qemu-img convert -O raw $T/r/$vm-copy-vda.qcow2 $T/a.raw && debugfs -R 'cat /app-state' $T/a.raw 2>/dev/null | grep -qx 'quiesced app pre full arg1'"

# A file-system point (no writers), incremental and checked: every dirty
# slot read again from the export equals what was stored; its records end
# cleanly too.
lab_guest_exec "$vm" /bin/sh -c 'dd if=/dev/urandom of=/mnt/vdb/blob2 bs=1M count=2 2>/dev/null; sync' ||
	die "cannot write in the guest"
expect_ok "backup without writers, with --check-transfer" \
	sp --json backup "$vm" --check-transfer
check "file-system consistency: no writers configured" \
	jqe '.consistency == "file-system" and .consistency_reason.step == "writers"' "$T/.out"
check "the dirty slots of the export were read again and found equal" \
	jqe '[.disks[].read] == ["dirty","dirty"] and (.disks | map(.bytes_checked) | add) >= 2097152' "$T/.out"
mkdir -m 755 fs
expect_ok "restore the file-system point" sp --json restore "$vm" --to "$T/fs"
# A domain's disks are named by their targets, with the extension of the
# bytes written (README, "Restored file names").
check "its disks are named by target: vda.qcow2 and vdb.qcow2" \
	jqe '[.files[] | select(.disk) | .path] == ["'"$T"'/fs/vda.qcow2", "'"$T"'/fs/vdb.qcow2"]' "$T/.out"
mkdir -m 755 fsraw
expect_ok "and as raw" sp --json restore "$vm" --to "$T/fsraw" --format raw
check "as raw: vda.raw and vdb.raw, the guest-visible bytes of the qcow2 ones" \
	bash -c "cd '$T' && [ -f fsraw/vda.raw ] && [ -f fsraw/vdb.raw ] &&
		qemu-img compare -q -f raw -F qcow2 fsraw/vda.raw fs/vda.qcow2 &&
		qemu-img compare -q -f raw -F qcow2 fsraw/vdb.raw fs/vdb.qcow2 &&
		[ \"\$(qemu-img info --output=json fsraw/vda.raw | jq -r .format)\" = raw ]"
rm -rf fsraw
f1=$(lab_records_check "$T/fs/vda.qcow2") || die "vda records torn (file-system point)"
f2=$(lab_records_check "$T/fs/vdb.qcow2") || die "vdb records torn (file-system point)"
check "file-system point: both disks end cleanly and agree: $f1 / $f2" \
	test $((f1 - f2)) -ge 0 -a $((f1 - f2)) -le 1
check "and hold later records than the application point" test "$f1" -gt "$last1"

virsh start "$vm-copy" >/dev/null
check "the restored domain boots and its agent answers" lab_wait_agent "$vm-copy" 120
lab_stop "$vm-copy"
lab_stop "$vm"
done_testing

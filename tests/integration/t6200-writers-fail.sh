#!/bin/bash
# Writers that go wrong: one that fails, one that times out, one that is
# missing, guest paths that are no regular file (directory, FIFO, link to
# a directory), a script and a settings file with unsafe permissions, a writer
# that must not fail (continue_on_failure false) and a VM that requires
# application consistency.  Each lowers the point to file-system with the
# writer's code, or fails the job with it, and never leaves the guest
# frozen, a backup job or a checkpoint behind.
. "$(dirname "$0")/lib.sh"
. "$SP_TOP/tests/lab/lab.sh"
lab_need
lab_build_guest

vm=sp-t6200-$$
sp init >/dev/null
lab_make_data_disk "$T/d1.qcow2" 64
lab_define_domain "$vm" "$T/d1.qcow2"
lab_start "$vm"
lab_wait_agent "$vm" || die "guest did not come up"

lab_guest_write_file "$vm" /etc/stillpoint/ok.sh 755 <<'EOF'
#!/bin/sh
exit 0
EOF
lab_guest_write_file "$vm" /etc/stillpoint/fail.sh 755 <<'EOF'
#!/bin/sh
echo "database refused to checkpoint" >&2
exit 3
EOF
lab_guest_write_file "$vm" /etc/stillpoint/slow.sh 755 <<'EOF'
#!/bin/sh
sleep 300
EOF
lab_guest_write_file "$vm" /etc/stillpoint/open.sh 777 <<'EOF'
#!/bin/sh
exit 0
EOF

# settings NAME WRITER-JSON [EXTRA-TOP-LEVEL-JSON]
settings() {
	printf '{ %s "writers": [ %s ] }\n' "${3:-}" "$2" >"$T/$1.json"
	chmod 644 "$T/$1.json"
}
guest() { # name pre [extra]
	printf '{ "name": "%s", "where": "guest", "pre": "%s", "timeout_s": 2 %s }' "$1" "$2" "${3:-}"
}
frozen() {
	lab_agent "$vm" '{"execute":"guest-fsfreeze-status"}' | grep -q '"frozen"'
}
no_leftovers() {
	! frozen &&
		virsh domjobinfo "$vm" | grep -q 'Job type: *None' &&
		[ "$(virsh checkpoint-list "$vm" --name | grep -c stillpoint-)" -le 1 ]
}

# A failing writer lowers the point to file-system, with its code.
settings fail "$(guest db /etc/stillpoint/fail.sh), $(guest other /etc/stillpoint/ok.sh)"
expect_ok "backup with a failing writer" sp --json backup "$vm" --writers "$T/fail.json"
cp "$T/.out" p.json
check "file-system consistency, reason names the writer and code" \
	jqe '.consistency == "file-system" and .consistency_reason.step == "writer-pre" and .consistency_reason.writer == "db" and .consistency_reason.code == "WriterPreFailed"' p.json
check "the writer's exit status and output are recorded" \
	jqe '.writers[0].state == "failed at prepare" and .writers[0].pre.exit_status == 3 and (.writers[0].pre.output | test("refused to checkpoint"))' p.json
check "the other writer is stable" jqe '.writers[1].state == "stable"' p.json
check "the guest is thawed, no job or extra checkpoint" no_leftovers
sp --json writers "$vm" --writers "$T/fail.json" >w.json
check "writers shows the failed writer and its error" \
	jqe '.writers[1].name == "db" and .writers[1].state == "failed at prepare" and (.writers[1].last_error | test("exit status 3"))' w.json
check "writers exits 1 while a writer is failed" \
	bash -c "! sp writers $vm --writers $T/fail.json >/dev/null"

# A writer that does not end in time, retried once: each attempt is
# killed, so the second does not run beside the first.
settings slow "$(guest slow /etc/stillpoint/slow.sh ', "retries": 1')"
start=$SECONDS
expect_ok "backup with a writer that times out" sp --json backup "$vm" --writers "$T/slow.json"
cp "$T/.out" p.json
check "the time-out cost about its timeout_s, not the script's 300 s" test $((SECONDS - start)) -lt 20
# none_in_guest PATTERN: no process in the guest has a command line
# matching PATTERN (and the listing worked: it shows the agent itself).
none_in_guest() {
	local ps
	ps=$(lab_guest_exec "$vm" /bin/sh -c 'for p in /proc/[0-9]*; do
		tr "\0" " " <$p/cmdline 2>/dev/null; echo; done') || return 1
	grep -q qemu-ga <<<"$ps" && ! grep -q -e "$1" <<<"$ps"
}
check "the script and the sleep it started were killed in the guest" \
	none_in_guest 'slow.sh\|sleep 300'
check "the record says it is not left running" jqe '.writers[0].pre.left_running == false' p.json
check "a killed step is retried: two attempts" jqe '.writers[0].pre.attempts == 2' p.json
check "file-system, WriterPreTimedOut, state timed out" \
	jqe '.consistency == "file-system" and .consistency_reason.code == "WriterPreTimedOut" and .writers[0].state == "timed out" and .writers[0].pre.timed_out' p.json
check "the message says it was killed" jqe '.consistency_reason.message | test("was killed")' p.json

# A writer whose script is not there.
settings missing "$(guest gone /etc/stillpoint/nothere.sh)"
expect_ok "backup with a missing writer script" sp --json backup "$vm" --writers "$T/missing.json"
check "file-system, WriterNotFound" \
	jqe '.consistency == "file-system" and .consistency_reason.code == "WriterNotFound"' "$T/.out"

# A guest script anyone may edit is refused, not run.
settings open "$(guest open /etc/stillpoint/open.sh)"
expect_ok "backup with a world-writable guest script" sp --json backup "$vm" --writers "$T/open.json"
check "file-system, WriterUnsafePermissions, script not run" \
	jqe '.consistency == "file-system" and .consistency_reason.code == "WriterUnsafePermissions" and .writers[0].pre.attempts == 0 and (.consistency_reason.message | test("writable by .*0777"))' "$T/.out"

# A guest path that is no regular file is refused before anything runs,
# whatever its mode says: a directory, a FIFO, a link to a directory.
lab_guest_exec "$vm" /bin/busybox mkdir -m 755 /etc/stillpoint/dir.sh &&
	lab_guest_exec "$vm" /bin/busybox mkfifo -m 755 /etc/stillpoint/fifo.sh &&
	lab_guest_exec "$vm" /bin/busybox ln -s dir.sh /etc/stillpoint/link.sh ||
	die "cannot make the odd files in the guest"
for kind in dir fifo link; do
	settings "$kind" "$(guest "$kind" "/etc/stillpoint/$kind.sh")"
	expect_ok "backup with a guest script that is a $kind" \
		sp --json backup "$vm" --writers "$T/$kind.json"
	check "$kind: file-system, WriterNotFound, not a regular file, not run" \
		jqe '.consistency == "file-system" and .consistency_reason.code == "WriterNotFound" and .writers[0].pre.attempts == 0 and (.consistency_reason.message | test("not a regular file"))' "$T/.out"
done

# A settings file anyone may edit stops the job before anything happens.
settings unsafe "$(guest db /etc/stillpoint/ok.sh)"
chmod 666 "$T/unsafe.json"
n=$(point_ids "$vm" | wc -l)
expect_fail WriterUnsafePermissions "world-writable settings are refused" \
	sp backup "$vm" --writers "$T/unsafe.json"
check "the message names the file and the fix" grep -q "unsafe.json.*chmod" "$T/.err"
check "no point was made" test "$(point_ids "$vm" | wc -l)" = "$n"

# continue_on_failure false: the job fails with the writer's code.
settings strict "$(guest db /etc/stillpoint/fail.sh ', "continue_on_failure": false')"
expect_fail WriterPreFailed "a writer that must not fail fails the job" \
	sp backup "$vm" --writers "$T/strict.json"
check "no point, guest thawed, nothing left" \
	bash -c "[ $(point_ids "$vm" | wc -l) = $n ]"
check "nothing left on the domain" no_leftovers

# A VM that requires application consistency.
settings req "$(guest db /etc/stillpoint/fail.sh)" '"require": "application",'
expect_fail ConsistencyNotReached "required application consistency not reached" \
	sp backup "$vm" --writers "$T/req.json"
check "the message says what was reached and why" grep -q "reached file-system" "$T/.err"
check "no point, nothing left on the domain" no_leftovers
check "no point was published" test "$(point_ids "$vm" | wc -l)" = "$n"
expect_fail ConsistencyNotReached "--require overrides the settings" \
	sp backup "$vm" --require application
expect_ok "and the next backup works and is incremental" sp --json backup "$vm"
check "incremental after the failures" jqe '.incremental != null and .consistency == "file-system"' "$T/.out"

lab_stop "$vm"
done_testing

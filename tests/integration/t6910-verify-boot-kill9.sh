#!/bin/bash
# A verify --boot run killed with SIGKILL while its point boots leaves its
# scratch directory and record; the next run removes them first (and the
# transient domain and NBD server, which also go with the killed process:
# libvirt's autodestroy, nbdkit's --exit-with-parent), reports what it
# cleaned, and then verifies the point as usual.  A live run's things are
# never touched by another's cleanup; stillpointd cleans up at start.  A
# run sent SIGTERM during its probe stops at once and cleans up itself.
# Nothing is left at the end.
. "$(dirname "$0")/lib.sh"
. "$SP_TOP/tests/lab/lab.sh"
lab_need
lab_build_guest

vm=verifyboot-t6910-$$
export STILLPOINT_STATE_DIR=$T/state STILLPOINT_TMPDIR=$T/scratch
mkdir -p "$T/scratch" && chmod 755 "$T/scratch"
sp init >/dev/null
lab_make_data_disk "$T/d1.qcow2" 64
lab_define_domain "$vm" "$T/d1.qcow2"
lab_start "$vm"
lab_wait_agent "$vm" 300 || die "guest did not come up"
expect_ok "live backup" sp backup "$vm"
lab_stop "$vm" 60 || die "guest did not stop"

sp_verify_domains() { virsh list --all --name | grep "^sp-verify-$vm" ; }
nbd_servers() { pgrep -f "nbdki[t].*$T/scratch"; }

# 1. killed mid-boot
"$SP" --no-progress verify --boot "$vm" --timeout 900 --probe 'sleep 600' \
	>"$T/killed.out" 2>&1 &
pid=$!
wait_for 300 bash -c "virsh list --name | grep -q '^sp-verify-$vm'" ||
	die "the temporary domain did not start"
kill -9 "$pid"
wait "$pid" 2>/dev/null
check "the killed run left its scratch directory" \
	bash -c "ls -d '$T/scratch'/sp-verify-$vm-* >/dev/null"
check "and its record" test -s "$T/state/verify-boot/$pid.json"
check "its record names what it made" \
	jqe '.domain and .dir and .server_pid > 0 and .uuid' "$T/state/verify-boot/$pid.json"
# libvirt destroys an autodestroy domain once it sees the connection gone
wait_for 60 bash -c "! virsh list --all --name | grep -q '^sp-verify-$vm'"
check "the temporary domain went with the killed process" \
	bash -c "! virsh list --all --name | grep -q '^sp-verify-$vm'"

# 2. a live run's record is left alone by another's cleanup
exec 8>"$T/state/verify-boot/999999.lock"
flock 8
echo '{"pid": 999999, "dir": "'"$T/scratch"'/sp-verify-live"}' \
	>"$T/state/verify-boot/999999.json"
mkdir "$T/scratch/sp-verify-live"

# 3. the next run cleans up first, then verifies
expect_ok "the next run" sp --json verify --boot "$vm" --timeout 900 \
	--probe 'test -d /mnt/vda'
cp "$T/.out" next.json
check "it passed" jqe '.passed' next.json
check "it reports the killed run cleaned up" \
	jqe '[.cleaned[] | select(.pid == '"$pid"' and .complete)] | length == 1' next.json
check "the killed run's directory is gone" \
	bash -c "! ls -d '$T/scratch'/sp-verify-$vm-* 2>/dev/null"
check "its record and lock are gone" \
	bash -c "[ ! -e '$T/state/verify-boot/$pid.json' ] && [ ! -e '$T/state/verify-boot/$pid.lock' ]"
check "a live run's record and directory are kept" \
	bash -c "[ -e '$T/state/verify-boot/999999.json' ] && [ -d '$T/scratch/sp-verify-live' ]"
exec 8>&-
expect_ok "--boot-cleanup once the live one is gone" sp --json verify --boot-cleanup
check "it removed the released run's directory" \
	bash -c "[ ! -d '$T/scratch/sp-verify-live' ] && [ -z \"\$(ls -A '$T/state/verify-boot')\" ]"

# 4. SIGTERM (a job cancel, the daemon stopping) while the probe runs:
# the run stops at once, tears down what it made itself, records nothing
"$SP" --no-progress verify --boot "$vm" --timeout 3000 --probe 'sleep 3000' \
	>"$T/term.out" 2>"$T/term.err" &
pid=$!
wait_for 300 bash -c "virsh list --name | grep -q '^sp-verify-$vm'" ||
	die "the temporary domain did not start (term)"
wait_for 300 bash -c "virsh qemu-agent-command \$(virsh list --name | grep '^sp-verify-$vm') --timeout 2 '{\"execute\":\"guest-ping\"}' >/dev/null 2>&1" ||
	die "the temporary domain's agent did not answer (term)"
sleep 3 # the probe runs now
kill -TERM "$pid"
check "SIGTERM during the probe ends the run long before its timeout" \
	wait_for 300 bash -c "! kill -0 $pid 2>/dev/null"
wait "$pid"
rc=$?
check "it failed as Interrupted (exit 1)" \
	bash -c "[ $rc = 1 ] && grep -q 'Interrupted' '$T/term.err'"
check "and removed all it made itself" \
	bash -c "! virsh list --all --name | grep -q '^sp-verify-$vm' && [ -z \"\$(ls -A '$T/scratch')\" ] && [ -z \"\$(ls -A '$T/state/verify-boot')\" ]"

# 5. stillpointd cleans up at start
"$SP" --no-progress verify --boot "$vm" --timeout 900 --probe 'sleep 600' \
	>"$T/killed2.out" 2>&1 &
pid=$!
wait_for 300 bash -c "virsh list --name | grep -q '^sp-verify-$vm'" ||
	die "the temporary domain did not start (2)"
kill -9 "$pid"
wait "$pid" 2>/dev/null
check "the second killed run left its directory" \
	bash -c "ls -d '$T/scratch'/sp-verify-$vm-* >/dev/null"
"$(dirname "$SP")/stillpointd" --socket "$T/d.sock" --tick 200 2>"$T/daemon.log" &
dpid=$!
at_exit kill -9 $dpid
check "stillpointd removed it at start" \
	wait_for 60 bash -c "! ls -d '$T/scratch'/sp-verify-$vm-* >/dev/null 2>&1 && [ -z \"\$(ls -A '$T/state/verify-boot')\" ]"
check "and logged it" grep -q "verify-boot cleanup runs=1" "$T/daemon.log"
kill "$dpid"
wait "$dpid" 2>/dev/null

check "no sp-verify domain left" bash -c "! virsh list --all --name | grep -q '^sp-verify-$vm'"
check "no NBD server left" bash -c "! pgrep -f 'nbdki[t].*$T/scratch' >/dev/null"
check "no scratch directory left" bash -c "[ -z \"\$(ls -A '$T/scratch')\" ]"
done_testing

#!/bin/bash
# A user other than root who asks stillpointd for a backup gets the
# permission code DaemonPermissionDenied (exit 1) and an action that says
# to run as root, not UsageError: whether the socket's mode refuses the
# connection, or the daemon refuses the peer (a socket made reachable by
# hand).  Nothing is queued, nothing runs.  No guest is needed.
. "$(dirname "$0")/lib.sh"
need_root
id nobody >/dev/null 2>&1 || { say "no user nobody"; exit 77; }
command -v setpriv >/dev/null || { say "no setpriv"; exit 77; }
export STILLPOINT_STATE_DIR="$T/state" STILLPOINTD_SOCKET="$T/d.sock"
D="$(dirname "$SP")/stillpointd"

sp init >/dev/null
sp policy create p --schedule "daily 03:00" --keep-last 1 >/dev/null
sp protect vm1 --policy p --connect "qemu:///system?socket=$T/no-libvirt.sock" >/dev/null
"$D" --socket "$STILLPOINTD_SOCKET" --tick 50 --retries 0 2>"$T/daemon.log" &
dpid=$!
at_exit kill $dpid
for _ in $(seq 1 50); do [ -S "$STILLPOINTD_SOCKET" ] && break; sleep 0.1; done
as_nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"; }
# the_code FILE: exit 1, the permission code and an action that says how.
refused() {
	[ "$1" = 1 ] && grep -q 'DaemonPermissionDenied (SP1808)' "$T/.err" &&
		grep -q 'run the command as root (e.g. with sudo)' "$T/.err" &&
		! grep -q UsageError "$T/.err"
}

# The socket as the daemon makes it: root's alone.
as_nobody "$SP" --no-progress backup vm1 --now >"$T/.out" 2>"$T/.err"
rc=$?
check "a non-root client of the root-only socket is refused (exit $rc)" refused $rc
check "the message names the socket" grep -q "d.sock': permission denied" "$T/.err"

# A socket opened to everyone by hand: the daemon itself refuses the peer.
chmod 755 "$T"
chmod 666 "$STILLPOINTD_SOCKET"
as_nobody "$SP" --no-progress backup vm1 --now >"$T/.out" 2>"$T/.err"
rc=$?
check "the daemon refuses a non-root peer (exit $rc)" refused $rc
check "and says which user it refused" grep -q "not from uid $(id -u nobody)" "$T/.err"
check "it logs the refusal" grep -q "request refused uid=$(id -u nobody)" "$T/daemon.log"
as_nobody "$SP" --no-progress --json backup vm1 --now >"$T/.out" 2>"$T/.err"
check "with --json the refusal is a JSON error on stderr" \
	jqe '.error.code == "DaemonPermissionDenied" and (.error.action | test("root"))' "$T/.err"
check "no job was queued" bash -c "sp --json jobs | jqe 'length == 0'"
check "root is still served" bash -c "sp backup vm1 --now 2>&1 | grep -q LibvirtFailed"
done_testing

#!/bin/bash
# stillpointd with an encrypted vault: the daemon opens it with the key
# its own environment gives (STILLPOINT_KEY_FILE here; a passphrase file
# works the same), and without one its job fails with VaultKeyNeeded
# before anything is written; it never waits for a prompt.
. "$(dirname "$0")/lib.sh"
export STILLPOINT_STATE_DIR="$T/state" STILLPOINTD_SOCKET="$T/d.sock"
unset STILLPOINT_PASSPHRASE STILLPOINT_PASSPHRASE_FILE STILLPOINT_KEY_FILE
D="$(dirname "$SP")/stillpointd"
V="$T/ev"

expect_ok "init an encrypted vault with a key file" \
	sp --vault "$V" init --encrypt --key-file "$T/vault.key"
sp policy create p --schedule "daily 03:00" --keep-last 1 >/dev/null
expect_ok "protect a VM into it" sp --vault "$V" protect vm1 --policy p \
	--connect "qemu:///system?socket=$T/no-libvirt.sock"

daemon() { # ENV...: start the daemon with these variables
	env "$@" "$D" --socket "$STILLPOINTD_SOCKET" --tick 100 --retries 0 \
		2>>"$T/daemon.log" </dev/null &
	dpid=$!
	at_exit kill $dpid
	for _ in $(seq 1 50); do [ -S "$STILLPOINTD_SOCKET" ] && break; sleep 0.1; done
}
stop() { kill $dpid; wait $dpid 2>/dev/null; rm -f "$STILLPOINTD_SOCKET"; }

find "$V" -type f ! -name lock -printf '%P %s %T@\n' | sort >before
daemon STILLPOINT_DUMMY=1
expect_fail VaultKeyNeeded "without a key the daemon's backup fails clearly" sp backup vm1 --now
check "  ... and its job record says so" \
	bash -c "sp --json jobs --vm vm1 | jq -e '.[0].code == \"VaultKeyNeeded\"' >/dev/null"
stop
find "$V" -type f ! -name lock -printf '%P %s %T@\n' | sort >after
check "  ... having written nothing in the vault" cmp before after

daemon STILLPOINT_KEY_FILE="$T/vault.key"
sp backup vm1 --now >/dev/null 2>"$T/.err"
check "with STILLPOINT_KEY_FILE the vault opens (the job goes on to libvirt)" \
	bash -c "! grep -q 'VaultKey' '$T/.err' && grep -q 'Libvirt\|Domain' '$T/.err'"
stop
done_testing

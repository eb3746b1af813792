#!/bin/bash
# stillpointd with encrypted vaults.  With the key in its environment
# (STILLPOINT_KEY_FILE here; a passphrase file works the same) it opens the
# vault, and without one its job fails with VaultKeyNeeded before anything
# is written; it never waits for a prompt.  With keys only in per-vault
# files ($STILLPOINT_VAULTS_DIR/*.conf) and none in its environment, it
# serves two vaults with different keys (a passphrase, a key file): its
# backup job opens the first, its copy job re-seals a point of the first
# into the second, which restores to the same bytes.  A per-vault file
# others may read is refused (VaultPermissionDenied) and a wrong
# passphrase in one fails the job (VaultKeyWrong), writing nothing; no
# passphrase shows in `jobs --json` or the daemon's log.
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

# ---- keys in per-vault files, none in the daemon's environment ----------
VD="$T/vaults" V1="$T/v1" V2="$T/v2"
PASS1="first vault passphrase $$-8220"
WRONG="not the passphrase $$-8220"
mkdir -m 700 "$VD"
export STILLPOINT_VAULTS_DIR="$VD"
(umask 077 && printf '%s\n' "$PASS1" >"$T/v1.pass")
sp_with() { # VAR=VALUE ARG...: sp with one more variable
	local v=$1
	shift
	env "$v" "$SP" --no-progress "$@"
}

expect_ok "init vault 1 with a passphrase" \
	sp_with STILLPOINT_PASSPHRASE_FILE="$T/v1.pass" --vault "$V1" init --encrypt
expect_ok "init vault 2 with a key file (another key)" \
	sp --vault "$V2" init --encrypt --key-file "$T/v2.key"
conf() { # NAME LINE...: a per-vault file, mode 0600
	(umask 077 && printf '%s\n' "${@:2}" >"$VD/$1")
}
conf one.conf "# the daily vault" "vault = $V1" "passphrase_file = $T/v1.pass"
conf two.conf "vault = $V2/" "key_file = $T/v2.key"

expect_fail VaultKeyNeeded "before, vault 1 needs a key" \
	sp_with STILLPOINT_VAULTS_DIR="$T/none" --vault "$V1" points
expect_ok "the command line opens vault 1 with its file alone" sp --vault "$V1" points
expect_ok "... and vault 2 with its own" sp --vault "$V2" points
expect_fail VaultKeyWrong "the environment wins over the vault's file" \
	sp_with STILLPOINT_PASSPHRASE="$WRONG" --vault "$V1" points
expect_fail VaultKeyWrong "... and so does --key-file" \
	sp --vault "$V1" --key-file "$T/v2.key" points
conf bad.conf "vault = $V2" "key_file = $T/no-such.key"
expect_fail UsageError "two files naming one vault are refused" sp --vault "$V2" points
rm "$VD/bad.conf"
conf two.conf "vault = $V2" "key_file = $T/no-such.key"
expect_fail VaultKeyNeeded "a key_file that does not exist is refused" sp --vault "$V2" points
check "  ... naming the vault's file" grep -q "$VD/two.conf" "$T/.err"
conf two.conf "vault = $V2/" "key_file = $T/v2.key"

random_file disk.raw 6 8220
expect_ok "a point made by hand in vault 1" \
	sp --vault "$V1" backup --name vm2 --disk "$T/disk.raw"
pt=$(sp --vault "$V1" points vm2 --json | jq -r '.[0].id')
expect_ok "a policy that copies into vault 2" \
	sp policy create pc --schedule "daily 03:00" --keep-last 3 --copy-to "$V2"
expect_ok "protect vm2 into vault 1" sp --vault "$V1" protect vm2 --policy pc \
	--connect "qemu:///system?socket=$T/no-libvirt.sock"

# The copy job the daemon queues after a completed backup (the backup of a
# real domain needs libvirt: t8700), of the point made by hand.
queue_copy() { # POINT
	sqlite3 "$STILLPOINT_STATE_DIR/state.db" ".timeout 5000" "
		INSERT INTO jobs (vm, status, created, doc)
			VALUES ('vm2', 'queued', strftime('%s', 'now'), '{}');
		UPDATE jobs SET doc = json_object('id', id, 'vm', 'vm2',
			'kind', 'copy', 'trigger', 'policy', 'status', 'queued',
			'created', created, 'attempt', 1, 'point', '$1',
			'copy_to', '$V2')
			WHERE id = last_insert_rowid();"
}
copy_ended() { # N: N copy jobs have ended
	[ "$(sp --json jobs --vm vm2 | jq '[.[] | select(.kind == "copy" and .status != "queued" and .status != "in progress")] | length')" -ge "$1" ]
}
last_copy() { sp --json jobs --vm vm2 | jq '[.[] | select(.kind == "copy")][0]'; }
export -f last_copy

daemon STILLPOINT_DUMMY=1
sp backup vm2 --now >/dev/null 2>"$T/.err"
check "the daemon's backup job opens vault 1 with its file (it goes on to libvirt)" \
	bash -c "! grep -q 'VaultKey\|VaultPermission' '$T/.err' && grep -q 'Libvirt\|Domain' '$T/.err'"
queue_copy "$pt"
check "the daemon's copy job ends" wait_for 60 copy_ended 1
check "  ... completed, vault 2 opened with its own key" \
	bash -c "last_copy | jqe '(.status | startswith(\"completed\")) and .bytes_new > 0'"
check "the copy is in vault 2" \
	bash -c "sp --vault '$V2' points vm2 --json | jqe 'length == 1 and .[0].id == \"$pt\"'"
expect_fail VaultKeyWrong "  ... sealed under vault 2's key, not vault 1's" \
	sp_with STILLPOINT_PASSPHRASE_FILE="$T/v1.pass" --vault "$V2" points
mkdir r2
expect_ok "restore from vault 2, its key from its file" \
	sp --vault "$V2" restore "vm2@$pt" --to "$T/r2"
check "  ... the same bytes as the source" cmp disk.raw r2/disk.raw

# A per-vault file others may read: refused, nothing written.
chmod 644 "$VD/two.conf"
expect_fail VaultPermissionDenied "a per-vault file others may read is refused" \
	sp --vault "$V2" points
check "  ... naming it and the fix" \
	bash -c "grep -q '$VD/two.conf' '$T/.err' && grep -q 'chmod 600' '$T/.err'"
find "$V2" -type f ! -name lock -printf '%P %s %T@\n' | sort >before2
sp --vault "$V1" backup --name vm2 --disk "$T/disk.raw" >/dev/null 2>&1
pt2=$(sp --vault "$V1" points vm2 --json | jq -r '.[-1].id')
check "  ... a second point, not yet in vault 2" test "$pt2" != "$pt"
queue_copy "$pt2"
check "the daemon's copy job ends" wait_for 60 copy_ended 2
check "  ... failed with VaultPermissionDenied in its record" \
	bash -c "last_copy | jqe '.status == \"failed\" and .code == \"VaultPermissionDenied\"'"
find "$V2" -type f ! -name lock -printf '%P %s %T@\n' | sort >after2
check "  ... having written nothing in vault 2" cmp before2 after2
chmod 600 "$VD/two.conf"

# A wrong passphrase (given inline): VaultKeyWrong, nothing written.
conf one.conf "vault = $V1" "passphrase = $WRONG"
find "$V1" -type f ! -name lock -printf '%P %s %T@\n' | sort >before1
expect_fail VaultKeyWrong "a wrong passphrase in the vault's file fails the daemon's backup" \
	sp backup vm2 --now
check "  ... VaultKeyWrong in the job record" \
	bash -c "sp --json jobs --vm vm2 | jqe '[.[] | select(.kind != \"copy\")][0].code == \"VaultKeyWrong\"'"
find "$V1" -type f ! -name lock -printf '%P %s %T@\n' | sort >after1
check "  ... having written nothing in vault 1" cmp before1 after1
stop

sp --json jobs >jobs.json
check "no passphrase in jobs --json" \
	bash -c "[ -s jobs.json ] && ! grep -qF -e '$PASS1' -e '$WRONG' jobs.json"
check "nor in the daemon's log" \
	bash -c "[ -s '$T/daemon.log' ] && ! grep -qF -e '$PASS1' -e '$WRONG' '$T/daemon.log'"
done_testing

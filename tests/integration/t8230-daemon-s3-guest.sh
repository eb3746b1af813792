#!/bin/bash
# stillpointd backing up a real running guest into an encrypted S3 vault
# (Ceph RGW), the S3 credentials and the vault's key taken only from the
# bucket's per-vault file ($STILLPOINT_VAULTS_DIR/BUCKET.conf): nothing of
# either is in the daemon's environment.  Its scheduled job of the guest
# (a workload writing to a small data disk) completes with both phases,
# the point is in the vault, no stored object holds the VM name (sealed),
# and it restores from S3 with the workload's records intact.  With the
# guest paused, a backup --now through the daemon (the passphrase given
# inline in the file this time) restores from S3 to the very bytes of the
# guest's disk image, and the vault verifies.  The passphrase removed from
# the file: the daemon's job fails with VaultKeyNeeded; a wrong one, with
# VaultKeyWrong; neither writes an object.
. "$(dirname "$0")/lib.sh"
. "$SP_TOP/tests/lab/lab.sh"
lab_need
need_s3
lab_build_guest
export STILLPOINT_STATE_DIR="$T/state" STILLPOINTD_SOCKET="$T/d.sock"
export STILLPOINT_CACHE_DIR="$T/cache" STILLPOINT_VAULTS_DIR="$T/vaults"
unset STILLPOINT_PASSPHRASE STILLPOINT_PASSPHRASE_FILE STILLPOINT_KEY_FILE
D="$(dirname "$SP")/stillpointd"
V="s3://$S3_BUCKET/v"
PASS="s3 guest vault passphrase $$-8230"
vm=sp-t8230-$$

expect_ok "init the S3 vault, encrypted by default" \
	env STILLPOINT_PASSPHRASE="$PASS" "$SP" --no-progress --vault "$V" init
expect_fail VaultKeyNeeded "it is encrypted: no key, no access" sp --vault "$V" points

# The bucket's file: the server, the credentials and the key.
mkdir -m 700 "$T/vaults"
(umask 077 && printf '%s\n' "$PASS" >"$T/v.pass")
conf() { # LINE...: the bucket's per-vault file, mode 0600
	(umask 077 && printf '%s\n' "endpoint = $AWS_ENDPOINT_URL" \
		"access_key_id = $AWS_ACCESS_KEY_ID" \
		"secret_access_key = $AWS_SECRET_ACCESS_KEY" "$@" \
		>"$T/vaults/$S3_BUCKET.conf")
}
conf "passphrase_file = $T/v.pass"
expect_ok "the CLI opens it with the per-vault file" sp --vault "$V" points

lab_make_data_disk "$T/a.qcow2" 32
LAB_WORKLOAD=1 lab_define_domain "$vm" "$T/a.qcow2"
lab_start "$vm"
lab_wait_agent "$vm" || die "guest $vm"

# Due two minutes from now; the daemon's clock runs 150 s ahead.
due=$(date -d '+2 min' +%H:%M)
expect_ok "a policy due in two minutes" \
	sp policy create soon --schedule "daily $due" --keep-last 3
expect_ok "protect the guest into the S3 vault" sp --vault "$V" protect "$vm" --policy soon

# No AWS_* and no key variable in the daemon's environment.
env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_SESSION_TOKEN \
	-u AWS_ENDPOINT_URL -u AWS_REGION -u AWS_DEFAULT_REGION \
	-u S3_LIMITED_ACCESS_KEY_ID -u S3_LIMITED_SECRET_ACCESS_KEY \
	STILLPOINT_CLOCK_OFFSET=150 \
	"$D" --socket "$STILLPOINTD_SOCKET" --tick 200 --max-jobs 1 --retries 0 \
	2>>"$T/daemon.log" </dev/null &
dpid=$!
at_exit kill -9 $dpid
for _ in $(seq 1 50); do [ -S "$STILLPOINTD_SOCKET" ] && break; sleep 0.1; done
check "the daemon has no S3 credentials, endpoint or key in its environment" \
	bash -c "[ -r /proc/$dpid/environ ] && ! tr '\0' '\n' </proc/$dpid/environ | grep -q '^AWS_ACCESS\|^AWS_SECRET\|^AWS_SESSION\|^AWS_ENDPOINT\|^S3_LIMITED\|^STILLPOINT_PASSPHRASE\|^STILLPOINT_KEY_FILE'"

ended() { # N: N jobs of the guest have ended
	[ "$(sp --json jobs --vm "$vm" | jq '[.[] | select(.status != "queued" and .status != "in progress")] | length')" -ge "$1" ]
}
check "the scheduled backup ends" wait_for 180 ended 1
sp --json jobs --vm "$vm" >jobs1.json
check "one scheduled job, completed, no error code" \
	jqe 'length == 1 and .[0].trigger == "schedule" and (.[0].status | startswith("completed")) and .[0].code == null' jobs1.json
check "both phases timed, a point named" \
	jqe '.[0].phases.snapshot.duration_ms >= 0 and .[0].phases.transfer.duration_ms > 0 and (.[0].point | length > 10)' jobs1.json
p1=$(jq -r '.[0].point' jobs1.json)
check "the point is listed in the S3 vault, file-system consistent" \
	bash -c "sp --vault '$V' points '$vm' --json | jqe 'length == 1 and .[0].id == \"$p1\" and .[0].consistency == \"file-system\"'"

# Sealed: object keys carry VM names (docs/encryption.md), their bodies not.
s3_ls "$S3_BUCKET" v/ >keys1
bodies_with() { # TEXT: the keys of objects whose body holds TEXT
	local k
	while read -r k; do
		s3_get "$S3_BUCKET/$(s3_urlencode "$k" | sed 's|%2F|/|g')" | grep -qaF -- "$1" && echo "$k"
	done <keys1
}
check "the bucket holds the point's objects" test "$(wc -l <keys1)" -ge 5
check "no object's body holds the VM name" test -z "$(bodies_with "$vm")"
check "nor does the daemon's cache" test -z "$(grep -rlaF "$vm" "$T/cache" 2>/dev/null)"

mkdir -m 755 r1
expect_ok "restore the scheduled point from S3" sp --vault "$V" restore "$vm@$p1" --to "$T/r1"
seq1=$(lab_records_check "$T/r1/vda.qcow2")
check "its workload records are intact (last ${seq1:-?})" test -n "$seq1"

# The guest paused: its disk image holds still while the daemon backs it
# up (a passphrase inline in the file this time) and while it is compared.
conf "passphrase = $PASS"
lab_guest_exec "$vm" /bin/sync >/dev/null
virsh suspend "$vm" >/dev/null || die "cannot pause $vm"
check "the guest is paused" test "$(virsh domstate "$vm")" = paused
expect_ok "backup --now of the paused guest through the daemon" sp --json backup "$vm" --now
sp --json jobs --vm "$vm" >jobs2.json
check "a manual job, completed, both phases, a second point" \
	jqe '.[0].trigger == "manual" and (.[0].status | startswith("completed")) and .[0].code == null and .[0].phases.snapshot.duration_ms >= 0 and .[0].phases.transfer.duration_ms > 0 and .[0].point != "'"$p1"'"' jobs2.json
p2=$(jq -r '.[0].point' jobs2.json)
check "two points in the S3 vault" \
	bash -c "sp --vault '$V' points '$vm' --json | jqe 'length == 2 and any(.id == \"$p2\")'"
mkdir -m 755 r2
expect_ok "restore the second point from S3" sp --vault "$V" restore "$vm@$p2" --to "$T/r2"
check "it is the paused guest's disk, byte for byte" \
	qemu-img compare -U "$T/r2/vda.qcow2" "$T/a.qcow2"
seq2=$(lab_records_check "$T/r2/vda.qcow2")
check "its records are intact and go on past the first point's ($seq2 > ${seq1:-?})" \
	test "${seq2:-0}" -gt "${seq1:-0}"
virsh resume "$vm" >/dev/null
expect_ok "the S3 vault verifies (key from its file)" sp --vault "$V" verify

# Without the passphrase in the file the daemon has no key at all.
conf
s3_ls "$S3_BUCKET" v/ | sort >before
expect_fail VaultKeyNeeded "without the passphrase setting the daemon's job fails" \
	sp backup "$vm" --now
check "  ... VaultKeyNeeded in its job record" \
	bash -c "sp --json jobs --vm $vm | jqe '.[0].status == \"failed\" and .[0].code == \"VaultKeyNeeded\"'"
conf "passphrase = not the passphrase $$"
expect_fail VaultKeyWrong "a wrong passphrase fails the daemon's job" sp backup "$vm" --now
check "  ... VaultKeyWrong in its job record" \
	bash -c "sp --json jobs --vm $vm | jqe '.[0].status == \"failed\" and .[0].code == \"VaultKeyWrong\"'"
s3_ls "$S3_BUCKET" v/ | sort >after
check "  ... neither wrote an object" cmp before after
check "still two points" \
	bash -c "env STILLPOINT_PASSPHRASE='$PASS' '$SP' --vault '$V' points '$vm' --json | jqe 'length == 2'"

kill $dpid; wait $dpid 2>/dev/null
sp --json jobs >jobs.json
check "no passphrase or secret in the job records or the daemon's log" \
	bash -c "[ -s jobs.json ] && ! grep -qF -e '$PASS' -e '$AWS_SECRET_ACCESS_KEY' jobs.json '$T/daemon.log'"
lab_stop "$vm"
done_testing

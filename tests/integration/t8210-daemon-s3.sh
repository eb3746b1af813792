#!/bin/bash
# stillpointd with a vault in S3: a protected VM's vault is an s3://
# location; when the server cannot be reached the job fails with
# VaultUnreachable, which is transient: the daemon retries it by policy
# (each attempt its own job, the failure hook for each) and its
# credentials come from the vault's own root-only file, not the
# environment.
. "$(dirname "$0")/lib.sh"
need_s3
export STILLPOINT_STATE_DIR="$T/state" STILLPOINTD_SOCKET="$T/d.sock"
D="$(dirname "$SP")/stillpointd"
V="s3://$S3_BUCKET/v"
export STILLPOINT_CACHE_DIR=$T/cache

expect_ok "init the S3 vault" sp --vault "$V" init
sp policy create p --schedule "daily 03:00" --keep-last 1 >/dev/null
expect_ok "protect a VM into it" sp --vault "$V" protect vm1 --policy p \
	--connect "qemu:///system?socket=$T/no-libvirt.sock"
check "the protection names the s3:// vault" \
	bash -c "sp --json protected | jq -e '.[0].vault == \"$V\"' >/dev/null"

# The daemon's credentials: a file per bucket, mode 0600; the server is
# given as an endpoint nobody answers at.
mkdir -p "$T/vaults"
cat >"$T/vaults/$S3_BUCKET.conf" <<EOF2
endpoint = http://127.0.0.1:9
access_key_id = $AWS_ACCESS_KEY_ID
secret_access_key = $AWS_SECRET_ACCESS_KEY
EOF2
chmod 0644 "$T/vaults/$S3_BUCKET.conf"
STILLPOINT_VAULTS_DIR=$T/vaults expect_fail VaultPermissionDenied \
	"a credentials file others can read is refused" sp --vault "$V" points
chmod 0600 "$T/vaults/$S3_BUCKET.conf"
cat >"$T/hook.sh" <<EOF2
#!/bin/sh
echo "\$STILLPOINT_JOB \$STILLPOINT_CODE" >>"$T/hook.log"
EOF2
chmod 755 "$T/hook.sh"
env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_ENDPOINT_URL \
	STILLPOINT_VAULTS_DIR="$T/vaults" STILLPOINT_S3_RETRIES=1,50 \
	"$D" --socket "$STILLPOINTD_SOCKET" --tick 100 --retries 2 --retry-delay 1 \
	--on-failure "$T/hook.sh" 2>"$T/daemon.log" &
dpid=$!
at_exit kill $dpid
for _ in $(seq 1 50); do [ -S "$STILLPOINTD_SOCKET" ] && break; sleep 0.1; done

expect_fail VaultUnreachable "backup --now fails: the S3 server cannot be reached" sp backup vm1 --now
three() { [ "$(sp --json jobs --vm vm1 | jq '[.[] | select(.status == "failed")] | length')" = 3 ]; }
wait_for 30 three
sleep 1.5
sp --json jobs --vm vm1 >jobs.json
check "three attempts, each VaultUnreachable" \
	jqe 'length == 3 and all(.status == "failed" and .code == "VaultUnreachable")' jobs.json
check "the manual job, then two retries" \
	jqe 'sort_by(.id) | [.[] | .trigger] == ["manual","retry","retry"]' jobs.json
check "the failure hook ran for each" test "$(grep -c VaultUnreachable "$T/hook.log")" = 3
check "no secret in the job records" bash -c "! grep -rq '$AWS_SECRET_ACCESS_KEY' jobs.json '$T/daemon.log' '$T/state'"
done_testing

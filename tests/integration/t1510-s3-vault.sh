#!/bin/bash
# A vault in S3 object storage (a real Ceph RADOS Gateway): init, the
# generated round-trip campaign restored equal to its sources, the requests
# an incremental backup makes, kill -9 mid-backup (no half point), trash and
# gc (two runs, and never while a backup holds its lease), two writers and
# a gc at once, the server gone mid-backup, bad credentials, a missing
# bucket and a skewed clock.
. "$(dirname "$0")/lib.sh"
need_s3
V="s3://$S3_BUCKET/vault"
s3() { "$SP" --no-progress --vault "$V" "$@"; }
export V
export -f s3
later() { STILLPOINT_NOW=$(($(date +%s) + 30 * 86400)) s3 "$@"; }
nchunks() { s3_ls "$S3_BUCKET" vault/chunks/ | wc -l; }
export STILLPOINT_CACHE_DIR=$T/cache

# 1. init: the settings object, refused twice and on a non-empty prefix.
expect_ok "init an S3 vault" s3 init --no-encrypt --chunk-size 1M
check "its settings are an object in the bucket" \
	bash -c "s3_get '$S3_BUCKET/vault/stillpoint-vault.json' | jq -e '.format == \"stillpoint-vault\"'"
expect_fail VaultExists "a second init is refused" s3 init
printf x >x.txt
s3_put "$S3_BUCKET/other/x.txt" x.txt
expect_fail NotAVault "init over objects that are no vault is refused" \
	"$SP" --vault "s3://$S3_BUCKET/other" init

# 2. The generated campaign, every vault in the bucket: thousands of
# extents, odd sizes, sequences of changes, qcow2 chains; every point
# restored and compared byte for byte with a copy of its source.  The
# campaign's vaults are made by a plain init: encrypted, as s3:// vaults
# are by default (t1521 runs it on vaults checked to be encrypted).
rt=$SP_BUILD/tests/sp-roundtrip
STILLPOINT_PASSPHRASE=t1510-campaign "$rt" --stillpoint "$SP" --seed 1510 --cases 24 --seconds 150 \
	--mix raw=5,qcow2=1 --jobs 3 --work "$T" \
	--vault-base "s3://$S3_BUCKET/rt" --replay-as "$rt" >campaign.out 2>&1
rc=$?
grep -v '^\.\.\.' campaign.out | tail -n 30
check "every generated case restored equal from S3" test $rc = 0
check "24 cases ran" grep -q '^sp-roundtrip: 24 cases' campaign.out

# 3. An incremental backup asks the server about nothing it found before:
# a 96 MiB disk with 2 MiB changed makes a handful of requests besides
# the PUTs of its new chunks.
head -c 96M /dev/urandom >d.raw
expect_ok "full backup" s3 backup --name vm --disk d.raw --json
check "it reports its requests" jqe '.requests.puts >= 96' "$T/.out"
dd if=/dev/urandom of=d.raw bs=1M count=2 seek=40 conv=notrunc status=none
expect_ok "incremental backup" s3 backup --name vm --disk d.raw --json
cp "$T/.out" incr.json
check "two new chunks" jqe '.disks[0].chunks_new == 2' incr.json
check "at most 20 requests besides its PUTs" \
	jqe '(.requests.requests - .requests.puts) <= 20' incr.json
check "no HEAD for a chunk: only the gc marker and the base point" \
	jqe '.requests.heads <= 2' incr.json
check "a PUT per new chunk, and the lease, index and manifest" \
	jqe '.requests.puts == 5' incr.json
mkdir r1
expect_ok "restore" s3 restore vm --to r1
check "restored equal" cmp d.raw r1/d.raw
# What this host saw in the vault is kept for the next job: a new VM with
# the same disk asks the server about none of its chunks.
cp d.raw twin.raw
expect_ok "a full backup of another VM with the same disk" \
	s3 backup --name twin --disk twin.raw --json
check "no chunk stored, and no HEAD for any" \
	jqe '.disks[0].chunks_new == 0 and .requests.heads <= 1' "$T/.out"
# That record lost, the next writer rebuilds it by listing the vault's
# chunks (one request per 1000) instead of sending each chunk's bytes
# only to hear that the vault has it.
rm -rf "$T/cache/chunks"
cp d.raw twin2.raw
expect_ok "a full backup with the host's record of chunks lost" \
	s3 backup --name twin2 --disk twin2.raw --json
check "no chunk sent: the listing found them all" \
	jqe '.disks[0].chunks_new == 0 and .requests.puts <= 3 and .requests.lists >= 1' "$T/.out"

# 4. kill -9 mid-backup: no half point; the next backup succeeds.
head -c 64M /dev/urandom >k.raw
STILLPOINT_TEST_HOLD=slice:150 "$SP" --no-progress --threads 2 \
	--vault "$V" backup --name killed --disk k.raw >k.out 2>&1 &
kpid=$!
wait_for 20 bash -c "s3_ls '$S3_BUCKET' vault/leases/ | grep -q killed@"
check "the backup holds a lease" bash -c "s3_ls '$S3_BUCKET' vault/leases/ | grep -q killed@"
kill -9 $kpid
wait $kpid 2>/dev/null
check "no point of the killed backup is listed" \
	bash -c "! s3 points killed --json 2>/dev/null | jqe 'length > 0'"
expect_ok "the vault verifies" s3 verify
expect_ok "the next backup succeeds" s3 backup --name killed --disk k.raw
mkdir r2
expect_ok "and restores" s3 restore killed --to r2
check "equal" cmp k.raw r2/k.raw
# the killed writer's lease stays until it expires: gc waits for it
s3_ls "$S3_BUCKET" vault/leases/ | while read -r k; do
	s3_rm "$S3_BUCKET/$(s3_urlencode "$k" | sed 's|%2F|/|g')"
done
check "its lease is gone" bash -c "! s3_ls '$S3_BUCKET' vault/leases/ | grep -q ."

# 5. trash and gc: deleted, purged, made candidates, swept in a second run.
before=$(nchunks)
id1=$(s3 points vm --json | jq -r '.[0].id')
expect_ok "delete the first point of vm" s3 delete "vm@$id1"
check "it is in the trash" bash -c "s3 trash --json | jqe 'length == 1'"
expect_ok "undelete it" s3 undelete "vm@$id1"
check "it is listed again" bash -c "s3 points vm --json | jqe 'length == 2'"
expect_ok "delete both points of vm, and twin's and twin2's" bash -c \
	"for id in \$(s3 points vm --json | jq -r '.[].id'); do s3 delete vm@\$id || exit 1; done &&
	 s3 delete twin@\$(s3 points twin --json | jq -r '.[0].id') &&
	 s3 delete twin2@\$(s3 points twin2 --json | jq -r '.[0].id')"
sleep 2 # chunks older than the gc run
expect_ok "gc 1 purges and marks candidates" later gc --json
check "98 candidates, nothing deleted" jqe '.fossilized == 98 and .deleted == 0' "$T/.out"
check "nothing deleted yet" test "$(nchunks)" = "$before"
expect_ok "gc 2 sweeps" later gc --json
check "98 deleted" jqe '.swept and .deleted == 98 and .bytes_freed > 0' "$T/.out"
check "98 chunk objects fewer" test "$(nchunks)" = $((before - 98))
expect_ok "the vault verifies" s3 verify
rm -rf r2 && mkdir r2
expect_ok "the other VM still restores" s3 restore killed --to r2
check "equal" cmp k.raw r2/k.raw
# This host's cache still names the deleted chunks; the sweep raised the
# vault's gc epoch, so a backup of the same bytes must store them again.
expect_ok "back up vm's disk again after gc deleted its chunks" \
	s3 backup --name again --disk d.raw --json
check "every chunk stored again" jqe '.disks[0].chunks_new == 96' "$T/.out"
rm -rf r5 && mkdir r5
expect_ok "and it restores" s3 restore again --to r5
check "equal" cmp d.raw r5/d.raw

# 6. A held backup that shares chunks with a deleted point: gc marks
# candidates, then does not sweep while the backup holds its lease; the
# backup's point restores; the next gc deletes only what nothing uses.
head -c 16M /dev/urandom >a.raw
cp a.raw b.raw
dd if=/dev/urandom of=b.raw bs=1M count=4 seek=12 conv=notrunc status=none
expect_ok "back up a" s3 backup --name va --disk a.raw
expect_ok "delete it" s3 delete "va@$(s3 points va --json | jq -r '.[0].id')"
sleep 2
expect_ok "gc 1: a's 16 chunks are candidates" later gc --json
check "16 candidates" jqe '.fossilized == 16' "$T/.out"
STILLPOINT_TEST_HOLD=slice:300 "$SP" --no-progress --threads 2 \
	--vault "$V" backup --name vb --disk b.raw >b.out 2>&1 &
bpid=$!
at_exit "kill $bpid"
wait_for 20 bash -c "s3_ls '$S3_BUCKET' vault/leases/ | grep -q vb@"
expect_ok "gc 2 while the backup runs" later gc --json
check "it waits for the backup's lease and deletes nothing" \
	jqe '(.waiting_for | length == 1) and .deleted == 0 and (.swept | not)' "$T/.out"
wait $bpid
check "the backup succeeded" test $? = 0
expect_ok "gc 3 sweeps" later gc --json
check "it deleted a's 4 chunks that b does not share, and no more" \
	jqe '.swept and .deleted == 4' "$T/.out"
mkdir r3
expect_ok "b restores" s3 restore vb --to r3
check "equal" cmp b.raw r3/b.raw
expect_ok "the vault verifies" s3 verify

# 7. Two writers and a gc at once: nothing lost.
for n in 1 2; do
	head -c 12M /dev/urandom >w$n.raw
	cat b.raw >>w$n.raw # shared with vb
done
s3 backup --name w1 --disk w1.raw >w1.out 2>&1 &
p1=$!
s3 backup --name w2 --disk w2.raw >w2.out 2>&1 &
p2=$!
later gc --json >gc7.out 2>&1
gcrc=$?
wait $p1
r1=$?
wait $p2
r2=$?
check "both writers succeeded" test "$r1$r2" = 00
check "gc ran beside them" test $gcrc = 0
expect_ok "gc again" later gc --json
expect_ok "and again" later gc --json
expect_ok "the vault verifies" s3 verify
for n in 1 2; do
	mkdir o$n
	expect_ok "w$n restores" s3 restore w$n --to o$n
	check "equal" cmp w$n.raw o$n/w$n.raw
done

# 8. The server goes away mid-backup (a proxy in front of it is killed):
# the job fails with a code; through the server again, the next succeeds.
python3 "$SP_TOP/tests/s3/forward.py" proxy.port "${AWS_ENDPOINT_URL#http://}" \
	>proxy.log 2>&1 &
ppid=$!
at_exit "kill $ppid"
wait_for 10 test -s proxy.port
port=$(cat proxy.port)
head -c 48M /dev/urandom >p.raw
STILLPOINT_S3_RETRIES=2,100 STILLPOINT_S3_TIMEOUT=5 STILLPOINT_TEST_HOLD=slice:100 \
	"$SP" --no-progress --s3-endpoint "http://127.0.0.1:$port" --vault "$V" \
	backup --name proxied --disk p.raw >p.out 2>&1 &
bpid=$!
sleep 2
{ kill -9 $ppid && wait $ppid; } 2>/dev/null
wait $bpid
rc=$?
check "the backup fails when the server goes away" test $rc != 0
check "with a code" grep -Eq 'VaultUnreachable|VaultRemoteError' p.out
[ $rc != 0 ] || cat p.out
check "no point of it is listed" \
	bash -c "! s3 points proxied --json 2>/dev/null | jqe 'length > 0'"
expect_ok "the next backup succeeds" s3 backup --name proxied --disk p.raw
mkdir r4
expect_ok "and restores" s3 restore proxied --to r4
check "equal" cmp p.raw r4/p.raw

# 9. Bad credentials, a missing bucket, a skewed clock.
AWS_SECRET_ACCESS_KEY=wrong expect_fail VaultAuthFailed "a wrong secret" s3 points
check "  ... and the secret is in no message" bash -c "! grep -q wrong '$T/.err'"
expect_fail VaultNotFound "a missing bucket" "$SP" --vault "s3://no-such-bucket-$$/v" points
if command -v faketime >/dev/null; then
	expect_fail VaultClockSkew "a clock 20 minutes behind" \
		faketime -f -20m "$SP" --vault "$V" points
fi
done_testing

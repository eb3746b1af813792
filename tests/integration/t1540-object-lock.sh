#!/bin/bash
# An S3 vault with object lock (a bucket made with S3 Object Lock on a real
# RADOS Gateway): every chunk and point object is locked for the vault's
# days; the host's own credentials cannot delete one; delete and prune
# refuse a locked point and say until when; gc keeps locked chunks.  A
# bucket without object lock is refused at init.  A point that reuses
# chunks of older points extends their locks to its own locked_until at
# publication, once per lock margin.
. "$(dirname "$0")/lib.sh"
need_s3 lock
V="s3://$S3_BUCKET/v"
s3() { "$SP" --no-progress --vault "$V" "$@"; }
export V
export -f s3
export STILLPOINT_CACHE_DIR=$T/cache

s3_new_bucket plain
expect_fail VaultFeatureUnsupported "--object-lock on a bucket without object lock" \
	"$SP" --vault "s3://$plain/v" init --object-lock 1
check "  ... and nothing was made there" test -z "$(s3_ls "$plain")"
expect_fail UsageError "--object-lock on a local directory" sp --vault local init --object-lock 1
expect_fail UsageError "a lock mode of no kind" s3 init --object-lock 1 --lock-mode loose

expect_ok "init with a 1-day governance lock" s3 init --no-encrypt --object-lock 1 --chunk-size 1M
check "the settings record it" bash -c \
	"s3_get '$S3_BUCKET/v/stillpoint-vault.json' | jq -e '.object_lock.days == 1 and .object_lock.mode == \"GOVERNANCE\"' >/dev/null"
head -c 6M /dev/urandom >d.raw
expect_ok "back up" s3 backup --name vm --disk d.raw --json
id=$(jq -r .id "$T/.out")
check "the point records until when it is locked" jqe '.locked_until | length > 0' "$T/.out"

# What the server says of a chunk and of the manifest: locked.
chunk=$(s3_ls "$S3_BUCKET" v/chunks/ | head -n1)
for key in "$chunk" "v/points/vm/$id/manifest.json"; do
	enc=$(s3_urlencode "$key" | sed 's|%2F|/|g')
	s3_cli GET "$S3_BUCKET/$enc?retention=" >ret.xml 2>&1
	check "$key has a retention date" grep -q RetainUntilDate ret.xml
	ver=$(s3_cli GET "$S3_BUCKET?prefix=$(s3_urlencode "$key")&versions=" | s3_xml_values VersionId | head -n1)
	s3_cli DELETE "$S3_BUCKET/$enc?versionId=$ver" >del.out 2>&1
	check "the host's credentials cannot delete $key" test $? != 0
	check "  ... (the server says access denied)" grep -q AccessDenied del.out
done

expect_fail ObjectLocked "delete refuses the locked point" s3 delete "vm@$id"
check "  ... and says until when" grep -q "locked until" "$T/.err"
check "it is still listed" bash -c "s3 points vm --json | jqe 'length == 1'"
check "and nothing went to the trash" bash -c "s3 trash --json | jqe 'length == 0'"

# prune: a policy that keeps nothing still cannot remove it before its date
sp_state=$T/state
export STILLPOINT_STATE_DIR=$sp_state
expect_ok "a policy keeping one daily point" sp policy create p1 --schedule "daily 02:00" --keep-daily 1
expect_ok "protect the VM" s3 protect vm --policy p1
expect_ok "a second point" s3 backup --name vm --disk d.raw
expect_ok "prune" s3 prune --json
check "prune reports the older point as locked, deletes nothing" \
	jqe '[.. | objects | select(has("locked")) | .locked | length] | add == 1' "$T/.out"
check "both points remain" bash -c "s3 points vm --json | jqe 'length == 2'"

mkdir r
expect_ok "the vault restores" s3 restore vm --to r
check "equal" cmp d.raw r/d.raw
expect_ok "and verifies" s3 verify

# Reused chunks: a point published later than the chunks it shares with an
# older point must find them locked until its own locked_until.  The lock
# margin is cut to 5 minutes and the later backups run 10 minutes ahead
# (within the 15 minutes of clock skew the server takes), so the first
# point's chunks are locked for less than the next point's promise.
G="s3://$S3_BUCKET/g"
export STILLPOINT_LOCK_MARGIN=300
g() { "$SP" --no-progress --vault "$G" "$@"; }
later() { faketime -f +10m "$SP" --no-progress --vault "$G" "$@"; }
export G
export -f g later
expect_ok "init a second vault, 1-day lock" g init --no-encrypt --object-lock 1 --chunk-size 1M
head -c 8M /dev/urandom >e.raw
expect_ok "back up" g backup --name vm --disk e.raw --json
check "  ... every chunk put locked: no lock extended" jqe '.requests.retentions == 0' "$T/.out"
dd if=/dev/urandom of=e.raw bs=1M seek=3 count=1 conv=notrunc status=none
expect_ok "back up again, 10 minutes later, one slice changed" later backup --name vm --disk e.raw --json
cp "$T/.out" p2.json
id2=$(jq -r .id p2.json)
check "  ... the 7 reused chunks had their locks extended" jqe '.requests.retentions == 7' p2.json
check "  ... counted among the requests" \
	jqe '.requests.requests >= .requests.puts + .requests.retentions' p2.json

# What the server holds: every chunk the second point's index names is
# locked at least until the second point's locked_until.
s3_get "$S3_BUCKET/g/points/vm/$id2/manifest.json" >m2.json
check "the manifest records locked_until" jqe '.locked_until | length > 0' m2.json
s3_get "$S3_BUCKET/g/points/vm/$id2/disk-0.idx" >p2.idx
python3 -c '
import sys
ix = open(sys.argv[1], "rb").read()
count = int.from_bytes(ix[24:32], "little")
for i in range(count):
    cid = ix[64 + 32 * i:96 + 32 * i]
    if any(cid):
        print("g/chunks/%s/%s" % (cid.hex()[:3], cid.hex()))' p2.idx | sort -u >p2.chunks
check "the index names 8 chunks" test "$(wc -l <p2.chunks)" = 8
# locked_at_least UNTIL KEYS: every object named in file KEYS is locked
# until UNTIL (RFC 3339) or later, says the server.
locked_at_least() {
	local key enc
	: >dates
	while read -r key; do
		enc=$(s3_urlencode "$key" | sed 's|%2F|/|g')
		s3_cli GET "$S3_BUCKET/$enc?retention=" | s3_xml_values RetainUntilDate >>dates
	done <"$2"
	[ "$(grep -c . dates)" = "$(grep -c . "$2")" ] || { echo "a date is missing" >&2; return 1; }
	python3 -c '
import sys, datetime
def t(s):
    return datetime.datetime.fromisoformat(s.split(".")[0].rstrip("Z") + "+00:00")
until = t(sys.argv[1])
dates = [t(l.strip()) for l in open("dates") if l.strip()]
print("locked_until", until, "earliest chunk", min(dates), file=sys.stderr)
sys.exit(1 if not dates or min(dates) < until else 0)' "$1"
}
check "each is locked until the point's locked_until or later" \
	locked_at_least "$(jq -r .locked_until m2.json)" p2.chunks

dd if=/dev/urandom of=e.raw bs=1M seek=5 count=1 conv=notrunc status=none
expect_ok "a third backup right after" later backup --name vm --disk e.raw --json
check "  ... extends no lock (all still long enough)" jqe '.requests.retentions == 0' "$T/.out"
rm -rf "$STILLPOINT_CACHE_DIR"
expect_ok "a fourth, unchanged, with this host's cache lost" later backup --name vm --disk e.raw --json
check "  ... extends each chunk's lock once (dates unknown)" jqe '.requests.retentions == 8' "$T/.out"
expect_ok "a fifth" later backup --name vm --disk e.raw --json
check "  ... extends none" jqe '.requests.retentions == 0' "$T/.out"
rm -rf "$STILLPOINT_CACHE_DIR"
expect_ok "a sixth, cache lost, clock 10 minutes behind the others" g backup --name vm --disk e.raw --json
check "  ... asks to extend each chunk, which the server refuses: locked longer already" \
	jqe '.requests.retentions == 8 and .requests.gets >= 8' "$T/.out"
expect_ok "the vault verifies" g verify

# The same through an encrypted vault's sealing store.
E="s3://$S3_BUCKET/e"
export STILLPOINT_PASSPHRASE=lock-test-1
expect_ok "init an encrypted vault, 1-day lock" \
	"$SP" --no-progress --vault "$E" init --encrypt --object-lock 1 --chunk-size 1M
expect_ok "back up" "$SP" --no-progress --vault "$E" backup --name vm --disk e.raw
expect_ok "back up again, 10 minutes later" \
	faketime -f +10m "$SP" --no-progress --vault "$E" backup --name vm --disk e.raw --json
check "  ... the 8 reused chunks had their locks extended" jqe '.requests.retentions == 8' "$T/.out"
s3_ls "$S3_BUCKET" e/chunks/ >e.chunks
check "  ... each is locked until the point's locked_until or later" \
	locked_at_least "$(jq -r .locked_until "$T/.out")" e.chunks
mkdir re
expect_ok "it restores" "$SP" --no-progress --vault "$E" restore vm --to re
check "equal" cmp e.raw re/e.raw
done_testing

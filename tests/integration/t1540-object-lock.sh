#!/bin/bash
# An S3 vault with object lock (a bucket made with S3 Object Lock on a real
# RADOS Gateway): every chunk and point object is locked for the vault's
# days; the host's own credentials cannot delete one; delete and prune
# refuse a locked point and say until when; gc keeps locked chunks.  A
# bucket without object lock is refused at init.
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

expect_ok "init with a 1-day governance lock" s3 init --object-lock 1 --chunk-size 1M
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
done_testing

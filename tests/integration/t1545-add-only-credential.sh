#!/bin/bash
# A host credential that can add to its vault but not delete from it (a
# bucket policy on the real RADOS Gateway): backups, listings, restores and
# verify work with it; deleting a chunk or a point with it is refused by
# the server, so a compromised host cannot destroy its own backups.  An
# administrator's credential prunes and collects.
. "$(dirname "$0")/lib.sh"
need_s3
b=$S3_BUCKET
cat >policy.json <<EOF2
{"Version": "2012-10-17", "Statement": [
 {"Effect": "Allow", "Principal": {"AWS": ["arn:aws:iam:::user/sp-limited"]},
  "Action": ["s3:ListBucket", "s3:GetBucketObjectLockConfiguration", "s3:GetBucketVersioning"],
  "Resource": ["arn:aws:s3:::$b"]},
 {"Effect": "Allow", "Principal": {"AWS": ["arn:aws:iam:::user/sp-limited"]},
  "Action": ["s3:PutObject", "s3:GetObject"], "Resource": ["arn:aws:s3:::$b/*"]},
 {"Effect": "Allow", "Principal": {"AWS": ["arn:aws:iam:::user/sp-limited"]},
  "Action": ["s3:DeleteObject"], "Resource": ["arn:aws:s3:::$b/v/leases/*"]}
]}
EOF2
expect_ok "the bucket policy is set (by the owner)" s3_cli PUT "$b?policy=" -T policy.json
host() {
	AWS_ACCESS_KEY_ID=$S3_LIMITED_ACCESS_KEY_ID \
		AWS_SECRET_ACCESS_KEY=$S3_LIMITED_SECRET_ACCESS_KEY \
		STILLPOINT_CACHE_DIR="$T/cache" "$SP" --no-progress --vault "s3://$b/v" "$@"
}
admin() { STILLPOINT_CACHE_DIR="$T/cache-admin" "$SP" --no-progress --vault "s3://$b/v" "$@"; }

head -c 6M /dev/urandom >d.raw
expect_ok "the host inits its vault" host init --chunk-size 1M
expect_ok "backs up" host backup --name vm --disk d.raw
dd if=/dev/urandom of=d.raw bs=1M count=1 seek=2 conv=notrunc status=none
expect_ok "backs up again (its lease removed: the one delete it may do)" host backup --name vm --disk d.raw
check "no lease is left" test -z "$(s3_ls "$b" v/leases/)"
mkdir r
expect_ok "restores" host restore vm --to r
check "equal" cmp d.raw r/d.raw
expect_ok "verifies" host verify

# The host's credential deletes nothing a point needs.
id=$(host points vm --json | jq -r '.[0].id')
expect_fail VaultAuthFailed "the host cannot delete a point" host delete "vm@$id"
check "  ... which is still listed" bash -c "STILLPOINT_CACHE_DIR=$T/c2 AWS_ACCESS_KEY_ID=$S3_LIMITED_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY=$S3_LIMITED_SECRET_ACCESS_KEY '$SP' --vault s3://$b/v points vm --json | jqe 'length == 2'"
chunk=$(s3_ls "$b" v/chunks/ 2>/dev/null | head -n1)
AWS_ACCESS_KEY_ID=$S3_LIMITED_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY=$S3_LIMITED_SECRET_ACCESS_KEY \
	s3_cli DELETE "$b/$chunk" >del.out 2>&1
check "the host's credential cannot delete a chunk" grep -q AccessDenied del.out
check "  ... which is still there" s3_get "$b/$chunk" >/dev/null
expect_ok "the administrator's credential completes the delete" admin delete "vm@$id"
expect_ok "and verifies" admin verify
done_testing

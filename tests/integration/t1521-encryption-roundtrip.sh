#!/bin/bash
# The generated round-trip campaign (tests/roundtrip/, as t2500) against
# encrypted vaults, briefly: in directories and in S3.  (A local vault's
# twin points are compared by their indexes' plaintext SHA-256, as S3
# ones are: sealed with nonces of their own, the same index is other
# bytes.)  Every case's vault
# is made with --encrypt, which a wrapper records, so that the campaign
# cannot pass on vaults that are not encrypted.
. "$(dirname "$0")/lib.sh"
rt=$SP_BUILD/tests/sp-roundtrip
[ -x "$rt" ] || die "no $rt (build first)"
command -v qemu-img >/dev/null || { say "no qemu-img"; exit 77; }
need_s3
export STILLPOINT_S3_RETRIES=4,20
export STILLPOINT_PASSPHRASE=campaign-passphrase
unset STILLPOINT_PASSPHRASE_FILE STILLPOINT_KEY_FILE
jobs=$(($(nproc) + 1))

# A stillpoint whose init makes encrypted vaults and says what it made.
cat >enc-sp <<EOF
#!/bin/bash
args=("\$@") vault=
for ((i = 0; i < \${#args[@]}; i++)); do
	[ "\${args[i]}" = --vault ] && vault=\${args[i + 1]}
	[ "\${args[i]}" = init ] && { "$SP" "\$@" --encrypt || exit; "$SP" --vault "\$vault" info --json | jq -r .encryption >>"$T/inits"; exit 0; }
done
exec "$SP" "\$@"
EOF
chmod 755 enc-sp

"$rt" --stillpoint "$T/enc-sp" --seed 5 --cases 10 --mix raw=3,qcow2=1 \
	--jobs "$jobs" --work "$T" >local.out 2>&1
rc=$?
check "campaign, encrypted local vaults: every case passes" test $rc = 0
[ $rc = 0 ] || sed 's/^/#   /' local.out | tail -n 20
check "  ... 10 vaults, each encrypted" \
	test "$(grep -cx aes-256-gcm inits)" = 10 -a "$(wc -l <inits)" = 10

: >inits
"$rt" --stillpoint "$T/enc-sp" --seed 5 --cases 8 --mix raw=3,qcow2=1 \
	--jobs "$jobs" --work "$T" \
	--vault-base "s3://$S3_BUCKET/rt" >s3.out 2>&1
rc=$?
check "campaign, encrypted S3 vaults: every case passes" test $rc = 0
[ $rc = 0 ] || sed 's/^/#   /' s3.out | tail -n 20
check "  ... 8 vaults, each encrypted" \
	test "$(grep -cx aes-256-gcm inits)" = 8 -a "$(wc -l <inits)" = 8
check "  ... and the bucket holds their key slots" \
	test "$(s3_ls "$S3_BUCKET" rt/ | grep -c '/keys.json$')" -ge 1

done_testing

#!/bin/bash
# stillpoint copy with encrypted vaults: from an encrypted vault into a
# plain one, between two encrypted vaults of different passphrases (a
# directory and an S3 bucket: every chunk sealed anew under the
# destination's key, with the destination's own ids), and back out of S3;
# each copy restores to the source bytes; an incremental point sends only
# its new chunk though every chunk is read; a wrong destination passphrase
# writes nothing.  Skipped where vaults cannot be encrypted.
. "$(dirname "$0")/lib.sh"
"$SP" init --help | grep -q -- '--encrypt' || { say "no encrypted vaults here"; exit 77; }
need_s3
export STILLPOINT_S3_RETRIES=4,20
export STILLPOINT_PASSPHRASE=first-vault-passphrase
printf 'second-vault-passphrase' >p2
chmod 600 p2
printf 'not-the-passphrase' >bad
chmod 600 bad
E1="$T/e1"
P="$T/plain"
E2="s3://$S3_BUCKET/e2"
P2="$T/plain2"

expect_ok "init an encrypted vault" sp --vault "$E1" init --encrypt
expect_ok "init a plain vault" sp --vault "$P" init --no-encrypt
expect_ok "init an encrypted S3 vault with another passphrase" \
	env STILLPOINT_PASSPHRASE=second-vault-passphrase "$SP" --vault "$E2" init --encrypt
expect_ok "init a second plain vault" sp --vault "$P2" init --no-encrypt
mkdir r1 r2 r3 r4
make_raw_disk d.raw 64
cp --sparse=always d.raw d1.raw
expect_ok "back up into the encrypted vault" sp --vault "$E1" backup --name vm1 --disk d.raw
id1=$(sp --vault "$E1" points vm1 --json | jq -r '.[0].id')

sp --vault "$E1" copy vm1 --to "$P" --json >c1.json
check "encrypted -> plain: every data chunk read and stored under SHA-256 ids" \
	jqe '.from_chunk_id == "hmac-sha256" and .to_chunk_id == "sha256" and .points[0].chunks_read == 4 and .points[0].chunks_new == 4' c1.json
expect_ok "restore from the plain copy" sp --vault "$P" restore vm1 --to r1
check "  ... equals the source bytes" cmp d1.raw r1/d.raw
expect_ok "verify the plain copy" sp --vault "$P" verify

expect_fail VaultKeyWrong "a wrong passphrase for the destination" \
	sp --vault "$E1" copy vm1 --to "$E2" --to-passphrase-file bad
check "  ... wrote no point" bash -c "! s3_ls '$S3_BUCKET' e2/points/ | grep -q ."
sp --vault "$E1" copy vm1 --to "$E2" --to-passphrase-file p2 --json >c2.json
check "encrypted -> encrypted S3, another key: resealed" \
	jqe '.to_chunk_id == "hmac-sha256" and .points[0].chunks_read == 4 and .points[0].chunks_new == 4' c2.json
check "  ... under the destination's own ids (no chunk name shared)" \
	bash -c "comm -12 <(cd '$E1/chunks' && find . -type f | sed 's|.*/||' | sort) <(s3_ls '$S3_BUCKET' e2/chunks/ | sed 's|.*/||' | sort) | grep -q . && exit 1 || exit 0"
expect_ok "restore from the S3 copy with its passphrase" \
	env STILLPOINT_PASSPHRASE=second-vault-passphrase "$SP" --vault "$E2" restore vm1 --to r2
check "  ... equals the source bytes" cmp d1.raw r2/d.raw
expect_ok "verify the S3 copy" env STILLPOINT_PASSPHRASE=second-vault-passphrase "$SP" --vault "$E2" verify

poke d.raw 20 4 new
cp --sparse=always d.raw d2.raw
expect_ok "an incremental point" sp --vault "$E1" backup --name vm1 --disk d.raw
STILLPOINT_TO_PASSPHRASE=second-vault-passphrase sp --vault "$E1" copy --all vm1 --to "$E2" --json >c3.json
check "copy --all: the first point skipped, the second sends its one new chunk" \
	jqe '.skipped == 1 and .copied == 1 and .points[1].chunks_read == 5 and .points[1].chunks_new == 1 and .points[1].chunks_present == 4' c3.json

STILLPOINT_PASSPHRASE=second-vault-passphrase sp --vault "$E2" copy --all --to "$P2" --json >c4.json
check "encrypted S3 -> plain directory: both points" jqe '.copied == 2 and .totals.chunks_new == 5' c4.json
id2=$(jq -r '.points[1].point' c4.json)
expect_ok "restore the second point from there" sp --vault "$P2" restore "$id2" --to r3
check "  ... equals the source bytes" cmp d2.raw r3/d.raw
expect_ok "restore the first point" sp --vault "$P2" restore "vm1@$id1" --to r4
check "  ... equals the source bytes" cmp d1.raw r4/d.raw
done_testing

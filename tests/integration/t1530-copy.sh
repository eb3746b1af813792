#!/bin/bash
# stillpoint copy: points copied between vaults, local -> S3, S3 -> local
# and S3 -> S3 (two buckets), with only the chunks the destination lacks;
# restores from each copy equal the source bytes; a second copy sends
# nothing; an incremental point sends only its new chunks; a copy killed
# with kill -9 leaves no point and its rerun sends only what is missing;
# a destination that is no vault is refused with its code.
. "$(dirname "$0")/lib.sh"
need_s3
s3_new_bucket B2
# A vault without encryption (s3:// vaults are encrypted unless told not
# to be, where this build has encrypted vaults).
plain_init() {
	if "$SP" init --help | grep -q -- '--no-encrypt'; then
		sp --vault "$1" init --no-encrypt
	else
		sp --vault "$1" init
	fi
}
export STILLPOINT_S3_RETRIES=4,20
L="$T/vault"
S1="s3://$S3_BUCKET/one"
S2="s3://$B2/two"
L2="$T/back"

expect_ok "init the local vault" sp init
expect_ok "init an S3 vault" plain_init "$S1"
expect_ok "init a second S3 vault in another bucket" plain_init "$S2"
expect_ok "init a second local vault" sp --vault "$L2" init

mkdir r1 r2 r3 r4 r5 r6 r7
# vm1: 64 MiB, data at 0 (3 MiB), 32 MiB (5 MiB) and a tail marker.
make_raw_disk d.raw 64
cp --sparse=always d.raw d1.raw
expect_ok "back up point 1" sp backup --name vm1 --disk d.raw
id1=$(point_ids vm1 | head -1)
# One new 4 MiB chunk: slot 5 (MiB 20-24) was zero.
poke d.raw 20 4 new
cp --sparse=always d.raw d2.raw
expect_ok "back up point 2 (incremental)" sp backup --name vm1 --disk d.raw
id2=$(point_ids vm1 | tail -1)
check "two points" test -n "$id1" -a -n "$id2" -a "$id1" != "$id2"

# -- local -> S3 --
sp copy "vm1@$id1" --to "$S1" --json >c1.json 2>c1.err
check "copy point 1 local -> S3" jqe '.ok and .copied == 1 and .skipped == 0' c1.json
check "  ... stored its 4 data chunks (3 + 5 MiB + tail), no zero slot" \
	jqe '.points[0].chunks_new == 4 and .points[0].chunks_read == 4 and .points[0].chunks_zero == 12' c1.json
check "  ... the S3 store's requests are counted" \
	jqe '.requests.destination.puts >= 4 and .requests.source == null' c1.json
check "S3 vault lists the point under its id" \
	bash -c "sp --vault '$S1' points vm1 --json | jq -e '.[0].id == \"$id1\"' >/dev/null"
check "  ... its manifest says where it came from" \
	bash -c "s3_get '$S3_BUCKET/one/points/vm1/$id1/manifest.json' | jq -e '.copied_from.location == \"$(realpath "$L")\" and (.copied_from.vault | length) == 32' >/dev/null"
expect_ok "restore point 1 from S3" sp --vault "$S1" restore "vm1@$id1" --to r1
check "  ... equals the source bytes" cmp d1.raw r1/d.raw
expect_ok "verify the S3 vault" sp --vault "$S1" verify

sp copy "vm1@$id1" --to "$S1" --json >c2.json
check "copying it again is a no-op: skipped, 0 chunks" \
	jqe '.copied == 0 and .skipped == 1 and .points[0].status == "exists" and .totals.chunks_new == 0 and .totals.chunks_read == 0' c2.json

sp copy vm1 --to "$S1" --json >c3.json
check "copy the newest (incremental) point: 1 new chunk, 4 reused unread" \
	jqe '.copied == 1 and .points[0].point == "vm1@'"$id2"'" and .points[0].chunks_new == 1 and .points[0].chunks_read == 1 and .points[0].chunks_reused == 4' c3.json
# HEADs: gc's sweep marker and point 1's manifest (both once), the new
# chunk (twice); the 4 chunks point 1 names would be 4 more.
check "  ... asking the server only about that chunk (the rest is in point 1)" \
	jqe '.requests.destination.heads <= 4' c3.json
expect_ok "restore point 2 from S3" sp --vault "$S1" restore "vm1@$id2" --to r2
check "  ... equals the source bytes" cmp d2.raw r2/d.raw

# -- S3 -> local --
sp --vault "$S1" copy --all --to "$L2" --json >c4.json
check "copy --all S3 -> local: both points" \
	jqe '.copied == 2 and .totals.chunks_new == 5 and ([.points[].point] == ["vm1@'"$id1"'", "vm1@'"$id2"'"])' c4.json
expect_ok "restore point 1 from the local copy" sp --vault "$L2" restore "vm1@$id1" --to r3
check "  ... equals the source bytes" cmp d1.raw r3/d.raw
expect_ok "restore point 2 from the local copy" sp --vault "$L2" restore "vm1@$id2" --to r4
check "  ... equals the source bytes" cmp d2.raw r4/d.raw
expect_ok "verify the local copy" sp --vault "$L2" verify

# -- S3 -> S3 --
sp --vault "$S1" copy --all vm1 --to "$S2" --json >c5.json
check "copy --all vm1 S3 -> S3 (another bucket)" \
	jqe '.copied == 2 and .totals.chunks_new == 5 and .requests.source.gets >= 5' c5.json
expect_ok "restore point 2 from the second bucket" sp --vault "$S2" restore "vm1@$id2" --to r5
check "  ... equals the source bytes" cmp d2.raw r5/d.raw
sp --vault "$S1" copy --all --to "$S2" --json >c6.json
check "copy --all again: everything skipped, nothing travels" \
	jqe '.copied == 0 and .skipped == 2 and .totals.chunks_read == 0 and .totals.chunks_new == 0 and .requests.destination.puts == 0' c6.json

# -- kill -9 mid-copy, then resume --
random_file big.raw 200 big
expect_ok "back up a 200 MiB random disk" sp backup --name big --disk big.raw
idb=$(point_ids big)
chunks_in() { s3_ls "$B2" two/chunks/ | wc -l; }
before=$(chunks_in)
STILLPOINT_TEST_HOLD=copy:150 "$SP" --no-progress copy big --to "$S2" --threads 2 >k.out 2>k.err &
pid=$!
check "the copy is under way: chunks arrive" wait_for 60 bash -c "[ \$(s3_ls '$B2' two/chunks/ | wc -l) -ge $((before + 6)) ]"
kill -9 $pid
wait $pid 2>/dev/null
mid=$(chunks_in)
check "killed before it finished: some chunks, not all" test $((mid - before)) -ge 6 -a $((mid - before)) -lt 50
check "the destination lists no point of big" \
	bash -c "sp --vault '$S2' points --json | jq -e 'map(select(.name == \"big\")) | length == 0' >/dev/null"
check "  ... and has no manifest of it" \
	bash -c "! s3_ls '$B2' two/points/big/ | grep -q manifest.json"
check "  ... the killed copy's lease is there" \
	bash -c "s3_ls '$B2' two/leases/ | grep -qx 'two/leases/big@$idb'"
sp copy big --to "$S2" --json >c7.json 2>c7.err
check "the rerun completes" jqe '.ok and .copied == 1 and .points[0].point == "big@'"$idb"'"' c7.json
check "  ... sending only the missing chunks" \
	jqe '.points[0].chunks == 50 and .points[0].chunks_new == '"$((50 - (mid - before)))"' and .points[0].chunks_reused == '"$((mid - before))"' and .points[0].chunks_read < 50' c7.json
check "  ... and leaves no lease" bash -c "! s3_ls '$B2' two/leases/ | grep -q big"
expect_ok "restore the resumed copy" sp --vault "$S2" restore big --to r6
check "  ... equals the source bytes" cmp big.raw r6/big.raw

# a second kill -9, into a local vault this time: no point, then resume
STILLPOINT_TEST_HOLD=copy:150 "$SP" --no-progress copy big --to "$L2" --threads 2 >k2.out 2>k2.err &
pid=$!
check "a copy into the local vault is under way" \
	wait_for 60 bash -c "[ \$(find '$L2/chunks' -type f | wc -l) -ge 11 ]"
kill -9 $pid
wait $pid 2>/dev/null
check "the local vault lists no point of big" test ! -e "$L2/points/big"
sp copy big --to "$L2" --json >c8.json
check "the rerun into the local vault completes with fewer than 50 new chunks" \
	jqe '.copied == 1 and .points[0].chunks_new < 50 and .points[0].chunks_reused >= 6' c8.json
check "  ... and left no draft behind" bash -c "[ -z \"\$(ls -A '$L2/tmp')\" ]"
expect_ok "restore it" sp --vault "$L2" restore big --to r7
check "  ... equals the source bytes" cmp big.raw r7/big.raw

# -- refused destinations --
expect_fail VaultNotFound "a missing destination" sp copy vm1 --to "$T/nothing"
mkdir notvault
echo x >notvault/f
expect_fail NotAVault "a directory that is no vault" sp copy vm1 --to notvault
expect_fail NotAVault "an S3 prefix that is no vault" sp copy vm1 --to "s3://$B2/empty"
expect_fail UsageError "the source itself" sp copy vm1 --to "$L"
expect_fail UsageError "no --to" sp copy vm1
expect_fail PointNotFound "a point the source lacks" sp copy vm1@nope --to "$L2"
sp --vault small init --chunk-size 1M >/dev/null
expect_fail UsageError "another chunk size" sp copy vm1 --to small
done_testing

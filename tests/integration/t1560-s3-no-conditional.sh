#!/bin/bash
# An S3 vault on a server without conditional writes (If-None-Match: * on
# PUT), played by tests/s3/no-conditional.py in front of the real RADOS
# Gateway: a server that refuses the header (501 NotImplemented) and one
# that ignores it and overwrites.  Init fails with VaultFeatureUnsupported,
# at once (a 501 is not retried), naming the vault and the fix, and leaves
# no object behind; a vault made on a good server is read through such a
# server, and a backup through it fails the same way, having written
# nothing; a delete works (the trash needs no create-only write), an
# undelete fails and is done again on a good server.  The front in "forward" mode shows it changes nothing
# else.
. "$(dirname "$0")/lib.sh"
need_s3
export STILLPOINT_CACHE_DIR=$T/cache
export STILLPOINT_PASSPHRASE=t1560-pass

front() { # MODE: the front, its port in port-MODE, its log in MODE.log
	python3 "$SP_TOP/tests/s3/no-conditional.py" "port-$1" \
		"${AWS_ENDPOINT_URL#http://}" "$1" "$T/$1.log" >"front-$1.log" 2>&1 &
	at_exit "kill $!"
}
for m in refuse ignore forward; do front $m; done
wait_for 10 test -s port-refuse -a -s port-ignore -a -s port-forward
refuse=http://127.0.0.1:$(cat port-refuse)
ignore=http://127.0.0.1:$(cat port-ignore)
forward=http://127.0.0.1:$(cat port-forward)
B=$S3_BUCKET
via() { # ENDPOINT VAULT ARGS...
	local e=$1 v=$2
	shift 2
	"$SP" --no-progress --s3-endpoint "$e" --vault "$v" "$@"
}
objects() { s3_ls "$B" | sort; }
# json_fail ENDPOINT VAULT ARGS...: run with --json; exit status 1 and the
# error on stderr is VaultFeatureUnsupported (SP1114) naming the vault.
json_fail() {
	local e=$1 v=$2 rc
	shift 2
	via "$e" "$v" --json "$@" >"$T/j.out" 2>"$T/j.err"
	rc=$?
	[ $rc = 1 ] || { echo "exit $rc" >&2; return 1; }
	[ -s "$T/j.err" ] && jq -e --arg v "$v" '.error.code == "VaultFeatureUnsupported" and
		.error.number == 1114 and
		(.error.message | contains($v)) and
		(.error.message | test("conditional writes")) and
		(.error.message | test("use an object store that has them"))' \
		"$T/j.err" >/dev/null || { cat "$T/j.err" >&2; return 1; }
}

# 1. A server that refuses conditional writes: init fails at its first
# write, once (no retries of a 501), and the bucket stays empty.
check "the bucket starts empty" test -z "$(objects)"
start=$SECONDS
check "init --no-encrypt: exit 1, VaultFeatureUnsupported (SP1114), vault and fix named" \
	json_fail "$refuse" "s3://$B/v" init --no-encrypt
check "  ... at once: a 501 is not retried" test $((SECONDS - start)) -lt 3
check "  ... one create-only PUT was refused, of the settings" \
	test "$(cat refuse.log)" = "refuse /$B/v/stillpoint-vault.json 501"
check "  ... and nothing is left in the bucket" test -z "$(objects)"
expect_fail VaultFeatureUnsupported "encrypted init (the default) fails the same way" \
	via "$refuse" "s3://$B/v" init
check "  ... its message names the vault's object and the fix" \
	grep -q "s3://$B/v/.*use an object store that has them" "$T/.err"
check "  ... and nothing is left in the bucket" test -z "$(objects)"

# 2. The same init straight to the server: nothing in the way.
expect_ok "init on the real server afterwards" "$SP" --vault "s3://$B/v" init --no-encrypt
head -c 3M /dev/urandom >d.raw
expect_ok "backup on the real server" "$SP" --vault "s3://$B/v" backup --name vm --disk d.raw
objects >before.txt

# 3. Through the refusing server: reads work, writes fail cleanly.
mkdir r
expect_ok "points through a server without conditional writes" via "$refuse" "s3://$B/v" points
expect_ok "restore through it" via "$refuse" "s3://$B/v" restore vm --to r
check "  ... equal" cmp d.raw r/d.raw
: >refuse.log
check "a backup through it: exit 1, VaultFeatureUnsupported (SP1114)" \
	json_fail "$refuse" "s3://$B/v" backup --name vm --disk d.raw
check "  ... refused at its lease, before any chunk" \
	bash -c "grep -c . refuse.log | grep -qx 1 && grep -q ' /$B/v/leases/vm' refuse.log"
objects >after.txt
check "  ... and the bucket is as before" cmp before.txt after.txt
id=$("$SP" --no-progress --vault "s3://$B/v" points vm --json | jq -r '.[0].id')
expect_ok "a delete through it works (the trash needs no create-only write)" \
	via "$refuse" "s3://$B/v" delete "vm@$id"
: >refuse.log
check "an undelete through it: exit 1, VaultFeatureUnsupported (SP1114)" \
	json_fail "$refuse" "s3://$B/v" undelete "vm@$id"
check "  ... refused at the point's manifest, put back last" \
	bash -c "grep -c . refuse.log | grep -qx 1 && grep -q '/points/vm/.*/manifest.json 501' refuse.log"
check "  ... the point stays in the trash" \
	bash -c "'$SP' --no-progress --vault 's3://$B/v' trash --json | jq -e 'length == 1' >/dev/null"
expect_ok "  ... an undelete on the real server then works" \
	"$SP" --vault "s3://$B/v" undelete "vm@$id"
rm -rf r
mkdir r
expect_ok "  ... and the point restores equal" "$SP" --vault "s3://$B/v" restore "vm@$id" --to r
check "  ... equal" cmp d.raw r/d.raw
expect_ok "a backup on the real server works" "$SP" --vault "s3://$B/v" backup --name vm --disk d.raw

# 4. A server that ignores If-None-Match and overwrites: init writes the
# settings, puts them create-only again, finds that let through, takes
# the vault away and refuses.
check "init on a server that ignores the header: exit 1, VaultFeatureUnsupported" \
	json_fail "$ignore" "s3://$B/w" init --no-encrypt
check "  ... saying it ignores them" \
	jqe '.error.message | test("ignores conditional writes")' "$T/j.err"
check "  ... the settings were put create-only twice, both let through" \
	test "$(grep -c "^ignore /$B/w/stillpoint-vault.json 200$" ignore.log)" = 2
check "  ... and nothing is left under its prefix" test -z "$(s3_ls "$B" w/)"
expect_fail VaultFeatureUnsupported "an encrypted init there fails the same way" \
	via "$ignore" "s3://$B/w" init
check "  ... leaving neither keys nor settings" test -z "$(s3_ls "$B" w/)"
expect_ok "the same init on the real server works" "$SP" --vault "s3://$B/w" init

# 5. The front alone changes nothing: init, backup, restore through it.
expect_ok "init through the front in forward mode" via "$forward" "s3://$B/x" init --no-encrypt
expect_ok "backup through it" via "$forward" "s3://$B/x" backup --name vm --disk d.raw
mkdir r2
expect_ok "restore through it" via "$forward" "s3://$B/x" restore vm --to r2
check "  ... equal" cmp d.raw r2/d.raw
check "  ... its create-only PUTs were answered by the server" \
	bash -c "grep -q 'forward /$B/x/stillpoint-vault.json 200' forward.log && grep -q 'forward /$B/x/chunks/' forward.log"
done_testing

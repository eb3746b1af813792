#!/bin/bash
# The S3 client (lib/storage/s3_client) against a real S3 server (Ceph
# RADOS Gateway, tests/s3/s3-server.sh), driven by build/tests/s3probe:
# byte round trips, ranges, listings past 1000 keys and with a delimiter,
# awkward keys, create-only PUTs, delete and copy, the error codes for bad
# credentials, a missing bucket, an unreachable or failing server and a
# skewed clock, object lock, and the capability probe.  What the client
# stores is checked with plain curl (s3_cli), not with the client itself.
. "$(dirname "$0")/lib.sh"
need_s3
probe="$SP_BUILD/tests/s3probe"
B="s3://$S3_BUCKET/vault"
# fast retries: a failing server must not slow the suite down
export STILLPOINT_S3_RETRIES=4,20

# -- bytes in, bytes out --
random_file big 5 one
head -c 1 big >one-byte
: >empty
expect_ok "open a bucket" "$probe" "$B" open
expect_ok "put 5 MiB" "$probe" "$B" put data/big big
expect_ok "put 1 byte" "$probe" "$B" put data/one one-byte
expect_ok "put 0 bytes" "$probe" "$B" put data/empty empty
"$probe" "$B" get data/big >got
check "get returns the same 5 MiB" cmp big got
check "the server stored the same bytes under the prefix" \
	bash -c "s3_get '$S3_BUCKET/vault/data/big' | cmp - big"
"$probe" "$B" get data/empty >got
check "an empty object comes back empty" test ! -s got
expect_fail VaultRemoteError "get refuses an object above the limit" \
	"$probe" "$B" get data/big 1000
"$probe" "$B" range data/big 1048575 70000 >got
check "a range from inside the object" \
	bash -c "tail -c +1048576 big | head -c 70000 | cmp - got"
"$probe" "$B" range data/big $((5 * 1048576 - 10)) 100 >got
check "a range over the end is short" \
	bash -c "tail -c 10 big | cmp - got"
"$probe" "$B" range data/big $((5 * 1048576 + 5)) 100 >got
check "a range past the end is empty" test ! -s got
check "head gives the size" bash -c "'$probe' '$B' head data/big | grep -qx '5242880 [0-9]*'"
mtime=$("$probe" "$B" head data/big | cut -d' ' -f2)
check "head gives the modification time" test $((mtime - $(date +%s))) -lt 120 -a $((mtime - $(date +%s))) -gt -120

"$probe" "$B" head data/nothing >/dev/null 2>&1
check "head of an absent key says absent (3)" test $? = 3
"$probe" "$B" get data/nothing >/dev/null 2>&1
check "get of an absent key says absent (3)" test $? = 3
"$probe" "$B" range data/nothing 0 10 >/dev/null 2>&1
check "range of an absent key says absent (3)" test $? = 3

# -- awkward keys: encoded once, signed right, stored as given --
printf 'odd' >odd
for k in 'sp ace' 'plus+sign' 'per%cent' 'unicodé/ключ' 'a=b&c;d' 'tilde~star*' 'dots/../x'; do
	expect_ok "put key '$k'" "$probe" "$B" put "odd/$k" odd
	check "get key '$k'" bash -c "'$probe' '$B' get 'odd/$k' | grep -qx odd"
	check "the server has key 'vault/odd/$k'" bash -c "s3_ls '$S3_BUCKET' 'vault/odd/' | grep -qxF 'vault/odd/$k'"
done

# -- listings: continuation past 1000 keys, delimiter, relative keys --
expect_ok "put 1100 keys from 8 threads" "$probe" "$B" many 1100 many/k 8
"$probe" --stats "$B" list many/ >list 2>stats
check "all 1100 keys listed" test "$(grep -c '^K many/k' list)" = 1100
check "keys are relative to the prefix" bash -c "! grep -q ' vault/' list"
check "the listing took two pages" grep -q 'lists=3 ' stats # open + 2
check "no key listed twice" test "$(sort -u list | wc -l)" = 1100
"$probe" "$B" list "" / >list
check "a delimiter gives common prefixes" bash -c "grep -qx 'P data/' list && grep -qx 'P many/' list && grep -qx 'P odd/' list"
check "...and no object below them" bash -c "! grep -q '^K' list"
"$probe" "$B" list odd/ / >list
check "prefixes with awkward keys" grep -qx 'P odd/unicodé/' list
"$probe" "$B" list nothing/ >list
check "an empty listing" test ! -s list

# -- create only --
expect_ok "create-only put of a new key" "$probe" "$B" put once/k one-byte create
"$probe" "$B" put once/k big create 2>/dev/null
check "a second create-only put says exists (4)" test $? = 4
check "...and left the first object" bash -c "'$probe' '$B' get once/k | cmp - one-byte"
expect_ok "a plain put overwrites" "$probe" "$B" put once/k big
check "...it did" bash -c "'$probe' '$B' get once/k | cmp - big"

# -- delete, copy --
expect_ok "delete" "$probe" "$B" delete once/k
check "...the object is gone" bash -c "! s3_ls '$S3_BUCKET' vault/once/ | grep -q ."
expect_ok "deleting an absent key succeeds" "$probe" "$B" delete once/k
expect_ok "copy" "$probe" "$B" copy data/big copy/big
check "the copy has the same bytes" bash -c "s3_get '$S3_BUCKET/vault/copy/big' | cmp - big"
expect_ok "copy a key with awkward characters" "$probe" "$B" copy 'odd/sp ace' 'copy/plus+sp ace'
check "...it arrived" bash -c "'$probe' '$B' get 'copy/plus+sp ace' | grep -qx odd"
"$probe" "$B" copy data/nothing copy/x 2>/dev/null
check "copying an absent key says absent (3)" test $? = 3

# -- tampering is seen: the stored object changes, the client reads it --
printf 'tampered' >tampered
s3_put "$S3_BUCKET/vault/data/one" tampered
check "a changed object is read as changed" bash -c "'$probe' '$B' get data/one | grep -qx tampered"

# -- capabilities --
"$probe" "$B" probe >probe.out
check "probe: conditional put works, no object lock" grep -qx 'conditional_put=true object_lock=false' probe.out
check "the probe left no object behind" bash -c "! s3_ls '$S3_BUCKET' vault/.sp-probe | grep -q ."

# -- errors --
expect_fail VaultAuthFailed "a wrong secret" env AWS_SECRET_ACCESS_KEY=wrong "$probe" "$B" open
check "...the secret is not in the message" bash -c "! grep -q wrong '$T/.err'"
check "...the message names the fix" grep -q AWS_SECRET_ACCESS_KEY "$T/.err"
expect_fail VaultAuthFailed "an unknown access key" env AWS_ACCESS_KEY_ID=NOSUCHKEY "$probe" "$B" open
expect_fail VaultAuthFailed "a user without rights on the bucket" \
	env AWS_ACCESS_KEY_ID="$S3_LIMITED_ACCESS_KEY_ID" AWS_SECRET_ACCESS_KEY="$S3_LIMITED_SECRET_ACCESS_KEY" \
	"$probe" "$B" open
expect_fail VaultNotFound "a missing bucket" "$probe" "s3://no-such-bucket-$RANDOM/x" open
expect_fail VaultAuthFailed "no credentials" env -u AWS_ACCESS_KEY_ID "$probe" "$B" open
expect_fail UsageError "a bad bucket name" "$probe" "s3://Bad_Bucket/x" open
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
expect_fail VaultUnreachable "nobody listens at the endpoint" "$probe" --endpoint "http://127.0.0.1:$port" "$B" open
expect_fail VaultUnreachable "a host name that does not resolve" "$probe" --endpoint "http://no-such-host.invalid" "$B" open
expect_fail VaultUnreachable "TLS to a plain HTTP server" "$probe" --endpoint "https://${AWS_ENDPOINT_URL#http://}" "$B" open

# -- clock skew: RGW refuses requests more than 15 minutes off --
if command -v faketime >/dev/null; then
	expect_fail VaultClockSkew "a host clock 20 minutes slow" \
		env FAKETIME_DONT_FAKE_MONOTONIC=1 faketime -f -20m "$probe" "$B" open
	check "...the message gives the difference" grep -qE 'by 1(19[0-9]|20[0-9]) s \(it is behind' "$T/.err"
else
	say "# faketime missing: clock skew not tested (tools/setup-debian.sh installs it)"
fi

# -- retries: a scripted server answers 503 N times, then 200 --
cat >flaky.py <<'PY'
import http.server, sys
fails = int(sys.argv[2])
class H(http.server.BaseHTTPRequestHandler):
    n = 0
    def answer(self):
        H.n += 1
        open("flaky.count", "w").write(str(H.n))
        n = int(self.headers.get("Content-Length") or 0)
        if n: self.rfile.read(n)
        if H.n <= fails:
            body = b"<Error><Code>SlowDown</Code><Message>busy</Message></Error>"
            self.send_response(503)
        else:
            body = b"<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>"
            self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    do_GET = do_PUT = do_DELETE = answer
    def log_message(self, *a): pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
PY
start_flaky() { # fails
	rm -f flaky.port flaky.count
	python3 flaky.py x "$1" >flaky.port &
	flaky_pid=$!
	at_exit kill "$flaky_pid"
	wait_for 5 test -s flaky.port
	flaky=http://127.0.0.1:$(cat flaky.port)
}
start_flaky 2
"$probe" --stats --endpoint "$flaky" "$B" open 2>stats
check "two 503 answers are retried, then it works" test $? = 0
check "...the retries are counted" grep -q 'requests=3 .*retries=2 ' stats
check "...the server saw 3 requests" test "$(cat flaky.count)" = 3
kill "$flaky_pid"
start_flaky 1000
expect_fail VaultRemoteError "a server that keeps answering 503 fails after the attempts" \
	"$probe" --endpoint "$flaky" "$B" open
check "...the message has the status and the code" grep -q '503 SlowDown' "$T/.err"
check "...after 4 attempts (STILLPOINT_S3_RETRIES)" test "$(cat flaky.count)" = 4
kill "$flaky_pid"
# a server that accepts and never answers: the stall timeout ends it
python3 -c '
import socket, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(8)
print(s.getsockname()[1], flush=True)
time.sleep(120)' >hang.port &
hang_pid=$!
at_exit kill "$hang_pid"
wait_for 5 test -s hang.port
start=$SECONDS
expect_fail VaultUnreachable "a hung server times out" env STILLPOINT_S3_TIMEOUT=1 STILLPOINT_S3_RETRIES=2,10 \
	"$probe" --endpoint "http://127.0.0.1:$(cat hang.port)" "$B" open
check "...within the stall limit" test $((SECONDS - start)) -lt 15
kill "$hang_pid"

# -- object lock --
s3_new_bucket LOCKED lock || die "cannot create a bucket with object lock"
L="s3://$LOCKED/v"
"$probe" "$L" probe >probe.out
check "probe: object lock is on" grep -q 'object_lock=true' probe.out
# RGW 16 ignores If-None-Match on a versioned bucket: the probe must say
# what the server does, whatever that is.
s3_put "$LOCKED/cond" one-byte
if s3_cli PUT "$LOCKED/cond" -H 'If-None-Match: *' -T one-byte >/dev/null 2>&1; then
	want=false
else
	want=true
fi
check "probe: conditional put as the server does it ($want)" grep -q "conditional_put=$want" probe.out
expect_ok "put with a retention date" "$probe" "$L" put locked/k one-byte retain $(($(date +%s) + 3600)) GOVERNANCE
expect_fail ObjectLocked "deleting a retained object is refused" "$probe" "$L" delete locked/k
check "...the object is still there" bash -c "'$probe' '$L' get locked/k | cmp - one-byte"
expect_ok "an object without retention deletes" "$probe" "$L" put free/k one-byte
expect_ok "...delete" "$probe" "$L" delete free/k
check "...and no version of it is left" bash -c "! s3_cli GET '$LOCKED?prefix=v%2Ffree%2F&versions=' | s3_xml_values VersionId | grep -q ."
expect_fail VaultRemoteError "retention on a bucket without object lock is refused" \
	"$probe" "$B" put locked/k one-byte retain $(($(date +%s) + 3600))

done_testing

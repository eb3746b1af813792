#!/bin/bash
# An S3 vault over TLS with a private CA (a TLS front on the real RADOS
# Gateway, its certificate signed by a CA made here): refused while the CA
# is not trusted (TLS is always verified), usable with --s3-ca FILE or
# AWS_CA_BUNDLE, refused for a certificate of another name.
. "$(dirname "$0")/lib.sh"
need_s3
command -v openssl >/dev/null || { say "no openssl"; exit 77; }

# A CA, and a certificate for 127.0.0.1 and one for another name.
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=Test CA" \
	-keyout ca.key -out ca.pem 2>/dev/null
for n in good bad; do
	cn=127.0.0.1
	san="IP:127.0.0.1"
	[ $n = bad ] && { cn=elsewhere.example; san="DNS:elsewhere.example"; }
	openssl req -newkey rsa:2048 -nodes -subj "/CN=$cn" -keyout $n.key \
		-out $n.csr 2>/dev/null
	printf 'subjectAltName=%s\n' "$san" >$n.ext
	openssl x509 -req -in $n.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
		-days 2 -extfile $n.ext -out $n.pem 2>/dev/null
done
check "certificates made" test -s good.pem -a -s bad.pem

front() { # CERT: a TLS listener forwarding to the gateway
	python3 "$SP_TOP/tests/s3/forward.py" "port-$1" \
		"${AWS_ENDPOINT_URL#http://}" "$1" >"front-$1.log" 2>&1 &
	at_exit "kill $!"
}
front good
front bad
wait_for 10 test -s port-good -a -s port-bad
good=https://127.0.0.1:$(cat port-good)
bad=https://127.0.0.1:$(cat port-bad)
V="s3://$S3_BUCKET/v"
export STILLPOINT_CACHE_DIR=$T/cache

expect_fail VaultUnreachable "an untrusted CA is refused" \
	"$SP" --s3-endpoint "$good" --vault "$V" init
check "  ... saying it is TLS" grep -qi 'tls\|certificate\|ssl' "$T/.err"
expect_ok "with --s3-ca the vault is made over TLS" \
	"$SP" --s3-endpoint "$good" --s3-ca ca.pem --vault "$V" init --no-encrypt
head -c 3M /dev/urandom >d.raw
AWS_CA_BUNDLE=$T/ca.pem AWS_ENDPOINT_URL=$good expect_ok \
	"AWS_CA_BUNDLE and AWS_ENDPOINT_URL do the same" "$SP" --vault "$V" backup --name vm --disk d.raw
mkdir r
expect_ok "restore over TLS" "$SP" --s3-endpoint "$good" --s3-ca ca.pem --vault "$V" restore vm --to r
check "equal" cmp d.raw r/d.raw
expect_fail VaultUnreachable "a certificate for another name is refused, CA trusted or not" \
	"$SP" --s3-endpoint "$bad" --s3-ca ca.pem --vault "$V" points
done_testing

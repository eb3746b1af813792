# SPDX-License-Identifier: LGPL-2.1-or-later
# Shared helpers for the numbered integration tests.  Each test runs in its
# own temporary directory ($T), removed at exit along with loop devices and
# mounts it registered with at_exit.
set -u
: "${SP:?run through tests/run.sh}"
T=$(mktemp -d "${TMPDIR:-/var/tmp}/sp-it-XXXXXX")
export STILLPOINT_VAULT="$T/vault"
cd "$T"
_cleanups=()
at_exit() { _cleanups+=("$*"); }
_finish() {
	local i
	for ((i = ${#_cleanups[@]} - 1; i >= 0; i--)); do
		eval "${_cleanups[i]}" >/dev/null 2>&1 || true
	done
	[ -n "${SP_TEST_KEEP:-}" ] || rm -rf "$T"
}
trap _finish EXIT
_failures=0
_count=0

say() { printf '%s\n' "$*"; }
die() { say "FATAL: $*"; exit 1; }
need_root() { [ "$(id -u)" = 0 ] || { say "needs root"; exit 77; }; }

# expect_ok "description" command...: the command must succeed.
expect_ok() {
	local what=$1; shift
	_count=$((_count + 1))
	if "$@" >"$T/.out" 2>"$T/.err"; then
		say "ok - $what"
	else
		say "not ok - $what (exit $?): $*"
		sed 's/^/#   /' "$T/.out" "$T/.err" | tail -n 20
		_failures=$((_failures + 1))
	fi
}

# expect_fail CODE "description" command...: the command must fail with a
# non-zero exit and name the stable error CODE on stderr.
expect_fail() {
	local code=$1 what=$2 rc; shift 2
	_count=$((_count + 1))
	"$@" >"$T/.out" 2>"$T/.err"
	rc=$?
	if [ $rc != 0 ] && grep -q "$code" "$T/.err"; then
		say "ok - $what ($code)"
	else
		say "not ok - $what: expected failure $code, got exit $rc: $*"
		sed 's/^/#   /' "$T/.out" "$T/.err" | tail -n 20
		_failures=$((_failures + 1))
	fi
}

# check "description" command...: a plain assertion.
check() {
	local what=$1; shift
	_count=$((_count + 1))
	if "$@"; then
		say "ok - $what"
	else
		say "not ok - $what: $*"
		_failures=$((_failures + 1))
	fi
}

done_testing() {
	say "# $_count checks, $_failures failed"
	[ $_failures = 0 ] || exit 1
	exit 0
}

sp() { "$SP" --no-progress "$@"; }

# A reproducible pseudo-random file of $2 MiB with seed $3.
random_file() {
	openssl enc -aes-128-ctr -nosalt -pass "pass:$3" -in /dev/zero 2>/dev/null |
		head -c "$(($2 * 1048576))" >"$1"
}

# Write $3 MiB of seeded random data into image $1 at MiB offset $2.
poke() {
	openssl enc -aes-128-ctr -nosalt -pass "pass:$4" -in /dev/zero 2>/dev/null |
		head -c "$(($3 * 1048576))" |
		dd of="$1" bs=1M seek="$2" conv=notrunc status=none
}

# A sparse raw image: $2 MiB virtual, data at a few places.
make_raw_disk() {
	truncate -s "${2}M" "$1"
	poke "$1" 0 3 "${3:-a}"
	poke "$1" $(($2 / 2)) 5 "${3:-a}b"
	printf 'tail-marker' | dd of="$1" bs=1 seek=$(($2 * 1048576 - 11)) conv=notrunc status=none
}

point_ids() { sp points "$1" --json | jq -r '.[].id'; }

# jq -e that fails on empty input (plain jq -e exits 0 when given nothing,
# which would let a check pass when the command feeding it failed).
jqe() {
	local filter=$1 in
	shift
	if [ $# -gt 0 ]; then in=$(cat "$@") || return 1; else in=$(cat); fi
	[ -n "$in" ] || { echo "jqe: empty input" >&2; return 1; }
	printf '%s' "$in" | jq -e "$filter" >/dev/null
}
# wait_for SECONDS COMMAND...: poll COMMAND every 0.1 s until it succeeds;
# fails when SECONDS have passed first.
wait_for() {
	local end=$((SECONDS + $1))
	shift
	until "$@"; do
		[ $SECONDS -lt $end ] || return 1
		sleep 0.1
	done
}
# Checks run some pipelines through bash -c: give them the helpers.
export -f sp jqe point_ids wait_for
export SP

# ---- S3 (tests/s3/s3-server.sh: Ceph RADOS Gateway on 127.0.0.1) ----

# need_s3 [lock]: start the S3 test server unless it runs (one start at a
# time, tests may run in parallel), export AWS_ACCESS_KEY_ID,
# AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL and AWS_REGION, and make a
# fresh bucket for this test, S3_BUCKET (with object lock when asked),
# removed with all its objects at exit.  Skips (77) when the server's
# packages are missing and cannot be installed.
need_s3() {
	local env
	if ! command -v radosgw >/dev/null && [ "$(id -u)" != 0 ]; then
		say "needs radosgw (run tools/setup-debian.sh)"
		exit 77
	fi
	env=$(flock "${SP_S3_DIR:-/var/tmp/sp-s3}.lock" \
		"$SP_TOP/tests/s3/s3-server.sh" start 2>"$T/.s3-start" </dev/null) ||
		{ cat "$T/.s3-start"; die "the S3 test server did not start"; }
	eval "$env"
	s3_new_bucket S3_BUCKET "${1:-}" || die "cannot create a test bucket"
	export S3_BUCKET
}

# s3_new_bucket VAR [lock]: create a uniquely named bucket (from the
# test's name), removed at exit, and set VAR to its name.
s3_new_bucket() {
	local base name hdr=()
	base=$(basename "$0" .sh | tr 'A-Z_' 'a-z-' | tr -cd 'a-z0-9-' | cut -c1-40)
	name="$base-$(od -An -N5 -tx1 /dev/urandom | tr -d ' \n')"
	[ "${2:-}" = lock ] && hdr=(-H 'x-amz-bucket-object-lock-enabled: true')
	s3_cli PUT "$name" "${hdr[@]}" >/dev/null || return 1
	at_exit s3_remove_bucket "$name"
	printf -v "$1" '%s' "$name"
}

# s3_cli METHOD BUCKET[/KEY][?QUERY] [curl args...]: one signed request to
# the test server (KEY and QUERY already percent-encoded, the query in
# canonical order); the answer's body on stdout; fails on HTTP >= 400.
# curl 7.88 signs but does not hash the payload: it is sent unsigned.
s3_cli() {
	local method=$1 path=$2
	shift 2
	curl -sS --fail-with-body -X "$method" --aws-sigv4 "aws:amz:${AWS_REGION:-us-east-1}:s3" \
		--user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
		-H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' "$@" \
		"$AWS_ENDPOINT_URL/$path"
}
s3_put() { s3_cli PUT "$1" -T "$2" >/dev/null; } # BUCKET/KEY FILE
s3_get() { s3_cli GET "$1"; }                     # BUCKET/KEY
s3_rm() { s3_cli DELETE "$1" >/dev/null; }        # BUCKET/KEY
# s3_ls BUCKET [PREFIX]: the keys, one a line (the first 1000).
s3_ls() {
	local q=list-type=2
	[ -n "${2:-}" ] && q="$q&prefix=$(s3_urlencode "$2")"
	s3_cli GET "$1?$q" | s3_xml_values Key
}
s3_urlencode() {
	python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe="-_.~"))' "$1"
}
# s3_xml_values TAG: the text of every TAG element of the XML on stdin.
s3_xml_values() {
	python3 -c '
import sys, xml.etree.ElementTree as ET
for e in ET.fromstring(sys.stdin.buffer.read()).iter():
    if e.tag.split("}")[-1] == sys.argv[1]:
        print(e.text or "")' "$1"
}

# Every version of every object (GOVERNANCE retention is bypassed), then
# the bucket.  Objects under COMPLIANCE retention keep their bucket alive
# until the server is stopped.
s3_remove_bucket() {
	local b=$1 i key ver
	for i in 1 2 3 4 5 6 7 8 9 10; do
		s3_cli GET "$b?versions=" 2>/dev/null | python3 -c '
import sys, urllib.parse, xml.etree.ElementTree as ET
for e in ET.fromstring(sys.stdin.buffer.read()):
    t = e.tag.split("}")[-1]
    if t in ("Version", "DeleteMarker"):
        k = v = ""
        for c in e:
            if c.tag.endswith("Key"): k = c.text or ""
            if c.tag.endswith("VersionId"): v = c.text or ""
        print(urllib.parse.quote(k, safe="-_.~/"), urllib.parse.quote(v, safe="-_.~"))' >"$T/.s3-versions" || break
		[ -s "$T/.s3-versions" ] || break
		while read -r key ver; do
			s3_cli DELETE "$b/$key?versionId=$ver" \
				-H 'x-amz-bypass-governance-retention: true' >/dev/null 2>&1
		done <"$T/.s3-versions"
	done
	s3_cli DELETE "$b" >/dev/null
}
export -f s3_cli s3_put s3_get s3_rm s3_ls s3_urlencode s3_xml_values

# need_guestfs: skip (77) unless libguestfs can run here; then gfish ARGS
# runs guestfish (to make guest disk images: its appliance writes them, the
# host's kernel never mounts them) with the settings stillpoint picks for
# itself: the direct backend, TCG inside a VM, and on a host without an
# installed kernel the one tools/appliance-kernel.sh unpacked.
need_guestfs() {
	local k
	command -v guestfish >/dev/null ||
		{ say "needs guestfish (run tools/setup-debian.sh)"; exit 77; }
	_gfish_env=(LIBGUESTFS_BACKEND=direct)
	grep -qw hypervisor /proc/cpuinfo &&
		_gfish_env+=(LIBGUESTFS_BACKEND_SETTINGS=force_tcg)
	if ! ls /boot/vmlinuz-* >/dev/null 2>&1; then
		k=$(ls -d /var/cache/stillpoint/appliance-kernel/linux-image-* 2>/dev/null | tail -n1)
		[ -n "$k" ] || { say "needs an appliance kernel (run tools/appliance-kernel.sh)"; exit 77; }
		local v=${k##*/linux-image-}
		_gfish_env+=(SUPERMIN_KERNEL="$k/boot/vmlinuz-$v"
			SUPERMIN_MODULES="$k/lib/modules/$v" SUPERMIN_KERNEL_VERSION="$v"
			LIBGUESTFS_CACHEDIR=/var/cache/stillpoint/appliance)
	fi
}
gfish() { env "${_gfish_env[@]}" guestfish "$@"; }

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

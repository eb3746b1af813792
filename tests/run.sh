#!/bin/bash
# Run the test suite: unit executables, then numbered integration scripts.
# Prints one line per test and ends with "N passed, N failed, N skipped".
# SP_ONLY=unit|integration limits the run; SP_TESTS=glob picks scripts.
set -u
build=${1:-build}
build=$(cd "$build" && pwd)
top=$(cd "$(dirname "$0")/.." && pwd)
export SP="$build/stillpoint" SP_TOP="$top" SP_BUILD="$build"
pass=0 fail=0 skip=0 failed=()
logdir=$(mktemp -d /tmp/sp-tests-XXXXXX)
# Tests that need S3 start tests/s3/s3-server.sh on first use (need_s3).
# A run stops it at the end only if the run started it: a server someone
# started by hand, or an earlier run kept (SP_S3_KEEP=1), stays up.
s3_server="$top/tests/s3/s3-server.sh"
s3_was_running=no
"$s3_server" status >/dev/null 2>&1 && s3_was_running=yes

run_one() { # name, command...
	local name=$1; shift
	local log="$logdir/${name//\//_}.log" start=$SECONDS rc
	local limit=${SP_TEST_TIMEOUT:-300}
	# A hung test must fail alone, well inside CI's budget for the suite.
	# A script that needs longer says so in its first lines:
	# "# sp-timeout: SECONDS".
	if [ -z "${SP_TEST_TIMEOUT:-}" ] && [ "${2:-}" ] && [ -f "$2" ]; then
		local want
		want=$(head -n 20 "$2" | sed -n 's/^# sp-timeout: \([0-9][0-9]*\)$/\1/p')
		[ -n "$want" ] && limit=$want
	fi
	timeout -k 10 "$limit" "$@" >"$log" 2>&1
	rc=$?
	if [ $rc = 0 ]; then
		pass=$((pass + 1)); echo "ok   $name ($((SECONDS - start))s)"
	elif [ $rc = 77 ]; then
		skip=$((skip + 1)); echo "skip $name: $(tail -n1 "$log")"
	else
		fail=$((fail + 1)); failed+=("$name")
		echo "FAIL $name (exit $rc, $((SECONDS - start))s)"
		sed 's/^/    | /' "$log" | tail -n 40
	fi
}

if [ "${SP_ONLY:-unit}" = unit ] || [ -z "${SP_ONLY:-}" ]; then
	for t in "$build"/tests/test_*; do
		[ -f "$t" ] && [ -x "$t" ] || continue
		args=()
		case $(basename "$t") in
		test_fuzz_*) args=("$top/tests/fuzz/corpus/${t##*/test_fuzz_}") ;;
		esac
		if [ -n "${SP_VALGRIND:-}" ]; then
			run_one "unit/$(basename "$t")" valgrind -q \
				--error-exitcode=9 --leak-check=full "$t" "${args[@]}"
		else
			run_one "unit/$(basename "$t")" "$t" "${args[@]}"
		fi
	done
fi
if [ "${SP_ONLY:-integration}" = integration ] || [ -z "${SP_ONLY:-}" ]; then
	for t in "$top"/tests/integration/${SP_TESTS:-t[0-9]*.sh}; do
		[ -f "$t" ] || continue
		run_one "integration/$(basename "$t")" bash "$t"
	done
fi
rm -rf "$logdir"
if [ $s3_was_running = no ] && [ -z "${SP_S3_KEEP:-}" ] &&
	"$s3_server" status >/dev/null 2>&1; then
	"$s3_server" stop 2>/dev/null
fi
[ $fail = 0 ] || echo "failed: ${failed[*]}"
echo "$pass passed, $fail failed, $skip skipped"
[ $fail = 0 ]

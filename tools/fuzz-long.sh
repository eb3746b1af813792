#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Run every libFuzzer target for FUZZ_RUNS executions (default ten
# million) on top of the stored corpus, one after the other, and print a
# table of executions, time and outcome.  Logs: build-fuzz/fuzz-long-*.log.
#   tools/fuzz-long.sh [TARGET...]      (make fuzz-long)
set -uo pipefail
cd "$(dirname "$0")/.."
runs=${FUZZ_RUNS:-10000000}
targets=${*:-${FUZZ_TARGETS:?}}
status=0
printf '%-16s %14s %9s  %s\n' target executions seconds result
for f in $targets; do
	mkdir -p "build-fuzz/corpus-$f"
	log=build-fuzz/fuzz-long-$f.log
	start=$SECONDS
	build-fuzz/tests/fuzz_"$f" -runs="$runs" -print_final_stats=1 \
		"build-fuzz/corpus-$f" "tests/fuzz/corpus/$f" >"$log" 2>&1
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
	result=clean
	[ $rc = 0 ] || { result="FAILED (exit $rc, see $log)"; status=1; }
	printf '%-16s %14s %9s  %s\n' "$f" "${execs:-?}" $((SECONDS - start)) "$result"
done
exit $status

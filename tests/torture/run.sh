#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Long campaigns, not part of `make check`: every tests/torture/c*.sh in
# turn (or those matching SP_CAMPAIGNS, a glob).  Each campaign picks a
# random seed unless SP_SEED is set, prints the seed it used and how to
# replay it, and ends with a line "campaign NAME: N runs, F failures".
#
#   make torture                         # all campaigns, random seeds
#   SP_SEED=1234 make torture            # replay
#   SP_CAMPAIGNS='c*kill*' make torture  # one campaign
set -u
build=${1:-build}
build=$(cd "$build" && pwd)
top=$(cd "$(dirname "$0")/../.." && pwd)
export SP="$build/stillpoint" SP_TOP="$top" SP_BUILD="$build"
fail=0
for c in "$top"/tests/torture/${SP_CAMPAIGNS:-c*.sh}; do
	[ -f "$c" ] || continue
	echo "== $(basename "$c" .sh)"
	bash "$c" || fail=$((fail + 1))
done
echo "torture: $fail campaign(s) failed"
[ $fail = 0 ]

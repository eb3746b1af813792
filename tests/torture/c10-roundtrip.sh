#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Campaign roundtrip: generated round trips (tests/roundtrip/) from a random
# seed for SP_TORTURE_SECONDS (default 600), with more qcow2 images and
# loop devices than the fixed-seed run in `make check`.  Each failing case
# prints its own replay command; the campaign prints its seed.
#
#   SP_SEED=1234 SP_CAMPAIGNS='c10*' make torture   # the same cases again
set -u
: "${SP:?run through tests/torture/run.sh}" "${SP_BUILD:?}"
rt=$SP_BUILD/tests/sp-roundtrip
secs=${SP_TORTURE_SECONDS:-600}
seed=${SP_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
work=${TMPDIR:-/var/tmp}
scratch=$work
if [ -w /dev/shm ] &&
	[ "$(df -Pk /dev/shm | awk 'NR == 2 { print $4 }')" -gt 3000000 ]; then
	scratch=/dev/shm
fi
echo "campaign roundtrip: seed $seed, $secs s"
echo "replay: SP_SEED=$seed SP_TORTURE_SECONDS=$secs SP_CAMPAIGNS='c10*' make torture"
out=$(mktemp "$work/c10-roundtrip-XXXXXX")
[ -x "$rt" ] || { echo "no $rt (build first)"; echo "campaign roundtrip: 0 runs, 1 failures"; exit 1; }
"$rt" --stillpoint "$SP" --seed "$seed" --seconds "$secs" \
	--mix raw=6,qcow2=3,loop=1 --jobs "$(nproc)" --work "$work" \
	--scratch "$scratch" --keep-failed --replay-as "$rt" 2>&1 | tee "$out"
rc=${PIPESTATUS[0]}
runs=$(sed -n 's/^sp-roundtrip: \([0-9]*\) cases.*/\1/p' "$out")
fails=$(sed -n 's/^sp-roundtrip: [0-9]* cases.*), \([0-9]*\) failed.*/\1/p' "$out")
rm -f "$out"
[ -n "$runs" ] || { runs=0; fails=1; }
[ $rc = 0 ] || [ "${fails:-0}" -gt 0 ] || fails=1
echo "campaign roundtrip: $runs runs, $fails failures"
[ "$fails" = 0 ]

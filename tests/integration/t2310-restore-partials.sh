#!/bin/bash
# kill -9 of a restore leaves its temporary ".NAME.partial-*" file; the
# next restore into the same directory removes every such file whose owner
# is dead (its lock is free), and never the one of a restore still running.
. "$(dirname "$0")/lib.sh"

sp init --chunk-size 1M >/dev/null
truncate -s 16M d.img x.img
poke d.img 0 12 ddata
poke x.img 0 12 xdata
expect_ok "back up d" sp backup --name vd --disk d.img
expect_ok "back up x" sp backup --name vx --disk x.img
mkdir r
partials() { find r -maxdepth 1 -name "$1" | wc -l; }

# Restores held at each write (200 ms), killed at random moments.
for i in 1 2 3 4 5 6; do
	STILLPOINT_TEST_HOLD=target:200 "$SP" --no-progress --threads 1 \
		restore vd --to r >/dev/null 2>&1 &
	pid=$!
	sleep "0.$((RANDOM % 8 + 2))"
	kill -9 $pid 2>/dev/null
	wait $pid 2>/dev/null
done
# (each one, starting, removes those of the ones killed before it)
left=$(partials '.d.raw.partial-*')
check "killed restores left a partial file" test "$left" -ge 1
check "...and no d.raw" test ! -e r/d.raw

# A live restore into the same directory, held long.
STILLPOINT_TEST_HOLD=target:400 "$SP" --no-progress --threads 1 \
	restore vx --to r >live.out 2>&1 &
live=$!
at_exit "kill $live"
for _ in $(seq 50); do
	[ "$(partials '.x.raw.partial-*')" = 1 ] && break
	sleep 0.1
done
check "the live restore has its partial file" test "$(partials '.x.raw.partial-*')" = 1
livefile=$(find r -maxdepth 1 -name '.x.raw.partial-*')

expect_ok "a restore into the same directory" sp restore vd --to r
check "...removed every dead partial file" test "$(partials '.d.raw.partial-*')" = 0
check "...restored d byte-exact" cmp d.img r/d.raw
check "...left the live restore's file alone" test -e "$livefile"
check "the live restore is still running" kill -0 $live
wait $live
check "the live restore succeeded" test $? = 0
check "...byte-exact" cmp x.img r/x.raw
check "no partial file remains" test "$(partials '.*.partial-*')" = 0

# A restore killed mid-way with a qcow2 target: the same.
STILLPOINT_TEST_HOLD=target:200 "$SP" --no-progress --threads 1 \
	restore vd --to r --force --format raw >/dev/null 2>&1 &
pid=$!
sleep 0.5
kill -9 $pid 2>/dev/null
wait $pid 2>/dev/null
check "one more killed restore left its file" test "$(partials '.d.raw.partial-*')" = 1
expect_ok "restore x as qcow2 into the same directory" sp restore vx --to r --force --format qcow2
check "...removed it" test "$(partials '.*.partial-*')" = 0
done_testing

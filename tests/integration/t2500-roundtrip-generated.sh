#!/bin/bash
# Generated round trips, fixed seed: 500 cases of raw files with
# thousands of tiny extents and sizes off every alignment, qcow2 images
# (cluster sizes, compression, zero clusters, backing chains) and loop
# devices, each a sequence of changes and points, every point restored
# (raw, qcow2, onto a loop device) and compared byte for byte with a copy
# of its source (tests/roundtrip/, docs/testing.md).  First, the comparer
# must catch a binary whose restores are one byte off.
. "$(dirname "$0")/lib.sh"
rt=$SP_BUILD/tests/sp-roundtrip
[ -x "$rt" ] || die "no $rt (build first)"
command -v qemu-img >/dev/null || { say "no qemu-img"; exit 77; }

# Vaults, reference copies and restores on a tmpfs when there is room:
# a restore ends with an fsync, and hundreds of them are the campaign's
# cost, not its point.  Sources stay on $T, a real file system, whose
# extents are what the backups must walk.
scratch=$T
if [ -w /dev/shm ] &&
	[ "$(df -Pk /dev/shm | awk 'NR == 2 { print $4 }')" -gt 3000000 ]; then
	scratch=/dev/shm
fi
# One case more than CPUs: a case waits on the programs it runs.
jobs=$(($(nproc) + 1))

# A stillpoint whose every restore comes back with one byte changed.
cat >broken-sp <<EOF
#!/bin/bash
"$SP" "\$@" || exit
to=
for ((i = 1; i < \$#; i++)); do
	[ "\${!i}" = --to ] && { j=\$((i + 1)); to=\${!j}; }
done
[ -d "\$to" ] || exit 0
for f in "\$to"/*; do
	size=\$(stat -c %s "\$f")
	[ "\$size" -gt 0 ] || continue
	at=\$((size / 2))
	b=\$(od -An -tu1 -j "\$at" -N1 "\$f")
	printf "\\\\\$(printf %o \$((b ^ 1)))" |
		dd of="\$f" bs=1 seek="\$at" conv=notrunc status=none
done
EOF
chmod 755 broken-sp
"$rt" --stillpoint "$T/broken-sp" --seed 77 --cases 3 --mix raw=1 \
	--jobs "$jobs" --work "$T" --scratch "$scratch" >broken.out 2>&1
rc=$?
check "a binary whose restores are one byte off fails the campaign" test $rc = 1
check "each of its cases fails, named with its seed" \
	test "$(grep -c '^FAIL raw:7[789]:' broken.out)" = 3
check "with the byte that differs" grep -q 'bytes differ in' broken.out
check "and a replay command" \
	grep -q -- "--case raw:78 --keep" broken.out
[ $rc = 1 ] || sed 's/^/#   /' broken.out | tail -n 20

# The campaign: mostly raw cases (0.25 s of CPU each), a share of qcow2
# cases (twice that: qemu-img, qemu-io, qemu-nbd) and of loop devices
# (skipped unless root); about 150 s of CPU in all.  It stops starting
# cases after 250 s, so that a machine too busy to run 500 fails the count
# below rather than the suite's timeout.
start=$SECONDS
"$rt" --stillpoint "$SP" --seed 2500 --cases 500 --seconds 250 \
	--mix raw=22,qcow2=2,loop=1 --jobs "$jobs" \
	--work "$T" --scratch "$scratch" --replay-as "$rt" \
	--keep-failed >campaign.out 2>&1
rc=$?
# The failures (the first 150 lines of them), then the figures.
grep -v '^\.\.\.\|^sp-roundtrip: ' campaign.out | head -n 150
grep '^sp-roundtrip: ' campaign.out
say "# campaign: $((SECONDS - start)) s"
check "every generated case restored equal to its source" test $rc = 0
check "at least 500 cases ran" \
	grep -Eq '^sp-roundtrip: (5[0-9][0-9]|[6-9][0-9][0-9]) cases' campaign.out
done_testing

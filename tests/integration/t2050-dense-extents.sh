#!/bin/bash
# Raw images with thousands of extents per extent window (the layout that
# restored wrong while verify said all sound), backed up full and
# incrementally with one and with several threads: every restore equals
# its source byte for byte.
. "$(dirname "$0")/lib.sh"

# $1 file, $2 MiB, $3 stride KiB, $4 data KiB, $5 seed: data every stride.
dense() {
	python3 - "$@" <<'PY'
import os, random, sys
path, mib, stride, data, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
r = random.Random(seed)
fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
os.ftruncate(fd, mib << 20)
for off in range(0, mib << 20, stride << 10):
    os.pwrite(fd, r.randbytes(data << 10), off)
os.close(fd)
PY
}

sp init >/dev/null
dense holey.raw 16 8 4 1
expect_ok "back up 2048 extents in 16 MiB" sp backup --name h --disk holey.raw
check "all 8 MiB of data was read" \
	bash -c "sp points h --json | jqe '.[0].bytes_read == 8388608'"
mkdir r1
expect_ok "restore it" sp restore h --to r1
check "restored bytes equal the source" cmp holey.raw r1/holey.raw

# Odd sizes, data at the very end, many threads and one.
dense odd.raw 40 12 4 2
truncate -s $(((40 << 20) + 4097)) odd.raw
printf 'end' | dd of=odd.raw bs=1 seek=$(((40 << 20) + 4094)) conv=notrunc status=none
cp --sparse=always odd.raw odd.v1
expect_ok "back up with one thread" "$SP" --no-progress --threads 1 backup --name o --disk odd.raw
# Change a third of the data extents, punch some, and back up again.
python3 - odd.raw <<'PY'
import os, random, sys
r = random.Random(3)
fd = os.open(sys.argv[1], os.O_WRONLY)
for off in range(0, 40 << 20, 36 << 10):
    os.pwrite(fd, r.randbytes(1000), off + r.randrange(0, 8192))
os.close(fd)
PY
fallocate -p -o $((5 << 20)) -l $((3 << 20)) odd.raw
cp --sparse=always odd.raw odd.v2
expect_ok "back up again with eight threads" "$SP" --no-progress --threads 8 backup --name o --disk odd.raw
mapfile -t ids < <(point_ids o)
check "two points" test ${#ids[@]} = 2
mkdir r2 r3
expect_ok "restore the first point" sp restore "o@${ids[0]}" --to r2
expect_ok "restore the second point" sp restore "o@${ids[1]}" --to r3
check "first point equals the source as it was" cmp odd.v1 r2/odd.raw
check "second point equals the source as it is" cmp odd.v2 r3/odd.raw
expect_ok "verify --against agrees" sp verify "o@${ids[1]}" --against odd.raw=odd.v2
expect_ok "verify is clean" sp verify
done_testing

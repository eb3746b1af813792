#!/bin/bash
# Build the benchmark corpus once (cached in OUTDIR):
#   OUTDIR/state0/root.img  sparse 6 GiB raw image, ext4 holding a
#                           debootstrapped Debian 12 root file system
#   OUTDIR/state0/db.img    1 GiB raw image, ext4 holding a ~350 MiB SQLite
#                           database of partly compressible rows
#   OUTDIR/state1/          the same after a realistic change
#                           (bench/change-corpus.sh)
set -euo pipefail
out=${1:?usage: make-corpus.sh OUTDIR}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out"
cd "$out"

if [ -f state1/.complete ]; then
	echo "corpus: reusing $out" >&2
	exit 0
fi

if [ ! -f rootfs/.complete ]; then
	echo "corpus: debootstrap (a few minutes, cached afterwards)" >&2
	rm -rf rootfs.tmp
	debootstrap --variant=minbase \
		--include=python3,perl,gcc,g++,make,libc6-dev,vim-tiny,openssh-server,postgresql-15,sqlite3,git \
		bookworm rootfs.tmp http://deb.debian.org/debian >debootstrap.log 2>&1
	rm -rf rootfs.tmp/var/cache/apt/archives/*.deb
	mv rootfs.tmp rootfs
	touch rootfs/.complete
fi

rm -rf state0 state1 stage
mkdir -p state0 stage/db
echo "corpus: root.img (6 GiB sparse, ext4 with the root file system)" >&2
truncate -s 6G state0/root.img
mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 -d rootfs \
	state0/root.img

echo "corpus: db.img (1 GiB, ext4 with a SQLite database)" >&2
python3 - stage/db/app.sqlite <<'PY'
import os, random, sqlite3, sys
random.seed(20261122)
db = sqlite3.connect(sys.argv[1])
db.execute("PRAGMA page_size=4096")
db.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, customer TEXT, "
           "status TEXT, note TEXT, payload BLOB)")
words = ("alpha beta gamma delta epsilon invoice shipped pending refund "
         "customer order warehouse berlin tokyo lisbon express standard").split()
rows = []
for i in range(1, 1_200_001):
    note = " ".join(random.choice(words) for _ in range(random.randint(4, 20)))
    rows.append((i, "cust%06d" % random.randint(1, 50000),
                 random.choice(["new", "paid", "shipped", "closed"]), note,
                 os.urandom(random.randint(64, 192))))
    if len(rows) == 50000:
        db.executemany("INSERT INTO orders VALUES (?,?,?,?,?)", rows)
        rows = []
db.commit()
db.execute("CREATE INDEX orders_customer ON orders(customer)")
db.commit()
db.close()
PY
truncate -s 1G state0/db.img
mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 -d stage/db \
	state0/db.img
rm -rf stage

mkdir -p state1
cp --sparse=always state0/root.img state0/db.img state1/
"$here/change-corpus.sh" state1
touch state0/.complete state1/.complete
du -h --apparent-size state0/* >&2
du -h state0/* >&2

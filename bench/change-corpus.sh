#!/bin/bash
# Apply a realistic change, in place, to the corpus in DIR: in root.img
# about 50 MiB of new and rewritten files (a package-upgrade-like copy of a
# library tree, rotated logs, edited configs); in db.img 2 % of the rows
# updated (recent orders, among the newest tenth) and 20,000 inserted.
# Deterministic (seeded).
set -euo pipefail
dir=${1:?usage: change-corpus.sh DIR}
mnt=$(mktemp -d)
cleanup() { mountpoint -q "$mnt" && umount "$mnt"; rmdir "$mnt"; }
trap cleanup EXIT

mount -o loop "$dir/root.img" "$mnt"
mkdir -p "$mnt/usr/lib/upgrade"
cp -a "$mnt/usr/lib/x86_64-linux-gnu/perl" "$mnt/usr/lib/upgrade/perl-new" 2>/dev/null ||
	cp -a "$mnt/usr/share/perl" "$mnt/usr/lib/upgrade/perl-new"
# (openssl dies of SIGPIPE when head has enough: not a failure here)
(set +o pipefail
 openssl enc -aes-128-ctr -nosalt -pass pass:logs -in /dev/zero 2>/dev/null |
	head -c 20M) | base64 >"$mnt/var/log/syslog.1"
for f in "$mnt"/etc/*.conf; do echo "# changed by the benchmark" >>"$f"; done
sync
umount "$mnt"

mount -o loop "$dir/db.img" "$mnt"
python3 - "$mnt/app.sqlite" <<'PY'
import os, random, sqlite3, sys
random.seed(7)
db = sqlite3.connect(sys.argv[1])
n = db.execute("SELECT max(id) FROM orders").fetchone()[0]
# Recent orders change: 2 % of all rows, picked among the newest tenth.
ids = random.sample(range(n - n // 10, n + 1), n // 50)
db.executemany("UPDATE orders SET status='closed', payload=? WHERE id=?",
               [(os.urandom(128), i) for i in ids])
db.executemany("INSERT INTO orders (customer, status, note, payload) "
               "VALUES (?,?,?,?)",
               [("cust%06d" % random.randint(1, 50000), "new",
                 "inserted by the benchmark change", os.urandom(100))
                for _ in range(20000)])
db.commit()
db.close()
PY
sync
umount "$mnt"

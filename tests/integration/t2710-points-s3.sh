#!/bin/bash
# A point in an encrypted S3 vault, used without restoring it: `files`
# lists a partition's directory, `restore --file` takes a tree out, `serve`
# exports the disk over NBD and `mount` shows it as a file, all reading the
# bucket lazily; what comes out is compared byte for byte with the source.
# The same paths as t2700 and t6700, on the other kind of vault.  Then the
# passphrase typed at a terminal instead of given in the environment:
# the NBD server behind `serve` and `files` gets the unlocked key from the
# command (a sealed memfd), never the passphrase in its environment.
. "$(dirname "$0")/lib.sh"
need_root
need_guestfs
need_s3
command -v nbdkit >/dev/null || { say "no nbdkit"; exit 77; }
command -v nbdcopy >/dev/null || { say "no nbdcopy (libnbd-bin)"; exit 77; }
[ -e /dev/fuse ] || { say "no /dev/fuse"; exit 77; }

export STILLPOINT_VAULT="s3://$S3_BUCKET/pts"
export STILLPOINT_PASSPHRASE="points s3 $$"
export STILLPOINT_CACHE_DIR=$T/cache
expect_ok "init an encrypted S3 vault" sp init

random_file big.bin 6 s3big
random_file conf 1 s3conf
head -c 7777 conf >small.txt
truncate -s 300M disk.img
cat >mk.fish <<EOF
run
part-init /dev/sda gpt
part-add /dev/sda p 2048 -2048
mkfs ext4 /dev/sda1
mount /dev/sda1 /
mkdir-p /srv/app/sub
upload $T/big.bin /srv/app/big.bin
upload $T/small.txt /srv/app/sub/small.txt
chmod 0640 /srv/app/sub/small.txt
chown 1001 1002 /srv/app/sub/small.txt
utimens /srv/app/sub/small.txt 1500000000 0 1500000000 0
EOF
gfish -a disk.img -f mk.fish || die "guestfish could not make the image"
expect_ok "back up the image into the bucket" sp backup --name s3pts --disk disk.img
check "the point's chunks are objects in the bucket" \
	bash -c "s3_ls '$S3_BUCKET' pts/chunks/ | grep -q ."

# files: the listing, like ls -l, read lazily from the bucket
expect_ok "list a directory of partition 1" sp --json files s3pts disk.img:1:/srv/app
cp .out ls.json
check "its entries: a file of 6 MiB and a directory" jqe '
	(.entries | map({(.name): .}) | add) as $e |
	$e["big.bin"].type == "file" and $e["big.bin"].size == 6291456 and
	$e.sub.type == "directory"' ls.json
check "read from the bucket, not all of it" jqe '
	.vault_read.bytes_read > 0 and .vault_read.bytes_read < 300 * 1048576' ls.json

# restore --file: a tree out of the point, compared with its sources
mkdir r
expect_ok "restore a tree" sp --json restore s3pts --file disk.img:1:/srv/app --to r
check "the big file is byte-identical" cmp big.bin r/app/big.bin
check "the nested file is byte-identical" cmp small.txt r/app/sub/small.txt
check "its mode, owner and time are kept" \
	test "$(stat -c '%a %u:%g %Y' r/app/sub/small.txt)" = "640 1001:1002 1500000000"

# serve: the disk over NBD equals the image
"$SP" serve s3pts --socket "$T/s.sock" --json >serve.out 2>serve.err &
spid=$!
at_exit "kill $spid"
wait_for 60 grep -q listening serve.out || { cat serve.err; die "serve did not listen"; }
nbdcopy "nbd+unix:///disk.img?socket=$T/s.sock" served.out
check "the disk served from the bucket equals the image" cmp disk.img served.out
nbdkit_pid=$(pgrep -f "[n]bdkit.*name=s3pts " | head -n1)
check "the server got the key as a memfd, not the passphrase" bash -c "
	tr '\\0' '\\n' </proc/$nbdkit_pid/environ | grep -qx 'STILLPOINT_KEY_FILE=/proc/self/fd/3' &&
	! tr '\\0' '\\n' </proc/$nbdkit_pid/environ | grep -q '^STILLPOINT_PASSPHRASE' &&
	readlink /proc/$nbdkit_pid/fd/3 | grep -q '^/memfd:stillpoint-vault-key'"
kill -INT $spid
check "interrupted, serve exits 0" wait $spid
check "it read chunks from the bucket" \
	jqe 'select(.event == "stopped") | .chunks_read > 0' serve.out

# mount: one raw file per disk
mkdir mnt
"$SP" mount s3pts mnt --json >mount.out 2>mount.err &
mpid=$!
at_exit "umount -l $T/mnt"
wait_for 60 grep -q files mount.out || { cat mount.err; die "mount did not show the point"; }
check "the mounted file equals the image" cmp disk.img mnt/disk.raw
umount mnt
check "umount ends 'stillpoint mount' with 0" wait $mpid
check "and leaves the directory unmounted" bash -c "! mountpoint -q mnt"

# The passphrase typed at a terminal (tests/integration/typed.py), none in
# the environment: serve and files start their server with the key.
pass=$STILLPOINT_PASSPHRASE
unset STILLPOINT_PASSPHRASE
typed=$SP_TOP/tests/integration/typed.py
"$typed" "$pass" "$SP" serve s3pts --socket "$T/t.sock" --json >typed-serve.out 2>&1 &
tpid=$!
at_exit "kill $tpid"
wait_for 60 grep -q listening typed-serve.out ||
	{ cat typed-serve.out; die "serve with a typed passphrase did not listen"; }
check "serve asked for the passphrase" grep -q "^Passphrase for vault 's3://" typed-serve.out
nbdcopy "nbd+unix:///disk.img?socket=$T/t.sock" typed.out
check "served with a typed passphrase: the disk equals the image" cmp disk.img typed.out
kill -INT $tpid
check "interrupted, serve exits 0" wait $tpid
expect_ok "files with a typed passphrase" "$typed" "$pass" "$SP" --json files s3pts disk.img:1:/srv/app/sub
sed 1d .out >typed-ls.json
check "lists the directory" jqe '.entries | map(.name) == ["small.txt"]' typed-ls.json
# (through the terminal, messages come on the one stream)
"$typed" "not the passphrase" "$SP" serve s3pts --socket "$T/w.sock" >wrong.out 2>&1
wrong_rc=$?
check "a wrong typed passphrase is refused with VaultKeyWrong" \
	bash -c "[ $wrong_rc != 0 ] && grep -q VaultKeyWrong wrong.out"
check "and nothing was served" test ! -e "$T/w.sock"
done_testing

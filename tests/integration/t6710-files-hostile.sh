#!/bin/bash
# Guest file systems are untrusted input.  A point holds ext4 images with
# fuzzed superblocks, one fuzzed behind an intact superblock (group
# descriptors, bitmaps, inode tables, directories), and one with control
# characters and a 255-byte name in file names, symlinks pointing out
# (absolute and by '..'), and a directory whose entries were edited to
# name '..' and 'Z/Z' (which the appliance refuses to list).  Listed and
# restored through `files` and `restore --file`, every command ends
# cleanly (exit 0 or 1 with an error code, never a signal), the host
# mounts nothing, nothing lands outside the target directory, and a tree
# with an unreadable directory comes out whole but for it, and says so.
# An appliance that stops answering is stopped by the idle watchdog.
. "$(dirname "$0")/lib.sh"
need_root
need_guestfs

# clean_run "description" command...: exit 0, or 1 naming an error code.
clean_run() {
	local what=$1 rc; shift
	_count=$((_count + 1))
	"$@" >"$T/.out" 2>"$T/.err"
	rc=$?
	if [ $rc = 0 ] || { [ $rc = 1 ] && grep -q '(SP[0-9]*)' "$T/.err"; }; then
		say "ok - $what (exit $rc)"
	else
		say "not ok - $what: exit $rc: $*"
		sed 's/^/#   /' "$T/.out" "$T/.err" | tail -n 20
		_failures=$((_failures + 1))
	fi
}

sp init >/dev/null
mkdir -p src/dir src/evil
echo data >src/evil/Q7
echo data2 >src/evil/ZsZ
echo ctl >"src/$(printf 'ctl\001\033[31m\nnl')"
long=$(printf 'a%.0s' $(seq 255))
echo long >"src/$long"
ln -s /etc/passwd src/abs
ln -s ../../../../../../../../tmp src/up
echo inner >src/dir/file
random_file src/dir/blob 1 blob
# mkfs.ext4 -d fills the image from a directory in user space.  No
# metadata checksums: the edited entries must reach the kernel's
# directory code, not be refused by a checksum first.
mkfs.ext4 -q -F -O ^metadata_csum,^dir_index -d src hostile.img 16M ||
	die "mkfs.ext4 -d failed"
for i in 1 2 3; do cp hostile.img fz$i.img; done
python3 - <<'EOF' || die "cannot craft the images"
import random, re
b = bytearray(open('hostile.img', 'rb').read())
def rename(old, new, ftype=1):
    # an ext4 directory entry: inode(4) rec_len(2) name_len(1) type(1) name
    pat = bytes([len(old), ftype]) + old
    hits = [m.start() for m in re.finditer(re.escape(pat), b)]
    assert len(hits) == 1, (old, hits)
    b[hits[0] + 2:hits[0] + 2 + len(old)] = new
rename(b'Q7', b'..')
rename(b'ZsZ', b'Z/Z')
open('hostile.img', 'wb').write(b)
def fuzz(path, seed, lo, hi, n):
    f = bytearray(open(path, 'rb').read())
    r = random.Random(seed)
    for _ in range(n):
        f[r.randrange(lo, hi)] = r.randrange(256)
    open(path, 'wb').write(f)
fuzz('fz1.img', 1, 1024, 1024 + 256, 40)    # the superblock's fields
fuzz('fz2.img', 2, 4096, 400000, 2000)      # descriptors, bitmaps, inodes, directories
f = bytearray(open('fz3.img', 'rb').read())  # absurd geometry
f[1024 + 24:1024 + 28] = (30).to_bytes(4, 'little')      # s_log_block_size
f[1024 + 40:1024 + 44] = (0xffffffff).to_bytes(4, 'little')  # inodes/group
f[2048:2048 + 512] = bytes(random.Random(3).randrange(256) for _ in range(512))
open('fz3.img', 'wb').write(f)
EOF
expect_ok "back up the crafted images (offline, as files)" \
	sp backup --name files-hostile --disk hostile.img --disk fz1.img \
	--disk fz2.img --disk fz3.img
sha256sum /etc/passwd >passwd.sum
mkdir box
touch marker
sleep 1

clean_run "list the file systems of all crafted disks" sp --json files files-hostile
for i in 1 2 3; do
	clean_run "list the root of fuzzed image $i" sp files files-hostile fz$i.img::/
	sed -n 's/^/# /; 1p' .err
done
clean_run "restore from fuzzed image 2" sp restore files-hostile --file fz2.img::/ --to box/r2

expect_ok "list the root with hostile names" sp --json files files-hostile hostile.img::/
cp .out ls.json
check "control characters are escaped in the listing" \
	jqe 'any(.entries[]; .name == "ctl\\x01\\x1b[31m\\x0anl")' ls.json
check "the 255-byte name is listed" jqe "any(.entries[]; .name == \"$long\")" ls.json
check "no entry is named '..' or holds a slash" \
	jqe 'all(.entries[]; .name != ".." and .name != "." and (.name | contains("/") | not))' ls.json
expect_fail GuestFileReadFailed "a directory with a crafted 'Z/Z' entry cannot be listed" \
	sp files files-hostile hostile.img::/evil
check "links are listed with their targets, not followed" \
	jqe 'any(.entries[]; .name == "abs" and .type == "symlink" and .target == "/etc/passwd")' ls.json

expect_fail GuestFileReadFailed "restoring the hostile tree fails for its crafted directory" \
	sp restore files-hostile --file hostile.img::/ --to box/r
check "the failure names the directory left out" grep -q "hostile.img/evil" .err
check "the crafted directory is made, with nothing in it" \
	test -d box/r/hostile.img/evil -a -z "$(ls -A box/r/hostile.img/evil)"
check "the tree is named after the disk" test -d box/r/hostile.img
check "the crafted names made nothing but the tree" \
	test "$(ls -A box | sort | tr '\n' ' ')" = "r r2 "
check "the 255-byte name restored" test -f "box/r/hostile.img/$long"
check "the control-character name restored as it is" \
	test -f "box/r/hostile.img/$(printf 'ctl\001\033[31m\nnl')"
check "no file 'Z' or directory 'Z' made from 'Z/Z'" test ! -e box/r/hostile.img/Z
check "the absolute link is a link" test "$(readlink box/r/hostile.img/abs)" = /etc/passwd
check "the climbing link is a link" test "$(readlink box/r/hostile.img/up)" = ../../../../../../../../tmp
check "nested file byte-identical" cmp src/dir/blob box/r/hostile.img/dir/blob
check "the host's /etc/passwd untouched" sha256sum -c --quiet passwd.sum
check "nothing written outside the target directories" test -z "$(find "$T" -newer marker \
	-not -path "$T/box*" -not -path "$T/vault*" -not -name '.out' -not -name '.err' \
	-not -name '*.json' -not -path "$T")"
check "no guest file system is mounted on the host" sh -c '! grep -q "$1" /proc/mounts' _ "$T"

# An appliance that stops answering (as one stuck in a crafted file system
# would) is stopped by the idle watchdog: here the command itself holds
# still after the launch for longer than the idle timeout.
STILLPOINT_TEST_HOLD=appliance:8000 STILLPOINT_FILES_IDLE_TIMEOUT=3 \
	expect_fail GuestfsFailed "an idle appliance is stopped, the command fails" \
	sp files files-hostile hostile.img::/
check "the failure says the appliance gave no answer" grep -q "gave no answer for 3 s" .err
done_testing

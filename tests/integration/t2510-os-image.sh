#!/bin/bash
# A real operating system image: a debootstrapped Debian 12 (minbase) in an
# ext4 file system, as a raw image and as qcow2, backed up, changed the way
# a system changes (packages' files rewritten, files added and removed,
# logs appended), backed up again; every point restored in both formats
# equal to its source, its file system clean.  The debootstrapped tree is
# cached under $LAB_CACHE (first run: a few minutes, network to
# deb.debian.org).
. "$(dirname "$0")/lib.sh"
need_root
for c in debootstrap mkfs.ext4 e2fsck qemu-img flock; do
	command -v $c >/dev/null || { say "no $c (run tools/setup-debian.sh)"; exit 77; }
done
cache=${LAB_CACHE:-/var/cache/stillpoint-lab}
tree=$cache/debootstrap-bookworm-minbase

# The tree, built once per machine; parallel runs wait for one build.
mkdir -p "$cache"
(
	flock -w 1800 9 || die "waited too long for $cache/debootstrap.lock"
	[ -f "$tree/.complete" ] && exit 0
	say "# debootstrap bookworm (cached in $tree afterwards)"
	rm -rf "$tree.tmp"
	if ! debootstrap --variant=minbase bookworm "$tree.tmp" \
		http://deb.debian.org/debian >"$T/debootstrap.log" 2>&1; then
		tail -n 20 "$T/debootstrap.log"
		rm -rf "$tree.tmp"
		die "debootstrap failed"
	fi
	rm -rf "$tree.tmp"/var/cache/apt/archives/*.deb
	touch "$tree.tmp/.complete"
	mv -T "$tree.tmp" "$tree"
) 9>"$cache/debootstrap.lock" || exit 1
[ -f "$tree/.complete" ] || die "no debootstrapped tree in $tree"

# An odd size: not a multiple of the chunk size, nor of 4 KiB.
size=$((1536 * 1048576 + 3584))
truncate -s $size os.raw
mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 -d "$tree" os.raw ||
	die "mkfs.ext4 -d failed"
qemu-img convert -f raw -O qcow2 os.raw os.qcow2
cp --sparse=always os.raw ref1.raw
say "# image: $(du -k os.raw | cut -f1) KiB allocated of $size bytes," \
	"$(filefrag os.raw 2>/dev/null | grep -o '[0-9]* extents\?')"

# Disks are declared raw or qcow2 where the binary lets them be.
disk() { # PATH FORMAT
	if sp backup --help | grep -q ':FORMAT'; then
		echo "$1:$2"
	else
		echo "$1"
	fi
}
sp init >/dev/null
expect_ok "back up the image as raw and as qcow2" \
	sp backup --name os --disk "$(disk os.raw raw)" --disk "$(disk os.qcow2 qcow2)"
id1=$(point_ids os | tail -n 1)

# The changes, the way an upgrade and a day's work make them.
change_tree() { # DIR
	local d=$1 f i n=0
	rm -rf "$d/usr/share/doc" "$d/usr/share/man" "$d/var/lib/apt/lists"
	mkdir -p "$d/srv/data"
	for ((i = 0; i < 300; i++)); do
		head -c $((i * 997 % 65536 + 1)) /dev/urandom >"$d/srv/data/f$i"
	done
	random_file "$d/srv/data/big" 24 big
	for f in "$d"/usr/bin/*; do
		[ -f "$f" ] && [ ! -L "$f" ] || continue
		n=$((n + 1))
		[ $((n % 7)) = 0 ] || continue
		# Rewritten in place, same size, as a package upgrade would.
		head -c "$(stat -c %s "$f")" /dev/urandom | dd of="$f" conv=notrunc status=none
	done
	seq 1 20000 >>"$d/var/log/dpkg.log"
	echo 'PRETTY_NAME="Debian GNU/Linux 12 (changed)"' >>"$d/etc/os-release"
}
mkdir mnt
if mount -o loop os.raw mnt 2>/dev/null; then
	at_exit "umount $T/mnt"
	change_tree mnt
	umount mnt || die "umount failed"
	how="through a loop mount"
else
	# No loop mount here: a changed copy of the tree, written anew.
	cp -a "$tree" tree2
	change_tree tree2
	mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 -d tree2 os.raw ||
		die "mkfs.ext4 -d of the changed tree failed"
	how="with mkfs.ext4 -d of a changed tree"
fi
# The qcow2 image changes in place into the same content.
qemu-img convert -n -f raw -O qcow2 os.raw os.qcow2
cp --sparse=always os.raw ref2.raw
check "the image changed ($how)" bash -c '! cmp -s ref1.raw ref2.raw'
check "the qcow2 image holds the same" qemu-img compare -q ref2.raw os.qcow2

expect_ok "back up the changed image" \
	sp backup --name os --disk "$(disk os.raw raw)" --disk "$(disk os.qcow2 qcow2)"
id2=$(point_ids os | tail -n 1)
check "two points" test "$(point_ids os | wc -l)" = 2

n=0
for p in "$id1:ref1.raw" "$id2:ref2.raw"; do
	id=${p%%:*} ref=${p#*:}
	n=$((n + 1))
	mkdir r$n q$n
	expect_ok "restore point $n" sp restore "os@$id" --to r$n
	check "point $n: raw disk equal to its source" cmp "$ref" r$n/os.raw
	check "point $n: qcow2 disk equal to its source" \
		qemu-img compare -q -f raw -F qcow2 "$ref" r$n/os.qcow2
	check "point $n: restored qcow2 image consistent" qemu-img check -q r$n/os.qcow2
	check "point $n: its file system is clean" e2fsck -fn r$n/os.raw
	expect_ok "restore point $n in the other formats" \
		sp restore "os@$id" --to q$n --format qcow2
	# Both disks are named os.qcow2 as qcow2: the first in the point
	# keeps the name, the second is os-2.qcow2 (README, "Restored file
	# names").
	check "point $n: as qcow2, os.qcow2 and os-2.qcow2, nothing else" \
		test "$(ls -A q$n | sort | tr '\n' ' ')" = "os-2.qcow2 os.qcow2 "
	check "point $n: raw disk restored as qcow2 equal" \
		qemu-img compare -q -f raw -F qcow2 "$ref" q$n/os.qcow2
	check "point $n: qcow2 disk restored as qcow2 equal" \
		qemu-img compare -q -f raw -F qcow2 "$ref" q$n/os-2.qcow2
	rm -rf q$n
	mkdir q$n
	expect_ok "restore point $n as raw" sp restore "os@$id" --to q$n --format raw
	check "point $n: as raw, os.raw and os-2.raw, nothing else" \
		test "$(ls -A q$n | sort | tr '\n' ' ')" = "os-2.raw os.raw "
	check "point $n: raw disk restored as raw equal" cmp "$ref" q$n/os.raw
	check "point $n: qcow2 disk restored as raw equal" cmp "$ref" q$n/os-2.raw
	rm -rf r$n q$n
done
expect_ok "verify" sp verify
done_testing

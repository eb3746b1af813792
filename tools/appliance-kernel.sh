#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# A kernel for the appliance that reads guest file systems (docs/files.md)
# on hosts that have none installed (containers): libguestfs' supermin
# builds its appliance from the host's /boot/vmlinuz-* and /lib/modules.
# Without them, this unpacks Debian's cloud kernel (tests/lab/fetch-kernel.sh,
# never installed) into /var/cache/stillpoint/appliance-kernel/<package>,
# with the module index depmod writes, where stillpoint looks for it.
# Usage: appliance-kernel.sh [CACHE_DIR].  Idempotent; run as root.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
if ls /boot/vmlinuz-* >/dev/null 2>&1 && [ -d /lib/modules ]; then
	echo "appliance-kernel: the host's kernel serves" >&2
	exit 0
fi
cache=${1:-/var/cache/stillpoint/appliance-kernel}
src=$("$top/tests/lab/fetch-kernel.sh")
pkg=$(basename "$src")
dst=$cache/$pkg
if [ ! -f "$dst/.done" ]; then
	rm -rf "$dst"
	mkdir -p "$cache"
	cp -a "$src" "$dst"
	ver=$(ls "$dst/lib/modules" | head -n1)
	# dpkg-deb -x leaves no modules.dep.bin: without it the appliance's
	# modprobe finds no module (dm_mod for LVM, xfs, btrfs ...).
	depmod -b "$dst" "$ver"
	touch "$dst/.done"
fi
# supermin lstat()s the host's /lib/modules when it copies modules in.
mkdir -p /lib/modules
echo "$dst"

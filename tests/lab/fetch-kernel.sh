#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Fetch the Debian cloud kernel for the lab's guests without installing it
# on the host: `apt-get download` the versioned linux-image-*-cloud-amd64
# that linux-image-cloud-amd64 depends on and unpack it with dpkg-deb -x.
# Usage: fetch-kernel.sh [CACHE_DIR]; prints the unpacked tree's path
# (CACHE_DIR/kernel/<package>).  Idempotent.
set -eu
cache=${1:-${LAB_CACHE:-/var/cache/stillpoint-lab}}
meta=linux-image-cloud-amd64
pkg=$(apt-cache depends "$meta" 2>/dev/null |
	sed -n 's/^ *Depends: \(linux-image-[0-9].*-cloud-amd64\)$/\1/p' | head -n1)
if [ -z "$pkg" ]; then
	apt-get update -qq >&2
	pkg=$(apt-cache depends "$meta" |
		sed -n 's/^ *Depends: \(linux-image-[0-9].*-cloud-amd64\)$/\1/p' | head -n1)
fi
[ -n "$pkg" ] || { echo "fetch-kernel: cannot resolve $meta" >&2; exit 1; }
dir=$cache/kernel/$pkg
if [ ! -f "$dir/.done" ]; then
	mkdir -p "$cache/kernel/debs"
	# apt-get download writes into the current directory; as root, not
	# the sandbox user _apt, which cannot write a root-owned cache.
	(cd "$cache/kernel/debs" &&
		apt-get download -qq -o APT::Sandbox::User=root "$pkg" >&2)
	rm -rf "$dir"
	dpkg-deb -x "$(ls -t "$cache/kernel/debs/${pkg}_"*.deb | head -n1)" "$dir"
	touch "$dir/.done"
fi
echo "$dir"

#!/bin/sh
# Install everything Stillpoint needs to build, test and benchmark on
# Debian 12.  Idempotent; run as root (or through sudo).
set -eu
if [ "$(id -u)" != 0 ]; then
	exec sudo "$0" "$@"
fi
pkgs="build-essential meson ninja-build pkg-config clang
libzstd-dev libssl-dev libsqlite3-dev libjansson-dev libnbd-dev
qemu-utils e2fsprogs util-linux openssl sqlite3 jq zstd"
missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
		missing="$missing $p"
done
if [ -n "$missing" ]; then
	echo "installing:$missing" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

#!/bin/sh
# Install everything Stillpoint needs to build, test and benchmark on
# Debian 12.  Idempotent; run as root (or through sudo).
set -eu
if [ "$(id -u)" != 0 ]; then
	exec sudo "$0" "$@"
fi
pkgs="build-essential meson ninja-build pkg-config clang
libzstd-dev libssl-dev libsqlite3-dev libjansson-dev libnbd-dev
qemu-utils e2fsprogs util-linux openssl sqlite3 jq zstd python3
libvirt-dev libxml2-dev
libvirt-daemon-system libvirt-daemon-system-sysv libvirt-daemon-driver-qemu
libvirt-clients qemu-system-x86 qemu-guest-agent busybox-static cpio
tzdata debootstrap ovmf swtpm swtpm-tools
libcurl4-openssl-dev curl ceph-mon ceph-osd radosgw uuid-runtime faketime
nbdkit nbdkit-plugin-dev libnbd-bin libfuse3-dev fuse3"
# The test lab (tests/lab/) runs tiny guests under libvirt.  We take
# libvirt-daemon-system, not the bare libvirt-daemon: its postinst creates
# the libvirt-qemu user and group the Debian build runs QEMU as, and the
# /var/lib/libvirt tree.  Naming libvirt-daemon-system-sysv picks the init
# script flavour instead of the systemd one, which would pull systemd-sysv
# into containers where no service manager runs (the lab starts libvirtd
# and virtlogd by hand).  qemu-guest-agent is only copied into the guest.
# ovmf and swtpm give lab guests UEFI firmware and an emulated TPM (their
# NVRAM and TPM state are part of a point).
# The S3 client (lib/storage) is built on libcurl's SigV4 signing.  Its
# tests run against a real S3 server, Ceph's RADOS Gateway, which
# tests/s3/s3-server.sh starts from ceph-mon, ceph-osd and radosgw (uuidgen
# names the cluster; about 60 MB, no daemon starts on install); faketime
# runs the client with a skewed clock.
# `stillpoint serve` runs nbdkit with Stillpoint's plugin (built against
# nbdkit-plugin-dev); `stillpoint mount` is a FUSE file system (libfuse3);
# the tests read served disks with nbdcopy (libnbd-bin).
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
# The guest kernel is fetched and unpacked, never installed on the host.
"$(dirname "$0")/../tests/lab/fetch-kernel.sh" >/dev/null

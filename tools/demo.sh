#!/bin/sh
# The main job on the embedded default: a local vault (STILLPOINT_VAULT, or
# /var/lib/stillpoint), a real disk image (an ext4 file system with files in
# it, in a sparse raw image and as qcow2), backed up and listed.
set -eu
sp=${1:-build/stillpoint}
vault=${STILLPOINT_VAULT:-/var/lib/stillpoint}
work=${DEMO_DIR:-/var/tmp/stillpoint-demo}
mkdir -p "$work/files"
if [ ! -f "$work/demo-vm.img" ]; then
	cp -r /usr/share/doc/. "$work/files/" 2>/dev/null || true
	truncate -s 1G "$work/demo-vm.img"
	mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 \
		-d "$work/files" "$work/demo-vm.img"
	qemu-img convert -O qcow2 "$work/demo-vm.img" "$work/demo-data.qcow2"
fi
[ -f "$vault/stillpoint-vault.json" ] || "$sp" --vault "$vault" init
"$sp" --vault "$vault" backup --name demo-vm \
	--disk "$work/demo-vm.img" --disk "$work/demo-data.qcow2:qcow2"
"$sp" --vault "$vault" points demo-vm
"$sp" --vault "$vault" verify demo-vm
# The same on a live VM when this machine can run the lab's guest.
if [ "$(id -u)" = 0 ] && command -v virsh >/dev/null 2>&1; then
	"$(dirname "$0")/demo-live.sh" "$(cd "$(dirname "$sp")" && pwd)/$(basename "$sp")"
fi

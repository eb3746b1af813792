# SPDX-License-Identifier: LGPL-2.1-or-later
# The test lab: real tiny Linux guests under libvirt (QEMU TCG, no KVM),
# with qemu-guest-agent and a workload that appends checksummed records to
# every data disk.  Sourced by integration tests after tests/integration/
# lib.sh (which provides $T, at_exit, check, say, die).
#
#   lab_need                       skip (77) unless the lab can run; start
#                                  virtlogd + libvirtd when nothing manages them
#   lab_build_guest                kernel + initramfs -> $LAB_KERNEL $LAB_INITRD
#   lab_make_data_disk PATH MIB    ext4 in a qcow2 image
#   lab_need_uefi; lab_need_tpm    skip (77) unless OVMF / swtpm are installed
#   lab_define_domain NAME DISK... define a guest (env: LAB_AGENT LAB_WORKLOAD
#                                  LAB_WORKLOAD_MS LAB_MAC LAB_MEM_MIB LAB_CMDLINE
#                                  LAB_UEFI LAB_TPM)
#   lab_start NAME; lab_wait_agent NAME [TIMEOUT]; lab_stop NAME [TIMEOUT]
#   lab_wait_ready NAME [TIMEOUT]  guest init done (for LAB_AGENT=0 guests)
#   lab_undefine NAME              destroy + undefine (also done at exit)
#   lab_agent NAME JSON            one raw agent command
#   lab_guest_exec NAME CMD ARG... run in the guest: its stdout, its exit code
#   lab_guest_write_file NAME PATH MODE <CONTENT
#   lab_records_check IMAGE        last record sequence of a data disk image
#
# The guest: the Debian cloud kernel (fetched, never installed on the host)
# booted directly with an initramfs as its root; data disks /dev/vdX are
# mounted at /mnt/vdX; qemu-ga runs with guest-exec and an fsfreeze hook
# that runs /etc/qemu/fsfreeze-hook.d/* (tests add hooks there with
# lab_guest_write_file); `virsh shutdown` works through the agent or ACPI.
# With LAB_UEFI=1 the guest boots OVMF (Debian's, no Secure Boot, with a
# variable store of its own made from the template), which loads the same
# kernel and initramfs (fw_cfg); efivarfs is mounted at
# /sys/firmware/efi/efivars.  With LAB_TPM=1 it has an emulated TPM 2.0
# (swtpm, tpm-crb: /dev/tpm0).  /bin/labfw sets and reads a UEFI variable
# and a TPM NV index from inside (tests/lab/labfw.c).
set -u
LAB_DIR=${SP_TOP:?}/tests/lab
LAB_CACHE=${LAB_CACHE:-/var/cache/stillpoint-lab}
LAB_OVMF_CODE=${LAB_OVMF_CODE:-/usr/share/OVMF/OVMF_CODE_4M.fd}
LAB_OVMF_VARS=${LAB_OVMF_VARS:-/usr/share/OVMF/OVMF_VARS_4M.fd}
export LIBVIRT_DEFAULT_URI=qemu:///system
declare -gA _lab_workload=() _lab_agent=()

_lab_log() { printf '# lab: %s\n' "$*" >&2; }

# lab_need: skip the test unless root with the lab's tools; start libvirt.
lab_need() {
	local c
	[ "$(id -u)" = 0 ] || { say "lab: needs root"; exit 77; }
	for c in virsh libvirtd virtlogd qemu-system-x86_64 qemu-img cpio gcc \
		mkfs.ext4 e2fsck debugfs jq busybox apt-get dpkg-deb; do
		command -v "$c" >/dev/null ||
			{ say "lab: no $c (run tools/setup-debian.sh)"; exit 77; }
	done
	[ -x /usr/sbin/qemu-ga ] ||
		{ say "lab: no qemu-ga (run tools/setup-debian.sh)"; exit 77; }
	# busybox goes into the guest: it must be the static one.
	if ldd "$(command -v busybox)" >/dev/null 2>&1; then
		say "lab: busybox is not static (install busybox-static)"; exit 77
	fi
	# The libvirt-qemu user must reach disks and console logs in $T.
	chmod 755 "$T"
	# Without udev /dev/kvm stays root-only: libvirt's capability probe
	# (run as root) then sees KVM but its cache check (as libvirt-qemu)
	# does not, and it re-probes QEMU, ~4 s, on every start.  0660
	# root:kvm is what udev sets on an ordinary host.  The guests still
	# run under TCG (type='qemu'): nested KVM does not work here.
	if [ -c /dev/kvm ] && [ "$(stat -c %a /dev/kvm)" = 600 ] &&
		getent group kvm >/dev/null; then
		chgrp kvm /dev/kvm && chmod 0660 /dev/kvm
	fi
	_lab_daemons || { say "lab: libvirtd does not answer"; exit 77; }
}

# lab_need_uefi: skip the test without OVMF (the ovmf package).
lab_need_uefi() {
	[ -r "$LAB_OVMF_CODE" ] && [ -r "$LAB_OVMF_VARS" ] ||
		{ say "lab: no OVMF ($LAB_OVMF_CODE; run tools/setup-debian.sh)"; exit 77; }
}

# lab_need_tpm: skip the test without swtpm (swtpm, swtpm-tools).
lab_need_tpm() {
	command -v swtpm >/dev/null && command -v swtpm_setup >/dev/null ||
		{ say "lab: no swtpm (run tools/setup-debian.sh)"; exit 77; }
}

# Start virtlogd and libvirtd unless running; wait until libvirtd answers.
_lab_daemons() {
	local i
	if [ -d /run/systemd/system ]; then
		systemctl start virtlogd.socket libvirtd.service >/dev/null 2>&1
	else
		mkdir -p /run/lock
		(
			# Tests may start in parallel: one starts the daemons.  The
			# daemons must not inherit the lock (fd 9) or it is held for
			# their lifetime and the next test waits on it forever; nor
			# our stdio, which may be a pipe someone reads to its end.
			# Nor a test's environment or directory: libvirtd's
			# helpers (swtpm_setup) write to $TMPDIR, and a test's
			# directory is removed when it ends.
			flock -w 120 9 || exit 1
			cd / || exit 1
			_lab_running /run/virtlogd.pid ||
				env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
					virtlogd -d </dev/null >/dev/null 2>&1 9>&-
			_lab_running /run/libvirtd.pid ||
				env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
					libvirtd -d </dev/null >/dev/null 2>&1 9>&-
		) 9>/run/lock/stillpoint-lab.lock || return 1
	fi
	# The first connection after a start probes QEMU's capabilities (~10 s).
	for ((i = 0; i < 600; i++)); do
		virsh version >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	return 1
}

_lab_running() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# Print the unpacked cloud kernel tree (fetching it on first use).
_lab_kernel_tree() {
	local d
	for d in "$LAB_CACHE"/kernel/linux-image-*-cloud-amd64; do
		[ -f "$d/.done" ] && { echo "$d"; return 0; }
	done
	"$LAB_DIR/fetch-kernel.sh" "$LAB_CACHE"
}

# lab_build_guest: build (cached by input hash) the guest kernel + initramfs;
# sets LAB_KERNEL and LAB_INITRD.  $LAB_GUEST_EXTRA, a directory, is copied
# over the initramfs root when set.
lab_build_guest() {
	local ktree key dir
	mkdir -p "$LAB_CACHE" && chmod 755 "$LAB_CACHE"
	ktree=$(_lab_kernel_tree) || { say "lab: cannot fetch the guest kernel"; exit 77; }
	key=$({
		echo "$ktree"
		cat "$LAB_DIR/lab.sh" "$LAB_DIR/workload.c" "$LAB_DIR/record.h" \
			"$LAB_DIR/labfw.c"
		sha256sum /usr/sbin/qemu-ga "$(command -v busybox)"
		if [ -n "${LAB_GUEST_EXTRA:-}" ]; then
			tar -C "$LAB_GUEST_EXTRA" -cf - --sort=name --mtime=@0 .
		fi
	} | sha256sum | cut -c1-16)
	dir=$LAB_CACHE/guest-$key
	if [ ! -f "$dir/initrd.img" ]; then
		_lab_log "building guest $key"
		rm -rf "$dir.tmp.$$"
		_lab_build_guest_into "$ktree" "$dir.tmp.$$" ||
			{ rm -rf "$dir.tmp.$$"; die "lab: guest build failed"; }
		# A parallel build may have won: keep whichever landed first.
		mv -T "$dir.tmp.$$" "$dir" 2>/dev/null || rm -rf "$dir.tmp.$$"
	fi
	LAB_KERNEL=$dir/vmlinuz
	LAB_INITRD=$dir/initrd.img
	_lab_build_checker
	# Builds of older lab versions go after a few days unused.
	touch "$dir" "$LAB_RECORDS_CHECK"
	find "$LAB_CACHE" -maxdepth 1 \( -name 'guest-*' -o -name 'records_check-*' \) \
		-mtime +3 -exec rm -rf {} + 2>/dev/null
	return 0
}

_lab_build_guest_into() {
	local ktree=$1 out=$2 root=$2/root kver mdir m f lib
	local -a order=()
	local -A dep=() seen=()
	kver=$(basename "$(echo "$ktree"/lib/modules/*)")
	mdir=$ktree/lib/modules/$kver
	mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,run,tmp,mnt,var,etc/qemu/fsfreeze-hook.d,etc/acpi/PWRF,lib/modules} &&
		ln -s /run "$root/var/run" || return 1
	# The package carries no modules.dep: depmod writes one (busybox's
	# depmod, so kmod is not needed on the host).
	[ -s "$mdir/modules.dep" ] || busybox depmod -b "$ktree" "$kver" || return 1
	while IFS=: read -r m f; do
		dep[$m]=$f
	done <"$mdir/modules.dep"
	# Dependencies first, depth first; builtin modules are skipped.
	_lab_mod() {
		local p=$1 d
		[ -n "${seen[$p]:-}" ] && return 0
		seen[$p]=1
		for d in ${dep[$p]}; do _lab_mod "$d"; done
		order+=("$p")
	}
	for m in virtio_pci virtio_blk virtio_console button evdev; do
		grep -q "/$m\.ko" "$mdir/modules.builtin" && continue
		f=$(grep -o "^[^:]*/$m\.ko[.a-z]*:" "$mdir/modules.dep" | tr -d :)
		[ -n "$f" ] || { echo "lab: no module $m" >&2; return 1; }
		_lab_mod "$f"
	done
	# efivarfs is loaded by init only on UEFI (elsewhere it refuses).
	f=$(grep -o "^[^:]*/efivarfs\.ko[.a-z]*:" "$mdir/modules.dep" | tr -d :)
	if [ -n "$f" ]; then
		case $f in
		*.ko.xz) xz -dc "$mdir/$f" ;;
		*.ko.zst) zstd -qdc "$mdir/$f" ;;
		*.ko.gz) gzip -dc "$mdir/$f" ;;
		*) cat "$mdir/$f" ;;
		esac >"$root/lib/modules/efivarfs.ko" || return 1
	fi
	: >"$root/etc/lab-modules"
	for m in "${order[@]}"; do
		f=$root/lib/modules/$(basename "$m")
		case $m in
		*.ko.xz) xz -dc "$mdir/$m" >"${f%.xz}" ;;
		*.ko.zst) zstd -qdc "$mdir/$m" >"${f%.zst}" ;;
		*.ko.gz) gzip -dc "$mdir/$m" >"${f%.gz}" ;;
		*) cp "$mdir/$m" "$f" ;;
		esac || return 1
		basename "${f%.ko*}.ko" >>"$root/etc/lab-modules"
	done
	cp "$ktree/boot/vmlinuz-$kver" "$out/vmlinuz" || return 1
	# busybox and all its applets.
	cp "$(command -v busybox)" "$root/bin/busybox" || return 1
	busybox --list-full | while read -r f; do
		[ -e "$root/$f" ] || ln -s /bin/busybox "$root/$f"
	done
	# qemu-ga with its shared libraries and the dynamic loader.
	cp /usr/sbin/qemu-ga "$root/usr/sbin/" || return 1
	for lib in $(ldd /usr/sbin/qemu-ga | grep -o '/[^ ]*'); do
		mkdir -p "$root$(dirname "$lib")"
		cp -L "$lib" "$root$lib" || return 1
	done
	gcc -std=c11 -O2 -Wall -static -s -o "$root/bin/workload" \
		"$LAB_DIR/workload.c" || return 1
	gcc -std=gnu11 -O2 -Wall -static -s -o "$root/bin/labfw" \
		"$LAB_DIR/labfw.c" || return 1
	_lab_guest_files "$root"
	if [ -n "${LAB_GUEST_EXTRA:-}" ]; then
		cp -a "$LAB_GUEST_EXTRA/." "$root/" || return 1
	fi
	# Uncompressed: decompressing under TCG would cost boot time.
	(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) \
		>"$out/initrd.img" || return 1
	rm -rf "$root"
	chmod 755 "$out" && chmod 644 "$out/vmlinuz" "$out/initrd.img"
}

# The guest's /init, shutdown and hook scripts.
_lab_guest_files() {
	local root=$1
	cat >"$root/init" <<-'EOF'
	#!/bin/sh
	# Lab guest init: mount, load drivers, agent port, data disks, qemu-ga,
	# the workload when sp.workload=1; then busybox init waits and powers
	# off on request (qemu-ga's shutdown, or the ACPI power button).
	export PATH=/bin:/sbin:/usr/bin:/usr/sbin
	mount -t proc proc /proc
	mount -t sysfs sys /sys
	mount -t devtmpfs dev /dev
	mount -t tmpfs -o mode=755 run /run
	mkdir -p /run/qga /dev/virtio-ports
	while read -r m; do insmod "/lib/modules/$m" || echo "lab: insmod $m failed"; done </etc/lab-modules
	efi=0
	if [ -d /sys/firmware/efi ]; then
		efi=1
		insmod /lib/modules/efivarfs.ko 2>/dev/null
		mount -t efivarfs efivarfs /sys/firmware/efi/efivars || echo "lab: no efivarfs"
	fi
	# No udev: name the agent's port ourselves.
	i=0
	while [ ! -e /dev/virtio-ports/org.qemu.guest_agent.0 ] && [ $i -lt 50 ]; do
		for p in /sys/class/virtio-ports/*; do
			[ "$(cat "$p/name" 2>/dev/null)" = org.qemu.guest_agent.0 ] &&
				ln -sf "../${p##*/}" /dev/virtio-ports/org.qemu.guest_agent.0
		done
		[ -e /dev/virtio-ports/org.qemu.guest_agent.0 ] || sleep 0.1
		i=$((i + 1))
	done
	dirs=
	for d in /dev/vd[a-z]; do
		[ -b "$d" ] || continue
		mkdir -p "/mnt/${d#/dev/}"
		if mount -t ext4 "$d" "/mnt/${d#/dev/}"; then
			dirs="$dirs /mnt/${d#/dev/}"
		else
			echo "lab: cannot mount $d"
		fi
	done
	workload=0 ms=10
	for a in $(cat /proc/cmdline); do
		case $a in
		sp.workload=*) workload=${a#*=} ;;
		sp.workload_ms=*) ms=${a#*=} ;;
		esac
	done
	# In the foreground: daemonised, busybox acpid loses its handlers.
	acpid -f -c /etc/acpi -l /dev/console </dev/null >/dev/console 2>&1 &
	if [ -e /dev/virtio-ports/org.qemu.guest_agent.0 ]; then
		qemu-ga -m virtio-serial -p /dev/virtio-ports/org.qemu.guest_agent.0 \
			-t /run/qga -F/etc/qemu/fsfreeze-hook </dev/null >/dev/console 2>&1 &
	fi
	if [ "$workload" = 1 ] && [ -n "$dirs" ]; then
		workload -i "$ms" $dirs </dev/null >/dev/console 2>&1 &
		echo $! >/run/workload.pid
	fi
	echo "lab: ready, disks:${dirs:- none}, workload=$workload, efi=$efi"
	exec /sbin/init
	EOF
	cat >"$root/etc/inittab" <<-'EOF'
	::shutdown:/etc/lab-shutdown
	::ctrlaltdel:/sbin/poweroff
	EOF
	cat >"$root/etc/lab-shutdown" <<-'EOF'
	#!/bin/sh
	# Stop the workload between records, then unmount the data disks cleanly.
	if [ -s /run/workload.pid ]; then
		pid=$(cat /run/workload.pid)
		kill "$pid" 2>/dev/null
		i=0
		while kill -0 "$pid" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
	fi
	sync
	for m in $(grep -o ' /mnt/vd[a-z]* ' /proc/mounts); do umount "$m" || echo "lab: umount $m failed"; done
	echo "lab: data disks unmounted"
	EOF
	# qemu-ga's guest-shutdown runs /sbin/shutdown -h|-r -P +0 MESSAGE.
	# Power off at once once the disks are clean: busybox init's own
	# sequence would spend two seconds in TERM/KILL pauses.
	cat >"$root/sbin/shutdown" <<-'EOF'
	#!/bin/sh
	/etc/lab-shutdown
	for a; do [ "$a" = -r ] && exec reboot -f; done
	exec poweroff -f
	EOF
	cat >"$root/etc/acpi/PWRF/00000080" <<-'EOF'
	#!/bin/sh
	exec /sbin/shutdown -h -P +0
	EOF
	cat >"$root/etc/qemu/fsfreeze-hook" <<-'EOF'
	#!/bin/sh
	# Run every executable in fsfreeze-hook.d with freeze|thaw; any failure
	# fails the freeze (qemu-ga's rule).
	rc=0
	for h in /etc/qemu/fsfreeze-hook.d/*; do
		[ -x "$h" ] || continue
		echo "lab: fsfreeze hook $h $1" >/dev/console
		"$h" "$@" || rc=$?
	done
	exit $rc
	EOF
	chmod 755 "$root/init" "$root/etc/lab-shutdown" "$root/sbin/shutdown" \
		"$root/etc/acpi/PWRF/00000080" "$root/etc/qemu/fsfreeze-hook"
	# Names for ls, stat and scripts in hooks.
	echo 'root:x:0:0:root:/root:/bin/sh' >"$root/etc/passwd"
	echo 'root:x:0:' >"$root/etc/group"
	# ld.so finds qemu-ga's libraries through the cache.
	echo /lib/x86_64-linux-gnu >"$root/etc/ld.so.conf"
	ldconfig -r "$root" 2>/dev/null || true
}

# The host-side record checker, built once per source version.
_lab_build_checker() {
	local key
	key=$(cat "$LAB_DIR/records_check.c" "$LAB_DIR/record.h" | sha256sum | cut -c1-16)
	export LAB_RECORDS_CHECK=$LAB_CACHE/records_check-$key
	[ -x "$LAB_RECORDS_CHECK" ] && return 0
	gcc -std=c11 -O2 -Wall -o "$LAB_RECORDS_CHECK.$$" "$LAB_DIR/records_check.c" &&
		mv "$LAB_RECORDS_CHECK.$$" "$LAB_RECORDS_CHECK" ||
		die "lab: cannot build records_check"
}

# lab_make_data_disk PATH SIZE_MIB: an empty ext4 file system in a qcow2 image.
lab_make_data_disk() {
	local path=$1 mib=$2
	truncate -s "${mib}M" "$path.raw" &&
		# Initialised now, so no lazy init writes land in later backups.
		mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 "$path.raw" &&
		qemu-img convert -f raw -O qcow2 "$path.raw" "$path" &&
		rm -f "$path.raw"
}

# lab_mkfs_with_data IMAGE MIB SEED: a raw IMAGE of MIB MiB holding an
# ext4 file system (initialised now, so no lazy init writes land in later
# backups) with 24 MiB of seeded random data in /base (built in ./seed-SEED).
lab_mkfs_with_data() {
	mkdir -p "seed-$3" && random_file "seed-$3/base" 24 "$3" &&
		truncate -s "$2M" "$1" &&
		mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 \
			-d "seed-$3" "$1"
}

# lab_define_domain NAME DISK...: define the guest (disks become vda, vdb...);
# env LAB_AGENT=0 omits the agent channel, LAB_WORKLOAD=1 starts the
# workload (LAB_WORKLOAD_MS between records), LAB_MAC, LAB_MEM_MIB,
# LAB_CMDLINE (appended); LAB_UEFI=1 boots OVMF with an NVRAM of its own,
# LAB_TPM=1 adds an emulated TPM 2.0.  Undefined again at exit (NVRAM and
# TPM state with it); the disks stay.
lab_define_domain() {
	local name=$1 d i=0 xml disks="" chan="" mac fw="" tpm=""
	shift
	: "${LAB_KERNEL:?call lab_build_guest first}"
	mac=${LAB_MAC:-$(printf '52:54:00:%02x:%02x:%02x' $((RANDOM % 256)) $((RANDOM % 256)) $((RANDOM % 256)))}
	for d; do
		d=$(realpath "$d")
		disks+="    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='$d'/>
      <target dev='vd$(printf "\\x$(printf %x $((97 + i)))")' bus='virtio'/>
    </disk>
"
		i=$((i + 1))
	done
	if [ "${LAB_UEFI:-0}" = 1 ]; then
		fw="    <loader readonly='yes' type='pflash'>$LAB_OVMF_CODE</loader>
    <nvram template='$LAB_OVMF_VARS'/>
"
	fi
	if [ "${LAB_TPM:-0}" = 1 ]; then
		tpm="    <tpm model='tpm-crb'>
      <backend type='emulator' version='2.0'/>
    </tpm>
"
	fi
	_lab_agent[$name]=${LAB_AGENT:-1}
	_lab_workload[$name]=${LAB_WORKLOAD:-0}
	if [ "${_lab_agent[$name]}" = 1 ]; then
		chan="    <channel type='unix'>
      <target type='virtio' name='org.qemu.guest_agent.0'/>
    </channel>
"
	fi
	# A leftover of an earlier, killed run would make define fail.
	lab_undefine "$name"
	xml=$T/$name.xml
	cat >"$xml" <<-EOF
	<domain type='qemu'>
	  <name>$name</name>
	  <memory unit='MiB'>${LAB_MEM_MIB:-256}</memory>
	  <vcpu>1</vcpu>
	  <os>
	    <type arch='x86_64' machine='pc'>hvm</type>
	$fw    <kernel>$LAB_KERNEL</kernel>
	    <initrd>$LAB_INITRD</initrd>
	    <cmdline>console=ttyS0 panic=-1 sp.workload=${_lab_workload[$name]} sp.workload_ms=${LAB_WORKLOAD_MS:-10} ${LAB_CMDLINE:-}</cmdline>
	  </os>
	  <features><acpi/></features>
	  <clock offset='utc'/>
	  <on_poweroff>destroy</on_poweroff>
	  <on_reboot>restart</on_reboot>
	  <on_crash>destroy</on_crash>
	  <devices>
	$disks$chan$tpm    <interface type='user'>
	      <mac address='$mac'/>
	      <model type='virtio'/>
	    </interface>
	    <serial type='file'>
	      <source path='$T/$name-console.log' append='on'/>
	      <target port='0'/>
	    </serial>
	    <memballoon model='none'/>
	  </devices>
	</domain>
	EOF
	at_exit lab_undefine "$name"
	virsh define "$xml" >/dev/null
}

# lab_undefine NAME: destroy and undefine, checkpoint/snapshot metadata,
# NVRAM and TPM state too (libvirt refuses to undefine a domain with an
# NVRAM without being told what to do with it).
lab_undefine() {
	virsh domstate "$1" >/dev/null 2>&1 || return 0
	virsh destroy "$1" >/dev/null 2>&1
	virsh undefine --checkpoints-metadata --snapshots-metadata --nvram \
		--tpm "$1" >/dev/null 2>&1
}

# lab_start NAME: start the domain.
lab_start() {
	_lab_t0[$1]=$EPOCHREALTIME
	_lab_boots[$1]=$(grep -c 'lab: ready' "$T/$1-console.log" 2>/dev/null)
	virsh start "$1" >/dev/null
}
declare -gA _lab_t0=() _lab_boots=()

# _lab_gave_up NAME END WHAT: true, with WHAT and the console's tail
# logged, when guest NAME stopped running or SECONDS reached END.
_lab_gave_up() {
	[ "$(virsh domstate "$1" 2>/dev/null)" != running ] ||
		[ $SECONDS -ge "$2" ] || return 1
	_lab_log "$1: $3; console:"
	tail -n 30 "$T/$1-console.log" >&2 ||
		_lab_log "$1: no console log (did the domain start?)"
	return 0
}

# lab_wait_ready NAME [TIMEOUT]: wait until the guest's init has finished
# (disks mounted, agent and workload started) since the last lab_start,
# from its console; for guests without an agent.
lab_wait_ready() {
	local name=$1 end=$((SECONDS + ${2:-120}))
	until [ "$(grep -c 'lab: ready' "$T/$name-console.log" 2>/dev/null)" -gt "${_lab_boots[$name]:-0}" ]; do
		_lab_gave_up "$name" "$end" "not ready" && return 1
		sleep 0.2
	done
}

# lab_agent NAME JSON: one agent command; its reply on stdout.
lab_agent() {
	virsh qemu-agent-command "$1" --timeout 10 "$2"
}

# lab_wait_agent NAME [TIMEOUT]: wait until the agent answers and, with
# the workload, until every data disk holds records.
lab_wait_agent() {
	local name=$1 timeout=${2:-120} end
	end=$((SECONDS + timeout))
	until virsh qemu-agent-command "$name" --timeout 2 \
		'{"execute":"guest-ping"}' >/dev/null 2>&1; do
		_lab_gave_up "$name" "$end" "no agent" && return 1
		sleep 0.2
	done
	if [ -n "${_lab_t0[$name]:-}" ]; then
		LAB_BOOT_SECONDS=$(awk -v a="${_lab_t0[$name]}" -v b="$EPOCHREALTIME" \
			'BEGIN { printf "%.1f", b - a }')
		_lab_log "$name: agent ready ${LAB_BOOT_SECONDS}s after start"
	fi
	[ "${_lab_workload[$name]:-0}" = 1 ] || return 0
	until lab_guest_exec "$name" /bin/sh -c \
		'for m in /mnt/vd*; do [ -s $m/records ] || exit 1; done' >/dev/null; do
		[ $SECONDS -lt $end ] || { _lab_log "$name: no records"; return 1; }
		sleep 0.2
	done
}

# lab_guest_exec NAME CMD ARG...: run CMD in the guest (an absolute path:
# the agent does not search PATH); print its stdout (stderr to stderr) and
# return its exit code; 125 when the agent refused, as while frozen.
lab_guest_exec() {
	local name=$1 req reply pid st a args=""
	shift
	# Each argument quoted alone: jq would take "-c" in --args as its own.
	for a in "${@:2}"; do
		args+=${args:+,}$(printf '%s' "$a" | jq -Rs .) || return 125
	done
	req=$(printf '%s' "$1" | jq -Rsc --argjson a "[$args]" '{execute:
		"guest-exec", arguments: {path: ., arg: $a, "capture-output": true}}') ||
		return 125
	reply=$(lab_agent "$name" "$req") || return 125
	pid=$(jq -r .return.pid <<<"$reply")
	while :; do
		st=$(lab_agent "$name" "{\"execute\":\"guest-exec-status\",\"arguments\":{\"pid\":$pid}}") ||
			return 125
		[ "$(jq -r .return.exited <<<"$st")" = true ] && break
		sleep 0.05
	done
	jq -r '.return["out-data"] // empty' <<<"$st" | base64 -d
	jq -r '.return["err-data"] // empty' <<<"$st" | base64 -d >&2
	return "$(jq -r '.return.exitcode // 126' <<<"$st")"
}

# lab_guest_write_file NAME PATH MODE <CONTENT: write a file in the guest
# (parent directories made), then chmod it to MODE.
lab_guest_write_file() {
	local name=$1 path=$2 mode=$3 h b64 off=0 len
	lab_guest_exec "$name" /bin/mkdir -p "$(dirname "$path")" || return 1
	h=$(lab_agent "$name" "$(jq -cn --arg p "$path" \
		'{execute: "guest-file-open", arguments: {path: $p, mode: "w"}}')" |
		jq -r .return) || return 1
	b64=$(base64 -w0)
	len=${#b64}
	# Chunks well below the agent's message size limit.
	while [ $off -lt $len ]; do
		lab_agent "$name" "{\"execute\":\"guest-file-write\",\"arguments\":{\"handle\":$h,\"buf-b64\":\"${b64:off:65536}\"}}" \
			>/dev/null || { lab_agent "$name" "{\"execute\":\"guest-file-close\",\"arguments\":{\"handle\":$h}}" >/dev/null; return 1; }
		off=$((off + 65536))
	done
	lab_agent "$name" "{\"execute\":\"guest-file-close\",\"arguments\":{\"handle\":$h}}" >/dev/null &&
		lab_guest_exec "$name" /bin/chmod "$mode" "$path"
}

# lab_stop NAME [TIMEOUT]: clean shutdown (agent, else ACPI); destroy and
# fail when the guest is still running after TIMEOUT seconds.
lab_stop() {
	local name=$1 timeout=${2:-30} end mode=agent
	[ "$(virsh domstate "$name" 2>/dev/null)" = "shut off" ] && return 0
	[ "${_lab_agent[$name]:-1}" = 1 ] || mode=acpi
	virsh shutdown --mode "$mode" "$name" >/dev/null 2>&1 ||
		virsh shutdown --mode acpi "$name" >/dev/null 2>&1
	end=$((SECONDS + timeout))
	while [ $SECONDS -lt $end ]; do
		[ "$(virsh domstate "$name" 2>/dev/null)" = "shut off" ] && return 0
		sleep 0.2
	done
	_lab_log "$name: no clean shutdown in ${timeout}s, destroying"
	virsh destroy "$name" >/dev/null 2>&1
	return 1
}

# lab_workload_point VM DISK MIB: guest VM with one data disk DISK (MIB
# MiB, qcow2) on which the workload fsyncs a record every 50 ms, started,
# backed up live and shut down cleanly.  Sets LAB_POINT_ID to the point's
# id; false (with why on stderr) when any step fails.  Not in a $(...):
# the domain's bookkeeping must stay in the test's shell.
lab_workload_point() {
	local vm=$1 disk=$2 mib=$3 out
	LAB_POINT_ID=
	lab_make_data_disk "$disk" "$mib"
	LAB_WORKLOAD=1 LAB_WORKLOAD_MS=50 lab_define_domain "$vm" "$disk"
	lab_start "$vm"
	lab_wait_agent "$vm" 300 || { echo "guest $vm did not come up" >&2; return 1; }
	sleep 2
	out=$("$SP" --no-progress --json backup "$vm") ||
		{ echo "backup of $vm failed" >&2; return 1; }
	lab_stop "$vm" 120 || { echo "no clean shutdown of $vm" >&2; return 1; }
	LAB_POINT_ID=$(jq -r .id <<<"$out")
}

# lab_instant_end JOB NEW SOURCE COPY: after an instant recovery of a
# lab_workload_point guest as domain NEW, wait for job JOB to end (at most
# 10 minutes), then check that it completed, that NEW's definition names
# no socket, NBD or overlay, and, after a clean shutdown, that the records
# on its copied disk COPY pass the check and run past those on SOURCE.
lab_instant_end() {
	local job=$1 new=$2 src=$3 copy=$4 i point after
	for ((i = 0; i < 600; i++)); do
		[ "$(sp --json job "$job" | jq -r .status)" = "in progress" ] || break
		sleep 1
	done
	expect_ok "job at the end" sp --json job "$job"
	check "the job completed" jqe '.status == "completed" and .phase == "done"' "$T/.out"
	virsh dumpxml --inactive "$new" >"$T/def.xml"
	check "the definition names no socket, NBD or overlay" \
		bash -c "! grep -Eq 'nbd|sock|overlay' $T/def.xml"
	lab_stop "$new" 120 || die "no clean shutdown of the recovered domain"
	point=$(lab_records_check "$src") || die "records of the source torn"
	after=$(lab_records_check "$copy")
	check "records check passes on the copied disk" test -n "$after"
	check "records written since the point are kept ($after > $point)" \
		test "${after:-0}" -gt "$point"
}

# lab_records_check IMAGE [-p]: the workload's records on a data disk image
# (raw or qcow2; a crash-consistent copy is fine, its journal is replayed on
# a scratch copy) must be intact and end cleanly; prints the last sequence
# and, with -p, a second line: the longest pause between records in ms.
lab_records_check() {
	local img=$1 work rc
	shift
	: "${LAB_RECORDS_CHECK:?call lab_build_guest first}"
	work=$(mktemp -d "${T:-${TMPDIR:-/var/tmp}}/records-XXXXXX")
	qemu-img convert -O raw "$img" "$work/disk.raw" || { rm -rf "$work"; return 2; }
	# e2fsck exits 1 or 2 when it replayed the journal or fixed something.
	e2fsck -fy "$work/disk.raw" >"$work/fsck.log" 2>&1
	rc=$?
	if [ $rc -ge 4 ]; then
		echo "lab_records_check: $img: e2fsck failed ($rc):" >&2
		tail -n 20 "$work/fsck.log" >&2
		rm -rf "$work"
		return 1
	fi
	if ! debugfs -R "dump /records $work/records" "$work/disk.raw" \
		>/dev/null 2>"$work/debugfs.log" || [ ! -e "$work/records" ]; then
		echo "lab_records_check: $img: no /records file" >&2
		rm -rf "$work"
		return 1
	fi
	"$LAB_RECORDS_CHECK" "$@" "$work/records"
	rc=$?
	rm -rf "$work"
	return $rc
}

# For checks that run through bash -c.
export -f lab_agent lab_guest_exec lab_guest_write_file lab_records_check
export LIBVIRT_DEFAULT_URI LAB_DIR LAB_CACHE

#!/bin/bash
# verify --boot of a UEFI guest with an emulated TPM 2.0: the booted copy
# runs on copies of the point's NVRAM and TPM state (the probe reads, from
# inside, the UEFI variable and TPM NV index set before the backup, then
# changes both), while the original's NVRAM file and swtpm state keep
# their bytes (cmp with copies this test takes) and nothing of the copy's
# state is left afterwards: not in swtpm's directory, not in libvirt's
# NVRAM directory, not in the scratch directory.
. "$(dirname "$0")/lib.sh"
. "$SP_TOP/tests/lab/lab.sh"
lab_need
lab_need_uefi
lab_need_tpm
lab_build_guest

vm=verifyboot-t6930-$$
var=StillpointLab-5e7c1a42-9d3b-4f6e-8a21-c0ffee693000
nvidx=0x01000069
swtpm=/var/lib/libvirt/swtpm
export STILLPOINT_STATE_DIR=$T/state STILLPOINT_TMPDIR=$T/scratch
mkdir -p "$T/scratch" && chmod 755 "$T/scratch"
guest() { lab_guest_exec "$@" 2>/dev/null; }

sp init >/dev/null
lab_make_data_disk "$T/d1.qcow2" 32
LAB_UEFI=1 LAB_TPM=1 lab_define_domain "$vm" "$T/d1.qcow2"
# The TPM's first state made here, as libvirt would on the first start:
# libvirt's swtpm_setup inherits libvirtd's TMPDIR, which the swtpm user
# may not be able to write where the daemon was started by hand.
tpmdir=$swtpm/$(virsh domuuid "$vm" | tr -d '[:space:]')/tpm2
mkdir -p "$tpmdir" && chmod 711 "$swtpm" "$(dirname "$tpmdir")" &&
	chown tss:tss "$tpmdir" && chmod 700 "$tpmdir" ||
	die "cannot make the TPM state directory"
mkdir -p "$T/tss-tmp" && chown tss "$T/tss-tmp"
runuser -u tss -- env TMPDIR="$T/tss-tmp" swtpm_setup --tpm2 \
	--tpmstate "$tpmdir" --createek --not-overwrite >"$T/swtpm_setup.log" 2>&1 ||
	{ cat "$T/swtpm_setup.log"; die "swtpm_setup failed"; }
lab_start "$vm"
lab_wait_agent "$vm" 300 || die "guest did not come up"
check "the guest sets a UEFI variable" guest "$vm" /bin/labfw efi-set "$var" value-A
check "the guest writes a TPM NV index" guest "$vm" /bin/labfw tpm-nv-set "$nvidx" tpm-A
expect_ok "live backup with NVRAM and TPM state" sp --json backup "$vm"
check "the point stored both" \
	jqe '[.state[] | select(.file != null) | .kind] | (index("nvram") != null and index("tpm") != null)' "$T/.out"
lab_stop "$vm" 60 || die "guest did not stop"
nvram=$(virsh dumpxml --inactive "$vm" | sed -n 's|.*<nvram[^>]*>\(.*\)</nvram>.*|\1|p')
cp "$nvram" "$T/nvram-before"
cp -a "$tpmdir" "$T/tpm-before"
ls "$swtpm" | sort >"$T/swtpm-before"
ls "$(dirname "$nvram")" | sort >"$T/nvram-dir-before"

expect_ok "verify --boot reads the variable and NV index in the copy, then changes both" \
	sp --json verify --boot "$vm" --timeout 900 --probe \
	"[ \"\$(/bin/labfw efi-get $var)\" = value-A ] && [ \"\$(/bin/labfw tpm-nv-get $nvidx)\" = tpm-A ] && /bin/labfw efi-set $var value-B && /bin/labfw tpm-nv-set $nvidx tpm-B"
check "passed" jqe '.passed and .exit_code == 0' "$T/.out"
check "the original's NVRAM keeps its bytes" cmp "$nvram" "$T/nvram-before"
check "the original's TPM state keeps its bytes" diff -r "$tpmdir" "$T/tpm-before"
check "no TPM state of the copy left in swtpm's directory" \
	bash -c "ls '$swtpm' | sort | cmp -s - '$T/swtpm-before'"
check "no NVRAM of the copy left in libvirt's directory" \
	bash -c "ls '$(dirname "$nvram")' | sort | cmp -s - '$T/nvram-dir-before'"
check "no scratch directory left" bash -c "[ -z \"\$(ls -A '$T/scratch')\" ]"
check "no sp-verify domain left" bash -c "! virsh list --all --name | grep -q '^sp-verify-$vm'"
lab_start "$vm"
lab_wait_agent "$vm" 300 || die "the original did not boot again"
check "the original still has its variable" \
	test "$(guest "$vm" /bin/labfw efi-get "$var")" = value-A
check "and its NV index" test "$(guest "$vm" /bin/labfw tpm-nv-get "$nvidx")" = tpm-A
done_testing

#!/bin/bash
# The whole VM, not only its disks: a UEFI guest (Debian's OVMF, booting
# the lab kernel through fw_cfg) with an emulated TPM 2.0 (swtpm).  From
# inside, the guest sets a UEFI variable (efivarfs: OVMF writes it into the
# domain's NVRAM file) and writes a TPM NV index (swtpm writes its state
# file).  A live backup stores both files with the point; the guest then
# changes both; restore --as gives a new domain a new NVRAM file and TPM
# state of its own holding the stored bytes, and restore --in-place puts
# them back over the original's.  Both boot with the backed-up variable
# and NV index.  The bytes are compared (cmp) with copies this test takes
# itself, not only with the tool's checksums; verify proves the stored
# files, names a damaged one, and restore refuses it leaving nothing.
. "$(dirname "$0")/lib.sh"
. "$SP_TOP/tests/lab/lab.sh"
lab_need
lab_need_uefi
lab_need_tpm
lab_build_guest

vm=sp-t6610-$$
copy=$vm-copy
var=StillpointLab-5e7c1a42-9d3b-4f6e-8a21-c0ffee661000
nvidx=0x01000066
swtpm=/var/lib/libvirt/swtpm

nvram_of() { # the NVRAM file libvirt gives domain $1
	virsh dumpxml --inactive "$1" | sed -n 's|.*<nvram[^>]*>\(.*\)</nvram>.*|\1|p'
}
tpm_dir_of() { echo "$swtpm/$(virsh domuuid "$1" | tr -d '[:space:]')/tpm2"; }
# in_point ID FILE: the path of FILE (state-N) of point ID in the vault
in_point() { echo "$STILLPOINT_VAULT/points/$vm/$1/$2"; }
# state_file KIND [NAME] < manifest: the file a point stored it in
state_file() {
	jq -r --arg k "$1" --arg n "${2:-}" \
		'.state[] | select(.kind == $k and ($n == "" or .name == $n)) | .file // empty'
}
guest() { lab_guest_exec "$@" 2>/dev/null; }
# boot NAME: start it and wait for its agent; says how long UEFI took
boot() {
	lab_start "$1"
	lab_wait_agent "$1" 240 || die "$1 did not come up"
	say "# $1: booted UEFI in ${LAB_BOOT_SECONDS}s (TCG)"
}

sp init >/dev/null
lab_make_data_disk "$T/d1.qcow2" 32
LAB_UEFI=1 LAB_TPM=1 lab_define_domain "$vm" "$T/d1.qcow2"
nvram=$(nvram_of "$vm")
tpmdir=$(tpm_dir_of "$vm")
check "libvirt names the NVRAM file ($nvram)" test -n "$nvram"

# Never started: libvirt has made neither file yet.  Not a failure.
expect_ok "offline backup before the first start" sp --json backup "$vm"
check "the point says the NVRAM does not exist yet, and why" \
	jqe '[.state[] | select(.kind == "nvram")] | length == 1 and
		(.[0].file == null) and (.[0].reason | test("first starts"))' "$T/.out"
check "and the same of the TPM state" \
	jqe '[.state[] | select(.kind == "tpm")] | length == 1 and
		(.[0].file == null) and (.[0].reason | test("first starts"))' "$T/.out"
export LAB_OVMF_CODE
check "the firmware code is named, read-only, not stored" \
	jqe '.firmware.loader == $ENV.LAB_OVMF_CODE and .firmware.loader_readonly and
		.firmware.loader_type == "pflash"' "$T/.out"
check "no warning for what a first start makes" jqe '.warnings == []' "$T/.out"

boot "$vm"
check "the guest runs UEFI with efivarfs" guest "$vm" /bin/sh -c \
	'[ -d /sys/firmware/efi ] && grep -q efivarfs /proc/mounts'
check "the guest has a TPM" guest "$vm" /bin/sh -c '[ -c /dev/tpm0 ]'
check "libvirt made the NVRAM from the template" test -s "$nvram"
check "and swtpm its state" test -s "$tpmdir/tpm2-00.permall"
before_var=$(cp "$nvram" "$T/nvram-boot" && sha256sum <"$T/nvram-boot")
check "the guest sets a UEFI variable" guest "$vm" /bin/labfw efi-set "$var" value-A
check "and reads it back" test "$(guest "$vm" /bin/labfw efi-get "$var")" = value-A
check "the variable reached the NVRAM file" \
	test "$(sha256sum <"$nvram")" != "$before_var"
cp "$tpmdir/tpm2-00.permall" "$T/tpm-boot"
check "the guest writes a TPM NV index" guest "$vm" /bin/labfw tpm-nv-set "$nvidx" tpm-A
check "and reads it back" test "$(guest "$vm" /bin/labfw tpm-nv-get "$nvidx")" = tpm-A
check "swtpm wrote the NV index into its state file" \
	bash -c "! cmp -s '$T/tpm-boot' '$tpmdir/tpm2-00.permall'"

# The copies this test compares with: taken before and after the backup,
# which must agree (the guest is idle: nothing else writes either file).
cp "$nvram" "$T/nvram-A"
cp "$tpmdir/tpm2-00.permall" "$T/tpm-A"
expect_ok "live backup" sp --json backup "$vm"
cp "$T/.out" "$T/pA.json"
id=$(jq -r .id "$T/pA.json")
check "the files did not change during the backup" \
	bash -c "cmp -s '$T/nvram-A' '$nvram' && cmp -s '$T/tpm-A' '$tpmdir/tpm2-00.permall'"
check "a live point" jqe '.source.state == "running" and .consistency != "crash"' "$T/pA.json"
nvf=$(state_file nvram <"$T/pA.json")
tpf=$(state_file tpm tpm2-00.permall <"$T/pA.json")
check "the point stored the NVRAM ($nvf) and the TPM state ($tpf)" \
	test -n "$nvf" -a -n "$tpf"
export NVRAM=$nvram SHA=$(sha256sum <"$T/nvram-A" | cut -c1-64) SIZE=$(stat -c %s "$T/nvram-A")
check "the manifest records kind, source, size and SHA-256" \
	jqe '.state[] | select(.kind == "nvram") | .source == $ENV.NVRAM and
		.sha256 == $ENV.SHA and .size == ($ENV.SIZE | tonumber)' "$T/pA.json"
check "the stored NVRAM is byte for byte the file" cmp "$(in_point "$id" "$nvf")" "$T/nvram-A"
check "the stored TPM state is byte for byte the file" cmp "$(in_point "$id" "$tpf")" "$T/tpm-A"
check "the point holds its indexes, config and two state files: no firmware code" \
	test "$(ls "$STILLPOINT_VAULT/points/$vm/$id" | tr '\n' ' ')" = \
	"config disk-0.idx manifest.json state-0 state-1 "
expect_ok "points lists the stored state" sp points "$vm"
check "with the NVRAM and the TPM file" \
	bash -c "grep -q 'nvram .*$(basename "$nvram")' '$T/.out' && grep -q 'tpm .*tpm2-00.permall' '$T/.out' &&
		grep -q 'firmware $LAB_OVMF_CODE' '$T/.out'"
expect_ok "points --json shows the state items" sp --json points "$vm"
check "every point's state is listed" jqe '[.[] | .state | length] == [2, 2]' "$T/.out"

# The guest changes both again: the restores must undo it.
check "the guest changes the variable" guest "$vm" /bin/labfw efi-set "$var" value-B
check "and the NV index" guest "$vm" /bin/labfw tpm-nv-set "$nvidx" tpm-B
lab_stop "$vm" || die "$vm did not shut down"
cp "$nvram" "$T/nvram-B"
cp "$tpmdir/tpm2-00.permall" "$T/tpm-B"
check "the NVRAM file changed since the point" bash -c "! cmp -s '$T/nvram-A' '$T/nvram-B'"
check "and the TPM state" bash -c "! cmp -s '$T/tpm-A' '$T/tpm-B'"

# A file already where the copy's NVRAM goes: refused before anything is
# written, and nothing is left (no domain, disk or TPM state).
blocker="$(dirname "$nvram")/${copy}_VARS.fd"
echo not-mine >"$blocker"
at_exit rm -f "$blocker"
tpms_before=$(ls "$swtpm")
expect_fail TargetExists "restore --as onto an existing NVRAM file is refused" \
	sp restore "$vm@$id" --as "$copy" --to "$T"
check "leaving no domain, no disk, no TPM state, the file as it was" \
	bash -c "! virsh domstate '$copy' >/dev/null 2>&1 && [ ! -e '$T/$copy-vda.qcow2' ] &&
		[ \"\$(ls '$swtpm')\" = '$tpms_before' ] && [ \"\$(cat '$blocker')\" = not-mine ]"
rm -f "$blocker"

# As a new domain: an NVRAM and a TPM state of its own.
expect_ok "restore --as" sp --json restore "$vm@$id" --as "$copy" --to "$T"
at_exit lab_undefine "$copy"
cp "$T/.out" "$T/as.json"
cnvram=$(nvram_of "$copy")
ctpmdir=$(tpm_dir_of "$copy")
check "the copy's NVRAM is a new file ($cnvram)" \
	test -n "$cnvram" -a "$cnvram" != "$nvram" -a "$(dirname "$cnvram")" = "$(dirname "$nvram")"
check "holding the stored bytes" cmp "$cnvram" "$T/nvram-A"
check "the copy has another UUID" test "$(virsh domuuid "$copy")" != "$(virsh domuuid "$vm")"
check "its TPM state is where libvirt looks for its UUID, the stored bytes" \
	cmp "$ctpmdir/tpm2-00.permall" "$T/tpm-A"
check "owned as swtpm's state is" \
	test "$(stat -c %U "$ctpmdir" "$ctpmdir/tpm2-00.permall" | sort -u)" = "$(stat -c %U "$tpmdir")"
export CNVRAM=$cnvram
check "the result lists the state files" \
	jqe '([.files[] | select(.state)] | length == 2) and
		any(.files[]; .state == "nvram" and .path == $ENV.CNVRAM)' "$T/as.json"
check "the original's files are untouched" \
	bash -c "cmp -s '$nvram' '$T/nvram-B' && cmp -s '$tpmdir/tpm2-00.permall' '$T/tpm-B'"
boot "$copy"
check "the copy's firmware has the backed-up variable" \
	test "$(guest "$copy" /bin/labfw efi-get "$var")" = value-A
check "the copy's TPM has the backed-up NV index" \
	test "$(guest "$copy" /bin/labfw tpm-nv-get "$nvidx")" = tpm-A
check "libvirt used the restored TPM state (no swtpm_setup)" \
	bash -c "! grep -qs manufacturing /var/log/swtpm/libvirt/qemu/$copy-swtpm.log"
lab_stop "$copy"
lab_undefine "$copy"
rm -f "$T/$copy-vda.qcow2"
check "undefining the copy leaves the original's files" \
	bash -c "cmp -s '$nvram' '$T/nvram-B' && cmp -s '$tpmdir/tpm2-00.permall' '$T/tpm-B'"

# In place: the point's NVRAM and TPM state over the domain's own.
expect_ok "restore --in-place" sp --json restore "$vm@$id" --in-place
check "the NVRAM file holds the stored bytes again" cmp "$nvram" "$T/nvram-A"
check "the TPM state file too" cmp "$tpmdir/tpm2-00.permall" "$T/tpm-A"
check "nothing else left in the TPM directory" \
	test "$(ls "$tpmdir")" = tpm2-00.permall
check "the result lists them" \
	jqe 'any(.files[]; .state == "nvram" and .path == $ENV.NVRAM) and
		any(.files[]; .state == "tpm" and .name == "tpm2-00.permall")' "$T/.out"
boot "$vm"
check "the domain's firmware has the backed-up variable again" \
	test "$(guest "$vm" /bin/labfw efi-get "$var")" = value-A
check "its TPM the backed-up NV index" \
	test "$(guest "$vm" /bin/labfw tpm-nv-get "$nvidx")" = tpm-A
lab_stop "$vm"

# Offline, after a boot: both files exist now, read as they are.
cp "$nvram" "$T/nvram-C"
cp "$tpmdir/tpm2-00.permall" "$T/tpm-C"
expect_ok "offline backup" sp --json backup "$vm"
cp "$T/.out" "$T/pC.json"
idC=$(jq -r .id "$T/pC.json")
check "the offline point stored both, byte for byte" \
	bash -c "cmp -s '$(in_point "$idC" "$(state_file nvram <"$T/pC.json")")' '$T/nvram-C' &&
		cmp -s '$(in_point "$idC" "$(state_file tpm <"$T/pC.json")")' '$T/tpm-C'"

# Disks to a directory: the state files beside them.
mkdir "$T/out"
expect_ok "restore --to DIR" sp --json restore "$vm@$id" --to "$T/out"
check "writes the NVRAM as its file name" cmp "$T/out/$(basename "$nvram")" "$T/nvram-A"
check "and the TPM state as swtpm's directory has it" cmp "$T/out/tpm2/tpm2-00.permall" "$T/tpm-A"
expect_fail TargetExists "a second time refuses the existing files" \
	sp restore "$vm@$id" --to "$T/out"

# verify proves each stored file; a damaged one is named and refused.
expect_ok "verify" sp --json verify "$vm"
check "it checked the configs and the state files of the 3 points" \
	jqe '.points == 3 and .files == 7 and .damaged == []' "$T/.out"
p=$(in_point "$id" "$nvf")
cp "$p" "$T/nvf.saved"
printf 'X' | dd of="$p" bs=1 seek=4096 conv=notrunc status=none
expect_fail PointDamaged "verify finds the damaged NVRAM" sp --json verify "$vm"
export P="$vm/$id" F=$nvf
check "naming the point, the file and its kind" \
	jqe '.damaged | length == 1 and .[0].point == $ENV.P and
		.[0].file == $ENV.F and .[0].state == "nvram" and
		.[0].code == "PointFileCorrupt"' "$T/.out"
expect_fail PointFileCorrupt "restore --as refuses the damaged point" \
	sp restore "$vm@$id" --as "$copy" --to "$T"
check "and leaves nothing: no domain, disk, NVRAM or TPM state" \
	bash -c "! virsh domstate '$copy' >/dev/null 2>&1 && [ ! -e '$T/$copy-vda.qcow2' ] &&
		[ ! -e '$(dirname "$nvram")/${copy}_VARS.fd' ]"
expect_fail PointFileCorrupt "restore --in-place refuses it too" \
	sp restore "$vm@$id" --in-place
check "leaving the domain's NVRAM as it was" cmp "$nvram" "$T/nvram-C"
cp "$T/nvf.saved" "$p"
expect_ok "verify is content again" sp verify "$vm"

# The trash keeps the state files with the point.
expect_ok "delete" sp delete "$vm@$id"
expect_ok "undelete" sp undelete "$vm@$id"
check "the point's state files came back with it" cmp "$(in_point "$id" "$nvf")" "$T/nvram-A"
expect_ok "and verify" sp verify "$vm@$id"
done_testing

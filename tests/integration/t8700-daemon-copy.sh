#!/bin/bash
# A policy's copy target (policy --copy-to): after each backup of a
# protected VM, stillpointd copies the new point into an S3 vault as a job
# of its own (kind "copy", phases transfer and publish), shown by `jobs`;
# the copy restores to the same bytes; the next point's copy sends only
# its new chunks; a target that is no vault fails the copy job with a code and
# leaves the backup completed.
. "$(dirname "$0")/lib.sh"
. "$SP_TOP/tests/lab/lab.sh"
lab_need
need_s3
# A vault without encryption (s3:// vaults are encrypted unless told not
# to be, where this build has encrypted vaults).
plain_init() {
	if "$SP" init --help | grep -q -- '--no-encrypt'; then
		sp --vault "$1" init --no-encrypt
	else
		sp --vault "$1" init
	fi
}
lab_build_guest
export STILLPOINT_STATE_DIR="$T/state" STILLPOINTD_SOCKET="$T/d.sock"
export STILLPOINT_S3_RETRIES=2,20
D="$(dirname "$SP")/stillpointd"
OFF="s3://$S3_BUCKET/offsite"

sp init >/dev/null
expect_ok "init the offsite S3 vault" plain_init "$OFF"
a=sp-t8700-$$
lab_make_data_disk "$T/a.qcow2" 32
LAB_WORKLOAD=1 lab_define_domain "$a" "$T/a.qcow2"
lab_start "$a"
lab_wait_agent "$a" || die "guest a"

expect_fail UsageError "a relative S3-less copy target that does not exist is refused" \
	sp policy create bad --schedule "daily 03:00" --copy-to no/such/dir
expect_ok "a policy with a copy target" \
	sp policy create offsite --schedule "daily 03:00" --keep-last 3 --copy-to "$OFF"
check "  ... shown by policy show" bash -c "sp policy show offsite | grep -q 'copy to $OFF'"
check "  ... and in its JSON" bash -c "sp policy show offsite --json | jqe '.copy_to == \"$OFF\"'"
expect_ok "protect the VM" sp protect "$a" --policy offsite

"$D" --socket "$STILLPOINTD_SOCKET" --tick 200 --retries 0 2>>"$T/daemon.log" &
dpid=$!
at_exit kill -9 $dpid
for _ in $(seq 1 50); do [ -S "$STILLPOINTD_SOCKET" ] && break; sleep 0.1; done

copies_done() { [ "$(sp --json jobs --vm "$a" | jq '[.[] | select(.kind == "copy" and .status != "queued" and .status != "in progress")] | length')" -ge "$1" ]; }

expect_ok "backup --now through the daemon" sp backup "$a" --now
check "a copy job follows and ends" wait_for 120 copies_done 1
sp --json jobs --vm "$a" >jobs.json
bid=$(jq '[.[] | select(.kind == "backup")][0].id' jobs.json)
pt=$(jq -r '[.[] | select(.kind == "backup")][0].point' jobs.json)
check "the copy job completed, of the backup's point, triggered by the policy" \
	jqe '[.[] | select(.kind == "copy")][0] | (.status | startswith("completed")) and .point == "'"$pt"'" and .trigger == "policy" and .copy_of == '"$bid"' and .copy_to == "'"$OFF"'"' jobs.json
check "  ... with its own phases timed and its bytes" \
	jqe '[.[] | select(.kind == "copy")][0] | .phases.transfer.duration_ms >= 0 and .phases.publish.duration_ms >= 0 and .bytes_new > 0' jobs.json
cid=$(jq '[.[] | select(.kind == "copy")][0].id' jobs.json)
check "jobs lists it as a copy" bash -c "sp jobs --vm $a | grep -q '^$cid .*\\[copy\\]'"
check "job shows its phases" bash -c "sp job $cid | grep -q 'copy of $a@$pt to $OFF' && sp job $cid | grep -q 'Publish'"
check "the point is in the offsite vault" \
	bash -c "sp --vault '$OFF' points $a --json | jqe 'length == 1 and .[0].id == \"$pt\"'"
mkdir r1 r2
expect_ok "restore from the vault" sp restore "$a@$pt" --to r1
expect_ok "restore from the offsite copy" sp --vault "$OFF" restore "$a@$pt" --to r2
# qcow2 images restored by several threads may lay clusters out in
# another order: compare what the guest sees.
same_disks() {
	local f n=0
	for f in r1/*; do
		case $(qemu-img info --output=json "$f" | jq -r .format) in
		qcow2) qemu-img compare -q "$f" "r2/${f#r1/}" || return 1 ;;
		*) cmp "$f" "r2/${f#r1/}" || return 1 ;;
		esac
		n=$((n + 1))
	done
	[ $n -ge 1 ]
}
check "the same disks and files" same_disks
check "  ... the same disk indexes (index_sha256)" bash -c "diff <(jq -S '[.disks[].index_sha256]' '$STILLPOINT_VAULT/points/$a/$pt/manifest.json') <(s3_get '$S3_BUCKET/offsite/points/$a/$pt/manifest.json' | jq -S '[.disks[].index_sha256]')"

expect_ok "a second backup" sp backup "$a" --now
check "its copy ends too" wait_for 120 copies_done 2
sp --json jobs --vm "$a" >jobs2.json
check "the second copy completed and sent less than the first" \
	jqe '[.[] | select(.kind == "copy")] | (.[0].status | startswith("completed")) and .[0].bytes_new < .[1].bytes_new' jobs2.json
check "two points offsite" bash -c "sp --vault '$OFF' points $a --json | jqe 'length == 2'"

# A target that is no vault: the copy fails with a code, the backup stands.
expect_ok "point the copy target at a prefix that holds no vault" \
	sp policy edit offsite --copy-to "s3://$S3_BUCKET/nothing-here"
expect_ok "a third backup" sp backup "$a" --now
check "its copy ends" wait_for 120 copies_done 3
sp --json jobs --vm "$a" >jobs3.json
check "the copy failed with NotAVault, the backup completed" \
	jqe '([.[] | select(.kind == "copy")][0] | .status == "failed" and .code == "NotAVault") and ([.[] | select(.kind == "backup")][0].status | startswith("completed"))' jobs3.json
expect_ok "no copy target any more" sp policy edit offsite --no-copy-to
check "  ... gone from the policy" bash -c "sp policy show offsite --json | jqe 'has(\"copy_to\") | not'"
done_testing

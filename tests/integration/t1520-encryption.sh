#!/bin/bash
# Encrypted vaults (docs/encryption.md), in a directory and in S3: no
# plaintext of a disk and no VM name in any stored object, restore byte
# for byte, a wrong or missing key fails before anything is written, a
# flipped byte in a chunk, a manifest or an index and a chunk moved under
# another chunk's key are found by verify and refused by restore, the key
# slots (add, passwd, remove, the last one kept, the paper key, a
# key-file-only vault), and an unencrypted S3 vault that does store
# plaintext (so the search below can find it).
. "$(dirname "$0")/lib.sh"
need_s3
export STILLPOINT_S3_RETRIES=4,20
unset STILLPOINT_PASSPHRASE STILLPOINT_PASSPHRASE_FILE STILLPOINT_KEY_FILE
export STILLPOINT_CACHE_DIR=$T/cache # listings cache manifests here
MARK=STILLPOINT-PLAINTEXT-MARKER-7f3a
VM=secretvm-c41d

# A disk: the marker repeated (it compresses, so it would show through
# zstd too), random data, the marker again at its end.
{
	for i in $(seq 1 60000); do echo "$MARK line $i"; done
	head -c 3000000 /dev/urandom
	for i in $(seq 1 60000); do echo "$MARK again $i"; done
} >disk.raw
truncate -s 24M disk.raw
printf '%s' "$MARK" | dd of=disk.raw bs=1 seek=$((24 * 1048576 - 64)) conv=notrunc status=none

# ---- the same checks for a vault in a directory and one in S3 --------------
# objects: every stored object, one a line, with what says it changed.
# bodies_with S: the objects whose bytes contain S.  fetch K F / store K F:
# one object to and from a file.
local_objects() { (cd "$V" && find . -type f ! -name lock -printf '%P %s %T@\n' | sort); }
local_bodies_with() { (cd "$V" && grep -rlaF -- "$1" . || true); }
local_fetch() { cp "$V/$1" "$2"; }
local_store() { cp "$2" "$V/$1"; }
local_keys() { (cd "$V" && find . -type f ! -name lock -printf '%P\n'); }
s3_objects() { s3_ls "$S3_BUCKET" "$PFX/" | sort; }
s3_keys() { s3_ls "$S3_BUCKET" "$PFX/" | sed "s|^$PFX/||"; }
s3_bodies_with() {
	local k
	for k in $(s3_keys); do
		s3_get "$S3_BUCKET/$PFX/$k" | grep -qaF -- "$1" && echo "$k"
	done
	true
}
s3_fetch() { s3_get "$S3_BUCKET/$PFX/$1" >"$2"; }
s3_store() { s3_put "$S3_BUCKET/$PFX/$1" "$2"; }

flip() { # KEY: flip one byte in the middle of the object
	"${kind}_fetch" "$1" obj.tmp
	local at=$(($(stat -c %s obj.tmp) / 2)) b
	b=$(od -An -tu1 -j "$at" -N1 obj.tmp)
	printf "\\$(printf %o $((b ^ 0x20)))" | dd of=obj.tmp bs=1 seek="$at" conv=notrunc status=none
	"${kind}_store" "$1" obj.tmp
}

suite() { # KIND VAULT
	kind=$1 V=$2
	local id first chunks c1 c2
	say "# ---- $kind vault: $V"
	export STILLPOINT_PASSPHRASE=correct-horse-1
	expect_ok "$kind: init --encrypt" sp --vault "$V" init --encrypt
	check "$kind: the settings say aes-256-gcm and hmac-sha256 ids" \
		bash -c "sp --vault '$V' info --json | jq -e '.encryption == \"aes-256-gcm\" and .chunk_id == \"hmac-sha256\"' >/dev/null"
	expect_ok "$kind: back up a disk with a plaintext marker" \
		sp --vault "$V" backup --name $VM --disk "$T/disk.raw:raw"
	expect_ok "$kind: a second point" \
		sp --vault "$V" backup --name $VM --disk "$T/disk.raw:raw"
	check "$kind: the points say their ids are keyed" \
		bash -c "sp --vault '$V' points --json | jq -e 'length == 2 and all(.[]; .chunk_id == \"hmac-sha256\")' >/dev/null"
	check "$kind: the objects were stored" test "$("${kind}_objects" | wc -l)" -gt 6
	check "$kind: the marker is in no object" test -z "$("${kind}_bodies_with" "$MARK")"
	check "$kind: the VM name is in no object" test -z "$("${kind}_bodies_with" "$VM")"
	check "$kind: a piece of the random data is in no object" \
		test -z "$("${kind}_bodies_with" "$(dd if=disk.raw bs=1 skip=2500000 count=12 status=none | base64 | tr -d '/+=' | head -c 8)")"
	rm -rf "out-$kind" && mkdir "out-$kind"
	expect_ok "$kind: restore" sp --vault "$V" restore $VM --to "$T/out-$kind"
	check "$kind: restored byte for byte" cmp disk.raw "out-$kind/disk.raw"
	expect_ok "$kind: verify" sp --vault "$V" verify

	# A wrong key, or none: refused before anything is written.
	"${kind}_objects" >before
	expect_fail VaultKeyWrong "$kind: a wrong passphrase" \
		env STILLPOINT_PASSPHRASE=wrong "$SP" --vault "$V" backup --name $VM --disk "$T/disk.raw:raw"
	check "$kind: ... says so clearly" grep -q "no key slot of the vault opens" "$T/.err"
	expect_fail VaultKeyWrong "$kind: a wrong passphrase for points" \
		env STILLPOINT_PASSPHRASE=wrong "$SP" --vault "$V" points
	expect_fail VaultKeyNeeded "$kind: no passphrase and no terminal" \
		env -u STILLPOINT_PASSPHRASE "$SP" --vault "$V" backup --name $VM --disk "$T/disk.raw:raw" </dev/null
	"${kind}_objects" >after
	check "$kind: nothing was written by them" cmp before after

	# Key slots.
	expect_ok "$kind: key add (a second passphrase)" \
		env STILLPOINT_NEW_PASSPHRASE=second-2 "$SP" --vault "$V" key add --label ops
	expect_ok "$kind: opens with the first" sp --vault "$V" points
	expect_ok "$kind: opens with the second" env STILLPOINT_PASSPHRASE=second-2 "$SP" --vault "$V" points
	check "$kind: key list shows two slots" \
		bash -c "sp --vault '$V' key list --json | jq -e 'length == 2 and ([.[] | select(.unlocked)] | length) == 1' >/dev/null"
	expect_ok "$kind: key passwd replaces the second" \
		env STILLPOINT_PASSPHRASE=second-2 STILLPOINT_NEW_PASSPHRASE=third-3 "$SP" --vault "$V" key passwd
	expect_fail VaultKeyWrong "$kind: the replaced passphrase no longer opens" \
		env STILLPOINT_PASSPHRASE=second-2 "$SP" --vault "$V" points
	expect_ok "$kind: the new one does" env STILLPOINT_PASSPHRASE=third-3 "$SP" --vault "$V" points
	third=$(env STILLPOINT_PASSPHRASE=third-3 "$SP" --vault "$V" key list --json | jq -r '.[] | select(.unlocked) | .id')
	first=$(sp --vault "$V" key list --json | jq -r '.[] | select(.unlocked) | .id')
	expect_ok "$kind: key remove" sp --vault "$V" key remove "$third"
	expect_fail VaultKeyWrong "$kind: the removed slot no longer opens" \
		env STILLPOINT_PASSPHRASE=third-3 "$SP" --vault "$V" points
	expect_fail UsageError "$kind: the last slot is kept" sp --vault "$V" key remove "$first"
	expect_ok "$kind: ... and still opens" sp --vault "$V" points
	sp --vault "$V" key export --paper >"paper-$kind.txt"
	check "$kind: the paper key has seven lines" test "$(grep -c '^[1-7]: ' "paper-$kind.txt")" = 7
	expect_ok "$kind: the paper key opens it as --key-file" \
		env -u STILLPOINT_PASSPHRASE "$SP" --vault "$V" --key-file "$T/paper-$kind.txt" points
	sed -i 's/^3: \(.\)/3: \1\1/' "paper-$kind.txt"
	expect_fail VaultKeyWrong "$kind: a paper key with a typo does not" \
		env -u STILLPOINT_PASSPHRASE "$SP" --vault "$V" --key-file "$T/paper-$kind.txt" points

	# Damage: a flipped byte in a chunk, a manifest, an index; a chunk
	# under another chunk's key.
	id=$(point_ids_in "$V" | tail -n 1)
	first=$(point_ids_in "$V" | head -n 1)
	chunks=$("${kind}_keys" | grep '^chunks/' | sort)
	c1=$(echo "$chunks" | sed -n 1p)
	c2=$(echo "$chunks" | sed -n 2p)
	"${kind}_fetch" "$c1" c1.orig
	flip "$c1"
	expect_fail PointDamaged "$kind: verify finds a flipped byte in a chunk" sp --vault "$V" verify
	check "$kind: ... naming the point, the disk, the range and ChunkCorrupt" \
		grep -q "DAMAGED $VM/.* disk disk.raw: bytes [0-9]*+[0-9]* ChunkCorrupt" "$T/.out"
	rm -rf r && mkdir r
	expect_fail ChunkCorrupt "$kind: restore refuses it" sp --vault "$V" restore "$VM@$id" --to "$T/r"
	"${kind}_store" "$c1" c1.orig
	expect_ok "$kind: put back, verify passes" sp --vault "$V" verify

	"${kind}_fetch" "$c2" c2.orig
	"${kind}_store" "$c2" c1.orig
	expect_fail PointDamaged "$kind: verify finds a chunk under another chunk's key" sp --vault "$V" verify
	check "$kind: ... as ChunkCorrupt with its range" \
		grep -q "DAMAGED $VM/.* disk disk.raw: bytes [0-9]*+[0-9]* ChunkCorrupt" "$T/.out"
	rm -rf r && mkdir r
	expect_fail ChunkCorrupt "$kind: restore refuses it" sp --vault "$V" restore "$VM@$id" --to "$T/r"
	"${kind}_store" "$c2" c2.orig

	"${kind}_fetch" "points/$VM/$id/manifest.json" m.orig
	flip "points/$VM/$id/manifest.json"
	expect_fail PointDamaged "$kind: verify finds a flipped byte in a manifest" sp --vault "$V" verify
	check "$kind: ... naming the point" grep -q "DAMAGED $VM/$id: .*manifest.json" "$T/.out"
	rm -rf r && mkdir r
	expect_fail ManifestCorrupt "$kind: restore refuses it" sp --vault "$V" restore "$VM@$id" --to "$T/r"
	"${kind}_store" "points/$VM/$id/manifest.json" m.orig
	"${kind}_fetch" "points/$VM/$first/manifest.json" m1
	"${kind}_store" "points/$VM/$id/manifest.json" m1
	expect_fail ManifestCorrupt "$kind: another point's manifest under this point's key is refused" \
		sp --vault "$V" restore "$VM@$id" --to "$T/r"
	"${kind}_store" "points/$VM/$id/manifest.json" m.orig

	"${kind}_fetch" "points/$VM/$id/disk-0.idx" i.orig
	flip "points/$VM/$id/disk-0.idx"
	expect_fail PointDamaged "$kind: verify finds a flipped byte in an index" sp --vault "$V" verify
	check "$kind: ... naming the point and the disk" grep -q "DAMAGED $VM/$id disk disk.raw: .*disk-0.idx" "$T/.out"
	rm -rf r && mkdir r
	expect_fail IndexCorrupt "$kind: restore refuses it" sp --vault "$V" restore "$VM@$id" --to "$T/r"
	"${kind}_store" "points/$VM/$id/disk-0.idx" i.orig
	expect_ok "$kind: all put back, verify passes" sp --vault "$V" verify
	unset STILLPOINT_PASSPHRASE
}
point_ids_in() { sp --vault "$1" points $VM --json | jq -r '.[].id'; }

suite local "$T/lv"
check "local: no catalog (it would hold manifests in the clear)" test ! -e "$T/lv/catalog.sqlite"
PFX=enc
suite s3 "s3://$S3_BUCKET/$PFX"
check "the manifest cache was used" test -n "$(find cache -name '*.json')"
check "it holds manifests sealed: no VM name in any" test -z "$(grep -rlaF "$VM" cache)"

# ---- trash and gc of the encrypted S3 vault ---------------------------------
export STILLPOINT_PASSPHRASE=correct-horse-1
V="s3://$S3_BUCKET/$PFX"
sp --vault "$V" backup --name $VM --disk "$T/disk.raw:raw" --json >again.json
check "s3: a backup that finds every chunk again asks the server about none" \
	jqe '.requests.heads <= 2' again.json
random_file other.raw 3 other
expect_ok "s3: back up another VM" sp --vault "$V" backup --name other --disk "$T/other.raw:raw"
nchunks() { s3_ls "$S3_BUCKET" "$PFX/chunks/" | wc -l; }
before=$(nchunks)
oid=$(sp --vault "$V" points other --json | jq -r '.[0].id')
expect_ok "s3: delete it" sp --vault "$V" delete "other@$oid"
expect_ok "s3: the trash lists it" sp --vault "$V" trash --json
check "  ... by name (read from its sealed objects)" jqe '[.[] | select(.name == "other")] | length == 1' "$T/.out"
check "  ... and its trashed objects are sealed too" test -z "$(kind=s3 s3_bodies_with '"other"')"
sleep 2
later() { STILLPOINT_NOW=$(($(date +%s) + 30 * 86400)) "$SP" --no-progress --vault "$V" "$@"; }
expect_ok "s3: gc 1 (walks the sealed vault) makes candidates" later gc --json
check "  ... of the deleted VM's chunks" jqe '.fossilized >= 1 and .deleted == 0' "$T/.out"
expect_ok "s3: gc 2 sweeps" later gc --json
check "  ... deleting them" jqe '.swept and .deleted >= 1' "$T/.out"
check "  ... fewer chunk objects" test "$(nchunks)" -lt "$before"
expect_ok "s3: the vault verifies after gc" sp --vault "$V" verify
rm -rf gcr && mkdir gcr
expect_ok "s3: the first VM still restores" sp --vault "$V" restore $VM --to "$T/gcr"
check "  ... equal" cmp disk.raw gcr/disk.raw
unset STILLPOINT_PASSPHRASE

# ---- gc and trash of an encrypted local vault --------------------------------
export STILLPOINT_PASSPHRASE=correct-horse-1
V=$T/lv
old=$(point_ids_in "$V" | head -n 1)
# in_clear: the files of the vault directory holding any of the strings
# given (the VM's name, the keys of the trash record and of gc.json).
in_clear() {
	local a=() w
	for w in "$@"; do a+=(-e "$w"); done
	(cd "$V" && grep -rlaF "${a[@]}" . || true)
}
records=(deleted_at expires_at fossils_since drafts '"why"')
expect_ok "local: delete a point" sp --vault "$V" delete "$VM@$old" --reason "$VM-reason"
check "local: ... its trash record is there" test -s "$V/trash/$VM/$old/deleted.json"
check "local: ... sealed: no file holds the VM's name or a record's key" \
	test -z "$(in_clear "$VM" "${records[@]}")"
expect_ok "local: trash lists it" sp --vault "$V" trash --json
check "local: ... with its record read: deletion, expiry, reason" \
	jqe ".[0].id == \"$old\" and (.[0].expires_at | type == \"string\") and .[0].why == \"$VM-reason\" and (.[0] | has(\"error\") | not)" "$T/.out"
expect_ok "local: gc with the point in the trash" sp --vault "$V" gc --json
check "local: ... keeps it (its sealed record read: not expired)" \
	jqe '.trash_purged == [] and .trash_kept == [] and .state.state == "fossils"' "$T/.out"
check "local: ... gc.json is written" test -s "$V/gc.json"
check "local: ... sealed: no file holds the VM's name or a record's key" \
	test -z "$(in_clear "$VM" "${records[@]}")"
expect_ok "local: a second gc reads the sealed gc.json and sweeps" sp --vault "$V" gc --json
check "local: ... swept" jqe '.swept == true' "$T/.out"
check "local: ... still nothing in the clear" test -z "$(in_clear "$VM" "${records[@]}")"
expect_ok "local: undelete it" sp --vault "$V" undelete "$VM@$old"
check "local: ... no record left in the point" test ! -e "$V/points/$VM/$old/deleted.json"
rm -rf undel && mkdir undel
expect_ok "local: the undeleted point restores" sp --vault "$V" restore "$VM@$old" --to "$T/undel"
check "local: ... equal to its source" cmp disk.raw undel/disk.raw
expect_ok "local: gc reads the sealed points" sp --vault "$V" gc
expect_ok "local: verify after gc" sp --vault "$V" verify

# keys.json lost: the paper key still opens the vault, and key add makes
# a new keys.json.
sp --vault "$V" key export --paper >paper.txt
mv "$V/keys.json" keys.json.saved
expect_fail NotAVault "local: without keys.json a passphrase cannot open it" sp --vault "$V" points
expect_ok "local: the paper key opens it" \
	env -u STILLPOINT_PASSPHRASE "$SP" --vault "$V" --key-file "$T/paper.txt" verify
expect_ok "local: key add writes a new keys.json" \
	env -u STILLPOINT_PASSPHRASE STILLPOINT_NEW_PASSPHRASE=after-loss "$SP" --vault "$V" --key-file "$T/paper.txt" key add
expect_ok "local: which opens it" env STILLPOINT_PASSPHRASE=after-loss "$SP" --vault "$V" points
unset STILLPOINT_PASSPHRASE

# ---- a key-file-only vault ------------------------------------------------
expect_ok "init with a key file and no passphrase" \
	sp --vault "$T/kv" init --encrypt --key-file "$T/vault.key"
check "the key file was made, 32 bytes, mode 0600" \
	test "$(stat -c '%s %a' vault.key)" = "32 600"
expect_fail VaultKeyNeeded "it does not open without the key file" \
	sp --vault "$T/kv" points </dev/null
expect_ok "it backs up with --key-file" \
	sp --vault "$T/kv" --key-file "$T/vault.key" backup --name $VM --disk "$T/disk.raw:raw"
rm -rf kout && mkdir kout
expect_ok "and restores with STILLPOINT_KEY_FILE" \
	env STILLPOINT_KEY_FILE="$T/vault.key" "$SP" --vault "$T/kv" restore $VM --to "$T/kout"
check "byte for byte" cmp disk.raw kout/disk.raw
check "one slot, a key file" \
	bash -c "sp --vault '$T/kv' --key-file '$T/vault.key' key list --json | jq -e 'length == 1 and .[0].kind == \"keyfile\"' >/dev/null"
head -c 32 /dev/urandom >other.key
expect_fail VaultKeyWrong "another key file is refused" \
	sp --vault "$T/kv" --key-file "$T/other.key" points

# ---- S3 defaults: encrypted; --no-encrypt stores plaintext ------------------
expect_fail VaultKeyNeeded "an s3:// vault is encrypted by default: init wants a passphrase" \
	sp --vault "s3://$S3_BUCKET/dflt" init </dev/null
check "... and left nothing" test -z "$(s3_ls "$S3_BUCKET" dflt/)"
PFX=plain
kind=s3
expect_ok "init --no-encrypt on s3://" sp --vault "s3://$S3_BUCKET/$PFX" init --no-encrypt
expect_ok "back up into it" sp --vault "s3://$S3_BUCKET/$PFX" backup --name $VM --disk "$T/disk.raw:raw"
check "its chunks hold the marker (the search finds plaintext)" test -n "$(s3_bodies_with "$MARK")"
check "its manifests hold the VM name" test -n "$(s3_bodies_with "$VM")"
check "it has no keys.json" test -z "$(s3_keys | grep -x keys.json)"

done_testing

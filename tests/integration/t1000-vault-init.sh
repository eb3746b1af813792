#!/bin/bash
# The vault: init, refusing to init twice or over other data, clear errors
# for missing and foreign vaults, STILLPOINT_VAULT, --help and exit codes.
. "$(dirname "$0")/lib.sh"

expect_ok "init creates a vault" sp init
check "vault has its config, chunks and points" \
	test -f vault/stillpoint-vault.json -a -d vault/chunks/fff -a -d vault/points
check "config names format and chunk size" \
	jqe '.format == "stillpoint-vault" and .version == 1 and .chunk_size == 4194304' vault/stillpoint-vault.json
expect_fail VaultExists "init twice is refused" sp init
mkdir other && echo data >other/file
expect_fail NotAVault "init over a non-empty directory is refused" sp --vault other init
check "the foreign file is untouched" grep -q data other/file
expect_fail VaultNotFound "a missing vault is named" sp --vault "$T/nope" points
expect_fail NotAVault "a plain directory is not a vault" sp --vault other points
expect_fail NotAVault "a file is not a vault" sp --vault other/file points
expect_ok "STILLPOINT_VAULT is honoured" sp info
check "info names the vault" grep -q "$T/vault" "$T/.out"
expect_ok "--vault wins over STILLPOINT_VAULT" sp --vault "$T/v2" init
check "v2 was created" test -f v2/stillpoint-vault.json
expect_ok "init with --chunk-size 1M" sp --vault "$T/v3" init --chunk-size 1M
check "chunk size recorded" jqe '.chunk_size == 1048576' v3/stillpoint-vault.json

"$SP" --vault "$T/v4" init --chunk-size 3M >/dev/null 2>"$T/.err"
check "a chunk size that is no power of two is a usage error (exit 2)" test $? = 2
check "...with its code" grep -q UsageError "$T/.err"
"$SP" frobnicate >/dev/null 2>&1
check "an unknown command exits 2" test $? = 2
"$SP" >/dev/null 2>&1
check "no command exits 2" test $? = 2

for c in "" init backup points restore verify info catalog errors; do
	"$SP" $c --help >"$T/help" 2>&1
	rc=$?
	check "'stillpoint $c --help' exits 0" test $rc = 0
	check "'stillpoint $c --help' reads like a man page" \
		grep -q -e '^NAME' -e '^SYNOPSIS' "$T/help"
done
"$SP" --version | grep -q '^stillpoint ' ; check "--version" test $? = 0
"$SP" errors --json >"$T/errs"
check "errors --json lists the catalogue" \
	jqe 'length > 30 and (map(.code) | index("VaultFull")) != null' "$T/errs"
"$SP" errors SP1104 | grep -q VaultFull
check "errors looks a code up by number" test $? = 0
# A URL of a kind the tool does not know is no directory: refused before
# anything is made ("gs:" would otherwise appear here as a directory).
expect_fail UsageError "init refuses a gs:// vault" sp --vault gs://bucket/prefix init
check "  ... naming the scheme" grep -q "'gs://' location" "$T/.err"
check "  ... and makes no directory 'gs:'" test ! -e gs:
expect_fail UsageError "every command refuses one" sp --vault foo+bar://x points
# s3:// is a vault in object storage (t1510): without credentials it says
# which variables to set, and makes nothing here either.
env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_SESSION_TOKEN \
	"$SP" --vault s3://bucket/prefix init >"$T/.out" 2>"$T/.err"
check "s3:// without credentials: VaultAuthFailed" grep -q VaultAuthFailed "$T/.err"
check "  ... naming AWS_ACCESS_KEY_ID" grep -q AWS_ACCESS_KEY_ID "$T/.err"
check "  ... and makes no directory 's3:'" test ! -e s3:
expect_ok "a directory of that shape is reached through ./" sp --vault ./s3://b init
check "  ... and is a vault" test -f s3:/b/stillpoint-vault.json
done_testing

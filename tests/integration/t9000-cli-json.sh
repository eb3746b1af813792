#!/bin/bash
# --json on every command, before it (a global option) and after it: with
# --json, stdout holds exactly one JSON document on success (nothing but
# that document) and a failure prints one JSON error object on stderr.
# The commands come from 'stillpoint --help', their subcommands from the
# SYNOPSIS of each command's --help: a command added later must say
# --json in its help, answer in JSON, and get a case below, or this fails.
# Runs against a small vault of a raw disk image; no guest, no daemon.
. "$(dirname "$0")/lib.sh"
export STILLPOINT_STATE_DIR="$T/state"
nolibvirt="qemu:///system?socket=$T/no-libvirt.sock"

# ---- what there is to cover, from the help texts -------------------------
mapfile -t commands < <("$SP" --help |
	awk '/^COMMANDS/ { on = 1; next } /^[A-Z]/ { on = 0 }
	     on && /^    [a-z][a-z-]*  / { print $1 }')
check "the main help lists commands (${#commands[@]})" test "${#commands[@]}" -ge 15
declare -A need=()
for c in "${commands[@]}"; do
	"$SP" "$c" --help >"$T/help.txt" 2>&1
	check "'$c --help' documents --json" grep -q -- '--json' "$T/help.txt"
	# SYNOPSIS lines: stillpoint [GLOBAL...] CMD [SUB] ...; a SUB is a
	# literal lowercase word right after the command.
	while read -r key; do
		need["$key"]=1
	done < <(awk '/^SYNOPSIS/ { on = 1; next } /^[A-Z]/ { on = 0 }
		on && $1 == "stillpoint" {
			i = 2
			while (i <= NF && substr($i, 1, 1) == "[") {
				while ($i !~ /\]$/ && i < NF) i++
				i++
			}
			if ($(i + 1) ~ /^[a-z][a-z-]*$/) print $i " " $(i + 1)
			else print $i }' "$T/help.txt")
done
for c in "${commands[@]}"; do
	n=0
	for k in "${!need[@]}"; do [[ $k == "$c" || $k == "$c "* ]] && n=$((n + 1)); done
	[ $n -gt 0 ] || need["$c"]=1
done
say "# to cover: $(printf '%s, ' "${!need[@]}" | sort)"
declare -A covered=()

# ---- the checks ----------------------------------------------------------
# json1 ok|fail before|after KEY ARGS...: one run with --json at that
# place.  ok: exit 0 and stdout exactly one JSON document.  fail: exit not
# 0, stderr exactly one JSON object {"error": {"code", ...}} and stdout
# empty or one JSON document (verify and writers report what they found).
json1() {
	local want=$1 pos=$2 key=$3 rc good=false; shift 3
	_count=$((_count + 1))
	if [ "$pos" = before ]; then
		"$SP" --no-progress --json "$@" >"$T/.out" 2>"$T/.err"
	else
		"$SP" --no-progress "$@" --json >"$T/.out" 2>"$T/.err"
	fi
	rc=$?
	if [ $rc = 0 ] && [ "$want" != fail ] && one_doc "$T/.out"; then
		good=true
	elif [ $rc != 0 ] && [ "$want" != ok ] && one_doc "$T/.err" &&
		jqe '.error.code | type == "string"' "$T/.err" &&
		{ [ ! -s "$T/.out" ] || one_doc "$T/.out"; }; then
		good=true
	fi
	if $good; then
		say "ok - $key: exit $rc, JSON on std$([ $rc = 0 ] && echo out || echo err) ($pos: $*)"
		covered["$key"]=1
	else
		say "not ok - $key: expected $want with JSON, got exit $rc ($pos: $*)"
		sed 's/^/#   /' "$T/.out" "$T/.err" | head -n 20
		_failures=$((_failures + 1))
	fi
}
json2() { json1 "$1" before "${@:2}" && json1 "$1" after "${@:2}"; }
one_doc() { [ -s "$1" ] && [ "$(jq -s length "$1" 2>/dev/null)" = 1 ]; }

# ---- every command and subcommand, as the user would run it --------------
sp init >/dev/null
make_raw_disk d.img 16 s1
json1 ok before init --vault "$T/va" init
json1 ok after init --vault "$T/vb" init
json2 fail init init
json1 ok before backup backup --name vm1 --disk "$T/d.img"
poke d.img 1 1 change
json1 ok after backup backup --name vm1 --disk "$T/d.img"
json2 fail backup backup
json2 ok points points
json2 ok points points vm1
mkdir r
json2 ok restore restore vm1 --to "$T/r" --force
json2 fail restore restore nosuch --to "$T/r"
json2 ok verify verify
json2 ok copy copy vm1 --to "$T/vb"
json2 fail copy copy vm1 --to "$T/nosuch"
json2 ok info info
json2 ok "catalog rebuild" catalog rebuild
json2 ok errors errors
json2 ok errors errors VaultFull
json2 fail errors errors NoSuchCode
json2 fail writers writers vm1 --connect "$nolibvirt"
json2 fail "cbt status" cbt status vm1 --connect "$nolibvirt"
json2 fail "cbt enable" cbt enable vm1 --connect "$nolibvirt"
json2 fail "cbt disable" cbt disable vm1 --connect "$nolibvirt"
id=$(point_ids vm1 | head -1)
json1 ok before delete delete "vm1@$id"
json1 ok after undelete undelete "vm1@$id"
json1 ok after delete delete "vm1@$id" --reason test
json1 ok before undelete undelete "vm1@$id"
json2 fail delete delete "vm1@nosuch"
json2 ok trash trash
json2 ok gc gc --dry-run
json2 ok gc gc
json1 ok before "policy create" policy create p1 --schedule "daily 03:00" --keep-last 2
json1 ok after "policy create" policy create p2 --schedule "daily 04:00"
json1 ok after "policy create" policy create p3 --schedule "daily 05:00"
json2 fail "policy create" policy create p1 --schedule "daily 03:00"
json2 ok "policy list" policy list
json2 ok "policy show" policy show p1
json2 fail "policy show" policy show nosuch
json2 ok "policy edit" policy edit p1 --keep-daily 3
json1 ok before "policy delete" policy delete p2
json1 ok after "policy delete" policy delete p3
json2 fail "policy delete" policy delete p3
# key: an encrypted vault, its passphrase from the environment
ve=(--vault "$T/ve")
STILLPOINT_PASSPHRASE=pw1 sp "${ve[@]}" init --encrypt >/dev/null
export STILLPOINT_PASSPHRASE=pw1
json2 ok "key list" "${ve[@]}" key list
json2 fail "key list" key list
STILLPOINT_NEW_PASSPHRASE=pw2 json1 ok before "key add" "${ve[@]}" key add
STILLPOINT_NEW_PASSPHRASE=pw3 json1 ok after "key add" "${ve[@]}" key add --label x
json2 fail "key remove" "${ve[@]}" key remove 00000000
slots=($(sp "${ve[@]}" --json key list | jq -r '.[1:][].id'))
json1 ok before "key remove" "${ve[@]}" key remove "${slots[0]}"
json1 ok after "key remove" "${ve[@]}" key remove "${slots[1]}"
STILLPOINT_NEW_PASSPHRASE=pw4 json1 ok before "key passwd" "${ve[@]}" key passwd
STILLPOINT_PASSPHRASE=pw4 STILLPOINT_NEW_PASSPHRASE=pw1 json1 ok after "key passwd" "${ve[@]}" key passwd
json2 fail "key passwd" key passwd
json2 ok "key export" "${ve[@]}" key export --paper
json2 fail "key export" "${ve[@]}" key export
unset STILLPOINT_PASSPHRASE
json2 ok protect protect vm1 --policy p1
json2 ok protected protected
json2 ok prune prune --dry-run
json2 ok prune prune vm1
json1 ok before unprotect unprotect vm1
sp protect vm1 --policy p1 >/dev/null
json1 ok after unprotect unprotect vm1
json2 fail unprotect unprotect vm1
sp protect vm1 --policy p1 --connect "$nolibvirt" >/dev/null
json2 fail backup backup vm1
json2 ok jobs jobs
json2 ok jobs jobs --vm vm1 --status failed
jid=$(sp --json jobs | jq '.[0].id')
json2 ok job job "$jid"
json2 fail job job 99999
json2 fail "job cancel" job cancel "$jid"
# Long-running commands (serve and mount run until stopped, files boots
# an appliance): their refusals are one JSON error each; their output
# when they run is checked in t2700 and t67xx.
json2 fail serve serve nosuch
json2 fail serve serve vm1 --disk nosuch
json2 fail mount mount vm1 "$T/no-such-dir"
json2 fail files files nosuch
json2 fail files files vm1 nosuchdisk:1:/etc
# A job to cancel: a backup held just after it made its record.
for pos in before after; do
	STILLPOINT_TEST_HOLD=job-created:30000 "$SP" --no-progress backup vm1 \
		>/dev/null 2>&1 &
	held=$!
	for _ in $(seq 1 100); do
		[ "$(sp --json jobs --status 'in progress' | jq length)" = 1 ] && break
		sleep 0.1
	done
	json1 ok $pos "job cancel" job cancel "$(sp --json jobs | jq '.[0].id')"
	wait $held
done

# ---- what the help lists was all covered ---------------------------------
for k in "${!need[@]}"; do
	check "'$k' has a case here (add one for a new command)" test -n "${covered[$k]:-}"
done

# ---- and each one, without arguments, answers in JSON either way ---------
# (a scratch vault and state: some of them act)
declare -A bare=()
for k in "${!need[@]}" "${commands[@]}"; do bare["$k"]=1; done
for k in "${!bare[@]}"; do
	read -r -a words <<<"$k"
	for pos in before after; do
		STILLPOINT_VAULT="$T/scratch" STILLPOINT_STATE_DIR="$T/scratch-state" \
			json1 any "$pos" "$k" "${words[@]}"
	done
done
done_testing

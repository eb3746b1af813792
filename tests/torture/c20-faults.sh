#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# c20-faults: ENOSPC, EDQUOT, EIO and EMFILE injected at the Nth write,
# fsync, rename, link, read, open, unlink, mkdir and truncate of backup
# (full and incremental, raw and qcow2 sources), restore (to raw files, a
# qcow2 image, a loop device), verify, gc, prune, delete and undelete —
# in the vault, in the source disks (raw files read by stillpoint, qcow2
# images read by its qemu-nbd) and in the restore targets.  A dry run of
# each command counts the calls of each kind; the campaign then fails
# samples of N across that whole range, once or from N on, and checks
# each run as tests/fault/campaign.sh says.
#
#   SP_SEED            replay a campaign (else random, printed)
#   SP_RUN=N           replay run N only
#   SP_FAULT_SAMPLES   values of N per command, place, call and errno (4)
#   SP_FAULT_QUICK=1   each call and errno once per place (make check)
#   SP_SCENARIOS       a regular expression: only these commands (see
#                      camp_scenarios), e.g. 'backup-.*|gc-.*'
#   SP_FAULT_OPS       a regular expression: only these calls, e.g. fsync
#   SP_FAULT_PLACES    only these places: vault, meta, point, source, target
#   SP_TORTURE_SECONDS stop starting runs after that long
#   SP_THREADS         --threads of the disturbed commands (1: replayable)
# Ends with "campaign c20-faults: N runs, F failures".
. "$SP_TOP/tests/integration/lib.sh"
. "$SP_TOP/tests/fault/campaign.sh"
[ -f "$SHIM" ] || die "no $SHIM (build with make)"

camp_begin c20-faults
camp_fixture
. "$F/meta"
samples=${SP_FAULT_SAMPLES:-4}

# The errnos a call can really return, per place: reads, unlinks, opens
# that do not create and directory syncs do not run out of space.
errnos_for() { # class op
	case $1:$2 in
	source:*) echo EIO ;;
	*:read | *:unlink | *:dirsync) echo EIO ;;
	*:open) echo EIO EMFILE ;;
	target:create) echo ENOSPC EIO EMFILE ;;
	*:create) echo ENOSPC EIO EMFILE EDQUOT ;;
	target:write) echo ENOSPC EIO ;;
	*:write) echo ENOSPC EIO EDQUOT ;;
	*) echo ENOSPC EIO ;;
	esac
}

# The stable codes that fit a fault: full file systems are ...Full, other
# errors the place's I/O code; a point's metadata that cannot be read may
# also be reported as damage (the point is unreadable), and gc stops with
# GcUnsafe.  qemu-nbd's own errors reach stillpoint as NBD errors:
# NbdFailed, with the OS error in its message, fits all but ENOSPC there.
expect_for() { # scenario class exe op errno
	local s=$1 class=$2 exe=$3 op=$4 e=$5 re
	case $class:$e in
	source:*) re=DiskReadFailed ;;
	target:ENOSPC | target:EDQUOT) re=TargetFull ;;
	target:*) re=TargetWriteFailed ;;
	*:ENOSPC | *:EDQUOT) re=VaultFull ;;
	*) re=VaultIOError ;;
	esac
	[ "$exe" = stillpoint ] || [ "$e" = ENOSPC ] || re+="|NbdFailed"
	if [ "$class" != source ] && [ "$class" != target ] &&
		{ [ "$op" = read ] || [ "$op" = open ]; }; then
		re+="|ManifestCorrupt|IndexCorrupt|PointDamaged"
		[ "${s#gc}" = "$s" ] || re+="|GcUnsafe"
	fi
	echo "$re"
}

# Where a class's faults go, for SP_FAULT: "vault" is all of it, "meta"
# all but chunks and the catalog (points, trash, drafts, gc's state), so
# that samples of N land densely on the few calls that decide; "point"
# the directory of one VM's points (r), failing from N on: a directory
# that cannot be read, every time it is tried.
paths_for() { # class path
	local v=$R/vault p
	case $1 in
	vault) echo "path=$v" ;;
	meta)
		for p in points trash tmp state 'gc*' '.gc*' stillpoint-vault.json lock trash.lock; do
			printf 'path=%s,' "$v/$p"
		done
		;;
	point) echo "path=$v/points/r" ;;
	*) echo "path=$2" ;;
	esac
}

# ---- baseline: each command without a fault passes every check --------------
CAMP_WRAP=(timeout -s KILL 120)
for s in $(camp_scenarios); do
	[ -z "${SP_RUN:-}" ] && [ -z "${SP_FAULT_QUICK:-}" ] || break
	CAMP_RUN=base-$s
	camp_clone
	CAMP_RUN_FAILS=()
	out=$("scen_$s" prep)
	[ -z "$out" ] || camp_fail "$out"
	CAMP_ENV=(LD_PRELOAD="$SHIM" "SP_FAULT=count,path=/nonexistent,report=$R/log/shim,$(camp_watch)")
	(camp_exec "$s")
	camp_judge "$s" $? 0 ""
	camp_check "$s"
	camp_account "$s without a fault" "baseline"
done

# ---- dry runs: how many calls of each kind each command makes ----------
declare -A count=()
plan=()
for s in $(camp_scenarios); do
	while read -r class exe path; do
		camp_clone
		"scen_$s" prep
		exe=${exe:-stillpoint} path=${path:--}
		CAMP_ENV=(LD_PRELOAD="$SHIM" "SP_FAULT=count,exe=$exe,$(paths_for "$class" "$path"),report=$R/log/shim,$(camp_watch)")
		(camp_exec "$s")
		rc=$?
		# A dry run is a run without a fault: its result, what it
		# wrote and what it left unsynced are checked too.
		CAMP_RUN=dry-$s-$class
		CAMP_RUN_FAILS=()
		camp_judge "$s" "$rc" 0 ""
		out=$(grep ' outside ' "$R/log/shim" | head -n3)
		[ -z "$out" ] || camp_fail "wrote outside the vault and targets: $out"
		camp_account "$s without a fault, counting in $class" "dry runs"
		[ $rc = 0 ] || continue
		for op in write read fsync dirsync rename link open create unlink mkdir truncate; do
			# Each selected process counts on its own: the largest.
			n=$(grep ' counts ' "$R/log/shim" | grep -oE " $op=[0-9]+" |
				cut -d= -f2 | sort -n | tail -n1)
			n=${n:-0}
			count[$s $class $op]=$n
			[ "$n" -gt 0 ] || continue
			[[ $op =~ ^(${SP_FAULT_OPS:-.*})$ ]] || continue
			[[ $class =~ ^(${SP_FAULT_PLACES:-.*})$ ]] || continue
			for e in $(errnos_for "$class" "$op"); do
				plan+=("$s $class $exe $path $op $e $n")
			done
		done
	done < <(
		# delete, undelete and prune touch little but metadata; the
		# quick campaign counts the metadata's calls with the vault's.
		case $s in
		prune | delete | undelete) "scen_$s" classes | sed 's/^vault$/vault\npoint/' ;;
		*) [ -n "${SP_FAULT_QUICK:-}" ] && "scen_$s" classes ||
			"scen_$s" classes | sed 's/^vault$/vault\nmeta\npoint/' ;;
		esac
	)
done
say "# dry runs: calls per command and place"
for k in $(printf '%s\n' "${!count[@]}" | tr ' ' '|' | sort); do
	k=${k//|/ }
	[ "${count[$k]}" = 0 ] || say "#   $k: ${count[$k]}"
done

# ---- the plan: values of N for every command, place, call and errno ------
runs=()
declare -A seen=()
camp_rng shuffle
for entry in "${plan[@]}"; do
	camp_rand 1000000
	echo "$REPLY $entry"
done | sort -n | cut -d' ' -f2- >"$W/plan"
mapfile -t plan <"$W/plan"
for entry in "${plan[@]}"; do
	read -r s class exe path op e n <<<"$entry"
	camp_rng plan "$entry"
	ns=()
	if [ -n "${SP_FAULT_QUICK:-}" ]; then
		# Each call and errno once in the vault, once in the sources
		# and once in the targets, in commands drawn at random.
		k="$class $op $e"
		[ -z "${seen[$k]:-}" ] || continue
		seen[$k]=1
		camp_rand "$n"
		ns=($((REPLY + 1)))
	else
		# Opens and reads of points, drafts and trash decide what gc
		# keeps and what verify checks: twice the samples there.
		k=$samples
		[ "$class:$op" != meta:open ] && [ "$class:$op" != meta:read ] || k=$((2 * samples))
		[ "$class" != point ] || k=$((2 * samples))
	fi
	if [ ${#ns[@]} -gt 0 ]; then
		:
	elif [ "$n" -le "$k" ]; then
		ns=($(seq 1 "$n"))
	else
		ns=(1 "$n")
		declare -A got=([1]=1 [$n]=1)
		while [ ${#ns[@]} -lt "$k" ]; do
			camp_rand $((n - 2))
			m=$((REPLY + 2))
			[ -z "${got[$m]:-}" ] || continue
			got[$m]=1
			ns+=("$m")
		done
		unset got
	fi
	for m in "${ns[@]}"; do
		camp_rand 3
		times=1
		[ "$REPLY" != 0 ] && [ "$class" != point ] ||
			times=0 # from N on: a disk that stays full
		camp_rand 1000000
		runs+=("$REPLY $s $class $exe $path $op $e $m $times")
	done
done
mapfile -t runs < <(printf '%s\n' "${runs[@]}" | sort -n | cut -d' ' -f2-)
say "# ${#runs[@]} runs planned"

# ---- the runs ---------------------------------------------------------------
CAMP_WRAP=(timeout -s KILL 120)
for ((CAMP_RUN = 1; CAMP_RUN <= ${#runs[@]}; CAMP_RUN++)); do
	[ -z "${SP_RUN:-}" ] || [ "$SP_RUN" = "$CAMP_RUN" ] || continue
	camp_time_left || { say "# time is up after $CAMP_RUNS runs"; break; }
	read -r s class exe path op e m times <<<"${runs[CAMP_RUN - 1]}"
	camp_rng run "$CAMP_RUN"
	camp_clone
	CAMP_RUN_FAILS=()
	out=$("scen_$s" prep)
	[ -z "$out" ] || camp_fail "$out"
	CAMP_ENV=(LD_PRELOAD="$SHIM"
		"SP_FAULT=op=$op,nth=$m,times=$times,errno=$e,exe=$exe,$(paths_for "$class" "$path"),report=$R/log/shim,$(camp_watch)")
	(camp_exec "$s")
	rc=$?
	fired=0
	! grep -q ' fired ' "$R/log/shim" || fired=1
	camp_judge "$s" "$rc" "$fired" "$(expect_for "$s" "$class" "$exe" "$op" "$e")"
	camp_check "$s"
	[ "$times" = 0 ] && how="from #$m on" || how="#$m"
	[ "$exe" = stillpoint ] && where=$class || where="$class($exe)"
	camp_account "$s: $e at $op $how in $where" "$s $where $op $e"
	[ $((CAMP_RUN % 100)) != 0 ] ||
		say "# $CAMP_RUN of ${#runs[@]} runs, $CAMP_FAILS failures, $((SECONDS - CAMP_T0)) s"
done

say "# outcomes per command, place, call and errno (ok = exit 0)"
camp_summary
camp_end

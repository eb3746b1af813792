#!/bin/sh
# The dependency rule, checked on #include lines:
#   util <- storage <- vault
#   util <- disk, vault, domain <- snapshot, writer <- job
#        <- include/stillpoint <- cli
# and a few banned calls (no shell, no unbounded string functions).
set -u
cd "$(dirname "$0")/.."
bad=0
deny() { # dir, pattern, why
	hits=$(grep -rnE "$2" "$1" --include='*.c' --include='*.h' || true)
	if [ -n "$hits" ]; then
		echo "$3:"; echo "$hits" | sed 's/^/    /'; bad=1
	fi
}
deny lib/util '#include "(disk|storage|vault|job|domain|snapshot|writer)/' "lib/util must not use higher layers"
deny lib/disk '#include "(vault|job|domain|snapshot|writer)/' "lib/disk knows nothing of vaults, jobs or libvirt"
deny lib/vault '#include "(disk|job|domain|snapshot|writer)/' "lib/vault knows nothing of disks, jobs or libvirt"
deny lib/storage '#include "(disk|vault|job|domain|snapshot|writer|policy|state)/' "lib/storage uses only util"
deny lib/domain '#include "(disk|vault|job|snapshot|writer)/' "lib/domain uses only util"
deny lib/snapshot '#include "(vault|job|writer)/' "lib/snapshot must not use vault, job or writer"
deny lib/writer '#include "(disk|vault|job|snapshot)/' "lib/writer must not use disk, vault, job or snapshot"
deny lib/policy '#include "(disk|vault|job|domain|snapshot|writer)/' "lib/policy uses only util"
deny lib/state '#include "(disk|vault|job|domain|snapshot|writer|policy)/' "lib/state uses only util"
deny cli '#include "(util|disk|storage|vault|job|domain|snapshot|writer|policy|state)/' "cli uses only <stillpoint/...>"
deny daemon '#include "' "daemon uses only <stillpoint/...>"
deny daemon '\b(system|popen|strcpy|strcat|sprintf|gets)\(' "banned function"
deny lib '\b(system|popen|strcpy|strcat|sprintf|gets)\(' "banned function"
deny cli '\b(system|popen|strcpy|strcat|sprintf|gets)\(' "banned function"
for f in $(git ls-files '*.c' '*.h' 2>/dev/null); do
	n=$(wc -l <"$f")
	[ "$n" -le 1500 ] || { echo "$f: $n lines (keep files under 1500)"; bad=1; }
done
[ $bad = 0 ] && echo "layering ok"
exit $bad

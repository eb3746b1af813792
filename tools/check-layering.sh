#!/bin/sh
# The dependency rule, checked on #include lines:
#   util <- disk, vault <- job <- include/stillpoint <- cli
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
deny lib/util '#include "(disk|vault|job)/' "lib/util must not use higher layers"
deny lib/disk '#include "(vault|job)/' "lib/disk must not use vault or job"
deny lib/vault '#include "(disk|job)/' "lib/vault must not use disk or job"
deny cli '#include "(util|disk|vault|job)/' "cli uses only <stillpoint/...>"
deny lib '\b(system|popen|strcpy|strcat|sprintf|gets)\(' "banned function"
deny cli '\b(system|popen|strcpy|strcat|sprintf|gets)\(' "banned function"
for f in $(git ls-files '*.c' '*.h' 2>/dev/null); do
	n=$(wc -l <"$f")
	[ "$n" -le 1500 ] || { echo "$f: $n lines (keep files under 1500)"; bad=1; }
done
[ $bad = 0 ] && echo "layering ok"
exit $bad

#!/bin/sh
# Regenerate the table in docs/errors.md from the catalogue compiled into
# the tool (lib/util/error.c), keeping the prose around it.  The unit test
# test_error fails when a code is missing from the document.
set -eu
sp=${1:-build/stillpoint}
doc=docs/errors.md
table=$("$sp" errors --json | jq -r '.[] | "| SP\(.number) | \(.code) | \(.summary) | \(.action) |"')
awk -v table="$table" '
	/<!-- table:begin -->/ { print; print "| number | code | meaning | recommended action |"; print "|---|---|---|---|"; print table; skip = 1; next }
	/<!-- table:end -->/ { skip = 0 }
	!skip { print }
' "$doc" >"$doc.tmp"
mv "$doc.tmp" "$doc"

#!/bin/sh
# The API server names no resource kind (docs/architecture.md, "Adding a
# resource kind"): what is special about a kind is a property of its row
# in the kind table (controlplane/resource.c, struct res_kind), so a new
# kind needs no change in the request path. Fails when one of these files
# holds a kind's name or plural as a C string ("Node", "tenants").
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
files="controlplane/api.c controlplane/api-route.c controlplane/authz.c"
table="$top_srcdir/controlplane/resource.c"

[ -r "$table" ] || { echo "no $table" >&2; exit 99; }
# The rows of kinds[]: { "Kind", "plural", RES_... or .kind = "Kind", ...
names=$(sed -n 's/^[[:space:]]*{[[:space:]]*"\([A-Za-z]*\)",[[:space:]]*"\([a-z]*\)",.*/\1 \2/p;
	s/^[[:space:]]*{[[:space:]]*\.kind[[:space:]]*=[[:space:]]*"\([A-Za-z]*\)",[[:space:]]*\.plural[[:space:]]*=[[:space:]]*"\([a-z]*\)".*/\1 \2/p' \
	"$table")
n=$(echo "$names" | wc -w)
# Nine kinds and their plurals at the time of writing; fewer means the
# parse broke.
[ "$n" -ge 18 ] || { echo "only $n kind names parsed from $table" >&2; exit 99; }

fails=0
for f in $files; do
	[ -r "$top_srcdir/$f" ] || { echo "no $top_srcdir/$f" >&2; exit 99; }
	for w in $names; do
		hits=$(grep -nF "\"$w\"" "$top_srcdir/$f")
		[ -n "$hits" ] || continue
		echo "$hits" | sed "s|^|FAIL: $f names kind \"$w\": |"
		fails=$((fails + $(echo "$hits" | wc -l)))
	done
done
echo "checked $(echo $files | wc -w) files for $n kind names, $fails found"
[ "$fails" -eq 0 ]

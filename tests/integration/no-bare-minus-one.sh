#!/bin/sh
# Library code returns -errno or a code from lib/err.h, never a bare -1
# (docs/architecture.md, /work/shared/style.md "Errors"): a bare -1 reads
# as -EPERM to every caller that passes it to bw_strerror().
#
# The sources checked are those of the convenience libraries
# (lib*_a_SOURCES in the generated Makefile), those of the installed
# programs (bin_PROGRAMS and sbin_PROGRAMS: bulwark-console's console.c,
# the CLI's cli.c, the mains) and the C helpers test scripts build
# (tests/integration/*.c in EXTRA_DIST, such as the PAM module
# pam-expire.c), all read from the generated Makefile, so the check
# follows files that move. Not the unit tests, benchmarks and fuzz
# targets (libFuzzer's -1 rejects an input). A comparator or sort weight
# may return -1 when the line says so with the comment "ordering", a
# lookup whose -1 is a value ("none") rather than an error with the
# comment "no index".
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$(pwd)}
mk="$top_builddir/Makefile"

# Files allowed to keep bare -1 for a while, by base name so the list
# survives a `git mv` (empty since the appliance/ split). Listed findings
# are reported, not failed; a listed file with no finding left fails, so
# the list only shrinks.
pending=""

[ -r "$mk" ] || { echo "no $mk: run from the build tree" >&2; exit 99; }

# The generated Makefile with its continued lines joined.
joined=$(sed -e ':a' -e '/\\$/N; s/\\\n//; ta' "$mk")
# VAR = words: the words
words() { printf '%s\n' "$joined" | sed -n "s/^$1 = //p" | tr ' \t' '\n\n'; }
progs=$(words 's\{0,1\}bin_PROGRAMS' | sed 's/\$(EXEEXT)$//' | grep .)
prog_srcs=$(for p in $progs; do words "$(printf '%s' "$p" | tr '/.-' '___')_SOURCES"; done)
[ -n "$prog_srcs" ] || { echo "no program sources found in $mk" >&2; exit 99; }
srcs=$( { words 'lib[a-z]*_a_SOURCES'; printf '%s\n' "$prog_srcs";
	words EXTRA_DIST | grep '^tests/integration/.*\.c$'; } |
	grep -E '\.(c|h)$' | sort -u)
# A program's source and a test helper must be among them.
for f in console/console.c tests/integration/pam-expire.c; do
	printf '%s\n' "$srcs" | grep -qx "$f" ||
		{ echo "$f is not among the checked sources" >&2; exit 99; }
done
[ -n "$srcs" ] || { echo "no library sources found in $mk" >&2; exit 99; }
n=0
for f in $srcs; do
	[ -f "$top_srcdir/$f" ] && n=$((n + 1))
done
# The libraries hold well over a hundred files; a few means the parse broke.
[ "$n" -ge 50 ] || { echo "only $n library sources found in $mk" >&2; exit 99; }

# return -1; return (-1); and a -1 either side of a return's ?: (return
# c ? -1 : 0; return c ? 0 : -1;), with any spacing
m1='[[:space:]]*\(?[[:space:]]*-1[[:space:]]*\)?[[:space:]]*'
re="return$m1;|return[^;]*\\?$m1:|return[^;]*:$m1;"
fails=0
seen_pending=""
for f in $srcs; do
	[ -f "$top_srcdir/$f" ] || continue
	hits=$(grep -nE "$re" "$top_srcdir/$f" |
	    grep -v -e 'ordering' -e 'no index')
	[ -n "$hits" ] || continue
	base=${f##*/}
	case " $pending " in
	*" $base "*)
		seen_pending="$seen_pending $base"
		echo "$hits" | sed "s|^|pending: $f:|"
		continue ;;
	esac
	echo "$hits" | sed "s|^|FAIL: bare -1 in $f:|"
	fails=$((fails + $(echo "$hits" | wc -l)))
done
for p in $pending; do
	case " $seen_pending " in
	*" $p "*) ;;
	*)	echo "FAIL: $p is listed as pending but has no bare -1:" \
		    "drop it from the list"
		fails=$((fails + 1)) ;;
	esac
done
echo "checked $n sources, $fails bare -1 returns"
[ "$fails" -eq 0 ]

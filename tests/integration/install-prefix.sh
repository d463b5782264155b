#!/bin/bash
# Installed binaries never read the build or source tree: `make install`
# into a staging directory, then, in a private mount namespace, the
# staged data is mounted at the configured $(pkgdatadir), the source and
# build trees are covered by empty tmpfs, and the installed bulwarkd
# serves a compliance scan that the installed bulwark CLI requests, and
# `bulwark compliance controls` (offline, reads the OSCAL catalog)
# lists the Moderate baseline. No BULWARK_COMPLIANCE_* variable is set,
# so only the compiled-in paths can be used.
. "$(dirname "$0")/lib.sh" || exit 99

[ "$(id -u)" = 0 ] || { echo "SKIP: needs root for unshare -m"; exit 77; }
command -v unshare >/dev/null || { echo "SKIP: no unshare"; exit 77; }
src=$(cd "${top_srcdir:-$(dirname "$0")/../..}" && pwd)
bld=$(cd "${top_builddir:-$BW}" && pwd)

# the configured installation directories, expanded by make itself
mkvar() {
	printf 'bw-print-%s:\n\t@echo $(%s)\n' "$1" "$1" |
		make -s --no-print-directory -C "$bld" -f Makefile -f - "bw-print-$1"
}
pkgdatadir=$(mkvar pkgdatadir)
bindir=$(mkvar bindir)
sbindir=$(mkvar sbindir)
[ -n "$pkgdatadir" ] && [ -n "$bindir" ] || { fail "no install dirs"; finish; }

stage="$T/stage"
if ! make -s --no-print-directory -C "$bld" install-exec install-data \
	DESTDIR="$stage" >"$T/install.log" 2>&1; then
	tail -20 "$T/install.log" >&2
	fail "make install DESTDIR=..."
	finish
fi
check "the catalog is installed" \
	test -f "$stage$pkgdatadir/compliance/data/catalogs/NIST_SP-800-53_rev5_catalog-min.json"
check "bulwarkd is installed" test -x "$stage$sbindir/bulwarkd"
check "bulwark is installed" test -x "$stage$bindir/bulwark"

# No installed program has the source or build tree's path in its
# constant data (a fallback to it would be there; debug info is not).
# Names of source files are not paths a program reads: a sanitizer
# build keeps them for its reports (ASan's globals), whatever the
# -ffile-prefix-map; a release build has none.
tree_paths() { # BINARY -> the .rodata strings naming the trees
	readelf -p .rodata "$1" | grep -F -e "$src/" -e "$bld/" |
		grep -vE '\.[ch][[:space:]]*$'
}
for b in "$stage$sbindir/bulwarkd" "$stage$bindir/bulwark" \
	"$stage$bindir/bulwark-verify" "$stage$sbindir/bulwark-agent" \
	"$stage$sbindir/bulwark-harden"; do
	n=$(basename "$b")
	[ -x "$b" ] || { fail "$n is not installed"; continue; }
	if [ -n "$(tree_paths "$b")" ]; then
		fail "$n names the source or build tree: $(tree_paths "$b" |
			head -3 | tr -s ' ')"
	else
		pass "$n names no path in the source or build tree"
	fi
done

# The part that runs in the namespace, copied out of the source tree
# it is about to hide.
cp "$src/tests/integration/lib.sh" "$T/lib.sh"
cat >"$T/inner.sh" <<'INNER'
set -u
src="$1" bld="$2" stage="$3" pkgdatadir="$4" bindir="$5" sbindir="$6"
mount --make-rprivate / || exit 1
# the staged data at the path the binaries were built with
d=$(dirname "$pkgdatadir")
while [ ! -d "$d" ]; do d=$(dirname "$d"); done
mount -t tmpfs bw-share "$d" || exit 1
mkdir -p "$pkgdatadir" && mount --bind "$stage$pkgdatadir" "$pkgdatadir" || exit 1
# the trees an uninstalled build reads from
mount -t tmpfs bw-src "$src" || exit 1
if [ -e "$bld/Makefile" ]; then	# a build tree outside the source tree
	mount -t tmpfs bw-bld "$bld" || exit 1
fi
unset BULWARK_COMPLIANCE_DATA BULWARK_COMPLIANCE_SSP top_srcdir top_builddir
mkdir -p "$(dirname "$0")/bin"
ln -sf "$stage$sbindir/bulwarkd" "$(dirname "$0")/bin/bulwarkd"
BW_BIN="$(dirname "$0")/bin"
. "$(dirname "$0")/lib.sh" || exit 99
check "the source tree is hidden" test ! -e "$src/compliance/data"
check "the build tree is hidden" test ! -e "$bld/Makefile"
start_bulwarkd "$T/d" || { fail "installed bulwarkd did not start"; finish; }
cli="$stage$bindir/bulwark"
if "$cli" --config "$CONF" compliance scan --baseline moderate >"$T/scan.out" 2>&1; then
	pass "compliance scan from the install"
else
	fail "compliance scan from the install: $(head -c 600 "$T/scan.out")"
fi
check "the scan assessed controls" grep -qi 'satisfied' "$T/scan.out"
if "$cli" --config "$CONF" compliance controls --baseline moderate \
	>"$T/controls.out" 2>&1; then
	pass "compliance controls from the install"
else
	fail "compliance controls from the install: $(head -c 600 "$T/controls.out")"
fi
check "the controls list names AC-2" grep -q '^AC-2 ' "$T/controls.out"
grep -q 'compliance' "$T/d/bulwarkd.log" &&
	grep -i 'compliance.*\(fail\|error\|cannot\)' "$T/d/bulwarkd.log" >&2
stop_bulwarkd
finish
INNER
unshare -m bash "$T/inner.sh" "$src" "$bld" "$stage" "$pkgdatadir" \
	"$bindir" "$sbindir" || fail "the installed binaries (see above)"
finish

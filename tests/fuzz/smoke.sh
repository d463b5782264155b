#!/bin/sh
# make check: builds every libFuzzer target and runs each for 5 seconds,
# proving the targets still build against the current sources and that
# the seed corpus and a short run find nothing. Exit 77 (skip) only when
# clang is not installed; any other problem fails.
set -u
src=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
cc=${FUZZ_CC:-clang}
if ! command -v "$cc" >/dev/null 2>&1; then
	echo "smoke.sh: SKIP: $cc is not installed (apt-get install clang)"
	exit 77
fi
tmp=$(mktemp -d) || exit 1
FUZZ_OUT=$tmp FUZZ_CC=$cc sh "$src/tests/fuzz/run.sh" 5
rc=$?
if [ $rc -eq 0 ]; then
	rm -rf "$tmp"
	exit 0
fi
# Keep the binaries, logs and reproducers that run.sh named.
echo "smoke.sh: FAIL (run.sh exit $rc); evidence kept in $tmp" >&2
[ $rc -eq 77 ] && rc=1
exit $rc

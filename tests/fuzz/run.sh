#!/bin/sh
# Builds tests/fuzz/fuzz-audit-reader with clang -fsanitize=fuzzer,address,
# undefined and runs it for SECONDS (default 60) on a corpus seeded with a
# real trail. Exit 0 when no finding; the fuzzer's status otherwise.
# Usage: tests/fuzz/run.sh [SECONDS] [BUILD_DIR]
#   BUILD_DIR: a configured build with tests/unit/audit/audit-gen (for
#   seeds); defaults to build/. Output goes to $FUZZ_OUT (build-fuzz/).
set -eu
secs=${1:-60}
src=$(cd "$(dirname "$0")/../.." && pwd)
build=${2:-$src/build}
out=${FUZZ_OUT:-$src/build-fuzz}
command -v clang >/dev/null || { echo "run.sh: clang not found" >&2; exit 77; }
mkdir -p "$out/corpus" "$out/seeds"
# config.h of the real build defines _GNU_SOURCE; the fuzz build needs
# only that.
printf '#define _GNU_SOURCE 1\n' > "$out/config.h"
clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	-I"$out" -I"$src" $(pkg-config --cflags libcrypto jansson) \
	"$src/tests/fuzz/fuzz-audit-reader.c" "$src/audit/record.c" \
	"$src/audit/segment.c" "$src/audit/signer.c" "$src/audit/verify.c" \
	"$src/audit/search.c" "$src/lib/err.c" "$src/lib/fileio.c" \
	"$src/lib/json.c" "$src/lib/log.c" \
	-o "$out/fuzz-audit-reader" $(pkg-config --libs libcrypto jansson) -lpthread
if [ -x "$build/tests/unit/audit/audit-gen" ]; then
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	"$build/tests/unit/audit/audit-gen" write "$tmp/trail" "$tmp/key.pem" 12 2048 >/dev/null
	i=0
	for f in "$tmp"/trail/seg-*.log; do
		i=$((i + 1))
		cp "$f" "$out/seeds/seg-$i"
	done
fi
"$out/fuzz-audit-reader" -max_total_time="$secs" -max_len=16384 \
	-print_final_stats=1 "$out/corpus" "$out/seeds"

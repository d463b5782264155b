#!/bin/sh
# Builds every libFuzzer target tests/fuzz/fuzz-*.c with clang
# (-fsanitize=fuzzer,address,undefined) against the project's own sources
# and runs each for SECONDS on its seed corpus. CI runs this; `make fuzz`
# and the `make check` smoke test (tests/fuzz/smoke.sh) call it too.
#
# Usage: tests/fuzz/run.sh [SECONDS]
# Environment:
#   FUZZ_SECONDS  seconds per target when no argument is given (default 60)
#   FUZZ_TARGETS  targets to run, space-separated (default: every fuzz-*.c)
#   FUZZ_OUT      objects, binaries, the growing corpus, logs and findings
#                 (default: $top_builddir/fuzz)
#   top_srcdir    source tree (default: the tree holding this script)
#   top_builddir  a configured build tree, for config.h (default:
#                 $top_srcdir/build if it has config.h, else $top_srcdir)
#   FUZZ_CC       the compiler (default: clang)
# Exit status: 0 no finding; 1 a finding (each reproducer path is
# printed); 2 a target failed to build or a run failed without a
# finding; 77 clang is missing.
set -u

secs=${1:-${FUZZ_SECONDS:-60}}
case $secs in
''|*[!0-9]*) echo "run.sh: SECONDS must be a number, not '$secs'" >&2; exit 2 ;;
esac
src=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
src=$(cd "$src" && pwd)
if [ -z "${top_builddir:-}" ]; then
	if [ -f "$src/build/config.h" ]; then
		top_builddir=$src/build
	else
		top_builddir=$src
	fi
fi
bld=$(cd "$top_builddir" && pwd)
out=${FUZZ_OUT:-$bld/fuzz}
cc=${FUZZ_CC:-clang}

if ! command -v "$cc" >/dev/null 2>&1; then
	echo "run.sh: $cc not found (Debian: apt-get install clang)" >&2
	exit 77
fi
if [ ! -f "$bld/config.h" ]; then
	echo "run.sh: no config.h in $bld: run configure first, or set top_builddir" >&2
	exit 2
fi

# Project sources every target may link; the linker takes from the
# archive only the objects a target needs. A target that needs more adds
# them in target_sources. lib/ is taken whole from the generated
# Makefile (libbw_a_SOURCES), so a helper moving into lib/ needs no line
# here.
lib_sources=$(sed -e ':a' -e '/\\$/N; s/\\\n//; ta' "$bld/Makefile" |
	sed -n 's/^libbw_a_SOURCES = //p' | tr ' \t' '\n\n' | grep '\.c$' | tr '\n' ' ')
[ -n "$lib_sources" ] || { echo "run.sh: no libbw_a_SOURCES in $bld/Makefile" >&2; exit 2; }
core_sources="$lib_sources
	hardening/crypto-policy.c hardening/crypto.c
	controlplane/schema.c controlplane/resource.c controlplane/api-route.c
	controlplane/store.c controlplane/store-lmdb.c controlplane/store-wal.c
	client/client.c cli/cli-args.c"
pkgs="jansson libcrypto libssl lmdb libevent"

# Extra sources, libFuzzer flags and seed generation per target.
target_sources() {
	case $1 in
	fuzz-audit-reader)
		echo "audit/record.c audit/segment.c audit/signer.c audit/verify.c audit/search.c" ;;
	fuzz-image-tar)
		echo "image/image.c" ;;
	fuzz-ipc-frame)
		echo "privsep/ipc.c" ;;
	fuzz-store-changes)
		echo "controlplane/store-etcd-decode.c" ;;
	fuzz-console-filter)
		echo "console/filter.c" ;;
	fuzz-update-journal)
		echo "daemon/update-journal.c" ;;
	fuzz-collect-answer)
		# The parser, and the merge with the checks it needs.
		echo "compliance/collect-proto.c compliance/collect.c" \
		    "compliance/check.c compliance/checks/util.c" \
		    "compliance/checks/ac.c compliance/checks/au.c" \
		    "compliance/checks/cm.c compliance/checks/ia.c" \
		    "compliance/checks/sc.c compliance/checks/si.c" \
		    "compliance/catalog.c hardening/baseline.c" ;;
	esac
}
target_flags() {
	case $1 in
	fuzz-image-tar) echo "-max_len=32768" ;;
	fuzz-audit-reader) echo "-max_len=16384" ;;
	fuzz-json-validate) echo "-max_len=8192" ;;
	fuzz-store-wal) echo "-max_len=49152" ;;
	fuzz-ipc-frame) echo "-max_len=4096" ;;
	fuzz-store-changes) echo "-max_len=4096" ;;
	fuzz-collect-answer) echo "-max_len=16384" ;;
	fuzz-update-journal) echo "-max_len=4096" ;;
	esac
}
# Writes generated seeds for target $1 into directory $2 (optional).
target_seed() {
	case $1 in
	fuzz-audit-reader)
		# Real segments from the audit test generator, when built.
		agen=$bld/tests/unit/audit/audit-gen
		[ -x "$agen" ] || return 0
		gtmp=$(mktemp -d) || return 1
		if "$agen" write "$gtmp/trail" "$gtmp/key.pem" 12 2048 >/dev/null; then
			i=0
			for f in "$gtmp"/trail/seg-*.log; do
				[ -f "$f" ] || continue
				i=$((i + 1))
				cp "$f" "$2/seg-$i"
			done
		fi
		rm -rf "$gtmp"
		;;
	fuzz-store-wal)
		# A real log: the crash-torture writer killed mid-run leaves
		# store.wal with a header and records (the first 40 KiB).
		tort=$bld/tests/store-torture
		[ -x "$tort" ] || return 0
		gtmp=$(mktemp -d) || return 1
		"$tort" write "$gtmp/s" "$gtmp/acks" 1 >/dev/null 2>&1 &
		tpid=$!
		sleep 0.5
		kill -KILL "$tpid" 2>/dev/null
		wait "$tpid" 2>/dev/null
		if [ -f "$gtmp/s/store.wal" ]; then
			head -c 40960 "$gtmp/s/store.wal" >"$2/wal-1"
			head -c 26000 "$gtmp/s/store.wal" >"$2/wal-2"
		fi
		rm -rf "$gtmp"
		;;
	esac
}

# shellcheck disable=SC2086 # $pkgs is a list of package names
pkg_cflags=$(pkg-config --cflags $pkgs) || { echo "run.sh: pkg-config failed for: $pkgs" >&2; exit 2; }
# shellcheck disable=SC2086
pkg_libs=$(pkg-config --libs $pkgs) || exit 2
# UBSan findings must stop the run so libFuzzer saves the input.
san="-fsanitize=address,undefined -fno-sanitize-recover=undefined"
# BW_DATADIR as Makefile.am sets it, for sources that name installed
# data (compliance/catalog.c); no target reads it.
cflags="-std=gnu17 -g -O1 -fno-omit-frame-pointer $san -I$src -I$bld $pkg_cflags
	-DBW_DATADIR=\"/usr/share/bulwark\""
warn="-Wall -Wextra -Wshadow -Wmissing-prototypes -Wstrict-prototypes"

if [ -n "${FUZZ_TARGETS:-}" ]; then
	targets=$FUZZ_TARGETS
else
	targets=
	for f in "$src"/tests/fuzz/fuzz-*.c; do
		[ -f "$f" ] || continue
		t=$(basename "$f" .c)
		targets="$targets $t"
	done
fi
[ -n "$targets" ] || { echo "run.sh: no targets in $src/tests/fuzz" >&2; exit 2; }

mkdir -p "$out/obj" "$out/bin" "$out/corpus" "$out/artifacts" "$out/logs" || exit 2

# Recompiles OBJ from C when C, config.h or any header of the tree is
# newer: cheap, and a stale object would fuzz old code.
stale() {
	[ -f "$2" ] || return 0
	[ -n "$(find "$1" "$bld/config.h" -newer "$2" 2>/dev/null)" ] && return 0
	[ -n "$(find "$src/lib" "$src/hardening" "$src/controlplane" "$src/client" \
	    "$src/cli" "$src/image" "$src/audit" "$src/console" "$src/daemon" "$src/tests/fuzz" -name '*.h' -newer "$2" 2>/dev/null | head -n 1)" ]
}

compile() {	# compile SOURCE OBJECT EXTRA_FLAGS...
	c=$1 o=$2
	shift 2
	stale "$src/$c" "$o" || return 0
	mkdir -p "$(dirname "$o")"
	# shellcheck disable=SC2086
	"$cc" $cflags "$@" -c "$src/$c" -o "$o.tmp" && mv "$o.tmp" "$o"
}

build_target() {	# build_target NAME -> $out/bin/NAME
	t=$1 objs=
	for c in $core_sources $(target_sources "$t"); do
		if [ ! -f "$src/$c" ]; then
			echo "run.sh: $t needs $c, which is not in this tree" >&2
			return 1
		fi
		o=$out/obj/$(echo "$c" | sed 's,/,_,g; s,\.c$,.o,')
		compile "$c" "$o" -fsanitize=fuzzer-no-link || return 1
		objs="$objs $o"
	done
	o=$out/obj/$t.o
	# shellcheck disable=SC2086
	compile "tests/fuzz/$t.c" "$o" -fsanitize=fuzzer-no-link $warn -Werror || return 1
	rm -f "$out/obj/lib-$t.a"
	# shellcheck disable=SC2086
	ar rcs "$out/obj/lib-$t.a" $objs || return 1
	# shellcheck disable=SC2086
	"$cc" -fsanitize=fuzzer $san "$o" "$out/obj/lib-$t.a" $pkg_libs -lpthread \
	    -o "$out/bin/$t"
}

# field LOG KEY: the value of libFuzzer's final "stat::KEY:" line.
field() {
	sed -n "s/^stat::$2: *//p" "$1" | tail -n 1
}
# cov LOG WORD: the number after WORD in the last status line.
cov() {
	grep -E '^#[0-9]+' "$1" | tail -n 1 | sed -n "s/.* $2: \([0-9][0-9]*\).*/\1/p"
}

status=0
summary=$out/summary.txt
printf '%-22s %10s %8s %6s %7s %6s %9s  %s\n' target execs exec/s cov edges ft corpus result > "$summary"
for t in $targets; do
	if [ ! -f "$src/tests/fuzz/$t.c" ]; then
		echo "run.sh: no target $t (tests/fuzz/$t.c)" >&2
		exit 2
	fi
	echo "run.sh: building $t"
	if ! build_target "$t"; then
		echo "run.sh: $t failed to build" >&2
		exit 2
	fi
	work=$out/corpus/$t
	gen=$out/seeds/$t
	art=$out/artifacts/$t
	log=$out/logs/$t.log
	rm -rf "$art" "$gen"
	mkdir -p "$work" "$gen" "$art"
	target_seed "$t" "$gen" || echo "run.sh: $t: seed generation failed" >&2
	dirs="$work $gen"
	[ -d "$src/tests/fuzz/corpus/$t" ] && dirs="$dirs $src/tests/fuzz/corpus/$t"
	dict=
	[ -f "$src/tests/fuzz/dict/$t.dict" ] && dict="-dict=$src/tests/fuzz/dict/$t.dict"
	echo "run.sh: running $t for ${secs}s"
	# shellcheck disable=SC2086,SC2046
	ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1} \
	UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
	    "$out/bin/$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
	    -print_final_stats=1 -artifact_prefix="$art/" $dict $(target_flags "$t") \
	    $dirs > "$log" 2>&1
	rc=$?
	edges=$(sed -n 's/^INFO: Loaded [0-9]* modules *(\([0-9]*\) inline 8-bit counters).*/\1/p' "$log" | head -n 1)
	result=ok
	if [ -n "$(ls -A "$art")" ]; then
		result="FINDING (exit $rc)"
		[ $status -eq 0 ] && status=1
	elif [ $rc -ne 0 ]; then
		# libFuzzer saves an input for every finding; an exit without
		# one is a broken run (bad flag, unreadable corpus).
		result="ERROR (exit $rc)"
		status=2
	fi
	printf '%-22s %10s %8s %6s %7s %6s %9s  %s\n' "$t" "$(field "$log" number_of_executed_units)" \
	    "$(field "$log" average_exec_per_sec)" "$(cov "$log" cov)" "${edges:-?}" \
	    "$(cov "$log" ft)" "$(cov "$log" corp | sed 's,/.*,,')" "$result" >> "$summary"
	if [ "$result" != ok ]; then
		echo "run.sh: $t: $result; log $log" >&2
		sed -n '/^==[0-9]*==ERROR\|invariant broken\|runtime error\|^SUMMARY\|ERROR: libFuzzer/,$p' "$log" | head -n 80 >&2
		for f in "$art"/*; do
			[ -f "$f" ] || continue
			echo "run.sh: $t: reproducer: $f" >&2
			echo "run.sh: $t: replay with: $out/bin/$t $f" >&2
		done
		[ -n "$(ls -A "$art")" ] || tail -n 40 "$log" >&2
	fi
	# Open findings in code this run does not own are skipped by the
	# target; replay their reproducers with the skip off so the day a
	# fix lands shows here. Informational: does not change the status.
	for f in "$src/tests/fuzz/findings/$t"/*; do
		[ -f "$f" ] || continue
		if FUZZ_STRICT=1 ASAN_OPTIONS=detect_leaks=1 \
		    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		    "$out/bin/$t" "$f" > "$log.replay" 2>&1; then
			echo "run.sh: $t: open finding $(basename "$f") no longer reproduces: remove its skip from $t.c"
		else
			echo "run.sh: $t: open finding $(basename "$f") still reproduces (see docs/fuzzing.md)"
		fi
	done
	rm -f "$log.replay"
done
echo
cat "$summary"
exit $status

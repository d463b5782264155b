#!/bin/bash
# bench/store-split: what the process split costs. Two bulwarkd side by
# side in one run, the split one (--privsep, the default) and one process
# (--no-privsep, or another binary), driven by the same client
# (build/bench/bw-loadgen) with the workload of bench/store.sh: durable
# acknowledged PUT /v1/tenants/NAME over HTTPS with mutual TLS, 1 and 16
# clients. Prints both medians and the ratio split/one-process per
# concurrency; the goal (issue 15, done 7) is at most 10% slower (>= 0.90).
#
#   bench/store.sh BUILDDIR --split      (make bench-store-split)
#   bench/store-split.sh BUILDDIR
#
# Environment:
#   BENCH_SPLIT_ROUNDS     paired rounds per concurrency (default 5): each
#                          round runs both servers once, in an order that
#                          alternates, so both meet the same moments of
#                          a shared machine; the table shows medians
#   BENCH_SPLIT_OPS1/16    writes per run (default 2000 / 6000)
#   BENCH_SPLIT_BASE_BWD   the one-process side's binary (default the same
#                          build's bulwarkd with --no-privsep; e.g. the
#                          previous commit's bulwarkd, run with its own
#                          default)
#   BENCH_SPLIT_BASE_ARGS  its options (default --no-privsep, or none with
#                          BENCH_SPLIT_BASE_BWD)
#   TMPDIR                 where both data directories live
set -u
BUILD=${1:-${top_builddir:-$(pwd)}}
BUILD=$(cd "$BUILD" && pwd) || exit 1
LG="$BUILD/bench/bw-loadgen"
ROUNDS=${BENCH_SPLIT_ROUNDS:-5}
BASE_BWD=${BENCH_SPLIT_BASE_BWD:-$BUILD/bulwarkd}
if [ -n "${BENCH_SPLIT_BASE_BWD:-}" ]; then
	BASE_ARGS=${BENCH_SPLIT_BASE_ARGS:-}
else
	BASE_ARGS=${BENCH_SPLIT_BASE_ARGS:---no-privsep}
fi

die() {
	echo "bench-store-split: $*" >&2
	exit 1
}
[ -x "$LG" ] || die "$LG not built (run make first)"
[ -x "$BUILD/bulwarkd" ] || die "$BUILD/bulwarkd not built (run make first)"
[ -x "$BASE_BWD" ] || die "$BASE_BWD: not executable"
command -v jq >/dev/null || die "jq is needed"

T=$(mktemp -d "${TMPDIR:-/tmp}/bw-bench-split.XXXXXX") || die "mktemp"
PIDS=
cleanup() {
	local p
	for p in $PIDS; do kill -TERM "$p" 2>/dev/null; done
	for p in $PIDS; do wait "$p" 2>/dev/null; done
	[ -n "${BENCH_KEEP:-}" ] || rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# serve NAME BINARY ARGS...: a bulwarkd on a free port with its data in
# $T/NAME; returns once /healthz answers.
serve() {
	local name=$1 bin=$2 port
	shift 2
	mkdir -p "$T/$name"
	"$bin" --data-dir "$T/$name" --listen 127.0.0.1:0 "$@" \
		>"$T/$name.log" 2>&1 &
	PIDS="$PIDS $!"
	for _ in $(seq 300); do
		port=$(jq -r .server "$T/$name/admin.conf" 2>/dev/null | sed 's/.*://')
		[ -n "$port" ] && curl -sk --max-time 1 "https://127.0.0.1:$port/healthz" \
			>/dev/null 2>&1 && return 0
		sleep 0.05
	done
	tail -20 "$T/$name.log" >&2
	return 1
}

# run NAME CLIENTS OPS PREFIX: bw-loadgen's JSON line; fails when a write
# was not acknowledged.
run() {
	local out
	out=$("$LG" --mode bulwark --config "$T/$1/admin.conf" --clients "$2" \
		--ops "$3" --prefix "$4") || true
	echo "$out" | jq -e '.errors == 0 and .acked == .ops' >/dev/null ||
		die "$1, $2 clients: not every write was acknowledged: $out"
	echo "$out"
}

serve split "$BUILD/bulwarkd" --privsep || die "bulwarkd --privsep did not start"
# shellcheck disable=SC2086 # BASE_ARGS is a list of options
serve one "$BASE_BWD" $BASE_ARGS || die "$BASE_BWD $BASE_ARGS did not start"

echo "bench-store-split: durable acknowledged writes through the API (bw-loadgen)"
echo "  split: $BUILD/bulwarkd --privsep"
echo "  one:   $BASE_BWD ${BASE_ARGS:-(its defaults)}"
echo "  $ROUNDS paired rounds per concurrency, order alternating; medians;" \
	"$(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo
printf '%-8s %-6s %8s %12s %9s %9s\n' clients server ops writes/s p50_ms p99_ms
for n in 1 16; do
	[ "$n" = 1 ] && ops=${BENCH_SPLIT_OPS1:-2000} || ops=${BENCH_SPLIT_OPS16:-6000}
	# warm both: connections, caches, the store's first pages
	run split "$n" $((n * 20)) "warm$n" >/dev/null
	run one "$n" $((n * 20)) "warm$n" >/dev/null
	: >"$T/split$n"
	: >"$T/one$n"
	rounds=
	for r in $(seq "$ROUNDS"); do
		if [ $((r % 2)) = 1 ]; then order="split one"; else order="one split"; fi
		for s in $order; do
			run "$s" "$n" "$ops" "r$n-$r" >>"$T/$s$n"
		done
		rounds="$rounds $(jq -s -r '.[0].ops_per_sec / .[1].ops_per_sec * 100 | round / 100' \
			<(tail -1 "$T/split$n") <(tail -1 "$T/one$n"))"
	done
	for s in split one; do
		jq -s -r --arg n "$n" --arg s "$s" 'sort_by(.ops_per_sec) |
			.[(length - 1) / 2 | floor] |
			[$n, $s, .ops, .ops_per_sec, .p50_ms, .p99_ms] | @tsv' "$T/$s$n" |
			awk -F'\t' '{ printf "%-8s %-6s %8d %12.1f %9.2f %9.2f\n", $1, $2, $3, $4, $5, $6 }'
	done
	ratio=$(jq -s -r 'map(sort_by(.ops_per_sec) | .[(length - 1) / 2 | floor].ops_per_sec) |
		.[0] / .[1] * 100 | round / 100' <(jq -s . "$T/split$n") <(jq -s . "$T/one$n"))
	eval "ratio_$n=$ratio rounds_$n=\"$rounds\""
done
echo
for n in 1 16; do
	eval "r=\$ratio_$n rr=\$rounds_$n"
	# shellcheck disable=SC2154 # r and rr are set by the eval above
	echo "ratio split/one-process clients=$n: $r (of the medians; rounds:$rr;" \
		"goal >= 0.90: $(jq -rn --argjson r "$r" 'if $r >= 0.9 then "met" else "NOT met" end'))"
done
# The bench reports; only a failed run (above) makes it exit non-zero.
exit 0

#!/bin/bash
# bench/store.sh stays runnable (issue 19, Done-means 6): one short
# round of all four systems (bulwarkd on LMDB, one etcd member,
# bulwarkd on a 3-member etcd cluster, that cluster bare) at 1 and 16
# clients prints a row for each, the ratios of its pairs and the goal
# lines, and exits 0; an unknown system is refused before anything
# starts. Only the output's shape is checked, never a rate. Skips when
# etcd is not installed.
. "$(dirname "$0")/lib.sh" || exit 99
. "$(dirname "$0")/etcd-lib.sh" || exit 99

etcd_available || { echo "SKIP: etcd not installed (Debian etcd-server)"; exit 77; }
BENCH="$(dirname "$0")/../../bench/store.sh"

check_fails "an unknown system is refused" env BENCH_STORE_SYSTEMS="bulwark nosuch" \
	TMPDIR="$T" bash "$BENCH" "$BW"
check "...saying which" grep -q 'unknown system "nosuch"' <(BENCH_STORE_SYSTEMS=nosuch \
	TMPDIR="$T" bash "$BENCH" "$BW" 2>&1)

mkdir -p "$T/run"
BENCH_STORE_ROUNDS=1 BENCH_STORE_OPS1=40 BENCH_STORE_OPS16=160 TMPDIR="$T/run" \
	bash "$BENCH" "$BW" >"$T/out" 2>&1
st=$?
sed 's/^/  | /' "$T/out"
check "one round of the four systems exits 0 (status $st)" [ "$st" = 0 ]
for n in 1 16; do
	for s in bulwark etcd bulwark-etcd3 etcd3; do
		check "a row for $s at $n clients" grep -Eq "^$n +$s +[0-9]+ +[0-9.]+ " "$T/out"
	done
	for p in bulwark/etcd bulwark-etcd3/etcd3 bulwark-etcd3/bulwark etcd3/etcd; do
		check "ratio $p at $n clients" grep -Eq "^ratio $p clients=$n: [0-9.]+ " "$T/out"
	done
done
check "the goal lines" [ "$(grep -c '^goal (bulwark >= ' "$T/out")" = 2 ]
check "every data directory removed" [ -z "$(ls -A "$T/run")" ]
finish

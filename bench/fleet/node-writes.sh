#!/bin/bash
# Cost of a Node write as the fleet grows (issue 18): a fresh bulwarkd,
# Node objects applied BATCH at a time with `bulwark apply -f` (since
# d647d1a one bulk request and one transaction per batch; bench-fleet
# measures single-object PUTs), bulwarkd's CPU (daemon and worker) read from /proc/PID/stat around
# each batch. Prints, per checkpoint, the wall and CPU time per Node
# write, for new Nodes and for writes of Nodes that exist (the same
# document again: a write that changes nothing the scheduler reads, as
# a status or heartbeat write), and the ratios of the last checkpoint
# to the first, then bulwarkd's CPU while the fleet idles (IDLE seconds,
# default 10: only the periodic resync runs). With PENDING=N (at most
# 1000), a Workload of N replicas that no Node can take (none reports
# Ready) is applied first and the idle CPU is read with its N Pending
# instances in the store.
# Usage: node-writes.sh BUILD_DIR [CHECKPOINT...]   (default 100 1000 2000)
set -u
BW=$(cd "${1:?usage: node-writes.sh BUILD_DIR [N...]}" && pwd)
shift
POINTS=${*:-100 1000 2000}
BATCH=${BATCH:-100}
T=$(mktemp -d)
PID=
cleanup() {
	[ -n "$PID" ] && kill -TERM "$PID" 2>/dev/null && wait "$PID"
	rm -rf "$T"
}
trap cleanup EXIT
"$BW/bulwarkd" --data-dir "$T/d" --listen 127.0.0.1:0 >"$T/bulwarkd.log" 2>&1 &
PID=$!
for _ in $(seq 200); do
	[ -f "$T/d/admin.conf" ] && break
	sleep 0.05
done
[ -f "$T/d/admin.conf" ] || { cat "$T/bulwarkd.log" >&2; exit 1; }
sleep 0.5
B="$BW/bulwark --config $T/d/admin.conf"
tck=$(getconf CLK_TCK)
# bulwarkd's CPU: the daemon, its spawner and the API worker the spawner
# starts (`bulwarkd --worker`, which does every request's TLS under
# privilege separation, the default); not swtpm, the developer TPM
cpu() {
	local c p
	for p in "$PID" $(for c in $(pgrep -P "$PID"); do
		[ "$(cat "/proc/$c/comm" 2>/dev/null)" = swtpm ] || echo "$c" $(pgrep -P "$c")
	done); do cat "/proc/$p/stat" 2>/dev/null; done |
		awk '{ s += $14 + $15 } END { print s + 0 }'
}
now() { date +%s.%N; }
batch() { # first count
	local i
	for i in $(seq "$1" $(($1 + $2 - 1))); do
		printf '{"kind":"Node","metadata":{"name":"n%d","labels":{"rack":"r%d"}},"spec":{"zone":"z%d","capacity":{"cpu_millis":8000,"memory_mib":16384,"instances":50}}}\n' \
			"$i" $((i % 20)) $((i % 3))
	done >"$T/batch.json"
	$B apply -f "$T/batch.json" >/dev/null || exit 1
}
measure() { # first count -> "wall cpu" per write, in ms
	local c0 w0 c1 w1
	c0=$(cpu); w0=$(now)
	batch "$1" "$2"
	w1=$(now); c1=$(cpu)
	echo "($w1 - $w0) * 1000 / $2" | bc -l
	echo "($c1 - $c0) * 1000 / $tck / $2" | bc -l
}
printf '| nodes in the store | wall per new Node | bulwarkd CPU per new Node | wall per Node rewrite | bulwarkd CPU per Node rewrite |\n|---|---|---|---|---|\n'
have=0
first=
for p in $POINTS; do
	# grow to p - BATCH unmeasured, then measure the batch ending at p
	while [ $((have + BATCH)) -lt "$p" ]; do
		n=$((p - BATCH - have)); [ $n -gt 500 ] && n=500
		batch "$have" "$n"; have=$((have + n))
	done
	set -- $(measure "$have" "$BATCH")
	wall=$1 cpums=$2
	have=$((have + BATCH))
	set -- $(measure $((have - BATCH)) "$BATCH")
	rwall=$1 rcpu=$2
	printf '| %d-%d | %.2f ms | %.2f ms | %.2f ms | %.2f ms |\n' $((have - BATCH)) \
		$((have - 1)) "$wall" "$cpums" "$rwall" "$rcpu"
	[ -z "$first" ] && first=$cpums rfirst=$rcpu
	last=$cpums rlast=$rcpu
done
printf 'bulwarkd CPU per Node write, %s vs %s nodes: new %.2fx, rewrite %.2fx\n' \
	"$have" "${POINTS%% *}" "$(echo "$last / $first" | bc -l)" "$(echo "$rlast / $rfirst" | bc -l)"
if [ "${PENDING:-0}" -gt 0 ]; then
	{
		echo '{"kind":"Tenant","metadata":{"name":"bench"}}'
		printf '{"kind":"Quota","metadata":{"name":"default","tenant":"bench"},"spec":{"cpu_millis":1000000,"memory_mib":10000000,"instances":%d}}\n' "$PENDING"
		printf '{"kind":"Workload","metadata":{"name":"pend","tenant":"bench"},"spec":{"type":"container","image":"sha256:%064d","replicas":%d,"resources":{"cpu_millis":100,"memory_mib":64}}}\n' 0 "$PENDING"
	} >"$T/pending.json"
	$B apply -f "$T/pending.json" >/dev/null || exit 1
	for _ in $(seq 600); do	# every instance made and told why it waits
		[ "$($B get instances -t bench -o json | jq '[.items[] | select(.status.message != null)] | length')" = "$PENDING" ] && break
		sleep 1
	done
	sleep 2
fi
idle=${IDLE:-10}
c0=$(cpu)
sleep "$idle"
c1=$(cpu)
printf 'bulwarkd CPU while %d Nodes and %d Pending instances idle: %.2f%% of one core (over %d s)\n' "$have" "${PENDING:-0}" \
	"$(echo "($c1 - $c0) * 100 / $tck / $idle" | bc -l)" "$idle"

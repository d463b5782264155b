#!/bin/bash
# bench/metrics-scrape: what scraping /metrics every second costs
# bulwarkd with BENCH_METRICS_NODES (2,000) Node objects in the store
# (issue 21, Done means 4: under 1% of a core). bulwarkd's CPU is read
# from /proc/PID/stat (utime + stime) over BENCH_METRICS_SECONDS (30 s)
# idle, then over as long with one scrape a second, and printed as % of
# one core beside each other. Then the same pair with the fleet changing
# (NODES/60 Node writes a second, as many as re-attesting nodes make):
# each scrape after a change may read the fleet again (bounded by
# controlplane/metrics.c's FLEET_READ_BUDGET). Every scrape opens a new
# TLS connection (Prometheus keeps one open), so the figure is an upper
# bound. Usage: bench/metrics-scrape.sh BUILDDIR
set -u
BUILD=${1:?usage: bench/metrics-scrape.sh BUILDDIR}
NODES=${BENCH_METRICS_NODES:-2000}
SECS=${BENCH_METRICS_SECONDS:-30}
T=$(mktemp -d /tmp/bw-bench-metrics.XXXXXX)
PID=""
cleanup() {
	[ -n "$PID" ] && { kill -TERM "$PID" 2>/dev/null; wait "$PID" 2>/dev/null; }
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

"$BUILD/bulwarkd" --data-dir "$T/d" --listen 127.0.0.1:0 >"$T/bulwarkd.log" 2>&1 &
PID=$!
for _ in $(seq 400); do
	[ -f "$T/d/admin.conf" ] && PORT=$(jq -r .server "$T/d/admin.conf" | sed 's/.*://') &&
		curl -sk "https://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break
	kill -0 "$PID" 2>/dev/null || { cat "$T/bulwarkd.log" >&2; exit 1; }
	sleep 0.05
done
URL="https://127.0.0.1:$PORT"
B="$BUILD/bulwark --config $T/d/admin.conf"
$B principal create prom -t system --role metrics --out "$T/p" >/dev/null || exit 1
scrape() {
	curl -s --max-time 10 --cacert "$T/d/pki/ca.crt" --cert "$T/p/prom.crt" \
		--key "$T/p/prom.key" -o "$T/metrics" -w '%{time_total}' "$URL/metrics"
}

# NODES Node objects, applied in chunks of 500
i=0
while [ "$i" -lt "$NODES" ]; do
	n=$((NODES - i < 500 ? NODES - i : 500))
	seq "$i" $((i + n - 1)) | awk '{ printf "%s{\"kind\":\"Node\",\"metadata\":{\"name\":\"n%05d\"},\"spec\":{\"zone\":\"z%d\",\"capacity\":{\"cpu_millis\":8000,\"memory_mib\":16384}}}", (NR > 1 ? "," : "["), $1, $1 % 4 } END { print "]" }' >"$T/nodes.json"
	$B apply -f "$T/nodes.json" >/dev/null || { echo "creating nodes failed" >&2; exit 1; }
	i=$((i + n))
done
cold=$(scrape)
warm=$(scrape)
have=$(awk '/^bulwark_nodes[{]/ { s += $2 } END { print s + 0 }' "$T/metrics")
[ "$have" -ge "$NODES" ] || { echo "/metrics counts $have nodes, not $NODES" >&2; exit 1; }
if command -v promtool >/dev/null && ! promtool check metrics <"$T/metrics"; then
	echo "promtool check metrics fails" >&2
	exit 1
fi

ticks() { awk '{ sub(/.*\) /, ""); split($0, f, " "); print f[12] + f[13] }' "/proc/$PID/stat"; }
HZ=$(getconf CLK_TCK)
pct() { echo "scale=3; 100 * ($2 - $1) / $HZ / $3" | bc; }

# CHURN nodes' spec rewritten (a new zone), as one apply
CHURN=$(((NODES + 59) / 60))
gen=0
churn() {
	gen=$((gen + 1))
	seq 0 $((CHURN - 1)) | awk -v g="$gen" -v o="$(((gen * CHURN) % NODES))" -v n="$NODES" '{ printf "%s{\"kind\":\"Node\",\"metadata\":{\"name\":\"n%05d\"},\"spec\":{\"zone\":\"g%d\",\"capacity\":{\"cpu_millis\":8000,\"memory_mib\":16384}}}", (NR > 1 ? "," : "["), ($1 + o) % n, g } END { print "]" }' >"$T/churn.json"
	$B apply -f "$T/churn.json" >/dev/null
}
# churns: SECS rounds of a second, each changing CHURN nodes
churns() {
	local s rest
	for _ in $(seq "$SECS"); do
		s=$(date +%s.%N)
		churn
		rest=$(echo "$s + 1 - $(date +%s.%N)" | bc)
		[ "${rest#-}" = "$rest" ] && sleep "$rest"
	done
}
# run SCRAPE CHURN: SECS seconds with one scrape a second over one kept
# connection, as Prometheus scrapes (SCRAPE 1), and nodes changing
# (CHURN 1); prints bulwarkd's CPU as % of a core
run() {
	local a b t0 t1 cp=""
	a=$(ticks); t0=$(date +%s.%N)
	if [ "$2" = 1 ]; then churns & cp=$!; fi
	if [ "$1" = 1 ]; then
		curl -s --max-time $((SECS + 30)) --rate 1/s --cacert "$T/d/pki/ca.crt" \
			--cert "$T/p/prom.crt" --key "$T/p/prom.key" -o "$T/s#1" \
			"$URL/metrics?n=[1-$SECS]"
	else
		sleep "$SECS"
	fi
	[ -n "$cp" ] && wait "$cp"
	b=$(ticks); t1=$(date +%s.%N)
	pct "$a" "$b" "$(echo "$t1 - $t0" | bc)"
}

# bulwarkd's time answering /metrics so far: "SUM COUNT" (seconds)
served() {
	scrape >/dev/null
	awk '$1 == "bulwark_http_request_duration_seconds_sum{route=\"metrics\",code=\"200\"}" { s = $2 }
		$1 == "bulwark_http_request_duration_seconds_count{route=\"metrics\",code=\"200\"}" { n = $2 }
		END { print s + 0, n + 0 }' "$T/metrics"
}
# fleet reads so far: "COUNT CPU-SECONDS"
reads() {
	scrape >/dev/null
	awk '$1 == "bulwark_metrics_fleet_reads_total" { n = $2 }
		$1 == "bulwark_metrics_fleet_read_cpu_seconds_total" { s = $2 }
		END { print n + 0, s + 0 }' "$T/metrics"
}
# per_scrape "S0 N0" "S1 N1": mean ms per scrape between two served()
per_scrape() { echo "$1 $2" | awk '{ printf "%.2f", ($4 > $2 ? 1000 * ($3 - $1) / ($4 - $2) : 0) }'; }

sleep 2	# the applies' housekeeping settles
idle=$(run 0 0)
h0=$(served)
busy=$(run 1 0)
h1=$(served)
warm_ms=$(per_scrape "$h0" "$h1")
if [ "${BENCH_METRICS_CHURN:-1}" = 1 ]; then
	r1=$(reads); t0=$(date +%s.%N)
	chbusy=$(run 1 1)
	r2=$(reads); t1=$(date +%s.%N)
	h2=$(served)
	churn_ms=$(per_scrape "$h1" "$h2")
	# the reads' CPU over the phase, as % of a core
	churn_reads=$(echo "$r1 $r2" | awk '{ print $3 - $1 }')
	churn_read_pct=$(echo "$r1 $r2 $(echo "$t1 - $t0" | bc)" |
		awk '{ printf "%.3f", 100 * ($4 - $2) / $5 }')
	churn_share=$(echo "scale=3; $churn_read_pct + $busy - $idle" | bc)
fi

echo "bench-metrics: $NODES nodes, $(wc -c <"$T/metrics") bytes and $(grep -vc '^#' "$T/metrics") samples per scrape"
printf '%-34s %8s\n' "bulwarkd CPU, % of one core" ""
printf '%-34s %8.3f\n' "idle ($SECS s)" "$idle"
printf '%-34s %8.3f\n' "scraped every 1 s ($SECS scrapes)" "$busy"
printf '%-34s %8.3f\n' "the scrapes' share" "$(echo "$busy - $idle" | bc)"
echo "bulwarkd's time per scrape (arrival to answer, its request histogram):"
echo "  fleet unchanged: $warm_ms ms = $(echo "scale=3; $warm_ms / 10" | bc)% of a core at one a second"
if [ -n "${churn_ms:-}" ]; then
	echo "  $CHURN node writes/s between scrapes: $churn_ms ms"
	echo "with $CHURN node writes/s (all of bulwarkd: $chbusy% of a core, the writes included):"
	echo "  fleet reads: $churn_reads in $SECS s, $churn_read_pct% of a core (CPU of the loop thread)"
	echo "  the scrapes' share: reads + the unchanged-fleet share = $churn_share% of a core"
fi
printf 'client wall time of a scrape (new TLS connection): first after the writes %.1f ms (fleet read), then %.1f ms\n' \
	"$(echo "$cold * 1000" | bc)" "$(echo "$warm * 1000" | bc)"
if [ "$(echo "$busy - $idle < 1" | bc)" = 1 ] &&
	{ [ -z "${churn_share:-}" ] || [ "$(echo "$churn_share < 1" | bc)" = 1 ]; }; then
	echo "goal (< 1% of a core for the scrapes): met"
else
	echo "goal (< 1% of a core for the scrapes): MISSED"
fi

#!/bin/bash
# bench-agent-idle (issue 18, Done means 1): what an idle fleet's agents
# cost bulwarkd. A fresh bulwarkd holding the largest size's Nodes
# (seeded as bench-fleet seeds them), then for each size N and each
# agent in AGENT_IDLE_MODES (default "second resync"): `fleet-sim
# agent-idle --mode M` makes, for N nodes, the API requests of an idle
# agent's workload pass (fleet-sim.c lists them, and what differs with
# the administrator's credential): "second", the agent of 8101d5f, a
# pass a second; "resync", the agent since 2026-12-07, a pass and one
# long poll every 10 s. First with the log push, then
# without it (FLEET_SIM_NO_LOG_PUSH: the administrator's push is refused
# and recorded, a node's is answered and not recorded). The row without
# the push is a lower bound of a real node's cost, the row with it no
# upper bound: neither has the read of the node's own Node that each
# of a node's requests makes (node_stands). bulwarkd's CPU (the
# daemon, its spawner and its API worker, not swtpm: as bench-fleet
# counts it, in ns from
# /proc/PID/task/*/schedstat) over AGENT_IDLE_WINDOW (15) s after
# AGENT_IDLE_WARM (5) s, the trail's records over the window, the load
# average at the window's start and end. Prints one row per size, mode
# and variant: % of one core, per pass a second made (a size the machine
# cannot drive makes fewer than its due), that times 5,000 nodes' passes
# a second (5,000, or 500 for resync), and ms of CPU per pass (% /
# passes per s x 10).
# Usage: agent-idle.sh BUILD_DIR [NODES...]   (default 100 300 1000)
set -u
BW=$(cd "${1:?usage: agent-idle.sh BUILD_DIR [NODES...]}" && pwd)
shift
SIZES=${*:-100 300 1000}
MODES=${AGENT_IDLE_MODES:-second resync}
WARM=${AGENT_IDLE_WARM:-5}
WINDOW=${AGENT_IDLE_WINDOW:-15}
THREADS=${AGENT_IDLE_THREADS:-16}
FLEET_BENCH=bench/agent-idle
. "$(dirname "$0")/fleet-lib.sh"

max=0
for n in $SIZES; do [ "$n" -gt "$max" ] && max=$n; done
[ "$max" -gt 0 ] || die "no sizes"
# seeded nodes are attested when seeded and never quote: keep them Trusted
echo '{"attestation": {"stale_after_seconds": 864000}}' >"$D/bulwarkd.conf"
records() { trail_count ''; }
load1() { cut -d' ' -f1 /proc/loadavg; }

start
restart_seeded 0 "$max"

c0=$(cpu_ns); sleep "$WINDOW"; c1=$(cpu_ns)
quiet=$(echo "($c1 - $c0) / 10000000 / $WINDOW" | bc -l)

echo "bench-agent-idle $(date -u +%F) $(git -C "$(dirname "$0")" rev-parse --short HEAD 2>/dev/null)," \
	"$max seeded nodes, ${WINDOW} s windows after ${WARM} s, $THREADS threads"
printf 'bulwarkd with no requests: %.2f %% of one core\n\n' "$quiet"
echo '| nodes | agent | log push | load avg start/end | passes/s (due) | requests/s | trail records/s | bulwarkd % of a core | per pass/s | x 5,000 nodes | ms per pass |'
echo '|---|---|---|---|---|---|---|---|---|---|---|'
for n in $SIZES; do
    for mode in $MODES; do
	if [ "$mode" = second ]; then period=1; else period=10; fi
	for push in 1 0; do
		if [ "$push" = 1 ]; then env=; else env=FLEET_SIM_NO_LOG_PUSH=1; fi
		env $env "$SIM" agent-idle --config "$D/admin.conf" --nodes "$n" \
			--mode "$mode" --threads "$THREADS" \
			--seconds $((WARM + WINDOW + 2)) \
			>"$T/agent.json" 2>"$T/agent.err" &
		SIM_PID=$!
		sleep "$WARM"
		l0=$(load1); r0=$(records); c0=$(cpu_ns)
		sleep "$WINDOW"
		c1=$(cpu_ns); r1=$(records); l1=$(load1)
		wait "$SIM_PID"; rc=$?; SIM_PID=
		res=$(cat "$T/agent.json")
		[ -n "$res" ] || die "agent-idle $n: $(tail -3 "$T/agent.err")"
		[ "$rc" = 0 ] || echo "agent-idle $n (push $push) exited $rc: $res" >&2
		pct=$(echo "($c1 - $c0) / 10000000 / $WINDOW" | bc -l)
		pps=$(jq .passes_per_s <<<"$res")
		printf '| %d | %s | %s | %s / %s | %.1f (%g) | %.1f | %.1f | **%.2f %%** | %.4f %% | %.1f %% | %.3f |\n' \
			"$n" "$mode" "$([ "$push" = 1 ] && echo yes || echo no)" "$l0" "$l1" \
			"$pps" "$(echo "$n / $period" | bc -l)" \
			"$(jq .requests_per_s <<<"$res")" "$(echo "($r1 - $r0) / $WINDOW" | bc -l)" \
			"$pct" "$(echo "$pct / $pps" | bc -l)" \
			"$(echo "$pct * 5000 / $period / $pps" | bc -l)" \
			"$(echo "$pct * 10 / $pps" | bc -l)"
		[ "$(jq .errors <<<"$res")" = 0 ] || echo "  (errors: $res)"
	done
    done
done

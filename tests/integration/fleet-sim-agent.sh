#!/bin/bash
# bench-agent-idle's simulated node (bench/fleet/fleet-sim.c, agent-idle)
# makes copies of an idle agent's requests (the paths, the page size):
# this keeps the copy in step with the agent. A real bulwark-agent on its
# own swtpm, enrolled as n1 and bound nothing, idles; the actions (and
# outcomes) in the trail of its principal over a window must be those of
# one fleet-sim node, made with the administrator's credential, over
# another. What differs by design (fleet-sim.c's header) is left out on
# each side: the administrator's log push is refused and recorded
# (node.logs denied), a node's is answered and not recorded; the agent
# re-attests (every interval_seconds, here 5 s), fleet-sim does not.
# The window holds at least one of the idle agent's resyncs (every
# 10 s: its lists; fleet-sim agent-idle's default mode, resync).
. "$(dirname "$0")/workloads-lib.sh" || exit 99

SIM="$BW/bench/fleet/fleet-sim"
WINDOW=${WINDOW:-12}

records() { cat "$D"/audit/seg-*.log | grep -a ' action='; }
# actions_after N ACTOR: "action=A outcome=O" of ACTOR's records after
# the first N, one a line, sorted, each once
actions_after() {
	records | tail -n +$(($1 + 1)) | awk -v who="actor=$2" '
		{ a = ""; o = ""; mine = 0
		  for (i = 1; i <= NF; i++) {
			if ($i == who) mine = 1
			if ($i ~ /^action=/) a = $i
			if ($i ~ /^outcome=/) o = $i
		  }
		  if (mine) print a, o }' | sort -u
}
# what the agent does that fleet-sim does not, by design
not_simulated() { grep -v -E '^action=node\.attest(\.[a-z]+)? '; }

start_bulwarkd_wl || { fail "bulwarkd did not start"; finish; }
enrol_node || { fail "node n1 enrols with its TPM and is approved"; finish; }
pass "node n1 enrols with its TPM and is approved"
sleep 3		# past the passes that follow the enrolment's changes
n0=$(records | wc -l)
sleep "$WINDOW"
actions_after "$n0" n1 >"$T/agent.all"
stop_agent_wl
not_simulated <"$T/agent.all" >"$T/agent"
echo "the idle agent's actions over $WINDOW s:"; sed 's/^/  /' "$T/agent.all"
check "the idle agent made instance lists in the window" \
	grep -q '^action=instance.list outcome=success$' "$T/agent"

n0=$(records | wc -l)
check "fleet-sim agent-idle makes one node's passes for $WINDOW s" \
	"$SIM" agent-idle --config "$CONF" --nodes 1 --threads 1 --seconds "$WINDOW"
actions_after "$n0" admin >"$T/sim.all"
echo "fleet-sim's actions:"; sed 's/^/  /' "$T/sim.all"
check "fleet-sim's log push is refused to the administrator and recorded" \
	grep -q '^action=node.logs outcome=denied$' "$T/sim.all"
grep -v '^action=node.logs outcome=denied$' "$T/sim.all" | sort -u >"$T/sim"
check "fleet-sim's pass has the idle agent's actions, no more, no fewer" \
	diff "$T/agent" "$T/sim"
finish

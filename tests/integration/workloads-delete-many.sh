#!/bin/bash
# Deleting many instances at once (issue 23 follow-up): the agent stops
# the instances it removes together, one stop grace for all of them, not
# one after the other. A workload of 8 replicas whose command ignores
# SIGTERM runs on n1 (agent --stop-grace 5); once it is deleted all 8
# instance directories leave the agent's state directory in less than
# 20 s (one at a time took 8 x 5 s = 40 s); a workload applied right
# after the delete starts meanwhile, also in less than 20 s.
. "$(dirname "$0")/workloads-lib.sh" || exit 99

WL_GRACE=5
wl_start

stubborn() { # NAME REPLICAS
	cat <<EOF
{"kind": "Workload", "metadata": {"name": "$1", "tenant": "acme"},
 "spec": {"type": "container", "image": "$DIGEST", "replicas": $2,
          "resources": {"cpu_millis": 100, "memory_mib": 16},
          "command": ["sh", "-c", "trap '' TERM; while :; do sleep 1; done"],
          "restart_policy": "always"}}
EOF
}
# n_dirs: instance directories in the agent's state directory
n_dirs() { find "$NS/instances" -mindepth 1 -maxdepth 1 -type d | wc -l; }

{ echo '{"kind": "Tenant", "metadata": {"name": "acme"}, "spec": {}}'; stubborn many 8; } >"$T/many.json"
check "apply a workload of 8 replicas that ignore SIGTERM" $B apply -f "$T/many.json"
wait_for 90 bash -c "[ \"\$(n_running acme many)\" = 8 ]" ||
	{ fail "8 instances Running"; tail -20 "$T/agent.log" >&2; wl_finish; }
pass "8 instances Running"
check "8 instance directories in the agent's state" [ "$(n_dirs)" = 8 ]

stubborn late 1 >"$T/late.json"
t0=$(date +%s.%N)
check "delete the workload" $B delete workload many -t acme
check "apply another workload right after" $B apply -f "$T/late.json"
late_s=""
for i in $(seq 600); do
	if [ -z "$late_s" ] && [ "$(n_running acme late)" = 1 ]; then
		late_s=$(echo "$(date +%s.%N) - $t0" | bc)
	fi
	# the late workload's instance has a directory too
	[ "$(n_dirs)" -le 1 ] && [ -n "$late_s" ] && break
	sleep 0.1
done
t1=$(date +%s.%N)
gone_s=$(echo "$t1 - $t0" | bc)
echo "8 instances (stop grace ${WL_GRACE} s, SIGTERM ignored) removed in $gone_s s; the workload applied after the delete Running after ${late_s:-never} s"
check "the 8 instance directories are gone" bash -c "[ \"\$(find '$NS/instances' -mindepth 1 -maxdepth 1 -type d | wc -l)\" -le 1 ]"
check "within one grace and a margin ($gone_s s < 20 s)" [ "$(echo "$gone_s < 20" | bc)" = 1 ]
check "the other workload started meanwhile (${late_s:-never} s < 20 s)" \
	[ "$(echo "${late_s:-99} < 20" | bc)" = 1 ]
# the log line follows the directory's removal
check "the removals were kills after the grace (agent log)" \
	wait_for 10 bash -c "[ \$(grep -c 'removed: killed or already ended' '$T/agent.log') -ge 8 ]"
check_fails "none stopped within it" grep -q 'removed: stopped within the grace period' "$T/agent.log"
check "delete the other workload" $B delete workload late -t acme
wl_gone acme
wl_finish

#!/bin/bash
# Horizontal autoscaling end to end (issue 23, Done-means 4), with real
# crun: spec.autoscale is validated (and counted at its max by the
# quota); a busybox workload that burns all of its 0.5-CPU request until
# a set time reports its CPU usage through the agent (status.cpu_percent)
# and is scaled out to its max, then, once the burning stops, back in to
# its min, no earlier than its stabilisation window allows; the replica
# count, sampled each second, rises and then falls and never goes
# up-down-up; each decision is in the workload's status and audited
# with its inputs. The target (10% of the request) is far below what
# one burning replica uses, so a busy machine still scales out.
. "$(dirname "$0")/workloads-lib.sh" || exit 99

WL_GRACE=1
WL_AGENT_ARGS="--cpu-interval 2"
STAB=20
wl_start

# burner AUTOSCALE [NAME] [UNTIL]: a workload of tenant acme burning CPU
# until the Unix time UNTIL (default: not at all), then idling.
burner() {
	cat <<JSON
{"kind": "Workload", "metadata": {"name": "${2:-burn}", "tenant": "acme"},
 "spec": {"type": "container", "image": "$DIGEST", "replicas": 1,
          "resources": {"cpu_millis": 500, "memory_mib": 32},
          "command": ["sh", "-c", "while [ \$(/bin/busybox date +%s) -lt ${3:-0} ]; do i=0; while [ \$i -lt 5000 ]; do i=\$((i+1)); done; done; while :; do sleep 1; done"],
          "autoscale": $1}}
JSON
}
check "create tenant acme" bash -c "echo '{\"kind\": \"Tenant\", \"metadata\": {\"name\": \"acme\"}, \"spec\": {}}' | $B apply -f - >/dev/null"

echo "== spec.autoscale is validated"
refused() { wl_refused burner "$@"; }
check "min 0" refused '{"min": 0, "max": 3, "target_cpu_percent": 10, "stabilization_window_s": 20}' \
	'spec.autoscale.min: must be an integer'
check "max below min" refused '{"min": 3, "max": 2, "target_cpu_percent": 10, "stabilization_window_s": 20}' \
	'spec.autoscale.max: must be at least min (3)'
check "target 0" refused '{"min": 1, "max": 3, "target_cpu_percent": 0, "stabilization_window_s": 20}' \
	'spec.autoscale.target_cpu_percent'
check "target above 100" refused '{"min": 1, "max": 3, "target_cpu_percent": 101, "stabilization_window_s": 20}' \
	'spec.autoscale.target_cpu_percent'
check "no stabilisation window" refused '{"min": 1, "max": 3, "target_cpu_percent": 10}' \
	'spec.autoscale.stabilization_window_s'
check "an unknown field" refused '{"min": 1, "max": 3, "target_cpu_percent": 10, "stabilization_window_s": 20, "scale_up_window": 1}' \
	'spec.autoscale.scale_up_window'
echo '{"kind": "Quota", "metadata": {"name": "default", "tenant": "acme"},
  "spec": {"cpu_millis": 2000, "instances": 3}}' | $B apply -f - >/dev/null
burner '{"min": 1, "max": 4, "target_cpu_percent": 10, "stabilization_window_s": 20}' >"$T/big.json"
check "a max beyond the quota (4 instances of 3) is refused" bash -c \
	"$B apply -f '$T/big.json' 2>&1 | grep -q 'instances: used 0, requested 4, limit 3'"
check "nothing was created" bash -c "! $B get workload burn -t acme >/dev/null 2>&1"

echo "== out to max under load, back to min after it, no flapping"
start=$(date +%s)
until=$((start + 60))
burner "{\"min\": 1, \"max\": 3, \"target_cpu_percent\": 10, \"stabilization_window_s\": $STAB}" \
	burn "$until" >"$T/burn.json"
check "apply burn (1 replica, autoscale 1..3, target 10%)" $B apply -f "$T/burn.json"
# The replica count each second: spec.replicas and Running instances.
(
	while :; do
		r=$($B get workload burn -t acme -o json 2>/dev/null | jq -r '.spec.replicas // empty')
		[ -n "$r" ] && echo "$(date +%s) $r $(n_running acme burn 2>/dev/null)"
		sleep 1
	done
) >"$T/samples" &
SAMPLER=$!
trap 'kill "$SAMPLER" 2>/dev/null; wait "$SAMPLER" 2>/dev/null; wl_cleanup' EXIT
wl_is() { $B get workload burn -t acme -o json 2>/dev/null | jq -e "$1" >/dev/null; }
check "burn-0 reports its CPU usage" wait_for 60 inst_is acme burn-0 '.status.cpu_percent >= 20'
inst acme burn-0 | jq -c '.status | {phase, cpu_percent}'
check "scaled out to max 3 while it burns" wait_for 50 wl_is '.spec.replicas == 3'
check "...before the load stopped" [ "$(date +%s)" -lt "$until" ]
check "3 replicas Running" wait_for 60 bash -c "[ \"\$(n_running acme burn)\" = 3 ]"
$B get workload burn -t acme -o json | jq -c .status.autoscale
check "status.autoscale says why" wl_is \
	'(.status.autoscale.state == "ScaledOut" or .status.autoscale.state == "AtMax") and .status.autoscale.target_cpu_percent == 10 and
	 .status.autoscale.desired_replicas == 3 and (.status.autoscale.last_scale_time | length > 0) and
	 (.status.autoscale.last_scale_reason | test("^ScaledOut [12] -> 3: CPU "))'
check "still 3 while it burns" wl_is '.spec.replicas == 3'
check "back in to min 1 after the load stopped" wait_for $((until - $(date +%s) + STAB + 90)) \
	wl_is '.spec.replicas == 1'
check "one replica left" wait_for 60 bash -c "[ \"\$(instances acme | jq length)\" = 1 ]"
sleep 3
kill "$SAMPLER"; wait "$SAMPLER" 2>/dev/null
$B get workload burn -t acme -o json | jq -c .status.autoscale
uniq -f1 "$T/samples"
# The phases: the count rises to 3, stays, then falls to 1; a fall
# followed by a rise anywhere is a flap.
check "the count rose to 3 and fell to 1, never up-down-up" awk '
	{ if (prev != "" && $2 > prev && fell) bad = 1
	  if (prev != "" && $2 < prev) fell = 1
	  if ($2 == 3) top = 1
	  prev = $2 }
	END { exit !(top && fell && prev == 1 && !bad) }' "$T/samples"
first_in=$(awk '$2 < 3 && seen { print $1; exit } $2 == 3 { seen = 1 }' "$T/samples")
echo "load stopped at +$((until - start)) s, first scale-in at +$((first_in - start)) s"
# The last burning sample is at most an agent interval (2 s) before
# $until: the window holds the scale-in at least $STAB s after it.
check "no scale-in inside the stabilisation window" [ "$first_in" -ge $((until + STAB - 4)) ]

echo "== each decision audited with its inputs"
"$BW/bulwark" --config "$AUDITOR" audit search --action workload.autoscale \
	--object burn -o json >"$T/audit.json"
jq -r '.items[] | "\(.actor) \(.reason)"' "$T/audit.json"
check "scale-out audited, by the autoscaler, with usage and target" bash -c \
	"jq -e '[.items[] | select(.actor == \"controller/autoscaler\" and (.reason | test(\"^ScaledOut 1 -> [23]: CPU [0-9]+% of the request on average over 1 of 1 replicas \\\\(target 10%\\\\)\")))] | length >= 1' '$T/audit.json' >/dev/null"
check "scale-in audited, with its window" bash -c \
	"jq -e '[.items[] | select(.reason | test(\"^ScaledIn 3 -> [12]: .*stabilisation window $STAB s\"))] | length >= 1' '$T/audit.json' >/dev/null"

echo "== changing autoscale replaces no instance"
uid=$(inst acme burn-0 | jq -r .metadata.uid)
burner "{\"min\": 1, \"max\": 2, \"target_cpu_percent\": 50, \"stabilization_window_s\": $STAB}" \
	burn "$until" | $B apply -f - >/dev/null
sleep 5
check "burn-0 is the same instance" inst_is acme burn-0 ".metadata.uid == \"$uid\""

echo "== clean up"
check "delete burn" $B delete workload burn -t acme
wl_gone acme
wl_finish

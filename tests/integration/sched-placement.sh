#!/bin/bash
# Scheduling through the whole appliance (issue 6, Done-means 2): six real
# nodes (each its own swtpm and bulwark-agent, enrolled and approved) in
# three zones. A workload of 6 replicas with zone spread max skew 1 lands
# 2/2/2; with anti-affinity per node over the 4 nodes of a pool, 4 are
# placed and 2 stay Pending with an explanation naming the rule; a node
# whose PCR 7 drifts becomes Untrusted and gets nothing. Every decision
# is in the audit trail with its explanation.
. "$(dirname "$0")/lib.sh" || exit 99
. "$(dirname "$0")/identity-lib.sh" || exit 99

D="$T/d"
mkdir -p "$D"
cat >"$D/bulwarkd.conf" <<'CONF'
{"attestation": {"interval_seconds": 1, "stale_after_seconds": 30,
                 "node_certificate_seconds": 3600}}
CONF
start_bulwarkd "$D" || { echo "bulwarkd did not start"; exit 1; }
B="$BW/bulwark --config $CONF"
NODES="n1 n2 n3 n4 n5 n6"
enrol_nodes 30 $NODES

# zones a, b, c; n1..n4 form pool "ap"
zone() { case $1 in n1|n2) echo a ;; n3|n4) echo b ;; *) echo c ;; esac; }
# The agents re-attest every second (a Node write each): an apply that
# meets one in flight gets 409 and is tried again.
label() { # node pool-json
	echo "{\"kind\":\"Node\",\"metadata\":{\"name\":\"$1\",\"labels\":{\"rack\":\"r1\"$2}},
	  \"spec\":{\"zone\":\"$(zone $1)\",\"capacity\":{\"cpu_millis\":8000,\"memory_mib\":8192,\"instances\":50}}}" |
		$B apply -f - >/dev/null 2>&1
}
for n in $NODES; do
	pool=""
	case $n in n1|n2|n3|n4) pool=',"pool":"ap"' ;; esac
	label $n "$pool" || label $n "$pool" || label $n "$pool" || fail "label $n"
done
echo '{"kind":"Tenant","metadata":{"name":"acme"}}' | $B apply -f - >/dev/null
IMG='"image":"sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"'
wl() { # name replicas extra-spec-json
	echo "{\"kind\":\"Workload\",\"metadata\":{\"name\":\"$1\",\"tenant\":\"acme\"},
	  \"spec\":{\"type\":\"container\",$IMG,\"replicas\":$2,
	  \"resources\":{\"cpu_millis\":100,\"memory_mib\":64}$3}}" | $B apply -f - >/dev/null
}
placed() { # workload -> count of instances with a node
	$B get instances -o json | jq --arg w "$1" \
		'[.items[] | select(.spec.workload == $w and .spec.node != null)] | length'
}
settled() { # workload expected-placed expected-total
	[ "$(placed "$1")" = "$2" ] && [ "$($B get instances -o json | jq --arg w "$1" \
		'[.items[] | select(.spec.workload == $w and .status.message != null)] | length')" = "$3" ]
}

# -- zone spread: 2/2/2
wl spread 6 ',"spread":[{"topology_key":"zone","max_skew":1}]'
check "spread: all 6 placed" wait_for 20 settled spread 6 6
per_zone=$($B get instances -o json | jq -r '[.items[] | select(.spec.workload == "spread") | .spec.node] | .[]' |
	while read -r n; do zone "$n"; done | sort | uniq -c | awk '{print $1}' | paste -sd/ -)
check "spread: zones a/b/c hold 2/2/2 (got $per_zone)" [ "$per_zone" = "2/2/2" ]

# -- anti-affinity per node inside the 4-node pool: 4 placed, 2 Pending
wl anti 6 ',"node_selector":{"pool":"ap"},"anti_affinity":[{"topology_key":"node"}]'
check "anti-affinity: 4 placed, 2 explained" wait_for 20 settled anti 4 6
$B get instances -o json | jq -r '.items[] | select(.spec.workload == "anti" and .spec.node == null) | .metadata.name' >"$T/pending"
check "anti-affinity: 2 instances Pending" [ "$(wc -l <"$T/pending")" = 2 ]
p1=$(head -1 "$T/pending")
$BW/bulwark --config "$CONF" explain instance "$p1" -t acme >"$T/explain" 2>&1
cat "$T/explain"
check "explain names the anti-affinity rule" grep -qi "anti-affinity" "$T/explain"
check "the pending instance's status says unschedulable" grep -q "unschedulable" "$T/explain"
nodes_used=$($B get instances -o json | jq -r '[.items[] | select(.spec.workload == "anti" and .spec.node != null) | .spec.node] | unique | length')
check "anti-affinity: the 4 placed are on 4 different nodes (got $nodes_used)" [ "$nodes_used" = 4 ]

# -- an Untrusted node gets nothing
eval "kill -TERM \$AGENT_n6"
eval "wait \$AGENT_n6"
env TSS2_LOG=all+NONE tpm2_pcrextend -T "$TCTI_n6" \
	7:sha256=$(printf 'b%.0s' $(seq 64)) || fail "extend PCR 7 of n6"
"$BW/bulwark-agent" --tpm "$TCTI_n6" --state-dir "$T/state-n6" --once >"$T/agent-n6-drift.log" 2>&1
check "n6 becomes Untrusted" wait_for 20 is_state n6 Untrusted
wl after 12 ''
check "12 more instances placed" wait_for 20 settled after 12 12
on_n6=$($B get instances -o json | jq '[.items[] | select(.spec.workload == "after" and .spec.node == "n6")] | length')
check "nothing new lands on the Untrusted node (got $on_n6)" [ "$on_n6" = 0 ]

# -- a node reads its own Node and the instances bound to it, nothing of
# other nodes' (docs/rbac.md): requests with n1's TPM-held key
# (bulwark-agent request), its agent stopped first (swtpm serves one
# client).
eval "kill -TERM \$AGENT_n1"
eval "wait \$AGENT_n1"
node_get() { # NODE PATH -> status in $T/ng.status, body in $T/ng.body
	"$BW/bulwark-agent" request --tpm "$(eval echo "\$TCTI_$1")" --state-dir "$T/state-$1" \
		GET "$2" >"$T/ng.out" 2>"$T/ng.err"
	sed -n 1p "$T/ng.out" >"$T/ng.status"
	sed 1d "$T/ng.out" >"$T/ng.body"
	[ -s "$T/ng.status" ] || { echo "node_get $1 $2: no answer:"; tail -5 "$T/ng.err"; } >&2
}
mine=$($B get instances -o json | jq '[.items[] | select(.spec.node == "n1")] | length')
all=$($B get instances -o json | jq '.items | length')
node_get n1 /v1/instances
check "n1 lists instances with its own key (HTTP $(cat "$T/ng.status"))" [ "$(cat "$T/ng.status")" = 200 ]
seen=$(jq '.items | length' "$T/ng.body")
check "n1 sees exactly the $mine instances bound to it, of $all (saw $seen)" \
	sh -c "[ '$seen' = '$mine' ] && [ '$mine' -lt '$all' ] && jq -e '[.items[].spec.node] | all(. == \"n1\")' '$T/ng.body' >/dev/null"
other=$($B get instances -o json | jq -r '[.items[] | select(.spec.node == "n2")][0] | "/v1/tenants/\(.metadata.tenant)/instances/\(.metadata.name)"')
node_get n1 "$other"
check "another node's instance is not found for n1 (HTTP $(cat "$T/ng.status"))" [ "$(cat "$T/ng.status")" = 404 ]
node_get n1 /v1/nodes/n2
check "another Node is not found for n1 (HTTP $(cat "$T/ng.status"))" [ "$(cat "$T/ng.status")" = 404 ]
node_get n1 /v1/nodes/n1
check "n1 reads its own Node (HTTP $(cat "$T/ng.status"))" [ "$(cat "$T/ng.status")" = 200 ]
node_get n1 "/v1/watch?kind=Instance&since=1&poll=500"
check "n1's watch carries only its own instances" \
	sh -c "grep -q '\"type\"' '$T/ng.body' && ! grep '\"type\"' '$T/ng.body' | grep -v '\"node\":\"n1\"' | grep -q ."

# -- the decisions are audit evidence
check "placements are audited with their scores" \
	sh -c "cat '$D'/audit/seg-*.log | grep -a ' action=instance.schedule ' | grep -q 'placed'"
check "refusals are audited with the rule" \
	sh -c "cat '$D'/audit/seg-*.log | grep -a ' action=instance.unschedulable ' | grep -qi 'anti-affinity'"
finish

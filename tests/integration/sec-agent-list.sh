#!/bin/bash
# Issue 13, defect 9: a node's agent keeps managing its instances when
# their list is larger than one response may be. 72 instances in two
# tenants, each with a 16 KiB log tail in its status (about 1.2 MiB of
# instances bound to node n1), are more than the agent accepts in one
# answer (1 MiB): the agent pages the list (GET /v1/instances?limit=N
# with the continue token the answer gives) and a workload created
# afterwards still runs. The paging of the list endpoint itself: limit
# and continue are bounded and checked, and the pages add up to the list.
. "$(dirname "$0")/workloads-lib.sh" || exit 99

start_bulwarkd_wl || { fail "bulwarkd did not start"; finish; }
enrol_node || { fail "node n1 enrols with its TPM and is approved"; finish; }
pass "node n1 enrols with its TPM and is approved"
import_busybox || { fail "a signed busybox image is imported"; finish; }
pass "a signed busybox image is imported"

PER=36
chatty() { # TENANT: a workload whose replicas print 28 KB and end
	cat <<EOF
{"kind": "Tenant", "metadata": {"name": "$1"}, "spec": {}}
{"kind": "Quota", "metadata": {"name": "default", "tenant": "$1"},
 "spec": {"instances": 200, "workloads": 10, "cpu_millis": 100000, "memory_mib": 100000}}
{"kind": "Workload", "metadata": {"name": "chatty", "tenant": "$1",
 "labels": {"team": "$1"}},
 "spec": {"type": "container", "image": "$DIGEST", "replicas": $PER,
          "resources": {"cpu_millis": 10, "memory_mib": 8},
          "command": ["seq", "100000", "104000"],
          "restart_policy": "never"}}
EOF
}
{ chatty acme; chatty beta; } >"$T/chatty.json"
check "apply two tenants' chatty workloads ($PER replicas each)" $B apply -f "$T/chatty.json"
done_with_tail() { # TENANT: replicas Succeeded with a 16 KiB log tail
	[ "$(instances "$1" | jq '[.[] | select(.status.phase == "Succeeded" and
		(.status.log_tail | length) > 16000)] | length')" = "$PER" ]
}
check "acme's $PER replicas ran, each with a 16 KiB log tail" wait_for 150 done_with_tail acme
check "beta's $PER replicas ran, each with a 16 KiB log tail" wait_for 150 done_with_tail beta
bytes=$(acurl "$URL/v1/instances" | wc -c)
echo "the instances bound to n1: $bytes bytes in one list"
check "the list is larger than the agent's 1 MiB response limit" [ "$bytes" -gt 1048576 ]
# a page from which objects are left out (here acme's, before beta's
# in the store) is filled from further reads: every page but the last
# holds the limit, and the pages add up to beta's instances
want=$(acurl "$URL/v1/instances?selector=team%3Dbeta" | jq -c '[.items[].metadata.uid] | sort')
cont="" pages=0 got="[]" short=0
while :; do
	acurl "$URL/v1/instances?limit=10&selector=team%3Dbeta${cont:+&continue=$cont}" >"$T/page.json"
	n=$(jq '.items | length' "$T/page.json")
	got=$(jq -c --argjson g "$got" '$g + [.items[].metadata.uid]' "$T/page.json")
	pages=$((pages + 1))
	cont=$(jq -r '.metadata.continue // empty' "$T/page.json")
	[ -n "$cont" ] || break
	[ "$n" = 10 ] || short=$((short + 1))
	[ $pages -lt 100 ] || { fail "paging does not end"; break; }
done
check "a selector's pages of 10 are full but the last ($pages pages)" \
	[ "$short" = 0 ]
check "a selector's pages add up to its list ($(echo "$want" | jq length) of beta's)" \
	[ "$(echo "$got" | jq -c sort)" = "$want" -a "$(echo "$want" | jq length)" = "$PER" ]

echo "== the agent still manages the node: a new workload runs"
cat >"$T/probe.json" <<EOF
{"kind": "Workload", "metadata": {"name": "probe", "tenant": "acme"},
 "spec": {"type": "container", "image": "$DIGEST", "replicas": 1,
          "resources": {"cpu_millis": 100, "memory_mib": 16},
          "command": ["sh", "-c", "echo probe up; exec sleep 600"]}}
EOF
check "apply the probe workload" $B apply -f "$T/probe.json"
check "the probe is Running on n1" wait_for 60 inst_is acme probe-0 \
	'.status.phase == "Running" and .status.node == "n1"'
check "and its output reaches its status" wait_for 30 bash -c \
	"inst acme probe-0 | jq -r .status.log_tail | grep -q 'probe up'"
check "the agent never refused an answer as too large" bash -c \
	"! grep -q 'response larger than' '$T/agent.log'"
check "the agent listed in pages" grep -q 'instances listed in [0-9]* page' "$T/agent.log"
check "deleting a chatty workload removes its instances from the node" \
	$B delete workload chatty -t beta
check "beta's containers are removed by the agent" wait_for 60 bash -c \
	"[ \$(crun --root '$RUN/crun' list -q | grep -c .) -le $((PER + 1)) ]"

echo "== the list endpoint's pages"
all=$(acurl "$URL/v1/instances" | jq -c '[.items[].metadata.uid] | sort')
cont="" pages=0 got="[]"
while :; do
	acurl "$URL/v1/instances?limit=10${cont:+&continue=$cont}" >"$T/page.json"
	n=$(jq '.items | length' "$T/page.json")
	[ "$n" -le 10 ] || { fail "a page of limit 10 held $n items"; break; }
	got=$(jq -c --argjson g "$got" '$g + [.items[].metadata.uid]' "$T/page.json")
	pages=$((pages + 1))
	cont=$(jq -r '.metadata.continue // empty' "$T/page.json")
	[ -n "$cont" ] || break
	[ $pages -lt 100 ] || { fail "paging does not end"; break; }
done
echo "pages of 10: $pages"
check "the pages of 10 add up to the whole list ($pages pages)" \
	[ "$(echo "$got" | jq -c sort)" = "$all" ]
check "more than one page" [ "$pages" -gt 1 ]
for bad in "limit=0" "limit=-1" "limit=100001" "limit=x" "continue=%00" "continue=nope"; do
	code=$(acurl -o "$T/err.json" -w '%{http_code}' "$URL/v1/instances?$bad")
	check "?$bad is refused with a JSON 400" bash -c \
		"[ '$code' = 400 ] && jq -e '.error.code and .error.message' '$T/err.json' >/dev/null"
done
echo "== delete everything: the agent removes it (no network namespace left)"
uids=$( (instances acme; instances beta) | jq -r '.[].metadata.uid')
check "delete acme's workloads" bash -c "$B delete workload chatty -t acme && $B delete workload probe -t acme"
check "every instance is gone from the API" wait_for 60 bash -c \
	"[ \"\$(instances acme | jq length)\" = 0 ]"
check "no crun container left" wait_for 60 bash -c "[ -z \"\$(crun --root '$RUN/crun' list -q)\" ]"
check "the node reports 0 instances" wait_for 30 bash -c \
	"[ \"\$($B get node n1 -o json | jq -r .status.agent.instances)\" = 0 ]"
left=0
for u in $uids; do [ -e "/run/netns/bw-$u" ] && left=$((left + 1)); done
check "no instance's network namespace left ($left)" [ "$left" = 0 ]
check "no mount left" bash -c "! grep -q -e '$NS' -e '$RUN' /proc/self/mountinfo"
check "no sanitizer report from the agent" sh -c "! grep -q -e 'Sanitizer' -e 'runtime error:' '$T/agent.log'"
check "no sanitizer report from bulwarkd" sh -c "! grep -q -e 'Sanitizer' -e 'runtime error:' '$D/bulwarkd.log'"
finish

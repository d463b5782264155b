#!/bin/bash
# A service survives its instances (issue 23, Done-means 2), with real
# crun, nftables and busybox httpd: a client in the tenant's network
# sends requests to the service address in a loop while the 3 replicas
# behind it are killed one at a time (each restarted by the agent and
# ready again before the next); the test counts the failed requests and
# asserts that the longest outage (from a failed request to the next
# answered one) stays within one readiness probe period, and that every
# replica answered again at the end. A client of another tenant never
# reaches the address. The requests run from inside the clients'
# network namespaces.
. "$(dirname "$0")/workloads-lib.sh" || exit 99

WL_GRACE=2
VIP=10.96.0.11
PERIOD=2	# the readiness probe's period_s
wl_start

{ wl_client acme; wl_client beta; } >"$T/clients.json"
check "apply a client in tenants acme and beta" $B apply -f "$T/clients.json"
wl_httpd svc 3 8080 '"probes": {"readiness": {"http": {"port": 8080, "path": "/index.html"},
	  "period_s": '$PERIOD', "failure_threshold": 1}},
	  "service": {"address": "'$VIP'", "port": 80, "target_port": 8080}' >"$T/svc.json"
check "apply svc (3 replicas behind $VIP:80)" $B apply -f "$T/svc.json"
check "3 replicas ready, the clients Running" wait_for 90 bash -c \
	"[ \"\$(instances acme | jq '[.[] | select(.spec.workload == \"svc\" and .status.ready == true)] | length')\" = 3 ] &&
	 [ \"\$(n_running acme client)\" = 1 ] && [ \"\$(n_running beta client)\" = 1 ]"
uid_a=$(inst acme client-0 | jq -r .status.runtime_id)
uid_b=$(inst beta client-0 | jq -r .status.runtime_id)
get() { nsenter --net="/run/netns/bw-$1" curl -sf -m 1 "http://$VIP/" 2>/dev/null; }
check "acme's client reaches the service" wait_for 20 bash -c "$(declare -f get); VIP=$VIP; get $uid_a | grep -q svc-"
check_fails "beta's client does not reach acme's service" get "$uid_b"

# The loop: one request at a time, "TIME ok NAME" or "TIME fail".
loop() {
	local out
	while [ ! -e "$T/loop.stop" ]; do
		if out=$(get "$uid_a"); then
			echo "$(date +%s.%N) ok $out"
		else
			echo "$(date +%s.%N) fail"
		fi
		sleep 0.05
	done >"$T/loop.out"
}
loop & LOOP=$!

echo "== kill the replicas one at a time"
sleep 2
for n in svc-0 svc-1 svc-2; do
	uid=$(inst acme $n | jq -r .status.runtime_id)
	restarts=$(inst acme $n | jq .status.restarts)
	check "kill $n's container" crun --root "$RUN/crun" kill "bw-$uid" KILL
	check "$n restarted and ready again" wait_for 60 inst_is acme $n \
		".status.restarts > $restarts and .status.ready == true"
	sleep 2
done
touch "$T/loop.stop"; wait "$LOOP"

total=$(grep -c . "$T/loop.out")
failed=$(grep -c ' fail$' "$T/loop.out")
# The longest outage: from the first failed request of a run of failures
# to the next answered one.
outage=$(awk '$2 == "fail" && !start { start = $1 }
	$2 == "ok" && start { d = $1 - start; if (d > max) max = d; start = 0 }
	END { printf "%.2f\n", max + 0 }' "$T/loop.out")
echo "requests: $total, failed: $failed, longest outage: $outage s (probe period $PERIOD s)"
awk '{ print $3 }' "$T/loop.out" | sort | uniq -c
check "the loop ran throughout ($total requests)" [ "$total" -ge 50 ]
check "the last request was answered" bash -c "tail -n1 '$T/loop.out' | grep -q ' ok svc-'"
check "no outage longer than one probe period ($outage s <= $PERIOD s)" \
	awk -v o="$outage" -v p="$PERIOD" 'BEGIN { exit !(o <= p) }'
check "every replica answered" bash -c "for n in svc-0 svc-1 svc-2; do grep -q \" ok \$n\$\" '$T/loop.out' || exit 1; done"
check_fails "beta's client still does not reach it" get "$uid_b"

echo "== clean up"
check "delete svc and the clients" bash -c "$B delete workload svc -t acme && $B delete workload client -t acme && $B delete workload client -t beta"
wl_gone acme beta
check "the service rules go with it" wait_for 30 bash -c "! nft list table ip bulwark_svc >/dev/null 2>&1"
wl_finish

#!/bin/bash
# Service addresses end to end (issue 23, Done-means 1 and part of 2):
# a workload's spec.service address (10.96.0.10:80) reaches its ready
# instances only (busybox httpd answering with its hostname behind a
# readiness probe), round robin over the ready ones; a client of
# another tenant does not reach it; bad service specs are refused; the
# rules go with the workload. Clients are containers of the tenants; the
# test sends their requests from inside their network namespaces.
. "$(dirname "$0")/workloads-lib.sh" || exit 99

WL_GRACE=2
VIP=10.96.0.10
wl_start

# svc SERVICE-JSON [NAME]: 2 replicas of busybox httpd on 8080 behind a
# readiness probe of /ready.html, with SERVICE.
svc() {
	wl_httpd "${2:-svc}" 2 8080 '"probes": {"readiness": {"http": {"port": 8080,
	    "path": "/ready.html"}, "period_s": 1, "failure_threshold": 1}},
	  "service": '"$1"
}
{ wl_client acme; wl_client beta; } >"$T/clients.json"
check "apply a client in tenants acme and beta" $B apply -f "$T/clients.json"

echo "== spec.service is validated"
refused() { wl_refused svc "$@"; }
check "an address outside the pool" refused '{"address": "10.88.1.5", "port": 80}' \
	'spec.service.address: must be an IPv4 address of the service pool 10.96.0.0/16'
check "not an address" refused '{"address": "10.96.0.010", "port": 80}' 'spec.service.address'
check "no port" refused "{\"address\": \"$VIP\"}" 'spec.service.port: is required'
check "target_port 0" refused "{\"address\": \"$VIP\", \"port\": 80, \"target_port\": 0}" \
	'spec.service.target_port: must be an integer 1..65535'

svc "{\"address\": \"$VIP\", \"port\": 80, \"target_port\": 8080}" >"$T/svc.json"
check "apply svc (2 replicas, service $VIP:80 -> 8080)" $B apply -f "$T/svc.json"
check "svc-0, svc-1 and the clients Running" wait_for 60 bash -c \
	"[ \"\$(n_running acme svc)\" = 2 ] && [ \"\$(n_running acme client)\" = 1 ] && [ \"\$(n_running beta client)\" = 1 ]"
uid_a=$(inst acme client-0 | jq -r .status.runtime_id)
uid_b=$(inst beta client-0 | jq -r .status.runtime_id)
# get UID: one request to the service from client UID's network.
get() {
	nsenter --net="/run/netns/bw-$1" curl -sf -m 2 "http://$VIP/" 2>/dev/null
}
# answers UID N: who answered N requests, one line each.
answers() {
	local i
	for i in $(seq "$2"); do get "$1" || echo FAILED; done
}
# ready NAME [PREFIX]: serves /ready.html in svc instance NAME (or
# with PREFIX "rm -f " stops), then waits for status.ready to follow.
ready() {
	local want=true
	[ -n "${2:-}" ] && want=false
	check "ready.html ${2:+removed }in $1" wl_ready_file acme "$1" ${2:+"$2"}
	check "$1 reported ready: $want" wait_for 20 inst_is acme "$1" ".status.ready == $want"
}
export -f get
export VIP

check "no instance ready yet" bash -c "instances acme | jq -e '[.[] | select(.spec.workload == \"svc\" and .status.ready == true)] | length == 0' >/dev/null"
check_fails "no ready endpoint: the service refuses" get "$uid_a"
ready svc-0
check "acme's client reaches the service" wait_for 20 bash -c "get $uid_a | grep -q svc-0"
answers "$uid_a" 10 >"$T/a1"
sort "$T/a1" | uniq -c
check "10 of 10 answered by svc-0 (svc-1 is not ready: no traffic)" [ "$(grep -c '^svc-0$' "$T/a1")" = 10 ]
check_fails "beta's client does not reach acme's service" get "$uid_b"
ready svc-1
check "svc-1 answers too" wait_for 20 bash -c "get $uid_a | grep -q svc-1"
answers "$uid_a" 10 >"$T/a2"
sort "$T/a2" | uniq -c
check "10 requests shared by svc-0 and svc-1, none failed" bash -c \
	"[ \$(grep -c '^svc-0\$' '$T/a2') -ge 3 ] && [ \$(grep -c '^svc-1\$' '$T/a2') -ge 3 ] && ! grep -q FAILED '$T/a2'"
ready svc-0 "rm -f "
sleep 2
answers "$uid_a" 10 >"$T/a3"
sort "$T/a3" | uniq -c
check "10 of 10 answered by svc-1 now" [ "$(grep -c '^svc-1$' "$T/a3")" = 10 ]
check_fails "beta's client still does not reach it" get "$uid_b"
nft list table ip bulwark_svc

echo "== clean up"
check "delete svc" $B delete workload svc -t acme
check "the service rules go with it" wait_for 30 bash -c "! nft list table ip bulwark_svc >/dev/null 2>&1"
check "delete the clients" bash -c "$B delete workload client -t acme && $B delete workload client -t beta"
wl_gone acme beta
wl_finish

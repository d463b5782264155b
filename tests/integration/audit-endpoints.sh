#!/bin/bash
# AU-2/AU-12: every API endpoint, and every way of being refused, leaves a
# record in the trail with the right actor, action and outcome. The test
# walks the endpoint list below, then searches the trail as the auditor.
. "$(dirname "$0")/lib.sh" || exit 99

start_bulwarkd "$T/d" || exit 1
ucurl() { # as the auditor
	curl -s --cacert "$PKI/ca.crt" --cert "$PKI/auditor.crt" --key "$PKI/auditor.key" "$@"
}
J='-H Content-Type:application/json'

# method path body -> expected (actor action outcome [object-name])
walk() {
	local who="$1" method="$2" path="$3" body="${4:-}"
	local c=acurl
	[ "$who" = auditor ] && c=ucurl
	if [ "$who" = anonymous ]; then
		curl -sk -o /dev/null --max-time 3 -X "$method" $J ${body:+--data "$body"} "$URL$path"
	else
		$c -o /dev/null --max-time 2 -X "$method" $J ${body:+--data "$body"} "$URL$path"
	fi
}
walk admin GET /healthz
walk admin GET /metrics
walk admin GET /v1/whoami
walk admin GET "/v1/watch?since=0"
walk admin POST /v1/tenants '{"kind":"Tenant","metadata":{"name":"ep1"}}'
walk admin GET /v1/tenants
walk admin GET /v1/tenants/ep1
walk admin PUT /v1/tenants/ep1 '{"kind":"Tenant","metadata":{"name":"ep1"},"spec":{"description":"x"}}'
walk admin POST /v1/tenants/ep1/networks '{"kind":"Network","metadata":{"name":"net1"}}'
walk admin GET /v1/tenants/ep1/networks
walk admin GET /v1/networks
walk admin GET /v1/tenants/ep1/networks/net1
walk admin DELETE /v1/tenants/ep1/networks/net1
walk admin GET /v1/nodes
walk admin GET /v1/audit/records
walk admin GET /v1/nonexistent
walk admin PATCH /v1/tenants/ep1
walk admin POST /v1/tenants/ep1/workloads '{"kind":"Workload","metadata":{"name":"bad"},"spec":{}}'
walk admin GET /v1/tenants/ep1/workloads/ghost
walk auditor GET /v1/audit/records
walk auditor DELETE /v1/tenants/ep1
walk auditor POST /v1/tenants '{"kind":"Tenant","metadata":{"name":"ep2"}}'
walk anonymous GET /v1/tenants
walk anonymous DELETE /v1/tenants/ep1
curl -sk --tls-max 1.1 "$URL/healthz" -o /dev/null
sleep 1.5	# reads and refusals ride with the next group commit

ucurl "$URL/v1/audit/records?limit=10000" >"$T/all.json"
has() { # actor action outcome [name]
	jq -e --arg a "$1" --arg x "$2" --arg o "$3" --arg n "${4:-}" \
		'[.items[] | select(.actor == $a and .action == $x and .outcome == $o and
		  ($n == "" or .object.name == $n))] | length > 0' "$T/all.json" >/dev/null
}
expect() {
	if has "$@"; then pass "record: $*"; else fail "no record: $*"; fi
}
expect admin api.health success
expect admin api.metrics success
expect admin api.whoami success
expect admin api.watch success
expect admin tenant.create success ep1
expect admin tenant.list success
expect admin tenant.get success ep1
expect admin tenant.replace success ep1
expect admin network.create success net1
expect admin network.list success
expect admin network.get success net1
expect admin network.delete success net1
expect admin node.list success
expect admin audit.search denied
expect admin api.request failure
expect admin workload.create failure
expect admin workload.get failure ghost
expect auditor audit.search success
expect auditor tenant.delete denied ep1
expect auditor tenant.create denied
expect anonymous auth.failure denied
expect anonymous tls.handshake_failure denied
check "every record names its 800-53 controls" \
	jq -e '[.items[] | select(.controls == null or .controls == "")] | length == 0' "$T/all.json"
check "every record names its source address" \
	jq -e '[.items[] | select(.actor != "bulwark-audit" and .actor != "bulwarkd" and
		(.source == null or .source == ""))] | length == 0' "$T/all.json"
finish

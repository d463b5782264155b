#!/bin/bash
# Issue 6, Done-means 4: a change that would exceed a tenant quota gets
# 409 quota_exceeded naming the quota, the resource, what is used, what
# was requested and the limit; nothing is stored and the refusal is in
# the audit trail. Replacing a workload counts only the difference.
. "$(dirname "$0")/lib.sh" || exit 99

start_bulwarkd "$T/d" || exit 1
B="$BW/bulwark --config $CONF"
IMG='"image":"sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"'
wl() { # name replicas cpu
	echo "{\"kind\":\"Workload\",\"metadata\":{\"name\":\"$1\",\"tenant\":\"acme\"},
	  \"spec\":{\"type\":\"container\",$IMG,\"replicas\":$2,
	  \"resources\":{\"cpu_millis\":$3,\"memory_mib\":64}}}"
}
echo '{"kind":"Tenant","metadata":{"name":"acme"}}' | $B apply -f - >/dev/null
echo '{"kind":"Quota","metadata":{"name":"default","tenant":"acme"},
  "spec":{"cpu_millis":1000,"instances":5,"networks":1}}' | $B apply -f - >/dev/null
wl web 3 250 >"$T/web.json"
check "a workload within the quota is admitted" $B apply -f "$T/web.json"
code=$(acurl -o "$T/resp" -w '%{http_code}' -X PUT -H 'Content-Type: application/json' \
	--data "$(wl big 2 250)" "$URL/v1/tenants/acme/workloads/big")
check "over the cpu quota: 409 (got $code)" [ "$code" = 409 ]
check "code is quota_exceeded" sh -c "jq -e '.error.code == \"quota_exceeded\"' '$T/resp' >/dev/null"
msg=$(jq -r .error.message "$T/resp")
check "message names quota, resource, used, requested and limit ($msg)" \
	[ "$msg" = "quota acme/default: cpu_millis: used 750, requested 500, limit 1000" ]
$B get workload big -t acme >/dev/null 2>&1; rc=$?
check "nothing was stored (get big: exit 4, got $rc)" [ $rc = 4 ]
code=$(acurl -o "$T/resp" -w '%{http_code}' -X PUT -H 'Content-Type: application/json' \
	--data "$(wl web 4 250)" "$URL/v1/tenants/acme/workloads/web")
check "scaling web to 4 x 250 fits (its own usage is replaced) (got $code)" [ "$code" = 200 ]
code=$(acurl -o "$T/resp" -w '%{http_code}' -X PUT -H 'Content-Type: application/json' \
	--data "$(wl web 6 100)" "$URL/v1/tenants/acme/workloads/web")
check "6 instances exceed the instance quota (got $code)" [ "$code" = 409 ]
check "...and the message says so" \
	sh -c "jq -r .error.message '$T/resp' | grep -qx 'quota acme/default: instances: used 0, requested 6, limit 5'"
for n in n1 n2; do
	code=$(acurl -o "$T/resp" -w '%{http_code}' -X PUT -H 'Content-Type: application/json' \
		--data "{\"kind\":\"Network\",\"metadata\":{\"name\":\"$n\",\"tenant\":\"acme\"}}" \
		"$URL/v1/tenants/acme/networks/$n")
	echo "network $n: $code"
done
check "the second network exceeds the network quota" \
	sh -c "jq -r .error.message '$T/resp' | grep -q 'networks: used 1, requested 1, limit 1'"
check "describe quota shows usage" \
	sh -c "$B describe quota default -t acme | jq -e '.status.used.cpu_millis == 1000 and .status.used.instances == 4' >/dev/null"
sleep 1.5
check "the refusals are in the audit trail with the exact reason" \
	sh -c "$BW/bulwark --config '$AUDITOR' audit search --outcome failure -o json |
	       jq -e '[.items[] | select(.reason | test(\"quota acme/default: cpu_millis: used 750, requested 500, limit 1000\"))] | length >= 1' >/dev/null"
finish

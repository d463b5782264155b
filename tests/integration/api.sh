#!/bin/bash
# The HTTPS API end to end: mutual TLS and the crypto policy, the CLI's
# apply/get/watch/delete, precise 4xx answers to malformed input that
# change nothing, separation of duties, and a clean SIGTERM.
. "$(dirname "$0")/lib.sh" || exit 99
check_fails "jq -e fails on empty input (tests/integration/bin/jq)" sh -c "printf %s \"\" | jq -e . 2>/dev/null"

start_bulwarkd "$T/d" || { echo "bulwarkd did not start"; exit 1; }
B="$BW/bulwark --config $CONF"

# -- files made on first start
check "admin key is 0600" [ "$(stat -c %a "$T/d/pki/admin.key")" = 600 ]
check "auditor.conf exists" [ -f "$T/d/auditor.conf" ]

# -- TLS policy and authentication
code=$(curl -sk -o /dev/null -w '%{http_code}' "$URL/healthz")
check "healthz answers without a client certificate" [ "$code" = 200 ]
code=$(curl -sk -o /dev/null -w '%{http_code}' -X POST --data x "$URL/healthz")
check "healthz takes no other method than GET (POST: $code)" [ "$code" = 405 ]
code=$(curl -sk -o /dev/null -w '%{http_code}' -I "$URL/healthz")
check "healthz answers HEAD ($code)" [ "$code" = 200 ]
check "without a certificate healthz says only up or down" \
	sh -c "curl -sk '$URL/healthz' | jq -e 'keys == [\"status\"]' >/dev/null"
# health (with a certificate) says whether records reach syslog: true
# exactly when a socket is at /dev/log
acurl "$URL/healthz" >"$T/health.json"
if [ -S /dev/log ]; then want=true; else want=false; fi
check "healthz audit.syslog is $want" \
	[ "$(jq -r .audit.syslog "$T/health.json")" = "$want" ]
check "healthz audit.libaudit is a boolean" \
	jq -e '.audit.libaudit | type == "boolean"' "$T/health.json"
for p in /v1/nodes /v1/tenants /v1/workloads /v1/watch /v1/whoami /metrics \
	/v1/tenants/acme/workloads /v1/audit/records; do
	code=$(curl -sk -o /dev/null -w '%{http_code}' --max-time 5 "$URL$p")
	check "no client certificate: $p gets 401 (got $code)" [ "$code" = 401 ]
done
check_fails "TLS 1.1 handshake fails" curl -sk --tlsv1.1 --tls-max 1.1 "$URL/healthz" -o /dev/null
check_fails "ECDHE-RSA-CHACHA20-POLY1305 handshake fails" \
	curl -sk --tls-max 1.2 --ciphers ECDHE-RSA-CHACHA20-POLY1305 "$URL/healthz" -o /dev/null
check_fails "TLS_CHACHA20_POLY1305_SHA256 handshake fails" \
	curl -sk --tls13-ciphers TLS_CHACHA20_POLY1305_SHA256 "$URL/healthz" -o /dev/null
check "TLS 1.3 with AES-256-GCM works" \
	curl -sk --tlsv1.3 --tls13-ciphers TLS_AES_256_GCM_SHA384 "$URL/healthz" -o /dev/null
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
	-subj "/CN=admin/O=system/OU=system-admin" -keyout "$T/rogue.key" \
	-out "$T/rogue.crt" 2>/dev/null
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$PKI/ca.crt" --cert "$T/rogue.crt" \
	--key "$T/rogue.key" "$URL/v1/nodes")
check "a certificate from another CA is refused (got $code)" \
	sh -c "[ '$code' = 401 ] || [ '$code' = 000 ]"

# -- apply, get, watch
$B watch -o json >"$T/watch.out" 2>"$T/watch.err" &
WATCH_PID=$!
BW_PIDS="$BW_PIDS $WATCH_PID"
sleep 0.3
check "apply tenant and workload" $B apply -f "$top_srcdir/examples/tenant.json"
$B get workloads -o json >"$T/wl.json"
check "get workloads -o json shows web with a revision" \
	[ "$(jq -r '.items[0].metadata.name' "$T/wl.json")" = web ]
rev=$(jq -r '.items[0].metadata.revision' "$T/wl.json")
check "revision is a positive integer ($rev)" [ "$rev" -gt 0 ]
check "table output names the workload" sh -c "$B get workloads | grep -q '^web '"
check "get one workload needs -t" sh -c "! $B get workload web 2>/dev/null"
check "describe workload" sh -c "$B describe workload web -t acme | jq -e '.spec.replicas == 3' >/dev/null"
# replace with a stale revision: 409 conflict, exit 5
jq '.[1] | .metadata.revision = 1 | .spec.replicas = 5' "$top_srcdir/examples/tenant.json" >"$T/stale.json"
$B apply -f "$T/stale.json" 2>"$T/stale.err"; rc=$?
check "stale revision gives conflict (exit 5, got $rc)" [ $rc = 5 ]
check "conflict message names metadata.revision" grep -q "metadata.revision" "$T/stale.err"
jq ".[1] | .metadata.revision = $rev | .spec.replicas = 4" "$top_srcdir/examples/tenant.json" >"$T/fresh.json"
check "replace with the current revision works" $B apply -f "$T/fresh.json"
check "replace kept the uid" [ "$(jq -r '.items[0].metadata.uid' "$T/wl.json")" = \
	"$($B describe workload web -t acme | jq -r .metadata.uid)" ]
sleep 0.5
kill "$WATCH_PID" 2>/dev/null; wait "$WATCH_PID" 2>/dev/null
check "watch printed the tenant's creation" grep -q '"type":"PUT".*"kind":"Tenant".*"name":"acme"' "$T/watch.out"
check "watch printed the workload's replacement" \
	sh -c "grep '\"kind\":\"Workload\"' '$T/watch.out' | grep -q '\"replicas\":4'"
replayed() {
	jq -s '[.[] | select(.type=="PUT" or .type=="DELETE") | .revision] |
		. == sort and length >= 3' "$T/watch0.out" 2>/dev/null | grep -q true
}
$B watch --since 0 -o json >"$T/watch0.out" 2>&1 &
# polled, not a fixed pause: a loaded machine may take longer to connect
W0=$!; BW_PIDS="$BW_PIDS $W0"; wait_for 20 replayed; kill $W0; wait $W0 2>/dev/null
check "watch --since 0 replays history in revision order" replayed

# an unchanged PUT (the stored object as it is) makes no revision,
# answers the stored one, and is audited (docs/api.md)
wl_rev() { acurl "$URL/v1/tenants/acme/workloads/web" | jq .metadata.revision; }
acurl "$URL/v1/tenants/acme/workloads/web" | jq -c 'del(.metadata.revision)' >"$T/same.json"
before=$(wl_rev)
code=$(acurl -o "$T/same.out" -w '%{http_code}' -X PUT -H 'Content-Type: application/json' \
	--data-binary @"$T/same.json" "$URL/v1/tenants/acme/workloads/web")
check "an unchanged PUT answers 200 (got $code)" [ "$code" = 200 ]
check "an unchanged PUT makes no revision" [ "$(wl_rev)" = "$before" ]
check "an unchanged PUT answers the stored revision" [ "$(jq .metadata.revision "$T/same.out")" = "$before" ]
unchanged_audited() {
	for _ in $(seq 50); do
		cat "$T"/d/audit/seg-*.log | grep -a ' action=workload.replace ' |
			grep -aq ' reason=unchanged' && return 0
		sleep 0.1
	done
	return 1
}
check "an unchanged PUT is audited" unchanged_audited
jq -c '.metadata.labels.touched = "yes"' "$T/same.json" >"$T/changed.json"
acurl -o /dev/null -X PUT -H 'Content-Type: application/json' \
	--data-binary @"$T/changed.json" "$URL/v1/tenants/acme/workloads/web"
check "a PUT that changes a label makes a revision" [ "$(wl_rev)" -gt "$before" ]

# -- long poll (?poll=MS): the answer ends after the first batch of
# changes after since=, or after MS with none; both on one kept-alive
# connection (curl reuses it for the second URL)
rev=$(revision)
s0=$EPOCHREALTIME
acurl -o "$T/poll-idle.out" -w '%{http_code} %{num_connects}\n' \
	"$URL/v1/watch?kind=Tenant&since=$rev&poll=300" \
	-o "$T/poll-idle2.out" "$URL/v1/watch?kind=Tenant&since=$rev&poll=300" >"$T/poll-codes"
s1=$EPOCHREALTIME
check "an idle long poll answers 200 twice" [ "$(awk '{print $1}' "$T/poll-codes" | tr '\n' ' ')" = "200 200 " ]
check "the second long poll reused the connection" [ "$(sed -n 2p "$T/poll-codes" | awk '{print $2}')" = 0 ]
check "an idle long poll ends empty after its time" [ ! -s "$T/poll-idle.out" ]
check "two 300 ms polls take 0.6..5 s" bash -c "t=\$(echo '$s1 - $s0' | bc); [ \$(echo \"\$t >= 0.6 && \$t < 5\" | bc) = 1 ]"
acurl -o "$T/poll-ev.out" "$URL/v1/watch?kind=Tenant&since=$rev&poll=30000" &
PP=$!; BW_PIDS="$BW_PIDS $PP"
sleep 0.3
s0=$EPOCHREALTIME
echo '{"kind":"Tenant","metadata":{"name":"polled"},"spec":{}}' | $B apply -f - >/dev/null
wait $PP
s1=$EPOCHREALTIME
check "a long poll ends with the change it waited for" grep -q '"name":"polled"' "$T/poll-ev.out"
check "... at once, not after its 30 s" bash -c "[ \$(echo '$s1 - $s0 < 5' | bc) = 1 ]"
check "... with that one line" [ "$(grep -c . "$T/poll-ev.out")" = 1 ]
check "poll=0 is refused" [ "$(acurl -o /dev/null -w '%{http_code}' "$URL/v1/watch?poll=0")" = 400 ]
check "poll=60001 is refused" [ "$(acurl -o /dev/null -w '%{http_code}' "$URL/v1/watch?poll=60001")" = 400 ]
$B delete tenant polled >/dev/null

# -- global options come before any command, node commands included
check "bulwark --config F node bootstrap NAME works" \
	$B node bootstrap late-node -o "$T/late.json"
check "... and writes the credential" jq -e .certificate "$T/late.json"

# -- malformed input: precise 4xx, nothing changes
before=$(revision)
post() { # body-file expected-code expected-message-substring [content-type]
	local code
	code=$(acurl -o "$T/resp" -w '%{http_code}' -X POST \
		-H "Content-Type: ${4:-application/json}" \
		--data-binary @"$1" "$URL/v1/tenants/acme/workloads")
	check "$(basename "$1"): $2 (got $code)" [ "$code" = "$2" ]
	if [ -n "$3" ]; then
		if jq -r .error.message "$T/resp" | grep -qF -- "$3"; then
			pass "$(basename "$1"): message has '$3'"
		else
			fail "$(basename "$1"): message has '$3' (got $(cat "$T/resp"))"
		fi
	fi
}
D='"image":"sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"'
printf '{"kind":"Workload","metadata":{"name":"x"' >"$T/badjson"
post "$T/badjson" 400 "invalid JSON at byte"
printf '{"kind":"Workload","metadata":{"name":"x"},"spec":{"type":"container",%s,"replicas":"three","resources":{"cpu_millis":1,"memory_mib":64}}}' "$D" >"$T/wrongtype"
post "$T/wrongtype" 400 "spec.replicas: must be an integer 0..1000"
printf '{"kind":"Workload","metadata":{"name":"x"},"spec":{"type":"container",%s,"replicas":1,"resources":{"cpu_millis":1,"memory_mib":64},"colour":"red"}}' "$D" >"$T/unknown"
post "$T/unknown" 400 "spec.colour: unknown field"
printf '{"kind":"Workload","metadata":{"name":"x"},"spec":{"type":"container",%s,"replicas":1,"resources":{"cpu_millis":1,"memory_mib":64},"command":["\xff\xfe"]}}' "$D" >"$T/badutf8"
post "$T/badutf8" 400 "invalid JSON"
head -c 10000 /dev/zero | tr '\0' '[' >"$T/deep"
post "$T/deep" 400 "nested deeper than"
head -c 10485760 /dev/zero | tr '\0' ' ' >"$T/big"
post "$T/big" 413 ""
printf '{}' >"$T/plain"
post "$T/plain" 415 "Content-Type must be application/json" text/plain
printf '{"kind":"Tenant","metadata":{"name":"x"}}' >"$T/wrongkind"
post "$T/wrongkind" 400 "does not match the path's kind"
check "no malformed request changed the store" [ "$(revision)" = "$before" ]

# -- roles
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$PKI/ca.crt" --cert "$PKI/auditor.crt" \
	--key "$PKI/auditor.key" -X DELETE "$URL/v1/tenants/acme/workloads/web")
check "the auditor cannot delete (got $code)" [ "$code" = 403 ]
code=$(acurl -o /dev/null -w '%{http_code}' "$URL/v1/audit/records")
check "the admin cannot read the audit trail (got $code)" [ "$code" = 403 ]
check "whoami names the admin" sh -c "$B whoami | jq -e '.principal==\"admin\" and .role==\"system-admin\"' >/dev/null"
code=$(acurl -o /dev/null -w '%{http_code}' "$URL/metrics")
check "metrics served to the admin" [ "$code" = 200 ]
check "metrics count TLS failures" sh -c "acurl() { curl -s --cacert '$PKI/ca.crt' --cert '$PKI/admin.crt' --key '$PKI/admin.key' \"\$@\"; }; acurl '$URL/metrics' | grep -Eq '^bulwark_tls_handshake_failures_total [1-9]'"
# -- ?fields=: a list's objects projected to the paths asked
acurl "$URL/v1/tenants/acme/workloads?fields=metadata.name,spec.replicas,status.none" >"$T/proj.json"
check "fields= keeps only the paths asked" jq -e \
	'.kind == "WorkloadList" and .items == [{"metadata":{"name":"web"},"spec":{"replicas":4}}]' "$T/proj.json"
acurl "$URL/v1/workloads?limit=1&fields=metadata.name" >"$T/proj1.json"
check "fields= with limit= pages" jq -e '(.items | length) == 1 and .items[0] == {"metadata":{"name":"web"}}' "$T/proj1.json"
for bad in 'metadata..name' 'a%20b' '' 'a,,b'; do
	code=$(acurl -o "$T/proj.err" -w '%{http_code}' "$URL/v1/workloads?fields=$bad")
	check "fields=$bad is a 400 with a JSON error" sh -c \
		"[ $code = 400 ] && jq -e '.error.message | test(\"fields\")' '$T/proj.err' >/dev/null"
done

# -- delete
check "delete workload" $B delete workload web -t acme
$B get workload web -t acme >/dev/null 2>&1; rc=$?
check "deleted workload is gone (exit 4, got $rc)" [ $rc = 4 ]

# -- audit trail recorded the session and verifies
stop_bulwarkd; rc=$?
check "SIGTERM stops bulwarkd cleanly (exit $rc)" [ $rc = 0 ]
BW_PIDS=""
check "audit trail verifies" $BW/bulwark audit verify "$T/d/audit"
check "audit has the workload creation" grep -rq "workload.create" "$T/d/audit"
check "audit has a denied request" grep -rq "denied" "$T/d/audit"
check "audit has TLS handshake failures" grep -rq "tls.handshake_failure" "$T/d/audit"
finish

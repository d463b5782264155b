#!/bin/bash
# Issue 13, defect 11: every tenant has a default quota when it has no
# Quota object (bulwarkd --default-quota, docs/workloads.md), and the
# instances a workload asks for are always counted.
. "$(dirname "$0")/lib.sh" || exit 99

start_bulwarkd "$T/d" || exit 1
B="$BW/bulwark --config $CONF"
IMG='"image":"sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"'
wl() { # tenant name replicas
	echo "{\"kind\":\"Workload\",\"metadata\":{\"name\":\"$2\",\"tenant\":\"$1\"},
	  \"spec\":{\"type\":\"container\",$IMG,\"replicas\":$3,
	  \"resources\":{\"cpu_millis\":10,\"memory_mib\":16}}}"
}
put_wl() { # tenant name replicas -> status
	acurl -o "$T/resp" -w '%{http_code}' -X PUT -H 'Content-Type: application/json' \
		--data "$(wl "$@")" "$URL/v1/tenants/$1/workloads/$2"
}
for t in acme beta; do
	echo "{\"kind\":\"Tenant\",\"metadata\":{\"name\":\"$t\"}}" | $B apply -f - >/dev/null
done
code=$(put_wl acme big 1000)
check "1,000 instances without a Quota object: 409 (got $code)" [ "$code" = 409 ]
check "...naming the default quota ($(jq -r .error.message "$T/resp"))" \
	sh -c "jq -r .error.message '$T/resp' | grep -qx 'default quota of acme (no Quota object limits it): instances: used 0, requested 1000, limit 100'"
ok=0
for i in $(seq 1 12); do
	[ "$(put_wl acme w$i 10)" = 201 ] && ok=$((ok + 1))
done
check "ten workloads of 10 fill the default 100 instances (admitted $ok of 12)" [ $ok = 10 ]
# A Quota object that does not name instances still leaves them counted.
echo '{"kind":"Quota","metadata":{"name":"q","tenant":"beta"},"spec":{"cpu_millis":100000}}' |
	$B apply -f - >/dev/null
code=$(put_wl beta big 500)
check "a Quota without an instances limit: the default still counts (got $code)" [ "$code" = 409 ]
# A Quota object that names instances replaces the default for them.
echo '{"kind":"Quota","metadata":{"name":"q","tenant":"beta"},"spec":{"instances":600}}' |
	$B apply -f - >/dev/null
code=$(put_wl beta big 500)
check "a Quota with instances 600 admits 500 (got $code)" [ "$code" = 201 ]
stop_bulwarkd

# The default is configurable.
rm -f "$T/d/admin.conf"
"$BW/bulwarkd" --data-dir "$T/d" --listen 127.0.0.1:0 --default-quota instances=3,networks=1 \
	>>"$T/d/bulwarkd.log" 2>&1 &
BWD_PID=$!
BW_PIDS="$BW_PIDS $BWD_PID"
up=0
for _ in $(seq 600); do
	if [ -f "$T/d/admin.conf" ]; then
		URL="https://127.0.0.1:$(jq -r .server "$T/d/admin.conf" | sed 's/.*://')"
		curl -sk "$URL/healthz" >/dev/null 2>&1 && { up=1; break; }
	fi
	kill -0 "$BWD_PID" 2>/dev/null || break
	sleep 0.05
done
check "bulwarkd restarted with --default-quota" [ $up = 1 ]
echo '{"kind":"Tenant","metadata":{"name":"gamma"}}' | $B apply -f - >/dev/null
code=$(put_wl gamma four 4)
check "--default-quota instances=3: 4 refused (got $code)" [ "$code" = 409 ]
code=$(put_wl gamma three 3)
check "--default-quota instances=3: 3 admitted (got $code)" [ "$code" = 201 ]
check_fails "--default-quota with an unknown resource is refused" \
	timeout 20 "$BW/bulwarkd" --data-dir "$T/x" --listen 127.0.0.1:0 --default-quota gpus=1
finish

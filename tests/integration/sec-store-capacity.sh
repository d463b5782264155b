#!/bin/bash
# Issue 13, defect 4 (Done-means 3): the store's change log is compacted
# automatically and the store reports and guards its capacity.
#  1. 5,000 replaces of one 64 KiB Workload through the running daemon
#     leave data.mdb under 64 MiB (the file size and the used bytes from
#     /healthz are printed); health, metrics and the compliance facts
#     report the store's capacity and the compacted revision; a watch
#     from a compacted revision gets 410 with a JSON error.
#  2. With a small map configured in bulwarkd.conf, filling the store
#     makes the compliance scan's sc-store-capacity not satisfied once
#     it is nearly full; at its high-water mark writes get 507
#     insufficient_storage (JSON) before LMDB's map is full, /healthz
#     says "degraded", deletes still work, and once they freed space
#     writes are accepted again.
. "$(dirname "$0")/lib.sh" || exit 99

LG="$BW/bench/bw-loadgen"
IMG='"image":"sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"'
PAD=$(head -c 4000 /dev/zero | tr '\0' x)
# big NAME: a Workload of ~256 KiB (64 command strings of 4,000 bytes)
big() {
	local cmd i
	cmd="\"$PAD\""
	for i in $(seq 63); do cmd="$cmd,\"$PAD\""; done
	echo "{\"kind\":\"Workload\",\"metadata\":{\"name\":\"$1\",\"tenant\":\"acme\"},
	  \"spec\":{\"type\":\"container\",$IMG,\"replicas\":0,
	  \"resources\":{\"cpu_millis\":100,\"memory_mib\":64},\"command\":[$cmd]}}"
}
jqt() { jq -e "$@" >/dev/null; }
# store_verdict: the compliance scan's sc-store-capacity verdict
store_verdict() {
	acurl -X POST -H 'Content-Type: application/json' --data '{"baseline":"moderate"}' \
		"$URL/v1/compliance/scans" >"$T/scan.json"
	jq -r '.results[] | select(.check == "sc-store-capacity") |
		"\(.verdict) \([.observations[] | "\(.subject)=\(.found)"] | join(" "))"' "$T/scan.json"
}
setup_tenant() {
	local B="$BW/bulwark --config $CONF"
	echo '{"kind":"Tenant","metadata":{"name":"acme"}}' | $B apply -f - >/dev/null &&
	echo '{"kind":"Quota","metadata":{"name":"default","tenant":"acme"},
	  "spec":{"cpu_millis":100000000,"memory_mib":1000000000,"instances":100000,
	  "workloads":100000,"networks":10000}}' | $B apply -f - >/dev/null
}

# ---- 1. bounded history ----
start_bulwarkd "$T/a" || exit 1
check "tenant and quota created" setup_tenant
t0=$(date +%s)
"$LG" --config "$CONF" --rewrite acme/big --pad 65536 --ops 5000 >"$T/lg.json" 2>"$T/lg.err"
rc=$?
echo "bw-loadgen: $(cat "$T/lg.json") ($(($(date +%s) - t0)) s)"
check "5,000 replaces of one 64 KiB workload acknowledged (exit $rc)" \
	sh -c "[ $rc = 0 ] && jq -e '.acked == 5000' '$T/lg.json' >/dev/null"
acurl "$URL/healthz" >"$T/h.json"
size=$(stat -c %s "$T/a/store/data.mdb")
echo "store: data.mdb $size bytes ($((size / 1048576)) MiB), $(jq .store.used_bytes "$T/h.json") bytes in use ($(($(jq .store.used_bytes "$T/h.json") / 4096)) pages of 4 KiB); health store: $(jq -c .store "$T/h.json")"
check "data.mdb under 64 MiB after 5,000 rewrites ($size bytes)" [ "$size" -lt $((64 << 20)) ]
check "health reports used and map bytes, percent and the compacted revision" \
	jqt '.store.used_bytes > 0 and .store.used_bytes < 67108864 and
	  .store.map_bytes == 1073741824 and (.store.used_percent | type) == "number" and
	  .store.compacted_revision > 4000 and .store.writable == true' "$T/h.json"
check "health says ok" jqt '.status == "ok"' "$T/h.json"
acurl "$URL/metrics" >"$T/metrics"
check "metrics report the store's used and map bytes and compacted revision" \
	sh -c "grep -q '^bulwark_store_used_bytes [1-9]' '$T/metrics' &&
	  grep -q '^bulwark_store_map_bytes 1073741824$' '$T/metrics' &&
	  grep -q '^bulwark_store_compacted_revision [1-9]' '$T/metrics' &&
	  grep -q '^bulwark_store_writable 1$' '$T/metrics'"
code=$(acurl -o "$T/w.json" -w '%{http_code}' --max-time 10 "$URL/v1/watch?since=1")
check "a watch from a compacted revision: 410 (got $code)" [ "$code" = 410 ]
check "...with a JSON error saying to list again" \
	jqt '.error.code == "compacted" and (.error.message | test("list again"))' "$T/w.json"
v=$(store_verdict)
check "compliance scan: sc-store-capacity satisfied ($v)" [ "${v%% *}" = satisfied ]
code=$(acurl -o /dev/null -w '%{http_code}' -X DELETE "$URL/v1/tenants/acme/workloads/big")
check "the workload is deleted (got $code)" [ "$code" = 200 ]
stop_bulwarkd

# ---- 2. high-water mark ----
mkdir -p "$T/b"
echo '{"store": {"map_size_mib": 16, "high_water_percent": 85}}' >"$T/b/bulwarkd.conf"
start_bulwarkd "$T/b" || exit 1
check "tenant and quota created (small map)" setup_tenant
h=$(acurl "$URL/healthz")
check "health shows the configured map and high-water mark ($(echo "$h" | jq -c .store))" \
	sh -c "echo '$h' | jq -e '.store.map_bytes == 16777216 and .store.high_water_percent == 85' >/dev/null"
code=""; n=0; scanned=""
while [ $n -lt 100 ]; do
	n=$((n + 1))
	code=$(big "w$n" | acurl -o "$T/resp" -w '%{http_code}' -X PUT \
		-H 'Content-Type: application/json' --data-binary @- \
		"$URL/v1/tenants/acme/workloads/w$n")
	[ "$code" = 201 ] || break
	# nearly full (past the scan's 75%, before the mark): the
	# compliance scan says so while it can still record its result
	if [ -z "$scanned" ] && acurl "$URL/healthz" | jq -e '.store.used_percent >= 77' >/dev/null; then
		scanned=$(store_verdict)
		check "compliance scan when nearly full: sc-store-capacity not satisfied ($scanned)" \
			[ "${scanned%% *}" = not-satisfied ]
	fi
done
check "the scan ran before the mark" [ -n "$scanned" ]
echo "write $n answered $code: $(cat "$T/resp")"
check "filling the store ends with 507, not 500 (write $n: $code)" [ "$code" = 507 ]
check "...with a JSON error insufficient_storage" \
	jqt '.error.code == "insufficient_storage" and (.error.message | length) > 0' "$T/resp"
check "nothing reported the map full (no ENOSPC in the log)" \
	sh -c "! grep -q 'No space left' '$T/b/bulwarkd.log'"
check "the log says the store is full" grep -q 'state store full' "$T/b/bulwarkd.log"
acurl "$URL/healthz" >"$T/h2.json"
echo "health at the mark: $(jq -c '{status, store}' "$T/h2.json")"
check "health says degraded and the store not writable" \
	jqt '.status == "degraded" and .store.writable == false and
	  .store.used_percent >= 85' "$T/h2.json"
acurl "$URL/metrics" >"$T/metrics2"
check "health without a certificate says degraded too" \
	sh -c "curl -sk '$URL/healthz' | jq -e '.status == \"degraded\"' >/dev/null"
check "metrics say not writable" grep -q '^bulwark_store_writable 0$' "$T/metrics2"

deleted=0
for i in $(seq 1 $((n / 2))); do
	code=$(acurl -o /dev/null -w '%{http_code}' -X DELETE "$URL/v1/tenants/acme/workloads/w$i")
	[ "$code" = 200 ] && deleted=$((deleted + 1))
done
check "deletes still work at the mark ($deleted of $((n / 2)))" [ "$deleted" = $((n / 2)) ]
ok=0
for i in $(seq 20); do
	code=$(big "again$i" | acurl -o "$T/resp" -w '%{http_code}' -X PUT \
		-H 'Content-Type: application/json' --data-binary @- \
		"$URL/v1/tenants/acme/workloads/again$i")
	[ "$code" = 201 ] && { ok=1; break; }
	sleep 0.5
done
check "after the deletes writes are accepted again (last: $code)" [ $ok = 1 ]
check "health says ok again" sh -c "curl -sk '$URL/healthz' | jq -e '.status == \"ok\"' >/dev/null"
finish

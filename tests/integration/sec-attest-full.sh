#!/bin/bash
# Outside review of 2026-12, finding 1: a node whose quote fails must not
# stay Trusted because the store cannot take the verdict.
#  A. With the store past its high-water mark (users get 507), a bad
#     quote still turns the node Untrusted (403, not 507) and its
#     certificate then reaches /v1/attest/ only; tenant and admin writes
#     still get 507; a good re-attestation (the agent) makes it Trusted
#     again: attestation verdicts use the store's reserve for system
#     writes (docs/architecture.md, "Store").
#  B. When no write at all gets through (the audit trail's filesystem
#     full, AU-5), a node that stopped re-attesting is refused once its
#     last good quote is older than the stale limit although its stored
#     state still says Trusted; /v1/attest/ stays open to it. A node
#     re-attesting on time is never refused meanwhile.
. "$(dirname "$0")/lib.sh" || exit 99
. "$(dirname "$0")/identity-lib.sh" || exit 99

if [ "$(id -u)" -ne 0 ]; then
	echo "SKIP: needs root to mount a small tmpfs for the trail"
	exit 77
fi

wait_for() { # seconds command...
	local s=$1 i; shift
	for i in $(seq $((s * 10))); do "$@" && return 0; sleep 0.1; done
	return 1
}
attestation() { acurl "$URL/v1/nodes/$1" | jq -r .status.attestation; }
is_state() { [ "$(attestation "$1")" = "$2" ]; }
has_pending() { [ "$(acurl "$URL/v1/nodes/$1" | jq -r '.status.pending.pcrs["7"]')" != null ]; }
# node_req METHOD PATH [BODY]: a request with n1's TPM-held key (its
# agent stopped: swtpm serves one client); status in $T/nr.status
node_req() {
	"$BW/bulwark-agent" request --tpm "$TCTI" --state-dir "$T/state-$D" "$@" \
		>"$T/nr.out" 2>"$T/nr.err"
	sed -n 1p "$T/nr.out" >"$T/nr.status"
	sed 1d "$T/nr.out" >"$T/nr.body"
}
node_code() { cat "$T/nr.status"; }
node_refused() { node_req GET /v1/nodes/n1; [ "$(node_code)" = 401 ]; }
start_agent() {
	"$BW/bulwark-agent" --tpm "$TCTI" --state-dir "$T/state-$D" --server "$URL" \
		--bootstrap "$T/boot-$D.json" --wait 60 >>"$T/agent-$D.log" 2>&1 &
	AGENT=$!
	BW_PIDS="$BW_PIDS $AGENT"
}
stop_agent() { kill -TERM $AGENT; wait $AGENT; }
# enrol D: bulwarkd in $T/D (its bulwarkd.conf written), node n1 with
# its own swtpm enrolled, approved and Trusted; the agent left running
enrol() {
	D=$1
	start_bulwarkd "$T/$D" || { fail "bulwarkd did not start"; finish; }
	start_swtpm "$T/tpm-$D" || { fail "swtpm"; finish; }
	TCTI=$SWTPM_TCTI
	acurl -o "$T/boot-$D.json" -X POST -H 'Content-Type: application/json' \
		-d '{"node":"n1"}' "$URL/v1/enrol/bootstrap"
	start_agent
	wait_for 60 has_pending n1 || fail "n1 did not quote"
	acurl -o /dev/null -X POST -H 'Content-Type: application/json' \
		-d '{"node":"n1"}' "$URL/v1/enrol/approve"
	if wait_for 60 is_state n1 Trusted; then
		pass "n1 Trusted"
	else
		fail "n1 Trusted (agent log follows)"
		tail -20 "$T/agent-$D.log" >&2
		finish
	fi
}

# ---- A. the store past its high-water mark ----
mkdir -p "$T/a"
cat >"$T/a/bulwarkd.conf" <<'CONF'
{"attestation": {"interval_seconds": 1, "stale_after_seconds": 900,
                 "node_certificate_seconds": 3600},
 "store": {"map_size_mib": 16, "high_water_percent": 85}}
CONF
enrol a
stop_agent
B="$BW/bulwark --config $CONF"
echo '{"kind":"Tenant","metadata":{"name":"acme"}}' | $B apply -f - >/dev/null
echo '{"kind":"Quota","metadata":{"name":"default","tenant":"acme"},
  "spec":{"cpu_millis":100000000,"memory_mib":1000000000,"instances":100000,
  "workloads":100000,"networks":10000}}' | $B apply -f - >/dev/null
PAD=$(head -c 4000 /dev/zero | tr '\0' x)
IMG='"image":"sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"'
big() { # NAME: a Workload of ~256 KiB
	local cmd i
	cmd="\"$PAD\""
	for i in $(seq 63); do cmd="$cmd,\"$PAD\""; done
	echo "{\"kind\":\"Workload\",\"metadata\":{\"name\":\"$1\",\"tenant\":\"acme\"},
	  \"spec\":{\"type\":\"container\",$IMG,\"replicas\":0,
	  \"resources\":{\"cpu_millis\":100,\"memory_mib\":64},\"command\":[$cmd]}}"
}
put_big() {
	big "$1" | acurl -o "$T/resp" -w '%{http_code}' -X PUT \
		-H 'Content-Type: application/json' --data-binary @- \
		"$URL/v1/tenants/acme/workloads/$1"
}
k=0; code=""
while [ $k -lt 100 ]; do
	k=$((k + 1))
	code=$(put_big "w$k")
	[ "$code" = 201 ] || break
done
echo "filling: write $k answered $code; health: $(acurl "$URL/healthz" | jq -c .store)"
check "the store is past its high-water mark (write $k: $code)" [ "$code" = 507 ]
node_req POST /v1/attest/quote '{"nonce":"AAAA","quote":"AAAA"}'
echo "n1 sends a bad quote at the high-water mark -> HTTP $(node_code): $(head -c 300 "$T/nr.body")"
check "the bad quote is answered 403, not 507 (got $(node_code))" [ "$(node_code)" = 403 ]
att=$(attestation n1)
echo "n1's Node attestation afterwards: $att"
check "n1 is Untrusted after its bad quote (got $att)" [ "$att" = Untrusted ]
node_req GET /v1/nodes/n1
echo "n1 GET /v1/nodes/n1 -> HTTP $(node_code)"
check "n1 (failed its quote) is refused outside /v1/attest/ (got $(node_code))" \
	[ "$(node_code)" = 401 ]
code=$(put_big "after")
check "a tenant's write still gets 507 (got $code)" [ "$code" = 507 ]
code=$(acurl -o /dev/null -w '%{http_code}' -X PUT -H 'Content-Type: application/json' \
	--data '{"kind":"Tenant","metadata":{"name":"late"}}' "$URL/v1/tenants/late")
check "an admin's write still gets 507 (got $code)" [ "$code" = 507 ]
acurl "$URL/healthz" >"$T/h.json"
check "health shows the system reserve above the high-water mark ($(jq -c .store "$T/h.json"))" \
	jq -e '.store.reserved_percent > 85 and .store.reserved_percent <= 100 and
	  .store.writable == false' "$T/h.json" >/dev/null
start_agent
if wait_for 60 is_state n1 Trusted; then
	pass "n1 re-attests at the high-water mark and is Trusted again"
else
	fail "n1 Trusted again at the high-water mark (agent log follows)"
	tail -20 "$T/agent-a.log" >&2
fi
stop_agent
node_req GET /v1/nodes/n1
check "n1 Trusted again is served (got $(node_code))" [ "$(node_code)" = 200 ]
stop_swtpm "$T/tpm-a"
stop_bulwarkd
if grep -q 'Sanitizer\|runtime error' "$T/a/bulwarkd.log" "$T/agent-a.log"; then
	fail "bulwarkd stopped cleanly, no sanitizer report (A); the report follows"
	grep -h -A40 'Sanitizer\|runtime error' "$T/a/bulwarkd.log" "$T/agent-a.log" | head -80 >&2
else
	pass "bulwarkd stopped cleanly, no sanitizer report (A)"
fi

# ---- B. no write gets through: the stale limit checked per request ----
mkdir -p "$T/b/audit"
mount -t tmpfs -o size=1m,mode=0700 bwaudit "$T/b/audit" || { fail "mount"; finish; }
BW_UMOUNTS="$T/b/audit"
cat >"$T/b/bulwarkd.conf" <<'CONF'
{"attestation": {"interval_seconds": 1, "stale_after_seconds": 4,
                 "node_certificate_seconds": 3600}}
CONF
enrol b
# on time (every second against a 4 s limit): never refused. The agent
# reports its status and watches its instances with the same key.
before=$(acurl "$URL/v1/nodes/n1" | jq -r .status.last_attested_unix)
lines=$(wc -l <"$T/agent-b.log")
sleep 10
after=$(acurl "$URL/v1/nodes/n1" | jq -r .status.last_attested_unix)
check "n1 re-attested while its agent ran ($before -> $after)" [ "$after" -gt "$before" ]
check "n1 still Trusted" is_state n1 Trusted
refusals=$(tail -n +$((lines + 1)) "$T/agent-b.log" | grep -c 'HTTP 401')
check "no request of the agent re-attesting on time was refused ($refusals)" \
	[ "$refusals" = 0 ]
# the trail's filesystem full: every mutation, the stale write too, is
# refused (AU-5), so the stored state stays Trusted
dd if=/dev/zero of="$T/b/audit/filler" bs=4k 2>/dev/null
dd if=/dev/zero of="$T/b/audit/filler2" bs=1 2>/dev/null
code=201
for i in $(seq 300); do
	code=$(acurl -o /dev/null -w '%{http_code}' -X PUT -H 'Content-Type: application/json' \
		--data "{\"kind\":\"Tenant\",\"metadata\":{\"name\":\"fill$i\"}}" \
		"$URL/v1/tenants/fill$i")
	[ "$code" = 201 ] || break
done
check "mutations are refused with the trail full (got $code)" [ "$code" = 503 ]
stop_agent
t0=$(date +%s)
if wait_for 40 node_refused; then
	pass "n1 is refused once its last quote is older than the limit ($(($(date +%s) - t0)) s after its agent stopped)"
else
	fail "n1 is refused once its last quote is older than the limit (last: $(node_code) $(head -c 200 "$T/nr.body"))"
fi
echo "n1 refused: $(head -c 300 "$T/nr.body")"
check "...with a JSON error naming the stale attestation" \
	jq -e '.error.code == "unauthenticated" and (.error.message | test("last good quote"))' "$T/nr.body" >/dev/null
att=$(attestation n1)
check "...while its stored state still says Trusted (the stale write was refused: $att)" \
	[ "$att" = Trusted ]
node_req POST /v1/attest/nonce '{}'
check "/v1/attest/ stays open to n1 (nonce: $(node_code))" [ "$(node_code)" = 200 ]
rm -f "$T/b/audit/filler" "$T/b/audit/filler2"
stop_swtpm "$T/tpm-b"
stop_bulwarkd
check "no sanitizer report (B)" \
	sh -c "! grep -q 'Sanitizer\|runtime error' '$T/b/bulwarkd.log' '$T/agent-b.log'"
finish

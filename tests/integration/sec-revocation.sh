#!/bin/bash
# Revocation and deletion end access at once (issue 13, defect 7 of the
# outside review of 2026-12): a revoked principal's open watch ends before
# it carries another event, and the principals of a deleted tenant are
# refused (their certificates revoked). The node half of defect 7 is in
# sec-node-authz.sh. Finding 4 of the review of 15411d9 (2026-12): the
# revocation happens only once the Tenant delete has committed (never for
# a delete refused with 409 or 404), and tenant system, which holds the
# administrators and the auditors, cannot be deleted at all.
. "$(dirname "$0")/lib.sh" || exit 99

start_bulwarkd "$T/d" || exit 1
B="$BW/bulwark --config $CONF"
D='"image":"sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"'
wl() { # tenant name replicas env-value
	echo "{\"kind\":\"Workload\",\"metadata\":{\"name\":\"$2\",\"tenant\":\"$1\"},\"spec\":{\"type\":\"container\",$D,\"replicas\":$3,\"env\":{\"TOKEN\":\"$4\"},\"resources\":{\"cpu_millis\":10,\"memory_mib\":16}}}"
}
wait_for() { # seconds command...
	local s=$1 i; shift
	for i in $(seq $((s * 10))); do "$@" && return 0; sleep 0.1; done
	return 1
}
for t in acme beta; do
	echo "{\"kind\":\"Tenant\",\"metadata\":{\"name\":\"$t\"}}" | $B apply -f - >/dev/null
done
wl acme web 0 before | $B apply -f - >/dev/null || fail "workload"
$B principal create tu -t acme --role tenant-user --out "$T/p" >/dev/null || fail "create tu"
$B principal create ba -t beta --role tenant-admin --out "$T/p" >/dev/null || fail "create ba"
pcurl() { # principal curl-args...
	local p=$1; shift
	curl -s --cacert "$PKI/ca.crt" --cert "$T/p/$p.crt" --key "$T/p/$p.key" "$@"
}

# ---- an open watch ends when its principal is revoked ----
REV=$(revision)
pcurl tu -N --max-time 60 "$URL/v1/watch?kind=Workload&since=$REV" >"$T/watch.out" 2>/dev/null &
W=$!
BW_PIDS="$BW_PIDS $W"
wl acme web 0 seen-by-tu | $B apply -f - >/dev/null
check "the watch carries tu's tenant's change" wait_for 20 grep -q seen-by-tu "$T/watch.out"
$B principal revoke tu -t acme >/dev/null || fail "revoke tu"
wl acme web 0 secret-after-revocation | $B apply -f - >/dev/null
ended() { ! kill -0 "$W" 2>/dev/null; }
check "defect 7: the revoked principal's watch ends" wait_for 20 ended
sleep 1 # the change after the revocation had every chance to be streamed
check_fails "defect 7: no change after the revocation reached the revoked principal" \
	grep -q secret-after-revocation "$T/watch.out"
check "defect 7: the stream says why it ended" grep -q '"unauthenticated"' "$T/watch.out"
kill "$W" 2>/dev/null
wait "$W" 2>/dev/null

# ---- deleting a tenant ends its principals' access ----
code=$(pcurl ba -o /dev/null -w '%{http_code}' -X PUT -H 'Content-Type: application/json' \
	--data "$(wl beta w1 0 x)" "$URL/v1/tenants/beta/workloads/w1")
check "beta's admin creates a workload while beta exists (HTTP $code)" [ "$code" = 201 ]
BA_SERIAL=$(openssl x509 -in "$T/p/ba.crt" -noout -serial | sed 's/^serial=//')
code=$(acurl -o /dev/null -w '%{http_code}' -X DELETE "$URL/v1/tenants/beta")
check "tenant beta is deleted (HTTP $code)" [ "$code" = 200 ]
code=$(pcurl ba -o "$T/body" -w '%{http_code}' -X PUT -H 'Content-Type: application/json' \
	--data "$(wl beta w2 0 x)" "$URL/v1/tenants/beta/workloads/w2")
check "defect 7: beta's admin creates nothing after beta is deleted (HTTP $code: $(jq -r .error.message "$T/body" 2>/dev/null))" \
	[ "$code" = 401 ]
code=$(pcurl ba -o /dev/null -w '%{http_code}' "$URL/v1/whoami")
check "defect 7: nor reads anything (HTTP $code)" [ "$code" = 401 ]
check "defect 7: beta's principal's certificate is revoked" \
	grep -qix "0*$(echo "$BA_SERIAL" | sed 's/^0*//')" "$PKI/revoked"
# re-creating a tenant of the same name does not bring the old principals back
echo '{"kind":"Tenant","metadata":{"name":"beta"}}' | $B apply -f - >/dev/null
code=$(pcurl ba -o /dev/null -w '%{http_code}' "$URL/v1/whoami")
check "defect 7: a new tenant beta does not revive the old principal (HTTP $code)" [ "$code" = 401 ]
# ---- finding 4: tenant system cannot be deleted; its auditors stay ----
$BW/bulwark --config "$AUDITOR" principal create aud2 -t system --role security-auditor \
	--out "$T/p" >/dev/null || fail "the auditor creates aud2"
REVOKED_BEFORE=$(wc -l <"$PKI/revoked" 2>/dev/null || echo 0)
code=$(acurl -o "$T/body" -w '%{http_code}' -X DELETE "$URL/v1/tenants/system")
check "finding 4: DELETE /v1/tenants/system refused: 403 (got $code: $(cat "$T/body"))" [ "$code" = 403 ]
check "...with a JSON error naming tenant system" sh -c \
	"jq -r .error.message '$T/body' | grep -q 'tenant system'"
code=$(pcurl aud2 -o /dev/null -w '%{http_code}' "$URL/v1/whoami")
check "finding 4: the second auditor still stands (HTTP $code)" [ "$code" = 200 ]
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$PKI/ca.crt" --cert "$PKI/auditor.crt" \
	--key "$PKI/auditor.key" "$URL/v1/audit/records")
check "finding 4: the first auditor still reads the trail (HTTP $code)" [ "$code" = 200 ]
code=$(acurl -o /dev/null -w '%{http_code}' "$URL/v1/whoami")
check "finding 4: the administrator still stands (HTTP $code)" [ "$code" = 200 ]

# ---- finding 4: a refused tenant delete revokes nothing ----
echo '{"kind":"Tenant","metadata":{"name":"gamma"}}' | $B apply -f - >/dev/null
$B principal create gu -t gamma --role tenant-user --out "$T/p" >/dev/null || fail "create gu"
code=$(acurl -o "$T/body" -w '%{http_code}' -X DELETE "$URL/v1/tenants/gamma?revision=1")
check "finding 4: deleting gamma at a stale revision: 409 (got $code)" [ "$code" = 409 ]
code=$(acurl -o /dev/null -w '%{http_code}' "$URL/v1/tenants/gamma")
check "finding 4: tenant gamma still exists (HTTP $code)" [ "$code" = 200 ]
code=$(pcurl gu -o /dev/null -w '%{http_code}' "$URL/v1/whoami")
check "finding 4: gamma's user still stands after the refused delete (HTTP $code)" [ "$code" = 200 ]
code=$(acurl -o /dev/null -w '%{http_code}' -X DELETE "$URL/v1/tenants/nosuch")
check "finding 4: deleting a tenant that does not exist: 404 (got $code)" [ "$code" = 404 ]
REVOKED_AFTER=$(wc -l <"$PKI/revoked" 2>/dev/null || echo 0)
check "finding 4: no certificate was revoked by the refused deletes ($REVOKED_BEFORE -> $REVOKED_AFTER lines)" \
	[ "$REVOKED_BEFORE" = "$REVOKED_AFTER" ]
# and the delete that commits still revokes
code=$(acurl -o /dev/null -w '%{http_code}' -X DELETE "$URL/v1/tenants/gamma")
check "tenant gamma is deleted (HTTP $code)" [ "$code" = 200 ]
code=$(pcurl gu -o /dev/null -w '%{http_code}' "$URL/v1/whoami")
check "finding 4: gamma's user is refused once gamma is deleted (HTTP $code)" [ "$code" = 401 ]
GU_SERIAL=$(openssl x509 -in "$T/p/gu.crt" -noout -serial | sed 's/^serial=//')
check "finding 4: and its certificate is revoked after the commit" \
	grep -qix "0*$(echo "$GU_SERIAL" | sed 's/^0*//')" "$PKI/revoked"
finish

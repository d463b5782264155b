#!/bin/bash
# Issue 13, defect 2: principals hold only roles their issuer may grant
# (docs/rbac.md, "Who may grant which role"). An administrator cannot
# mint node, node-bootstrap or security-auditor credentials, nor bind or
# unbind security-auditor or node; further auditors are made by an
# existing security-auditor; node credentials come only from enrolment.
. "$(dirname "$0")/lib.sh" || exit 99

start_bulwarkd "$T/d" || exit 1
echo '{"kind":"Tenant","metadata":{"name":"acme"}}' | $BW/bulwark --config "$CONF" apply -f - >/dev/null
ADM="--cert $PKI/admin.crt --key $PKI/admin.key"
AUD="--cert $PKI/auditor.crt --key $PKI/auditor.key"
# mk NAME ROLE -> a principal-creation body with a CSR for $T/NAME.key
mk() {
	[ -f "$T/$1.key" ] || openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 \
		-out "$T/$1.key" 2>/dev/null
	openssl req -new -key "$T/$1.key" -subj "/CN=$1" 2>/dev/null |
		jq -Rs --arg n "$1" --arg r "$2" '{name:$n,role:$r,csr:.}'
}
# post WHO METHOD PATH [BODY] -> status; body in $T/body
post() {
	# shellcheck disable=SC2086
	curl -s -o "$T/body" -w '%{http_code}' --max-time 10 --cacert "$PKI/ca.crt" $1 \
		-X "$2" -H 'Content-Type: application/json' ${4:+--data "$4"} "$URL$3"
}

for role in node node-bootstrap security-auditor; do
	code=$(post "$ADM" POST /v1/tenants/system/principals "$(mk "m-$role" "$role")")
	check "admin mints a $role credential: 403 (got $code)" [ "$code" = 403 ]
	check "...no certificate in the reply" sh -c "! jq -e .certificate '$T/body' >/dev/null 2>&1"
	check "...and the error says why" sh -c "jq -r .error.message '$T/body' | grep -q 'may not grant'"
done
code=$(post "$ADM" PUT /v1/tenants/system/rolebindings/rb-aud \
	'{"kind":"RoleBinding","metadata":{"name":"rb-aud","tenant":"system"},"spec":{"principal":"admin","role":"security-auditor"}}')
check "admin binds security-auditor to itself: 403 (got $code)" [ "$code" = 403 ]
code=$(post "$ADM" PUT /v1/tenants/system/rolebindings/rb-node \
	'{"kind":"RoleBinding","metadata":{"name":"rb-node","tenant":"system"},"spec":{"principal":"x","role":"node"}}')
check "admin binds node: refused (got $code)" [ "$code" = 400 ] || [ "$code" = 403 ]
code=$(post "$ADM" DELETE /v1/tenants/system/rolebindings/auditor)
check "admin removes the auditor's binding: 403 (got $code)" [ "$code" = 403 ]
code=$(post "$ADM" POST /v1/tenants/acme/principals "$(mk alice tenant-admin)")
check "admin still creates a tenant-admin: 201 (got $code)" [ "$code" = 201 ]

# The auditor path: an existing security-auditor makes the next one.
code=$(post "$AUD" POST /v1/tenants/system/principals "$(mk aud2 security-auditor)")
check "an auditor creates a second auditor: 201 (got $code)" [ "$code" = 201 ]
jq -r .certificate "$T/body" >"$T/aud2.crt"
code=$(post "--cert $T/aud2.crt --key $T/aud2.key" GET /v1/audit/records)
check "the second auditor reads the trail: 200 (got $code)" [ "$code" = 200 ]
code=$(post "$AUD" POST /v1/tenants/acme/principals "$(mk bob tenant-user)")
check "an auditor may not create a tenant-user: 403 (got $code)" [ "$code" = 403 ]
code=$(post "$ADM" DELETE /v1/tenants/system/principals/aud2)
check "admin revokes an auditor: 403 (got $code)" [ "$code" = 403 ]
code=$(post "$AUD" DELETE /v1/tenants/system/principals/aud2)
check "an auditor revokes an auditor: 200 (got $code)" [ "$code" = 200 ]
code=$(post "--cert $T/aud2.crt --key $T/aud2.key" GET /v1/audit/records)
check "the revoked auditor is refused (got $code)" [ "$code" = 401 ]

# Enrolment keeps issuing node-bootstrap credentials.
code=$(post "$ADM" POST /v1/enrol/bootstrap '{"node":"n9"}')
check "enrolment still issues a bootstrap credential: 201 (got $code)" [ "$code" = 201 ]
check "...for role node-bootstrap" sh -c \
	"jq -r .certificate '$T/body' | openssl x509 -noout -subject | grep -q 'OU = node-bootstrap'"
# Finding 5 of the review of 15411d9 (2026-12): a node-bootstrap
# credential enrols and does nothing else, not even write its Node's status.
jq -r .certificate "$T/body" >"$T/bs.crt"
jq -r .key "$T/body" >"$T/bs.key"
BS="--cert $T/bs.crt --key $T/bs.key"
code=$(post "$BS" PUT /v1/nodes/n9/status '{"agent":{"capacity":{"cpu":9999},"x":"bootstrap-wrote-this"}}')
check "finding 5: a node-bootstrap credential writes its Node's status: 403 (got $code: $(cat "$T/body"))" \
	[ "$code" = 403 ]
check "...with a JSON error saying it may only enrol" sh -c \
	"jq -r .error.message '$T/body' | grep -q 'node-bootstrap'"
check "finding 5: the Node's status is unchanged" sh -c \
	"! curl -s --cacert '$PKI/ca.crt' $ADM '$URL/v1/nodes/n9' | grep -q bootstrap-wrote-this"
code=$(post "$BS" GET /v1/nodes/n9)
check "finding 5: nor reads its Node: 403 (got $code)" [ "$code" = 403 ]

# An auditor creating a principal named like the administrator would
# replace the administrator's RoleBinding and lock it out: refused, as
# any write of a binding whose old role the issuer may not grant.
code=$(post "$AUD" POST /v1/tenants/system/principals "$(mk admin security-auditor)")
check "an auditor's principal named admin (replacing its binding): 403 (got $code)" \
	[ "$code" = 403 ]
check "...the reply says which role it would take away" grep -q 'system-admin' "$T/body"
code=$(post "$ADM" GET /v1/tenants)
check "...and the administrator still works (GET /v1/tenants: $code)" [ "$code" = 200 ]
finish

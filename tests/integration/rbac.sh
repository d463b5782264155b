#!/bin/bash
# Tenant isolation and separation of duties: every endpoint is tried by
# principals of each role (tenant roles of tenant acme, acting on acme and
# on tenant beta), and the observed allow/deny matrix, including list and
# watch filtering, must equal the one documented in docs/rbac.md.
. "$(dirname "$0")/lib.sh" || exit 99

start_bulwarkd "$T/d" || exit 1
B="$BW/bulwark --config $CONF"
D='"image":"sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"'
vol() { echo "{\"kind\":\"Volume\",\"metadata\":{\"name\":\"$2\",\"tenant\":\"$1\"},\"spec\":{\"size_bytes\":16777216}}"; }
wl() { echo "{\"kind\":\"Workload\",\"metadata\":{\"name\":\"$2\",\"tenant\":\"$1\"},\"spec\":{\"type\":\"container\",$D,\"replicas\":0,\"resources\":{\"cpu_millis\":10,\"memory_mib\":16}}}"; }
for t in acme beta; do
	echo "{\"kind\":\"Tenant\",\"metadata\":{\"name\":\"$t\"}}" | $B apply -f - >/dev/null
	wl $t web | $B apply -f - >/dev/null
	vol $t data | $B apply -f - >/dev/null
done
$B principal create ta -t acme --role tenant-admin --out "$T/p" >/dev/null || fail "create ta"
$B principal create tu -t acme --role tenant-user --out "$T/p" >/dev/null || fail "create tu"
$B principal create prom -t system --role metrics --out "$T/p" >/dev/null || fail "create prom"
# A scan before the matrix, so "read compliance results" does not depend
# on whether the scan bulwarkd runs a minute after changes has run yet.
code=$(acurl -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
	--data '{"baseline":"moderate"}' "$URL/v1/compliance/scans")
[ "$code" = 201 ] || fail "a compliance scan before the matrix (got $code)"

# cred ROLE -> curl options
cred() {
	case "$1" in
	system-admin) echo "--cert $PKI/admin.crt --key $PKI/admin.key" ;;
	security-auditor) echo "--cert $PKI/auditor.crt --key $PKI/auditor.key" ;;
	tenant-admin) echo "--cert $T/p/ta.crt --key $T/p/ta.key" ;;
	tenant-user) echo "--cert $T/p/tu.crt --key $T/p/tu.key" ;;
	metrics) echo "--cert $T/p/prom.crt --key $T/p/prom.key" ;;
	esac
}
# req ROLE METHOD PATH [BODY] -> status, and the body in $T/body
req() {
	# shellcheck disable=SC2046
	curl -s -o "$T/body" -w '%{http_code}' --max-time 3 --cacert "$PKI/ca.crt" \
		$(cred "$1") -X "$2" -H 'Content-Type: application/json' \
		${4:+--data "$4"} "$URL$3"
}
# tenants seen in a list body
seen() {
	jq -r 'if .kind == "TenantList" then [.items[].metadata.name | select(. == "acme" or . == "beta")]
		elif (.items | length) > 0 and .items[0].metadata.tenant != null and .items[0].metadata.tenant != "system" then
			[.items[].metadata.tenant]
		else [] end | unique | if length == 0 then "" else "(" + join("+") + ")" end' \
		"$T/body" 2>/dev/null
}

# a CSR (as a JSON string) for the principal-creation rows
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out "$T/csr.key" 2>/dev/null
CSR=$(openssl req -new -key "$T/csr.key" -subj "/CN=x" | jq -Rs .)

ROLES="system-admin security-auditor tenant-admin tenant-user metrics"
out="$T/matrix.md"
{
	echo "| request | system-admin | security-auditor | tenant-admin (acme) | tenant-user (acme) | metrics |"
	echo "|---|---|---|---|---|---|"
} >"$out"
row() { # LABEL METHOD PATH [BODY-TEMPLATE with @R@ = role]
	local label="$1" m="$2" p="$3" body="${4:-}" line r code b
	line="| $label |"
	for r in $ROLES; do
		b=${body//@R@/$r}
		code=$(req "$r" "$m" "${p//@R@/$r}" "$b")
		if [ "$m" = GET ] && [ "$code" = 200 ] && jq -e '.items' "$T/body" >/dev/null 2>&1; then
			b=$(seen)
			code="$code${b:+ $b}"
		fi
		line="$line $code |"
	done
	echo "$line" >>"$out"
}
row "list tenants" GET /v1/tenants
row "get tenant acme" GET /v1/tenants/acme
row "get tenant beta" GET /v1/tenants/beta
row "create tenant" PUT /v1/tenants/t-@R@ '{"kind":"Tenant","metadata":{"name":"t-@R@"}}'
row "list nodes" GET /v1/nodes
row "list images" GET /v1/images
row "list workloads (all tenants)" GET /v1/workloads
row "list acme workloads" GET /v1/tenants/acme/workloads
row "list beta workloads" GET /v1/tenants/beta/workloads
# a projection (?fields=, the console's lists) sees what the list sees
row "list workloads (all tenants), fields=" GET '/v1/workloads?fields=metadata.name,metadata.tenant'
row "list beta workloads, fields=" GET '/v1/tenants/beta/workloads?fields=metadata.tenant'
row "get acme workload" GET /v1/tenants/acme/workloads/web
row "get beta workload" GET /v1/tenants/beta/workloads/web
row "create acme workload" PUT /v1/tenants/acme/workloads/w-@R@ "$(wl acme w-@R@)"
row "create beta workload" PUT /v1/tenants/beta/workloads/w-@R@ "$(wl beta w-@R@)"
row "bulk apply an acme workload" POST /v1/apply "{\"items\":[$(wl acme b-@R@)]}"
row "bulk apply acme and beta workloads" POST /v1/apply "{\"items\":[$(wl acme c-@R@),$(wl beta c-@R@)]}"
row "delete beta workload" DELETE /v1/tenants/beta/workloads/web
row "create acme volume" PUT /v1/tenants/acme/volumes/v-@R@ "$(vol acme v-@R@)"
row "get beta volume" GET /v1/tenants/beta/volumes/data
row "snapshot beta volume" PUT /v1/tenants/beta/volumesnapshots/s-@R@ '{"kind":"VolumeSnapshot","metadata":{"name":"s-@R@","tenant":"beta"},"spec":{"volume":"data"}}'
row "delete beta volume" DELETE /v1/tenants/beta/volumes/data
row "create acme network" PUT /v1/tenants/acme/networks/n-@R@ '{"kind":"Network","metadata":{"name":"n-@R@","tenant":"acme"}}'
row "set acme quota" PUT /v1/tenants/acme/quotas/q-@R@ '{"kind":"Quota","metadata":{"name":"q-@R@","tenant":"acme"},"spec":{"instances":100}}'
row "bind a role in acme" PUT /v1/tenants/acme/rolebindings/rb-@R@ '{"kind":"RoleBinding","metadata":{"name":"rb-@R@","tenant":"acme"},"spec":{"principal":"x","role":"tenant-user"}}'
row "create acme principal" POST /v1/tenants/acme/principals "{\"name\":\"p-@R@\",\"role\":\"tenant-user\",\"csr\":$CSR}"
row "create a security-auditor" POST /v1/tenants/system/principals "{\"name\":\"a-@R@\",\"role\":\"security-auditor\",\"csr\":$CSR}"
row "create a metrics credential" POST /v1/tenants/system/principals "{\"name\":\"m-@R@\",\"role\":\"metrics\",\"csr\":$CSR}"
row "create a node credential" POST /v1/tenants/system/principals "{\"name\":\"n-@R@\",\"role\":\"node\",\"csr\":$CSR}"
row "bind security-auditor" PUT /v1/tenants/system/rolebindings/rb-@R@ '{"kind":"RoleBinding","metadata":{"name":"rb-@R@","tenant":"system"},"spec":{"principal":"x","role":"security-auditor"}}'
row "list instances (all tenants)" GET /v1/instances
row "write instance" PUT /v1/tenants/acme/instances/i-@R@ '{"kind":"Instance","metadata":{"name":"i-@R@","tenant":"acme"},"spec":{"workload":"web"}}'
row "read beta instance logs" GET /v1/logs/tenants/beta/instances/web-0
row "push a node's logs" POST /v1/logs/nodes/n1 '{"logs":[]}'
row "read the audit trail" GET /v1/audit/records
row "bind metrics" PUT /v1/tenants/system/rolebindings/rbm-@R@ '{"kind":"RoleBinding","metadata":{"name":"rbm-@R@","tenant":"system"},"spec":{"principal":"x","role":"metrics"}}'
row "read metrics" GET /metrics
row "whoami" GET /v1/whoami
row "read the TPM identity" GET /v1/identity
row "read compliance results" GET /v1/compliance/results
row "issue a bootstrap credential" POST /v1/enrol/bootstrap '{"node":"b-@R@"}'
# after "read compliance results": an approval starts a scan
row "list waivers" GET /v1/waivers
# a waiver runs at most 365 days: this one 30
WEXP=$(date -u -d '+30 days' +%Y-%m-%dT%H:%M:%SZ)
row "ask for a waiver" POST /v1/compliance/waivers '{"kind":"Waiver","metadata":{"name":"w-@R@"},"spec":{"control":"ac-7","justification":"j","expires":"'"$WEXP"'"}}'
row "approve the admin's waiver" POST /v1/compliance/waivers/w-system-admin/approval

# watch: which tenants' events each role receives
wline="| watch since 0 (tenants seen) |"
for r in $ROLES; do
	# shellcheck disable=SC2046
	curl -s --max-time 1 --cacert "$PKI/ca.crt" $(cred "$r") "$URL/v1/watch?since=0" >"$T/w.$r"
	[ "$r" = metrics ] && { wline="$wline $(jq -r '.error.code' "$T/w.$r") |"; continue; }
	wline="$wline $(jq -r 'select(.type=="PUT" or .type=="DELETE") | .tenant' "$T/w.$r" | sort -u | grep -v '^system$' | paste -sd+ -) |"
done
echo "$wline" >>"$out"
cat "$out"

# A role binding is checked on every request, also on a kept-alive
# connection that was already granted (the server remembers which
# binding granted it, and at which revision): deleting tu's binding
# refuses tu's next request on the same TLS connection.
mkfifo "$T/ka.in"
openssl s_client -connect "${URL#https://}" -CAfile "$PKI/ca.crt" -cert "$T/p/tu.crt" \
	-key "$T/p/tu.key" -quiet <"$T/ka.in" >"$T/ka.out" 2>"$T/ka.err" &
SC=$!
exec 7>"$T/ka.in"
ka_get() {
	printf 'GET /v1/tenants/acme/workloads HTTP/1.1\r\nHost: bulwark\r\n\r\n' >&7
}
ka_wait() {
	for _ in $(seq 50); do
		[ "$(grep -ac "^HTTP/1.1 $1" "$T/ka.out")" -ge "$2" ] && return 0
		sleep 0.1
	done
	return 1
}
ka_get
check "kept-alive connection: tu is granted" ka_wait 200 1
check "tu's role binding is deleted" \
	sh -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' --cacert '$PKI/ca.crt' --cert '$PKI/admin.crt' --key '$PKI/admin.key' -X DELETE '$URL/v1/tenants/acme/rolebindings/tu')\" = 200 ]"
ka_get
check "same connection, next request: 401 without the binding" ka_wait 401 1
check "and no request on it was granted after the deletion" [ "$(grep -ac '^HTTP/1.1 200' "$T/ka.out")" = 1 ]
exec 7>&-
kill "$SC" 2>/dev/null
wait "$SC" 2>/dev/null

doc="$top_srcdir/docs/rbac.md"
sed -n '/<!-- matrix:begin -->/,/<!-- matrix:end -->/p' "$doc" | sed '1d;$d' >"$T/doc.md"
if diff -u "$T/doc.md" "$out"; then
	pass "observed matrix equals docs/rbac.md"
else
	fail "observed matrix differs from docs/rbac.md (diff above)"
fi
finish

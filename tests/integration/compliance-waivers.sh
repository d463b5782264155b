#!/bin/bash
# Waivers (issue 20, done-means 2): a system-admin asks to accept the risk
# of a failing control; until a security-auditor other than the requester
# approves, nothing changes; approved, the finding links a risk
# "deviation-approved" with the waiver's justification, approver and
# expiry in the OSCAL assessment results (and the POA&M carries the
# deviation and its milestones); at the expiry bulwarkd records
# compliance.waiver_expired and the finding is plainly not satisfied
# again. The requester cannot approve, tenant roles neither see nor
# create waivers, and every document validates against the OSCAL 1.1.3
# schemas.
. "$(dirname "$0")/lib.sh" || exit 99
: "${top_srcdir:?}"
. "$top_srcdir/tests/oscal/ajv-setup.sh"

start_bulwarkd "$T/d" || exit 1
B="$BW/bulwark --config $CONF"
A="$BW/bulwark --config $AUDITOR"
J='-H Content-Type:application/json'
AUD="--cert $PKI/auditor.crt --key $PKI/auditor.key"
ADM="--cert $PKI/admin.crt --key $PKI/admin.key"
schemas=$top_srcdir/compliance/data/schemas
catalog=$top_srcdir/compliance/data/catalogs/NIST_SP-800-53_rev5_catalog-min.json
if bw_ajv_setup; then
	validate() { # SCHEMA FILE
		node "$top_srcdir/tests/oscal/validate.js" "$schemas/$1" "$catalog" "$2" >/dev/null
	}
else
	echo "note: no OSCAL schema validation: $AJV_SKIP_REASON"
	validate() { :; }
fi

# as WHO (curl options) METHOD PATH [BODY] -> HTTP status; body in $T/body
as() {
	# shellcheck disable=SC2086
	curl -s -o "$T/body" -w '%{http_code}' --max-time 20 --cacert "$PKI/ca.crt" \
		$1 -X "$2" $J ${4:+--data "$4"} "$URL$3"
}
scan() { # a scan as the admin; the latest OSCAL documents into $T/ar.json, $T/poam.json
	as "$ADM" POST /v1/compliance/scans '{"baseline":"moderate"}' >/dev/null
	fetch
}
fetch() {
	acurl "$URL/v1/compliance/results?format=oscal" >"$T/ar.json"
	acurl "$URL/v1/compliance/results?format=oscal-poam" >"$T/poam.json"
}
finding() { # CONTROL -> the finding about it in $T/ar.json
	jq -c --arg t "$1_smt" '.["assessment-results"].results[0].findings[] |
		select(.target["target-id"] == $t)' "$T/ar.json"
}
risk_of() { # CONTROL -> the risks its finding links, in $T/ar.json
	jq -c --arg t "$1_smt" '.["assessment-results"].results[0] as $r |
		[$r.findings[] | select(.target["target-id"] == $t) |
		.["related-risks"][]?["risk-uuid"]] as $u |
		[$r.risks[]? | select(.uuid as $x | $u | index($x))]' "$T/ar.json"
}
records() { # ACTION -> the audit records of ACTION about w1 (as the auditor)
	as "$AUD" GET "/v1/audit/records?action=$1&name=w1" >/dev/null
	cp "$T/body" "$T/records.json"
}
jqt() { jq -e "$@" >/dev/null; }
# refs: every reference in the results and the POA&M (the waiver's
# risks, their parties) resolves, with the plan and SSP they import
refs() {
	command -v node >/dev/null || return 0
	rm -rf "$T/refs" && mkdir "$T/refs" &&
	cp "$top_srcdir/docs/ssp/bulwark-ssp.json" \
		"$top_srcdir/docs/ssp/bulwark-component-definition.json" \
		"$top_srcdir/docs/ssp/assessment-plan.json" "$T/refs/" &&
	cp "$T/ar.json" "$T/refs/assessment-results.json" &&
	cp "$T/poam.json" "$T/refs/poam.json" &&
	(cd "$T/refs" && node "$top_srcdir/tests/oscal/refs.js" assessment-results.json \
		poam.json >"$T/refs.out" 2>&1) || { cat "$T/refs.out" >&2; return 1; }
}
both_valid() { # WHAT
	check "$1: assessment results valid (OSCAL 1.1.3)" \
		validate oscal_assessment-results_schema.json "$T/ar.json"
	check "$1: POA&M valid (OSCAL 1.1.3)" validate oscal_poam_schema.json "$T/poam.json"
	check "$1: every reference in them resolves" refs
}

# Tenant roles, and a second auditor made by the first.
echo '{"kind":"Tenant","metadata":{"name":"acme"}}' | $B apply -f - >/dev/null
$B principal create ta -t acme --role tenant-admin --out "$T/p" >/dev/null || fail "create ta"
$B principal create tu -t acme --role tenant-user --out "$T/p" >/dev/null || fail "create tu"
$A principal create aud2 -t system --role security-auditor --out "$T/p" >/dev/null ||
	fail "create aud2"

scan
C=$(jq -r '[.["assessment-results"].results[0].findings[] |
	select(.target.status.state == "not-satisfied")][0].target["target-id"] |
	sub("_smt$"; "")' "$T/ar.json")
check "a control is not satisfied to waive ($C)" [ -n "$C" ] && [ "$C" != null ]
before=$(finding "$C" | jq -c .target.status)

# The waiver: short-lived, so that the test sees it expire.
exp=$(date -u -d "@$(($(date +%s) + 40))" +%Y-%m-%dT%H:%M:%SZ)
why="Compensating control: lockouts are enforced by the site's bastion."
jq -n --arg c "$C" --arg e "$exp" --arg j "$why" '{kind: "Waiver",
	metadata: {name: "w1"}, spec: {control: $c, justification: $j,
	expires: $e}}' >"$T/w1.json"
check "the admin asks for waiver w1" sh -c "$B waiver create -f '$T/w1.json' >/dev/null"
check "...it waits for approval, requested by admin" sh -c "$B get waivers w1 -o json |
	jq -e '.status.state == \"requested\" and .status.requested_by == \"admin\"' >/dev/null"

# Unapproved: no effect on the findings.
scan
check "unapproved: the finding is unchanged ($before)" \
	[ "$(finding "$C" | jq -c .target.status)" = "$before" ]
check "unapproved: the finding links no risk" [ "$(risk_of "$C")" = "[]" ]
check "unapproved: the POA&M shows the deviation requested" jqt '
	.["plan-of-action-and-milestones"] | (.["poam-items"] | map(select(.props[]? |
	.name == "deviation-request" and .value == "w1")) | length > 0) and
	(.risks | map(select(.status == "deviation-requested")) | length > 0)' "$T/poam.json"
both_valid "unapproved"

# Two persons: the requester cannot approve, whatever it tries.
out=$($B waiver approve w1 2>&1)
rc=$?
check "the requester approving is refused (exit 6: $out)" [ "$rc" = 6 ]
check "...because it asked for it" sh -c "echo '$out' | grep -q 'two persons'"
records waiver.approve
check "...and the refusal is audited" jqt '[.items[] | select(.actor == "admin" and
	.outcome == "denied")] | length == 1' "$T/records.json"
code=$(as "$AUD" POST /v1/compliance/waivers "$(cat "$T/w1.json")")
check "an auditor cannot ask for a waiver: 403 (got $code)" [ "$code" = 403 ]
jq '.metadata.name = "wlong" | .spec.expires = "9999-12-31T00:00:00Z"' "$T/w1.json" \
	>"$T/wlong.json"
out=$($B waiver create -f "$T/wlong.json" 2>&1)
rc=$?
check "a waiver for good is refused ($rc: $out)" [ "$rc" != 0 ]
check "...naming the longest life" sh -c "echo '$out' | grep -q '365 days'"
check "...and none is stored" sh -c "! $B get waivers wlong >/dev/null 2>&1"
jq '.metadata.name = "w2" | .spec.approver = "aud2"' "$T/w1.json" >"$T/w2.json"
$B waiver create -f "$T/w2.json" >/dev/null || fail "create w2"
out=$($A waiver approve w2 2>&1)
check "w2 names aud2: the other auditor may not approve it ($out)" [ $? = 6 ]

# Tenant roles neither see nor make waivers; nobody writes them as resources.
for who in ta tu; do
	P="--cert $T/p/$who.crt --key $T/p/$who.key"
	code=$(as "$P" GET /v1/waivers)
	check "$who lists waivers: 403 (got $code)" [ "$code" = 403 ]
	code=$(as "$P" GET /v1/waivers/w1)
	check "$who reads w1: 403 (got $code)" [ "$code" = 403 ]
	code=$(as "$P" POST /v1/compliance/waivers "$(cat "$T/w1.json")")
	check "$who asks for a waiver: 403 (got $code)" [ "$code" = 403 ]
	code=$(as "$P" POST /v1/compliance/waivers/w1/approval)
	check "$who approves w1: 403 (got $code)" [ "$code" = 403 ]
done
check_fails "bulwark apply of a Waiver is refused" sh -c "$B apply -f '$T/w1.json' 2>/dev/null"
code=$(as "$ADM" DELETE /v1/waivers/w1)
check "DELETE /v1/waivers/w1 is refused: 403 (got $code)" [ "$code" = 403 ]
code=$(as "$ADM" PUT /v1/waivers/w1 "$(jq '.status = {state: "approved",
	approved_by: "x", approved_at: "2026-01-01T00:00:00Z"}' "$T/w1.json")")
check "the admin cannot write an approval: 403 (got $code)" [ "$code" = 403 ]

# The auditor approves: the finding becomes a risk accepted.
check "the auditor approves w1" sh -c "$A waiver approve w1 >/dev/null"
check "...twice is a conflict" sh -c "$A waiver approve w1 >/dev/null 2>&1; [ \$? = 5 ]"
scan
risk_of "$C" >"$T/risk.json"
check "approved: the finding links one risk" jqt 'length == 1' "$T/risk.json"
check "...deviation-approved, with the justification" jqt --arg j "$why" \
	'.[0].status == "deviation-approved" and .[0].statement == $j' "$T/risk.json"
check "...its approver, requester and expiry" jqt --arg e "$exp" '.[0] |
	(.props | from_entries) as $p | $p["waiver-approver"] == "auditor" and
	$p["waiver-requested-by"] == "admin" and $p["waiver-expires"] == $e and
	.deadline == $e' "$T/risk.json"
check "...a risk-log of the request and the approval" jqt '.[0]["risk-log"].entries |
	map(.["status-change"]) == ["deviation-requested", "deviation-approved"]' "$T/risk.json"
check "...characterized as accepted by the approver" jqt --slurpfile r "$T/risk.json" '
	.["assessment-results"].metadata.parties[] | select(.uuid ==
	$r[0][0].characterizations[0].origin.actors[0]["actor-uuid"]) | .name == "auditor"' "$T/ar.json"
check "...the finding's status says so" jqt --arg t "${C}_smt" '
	.["assessment-results"].results[0].findings[] | select(.target["target-id"] == $t) |
	.target.status.remarks | test("Risk accepted: waiver w1")' "$T/ar.json"
check "approved: the POA&M item carries the approved deviation and milestones" jqt '
	.["plan-of-action-and-milestones"] as $p | [$p["poam-items"][] |
	select(any(.props[]?; .name == "deviation-status" and .value == "approved"))] as $i |
	($i | length > 0) and ($p.risks | map(select(.status == "deviation-approved")) |
	length > 0) and ([$p.risks[].remediations[]?.tasks[]? | select(.type ==
	"milestone")] | length > 0)' "$T/poam.json"
both_valid "approved"
records waiver.approve
check "the approval is audited, by the auditor" jqt '[.items[] | select(.actor ==
	"auditor" and .outcome == "success")] | length == 1' "$T/records.json"

# Expiry: recorded at (or just after) the time, and the finding is plain
# not-satisfied again without anyone asking for a scan.
expiry_recorded() {
	records compliance.waiver_expired
	jqt '.items | length == 1' "$T/records.json"
}
wait_for 90 expiry_recorded || fail "no compliance.waiver_expired record: $(cat "$T/records.json")"
at=$(jq -r '.items[0].time' "$T/records.json")
lag=$(($(date -u -d "$at" +%s) - $(date -u -d "$exp" +%s)))
check "compliance.waiver_expired recorded ${lag}s after the expiry (0..10)" \
	[ "$lag" -ge 0 ] && [ "$lag" -le 10 ]
check "...by bulwarkd, naming the approver" jqt '.items[0] | .actor == "bulwarkd" and
	(.reason | test("approved by auditor expired"))' "$T/records.json"
check "w1 is expired" sh -c "$B get waivers w1 -o json | jq -e '.status.state == \"expired\"' >/dev/null"
plain() {
	fetch
	[ "$(risk_of "$C")" = "[]" ] && [ "$(finding "$C" | jq -c .target.status)" = "$before" ]
}
check "expired: the latest results show the finding not satisfied again" wait_for 60 plain
check "expired: the POA&M's risk logs the expiry" jqt '[.["plan-of-action-and-milestones"].risks[] |
	select(any(.["risk-log"].entries[]?; .title == "Deviation expired"))] | length > 0' "$T/poam.json"
both_valid "expired"
code=$(as "$AUD" POST /v1/compliance/waivers/w1/approval)
check "an expired waiver cannot be approved: 409 (got $code)" [ "$code" = 409 ]
check "the admin withdraws w2" sh -c "$B waiver withdraw w2 >/dev/null"
check "waiver list shows w1 only" sh -c "$B waiver list | awk 'NR > 1 { print \$1 }' | tr '\n' ' ' |
	grep -qx 'w1 '"

# A waiver that expires while bulwarkd is down is recorded at the next start.
exp3=$(date -u -d "@$(($(date +%s) + 6))" +%Y-%m-%dT%H:%M:%SZ)
jq --arg e "$exp3" '.metadata.name = "w3" | .spec.expires = $e' "$T/w1.json" >"$T/w3.json"
$B waiver create -f "$T/w3.json" >/dev/null || fail "create w3"
$A waiver approve w3 >/dev/null || fail "approve w3"
stop_bulwarkd
BW_PIDS=""
left=$(($(date -u -d "$exp3" +%s) - $(date +%s) + 1))
[ "$left" -gt 0 ] && sleep "$left"
start_bulwarkd "$T/d" || exit 1
w3_recorded() {
	as "$AUD" GET "/v1/audit/records?action=compliance.waiver_expired&name=w3" >/dev/null
	jqt '.items | length == 1' "$T/body"
}
check "w3, expired while bulwarkd was down, is recorded at the start" wait_for 30 w3_recorded
finish

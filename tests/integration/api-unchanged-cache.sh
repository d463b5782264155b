#!/bin/bash
# A replace that changes nothing, answered again from the cache of such
# answers (docs/api.md, "Replace"): the same body at the same revision
# gets the same bytes and its own audit record; any change of the object
# (a new revision) or another caller is not answered from it: a PUT after
# a change stores its document again, a stale metadata.revision gets 409,
# a caller without the right is refused and recorded as refused, a
# wrong Content-Type is refused.
. "$(dirname "$0")/lib.sh"

start_bulwarkd "$T/d" || { echo "bulwarkd did not start"; exit 1; }
B="$BW/bulwark --config $CONF"

echo '{"kind":"Tenant","metadata":{"name":"acme"}}' | $B apply -f - >/dev/null ||
	fail "tenant acme"
$B principal create ta -t acme --role tenant-admin --out "$T/p" >/dev/null ||
	fail "create tenant-admin ta"

node() { # LABEL -> a Node n1 document with label beat=LABEL
	echo "{\"kind\":\"Node\",\"metadata\":{\"name\":\"n1\",\"labels\":{\"beat\":\"$1\"}},\"spec\":{\"zone\":\"z1\",\"capacity\":{\"cpu_millis\":4000,\"memory_mib\":8192}}}"
}
# put FILE OUT [CERT KEY [CONTENT-TYPE]] -> HTTP status; the answer in OUT
put() {
	curl -gs --cacert "$PKI/ca.crt" --cert "${3:-$PKI/admin.crt}" \
		--key "${4:-$PKI/admin.key}" -o "$2" -w '%{http_code}' -X PUT \
		-H "Content-Type: ${5:-application/json}" --data-binary @"$1" \
		"$URL/v1/nodes/n1"
}
rev_of() { jq -r .metadata.revision "$1"; }
cached() { metric bulwark_unchanged_cached_total; }
unchanged_records() {
	cat "$T"/d/audit/seg-*.log | grep -a ' action=node.replace ' |
		grep -a ' oname=n1 ' | grep -ac ' reason=unchanged'
}

node a >"$T/a.json"
node b >"$T/b.json"
code=$(put "$T/a.json" "$T/a0.out")
check "the first PUT of n1 creates it: 201 (got $code)" [ "$code" = 201 ]
r1=$(rev_of "$T/a0.out")
c0=$(cached)
code=$(put "$T/a.json" "$T/a1.out")
check "the same PUT again: 200, unchanged (got $code)" [ "$code" = 200 ]
check "... at the stored revision" [ "$(rev_of "$T/a1.out")" = "$r1" ]
check "... not from the cache (nothing cached yet)" [ "$(cached)" = "$c0" ]
code=$(put "$T/a.json" "$T/a2.out")
check "and again: 200 (got $code)" [ "$code" = 200 ]
check "... from the cache" [ "$(cached)" = $((c0 + 1)) ]
check "... the same bytes as the answer it was cached from" cmp -s "$T/a1.out" "$T/a2.out"
check "... the stored revision" [ "$(revision)" = "$r1" ]

# another caller, the same bytes: authorised again, refused and recorded
code=$(put "$T/a.json" "$T/ta.out" "$T/p/ta.crt" "$T/p/ta.key")
check "a tenant-admin's identical PUT is refused: 403 (got $code)" [ "$code" = 403 ]
check "... not from the cache" [ "$(cached)" = $((c0 + 1)) ]
code=$(put "$T/a.json" "$T/au.out" "$PKI/auditor.crt" "$PKI/auditor.key")
check "the auditor's identical PUT is refused: 403 (got $code)" [ "$code" = 403 ]
denied_recorded() {
	cat "$T"/d/audit/seg-*.log | grep -a ' action=node.replace ' |
		grep -a ' actor=ta ' | grep -aq ' outcome=denied '
}
check "... the refusal is recorded" wait_for 10 denied_recorded
code=$(put "$T/a.json" "$T/ct.out" "" "" text/plain)
check "the cached body with another Content-Type: 415 (got $code)" [ "$code" = 415 ]

# a change, then the cached body: stored again, at a new revision
code=$(put "$T/b.json" "$T/b.out")
check "a PUT changing the label: 200 (got $code)" [ "$code" = 200 ]
r2=$(rev_of "$T/b.out")
check "... a new revision ($r1 -> $r2)" [ "$r2" -gt "$r1" ]
n=$(cached)
code=$(put "$T/a.json" "$T/a3.out")
r3=$(rev_of "$T/a3.out")
check "the first body again after the change: 200 (got $code)" [ "$code" = 200 ]
check "... stored again, a new revision ($r2 -> $r3)" [ "$r3" -gt "$r2" ]
check "... not from the cache" [ "$(cached)" = "$n" ]
check "... the label is back" [ "$(acurl "$URL/v1/nodes/n1" | jq -r .metadata.labels.beat)" = a ]

# a body naming the revision: unchanged (cached) at it, 409 once stale
jq -c ".metadata.revision = $r3" "$T/a.json" >"$T/ar.json"
put "$T/ar.json" "$T/ar1.out" >/dev/null
n=$(cached)
code=$(put "$T/ar.json" "$T/ar2.out")
check "a body naming the current revision, twice: 200 (got $code)" [ "$code" = 200 ]
check "... from the cache" [ "$(cached)" = $((n + 1)) ]
put "$T/b.json" "$T/b2.out" >/dev/null
code=$(put "$T/ar.json" "$T/ar3.out")
check "the same body once the Node changed: 409 conflict (got $code)" [ "$code" = 409 ]
check "... not from the cache" [ "$(cached)" = $((n + 1)) ]
check "... the Node keeps the other label" [ "$(acurl "$URL/v1/nodes/n1" | jq -r .metadata.labels.beat)" = b ]

# a deleted and recreated Node: the old answer is not given
put "$T/a.json" "$T/a4.out" >/dev/null
put "$T/a.json" "$T/a5.out" >/dev/null
acurl -o /dev/null -X DELETE "$URL/v1/nodes/n1"
code=$(put "$T/a.json" "$T/a6.out")
check "the cached body after a delete creates the Node again: 201 (got $code)" [ "$code" = 201 ]

# every unchanged PUT has its own record: a1, a2, ar1, ar2, a5
five_records() { [ "$(unchanged_records)" = 5 ]; }
check "each unchanged PUT is recorded ($(unchanged_records) of 5)" wait_for 10 five_records
finish

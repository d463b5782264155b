#!/bin/bash
# What a node's credential may do (issue 13, defects 1, 7, 10 and 12 of the
# outside review of 2026-12; docs/rbac.md). Two real nodes (own swtpm and
# bulwark-agent each, enrolled and approved), then requests with their
# TPM-held keys (bulwark-agent request, the agent stopped first: swtpm
# serves one client at a time):
#   defect 1:  a node writes only the status of instances bound to it (and
#              its own Node's); no create, replace or delete, in any tenant;
#              an Untrusted node or one without a Node object writes nothing;
#   defect 12: a node reads no principals, role bindings, quotas or tenants;
#   defect 10: one node's nonce requests cannot evict another node's nonce;
#   defect 7:  an Untrusted node's certificate is refused (except for
#              re-attestation, which issues a fresh one and revokes the old
#              serial); deleting a Node revokes its certificate at once,
#              once the delete has committed (finding 4 of the review of
#              15411d9: a refused delete revokes nothing).
. "$(dirname "$0")/lib.sh" || exit 99
. "$(dirname "$0")/identity-lib.sh" || exit 99

D="$T/d"
mkdir -p "$D"
# a stopped agent must not make its node stale during the test
cat >"$D/bulwarkd.conf" <<'CONF'
{"attestation": {"interval_seconds": 1, "stale_after_seconds": 900,
                 "node_certificate_seconds": 3600}}
CONF
start_bulwarkd "$D" || { echo "bulwarkd did not start"; exit 1; }
B="$BW/bulwark --config $CONF"
NODES="n1 n2"
serial_of() { acurl "$URL/v1/nodes/$1" | jq -r .status.certificate.serial; }

enrol_nodes 60 $NODES || finish
# both agents stopped: from here on the test speaks with their keys (and
# no agent's status report races the capacity written here)
for n in $NODES; do
	eval "kill -TERM \$AGENT_$n; wait \$AGENT_$n"
	echo "{\"kind\":\"Node\",\"metadata\":{\"name\":\"$n\"},
	  \"spec\":{\"capacity\":{\"cpu_millis\":8000,\"memory_mib\":8192,\"instances\":50}}}" |
		$B apply -f - >/dev/null || fail "capacity of $n"
done

# one instance of acme and one of beta on each node (anti-affinity per node)
IMG='"image":"sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"'
for t in acme beta gamma; do
	echo "{\"kind\":\"Tenant\",\"metadata\":{\"name\":\"$t\"}}" | $B apply -f - >/dev/null
done
for t in acme beta; do
	echo "{\"kind\":\"Network\",\"metadata\":{\"name\":\"net\",\"tenant\":\"$t\"}}" | $B apply -f - >/dev/null
	echo "{\"kind\":\"Quota\",\"metadata\":{\"name\":\"q\",\"tenant\":\"$t\"},\"spec\":{\"instances\":100}}" |
		$B apply -f - >/dev/null || fail "quota for $t"
	echo "{\"kind\":\"Workload\",\"metadata\":{\"name\":\"web\",\"tenant\":\"$t\"},
	  \"spec\":{\"type\":\"container\",$IMG,\"replicas\":2,\"network\":\"net\",
	  \"resources\":{\"cpu_millis\":100,\"memory_mib\":64},
	  \"anti_affinity\":[{\"topology_key\":\"node\"}]}}" | $B apply -f - >/dev/null || fail "workload in $t"
done
placed() { [ "$($B get instances -o json | jq '[.items[] | select(.spec.node != null)] | length')" = 4 ]; }
check "4 instances placed, one per tenant on each node" wait_for 30 placed
inst_on() { # tenant node -> /v1/tenants/T/instances/NAME
	$B get instances -o json | jq -r --arg t "$1" --arg n "$2" \
		'[.items[] | select(.metadata.tenant == $t and .spec.node == $n)][0] |
		 "/v1/tenants/\(.metadata.tenant)/instances/\(.metadata.name)"'
}
ACME_N1=$(inst_on acme n1)
BETA_N2=$(inst_on beta n2)
$B principal create alice -t acme --role tenant-user --out "$T/p" >/dev/null || fail "create alice"

# node_req NODE METHOD PATH [BODY] -> status in $T/nr.status, body in $T/nr.body
node_req() {
	local n=$1; shift
	"$BW/bulwark-agent" request --tpm "$(eval echo "\$TCTI_$n")" --state-dir "$T/state-$n" \
		"$@" >"$T/nr.out" 2>"$T/nr.err"
	sed -n 1p "$T/nr.out" >"$T/nr.status"
	sed 1d "$T/nr.out" >"$T/nr.body"
	[ -s "$T/nr.status" ] || { echo "node_req $n $*: no answer:"; tail -3 "$T/nr.err"; } >&2
}
st() { cat "$T/nr.status"; }
is_status() { [ "$(st)" = "$1" ]; }
not_2xx() { case "$(st)" in 2*|'') return 1 ;; esac; }

# ---- defect 1: a node writes only its instances' status ----
body=$(acurl "$URL$BETA_N2" | jq -c '.spec.node = "n1" | del(.metadata.revision)')
node_req n1 PUT "$BETA_N2" "$body"
check "defect 1: n1 cannot rebind beta's instance on n2 to itself (HTTP $(st))" is_status 403
check "defect 1: beta's instance still bound to n2" \
	[ "$(acurl "$URL$BETA_N2" | jq -r .spec.node)" = n2 ]
node_req n1 DELETE "$BETA_N2"
check "defect 1: n1 cannot delete beta's instance (HTTP $(st))" is_status 403
check "defect 1: beta's instance still exists" \
	[ "$(acurl -o /dev/null -w '%{http_code}' "$URL$BETA_N2")" = 200 ]
node_req n1 POST /v1/tenants/gamma/instances \
	'{"kind":"Instance","metadata":{"name":"evil","tenant":"gamma"},"spec":{"workload":"web","node":"n1"}}'
check "defect 1: n1 cannot create an instance in gamma (HTTP $(st))" is_status 403
node_req n1 PUT /v1/tenants/gamma/instances/evil2 \
	'{"kind":"Instance","metadata":{"name":"evil2","tenant":"gamma"},"spec":{"workload":"web","node":"n1"}}'
check "defect 1: n1 cannot create one by PUT either (HTTP $(st))" is_status 403
body=$(acurl "$URL$ACME_N1" | jq -c '.spec.workload = "other" | del(.metadata.revision)')
node_req n1 PUT "$ACME_N1" "$body"
check "defect 1: n1 cannot replace even its own instance's spec (HTTP $(st))" is_status 403
node_req n1 DELETE "$ACME_N1"
check "defect 1: n1 cannot delete its own instance (HTTP $(st))" is_status 403
node_req n1 PUT /v1/tenants/acme/workloads/web "$(acurl "$URL/v1/tenants/acme/workloads/web" | jq -c 'del(.metadata.revision) | .spec.replicas = 9')"
check "defect 1: n1 cannot change a workload (HTTP $(st))" is_status 403
node_req n1 PUT "$ACME_N1/status" '{"phase":"Running","last_event":"started"}'
check "defect 1: n1 reports its own instance's status (HTTP $(st))" is_status 200
node_req n1 PUT "$BETA_N2/status" '{"phase":"Failed"}'
check "defect 1: n1 cannot report n2's instance's status (HTTP $(st))" is_status 403
check "defect 1: gamma has no instances" \
	[ "$($B get instances -o json | jq '[.items[] | select(.metadata.tenant == "gamma")] | length')" = 0 ]

# ---- defect 12: a node reads only what it needs ----
for p in /v1/tenants/acme/principals /v1/principals /v1/tenants/beta/rolebindings \
	/v1/rolebindings /v1/tenants/acme/quotas /v1/quotas /v1/tenants /v1/tenants/beta \
	/v1/tenants/acme/quotas/q /v1/tenants/acme/principals/alice /metrics; do
	node_req n1 GET "$p"
	check "defect 12: n1 may not read $p (HTTP $(st))" is_status 403
done
node_req n1 "GET" "/v1/watch?since=1&poll=500"
check "defect 12: n1's watch carries no principals, bindings, quotas or tenants" \
	sh -c "grep -q '\"type\"' '$T/nr.body' && ! grep -Eq '\"kind\":\"(Principal|RoleBinding|Quota|Tenant)\"' '$T/nr.body'"
node_req n1 GET /v1/tenants/acme/workloads/web
check "defect 12: n1 still reads the workload its instance runs (HTTP $(st))" is_status 200
node_req n1 GET /v1/tenants/acme/networks/net
check "defect 12: n1 still reads the network that workload uses (HTTP $(st))" is_status 200
node_req n1 GET "$ACME_N1"
check "defect 12: n1 still reads its own instance (HTTP $(st))" is_status 200

# ---- issue 18, part 2: a node's watch carries the DELETE of an instance
# or volume bound to it and never another node's; a tenant's watch no
# other tenant's DELETE. gamma's workload (one instance on each node) is
# deleted, its instances with it, then a volume made on n1. ----
echo '{"kind":"Network","metadata":{"name":"net","tenant":"gamma"}}' | $B apply -f - >/dev/null
echo '{"kind":"Quota","metadata":{"name":"q","tenant":"gamma"},"spec":{"instances":100}}' |
	$B apply -f - >/dev/null || fail "quota for gamma"
echo "{\"kind\":\"Workload\",\"metadata\":{\"name\":\"tmp\",\"tenant\":\"gamma\"},
  \"spec\":{\"type\":\"container\",$IMG,\"replicas\":2,\"network\":\"net\",
  \"resources\":{\"cpu_millis\":100,\"memory_mib\":64},
  \"anti_affinity\":[{\"topology_key\":\"node\"}]}}" | $B apply -f - >/dev/null || fail "workload in gamma"
gamma_on() { [ "$($B get instances -o json | jq '[.items[] | select(.metadata.tenant == "gamma" and .spec.node != null)] | length')" = "$1" ]; }
check "gamma's 2 instances placed, one on each node" wait_for 30 gamma_on 2
G_N1=$(inst_on gamma n1); G_N1=${G_N1##*/}
G_N2=$(inst_on gamma n2); G_N2=${G_N2##*/}
GREV=$(revision)
code=$(acurl -o /dev/null -w '%{http_code}' -X DELETE "$URL/v1/tenants/gamma/workloads/tmp")
check "gamma's workload is deleted (HTTP $code)" [ "$code" = 200 ]
gamma_none() { [ "$($B get instances -o json | jq '[.items[] | select(.metadata.tenant == "gamma")] | length')" = 0 ]; }
check "gamma's instances are deleted with it" wait_for 30 gamma_none
# deleted_in FILE NAME: FILE (a watch answer) has the DELETE of gamma's instance NAME
deleted_in() {
	jq -se --arg n "$2" 'any(.[]; .type == "DELETE" and .kind == "Instance" and
		.tenant == "gamma" and .name == $n)' "$1" >/dev/null
}
acurl --max-time 10 "$URL/v1/watch?since=$GREV&poll=2000" >"$T/w-admin"
both_deleted() { deleted_in "$1" "$G_N1" && deleted_in "$1" "$G_N2"; }
check "the administrator's watch has both DELETEs" both_deleted "$T/w-admin"
for n in n1 n2; do
	node_req $n GET "/v1/watch?since=$GREV&poll=2000"
	cp "$T/nr.body" "$T/w-$n"
done
check "issue 18: n1's watch has the DELETE of its instance $G_N1" deleted_in "$T/w-n1" "$G_N1"
check_fails "issue 18: n1's watch has not the DELETE of n2's instance $G_N2" deleted_in "$T/w-n1" "$G_N2"
check "issue 18: n2's watch has the DELETE of its instance $G_N2" deleted_in "$T/w-n2" "$G_N2"
check_fails "issue 18: n2's watch has not the DELETE of n1's instance $G_N1" deleted_in "$T/w-n2" "$G_N1"
code=$(curl -gs --max-time 10 --cacert "$PKI/ca.crt" --cert "$T/p/alice.crt" --key "$T/p/alice.key" \
	-o "$T/w-alice" -w '%{http_code}' "$URL/v1/watch?since=$GREV&poll=2000")
check "issue 18: acme's alice may watch (HTTP $code)" [ "$code" = 200 ]
check_fails "issue 18: alice's watch carries nothing of tenant gamma" grep -q '"tenant":"gamma"' "$T/w-alice"
# A Volume's DELETE too: labelled with the node it was created on.
echo '{"kind":"Volume","metadata":{"name":"gv","tenant":"gamma"},"spec":{"size_bytes":16777216,"node":"n1"}}' |
	$B apply -f - >/dev/null || fail "volume gv in gamma on n1"
VREV=$(revision)
code=$(acurl -o /dev/null -w '%{http_code}' -X DELETE "$URL/v1/tenants/gamma/volumes/gv")
check "gamma's volume gv is deleted (HTTP $code)" [ "$code" = 200 ]
vol_deleted_in() {
	jq -se 'any(.[]; .type == "DELETE" and .kind == "Volume" and .tenant == "gamma" and
		.name == "gv")' "$1" >/dev/null
}
for n in n1 n2; do
	node_req $n GET "/v1/watch?since=$VREV&poll=2000"
	cp "$T/nr.body" "$T/wv-$n"
	cp "$T/nr.status" "$T/wv-$n.status"
done
check "issue 18: n1's watch has the DELETE of its volume gv" vol_deleted_in "$T/wv-n1"
# not a refusal or an error taken for an empty answer
check "issue 18: n2's watch is answered (HTTP $(cat "$T/wv-n2.status"))" \
	[ "$(cat "$T/wv-n2.status")" = 200 ]
check_fails "issue 18: n2's watch has not the DELETE of n1's volume gv" vol_deleted_in "$T/wv-n2"

# ---- defect 10: nonces are bound to the node that asked ----
node_req n2 POST /v1/attest/nonce '{}'
N2_NONCE=$(jq -r .nonce "$T/nr.body")
check "defect 10: n2 got a nonce" [ -n "$N2_NONCE" ] && [ "$N2_NONCE" != null ]
# n1 asks for 4,200 nonces on one kept-alive connection (its TPM key signs
# the handshake once), more than the old global ring held
"$BW/bulwark-agent" request --repeat 4200 --tpm "$TCTI_n1" --state-dir "$T/state-n1" \
	POST /v1/attest/nonce '{}' >"$T/flood.out" 2>"$T/flood.err"
tail -1 "$T/flood.err"
check "defect 10: n1 asked for 4,200 nonces on one connection" grep -q '^4200 requests' "$T/flood.err"
Q=$(env TSS2_LOG=all+NONE "$BW/bulwark-agent" quote --tpm "$TCTI_n2" --nonce "$N2_NONCE" 2>"$T/q.err") ||
	{ fail "quote by n2"; cat "$T/q.err" >&2; }
node_req n2 POST /v1/attest/quote "{\"nonce\":\"$N2_NONCE\",\"quote\":\"$Q\"}"
check "defect 10: n2's quote over its earlier nonce still verifies (HTTP $(st): $(jq -r '.error.message // .state' "$T/nr.body"))" is_status 200
check "defect 10: n2 is Trusted" is_state n2 Trusted

# ---- defect 7 (nodes) and defect 1 (Untrusted): a node that lost trust
# writes and reads nothing until a good quote ----
node_req n1 POST /v1/attest/quote '{"nonce":"AAAA","quote":"AAAA"}'
check "n1 sends a bad quote (HTTP $(st))" is_status 403
check "n1 is Untrusted" is_state n1 Untrusted
OLD_SERIAL=$(serial_of n1)
node_req n1 PUT "$ACME_N1/status" '{"phase":"Running"}'
check "defect 1: Untrusted n1 cannot report its instance's status (HTTP $(st))" not_2xx
node_req n1 GET "$ACME_N1"
check "defect 7: Untrusted n1's certificate reads nothing (HTTP $(st))" not_2xx
node_req n1 GET /v1/nodes/n1
check "defect 7: not even its own Node (HTTP $(st))" not_2xx
# re-attestation recovers it, with a fresh certificate; the old one is revoked
"$BW/bulwark-agent" --tpm "$TCTI_n1" --state-dir "$T/state-n1" --server "$URL" --once \
	>"$T/agent-n1-once.log" 2>&1 || { fail "n1 re-attests"; tail -5 "$T/agent-n1-once.log" >&2; }
check "n1 is Trusted again" is_state n1 Trusted
NEW_SERIAL=$(serial_of n1)
check "defect 7: n1 got a fresh certificate ($OLD_SERIAL -> $NEW_SERIAL)" [ "$OLD_SERIAL" != "$NEW_SERIAL" ]
check "defect 7: the certificate n1 held while Untrusted is revoked" \
	grep -qix "0*$(echo "$OLD_SERIAL" | sed 's/^0*//')" "$PKI/revoked"
node_req n1 PUT "$ACME_N1/status" '{"phase":"Running"}'
check "n1 reports status again with its new certificate (HTTP $(st))" is_status 200

# re-enrolment (same TPM, new bootstrap credential) revokes the certificate
# the node held
OLD_SERIAL=$(serial_of n1)
acurl -o "$T/boot-n1b.json" -X POST -H 'Content-Type: application/json' \
	-d '{"node":"n1"}' "$URL/v1/enrol/bootstrap"
"$BW/bulwark-agent" --tpm "$TCTI_n1" --state-dir "$T/state-n1b" --server "$URL" \
	--bootstrap "$T/boot-n1b.json" --once >"$T/agent-n1b.log" 2>&1 ||
	{ fail "n1 enrols again"; tail -5 "$T/agent-n1b.log" >&2; }
check "defect 7: re-enrolment gave n1 another certificate" [ "$(serial_of n1)" != "$OLD_SERIAL" ]
check "defect 7: and revoked the one it held" \
	grep -qix "0*$(echo "$OLD_SERIAL" | sed 's/^0*//')" "$PKI/revoked"
node_req n1 GET /v1/nodes/n1
check "defect 7: the old certificate is refused (HTTP $(st))" is_status 401

# finding 4 of the review of 15411d9 (2026-12): a Node delete that does
# not commit (stale revision, or no such Node) revokes nothing
code=$(acurl -o "$T/body" -w '%{http_code}' -X DELETE "$URL/v1/nodes/n2?revision=1")
check "finding 4: deleting n2 at a stale revision: 409 (got $code)" [ "$code" = 409 ]
check_fails "finding 4: n2's certificate is not revoked by the refused delete" \
	grep -qix "0*$(serial_of n2 | sed 's/^0*//')" "$PKI/revoked"
node_req n2 GET "$BETA_N2"
check "finding 4: n2 still reads its instance (HTTP $(st))" is_status 200
code=$(acurl -o /dev/null -w '%{http_code}' -X DELETE "$URL/v1/nodes/nosuch")
check "finding 4: deleting a Node that does not exist: 404 (got $code)" [ "$code" = 404 ]

# a deleted Node's certificate dies at once, and it wrote nothing
N2_SERIAL=$(serial_of n2)
check "n2's Node is deleted" [ "$(acurl -o /dev/null -w '%{http_code}' -X DELETE "$URL/v1/nodes/n2")" = 200 ]
node_req n2 PUT "$BETA_N2/status" '{"phase":"Running"}'
check "defect 1: n2 without a Node object cannot write (HTTP $(st))" not_2xx
node_req n2 GET "$BETA_N2"
check "defect 7: n2's certificate is refused once its Node is deleted (HTTP $(st))" is_status 401
check "defect 7: n2's serial is on the revocation list" \
	grep -qix "0*$(echo "$N2_SERIAL" | sed 's/^0*//')" "$PKI/revoked"
finish

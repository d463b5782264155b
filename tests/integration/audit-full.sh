#!/bin/bash
# AU-5: with the audit filesystem full, mutations are refused with 503
# audit_unavailable and change nothing, reads go on, health says so; once
# space is freed mutations work again and the chain still verifies.
. "$(dirname "$0")/lib.sh" || exit 99

if [ "$(id -u)" -ne 0 ]; then
	echo "SKIP: needs root to mount a small tmpfs for the trail"
	exit 77
fi
mkdir -p "$T/d/audit"
mount -t tmpfs -o size=1m,mode=0700 bwaudit "$T/d/audit" || { echo "mount failed"; exit 1; }
BW_UMOUNTS="$T/d/audit"

start_bulwarkd "$T/d" || exit 1
B="$BW/bulwark --config $CONF"
check "a first tenant is created" $B apply -f - <<<'{"kind":"Tenant","metadata":{"name":"before"}}'

# Fill the trail's filesystem to the last byte.
dd if=/dev/zero of="$T/d/audit/filler" bs=4k 2>/dev/null
dd if=/dev/zero of="$T/d/audit/filler2" bs=1 2>/dev/null
# The segment file's last page may still hold a few records; write
# until the trail refuses.
put_tenant() {
	acurl -o "$T/resp" -w '%{http_code}' -X PUT -H 'Content-Type: application/json' \
		--data "{\"kind\":\"Tenant\",\"metadata\":{\"name\":\"$1\"}}" "$URL/v1/tenants/$1"
}
code=201
for i in $(seq 300); do
	code=$(put_tenant "fill$i")
	[ "$code" = 201 ] || break
done
check "a mutation is refused with 503 once the disk is full (got $code after $i)" [ "$code" = 503 ]
check "error code is audit_unavailable" sh -c "jq -e '.error.code == \"audit_unavailable\"' '$T/resp' >/dev/null"
$B get tenant "fill$i" >/dev/null 2>&1; rc=$?
check "the refused tenant does not exist (exit 4, got $rc)" [ $rc = 4 ]
before=$(revision)
for j in 1 2 3; do
	code=$(put_tenant "during$j")
	check "mutation $j while full gets 503 (got $code)" [ "$code" = 503 ]
done
check "nothing reached the store while full" [ "$(revision)" = "$before" ]
check "reads go on" sh -c "$B get tenants -o json | jq -e '.items | length >= 1' >/dev/null"
check "health reports the trail as degraded" \
	sh -c "curl -s --cacert '$PKI/ca.crt' --cert '$PKI/admin.crt' --key '$PKI/admin.key' '$URL/healthz' | jq -e '.status == \"degraded\" and .audit.healthy == false' >/dev/null"
check "anonymous health says degraded, and nothing more" \
	sh -c "curl -sk '$URL/healthz' | jq -e '. == {\"status\": \"degraded\"}' >/dev/null"

# Free the space: mutations work again.
rm -f "$T/d/audit/filler" "$T/d/audit/filler2"
code=$(acurl -o /dev/null -w '%{http_code}' -X PUT -H 'Content-Type: application/json' \
	--data '{"kind":"Tenant","metadata":{"name":"after"}}' "$URL/v1/tenants/after")
check "after freeing space the mutation succeeds (got $code)" [ "$code" = 201 ]
check "health is ok again" sh -c "curl -sk '$URL/healthz' | jq -e '.status == \"ok\"' >/dev/null"
stop_bulwarkd
BW_PIDS=""
check "the chain verifies" $BW/bulwark audit verify "$T/d/audit"
check "the refusals were not silent: records_lost or refusal noted" \
	sh -c "grep -rqE 'audit.records_lost|tenant.replace' '$T/d/audit'"
check "the trail holds the tenant created after recovery" grep -rq '"after"\|after' "$T/d/audit"
finish

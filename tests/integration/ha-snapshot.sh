#!/bin/bash
# Snapshot, destroy the cluster, restore (issue 19, Done-means 5;
# docs/ha.md "Snapshot and restore"): one bulwarkd replica on a 3-member
# etcd cluster; a tenant and workloads applied and their revisions
# recorded; `bulwark store snapshot` through bulwarkd (audited with the
# admin as actor); a damaged copy refused by `store verify` and `store
# restore`; every member and the replica stopped and the members' data
# directories deleted; `bulwark store restore` of each member into a new
# cluster; the replica started again on it: it leads again (the
# restored leader key and name claim expired), every object is back
# with its revision, a new write gets a higher one, and the replica's
# own trail (kept in its data directory) still verifies. The restored
# leader key and name claim are seen to expire before it starts. Skips when
# etcd is not installed.
. "$(dirname "$0")/lib.sh" || exit 99
. "$(dirname "$0")/etcd-lib.sh" || exit 99

etcd_test_cluster bw
CLI="$BW/bulwark"
D="$T/r1"
start_bulwarkd "$D" --store "$SPEC" --replica-id r1 || { fail "bulwarkd on etcd"; finish; }
B() { "$CLI" --config "$CONF" "$@"; }
role() { acurl --max-time 10 "$URL/healthz" | jq -r '.replica.role // "none"'; }
leads() { [ "$(role)" = leader ]; }
check "the replica leads" wait_for 20 leads

# -- objects and their revisions
echo '{"kind":"Tenant","metadata":{"name":"acme"}}' | B apply -f - >/dev/null ||
	fail "tenant acme"
for i in 1 2 3 4 5; do
	echo "{\"kind\":\"Workload\",\"metadata\":{\"name\":\"w$i\",\"tenant\":\"acme\"},
	  \"spec\":{\"type\":\"container\",\"image\":\"sha256:$(printf 'a%.0s' $(seq 64))\",
	  \"replicas\":0,\"resources\":{\"cpu_millis\":100,\"memory_mib\":64}}}" |
		B apply -f - >/dev/null || fail "workload w$i"
done
# w1 replaced: its revision is no longer its creation's
echo '{"kind":"Workload","metadata":{"name":"w1","tenant":"acme"},
  "spec":{"type":"container","image":"sha256:'"$(printf 'b%.0s' $(seq 64))"'",
  "replicas":0,"resources":{"cpu_millis":200,"memory_mib":64}}}' | B apply -f - >/dev/null ||
	fail "w1 replaced"
# revs: "kind/name revision" lines of the tenant and the workloads
revs() {
	{ B get tenants -o json | jq -r '.items[] | select(.metadata.name == "acme") |
		"Tenant/\(.metadata.name) \(.metadata.revision)"' &&
	  B get workloads -t acme -o json | jq -r '.items[] |
		"Workload/\(.metadata.name) \(.metadata.revision)"'; } | sort
}
revs >"$T/before" || fail "objects listed"
check "6 objects recorded with their revisions" [ "$(grep -c ' [0-9][0-9]*$' "$T/before")" = 6 ]
cat "$T/before"
STORE_REV=$(revision)

# -- the snapshot, through bulwarkd
check "store snapshot is taken through bulwarkd" \
	sh -c "'$CLI' --config '$CONF' store snapshot -o '$T/snap.db' >'$T/snap.out'"
cat "$T/snap.out"
check "no partial file is left beside it" [ ! -e "$T/snap.db.part" ]
check "store verify accepts it" "$CLI" store verify "$T/snap.db"
SHA=$(sed -n 's/.*sha256 \([0-9a-f]*\).*/\1/p' "$T/snap.out")
check "its SHA-256 is etcd's digest of the database" sh -c \
	"[ \"\$(head -c -32 '$T/snap.db' | sha256sum | cut -d' ' -f1)\" = '$SHA' ] &&
	 [ \"\$(tail -c 32 '$T/snap.db' | od -An -tx1 | tr -d ' \n')\" = '$SHA' ]"
snap_audited() {
	"$CLI" --config "$AUDITOR" audit search --action store.snapshot -o json |
		jq -e --arg s "$SHA" '[.items[] | select(.outcome == "success" and
		  .actor == "admin" and (.reason | contains($s)))] | length == 1' >/dev/null
}
check "the trail records who took it (store.snapshot, actor admin, its digest)" \
	wait_for 10 snap_audited
check "the auditor may not take one (exit 6, 403)" sh -c "'$CLI' --config '$AUDITOR' \
	store snapshot -o '$T/denied.db' 2>'$T/denied.err'; [ \$? = 6 ] &&
	grep -q 'only system-admin takes store snapshots (403 forbidden)' '$T/denied.err'"
check "and is not left a file" sh -c "[ ! -e '$T/denied.db' ] && [ ! -e '$T/denied.db.part' ]"
check "POST is refused (405)" sh -c "[ \"\$(curl -gs -o /dev/null -w '%{http_code}' \
	--cacert '$PKI/ca.crt' --cert '$PKI/admin.crt' --key '$PKI/admin.key' -X POST \
	'$URL/v1/store/snapshot')\" = 405 ]"

# -- a damaged copy is refused, before etcdctl is run
cp "$T/snap.db" "$T/bad.db"
printf 'X' | dd of="$T/bad.db" bs=1 seek=5000 conv=notrunc 2>/dev/null
"$CLI" store verify "$T/bad.db" >/dev/null 2>"$T/bad.err"
check "store verify refuses a damaged snapshot (exit 7)" [ $? = 7 ]
check "with a clear message" grep -q "snapshot is corrupt: the SHA-256" "$T/bad.err"
head -c -1000 "$T/snap.db" >"$T/short.db"
check "a truncated one too" sh -c "! '$CLI' store verify '$T/short.db' 2>'$T/short.err' &&
	grep -q 'corrupt or truncated' '$T/short.err'"
check_fails "store restore refuses the damaged snapshot" \
	"$CLI" store restore "$T/bad.db" --member m0 --initial-cluster "$ETCD_CLUSTER" \
	--peer-url "https://127.0.0.1:${ETCD_PORTS[1]}" --data-dir "$T/bad-m0"
check "and restores nothing" [ ! -e "$T/bad-m0" ]

# -- destroy: the replica and every member stopped, the members' data gone
stop_bulwarkd
for i in 0 1 2; do
	kill -TERM "${ETCD_MEMBER_PIDS[$i]}" 2>/dev/null
	wait "${ETCD_MEMBER_PIDS[$i]}" 2>/dev/null
done
rm -rf "$T/m0" "$T/m1" "$T/m2"
check_fails "the cluster is gone" etcd_healthy

# -- restore: each member from the snapshot with its own name and URL
for i in 0 1 2; do
	check "member m$i restored" sh -c "'$CLI' store restore '$T/snap.db' --member m$i \
		--initial-cluster '$ETCD_CLUSTER' --peer-url https://127.0.0.1:${ETCD_PORTS[$((2 * i + 1))]} \
		--data-dir '$T/m$i' --cluster-token bw-$$ >'$T/restore-m$i.log' 2>&1"
done
ETCD_MEMBER_PIDS=()
for i in 0 1 2; do
	etcd_start_member $i
done
etcd_cluster_wait && pass "the restored cluster is healthy"
# The snapshot holds the leader key and r1's name claim under leases
# that come back with the restore; etcd starts their TTL afresh (plus an
# election timeout) at each raft leader it elects, then revokes them.
ectl() {
	etcdctl --endpoints "$ETCD_ENDPOINTS" --cacert "$ETCD_PKI/ca.crt" \
		--cert "$ETCD_PKI/client.crt" --key "$ETCD_PKI/client.key" \
		--dial-timeout 2s --command-timeout 3s "$@"
}
stale_keys() { ectl get --prefix /bw/e/ --keys-only | grep .; }
held_leader_key() { stale_keys | grep -qx /bw/e/leader; }
no_stale_keys() { ! stale_keys >/dev/null; }
check "the snapshot held the leader key" held_leader_key
t0=$SECONDS
check "the restored leader key and name claim expire" wait_for 30 no_stale_keys
echo "stale leader key and name claim gone $((SECONDS - t0)) s after the cluster was healthy"

# -- the replica again, on its own data directory
start_bulwarkd "$D" --store "$SPEC" --replica-id r1 ||
	{ fail "bulwarkd on the restored cluster"; finish; }
check "the replica leads again (the restored leader key expired)" wait_for 30 leads
revs >"$T/after" || fail "objects listed after the restore"
cmp -s "$T/before" "$T/after" || diff "$T/before" "$T/after" >&2
check "every object is back with its revision" cmp -s "$T/before" "$T/after"
check "the store revision is at least the snapshot's ($STORE_REV)" \
	[ "$(revision)" -ge "$STORE_REV" ]
echo '{"kind":"Tenant","metadata":{"name":"after"}}' | B apply -f - >/dev/null ||
	fail "a write after the restore"
NEW=$(B get tenants -o json | jq -r '.items[] | select(.metadata.name == "after") | .metadata.revision')
MAX=$(awk '{ print $2 }' "$T/before" | sort -n | tail -1)
check "a new write gets a higher revision ($NEW > $MAX)" [ "${NEW:-0}" -gt "$MAX" ]
check "the trail in the replica's data directory verifies" \
	sh -c "'$CLI' audit verify '$D/audit' >/dev/null"
check "and still holds the snapshot's record" wait_for 10 snap_audited
finish

#!/bin/bash
# Issue 18, Done means 4: WATCHERS watchers on /v1/watch during a rollout
# of INSTANCES instances over NODES nodes each receive every event, in
# order. The watchers belong to WATCHERS / 10 tenant-user principals (a
# principal may hold API_WATCH_PER_PRINCIPAL = 16 watches) and one more
# is the administrator's. Each stream is cut at a marker write made
# after the rollout; every watcher's (revision, kind, tenant, name,
# type) sequence of the tenant's Workloads and Instances must equal the
# others' and the administrator's, the administrator's revisions must be
# strictly increasing, and every instance must appear placed. The nodes
# are seeded into the stopped daemon's store, Ready and Trusted, by
# bench/fleet/fleet-sim (it says why), which also runs the rollout and
# exits 0 only when its own watch saw every instance placed.
. "$(dirname "$0")/lib.sh" || exit 99

NODES=${NODES:-200}
INSTANCES=${INSTANCES:-1000}
WATCHERS=${WATCHERS:-100}
SIM="$BW/bench/fleet/fleet-sim"
D="$T/d"
mkdir -p "$D"
echo '{"attestation": {"stale_after_seconds": 864000}}' >"$D/bulwarkd.conf"
start_bulwarkd "$D" || { echo "bulwarkd did not start"; exit 1; }
stop_bulwarkd
check "fleet-sim seeds $NODES Ready nodes" "$SIM" seed "$D/store" 0 "$NODES"
start_bulwarkd "$D" || { echo "bulwarkd did not restart"; exit 1; }
B="$BW/bulwark --config $CONF"
echo '{"kind":"Tenant","metadata":{"name":"acme"}}' | $B apply -f - >/dev/null || fail "apply tenant acme"
# (and the appliance's own node, made at first start)
check "the seeded nodes are listed" [ "$($B get nodes -o json | jq '[.items[] | select(.status.attestation == "Trusted")] | length')" -ge "$NODES" ]

principals=$(((WATCHERS + 9) / 10))
for p in $(seq "$principals"); do
	$B principal create "w$p" -t acme --role tenant-user --out "$T/p" >/dev/null ||
		fail "create principal w$p"
done
R0=$(revision)
# Only the head of each line is kept: type, revision, kind, tenant, name
# (the objects would be ~1 KB an event per watcher). $! is curl's pid;
# cut ends when curl does.
watch() { # cert-base out
	curl -sN --cacert "$PKI/ca.crt" --cert "$1.crt" --key "$1.key" \
		"$URL/v1/watch?since=$R0" > >(stdbuf -oL cut -d, -f1-5 >"$2") &
	BW_PIDS="$BW_PIDS $!"
}
open_is() { [ "$(metric bulwark_watchers)" = "$1" ]; }
# Ten at a time: bulwarkd drops a source's handshakes beyond its share
# of unauthenticated connections.
watch "$PKI/admin" "$T/admin.out"
for i in $(seq "$WATCHERS"); do
	watch "$T/p/w$(((i - 1) / 10 + 1))" "$T/w$i.out"
	[ $((i % 10)) = 0 ] && ! wait_for 60 open_is $((i + 1)) && break
done
check "$((WATCHERS + 1)) watches are open" wait_for 60 open_is $((WATCHERS + 1))

check "the rollout places all $INSTANCES instances" "$SIM" rollout --config "$CONF" \
	--tenant acme --mode spread --workloads 5 --instances "$INSTANCES" --keep --timeout 600
echo '{"kind":"Workload","metadata":{"name":"marker","tenant":"acme"},"spec":{"type":"container","image":"sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae","replicas":0,"resources":{"cpu_millis":100,"memory_mib":64}}}' |
	$B apply -f - >/dev/null || fail "apply the marker"
has_marker() { grep -q '"name":"marker"' "$1"; }
all_marked() {
	local f
	for f in "$T"/w*.out "$T/admin.out"; do has_marker "$f" || return 1; done
}
check "every watcher received the marker" wait_for 300 all_marked

# events of the tenant's Workloads and Instances up to the marker
events() {
	sed -n '1,/"name":"marker"/p' "$1" | grep -E '^\{"type":"(PUT|DELETE)"' |
		grep -E '"kind":"(Workload|Instance)","tenant":"acme"'
}
events "$T/admin.out" >"$T/ref"
n=$(wc -l <"$T/ref")
placements=$(grep -c '"kind":"Instance"' "$T/ref")
echo "reference: $n events of acme's workloads and instances after revision $R0"
check "the reference holds the rollout (>= $((INSTANCES + 5)) events, got $n)" [ "$n" -ge $((INSTANCES + 5)) ]
revs() { sed 's/.*"revision":\([0-9]*\).*/\1/' "$1"; }
sed -n '1,/"name":"marker"/p' "$T/admin.out" | grep -E '^\{"type":"(PUT|DELETE)"' >"$T/admin.all"
check "the administrator's revisions are strictly increasing" sort -n -c -u <(revs "$T/admin.all")
placed=$($B get instances -t acme -o json | jq '[.items[] | select(.spec.node != null)] | length')
check "all $INSTANCES instances are placed (got $placed)" [ "$placed" = "$INSTANCES" ]
check "the reference has an Instance event per instance at least ($placements)" \
	[ "$placements" -ge "$INSTANCES" ]
bad=0
for i in $(seq "$WATCHERS"); do
	events "$T/w$i.out" >"$T/seq$i"
	cmp -s "$T/ref" "$T/seq$i" || { bad=$((bad + 1)); echo "watcher $i differs:"; diff "$T/ref" "$T/seq$i" | head -5; }
done
check "all $WATCHERS watchers received the reference's $n events in order ($bad differ)" [ "$bad" = 0 ]
finish

#!/bin/bash
# SC-5/AC-10 (review of b8e09bb): an agent's long poll holds
# a connection with a request in flight, which no eviction frees, so node
# watches stop short of the slots kept for system roles: with
# --max-connections 8, node watches take at most 6 (8 less
# API_CONN_RESERVED_PCT, api_watch_node_max()), more are answered 429, and
# an administrator's request is still served while they hold theirs.
# Node watches and tenant roles' connections share those 6 slots: with
# the node watches open a tenant's watch is refused (503), and with two
# tenant watches open node watches take at most 4 (so 6 node polls and 2
# tenant watches can no longer take all 8 from the administrators).
# Issue 18: a node principal holds at most 2 watches (API_WATCH_PER_NODE,
# one ending while the next opens); its third is answered 429.
. "$(dirname "$0")/lib.sh" || exit 99

D="$T/d"
mkdir -p "$D"
start_bulwarkd "$D" --max-connections 8
# Eight nodes' credentials (node-bootstrap, role node), $T/nI.crt and .key.
for i in 1 2 3 4 5 6 7 8; do
	acurl -o "$T/boot.json" -X POST -H 'Content-Type: application/json' \
		-d "{\"node\":\"n$i\"}" "$URL/v1/enrol/bootstrap"
	jq -r .certificate "$T/boot.json" >"$T/n$i.crt"
	jq -r .key "$T/boot.json" >"$T/n$i.key"
done
check "eight node credentials" [ "$(grep -l CERTIFICATE "$T"/n?.crt | wc -l)" = 8 ]
B="$BW/bulwark --config $CONF"
$B apply -f "$top_srcdir/examples/tenant.json" >/dev/null || fail "apply examples/tenant.json"
$B principal create tu -t acme --role tenant-user --out "$T/p" >/dev/null ||
	fail "create tu"

# Long polls, each begun once the one before it is open (its headers
# came: a watch answers 200 at once and streams) or answered.
rev=$(revision)
answered() { grep -qa '^HTTP/' "$T/$1.hdr" 2>/dev/null; }
# watch NAME CERT KEY QUERY: one watch in the background, its headers in
# $T/NAME.hdr, its pid in WPID[NAME]; returns once it is answered.
declare -A WPID
watch() {
	rm -f "$T/$1.hdr"
	curl -s --max-time 90 --cacert "$PKI/ca.crt" --cert "$2" --key "$3" \
		-D "$T/$1.hdr" -o "$T/$1.body" "$URL/v1/watch?$4" 2>/dev/null &
	BW_PIDS="$BW_PIDS $!"
	WPID[$1]=$!
	for _ in $(seq 100); do
		answered "$1" && break
		sleep 0.1
	done
}
# node_watch NAME I [MS]: a long poll of MS (60,000) ms by node nI
node_watch() { watch "$1" "$T/n$2.crt" "$T/n$2.key" "since=$rev&poll=${3:-60000}"; }
tenant_watch() { watch "$1" "$T/p/tu.crt" "$T/p/tu.key" "since=$rev&kind=Workload"; }
status() { grep -a '^HTTP/' "$T/$1.hdr" 2>/dev/null | head -1 | cut -d' ' -f2; }
# One node's bound: two polls of 8 s, the third refused.
for i in 1 2 3; do
	node_watch x$i 1 8000
done
check "a node holds two watches ($(status x1) $(status x2))" \
	[ "$(status x1) $(status x2)" = "200 200" ]
check "its third is answered 429 ($(status x3))" [ "$(status x3)" = 429 ]
check "the refusal names the node's bound" grep -q 'limit per node: 2' "$T/x3.body"
node_watch x4 2 8000
check "another node's watch opens meanwhile ($(status x4))" [ "$(status x4)" = 200 ]
for i in 1 2 4; do
	wait "${WPID[x$i]}" 2>/dev/null
done

# Eight long polls of 60 s, one per node.
for i in 1 2 3 4 5 6 7 8; do
	node_watch w$i $i
done
open=$(grep -la '^HTTP/1.1 200' "$T"/w?.hdr 2>/dev/null | wc -l)
refused=$(grep -la '^HTTP/1.1 429' "$T"/w?.hdr 2>/dev/null | wc -l)
echo "node watches open: $open, refused: $refused"
check "node watches take at most 6 of 8 connections ($open open)" [ "$open" = 6 ]
check "the two past them are answered 429 ($refused)" [ "$refused" = 2 ]
check "the refusal names the bound" grep -q 'limit for nodes: 6' "$T/w8.body"

# The node watches hold the tenant roles' share: a tenant's watches are
# refused, not given the administrators' slots.
tenant_watch t1
tenant_watch t2
both="$(status t1) $(status t2)"
check "a tenant's watches are refused while the node watches hold the share ($both)" \
	[ "$both" = "503 503" ]
out=$(acurl --max-time 10 -o /dev/null -w '%{http_code}' "$URL/v1/whoami")
check "an administrator is served while the node watches are open (HTTP ${out:-none})" [ "$out" = 200 ]
alive=0
for i in 1 2 3 4 5 6 7 8; do
	kill -0 "${WPID[w$i]}" 2>/dev/null && alive=$((alive + 1))
done
check "the 6 node watches are still open ($alive)" [ "$alive" = 6 ]

# The other way round: the node watches end, two tenant watches open,
# and node watches take the 4 slots left of the share.
for i in 1 2 3 4 5 6 7 8; do
	kill "${WPID[w$i]}" 2>/dev/null
	wait "${WPID[w$i]}" 2>/dev/null
done
for i in $(seq 60); do
	tenant_watch t1
	[ "$(status t1)" = 200 ] && break
	sleep 0.5
done
check "a tenant watch opens once the node watches are gone ($(status t1))" [ "$(status t1)" = 200 ]
tenant_watch t2
check "a second tenant watch opens ($(status t2))" [ "$(status t2)" = 200 ]
for i in 1 2 3 4 5 6; do
	node_watch v$i $i
done
open=$(grep -la '^HTTP/1.1 200' "$T"/v?.hdr 2>/dev/null | wc -l)
check "with 2 tenant watches node watches take at most 4 ($open open)" [ "$open" = 4 ]
check "the refusal names the bound and the tenants" \
	grep -q 'limit for nodes: 4, with 2 tenant' "$T/v6.body"
out=$(acurl --max-time 10 -o /dev/null -w '%{http_code}' "$URL/v1/whoami")
check "an administrator is served while node and tenant watches are open (HTTP ${out:-none})" [ "$out" = 200 ]

check_bulwarkd_stops_cleanly "$D"
finish

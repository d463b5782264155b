#!/bin/bash
# SC-5/AC-10 (review of b8e09bb): an agent's long poll holds
# a connection with a request in flight, which no eviction frees, so node
# watches stop short of the slots kept for system roles: with
# --max-connections 8, node watches take at most 6 (8 less
# API_CONN_RESERVED_PCT, api_watch_node_max()), more are answered 429, and
# an administrator's request is still served while they hold theirs.
. "$(dirname "$0")/lib.sh"

D="$T/d"
mkdir -p "$D"
start_bulwarkd "$D" --max-connections 8
# A node's credential (node-bootstrap, role node).
acurl -o "$T/boot.json" -X POST -H 'Content-Type: application/json' \
	-d '{"node":"n1"}' "$URL/v1/enrol/bootstrap"
jq -r .certificate "$T/boot.json" >"$T/node.crt"
jq -r .key "$T/boot.json" >"$T/node.key"
check "a node credential" grep -q CERTIFICATE "$T/node.crt"

# Eight long polls of 60 s from the node (under its 16 per principal),
# each begun once the one before it is open (its headers came: a watch
# answers 200 at once and streams) or answered.
rev=$(revision)
answered() { grep -qa '^HTTP/' "$T/w$1.hdr" 2>/dev/null; }
for i in 1 2 3 4 5 6 7 8; do
	curl -s --max-time 90 --cacert "$PKI/ca.crt" --cert "$T/node.crt" \
		--key "$T/node.key" -D "$T/w$i.hdr" -o "$T/w$i.body" \
		"$URL/v1/watch?since=$rev&poll=60000" 2>/dev/null &
	BW_PIDS="$BW_PIDS $!"
	WPID[$i]=$!
	for _ in $(seq 100); do
		answered $i && break
		sleep 0.1
	done
done
open=$(grep -la '^HTTP/1.1 200' "$T"/w*.hdr 2>/dev/null | wc -l)
refused=$(grep -la '^HTTP/1.1 429' "$T"/w*.hdr 2>/dev/null | wc -l)
echo "node watches open: $open, refused: $refused"
check "node watches take at most 6 of 8 connections ($open open)" [ "$open" = 6 ]
check "the two past them are answered 429 ($refused)" [ "$refused" = 2 ]
check "the refusal names the bound" grep -q 'limit for nodes: 6' "$T/w8.body"

out=$(acurl --max-time 10 -o /dev/null -w '%{http_code}' "$URL/v1/whoami")
check "an administrator is served while the node watches are open (HTTP ${out:-none})" [ "$out" = 200 ]
alive=0
for i in 1 2 3 4 5 6 7 8; do
	kill -0 "${WPID[$i]}" 2>/dev/null && alive=$((alive + 1))
done
check "the 6 node watches are still open ($alive)" [ "$alive" = 6 ]

kill -TERM "$BWD_PID" 2>/dev/null
wait "$BWD_PID"
rc=$?
BW_PIDS=
check "bulwarkd stopped cleanly (exit $rc)" [ "$rc" = 0 ]
check_fails "no sanitizer report from bulwarkd" \
	grep -q 'Sanitizer\|runtime error' "$D/bulwarkd.log"
finish

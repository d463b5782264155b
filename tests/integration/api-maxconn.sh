#!/bin/bash
# SC-5/AC-10: bulwarkd --max-connections N serves at most N connections.
# Idle unauthenticated connections may hold only part of them and are
# displaced by new ones; with N authenticated connections open, a further
# client is still served: the oldest idle connection of the principal
# holding the most is evicted (never the listener paused). The eviction
# is audited, and a bad value is refused at start.
. "$(dirname "$0")/lib.sh" || exit 99

D="$T/d"
mkdir -p "$D"
check "--max-connections 0 is refused (exit 2)" \
	sh -c "'$BW/bulwarkd' --data-dir '$T/bad' --max-connections 0 >/dev/null 2>&1; [ \$? = 2 ]"
check "--max-connections with junk is refused (exit 2)" \
	sh -c "'$BW/bulwarkd' --data-dir '$T/bad' --max-connections 3x >/dev/null 2>&1; [ \$? = 2 ]"

start_bulwarkd "$D" --max-connections 3
if ! curl -sk --max-time 5 "$URL/healthz" >/dev/null; then
	cat "$D/bulwarkd.log" >&2
	fail "bulwarkd did not start"
	finish
fi
health() {
	curl -sk --max-time "$1" -o /dev/null -w '%{http_code}' "$URL/healthz"
}
check "served below the limit" [ "$(health 5)" = 200 ]

# Three idle connections (no TLS handshake) cannot take every slot: they
# may use only part of them (75%), and a new connection displaces the
# oldest of them. Each sends one byte of a record header: the port hands
# a connection over only once it has spoken (TCP_DEFER_ACCEPT), silent
# ones a second later.
exec 3<>"/dev/tcp/127.0.0.1/$PORT" 4<>"/dev/tcp/127.0.0.1/$PORT" 5<>"/dev/tcp/127.0.0.1/$PORT"
printf '\026' >&3; printf '\026' >&4; printf '\026' >&5
sleep 0.5
code=$(health 5)
check "a client is served while 3 idle connections are open (got ${code:-none})" [ "$code" = 200 ]
exec 3<&- 3>&- 4<&- 4>&- 5<&- 5>&-
check "the displaced idle connections are counted" \
	[ "$(metric 'bulwark_connections_dropped_total{reason="unauthenticated_pool"}')" -gt 0 ]

# Three authenticated connections (an administrator's, kept open, idle)
# take every slot: a further client evicts the oldest of them.
SPIDS=""
for i in 1 2 3; do
	mkfifo "$T/in$i"
	openssl s_client -quiet -CAfile "$PKI/ca.crt" -cert "$PKI/admin.crt" \
		-key "$PKI/admin.key" -connect "127.0.0.1:$PORT" <"$T/in$i" >"$T/out$i" 2>/dev/null &
	SPIDS="$SPIDS $!"
	BW_PIDS="$BW_PIDS $!"
	eval "exec $((5 + i))>\"\$T/in$i\""
	printf 'GET /v1/whoami HTTP/1.1\r\nHost: a\r\n\r\n' >&$((5 + i))
	for _ in $(seq 100); do
		grep -q '^HTTP/1.1 200' "$T/out$i" 2>/dev/null && break
		sleep 0.05
	done
done
check "three authenticated connections are open" \
	sh -c "grep -l '^HTTP/1.1 200' '$T'/out1 '$T'/out2 '$T'/out3 | wc -l | grep -qx 3"
code=$(health 5)
check "a fourth client is served while 3 authenticated are open (got ${code:-none})" [ "$code" = 200 ]
ev=$(metric 'bulwark_connections_evicted_total{reason="full"}')
check "an idle authenticated connection was evicted for it (${ev:-none})" [ "${ev:-0}" -ge 1 ]
check "never more than 3 open (got $(metric bulwark_connections))" [ "$(metric bulwark_connections)" -le 3 ]
for p in $SPIDS; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
exec 6>&- 7>&- 8>&-
ok=0
for i in $(seq 10); do
	[ "$(health 5)" = 200 ] && ok=$((ok + 1))
done
check "ten sequential requests after the clients left all served ($ok)" [ "$ok" = 10 ]

kill -TERM "$BWD_PID" 2>/dev/null
wait "$BWD_PID"
BW_PIDS=
check "the limit is in the audit trail" \
	sh -c "cat '$D'/audit/seg-*.log | grep -a ' action=api.connection_limit ' | grep -q '(full;'"
check "the audit trail verifies" "$BW/bulwark" audit verify "$D/audit"
finish

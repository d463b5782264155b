#!/bin/bash
# SC-5/AC-10: bulwarkd --max-connections N serves at most N connections.
# With N idle connections open, a further client is not served (it waits
# in the listen backlog); when one closes the server accepts again. The
# pause is audited, and a bad value is refused at start.
. "$(dirname "$0")/lib.sh"

D="$T/d"
mkdir -p "$D"
check "--max-connections 0 is refused (exit 2)" \
	sh -c "'$BW/bulwarkd' --data-dir '$T/bad' --max-connections 0 >/dev/null 2>&1; [ \$? = 2 ]"
check "--max-connections with junk is refused (exit 2)" \
	sh -c "'$BW/bulwarkd' --data-dir '$T/bad' --max-connections 3x >/dev/null 2>&1; [ \$? = 2 ]"

"$BW/bulwarkd" --data-dir "$D" --listen 127.0.0.1:0 --max-connections 3 \
	>>"$D/bulwarkd.log" 2>&1 &
BWD_PID=$!
BW_PIDS="$BWD_PID"
PORT=
for _ in $(seq 200); do
	if [ -f "$D/admin.conf" ]; then
		PORT=$(jq -r .server "$D/admin.conf" | sed 's/.*://')
		[ -n "$PORT" ] && curl -sk "https://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break
	fi
	kill -0 "$BWD_PID" 2>/dev/null || break
	sleep 0.05
done
URL="https://127.0.0.1:$PORT"
if ! curl -sk --max-time 5 "$URL/healthz" >/dev/null; then
	cat "$D/bulwarkd.log" >&2
	fail "bulwarkd did not start"
	finish
fi
health() {
	curl -sk --max-time "$1" -o /dev/null -w '%{http_code}' "$URL/healthz"
}
check "served below the limit" [ "$(health 5)" = 200 ]

# Three idle connections (no TLS handshake yet) take every slot.
exec 3<>"/dev/tcp/127.0.0.1/$PORT" 4<>"/dev/tcp/127.0.0.1/$PORT" 5<>"/dev/tcp/127.0.0.1/$PORT"
sleep 0.5
code=$(health 2)
check "a fourth client is not served while 3 are open (got ${code:-none})" [ "$code" != 200 ]

# One closes: the server accepts again.
exec 3<&- 3>&-
code=
for _ in $(seq 20); do
	code=$(health 2)
	[ "$code" = 200 ] && break
	sleep 0.2
done
check "served again once a connection closed (got ${code:-none})" [ "$code" = 200 ]
exec 4<&- 4>&- 5<&- 5>&-
ok=0
for i in $(seq 10); do
	[ "$(health 5)" = 200 ] && ok=$((ok + 1))
done
check "ten sequential requests after the idle clients left all served ($ok)" [ "$ok" = 10 ]

kill -TERM "$BWD_PID" 2>/dev/null
wait "$BWD_PID"
BW_PIDS=
check "the limit is in the audit trail" \
	sh -c "cat '$D'/audit/seg-*.log | grep -a ' action=api.connection_limit ' | grep -q 'max-connections'"
check "the audit trail verifies" "$BW/bulwark" audit verify "$D/audit"
finish

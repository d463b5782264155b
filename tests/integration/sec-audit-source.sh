#!/bin/bash
# AU-3 (review of issue 13, finding 10): audit records name an IPv6 peer
# whole. On a [::1] listener, unauthenticated requests and a connection
# dropped at the handshake deadline are aggregated under source=::1
# (not ":"), and an authenticated request's record shows
# source=[::1]:PORT.
. "$(dirname "$0")/lib.sh" || exit 99

D="$T/d"
mkdir -p "$D"
if ! python3 -c 'import socket; s = socket.socket(socket.AF_INET6); s.bind(("::1", 0))' 2>/dev/null; then
	echo "no IPv6 loopback here: skipped"
	exit 77
fi
BW_HOST='[::1]' start_bulwarkd "$D"
code=$(curl -gsk --max-time 5 -o /dev/null -w '%{http_code}' "$URL/v1/tenants")
check "a request without a certificate is refused: 401 (got $code)" [ "$code" = 401 ]
for _ in 1 2 3; do curl -gsk --max-time 5 -o /dev/null "$URL/v1/tenants"; done
code=$(acurl --max-time 5 -o /dev/null -w '%{http_code}' "$URL/v1/tenants")
check "the administrator's request is served: 200 (got $code)" [ "$code" = 200 ]
# An idle connection (no TLS handshake) is dropped at the handshake
# deadline (API_HANDSHAKE_SECS, 10 s); the drop is aggregated by source.
python3 -c 'import socket, sys, time
s = socket.create_connection(("::1", int(sys.argv[1])))
time.sleep(25)' "$PORT" &
IDLE=$!
BW_PIDS="$BW_PIDS $IDLE"
dropped=
for _ in $(seq 40); do
	dropped=$(metric 'bulwark_connections_dropped_total{reason="handshake_deadline"}')
	[ "${dropped:-0}" -ge 1 ] && break
	sleep 0.5
done
check "the idle connection was dropped at the deadline (${dropped:-none})" [ "${dropped:-0}" -ge 1 ]
kill "$IDLE" 2>/dev/null; wait "$IDLE" 2>/dev/null
check_bulwarkd_stops_cleanly "$D"
cat "$D"/audit/seg-*.log | grep -a ' actor=anonymous ' | grep -a 'auth.failure' >"$T/anon"
echo "aggregated records: $(grep -ao ' source=[^ ]*' "$T/anon" | sort | uniq -c | tr '\n' ';')"
check "unauthenticated requests are recorded" [ -s "$T/anon" ]
check "...under source=::1" grep -aq ' source=::1 ' "$T/anon"
check_fails "...never under a cut address (source=:)" grep -aq ' source=: ' "$T/anon"
cat "$D"/audit/seg-*.log | grep -a ' action=api.connection_dropped ' >"$T/drop"
echo "drop records: $(grep -ao ' source=[^ ]*' "$T/drop" | sort | uniq -c | tr '\n' ';')"
check "the drop is recorded under source=::1" grep -aq ' source=::1 ' "$T/drop"
check_fails "...never under a cut address (source=:)" grep -aq ' source=: ' "$T/drop"
cat "$D"/audit/seg-*.log | grep -a ' auth=mtls ' >"$T/auth"; grep -ao ' source=[^ ]*' "$T/auth" | sort -u | head -3
check "the administrator's record shows source=[::1]:PORT" \
	grep -aqE ' source=\[::1\]:[0-9]+ ' "$T/auth"
check "the audit trail verifies" "$BW/bulwark" audit verify "$D/audit"
finish

#!/bin/bash
# Outside review of 2026-12, finding 2: creations in flight at once must
# not get past a tenant's quota (the default one or a Quota object's).
# Admission counts the changes it admitted that are still being
# committed, and replacing a workload counts what it adds over the
# stored one.
. "$(dirname "$0")/lib.sh" || exit 99

start_bulwarkd "$T/d" || exit 1
B="$BW/bulwark --config $CONF"
IMG='"image":"sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"'
# Opens N TLS connections, then sends one request on each before
# reading any answer, so that all are in flight together. Prints the
# status codes as "CODE COUNT" lines.
cat >"$T/race.py" <<'PY'
import socket, ssl, sys
host, port, n, ca, crt, key, method, path, body = sys.argv[1:10]
port, n = int(port), int(n)
ctx = ssl.create_default_context(cafile=ca)
ctx.check_hostname = False
ctx.load_cert_chain(crt, key)
socks = []
for i in range(n):
    s = ctx.wrap_socket(socket.create_connection((host, port), timeout=60),
                        server_hostname="localhost")
    socks.append(s)
for i, s in enumerate(socks):
    b = body.replace("NAME", "r%d" % i).encode()
    p = path.replace("NAME", "r%d" % i).encode()
    s.sendall(b"%s %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Content-Length: %d\r\nConnection: close\r\n\r\n"
              % (method.encode(), p, len(b)) + b)
codes = {}
for s in socks:
    data = b""
    try:
        while True:
            d = s.recv(65536)
            if not d:
                break
            data += d
    except OSError:
        pass
    s.close()
    c = data.split(b" ", 2)[1].decode() if data.startswith(b"HTTP/") else "none"
    codes[c] = codes.get(c, 0) + 1
for c in sorted(codes):
    print(c, codes[c])
PY
race() { # N METHOD PATH BODY -> "CODE COUNT" lines in $T/codes
	timeout 120 python3 "$T/race.py" 127.0.0.1 "$PORT" "$1" "$PKI/ca.crt" \
		"$PKI/admin.crt" "$PKI/admin.key" "$2" "$3" "$4" >"$T/codes"
	echo "status codes: $(tr '\n' ' ' <"$T/codes")"
}
ncode() { awk -v c="$1" '$1 == c { n = $2 } END { print n + 0 }' "$T/codes"; }
only_codes() { # the answers are among the codes given, and there are N
	awk -v ok=" $2 " -v n="$1" '{ t += $2; if (index(ok, " " $1 " ") == 0) bad = 1 }
		END { exit (bad || t != n) }' "$T/codes"
}
wl() { # tenant name replicas
	echo "{\"kind\":\"Workload\",\"metadata\":{\"name\":\"$2\",\"tenant\":\"$1\"},
	  \"spec\":{\"type\":\"container\",$IMG,\"replicas\":$3,
	  \"resources\":{\"cpu_millis\":10,\"memory_mib\":16}}}"
}
put_wl() { # tenant name replicas -> status
	acurl -o "$T/resp" -w '%{http_code}' -X PUT -H 'Content-Type: application/json' \
		--data "$(wl "$@")" "$URL/v1/tenants/$1/workloads/$2"
}
count() { # tenant -> "workloads instances" stored
	acurl "$URL/v1/tenants/$1/workloads" |
		jq -r '"\(.items | length) \([.items[].spec.replicas] | add // 0)"'
}
for t in acme beta gamma delta; do
	echo "{\"kind\":\"Tenant\",\"metadata\":{\"name\":\"$t\"}}" | $B apply -f - >/dev/null
done

# Default quota, instances=100: 20 creations of 50 replicas at once.
race 20 POST /v1/tenants/acme/workloads "$(wl acme NAME 50)"
read -r nw ni < <(count acme)
check "default quota: 20 parallel creations of 50 instances leave $ni instances (<= 100)" \
	[ "$ni" -le 100 ]
check "...2 admitted, the rest refused ($(ncode 201) x 201)" \
	sh -c "[ $(ncode 201) = 2 ] && [ $nw = 2 ]"
check "...answers are only 201 and 409 quota_exceeded" only_codes 20 "201 409"

# Default quota, workloads=50: 30 stored, then 30 creations of 2
# replicas at once (one principal may hold 32 connections).
for i in $(seq 1 30); do
	[ "$(put_wl beta pre$i 2)" = 201 ] || fail "beta workload pre$i stored"
done
race 30 POST /v1/tenants/beta/workloads "$(wl beta NAME 2)"
read -r nw ni < <(count beta)
check "default quota: 30 parallel creations over 30 stored leave $nw workloads (<= 50)" \
	[ "$nw" -le 50 ]
check "...every 201 is a stored workload ($(ncode 201) x 201)" \
	[ "$(( $(ncode 201) + 30 ))" = "$nw" ]
check "...answers are only 201, 409 and 503" only_codes 30 "201 409 503"
# Nothing stays claimed once the commits are done: what a deletion
# frees can be used again.
for n in $(acurl "$URL/v1/tenants/beta/workloads" | jq -r '.items[:2][].metadata.name'); do
	acurl -o /dev/null -X DELETE "$URL/v1/tenants/beta/workloads/$n"
done
ok=0
for i in 1 2 3; do
	[ "$(put_wl beta s$i 2)" = 201 ] && ok=$((ok + 1))
done
read -r nw ni < <(count beta)
check "...after 2 deletions 2 of 3 more are admitted (got $ok), $nw workloads" \
	sh -c "[ $ok = 2 ] && [ $nw = 50 ]"

# An explicit Quota object: instances=100.
echo '{"kind":"Quota","metadata":{"name":"q","tenant":"gamma"},"spec":{"instances":100,"workloads":1000}}' |
	$B apply -f - >/dev/null
race 20 POST /v1/tenants/gamma/workloads "$(wl gamma NAME 50)"
read -r nw ni < <(count gamma)
check "Quota object: 20 parallel creations of 50 instances leave $ni instances (<= 100)" \
	[ "$ni" -le 100 ]
check "...2 admitted ($(ncode 201) x 201)" [ "$(ncode 201)" = 2 ]

# Replacing: 20 workloads of 1 replica, scaled to 10 each at once; the
# increase (9 each) is what counts.
for i in $(seq 0 19); do
	[ "$(put_wl delta r$i 1)" = 201 ] || fail "delta/r$i not created"
done
race 20 PUT /v1/tenants/delta/workloads/NAME "$(wl delta NAME 10)"
read -r nw ni < <(count delta)
check "20 parallel scale-ups from 1 to 10 replicas leave $ni instances (<= 100)" \
	[ "$ni" -le 100 ]
check "...8 admitted (20 + 8 x 9 = 92; got $(ncode 200) x 200)" [ "$(ncode 200)" = 8 ]
check "...the others refused with 409" only_codes 20 "200 409"
code=$(put_wl delta r19 1)
check "scaling down still works afterwards (got $code)" [ "$code" = 200 ]
stop_bulwarkd
check "no sanitizer report from bulwarkd" \
	sh -c "! grep -q -e 'Sanitizer' -e 'runtime error:' '$T/d/bulwarkd.log'"
finish

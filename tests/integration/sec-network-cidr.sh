#!/bin/bash
# Issue 13, defect 8: a Network's spec.subnet is parsed as an IPv4 CIDR
# (prefix 0..32, host bits zero) and may not claim loopback, this-network,
# link-local, multicast, broadcast, the host's own addresses or a range
# that overlaps any other Network in any tenant, nor the agents' default
# tenant subnets 10.88.0.0/16 (finding 6 of the review of 15411d9).
. "$(dirname "$0")/lib.sh" || exit 99

start_bulwarkd "$T/d" || exit 1
B="$BW/bulwark --config $CONF"
for t in acme beta; do
	echo "{\"kind\":\"Tenant\",\"metadata\":{\"name\":\"$t\"}}" | $B apply -f - >/dev/null
done
net() { # tenant name subnet -> status, body in $T/resp
	acurl -o "$T/resp" -w '%{http_code}' -X PUT -H 'Content-Type: application/json' \
		--data "{\"kind\":\"Network\",\"metadata\":{\"name\":\"$2\",\"tenant\":\"$1\"},\"spec\":{\"subnet\":\"$3\"}}" \
		"$URL/v1/tenants/$1/networks/$2"
}
code=$(net beta good 10.20.0.0/16)
check "10.20.0.0/16 is admitted (got $code)" [ "$code" = 201 ]
code=$(net beta good 10.20.0.0/16)
check "replacing it with the same range is not an overlap with itself (got $code)" [ "$code" = 200 ]
i=0
for s in 127.0.0.0/8 0.0.0.0/8 169.254.0.0/16 1.2.3.4/99 224.0.0.0/4 255.255.255.255/32 \
	224.1.2.0/24 240.0.0.0/8 0.0.0.0/0 10.30.0.1/24 10.1.2/24 010.1.2.0/24 "10.0.0.0/ 8" 10.0.0.0/08 10.0.0.0/-1 1.2.3.4; do
	i=$((i + 1))
	code=$(net acme bad$i "$s")
	check "$s refused: 400 (got $code)" [ "$code" = 400 ]
	check "...naming spec.subnet ($(jq -r .error.message "$T/resp" 2>/dev/null))" \
		sh -c "jq -r .error.message '$T/resp' | grep -q '^spec.subnet'"
done
code=$(net acme steal 10.20.128.0/17)
check "another tenant's range: 409 (got $code)" [ "$code" = 409 ]
check "...naming the network it overlaps ($(jq -r .error.message "$T/resp"))" \
	sh -c "jq -r .error.message '$T/resp' | grep -q 'beta/good'"
# to a tenant, another tenant's network is not named
$B principal create ta -t acme --role tenant-admin --out "$T/p" >/dev/null || fail "create ta"
code=$(curl -s -o "$T/resp" -w '%{http_code}' --cacert "$PKI/ca.crt" --cert "$T/p/ta.crt" \
	--key "$T/p/ta.key" -X PUT -H 'Content-Type: application/json' \
	--data '{"kind":"Network","metadata":{"name":"steal","tenant":"acme"},"spec":{"subnet":"10.20.1.0/24"}}' \
	"$URL/v1/tenants/acme/networks/steal")
check "acme's tenant-admin claims beta's range: 409 (got $code)" [ "$code" = 409 ]
check "...without learning beta's name ($(jq -r .error.message "$T/resp"))" sh -c \
	"jq -r .error.message '$T/resp' | grep -qx 'spec.subnet: \"10.20.1.0/24\" overlaps a network of another tenant'"
code=$(curl -s -o "$T/resp" -w '%{http_code}' --cacert "$PKI/ca.crt" --cert "$T/p/ta.crt" \
	--key "$T/p/ta.key" -X PUT -H 'Content-Type: application/json' \
	--data '{"kind":"Network","metadata":{"name":"pool","tenant":"acme"},"spec":{"subnet":"10.88.1.0/24"}}' \
	"$URL/v1/tenants/acme/networks/pool")
check "finding 6: acme's tenant-admin claims an agent default subnet: 400 (got $code)" [ "$code" = 400 ]
code=$(net acme wide 10.16.0.0/12)
check "a range containing another tenant's: 409 (got $code)" [ "$code" = 409 ]
# Finding 6 of the review of 15411d9 (2026-12): the agents' default tenant
# subnets 10.88.N.0/24 are not Networks, so the pool is reserved.
for s in 10.88.1.0/24 10.88.0.0/16 10.88.254.0/24 10.0.0.0/8; do
	code=$(net acme pool "$s")
	check "finding 6: $s, in the agents' default pool, refused: 400 (got $code)" [ "$code" = 400 ]
	check "...naming the pool ($(jq -r .error.message "$T/resp" 2>/dev/null))" \
		sh -c "jq -r .error.message '$T/resp' | grep -q '^spec.subnet.*10.88.0.0/16'"
done
# the host's own interface addresses (and its listen address, 127.0.0.1 here:
# loopback already)
hostnet=$(ip -4 -o addr show scope global 2>/dev/null | awk '{print $4; exit}')
if [ -n "$hostnet" ]; then
	h=${hostnet%/*}
	code=$(net acme host "${h%.*}.0/24")
	check "${h%.*}.0/24, holding the host's address $h, refused (got $code)" [ "$code" = 400 ]
	check "...naming spec.subnet" sh -c "jq -r .error.message '$T/resp' | grep -q '^spec.subnet.*host'"
else
	echo "skip: no global IPv4 address on this host"
fi
check "no refused network was stored" sh -c \
	"acurl_out=\$(curl -s --cacert '$PKI/ca.crt' --cert '$PKI/admin.crt' --key '$PKI/admin.key' '$URL/v1/networks'); \
	 [ \"\$(echo \"\$acurl_out\" | jq '[.items[].metadata.name] | sort | join(\",\")' -r)\" = good ]"
# Two overlapping creations at once, from two tenants: exactly one wins,
# whichever the commit order (admission claims the range until its commit
# ends).
for round in 1 2 3 4 5; do
	net acme "race$round" "10.6$round.0.0/16" >"$T/r1" &
	p1=$!
	net beta "race$round" "10.6$round.4.0/24" >"$T/r2" &
	p2=$!
	wait $p1 $p2
	got="$(cat "$T/r1") $(cat "$T/r2")"
	case "$got" in
	"201 409" | "409 201") pass "round $round: one of two overlapping creations admitted ($got)" ;;
	*) fail "round $round: overlapping creations answered $got" ;;
	esac
done
finish

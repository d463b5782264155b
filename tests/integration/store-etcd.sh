#!/bin/bash
# The store conformance suite on a 3-member etcd v3 cluster: a throwaway
# CA, member and client certificates, three members on loopback ports
# with TLS and client-certificate authentication on both the client and
# the peer ports, the suite against them, then every member killed and
# reaped. Skips when etcd is not installed.
. "$(dirname "$0")/lib.sh"

command -v etcd >/dev/null || { echo "SKIP: etcd not installed (Debian etcd-server)"; exit 77; }
SUITE="$BW/tests/unit/controlplane/test-store-etcd"
[ -x "$SUITE" ] || { echo "FAIL: $SUITE not built"; exit 1; }

# -- PKI: one CA; members' certificates name 127.0.0.1 for both the
# client and the peer port; the store's client certificate.
P="$T/pki"
mkdir -p "$P"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout "$P/ca.key" -out "$P/ca.crt" -days 1 -subj "/CN=bw-test etcd CA" \
	2>/dev/null || { fail "CA"; finish; }
mkcert() {
	local name=$1 ext=$2
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$P/$name.key" -out "$P/$name.csr" -subj "/CN=$name" 2>/dev/null &&
	openssl x509 -req -in "$P/$name.csr" -CA "$P/ca.crt" -CAkey "$P/ca.key" \
		-CAcreateserial -days 1 -out "$P/$name.crt" \
		-extfile <(printf '%s\n' "$ext") 2>/dev/null
}
mkcert member "subjectAltName=IP:127.0.0.1
extendedKeyUsage=serverAuth,clientAuth" || { fail "member certificate"; finish; }
mkcert client "extendedKeyUsage=clientAuth" || { fail "client certificate"; finish; }

# -- Three members on free loopback ports (client, peer).
# Below the kernel's ephemeral range (32768-60999), so no outgoing
# connection holds one; no socket of any state on it.
port_free() {
	! ss -Htan "sport = :$1" 2>/dev/null | grep -q .
}
base=$((10000 + RANDOM % 20000))
ports=()
while [ ${#ports[@]} -lt 6 ]; do
	port_free $base && ports+=($base)
	base=$((base + 1))
done
cluster=""
for i in 0 1 2; do
	cluster="$cluster${cluster:+,}m$i=https://127.0.0.1:${ports[$((2 * i + 1))]}"
done
endpoints=""
tls="--cert-file=$P/member.crt --key-file=$P/member.key --trusted-ca-file=$P/ca.crt
 --client-cert-auth --peer-cert-file=$P/member.crt --peer-key-file=$P/member.key
 --peer-trusted-ca-file=$P/ca.crt --peer-client-cert-auth"
for i in 0 1 2; do
	cp=${ports[$((2 * i))]}
	pp=${ports[$((2 * i + 1))]}
	endpoints="$endpoints${endpoints:+,}127.0.0.1:$cp"
	# Limits above the store's (store.h): a batch is one transaction
	# of up to 2 * STORE_BATCH_MAX + 1 operations.
	# shellcheck disable=SC2086
	ETCD_UNSUPPORTED_ARCH=${ETCD_UNSUPPORTED_ARCH:-} etcd --name m$i \
		--data-dir "$T/m$i" \
		--listen-client-urls https://127.0.0.1:$cp \
		--advertise-client-urls https://127.0.0.1:$cp \
		--listen-peer-urls https://127.0.0.1:$pp \
		--initial-advertise-peer-urls https://127.0.0.1:$pp \
		--initial-cluster "$cluster" --initial-cluster-state new \
		--initial-cluster-token "bw-$$" \
		--max-txn-ops 32768 --max-request-bytes 67108864 \
		--quota-backend-bytes 4294967296 \
		$tls >"$T/m$i.log" 2>&1 &
	BW_PIDS="$BW_PIDS $!"
done

healthy() {
	etcdctl --endpoints "$endpoints" --cacert "$P/ca.crt" --cert "$P/client.crt" \
		--key "$P/client.key" --dial-timeout 2s --command-timeout 3s \
		endpoint health >/dev/null 2>&1
}
# Up to 60 s of wall time; a member that exited stops the wait.
deadline=$((SECONDS + 60))
until healthy; do
	dead=""
	for p in $BW_PIDS; do kill -0 "$p" 2>/dev/null || dead=1; done
	if [ -n "$dead" ] || [ $SECONDS -ge $deadline ]; then
		for i in 0 1 2; do echo "== m$i"; tail -5 "$T/m$i.log"; done >&2
		fail "the 3-member etcd cluster did not become healthy"
		finish
	fi
	sleep 0.5
done
pass "3-member etcd cluster up on $endpoints (TLS, client certificates)"

# The client port refuses a connection without a client certificate.
check "etcd refuses a client without a certificate" sh -c \
	"! curl -s --cacert '$P/ca.crt' -X POST -d '{}' https://127.0.0.1:${ports[0]}/v3/kv/range >/dev/null"

start=$(date +%s)
if BW_ETCD_ENDPOINTS="$endpoints" BW_ETCD_CA="$P/ca.crt" \
	BW_ETCD_CERT="$P/client.crt" BW_ETCD_KEY="$P/client.key" \
	CMOCKA_MESSAGE_OUTPUT=TAP timeout 300 "$SUITE" >"$T/suite.out" 2>&1; then
	pass "conformance suite on etcd ($(grep -c '^ok' "$T/suite.out") cases, $(($(date +%s) - start)) s)"
else
	cat "$T/suite.out" >&2
	fail "conformance suite on etcd"
fi
cat "$T/suite.out"
finish

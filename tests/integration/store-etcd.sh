#!/bin/bash
# The store conformance suite on a 3-member etcd v3 cluster: a throwaway
# CA, member and client certificates, three members on loopback ports
# with TLS and client-certificate authentication on both the client and
# the peer ports, the suite against them, then every member killed and
# reaped. Skips when etcd is not installed.
. "$(dirname "$0")/lib.sh" || exit 99
. "$(dirname "$0")/etcd-lib.sh" || exit 99

etcd_available || { echo "SKIP: etcd not installed (Debian etcd-server)"; exit 77; }
SUITE="$BW/tests/unit/controlplane/test-store-etcd"
[ -x "$SUITE" ] || { echo "FAIL: $SUITE not built"; exit 1; }

etcd_cluster_start || finish

# The client port refuses a connection without a client certificate.
check "etcd refuses a client without a certificate" sh -c \
	"! curl -s --cacert '$ETCD_PKI/ca.crt' -X POST -d '{}' https://127.0.0.1:${ETCD_PORTS[0]}/v3/kv/range >/dev/null"

start=$(date +%s)
if BW_ETCD_ENDPOINTS="$ETCD_ENDPOINTS" BW_ETCD_CA="$ETCD_PKI/ca.crt" \
	BW_ETCD_CERT="$ETCD_PKI/client.crt" BW_ETCD_KEY="$ETCD_PKI/client.key" \
	CMOCKA_MESSAGE_OUTPUT=TAP timeout 300 "$SUITE" >"$T/suite.out" 2>&1; then
	pass "conformance suite on etcd ($(grep -c '^ok' "$T/suite.out") cases, $(($(date +%s) - start)) s)"
else
	cat "$T/suite.out" >&2
	fail "conformance suite on etcd"
fi
cat "$T/suite.out"
finish

# A throwaway 3-member etcd v3 cluster on loopback (sourced after
# lib.sh): a CA, member and client certificates, TLS and client-
# certificate authentication on the client and peer ports. Members are
# in BW_PIDS, so lib.sh's cleanup kills and reaps them.

etcd_available() {
	command -v etcd >/dev/null && command -v etcdctl >/dev/null
}

# etcd_test_cluster PREFIX: skips the test (exit 77) without etcd, else
# starts the cluster (finishing the test when it cannot) and sets SPEC
# to a store spec under PREFIX.
etcd_test_cluster() {
	etcd_available || { echo "SKIP: etcd not installed (Debian etcd-server)"; exit 77; }
	etcd_cluster_start || finish
	SPEC=$(etcd_store_spec "$1")
}

# etcd_mkcert NAME EXTENSIONS: a P-256 key and certificate of the CA in
# $ETCD_PKI.
etcd_mkcert() {
	local name=$1 ext=$2
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$ETCD_PKI/$name.key" -out "$ETCD_PKI/$name.csr" -subj "/CN=$name" 2>/dev/null &&
	openssl x509 -req -in "$ETCD_PKI/$name.csr" -CA "$ETCD_PKI/ca.crt" \
		-CAkey "$ETCD_PKI/ca.key" -CAcreateserial -days 1 -out "$ETCD_PKI/$name.crt" \
		-extfile <(printf '%s\n' "$ext") 2>/dev/null
}

# Below the kernel's ephemeral range (32768-60999), so no outgoing
# connection holds one; no socket of any state on it.
etcd_port_free() {
	! ss -Htan "sport = :$1" 2>/dev/null | grep -q .
}

etcd_healthy() {
	etcdctl --endpoints "${1:-$ETCD_ENDPOINTS}" --cacert "$ETCD_PKI/ca.crt" \
		--cert "$ETCD_PKI/client.crt" --key "$ETCD_PKI/client.key" \
		--dial-timeout 2s --command-timeout 3s endpoint health >/dev/null 2>&1
}

# etcd_start_member I: starts member mI (after etcd_cluster_start set
# the ports up); its pid in ETCD_MEMBER_PIDS[I].
etcd_start_member() {
	local i=$1 cp=${ETCD_PORTS[$((2 * $1))]} pp=${ETCD_PORTS[$((2 * $1 + 1))]}
	# Limits above the store's (store.h): a batch is one transaction
	# of up to 2 * STORE_BATCH_MAX + 1 operations.
	ETCD_UNSUPPORTED_ARCH=${ETCD_UNSUPPORTED_ARCH:-} etcd --name "m$i" \
		--data-dir "$T/m$i" \
		--listen-client-urls "https://127.0.0.1:$cp" \
		--advertise-client-urls "https://127.0.0.1:$cp" \
		--listen-peer-urls "https://127.0.0.1:$pp" \
		--initial-advertise-peer-urls "https://127.0.0.1:$pp" \
		--initial-cluster "$ETCD_CLUSTER" --initial-cluster-state new \
		--initial-cluster-token "bw-$$" \
		--max-txn-ops 32768 --max-request-bytes 67108864 \
		--quota-backend-bytes 4294967296 \
		--cert-file="$ETCD_PKI/member.crt" --key-file="$ETCD_PKI/member.key" \
		--trusted-ca-file="$ETCD_PKI/ca.crt" --client-cert-auth \
		--peer-cert-file="$ETCD_PKI/member.crt" --peer-key-file="$ETCD_PKI/member.key" \
		--peer-trusted-ca-file="$ETCD_PKI/ca.crt" --peer-client-cert-auth \
		>"$T/m$i.log" 2>&1 &
	ETCD_MEMBER_PIDS[$i]=$!
	BW_PIDS="$BW_PIDS $!"
}

# etcd_cluster_start: the PKI in $T/pki, three members, and a wait of up
# to 60 s until the cluster is healthy. Sets ETCD_PKI, ETCD_ENDPOINTS
# ("127.0.0.1:P,..."), ETCD_PORTS (client and peer port of each member),
# ETCD_MEMBER_PIDS. Returns 1 (having said why) when it fails.
etcd_cluster_start() {
	local base i
	ETCD_PKI="$T/pki"
	mkdir -p "$ETCD_PKI"
	# A CA's key usage stated: Bulwark's own TLS client (bench/store.sh
	# drives the members' gateway with bw-loadgen) verifies strictly.
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$ETCD_PKI/ca.key" -out "$ETCD_PKI/ca.crt" -days 1 \
		-subj "/CN=bw-test etcd CA" -addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null ||
		{ fail "etcd CA"; return 1; }
	etcd_mkcert member "subjectAltName=IP:127.0.0.1
extendedKeyUsage=serverAuth,clientAuth" || { fail "member certificate"; return 1; }
	etcd_mkcert client "extendedKeyUsage=clientAuth" || { fail "client certificate"; return 1; }
	base=$((10000 + RANDOM % 20000))
	ETCD_PORTS=()
	while [ ${#ETCD_PORTS[@]} -lt 6 ]; do
		etcd_port_free $base && ETCD_PORTS+=($base)
		base=$((base + 1))
	done
	ETCD_CLUSTER=""
	ETCD_ENDPOINTS=""
	for i in 0 1 2; do
		ETCD_CLUSTER="$ETCD_CLUSTER${ETCD_CLUSTER:+,}m$i=https://127.0.0.1:${ETCD_PORTS[$((2 * i + 1))]}"
		ETCD_ENDPOINTS="$ETCD_ENDPOINTS${ETCD_ENDPOINTS:+,}127.0.0.1:${ETCD_PORTS[$((2 * i))]}"
	done
	ETCD_MEMBER_PIDS=()
	for i in 0 1 2; do
		etcd_start_member $i
	done
	etcd_cluster_wait || return 1
	pass "3-member etcd cluster up on $ETCD_ENDPOINTS (TLS, client certificates)"
}

# etcd_cluster_wait: waits up to 60 s of wall time until the members in
# ETCD_MEMBER_PIDS are a healthy cluster; a member that exited stops the
# wait. Returns 1 (having said why) when they are not.
etcd_cluster_wait() {
	local p dead deadline i
	deadline=$((SECONDS + 60))
	until etcd_healthy; do
		dead=""
		for p in "${ETCD_MEMBER_PIDS[@]}"; do kill -0 "$p" 2>/dev/null || dead=1; done
		if [ -n "$dead" ] || [ $SECONDS -ge $deadline ]; then
			for i in 0 1 2; do echo "== m$i"; tail -5 "$T/m$i.log"; done >&2
			fail "the 3-member etcd cluster did not become healthy"
			return 1
		fi
		sleep 0.5
	done
}

# etcd_store_spec PREFIX: the store spec bulwarkd --store takes for the
# cluster, with the test's client certificate.
etcd_store_spec() {
	echo "etcd://$ETCD_ENDPOINTS/$1?ca=$ETCD_PKI/ca.crt&cert=$ETCD_PKI/client.crt&key=$ETCD_PKI/client.key"
}

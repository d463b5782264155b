#!/bin/bash
# No private key in clear under the data directory (issue 15, Done-means
# item 3; docs/identity.md "Server TLS key"). bulwarkd with an enrolled
# node agent: every file of its data directory and of the agent's state
# directory is checked for
#   - PEM private keys (-----BEGIN ... PRIVATE KEY-----, any type,
#     encrypted or not),
#   - DER private keys (any file that `openssl pkey -inform DER` parses),
# and the only ones allowed are the two human client credentials,
# pki/admin.key and pki/auditor.key. The server's TLS key is a TPM-wrapped
# object (pki/server.key.tpm); the server still proves it over TLS (the
# served certificate is server.crt and verifies against the CA), the CLI
# and the agent connect, and a restart serves the same key. A clear
# server.key left by an earlier version is replaced and removed at start.
# --server-name 127.0.0.2 puts the address in the certificate (reissued at
# start for the same key), so curl verifies https://127.0.0.2:PORT; a bad
# name is refused at start, before anything is created in the data
# directory.
# Not checked here: the development swtpm's state (tpm/tpm2-00.permall)
# holds that software TPM's seeds unencrypted (docs/threat-model.md).
. "$(dirname "$0")/lib.sh" || exit 99
. "$(dirname "$0")/identity-lib.sh" || exit 99

D="$T/d"

# clear_keys DIR...: every file under DIR holding a PEM or DER private key
clear_keys() {
	local f
	grep -rlE -- '-----BEGIN ([A-Z0-9]+ )*PRIVATE KEY-----' "$@" 2>/dev/null
	find "$@" -type f -size -64k 2>/dev/null | while read -r f; do
		openssl pkey -inform DER -in "$f" -passin pass: -noout >/dev/null 2>&1 &&
			echo "$f"
	done
}

# only_human_keys DIR...: the clear keys are exactly the two human ones
only_human_keys() {
	local found
	found=$(clear_keys "$@" | sort -u | tr '\n' ' ')
	echo "clear private keys: ${found:-none}"
	[ "$found" = "$D/pki/admin.key $D/pki/auditor.key " ]
}

served_pub() {
	openssl s_client -connect "127.0.0.1:$PORT" </dev/null 2>/dev/null |
		openssl x509 -noout -pubkey 2>/dev/null
}

# the node attests every second, so it reports soon after a restart
mkdir -p "$D" && echo '{"attestation": {"interval_seconds": 1, "stale_after_seconds": 6}}' \
	>"$D/bulwarkd.conf"
start_bulwarkd "$D" || { echo "bulwarkd did not start"; exit 1; }
B="$BW/bulwark --config $CONF"
enrol_nodes 60 n1 || finish

check "only pki/admin.key and pki/auditor.key are clear keys (data and agent state)" \
	only_human_keys "$D" "$T/state-n1"
check "no pki/server.key" test ! -e "$D/pki/server.key"
check "the server key is a TPM-wrapped blob, 0600" \
	test "$(stat -c %a "$D/pki/server.key.tpm" 2>/dev/null)" = 600
check "the served certificate is server.crt" \
	test "$(served_pub)" = "$(openssl x509 -noout -pubkey -in "$D/pki/server.crt")"
check "the served certificate verifies against the CA" \
	sh -c "openssl s_client -connect 127.0.0.1:$PORT -CAfile '$PKI/ca.crt' -verify_return_error \
		-verify_hostname localhost </dev/null 2>&1 | grep -q 'Verify return code: 0'"
check "TLS 1.2 handshakes are signed by the TPM key too" \
	sh -c "openssl s_client -tls1_2 -connect 127.0.0.1:$PORT -CAfile '$PKI/ca.crt' \
		-verify_return_error </dev/null 2>&1 | grep -q 'Verify return code: 0'"
check "the CLI connects" $B get tenants
check "the log says where the key is" grep -q 'server TLS key: in the TPM' "$D/bulwarkd.log"
n1_tls_ok() { [ "$(acurl "$URL/v1/nodes/n1" | jq -r .status.last_attested_unix)" -gt "$1" ]; }

# restart: the same key and certificate come back from the TPM blob
SERIAL=$(openssl x509 -noout -serial -in "$D/pki/server.crt")
PUB=$(served_pub)
stop_bulwarkd
# on the same port, where the agent reconnects
start_bulwarkd "$D" --listen "127.0.0.1:$PORT" || { fail "bulwarkd did not restart"; finish; }
check "after a restart the same key is served" test "$(served_pub)" = "$PUB"
check "... with the same certificate" \
	test "$(openssl x509 -noout -serial -in "$D/pki/server.crt")" = "$SERIAL"
check "the CLI connects after the restart" $B get tenants
now=$(date +%s)
check "the agent reports after the restart" wait_for 30 n1_tls_ok "$now"
check "still only the human keys in clear" only_human_keys "$D" "$T/state-n1"

# migration: a clear server.key as earlier versions wrote it
stop_bulwarkd
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out "$D/pki/server.key" 2>/dev/null
chmod 600 "$D/pki/server.key"
check "planted a clear server.key" test -s "$D/pki/server.key"
start_bulwarkd "$D" || { fail "bulwarkd did not start with a clear server.key"; finish; }
check "the clear server.key is removed at start" test ! -e "$D/pki/server.key"
check "the removal is logged" grep -q 'clear server.key.*removed' "$D/bulwarkd.log"
check "the CLI connects after the migration" $B get tenants
check "no clear key but the human ones after the migration" only_human_keys "$D" "$T/state-n1"

# --server-name with an address (bulwarkd(8)): an iPAddress name, so a
# client reaching the server at 127.0.0.2 (lo answers all of 127/8)
# verifies it; a changed set of names reissues server.crt at start, for
# the same TPM-held key. (the migration's start listens on 127.0.0.1)
stop_bulwarkd
start_bulwarkd "$D" --listen 0.0.0.0:0 || { fail "bulwarkd did not start on 0.0.0.0"; finish; }
by_addr() { curl -s --cacert "$PKI/ca.crt" -o /dev/null "https://127.0.0.2:$PORT/healthz"; }
by_addr
check "without --server-name 127.0.0.2, https://127.0.0.2 fails verification (curl 60)" test $? = 60
SERIAL=$(openssl x509 -noout -serial -in "$D/pki/server.crt")
PUB=$(served_pub)
stop_bulwarkd
start_bulwarkd "$D" --listen "0.0.0.0:$PORT" --server-name 127.0.0.2 --server-name fd00::7 \
	--server-name bulwark.example || { fail "bulwarkd did not start with --server-name 127.0.0.2"; finish; }
check "with --server-name 127.0.0.2, https://127.0.0.2 verifies" by_addr
check "server.crt was reissued for the new names" \
	test "$(openssl x509 -noout -serial -in "$D/pki/server.crt")" != "$SERIAL"
check "... for the same TPM-held key" test "$(served_pub)" = "$PUB"
# has_sans NAME...: server.crt's subjectAltName has exactly these, any order
has_sans() {
	[ "$(openssl x509 -noout -ext subjectAltName -in "$D/pki/server.crt" |
		sed -n 's/^ *//; 2p' | tr -d ' ' | tr , '\n' | sort | tr '\n' ' ')" = \
	  "$(printf '%s\n' "$@" | sort | tr '\n' ' ')" ]
}
check "... with the addresses as IP names and the name as a DNS name" \
	has_sans DNS:localhost DNS:bulwark.example IPAddress:127.0.0.1 IPAddress:0:0:0:0:0:0:0:1 \
		IPAddress:127.0.0.2 IPAddress:FD00:0:0:0:0:0:0:7
stop_bulwarkd
timeout 120 "$BW/bulwarkd" --data-dir "$D" --listen 127.0.0.1:0 --server-name bad_name >"$T/badname.log" 2>&1
check "a --server-name neither a DNS name nor an address is refused at start" test $? != 0
check "... naming it" grep -qF 'server name \"bad_name\": character at position 4' "$T/badname.log"
# checked before anything is made: on an empty data directory a bad name
# leaves it empty (no TPM state, no bulwarkd.conf, no pki/)
for bad in bad_name 10.0.0.256 ::ffff:10.0.0.1; do
	E="$T/empty-$bad"
	mkdir "$E"
	timeout 120 "$BW/bulwarkd" --data-dir "$E" --listen 127.0.0.1:0 \
		--server-name "$bad" >"$T/badname-empty.log" 2>&1
	check "--server-name $bad on an empty data directory is refused" test $? != 0
	check "... saying why" grep -qF "\\\"$bad\\\": " "$T/badname-empty.log"
	check "... and leaves the directory empty" test -z "$(ls -A "$E")"
done
finish

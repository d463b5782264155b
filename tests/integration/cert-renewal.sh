#!/bin/bash
# Server certificate renewal (issue 15, "Certificate lifetime", Done-means
# item 8; docs/identity.md). bulwarkd issues its server certificate for
# 20 s (--server-cert-lifetime) and renews it at two thirds of that; a
# `bulwark watch` opened on the first certificate and an enrolled node
# agent (own swtpm, Trusted, re-attesting every second) run past the first
# certificate's expiry. Then: the served certificate is another one
# (serial, notAfter) and the first one has expired; the watch is still
# open and printed changes made after the renewal; new CLI requests
# succeed; the node is still Trusted and attested after the expiry;
# pki.server_renew records are in the trail; /healthz shows the served
# certificate's notAfter and the CA's. A failed renewal is logged, audited
# and counted in /healthz, and retried. Without renewal (the first
# certificate served by openssl s_server) the CLI and curl fail. Stopped
# past its certificate's end, bulwarkd starts with a new one. Each renewal
# makes a new key in the TPM (pki/server.key.tpm; no clear server.key).
. "$(dirname "$0")/lib.sh" || exit 99
. "$(dirname "$0")/identity-lib.sh" || exit 99

LIFE=20
D="$T/d"
# the node attests every second; its own certificate outlives the test
mkdir -p "$D" && echo '{"attestation": {"interval_seconds": 1, "stale_after_seconds": 6,
	"node_certificate_seconds": 3600}}' >"$D/bulwarkd.conf"
start_bulwarkd "$D" --server-cert-lifetime $LIFE || { echo "bulwarkd did not start"; exit 1; }
B="$BW/bulwark --config $CONF"
A="$BW/bulwark --config $AUDITOR"

# The first certificate and its TPM-wrapped key.
cp "$PKI/server.crt" "$T/old.crt"
cp "$PKI/server.key.tpm" "$T/old.key.tpm"
$B watch -o json >"$T/watch.out" 2>"$T/watch.err" &
WATCH=$!
BW_PIDS="$BW_PIDS $WATCH"

# epoch TIME: seconds since 1970 of TIME; fails for an empty or null TIME
epoch() { [ -n "$1" ] && [ "$1" != null ] && date -d "$1" +%s; }
# /healthz with details (the CA copy: the test takes ca.crt away below)
cp "$PKI/ca.crt" "$T/ca.crt"
hz() { curl -gs --cacert "$T/ca.crt" --cert "$PKI/admin.crt" --key "$PKI/admin.key" "$URL/healthz"; }

# served FIELD: -serial or -enddate of the certificate the server presents
served() {
	openssl s_client -connect "127.0.0.1:$PORT" </dev/null 2>/dev/null |
		openssl x509 -noout "$1" 2>/dev/null
}
OLD_SERIAL=$(openssl x509 -noout -serial -in "$T/old.crt")
OLD_END=$(openssl x509 -noout -enddate -in "$T/old.crt")
check "the first certificate lives $LIFE s (plus the 300 s backdating)" \
	test "$(( $(epoch "${OLD_END#notAfter=}") - $(epoch "$(openssl x509 -noout -startdate -in "$T/old.crt" | sed 's/notBefore=//')") ))" = $((LIFE + 300))
echo '{"kind":"Tenant","metadata":{"name":"before-renewal"}}' | $B apply -f - >/dev/null
watch_open() { grep -q '"name":"before-renewal"' "$T/watch.out"; }
check "watch open (it printed a change)" wait_for 10 watch_open
check "... on the first certificate" test "$(served -serial)" = "$OLD_SERIAL"

enrol_nodes 60 n1 || finish

# Past the first certificate's end, with a margin for the agent to report.
old_end_s=$(epoch "${OLD_END#notAfter=}")
while [ "$(date +%s)" -le $((old_end_s + 3)) ]; do sleep 1; done

check "the first certificate has expired" \
	sh -c "! openssl x509 -checkend 0 -noout -in '$T/old.crt' >/dev/null"
NEW_SERIAL=$(served -serial)
NEW_END=$(served -enddate)
check "a renewed certificate is served (serial $OLD_SERIAL -> $NEW_SERIAL)" \
	test -n "$NEW_SERIAL" -a "$NEW_SERIAL" != "$OLD_SERIAL"
check "the served certificate ends later ($OLD_END -> $NEW_END)" \
	test "$(epoch "${NEW_END#notAfter=}")" -gt "$old_end_s"
check "the served certificate verifies against the CA and is valid now" \
	sh -c "openssl s_client -connect 127.0.0.1:$PORT -CAfile '$PKI/ca.crt' -verify_return_error \
		-verify_hostname localhost </dev/null 2>&1 | grep -q 'Verify return code: 0'"
check "server.crt on disk is a renewed one" \
	test "$(openssl x509 -noout -serial -in "$PKI/server.crt")" != "$OLD_SERIAL"
check "the renewed key is a new one in the TPM (server.key.tpm, 0600)" \
	sh -c "test \"\$(stat -c %a '$PKI/server.key.tpm')\" = 600 &&
	       ! cmp -s '$PKI/server.key.tpm' '$T/old.key.tpm'"
check "... certified by the served certificate" \
	test "$(openssl s_client -connect "127.0.0.1:$PORT" </dev/null 2>/dev/null |
		openssl x509 -noout -pubkey)" != "$(openssl x509 -noout -pubkey -in "$T/old.crt")"
check "no clear server.key" test ! -e "$PKI/server.key"

# the watch: still running, and it sees a change made now
check "the watch is still running" kill -0 $WATCH
echo '{"kind":"Tenant","metadata":{"name":"after-renewal"}}' | $B apply -f - >/dev/null
check "a new CLI request succeeds after the renewal" \
	sh -c "$B get tenants -o json | jq -en 'input | .items[] | select(.metadata.name==\"after-renewal\")' >/dev/null"
seen() { grep -q '"name":"after-renewal"' "$T/watch.out"; }
check "the watch printed a change made after the renewal" wait_for 10 seen
check "the watch did not end" sh -c "! grep -q 'watch ended' '$T/watch.err'"

# the node: Trusted, and attested after the first certificate expired
reported_after() {
	[ "$(acurl "$URL/v1/nodes/n1" | jq -r .status.last_attested_unix)" -gt "$old_end_s" ]
}
check "the node's agent attested after the first certificate expired" wait_for 15 reported_after
check "the node is still Trusted" is_state n1 Trusted
check "the agent logged no expired certificate" sh -c "! grep -qi 'expired' '$T/agent-n1.log'"

# the trail
renewals() {
	$A audit search --action pki.server_renew -o json |
		jq -en --arg s "$(echo "${OLD_SERIAL#serial=}" | tr A-F a-f | sed 's/^0*//')" \
		'input | [.items[] | select(.outcome == "success" and .actor == "bulwarkd"
		  and (.reason | contains("replaces serial " + $s)))] | length == 1' >/dev/null
}
check "an audit record of the first renewal" wait_for 10 renewals
check "no failed renewal was audited" \
	sh -c "$A audit search --action pki.server_renew --outcome failure -o json | jq -en 'input | .items | length == 0' >/dev/null"

# /healthz: the served certificate's end and the CA's, RFC 3339
same_as_served() {
	local h end
	h=$(hz)
	end=$(served -enddate)
	[ -n "$h" ] && [ "$(epoch "$(echo "$h" | jq -r .certificates.server.not_after)")" = \
	  "$(epoch "${end#notAfter=}")" ] &&
	echo "$h" | jq -en 'input | .certificates.last_renewal | test("^[0-9-]+T[0-9:]+Z$")' >/dev/null &&
	echo "$h" | jq -en 'input | .certificates.renewals >= 1 and .certificates.failures == 0' >/dev/null
}
check "healthz shows the served certificate's notAfter and the last renewal" wait_for 10 same_as_served
ca_end=$(openssl x509 -noout -enddate -in "$PKI/ca.crt" | sed 's/notAfter=//')
check "healthz shows the CA's notAfter" \
	test "$(epoch "$(hz | jq -r .certificates.ca.not_after)")" = \
	"$(epoch "$ca_end")"
check "healthz without a certificate says no more than the status" \
	sh -c "curl -sk $URL/healthz | jq -en 'input | has(\"certificates\") | not' >/dev/null"

# A failed renewal (ca.crt gone) is logged, audited and counted while the
# current certificate keeps serving; once ca.crt is back a retry renews.
# (taken away a second before the next renewal is due, so that the
# failure comes at once)
renewals_now=$(hz | jq .certificates.renewals)
due=$(epoch "$(hz | jq -r .certificates.server.renew_at)")
while [ "$(date +%s)" -lt $((due - 1)) ]; do sleep 0.2; done
mv "$PKI/ca.crt" "$T/ca.crt.away"
serving=$(served -serial)
failed() {
	hz | jq -en 'input | .certificates.failures >= 1 and
		(.certificates.last_error | contains("ca.crt"))' >/dev/null
}
check "healthz counts a failed renewal and says why" wait_for 20 failed
mv "$T/ca.crt.away" "$PKI/ca.crt"
check "the certificate renewed before keeps serving" test "$(served -serial)" = "$serving"
check "the failure is logged" grep -q 'server certificate renewal failed: .*ca.crt.*still serving' "$D/bulwarkd.log"
check "the failure is audited" \
	sh -c "$A audit search --action pki.server_renew --outcome failure -o json |
		jq -en 'input | .items[0].reason | contains(\"next attempt in\")' >/dev/null"
recovered() {
	hz | jq -en --argjson n "$renewals_now" \
		'input | .certificates.renewals > $n and .certificates.last_error == null' >/dev/null
}
check "a retry renews once ca.crt is back" wait_for 20 recovered
check "the node is still Trusted" is_state n1 Trusted

# Without renewal: an expired certificate, served as is, is refused.
# The first one's key never left the TPM, so a throwaway CA issues one
# that ended yesterday, with a clear key for openssl s_server.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-384 -nodes \
	-keyout "$T/tca.key" -out "$T/tca.crt" -subj /CN=test-ca -days 2 \
	-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign 2>/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-384 -nodes -keyout "$T/old.key" \
	-subj /CN=bulwarkd -out "$T/old.csr" 2>/dev/null
printf '%s\n' subjectAltName=DNS:localhost,IP:127.0.0.1 extendedKeyUsage=serverAuth \
	basicConstraints=CA:FALSE keyUsage=critical,digitalSignature >"$T/old.ext"
openssl x509 -req -in "$T/old.csr" -CA "$T/tca.crt" -CAkey "$T/tca.key" -days -1 \
	-extfile "$T/old.ext" -out "$T/old-srv.crt" 2>/dev/null
check "the throwaway server certificate has expired" \
	sh -c "openssl verify -CAfile '$T/tca.crt' '$T/old-srv.crt' 2>&1 | grep -q 'has expired'"
# (on a free port; another one if someone takes it first)
up() { (exec 3<>"/dev/tcp/127.0.0.1/$P2") 2>/dev/null; }
SSRV=
for _ in $(seq 10); do
	P2=$((20000 + RANDOM % 40000))
	ss -Htln "( sport = :$P2 )" | grep -q . && continue
	openssl s_server -quiet -accept "127.0.0.1:$P2" -cert "$T/old-srv.crt" -key "$T/old.key" -www \
		>/dev/null 2>>"$T/s_server.err" &
	SSRV=$!
	BW_PIDS="$BW_PIDS $SSRV"
	wait_for 10 up && kill -0 $SSRV 2>/dev/null && break
	kill -TERM $SSRV 2>/dev/null; wait $SSRV 2>/dev/null
	SSRV=
done
[ -n "$SSRV" ] || { fail "openssl s_server did not start"; cat "$T/s_server.err" >&2; }
curl -s --cacert "$T/tca.crt" "https://localhost:$P2/" -o /dev/null 2>"$T/curl.err"
check "without renewal curl refuses the expired certificate (exit 60)" test $? = 60
jq --arg u "https://127.0.0.1:$P2" --arg ca "$T/tca.crt" '.server = $u | .ca = $ca' \
	"$CONF" >"$T/old.conf"
"$BW/bulwark" --config "$T/old.conf" get tenants >"$T/cli-old.out" 2>&1
check "without renewal the CLI fails" test $? != 0
check "the CLI says the certificate expired" grep -qi 'expired' "$T/cli-old.out"
[ -z "$SSRV" ] || { kill -TERM $SSRV; wait $SSRV 2>/dev/null; }

kill -TERM $WATCH; wait $WATCH 2>/dev/null

# Stopped past the end of its certificate, bulwarkd reissues it at start.
stop_bulwarkd
expired=$(openssl x509 -noout -serial -in "$PKI/server.crt")
wait_for 30 sh -c "! openssl x509 -checkend 0 -noout -in '$PKI/server.crt' >/dev/null" ||
	fail "server.crt did not expire"
check "bulwarkd starts with an expired server.crt" start_bulwarkd "$D" --server-cert-lifetime $LIFE
check "... and serves a new certificate" test -n "$(served -serial)" -a "$(served -serial)" != "$expired"
check "... which the CLI accepts" sh -c "$B get nodes n1 >/dev/null"
finish

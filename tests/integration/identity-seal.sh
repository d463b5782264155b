#!/bin/bash
# bulwarkd's TPM identity (issue 4, Done-means 4 and 5): a private swtpm
# when no TPM exists, reported as development-only; the CA key sealed
# (never in clear on disk); a changed configuration file changes PCR 13,
# so the daemon refuses to start naming it; the audited --reseal brings
# it back; audit checkpoints are signed by the TPM key and verify only
# with its exported public key.
. "$(dirname "$0")/lib.sh" || exit 99

D="$T/d"
start_bulwarkd "$D" || { echo "bulwarkd did not start"; exit 1; }

# -- the TPM: a private, development-only swtpm, said loudly and recorded
check "the log warns that a software TPM is for development" \
	grep -q 'NO HARDWARE TPM: using a private software TPM' "$D/bulwarkd.log"
check "tpm2-tss does not write to the JSON log" \
	sh -c "! grep -v '^{' '$D/bulwarkd.log' | grep -q ."
check "swtpm runs as bulwarkd's child" \
	sh -c "ps -o ppid= -C swtpm | grep -qw $BWD_PID"
acurl "$URL/v1/nodes" | jq '.items[0].status.tpm' >"$T/tpm.json"
check "the local node reports a software TPM" jq -e '.kind == "software"' "$T/tpm.json"
check "... marked development-only" jq -e '.development_only == true' "$T/tpm.json"
check "... with the configuration digest measured into PCR 13" jq -e \
	".bulwark_pcr == 13 and .config_sha256 == \"$(sha256sum "$D/bulwarkd.conf" | cut -c1-64)\"" "$T/tpm.json"
check "a default configuration file was created" jq -e '.attestation.interval_seconds == 60' "$D/bulwarkd.conf"

# -- sealed secrets: the CA key is wrapped, never in clear
check "no clear CA key" [ ! -e "$PKI/ca.key" ]
check "the CA key is sealed" [ -s "$PKI/ca.key.sealed" ]
check "the sealed CA key holds no PEM" sh -c "! grep -q 'PRIVATE KEY' '$PKI/ca.key.sealed'"
check "the root secret is a TPM sealed blob" sh -c "head -c 4 '$D/identity/root.sealed' | grep -q BWS1"
check "no software checkpoint key" [ ! -e "$PKI/audit-checkpoint.key" ]

# -- Done-means 5: TPM-signed checkpoints
stop_bulwarkd
PUB="$PKI/audit-checkpoint.pub.pem"
check "bulwark audit verify validates TPM-signed checkpoints" \
	"$BW/bulwark" audit verify --key-file "$PUB" "$D/audit"
check "bulwark-verify --key validates them too" "$BW/bulwark-verify" --key "$PUB" "$D/audit"
openssl ecparam -name secp384r1 -genkey -noout -out "$T/other.key" 2>/dev/null
openssl ec -in "$T/other.key" -pubout -out "$T/other.pub" 2>/dev/null
"$BW/bulwark" audit verify --key-file "$T/other.pub" "$D/audit" >"$T/v.out" 2>&1
check "checkpoints do not verify with a software key not the appliance's" [ $? != 0 ]
check "... reported as BAD_SIGNATURE" grep -q BAD_SIGNATURE "$T/v.out"

# -- Done-means 4: a changed configuration changes PCR 13
cp "$D/bulwarkd.conf" "$T/previous.conf"
jq '.attestation.interval_seconds = 30' "$T/previous.conf" >"$D/bulwarkd.conf"
"$BW/bulwarkd" --data-dir "$D" --listen 127.0.0.1:0 >"$T/refused.log" 2>&1 &
p=$!
wait $p
rc=$?
check "bulwarkd refuses to start after the change (exit $rc)" [ $rc != 0 ]
check "the refusal names PCR 13" grep -q 'PCR 13 changed since it was sealed' "$T/refused.log"
check "no swtpm left behind" sh -c "! ps -o ppid= -C swtpm | grep -qw $p"

# --reseal is refused while bulwarkd runs, and needs the previous file
cp "$D/bulwarkd.conf" "$T/new.conf"
cp "$T/previous.conf" "$D/bulwarkd.conf"
start_bulwarkd "$D" || fail "restart with the previous configuration"
"$BW/bulwarkd" --data-dir "$D" --reseal --previous-config "$T/previous.conf" >"$T/busy.log" 2>&1
check "--reseal refuses while bulwarkd runs" [ $? != 0 ]
check "... saying so" grep -q 'bulwarkd is running' "$T/busy.log"
stop_bulwarkd
cp "$T/new.conf" "$D/bulwarkd.conf"
SUDO_USER=alice "$BW/bulwarkd" --data-dir "$D" --reseal --previous-config "$T/previous.conf" \
	--reason "shorter attestation interval" >"$T/reseal.log" 2>&1
check "the planned re-seal succeeds" [ $? = 0 ]
check "the re-seal is in the audit trail with its actor and reason" sh -c \
	"cat '$D'/audit/seg-*.log | grep -a ' action=identity.reseal ' | grep 'actor=alice' | grep -q 'shorter%20attestation%20interval'"
start_bulwarkd "$D" || fail "bulwarkd starts with the new configuration after --reseal"
acurl "$URL/v1/identity" >"$T/id.json"
check "GET /v1/identity reports the new configuration's digest" jq -e \
	".tpm.config_sha256 == \"$(sha256sum "$T/new.conf" | cut -c1-64)\" and .tpm.development_only == true" "$T/id.json"
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$PKI/ca.crt" "$URL/v1/identity")
check "/v1/identity needs a client certificate (got $code)" [ "$code" = 401 ]
# a re-seal cannot be replayed against a file that is not the sealed one
stop_bulwarkd
"$BW/bulwarkd" --data-dir "$D" --reseal --previous-config "$T/previous.conf" >"$T/wrong.log" 2>&1
check "--reseal with the wrong previous configuration fails" [ $? != 0 ]
check "... naming PCR 13" grep -q 'PCR 13' "$T/wrong.log"
check "the trail still verifies with the TPM key" \
	"$BW/bulwark" audit verify --key-file "$PUB" "$D/audit"
finish

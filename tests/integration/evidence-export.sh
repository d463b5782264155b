#!/bin/bash
# Issue 7, Done-means 4 through the running appliance: the auditor exports
# a signed evidence bundle, bulwark-verify checks it offline with only the
# bundle and the appliance's checkpoint public key; altering any file
# inside, or one audit record, makes it fail naming the file or record.
# Issue 20, Done-means 3: every bundle carries bulwarkd's TPM quote over
# its manifest's digest; a bundle whose quote was removed, replayed from
# a second bundle, or whose AK was replaced fails naming why. Golden
# values edited into root.sealed are refused at export.
. "$(dirname "$0")/lib.sh" || exit 99

start_bulwarkd "$T/d" || exit 1
B="$BW/bulwark --config $CONF"
A="$BW/bulwark --config $AUDITOR"
echo '{"kind":"Tenant","metadata":{"name":"acme"}}' | $B apply -f - >/dev/null
$B evidence export -o "$T/admin.tar" 2>"$T/admin.err"; rc=$?
check "the administrator may not export evidence (exit 6, got $rc)" [ $rc = 6 ]
check "no partial file is left" [ ! -e "$T/admin.tar.part" ] && [ ! -e "$T/admin.tar" ]
$A evidence export --since 2000-01-01 -o "$T/b.tar" >"$T/exp.out" 2>&1
check "the auditor exports a bundle" [ -s "$T/b.tar" ]
KEY="$T/d/pki/audit-checkpoint.pub.pem"
[ -f "$KEY" ] || KEY="$T/d/audit/checkpoint-key.pem"
check "bulwark-verify accepts the bundle" "$BW/bulwark-verify" --key "$KEY" "$T/b.tar"
"$BW/bulwark-verify" --key "$KEY" "$T/b.tar" >"$T/ok.out" 2>&1
check "the bundle's TPM quote verifies, over the sealed PCRs 0,2,4,7,13" \
	grep -q '^tpm: quote verified: .*PCRs 0,2,4,7,13 equal the golden values' "$T/ok.out"
check "the golden values are those the root secret is sealed to" \
	sh -c "tar -xOf '$T/b.tar' manifest.json | jq -e '.tpm[\"golden-source\"] | test(\"root.sealed\")' >/dev/null"
tar -tf "$T/b.tar" >"$T/members"
check "the bundle holds assessment results, the SSP, audit segments and a manifest" \
	sh -c "grep -q assessment-results '$T/members' && grep -qi ssp '$T/members' &&
	       grep -q 'seg-' '$T/members' && grep -q manifest '$T/members'"
check "the bundle holds the assessment plan and the component definition" \
	sh -c "grep -qx assessment-plan.json '$T/members' &&
	       grep -qx bulwark-component-definition.json '$T/members'"
if command -v node >/dev/null; then
	mkdir -p "$T/refs" && tar -xf "$T/b.tar" -C "$T/refs"
	(cd "$T/refs" && node "$top_srcdir/tests/oscal/refs.js" $(ls *.json | grep -vx manifest.json)) \
		>"$T/refs.out" 2>&1
	grep -q '^DANGLING' "$T/refs.out" && cat "$T/refs.out"
	check "every OSCAL reference in the bundle resolves (results import the plan)" \
		sh -c "! grep -q '^DANGLING' '$T/refs.out' &&
		       grep -q '^resolved assessment-results.json: .*scope: assessment-results.json, assessment-plan.json, bulwark-ssp.json' '$T/refs.out' &&
		       { ! grep -q '^resolved poam.json' '$T/refs.out' ||
		         grep -q '^resolved poam.json: .*scope: poam.json, bulwark-ssp.json' '$T/refs.out'; }"
fi

# alter one file at a time and repack in the same order
tamper() { # member sed-expression
	rm -rf "$T/x" && mkdir -p "$T/x" && tar -xf "$T/b.tar" -C "$T/x" &&
		sed -i "$2" "$T/x/$1" && tar -cf "$T/t.tar" -C "$T/x" $(cat "$T/members")
}
for m in $(grep -E 'assessment-results|ssp' "$T/members" | head -2); do
	tamper "$m" 's/"version"/"versioN"/' || { fail "tamper $m"; continue; }
	"$BW/bulwark-verify" --key "$KEY" "$T/t.tar" >"$T/v.out" 2>&1; rc=$?
	check "altered $m: verify fails (exit $rc)" [ $rc = 1 ]
	check "altered $m: the report names it" grep -qF "$m" "$T/v.out"
done
seg=$(grep 'seg-' "$T/members" | head -1)
tamper "$seg" '3s/outcome=success/outcome=failure/' || fail "tamper $seg"
"$BW/bulwark-verify" --key "$KEY" "$T/t.tar" >"$T/v.out" 2>&1; rc=$?
check "altered audit record: verify fails (exit $rc)" [ $rc = 1 ]
check "altered audit record: the report names the record" grep -Eqi "seq|$seg" "$T/v.out"

# The quote: removed; the quote of a second bundle; another AK.
verify_fails() { # name tar regex problems
	"$BW/bulwark-verify" --key "$KEY" "$2" >"$T/v.out" 2>&1; rc=$?
	check "$1: verify fails (exit $rc)" [ $rc = 1 ]
	check "$1: $(grep -E "$3" "$T/v.out" | head -1 | sed "s/against this bundle.*values: /...: /")" grep -Eq "$3" "$T/v.out"
	check "$1: $4 problem(s)" grep -q "^DAMAGED: $4 problem" "$T/v.out"
}
rm -rf "$T/q" && mkdir -p "$T/q" && tar -xf "$T/b.tar" -C "$T/q"
tar -cf "$T/noq.tar" -C "$T/q" $(grep -v '^tpm/quote.attest$' "$T/members")
verify_fails "quote removed" "$T/noq.tar" '^FAILED QUOTE tpm/quote.attest: the TPM quote is missing' 1
$A evidence export --since 2000-01-01 -o "$T/b2.tar" >/dev/null 2>&1
check "a second bundle verifies" "$BW/bulwark-verify" --key "$KEY" "$T/b2.tar"
tar -xf "$T/b2.tar" -C "$T/q" tpm/quote.attest tpm/quote.sig tpm/quote-pcrs.json
tar -cf "$T/replay.tar" -C "$T/q" $(cat "$T/members")
verify_fails "quote of the second bundle" "$T/replay.tar" \
	'^FAILED QUOTE tpm/quote.attest: .*nonce .*replayed' 1
tar -xf "$T/b.tar" -C "$T/q"
openssl ecparam -name prime256v1 -genkey -noout 2>/dev/null |
	openssl ec -pubout -out "$T/q/tpm/ak.pub.pem" 2>/dev/null
tar -cf "$T/otherak.tar" -C "$T/q" $(cat "$T/members")
verify_fails "another AK" "$T/otherak.tar" \
	'^FAILED QUOTE tpm/quote.attest: .*signature does not verify' 3
check "another AK: the key is named" grep -q '^FAILED QUOTE tpm/ak.pub.pem: not the attestation key' "$T/v.out"

openssl ecparam -name secp384r1 -genkey -noout -out "$T/other.key" 2>/dev/null
openssl ec -in "$T/other.key" -pubout -out "$T/other.pub" 2>/dev/null
"$BW/bulwark-verify" --key "$T/other.pub" "$T/b.tar" >"$T/v.out" 2>&1; rc=$?
check "another trust anchor: verify fails (exit $rc)" [ $rc = 1 ]
# The golden values come from the PCR values stored in root.sealed beside
# the sealed object, outside the TPM's integrity check: edited (its last
# byte, in PCR 13's value), they no longer hash to the object's
# authPolicy and the export is refused instead of recording them.
S="$T/d/identity/root.sealed"
cp -p "$S" "$T/root.sealed.orig"
perl -0777 -i -pe 'substr($_, -1, 1) = chr(ord(substr($_, -1, 1)) ^ 0x5a)' "$S"
check "root.sealed edited" sh -c "! cmp -s '$S' '$T/root.sealed.orig'"
$A evidence export --since 2000-01-01 -o "$T/forged.tar" >"$T/forged.out" 2>&1; rc=$?
check "stored PCR values edited in root.sealed: the export is refused (exit $rc)" \
	sh -c "[ $rc != 0 ] && [ ! -e '$T/forged.tar' ]"
check "the refusal names the authPolicy mismatch" grep -q 'authPolicy' "$T/forged.out"
cp -p "$T/root.sealed.orig" "$S"

check "the export is in the audit trail" \
	sh -c "$A audit search --action evidence.export -o json | jq -e '[.items[] | select(.outcome==\"success\")] | length >= 1' >/dev/null"
finish

#!/bin/bash
# Issue 13, defect 14: a principal's key never leaves its owner. The API
# takes a PEM CSR (self-signature verified, only its public key used, the
# subject set by the server), answers without a key, and the CLI makes
# the key locally by default (or uses --csr FILE --key FILE).
. "$(dirname "$0")/lib.sh" || exit 99

start_bulwarkd "$T/d" || exit 1
B="$BW/bulwark --config $CONF"
echo '{"kind":"Tenant","metadata":{"name":"acme"}}' | $B apply -f - >/dev/null
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out "$T/bob.key" 2>/dev/null
# the CSR asks for more than it may have: the server must ignore its subject
openssl req -new -key "$T/bob.key" -subj "/CN=root/O=system/OU=system-admin" -out "$T/bob.csr"
body=$(jq -n --rawfile c "$T/bob.csr" '{name:"bob",role:"tenant-user",csr:$c}')
code=$(acurl -o "$T/resp" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
	--data "$body" "$URL/v1/tenants/acme/principals")
check "a principal from a CSR: 201 (got $code)" [ "$code" = 201 ]
check "the reply carries no private key" sh -c "jq -e 'has(\"key\") | not' '$T/resp' >/dev/null"
jq -r .certificate "$T/resp" >"$T/bob.crt"
check "the certificate certifies the CSR's key" sh -c \
	"[ \"\$(openssl x509 -in '$T/bob.crt' -noout -pubkey)\" = \"\$(openssl pkey -in '$T/bob.key' -pubout)\" ]"
subj=$(openssl x509 -in "$T/bob.crt" -noout -subject -nameopt RFC2253)
check "the subject is the server's, not the CSR's ($subj)" [ "$subj" = "subject=CN=bob,OU=tenant-user,O=acme" ]
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$PKI/ca.crt" --cert "$T/bob.crt" \
	--key "$T/bob.key" "$URL/v1/tenants/acme/workloads")
check "bob's locally held key works: 200 (got $code)" [ "$code" = 200 ]

# Without a CSR the server makes no key: the request is refused.
code=$(acurl -o "$T/resp" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
	--data '{"name":"eve","role":"tenant-user"}' "$URL/v1/tenants/acme/principals")
check "no CSR: 400 (got $code)" [ "$code" = 400 ]
check "...naming csr" sh -c "jq -r .error.message '$T/resp' | grep -q '^csr: required'"
# A weak key is refused.
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$T/weak.key" 2>/dev/null
openssl req -new -key "$T/weak.key" -subj "/CN=w" -out "$T/weak.csr"
body=$(jq -n --rawfile c "$T/weak.csr" '{name:"weak",role:"tenant-user",csr:$c}')
code=$(acurl -o "$T/resp" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
	--data "$body" "$URL/v1/tenants/acme/principals")
check "an RSA-2048 CSR: 400 (got $code, $(jq -r .error.message "$T/resp"))" [ "$code" = 400 ]

# A CSR whose self-signature does not verify is refused, naming the field.
sed '2s/^\(.\{20\}\)./\1A/;2s/^\(.\{21\}\)./\1B/' "$T/bob.csr" >"$T/bad.csr"
if cmp -s "$T/bad.csr" "$T/bob.csr"; then fail "could not damage the CSR"; fi
for f in bad garbage; do
	[ $f = garbage ] && printf -- '-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n' >"$T/garbage.csr"
	body=$(jq -n --rawfile c "$T/$f.csr" "{name:\"c-$f\",role:\"tenant-user\",csr:\$c}")
	code=$(acurl -o "$T/resp" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
		--data "$body" "$URL/v1/tenants/acme/principals")
	check "$f CSR: 400 (got $code)" [ "$code" = 400 ]
	check "...the error names csr ($(jq -r .error.message "$T/resp" 2>/dev/null))" \
		sh -c "jq -r .error.message '$T/resp' | grep -q '^csr'"
done

# CLI, default: the key is made locally; the config points at it.
check "principal create (CLI, local key)" \
	$B principal create carol -t acme --role tenant-user --out "$T/p" -o json
# the record reaches the trail with the next group commit: poll for it
recorded() {
	local _
	for _ in $(seq 40); do
		$BW/bulwark --config "$AUDITOR" audit search --action principal.create -o json |
			jq -e '[.items[] | select(.object.name == "carol") | .reason | contains("key from a CSR")] == [true]' \
			>/dev/null && return 0
		sleep 0.5
	done
	return 1
}
check "the CLI sent a CSR: the server recorded a principal created from a CSR" recorded
code=$($BW/bulwark --config "$T/p/carol.conf" whoami -o json >"$T/who" 2>&1; echo $?)
check "carol's config works (exit $code)" sh -c "jq -e '.principal==\"carol\"' '$T/who' >/dev/null"
check "carol's key is 0600" [ "$(stat -c %a "$T/p/carol.key")" = 600 ]
# CLI with --csr/--key: the config names the owner's key file, which the
# CLI does not copy.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/dave.key" 2>/dev/null
openssl req -new -key "$T/dave.key" -subj "/CN=dave" -out "$T/dave.csr"
check "principal create --csr --principal-key" \
	$B principal create dave -t acme --role tenant-user --out "$T/p" --csr "$T/dave.csr" --principal-key "$T/dave.key"
check "the config names the owner's key" sh -c "[ \"\$(jq -r .key '$T/p/dave.conf')\" = '$T/dave.key' ]"
check "no key was written next to it" [ ! -e "$T/p/dave.key" ]
check "dave's config works" sh -c "$BW/bulwark --config '$T/p/dave.conf' whoami -o json | jq -e '.principal==\"dave\"' >/dev/null"
finish

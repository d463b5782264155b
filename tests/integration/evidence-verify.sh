#!/bin/sh
# bulwark-verify on evidence bundles: a bundle exported from a real
# trail, a real fixture scan, the SSP and a real PKI (written by
# tests/unit/compliance/test-evidence) verifies; GNU tar reads it and
# openssl + sha256sum verify it without Bulwark code (the format in
# docs/ssp/evidence-bundle.md); repacked unchanged by GNU tar it still
# verifies; altering the results, the SSP, the manifest, the CA chain or
# one audit record, or using another key, makes bulwark-verify exit 1
# and name the file (and the record's seq); usage errors exit 2.
# The TPM quote (made by a software TPM): verified, also by
# tpm2_checkquote and sha256sum alone; a bundle whose quote is missing,
# replayed from another bundle, signed by another TPM's AK, whose PCR
# values were edited or differ from the golden values fails naming why.
# The assessor's own golden values (--golden) catch golden values forged
# in the manifest; --ak-fingerprint pins the attestation key.
set -u
: "${top_srcdir:?}" "${top_builddir:?}"
V=$top_builddir/bulwark-verify
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
ok() { echo "ok: $*"; }

BW_EVIDENCE_OUT=$tmp top_srcdir=$top_srcdir \
    "$top_builddir/tests/unit/compliance/test-evidence" >"$tmp/gen.log" 2>&1 || {
	cat "$tmp/gen.log"; echo "FAIL: bundle generation"; exit 1; }
[ -s "$tmp/bundle.tar" ] || { echo "FAIL: no bundle written"; exit 1; }

# expect CODE OUTFILE ARGS...: runs bulwark-verify, checks the exit code.
expect() {
	want=$1 out=$2; shift 2
	"$V" "$@" >"$out" 2>&1
	got=$?
	[ "$got" -eq "$want" ] || { cat "$out"; return 1; }
}

expect 0 "$tmp/ok.out" --key "$tmp/trust.pem" "$tmp/bundle.tar" &&
    grep -q '^OK: the bundle is intact' "$tmp/ok.out" &&
    ok "intact bundle verifies (exit 0)" || fail "intact bundle"
expect 0 "$tmp/q.out" --quiet --bundle --key "$tmp/trust.pem" "$tmp/bundle.tar" &&
    [ ! -s "$tmp/q.out" ] && ok "--quiet --bundle" || fail "--quiet --bundle"

# Third-party verification: GNU tar, openssl, sha256sum, jq.
mkdir "$tmp/x"
tar -xf "$tmp/bundle.tar" -C "$tmp/x" || fail "GNU tar cannot read the bundle"
if (printf 'bulwark-evidence-manifest v1\n'; cat "$tmp/x/manifest.json") |
    openssl dgst -sha384 -verify "$tmp/trust.pem" -signature "$tmp/x/manifest.sig" \
    >/dev/null; then
	ok "openssl verifies the manifest signature"
else
	fail "openssl rejects the manifest signature"
fi
jq -r '.files[] | "\(.sha256)  \(.name)"' "$tmp/x/manifest.json" >"$tmp/sums"
(cd "$tmp/x" && sha256sum --quiet -c "$tmp/sums") &&
    ok "sha256sum agrees with the manifest ($(wc -l <"$tmp/sums") files)" ||
    fail "sha256sum disagrees with the manifest"
# The audit directory of a full-period bundle is a trail in its own right.
expect 0 "$tmp/dir.out" --key "$tmp/trust.pem" "$tmp/x/audit" &&
    ok "audit-dir mode on the extracted segments" || fail "audit-dir mode"

# The TPM quote, checked without Bulwark code: the AK's signature and the
# nonce, SHA-256 of manifest.json (tpm2_checkquote), and the quoted PCR
# values against the signed PCR digest, the last 32 bytes of the
# TPMS_ATTEST (sha256sum).
grep -q '^tpm: quote verified' "$tmp/ok.out" &&
    ok "$(grep '^tpm:' "$tmp/ok.out")" || fail "the quote is not reported verified"
nonce=$(sha256sum "$tmp/x/manifest.json" | cut -c1-64)
if command -v tpm2_checkquote >/dev/null; then
	tpm2_checkquote -u "$tmp/x/tpm/ak.pub.pem" -m "$tmp/x/tpm/quote.attest" \
	    -s "$tmp/x/tpm/quote.sig" -g sha256 -q "$nonce" >"$tmp/cq.out" 2>&1 &&
	    ok "tpm2_checkquote: signed by tpm/ak.pub.pem over sha256(manifest.json)" ||
	    { cat "$tmp/cq.out"; fail "tpm2_checkquote rejects the quote"; }
else
	echo "skip: no tpm2_checkquote (tpm2-tools)"
fi
signed=$(tail -c 32 "$tmp/x/tpm/quote.attest" | od -An -tx1 | tr -d ' \n')
values=$(jq -r '.values | to_entries | sort_by(.key | tonumber) | .[].value' \
    "$tmp/x/tpm/quote-pcrs.json" | tr -d '\n' |
    perl -e 'print pack("H*", <STDIN>)' | sha256sum | cut -c1-64)
[ "$signed" = "$values" ] && ok "sha256sum: the PCR values hash to the signed digest" ||
    fail "PCR digest $signed, values hash to $values"
jq -e '.tpm.golden == (input | .values)' "$tmp/x/manifest.json" \
    "$tmp/x/tpm/quote-pcrs.json" >/dev/null &&
    ok "jq: the quoted PCR values equal the manifest's golden values" ||
    fail "quoted PCR values differ from the golden values"

list=$(tar -tf "$tmp/bundle.tar")
repack() {	# repack DIR OUT: GNU tar, same order, ustar
	(cd "$1" && tar --format=ustar -cf "$2" $list)
}
repack "$tmp/x" "$tmp/repacked.tar"
expect 0 "$tmp/re.out" --key "$tmp/trust.pem" "$tmp/repacked.tar" &&
    ok "repacked unchanged by GNU tar: still verifies" || fail "GNU tar repack"

# alter NAME SEDEXPR EXPECTED-LINE-REGEX
alter() {
	rm -rf "$tmp/y"; cp -a "$tmp/x" "$tmp/y"
	sed -i "$2" "$tmp/y/$1"
	cmp -s "$tmp/x/$1" "$tmp/y/$1" && { fail "sed did not change $1"; return; }
	repack "$tmp/y" "$tmp/bad.tar"
	if expect 1 "$tmp/bad.out" --key "$tmp/trust.pem" "$tmp/bad.tar" &&
	    grep -Eq "$3" "$tmp/bad.out"; then
		ok "altered $1 -> $(grep -E "$3" "$tmp/bad.out" | head -1)"
	else
		cat "$tmp/bad.out"; fail "altering $1 not reported as /$3/"
	fi
}
alter assessment-results.json 's/"satisfied"/"not-satisfied"/' \
    '^FAILED (DIGEST|SIZE) assessment-results.json'
alter bulwark-ssp.json '0,/"implemented"/s//"planned"/' '^FAILED (DIGEST|SIZE) bulwark-ssp.json'
alter poam.json 's/"open"/"closed"/' '^FAILED (DIGEST|SIZE) poam.json'
alter pki/ca.crt '2s/^./A/' '^FAILED (DIGEST|SIZE) pki/ca.crt'
alter manifest.json '0,/"size": [0-9]*/s//"size": 1/' '^FAILED BAD_SIGNATURE manifest.json'
seg=$(ls "$tmp/x/audit" | grep '^seg-' | sed -n 2p)
line=$(awk 'NR == 10' "$tmp/x/audit/$seg")
seq=$(printf '%s\n' "$line" | sed 's/.* seq=\([0-9]*\) .*/\1/')
alter "audit/$seg" '10s/actor=alice/actor=mallory/' \
    "^FAILED AUDIT audit/$seg: seq $seq MODIFIED"
grep -Eq "^FAILED (DIGEST|SIZE) audit/$seg" "$tmp/bad.out" || fail "segment digest not reported"

# quote_fails TAR REGEX PROBLEMS: bulwark-verify exits 1 printing a line
# matching REGEX, with PROBLEMS problems in all.
quote_fails() {
	if expect 1 "$tmp/q.out" --key "$tmp/trust.pem" "$1" &&
	    grep -Eq "$2" "$tmp/q.out" && grep -q "^DAMAGED: $3 problem" "$tmp/q.out"; then
		ok "$(grep -E "$2" "$tmp/q.out" | head -1)"
	else
		cat "$tmp/q.out"; fail "$1: not reported as /$2/ with $3 problem(s)"
	fi
}
# quote_edit NAME: a copy of the extracted bundle in $tmp/y to edit, then
# repacked by quote_repack (the files of LIST that are there).
quote_edit() { rm -rf "$tmp/y"; cp -a "$tmp/x" "$tmp/y"; }
quote_repack() {
	(cd "$tmp/y" && for f in $list; do [ -e "$f" ] && echo "$f"; done) >"$tmp/ylist"
	(cd "$tmp/y" && tar --format=ustar -cf "$tmp/$1" $(cat "$tmp/ylist"))
}
quote_edit; rm "$tmp/y/tpm/quote.attest"; quote_repack no-quote.tar
quote_fails "$tmp/no-quote.tar" '^FAILED QUOTE tpm/quote.attest: the TPM quote is missing' 1
quote_fails "$tmp/unquoted.tar" '^FAILED QUOTE tpm/quote.attest: the TPM quote is missing' 1
# The quote of another bundle from the same TPM: only its nonce is wrong.
mkdir "$tmp/x2" && tar -xf "$tmp/bundle2.tar" -C "$tmp/x2" || fail "bundle2"
quote_edit; cp "$tmp/x2/tpm/quote.attest" "$tmp/x2/tpm/quote.sig" \
    "$tmp/x2/tpm/quote-pcrs.json" "$tmp/y/tpm/"; quote_repack replayed.tar
quote_fails "$tmp/replayed.tar" '^FAILED QUOTE tpm/quote.attest: .*nonce .*replayed' 1
# Another TPM's AK in place of the appliance's.
quote_edit; cp "$tmp/ak-other.pem" "$tmp/y/tpm/ak.pub.pem"; quote_repack other-ak.tar
quote_fails "$tmp/other-ak.tar" '^FAILED QUOTE tpm/ak.pub.pem: not the attestation key the signed manifest names' 3
grep -q '^FAILED QUOTE tpm/quote.attest: .*signature does not verify' "$tmp/q.out" ||
    fail "other AK: the signature failure is not named"
# Quoted by another TPM while the signed manifest names this one's AK.
quote_fails "$tmp/other-tpm.tar" '^FAILED QUOTE tpm/quote.attest: .*signature does not verify .*another TPM' 1
# PCR values edited to match the golden ones, or golden values that differ.
quote_edit; sed -i '0,/"7": "\(.\)/s//"7": "f/' "$tmp/y/tpm/quote-pcrs.json"
cmp -s "$tmp/x/tpm/quote-pcrs.json" "$tmp/y/tpm/quote-pcrs.json" && fail "sed did not change the PCR values"
quote_repack pcrs-edited.tar
quote_fails "$tmp/pcrs-edited.tar" '^FAILED QUOTE tpm/quote.attest: .*PCR values .*do not match the signed PCR digest' 1
quote_fails "$tmp/golden-off.tar" '^FAILED QUOTE tpm/quote.attest: .*PCR 7 differ from the expected values' 1

# The assessor's golden values (--golden). A bundle whose manifest's
# golden values were forged to equal what the TPM now quotes (PCR 7
# extended after the root secret was unsealed) verifies on its own
# claims, and fails against the assessor's values.
expect 0 "$tmp/g.out" --golden "$tmp/x/tpm/quote-pcrs.json" --key "$tmp/trust.pem" \
    "$tmp/bundle.tar" && grep -q '^tpm: quote verified: .*equal the golden values of --golden' \
    "$tmp/g.out" && ok "--golden with the quoted values: verifies" ||
    { cat "$tmp/g.out"; fail "--golden with the right values"; }
jq '.values | .["7"] |= (if startswith("ab") then "cd" else "ab" end) + .[2:]' \
    "$tmp/x/tpm/quote-pcrs.json" >"$tmp/golden-true.json"
jq -e '.values == input' "$tmp/x/tpm/quote-pcrs.json" "$tmp/golden-true.json" \
    >/dev/null && fail "jq did not change PCR 7"
grep -q 'pass --golden to check them' "$tmp/ok.out" ||
    fail "without --golden the golden values are not said to be the appliance's"
if expect 1 "$tmp/g.out" --golden "$tmp/golden-true.json" --key "$tmp/trust.pem" \
    "$tmp/bundle.tar" && grep -q '^FAILED QUOTE tpm/quote.attest: .*PCR 7 differ from the expected values' \
    "$tmp/g.out"; then
	ok "forged golden values caught by --golden: $(grep '^FAILED' "$tmp/g.out")"
else
	cat "$tmp/g.out"; fail "--golden does not catch forged golden values"
fi
# The quote shows the assessor's values but the manifest records others.
if expect 1 "$tmp/g.out" --golden "$tmp/x/tpm/quote-pcrs.json" --key "$tmp/trust.pem" \
    "$tmp/golden-off.tar" && grep -q "^FAILED QUOTE tpm/quote.attest: .*manifest's golden values of PCR 7 differ from --golden" \
    "$tmp/g.out"; then
	ok "manifest golden values other than --golden: named"
else
	cat "$tmp/g.out"; fail "--golden: the manifest's other golden values not named"
fi
echo '{"7": "zz"}' >"$tmp/golden-bad.json"
expect 2 "$tmp/g.out" --golden "$tmp/golden-bad.json" --key "$tmp/trust.pem" \
    "$tmp/bundle.tar" && ok "malformed --golden: exit 2" || fail "malformed --golden"

# Pinning the attestation key (--ak-fingerprint): SHA-256 of its DER
# public key, as openssl computes it.
fp=$(openssl pkey -pubin -in "$tmp/x/tpm/ak.pub.pem" -outform DER | sha256sum | cut -c1-64)
grep -q "^tpm: quote verified: .*(SHA-256 $fp, not pinned" "$tmp/ok.out" &&
    ok "the AK fingerprint is printed: $fp" || fail "AK fingerprint $fp not printed"
FP=$(printf '%s' "$fp" | tr a-f A-F)
expect 0 "$tmp/p.out" --ak-fingerprint "$FP" --key "$tmp/trust.pem" "$tmp/bundle.tar" &&
    grep -q "(SHA-256 $fp, as pinned)" "$tmp/p.out" && ok "--ak-fingerprint of the AK: verifies" ||
    { cat "$tmp/p.out"; fail "--ak-fingerprint of the bundle's AK"; }
ofp=$(openssl pkey -pubin -in "$tmp/ak-other.pem" -outform DER | sha256sum | cut -c1-64)
if expect 1 "$tmp/p.out" --ak-fingerprint "$ofp" --key "$tmp/trust.pem" "$tmp/bundle.tar" &&
    grep -q "^FAILED QUOTE tpm/quote.attest: .*fingerprint $fp is not the one pinned" "$tmp/p.out"; then
	ok "another AK than the pinned one: $(grep '^FAILED' "$tmp/p.out")"
else
	cat "$tmp/p.out"; fail "--ak-fingerprint accepts another AK"
fi
expect 2 "$tmp/p.out" --ak-fingerprint 1234 --key "$tmp/trust.pem" "$tmp/bundle.tar" &&
    ok "malformed --ak-fingerprint: exit 2" || fail "malformed --ak-fingerprint"

expect 1 "$tmp/other.out" --key "$tmp/other.pem" "$tmp/bundle.tar" &&
    grep -q '^FAILED BAD_SIGNATURE manifest.json' "$tmp/other.out" &&
    ok "another trust anchor: BAD_SIGNATURE" || fail "other key accepted"
head -c 20000 "$tmp/bundle.tar" >"$tmp/cut.tar"
expect 1 "$tmp/cut.out" --key "$tmp/trust.pem" "$tmp/cut.tar" &&
    ok "truncated bundle: $(grep '^FAILED' "$tmp/cut.out" | head -1)" || fail "truncated bundle"

expect 2 "$tmp/u1.out" "$tmp/bundle.tar" && ok "no --key: exit 2" || fail "no key"
expect 2 "$tmp/u2.out" --bundle --key "$tmp/trust.pem" "$tmp/nonexistent.tar" &&
    ok "missing file: exit 2" || fail "missing file"
expect 2 "$tmp/u3.out" --key "$tmp/nonexistent.pem" "$tmp/bundle.tar" &&
    ok "unreadable key: exit 2" || fail "unreadable key"

[ $fails -eq 0 ] || { echo "$fails check(s) failed"; exit 1; }
echo "PASS: evidence bundle verification"

#!/bin/sh
# bulwark-verify on evidence bundles: a bundle exported from a real
# trail, a real fixture scan, the SSP and a real PKI (written by
# tests/unit/compliance/test-evidence) verifies; GNU tar reads it and
# openssl + sha256sum verify it without Bulwark code (the format in
# docs/ssp/evidence-bundle.md); repacked unchanged by GNU tar it still
# verifies; altering the results, the SSP, the manifest, the CA chain or
# one audit record, or using another key, makes bulwark-verify exit 1
# and name the file (and the record's seq); usage errors exit 2.
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

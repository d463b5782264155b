#!/bin/sh
# Tampers with a real audit trail in the seven ways the verifier must
# catch and checks that bulwark-verify exits 1 naming the first bad seq
# and the kind of damage, and exits 0 on the untouched trail. The same
# verdicts are required from tests/independent/audit_verify.py, a
# verifier written from docs/audit-format.md alone (Done-means 6 of the
# audit issue: the document is enough for a third party).
set -u
B=${top_builddir:-$(pwd)}
V="$B/bulwark-verify"
G="$B/tests/unit/audit/audit-gen"
[ -x "$V" ] && [ -x "$G" ] || { echo "build bulwark-verify and audit-gen first" >&2; exit 1; }
command -v openssl >/dev/null || { echo "openssl CLI missing" >&2; exit 1; }
SRC=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
IV="$SRC/tests/independent/audit_verify.py"
command -v python3 >/dev/null || { echo "python3 missing (Debian: apt-get install python3)" >&2; exit 1; }
[ -f "$IV" ] || { echo "$IV missing" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0

"$G" write "$tmp/pristine" "$tmp/appliance.pem" 60 4096 || exit 1
openssl pkey -in "$tmp/appliance.pem" -pubout -out "$tmp/appliance.pub" 2>/dev/null || exit 1

fresh() {
	rm -rf "$tmp/t"
	cp -a "$tmp/pristine" "$tmp/t"
}

# seg N: path of the Nth segment file (1-based, chain order)
seg() {
	ls "$tmp/t"/seg-*.log | sort | sed -n "${1}p"
}

# expect NAME KIND SEQ: verify must exit 1 and print "KIND at seq SEQ"
expect() {
	out=$("$V" --key "$tmp/appliance.pub" "$tmp/t" 2>&1)
	rc=$?
	if [ $rc -eq 1 ] && printf '%s\n' "$out" | grep -q "^DAMAGED: $2 at seq $3 "; then
		echo "ok: $1: $(printf '%s\n' "$out" | head -1)"
	else
		echo "FAIL: $1: expected exit 1 and $2 at seq $3, got exit $rc:"
		printf '%s\n' "$out"
		fail=1
	fi
	independent "$1" 1 "^DAMAGED: $2 at seq $3: "
}

# independent NAME RC PATTERN: the verifier written from the document
# alone must agree
independent() {
	iout=$(python3 "$IV" --key "$tmp/appliance.pub" "$tmp/t" 2>&1)
	irc=$?
	if [ $irc -eq "$2" ] && printf '%s\n' "$iout" | grep -q "$3"; then
		echo "ok: $1 (independent verifier): $(printf '%s\n' "$iout" | head -1)"
	else
		echo "FAIL: $1 (independent verifier): expected exit $2 and /$3/, got exit $irc:"
		printf '%s\n' "$iout"
		fail=1
	fi
}

seq_of() { sed -n "${2}p" "$1" | sed -n 's/^v=1 seq=\([0-9]*\) .*/\1/p'; }
hash_of() { sed -n "${2}p" "$1" | sed -n 's/.* hash=\([0-9a-f]*\)$/\1/p'; }

# A line of segment 3 that, with its neighbours, is a caller's record.
fresh
S3=$(seg 3)
L=$(awk '/actor=alice/ { if (++run >= 3) { print NR - 1; exit } next } { run = 0 }' "$S3")
[ -n "$L" ] || { echo "no suitable line in $S3"; exit 1; }
SEQ=$(seq_of "$S3" "$L")

# expect_ok NAME: both verifiers must exit 0 with "OK: "
expect_ok() {
	out=$("$V" --key "$tmp/appliance.pub" "$tmp/t")
	rc=$?
	if [ $rc -eq 0 ] && printf '%s\n' "$out" | grep -q '^OK: '; then
		echo "ok: $1: $(printf '%s\n' "$out" | head -1)"
	else
		echo "FAIL: $1: exit $rc"; printf '%s\n' "$out"; fail=1
	fi
	independent "$1" 0 '^OK: '
}

# 0. untouched
expect_ok "untouched"

# 0b. the NUL padding a preallocating writer leaves (up to 1 MiB) is not damage
LASTP=$(ls "$tmp/t"/seg-*.log | sort | tail -1)
head -c 1048576 /dev/zero >>"$LASTP"
expect_ok "1 MiB of padding"

# 1. modify one byte
fresh; S3=$(seg 3)
sed -i "${L}s/actor=alice/actor=alicf/" "$S3"
expect "modify one byte" MODIFIED "$SEQ"

# 2. delete a record
fresh; S3=$(seg 3)
sed -i "${L}d" "$S3"
expect "delete a record" MISSING "$SEQ"

# 3. insert a forged record: well formed, correct SHA-256, chained to
#    the record before it, claiming its seq (computed here with
#    sha256sum straight from docs/audit-format.md)
fresh; S3=$(seg 3)
PREV=$(hash_of "$S3" $((L - 1)))
BODY="v=1 seq=$SEQ time=2024-05-01T12:00:00.000000000Z actor=mallory role=system-admin tenant= source=198.51.100.9 auth=password action=role.grant okind=RoleBinding otenant= oname=mallory-admin orev=1 outcome=success reason= controls=AC-2 prev=$PREV"
H=$(printf '%s' "$BODY" | sha256sum | cut -d' ' -f1)
awk -v n="$L" -v line="$BODY hash=$H" 'NR == n { print line } { print }' "$S3" > "$S3.new" && mv "$S3.new" "$S3"
expect "insert a forged record" INSERTED "$SEQ"

# 4. swap two records
fresh; S3=$(seg 3)
awk -v n="$L" 'NR == n { held = $0; next } { print } NR == n + 1 { print held }' "$S3" > "$S3.new" && mv "$S3.new" "$S3"
expect "swap two records" REORDERED "$SEQ"

# 5. truncate the last segment mid-record
fresh
LAST=$(ls "$tmp/t"/seg-*.log | sort | tail -1)
LASTSEQ=$(tail -1 "$LAST" | sed -n 's/^v=1 seq=\([0-9]*\) .*/\1/p')
truncate -s $(($(stat -c %s "$LAST") - 100)) "$LAST"
expect "truncate mid-record" TRUNCATED "$LASTSEQ"

# 6. delete a whole middle segment
fresh; S3=$(seg 3)
FIRST=$(basename "$S3" | sed 's/^seg-0*\([0-9]*\)\.log$/\1/')
rm "$S3"
expect "delete a middle segment" MISSING "$FIRST"

# 7. forged checkpoints: the record is changed, the chain recomputed and
#    the checkpoints from there on re-signed with a key that is not the
#    appliance's
fresh
(cd "$tmp" && "$G" forge "$tmp/t" "$tmp/attacker.pem" "$SEQ") || exit 1
CK=$(awk -v s="$SEQ" '/action=audit.checkpoint / { split($2, a, "="); if (a[2] + 0 > s + 0) { print a[2]; exit } }' $(ls "$tmp/pristine"/seg-*.log | sort))
expect "forged checkpoint signature" BAD_SIGNATURE "$CK"

# 8. a key change: the trail goes on with a second key. Trusting both
#    keys (two --key, or one file holding both) it verifies; trusting
#    only the new key, the trail's first checkpoint is BAD_SIGNATURE.
rm -rf "$tmp/t"
"$G" write "$tmp/t" "$tmp/appliance.pem" 30 4096 >/dev/null || exit 1
"$G" write "$tmp/t" "$tmp/second.pem" 30 4096 >/dev/null || exit 1
openssl pkey -in "$tmp/second.pem" -pubout -out "$tmp/second.pub" 2>/dev/null || exit 1
cat "$tmp/second.pub" "$tmp/appliance.pub" >"$tmp/both.pub"
FIRSTCK=$(grep -h -m1 'action=audit.checkpoint ' $(ls "$tmp/t"/seg-*.log | sort) |
	sed -n 's/^v=1 seq=\([0-9]*\) .*/\1/p' | head -1)
for keys in "--key $tmp/appliance.pub --key $tmp/second.pub" "--key $tmp/both.pub"; do
	# shellcheck disable=SC2086
	if "$V" $keys "$tmp/t" >"$tmp/kc.out" 2>&1 &&
	    python3 "$IV" $keys "$tmp/t" >"$tmp/kc.iv" 2>&1; then
		echo "ok: key change, both keys trusted ($keys): $(head -1 "$tmp/kc.out")"
	else
		echo "FAIL: key change with $keys:"; cat "$tmp/kc.out" "$tmp/kc.iv"; fail=1
	fi
done
if grep -q 'action=audit.key_change ' "$tmp"/t/seg-*.log; then
	echo "ok: key change: the trail records audit.key_change"
else
	echo "FAIL: key change: no audit.key_change record"; fail=1
fi
if "$B/bulwark" audit verify --key-file "$tmp/both.pub" "$tmp/t" >"$tmp/kc.cli" 2>&1; then
	echo "ok: key change: bulwark audit verify --key-file with both keys: $(cat "$tmp/kc.cli")"
else
	echo "FAIL: bulwark audit verify --key-file both.pub:"; cat "$tmp/kc.cli"; fail=1
fi
cp "$tmp/appliance.pub" "$tmp/appliance.pub.keep"
cp "$tmp/second.pub" "$tmp/appliance.pub"	# expect() trusts appliance.pub only
expect "key change, only the new key trusted" BAD_SIGNATURE "$FIRSTCK"
mv "$tmp/appliance.pub.keep" "$tmp/appliance.pub"

# usage errors are exit 2
"$V" >/dev/null 2>&1
[ $? -eq 2 ] || { echo "FAIL: no argument should exit 2"; fail=1; }
"$V" --key "$tmp/missing.pub" "$tmp/t" >/dev/null 2>&1
[ $? -eq 2 ] || { echo "FAIL: unreadable key should exit 2"; fail=1; }
exit $fail

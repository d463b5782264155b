#!/bin/bash
# The host baseline on a real Debian root (issue 15, done-means 6):
# mmdebstrap --variant=minbase bookworm makes the root, bulwark-harden
# check lists its differences item by item, apply changes them, and
# then check and the compliance checks that read the baseline
# (bulwark-harden scan) must find every item satisfied. Slow (about a
# minute with the Debian mirror reachable) and not part of
# make check: run it with `make check-harden-debian`.
# BW_DEBIAN_ROOT=DIR reuses a root made earlier (copied, not changed).
. "${top_srcdir:-.}/tests/integration/lib.sh"
H="$BW/bulwark-harden"
R="$T/root"

command -v mmdebstrap >/dev/null || {
	echo "SKIP: mmdebstrap is not installed (apt-get install mmdebstrap)"
	exit 77
}
if [ -n "${BW_DEBIAN_ROOT:-}" ]; then
	cp -a "$BW_DEBIAN_ROOT" "$R" || fail "copy $BW_DEBIAN_ROOT"
else
	s=$(date +%s)
	mmdebstrap --quiet --variant=minbase bookworm "$R" >"$T/mmdebstrap.log" 2>&1 || {
		tail -20 "$T/mmdebstrap.log" >&2
		fail "mmdebstrap --variant=minbase bookworm"
		finish
	}
	echo "mmdebstrap: $(($(date +%s) - s)) s, $(du -sh "$R" | cut -f1)"
fi

"$H" check --root "$R" >"$T/before"
rc=$?
echo "--- the untouched root, item by item:"
cat "$T/before"
check "check on the untouched root exits 1" [ "$rc" -eq 1 ]
"$H" scan --root "$R" >"$T/scan-before"
echo "--- compliance checks reading the baseline, untouched root:"
cat "$T/scan-before"

"$H" apply --root "$R" >"$T/apply"
rc=$?
cat "$T/apply"
check "apply exits 0" [ "$rc" -eq 0 ]
"$H" check --root "$R" >"$T/after"
rc=$?
grep '^DIFFERS' "$T/after" >&2
check "after apply: $(tail -1 "$T/after")" [ "$rc" -eq 0 ]
"$H" scan --root "$R" >"$T/scan-after"
rc=$?
echo "--- compliance checks reading the baseline, applied root:"
cat "$T/scan-after"
check "after apply every compliance check reading the baseline is satisfied" \
	[ "$rc" -eq 0 ]
"$H" apply --root "$R" >"$T/apply2"
check "a second apply changes nothing" grep -qx '0 items changed' "$T/apply2"
# The PAM stack still lets a password log in: pam_unix's success jump
# lands past pam_deny.
check "common-auth: pam_unix jumps over authfail and pam_deny" \
	grep -q 'success=2 default=ignore.*pam_unix.so' "$R/etc/pam.d/common-auth"
finish

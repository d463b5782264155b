#!/bin/bash
# Issue 15, Done-means 4: `systemd-analyze security --offline=yes` rates
# the shipped bulwarkd unit (the built copy, install paths substituted)
# at most 2.0, and prints the agent unit's rating (docs/hardening.md
# explains both). `systemd-analyze verify` checks both units, with
# ExecStart= pointed at the built binaries and the man pages of the
# source tree. Needs no running systemd.
. "$(dirname "$0")/lib.sh"

if ! command -v systemd-analyze >/dev/null; then
	echo "SKIP: no systemd-analyze (Debian package systemd)"
	exit 77
fi
units="$top_builddir/appliance/systemd"
for u in bulwarkd bulwark-agent; do
	[ -f "$units/$u.service" ] || { fail "$units/$u.service not built"; finish; }
done
check "no @...@ left unsubstituted" \
	bash -c "! grep -n '@[a-z]*@' '$units/bulwarkd.service' '$units/bulwark-agent.service'"

# exposure UNIT: the overall exposure level systemd-analyze prints.
exposure() {
	systemd-analyze security --offline=yes "$1" >"$T/sec.out" 2>&1
	sed -n 's/^→ Overall exposure level for [^:]*: \([0-9][0-9.]*\) .*/\1/p' \
		"$T/sec.out"
}
for u in bulwarkd bulwark-agent; do
	cp "$units/$u.service" "$T/$u.service"
	e=$(exposure "$T/$u.service")
	[ -n "$e" ] || { cat "$T/sec.out" >&2; fail "no exposure level for $u"; continue; }
	echo "$u.service: exposure $e"
	grep '✗' "$T/sec.out" | sed "s/^/  $u: /"
	eval "exp_${u//-/_}=$e"
done
check "bulwarkd.service is rated at most 2.0 (is ${exp_bulwarkd:-none})" \
	awk -v e="${exp_bulwarkd:-99}" 'BEGIN { exit !(e <= 2.0) }'
# The same bound as systemd-analyze's own gate (its levels are tenths).
gate() { systemd-analyze security --offline=yes --threshold=20 "$1" >/dev/null 2>&1; }
check "systemd-analyze --threshold=20 accepts bulwarkd.service" gate "$T/bulwarkd.service"
check "docs/hardening.md states the agent's rating ${exp_bulwark_agent:-none}" \
	grep -q "bulwark-agent.service.*${exp_bulwark_agent:-none}" \
	"$top_srcdir/docs/hardening.md"
check "docs/hardening.md states bulwarkd's rating ${exp_bulwarkd:-none}" \
	grep -q "bulwarkd.service.*${exp_bulwarkd:-none}" \
	"$top_srcdir/docs/hardening.md"

# verify: the built binaries and the source tree's man pages stand in
# for the installed ones.
mkdir -p "$T/man/man8"
cp "$top_srcdir/man/bulwarkd.8" "$top_srcdir/man/bulwark-agent.8" "$T/man/man8/"
for u in bulwarkd bulwark-agent; do
	sed -i "s|^ExecStart=[^ ]*/|ExecStart=$BW/|" "$T/$u.service"
done
if MANPATH="$T/man" systemd-analyze verify "$T/bulwarkd.service" \
	"$T/bulwark-agent.service" >"$T/verify.out" 2>&1; then
	pass "systemd-analyze verify accepts both units"
else
	cat "$T/verify.out" >&2
	fail "systemd-analyze verify"
fi
finish

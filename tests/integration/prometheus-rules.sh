#!/bin/bash
# The shipped Prometheus alert rules (appliance/prometheus/bulwark-rules.yml)
# pass promtool check rules; promtool test rules proves that each alert
# fires on the input that should fire it and not on the healthy one
# (tests/prometheus/bulwark-rules.test.yml); every alert has its test
# and its section in docs/operations.md; a rule made laxer fails its test;
# and the example scrape configuration passes promtool check config.
. "$(dirname "$0")/lib.sh" || exit 99
top_srcdir=$(cd "${top_srcdir:-$(dirname "$0")/../..}" && pwd)
command -v promtool >/dev/null || { echo "no promtool (Debian package prometheus)" >&2; exit 77; }
RULES="$top_srcdir/appliance/prometheus/bulwark-rules.yml"
UNIT="$top_srcdir/tests/prometheus/bulwark-rules.test.yml"
OPS="$top_srcdir/docs/operations.md"

check "promtool check rules" promtool check rules "$RULES"
check "promtool test rules: each alert fires on its input, not on the healthy one" \
	promtool test rules "$UNIT"

alerts=$(sed -n 's/^ *- alert: *\([A-Za-z0-9]*\).*/\1/p' "$RULES" | sort)
n=$(echo "$alerts" | grep -c .)
check "the rules define at least the 10 alerts of issue 21 ($n)" [ "$n" -ge 10 ]
for a in $alerts; do
	# evaluations of A expecting no alert, and expecting one for "bad"
	read -r q f < <(awk -v a="$a" '$1 == "alertname:" { g = ($2 == a); next }
		g && $0 ~ /exp_alerts: \[\]/ { q++; g = 0 }
		g && $0 ~ /exp_labels:.*instance: bad}/ { f++; g = 0 }
		END { print q + 0, f + 0 }' "$UNIT")
	if [ "$q" -ge 1 ] && [ "$f" -ge 1 ]; then
		pass "$a: tested quiet ($q) and firing ($f)"
	else
		fail "$a: $q quiet and $f firing evaluations"
	fi
	check "$a: explained in docs/operations.md" grep -q "^#### $a\$" "$OPS"
done

# The tests bite: the store threshold moved from 75 % to 85 % leaves the
# 80 % store of the test's "bad" appliance quiet, and the test fails.
mkdir -p "$T/appliance/prometheus" "$T/tests/prometheus"
sed 's|bulwark_store_capacity_bytes > 0.75|bulwark_store_capacity_bytes > 0.85|' "$RULES" \
	>"$T/appliance/prometheus/bulwark-rules.yml"
cp "$UNIT" "$T/tests/prometheus/"
check_fails "the altered rule differs" cmp -s "$RULES" "$T/appliance/prometheus/bulwark-rules.yml"
check_fails "promtool test rules fails on a laxer store rule" \
	promtool test rules "$T/tests/prometheus/bulwark-rules.test.yml" >/dev/null 2>&1

# The example configuration, with its files made present.
CFG=${top_builddir:-.}/appliance/prometheus/prometheus.yml
if [ -f "$CFG" ]; then
	: >"$T/ca.crt"; : >"$T/prom.crt"; : >"$T/prom.key"
	sed -e "s|/etc/prometheus/bulwark/|$T/|" -e "s|^  - .*/bulwark-rules.yml|  - $RULES|" \
		"$CFG" >"$T/prometheus.yml"
	check "the example configuration names the rules where make install puts them" \
		grep -q "^  - .*/prometheus/bulwark-rules.yml\$" "$CFG"
	check "promtool check config on the example configuration" \
		promtool check config "$T/prometheus.yml"
	check "the example scrapes over https with a client certificate" \
		grep -q "scheme: https" "$CFG"
else
	fail "no $CFG (make builds it)"
fi
finish

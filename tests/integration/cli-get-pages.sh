#!/bin/bash
# `bulwark get KIND` lists every object even when the list is longer
# than one answer of the API may be (API_LIST_MAX, 10,000 objects): it
# follows metadata.continue from page to page, so 10,050 tenants are
# listed once each, in JSON and in the table.
. "$(dirname "$0")/lib.sh" || exit 99

LG="$BW/bench/bw-loadgen"
B="$BW/bulwark"
N=10050
[ -x "$LG" ] || { echo "FAIL: $LG not built"; exit 1; }
start_bulwarkd "$T/d" || { fail "bulwarkd did not start"; finish; }
check "bw-loadgen creates $N tenants" sh -c \
	"'$LG' --config '$CONF' --clients 8 --ops $N --prefix pg >'$T/lg' 2>&1"
created=$(jq -r .acked "$T/lg")
check "all $N creates acknowledged ($created)" [ "$created" = "$N" ]
raw=$(acurl "$URL/v1/tenants" | jq -c "[(.items | length), (.metadata.continue != null)]")
check "one answer of the API holds 10000 of them and a continue token ($raw)" \
	[ "$raw" = "[10000,true]" ]
check "bulwark get tenants -o json" sh -c "'$B' --config '$CONF' get tenants -o json >'$T/all.json'"
check "the JSON list holds every tenant once" \
	jq -e --argjson n "$N" '[.items[].metadata.name] | (length == $n) and
		(unique | length == $n) and all(startswith("pg"))' "$T/all.json"
check "and no continue token is left in it" jq -e '.metadata == null' "$T/all.json"
check "bulwark get tenants (table) has a header and one row per tenant" \
	sh -c "[ \$('$B' --config '$CONF' get tenants | wc -l) = $((N + 1)) ]"
check "a selector still applies to every page" sh -c \
	"[ \$('$B' --config '$CONF' get tenants -l nosuch=label -o json | jq '.items | length') = 0 ]"
finish

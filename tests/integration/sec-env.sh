#!/bin/bash
# Issue 13, "also found": a workload's env takes what programs expect.
# Names are POSIX-style identifiers ([A-Za-z_][A-Za-z0-9_]*, up to 128
# characters); values any UTF-8 text up to 4,096 bytes without NUL or
# control characters other than tab and newline; at most 64 entries and
# 32 KiB in all. JAVA_OPTS=-Xmx512m -Dx=y, a URL with a query, a value
# with '$', quotes and UTF-8 are accepted and stored as given; bad names
# and values get a JSON 400 naming the field. (That the values reach
# the process unchanged is checked by sec-userns.sh.)
. "$(dirname "$0")/lib.sh" || exit 99

start_bulwarkd "$T/d" || { fail "bulwarkd did not start"; finish; }
DIG="sha256:$(printf '%064d' 0)"
code=$(acurl -o /dev/null -w '%{http_code}' -X PUT -H 'Content-Type: application/json' \
	-d '{"kind":"Tenant","metadata":{"name":"acme"},"spec":{}}' "$URL/v1/tenants/acme")
check "tenant acme" [ "$code" = 201 -o "$code" = 200 ]

# put_env ENV-JSON: PUTs workload w$n with that env; prints the HTTP
# code, the answer in $T/out.json (the caller counts n: this runs in $())
n=0
put_env() {
	jq -nc --argjson env "$1" --arg dig "$DIG" --arg name "w$n" \
		'{kind:"Workload", metadata:{name:$name, tenant:"acme"},
		  spec:{type:"container", image:$dig, replicas:0,
			resources:{cpu_millis:100, memory_mib:16},
			command:["true"], env:$env}}' >"$T/in.json"
	acurl -o "$T/out.json" -w '%{http_code}' -X PUT -H 'Content-Type: application/json' \
		--data-binary @"$T/in.json" "$URL/v1/tenants/acme/workloads/w$n"
}
accepts() { # DESCRIPTION ENV-JSON
	local code
	n=$((n + 1))
	code=$(put_env "$2")
	if [ "$code" = 201 ] && [ "$(jq -cS '.spec.env' "$T/out.json")" = "$(echo "$2" | jq -cS .)" ] &&
		[ "$(B_GET "w$n" | jq -cS .spec.env)" = "$(echo "$2" | jq -cS .)" ]; then
		pass "accepted and stored as given: $1"
	else
		fail "accepted and stored as given: $1 (HTTP $code: $(cat "$T/out.json"))"
	fi
}
refuses() { # DESCRIPTION ENV-JSON MESSAGE-PATTERN
	local code
	n=$((n + 1))
	code=$(put_env "$2")
	if [ "$code" = 400 ] && jq -e '.error.code and .error.message' "$T/out.json" >/dev/null &&
		jq -r .error.message "$T/out.json" | grep -qE -- "$3"; then
		pass "refused: $1 ($(jq -r .error.message "$T/out.json"))"
	else
		fail "refused: $1 (HTTP $code: $(cat "$T/out.json"))"
	fi
}
B_GET() { acurl "$URL/v1/tenants/acme/workloads/$1"; }

accepts "JAVA_OPTS with spaces" '{"JAVA_OPTS": "-Xmx512m -Dx=y"}'
accepts "a URL with a query" '{"DATABASE_URL": "postgres://u:p@db.example:5432/app?sslmode=require&x=1"}'
accepts "shell characters, quotes, UTF-8, tab and newline" \
	'{"_X1": "$HOME `id` \"q\" '\''s'\'' ; | & > *", "GREETING": "grüß dich ✓", "PEM": "a\tb\nc"}'
accepts "an empty value" '{"EMPTY": ""}'
accepts "a 4096-byte value" "{\"BIG\": \"$(head -c 4096 /dev/zero | tr '\0' v)\"}"
accepts "lower-case names" '{"http_proxy": "http://proxy:3128"}'

refuses "a name with '='" '{"A=B": "x"}' 'spec\.env'
refuses "a name starting with a digit" '{"1X": "x"}' 'spec\.env'
refuses "a name with a space" '{"A B": "x"}' 'spec\.env'
refuses "a name with '-'" '{"A-B": "x"}' 'spec\.env'
refuses "an empty name" '{"": "x"}' 'spec\.env'
refuses "a 129-character name" "{\"$(head -c 129 /dev/zero | tr '\0' N)\": \"x\"}" 'spec\.env'
refuses "a 4097-byte value" "{\"BIG\": \"$(head -c 4097 /dev/zero | tr '\0' v)\"}" 'spec\.env\.BIG'
refuses "a NUL in a value" '{"X": "a\u0000b"}' 'spec\.env\.X|NUL'
refuses "an escape character in a value" '{"X": "a\u001b[2Jb"}' 'spec\.env\.X'
refuses "a carriage return in a value" '{"X": "a\rb"}' 'spec\.env\.X'
refuses "a non-string value" '{"X": 5}' 'spec\.env\.X'
refuses "65 entries" "$(jq -nc '[range(65) | {key: "V\(.)", value: "x"}] | from_entries')" 'spec\.env'
refuses "more than 32 KiB in all" \
	"$(jq -nc --arg v "$(head -c 4000 /dev/zero | tr '\0' v)" '[range(9) | {key: "V\(.)", value: $v}] | from_entries')" 'spec\.env'
finish

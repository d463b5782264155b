#!/bin/bash
# AU-9/SC-5 (issue 13, defect 6 and the 413 page): requests without a
# certificate cost bounded audit-trail space. Thousands of anonymous
# /healthz and refused requests leave a few aggregated records (counts
# per source and interval), every authenticated request still leaves its
# own record, anonymous /healthz says only up or down (details need a
# certificate), and oversized bodies and headers get the API's JSON
# error, not libevent's HTML page.
. "$(dirname "$0")/lib.sh" || exit 99

N=${N:-2000}
D="$T/d"
start_bulwarkd "$D" || { echo "bulwarkd did not start"; exit 1; }

curl -sk "$URL/healthz" >"$T/anon.json"
echo "anonymous /healthz: $(cat "$T/anon.json")"
check "anonymous /healthz says only up or down" \
	jq -e 'keys == ["status"] and (.status == "ok" or .status == "degraded")' "$T/anon.json"
acurl "$URL/healthz" >"$T/full.json"
check "/healthz with a certificate keeps the detail" \
	jq -e '.status == "ok" and (.revision | type) == "number" and .audit.healthy == true' "$T/full.json"

: >"$T/anon.cfg"
for i in $(seq "$N"); do
	printf 'next\ninsecure\nsilent\nwrite-out = "%%{http_code}\\n"\nurl = "%s/healthz"\noutput = "/dev/null"\n' "$URL" >>"$T/anon.cfg"
done
for i in $(seq 500); do
	printf 'next\ninsecure\nsilent\nwrite-out = "%%{http_code}\\n"\nurl = "%s/v1/tenants"\noutput = "/dev/null"\n' "$URL" >>"$T/anon.cfg"
done
t0=$(date +%s)
curl -K "$T/anon.cfg" >"$T/anon.codes"
echo "$N anonymous /healthz and 500 anonymous /v1/tenants in $(($(date +%s) - t0)) s:" \
	"$(sort "$T/anon.codes" | uniq -c | tr '\n' ' ')"
check "the anonymous requests were answered" [ "$(grep -c '^200$' "$T/anon.codes")" = "$N" ]
check "the anonymous API requests were refused (401)" [ "$(grep -c '^401$' "$T/anon.codes")" = 500 ]
for i in $(seq 20); do
	acurl -o /dev/null "$URL/v1/whoami"
done
stop_bulwarkd
nh=$(cat "$D"/audit/seg-*.log | grep -ac ' action=api.health ')
na=$(cat "$D"/audit/seg-*.log | grep -ac ' action=auth.failure ')
nw=$(cat "$D"/audit/seg-*.log | grep -a ' action=api.whoami ' | grep -ac ' actor=admin ')
echo "trail: $nh api.health records, $na auth.failure records, $nw admin whoami records"
check "anonymous /healthz costs bounded trail space ($nh records for $N requests)" [ "$nh" -le 10 ]
check "anonymous refusals cost bounded trail space ($na records for 500)" [ "$na" -le 10 ]
check "the aggregate record counts the requests" \
	sh -c "cat '$D'/audit/seg-*.log | grep -a ' action=api.health ' | grep -aq 'requests'"
check "every authenticated request keeps its own record ($nw of 20)" [ "$nw" -ge 20 ]
check "the audit trail verifies" "$BW/bulwark" audit verify "$D/audit"

# Oversized body and headers: the API's JSON error.
start_bulwarkd "$D" || { echo "bulwarkd did not restart"; exit 1; }
head -c $((2 * 1024 * 1024)) /dev/zero | tr '\0' ' ' >"$T/huge"
code=$(acurl -o "$T/413.out" -D "$T/413.hdr" -w '%{http_code}' -X POST \
	-H 'Content-Type: application/json' --data-binary @"$T/huge" \
	"$URL/v1/tenants/acme/workloads")
echo "oversized body: HTTP $code: $(head -c 300 "$T/413.out")"
check "an oversized body gets 413" [ "$code" = 413 ]
check "... with the API's JSON error" jq -e '.error.code == "too_large" and (.error.message | length) > 0' "$T/413.out"
check "... as application/json" grep -qi '^content-type: application/json' "$T/413.hdr"
code=$(curl -sk -o "$T/hdr.out" -w '%{http_code}' -H "X-Big: $(head -c 20000 /dev/zero | tr '\0' a)" "$URL/healthz")
echo "oversized headers: HTTP $code: $(head -c 300 "$T/hdr.out")"
check "oversized headers get the API's JSON error ($code)" \
	sh -c "[ '$code' -ge 400 ] && jq -e '.error.code' '$T/hdr.out' >/dev/null"
code=$(acurl -o /dev/null -w '%{http_code}' "$URL/v1/whoami")
check "the server still serves after them ($code)" [ "$code" = 200 ]
finish

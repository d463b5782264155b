#!/bin/bash
# Blocking work runs off the event loop (controlplane/offload.c): while an
# audit search is stuck reading the trail, other clients' requests are
# answered promptly and an open watch keeps its heartbeat; more long jobs
# than the pool and its queue hold get 503 with Retry-After; a client that
# leaves mid-search and a SIGTERM mid-search are handled cleanly. An image
# import runs off the loop too.
#
# The stuck read is a FIFO named like a trail segment: the search blocks
# opening it until the test opens the writing end, as long as it likes.
# An import whose image or signature is a FIFO is refused at once.
. "$(dirname "$0")/lib.sh" || exit 99

THREADS=2 QUEUE=8	# OFFLOAD_THREADS, OFFLOAD_QUEUE_MAX
HOLD=17			# longer than one watch heartbeat (15 s)

MEDIA="$T/media"
mkdir -p "$MEDIA/rootfs"
echo hello >"$MEDIA/rootfs/hello"
tar -C "$MEDIA/rootfs" -cf "$MEDIA/img.tar" .
start_bulwarkd "$T/d" --import-root "$MEDIA" || exit 1
ucurl() { # as the auditor
	curl -s --cacert "$PKI/ca.crt" --cert "$PKI/auditor.crt" --key "$PKI/auditor.key" "$@"
}
J='-H Content-Type:application/json'
FIFO="$T/d/audit/seg-10000000000000000000.log"
mkfifo "$FIFO" || exit 1
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
# release PID...: lets the searches waiting on the FIFO finish until the
# clients PID... have their answers (each opening of the writing end ends
# the reads open then)
release() {
	local i p left
	for i in $(seq 40); do
		timeout 0.5 sh -c ": >'$FIFO'" 2>/dev/null
		left=
		for p in "$@"; do
			kill -0 "$p" 2>/dev/null && left=1
		done
		[ -z "$left" ] && return 0
	done
	return 1
}
# ended WHAT PID T0 WORST FACTOR CODE KIND: the long WHAT (its client PID
# started at T0, answer in $T/WHAT.code and .json) ended with HTTP CODE and
# a KIND; the slowest other request meanwhile took WORST s, under 1/FACTOR
# of it
ended() {
	local what=$1 pid=$2 t0=$3 worst=$4 factor=$5 code=$6 kind=$7 long
	wait "$pid"
	long=$(secs "$t0" "$(now)")
	echo "the $what took $long s; the slowest other request $worst s"
	check "the $what answered $code" [ "$(cat "$T/$what.code")" = "$code" ]
	check "the $what's answer is a $kind" \
		jq -e --arg k "$kind" '.kind == $k' "$T/$what.json"
	check "other requests took under 1/$factor of the $what" \
		awk -v w="$worst" -v l="$long" -v f="$factor" 'BEGIN { exit !(w * f < l) }'
}

acurl -o /dev/null $J -X POST --data '{"kind":"Tenant","metadata":{"name":"off"}}' \
	"$URL/v1/tenants"
acurl -N "$URL/v1/watch?since=$(revision)" >"$T/watch.out" &
WATCH_PID=$!
sleep 0.5

# -- one long search; healthz, a GET and a PUT meanwhile
t0=$(now)
ucurl -o "$T/search.json" -w '%{http_code}' --max-time 60 \
	"$URL/v1/audit/records?actor=nobody" >"$T/search.code" &
LONG=$!
sleep 1
n0=$(wc -l <"$T/watch.out")
worst=0
for what in healthz get put; do
	a=$(now)
	case $what in
	healthz) code=$(acurl -o /dev/null -w '%{http_code}' --max-time 10 "$URL/healthz") ;;
	get) code=$(acurl -o /dev/null -w '%{http_code}' --max-time 10 "$URL/v1/tenants/off") ;;
	put) code=$(acurl -o /dev/null -w '%{http_code}' --max-time 10 $J -X PUT \
		--data '{"kind":"Tenant","metadata":{"name":"off"},"spec":{"description":"during"}}' \
		"$URL/v1/tenants/off") ;;
	esac
	d=$(secs "$a" "$(now)")
	echo "$what during the search: HTTP $code in $d s"
	check "$what answered during the search" [ "$code" = 200 ]
	worst=$(awk -v a="$worst" -v b="$d" 'BEGIN { print (b > a) ? b : a }')
done
sleep $((HOLD - 1))
check "the search is still running" kill -0 $LONG
tail -n +$((n0 + 1)) "$T/watch.out" >"$T/watch.during"
release $LONG || fail "the FIFO was not released"
ended search $LONG "$t0" "$worst" 10 200 AuditRecordList
check "the watch saw the PUT made during the search" \
	grep -q '"type":"PUT".*"description":"during"' "$T/watch.during"
check "the watch kept its heartbeat during the search" \
	grep -q '"type":"HEARTBEAT"' "$T/watch.during"

# -- an image import runs on the pool too. A FIFO in place of the image
# or its signature is refused at once (opening it would wait for a
# writer forever and hold a worker; a SIGTERM would then never end)
openssl ecparam -name secp384r1 -genkey -noout -out "$T/pub.key" 2>/dev/null
openssl ec -in "$T/pub.key" -pubout -out "$T/publisher.pem" 2>/dev/null
"$BW/bulwark" image sign --key "$T/pub.key" "$MEDIA/img.tar" >/dev/null || fail "sign"
"$BW/bulwark" --config "$CONF" image trust add "$T/publisher.pem" >/dev/null ||
	fail "trust add"
import() { # FILE: the HTTP status into $T/import.code, the body into $T/import.json
	acurl -o "$T/import.json" -w '%{http_code}' --max-time 20 $J -X POST \
		--data "{\"path\":\"$1\",\"type\":\"container\"}" \
		"$URL/v1/image-import" >"$T/import.code"
}
mv "$MEDIA/img.tar.sig" "$T/img.sig"
mkfifo "$MEDIA/img.tar.sig"
a=$(now)
import "$MEDIA/img.tar"
d=$(secs "$a" "$(now)")
echo "import with a FIFO signature: HTTP $(cat "$T/import.code") in $d s: $(cat "$T/import.json")"
check "an import whose signature is a FIFO is refused (403, not a regular file)" \
	jq -e --arg c "$(cat "$T/import.code")" '$c == "403" and
		(.error.message | test("not a regular file"))' "$T/import.json"
rm -f "$MEDIA/img.tar.sig"
mkfifo "$MEDIA/fifo.tar"
cp "$T/img.sig" "$MEDIA/fifo.tar.sig"
import "$MEDIA/fifo.tar"
check "an image that is a FIFO is refused (400, not a regular file)" \
	jq -e --arg c "$(cat "$T/import.code")" '$c == "400" and
		(.error.message | test("not a regular file"))' "$T/import.json"
cp "$T/img.sig" "$MEDIA/img.tar.sig"
import "$MEDIA/img.tar"
check "the signed image then imports (201)" [ "$(cat "$T/import.code")" = 201 ]
check "the import's answer is an Image" jq -e '.kind == "Image"' "$T/import.json"
code=$(acurl -o /dev/null -w '%{http_code}' --max-time 10 "$URL/healthz")
check "and the daemon answers (healthz $code)" [ "$code" = 200 ]

# -- the bound: THREADS run, QUEUE wait, the rest are refused at once
n=$((THREADS + QUEUE + 3))
qpids=
for i in $(seq $n); do
	ucurl -D "$T/q$i.hdr" -o "$T/q$i.json" -w '%{http_code}' --max-time 60 \
		"$URL/v1/audit/records?actor=nobody" >"$T/q$i.code" &
	qpids="$qpids $!"
done
# an answer code per file, without a newline
count() { grep -lx "$1" "$T"/q*.code 2>/dev/null | wc -l; }
wait_for 20 sh -c "[ \$(grep -lx 503 '$T'/q*.code 2>/dev/null | wc -l) -ge 3 ]"
sleep 1	# none of the held ones may answer before release
release $qpids || fail "the FIFO was not released"
for p in $qpids; do wait $p; done
ok=$(count 200)
busy=$(count 503)
echo "$n concurrent searches: $ok answered, $busy refused"
check "pool and queue ($((THREADS + QUEUE))) answered" [ "$ok" = $((THREADS + QUEUE)) ]
check "the other 3 refused with 503" [ "$busy" = 3 ]
r=$(grep -lx 503 "$T"/q*.code | head -1)
r=${r%.code}
check "a refusal says when to retry" grep -qi '^Retry-After: [0-9]' "$r.hdr"
check "a refusal is a JSON error" jq -e '.error.code == "busy"' "$r.json"
check "refusals are counted" [ "$(metric bulwark_offload_refused_total)" = 3 ]
check "no job left" [ "$(metric bulwark_offload_jobs)" = 0 ]
sleep 1.5	# reads and refusals ride with the next group commit
rm -f "$FIFO"
ucurl "$URL/v1/audit/records?actor=auditor&action=audit.search&outcome=denied" \
	>"$T/denied.json"
check "refusals are audited" jq -e '[.items[] | select(.reason |
	test("limit"))] | length == 3' "$T/denied.json"

# -- a client that leaves while its search runs
mkfifo "$FIFO"
ucurl -o /dev/null --max-time 1 "$URL/v1/audit/records?actor=nobody"
release || true "the FIFO was not released"
code=$(acurl -o /dev/null -w '%{http_code}' --max-time 5 "$URL/healthz")
check "healthz after a client left mid-search" [ "$code" = 200 ]

# -- SIGTERM while a search runs: the daemon waits for it, then exits
# cleanly (the answer may not reach the client: the loop has stopped)
ucurl -o /dev/null -w '%{http_code}' --max-time 30 \
	"$URL/v1/audit/records?actor=nobody" >"$T/term.code" &
TERM_CURL=$!
sleep 1
kill -TERM "$BWD_PID"
sleep 1
check "the daemon waits for the running search" kill -0 "$BWD_PID"
release "$BWD_PID" || fail "the FIFO was not released"
wait "$BWD_PID"
rc=$?
wait $TERM_CURL
echo "the search's client during shutdown saw HTTP $(cat "$T/term.code")"
check "bulwarkd exited cleanly (status $rc)" [ $rc = 0 ]
kill $WATCH_PID 2>/dev/null
wait $WATCH_PID 2>/dev/null
finish

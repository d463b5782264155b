#!/bin/bash
# SC-5 (issue 13, defect 5): a watch whose client never reads must not
# make the daemon buffer the history. With a history of thousands of
# 12 KB writes, ten tenant-user watches from revision 0 that never read
# keep bulwarkd's RSS growth under 64 MiB; a watch that cannot take its
# next batch for 20 s is ended with a final line that says why and where
# to resume; watches per principal are capped (429, JSON error).
. "$(dirname "$0")/lib.sh" || exit 99

WRITES=${WRITES:-2000}
# Under AddressSanitizer freed memory is held in a quarantine (256 MiB by
# default) and counts in RSS; keep it small so RSS shows what is in use.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=8:thread_local_quarantine_size_kb=256"
D="$T/d"
# The watches read the whole history from revision 0: keep all of it
# (the default retention, 16 MiB of change log, would compact ~2/3 of
# it away and the watches would get 410).
mkdir -p "$D"
echo '{"store": {"history_mib": 128}}' >"$D/bulwarkd.conf"
start_bulwarkd "$D" || { echo "bulwarkd did not start"; exit 1; }
B="$BW/bulwark --config $CONF"
$B apply -f "$top_srcdir/examples/tenant.json" >/dev/null || fail "apply examples/tenant.json"
$B principal create tu -t acme --role tenant-user --out "$T/p" >/dev/null || fail "create tu"
tcurl() { curl -s --cacert "$PKI/ca.crt" --cert "$T/p/tu.crt" --key "$T/p/tu.key" "$@"; }

# History: WRITES versions of one workload, each ~12 KB, over one
# keep-alive connection.
big=$(head -c 4000 /dev/zero | tr '\0' 'x')
printf '{"kind":"Workload","metadata":{"name":"big","tenant":"acme"},"spec":{"type":"container","image":"sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae","replicas":0,"resources":{"cpu_millis":1,"memory_mib":64},"command":["%s","%s","%s"]}}' \
	"$big" "$big" "$big" >"$T/big.json"
# Two documents in turn, so that every write is a new version (bulwarkd
# answers a write that changes nothing without one).
sed 's/"replicas":0/"replicas":0,"update_strategy":{"max_unavailable":2}/' \
	"$T/big.json" >"$T/big-1.json"
cp "$T/big.json" "$T/big-0.json"
: >"$T/writes.cfg"
for i in $(seq "$WRITES"); do
	printf 'next\nsilent\ncacert = "%s"\ncert = "%s"\nkey = "%s"\nwrite-out = "%%{http_code}\\n"\nurl = "%s/v1/tenants/acme/workloads/big"\nrequest = "PUT"\nheader = "Content-Type: application/json"\ndata-binary = "@%s"\noutput = "/dev/null"\n' \
		"$PKI/ca.crt" "$PKI/admin.crt" "$PKI/admin.key" "$URL" "$T/big-$((i % 2)).json" >>"$T/writes.cfg"
done
t0=$(date +%s)
curl -K "$T/writes.cfg" >"$T/writes.codes"
ok=$(grep -c '^200$\|^201$' "$T/writes.codes")
echo "history: $ok of $WRITES writes in $(($(date +%s) - t0)) s, revision $(revision)"
check "the history was written ($ok of $WRITES)" [ "$ok" = "$WRITES" ]

rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$BWD_PID/status"; }
sleep 1
rss0=$(rss)
# Ten watches from revision 0 whose clients never read: curl blocks
# opening its output FIFO (nobody reads it), so it stops reading the
# socket after the first bytes.
WPIDS=""
for i in $(seq 10); do
	mkfifo "$T/w$i"
	# curl itself, not a function's subshell, so that $! is the
	# process the cleanup kills (a curl left blocked on its FIFO
	# would outlive the test).
	curl -s --cacert "$PKI/ca.crt" --cert "$T/p/tu.crt" --key "$T/p/tu.key" \
		-N -o "$T/w$i" "$URL/v1/watch?since=0&kind=Workload" &
	WPIDS="$WPIDS $!"
	BW_PIDS="$BW_PIDS $!"
done
peak=$rss0
for i in $(seq 40); do
	r=$(rss); [ "$r" -gt "$peak" ] && peak=$r
	sleep 0.25
done
t1=$(date +%s.%N)
code=$(curl -sk -o /dev/null -w '%{http_code} %{time_total}' "$URL/healthz")
echo "healthz with ten stalled watches: $code s"
growth=$(( (peak - rss0) / 1024 ))
echo "bulwarkd RSS: ${rss0} kB before the watches, peak ${peak} kB with ten stalled watches (growth ${growth} MiB)"
check "RSS growth with ten non-reading watches under 64 MiB (${growth} MiB)" [ "$growth" -lt 64 ]
acurl "$URL/metrics" | grep '^bulwark_watch' || true
nw=$(acurl "$URL/metrics" | awk '/^bulwark_watchers / { print $2 }')
check "the ten watches are open ($nw)" [ "$nw" = 10 ]

# Per-principal cap (16): tu already has ten; ten more streaming
# watches reach it, and the next is refused.
for i in $(seq 10); do
	curl -s --cacert "$PKI/ca.crt" --cert "$T/p/tu.crt" --key "$T/p/tu.key" \
		-N --max-time 8 -o /dev/null "$URL/v1/watch" &
	BW_PIDS="$BW_PIDS $!"
done
sleep 2
code=$(tcurl --max-time 3 -o "$T/cap.json" -w '%{http_code}' "$URL/v1/watch")
check "a watch over the per-principal cap is refused with 429 and a JSON error (got $code: $(cat "$T/cap.json"))" \
	sh -c "[ '$code' = 429 ] && jq -e '.error.code == \"too_many_watches\"' '$T/cap.json' >/dev/null"

# The ten stalled watches are ended; a reader then sees the final line.
ended=0
for i in $(seq 90); do
	n=$(acurl "$URL/metrics" | awk '/^bulwark_watch_ended_slow_total / { print $2 }')
	if [ "${n:-0}" -ge 10 ]; then
		ended=1; break
	fi
	sleep 1
done
check "the watches that cannot take their next batch are ended (${n:-0} of 10)" [ "$ended" = 1 ]
timeout 20 cat "$T/w1" >"$T/w1.out"
tail -c 400 "$T/w1.out"; echo
check "its last line says why and where to resume" \
	sh -c "tail -n 1 '$T/w1.out' | jq -e '.type == \"ERROR\" and .error.code == \"too_slow\" and (.revision | type) == \"number\"' >/dev/null"
for p in $WPIDS; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
finish

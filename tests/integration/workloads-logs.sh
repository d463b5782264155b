#!/bin/bash
# Instance logs (issue 23, Done-means 5): a container writing 100 MiB to
# its stdout leaves at most its workload's log_max_bytes on the node (the
# log and its older half); `bulwark logs --follow` prints a line the
# instance writes within a second (measured three times, the median must
# be under 1 s); `--tail N` gives the last N lines; a principal of another
# tenant gets 404 for the instance's log, one of its own tenant reads it;
# a node reads no logs and pushes only its own; one principal reads at
# most 8 logs at once (the 9th: 429); a
# log_max_bytes outside its bounds is refused.
. "$(dirname "$0")/workloads-lib.sh" || exit 99

wl_start
CAP=1048576

talker() { # LOG_MAX_BYTES NAME (wl_refused's order)
	cat <<EOF
[{"kind": "Tenant", "metadata": {"name": "acme"}, "spec": {}},
 {"kind": "Tenant", "metadata": {"name": "beta"}, "spec": {}},
 {"kind": "Workload", "metadata": {"name": "$2", "tenant": "acme"},
  "spec": {"type": "container", "image": "$DIGEST", "replicas": 1,
           "resources": {"cpu_millis": 1000, "memory_mib": 32},
           "log_max_bytes": $1,
           "command": ["sh", "-c", "echo STARTED; busybox yes 'a line of output that repeats' | head -c 104857600; echo; sleep 3; echo DONE-WRITING; while :; do if [ -f /tmp/go ]; then echo MARK-\$(cat /tmp/go); rm -f /tmp/go; fi; sleep 0.02; done"],
           "restart_policy": "always"}}]
EOF
}
check "log_max_bytes below 64 KiB is refused" wl_refused talker 1000 "log_max_bytes"
check "log_max_bytes above 1 GiB is refused" wl_refused talker 2147483648 "log_max_bytes"
talker "$CAP" talker >"$T/talker.json"
t0=$(date +%s.%N)
check "apply a workload that writes 100 MiB (log_max_bytes 1 MiB)" $B apply -f "$T/talker.json"
wait_for 60 inst_is acme talker-0 '.status.phase == "Running"' ||
	{ fail "talker-0 Running"; tail -20 "$T/agent.log" >&2; finish; }
pass "talker-0 Running"
uid=$(inst acme talker-0 | jq -r .status.runtime_id)
LOG="$NS/instances/$uid/console.log"
# The instance waits 3 s after its 100 MiB before it says so: lines that
# come while the capture drops are dropped too.
done_writing() { grep -q DONE-WRITING "$LOG" 2>/dev/null; }
log_sample_until 1200 done_writing
t1=$(date +%s.%N)
check "the instance wrote its 100 MiB" done_writing
echo "100 MiB written in $(echo "$t1 - $t0" | bc) s (from apply, with the 3 s pause); largest log on disk seen: $maxsum bytes"
sum=$(( $(stat -c %s "$LOG") + $(stat -c %s "$LOG.1") ))
du=$(du -cb "$LOG" "$LOG.1" | tail -1 | cut -f1)
echo "on disk now: console.log + console.log.1 = $sum bytes (cap $CAP); $(ls "$NS/instances/$uid" | tr '\n' ' ')"
check "the log never held more than its cap ($maxsum <= $CAP)" [ "$maxsum" -le "$CAP" ]
check "it holds at most the cap now ($sum <= $CAP)" [ "$sum" -le "$CAP" ]
check "and it was rotated (both halves exist)" [ -s "$LOG.1" ]
# whole lines only: the repeated one, its last copy cut by head -c, the
# capture's own notes of what it dropped, the script's own lines
cat "$LOG.1" "$LOG" | grep -v -x -e 'a line of output that repeats' -e 'a[a-z ]*' \
	-e 'bulwark: [0-9]* lines of output dropped (the log could not keep up)' \
	-e STARTED -e DONE-WRITING -e '' | head -5 >"$T/odd-lines"
check "every line in it is whole" [ ! -s "$T/odd-lines" ]
[ -s "$T/odd-lines" ] && sed 's/^/odd line: /' "$T/odd-lines" | cut -c1-200 >&2
dropped=$(inst acme talker-0 | jq -r '.status.log_dropped // 0')
echo "lines the capture dropped (status.log_dropped): $dropped"

echo "== bulwark logs"
check "--tail 1 gives the last line" bash -c "$B logs talker-0 -t acme --tail 1 | grep -qx DONE-WRITING"
check "--tail 3 gives three lines" bash -c "[ \$($B logs talker-0 -t acme --tail 3 | wc -l) = 3 ]"
check "--json gives JSON lines with offsets" bash -c "$B logs talker-0 -t acme --tail 2 --json | jq -e '.end > 1000000 and (.data | endswith(\"DONE-WRITING\n\"))' >/dev/null"

$B logs talker-0 -t acme --follow --tail 1 >"$T/follow.out" 2>"$T/follow.err" &
FOLLOW=$!
BW_PIDS="$BW_PIDS $FOLLOW"
check "--follow prints the last line first" wait_for 20 grep -q DONE-WRITING "$T/follow.out"
pid=$(crun --root "$RUN/crun" state "bw-$uid" | jq -r .pid)
lat=""
for k in 1 2 3; do
	s=$(date +%s%N)
	nsenter -t "$pid" -U -m /bin/busybox sh -c "echo go$k >/tmp/go"
	for i in $(seq 1000); do
		grep -q "MARK-go$k" "$T/follow.out" && break
		sleep 0.01
	done
	e=$(date +%s%N)
	grep -q "MARK-go$k" "$T/follow.out" || { lat="$lat 99999"; continue; }
	lat="$lat $(( (e - s) / 1000000 ))"
done
median=$(echo $lat | tr ' ' '\n' | sort -n | sed -n 2p)
echo "bulwark logs --follow: line written -> printed in$lat ms (median $median ms)"
check "--follow prints each new line (3 of 3)" bash -c "[ \$(grep -c MARK-go '$T/follow.out') = 3 ]"
check "--follow prints new lines within 1 s (median $median ms)" [ "$median" -lt 1000 ]
kill "$FOLLOW" 2>/dev/null
wait "$FOLLOW" 2>/dev/null

echo "== who may read it"
$B principal create ann -t acme --role tenant-user --out "$T/p" >/dev/null || fail "create ann"
$B principal create bob -t beta --role tenant-user --out "$T/p" >/dev/null || fail "create bob"
check "a tenant-user of acme reads it" bash -c "'$BW/bulwark' --config '$T/p/ann.conf' logs talker-0 -t acme --tail 1 | grep -qx MARK-go3"
out=$("$BW/bulwark" --config "$T/p/bob.conf" logs talker-0 -t acme --tail 1 2>&1); rc=$?
echo "beta's bob: rc $rc: $out"
check "a tenant-user of beta does not (exit 4, 404)" bash -c "[ $rc = 4 ] && echo '$out' | grep -q '(404)' && ! echo '$out' | grep -q 'a line of'"
code=$(curl -s -o "$T/bob.json" -w '%{http_code}' --cacert "$PKI/ca.crt" \
	--cert "$T/p/bob.crt" --key "$T/p/bob.key" \
	"$URL/v1/logs/tenants/acme/instances/talker-0")
check "and neither does the API for it ($code)" [ "$code" = 404 ]
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$PKI/ca.crt" \
	--cert "$T/p/ann.crt" --key "$T/p/ann.key" -X POST -d '{"logs": []}' \
	-H 'Content-Type: application/json' "$URL/v1/logs/nodes/n1")
check "a tenant-user cannot push a node's logs ($code)" [ "$code" = 403 ]
check "ann's read and bob's refusal are in the trail" wait_for 10 bash -c "'$BW/bulwark' --config '$AUDITOR' audit search --action instance.logs -o json | jq -e '([.items[] | select(.actor == \"ann\" and .outcome == \"success\")] | length >= 1) and ([.items[] | select(.actor == \"bob\" and .outcome != \"success\")] | length >= 1)' >/dev/null"

echo "== what the node's own credential may do (agent stopped: swtpm serves one client)"
stop_agent_wl
node_req() { # METHOD PATH [BODY] -> the HTTP status
	"$BW/bulwark-agent" request --tpm "$TCTI" --state-dir "$NS" --server "$URL" "$@" 2>/dev/null | head -1
}
code=$(node_req GET /v1/logs/tenants/acme/instances/talker-0)
check "node n1 does not read logs through bulwarkd ($code)" [ "$code" = 403 ]
code=$(node_req POST /v1/logs/nodes/n2 '{"logs": []}')
check "node n1 does not push node n2's logs ($code)" [ "$code" = 403 ]
code=$(node_req POST /v1/logs/nodes/n1 '{"logs": []}')
check "node n1 pushes its own ($code)" [ "$code" = 200 ]
start_agent_wl

echo "== one principal reads at most 8 logs at once"
cat >"$T/quiet.json" <<EOF
{"kind": "Workload", "metadata": {"name": "quiet", "tenant": "acme"},
 "spec": {"type": "container", "image": "$DIGEST", "replicas": 9,
          "resources": {"cpu_millis": 50, "memory_mib": 16},
          "command": ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1; done"],
          "restart_policy": "always"}}
EOF
check "apply 9 quiet instances" $B apply -f "$T/quiet.json"
check "all 9 are bound to n1" wait_for 60 bash -c "[ \"\$(instances acme | jq '[.[] | select(.spec.workload == \"quiet\" and .spec.node == \"n1\")] | length')\" = 9 ]"
$B principal create cat -t acme --role tenant-user --out "$T/p" >/dev/null || fail "create cat"
codes=""
for k in 0 1 2 3 4 5 6 7 8; do
	codes="$codes $(curl -s -o /dev/null -w '%{http_code}' --cacert "$PKI/ca.crt" \
		--cert "$T/p/cat.crt" --key "$T/p/cat.key" \
		"$URL/v1/logs/tenants/acme/instances/quiet-$k")"
done
echo "cat reads quiet-0..8:$codes"
check "the first 8 are read, the 9th is refused with 429" [ "$codes" = " 200 200 200 200 200 200 200 200 429" ]
check "delete the quiet workload" $B delete workload quiet -t acme

check "delete the workload" $B delete workload talker -t acme
wait_for 60 bash -c "[ \"\$(instances acme | jq length)\" = 0 ]" || fail "talker-0 is gone"
check "its log went with it" wait_for 60 bash -c "[ ! -e '$LOG' ]"
finish

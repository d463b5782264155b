#!/bin/bash
# bulwarkd --privsep: the API worker is a child of bulwarkd running as its
# own unprivileged user with no capabilities, no new privileges and a
# seccomp filter, holding no file of the data directory; it serves mTLS
# (handshakes signed by the parent's TPM-held key). A test hook makes it
# call a forbidden system call: it dies by SIGSYS, is reaped, audited and
# restarted, and the parent (same pid) keeps serving; the node agent
# reconnects. Each malformed frame kind the worker is made to send is
# refused, the worker ended and restarted, and the parent keeps serving.
. "$(dirname "$0")/lib.sh" || exit 99
. "$(dirname "$0")/identity-lib.sh" || exit 99

D="$T/d"
mkdir -p "$D" && echo '{"attestation": {"interval_seconds": 1, "stale_after_seconds": 30,
	"node_certificate_seconds": 3600}}' >"$D/bulwarkd.conf"
start_bulwarkd "$D" --privsep || { echo "bulwarkd did not start"; exit 1; }
B="$BW/bulwark --config $CONF"
PARENT=$BWD_PID

# the worker: the child of bulwarkd started as `bulwarkd --worker`
# The worker is the spawner's child when bulwarkd may change users (root
# here), else bulwarkd's own.
spawner_pid() { pgrep -P "$PARENT" -x bwd-spawner | head -1; }
worker_pid() {
	for p in "$PARENT" $(spawner_pid); do pgrep -P "$p" -f -- '--worker$'; done | head -1
}
field() { awk -v f="$1:" '$1 == f { print $2 }' "/proc/$2/status"; }
serving() { acurl --max-time 5 -o /dev/null -w '%{http_code}' "$URL/v1/whoami" | grep -q 200; }
new_worker() { W2=$(worker_pid); [ -n "$W2" ] && [ "$W2" != "$1" ] && serving; }
trail_has() { grep -arqF -- "$1" "$D/audit"; }

W=$(worker_pid)
check "a worker runs as a child of bulwarkd (pid ${W:-none})" [ -n "$W" ]
wuid=$(field Uid "$W"); puid=$(field Uid "$PARENT")
check "the worker's uid ($wuid) is neither 0 nor bulwarkd's ($puid)" \
	sh -c "[ '$wuid' != 0 ] && [ '$wuid' != '$puid' ]"
check "the worker's gid is not 0" [ "$(field Gid "$W")" != 0 ]
S=$(spawner_pid)
check "a spawner (pid ${S:-none}) is the worker's parent" [ -n "$S" -a "$(field PPid "$W")" = "$S" ]
# CAP_SETGID is bit 6, CAP_SETUID 7, CAP_SETPCAP 8.
capbits() { printf '%d' $(( 0x$(field "$1" "$2") & 0x1c0 )); }
for f in CapEff CapPrm CapBnd; do
	check "bulwarkd's $f lacks CAP_SETUID, CAP_SETGID, CAP_SETPCAP" [ "$(capbits $f "$PARENT")" = 0 ]
done
check "the spawner's CapEff is CAP_SETUID and CAP_SETGID alone" \
	[ "$(field CapEff "$S")" = 00000000000000c0 -a "$(field CapPrm "$S")" = 00000000000000c0 ]
check "the spawner has Seccomp 2 and NoNewPrivs 1" \
	[ "$(field Seccomp "$S")/$(field NoNewPrivs "$S")" = 2/1 ]
check "the worker's CapEff is 0" [ "$(field CapEff "$W")" = 0000000000000000 ]
# SIGPIPE (13) ignored: a peer that closes while the worker writes must
# not end it (a client without a certificate could, at will)
sigpipe_ignored() { [ $((0x$(field SigIgn "$1") & 0x1000)) -ne 0 ]; }
check "the worker ignores SIGPIPE" sigpipe_ignored "$W"
check "the spawner ignores SIGPIPE" sigpipe_ignored "$S"
check "the worker's CapPrm is 0" [ "$(field CapPrm "$W")" = 0000000000000000 ]
check "the worker has Seccomp 2" [ "$(field Seccomp "$W")" = 2 ]
check "the worker has NoNewPrivs 1" [ "$(field NoNewPrivs "$W")" = 1 ]
ls -l "/proc/$W/fd" >"$T/worker-fds" 2>&1
check "the worker holds no file under pki/" sh -c "! grep -q '/pki/' '$T/worker-fds'"
# fds 1 and 2 are bulwarkd's own log (the test sends it to $D)
check "the worker holds no other file of the data directory" \
	sh -c "awk '\$9 > 2' '$T/worker-fds' | grep -qF '$D/' && exit 1 || exit 0"
check "the parent holds the TPM-wrapped key, the worker does not map it" \
	sh -c "! grep -q server.key /proc/$W/maps"

# serving through the worker: mTLS identities, anonymous health, refusals
whoami_admin() { acurl -s "$URL/v1/whoami" | jq -e '.principal == "admin"' >/dev/null; }
check "whoami through the worker names the admin" whoami_admin
check "healthz without a certificate" curl -sk --max-time 5 -o /dev/null "$URL/healthz"
code=$(curl -sk -o /dev/null -w '%{http_code}' --max-time 5 "$URL/v1/nodes")
check "no certificate: 401 (got $code)" [ "$code" = 401 ]
# 100,000 pipelined requests (3.8 MB) hold and release the relay's client
# side many times, with bytes left in OpenSSL's read-ahead buffer
hp=${URL#https://}
check "100000 pipelined requests on one connection all answered" \
	python3 "$top_srcdir/tests/integration/tls-pipeline.py" "${hp%:*}" "${hp##*:}" 100000 120
check_fails "a TLS 1.1 handshake fails" curl -sk --tlsv1.1 --tls-max 1.1 "$URL/healthz" -o /dev/null
check "apply through the worker" $B apply -f "$top_srcdir/examples/tenant.json"

# a node agent, enrolled and attesting through the worker
enrol_nodes 60 n1 || finish
$B watch -o json >"$T/watch1.out" 2>&1 &
WATCH1=$!
BW_PIDS="$BW_PIDS $WATCH1"
sleep 1

# -- a forbidden system call: SIGSYS, reaped, audited, restarted
sleep 2		# past the restart backoff's crash window
echo syscall >"$D/test-hook"
kill -USR2 "$PARENT"
check "a new worker serves after the forbidden system call" wait_for 30 new_worker "$W"
check "bulwarkd (pid $PARENT) is still running" kill -0 "$PARENT"
check "the old worker is reaped (no zombie)" sh -c "! [ -e /proc/$W ] || ! grep -q '^State:.*Z' /proc/$W/status"
check "the log names SIGSYS" grep -q "killed by SIGSYS" "$D/bulwarkd.log"
check "the trail has privsep.worker_died" wait_for 10 trail_has privsep.worker_died
check "the trail has privsep.worker_restart" wait_for 10 trail_has privsep.worker_restart
check "the worker_died record names the seccomp kill" \
	sh -c "grep -arh privsep.worker_died '$D/audit' | grep -q SIGSYS"
W=$(worker_pid)
check "the new worker has Seccomp 2 and CapEff 0" \
	sh -c "[ '$(field Seccomp "$W")' = 2 ] && [ '$(field CapEff "$W")' = 0000000000000000 ]"
check "the watch opened before ended with its worker" wait_for 10 sh -c "! kill -0 $WATCH1 2>/dev/null"
$B watch -o json >"$T/watch2.out" 2>&1 &
WATCH2=$!
BW_PIDS="$BW_PIDS $WATCH2"
sleep 1
check "apply after the restart" $B apply -f "$top_srcdir/examples/tenant.json"
$B delete workload web -t acme >/dev/null 2>&1
check "a new watch sees events" wait_for 10 grep -q '"web"' "$T/watch2.out"
kill "$WATCH2" 2>/dev/null
t0=$(date +%s)
reattested() { [ "$(acurl "$URL/v1/nodes/n1" | jq -r .status.last_attested_unix)" -gt "$t0" ]; }
check "the agent reconnected and attested again" wait_for 30 reattested
check "the node is still Trusted" is_state n1 Trusted

# -- malformed frames: each refused, the worker ended and restarted
for kind in short oversized unknown badlen version state rate; do
	W=$(worker_pid)
	n=$(grep -arh privsep.worker_refused "$D/audit" 2>/dev/null | wc -l)
	sleep 2
	echo "$kind" >"$D/test-hook"
	kill -USR2 "$PARENT"
	check "$kind frame: a new worker serves" wait_for 30 new_worker "$W"
	refused() { [ "$(grep -arh privsep.worker_refused "$D/audit" | wc -l)" -gt "$n" ]; }
	check "$kind frame: privsep.worker_refused recorded" wait_for 10 refused
	check "$kind frame: bulwarkd (pid $PARENT) is still running" kill -0 "$PARENT"
done
for why in "short frame" "the limit is" "unknown message type" "CONN: 2 bytes" \
	"frame version 2" "HELLO: not allowed in state 1" "ANON: more than"; do
	check "a refusal says \"$why\" (the log)" grep -qF "$why" "$D/bulwarkd.log"
done
check "still serving after every refusal" serving

kill "$AGENT_n1" 2>/dev/null; wait "$AGENT_n1" 2>/dev/null
stop_swtpm "$T/tpm-n1"
stop_bulwarkd; rc=$?
check "SIGTERM stops bulwarkd cleanly (exit $rc)" [ $rc = 0 ]
check "no worker is left" sh -c "! pgrep -P $PARENT -f -- '--worker$'"
BW_PIDS=""
check "audit trail verifies" $BW/bulwark audit verify "$D/audit"

# -- a spawner that dies leaves no API down for good: bulwarkd exits 1,
# saying why, for systemd to start it again (a new spawner needs the
# capabilities it dropped). Only where bulwarkd may change users.
if [ -n "$S" ]; then
	start_bulwarkd "$D" --privsep || echo "bulwarkd did not start again"
	PARENT=$BWD_PID
	S=$(spawner_pid); W=$(worker_pid)
	check "a spawner and its worker run again (pids ${S:-none} ${W:-none})" [ -n "$S" -a -n "$W" ]
	# gone: no such process or a zombie (PID 1 here reaps nothing)
	gone() { [ ! -e "/proc/$1" ] || grep -q ') Z' "/proc/$1/stat"; }
	[ -n "$S" ] && kill -KILL "$S"
	check "bulwarkd ends when its spawner dies" wait_for 60 gone "$BWD_PID"
	gone "$BWD_PID" || kill -KILL "$BWD_PID"
	wait "$BWD_PID"; rc=$?
	BW_PIDS=""
	check "bulwarkd exits 1 (exit $rc)" [ $rc = 1 ]
	check "its log says \"spawner failed\"" grep -qF "spawner failed" "$D/bulwarkd.log"
	check "the worker ended with bulwarkd" wait_for 30 gone "${W:-0}"
fi
finish

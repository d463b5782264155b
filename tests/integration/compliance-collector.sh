#!/bin/bash
# bulwarkd's scan with the privileged collector (issue 17,
# bulwark-collect(8)): with BULWARK_COLLECT_SOCKET pointing at a socket
# where each connection starts the real bulwark-collect (as systemd's
# Accept=yes does) on a prepared root, the collector's checks carry its
# observations (auditd.conf read from that root, not from this host) and
# bulwarkd's facts; a collector answering garbage makes them not
# satisfied with an observation saying why; without the socket the scan
# reads the host itself, as before.
. "$(dirname "$0")/lib.sh" || exit 99
command -v python3 >/dev/null || { echo "SKIP: no python3"; exit 77; }

root="$T/root"
mkdir -p "$root/etc/audit" "$root/proc"
printf 'log_format = ENRICHED\nname_format = hostname\nmax_log_file_action = keep_logs\ndisk_full_action = halt\ndisk_error_action = halt\n' \
	>"$root/etc/audit/auditd.conf"
sock="$T/collect.sock"

# serve MODE: a listener at $sock; per connection, MODE collector runs
# bulwark-collect with the connection as its standard input, MODE
# garbage answers bytes that are no answer.
serve() {
	python3 - "$sock" "$1" "$BW/bulwark-collect" "$root" <<'PY' &
import os, socket, subprocess, sys
path, mode, prog, root = sys.argv[1:5]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(path)
s.listen(4)
while True:
    c, _ = s.accept()
    if mode == "collector":
        subprocess.run([prog, "--root", root], stdin=c)
    else:
        c.recv(12)
        c.sendall(b"HTTP/1.0 200 OK\r\n\r\nsatisfied\n")
    c.close()
PY
	SERVE_PID=$!
	BW_PIDS="$BW_PIDS $SERVE_PID"
	wait_for 10 test -S "$sock"
}
unserve() {
	kill "$SERVE_PID" 2>/dev/null
	wait "$SERVE_PID" 2>/dev/null
	rm -f "$sock"
}
scan() {
	acurl -X POST -H Content-Type:application/json --data '{"baseline":"moderate"}' \
		"$URL/v1/compliance/scans" >"$T/scan.json"
}
verdict() { # CHECK
	jq -r --arg c "$1" '.results[] | select(.check == $c) | .verdict' "$T/scan.json"
}
found() { # CHECK SUBJECT
	jq -r --arg c "$1" --arg s "$2" '.results[] | select(.check == $c) |
		.observations[] | select(.subject == $s) | .found' "$T/scan.json" | head -1
}

export BULWARK_COLLECT_SOCKET="$sock"
start_bulwarkd "$T/d" || exit 1

# No socket: the scan reads this host. As root it says nothing of a
# collector; as another user it says the collector is absent.
scan
check "no collector: the scan has results" \
	jq -e '.results | length > 0' "$T/scan.json"
if [ "$(id -u)" = 0 ]; then
	check "no collector, root: au-log-format has no collector observation" \
		test -z "$(found au-log-format collector)"
else
	check "no collector, not root: au-log-format says it is absent" \
		test -n "$(found au-log-format collector | grep 'no bulwark-collect at')"
fi

serve collector || fail "the test collector listens"
scan
euid=$(id -u)
check "au-log-format's host observation is the collector's (ENRICHED from the prepared root)" \
	test "$(found au-log-format '/etc/audit/auditd.conf log_format')" = ENRICHED
check "au-log-format satisfied through the collector ($(verdict au-log-format))" \
	test "$(verdict au-log-format)" = satisfied
check "au-log-format names the collector (euid $euid)" \
	test "$(found au-log-format collector)" = "bulwark-collect (euid $euid)"
check "au-failure-response keeps bulwarkd's fact audit_fail_closed" \
	test -n "$(found au-failure-response fact:audit_fail_closed)"
check "au-failure-response's disk_full_action is the collector's" \
	test "$(found au-failure-response '/etc/audit/auditd.conf disk_full_action')" = halt
check "ac-faillock (not a collector check) is bulwarkd's own" \
	test -z "$(found ac-faillock collector)"
unserve

serve garbage || fail "the garbage collector listens"
scan
check "garbage: au-log-format not satisfied ($(verdict au-log-format))" \
	test "$(verdict au-log-format)" = not-satisfied
check "garbage: the observation says why ($(found au-log-format collector))" \
	sh -c "jq -e '.results[] | select(.check == \"au-log-format\") | .observations[] |
		select(.subject == \"collector\" and (.found | test(\"bad magic\")) and .ok == false)' \
		'$T/scan.json' >/dev/null"
check "bulwarkd logged the collector's failure" \
	grep -q "bulwark-collect at $sock: bad magic" "$T/d/bulwarkd.log"
unserve

# Not root and no socket (the socket unit stopped on the appliance): the
# collector's checks say it is absent, and each scan logs it once.
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
	chmod 755 "$T"
	mkdir -p "$T/nr" && chown 65534:65534 "$T/nr"
	BULWARK_COLLECT_SOCKET="$T/none.sock" setpriv --reuid=65534 \
		--regid=65534 --clear-groups "$BW/bulwarkd" --data-dir "$T/nr" \
		--listen 127.0.0.1:0 >"$T/nr.log" 2>&1 &
	BW_PIDS="$BW_PIDS $!"
	if wait_for 30 test -s "$T/nr/admin.conf"; then
		PKI="$T/nr/pki"
		URL="https://127.0.0.1:$(jq -r .server "$T/nr/admin.conf" | sed 's/.*://')"
		wait_for 30 curl -gsk "$URL/healthz"
		scan
		check "not root, no socket: au-log-format not satisfied ($(verdict au-log-format))" \
			test "$(verdict au-log-format)" = not-satisfied
		check "not root, no socket: it says the collector is absent" \
			test -n "$(found au-log-format collector | grep 'no bulwark-collect at .*(euid 65534)')"
		check "not root, no socket: ac-faillock says nothing of a collector" \
			test -z "$(found ac-faillock collector)"
		check "not root, no socket: logged once for the scan" \
			test "$(grep -c 'no bulwark-collect at' "$T/nr.log")" = 1
	else
		fail "bulwarkd as uid 65534 did not start: $(tail -3 "$T/nr.log")"
	fi
fi

# A socket path longer than sun_path stops the start instead of being cut
# to another path.
long="$T/$(printf '%0120d' 0).sock"
check "a BULWARK_COLLECT_SOCKET over sun_path stops bulwarkd's start" \
	sh -c "! BULWARK_COLLECT_SOCKET='$long' timeout 60 '$BW/bulwarkd' \
		--data-dir '$T/d2' --listen 127.0.0.1:0 >'$T/d2.log' 2>&1"
check "bulwarkd says why ($(grep -o 'BULWARK_COLLECT_SOCKET[^"]*' "$T/d2.log" | head -1))" \
	grep -q "BULWARK_COLLECT_SOCKET: over 107 bytes" "$T/d2.log"
finish

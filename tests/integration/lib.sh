# Shared helpers for integration tests (sourced). Every test runs the
# real binaries on a private temp dir and port, and kills and reaps
# everything it started.
set -u
# jq -e that fails on empty input (see bin/jq), for sh -c checks too
PATH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/bin:$PATH"
export PATH
BW=${BW_BIN:-${top_builddir:-$(pwd)}}
T=$(mktemp -d /tmp/bw-test.XXXXXX)
BW_PIDS=""
BW_UMOUNTS=""
fails=0

cleanup() {
	local p
	for p in $BW_PIDS; do
		kill -TERM "$p" 2>/dev/null
	done
	for p in $BW_PIDS; do
		wait "$p" 2>/dev/null
	done
	for p in $BW_UMOUNTS; do
		umount "$p" 2>/dev/null
	done
	[ -n "${BW_KEEP:-}" ] || rm -rf "$T"
}
trap cleanup EXIT

fail() {
	echo "FAIL: $*" >&2
	fails=$((fails + 1))
}

pass() {
	echo "ok: $*"
}

# check DESCRIPTION COMMAND...: passes when COMMAND succeeds.
check() {
	local what="$1"; shift
	if "$@"; then pass "$what"; else fail "$what"; fi
}

# check_fails DESCRIPTION COMMAND...: passes when COMMAND fails.
check_fails() {
	local what="$1"; shift
	if "$@"; then fail "$what"; else pass "$what"; fi
}

# wait_for SECONDS COMMAND...: runs COMMAND every 0.1 s until it succeeds
# (returns 0) or SECONDS have passed (returns 1).
wait_for() {
	local s=$1 i
	shift
	for i in $(seq $((s * 10))); do "$@" && return 0; sleep 0.1; done
	return 1
}

finish() {
	if [ $fails -gt 0 ]; then
		echo "$fails check(s) failed" >&2
		exit 1
	fi
	exit 0
}

# start_bulwarkd DIR [ARG...]: starts bulwarkd on a free port with state
# in DIR (and ARGs, e.g. --max-connections 3) and waits until it serves;
# sets BWD_PID, PORT, URL, CONF, AUDITOR, PKI. It listens on BW_HOST
# (default 127.0.0.1; "[::1]" for IPv6 loopback).
start_bulwarkd() {
	local dir="$1" host=${BW_HOST:-127.0.0.1} i
	shift
	PORT=
	mkdir -p "$dir"
	rm -f "$dir/admin.conf"
	# BWD_ARGS: extra options for every start (e.g. --privsep)
	"$BW/bulwarkd" --data-dir "$dir" --listen "$host:0" ${BWD_ARGS:-} "$@" \
		>>"$dir/bulwarkd.log" 2>&1 &
	BWD_PID=$!
	BW_PIDS="$BW_PIDS $BWD_PID"
	for i in $(seq 200); do
		if [ -f "$dir/admin.conf" ]; then
			PORT=$(jq -r .server "$dir/admin.conf" | sed 's/.*://')
			[ -n "$PORT" ] && curl -gsk "https://$host:$PORT/healthz" >/dev/null 2>&1 && break
		fi
		kill -0 "$BWD_PID" 2>/dev/null || { cat "$dir/bulwarkd.log" >&2; return 1; }
		sleep 0.05
	done
	CONF="$dir/admin.conf"
	AUDITOR="$dir/auditor.conf"
	PKI="$dir/pki"
	URL="https://$host:$PORT"
}

stop_bulwarkd() {
	kill -TERM "$BWD_PID" 2>/dev/null
	wait "$BWD_PID"
}

# check_bulwarkd_stops_cleanly DIR: stops the bulwarkd started with state
# in DIR and checks it exits 0 and left no sanitizer report in its log.
check_bulwarkd_stops_cleanly() {
	local dir="$1" rc p rest=""
	stop_bulwarkd
	rc=$?
	# reaped: the cleanup must not signal its pid, which may be reused
	for p in $BW_PIDS; do
		[ "$p" = "$BWD_PID" ] || rest="$rest $p"
	done
	BW_PIDS=$rest
	check "bulwarkd stopped cleanly (exit $rc)" [ "$rc" = 0 ]
	check_fails "no sanitizer report from bulwarkd" \
		grep -q 'Sanitizer\|runtime error' "$dir/bulwarkd.log"
}

# curl with the admin's client certificate (-g: URLs may name [::1])
acurl() {
	curl -gs --cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" --key "$PKI/admin.key" "$@"
}

# metric NAME: the value of the Prometheus sample NAME (e.g.
# 'bulwark_connections_evicted_total{reason="full"}'), read as the admin.
metric() {
	acurl --max-time 5 "$URL/metrics" | awk -v m="$1" '$1 == m { print $2 }'
}

# the store revision (/healthz details need a certificate)
revision() {
	acurl "$URL/healthz" | jq -r .revision
}

# bench/fleet/fleet-lib.sh: what fleet.sh and agent-idle.sh share, sourced
# by them (not run). Before sourcing, the script sets BW (the build
# directory) and FLEET_BENCH, the name its errors start with
# ("bench/fleet: ..."). Sets T (a temporary directory, removed on exit),
# D (bulwarkd's data directory in it), SIM (fleet-sim), PID (bulwarkd)
# and SIM_PID (the fleet-sim run in the background that loads it), both
# stopped on exit.
SIM="$BW/bench/fleet/fleet-sim"
T=$(mktemp -d)
D="$T/d"
mkdir -p "$D"
PID= SIM_PID=
stop_pid() { [ -n "$1" ] && kill -TERM "$1" 2>/dev/null && wait "$1"; }
fleet_cleanup() {
	stop_pid "$SIM_PID"
	stop_pid "$PID"
	rm -rf "$T"
}
trap fleet_cleanup EXIT
die() { echo "$FLEET_BENCH: $*" >&2; tail -5 "$T/bulwarkd.log" >&2; exit 1; }

# Starts bulwarkd on $D (its configuration written before) into PID and
# waits until it answers /healthz.
start() {
	"$BW/bulwarkd" --data-dir "$D" --listen 127.0.0.1:0 >>"$T/bulwarkd.log" 2>&1 &
	PID=$!
	for _ in $(seq 600); do
		if [ -f "$D/admin.conf" ]; then
			port=$(jq -r .server "$D/admin.conf" | sed 's/.*://')
			curl -sk "https://127.0.0.1:$port/healthz" >/dev/null 2>&1 && return 0
		fi
		kill -0 "$PID" 2>/dev/null || die "bulwarkd did not start"
		sleep 0.1
	done
	die "bulwarkd did not answer"
}
restart_seeded() { # first count: the stopped store gets Nodes nFIRST.. seeded
	stop_pid "$PID"; PID=
	"$SIM" seed "$D/store" "$1" "$2" || die "seed $1 $2"
	start
	sleep 2	# the controller's first model build
}
# bulwarkd is the daemon and the processes it starts but swtpm (the
# developer TPM it starts when there is none): with privilege separation
# (the default) the spawner and the API worker it starts, `bulwarkd
# --worker`, which does the TLS of every request. All long-lived.
daemon_pids() {
	local c
	echo "$PID"
	for c in $(pgrep -P "$PID"); do
		[ "$(cat "/proc/$c/comm" 2>/dev/null)" = swtpm ] && continue
		echo "$c" $(pgrep -P "$c")
	done
}
# ns on CPU of bulwarkd's threads: /proc/PID/stat counts clock ticks of
# 10 ms, a few dozen for FLEET_WRITES unchanged writes, too coarse for a
# ratio of two such counts
cpu_ns() {
	local p
	for p in $(daemon_pids); do cat /proc/"$p"/task/*/schedstat 2>/dev/null; done |
		awk '{ s += $1 } END { printf "%.0f\n", s }'
}
trail_count() { # action prefix -> the trail's records of it ('' all)
	cat "$D"/audit/seg-*.log 2>/dev/null | grep -a -c " action=$1"
}

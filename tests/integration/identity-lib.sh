# Helpers for the identity tests (sourced after lib.sh): private swtpm
# instances on free loopback ports, killed and reaped by the tests.

# start_swtpm DIR: starts swtpm with its state in DIR; sets SWTPM_TCTI and
# records the pid in DIR.pid (also in BW_PIDS for the cleanup).
start_swtpm() {
	local dir="$1" port i pid
	mkdir -p "$dir"
	for i in $(seq 20); do
		port=$((20000 + RANDOM % 40000))
		ss -Htln "( sport = :$port or sport = :$((port + 1)) )" | grep -q . && continue
		swtpm socket --tpm2 --tpmstate dir="$dir" \
			--server type=tcp,port=$port,bindaddr=127.0.0.1 \
			--ctrl type=tcp,port=$((port + 1)),bindaddr=127.0.0.1 \
			--flags not-need-init,startup-clear >>"$dir.log" 2>&1 &
		pid=$!
		for _ in $(seq 50); do
			kill -0 $pid 2>/dev/null || break
			(exec 3<>/dev/tcp/127.0.0.1/$((port + 1))) 2>/dev/null && break
			sleep 0.05
		done
		if kill -0 $pid 2>/dev/null; then
			echo $pid >"$dir.pid"
			BW_PIDS="$BW_PIDS $pid"
			SWTPM_TCTI="swtpm:host=127.0.0.1,port=$port"
			return 0
		fi
		wait $pid 2>/dev/null
	done
	return 1
}

stop_swtpm() {
	local pid
	pid=$(cat "$1.pid" 2>/dev/null) || return 0
	kill -TERM "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	rm -f "$1.pid"
}

# Helpers for the identity tests (sourced after lib.sh): private swtpm
# instances on free loopback ports, and nodes enrolled through them,
# killed and reaped by the tests.

# start_swtpm DIR: starts swtpm with its state in DIR; sets SWTPM_TCTI and
# records the pid in DIR.pid (also in BW_PIDS for the cleanup). In the
# network namespace SWTPM_NETNS when set (its loopback).
start_swtpm() {
	local dir="$1" port i pid in=${SWTPM_NETNS:+ip netns exec $SWTPM_NETNS}
	mkdir -p "$dir"
	for i in $(seq 20); do
		port=$((20000 + RANDOM % 40000))
		$in ss -Htln "( sport = :$port or sport = :$((port + 1)) )" | grep -q . && continue
		$in swtpm socket --tpm2 --tpmstate dir="$dir" \
			--server type=tcp,port=$port,bindaddr=127.0.0.1 \
			--ctrl type=tcp,port=$((port + 1)),bindaddr=127.0.0.1 \
			--flags not-need-init,startup-clear >>"$dir.log" 2>&1 &
		pid=$!
		for _ in $(seq 50); do
			kill -0 $pid 2>/dev/null || break
			$in bash -c "exec 3<>/dev/tcp/127.0.0.1/$((port + 1))" 2>/dev/null && break
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

attestation() { acurl "$URL/v1/nodes/$1" | jq -r .status.attestation; }
is_state() { [ "$(attestation "$1")" = "$2" ]; }
has_pending() { [ "$(acurl "$URL/v1/nodes/$1" | jq -r '.status.pending.pcrs["7"]')" != null ]; }

# enrol_nodes SECONDS NODE...: gives each NODE a private swtpm (TCTI_NODE)
# and a bulwark-agent (pid AGENT_NODE, state $T/state-NODE, log
# $T/agent-NODE.log, more options in ENROL_ARGS_NODE, e.g. to run
# workloads; both in the network namespace ENROL_NETNS_NODE when set,
# the agent then talking to ENROL_SERVER_NODE instead of URL) enrolled
# with a bootstrap credential, approves the PCR values each quotes and
# waits for every node to be Trusted, up to SECONDS per step. Returns 1 when a node is not Trusted (its agent's log follows
# on stderr); finishes the test when a swtpm does not start. Needs the
# running bulwarkd of start_bulwarkd.
# approve_node NODE: the administrator approves NODE's pending
# enrolment; succeeds when the server answers 200.
approve_node() {
	[ "$(acurl -o "$T/approve-$1.json" -w '%{http_code}' -X POST \
		-H 'Content-Type: application/json' -d "{\"node\":\"$1\"}" \
		"$URL/v1/enrol/approve")" = 200 ]
}

enrol_nodes() {
	local secs=$1 n rc=0 more ns server
	shift
	for n in "$@"; do
		eval "ns=\${ENROL_NETNS_$n:-} server=\${ENROL_SERVER_$n:-\$URL}"
		SWTPM_NETNS=$ns start_swtpm "$T/tpm-$n" || { fail "swtpm for $n"; finish; }
		eval "TCTI_$n=\$SWTPM_TCTI"
		acurl -o "$T/boot-$n.json" -X POST -H 'Content-Type: application/json' \
			-d "{\"node\":\"$n\"}" "$URL/v1/enrol/bootstrap"
		eval "more=\${ENROL_ARGS_$n:-}"
		# shellcheck disable=SC2086
		${ns:+ip netns exec "$ns"} "$BW/bulwark-agent" --tpm "$SWTPM_TCTI" \
			--state-dir "$T/state-$n" --server "$server" \
			--bootstrap "$T/boot-$n.json" --wait 60 $more >>"$T/agent-$n.log" 2>&1 &
		eval "AGENT_$n=$!"
		BW_PIDS="$BW_PIDS $!"
	done
	for n in "$@"; do
		wait_for "$secs" has_pending "$n" || fail "$n did not quote"
		# an approval refused (e.g. the quote was still being
		# verified) is tried again rather than left to look like
		# a node that never becomes Trusted
		wait_for "$secs" approve_node "$n" ||
			fail "$n approved (last answer: $(cat "$T/approve-$n.json"))"
	done
	for n in "$@"; do
		if wait_for "$secs" is_state "$n" Trusted; then
			pass "$n Trusted"
		else
			fail "$n Trusted (agent log follows)"
			tail -20 "$T/agent-$n.log" >&2
			rc=1
		fi
	done
	return $rc
}

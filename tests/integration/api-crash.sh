#!/bin/bash
# kill -9 of bulwarkd during 10,000 concurrent writes (16 clients), then
# a restart on the same data dir, loses no acknowledged write and leaves
# no gap in the revision sequence; the audit trail still verifies.
# Three rounds, each killed at a different moment (just after the first
# acknowledgement, after a few hundred, after over a thousand, each plus
# a random delay). Every write creates one Tenant and nothing modifies
# it afterwards, so each acknowledged "NAME REV" must be listed with
# metadata.revision == REV, and the revisions of all tenants must be
# exactly 1..N where N is the store's revision. Finally shows the
# checker rejects a lost acknowledgement and a gap.
. "$(dirname "$0")/lib.sh" || exit 99

LG="$BW/bench/bw-loadgen"
CLI="$BW/bulwark"
D="$T/d"
ACKS="$T/acks"
LG_PID=
[ -x "$LG" ] || { echo "FAIL: $LG not built"; exit 1; }
: >"$ACKS"

# Kill the load generator too if we leave early; lib.sh's trap reaps
# the daemons in BW_PIDS.
trap 'if [ -n "$LG_PID" ]; then kill -9 "$LG_PID" 2>/dev/null; wait "$LG_PID" 2>/dev/null; fi; cleanup' EXIT

rand() {	# 0..65535
	od -An -N2 -tu2 /dev/urandom | tr -d ' '
}

lines() {
	wc -l <"$ACKS" | tr -d ' '
}

sleep_ms() {
	sleep "$(printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)))"
}

# check_state ACKS LIST: every acknowledged NAME REV is in LIST (the
# JSON of `bulwark get tenants -o json`) with that revision, and the
# objects' revisions (tenants and the local node) are exactly
# 1..LIST.revision. Prints what is wrong.
check_state() {
	jq -n -e -r --rawfile acks "$1" --slurpfile list "$2" '
		($list[0]) as $l
		| ([$l.items[] | {key: .metadata.name, value: .metadata.revision}]
		   | from_entries) as $have
		| [$acks | split("\n")[] | select(length > 0) | split(" ")
		   | {name: .[0], rev: (.[1] | tonumber)}] as $a
		| [$a[] | select($have[.name] != .rev)] as $bad
		| [$l.items[].metadata.revision] | sort as $revs
		| if ($bad | length) > 0 then
			"\($bad | length) acknowledged write(s) lost or changed, e.g. " +
			($bad[:5] | map("\(.name) acked at \(.rev), listed at \($have[.name])")
			 | join("; "))
		  elif $revs != [range(1; ($l.revision + 1))] then
			"tenant revisions are not exactly 1..\($l.revision): " +
			"\($revs | length) tenants, " +
			"missing \([range(1; ($l.revision + 1))] - $revs | .[:5])" +
			", duplicated \($revs | group_by(.) | map(select(length > 1)[0]) | .[:5])"
		  else empty end
		| halt_error(1)' 2>&1
}

# round N MIN SPREAD DELAY: start the writers, wait until MIN + rand %
# SPREAD new acknowledgements, sleep rand % DELAY ms, kill -9 bulwarkd.
round() {
	local n=$1 prev want waited st acked ms out
	start_bulwarkd "$D" || { fail "round $n: bulwarkd did not start"; return 1; }
	prev=$(lines)
	want=$((prev + $2 + $(rand) % $3))
	# SIGPIPE ignored: bw-loadgen does not ignore it itself, and a write
	# to the killed server's socket would otherwise kill it before it
	# reports (its writers treat EPIPE as the end of their run).
	(trap '' PIPE; exec "$LG" --config "$CONF" --clients 16 --ops 10000 \
		--prefix "r$n" --ack-log "$ACKS" >"$T/lg.$n" 2>&1) &
	LG_PID=$!
	waited=0
	while [ "$(lines)" -lt "$want" ]; do
		kill -0 "$LG_PID" 2>/dev/null || break
		waited=$((waited + 1))
		[ "$waited" -lt 1000 ] || break
		sleep 0.02
	done
	ms=$(($(rand) % $4))
	sleep_ms "$ms"
	if ! kill -0 "$LG_PID" 2>/dev/null; then
		fail "round $n: the load generator finished before the kill: $(cat "$T/lg.$n")"
	fi
	kill -9 "$BWD_PID"
	wait "$BWD_PID"
	st=$?
	BW_PIDS=""
	check "round $n: bulwarkd died of SIGKILL (status $st)" [ "$st" = 137 ]
	# the writers notice the closed connections and stop
	waited=0
	while kill -0 "$LG_PID" 2>/dev/null && [ $waited -lt 200 ]; do
		sleep 0.1
		waited=$((waited + 1))
	done
	kill -9 "$LG_PID" 2>/dev/null
	wait "$LG_PID"
	st=$?
	LG_PID=
	check "round $n: bw-loadgen exited by itself (status $st)" [ "$st" = 0 ]
	acked=$(jq -r .acked "$T/lg.$n" 2>/dev/null)
	echo "round $n: killed ${ms} ms after ack $((want - prev)) of the round;" \
		"$acked acknowledged in the round, $(lines) in all"
	check "round $n: writes were in flight at the kill ($acked < 10000)" \
		[ "${acked:-10000}" -lt 10000 ]

	start_bulwarkd "$D" || { fail "round $n: bulwarkd did not restart"; return 1; }
	# the first start's objects (local node, bootstrap role bindings)
	# hold the first revisions
	if "$CLI" --config "$CONF" get tenants -o json >"$T/tenants.$n" 2>"$T/cli.err" &&
		"$CLI" --config "$CONF" get nodes -o json >"$T/nodes.$n" 2>>"$T/cli.err" &&
		"$CLI" --config "$CONF" get rolebindings -o json >"$T/rb.$n" 2>>"$T/cli.err" &&
		jq -s '.[0] | .items += $n[0].items + $b[0].items' --slurpfile n "$T/nodes.$n" \
			--slurpfile b "$T/rb.$n" "$T/tenants.$n" >"$T/list.$n"; then
		out=$(check_state "$ACKS" "$T/list.$n")
		if [ -z "$out" ]; then
			pass "round $n: all $(lines) acknowledged writes present with their" \
				"revisions; revisions 1..$(jq .revision "$T/list.$n") without a gap"
		else
			fail "round $n: $out"
		fi
	else
		fail "round $n: get tenants: $(cat "$T/cli.err")"
	fi
	if out=$("$CLI" audit verify "$D/audit" 2>&1); then
		pass "round $n: audit verify after the restart: $out"
	else
		fail "round $n: audit verify after the restart: $out"
	fi
	stop_bulwarkd
	st=$?
	BW_PIDS=""
	check "round $n: restarted bulwarkd stops cleanly (status $st)" [ "$st" = 0 ]
	check "round $n: audit trail verifies after the clean stop" \
		"$CLI" audit verify "$D/audit"
}

round 1 1 5 50 &&		# right after the first acknowledgements
	round 2 100 400 300 &&	# a few hundred in
	round 3 600 900 300	# over a thousand in

# -- the checker itself rejects a lost acknowledgement and a gap
if [ -f "$T/list.3" ]; then
	cp "$ACKS" "$T/acks.lost"
	echo "r9-0-0 $(($(jq .revision "$T/list.3") + 1))" >>"$T/acks.lost"
	out=$(check_state "$T/acks.lost" "$T/list.3")
	check "checker rejects a lost acknowledged write ($out)" [ -n "$out" ]
	jq 'del(.items[1])' "$T/list.3" >"$T/list.gap"
	out=$(check_state /dev/null "$T/list.gap")
	check "checker rejects a revision gap ($out)" [ -n "$out" ]
	jq '.items[0].metadata.revision += 1' "$T/list.3" >"$T/list.changed"
	out=$(check_state "$ACKS" "$T/list.changed")
	check "checker rejects a changed revision ($out)" [ -n "$out" ]
fi
finish

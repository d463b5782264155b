#!/bin/bash
# AU-9/AU-10 under crashes: SIGKILL bulwarkd at 20 random moments while
# 16 clients write concurrently. After every restart the trail verifies,
# and every mutation a client saw acknowledged has its audit record (with
# the acknowledged revision) and is in the store.
. "$(dirname "$0")/lib.sh" || exit 99

ROUNDS=${AUDIT_CRASH_ROUNDS:-20}
SRC=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
D="$T/d"
midflight=0
start_bulwarkd "$D" || exit 1
for round in $(seq "$ROUNDS"); do
	ack="$T/ack.$round"
	: >"$ack"
	# at most 480 writes a round keeps the 20 rounds' tenants under the
	# API's 10,000-item list limit, so the store check below sees them all
	"$BW/bench/bw-loadgen" --config "$CONF" --clients 16 --ops 480 \
		--prefix "r$round" --ack-log "$ack" >"$T/lg.$round" 2>&1 &
	LG=$!
	# kill at a random moment while writes are flowing: after a random
	# number (1..400) of the round's 480 writes were acknowledged. (A
	# random delay instead let faster rounds finish before the kill.)
	target=$((RANDOM % 400 + 1))
	for _ in $(seq 1000); do
		[ "$(wc -l <"$ack")" -ge "$target" ] && break
		kill -0 "$LG" 2>/dev/null || break
		sleep 0.005
	done
	kill -KILL "$BWD_PID"
	wait "$BWD_PID" 2>/dev/null
	wait "$LG"
	start_bulwarkd "$D" || { fail "round $round: restart failed"; break; }
	if ! "$BW/bulwark" audit verify "$D/audit" >"$T/verify.$round" 2>&1; then
		fail "round $round: audit verify failed: $(cat "$T/verify.$round")"
		continue
	fi
	n=$(wc -l <"$ack")
	# every acknowledged write has a success record with its revision
	cat "$D"/audit/seg-*.log | awk '
		/ action=tenant\.replace / && / outcome=success / {
			name = ""; rev = ""
			for (i = 1; i <= NF; i++) {
				if ($i ~ /^oname=/) name = substr($i, 7)
				if ($i ~ /^orev=/) rev = substr($i, 6)
			}
			print name " " rev
		}' | sort >"$T/audited.$round"
	missing=$(sort "$ack" | comm -23 - "$T/audited.$round" | wc -l)
	# and is in the store with that revision
	"$BW/bulwark" --config "$CONF" get tenants -o json |
		jq -r '.items[] | "\(.metadata.name) \(.metadata.revision)"' | sort >"$T/stored.$round"
	lost=$(sort "$ack" | comm -23 - "$T/stored.$round" | wc -l)
	[ "$n" -lt 480 ] && midflight=$((midflight + 1))
	if [ "$missing" = 0 ] && [ "$lost" = 0 ] && [ "$n" -gt 0 ]; then
		pass "round $round: $n acknowledged writes, all audited and stored; trail verifies"
	else
		fail "round $round: $n acked, $missing without audit record, $lost not in the store"
	fi
done
check "most kills landed while writes were in flight ($midflight of $ROUNDS)" \
	[ "$midflight" -ge $((ROUNDS / 2)) ]
check "recovery after a crash is recorded" grep -rqE 'action=audit\.(recover|recovery)' "$D/audit"
# the live trail after 20 crashes (recovery records, padding of the
# segment being written) verifies with the verifier written from
# docs/audit-format.md alone, against the appliance's checkpoint key
check "the independent verifier accepts the crashed-and-recovered trail" \
	python3 "$SRC/tests/independent/audit_verify.py" \
	--key "$D/pki/audit-checkpoint.pub.pem" "$D/audit"
finish

#!/bin/bash
# scripts/up --stop stops the local node's instances, not only its agent
# (issue 23 follow-up): scripts/up starts the appliance, its example
# workload (2 replicas of a shell that ignores SIGTERM) runs; `scripts/up
# --stop`, given only the data directory (the runtime options come from
# the last start), leaves no process of them running and says how they
# stopped; the next start restarts them (restart_policy always); with
# --keep-instances they keep running; deleting the workload then removes
# everything.
# In a network namespace of its own, below a subreaper that reaps what
# scripts/up detaches (workloads-lib.sh); the appliance is scripts/up's.
. "$(dirname "$0")/workloads-lib.sh" || exit 99
D="$T/data"
NS="$D/node"
RT="$DRIVER -s $NS/instances -r $RUN -g $CG -c $NS/cni"
UP=("$top_srcdir/scripts/up" --data-dir "$D" --listen 127.0.0.1:18443)
export BW_UP_BUILD="$top_builddir"
trap '"${UP[@]}" --stop >>"$T/up.log" 2>&1; wl_cleanup' EXIT

BWC=("$top_builddir/bulwark" --config "$D/admin.conf")
up_to() { "${UP[@]}" >"$1" 2>&1; } # LOG: scripts/up, its output to LOG
demo_running() {
	[ "$("${BWC[@]}" get instances -t demo -o json 2>/dev/null |
		jq '[.items[] | select(.status.phase == "Running")] | length')" = "$1" ]
}
# init_pids: the PIDs of the instances' inits, as crun knows them
init_pids() {
	local c
	for c in $(crun --root "$RUN/crun" list -q); do
		crun --root "$RUN/crun" state "$c" | jq -r 'select(.status == "running") | .pid'
	done | sort -n
}
alive() { # PID: running, not a zombie
	local st
	st=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$st" ] && [ "$st" != Z ]
}
none_alive() {
	local p
	for p in "$@"; do alive "$p" && return 1; done
	return 0
}

if ! "${UP[@]}" --run-dir "$RUN" --cgroup-parent "$CG" >"$T/up1.log" 2>&1; then
	fail "scripts/up starts the appliance"
	cat "$T/up1.log" >&2
	finish
fi
pass "scripts/up starts the appliance"
check "the example workload is applied" "${BWC[@]}" apply -f "$D/examples/hello.json"
wait_for 60 demo_running 2 || { fail "2 instances Running"; tail -20 "$D/node/agent.log" >&2; finish; }
pass "2 instances Running"
pids=$(init_pids | tr '\n' ' ')
check "crun runs 2 inits ($pids)" [ "$(echo $pids | wc -w)" = 2 ]

t0=$(date +%s.%N)
"${UP[@]}" --stop >"$T/stop1.log" 2>&1
t1=$(date +%s.%N)
cat "$T/stop1.log"
echo "scripts/up --stop took $(echo "$t1 - $t0" | bc) s (the instances ignore SIGTERM: one 10 s grace for both)"
check "it says the instances were stopped" grep -q "^2 instance(s) stopped: 0 within the grace period, 2 killed" "$T/stop1.log"
# shellcheck disable=SC2086
check "no init of theirs runs" none_alive $pids
check "crun runs none of them" bash -c "[ -z \"\$(crun --root '$RUN/crun' list -f json | jq -r '.[] | select(.status == \"running\") | .id')\" ]"

# statuses written before the stop say Running: wait for crun's word
check "scripts/up starts it again (the runtime options of the first start)" \
	up_to "$T/up2.log"
check "both instances run again" wait_for 60 bash -c "[ \$(crun --root '$RUN/crun' list -f json | jq '[.[] | select(.status == \"running\")] | length') = 2 ]"
check "and are reported Running" wait_for 30 demo_running 2
pids2=$(init_pids | tr '\n' ' ')
check "with new inits ($pids2)" [ "$(echo $pids2 | wc -w)" = 2 -a "$pids2" != "$pids" ]

"${UP[@]}" --stop --keep-instances >"$T/stop2.log" 2>&1
check "--keep-instances says they keep running" grep -q "keep running" "$T/stop2.log"
# shellcheck disable=SC2086
check "and they do" bash -c "for p in $pids2; do [ -d /proc/\$p ] || exit 1; done"
check "the next start adopts them" up_to "$T/up3.log"
check "both Running" wait_for 60 demo_running 2
check "the same inits ($(init_pids | tr '\n' ' '))" [ "$(init_pids | tr '\n' ' ')" = "$pids2" ]

check "deleting the workload" "${BWC[@]}" delete workload hello -t demo
check "removes every instance" wait_for 60 bash -c "[ -z \"\$(crun --root '$RUN/crun' list -q)\" ]"
"${UP[@]}" --stop >"$T/stop3.log" 2>&1
check "a stop with no instance left says so" grep -q "^0 instance(s) stopped" "$T/stop3.log"
finish

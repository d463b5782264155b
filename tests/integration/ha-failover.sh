#!/bin/bash
# Three bulwarkd replicas on one 3-member etcd cluster (issue 19,
# Done-means 2 and 4; docs/ha.md) sharing one CA, each replica's
# credentials accepted by all: one leader, every replica serves;
# writes through a follower; kill -9 of the leader, the time until
# another replica leads printed (asserted under 10 s, the goal is 5 s);
# every acknowledged write still there; a workload applied after the
# takeover is scheduled; the killed replica rejoins as a follower; each
# replica's trail records its takeovers and verifies. Three nodes (own
# swtpm and agent each): the instances placed on them before the kill
# keep their nodes and identities across the takeover; then node n3
# (its swtpm and agent in a network namespace of its own, joined by a
# veth pair) loses its agent (kill -9) and is cut off (the veth down):
# the new leader's stale scan makes it NotReady and its instances are
# placed on the others within the configured grace
# (attestation.stale_after_seconds; the time is printed), both in the
# leader's trail (issue 19, Done-means 3). Then one etcd member killed:
# writes still work; a second one killed: a write is refused with 503
# and a message within a bounded time, and every replica still answers.
# Skips when etcd is not installed. Runs in a private network namespace
# below a subreaper (workloads-lib.sh): node n1 runs its instances
# through crun, and its container's process is the same one after the
# takeover.
. "$(dirname "$0")/workloads-lib.sh" || exit 99
. "$(dirname "$0")/etcd-lib.sh" || exit 99

etcd_available || { echo "SKIP: etcd not installed (Debian etcd-server)"; exit 77; }
CLI="$BW/bulwark"
etcd_cluster_start || finish
SPEC=$(etcd_store_spec bw)

# Each replica has its own data directory, TPM and trail, and all share
# one CA: its certificate and key (0600) are put in each replica's pki/
# before its first start, which seals the key to that replica's TPM and
# wipes the clear copy (hardening/pki.c, ca_custody_state()).
CA="$T/appliance-ca"
mkdir -p "$CA"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout "$CA/ca.key" -out "$CA/ca.crt" -days 3650 -subj "/CN=Bulwark HA test CA/O=system" \
	-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
	2>/dev/null || { fail "the shared CA"; finish; }
chmod 0600 "$CA/ca.key"

# Node n3 (the one lost below) is a machine of its own: a network
# namespace joined to the test's by a veth pair (hv-n3 here, 10.231.0.1;
# its end 10.231.0.2), its swtpm and agent inside. Its agent reaches the
# replicas (listening on every address) as bulwark-ha, a name every
# replica's certificate carries, through the hosts file ip netns exec
# mounts there. Cutting hv-n3 cuts the node off.
NNS="$BW_WL_NS-n3"
ha_cleanup() {
	wl_cleanup
	ip netns delete "$NNS" 2>/dev/null
	rm -rf "/etc/netns/$NNS"
}
trap ha_cleanup EXIT
ip netns add "$NNS" &&
	mkdir -p "/etc/netns/$NNS" && echo "10.231.0.1 bulwark-ha" >"/etc/netns/$NNS/hosts" &&
	ip link add hv-n3 type veth peer name eth0 netns "$NNS" &&
	ip addr add 10.231.0.1/30 dev hv-n3 && ip link set hv-n3 up &&
	ip -n "$NNS" addr add 10.231.0.2/30 dev eth0 && ip -n "$NNS" link set eth0 up &&
	ip -n "$NNS" link set lo up || { fail "n3's network namespace"; finish; }
declare -A PID DIR U
# Nodes quote every 2 s; one without a verified quote for GRACE s is
# NotReady and its instances go to the others.
GRACE=10
start_replica() { # NAME
	if [ ! -e "$T/$1/pki/ca.key.sealed" ]; then
		mkdir -p -m 0700 "$T/$1" "$T/$1/pki"
		cp "$CA/ca.crt" "$T/$1/pki/ca.crt"
		install -m 0600 "$CA/ca.key" "$T/$1/pki/ca.key"
		echo "{\"attestation\": {\"interval_seconds\": 2, \"stale_after_seconds\": $GRACE}}" \
			>"$T/$1/bulwarkd.conf"
	fi
	start_bulwarkd "$T/$1" --store "$SPEC" --replica-id "$1" \
		--listen 0.0.0.0:0 --server-name bulwark-ha --allow-unattested-nodes \
		--import-root "$MEDIA" || return 1
	PID[$1]=$BWD_PID
	DIR[$1]=$T/$1
	U[$1]=$URL
}
# rcurl NAME ARGS...: curl as NAME's admin (bounded: nothing may hang)
rcurl() {
	local d=${DIR[$1]}
	shift
	curl -gs --max-time 40 --cacert "$d/pki/ca.crt" --cert "$d/pki/admin.crt" \
		--key "$d/pki/admin.key" "$@"
}
role() { rcurl "$1" "${U[$1]}/healthz" | jq -r '.replica.role // "none"'; }
# leader_of NAMES...: the one replica of NAMES that says it leads
leader_of() {
	local n out=""
	for n in "$@"; do
		[ "$(role "$n")" = leader ] && out="$out $n"
	done
	out=${out# }
	[ -n "$out" ] && [ "${out/ /}" = "$out" ] && echo "$out"
}
one_leader() { [ -n "$(leader_of "$@")" ]; }
B() { local n=$1; shift; "$CLI" --config "${DIR[$n]}/admin.conf" "$@"; }

for n in r1 r2 r3; do
	start_replica $n || { fail "replica $n did not start"; finish; }
done
pass "three replicas serving on ${U[r1]} ${U[r2]} ${U[r3]}"
for n in r1 r2 r3; do
	check "$n sealed the shared CA key and removed the clear copy" \
		sh -c "[ -s '${DIR[$n]}/pki/ca.key.sealed' ] && [ ! -e '${DIR[$n]}/pki/ca.key' ] &&
			cmp -s '$CA/ca.crt' '${DIR[$n]}/pki/ca.crt'"
	check "r1's admin credential is accepted by $n" sh -c \
		"curl -gs --max-time 10 --cacert '$CA/ca.crt' --cert '${DIR[r1]}/pki/admin.crt' \
			--key '${DIR[r1]}/pki/admin.key' '${U[$n]}/healthz' | jq -e '.replica.id == \"$n\"' >/dev/null"
done
check "exactly one replica leads" wait_for 20 one_leader r1 r2 r3
L=$(leader_of r1 r2 r3)
echo "leader: $L"
for n in r1 r2 r3; do
	rcurl $n "${U[$n]}/healthz" | jq -c .replica
done
check "every replica names $L as the leader" sh -c "
	for n in r1 r2 r3; do :; done
	[ \"\$(curl -gs --max-time 10 --cacert ${DIR[r1]}/pki/ca.crt --cert ${DIR[r1]}/pki/admin.crt --key ${DIR[r1]}/pki/admin.key ${U[r1]}/healthz | jq -r .replica.leader)\" = $L ] &&
	[ \"\$(curl -gs --max-time 10 --cacert ${DIR[r3]}/pki/ca.crt --cert ${DIR[r3]}/pki/admin.crt --key ${DIR[r3]}/pki/admin.key ${U[r3]}/healthz | jq -r .replica.leader)\" = $L ]"

# -- writes through a follower (acknowledged ones recorded)
W=r2
[ "$L" = r2 ] && W=r3
echo '{"kind":"Tenant","metadata":{"name":"acme"}}' | B $W apply -f - >/dev/null ||
	fail "tenant through $W"
: >"$T/acked"
for i in $(seq -w 1 30); do
	echo "{\"kind\":\"Workload\",\"metadata\":{\"name\":\"w$i\",\"tenant\":\"acme\"},
	  \"spec\":{\"type\":\"container\",\"image\":\"sha256:$(printf 'a%.0s' $(seq 64))\",
	  \"replicas\":0,\"resources\":{\"cpu_millis\":100,\"memory_mib\":64}}}" |
		B $W apply -f - >/dev/null 2>&1 && echo "w$i" >>"$T/acked"
done
check "30 writes through follower $W acknowledged" [ "$(wc -l <"$T/acked")" = 30 ]

# -- three nodes (each its own swtpm and bulwark-agent) enrolled through
# the follower W, which survives the leader, and a workload placed on
# them before the leader is killed
URL=${U[$W]}
PKI=${DIR[$W]}/pki
# n1 runs its instances (workloads-lib.sh's run paths, which its
# cleanup stops) from the images W imports; n2 and n3 only hold bindings
ENROL_ARGS_n1="--image-store ${DIR[$W]}/images --run-dir $RUN --cgroup-parent $CG --stop-grace 5"
ENROL_NETNS_n3=$NNS
ENROL_SERVER_n3="https://bulwark-ha:${URL##*:}"
# n3_reaches: W answers in n3's namespace, as bulwark-ha (CA-verified)
n3_reaches() {
	ip netns exec "$NNS" curl -s --max-time 5 --cacert "$PKI/ca.crt" \
		"$ENROL_SERVER_n3/healthz" | grep -q status
}
n3_cut() { ! n3_reaches; }
enrol_nodes 60 n1 n2 n3 || finish
AGENT_PID=$AGENT_n1
B="$CLI --config ${DIR[$W]}/admin.conf"	# import_busybox's CLI (B() is ours)
import_busybox || { fail "a signed busybox image imported through $W"; finish; }
echo "{\"kind\":\"Workload\",\"metadata\":{\"name\":\"web\",\"tenant\":\"acme\"},
  \"spec\":{\"type\":\"container\",\"image\":\"$DIGEST\",
  \"command\":[\"sh\",\"-c\",\"while :; do sleep 1; done\"],
  \"replicas\":3,\"resources\":{\"cpu_millis\":100,\"memory_mib\":32}}}" |
	B $W apply -f - >/dev/null || fail "workload web through $W"
# placed NAME JQ-FILTER: NAME's instances as "name uid node" lines,
# sorted, true when there are 3 and each passes JQ-FILTER
placed() {
	B "$1" get instances -t acme -o json 2>/dev/null | jq -r "[.items[] |
		select(.spec.workload == \"web\")] | select(length == 3 and all($2)) |
		.[] | \"\(.metadata.name) \(.metadata.uid) \(.spec.node)\"" | sort | grep .
}
check "web's 3 instances placed on the nodes" wait_for 30 placed $W '.spec.node != null'
placed $W '.spec.node != null' >"$T/web.before"
cat "$T/web.before"
# crun_pid: "pid status" of the container of web's instance on n1
crun_pid() {
	local uid
	uid=$(B $W get instances -t acme -o json | jq -r '.items[] |
		select(.spec.workload == "web" and .spec.node == "n1" and .status.phase == "Running") |
		.status.runtime_id' | head -n 1)
	[ -n "$uid" ] && crun --root "$RUN/crun" state "bw-$uid" 2>/dev/null | jq -r '"\(.pid) \(.status)"'
}
running_on_n1() { crun_pid | grep -q ' running$'; }
check "web's instance on n1 Running in crun" wait_for 60 running_on_n1
crun_pid >"$T/pid.before"
echo "n1's container before the takeover: $(cat "$T/pid.before")"

# -- kill -9 the leader; time until another replica leads
OTHERS=""
for n in r1 r2 r3; do [ "$n" = "$L" ] || OTHERS="$OTHERS $n"; done
# shellcheck disable=SC2086
set -- $OTHERS
kill -9 "${PID[$L]}"
wait "${PID[$L]}" 2>/dev/null
t0=$(date +%s%N)
if wait_for 30 one_leader "$@"; then
	ms=$((($(date +%s%N) - t0) / 1000000))
	L2=$(leader_of "$@")
	echo "TAKEOVER: $L2 leads ${ms} ms after kill -9 of $L (goal < 5000 ms)"
	check "a new leader within 10 s (${ms} ms)" [ "$ms" -lt 10000 ]
else
	fail "no replica took over within 30 s"
	finish
fi
S=$W	# a survivor: the follower the writes and the node went through
F=$1	# the survivor that does not lead: what it takes in reaches the
[ "$F" = "$L2" ] && F=$2	# leader through the store's change log

# -- the instances placed before the takeover keep their nodes and
# identities (the new leader does not place them again)
check "web's instances keep their nodes and uids across the takeover" \
	cmp -s "$T/web.before" <(placed $S '.spec.node != null')
for n in n1 n2 n3; do
	check "$n's agent still runs" kill -0 "$(eval echo "\$AGENT_$n")"
done
check "n1's container kept running: the same process ($(cat "$T/pid.before"))" \
	sh -c "[ \"\$(cat '$T/pid.before')\" = '$(crun_pid)' ] && kill -0 $(cut -d' ' -f1 "$T/pid.before")"

# -- every acknowledged write is there, read through each survivor
for n in "$@"; do
	B $n get workloads -t acme -o json | jq -r '.items[].metadata.name' | sort >"$T/have.$n"
	check "all acknowledged writes listed through $n" \
		sh -c "[ -z \"\$(comm -23 '$T/acked' '$T/have.$n')\" ]"
done

# -- new work after the takeover, applied through the follower, is
# scheduled by the new leader on the node enrolled before it
echo "{\"kind\":\"Workload\",\"metadata\":{\"name\":\"after\",\"tenant\":\"acme\"},
  \"spec\":{\"type\":\"container\",\"image\":\"sha256:$(printf 'b%.0s' $(seq 64))\",
  \"replicas\":1,\"resources\":{\"cpu_millis\":100,\"memory_mib\":64}}}" |
	B $F apply -f - >/dev/null || fail "workload after the takeover, through follower $F"
bound() {
	B $S get instances -t acme -o json |
		jq -e '[.items[] | select(.spec.workload == "after" and .spec.node != null)] | length == 1' >/dev/null
}
check "the workload applied after the takeover got its instance bound" wait_for 30 bound
B $S get instances -t acme -o json | jq -c '.items[] | {n: .metadata.name, node: .spec.node, msg: .status.message}'

# -- the killed replica rejoins as a follower
start_replica "$L" || fail "$L did not restart"
check "$L rejoins as a follower" sh -c "[ \"\$(curl -gs --max-time 10 --cacert ${DIR[$L]}/pki/ca.crt --cert ${DIR[$L]}/pki/admin.crt --key ${DIR[$L]}/pki/admin.key ${U[$L]}/healthz | jq -r .replica.role)\" = follower ]"

# -- the trails: takeovers recorded, each chain verifies
audit_has() { # NAME ACTION [TEXT]
	"$CLI" --config "${DIR[$1]}/auditor.conf" audit search --action "$2" -o json 2>/dev/null |
		jq -e 'if type == "array" then . else (.items // .records // []) end | length > 0' >/dev/null &&
		"$CLI" --config "${DIR[$1]}/auditor.conf" audit search --action "$2" -o json 2>/dev/null |
			grep -q -- "${3:-}"
}
check "$L's trail records ha.leader_acquired" audit_has "$L" ha.leader_acquired
check "$L2's trail records ha.leader_acquired" audit_has "$L2" ha.leader_acquired

# -- node loss: n3's agent killed -9 and its namespace cut off (hv-n3
# down); the leader's stale scan makes the node NotReady and its
# controller places the node's instances on the other two
V=n3
check "$V holds one of web's instances" grep -q " $V\$" "$T/web.before"
check "$W answers in $V's namespace, over the veth" n3_reaches
kill -9 "$AGENT_n3"
ip link set hv-n3 down
wait "$AGENT_n3" 2>/dev/null
t0=$(date +%s%N)
check "$V's namespace is cut off: $W no longer answers there" n3_cut
node_phase() { B $S get node "$V" -o json 2>/dev/null | jq -r .status.phase; }
not_ready() { [ "$(node_phase)" = NotReady ]; }
if wait_for $((GRACE + 30)) not_ready; then
	ms_nr=$((($(date +%s%N) - t0) / 1000000))
	pass "$V NotReady ${ms_nr} ms after its agent was killed (grace ${GRACE} s)"
else
	fail "$V not NotReady within $((GRACE + 30)) s (phase $(node_phase))"
fi
if wait_for $((GRACE + 30)) placed $S ".spec.node != null and .spec.node != \"$V\""; then
	ms=$((($(date +%s%N) - t0) / 1000000))
	echo "NODE LOSS: $V's instances placed on the others ${ms} ms after its agent was killed (grace ${GRACE} s)"
	check "rescheduled within the grace, a scan and a pass (${ms} ms)" [ "$ms" -lt $(((GRACE + 10) * 1000)) ]
else
	fail "$V's instances not rescheduled within $((GRACE + 30)) s"
fi
placed $S '.' | tee "$T/web.after"
check "the trail of $L2 (leading) records $V's stale attestation" audit_has "$L2" node.attest.stale "$V"
check "the trail of $L2 records the evictions from $V" audit_has "$L2" instance.evict "node $V is NotReady"
# web was placed by the first leader, so a placement of the moved
# instance in $L2's trail is the rescheduling itself
MOVED=$(awk -v v="$V" '$3 == v { print $1; exit }' "$T/web.before")
placed_by() { # NAME INSTANCE
	"$CLI" --config "${DIR[$1]}/auditor.conf" audit search --action instance.schedule \
		--object "$2" -o json 2>/dev/null |
		jq -e '[(if type == "array" then . else (.items // []) end)[] |
			select(.outcome == "success")] | length > 0' >/dev/null
}
check "the trail of $L2 records the placement of $MOVED, moved from $V" placed_by "$L2" "$MOVED"

# -- etcd: one member gone, the API still writes
kill -9 "${ETCD_MEMBER_PIDS[0]}"
wait "${ETCD_MEMBER_PIDS[0]}" 2>/dev/null
echo '{"kind":"Tenant","metadata":{"name":"one-member-down"}}' >"$T/t1.json"
# etcd elects a new raft leader when the killed member led: writes are
# refused (503) for that second or two, then accepted again.
t0=$(date +%s%N)
if wait_for 20 sh -c "'$CLI' --config '${DIR[$S]}/admin.conf' apply -f '$T/t1.json' >/dev/null 2>&1"; then
	pass "one etcd member down: a write through $S succeeds ($((($(date +%s%N) - t0) / 1000000)) ms after the kill)"
else
	fail "one etcd member down: no write through $S succeeded within 20 s"
fi

# -- two members gone: writes fail closed with 503, within a bound
kill -9 "${ETCD_MEMBER_PIDS[1]}"
wait "${ETCD_MEMBER_PIDS[1]}" 2>/dev/null
t0=$(date +%s)
code=$(rcurl "$S" -o "$T/503.json" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
	-d '{"kind":"Tenant","metadata":{"name":"no-quorum"}}' "${U[$S]}/v1/tenants")
secs=$(($(date +%s) - t0))
# Seen once in about 25 runs: the connection closed after 14 s with no
# answer (no write either). Said, and asked once more: the check is for
# the clear 503.
if [ "$code" = 000 ]; then
	echo "no quorum: no answer after ${secs} s; asking again"
	code=$(rcurl "$S" -o "$T/503.json" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
		-d '{"kind":"Tenant","metadata":{"name":"no-quorum"}}' "${U[$S]}/v1/tenants")
	secs=$(($(date +%s) - t0))
fi
echo "no quorum: HTTP $code after ${secs} s: $(cat "$T/503.json")"
check "no quorum: the write is refused with 503 (got $code)" [ "$code" = 503 ]
check "no quorum: the answer says why" grep -qi "etcd\|store\|unavailable" "$T/503.json"
for n in r1 r2 r3; do
	check "no quorum: $n still answers /healthz" sh -c \
		"curl -gs --max-time 40 --cacert ${DIR[$n]}/pki/ca.crt ${U[$n]}/healthz | grep -q status"
done

# -- stop the replicas (bounded) before verifying their trails
for n in r1 r2 r3; do kill -TERM "${PID[$n]}" 2>/dev/null; done
for n in r1 r2 r3; do
	for i in $(seq 100); do kill -0 "${PID[$n]}" 2>/dev/null || break; sleep 0.1; done
	kill -9 "${PID[$n]}" 2>/dev/null
	wait "${PID[$n]}" 2>/dev/null
done
for n in r1 r2 r3; do
	if out=$("$CLI" audit verify "${DIR[$n]}/audit" 2>&1); then
		pass "$n's trail verifies: $out"
	else
		fail "$n's trail: $out"
	fi
done
finish

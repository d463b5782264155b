#!/bin/bash
# bench/instances-api.sh BUILDDIR [RUNS] [MANY]: instance start-up through
# the whole appliance (bulwark apply -> API -> commit -> controller ->
# scheduler -> agent long poll -> crun/QEMU -> status Running), against
# the bare tools measured in the same run, on an idle node whose tenant
# already runs one instance (so its bridge exists):
#   1. container: `bulwark apply` of a 1-replica workload until the watch
#      stream shows its instance Running, vs `crun run --detach` of the
#      bundle the agent generated for it (same rootfs, same config, the
#      same network namespace, already wired; only the cgroup differs),
#      median of RUNS (default 7), ratio;
#   2. VM: `bulwark apply` until the guest's marker is on its serial
#      console, vs a bare qemu-system-x86_64 booting the same kernel and
#      initramfs with the same accelerator, memory and command line, one
#      after the other (never both at once), median of $BENCH_VM_RUNS
#      (default 3);
#   3. MANY (default 50) containers: one workload with MANY replicas,
#      apply until all are Running, and delete until all are gone.
# BENCH_VM_RUNS=0 or MANY=0 skips that part (MANY=0 with RUNS=3 measures
# only the container start, in about a minute). BENCH_LOG_LEVEL=debug
# makes the agent log its start-up timings; BENCH_LOGS=DIR keeps the
# agent's and bulwarkd's logs, the watch stream and the audit trail.
# Runs as root, inside a private network namespace (like the workloads
# tests, whose set-up it shares). Not part of `make check`: `make
# bench-instances`.
set -u
if [ -z "${top_builddir:-}" ]; then
	top_builddir=$(cd "${1:?usage: bench/instances-api.sh BUILDDIR [RUNS] [MANY]}" && pwd)
	top_srcdir=$(cd "$(dirname "$0")/.." && pwd)
	export top_builddir top_srcdir
fi
RUNS=${2:-7}
MANY=${3:-50}
VM_RUNS=${BENCH_VM_RUNS:-3}
MARKER=BW-BENCH-UP
. "$top_srcdir/tests/integration/workloads-lib.sh"

keep_logs() {
	[ -n "${BENCH_LOGS:-}" ] || return 0
	mkdir -p "$BENCH_LOGS" && cp "$T/agent.log" "$D/bulwarkd.log" "$BENCH_LOGS/" 2>/dev/null
	cp "$T/watch.log" "$BENCH_LOGS/" 2>/dev/null
	cp "$T/raw1/config.json" "$BENCH_LOGS/raw1-config.json" 2>/dev/null
	cat "$D"/audit/seg-*.log >"$BENCH_LOGS/audit.log" 2>/dev/null
	return 0
}
die() { echo "bench/instances-api: $*" >&2; tail -20 "$T/agent.log" >&2; keep_logs; exit 1; }
now() { echo "$EPOCHREALTIME"; }
sub() { echo "$1 - $2" | bc -l; }
# raw_crun_run BUNDLE ID: seconds a bare `crun run --detach` of BUNDLE
# takes; the container is deleted afterwards.
raw_crun_run() {
	local t0 t1
	t0=$(now)
	crun --root="$T/rawroot" --cgroup-manager=cgroupfs run --detach --bundle "$1" \
		"$2" >/dev/null 2>&1 </dev/null || return 1
	t1=$(now)
	crun --root="$T/rawroot" delete --force "$2" >/dev/null 2>&1
	sub "$t1" "$t0"
}
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

KERNEL=$(ls /boot/vmlinuz-* 2>/dev/null | sort -V | tail -n 1)
[ -n "$KERNEL" ] || die "no kernel in /boot (apt-get install linux-image-amd64)"
IR="$T/initramfs"
mkdir -p "$IR/bin" "$IR/proc" "$IR/dev"
cp /bin/busybox "$IR/bin/busybox"
printf '#!/bin/busybox sh\necho %s\nwhile :; do /bin/busybox sleep 1000; done\n' \
	"$MARKER" >"$IR/init"
chmod 755 "$IR/init"
(cd "$IR" && find . | cpio -o -H newc --quiet | gzip -1) >"$T/initrd.gz" || die "initramfs"
VM_CMDLINE="console=ttyS0 quiet panic=-1"

start_bulwarkd_wl || die "bulwarkd did not start"
WL_GRACE=2
# Re-attestation every 60 s (bulwarkd's default; the workloads tests'
# 5 s put the agent's ~100 ms quote and TLS reconnect right after each
# removal pass, which is when each run applies its next instance).
WL_AGENT_ARGS="--interval 60 --log-level ${BENCH_LOG_LEVEL:-info} --vm-kernel $KERNEL --vm-initrd $T/initrd.gz --vm-cmdline console=ttyS0,quiet,panic=-1"
enrol_node || die "node n1 did not enrol"
import_busybox || die "busybox image import"
BUSYBOX=$DIGEST
dd if=/dev/zero of="$MEDIA/disk.raw" bs=1M count=4 2>/dev/null
$B image sign --key "$T/publisher.key" "$MEDIA/disk.raw" >/dev/null || die "sign disk"
$B image import "$MEDIA/disk.raw" --type vm >/dev/null || die "import disk"
DISK=$($B get images -o json | jq -r '.items[] | select(.spec.type == "vm") | .spec.digest')
$B apply -f - >/dev/null <<EOF || die "tenant"
{"kind": "Tenant", "metadata": {"name": "bench"}, "spec": {}}
EOF

# Every instance change as it is committed, stamped on arrival.
WATCH="$T/watch.log"
# (perl reads whole lines; bash's read takes a pipe a byte at a time,
# which stamped a 2 KB line a few milliseconds late.)
acurl -N "$URL/v1/watch?kind=Instance" 2>/dev/null |
	perl -MTime::HiRes=time -ne 'BEGIN { $| = 1 } printf "%.6f %s", time, $_' >"$WATCH" &
WATCH_PID=$!
BW_PIDS="$BW_PIDS $WATCH_PID"

# stamp_of NAME PATTERN TIMEOUT: the arrival time of the first watch line
# of instance NAME that contains PATTERN.
stamp_of() {
	local i line
	for i in $(seq $(($3 * 100))); do
		line=$(grep -F "\"name\":\"$1\"" "$WATCH" | grep -F -m1 "$2")
		[ -n "$line" ] && { echo "${line%% *}"; return 0; }
		sleep 0.01
	done
	return 1
}
container() { # NAME REPLICAS
	cat <<EOF
{"kind": "Workload", "metadata": {"name": "$1", "tenant": "bench"},
 "spec": {"type": "container", "image": "$BUSYBOX", "replicas": $2,
          "resources": {"cpu_millis": 10, "memory_mib": 16},
          "command": ["sleep", "100000"], "restart_policy": "always"}}
EOF
}
# gone WORKLOAD [LEFT]: no instance of WORKLOAD left in the API, and the
# node back to LEFT (default 1: the anchor) containers and agent records,
# so each run starts on an idle node.
gone() {
	[ "$($B get instances -t bench -o json | jq "[.items[] | select(.spec.workload == \"$1\")] | length")" = 0 ] &&
		[ "$(crun_list | grep -c .)" = "${2:-1}" ] &&
		[ "$(ls "$NS/workloads" 2>/dev/null | grep -c .)" = "${2:-1}" ]
}

# An anchor instance keeps the tenant's bridge on the node, as any tenant
# already running there has: the runs measure an instance start, not the
# first start of a tenant on a node (which also makes its bridge).
container anchor 1 | $B apply -f - >/dev/null || die "apply anchor"
stamp_of anchor-0 '"phase":"Running"' 60 >/dev/null || die "the anchor is not Running"

echo "== container: bulwark apply to Running vs crun run --detach ($RUNS runs)"
for i in $(seq "$RUNS"); do
	n="c$i"
	t0=$(now)
	container "$n" 1 | $B apply -f - >/dev/null || die "apply $n"
	t1=$(stamp_of "$n-0" '"phase":"Running"' 60) || die "$n-0 not Running"
	api=$(sub "$t1" "$t0")
	rid=$(inst bench "$n-0" | jq -r .status.runtime_id)
	raw="$T/raw$i"
	mkdir -p "$raw"
	# The agent's bundle as it is (its root file system, and the
	# instance's network namespace, which crun joins); only the cgroup
	# differs, so the two can run side by side. The agent writes the
	# CPU limit into the cgroup between crun create and crun start (its
	# bundle records it as an annotation); crun run gets it in the
	# config, where crun applies it before it sets the container up.
	jq --arg cg "/bench-raw-$P-$i" '.linux.cgroupsPath = $cg |
		(.annotations["org.bulwark.cpu-millis"] // null) as $m |
		if $m then .linux.resources.cpu = {quota: (($m | tonumber) * 100), period: 100000} else . end' \
		"$NS/instances/$rid/config.json" >"$raw/config.json" || die "no bundle for $n-0"
	bare=$(raw_crun_run "$raw" "raw$i") || die "crun run"
	# The same without the CPU limit: what crun itself costs, and so
	# what the appliance adds (apply to Running minus this).
	jq 'del(.linux.resources.cpu)' "$raw/config.json" >"$raw/c.json" &&
		mv "$raw/c.json" "$raw/config.json"
	free=$(raw_crun_run "$raw" "rawf$i") || die "crun run (no CPU limit)"
	printf '  run %d: apply to Running %.1f ms, crun run %.1f ms (without the CPU limit %.1f ms)\n' \
		"$i" "$(sub "$api" 0)e3" "$(sub "$bare" 0)e3" "$(sub "$free" 0)e3"
	echo "$api" >>"$T/api.txt"
	echo "$bare" >>"$T/bare.txt"
	echo "$free" >>"$T/free.txt"
	$B delete workload "$n" -t bench >/dev/null || die "delete $n"
	wait_for 60 gone "$n" || die "$n was not removed"
done
api=$(median <"$T/api.txt")
bare=$(median <"$T/bare.txt")
free=$(median <"$T/free.txt")
printf 'container start, median of %d: bulwark apply to Running %.1f ms, crun run --detach %.1f ms, ratio %.2f (goal <= 1.3)\n' \
	"$RUNS" "$(sub "$api" 0)e3" "$(sub "$bare" 0)e3" "$(echo "$api / $bare" | bc -l)"
printf '  crun run --detach without the CPU limit %.1f ms: apply to Running adds %.1f ms to crun\n' \
	"$(sub "$free" 0)e3" "$(sub "$api" "$free")e3"

if [ "$VM_RUNS" -gt 0 ]; then
echo "== VM: bulwark apply to guest marker vs bare QEMU ($VM_RUNS runs)"
ACCEL=$($B get node n1 -o json | jq -r '.status.agent.accelerator // "tcg"')
case "$ACCEL" in kvm) accel=kvm ;; *) accel="tcg,tb-size=64" ;; esac
# marker_after FILE-GLOB T0: seconds from T0 until the marker is in FILE
marker_after() {
	local i
	for i in $(seq 6000); do
		if grep -qs "$MARKER" $1; then sub "$(now)" "$2"; return 0; fi
		sleep 0.01
	done
	return 1
}
for i in $(seq "$VM_RUNS"); do
	t0=$(now)
	$B apply -f - >/dev/null <<EOF || die "apply vm$i"
{"kind": "Workload", "metadata": {"name": "vm$i", "tenant": "bench"},
 "spec": {"type": "vm", "image": "$DISK", "replicas": 1,
          "resources": {"cpu_millis": 1000, "memory_mib": 256},
          "restart_policy": "always"}}
EOF
	api=$(marker_after "$NS/instances/*/serial.log" "$t0") || die "vm$i: the marker never came"
	# Gone before the bare run: the two must not share the CPUs.
	$B delete workload "vm$i" -t bench >/dev/null || die "delete vm$i"
	wait_for 120 gone "vm$i" || die "vm$i was not removed"
	rm -f "$T/raw-serial.log"
	t0=$(now)
	qemu-system-x86_64 -machine pc -accel "$accel" -m 256 -nodefaults -no-user-config \
		-display none -no-reboot -nic none -serial "file:$T/raw-serial.log" \
		-kernel "$KERNEL" -initrd "$T/initrd.gz" -append "$VM_CMDLINE" &
	QPID=$!
	bare=$(marker_after "$T/raw-serial.log" "$t0") || bare=""
	kill -KILL "$QPID" 2>/dev/null
	wait "$QPID" 2>/dev/null
	[ -n "$bare" ] || die "bare QEMU's marker never came"
	printf '  run %d: apply to marker %.2f s, bare QEMU %.2f s\n' "$i" "$api" "$bare"
	echo "$api" >>"$T/vm-api.txt"
	echo "$bare" >>"$T/vm-bare.txt"
done
api=$(median <"$T/vm-api.txt")
bare=$(median <"$T/vm-bare.txt")
printf 'VM to guest marker (%s), median of %d: bulwark apply %.2f s, bare QEMU %.2f s, ratio %.2f (goal <= 1.3)\n' \
	"$accel" "$VM_RUNS" "$api" "$bare" "$(echo "$api / $bare" | bc -l)"
fi

if [ "$MANY" -gt 0 ]; then
echo "== $MANY containers through the API"
t0=$(now)
container many "$MANY" | $B apply -f - >/dev/null || die "apply many"
wait_for 600 bash -c "[ \"\$(n_running bench many)\" = $MANY ]" || die "not all $MANY Running"
t1=$(now)
$B delete workload many -t bench >/dev/null || die "delete many"
wait_for 600 gone many || die "not all removed"
t2=$(now)
printf '%d containers: apply to all Running %.2f s (%.1f ms each), delete to all removed %.2f s\n' \
	"$MANY" "$(sub "$t1" "$t0")" "$(echo "($t1 - $t0) * 1000 / $MANY" | bc -l)" "$(sub "$t2" "$t1")"
fi
# Leave nothing behind: the anchor goes too (its netns is the agent's).
$B delete workload anchor -t bench >/dev/null
wait_for 60 gone anchor 0 || echo "bench/instances-api: the anchor was not removed" >&2
keep_logs

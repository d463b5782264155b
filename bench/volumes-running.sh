#!/bin/bash
# bench/volumes-running.sh BUILDDIR [RUNS]: attach-to-Running (issue 22,
# Done-means 5) through the whole appliance: `bulwark apply` of a
# 1-replica container workload that mounts an encrypted volume until the
# watch stream shows its instance Running, against the same workload
# without the volume, alternately on the same idle node (a tenant
# anchor instance keeps its bridge up). The first start with the volume
# also makes it (backing file, mkfs, tenant and volume keys); the others
# re-attach it (loop device, mount, key into the kernel). Median of RUNS
# (default 5). Runs as root in a private network namespace like the
# workloads tests. Not part of `make check`: `make bench-volumes`.
set -u
: "${top_builddir:=$(cd "${1:?usage: bench/volumes-running.sh BUILDDIR [RUNS]}" && pwd)}"
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
export top_builddir top_srcdir
RUNS=${2:-5}
. "$top_srcdir/tests/integration/workloads-lib.sh"
trap wl_cleanup_volumes EXIT
die() { echo "bench/volumes-running: $*" >&2; tail -20 "$T/agent.log" >&2; exit 1; }
ms() { echo "($1 - $2) * 1000" | bc -l; }
mid() { sort -g | awk '{ a[NR] = $1 } END { print NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

start_bulwarkd_wl || die "bulwarkd did not start"
WL_GRACE=2
WL_AGENT_ARGS="--interval 60"
enrol_node || die "node n1 did not enrol"
import_busybox || die "busybox image import"

# wl NAME [VOLUME]: a 1-replica container workload of tenant bench
wl() {
	local vols='[]'
	[ -n "${2:-}" ] && vols="[{\"volume\": \"$2\", \"path\": \"/data\"}]"
	printf '{"kind": "Workload", "metadata": {"name": "%s", "tenant": "bench"}, "spec": {"type": "container", "image": "%s", "replicas": 1, "resources": {"cpu_millis": 10, "memory_mib": 16}, "volumes": %s, "command": ["sleep", "100000"]}}\n' \
		"$1" "$DIGEST" "$vols"
}
{ echo '{"kind": "Tenant", "metadata": {"name": "bench"}, "spec": {}}'
  echo '{"kind": "Volume", "metadata": {"name": "vb", "tenant": "bench"}, "spec": {"size_bytes": 268435456}}'
  wl anchor; } | $B apply -f - >/dev/null || die "tenant, volume, anchor"
wait_for 60 inst_is bench anchor-0 '.status.phase == "Running"' || die "the anchor is not Running"

# Instance changes as bulwarkd commits them, each line stamped on arrival
STAMPS="$T/stamps.log"
acurl -N "$URL/v1/watch?kind=Instance" 2>/dev/null |
	perl -MTime::HiRes=time -ne '$| = 1; printf "%.6f %s", time, $_' >"$STAMPS" &
BW_PIDS="$BW_PIDS $!"
sleep 0.5

# start NAME [VOLUME]: milliseconds from apply to NAME-0 Running; then
# deletes the workload and waits until the node is back to the anchor
start() {
	local t0 t1 i
	t0=$EPOCHREALTIME
	wl "$@" | $B apply -f - >/dev/null || die "apply $1"
	for i in $(seq 6000); do
		t1=$(grep -F "\"name\":\"$1-0\"" "$STAMPS" | grep -F -m1 '"phase":"Running"')
		[ -n "$t1" ] && break
		sleep 0.01
	done
	[ -n "$t1" ] || die "$1-0 not Running"
	ms "${t1%% *}" "$t0"
	$B delete workload "$1" -t bench >/dev/null || die "delete $1"
	wait_for 60 bash -c "[ \$(crun --root '$RUN/crun' list -q | grep -c .) = 1 ]" || die "$1 not removed"
	wait_for 30 bash -c "! grep -qs ' $NS/volumes/.*/mnt ' /proc/mounts" || die "the volume stays mounted"
}

first=$(start v0 vb)
printf '  first start with the volume (makes it): %.1f ms\n' "$first"
for i in $(seq "$RUNS"); do
	v=$(start "v$i" vb)
	p=$(start "p$i")
	printf '  run %d: with the volume %.1f ms, without %.1f ms\n' "$i" "$v" "$p"
	printf '%s %s\n' "$v" "$p" >>"$T/runs.txt"
done
w=$(cut -d' ' -f1 "$T/runs.txt" | mid)
p=$(cut -d' ' -f2 "$T/runs.txt" | mid)
printf 'attach-to-Running, median of %d (bulwark apply to Running): with a volume %.1f ms, without %.1f ms, ratio %.2f; the volume adds %.1f ms (first start, making it: %.1f ms)\n' \
	"$RUNS" "$w" "$p" "$(echo "$w / $p" | bc -l)" "$(echo "$w - $p" | bc -l)" "$first"

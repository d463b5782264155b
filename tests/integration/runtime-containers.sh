#!/bin/sh
# Containers through the runtime library (tests/runtime-driver): three
# busybox containers from a signed rootfs tarball log their output; a
# killed init is reported and restarts; a graceful stop; a 64 MiB
# container filling 256 MiB is OOM-killed and reported as such; an exit
# during a status read keeps its code; a fork
# bomb is held by the pids limit; a new driver process adopts running
# containers; unsigned and mismatched images are refused; afterwards
# nothing of ours is left.
set -u
. "$top_srcdir/tests/integration/runtime-common.sh"
trap base_cleanup EXIT
trap 'exit 1' INT TERM

make_rootfs "$TMP/rootfs.tar"
ROOT=$(import_rootfs "$TMP/rootfs.tar")
[ -x "$ROOT/bin/busybox" ] || fail "rootfs not unpacked"

echo "== three containers"
for i in 1 2 3; do
	$RT create "$P-c$i" "$ROOT" --mem 32 --cpu 250 -- \
		sh -c "echo hello from c$i; echo to stderr >&2; exec sleep 600" ||
		fail "create c$i"
done
for i in 1 2 3; do
	wait_log "$P-c$i" 100 "hello from c$i" || fail "c$i log"
	wait_log "$P-c$i" 50 "to stderr" || fail "c$i stderr not logged"
	st=$($RT status "$P-c$i") || fail "status c$i"
	echo "$st" | grep -q running || fail "c$i not running: $st"
done

echo "== the CPU limit: written into the cgroup before the start, not by crun"
# (crun would apply a config's limit before it sets the container up, and
# 250 millicores throttle that set-up; the bundle records it instead.)
q=$(cat "/sys/fs/cgroup/cpu/$CG/bw-$P-c1/cpu.cfs_quota_us") || fail "no cpu cgroup for c1"
[ "$q" = 25000 ] || fail "c1's CPU quota is $q, not 25000"
[ "$(cat "/sys/fs/cgroup/cpu/$CG/bw-$P-c1/cpu.cfs_period_us")" = 100000 ] ||
	fail "c1's CPU period"
jq -e '.linux.resources.cpu == null and
	.annotations["org.bulwark.cpu-millis"] == "250"' \
	"$STATE/$P-c1/config.json" >/dev/null || fail "c1's bundle and its CPU limit"

echo "== a driver process that did not create them adopts them"
n=$($RT list | grep -c -- "^$P-c")
[ "$n" -eq 3 ] || fail "list found $n of 3"

echo "== kill c2's init from outside"
st=$($RT status "$P-c2")
pid=$(field pid "$st")
[ -n "$pid" ] && kill -0 "$pid" || fail "no pid for c2"
kill -9 "$pid"
st=$($RT wait "$P-c2" 10000) || fail "c2 exit not seen"
echo "$st"
[ "$(field signal "$st")" = 9 ] || fail "c2 should report SIGKILL: $st"
[ "$(field oom "$st")" = 0 ] || fail "c2 is no OOM kill: $st"
$RT restart "$P-c2" || fail "restart c2"
st=$($RT status "$P-c2")
echo "$st" | grep -q running || fail "c2 not running after restart: $st"
[ "$(field pid "$st")" != "$pid" ] || fail "c2 has its old pid"
[ "$(grep -c 'hello from c2' "$($RT log "$P-c2")")" -ge 1 ] || fail "c2 log"
wait_log "$P-c2" 100 "hello from c2" || fail "c2 log after restart"
q=$(cat "/sys/fs/cgroup/cpu/$CG/bw-$P-c2/cpu.cfs_quota_us") || fail "no cpu cgroup for c2"
[ "$q" = 25000 ] || fail "c2's CPU quota after the restart is $q, not 25000"

echo "== stop: sleep as init ignores SIGTERM, so it is killed after the grace"
out=$($RT stop "$P-c1" 500) || fail "stop c1"
[ "$out" = "$P-c1 killed" ] || fail "c1: $out"
echo "== stop: a shell trapping SIGTERM stops within the grace"
$RT create "$P-g" "$ROOT" -- sh -c \
	'trap "echo got TERM; exit 0" TERM; echo ready; while :; do sleep 1; done' ||
	fail "create g"
wait_log "$P-g" 100 ready || fail "g not ready"
out=$($RT stop "$P-g" 10000) || fail "stop g"
[ "$out" = "$P-g stopped-gracefully" ] || fail "g: $out"
st=$($RT status "$P-g")
[ "$(field code "$st")" = 0 ] || fail "g exit code: $st"
wait_log "$P-g" 20 "got TERM" || fail "g did not log its TERM"

echo "== read-only root, no capabilities, seccomp"
$RT create "$P-h" "$ROOT" -- sh -c \
	'touch /bin/x 2>/dev/null && echo ROOT-WRITABLE; echo ok > /tmp/t && echo TMP-OK;
	 grep CapEff /proc/self/status; grep -E "^(NoNewPrivs|Seccomp):" /proc/self/status;
	 unshare -U true 2>/dev/null && echo UNSHARE-WORKS; echo done' ||
	fail "create h"
st=$($RT wait "$P-h" 20000) || fail "h did not exit"
log=$($RT log "$P-h")
cat "$log"
grep -q ROOT-WRITABLE "$log" && fail "root file system writable"
grep -q TMP-OK "$log" || fail "/tmp not writable"
grep -q "CapEff:.*0000000000000000" "$log" || fail "capabilities not dropped"
grep -q "NoNewPrivs:.*1" "$log" || fail "no_new_privs not set"
grep -q "Seccomp:.*2" "$log" || fail "no seccomp filter"
grep -q UNSHARE-WORKS "$log" && fail "unshare allowed"

echo "== OOM: 64 MiB limit, 256 MiB into tmpfs"
$RT create "$P-oom" "$ROOT" --mem 64 -- sh -c \
	'echo filling; head -c 256m /dev/zero > /tmp/fill; echo NOT-KILLED' ||
	fail "create oom"
st=$($RT wait "$P-oom" 60000) || fail "oom container did not end"
echo "$st"
[ "$(field oom "$st")" = 1 ] || fail "not reported as OOM: $st"
grep -q NOT-KILLED "$($RT log "$P-oom")" && fail "allocation survived"
echo "== control: the same container with 512 MiB is not OOM-killed"
$RT create "$P-nooom" "$ROOT" --mem 512 -- sh -c \
	'head -c 256m /dev/zero > /tmp/fill; echo NOT-KILLED' || fail "create"
st=$($RT wait "$P-nooom" 60000) || fail "control did not end"
[ "$(field oom "$st")" = 0 ] && [ "$(field code "$st")" = 0 ] ||
	fail "control: $st"

echo "== an exit that happens while a status read looks keeps its code"
# A read that found no exit file, then the init and the shim gone (the
# shim wrote the file and exited in between), said code=-1: on a busy
# machine the read is preempted there. strace holds the read there for
# 2 s, after the open of the exit file, while the container ends.
if strace -qq -o /dev/null -e trace=openat -e inject=openat:delay_exit=1 \
	/bin/true 2>/dev/null; then
	$RT create "$P-d" "$ROOT" -- sh -c "sleep 1; exit 0" || fail "create d"
	# (LeakSanitizer cannot run under ptrace: off for this one call)
	st=$(ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0" strace -qq -f \
		-o /dev/null -P "$STATE/$P-d/exit" -e trace=openat \
		-e inject=openat:delay_exit=2000000 $RT wait "$P-d" 30000) ||
		fail "d did not end"
	echo "$st"
	[ "$(field code "$st")" = 0 ] || fail "an exit seen mid-way: $st"
	$RT delete "$P-d" >/dev/null || fail "delete d"
else
	echo "(strace with fault injection missing: skipped)"
fi

echo "== fork bomb under pids.max=64"
# busybox sh exits 2 when a fork of its own meets the limit: the init
# forks its sleep and the bomb's subshell before any bomb process exists,
# then only waits (a builtin), as in workloads-containers.sh.
$RT create "$P-fb" "$ROOT" --pids 64 --mem 128 -- sh -c \
	'echo bomb; sleep 3 & s=$!; (b() { b | b & }; b) & wait $s; echo HOST-SIDE-ALIVE' ||
	fail "create fb"
st=$($RT wait "$P-fb" 60000) || fail "fork bomb container did not end"
log=$($RT log "$P-fb")
grep -q "can't fork" "$log" || fail "pids limit never hit"
grep -q HOST-SIDE-ALIVE "$log" || fail "init did not survive the bomb ($st; $(grep -v "can't fork" "$log" | tail -n 5 | tr '\n' ' '))"
# The host still forks.
/bin/true || fail "host cannot fork"

echo "== refused images"
cp "$TMP/rootfs.tar" "$TMP/unsigned.tar"
$RT image-import "$TMP/store" "$TMP/trust" rootfs "$TMP/unsigned.tar" \
	2>"$TMP/err" && fail "unsigned image imported"
grep -q unsigned "$TMP/err" || fail "unclear error: $(cat "$TMP/err")"
printf 'x' >> "$TMP/unsigned.tar"
cp "$TMP/rootfs.tar.sig" "$TMP/unsigned.tar.sig"
$RT image-import "$TMP/store" "$TMP/trust" rootfs "$TMP/unsigned.tar" \
	2>"$TMP/err" && fail "altered image imported"
grep -q "does not verify" "$TMP/err" || fail "unclear error: $(cat "$TMP/err")"
$RT image-import "$TMP/store" "$TMP/trust" rootfs "$TMP/rootfs.tar" \
	"sha256:$(printf '%064d' 0)" 2>"$TMP/err" && fail "wrong digest accepted"
grep -q "digest mismatch" "$TMP/err" || fail "unclear error: $(cat "$TMP/err")"

echo "== delete everything"
for id in $($RT list); do
	$RT delete "$id" || fail "delete $id"
done
check_clean
echo "$NAME: ok"

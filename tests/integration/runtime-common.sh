# Sourced by the runtime-*.sh integration tests: environment checks,
# re-execution under the driver's reaper, a private work area, and the
# checks that nothing of ours is left behind.
: "${top_builddir:?}"
: "${top_srcdir:?}"
PATH="$top_srcdir/tests/integration/bin:$PATH"	# jq -e fails on empty input
export PATH
DRIVER="$top_builddir/tests/runtime-driver"
NAME=$(basename "$0" .sh)

fail() {
	echo "$NAME: FAIL: $*" >&2
	exit 1
}

if [ "$(id -u)" -ne 0 ]; then
	echo "$NAME: SKIP: needs root (crun, cgroups, network namespaces)"
	exit 77
fi
[ -x "$DRIVER" ] || fail "$DRIVER not built"

# Shims outlive each driver call; a subreaper above the whole test
# reaps them (PID 1 here does not).
if [ -z "${BW_RT_REAPED:-}" ]; then
	BW_RT_REAPED=1 exec "$DRIVER" reap -- /bin/sh "$0" "$@"
fi

"$top_srcdir/scripts/host-prep" || fail "host-prep"

TMP=$(mktemp -d -p "${TMPDIR:-/tmp}") || fail "mktemp"
chmod 755 "$TMP"
# Unique per run: tests may run in parallel and ids name netns,
# cgroups and crun containers host-wide.
P="t$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')"
CG="bulwark-$P"
STATE="$TMP/state"
RUN="$TMP/run"
CNI="$TMP/cni"
RT="$DRIVER -s $STATE -r $RUN -g $CG -c $CNI"

# Builds a busybox root filesystem tarball at $1, signed with a new
# P-384 key whose public half goes into $TMP/trust.
make_rootfs() {
	r="$TMP/rootfs-src"
	mkdir -p "$r/bin" "$r/proc" "$r/sys" "$r/dev" "$r/tmp" "$r/etc" ||
		fail "rootfs dirs"
	cp /bin/busybox "$r/bin/busybox" || fail "busybox-static missing"
	for a in sh echo sleep cat ping head tail dd ip ls seq; do
		ln -sf busybox "$r/bin/$a"
	done
	tar -C "$r" -cf "$1" . || fail "tar"
	mkdir -p "$TMP/trust" "$TMP/keys"
	if [ ! -f "$TMP/keys/publisher.key" ]; then
		openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 \
			-out "$TMP/keys/publisher.key" 2>/dev/null || fail "genpkey"
		openssl pkey -in "$TMP/keys/publisher.key" -pubout \
			-out "$TMP/trust/publisher.pem" || fail "pubkey"
	fi
	$RT sign "$TMP/keys/publisher.key" "$1" || fail "sign"
}

# Imports the tarball $1; prints the unpacked rootfs path.
import_rootfs() {
	out=$($RT image-import "$TMP/store" "$TMP/trust" rootfs "$1") ||
		fail "import $1"
	echo "$out" | awk '{ print $3 }'
}

# Waits up to $2 tenths of a second for the pattern $3 in instance $1's log.
wait_log() {
	lp=$($RT log "$1") || return 1
	n=0
	while [ $n -lt "$2" ]; do
		grep -q -- "$3" "$lp" 2>/dev/null && return 0
		sleep 0.1
		n=$((n + 1))
	done
	return 1
}

field() {	# field NAME "status line"
	echo "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"
}

# Everything of ours must be gone: instances, crun state, processes,
# cgroups, mounts and namespaces.
check_clean() {
	left=$($RT list 2>/dev/null)
	[ -z "$left" ] || fail "instances left: $left"
	[ -z "$(ls -A "$RUN/crun" 2>/dev/null)" ] || fail "crun state left"
	[ -z "$(ls -A "$STATE" 2>/dev/null)" ] || fail "instance dirs left"
	if ps -eo args | grep -v grep | grep -q -- "bw-$P"; then
		ps -eo pid,ppid,stat,args | grep -- "bw-$P" >&2
		fail "processes left"
	fi
	for c in /sys/fs/cgroup/*/"$CG"; do
		[ -d "$c" ] || continue
		[ -z "$(find "$c" -mindepth 1 -type d)" ] ||
			fail "cgroups left: $(find "$c" -mindepth 1 -type d)"
	done
	if grep -q -- "bw-$P" /proc/self/mountinfo; then
		fail "mounts left: $(grep -- "bw-$P" /proc/self/mountinfo)"
	fi
	# the containers' roots and user namespaces are mounted below RUN
	if grep -q -- " $RUN/" /proc/self/mountinfo; then
		fail "mounts left: $(grep -- " $RUN/" /proc/self/mountinfo)"
	fi
	if ls /run/netns 2>/dev/null | grep -q -- "bw-$P"; then
		fail "netns left: $(ls /run/netns | grep -- "bw-$P")"
	fi
	# Below the reaper only this shell runs: every shim was reaped.
	kids=$(ps -o pid= --ppid "$PPID" | awk -v me=$$ '$1 != me' | wc -l)
	[ "$kids" -eq 0 ] || {
		ps -o pid,stat,args --ppid "$PPID" >&2
		fail "children of the reaper left"
	}
}

# Removes whatever a failed run left; safe to call twice.
base_cleanup() {
	for id in $($RT list 2>/dev/null); do
		$RT delete "$id" >/dev/null 2>&1
	done
	for c in /sys/fs/cgroup/*/"$CG"; do
		[ -d "$c" ] && rmdir "$c" 2>/dev/null
	done
	rm -rf "$TMP"
}

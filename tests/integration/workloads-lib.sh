# Sourced by the workloads-*.sh tests: a real bulwarkd and a real
# bulwark-agent on its own swtpm, enrolled with a bootstrap credential and
# an administrator's approval, running the workloads bound to it through
# crun and CNI. Everything runs inside a private network namespace (the
# daemon's loopback, the tenant bridges, the nftables table) and below a
# subreaper that reaps the shims a stopped agent leaves behind (PID 1 here
# does not reap).
: "${top_builddir:?}"
: "${top_srcdir:?}"
WL_NAME=$(basename "$0" .sh)

if [ "$(id -u)" -ne 0 ]; then
	echo "$WL_NAME: SKIP: needs root (crun, cgroups, network namespaces)"
	exit 77
fi
for b in /usr/bin/crun /usr/lib/cni/bridge /usr/bin/swtpm /bin/busybox; do
	if [ ! -x "$b" ]; then
		echo "$WL_NAME: SKIP: $b missing"
		exit 77
	fi
done
if [ -z "${BW_WL_INNER:-}" ]; then
	"$top_srcdir/scripts/host-prep" || { echo "$WL_NAME: host-prep failed"; exit 1; }
	ns="bwwl-$$-$(od -An -N2 -tx1 /dev/urandom | tr -d ' \n')"
	ip netns add "$ns" || exit 1
	ip -n "$ns" link set lo up
	BW_WL_INNER=1 BW_WL_NS="$ns" nsenter --net="/run/netns/$ns" \
		"$top_builddir/tests/runtime-driver" reap -- /bin/bash "$0" "$@"
	rc=$?
	ip netns delete "$ns" 2>/dev/null
	exit $rc
fi

. "$top_srcdir/tests/integration/lib.sh" || exit 99
. "$top_srcdir/tests/integration/identity-lib.sh" || exit 99
chmod 755 "$T"
P="w$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')"
CG="bulwark-$P"
D="$T/d"
MEDIA="$T/media"
NS="$T/state-n1"		# the agent's state
RUN="$T/run"
DRIVER="$top_builddir/tests/runtime-driver"
RT="$DRIVER -s $NS/instances -r $RUN -g $CG -c $NS/cni"
AGENT_PID=""
mkdir -p "$D" "$MEDIA"

# wl_delete_instances: deletes the runtime's instances and their
# network namespaces (named in the shared /run/netns, which the test's
# own namespace does not take away; the agent removes them only when
# the API deletes an instance).
wl_delete_instances() {
	local id
	for id in $($RT list 2>/dev/null); do
		$RT delete "$id" >/dev/null 2>&1
		ip netns delete "bw-${id#bw-}" 2>/dev/null
	done
}

wl_cleanup() {
	[ -n "$AGENT_PID" ] && { kill -TERM "$AGENT_PID" 2>/dev/null; wait "$AGENT_PID" 2>/dev/null; }
	wl_delete_instances
	for c in /sys/fs/cgroup/*/"$CG"; do
		[ -d "$c" ] && rmdir "$c" 2>/dev/null
	done
	cleanup
}
trap wl_cleanup EXIT

# wl_cleanup_volumes: wl_cleanup for tests with volumes, whose mounts
# (STATE/volumes/UID/mnt, the test's own T/m) an agent leaves behind as
# it leaves instances running: stops the agent and the instances, then
# unmounts them.
wl_cleanup_volumes() {
	local m
	if [ -n "$AGENT_PID" ]; then
		kill -TERM "$AGENT_PID" 2>/dev/null
		wait "$AGENT_PID" 2>/dev/null
		AGENT_PID=""
	fi
	wl_delete_instances
	for m in "$NS"/volumes/*/mnt "$T/m"; do
		mountpoint -q "$m" 2>/dev/null && umount "$m"
	done
	wl_cleanup
}
trap 'exit 1' INT TERM

wait_for() { # seconds command...
	local s=$1 i; shift
	for i in $(seq $((s * 10))); do "$@" && return 0; sleep 0.1; done
	return 1
}

# start_bulwarkd_wl: bulwarkd with an import root for the test's media.
start_bulwarkd_wl() {
	cat >"$D/bulwarkd.conf" <<'EOF'
{"attestation": {"interval_seconds": 5, "stale_after_seconds": 60,
                 "node_certificate_seconds": 3600}}
EOF
	"$BW/bulwarkd" --data-dir "$D" --listen 127.0.0.1:0 --import-root "$MEDIA" \
		>>"$D/bulwarkd.log" 2>&1 &
	BWD_PID=$!
	BW_PIDS="$BW_PIDS $BWD_PID"
	for i in $(seq 200); do
		if [ -f "$D/admin.conf" ]; then
			PORT=$(jq -r .server "$D/admin.conf" | sed 's/.*://')
			[ -n "$PORT" ] && curl -sk "https://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break
		fi
		kill -0 "$BWD_PID" 2>/dev/null || { cat "$D/bulwarkd.log" >&2; return 1; }
		sleep 0.05
	done
	CONF="$D/admin.conf"
	AUDITOR="$D/auditor.conf"
	PKI="$D/pki"
	URL="https://127.0.0.1:$PORT"
	B="$BW/bulwark --config $CONF"
	export B
}

start_agent_wl() {
	"$BW/bulwark-agent" --tpm "$TCTI" --state-dir "$NS" --server "$URL" \
		${1:+--bootstrap "$1"} --wait 60 --image-store "$D/images" \
		--run-dir "$RUN" --cgroup-parent "$CG" --stop-grace "${WL_GRACE:-5}" \
		--log-level debug ${WL_AGENT_ARGS:-} \
		>>"$T/agent.log" 2>&1 &
	AGENT_PID=$!
}

stop_agent_wl() {
	kill -TERM "$AGENT_PID" 2>/dev/null
	wait "$AGENT_PID" 2>/dev/null
	AGENT_PID=""
}


# Enrols node n1: bootstrap credential, agent, approval of its PCRs.
enrol_node() {
	start_swtpm "$T/tpm-n1" || return 1
	TCTI=$SWTPM_TCTI
	code=$(acurl -o "$T/boot-n1.json" -w '%{http_code}' -X POST \
		-H 'Content-Type: application/json' -d '{"node":"n1"}' \
		"$URL/v1/enrol/bootstrap")
	[ "$code" = 201 ] || return 1
	start_agent_wl "$T/boot-n1.json"
	wait_for 30 node_is '.status.pending.pcrs["7"] != null' || return 1
	code=$(acurl -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
		-d '{"node":"n1"}' "$URL/v1/enrol/approve")
	[ "$code" = 200 ] || return 1
	wait_for 30 node_is '.status.attestation == "Trusted"'
}

# node_is JQ-EXPRESSION: true when node n1's object satisfies it.
node_is() {
	$B get node n1 -o json 2>/dev/null | jq -e "$1" >/dev/null
}

# A busybox root file system tarball on the test's media, signed by a new
# P-384 publisher key that the appliance trusts; imported through the API.
# Sets DIGEST.
import_busybox() {
	local r="$T/rootfs-src" a
	mkdir -p "$r/bin" "$r/proc" "$r/sys" "$r/dev" "$r/tmp" "$r/etc" "$r/data"
	cp /bin/busybox "$r/bin/busybox"
	for a in sh echo sleep cat head tail dd ls seq ping hostname; do
		ln -sf busybox "$r/bin/$a"
	done
	tar -C "$r" -cf "$MEDIA/busybox.tar" . || return 1
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 \
		-out "$T/publisher.key" 2>/dev/null || return 1
	openssl pkey -in "$T/publisher.key" -pubout -out "$T/publisher.pem" || return 1
	$B image sign --key "$T/publisher.key" "$MEDIA/busybox.tar" >/dev/null || return 1
	$B image trust add "$T/publisher.pem" --name publisher >/dev/null || return 1
	$B image import "$MEDIA/busybox.tar" --type container >"$T/import.out" || return 1
	DIGEST=$($B get images -o json | jq -r '.items[0].spec.digest')
	[ -n "$DIGEST" ] && [ "$DIGEST" != null ]
}

# instances TENANT: the tenant's instances as JSON (one array)
instances() { $B get instances -t "$1" -o json | jq -c '.items'; }
n_running() { # TENANT WORKLOAD
	instances "$1" | jq "[.[] | select(.spec.workload == \"$2\" and .status.phase == \"Running\")] | length"
}
inst() { # TENANT NAME
	$B get instance "$2" -t "$1" -o json
}
inst_is() { # TENANT NAME JQ-EXPRESSION
	inst "$1" "$2" 2>/dev/null | jq -e "$3" >/dev/null
}
# count_is N COMMAND...: COMMAND prints N (lines are counted when it
# prints several)
count_is() {
	local n=$1; shift
	[ "$("$@" 2>/dev/null | grep -c .)" = "$n" ]
}
crun_list() { crun --root "$RUN/crun" list -q; }
# The checks run some of these in `bash -c`.
export -f inst instances n_running inst_is node_is count_is crun_list
export RUN

# log_sample_until TENTHS CMD: samples the size of LOG and LOG.1 (a
# capped log, lib/logcap.h) every 0.1 s until CMD succeeds or TENTHS
# samples went by; sets maxsum to the largest sum seen.
log_sample_until() {
	local i sum
	maxsum=0
	for i in $(seq "$1"); do
		sum=$(( $(stat -c %s "$LOG" 2>/dev/null || echo 0) + $(stat -c %s "$LOG.1" 2>/dev/null || echo 0) ))
		[ "$sum" -gt "$maxsum" ] && maxsum=$sum
		"$2" && break
		sleep 0.1
	done
}

# vm_guest_tools: KERNEL (the newest in /boot) and KVER for VM guests;
# ends the test with SKIP without a kernel or QEMU.
vm_guest_tools() {
	KERNEL=$(ls /boot/vmlinuz-* 2>/dev/null | sort -V | tail -n 1)
	if [ -z "$KERNEL" ] || [ ! -x /usr/bin/qemu-img ] || [ ! -x /usr/bin/qemu-system-x86_64 ]; then
		echo "$WL_NAME: SKIP: needs a guest kernel in /boot, qemu-system-x86 and qemu-utils"
		exit 77
	fi
	KVER=${KERNEL#/boot/vmlinuz-}
}

# vm_guest_initrd OUT: a busybox initramfs with the ACPI button and
# virtio block modules, gzipped into OUT. Its /init mounts /proc, /sys
# and /dev, loads the modules, sets B (busybox) and ev (the power
# button's event device, or empty), then runs the script read from
# stdin.
vm_guest_initrd() {
	local ir="$T/initramfs.$$" n=10 m f
	rm -rf "$ir"
	mkdir -p "$ir/bin" "$ir/proc" "$ir/sys" "$ir/dev" "$ir/mod"
	cp /bin/busybox "$ir/bin/busybox"
	for m in acpi/button input/evdev virtio/virtio_ring virtio/virtio \
	    virtio/virtio_pci_modern_dev virtio/virtio_pci_legacy_dev \
	    virtio/virtio_pci block/virtio_blk; do
		f=/lib/modules/$KVER/kernel/drivers/$m.ko
		if [ -f "$f" ]; then
			cp "$f" "$ir/mod/$n-$(basename "$m").ko"
		elif [ -f "$f.xz" ]; then
			xz -dc "$f.xz" >"$ir/mod/$n-$(basename "$m").ko"
		fi
		n=$((n + 1))
	done
	{ cat <<'PROLOGUE'
#!/bin/busybox sh
B=/bin/busybox
$B mount -t proc proc /proc
$B mount -t sysfs sys /sys
$B mount -t devtmpfs dev /dev
for m in /mod/*.ko; do [ -f "$m" ] && $B insmod "$m"; done
ev=
for e in /sys/class/input/event*; do
	$B grep -q "Power Button" "$e/device/name" 2>/dev/null && ev=/dev/input/${e##*/}
done
PROLOGUE
	  cat; } >"$ir/init" || return 1
	chmod 755 "$ir/init"
	(cd "$ir" && find . | cpio -o -H newc --quiet | gzip -1) >"$1"
}

# import_vm_disk: an 8 MiB raw disk starting with "BW-DISK", signed by
# a new publisher key the appliance trusts, imported as a vm image.
# Sets DIGEST.
import_vm_disk() {
	dd if=/dev/zero of="$MEDIA/disk.raw" bs=1M count=8 2>/dev/null
	printf 'BW-DISK' | dd of="$MEDIA/disk.raw" conv=notrunc 2>/dev/null
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 \
		-out "$T/publisher.key" 2>/dev/null || return 1
	openssl pkey -in "$T/publisher.key" -pubout -out "$T/publisher.pem" || return 1
	$B image sign --key "$T/publisher.key" "$MEDIA/disk.raw" >/dev/null || return 1
	$B image trust add "$T/publisher.pem" --name publisher >/dev/null || return 1
	$B image import "$MEDIA/disk.raw" --type vm >/dev/null || return 1
	DIGEST=$($B get images -o json | jq -r '.items[0].spec.digest')
	[ -n "$DIGEST" ] && [ "$DIGEST" != null ]
}

# wl_start_vm: bulwarkd, node n1 enrolled and approved, its agent
# booting VMs with KERNEL and T/initrd.gz (vm_guest_tools,
# vm_guest_initrd) and a 60 s stop grace, and a signed raw disk
# imported (import_vm_disk); ends the test when one fails.
wl_start_vm() {
	start_bulwarkd_wl || { fail "bulwarkd did not start"; finish; }
	WL_GRACE=60
	WL_AGENT_ARGS="--vm-kernel $KERNEL --vm-initrd $T/initrd.gz --vm-cmdline console=ttyS0"
	enrol_node || { fail "node n1 enrols with its TPM and is approved"; finish; }
	pass "node n1 enrols with its TPM and is approved"
	check "a signed 8 MiB raw disk is imported as a vm image" import_vm_disk
}

# wl_start: bulwarkd, node n1 enrolled with its TPM and approved, and the
# signed busybox image imported; ends the test when one fails.
wl_start() {
	start_bulwarkd_wl || { fail "bulwarkd did not start"; finish; }
	enrol_node || { fail "node n1 enrols with its TPM and is approved"; finish; }
	pass "node n1 enrols with its TPM and is approved"
	import_busybox || { fail "a signed busybox image is imported"; finish; }
	pass "a signed busybox image is imported"
}

# wl_refused GENERATOR JSON TEXT: the workload GENERATOR prints for JSON
# (named "bad") is refused with TEXT in the error.
wl_refused() {
	local out
	out=$("$1" "$2" bad | $B apply -f - 2>&1) && return 1
	echo "$out" | grep -qF -- "$3" || { echo "got: $out" >&2; return 1; }
}

# wl_ready_file TENANT NAME [PREFIX]: runs "PREFIX/tmp/www/ready.html"
# (default PREFIX "echo ok >") in instance NAME's container as its root,
# through its user and mount namespaces (host root is not mapped there).
wl_ready_file() {
	local uid pid
	uid=$(inst "$1" "$2" | jq -r .status.runtime_id)
	pid=$(crun --root "$RUN/crun" state "bw-$uid" | jq -r .pid)
	nsenter -t "$pid" -U -m /bin/busybox sh -c "${3:-echo ok >}/tmp/www/ready.html"
}

# wl_finish: checks the agent still runs, stops everything, ends the test.
wl_finish() {
	kill -0 "$AGENT_PID" || fail "agent died"
	stop_agent_wl
	check "no sanitizer report from the agent" sh -c "! grep -q -e 'Sanitizer' -e 'runtime error:' '$T/agent.log'"
	stop_bulwarkd
	stop_swtpm "$T/tpm-n1"
	finish
}

# wl_httpd NAME REPLICAS PORT MORE: a workload of tenant acme whose
# instances serve their hostname from /tmp/www on PORT (busybox httpd in
# the background of a shell init); MORE is the rest of its spec
# ("probes": ..., "service": ...).
wl_httpd() {
	cat <<JSON
{"kind": "Workload", "metadata": {"name": "$1", "tenant": "acme"},
 "spec": {"type": "container", "image": "$DIGEST", "replicas": $2,
          "resources": {"cpu_millis": 200, "memory_mib": 32},
          "command": ["sh", "-c", "mkdir -p /tmp/www; hostname >/tmp/www/index.html; /bin/busybox httpd -f -p $3 -h /tmp/www & while :; do sleep 1; done"],
          $4}}
JSON
}

# wl_client TENANT: tenant TENANT and its workload "client", one
# container that only sleeps (requests are sent from its netns).
wl_client() {
	cat <<JSON
{"kind": "Tenant", "metadata": {"name": "$1"}, "spec": {}}
{"kind": "Workload", "metadata": {"name": "client", "tenant": "$1"},
 "spec": {"type": "container", "image": "$DIGEST", "replicas": 1,
          "resources": {"cpu_millis": 100, "memory_mib": 16},
          "command": ["sh", "-c", "while :; do sleep 1; done"]}}
JSON
}

# wl_gone TENANT...: the tenants have no instance left, crun no container.
wl_gone() {
	local t
	for t in "$@"; do
		check "$t: every instance is gone" wait_for 30 bash -c "[ \"\$(instances $t | jq length)\" = 0 ]"
	done
	check "no crun container left" wait_for 30 bash -c "[ -z \"\$(crun --root '$RUN/crun' list -q)\" ]"
}

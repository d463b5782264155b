#!/bin/bash
# A VM workload end to end (issue 5, Done-means 3), through the API: a
# signed raw disk is imported as a vm image; the agent boots VM
# workloads with a node-provided kernel (the Debian guest kernel) and a
# busybox initramfs built here, the tenant's disk attached as a virtio
# disk behind a qcow2 overlay; the instance is Running with QEMU in its
# cgroups; the guest's marker and its view of the disk arrive in
# status.log_tail (the serial console); deleting the workload stops the
# guest gracefully over QMP (ACPI power button; the guest powers off
# within the grace period) and leaves nothing behind. The accelerator is
# what the node reports (TCG on hosts whose KVM cannot run guests).
. "$(dirname "$0")/workloads-lib.sh" || exit 99

vm_guest_tools

# The guest: /init prints markers, reads the disk, and powers off on
# the power button.
vm_guest_initrd "$T/initrd.gz" <<'INIT' || { fail "initramfs"; finish; }
echo BW-GUEST-UP
for i in 1 2 3 4 5; do [ -b /dev/vda ] && break; $B sleep 1; done
$B head -c 7 /dev/vda 2>/dev/null | $B grep -q BW-DISK && echo BW-GUEST-DISK-OK
if [ -n "$ev" ]; then
	exec 3< "$ev"
	echo BW-GUEST-READY
	$B dd bs=24 count=1 <&3 >/dev/null 2>&1
	echo BW-GUEST-POWERDOWN
	$B poweroff -f
fi
echo BW-GUEST-NO-BUTTON
while :; do $B sleep 1000; done
INIT

wl_start_vm
sum_before=$(sha256sum "$D/images/blobs/sha256/${DIGEST#sha256:}" | awk '{ print $1 }')

cat >"$T/vm.json" <<JSON
[{"kind": "Tenant", "metadata": {"name": "acme"}, "spec": {}},
 {"kind": "Workload", "metadata": {"name": "vm", "tenant": "acme"},
  "spec": {"type": "vm", "image": "$DIGEST", "replicas": 1,
           "resources": {"cpu_millis": 1000, "memory_mib": 256},
           "restart_policy": "always"}}]
JSON
t0=$(date +%s.%N)
check "apply the VM workload" $B apply -f "$T/vm.json"
check "vm-0 Running" wait_for 60 inst_is acme vm-0 '.status.phase == "Running"'
t1=$(date +%s.%N)
uid=$(inst acme vm-0 | jq -r .status.runtime_id)
pid=$(pgrep -f "bw-$uid.qmp" | head -1)
check "QEMU runs ($pid) in the instance's cgroup" grep -q "/$CG/bw-$uid\$" "/proc/$pid/cgroup"
check "the guest's marker is in status.log_tail" wait_for 120 inst_is acme vm-0 \
	'.status.log_tail | contains("BW-GUEST-READY")'
t2=$(date +%s.%N)
echo "apply to Running: $(echo "$t1 - $t0" | bc) s; to the guest's marker in the API: $(echo "$t2 - $t0" | bc) s"
check "the guest sees the tenant's disk" inst_is acme vm-0 '.status.log_tail | contains("BW-GUEST-DISK-OK")'
check "the overlay is what the guest writes" [ -f "$NS/instances/$uid/disk.qcow2" ]
check "the node reports its accelerator" node_is '.status.agent.accelerator == "tcg" or .status.agent.accelerator == "kvm"'

echo "== delete: graceful ACPI power-down over QMP"
check "delete the workload" $B delete workload vm -t acme
check "the VM is removed" wait_for 90 bash -c "[ ! -e '$NS/instances/$uid' ] && [ ! -e '$NS/workloads/$uid.json' ]"
check "the guest powered off within the grace period" \
	grep -q "\"instance $uid (acme/vm-0) removed: stopped within the grace period\"" "$T/agent.log"
check "no QEMU left" sh -c "! ps -eo comm=,args= | grep '^qemu' | grep -q '$uid'"
check "no QMP socket left" [ ! -e "$RUN/bw-$uid.qmp" ]
check "no cgroup left" sh -c "[ -z \"\$(find /sys/fs/cgroup/*/$CG -mindepth 1 -type d 2>/dev/null)\" ]"
check "the stored image is unchanged" [ "$(sha256sum "$D/images/blobs/sha256/${DIGEST#sha256:}" | awk '{ print $1 }')" = "$sum_before" ]
stop_agent_wl
check "no sanitizer report from the agent" sh -c "! grep -q -e 'Sanitizer' -e 'runtime error:' '$T/agent.log'"
stop_bulwarkd
stop_swtpm "$T/tpm-n1"
finish

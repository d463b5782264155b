#!/bin/bash
# A VM workload with a volume (issue 22, Done-means 2), under TCG: the
# guest sees the volume as its second virtio disk (a raw file inside the
# volume's encrypted file system); the first instance writes a marker
# to it, the instance that replaces it after an update reads it back.
# The volume's backing file does not hold the marker.
. "$(dirname "$0")/workloads-lib.sh" || exit 99

trap wl_cleanup_volumes EXIT

vm_guest_tools
vm_guest_initrd "$T/initrd.gz" <<'INIT' || { fail "initramfs"; finish; }
for i in 1 2 3 4 5; do [ -b /dev/vdb ] && break; $B sleep 1; done
if $B head -c 14 /dev/vdb | $B grep -q BW-VOLUME-DATA; then
	echo BW-VOLUME-FOUND
else
	echo BW-VOLUME-DATA | $B dd of=/dev/vdb conv=notrunc 2>/dev/null
	$B sync
	echo BW-VOLUME-WROTE
fi
[ -n "$ev" ] || { echo BW-GUEST-NO-BUTTON; while :; do $B sleep 1000; done; }
exec 3< "$ev"
echo BW-GUEST-READY
$B dd bs=24 count=1 <&3 >/dev/null 2>&1
$B poweroff -f
INIT

wl_start_vm

vm() { # VERSION
	cat <<JSON
[{"kind": "Tenant", "metadata": {"name": "acme"}, "spec": {}},
 {"kind": "Volume", "metadata": {"name": "vd", "tenant": "acme"}, "spec": {"size_bytes": 67108864}},
 {"kind": "Workload", "metadata": {"name": "vm", "tenant": "acme"},
  "spec": {"type": "vm", "image": "$DIGEST", "replicas": 1,
           "resources": {"cpu_millis": 1000, "memory_mib": 256},
           "env": {"VERSION": "$1"},
           "volumes": [{"volume": "vd"}],
           "restart_policy": "always"}}]
JSON
}
vm 1 | $B apply -f - >/dev/null || fail "apply a VM workload with a volume"
check "vm-0 Running" wait_for 60 inst_is acme vm-0 '.status.phase == "Running"'
check "the guest wrote its marker to the volume's disk" wait_for 120 inst_is acme vm-0 \
	'.status.log_tail | contains("BW-VOLUME-WROTE") and contains("BW-GUEST-READY")'
VUID=$($B get volume vd -t acme -o json | jq -r .metadata.uid)
V="$NS/volumes/$VUID"
check "the guest's disk is a file in the volume's data directory" [ -f "$V/mnt/data/disk.raw" ]
check "which holds the marker, seen through the key" bash -c "head -c 14 '$V/mnt/data/disk.raw' | grep -q BW-VOLUME-DATA"
sync
check_fails "the backing file does not" grep -aq BW-VOLUME-DATA "$V/backing.img"
tmpl_old=$(inst acme vm-0 | jq -r .spec.template)
vm 2 | $B apply -f - >/dev/null || fail "update the workload"
check "vm-0 replaced and Running" wait_for 120 inst_is acme vm-0 \
	".status.phase == \"Running\" and .spec.template != \"$tmpl_old\""
check "the new guest reads the marker the old one wrote" wait_for 120 inst_is acme vm-0 \
	'.status.log_tail | contains("BW-VOLUME-FOUND")'
check "delete the workload" $B delete workload vm -t acme
check "the volume is detached" wait_for 90 bash -c "! mountpoint -q '$V/mnt'"
check "delete the volume" $B delete volume vd -t acme
check "the node deletes it" wait_for 60 bash -c "[ ! -e '$V' ]"
kill -0 "$AGENT_PID" || fail "agent died"
finish

#!/bin/bash
# A VM's serial console is a capped log like a container's output
# (issue 23, Done-means 5): a guest that writes 6 MiB to its console
# with log_max_bytes 256 KiB leaves at most 256 KiB on the node
# (serial.log and serial.log.1, sampled while it writes), the guest's
# lines reach `bulwark logs`, and QEMU's own messages stay out of it.
. "$(dirname "$0")/workloads-lib.sh" || exit 99

vm_guest_tools
CAP=262144

# The guest writes to its console (ttyS0) and then says so; under TCG
# the console is slow, so the volume is modest but far above the cap.
vm_guest_initrd "$T/initrd.gz" <<'INIT' || { fail "initramfs"; finish; }
echo BW-GUEST-UP
$B yes 'a guest console line that repeats' | $B head -c 6291456
echo
$B sleep 3
echo BW-GUEST-DONE-WRITING
while :; do $B sleep 1000; done
INIT

wl_start_vm

cat >"$T/vm.json" <<JSON
[{"kind": "Tenant", "metadata": {"name": "acme"}, "spec": {}},
 {"kind": "Workload", "metadata": {"name": "vm", "tenant": "acme"},
  "spec": {"type": "vm", "image": "$DIGEST", "replicas": 1,
           "resources": {"cpu_millis": 1000, "memory_mib": 256},
           "log_max_bytes": $CAP, "restart_policy": "always"}}]
JSON
t0=$(date +%s.%N)
check "apply a VM whose guest writes 6 MiB to its console (log_max_bytes 256 KiB)" $B apply -f "$T/vm.json"
check "vm-0 Running" wait_for 60 inst_is acme vm-0 '.status.phase == "Running"'
uid=$(inst acme vm-0 | jq -r .status.runtime_id)
LOG="$NS/instances/$uid/serial.log"
done_writing() { grep -q BW-GUEST-DONE-WRITING "$LOG" 2>/dev/null; }
log_sample_until 6000 done_writing
t1=$(date +%s.%N)
check "the guest wrote its 6 MiB" done_writing
base=$(cut -d' ' -f1 "$LOG.base" 2>/dev/null || echo 0)
echo "6 MiB through the console in $(echo "$t1 - $t0" | bc) s (from apply); largest log on disk seen: $maxsum bytes; logical offset of serial.log's first byte: $base"
sum=$(( $(stat -c %s "$LOG") + $(stat -c %s "$LOG.1") ))
echo "on disk now: serial.log + serial.log.1 = $sum bytes (cap $CAP); $(ls "$NS/instances/$uid" | tr '\n' ' ')"
check "the log never held more than its cap ($maxsum <= $CAP)" [ "$maxsum" -le "$CAP" ]
check "it holds at most the cap now ($sum <= $CAP)" [ "$sum" -le "$CAP" ]
check "and it was rotated (both halves exist)" [ -s "$LOG.1" ]
check "more than 6 MiB went through it" [ "$base" -gt 6000000 ]
check "QEMU's own messages are not in it" bash -c "! grep -q qemu-system '$LOG' '$LOG.1'"
check "serial.log is not QEMU's file any more" bash -c "! grep -q 'serial.log' '$NS/instances/$uid/instance.json'"

echo "== bulwark logs"
# The guest's tty ends its lines with CR LF; bulwark logs shows the CR
# as '?' (a byte outside printable ASCII).
check "--tail 1 gives the guest's last line" bash -c "$B logs vm-0 -t acme --tail 1 | grep -q '^BW-GUEST-DONE-WRITING.\?\$'"
check "--tail 5 shows the guest's lines" bash -c "$B logs vm-0 -t acme --tail 5 | grep -q 'a guest console line that repeats'"
check "status.log_tail has the guest's lines" wait_for 30 inst_is acme vm-0 '.status.log_tail | contains("BW-GUEST-DONE-WRITING")'

check "delete the workload" $B delete workload vm -t acme
check "the VM is removed" wait_for 90 bash -c "[ ! -e '$NS/instances/$uid' ]"
check "no QEMU left" sh -c "! ps -eo comm=,args= | grep '^qemu' | grep -q '$uid'"
stop_agent_wl
check "no sanitizer report from the agent" sh -c "! grep -q -e 'Sanitizer' -e 'runtime error:' '$T/agent.log'"
stop_bulwarkd
stop_swtpm "$T/tpm-n1"
finish

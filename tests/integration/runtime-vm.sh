#!/bin/sh
# VMs through the runtime library: the accelerator is probed with a
# test boot under KVM (falls back to TCG on these hosts, with the
# reason printed); a Debian kernel boots a busybox initramfs built
# here, with a signed raw disk from the image store behind a qcow2
# overlay; the serial log shows the guest's marker; QMP
# system_powerdown makes the guest power off through ACPI (its /init
# waits on the power button); after a restart, a stop without grace
# ends QEMU through QMP quit; QEMU runs in its own cgroups; the stored
# image is unchanged (the guest wrote to its overlay); nothing is left
# after the delete.
set -u
. "$top_srcdir/tests/integration/runtime-common.sh"
trap base_cleanup EXIT
trap 'exit 1' INT TERM

KERNEL=$(ls /boot/vmlinuz-* 2>/dev/null | sort -V | tail -n 1)
if [ -z "$KERNEL" ]; then
	echo "$NAME: SKIP: no guest kernel in /boot (apt-get install linux-image-amd64)"
	exit 77
fi
if [ ! -x /usr/bin/qemu-img ]; then
	echo "$NAME: SKIP: qemu-img missing (apt-get install qemu-utils)"
	exit 77
fi
KVER=${KERNEL#/boot/vmlinuz-}

echo "== initramfs: busybox, the ACPI button and evdev modules"
IR="$TMP/initramfs"
mkdir -p "$IR/bin" "$IR/proc" "$IR/sys" "$IR/dev" "$IR/mod"
cp /bin/busybox "$IR/bin/busybox" || fail "busybox-static missing"
# Numbered in load order (dependencies first).
n=10
for m in acpi/button input/evdev virtio/virtio_ring virtio/virtio \
    virtio/virtio_pci_modern_dev virtio/virtio_pci_legacy_dev \
    virtio/virtio_pci block/virtio_blk; do
	f=/lib/modules/$KVER/kernel/drivers/$m.ko
	if [ -f "$f" ]; then
		cp "$f" "$IR/mod/$n-$(basename "$m").ko"
	elif [ -f "$f.xz" ]; then
		xz -dc "$f.xz" > "$IR/mod/$n-$(basename "$m").ko"
	fi	# else built in
	n=$((n + 1))
done
cat > "$IR/init" <<'INIT'
#!/bin/busybox sh
B=/bin/busybox
$B mount -t proc proc /proc
$B mount -t sysfs sys /sys
$B mount -t devtmpfs dev /dev
for m in /mod/*.ko; do [ -f "$m" ] && $B insmod "$m"; done
echo BW-GUEST-UP
ev=
for e in /sys/class/input/event*; do
	$B grep -q "Power Button" "$e/device/name" 2>/dev/null &&
		ev=/dev/input/${e##*/}
done
for i in 1 2 3 4 5; do [ -b /dev/vda ] && break; $B sleep 1; done
$B head -c 7 /dev/vda 2>/dev/null | $B grep -q BW-DISK && echo BW-GUEST-DISK-OK
if [ -n "$ev" ]; then
	# Opened before READY: a power button press from then on is kept.
	exec 3< "$ev"
	echo BW-GUEST-READY
	$B dd bs=24 count=1 <&3 >/dev/null 2>&1
	echo BW-GUEST-POWERDOWN
	$B poweroff -f
fi
echo BW-GUEST-NO-BUTTON
while :; do $B sleep 1000; done
INIT
chmod 755 "$IR/init"
if command -v cpio >/dev/null; then
	(cd "$IR" && find . | cpio -o -H newc --quiet | gzip -1) > "$TMP/initrd.gz"
else
	(cd "$IR" && find . | busybox cpio -o -H newc | gzip -1) > "$TMP/initrd.gz"
fi
[ -s "$TMP/initrd.gz" ] || fail "initramfs"

echo "== signed raw disk through the image store"
make_rootfs "$TMP/unused.tar"	# creates the publisher key
dd if=/dev/zero of="$TMP/disk.raw" bs=1M count=8 2>/dev/null
printf 'BW-DISK' | dd of="$TMP/disk.raw" conv=notrunc 2>/dev/null
$RT sign "$TMP/keys/publisher.key" "$TMP/disk.raw" || fail "sign disk"
out=$($RT image-import "$TMP/store" "$TMP/trust" disk "$TMP/disk.raw") ||
	fail "import disk"
DISK=$(echo "$out" | awk '{ print $3 }')
sum_before=$(sha256sum "$DISK" | awk '{ print $1 }')

echo "== accelerator probe and boot"
ID="$P-vm"
t0=$(date +%s)
out=$($RT vm-create "$ID" --probe --kernel "$KERNEL" --initrd "$TMP/initrd.gz" \
	--append "console=ttyS0 quiet panic=-1" --mem 256 --cpu 1000 \
	--disk "$DISK" --format raw) || fail "vm-create: $out"
echo "$out"
echo "$out" | grep -q '^accel=' || fail "no accelerator reported"
st=$($RT status "$ID")
echo "$st" | grep -q running || fail "vm not running: $st"
pid=$(field pid "$st")
grep -q "/$CG/bw-$ID\$" "/proc/$pid/cgroup" || fail "QEMU not in its cgroup"
lim=$(cat "/sys/fs/cgroup/memory/$CG/bw-$ID/memory.limit_in_bytes")
[ "$lim" -gt $((256 << 20)) ] && [ "$lim" -lt $((1024 << 20)) ] ||
	fail "memory limit $lim"
[ -f "$STATE/$ID/disk.qcow2" ] || fail "no overlay"
wait_log "$ID" 1800 BW-GUEST-READY || {
	cat "$($RT log "$ID")" >&2
	fail "no guest marker"
}
echo "guest ready after $(($(date +%s) - t0)) s"
wait_log "$ID" 10 BW-GUEST-DISK-OK || {
	cat "$($RT log "$ID")" >&2
	fail "guest does not see the disk"
}

echo "== graceful power-down over QMP"
out=$($RT stop "$ID" 60000) || fail "stop"
[ "$out" = "$ID stopped-gracefully" ] || fail "$out"
grep -q BW-GUEST-POWERDOWN "$($RT log "$ID")" || fail "guest did not see ACPI"
st=$($RT status "$ID")
[ "$(field code "$st")" = 0 ] || fail "QEMU exit: $st"

echo "== restart, then stop without grace: QMP quit"
$RT restart "$ID" || fail "restart"
n=$(grep -c BW-GUEST-READY "$($RT log "$ID")")
i=0
while [ "$(grep -c BW-GUEST-READY "$($RT log "$ID")")" -le "$n" ]; do
	i=$((i + 1))
	[ $i -lt 1800 ] || fail "no marker after restart"
	sleep 0.1
done
pd=$(grep -c BW-GUEST-POWERDOWN "$($RT log "$ID")")
out=$($RT stop "$ID" 0) || fail "stop"
[ "$out" = "$ID killed" ] || fail "$out"
[ "$(grep -c BW-GUEST-POWERDOWN "$($RT log "$ID")")" = "$pd" ] ||
	fail "quit went through the guest"
st=$($RT status "$ID")
echo "$st" | grep -q exited || fail "$st"

echo "== delete"
$RT delete "$ID" || fail "delete"
[ -e "$RUN/bw-$ID.qmp" ] && fail "QMP socket left"
[ "$(sha256sum "$DISK" | awk '{ print $1 }')" = "$sum_before" ] ||
	fail "the stored image changed"
check_clean
echo "$NAME: ok"

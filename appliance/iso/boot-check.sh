#!/bin/bash
# Boots bulwark-VERSION.iso under QEMU with TCG (KVM guests hang on the
# build machines), first with SeaBIOS, then with OVMF where installed,
# and passes when the serial console shows the kernel, then systemd as
# init. Bounded: BW_BOOT_TIMEOUT seconds (default 600) per boot; QEMU is
# killed and reaped either way.
set -u
iso="${1:?usage: boot-check.sh ISO}"
limit="${BW_BOOT_TIMEOUT:-600}"
[ -f "$iso" ] || { echo "boot-check: no $iso (make iso first)" >&2; exit 1; }
log=$(mktemp -d)
qpid=""
cleanup() {
	[ -n "$qpid" ] && kill "$qpid" 2>/dev/null && wait "$qpid" 2>/dev/null
	rm -rf "$log"
}
trap cleanup EXIT

# boot NAME QEMU-ARGS...: 0 when both markers appear in time.
boot() {
	local name="$1" t0 now kernel="" init=""; shift
	: > "$log/$name"
	t0=$(date +%s)
	qemu-system-x86_64 -accel tcg -m 1024 -nographic -no-reboot \
		-serial "file:$log/$name" -monitor none -cdrom "$iso" "$@" \
		>/dev/null 2>"$log/$name.err" &
	qpid=$!
	while :; do
		now=$(date +%s)
		if [ -z "$kernel" ] && grep -q 'Linux version' "$log/$name"; then
			kernel=$((now - t0)); echo "boot-check: $name: kernel after ${kernel} s"
		fi
		if [ -n "$kernel" ] && grep -qE 'systemd\[1\]|Welcome to .*Debian' "$log/$name"; then
			init=$((now - t0)); echo "boot-check: $name: systemd (init) after ${init} s"
			break
		fi
		kill -0 "$qpid" 2>/dev/null || break
		[ $((now - t0)) -ge "$limit" ] && break
		sleep 2
	done
	kill "$qpid" 2>/dev/null; wait "$qpid" 2>/dev/null; qpid=""
	if [ -z "$init" ]; then
		echo "boot-check: $name: no kernel and init on the serial console within ${limit} s; its tail:" >&2
		tail -n 30 "$log/$name" | tr -d '\r' >&2
		cat "$log/$name.err" >&2
		return 1
	fi
	grep -aE 'Linux version|systemd\[1\]|Welcome to' "$log/$name" | tr -d '\r' | head -n 4
}

rc=0
boot bios || rc=1
ovmf=/usr/share/OVMF/OVMF_CODE.fd
if [ -f "$ovmf" ]; then
	boot uefi -machine q35 -drive if=pflash,format=raw,readonly=on,file="$ovmf" || rc=1
else
	echo "boot-check: no OVMF ($ovmf): UEFI boot not checked"
fi
exit "$rc"

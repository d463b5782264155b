# Sourced by appliance/iso/update-check.sh (`make check-update`): QEMU
# (TCG, q35, OVMF, a TPM 2.0 from swtpm) with the serial console on a
# pipe pair, and waits on that console's log. The caller sets d (its
# work directory, holding tpm/, vars.fd and disk.img), ovmf and say(),
# and calls qemu_finish from its EXIT trap. install-check.sh (`make
# check-iso`) still has its own copies of these; moving it onto this
# file needs a `make check-iso` run to see it still passes.
# shellcheck shell=bash
: "${d:?qemu-lib.sh: d (the work directory) not set}" "${ovmf:?qemu-lib.sh: ovmf not set}"

qpid="" tpid="" cpid=""
T0=0
# stop PID...: kill and reap
stop() {
	local p
	for p in "$@"; do [ -n "$p" ] && kill "$p" 2>/dev/null; done
	for p in "$@"; do [ -n "$p" ] && wait "$p" 2>/dev/null; done
	return 0
}
# qemu_run NAME REBOOT QEMU-ARGS...: starts swtpm and QEMU with the
# serial console on a pipe pair (NAME.in; the console's log NAME.log).
# REBOOT no: QEMU exits when the guest reboots (-no-reboot); yes: the
# guest reboots in the same QEMU, its boots following each other in
# NAME.log (an update's apply, trial and commit reboot).
qemu_run() {
	local name="$1" reboot="$2" noreboot=-no-reboot
	shift 2
	[ "$reboot" = yes ] && noreboot=""
	mkfifo "$d/$name.in" "$d/$name.out"
	: > "$d/$name.log"
	cat "$d/$name.out" >> "$d/$name.log" &
	cpid=$!
	swtpm socket --tpm2 --tpmstate dir="$d/tpm" \
		--ctrl type=unixio,path="$d/swtpm.sock" --log file="$d/swtpm.log" &
	tpid=$!
	for _ in $(seq 1 50); do [ -S "$d/swtpm.sock" ] && break; sleep 0.1; done
	# (an empty $noreboot must not become an empty argument)
	# shellcheck disable=SC2086
	qemu-system-x86_64 -accel tcg -cpu max -smp 2 -m 2048 -machine q35 \
		-nographic $noreboot -monitor none -serial "pipe:$d/$name" \
		-drive if=pflash,format=raw,readonly=on,file="$ovmf" \
		-drive if=pflash,format=raw,file="$d/vars.fd" \
		-chardev socket,id=tpmc,path="$d/swtpm.sock" \
		-tpmdev emulator,id=tpm0,chardev=tpmc -device tpm-tis,tpmdev=tpm0 \
		-drive file="$d/disk.img",format=raw,if=virtio \
		-qmp "unix:$d/qmp.sock,server=on,wait=off" \
		"$@" > "$d/$name.qemu" 2>&1 &
	qpid=$!
	T0=$(date +%s)
}
# qemu_finish: QEMU gone (or killed), swtpm and the console reader
# reaped.
qemu_finish() {
	stop "$qpid"; qpid=""
	stop "$cpid" "$tpid"; cpid="" tpid=""
	rm -f "$d/swtpm.sock" "$d/qmp.sock" "$d"/*.in "$d"/*.out
}
# log_size NAME: the console log's size in bytes (an offset for since)
log_size() { stat -c %s "$d/$1.log"; }
# since NAME FROM: the console log from byte FROM on
since() { tail -c +"$(( $2 + 1 ))" "$d/$1.log"; }
# await NAME FROM LIMIT REGEX: 0 when the console log from byte FROM
# matches REGEX within LIMIT seconds of T0; 1 on timeout or QEMU's exit.
await() {
	while :; do
		since "$1" "$2" | grep -aqE "$4" && return 0
		kill -0 "$qpid" 2>/dev/null || { since "$1" "$2" | grep -aqE "$4"; return; }
		[ $(( $(date +%s) - T0 )) -ge "$3" ] && return 1
		sleep 3
	done
}
# first_match NAME FROM REGEX: the first line from byte FROM on that
# matches (carriage returns taken out)
first_match() { since "$1" "$2" | grep -aoE "$3" | tr -d '\r' | head -n 1; }
# offset_of NAME FROM REGEX: the byte offset of the first line from
# FROM on that matches, or nothing
offset_of() {
	local n
	n=$(since "$1" "$2" | grep -abE "$3" | head -n 1 | cut -d: -f1)
	[ -n "$n" ] && echo $(( $2 + n ))
}
# await_exit LIMIT: QEMU powered off by itself within LIMIT s of T0.
await_exit() {
	while kill -0 "$qpid" 2>/dev/null; do
		[ $(( $(date +%s) - T0 )) -ge "$1" ] && return 1
		sleep 3
	done
	wait "$qpid"; qpid=""
	return 0
}
# tail_of NAME [LINES]: the console's last lines (awk ends the last
# line, which the console may have left open)
tail_of() {
	say "$1: the console's tail:"
	tail -n "${2:-40}" "$d/$1.log" | tr -d '\r' | awk '{ print "  | " $0 }'
}
# powerdown NAME FROM: the ACPI power button through QMP once the boot
# from byte FROM on has started systemd-logind, which acts on it (a
# press before that is lost), then up to 120 s.
powerdown() {
	T0=$(date +%s)
	await "$1" "$2" 300 'Started.*systemd-logind' || say "$1: systemd-logind not started"
	printf '{"execute":"qmp_capabilities"}\n{"execute":"system_powerdown"}\n' |
		timeout 5 python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
s.sendall(sys.stdin.buffer.read()); s.recv(4096)' "$d/qmp.sock" >/dev/null 2>&1
	T0=$(date +%s)
	if await_exit 120; then
		say "powered off $(( $(date +%s) - T0 )) s after the power button"
	else
		say "no power-off in 120 s: killing QEMU"
	fi
}

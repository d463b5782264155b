#!/bin/bash
# The initramfs's bulwark-slot (appliance/iso/installer/initramfs-local-bottom;
# docs/install.md, "The A/B layout"), run as initramfs-tools runs a
# local-bottom script, in a chroot that stands in for the initramfs (a
# shell, and cat, mkdir, mount, umount, readlink and rmdir: busybox's,
# as the initramfs has them, where this host has busybox, otherwise
# this host's; a /scripts/functions whose
# panic records the refusal and the panic= it would act on), in a mount
# namespace, on a root file system (a tmpfs) mounted read-only on /root
# as the initramfs mounts it. It sees: with bulwark.slot=a, the file
# system moved to /run/bulwark-fs, slots/a bound onto /root and each
# state-dirs entry bound from state/, all writable (the script's
# remount; every bind inherits the mount's read-only flag), and
# /run/bulwark-fs unmounted and gone after the binds; the last
# bulwark.slot= counting; no bulwark.slot=, the root left as it is; and
# refusals, never with a shell (panic= 0, a halt, unless the command
# line gives one), for a slot other than a or b, an empty one, a slot
# that is not there or is a link, no state-dirs in the initramfs, a
# slot without a shared directory's mount point, a state/ directory
# that is a link, and a mount point with a link on its path (out of
# the slot). Then the local-top script bulwark-tpm2 (initramfs-local-top)
# in the same stand-in, its tools stubs: a trial boot the TPM does not
# unlock reboots instead of waiting at the recovery key's prompt.
. "$(dirname "$0")/lib.sh" || exit 99
S="$top_srcdir/appliance/iso/installer/initramfs-local-bottom"
L="$top_srcdir/appliance/iso/installer/state-dirs"
[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root (mounts)"; exit 77; }
for t in unshare chroot ldd; do
	command -v "$t" >/dev/null || { echo "SKIP: no $t"; exit 77; }
done
unshare -m true 2>/dev/null || { echo "SKIP: no mount namespace"; exit 77; }

# The stand-in initramfs: each program with the libraries ldd names.
C="$T/initramfs"
mkdir -p "$C/bin" "$C/scripts/local-bottom" "$C/usr/lib/bulwark" "$C/proc" "$C/root" "$C/run" "$C/dev"
add() {
	local p l
	p=$(command -v "$1") || return 1
	cp -L "$p" "$C/bin/$2"
	for l in $(ldd "$p" 2>/dev/null | grep -o '/[^ ]*'); do
		[ -e "$C$l" ] || { mkdir -p "$C$(dirname "$l")" && cp -L "$l" "$C$l"; }
	done
}
add dash sh || add bash sh || { echo "SKIP: no dash or bash"; exit 77; }
if command -v busybox >/dev/null; then
	add busybox busybox || { echo "SKIP: cannot copy busybox"; exit 77; }
	for t in cat mkdir mount umount readlink rmdir; do ln -s busybox "$C/bin/$t"; done
else
	for t in cat mkdir mount umount readlink rmdir; do
		add "$t" "$t" || { echo "SKIP: cannot copy $t"; exit 77; }
	done
fi
cat >"$C/scripts/functions" <<'FN'
panic() { echo "PANIC panic=${panic} $*"; exit 1; }
FN
install -m 0755 "$S" "$C/scripts/local-bottom/bulwark-slot"
install -m 0644 "$L" "$C/usr/lib/bulwark/state-dirs"
dirs=$(sed -e 's/#.*//' "$L" | xargs)

# boot CMDLINE [PANIC] [SETUP]: the script on a fresh root for CMDLINE
# (SETUP, a shell command, changes the root first, in $1); its output
# into $T/out, the namespace's mounts under the chroot (root-relative
# path, mount point, options) into $T/mounts, and what it could write
# into $T/writes.
boot() {
	printf '%s\n' "$1" >"$T/cmdline"
	unshare -m --propagation private bash -c '
		C=$1 T=$2 panic=$3 setup=$4 dirs=$5
		mount -t tmpfs -o mode=0755 tmpfs "$C/run"
		mount -t tmpfs -o mode=0700 tmpfs "$C/root"
		for s in a b; do for d in $dirs run dev proc; do mkdir -p "$C/root/slots/$s/$d"; done; done
		for d in $dirs update; do mkdir -p "$C/root/state/$d"; done
		echo shared >"$C/root/state/home/marker"
		[ -z "$setup" ] || (cd "$C/root" && eval "$setup")
		mount -o remount,ro "$C/root"
		mount -t proc proc "$C/proc" && mount --bind "$T/cmdline" "$C/proc/cmdline"
		mount --bind /dev "$C/dev"
		chroot "$C" /bin/sh -c "export rootmnt=/root panic=\"$panic\"; /scripts/local-bottom/bulwark-slot" >"$T/out" 2>&1
		echo "rc=$?" >>"$T/out"
		awk -v c="$C" "\$5 ~ \"^\" c \"/(root|run)\" { sub(c, \"\", \$5); print \$4, \$5, \$6 }" /proc/self/mountinfo >"$T/mounts"
		: >"$T/writes"
		for d in "" $dirs; do touch "$C/root/$d/.w" 2>/dev/null && echo "/$d" >>"$T/writes"; done
		cat "$C/root/home/marker" >>"$T/writes" 2>/dev/null
		exit 0
	' sh "$C" "$T" "${2:-}" "${3:-}" "$dirs"
}
mounted() { grep -qx "$1" "$T/mounts"; }
n=$(echo "$dirs" | wc -w)

boot "ro console=ttyS0 bulwark.slot=a"
check "slot a: the script says so ($(head -n 1 "$T/out"))" \
	grep -qx "bulwark-slot: the root is slot a, $n directories from state/ (/run/bulwark-fs unmounted)" "$T/out"
check "slot a: exit 0" grep -qx rc=0 "$T/out"
check "slot a: /run/bulwark-fs unmounted after the binds, and gone" \
	sh -c "! grep -q bulwark-fs '$T/mounts' && [ ! -e '$C/run/bulwark-fs' ]"
check "slot a: slots/a bound onto the root, writable" mounted "/slots/a /root rw,relatime"
for d in $dirs; do
	check "slot a: state/$d bound onto /$d, writable" mounted "/state/$d /root/$d rw,relatime"
done
check "slot a: every bind written to, /home the shared one" \
	sh -c "[ \$(grep -c '^/' '$T/writes') -eq $((n + 1)) ] && grep -qx shared '$T/writes'"

boot "ro bulwark.slot=b bulwark.slot=a"
check "the last bulwark.slot= counts" mounted "/slots/a /root rw,relatime"

boot "ro console=ttyS0"
check "no bulwark.slot=: exit 0, no output" sh -c "[ \"\$(cat '$T/out')\" = rc=0 ]"
check "no bulwark.slot=: the root left as it was (read-only, nothing moved)" \
	sh -c "mounted() { grep -qx \"\$1\" '$T/mounts'; }; mounted '/ /root ro,relatime' && ! grep -q bulwark-fs '$T/mounts'"

# refused WHAT CMDLINE PANIC WANT-PANIC REGEX [SETUP]
refused() {
	boot "$2" "$3" "${6:-}"
	check "$1: refused without a shell, panic=$4 ($(grep PANIC "$T/out"))" \
		grep -qE "^PANIC panic=$4 bulwark-slot: $5: not booting$" "$T/out"
}
refused "bulwark.slot=c" "ro bulwark.slot=c" "" 0 "bulwark.slot=c on the kernel command line: a or b"
refused "an empty bulwark.slot=" "ro bulwark.slot=" "" 0 "bulwark.slot= on the kernel command line: a or b"
refused "a trial's panic=30 kept" "ro bulwark.slot=c bulwark.trial=1 panic=30" 30 30 "bulwark.slot=c on the kernel command line: a or b"
refused "a slot that is not there" "ro bulwark.slot=b" "" 0 "the root file system has no directories slots/b and state/" "rm -r slots/b"
refused "a slot that is a link" "ro bulwark.slot=b" "" 0 "the root file system has no directories slots/b and state/" "rm -r slots/b && ln -s a slots/b"
refused "state/ a link" "ro bulwark.slot=a" "" 0 "the root file system has no directories slots/a and state/" "mv state state2 && ln -s state2 state"
refused "a slot without /home" "ro bulwark.slot=b" "" 0 "slot b has no directory /home to bind state/home onto \\(or a link on its path\\)" "rmdir slots/b/home"
refused "no state/root" "ro bulwark.slot=a" "" 0 "no directory state/root \\(or a link on its path\\)" "rm -r state/root"
refused "state/var a link (state/var/lib/private is a directory through it)" "ro bulwark.slot=a" "" 0 \
	"no directory state/var/lib/private \\(or a link on its path\\)" "mv state/var state/var2 && ln -s var2 state/var"
# slots/b/var a link into state/: /var/lib/private is a directory, and
# no link itself, but the bind would land outside the slot.
refused "a mount point through a link out of the slot" "ro bulwark.slot=b" "" 0 \
	"slot b has no directory /var/lib/private to bind state/var/lib/private onto \\(or a link on its path\\)" \
	"rm -r slots/b/var && ln -s /run/bulwark-fs/state/var slots/b/var"
mv "$C/usr/lib/bulwark/state-dirs" "$C/usr/lib/bulwark/state-dirs.off"
refused "no state-dirs in the initramfs" "ro bulwark.slot=a" "" 0 "no /usr/lib/bulwark/state-dirs in the initramfs"
mv "$C/usr/lib/bulwark/state-dirs.off" "$C/usr/lib/bulwark/state-dirs"

# The local-top script bulwark-tpm2 (initramfs-local-top) in the same
# stand-in: cryptsetup, modprobe, sleep and reboot are stubs (cryptsetup
# unlocks while /unlock exists; reboot says so); a trial boot
# (bulwark.trial=1) that the TPM does not unlock reboots instead of
# leaving cryptroot at the recovery key's prompt, and says so as
# bulwark-update's trial step.
mkdir -p "$C/scripts/local-top"
install -m 0755 "$top_srcdir/appliance/iso/installer/initramfs-local-top" "$C/scripts/local-top/bulwark-tpm2"
for t in tr sed; do
	if [ -e "$C/bin/busybox" ]; then ln -sf busybox "$C/bin/$t"; else add "$t" "$t" || { fail "cannot copy $t"; finish; }; fi
done
printf '#!/bin/sh\necho "cryptsetup $*"\n[ -e /unlock ]\n' >"$C/bin/cryptsetup"
printf '#!/bin/sh\necho "REBOOT $*"\n' >"$C/bin/reboot"
printf '#!/bin/sh\nexit 0\n' >"$C/bin/modprobe"
cp "$C/bin/modprobe" "$C/bin/sleep"
chmod 0755 "$C/bin/cryptsetup" "$C/bin/reboot" "$C/bin/modprobe" "$C/bin/sleep"
# unlock CMDLINE yes|no: bulwark-tpm2 for CMDLINE, the TPM unlocking or
# not; its output into $T/tpm.
unlock() {
	printf '%s\n' "$1" >"$T/cmdline"
	rm -f "$C/unlock"
	[ "$2" = no ] || : >"$C/unlock"
	unshare -m --propagation private bash -c '
		C=$1 T=$2
		mount -t proc proc "$C/proc" && mount --bind "$T/cmdline" "$C/proc/cmdline"
		mount --bind /dev "$C/dev"
		chroot "$C" /bin/sh -c /scripts/local-top/bulwark-tpm2 >"$T/tpm" 2>&1
		echo "rc=$?" >>"$T/tpm"
	' sh "$C" "$T"
}
CO="cryptopts=target=root,source=/dev/null,luks"
unlock "ro $CO bulwark.slot=a" yes
check "local-top: a normal boot unlocked by the TPM ($(tr '\n' ';' <"$T/tpm"))" \
	sh -c "grep -qx 'cryptsetup open --token-only /dev/null root' '$T/tpm' && grep -qx 'bulwark-tpm2: root unlocked by the TPM' '$T/tpm' && ! grep -q 'trial\|REBOOT' '$T/tpm'"
unlock "ro $CO bulwark.slot=a" no
check "local-top: a normal boot the TPM refuses goes on to the recovery key, no reboot ($(tr '\n' ';' <"$T/tpm"))" \
	sh -c "grep -q 'the recovery key is needed' '$T/tpm' && ! grep -q REBOOT '$T/tpm' && grep -qx rc=0 '$T/tpm'"
unlock "ro $CO bulwark.slot=b bulwark.trial=1 panic=30" yes
check "local-top: a trial unlocked by the TPM says so as the trial step ($(tr '\n' ';' <"$T/tpm"))" \
	sh -c "grep -qx 'bulwark-update: trial: slot b: root unlocked by the TPM' '$T/tpm' && ! grep -q REBOOT '$T/tpm'"
unlock "ro $CO bulwark.slot=b bulwark.trial=1 panic=30" no
check "local-top: a trial the TPM refuses reboots, never waiting at the prompt ($(tr '\n' ';' <"$T/tpm"))" \
	sh -c "grep -qx 'bulwark-update: trial: slot b: the TPM did not unlock root (no provisional token?): rebooting into the committed slot' '$T/tpm' && grep -qx 'REBOOT -f' '$T/tpm' && ! grep -q 'recovery key' '$T/tpm'"
finish

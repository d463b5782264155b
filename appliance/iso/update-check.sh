#!/bin/bash
# make check-update (docs/install.md, "Offline updates", stage 5; issue
# 17, Done 6): installs bulwark-VERSION.iso unattended under QEMU (TCG,
# q35, OVMF, swtpm, as make check-iso does) and runs its first boot;
# builds two bundles signed with the ISO's release key from a later
# commit (a temporary clone of BW_SRC's HEAD with an empty commit on
# top: `make update-bundle` there) and a third commit (the same root
# with bulwarkd made to fail: a drop-in in the bundle's root); then
# plays the administrator who applies them: with the VM stopped, it
# opens the LUKS root on the host with the recovery key the
# installation wrote to the answers medium and drops a test unit into
# the running slot's root which, at the next normal boot, reports
# bulwarkd's health, the local node's attestation and `bulwark-update
# --json status` and runs `bulwark-update apply BUNDLE --reboot` on a
# second virtual disk holding the bundle (the appliance has no shell;
# admitting an update medium through the console or the API is stage
# 6). On the serial console it then sees: the apply, the trial boot of
# slot b (bulwark.slot=b bulwark.trial=1), the health check passing,
# the commit, the next boot of b unlocked by the TPM, the re-seal;
# after a power-off, a boot of b unlocked by the TPM with no recovery
# prompt, bulwarkd healthy, the node Trusted and the status running b,
# committed b; then the failing bundle into slot a: its trial, the
# health check failing, the boot back into b unlocked by the TPM and
# the rollback recorded.
#
# Usage: update-check.sh ISO RELEASE-KEY (the ISO's private key: the
# bundles must be signed with it); BW_SRC, the source tree whose HEAD
# the later commits follow (the ISO should be built from that HEAD).
# Bounded: BW_INSTALL_TIMEOUT, BW_BOOT_TIMEOUT (each boot's phase),
# BW_BUNDLE_TIMEOUT (both bundles' build, which runs while the ISO
# installs). BW_UPDATE_HEALTH_TIMEOUT (default 300) is the installer's
# answer update_health_timeout (the health check's bound, written to
# /etc/bulwark/update.conf, which apply carries into the new slot), so
# the failing trial rolls back in bounded time. BW_CHECK_KEEP=1 keeps
# the work directory (disk, logs,
# bundles). Every QEMU, swtpm, loop device, mapping and mount it makes
# is removed at exit.
set -u
iso="${1:?usage: update-check.sh ISO RELEASE-KEY}"
key="${2:?usage: update-check.sh ISO RELEASE-KEY}"
src="${BW_SRC:?BW_SRC: the source tree}"
install_limit="${BW_INSTALL_TIMEOUT:-2400}"
boot_limit="${BW_BOOT_TIMEOUT:-1500}"
bundle_limit="${BW_BUNDLE_TIMEOUT:-3600}"
health_limit="${BW_UPDATE_HEALTH_TIMEOUT:-300}"
[[ "$health_limit" =~ ^[1-9][0-9]{0,5}$ ]] || { echo "check-update: BW_UPDATE_HEALTH_TIMEOUT: seconds, 1..999999" >&2; exit 1; }
ovmf=/usr/share/OVMF/OVMF_CODE.fd vars=/usr/share/OVMF/OVMF_VARS.fd
say() { printf 'check-update: %s\n' "$*"; }
[ -f "$iso" ] || { say "no $iso (make iso first)" >&2; exit 1; }
[ -f "$key" ] || { say "no release key $key (the one that signed $iso)" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { say "must run as root (make iso, losetup, cryptsetup)" >&2; exit 1; }
for t in qemu-system-x86_64 swtpm mformat mcopy mtype openssl jq git cryptsetup losetup \
	blkid partx debugfs e2fsck mke2fs unsquashfs mksquashfs python3; do
	command -v "$t" >/dev/null || { say "needs $t" >&2; exit 1; }
done
[ -f "$ovmf" ] || { say "needs OVMF ($ovmf)" >&2; exit 1; }

if [ -n "${BW_CHECK_FROM:-}" ]; then
	d=$(cd "$BW_CHECK_FROM" && pwd) || exit 1
	BW_CHECK_KEEP=1
else
	d=$(mktemp -d /tmp/bw-check-update.XXXXXX)
fi
# shellcheck source=appliance/iso/qemu-lib.sh
. "$(dirname "$0")/qemu-lib.sh"
bpid="" loopdev=""
# close_root: what open_root made: the loop device detached, the volume
# key and the plain image removed
close_root() {
	[ -n "$loopdev" ] && { losetup -d "$loopdev" && loopdev=""; }
	rm -f "$d/volume.key" "$d/root.plain" "$d/root.sums"
	return 0
}
cleanup() {
	qemu_finish
	[ -n "$bpid" ] && { kill -- -"$bpid" 2>/dev/null; wait "$bpid" 2>/dev/null; }
	close_root
	if [ "${BW_CHECK_KEEP:-0}" = 1 ]; then say "kept $d"; else rm -rf "$d"; fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM
rc=0
fail() { say "FAIL: $*"; rc=1; }
pass() { say "ok: $*"; }
# stop_here WHAT: a step this run cannot go past
stop_here() {
	fail "$*"
	say "stopped there; logs in $d (kept)"
	BW_CHECK_KEEP=1
	say "FAIL"
	exit 1
}
t_start=$(date +%s)

if [ -z "${BW_CHECK_FROM:-}" ]; then
	# 1. The bundles, built while the ISO installs (in their own process
	# group, so that cleanup can stop a build half-way): a clone of BW_SRC's
	# HEAD with an empty commit, whose `make update-bundle` (make iso there)
	# gives the good bundle; then a second empty commit and the same root
	# with bulwarkd's unit made to fail (ExecStartPre=/bin/false), packed
	# with `make update-bundle
	# BW_BUNDLE_FROM=` (a correctly signed bundle of a later release whose
	# new system is not healthy).
	build_bundles() {
		set -e
		local later="$d/later" base e1 c1 c2 live="$d/later/build/iso-work/iso/live"
		local gitc=(git -C "$later" -c user.name=check-update -c user.email=check-update@localhost)
		git clone -q --no-checkout "$src" "$later"
		git -C "$later" checkout -q --detach "$(git -C "$src" rev-parse HEAD)"
		# the empty commit's time is its release's epoch: later than HEAD's
		base=$(git -C "$src" log -1 --format=%ct)
		e1=$(date +%s)
		[ "$e1" -gt "$base" ] || e1=$((base + 1))
		GIT_AUTHOR_DATE="@$e1 +0000" GIT_COMMITTER_DATE="@$e1 +0000" \
			"${gitc[@]}" commit -q --allow-empty -m "check-update: a later commit (empty)"
		c1=$(git -C "$later" rev-parse HEAD)
		echo "later commit $c1 epoch $e1"
		(cd "$later" && autoreconf -fi >/dev/null 2>&1 && mkdir -p build && cd build &&
			../configure -q && BULWARK_RELEASE_KEY="$key" nice make -s update-bundle)
		mv "$later/build/bulwark-update-"*"-${c1:0:12}.tar" "$d/good.tar"
		echo "good bundle: $(stat -c %s "$d/good.tar") bytes"
		GIT_AUTHOR_DATE="@$((e1 + 60)) +0000" GIT_COMMITTER_DATE="@$((e1 + 60)) +0000" \
			"${gitc[@]}" commit -q --allow-empty -m "check-update: a failing release (empty)"
		c2=$(git -C "$later" rev-parse HEAD)
		unsquashfs -q -n -d "$d/fail-root" "$live/filesystem.squashfs" >/dev/null
		mkdir -p "$d/fail-root/etc/systemd/system/bulwarkd.service.d"
		printf '# make check-update: this release fails its health check\n[Service]\nExecStartPre=/bin/false\n' \
			> "$d/fail-root/etc/systemd/system/bulwarkd.service.d/check-update-fail.conf"
		printf 'version %s\ncommit %s\nepoch %s\n' \
			"$(sed -n 's/^version //p' "$d/fail-root/usr/share/bulwark/release")" "$c2" "$((e1 + 60))" \
			> "$d/fail-root/usr/share/bulwark/release"
		mkdir -p "$d/fail-live"
		env -u SOURCE_DATE_EPOCH nice mksquashfs "$d/fail-root" "$d/fail-live/filesystem.squashfs" \
			-noappend -quiet -no-progress -comp zstd >/dev/null
		rm -rf "$d/fail-root"
		cp "$live/vmlinuz" "$live/initrd.img" "$d/fail-live/"
		(cd "$later/build" && BULWARK_RELEASE_KEY="$key" make -s update-bundle BW_BUNDLE_FROM="$d/fail-live")
		mv "$later/build/bulwark-update-"*"-${c2:0:12}.tar" "$d/fail.tar"
		rm -rf "$d/fail-live"
		echo "failing commit $c2 epoch $((e1 + 60))"
		echo "failing bundle: $(stat -c %s "$d/fail.tar") bytes"
	}
	# (setsid: its own process group, which cleanup kills whole)
	setsid bash -c "$(declare -f build_bundles); d='$d' src='$src' key='$key'; build_bundles" \
		> "$d/bundle.log" 2>&1 &
	bpid=$!
	say "building the bundles in $d/later (log $d/bundle.log)"

	# 2. The unattended installation and the first boot (as make check-iso).
	mkdir -p "$d/tpm"
	cp "$vars" "$d/vars.fd"
	truncate -s 8G "$d/disk.img"
	mformat -C -f 1440 -v BWANSWERS -i "$d/answers.img" ::
	cat > "$d/answers" <<-ANS
	# make check-update's answer file
	disk=/dev/vda
	hostname=bwupdate
	admin_user=bwadmin
	credentials_output=answers
	recovery_key_output=answers
	first_boot_lynis=no
	update_health_timeout=$health_limit
	finish=poweroff
	ANS
	mcopy -i "$d/answers.img" "$d/answers" ::/answers
	qemu_run install no -cdrom "$iso" -drive file="$d/answers.img",format=raw,if=virtio
	if await_exit "$install_limit" && grep -aq 'bulwark-install: installed in' "$d/install.log"; then
		pass "installed and powered off after $(( $(date +%s) - T0 )) s (wall, from QEMU's start)"
	else
		tail_of install 40; stop_here "no installation within $install_limit s"
	fi
	qemu_finish
	qemu_run firstboot no -drive file="$d/answers.img",format=raw,if=virtio
	if await firstboot 0 "$boot_limit" 'bulwark-firstboot: done|Please unlock disk' &&
		grep -aq 'bulwark-firstboot: done' "$d/firstboot.log"; then
		pass "first boot finished after $(( $(date +%s) - T0 )) s (wall, from QEMU's start)"
	else
		tail_of firstboot 40; stop_here "first boot did not finish within $boot_limit s"
	fi
	grep -aE 'bulwark-firstboot: (bulwarkd healthy|node .*: Trusted|update status)' "$d/firstboot.log" |
		tr -d '\r' | sed 's/^/  | /'
	powerdown firstboot 0
	qemu_finish
	say "install and first boot: $(( $(date +%s) - t_start )) s"

	# 3. The bundles.
	T0=$(date +%s)
	while kill -0 "$bpid" 2>/dev/null && [ $(( $(date +%s) - T0 )) -lt "$bundle_limit" ]; do sleep 5; done
	if kill -0 "$bpid" 2>/dev/null; then
		stop_here "the bundles not built within $bundle_limit s (since the first boot's end; $d/bundle.log)"
	fi
	wait "$bpid"; brc=$?; bpid=""
	sed 's/^/  | /' "$d/bundle.log" | grep -avE '^  \| +(CC|CCLD|GEN|AR) ' | tail -n 30
	[ "$brc" = 0 ] && [ -f "$d/good.tar" ] && [ -f "$d/fail.tar" ] ||
		stop_here "building the bundles failed (exit $brc; $d/bundle.log)"
	pass "the bundles built ($(( $(date +%s) - t_start )) s after the check's start)"
	# mk_medium NAME TAR: an ext4 image labelled BWUPDATE holding TAR as
	# bundle.tar (the update medium, a second virtio disk)
	mk_medium() {
		local size
		mkdir -p "$d/$1.dir"
		mv "$2" "$d/$1.dir/bundle.tar"
		size=$(( $(stat -c %s "$d/$1.dir/bundle.tar") / 1048576 + 128 ))
		mke2fs -q -t ext4 -L BWUPDATE -d "$d/$1.dir" "$d/$1.img" "${size}M" &&
			rm -rf "$d/$1.dir"
	}
	mk_medium good "$d/good.tar" || stop_here "cannot make the good bundle's medium"
	mk_medium fail "$d/fail.tar" || stop_here "cannot make the failing bundle's medium"
else
	# BW_CHECK_FROM=DIR: a work directory an earlier run kept right after
	# its media were made (installed, first boot done, nothing injected)
	for f in disk.img vars.fd answers.img good.img fail.img bundle.log; do
		[ -f "$d/$f" ] || { say "BW_CHECK_FROM: no $d/$f" >&2; exit 1; }
	done
	say "starting from $d (installed, first boot done, bundles built)"
fi
recovery=$(mtype -i "$d/answers.img" ::/recovery-key 2>/dev/null)
c1=$(sed -n 's/^later commit \([0-9a-f]*\) .*/\1/p' "$d/bundle.log")
c2=$(sed -n 's/^failing commit \([0-9a-f]*\) .*/\1/p' "$d/bundle.log")
[ -n "$recovery" ] || stop_here "no recovery-key on the answers medium"

# 4. The test unit, dropped into a slot's root with the VM stopped: the
# LUKS root (the GPT's partition named root, LUKS label bwroot) opened
# on the host with the recovery key. The test hosts have no
# device-mapper (no cryptsetup open, no dm-crypt), so: the volume key
# from the header (cryptsetup luksDump --dump-volume-key, the recovery
# key as the passphrase), the data segment decrypted into a plain
# image (luks-xts.py), the files written into it with debugfs, and the
# chunks that changed encrypted back. At every normal boot of that
# slot the unit reports; with /etc/bw-check-update.apply present, it
# removes that file and applies the medium once.
luks_start="" luks_off="" luks_len=""
open_root() {
	local start sectors label dump
	read -r start sectors < <(partx -g -o START,SECTORS,NAME "$d/disk.img" | awk '$3 == "root" { print $1, $2 }')
	[ -n "${sectors:-}" ] || { say "no partition named root in the disk's GPT"; return 1; }
	loopdev=$(losetup --show -f -r -o $((start * 512)) --sizelimit $((sectors * 512)) "$d/disk.img") || return 1
	label=$(blkid -o value -s LABEL "$loopdev")
	[ "$label" = bwroot ] || { say "the root partition's LUKS label is ${label:-none}, not bwroot"; return 1; }
	dump=$(cryptsetup luksDump "$loopdev")
	grep -q 'cipher: *aes-xts-plain64' <<<"$dump" && grep -q 'sector: *512 \[bytes\]' <<<"$dump" ||
		{ say "the root's data segment is not aes-xts-plain64 with 512-byte sectors"; return 1; }
	luks_off=$(sed -n 's/^\s*offset: *\([0-9]*\) \[bytes\]/\1/p' <<<"$dump" | head -n 1)
	luks_start=$(( start * 512 + luks_off ))
	luks_len=$(( sectors * 512 - luks_off ))
	(umask 077 && printf '%s' "$recovery" | cryptsetup luksDump -q --dump-volume-key \
		--volume-key-file "$d/volume.key" --key-file=- "$loopdev" >/dev/null) ||
		{ say "the recovery key did not open the root's header"; return 1; }
	losetup -d "$loopdev"; loopdev=""
	(umask 077 && python3 "$(dirname "$0")/luks-xts.py" decrypt "$d/disk.img" "$luks_start" "$luks_len" \
		"$d/volume.key" "$d/root.plain" "$d/root.sums") || return 1
	[ "$(od -An -tx2 -j 1080 -N 2 "$d/root.plain" | tr -d ' ')" = ef53 ] ||
		{ say "the decrypted root is not ext4"; return 1; }
}
# inject SLOT APPLY: the test unit into slots/SLOT; APPLY yes or no
inject() {
	local r="/slots/$1" t0
	t0=$(date +%s)
	open_root || { close_root; return 1; }
	rm -rf "$d/inject"; mkdir -p "$d/inject"
	# a file system left by a VM that did not power off is checked and
	# repaired before anything is read from it (its journal replayed, as
	# a mount would: debugfs does not, so it may not even find the slot's
	# /etc/systemd/system, and the kernel would replay the journal over
	# what debugfs wrote; orphans and counts fixed, or the check after
	# the edit fails)
	e2fsck -fy "$d/root.plain" > "$d/inject/e2fsck-before.log" 2>&1
	[ $? -le 1 ] || { say "the root's file system needs more than e2fsck -fy ($d/inject/e2fsck-before.log)"; close_root; return 1; }
	debugfs -R "stat $r/etc/systemd/system" "$d/root.plain" 2>/dev/null | grep -q 'Type: directory' ||
		{ say "no slots/$1 root"; close_root; return 1; }
	r="$d/inject"
	cat > "$r/bw-check-update" <<'VM'
#!/bin/bash
# make check-update's test unit (not part of the appliance): reports on
# the console, and applies the update medium once when asked to.
say() { printf 'check-update-vm: %s\n' "$*"; }
say "boot: $(grep -oE 'bulwark\.[a-z]+=[^ ]*' /proc/cmdline | xargs)"
# Each wait bounded by the clock (180 s), not by a count of tries that
# may each hang for their timeout.
t0=$(date +%s) r="" ok=""
while [ $(( $(date +%s) - t0 )) -lt 180 ]; do
	r=$(printf 'GET /healthz HTTP/1.0\r\nHost: localhost\r\n\r\n' |
		timeout 10 openssl s_client -quiet -connect 127.0.0.1:8443 2>/dev/null | tr -d '\r')
	if printf '%s' "$r" | head -n 1 | grep -q ' 200'; then ok=1; break; fi
	sleep 2
done
if [ -n "$ok" ]; then
	say "bulwarkd healthy ($(( $(date +%s) - t0 )) s)"
else
	say "bulwarkd not healthy after 180 s: bulwarkd $(systemctl is-active bulwarkd.service), /healthz: $(printf '%s' "$r" | head -n 1)"
	# what to look at: the listeners, bulwarkd's own lines of this boot
	ss -ltnp 2>&1 | sed 's/^/check-update-vm: diag: ss| /'
	journalctl -b -u bulwarkd.service -n 40 --no-pager 2>&1 | sed 's/^/check-update-vm: diag: bulwarkd| /'
fi
t0=$(date +%s) att="" host=""
while [ $(( $(date +%s) - t0 )) -lt 180 ]; do
	st=$(timeout 20 bulwark --config /var/lib/bulwark/admin.conf get nodes -o json 2>/dev/null)
	host=$(jq -r '[.items[] | select(.metadata.labels["bulwark.io/mode"] == "all-in-one")][0].metadata.name // empty' <<<"$st" 2>/dev/null)
	att=$(jq -r '[.items[] | select(.metadata.labels["bulwark.io/mode"] == "all-in-one")][0].status.attestation // empty' <<<"$st" 2>/dev/null)
	[ "$att" = Trusted ] && break
	sleep 2
done
if [ "$att" = Trusted ]; then say "node $host: Trusted"; else say "node ${host:-?}: ${att:-no answer} after 180 s"; fi
say "update status: $(timeout 120 bulwark-update --json status 2>&1 | tail -n 1)"
# the updater's journal, state/update/journal of the LUKS root's file
# system, which no path of the booted slot shows: that file system
# mounted in a mount namespace of this command's own, as bulwark-update
# does
dev=$(findmnt -n --nofsroot -o SOURCE --mountpoint /)
unshare --mount --propagation private -- sh -c 'mkdir -p /run/bw-check-update-fs &&
	mount -t ext4 -o nosuid,nodev,noexec "$1" /run/bw-check-update-fs &&
	tail -n 12 /run/bw-check-update-fs/state/update/journal' sh "$dev" 2>&1 |
	sed 's/^/check-update-vm: journal: /'
[ -f /etc/bw-check-update.apply ] || exit 0
args=$(cat /etc/bw-check-update.apply)
rm -f /etc/bw-check-update.apply
sync
mkdir -p /run/bw-check-update
for _ in $(seq 1 30); do [ -e /dev/disk/by-label/BWUPDATE ] && break; sleep 1; done
mount -o ro,nosuid,nodev,noexec /dev/disk/by-label/BWUPDATE /run/bw-check-update ||
	{ say "apply: cannot mount the update medium"; exit 1; }
say "apply: bulwark-update apply /run/bw-check-update/bundle.tar $args"
# shellcheck disable=SC2086
bulwark-update apply /run/bw-check-update/bundle.tar $args 2>&1 | sed 's/^/check-update-vm: apply| /'
rc=${PIPESTATUS[0]}
say "apply exit $rc"
VM
	cat > "$r/bw-check-update.service" <<'UNIT'
[Unit]
Description=make check-update's test unit (reports, applies the update medium)
Wants=bulwarkd.service
After=bulwarkd.service bulwark-agent.service bulwark-firstboot.service
ConditionKernelCommandLine=!bulwark.trial=1

[Service]
Type=oneshot
ExecStart=/bin/bash /usr/local/sbin/bw-check-update
StandardOutput=journal+console
StandardError=journal+console
TimeoutStartSec=3600

[Install]
WantedBy=multi-user.target
UNIT
	chmod 0755 "$r/bw-check-update"; chmod 0644 "$r/bw-check-update.service"
	if [ "$2" = yes ]; then
		echo --reboot > "$r/apply"
	fi
	r="/slots/$1"
	# (debugfs's mkdir of a directory that is there leaks the inode it
	# allocated, which e2fsck then finds unconnected: only missing ones)
	{
		debugfs -R "stat $r/usr/local/sbin" "$d/root.plain" 2>/dev/null | grep -q 'Type: directory' ||
			echo "mkdir $r/usr/local/sbin"
		echo "rm $r/usr/local/sbin/bw-check-update"
		echo "write $d/inject/bw-check-update $r/usr/local/sbin/bw-check-update"
		echo "rm $r/etc/systemd/system/bw-check-update.service"
		echo "write $d/inject/bw-check-update.service $r/etc/systemd/system/bw-check-update.service"
		debugfs -R "stat $r/etc/systemd/system/multi-user.target.wants" "$d/root.plain" 2>/dev/null |
			grep -q 'Type: directory' || echo "mkdir $r/etc/systemd/system/multi-user.target.wants"
		echo "rm $r/etc/systemd/system/multi-user.target.wants/bw-check-update.service"
		echo "symlink $r/etc/systemd/system/multi-user.target.wants/bw-check-update.service ../bw-check-update.service"
		echo "rm $r/etc/bw-check-update.apply"
		[ "$2" = yes ] && echo "write $d/inject/apply $r/etc/bw-check-update.apply"
	} > "$d/inject/debugfs.cmds"
	debugfs -w -f "$d/inject/debugfs.cmds" "$d/root.plain" > "$d/inject/debugfs.log" 2>&1
	if ! debugfs -R "cat $r/etc/systemd/system/bw-check-update.service" "$d/root.plain" 2>/dev/null | grep -q 'ExecStart=' ||
		! debugfs -R "stat $r/etc/systemd/system/multi-user.target.wants/bw-check-update.service" "$d/root.plain" 2>/dev/null | grep -q 'Type: symlink'; then
		say "debugfs did not write the unit (its log: $d/inject/debugfs.log)"; close_root; return 1
	fi
	e2fsck -fn "$d/root.plain" > "$d/inject/e2fsck.log" 2>&1 ||
		{ say "the edited root fails e2fsck -fn ($d/inject/e2fsck.log)"; close_root; return 1; }
	python3 "$(dirname "$0")/luks-xts.py" writeback "$d/disk.img" "$luks_start" "$luks_len" \
		"$d/volume.key" "$d/root.plain" "$d/root.sums" || { close_root; return 1; }
	close_root
	say "the test unit written into slots/$1 in $(( $(date +%s) - t0 )) s"
}
inject a yes || stop_here "cannot put the test unit into slots/a (the LUKS root opened with the recovery key)"
pass "the test unit in slots/a, to apply the later commit's bundle ($c1) at the next boot"

# boot_check NAME FROM SLOT: the boot from FROM on is SLOT's normal one
# and the TPM unlocked the root (no recovery prompt); sets at (the
# offset of its kernel command line)
boot_check() {
	local what="$1: boot of slot $3 from byte $2"
	at=$(offset_of "$1" "$2" 'Command line: .*bulwark\.slot=') || at=""
	[ -n "$at" ] || { fail "$what: no kernel command line"; return 1; }
	case "$(first_match "$1" "$at" 'Command line: .*')" in
	*" bulwark.slot=$3 panic=0"*) ;;
	*) fail "$what: not slot $3's normal entry: $(first_match "$1" "$at" 'Command line: .*')"; return 1 ;;
	esac
	if ! await "$1" "$at" "$boot_limit" 'bulwark-tpm2: (root unlocked|the TPM did not)|Please unlock disk'; then
		fail "$what: no unlock within $boot_limit s"; return 1
	fi
	if since "$1" "$at" | grep -aq 'bulwark-tpm2: root unlocked by the TPM' &&
		! since "$1" "$at" | grep -aq 'Please unlock disk'; then
		pass "$what: its normal entry, the root unlocked by the TPM (no recovery prompt)"
	else
		fail "$what: not unlocked by the TPM: $(first_match "$1" "$at" 'bulwark-tpm2: [^[:cntrl:]]*|Please unlock disk[^[:cntrl:]]*')"
		return 1
	fi
}
# report_check NAME FROM SLOT: the test unit's report in that boot:
# bulwarkd healthy, the node Trusted, status running SLOT, committed SLOT
report_check() {
	local st
	T0=$(date +%s)
	if ! await "$1" "$2" "$boot_limit" 'check-update-vm: update status: '; then
		fail "$1: no report from the test unit within $boot_limit s"; return 1
	fi
	since "$1" "$2" | grep -aE 'check-update-vm: ' | tr -d '\r' | sed 's/^/  | /'
	since "$1" "$2" | grep -aq 'check-update-vm: bulwarkd healthy' && pass "$1: bulwarkd healthy" ||
		fail "$1: bulwarkd not healthy"
	since "$1" "$2" | grep -aqE 'check-update-vm: node [^ ]+: Trusted' && pass "$1: the node Trusted" ||
		fail "$1: $(first_match "$1" "$2" 'check-update-vm: node .*')"
	st=$(first_match "$1" "$2" 'check-update-vm: update status: .*')
	st=${st#check-update-vm: update status: }
	if jq -e --arg s "$3" --arg c "$4" '.ok == true and .running == $s and .committed == $s and
		.trial_pending == "" and .on_trial == false and .slots[$s].commit == $c' <<<"$st" >/dev/null 2>&1; then
		pass "$1: bulwark-update status: running $3, committed $3, no trial, slot $3 holds commit ${4:0:12}"
	else
		fail "$1: bulwark-update status: want running and committed $3 holding ${4:0:12}; got: ${st:-no line}"
	fi
}
# apply_check NAME FROM SLOT: the test unit's apply from FROM on, and
# the reboot into SLOT's trial entry; sets at (the trial's command line)
apply_check() {
	local from
	T0=$(date +%s)
	if ! await "$1" "$2" "$boot_limit" 'check-update-vm: apply: '; then
		fail "$1: the test unit did not start the apply within $boot_limit s"; return 1
	fi
	from=$(offset_of "$1" "$2" 'check-update-vm: apply: ')
	t_apply=$(date +%s)
	T0=$t_apply
	if ! await "$1" "$from" "$boot_limit" 'check-update-vm: apply exit|Command line: .*bulwark\.slot='; then
		fail "$1: the apply neither ended nor rebooted within $boot_limit s"
		since "$1" "$from" | grep -aE 'check-update-vm: apply|bulwark-update: ' | tr -d '\r' | sed 's/^/  | /'
		return 1
	fi
	since "$1" "$from" | grep -aE 'check-update-vm: apply|bulwark-update: (apply|provisional)' | tr -d '\r' | sed 's/^/  | /'
	case "$(first_match "$1" "$from" 'check-update-vm: apply exit [0-9]+')" in
	*" exit 0"|"") ;;
	*) fail "$1: bulwark-update apply refused (above; apply --reboot with the provisional TPM token is branch upd9's, stage 5)"; return 1 ;;
	esac
	since "$1" "$from" | grep -aq 'bulwark-update: apply: slot' && pass "$1: bulwark-update: apply" ||
		fail "$1: no 'bulwark-update: apply: slot' line"
	since "$1" "$from" | grep -aq 'bulwark-update: provisional: token' &&
		pass "$1: the provisional PCR 7 token enrolled: $(first_match "$1" "$from" 'bulwark-update: provisional: [^[:cntrl:]]*')" ||
		fail "$1: no 'bulwark-update: provisional: token' line: $(first_match "$1" "$from" 'bulwark-update: provisional: [^[:cntrl:]]*')"
	if ! await "$1" "$from" "$boot_limit" 'Command line: .*bulwark\.slot='; then
		fail "$1: no reboot after the apply within $boot_limit s"; return 1
	fi
	at=$(offset_of "$1" "$from" 'Command line: .*bulwark\.slot=')
	case "$(first_match "$1" "$at" 'Command line: .*')" in
	*" bulwark.slot=$3 bulwark.trial=1 panic=30"*)
		pass "$1: applied and rebooted into slot $3's trial entry in $(( $(date +%s) - t_apply )) s (bulwark.slot=$3 bulwark.trial=1)"
		say "apply time: $(( $(date +%s) - t_apply )) s (the apply's start to the trial's kernel)" ;;
	*) fail "$1: the reboot after the apply is not slot $3's trial: $(first_match "$1" "$at" 'Command line: .*')"; return 1 ;;
	esac
	t_trial=$(date +%s)
}
# past NAME AT: the offset just after the line that starts at AT
past() { echo $(( $2 + $(since "$1" "$2" | head -n 1 | wc -c) )); }
# trial_until NAME FROM WANT WHAT: the trial whose kernel command line
# starts at FROM unlocks (the provisional token; no recovery prompt),
# its health unit starts, and before its reboot the console shows WANT
# (a regex: WHAT); sets at (the next boot's command line)
trial_until() {
	local p
	T0=$(date +%s)
	if ! await "$1" "$2" "$boot_limit" 'bulwark-update: trial: slot .: (root|the TPM did not)|Please unlock disk'; then
		fail "$1: the trial: no unlock within $boot_limit s"; return 1
	fi
	if since "$1" "$2" | grep -aqE 'Please unlock disk|bulwark-update: trial: slot .: the TPM did not'; then
		fail "$1: the trial was not unlocked by the provisional token (initramfs-local-top's bulwark-tpm2)"
		since "$1" "$2" | grep -aE 'bulwark-tpm2:|bulwark-update: trial|Please unlock' | tr -d '\r' | sed 's/^/  | /'
		return 1
	fi
	pass "$1: the trial unlocked ($(first_match "$1" "$2" 'bulwark-update: trial: slot [^[:cntrl:]]*'))"
	# (the health unit's line; the initramfs's starts the same way)
	if ! await "$1" "$2" "$boot_limit" 'bulwark-update: trial: slot . on trial'; then
		fail "$1: no 'bulwark-update: trial: slot X on trial' within $boot_limit s (bulwark-update-health.service)"; return 1
	fi
	p=$(offset_of "$1" "$2" 'bulwark-update: trial: slot . on trial')
	p=$(past "$1" "$p")
	if ! await "$1" "$p" "$boot_limit" 'Command line: .*bulwark\.slot='; then
		fail "$1: no reboot out of the trial within $boot_limit s"
		since "$1" "$2" | grep -aE 'bulwark-update: ' | tr -d '\r' | sed 's/^/  | /'
		return 1
	fi
	at=$(offset_of "$1" "$p" 'Command line: .*bulwark\.slot=')
	head -c "$at" "$d/$1.log" | tail -c +"$(( $2 + 1 ))" | grep -aE 'bulwark-update: ' | tr -d '\r' | sed 's/^/  | /'
	if head -c "$at" "$d/$1.log" | tail -c +"$(( $2 + 1 ))" | grep -aqE "$3"; then
		pass "$1: the trial ended with $4 after $(( $(date +%s) - t_trial )) s"
	else
		fail "$1: the trial did not end with $4 (no '$3' before its reboot)"; return 1
	fi
}

# 5. The good bundle: apply in slot a, the trial of b, health, commit,
# b's first normal boot (the re-seal), then a power-off.
# The update medium at PCI slot 4, where the answers medium was at first
# boot, and the appliance's disk (if=virtio, the first free slot) at 3
# as then: a -device without addr= takes slot 3 before the if=virtio
# drive is placed, which moves the disk to 4, and OVMF then tries the
# NVRAM entry of slot 3 first and fails. Each boot option it tries
# adds its events to PCR 4, so PCR 4 differs from first boot's, and
# bulwarkd's root secret, sealed there to PCRs 0,2,4,7,13, does not
# unseal (seen 2026-12-07: "PCR 4 changed since it was sealed",
# bulwarkd restarting every 5 s).
qemu_run update yes -drive file="$d/good.img",format=raw,if=none,id=upd,readonly=on \
	-device virtio-blk-pci,drive=upd,serial=bwupdate,addr=0x4
T0=$(date +%s)
await update 0 "$boot_limit" 'bulwark-tpm2: (root unlocked|the TPM did not)|Please unlock disk' || true
boot_check update 0 a || stop_here "the boot before the update"
apply_check update 0 b || { tail_of update 30; stop_here "the apply of the later commit's bundle"; }
trial_from=$at
trial_until update "$trial_from" 'bulwark-update: commit' "the commit" || { tail_of update 30; stop_here "the trial of the later commit"; }
say "trial time: $(( $(date +%s) - t_trial )) s (the trial's kernel to the reboot after the commit)"
T0=$(date +%s)
boot_check update "$at" b || { tail_of update 30; stop_here "the first normal boot of slot b after the commit"; }
first_b=$at
T0=$(date +%s)
# (reseal's other lines, the journal handed to bulwarkd, come first)
if await update "$first_b" "$boot_limit" 'bulwark-update: reseal: (slot . sealed|nothing to do|cannot)'; then
	if since update "$first_b" | grep -aq 'bulwark-update: reseal: slot b sealed to PCRs 7+8+9'; then
		pass "update: re-sealed at b's first normal boot: $(first_match update "$first_b" 'bulwark-update: reseal: slot [^[:cntrl:]]*')"
	else
		fail "update: b's first normal boot did not re-seal: $(first_match update "$first_b" 'bulwark-update: reseal: (nothing|cannot)[^[:cntrl:]]*')"
	fi
	since update "$first_b" | grep -aE 'bulwark-update: ' | tr -d '\r' | sed 's/^/  | /'
else
	fail "update: no 'bulwark-update: reseal: slot b sealed' within $boot_limit s of b's first normal boot"
fi
powerdown update "$first_b"
qemu_finish

# 6. The failing bundle: the test unit into slots/b; the next boot of b
# (the re-sealed token), its report, the apply into slot a, the trial
# failing its health check, the boot back into b, the rollback.
inject b yes || stop_here "cannot put the test unit into slots/b"
pass "the test unit in slots/b, to apply the failing bundle ($c2) at the next boot"
qemu_run rollback yes -drive file="$d/fail.img",format=raw,if=none,id=upd,readonly=on \
	-device virtio-blk-pci,drive=upd,serial=bwupdate,addr=0x4
T0=$(date +%s)
await rollback 0 "$boot_limit" 'bulwark-tpm2: (root unlocked|the TPM did not)|Please unlock disk' || true
boot_check rollback 0 b || { tail_of rollback 30; stop_here "the boot of b after the re-seal"; }
report_check rollback 0 b "$c1"
apply_check rollback 0 a || { tail_of rollback 30; stop_here "the apply of the failing bundle"; }
t_fail=$t_apply
fail_from=$at
trial_until rollback "$fail_from" 'bulwark-update: health: failed' "the health check failing" ||
	{ tail_of rollback 30; stop_here "the failing trial"; }
T0=$(date +%s)
boot_check rollback "$at" b || { tail_of rollback 30; stop_here "the boot back into b"; }
back=$at
say "rollback time: $(( $(date +%s) - t_fail )) s (the failing apply's start to slot b unlocked again)"
report_check rollback "$back" b "$c1"
if since rollback "$fail_from" | grep -aq 'bulwark-update: rollback'; then
	pass "rollback: $(first_match rollback "$fail_from" 'bulwark-update: rollback[^[:cntrl:]]*')"
else
	fail "rollback: no 'bulwark-update: rollback' line after the failed trial"
fi
since rollback "$back" | grep -aE 'check-update-vm: journal: .*rollback' | grep -aq . &&
	pass "rollback: the rollback in the updater's journal" ||
	fail "rollback: no rollback line in the updater's journal (state/update/journal)"
powerdown rollback "$back"
qemu_finish
say "total: $(( $(date +%s) - t_start )) s"
[ "$rc" = 0 ] && say "PASS" || say "FAIL"
exit "$rc"

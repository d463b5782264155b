#!/bin/bash
# Builds bulwark-VERSION.iso (docs/install.md, "Building the ISO"):
# a Debian 12 root made by mmdebstrap with the appliance of this tree
# installed into it, squashed reproducibly; a package pool of every
# .deb in that root; a SHA-256 manifest of every file, signed with the
# release key; GRUB for BIOS and UEFI by grub-mkrescue.
#
# Run by `make iso` with: BW_SRC (source tree), BW_WORK (scratch
# directory, kept between builds), BW_ISO (output path), BW_VERSION.
# Optional: BULWARK_RELEASE_KEY (an Ed25519 private key in PEM; without
# it the test key BW_TEST_KEY, made on the first build: `make iso`
# passes BUILDDIR/test-release-key.pem, outside BW_WORK so that `make
# clean` keeps it), SOURCE_DATE_EPOCH (default:
# the commit time of HEAD), BW_ISO_MIRROR (default deb.debian.org),
# BW_ISO_LOCK (a packages.lock of an earlier build: install exactly
# those versions).
set -euo pipefail

: "${BW_SRC:?}" "${BW_WORK:?}" "${BW_ISO:?}" "${BW_VERSION:?}"
BW_ISO_MIRROR="${BW_ISO_MIRROR:-http://deb.debian.org/debian}"
t0=$(date +%s)
say() { printf 'iso: %s\n' "$*" >&2; }

[ "$(id -u)" -eq 0 ] || { say "must run as root (mmdebstrap --mode=root, mksquashfs of root-owned files)"; exit 1; }
# shellcheck source=scripts/deps.sh
. "$BW_SRC/scripts/deps.sh"
(BW_BUILD_PKGS="$BW_ISO_PKGS" BW_RUN_PKGS="" bw_install_deps)

if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
	SOURCE_DATE_EPOCH=$(git -C "$BW_SRC" log -1 --format=%ct 2>/dev/null || echo 0)
fi
export SOURCE_DATE_EPOCH
say "SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH"

mkdir -p "$BW_WORK"
work=$(cd "$BW_WORK" && pwd)
root="$work/root" stage="$work/stage" tree="$work/tree" iso="$work/iso"

# The release key: it signs the medium's SHA256SUMS and every update
# bundle (appliance/update/update.am), and its public half goes into the
# root, so an appliance accepts only bundles signed with the key its ISO
# was. The test key is made once (0600) and kept; one that an earlier
# mkiso.sh made in BW_WORK is moved there, so that appliances installed
# from its ISOs still accept this tree's bundles.
key="${BULWARK_RELEASE_KEY:-}"
if [ -z "$key" ]; then
	key="${BW_TEST_KEY:-$(dirname "$work")/test-release-key.pem}"
	if [ ! -f "$key" ] && [ -f "$work/test-release-key.pem" ]; then
		mv "$work/test-release-key.pem" "$key"
		say "moved the test key out of $work to $key"
	fi
	[ -f "$key" ] || (umask 077 && openssl genpkey -algorithm ed25519 -out "$key" 2>/dev/null)
	chmod 0600 "$key"
	say "no BULWARK_RELEASE_KEY: signing with the test key $key"
fi
case "$(openssl pkey -in "$key" -noout -text 2>/dev/null)" in
"ED25519 Private-Key"*) ;;
*) say "$key: not an Ed25519 private key in PEM"; exit 1 ;;
esac
# The release the root is (bulwark-update compares a bundle with it):
# configure's version, the commit of the source tree (none outside git)
# and the build's time.
commit=$(git -C "$BW_SRC" rev-parse HEAD 2>/dev/null || true)
[ -z "$commit" ] || [ -z "$(git -C "$BW_SRC" status --porcelain --untracked-files=no 2>/dev/null)" ] ||
	say "warning: the tree has uncommitted changes; the release names HEAD ($commit)"

# 1. The appliance, configured for the installed layout (the programs
# carry their data and configuration paths), without the test hooks
# (docs/hardening.md, "Processes"), installed into a stage.
mkdir -p "$tree"
if [ ! -f "$tree/Makefile" ]; then
	(cd "$tree" && "$BW_SRC/configure" -q --prefix=/usr --sysconfdir=/etc \
		--localstatedir=/var --with-systemdsystemunitdir=/lib/systemd/system \
		--disable-test-hooks)
fi
make -C "$tree" -j2 -s
rm -rf "$stage"
make -C "$tree" -s install DESTDIR="$stage" >/dev/null

# 2. The package set: packages.list and the appliance's runtime, or
# exactly the versions of a lock file.
if [ -n "${BW_ISO_LOCK:-}" ]; then
	pkgs=$(awk '!/^#/ && NF >= 2 { printf "%s=%s,", $1, $2 }' "$BW_ISO_LOCK")
else
	pkgs=$(sed -e 's/#.*//' "$BW_SRC/appliance/iso/packages.list" | xargs)
	pkgs=$(echo "$pkgs $BW_APPLIANCE_PKGS" | xargs | tr ' ' ',')
fi

# 3. The root. Downloaded .deb files stay (essential/unlink and the apt
# cache are skipped) so that the hook can move them into the pool; the
# hook also installs the stage (through the root's merged-/usr links)
# and leaves no host-specific file.
rm -rf "$root" "$iso"
mkdir -p "$iso/pool" "$iso/live" "$iso/bulwark" "$iso/boot/grub"
# The installer's files; the initramfs hook and scripts (bulwark-tpm2,
# and bulwark-slot with the A/B layout's shared directories) are in
# place before the packages are installed, so the kernel's initramfs
# (made at the end, by dpkg's trigger) already has them. USBGuard's service is
# not enabled on the medium (its policy, which its package made from
# the build host's devices, is emptied: bulwark-install makes the
# installed system's from the devices present then) and its IPC is
# root's alone.
inst="$BW_SRC/appliance/iso/installer"
mmdebstrap --quiet --mode=root --variant=minbase --format=directory \
	--essential-hook="install -D -m 0755 '$inst/initramfs-hook' \"\$1/etc/initramfs-tools/hooks/bulwark-tpm2\"" \
	--essential-hook="install -D -m 0755 '$inst/initramfs-local-top' \"\$1/etc/initramfs-tools/scripts/local-top/bulwark-tpm2\"" \
	--essential-hook="install -D -m 0755 '$inst/initramfs-local-bottom' \"\$1/etc/initramfs-tools/scripts/local-bottom/bulwark-slot\"" \
	--essential-hook="install -D -m 0644 '$inst/state-dirs' \"\$1/usr/lib/bulwark/state-dirs\"" \
	--skip=essential/unlink --skip=cleanup/apt/cache \
	--aptopt='Acquire::Languages "none"' \
	--dpkgopt='path-exclude=/usr/share/doc/*' \
	--dpkgopt='path-include=/usr/share/doc/*/copyright' \
	--dpkgopt='path-exclude=/usr/share/man/*' \
	--dpkgopt='path-exclude=/usr/share/locale/*' \
	--include="$pkgs" \
	--customize-hook="tar -C '$stage' -c . | tar -C \"\$1\" -x --keep-directory-symlink" \
	--customize-hook="mv \"\$1\"/var/cache/apt/archives/*.deb '$iso/pool/'" \
	--customize-hook="install -D -m 0755 '$inst/bulwark-install' \"\$1/usr/sbin/bulwark-install\"" \
	--customize-hook="install -D -m 0755 '$inst/bulwark-firstboot' \"\$1/usr/lib/bulwark/bulwark-firstboot\"" \
	--customize-hook="install -m 0644 '$inst/bulwark-install.service' '$inst/bulwark-firstboot.service' \"\$1/lib/systemd/system/\"" \
	--customize-hook="install -D -m 0644 '$BW_SRC/man/bulwark-install.8' \"\$1/usr/share/man/man8/bulwark-install.8\"" \
	--customize-hook="install -D -m 0755 '$BW_SRC/appliance/update/bulwark-update' \"\$1/usr/sbin/bulwark-update\"" \
	--customize-hook="install -D -m 0644 '$BW_SRC/man/bulwark-update.8' \"\$1/usr/share/man/man8/bulwark-update.8\"" \
	--customize-hook="install -m 0644 '$BW_SRC/appliance/update/bulwark-update-health.service' '$BW_SRC/appliance/update/bulwark-update-reseal.service' \"\$1/lib/systemd/system/\"" \
	--customize-hook='mkdir -p "$1/etc/systemd/system/multi-user.target.wants" && for u in bulwark-update-health bulwark-update-reseal; do ln -sf /lib/systemd/system/$u.service "$1/etc/systemd/system/multi-user.target.wants/"; done' \
	--customize-hook='mkdir -p "$1/etc/systemd/system/multi-user.target.wants" && ln -sf /lib/systemd/system/bulwark-install.service "$1/etc/systemd/system/multi-user.target.wants/"' \
	--customize-hook='echo bulwark > "$1/etc/hostname"' \
	--customize-hook='printf "127.0.0.1\tlocalhost\n127.0.1.1\tbulwark\n" > "$1/etc/hosts"' \
	--customize-hook=': > "$1/etc/resolv.conf"' \
	--customize-hook='rm -f "$1/etc/systemd/system/timers.target.wants/lynis.timer"' \
	--customize-hook='rm -f "$1/etc/systemd/system/basic.target.wants/usbguard.service" "$1/etc/systemd/system/multi-user.target.wants/usbguard-dbus.service" "$1/etc/systemd/system/dbus-org.usbguard.service" "$1"/etc/usbguard/IPCAccessControl.d/*' \
	--customize-hook=': > "$1/etc/usbguard/rules.conf" && sed -i "s/^IPCAllowedGroups=.*/IPCAllowedGroups=root/" "$1/etc/usbguard/usbguard-daemon.conf"' \
	--customize-hook='for t in apt-daily apt-daily-upgrade; do rm -f "$1/etc/systemd/system/timers.target.wants/$t.timer"; ln -sf /dev/null "$1/etc/systemd/system/$t.timer"; done' \
	--customize-hook="install -m 0755 '$BW_SRC/appliance/iso/root/nftables.conf' \"\$1/etc/nftables.conf\"" \
	--customize-hook='mkdir -p "$1/etc/systemd/system/sysinit.target.wants" && ln -sf /lib/systemd/system/nftables.service "$1/etc/systemd/system/sysinit.target.wants/"' \
	--customize-hook="install -D -m 0644 '$BW_SRC/appliance/iso/root/usb-storage.conf' \"\$1/usr/lib/bulwark/usb-storage.conf\"" \
	--customize-hook="install -m 0644 '$BW_SRC/appliance/iso/root/tmout.sh' \"\$1/etc/profile.d/bulwark-tmout.sh\"" \
	--customize-hook='chroot "$1" systemd-sysusers /usr/lib/sysusers.d/bulwark-collect.conf' \
	bookworm "$root" "$BW_ISO_MIRROR"
[ -x "$root/sbin/init" ] || { say "mmdebstrap did not make a bootable root"; exit 1; }
# The directories the A/B layout's slots share (installer/state-dirs):
# every slot has each one, where the initramfs binds state/'s; those no
# package makes as their units and first boot would (root's, 0700).
sed -e 's/#.*//' "$root/usr/lib/bulwark/state-dirs" | while read -r d; do
	[ -z "$d" ] || [ -e "$root/$d" ] || install -d -m 0700 "$root/$d"
done
# Every program of the stage finds its libraries in the root (a library
# missing from BW_APPLIANCE_PKGS otherwise shows only when it starts).
missing=$(cd "$stage" && find . -type f -perm -u+x -path './usr/*bin/*' | sed 's/^\.//' |
	while read -r b; do chroot "$root" ldd "$b" 2>/dev/null | sed -n "s|^\s*\(\S*\) => not found|$b: \1|p"; done)
[ -z "$missing" ] || { say "libraries missing from the root (scripts/deps.sh BW_APPLIANCE_PKGS): $missing"; exit 1; }
# A locked build names every package, so apt took all as installed by
# hand: mark the lock's automatic ones again (apt's extended_states is
# then the same as the unlocked build's).
if [ -n "${BW_ISO_LOCK:-}" ]; then
	awk '$3 == "auto" { print $1 }' "$BW_ISO_LOCK" | xargs -r chroot "$root" apt-mark auto >/dev/null
fi
# The lock: every package, its version, and "auto" when apt installed
# it as a dependency.
chroot "$root" dpkg-query -W -f='${Package} ${Version}\n' | LC_ALL=C sort |
	awk -v auto="$(chroot "$root" apt-mark showauto | xargs)" '
	BEGIN { n = split(auto, a, " "); for (i = 1; i <= n; i++) isauto[a[i]] = 1 }
	{ print $1, $2 (($1 in isauto) ? " auto" : "") }' > "$iso/bulwark/packages.lock"
# What the compliance checks compare the installed system with
# (compliance/check.c's default policy): the authorised packages
# (cm-inventory) are those of this root; the integrity manifest
# (si-binary-integrity) is every program and shared library of it that
# bulwarkd's unprivileged user can read. Sorted, so the same each build.
install -d -m 0755 "$root/etc/bulwark"
{ echo "# The packages of bulwark $BW_VERSION's root (mkiso.sh)"
  chroot "$root" dpkg-query -W -f='${Package}\n' | LC_ALL=C sort; } > "$root/etc/bulwark/packages.allow"
(cd "$root" && find usr/bin usr/sbin usr/lib/x86_64-linux-gnu -xdev -type f -perm -o+r -print0 |
	LC_ALL=C sort -z | xargs -0 sha256sum | sed 's|  |  /|') > "$root/etc/bulwark/integrity.sha256"
say "integrity manifest: $(wc -l < "$root/etc/bulwark/integrity.sha256") files"
chmod 0644 "$root/etc/bulwark/packages.allow" "$root/etc/bulwark/integrity.sha256"
# The installed release and the release key's public half, which
# bulwark-update reads (docs/install.md, "Offline updates").
install -d -m 0755 "$root/usr/share/bulwark"
{ echo "version $BW_VERSION"
  [ -z "$commit" ] || echo "commit $commit"
  echo "epoch $SOURCE_DATE_EPOCH"; } > "$root/usr/share/bulwark/release"
openssl pkey -in "$key" -pubout -out "$root/usr/share/bulwark/release-key.pub.pem"
chmod 0644 "$root/usr/share/bulwark/release" "$root/usr/share/bulwark/release-key.pub.pem"
say "release: $(tr '\n' ' ' < "$root/usr/share/bulwark/release")"
# Caches apt and ldconfig rebuild, which differ from build to build.
rm -f "$root"/var/cache/ldconfig/aux-cache "$root"/var/cache/apt/*.bin

# 4. The pool with its index, so `apt` on the installed system (or
# dpkg -i) can repair from the medium alone.
(cd "$iso" && dpkg-scanpackages -m pool /dev/null 2>/dev/null | gzip -9n > pool/Packages.gz)

# 5. The kernel and live-boot's initramfs beside the squashfs.
kver=$(basename "$(ls "$root"/boot/vmlinuz-* | tail -n 1)")
kver=${kver#vmlinuz-}
cp "$root/boot/vmlinuz-$kver" "$iso/live/vmlinuz"
cp "$root/boot/initrd.img-$kver" "$iso/live/initrd.img"
# (grep -c reads it all: with -q, lsinitramfs dies of SIGPIPE under pipefail)
lsinitramfs "$iso/live/initrd.img" | grep -c 'libcryptsetup-token-systemd-tpm2.so' >/dev/null ||
	{ say "the initramfs lacks the TPM2 token plugin (initramfs hook bulwark-tpm2)"; exit 1; }
# fsck, logsave and fsck.ext4 (initramfs hook bulwark-tpm2): checkfs
# checks the root before bulwark-slot makes it writable.
[ "$(lsinitramfs "$iso/live/initrd.img" | grep -cE '^(usr/)?s?bin/(fsck|logsave|fsck\.ext4)$')" -ge 3 ] ||
	{ say "the initramfs lacks fsck, logsave or fsck.ext4 (initramfs hook bulwark-tpm2): the root would never be checked"; exit 1; }
[ "$(lsinitramfs "$iso/live/initrd.img" | grep -cE '^(scripts/local-bottom/bulwark-slot|usr/lib/bulwark/state-dirs)$')" = 2 ] ||
	{ say "the initramfs lacks bulwark-slot (local-bottom) or its state-dirs: no slot would boot"; exit 1; }

# 6. The root's manifest (inside the ISO, covering every file of the
# squashfs) and the squashfs itself: sorted, every time the build's.
# (mksquashfs refuses SOURCE_DATE_EPOCH beside the explicit times.)
(cd "$root" && find . -xdev -type f -print0 | LC_ALL=C sort -z |
	xargs -0 sha256sum) > "$iso/bulwark/root.sha256"
env -u SOURCE_DATE_EPOCH mksquashfs "$root" "$iso/live/filesystem.squashfs" -noappend -quiet \
	-no-progress -comp zstd -reproducible -mkfs-time "$SOURCE_DATE_EPOCH" \
	-all-time "$SOURCE_DATE_EPOCH" >/dev/null

# 7. GRUB, on the serial console and the screen.
cat > "$iso/boot/grub/grub.cfg" <<EOF
serial --unit=0 --speed=115200
terminal_input serial console
terminal_output serial console
set timeout=5
# A medium labelled BWANSWERS (with an answer file) makes the
# unattended installation the default (docs/install.md).
search --no-floppy --label BWANSWERS --set=bwanswers
if [ -n "\$bwanswers" ]; then set default=1; fi
menuentry "Bulwark $BW_VERSION (live)" {
	linux /live/vmlinuz boot=live components console=tty0 console=ttyS0,115200n8
	initrd /live/initrd.img
}
menuentry "Install Bulwark $BW_VERSION unattended (answer file)" {
	linux /live/vmlinuz boot=live components console=tty0 console=ttyS0,115200n8 bulwark.install=unattended
	initrd /live/initrd.img
}
EOF
echo "$BW_VERSION" > "$iso/bulwark/version"

# 8. The signed manifest of every file on the medium, with the release
# key above (whose public half the root carries).
cp "$root/usr/share/bulwark/release-key.pub.pem" "$iso/bulwark/release-key.pub.pem"
(cd "$iso" && find . -type f ! -name SHA256SUMS ! -name SHA256SUMS.sig -print0 |
	LC_ALL=C sort -z | xargs -0 sha256sum) > "$iso/SHA256SUMS"
# Ed25519 signatures are deterministic: the same tree signs the same.
openssl pkeyutl -sign -rawin -inkey "$key" -in "$iso/SHA256SUMS" -out "$iso/SHA256SUMS.sig"
openssl pkeyutl -verify -rawin -pubin -inkey "$iso/bulwark/release-key.pub.pem" \
	-in "$iso/SHA256SUMS" -sigfile "$iso/SHA256SUMS.sig" >/dev/null

# 9. The hybrid ISO (BIOS and UEFI GRUB).
# grub-mkrescue's own files (GRUB's modules, the EFI FAT image) carry
# the build's time and mformat a random serial: xorriso sets every date
# and the volume's UUID from SOURCE_DATE_EPOCH, and mformat gets a serial
# made from it, so that the ISO image is the same from build to build.
find "$iso" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
mkdir -p "$work/bin"
printf '#!/bin/sh\nexec /usr/bin/mformat -N %08x "$@"\n' "$SOURCE_DATE_EPOCH" > "$work/bin/mformat"
chmod +x "$work/bin/mformat"
isodate=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y%m%d%H%M%S00)
PATH="$work/bin:$PATH" grub-mkrescue -o "$BW_ISO" "$iso" -- -volid BULWARK \
	-volume_date uuid "$isodate" -alter_date_r b "$isodate" / -- 2>/dev/null

t1=$(date +%s)
say "$(basename "$BW_ISO"): $(stat -c %s "$BW_ISO") bytes, built in $((t1 - t0)) s"
say "squashfs: $(stat -c %s "$iso/live/filesystem.squashfs") bytes, sha256 $(sha256sum < "$iso/live/filesystem.squashfs" | cut -d' ' -f1)"
say "iso sha256 $(sha256sum < "$BW_ISO" | cut -d' ' -f1); $(wc -l < "$iso/bulwark/packages.lock") packages, $(find "$iso/pool" -name '*.deb' | wc -l) in the pool"

# Sourced by scripts/up and scripts/test: the Debian packages Bulwark
# builds, runs and tests with, and a function that installs the missing.
BW_BUILD_PKGS="build-essential autoconf automake libtool autoconf-archive pkg-config
 clang libclang-rt-14-dev
 libssl-dev libevent-dev libjansson-dev liblmdb-dev libtss2-dev libseccomp-dev
 libaudit-dev libpam0g-dev libncurses-dev libcmocka-dev libcurl4-openssl-dev"
BW_RUN_PKGS="openssl swtpm swtpm-tools tpm2-tools tpm2-openssl lmdb-utils curl libcurl4 ca-certificates
 crun qemu-system-x86 containernetworking-plugins etcd-server etcd-client
 libpam-wrapper libnss-wrapper busybox-static iproute2 nftables tmux jq procps
 linux-image-amd64 qemu-utils cpio python3 systemd prometheus
 grub-common squashfs-tools cryptsetup-bin"

# What the installed appliance runs with (the ISO's root, appliance/iso):
# the shared libraries the programs link with, the TPM's device TCTI,
# and the programs bulwarkd and bulwark-agent start. No compilers and
# none of the test tools above.
BW_APPLIANCE_PKGS="libssl3 libevent-2.1-7 libevent-pthreads-2.1-7 libevent-openssl-2.1-7 libjansson4 liblmdb0
 libtss2-esys-3.0.2-0 libtss2-tctildr0 libtss2-rc0 libtss2-mu0 libtss2-tcti-device0
 libseccomp2 libaudit1 libpam0g libncursesw6 openssl ca-certificates tpm2-tools
 crun containernetworking-plugins qemu-system-x86 qemu-utils swtpm swtpm-tools
 iproute2 nftables"
# What `make iso` builds the ISO with (docs/install.md); OVMF only boots
# it in `make check-iso-boot`.
BW_ISO_PKGS="mmdebstrap squashfs-tools xorriso grub-common grub-pc-bin
 grub-efi-amd64-bin mtools dpkg-dev ovmf"

bw_install_deps() {
	local missing="" p
	for p in $BW_BUILD_PKGS $BW_RUN_PKGS; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
			missing="$missing $p"
	done
	[ -z "$missing" ] && return 0
	if [ "$(id -u)" -ne 0 ]; then
		echo "missing Debian packages:$missing (run as root to install them)" >&2
		return 1
	fi
	echo "installing:$missing" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq || return 1
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $missing >/dev/null || return 1
}

# Configures and builds in DIR (relative to the source tree) with the
# extra configure arguments that follow.
bw_build() {
	local dir="$1"; shift
	[ -x "$BW_SRC/configure" ] || (cd "$BW_SRC" && autoreconf -fi) || return 1
	mkdir -p "$BW_SRC/$dir"
	(cd "$BW_SRC/$dir" &&
		{ [ -f Makefile ] || "$BW_SRC/configure" -q "$@"; } &&
		make -j"$(nproc)" -s) || return 1
}

#!/bin/bash
# Packs an offline update bundle (docs/install.md, "Offline updates"):
# an uncompressed tar whose members are, in this order,
#   bundle.manifest      what the bundle is and the digest of each payload
#   bundle.manifest.sig  the release key's Ed25519 signature of it
#   root.squashfs vmlinuz initrd.img   the payload
# The manifest is the only signed thing; it names every payload member
# with its size and SHA-256, so bulwark-update verify can refuse a
# changed, missing or extra member before anything is unpacked.
#
# Usage: mkbundle.sh --from DIR --version V --commit C --epoch N
#            --key RELEASE-KEY.pem --output BUNDLE.tar
# DIR holds filesystem.squashfs, vmlinuz and initrd.img (mkiso.sh's
# iso-work/iso/live). Deterministic: the same inputs give the same
# bundle (Ed25519 signs deterministically; tar gets fixed owners,
# modes and times).
set -euo pipefail

say() { printf 'update-bundle: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

from="" version="" commit="" epoch="" key="" out=""
while [ $# -gt 0 ]; do
	case "$1" in
	--from) from="$2"; shift 2 ;;
	--version) version="$2"; shift 2 ;;
	--commit) commit="$2"; shift 2 ;;
	--epoch) epoch="$2"; shift 2 ;;
	--key) key="$2"; shift 2 ;;
	--output) out="$2"; shift 2 ;;
	*) die "unknown argument: $1" ;;
	esac
done
[ -n "$from" ] && [ -n "$version" ] && [ -n "$commit" ] && [ -n "$epoch" ] &&
	[ -n "$key" ] && [ -n "$out" ] || die "usage: mkbundle.sh --from DIR --version V --commit C --epoch N --key KEY --output FILE"
# The same grammar bulwark-update's parser accepts.
[[ "$version" =~ ^[0-9][0-9A-Za-z.+~-]{0,63}$ ]] && [[ "$version" != *- ]] &&
	dpkg --validate-version "$version" 2>/dev/null || die "version: not a Debian-style version: $version"
[[ "$commit" =~ ^[0-9a-f]{40}$ ]] || die "commit: not 40 hex digits: $commit"
[[ "$epoch" =~ ^(0|[1-9][0-9]{0,11})$ ]] || die "epoch: not a number of seconds: $epoch"

stage=$(mktemp -d "${TMPDIR:-/tmp}/bw-bundle.XXXXXX") ||
	die "cannot make a staging directory under ${TMPDIR:-/tmp}"
trap 'rm -rf "$stage"' EXIT
cp "$from/filesystem.squashfs" "$stage/root.squashfs"
cp "$from/vmlinuz" "$stage/vmlinuz"
cp "$from/initrd.img" "$stage/initrd.img"
{
	echo "format bulwark-update 1"
	echo "version $version"
	echo "commit $commit"
	echo "epoch $epoch"
	for m in root.squashfs vmlinuz initrd.img; do
		echo "member $m $(stat -c %s "$stage/$m") $(sha256sum < "$stage/$m" | cut -d' ' -f1)"
	done
} > "$stage/bundle.manifest"
openssl pkeyutl -sign -rawin -inkey "$key" -in "$stage/bundle.manifest" \
	-out "$stage/bundle.manifest.sig"
tar -C "$stage" --format=gnu --owner=0 --group=0 --numeric-owner --mode=0644 \
	--mtime="@$epoch" -cf "$out.tmp" bundle.manifest bundle.manifest.sig \
	root.squashfs vmlinuz initrd.img
mv "$out.tmp" "$out"
say "$(basename "$out"): $(stat -c %s "$out") bytes, version $version, commit $commit, sha256 $(sha256sum < "$out" | cut -d' ' -f1)"

#!/bin/bash
# bulwark-update verify (issue 17, offline updates; docs/install.md,
# "Offline updates"): a bundle made by appliance/update/mkbundle.sh
# verifies against the release key and a fake installed root, and every
# tampered bundle is refused with a reason that names what is wrong: a
# bad signature, a changed manifest, a changed, missing, added or
# linked member, a downgrade, the same build again, a file that is not
# a tar, an unknown installed release. No QEMU, no root.
. "$(dirname "$0")/lib.sh" || exit 99
U="$top_srcdir/appliance/update/bulwark-update"
MK="$top_srcdir/appliance/update/mkbundle.sh"
R="$T/root"
C1=1111111111111111111111111111111111111111
C2=2222222222222222222222222222222222222222

# The installed system: release 0.1.0 of commit C1 built at 1000, and
# the release key's public half where the image carries it.
openssl genpkey -algorithm ed25519 -out "$T/key.pem" 2>/dev/null
openssl genpkey -algorithm ed25519 -out "$T/other.pem" 2>/dev/null
mkdir -p "$R/usr/share/bulwark"
openssl pkey -in "$T/key.pem" -pubout -out "$R/usr/share/bulwark/release-key.pub.pem"
printf 'version 0.1.0\ncommit %s\nepoch 1000\n' "$C1" >"$R/usr/share/bulwark/release"

# A later build's payload (small stand-ins for the squashfs, kernel, initramfs).
mkdir -p "$T/live"
head -c 300000 /dev/urandom >"$T/live/filesystem.squashfs"
echo kernel >"$T/live/vmlinuz"
echo initramfs >"$T/live/initrd.img"

# bundle NAME VERSION COMMIT EPOCH [KEY]: a bundle made by mkbundle.sh.
bundle() {
	"$MK" --from "$T/live" --version "$2" --commit "$3" --epoch "$4" \
		--key "${5:-$T/key.pem}" --output "$T/$1.tar" 2>"$T/$1.mk" ||
		{ cat "$T/$1.mk" >&2; fail "mkbundle.sh makes $1"; }
}

# refused BUNDLE PATTERN DESCRIPTION: verify exits 1 and says PATTERN.
refused() {
	local rc
	"$U" --root "$R" verify "$T/$1.tar" >"$T/$1.out" 2>"$T/$1.err"
	rc=$?
	if [ "$rc" -eq 1 ] && grep -q -- "$2" "$T/$1.err"; then
		pass "$3 is refused: $(sed 's/^[^:]*: [^:]*: //' "$T/$1.err")"
	else
		fail "$3 is refused with '$2' (exit $rc: $(cat "$T/$1.err"))"
	fi
}

# jq_true FILTER FILE: FILTER holds on the JSON in FILE.
jq_true() { jq -e "$1" "$2" >/dev/null; }

# retar NAME SRC MEMBER...: a tar of MEMBERs (files of directory SRC) in that order.
retar() {
	local name="$1" src="$2"
	shift 2
	tar -C "$src" --format=gnu -cf "$T/$name.tar" "$@"
}

"$U" --help >"$T/help" || fail "--help exits 0"
check "--help names verify and --json" sh -c "grep -q 'verify BUNDLE' '$T/help' && grep -q -- --json '$T/help'"
"$U" frobnicate >/dev/null 2>&1
check "an unknown command exits 2" [ $? -eq 2 ]

# 1. A later commit's bundle verifies; --json says so with each member.
bundle good 0.1.0 "$C2" 2000
check "mkbundle.sh is deterministic" sh -c "'$MK' --from '$T/live' --version 0.1.0 --commit $C2 --epoch 2000 --key '$T/key.pem' --output '$T/again.tar' 2>/dev/null && cmp -s '$T/good.tar' '$T/again.tar'"
"$U" --root "$R" verify "$T/good.tar" >"$T/good.out" 2>"$T/good.err"
check "a bundle of a later commit verifies ($(cat "$T/good.out" "$T/good.err"))" \
	grep -q "verified: version 0.1.0, commit $C2" "$T/good.out"
"$U" --root "$R" --json verify "$T/good.tar" >"$T/good.json"
check "--json: ok, the version, commit and the installed release" jq_true \
	".ok == true and .version == \"0.1.0\" and .commit == \"$C2\" and .epoch == 2000 and .installed.commit == \"$C1\"" "$T/good.json"
sq=$(sha256sum <"$T/live/filesystem.squashfs" | cut -d' ' -f1)
check "--json: the three members with their sizes and digests" jq_true \
	"[.members[].name] == [\"root.squashfs\",\"vmlinuz\",\"initrd.img\"] and .members[0].size == 300000 and .members[0].sha256 == \"$sq\"" "$T/good.json"
bundle newer 0.2.0 "$C2" 500
"$U" --root "$R" verify "$T/newer.tar" >/dev/null 2>&1
check "a higher version verifies even with an earlier commit time" [ $? -eq 0 ]

# Members of one byte and of none (dd says "1 byte", "0 bytes").
mkdir -p "$T/live1" && cp "$T/live/filesystem.squashfs" "$T/live1/"
printf 'k' >"$T/live1/vmlinuz" && : >"$T/live1/initrd.img"
"$MK" --from "$T/live1" --version 0.2.0 --commit "$C2" --epoch 2000 --key "$T/key.pem" \
	--output "$T/tiny.tar" 2>/dev/null
"$U" --root "$R" verify "$T/tiny.tar" >/dev/null 2>"$T/tiny.err"
rc=$?
check "a bundle with a one-byte kernel and an empty initramfs verifies ($(cat "$T/tiny.err"))" [ $rc -eq 0 ]

# 2. The signature.
bundle otherkey 0.1.0 "$C2" 2000 "$T/other.pem"
refused otherkey "bad signature" "a bundle signed by another key"
mkdir -p "$T/x" && tar -C "$T/x" -xf "$T/good.tar"
sed -i 's/^epoch 2000$/epoch 2001/' "$T/x/bundle.manifest"
retar manifest "$T/x" bundle.manifest bundle.manifest.sig root.squashfs vmlinuz initrd.img
refused manifest "bad signature" "a manifest changed after signing"
# A signed manifest with a key twice (the second commit would win).
rm -rf "$T/x" && mkdir -p "$T/x" && tar -C "$T/x" -xf "$T/good.tar"
printf 'commit %s\n' "$C1" >>"$T/x/bundle.manifest"
openssl pkeyutl -sign -rawin -inkey "$T/key.pem" -in "$T/x/bundle.manifest" -out "$T/x/bundle.manifest.sig"
retar twice "$T/x" bundle.manifest bundle.manifest.sig root.squashfs vmlinuz initrd.img
refused twice "commit given twice" "a signed manifest naming its commit twice"
# resigned NAME SED: the good bundle with SED applied to its manifest,
# signed again by the release key (the grammar is checked even so).
resigned() {
	rm -rf "$T/r" && mkdir -p "$T/r" && tar -C "$T/r" -xf "$T/good.tar"
	sed -i "$2" "$T/r/bundle.manifest"
	openssl pkeyutl -sign -rawin -inkey "$T/key.pem" -in "$T/r/bundle.manifest" -out "$T/r/bundle.manifest.sig"
	retar "$1" "$T/r" bundle.manifest bundle.manifest.sig root.squashfs vmlinuz initrd.img
}
resigned unknownkey '$a channel stable'
refused unknownkey "unknown key 'channel'" "a signed manifest with an unknown key"
resigned noepoch '/^epoch /d'
refused noepoch "format, version, commit and epoch are required" "a signed manifest without its epoch"
resigned nomember '/^member initrd.img /d'
refused nomember "manifest: members are" "a signed manifest without the initramfs"
resigned blank 's/^epoch .*/&\n/'
refused blank "manifest line 5: empty" "a signed manifest with a blank line"
# A last line without its newline was skipped by the parser, unsaid.
resigned nonl '$s/$/\nformat bulwark-update 1/'
truncate -s -1 "$T/r/bundle.manifest"
openssl pkeyutl -sign -rawin -inkey "$T/key.pem" -in "$T/r/bundle.manifest" -out "$T/r/bundle.manifest.sig"
retar nonl "$T/r" bundle.manifest bundle.manifest.sig root.squashfs vmlinuz initrd.img
refused nonl "does not end in a newline" "a signed manifest whose last line has no newline"
# An epoch with a leading zero: --json printed it as the number 02000.
resigned leadzero 's/^epoch 2000$/epoch 02000/'
refused leadzero "epoch: not a number of seconds" "a signed epoch with a leading zero"
# mkbundle.sh refuses to sign one (a bundle every verify would refuse).
"$MK" --from "$T/live" --version 0.1.0 --commit "$C2" --epoch 02000 --key "$T/key.pem" \
	--output "$T/leadzero2.tar" 2>"$T/leadzero2.err"
rc=$?
check "mkbundle.sh refuses an epoch with a leading zero ($(cat "$T/leadzero2.err"))" \
	sh -c "[ $rc -ne 0 ] && [ ! -e '$T/leadzero2.tar' ] && grep -q 'epoch: not a number of seconds: 02000' '$T/leadzero2.err'"
resigned size '/^member vmlinuz /s/ 7 / 8 /'
refused size "member vmlinuz changed: its size is 7, signed 8" "a signed size that is not the member's"
mkdir -p "$T/y" && tar -C "$T/y" -xf "$T/good.tar"
head -c 10 /dev/zero >"$T/y/bundle.manifest.sig"
retar shortsig "$T/y" bundle.manifest bundle.manifest.sig root.squashfs vmlinuz initrd.img
refused shortsig "not an Ed25519 signature" "a truncated signature"

# 3. The members.
rm -rf "$T/x" && mkdir -p "$T/x" && tar -C "$T/x" -xf "$T/good.tar"
printf 'kernex\n' >"$T/x/vmlinuz"
retar kernel "$T/x" bundle.manifest bundle.manifest.sig root.squashfs vmlinuz initrd.img
refused kernel "member vmlinuz changed" "a kernel of the same size changed"
rm -rf "$T/x" && mkdir -p "$T/x" && tar -C "$T/x" -xf "$T/good.tar"
printf '\001' | dd of="$T/x/root.squashfs" bs=1 seek=150000 conv=notrunc 2>/dev/null
retar squash "$T/x" bundle.manifest bundle.manifest.sig root.squashfs vmlinuz initrd.img
refused squash "member root.squashfs changed" "one byte of the root changed"
rm -rf "$T/x" && mkdir -p "$T/x" && tar -C "$T/x" -xf "$T/good.tar"
retar missing "$T/x" bundle.manifest bundle.manifest.sig root.squashfs vmlinuz
refused missing "members are" "a bundle without its initramfs"
echo extra >"$T/x/extra"
retar extra "$T/x" bundle.manifest bundle.manifest.sig root.squashfs vmlinuz initrd.img extra
refused extra "more than 5 members" "a bundle with an added member"
# Thousands of members: tar's listing is cut after 6 lines and refused.
mkdir -p "$T/many" && (cd "$T/many" && seq -f 'm%g' 3000 | xargs touch)
(cd "$T/many" && ls | sort) >"$T/many.list"
tar -C "$T/many" --format=gnu -cf "$T/many.tar" -T "$T/many.list"
refused many "more than 5 members" "a bundle of 3000 members"
retar order "$T/x" bundle.manifest.sig bundle.manifest root.squashfs vmlinuz initrd.img
refused order "members are" "a bundle whose members are out of order"
rm "$T/x/initrd.img" && ln -s /etc/passwd "$T/x/initrd.img"
retar link "$T/x" bundle.manifest bundle.manifest.sig root.squashfs vmlinuz initrd.img
refused link "not a regular file" "a member that is a symbolic link"
rm "$T/x/initrd.img" && ln "$T/x/vmlinuz" "$T/x/initrd.img"
retar hardlink "$T/x" bundle.manifest bundle.manifest.sig root.squashfs vmlinuz initrd.img
refused hardlink "not a regular file" "a member that is a hard link"
rm "$T/x/initrd.img" && mkdir "$T/x/initrd.img"
retar dir "$T/x" bundle.manifest bundle.manifest.sig root.squashfs vmlinuz initrd.img
refused dir "not a regular file" "a member that is a directory"
rmdir "$T/x/initrd.img" && mkfifo "$T/x/initrd.img"
retar fifo "$T/x" bundle.manifest bundle.manifest.sig root.squashfs vmlinuz initrd.img
refused fifo "not a regular file" "a member that is a FIFO"
# A bundle named like a remote archive (host:file) is still the local file.
cp "$T/good.tar" "$T/h:good.tar"
(cd "$T" && "$U" --root "$R" verify h:good.tar >/dev/null 2>"$T/colon.err")
rc=$?
check "a bundle named h:good.tar is read as a local file ($(cat "$T/colon.err"))" [ $rc -eq 0 ]
head -c 4096 /dev/urandom >"$T/junk.tar"
refused junk "not an update bundle" "a file that is not a tar"

# 4. Downgrades and the installed release.
bundle older 0.1.0 "$C2" 999
refused older "downgrade refused" "the same version built from an earlier commit"
bundle oldver 0.0.9 "$C2" 5000
refused oldver "downgrade refused: bundle version 0.0.9 is older" "an older version"
bundle same 0.1.0 "$C1" 1000
refused same "already installed" "the installed build itself"
# A signed version dpkg rejects ("0.0.9-": an empty revision) once
# compared as neither older nor equal, and so passed as newer.
resigned badver 's/^version .*/version 0.0.9-/'
refused badver "version: not a Debian-style version" "a signed version with an empty Debian revision"
"$MK" --from "$T/live" --version 0.2.0- --commit "$C2" --epoch 2000 --key "$T/key.pem" \
	--output "$T/badver2.tar" 2>/dev/null
check "mkbundle.sh refuses a version with an empty revision" [ ! -e "$T/badver2.tar" ]
# A dpkg that cannot compare (its status 2, as for a version it rejects)
# refuses the bundle rather than taking it as newer.
mkdir -p "$T/nodpkg"
printf '#!/bin/sh\nexit 2\n' >"$T/nodpkg/dpkg" && chmod +x "$T/nodpkg/dpkg"
PATH="$T/nodpkg:$PATH" "$U" --root "$R" verify "$T/oldver.tar" >/dev/null 2>"$T/nodpkg.err"
rc=$?
check "a failed version comparison is a refusal ($(cat "$T/nodpkg.err"))" \
	sh -c "[ $rc -eq 1 ] && grep -q 'cannot compare versions' '$T/nodpkg.err'"
mv "$R/usr/share/bulwark/release" "$T/release"
refused good "installed release is unknown" "any bundle when the installed release is unknown"
# bad_release DESCRIPTION PATTERN: with the release file as it is
# now, verify and status (--json, one valid object) are refused with
# PATTERN.
bad_release() {
	local rc
	"$U" --root "$R" verify "$T/good.tar" >/dev/null 2>"$T/rel.err"
	rc=$?
	check "verify refuses $1 ($(cat "$T/rel.err"))" sh -c "[ $rc -eq 1 ] && grep -q -- '$2' '$T/rel.err'"
	[ -e /run/bulwark-fs/slots ] && return
	"$U" --root "$R" --json status >"$T/rel.json" 2>/dev/null
	check "status refuses $1, in valid JSON ($(cat "$T/rel.json"))" \
		jq_true ".ok == false and (.error | test(\"$2\"))" "$T/rel.json"
}
# An epoch with a leading zero was printed as the JSON number 01000.
printf 'version 0.1.0\ncommit %s\nepoch 01000\n' "$C1" >"$R/usr/share/bulwark/release"
bad_release "an installed epoch with a leading zero" "version and epoch unreadable"
# A last line without its newline was dropped (here the commit).
printf 'version 0.1.0\nepoch 1000\ncommit %s' "$C1" >"$R/usr/share/bulwark/release"
bad_release "an installed release whose last line has no newline" "does not end in a newline"
printf 'version 0.1.0\ncommit %s\nepoch 1000\n' "not-a-commit" >"$R/usr/share/bulwark/release"
bad_release "an installed commit that is not 40 hex digits" "commit: not 40 hex digits"
rm -f "$R/usr/share/bulwark/release" && mkdir "$R/usr/share/bulwark/release"
bad_release "an installed release that is a directory" "installed release is unknown"
rmdir "$R/usr/share/bulwark/release"
mv "$T/release" "$R/usr/share/bulwark/release"

# The release key's file with the private key before the public half
# (openssl skips the private block): once verified as the release key.
cat "$T/key.pem" "$R/usr/share/bulwark/release-key.pub.pem" >"$T/both.pem"
"$U" --root "$R" --key "$T/both.pem" verify "$T/good.tar" >/dev/null 2>"$T/both.err"
rc=$?
check "verify refuses a key file holding the private key before the public one ($(cat "$T/both.err"))" \
	sh -c "[ $rc -eq 1 ] && grep -q 'holds a private key' '$T/both.err'"
{ echo junk; cat "$R/usr/share/bulwark/release-key.pub.pem"; } >"$T/junk.pem"
"$U" --root "$R" --key "$T/junk.pem" verify "$T/good.tar" >/dev/null 2>"$T/junkkey.err"
rc=$?
check "verify refuses a key file with text beside its public key ($(cat "$T/junkkey.err"))" \
	sh -c "[ $rc -eq 1 ] && grep -q 'exactly one PUBLIC KEY block' '$T/junkkey.err'"

# 5. A refusal in JSON.
"$U" --root "$R" --json verify "$T/kernel.tar" >"$T/kernel.json" 2>/dev/null
check "--json: a refusal is ok false with the reason" \
	jq_true '.ok == false and (.error | test("member vmlinuz changed"))' "$T/kernel.json"

# 6. status on a root without the A/B slots (what the installer makes
# today; make check-iso reads it on the installed system): the installed
# release and the release key's digest; refused without either.
# (--fs is not given: its default, /run/bulwark-fs, has no slots here)
if [ -e /run/bulwark-fs/slots ]; then
	echo "# /run/bulwark-fs/slots exists: status without slots not checked"
else
	kfp=$(openssl pkey -in "$T/key.pem" -pubout -outform DER | sha256sum | cut -d' ' -f1)
	"$U" --root "$R" --json status >"$T/st.json" 2>"$T/st.err"
	check "status without slots names the release and the key ($(cat "$T/st.json" "$T/st.err"))" \
		jq_true ".ok == true and .layout == \"single\" and .release.version == \"0.1.0\" and
			.release.commit == \"$C1\" and .release.epoch == 1000 and .key.sha256 == \"$kfp\"" "$T/st.json"
	# --root joined with a slash: with --root / the key's path read
	# //usr/share/bulwark/release-key.pub.pem.
	"$U" --root "$R/" --json status >"$T/st-slash.json" 2>"$T/st-slash.err"
	check "status --root DIR/ names the key DIR/usr/share/... ($(cat "$T/st-slash.json" "$T/st-slash.err"))" \
		jq_true ".ok == true and .key.path == \"$R/usr/share/bulwark/release-key.pub.pem\"" "$T/st-slash.json"
	"$U" --root "$R//" --json status >"$T/st-slash2.json" 2>"$T/st-slash2.err"
	check "status --root DIR// names the key DIR/usr/share/... ($(cat "$T/st-slash2.json" "$T/st-slash2.err"))" \
		jq_true ".ok == true and .key.path == \"$R/usr/share/bulwark/release-key.pub.pem\"" "$T/st-slash2.json"
	# --root / reads this host's release: refused, with its path, only
	# where the host has none.
	if [ ! -e /usr/share/bulwark/release ]; then
		"$U" --root / --json status >"$T/st-root.json" 2>/dev/null
		check "status --root / names /usr/share/bulwark/release ($(cat "$T/st-root.json"))" \
			jq_true '.ok == false and (.error | test("[(]no /usr/share/bulwark/release[)]"))' "$T/st-root.json"
	else
		pass "(skipped: this host has /usr/share/bulwark/release) status --root / names /usr/share/bulwark/release"
	fi
	"$U" --root "$R" status >"$T/st.out" 2>&1
	check "status without slots, as text" grep -q "release: version 0.1.0, commit $C1, epoch 1000" "$T/st.out"
	# A slot named (the kernel's bulwark.slot=, --slot) or a slot
	# option given with no slots/ under /run/bulwark-fs: not a root
	# without slots (an A/B root whose file system is not mounted),
	# refused rather than reported as one.
	echo 'quiet bulwark.slot=a' >"$T/cmdline-a"
	BULWARK_UPDATE_CMDLINE="$T/cmdline-a" "$U" --root "$R" --json status >"$T/st-ka.json" 2>/dev/null
	check "status is refused when the command line names a slot but there are no slots ($(cat "$T/st-ka.json"))" \
		jq_true '.ok == false and (.error | test("bulwark.slot=a, but /run/bulwark-fs has no slots/"))' "$T/st-ka.json"
	"$U" --root "$R" --slot b --json status >"$T/st-sb.json" 2>/dev/null
	check "status is refused with --slot but no slots ($(cat "$T/st-sb.json"))" \
		jq_true '.ok == false and (.error | test("--slot b, but /run/bulwark-fs has no slots/"))' "$T/st-sb.json"
	"$U" --root "$R" --boot "$T" --json status >"$T/st-boot.json" 2>/dev/null
	check "status is refused with --boot but no slots ($(cat "$T/st-boot.json"))" \
		jq_true '.ok == false and (.error | test("--boot and --grubenv are for the A/B slots"))' "$T/st-boot.json"
	"$U" --root "$R" --grubenv "$T/grubenv" --json status >"$T/st-env.json" 2>/dev/null
	check "status is refused with --grubenv but no slots ($(cat "$T/st-env.json"))" \
		jq_true '.ok == false and (.error | test("--boot and --grubenv are for the A/B slots"))' "$T/st-env.json"
	mv "$R/usr/share/bulwark/release" "$T/release"
	"$U" --root "$R" --json status >"$T/st-norel.json" 2>/dev/null
	check "status is refused without the release file" \
		jq_true '.ok == false and (.error | test("installed release is unknown"))' "$T/st-norel.json"
	mv "$T/release" "$R/usr/share/bulwark/release"
	mv "$R/usr/share/bulwark/release-key.pub.pem" "$T/pub.pem"
	"$U" --root "$R" --json status >"$T/st-nokey.json" 2>/dev/null
	check "status is refused without the release key" \
		jq_true '.ok == false and (.error | test("no release key"))' "$T/st-nokey.json"
	cp "$T/key.pem" "$R/usr/share/bulwark/release-key.pub.pem"
	"$U" --root "$R" --json status >"$T/st-priv.json" 2>/dev/null
	check "status is refused when the key file is the private key" \
		jq_true '.ok == false and (.error | test("holds a private key"))' "$T/st-priv.json"
	# The private key, then the public one: openssl reads past the
	# private block, and status once said ok (the key named by its
	# public half).
	cat "$T/key.pem" "$T/pub.pem" >"$R/usr/share/bulwark/release-key.pub.pem"
	"$U" --root "$R" --json status >"$T/st-both.json" 2>/dev/null
	check "status is refused when the key file holds the private key before the public one ($(cat "$T/st-both.json"))" \
		jq_true '.ok == false and (.error | test("holds a private key"))' "$T/st-both.json"
	cat "$T/pub.pem" "$T/pub.pem" >"$R/usr/share/bulwark/release-key.pub.pem"
	"$U" --root "$R" --json status >"$T/st-two.json" 2>/dev/null
	check "status is refused when the key file holds two public keys" \
		jq_true '.ok == false and (.error | test("exactly one PUBLIC KEY block"))' "$T/st-two.json"
	mv "$T/pub.pem" "$R/usr/share/bulwark/release-key.pub.pem"
fi
finish

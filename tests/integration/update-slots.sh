#!/bin/bash
# bulwark-update apply, status, commit and rollback on a directory tree
# (issue 17, offline updates; docs/install.md, "The A/B layout" and
# "Trial boot, health check, commit, rollback"): slot a holds the
# installed release, a bundle of a later commit is unpacked into slot b
# with this site's files, GRUB's environment block says to try b once;
# the test plays GRUB's part (grub.cfg's logic on grub-editenv's block)
# for the trial boot, a commit, a manual rollback, a failed trial that
# boots back into a by itself, and refused applies that leave both
# slots and the block as they were. No QEMU, no TPM (without a LUKS
# root apply skips the provisional token; update-tpm.sh plays the TPM
# steps with stubs).
. "$(dirname "$0")/lib.sh" || exit 99
U="$top_srcdir/appliance/update/bulwark-update"
MK="$top_srcdir/appliance/update/mkbundle.sh"
FS="$T/fs" BOOT="$T/boot" ENV="$T/grubenv"
C1=1111111111111111111111111111111111111111
C2=2222222222222222222222222222222222222222
for t in grub-editenv mksquashfs unsquashfs; do
	command -v "$t" >/dev/null || { echo "SKIP: no $t"; exit 77; }
done

# upd ARG...: bulwark-update on the test's tree.
upd() { "$U" --fs "$FS" --boot "$BOOT" --grubenv "$ENV" "$@"; }
# env NAME: its value in the environment block.
env_of() { grub-editenv "$ENV" list | sed -n "s/^$1=//p"; }
# bundle_of LIVE NAME: $T/NAME.tar, version 0.1.0 of commit C2 built
# from the live directory LIVE (filesystem.squashfs, vmlinuz,
# initrd.img) and signed with the test key.
bundle_of() {
	"$MK" --from "$1" --version 0.1.0 --commit "$C2" --epoch 2000 --key "$T/key.pem" \
		--output "$T/$2.tar" 2>/dev/null
}
# refused_apply NAME WHAT PATTERN: apply of $T/NAME.tar from slot a
# exits 1 and says PATTERN.
refused_apply() {
	local rc
	upd --slot a --no-tpm apply "$T/$1.tar" 2>"$T/$1.err"
	rc=$?
	check "$2 ($(cat "$T/$1.err"))" \
		sh -c "[ $rc -eq 1 ] && grep -q '$3' '$T/$1.err'"
}
# grub_boot: what the fixed grub.cfg does (bulwark-install; docs/install.md),
# its selection logic played in shell (this is not GRUB running it; the
# check "GRUB: ..." below compares the block in bulwark-install with
# grub_cfg_selection, so a change there fails this test until grub_boot
# and that copy follow it): prints the slot it boots: bulwark_good (a
# when it is neither a nor b); "X-trial" when bulwark_next is a or b and
# emptying it in the block succeeded (otherwise bulwark_good's); any
# other bulwark_next emptied and not tried.
grub_boot() {
	local next good
	next=$(env_of bulwark_next) good=$(env_of bulwark_good)
	case "$good" in a|b) ;; *) good=a ;; esac
	case "$next" in
	a|b)
		if grub-editenv "$ENV" set bulwark_next= 2>/dev/null; then echo "$next-trial"; else echo "$good"; fi ;;
	"") echo "$good" ;;
	*) grub-editenv "$ENV" set bulwark_next= 2>/dev/null; echo "$good" ;;
	esac
}
jq_true() { jq -e "$1" "$2" >/dev/null; }
# snapshot: a digest of both slots (each file's bytes, mode, owner,
# group and link target), both kernels and the block.
snapshot() {
	(cd "$T" && find fs/slots boot -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum 2>/dev/null
	 find fs/slots boot -printf '%p %m %U %G %l\n' | LC_ALL=C sort; grub-editenv "$ENV" list) | sha256sum
}

# put ROOT PATH MODE TEXT: a file of a root.
put() {
	mkdir -p "$(dirname "$1/$2")"
	printf '%b' "$4" >"$1/$2"
	chmod "$3" "$1/$2"
}

# The installed slot a: release 0.1.0 of C1, the release key, the
# installer's site files, a console account.
openssl genpkey -algorithm ed25519 -out "$T/key.pem" 2>/dev/null
A="$FS/slots/a"
mkdir -p "$FS/state" "$BOOT/a"
echo old-kernel >"$BOOT/a/vmlinuz"
echo old-initrd >"$BOOT/a/initrd.img"
put "$A" usr/share/bulwark/release 0644 "version 0.1.0\ncommit $C1\nepoch 1000\n"
openssl pkey -in "$T/key.pem" -pubout -out "$A/usr/share/bulwark/release-key.pub.pem"
put "$A" etc/hostname 0644 'site-host\n'
put "$A" etc/crypttab 0644 'root UUID=1234 none luks\n'
put "$A" etc/passwd 0644 'root:x:0:0:root:/root:/bin/bash\n_bulwark:x:998:998::/nonexistent:/usr/sbin/nologin\nbwadmin:x:1000:1000::/home/bwadmin:/usr/sbin/nologin\n'
put "$A" etc/shadow 0640 'root:$y$rootsecret:19700:0:99999:7:::\n_bulwark:!:19700::::::\nbwadmin:$y$adminsecret:19700:1:60:7:::\n'
put "$A" etc/group 0644 'root:x:0:\n_bulwark:x:998:\nbulwark-collect:x:996:bwadmin\nbwadmin:x:1000:\n'
put "$A" etc/bulwark/console.json 0644 '{"idle_timeout": 900}\n'
put "$A" etc/bulwark/audit-volume.key 0400 'audit-key\n'
put "$A" etc/bulwark/packages.allow 0644 '# old image\n'
mkdir -p "$A/etc/systemd/system/getty.target.wants" "$A/etc/systemd/system/multi-user.target.wants"
ln -s /lib/systemd/system/bulwark-console@.service "$A/etc/systemd/system/getty.target.wants/bulwark-console@tty1.service"
ln -s /dev/null "$A/etc/systemd/system/getty@.service"
ln -s /lib/systemd/system/bulwarkd.service "$A/etc/systemd/system/multi-user.target.wants/bulwarkd.service"
# What is not the site's: the old image's own unit link, a first boot's
# leftovers (its provisional key, its answers, the installer's unit).
ln -s /lib/systemd/system/oldimage.service "$A/etc/systemd/system/multi-user.target.wants/oldimage.service"
ln -s /lib/systemd/system/bulwark-install.service "$A/etc/systemd/system/multi-user.target.wants/bulwark-install.service"
put "$A" etc/bulwark/luks-provisional.key 0400 'provisional\n'
put "$A" etc/bulwark/firstboot 0600 'admin_user=bwadmin\n'
grub-editenv "$ENV" create
grub-editenv "$ENV" set bulwark_good=a

# The later build's root (its own passwd with a new system user, its
# packages.allow), squashed, and its bundle.
N="$T/newroot"
put "$N" usr/share/bulwark/release 0644 "version 0.1.0\ncommit $C2\nepoch 2000\n"
cp "$A/usr/share/bulwark/release-key.pub.pem" "$N/usr/share/bulwark/"
put "$N" usr/sbin/bulwarkd 0755 'new daemon\n'
put "$N" etc/hostname 0644 'bulwark\n'
put "$N" etc/passwd 0644 'root:x:0:0:root:/root:/bin/bash\n_bulwark:x:998:998::/nonexistent:/usr/sbin/nologin\n_newsvc:x:997:997::/nonexistent:/usr/sbin/nologin\n'
put "$N" etc/shadow 0640 'root:*:19800:0:99999:7:::\n_bulwark:*:19800::::::\n_newsvc:!:19800::::::\n'
put "$N" etc/group 0644 'root:x:0:\n_bulwark:x:998:\n_newsvc:x:997:\nbulwark-collect:x:996:_bulwark\n'
put "$N" etc/bulwark/packages.allow 0644 '# new image\n'
# Its shared directories: home (state/ has it), and a new one, made in
# state/ from the image's by apply.
put "$N" usr/lib/bulwark/state-dirs 0644 '# shared\nhome\nvar/lib/newsvc\n'
mkdir -p "$N/home"
put "$N" var/lib/newsvc/seed 0600 'seed\n'
chmod 0750 "$N/var/lib/newsvc"
mkdir -p "$FS/state/home" && echo keep >"$FS/state/home/marker"
mkdir -p "$N/etc/systemd/system/multi-user.target.wants"
ln -s /lib/systemd/system/newimage.service "$N/etc/systemd/system/multi-user.target.wants/newimage.service"
mkdir -p "$T/live"
mksquashfs "$N" "$T/live/filesystem.squashfs" -quiet -no-progress -noappend >/dev/null
echo new-kernel >"$T/live/vmlinuz"
echo new-initrd >"$T/live/initrd.img"
bundle_of "$T/live" update || fail "mkbundle.sh makes the bundle"

# 1. Before: slot a runs, committed, b empty.
upd --slot a --json status >"$T/s0.json"
check "status: a running and committed, b empty, no trial" jq_true \
	'.running == "a" and .committed == "a" and .trial_pending == "" and .on_trial == false and .slots.b == null and .slots.a.commit == "1111111111111111111111111111111111111111"' "$T/s0.json"
KFP=$(openssl pkey -pubin -in "$A/usr/share/bulwark/release-key.pub.pem" -outform DER | sha256sum | cut -d' ' -f1)
check "status: the running slot's release key (SHA-256 of its DER form)" jq_true \
	".key.sha256 == \"$KFP\" and .key.path == \"$A/usr/share/bulwark/release-key.pub.pem\"" "$T/s0.json"
# A slot whose key file holds a private key too: status names no key
# (and is not refused); the text says every apply would be.
cp "$A/usr/share/bulwark/release-key.pub.pem" "$T/key.pub.saved"
cat "$T/key.pem" "$T/key.pub.saved" >"$A/usr/share/bulwark/release-key.pub.pem"
upd --slot a --json status >"$T/s0k.json" 2>&1
check "status --json: a key file that holds a private key is no key ($(cat "$T/s0k.json"))" \
	jq_true '.ok == true and .key == null' "$T/s0k.json"
upd --slot a status >"$T/s0k.out" 2>&1
check "status: no readable release key, as text" grep -q '^release key: none readable' "$T/s0k.out"
cp "$T/key.pub.saved" "$A/usr/share/bulwark/release-key.pub.pem"
# A slot's release whose epoch has a leading zero: --json status once
# printed it as the invalid JSON number 0100 (now null).
put "$FS/slots/b" usr/share/bulwark/release 0644 "version 0.0.1\ncommit $C1\nepoch 0100\n"
upd --slot a --json status >"$T/s0z.json" 2>&1
check "status --json: a slot's epoch with a leading zero is null ($(cat "$T/s0z.json"))" \
	jq_true '.slots.b.version == "0.0.1" and .slots.b.epoch == null' "$T/s0z.json"
# A slot's release without a commit line (a tree outside git): the
# epoch once moved into the commit's place ("commit":"1000").
put "$FS/slots/b" usr/share/bulwark/release 0644 "version 0.0.1\nepoch 1000\n"
upd --slot a --json status >"$T/s0c.json" 2>&1
check "status --json: a slot's release without a commit keeps its epoch ($(cat "$T/s0c.json"))" \
	jq_true '.slots.b.commit == "" and .slots.b.epoch == 1000' "$T/s0c.json"
rm -rf "$FS/slots/b"
# A commit in the committed slot writes its missing mark with a journal
# line first, and a second one neither writes nor journals anything.
upd --slot a commit 2>/dev/null
upd --slot a commit 2>/dev/null
check "commit of the committed slot: its mark, journalled once" \
	sh -c "[ -f '$FS/state/update/committed.a' ] && [ \"\$(grep -c 'commit mark slot=a' '$FS/state/update/journal')\" = 1 ]"

# 2. Refused applies change nothing.
before=$(snapshot)
mkdir -p "$T/x" && tar -C "$T/x" -xf "$T/update.tar"
echo evil-kernel >"$T/x/vmlinuz"
tar -C "$T/x" --format=gnu -cf "$T/tampered.tar" bundle.manifest bundle.manifest.sig root.squashfs vmlinuz initrd.img
refused_apply tampered "apply of a tampered bundle is refused" 'member vmlinuz changed'
# A correctly signed bundle whose root is not a squashfs: refused at
# the unpacking, with nothing left behind.
put "$T/bad" filesystem.squashfs 0644 'not a squashfs\n'
cp "$T/live/vmlinuz" "$T/live/initrd.img" "$T/bad/"
bundle_of "$T/bad" badroot
refused_apply badroot "apply of a signed bundle whose root does not unpack is refused" \
	'cannot unpack root.squashfs'
# The medium changes after verify: a `tar` ahead in PATH reads another
# bundle once verify has read the root (its signed manifest, the root a
# FIFO, or a regular file of the same size with other bytes). The copy
# into staging is refused, and does not hang on the FIFO.
realtar=$(command -v tar)
mkdir -p "$T/shim"
cat >"$T/shim/tar" <<EOF
#!/bin/bash
args=()
for a in "\$@"; do
	if [ -e "$T/swapped" ] && [ "\$a" = "$T/update.tar" ]; then a=\$(cat "$T/swapped"); fi
	args+=("\$a")
done
"$realtar" "\${args[@]}"
rc=\$?
case " \$* " in *" -xOf "*" root.squashfs "*) [ -e "$T/swapped" ] || cp "$T/swap-to" "$T/swapped" ;; esac
exit \$rc
EOF
chmod +x "$T/shim/tar"
# A tee that logs the size of each file it wrote: a larger root is cut
# at its signed size plus one byte.
realtee=$(command -v tee)
printf '#!/bin/bash\n"%s" "$@"\nrc=$?\necho "$(stat -c %%s -- "${!#}") ${!#}" >>"%s"\nexit $rc\n' "$realtee" "$T/tee.log" >"$T/shim/tee"
chmod +x "$T/shim/tee"
for kind in fifo same-size larger; do
	rm -rf "$T/e" "$T/swapped" "$T/tee.log" && mkdir -p "$T/e" && tar -C "$T/e" -xf "$T/update.tar"
	if [ "$kind" = fifo ]; then
		rm "$T/e/root.squashfs" && mkfifo "$T/e/root.squashfs"
	elif [ "$kind" = larger ]; then
		head -c 1048576 /dev/zero >>"$T/e/root.squashfs"
	else
		printf '\001' | dd of="$T/e/root.squashfs" bs=1 seek=100 conv=notrunc 2>/dev/null
	fi
	tar -C "$T/e" --format=gnu -cf "$T/swap-$kind.tar" bundle.manifest bundle.manifest.sig root.squashfs vmlinuz initrd.img
	echo "$T/swap-$kind.tar" >"$T/swap-to"
	PATH="$T/shim:$PATH" timeout 120 "$U" --fs "$FS" --boot "$BOOT" --grubenv "$ENV" \
		--slot a --no-tpm apply "$T/update.tar" 2>"$T/swap.err"
	rc=$?
	check "a bundle swapped for one with a $kind root after verify is refused at the copy ($(cat "$T/swap.err"))" \
		sh -c "[ $rc -eq 1 ] && [ -e '$T/swapped' ] && grep -q 'member root.squashfs changed while it was read' '$T/swap.err'"
done
signed=$(awk '$1 == "member" && $2 == "root.squashfs" { print $3 }' "$T/e/bundle.manifest")
check "the larger root was written no further than its signed size ($signed) plus one byte ($(cat "$T/tee.log"))" \
	grep -qx "$((signed + 1)) .*/staging/root.squashfs" "$T/tee.log"
# A slot not synced to disk is not tried: a `sync -f` that fails stops
# apply before bulwark_next is set.
mkdir -p "$T/nosync"
printf '#!/bin/sh\n[ "$1" = -f ] && exit 1\nexec /bin/sync "$@"\n' >"$T/nosync/sync" && chmod +x "$T/nosync/sync"
PATH="$T/nosync:$PATH" upd --slot a --no-tpm apply "$T/update.tar" 2>"$T/nosync.err"
rc=$?
check "apply is refused when the new slot cannot be synced ($(cat "$T/nosync.err"))" \
	sh -c "[ $rc -eq 1 ] && grep -q 'cannot sync slot b.new' '$T/nosync.err' && [ -z \"\$(grub-editenv '$ENV' list | sed -n 's/^bulwark_next=//p')\" ]"
# A new image whose system group has the GID of the site's console
# account's group: refused rather than a group shared by both.
cp -a "$N" "$T/clash"
printf '_clash:x:1000:\n' >>"$T/clash/etc/group"
mkdir -p "$T/clashlive" && cp "$T/live/vmlinuz" "$T/live/initrd.img" "$T/clashlive/"
mksquashfs "$T/clash" "$T/clashlive/filesystem.squashfs" -quiet -no-progress -noappend >/dev/null
bundle_of "$T/clashlive" clash
refused_apply clash "apply is refused when a GID would be given twice" 'same GID'
# The new slot's shared directories: each one needs its mount point in
# the image (its initramfs would stop the boot), a plain path, and the
# list itself.
state_before=$(cd "$FS/state" && find . -path ./update -prune -o -print | LC_ALL=C sort)
sdir_case() { # sdir_case NAME WHAT PATTERN SETUP
	rm -rf "$T/sd" "$T/sdlive" && cp -a "$N" "$T/sd" && (cd "$T/sd" && eval "$4")
	mkdir -p "$T/sdlive" && cp "$T/live/vmlinuz" "$T/live/initrd.img" "$T/sdlive/"
	mksquashfs "$T/sd" "$T/sdlive/filesystem.squashfs" -quiet -no-progress -noappend >/dev/null
	bundle_of "$T/sdlive" "$1"
	refused_apply "$1" "$2" "$3"
}
sdir_case sdnolist "apply is refused for an image without state-dirs" 'has no /usr/lib/bulwark/state-dirs' \
	'rm usr/lib/bulwark/state-dirs'
sdir_case sdnodir "apply is refused for an image without a shared directory's mount point" \
	'has no directory /home for state/home' 'rmdir home'
sdir_case sdlink "apply is refused for an image whose mount point has a link on its path" \
	'has no directory /var/lib/newsvc for state/var/lib/newsvc' 'mv var/lib var/lib2 && ln -s lib2 var/lib'
sdir_case sddots "apply is refused for a state-dirs entry with .." 'not a plain relative path' \
	'echo home/../etc >>usr/lib/bulwark/state-dirs'
sdir_case sdnest "apply is refused for a state-dirs entry under another" \
	'names .var/lib/newsvc/sub. under .var/lib/newsvc.: shared directories must not nest' \
	'mkdir var/lib/newsvc/sub && echo var/lib/newsvc/sub >>usr/lib/bulwark/state-dirs'
check "the refused images made nothing in state/" \
	[ "$state_before" = "$(cd "$FS/state" && find . -path ./update -prune -o -print | LC_ALL=C sort)" ]
# Room for the third root: df's Avail of state/ (the staged payload) and
# of slots/ (the unpacked root) must cover it and the margin; refused
# before anything is written (a df that says 1 MiB free).
mkdir -p "$T/dfsmall"
dfshim() { # dfshim PATTERN: a df that says 1 MiB free for a path matching PATTERN
	printf '#!/bin/sh
for a; do d=$a; done
case "$d" in %s) printf "Avail\\n1048576\\n"; exit 0 ;; esac
exec %s "$@"\n' \
		"$1" "$(command -v df)" >"$T/dfsmall/df"
	chmod +x "$T/dfsmall/df"
}
dfshim '*/state'
PATH="$T/dfsmall:$PATH" upd --slot a --no-tpm apply "$T/update.tar" 2>"$T/dfstate.err"
rc=$?
check "apply is refused when state/ has no room for the payload ($(cat "$T/dfstate.err"))" \
	sh -c "[ $rc -eq 1 ] && grep -q 'not enough free space for the staged payload' '$T/dfstate.err' && [ ! -e '$FS/state/update/staging' ]"
dfshim '*/slots'
PATH="$T/dfsmall:$PATH" upd --slot a --no-tpm apply "$T/update.tar" 2>"$T/dfslots.err"
rc=$?
check "apply is refused when the file system has no room for the unpacked root ($(cat "$T/dfslots.err"))" \
	sh -c "[ $rc -eq 1 ] && grep -q 'not enough free space for slot b unpacked' '$T/dfslots.err' && [ ! -e '$FS/state/update/staging' ] && [ ! -e '$FS/slots/b.new' ] && [ -z \"\$(grub-editenv '$ENV' list | sed -n 's/^bulwark_next=//p')\" ]"
# Inodes for the unpacked root (df's IFree of slots/): a df that says 10
# are free refuses it before it is unpacked.
mkdir -p "$T/dfinodes"
printf '#!/bin/sh
for a; do d=$a; done
case "$1 $d" in --output=itotal,iavail\ */slots) printf "Inodes IFree\\n100000 10\\n"; exit 0 ;; esac
exec %s "$@"\n' "$(command -v df)" >"$T/dfinodes/df"
chmod +x "$T/dfinodes/df"
PATH="$T/dfinodes:$PATH" upd --slot a --no-tpm apply "$T/update.tar" 2>"$T/dfinodes.err"
rc=$?
check "apply is refused when the file system has too few free inodes for the unpacked root ($(cat "$T/dfinodes.err"))" \
	sh -c "[ $rc -eq 1 ] && grep -q 'not enough free inodes for slot b unpacked: $FS/slots has 10 free' '$T/dfinodes.err' && [ ! -e '$FS/slots/b.new' ] && [ -z \"\$(grub-editenv '$ENV' list | sed -n 's/^bulwark_next=//p')\" ]"
# A state/ too small for the payload: a staged copy cut short is
# refused (it once made b a 0-byte kernel and set bulwark_next). As root
# an 8 KiB tmpfs (and a df that says it has room, past apply's own
# check above); otherwise a `tee` that writes nothing and fails.
mkdir -p "$T/dfbig"
printf '#!/bin/sh\nprintf "Avail\\n1099511627776\\n"\n' >"$T/dfbig/df" && chmod +x "$T/dfbig/df"
mkdir -p "$T/notee"
printf '#!/bin/sh\nshift $#\ncat\nexit 1\n' >"$T/notee/tee" && chmod +x "$T/notee/tee"
fullpath="$T/dfbig:$PATH"
if [ "$(id -u)" -eq 0 ] && mount -t tmpfs -o size=8k,mode=0755 tmpfs "$FS/state" 2>/dev/null; then
	BW_UMOUNTS="$BW_UMOUNTS $FS/state" full="an 8 KiB tmpfs"
else
	fullpath="$T/notee:$fullpath" full="a tee that fails"
fi
PATH="$fullpath" upd --slot a --no-tpm apply "$T/update.tar" 2>"$T/full.err"
rc=$?
mountpoint -q "$FS/state" && umount "$FS/state"
check "apply is refused when state/ is full ($full: $(cat "$T/full.err"))" \
	sh -c "[ $rc -eq 1 ] && grep -q 'cannot stage member' '$T/full.err' && [ -z \"\$(grub-editenv '$ENV' list | sed -n 's/^bulwark_next=//p')\" ]"
# A merged account file that cannot be written into the new slot (a
# `cat` that fails writing into b.new/etc): refused, not a slot with
# the image's accounts only.
mkdir -p "$T/nocat"
printf '#!/bin/sh\ncase "$(readlink /proc/$$/fd/1)" in */slots/b.new/etc/*) exit 1 ;; esac\nexec %s "$@"\n' "$(command -v cat)" >"$T/nocat/cat"
chmod +x "$T/nocat/cat"
PATH="$T/nocat:$PATH" upd --slot a --no-tpm apply "$T/update.tar" 2>"$T/nocat.err"
rc=$?
check "apply is refused when a merged account file cannot be written ($(cat "$T/nocat.err"))" \
	sh -c "[ $rc -eq 1 ] && grep -q 'cannot carry this site' '$T/nocat.err'"
# apply verifies with the running slot's key only: a --key (perhaps from
# the bundle's own medium) is a usage error.
upd --slot a --no-tpm --key "$T/key.pem" apply "$T/update.tar" 2>"$T/key.err"
rc=$?
check "apply with --key is refused ($(cat "$T/key.err"))" \
	sh -c "[ $rc -eq 2 ] && grep -q 'apply takes no --key' '$T/key.err'"
# No record, no change: an apply whose journal line cannot be written.
mv "$FS/state/update/journal" "$T/journal" && mkdir "$FS/state/update/journal"
upd --slot a --no-tpm apply "$T/update.tar" 2>"$T/nojournal-apply.err"
rc=$?
rmdir "$FS/state/update/journal" && mv "$T/journal" "$FS/state/update/journal"
check "apply is refused when its journal line cannot be written ($(cat "$T/nojournal-apply.err"))" \
	sh -c "[ $rc -eq 1 ] && grep -q 'cannot write the journal' '$T/nojournal-apply.err'"
check "the refused applies left both slots, the kernels and the block as they were" \
	[ "$before" = "$(snapshot)" ]
check "and no half-made slot or staging directory" \
	sh -c "[ ! -e '$FS/slots/b.new' ] && [ ! -e '$BOOT/b.new' ] && [ ! -e '$FS/state/update/staging' ]"
# A tree whose path has a blank: refused before anything (the removal
# of a half-made slot once split it into words and removed $T/my).
mkdir -p "$T/my" "$T/my fs/slots" "$T/my fs/state"
cp -a "$A" "$T/my fs/slots/"
echo keep >"$T/my/keep"
(cd "$T" && "$U" --fs "$T/my fs" --boot "$BOOT" --grubenv "$ENV" --slot a --no-tpm apply "$T/badroot.tar" 2>"$T/blank.err")
rc=$?
check "an --fs with a blank is refused, and nothing outside it removed ($(cat "$T/blank.err"))" \
	sh -c "[ $rc -eq 2 ] && [ -f '$T/my/keep' ]"
upd --fs fs --slot a status >/dev/null 2>&1
check "a relative --fs is refused" [ $? -eq 2 ]
# No running slot known (no bulwark.slot= on the command line, no
# --slot): every slot command is refused, in text and JSON.
echo 'quiet' >"$T/cmdline-none"
BULWARK_UPDATE_CMDLINE="$T/cmdline-none" upd status >"$T/noslot.out" 2>"$T/noslot.err"
rc=$?
check "status without a known running slot is refused ($(cat "$T/noslot.err"))" \
	sh -c "[ $rc -eq 1 ] && grep -q 'running slot is unknown' '$T/noslot.err' && [ ! -s '$T/noslot.out' ]"
BULWARK_UPDATE_CMDLINE="$T/cmdline-none" upd --json status >"$T/noslot.json" 2>/dev/null
rc=$?
check "--json status: one object, ok false" sh -c "[ $rc -eq 1 ] && jq -e '.ok == false' '$T/noslot.json' >/dev/null"
BULWARK_UPDATE_CMDLINE="$T/cmdline-none" upd --json rollback >"$T/noslot-rb.json" 2>/dev/null
rc=$?
check "--json rollback: refused, ok false" sh -c "[ $rc -eq 1 ] && jq -e '.ok == false' '$T/noslot-rb.json' >/dev/null"
# Without --fs, on a booted slot (a findmnt that says / is slots/a of
# an ext4 block device, an id that says root): an unshare that fails
# (EPERM) or is missing is refused before the file system is mounted
# or /run/bulwark-fs made, with --json's object (the exec of unshare
# once left a --json caller with none).
blk=$(find /dev -maxdepth 1 -type b 2>/dev/null | head -n 1)
if [ -n "$blk" ] && [ ! -e /run/bulwark-fs ]; then
	mkdir -p "$T/ns" "$T/nons"
	printf '#!/bin/sh\ncase "$*" in *FSROOT*) echo /slots/a ;; *SOURCE*) echo %s ;; *FSTYPE*) echo ext4 ;; *) exit 1 ;; esac\n' "$blk" >"$T/ns/findmnt"
	printf '#!/bin/sh\necho 0\n' >"$T/ns/id"
	printf '#!/bin/sh\necho "unshare: unshare failed: Operation not permitted" >&2\nexit 1\n' >"$T/ns/unshare"
	chmod +x "$T/ns/findmnt" "$T/ns/id" "$T/ns/unshare"
	PATH="$T/ns:$PATH" "$U" --slot a --json status >"$T/ns.json" 2>"$T/ns.err"
	rc=$?
	check "--json status: an unshare that fails is refused with one object, ok false ($(cat "$T/ns.json"))" \
		sh -c "[ $rc -eq 1 ] && jq -e '.ok == false and (.error | test(\"unshare --mount fails\"))' '$T/ns.json' >/dev/null && [ ! -e /run/bulwark-fs ]"
	# A PATH of every command but unshare, with the shims (links to the
	# rest; never a link named findmnt or id, which cp would follow and
	# overwrite the machine's own).
	for f in /usr/local/sbin/* /usr/local/bin/* /usr/sbin/* /usr/bin/* /sbin/* /bin/*; do
		case "${f##*/}" in unshare|findmnt|id) continue ;; esac
		[ -e "$f" ] && ln -sf "$f" "$T/nons/"
	done
	cp "$T/ns/findmnt" "$T/ns/id" "$T/nons/"
	PATH="$T/nons" "$U" --slot a --json status >"$T/nons.json" 2>"$T/nons.err"
	rc=$?
	check "--json status: no unshare is refused with one object, ok false ($(cat "$T/nons.json"))" \
		sh -c "[ $rc -eq 1 ] && jq -e '.ok == false and (.error | test(\"no unshare\"))' '$T/nons.json' >/dev/null && [ ! -e /run/bulwark-fs ]"
else
	echo "skip: open_fs's unshare checks (no block device, or /run/bulwark-fs exists on this machine)"
fi

# 3. Apply: slot b holds the new root with this site's files; GRUB
# tries it once. A half-made slot from a power cut is replaced. Without
# --no-tpm and without a LUKS root (crypttab's names no LUKS volume
# here), the provisional token is skipped with a journal line.
mkdir -p "$FS/slots/b.new/junk"
upd --slot a --json apply "$T/update.tar" >"$T/apply.json" 2>"$T/apply.err"
check "apply succeeds ($(cat "$T/apply.err"))" jq_true \
	".ok == true and .slot == \"b\" and .commit == \"$C2\" and .from.slot == \"a\"" "$T/apply.json"
check "apply without a LUKS root skips the provisional token, journalled and on the console" \
	sh -c "grep -q 'provisional skipped slot=b reason=/dev/disk/by-uuid/1234 is not a LUKS volume' '$FS/state/update/journal' && grep -q '^bulwark-update: provisional: skipped: ' '$T/apply.err' && grep -q '^bulwark-update: apply: slot b holds version 0.1.0' '$T/apply.err'"
B="$FS/slots/b"
check "slot b is the new root" grep -q "commit $C2" "$B/usr/share/bulwark/release"
check "slot b's kernel and initramfs are the bundle's" \
	sh -c "cmp -s '$BOOT/b/vmlinuz' '$T/live/vmlinuz' && cmp -s '$BOOT/b/initrd.img' '$T/live/initrd.img'"
check "slot b's kernel and initramfs are 0644, as Debian ships a kernel" \
	[ "$(stat -c %a "$BOOT/b/vmlinuz") $(stat -c %a "$BOOT/b/initrd.img")" = "644 644" ]
check "the site's host name, crypttab and console configuration are carried" \
	sh -c "grep -qx site-host '$B/etc/hostname' && cmp -s '$A/etc/crypttab' '$B/etc/crypttab' && cmp -s '$A/etc/bulwark/console.json' '$B/etc/bulwark/console.json'"
check "the audit volume's key is carried with its mode" \
	[ "$(stat -c %a "$B/etc/bulwark/audit-volume.key")" = 400 ]
check "the image's packages.allow is the new image's" grep -q 'new image' "$B/etc/bulwark/packages.allow"
check "the console unit's enablement, getty's mask and bulwarkd's enablement are carried" \
	sh -c "[ -L '$B/etc/systemd/system/getty.target.wants/bulwark-console@tty1.service' ] && [ \"\$(readlink '$B/etc/systemd/system/getty@.service')\" = /dev/null ] && [ -L '$B/etc/systemd/system/multi-user.target.wants/bulwarkd.service' ]"
check "the new image's unit link is kept, the old image's and the installer's are not carried" \
	sh -c "[ -L '$B/etc/systemd/system/multi-user.target.wants/newimage.service' ] && [ ! -L '$B/etc/systemd/system/multi-user.target.wants/oldimage.service' ] && [ ! -L '$B/etc/systemd/system/multi-user.target.wants/bulwark-install.service' ]"
check "first boot's provisional key and answers are not carried" \
	sh -c "[ ! -e '$B/etc/bulwark/luks-provisional.key' ] && [ ! -e '$B/etc/bulwark/firstboot' ]"
check "accounts: the new image's system user and the site's console account" \
	sh -c "grep -q '^_newsvc:x:997:' '$B/etc/passwd' && grep -q '^bwadmin:x:1000:' '$B/etc/passwd' && grep -q '^bwadmin:x:1000:' '$B/etc/group'"
check "group members: the image's and the site's" grep -qx 'bulwark-collect:x:996:_bulwark,bwadmin' "$B/etc/group"
check "shadow: the site's passwords (root's and the admin's), the new user's entry" \
	sh -c "grep -q '^root:\\\$y\\\$rootsecret:' '$B/etc/shadow' && grep -q '^bwadmin:\\\$y\\\$adminsecret:' '$B/etc/shadow' && grep -q '^_newsvc:!:' '$B/etc/shadow'"
check "shadow: a system user's entry is the new image's" grep -q '^_bulwark:\*:19800:' "$B/etc/shadow"
check "slot a is untouched" grep -q "commit $C1" "$A/usr/share/bulwark/release"
check "the new slot's new shared directory is made in state/ from its image (its file, mode 0750), an empty mount point left in the slot" \
	sh -c "grep -qx seed '$FS/state/var/lib/newsvc/seed' && [ \"\$(stat -c %a '$FS/state/var/lib/newsvc') \$(stat -c %a '$B/var/lib/newsvc')\" = '750 750' ] && [ -z \"\$(ls -A '$B/var/lib/newsvc')\" ]"
check "a shared directory state/ has is kept as it is" grep -qx keep "$FS/state/home/marker"
check "the new shared directory journalled before its move and after ($(grep -o 'state_dir=.*' "$FS/state/update/journal" | tr '\n' ';'))" \
	sh -c "grep -o 'state_dir=.*' '$FS/state/update/journal' | tr '\n' ';' | grep -qx \"state_dir=var/lib/newsvc begin (new, from slot b's image);state_dir=var/lib/newsvc done;\""
check "no half-made slot remains" [ ! -e "$FS/slots/b.new" ]
check "the block: b to try once, a still committed" \
	[ "$(env_of bulwark_next) $(env_of bulwark_good)" = "b a" ]
upd --slot a --no-tpm apply "$T/update.tar" 2>"$T/again.err"
rc=$?
check "a second apply while the trial is pending is refused" \
	sh -c "[ $rc -eq 1 ] && grep -q 'trial boot of slot b is pending' '$T/again.err'"

# 4. The trial boot, then the commit.
check "GRUB boots b's trial entry and empties bulwark_next" [ "$(grub_boot)" = b-trial ]
upd --slot b --json status >"$T/s1.json"
check "status in the trial: b running, on trial, a committed" jq_true \
	'.running == "b" and .on_trial == true and .committed == "a" and .trial_pending == ""' "$T/s1.json"
upd --slot b --no-tpm apply "$T/update.tar" 2>"$T/trial.err"
rc=$?
check "apply during an uncommitted trial is refused" \
	sh -c "[ $rc -eq 1 ] && grep -q 'on trial' '$T/trial.err'"
# A --slot that is not the running slot of the command line: apply would
# replace slot b, the running root.
echo 'quiet bulwark.slot=b bulwark.trial=1' >"$T/cmdline-b"
BULWARK_UPDATE_CMDLINE="$T/cmdline-b" upd --slot a --no-tpm apply "$T/update.tar" 2>"$T/wrong.err"
rc=$?
check "--slot a while the command line says b is refused ($(cat "$T/wrong.err"))" \
	sh -c "[ $rc -eq 1 ] && grep -q 'kernel command line says bulwark.slot=b' '$T/wrong.err' && [ -f '$B/usr/sbin/bulwarkd' ]"
BULWARK_UPDATE_CMDLINE="$T/cmdline-b" upd --json status >"$T/s1c.json"
check "status takes the running slot from the command line" jq_true '.running == "b"' "$T/s1c.json"
# BULWARK_UPDATE_CMDLINE cannot override a real bulwark.slot=: with
# /proc/cmdline saying slot a (a file bound over it in a mount namespace
# of its own), one that says b is refused, and one that names no slot
# leaves a (skipped without unshare or as another user than root).
echo 'quiet bulwark.slot=a' >"$T/cmdline-a"
if [ "$(id -u)" -eq 0 ] && unshare -m true 2>/dev/null; then
	ns() { unshare -m sh -c 'mount --bind "$1" /proc/cmdline && shift && exec "$@"' sh "$T/cmdline-a" "$@"; }
	BULWARK_UPDATE_CMDLINE="$T/cmdline-b" ns "$U" --fs "$FS" --boot "$BOOT" --grubenv "$ENV" --json status >"$T/ovr.json" 2>"$T/ovr.err"
	rc=$?
	check "an override that disagrees with /proc/cmdline is refused ($(cat "$T/ovr.err"))" \
		sh -c "[ $rc -eq 1 ] && grep -q '/proc/cmdline says bulwark.slot=a' '$T/ovr.err'"
	BULWARK_UPDATE_CMDLINE="$T/cmdline-none" ns "$U" --fs "$FS" --boot "$BOOT" --grubenv "$ENV" --json status >"$T/ovr2.json" 2>/dev/null
	check "an override naming no slot leaves /proc/cmdline's" jq_true '.running == "a"' "$T/ovr2.json"
else
	echo "skip: no mount namespace for a /proc/cmdline naming a slot"
fi
# No record, no change: a journal that cannot be written refuses the
# commit, and so does another command holding the lock.
mv "$FS/state/update/journal" "$T/journal" && mkdir "$FS/state/update/journal"
upd --slot b commit 2>"$T/nojournal.err"
rc=$?
check "commit is refused when its journal line cannot be written ($(cat "$T/nojournal.err"))" \
	sh -c "[ $rc -eq 1 ] && grep -q 'cannot write the journal' '$T/nojournal.err' && [ \"\$(grub-editenv '$ENV' list | sed -n 's/^bulwark_good=//p')\" = a ]"
rmdir "$FS/state/update/journal" && mv "$T/journal" "$FS/state/update/journal"
exec 8>>"$FS/state/update/lock"
flock 8
upd --slot b commit 2>"$T/locked.err"
rc=$?
exec 8>&-
check "commit is refused while another holds the lock ($(cat "$T/locked.err"))" \
	sh -c "[ $rc -eq 1 ] && grep -q 'another apply, commit or rollback is running' '$T/locked.err' && [ \"\$(grub-editenv '$ENV' list | sed -n 's/^bulwark_good=//p')\" = a ]"
# A block that cannot be written: the commit is refused and slot b gets
# no committed mark (it was written first, and a rollback from a would
# then have committed b).
mkdir -p "$T/noenv"
printf '#!/bin/sh\n[ "$2" = set ] && exit 1\nexec %s "$@"\n' "$(command -v grub-editenv)" >"$T/noenv/grub-editenv"
chmod +x "$T/noenv/grub-editenv"
PATH="$T/noenv:$PATH" upd --slot b commit 2>"$T/noenv.err"
rc=$?
check "commit is refused when the block cannot be written, and b gets no mark ($(cat "$T/noenv.err"))" \
	sh -c "[ $rc -eq 1 ] && grep -q 'cannot write GRUB' '$T/noenv.err' && [ ! -e '$FS/state/update/committed.b' ] && [ \"\$(grub-editenv '$ENV' list | sed -n 's/^bulwark_good=//p')\" = a ]"
upd --slot b commit >/dev/null 2>&1
check "commit in the trial makes b the committed slot" [ "$(env_of bulwark_good)" = b ]
check "the next boot is b's normal entry" [ "$(grub_boot)" = b ]

# 5. A manual rollback to a, which still holds the old release.
mv "$FS/state/update/journal" "$T/journal" && mkdir "$FS/state/update/journal"
before=$(snapshot)
upd --slot b rollback 2>"$T/nojournal-rb.err"
rc=$?
rmdir "$FS/state/update/journal" && mv "$T/journal" "$FS/state/update/journal"
check "rollback is refused when its journal line cannot be written, slots and block unchanged ($(cat "$T/nojournal-rb.err"))" \
	sh -c "[ $rc -eq 1 ] && grep -q 'cannot write the journal' '$T/nojournal-rb.err' && [ '$before' = '$(snapshot)' ]"
upd --slot b rollback >"$T/rb.out"
check "rollback makes a the committed slot ($(cat "$T/rb.out"))" [ "$(env_of bulwark_good)" = a ]
check "the next boot is a" [ "$(grub_boot)" = a ]
upd --slot a --no-tpm apply "$T/badroot.tar" 2>/dev/null
check "an apply refused before it replaces slot b leaves b one to roll back to" \
	[ -f "$FS/state/update/committed.b" ]

# 6. A failed trial: apply again from a (b is replaced), the trial boot
# does not commit (its health check failed), and the next boot is a.
upd --slot a --no-tpm apply "$T/update.tar" >/dev/null 2>&1
check "apply from a again" [ "$(env_of bulwark_next)" = b ]
check "GRUB tries b" [ "$(grub_boot)" = b-trial ]
check "without a commit, the boot after the trial returns to a by itself" [ "$(grub_boot)" = a ]
upd --slot a --json status >"$T/s2.json"
check "status after the failed trial: a running and committed, b holds the new release" jq_true \
	".running == \"a\" and .committed == \"a\" and .on_trial == false and .slots.b.commit == \"$C2\"" "$T/s2.json"
upd --slot a rollback 2>"$T/rbfail.err"
rc=$?
check "rollback to b, whose trial failed, is refused ($(cat "$T/rbfail.err"))" \
	sh -c "[ $rc -eq 1 ] && grep -q 'slot b is not a committed slot' '$T/rbfail.err' && [ \"\$(grub-editenv '$ENV' list | sed -n 's/^bulwark_good=//p')\" = a ]"

# 7. A pending trial cancelled before the reboot.
grub-editenv "$ENV" set bulwark_next=b
upd --slot a rollback >/dev/null
check "rollback cancels a pending trial" [ -z "$(env_of bulwark_next)" ]
upd --slot a rollback 2>"$T/rbagain.err"
rc=$?
check "a second rollback does not commit b, never booted since the apply" \
	sh -c "[ $rc -eq 1 ] && grep -q 'slot b is not a committed slot' '$T/rbagain.err' && [ \"\$(grub-editenv '$ENV' list | sed -n 's/^bulwark_good=//p')\" = a ]"

# The selection block of grub.cfg as bulwark-install writes it (from
# load_env to the end of its first heredoc), the logic grub_boot plays.
grub_cfg_selection() {
	cat <<'EOF'
load_env --skip-sig bulwark_good bulwark_next
set default="${bulwark_good}"
if [ "${default}" != a -a "${default}" != b ]; then set default=a; fi
set fallback="${default}"
if [ "${bulwark_next}" = a -o "${bulwark_next}" = b ]; then
	set bulwark_trial="${bulwark_next}"
	set bulwark_next=
	if save_env bulwark_next; then
		set default="${bulwark_trial}-trial"
	fi
elif [ -n "${bulwark_next}" ]; then
	set bulwark_next=
	save_env bulwark_next
fi
EOF
}
sed -n '/^load_env --skip-sig/,/^GRUB$/p' "$top_srcdir/appliance/iso/installer/bulwark-install" | sed '$d' >"$T/grub-selection"
grub_cfg_selection | diff -u - "$T/grub-selection" >"$T/grub-selection.diff"
check "GRUB: bulwark-install's grub.cfg selects the slot as grub_boot plays it (the stored copy; on a change, update grub_boot and grub_cfg_selection: $(cat "$T/grub-selection.diff"))" \
	sh -c "[ -s '$T/grub-selection' ] && [ ! -s '$T/grub-selection.diff' ]"
# GRUB's checks (grub.cfg): a bulwark_next other than a or b is emptied
# and not tried; a trial whose bulwark_next cannot be emptied is not
# booted (it would be tried at every boot); an unknown bulwark_good
# boots a.
grub-editenv "$ENV" set bulwark_next=c
r=$(grub_boot)
check "GRUB: bulwark_next=c is not tried (boots $r) and is emptied" sh -c "[ '$r' = a ] && [ -z \"\$(grub-editenv '$ENV' list | sed -n 's/^bulwark_next=//p')\" ]"
grub-editenv "$ENV" set bulwark_next=b
r=$(PATH="$T/noenv:$PATH" grub_boot)
check "GRUB: a trial whose bulwark_next cannot be emptied is not booted (boots $r)" [ "$r" = a ]
upd --slot a rollback >/dev/null
grub-editenv "$ENV" set bulwark_good=x
r=$(grub_boot)
check "GRUB: bulwark_good=x boots a ($r)" [ "$r" = a ]
grub-editenv "$ENV" set bulwark_good=a

# 8. The updater's journal: each step.
for e in "apply begin slot=b version=0.1.0 commit=$C2" "apply done slot=b" \
	"commit begin slot=b replaces=a" "commit done slot=b" "rollback begin from=b to=a" \
	"rollback done from=b committed=a" "rollback done cancelled_trial=b" \
	"refused command=apply bundle=$T/update.tar reason=slot b is on trial" \
	"refused command=rollback reason=slot b is not a committed slot"; do
	check "journal: $e" grep -q "$e" "$FS/state/update/journal"
done
finish

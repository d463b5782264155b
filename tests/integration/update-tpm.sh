#!/bin/bash
# bulwark-update's TPM steps and its health check (issue 17, stage 5;
# docs/install.md, "TPM sealing across an update" and "Trial boot,
# health check, commit, rollback") on a directory tree, with stubs in
# PATH for cryptsetup, systemd-cryptenroll (a LUKS2 header's tokens and
# keyslots kept in files), systemctl, openssl s_client (bulwarkd's
# /healthz) and the bulwark client (the local node): the exact commands
# and their order at apply (the provisional PCR 7 token), in a trial
# whose health check fails (the reason journalled, no commit) and at the
# next boot of the committed slot (the provisional token removed, the
# rollback journalled), in a trial that passes (the node Trusted by an
# attestation of this boot, the commit) and at the first normal boot
# after it
# (sealed to 7+8+9, the provisional token and key removed, first boot's
# token recorded as the other slot's), and at a second update back into
# the first slot (that slot's earlier token removed, the other kept).
# Each step's console line `bulwark-update: STEP: ...`. Then (section
# 8, skipped without them) the real cryptsetup and systemd-cryptenroll
# on a LUKS2 loop image with swtpm.
. "$(dirname "$0")/lib.sh" || exit 99
U="$top_srcdir/appliance/update/bulwark-update"
MK="$top_srcdir/appliance/update/mkbundle.sh"
FS="$T/fs" BOOT="$T/boot" ENV="$T/grubenv" S="$T/stub"
C1=1111111111111111111111111111111111111111
C2=2222222222222222222222222222222222222222
C3=3333333333333333333333333333333333333333
C4=4444444444444444444444444444444444444444
for t in grub-editenv mksquashfs unsquashfs jq; do
	command -v "$t" >/dev/null || { echo "SKIP: no $t"; exit 77; }
done
OPENSSL=$(command -v openssl)

# The stubs: every call logged to $S/log; the header's tokens in
# $S/tokens ("TOKEN KEYSLOT PCRS"), its keyslots in $S/slots ("KEYSLOT
# WHAT": recovery, tpm, or key:CONTENT for a key file's keyslot, which
# luksRemoveKey finds by the key's content, as cryptsetup does: a leaked
# keyslot stays leaked), numbers never reused ($S/next), or, with
# "lowest" in $S/next, the lowest free id, as real LUKS2 gives.
mkdir -p "$S/bin"
# newid FILE (in the stubs): the next number, for a line of FILE.
cat >"$S/newid" <<EOF
newid() {
	local n
	n=\$(cat "\$S/next")
	if [ "\$n" = lowest ]; then
		n=0
		while grep -q "^\$n " "\$1"; do n=\$((n + 1)); done
	else
		echo \$((n + 1)) >"\$S/next"
	fi
	echo "\$n"
}
EOF
cat >"$S/bin/cryptsetup" <<EOF
#!/bin/bash
S=$S
. "\$S/newid"
echo "cryptsetup \$*" >>"\$S/log"
case "\$*" in
"isLuks /dev/disk/by-uuid/1234") exit 0 ;;
"luksDump --dump-json-metadata /dev/disk/by-uuid/1234")
	awk 'BEGIN { printf "{\"keyslots\":{" }
		FILENAME ~ /slots\$/ { printf "%s\"%s\":{\"type\":\"luks2\"}", (m++ ? "," : ""), \$1; next }
		!t++ { printf "},\"tokens\":{" }
		{ p = \$3; gsub(/\+/, ",", p); printf "%s\"%s\":{\"type\":\"systemd-tpm2\",\"keyslots\":[%s],\"tpm2-pcrs\":[%s]}", (n++ ? "," : ""), \$1, (\$2 == "-" ? "" : "\"" \$2 "\""), p }
		END { if (!t) printf "},\"tokens\":{"; print "}}" }' "\$S/slots" "\$S/tokens"; exit 0 ;;
"luksAddKey --token-only --token-type systemd-tpm2 "*)
	[ -f "\${@: -1}" ] || exit 1
	k=\$(newid "\$S/slots"); echo "\$k key:\$(cat "\${@: -1}")" >>"\$S/slots"; exit 0 ;;
"token remove --token-id "*)
	grep -q "^\$4 " "\$S/tokens" || exit 1
	sed -i "/^\$4 /d" "\$S/tokens"; exit 0 ;;
"-q luksKillSlot /dev/disk/by-uuid/1234 "*)
	grep -q "^\$4 " "\$S/slots" || exit 1
	# As cryptsetup does: the keyslot unassigned from its tokens.
	sed -i "/^\$4 /d" "\$S/slots"; sed -i "s/^\([0-9]*\) \$4 /\1 - /" "\$S/tokens"; exit 0 ;;
"luksRemoveKey /dev/disk/by-uuid/1234 "*)
	[ -f "\$3" ] || exit 1
	c=\$(cat "\$3")
	grep -q " key:\$c\\\$" "\$S/slots" || exit 1
	sed -i "/ key:\$c\\\$/d" "\$S/slots"; exit 0 ;;
esac
exit 1
EOF
cat >"$S/bin/systemd-cryptenroll" <<EOF
#!/bin/bash
S=$S
. "\$S/newid"
echo "systemd-cryptenroll \$*" >>"\$S/log"
[ "\$2" = --tpm2-device=auto ] && [ "\$4" = /dev/disk/by-uuid/1234 ] || exit 1
key=\${1#--unlock-key-file=}
[ -f "\$key" ] && grep -q " key:\$(cat "\$key")\\\$" "\$S/slots" || exit 1
t=\$(newid "\$S/tokens") k=\$(newid "\$S/slots")
echo "\$t \$k \${3#--tpm2-pcrs=}" >>"\$S/tokens"
echo "\$k tpm" >>"\$S/slots"
EOF
cat >"$S/bin/systemctl" <<EOF
#!/bin/sh
echo "systemctl \$*" >>"$S/log"
EOF
# openssl s_client answers 200 while $S/healthy exists, then exits 1 as
# the real one does after bulwarkd's answer ("unexpected eof while
# reading": bulwarkd closes without a TLS close_notify; seen 2026-12-07,
# where bulwark-update's pipefail took every 200 for a failure);
# anything else is the real openssl.
cat >"$S/bin/openssl" <<EOF
#!/bin/sh
if [ "\$1" = s_client ]; then
	cat >/dev/null
	[ -e "$S/healthy" ] || exit 1
	printf 'HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n{"status":"ok"}\n'
	exit 1
fi
exec $OPENSSL "\$@"
EOF
# bulwark: the local node n1, its status $S/node.json.
cat >"$S/bin/bulwark" <<EOF
#!/bin/sh
echo "bulwark \$*" >>"$S/log"
case "\$3 \$4 \$5" in
"get nodes -o") echo '{"items":[{"metadata":{"name":"n1","labels":{"bulwark.io/mode":"all-in-one"}}}]}' ;;
"get node n1") sed "s/__NOW__/\$(date +%s)/" "$S/node.json" ;;
*) exit 1 ;;
esac
EOF
chmod +x "$S/bin/"*
# trusted [UNIX]: the node Trusted, last attested at UNIX (default: at
# each read, the time then: after this boot began, and attested again
# by the next poll of the health check, 2 s later).
trusted() { printf '{"status":{"attestation":"Trusted","last_attested_unix":%s}}\n' "${1:-__NOW__}" >"$S/node.json"; }
# First boot's token 0 (keyslot 1, PCRs 7+8+9); the recovery key's keyslot 0.
echo "0 1 7+8+9" >"$S/tokens"
printf '0 recovery\n1 tpm\n' >"$S/slots"
echo 2 >"$S/next"

# tupd ARG...: bulwark-update on the test's tree with the stubs (after
# XPATH's), a TPM device (any character device does) and bulwarkd's data
# directory $T/bwd.
tupd() {
	PATH="${XPATH:+$XPATH:}$S/bin:$PATH" BULWARK_UPDATE_TPMDEV=/dev/null BULWARK_UPDATE_BWD_DATA="$T/bwd" \
		"$U" --fs "$FS" --boot "$BOOT" --grubenv "$ENV" "$@"
}
env_of() { grub-editenv "$ENV" list | sed -n "s/^$1=//p"; }
# boot: GRUB's choice (update-slots.sh's grub_boot, in short).
boot() {
	local next good
	next=$(env_of bulwark_next) good=$(env_of bulwark_good)
	if [ -n "$next" ]; then grub-editenv "$ENV" set bulwark_next=; echo "$next"; else echo "$good"; fi
}
# calls: the stub log since the last mark, without the header reads.
mark() { : >"$S/log"; }
calls() { grep -v -e 'luksDump' -e 'isLuks' -e '^bulwark .* get ' "$S/log"; }
put() {
	mkdir -p "$(dirname "$1/$2")"
	printf '%b' "$4" >"$1/$2"
	chmod "$3" "$1/$2"
}
jq_true() { jq -e "$1" "$2" >/dev/null; }
KEY="$FS/state/update/provisional.key"
mkdir -p "$T/bwd"
DEV=/dev/disk/by-uuid/1234

openssl genpkey -algorithm ed25519 -out "$T/key.pem" 2>/dev/null
A="$FS/slots/a"
mkdir -p "$FS/state" "$BOOT/a"
echo old-kernel >"$BOOT/a/vmlinuz"
put "$A" usr/share/bulwark/release 0644 "version 0.1.0\ncommit $C1\nepoch 1000\n"
openssl pkey -in "$T/key.pem" -pubout -out "$A/usr/share/bulwark/release-key.pub.pem"
put "$A" etc/crypttab 0644 'root UUID=1234 none luks\n'
put "$A" etc/bulwark/update.conf 0644 'health_timeout=3\n'
grub-editenv "$ENV" create
grub-editenv "$ENV" set bulwark_good=a
# newroot COMMIT EPOCH NAME: $T/NAME.tar, a bundle of a root of COMMIT.
newroot() {
	local N="$T/root-$3"
	put "$N" usr/share/bulwark/release 0644 "version 0.1.0\ncommit $1\nepoch $2\n"
	cp "$A/usr/share/bulwark/release-key.pub.pem" "$N/usr/share/bulwark/"
	put "$N" usr/lib/bulwark/state-dirs 0644 '# none\n'
	put "$N" etc/passwd 0644 'root:x:0:0:root:/root:/bin/bash\n'
	mkdir -p "$T/live-$3"
	mksquashfs "$N" "$T/live-$3/filesystem.squashfs" -quiet -no-progress -noappend >/dev/null
	echo "kernel $1" >"$T/live-$3/vmlinuz"
	echo "initrd $1" >"$T/live-$3/initrd.img"
	"$MK" --from "$T/live-$3" --version 0.1.0 --commit "$1" --epoch "$2" --key "$T/key.pem" \
		--output "$T/$3.tar" 2>/dev/null
}
newroot "$C2" 2000 up2 || fail "mkbundle.sh makes the first bundle"
newroot "$C3" 3000 up3 || fail "mkbundle.sh makes the second bundle"
newroot "$C4" 4000 up4 || fail "mkbundle.sh makes the third bundle"

# 1. apply --reboot: the provisional key added with the running slot's
# TPM token, a PCR 7 token sealed with it, recorded; then the reboot.
mark
tupd --slot a apply --reboot "$T/up2.tar" >"$T/apply1.out" 2>"$T/apply1.err"
rc=$?
check "apply with the TPM steps succeeds ($(cat "$T/apply1.err"))" [ "$rc" -eq 0 ]
calls >"$T/apply1.calls"
cat >"$T/apply1.want" <<EOF
cryptsetup luksAddKey --token-only --token-type systemd-tpm2 --pbkdf pbkdf2 --pbkdf-force-iterations 1000 $DEV $KEY
systemd-cryptenroll --unlock-key-file=$KEY --tpm2-device=auto --tpm2-pcrs=7 $DEV
systemctl reboot
EOF
check "apply: the provisional key added by the TPM token, the PCR 7 token, then the reboot ($(tr '\n' ';' <"$T/apply1.calls"))" \
	diff -u "$T/apply1.want" "$T/apply1.calls"
check "apply: the provisional key is 64 hex characters, mode 0600, in state/update" \
	sh -c "[ \"\$(stat -c '%a %s' '$KEY')\" = '600 64' ] && grep -qx '[0-9a-f]\{64\}' '$KEY'"
check "apply: the tokens file names the provisional token ($(cat "$FS/state/update/tokens"))" \
	grep -qx 'provisional-b 3 4' "$FS/state/update/tokens"
check "apply: the block says to try b once" [ "$(env_of bulwark_next) $(env_of bulwark_good)" = "b a" ]
check "apply: the journal has the provisional token before the block is set" \
	sh -c "grep -n -e 'provisional done slot=b token=3 keyslot=4 pcrs=7' -e 'apply trial slot=b' '$FS/state/update/journal' | cut -d: -f2- | cut -d' ' -f2 | tr '\n' ' ' | grep -qx 'provisional apply '"
check "apply: the console lines provisional and apply ($(tr '\n' ';' <"$T/apply1.err"))" \
	sh -c "grep -q '^bulwark-update: provisional: token 3 (keyslot 4) sealed to PCR 7 for the trial of slot b' '$T/apply1.err' && grep -q '^bulwark-update: apply: slot b holds version 0.1.0 (commit $C2)' '$T/apply1.err' && grep -q '^bulwark-update: apply: rebooting' '$T/apply1.err'"
check "apply carries the site's update.conf" grep -qx 'health_timeout=3' "$FS/slots/b/etc/bulwark/update.conf"

# 2. The trial boot of b; reseal does nothing there; the health check
# fails (bulwarkd never healthy within update.conf's 3 s): no commit,
# the reason journalled, the reboot.
check "GRUB boots b's trial" [ "$(boot)" = b ]
tupd --slot b reseal 2>"$T/reseal-trial.err"
check "reseal in a trial does nothing ($(cat "$T/reseal-trial.err"))" \
	grep -q '^bulwark-update: reseal: nothing to do (slot b is on trial' "$T/reseal-trial.err"
trusted
rm -f "$S/healthy"
mark
tupd --slot b health --reboot 2>"$T/health1.err"
rc=$?
check "health: exits 0 after a failed check ($rc)" [ "$rc" -eq 0 ]
check "health: the console lines trial and health failed ($(tr '\n' ';' <"$T/health1.err"))" \
	sh -c "grep -q '^bulwark-update: trial: slot b on trial (committed slot a): health check for up to 3 s' '$T/health1.err' && grep -q '^bulwark-update: health: failed: bulwarkd not healthy (/healthz) after 3 s; the next boot is slot a' '$T/health1.err'"
check "health: no commit (bulwark_good a), and the reboot" \
	sh -c "[ '$(env_of bulwark_good)' = a ] && grep -qx 'systemctl reboot' '$S/log' && ! grep -q 'node approve' '$S/log'"
check "health: the reason in the journal" \
	grep -q 'health failed slot=b after=[0-9]*s reason=bulwarkd not healthy (/healthz) after 3 s' "$FS/state/update/journal"

# 3. The next boot is a's normal boot: reseal removes the failed trial's
# provisional token, its keyslot and key, and journals the rollback.
check "GRUB boots a after the failed trial" [ "$(boot)" = a ]
mark
tupd --slot a reseal 2>"$T/reseal-rb.err"
rc=$?
calls >"$T/reseal-rb.calls"
cat >"$T/reseal-rb.want" <<EOF
cryptsetup -q luksKillSlot $DEV 4
cryptsetup token remove --token-id 3 $DEV
cryptsetup luksRemoveKey $DEV $KEY
EOF
check "reseal after the failed trial: the provisional token, its keyslot, the key's keyslot removed ($rc: $(tr '\n' ';' <"$T/reseal-rb.calls"))" \
	diff -u "$T/reseal-rb.want" "$T/reseal-rb.calls"
check "reseal after the failed trial: the key shredded, the tokens file without it, first boot's token kept" \
	sh -c "[ ! -e '$KEY' ] && ! grep -q provisional '$FS/state/update/tokens' && grep -qx '0 1 7+8+9' '$S/tokens' && [ \"\$(wc -l <'$S/tokens')\" = 1 ]"
check "reseal after the failed trial: the console line rollback with the reason ($(cat "$T/reseal-rb.err"))" \
	grep -q '^bulwark-update: rollback: the trial of slot b was not committed (bulwarkd not healthy (/healthz) after 3 s)' "$T/reseal-rb.err"
check "the rollback journalled with the reason" \
	grep -q 'rollback trial=b committed=a reason=bulwarkd not healthy' "$FS/state/update/journal"
check "reseal hands the journal to bulwarkd: every line so far after the header of offset 0, the rollback's included, root's 0644; journal.handed not advanced before bulwarkd confirms ($(tail -n 1 "$T/reseal-rb.err"))" \
	sh -c "head -n 1 '$T/bwd/update-journal' | grep -qx '# bulwark-update journal offset=0' && tail -n +2 '$T/bwd/update-journal' | cmp -s '$FS/state/update/journal' - && grep -q 'provisional removed slot=b' '$T/bwd/update-journal' && [ \"\$(stat -c '%a %u' '$T/bwd/update-journal')\" = '644 0' ] && [ \"\$(cat '$FS/state/update/journal.handed' 2>/dev/null || echo 0)\" = 0 ] && grep -q '^bulwark-update: reseal: [0-9]* journal lines (bytes 0 to [0-9]*) handed to bulwarkd' '$T/reseal-rb.err'"
cp "$T/bwd/update-journal" "$T/handed-1"
tupd --slot a reseal 2>"$T/reseal-none.err"
check "a second reseal has nothing to do, and hands the same lines again while bulwarkd has not confirmed them ($(tr '\n' ';' <"$T/reseal-none.err"))" \
	sh -c "grep -q 'reseal: nothing to do (no provisional token)' '$T/reseal-none.err' && cmp -s '$T/bwd/update-journal' '$T/handed-1'"
# bulwarkd's start records it, confirms it (update-journal.seq: the
# journal's offset past its last line) and renames it.
mv "$T/bwd/update-journal" "$T/bwd/update-journal.recorded"
stat -c %s "$FS/state/update/journal" >"$T/bwd/update-journal.seq"

# 4. Apply again; the trial is healthy (the node Trusted, attested in
# this boot): the commit and the reboot.
tupd --slot a apply "$T/up2.tar" >/dev/null 2>&1 || fail "the second apply"
check "apply again: a new provisional token ($(cat "$FS/state/update/tokens"))" \
	grep -qx 'provisional-b 6 7' "$FS/state/update/tokens"
check "GRUB boots b's trial again" [ "$(boot)" = b ]
trusted
touch "$S/healthy"
mark
tupd --slot b health --reboot 2>"$T/health2.err"
rc=$?
check "health passes ($rc: $(tr '\n' ';' <"$T/health2.err"))" \
	sh -c "[ $rc -eq 0 ] && grep -q '^bulwark-update: health: passed after [0-9]* s: bulwarkd healthy, node n1 Trusted' '$T/health2.err' && grep -q '^bulwark-update: commit: slot b committed' '$T/health2.err'"
check "health: the reboot, nothing else ($(calls | tr '\n' ';'))" \
	[ "$(calls | tr '\n' ';')" = 'systemctl reboot;' ]
check "health: b committed" [ "$(env_of bulwark_good)" = b ]
check "health: the pass journalled" \
	sh -c "grep -q 'health passed slot=b node=n1' '$FS/state/update/journal'"

# 5. The first normal boot of b: sealed to 7+8+9 with the provisional
# key first, then the provisional token, its keyslot and the key's
# removed; first boot's token is recorded as a's, and kept.
check "GRUB boots b" [ "$(boot)" = b ]
mark
tupd --slot b reseal 2>"$T/reseal1.err"
rc=$?
calls >"$T/reseal1.calls"
cat >"$T/reseal1.want" <<EOF
systemd-cryptenroll --unlock-key-file=$KEY --tpm2-device=auto --tpm2-pcrs=7+8+9 $DEV
cryptsetup -q luksKillSlot $DEV 7
cryptsetup token remove --token-id 6 $DEV
cryptsetup luksRemoveKey $DEV $KEY
EOF
check "reseal: 7+8+9 sealed before anything is removed ($rc: $(tr '\n' ';' <"$T/reseal1.calls"))" \
	diff -u "$T/reseal1.want" "$T/reseal1.calls"
check "reseal: the tokens file: a's first boot token, b's new one ($(tr '\n' ';' <"$FS/state/update/tokens"))" \
	sh -c "[ \"\$(sort '$FS/state/update/tokens' | tr '\n' ';')\" = 'a 0 1;b 8 9;' ] && [ ! -e '$KEY' ]"
check "reseal: the header keeps a's and b's tokens only ($(tr '\n' ';' <"$S/tokens"))" \
	sh -c "[ \"\$(tr '\n' ';' <'$S/tokens')\" = '0 1 7+8+9;8 9 7+8+9;' ] && [ \"\$(tr '\n' ';' <'$S/slots')\" = '0 recovery;1 tpm;9 tpm;' ]"
check "reseal: the lines since bulwarkd's confirmation are handed, and only those; journal.handed is the confirmation" \
	sh -c "head -n 1 '$T/bwd/update-journal' | grep -qx \"# bulwark-update journal offset=\$(cat '$T/bwd/update-journal.seq')\" && sed -n 2p '$T/bwd/update-journal' | grep -q 'apply begin slot=b' && grep -q 'reseal done slot=b' '$T/bwd/update-journal' && [ \"\$(cat '$FS/state/update/journal.handed')\" = \"\$(cat '$T/bwd/update-journal.seq')\" ] && [ \"\$({ tail -n +2 '$T/bwd/update-journal.recorded'; tail -n +2 '$T/bwd/update-journal'; } | md5sum)\" = \"\$(md5sum <'$FS/state/update/journal')\" ]"
check "reseal: the console line ($(cat "$T/reseal1.err"))" \
	grep -q '^bulwark-update: reseal: slot b sealed to PCRs 7+8+9 (token 8); provisional token 6 and its key removed; earlier token of slot b: none, removed; slot a keeps token 0' "$T/reseal1.err"

# 6. An update back into a (a later commit): at a's first normal boot,
# a's earlier token (first boot's, sealed to the old a) is removed, b's
# kept.
tupd --slot b apply "$T/up3.tar" >/dev/null 2>&1 || fail "the apply into a"
check "GRUB boots a's trial" [ "$(boot)" = a ]
trusted
tupd --slot a health 2>/dev/null
check "a committed" [ "$(env_of bulwark_good)" = a ]
check "GRUB boots a" [ "$(boot)" = a ]
mark
tupd --slot a reseal 2>"$T/reseal2.err"
calls >"$T/reseal2.calls"
cat >"$T/reseal2.want" <<EOF
systemd-cryptenroll --unlock-key-file=$KEY --tpm2-device=auto --tpm2-pcrs=7+8+9 $DEV
cryptsetup -q luksKillSlot $DEV 1
cryptsetup token remove --token-id 0 $DEV
cryptsetup -q luksKillSlot $DEV 12
cryptsetup token remove --token-id 11 $DEV
cryptsetup luksRemoveKey $DEV $KEY
EOF
check "reseal of a: sealed, a's earlier token removed, then the provisional token ($(tr '\n' ';' <"$T/reseal2.calls"))" \
	diff -u "$T/reseal2.want" "$T/reseal2.calls"
check "reseal of a: one token per slot ($(tr '\n' ';' <"$FS/state/update/tokens"))" \
	sh -c "[ \"\$(sort '$FS/state/update/tokens' | tr '\n' ';')\" = 'a 13 14;b 8 9;' ] && [ \"\$(tr '\n' ';' <'$S/tokens')\" = '8 9 7+8+9;13 14 7+8+9;' ] && [ \"\$(tr '\n' ';' <'$S/slots')\" = '0 recovery;9 tpm;14 tpm;' ]"

# 7. An apply whose provisional token cannot be made (the TPM does not
# unlock the header): refused before the other slot is replaced (b
# runs, committed, and slot a, given b's release, is kept), the key
# removed, no trial set.
printf '#!/bin/sh\necho "cryptsetup $*" >>%s/log\n[ "$1" = luksAddKey ] && exit 1\nexec %s/bin/cryptsetup "$@"\n' "$S" "$S" >"$T/nounlock"
mkdir -p "$T/nounlock.d" && mv "$T/nounlock" "$T/nounlock.d/cryptsetup" && chmod +x "$T/nounlock.d/cryptsetup"
grub-editenv "$ENV" set bulwark_good=b
cp -a "$FS/slots/a/usr/share/bulwark/release" "$T/release-a"
cp "$FS/slots/b/usr/share/bulwark/release" "$FS/slots/a/usr/share/bulwark/release"
XPATH="$T/nounlock.d" tupd --slot b apply "$T/up3.tar" 2>"$T/nounlock.err"
rc=$?
check "apply is refused when the TPM token does not unlock the header ($(tail -n 1 "$T/nounlock.err"))" \
	sh -c "[ $rc -eq 1 ] && grep -q 'did not unlock' '$T/nounlock.err' && [ ! -e '$KEY' ] && [ -z '$(env_of bulwark_next)' ] && grep -q 'commit $C2' '$FS/slots/a/usr/share/bulwark/release'"
cp "$T/release-a" "$FS/slots/a/usr/share/bulwark/release"
grub-editenv "$ENV" set bulwark_good=a

# 7b. A trial cancelled before its boot (rollback): the next reseal
# removes its provisional token, and names no health check result (not
# the failed trial's of section 2).
tupd --slot a apply "$T/up4.tar" >/dev/null 2>&1 || fail "the apply of the third bundle"
tupd --slot a rollback >/dev/null 2>&1
tupd --slot a reseal 2>"$T/reseal-cancel.err"
check "reseal after a cancelled trial: its provisional token removed, no earlier trial's reason ($(cat "$T/reseal-cancel.err"))" \
	sh -c "grep -q '^bulwark-update: rollback: the trial of slot b was not committed (no health check result)' '$T/reseal-cancel.err' && ! grep -q provisional '$FS/state/update/tokens' && [ ! -e '$KEY' ]"

# 7c. A trial of a slot that is not what the last verified apply put
# there (its release changed since): the check fails, though the node
# is Trusted.
grub-editenv "$ENV" set bulwark_next=b
check "GRUB boots b's trial (no provisional token: a test of the check alone)" [ "$(boot)" = b ]
sed -i "s/^commit .*/commit $C2/" "$FS/slots/b/usr/share/bulwark/release"
trusted
touch "$S/healthy"
mark
tupd --slot b health 2>"$T/health-unverified.err"
check "health: a slot that is not the verified apply's fails ($(tail -n 1 "$T/health-unverified.err"))" \
	sh -c "grep -q 'health: failed: slot b is not what the last verified apply put there; the next boot is slot a' '$T/health-unverified.err' && [ '$(env_of bulwark_good)' = a ]"
boot >/dev/null

# 7d. A trial whose node is Trusted only by an attestation before this
# boot began (the store keeps the last boot's Trusted a while): the
# check fails; the next reseal rolls the trial back.
tupd --slot a apply "$T/up4.tar" >/dev/null 2>&1 || fail "the apply for the stale check"
check "GRUB boots b's trial (stale Trusted)" [ "$(boot)" = b ]
trusted 1
touch "$S/healthy"
tupd --slot b health 2>"$T/health-stale.err"
check "health: a Trusted from before this boot fails ($(tail -n 1 "$T/health-stale.err"))" \
	sh -c "grep -q '^bulwark-update: health: failed: node n1 Trusted only by an attestation before this boot (last attested 1, boot [0-9]*), after 3 s; the next boot is slot a' '$T/health-stale.err' && [ '$(env_of bulwark_good)' = a ]"
boot >/dev/null
tupd --slot a reseal 2>/dev/null || fail "the reseal after the stale trial"
# 7d'. Trusted by an attestation after this boot's start by the clock
# (an RTC that lags) that does not change during the check: it fails.
tupd --slot a apply "$T/up4.tar" >/dev/null 2>&1 || fail "the apply for the unchanged attestation"
check "GRUB boots b's trial (unchanged attestation)" [ "$(boot)" = b ]
trusted "$(($(date +%s) + 5))"
touch "$S/healthy"
tupd --slot b health 2>"$T/health-same.err"
check "health: a Trusted whose attestation does not change during the check fails ($(tail -n 1 "$T/health-same.err"))" \
	sh -c "grep -q '^bulwark-update: health: failed: node n1 Trusted, but not attested again during the check (last attested [0-9]*, as at its first poll), after 3 s; the next boot is slot a' '$T/health-same.err' && [ '$(env_of bulwark_good)' = a ]"
boot >/dev/null
tupd --slot a reseal 2>/dev/null || fail "the reseal after the unchanged attestation's trial"
# header_is TOKENS SLOTS: the stub header's tokens and keyslots, each as
# its file's lines joined by ;.
header_is() { [ "$(tr '\n' ';' <"$S/tokens")" = "$1" ] && [ "$(tr '\n' ';' <"$S/slots")" = "$2" ]; }
check "after the stale trial's reseal: a's and b's tokens and keyslots only ($(tr '\n' ';' <"$S/tokens") / $(tr '\n' ';' <"$S/slots"))" \
	header_is '8 9 7+8+9;13 14 7+8+9;' '0 recovery;9 tpm;14 tpm;'

# 7e. A power cut in apply right after the PCR 7 enrolment (the updater
# killed before it records the token): the next reseal removes the PCR 7
# token, its keyslot and the provisional key's keyslot (found by the
# key), and nothing else.
mkdir -p "$T/cut.d"
cat >"$T/cut.d/systemd-cryptenroll" <<EOF
#!/bin/bash
"$S/bin/systemd-cryptenroll" "\$@" || exit 1
[ "\$3" != "\${CUT_ENROL:-}" ] || { kill -KILL \$PPID; exit 1; }
EOF
cat >"$T/cut.d/cryptsetup" <<EOF
#!/bin/bash
[ "\$*" != "token remove --token-id \${CUT_REMOVE:-} $DEV" ] || { echo "cryptsetup \$*" >>"$S/log"; kill -KILL \$PPID; exit 1; }
[ "\$*" = "\${CUT_AFTER:-}" ] || exec "$S/bin/cryptsetup" "\$@"
"$S/bin/cryptsetup" "\$@"
kill -KILL \$PPID; exit 1
EOF
chmod +x "$T/cut.d/"*
# cut_off ARG...: tupd with the cut.d stubs, then until the lock is free
# (the killed updater's stub child held it).
cut_off() {
	local rc
	XPATH="$T/cut.d" TMPDIR="$T" tupd "$@" >/dev/null 2>&1
	rc=$?
	flock "$FS/state/update/lock" true
	return "$rc"
}
CUT_ENROL=--tpm2-pcrs=7 cut_off --slot a apply "$T/up4.tar"
rc=$?
check "cut: the apply killed after the PCR 7 enrolment leaves the PCR 7 token and two keyslots ($rc: $(tr '\n' ';' <"$S/tokens"))" \
	sh -c "[ $rc -eq 137 ] && grep -q ' 7\$' '$S/tokens' && [ -z '$(env_of bulwark_next)' ] && [ \"\$(wc -l <'$S/slots')\" = 5 ]"
tupd --slot a reseal 2>"$T/reseal-cut1.err"
check "cut: the next reseal leaves no PCR 7 token, no leaked keyslot, no key ($(tr '\n' ';' <"$S/tokens") / $(tr '\n' ';' <"$S/slots"))" \
	sh -c "$(declare -f header_is); S='$S'; header_is '8 9 7+8+9;13 14 7+8+9;' '0 recovery;9 tpm;14 tpm;' && [ ! -e '$KEY' ] && [ \"\$(sort '$FS/state/update/tokens' | tr '\n' ';')\" = 'a 13 14;b 8 9;' ]"

# 7f. The same cut, then a new apply: it removes what the cut left
# before its own provisional token, which is the only PCR 7 one.
CUT_ENROL=--tpm2-pcrs=7 cut_off --slot a apply "$T/up4.tar"
tupd --slot a apply "$T/up4.tar" >/dev/null 2>"$T/apply-cut2.err"
rc=$?
read -r pt pk <<<"$(awk '$1 == "provisional-b" { print $2, $3 }' "$FS/state/update/tokens")"
check "cut: the next apply leaves one PCR 7 token, the recorded one, and one key keyslot ($rc: $(tr '\n' ';' <"$S/tokens") / $(tr '\n' ';' <"$S/slots"))" \
	sh -c "[ $rc -eq 0 ] && [ \"\$(grep -c ' 7\$' '$S/tokens')\" = 1 ] && grep -qx '$pt $pk 7' '$S/tokens' && [ \"\$(grep -c key: '$S/slots')\" = 1 ] && [ \"\$(wc -l <'$S/slots')\" = 5 ]"

# 7g. That trial commits; at b's first normal boot a power cut just
# before b's earlier token (8) is removed (after its keyslot 9 was
# killed: a token naming no keyslot): the next reseal leaves b's
# new token and a's, no stale 7+8+9 token, no PCR 7 token, no leaked
# keyslot, no key.
check "GRUB boots b's trial (cut at reseal)" [ "$(boot)" = b ]
sed -i "s/^commit .*/commit $C4/" "$FS/slots/b/usr/share/bulwark/release"
trusted
tupd --slot b health 2>/dev/null
check "b committed (cut at reseal)" [ "$(env_of bulwark_good)" = b ]
boot >/dev/null
CUT_REMOVE=8 cut_off --slot b reseal
rc=$?
check "cut: the reseal killed before the earlier token's removal ($rc)" \
	sh -c "[ $rc -eq 137 ] && grep -q '^8 ' '$S/tokens'"
tupd --slot b reseal 2>"$T/reseal-cut2.err"
rc=$?
read -r bt bk <<<"$(awk '$1 == "b" { print $2, $3 }' "$FS/state/update/tokens")"
check "cut: the next reseal leaves a's token and b's new one only ($rc: $(tr '\n' ';' <"$S/tokens") / $(tr '\n' ';' <"$S/slots"); $(tr '\n' ';' <"$FS/state/update/tokens"))" \
	sh -c "$(declare -f header_is); S='$S'; [ $rc -eq 0 ] && [ '$bt' != 8 ] && header_is '13 14 7+8+9;$bt $bk 7+8+9;' '0 recovery;14 tpm;$bk tpm;' && [ ! -e '$KEY' ] && [ \"\$(sort '$FS/state/update/tokens' | tr '\n' ';')\" = 'a 13 14;b $bt $bk;' ]"

# 7h. An update back into a whose first reseal is killed right after
# the 7+8+9 enrolment (before the token is recorded): the next reseal
# leaves b's token and a's new one only (no token of the cut run).
C5=5555555555555555555555555555555555555555
newroot "$C5" 5000 up5 || fail "mkbundle.sh makes the fourth bundle"
tupd --slot b apply "$T/up5.tar" >/dev/null 2>&1 || fail "the apply into a (cut at the 7+8+9 enrolment)"
check "GRUB boots a's trial (cut at the 7+8+9 enrolment)" [ "$(boot)" = a ]
trusted
tupd --slot a health 2>/dev/null
boot >/dev/null
CUT_ENROL=--tpm2-pcrs=7+8+9 cut_off --slot a reseal
rc=$?
check "cut: the reseal killed after the 7+8+9 enrolment ($rc: $(tr '\n' ';' <"$S/tokens"))" \
	sh -c "[ $rc -eq 137 ] && [ '$(env_of bulwark_good)' = a ]"
tupd --slot a reseal 2>"$T/reseal-cut3.err"
rc=$?
read -r at ak <<<"$(awk '$1 == "a" { print $2, $3 }' "$FS/state/update/tokens")"
check "cut: the next reseal leaves b's token and a's new one only ($rc: $(tr '\n' ';' <"$S/tokens") / $(tr '\n' ';' <"$S/slots"); $(tr '\n' ';' <"$FS/state/update/tokens"))" \
	sh -c "$(declare -f header_is); S='$S'; [ $rc -eq 0 ] && [ '$at' != 13 ] && header_is '$bt $bk 7+8+9;$at $ak 7+8+9;' '0 recovery;$bk tpm;$ak tpm;' && [ ! -e '$KEY' ] && [ \"\$(sort '$FS/state/update/tokens' | tr '\n' ';')\" = 'a $at $ak;b $bt $bk;' ]"

# 7i. A journal larger than bulwarkd's limit (a backlog, or
# journal.handed lost): reseal hands it over in chunks within the limit,
# each cut at a line's end and starting at bulwarkd's confirmation, so
# no hand-over is refused and none blocks the next. bulwarkd stands in:
# it confirms each (update-journal.seq: the header's offset plus the
# lines) and renames it.
# confirm: bulwarkd's recording of the hand-over there, if any.
confirm() {
	[ -e "$T/bwd/update-journal" ] || return 0
	local o
	o=$(head -n 1 "$T/bwd/update-journal" | sed -n 's/^# bulwark-update journal offset=\([0-9]*\)$/\1/p')
	echo $((o + $(tail -n +2 "$T/bwd/update-journal" | wc -c))) >"$T/bwd/update-journal.seq"
	mv "$T/bwd/update-journal" "$T/bwd/update-journal.recorded"
}
confirm
start=$(cat "$T/bwd/update-journal.seq")
for i in $(seq 1000); do
	printf '2026-12-07T19:00:00Z reseal token=%s slot=b (sealed before the update) %0600d\n' "$i" 0
done >>"$FS/state/update/journal"
: >"$T/chunks"
chunk_ok=yes rounds=0
for rounds in $(seq 1 10); do
	tupd --slot a reseal 2>>"$T/reseal-chunks.err"
	[ -e "$T/bwd/update-journal" ] || break
	h=$(head -n 1 "$T/bwd/update-journal")
	[ "$h" = "# bulwark-update journal offset=$(cat "$T/bwd/update-journal.seq")" ] &&
		[ "$(stat -c %s "$T/bwd/update-journal")" -le 262144 ] &&
		[ "$(tail -c 1 "$T/bwd/update-journal" | od -An -c | tr -d ' ')" = '\n' ] || chunk_ok="no: round $rounds: $h, $(stat -c %s "$T/bwd/update-journal") bytes"
	tail -n +2 "$T/bwd/update-journal" >>"$T/chunks"
	confirm
done
check "a journal past bulwarkd's limit: handed in chunks within it, each from the confirmation and ending at a line's end ($chunk_ok; $rounds rounds; $(tail -n 2 "$T/reseal-chunks.err" | tr "\n" ";"))" \
	sh -c "[ '$chunk_ok' = yes ] && [ $rounds -ge 4 ] && tail -c +$((start + 1)) '$FS/state/update/journal' | cmp -s - '$T/chunks' && [ \"\$(cat '$T/bwd/update-journal.seq')\" = \"\$(stat -c %s '$FS/state/update/journal')\" ]"

# 9. Scenarios from a state set here (the second review of stage 5),
# the stub giving new tokens and keyslots the lowest free id, as real
# LUKS2 does. scenario GOOD TOKENS HEADER KEYSLOTS: slot GOOD committed,
# no trial, its release the first (any bundle is newer), the tokens file
# TOKENS (- for none), the stub header's tokens HEADER and keyslots
# KEYSLOTS (lines ending in ;), no provisional key.
scenario() {
	grub-editenv "$ENV" set bulwark_good="$1" bulwark_next=
	rm -f "$KEY"
	if [ "$2" = - ]; then rm -f "$FS/state/update/tokens"; else printf '%s' "$2" | tr ';' '\n' >"$FS/state/update/tokens"; fi
	printf '%s' "$3" | tr ';' '\n' >"$S/tokens"
	printf '%s' "$4" | tr ';' '\n' >"$S/slots"
	echo lowest >"$S/next"
	sed -i "s/^commit .*/commit $C1/; s/^epoch .*/epoch 1000/" "$FS/slots/$1/usr/share/bulwark/release"
}
# trial_passes FROM TO BUNDLE: apply from FROM into TO, its trial
# healthy, committed, then TO's normal boot (the reseal is the caller's).
trial_passes() {
	tupd --slot "$1" apply "$3" >/dev/null 2>&1 || fail "the apply from $1 into $2 ($3)"
	[ "$(boot)" = "$2" ] || fail "GRUB boots $2's trial"
	trusted
	touch "$S/healthy"
	tupd --slot "$2" health 2>/dev/null
	[ "$(env_of bulwark_good)" = "$2" ] || fail "$2 committed"
	boot >/dev/null
}
toks() { sort "$FS/state/update/tokens" | tr '\n' ';'; }

# 9a. The tokens file stale (a `systemd-cryptenroll --wipe-slot=tpm2`
# recovery re-enrolled token 20 in keyslot 21; the file still says a's
# token is 0 in keyslot 1): the reseal of a gets token 0 and keyslot 1
# (the lowest free), and must not retire it as a's earlier one.
scenario b 'a 0 1;b 8 9;' '20 21 7+8+9;' '0 recovery;21 tpm;'
echo 22 >"$S/next"	# apply's ids: not the lowest free (in use then)
trial_passes b a "$T/up2.tar"
echo lowest >"$S/next"
tupd --slot a reseal 2>"$T/reseal-stale.err"
rc=$?
check "stale tokens file: a keeps the token just sealed (0, reusing the stale line's number), the recovery-enrolled one stays, the provisional one goes ($rc: $(tr '\n' ';' <"$S/tokens") / $(tr '\n' ';' <"$S/slots"); $(toks))" \
	sh -c "$(declare -f header_is); S='$S'; [ $rc -eq 0 ] && header_is '20 21 7+8+9;0 1 7+8+9;' '0 recovery;21 tpm;1 tpm;' && [ '$(toks)' = 'a 0 1;b 8 9;' ] && [ ! -e '$KEY' ]"
check "stale tokens file: the stale line journalled, not reported removed ($(tail -n 2 "$T/reseal-stale.err" | tr '\n' ';'))" \
	sh -c "grep -q 'reseal stale slot=a token=0 keyslot=1' '$FS/state/update/journal' && grep -q 'earlier token of slot a: none' '$T/reseal-stale.err'"

# 9b. First boot's token sealed to PCR 7 alone (tpm2_pcrs=7, or first
# boot's re-seal skipped): an apply, a failed trial and the reseal of a
# keep it.
scenario a - '0 1 7;' '0 recovery;1 tpm;'
tupd --slot a apply "$T/up2.tar" >/dev/null 2>&1
rc=$?
check "a PCR 7 first-boot token: apply keeps it, adds the provisional token ($rc: $(tr '\n' ';' <"$S/tokens"))" \
	sh -c "[ $rc -eq 0 ] && grep -qx '0 1 7' '$S/tokens' && [ '$(toks)' = 'provisional-b 1 3;' ]"
[ "$(boot)" = b ] || fail "GRUB boots b's trial (PCR 7 first-boot token)"
rm -f "$S/healthy"
tupd --slot b health 2>/dev/null
boot >/dev/null
tupd --slot a reseal 2>"$T/reseal-pcr7.err"
rc=$?
check "a PCR 7 first-boot token: the reseal after the failed trial keeps it, removes the provisional token only ($rc: $(tr '\n' ';' <"$S/tokens") / $(tr '\n' ';' <"$S/slots"))" \
	sh -c "$(declare -f header_is); S='$S'; [ $rc -eq 0 ] && header_is '0 1 7;' '0 recovery;1 tpm;' && [ ! -e '$KEY' ]"

# 9c. A power cut inside drop_provisional at the committed slot's
# reseal (after the key's keyslot is removed, before the key is
# shredded): the next reseal finishes, no refusal.
scenario a 'a 0 1;' '0 1 7+8+9;' '0 recovery;1 tpm;'
trial_passes a b "$T/up2.tar"
CUT_AFTER="luksRemoveKey $DEV $KEY" cut_off --slot b reseal
rc=$?
check "cut in drop_provisional: the reseal killed after luksRemoveKey, the key left ($rc)" \
	sh -c "[ $rc -eq 137 ] && [ -e '$KEY' ]"
tupd --slot b reseal 2>"$T/reseal-cut4.err"
rc=$?
check "cut in drop_provisional: the next reseal finishes: a's and b's tokens only, no key ($rc: $(tail -n 1 "$T/reseal-cut4.err"); $(tr '\n' ';' <"$S/tokens") / $(tr '\n' ';' <"$S/slots"); $(toks))" \
	sh -c "$(declare -f header_is); S='$S'; [ $rc -eq 0 ] && header_is '0 1 7+8+9;2 4 7+8+9;' '0 recovery;1 tpm;4 tpm;' && [ ! -e '$KEY' ] && [ '$(toks)' = 'a 0 1;b 2 4;' ]"
# The state such a cut left with a bulwark-update before the retire-key
# line: the provisional line, its token and keyslot gone, the key there.
scenario b 'a 0 1;b 2 4;provisional-b 1 3;' '0 1 7+8+9;2 4 7+8+9;' '0 recovery;1 tpm;4 tpm;'
echo 0123 >"$KEY"
tupd --slot b reseal 2>"$T/reseal-cut5.err"
rc=$?
check "the provisional token gone, b's token there: the reseal just finishes ($rc: $(tail -n 1 "$T/reseal-cut5.err"); $(tr '\n' ';' <"$S/tokens"); $(toks))" \
	sh -c "$(declare -f header_is); S='$S'; [ $rc -eq 0 ] && header_is '0 1 7+8+9;2 4 7+8+9;' '0 recovery;1 tpm;4 tpm;' && [ ! -e '$KEY' ] && [ '$(toks)' = 'a 0 1;b 2 4;' ]"

# 9d. A power cut in retire_token between luksKillSlot and token remove
# (a's earlier token 0, keyslot 1): the next reseal removes the token
# that names no keyslot, and leaves a's and b's tokens only.
scenario b 'a 0 1;b 2 4;' '0 1 7+8+9;2 4 7+8+9;' '0 recovery;1 tpm;4 tpm;'
trial_passes b a "$T/up2.tar"
CUT_AFTER="-q luksKillSlot $DEV 1" cut_off --slot a reseal
rc=$?
check "cut in retire_token: killed after luksKillSlot, the token left naming no keyslot ($rc: $(tr '\n' ';' <"$S/tokens") / $(tr '\n' ';' <"$S/slots"))" \
	sh -c "[ $rc -eq 137 ] && grep -q '^0 - ' '$S/tokens' && ! grep -q '^1 ' '$S/slots'"
tupd --slot a reseal 2>"$T/reseal-cut6.err"
rc=$?
read -r at ak <<<"$(awk '$1 == "a" { print $2, $3 }' "$FS/state/update/tokens")"
check "cut in retire_token: the next reseal leaves b's token and a's new one only ($rc: $(tr '\n' ';' <"$S/tokens") / $(tr '\n' ';' <"$S/slots"); $(toks))" \
	sh -c "[ $rc -eq 0 ] && [ -n '$at' ] && [ \"\$(sort '$S/tokens' | tr '\n' ';')\" = \"\$(printf '%s\n' '2 4 7+8+9' '$at $ak 7+8+9' | sort | tr '\n' ';')\" ] && [ \"\$(sort '$S/slots' | tr '\n' ';')\" = \"\$(printf '%s\n' '0 recovery' '4 tpm' '$ak tpm' | sort | tr '\n' ';')\" ] && [ ! -e '$KEY' ] && [ '$(toks)' = 'a $at $ak;b 2 4;' ]"

# 9e. --no-tpm on a LUKS root is refused, nothing changed.
scenario a 'a 0 1;' '0 1 7+8+9;' '0 recovery;1 tpm;'
tupd --slot a --no-tpm apply "$T/up2.tar" >/dev/null 2>"$T/notpm.err"
rc=$?
check "--no-tpm on a LUKS root is refused ($rc: $(tail -n 1 "$T/notpm.err"))" \
	sh -c "$(declare -f header_is); S='$S'; [ $rc -eq 1 ] && grep -q -- '--no-tpm on a LUKS root' '$T/notpm.err' && [ -z '$(env_of bulwark_next)' ] && header_is '0 1 7+8+9;' '0 recovery;1 tpm;'"

# 9f. A trial with no provisional token (no LUKS root: the step
# skipped) whose health check fails: the next reseal of the committed
# slot journals the rollback from the journal (uncommitted_trial).
mv "$A/etc/crypttab" "$T/crypttab.a"
tupd --slot a apply "$T/up2.tar" >/dev/null 2>&1 || fail "the apply without a LUKS root"
[ "$(boot)" = b ] || fail "GRUB boots b's trial (no LUKS root)"
rm -f "$S/healthy"
tupd --slot b health 2>/dev/null
boot >/dev/null
tupd --slot a reseal 2>"$T/reseal-noluks.err"
rc=$?
mv "$T/crypttab.a" "$A/etc/crypttab"
check "no provisional token: the failed trial's rollback journalled with its reason ($rc: $(cat "$T/reseal-noluks.err" | tr '\n' ';'))" \
	sh -c "[ $rc -eq 0 ] && tail -n 3 '$FS/state/update/journal' | grep -q 'rollback trial=b committed=a reason=bulwarkd not healthy' && grep -q '^bulwark-update: rollback: the trial of slot b was not committed; slot a runs' '$T/reseal-noluks.err'"

# 8. The real cryptsetup and systemd-cryptenroll on a LUKS2 image (a
# loop device) with swtpm, reached through its TCTI (SYSTEMD_TPM2_DEVICE,
# which systemd-cryptenroll's --tpm2-device=auto takes): first boot's
# token (PCRs 7+8+9), apply's provisional key and PCR 7 token, the
# commit, the re-seal at b's normal boot: the header's tokens and
# keyslots after each step, as bulwark-update reads and changes the
# real header. Two things stand in: the TPM token's unlocking of the
# header for `luksAddKey --token-only` (cryptsetup's systemd-tpm2 plugin
# looks only for a /dev/tpmrm0, which this machine lacks: a cryptsetup
# shim gives that one call the recovery key instead), and the unlocking
# at boot (not tried: systemd-cryptsetup needs device-mapper, and swtpm
# without a resource manager runs out of session contexts). swtpm is
# restarted (PCRs and sessions cleared) with PCR 8 extended for each
# boot path. Skipped without swtpm, the tools or a loop device.
real_ok=yes
for t in swtpm tpm2_pcrextend tpm2_pcrread cryptsetup systemd-cryptenroll losetup; do
	command -v "$t" >/dev/null || real_ok="no $t"
done
[ "$(id -u)" -eq 0 ] || real_ok="not root"
R="$T/real" L=""
if [ "$real_ok" = yes ]; then
	truncate -s 32M "$T/luks.img"
	L=$(losetup -f --show "$T/luks.img" 2>/dev/null) || real_ok="no loop device"
fi
if [ "$real_ok" != yes ]; then
	echo "skip: the real LUKS2 and swtpm steps ($real_ok)"
	finish
fi
trap 'losetup -d "$L"; cleanup' EXIT
TPM_PID="" TPORT=$((20000 + RANDOM % 20000))
# boot_tpm TEXT: swtpm restarted (PCRs and sessions cleared), PCR 8
# extended with TEXT's SHA-256: a boot path.
boot_tpm() {
	if [ -n "$TPM_PID" ]; then kill "$TPM_PID"; wait "$TPM_PID" 2>/dev/null; fi
	mkdir -p "$T/tpmstate"
	swtpm socket --tpm2 --tpmstate dir="$T/tpmstate" \
		--server type=tcp,port="$TPORT",bindaddr=127.0.0.1 --ctrl type=tcp,port=$((TPORT + 1)),bindaddr=127.0.0.1 \
		--flags not-need-init,startup-clear 2>>"$T/swtpm.log" &
	TPM_PID=$!
	BW_PIDS="$BW_PIDS $TPM_PID"
	export SYSTEMD_TPM2_DEVICE="swtpm:port=$TPORT" TPM2TOOLS_TCTI="swtpm:port=$TPORT"
	for _ in $(seq 100); do tpm2_pcrread sha256:8 >/dev/null 2>&1 && break; sleep 0.1; done
	tpm2_pcrextend "8:sha256=$(printf '%s' "$1" | sha256sum | cut -d' ' -f1)"
}
REAL_CS=$(command -v cryptsetup)
mkdir -p "$T/realbin"
{
	printf '#!/bin/bash\necho "cryptsetup $*" >>"%s"\n' "$T/real.log"
	printf 'if [ "$1 $2 $3 $4" = "luksAddKey --token-only --token-type systemd-tpm2" ]; then\n'
	printf '\tshift 4\n\texec %s luksAddKey --key-file "%s" "$@"\nfi\n' "$REAL_CS" "$T/recovery"
	printf 'exec %s "$@"\n' "$REAL_CS"
} >"$T/realbin/cryptsetup"
chmod +x "$T/realbin/cryptsetup"
# rupd ARG...: bulwark-update on the real tree, the real tools (the
# shim above first).
rupd() {
	PATH="$T/realbin:$PATH" BULWARK_UPDATE_TPMDEV=/dev/null BULWARK_UPDATE_BWD_DATA="$T/bwd-real" \
		"$U" --fs "$R/fs" --boot "$R/boot" --grubenv "$R/grubenv" "$@"
}
# header: "TOKEN:KEYSLOT:PCRS" of each systemd-tpm2 token of the real
# header, then " / " and its number of keyslots.
header() {
	cryptsetup luksDump --dump-json-metadata "$L" | jq -r '([.tokens | to_entries[] |
		select(.value.type == "systemd-tpm2") |
		"\(.key):\(.value.keyslots[0]):\(.value["tpm2-pcrs"] | map(tostring) | join("+"))"] |
		join(" ")) + " / " + (.keyslots | length | tostring)'
}
boot_tpm "boot a"
openssl rand -hex 32 | tr -d '\n' >"$T/recovery"
openssl rand -hex 32 | tr -d '\n' >"$T/prov0"
cryptsetup -q luksFormat --type luks2 --pbkdf pbkdf2 --pbkdf-force-iterations 1000 "$L" --key-file "$T/recovery" &&
	cryptsetup -q luksAddKey --pbkdf pbkdf2 --pbkdf-force-iterations 1000 --key-file "$T/recovery" "$L" "$T/prov0" &&
	systemd-cryptenroll --unlock-key-file="$T/prov0" --tpm2-device=auto --tpm2-pcrs=7+8+9 "$L" >/dev/null 2>&1 &&
	cryptsetup luksRemoveKey "$L" "$T/prov0" || fail "the LUKS2 image with first boot's token"
h=$(header)
check "real: first boot's header: token 0 in keyslot 2, 7+8+9, and the recovery key's keyslot ($h)" \
	[ "$h" = "0:2:7+8+9 / 2" ]
mkdir -p "$R/fs/state" "$R/fs/slots" "$R/boot/a" "$T/bwd-real"
cp -a "$A" "$R/fs/slots/a"
rm -f "$R/fs/slots/a/etc/bulwark/update.conf"
printf 'root %s none luks\n' "$L" >"$R/fs/slots/a/etc/crypttab"
put "$R/fs/slots/a" usr/share/bulwark/release 0644 "version 0.1.0\ncommit $C1\nepoch 1000\n"
echo old-kernel >"$R/boot/a/vmlinuz"
grub-editenv "$R/grubenv" create
grub-editenv "$R/grubenv" set bulwark_good=a
rupd --slot a apply "$T/up2.tar" >/dev/null 2>"$T/real-apply.err"
rc=$? h=$(header)
check "real: apply enrols the provisional key and a PCR 7 token ($rc: $(grep provisional: "$T/real-apply.err"); $h)" \
	sh -c "[ $rc -eq 0 ] && [ '$h' = '0:2:7+8+9 1:3:7 / 4' ] && grep -qx 'provisional-b 1 3' '$R/fs/state/update/tokens'"
grub-editenv "$R/grubenv" set bulwark_next=
rupd --slot b commit >/dev/null 2>&1 || fail "real: the commit"
boot_tpm "boot b"
rupd --slot b reseal 2>"$T/real-reseal.err"
rc=$? h=$(header)
check "real: reseal: b's 7+8+9 token; the provisional token, its keyslot and the key's gone; a's kept ($rc: $(grep 'reseal: slot' "$T/real-reseal.err"); $h)" \
	sh -c "[ $rc -eq 0 ] && [ '$h' = '0:2:7+8+9 2:4:7+8+9 / 3' ] && [ ! -e '$R/fs/state/update/provisional.key' ] && [ \"\$(sort '$R/fs/state/update/tokens' | tr '\n' ';')\" = 'a 0 2;b 2 4;' ]"
check "real: the recovery key still opens the root" \
	cryptsetup open --test-passphrase --key-file "$T/recovery" "$L"
check "real: the shim stood in for luksAddKey --token-only alone" \
	[ "$(grep -c 'luksAddKey' "$T/real.log")" = 1 ]
finish

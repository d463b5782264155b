#!/bin/bash
# bulwark-harden on a small fake Debian root (issue 15, host baseline):
# check lists the differences item by item, apply --dry-run changes
# nothing, apply fixes every item, a second apply changes nothing, and
# the compliance checks that read the baseline (bulwark-harden scan)
# are all satisfied on the applied root. tests/slow/harden-debian.sh
# does the same on a real root made with mmdebstrap.
. "$(dirname "$0")/lib.sh" || exit 99
H="$BW/bulwark-harden"
R="$T/root"

# put PATH MODE TEXT: a file of the fake root.
put() {
	mkdir -p "$(dirname "$R/$1")"
	printf '%b' "$3" >"$R/$1"
	chmod "$2" "$R/$1"
}

# What a minbase bookworm root has in the files the baseline touches.
put etc/passwd 0644 'root:x:0:0:root:/root:/bin/bash\n'
put etc/group 0644 'root:x:0:\nshadow:x:42:\n'
put etc/shadow 0640 'root:*:19700:0:99999:7:::\n'
put etc/gshadow 0640 'root:*::\n'
put etc/login.defs 0644 'MAIL_DIR /var/mail\nENCRYPT_METHOD SHA512\n'
put etc/default/useradd 0644 'SHELL=/bin/sh\n# INACTIVE=-1\n'
put etc/security/faillock.conf 0644 '# deny = 3\n# unlock_time = 600\n'
put etc/pam.d/common-auth 0644 'auth\t[success=1 default=ignore]\tpam_unix.so nullok\nauth\trequisite\t\t\tpam_deny.so\nauth\trequired\t\t\tpam_permit.so\n'
put etc/pam.d/common-password 0644 'password\t[success=1 default=ignore]\tpam_unix.so obscure yescrypt\npassword\trequisite\t\t\tpam_deny.so\n'
put etc/pam.d/su 0644 'auth       sufficient pam_rootok.so\n# auth       required   pam_wheel.so\n@include common-auth\n'
put etc/issue 0644 'Debian GNU/Linux 12 \\\\n \\\\l\n\n'
put etc/fstab 0644 '# UNCONFIGURED FSTAB FOR BASE SYSTEM\n'
put etc/sysctl.conf 0644 '#kernel.printk = 3 4 1 3\n'
mkdir -p "$R/etc/sysctl.d" "$R/usr/bin" "$R/usr/sbin" "$R/usr/lib" \
	"$R/var/lib/dpkg" "$R/proc"
ln -s ../sysctl.conf "$R/etc/sysctl.d/99-sysctl.conf"

"$H" check --root "$R" >"$T/check0"
rc=$?
check "check on the untouched root exits 1" [ "$rc" -eq 1 ]
n=$(grep -c '^DIFFERS ' "$T/check0")
check "the differences are listed item by item ($n)" [ "$n" -ge 40 ]
check "a sysctl difference names the item and the wanted value" \
	grep -q '^DIFFERS  sysctl.kernel.kptr_restrict: found not set; want 1..2$' "$T/check0"
check "a PAM difference shows the line found" \
	grep -q '^DIFFERS  pam.unix-no-nullok: found .*pam_unix.so nullok' "$T/check0"
"$H" check --root "$R" --output json >"$T/check0.json"
check "check --output json lists every item" \
	[ "$(grep -c '"id":' "$T/check0.json")" -eq "$(grep -c '^[oD][kI]' "$T/check0")" ]
"$H" scan --root "$R" >"$T/scan0"
check "scan of the untouched root exits 1" [ $? -eq 1 ]

sum() { find "$R" -type f -exec sha256sum {} + | sort; }
sum >"$T/sum0"
"$H" apply --root "$R" --dry-run >"$T/dry"
sum >"$T/sum1"
check "apply --dry-run changes nothing" cmp -s "$T/sum0" "$T/sum1"
check "apply --dry-run names each item" \
	[ "$(grep -c '^would change ' "$T/dry")" -eq "$n" ]

"$H" apply --root "$R" >"$T/apply1"
check "apply exits 0" [ $? -eq 0 ]
check "apply reports each item it changed" \
	[ "$(grep -c '^changed ' "$T/apply1")" -eq "$n" ]
"$H" check --root "$R" >"$T/check1"
check "check after apply: every item satisfied" [ $? -eq 0 ]
check "check after apply prints no difference" \
	sh -c "! grep -q '^DIFFERS' '$T/check1'"
"$H" scan --root "$R" >"$T/scan1"
rc=$?
check "scan after apply: every check reading the baseline satisfied" \
	[ "$rc" -eq 0 ]
grep -q ' 0 not$' "$T/scan1" || { cat "$T/scan1" >&2; fail "scan summary"; }
check "the originals are kept once" \
	grep -q 'nullok' "$R/etc/pam.d/common-auth.bulwark-orig"
check "the sysctl.conf symlink is left alone" [ -L "$R/etc/sysctl.d/99-sysctl.conf" ]

sum >"$T/sum2"
"$H" apply --root "$R" >"$T/apply2"
sum >"$T/sum3"
check "a second apply changes nothing" grep -qx '0 items changed' "$T/apply2"
check "a second apply writes no file" cmp -s "$T/sum2" "$T/sum3"

# A symlink that leads out of the root is refused, the outside untouched.
mkdir -p "$T/outside"
echo outside >"$T/outside/issue"
rm "$R/etc/issue"
ln -s "$T/outside/issue" "$R/etc/issue"
"$H" apply --root "$R" >"$T/apply3" 2>"$T/apply3.err"
check "apply through a symlink fails (exit 3)" [ $? -eq 3 ]
check "the refusal names the item" grep -q 'banner./etc/issue.*symlink' "$T/apply3.err"
check "the file outside the root is untouched" grep -qx outside "$T/outside/issue"

check_fails "an unknown command is refused" "$H" frobnicate --root "$R"

# record-sysctl and the scan without CAP_SYS_ADMIN (the collector's
# case): the kernel refuses net.core.bpf_jit_harden to the scan, which
# then takes the value root recorded, saying so, and only from a record
# no one but root may write. A root whose proc is this host's (a bind
# mount in a private mount namespace); needs root and unshare.
L="$T/live"
mkdir -p "$L/proc"
if [ "$(id -u)" = 0 ] && unshare -m true 2>/dev/null; then
	live=$(cat /proc/sys/net/core/bpf_jit_harden)
	cat >"$T/live.sh" <<LIVE
mount --bind /proc '$L/proc' || exit 9
'$H' record-sysctl --root '$L' >'$T/rec.out' || exit 8
setpriv --bounding-set=-sys_admin --inh-caps=-sys_admin \
	'$H' scan --root '$L' --output json >'$T/live1.json'
chmod 0664 '$L/run/bulwark-harden/sysctl-live.conf'
scan2() { setpriv --bounding-set=-sys_admin --inh-caps=-sys_admin \
	'$H' scan --root '$L' --output json >"\$1"; }
scan2 '$T/live2.json'
chmod 0644 '$L/run/bulwark-harden/sysctl-live.conf'
chown 65534 '$L/run/bulwark-harden/sysctl-live.conf'
scan2 '$T/live3.json'
chown 0 '$L/run/bulwark-harden/sysctl-live.conf'
chmod 0777 '$L/run/bulwark-harden'
scan2 '$T/live4.json'
chmod 0755 '$L/run/bulwark-harden'
old=\$(date -u -d @\$((\$(date +%s) - 7200)) +%Y-%m-%dT%H:%M:%SZ)
sed -i "1s/^# read [^ ]*/# read \$old/" '$L/run/bulwark-harden/sysctl-live.conf'
scan2 '$T/live5.json'
exit 0
LIVE
	unshare -m sh "$T/live.sh"
	check "record-sysctl ran in a private mount namespace" [ $? -eq 0 ]
	check "record-sysctl recorded bpf_jit_harden (as root)" \
		grep -qx "net.core.bpf_jit_harden = $live" "$L/run/bulwark-harden/sysctl-live.conf"
	obs() { jq -r '.[] | select(.check == "cm-sysctl-baseline") | .observations[] |
		select(.subject == "sysctl net.core.bpf_jit_harden") | .found' "$1"; }
	check "without CAP_SYS_ADMIN the scan takes root's record, and says so" \
		grep -q "^$live (read by root at 20[0-9-]*T[0-9:]*Z, [0-9]* s ago, /run/bulwark-harden/sysctl-live.conf" <<<"$(obs "$T/live1.json")"
	check "a record others may write is not taken" \
		grep -q '^unreadable (Operation not permitted), and no record of root' <<<"$(obs "$T/live2.json")"
	check "a record of another user's is not taken" \
		grep -q '^unreadable (Operation not permitted), and no record of root.*not a file of root' <<<"$(obs "$T/live3.json")"
	check "a record in a directory others may write is not taken" \
		grep -q '^unreadable (Operation not permitted), and no record of root.*directory is not root' <<<"$(obs "$T/live4.json")"
	check "a record read 2 h ago is refused as too old" \
		grep -q "^record too old: $live read by root 72[0-9][0-9] s ago" <<<"$(obs "$T/live5.json")"
	sat() { jq -r '.[] | select(.check == "cm-sysctl-baseline") | .observations[] |
		select(.subject == "sysctl net.core.bpf_jit_harden") | .ok' "$1"; }
	check "the too old record does not satisfy" [ "$(sat "$T/live5.json")" = false ]
	check "the fresh record says its age" \
		grep -q "read by root at [0-9TZ:-]*, [0-9]* s ago" <<<"$(obs "$T/live1.json")"
else
	echo "skip: record-sysctl without root or unshare"
fi
finish

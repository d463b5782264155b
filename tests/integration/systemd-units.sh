#!/bin/bash
# Issue 15, Done-means 4: `systemd-analyze security --offline=yes` rates
# the shipped bulwarkd unit (the built copy, install paths substituted)
# at most 2.0, and prints the agent unit's rating (docs/hardening.md
# explains both). `systemd-analyze verify` checks both units, with
# ExecStart= pointed at the built binaries and the man pages of the
# source tree. Then bulwarkd runs as its unit would run it: an
# unprivileged uid owning only its data directory, the unit's ambient
# capabilities and nothing else, no new privileges, umask 077, and the
# unit's SystemCallFilter= (kill on any other call) applied by
# tests/seccomp-exec; its spawner must hold CAP_SETUID and CAP_SETGID
# alone, the daemon CAP_AUDIT_WRITE alone, its API worker run as its own
# user with no capability, a seccomp filter and no new privileges; it
# must serve, take a write, import a signed
# image with its files' modes kept, run a compliance scan and an audit
# search, and stop cleanly. Needs no running systemd.
. "$(dirname "$0")/lib.sh" || exit 99

if ! command -v systemd-analyze >/dev/null; then
	echo "SKIP: no systemd-analyze (Debian package systemd)"
	exit 77
fi
units="$top_builddir/appliance/systemd"
for u in bulwarkd bulwark-agent; do
	[ -f "$units/$u.service" ] || { fail "$units/$u.service not built"; finish; }
done
check "no @...@ left unsubstituted" \
	bash -c "! grep -n '@[a-z]*@' '$units/bulwarkd.service' '$units/bulwark-agent.service'"

# exposure UNIT: the overall exposure level systemd-analyze prints.
exposure() {
	systemd-analyze security --offline=yes "$1" >"$T/sec.out" 2>&1
	sed -n 's/^→ Overall exposure level for [^:]*: \([0-9][0-9.]*\) .*/\1/p' \
		"$T/sec.out"
}
# rated UNIT-FILE LABEL: UNIT-FILE (copied beside its name) rated at
# most 2.0, its flagged items printed, and docs/hardening.md states it.
rated() {
	local name e
	name=$(basename "$1")
	cp "$1" "$T/$name"
	e=$(exposure "$T/$name")
	echo "$name: exposure ${e:-none}"
	grep '✗' "$T/sec.out" | sed "s/^/  $name: /"
	check "$name is rated at most 2.0 (is ${e:-none})" \
		awk -v e="${e:-99}" 'BEGIN { exit !(e <= 2.0) }'
	check "docs/hardening.md states the $2 rating ${e:-none}" \
		grep -q "$name.*${e:-none}" "$top_srcdir/docs/hardening.md"
}
for u in bulwarkd bulwark-agent; do
	cp "$units/$u.service" "$T/$u.service"
	e=$(exposure "$T/$u.service")
	[ -n "$e" ] || { cat "$T/sec.out" >&2; fail "no exposure level for $u"; continue; }
	echo "$u.service: exposure $e"
	grep '✗' "$T/sec.out" | sed "s/^/  $u: /"
	eval "exp_${u//-/_}=$e"
done
check "bulwarkd.service is rated at most 2.0 (is ${exp_bulwarkd:-none})" \
	awk -v e="${exp_bulwarkd:-99}" 'BEGIN { exit !(e <= 2.0) }'
# The same bound as systemd-analyze's own gate (its levels are tenths).
gate() { systemd-analyze security --offline=yes --threshold=20 "$1" >/dev/null 2>&1; }
check "systemd-analyze --threshold=20 accepts bulwarkd.service" gate "$T/bulwarkd.service"
# Volumes need the loop devices: /dev/loop-control for a free one, then
# /dev/loopN read-write (bind, mount, the release check). Without them
# the closed device policy refuses every attach.
a="$units/bulwark-agent.service"
check "bulwark-agent.service: devices closed but the TPM, KVM and the loop devices" \
	bash -c "grep -qx 'DevicePolicy=closed' '$a' && [ \"\$(grep '^DeviceAllow=' '$a' | LC_ALL=C sort | tr '\n' ' ')\" = 'DeviceAllow=/dev/kvm rw DeviceAllow=/dev/loop-control rw DeviceAllow=/dev/tpmrm0 rw DeviceAllow=block-loop rw ' ]"
check "docs/hardening.md says why the agent has the loop devices" \
	grep -q 'DeviceAllow=/dev/loop-control rw.*DeviceAllow=block-loop rw' "$top_srcdir/docs/hardening.md"
check "docs/hardening.md states the agent's rating ${exp_bulwark_agent:-none}" \
	grep -q "bulwark-agent.service.*${exp_bulwark_agent:-none}" \
	"$top_srcdir/docs/hardening.md"
check "docs/hardening.md states bulwarkd's rating ${exp_bulwarkd:-none}" \
	grep -q "bulwarkd.service.*${exp_bulwarkd:-none}" \
	"$top_srcdir/docs/hardening.md"

# The compliance collector's per-connection unit (issue 17): root with
# CAP_DAC_READ_SEARCH alone, so rated on what confines it; at most 2.0
# too, and the rating is the one docs/hardening.md states.
cp "$top_srcdir/appliance/systemd/bulwark-collect.socket" "$T/"
rated "$units/bulwark-collect@.service" "collector's"
# In a network namespace of its own /proc/sys/net would be that
# namespace's, not the host's that cm-sysctl-baseline checks.
check "bulwark-collect@.service has no PrivateNetwork= (it reads the host's /proc/sys/net)" \
	bash -c "! grep -q '^PrivateNetwork=' '$T/bulwark-collect@.service'"
check "bulwark-collect@.service keeps CAP_DAC_READ_SEARCH alone" \
	grep -qx 'CapabilityBoundingSet=CAP_DAC_READ_SEARCH' "$T/bulwark-collect@.service"
check "bulwark-collect.socket: group bulwark-collect, mode 0660, bulwarkd in the group" \
	sh -c "grep -qx 'SocketGroup=bulwark-collect' '$T/bulwark-collect.socket' &&
		grep -qx 'SocketMode=0660' '$T/bulwark-collect.socket' &&
		grep -q '^SupplementaryGroups=.*bulwark-collect' '$units/bulwarkd.service'"

# Each scan's collector has the CAP_SYS_ADMIN-only sysctls recorded
# again first, so the record is the scan's: it pulls in the sandboxed
# oneshot (which, without RemainAfterExit=, runs anew on every start)
# and starts after it; nothing of it runs outside its sandbox ("+", "!").
check "bulwark-collect@.service Wants= and comes After= bulwark-sysctl-record.service" \
	sh -c "grep -qx 'Wants=bulwark-sysctl-record.service' '$T/bulwark-collect@.service' &&
		grep -qx 'After=bulwark-sysctl-record.service' '$T/bulwark-collect@.service'"
check "bulwark-collect@.service runs nothing outside its sandbox (no Exec*=+ or !)" \
	bash -c "! grep -qE '^Exec[A-Za-z]*=[-@:]*[+!]' '$T/bulwark-collect@.service'"

# No unit that runs as root, or with DAC_OVERRIDE or DAC_READ_SEARCH,
# or holds secrets, sees /run/bulwark-fs, where the A/B root's top would
# be (every state/ directory, the homes) if it were left mounted there
# (docs/hardening.md).
for u in bulwark-collect@ bulwark-sysctl-record bulwark-console@ bulwarkd; do
	check "$u.service: /run/bulwark-fs in InaccessiblePaths=" \
		grep -qE '^InaccessiblePaths=(.* )?-/run/bulwark-fs( |$)' "$units/$u.service"
done

# The console (issue 17 review): root, reading input before anyone has
# logged in, so bounded: the capabilities its PAM stack needs and no
# more, a read-only system but for its state and pam_faillock's tally,
# no network, a system call allow-list; and never left failed by the
# start limit, as it is the only login. Rated at most 3.0, as docs/hardening.md states.
cp "$units/bulwark-console@.service" "$T/bulwark-console@.service"
e=$(exposure "$T/bulwark-console@.service")
echo "bulwark-console@.service: exposure ${e:-none}"
grep '✗' "$T/sec.out" | sed "s/^/  bulwark-console: /"
c="$T/bulwark-console@.service"
check "bulwark-console@.service: CapabilityBoundingSet= exactly AUDIT_WRITE DAC_OVERRIDE CHOWN SYS_RESOURCE" \
	grep -qx 'CapabilityBoundingSet=CAP_AUDIT_WRITE CAP_DAC_OVERRIDE CAP_CHOWN CAP_SYS_RESOURCE' "$c"
for kv in NoNewPrivileges=yes ProtectSystem=strict RuntimeDirectory=faillock \
	RuntimeDirectoryPreserve=yes StateDirectory=bulwark-console \
	ProtectKernelTunables=yes ProtectKernelModules=yes ProtectKernelLogs=yes \
	ProtectControlGroups=yes 'RestrictAddressFamilies=AF_UNIX AF_NETLINK AF_INET AF_INET6' \
	IPAddressDeny=any IPAddressAllow=localhost \
	SystemCallFilter=@system-service SystemCallArchitectures=native \
	MemoryDenyWriteExecute=yes LockPersonality=yes RestrictRealtime=yes \
	RestrictNamespaces=yes StartLimitIntervalSec=0 TTYPath=/dev/%I \
	StandardInput=tty; do
	check "bulwark-console@.service: $kv" grep -qx "$kv" "$c"
done
check "bulwark-console@.service: ReadWritePaths= only /etc (pam_unix's password change)" \
	bash -c "[ \"\$(grep '^ReadWritePaths=' '$c')\" = 'ReadWritePaths=/etc' ]"
check "bulwark-console@.service: devices closed but its own terminal" \
	bash -c "grep -qx 'DevicePolicy=closed' '$c' && [ \"\$(grep '^DeviceAllow=' '$c')\" = 'DeviceAllow=/dev/%I rw' ]"
check "bulwark-console@.service: the PAM file's faillock dir is the runtime directory" \
	bash -c "grep -o 'dir=[^ ]*' '$top_srcdir/appliance/pam/bulwark-console' | sort -u | grep -qx 'dir=/var/run/faillock'"
check "bulwark-console@.service is rated at most 3.0 (is ${e:-none})" \
	awk -v e="${e:-99}" 'BEGIN { exit !(e <= 3.0) }'
check "docs/hardening.md states the console's rating ${e:-none}" \
	grep -q "bulwark-console@.service.*${e:-none}" "$top_srcdir/docs/hardening.md"

# The sysctl record, at boot and before each scan: CAP_SYS_ADMIN alone,
# writing only its own runtime directory, /proc/sys read-only, no
# socket, a system call allow-list, and the host's network namespace;
# no RemainAfterExit=, so each collector's start runs it again. Rated
# at most 2.0, as docs/hardening.md states.
r="$units/bulwark-sysctl-record.service"
for kv in CapabilityBoundingSet=CAP_SYS_ADMIN RuntimeDirectory=bulwark-harden \
	RuntimeDirectoryMode=0755 RuntimeDirectoryPreserve=yes ProtectSystem=strict \
	ProtectKernelTunables=yes ProtectKernelModules=yes ProtectKernelLogs=yes \
	ProtectControlGroups=yes PrivateDevices=yes DevicePolicy=closed \
	NoNewPrivileges=yes IPAddressDeny=any RestrictAddressFamilies=none \
	RestrictNamespaces=yes SystemCallFilter=@system-service \
	SystemCallFilter=~@privileged SystemCallArchitectures=native \
	MemoryDenyWriteExecute=yes; do
	check "bulwark-sysctl-record.service: $kv" grep -qx "$kv" "$r"
done
check "bulwark-sysctl-record.service: no ReadWritePaths=, no PrivateNetwork=, no ProcSubset=pid" \
	bash -c "! grep -qE '^(ReadWritePaths|PrivateNetwork|ProcSubset)=' '$r'"
check "bulwark-sysctl-record.service: no RemainAfterExit= (each scan's start runs it)" \
	bash -c "! grep -qE '^RemainAfterExit=(yes|true|1|on)' '$r'"
rated "$r" "sysctl record's"

# verify: the built binaries and the source tree's man pages stand in
# for the installed ones.
mkdir -p "$T/man/man8"
cp "$top_srcdir/man/bulwarkd.8" "$top_srcdir/man/bulwark-agent.8" \
	"$top_srcdir/man/bulwark-collect.8" "$top_srcdir/man/bulwark-console.8" \
	"$top_srcdir/man/bulwark-harden.8" "$T/man/man8/"
for u in bulwarkd bulwark-agent bulwark-collect@ bulwark-console@ bulwark-sysctl-record; do
	sed -i -e "s|^ExecStart=[^ ]*/|ExecStart=$BW/|" \
		-e "s|^ExecStartPre=\([-+]*\)[^ ]*/|ExecStartPre=\1$BW/|" "$T/$u.service"
done
if MANPATH="$T/man" systemd-analyze verify "$T/bulwarkd.service" \
	"$T/bulwark-agent.service" "$T/bulwark-collect.socket" \
	"$T/bulwark-collect@.service" "$T/bulwark-console@.service" \
	"$T/bulwark-sysctl-record.service" >"$T/verify.out" 2>&1; then
	pass "systemd-analyze verify accepts the units"
else
	cat "$T/verify.out" >&2
	fail "systemd-analyze verify"
fi

# ---- bulwarkd under its unit's identity and filters ----
unit="$units/bulwarkd.service"
if [ "$(id -u)" -ne 0 ] || ! command -v setpriv >/dev/null; then
	echo "note: not root or no setpriv: bulwarkd is not run under the unit's filters"
	finish
fi
if grep -q __asan_init "$BW/bulwarkd"; then
	# LeakSanitizer stops the world with ptrace, outside @system-service.
	echo "note: sanitizer build: bulwarkd is not run under the unit's filters"
	finish
fi

# expand: system call names and @groups on stdin, names out.
expand() {
	local x
	while read -r x; do
		case $x in
		@*) systemd-analyze syscall-filter "$x" | sed -n 's/^ \{1,\}\([a-z0-9_]\{1,\}\)$/\1/p; s/^ \{1,\}\(@[a-z-]\{1,\}\)$/\1/p' | expand ;;
		?*) echo "$x" ;;
		esac
	done
}
# allow_list UNIT OUT: UNIT's SystemCallFilter= lines in order into OUT,
# one name a line: the first is the allow-list, "~" lines remove from
# it, others add to it.
allow_list() {
	local spec n=0
	: >"$2"
	while read -r spec; do
		n=$((n + 1))
		case $spec in
		"~"*)	[ $n -gt 1 ] || { fail "$1: the first SystemCallFilter= is not an allow-list"; finish; }
			printf '%s\n' ${spec#\~} | expand | sort -u >"$T/rm"
			sort -u "$2" | comm -23 - "$T/rm" >"$2.new"
			mv "$2.new" "$2" ;;
		*)	printf '%s\n' $spec | expand >>"$2" ;;
		esac
	done < <(sed -n 's/^SystemCallFilter=//p' "$1")
	sort -u -o "$2" "$2"
}
allow_list "$unit" "$T/allow"
echo "the unit allows $(wc -l <"$T/allow") system calls"
check "the allow-list has the event loop, threads and fdatasync" \
	bash -c "grep -qx epoll_wait '$T/allow' && grep -qx clone3 '$T/allow' && grep -qx fdatasync '$T/allow'"
check "the allow-list has no mount, ptrace or setuid" \
	bash -c "! grep -qxE 'mount|ptrace|setuid|init_module' '$T/allow'"

# The sysctl record under its unit's capability bound, umask and system
# call filter: record-sysctl on a scratch root (its proc/sys absent, so
# each value a comment) must write the record, not be killed.
allow_list "$units/bulwark-sysctl-record.service" "$T/allow-rec"
mkdir -p "$T/rec-root"
if (umask 022; exec setpriv --bounding-set=-all,+sys_admin --no-new-privs \
	"$BW/tests/seccomp-exec" allow "$T/allow-rec" \
	"$BW/bulwark-harden" record-sysctl --root "$T/rec-root") >"$T/rec.out" 2>&1; then
	pass "record-sysctl runs under bulwark-sysctl-record.service's filters"
else
	cat "$T/rec.out" >&2
	fail "record-sysctl under bulwark-sysctl-record.service's filters"
fi
check "its record is written, mode 0644" \
	bash -c "[ \"\$(stat -c %a '$T/rec-root/run/bulwark-harden/sysctl-live.conf')\" = 644 ]"

caps=""
for c in $(sed -n 's/^AmbientCapabilities=//p' "$unit"); do
	c=${c#CAP_}
	caps="$caps,+${c,,}"
done
uid=$((61184 + $$ % 4000))	# systemd's DynamicUser= range
while getent passwd "$uid" >/dev/null || getent group "$uid" >/dev/null; do
	uid=$((uid + 1))
done
D="$T/d"
MEDIA="$T/media"
mkdir -p "$D" "$MEDIA/rootfs/bin" "$MEDIA/rootfs/etc"
printf '#!/bin/sh\n' >"$MEDIA/rootfs/bin/tool"
chmod 0755 "$MEDIA/rootfs/bin/tool"
echo secret >"$MEDIA/rootfs/etc/key"
chmod 0600 "$MEDIA/rootfs/etc/key"
tar -C "$MEDIA/rootfs" -cf "$MEDIA/img.tar" .
openssl ecparam -name secp384r1 -genkey -noout -out "$T/pub.key" 2>/dev/null
openssl ec -in "$T/pub.key" -pubout -out "$T/pub.pem" 2>/dev/null
"$BW/bulwark" image sign --key "$T/pub.key" "$MEDIA/img.tar" >/dev/null
chmod -R a+rX "$MEDIA"
chown "$uid:$uid" "$D"
chmod 0700 "$D"
chmod 0711 "$T"
# the options the unit's ExecStart= gives besides the data directory
# (--privsep): bulwarkd runs with them as the unit would run it
uopts=$(sed -n 's/^ExecStart=[^ ]* --data-dir [^ ]*\(.*\) \$BULWARKD_OPTS$/\1/p' \
	"$T/bulwarkd.service")
check "the unit starts bulwarkd with --privsep (ExecStart options:$uopts)" \
	sh -c "case ' $uopts ' in *' --privsep '*) ;; *) exit 1 ;; esac"
(
	umask 077
	exec setpriv --reuid="$uid" --regid="$uid" --clear-groups \
		--inh-caps=-all$caps ${caps:+--ambient-caps="${caps#,}"} \
		--bounding-set=-all$caps --no-new-privs \
		"$BW/tests/seccomp-exec" allow "$T/allow" \
		"$BW/bulwarkd" --data-dir "$D" $uopts --listen 127.0.0.1:0 \
		--import-root "$MEDIA" >"$T/bulwarkd.log" 2>&1
) &
BWD_PID=$!
BW_PIDS="$BW_PIDS $BWD_PID"
PORT=""
for _ in $(seq 200); do
	if [ -f "$D/admin.conf" ]; then
		PORT=$(jq -r .server "$D/admin.conf" | sed 's/.*://')
		curl -sk "https://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break
	fi
	kill -0 "$BWD_PID" 2>/dev/null || break
	sleep 0.05
done
if ! curl -sk "https://127.0.0.1:$PORT/healthz" 2>/dev/null | grep -q '"ok"'; then
	cat "$T/bulwarkd.log" >&2
	wait "$BWD_PID"
	fail "bulwarkd serves /healthz under the unit's filters (exit $?)"
	finish
fi
pass "bulwarkd serves /healthz as uid $uid under the unit's filters"
st="/proc/$BWD_PID/status"
check "it runs as uid $uid" grep -qE "^Uid:[[:space:]]+$uid[[:space:]]+$uid[[:space:]]+$uid" "$st"
check "no new privileges, a seccomp filter" \
	bash -c "grep -qE '^NoNewPrivs:[[:space:]]+1' '$st' && grep -qE '^Seccomp:[[:space:]]+2' '$st'"
check "its effective capabilities are its bounding set ($(sed -n 's/^CapBnd:[[:space:]]*//p' "$st"))" \
	bash -c "[ \"\$(sed -n 's/^CapEff:[[:space:]]*//p' '$st')\" = \"\$(sed -n 's/^CapBnd:[[:space:]]*//p' '$st')\" ]"
# The process split under the unit: the spawner alone keeps CAP_SETUID
# and CAP_SETGID, the daemon CAP_AUDIT_WRITE alone (its bounding set
# too), the API worker runs as its own user with nothing.
capf() { sed -n "s/^$1:[[:space:]]*//p" "/proc/$2/status"; }
wuid=$(getent passwd _bulwark-api | cut -d: -f3)
wuid=${wuid:-64090}
SPW=$(pgrep -P "$BWD_PID" -x bwd-spawner | head -1)
WRK=""
[ -n "$SPW" ] && WRK=$(pgrep -P "$SPW" -f -- '--worker$' | head -1)
check "a spawner (pid ${SPW:-none}) and its worker (pid ${WRK:-none}) run" \
	[ -n "$SPW" -a -n "$WRK" ]
aw=0000000020000000	# CAP_AUDIT_WRITE
ids=00000000000000c0	# CAP_SETGID, CAP_SETUID
for f in CapEff CapPrm CapBnd; do
	check "the daemon's $f is CAP_AUDIT_WRITE alone ($(capf $f "$BWD_PID"))" \
		[ "$(capf $f "$BWD_PID")" = "$aw" ]
done
check "the daemon has no ambient capability but CAP_AUDIT_WRITE ($(capf CapAmb "$BWD_PID"))" \
	[ "$(capf CapAmb "$BWD_PID")" = "$aw" ]
for f in CapEff CapPrm; do
	check "the spawner's $f is CAP_SETUID and CAP_SETGID alone ($(capf $f "${SPW:-0}" 2>/dev/null))" \
		[ "$(capf $f "$SPW")" = "$ids" ]
done
check "the spawner has Seccomp 2 and NoNewPrivs 1" \
	[ "$(capf Seccomp "$SPW")/$(capf NoNewPrivs "$SPW")" = 2/1 ]
check "the spawner runs as uid $uid" grep -qE "^Uid:[[:space:]]+$uid[[:space:]]+$uid[[:space:]]+$uid" "/proc/$SPW/status"
check "the worker runs as uid $wuid ($(capf Uid "${WRK:-0}" 2>/dev/null))" \
	grep -qE "^Uid:[[:space:]]+$wuid[[:space:]]+$wuid[[:space:]]+$wuid" "/proc/$WRK/status"
check "the worker's gid is $wuid" grep -qE "^Gid:[[:space:]]+$wuid[[:space:]]+$wuid[[:space:]]+$wuid" "/proc/$WRK/status"
for f in CapEff CapPrm CapAmb; do
	check "the worker's $f is 0" [ "$(capf $f "$WRK")" = 0000000000000000 ]
done
check "the worker has Seccomp 2 and NoNewPrivs 1" \
	[ "$(capf Seccomp "$WRK")/$(capf NoNewPrivs "$WRK")" = 2/1 ]
B="$BW/bulwark --config $D/admin.conf"
check "a write through the commit pipeline" $B apply -f "$top_srcdir/examples/tenant.json"
check "a compliance scan" bash -c "$BW/bulwark --config '$D/auditor.conf' compliance scan -o json | jq -e '.summary.total.satisfied > 0' >/dev/null"
check "an audit search" bash -c "$BW/bulwark --config '$D/auditor.conf' audit search --action 'tenant.*' -o json | jq -e '.items | length >= 1' >/dev/null"
check "a signed image is imported (tar, find, rm under the filter)" \
	bash -c "$B image trust add '$T/pub.pem' >/dev/null && $B image import '$MEDIA/img.tar' --type container >/dev/null"
img="$D/images/rootfs/$(sha256sum "$MEDIA/img.tar" | cut -d' ' -f1)"
check "the image keeps its modes under umask 077 (bin/tool $(stat -c %a "$img/bin/tool" 2>/dev/null), etc/key $(stat -c %a "$img/etc/key" 2>/dev/null))" \
	bash -c "[ \"\$(stat -c %a '$img/bin/tool')\" = 755 ] && [ \"\$(stat -c %a '$img/etc/key')\" = 600 ] && [ \"\$(stat -c %a '$img/bin')\" = 755 ]"
check "every file in the data directory is the user's" \
	bash -c "[ -z \"\$(find '$D' ! -user $uid | head -1)\" ]"
kill -TERM "$BWD_PID"
wait "$BWD_PID"
rc=$?
BW_PIDS=""
check "it stops cleanly on SIGTERM (exit $rc; 159 is a seccomp kill)" [ "$rc" = 0 ]
check "the spawner and the worker ended with it" \
	sh -c "! kill -0 ${SPW:-0} 2>/dev/null && ! kill -0 ${WRK:-0} 2>/dev/null"
finish

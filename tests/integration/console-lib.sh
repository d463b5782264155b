# Sourced by the tests that drive bulwark-console in tmux (console.sh,
# console-views.sh): PAM through pam_wrapper (pam_matrix passwords,
# pam_faillock with its tally in the test's dir) and users from
# nss_wrapper, so nothing in /etc changes; bulwarkd on $T/bwd; a tmux
# server of the test's own; helpers to start a console, read and type.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" || exit 99

LIBDIR=/usr/lib/x86_64-linux-gnu
MODS=$LIBDIR/security
[ -d /lib/x86_64-linux-gnu/security ] && MODS=/lib/x86_64-linux-gnu/security
MATRIX=$LIBDIR/pam_wrapper/pam_matrix.so
command -v tmux >/dev/null || { echo "SKIP: no tmux"; exit 77; }
for f in "$LIBDIR/libpam_wrapper.so" "$LIBDIR/libnss_wrapper.so" "$MATRIX" \
    "$MODS/pam_faillock.so"; do
	[ -e "$f" ] || { echo "SKIP: $f missing (libpam-wrapper, libnss-wrapper)"; exit 77; }
done

# pam_wrapper loads libpam with RTLD_DEEPBIND, which the ASan runtime
# refuses (google/sanitizers#611): a sanitizer build cannot log in here
if nm "$BW/bulwark-console" 2>/dev/null | grep -q '__asan_init'; then
	echo "SKIP: pam_wrapper's RTLD_DEEPBIND cannot run under ASan"
	exit 77
fi

# --console-config: the file whose lock bulwarkd's scans report
# (console.sh copies the configuration of the console it tests there)
start_bulwarkd "$T/bwd" --console-config "$T/console-scan.json" || { echo "bulwarkd did not start" >&2; exit 1; }

# PAM: the shipped stack's shape, with pam_matrix for pam_unix and the
# tally under $T
FL="deny=3 fail_interval=900 unlock_time=10800 dir=$T/faillock"
mkdir -p "$T/pam" "$T/faillock"
cat >"$T/pam/bulwark-console" <<PAM
auth     required                $MODS/pam_faillock.so preauth $FL
auth     [success=1 default=bad] $MATRIX passdb=$T/passdb
auth     [default=die]           $MODS/pam_faillock.so authfail $FL
auth     sufficient              $MODS/pam_faillock.so authsucc $FL
auth     required                $MODS/pam_deny.so
account  required                $MODS/pam_faillock.so dir=$T/faillock
account  required                $MATRIX passdb=$T/passdb
session  required                $MODS/pam_permit.so
PAM
printf 'auth required %s/pam_deny.so\naccount required %s/pam_deny.so\n' \
	"$MODS" "$MODS" >"$T/pam/other"
# console_users NAME:PASSWORD:UID...: the users PAM and NSS know
console_users() {
	local u
	: >"$T/passdb"; : >"$T/passwd"; : >"$T/group"
	for u in "$@"; do
		IFS=: read -r name pass uid <<<"$u"
		printf '%s:%s:bulwark-console\n' "$name" "$pass" >>"$T/passdb"
		printf '%s:x:%s:%s:%s:/nonexistent:/bin/false\n' "$name" "$uid" \
			"$uid" "$name" >>"$T/passwd"
		printf '%s:x:%s:\n' "$name" "$uid" >>"$T/group"
	done
}
A="$BW/bulwark --config $AUDITOR"
# trail ACTION JQ: bulwarkd's trail has a record of ACTION matching JQ
trail() {
	$A audit search --action "$1" -o json 2>/dev/null |
		jq -en "input | [.items[] | select($2)] | length >= 1" >/dev/null
}

# write_conf FILE IDLE SESSION_MAX [SOCKET [MEMBERS]]: MEMBERS, e.g.
# '"fallback_credential": true,', go in as they are; state_dir is
# $STATE if set
write_conf() {
	cat >"$1" <<CONF
{"banner": "TEST NOTICE: authorised use only.\nUse is monitored and recorded.",
 "idle_timeout": $2, "session_max": $3, "refresh": 2,
 "state_dir": "${STATE:-$T/state}", "client_config": "$T/bwd/admin.conf",
 "credential_socket": "${4:-$T/bwd/console.sock}", ${5:-}
 "faillock": {"dir": "$T/faillock"}}
CONF
}

# A tmux server of our own, in the foreground so this script reaps it.
SOCK="$T/tmux.sock"
tm() { tmux -S "$SOCK" "$@"; }
tmux -S "$SOCK" -f /dev/null -D &
TMUX_PID=$!
BW_PIDS="$BW_PIDS $TMUX_PID"
trap 'tm kill-server 2>/dev/null; cleanup' EXIT
wait_for 30 test -S "$SOCK" || { echo "tmux server did not start" >&2; exit 1; }

# start_console CONF [NAME [ARGS]]: a new 80x24 window NAME (c) running
# the console ($CONSOLE_BIN, else the build's) with the extra arguments
# ARGS
start_console() {
	local old
	# The console a session of the same name ran goes first: its session
	# slots (AC-10, locks held by the process) are free only once it has
	# exited, and a login on the new console must not race its hang-up.
	old=$(tm display-message -p -t "${2:-c}" '#{pane_pid}' 2>/dev/null)
	tm kill-session -t "${2:-c}" 2>/dev/null
	[ -z "$old" ] || wait_for 30 sh -c "! kill -0 $old 2>/dev/null" ||
		echo "warning: console $old still running after its hang-up" >&2
	tm new-session -d -x 80 -y 24 -s "${2:-c}" "exec env \
LD_PRELOAD='libpam_wrapper.so libnss_wrapper.so' PAM_WRAPPER=1 \
PAM_WRAPPER_SERVICE_DIR='$T/pam' NSS_WRAPPER_PASSWD='$T/passwd' \
NSS_WRAPPER_GROUP='$T/group' TERM=vt100 NO_COLOR=1 \
'${CONSOLE_BIN:-$BW/bulwark-console}' -c '$1' ${3:-} 2>>'$T/console.err'"
}

# every capture is kept, to check that no password was ever drawn
# the window the helpers act on: c, or c2 for a second console
TGT=c
screen() { tm capture-pane -p -t "$TGT" 2>/dev/null | tee -a "$T/captures"; }
has() { screen | grep -Eq "$1"; }
hasnt() { ! screen | grep -Eq "$1"; }
# expect DESCRIPTION REGEX: the screen shows REGEX within 30 s
expect() {
	if wait_for 30 has "$2"; then pass "$1"; else
		fail "$1 (screen:)"; screen | sed 's/^/  | /' >&2
	fi
}
keys() { tm send-keys -t "$TGT" "$@"; }
# snap NAME: keeps the screen as $T/screens/NAME (docs/console.md shows them)
snap() { mkdir -p "$T/screens"; screen >"$T/screens/$1"; }
# login USER PASSWORD: at the login prompt
login() {
	wait_for 30 has '^Login:' || { fail "no login prompt"; return 1; }
	keys "$1" Enter
	wait_for 30 has '^Password:' || { fail "no password prompt"; return 1; }
	keys "$2" Enter
}
events() { cat "$T/state/events.log" 2>/dev/null; }

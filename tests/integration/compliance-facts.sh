#!/bin/bash
# The facts bulwarkd reports about itself for the compliance checks come
# from its live state: scan, change the state through the API (or the
# file the daemon enforces), scan again, and the verdicts must follow.
. "$(dirname "$0")/lib.sh" || exit 99

# The console's configuration the facts read: not written yet.
CCONF=$T/console.json
start_bulwarkd "$T/d" --no-privsep --console-config "$CCONF" || exit 1
ucurl() { # as the auditor
	curl -s --cacert "$PKI/ca.crt" --cert "$PKI/auditor.crt" --key "$PKI/auditor.key" "$@"
}
J='-H Content-Type:application/json'
scan() {
	acurl -X POST $J --data '{"baseline":"moderate"}' \
		"$URL/v1/compliance/scans" >"$T/scan.json"
}
verdict() { # CHECK -> verdict
	jq -r --arg c "$1" '.results[] | select(.check == $c) | .verdict' "$T/scan.json"
}
found() { # CHECK SUBJECT -> found value
	jq -r --arg c "$1" --arg s "$2" '.results[] | select(.check == $c) |
		.observations[] | select(.subject == $s) | .found' "$T/scan.json" | head -1
}
revisions() { # config_revisions: 0 said in words, else the number it starts with
	local f
	f=$(found cm-config-history fact:config_revisions)
	case $f in
	"satisfied: no previous versions yet; retention "*) echo 0 ;;
	*) echo "${f%%[^0-9]*}" ;;
	esac
}
expect() { # CHECK VERDICT WHY
	local v
	v=$(verdict "$1")
	if [ "$v" = "$2" ]; then pass "$1 $2 ($3)"; else fail "$1: $v, expected $2 ($3)"; fi
}

scan
n=$(jq -r .automated_controls "$T/scan.json")
if [ "$n" -ge 120 ]; then pass "$n Moderate controls automated"; else fail "only $n automated"; fi
# Facts the daemon can always establish about itself.
expect ac-account-lifecycle satisfied "no principal yet"
expect ac-credential-expiry satisfied "bootstrap 3600 s, certificates 365 days"
expect cm-change-control satisfied "root secret sealed"
expect ac-unauth-actions satisfied "the unauthenticated endpoint in the approved list's form"
if [ "$(id -u)" = 0 ]; then
	expect ra-privileged-scan satisfied "root scanner, privileged roles"
else
	expect ra-privileged-scan not-satisfied "unprivileged scanner"
fi
expect ca-continuous-assessment satisfied "hourly timer armed"
expect si-attestation-response satisfied "default attestation settings"
expect si-input-validation satisfied "validator self-test"
check "keys_sealed read from the PKI directory" \
	test "$(found sc-key-management fact:keys_sealed)" = yes
check "TPM kind read from the local Node (private swtpm)" \
	test "$(found ia-device-identity fact:tpm)" = "software (swtpm)"
# SC-2, SC-39, AC-6: the confinement facts are bulwarkd's live process
# state, as /proc/PID/status shows it to this test.
live() { # PID -> "pid P: uid U, CapEff HEX, NoNewPrivs N, Seccomp S"
	awk -v p="$1" '$1 == "Uid:" { u = $3 } $1 == "CapEff:" { c = $2 }
		$1 == "NoNewPrivs:" { n = $2 } $1 == "Seccomp:" { s = $2 }
		END { printf "pid %s: uid %s, CapEff %s, NoNewPrivs %s, Seccomp %s\n",
			p, u, c, n, s }' "/proc/$1/status"
}
confinement_is() { # WANT WHAT: the confinement observations name WANT
	local want=$1 what=$2 c s
	for c in "sc-privsep privsep" "sc-process-isolation seccomp" \
		"ac-least-privilege seccomp" "ac-least-privilege no_new_privs"; do
		set -- $c
		s=$(found "$1" "fact:$2")
		case "$s" in
		*"($want)") pass "$1 fact:$2 from $what: $s" ;;
		*) fail "$1 fact:$2 is '$s', /proc says '$want'" ;;
		esac
	done
}
confinement() { # PID: the confinement observations name PID's live state
	confinement_is "$(live "$1")" "the live process"
}
confinement "$BWD_PID"
if grep -q '^Seccomp:[[:space:]]*0' "/proc/$BWD_PID/status" &&
	[ "$(awk '$1 == "Uid:" { print $3 }' "/proc/$BWD_PID/status")" = 0 ]; then
	expect sc-privsep not-satisfied "root bulwarkd"
	expect sc-process-isolation not-satisfied "no seccomp filter"
	expect ac-least-privilege not-satisfied "no seccomp filter"
	check "seccomp is no" sh -c "case '$(found ac-least-privilege fact:seccomp)' in no*) ;; *) exit 1 ;; esac"
	check "privsep is no" sh -c "case '$(found sc-privsep fact:privsep)' in no*) ;; *) exit 1 ;; esac"
fi

# AC-11, AC-11(1), IA-11: from the console's configuration, read with
# the console's parser at each scan. Absent: nothing is known, nothing
# is satisfied (the default path too: see the restart below).
expect ac-idle-lock not-satisfied "no console configuration"
expect ia-reauth not-satisfied "no console configuration"
check "idle_lock_s not reported without the file" \
	test "$(found ac-idle-lock fact:idle_lock_s)" = "not reported"
# CM-2(3): the changes to stored objects the change log holds, counted.
# A fresh store has none: satisfied by its retention alone, and said so.
revs0=$(revisions)
check "no previous version yet is said as such ($(found cm-config-history fact:config_revisions))" \
	test "$(found cm-config-history fact:config_revisions)" = "satisfied: no previous versions yet; retention 10000 changes"
console_conf() { # IDLE SESSION_MAX [MEMBERS]
	printf '{"idle_timeout": %s, "session_max": %s, %s "refresh": 5}\n' \
		"$1" "$2" "${3:-}" >"$CCONF"
	chmod 0644 "$CCONF"
}
console_conf 600 28800
scan
expect ac-idle-lock satisfied "idle_timeout 600, the lock erases the screen"
check "idle_lock_s is the file's 600" test "$(found ac-idle-lock fact:idle_lock_s)" = 600
check "lock_conceals yes" test "$(found ac-idle-lock fact:lock_conceals)" = yes
# bulwarkd issues the console's session certificates for at most this
# file's session_max (console.sh sees a longer request cut to it).
check "token_lifetime_s is session_max, the most bulwarkd issues" \
	test "$(found ia-reauth fact:token_lifetime_s)" = 28800
expect ia-reauth satisfied "session certificates of at most 8 h"
# A file group or others may write proves nothing.
chmod 0666 "$CCONF"
scan
expect ac-idle-lock not-satisfied "world-writable console.json"
check "idle_lock_s not reported from a world-writable file" \
	test "$(found ac-idle-lock fact:idle_lock_s)" = "not reported"
chmod 0644 "$CCONF"
# A FIFO in the file's place: the scan answers (nothing is read from
# it) and bulwarkd goes on serving.
mv "$CCONF" "$T/console.json.saved"
mkfifo "$CCONF"
acurl -m 60 -X POST $J --data '{"baseline":"moderate"}' \
	"$URL/v1/compliance/scans" >"$T/scan.json"
check "a scan with a FIFO as console.json answers" \
	test "$(verdict ac-idle-lock)" = not-satisfied
if curl -gsk -m 30 -o /dev/null "$URL/healthz"; then
	pass "bulwarkd answers /healthz after it"
else
	fail "bulwarkd no longer answers /healthz with a FIFO as console.json"
	# a writer releases the open that holds bulwarkd, so the rest runs
	timeout 10 sh -c ': >"$1"' sh "$CCONF"
fi
rm -f "$CCONF"
mv "$T/console.json.saved" "$CCONF"
console_conf 3600 86400
scan
expect ac-idle-lock not-satisfied "idle_timeout 3600 > 900"
check "idle_lock_s follows the file" test "$(found ac-idle-lock fact:idle_lock_s)" = 3600
expect ia-reauth not-satisfied "24 h sessions > 12 h"
# With the fallback credential the console may use a certificate from
# a file, whose lifetime the configuration does not say.
console_conf 300 3600 '"fallback_credential": true,'
scan
expect ac-idle-lock satisfied "idle_timeout 300"
expect ia-reauth not-satisfied "fallback credential: lifetime unknown"
check "token_lifetime_s not reported with the fallback credential" \
	test "$(found ia-reauth fact:token_lifetime_s)" = "not reported"
# A value the console itself refuses is no value.
console_conf 0 3600
scan
expect ac-idle-lock not-satisfied "idle_timeout 0 refused by the console's parser"
console_conf 900 28800

# AU-6: no auditor has looked at the trail yet.
expect au-review not-satisfied "never reviewed"

# An auditor reviews the trail; a principal is created and revoked.
ucurl -o /dev/null "$URL/v1/audit/records?limit=1"
acurl -o /dev/null -X POST $J --data '{"kind":"Tenant","metadata":{"name":"acme"}}' \
	"$URL/v1/tenants"
"$BW/bulwark" --config "$CONF" principal create alice -t acme --role tenant-admin \
	--days 30 --out "$T/p" >/dev/null
"$BW/bulwark" --config "$CONF" principal create bob -t acme --role tenant-user \
	--days 7 --out "$T/p" >/dev/null
acurl -o /dev/null -X DELETE "$URL/v1/tenants/acme/principals/alice"
sleep 1.5	# the search record rides with the next group commit
scan
expect au-review satisfied "the auditor searched the trail"
check "two principals examined" test "$(found ac-account-lifecycle fact:principals)" = 2
expect ac-account-lifecycle satisfied "alice revoked and unbound, bob bound"
revs1=$(revisions)
check "config_revisions counts alice's revocation, an earlier version of her kept ($revs0 -> $revs1)" \
	test "$revs1" -gt "$revs0"
# CM-2(3) counts the changes whose previous version the change log
# holds: not a creation, not what only the system writes (a waiver,
# requested and approved: the approval is its status), but a second
# change to an object.
exp=$(date -u -d "@$(($(date +%s) + 86400))" +%Y-%m-%dT%H:%M:%SZ)
jq -n --arg e "$exp" '{kind: "Waiver", metadata: {name: "wf"}, spec: {control:
	"pe-3", justification: "test", expires: $e}}' >"$T/wf.json"
check "a waiver is asked for" sh -c "'$BW/bulwark' --config '$CONF' waiver create -f '$T/wf.json' >/dev/null"
check "...and approved" sh -c "'$BW/bulwark' --config '$AUDITOR' waiver approve wf >/dev/null"
scan
revs2=$(revisions)
check "config_revisions does not count the system's writes ($revs1 -> $revs2)" \
	test "$revs2" = "$revs1"
# Fewer than two previous versions, but the change log was never
# compacted and its retention (the default 10000 changes) keeps two:
# every previous version there has been is held (CM-2(3)), and the
# observation says so with the count as it is and the retention.
expect cm-config-history satisfied "no object changed twice yet, nothing compacted"
check "the observation says every version is held ($(found cm-config-history fact:config_revisions))" \
	test "$(found cm-config-history fact:config_revisions)" = "$revs2: every previous version there has been (nothing compacted); retention 10000 changes"
relabel() { # VALUE: acme's label cost, HTTP status on stdout
	acurl -o /dev/null -w '%{http_code}' -X PUT $J --data \
		"{\"kind\":\"Tenant\",\"metadata\":{\"name\":\"acme\",\"labels\":{\"cost\":\"$1\"}}}" \
		"$URL/v1/tenants/acme"
}
code=$(relabel a)
check "the tenant acme is relabelled ($code)" test "$code" = 200
code=$(relabel b)
check "...and again ($code)" test "$code" = 200
scan
revs3=$(revisions)
check "config_revisions counts the tenant's two changes ($revs2 -> $revs3)" \
	test "$revs3" = $((revs2 + 2))
expect cm-config-history satisfied "$revs3 changes with their previous versions kept"
expect ac-idle-lock satisfied "idle_timeout 900"

# The store says alice is revoked, but her serial leaves the list the
# server enforces: the account state no longer agrees.
cp "$PKI/revoked" "$T/revoked.saved"
: >"$PKI/revoked"
scan
expect ac-account-lifecycle not-satisfied "revoked serial missing from the list"
check "the problem names the principal" \
	sh -c "jq -e '[.results[] | select(.check == \"ac-account-lifecycle\") |
		.observations[].found | select(test(\"acme/alice\"))] | length > 0' '$T/scan.json' >/dev/null"
cp "$T/revoked.saved" "$PKI/revoked"

# A clear CA key next to the sealed one: the key is no longer only in
# the TPM's custody.
cp "$PKI/ca.crt" "$PKI/ca.key"
scan
check "clear ca.key makes keys_sealed no" \
	test "$(found sc-key-management fact:keys_sealed)" = no
rm -f "$PKI/ca.key"

# Bootstrap credentials longer than a day (the file the identity module
# measured; read again at every scan).
jq '.attestation.bootstrap_max_seconds = 172800' "$T/d/bulwarkd.conf" >"$T/conf.json"
cp "$T/d/bulwarkd.conf" "$T/conf.saved"
cp "$T/conf.json" "$T/d/bulwarkd.conf"
scan
expect ac-credential-expiry not-satisfied "bootstrap credentials of 2 days"
cp "$T/conf.saved" "$T/d/bulwarkd.conf"
scan
expect ac-credential-expiry satisfied "restored"

# The same daemon started with no_new_privs set: the fact follows the
# process, not a setting.
if command -v setpriv >/dev/null; then
	stop_bulwarkd
	mkdir -p "$T/nnp"
	printf '#!/bin/sh\nexec setpriv --no-new-privs "%s/bulwarkd" "$@"\n' \
		"$BW" >"$T/nnp/bulwarkd"
	chmod +x "$T/nnp/bulwarkd"
	bw=$BW
	BW=$T/nnp start_bulwarkd "$T/d" --no-privsep || exit 1
	BW=$bw
	scan
	check "NoNewPrivs 1 in /proc" grep -q '^NoNewPrivs:[[:space:]]*1' "/proc/$BWD_PID/status"
	confinement "$BWD_PID"
	check "no_new_privs is yes under setpriv" \
		sh -c "case '$(found ac-least-privilege fact:no_new_privs)' in yes*) ;; *) exit 1 ;; esac"
fi

# bulwarkd --privsep: SC-2 reads the API worker's live status beside the
# parent's, and is satisfied when the worker is its own unprivileged,
# capability-less, filtered user. SC-39 and AC-6 read every process
# (parent, spawner, worker): each must have a filter and no new
# privileges.
stop_bulwarkd
start_bulwarkd "$T/d" --privsep || exit 1
# The worker is the spawner's child when bulwarkd may change users.
# Started without --console-config: the console's default path, where
# an installed appliance has no console.json. The console would run with
# its defaults, but nothing is claimed for a file that is not there.
dconf=$("$BW/bulwarkd" --help | tr -s ' \n' ' ' |
	sed -n 's/.*(default \(\/[^ ,]*console\.json\).*/\1/p')
check "bulwarkd --help names the default console.json" test -n "$dconf"
if [ -n "$dconf" ] && [ ! -e "$dconf" ]; then
	scan
	expect ac-idle-lock not-satisfied "no $dconf"
	expect ia-reauth not-satisfied "no $dconf"
	check "idle_lock_s not reported without $dconf" \
		test "$(found ac-idle-lock fact:idle_lock_s)" = "not reported"
fi
S=$(pgrep -P "$BWD_PID" -x bwd-spawner)
W=$(for p in "$BWD_PID" $S; do
	pgrep -P "$p" -f -- '--worker$'; done | head -1)
scan
want="$(live "$BWD_PID")${S:+; spawner: $(live "$S")}; API worker: $(live "$W")"
confinement_is "$want" "every live process"
s=$(found sc-privsep fact:privsep)
if grep -q '^Seccomp:[[:space:]]*0' "/proc/$BWD_PID/status"; then
	# the workers' filters do not make up for the parent's lack of one
	expect sc-process-isolation not-satisfied "the parent has no filter"
	check "seccomp is no with the parent unfiltered" sh -c \
		"case '$(found sc-process-isolation fact:seccomp)' in no*) ;; *) exit 1 ;; esac"
fi
if [ "$(id -u)" = 0 ]; then
	expect sc-privsep satisfied "an unprivileged, confined API worker"
	check "privsep is yes" sh -c "case '$s' in yes*) ;; *) exit 1 ;; esac"
fi
stop_bulwarkd

# --console-config is read at every scan, long after start: a relative
# path or one longer than PATH_MAX is refused before anything is made.
long=/$(head -c 5000 /dev/zero | tr '\0' a)
for bad in console.json "$long"; do
	"$BW/bulwarkd" --data-dir "$T/bad" --console-config "$bad" >/dev/null 2>"$T/bad.err"
	rc=$?
	check "--console-config ${bad:0:20}... refused (exit $rc)" test "$rc" = 2
	check "the refusal says why" grep -q 'console-config: must be an absolute path' "$T/bad.err"
	check "no data directory made" test ! -e "$T/bad"
done
finish

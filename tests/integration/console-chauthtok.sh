#!/bin/bash
# bulwark-console changes an expired password at the login, as login(1)
# does, instead of refusing it (the console is the appliance's only
# login): the account stack answers PAM_NEW_AUTHTOK_REQD (a test-only
# module, pam-expire.c, in place of pam_unix after PASS_MAX_DAYS), the
# console asks PAM's prompts (current, new, retype) on its own screen
# without echo and shows the modules' messages (a refused new password,
# a retype that does not match); a failed change is a failed login and
# recorded as such; a successful one is recorded and the session
# starts; the new password is the one that logs in afterwards; Esc at a
# prompt cancels the change and the login; an expired account (not
# password) is still refused without a change; no password is ever
# drawn.
. "$(dirname "$0")/console-lib.sh"
CC=${CC:-cc}
command -v "$CC" >/dev/null || { echo "SKIP: no C compiler for the test PAM module"; exit 77; }
"$CC" -shared -fPIC -Wall -o "$T/pam_expire.so" "$(dirname "$0")/pam-expire.c" -lpam ||
	{ echo "cannot build the test PAM module" >&2; exit 1; }

console_users dave:Dave-Pass-4:1003 erin:Erin-Pass-5:1004 frank:Frank-Pass-6:1005
cat >"$T/bwd/console-users.json" <<USERS
{"dave": {"principal": "admin", "tenant": "system", "role": "system-admin"},
 "erin": {"principal": "admin", "tenant": "system", "role": "system-admin"}}
USERS
# both passwords expired; the shipped stack's shape, plus the module's
# account and password lines where pam_unix has them
mkdir -p "$T/expired"
touch "$T/expired/expired.dave" "$T/expired/expired.erin" \
	"$T/expired/account-expired.frank"
EX="$T/pam_expire.so dir=$T/expired passdb=$T/passdb"
sed -i "/^account .*pam_matrix/a account  required                $EX" "$T/pam/bulwark-console"
echo "password requisite              $EX retry=2" >>"$T/pam/bulwark-console"

write_conf "$T/console.json" 600 3600
write_conf "$T/console-scan.json" 600 3600
start_console "$T/console.json"
expect "the banner is shown first" 'TEST NOTICE'
keys Enter

# answer PROMPT TEXT: types TEXT at PAM's PROMPT on the change screen
answer() {
	wait_for 30 has "^$1" || { fail "no prompt $1 (screen:)"; screen | sed 's/^/  | /' >&2; return 1; }
	keys "$2" Enter
}

# erin: the retype does not match; the change and the login fail
login erin Erin-Pass-5
expect "an expired password leads to the change screen" \
	'^Password change required: erin'
check "the account stack's message is shown" \
	has 'You are required to change your password immediately'
answer 'Current password:' Erin-Pass-5
answer 'New password:' Erin-New-Pass-55
answer 'Retype new password:' Erin-Other-Pass-9
expect "a retype that does not match fails the login with PAM's message" \
	'^Password not changed: Sorry, passwords do not match\.'
check "...as a failed login" has '^Login incorrect\.'
check "no session for erin" hasnt 'welcome, erin'
check "erin's password is unchanged" grep -qx 'erin:Erin-Pass-5:bulwark-console' "$T/passdb"
check "the console's record has the failed change and the failed login" \
	sh -c "grep '\"password.change.failed\"' '$T/state/events.log' | grep -q 'do not match' &&
	       grep '\"login.failed\"' '$T/state/events.log' | grep -q '\"erin\"'"
check "the failure counts in erin's login record" \
	grep -q '"failures": *1' "$T/state/erin.json"

# erin again: Esc at a prompt cancels the change, and the login
login erin Erin-Pass-5
answer 'Current password:' Erin-Pass-5
wait_for 30 has '^New password:' || fail "no second prompt"
keys Escape
expect "Esc at a prompt cancels the change and the login" '^Password not changed: '
check "no session for erin after Esc" hasnt 'welcome, erin'
check "erin's password is still unchanged" grep -qx 'erin:Erin-Pass-5:bulwark-console' "$T/passdb"
check "two failed changes recorded for erin" \
	test "$(grep '"password.change.failed"' "$T/state/events.log" | grep -c '"erin"')" -eq 2

# frank: the account (not the password) expired: refused, no change
login frank Frank-Pass-6
expect "an expired account is refused with PAM's message" \
	'^Your account has expired; please contact your system administrator\.'
check "no change screen for an expired account" hasnt 'Password change required'
check "no session for frank" hasnt 'welcome, frank'
check "frank's refusal is a failed login" \
	sh -c "grep '\"login.failed\"' '$T/state/events.log' | grep -q '\"frank\"'"
check "no change was attempted for frank" \
	sh -c "! grep '\"password.change' '$T/state/events.log' | grep -q '\"frank\"'"

# dave: a new password too short is refused, then one is accepted
login dave Dave-Pass-4
expect "dave's expired password leads to the change screen" \
	'^Password change required: dave'
answer 'Current password:' Dave-Pass-4
answer 'New password:' Tiny-1
expect "a new password the quality rules refuse is refused with their message" \
	'BAD PASSWORD: The password is shorter than 12 characters'
wait_for 30 has '^New password:' && snap password-refused
answer 'New password:' Dave-New-Pass-44
answer 'Retype new password:' Dave-New-Pass-44
expect "the new password is accepted and the session starts" 'welcome, dave'
snap password-changed
check "the password database has the new password" \
	grep -qx 'dave:Dave-New-Pass-44:bulwark-console' "$T/passdb"
check "the console's record has the change and the login" \
	sh -c "grep '\"password.changed\"' '$T/state/events.log' | grep -q '\"dave\"' &&
	       grep '\"login\"' '$T/state/events.log' | grep -q '\"dave\"'"
check "bulwarkd's trail has the change" \
	wait_for 30 trail console.password-change '.outcome == "success" and
	  (.reason | test("pam user dave"))'
check "bulwarkd's trail has erin's failed change" \
	trail console.password-change '.outcome == "failure" and
	  (.reason | test("pam user erin"))'
keys Enter
expect "the dashboard follows" '^Bulwark console \| dave on '
keys q
expect "logged out" 'TEST NOTICE'
keys Enter
login dave Dave-Pass-4
expect "the old password no longer logs in" '^Login incorrect\.'
login dave Dave-New-Pass-44
expect "the new password logs in without another change" 'welcome, dave'
check "no second change was asked" \
	test "$(grep -c '"password.changed"' "$T/state/events.log")" -eq 1
keys Enter q
expect "logged out again" 'TEST NOTICE'

check "no password was ever drawn" sh -c "! grep -Eq \
	'Pass-4|Pass-5|Pass-6|New-Pass|Other-Pass|Tiny-1' '$T/captures'"
tm kill-server
wait "$TMUX_PID"
check "the console wrote no error" sh -c "! grep -v PWRAP '$T/console.err' | grep -q ."
finish

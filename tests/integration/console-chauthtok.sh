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
# drawn, not even while it is typed (before Enter wipes the screen); a
# password expired past its inactivity period (PAM_AUTHTOK_EXPIRED) is
# a refused login with PAM's message; a PAM_NEW_AUTHTOK_REQD from the
# auth stack (not the account stack) is refused without a change; a
# password that expires while the screen is locked ends the session at
# the unlock, with a note saying so and what to do, and is no failure;
# a denial from the auth stack at the lock screen is a failed unlock,
# not an ended session, even with the right password; a session ended
# at the unlock (expired password, refused account, lockout) has its end
# recorded.
. "$(dirname "$0")/console-lib.sh" || exit 99
CC=${CC:-cc}
command -v "$CC" >/dev/null || { echo "SKIP: no C compiler for the test PAM module"; exit 77; }
"$CC" -shared -fPIC -Wall -o "$T/pam_expire.so" "$(dirname "$0")/pam-expire.c" -lpam ||
	{ echo "cannot build the test PAM module" >&2; exit 1; }

console_users dave:Dave-Pass-4:1003 erin:Erin-Pass-5:1004 frank:Frank-Pass-6:1005 \
	gina:Gina-Pass-7:1006 hank:Hank-Pass-8:1007
cat >"$T/bwd/console-users.json" <<USERS
{"dave": {"principal": "admin", "tenant": "system", "role": "system-admin"},
 "erin": {"principal": "admin", "tenant": "system", "role": "system-admin"},
 "gina": {"principal": "admin", "tenant": "system", "role": "system-admin"},
 "hank": {"principal": "admin", "tenant": "system", "role": "system-admin"}}
USERS
# both passwords expired; the shipped stack's shape, plus the module's
# account and password lines where pam_unix has them
mkdir -p "$T/expired"
touch "$T/expired/expired.dave" "$T/expired/expired.erin" \
	"$T/expired/account-expired.frank" "$T/expired/authtok-expired.gina" \
	"$T/expired/auth-newtok.hank" "$T/expired/account-expired.hank"
EX="$T/pam_expire.so dir=$T/expired passdb=$T/passdb"
sed -i "/^account .*pam_matrix/a account  required                $EX" "$T/pam/bulwark-console"
# hank's authentication itself answers PAM_NEW_AUTHTOK_REQD
sed -i "1i auth     requisite               $EX" "$T/pam/bulwark-console"
echo "password requisite              $EX retry=2" >>"$T/pam/bulwark-console"

write_conf "$T/console.json" 600 3600
write_conf "$T/console-scan.json" 600 3600
start_console "$T/console.json"
expect "the banner is shown first" 'TEST NOTICE'
keys Enter

# not_drawn TEXT: the screen does not show TEXT over a few seconds
# (a secret typed without Enter: nothing on the screen changes, so
# there is nothing to wait for; a slow console can only make it pass)
not_drawn() {
	local i
	for i in 1 2 3 4 5 6 7 8 9 10; do
		has "$1" && return 1
		sleep 0.2
	done
	return 0
}

# answer PROMPT TEXT: types TEXT at PAM's PROMPT on the change screen;
# before Enter (which wipes the screen) TEXT must not be on it
answer() {
	wait_for 30 has "^$1" || { fail "no prompt $1 (screen:)"; screen | sed 's/^/  | /' >&2; return 1; }
	keys -l "$2"
	not_drawn "$2" || fail "the answer to $1 is drawn while typed"
	keys Enter
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
expect "Esc at a prompt cancels the change and the login" '^Password not changed: cancelled'
check "the cancel is recorded as such" \
	sh -c "grep '\"password.change.failed\"' '$T/state/events.log' | grep '\"erin\"' | grep -q cancelled"
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

# gina: the password expired past its inactivity period: refused, no change
login gina Gina-Pass-7
expect "a password expired past its inactivity period is refused with PAM's message" \
	'^Your password has expired past its inactivity period'
check "no change screen for gina" hasnt 'Password change required'
check "gina's refusal is a failed login, not 'Login unavailable'" \
	sh -c "grep '\"login.failed\"' '$T/state/events.log' | grep -q '\"gina\"'"
check "gina's failure is in her login record" \
	grep -q '"failures": *1' "$T/state/gina.json"

# hank: the auth stack (not the account stack) answers
# PAM_NEW_AUTHTOK_REQD; his account expired: refused without a change
login hank Hank-Pass-8
wait_for 30 has 'Login incorrect|Password change required|welcome, hank'
check "a new-password demand from authentication is refused, no change" \
	hasnt 'Password change required'
check "no session for hank" hasnt 'welcome, hank'
check "hank's refusal is a failed login" \
	sh -c "grep '\"login.failed\"' '$T/state/events.log' | grep -q '\"hank\"'"

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

# dave's password expires while his screen is locked: the right password
# at the lock screen says so and what to do, ends the session, and is no
# failed unlock (nothing towards the lockout)
keys Enter
expect "dave's dashboard" '^Bulwark console \| dave on '
keys l
expect "the dashboard's l locks the console" 'CONSOLE LOCKED'
touch "$T/expired/expired.dave"
keys -l Dave-New-Pass-44
keys Enter
expect "the lock screen says the password expired, and the session ends" \
	'^The password of dave has expired: the session ended\.'
check "...and what to do" has '^Log in again: the login asks for a new password\.'
check "back at the banner" has 'TEST NOTICE'
check "the refused unlock is recorded with its reason" \
	sh -c "grep '\"session.unlock.failed\"' '$T/state/events.log' | grep -q 'password expired'"
check "the expired password is not a failed login in dave's record" \
	grep -q '"failures": *0' "$T/state/dave.json"
check "the session's end is recorded, with why" \
	sh -c "grep '\"session.expired\"' '$T/state/events.log' | grep -q 'password expired at unlock'"
snap unlock-expired

# dave's auth stack refuses him before any password is checked (its
# first line, requisite, answers PAM_PERM_DENIED; PAM_NEW_AUTHTOK_REQD
# would not do: requisite takes it as ok and goes on to the password):
# at the lock screen even the right password is then a failed unlock,
# the screen stays locked and the session goes on (before, the denial
# was taken for the right password refused by the account stack: the
# session ended)
rm "$T/expired/expired.dave"
keys Enter
login dave Dave-New-Pass-44
expect "dave logs in again" 'welcome, dave'
keys Enter
expect "dave's dashboard again" '^Bulwark console \| dave on '
keys l
expect "locked again" 'CONSOLE LOCKED'
touch "$T/expired/auth-denied.dave"
keys -l Dave-New-Pass-44
keys Enter
expect "the right password with the auth stack refusing leaves it locked" \
	'Password incorrect: the screen stays locked'
check "still locked, the session goes on" has 'CONSOLE LOCKED'
check "no note of a refused account" hasnt 'may not log in now'
check "the failure counts in dave's record" \
	grep -q '"failures": *1' "$T/state/dave.json"
rm "$T/expired/auth-denied.dave"
keys -l Dave-New-Pass-44
keys Enter
expect "the right password unlocks it afterwards" '^Bulwark console \| dave on '

# the account stack refuses dave's account while the screen is locked:
# the right password ends the session, with PAM's message, recorded as
# such and counted as no failure
keys l
expect "locked a third time" 'CONSOLE LOCKED'
touch "$T/expired/account-expired.dave"
failures() { grep -o '"failures": *[0-9]*' "$T/state/dave.json"; }
failures_before=$(failures)
keys -l Dave-New-Pass-44
keys Enter
expect "a refused account ends the session at the unlock" \
	'^dave may not log in now: the session ended\.'
check "...with PAM's message" has '^Your account has expired'
check "...and what to do" has 'Ask an administrator\.'
check "the refused account's end is recorded, with why" \
	sh -c "grep '\"session.expired\"' '$T/state/events.log' | grep -q 'account refused at unlock'"
check "the refusal is no failed password in dave's record" \
	test "$(failures)" = "$failures_before"
rm "$T/expired/account-expired.dave"
keys Enter
login dave Dave-New-Pass-44
expect "dave logs in a third time" 'welcome, dave'
keys Enter
expect "dave's dashboard a third time" '^Bulwark console \| dave on '

# wrong passwords at the lock screen up to the lockout end the session,
# and the end is recorded (the lockout alone did not say so)
keys l
expect "locked a fourth time" 'CONSOLE LOCKED'
# the attempt that locks the account is recorded as account.lockout
unlock_failures() { grep -cE '"session\.unlock\.failed"|"account\.lockout"' "$T/state/events.log"; }
more_failures() { test "$(unlock_failures)" -gt "$1"; }
for i in 1 2 3 4; do
	n=$(unlock_failures)
	keys -l Dave-Wrong-Pass-9
	keys Enter
	wait_for 30 more_failures "$n" || break
	wait_for 30 has 'Password incorrect|is LOCKED' || break
	has 'is LOCKED' && break
done
expect "the lockout at the lock screen ends the session" \
	'account dave is LOCKED'
check "back at the banner after the lockout" wait_for 30 has 'TEST NOTICE'
check "the lockout's end of the session is recorded" \
	sh -c "grep '\"session.expired\"' '$T/state/events.log' | grep -q 'account locked at unlock'"

check "no password was ever drawn" sh -c "! grep -Eq \
	'Pass-4|Pass-5|Pass-6|Pass-7|Pass-8|New-Pass|Other-Pass|Wrong-Pass|Tiny-1' '$T/captures'"
tm kill-server
wait "$TMUX_PID"
check "the console wrote no error" sh -c "! grep -v PWRAP '$T/console.err' | grep -q ."
finish

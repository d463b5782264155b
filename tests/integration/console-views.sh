#!/bin/bash
# bulwark-console's views after login, driven in tmux at 80x24 with
# TERM=vt100 and PAM through pam_wrapper (console-lib.sh):
#   - a tenant-user of acme sees acme's objects and nothing of tenant
#     beta in any view, is offered no admin view and no action but on
#     its own workloads (what /v1/whoami's "may" allows);
#   - a security-auditor gets the audit browser (a search by action,
#     the / filter, describe of a record) and no action that changes
#     anything;
#   - an administrator goes to lists with : and aliases, filters
#     (regex, !inverse, -l label), sorts, describes, goes back with Esc
#     along the breadcrumbs, scales a workload (the trail's record has
#     the console user's principal as actor) and deletes one only by
#     typing its name back; --readonly offers no action at all;
#   - ? lists every key; the screens are kept for docs/console.md.
. "$(dirname "$0")/console-lib.sh" || exit 99

console_users dave:Dave-Pass-4:1003 eve:Eve-Pass-5:1004 bob:Bob-Pass-2:1001
cat >"$T/bwd/console-users.json" <<USERS
{"dave": {"principal": "dave", "tenant": "acme", "role": "tenant-user"},
 "eve": {"principal": "eve", "tenant": "system", "role": "security-auditor"},
 "bob": {"principal": "ops-bob", "tenant": "system", "role": "system-admin"}}
USERS
B="$BW/bulwark --config $CONF"
$B apply -f "$top_srcdir/examples/tenant.json" >/dev/null || fail "apply acme"
sed 's/acme/beta/g; s/"web"/"betadb"/g' "$top_srcdir/examples/tenant.json" \
	>"$T/beta.json"
$B apply -f "$T/beta.json" >/dev/null || fail "apply beta"
# the principals the users map to, each with its role binding
mkdir -p "$T/p"
$B principal create dave -t acme --role tenant-user --out "$T/p" >/dev/null 2>&1 ||
	fail "create dave"
$B principal create ops-bob -t system --role system-admin --out "$T/p" >/dev/null 2>&1 ||
	fail "create ops-bob"
$A principal create eve -t system --role security-auditor --out "$T/p" >/dev/null 2>&1 ||
	fail "create eve"
check "tenants acme and beta with a workload each" \
	sh -c "$B get workloads | grep -q '^web ' && $B get workloads | grep -q '^betadb '"
# whoami says what each role may do (the console asks, never guesses)
check "whoami lists what the admin may write" \
	sh -c "$B whoami | jq -e '.may.write | index(\"workloads\") and index(\"tenants\")' >/dev/null"

write_conf "$T/console.json" 600 3600
# session USER PASSWORD [ARGS]: a console on window c, logged in as USER,
# on the dashboard
session() {
	start_console "$T/console.json" c "${3:-}"
	expect "the banner is shown" 'TEST NOTICE'
	keys Enter
	login "$1" "$2"
	expect "$1 logs in" "welcome, $1"
	keys Enter
	expect "$1 sees the dashboard" '\+- Nodes -'
}
# go VIEW REGEX: `:VIEW` Enter, then the screen shows REGEX
go() {
	keys ':' ; keys -l "$1"; keys Enter
	expect ":$1 opens its view" "$2"
}
logout() { keys q; expect "logged out" 'TEST NOTICE'; }

# ---- a tenant-user of acme
: >"$T/captures"
session dave Dave-Pass-4
expect "the tenant-user's dashboard names its principal" \
	'API as dave \(tenant-user, tenant acme\), session certificate'
go wl '^dashboard > workloads'
expect "dave's workloads list acme's web" '^web +acme +container +3 '
check "the key bar offers scaling dave's own workloads" has 's scale'
snap views-tenant-user
go in '^dashboard > instances'
go tn '^dashboard > tenants'
expect "the tenants list has acme" '^acme '
check "no delete is offered on tenants" hasnt '\^D delete'
go nodes 'nodes: not permitted for this principal'
go audit 'audit: not permitted for this principal'
keys '?'
expect "? shows the help" '^Keys'
keys G
expect "help marks the views dave may not read" \
	':nodes +:no +\(not permitted for this principal\)'
keys Escape
logout
check "no object of tenant beta was on any of dave's screens" \
	sh -c "! grep -Eq 'beta' '$T/captures'"

# ---- a security-auditor
session eve Eve-Pass-5
go audit '^dashboard > audit'
expect "the audit browser lists the trail" '^ *[0-9]+ +20[0-9-]+T'
check "the auditor is offered no action" hasnt 's scale|\^D delete'
check "the audit browser offers its search" has 'f search'
keys f; keys -l 'action=console.login'; keys Enter
expect "the search asks the API for console.login records" \
	'^ *[0-9]+ +20[0-9-]+T.* console.login '
check "only console.login records are listed" \
	sh -c "tmux -S '$SOCK' capture-pane -p -t c | sed -n '4,21p' | grep -v '^ *\$' | grep -vq console.login && exit 1 || exit 0"
keys / ; keys -l 'eve'; keys Enter
expect "the filter narrows the records to eve's" '^ *[0-9]+ .* eve +console.login'
snap views-audit
keys d
expect "d describes the record" '"action": "console.login"'
check "the breadcrumbs show the record" has '^dashboard > audit > record'
snap views-audit-record
keys Escape
expect "Esc goes back to the records" '^dashboard > audit$'
go wl '^dashboard > workloads'
expect "the auditor reads both tenants' workloads" '^betadb +beta '
check "no scale or delete on workloads for the auditor" hasnt 's scale|\^D delete'
keys s
sleep 1	# not a timing assert: gives a prompt the chance to appear
check "s asks nothing of the auditor" hasnt 'Scale workload'
logout

# ---- an administrator
session bob Bob-Pass-2
go wl '^dashboard > workloads'
check "the admin is offered scale and delete" has 's scale +\^D delete'
expect "both workloads are listed" '^web +acme '
keys / ; keys -l '!web'
expect "the inverse filter applies as typed" '^betadb +beta '
check "it keeps betadb only" wait_for 30 sh -c "! tmux -S '$SOCK' capture-pane -p -t c | grep -q '^web '"
keys Enter
expect "Enter keeps the filter, the status row says it" '^1 of 2 +/!web'
keys Escape
expect "Esc clears the filter" '^2 of 2 *$'
keys / ; keys -l -- '-l app=web'; keys Enter
expect "a label filter keeps web" '^1 of 2 +/-l app=web'
keys Escape
keys / ; keys -l '^web'; keys Enter
expect "the regex filter keeps web" '^1 of 2 +/\^web'
keys 4
expect "4 sorts by REPLICAS" 'REPLICAS\^'
keys s
expect "s asks the number" 'Scale workload web \(now 3\) to:'
keys 5 Enter
expect "the console scales web" 'workload web scaled to 5'
check "the API has web at 5 replicas" \
	sh -c "$B get workloads -o json | jq -e '.items[] | select(.metadata.name==\"web\") | .spec.replicas == 5' >/dev/null"
check "the trail's record of the scale has bob's principal as actor" \
	wait_for 30 trail workload.replace '.actor == "ops-bob" and .object.name == "web" and .outcome == "success"'
keys d
expect "d describes web" '"replicas": 5'
check "the breadcrumbs show the path" has '^dashboard > workloads > web'
snap views-describe
keys Escape
keys C-d
expect "Ctrl-D asks for the name" 'Delete workloads web\? Type its name to confirm:'
keys -l 'wbe'; keys Enter
expect "a wrong name cancels" 'delete cancelled: the name was not typed back'
keys C-d
expect "Ctrl-D asks again" 'Type its name to confirm:'
keys Escape
expect "Esc cancels" 'delete cancelled'
keys C-d; keys Enter
expect "an empty answer cancels" 'delete cancelled'
check "web is still there" sh -c "$B get workloads | grep -q '^web '"
keys C-d
expect "Ctrl-D asks once more" 'Type its name to confirm:'
snap views-delete
keys -l 'web'; keys Enter
expect "typing the name back deletes" 'workloads web deleted'
check "the API no longer has web" sh -c "! $B get workloads | grep -q '^web '"
check "the trail's record of the delete has bob's principal as actor" \
	wait_for 30 trail workload.delete '.actor == "ops-bob" and .object.name == "web"'
# the whole help on one screen
tm resize-window -t c -x 120 -y 60
keys '?'
expect "? shows the help" '^Keys'
for k in ':' '/' 'd, Enter' 'Esc' 's' 'Ctrl-D' 'f' '\?' 'q'; do
	check "help lists the key $k" has "^  $k "
done
snap views-help
tm resize-window -t c -x 80 -y 24
keys Escape
expect "Esc leaves the help" '^dashboard > workloads$'
keys Escape Escape
expect "Esc back to the dashboard" '\+- Nodes -'
logout

# ---- --readonly: the admin is offered nothing that changes anything
session bob Bob-Pass-2 --readonly
expect "the note says read-only" 'session certificate, read-only'
go wl '^dashboard > workloads'
check "no scale or delete offered in read-only mode" hasnt 's scale|\^D delete'
keys C-d
sleep 1	# not a timing assert: gives a prompt the chance to appear
check "Ctrl-D asks nothing in read-only mode" hasnt 'Type its name'
logout

check "no password was ever drawn" \
	sh -c "! grep -Eq 'Pass-[245]' '$T/captures'"
tm kill-server
wait "$TMUX_PID"
check "the consoles wrote no error" sh -c "! grep -v PWRAP '$T/console.err' | grep -q ."
finish

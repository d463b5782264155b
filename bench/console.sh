#!/bin/bash
# bench/console.sh BUILDDIR [KEYS]: bulwark-console with 10,000 instances
# in the store, measured through tmux as a person sees it (80x24,
# TERM=vt100, PAM through pam_wrapper as in tests/integration/console-lib.sh):
#   1. `:in` Enter until the instance list's first window is drawn (its
#      first row, big1-0, and "N of M" on the status row: the list is
#      open, the count may still be growing), goal < 300 ms, and until
#      the whole list is counted ("10000 of 10000"); median of RUNS
#      (default 5): from the dashboard (which reads every list each
#      `refresh` s; a list opened within that time starts from the
#      dashboard's read), and from :wl after 3 s there (always a new
#      read of the 10,000);
#   2. each keystroke of the `/` filter KEYS (default "big7-12") until
#      the typed text is on the prompt and the list redrawn under it
#      (its first row holds the text), goal < 50 ms;
#   3. on the open list, for about 6 s (three `refresh` periods, each a
#      new read of the 10,000), a key every 0.3 s: `:` until the command
#      line shows, then Esc until the list is back; the slowest shows
#      whether keys wait on a refresh;
#   4. beside them, `bulwark get instances` printing the same list.
# The instances come from 10 workloads of 1,000 replicas in one tenant
# (with a Quota that allows them); without nodes the controller keeps
# them Pending. Times include tmux's own work (the key's delivery, the
# pane's parser, one capture: see kt below). Not part of `make check`:
# `make bench-console`. BENCH_CONSOLE=PATH runs that bulwark-console
# binary instead of the build's (the rest is the build's), to compare two.
set -u
if [ -z "${top_builddir:-}" ]; then
	top_builddir=$(cd "${1:?usage: bench/console.sh BUILDDIR [KEYS]}" && pwd)
	top_srcdir=$(cd "$(dirname "$0")/.." && pwd)
	export top_builddir top_srcdir
fi
FKEYS=${2:-big7-12}
RUNS=${BENCH_RUNS:-5}
N=10000
# console-lib.sh is a test's set-up: bulwarkd, PAM, tmux, helpers
. "$top_srcdir/tests/integration/console-lib.sh"
CONSOLE_BIN=${BENCH_CONSOLE:-}

die() { echo "bench/console: $*" >&2; exit 1; }
ms() { echo "($2 - $1) * 1000" | bc -l | xargs printf '%.1f\n'; }
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
# until_screen REGEX: polls capture-pane until REGEX is on screen (30 s)
until_screen() {
	local end=$((SECONDS + 30))
	until tm capture-pane -p -t c | grep -Eq "$1"; do
		[ $SECONDS -lt $end ] || return 1
	done
}

console_users bob:Bob-Pass-2:1001
printf '{"bob": {"principal": "admin", "tenant": "system", "role": "system-admin"}}\n' \
	>"$T/bwd/console-users.json"
B="$BW/bulwark --config $CONF"
IMG=sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae
# the tenant and its Quota first: an apply is checked whole against the
# quota in force before it
printf '[{"kind":"Tenant","metadata":{"name":"acme"},"spec":{}},%s]\n' \
	'{"kind":"Quota","metadata":{"name":"default","tenant":"acme"},"spec":{"cpu_millis":100000000,"memory_mib":1000000000,"instances":100000,"workloads":1000}}' \
	>"$T/tenant.json"
$B apply -f "$T/tenant.json" >/dev/null || die "apply the tenant"
{
	printf '['
	for i in $(seq 10); do
		[ "$i" = 1 ] || printf ','
		printf '{"kind":"Workload","metadata":{"name":"big%d","tenant":"acme"},' "$i"
		printf '"spec":{"type":"container","image":"%s","replicas":1000,' "$IMG"
		printf '"resources":{"cpu_millis":1,"memory_mib":4}}}'
	done
	printf ']\n'
} >"$T/objects.json"
$B apply -f "$T/objects.json" >/dev/null || die "apply the workloads"
count() { $B get instances -o json 2>/dev/null | jq '.items | length'; }
wait_for 120 sh -c "[ \"\$($B get instances 2>/dev/null | wc -l)\" -gt $N ]" ||
	die "the controller made $(count) of $N instances"
[ "$(count)" = $N ] || die "$(count) instances, not $N"

# bulwark get instances: the same list as a table
for i in $(seq "$RUNS"); do
	t0=$EPOCHREALTIME
	$B get instances >/dev/null || die "get instances"
	ms "$t0" "$EPOCHREALTIME"
done >"$T/cli"

write_conf "$T/console.json" 3600 7200
start_console "$T/console.json"
until_screen 'TEST NOTICE' || die "no banner"
keys Enter
login bob Bob-Pass-2
until_screen 'welcome, bob' || die "no login"
keys Enter
until_screen '\+- Nodes -' || die "no dashboard"
until_screen "\\|$N instances" || die "the dashboard did not count $N instances"

# The keys below are sent, and the screen awaited, by
# bench/tmux-keytime.py through one tmux control-mode client: it writes
# each send-keys and captures the pane each time tmux reports output
# from it, so no poll forks a client, and each time is taken on a
# monotonic clock from the send-keys to the capture showing the result.
# Its steps: LABEL<tab>send-keys arguments<tab>Python regex of the screen
# (re.MULTILINE; (?s) lets . cross lines), or "sleep S"; out: LABEL ms.
kt() { python3 "$top_srcdir/bench/tmux-keytime.py" "$SOCK" c >>"$T/times"; }
# open_steps LABEL: `:in` Enter until the list's first window is drawn
# (its first row and "N of M"): LABEL, then until all N are counted:
# LABEL-rest (the -all time is the sum)
open_steps() {
	printf -- '-\t-l :in\t^:in\n'
	printf '%s\tEnter\t(?s)^big1-0 .*^[0-9]+ of [0-9]+\n' "$1"
	printf '%s-rest\t\t^%d of %d\n' "$1" $N $N
}
# 1a. from the dashboard, which read every list at most `refresh` (2) s
#     ago: the list starts from that read when it is still that fresh
# 1b. from :wl after 3 s there: always a new read of the 10,000
for i in $(seq "$RUNS"); do
	open_steps open
	printf -- '-\t-l :wl\t^:wl\n'
	printf -- '-\tEnter\t^dashboard > workloads\n'
	echo 'sleep 3'
	open_steps open-read
	printf -- '-\tEscape\t\\+- Nodes -\n'
done | kt || die "opening the list: the screen did not show it"

# 3. keys while the open list refreshes itself (every `refresh` s), for
#    about 6 s
keys ':' in Enter
until_screen "^$N of $N" || die "no list"
tm capture-pane -p -t c >"$T/list-screen"
for i in $(seq 16); do
	printf 'busy\t-l :\t^: *$\n'
	printf 'busy\tEscape\t^%d of %d\n' $N $N
	echo 'sleep 0.3'
done | kt || die "keys on the refreshing list: the screen did not show them"

# 2. the filter, a key at a time: each until its text is on the prompt
#    and the list redrawn under it (its first row holds the text)
{
	printf -- '-\t/\t^/ *$\n'
	typed=
	for k in $(echo "$FKEYS" | grep -o .); do
		typed=$typed$k
		re=$(printf '%s' "$typed" | sed 's/[][\.*^$+?(){}|/-]/\\&/g')
		printf "key\\t-l -- '%s'\\t(?s)\\\\A(?:[^\\\\n]*\\\\n){3}[^\\\\n]*%s.*^/%s *\$\\n" \
		    "$k" "$re" "$re"
	done
	printf -- '-\tEnter\t^[0-9]+ of %d +/%s\n' $N "$FKEYS"
} | kt || die "the filter: the screen did not show it"
shown=$(tm capture-pane -p -t c | grep -Ec "^$FKEYS")
tm capture-pane -p -t c >"$T/filter-screen"
keys q
until_screen 'TEST NOTICE' || die "no logout"
for l in open open-read busy key; do
	awk -v l=$l '$1 == l { print $2 }' "$T/times" >"$T/$l"
done
for l in open open-read; do
	paste -d' ' "$T/$l" <(awk -v l=$l-rest '$1 == l { print $2 }' "$T/times") |
		awk '{ print $1 + $2 }' >"$T/$l-all"
done

printf 'bulwark-console with %d instances (80x24, TERM=vt100, through tmux)\n' $N
# stat FILE: median, min and max of its numbers
stat() { printf 'median %s ms, min %s, max %s' "$(median <"$1")" "$(sort -g "$1" | head -1)" "$(sort -g "$1" | tail -1)"; }
printf '  instance list open (first window), :in Enter from the dashboard: %s of %d (goal < 300 ms)\n' \
	"$(stat "$T/open")" "$RUNS"
printf '    all %d counted: %s\n' $N "$(stat "$T/open-all")"
printf '  instance list open (first window), :in Enter with a new read of all %d: %s of %d (goal < 300 ms)\n' \
	$N "$(stat "$T/open-read")" "$RUNS"
printf '    all %d counted: %s\n' $N "$(stat "$T/open-read-all")"
printf '  filter keystroke redraw (/%s): median %s ms, max %s ms of %d keys (goal < 50 ms): %s\n' \
	"$FKEYS" "$(median <"$T/key")" "$(sort -g "$T/key" | tail -1)" "$(wc -l <"$T/key")" \
	"$(paste -sd' ' "$T/key")"
printf '  a key (: or Esc) on the list while it refreshes every 2 s: %s of %d\n' \
	"$(stat "$T/busy")" "$(wc -l <"$T/busy")"
printf '  bulwark get instances (the same %d as a table): median %s ms of %d\n' \
	$N "$(median <"$T/cli")" "$RUNS"
printf '  rows shown after the filter: %s (the window, not the list)\n' "$shown"
[ -n "${BENCH_SCREENS:-}" ] && cp "$T/list-screen" "$T/filter-screen" "$BENCH_SCREENS/"
tm kill-server
wait "$TMUX_PID"

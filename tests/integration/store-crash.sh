#!/bin/sh
# Kills a store writer with SIGKILL at random moments, several times,
# and checks after each kill that every acknowledged write survived and
# the revision sequence and change log have no gap (tests/store-torture.c
# does the writing and the checking). Then shows the checker fails on a
# lost, a missing-in-the-middle and a changed acknowledgement.
set -u
: "${top_builddir:?}"
bin="$top_builddir/tests/store-torture"
rounds=${STORE_CRASH_ROUNDS:-8}

fail() {
	echo "store-crash: FAIL: $*" >&2
	exit 1
}

[ -x "$bin" ] || fail "$bin not built"
tmp=$(mktemp -d -p "${TMPDIR:-/tmp}") || fail "mktemp"
pid=
cleanup() {
	if [ -n "$pid" ]; then
		kill -9 "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

rand() {	# 0..32767
	od -An -N2 -tu2 /dev/urandom | awk '{ print $1 % 32768 }'
}

db="$tmp/db"
acks="$tmp/acks"
touch "$acks"

lines() {
	wc -l <"$acks" | tr -d ' '
}

# Starts a writer for round $1 and SIGKILLs it. With $2 = early it dies
# 0..50 ms after start (open, recovery of the previous tail); otherwise
# once it has acknowledged something new, 0..700 ms later (any point of
# the commit stream: staging, the fsyncs, acknowledging, compaction).
kill_round() {
	"$bin" write "$db" "$acks" "$1" 2>"$tmp/writer.err" &
	pid=$!
	if [ "$2" = early ]; then
		ms=$(($(rand) % 50))
	else
		waited=0
		while [ "$(lines)" -le "$prev" ]; do
			kill -0 "$pid" 2>/dev/null ||
				fail "round $1: writer died: $(cat "$tmp/writer.err")"
			waited=$((waited + 1))
			[ "$waited" -lt 1500 ] || fail "round $1: no acknowledgement in 30 s"
			sleep 0.02
		done
		ms=$(($(rand) % 700))
	fi
	sleep "$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000)))"
	kill -9 "$pid" 2>/dev/null
	kills=$((kills + 1))
	wait "$pid"
	st=$?
	pid=
	# 137: killed. 0 is impossible (the writer runs for minutes).
	[ "$st" -eq 137 ] || fail "round $1: writer exited $st: $(cat "$tmp/writer.err")"
	out=$("$bin" check "$db" "$acks") || fail "round $1: check failed"
	echo "round $1 ($2): killed ${ms} ms later; ok REV LINES HORIZON: ${out#ok }"
}

prev=0
kills=0
i=1
while [ "$i" -le "$rounds" ]; do
	if [ $((i % 3)) -eq 0 ]; then
		kill_round "$i" early
		prev=$(lines)
	fi
	kill_round "$i" late
	n=$(echo "$out" | awk '{ print $3 }')
	h=$(echo "$out" | awk '{ print $4 }')
	[ "$n" -gt "$prev" ] || fail "round $i: no acknowledged write (had $prev, now $n)"
	prev=$n
	i=$((i + 1))
done
echo "store-crash: $prev acknowledged ops survived $kills kills (log compacted to $h)"
[ "$h" -gt 0 ] || fail "the writer never compacted"

# The checker must be able to fail.
rev=$(echo "$out" | awk '{ print $2 }')
cp "$acks" "$tmp/lost"
echo "$((rev + 1)) P /torture/k000 1" >>"$tmp/lost"
"$bin" check "$db" "$tmp/lost" 2>/dev/null && fail "a lost acknowledged write went unnoticed"
sed '5d' "$acks" >"$tmp/hole"
"$bin" check "$db" "$tmp/hole" 2>/dev/null && fail "a hole in the revisions went unnoticed"
# The value of the last acknowledged put (never compacted: compaction
# stays well behind the last acknowledgement).
lp=$(awk '$2 == "P" { n = NR } END { print n }' "$acks")
[ -n "$lp" ] || fail "no acknowledged put"
awk -v l="$lp" 'NR == l { $4 = $4 + 1 } { print }' "$acks" >"$tmp/changed"
"$bin" check "$db" "$tmp/changed" 2>/dev/null && fail "a changed value went unnoticed"
exit 0

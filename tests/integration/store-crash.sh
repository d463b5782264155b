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
prev=0
i=1
while [ "$i" -le "$rounds" ]; do
	"$bin" write "$db" "$acks" "$i" 2>"$tmp/writer.err" &
	pid=$!
	# 0.15 .. 0.9 s: long enough for hundreds of commits, and the
	# kill lands anywhere (open, recovery, commit, compaction).
	ms=$((150 + $(rand) % 750))
	sleep "$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000)))"
	kill -9 "$pid" || fail "writer gone before the kill: $(cat "$tmp/writer.err")"
	wait "$pid"
	st=$?
	pid=
	[ "$st" -eq 137 ] || fail "round $i: writer exited $st: $(cat "$tmp/writer.err")"
	out=$("$bin" check "$db" "$acks") || fail "round $i: check failed"
	n=$(echo "$out" | awk '{ print $3 }')
	h=$(echo "$out" | awk '{ print $4 }')
	echo "round $i: killed after ${ms} ms; $out"
	[ "$n" -gt "$prev" ] || fail "round $i: no acknowledged write (had $prev, now $n)"
	prev=$n
	i=$((i + 1))
done
echo "store-crash: $prev acknowledged ops survived $rounds kills (log compacted to $h)"
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

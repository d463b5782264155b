#!/bin/bash
# bulwarkd records the offline updater's journal in the audit trail at
# its start (issue 17, stage 5; daemon/update-journal.c; docs/install.md,
# "The TPM steps, the health check and their units"): the lines
# bulwark-update's reseal left in the data directory's update-journal
# (after its header, "# bulwark-update journal offset=N", the journal's
# byte offset of the first line) become one system record each (actor
# bulwark-update, action update.EVENT, the slot as the object, the
# outcome from the line's fields: a refusal denied, a failed step and a
# rollback of a trial a failure; the line with its own time as the
# reason), once the trail holds them update-journal.seq says up to which
# byte, and the file is renamed update-journal.recorded. A line at or
# before update-journal.seq is never recorded again (a hand-over put
# back, a replay); a file not owned by root or without its header is not
# recorded, and stays; a line with a NUL byte is refused in a record of
# its own; bulwarkd killed once the records are durable leaves every
# line recorded once.
. "$(dirname "$0")/lib.sh" || exit 99
D="$T/bwd"
mkdir -p "$D"
# The journal's lines; the hand-over of bytes OFF.. of it.
cat >"$T/journal" <<EOF
2026-12-07T18:00:00Z apply done slot=b version=0.1.0 commit=2222222222222222222222222222222222222222 from_slot=a
2026-12-07T18:01:00Z health failed slot=b after=600s reason=bulwarkd not healthy (/healthz) after 600 s
2026-12-07T18:02:00Z refused command=apply reason=slot b is on trial
2026-12-07T18:02:30Z provisional skipped slot=a reason=the TPM failed twice
2026-12-07T18:03:00Z reseal done slot=a token=3
2026-12-07T18:03:30Z rollback trial=b committed=a reason=the trial did not commit (no health check result)
EOF
# handover OFF FILE: the journal's bytes from OFF as a hand-over in FILE
handover() {
	{ printf '# bulwark-update journal offset=%s\n' "$1"; tail -c +"$(($1 + 1))" "$T/journal"; } >"$2"
}
handover 0 "$D/update-journal"
start_bulwarkd "$D" || { fail "bulwarkd starts"; finish; }
A="$BW/bulwark --config $AUDITOR"
# search ACTION: the trail's records of ACTION, as JSON lines.
search() { $A audit search --action "$1" -o json | jq -c '.items[]'; }
# count ACTION: how many records of ACTION the trail holds.
count() { $A audit search --action "$1" -o json | jq '.items | length'; }
wait_for 30 sh -c "[ \"\$($A audit search --action update.reseal -o json | jq '.items | length')\" = 1 ]" ||
	fail "the journal's records are in the trail"
search update.apply >"$T/apply.rec"
check "apply: one system record of bulwark-update, slot b, success, the line as the reason ($(cat "$T/apply.rec"))" \
	jq -e 'select(.actor == "bulwark-update" and .role == "system" and .object.kind == "Update" and .object.name == "b" and .outcome == "success" and (.reason | startswith("2026-12-07T18:00:00Z apply done slot=b version=0.1.0")))' "$T/apply.rec"
l1=$(head -n 1 "$T/journal" | wc -c)
check "each record ends with its line's end offset in the journal (seq=$l1 for the first)" \
	jq -e "select(.reason | endswith(\" seq=$l1\"))" "$T/apply.rec"
search update.health >"$T/health.rec"
check "a failed health check is a failure, with its reason ($(cat "$T/health.rec"))" \
	jq -e 'select(.outcome == "failure" and (.reason | contains("reason=bulwarkd not healthy")))' "$T/health.rec"
search update.refused >"$T/refused.rec"
check "a refusal is denied ($(cat "$T/refused.rec"))" jq -e 'select(.outcome == "denied")' "$T/refused.rec"
search update.provisional >"$T/prov.rec"
check "\" failed \" in a line's free text is no failure ($(cat "$T/prov.rec"))" \
	jq -e 'select(.outcome == "success" and .object.name == "a")' "$T/prov.rec"
search update.rollback >"$T/rollback.rec"
check "a rollback of a trial is that update's failure, the trial's slot its object ($(cat "$T/rollback.rec"))" \
	jq -e 'select(.outcome == "failure" and .object.name == "b")' "$T/rollback.rec"
check "the file is renamed update-journal.recorded; update-journal.seq is the journal's size ($(cat "$D/update-journal.seq" 2>&1))" \
	sh -c "[ ! -e '$D/update-journal' ] && grep -q 'reseal done' '$D/update-journal.recorded' && [ \"\$(cat '$D/update-journal.seq')\" = \"\$(stat -c %s '$T/journal')\" ]"
check_bulwarkd_stops_cleanly "$D"

# A replay: the recorded hand-over put back, and one from byte 0 with a
# line more: only the new line is recorded.
cp "$D/update-journal.recorded" "$D/update-journal"
start_bulwarkd "$D" || { fail "bulwarkd starts again"; finish; }
na=$(count update.apply) nr=$(count update.reseal)
check "the hand-over put back: each line is still recorded once ($na apply, $nr reseal)" \
	sh -c "[ $na = 1 ] && [ $nr = 1 ] && [ ! -e '$D/update-journal' ] && grep -q 'journal: 0 lines recorded' '$D/bulwarkd.log'"
check_bulwarkd_stops_cleanly "$D"
# The same with update-journal.seq removed (bulwarkd's user can): the
# trail's seq= says what it holds, and nothing is recorded again.
rm -f "$D/update-journal.seq"
cp "$D/update-journal.recorded" "$D/update-journal"
start_bulwarkd "$D" || { fail "bulwarkd starts again"; finish; }
na=$(count update.apply) nr=$(count update.reseal)
check "update-journal.seq removed and the hand-over put back: still recorded once, by the trail's seq= ($na apply, $nr reseal; seq $(cat "$D/update-journal.seq" 2>&1))" \
	sh -c "[ $na = 1 ] && [ $nr = 1 ] && [ ! -e '$D/update-journal' ] && [ \"\$(cat '$D/update-journal.seq')\" = \"\$(stat -c %s '$T/journal')\" ] && grep -q 'the trail holds the journal to byte' '$D/bulwarkd.log'"
check_bulwarkd_stops_cleanly "$D"
echo '2026-12-07T18:04:00Z commit done slot=b replaces=a' >>"$T/journal"
handover 0 "$D/update-journal"
start_bulwarkd "$D" || { fail "bulwarkd starts again"; finish; }
nc=$(count update.commit) na=$(count update.apply)
check "a hand-over from byte 0 with a new line: only the new line recorded ($nc commit, $na apply)" \
	sh -c "[ $nc = 1 ] && [ $na = 1 ] && [ \"\$(cat '$D/update-journal.seq')\" = \"\$(stat -c %s '$T/journal')\" ]"
check_bulwarkd_stops_cleanly "$D"

# Refused and left: a file not owned by root, a file without the
# header; a line with a NUL byte is refused in a record of its own, the
# next line recorded.
off=$(stat -c %s "$T/journal")
printf '2026-12-07T18:05:00Z apply begin slot=a cut\0here\n2026-12-07T18:06:00Z apply trial slot=a\n' >>"$T/journal"
handover "$off" "$D/update-journal"
chown 65534 "$D/update-journal"
start_bulwarkd "$D" || { fail "bulwarkd starts again"; finish; }
nj=$(count update.journal)
check "a journal file not owned by root is not recorded, and stays" \
	sh -c "[ $nj = 0 ] && [ -e '$D/update-journal' ] && grep -q 'update-journal: not recorded' '$D/bulwarkd.log'"
check_bulwarkd_stops_cleanly "$D"
tail -n +2 "$D/update-journal" >"$T/nohdr" && cp "$T/nohdr" "$D/update-journal" && chown 0 "$D/update-journal"
start_bulwarkd "$D" || { fail "bulwarkd starts again"; finish; }
nj=$(count update.journal)
check "a journal file without its header is not recorded, and stays" \
	sh -c "[ $nj = 0 ] && [ -e '$D/update-journal' ] && grep -q 'update-journal: not recorded: no .*bulwark-update journal offset=.* header' '$D/bulwarkd.log'"
check_bulwarkd_stops_cleanly "$D"
handover "$off" "$D/update-journal"
chown 0 "$D/update-journal"
start_bulwarkd "$D" || { fail "bulwarkd starts again"; finish; }
search update.journal >"$T/nul.rec"
check "a line with a NUL byte: a failure record says so, with its offset ($(cat "$T/nul.rec"))" \
	jq -e "select(.outcome == \"failure\" and .reason == \"journal line at byte $off holds a NUL byte: not recorded\")" "$T/nul.rec"
check "the line after it is recorded, the cut line nowhere" \
	sh -c "$A audit search --action update.apply -o json | jq -e '[.items[] | .reason] | (map(select(contains(\"apply trial slot=a\"))) | length) == 1 and (map(select(contains(\"cut\"))) | length) == 0' >/dev/null"
check_bulwarkd_stops_cleanly "$D"

# A line longer than the trail can hold (its record would be refused,
# and the file recorded again at every start) is refused in a record of
# its own, the next line recorded; a hand-over that ends before
# update-journal.seq (an older one put back, or a seq written past the
# journal by bulwarkd's user) is a failure record, not silence.
off=$(stat -c %s "$T/journal")
{ printf '2026-12-07T18:07:00Z reseal begin slot=a '; head -c 13000 /dev/zero | tr '\0' x; printf '\n2026-12-07T18:08:00Z rollback done slot=a\n'; } >>"$T/journal"
handover "$off" "$D/update-journal"
start_bulwarkd "$D" || { fail "bulwarkd starts again"; finish; }
wait_for 30 sh -c "[ \"\$($A audit search --action update.rollback -o json | jq '.items | length')\" = 2 ]"
check "a line over the trail's limit: a failure record says so, with its offset, the next line recorded" \
	sh -c "$A audit search --action update.journal -o json | jq -e '[.items[] | select(.outcome == \"failure\" and .reason == \"journal line at byte $off is 13041 bytes, over 12288: not recorded\")] | length == 1' >/dev/null && $A audit search --action update.reseal -o json | jq -e '[.items[] | select(.reason | contains(\"xxxx\"))] | length == 0' >/dev/null && [ ! -e '$D/update-journal' ]"
check_bulwarkd_stops_cleanly "$D"
size=$(stat -c %s "$T/journal")
echo $((size + 1000)) >"$D/update-journal.seq"
cp "$D/update-journal.recorded" "$D/update-journal"
start_bulwarkd "$D" || { fail "bulwarkd starts again"; finish; }
check "a hand-over ending before update-journal.seq: a failure record says so" \
	sh -c "$A audit search --action update.journal -o json | jq -e '[.items[] | select(.outcome == \"failure\" and (.reason | startswith(\"hand-over ends at byte $size, before update-journal.seq\") and endswith(\" $((size + 1000)): not recorded (put back, or the journal shrank)\")))] | length == 1' >/dev/null"
check_bulwarkd_stops_cleanly "$D"
echo "$size" >"$D/update-journal.seq"
rm -f "$D/update-journal"

# Durability: bulwarkd killed (SIGKILL) as soon as update-journal.seq
# changes (the records are then in the trail, the file may not be
# renamed yet): after the restart every line is recorded, once.
: >"$T/many"
for i in $(seq 1000); do
	echo "2026-12-07T19:00:00Z reseal sealed slot=a token=$i keyslot=$i pcrs=7+8+9" >>"$T/many"
done
off=$(stat -c %s "$T/journal")
cat "$T/many" >>"$T/journal"
handover "$off" "$D/update-journal"
seq0=$(cat "$D/update-journal.seq")
rm -f "$D/admin.conf"
"$BW/bulwarkd" --data-dir "$D" --listen 127.0.0.1:0 ${BWD_ARGS:-} >>"$D/bulwarkd.log" 2>&1 &
kpid=$!
BW_PIDS="$BW_PIDS $kpid"
# (bounded: 60 s, then killed anyway and the check below fails)
stop=$((SECONDS + 60))
while [ $SECONDS -lt $stop ]; do
	cur=
	read -r cur <"$D/update-journal.seq" 2>/dev/null
	[ "$cur" != "$seq0" ] && break
	kill -0 $kpid 2>/dev/null || break
done
kill -KILL $kpid 2>/dev/null
wait $kpid 2>/dev/null
rest=
for p in $BW_PIDS; do [ "$p" = "$kpid" ] || rest="$rest $p"; done
BW_PIDS=$rest	# reaped: the cleanup must not signal a reused pid
check "killed once update-journal.seq moved: it is the journal's size ($(cat "$D/update-journal.seq"); file there: $([ -e "$D/update-journal" ] && echo yes || echo no))" \
	[ "$(cat "$D/update-journal.seq")" = "$(stat -c %s "$T/journal")" ]
start_bulwarkd "$D" || { fail "bulwarkd starts after the kill"; finish; }
wait_for 30 sh -c "[ \"\$($A audit search --action update.reseal --limit 5000 -o json | jq '[.items[] | select(.reason | contains(\"reseal sealed\"))] | length')\" -ge 1000 ]"
check "after the kill and a restart: each of the 1000 lines recorded once, the file renamed" \
	sh -c "$A audit search --action update.reseal --limit 5000 -o json | jq -e '[.items[] | select(.reason | contains(\"reseal sealed\")) | .reason] | (length == 1000) and (unique | length == 1000)' >/dev/null && [ ! -e '$D/update-journal' ]"
check_bulwarkd_stops_cleanly "$D"
finish

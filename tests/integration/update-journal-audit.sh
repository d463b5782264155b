#!/bin/bash
# bulwarkd records the offline updater's journal in the audit trail at
# its start (issue 17, stage 5; daemon/update-journal.c; docs/install.md,
# "The TPM steps, the health check and their units"): the lines
# bulwark-update's reseal left in the data directory's update-journal
# become one system record each (actor bulwark-update, action
# update.EVENT, the slot as the object, a refusal denied and a failed
# health check a failure, the line with its own time as the reason); the
# file is renamed to update-journal.recorded, so a restart records
# nothing twice; a file not owned by root is not recorded, and stays.
. "$(dirname "$0")/lib.sh" || exit 99
D="$T/bwd"
mkdir -p "$D"
cat >"$D/update-journal" <<EOF
2026-12-07T18:00:00Z apply done slot=b version=0.1.0 commit=2222222222222222222222222222222222222222 from_slot=a
2026-12-07T18:01:00Z health failed slot=b after=600s reason=bulwarkd not healthy (/healthz) after 600 s
2026-12-07T18:02:00Z refused command=apply reason=slot b is on trial
2026-12-07T18:03:00Z reseal done slot=a token=3
EOF
start_bulwarkd "$D" || { fail "bulwarkd starts"; finish; }
A="$BW/bulwark --config $AUDITOR"
# search ACTION: the trail's records of ACTION, as JSON lines.
search() { $A audit search --action "$1" -o json | jq -c '.items[]'; }
wait_for "the journal's records are in the trail" sh -c "$A audit search --action update.reseal -o json | jq -e '.items | length == 1' >/dev/null"
search update.apply >"$T/apply.rec"
check "apply: one system record of bulwark-update, slot b, success, the line as the reason ($(cat "$T/apply.rec"))" \
	jq -e 'select(.actor == "bulwark-update" and .role == "system" and .object.kind == "Update" and .object.name == "b" and .outcome == "success" and (.reason | startswith("2026-12-07T18:00:00Z apply done slot=b version=0.1.0")))' "$T/apply.rec"
search update.health >"$T/health.rec"
check "a failed health check is a failure, with its reason ($(cat "$T/health.rec"))" \
	jq -e 'select(.outcome == "failure" and (.reason | contains("reason=bulwarkd not healthy")))' "$T/health.rec"
search update.refused >"$T/refused.rec"
check "a refusal is denied ($(cat "$T/refused.rec"))" jq -e 'select(.outcome == "denied")' "$T/refused.rec"
check "the file is renamed update-journal.recorded" \
	sh -c "[ ! -e '$D/update-journal' ] && grep -q 'reseal done' '$D/update-journal.recorded'"
check_bulwarkd_stops_cleanly "$D"
# A restart records nothing twice; a file not owned by root is not
# recorded.
echo '2026-12-07T18:04:00Z rollback trial=b committed=a reason=x' >"$D/update-journal"
chown 65534 "$D/update-journal"
start_bulwarkd "$D" || { fail "bulwarkd starts again"; finish; }
check "after a restart, each line is recorded once" \
	sh -c "[ \"\$($A audit search --action update.apply -o json | jq '.items | length')\" = 1 ]"
check "a journal file not owned by root is not recorded, and stays" \
	sh -c "[ \"\$($A audit search --action update.rollback -o json | jq '.items | length')\" = 0 ] && [ -e '$D/update-journal' ] && grep -q 'update-journal: not recorded' '$D/bulwarkd.log'"
check_bulwarkd_stops_cleanly "$D"
finish

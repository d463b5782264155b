#!/bin/bash
# Issue 20, freshness and the monthly continuous-monitoring package
# through the running appliance:
# - every observation says when its evidence was collected and every
#   finding carries the time of its oldest evidence;
# - the cadence (compliance.cadence_seconds of the configuration bulwarkd
#   measured at start, --config too) is a check: not applicable at the
#   first scan, satisfied when the previous scan is within it, not
#   satisfied when it is older; editing the file at run time changes
#   nothing until a restart;
# - evidence export marks findings older than the cadence stale, and
#   --refuse-stale fails naming them;
# - evidence conmon --month packages the month's scans, POA&M changes,
#   inventory and audit attestation, signed like a bundle: bulwark-verify
#   accepts it, and one byte changed makes it fail naming the file; its
#   results are the month's last Moderate scan (the plan's baseline)
#   even when a High scan ran after it; its audit attestation verifies
#   a trail that went through a checkpoint key change.
. "$(dirname "$0")/lib.sh" || exit 99
. "$top_srcdir/tests/oscal/ajv-setup.sh"

D="$T/d"
mkdir -p "$D"
# A typo in the compliance settings stops the start.
echo '{"compliance": {"cadence": 60}}' >"$T/bad.conf"
mkdir -p "$T/bad"
cp "$T/bad.conf" "$T/bad/bulwarkd.conf"
timeout 120 "$BW/bulwarkd" --data-dir "$T/bad" --listen 127.0.0.1:0 \
	>"$T/bad.log" 2>&1 &
bad=$!
BW_PIDS="$BW_PIDS $bad"
wait $bad; rc=$?
check "an unknown compliance key refuses the start (exit $rc)" [ $rc -ne 0 ] && [ $rc -ne 124 ]
check "the message names the key" grep -q 'compliance.cadence' "$T/bad.log"

month=$(date -u +%Y-%m)
# started DIR [ARG...]: bulwarkd on DIR, the CLI's commands for it.
started() {
	start_bulwarkd "$@" || return 1
	B="$BW/bulwark --config $CONF"
	A="$BW/bulwark --config $AUDITOR"
	KEY="$1/pki/audit-checkpoint.pub.pem"
}
scan() { # FILE [OPTION...]
	local f=$1
	shift
	$B compliance scan "$@" -o json >"$f" 2>"$T/scan.err" || { cat "$T/scan.err"; return 1; }
}
verdict() { # FILE CHECK
	jq -r --arg c "$2" '.results[] | select(.check == $c) | .verdict' "$1"
}
# export NAME [OPTION]: a bundle as the auditor, extracted into $T/NAME.
export_x() {
	$A evidence export ${2:-} -o "$T/$1.tar" >/dev/null 2>"$T/$1.err" || { cat "$T/$1.err"; return 1; }
	mkdir -p "$T/$1" && tar -xf "$T/$1.tar" -C "$T/$1"
}
# marks NAME: the distinct freshness marks of its findings, if > 100.
marks() {
	jq -r '[.["assessment-results"].results[].findings[] | .props[] |
		select(.name == "freshness") | .value] | select(length > 100) | unique | join(",")' \
		"$T/$1/assessment-results.json"
}

# A cadence of one second from a --config file outside the data
# directory, two seconds on.
D1="$T/d1"
echo '{"compliance": {"cadence_seconds": 1}}' >"$T/one.conf"
started "$D1" --config "$T/one.conf" || exit 1
scan "$T/o1.json" || fail "first scan (cadence 1 s)"
sleep 2
export_x stale || fail "stale export"
check "stale export: the manifest counts the stale findings (--config honoured)" \
	jq -e '.freshness["cadence-seconds"] == 1 and .freshness.stale > 100' "$T/stale/manifest.json"
check "stale export: every finding is marked stale ($(marks stale))" [ "$(marks stale)" = stale ]
check "the stale bundle still verifies" "$BW/bulwark-verify" --quiet --key "$KEY" "$T/stale.tar"
$A evidence export --refuse-stale -o "$T/refused.tar" >"$T/ref.out" 2>"$T/ref.err"; rc=$?
check "--refuse-stale fails (exit $rc)" [ $rc -ne 0 ]
check "no bundle is written" [ ! -e "$T/refused.tar" ]
check "the error says why and names the findings" sh -c "
	grep -q 'older than the evidence cadence of 1 s' '$T/ref.err' &&
	grep -q 'finding AC-2 ' '$T/ref.err' && grep -q '(collected 20' '$T/ref.err' ||
	{ cat '$T/ref.err'; false; }"
echo "refusal: $(head -c 400 "$T/ref.err")"
scan "$T/o2.json" || fail "second scan (cadence 1 s)"
check "previous scan older than the cadence: not satisfied (got $(verdict "$T/o2.json" ca-evidence-cadence))" \
	[ "$(verdict "$T/o2.json" ca-evidence-cadence)" = not-satisfied ]
$A evidence conmon --month "$month" -o "$T/c1.tar" >"$T/c1.out" 2>&1 || { cat "$T/c1.out"; fail "conmon export (cadence 1 s)"; }
mkdir -p "$T/c1x" && tar -xf "$T/c1.tar" -C "$T/c1x"
check "the POA&M changes show the cadence item opened during the month" jq -e '
	[.changes[] | select(.check == "ca-evidence-cadence" and .change == "opened")] | length >= 1' \
	"$T/c1x/conmon/poam-changes.json"
stop_bulwarkd

# The trail of D starts with checkpoints of another key: bulwarkd goes
# on with its own (a key change, as after a move to a new TPM).
"$BW/tests/unit/audit/audit-gen" write "$D/audit" "$T/old-key.pem" 30 >/dev/null ||
	fail "writing a trail with another key"
openssl pkey -in "$T/old-key.pem" -pubout -out "$T/old-key.pub" 2>/dev/null || fail "the old public key"
echo '{"compliance": {"cadence_seconds": 3600}}' >"$D/bulwarkd.conf"
started "$D" || exit 1

scan "$T/s1.json" || fail "first scan"
check "first scan: ca-evidence-cadence not applicable (got $(verdict "$T/s1.json" ca-evidence-cadence))" \
	[ "$(verdict "$T/s1.json" ca-evidence-cadence)" = not-applicable ]
scan "$T/s2.json" || fail "second scan"
check "second scan within the cadence: satisfied (got $(verdict "$T/s2.json" ca-evidence-cadence))" \
	[ "$(verdict "$T/s2.json" ca-evidence-cadence)" = satisfied ]

$B compliance results --format oscal >"$T/ar.json"
check "every observation says when its evidence was collected" jq -e '
	[.["assessment-results"].results[].observations[] | .collected | test("^[0-9]{4}-")] | all' "$T/ar.json"
check "every finding carries the time of its oldest evidence" jq -e '
	[.["assessment-results"].results[].findings[] |
	 [.props[]? | select(.name == "collected" and .ns == "urn:bulwark:compliance")] | length == 1] | all' "$T/ar.json"
check "the result says when the scan ran" jq -e '.["assessment-results"].results[0] | .start and .end' "$T/ar.json"

# Within the cadence: all fresh.
export_x fresh || fail "export"
check "fresh export: the manifest records the cadence, nothing stale" \
	jq -e '.freshness == {"cadence-seconds": 3600, "stale": 0}' "$T/fresh/manifest.json"
check "fresh export: every finding is marked fresh ($(marks fresh))" [ "$(marks fresh)" = fresh ]
check "the bundle carries the recorded scan's results" \
	jq -e --slurpfile a "$T/ar.json" '.["assessment-results"].uuid == $a[0]["assessment-results"].uuid' \
	"$T/fresh/assessment-results.json"
check "fresh export with --refuse-stale succeeds" export_x fresh2 --refuse-stale

# The file edited at run time to a cadence of one second, two seconds
# on: the cadence is still the one measured at start.
jq '.compliance.cadence_seconds = 1' "$D/bulwarkd.conf" >"$T/c.json" && cp "$T/c.json" "$D/bulwarkd.conf"
sleep 2
export_x edited || fail "export after the edit"
check "edited at run time: the manifest keeps the cadence measured at start, nothing stale" \
	jq -e '.freshness == {"cadence-seconds": 3600, "stale": 0}' "$T/edited/manifest.json"
scan "$T/s3.json" || fail "third scan"
check "edited at run time: the cadence check still uses 3600 s (got $(verdict "$T/s3.json" ca-evidence-cadence))" \
	[ "$(verdict "$T/s3.json" ca-evidence-cadence)" = satisfied ]
# Back to the bytes the root secret was sealed with (the file is measured).
echo '{"compliance": {"cadence_seconds": 3600}}' >"$D/bulwarkd.conf"
# The month's last scan is a High one; the package's plan is Moderate.
$B compliance results --format oscal >"$T/ar-moderate.json"
scan "$T/h1.json" --baseline high || fail "High scan"
$B compliance results --format oscal >"$T/ar-high.json"
check "the High scan's results differ from the Moderate ones" \
	jq -e --slurpfile m "$T/ar-moderate.json" '.["assessment-results"].uuid != $m[0]["assessment-results"].uuid' \
	"$T/ar-high.json"

# The monthly package.
$B evidence conmon --month "$month" -o "$T/admin-c.tar" >/dev/null 2>&1; rc=$?
check "the administrator may not export the package (exit 6, got $rc)" [ $rc = 6 ]
$A evidence conmon --month 2000-01 -o "$T/empty.tar" >/dev/null 2>"$T/empty.err"; rc=$?
check "a month without scans: not found (exit 4, got $rc), saying so" \
	sh -c "[ $rc = 4 ] && grep -q 'no compliance scan was recorded in 2000-01' '$T/empty.err'"
$A evidence conmon --month 2026-13 -o "$T/bad.tar" >/dev/null 2>&1; rc=$?
check "a malformed month is a usage error (exit 2, got $rc)" [ $rc = 2 ]
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$PKI/ca.crt" --cert "$PKI/auditor.crt" \
	--key "$PKI/auditor.key" "$URL/v1/compliance/conmon?month=26-1")
check "the server refuses a malformed month (HTTP $code)" [ "$code" = 400 ]

$A evidence conmon --month "$month" -o "$T/c.tar" >"$T/c.out" 2>&1 || { cat "$T/c.out"; fail "conmon export"; }
check "bulwark-verify accepts the package" "$BW/bulwark-verify" --key "$KEY" --key "$T/old-key.pub" "$T/c.tar"
"$BW/bulwark-verify" --key "$KEY" --key "$T/old-key.pub" "$T/c.tar" >"$T/cv.out" 2>&1
check "bulwark-verify says it is a ConMon package" grep -qi 'conmon' "$T/cv.out"
mkdir -p "$T/cx" && tar -xf "$T/c.tar" -C "$T/cx"
check "the manifest names the package" jq -e '.package == "conmon" and .format == "bulwark-evidence"' "$T/cx/manifest.json"
check "the package holds results, POA&M, SSP, audit segments and its own documents" sh -c "
	cd '$T/cx' && [ -s assessment-results.json ] && [ -s poam.json ] && [ -s bulwark-ssp.json ] &&
	ls audit | grep -q '^seg-' && [ -s conmon/scan-summary.json ] && [ -s conmon/poam-changes.json ] &&
	[ -s conmon/inventory.json ] && [ -s conmon/audit-attestation.json ]"
check "the scan summary lists the month's scans with their counts" jq -e --arg m "$month" '
	.month == $m and .totals.scans >= 3 and (.scans | length) == .totals.scans and
	([.scans[] | .satisfied + .["not-satisfied"] + .["not-applicable"] + .error + .manual > 100] | all) and
	.totals.satisfied > 0' "$T/cx/conmon/scan-summary.json"
check "the package carries the month's last Moderate scan, not the later High one" \
	jq -e --slurpfile m "$T/ar-moderate.json" '.["assessment-results"].uuid == $m[0]["assessment-results"].uuid' \
	"$T/cx/assessment-results.json"
check "the scan summary says which baseline the package's results are" \
	jq -e '.["package-results"].baseline == "moderate" and (.["package-results"].time | test("^[0-9]{4}-"))' \
	"$T/cx/conmon/scan-summary.json"
check "the inventory lists the nodes and the principals' roles, no keys" jq -e '
	(.nodes | length) >= 1 and (.images | type) == "array" and (.principals | type) == "array" and
	(tostring | test("PRIVATE KEY") | not)' "$T/cx/conmon/inventory.json"
check "the trail went through a key change" grep -q 'action=audit.key_change ' "$D"/audit/seg-*.log
check "the audit attestation: the month's records and scans, the trail intact across the key change" jq -e '
	.["month-records"].records > 0 and .["month-records"]["compliance-scans"] >= 3 and
	.["trail-verified-at-export"].intact == true' "$T/cx/conmon/audit-attestation.json"
echo "trail verified at export: $(jq -c '.["trail-verified-at-export"]' "$T/cx/conmon/audit-attestation.json")"
check "the signed manifest holds the audit range and head" \
	jq -e '.audit["last-seq"] > 0 and (.audit["head-hash"] | length) == 64' "$T/cx/manifest.json"

if bw_ajv_setup; then
	schemas=$top_srcdir/compliance/data/schemas
	catalog=$top_srcdir/compliance/data/catalogs/NIST_SP-800-53_rev5_catalog-min.json
	check "the package's assessment results validate (OSCAL 1.1.3)" node "$top_srcdir/tests/oscal/validate.js" \
		"$schemas/oscal_assessment-results_schema.json" "$catalog" "$T/cx/assessment-results.json"
	check "the package's POA&M validates (OSCAL 1.1.3)" node "$top_srcdir/tests/oscal/validate.js" \
		"$schemas/oscal_poam_schema.json" "$catalog" "$T/cx/poam.json"
	check "the stale bundle's assessment results validate" node "$top_srcdir/tests/oscal/validate.js" \
		"$schemas/oscal_assessment-results_schema.json" "$catalog" "$T/stale/assessment-results.json"
else
	echo "note: OSCAL schema validation skipped: $AJV_SKIP_REASON"
fi

# One byte changed inside the package.
off=$(grep -abo '"bulwark-conmon-inventory"' "$T/c.tar" | head -1 | cut -d: -f1)
cp "$T/c.tar" "$T/t.tar"
printf 'X' | dd of="$T/t.tar" bs=1 seek=$((off + 2)) conv=notrunc status=none
check "the tampered copy differs by one byte" [ "$(cmp -l "$T/c.tar" "$T/t.tar" | wc -l)" = 1 ]
"$BW/bulwark-verify" --key "$KEY" --key "$T/old-key.pub" "$T/t.tar" >"$T/tv.out" 2>&1; rc=$?
check "one byte changed: verify fails (exit $rc)" [ $rc = 1 ]
check "one byte changed: the report names the file" grep -q '^FAILED DIGEST conmon/inventory.json' "$T/tv.out"
check "the export is in the audit trail" \
	sh -c "$A audit search --action evidence.conmon -o json | jq -e '[.items[] | select(.outcome==\"success\")] | length >= 1' >/dev/null"

# After a restart the latest scan (a Moderate one again) is found in the
# store again.
scan "$T/s3b.json" || fail "Moderate scan after the High one"
stop_bulwarkd
started "$D" || { fail "restart"; finish; }
$B compliance results --format oscal >"$T/ar-restart.json"
export_x restarted || fail "export after the restart"
check "after a restart the bundle carries the latest recorded scan" \
	jq -e --slurpfile a "$T/ar-restart.json" '.["assessment-results"].uuid == $a[0]["assessment-results"].uuid' \
	"$T/restarted/assessment-results.json"
scan "$T/s4.json" || fail "scan after the restart"
check "after a restart the previous scan is known: cadence satisfied (got $(verdict "$T/s4.json" ca-evidence-cadence))" \
	[ "$(verdict "$T/s4.json" ca-evidence-cadence)" = satisfied ]
finish

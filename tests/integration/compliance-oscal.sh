#!/bin/sh
# The OSCAL assessment-results and POA&M documents produced from fixture
# scans and from a scan of this host validate against NIST's OSCAL 1.1.3
# schemas with ajv (draft-07) with zero errors, and every control they
# cite exists in the catalog. Mutated copies must be rejected, so the
# validator is shown to be able to fail.
set -u
: "${top_srcdir:?}" "${top_builddir:?}"
. "$top_srcdir/tests/oscal/ajv-setup.sh"

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM

if ! bw_ajv_setup; then
	echo "SKIP: $AJV_SKIP_REASON"
	exit 77
fi

schemas=$top_srcdir/compliance/data/schemas
catalog=$top_srcdir/compliance/data/catalogs/NIST_SP-800-53_rev5_catalog-min.json
validate="node $top_srcdir/tests/oscal/validate.js"

BW_OSCAL_OUT=$tmp top_srcdir=$top_srcdir \
    "$top_builddir/tests/unit/compliance/test-oscal" >"$tmp/gen.log" 2>&1 || {
	cat "$tmp/gen.log"; echo "FAIL: document generation"; exit 1; }
# Waivers amend the same documents (risks, risk-log, milestones).
BW_OSCAL_OUT=$tmp top_srcdir=$top_srcdir \
    "$top_builddir/tests/unit/compliance/test-waiver" >"$tmp/gen-waiver.log" 2>&1 || {
	cat "$tmp/gen-waiver.log"; echo "FAIL: waived documents"; exit 1; }
for f in ar-fixture.json ar-fixture-good.json ar-fixture-stale.json ar-host.json \
    poam-fixture.json poam-host.json ar-waived.json poam-waived.json; do
	[ -s "$tmp/$f" ] || { echo "FAIL: $f not written"; exit 1; }
done

$validate "$schemas/oscal_assessment-results_schema.json" "$catalog" \
    "$tmp"/ar-*.json || { echo "FAIL: assessment-results"; exit 1; }
$validate "$schemas/oscal_poam_schema.json" "$catalog" \
    "$tmp"/poam-*.json || { echo "FAIL: POA&M"; exit 1; }
[ -s "$tmp/ap-moderate.json" ] || { echo "FAIL: ap-moderate.json not written"; exit 1; }
$validate "$schemas/oscal_assessment-plan_schema.json" "$catalog" \
    "$tmp/ap-moderate.json" || { echo "FAIL: assessment plan"; exit 1; }

# Negative controls: each mutation must make validation fail.
node -e '
const fs = require("fs");
const [dir] = process.argv.slice(1);
const ar = () => JSON.parse(fs.readFileSync(dir + "/ar-fixture.json"));
const po = () => JSON.parse(fs.readFileSync(dir + "/poam-fixture.json"));
let d;
d = ar(); d["assessment-results"].uuid = "not-a-uuid";
fs.writeFileSync(dir + "/bad-ar-uuid.json", JSON.stringify(d));
d = ar(); delete d["assessment-results"].results[0]["reviewed-controls"];
fs.writeFileSync(dir + "/bad-ar-reviewed.json", JSON.stringify(d));
d = ar(); d["assessment-results"].results[0].findings[0].target.status.state = "partial";
fs.writeFileSync(dir + "/bad-ar-state.json", JSON.stringify(d));
d = ar(); d["assessment-results"].results[0].findings[0].target["target-id"] = "zz-99_smt";
fs.writeFileSync(dir + "/bad-ar-control.json", JSON.stringify(d));
d = ar(); d["assessment-results"].results[0].start = "yesterday";
fs.writeFileSync(dir + "/bad-ar-time.json", JSON.stringify(d));
d = po(); d["plan-of-action-and-milestones"]["poam-items"] = [];
fs.writeFileSync(dir + "/bad-poam-empty.json", JSON.stringify(d));
d = po(); d["plan-of-action-and-milestones"].risks[0].status = "";
fs.writeFileSync(dir + "/bad-poam-risk.json", JSON.stringify(d));
' "$tmp" || { echo "FAIL: mutating documents"; exit 1; }
for f in "$tmp"/bad-ar-*.json; do
	if $validate "$schemas/oscal_assessment-results_schema.json" "$catalog" \
	    "$f" >/dev/null; then
		echo "FAIL: $(basename "$f") was accepted"; exit 1
	fi
done
for f in "$tmp"/bad-poam-*.json; do
	if $validate "$schemas/oscal_poam_schema.json" "$catalog" "$f" \
	    >/dev/null; then
		echo "FAIL: $(basename "$f") was accepted"; exit 1
	fi
done
echo "PASS: OSCAL documents valid; 7 mutations rejected"

#!/bin/sh
# The committed SSP, component definition and assessment plan
# (docs/ssp) are what compliance/ssp-gen produces from their sources
# today, validate against NIST's OSCAL 1.1.3 schemas with ajv with zero
# errors, and cite only catalog controls; the SSP gives every FedRAMP
# Moderate control an implemented requirement with a non-empty
# statement, assembled from the component definition (same component
# UUIDs). Mutated copies must fail, so each check is shown able to fail.
set -u
: "${top_srcdir:?}" "${top_builddir:?}"
. "$top_srcdir/tests/oscal/ajv-setup.sh"

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM

data=$top_srcdir/compliance/data
schema=$data/schemas/oscal_ssp_schema.json
catalog=$data/catalogs/NIST_SP-800-53_rev5_catalog-min.json
moderate=$data/catalogs/FedRAMP_rev5_MODERATE-baseline-resolved-profile_catalog-min.json
ssp=$top_srcdir/docs/ssp/bulwark-ssp.json
cdef=$top_srcdir/docs/ssp/bulwark-component-definition.json
plan=$top_srcdir/docs/ssp/assessment-plan.json

# 1. Up to date: regenerating gives the committed bytes.
"$top_builddir/compliance/ssp-gen" -d "$data" -n "$top_srcdir/docs/ssp/narratives" \
    -c "$tmp/cd.json" -o "$tmp/ssp.json" -m "$tmp/ssp.md" -a "$tmp/ap.json" \
    >"$tmp/gen.log" 2>&1 || { cat "$tmp/gen.log"; echo "FAIL: ssp-gen"; exit 1; }
for f in ssp.json:bulwark-ssp.json ssp.md:ssp.md cd.json:bulwark-component-definition.json \
    ap.json:assessment-plan.json; do
	cmp -s "$tmp/${f%%:*}" "$top_srcdir/docs/ssp/${f#*:}" ||
	    { echo "FAIL: docs/ssp/${f#*:} is stale: run make ssp"; exit 1; }
done

# 2. ssp-gen refuses a narrative for a control outside the baseline.
mkdir "$tmp/narr"
cp "$top_srcdir"/docs/ssp/narratives/*.md "$tmp/narr/"
printf '\n## ac-2.6\n\nnot in Moderate\n' >>"$tmp/narr/ac.md"
if "$top_builddir/compliance/ssp-gen" -d "$data" -n "$tmp/narr" -o "$tmp/x.json" \
    -m "$tmp/x.md" -c "$tmp/x-cd.json" -a "$tmp/x-ap.json" >"$tmp/bad.log" 2>&1; then
	echo "FAIL: ssp-gen accepted a narrative for ac-2.6 (not in Moderate)"; exit 1
fi
grep -q "ac-2.6 is not in the baseline" "$tmp/bad.log" || { cat "$tmp/bad.log"; echo "FAIL: wrong message"; exit 1; }

# 3. Coverage: every Moderate control has an implemented requirement
# with a non-empty statement, no control twice, none outside Moderate.
cover='
const fs = require("fs");
const [mod, doc] = process.argv.slice(1);
const want = [];
(function walk(l) { for (const c of l || []) { want.push(c.id); walk(c.controls); } })(
    [].concat(...JSON.parse(fs.readFileSync(mod)).catalog.groups.map((g) => g.controls || [])));
const reqs = JSON.parse(fs.readFileSync(doc))["system-security-plan"]
    ["control-implementation"]["implemented-requirements"];
const seen = new Map();
let bad = 0;
for (const r of reqs) {
	const text = (r["by-components"] || []).map((b) => (b.description || "").trim()).join("");
	if (!text) { console.log("empty statement: " + r["control-id"]); bad++; }
	if (seen.has(r["control-id"])) { console.log("twice: " + r["control-id"]); bad++; }
	seen.set(r["control-id"], 1);
}
for (const id of want) if (!seen.has(id)) { console.log("missing: " + id); bad++; }
for (const id of seen.keys()) if (!want.includes(id)) { console.log("not in Moderate: " + id); bad++; }
if (!bad) console.log("coverage: " + want.length + " Moderate controls, each with a statement");
process.exit(bad ? 1 : 0);
'
node -e "$cover" "$moderate" "$ssp" || { echo "FAIL: coverage"; exit 1; }

node -e '
const fs = require("fs");
const [src, dir] = process.argv.slice(1);
const load = () => JSON.parse(fs.readFileSync(src));
const reqs = (d) => d["system-security-plan"]["control-implementation"]["implemented-requirements"];
let d;
d = load(); reqs(d).splice(5, 1); fs.writeFileSync(dir + "/cov-missing.json", JSON.stringify(d));
d = load(); reqs(d)[7]["by-components"][0].description = " "; fs.writeFileSync(dir + "/cov-empty.json", JSON.stringify(d));
d = load(); reqs(d)[0]["control-id"] = "ac-2.6"; fs.writeFileSync(dir + "/cov-outside.json", JSON.stringify(d));
d = load(); reqs(d)[3]["control-id"] = "zz-9"; fs.writeFileSync(dir + "/bad-control.json", JSON.stringify(d));
d = load(); d["system-security-plan"].uuid = "1234"; fs.writeFileSync(dir + "/bad-uuid.json", JSON.stringify(d));
d = load(); delete d["system-security-plan"]["system-characteristics"]["authorization-boundary"];
fs.writeFileSync(dir + "/bad-boundary.json", JSON.stringify(d));
d = load(); d["system-security-plan"].metadata["last-modified"] = "yesterday";
fs.writeFileSync(dir + "/bad-time.json", JSON.stringify(d));
' "$ssp" "$tmp" || { echo "FAIL: mutating"; exit 1; }
for f in "$tmp"/cov-*.json; do
	if node -e "$cover" "$moderate" "$f" >/dev/null; then
		echo "FAIL: coverage accepted $(basename "$f")"; exit 1
	fi
done

# 4. Schema validation (needs ajv from npm).
if ! bw_ajv_setup; then
	echo "SKIP: $AJV_SKIP_REASON (coverage checks passed)"
	exit 77
fi
validate="node $top_srcdir/tests/oscal/validate.js"
$validate "$schema" "$catalog" "$ssp" || { echo "FAIL: SSP schema validation"; exit 1; }
for f in "$tmp"/bad-*.json; do
	if $validate "$schema" "$catalog" "$f" >/dev/null; then
		echo "FAIL: $(basename "$f") was accepted"; exit 1
	fi
done
$validate "$data/schemas/oscal_component_schema.json" "$catalog" "$cdef" ||
    { echo "FAIL: component definition schema validation"; exit 1; }
$validate "$data/schemas/oscal_assessment-plan_schema.json" "$catalog" "$plan" ||
    { echo "FAIL: assessment plan schema validation"; exit 1; }
node -e '
const fs = require("fs");
const [cd, plan, dir] = process.argv.slice(1);
let d;
d = JSON.parse(fs.readFileSync(cd)); d["component-definition"].components[0].type = "";
fs.writeFileSync(dir + "/badcd-type.json", JSON.stringify(d));
d = JSON.parse(fs.readFileSync(cd));
delete d["component-definition"].components[1]["control-implementations"][0].source;
fs.writeFileSync(dir + "/badcd-source.json", JSON.stringify(d));
d = JSON.parse(fs.readFileSync(plan)); delete d["assessment-plan"]["import-ssp"];
fs.writeFileSync(dir + "/badap-import.json", JSON.stringify(d));
d = JSON.parse(fs.readFileSync(plan)); d["assessment-plan"].tasks[0].timing["at-frequency"].unit = "fortnights";
fs.writeFileSync(dir + "/badap-unit.json", JSON.stringify(d));
' "$cdef" "$plan" "$tmp" || { echo "FAIL: mutating"; exit 1; }
for f in "$tmp"/badcd-*.json; do
	if $validate "$data/schemas/oscal_component_schema.json" "$catalog" "$f" >/dev/null; then
		echo "FAIL: $(basename "$f") was accepted"; exit 1
	fi
done
for f in "$tmp"/badap-*.json; do
	if $validate "$data/schemas/oscal_assessment-plan_schema.json" "$catalog" "$f" >/dev/null; then
		echo "FAIL: $(basename "$f") was accepted"; exit 1
	fi
done
echo "PASS: SSP, component definition and assessment plan current and valid; SSP complete; 3 coverage and 8 schema mutations rejected"

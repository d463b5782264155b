#!/bin/sh
# The committed SSP (docs/ssp) is what compliance/ssp-gen produces from
# its sources today, validates against NIST's OSCAL 1.1.3 SSP schema
# with ajv with zero errors, cites only catalog controls, and gives
# every FedRAMP Moderate control an implemented requirement with a
# non-empty statement. Mutated copies must fail, so each check is shown
# able to fail.
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

# 1. Up to date: regenerating gives the committed bytes.
"$top_builddir/compliance/ssp-gen" -d "$data" -n "$top_srcdir/docs/ssp/narratives" \
    -o "$tmp/ssp.json" -m "$tmp/ssp.md" >"$tmp/gen.log" 2>&1 || {
	cat "$tmp/gen.log"; echo "FAIL: ssp-gen"; exit 1; }
cmp -s "$tmp/ssp.json" "$ssp" || { echo "FAIL: docs/ssp/bulwark-ssp.json is stale: run make ssp"; exit 1; }
cmp -s "$tmp/ssp.md" "$top_srcdir/docs/ssp/ssp.md" || { echo "FAIL: docs/ssp/ssp.md is stale: run make ssp"; exit 1; }

# 2. ssp-gen refuses a narrative for a control outside the baseline.
mkdir "$tmp/narr"
cp "$top_srcdir"/docs/ssp/narratives/*.md "$tmp/narr/"
printf '\n## ac-2.6\n\nnot in Moderate\n' >>"$tmp/narr/ac.md"
if "$top_builddir/compliance/ssp-gen" -d "$data" -n "$tmp/narr" -o "$tmp/x.json" \
    -m "$tmp/x.md" >"$tmp/bad.log" 2>&1; then
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
echo "PASS: SSP current, valid, complete; 3 coverage and 4 schema mutations rejected"

#!/bin/sh
# Every cross-reference among the OSCAL documents an assessor gets
# resolves: in an evidence bundle (written by
# tests/unit/compliance/test-evidence from a fixture scan with failures)
# the assessment results import the assessment plan beside them, the
# plan and the POA&M import the SSP, the SSP names its component
# definition, and every UUID, role and "#" reference inside them
# (tests/oscal/refs.js lists what is walked) resolves; so do the
# committed docs/ssp documents. Then one dangling reference of each kind
# is injected into a copy, and the walker must fail naming it.
set -u
: "${top_srcdir:?}" "${top_builddir:?}"

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM

if ! command -v node >/dev/null; then
	echo "SKIP: node not installed"
	exit 77
fi
refs="node $top_srcdir/tests/oscal/refs.js"
docs="bulwark-ssp.json bulwark-component-definition.json assessment-plan.json
    assessment-results.json poam.json"

BW_EVIDENCE_OUT=$tmp top_srcdir=$top_srcdir \
    "$top_builddir/tests/unit/compliance/test-evidence" >"$tmp/gen.log" 2>&1 || {
	cat "$tmp/gen.log"; echo "FAIL: bundle generation"; exit 1; }
mkdir "$tmp/b" && tar -xf "$tmp/bundle.tar" -C "$tmp/b" ||
    { echo "FAIL: cannot unpack the bundle"; exit 1; }
for f in $docs; do
	[ -s "$tmp/b/$f" ] || { echo "FAIL: $f not in the bundle"; exit 1; }
done

# 1. The bundle and docs/ssp resolve, and the imports are the ones
# produced (not merely absent references).
(cd "$tmp/b" && $refs $docs) >"$tmp/ok.out" || {
	cat "$tmp/ok.out"; echo "FAIL: dangling references in the bundle"; exit 1; }
cat "$tmp/ok.out"
grep -q '^resolved assessment-results.json: .*scope: assessment-results.json, assessment-plan.json, bulwark-ssp.json, bulwark-component-definition.json' \
    "$tmp/ok.out" || { echo "FAIL: the results do not import the plan, SSP and component definition"; exit 1; }
grep -q '^resolved poam.json: .*scope: poam.json, bulwark-ssp.json' "$tmp/ok.out" ||
    { echo "FAIL: the POA&M does not import the SSP"; exit 1; }
(cd "$top_srcdir/docs/ssp" && $refs bulwark-ssp.json bulwark-component-definition.json \
    assessment-plan.json) >"$tmp/docs.out" || {
	cat "$tmp/docs.out"; echo "FAIL: dangling references in docs/ssp"; exit 1; }
cat "$tmp/docs.out"

# 2. Each injected dangling reference is caught and named.
mkdir "$tmp/m"
node -e '
const fs = require("fs");
const [src, out] = process.argv.slice(1);
const D = "00000000-0000-4000-8000-00000000dead";
const cases = {
	"ar-actor": ["assessment-results.json", (d) => d["assessment-results"].results[0].observations[0].origins[0].actors[0]["actor-uuid"] = D],
	"ar-task": ["assessment-results.json", (d) => d["assessment-results"].results[0].observations[1].origins[0]["related-tasks"][0]["task-uuid"] = D],
	"ar-import": ["assessment-results.json", (d) => d["assessment-results"]["import-ap"].href = "dead-plan.json"],
	"ar-observation": ["assessment-results.json", (d) => d["assessment-results"].results[0].findings[0]["related-observations"][0]["observation-uuid"] = D],
	"ar-evidence": ["assessment-results.json", (d) => d["assessment-results"].results[0].observations
	    .flatMap((o) => o["relevant-evidence"] || []).find((e) => e.href.startsWith("#")).href = "#" + D],
	"ap-activity": ["assessment-plan.json", (d) => d["assessment-plan"].tasks[0]["associated-activities"][2]["activity-uuid"] = D],
	"ap-subject": ["assessment-plan.json", (d) => d["assessment-plan"]["assessment-subjects"][0]["include-subjects"][0]["subject-uuid"] = D],
	"ap-platform": ["assessment-plan.json", (d) => d["assessment-plan"]["assessment-assets"]["assessment-platforms"][0]["uses-components"][0]["component-uuid"] = D],
	"ap-role": ["assessment-plan.json", (d) => d["assessment-plan"].tasks[0]["responsible-roles"][0]["role-id"] = "dead-role"],
	"ap-party": ["assessment-plan.json", (d) => d["assessment-plan"].metadata["responsible-parties"][0]["party-uuids"][0] = D],
	"ap-import": ["assessment-plan.json", (d) => d["assessment-plan"]["import-ssp"].href = "assessment-results.json"],
	"ssp-component": ["bulwark-ssp.json", (d) => d["system-security-plan"]["control-implementation"]["implemented-requirements"][9]["by-components"][0]["component-uuid"] = D],
	"ssp-not-in-cd": ["bulwark-component-definition.json", (d) => d["component-definition"].components[3].uuid = D],
	"ssp-user-role": ["bulwark-ssp.json", (d) => d["system-security-plan"]["system-implementation"].users[0]["role-ids"][0] = "dead-role"],
	"ssp-resource": ["bulwark-ssp.json", (d) => d["system-security-plan"]["system-implementation"].components[1].links[0].href = "#" + D],
	"cd-role": ["bulwark-component-definition.json", (d) => d["component-definition"].components[1]["control-implementations"][0]["implemented-requirements"][0]["responsible-roles"][0]["role-id"] = "dead-role"],
	"poam-risk": ["poam.json", (d) => d["plan-of-action-and-milestones"]["poam-items"][0]["related-risks"][0]["risk-uuid"] = D],
	"poam-finding": ["poam.json", (d) => d["plan-of-action-and-milestones"]["poam-items"][0]["related-findings"][0]["finding-uuid"] = D],
	"poam-import": ["poam.json", (d) => d["plan-of-action-and-milestones"]["import-ssp"].href = "gone-ssp.json"],
};
for (const [name, [file, mutate]] of Object.entries(cases)) {
	fs.mkdirSync(`${out}/${name}`);
	for (const f of fs.readdirSync(src).filter((f) => f.endsWith(".json")))
		fs.copyFileSync(`${src}/${f}`, `${out}/${name}/${f}`);
	const d = JSON.parse(fs.readFileSync(`${src}/${file}`));
	mutate(d);
	fs.writeFileSync(`${out}/${name}/${file}`, JSON.stringify(d));
	fs.writeFileSync(`${out}/${name}/.file`, file);
}
' "$tmp/b" "$tmp/m" || { echo "FAIL: mutating"; exit 1; }
n=0
for d in "$tmp"/m/*/; do
	name=$(basename "$d")
	file=$(cat "$d/.file")
	if (cd "$d" && $refs $docs) >"$tmp/$name.out" 2>&1; then
		echo "FAIL: $name: the dangling reference was not caught"; exit 1
	fi
	# The report names the injected value (a CD component renamed
	# shows as the SSP component it no longer defines).
	grep -E '^  [^ ]+: ' "$tmp/$name.out" | grep -qE '00000000-0000-4000-8000-00000000dead|dead-role|dead-plan.json|gone-ssp.json|holds a assessment-results|not a component of the component definition' || {
		cat "$tmp/$name.out"; echo "FAIL: $name: not named in $file"; exit 1; }
	echo "caught $name: $(grep -E '^  [^ ]+: ' "$tmp/$name.out" | head -1)"
	n=$((n + 1))
done
[ "$n" -eq 19 ] || { echo "FAIL: $n of 19 mutations ran"; exit 1; }
echo "PASS: every reference resolves; $n injected dangling references caught and named"

#!/bin/sh
# compliance/data holds unmodified copies: every file's SHA-256 prefix is
# the one SOURCES.md records, and the NIST catalog is byte-identical to
# its upstream git blob.
set -u
: "${top_srcdir:?}"
d=$top_srcdir/compliance/data
fail=0
for f in catalogs/NIST_SP-800-53_rev5_catalog-min.json \
    catalogs/FedRAMP_rev5_LOW-baseline-resolved-profile_catalog-min.json \
    catalogs/FedRAMP_rev5_MODERATE-baseline-resolved-profile_catalog-min.json \
    catalogs/FedRAMP_rev5_HIGH-baseline-resolved-profile_catalog-min.json \
    schemas/oscal_assessment-results_schema.json \
    schemas/oscal_poam_schema.json schemas/oscal_ssp_schema.json \
    schemas/oscal_assessment-plan_schema.json schemas/oscal_component_schema.json; do
	[ -f "$d/$f" ] || { echo "FAIL: $f missing"; fail=1; continue; }
	sum=$(sha256sum "$d/$f" | cut -c1-16)
	name=$(basename "$f")
	if grep -F "| $name |" "$d/SOURCES.md" | grep -qF "$sum"; then
		echo "ok $f $sum"
	else
		echo "FAIL: $f sha256 $sum not recorded for it in SOURCES.md"
		fail=1
	fi
done
blob=$(git hash-object "$d/catalogs/NIST_SP-800-53_rev5_catalog-min.json" 2>/dev/null ||
    echo none)
if [ "$blob" = 3f40690f6786156556eac411ea02f0dede963d4f ]; then
	echo "ok NIST catalog blob $blob"
elif [ "$blob" = none ]; then
	echo "note: git not available, blob not checked"
else
	echo "FAIL: NIST catalog blob $blob"; fail=1
fi
exit $fail

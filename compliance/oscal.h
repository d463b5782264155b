/* OSCAL 1.1 output of a scan: assessment-results (findings per control,
 * observations with evidence) and a plan of action and milestones for
 * what failed. Documents are jansson values; comp_oscal_write() stores
 * them durably. */
#ifndef BW_COMPLIANCE_OSCAL_H
#define BW_COMPLIANCE_OSCAL_H

#include <jansson.h>

#include "compliance/catalog.h"
#include "compliance/check.h"

#define COMP_OSCAL_VERSION	"1.1.3"
/* Namespace of Bulwark's own OSCAL properties. */
#define COMP_OSCAL_NS		"urn:bulwark:compliance"

struct comp_oscal_opts {
	const char	*system_name;	/* "Bulwark appliance <hostname>" */
	const char	*doc_version;	/* metadata.version; "1.0" when NULL */
	const char	*import_ap;	/* assessment plan href; COMP_AP_JSON_NAME */
	const char	*import_ssp;	/* SSP href for the POA&M; omitted when NULL */
	const char	*system_id;	/* system uuid for the POA&M; omitted when NULL */
	int		 deadline_days;	/* POA&M risk deadline; 30 when 0 */
};

/* Builds an assessment-results document for SCAN. Every control a check
 * covers (restricted to BASE when not NULL) is listed in
 * reviewed-controls and gets one finding, targeted at its statement in
 * CAT; each check result is one observation whose relevant-evidence
 * lists the files read (sha256) and facts used, made (origins) by the
 * task and platform of the plan comp_ap_build() gives, which the
 * document imports. *ret (caller owns)
 * validates against the OSCAL 1.1.3 assessment-results schema. Returns 0,
 * -ENOMEM, -BW_E_CRYPTO, or -BW_E_INVALID when a check cites a control
 * CAT lacks (with *ret_err). */
int comp_oscal_assessment_results(const struct comp_scan *scan,
    const struct comp_catalog *cat, const struct comp_baseline *base,
    const struct comp_oscal_opts *opts, json_t **ret, char **ret_err);

/* Builds a plan-of-action-and-milestones document with one poam-item per
 * check that is not satisfied (or errored), each linked to its
 * observation, an open risk with a deadline, and findings for the
 * controls it evidences. Same returns as above, and -BW_E_NOTFOUND when
 * no check failed (OSCAL requires at least one poam-item). */
int comp_oscal_poam(const struct comp_scan *scan,
    const struct comp_catalog *cat, const struct comp_baseline *base,
    const struct comp_oscal_opts *opts, json_t **ret, char **ret_err);

/* Freshness of an assessment-results document AR (as
 * comp_oscal_assessment_results() builds it): every observation (by its
 * "collected") and every finding (by its "collected" prop, the oldest
 * evidence behind it) gets a "freshness" prop, "stale" when older than
 * MAX_AGE_S at NOW, else "fresh". *ret_stale (caller owns) lists what is
 * stale as strings ("finding AC-2 Account Management (collected T)").
 * Modifies AR in place; returns 0 or -ENOMEM. */
int comp_oscal_mark_stale(json_t *ar, time_t now, long max_age_s,
    json_t **ret_stale);

/* Serialises DOC (indented, stable key order) to PATH under DIRFD
 * atomically with MODE. Returns 0 or -errno. */
int comp_oscal_write(const json_t *doc, int dirfd, const char *path,
    mode_t mode);

/* A property NAME = VALUE in Bulwark's namespace (COMP_OSCAL_NS); a new
 * reference, or NULL without memory. */
json_t *comp_oscal_prop(const char *name, const char *value);

/* Appends V to array A, taking V (NULL V or A: -ENOMEM, V released).
 * Returns 0 or -ENOMEM. */
int comp_oscal_push(json_t *a, json_t *v);

#endif

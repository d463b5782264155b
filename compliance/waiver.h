/* Waivers in the OSCAL documents of a scan: a risk a system-admin asked
 * to accept and a security-auditor approved (the Waiver resource,
 * controlplane/resource.c; its endpoints are daemon/waiver-api.c). An
 * approved waiver in force turns the findings it covers into risks with
 * status "deviation-approved" in the assessment results; in the POA&M
 * every risk gets its milestones and, when a waiver names it, the
 * deviation request and its log. Pure functions over documents. */
#ifndef BW_COMPLIANCE_WAIVER_H
#define BW_COMPLIANCE_WAIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <jansson.h>

/* One stored Waiver object; the strings are borrowed from DOC, which the
 * waiver holds a reference to. */
struct comp_waiver {
	json_t		*doc;
	const char	*name;
	const char	*control;	/* exactly one of control and check */
	const char	*check;
	const char	*justification;
	const char	*scope;		/* "appliance" or "node/NAME" */
	const char	*requested_by, *requested_at;
	const char	*approved_by, *approved_at;	/* NULL: not approved */
	const char	*expired_at;	/* NULL: expiry not recorded yet */
	time_t		 expires;
};

/* Reads stored Waiver object DOC into *RET (takes a reference to DOC;
 * release with comp_waiver_done()). Returns 0 or -BW_E_INVALID with
 * *ret_err when a field the assessment needs is missing or malformed. */
int comp_waiver_parse(json_t *doc, struct comp_waiver *ret, char **ret_err);
void comp_waiver_done(struct comp_waiver *w);
/* Frees N waivers at W and the array (NULL ok). */
void comp_waivers_free(struct comp_waiver *w, size_t n);

/* Whether W changes the appliance's assessment at NOW: approved, not
 * expired, scoped to the appliance. A waiver only requested never does. */
bool comp_waiver_in_force(const struct comp_waiver *w, time_t now);

/* Amends assessment-results document AR (comp_oscal_assessment_results)
 * with the N waivers at W in force at NOW: each not-satisfied finding
 * whose control, or every failing check of which, a waiver names links
 * (related-risks) a risk "deviation-approved" carrying the waiver's
 * justification, requester, approver and expiry (props, risk-log,
 * characterizations); requester and approver become parties of the
 * metadata. *ret_waived receives how many findings were covered. Returns
 * 0 or -ENOMEM. */
int comp_waivers_apply_ar(json_t *ar, const struct comp_waiver *w, size_t n,
    time_t now, size_t *ret_waived);

/* Amends POA&M document POAM (comp_oscal_poam): each risk gets a planned
 * remediation with its milestones (remediated by the risk's deadline;
 * the waiver's expiry when one names the item's check or controls), and
 * an item a waiver names carries the deviation request: props
 * "deviation-request" and "deviation-status", and its risk the status
 * "deviation-requested" or, approved and in force, "deviation-approved",
 * with a risk-log of the request, approval and expiry. Returns 0 or
 * -ENOMEM. */
int comp_waivers_apply_poam(json_t *poam, const struct comp_waiver *w,
    size_t n, time_t now);

#endif

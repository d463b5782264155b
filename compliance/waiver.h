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
	time_t		 requested;	/* requested_at */
};

/* The longest a waiver may run, from its request to its expiry
 * (docs/compliance.md, "Waivers"): a risk is accepted for a while, then
 * looked at again, never for good. */
#define COMP_WAIVER_MAX_DAYS	365
#define COMP_WAIVER_MAX_S	((time_t)COMP_WAIVER_MAX_DAYS * 86400)

/* Back-off of the expiry timer after an expiry record failed: the first
 * wait, and the longest. */
#define COMP_WAIVER_RETRY_MIN_S	1
#define COMP_WAIVER_RETRY_MAX_S	60

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

/* Whether a waiver requested at REQUESTED may run until EXPIRES (at most
 * COMP_WAIVER_MAX_S). */
bool comp_waiver_lifetime_ok(time_t requested, time_t expires);

/* The expiry timer's back-off after a failed expiry record that follows
 * a back-off of PREV seconds (0: the last record did not fail): 1 s,
 * doubling, at most COMP_WAIVER_RETRY_MAX_S. */
unsigned comp_waiver_backoff(unsigned prev);

/* Seconds until the expiry timer should look again at NOW: at the
 * earliest expiry NEXT not recorded yet (0: none; at once when past),
 * at most RECHECK, but not before RETRY_AT (0: no failed record to back
 * off from), so an expiry that cannot be recorded is not tried again in
 * a loop. Pure, for the timer of daemon/waiver-api.c. */
long comp_waiver_timer_delay(time_t next, time_t now, time_t retry_at,
    long recheck);

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

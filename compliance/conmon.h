/* The monthly continuous-monitoring (ConMon) package's own documents,
 * built from what the appliance recorded: the scans of the month (as
 * bulwarkd stores them under /x/compliance/scans/), the POA&M changes
 * between them, and an inventory of nodes, images and principals. The
 * package itself is an evidence bundle (compliance/evidence.h) with
 * these as extra files; docs/compliance.md describes it. */
#ifndef BW_COMPLIANCE_CONMON_H
#define BW_COMPLIANCE_CONMON_H

#include <stddef.h>
#include <time.h>

#include <jansson.h>

#define CONMON_PACKAGE		"conmon"
#define CONMON_SUMMARY		"conmon/scan-summary.json"
#define CONMON_CHANGES		"conmon/poam-changes.json"
#define CONMON_INVENTORY	"conmon/inventory.json"
#define CONMON_ATTESTATION	"conmon/audit-attestation.json"

/* Parses MONTH ("2026-12") into its first second and its last second
 * (UTC). Returns 0, or -BW_E_INVALID with *ret_err. */
int conmon_month_parse(const char *month, time_t *ret_since,
    time_t *ret_until, char **ret_err);

/* The scan summary of MONTH: one entry per scan record of SCANS (N
 * stored scan documents in time order: {"time", "baseline", "checks",
 * "summary": {"total": {...}}, "results": [{"check", "verdict", ...}]}),
 * with its per-control counts and its not-satisfied checks, and totals.
 * *ret (caller owns). Returns 0 or -ENOMEM. */
int conmon_scan_summary(const char *month, json_t *const *scans, size_t n,
    json_t **ret);

/* The POA&M changes during the month: for each baseline, the checks that
 * turned not-satisfied (an item opened) or satisfied again (closed)
 * from one scan to the next, starting from PRIOR[b] (the last scan of
 * that baseline before the month, or none), and the items open at the
 * month's end. PRIOR holds NPRIOR documents in any order. *ret (caller
 * owns). Returns 0 or -ENOMEM. */
int conmon_poam_changes(const char *month, json_t *const *scans, size_t n,
    json_t *const *prior, size_t nprior, json_t **ret);

/* The inventory: NODES, IMAGES and PRINCIPALS (arrays of stored
 * objects) reduced to what an assessor lists (names, states, digests,
 * roles; no keys or credentials). *ret (caller owns). Returns 0 or
 * -ENOMEM. */
int conmon_inventory(const json_t *nodes, const json_t *images,
    const json_t *principals, time_t now, json_t **ret);

/* The audit attestation's "trail-verified-at-export" block from a
 * verification of the whole trail that returned R with report REP:
 * intact, damage, counts, range and head; when the verifier could not
 * run (R < 0), "intact": false and the error, so that the package says
 * so rather than leaving the block out. New reference, NULL on
 * allocation failure. */
struct audit_verify_report;
json_t *conmon_trail_verified(int r, const struct audit_verify_report *rep);

#endif

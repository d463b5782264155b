/* The OSCAL 1.1 assessment plan of the automated assessment: what the
 * scan tests (each registered check, as an activity with the controls
 * it covers), how (TEST or EXAMINE per check), how often (one task with
 * a cadence) and with what (the compliance engine, a component of the
 * SSP). Every UUID is name-based, so the plan is the same document each
 * time it is built from the same registry, and the assessment results
 * of any scan can point at its task and platform. */
#ifndef BW_COMPLIANCE_OSCAL_PLAN_H
#define BW_COMPLIANCE_OSCAL_PLAN_H

#include <jansson.h>

#include "compliance/catalog.h"
#include "compliance/check.h"

/* File name of the plan in docs/ssp/ and in evidence bundles; the
 * assessment results import it under this name. */
#define COMP_AP_JSON_NAME	"assessment-plan.json"
/* The SSP components (docs/ssp/narratives/system.md) the plan names:
 * the system the checks assess, and the one that runs them. */
#define COMP_AP_SUBJECT		"appliance"
#define COMP_AP_TOOL		"compliance-engine"

struct comp_ap_opts {
	const char	*system_name;	/* "Bulwark appliance"; NULL: that */
	const char	*last_modified;	/* RFC 3339; NULL: now */
	const char	*import_ssp;	/* SSP href; COMP_SSP_JSON_NAME when NULL */
	long		 cadence_s;	/* 0: COMP_CADENCE_DEFAULT_S (3 days) */
};

/* "TEST" when CHECK exercises a mechanism while it runs (probes, known-
 * answer tests, digest and signature verification), else "EXAMINE" (it
 * reads configuration and state). Static strings. */
const char *comp_check_method(const struct comp_check *check);

/* Builds the assessment plan for the checks covering at least one
 * control of BASE (all checks when BASE is NULL; the checks a scan of
 * BASE runs) into *ret (caller owns). It validates against the OSCAL
 * 1.1.3 assessment-plan schema. Returns 0, -ENOMEM or -BW_E_CRYPTO. */
int comp_ap_build(const struct comp_baseline *base,
    const struct comp_ap_opts *opts, json_t **ret);

/* The origins of an observation made by the plan's scan task on its
 * assessment platform, for assessment results that import the plan:
 * a new array (caller owns), or NULL when out of memory. */
json_t *comp_ap_origins(void);

#endif

/* The assessment plan of the automated assessment, from the check
 * registry and a baseline. Nothing here reads the live system: the plan
 * states what a scan does; the assessment results state what it found. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/err.h"
#include "lib/ids.h"
#include "lib/json.h"
#include "lib/macro.h"
#include "compliance/oscal.h"
#include "compliance/oscal-plan.h"
#include "compliance/ssp.h"

/* Checks that exercise a mechanism while they run: the scan makes the
 * system compute or refuse something and observes the outcome. The
 * others read configuration and state (EXAMINE). test-oscal checks
 * that every id here is registered. */
static const char *const ap_test_checks[] = {
	"au-protection",	/* verifies the audit hash chain */
	"cm-config-baseline",	/* recomputes the baseline digests */
	"ia-pki-certs",		/* verifies the certificate chains */
	"si-binary-integrity",	/* recomputes the integrity manifest */
	"si-crypto-selftest",	/* known-answer tests */
	"si-input-validation",	/* submits malformed documents */
};

/* Names of the plan's objects; their UUIDs are comp_ssp_uuid() of
 * these, so results built at any time can name them. */
#define AP_TASK_NAME		"ap task automated-scan"
#define AP_PLATFORM_NAME	"ap platform compliance-engine"
#define AP_PARTY_NAME		"ap party security-auditor"
#define AP_ROLE			"assessor"

const char *
comp_check_method(const struct comp_check *check)
{
	for (size_t i = 0; i < ELEMENTSOF(ap_test_checks); i++)
		if (strcmp(check->id, ap_test_checks[i]) == 0)
			return "TEST";
	return "EXAMINE";
}

static int
ap_push(json_t *a, json_t *v)
{
	if (!v || json_array_append_new(a, v) < 0)
		return -ENOMEM;
	return 0;
}

json_t *
comp_ap_origins(void)
{
	char task[37], plat[37];

	if (comp_ssp_uuidf(task, AP_TASK_NAME) < 0 ||
	    comp_ssp_uuidf(plat, AP_PLATFORM_NAME) < 0)
		return NULL;
	return json_pack("[{s:[{s:s, s:s}], s:[{s:s}]}]", "actors", "type",
	    "assessment-platform", "actor-uuid", plat, "related-tasks",
	    "task-uuid", task);
}

/* Whether the scan of BASE runs CHECK: it covers a control of BASE. */
static bool
ap_in_scan(const struct comp_check *check, const struct comp_baseline *base)
{
	for (size_t j = 0; check->controls[j]; j++)
		if (!base || comp_baseline_contains(base, check->controls[j]))
			return true;
	return false;
}

/* Appends the control ids of CHECK (in BASE) to SEL not yet in SEEN. */
static int
ap_controls(const struct comp_check *check, const struct comp_baseline *base,
    json_t *sel, json_t *seen)
{
	for (size_t j = 0; check->controls[j]; j++) {
		const char *id = check->controls[j];

		if ((base && !comp_baseline_contains(base, id)) ||
		    (seen && json_object_get(seen, id)))
			continue;
		if (ap_push(sel, json_pack("{s:s}", "control-id", id)) < 0 ||
		    (seen && json_object_set_new(seen, id, json_true()) < 0))
			return -ENOMEM;
	}
	return 0;
}

/* The activity of CHECK, and its entry in the task. */
static int
ap_activity(const struct comp_check *check, const struct comp_baseline *base,
    json_t *activities, json_t *assoc)
{
	_cleanup_free_ char	*step = NULL;
	char			 uuid[37], suuid[37];
	json_t			*sel, *a;
	int			 r;

	if ((r = comp_ssp_uuidf(uuid, "ap activity %s", check->id)) < 0 ||
	    (r = comp_ssp_uuidf(suuid, "ap step %s", check->id)) < 0)
		return r;
	if (asprintf(&step, "Run the registered check %s (bulwark compliance "
	    "scan) and record one observation with the files and facts it "
	    "read; the requirement: %s.", check->id, check->description) < 0) {
		step = NULL;
		return -ENOMEM;
	}
	if (!(sel = json_array()) || (r = ap_controls(check, base, sel,
	    NULL)) < 0) {
		json_decref(sel);
		return -ENOMEM;
	}
	/* OSCAL names the method in a prop of its own namespace. */
	a = json_pack("{s:s, s:s, s:s, s:[{s:s, s:s}, {s:s, s:s, s:s}], "
	    "s:[{s:s, s:s}], s:{s:[{s:o}]}, s:[{s:s}]}", "uuid", uuid, "title",
	    check->title, "description", check->description, "props", "name",
	    "method", "value", comp_check_method(check), "name", "check-id", "ns",
	    COMP_OSCAL_NS, "value", check->id, "steps", "uuid", suuid,
	    "description", step, "related-controls", "control-selections",
	    "include-controls", sel, "responsible-roles", "role-id", AP_ROLE);
	if (ap_push(activities, a) < 0 ||
	    ap_push(assoc, json_pack("{s:s, s:[{s:s, s:{}}]}", "activity-uuid",
	    uuid, "subjects", "type", "component", "include-all")) < 0)
		return -ENOMEM;
	return 0;
}

/* Metadata with the assessor role and its party. */
static json_t *
ap_metadata(const struct comp_baseline *base, const struct comp_ap_opts *o,
    const char *party)
{
	_cleanup_free_ char	*title = NULL;
	char			 now[64];

	if (!o->last_modified) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		bw_time_rfc3339_ms(now, sizeof(now), &ts);
	}
	if (asprintf(&title, "Bulwark automated assessment plan%s%s",
	    base ? ": " : "", base ? comp_baseline_title(base) : "") < 0) {
		title = NULL;
		return NULL;
	}
	return json_pack("{s:s, s:s, s:s, s:s, s:[{s:s, s:s}], "
	    "s:[{s:s, s:s, s:s}], s:[{s:s, s:[s]}]}", "title", title,
	    "last-modified", o->last_modified ? o->last_modified : now,
	    "version", "1.0", "oscal-version", COMP_OSCAL_VERSION, "roles", "id",
	    AP_ROLE, "title", "Assessor (the appliance's security-auditor role, "
	    "who reviews the results)", "parties", "uuid", party, "type",
	    "organization", "name", "Security auditors of the operating "
	    "organization", "responsible-parties", "role-id", AP_ROLE,
	    "party-uuids", party);
}

/* The task that runs every activity of ASSOC (taken; NULL: none) at
 * least every CADENCE_S seconds, in the largest whole unit. */
static json_t *
ap_task(const struct comp_ap_opts *o, long cadence_s, const char *party,
    const char *subject, json_t *assoc)
{
	static const struct {
		const char	*unit;
		long		 s;
	} units[] = { { "days", 86400 }, { "hours", 3600 }, { "minutes", 60 },
		{ "seconds", 1 } };
	_cleanup_free_ char	*desc = NULL;
	char			 uuid[37];
	size_t			 u = 0;

	while (cadence_s % units[u].s != 0)
		u++;
	if (comp_ssp_uuidf(uuid, AP_TASK_NAME) < 0 ||
	    asprintf(&desc, "bulwarkd runs every registered check of the "
	    "baseline against %s at least every %ld %s (and on demand: "
	    "bulwark compliance scan); each scan is recorded in the audit "
	    "trail and yields assessment results that import this plan.",
	    o->system_name ? o->system_name : "Bulwark appliance",
	    cadence_s / units[u].s, units[u].unit) < 0) {
		desc = NULL;
		json_decref(assoc);
		return NULL;
	}
	return json_pack("{s:s, s:s, s:s, s:s, s:{s:{s:I, s:s}}, s:o*, "
	    "s:[{s:s, s:[{s:s, s:s}]}], s:[{s:s, s:[s]}]}", "uuid", uuid, "type",
	    "action", "title", "Automated compliance scan", "description", desc,
	    "timing", "at-frequency", "period", (json_int_t)(cadence_s /
	    units[u].s), "unit", units[u].unit,
	    "associated-activities", assoc, "subjects", "type", "component",
	    "include-subjects", "subject-uuid", subject, "type", "component",
	    "responsible-roles", "role-id", AP_ROLE, "party-uuids", party);
}

int
comp_ap_build(const struct comp_baseline *base,
    const struct comp_ap_opts *opts, json_t **ret)
{
	static const struct comp_ap_opts none = { 0 };
	const struct comp_ap_opts *o = opts ? opts : &none;
	_cleanup_json_ json_t	*doc = NULL, *seen = NULL;
	json_t			*ap, *activities, *assoc, *sel, *meta, *task;
	const struct comp_check	*checks;
	char			 uuid[37], party[37], subject[37], tool[37], plat[37];
	size_t			 n;
	long			 cadence_s = o->cadence_s > 0 ? o->cadence_s :
				    COMP_CADENCE_DEFAULT_S;
	int			 r;

	if ((r = comp_ssp_uuidf(uuid, "assessment-plan %s", base ?
	    comp_baseline_title(base) : "all checks")) < 0 ||
	    (r = comp_ssp_uuidf(party, AP_PARTY_NAME)) < 0 ||
	    (r = comp_ssp_uuidf(plat, AP_PLATFORM_NAME)) < 0 ||
	    (r = comp_ssp_uuidf(subject, "component %s", COMP_AP_SUBJECT)) < 0 ||
	    (r = comp_ssp_uuidf(tool, "component %s", COMP_AP_TOOL)) < 0)
		return r;
	if (!(meta = ap_metadata(base, o, party)))
		return -ENOMEM;
	doc = json_pack("{s:{s:s, s:o, s:{s:s}, s:{s:[]}, s:{s:[{s:[]}]}}}",
	    "assessment-plan", "uuid", uuid, "metadata", meta, "import-ssp",
	    "href", o->import_ssp ? o->import_ssp : COMP_SSP_JSON_NAME,
	    "local-definitions", "activities", "reviewed-controls",
	    "control-selections", "include-controls");
	seen = json_object();
	assoc = json_array();
	if (!doc || !seen || !assoc) {
		json_decref(assoc);
		return -ENOMEM;
	}
	ap = json_object_get(doc, "assessment-plan");
	activities = json_object_get(json_object_get(ap, "local-definitions"),
	    "activities");
	sel = json_object_get(json_array_get(json_object_get(json_object_get(ap,
	    "reviewed-controls"), "control-selections"), 0), "include-controls");
	checks = comp_checks(&n);
	for (size_t i = 0; i < n; i++) {
		if (!ap_in_scan(&checks[i], base))
			continue;
		if ((r = ap_activity(&checks[i], base, activities, assoc)) < 0 ||
		    (r = ap_controls(&checks[i], base, sel, seen)) < 0) {
			json_decref(assoc);
			return r;
		}
	}
	if (json_array_size(activities) == 0) {
		/* No check covers a control of BASE: the plan says so (OSCAL
		 * lists hold at least one item). */
		json_decref(assoc);
		assoc = NULL;
		json_object_del(ap, "local-definitions");
		if (json_object_set_new(json_object_get(ap, "reviewed-controls"),
		    "control-selections", json_pack("[{s:s}]", "description",
		    "No automated check covers a control of the baseline.")) < 0)
			return -ENOMEM;
	}
	if (!(task = ap_task(o, cadence_s, party, subject, assoc)) ||
	    json_object_set_new(ap, "assessment-subjects", json_pack("[{s:s, "
	    "s:s, s:[{s:s, s:s}]}]", "type", "component", "description",
	    "The appliance as a whole: the host and the appliance software the "
	    "checks read through its root directory and facts.",
	    "include-subjects", "subject-uuid", subject, "type", "component")) < 0 ||
	    json_object_set_new(ap, "assessment-assets", json_pack("{s:[{s:s, "
	    "s:s, s:[{s:s}]}]}", "assessment-platforms", "uuid", plat, "title",
	    "Bulwark compliance engine (bulwarkd)", "uses-components",
	    "component-uuid", tool)) < 0 ||
	    json_object_set_new(ap, "tasks", json_pack("[o]", task)) < 0)
		return -ENOMEM;
	*ret = TAKE_PTR(doc);
	return 0;
}

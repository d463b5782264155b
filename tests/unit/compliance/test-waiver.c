/* Waivers in the OSCAL documents of a fixture scan (compliance/waiver.c):
 * which findings an approved waiver covers, that requested, expired or
 * node-scoped ones change nothing, and the POA&M's deviation requests
 * and milestones. The fixture world fails ac-faillock (ac-7) and ia-fips
 * (ia-7, sc-13). When BW_OSCAL_OUT names a directory the documents are
 * written there too, for tests/integration/compliance-oscal.sh to
 * validate against the OSCAL schemas. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "compliance/catalog.h"
#include "compliance/check.h"
#include "compliance/oscal.h"
#include "compliance/waiver.h"
#include "lib/err.h"
#include "lib/ids.h"
#include "lib/json.h"
#include "tests/unit/compliance/fixture.h"

#define NOW	((time_t)1800000000)	/* 2027-01-15 */

/* What every test shares: the catalog, the Moderate baseline, and the
 * documents of one scan of the broken fixture world. */
struct docs {
	struct comp_catalog	*cat;
	struct comp_baseline	*base;
	struct comp_scan	*scan;
	struct world		 w;
};

static int
load_docs(void **state)
{
	static struct docs d;
	const char *top = getenv("top_srcdir");
	char path[4096], *err = NULL;
	struct comp_ctx ctx;

	snprintf(path, sizeof(path), "%s/compliance/data/%s", top ? top : "..",
	    COMP_CATALOG_FILE);
	assert_int_equal(comp_catalog_load(path, &d.cat, &err), 0);
	snprintf(path, sizeof(path), "%s/compliance/data/%s", top ? top : "..",
	    COMP_BASELINE_MODERATE);
	assert_int_equal(comp_baseline_load(path, d.cat, &d.base, &err), 0);
	world_build(&d.w);
	world_put(&d.w, "etc/security/faillock.conf", "deny = 9\n", 0644);
	d.w.facts.fips_provider = COMP_NO;
	assert_int_equal(comp_ctx_open(&ctx, d.w.root, &d.w.facts,
	    &d.w.policy, d.w.now), 0);
	assert_int_equal(comp_scan_run(&ctx, d.base, &d.scan), 0);
	comp_ctx_done(&ctx);
	*state = &d;
	return 0;
}

static int
free_docs(void **state)
{
	struct docs *d = *state;

	comp_scan_free(d->scan);
	world_destroy(&d->w);
	comp_baseline_free(d->base);
	comp_catalog_free(d->cat);
	return 0;
}

/* A stored Waiver: ON is "control" or "check"; APPROVER NULL: only
 * requested; EXPIRES relative to NOW. */
static void
waiver(struct comp_waiver *ret, const char *name, const char *on,
    const char *id, const char *approver, long expires, const char *scope)
{
	char	 exp[40];
	json_t	*doc;

	bw_time_rfc3339_at(exp, sizeof(exp), NOW + expires);
	doc = json_pack("{s:s, s:{s:s}, s:{s:s, s:s, s:s, s:s}, "
	    "s:{s:s, s:s, s:s}}", "kind", "Waiver", "metadata", "name", name,
	    "spec", on, id, "justification", "Compensating control in place.",
	    "expires", exp, "scope", scope, "status", "state", approver ?
	    "approved" : "requested", "requested_by", "admin",
	    "requested_at", "2027-01-01T00:00:00Z");
	assert_non_null(doc);
	if (approver) {
		json_object_set_new(json_object_get(doc, "status"),
		    "approved_by", json_string(approver));
		json_object_set_new(json_object_get(doc, "status"),
		    "approved_at", json_string("2027-01-02T00:00:00Z"));
	}
	assert_int_equal(comp_waiver_parse(doc, ret, NULL), 0);
	json_decref(doc);
}

static json_t *
poam_of(struct docs *d)
{
	json_t *doc = NULL;

	assert_int_equal(comp_oscal_poam(d->scan, d->cat, d->base, NULL,
	    &doc, NULL), 0);
	return doc;
}

static json_t *
ar_of(struct docs *d)
{
	json_t *doc = NULL;

	assert_int_equal(comp_oscal_assessment_results(d->scan, d->cat,
	    d->base, NULL, &doc, NULL), 0);
	return doc;
}

/* The statuses of the risks finding CONTROL links, space-separated
 * ("" when none), into BUF. */
static const char *
risks_of(json_t *ar, const char *control, char *buf, size_t len)
{
	json_t	*res = json_array_get(json_object_get(json_object_get(ar,
	    "assessment-results"), "results"), 0), *f, *ref, *risk;
	char	 target[40];
	size_t	 i, j, k;

	buf[0] = '\0';
	snprintf(target, sizeof(target), "%s_smt", control);
	json_array_foreach(json_object_get(res, "findings"), i, f) {
		if (strcmp(json_str_at(f, "target", "target-id"), target) != 0)
			continue;
		json_array_foreach(json_object_get(f, "related-risks"), j, ref)
			json_array_foreach(json_object_get(res, "risks"), k, risk)
				if (strcmp(json_string_value(json_object_get(risk,
				    "uuid")), json_string_value(json_object_get(
				    ref, "risk-uuid"))) == 0)
					snprintf(buf + strlen(buf), len -
					    strlen(buf), "%s%s", buf[0] ? " " :
					    "", json_string_value(
					    json_object_get(risk, "status")));
	}
	return buf;
}

static void
test_parse(void **state)
{
	struct comp_waiver	 w;
	char			*err = NULL;
	json_t			*doc;

	doc = json_pack("{s:{s:s}, s:{s:s, s:s, s:s, s:s}, s:{s:s, s:s}}",
	    "metadata", "name", "w", "spec", "control", "ac-7", "check",
	    "ac-faillock", "justification", "j", "expires", "2027-01-31",
	    "status", "requested_by", "admin", "requested_at",
	    "2027-01-01T00:00:00Z");
	assert_int_equal(comp_waiver_parse(doc, &w, &err), -BW_E_INVALID);
	assert_non_null(strstr(err, "one of control and check"));
	free(err);
	err = NULL;
	json_object_del(json_object_get(doc, "spec"), "check");
	json_object_set_new(json_object_get(doc, "status"), "approved_by",
	    json_string("auditor"));
	assert_int_equal(comp_waiver_parse(doc, &w, &err), -BW_E_INVALID);
	assert_non_null(strstr(err, "needs both approver and time"));
	free(err);
	err = NULL;
	json_object_set_new(json_object_get(doc, "status"), "approved_at",
	    json_string("2027-01-02T00:00:00Z"));
	assert_int_equal(comp_waiver_parse(doc, &w, &err), 0);
	assert_string_equal(w.control, "ac-7");
	assert_true(comp_waiver_in_force(&w, w.expires - 1));
	assert_false(comp_waiver_in_force(&w, w.expires));
	comp_waiver_done(&w);
	json_decref(doc);
}

/* A waiver runs at most COMP_WAIVER_MAX_DAYS from its request: one set
 * further (written past the endpoints, or before the limit) hides
 * nothing, even approved and before its expiry. */
static void
test_lifetime(void **state)
{
	struct comp_waiver	 w;
	char			*err = NULL;
	time_t			 req;
	json_t			*doc;

	(void)state;
	doc = json_pack("{s:{s:s}, s:{s:s, s:s, s:s}, s:{s:s, s:s, s:s, "
	    "s:s}}", "metadata", "name", "w", "spec", "control", "ac-7",
	    "justification", "j", "expires", "9999-12-31T00:00:00Z", "status",
	    "requested_by", "admin", "requested_at", "2027-01-01T00:00:00Z",
	    "approved_by", "auditor", "approved_at", "2027-01-02T00:00:00Z");
	assert_int_equal(comp_waiver_parse(doc, &w, &err), 0);
	assert_false(comp_waiver_in_force(&w, NOW));
	comp_waiver_done(&w);
	assert_int_equal(bw_time_parse("2027-01-01T00:00:00Z", &req), 0);
	assert_true(comp_waiver_lifetime_ok(req, req + COMP_WAIVER_MAX_S));
	assert_false(comp_waiver_lifetime_ok(req, req + COMP_WAIVER_MAX_S +
	    1));
	json_object_set_new(json_object_get(doc, "spec"), "expires",
	    json_string("2027-12-31T00:00:00Z"));	/* 364 days */
	assert_int_equal(comp_waiver_parse(doc, &w, &err), 0);
	assert_true(comp_waiver_in_force(&w, NOW));
	comp_waiver_done(&w);
	json_object_set_new(json_object_get(doc, "status"), "requested_at",
	    json_string("soon"));
	assert_int_equal(comp_waiver_parse(doc, &w, &err), -BW_E_INVALID);
	assert_non_null(strstr(err, "requested_at"));
	free(err);
	json_decref(doc);
}

/* The expiry timer: at once for an expiry past, never at once again
 * after a failed record: 1 s doubling to 60 s until a record is made. */
static void
test_timer_backoff(void **state)
{
	unsigned	b = 0, seen[8];
	size_t		i;

	(void)state;
	for (i = 0; i < 8; i++)
		seen[i] = b = comp_waiver_backoff(b);
	assert_int_equal(seen[0], 1);
	assert_int_equal(seen[1], 2);
	assert_int_equal(seen[5], 32);
	assert_int_equal(seen[6], 60);
	assert_int_equal(seen[7], 60);
	/* no waiver: the recheck; one to come: its time; one past: now */
	assert_int_equal(comp_waiver_timer_delay(0, NOW, 0, 3600), 3600);
	assert_int_equal(comp_waiver_timer_delay(NOW + 5, NOW, 0, 3600), 5);
	assert_int_equal(comp_waiver_timer_delay(NOW + 9999, NOW, 0, 3600),
	    3600);
	assert_int_equal(comp_waiver_timer_delay(NOW - 5, NOW, 0, 3600), 0);
	/* one past whose record failed: not before the back-off */
	assert_int_equal(comp_waiver_timer_delay(NOW - 5, NOW, NOW + 8, 3600),
	    8);
	assert_int_equal(comp_waiver_timer_delay(NOW - 5, NOW + 8, NOW + 8,
	    3600), 0);
	assert_int_equal(comp_waiver_timer_delay(NOW + 20, NOW, NOW + 8,
	    3600), 20);
}

/* Only an approved waiver in force on the appliance changes a finding. */
static void
test_ar_only_approved_in_force(void **state)
{
	struct docs		*d = *state;
	struct comp_waiver	*w = calloc(4, sizeof(*w));
	json_t			*ar = ar_of(d);
	char			 buf[128];
	size_t			 waived = 99;

	waiver(&w[0], "requested", "control", "sc-13", NULL, 3600,
	    "appliance");
	waiver(&w[1], "expired", "control", "ia-7", "auditor", -1,
	    "appliance");
	waiver(&w[2], "elsewhere", "check", "ia-fips", "auditor", 3600,
	    "node/n1");
	waiver(&w[3], "lockout", "check", "ac-faillock", "auditor", 3600,
	    "appliance");
	assert_int_equal(comp_waivers_apply_ar(ar, w, 4, NOW, &waived), 0);
	assert_int_equal(waived, 1);
	assert_string_equal(risks_of(ar, "ac-7", buf, sizeof(buf)),
	    "deviation-approved");
	assert_string_equal(risks_of(ar, "sc-13", buf, sizeof(buf)), "");
	assert_string_equal(risks_of(ar, "ia-7", buf, sizeof(buf)), "");
	assert_string_equal(risks_of(ar, "ac-2", buf, sizeof(buf)), "");
	world_oscal_out(ar, "ar-waived.json");
	json_decref(ar);
	comp_waivers_free(w, 4);
}

/* A control waiver covers its control alone; a check waiver every
 * control that check alone fails, with one risk for them all. */
static void
test_ar_control_and_check(void **state)
{
	struct docs		*d = *state;
	struct comp_waiver	*w = calloc(1, sizeof(*w));
	json_t			*ar = ar_of(d), *res;
	char			 buf[128];
	size_t			 waived = 0;

	waiver(&w[0], "sc13", "control", "sc-13", "auditor", 60, "appliance");
	assert_int_equal(comp_waivers_apply_ar(ar, w, 1, NOW, &waived), 0);
	assert_int_equal(waived, 1);
	assert_string_equal(risks_of(ar, "sc-13", buf, sizeof(buf)),
	    "deviation-approved");
	assert_string_equal(risks_of(ar, "ia-7", buf, sizeof(buf)), "");
	json_decref(ar);
	comp_waivers_free(w, 1);

	w = calloc(1, sizeof(*w));
	ar = ar_of(d);
	waiver(&w[0], "fips", "check", "ia-fips", "auditor", 60, "appliance");
	assert_int_equal(comp_waivers_apply_ar(ar, w, 1, NOW, &waived), 0);
	assert_int_equal(waived, 2);
	assert_string_equal(risks_of(ar, "sc-13", buf, sizeof(buf)),
	    "deviation-approved");
	assert_string_equal(risks_of(ar, "ia-7", buf, sizeof(buf)),
	    "deviation-approved");
	res = json_array_get(json_object_get(json_object_get(ar,
	    "assessment-results"), "results"), 0);
	assert_int_equal(json_array_size(json_object_get(res, "risks")), 1);
	/* requester and approver are parties of the metadata */
	assert_int_equal(json_array_size(json_object_get(json_object_get(
	    json_object_get(ar, "assessment-results"), "metadata"),
	    "parties")), 2);
	json_decref(ar);
	comp_waivers_free(w, 1);
}

/* The value of the item's prop NAME for check CHECK in POAM. */
static const char *
item_prop(json_t *poam, const char *check, const char *name)
{
	json_t		*item, *p;
	size_t		 i, j;
	const char	*found = NULL, *v = NULL;

	json_array_foreach(json_object_get(json_object_get(poam,
	    "plan-of-action-and-milestones"), "poam-items"), i, item) {
		found = v = NULL;
		json_array_foreach(json_object_get(item, "props"), j, p) {
			const char *n = json_str_at(p, "name", NULL);
			const char *value = json_str_at(p, "value", NULL);

			if (!strcmp(n, "check-id") && !strcmp(value, check))
				found = check;
			if (!strcmp(n, name))
				v = value;
		}
		if (found)
			return v;
	}
	return NULL;
}

static void
test_poam(void **state)
{
	struct docs		*d = *state;
	struct comp_waiver	*w = calloc(2, sizeof(*w));
	json_t			*poam, *risk;
	size_t			 i, statuses = 0;

	poam = poam_of(d);
	waiver(&w[0], "lockout", "check", "ac-faillock", "auditor", 3600,
	    "appliance");
	waiver(&w[1], "fips", "control", "sc-13", NULL, 3600, "appliance");
	assert_int_equal(comp_waivers_apply_poam(poam, w, 2, NOW), 0);
	assert_string_equal(item_prop(poam, "ac-faillock",
	    "deviation-status"), "approved");
	assert_string_equal(item_prop(poam, "ac-faillock",
	    "deviation-request"), "lockout");
	assert_string_equal(item_prop(poam, "ia-fips", "deviation-status"),
	    "requested");
	json_array_foreach(json_object_get(json_object_get(poam,
	    "plan-of-action-and-milestones"), "risks"), i, risk) {
		json_t *tasks = json_object_get(json_array_get(json_object_get(
		    risk, "remediations"), 0), "tasks");

		assert_true(json_array_size(tasks) >= 2);
		const char *st = json_str_at(risk, "status", NULL);

		assert_string_equal(json_str_at(json_array_get(tasks, 0),
		    "type", NULL), "milestone");
		/* one approved (10), one requested (1), nothing else */
		statuses += !strcmp(st, "deviation-approved") ? 10 :
		    !strcmp(st, "deviation-requested") ? 1 : 100;
	}
	assert_int_equal(statuses, 11);
	world_oscal_out(poam, "poam-waived.json");
	json_decref(poam);
	comp_waivers_free(w, 2);
}

/* Of two waivers naming a check, the one still to expire speaks for the
 * item; an expired one alone leaves the risk open and logs its end. */
static void
test_poam_live_before_expired(void **state)
{
	struct docs		*d = *state;
	struct comp_waiver	*w = calloc(2, sizeof(*w));
	json_t			*poam;

	poam = poam_of(d);
	waiver(&w[0], "a-old", "check", "ac-faillock", "auditor", -60,
	    "appliance");
	waiver(&w[1], "b-new", "check", "ac-faillock", NULL, 3600,
	    "appliance");
	assert_int_equal(comp_waivers_apply_poam(poam, w, 2, NOW), 0);
	assert_string_equal(item_prop(poam, "ac-faillock",
	    "deviation-request"), "b-new");
	assert_string_equal(item_prop(poam, "ac-faillock",
	    "deviation-status"), "requested");
	json_decref(poam);
	poam = poam_of(d);
	assert_int_equal(comp_waivers_apply_poam(poam, w, 1, NOW), 0);
	assert_string_equal(item_prop(poam, "ac-faillock",
	    "deviation-status"), "expired");
	json_decref(poam);
	comp_waivers_free(w, 2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_ar_only_approved_in_force),
		cmocka_unit_test(test_ar_control_and_check),
		cmocka_unit_test(test_poam),
		cmocka_unit_test(test_poam_live_before_expired),
		cmocka_unit_test(test_lifetime),
		cmocka_unit_test(test_timer_backoff),
	};

	return cmocka_run_group_tests(tests, load_docs, free_docs);
}

/* OSCAL documents from fixture scans: structure, uuids, control
 * citations. When BW_OSCAL_OUT names a directory the documents are also
 * written there for schema validation by
 * tests/integration/compliance-oscal.sh. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "lib/err.h"
#include "compliance/catalog.h"
#include "compliance/check.h"
#include "compliance/oscal.h"
#include "compliance/oscal-plan.h"
#include "lib/ids.h"
#include "lib/json.h"
#include "tests/unit/compliance/fixture.h"

static struct comp_catalog *cat;
static struct comp_baseline *moderate;

static int
setup(void **state)
{
	const char *top = getenv("top_srcdir");
	char *p, *err = NULL;
	int r;

	assert_true(asprintf(&p, "%s/compliance/data/%s", top ? top : "..",
	    COMP_CATALOG_FILE) > 0);
	r = comp_catalog_load(p, &cat, &err);
	free(p);
	if (r < 0)
		return r;
	assert_true(asprintf(&p, "%s/compliance/data/%s", top ? top : "..",
	    COMP_BASELINE_MODERATE) > 0);
	r = comp_baseline_load(p, cat, &moderate, &err);
	free(p);
	free(err);
	return r;
}

static int
teardown(void **state)
{
	comp_baseline_free(moderate);
	comp_catalog_free(cat);
	return 0;
}

static struct comp_scan *
scan_world(struct world *w)
{
	struct comp_scan *scan = NULL;
	struct comp_ctx ctx;

	assert_int_equal(comp_ctx_open(&ctx, w->root, &w->facts, &w->policy,
	    w->now), 0);
	assert_int_equal(comp_scan_run(&ctx, moderate, &scan), 0);
	comp_ctx_done(&ctx);
	return scan;
}

static void
maybe_write(const json_t *doc, const char *name)
{
	world_oscal_out(doc, name);
}

static void
assert_uuid4(const char *s)
{
	regex_t re;

	assert_non_null(s);
	assert_int_equal(regcomp(&re, "^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-"
	    "[89ab][0-9a-f]{3}-[0-9a-f]{12}$", REG_EXTENDED | REG_NOSUB), 0);
	assert_int_equal(regexec(&re, s, 0, NULL, 0), 0);
	regfree(&re);
}

static void
test_uuid(void **state)
{
	char a[37], b[37];
	int i;

	for (i = 0; i < 100; i++) {
		assert_int_equal(bw_uuid_v4(a), 0);
		assert_int_equal(bw_uuid_v4(b), 0);
		assert_uuid4(a);
		assert_string_not_equal(a, b);
	}
}

static void
test_ar_broken_world(void **state)
{
	struct world w;
	struct comp_scan *scan;
	json_t *doc = NULL, *res, *f, *o;
	char *err = NULL;
	size_t i, ns = 0, nns = 0;
	bool saw_ac7 = false, saw_sc13 = false;

	world_build(&w);
	world_put(&w, "etc/security/faillock.conf", "deny = 9\n", 0644);
	w.facts.fips_provider = COMP_NO;
	scan = scan_world(&w);
	assert_int_equal(comp_oscal_assessment_results(scan, cat, moderate,
	    &(struct comp_oscal_opts){ .system_name = "fixture" }, &doc,
	    &err), 0);
	maybe_write(doc, "ar-fixture.json");
	o = json_object_get(doc, "assessment-results");
	assert_uuid4(json_string_value(json_object_get(o, "uuid")));
	assert_string_equal(json_string_value(json_object_get(
	    json_object_get(o, "metadata"), "oscal-version")), "1.1.3");
	res = json_array_get(json_object_get(o, "results"), 0);
	assert_non_null(json_object_get(res, "start"));
	assert_non_null(json_object_get(res, "end"));
	assert_int_equal(json_array_size(json_object_get(res, "observations")),
	    scan->n);
	assert_int_equal(json_array_size(json_object_get(json_array_get(
	    json_object_get(json_object_get(res, "reviewed-controls"),
	    "control-selections"), 0), "include-controls")), 124);
	json_array_foreach(json_object_get(res, "findings"), i, f) {
		json_t *t = json_object_get(f, "target");
		const char *id = json_string_value(json_object_get(t,
		    "target-id"));
		const char *st = json_string_value(json_object_get(
		    json_object_get(t, "status"), "state"));
		char ctl[32];

		snprintf(ctl, sizeof(ctl), "%.*s", (int)(strlen(id) - 4), id);
		assert_non_null(comp_catalog_find(cat, ctl));
		assert_true(comp_baseline_contains(moderate, ctl));
		if (!strcmp(st, "satisfied"))
			ns++;
		else
			nns++;
		if (!strcmp(id, "ac-7_smt")) {
			saw_ac7 = true;
			assert_string_equal(st, "not-satisfied");
		}
		if (!strcmp(id, "sc-13_smt")) {
			saw_sc13 = true;
			assert_string_equal(st, "not-satisfied");
		}
		if (!strcmp(id, "ac-8_smt"))
			assert_string_equal(st, "satisfied");
		assert_true(json_array_size(json_object_get(f,
		    "related-observations")) > 0);
	}
	assert_true(saw_ac7 && saw_sc13);
	assert_int_equal(ns + nns, 124);
	assert_int_equal(nns, 3);	/* ac-7, ia-7, sc-13 */
	json_decref(doc);

	assert_int_equal(comp_oscal_poam(scan, cat, moderate,
	    &(struct comp_oscal_opts){ .system_id =
	    "8101e04d-8305-4e73-bb95-6b59f645b143" }, &doc, &err), 0);
	maybe_write(doc, "poam-fixture.json");
	o = json_object_get(doc, "plan-of-action-and-milestones");
	assert_int_equal(json_array_size(json_object_get(o, "poam-items")), 2);
	assert_int_equal(json_array_size(json_object_get(o, "risks")), 2);
	assert_int_equal(json_array_size(json_object_get(o, "findings")), 3);
	assert_int_equal(json_array_size(json_object_get(o, "observations")),
	    2);
	json_decref(doc);
	comp_scan_free(scan);
	world_destroy(&w);
}

/* Freshness: every finding says when its evidence was collected; past
 * the cadence every observation and finding is marked stale and named,
 * within it none is. */
static void
test_freshness(void **state)
{
	struct world w;
	struct comp_scan *scan;
	json_t *doc = NULL, *res, *f, *p, *stale = NULL;
	char *err = NULL;
	size_t i, j, nobs, nfind;
	time_t t0;

	world_build(&w);
	scan = scan_world(&w);
	t0 = scan->start.tv_sec;
	assert_int_equal(comp_oscal_assessment_results(scan, cat, moderate,
	    &(struct comp_oscal_opts){ .system_name = "fixture" }, &doc,
	    &err), 0);
	res = json_array_get(json_object_get(json_object_get(doc,
	    "assessment-results"), "results"), 0);
	nobs = json_array_size(json_object_get(res, "observations"));
	nfind = json_array_size(json_object_get(res, "findings"));
	json_array_foreach(json_object_get(res, "findings"), i, f) {
		bool has = false;

		json_array_foreach(json_object_get(f, "props"), j, p)
			has |= !strcmp(json_string_value(json_object_get(p,
			    "name")), "collected");
		assert_true(has);
	}
	assert_int_equal(comp_oscal_mark_stale(doc, t0 + 60, 3600, &stale), 0);
	assert_int_equal(json_array_size(stale), 0);
	json_decref(stale);
	json_decref(doc);
	doc = NULL;

	assert_int_equal(comp_oscal_assessment_results(scan, cat, moderate,
	    &(struct comp_oscal_opts){ .system_name = "fixture" }, &doc,
	    &err), 0);
	assert_int_equal(comp_oscal_mark_stale(doc, t0 + 7200, 3600, &stale), 0);
	assert_int_equal(json_array_size(stale), nobs + nfind);
	assert_non_null(strstr(json_string_value(json_array_get(stale, 0)),
	    "(collected "));
	res = json_array_get(json_object_get(json_object_get(doc,
	    "assessment-results"), "results"), 0);
	f = json_array_get(json_object_get(res, "findings"), 0);
	p = json_array_get(json_object_get(f, "props"), 1);
	assert_string_equal(json_string_value(json_object_get(p, "name")),
	    "freshness");
	assert_string_equal(json_string_value(json_object_get(p, "value")),
	    "stale");
	maybe_write(doc, "ar-fixture-stale.json");
	json_decref(stale);
	json_decref(doc);
	comp_scan_free(scan);
	world_destroy(&w);
}

static void
test_poam_nothing_failed(void **state)
{
	struct world w;
	struct comp_scan *scan;
	json_t *doc = NULL;
	char *err = NULL;

	world_build(&w);
	scan = scan_world(&w);
	assert_int_equal(comp_oscal_poam(scan, cat, moderate, NULL, &doc,
	    &err), -BW_E_NOTFOUND);
	assert_null(doc);
	assert_non_null(strstr(err, "nothing to plan"));
	free(err);
	assert_int_equal(comp_oscal_assessment_results(scan, cat, NULL, NULL,
	    &doc, &err), 0);
	maybe_write(doc, "ar-fixture-good.json");
	json_decref(doc);
	comp_scan_free(scan);
	world_destroy(&w);
}

/* The real host: most checks fail here, which exercises large POA&Ms. */
static void
test_real_host(void **state)
{
	struct comp_scan *scan = NULL;
	struct comp_ctx ctx;
	json_t *doc = NULL;
	char *err = NULL;

	assert_int_equal(comp_ctx_open(&ctx, "/", NULL, NULL, 0), 0);
	assert_int_equal(comp_scan_run(&ctx, moderate, &scan), 0);
	comp_ctx_done(&ctx);
	assert_int_equal(comp_oscal_assessment_results(scan, cat, moderate,
	    NULL, &doc, &err), 0);
	maybe_write(doc, "ar-host.json");
	json_decref(doc);
	assert_int_equal(comp_oscal_poam(scan, cat, moderate, NULL, &doc,
	    &err), 0);
	maybe_write(doc, "poam-host.json");
	json_decref(doc);
	comp_scan_free(scan);
}

/* The ids of the include-controls of SEL (a control-selections array),
 * as one JSON object used as a set. */
static json_t *
control_set(const json_t *sel)
{
	json_t *set = json_object(), *c;
	size_t i;

	json_array_foreach(json_object_get(json_array_get(sel, 0),
	    "include-controls"), i, c)
		json_object_set_new(set, json_string_value(json_object_get(c,
		    "control-id")), json_true());
	return set;
}

/* The plan names every check a scan of the baseline runs, with its
 * method, and the same controls the results review; the results import
 * it by name and each observation names its task and platform. */
static void
test_plan(void **state)
{
	static const char *const tests[] = { "au-protection",
		"cm-config-baseline", "ia-pki-certs", "si-binary-integrity",
		"si-crypto-selftest", "si-input-validation" };
	_cleanup_json_ json_t *ap = NULL, *ar = NULL, *again = NULL, *again2 = NULL;
	_cleanup_json_ json_t *plan_set = NULL, *ar_set = NULL;
	struct world w;
	struct comp_scan *scan;
	json_t *root, *task, *a, *obs, *o, *res;
	char *err = NULL;
	size_t i, ntest = 0;

	(void)state;
	for (i = 0; i < ELEMENTSOF(tests); i++) {
		assert_non_null(comp_check_find(tests[i]));
		assert_string_equal(comp_check_method(comp_check_find(tests[i])),
		    "TEST");
	}
	assert_string_equal(comp_check_method(comp_check_find("ac-faillock")),
	    "EXAMINE");
	assert_int_equal(comp_ap_build(moderate, &(struct comp_ap_opts){
	    .last_modified = "2026-01-01T00:00:00Z" }, &ap), 0);
	assert_int_equal(comp_ap_build(moderate, &(struct comp_ap_opts){
	    .last_modified = "2026-01-01T00:00:00Z" }, &again), 0);
	assert_true(json_equal(ap, again));	/* name-based: reproducible */
	maybe_write(ap, "ap-moderate.json");
	root = json_object_get(ap, "assessment-plan");
	task = json_array_get(json_object_get(root, "tasks"), 0);
	assert_int_equal(json_int_at(json_object_get(task, "timing"),
	    "at-frequency", "period", 0), 3);
	assert_string_equal(json_str_at(json_object_get(task, "timing"),
	    "at-frequency", "unit"), "days");
	assert_int_equal(comp_ap_build(NULL, &(struct comp_ap_opts){
	    .cadence_s = 12 * 3600 }, &again2), 0);
	assert_int_equal(json_int_at(json_object_get(json_array_get(
	    json_object_get(json_object_get(again2, "assessment-plan"), "tasks"),
	    0), "timing"), "at-frequency", "period", 0), 12);

	world_build(&w);
	scan = scan_world(&w);
	assert_int_equal(json_array_size(json_object_get(json_object_get(root,
	    "local-definitions"), "activities")), scan->n);
	assert_int_equal(json_array_size(json_object_get(task,
	    "associated-activities")), scan->n);
	json_array_foreach(json_object_get(json_object_get(root,
	    "local-definitions"), "activities"), i, a) {
		const char *id = json_string_value(json_object_get(json_array_get(
		    json_object_get(a, "props"), 1), "value"));
		const char *m = json_string_value(json_object_get(json_array_get(
		    json_object_get(a, "props"), 0), "value"));

		assert_string_equal(id, scan->results[i]->check->id);
		assert_string_equal(m, comp_check_method(scan->results[i]->check));
		ntest += strcmp(m, "TEST") == 0;
	}
	assert_int_equal(ntest, ELEMENTSOF(tests));

	assert_int_equal(comp_oscal_assessment_results(scan, cat, moderate,
	    NULL, &ar, &err), 0);
	o = json_object_get(ar, "assessment-results");
	assert_string_equal(json_str_at(o, "import-ap", "href"), COMP_AP_JSON_NAME);
	res = json_array_get(json_object_get(o, "results"), 0);
	plan_set = control_set(json_object_get(json_object_get(root,
	    "reviewed-controls"), "control-selections"));
	ar_set = control_set(json_object_get(json_object_get(res,
	    "reviewed-controls"), "control-selections"));
	assert_true(json_object_size(plan_set) > 100);
	assert_true(json_equal(plan_set, ar_set));
	json_array_foreach(json_object_get(res, "observations"), i, obs) {
		json_t *org = json_array_get(json_object_get(obs, "origins"), 0);

		assert_string_equal(json_string_value(json_object_get(json_array_get(
		    json_object_get(org, "related-tasks"), 0), "task-uuid")),
		    json_string_value(json_object_get(task, "uuid")));
		assert_string_equal(json_string_value(json_object_get(json_array_get(
		    json_object_get(org, "actors"), 0), "actor-uuid")),
		    json_str_at(json_array_get(json_object_get(json_object_get(root,
		    "assessment-assets"), "assessment-platforms"), 0), "uuid", NULL));
		assert_string_equal(json_string_value(json_array_get(
		    json_object_get(obs, "methods"), 0)),
		    comp_check_method(scan->results[i]->check));
	}
	comp_scan_free(scan);
	world_destroy(&w);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_uuid),
		cmocka_unit_test(test_ar_broken_world),
		cmocka_unit_test(test_freshness),
		cmocka_unit_test(test_poam_nothing_failed),
		cmocka_unit_test(test_real_host),
		cmocka_unit_test(test_plan),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}

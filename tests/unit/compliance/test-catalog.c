/* Catalog and baseline loading against the real NIST and FedRAMP OSCAL
 * files, plus malformed documents that must be refused precisely. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "lib/err.h"
#include "compliance/catalog.h"
#include "compliance/check.h"

static struct comp_catalog *cat;

static char *
data_path(const char *rel)
{
	const char *top = getenv("top_srcdir");
	char *p;

	assert_true(asprintf(&p, "%s/compliance/data/%s", top ? top : "..",
	    rel) > 0);
	return p;
}

static int
setup(void **state)
{
	char *p = data_path(COMP_CATALOG_FILE), *err = NULL;
	int r = comp_catalog_load(p, &cat, &err);

	if (r < 0)
		fprintf(stderr, "catalog: %s\n", err);
	free(p);
	free(err);
	return r;
}

static int
teardown(void **state)
{
	comp_catalog_free(cat);
	return 0;
}

static void
test_catalog_counts(void **state)
{
	size_t i, enh = 0, wd = 0;

	assert_int_equal(comp_catalog_count(cat), 1189);
	for (i = 0; i < comp_catalog_count(cat); i++) {
		const struct comp_control *c = comp_catalog_at(cat, i);

		enh += c->parent != NULL;
		wd += c->withdrawn;
	}
	/* SOURCES.md: 322 base, 867 enhancements, 182 withdrawn. */
	assert_int_equal(enh, 867);
	assert_int_equal(wd, 182);
	assert_int_equal(comp_catalog_family_count(cat), 20);
	assert_string_equal(comp_catalog_version(cat), "5.0.1");
	assert_string_equal(comp_catalog_oscal_version(cat), "1.0.0");
}

static void
test_catalog_lookup(void **state)
{
	const struct comp_control *c;
	const struct comp_family *f;

	c = comp_catalog_find(cat, "ac-2");
	assert_non_null(c);
	assert_string_equal(c->title, "Account Management");
	assert_string_equal(c->family, "ac");
	assert_string_equal(c->label, "AC-2");
	assert_null(c->parent);
	assert_true(c->has_statement);
	c = comp_catalog_find(cat, "AC-2.4");
	assert_non_null(c);
	assert_string_equal(c->title, "Automated Audit Actions");
	assert_string_equal(c->parent, "ac-2");
	assert_string_equal(c->label, "AC-2(4)");
	c = comp_catalog_find(cat, "ac-2.10");
	assert_non_null(c);
	assert_true(c->withdrawn);
	assert_null(comp_catalog_find(cat, "ac-999"));
	assert_null(comp_catalog_find(cat, ""));
	c = comp_catalog_find_title(cat, "unsuccessful logon attempts");
	assert_non_null(c);
	assert_string_equal(c->id, "ac-7");
	assert_null(comp_catalog_find_title(cat, "No Such Control"));
	f = comp_catalog_family(cat, "SC");
	assert_non_null(f);
	assert_string_equal(f->title, "System and Communications Protection");
	assert_string_equal(comp_catalog_at(cat, f->first)->id, "sc-1");
	for (size_t i = f->first; i < f->first + f->count; i++)
		assert_string_equal(comp_catalog_at(cat, i)->family, "sc");
	assert_null(comp_catalog_family(cat, "zz"));
}

static void
test_baselines(void **state)
{
	static const struct { const char *file; size_t n; } b[] = {
		{ COMP_BASELINE_LOW, 156 },
		{ COMP_BASELINE_MODERATE, 323 },
		{ COMP_BASELINE_HIGH, 410 },
	};
	size_t i;

	for (i = 0; i < 3; i++) {
		struct comp_baseline *base = NULL;
		char *p = data_path(b[i].file), *err = NULL;

		assert_int_equal(comp_baseline_load(p, cat, &base, &err), 0);
		assert_int_equal(comp_baseline_count(base), b[i].n);
		assert_true(comp_baseline_contains(base, "ac-2"));
		assert_true(comp_baseline_contains(base, "AC-7"));
		assert_false(comp_baseline_contains(base, "ac-2.10"));
		assert_false(comp_baseline_contains(base, "pm-1"));
		assert_non_null(strstr(comp_baseline_title(base), "FedRAMP"));
		assert_string_equal(comp_baseline_at(base, 0)->id, "ac-1");
		if (i == 1) {
			assert_true(comp_baseline_contains(base, "ac-2.4"));
			assert_false(comp_baseline_contains(base, "ac-2.11"));
		}
		comp_baseline_free(base);
		free(p);
	}
}

static void
expect_invalid(const char *doc, const char *msg_part)
{
	struct comp_catalog *c = NULL;
	char *err = NULL;
	int r = comp_catalog_parse(doc, strlen(doc), &c, &err);

	assert_true(r < 0);
	assert_null(c);
	assert_non_null(err);
	if (!strstr(err, msg_part))
		fail_msg("error \"%s\" lacks \"%s\"", err, msg_part);
	free(err);
}

#define HEAD "{\"catalog\":{\"uuid\":\"u\",\"metadata\":{\"title\":\"t\"," \
	"\"version\":\"1\",\"oscal-version\":\"1.1.2\"},\"groups\":["

static void
test_malformed(void **state)
{
	expect_invalid("{\"catalog\":", "invalid JSON at byte");
	expect_invalid("[]", "catalog: missing or not an object");
	expect_invalid("{\"catalog\":{\"uuid\":\"u\"}}", "catalog.metadata");
	expect_invalid(HEAD "]}}", "catalog.groups: missing or empty");
	expect_invalid(HEAD "{\"id\":\"ac\",\"title\":\"A\",\"controls\":"
	    "[{\"id\":\"ac-1\",\"title\":5}]}]}}",
	    "catalog.groups[0].controls[0].title: not a string");
	expect_invalid(HEAD "{\"id\":\"ac\",\"title\":\"A\",\"controls\":"
	    "[{\"id\":\"AC 1\",\"title\":\"x\"}]}]}}",
	    "catalog.groups[0].controls[0].id: \"AC 1\" is not a control id");
	expect_invalid(HEAD "{\"id\":\"ac\",\"title\":\"A\",\"controls\":"
	    "[{\"id\":\"ac-1\",\"title\":\"x\",\"controls\":[{\"id\":"
	    "\"ac-1\",\"title\":\"y\"}]}]}]}}",
	    "duplicate control id \"ac-1\"");
	expect_invalid(HEAD "{\"id\":\"ac\",\"title\":\"A\",\"controls\":"
	    "{}}]}}", "catalog.groups[0].controls: not an array");
	expect_invalid(HEAD "{\"id\":\"ac\",\"title\":\"A\",\"groups\":[]}]}}",
	    "nested groups are not supported");
	expect_invalid(HEAD "{\"id\":\"ac\",\"title\":\"A\",\"controls\":"
	    "[{\"id\":\"ac-1\",\"title\":\"x\",\"props\":[{\"name\":1}]}]}]}}",
	    "controls[0].props[0]: needs string name and value");
	expect_invalid(HEAD "{\"id\":\"ac\",\"title\":\"A\"},{\"id\":\"AC\","
	    "\"title\":\"B\"}]}}", "duplicate family");
}

static void
test_baseline_invalid(void **state)
{
	const char *unknown = HEAD "{\"id\":\"ac\",\"title\":\"A\",\"controls\":"
	    "[{\"id\":\"ac-2\",\"title\":\"x\"},{\"id\":\"zz-99\","
	    "\"title\":\"y\"}]}]}}";
	const char *withdrawn = HEAD "{\"id\":\"ac\",\"title\":\"A\","
	    "\"controls\":[{\"id\":\"ac-2.10\",\"title\":\"x\"}]}]}}";
	const char *ok = HEAD "{\"id\":\"ac\",\"title\":\"A\",\"controls\":"
	    "[{\"id\":\"ac-2\",\"title\":\"x\",\"controls\":[{\"id\":"
	    "\"ac-2.4\",\"title\":\"y\"}]}]}]}}";
	struct comp_baseline *b = NULL;
	char *err = NULL;

	assert_int_equal(comp_baseline_parse(unknown, strlen(unknown), cat, &b,
	    &err), -BW_E_INVALID);
	assert_non_null(strstr(err, "\"zz-99\" does not exist"));
	free(err);
	err = NULL;
	assert_int_equal(comp_baseline_parse(withdrawn, strlen(withdrawn), cat,
	    &b, &err), -BW_E_INVALID);
	assert_non_null(strstr(err, "\"ac-2.10\" is withdrawn"));
	free(err);
	err = NULL;
	assert_int_equal(comp_baseline_parse(ok, strlen(ok), cat, &b, &err), 0);
	assert_int_equal(comp_baseline_count(b), 2);
	assert_true(comp_baseline_contains(b, "ac-2.4"));
	comp_baseline_free(b);
}

static void
test_load_errors(void **state)
{
	struct comp_catalog *c = NULL;
	char *err = NULL;

	assert_int_equal(comp_catalog_load("/nonexistent/cat.json", &c, &err),
	    -ENOENT);
	assert_non_null(strstr(err, "/nonexistent/cat.json"));
	free(err);
	err = NULL;
	/* A schema is JSON but not a catalog: the file is named. */
	{
		char *p = data_path("schemas/oscal_poam_schema.json");

		assert_int_equal(comp_catalog_load(p, &c, &err), -BW_E_INVALID);
		assert_non_null(strstr(err, "oscal_poam_schema.json: catalog:"));
		free(p);
		free(err);
	}
}

/* Every control a check claims exists, is active, and the number of
 * Moderate controls evidenced by checks is what docs/compliance.md says. */
static void
test_registry_controls(void **state)
{
	struct comp_baseline *mod = NULL;
	char *p = data_path(COMP_BASELINE_MODERATE), *err = NULL;
	const struct comp_check *checks;
	size_t n, i, j, automated = 0;

	assert_int_equal(comp_baseline_load(p, cat, &mod, &err), 0);
	checks = comp_checks(&n);
	for (i = 0; i < n; i++) {
		assert_non_null(checks[i].fn);
		assert_non_null(checks[i].controls[0]);
		for (j = 0; checks[i].controls[j]; j++) {
			const struct comp_control *c =
			    comp_catalog_find(cat, checks[i].controls[j]);

			if (!c || c->withdrawn)
				fail_msg("%s: control %s unknown or withdrawn",
				    checks[i].id, checks[i].controls[j]);
			if (!comp_baseline_contains(mod, c->id))
				fail_msg("%s: %s not in FedRAMP Moderate",
				    checks[i].id, c->id);
		}
		for (j = i + 1; j < n; j++)
			assert_string_not_equal(checks[i].id, checks[j].id);
	}
	for (i = 0; i < comp_baseline_count(mod); i++) {
		const struct comp_control *c = comp_baseline_at(mod, i);

		for (j = 0; j < n; j++)
			if (comp_check_covers(&checks[j], c->id)) {
				automated++;
				break;
			}
	}
	printf("# FedRAMP Moderate controls automated: %zu of %zu\n",
	    automated, comp_baseline_count(mod));
	assert_int_equal(automated, 124);
	comp_baseline_free(mod);
	free(p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_catalog_counts),
		cmocka_unit_test(test_catalog_lookup),
		cmocka_unit_test(test_baselines),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_baseline_invalid),
		cmocka_unit_test(test_load_errors),
		cmocka_unit_test(test_registry_controls),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}

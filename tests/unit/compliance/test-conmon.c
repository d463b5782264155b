/* The ConMon package documents: month bounds, the scan summary, POA&M
 * changes across scans (from the state before the month), and an
 * inventory that keeps names and states but no credentials. */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "audit/verify.h"
#include "compliance/conmon.h"
#include "lib/err.h"

/* The attestation's verification block: the walk's outcome, and a
 * verifier that could not run recorded as such, not left out. */
static void
test_trail_verified(void **state)
{
	struct audit_verify_report	 rep = { 0 };
	json_t				*j;

	(void)state;
	rep.damage = AUDIT_BAD_SIGNATURE;
	rep.records = 12;
	rep.checkpoints = 2;
	rep.first_seq = 1;
	rep.last_seq = 12;
	memset(rep.head_hash, 'a', sizeof(rep.head_hash) - 1);
	j = conmon_trail_verified(0, &rep);
	assert_non_null(j);
	assert_true(json_is_false(json_object_get(j, "intact")));
	assert_string_equal(json_string_value(json_object_get(j, "damage")),
	    "BAD_SIGNATURE");
	assert_int_equal(json_integer_value(json_object_get(j, "checkpoints")),
	    2);
	assert_null(json_object_get(j, "error"));
	json_decref(j);

	rep.damage = AUDIT_OK;
	j = conmon_trail_verified(0, &rep);
	assert_true(json_is_true(json_object_get(j, "intact")));
	json_decref(j);

	j = conmon_trail_verified(-EACCES, &rep);
	assert_non_null(j);
	assert_true(json_is_false(json_object_get(j, "intact")));
	assert_string_equal(json_string_value(json_object_get(j, "error")),
	    bw_strerror(-EACCES));
	assert_null(json_object_get(j, "records"));
	json_decref(j);
}

static void
test_month(void **state)
{
	time_t	a, b;
	char	*err = NULL;

	assert_int_equal(conmon_month_parse("2026-12", &a, &b, &err), 0);
	assert_int_equal(a, 1796083200);	/* 2026-12-01T00:00:00Z */
	assert_int_equal(b, 1798761599);	/* 2026-12-31T23:59:59Z */
	assert_int_equal(conmon_month_parse("2028-02", &a, &b, &err), 0);
	assert_int_equal(b - a + 1, 29 * 86400);
	for (const char *const *p = (const char *const[]){ "2026-13", "2026-00",
	    "2026-1", "26-12", "2026-12x", "2026/12", "", NULL }; *p; p++) {
		assert_int_equal(conmon_month_parse(*p, &a, &b, &err),
		    -BW_E_INVALID);
		assert_non_null(strstr(err, "YYYY-MM"));
		free(err);
		err = NULL;
	}
	assert_int_equal(conmon_month_parse(NULL, &a, &b, &err), -BW_E_INVALID);
	free(err);
}

/* A stored scan record with the checks in FAILING not satisfied. */
static json_t *
scan_doc(const char *time, const char *baseline, const char *const *failing)
{
	json_t *d = json_pack("{s:s, s:s, s:i, s:{s:{s:i, s:i, s:i, s:i, s:i}}, "
	    "s:[{s:s, s:s}]}", "time", time, "baseline", baseline, "checks", 3,
	    "summary", "total", "satisfied", 10, "not-satisfied", 2,
	    "not-applicable", 1, "error", 0, "manual", 5, "results", "check",
	    "ok-check", "verdict", "satisfied");

	assert_non_null(d);
	for (; *failing; failing++)
		assert_int_equal(json_array_append_new(json_object_get(d,
		    "results"), json_pack("{s:s, s:s}", "check", *failing,
		    "verdict", "not-satisfied")), 0);
	return d;
}

static void
test_summary_and_changes(void **state)
{
	json_t *prior = scan_doc("2026-11-30T23:00:00Z", "moderate",
	    (const char *const[]){ "ac-faillock", "au-retention", NULL });
	json_t *s[3] = {
		scan_doc("2026-12-01T01:00:00Z", "moderate",
		    (const char *const[]){ "ac-faillock", NULL }),
		scan_doc("2026-12-02T01:00:00Z", "low",
		    (const char *const[]){ "ia-mfa", NULL }),
		scan_doc("2026-12-03T01:00:00Z", "moderate",
		    (const char *const[]){ "ac-faillock", "sc-tls", NULL }),
	};
	json_t *sum = NULL, *ch = NULL, *c;
	size_t i;

	assert_int_equal(conmon_scan_summary("2026-12", s, 3, &sum), 0);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(sum,
	    "totals"), "scans")), 3);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(sum,
	    "totals"), "satisfied")), 30);
	c = json_array_get(json_object_get(sum, "scans"), 2);
	assert_string_equal(json_string_value(json_object_get(c, "baseline")),
	    "moderate");
	assert_int_equal(json_array_size(json_object_get(c,
	    "not-satisfied-checks")), 2);

	assert_int_equal(conmon_poam_changes("2026-12", s, 3, &prior, 1, &ch), 0);
	/* au-retention closed at the first scan; ia-mfa opened in the low
	 * baseline (nothing before); sc-tls opened at the third. */
	assert_int_equal(json_array_size(json_object_get(ch, "changes")), 3);
	json_array_foreach(json_object_get(ch, "changes"), i, c) {
		const char *k = json_string_value(json_object_get(c, "check"));
		const char *v = json_string_value(json_object_get(c, "change"));

		if (!strcmp(k, "au-retention"))
			assert_string_equal(v, "closed");
		else
			assert_string_equal(v, "opened");
		assert_string_not_equal(k, "ac-faillock");
	}
	assert_int_equal(json_array_size(json_object_get(json_object_get(ch,
	    "open-at-end"), "moderate")), 2);
	assert_int_equal(json_array_size(json_object_get(json_object_get(ch,
	    "open-at-end"), "low")), 1);
	json_decref(sum);
	json_decref(ch);
	json_decref(prior);
	for (i = 0; i < 3; i++)
		json_decref(s[i]);
}

static void
test_inventory(void **state)
{
	json_t *nodes = json_pack("[{s:{s:s, s:s}, s:{s:s}, s:{s:s, s:s, "
	    "s:{s:s, s:s}}}]", "metadata", "name", "n1", "created",
	    "2026-12-01T00:00:00Z", "spec", "address", "10.0.0.1", "status",
	    "phase", "Ready", "attestation", "Trusted", "tpm", "kind",
	    "hardware", "ek_cert", "-----BEGIN CERTIFICATE-----");
	json_t *images = json_pack("[{s:{s:s}, s:{s:s, s:s, s:s}}]",
	    "metadata", "name", "web", "spec", "digest", "sha256:ab", "type",
	    "container", "signer", "pub");
	json_t *princ = json_pack("[{s:{s:s, s:s}, s:{s:s, s:s, s:s}, "
	    "s:{s:s}}]", "metadata", "name", "alice", "tenant", "acme", "spec",
	    "role", "tenant-user", "serial", "0a", "csr", "secret-ish",
	    "status", "state", "Active");
	json_t *inv = NULL, *e;
	char *s;

	assert_int_equal(conmon_inventory(nodes, images, princ, 1796083200,
	    &inv), 0);
	assert_string_equal(json_string_value(json_object_get(inv, "taken")),
	    "2026-12-01T00:00:00Z");
	e = json_array_get(json_object_get(inv, "nodes"), 0);
	assert_string_equal(json_string_value(json_object_get(e, "kind")),
	    "hardware");
	assert_string_equal(json_string_value(json_object_get(e, "attestation")),
	    "Trusted");
	e = json_array_get(json_object_get(inv, "principals"), 0);
	assert_string_equal(json_string_value(json_object_get(e, "tenant")),
	    "acme");
	assert_string_equal(json_string_value(json_object_get(e, "role")),
	    "tenant-user");
	e = json_array_get(json_object_get(inv, "images"), 0);
	assert_string_equal(json_string_value(json_object_get(e, "digest")),
	    "sha256:ab");
	s = json_dumps(inv, 0);
	assert_null(strstr(s, "BEGIN"));
	assert_null(strstr(s, "secret-ish"));
	free(s);
	json_decref(inv);
	json_decref(nodes);
	json_decref(images);
	json_decref(princ);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_month),
		cmocka_unit_test(test_summary_and_changes),
		cmocka_unit_test(test_inventory),
		cmocka_unit_test(test_trail_verified),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

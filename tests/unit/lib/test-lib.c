#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "lib/err.h"
#include "lib/ids.h"
#include "lib/json.h"

static void
test_json_ok(void **state)
{
	json_t	*v = NULL;
	char	*err = NULL;
	const char *doc = "{\"a\": [1, 2, {\"b\": \"x]\"}]}";

	assert_int_equal(json_parse_bounded(doc, strlen(doc), 4, &v, &err), 0);
	assert_non_null(v);
	assert_null(err);
	json_decref(v);
}

static void
test_json_depth(void **state)
{
	char	 buf[20001];
	json_t	*v = NULL;
	char	*err = NULL;

	memset(buf, '[', 10000);
	memset(buf + 10000, ']', 10000);
	buf[20000] = 0;
	assert_int_equal(json_parse_bounded(buf, 20000, 32, &v, &err),
	    -BW_E_INVALID);
	assert_null(v);
	assert_non_null(strstr(err, "deeper than 32"));
	free(err);
}

static void
test_json_brackets_in_strings_do_not_count(void **state)
{
	const char *doc = "{\"a\": \"[[[[[[[[[[[[\"}";
	json_t	*v = NULL;
	char	*err = NULL;

	assert_int_equal(json_parse_bounded(doc, strlen(doc), 2, &v, &err), 0);
	json_decref(v);
}

static void
test_json_bad_utf8_dup(void **state)
{
	const char bad[] = "{\"a\": \"\xff\xfe\"}";
	const char *dup = "{\"a\": 1, \"a\": 2}";
	json_t	*v = NULL;
	char	*err = NULL;

	assert_int_equal(json_parse_bounded(bad, sizeof(bad) - 1, 8, &v, &err),
	    -BW_E_INVALID);
	assert_non_null(strstr(err, "byte"));
	free(err);
	err = NULL;
	assert_int_equal(json_parse_bounded(dup, strlen(dup), 8, &v, &err),
	    -BW_E_INVALID);
	assert_non_null(strstr(err, "duplicate"));
	free(err);
}

static int
cmp_uuid(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* Version 4 layout, lower-case hex, and no repeats across several
 * refills of the per-thread random pool. */
static void
test_uuid_v4(void **state)
{
	enum { N = 1000 };
	char (*u)[BW_UUID_LEN + 1] = calloc(N, sizeof(*u));

	(void)state;
	assert_non_null(u);
	for (int i = 0; i < N; i++) {
		assert_int_equal(bw_uuid_v4(u[i]), 0);
		assert_int_equal(strlen(u[i]), BW_UUID_LEN);
		for (int j = 0; j < BW_UUID_LEN; j++) {
			if (j == 8 || j == 13 || j == 18 || j == 23)
				assert_int_equal(u[i][j], '-');
			else
				assert_non_null(strchr("0123456789abcdef", u[i][j]));
		}
		assert_int_equal(u[i][14], '4');
		assert_non_null(strchr("89ab", u[i][19]));
	}
	qsort(u, N, sizeof(*u), cmp_uuid);
	for (int i = 1; i < N; i++)
		assert_int_not_equal(strcmp(u[i - 1], u[i]), 0);
	free(u);
}

static void
test_errcode(void **state)
{
	assert_string_equal(bw_errcode(-BW_E_CONFLICT), "conflict");
	assert_string_equal(bw_errcode(-BW_E_AUDIT), "audit_unavailable");
	assert_string_equal(bw_errcode(-ENOENT), "internal");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_ok),
		cmocka_unit_test(test_json_depth),
		cmocka_unit_test(test_json_brackets_in_strings_do_not_count),
		cmocka_unit_test(test_json_bad_utf8_dup),
		cmocka_unit_test(test_uuid_v4),
		cmocka_unit_test(test_errcode),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Audit sources (review of issue 13, finding 10): a peer is shown as
 * address and port with IPv6 in brackets, and the address taken back
 * out of it whole, so aggregated records of ::1 say "::1", not ":". */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <jansson.h>
#include <openssl/ssl.h>

#include "controlplane/api.h"

static void
test_format(void **state)
{
	char	buf[80];

	(void)state;
	api_source_format("192.0.2.1", 443, buf, sizeof(buf));
	assert_string_equal(buf, "192.0.2.1:443");
	api_source_format("::1", 5555, buf, sizeof(buf));
	assert_string_equal(buf, "[::1]:5555");
	api_source_format("2001:db8::5", 1, buf, sizeof(buf));
	assert_string_equal(buf, "[2001:db8::5]:1");
	api_source_format(NULL, 0, buf, sizeof(buf));
	assert_string_equal(buf, "unknown:0");
}

static void
test_host(void **state)
{
	static const struct {
		const char	*source, *host;
	} cases[] = {
		{ "192.0.2.1:443", "192.0.2.1" },
		{ "[::1]:5555", "::1" },
		{ "[2001:db8::5]:8443", "2001:db8::5" },
		{ "[::ffff:192.0.2.1]:80", "::ffff:192.0.2.1" },
		/* addresses without a port stay whole */
		{ "::1", "::1" },
		{ "2001:db8::5", "2001:db8::5" },
		{ "2001:db8::", "2001:db8::" },
		{ "192.0.2.1", "192.0.2.1" },
		{ "unknown:0", "unknown" },
		{ "unknown", "unknown" },
	};
	char	buf[64], round[80];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(api_source_host(cases[i].source, buf,
		    sizeof(buf)), 0);
		assert_string_equal(buf, cases[i].host);
	}
	/* what api_source_format() makes, api_source_host() undoes */
	api_source_format("fe80::1:2:3", 65535, round, sizeof(round));
	assert_int_equal(api_source_host(round, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "fe80::1:2:3");
	assert_int_equal(api_source_host("[::1", buf, sizeof(buf)), -EINVAL);
	assert_int_equal(api_source_host("[2001:db8::5]:1", buf, 4),
	    -ENAMETOOLONG);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_host),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

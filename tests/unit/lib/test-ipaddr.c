#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "lib/ipaddr.h"
#include "lib/macro.h"

static void
test_literals(void **state)
{
	static const struct {
		const char		*s;
		enum bw_ip_literal	 want;
	} cases[] = {
		{ "127.0.0.1", BW_IP_V4 },
		{ "0.0.0.0", BW_IP_V4 },
		{ "255.255.255.255", BW_IP_V4 },
		{ "::1", BW_IP_V6 },
		{ "::", BW_IP_V6 },
		{ "fd00::7", BW_IP_V6 },
		{ "2001:db8::1", BW_IP_V6 },
		{ "::ffff:10.0.0.1", BW_IP_V4_IN_V6 },
		{ "::ffff:a00:1", BW_IP_V4_IN_V6 },
		{ "::10.0.0.1", BW_IP_V4_IN_V6 },
		/* what inet_pton() refuses is a name to the caller */
		{ "10.0.0.256", BW_IP_NONE },
		{ "010.0.0.1", BW_IP_NONE },
		{ "1.2.3", BW_IP_NONE },
		{ "1.2.3.4.", BW_IP_NONE },
		{ " 1.2.3.4", BW_IP_NONE },
		{ "[::1]", BW_IP_NONE },
		{ "fe80::1%eth0", BW_IP_NONE },
		{ "localhost", BW_IP_NONE },
		{ "bulwark.example", BW_IP_NONE },
		{ "", BW_IP_NONE },
	};

	(void)state;
	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		if (bw_ip_literal(cases[i].s) != cases[i].want)
			fail_msg("\"%s\": %d, want %d", cases[i].s,
			    bw_ip_literal(cases[i].s), cases[i].want);
	}
	assert_int_equal(bw_ip_literal(NULL), BW_IP_NONE);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_literals),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

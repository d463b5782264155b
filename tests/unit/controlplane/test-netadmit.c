#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "controlplane/netadmit.h"
#include "controlplane/quota.h"
#include "lib/err.h"
#include "lib/macro.h"

/* The CIDR parser: what it takes and the message for what it refuses. */
static void
test_cidr_parse(void **state)
{
	static const struct {
		const char	*text;
		uint32_t	 addr;
		unsigned	 prefix;
		const char	*err;	/* prefix of the message; NULL: valid */
	} cases[] = {
		{ "10.20.0.0/16", 0x0a140000u, 16, NULL },
		{ "192.168.7.0/24", 0xc0a80700u, 24, NULL },
		{ "0.0.0.0/0", 0, 0, NULL },
		{ "10.0.0.1/32", 0x0a000001u, 32, NULL },
		{ "1.2.3.4/99", 0, 0, "spec.subnet: \"1.2.3.4/99\": the prefix must be a number 0..32" },
		{ "10.0.0.0/08", 0, 0, "spec.subnet: \"10.0.0.0/08\": the prefix" },
		{ "10.0.0.0/+8", 0, 0, "spec.subnet: \"10.0.0.0/+8\": the prefix" },
		{ "10.0.0.0/", 0, 0, "spec.subnet: \"10.0.0.0/\": the prefix" },
		{ "10.0.0.0", 0, 0, "spec.subnet: \"10.0.0.0\": must be" },
		{ "10.1.2/24", 0, 0, "spec.subnet: \"10.1.2/24\": \"10.1.2\" is not" },
		{ "010.1.2.0/24", 0, 0, "spec.subnet: \"010.1.2.0/24\": \"010.1.2.0\" is not" },
		{ " 10.1.2.0/24", 0, 0, "spec.subnet: \" 10.1.2.0/24\": \" 10.1.2.0\" is not" },
		{ "10.30.0.1/24", 0, 0, "spec.subnet: \"10.30.0.1/24\": host bits are set (the network is 10.30.0.0/24)" },
		{ "/24", 0, 0, "spec.subnet: \"/24\": the address" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < ELEMENTSOF(cases); i++) {
		uint32_t	 a = 0;
		unsigned	 p = 0;
		char		*err = NULL;
		int		 r = netadmit_cidr_parse(cases[i].text, &a, &p, &err);

		if (!cases[i].err) {
			assert_int_equal(r, 0);
			assert_int_equal(a, cases[i].addr);
			assert_int_equal(p, cases[i].prefix);
			continue;
		}
		assert_int_equal(r, -BW_E_INVALID);
		if (!err || strncmp(err, cases[i].err, strlen(cases[i].err)) != 0)
			fail_msg("case %zu: got \"%s\", want \"%s...\"", i,
			    err ? err : "(null)", cases[i].err);
		free(err);
	}
}

static void
test_quota_limits_parse(void **state)
{
	struct quota_limits	 l = QUOTA_DEFAULT_LIMITS;
	char			*err = NULL;

	(void)state;
	assert_int_equal(quota_limits_parse("instances=3,networks=none", &l,
	    &err), 0);
	assert_int_equal(l.instances, 3);
	assert_int_equal(l.networks, -1);
	assert_int_equal(l.workloads, 50);
	static const char *const bad[] = { "gpus=1", "instances", "instances=",
		"instances=-1", "instances=+1", "instances=100001", "instances=1,",
		"instances=1x", "", "=3" };
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		struct quota_limits keep = l;

		assert_int_equal(quota_limits_parse(bad[i], &l, &err),
		    -BW_E_INVALID);
		assert_non_null(err);
		free(err);
		err = NULL;
		assert_memory_equal(&keep, &l, sizeof(l));
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cidr_parse),
		cmocka_unit_test(test_quota_limits_parse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

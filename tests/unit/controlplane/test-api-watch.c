/* Watch room (issue 18, part 4 of "An idle agent's requests" in
 * docs/architecture.md): node principals' watches count against their
 * own bound, not against API_WATCH_MAX, and the reverse; every
 * principal keeps its own bound. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "controlplane/api.h"

static void
test_nodes_past_people_bound(void **state)
{
	(void)state;
	/* 512 other watches open: a node's watch still opens, up to
	 * API_WATCH_NODE_MAX node watches */
	assert_int_equal(api_watch_admit(1, 0, API_WATCH_MAX, 0),
	    API_WATCH_ADMIT);
	assert_int_equal(api_watch_admit(1, 0, API_WATCH_MAX, API_WATCH_MAX),
	    API_WATCH_ADMIT);
	assert_int_equal(api_watch_admit(1, 0, 0, 5000), API_WATCH_ADMIT);
	assert_int_equal(api_watch_admit(1, 0, 0, API_WATCH_NODE_MAX - 1),
	    API_WATCH_ADMIT);
	assert_int_equal(api_watch_admit(1, 0, 0, API_WATCH_NODE_MAX),
	    API_WATCH_FULL_NODES);
	assert_true(API_WATCH_NODE_MAX > 5000);
}

static void
test_people_unaffected_by_nodes(void **state)
{
	(void)state;
	/* node watches leave the others' room alone */
	assert_int_equal(api_watch_admit(0, 0, 0, API_WATCH_NODE_MAX),
	    API_WATCH_ADMIT);
	assert_int_equal(api_watch_admit(0, 0, API_WATCH_MAX - 1, 5000),
	    API_WATCH_ADMIT);
	assert_int_equal(api_watch_admit(0, 0, API_WATCH_MAX, 0),
	    API_WATCH_FULL_PEOPLE);
}

static void
test_per_principal(void **state)
{
	(void)state;
	assert_int_equal(api_watch_admit(1, API_WATCH_PER_PRINCIPAL - 1, 0, 0),
	    API_WATCH_ADMIT);
	assert_int_equal(api_watch_admit(1, API_WATCH_PER_PRINCIPAL, 0, 0),
	    API_WATCH_FULL_PRINCIPAL);
	assert_int_equal(api_watch_admit(0, API_WATCH_PER_PRINCIPAL, 0, 0),
	    API_WATCH_FULL_PRINCIPAL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nodes_past_people_bound),
		cmocka_unit_test(test_people_unaffected_by_nodes),
		cmocka_unit_test(test_per_principal),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

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
	assert_int_equal(api_watch_admit(1, 0, API_WATCH_MAX, 0,
	    API_WATCH_NODE_MAX), API_WATCH_ADMIT);
	assert_int_equal(api_watch_admit(1, 0, API_WATCH_MAX, API_WATCH_MAX,
	    API_WATCH_NODE_MAX), API_WATCH_ADMIT);
	assert_int_equal(api_watch_admit(1, 0, 0, 5000,
	    API_WATCH_NODE_MAX), API_WATCH_ADMIT);
	assert_int_equal(api_watch_admit(1, 0, 0, API_WATCH_NODE_MAX - 1,
	    API_WATCH_NODE_MAX), API_WATCH_ADMIT);
	assert_int_equal(api_watch_admit(1, 0, 0, API_WATCH_NODE_MAX,
	    API_WATCH_NODE_MAX), API_WATCH_FULL_NODES);
	assert_true(API_WATCH_NODE_MAX > 5000);
}

static void
test_people_unaffected_by_nodes(void **state)
{
	(void)state;
	/* node watches leave the others' room alone */
	assert_int_equal(api_watch_admit(0, 0, 0, API_WATCH_NODE_MAX,
	    API_WATCH_NODE_MAX), API_WATCH_ADMIT);
	assert_int_equal(api_watch_admit(0, 0, API_WATCH_MAX - 1, 5000,
	    API_WATCH_NODE_MAX), API_WATCH_ADMIT);
	assert_int_equal(api_watch_admit(0, 0, API_WATCH_MAX, 0,
	    API_WATCH_NODE_MAX), API_WATCH_FULL_PEOPLE);
}

/* Node watches hold connections no eviction frees (a request in
 * flight): they stop short of the slots kept for system roles, so an
 * administrator still connects when more nodes than connections poll
 * (review of b8e09bb). */
static void
test_nodes_leave_reserved_slots(void **state)
{
	unsigned m = api_watch_node_max(1024);

	(void)state;
	/* the default 1,024 connections: 256 kept, 768 node watches */
	assert_int_equal(api_conn_unreserved(1024), 768);
	assert_int_equal(api_watch_node_max(1024), 768);
	assert_int_equal(api_watch_admit(1, 0, 0, 767, m),
	    API_WATCH_ADMIT);
	assert_int_equal(api_watch_admit(1, 0, 0, 768, m),
	    API_WATCH_FULL_NODES);
	/* people's watches are bounded as before */
	assert_int_equal(api_watch_admit(0, 0, 0, 768, m),
	    API_WATCH_ADMIT);
	/* small servers keep at least one slot, but for a server of one
	 * connection, which has none to spare: its node watch may take it */
	assert_int_equal(api_watch_node_max(8), 6);
	assert_int_equal(api_watch_node_max(3), 2);
	assert_int_equal(api_watch_node_max(2), 1);
	assert_int_equal(api_watch_node_max(1), 1);
	/* past the fleet bound, API_WATCH_NODE_MAX */
	assert_int_equal(api_watch_node_max(20000), API_WATCH_NODE_MAX);
	assert_int_equal(api_watch_node_max(API_WATCH_NODE_MAX),
	    api_conn_unreserved(API_WATCH_NODE_MAX));
	assert_true(api_watch_node_max(API_WATCH_NODE_MAX) <
	    API_WATCH_NODE_MAX);
}

/* Node watches share the unreserved slots with the tenant roles'
 * connections: together they still leave the reserved ones (6 node
 * polls and 2 tenant watches must not take all of 8). */
static void
test_nodes_share_with_tenants(void **state)
{
	(void)state;
	assert_int_equal(api_watch_node_room(8, 0), 6);
	assert_int_equal(api_watch_node_room(8, 2), 4);
	assert_int_equal(api_watch_node_room(8, 6), 0);
	assert_int_equal(api_watch_node_room(8, 7), 0);
	assert_int_equal(api_watch_admit(1, 0, 0, 4, api_watch_node_room(8,
	    2)), API_WATCH_FULL_NODES);
	assert_int_equal(api_watch_node_room(1024, 100), 668);
	/* the fleet bound still caps it */
	assert_int_equal(api_watch_node_room(20000, 100), API_WATCH_NODE_MAX);
}

static void
test_per_principal(void **state)
{
	(void)state;
	assert_int_equal(api_watch_per_principal(0), API_WATCH_PER_PRINCIPAL);
	assert_int_equal(api_watch_admit(0, API_WATCH_PER_PRINCIPAL - 1, 0, 0,
	    API_WATCH_NODE_MAX), API_WATCH_ADMIT);
	assert_int_equal(api_watch_admit(0, API_WATCH_PER_PRINCIPAL, 0, 0,
	    API_WATCH_NODE_MAX), API_WATCH_FULL_PRINCIPAL);
}

/* A node holds one long poll, and the next while the last ends: 2, so
 * 8,192 node watches need 4,096 nodes, not 512 (review of b8e09bb). */
static void
test_per_node(void **state)
{
	(void)state;
	assert_int_equal(api_watch_per_principal(1), 2);
	assert_int_equal(api_watch_admit(1, 0, 0, 0, API_WATCH_NODE_MAX),
	    API_WATCH_ADMIT);
	assert_int_equal(api_watch_admit(1, 1, 0, 0, API_WATCH_NODE_MAX),
	    API_WATCH_ADMIT);
	assert_int_equal(api_watch_admit(1, 2, 0, 0, API_WATCH_NODE_MAX),
	    API_WATCH_FULL_PRINCIPAL);
	assert_int_equal(api_watch_admit(1, API_WATCH_PER_PRINCIPAL - 1, 0, 0,
	    API_WATCH_NODE_MAX), API_WATCH_FULL_PRINCIPAL);
	/* the principal's bound is told before the fleet's */
	assert_int_equal(api_watch_admit(1, 2, 0, API_WATCH_NODE_MAX,
	    API_WATCH_NODE_MAX), API_WATCH_FULL_PRINCIPAL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nodes_past_people_bound),
		cmocka_unit_test(test_people_unaffected_by_nodes),
		cmocka_unit_test(test_nodes_leave_reserved_slots),
		cmocka_unit_test(test_nodes_share_with_tenants),
		cmocka_unit_test(test_per_principal),
		cmocka_unit_test(test_per_node),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

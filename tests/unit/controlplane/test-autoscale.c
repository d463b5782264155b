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

#include "controlplane/autoscale.h"
#include "lib/json.h"
#include "lib/macro.h"

/* ceil(current * usage / target) outside the 10% tolerance. */
static void
test_recommend(void **state)
{
	static const struct {
		long	 current, reporting;
		double	 sum;
		long	 target, want;
	} cases[] = {
		{ 1, 1, 100, 10, 10 },		/* 10x the target */
		{ 4, 4, 4 * 50, 50, 4 },	/* at the target */
		{ 4, 4, 4 * 55, 50, 4 },	/* +10%: tolerated */
		{ 4, 4, 4 * 45, 50, 4 },	/* -10%: tolerated */
		{ 4, 4, 4 * 56, 50, 5 },	/* +12%: ceil(4.48) */
		{ 4, 4, 4 * 40, 50, 4 },	/* -20%: ceil(3.2) */
		{ 4, 4, 4 * 30, 50, 3 },	/* ceil(2.4) */
		{ 3, 3, 0, 10, 0 },		/* idle: the caller clamps */
		{ 3, 0, 0, 10, 3 },		/* nothing reported */
		{ 0, 0, 0, 10, 0 },
		/* 2 of 4 report 100% of a 50% target: the missing two
		 * count as idle, 4 * 50/50 = 4: no change */
		{ 4, 2, 200, 50, 4 },
		/* ... 2 of 4 at 200%: 4 * 100/50 = 8 */
		{ 4, 2, 400, 50, 8 },
		/* 2 of 4 idle: the missing count at the target,
		 * 4 * 25/50 = 2 */
		{ 4, 2, 0, 50, 2 },
	};

	(void)state;
	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		long got = autoscale_recommend(cases[i].current,
		    cases[i].reporting, cases[i].sum, cases[i].target);

		if (got != cases[i].want)
			fail_msg("case %zu: %ld, want %ld", i, got, cases[i].want);
	}
}

/* Scale out at once up to max; scale in only after the stabilisation
 * window, to its highest recommendation; never below min. */
static void
test_stabilize_clamp_and_window(void **state)
{
	struct autoscale_spec	 s = { .min = 1, .max = 3, .target = 10,
	    .down_window_s = 20 };
	struct autoscale_history h = { 0 };
	long			 n = 1;
	time_t			 t = 1000;

	(void)state;
	n = autoscale_stabilize(&h, &s, n, 10, t);
	assert_int_equal(n, 3);		/* clamped to max, at once */
	/* The load stops: recommendations fall to 0, held for 20 s. */
	for (t = 1001; t < 1020; t++) {
		n = autoscale_stabilize(&h, &s, n, 0, t);
		assert_int_equal(n, 3);
	}
	/* The 10 left the window: down to min, not to 0. */
	for (; t < 1030 && n == 3; t++)
		n = autoscale_stabilize(&h, &s, n, 0, t);
	assert_int_equal(n, 1);
	assert_true(t <= 1022);
	/* Below min is raised to min. */
	assert_int_equal(autoscale_stabilize(&h, &s, 0, 0, t), 1);
}

/* A dip inside the window shrinks nothing, so the next peak grows
 * nothing: no up-down-up. */
static void
test_stabilize_no_flap(void **state)
{
	struct autoscale_spec	 s = { .min = 1, .max = 10, .target = 50,
	    .down_window_s = 30 };
	struct autoscale_history h = { 0 };
	static const long	 recs[] = { 6, 2, 6, 1, 5, 2, 6, 3 };
	long			 n = 2, prev;
	time_t			 t = 5000;

	(void)state;
	for (size_t i = 0; i < ELEMENTSOF(recs); i++, t += 3) {
		prev = n;
		n = autoscale_stabilize(&h, &s, n, recs[i], t);
		assert_true(n >= prev);
	}
	assert_int_equal(n, 6);
	/* Scale in only to the highest recommendation of the window. */
	for (int i = 0; i < 8; i++, t += 5)
		n = autoscale_stabilize(&h, &s, n, i < 4 ? 4 : 2, t);
	assert_int_equal(n, 4);
	for (int i = 0; i < 8; i++, t += 5)
		n = autoscale_stabilize(&h, &s, n, 2, t);
	assert_int_equal(n, 2);
}

/* With a scale-up window, out to the lowest recommendation in it. */
static void
test_stabilize_up_window(void **state)
{
	struct autoscale_spec	 s = { .min = 1, .max = 10, .target = 50,
	    .up_window_s = 10, .down_window_s = 10 };
	struct autoscale_history h = { 0 };
	long			 n = 2;

	(void)state;
	n = autoscale_stabilize(&h, &s, n, 2, 100);
	n = autoscale_stabilize(&h, &s, n, 8, 101);
	assert_int_equal(n, 2);		/* a 2 is in the last 10 s */
	n = autoscale_stabilize(&h, &s, n, 5, 105);
	assert_int_equal(n, 2);
	n = autoscale_stabilize(&h, &s, n, 8, 111);
	assert_int_equal(n, 5);		/* the lowest since 101 is 5 */
	n = autoscale_stabilize(&h, &s, n, 8, 116);
	assert_int_equal(n, 8);
}

/* Long windows share buckets: the history stays bounded, and the window
 * still holds. */
static void
test_stabilize_long_window(void **state)
{
	static const struct autoscale_spec s = { .min = 1, .max = 20,
	    .target = 50, .down_window_s = 3600 };
	static struct autoscale_history	 h;
	time_t				 t;
	long				 n;

	(void)state;
	n = autoscale_stabilize(&h, &s, 1, 12, 0);
	assert_int_equal(n, 12);
	for (t = 1; t < 3600; t++) {
		n = autoscale_stabilize(&h, &s, n, 3, t);
		assert_true(h.n <= AUTOSCALE_BUCKETS);
		assert_int_equal(n, 12);
	}
	for (; t < 3600 + 120; t++)
		n = autoscale_stabilize(&h, &s, n, 3, t);
	assert_int_equal(n, 3);
}

static void
test_spec_of(void **state)
{
	_cleanup_json_ json_t	*spec = json_loads("{\"replicas\": 1, "
	    "\"autoscale\": {\"min\": 2, \"max\": 5, \"target_cpu_percent\": 30, "
	    "\"stabilization_window_s\": 60}}", 0, NULL);
	_cleanup_json_ json_t	*plain = json_loads("{\"replicas\": 1}", 0, NULL);
	struct autoscale_spec	 s;

	(void)state;
	assert_int_equal(autoscale_spec_of(spec, &s), 0);
	assert_int_equal(s.min, 2);
	assert_int_equal(s.max, 5);
	assert_int_equal(s.target, 30);
	assert_int_equal(s.up_window_s, 0);
	assert_int_equal(s.down_window_s, 60);
	assert_int_equal(autoscale_spec_of(plain, &s), -ENOENT);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_recommend),
		cmocka_unit_test(test_stabilize_clamp_and_window),
		cmocka_unit_test(test_stabilize_no_flap),
		cmocka_unit_test(test_stabilize_up_window),
		cmocka_unit_test(test_stabilize_long_window),
		cmocka_unit_test(test_spec_of),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

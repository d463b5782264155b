#include "config.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "lib/buf.h"
#include "lib/hist.h"
#include "lib/macro.h"

/* A value on a bound falls in that bucket (le is "less or equal"), the
 * buckets are cumulative, _count equals +Inf and _sum is scaled. */
static void
test_buckets_and_render(void **state)
{
	struct hist	 h;
	struct bw_buf	 b = { 0 };

	(void)state;
	hist_init(&h, &hist_pow2);
	hist_observe(&h, 1);
	hist_observe(&h, 3);
	hist_observe(&h, 4);
	hist_observe(&h, 5000);
	assert_int_equal(hist_count(&h), 4);
	hist_render_header(&b, "x_items", "Items.");
	hist_render(&b, "x_items", NULL, &h);
	assert_int_equal(b.err, 0);
	assert_non_null(strstr(b.p, "# HELP x_items Items.\n# TYPE x_items histogram\n"));
	assert_non_null(strstr(b.p, "x_items_bucket{le=\"1\"} 1\n"));
	assert_non_null(strstr(b.p, "x_items_bucket{le=\"2\"} 1\n"));
	assert_non_null(strstr(b.p, "x_items_bucket{le=\"4\"} 3\n"));
	assert_non_null(strstr(b.p, "x_items_bucket{le=\"1024\"} 3\n"));
	assert_non_null(strstr(b.p, "x_items_bucket{le=\"+Inf\"} 4\n"));
	assert_non_null(strstr(b.p, "x_items_sum 5008\n"));
	assert_non_null(strstr(b.p, "x_items_count 4\n"));
	bw_buf_done(&b);
}

static void
test_labels_and_seconds(void **state)
{
	struct hist	 h;
	struct bw_buf	 b = { 0 };

	(void)state;
	hist_init(&h, &hist_seconds);
	hist_observe(&h, 1000000);	/* 1 ms, on a bound */
	hist_observe(&h, 1500000);	/* 1.5 ms */
	hist_render(&b, "x_seconds", "route=\"get\",code=\"200\"", &h);
	assert_int_equal(b.err, 0);
	assert_non_null(strstr(b.p,
	    "x_seconds_bucket{route=\"get\",code=\"200\",le=\"0.0005\"} 0\n"));
	assert_non_null(strstr(b.p,
	    "x_seconds_bucket{route=\"get\",code=\"200\",le=\"0.001\"} 1\n"));
	assert_non_null(strstr(b.p,
	    "x_seconds_bucket{route=\"get\",code=\"200\",le=\"0.0025\"} 2\n"));
	assert_non_null(strstr(b.p,
	    "x_seconds_bucket{route=\"get\",code=\"200\",le=\"10\"} 2\n"));
	assert_non_null(strstr(b.p,
	    "x_seconds_sum{route=\"get\",code=\"200\"} 0.0025\n"));
	assert_non_null(strstr(b.p,
	    "x_seconds_count{route=\"get\",code=\"200\"} 2\n"));
	/* the layouts' bounds ascend and fit */
	assert_true(hist_seconds.nbounds <= HIST_MAX_BUCKETS);
	assert_true(hist_seconds_long.nbounds <= HIST_MAX_BUCKETS);
	for (size_t i = 1; i < hist_seconds.nbounds; i++)
		assert_true(hist_seconds.bounds[i - 1] < hist_seconds.bounds[i]);
	for (size_t i = 1; i < hist_seconds_long.nbounds; i++)
		assert_true(hist_seconds_long.bounds[i - 1] <
		    hist_seconds_long.bounds[i]);
	bw_buf_done(&b);
}

#define NTHREADS	4
#define PER_THREAD	100000

static void *
observer(void *arg)
{
	struct hist *h = arg;

	for (uint64_t i = 0; i < PER_THREAD; i++)
		hist_observe(h, i % 2000);
	return NULL;
}

/* Threads observe at once without losing a count. */
static void
test_concurrent(void **state)
{
	struct hist	h;
	pthread_t	t[NTHREADS];
	uint64_t	per = 0;

	(void)state;
	hist_init(&h, &hist_pow2);
	for (size_t i = 0; i < NTHREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, observer, &h), 0);
	for (size_t i = 0; i < NTHREADS; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(hist_count(&h), NTHREADS * PER_THREAD);
	for (uint64_t i = 0; i < PER_THREAD; i++)
		per += i % 2000;
	assert_int_equal(atomic_load(&h.sum), NTHREADS * per);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buckets_and_render),
		cmocka_unit_test(test_labels_and_seconds),
		cmocka_unit_test(test_concurrent),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

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

/* Observes the N values V into a new histogram of LAYOUT and checks
 * that its rendering under NAME and LABELS holds every line of WANT. */
static void
check_render(const struct hist_layout *layout, const uint64_t *v, size_t n,
    const char *name, const char *labels, const char *const *want)
{
	struct hist	 h;
	struct bw_buf	 b = { 0 };

	hist_init(&h, layout);
	for (size_t i = 0; i < n; i++)
		hist_observe(&h, v[i]);
	assert_int_equal(hist_count(&h), n);
	hist_render_header(&b, name, "Test.");
	hist_render(&b, name, labels, &h);
	assert_int_equal(b.err, 0);
	for (; *want; want++) {
		if (!strstr(b.p, *want))
			fail_msg("missing \"%s\" in:\n%s", *want, b.p);
	}
	bw_buf_done(&b);
}

/* A value on a bound falls in that bucket (le is "less or equal"), the
 * buckets are cumulative, _count equals +Inf and _sum is scaled. */
static void
test_buckets_and_render(void **state)
{
	static const uint64_t v[] = { 1, 3, 4, 5000 };
	static const char *const want[] = {
		"# HELP x_items Test.\n# TYPE x_items histogram\n",
		"x_items_bucket{le=\"1\"} 1\n", "x_items_bucket{le=\"2\"} 1\n",
		"x_items_bucket{le=\"4\"} 3\n", "x_items_bucket{le=\"1024\"} 3\n",
		"x_items_bucket{le=\"+Inf\"} 4\n", "x_items_sum 5008\n",
		"x_items_count 4\n", NULL,
	};

	(void)state;
	check_render(&hist_pow2, v, ELEMENTSOF(v), "x_items", NULL, want);
}

static void
test_labels_and_seconds(void **state)
{
	/* 1 ms (on a bound) and 1.5 ms */
	static const uint64_t v[] = { 1000000, 1500000 };
	static const char *const want[] = {
		"x_seconds_bucket{route=\"get\",code=\"200\",le=\"0.0005\"} 0\n",
		"x_seconds_bucket{route=\"get\",code=\"200\",le=\"0.001\"} 1\n",
		"x_seconds_bucket{route=\"get\",code=\"200\",le=\"0.0025\"} 2\n",
		"x_seconds_bucket{route=\"get\",code=\"200\",le=\"10\"} 2\n",
		"x_seconds_sum{route=\"get\",code=\"200\"} 0.0025\n",
		"x_seconds_count{route=\"get\",code=\"200\"} 2\n", NULL,
	};
	const struct hist_layout *layouts[] = {
		&hist_seconds, &hist_seconds_long, &hist_pow2,
	};

	(void)state;
	check_render(&hist_seconds, v, ELEMENTSOF(v), "x_seconds",
	    "route=\"get\",code=\"200\"", want);
	/* every layout's bounds ascend and fit */
	for (size_t l = 0; l < ELEMENTSOF(layouts); l++) {
		assert_true(layouts[l]->nbounds <= HIST_MAX_BUCKETS);
		for (size_t i = 1; i < layouts[l]->nbounds; i++)
			assert_true(layouts[l]->bounds[i - 1] <
			    layouts[l]->bounds[i]);
	}
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

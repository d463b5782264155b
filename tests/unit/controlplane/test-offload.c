#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "controlplane/offload.h"

/* Jobs wait on a gate the test opens, so what is running, waiting or
 * refused is known when the test looks. */
struct gate {
	pthread_mutex_t	 mu;
	pthread_cond_t	 cv;
	bool		 open;
	unsigned	 started;
};

struct job {
	struct gate		*g;
	struct event_base	*base;
	pthread_t		 loop, worker;
	bool			 ran, done, cancelled, done_on_loop;
	unsigned		*ndone, want;
};

static void
job_work(void *arg)
{
	struct job *j = arg;

	j->worker = pthread_self();
	pthread_mutex_lock(&j->g->mu);
	j->g->started++;
	pthread_cond_broadcast(&j->g->cv);
	while (!j->g->open)
		pthread_cond_wait(&j->g->cv, &j->g->mu);
	pthread_mutex_unlock(&j->g->mu);
	j->ran = true;
}

static void
job_done(void *arg, bool cancelled)
{
	struct job *j = arg;

	j->done = true;
	j->cancelled = cancelled;
	j->done_on_loop = pthread_equal(pthread_self(), j->loop);
	if (++*j->ndone == j->want)
		event_base_loopbreak(j->base);
}

static void
gate_init(struct gate *g)
{
	memset(g, 0, sizeof(*g));
	pthread_mutex_init(&g->mu, NULL);
	pthread_cond_init(&g->cv, NULL);
}

static void
gate_open(struct gate *g)
{
	pthread_mutex_lock(&g->mu);
	g->open = true;
	pthread_cond_broadcast(&g->cv);
	pthread_mutex_unlock(&g->mu);
}

/* Waits until N jobs have started their work. */
static void
gate_wait_started(struct gate *g, unsigned n)
{
	pthread_mutex_lock(&g->mu);
	while (g->started < n)
		pthread_cond_wait(&g->cv, &g->mu);
	pthread_mutex_unlock(&g->mu);
}

static void
jobs_init(struct job *j, size_t n, struct gate *g, struct event_base *base,
    unsigned *ndone, unsigned want)
{
	for (size_t i = 0; i < n; i++)
		j[i] = (struct job){ .g = g, .base = base, .loop = pthread_self(),
		    .ndone = ndone, .want = want };
}

/* Work runs on a worker, its completion on the loop thread. */
static void
test_off_loop(void **state)
{
	struct event_base	*base = event_base_new();
	struct offload		*o = NULL;
	struct gate		 g;
	struct job		 j[1];
	struct timeval		 limit = { 10, 0 };
	unsigned		 ndone = 0;

	(void)state;
	gate_init(&g);
	jobs_init(j, 1, &g, base, &ndone, 1);
	assert_int_equal(offload_new(base, 2, 4, &o), 0);
	gate_open(&g);
	assert_int_equal(offload_submit(o, job_work, job_done, &j[0]), 0);
	event_base_loopexit(base, &limit);
	event_base_dispatch(base);
	assert_true(j[0].ran && j[0].done && !j[0].cancelled);
	assert_true(j[0].done_on_loop);
	assert_false(pthread_equal(j[0].worker, j[0].loop));
	assert_int_equal(offload_jobs(o), 0);
	offload_free(o);
	event_base_free(base);
}

/* One worker and two places: a fourth job is refused while three wait
 * or run; the three complete once the gate opens. */
static void
test_bound(void **state)
{
	struct event_base	*base = event_base_new();
	struct offload		*o = NULL;
	struct gate		 g;
	struct job		 j[4];
	struct timeval		 limit = { 10, 0 };
	unsigned		 ndone = 0;

	(void)state;
	gate_init(&g);
	jobs_init(j, 4, &g, base, &ndone, 3);
	assert_int_equal(offload_new(base, 1, 2, &o), 0);
	assert_int_equal(offload_submit(o, job_work, job_done, &j[0]), 0);
	gate_wait_started(&g, 1);
	assert_int_equal(offload_submit(o, job_work, job_done, &j[1]), 0);
	assert_int_equal(offload_submit(o, job_work, job_done, &j[2]), 0);
	assert_int_equal(offload_submit(o, job_work, job_done, &j[3]), -EBUSY);
	assert_int_equal(offload_jobs(o), 3);
	gate_open(&g);
	event_base_loopexit(base, &limit);
	event_base_dispatch(base);
	for (size_t i = 0; i < 3; i++)
		assert_true(j[i].ran && j[i].done && !j[i].cancelled);
	assert_false(j[3].ran || j[3].done);
	offload_free(o);
	event_base_free(base);
}

static void *
open_later(void *arg)
{
	usleep(100 * 1000);
	gate_open(arg);
	return NULL;
}

/* Draining waits for the running job, cancels the waiting one, runs
 * both completions, and refuses later jobs. */
static void
test_drain(void **state)
{
	struct event_base	*base = event_base_new();
	struct offload		*o = NULL;
	struct gate		 g;
	struct job		 j[3];
	unsigned		 ndone = 0;
	pthread_t		 t;

	(void)state;
	gate_init(&g);
	jobs_init(j, 3, &g, base, &ndone, 2);
	assert_int_equal(offload_new(base, 1, 2, &o), 0);
	assert_int_equal(offload_submit(o, job_work, job_done, &j[0]), 0);
	gate_wait_started(&g, 1);
	assert_int_equal(offload_submit(o, job_work, job_done, &j[1]), 0);
	assert_int_equal(pthread_create(&t, NULL, open_later, &g), 0);
	offload_drain(o);
	pthread_join(t, NULL);
	assert_true(j[0].ran && j[0].done && !j[0].cancelled && j[0].done_on_loop);
	assert_true(!j[1].ran && j[1].done && j[1].cancelled);
	assert_int_equal(offload_submit(o, job_work, job_done, &j[2]), -ESHUTDOWN);
	assert_true(offload_stopping(o));
	offload_drain(o);
	assert_int_equal(ndone, 2);
	offload_free(o);
	event_base_free(base);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_off_loop),
		cmocka_unit_test(test_bound),
		cmocka_unit_test(test_drain),
	};

	evthread_use_pthreads();
	return cmocka_run_group_tests(tests, NULL, NULL);
}

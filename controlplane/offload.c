#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/queue.h>

#include "controlplane/offload.h"

struct offload_job {
	offload_work_fn			 work;
	offload_done_fn			 done;
	void				*arg;
	bool				 cancelled;
	TAILQ_ENTRY(offload_job)	 entry;
};
TAILQ_HEAD(offload_jobq, offload_job);

struct offload {
	struct event		*done_ev;	/* loop: runs completions */
	pthread_mutex_t		 mu;
	pthread_cond_t		 work_cv;	/* a job queued, or stopping */
	pthread_cond_t		 idle_cv;	/* a running job finished */
	struct offload_jobq	 queue;		/* mu: waiting for a worker */
	struct offload_jobq	 done;		/* mu: waiting for the loop */
	unsigned		 nqueued, nrunning, queue_max;	/* mu */
	unsigned		 nthreads;	/* started */
	bool			 joined;
	atomic_bool		 stopping;
	pthread_t		*threads;
};

static void *
offload_main(void *arg)
{
	struct offload		*o = arg;
	struct offload_job	*j = NULL;

	pthread_mutex_lock(&o->mu);
	for (;;) {
		while (!atomic_load(&o->stopping) && !(j = TAILQ_FIRST(&o->queue)))
			pthread_cond_wait(&o->work_cv, &o->mu);
		if (atomic_load(&o->stopping))
			break;
		TAILQ_REMOVE(&o->queue, j, entry);
		o->nqueued--;
		o->nrunning++;
		pthread_mutex_unlock(&o->mu);
		j->work(j->arg);
		pthread_mutex_lock(&o->mu);
		o->nrunning--;
		TAILQ_INSERT_TAIL(&o->done, j, entry);
		pthread_cond_broadcast(&o->idle_cv);
		/* under mu, so offload_free() cannot free the event first */
		event_active(o->done_ev, EV_READ, 0);
	}
	pthread_mutex_unlock(&o->mu);
	return NULL;
}

/* Loop thread: hands each finished (or cancelled) job to its completion,
 * which may submit new jobs. */
static void
offload_done_cb(evutil_socket_t fd, short what, void *arg)
{
	struct offload		*o = arg;
	struct offload_jobq	 q = TAILQ_HEAD_INITIALIZER(q);
	struct offload_job	*j;

	(void)fd;
	(void)what;
	pthread_mutex_lock(&o->mu);
	TAILQ_CONCAT(&q, &o->done, entry);
	pthread_mutex_unlock(&o->mu);
	while ((j = TAILQ_FIRST(&q))) {
		TAILQ_REMOVE(&q, j, entry);
		j->done(j->arg, j->cancelled);
		free(j);
	}
}

int
offload_new(struct event_base *base, unsigned nthreads, unsigned queue_max,
    struct offload **ret)
{
	struct offload	*o;
	sigset_t	 all, old;
	int		 r = 0;

	if (nthreads == 0)
		return -EINVAL;
	if (!(o = calloc(1, sizeof(*o))))
		return -ENOMEM;
	TAILQ_INIT(&o->queue);
	TAILQ_INIT(&o->done);
	o->queue_max = queue_max;
	pthread_mutex_init(&o->mu, NULL);
	pthread_cond_init(&o->work_cv, NULL);
	pthread_cond_init(&o->idle_cv, NULL);
	if (!(o->threads = calloc(nthreads, sizeof(*o->threads))) ||
	    !(o->done_ev = event_new(base, -1, 0, offload_done_cb, o))) {
		offload_free(o);
		return -ENOMEM;
	}
	/* Signals stay with the loop thread (evsignal). */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	for (; o->nthreads < nthreads; o->nthreads++)
		if ((r = -pthread_create(&o->threads[o->nthreads], NULL,
		    offload_main, o)) < 0)
			break;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r < 0) {
		offload_free(o);
		return r;
	}
	*ret = o;
	return 0;
}

int
offload_submit(struct offload *o, offload_work_fn work, offload_done_fn done,
    void *arg)
{
	struct offload_job	*j;
	int			 r = 0;

	if (!(j = calloc(1, sizeof(*j))))
		return -ENOMEM;
	j->work = work;
	j->done = done;
	j->arg = arg;
	pthread_mutex_lock(&o->mu);
	if (atomic_load(&o->stopping))
		r = -ESHUTDOWN;
	else if (o->nqueued >= o->queue_max)
		r = -EBUSY;
	else {
		TAILQ_INSERT_TAIL(&o->queue, j, entry);
		o->nqueued++;
		pthread_cond_signal(&o->work_cv);
	}
	pthread_mutex_unlock(&o->mu);
	if (r < 0)
		free(j);
	return r;
}

bool
offload_stopping(const struct offload *o)
{
	return atomic_load(&o->stopping);
}

unsigned
offload_jobs(const struct offload *o)
{
	struct offload	*m = (struct offload *)o;
	unsigned	 n;

	pthread_mutex_lock(&m->mu);
	n = m->nqueued + m->nrunning;
	pthread_mutex_unlock(&m->mu);
	return n;
}

void
offload_drain(struct offload *o)
{
	struct offload_job *j;

	if (!o || o->joined)
		return;
	pthread_mutex_lock(&o->mu);
	atomic_store(&o->stopping, true);
	while ((j = TAILQ_FIRST(&o->queue))) {
		TAILQ_REMOVE(&o->queue, j, entry);
		o->nqueued--;
		j->cancelled = true;
		TAILQ_INSERT_TAIL(&o->done, j, entry);
	}
	pthread_cond_broadcast(&o->work_cv);
	while (o->nrunning > 0)
		pthread_cond_wait(&o->idle_cv, &o->mu);
	pthread_mutex_unlock(&o->mu);
	for (unsigned i = 0; i < o->nthreads; i++)
		pthread_join(o->threads[i], NULL);
	o->joined = true;
	if (o->done_ev) {
		event_del(o->done_ev);
		offload_done_cb(-1, 0, o);
	}
}

void
offload_free(struct offload *o)
{
	if (!o)
		return;
	offload_drain(o);
	if (o->done_ev)
		event_free(o->done_ev);
	pthread_cond_destroy(&o->idle_cv);
	pthread_cond_destroy(&o->work_cv);
	pthread_mutex_destroy(&o->mu);
	free(o->threads);
	free(o);
}

/* A small bounded pool of worker threads for blocking work that must not
 * stall the event loop (audit search and other long reads): a job's
 * work function runs on a worker thread, then its completion runs on the
 * loop thread, where it may answer the client and audit. The work
 * function owns the data it is given and touches nothing the loop owns;
 * the loop does not touch that data until the completion runs. */
#ifndef BW_OFFLOAD_H
#define BW_OFFLOAD_H

#include <stdbool.h>

#include <event2/event.h>

/* Worker threads and jobs waiting for one (docs/operations.md). */
#define OFFLOAD_THREADS		2
#define OFFLOAD_QUEUE_MAX	8
/* What a refused job's client is told to wait before trying again. */
#define OFFLOAD_RETRY_AFTER_SECS	2

struct offload;

/* Runs on a worker thread with the ARG given to offload_submit(). */
typedef void (*offload_work_fn)(void *arg);
/* Runs on the loop thread once WORK has returned, or without WORK having
 * run when CANCELLED (offload_drain() before a worker took the job); it
 * owns ARG from then on. */
typedef void (*offload_done_fn)(void *arg, bool cancelled);

/* Starts NTHREADS workers taking at most QUEUE_MAX waiting jobs, whose
 * completions run on BASE (which must have libevent's thread support
 * on: evthread_use_pthreads()). Returns 0 and *RET (free with
 * offload_free()) or a negative error. */
int offload_new(struct event_base *base, unsigned nthreads, unsigned queue_max,
    struct offload **ret);

/* Queues a job. Returns 0 (DONE will be called exactly once with ARG),
 * -EBUSY when QUEUE_MAX jobs wait already, or -ESHUTDOWN after
 * offload_drain(); on error nothing was taken and DONE is never called. */
int offload_submit(struct offload *o, offload_work_fn work,
    offload_done_fn done, void *arg);

/* Whether the job running on the calling worker thread should stop early
 * (offload_drain() was called). */
bool offload_stopping(const struct offload *o);

/* Jobs queued or running. */
unsigned offload_jobs(const struct offload *o);

/* Refuses new jobs, cancels the waiting ones, waits for the running ones
 * and runs every completion, on the calling (loop) thread. Idempotent. */
void offload_drain(struct offload *o);

/* Drains O, stops its threads and frees it (NULL ok). */
void offload_free(struct offload *o);

#endif

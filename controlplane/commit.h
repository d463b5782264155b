/* The commit pipeline: the only path by which the API changes state.
 * A dedicated thread takes every queued mutation and stages them in one
 * store transaction; their audit records go into the store's audit
 * outbox in that transaction, so a batch is answered once the store has
 * committed it (mutations and records durable together). An appender
 * thread then writes the records to the trail, in order (group commit
 * for both). If the trail refuses records nothing new
 * is accepted until it has taken the outbox's (no audit record, no
 * mutation: AU-5); after a crash, commit_start() gives the trail the
 * records it lacks. After each batch the same thread runs the store's
 * housekeeping (store_maintain: change-log compaction in bounded
 * transactions, the high-water mark). Completions run back on the event
 * loop's thread. */
#ifndef BW_COMMIT_H
#define BW_COMMIT_H

#include <stdbool.h>
#include <sys/queue.h>

#include <event2/event.h>

#include "audit/record.h"
#include "controlplane/store.h"

struct audit_trail;
struct committer;

struct commit_req {
	struct store_op		 op;		/* key/value owned by the caller */
	struct audit_record	 rec;		/* outcome and reason set by the pipeline */
	int			 result;	/* 0, or why the mutation was refused */
	char			 reason[160];
	/* Set by the pipeline: the store's refusal, and the caller's own
	 * reason kept while a batch is retried (commit_ops()). */
	char			 failure[160];
	const char		*given_reason;
	/* Runs on the loop thread once the batch is durable or refused. */
	void			(*done)(struct commit_req *req);
	void			*arg;
	/* Set by commit_submit_group() on a group's first request: the
	 * requests in the group (0 otherwise). */
	size_t			 group;
	TAILQ_ENTRY(commit_req)	 entry;
};

/* Starts the committer thread for STORE and TRAIL (TRAIL may be NULL
 * only in tests of the store alone). Completions are delivered through
 * BASE, which must have been created after evthread_use_pthreads().
 * First appends to TRAIL the records of acknowledged mutations that the
 * store's audit outbox holds from before a restart, skipping those the
 * trail in AUDIT_DIR (may be NULL: skip none) already holds. */
int commit_start(struct event_base *base, struct store *st,
    struct audit_trail *trail, const char *audit_dir, struct committer **ret);

/* Queues REQ (caller keeps ownership until done() runs). */
void commit_submit(struct committer *c, struct commit_req *req);

/* Queues the N requests REQS, each on its own as commit_submit() does
 * (committed or refused alone), under one lock: a committer woken by
 * the first of them would otherwise take a batch of the few queued so
 * far and flush it while the rest wait (a controller pass's hundreds of
 * placements went out in batches of ~35). Caller keeps ownership. */
void commit_submit_many(struct committer *c, struct commit_req **reqs,
    size_t n);

/* Queues the N requests REQS (N <= STORE_BATCH_MAX, their keys and
 * values within STORE_BATCH_BYTES_MAX) as one group: they are staged
 * alone, in order, in one store transaction, and applied all or none
 * (STORE_BATCH_ATOMIC), each with its audit record when applied. Each
 * done() runs, all in the same turn of the loop; on refusal every
 * req->result is the error and req->op.result the op's own (nonzero on
 * the op that failed a precondition), and the pipeline wrote no record:
 * the caller records the refusal. The caller keeps ownership. */
void commit_submit_group(struct committer *c, struct commit_req **reqs,
    size_t n);

/* Queues an audit record for something that changed nothing (a read, a
 * denied request). It is written with the next batch, or after at most
 * about 20 ms on the queue and the appender's grouping; if it cannot be
 * made durable it is counted as lost, and the loss is itself recorded
 * once the trail accepts records again. REC's strings are copied. */
void commit_audit_async(struct committer *c, const struct audit_record *rec);

/* Has the trail take every record of a mutation already acknowledged
 * (they are durable in the store's audit outbox, and reach the trail
 * within a few milliseconds) and every record queued by
 * commit_audit_async() before the call, and waits for it; for readers
 * of the trail. It waits for a ticket taken at the call, not for the
 * queues to empty: records and mutations queued while it waits do not
 * hold it, so a steady stream of writes cannot starve it. It returns
 * once the committer has handed those records to the appender and the
 * appender has appended them (or failed to: a mutation's record is then
 * appended from the outbox before any new mutation is accepted). It may
 * wait for the committer's current batch (a store commit, etcd round
 * trips) and a trail fdatasync, so it is not for the event loop's
 * thread. Any thread but the committer's; not after commit_stop(). */
void commit_audit_flush(struct committer *c);

/* How many records of commit_audit_async() were lost since the start:
 * dropped on the queue or not posted, or in an append that failed.
 * Unlike commit_stats()' lost_records it never goes down (that one
 * drops once the loss itself is recorded), so the same value before
 * some commit_audit_async() calls and after a commit_audit_flush()
 * that followed them says none of those records was lost: they are
 * in the trail (daemon/update-journal.c). 0 without a trail: then
 * commit_audit_async() records nothing (check commit_has_trail()). */
unsigned long long commit_audit_lost_total(struct committer *c);

/* Whether C writes a trail (commit_start() was given one). */
bool commit_has_trail(const struct committer *c);

struct commit_stats {
	unsigned long long	batches, mutations, refused_audit, lost_records;
	int			audit_healthy;
};
void commit_stats(struct committer *c, struct commit_stats *ret);

/* Histograms for /metrics of the batches that carried mutations: the
 * time from staging to durable (seconds) and the mutations in each.
 * Valid until commit_stop(). */
struct hist;
const struct hist *commit_hist_duration(const struct committer *c);
const struct hist *commit_hist_mutations(const struct committer *c);

/* Adds a function run on the loop thread after each batch's completions
 * (the API pushes changes to watch streams, controllers reconcile).
 * Returns 0 or -ENOSPC past COMMIT_OBSERVERS_MAX. */
#define COMMIT_OBSERVERS_MAX	4
int commit_add_observer(struct committer *c, void (*fn)(void *arg), void *arg);

/* For an observer: whether the requests completed since the observers
 * last ran changed objects of kind PLURAL ("workloads"). Errs towards 1
 * (more than COMMIT_TOUCHED_MAX kinds, or keys outside "/r/"). */
#define COMMIT_TOUCHED_MAX	8
int commit_touched(const struct committer *c, const char *plural);

/* For an observer: the keys written by the requests completed since
 * the observers last ran, in completion order (a key may repeat), in
 * *RET_KEYS (owned by C, valid until the observer returns) and *RET_N.
 * Returns 0, or -EOVERFLOW when more than COMMIT_CHANGED_MAX keys were
 * written (or one could not be kept): the observer missed changes and
 * must re-read from the store whatever it keeps. */
#define COMMIT_CHANGED_MAX	4096
int commit_changed(const struct committer *c, const char *const **ret_keys,
    size_t *ret_n);
void commit_remove_observer(struct committer *c, void (*fn)(void *arg), void *arg);

/* Drains the queue, stops the thread and frees C (NULL ok). */
void commit_stop(struct committer *c);

#endif

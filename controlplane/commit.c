#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "audit/search.h"
#include "audit/trail.h"
#include "controlplane/commit.h"
#include "controlplane/outbox.h"
#include "lib/clock.h"
#include "lib/err.h"
#include "lib/hist.h"
#include "lib/macro.h"

/* Upper bound on one batch of unrelated requests: keeps one transaction
 * and one audit write bounded while still amortising the fsyncs over
 * many requests. A group (commit_submit_group()) goes alone, up to the
 * store's own bounds (STORE_BATCH_MAX ops and STORE_BATCH_BYTES_MAX
 * bytes), so a batch never exceeds either. */
#define COMMIT_BATCH_MAX	1024
#define COMMIT_CONFLICT_RETRIES	8	/* store_batch() -EAGAIN: see commit_ops() */
#define ASYNC_QUEUE_MAX		65536
/* Outbox entries read at once. The outbox holds the mutations the
 * appender has not yet appended (at most APPEND_PENDING_MAX, then the
 * committer waits for it), those it appended since the last
 * transaction (deleted by the next), and one batch more (a group may
 * pass APPEND_PENDING_MAX by up to STORE_BATCH_MAX), so one read gets
 * them all. */
#define OUTBOX_DRAIN_MAX	(4 * STORE_BATCH_MAX)
/* An idle committer deletes the outbox entries the trail holds after
 * this long, so a quiet appliance does not replay them after a crash. */
#define OUTBOX_TRIM_IDLE_MS	200
/* The appender commits to the trail at most once per this many
 * microseconds while batches keep coming, everything queued at once:
 * each trail commit is an fdatasync, and one running beside the store's
 * write-ahead log flush slows that flush, which is what a client waits
 * for (measured: ~0.08 ms of a 0.6 ms request at one client). The
 * records are durable in the store's outbox meanwhile, and the API's
 * audit search flushes first. At 2 ms, a fleet of 5,000 nodes whose
 * heartbeats change their Node (500 single-write batches a second, one
 * every 2 ms) cost one trail commit per write; at 10 ms about five
 * share one (measured 2026-12-06, bench/README.md). */
#define APPEND_GROUP_US		10000
/* How long records of requests that changed nothing (reads, denials,
 * writes that found the object as asked) wait for others before the
 * appender commits them alone: they are not acknowledged durable (a
 * crash may lose them, counted as lost like any async record), and one
 * fdatasync per such request would cost more than the request (500
 * unchanged writes a second: about 4 % of a core, measured 2026-12-06).
 * A mutation's batch, or a reader's flush, takes them along at once. */
#define APPEND_ASYNC_GROUP_US	50000
/* Records of requests that changed nothing wait on the committer's
 * queue this long (or until ASYNC_GATHER_MAX of them, a mutation, a
 * flush or the stop) before it takes them all at once: the committer
 * is not woken, nor an appender job built, for each one. At 500
 * unchanged heartbeats a second, one wake-up per record was a futex
 * wake on the loop and a context switch in and out of the committer
 * per request (measured 2026-12-07, bench/README.md); now about one
 * per ASYNC_GATHER_US. They reach the appender at most this much later
 * than before, and it groups them for APPEND_ASYNC_GROUP_US anyway. */
#define ASYNC_GATHER_US		20000
#define ASYNC_GATHER_MAX	256
/* Mutations the appender may have queued before the committer waits
 * for it: bounds what the outbox holds (OUTBOX_DRAIN_MAX). */
#define APPEND_PENDING_MAX	COMMIT_BATCH_MAX

struct async_rec {
	struct audit_record	 rec;
	TAILQ_ENTRY(async_rec)	 entry;
	char			 strings[];	/* the copied fields of rec */
};

TAILQ_HEAD(req_list, commit_req);
TAILQ_HEAD(async_list, async_rec);

/* One batch's records on their way to the trail, after the batch was
 * committed to the store (and its clients answered). */
struct ajob {
	TAILQ_ENTRY(ajob)	 entry;
	struct audit_record	*recs;
	size_t			 n;
	struct async_list	 copies;	/* what recs point into */
	uint64_t		 last_id;	/* outbox ids up to it; 0: none */
	size_t			 nmut;		/* mutations among recs */
	size_t			 nasync;	/* records of reads and denials */
	unsigned long long	 lost;		/* the loss its record reports */
	int			 result;
	uint64_t		 last_seq;
	uint64_t		 seq;		/* ticket: apost_seq when posted */
	char			 reason[160];	/* of refused mutations */
};
TAILQ_HEAD(ajob_list, ajob);

struct committer {
	pthread_t		 thread;
	pthread_mutex_t		 mu;
	pthread_cond_t		 cv;
	struct req_list		 queue, done;
	struct async_list	 async;
	size_t			 async_n;
	uint64_t		 async_since_ns;	/* the oldest's arrival */
	/* Tickets for commit_audit_flush(): ASYNC_SEQ counts the records
	 * ever queued, ASYNC_TAKEN_SEQ those the committer took, and
	 * ASYNC_DONE_SEQ those handed to the appender (or counted lost).
	 * A flush waits on ASYNC_CV for ASYNC_DONE_SEQ to reach the
	 * ASYNC_SEQ of its call, and ASYNC_FLUSH_TO (the highest such
	 * ticket) has the committer take them without gathering; records
	 * queued after the call do not hold it, so a steady stream of
	 * them cannot starve it. */
	uint64_t		 async_seq, async_taken_seq, async_done_seq;
	/* Records of commit_audit_async() dropped before the appender had
	 * them (a full queue, no memory, a job not posted): only grows,
	 * unlike STATS.LOST_RECORDS (commit_audit_lost_total()). */
	uint64_t		 async_lost_total;
	uint64_t		 async_flush_to;
	pthread_cond_t		 async_cv;
	int			 stopping;
	/* The committer wakes the loop through its own eventfd (DONE_FD,
	 * read by DONE_EV), not event_active(): that takes the loop's lock,
	 * and the loop, woken by it, would sleep once more on that lock
	 * (a futex round trip and a context switch per batch). */
	int			 done_fd;
	struct event		*done_ev;
	struct event		*observe_ev;	/* runs the observers */
	struct store		*st;
	struct audit_trail	*trail;
	struct commit_stats	 stats;
	struct hist		 batch_ns, batch_size;	/* commit_hist_*() */
	struct {
		void		(*fn)(void *arg);
		void		*arg;
	}			 observers[COMMIT_OBSERVERS_MAX];
	/* The kinds (key segment after "/r/") that the requests completed
	 * since the observers last ran wrote; loop thread only. */
	char			 touched[COMMIT_TOUCHED_MAX][32];
	size_t			 ntouched;
	int			 touched_all;	/* more, or keys of no kind */
	/* The keys those requests wrote, in completion order (copies);
	 * past COMMIT_CHANGED_MAX, changed_gap says some were dropped. */
	char			**changed;
	size_t			 nchanged;
	int			 changed_gap;

	/* The audit outbox; only the committer thread (and commit_start
	 * before it runs) touches these. */
	uint64_t		 next_id;	/* id of the next outbox entry */
	uint64_t		 trail_seq;	/* <= the trail's last seq */
	uint64_t		 done_id;	/* the trail holds every entry <= it */
	uint64_t		 trimmed_id;	/* the outbox holds nothing <= it */
	int			 backlog;	/* entries > done_id await the trail */
	int			 replay;	/* ... since before a restart */

	/* The appender thread writes committed batches' records to the
	 * trail (their clients were answered: the records are durable in
	 * the store's outbox already). Under AMU: the queue, the jobs done
	 * and not yet collected by the committer, and the flags. Once an
	 * append fails, every job after it fails unwritten (AFAILED) until
	 * the committer has put the outbox's records back in order
	 * (drain_backlog()), so the trail never holds a later batch without
	 * an earlier one. */
	pthread_t		 athread;
	pthread_mutex_t		 amu;
	pthread_cond_t		 acv;		/* CLOCK_MONOTONIC */
	struct ajob_list	 aqueue, adone;
	int			 afailed;
	uint64_t		 alost_total;	/* such records in failed appends */
	/* Tickets for a wait on the appender (commit_audit_flush(),
	 * appender_collect()): APOST_SEQ numbers the jobs posted (J->SEQ),
	 * ADONE_SEQ is the last one appended or failed, and AFLUSH_TO (the
	 * highest ticket waited for) has the appender append without
	 * grouping until ADONE_SEQ reaches it. Jobs posted after a wait
	 * began do not hold it. */
	uint64_t		 apost_seq, adone_seq, aflush_to;
	int			 astop;
	size_t			 aqmut;		/* jobs in AQUEUE with mutations */
	uint64_t		 alast_ns;	/* start of the last append */
	/* Committer thread only. */
	size_t			 apending;	/* mutations posted, not collected */
	unsigned long long	 lost_pending;	/* reported by jobs in flight */
};

struct batch_ctx {
	struct committer	 *c;
	struct commit_req	**reqs;
	size_t			  nreqs;
	struct async_list	 *async;
	size_t			  nasync;
	unsigned long long	  lost;		/* the loss the batch reports */
	size_t			  nrecs;
	uint64_t		  trim_to;	/* outbox entries removed */
	struct audit_record	 *recs;		/* what the appender writes */
	struct async_list	  copies;	/* owned copies recs point into */
};

static struct async_rec *
async_rec_copy(const struct audit_record *src)
{
	const char *const *fields[] = {
		&src->actor, &src->role, &src->tenant, &src->source,
		&src->auth_method, &src->action, &src->object_kind,
		&src->object_tenant, &src->object_name, &src->outcome,
		&src->reason, &src->controls,
	};
	const char	**dst[ELEMENTSOF(fields)];
	struct async_rec *a;
	size_t		 i, total = 0;
	char		*p;

	for (i = 0; i < ELEMENTSOF(fields); i++)
		total += *fields[i] ? strlen(*fields[i]) + 1 : 0;
	if (!(a = calloc(1, sizeof(*a) + total)))
		return NULL;
	a->rec = *src;
	dst[0] = &a->rec.actor; dst[1] = &a->rec.role; dst[2] = &a->rec.tenant;
	dst[3] = &a->rec.source; dst[4] = &a->rec.auth_method;
	dst[5] = &a->rec.action; dst[6] = &a->rec.object_kind;
	dst[7] = &a->rec.object_tenant; dst[8] = &a->rec.object_name;
	dst[9] = &a->rec.outcome; dst[10] = &a->rec.reason;
	dst[11] = &a->rec.controls;
	p = a->strings;
	for (i = 0; i < ELEMENTSOF(fields); i++) {
		if (!*fields[i]) {
			*dst[i] = NULL;
			continue;
		}
		size_t len = strlen(*fields[i]) + 1;

		memcpy(p, *fields[i], len);
		*dst[i] = p;
		p += len;
	}
	return a;
}

static void
ajob_free(struct ajob *j)
{
	struct async_rec *cp;

	if (!j)
		return;
	while ((cp = TAILQ_FIRST(&j->copies))) {
		TAILQ_REMOVE(&j->copies, cp, entry);
		free(cp);
	}
	free(j->recs);
	free(j);
}

/* When the appender commits what it has queued (amu held): once
 * APPEND_GROUP_US has passed since its last commit if a job carries
 * mutations' records (their outbox entries wait for it), else once
 * APPEND_ASYNC_GROUP_US has. */
static uint64_t
appender_due(const struct committer *c)
{
	if (c->aqmut > 0)
		return c->alast_ns + APPEND_GROUP_US * 1000u;
	return c->alast_ns + APPEND_ASYNC_GROUP_US * 1000u;
}

/* Appends everything queued in one trail commit, at most once per
 * APPEND_GROUP_US unless asked to flush (see APPEND_GROUP_US), or per
 * APPEND_ASYNC_GROUP_US for records of requests that changed nothing. */
static void *
appender_thread(void *arg)
{
	struct committer	*c = arg;
	struct ajob_list	 take;
	struct ajob		*j;
	struct audit_record	*all;
	uint64_t		 last, due;
	size_t			 total, k;
	int			 r, failed;

	pthread_mutex_lock(&c->amu);
	for (;;) {
		while (TAILQ_EMPTY(&c->aqueue) && !c->astop)
			pthread_cond_wait(&c->acv, &c->amu);
		if (TAILQ_EMPTY(&c->aqueue))
			break;
		while (!c->astop && c->aflush_to <= c->adone_seq &&
		    bw_mono_ns() < (due = appender_due(c))) {
			struct timespec ts = bw_mono_timespec(due);

			pthread_cond_timedwait(&c->acv, &c->amu, &ts);
		}
		TAILQ_INIT(&take);
		TAILQ_CONCAT(&take, &c->aqueue, entry);
		c->aqmut = 0;
		failed = c->afailed;
		c->alast_ns = bw_mono_ns();
		pthread_mutex_unlock(&c->amu);

		total = 0;
		TAILQ_FOREACH(j, &take, entry)
			total += j->n;
		last = 0;
		r = -BW_E_AUDIT;
		if (!failed && (all = calloc(total ? total : 1, sizeof(*all)))) {
			k = 0;
			TAILQ_FOREACH(j, &take, entry) {
				memcpy(all + k, j->recs, j->n * sizeof(*all));
				k += j->n;
			}
			r = audit_trail_append(c->trail, all, total, &last);
			free(all);
		}
		pthread_mutex_lock(&c->amu);
		if (r < 0)
			c->afailed = 1;
		TAILQ_FOREACH(j, &take, entry) {
			if (r < 0)
				c->alost_total += j->nasync;
			j->result = r < 0 ? -BW_E_AUDIT : 0;
			j->last_seq = last;
			c->adone_seq = j->seq;	/* posted in order */
		}
		TAILQ_CONCAT(&c->adone, &take, entry);
		pthread_cond_broadcast(&c->acv);
	}
	pthread_mutex_unlock(&c->amu);
	return NULL;
}

/* Hands J to the appender thread (the committer thread's only). */
static void
appender_post(struct committer *c, struct ajob *j)
{
	int wake;

	c->apending += j->nmut;
	c->lost_pending += j->lost;
	pthread_mutex_lock(&c->amu);
	/* Only an idle appender, or one grouping records alone whose
	 * deadline the first mutation's job brings forward
	 * (appender_due()), needs waking: one grouping mutations' records
	 * takes this job at the deadline it has. */
	wake = TAILQ_EMPTY(&c->aqueue) || (j->nmut > 0 && c->aqmut == 0);
	if (j->nmut > 0)
		c->aqmut++;
	j->seq = ++c->apost_seq;
	TAILQ_INSERT_TAIL(&c->aqueue, j, entry);
	pthread_mutex_unlock(&c->amu);
	/* after the unlock, as commit_submit() signals; the appender tests
	 * its queue and deadline under AMU before it waits */
	if (wake)
		pthread_cond_broadcast(&c->acv);
}

/* Waits (C->amu held) until the appender has appended, or failed, every
 * job posted before the call, having it append them without grouping.
 * Jobs posted meanwhile are not waited for. */
static void
appender_wait_locked(struct committer *c)
{
	uint64_t ticket = c->apost_seq;

	if (c->adone_seq >= ticket)
		return;
	if (c->aflush_to < ticket)
		c->aflush_to = ticket;
	pthread_cond_broadcast(&c->acv);
	while (c->adone_seq < ticket)
		pthread_cond_wait(&c->acv, &c->amu);
}

/* Takes the results of the jobs the appender has finished, in order:
 * the outbox entries of appended batches may go, and a failure stops
 * every later mutation until the outbox's records are in the trail
 * (backlog). With WAIT, first has the appender append everything
 * queued now and waits for it. */
static void
appender_collect(struct committer *c, int wait)
{
	struct ajob_list	 done;
	struct ajob		*j;

	TAILQ_INIT(&done);
	pthread_mutex_lock(&c->amu);
	if (wait)
		appender_wait_locked(c);
	TAILQ_CONCAT(&done, &c->adone, entry);
	pthread_mutex_unlock(&c->amu);
	while ((j = TAILQ_FIRST(&done))) {
		TAILQ_REMOVE(&done, j, entry);
		c->apending -= j->nmut;
		c->lost_pending -= j->lost;
		if (j->result == 0) {
			if (j->last_id)
				c->done_id = j->last_id;
			c->trail_seq = j->last_seq;
			if (j->lost) {
				pthread_mutex_lock(&c->mu);
				c->stats.lost_records -= j->lost;
				pthread_mutex_unlock(&c->mu);
			}
		} else {
			/* Mutations' records are durable in the outbox:
			 * their acknowledgements stand, and the trail gets
			 * them before anything new is accepted. */
			c->backlog = 1;
			pthread_mutex_lock(&c->mu);
			c->stats.lost_records += j->nasync;
			c->stats.audit_healthy = 0;
			pthread_mutex_unlock(&c->mu);
		}
		ajob_free(j);
	}
}

static int
append_sync(struct committer *c, struct audit_record *recs, size_t n)
{
	uint64_t last = 0;

	if (n == 0)
		return 0;
	if (audit_trail_append(c->trail, recs, n, &last) < 0)
		return -BW_E_AUDIT;
	c->trail_seq = last;
	return 0;
}

/* Appends to the trail the outbox entries it does not hold yet (after
 * a failed append, or from before a restart). Returns 0 once none is
 * left, or -BW_E_AUDIT while the trail refuses them. */
static int
drain_backlog(struct committer *c)
{
	/* In order: whatever the appender still holds goes (or fails)
	 * first. */
	appender_collect(c, 1);
	while (c->backlog) {
		struct store_outbox_entry *e = NULL;
		_cleanup_free_ struct audit_record *recs = NULL;
		struct outbox_rec **dec = NULL;
		char	 why[192];
		size_t	 n = 0, i, k = 0, nd = 0;
		uint64_t last_id = c->done_id;
		int	 r;

		if ((r = store_outbox_list(c->st, OUTBOX_DRAIN_MAX, &e, &n)) < 0)
			return -BW_E_AUDIT;
		if (!(recs = calloc(n + 1, sizeof(*recs))) ||
		    !(dec = calloc(n + 1, sizeof(*dec)))) {
			store_outbox_entries_free(e, n);
			free(dec);
			return -BW_E_AUDIT;
		}
		for (i = 0; i < n; i++) {
			if (e[i].id <= c->done_id)
				continue;
			last_id = e[i].id;
			/* An entry that does not decode cannot be replayed;
			 * its id is named in the replay record below. */
			if (outbox_decode(e[i].id, e[i].value, e[i].len,
			    &dec[nd]) == 0)
				nd++;
		}
		if (nd > 0 && c->replay) {
			snprintf(why, sizeof(why), "%zu audit records of "
			    "mutations acknowledged before a restart were "
			    "replayed from the store's audit outbox (ids up to "
			    "%llu)", nd, (unsigned long long)last_id);
			recs[k++] = (struct audit_record){
				.actor = "bulwarkd", .role = "system",
				.tenant = "system", .source = "local",
				.auth_method = "none",
				.action = "audit.outbox_replay",
				.outcome = "success", .reason = why,
				.controls = "AU-5,AU-9",
			};
		}
		for (i = 0; i < nd; i++)
			recs[k++] = dec[i]->rec;
		r = append_sync(c, recs, k);
		for (i = 0; i < nd; i++)
			free(dec[i]);
		free(dec);
		store_outbox_entries_free(e, n);
		if (r < 0)
			return r;
		if (n == OUTBOX_DRAIN_MAX && last_id == c->done_id) {
			/* a full read of entries the trail already has:
			 * delete them before reading on */
			if (store_outbox_trim(c->st, c->done_id) < 0)
				return -BW_E_AUDIT;
			c->trimmed_id = c->done_id;
			continue;
		}
		c->done_id = last_id;
		if (n < OUTBOX_DRAIN_MAX) {
			c->backlog = 0;
			c->replay = 0;
		}
	}
	pthread_mutex_lock(&c->amu);
	c->afailed = 0;
	pthread_mutex_unlock(&c->amu);
	return 0;
}

struct outbox_match {
	struct outbox_rec	**recs;
	size_t			  n, i;
};

static int
outbox_match_cb(const struct audit_record *rec, const char *line, size_t len,
    void *userdata)
{
	struct outbox_match *m = userdata;

	(void)rec;
	/* A batch's records are appended together and batches in id
	 * order, so the ones the trail holds are a prefix of the outbox,
	 * found in order. */
	if (m->i < m->n && outbox_line_matches(&m->recs[m->i]->rec, line,
	    len) == 1)
		m->i++;
	return 0;
}

/* After a restart: finds which outbox entries the trail already holds
 * (the crash may have come after their append but before their
 * removal) so that only the others are replayed. */
static void
outbox_recover(struct committer *c, const char *audit_dir)
{
	struct store_outbox_entry *e = NULL;
	struct outbox_match m = { 0 };
	struct audit_search_filter f = { 0 };
	size_t	 n = 0, i;
	char	*err = NULL;

	if (store_outbox_list(c->st, OUTBOX_DRAIN_MAX, &e, &n) < 0 || n == 0)
		goto out;
	c->next_id = e[n - 1].id + 1;
	c->backlog = 1;
	c->replay = 1;
	if (!audit_dir || !(m.recs = calloc(n, sizeof(*m.recs))))
		goto out;
	for (i = 0; i < n; i++)
		if (outbox_decode(e[i].id, e[i].value, e[i].len,
		    &m.recs[m.n]) == 0)
			m.n++;
		else
			break;	/* match only the prefix that decodes */
	if (m.n == 0)
		goto out;
	f.seq_from = m.recs[0]->seq_floor + 1;
	if (audit_search_dir(audit_dir, &f, outbox_match_cb, &m, &err) < 0) {
		/* unknown: replay them all rather than risk losing one */
		free(err);
		m.i = 0;
	}
	if (m.i > 0)
		c->done_id = m.recs[m.i - 1]->id;
out:
	if (e && n > 0 && c->next_id <= e[n - 1].id)
		c->next_id = e[n - 1].id + 1;
	for (i = 0; i < m.n; i++)
		free(m.recs[i]);
	free(m.recs);
	store_outbox_entries_free(e, n);
}

static const char *
op_outcome(int result)
{
	if (result == 0)
		return "success";
	return "failure";
}

/* Called by the store with every op staged and nothing committed yet.
 * Each op's record (with the outcome it will have) goes into the
 * store's audit outbox in the same transaction, so the commit makes the
 * mutation and its record durable together; once it has, the batch is
 * answered and the appender thread writes the same records to the
 * trail. */
/* The record that says LOST records of non-mutating requests could not
 * be written while the trail was unavailable; its reason is in BUF. */
static struct audit_record
lost_record(unsigned long long lost, char *buf, size_t len)
{
	snprintf(buf, len, "%llu audit records of non-mutating requests were "
	    "lost while the trail was unavailable", lost);
	return (struct audit_record){
		.actor = "bulwarkd", .role = "system", .tenant = "system",
		.source = "local", .auth_method = "none",
		.action = "audit.records_lost", .outcome = "failure",
		.reason = buf, .controls = "AU-5,AU-9",
	};
}

static int
batch_before_commit(void *arg, const struct store_op *ops, size_t n)
{
	struct batch_ctx	*b = arg;
	struct committer	*c = b->c;
	struct audit_record	*recs;
	struct async_rec	*cp;
	static char		 lost_reason[192];
	size_t			 i, k = 0, total;
	unsigned long long	 lost;
	int			 r;

	if (!c->trail)
		return 0;
	pthread_mutex_lock(&c->mu);
	lost = c->stats.lost_records - c->lost_pending;
	pthread_mutex_unlock(&c->mu);
	total = n + (lost ? 1 : 0);
	if (!(recs = calloc(total, sizeof(*recs))))
		return -ENOMEM;
	/* Loss is never silent: the first batch the trail accepts again
	 * says how many records could not be written. Only the committer
	 * thread writes the reason. */
	if (lost) {
		struct audit_record lr = lost_record(lost, lost_reason,
		    sizeof(lost_reason));

		if (!(cp = async_rec_copy(&lr))) {
			free(recs);
			return -ENOMEM;
		}
		TAILQ_INSERT_TAIL(&b->copies, cp, entry);
		recs[k++] = cp->rec;
	}
	for (i = 0; i < n; i++) {
		struct commit_req *req = b->reqs[i];
		_cleanup_free_ void *ent = NULL;
		size_t	 len;

		req->rec.outcome = op_outcome(ops[i].result);
		req->rec.object_revision = ops[i].result == 0 ? ops[i].rev : 0;
		if (ops[i].result != 0) {
			snprintf(req->failure, sizeof(req->failure), "%s",
			    bw_strerror(ops[i].result));
			req->rec.reason = req->failure;
		}
		if ((r = outbox_encode(&req->rec, c->trail_seq, &ent, &len)) < 0 ||
		    (r = store_outbox_put(c->st, c->next_id + i, ent, len)) < 0) {
			free(recs);
			return r == -BW_E_INVALID ? -BW_E_AUDIT : r;
		}
		/* The appender may still write it after the request was
		 * answered and freed: it gets a copy. */
		if (!(cp = async_rec_copy(&req->rec))) {
			free(recs);
			return -ENOMEM;
		}
		TAILQ_INSERT_TAIL(&b->copies, cp, entry);
		recs[k++] = cp->rec;
	}
	if (c->done_id > c->trimmed_id) {
		if ((r = store_outbox_remove(c->st, c->done_id)) < 0) {
			free(recs);
			return r;
		}
		b->trim_to = c->done_id;
	}
	b->recs = recs;
	b->nrecs = k;
	b->lost = lost;
	return 0;
}

/* Makes a trail job of B's records (B gives them up). */
static struct ajob *
ajob_from_batch(struct batch_ctx *b, uint64_t last_id, size_t nmut)
{
	struct ajob *j = calloc(1, sizeof(*j));

	if (!j)
		return NULL;
	TAILQ_INIT(&j->copies);
	j->recs = TAKE_PTR(b->recs);
	j->n = b->nrecs;
	TAILQ_CONCAT(&j->copies, &b->copies, entry);
	j->last_id = last_id;
	j->nmut = nmut;
	j->nasync = b->nasync;
	j->lost = b->lost;
	return j;
}

/* Queues B's records of requests that changed nothing (reads, denials)
 * for the trail as a job of their own; the records move to the job.
 * Returns 0 (posted, or none to post) or -BW_E_AUDIT (not posted: B
 * still owns them). */
static int
post_async_only(struct committer *c, struct batch_ctx *b)
{
	struct async_rec	*a, *cp;
	char			 lost_reason[192];
	unsigned long long	 lost;
	struct ajob		*j;
	size_t			 k = 0;

	if (!c->trail || b->nasync == 0)
		return 0;
	pthread_mutex_lock(&c->mu);
	lost = c->stats.lost_records - c->lost_pending;
	pthread_mutex_unlock(&c->mu);
	if (!(b->recs = calloc(b->nasync + 1, sizeof(*b->recs))))
		return -BW_E_AUDIT;
	if (lost) {
		struct audit_record lr = lost_record(lost, lost_reason,
		    sizeof(lost_reason));

		if (!(cp = async_rec_copy(&lr)))
			return -BW_E_AUDIT;
		TAILQ_INSERT_TAIL(&b->copies, cp, entry);
		b->recs[k++] = cp->rec;
	}
	TAILQ_FOREACH(a, b->async, entry)
		b->recs[k++] = a->rec;
	/* the job owns the records now */
	TAILQ_CONCAT(&b->copies, b->async, entry);
	b->nrecs = k;
	b->lost = lost;
	if (!(j = ajob_from_batch(b, 0, 0)))
		return -BW_E_AUDIT;
	appender_post(c, j);
	return 0;
}

/* Frees B's records and the copies they point into (what a job did
 * not take), and forgets the outbox trim they came with: B is as
 * before batch_before_commit() composed them. */
static void
batch_copies_free(struct batch_ctx *b)
{
	struct async_rec *cp;

	free(b->recs);
	b->recs = NULL;
	b->nrecs = 0;
	b->trim_to = 0;
	while ((cp = TAILQ_FIRST(&b->copies))) {
		TAILQ_REMOVE(&b->copies, cp, entry);
		free(cp);
	}
}

/* Commits OPS (N, copied from ARR's requests) with B's records. A
 * store shared by several replicas (etcd) refuses a batch with -EAGAIN
 * when another replica committed after the batch read the store's
 * revision, once its records were composed: those are dropped and the
 * batch is decided again, a few times, rather than failing requests
 * that merely raced another replica's write. */
static int
commit_ops(struct committer *c, struct store_op *ops,
    struct commit_req *const *arr, size_t n, unsigned flags,
    struct batch_ctx *b)
{
	size_t			 i;
	int			 r, tries;

	for (i = 0; i < n; i++)
		arr[i]->given_reason = arr[i]->rec.reason;
	for (tries = 0; ; tries++) {
		r = store_batch(c->st, ops, n, flags, batch_before_commit, b);
		if (r != -EAGAIN || tries >= COMMIT_CONFLICT_RETRIES)
			return r;
		batch_copies_free(b);
		for (i = 0; i < n; i++) {
			ops[i] = arr[i]->op;
			arr[i]->rec.reason = arr[i]->given_reason;
		}
		nanosleep(&(struct timespec){ 0, 1000000L << (tries % 4) },
		    NULL);
	}
}

/* After a batch (C->mu held): the records it took are with the
 * appender (or counted lost), so the flushes whose tickets they reach
 * are answered; records queued since do not hold them. */
static void
async_posted(struct committer *c)
{
	c->async_done_seq = c->async_taken_seq;
	if (c->async_flush_to > 0) {
		if (c->async_flush_to <= c->async_done_seq)
			c->async_flush_to = 0;
		pthread_cond_broadcast(&c->async_cv);
	}
}

/* The store refused B's mutations (R) after their records were
 * composed, saying "success" for the operations it would have applied;
 * none was (their outbox entries went with the transaction), so the
 * trail gets those as errors. The batch's records are [loss record]
 * mutations. */
static void
post_refused(struct committer *c, struct batch_ctx *b, int r)
{
	struct ajob	*j;
	size_t		 i, first;

	if (!b->recs || !(j = ajob_from_batch(b, 0, 0)))
		return;
	first = j->lost ? 1 : 0;
	snprintf(j->reason, sizeof(j->reason), "store commit failed: %s; "
	    "not applied", bw_strerror(r));
	for (i = first; i < first + b->nreqs && i < j->n; i++) {
		if (strcmp(j->recs[i].outcome, "success") != 0)
			continue;
		j->recs[i].outcome = "error";
		j->recs[i].object_revision = 0;
		j->recs[i].reason = j->reason;
	}
	appender_post(c, j);
}

/* Stages and commits REQS (N, their ops copied to OPS and the requests
 * to ARR), then hands their records to the appender: those of a
 * committed batch as durable in the outbox, those of a refused one as
 * errors. Returns the store's result. */
static int
commit_reqs(struct committer *c, struct store_op *ops, struct commit_req **arr,
    size_t n, unsigned flags, struct batch_ctx *b)
{
	uint64_t	 t0 = bw_mono_ns();
	struct ajob	*j;
	int		 r;

	r = commit_ops(c, ops, arr, n, flags, b);
	hist_observe_since(&c->batch_ns, t0);
	hist_observe(&c->batch_size, n);
	if (r == 0 && b->recs) {
		/* The mutations and their records are durable together
		 * in the store: the clients are answered now, and the
		 * appender writes the trail after. */
		c->next_id += n;
		if (b->trim_to)
			c->trimmed_id = b->trim_to;
		if ((j = ajob_from_batch(b, c->next_id - 1, n)))
			appender_post(c, j);
		else
			c->backlog = 1;	/* the outbox has them */
	} else if (r < 0)
		post_refused(c, b, r);
	return r;
}

static void
run_batch(struct committer *c, struct req_list *reqs, struct async_list *async,
    size_t nasync, unsigned flags)
{
	_cleanup_free_ struct store_op *ops = NULL;
	_cleanup_free_ struct commit_req **arr = NULL;
	struct batch_ctx	 b = { .c = c, .async = async, .nasync = nasync };
	struct commit_req	*req;
	size_t			 n = 0, i;
	bool			 posted = false;
	int			 r;

	TAILQ_INIT(&b.copies);
	/* Counted first: every way out below answers these N requests, and
	 * the loop is woken for them only when N says there are some. */
	TAILQ_FOREACH(req, reqs, entry)
		n++;
	appender_collect(c, c->apending >= APPEND_PENDING_MAX);
	/* Records the trail does not hold yet go first: until it takes
	 * them, nothing new is accepted (fail closed, AU-5). */
	if (c->trail && c->backlog && drain_backlog(c) < 0) {
		r = -BW_E_AUDIT;
		goto finish;
	}
	/* The records of requests that changed nothing go ahead of this
	 * batch's mutations, as a job of their own posted before the
	 * store transaction: each was queued before the committer took
	 * the batch, so before its mutations were committed (a read saw
	 * the state before them), and the trail numbers records as it
	 * appends them. A crash keeps that order: these records are not
	 * durable until the trail has them, and the appender writes them
	 * in the same append as the mutations' records or an earlier
	 * one; the mutations' records, durable in the outbox, are
	 * replayed after whatever the trail holds. */
	r = post_async_only(c, &b);
	posted = r == 0;
	batch_copies_free(&b);	/* what a failed post left */
	b.nasync = 0;
	if (n == 0)
		goto finish;
	ops = calloc(n, sizeof(*ops));
	arr = calloc(n, sizeof(*arr));
	if (!ops || !arr) {
		r = -ENOMEM;
		goto finish;
	}
	i = 0;
	TAILQ_FOREACH(req, reqs, entry) {
		arr[i] = req;
		ops[i] = req->op;
		i++;
	}
	b.reqs = arr;
	b.nreqs = n;
	r = commit_reqs(c, ops, arr, n, flags, &b);
finish:
	batch_copies_free(&b);
	pthread_mutex_lock(&c->mu);
	async_posted(c);	/* its records went to appender_post() above */
	c->stats.batches++;
	/* Loss is never silent: records not handed to the appender, for
	 * whatever reason, are counted and the count is recorded. */
	if (!posted) {
		c->stats.lost_records += nasync;
		c->async_lost_total += nasync;
	}
	if (r == -BW_E_AUDIT) {
		c->stats.refused_audit += n;
		c->stats.audit_healthy = 0;
	} else if (r == 0 && !c->backlog)
		c->stats.audit_healthy = 1;
	i = 0;
	TAILQ_FOREACH(req, reqs, entry) {
		req->result = r < 0 ? r : ops[i].result;
		req->op.rev = r < 0 ? 0 : ops[i].rev;
		if (ops)	/* NULL: refused before staging */
			req->op.result = ops[i].result;
		if (req->result == 0)
			c->stats.mutations++;
		i++;
	}
	TAILQ_CONCAT(&c->done, reqs, entry);
	pthread_mutex_unlock(&c->mu);
	/* adds to the counter: fails only when it would overflow 2^64-2,
	 * and then the loop has a wake-up pending anyway */
	if (n > 0)
		(void)eventfd_write(c->done_fd, 1);
}

/* Deletes the outbox entries the trail holds, so a restart has nothing
 * to compare; a failure only leaves them for the next batch. */
static void
outbox_trim(struct committer *c)
{
	if (!c->trail || c->done_id <= c->trimmed_id)
		return;
	if (store_outbox_trim(c->st, c->done_id) == 0)
		c->trimmed_id = c->done_id;
}

/* Moves the next batch off C's queue (C->mu held) into REQS: a group
 * alone (*RET_GROUP true), or unrelated requests up to a group or the
 * batch's bounds. Returns the requests taken. */
static size_t
take_batch(struct committer *c, struct req_list *reqs, bool *ret_group)
{
	struct commit_req	*req = TAILQ_FIRST(&c->queue);
	size_t			 n, bytes = 0, max = COMMIT_BATCH_MAX;

	*ret_group = req && req->group > 0;
	if (*ret_group)
		max = req->group;
	for (n = 0; n < max && (req = TAILQ_FIRST(&c->queue)); n++) {
		size_t sz = (req->op.key ? strlen(req->op.key) : 0) +
		    req->op.value_len;

		/* the first one always goes: alone it is the store's to
		 * accept or refuse; a group goes whole, the store
		 * refusing it if too large */
		if (n > 0 && !*ret_group && (req->group > 0 ||
		    bytes + sz > STORE_BATCH_BYTES_MAX))
			break;
		bytes += sz;
		TAILQ_REMOVE(&c->queue, req, entry);
		TAILQ_INSERT_TAIL(reqs, req, entry);
	}
	return n;
}

/* Whether the records of requests that changed nothing queued on C
 * (C->mu held) go to the appender now: the oldest has waited
 * ASYNC_GATHER_US, ASYNC_GATHER_MAX have gathered, or a flush or the
 * stop wants them. */
static bool
async_due(const struct committer *c)
{
	if (TAILQ_EMPTY(&c->async))
		return false;
	return c->async_flush_to > c->async_done_seq || c->stopping ||
	    c->async_n >= ASYNC_GATHER_MAX ||
	    bw_mono_ns() - c->async_since_ns >= ASYNC_GATHER_US * 1000ull;
}

/* Waits (C->mu held) until C has work: a mutation queued, records due
 * (async_due()), the stop, or maintenance left (MAINT). Returns 1 when
 * it waited OUTBOX_TRIM_IDLE_MS for nothing with outbox entries to
 * trim, else 0. */
static int
commit_wait(struct committer *c, int maint)
{
	struct timespec	until;
	int		idle = 0;

	while (TAILQ_EMPTY(&c->queue) && !async_due(c) && !c->stopping &&
	    !idle && !maint) {
		if (!TAILQ_EMPTY(&c->async)) {
			until = bw_mono_timespec(c->async_since_ns +
			    ASYNC_GATHER_US * 1000ull);
			(void)pthread_cond_timedwait(&c->cv, &c->mu, &until);
		} else if (c->done_id > c->trimmed_id || c->apending > 0) {
			until = bw_mono_deadline(OUTBOX_TRIM_IDLE_MS *
			    1000000ull);
			idle = pthread_cond_timedwait(&c->cv, &c->mu,
			    &until) == ETIMEDOUT;
		} else
			pthread_cond_wait(&c->cv, &c->mu);
	}
	return idle;
}

static void *
commit_thread(void *arg)
{
	struct committer	*c = arg;
	struct req_list		 reqs;
	struct async_list	 async;
	struct async_rec	*a;
	size_t			 n, nasync;
	int			 idle, maint = 1;
	bool			 group;

	for (;;) {
		TAILQ_INIT(&reqs);
		TAILQ_INIT(&async);
		/* What the appender has finished: a failure refuses the
		 * next mutations, appended outbox entries may go. */
		appender_collect(c, 0);
		pthread_mutex_lock(&c->mu);
		idle = commit_wait(c, maint);
		if (c->stopping && TAILQ_EMPTY(&c->queue) &&
		    TAILQ_EMPTY(&c->async)) {
			pthread_mutex_unlock(&c->mu);
			break;
		}
		n = take_batch(c, &reqs, &group);
		/* Every record of a request that changed nothing goes with
		 * the batch, ahead of its mutations (run_batch()): one left
		 * behind would reach the trail after mutations committed
		 * after it was queued. At most ASYNC_QUEUE_MAX. */
		TAILQ_CONCAT(&async, &c->async, entry);
		nasync = c->async_n;
		c->async_n = 0;
		c->async_taken_seq = c->async_seq;
		pthread_mutex_unlock(&c->mu);

		if (n == 0 && nasync == 0) {
			if (idle) {
				appender_collect(c, 1);
				outbox_trim(c);
			}
			if (maint)
				maint = store_maintain(c->st) > 0;
			continue;
		}
		run_batch(c, &reqs, &async, nasync,
		    group ? STORE_BATCH_ATOMIC : 0);
		/* The store's housekeeping runs here, between batches, on
		 * the one thread that writes: it compacts the change log in
		 * bounded transactions (one per turn while the log is past
		 * its retention, so writers wait at most one) and moves the
		 * high-water mark. A failure is retried after the next
		 * batch. */
		if (n > 0 || maint)
			maint = store_maintain(c->st) > 0;
		while ((a = TAILQ_FIRST(&async))) {
			TAILQ_REMOVE(&async, a, entry);
			free(a);
		}
	}
	/* Leave the trail complete and the outbox empty when we can. */
	appender_collect(c, 1);
	if (c->trail && c->backlog)
		(void)drain_backlog(c);
	outbox_trim(c);
	return NULL;
}

static void
changed_clear(struct committer *c)
{
	for (size_t i = 0; i < c->nchanged; i++)
		free(c->changed[i]);
	c->nchanged = 0;
	c->changed_gap = 0;
}

/* Keeps a copy of KEY for commit_changed(); a key that cannot be kept
 * is a gap the observers learn about. */
static void
change_key(struct committer *c, const char *key)
{
	if (c->changed_gap)
		return;
	if (!key || c->nchanged == COMMIT_CHANGED_MAX)
		goto gap;
	if (!c->changed && !(c->changed = calloc(COMMIT_CHANGED_MAX,
	    sizeof(*c->changed))))
		goto gap;
	if (!(c->changed[c->nchanged] = strdup(key)))
		goto gap;
	c->nchanged++;
	return;
gap:
	changed_clear(c);
	c->changed_gap = 1;
}

int
commit_changed(const struct committer *c, const char *const **ret_keys,
    size_t *ret_n)
{
	if (c->changed_gap)
		return -EOVERFLOW;
	*ret_keys = (const char *const *)c->changed;
	*ret_n = c->nchanged;
	return 0;
}

static void
observe_cb(evutil_socket_t fd, short what, void *arg)
{
	struct committer *c = arg;

	(void)fd;
	(void)what;
	for (size_t i = 0; i < COMMIT_OBSERVERS_MAX; i++)
		if (c->observers[i].fn)
			c->observers[i].fn(c->observers[i].arg);
	c->ntouched = 0;
	c->touched_all = 0;
	changed_clear(c);
}

/* Notes the kind of object KEY names ("/r/KIND/..."). */
static void
touch_key(struct committer *c, const char *key)
{
	const char	*p, *end;
	size_t		 len, i;

	if (!key || strncmp(key, "/r/", 3) != 0 || !(end = strchr(key + 3, '/'))) {
		c->touched_all = 1;
		return;
	}
	p = key + 3;
	len = (size_t)(end - p);
	for (i = 0; i < c->ntouched; i++)
		if (strlen(c->touched[i]) == len && memcmp(c->touched[i], p, len) == 0)
			return;
	if (c->ntouched == COMMIT_TOUCHED_MAX || len >= sizeof(c->touched[0])) {
		c->touched_all = 1;
		return;
	}
	memcpy(c->touched[c->ntouched], p, len);
	c->touched[c->ntouched++][len] = '\0';
}

int
commit_touched(const struct committer *c, const char *plural)
{
	if (c->touched_all)
		return 1;
	for (size_t i = 0; i < c->ntouched; i++)
		if (strcmp(c->touched[i], plural) == 0)
			return 1;
	return 0;
}

static void
done_cb(evutil_socket_t fd, short what, void *arg)
{
	struct committer	*c = arg;
	struct req_list		 done;
	struct commit_req	*req;

	TAILQ_INIT(&done);
	if (fd >= 0) {
		eventfd_t n;

		(void)eventfd_read(fd, &n);	/* EAGAIN: nothing since */
	}
	pthread_mutex_lock(&c->mu);
	while ((req = TAILQ_FIRST(&c->done))) {
		TAILQ_REMOVE(&c->done, req, entry);
		TAILQ_INSERT_TAIL(&done, req, entry);
	}
	pthread_mutex_unlock(&c->mu);
	while ((req = TAILQ_FIRST(&done))) {
		TAILQ_REMOVE(&done, req, entry);
		if (req->result == 0) {
			touch_key(c, req->op.key);
			change_key(c, req->op.key);
		}
		req->done(req);
	}
	/* The observers (watch streams, controller passes) run on the
	 * loop's next turn: the replies just queued are written when
	 * their sockets poll writable, which is then before them, so a
	 * client's acknowledgement does not wait for a controller pass. */
	if (what != 0) {	/* 0: commit_stop() after the loop ended */
		const struct timeval now = { 0, 0 };

		if (event_add(c->observe_ev, &now) == 0)
			return;
	}
	observe_cb(-1, 0, c);
}

int
commit_add_observer(struct committer *c, void (*fn)(void *arg), void *arg)
{
	for (size_t i = 0; i < COMMIT_OBSERVERS_MAX; i++)
		if (!c->observers[i].fn) {
			c->observers[i].fn = fn;
			c->observers[i].arg = arg;
			return 0;
		}
	return -ENOSPC;
}

void
commit_remove_observer(struct committer *c, void (*fn)(void *arg), void *arg)
{
	for (size_t i = 0; i < COMMIT_OBSERVERS_MAX; i++)
		if (c->observers[i].fn == fn && c->observers[i].arg == arg)
			c->observers[i].fn = NULL;
}

/* The committer's wake-up of the loop (done_fd): 0 or -errno. */
static int
done_ev_new(struct committer *c, struct event_base *base)
{
	if ((c->done_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0)
		return -errno;
	if (!(c->done_ev = event_new(base, c->done_fd, EV_READ | EV_PERSIST,
	    done_cb, c)) || event_add(c->done_ev, NULL) < 0) {
		if (c->done_ev)
			event_free(c->done_ev);
		close(c->done_fd);
		return -ENOMEM;
	}
	return 0;
}

static void
done_ev_free(struct committer *c)
{
	event_free(c->done_ev);
	close(c->done_fd);
}

int
commit_start(struct event_base *base, struct store *st,
    struct audit_trail *trail, const char *audit_dir, struct committer **ret)
{
	struct committer *c;
	struct audit_status as;
	int		 r;

	if (!(c = calloc(1, sizeof(*c))))
		return -ENOMEM;
	hist_init(&c->batch_ns, &hist_seconds);
	hist_init(&c->batch_size, &hist_pow2);
	TAILQ_INIT(&c->queue);
	TAILQ_INIT(&c->done);
	TAILQ_INIT(&c->async);
	TAILQ_INIT(&c->aqueue);
	TAILQ_INIT(&c->adone);
	pthread_mutex_init(&c->mu, NULL);
	/* Both threads time their waits on the monotonic clock. */
	bw_cond_init_mono(&c->cv);
	pthread_cond_init(&c->async_cv, NULL);
	pthread_mutex_init(&c->amu, NULL);
	bw_cond_init_mono(&c->acv);
	c->st = st;
	c->trail = trail;
	c->stats.audit_healthy = 1;
	c->next_id = 1;
	if (trail) {
		audit_trail_status(trail, &as);
		c->trail_seq = as.last_seq;
		outbox_recover(c, audit_dir);
		/* Records of acknowledged mutations first; if the trail
		 * refuses them now, mutations wait for it (503). */
		if (c->backlog && drain_backlog(c) < 0)
			c->stats.audit_healthy = 0;
		outbox_trim(c);
	}
	if ((r = done_ev_new(c, base)) < 0) {
		free(c);
		return r;
	}
	if (!(c->observe_ev = evtimer_new(base, observe_cb, c))) {
		done_ev_free(c);
		free(c);
		return -ENOMEM;
	}
	if (pthread_create(&c->athread, NULL, appender_thread, c) != 0) {
		done_ev_free(c);
		event_free(c->observe_ev);
		free(c);
		return -EAGAIN;
	}
	if (pthread_create(&c->thread, NULL, commit_thread, c) != 0) {
		pthread_mutex_lock(&c->amu);
		c->astop = 1;
		pthread_cond_broadcast(&c->acv);
		pthread_mutex_unlock(&c->amu);
		pthread_join(c->athread, NULL);
		done_ev_free(c);
		event_free(c->observe_ev);
		free(c);
		return -EAGAIN;
	}
	*ret = c;
	return 0;
}

void
commit_submit(struct committer *c, struct commit_req *req)
{
	req->group = 0;
	pthread_mutex_lock(&c->mu);
	TAILQ_INSERT_TAIL(&c->queue, req, entry);
	pthread_mutex_unlock(&c->mu);
	/* After the unlock: a committer woken under the lock would only
	 * sleep again on it (a futex round trip and a context switch per
	 * request). It tests the queue under the lock before it waits. */
	pthread_cond_signal(&c->cv);
}

void
commit_submit_many(struct committer *c, struct commit_req **reqs, size_t n)
{
	if (n == 0)
		return;
	pthread_mutex_lock(&c->mu);
	for (size_t i = 0; i < n; i++) {
		reqs[i]->group = 0;
		TAILQ_INSERT_TAIL(&c->queue, reqs[i], entry);
	}
	pthread_mutex_unlock(&c->mu);
	pthread_cond_signal(&c->cv);	/* after the unlock: commit_submit() */
}

void
commit_submit_group(struct committer *c, struct commit_req **reqs, size_t n)
{
	pthread_mutex_lock(&c->mu);
	for (size_t i = 0; i < n; i++) {
		reqs[i]->group = i == 0 ? n : 0;
		TAILQ_INSERT_TAIL(&c->queue, reqs[i], entry);
	}
	pthread_mutex_unlock(&c->mu);
	pthread_cond_signal(&c->cv);	/* after the unlock: commit_submit() */
}

void
commit_audit_async(struct committer *c, const struct audit_record *rec)
{
	struct async_rec	*a;
	bool			 wake;

	if (!c->trail)
		return;
	a = async_rec_copy(rec);
	pthread_mutex_lock(&c->mu);
	if (!a || c->async_n >= ASYNC_QUEUE_MAX) {
		c->stats.lost_records++;
		c->async_lost_total++;
		pthread_mutex_unlock(&c->mu);
		free(a);
		return;
	}
	/* The committer learns of the first record (its gathering deadline)
	 * and of a full gathering; the others wait for it (async_due()). */
	if (TAILQ_EMPTY(&c->async))
		c->async_since_ns = bw_mono_ns();
	TAILQ_INSERT_TAIL(&c->async, a, entry);
	c->async_n++;
	c->async_seq++;
	wake = c->async_n == 1 || c->async_n == ASYNC_GATHER_MAX;
	pthread_mutex_unlock(&c->mu);
	if (wake)	/* after the unlock: commit_submit() */
		pthread_cond_signal(&c->cv);
}

void
commit_audit_flush(struct committer *c)
{
	uint64_t ticket;

	if (!c->trail)
		return;
	/* The records queued before the call go to the appender first
	 * (async_posted()), then the appender appends the jobs posted
	 * until then, which hold them and every acknowledged mutation's
	 * (posted before its client was answered). Neither wait is for
	 * empty queues, which a steady stream of writes would never
	 * leave: the committer's is for the ASYNC_SEQ of the call, the
	 * appender's for the APOST_SEQ read once the first wait is over
	 * (appender_wait_locked()), as the jobs holding those records
	 * were posted only by then. */
	pthread_mutex_lock(&c->mu);
	ticket = c->async_seq;
	if (c->async_done_seq < ticket) {
		if (c->async_flush_to < ticket)
			c->async_flush_to = ticket;
		pthread_cond_signal(&c->cv);
		while (c->async_done_seq < ticket)
			pthread_cond_wait(&c->async_cv, &c->mu);
	}
	pthread_mutex_unlock(&c->mu);
	pthread_mutex_lock(&c->amu);
	appender_wait_locked(c);
	pthread_mutex_unlock(&c->amu);
}

unsigned long long
commit_audit_lost_total(struct committer *c)
{
	unsigned long long n;

	pthread_mutex_lock(&c->mu);
	n = c->async_lost_total;
	pthread_mutex_unlock(&c->mu);
	pthread_mutex_lock(&c->amu);
	n += c->alost_total;
	pthread_mutex_unlock(&c->amu);
	return n;
}

bool
commit_has_trail(const struct committer *c)
{
	return c->trail != NULL;
}

void
commit_stats(struct committer *c, struct commit_stats *ret)
{
	pthread_mutex_lock(&c->mu);
	*ret = c->stats;
	pthread_mutex_unlock(&c->mu);
}

const struct hist *
commit_hist_duration(const struct committer *c)
{
	return &c->batch_ns;
}

const struct hist *
commit_hist_mutations(const struct committer *c)
{
	return &c->batch_size;
}

void
commit_stop(struct committer *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&c->mu);
	c->stopping = 1;
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
	pthread_join(c->thread, NULL);
	pthread_mutex_lock(&c->amu);
	c->astop = 1;
	pthread_cond_broadcast(&c->acv);
	pthread_mutex_unlock(&c->amu);
	pthread_join(c->athread, NULL);
	/* Requests finished after the loop stopped still get their
	 * completion, so their owners can free them. */
	done_cb(-1, 0, c);
	done_ev_free(c);
	event_free(c->observe_ev);
	changed_clear(c);
	free(c->changed);
	pthread_mutex_destroy(&c->mu);
	pthread_cond_destroy(&c->cv);
	pthread_cond_destroy(&c->async_cv);
	pthread_mutex_destroy(&c->amu);
	pthread_cond_destroy(&c->acv);
	free(c);
}

#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/trail.h"
#include "controlplane/commit.h"
#include "lib/err.h"
#include "lib/macro.h"

/* Upper bound on one batch: keeps one transaction and one audit write
 * bounded while still amortising the two fsyncs over many requests. */
#define COMMIT_BATCH_MAX	4096
#define ASYNC_QUEUE_MAX		65536

struct async_rec {
	struct audit_record	 rec;
	TAILQ_ENTRY(async_rec)	 entry;
	char			 strings[];	/* the copied fields of rec */
};

TAILQ_HEAD(req_list, commit_req);
TAILQ_HEAD(async_list, async_rec);

struct committer {
	pthread_t		 thread;
	pthread_mutex_t		 mu;
	pthread_cond_t		 cv;
	struct req_list		 queue, done;
	struct async_list	 async;
	size_t			 async_n;
	int			 stopping;
	struct event		*done_ev;
	struct store		*st;
	struct audit_trail	*trail;
	struct commit_stats	 stats;
	struct {
		void		(*fn)(void *arg);
		void		*arg;
	}			 observers[COMMIT_OBSERVERS_MAX];
};

struct batch_ctx {
	struct committer	 *c;
	struct commit_req	**reqs;
	size_t			  nreqs;
	struct async_list	 *async;
	size_t			  nasync;
	int			  audited;	/* records made durable */
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

static const char *
op_outcome(int result)
{
	if (result == 0)
		return "success";
	return "failure";
}

/* Called by the store with every op staged and nothing committed yet:
 * the audit records (with the outcome each op will have) must be
 * durable before the store may commit. */
static int
batch_before_commit(void *arg, const struct store_op *ops, size_t n)
{
	struct batch_ctx	*b = arg;
	struct committer	*c = b->c;
	_cleanup_free_ struct audit_record *recs = NULL;
	struct async_rec	*a;
	char			 lost_reason[192];
	size_t			 i, k = 0, total;
	unsigned long long	 lost;
	int			 r;

	if (!c->trail)
		return 0;
	pthread_mutex_lock(&c->mu);
	lost = c->stats.lost_records;
	pthread_mutex_unlock(&c->mu);
	total = n + b->nasync + (lost ? 1 : 0);
	if (total == 0)
		return 0;
	if (!(recs = calloc(total, sizeof(*recs))))
		return -ENOMEM;
	if (lost) {
		/* Loss is never silent: the first batch the trail accepts
		 * again says how many records could not be written. */
		snprintf(lost_reason, sizeof(lost_reason),
		    "%llu audit records of non-mutating requests were lost "
		    "while the trail was unavailable", lost);
		recs[k++] = (struct audit_record){
			.actor = "bulwarkd", .role = "system",
			.tenant = "system", .source = "local",
			.auth_method = "none", .action = "audit.records_lost",
			.outcome = "failure", .reason = lost_reason,
			.controls = "AU-5,AU-9",
		};
	}
	for (i = 0; i < n; i++) {
		struct commit_req *req = b->reqs[i];

		req->rec.outcome = op_outcome(ops[i].result);
		req->rec.object_revision = ops[i].result == 0 ? ops[i].rev : 0;
		if (ops[i].result != 0) {
			snprintf(req->reason, sizeof(req->reason), "%s",
			    bw_strerror(ops[i].result));
			req->rec.reason = req->reason;
		}
		recs[k++] = req->rec;
	}
	TAILQ_FOREACH(a, b->async, entry)
		recs[k++] = a->rec;
	r = audit_trail_append(c->trail, recs, k, NULL);
	if (r < 0)
		return -BW_E_AUDIT;
	b->audited = 1;
	if (lost) {
		pthread_mutex_lock(&c->mu);
		c->stats.lost_records -= lost;
		pthread_mutex_unlock(&c->mu);
	}
	return 0;
}

static void
run_batch(struct committer *c, struct req_list *reqs, struct async_list *async,
    size_t nasync)
{
	_cleanup_free_ struct store_op *ops = NULL;
	_cleanup_free_ struct commit_req **arr = NULL;
	struct batch_ctx	 b = { .c = c, .async = async, .nasync = nasync };
	struct commit_req	*req;
	size_t			 n = 0, i;
	int			 r;

	TAILQ_FOREACH(req, reqs, entry)
		n++;
	if (n > 0) {
		ops = calloc(n, sizeof(*ops));
		arr = calloc(n, sizeof(*arr));
		if (!ops || !arr) {
			r = -ENOMEM;
			goto finish;
		}
	}
	i = 0;
	TAILQ_FOREACH(req, reqs, entry) {
		arr[i] = req;
		ops[i] = req->op;
		i++;
	}
	b.reqs = arr;
	b.nreqs = n;
	if (n > 0)
		r = store_batch(c->st, ops, n, 0, batch_before_commit, &b);
	else
		r = batch_before_commit(&b, NULL, 0);
finish:
	pthread_mutex_lock(&c->mu);
	c->stats.batches++;
	if (r == -BW_E_AUDIT) {
		c->stats.refused_audit += n;
		c->stats.lost_records += nasync;
		c->stats.audit_healthy = 0;
	} else if (r == 0)
		c->stats.audit_healthy = 1;
	for (i = 0; i < n; i++) {
		arr[i]->result = r < 0 ? r : ops[i].result;
		arr[i]->op.rev = ops[i].rev;
		if (arr[i]->result == 0)
			c->stats.mutations++;
	}
	while ((req = TAILQ_FIRST(reqs))) {
		TAILQ_REMOVE(reqs, req, entry);
		TAILQ_INSERT_TAIL(&c->done, req, entry);
	}
	pthread_mutex_unlock(&c->mu);
	if (r < 0 && r != -BW_E_AUDIT && b.audited) {
		/* The trail already says these changes succeeded; say at once
		 * that the store did not take them. */
		char reason[160];
		struct audit_record fix = {
			.actor = "bulwarkd", .role = "system", .tenant = "system",
			.source = "local", .auth_method = "none",
			.action = "store.commit_failed", .outcome = "error",
			.reason = reason, .controls = "AU-5,SI-11",
		};

		snprintf(reason, sizeof(reason), "store commit failed after the "
		    "audit records of %zu mutations were written: %s; none of "
		    "them was applied", n, bw_strerror(r));
		commit_audit_async(c, &fix);
	}
	if (n > 0)
		event_active(c->done_ev, EV_READ, 0);
}

static void *
commit_thread(void *arg)
{
	struct committer	*c = arg;
	struct req_list		 reqs;
	struct async_list	 async;
	struct commit_req	*req;
	struct async_rec	*a;
	size_t			 n, nasync;

	for (;;) {
		TAILQ_INIT(&reqs);
		TAILQ_INIT(&async);
		pthread_mutex_lock(&c->mu);
		while (TAILQ_EMPTY(&c->queue) && TAILQ_EMPTY(&c->async) &&
		    !c->stopping)
			pthread_cond_wait(&c->cv, &c->mu);
		if (c->stopping && TAILQ_EMPTY(&c->queue) &&
		    TAILQ_EMPTY(&c->async)) {
			pthread_mutex_unlock(&c->mu);
			break;
		}
		for (n = 0; n < COMMIT_BATCH_MAX && (req = TAILQ_FIRST(&c->queue)); n++) {
			TAILQ_REMOVE(&c->queue, req, entry);
			TAILQ_INSERT_TAIL(&reqs, req, entry);
		}
		for (nasync = 0; nasync < COMMIT_BATCH_MAX &&
		    (a = TAILQ_FIRST(&c->async)); nasync++) {
			TAILQ_REMOVE(&c->async, a, entry);
			TAILQ_INSERT_TAIL(&async, a, entry);
		}
		c->async_n -= nasync;
		pthread_mutex_unlock(&c->mu);

		run_batch(c, &reqs, &async, nasync);
		while ((a = TAILQ_FIRST(&async))) {
			TAILQ_REMOVE(&async, a, entry);
			free(a);
		}
	}
	return NULL;
}

static void
done_cb(evutil_socket_t fd, short what, void *arg)
{
	struct committer	*c = arg;
	struct req_list		 done;
	struct commit_req	*req;

	TAILQ_INIT(&done);
	pthread_mutex_lock(&c->mu);
	while ((req = TAILQ_FIRST(&c->done))) {
		TAILQ_REMOVE(&c->done, req, entry);
		TAILQ_INSERT_TAIL(&done, req, entry);
	}
	pthread_mutex_unlock(&c->mu);
	while ((req = TAILQ_FIRST(&done))) {
		TAILQ_REMOVE(&done, req, entry);
		req->done(req);
	}
	for (size_t i = 0; i < COMMIT_OBSERVERS_MAX; i++)
		if (c->observers[i].fn)
			c->observers[i].fn(c->observers[i].arg);
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

int
commit_start(struct event_base *base, struct store *st,
    struct audit_trail *trail, struct committer **ret)
{
	struct committer *c;

	if (!(c = calloc(1, sizeof(*c))))
		return -ENOMEM;
	TAILQ_INIT(&c->queue);
	TAILQ_INIT(&c->done);
	TAILQ_INIT(&c->async);
	c->st = st;
	c->trail = trail;
	c->stats.audit_healthy = 1;
	if (!(c->done_ev = event_new(base, -1, 0, done_cb, c))) {
		free(c);
		return -ENOMEM;
	}
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->cv, NULL);
	if (pthread_create(&c->thread, NULL, commit_thread, c) != 0) {
		event_free(c->done_ev);
		free(c);
		return -EAGAIN;
	}
	*ret = c;
	return 0;
}

void
commit_submit(struct committer *c, struct commit_req *req)
{
	pthread_mutex_lock(&c->mu);
	TAILQ_INSERT_TAIL(&c->queue, req, entry);
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

void
commit_audit_async(struct committer *c, const struct audit_record *rec)
{
	struct async_rec *a;

	if (!c->trail)
		return;
	a = async_rec_copy(rec);
	pthread_mutex_lock(&c->mu);
	if (!a || c->async_n >= ASYNC_QUEUE_MAX) {
		c->stats.lost_records++;
		pthread_mutex_unlock(&c->mu);
		free(a);
		return;
	}
	TAILQ_INSERT_TAIL(&c->async, a, entry);
	c->async_n++;
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

void
commit_stats(struct committer *c, struct commit_stats *ret)
{
	pthread_mutex_lock(&c->mu);
	*ret = c->stats;
	pthread_mutex_unlock(&c->mu);
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
	/* Requests finished after the loop stopped still get their
	 * completion, so their owners can free them. */
	done_cb(-1, 0, c);
	event_free(c->done_ev);
	pthread_mutex_destroy(&c->mu);
	pthread_cond_destroy(&c->cv);
	free(c);
}

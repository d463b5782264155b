/* The audit outbox: the entry format, the store calls (only inside a
 * batch's hook, committed with it, trimmed, kept across a reopen), and
 * the committer's replay after a restart, on a real LMDB store and a
 * real trail: entries the trail already holds are not written twice,
 * the others are written once, after an audit.outbox_replay record,
 * and the outbox is empty afterwards. */
#include "config.h"

#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "audit/search.h"
#include "audit/trail.h"
#include "controlplane/commit.h"
#include "controlplane/outbox.h"
#include "controlplane/store.h"
#include "lib/err.h"
#include "lib/macro.h"

static int
rm_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	(void)sb;
	(void)type;
	(void)ftw;
	return remove(path);
}

static int
dir_setup(void **state)
{
	const char	*tmp = getenv("TMPDIR");
	char		*dir = malloc(PATH_MAX);

	if (!dir)
		return -1;
	snprintf(dir, PATH_MAX, "%s/bw-outbox-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
	if (!mkdtemp(dir)) {
		free(dir);
		return -1;
	}
	*state = dir;
	return 0;
}

static int
dir_teardown(void **state)
{
	nftw(*state, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(*state);
	return 0;
}

static struct audit_record
rec_named(const char *name, uint64_t rev)
{
	return (struct audit_record){
		.actor = "admin", .role = "system-admin", .tenant = "system",
		.source = "127.0.0.1", .auth_method = "mtls",
		.action = "tenant.replace", .object_kind = "Tenant",
		.object_name = name, .object_revision = rev,
		.outcome = "success", .controls = "AU-2,CM-3",
	};
}

static void
test_codec(void **state)
{
	struct audit_record	 r = rec_named("acme", 7);
	struct outbox_rec	*o = NULL;
	struct bw_buf		 line = { 0 };
	void			*p = NULL;
	size_t			 len;
	unsigned char		*bad;

	(void)state;
	r.reason = "has spaces = and %";
	assert_int_equal(outbox_encode(&r, 41, &p, &len), 0);
	assert_int_equal(outbox_decode(9, p, len, &o), 0);
	assert_int_equal(o->id, 9);
	assert_int_equal(o->seq_floor, 41);
	assert_int_equal(o->rec.object_revision, 7);
	assert_string_equal(o->rec.object_name, "acme");
	assert_string_equal(o->rec.reason, "has spaces = and %");
	assert_null(o->rec.object_tenant);

	/* the line the trail would write matches; another does not */
	assert_int_equal(bw_buf_appendf(&line, "v=1 seq=42 time=x prev=y"), 0);
	assert_int_equal(audit_record_format_fields(&r, &line), 0);
	assert_int_equal(bw_buf_appendf(&line, " hash=z"), 0);
	assert_int_equal(outbox_line_matches(&o->rec, line.p, line.len), 1);
	o->rec.object_revision = 8;
	assert_int_equal(outbox_line_matches(&o->rec, line.p, line.len), 0);
	bw_buf_done(&line);
	free(o);

	/* damaged entries are refused, never half-decoded */
	bad = malloc(len);
	memcpy(bad, p, len);
	bad[0] = 2;
	assert_int_equal(outbox_decode(1, bad, len, &o), -BW_E_CORRUPT);
	assert_int_equal(outbox_decode(1, p, len - 1, &o), -BW_E_CORRUPT);
	memcpy(bad, p, len);
	bad[len - 1] = '\0';
	assert_int_equal(outbox_decode(1, bad, len, &o), -BW_E_CORRUPT);
	free(bad);
	free(p);

	r.action = NULL;
	assert_int_equal(outbox_encode(&r, 0, &p, &len), -BW_E_INVALID);
}

struct hook {
	struct store	*st;
	uint64_t	 first_id;
	size_t		 n;
	uint64_t	 remove_upto;
	uint64_t	 floor;
	const char	*name;
};

static int
hook_put(void *ctx, const struct store_op *ops, size_t n)
{
	struct hook	*h = ctx;
	int		 r;

	(void)ops;
	(void)n;
	if (h->remove_upto && (r = store_outbox_remove(h->st, h->remove_upto)) < 0)
		return r;
	for (size_t i = 0; i < h->n; i++) {
		struct audit_record	 rec = rec_named(h->name, h->first_id + i);
		void			*p;
		size_t			 len;

		if ((r = outbox_encode(&rec, h->floor, &p, &len)) < 0)
			return r;
		r = store_outbox_put(h->st, h->first_id + i, p, len);
		free(p);
		if (r < 0)
			return r;
	}
	return 0;
}

static struct store *
open_store(const char *dir)
{
	char		 path[PATH_MAX];
	struct store	*st = NULL;
	char		*err = NULL;

	snprintf(path, sizeof(path), "%s/store", dir);
	if (store_open_lmdb(path, NULL, &st, &err) < 0)
		fail_msg("%s", err);
	return st;
}

/* Opens the trail in DIR/audit (unsigned: tests only), whose path goes
 * to AUDITDIR. */
static struct audit_trail *
open_trail(const char *dir, char *auditdir, size_t size)
{
	struct audit_trail_options	 o = { 0 };
	struct audit_trail		*t = NULL;
	char				*err = NULL;

	snprintf(auditdir, size, "%s/audit", dir);
	o.dir = auditdir;
	if (audit_trail_open(&o, &t, &err) < 0)
		fail_msg("%s", err);
	return t;
}

static size_t
outbox_count(struct store *st)
{
	struct store_outbox_entry	*e = NULL;
	size_t				 n = 0;

	assert_int_equal(store_outbox_list(st, 1000, &e, &n), 0);
	store_outbox_entries_free(e, n);
	return n;
}

static void
test_store_calls(void **state)
{
	struct store			*st = open_store(*state);
	struct store_outbox_entry	*e = NULL;
	struct store_op			 op = { .type = STORE_OP_PUT,
	    .key = "/r/tenants/a", .value = "{}", .value_len = 2,
	    .expect_rev = STORE_REV_ABSENT };
	struct hook			 h = { .st = st, .first_id = 1, .n = 3,
	    .name = "a" };
	size_t				 n = 0;

	/* only a batch's hook may add or remove entries */
	assert_int_equal(store_outbox_put(st, 1, "x", 1), -BW_E_INVALID);
	assert_int_equal(store_outbox_remove(st, 1), -BW_E_INVALID);

	assert_int_equal(store_batch(st, &op, 1, 0, hook_put, &h), 0);
	assert_int_equal(op.result, 0);
	assert_int_equal(store_outbox_list(st, 2, &e, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(e[0].id, 1);
	assert_int_equal(e[1].id, 2);
	store_outbox_entries_free(e, n);

	/* a batch in which no op applies still commits its entries */
	op.result = 0;
	op.rev = 0;
	h.first_id = 4;
	h.n = 1;
	h.remove_upto = 1;
	assert_int_equal(store_batch(st, &op, 1, 0, hook_put, &h), 0);
	assert_int_equal(op.result, -BW_E_EXISTS);
	assert_int_equal(store_revision(st), 1);
	assert_int_equal(outbox_count(st), 3);	/* 2, 3, 4 */

	/* a refused hook commits nothing */
	op.result = 0;
	h.first_id = 4;	/* used */
	h.remove_upto = 0;
	assert_int_equal(store_batch(st, &op, 1, 0, hook_put, &h), -BW_E_EXISTS);
	assert_int_equal(outbox_count(st), 3);

	assert_int_equal(store_outbox_trim(st, 3), 0);
	store_close(st);
	st = open_store(*state);
	assert_int_equal(store_outbox_list(st, 10, &e, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(e[0].id, 4);
	store_outbox_entries_free(e, n);
	assert_int_equal(store_outbox_trim(st, 10), 0);
	assert_int_equal(outbox_count(st), 0);
	store_close(st);
}

struct count {
	const char	*action, *name;
	size_t		 n;
};

static int
count_cb(const struct audit_record *rec, const char *line, size_t len, void *u)
{
	struct count *c = u;

	(void)line;
	(void)len;
	if (strcmp(rec->action, c->action) == 0 &&
	    (!c->name || (rec->object_name && strcmp(rec->object_name, c->name) == 0)))
		c->n++;
	return 0;
}

static size_t
trail_count(const char *auditdir, const char *action, const char *name)
{
	struct audit_search_filter	 f = { 0 };
	struct count			 c = { action, name, 0 };
	char				*err = NULL;

	assert_int_equal(audit_search_dir(auditdir, &f, count_cb, &c, &err), 0);
	return c.n;
}

static void
test_replay(void **state)
{
	char				 auditdir[PATH_MAX];
	struct audit_trail		*t = NULL;
	struct audit_status		 as;
	struct event_base		*base;
	struct committer		*c = NULL;
	struct store			*st = open_store(*state);
	struct store_op			 op = { .type = STORE_OP_PUT,
	    .key = "/r/tenants/b", .value = "{}", .value_len = 2,
	    .expect_rev = STORE_REV_ANY };
	struct audit_record		 in_trail = rec_named("b", 1);
	struct hook			 h = { .st = st, .first_id = 1, .n = 3,
	    .name = "b" };
	char				*err = NULL;

	assert_int_equal(evthread_use_pthreads(), 0);
	assert_non_null(base = event_base_new());
	t = open_trail(*state, auditdir, sizeof(auditdir));
	/* A crash after the first entry's record reached the trail and
	 * before the next two did: all three are in the outbox. */
	audit_trail_status(t, &as);
	h.floor = as.last_seq;
	assert_int_equal(audit_trail_append(t, &in_trail, 1, NULL), 0);
	assert_int_equal(store_batch(st, &op, 1, 0, hook_put, &h), 0);
	assert_int_equal(outbox_count(st), 3);

	assert_int_equal(commit_start(base, st, t, auditdir, &c), 0);
	assert_int_equal(outbox_count(st), 0);
	commit_stop(c);
	audit_trail_close(t);
	store_close(st);
	event_base_free(base);

	assert_int_equal(trail_count(auditdir, "audit.outbox_replay", NULL), 1);
	assert_int_equal(trail_count(auditdir, "tenant.replace", "b"), 3);
	{
		/* each revision once: 1 was there, 2 and 3 replayed */
		struct audit_search_filter f = { .action = "tenant.replace" };
		struct count c1 = { "tenant.replace", "b", 0 };

		assert_int_equal(audit_search_dir(auditdir, &f, count_cb, &c1,
		    &err), 0);
		assert_int_equal(c1.n, 3);
	}
}

static void
test_replay_without_trail_dir(void **state)
{
	char				 auditdir[PATH_MAX];
	struct audit_trail		*t = NULL;
	struct event_base		*base;
	struct committer		*c = NULL;
	struct store			*st = open_store(*state);
	struct store_op			 op = { .type = STORE_OP_PUT,
	    .key = "/r/tenants/c", .value = "{}", .value_len = 2,
	    .expect_rev = STORE_REV_ANY };
	struct hook			 h = { .st = st, .first_id = 7, .n = 2,
	    .name = "c" };

	assert_int_equal(evthread_use_pthreads(), 0);
	assert_non_null(base = event_base_new());
	t = open_trail(*state, auditdir, sizeof(auditdir));
	assert_int_equal(store_batch(st, &op, 1, 0, hook_put, &h), 0);
	/* without the trail's directory nothing can be compared: every
	 * entry is replayed (a duplicate is better than a loss) */
	assert_int_equal(commit_start(base, st, t, NULL, &c), 0);
	assert_int_equal(outbox_count(st), 0);
	commit_stop(c);
	audit_trail_close(t);
	store_close(st);
	event_base_free(base);
	assert_int_equal(trail_count(auditdir, "tenant.replace", "c"), 2);
	assert_int_equal(trail_count(auditdir, "audit.outbox_replay", NULL), 1);
}

/* What an observer learns from commit_touched() when it runs. */
struct seen {
	struct committer	*c;
	int			 calls, tenants, workloads, nodes;
};

static void
seen_observe(void *arg)
{
	struct seen *o = arg;

	o->calls++;
	o->tenants = commit_touched(o->c, "tenants");
	o->workloads = commit_touched(o->c, "workloads");
	o->nodes = commit_touched(o->c, "nodes");
}

static void
seen_done(struct commit_req *req)
{
	(*(int *)req->arg)++;
}

/* Submits one put of KEY (with precondition EXPECT) and runs the loop
 * until it is answered and the observers have run after it. */
static void
submit_and_observe(struct event_base *base, struct committer *c,
    struct seen *o, const char *key, uint64_t expect)
{
	int			done = 0, calls = o->calls;
	struct commit_req	req = { .op = { .type = STORE_OP_PUT,
	    .key = key, .value = "{}", .value_len = 2, .expect_rev = expect },
	    .rec = rec_named("x", 0), .done = seen_done, .arg = &done };

	commit_submit(c, &req);
	while (!done || o->calls == calls)
		assert_int_not_equal(event_base_loop(base, EVLOOP_ONCE), -1);
}

/* Observers learn which kinds the batches before them changed (the
 * controller skips its pass when none of its kinds did), and only
 * from those batches: the set is cleared once they have run. */
static void
test_observer_touched(void **state)
{
	char			 auditdir[PATH_MAX];
	struct audit_trail	*t;
	struct event_base	*base;
	struct committer	*c = NULL;
	struct store		*st = open_store(*state);
	struct seen		 o = { 0 };

	assert_int_equal(evthread_use_pthreads(), 0);
	assert_non_null(base = event_base_new());
	t = open_trail(*state, auditdir, sizeof(auditdir));
	assert_int_equal(commit_start(base, st, t, auditdir, &c), 0);
	o.c = c;
	assert_int_equal(commit_add_observer(c, seen_observe, &o), 0);

	submit_and_observe(base, c, &o, "/r/tenants/t1", STORE_REV_ANY);
	assert_true(o.tenants);
	assert_false(o.workloads);
	assert_false(o.nodes);

	submit_and_observe(base, c, &o, "/r/workloads/t1/w", STORE_REV_ANY);
	assert_false(o.tenants);
	assert_true(o.workloads);

	/* a refused write changed nothing */
	submit_and_observe(base, c, &o, "/r/nodes/n1", 999999);
	assert_false(o.nodes);
	assert_false(o.workloads);

	/* a key outside "/r/": every kind may have changed */
	submit_and_observe(base, c, &o, "/other", STORE_REV_ANY);
	assert_true(o.nodes);
	assert_true(o.tenants);

	commit_stop(c);
	audit_trail_close(t);
	store_close(st);
	event_base_free(base);
}

/* Submits the group of N puts KEYS (the one at BAD expecting a revision
 * that is not there; N: none) and runs the loop until all are done. */
static void
submit_group(struct event_base *base, struct committer *c, const char **keys,
    size_t n, size_t bad, struct commit_req *reqs)
{
	struct commit_req	*ptrs[4];
	int			 done = 0;

	assert_true(n <= ELEMENTSOF(ptrs));
	for (size_t i = 0; i < n; i++) {
		reqs[i] = (struct commit_req){ .op = { .type = STORE_OP_PUT,
		    .key = keys[i], .value = "{}", .value_len = 2,
		    .expect_rev = i == bad ? 999999 : STORE_REV_ANY },
		    .rec = rec_named(keys[i] + strlen("/r/tenants/"), 0),
		    .done = seen_done, .arg = &done };
		ptrs[i] = &reqs[i];
	}
	commit_submit_group(c, ptrs, n);
	while (done < (int)n)
		assert_int_not_equal(event_base_loop(base, EVLOOP_ONCE), -1);
}

/* A group is one transaction: all applied with consecutive revisions
 * and a record each, or none (and no record) when one op fails its
 * precondition, which its op.result names. */
static void
test_group(void **state)
{
	char			 auditdir[PATH_MAX];
	struct audit_trail	*t;
	struct event_base	*base;
	struct committer	*c = NULL;
	struct store		*st = open_store(*state);
	struct store_kv		*kv = NULL;
	struct commit_req	 reqs[3];
	const char		*bad[] = { "/r/tenants/b1", "/r/tenants/b2",
	    "/r/tenants/b3" };
	const char		*good[] = { "/r/tenants/g1", "/r/tenants/g2",
	    "/r/tenants/g3" };
	uint64_t		 rev;

	assert_int_equal(evthread_use_pthreads(), 0);
	assert_non_null(base = event_base_new());
	t = open_trail(*state, auditdir, sizeof(auditdir));
	assert_int_equal(commit_start(base, st, t, auditdir, &c), 0);
	rev = store_revision(st);

	submit_group(base, c, bad, 3, 2, reqs);
	for (size_t i = 0; i < 3; i++) {
		assert_true(reqs[i].result < 0);
		assert_int_equal(reqs[i].op.rev, 0);
		assert_int_equal(store_get(st, bad[i], &kv), -BW_E_NOTFOUND);
	}
	assert_int_equal(reqs[0].op.result, 0);
	assert_true(reqs[2].op.result < 0);	/* absent, not at 999999 */
	assert_int_equal(store_revision(st), rev);

	submit_group(base, c, good, 3, SIZE_MAX, reqs);
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(reqs[i].result, 0);
		assert_int_equal(reqs[i].op.rev, rev + 1 + i);
	}

	commit_stop(c);
	audit_trail_close(t);
	store_close(st);
	event_base_free(base);
	assert_int_equal(trail_count(auditdir, "tenant.replace", "b1"), 0);
	assert_int_equal(trail_count(auditdir, "tenant.replace", "g1"), 1);
	assert_int_equal(trail_count(auditdir, "tenant.replace", "g3"), 1);
}

struct seq_of {
	const char	*name;
	uint64_t	 seq;
};

static int
seq_cb(const struct audit_record *rec, const char *line, size_t len, void *u)
{
	struct seq_of *s = u;

	(void)line;
	(void)len;
	if (rec->object_name && strcmp(rec->object_name, s->name) == 0)
		s->seq = rec->seq;
	return 0;
}

/* The trail's seq of the (last) record naming NAME; 0: none. */
static uint64_t
trail_seq_of(const char *auditdir, const char *name)
{
	struct audit_search_filter	 f = { 0 };
	struct seq_of			 s = { name, 0 };
	char				*err = NULL;

	assert_int_equal(audit_search_dir(auditdir, &f, seq_cb, &s, &err), 0);
	return s.seq;
}

static uint64_t
ns_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (uint64_t)(t1.tv_sec - t0->tv_sec) * 1000000000ull +
	    (uint64_t)t1.tv_nsec - (uint64_t)t0->tv_nsec;
}

/* The committer's first turns (store housekeeping) take records at
 * once; after them it gathers. */
static void
committer_settle(void)
{
	nanosleep(&(struct timespec){ 0, 300000000L }, NULL);
}

/* Queues a record of a request that changed nothing for NAME. */
static void
queue_unchanged(struct committer *c, const char *name)
{
	struct audit_record rec = rec_named(name, 0);

	rec.reason = "unchanged: no new revision";
	commit_audit_async(c, &rec);
}

/* Records of requests that changed nothing gather on the committer's
 * queue (ASYNC_GATHER_US, 20 ms) and then on the appender's
 * (APPEND_ASYNC_GROUP_US) before they reach the trail by themselves:
 * they are not in the trail right after they were queued; a flush (the
 * API's audit search) finds every one queued before it in the trail,
 * and has them taken at once: it returns sooner than the gathering
 * alone takes, which a flush that merely waited for them could not;
 * without a flush they reach the trail by themselves. The "not yet" and
 * the "sooner" are asserted only when the test got back within the
 * time they measure (a busy machine may preempt it longer): some of
 * ten tries must. */
#define GATHER_NS	20000000ull	/* controlplane/commit.c ASYNC_GATHER_US */
static void
test_async_flush(void **state)
{
	char			 auditdir[PATH_MAX], name[16];
	struct audit_trail	*t;
	struct event_base	*base;
	struct committer	*c = NULL;
	struct store		*st = open_store(*state);
	struct timespec		 t0;
	size_t			 queued = 0;
	int			 i, gathered = 0, at_once = 0, tries;

	assert_int_equal(evthread_use_pthreads(), 0);
	assert_non_null(base = event_base_new());
	t = open_trail(*state, auditdir, sizeof(auditdir));
	assert_int_equal(commit_start(base, st, t, auditdir, &c), 0);
	committer_settle();

	for (tries = 0; tries < 10 && !(gathered && at_once); tries++) {
		clock_gettime(CLOCK_MONOTONIC, &t0);
		for (i = 0; i < 3; i++) {
			snprintf(name, sizeof(name), "u%d", (int)queued++);
			queue_unchanged(c, name);
		}
		if (trail_count(auditdir, "tenant.replace", NULL) <
		    queued - 2 && ns_since(&t0) < GATHER_NS / 2)
			gathered = 1;	/* none of the 3 in the trail yet */
		commit_audit_flush(c);
		if (ns_since(&t0) < GATHER_NS)
			at_once = 1;	/* sooner than they gather */
		assert_int_equal(trail_count(auditdir, "tenant.replace",
		    NULL), queued);
	}
	assert_true(gathered);
	assert_true(at_once);
	/* Every one reached the trail: none counted lost (the count
	 * update-journal.c compares around its flush). */
	assert_true(commit_has_trail(c));
	assert_int_equal(commit_audit_lost_total(c), 0);

	queue_unchanged(c, "later");
	for (i = 0; i < 1000 &&
	    trail_count(auditdir, "tenant.replace", "later") == 0; i++)
		nanosleep(&(struct timespec){ 0, 10000000L }, NULL);
	assert_int_equal(trail_count(auditdir, "tenant.replace", "later"), 1);

	commit_stop(c);
	audit_trail_close(t);
	store_close(st);
	event_base_free(base);
}

/* A stream of writes that never lets the committer's and the
 * appender's queues empty, for test_flush_under_load: while STREAM.ON,
 * every trail append (the appender's) queues a record of a request that
 * changed nothing and returns only once the committer has posted it to
 * the appender, so another job waits whenever one has been appended.
 * The real scheduling of a busy API gives that overlap only at times
 * (a flush that waits for empty queues then returns late, not never);
 * audit_trail_append is wrapped (-Wl,--wrap) to give it every time. */
static struct {
	struct committer	*c;
	volatile int		 on;
	unsigned long		 queued;
} stream;

int __real_audit_trail_append(struct audit_trail *t,
    struct audit_record *recs, size_t n, uint64_t *ret_last_seq);
int __wrap_audit_trail_append(struct audit_trail *t,
    struct audit_record *recs, size_t n, uint64_t *ret_last_seq);

int
__wrap_audit_trail_append(struct audit_trail *t, struct audit_record *recs,
    size_t n, uint64_t *ret_last_seq)
{
	struct commit_stats	 s0, s;
	struct timespec		 t0;
	char			 name[24];
	int			 r;

	r = __real_audit_trail_append(t, recs, n, ret_last_seq);
	if (!__atomic_load_n(&stream.on, __ATOMIC_ACQUIRE))
		return r;
	commit_stats(stream.c, &s0);
	snprintf(name, sizeof(name), "s%lu", stream.queued++);
	queue_unchanged(stream.c, name);
	/* posted in a batch the committer counts once it has posted */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		nanosleep(&(struct timespec){ 0, 1000000L }, NULL);
		commit_stats(stream.c, &s);
	} while (s.batches == s0.batches && ns_since(&t0) < 10000000000ull);
	return r;
}

/* The committer's side of the stream: while STREAM.ON, records of
 * requests that changed nothing are queued one after another, so the
 * committer's queue often has new ones when a batch ends: a flush
 * that waited for the committer to have handed over everything
 * queued, not what was queued before it, would then wait for a
 * wake-up that does not come. Whether a record lands in that window
 * is up to the scheduler: FLUSHES flushes in a row must all return. */
static void *
feeder(void *arg)
{
	unsigned long	*fed = arg;
	char		 name[24];

	while (__atomic_load_n(&stream.on, __ATOMIC_ACQUIRE)) {
		snprintf(name, sizeof(name), "f%lu", (*fed)++);
		queue_unchanged(stream.c, name);
		nanosleep(&(struct timespec){ 0, 20000L }, NULL);
	}
	return NULL;
}

#define FLUSHES	100
static void *
flusher(void *arg)
{
	volatile int *flushed = arg;

	for (int i = 0; i < FLUSHES; i++) {
		commit_audit_flush(stream.c);
		__atomic_add_fetch(flushed, 1, __ATOMIC_RELEASE);
	}
	return NULL;
}

/* commit_audit_flush() waits for the records queued before it was
 * called, not for the committer's and the appender's queues to be
 * empty: it returns while records keep arriving on both (before, the
 * API's audit search waited as long as a steady stream of writes
 * lasted), and the record queued before it is then in the trail. The
 * stream stops after 20 s at the latest, and a flush left waiting is
 * woken then, so a flush that waits for the stream fails the test
 * rather than hanging it. */
static void
test_flush_under_load(void **state)
{
	char			 auditdir[PATH_MAX];
	struct audit_trail	*t;
	struct event_base	*base;
	struct store		*st = open_store(*state);
	pthread_t		 th, fth;
	struct timespec		 t0;
	volatile int		 flushed = 0;
	int			 while_streaming;
	unsigned long		 streamed, fed = 0;

	assert_int_equal(evthread_use_pthreads(), 0);
	assert_non_null(base = event_base_new());
	t = open_trail(*state, auditdir, sizeof(auditdir));
	assert_int_equal(commit_start(base, st, t, auditdir, &stream.c), 0);
	committer_settle();
	__atomic_store_n(&stream.on, 1, __ATOMIC_RELEASE);
	assert_int_equal(pthread_create(&fth, NULL, feeder, &fed), 0);
	queue_unchanged(stream.c, "marker");
	assert_int_equal(pthread_create(&th, NULL, flusher, (void *)&flushed),
	    0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (__atomic_load_n(&flushed, __ATOMIC_ACQUIRE) < FLUSHES &&
	    ns_since(&t0) < 20000000000ull)
		nanosleep(&(struct timespec){ 0, 1000000L }, NULL);
	while_streaming = __atomic_load_n(&flushed, __ATOMIC_ACQUIRE);
	if (while_streaming > 0)
		assert_int_equal(trail_count(auditdir, "tenant.replace",
		    "marker"), 1);
	__atomic_store_n(&stream.on, 0, __ATOMIC_RELEASE);
	pthread_join(fth, NULL);
	/* wakes a flush left waiting (it would not be woken otherwise) */
	if (while_streaming < FLUSHES)
		commit_audit_flush(stream.c);
	pthread_join(th, NULL);	/* returns once the stream stopped */
	streamed = stream.queued;
	commit_stop(stream.c);
	audit_trail_close(t);
	store_close(st);
	event_base_free(base);
	assert_int_equal(while_streaming, FLUSHES);
	/* both streams had begun: the marker's append queued the next */
	assert_true(streamed > 0);
	assert_true(fed > 0);
}

/* A record of a request that changed nothing, queued before a mutation
 * was submitted, precedes the mutation's record in the trail (the
 * trail numbers records as it appends them): a mutation's batch that
 * takes the gathered records along writes them ahead of its own. */
static void
test_async_order(void **state)
{
	char			 auditdir[PATH_MAX];
	struct audit_trail	*t;
	struct event_base	*base;
	struct committer	*c = NULL;
	struct store		*st = open_store(*state);
	struct audit_record	 rec = rec_named("early", 0);
	int			 done = 0;
	struct commit_req	 req = { .op = { .type = STORE_OP_PUT,
	    .key = "/r/tenants/late", .value = "{}", .value_len = 2,
	    .expect_rev = STORE_REV_ANY }, .rec = rec_named("late", 0),
	    .done = seen_done, .arg = &done };
	uint64_t		 early, late;

	assert_int_equal(evthread_use_pthreads(), 0);
	assert_non_null(base = event_base_new());
	t = open_trail(*state, auditdir, sizeof(auditdir));
	assert_int_equal(commit_start(base, st, t, auditdir, &c), 0);
	committer_settle();

	rec.outcome = "denied";
	rec.reason = "not permitted";
	commit_audit_async(c, &rec);
	nanosleep(&(struct timespec){ 0, 2000000L }, NULL);
	commit_submit(c, &req);
	while (!done)
		assert_int_not_equal(event_base_loop(base, EVLOOP_ONCE), -1);
	assert_int_equal(req.result, 0);
	commit_audit_flush(c);
	early = trail_seq_of(auditdir, "early");
	late = trail_seq_of(auditdir, "late");
	assert_int_not_equal(early, 0);
	assert_int_not_equal(late, 0);
	assert_true(early < late);

	commit_stop(c);
	audit_trail_close(t);
	store_close(st);
	event_base_free(base);
}

/* Requests queued with commit_submit_many() are each their own: the
 * one failing its precondition is refused alone, the others applied
 * with a record each; queued under one lock, they go in one batch. */
static void
test_submit_many(void **state)
{
	char			 auditdir[PATH_MAX];
	struct audit_trail	*t;
	struct event_base	*base;
	struct committer	*c = NULL;
	struct store		*st = open_store(*state);
	struct commit_req	 reqs[3], *ptrs[3];
	struct commit_stats	 s0, s1;
	const char		*keys[] = { "/r/tenants/m1", "/r/tenants/m2",
	    "/r/tenants/m3" };
	int			 done = 0;

	assert_int_equal(evthread_use_pthreads(), 0);
	assert_non_null(base = event_base_new());
	t = open_trail(*state, auditdir, sizeof(auditdir));
	assert_int_equal(commit_start(base, st, t, auditdir, &c), 0);
	for (int round = 0; round < 2; round++) {
		done = 0;
		for (size_t i = 0; i < 3; i++) {
			reqs[i] = (struct commit_req){ .op = { .type =
			    STORE_OP_PUT, .key = keys[i], .value = "{}",
			    .value_len = 2, .expect_rev = round == 0 && i == 1 ?
			    999999 : STORE_REV_ANY },
			    .rec = rec_named(keys[i] + strlen("/r/tenants/"), 0),
			    .done = seen_done, .arg = &done };
			ptrs[i] = &reqs[i];
		}
		commit_stats(c, &s0);
		commit_submit_many(c, ptrs, 3);
		while (done < 3)
			assert_int_not_equal(event_base_loop(base, EVLOOP_ONCE),
			    -1);
		commit_stats(c, &s1);
		for (size_t i = 0; i < 3; i++)
			assert_true(round == 0 && i == 1 ? reqs[i].result < 0 :
			    reqs[i].result == 0 && reqs[i].op.rev > 0);
		if (round == 1)
			assert_int_equal(s1.batches, s0.batches + 1);
	}
	commit_stop(c);
	audit_trail_close(t);
	store_close(st);
	event_base_free(base);
	assert_int_equal(trail_count(auditdir, "tenant.replace", "m1"), 2);
	/* its refusal is recorded too */
	assert_int_equal(trail_count(auditdir, "tenant.replace", "m2"), 2);
	assert_int_equal(trail_count(auditdir, "tenant.replace", "m3"), 2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_codec),
		cmocka_unit_test_setup_teardown(test_store_calls, dir_setup,
		    dir_teardown),
		cmocka_unit_test_setup_teardown(test_replay, dir_setup,
		    dir_teardown),
		cmocka_unit_test_setup_teardown(test_replay_without_trail_dir,
		    dir_setup, dir_teardown),
		cmocka_unit_test_setup_teardown(test_observer_touched,
		    dir_setup, dir_teardown),
		cmocka_unit_test_setup_teardown(test_submit_many, dir_setup,
		    dir_teardown),
		cmocka_unit_test_setup_teardown(test_group, dir_setup,
		    dir_teardown),
		cmocka_unit_test_setup_teardown(test_async_flush, dir_setup,
		    dir_teardown),
		cmocka_unit_test_setup_teardown(test_async_order, dir_setup,
		    dir_teardown),
		cmocka_unit_test_setup_teardown(test_flush_under_load,
		    dir_setup, dir_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

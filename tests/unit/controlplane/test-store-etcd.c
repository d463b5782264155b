/* The store conformance suite run against the etcd backend: every test's
 * store is a fresh key prefix (named after its temporary directory, so
 * a reopen finds it again) on the cluster tests/integration/store-etcd.sh
 * starts and names in BW_ETCD_ENDPOINTS, BW_ETCD_CA, BW_ETCD_CERT and
 * BW_ETCD_KEY. Without them it skips. Then what only etcd has: the audit
 * outbox, a second writer on the same prefix, endpoint failover and the
 * spec's checks. */
#include "config.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "controlplane/store-etcd-internal.h"
#include "controlplane/store-etcd.h"
#include "lib/err.h"
#include "tests/unit/controlplane/test-store-conformance.h"

struct etcd_env {
	const char *endpoints, *ca, *cert, *key;
};

static int
etcd_factory_open(void *ctx, const char *dir, struct store **ret)
{
	const struct etcd_env *e = ctx;
	const char *base = strrchr(dir, '/');
	char	 spec[4096];
	char	*err = NULL;
	int	 r;

	snprintf(spec, sizeof(spec), "etcd://%s/bw-test/%s?ca=%s&cert=%s&key=%s",
	    e->endpoints, base ? base + 1 : dir, e->ca, e->cert, e->key);
	r = store_open_spec(spec, NULL, ret, &err);
	if (r < 0)
		fprintf(stderr, "# %s\n", err ? err : "store_open_spec failed");
	free(err);
	return r;
}

static struct etcd_env env;

/* Opens prefix NAME, with EXTRA_EP (may be "") before the endpoints. */
static struct store *
open_prefix(const char *name, const char *extra_ep)
{
	char	 spec[4096];
	struct store *st = NULL;
	char	*err = NULL;

	snprintf(spec, sizeof(spec), "etcd://%s%s/bw-test/%s?ca=%s&cert=%s&"
	    "key=%s", extra_ep, env.endpoints, name, env.ca, env.cert, env.key);
	if (store_open_spec(spec, NULL, &st, &err) < 0)
		fail_msg("%s", err);
	assert_string_equal(store_backend_name(st), "etcd");
	return st;
}

static uint64_t
put(struct store *st, const char *key, const char *v)
{
	uint64_t rev = 0;

	assert_int_equal(store_put(st, key, v, strlen(v), STORE_REV_ANY, &rev),
	    0);
	return rev;
}

struct ob_hook {
	struct store	*st;
	uint64_t	 id;
	int		 remove_upto;
};

static int
ob_hook(void *ctx, const struct store_op *ops, size_t n)
{
	struct ob_hook *h = ctx;
	int	 r;

	if ((r = store_outbox_put(h->st, h->id, "rec", 3)) < 0)
		return r;
	/* The same id twice in one batch is refused. */
	if (store_outbox_put(h->st, h->id, "x", 1) != -BW_E_EXISTS)
		return -BW_E_INVALID;
	if (h->remove_upto && (r = store_outbox_remove(h->st,
	    (uint64_t)h->remove_upto)) < 0)
		return r;
	return 0;
}

/* Runs OP (made fresh again) in a batch with ob_hook and H. */
static int
ob_batch(struct store_op *op, struct ob_hook *h)
{
	op->result = 0;
	op->rev = 0;
	return store_batch(h->st, op, 1, 0, ob_hook, h);
}

static void
test_outbox(void **state)
{
	struct store *st = open_prefix("outbox", "");
	struct ob_hook h = { .st = st, .id = 1 };
	struct store_op op = { .type = STORE_OP_PUT, .key = "/k", .value = "v",
	    .value_len = 1, .expect_rev = STORE_REV_ABSENT };
	struct store_outbox_entry *e = NULL;
	size_t	 n = 0;

	/* Outside a hook the outbox is not writable. */
	assert_int_equal(store_outbox_put(st, 9, "x", 1), -BW_E_INVALID);
	assert_int_equal(store_outbox_remove(st, 9), -BW_E_INVALID);
	assert_int_equal(ob_batch(&op, &h), 0);
	assert_int_equal(op.rev, 1);
	/* A batch whose op fails still commits its outbox entry. */
	h.id = 2;
	assert_int_equal(ob_batch(&op, &h), 0);
	assert_int_equal(op.result, -BW_E_EXISTS);
	assert_int_equal(store_revision(st), 1);
	assert_int_equal(store_outbox_list(st, 10, &e, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(e[0].id, 1);
	assert_int_equal(e[1].id, 2);
	assert_int_equal(e[1].len, 3);
	assert_memory_equal(e[1].value, "rec", 3);
	store_outbox_entries_free(e, n);
	/* A used id is refused, which refuses the batch. */
	assert_int_equal(ob_batch(&op, &h), -BW_E_EXISTS);
	/* Removed in a batch, up to an id; trimmed outside one. */
	h.id = 3;
	h.remove_upto = 1;
	assert_int_equal(ob_batch(&op, &h), 0);
	assert_int_equal(store_outbox_list(st, 1, &e, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(e[0].id, 2);
	store_outbox_entries_free(e, n);
	assert_int_equal(store_outbox_trim(st, 2), 0);
	assert_int_equal(store_outbox_list(st, 10, &e, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(e[0].id, 3);
	store_outbox_entries_free(e, n);
	assert_int_equal(store_outbox_trim(st, UINT64_MAX), 0);
	assert_int_equal(store_outbox_list(st, 10, &e, &n), 0);
	assert_int_equal(n, 0);
	store_close(st);
}

/* A hook that writes through a second handle on the same prefix: a
 * writer that came between the batch's read and its commit. */
static int
intruder_hook(void *ctx, const struct store_op *ops, size_t n)
{
	put(ctx, "/x", "intruder");
	return 0;
}

static void
test_second_writer(void **state)
{
	struct store *a = open_prefix("two", ""), *b = open_prefix("two", "");
	struct store_op op = { .type = STORE_OP_PUT, .key = "/x", .value = "a",
	    .value_len = 1 };
	struct store_kv *kv = NULL;

	put(a, "/x", "first");
	/* The commit's compares catch it: nothing of the batch applied,
	 * and with a hook (which saw revision 2) the caller retries. */
	assert_int_equal(store_batch(a, &op, 1, 0, intruder_hook, b), -EAGAIN);
	assert_int_equal(op.rev, 0);
	assert_int_equal(store_get(a, "/x", &kv), 0);
	assert_string_equal(kv->value, "intruder");
	assert_int_equal(kv->mod_rev, 2);
	store_kv_free(kv);
	assert_int_equal(store_revision(a), 2);
	/* Without a hook the batch is read, decided and committed again. */
	op.result = 0;
	assert_int_equal(store_batch(a, &op, 1, 0, NULL, NULL), 0);
	assert_int_equal(op.rev, 3);
	assert_int_equal(store_revision(b), 3);
	store_close(a);
	store_close(b);
}

#define TW_PUTS 40

static void *
tw_writer(void *arg)
{
	struct store *st = arg;
	char	 key[32];
	uintptr_t bad = 0;
	int	 i;

	for (i = 0; i < TW_PUTS; i++) {
		snprintf(key, sizeof(key), "/tw/%p/%d", arg, i);
		if (store_put(st, key, "v", 1, STORE_REV_ABSENT, NULL) < 0)
			bad++;
	}
	return (void *)bad;
}

static void
test_two_handles_gapless(void **state)
{
	struct store *a = open_prefix("tw", ""), *b = open_prefix("tw", "");
	struct store_event *ev = NULL;
	pthread_t ta, tb;
	void	*ra, *rb;
	size_t	 n = 0, i;

	/* Two handles (two replicas) writing at once: conflicts are
	 * retried, every write lands, revisions stay gapless. */
	assert_int_equal(pthread_create(&ta, NULL, tw_writer, a), 0);
	assert_int_equal(pthread_create(&tb, NULL, tw_writer, b), 0);
	assert_int_equal(pthread_join(ta, &ra), 0);
	assert_int_equal(pthread_join(tb, &rb), 0);
	assert_null(ra);
	assert_null(rb);
	assert_int_equal(store_revision(a), 2 * TW_PUTS);
	assert_int_equal(store_changes(a, "", 0, 1000, &ev, &n), 0);
	assert_int_equal(n, 2 * TW_PUTS);
	for (i = 0; i < n; i++)
		assert_int_equal(ev[i].rev, i + 1);
	store_events_free(ev, n);
	store_close(a);
	store_close(b);
}

static void
test_failover_and_spec(void **state)
{
	/* A member that cannot be reached first: the next one answers. */
	struct store *st = open_prefix("failover", "127.0.0.1:1,");
	char	*err = NULL;

	assert_int_equal(put(st, "/f", "v"), 1);
	store_close(st);
	st = NULL;
	/* The spec picks LMDB too. */
	{
		char	 dir[] = "/tmp/bw-store-spec.XXXXXX", spec[64];

		assert_non_null(mkdtemp(dir));
		snprintf(spec, sizeof(spec), "lmdb:%s/s", dir);
		assert_int_equal(store_open_spec(spec, NULL, &st, NULL), 0);
		assert_string_equal(store_backend_name(st), "lmdb");
		store_close(st);
		st = NULL;
		snprintf(spec, sizeof(spec), "rm -rf '%s'", dir);
		assert_int_equal(system(spec), 0);
	}
	assert_int_equal(store_open_spec("etcd://127.0.0.1:1/p?ca=a&cert=b",
	    NULL, &st, &err), -BW_E_INVALID);
	assert_non_null(strstr(err, "client certificate"));
	free(err);
	err = NULL;
	assert_int_equal(store_open_spec("etcd://127.0.0.1:1?ca=a", NULL, &st,
	    &err), -BW_E_INVALID);
	free(err);
	err = NULL;
	assert_true(store_open_spec("etcd://127.0.0.1:1/p?ca=/nonexistent&"
	    "cert=/nonexistent&key=/nonexistent", NULL, &st, &err) < 0);
	assert_null(st);
	free(err);
}

/* store_changes() over more entries than one page of the log, with a
 * prefix that matches every other entry and a MAX inside a page. */
static void
test_changes_pages(void **state)
{
	enum { N = 2500, B = 500 };
	struct store *st = open_prefix("pages", "");
	static struct store_op ops[B];
	static char keys[B][32];
	struct store_event *ev = NULL;
	size_t	 n = 0, i, done;

	for (done = 0; done < N; done += B) {
		for (i = 0; i < B; i++) {
			snprintf(keys[i], sizeof(keys[i]), "/%c/%zu",
			    (done + i) % 2 ? 'b' : 'a', done + i);
			ops[i] = (struct store_op){ .type = STORE_OP_PUT,
			    .key = keys[i], .value = "v", .value_len = 1 };
		}
		assert_int_equal(store_batch(st, ops, B, 0, NULL, NULL), 0);
	}
	assert_int_equal(store_changes(st, "", 0, 100000, &ev, &n), 0);
	assert_int_equal(n, N);
	for (i = 0; i < n; i++)
		assert_int_equal(ev[i].rev, i + 1);
	store_events_free(ev, n);
	assert_int_equal(store_changes(st, "/b/", 0, 100000, &ev, &n), 0);
	assert_int_equal(n, N / 2);
	for (i = 0; i < n; i++)
		assert_int_equal(ev[i].rev, 2 * i + 2);
	store_events_free(ev, n);
	/* MAX ends inside the second page; resuming gives the next. */
	assert_int_equal(store_changes(st, "/a/", 0, 700, &ev, &n), 0);
	assert_int_equal(n, 700);
	assert_int_equal(ev[699].rev, 1399);
	store_events_free(ev, n);
	assert_int_equal(store_changes(st, "/a/", 1399, 1, &ev, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(ev[0].rev, 1401);
	store_events_free(ev, n);
	store_close(st);
}

/* Two handles named r1 and r2 on one prefix keep separate outboxes:
 * the same id in each, and one's trim leaves the other's entries. */
static void
test_replica_outbox(void **state)
{
	struct store *a = open_prefix("replicas", ""), *b = open_prefix("replicas", "");
	struct ob_hook ha = { .st = a, .id = 1 }, hb = { .st = b, .id = 1 };
	struct store_op op = { .type = STORE_OP_PUT, .key = "/k", .value = "v",
	    .value_len = 1 };
	struct store_outbox_entry *e = NULL;
	size_t	 n = 0;
	char	*err = NULL;

	assert_int_equal(store_etcd_set_replica(a, "r1", NULL), 0);
	assert_int_equal(store_etcd_set_replica(b, "r2", NULL), 0);
	assert_int_equal(store_etcd_set_replica(b, "r/2", &err), -BW_E_INVALID);
	free(err);
	assert_int_equal(ob_batch(&op, &ha), 0);
	assert_int_equal(ob_batch(&op, &hb), 0);	/* id 1 again: its own */
	assert_int_equal(store_outbox_list(b, 10, &e, &n), 0);
	assert_int_equal(n, 1);
	store_outbox_entries_free(e, n);
	assert_int_equal(store_outbox_trim(a, 1), 0);
	assert_int_equal(store_outbox_list(a, 10, &e, &n), 0);
	assert_int_equal(n, 0);
	store_outbox_entries_free(e, n);
	assert_int_equal(store_outbox_list(b, 10, &e, &n), 0);
	assert_int_equal(n, 1);
	store_outbox_entries_free(e, n);
	store_close(a);
	store_close(b);
}

/* STEP of candidate E returns WANT with LEADER named. */
static void
elect_step(struct store_election *e, int want, const char *leader)
{
	char	 who[64];
	char	*err = NULL;
	int	 r = store_election_step(e, 2000, who, sizeof(who), &err);

	if (r < 0)
		fail_msg("election step: %s", err);
	assert_int_equal(r, want);
	assert_string_equal(who, leader);
}

/* One leader at a time; a revoked lease hands over at once, an expired
 * one after its TTL, and the candidate whose lease expired learns it
 * lost. */
static void
test_election(void **state)
{
	struct store *a = open_prefix("election", ""), *b = open_prefix("election", "");
	struct store_election *ea = NULL, *eb = NULL, *ec = NULL, *ed = NULL;
	char *err = NULL;

	assert_int_equal(store_election_new(a, "r1", 10, &ea, NULL), 0);
	assert_int_equal(store_election_new(b, "r2", 2, &eb, NULL), 0);
	assert_int_equal(store_election_new(b, "r3", 2, &ec, NULL), 0);
	/* r1 runs (its lease lives 10 s): a second r1 is refused after
	 * waiting out its own TTL + 1 s. */
	elect_step(ea, 1, "r1");
	assert_int_equal(store_election_new(b, "r1", 2, &ed, &err), -BW_E_EXISTS);
	assert_non_null(strstr(err, "in use"));
	free(err);
	err = NULL;
	assert_null(ed);
	elect_step(ea, 1, "r1");
	elect_step(eb, 0, "r1");
	elect_step(ea, 1, "r1");	/* a round after: still ours */
	store_election_free(ea);	/* revoked: the key goes with it */
	elect_step(eb, 1, "r2");
	elect_step(ec, 0, "r2");
	/* Neither keeps its lease alive: both leases expire (2 s); the
	 * next round of each grants a new one, and who asks first leads. */
	sleep(4);
	elect_step(ec, 1, "r3");
	elect_step(eb, 0, "r3");
	store_election_free(eb);
	store_election_free(ec);
	store_close(a);
	store_close(b);
}

/* Labels every deleted value "node-1". */
static void
label_node1(const char *key, const void *value, size_t len, char *buf,
    size_t size)
{
	snprintf(buf, size, "node-1");
}

/* Rewrites change-log entry REV of ST to a delete of KEY with the label
 * bytes LABEL (LEN of them), as the layout in store-etcd.c has it. */
static void
raw_log_delete(struct store *st, uint64_t rev, const char *key,
    const char *label, size_t len)
{
	struct etcd_store *es = etcd_store_of(st);
	unsigned char v[256];
	size_t	 kl = strlen(key);
	char	 hex[17];
	json_t	*req, *ans = NULL;
	char	*err = NULL;

	assert_non_null(es);
	assert_true(2 + kl + len <= sizeof(v));
	v[0] = 'D';
	memcpy(v + 1, key, kl + 1);
	memcpy(v + 2 + kl, label, len);
	snprintf(hex, sizeof(hex), "%016llx", (unsigned long long)rev);
	req = json_pack("{s:o, s:o}", "key", etcd_key(es, "l/", hex),
	    "value", etcd_b64(v, 2 + kl + len));
	assert_non_null(req);
	if (etcd_post(es, "/v3/kv/put", req, &ans, &err) < 0)
		fail_msg("%s", err);
	json_decref(req);
	json_decref(ans);
}

/* A delete's label in l/REV: kept and read back; an entry without one
 * (as a store before the labels wrote it) reads as ""; one longer than
 * STORE_LABEL_MAX is damage. */
static void
test_delete_label_bytes(void **state)
{
	struct store *st = open_prefix("labels", "");
	struct store_event *ev = NULL;
	char	 label[STORE_LABEL_MAX + 2];
	size_t	 n = 0;

	store_set_delete_label(st, label_node1);
	put(st, "/k", "v");
	assert_int_equal(store_delete(st, "/k", STORE_REV_ANY, NULL), 0);
	assert_int_equal(store_changes(st, "", 1, 10, &ev, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(ev[0].type, STORE_OP_DELETE);
	assert_string_equal(ev[0].label, "node-1");
	store_events_free(ev, n);

	raw_log_delete(st, 2, "/k", "", 0);
	assert_int_equal(store_changes(st, "", 1, 10, &ev, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(ev[0].label, "");
	store_events_free(ev, n);

	memset(label, 'x', sizeof(label));
	raw_log_delete(st, 2, "/k", label, STORE_LABEL_MAX);
	assert_int_equal(store_changes(st, "", 1, 10, &ev, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(strlen(ev[0].label), STORE_LABEL_MAX);
	store_events_free(ev, n);

	raw_log_delete(st, 2, "/k", label, STORE_LABEL_MAX + 1);
	assert_int_equal(store_changes(st, "", 1, 10, &ev, &n), -BW_E_CORRUPT);
	store_close(st);
}

static const struct CMUnitTest etcd_tests[] = {
	cmocka_unit_test(test_delete_label_bytes),
	cmocka_unit_test(test_replica_outbox),
	cmocka_unit_test(test_election),
	cmocka_unit_test(test_changes_pages),
	cmocka_unit_test(test_outbox),
	cmocka_unit_test(test_second_writer),
	cmocka_unit_test(test_two_handles_gapless),
	cmocka_unit_test(test_failover_and_spec),
};

int
main(void)
{
	struct etcd_env e = {
		.endpoints = getenv("BW_ETCD_ENDPOINTS"),
		.ca = getenv("BW_ETCD_CA"),
		.cert = getenv("BW_ETCD_CERT"),
		.key = getenv("BW_ETCD_KEY"),
	};
	struct store_test_factory etcd = {
		.name = "store-conformance-etcd",
		.open = etcd_factory_open,
		.ctx = &e,
	};

	if (!e.endpoints || !e.ca || !e.cert || !e.key) {
		printf("1..0 # SKIP no etcd cluster (run "
		    "tests/integration/store-etcd.sh)\n");
		return 0;
	}
	env = e;
	return store_conformance_run(&etcd) + cmocka_run_group_tests_name(
	    "store-etcd", etcd_tests, NULL, NULL);
}

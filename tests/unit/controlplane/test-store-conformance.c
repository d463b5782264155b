/* Backend-neutral conformance tests of controlplane/store.h. Each test
 * gets a fresh store in its own temporary directory from the factory
 * given to store_conformance_run(); nothing here knows the backend. */
#include "config.h"

#include <errno.h>
#include <ftw.h>
#include <limits.h>
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

#include "controlplane/store.h"
#include "lib/err.h"
#include "tests/unit/controlplane/test-store-conformance.h"

static const struct store_test_factory *factory;

struct fx {
	char		 dir[PATH_MAX];
	struct store	*st;
};

static int
fx_setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));
	const char *tmp = getenv("TMPDIR");

	if (!fx)
		return -1;
	snprintf(fx->dir, sizeof(fx->dir), "%s/bw-store-......",
	    tmp && tmp[0] ? tmp : "/tmp");
	/* mkdtemp() replaces the last six characters of the template. */
	memset(fx->dir + strlen(fx->dir) - 6, 'X', 6);
	if (!mkdtemp(fx->dir) || factory->open(factory->ctx, fx->dir,
	    &fx->st) < 0) {
		free(fx);
		return -1;
	}
	*state = fx;
	return 0;
}

static int
rm_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	return remove(path);
}

static int
fx_teardown(void **state)
{
	struct fx *fx = *state;

	store_close(fx->st);
	nftw(fx->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(fx);
	return 0;
}

static void
fx_reopen(struct fx *fx)
{
	store_close(fx->st);
	fx->st = NULL;
	assert_int_equal(factory->open(factory->ctx, fx->dir, &fx->st), 0);
}

static uint64_t
put_str(struct store *st, const char *key, const char *v)
{
	uint64_t rev = 0;

	assert_int_equal(store_put(st, key, v, strlen(v), STORE_REV_ANY,
	    &rev), 0);
	assert_true(rev > 0);
	return rev;
}

static void
assert_value(struct store *st, const char *key, const char *v,
    uint64_t mod_rev)
{
	struct store_kv *kv = NULL;

	assert_int_equal(store_get(st, key, &kv), 0);
	assert_string_equal(kv->key, key);
	assert_int_equal(kv->value_len, strlen(v));
	assert_memory_equal(kv->value, v, strlen(v) + 1);	/* NUL too */
	if (mod_rev)
		assert_int_equal(kv->mod_rev, mod_rev);
	store_kv_free(kv);
}

static void
assert_absent(struct store *st, const char *key)
{
	struct store_kv *kv = NULL;

	assert_int_equal(store_get(st, key, &kv), -BW_E_NOTFOUND);
	assert_null(kv);
}

/* Asserts the whole change log after SINCE is exactly N events with
 * consecutive revisions from SINCE + 1. */
static void
assert_log_len(struct store *st, uint64_t since, size_t n)
{
	struct store_event *ev = NULL;
	size_t	 got = 0, i;

	assert_int_equal(store_changes(st, "", since, 100000, &ev, &got), 0);
	assert_int_equal(got, n);
	for (i = 0; i < got; i++)
		assert_int_equal(ev[i].rev, since + 1 + i);
	store_events_free(ev, got);
}

static void
test_empty(void **state)
{
	struct fx *fx = *state;
	struct store_kv **a = NULL;
	struct store_event *ev = NULL;
	size_t	 n = 1;
	uint64_t rev = 1;

	assert_int_equal(store_revision(fx->st), 0);
	assert_int_equal(store_compacted_revision(fx->st), 0);
	assert_non_null(store_backend_name(fx->st));
	assert_absent(fx->st, "/a");
	assert_int_equal(store_list(fx->st, "", &a, &n, &rev), 0);
	assert_int_equal(n, 0);
	assert_int_equal(rev, 0);
	store_kv_array_free(a, n);
	n = 1;
	assert_int_equal(store_changes(fx->st, NULL, 0, 10, &ev, &n), 0);
	assert_int_equal(n, 0);
	store_events_free(ev, n);
	store_close(NULL);
}

static void
test_put_get(void **state)
{
	struct fx *fx = *state;
	struct store_kv *kv = NULL;
	const unsigned char bin[] = { 0, 1, 0xff, 0, 'x' };
	uint64_t r1, r2, r3;

	r1 = put_str(fx->st, "/t/a", "one");
	assert_int_equal(r1, 1);
	assert_int_equal(store_revision(fx->st), 1);
	assert_int_equal(store_get(fx->st, "/t/a", &kv), 0);
	assert_int_equal(kv->create_rev, 1);
	assert_int_equal(kv->mod_rev, 1);
	store_kv_free(kv);

	/* Overwrite keeps create_rev and moves mod_rev. */
	r2 = put_str(fx->st, "/t/a", "two, longer");
	assert_int_equal(r2, 2);
	assert_int_equal(store_get(fx->st, "/t/a", &kv), 0);
	assert_int_equal(kv->create_rev, 1);
	assert_int_equal(kv->mod_rev, 2);
	store_kv_free(kv);
	assert_value(fx->st, "/t/a", "two, longer", 2);

	/* Empty and binary values round-trip. */
	assert_int_equal(store_put(fx->st, "/t/empty", NULL, 0, STORE_REV_ANY,
	    &r3), 0);
	assert_int_equal(r3, 3);
	assert_value(fx->st, "/t/empty", "", 3);
	assert_int_equal(store_put(fx->st, "/t/bin", bin, sizeof(bin),
	    STORE_REV_ANY, NULL), 0);
	assert_int_equal(store_get(fx->st, "/t/bin", &kv), 0);
	assert_int_equal(kv->value_len, sizeof(bin));
	assert_memory_equal(kv->value, bin, sizeof(bin));
	store_kv_free(kv);
	assert_int_equal(store_revision(fx->st), 4);
	/* A key that is a prefix of another is its own key. */
	assert_absent(fx->st, "/t/");
	assert_absent(fx->st, "/t/a/");
}

static void
test_delete(void **state)
{
	struct fx *fx = *state;
	uint64_t rev = 0;

	put_str(fx->st, "/d/a", "x");
	put_str(fx->st, "/d/b", "y");
	assert_int_equal(store_delete(fx->st, "/d/a", STORE_REV_ANY, &rev), 0);
	assert_int_equal(rev, 3);
	assert_absent(fx->st, "/d/a");
	assert_value(fx->st, "/d/b", "y", 2);
	/* Deleting what is gone fails and consumes no revision. */
	assert_int_equal(store_delete(fx->st, "/d/a", STORE_REV_ANY, &rev),
	    -BW_E_NOTFOUND);
	assert_int_equal(store_revision(fx->st), 3);
	/* Re-creating starts a new life: create_rev is new. */
	rev = put_str(fx->st, "/d/a", "again");
	assert_int_equal(rev, 4);
	{
		struct store_kv *kv = NULL;

		assert_int_equal(store_get(fx->st, "/d/a", &kv), 0);
		assert_int_equal(kv->create_rev, 4);
		store_kv_free(kv);
	}
	assert_log_len(fx->st, 0, 4);
}

static void
test_preconditions(void **state)
{
	struct fx *fx = *state;
	uint64_t r1 = 0, r2 = 0, rev = 0;

	assert_int_equal(store_put(fx->st, "/p/a", "1", 1, STORE_REV_ABSENT,
	    &r1), 0);
	assert_int_equal(store_put(fx->st, "/p/a", "2", 1, STORE_REV_ABSENT,
	    &rev), -BW_E_EXISTS);
	/* Exact revision: matches, then is stale. */
	assert_int_equal(store_put(fx->st, "/p/a", "2", 1, r1, &r2), 0);
	assert_true(r2 > r1);
	assert_int_equal(store_put(fx->st, "/p/a", "3", 1, r1, &rev),
	    -BW_E_CONFLICT);
	assert_value(fx->st, "/p/a", "2", r2);
	/* Exact revision on a missing key. */
	assert_int_equal(store_put(fx->st, "/p/none", "x", 1, r2, &rev),
	    -BW_E_NOTFOUND);
	assert_absent(fx->st, "/p/none");
	/* Deletes: stale, absent-precondition, missing, exact. */
	assert_int_equal(store_delete(fx->st, "/p/a", r1, &rev),
	    -BW_E_CONFLICT);
	assert_int_equal(store_delete(fx->st, "/p/a", STORE_REV_ABSENT, &rev),
	    -BW_E_INVALID);
	assert_int_equal(store_delete(fx->st, "/p/none", r2, &rev),
	    -BW_E_NOTFOUND);
	assert_value(fx->st, "/p/a", "2", r2);
	/* Failures consumed no revision and left no event. */
	assert_int_equal(store_revision(fx->st), r2);
	assert_log_len(fx->st, 0, 2);
	assert_int_equal(store_delete(fx->st, "/p/a", r2, &rev), 0);
	assert_int_equal(rev, r2 + 1);
	assert_absent(fx->st, "/p/a");
	/* ABSENT holds again after the delete. */
	assert_int_equal(store_put(fx->st, "/p/a", "4", 1, STORE_REV_ABSENT,
	    &rev), 0);
}

static void
test_list_prefix(void **state)
{
	struct fx *fx = *state;
	/* Inserted out of order; "/a" sorts before "/a/", "/a0" after. */
	const char *keys[] = { "/b", "/a/2", "/ab", "/a/1", "/a", "/a0",
	    "/a/10" };
	struct store_kv **a = NULL;
	size_t	 n = 0, i;
	uint64_t rev = 0;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		put_str(fx->st, keys[i], keys[i]);
	assert_int_equal(store_list(fx->st, "/a/", &a, &n, &rev), 0);
	assert_int_equal(n, 3);
	assert_int_equal(rev, 7);
	assert_string_equal(a[0]->key, "/a/1");
	assert_string_equal(a[1]->key, "/a/10");
	assert_string_equal(a[2]->key, "/a/2");
	assert_string_equal(a[0]->value, "/a/1");
	assert_int_equal(a[0]->mod_rev, 4);
	assert_int_equal(a[2]->create_rev, 2);
	store_kv_array_free(a, n);

	assert_int_equal(store_list(fx->st, NULL, &a, &n, NULL), 0);
	assert_int_equal(n, 7);
	for (i = 1; i < n; i++)
		assert_true(strcmp(a[i - 1]->key, a[i]->key) < 0);
	store_kv_array_free(a, n);

	assert_int_equal(store_list(fx->st, "/a", &a, &n, NULL), 0);
	assert_int_equal(n, 6);
	store_kv_array_free(a, n);
	assert_int_equal(store_list(fx->st, "/c", &a, &n, &rev), 0);
	assert_int_equal(n, 0);
	assert_int_equal(rev, 7);
	store_kv_array_free(a, n);
	/* A prefix past every key. */
	assert_int_equal(store_list(fx->st, "~", &a, &n, NULL), 0);
	assert_int_equal(n, 0);
	store_kv_array_free(a, n);

	/* The snapshot revision follows writes and deletes. */
	assert_int_equal(store_delete(fx->st, "/a/10", STORE_REV_ANY, NULL), 0);
	assert_int_equal(store_list(fx->st, "/a/", &a, &n, &rev), 0);
	assert_int_equal(n, 2);
	assert_int_equal(rev, 8);
	store_kv_array_free(a, n);
}

/* store_list_range(): a stretch after a key, bounded by count and by
 * bytes (the entry that reaches the bound is the last). */
static void
test_list_range(void **state)
{
	struct fx *fx = *state;
	/* "/r/bb" is 3 bytes of value, the others 4 or more */
	const char *keys[] = { "/r/c", "/r/a", "/r/bb", "/r/d", "/s/a", "/r" };
	struct store_kv **a = NULL;
	size_t	 n = 0, i;
	uint64_t rev = 0;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		put_str(fx->st, keys[i], keys[i] + 1);
	assert_int_equal(store_list_range(fx->st, "/r/", NULL, 2, SIZE_MAX,
	    &a, &n, &rev), 0);
	assert_int_equal(n, 2);
	assert_int_equal(rev, 6);
	assert_string_equal(a[0]->key, "/r/a");
	assert_string_equal(a[1]->key, "/r/bb");
	store_kv_array_free(a, n);
	/* after a key that exists, and after one that does not */
	assert_int_equal(store_list_range(fx->st, "/r/", "/r/bb", 10,
	    SIZE_MAX, &a, &n, NULL), 0);
	assert_int_equal(n, 2);
	assert_string_equal(a[0]->key, "/r/c");
	assert_string_equal(a[1]->key, "/r/d");
	store_kv_array_free(a, n);
	assert_int_equal(store_list_range(fx->st, "/r/", "/r/b", 1, SIZE_MAX,
	    &a, &n, NULL), 0);
	assert_int_equal(n, 1);
	assert_string_equal(a[0]->key, "/r/bb");
	store_kv_array_free(a, n);
	/* bytes: "r/a" (3) does not reach 4, "r/bb" does and is the last */
	assert_int_equal(store_list_range(fx->st, "/r/", NULL, 10, 4, &a, &n,
	    NULL), 0);
	assert_int_equal(n, 2);
	assert_string_equal(a[1]->key, "/r/bb");
	store_kv_array_free(a, n);
	/* past the last: nothing, and the prefix bounds the stretch */
	assert_int_equal(store_list_range(fx->st, "/r/", "/r/d", 10, SIZE_MAX,
	    &a, &n, &rev), 0);
	assert_int_equal(n, 0);
	assert_int_equal(rev, 6);
	store_kv_array_free(a, n);
	/* AFTER outside PREFIX, or no room at all */
	assert_int_equal(store_list_range(fx->st, "/r/", "/s/a", 1, 1, &a, &n,
	    NULL), -BW_E_INVALID);
	assert_int_equal(store_list_range(fx->st, "/r/", NULL, 0, 1, &a, &n,
	    NULL), -BW_E_INVALID);
}

static void
test_batch_independent(void **state)
{
	struct fx *fx = *state;
	uint64_t r1 = put_str(fx->st, "/b/x", "x");
	struct store_op ops[] = {
		{ .type = STORE_OP_PUT, .key = "/b/new", .value = "n",
		  .value_len = 1, .expect_rev = STORE_REV_ABSENT },
		{ .type = STORE_OP_PUT, .key = "/b/x", .value = "y",
		  .value_len = 1, .expect_rev = STORE_REV_ABSENT },  /* EXISTS */
		{ .type = STORE_OP_PUT, .key = "/b/x", .value = "z",
		  .value_len = 1, .expect_rev = r1 },
		{ .type = STORE_OP_DELETE, .key = "/b/none" },       /* NOTFOUND */
		{ .type = STORE_OP_PUT, .key = "", .value = "z",
		  .value_len = 1 },                                  /* INVALID */
		{ .type = STORE_OP_PUT, .key = "/b/x", .value = "w",
		  .value_len = 1, .expect_rev = r1 },                /* stale now */
		{ .type = STORE_OP_DELETE, .key = "/b/new",
		  .expect_rev = r1 + 1 },  /* sees op 0 of this batch */
	};

	assert_int_equal(store_batch(fx->st, ops, 7, 0, NULL, NULL), 0);
	assert_int_equal(ops[0].result, 0);
	assert_int_equal(ops[0].rev, r1 + 1);
	assert_int_equal(ops[1].result, -BW_E_EXISTS);
	assert_int_equal(ops[1].rev, 0);
	assert_int_equal(ops[2].result, 0);
	assert_int_equal(ops[2].rev, r1 + 2);
	assert_int_equal(ops[3].result, -BW_E_NOTFOUND);
	assert_int_equal(ops[4].result, -BW_E_INVALID);
	assert_int_equal(ops[5].result, -BW_E_CONFLICT);
	assert_int_equal(ops[6].result, 0);
	assert_int_equal(ops[6].rev, r1 + 3);
	assert_int_equal(store_revision(fx->st), r1 + 3);
	assert_value(fx->st, "/b/x", "z", r1 + 2);
	assert_absent(fx->st, "/b/new");
	assert_log_len(fx->st, 0, 4);

	/* Nothing applicable: committed as a no-op, revision unchanged. */
	ops[0].expect_rev = STORE_REV_ABSENT;
	ops[0].key = "/b/x";
	assert_int_equal(store_batch(fx->st, ops, 1, 0, NULL, NULL), 0);
	assert_int_equal(ops[0].result, -BW_E_EXISTS);
	assert_int_equal(store_revision(fx->st), r1 + 3);
	/* Zero ops do nothing. */
	assert_int_equal(store_batch(fx->st, NULL, 0, 0, NULL, NULL), 0);
}

static void
test_batch_atomic(void **state)
{
	struct fx *fx = *state;
	uint64_t r1 = put_str(fx->st, "/t/x", "x");
	struct store_op ops[] = {
		{ .type = STORE_OP_PUT, .key = "/t/a", .value = "a",
		  .value_len = 1, .expect_rev = STORE_REV_ABSENT },
		{ .type = STORE_OP_PUT, .key = "/t/x", .value = "y",
		  .value_len = 1, .expect_rev = r1 + 5 },            /* stale */
		{ .type = STORE_OP_DELETE, .key = "/t/x",
		  .expect_rev = STORE_REV_ANY },
	};

	assert_int_equal(store_batch(fx->st, ops, 3, STORE_BATCH_ATOMIC,
	    NULL, NULL), -BW_E_CONFLICT);
	assert_int_equal(ops[0].result, 0);
	assert_int_equal(ops[1].result, -BW_E_CONFLICT);
	assert_int_equal(ops[0].rev, 0);
	assert_int_equal(ops[2].rev, 0);
	assert_int_equal(store_revision(fx->st), r1);
	assert_absent(fx->st, "/t/a");
	assert_value(fx->st, "/t/x", "x", r1);
	assert_log_len(fx->st, 0, 1);

	/* A bad op refuses the whole atomic batch with its own error. */
	ops[1].expect_rev = r1;
	ops[0].key = "bad\nkey";
	assert_int_equal(store_batch(fx->st, ops, 3, STORE_BATCH_ATOMIC,
	    NULL, NULL), -BW_E_INVALID);
	assert_int_equal(ops[0].result, -BW_E_INVALID);
	assert_int_equal(store_revision(fx->st), r1);

	/* All preconditions hold: every op applied with its own revision,
	 * later ops seeing earlier ones (the delete removes the put). */
	ops[0].key = "/t/a";
	assert_int_equal(store_batch(fx->st, ops, 3, STORE_BATCH_ATOMIC,
	    NULL, NULL), 0);
	assert_int_equal(ops[0].rev, r1 + 1);
	assert_int_equal(ops[1].rev, r1 + 2);
	assert_int_equal(ops[2].rev, r1 + 3);
	assert_int_equal(store_revision(fx->st), r1 + 3);
	assert_value(fx->st, "/t/a", "a", r1 + 1);
	assert_absent(fx->st, "/t/x");
	assert_log_len(fx->st, 0, 4);
}

struct hook {
	int		 calls;
	int		 ret;
	size_t		 n;
	uint64_t	 revs[4];
	int		 results[4];
	uint64_t	 rev_seen;
	struct store	*st;
};

static int
hook_before_commit(void *ctx, const struct store_op *ops, size_t n)
{
	struct hook *h = ctx;
	size_t	 i;

	h->calls++;
	h->n = n;
	for (i = 0; i < n && i < 4; i++) {
		h->revs[i] = ops[i].rev;
		h->results[i] = ops[i].result;
	}
	/* Readers must not see the staged batch before the commit. */
	h->rev_seen = store_revision(h->st);
	return h->ret;
}

static void
test_before_commit_refusal(void **state)
{
	struct fx *fx = *state;
	uint64_t r1 = put_str(fx->st, "/h/x", "x");
	struct hook h = { .ret = -BW_E_AUDIT, .st = fx->st };
	struct store_op ops[] = {
		{ .type = STORE_OP_PUT, .key = "/h/a", .value = "a",
		  .value_len = 1 },
		{ .type = STORE_OP_DELETE, .key = "/h/x" },
	};
	struct store_kv **a = NULL;
	size_t	 n = 0;
	uint64_t rev = 0;

	assert_int_equal(store_batch(fx->st, ops, 2, 0, hook_before_commit,
	    &h), -BW_E_AUDIT);
	assert_int_equal(h.calls, 1);
	assert_int_equal(h.n, 2);
	/* The hook saw the revisions the ops were about to get. */
	assert_int_equal(h.revs[0], r1 + 1);
	assert_int_equal(h.revs[1], r1 + 2);
	assert_int_equal(h.rev_seen, r1);
	/* ... and after the refusal nothing of them remains. */
	assert_int_equal(ops[0].rev, 0);
	assert_int_equal(ops[1].rev, 0);
	assert_int_equal(store_revision(fx->st), r1);
	assert_absent(fx->st, "/h/a");
	assert_value(fx->st, "/h/x", "x", r1);
	assert_log_len(fx->st, r1, 0);
	assert_int_equal(store_list(fx->st, "/h/", &a, &n, &rev), 0);
	assert_int_equal(n, 1);
	assert_int_equal(rev, r1);
	store_kv_array_free(a, n);

	/* Atomic batch, also refused. */
	h.calls = 0;
	assert_int_equal(store_batch(fx->st, ops, 2, STORE_BATCH_ATOMIC,
	    hook_before_commit, &h), -BW_E_AUDIT);
	assert_int_equal(h.calls, 1);
	assert_int_equal(store_revision(fx->st), r1);

	/* Still nothing after a reopen (nothing half-written). */
	fx_reopen(fx);
	h.st = fx->st;
	assert_int_equal(store_revision(fx->st), r1);
	assert_absent(fx->st, "/h/a");
	assert_log_len(fx->st, 0, 1);

	/* The next accepted write takes the next revision: no gap. */
	h.ret = 0;
	h.calls = 0;
	assert_int_equal(store_batch(fx->st, ops, 2, 0, hook_before_commit,
	    &h), 0);
	assert_int_equal(h.calls, 1);
	assert_int_equal(ops[0].rev, r1 + 1);
	assert_int_equal(ops[1].rev, r1 + 2);
	assert_log_len(fx->st, 0, 3);
}

static void
test_before_commit_calls(void **state)
{
	struct fx *fx = *state;
	uint64_t r1 = put_str(fx->st, "/h/x", "x");
	struct hook h = { .ret = 0, .st = fx->st };
	struct store_op op = { .type = STORE_OP_PUT, .key = "/h/x",
	    .value = "y", .value_len = 1, .expect_rev = STORE_REV_ABSENT };

	/* Independent mode: called even when every op failed, so the
	 * caller can record the failures. */
	assert_int_equal(store_batch(fx->st, &op, 1, 0, hook_before_commit,
	    &h), 0);
	assert_int_equal(h.calls, 1);
	assert_int_equal(h.results[0], -BW_E_EXISTS);
	assert_int_equal(h.revs[0], 0);
	/* Atomic mode: not called when the batch fails its checks. */
	h.calls = 0;
	assert_int_equal(store_batch(fx->st, &op, 1, STORE_BATCH_ATOMIC,
	    hook_before_commit, &h), -BW_E_CONFLICT);
	assert_int_equal(h.calls, 0);
	assert_int_equal(op.result, -BW_E_EXISTS);
	/* A refusal with nothing to apply still returns the refusal. */
	h.ret = -BW_E_AUDIT;
	assert_int_equal(store_batch(fx->st, &op, 1, 0, hook_before_commit,
	    &h), -BW_E_AUDIT);
	assert_int_equal(store_revision(fx->st), r1);
}

static void
test_changes(void **state)
{
	struct fx *fx = *state;
	struct store_event *ev = NULL;
	size_t	 n = 0;

	put_str(fx->st, "/w/a", "1");			/* 1 */
	put_str(fx->st, "/x/a", "2");			/* 2 */
	put_str(fx->st, "/w/b", "3");			/* 3 */
	assert_int_equal(store_delete(fx->st, "/w/a", STORE_REV_ANY, NULL),
	    0);						/* 4 */
	put_str(fx->st, "/w/b", "5");			/* 5 */

	assert_int_equal(store_changes(fx->st, "", 0, 100, &ev, &n), 0);
	assert_int_equal(n, 5);
	assert_int_equal(ev[0].type, STORE_OP_PUT);
	assert_string_equal(ev[0].key, "/w/a");
	assert_string_equal(ev[0].value, "1");
	assert_int_equal(ev[0].value_len, 1);
	assert_int_equal(ev[3].type, STORE_OP_DELETE);
	assert_string_equal(ev[3].key, "/w/a");
	assert_null(ev[3].value);
	assert_int_equal(ev[3].value_len, 0);
	assert_int_equal(ev[3].rev, 4);
	store_events_free(ev, n);

	assert_int_equal(store_changes(fx->st, "/w/", 1, 100, &ev, &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(ev[0].rev, 3);
	assert_int_equal(ev[1].rev, 4);
	assert_int_equal(ev[2].rev, 5);
	assert_string_equal(ev[2].value, "5");
	store_events_free(ev, n);

	/* MAX bounds the answer; resuming from the last revision seen
	 * gives the rest. */
	assert_int_equal(store_changes(fx->st, "/w/", 0, 2, &ev, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(ev[1].rev, 3);
	store_events_free(ev, n);
	assert_int_equal(store_changes(fx->st, "/w/", 3, 2, &ev, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(ev[0].rev, 4);
	store_events_free(ev, n);

	assert_int_equal(store_changes(fx->st, "/x/", 2, 100, &ev, &n), 0);
	assert_int_equal(n, 0);
	store_events_free(ev, n);
	assert_int_equal(store_changes(fx->st, "", 5, 100, &ev, &n), 0);
	assert_int_equal(n, 0);
	store_events_free(ev, n);
	assert_int_equal(store_changes(fx->st, "", 1000, 100, &ev, &n), 0);
	assert_int_equal(n, 0);
	store_events_free(ev, n);
	assert_int_equal(store_changes(fx->st, "", UINT64_MAX, 100, &ev, &n),
	    0);
	assert_int_equal(n, 0);
	store_events_free(ev, n);
	assert_int_equal(store_changes(fx->st, "", 0, 0, &ev, &n),
	    -BW_E_INVALID);
}

/* A test labeller: the value's text itself, so what the log kept is
 * visible; "long" values give more than STORE_LABEL_MAX bytes, cut. */
static void
label_is_value(const char *key, const void *value, size_t len, char *buf,
    size_t size)
{
	(void)key;
	snprintf(buf, size, "%.*s", (int)len, (const char *)value);
}

static void
test_delete_label(void **state)
{
	struct fx *fx = *state;
	struct store_event *ev = NULL;
	struct store_op ops[3] = {
		{ .type = STORE_OP_PUT, .key = "/l/b", .value = "n3",
		  .value_len = 2, .expect_rev = STORE_REV_ANY },
		{ .type = STORE_OP_DELETE, .key = "/l/b",
		  .expect_rev = STORE_REV_ANY },
		{ .type = STORE_OP_DELETE, .key = "/l/c",
		  .expect_rev = STORE_REV_ANY },
	};
	char	 longv[200];
	size_t	 n = 0;

	memset(longv, 'x', sizeof(longv) - 1);
	longv[sizeof(longv) - 1] = 0;
	put_str(fx->st, "/l/a", "n1");				/* 1 */
	assert_int_equal(store_delete(fx->st, "/l/a", STORE_REV_ANY, NULL),
	    0);							/* 2: no labeller */
	store_set_delete_label(fx->st, label_is_value);
	put_str(fx->st, "/l/a", "n2");				/* 3 */
	assert_int_equal(store_delete(fx->st, "/l/a", STORE_REV_ANY, NULL),
	    0);							/* 4 */
	put_str(fx->st, "/l/b", "n1");				/* 5 */
	put_str(fx->st, "/l/c", "bad\001");			/* 6 */
	/* the label is of the value the delete removed: the batch's own
	 * put, not the value read before it; a control byte: no label */
	assert_int_equal(store_batch(fx->st, ops, 3, STORE_BATCH_ATOMIC,
	    NULL, NULL), 0);					/* 7, 8, 9 */
	put_str(fx->st, "/l/d", longv);				/* 10 */
	assert_int_equal(store_delete(fx->st, "/l/d", STORE_REV_ANY, NULL),
	    0);							/* 11 */
	fx_reopen(fx);
	assert_int_equal(store_changes(fx->st, "/l/", 0, 100, &ev, &n), 0);
	assert_int_equal(n, 11);
	assert_string_equal(ev[0].label, "");
	assert_string_equal(ev[1].label, "");
	assert_string_equal(ev[3].label, "n2");
	assert_null(ev[3].value);
	assert_string_equal(ev[7].label, "n3");
	assert_string_equal(ev[8].label, "");
	assert_int_equal(strlen(ev[10].label), STORE_LABEL_MAX);
	assert_int_equal(ev[10].type, STORE_OP_DELETE);
	store_events_free(ev, n);
}

static void
test_compaction(void **state)
{
	struct fx *fx = *state;
	struct store_event *ev = NULL;
	size_t	 n = 0;
	char	 key[32];
	int	 i;

	for (i = 1; i <= 10; i++) {
		snprintf(key, sizeof(key), "/c/%d", i % 3);
		put_str(fx->st, key, key);
	}
	assert_int_equal(store_compact(fx->st, 4), 0);
	assert_int_equal(store_compacted_revision(fx->st), 4);
	assert_int_equal(store_changes(fx->st, "", 3, 100, &ev, &n),
	    -BW_E_COMPACTED);
	assert_int_equal(store_changes(fx->st, "/c/", 0, 100, &ev, &n),
	    -BW_E_COMPACTED);
	assert_int_equal(store_changes(fx->st, "", 4, 100, &ev, &n), 0);
	assert_int_equal(n, 6);
	assert_int_equal(ev[0].rev, 5);
	store_events_free(ev, n);
	/* Current values are untouched by compaction. */
	assert_value(fx->st, "/c/1", "/c/1", 10);
	assert_value(fx->st, "/c/2", "/c/2", 8);
	/* Going back is a no-op; past the revision is refused. */
	assert_int_equal(store_compact(fx->st, 2), 0);
	assert_int_equal(store_compacted_revision(fx->st), 4);
	assert_int_equal(store_compact(fx->st, 11), -BW_E_INVALID);
	/* Up to the current revision: the log is empty, watching from
	 * there works and sees the next write. */
	assert_int_equal(store_compact(fx->st, 10), 0);
	assert_int_equal(store_changes(fx->st, "", 9, 100, &ev, &n),
	    -BW_E_COMPACTED);
	assert_int_equal(store_changes(fx->st, "", 10, 100, &ev, &n), 0);
	assert_int_equal(n, 0);
	store_events_free(ev, n);
	put_str(fx->st, "/c/z", "z");
	assert_int_equal(store_changes(fx->st, "", 10, 100, &ev, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(ev[0].rev, 11);
	store_events_free(ev, n);
	assert_int_equal(store_revision(fx->st), 11);
}

static void
test_compaction_large(void **state)
{
	struct fx *fx = *state;
	enum { N = 25000 };
	struct store_op *ops = calloc(STORE_BATCH_MAX, sizeof(*ops));
	char	(*keys)[16] = calloc(STORE_BATCH_MAX, 16);
	size_t	 done = 0, i, k;

	/* More entries than one compaction transaction drops. */
	assert_non_null(ops);
	assert_non_null(keys);
	while (done < N) {
		k = N - done < STORE_BATCH_MAX ? N - done : STORE_BATCH_MAX;
		for (i = 0; i < k; i++) {
			snprintf(keys[i], 16, "/l/%zu", (done + i) % 100);
			ops[i] = (struct store_op){ .type = STORE_OP_PUT,
			    .key = keys[i], .value = "v", .value_len = 1 };
		}
		assert_int_equal(store_batch(fx->st, ops, k, 0, NULL, NULL), 0);
		done += k;
	}
	assert_int_equal(store_revision(fx->st), N);
	assert_int_equal(store_compact(fx->st, N - 5), 0);
	assert_int_equal(store_compacted_revision(fx->st), N - 5);
	assert_log_len(fx->st, N - 5, 5);
	fx_reopen(fx);
	assert_int_equal(store_compacted_revision(fx->st), N - 5);
	assert_log_len(fx->st, N - 5, 5);
	free(ops);
	free(keys);
}

static void
test_reopen(void **state)
{
	struct fx *fx = *state;
	struct store_kv **a = NULL;
	size_t	 n = 0;
	uint64_t rev = 0;

	put_str(fx->st, "/r/a", "a");
	put_str(fx->st, "/r/b", "b");
	put_str(fx->st, "/r/a", "a2");
	assert_int_equal(store_delete(fx->st, "/r/b", STORE_REV_ANY, NULL), 0);
	put_str(fx->st, "/r/c", "c");
	assert_int_equal(store_compact(fx->st, 2), 0);
	fx_reopen(fx);
	assert_int_equal(store_revision(fx->st), 5);
	assert_int_equal(store_compacted_revision(fx->st), 2);
	assert_value(fx->st, "/r/a", "a2", 3);
	assert_absent(fx->st, "/r/b");
	assert_int_equal(store_list(fx->st, "/r/", &a, &n, &rev), 0);
	assert_int_equal(n, 2);
	assert_int_equal(rev, 5);
	assert_int_equal(a[0]->create_rev, 1);
	store_kv_array_free(a, n);
	assert_log_len(fx->st, 2, 3);
	/* Numbering continues. */
	assert_int_equal(put_str(fx->st, "/r/d", "d"), 6);
	fx_reopen(fx);
	assert_int_equal(store_revision(fx->st), 6);
	assert_value(fx->st, "/r/d", "d", 6);
}

static void
test_limits(void **state)
{
	struct fx *fx = *state;
	char	 key[STORE_KEY_MAX + 2];
	char	*big = malloc(STORE_VALUE_MAX + 1);
	struct store_op *ops = calloc(STORE_BATCH_MAX + 1, sizeof(*ops));
	struct store_kv *kv = NULL;
	size_t	 i;

	assert_non_null(big);
	assert_non_null(ops);
	memset(big, 'v', STORE_VALUE_MAX + 1);
	memset(key, 'k', sizeof(key));
	key[0] = '/';
	key[STORE_KEY_MAX] = 0;
	assert_int_equal(store_key_check(key), 0);
	assert_int_equal(store_put(fx->st, key, big, STORE_VALUE_MAX,
	    STORE_REV_ANY, NULL), 0);
	assert_int_equal(store_get(fx->st, key, &kv), 0);
	assert_int_equal(kv->value_len, STORE_VALUE_MAX);
	assert_int_equal(strlen(kv->key), STORE_KEY_MAX);
	store_kv_free(kv);
	assert_int_equal(store_put(fx->st, "/big", big, STORE_VALUE_MAX + 1,
	    STORE_REV_ANY, NULL), -BW_E_TOOLARGE);
	key[STORE_KEY_MAX] = 'k';
	key[STORE_KEY_MAX + 1] = 0;
	assert_int_equal(store_put(fx->st, key, "v", 1, STORE_REV_ANY, NULL),
	    -BW_E_TOOLARGE);
	assert_int_equal(store_get(fx->st, key, &kv), -BW_E_TOOLARGE);
	assert_int_equal(store_delete(fx->st, key, STORE_REV_ANY, NULL),
	    -BW_E_TOOLARGE);

	/* Too many ops, and too many bytes, refuse the whole batch even
	 * without STORE_BATCH_ATOMIC. */
	for (i = 0; i <= STORE_BATCH_MAX; i++)
		ops[i] = (struct store_op){ .type = STORE_OP_PUT,
		    .key = "/many", .value = "v", .value_len = 1 };
	assert_int_equal(store_batch(fx->st, ops, STORE_BATCH_MAX + 1, 0,
	    NULL, NULL), -BW_E_TOOLARGE);
	for (i = 0; i < STORE_BATCH_BYTES_MAX / STORE_VALUE_MAX + 1; i++) {
		ops[i].value = big;
		ops[i].value_len = STORE_VALUE_MAX;
	}
	assert_int_equal(store_batch(fx->st, ops, i, 0, NULL, NULL),
	    -BW_E_TOOLARGE);
	/* In an independent batch an oversized op fails alone. */
	ops[0].value_len = STORE_VALUE_MAX + 1;
	ops[1].value_len = 3;
	assert_int_equal(store_batch(fx->st, ops, 2, 0, NULL, NULL), 0);
	assert_int_equal(ops[0].result, -BW_E_TOOLARGE);
	assert_int_equal(ops[1].result, 0);
	assert_int_equal(store_revision(fx->st), 2);
	free(big);
	free(ops);
}

static void
test_bad_input(void **state)
{
	struct fx *fx = *state;
	const char *bad[] = { "", "a\nb", "\x01", "tab\there", "del\x7f",
	    "/esc\x1b[0m" };
	struct store_kv **a = NULL;
	struct store_event *ev = NULL;
	struct store_kv *kv = NULL;
	struct store_op op = { .type = STORE_OP_PUT, .key = "/ok",
	    .value = NULL, .value_len = 1 };
	size_t	 i, n = 0;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(store_key_check(bad[i]), -BW_E_INVALID);
		assert_int_equal(store_put(fx->st, bad[i], "v", 1,
		    STORE_REV_ANY, NULL), -BW_E_INVALID);
		assert_int_equal(store_get(fx->st, bad[i], &kv),
		    -BW_E_INVALID);
		assert_int_equal(store_delete(fx->st, bad[i], STORE_REV_ANY,
		    NULL), -BW_E_INVALID);
		if (bad[i][0]) {
			assert_int_equal(store_list(fx->st, bad[i], &a, &n,
			    NULL), -BW_E_INVALID);
			assert_int_equal(store_changes(fx->st, bad[i], 0, 1,
			    &ev, &n), -BW_E_INVALID);
		}
	}
	assert_int_equal(store_key_check(NULL), -BW_E_INVALID);
	assert_int_equal(store_put(fx->st, NULL, "v", 1, STORE_REV_ANY, NULL),
	    -BW_E_INVALID);
	/* UTF-8 and punctuation are fine. */
	assert_int_equal(store_key_check("/t/caf\xc3\xa9 x:y@z"), 0);
	/* A value pointer is needed for a non-empty value. */
	assert_int_equal(store_batch(fx->st, &op, 1, 0, NULL, NULL), 0);
	assert_int_equal(op.result, -BW_E_INVALID);
	assert_int_equal(store_batch(fx->st, &op, 1, STORE_BATCH_ATOMIC, NULL,
	    NULL), -BW_E_INVALID);
	/* Unknown flags and a missing op array. */
	op.value = "v";
	assert_int_equal(store_batch(fx->st, &op, 1, 0x80, NULL, NULL),
	    -BW_E_INVALID);
	assert_int_equal(store_batch(fx->st, NULL, 1, 0, NULL, NULL),
	    -BW_E_INVALID);
	op.type = (enum store_op_type)7;
	assert_int_equal(store_batch(fx->st, &op, 1, STORE_BATCH_ATOMIC, NULL,
	    NULL), -BW_E_INVALID);
	assert_int_equal(store_revision(fx->st), 0);
	assert_log_len(fx->st, 0, 0);
}

/* One committer writing while readers list, get and read changes: every
 * answer must be a consistent snapshot. Failures are counted, not
 * asserted, off the main thread (cmocka is not thread-safe). */
#define CONC_WRITES	300
#define CONC_READERS	3

struct conc {
	struct store	*st;
	uint64_t	 base;
	int		 done;
	int		 failures;
	int		 rounds;
};

static void
conc_fail(struct conc *c)
{
	__atomic_add_fetch(&c->failures, 1, __ATOMIC_RELAXED);
}

static void *
conc_writer(void *arg)
{
	struct conc *c = arg;
	char	 key[32];
	uint64_t rev;
	int	 i;

	for (i = 0; i < CONC_WRITES; i++) {
		snprintf(key, sizeof(key), "/c/%04d", i);
		if (store_put(c->st, key, key, strlen(key), STORE_REV_ABSENT,
		    &rev) < 0 || rev != c->base + 1 + (uint64_t)i)
			conc_fail(c);
	}
	__atomic_store_n(&c->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void *
conc_reader(void *arg)
{
	struct conc *c = arg;
	struct store_kv **a = NULL, *kv = NULL;
	struct store_event *ev = NULL;
	uint64_t rev, last = 0, r2, last_r2 = 0;
	size_t	 n, i;
	char	 key[32];

	while (!__atomic_load_n(&c->done, __ATOMIC_ACQUIRE)) {
		__atomic_add_fetch(&c->rounds, 1, __ATOMIC_RELAXED);
		if (store_list(c->st, "/c/", &a, &n, &rev) < 0) {
			conc_fail(c);
			break;
		}
		/* Writes go in key order, so a snapshot at REV holds
		 * exactly the first REV - BASE keys. */
		if (rev < last || n != rev - c->base)
			conc_fail(c);
		for (i = 0; i < n; i++) {
			snprintf(key, sizeof(key), "/c/%04zu", i);
			if (strcmp(a[i]->key, key) != 0 ||
			    a[i]->mod_rev != c->base + 1 + i ||
			    strcmp(a[i]->value, key) != 0)
				conc_fail(c);
		}
		store_kv_array_free(a, n);
		last = rev;
		if (n > 0) {
			snprintf(key, sizeof(key), "/c/%04zu", n - 1);
			if (store_get(c->st, key, &kv) < 0)
				conc_fail(c);
			store_kv_free(kv);
			kv = NULL;
		}
		if (store_changes(c->st, "/c/", c->base, 100000, &ev, &n) < 0) {
			conc_fail(c);
			break;
		}
		for (i = 0; i < n; i++)
			if (ev[i].rev != c->base + 1 + i)
				conc_fail(c);
		store_events_free(ev, n);
		/* store_revision() may lag a snapshot for a moment
		 * (store.h), but never goes back. */
		r2 = store_revision(c->st);
		if (r2 < last_r2)
			conc_fail(c);
		last_r2 = r2;
	}
	return NULL;
}

static void
test_concurrent_readers(void **state)
{
	struct fx *fx = *state;
	struct conc c = { .st = fx->st };
	pthread_t w, r[CONC_READERS];
	struct store_kv **a = NULL;
	size_t	 n = 0;
	int	 i;

	put_str(fx->st, "/other", "x");
	c.base = store_revision(fx->st);
	for (i = 0; i < CONC_READERS; i++)
		assert_int_equal(pthread_create(&r[i], NULL, conc_reader, &c),
		    0);
	assert_int_equal(pthread_create(&w, NULL, conc_writer, &c), 0);
	assert_int_equal(pthread_join(w, NULL), 0);
	for (i = 0; i < CONC_READERS; i++)
		assert_int_equal(pthread_join(r[i], NULL), 0);
	assert_int_equal(c.failures, 0);
	assert_true(c.rounds > CONC_READERS);
	assert_int_equal(store_list(fx->st, "/c/", &a, &n, NULL), 0);
	assert_int_equal(n, CONC_WRITES);
	store_kv_array_free(a, n);
}

/* Several writers and a compactor at once: every applied op gets a
 * distinct revision, and the log stays gapless after the horizon. */
#define CW_THREADS	3
#define CW_BATCHES	40

struct cw {
	struct store	*st;
	int		 id;
	int		 failures;
	uint64_t	 revs[CW_BATCHES * 4];
	int		*done;
};

static void *
cw_writer(void *arg)
{
	struct cw *w = arg;
	struct store_op ops[4];
	char	 keys[4][32];
	int	 b, i;

	for (b = 0; b < CW_BATCHES; b++) {
		for (i = 0; i < 4; i++) {
			snprintf(keys[i], sizeof(keys[i]), "/cw/%d/%d", w->id,
			    (b * 4 + i) % 7);
			ops[i] = (struct store_op){ .type = STORE_OP_PUT,
			    .key = keys[i], .value = keys[i],
			    .value_len = strlen(keys[i]) };
		}
		if (store_batch(w->st, ops, 4, b % 2 ? STORE_BATCH_ATOMIC : 0,
		    NULL, NULL) < 0) {
			w->failures++;
			continue;
		}
		for (i = 0; i < 4; i++) {
			if (ops[i].result < 0 || (i && ops[i].rev !=
			    ops[i - 1].rev + 1))
				w->failures++;
			w->revs[b * 4 + i] = ops[i].rev;
		}
	}
	__atomic_add_fetch(w->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void *
cw_compactor(void *arg)
{
	struct cw *w = arg;
	uint64_t rev;

	while (__atomic_load_n(w->done, __ATOMIC_ACQUIRE) < CW_THREADS) {
		rev = store_revision(w->st);
		if (rev > 10 && store_compact(w->st, rev - 10) < 0)
			w->failures++;
		usleep(500);
	}
	return NULL;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void
test_concurrent_writers(void **state)
{
	struct fx *fx = *state;
	static struct cw w[CW_THREADS + 1];
	static uint64_t all[CW_THREADS * CW_BATCHES * 4];
	pthread_t t[CW_THREADS + 1];
	uint64_t horizon, rev;
	size_t	 n = 0, i;
	int	 done = 0, j;

	for (j = 0; j <= CW_THREADS; j++) {
		memset(&w[j], 0, sizeof(w[j]));
		w[j].st = fx->st;
		w[j].id = j;
		w[j].done = &done;
		assert_int_equal(pthread_create(&t[j], NULL, j < CW_THREADS ?
		    cw_writer : cw_compactor, &w[j]), 0);
	}
	for (j = 0; j <= CW_THREADS; j++) {
		assert_int_equal(pthread_join(t[j], NULL), 0);
		assert_int_equal(w[j].failures, 0);
	}
	for (j = 0; j < CW_THREADS; j++)
		for (i = 0; i < CW_BATCHES * 4; i++)
			all[n++] = w[j].revs[i];
	qsort(all, n, sizeof(all[0]), cmp_u64);
	for (i = 0; i < n; i++)
		assert_int_equal(all[i], i + 1);
	rev = store_revision(fx->st);
	assert_int_equal(rev, n);
	horizon = store_compacted_revision(fx->st);
	assert_true(horizon > 0);	/* compaction did run alongside */
	assert_true(horizon <= rev);
	assert_log_len(fx->st, horizon, rev - horizon);
	fx_reopen(fx);
	assert_int_equal(store_revision(fx->st), rev);
	assert_int_equal(store_compacted_revision(fx->st), horizon);
}

#define T(f) cmocka_unit_test_setup_teardown(f, fx_setup, fx_teardown)
static const struct CMUnitTest conformance_tests[] = {
	T(test_empty),
	T(test_put_get),
	T(test_delete),
	T(test_preconditions),
	T(test_list_prefix),
	T(test_list_range),
	T(test_batch_independent),
	T(test_batch_atomic),
	T(test_before_commit_refusal),
	T(test_before_commit_calls),
	T(test_changes),
	T(test_delete_label),
	T(test_compaction),
	T(test_compaction_large),
	T(test_reopen),
	T(test_limits),
	T(test_bad_input),
	T(test_concurrent_readers),
	T(test_concurrent_writers),
};

int
store_conformance_run(const struct store_test_factory *f)
{
	factory = f;
	return _cmocka_run_group_tests(f->name, conformance_tests,
	    sizeof(conformance_tests) / sizeof(conformance_tests[0]), NULL,
	    NULL);
}

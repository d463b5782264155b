/* What a node sees on its watch (controlplane/nodeview.c, issue 18): the
 * pump's memo decides each change once per pass for every node watcher,
 * and gives each node what deciding it per watcher gives (nodeview_sees()
 * on the rendered change, the DELETE's label for a kind bound to nodes):
 * two watchers of one node the same changes, a node with nothing bound
 * none; which nodes use a Workload is read again in the next pass; the
 * nodes kept are one per node and object, of this pass only, within a
 * bound; a store that cannot be read is an error, never "not seen", and
 * is not kept. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "lib/err.h"

#include "controlplane/nodeview.h"
#include "controlplane/resource.h"
#include "controlplane/store-backend.h"
#include "controlplane/store-lmdb.h"
#include "controlplane/store.h"
#include "tests/unit/hardening/tmpdir.h"

struct fixture {
	char		*dir;
	struct store	*st;
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f || !(f->dir = tmpdir_make()) ||
	    store_open_lmdb(f->dir, NULL, &f->st, NULL) < 0) {
		if (f)
			tmpdir_remove(f->dir);
		free(f);
		return 1;
	}
	store_set_delete_label(f->st, res_delete_label);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	store_close(f->st);
	tmpdir_remove(f->dir);
	free(f);
	return 0;
}

/* Object NAME of KIND in TENANT (NULL: cluster) with SPEC: its key and
 * value into KEY and V. */
static void
object(const char *kind, const char *tenant, const char *name,
    const char *spec, char *key, char *v, size_t len)
{
	const struct res_kind *k = res_kind_by_name(kind);

	assert_non_null(k);
	assert_int_equal(res_key(k, tenant, name, key, RES_KEY_MAX), 0);
	snprintf(v, len, "{\"kind\":\"%s\",\"metadata\":{\"name\":\"%s\""
	    "%s%s%s},\"spec\":%s}", kind, name, tenant ? ",\"tenant\":\"" : "",
	    tenant ? tenant : "", tenant ? "\"" : "", spec);
}

static void
put(struct store *st, const char *kind, const char *tenant, const char *name,
    const char *spec)
{
	char key[RES_KEY_MAX], v[512];

	object(kind, tenant, name, spec, key, v, sizeof(v));
	assert_int_equal(store_put(st, key, v, strlen(v), STORE_REV_ANY, NULL),
	    0);
}

/* Many puts committed at once (one durable write, not one a put). */
#define BATCH_MAX	4096
struct batch {
	struct store_op	 ops[BATCH_MAX];
	char		 keys[BATCH_MAX][RES_KEY_MAX];
	char		 vals[BATCH_MAX][160];
	size_t		 n;
};

static void
bput(struct batch *b, const char *kind, const char *tenant, const char *name,
    const char *spec)
{
	assert_true(b->n < BATCH_MAX);
	object(kind, tenant, name, spec, b->keys[b->n], b->vals[b->n],
	    sizeof(b->vals[b->n]));
	b->ops[b->n] = (struct store_op){ .type = STORE_OP_PUT,
	    .key = b->keys[b->n], .value = b->vals[b->n],
	    .value_len = strlen(b->vals[b->n]), .expect_rev = STORE_REV_ANY };
	b->n++;
}

static void
bcommit(struct store *st, struct batch *b)
{
	size_t i;

	assert_int_equal(store_batch(st, b->ops, b->n, 0, NULL, NULL), 0);
	for (i = 0; i < b->n; i++)
		assert_int_equal(b->ops[i].result, 0);
	b->n = 0;
}

static void
del(struct store *st, const char *kind, const char *tenant, const char *name)
{
	char key[RES_KEY_MAX];

	assert_int_equal(res_key(res_kind_by_name(kind), tenant, name, key,
	    sizeof(key)), 0);
	assert_int_equal(store_delete(st, key, STORE_REV_ANY, NULL), 0);
}

/* Writes into OUT, one "TYPE KEY\n" a change, what NODE's watch carries
 * of the change log since SINCE, decided through M in pass GEN (M NULL:
 * per change, unkept), up to the first change that cannot be decided,
 * whose error it returns (the pump stops there); 0 when all were. */
static int
seen_err(struct store *st, struct nodeview_memo *m, uint64_t gen,
    const char *node, uint64_t since, char *out, size_t len)
{
	struct store_event	*ev = NULL;
	size_t			 n, i, at = 0;
	int			 r = 0;

	out[0] = 0;
	assert_int_equal(store_changes(st, "/r/", since, BATCH_MAX, &ev, &n),
	    0);
	for (i = 0; i < n && r >= 0; i++) {
		const struct res_kind	*k;
		char			 tenant[64], name[64];

		assert_int_equal(res_key_parse(ev[i].key, &k, tenant,
		    sizeof(tenant), name, sizeof(name)), 0);
		if ((r = nodeview_sees_change(m, gen, st, &ev[i], k, tenant,
		    name, node)) <= 0)
			continue;
		at += (size_t)snprintf(out + at, len - at, "%s %s\n",
		    ev[i].type == STORE_OP_PUT ? "PUT" : "DELETE", ev[i].key);
		assert_true(at < len);
	}
	store_events_free(ev, n);
	return r < 0 ? r : 0;
}

static void
seen(struct store *st, struct nodeview_memo *m, uint64_t gen,
    const char *node, uint64_t since, char *out, size_t len)
{
	assert_int_equal(seen_err(st, m, gen, node, since, out, len), 0);
}

/* What each of NODES' watchers carries of the change log since SINCE,
 * two watchers a node in pass GEN of M, equals what deciding it per
 * change gives (the store as it is now). */
static void
same_as_unkept(struct store *st, struct nodeview_memo *m, uint64_t gen,
    const char *const *nodes, size_t nn, uint64_t since)
{
	static char	a[1 << 17], b[1 << 17], ref[1 << 17];
	size_t		i;

	for (i = 0; i < nn; i++) {
		seen(st, m, gen, nodes[i], since, a, sizeof(a));
		seen(st, m, gen, nodes[i], since, b, sizeof(b));
		seen(st, NULL, 0, nodes[i], since, ref, sizeof(ref));
		assert_string_equal(a, b);
		assert_string_equal(a, ref);
	}
}

static void
fill(struct store *st)
{
	put(st, "Node", NULL, "n1", "{}");
	put(st, "Node", NULL, "n2", "{}");
	put(st, "Network", "acme", "net", "{}");
	put(st, "Workload", "acme", "web", "{\"network\":\"net\"}");
	put(st, "Workload", "acme", "other", "{}");
	put(st, "Instance", "acme", "i1", "{\"node\":\"n1\",\"workload\":\"web\"}");
	put(st, "Instance", "acme", "i2", "{\"node\":\"n2\",\"workload\":\"other\"}");
	put(st, "Instance", "acme", "i4", "{\"node\":\"n1\",\"workload\":\"web\"}");
	del(st, "Instance", "acme", "i2");
	del(st, "Instance", "acme", "i4");
}

static void
test_same_as_unkept(void **state)
{
	struct fixture		*f = *state;
	struct nodeview_memo	*m = nodeview_memo_new();
	static char		 a[4096], b[4096], ref[4096];
	const char		*nodes[] = { "n1", "n2", "n3" };
	unsigned long long	 decided, kept;
	size_t			 i;

	assert_non_null(m);
	fill(f->st);
	for (i = 0; i < 3; i++) {
		/* two watchers of one node in one pass, and the same
		 * decided per change without the memo */
		seen(f->st, m, 1, nodes[i], 0, a, sizeof(a));
		seen(f->st, m, 1, nodes[i], 0, b, sizeof(b));
		seen(f->st, NULL, 0, nodes[i], 0, ref, sizeof(ref));
		assert_string_equal(a, b);
		assert_string_equal(a, ref);
	}
	seen(f->st, m, 1, "n1", 0, a, sizeof(a));
	assert_string_equal(a,
	    "PUT /r/nodes/n1\n"
	    "PUT /r/networks/acme/net\n"
	    "PUT /r/workloads/acme/web\n"
	    "PUT /r/instances/acme/i1\n"
	    "PUT /r/instances/acme/i4\n"
	    "DELETE /r/instances/acme/i4\n");
	seen(f->st, m, 1, "n2", 0, a, sizeof(a));
	/* n2's instance is deleted: it no longer uses "other" */
	assert_string_equal(a,
	    "PUT /r/nodes/n2\n"
	    "PUT /r/instances/acme/i2\n"
	    "DELETE /r/instances/acme/i2\n");
	/* a node with nothing bound sees nothing of these */
	seen(f->st, m, 1, "n3", 0, a, sizeof(a));
	assert_string_equal(a, "");
	/* each change decided once, then kept for every other watcher */
	nodeview_memo_counts(m, &decided, &kept);
	assert_true(decided > 0 && decided <= 10);
	assert_true(kept >= 4 * decided);
	nodeview_memo_free(m);
}

/* Which nodes use a Workload is the store's now: kept within a pass,
 * read again in the next, as a watcher pumped then would read it. */
static void
test_users_read_each_pass(void **state)
{
	struct fixture		*f = *state;
	struct nodeview_memo	*m = nodeview_memo_new();
	static char		 a[4096];

	assert_non_null(m);
	fill(f->st);
	seen(f->st, m, 1, "n3", 0, a, sizeof(a));
	assert_string_equal(a, "");
	put(f->st, "Instance", "acme", "i3",
	    "{\"node\":\"n3\",\"workload\":\"web\"}");
	seen(f->st, m, 2, "n3", 0, a, sizeof(a));
	assert_string_equal(a,
	    "PUT /r/networks/acme/net\n"
	    "PUT /r/workloads/acme/web\n"
	    "PUT /r/instances/acme/i3\n");
	nodeview_memo_free(m);
}

/* Two tenants with the same names: a node sees its tenant's objects of
 * a name, not the other's (the memo keys hold the tenant). */
static void
test_two_tenants(void **state)
{
	struct fixture		*f = *state;
	struct nodeview_memo	*m = nodeview_memo_new();
	static char		 a[4096];
	const char *const	 nodes[] = { "n1", "n2", "n3" };

	assert_non_null(m);
	put(f->st, "Node", NULL, "n1", "{}");
	put(f->st, "Node", NULL, "n2", "{}");
	put(f->st, "Network", "acme", "net", "{}");
	put(f->st, "Network", "beta", "net", "{}");
	put(f->st, "Workload", "acme", "web", "{\"network\":\"net\"}");
	put(f->st, "Workload", "beta", "web", "{\"network\":\"net\"}");
	put(f->st, "Instance", "acme", "i1",
	    "{\"node\":\"n1\",\"workload\":\"web\"}");
	put(f->st, "Instance", "beta", "i1",
	    "{\"node\":\"n2\",\"workload\":\"web\"}");
	put(f->st, "Workload", "acme", "web", "{\"network\":\"net\"}");
	put(f->st, "Workload", "beta", "web", "{\"network\":\"net\"}");
	put(f->st, "Network", "acme", "net", "{}");
	same_as_unkept(f->st, m, 1, nodes, 3, 0);
	seen(f->st, m, 1, "n1", 0, a, sizeof(a));
	assert_string_equal(a,
	    "PUT /r/nodes/n1\n"
	    "PUT /r/networks/acme/net\n"
	    "PUT /r/workloads/acme/web\n"
	    "PUT /r/instances/acme/i1\n"
	    "PUT /r/workloads/acme/web\n"
	    "PUT /r/networks/acme/net\n");
	seen(f->st, m, 1, "n2", 0, a, sizeof(a));
	assert_string_equal(a,
	    "PUT /r/nodes/n2\n"
	    "PUT /r/networks/beta/net\n"
	    "PUT /r/workloads/beta/web\n"
	    "PUT /r/instances/beta/i1\n"
	    "PUT /r/workloads/beta/web\n");
	nodeview_memo_free(m);
}

/* An Instance put again bound to another node: each revision goes to
 * the node it names (the bound node is kept per change, not per key). */
static void
test_instance_moved(void **state)
{
	struct fixture		*f = *state;
	struct nodeview_memo	*m = nodeview_memo_new();
	static char		 a[4096];
	const char *const	 nodes[] = { "n1", "n2", "n3" };

	assert_non_null(m);
	put(f->st, "Node", NULL, "n1", "{}");
	put(f->st, "Node", NULL, "n2", "{}");
	put(f->st, "Workload", "acme", "web", "{}");
	put(f->st, "Instance", "acme", "i1",
	    "{\"node\":\"n1\",\"workload\":\"web\"}");
	put(f->st, "Workload", "acme", "web", "{}");
	put(f->st, "Instance", "acme", "i1",
	    "{\"node\":\"n2\",\"workload\":\"web\"}");
	put(f->st, "Workload", "acme", "web", "{}");
	same_as_unkept(f->st, m, 1, nodes, 3, 0);
	seen(f->st, m, 1, "n1", 0, a, sizeof(a));
	assert_string_equal(a,
	    "PUT /r/nodes/n1\n"
	    "PUT /r/instances/acme/i1\n");
	seen(f->st, m, 1, "n2", 0, a, sizeof(a));
	assert_string_equal(a,
	    "PUT /r/nodes/n2\n"
	    "PUT /r/workloads/acme/web\n"
	    "PUT /r/workloads/acme/web\n"
	    "PUT /r/instances/acme/i1\n"
	    "PUT /r/workloads/acme/web\n");
	nodeview_memo_free(m);
}

/* More changes in one pass than the memo has slots: the slots taken
 * again (and shared by colliding keys) still give every node what
 * deciding per change gives. */
static void
test_more_changes_than_slots(void **state)
{
	struct fixture		*f = *state;
	struct nodeview_memo	*m = nodeview_memo_new();
	static struct batch	 b;
	const char *const	 nodes[] = { "n0", "n1", "n2", "n3", "n4",
	    "n5", "n6", "n7", "n8", "n9" };
	const char *const	 tenants[] = { "acme", "beta" };
	char			 name[32], spec[96];
	unsigned		 t, i, r;

	assert_non_null(m);
	for (i = 0; i < 8; i++)
		bput(&b, "Node", NULL, nodes[i], "{}");
	for (t = 0; t < 2; t++) {
		for (i = 0; i < 4; i++) {
			snprintf(name, sizeof(name), "net%u", i);
			bput(&b, "Network", tenants[t], name, "{}");
		}
		for (i = 0; i < 16; i++) {
			snprintf(name, sizeof(name), "w%u", i);
			snprintf(spec, sizeof(spec), "{\"network\":\"net%u\"}",
			    i % 4);
			bput(&b, "Workload", tenants[t], name, spec);
		}
		for (i = 0; i < 200; i++) {
			snprintf(name, sizeof(name), "i%u", i);
			snprintf(spec, sizeof(spec), "{\"node\":\"n%u\","
			    "\"workload\":\"w%u\"}", (i * 3 + t) % 8,
			    (i * 7) % 16);
			bput(&b, "Instance", tenants[t], name, spec);
		}
	}
	for (r = 0; r < 800; r++) {
		t = r % 2;
		if (r % 3 == 0) {
			snprintf(name, sizeof(name), "w%u", r % 16);
			snprintf(spec, sizeof(spec), "{\"network\":\"net%u\"}",
			    r % 4);
			bput(&b, "Workload", tenants[t], name, spec);
		} else if (r % 3 == 1) {
			snprintf(name, sizeof(name), "net%u", r % 4);
			bput(&b, "Network", tenants[t], name, "{}");
		} else {
			snprintf(name, sizeof(name), "i%u", r % 200);
			snprintf(spec, sizeof(spec), "{\"node\":\"n%u\","
			    "\"workload\":\"w%u\"}", r % 9, r % 16);
			bput(&b, "Instance", tenants[t], name, spec);
		}
	}
	assert_true(b.n > 1100);
	bcommit(f->st, &b);
	same_as_unkept(f->st, m, 1, nodes, 10, 0);
	nodeview_memo_free(m);
}

/* A Network written many times in one pass, used by many instances on
 * one node: its users are read once in the pass (kept per object, not
 * per change), hold one name a node, and are freed at the first
 * decision of a later pass; past the memo's bound nothing is kept and
 * the answer is the same. */
static void
test_users_one_a_node(void **state)
{
	struct fixture		*f = *state;
	struct nodeview_memo	*m = nodeview_memo_new();
	static struct batch	 b;
	const char *const	 nodes[] = { "n1", "n2", "n3" };
	static char		 a[4096];
	unsigned long long	 decided, kept;
	uint64_t		 since;
	char			 name[32];
	unsigned		 i;
	/* two objects (the Network and the Workload), each used by n1
	 * and n2 */
	const size_t		 users = 2 * 2 * (3 + sizeof(char *));

	assert_non_null(m);
	bput(&b, "Node", NULL, "n1", "{}");
	bput(&b, "Node", NULL, "n2", "{}");
	bput(&b, "Network", "acme", "net", "{}");
	bput(&b, "Workload", "acme", "web", "{\"network\":\"net\"}");
	for (i = 0; i < 300; i++) {
		snprintf(name, sizeof(name), "i%u", i);
		bput(&b, "Instance", "acme", name,
		    "{\"node\":\"n1\",\"workload\":\"web\"}");
	}
	bput(&b, "Instance", "acme", "j", "{\"node\":\"n2\",\"workload\":"
	    "\"web\"}");
	bcommit(f->st, &b);
	since = store_revision(f->st);
	for (i = 0; i < 900; i++)
		bput(&b, "Network", "acme", "net", "{}");
	bcommit(f->st, &b);

	/* the 900 changes to the Network: its users read once for the
	 * pass, every other (watcher, change) kept */
	same_as_unkept(f->st, m, 1, nodes, 3, since);
	nodeview_memo_counts(m, &decided, &kept);
	assert_int_equal(decided, 1);
	assert_int_equal(kept, 6 * 900 - 1);
	assert_int_equal(nodeview_memo_bytes(m), users / 2);
	same_as_unkept(f->st, m, 1, nodes, 3, 0);
	assert_int_equal(nodeview_memo_bytes(m), users);
	/* the next pass reads them again, the earlier pass's freed */
	same_as_unkept(f->st, m, 2, nodes, 3, 0);
	assert_int_equal(nodeview_memo_bytes(m), users);
	/* a later pass deciding no Workload or Network frees them too */
	since = store_revision(f->st);
	put(f->st, "Instance", "acme", "k", "{\"node\":\"n1\"}");
	seen(f->st, m, 3, "n1", since, a, sizeof(a));
	assert_string_equal(a, "PUT /r/instances/acme/k\n");
	assert_int_equal(nodeview_memo_bytes(m), 0);
	/* past the bound: nothing kept, the same answers */
	nodeview_memo_bound(m, users - 1);
	same_as_unkept(f->st, m, 4, nodes, 3, 0);
	assert_true(nodeview_memo_bytes(m) < users);
	nodeview_memo_bound(m, 0);
	same_as_unkept(f->st, m, 5, nodes, 3, 0);
	assert_int_equal(nodeview_memo_bytes(m), 0);
	nodeview_memo_free(m);
}

/* A store that fails lists or gets (an etcd member out of reach), as a
 * backend wrapped around the real one. */
static const struct store_backend	*real_backend;
static struct store_backend		 flaky_backend;
static int				 fail_list, fail_get;

static int
flaky_list(struct store *st, const char *prefix, struct store_kv ***ret,
    size_t *ret_n, uint64_t *ret_rev)
{
	if (fail_list)
		return -EIO;
	return real_backend->list(st, prefix, ret, ret_n, ret_rev);
}

static int
flaky_get(struct store *st, const char *key, struct store_kv **ret)
{
	if (fail_get)
		return -EIO;
	return real_backend->get(st, key, ret);
}

/* A store error is not "not used": the change is not decided (the pump
 * stops before it), and nothing is kept, so once the store answers the
 * same pass decides it as per change. */
static void
test_store_error_not_kept(void **state)
{
	struct fixture		*f = *state;
	struct nodeview_memo	*m = nodeview_memo_new();
	static char		 a[4096];
	const char *const	 nodes[] = { "n1", "n2", "n3" };

	assert_non_null(m);
	fill(f->st);
	real_backend = f->st->backend;
	flaky_backend = *real_backend;
	flaky_backend.list = flaky_list;
	flaky_backend.get = flaky_get;
	f->st->backend = &flaky_backend;

	fail_list = 1;
	/* the Network, the third change, is not decided */
	assert_int_equal(seen_err(f->st, m, 1, "n1", 0, a, sizeof(a)), -EIO);
	assert_string_equal(a, "PUT /r/nodes/n1\n");
	assert_int_equal(seen_err(f->st, NULL, 0, "n1", 0, a, sizeof(a)),
	    -EIO);
	fail_list = 0;
	same_as_unkept(f->st, m, 1, nodes, 3, 0);

	/* the instances list, the workload they run cannot be read */
	fail_get = 1;
	assert_int_equal(seen_err(f->st, m, 2, "n1", 0, a, sizeof(a)), -EIO);
	assert_string_equal(a, "PUT /r/nodes/n1\n");
	fail_get = 0;
	same_as_unkept(f->st, m, 2, nodes, 3, 0);

	f->st->backend = real_backend;
	nodeview_memo_free(m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_same_as_unkept, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_users_read_each_pass,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_two_tenants, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_instance_moved, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_more_changes_than_slots,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_users_one_a_node, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_store_error_not_kept,
		    setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* What a node sees on its watch (controlplane/nodeview.c, issue 18): the
 * pump's memo decides each change once per pass for every node watcher,
 * and gives each node what deciding it per watcher gives (nodeview_sees()
 * on the rendered change, the DELETE's label for a kind bound to nodes):
 * two watchers of one node the same changes, a node with nothing bound
 * none; which nodes use a Workload is read again in the next pass. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "controlplane/nodeview.h"
#include "controlplane/resource.h"
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

/* Puts object NAME of KIND in TENANT (NULL: cluster) with SPEC. */
static void
put(struct store *st, const char *kind, const char *tenant, const char *name,
    const char *spec)
{
	const struct res_kind	*k = res_kind_by_name(kind);
	char			 key[RES_KEY_MAX], v[512];

	assert_non_null(k);
	assert_int_equal(res_key(k, tenant, name, key, sizeof(key)), 0);
	snprintf(v, sizeof(v), "{\"kind\":\"%s\",\"metadata\":{\"name\":\"%s\""
	    "%s%s%s},\"spec\":%s}", kind, name, tenant ? ",\"tenant\":\"" : "",
	    tenant ? tenant : "", tenant ? "\"" : "", spec);
	assert_int_equal(store_put(st, key, v, strlen(v), STORE_REV_ANY, NULL),
	    0);
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
 * per change, unkept). */
static void
seen(struct store *st, struct nodeview_memo *m, uint64_t gen,
    const char *node, uint64_t since, char *out, size_t len)
{
	struct store_event	*ev = NULL;
	size_t			 n, i, at = 0;

	out[0] = 0;
	assert_int_equal(store_changes(st, "/r/", since, 1000, &ev, &n), 0);
	for (i = 0; i < n; i++) {
		const struct res_kind	*k;
		char			 tenant[64], name[64];

		assert_int_equal(res_key_parse(ev[i].key, &k, tenant,
		    sizeof(tenant), name, sizeof(name)), 0);
		if (!nodeview_sees_change(m, gen, st, &ev[i], k, tenant, name,
		    node))
			continue;
		at += (size_t)snprintf(out + at, len - at, "%s %s\n",
		    ev[i].type == STORE_OP_PUT ? "PUT" : "DELETE", ev[i].key);
		assert_true(at < len);
	}
	store_events_free(ev, n);
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

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_same_as_unkept, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_users_read_each_pass,
		    setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

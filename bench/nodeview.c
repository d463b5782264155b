/* The watch pump's node filter (controlplane/nodeview.c, issue 18): the
 * CPU one change batch costs when N node watchers (one per node) decide
 * what of it they may see, decided per watcher (as watcher_pump did
 * before 2026-12-07: the change rendered, and for a Workload every
 * node-bound object of the tenant listed and parsed, per watcher) and
 * through the pump's memo (decided once per change for all of them).
 * An LMDB store in a temporary directory holds N Nodes and I Instances
 * over T tenants (W workloads each, on one network), bound round robin;
 * the batches: C Instance status writes (what the agent of b481384
 * watched, kind=Instance), then one Workload write (what every node
 * watcher decides since the agent's watch has no kind=, agent9).
 * Prints ms per batch each way, the best of K runs, and checks that
 * both give every node the same changes.
 *
 * Usage: bench/nodeview [--nodes N] [--instances I] [--tenants T]
 *                       [--changes C] [--repeat K] */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "controlplane/nodeview.h"
#include "controlplane/resource.h"
#include "controlplane/store-lmdb.h"
#include "controlplane/store.h"
#include "lib/clock.h"

#define WORKLOADS	5

static unsigned	nodes = 1000, instances = 10000, tenants = 10, changes = 256;
static unsigned	repeat = 3;

static void
die(const char *what)
{
	fprintf(stderr, "bench/nodeview: %s\n", what);
	exit(1);
}

/* Adds a PUT of NAME of KIND in TENANT (NULL: cluster) with SPEC to
 * OPS[*N], keeping the key and value in KEYS/VALS for the caller. */
static void
op_put(struct store_op *ops, size_t *n, char **keys, char **vals,
    const char *kind, const char *tenant, const char *name, const char *spec)
{
	char key[RES_KEY_MAX], v[512];

	if (res_key(res_kind_by_name(kind), tenant, name, key, sizeof(key)) < 0)
		die("res_key");
	snprintf(v, sizeof(v), "{\"kind\":\"%s\",\"metadata\":{\"name\":\"%s\""
	    "%s%s%s},\"spec\":%s}", kind, name, tenant ? ",\"tenant\":\"" : "",
	    tenant ? tenant : "", tenant ? "\"" : "", spec);
	if (!(keys[*n] = strdup(key)) || !(vals[*n] = strdup(v)))
		die("out of memory");
	ops[*n] = (struct store_op){ .type = STORE_OP_PUT, .key = keys[*n],
	    .value = vals[*n], .value_len = strlen(v),
	    .expect_rev = STORE_REV_ANY };
	(*n)++;
}

static void
batch_commit(struct store *st, struct store_op *ops, size_t n, char **keys,
    char **vals)
{
	size_t i;

	if (n && store_batch(st, ops, n, 0, NULL, NULL) < 0)
		die("store_batch");
	for (i = 0; i < n; i++) {
		free(keys[i]);
		free(vals[i]);
	}
}

static void
seed(struct store *st)
{
	struct store_op	*ops = calloc(STORE_BATCH_MAX, sizeof(*ops));
	char		**keys = calloc(STORE_BATCH_MAX, sizeof(char *));
	char		**vals = calloc(STORE_BATCH_MAX, sizeof(char *));
	char		 name[64], tenant[64], spec[256];
	size_t		 n = 0;
	unsigned	 i, t, w;

	if (!ops || !keys || !vals)
		die("out of memory");
	for (i = 0; i < nodes; i++) {
		snprintf(name, sizeof(name), "n%u", i);
		op_put(ops, &n, keys, vals, "Node", NULL, name, "{}");
		if (n == STORE_BATCH_MAX) {
			batch_commit(st, ops, n, keys, vals);
			n = 0;
		}
	}
	for (t = 0; t < tenants; t++) {
		snprintf(tenant, sizeof(tenant), "t%u", t);
		op_put(ops, &n, keys, vals, "Network", tenant, "net", "{}");
		for (w = 0; w < WORKLOADS; w++) {
			snprintf(name, sizeof(name), "w%u", w);
			op_put(ops, &n, keys, vals, "Workload", tenant, name,
			    "{\"network\":\"net\"}");
		}
		batch_commit(st, ops, n, keys, vals);
		n = 0;
	}
	for (i = 0; i < instances; i++) {
		snprintf(tenant, sizeof(tenant), "t%u", i % tenants);
		snprintf(name, sizeof(name), "i%u", i);
		snprintf(spec, sizeof(spec), "{\"node\":\"n%u\","
		    "\"workload\":\"w%u\"}", i % nodes, (i / tenants) % WORKLOADS);
		op_put(ops, &n, keys, vals, "Instance", tenant, name, spec);
		if (n == STORE_BATCH_MAX) {
			batch_commit(st, ops, n, keys, vals);
			n = 0;
		}
	}
	batch_commit(st, ops, n, keys, vals);
	free(ops);
	free(keys);
	free(vals);
}

/* Decides the changes after SINCE for every node watcher, through M (NULL:
 * per watcher) in pass GEN; returns ms, the (node, change) pairs seen in
 * *RET_SEEN. */
static double
pump(struct store *st, struct nodeview_memo *m, uint64_t gen, uint64_t since,
    unsigned long long *ret_seen)
{
	struct store_event	*ev = NULL;
	size_t			 n, i;
	unsigned		 j;
	char			 node[32];
	unsigned long long	 seen = 0;
	uint64_t		 t0;

	if (store_changes(st, "/r/", since, 4096, &ev, &n) < 0)
		die("store_changes");
	t0 = bw_mono_ns();
	for (j = 0; j < nodes; j++) {
		snprintf(node, sizeof(node), "n%u", j);
		for (i = 0; i < n; i++) {
			const struct res_kind	*k;
			char			 tenant[64], name[64];

			if (res_key_parse(ev[i].key, &k, tenant, sizeof(tenant),
			    name, sizeof(name)) < 0)
				die("res_key_parse");
			if (nodeview_sees_change(m, gen, st, &ev[i], k, tenant,
			    name, node) > 0)
				seen++;
		}
	}
	*ret_seen = seen;
	store_events_free(ev, n);
	return (double)(bw_mono_ns() - t0) / 1e6;
}

/* Prints one row: the batch after SINCE decided both ways. */
static void
row(struct store *st, const char *what, uint64_t since)
{
	unsigned long long	 a = 0, b = 0;
	double			 per = 1e30, kept = 1e30, ms;
	unsigned		 r;

	for (r = 0; r < repeat; r++) {
		struct nodeview_memo *m = nodeview_memo_new();

		if (!m)
			die("out of memory");
		if ((ms = pump(st, NULL, 0, since, &a)) < per)
			per = ms;
		if ((ms = pump(st, m, 1, since, &b)) < kept)
			kept = ms;
		nodeview_memo_free(m);
		if (a != b)
			die("the memo gave other changes than per watcher");
	}
	printf("| %u | %u | %s | %llu | %.1f | %.2f | %.0fx |\n", nodes,
	    instances, what, a, per, kept, per / (kept > 0 ? kept : 1e-9));
}

int
main(int argc, char **argv)
{
	struct store_op	 ops[4096];
	char		*keys[4096], *vals[4096];
	char		 dir[] = "/tmp/bench-nodeview.XXXXXX", cmd[64];
	char		 tenant[64], name[64], spec[256];
	struct store	*st = NULL;
	uint64_t	 since;
	size_t		 n = 0;
	unsigned	 i;
	int		 a;

	for (a = 1; a + 1 < argc; a += 2) {
		unsigned v = (unsigned)strtoul(argv[a + 1], NULL, 10);

		if (!strcmp(argv[a], "--nodes"))
			nodes = v;
		else if (!strcmp(argv[a], "--instances"))
			instances = v;
		else if (!strcmp(argv[a], "--tenants"))
			tenants = v;
		else if (!strcmp(argv[a], "--changes"))
			changes = v;
		else if (!strcmp(argv[a], "--repeat"))
			repeat = v;
		else
			die("usage: bench/nodeview [--nodes N] [--instances I] "
			    "[--tenants T] [--changes C] [--repeat K]");
	}
	if (a != argc || !nodes || !tenants || !repeat || changes > 4000 ||
	    instances < changes)
		die("bad arguments");
	if (!mkdtemp(dir) || store_open_lmdb(dir, NULL, &st, NULL) < 0)
		die("cannot open a store");
	store_set_delete_label(st, res_delete_label);
	seed(st);
	printf("| nodes (a watcher each) | instances | batch | (node, change) "
	    "pairs seen | ms per watcher | ms memo | ratio |\n"
	    "|---|---|---|---|---|---|---|\n");
	since = store_revision(st);
	for (i = 0; i < changes; i++) {
		snprintf(tenant, sizeof(tenant), "t%u", i % tenants);
		snprintf(name, sizeof(name), "i%u", i);
		snprintf(spec, sizeof(spec), "{\"node\":\"n%u\",\"workload\":"
		    "\"w%u\",\"status\":%u}", i % nodes,
		    (i / tenants) % WORKLOADS, i);
		op_put(ops, &n, keys, vals, "Instance", tenant, name, spec);
	}
	batch_commit(st, ops, n, keys, vals);
	snprintf(name, sizeof(name), "%u Instance PUTs", changes);
	row(st, name, since);
	since = store_revision(st);
	n = 0;
	op_put(ops, &n, keys, vals, "Workload", "t0", "w0",
	    "{\"network\":\"net\",\"replicas\":2}");
	batch_commit(st, ops, n, keys, vals);
	row(st, "1 Workload PUT", since);
	store_close(st);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : 1;
}

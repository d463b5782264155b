/* Table-driven tests of every scheduler filter and score plugin, the
 * cluster aggregates and the explanation renderers. */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "controlplane/sched-internal.h"
#include "controlplane/sched.h"
#include "lib/err.h"

#define S(...)	((const char *const[]){ __VA_ARGS__ })
#define NS(...)	(sizeof((const char *const[]){ __VA_ARGS__ }) / sizeof(const char *))

/* ---- helpers ---- */

static struct sched_node_spec
node(const char *name, const char *zone, const char *rack, int64_t cpu, int64_t mem,
    uint32_t slots)
{
	return (struct sched_node_spec){ .name = name, .zone = zone, .rack = rack,
		.cpu_millis = cpu, .memory_mib = mem, .max_instances = slots,
		.phase = SCHED_NODE_READY, .attestation = SCHED_ATTEST_TRUSTED };
}

static void
add(struct sched_cluster *c, const struct sched_node_spec *s)
{
	char *err = NULL;
	int r = sched_node_upsert(c, s, &err);

	if (r < 0)
		fail_msg("upsert %s: %s", s->name, err ? err : bw_strerror(r));
}

static struct sched_request
req(const char *instance, const char *workload, int64_t cpu, int64_t mem)
{
	return (struct sched_request){ .instance = instance, .tenant = "acme",
		.workload = workload, .cpu_millis = cpu, .memory_mib = mem };
}

static void
bind_ok(struct sched_cluster *c, const struct sched_request *q, const char *node_name)
{
	char *err = NULL;
	int r = sched_bind(c, q, node_name, &err);

	if (r < 0)
		fail_msg("bind %s: %s", q->instance, err ? err : bw_strerror(r));
}

/* Places Q under P (NULL: defaults) and asserts success of the call. */
static void
place(struct sched_cluster *c, const struct sched_request *q, const struct sched_policy *p,
    struct sched_result *res)
{
	char *err = NULL;
	int r = sched_place(c, q, p, res, &err);

	if (r < 0)
		fail_msg("place %s: %s", q->instance, err ? err : bw_strerror(r));
}

/* ---- filters: one node, one request, one verdict ---- */

struct filter_case {
	const char		*name;
	struct sched_node_spec	 node;
	struct sched_request	 req;
	bool			 allow_unattested;
	bool			 placed;
	enum sched_reason	 reason;
};

/* The case macros give defaults that a row then overrides by name. */
#pragma GCC diagnostic ignored "-Woverride-init"

#define N(...)	{ .name = "n1", .zone = "z1", .rack = "r1", .cpu_millis = 1000,	\
		  .memory_mib = 1024, .max_instances = 10, __VA_ARGS__ }
#define R(...)	{ .instance = "i1", .tenant = "acme", .workload = "web",		\
		  .cpu_millis = 100, .memory_mib = 100, __VA_ARGS__ }
#define TAINT(k, v, e)	.taints = (const struct sched_taint[]){ { k, v, e } }, .n_taints = 1
#define LABELS(...)	.labels = (const struct sched_label[]){ __VA_ARGS__ },		\
			.n_labels = sizeof((const struct sched_label[]){ __VA_ARGS__ }) /	\
			    sizeof(struct sched_label)
#define TOL(...)	.tolerations = (const struct sched_toleration[]){ __VA_ARGS__ }, .n_tolerations = 1
#define AFF1(k, op, ...) .affinity = (const struct sched_term[]){ { .exprs =		\
			(const struct sched_expr[]){ { k, op, S(__VA_ARGS__), NS(__VA_ARGS__) } }, \
			.n_exprs = 1 } }, .n_affinity = 1
#define AFF0(k, op)	.affinity = (const struct sched_term[]){ { .exprs =		\
			(const struct sched_expr[]){ { k, op, NULL, 0 } }, .n_exprs = 1 } },	\
			.n_affinity = 1

static const struct filter_case filter_cases[] = {
	/* resources */
	{ "exact fit", N(), R(.cpu_millis = 1000, .memory_mib = 1024), .placed = true },
	{ "cpu over by one", N(), R(.cpu_millis = 1001), .reason = SCHED_R_CPU },
	{ "memory over by one", N(), R(.memory_mib = 1025), .reason = SCHED_R_MEMORY },
	{ "cpu checked before memory", N(), R(.cpu_millis = 2000, .memory_mib = 2000),
	  .reason = SCHED_R_CPU },
	{ "no instance slots", N(.max_instances = 0), R(), .reason = SCHED_R_SLOTS },
	{ "zero-capacity node", N(.cpu_millis = 0, .memory_mib = 0, .max_instances = 0),
	  R(.cpu_millis = 1, .memory_mib = 0), .reason = SCHED_R_CPU },
	{ "zero request fits zero capacity", N(.cpu_millis = 0, .memory_mib = 0),
	  R(.cpu_millis = 0, .memory_mib = 0), .placed = true },
	/* phase and attestation */
	{ "not ready", N(.phase = SCHED_NODE_NOT_READY), R(), .reason = SCHED_R_NOT_READY },
	{ "not ready before untrusted", N(.phase = SCHED_NODE_NOT_READY,
	  .attestation = SCHED_ATTEST_UNTRUSTED), R(), .reason = SCHED_R_NOT_READY },
	{ "untrusted", N(.attestation = SCHED_ATTEST_UNTRUSTED), R(), .reason = SCHED_R_UNTRUSTED },
	{ "untrusted even when unattested allowed", N(.attestation = SCHED_ATTEST_UNTRUSTED), R(),
	  .allow_unattested = true, .reason = SCHED_R_UNTRUSTED },
	{ "pending refused by default", N(.attestation = SCHED_ATTEST_PENDING), R(),
	  .reason = SCHED_R_UNATTESTED },
	{ "pending allowed by policy", N(.attestation = SCHED_ATTEST_PENDING), R(),
	  .allow_unattested = true, .placed = true },
	/* tenant pools */
	{ "own pool", N(LABELS({ SCHED_POOL_LABEL, "acme" })), R(), .placed = true },
	{ "other tenant's pool", N(LABELS({ SCHED_POOL_LABEL, "globex" })), R(),
	  .reason = SCHED_R_POOL_OTHER_TENANT },
	{ "dedicated refuses shared node", N(), R(.dedicated = true), .reason = SCHED_R_POOL_SHARED },
	{ "dedicated on own pool", N(LABELS({ SCHED_POOL_LABEL, "acme" })), R(.dedicated = true),
	  .placed = true },
	{ "dedicated of unknown tenant", N(LABELS({ SCHED_POOL_LABEL, "globex" })),
	  R(.tenant = "initech", .dedicated = true), .reason = SCHED_R_POOL_OTHER_TENANT },
	/* FIPS */
	{ "fips wanted, node not capable", N(), R(.fips = true), .reason = SCHED_R_NOT_FIPS },
	{ "fips wanted, node capable", N(.fips = true), R(.fips = true), .placed = true },
	{ "fips not wanted", N(), R(), .placed = true },
	/* taints */
	{ "untolerated taint", N(TAINT("gpu", "true", SCHED_TAINT_NO_SCHEDULE)), R(),
	  .reason = SCHED_R_TAINT },
	{ "tolerated by value", N(TAINT("gpu", "true", SCHED_TAINT_NO_SCHEDULE)),
	  R(TOL({ .key = "gpu", .value = "true", .effect = SCHED_TAINT_NO_SCHEDULE })),
	  .placed = true },
	{ "wrong value", N(TAINT("gpu", "true", SCHED_TAINT_NO_SCHEDULE)),
	  R(TOL({ .key = "gpu", .value = "false", .effect = SCHED_TAINT_NO_SCHEDULE })),
	  .reason = SCHED_R_TAINT },
	{ "tolerated by exists", N(TAINT("gpu", "true", SCHED_TAINT_NO_EXECUTE)),
	  R(TOL({ .key = "gpu", .exists = true, .any_effect = true })), .placed = true },
	{ "effect mismatch", N(TAINT("gpu", "true", SCHED_TAINT_NO_SCHEDULE)),
	  R(TOL({ .key = "gpu", .exists = true, .effect = SCHED_TAINT_NO_EXECUTE })),
	  .reason = SCHED_R_TAINT },
	{ "tolerate everything", N(TAINT("gpu", NULL, SCHED_TAINT_NO_SCHEDULE)),
	  R(TOL({ .exists = true, .any_effect = true })), .placed = true },
	{ "taint without value, equal empty", N(TAINT("maint", NULL, SCHED_TAINT_NO_SCHEDULE)),
	  R(TOL({ .key = "maint", .effect = SCHED_TAINT_NO_SCHEDULE })), .placed = true },
	/* required node affinity */
	{ "affinity In matches", N(LABELS({ "disk", "ssd" })), R(AFF1("disk", SCHED_OP_IN, "ssd", "nvme")),
	  .placed = true },
	{ "affinity In misses", N(LABELS({ "disk", "hdd" })), R(AFF1("disk", SCHED_OP_IN, "ssd")),
	  .reason = SCHED_R_AFFINITY },
	{ "affinity In, label absent", N(), R(AFF1("disk", SCHED_OP_IN, "ssd")),
	  .reason = SCHED_R_AFFINITY },
	{ "affinity NotIn, label absent", N(), R(AFF1("disk", SCHED_OP_NOT_IN, "hdd")),
	  .placed = true },
	{ "affinity NotIn hits", N(LABELS({ "disk", "hdd" })), R(AFF1("disk", SCHED_OP_NOT_IN, "hdd")),
	  .reason = SCHED_R_AFFINITY },
	{ "affinity Exists", N(LABELS({ "gpu", "a100" })), R(AFF0("gpu", SCHED_OP_EXISTS)),
	  .placed = true },
	{ "affinity DoesNotExist", N(LABELS({ "gpu", "a100" })),
	  R(AFF0("gpu", SCHED_OP_DOES_NOT_EXIST)), .reason = SCHED_R_AFFINITY },
	{ "affinity Gt", N(LABELS({ "cores", "64" })), R(AFF1("cores", SCHED_OP_GT, "32")),
	  .placed = true },
	{ "affinity Gt equal fails", N(LABELS({ "cores", "32" })), R(AFF1("cores", SCHED_OP_GT, "32")),
	  .reason = SCHED_R_AFFINITY },
	{ "affinity Lt, value not a number", N(LABELS({ "cores", "many" })),
	  R(AFF1("cores", SCHED_OP_LT, "32")), .reason = SCHED_R_AFFINITY },
	{ "affinity terms are ORed", N(LABELS({ "zone", "b" })),
	  R(.affinity = (const struct sched_term[]){
		{ .exprs = (const struct sched_expr[]){ { "zone", SCHED_OP_IN, S("a"), 1 } }, .n_exprs = 1 },
		{ .exprs = (const struct sched_expr[]){ { "zone", SCHED_OP_IN, S("b"), 1 } }, .n_exprs = 1 } },
	    .n_affinity = 2), .placed = true },
	{ "affinity expressions are ANDed", N(LABELS({ "zone", "b" }, { "disk", "hdd" })),
	  R(.affinity = (const struct sched_term[]){ { .exprs = (const struct sched_expr[]){
		{ "zone", SCHED_OP_IN, S("b"), 1 }, { "disk", SCHED_OP_IN, S("ssd"), 1 } },
	    .n_exprs = 2 } }, .n_affinity = 1), .reason = SCHED_R_AFFINITY },
	/* volumes (issue 22): a volume lives on one node */
	{ "the volume's node", N(), R(.volume_node = "n1"), .placed = true },
	{ "another node's volume", N(), R(.volume_node = "n2"),
	  .reason = SCHED_R_VOLUME },
};

static void
test_filter_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < ELEMENTSOF(filter_cases); i++) {
		const struct filter_case *fc = &filter_cases[i];
		_cleanup_sched_cluster_ struct sched_cluster *c = NULL;
		struct sched_policy p;
		struct sched_result res;

		assert_int_equal(sched_cluster_new(&c), 0);
		add(c, &fc->node);
		sched_policy_default(&p);
		p.allow_unattested = fc->allow_unattested;
		place(c, &fc->req, &p, &res);
		if (res.placed != fc->placed)
			fail_msg("case \"%s\": placed=%d, expected %d", fc->name, res.placed, fc->placed);
		if (fc->placed) {
			assert_string_equal(res.node, "n1");
			assert_int_equal(res.explain.nodes_feasible, 1);
			continue;
		}
		for (int r = 0; r < SCHED_R__MAX; r++)
			if (res.explain.rejects[r] != (r == (int)fc->reason))
				fail_msg("case \"%s\": reason %s counted %u", fc->name,
				    sched_reason_text(r), res.explain.rejects[r]);
	}
}

/* ---- anti-affinity: a cluster, prior bindings, a verdict per node ---- */

static const struct sched_anti_affinity anti_wl_node[] = {
	{ SCHED_TOPO_NODE, { .same_workload = true } } };
static const struct sched_anti_affinity anti_wl_zone[] = {
	{ SCHED_TOPO_ZONE, { .same_workload = true } } };
static const struct sched_anti_affinity anti_wl_rack[] = {
	{ SCHED_TOPO_RACK, { .same_workload = true } } };
static const struct sched_expr app_db[] = { { "app", SCHED_OP_IN, S("db"), 1 } };
static const struct sched_anti_affinity anti_db_node[] = {
	{ SCHED_TOPO_NODE, { .exprs = app_db, .n_exprs = 1 } } };

struct anti_case {
	const char			*name;
	const struct sched_anti_affinity *prior_rules;	/* held by the prior instance */
	const char			*prior_tenant;
	const char			*prior_workload;
	const char			*prior_app;
	const struct sched_anti_affinity *rules;	/* of the request */
	const char			*app;
	uint32_t			 expect_feasible;	/* of 4 nodes; prior on a1 */
	enum sched_reason		 reason;
};

static const struct anti_case anti_cases[] = {
	{ "same workload per node", NULL, "acme", "web", "web", anti_wl_node, "web", 3,
	  SCHED_R_ANTI_AFFINITY },
	{ "same workload per rack", NULL, "acme", "web", "web", anti_wl_rack, "web", 2,
	  SCHED_R_ANTI_AFFINITY },
	{ "same workload per zone", NULL, "acme", "web", "web", anti_wl_zone, "web", 2,
	  SCHED_R_ANTI_AFFINITY },
	{ "other workload does not count", NULL, "acme", "api", "api", anti_wl_node, "web", 4,
	  SCHED_R__MAX },
	{ "label selector", NULL, "acme", "db", "db", anti_db_node, "web", 3,
	  SCHED_R_ANTI_AFFINITY },
	{ "label selector ignores other tenants", NULL, "globex", "db", "db", anti_db_node, "web", 4,
	  SCHED_R__MAX },
	{ "rule held by a bound instance", anti_db_node, "acme", "web", "web", NULL, "db", 3,
	  SCHED_R_ANTI_AFFINITY_EXISTING },
	{ "held rule does not select us", anti_db_node, "acme", "web", "web", NULL, "cache", 4,
	  SCHED_R__MAX },
};

/* a1, a2 in zone za (racks r1, r2 -> a1 r1, a2 r1); b1 (rack r1), b2 (rack r2) in zb. */
static void
four_nodes(struct sched_cluster *c)
{
	struct sched_node_spec s[] = {
		node("a1", "za", "r1", 4000, 4096, 10), node("a2", "za", "r1", 4000, 4096, 10),
		node("b1", "zb", "r1", 4000, 4096, 10), node("b2", "zb", "r2", 4000, 4096, 10),
	};

	for (size_t i = 0; i < ELEMENTSOF(s); i++)
		add(c, &s[i]);
}

static void
test_anti_affinity_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < ELEMENTSOF(anti_cases); i++) {
		const struct anti_case *ac = &anti_cases[i];
		_cleanup_sched_cluster_ struct sched_cluster *c = NULL;
		struct sched_label pl = { "app", ac->prior_app }, ql = { "app", ac->app };
		struct sched_request prior = req("p1", ac->prior_workload, 100, 100), q;
		struct sched_result res;

		assert_int_equal(sched_cluster_new(&c), 0);
		four_nodes(c);
		prior.tenant = ac->prior_tenant;
		prior.labels = &pl;
		prior.n_labels = 1;
		if (ac->prior_rules) {
			prior.anti_affinity = ac->prior_rules;
			prior.n_anti_affinity = 1;
		}
		bind_ok(c, &prior, "a1");
		q = req("q1", "web", 100, 100);
		q.labels = &ql;
		q.n_labels = 1;
		if (ac->rules) {
			q.anti_affinity = ac->rules;
			q.n_anti_affinity = 1;
		}
		place(c, &q, NULL, &res);
		if (res.explain.nodes_feasible != ac->expect_feasible)
			fail_msg("case \"%s\": %u feasible, expected %u", ac->name,
			    res.explain.nodes_feasible, ac->expect_feasible);
		if (ac->reason != SCHED_R__MAX)
			assert_int_equal(res.explain.rejects[ac->reason], 4 - ac->expect_feasible);
		assert_true(res.placed);
		assert_string_not_equal(res.node, ac->expect_feasible < 4 ? "a1" : "");
	}
}

/* ---- spread: skew at and over the limit ---- */

struct spread_case {
	const char		*name;
	uint32_t		 max_skew;
	bool			 soft;
	uint32_t		 prior_in_za;	/* bound in zone za before placing */
	uint32_t		 expect_feasible;	/* of a1, a2 (za), b1, b2 (zb) */
};

static const struct spread_case spread_cases[] = {
	{ "empty cluster", 1, false, 0, 4 },
	{ "one ahead, skew 1 blocks za", 1, false, 1, 2 },
	{ "skew exactly at the limit passes", 2, false, 1, 4 },
	{ "two ahead, skew 2 blocks za", 2, false, 2, 2 },
	{ "soft never filters", 1, true, 3, 4 },
};

static void
test_spread_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < ELEMENTSOF(spread_cases); i++) {
		const struct spread_case *sc = &spread_cases[i];
		_cleanup_sched_cluster_ struct sched_cluster *c = NULL;
		struct sched_spread sp = { SCHED_TOPO_ZONE, sc->max_skew, sc->soft,
			{ .same_workload = true } };
		struct sched_request q;
		struct sched_result res;
		char name[16];

		assert_int_equal(sched_cluster_new(&c), 0);
		four_nodes(c);
		for (uint32_t k = 0; k < sc->prior_in_za; k++) {
			snprintf(name, sizeof(name), "p%u", k);
			q = req(name, "web", 10, 10);
			bind_ok(c, &q, "a1");
		}
		q = req("new", "web", 10, 10);
		q.spread = &sp;
		q.n_spread = 1;
		place(c, &q, NULL, &res);
		if (res.explain.nodes_feasible != sc->expect_feasible)
			fail_msg("case \"%s\": %u feasible, expected %u", sc->name,
			    res.explain.nodes_feasible, sc->expect_feasible);
		assert_int_equal(res.explain.rejects[SCHED_R_SPREAD], 4 - sc->expect_feasible);
		assert_int_equal(res.explain.spread_rule_rejects[0], 4 - sc->expect_feasible);
		/* The score side always prefers the emptier zone. */
		assert_true(res.placed);
		assert_int_equal(res.node[0], sc->prior_in_za ? 'b' : 'a');
	}
}

/* A zone the request can never use must not hold the minimum at zero. */
static void
test_spread_ignores_ineligible_domains(void **state)
{
	_cleanup_sched_cluster_ struct sched_cluster *c = NULL;
	struct sched_node_spec zc = node("c1", "zc", "r1", 4000, 4096, 10);
	struct sched_spread sp = { SCHED_TOPO_ZONE, 1, false, { .same_workload = true } };
	struct sched_expr ex = { "zone", SCHED_OP_NOT_IN, S("c"), 1 };
	struct sched_term term = { &ex, 1 };
	struct sched_label zl = { "zone", "c" };
	struct sched_request q;
	struct sched_result res;

	(void)state;
	assert_int_equal(sched_cluster_new(&c), 0);
	four_nodes(c);
	zc.labels = &zl;
	zc.n_labels = 1;
	add(c, &zc);
	q = req("p0", "web", 10, 10);
	bind_ok(c, &q, "a1");
	q = req("p1", "web", 10, 10);
	bind_ok(c, &q, "b1");
	q = req("new", "web", 10, 10);
	q.spread = &sp;
	q.n_spread = 1;
	q.affinity = &term;
	q.n_affinity = 1;
	place(c, &q, NULL, &res);
	assert_true(res.placed);
	assert_int_equal(res.explain.nodes_feasible, 4);
	assert_int_equal(res.explain.rejects[SCHED_R_AFFINITY], 1);
	assert_int_equal(res.explain.rejects[SCHED_R_SPREAD], 0);
}

/* ---- scores: each plugin alone, checked by value and by choice ---- */

struct score_case {
	const char		*name;
	enum sched_score_id	 plugin;
	int64_t			 a_used_cpu, a_used_mem;	/* prior load on node a */
	int64_t			 b_used_cpu, b_used_mem;
	const char		*b_image;
	const char		*b_label;
	const char		*expect;
	int64_t			 expect_score;		/* of the chosen node, -1: skip */
};

static const struct score_case score_cases[] = {
	/* nodes: 4000 mcpu / 4000 MiB; request 1000 / 1000 */
	{ "least-allocated takes the empty node", SCHED_S_LEAST_ALLOCATED, 2000, 2000, 0, 0,
	  NULL, NULL, "b", 75000 },
	{ "most-allocated takes the loaded node", SCHED_S_MOST_ALLOCATED, 0, 0, 2000, 2000,
	  NULL, NULL, "b", 75000 },
	{ "most-allocated exact fill", SCHED_S_MOST_ALLOCATED, 0, 0, 3000, 3000, NULL, NULL, "b",
	  100000 },
	{ "balanced evens out cpu and memory", SCHED_S_BALANCED, 0, 2000, 2000, 2000, NULL, NULL,
	  "b", 100000 },
	{ "balanced, equal shares", SCHED_S_BALANCED, 1000, 1000, 0, 2000, NULL, NULL, "a",
	  100000 },
	{ "image locality", SCHED_S_IMAGE_LOCALITY, 0, 0, 0, 0, "sha256:ab", NULL, "b", 100000 },
	{ "preferred affinity", SCHED_S_PREFERRED_AFFINITY, 0, 0, 0, 0, NULL, "ssd", "b", 100000 },
	{ "tie goes to the first name", SCHED_S_LEAST_ALLOCATED, 0, 0, 0, 0, NULL, NULL, "a",
	  75000 },
};

static void
test_score_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < ELEMENTSOF(score_cases); i++) {
		const struct score_case *sc = &score_cases[i];
		_cleanup_sched_cluster_ struct sched_cluster *c = NULL;
		struct sched_node_spec a = node("a", "z", "r", 4000, 4000, 10);
		struct sched_node_spec b = node("b", "z", "r", 4000, 4000, 10);
		struct sched_label bl = { "disk", sc->b_label };
		struct sched_expr ex = { "disk", SCHED_OP_IN, S("ssd"), 1 };
		struct sched_pref_term pt = { 50, { &ex, 1 } };
		struct sched_request q;
		struct sched_policy p;
		struct sched_result res;
		const char *img = sc->b_image;

		assert_int_equal(sched_cluster_new(&c), 0);
		if (img) {
			b.images = &img;
			b.n_images = 1;
		}
		if (sc->b_label) {
			b.labels = &bl;
			b.n_labels = 1;
		}
		/* Insert in reverse so the tie-break cannot lean on insertion order. */
		add(c, &b);
		add(c, &a);
		if (sc->a_used_cpu || sc->a_used_mem) {
			q = req("pa", "other", sc->a_used_cpu, sc->a_used_mem);
			bind_ok(c, &q, "a");
		}
		if (sc->b_used_cpu || sc->b_used_mem) {
			q = req("pb", "other", sc->b_used_cpu, sc->b_used_mem);
			bind_ok(c, &q, "b");
		}
		memset(&p, 0, sizeof(p));
		sched_policy_default(&p);
		for (int s = 0; s < SCHED_S__MAX; s++)
			p.weights[s] = s == (int)sc->plugin;
		q = req("new", "web", 1000, 1000);
		q.image = "sha256:ab";
		q.preferred = &pt;
		q.n_preferred = 1;
		place(c, &q, &p, &res);
		assert_true(res.placed);
		if (strcmp(res.node, sc->expect) != 0)
			fail_msg("case \"%s\": chose %s, expected %s", sc->name, res.node, sc->expect);
		assert_int_equal(res.explain.active_scores, 1u << sc->plugin);
		if (sc->expect_score >= 0 && res.explain.scores[sc->plugin] != sc->expect_score)
			fail_msg("case \"%s\": score %lld, expected %lld", sc->name,
			    (long long)res.explain.scores[sc->plugin], (long long)sc->expect_score);
		assert_int_equal(res.explain.total, res.explain.scores[sc->plugin]);
	}
}

/* Spread score with only soft constraints: prefers the emptier zone and
 * normalises to the full range. */
static void
test_score_spread(void **state)
{
	_cleanup_sched_cluster_ struct sched_cluster *c = NULL;
	struct sched_spread sp = { SCHED_TOPO_ZONE, 1, true, { .same_workload = true } };
	struct sched_request q;
	struct sched_policy p;
	struct sched_result res;

	(void)state;
	assert_int_equal(sched_cluster_new(&c), 0);
	four_nodes(c);
	q = req("p0", "web", 10, 10);
	bind_ok(c, &q, "b2");
	sched_policy_default(&p);
	for (int s = 0; s < SCHED_S__MAX; s++)
		p.weights[s] = s == SCHED_S_SPREAD;
	q = req("new", "web", 10, 10);
	q.spread = &sp;
	q.n_spread = 1;
	place(c, &q, &p, &res);
	assert_string_equal(res.node, "a1");
	assert_int_equal(res.explain.scores[SCHED_S_SPREAD], SCHED_MAX_SCORE);
	/* Inactive plugins are not reported. */
	p.weights[SCHED_S_IMAGE_LOCALITY] = 1;
	place(c, &q, &p, &res);
	assert_int_equal(res.explain.active_scores, 1u << SCHED_S_SPREAD);
}

/* ---- the model ---- */

static void
test_bind_unbind_aggregates(void **state)
{
	_cleanup_sched_cluster_ struct sched_cluster *c = NULL;
	struct sched_request q = req("i1", "web", 700, 300);
	int64_t cpu, mem;
	uint32_t n;
	char *err = NULL;

	(void)state;
	assert_int_equal(sched_cluster_new(&c), 0);
	four_nodes(c);
	bind_ok(c, &q, "a1");
	assert_int_equal(sched_bind(c, &q, "a2", &err), -BW_E_EXISTS);
	free(err);
	err = NULL;
	q.instance = "i2";
	assert_int_equal(sched_bind(c, &q, "nope", &err), -BW_E_NOTFOUND);
	free(err);
	err = NULL;
	bind_ok(c, &q, "a1");
	assert_int_equal(sched_node_usage(c, "a1", &cpu, &mem, &n), 0);
	assert_int_equal(cpu, 1400);
	assert_int_equal(mem, 600);
	assert_int_equal(n, 2);
	assert_string_equal(sched_instance_node(c, "i2"), "a1");
	assert_int_equal(sched_node_remove(c, "a1"), -EBUSY);
	assert_int_equal(sched_unbind(c, "i1"), 0);
	assert_int_equal(sched_unbind(c, "i1"), -BW_E_NOTFOUND);
	assert_int_equal(sched_unbind(c, "i2"), 0);
	assert_int_equal(sched_node_usage(c, "a1", &cpu, &mem, &n), 0);
	assert_int_equal(cpu + mem + n, 0);
	assert_null(sched_instance_node(c, "i2"));
	assert_int_equal(sched_node_remove(c, "a1"), 0);
	assert_int_equal(sched_node_remove(c, "a1"), -BW_E_NOTFOUND);
	assert_int_equal(sched_cluster_nodes(c), 3);
	assert_int_equal(sched_cluster_instances(c), 0);
}

/* Counters created after instances were bound start from them, follow
 * a node that moves zone, and interned names are recycled on churn. */
static void
test_counters_follow_changes(void **state)
{
	_cleanup_sched_cluster_ struct sched_cluster *c = NULL;
	struct sched_spread sp = { SCHED_TOPO_ZONE, 1, false, { .same_workload = true } };
	struct sched_node_spec moved = node("a1", "zb", "r9", 4000, 4096, 10);
	struct sched_request q;
	struct sched_result res;
	uint32_t ids_before;
	char name[32];

	(void)state;
	assert_int_equal(sched_cluster_new(&c), 0);
	four_nodes(c);
	q = req("p0", "web", 10, 10);
	bind_ok(c, &q, "a1");
	q = req("new", "web", 10, 10);
	q.spread = &sp;
	q.n_spread = 1;
	place(c, &q, NULL, &res);
	assert_int_equal(res.explain.rejects[SCHED_R_SPREAD], 2);	/* za blocked */
	add(c, &moved);	/* a1 (holding p0) now in zb: zb blocked, a2 alone in za */
	place(c, &q, NULL, &res);
	assert_int_equal(res.explain.nodes_feasible, 1);
	assert_string_equal(res.node, "a2");
	ids_before = c->in.n_ids;
	for (int k = 0; k < 1000; k++) {
		snprintf(name, sizeof(name), "churn-%d", k);
		q = req(name, "web", 10, 10);
		bind_ok(c, &q, "a2");
		assert_int_equal(sched_unbind(c, name), 0);
	}
	assert_true(c->in.n_ids <= ids_before + 2);
}

/* Static verdicts are cached per request signature: a node change must
 * invalidate them, and counts must be right even when the entry was made
 * by a placement without explanations. */
static void
test_static_cache(void **state)
{
	_cleanup_sched_cluster_ struct sched_cluster *c = NULL;
	struct sched_node_spec s = node("a1", "za", "r1", 4000, 4096, 10);
	struct sched_request q = req("i1", "web", 100, 100);
	struct sched_policy quiet;
	struct sched_result res;

	(void)state;
	assert_int_equal(sched_cluster_new(&c), 0);
	four_nodes(c);
	sched_policy_default(&quiet);
	quiet.explain = false;
	place(c, &q, &quiet, &res);
	assert_string_equal(res.node, "a1");
	s.attestation = SCHED_ATTEST_UNTRUSTED;
	add(c, &s);
	place(c, &q, NULL, &res);
	assert_string_equal(res.node, "a2");
	assert_int_equal(res.explain.rejects[SCHED_R_UNTRUSTED], 1);
	place(c, &q, NULL, &res);	/* from the cache */
	assert_int_equal(res.explain.rejects[SCHED_R_UNTRUSTED], 1);
	assert_int_equal(res.explain.nodes_feasible, 3);
	q.fips = true;			/* another signature */
	place(c, &q, NULL, &res);
	assert_false(res.placed);
	assert_int_equal(res.explain.rejects[SCHED_R_UNTRUSTED], 1);
	assert_int_equal(res.explain.rejects[SCHED_R_NOT_FIPS], 3);
	assert_int_equal(sched_node_remove(c, "a2"), 0);
	q.fips = false;
	place(c, &q, NULL, &res);
	assert_string_equal(res.node, "b1");
	assert_int_equal(res.explain.nodes_total, 3);
}

/* Recounts every live counter from the bound instances and compares it
 * with what bind/unbind/upsert maintained incrementally. */
static void
check_counters(const struct sched_cluster *c)
{
	for (uint32_t k = 0; k < c->n_counters; k++) {
		const struct sched_counter *kc = &c->counters[k];
		int32_t *node = calloc(c->cap_nodes, sizeof(int32_t));
		int32_t *zone = calloc(c->cap_zones, sizeof(int32_t));
		int32_t *rack = calloc(c->cap_racks, sizeof(int32_t));
		uint64_t total = 0;

		assert_non_null(node);
		assert_non_null(zone);
		assert_non_null(rack);
		for (uint32_t i = 0; kc->live && i < c->n_insts; i++) {
			const struct sched_inst *in = &c->insts[i];
			bool m = false;

			if (!in->live)
				continue;
			if (kc->kind == SCHED_CK_HOLDER) {
				for (uint32_t h = 0; h < in->n_held; h++)
					m |= in->held[h] == k;
			} else if (in->tenant == kc->tenant)
				m = kc->kind == SCHED_CK_WORKLOAD ? in->workload == kc->workload :
				    sched_labels_match(&c->in, in->labels, in->n_labels, kc->exprs,
				    kc->n_exprs);
			if (!m)
				continue;
			node[in->node]++;
			zone[c->hot[in->node].zone]++;
			rack[c->hot[in->node].rack]++;
			total++;
		}
		if (kc->live) {
			assert_int_equal(total, kc->total);
			assert_memory_equal(node, kc->per_node, c->n_nodes * sizeof(int32_t));
			assert_memory_equal(zone, kc->per_zone, c->n_zones * sizeof(int32_t));
			assert_memory_equal(rack, kc->per_rack, c->n_racks * sizeof(int32_t));
		}
		free(node);
		free(zone);
		free(rack);
	}
}

/* Random binds, unbinds, node moves and placements; the incremental
 * counters must always equal a recount. */
static void
test_counters_random_ops(void **state)
{
	_cleanup_sched_cluster_ struct sched_cluster *c = NULL;
	static const char *const zones[] = { "z1", "z2", "z3" };
	static const char *const apps[] = { "web", "db", "cache" };
	struct sched_expr dbsel = { "app", SCHED_OP_IN, S("db"), 1 };
	struct sched_anti_affinity aa[2] = {
		{ SCHED_TOPO_NODE, { .same_workload = true } },
		{ SCHED_TOPO_ZONE, { .exprs = &dbsel, .n_exprs = 1 } },
	};
	struct sched_spread sp = { SCHED_TOPO_RACK, 2, false, { .same_workload = true } };
	bool bound[200] = { false };
	uint32_t seed = 12345;
	char name[32], nname[16], rname[16];

	(void)state;
	assert_int_equal(sched_cluster_new(&c), 0);
	for (int i = 0; i < 12; i++) {
		struct sched_node_spec s;

		snprintf(nname, sizeof(nname), "n%02d", i);
		snprintf(rname, sizeof(rname), "r%d", i % 4);
		s = node(nname, zones[i % 3], rname, 64000, 65536, 50);
		add(c, &s);
	}
	for (int step = 0; step < 1500; step++) {
		int i, op;

		seed = seed * 1103515245u + 12345u;
		i = (int)((seed >> 8) % 200);
		op = (int)((seed >> 20) % 10);
		snprintf(name, sizeof(name), "inst-%d", i);
		if (op < 6 && !bound[i]) {
			struct sched_label l = { "app", apps[i % 3] };
			struct sched_request q = req(name, i % 2 ? "w-odd" : "w-even", 100, 100);
			struct sched_result res;

			q.labels = &l;
			q.n_labels = 1;
			q.anti_affinity = &aa[i % 2];
			q.n_anti_affinity = (size_t)(i % 3 != 0);
			q.spread = &sp;
			q.n_spread = (size_t)(i % 5 == 0);
			place(c, &q, NULL, &res);
			if (res.placed) {
				bind_ok(c, &q, res.node);
				bound[i] = true;
			}
		} else if (op < 9 && bound[i]) {
			assert_int_equal(sched_unbind(c, name), 0);
			bound[i] = false;
		} else if (op == 9) {
			struct sched_node_spec s;
			int n = (int)((seed >> 4) % 12);

			snprintf(nname, sizeof(nname), "n%02d", n);
			snprintf(rname, sizeof(rname), "r%d", (int)(seed % 5));
			s = node(nname, zones[(seed >> 12) % 3], rname, 64000, 65536, 50);
			add(c, &s);
		}
		check_counters(c);
	}
}

static void
test_invalid_input(void **state)
{
	_cleanup_sched_cluster_ struct sched_cluster *c = NULL;
	struct sched_node_spec s = node("bad\nname", "z", "r", 1, 1, 1);
	struct sched_label dup[] = { { "k", "1" }, { "k", "2" } };
	struct sched_expr ex = { "k", SCHED_OP_GT, S("x"), 1 };
	struct sched_term t = { &ex, 1 };
	struct sched_request q = req("i", "w", 1, 1);
	struct sched_result res;
	char *err = NULL;

	(void)state;
	assert_int_equal(sched_cluster_new(&c), 0);
	assert_int_equal(sched_node_upsert(c, &s, &err), -BW_E_INVALID);
	assert_non_null(strstr(err, "control character"));
	free(err);
	err = NULL;
	s = node("n", "z", "r", -1, 1, 1);
	assert_int_equal(sched_node_upsert(c, &s, &err), -BW_E_INVALID);
	free(err);
	err = NULL;
	s = node("n", "z", "r", 1, 1, 1);
	s.labels = dup;
	s.n_labels = 2;
	assert_int_equal(sched_node_upsert(c, &s, &err), -BW_E_INVALID);
	assert_non_null(strstr(err, "duplicate"));
	free(err);
	err = NULL;
	assert_int_equal(sched_cluster_nodes(c), 0);
	q.affinity = &t;
	q.n_affinity = 1;
	assert_int_equal(sched_place(c, &q, NULL, &res, &err), -BW_E_INVALID);
	assert_non_null(strstr(err, "Gt/Lt"));
	free(err);
	err = NULL;
	q = req("i", "w", -5, 1);
	assert_int_equal(sched_place(c, &q, NULL, &res, &err), -BW_E_INVALID);
	free(err);
	err = NULL;
	{
		/* Selector values may not smuggle key separators, nor overflow
		 * the value limit. */
		const char *many[SCHED_MAX_VALUES + 1];
		struct sched_expr bad = { "app", SCHED_OP_IN, S("a\x1f" "b"), 1 };
		struct sched_anti_affinity aa = { SCHED_TOPO_NODE, { .exprs = &bad, .n_exprs = 1 } };

		q = req("i", "w", 1, 1);
		q.anti_affinity = &aa;
		q.n_anti_affinity = 1;
		assert_int_equal(sched_place(c, &q, NULL, &res, &err), -BW_E_INVALID);
		assert_non_null(strstr(err, "control character"));
		free(err);
		err = NULL;
		for (size_t v = 0; v < ELEMENTSOF(many); v++)
			many[v] = "x";
		bad.values = many;
		bad.n_values = ELEMENTSOF(many);
		assert_int_equal(sched_place(c, &q, NULL, &res, &err), -BW_E_INVALID);
		free(err);
	}
}

/* ---- explanations ---- */

static void
test_explain_render(void **state)
{
	_cleanup_sched_cluster_ struct sched_cluster *c = NULL;
	struct sched_request q = req("i1", "web", 500, 2048);
	struct sched_node_spec s;
	struct sched_result res;
	_cleanup_free_ char *text = NULL, *text2 = NULL, *dump = NULL;
	json_t *j = NULL;
	char name[32];

	(void)state;
	assert_int_equal(sched_cluster_new(&c), 0);
	for (int i = 0; i < 1200; i++) {
		snprintf(name, sizeof(name), "small-%04d", i);
		s = node(name, "z", "r", 4000, 1024, 10);
		add(c, &s);
	}
	for (int i = 0; i < 3; i++) {
		snprintf(name, sizeof(name), "bad-%d", i);
		s = node(name, "z", "r", 64000, 65536, 10);
		s.attestation = SCHED_ATTEST_UNTRUSTED;
		add(c, &s);
	}
	place(c, &q, NULL, &res);
	assert_false(res.placed);
	assert_int_equal(sched_explain_format(&res.explain, &text), 0);
	assert_string_equal(text, "unschedulable: 0/1,203 nodes available: "
	    "1,200 nodes: Insufficient memory; 3 nodes: Untrusted");
	assert_int_equal(sched_explain_to_json(&res.explain, &j), 0);
	dump = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(j);
	assert_non_null(strstr(dump, "{\"filter\":\"resources\",\"nodes\":1200,"
	    "\"reason\":\"Insufficient memory\"}"));
	assert_non_null(strstr(dump, "\"placed\":false"));

	s = node("big", "z", "r", 64000, 65536, 10);
	add(c, &s);
	place(c, &q, NULL, &res);
	assert_true(res.placed);
	assert_int_equal(sched_explain_format(&res.explain, &text2), 0);
	assert_non_null(strstr(text2, "placed on big: 1,204 nodes, 1 feasible; score "));
	assert_non_null(strstr(text2, "least-allocated 98.047 x1"));
	assert_non_null(strstr(text2, "; rejected: 1,200 nodes: Insufficient memory; 3 nodes: Untrusted"));
	assert_int_equal(sched_explain_to_json(&res.explain, &j), 0);
	assert_string_equal(json_string_value(json_object_get(j, "node")), "big");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "score"),
	    "total_milli")), 196875);
	assert_true(json_is_array(json_object_get(json_object_get(j, "score"), "plugins")));
	json_decref(j);
}

/* With explanations off nothing is counted, and the choice is the same. */
static void
test_explain_off(void **state)
{
	_cleanup_sched_cluster_ struct sched_cluster *c = NULL;
	struct sched_request q = req("i1", "web", 500, 512);
	struct sched_policy p;
	struct sched_result on, off;

	(void)state;
	assert_int_equal(sched_cluster_new(&c), 0);
	four_nodes(c);
	place(c, &q, NULL, &on);
	sched_policy_default(&p);
	p.explain = false;
	memset(&off, 0xa5, sizeof(off));
	off.explain.nodes_total = 77;
	place(c, &q, &p, &off);
	assert_true(off.placed);
	assert_string_equal(on.node, off.node);
	assert_int_equal(off.explain.nodes_total, 77);	/* untouched */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_filter_table),
		cmocka_unit_test(test_anti_affinity_table),
		cmocka_unit_test(test_spread_table),
		cmocka_unit_test(test_spread_ignores_ineligible_domains),
		cmocka_unit_test(test_score_table),
		cmocka_unit_test(test_score_spread),
		cmocka_unit_test(test_bind_unbind_aggregates),
		cmocka_unit_test(test_counters_follow_changes),
		cmocka_unit_test(test_static_cache),
		cmocka_unit_test(test_counters_random_ops),
		cmocka_unit_test(test_invalid_input),
		cmocka_unit_test(test_explain_render),
		cmocka_unit_test(test_explain_off),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

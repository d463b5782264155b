/* Scheduler scenarios: whole workloads placed replica by replica through
 * sched_place() + sched_bind(), as the scheduler loop will drive them. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "controlplane/sched.h"
#include "lib/err.h"

static void
add(struct sched_cluster *c, const char *name, const char *zone, int64_t cpu, int64_t mem,
    enum sched_attestation att)
{
	struct sched_node_spec s = { .name = name, .zone = zone, .rack = "r1",
		.cpu_millis = cpu, .memory_mib = mem, .max_instances = 110,
		.phase = SCHED_NODE_READY, .attestation = att };
	char *err = NULL;

	if (sched_node_upsert(c, &s, &err) < 0)
		fail_msg("upsert %s: %s", name, err);
}

/* Places and binds replicas 0..N-1 of workload WL shaped by TEMPLATE;
 * stores each result in RES (may be NULL). Returns how many were placed. */
static int
deploy(struct sched_cluster *c, const struct sched_request *template, int n,
    const struct sched_policy *p, struct sched_result *res)
{
	struct sched_result one;
	int placed = 0;

	for (int i = 0; i < n; i++) {
		struct sched_request q = *template;
		struct sched_result *r = res ? &res[i] : &one;
		char name[64], *err = NULL;

		snprintf(name, sizeof(name), "%s-%d", template->workload, i);
		q.instance = name;
		if (sched_place(c, &q, p, r, &err) < 0)
			fail_msg("place %s: %s", name, err);
		if (!r->placed)
			continue;
		if (sched_bind(c, &q, r->node, &err) < 0)
			fail_msg("bind %s: %s", name, err);
		placed++;
	}
	return placed;
}

static int
count_on(struct sched_cluster *c, const char *node_name)
{
	int64_t cpu, mem;
	uint32_t n;

	assert_int_equal(sched_node_usage(c, node_name, &cpu, &mem, &n), 0);
	return (int)n;
}

/* 6 replicas, zone spread max skew 1 over 3 zones: 2/2/2, even though
 * zone a has far more room and least-allocated alone would pile into it. */
static void
test_zone_spread_2_2_2(void **state)
{
	_cleanup_sched_cluster_ struct sched_cluster *c = NULL;
	struct sched_spread sp = { SCHED_TOPO_ZONE, 1, false, { .same_workload = true } };
	struct sched_request q = { .tenant = "acme", .workload = "web", .cpu_millis = 250,
		.memory_mib = 256, .spread = &sp, .n_spread = 1 };
	struct sched_policy p;

	(void)state;
	assert_int_equal(sched_cluster_new(&c), 0);
	add(c, "a-1", "a", 64000, 262144, SCHED_ATTEST_TRUSTED);
	add(c, "a-2", "a", 64000, 262144, SCHED_ATTEST_TRUSTED);
	add(c, "a-3", "a", 64000, 262144, SCHED_ATTEST_TRUSTED);
	add(c, "b-1", "b", 4000, 8192, SCHED_ATTEST_TRUSTED);
	add(c, "c-1", "c", 4000, 8192, SCHED_ATTEST_TRUSTED);
	add(c, "c-2", "c", 8000, 16384, SCHED_ATTEST_TRUSTED);
	/* Make the spread score worthless, so the hard constraint alone
	 * has to produce 2/2/2. */
	sched_policy_default(&p);
	p.weights[SCHED_S_SPREAD] = 0;
	assert_int_equal(deploy(c, &q, 6, &p, NULL), 6);
	assert_int_equal(count_on(c, "a-1") + count_on(c, "a-2") + count_on(c, "a-3"), 2);
	assert_int_equal(count_on(c, "b-1"), 2);
	assert_int_equal(count_on(c, "c-1") + count_on(c, "c-2"), 2);
}

/* Anti-affinity per node on 4 nodes: 4 placed, one per node, and 2
 * unschedulable with an explanation naming the rule. */
static void
test_anti_affinity_4_of_6(void **state)
{
	_cleanup_sched_cluster_ struct sched_cluster *c = NULL;
	struct sched_anti_affinity aa = { SCHED_TOPO_NODE, { .same_workload = true } };
	struct sched_request q = { .tenant = "acme", .workload = "web", .cpu_millis = 250,
		.memory_mib = 256, .anti_affinity = &aa, .n_anti_affinity = 1 };
	struct sched_result res[6];
	_cleanup_free_ char *text = NULL, *dump = NULL;
	json_t *j = NULL;
	const char *names[] = { "n1", "n2", "n3", "n4" };

	(void)state;
	assert_int_equal(sched_cluster_new(&c), 0);
	for (int i = 0; i < 4; i++)
		add(c, names[i], "z", 16000, 32768, SCHED_ATTEST_TRUSTED);
	assert_int_equal(deploy(c, &q, 6, NULL, res), 4);
	for (int i = 0; i < 4; i++)
		assert_int_equal(count_on(c, names[i]), 1);
	for (int i = 4; i < 6; i++) {
		assert_false(res[i].placed);
		assert_int_equal(res[i].explain.rejects[SCHED_R_ANTI_AFFINITY], 4);
		assert_int_equal(res[i].explain.anti_rule_rejects[0], 4);
	}
	assert_int_equal(sched_explain_format(&res[5].explain, &text), 0);
	assert_string_equal(text, "unschedulable: 0/4 nodes available: 4 nodes: "
	    "anti-affinity[0]: workload acme/web, one per node");
	assert_int_equal(sched_explain_to_json(&res[5].explain, &j), 0);
	dump = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(j);
	assert_string_equal(dump, "{\"nodes\":{\"evaluated\":4,\"feasible\":0,\"total\":4},"
	    "\"placed\":false,\"rejected\":[{\"filter\":\"anti-affinity\",\"nodes\":4,"
	    "\"reason\":\"Anti-affinity\",\"rule\":\"anti-affinity[0]: workload acme/web, one per "
	    "node\"}]}");
}

/* An Untrusted node gets nothing, however attractive; a node whose
 * attestation is pending gets work only when policy allows it. */
static void
test_untrusted_gets_nothing(void **state)
{
	_cleanup_sched_cluster_ struct sched_cluster *c = NULL;
	struct sched_request q = { .tenant = "acme", .workload = "web", .cpu_millis = 500,
		.memory_mib = 512 };
	struct sched_result res[40];
	struct sched_policy p;

	(void)state;
	assert_int_equal(sched_cluster_new(&c), 0);
	add(c, "huge-untrusted", "z", 512000, 1048576, SCHED_ATTEST_UNTRUSTED);
	add(c, "huge-pending", "z", 512000, 1048576, SCHED_ATTEST_PENDING);
	add(c, "small-1", "z", 16000, 16384, SCHED_ATTEST_TRUSTED);
	add(c, "small-2", "z", 16000, 16384, SCHED_ATTEST_TRUSTED);
	assert_int_equal(deploy(c, &q, 40, NULL, res), 40);
	assert_int_equal(count_on(c, "huge-untrusted"), 0);
	assert_int_equal(count_on(c, "huge-pending"), 0);
	for (int i = 0; i < 40; i++) {
		assert_int_equal(res[i].explain.rejects[SCHED_R_UNTRUSTED], 1);
		assert_int_equal(res[i].explain.rejects[SCHED_R_UNATTESTED], 1);
	}
	/* Full now: the next one is unschedulable and says why. */
	q.workload = "more";
	q.cpu_millis = 20000;
	assert_int_equal(deploy(c, &q, 1, NULL, res), 0);
	assert_int_equal(res[0].explain.rejects[SCHED_R_CPU], 2);
	sched_policy_default(&p);
	p.allow_unattested = true;
	assert_int_equal(deploy(c, &q, 1, &p, res), 1);
	assert_string_equal(res[0].node, "huge-pending");
	assert_int_equal(count_on(c, "huge-untrusted"), 0);
}

/* Every node tainted and nothing tolerates: unschedulable, all counted. */
static void
test_all_nodes_tainted(void **state)
{
	_cleanup_sched_cluster_ struct sched_cluster *c = NULL;
	struct sched_taint t = { "maintenance", "true", SCHED_TAINT_NO_SCHEDULE };
	struct sched_toleration tol = { .key = "maintenance", .exists = true, .any_effect = true };
	struct sched_request q = { .tenant = "acme", .workload = "web", .cpu_millis = 1,
		.memory_mib = 1 };
	struct sched_result res;
	_cleanup_free_ char *text = NULL;
	char name[16], *err = NULL;

	(void)state;
	assert_int_equal(sched_cluster_new(&c), 0);
	for (int i = 0; i < 5; i++) {
		struct sched_node_spec s = { .name = name, .zone = "z", .cpu_millis = 1000,
			.memory_mib = 1000, .max_instances = 10, .taints = &t, .n_taints = 1 };

		snprintf(name, sizeof(name), "n%d", i);
		assert_int_equal(sched_node_upsert(c, &s, &err), 0);
	}
	assert_int_equal(deploy(c, &q, 1, NULL, &res), 0);
	assert_int_equal(sched_explain_format(&res.explain, &text), 0);
	assert_string_equal(text, "unschedulable: 0/5 nodes available: 5 nodes: Untolerated taint");
	q.tolerations = &tol;
	q.n_tolerations = 1;
	assert_int_equal(deploy(c, &q, 1, NULL, &res), 1);
}

/* The same cluster built in two node orders makes the same decisions. */
static void
test_deterministic(void **state)
{
	struct sched_request q = { .tenant = "acme", .workload = "web", .cpu_millis = 300,
		.memory_mib = 300 };
	struct sched_result a[30], b[30];
	char name[16];

	(void)state;
	for (int pass = 0; pass < 2; pass++) {
		_cleanup_sched_cluster_ struct sched_cluster *c = NULL;

		assert_int_equal(sched_cluster_new(&c), 0);
		for (int k = 0; k < 12; k++) {
			int i = pass ? 11 - k : k;

			snprintf(name, sizeof(name), "n%02d", i);
			add(c, name, i % 3 ? "x" : "y", 2000 + 500 * (i % 4), 4096, SCHED_ATTEST_TRUSTED);
		}
		assert_int_equal(deploy(c, &q, 30, NULL, pass ? b : a), 30);
	}
	for (int i = 0; i < 30; i++)
		assert_string_equal(a[i].node, b[i].node);
}

/* Sampling stops early and says so, and still places. */
static void
test_sampling(void **state)
{
	_cleanup_sched_cluster_ struct sched_cluster *c = NULL;
	struct sched_request q = { .tenant = "acme", .workload = "web", .cpu_millis = 100,
		.memory_mib = 100 };
	struct sched_result res;
	struct sched_policy p;
	_cleanup_free_ char *text = NULL;
	char name[16];

	(void)state;
	assert_int_equal(sched_cluster_new(&c), 0);
	for (int i = 0; i < 2000; i++) {
		snprintf(name, sizeof(name), "n%04d", i);
		add(c, name, "z", 4000, 4096, SCHED_ATTEST_TRUSTED);
	}
	sched_policy_default(&p);
	p.percentage_of_nodes = 10;
	assert_int_equal(deploy(c, &q, 1, &p, &res), 1);
	assert_true(res.explain.nodes_evaluated < 2000);
	assert_true(res.explain.nodes_feasible >= 200);
	assert_int_equal(sched_explain_format(&res.explain, &text), 0);
	assert_non_null(strstr(text, "evaluated)"));
}

/* Sampling applies to hard spread too, with the minima over every node:
 * zone c's nodes come last in node order, beyond what the first
 * placements sample, yet its empty zone keeps a third replica out of
 * zones a and b (1/1/1, not 2/1/0). */
static void
test_sampling_hard_spread(void **state)
{
	_cleanup_sched_cluster_ struct sched_cluster *c = NULL;
	struct sched_spread sp = { SCHED_TOPO_ZONE, 1, false, { .same_workload = true } };
	struct sched_request q = { .tenant = "acme", .workload = "web", .cpu_millis = 100,
		.memory_mib = 100, .spread = &sp, .n_spread = 1 };
	struct sched_result res[3];
	struct sched_policy p;
	int zones[3] = { 0 };
	char name[16];

	(void)state;
	assert_int_equal(sched_cluster_new(&c), 0);
	for (int i = 0; i < 2000; i++) {
		snprintf(name, sizeof(name), "n%04d", i);
		add(c, name, i >= 1900 ? "c" : i % 2 ? "b" : "a", 4000, 4096,
		    SCHED_ATTEST_TRUSTED);
	}
	sched_policy_default(&p);
	p.percentage_of_nodes = 10;
	assert_int_equal(deploy(c, &q, 3, &p, res), 3);
	assert_true(res[0].explain.nodes_evaluated < 2000);
	for (int i = 0; i < 3; i++) {
		int n = atoi(res[i].node + 1);

		zones[n >= 1900 ? 2 : n % 2]++;
	}
	assert_int_equal(zones[0], 1);
	assert_int_equal(zones[1], 1);
	assert_int_equal(zones[2], 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_zone_spread_2_2_2),
		cmocka_unit_test(test_anti_affinity_4_of_6),
		cmocka_unit_test(test_untrusted_gets_nothing),
		cmocka_unit_test(test_all_nodes_tainted),
		cmocka_unit_test(test_deterministic),
		cmocka_unit_test(test_sampling),
		cmocka_unit_test(test_sampling_hard_spread),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Scheduler: an in-memory cluster model (nodes, bound instances and the
 * per-node / per-domain aggregates derived from them) and a plugin
 * pipeline (filter, score, normalise, pick) that places one instance at a
 * time. Pure library: no store, no network, no logging. Not thread-safe:
 * one owner (the scheduler loop) drives a cluster.
 *
 * Strings passed in are copied (interned); the caller keeps ownership of
 * every spec and request it passes. */
#ifndef BW_SCHED_H
#define BW_SCHED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "lib/macro.h"

/* Limits on what a caller (ultimately an API client) can make us hold. */
#define SCHED_NAME_MAX		253	/* node, instance, tenant, workload, label value */
#define SCHED_MAX_LABELS	64	/* per node or instance */
#define SCHED_MAX_TAINTS	32	/* per node */
#define SCHED_MAX_IMAGES	256	/* cached images per node */
#define SCHED_MAX_RULES		8	/* per request and kind (anti-affinity, spread, ...) */
#define SCHED_MAX_EXPRS		16	/* per term or selector */
#define SCHED_MAX_VALUES	32	/* per expression */
#define SCHED_MAX_TOLERATIONS	32
#define SCHED_DESC_MAX		160	/* rendered rule description in an explanation */
#define SCHED_MAX_QUANTITY	(INT64_C(1) << 40)	/* cpu_millis, memory_mib */

/* Score plugins return 0..SCHED_MAX_SCORE in milli-points (100.000). */
#define SCHED_MAX_SCORE		100000

/* Node label reserving a node to one tenant (value: the tenant name). */
#define SCHED_POOL_LABEL	"bulwark.io/tenant"

enum sched_node_phase {
	SCHED_NODE_READY,
	SCHED_NODE_NOT_READY,
};

enum sched_attestation {
	SCHED_ATTEST_TRUSTED,
	SCHED_ATTEST_PENDING,	/* enrolled, not attested yet */
	SCHED_ATTEST_UNTRUSTED,
};

enum sched_taint_effect {
	SCHED_TAINT_NO_SCHEDULE,
	SCHED_TAINT_NO_EXECUTE,
};

enum sched_topology {
	SCHED_TOPO_NODE,
	SCHED_TOPO_RACK,
	SCHED_TOPO_ZONE,
	SCHED_TOPO__MAX,
};

enum sched_op {
	SCHED_OP_IN,
	SCHED_OP_NOT_IN,
	SCHED_OP_EXISTS,
	SCHED_OP_DOES_NOT_EXIST,
	SCHED_OP_GT,		/* label value parsed as integer > values[0] */
	SCHED_OP_LT,
};

struct sched_label {
	const char	*key;
	const char	*value;
};

struct sched_taint {
	const char		*key;
	const char		*value;		/* may be NULL */
	enum sched_taint_effect	 effect;
};

struct sched_node_spec {
	const char		*name;
	const char		*zone;		/* NULL: the unnamed domain "" */
	const char		*rack;
	int64_t			 cpu_millis;
	int64_t			 memory_mib;
	uint32_t		 max_instances;
	const struct sched_label *labels;
	size_t			 n_labels;
	const struct sched_taint *taints;
	size_t			 n_taints;
	const char *const	*images;	/* image digests cached on the node */
	size_t			 n_images;
	enum sched_node_phase	 phase;
	enum sched_attestation	 attestation;
	bool			 fips;
};

struct sched_expr {
	const char		*key;
	enum sched_op		 op;
	const char *const	*values;
	size_t			 n_values;
};

/* All expressions must hold (AND). */
struct sched_term {
	const struct sched_expr	*exprs;
	size_t			 n_exprs;
};

struct sched_pref_term {
	int32_t			 weight;	/* 1..100 */
	struct sched_term	 term;
};

/* Which instances a rule counts: the request's own workload, or the
 * instances of the request's tenant whose labels match every expression.
 * Selectors never see other tenants' instances. */
struct sched_selector {
	bool			 same_workload;
	const struct sched_expr	*exprs;
	size_t			 n_exprs;
};

struct sched_toleration {
	const char		*key;		/* NULL with exists: tolerate all */
	bool			 exists;	/* false: value must equal */
	const char		*value;
	bool			 any_effect;
	enum sched_taint_effect	 effect;
};

struct sched_anti_affinity {
	enum sched_topology	 topology;
	struct sched_selector	 selector;
};

struct sched_spread {
	enum sched_topology	 topology;
	uint32_t		 max_skew;	/* >= 1 */
	bool			 soft;		/* true: score only; false: also filter */
	struct sched_selector	 selector;
};

/* One instance to place (and, once placed, to bind). */
struct sched_request {
	const char			*instance;
	const char			*tenant;
	const char			*workload;
	const struct sched_label	*labels;
	size_t				 n_labels;
	int64_t				 cpu_millis;
	int64_t				 memory_mib;
	const char			*image;		/* may be NULL */
	bool				 fips;		/* needs a FIPS-capable node */
	bool				 dedicated;	/* only nodes of the tenant's pool */
	const struct sched_toleration	*tolerations;
	size_t				 n_tolerations;
	const struct sched_term		*affinity;	/* OR of terms; none: any node */
	size_t				 n_affinity;
	const struct sched_pref_term	*preferred;
	size_t				 n_preferred;
	const struct sched_anti_affinity *anti_affinity;
	size_t				 n_anti_affinity;
	const struct sched_spread	*spread;
	size_t				 n_spread;
	/* The node holding a volume the instance uses, or NULL: a volume
	 * lives on one node (docs/storage.md). */
	const char			*volume_node;
};

/* Filter plugins, in the order they run. */
enum sched_filter_id {
	SCHED_F_READY,
	SCHED_F_ATTESTATION,
	SCHED_F_POOL,
	SCHED_F_FIPS,
	SCHED_F_AFFINITY,
	SCHED_F_TAINTS,
	SCHED_F_RESOURCES,
	SCHED_F_ANTI_AFFINITY,
	SCHED_F_SPREAD,
	SCHED_F_VOLUME,
	SCHED_F__MAX,
};

/* Why a node was rejected: the first failing filter, refined. */
enum sched_reason {
	SCHED_R_NOT_READY,
	SCHED_R_UNTRUSTED,
	SCHED_R_UNATTESTED,
	SCHED_R_POOL_OTHER_TENANT,
	SCHED_R_POOL_SHARED,
	SCHED_R_NOT_FIPS,
	SCHED_R_AFFINITY,
	SCHED_R_TAINT,
	SCHED_R_CPU,
	SCHED_R_MEMORY,
	SCHED_R_SLOTS,
	SCHED_R_ANTI_AFFINITY,		/* one of the request's rules; see anti_rule */
	SCHED_R_ANTI_AFFINITY_EXISTING,	/* a rule held by an instance already bound */
	SCHED_R_SPREAD,			/* see spread_rule */
	SCHED_R_VOLUME,			/* not the node holding its volume */
	SCHED_R__MAX,
};

enum sched_score_id {
	SCHED_S_LEAST_ALLOCATED,
	SCHED_S_MOST_ALLOCATED,
	SCHED_S_BALANCED,
	SCHED_S_SPREAD,
	SCHED_S_PREFERRED_AFFINITY,
	SCHED_S_IMAGE_LOCALITY,
	SCHED_S__MAX,
};

struct sched_policy {
	int32_t		weights[SCHED_S__MAX];	/* 0 disables a score plugin */
	bool		allow_unattested;	/* place on SCHED_ATTEST_PENDING nodes */
	bool		explain;		/* count rejects and keep scores */
	uint32_t	percentage_of_nodes;	/* 1..100: stop after this share feasible */
	uint32_t	min_feasible;		/* floor for the sampled count */
};

/* Compact record of why a decision came out as it did. Plain data: copy
 * it, render it with sched_explain_format() / sched_explain_to_json(). */
struct sched_explain {
	bool		placed;
	char		node[SCHED_NAME_MAX + 1];
	uint32_t	nodes_total;
	uint32_t	nodes_evaluated;	/* < total when sampling stopped early */
	uint32_t	nodes_feasible;
	uint32_t	rejects[SCHED_R__MAX];
	uint32_t	anti_rule_rejects[SCHED_MAX_RULES];
	uint32_t	spread_rule_rejects[SCHED_MAX_RULES];
	char		anti_desc[SCHED_MAX_RULES][SCHED_DESC_MAX];
	char		spread_desc[SCHED_MAX_RULES][SCHED_DESC_MAX];
	uint32_t	active_scores;		/* bit i: plugin i ran */
	int32_t		weights[SCHED_S__MAX];
	int64_t		scores[SCHED_S__MAX];	/* chosen node, normalised, milli-points */
	int64_t		total;			/* sum of weight * score */
};

struct sched_result {
	bool			placed;
	char			node[SCHED_NAME_MAX + 1];
	struct sched_explain	explain;	/* filled when policy->explain */
};

struct sched_cluster;

/* Fills *P with the defaults: least-allocated 1, most-allocated 0,
 * balanced 1, spread 2, preferred affinity 1, image locality 1; pending
 * attestation refused; explanations on; all nodes evaluated. */
void sched_policy_default(struct sched_policy *p);

/* Allocates an empty cluster into *ret (free with sched_cluster_free()).
 * Returns 0 or -ENOMEM. */
int sched_cluster_new(struct sched_cluster **ret);
void sched_cluster_free(struct sched_cluster *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct sched_cluster *, sched_cluster_free);
#define _cleanup_sched_cluster_ _cleanup_(sched_cluster_freep)

/* Adds SPEC->name or replaces its spec in place (bound instances stay;
 * a node may end up over-committed, which blocks new placements only).
 * Returns 0, -BW_E_INVALID with *ret_err, or -ENOMEM. */
int sched_node_upsert(struct sched_cluster *c, const struct sched_node_spec *spec,
    char **ret_err);

/* Removes node NAME. Returns 0, -BW_E_NOTFOUND, or -EBUSY while
 * instances are bound to it (unbind or evict them first). */
int sched_node_remove(struct sched_cluster *c, const char *name);

/* Records REQ->instance as running on NODE and updates every aggregate.
 * Used after a placement was stored and to adopt existing placements
 * (fit is not checked: reality wins). Returns 0, -BW_E_NOTFOUND (node),
 * -BW_E_EXISTS (instance already bound), -BW_E_INVALID with *ret_err, or
 * -ENOMEM. */
int sched_bind(struct sched_cluster *c, const struct sched_request *req,
    const char *node, char **ret_err);

/* Forgets instance NAME. Returns 0 or -BW_E_NOTFOUND. */
int sched_unbind(struct sched_cluster *c, const char *instance);

/* Chooses a node for REQ under POLICY (NULL: defaults). Does not bind.
 * Returns 0 with *ret filled whether or not a node was found
 * (ret->placed), -BW_E_INVALID with *ret_err for a malformed request, or
 * -ENOMEM. */
int sched_place(struct sched_cluster *c, const struct sched_request *req,
    const struct sched_policy *policy, struct sched_result *ret, char **ret_err);

/* Introspection for callers and tests. */
uint32_t sched_cluster_nodes(const struct sched_cluster *c);
uint32_t sched_cluster_instances(const struct sched_cluster *c);
/* Returns the node an instance is bound to (owned by C, valid until the
 * next change) or NULL. */
const char *sched_instance_node(const struct sched_cluster *c, const char *instance);
/* Fills allocated resources of node NAME. Returns 0 or -BW_E_NOTFOUND. */
int sched_node_usage(const struct sched_cluster *c, const char *name,
    int64_t *ret_cpu, int64_t *ret_mem, uint32_t *ret_instances);

/* Names used in explanations and configuration. */
const char *sched_filter_name(enum sched_filter_id id);
const char *sched_score_name(enum sched_score_id id);
const char *sched_reason_text(enum sched_reason r);
enum sched_filter_id sched_reason_filter(enum sched_reason r);
const char *sched_topology_name(enum sched_topology t);

/* Renders E as one line of text into *ret (caller frees), e.g.
 * "0/5,000 nodes available: 4,812 nodes: Insufficient memory; 3 nodes:
 * Untrusted". Returns 0 or -ENOMEM. */
int sched_explain_format(const struct sched_explain *e, char **ret);

/* Renders E as a JSON object into *ret (caller owns the reference).
 * Returns 0 or -ENOMEM. */
int sched_explain_to_json(const struct sched_explain *e, json_t **ret);

#endif

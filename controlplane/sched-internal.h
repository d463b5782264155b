/* Internal structures shared by the sched*.c files. Nothing here is
 * part of the scheduler's public interface (controlplane/sched.h). */
#ifndef BW_SCHED_INTERNAL_H
#define BW_SCHED_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "controlplane/sched.h"

/* ---- string interning (sched-intern.c) ----
 * Every name the scheduler holds is mapped to a dense id (0 = none) so
 * comparisons in the hot loops are integer compares. Ids are reference
 * counted and recycled, so instance churn does not grow the table. Each
 * id carries one slot per use (node, instance, counter, domain) mapping
 * it to an index in the matching array. */
enum sched_aux {
	SCHED_AUX_NODE,
	SCHED_AUX_INST,
	SCHED_AUX_COUNTER,
	SCHED_AUX_ZONE,
	SCHED_AUX_RACK,
	SCHED_AUX_IMAGE,
	SCHED_AUX__MAX,
};

struct sched_intern {
	char		**str;
	uint32_t	 *len;
	uint32_t	 *hash;
	uint32_t	 *refs;
	int32_t		(*aux)[SCHED_AUX__MAX];
	uint32_t	  n_ids;	/* ids in use or freed: 1..n_ids-1 */
	uint32_t	  cap_ids;
	uint32_t	 *free_ids;
	uint32_t	  n_free;
	uint32_t	 *table;	/* open addressing, linear probing; 0 empty */
	uint32_t	  table_mask;
	uint32_t	  used;
	uint64_t	  k0, k1;	/* SipHash key, random per cluster */
};

int sched_intern_init(struct sched_intern *t);
void sched_intern_done(struct sched_intern *t);
/* Returns the id of S (LEN bytes) or 0 when it was never interned. */
uint32_t sched_intern_find(const struct sched_intern *t, const char *s, size_t len);
/* Interns S and takes a reference; *ret_id receives the id. 0 or -ENOMEM. */
int sched_intern_get(struct sched_intern *t, const char *s, size_t len, uint32_t *ret_id);
/* Takes one more reference on ID (nonzero). */
void sched_intern_ref(struct sched_intern *t, uint32_t id);
/* Drops a reference; the id is recycled when none remain. ID 0 is ignored. */
void sched_intern_put(struct sched_intern *t, uint32_t id);
static inline const char *
sched_intern_str(const struct sched_intern *t, uint32_t id)
{
	return id ? t->str[id] : "";
}
static inline int32_t
sched_aux_get(const struct sched_intern *t, uint32_t id, enum sched_aux k)
{
	return id && id < t->n_ids ? t->aux[id][k] : -1;	/* no index */
}
static inline void
sched_aux_set(struct sched_intern *t, uint32_t id, enum sched_aux k, int32_t v)
{
	t->aux[id][k] = v;
}

/* ---- cluster model (sched-cluster.c) ---- */
struct sched_lbl {
	uint32_t	key;
	uint32_t	value;
};

#define SCHED_NF_LIVE		0x01u
#define SCHED_NF_READY		0x02u
#define SCHED_NF_TRUSTED	0x04u
#define SCHED_NF_PENDING	0x08u
#define SCHED_NF_FIPS		0x10u
#define SCHED_NF_TAINTED	0x20u

/* What every placement reads for every node: kept small and together. */
struct sched_nhot {
	int64_t		cap_cpu;
	int64_t		cap_mem;
	int64_t		used_cpu;
	int64_t		used_mem;
	uint64_t	inv_cpu;	/* (SCHED_MAX_SCORE << 32) / cap: shares */
	uint64_t	inv_mem;	/* without a division per node and placement */
	uint32_t	cap_slots;
	uint32_t	used_slots;
	uint32_t	flags;
	uint32_t	zone;		/* domain index */
	uint32_t	rack;
	uint32_t	pool;		/* tenant id the node is reserved to, 0 shared */
};

struct sched_ctaint {
	uint32_t		key;
	uint32_t		value;
	enum sched_taint_effect	effect;
};

struct sched_ncold {
	uint32_t		 name;
	uint32_t		 zone_id;
	uint32_t		 rack_id;
	uint32_t		 n_labels;
	struct sched_lbl	*labels;	/* sorted by key id */
	uint32_t		 n_taints;
	struct sched_ctaint	*taints;
	uint32_t		 n_images;
	uint32_t		*images;	/* sorted ids */
};

struct sched_domain {
	uint32_t	id;		/* interned name */
	uint32_t	nodes;		/* live nodes in it; 0: free slot */
};

/* A compiled expression: key and values as ids, sorted values. */
struct sched_cexpr {
	uint32_t	 key;
	enum sched_op	 op;
	uint32_t	 n_values;
	uint32_t	*values;
	int64_t		 num;	/* GT/LT operand */
};

enum sched_counter_kind {
	SCHED_CK_WORKLOAD,	/* instances of one workload */
	SCHED_CK_LABELS,	/* instances of a tenant matching a selector */
	SCHED_CK_HOLDER,	/* instances holding an anti-affinity rule */
};

/* Instance counts per node / rack / zone for one selector, maintained on
 * bind and unbind so a placement reads them in O(1) per node. */
struct sched_counter {
	bool			 live;
	enum sched_counter_kind	 kind;
	uint32_t		 key;		/* interned canonical key */
	uint32_t		 tenant;
	uint32_t		 workload;	/* CK_WORKLOAD, or holder of same-workload */
	enum sched_topology	 topology;	/* CK_HOLDER: the held rule's */
	bool			 sel_workload;	/* CK_HOLDER: selector kind */
	uint32_t		 n_exprs;	/* CK_LABELS / label holder */
	struct sched_cexpr	*exprs;
	int32_t			*per_node;
	int32_t			*per_rack;
	int32_t			*per_zone;
	uint64_t		 total;
};

struct sched_inst {
	bool			 live;
	uint32_t		 name;
	uint32_t		 tenant;
	uint32_t		 workload;
	uint32_t		 image;
	uint32_t		 node;
	int64_t			 cpu;
	int64_t			 mem;
	uint32_t		 n_labels;
	struct sched_lbl	*labels;
	uint32_t		 n_held;
	uint32_t		 held[SCHED_MAX_RULES];	/* holder counters */
};

struct sched_cluster {
	struct sched_intern	 in;

	uint32_t		 n_nodes;	/* slots used (live + free) */
	uint32_t		 cap_nodes;
	uint32_t		 live_nodes;
	struct sched_nhot	*hot;
	struct sched_ncold	*cold;
	uint32_t		*free_nodes;
	uint32_t		 n_free_nodes;
	uint32_t		*order;		/* live slots in name order */
	bool			 order_dirty;

	struct sched_domain	*zones;
	uint32_t		 n_zones, cap_zones;
	struct sched_domain	*racks;
	uint32_t		 n_racks, cap_racks;

	/* Per cached image, the set of nodes holding it (one bit per slot),
	 * so image locality is a bit test per node. */
	struct sched_imgset {
		uint32_t	 id;		/* interned digest; 0: free entry */
		uint32_t	 nodes;
		uint64_t	*bits;
	}			*imgs;
	uint32_t		 n_imgs, cap_imgs;

	struct sched_inst	*insts;
	uint32_t		 n_insts, cap_insts, live_insts;
	uint32_t		*free_insts;
	uint32_t		 n_free_insts;

	struct sched_counter	*counters;
	uint32_t		 n_counters, cap_counters, live_counters;
	uint32_t		*free_counters;
	uint32_t		 n_free_counters;
	uint32_t		 gc_mark;	/* live counters after the last sweep */

	/* Per node, outside the hot struct so the passes that need them
	 * stream through small arrays (all sized to cap_nodes). */
	uint32_t		*rank;		/* position in name order */
	int32_t			*fcpu;		/* share used with the request, set by */
	int32_t			*fmem;		/* the resources filter for nodes it passed */

	/* Static filter results per request signature: valid while no
	 * node changed (gen). */
	uint64_t		 gen;
	struct sched_static_cache {
		uint64_t	 gen;
		uint64_t	 used;		/* last use, for replacement */
		char		*sig;
		size_t		 sig_len;
		uint32_t	*nodes;		/* survivors, in name order */
		uint32_t	 n;
		uint32_t	 rejects[SCHED_R__MAX];
	}			 cache[8];
	uint64_t		 cache_clock;

	/* Scratch reused by every placement (sized to cap_nodes). */
	uint32_t		*cand;
	int64_t			*total;
	int64_t			*cols[SCHED_S__MAX];
	uint32_t		*zone_stamp;
	uint32_t		*rack_stamp;
	uint32_t		 stamp;
	uint32_t		*holder_scratch;	/* sized to cap_counters */
	uint32_t		 next_start;	/* sampling rotates its start */
};

/* Canonical counter keys. Match counters use prefix "M", holder
 * counters "H" plus the topology. */
#define SCHED_WKEY_MAX	(8 + 2 * SCHED_NAME_MAX)
size_t sched_workload_key(char buf[SCHED_WKEY_MAX], const char *prefix, const char *tenant,
    const char *workload);
int sched_selector_key(const char *prefix, const char *tenant, const char *workload,
    const struct sched_selector *sel, char **ret, size_t *ret_len);
int sched_holder_key(enum sched_topology t, const char *tenant, const char *workload,
    const struct sched_selector *sel, char **ret, size_t *ret_len);

/* Returns the counter index for KEY or -1. */
int sched_counter_find(const struct sched_cluster *c, const char *key, size_t len);
/* Finds or creates (seeded from the bound instances) the counter KEY. */
int sched_counter_get(struct sched_cluster *c, const char *key, size_t len,
    enum sched_counter_kind kind, const char *tenant, const char *workload,
    enum sched_topology topo, const struct sched_selector *sel, uint32_t *ret_idx);
/* Frees counters that count nothing. */
void sched_counters_gc(struct sched_cluster *c);
/* Validates the parts of REQ shared by placement and bind. */
int sched_request_check(const struct sched_request *req, char **ret_err);
bool sched_labels_match(const struct sched_intern *in, const struct sched_lbl *labels,
    uint32_t n_labels, const struct sched_cexpr *exprs, uint32_t n_exprs);
int sched_compile_exprs(struct sched_intern *in, const struct sched_expr *src, size_t n,
    bool take_refs, struct sched_cexpr **ret, char **ret_err, const char *what);
void sched_cexprs_free(struct sched_intern *in, struct sched_cexpr *e, uint32_t n, bool refs);
void sched_order_refresh(struct sched_cluster *c);
int sched_check_name(const char *what, const char *s, char **ret_err);
/* Like sched_check_name() but allows the empty string. */
int sched_check_value(const char *what, const char *s, char **ret_err);
/* Validates expressions (counts, operators, values) without compiling. */
int sched_check_exprs(const struct sched_expr *src, size_t n, char **ret_err, const char *what);

static inline int32_t
sched_counter_at(const struct sched_counter *k, const struct sched_nhot *h, uint32_t slot,
    enum sched_topology t)
{
	switch (t) {
	case SCHED_TOPO_ZONE:
		return k->per_zone[h->zone];
	case SCHED_TOPO_RACK:
		return k->per_rack[h->rack];
	default:
		return k->per_node[slot];
	}
}

/* ---- one placement (sched.c, sched-filter.c, sched-score.c) ---- */
struct sched_rule {
	uint32_t		counter;
	enum sched_topology	topology;
	uint32_t		max_skew;
	bool			soft;
	bool			self_match;	/* request counts toward its own selector */
	int32_t			min;		/* spread: smallest count over eligible domains */
};

struct sched_ctol {
	uint32_t	key;		/* 0 with exists: any key */
	bool		exists;
	uint32_t	value;
	bool		any_effect;
	enum sched_taint_effect effect;
};

struct sched_cterm {
	uint32_t		 n_exprs;
	struct sched_cexpr	*exprs;
	int32_t			 weight;
};

struct sched_ctx {
	struct sched_cluster		*c;
	const struct sched_policy	*policy;
	const struct sched_request	*req;
	struct sched_explain		*ex;	/* NULL: explanations off */

	uint32_t		 tenant;
	uint32_t		 volume_node;	/* interned; 0 with req->volume_node: unknown */
	const uint64_t		*image_nodes;	/* node set of the request's image */
	uint32_t		 n_labels;
	struct sched_lbl	 labels[SCHED_MAX_LABELS];
	uint32_t		 n_tol;
	struct sched_ctol	 tol[SCHED_MAX_TOLERATIONS];
	uint32_t		 n_aff;
	struct sched_cterm	 aff[SCHED_MAX_RULES];
	uint32_t		 n_pref;
	struct sched_cterm	 pref[SCHED_MAX_RULES];
	uint32_t		 n_anti;
	struct sched_rule	 anti[SCHED_MAX_RULES];
	uint32_t		 n_spread;
	struct sched_rule	 spread[SCHED_MAX_RULES];
	bool			 hard_spread;
	uint32_t		 n_holders;	/* rules of bound instances that match us */
	uint32_t		*holders;	/* cluster scratch, cap_counters long */
	bool			 sampling;
	bool			 minima_done;	/* spread minima set for this request */
};

static inline void
sched_reject(struct sched_ctx *x, enum sched_reason r)
{
	if (x->ex)
		x->ex->rejects[r]++;
}

struct sched_filter_plugin {
	enum sched_filter_id	 id;
	const char		*name;
	bool			 is_static;	/* depends on the node spec only */
	bool			(*active)(const struct sched_ctx *x);
	/* Keeps the nodes of CAND[0..N) that pass, in order; returns how many. */
	uint32_t		(*run)(struct sched_ctx *x, uint32_t *cand, uint32_t n);
};

struct sched_score_plugin {
	enum sched_score_id	 id;
	const char		*name;
	bool			(*active)(const struct sched_ctx *x);
	/* Writes a raw score per node of CAND into OUT. */
	void			(*score)(struct sched_ctx *x, const uint32_t *cand,
				    uint32_t n, int64_t *out);
	/* Maps raw scores to 0..SCHED_MAX_SCORE across the feasible nodes; NULL
	 * when the raw score is already on that scale. */
	void			(*normalize)(struct sched_ctx *x, int64_t *out, uint32_t n);
};

extern const struct sched_filter_plugin sched_filters[SCHED_F__MAX];
extern const struct sched_score_plugin sched_scores[SCHED_S__MAX];

#endif

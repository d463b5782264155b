/* The placement pipeline: compile the request against the cluster's
 * interned names, run the filter table over the nodes, score the
 * survivors with the score table, normalise, weigh, and pick the best
 * with a deterministic tie-break (node name order). */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controlplane/sched-internal.h"
#include "lib/err.h"
#include "lib/json.h"

#define SAMPLE_CHUNK	256
#define GC_FLOOR	1024

static const struct {
	enum sched_filter_id	 filter;
	const char		*text;
} reasons[SCHED_R__MAX] = {
	[SCHED_R_NOT_READY]		 = { SCHED_F_READY, "Node not Ready" },
	[SCHED_R_UNTRUSTED]		 = { SCHED_F_ATTESTATION, "Untrusted" },
	[SCHED_R_UNATTESTED]		 = { SCHED_F_ATTESTATION, "Not attested yet" },
	[SCHED_R_POOL_OTHER_TENANT]	 = { SCHED_F_POOL, "Reserved for another tenant" },
	[SCHED_R_POOL_SHARED]		 = { SCHED_F_POOL, "Not in the tenant's node pool" },
	[SCHED_R_NOT_FIPS]		 = { SCHED_F_FIPS, "Not FIPS-capable" },
	[SCHED_R_AFFINITY]		 = { SCHED_F_AFFINITY, "Node affinity not matched" },
	[SCHED_R_TAINT]			 = { SCHED_F_TAINTS, "Untolerated taint" },
	[SCHED_R_CPU]			 = { SCHED_F_RESOURCES, "Insufficient cpu" },
	[SCHED_R_MEMORY]		 = { SCHED_F_RESOURCES, "Insufficient memory" },
	[SCHED_R_SLOTS]			 = { SCHED_F_RESOURCES, "Too many instances" },
	[SCHED_R_ANTI_AFFINITY]		 = { SCHED_F_ANTI_AFFINITY, "Anti-affinity" },
	[SCHED_R_ANTI_AFFINITY_EXISTING] = { SCHED_F_ANTI_AFFINITY,
					     "Anti-affinity of instances already placed" },
	[SCHED_R_SPREAD]		 = { SCHED_F_SPREAD, "Spread max skew" },
	[SCHED_R_VOLUME]		 = { SCHED_F_VOLUME,
					     "Not the node holding its volume" },
};

static const char *const topo_names[SCHED_TOPO__MAX] = { "node", "rack", "zone" };

void
sched_policy_default(struct sched_policy *p)
{
	memset(p, 0, sizeof(*p));
	p->weights[SCHED_S_LEAST_ALLOCATED] = 1;
	p->weights[SCHED_S_MOST_ALLOCATED] = 0;
	p->weights[SCHED_S_BALANCED] = 1;
	p->weights[SCHED_S_SPREAD] = 2;
	p->weights[SCHED_S_PREFERRED_AFFINITY] = 1;
	p->weights[SCHED_S_IMAGE_LOCALITY] = 1;
	p->allow_unattested = false;
	p->explain = true;
	p->percentage_of_nodes = 100;
	p->min_feasible = 100;
}

const char *
sched_filter_name(enum sched_filter_id id)
{
	return (unsigned)id < SCHED_F__MAX ? sched_filters[id].name : "?";
}

const char *
sched_score_name(enum sched_score_id id)
{
	return (unsigned)id < SCHED_S__MAX ? sched_scores[id].name : "?";
}

const char *
sched_reason_text(enum sched_reason r)
{
	return (unsigned)r < SCHED_R__MAX ? reasons[r].text : "?";
}

enum sched_filter_id
sched_reason_filter(enum sched_reason r)
{
	return (unsigned)r < SCHED_R__MAX ? reasons[r].filter : SCHED_F__MAX;
}

const char *
sched_topology_name(enum sched_topology t)
{
	return (unsigned)t < SCHED_TOPO__MAX ? topo_names[t] : "?";
}

static int
check_selector(const struct sched_selector *s, const char *what, size_t i, char **ret_err)
{
	char buf[48];

	if (s->same_workload)
		return 0;
	snprintf(buf, sizeof(buf), "%s[%zu].selector", what, i);
	/* Before any canonical key is built from it: values are bounded and
	 * free of the separators keys use. */
	return sched_check_exprs(s->exprs, s->n_exprs, ret_err, buf);
}

int
sched_request_check(const struct sched_request *q, char **ret_err)
{
	int r;

	if ((r = sched_check_name("instance", q->instance, ret_err)) < 0 ||
	    (r = sched_check_name("tenant", q->tenant, ret_err)) < 0 ||
	    (r = sched_check_name("workload", q->workload, ret_err)) < 0)
		return r;
	if (q->image && (r = sched_check_name("image", q->image, ret_err)) < 0)
		return r;
	if (q->cpu_millis < 0 || q->memory_mib < 0 || q->cpu_millis > SCHED_MAX_QUANTITY ||
	    q->memory_mib > SCHED_MAX_QUANTITY)
		return errf(-BW_E_INVALID, ret_err, "resources: must be 0..2^40");
	if (q->n_labels > SCHED_MAX_LABELS || (q->n_labels && !q->labels))
		return errf(-BW_E_INVALID, ret_err, "labels: at most %d", SCHED_MAX_LABELS);
	for (size_t i = 0; i < q->n_labels; i++)
		if ((r = sched_check_name("labels.key", q->labels[i].key, ret_err)) < 0 ||
		    (r = sched_check_value("labels.value", q->labels[i].value, ret_err)) < 0)
			return r;
	if (q->n_tolerations > SCHED_MAX_TOLERATIONS || (q->n_tolerations && !q->tolerations))
		return errf(-BW_E_INVALID, ret_err, "tolerations: at most %d",
		    SCHED_MAX_TOLERATIONS);
	for (size_t i = 0; i < q->n_tolerations; i++) {
		const struct sched_toleration *t = &q->tolerations[i];

		if (!t->key && !t->exists)
			return errf(-BW_E_INVALID, ret_err,
			    "tolerations[%zu]: a toleration without key must use exists", i);
		if (t->key && (r = sched_check_name("tolerations.key", t->key, ret_err)) < 0)
			return r;
		if (t->value && (r = sched_check_value("tolerations.value", t->value, ret_err)) < 0)
			return r;
		if ((unsigned)t->effect > SCHED_TAINT_NO_EXECUTE)
			return errf(-BW_E_INVALID, ret_err, "tolerations[%zu].effect: unknown", i);
	}
	if (q->n_affinity > SCHED_MAX_RULES || (q->n_affinity && !q->affinity) ||
	    q->n_preferred > SCHED_MAX_RULES || (q->n_preferred && !q->preferred) ||
	    q->n_anti_affinity > SCHED_MAX_RULES || (q->n_anti_affinity && !q->anti_affinity) ||
	    q->n_spread > SCHED_MAX_RULES || (q->n_spread && !q->spread))
		return errf(-BW_E_INVALID, ret_err,
		    "affinity, preferred, anti_affinity, spread: at most %d each", SCHED_MAX_RULES);
	for (size_t i = 0; i < q->n_affinity; i++)
		if ((r = sched_check_exprs(q->affinity[i].exprs, q->affinity[i].n_exprs, ret_err,
		    "affinity")) < 0)
			return r;
	for (size_t i = 0; i < q->n_preferred; i++) {
		if (q->preferred[i].weight < 1 || q->preferred[i].weight > 100)
			return errf(-BW_E_INVALID, ret_err, "preferred[%zu].weight: must be 1..100", i);
		if ((r = sched_check_exprs(q->preferred[i].term.exprs, q->preferred[i].term.n_exprs,
		    ret_err, "preferred")) < 0)
			return r;
	}
	for (size_t i = 0; i < q->n_anti_affinity; i++) {
		if ((unsigned)q->anti_affinity[i].topology >= SCHED_TOPO__MAX)
			return errf(-BW_E_INVALID, ret_err, "anti_affinity[%zu].topology: unknown", i);
		if ((r = check_selector(&q->anti_affinity[i].selector, "anti_affinity", i,
		    ret_err)) < 0)
			return r;
	}
	for (size_t i = 0; i < q->n_spread; i++) {
		if ((unsigned)q->spread[i].topology >= SCHED_TOPO__MAX)
			return errf(-BW_E_INVALID, ret_err, "spread[%zu].topology: unknown", i);
		if (q->spread[i].max_skew < 1 || q->spread[i].max_skew > 1000000)
			return errf(-BW_E_INVALID, ret_err, "spread[%zu].max_skew: must be >= 1", i);
		if ((r = check_selector(&q->spread[i].selector, "spread", i, ret_err)) < 0)
			return r;
	}
	return 0;
}

/* ---- request compilation ---- */

static void
ctx_done(struct sched_ctx *x)
{
	for (uint32_t i = 0; i < x->n_aff; i++)
		sched_cexprs_free(&x->c->in, x->aff[i].exprs, x->aff[i].n_exprs, false);
	for (uint32_t i = 0; i < x->n_pref; i++)
		sched_cexprs_free(&x->c->in, x->pref[i].exprs, x->pref[i].n_exprs, false);
	x->n_aff = x->n_pref = 0;
}

static uint32_t
find_str(const struct sched_cluster *c, const char *s)
{
	return s ? sched_intern_find(&c->in, s, strlen(s)) : 0;
}

static int
lbl_cmp(const void *a, const void *b)
{
	const struct sched_lbl *x = a, *y = b;

	return x->key < y->key ? -1 : x->key > y->key;	/* ordering */
}

/* Resolves the counter for a rule's selector, creating it on first use. */
static int
rule_counter(struct sched_ctx *x, const struct sched_selector *sel, uint32_t *ret)
{
	const struct sched_request *q = x->req;
	_cleanup_free_ char *key = NULL;
	size_t len;
	int r;

	if ((r = sched_selector_key("M", q->tenant, q->workload, sel, &key, &len)) < 0)
		return r;
	return sched_counter_get(x->c, key, len,
	    sel->same_workload ? SCHED_CK_WORKLOAD : SCHED_CK_LABELS, q->tenant, q->workload,
	    SCHED_TOPO_NODE, sel, ret);
}

static int
ctx_build(struct sched_ctx *x, char **ret_err)
{
	struct sched_cluster *c = x->c;
	const struct sched_request *q = x->req;
	int r;

	x->tenant = find_str(c, q->tenant);
	/* A node no one interned is no node: none passes. */
	x->volume_node = q->volume_node ? find_str(c, q->volume_node) : 0;
	{
		int32_t k = sched_aux_get(&c->in, find_str(c, q->image), SCHED_AUX_IMAGE);

		x->image_nodes = k >= 0 ? c->imgs[k].bits : NULL;
	}
	for (size_t i = 0; i < q->n_labels; i++) {
		uint32_t k = find_str(c, q->labels[i].key);

		/* A key no one interned cannot be selected by anything. */
		if (!k)
			continue;
		x->labels[x->n_labels].key = k;
		x->labels[x->n_labels++].value = find_str(c, q->labels[i].value);
	}
	qsort(x->labels, x->n_labels, sizeof(x->labels[0]), lbl_cmp);
	for (size_t i = 0; i < q->n_tolerations; i++) {
		const struct sched_toleration *t = &q->tolerations[i];
		struct sched_ctol *o = &x->tol[x->n_tol];

		o->key = find_str(c, t->key);
		if (t->key && !o->key)
			continue;	/* no node has this taint key */
		o->exists = t->exists;
		o->value = find_str(c, t->value ? t->value : "");
		o->any_effect = t->any_effect;
		o->effect = t->effect;
		x->n_tol++;
	}
	for (size_t i = 0; i < q->n_affinity; i++) {
		if ((r = sched_compile_exprs(&c->in, q->affinity[i].exprs, q->affinity[i].n_exprs,
		    false, &x->aff[x->n_aff].exprs, ret_err, "affinity")) < 0)
			return r;
		x->aff[x->n_aff++].n_exprs = (uint32_t)q->affinity[i].n_exprs;
	}
	for (size_t i = 0; i < q->n_preferred; i++) {
		if ((r = sched_compile_exprs(&c->in, q->preferred[i].term.exprs,
		    q->preferred[i].term.n_exprs, false, &x->pref[x->n_pref].exprs, ret_err,
		    "preferred")) < 0)
			return r;
		x->pref[x->n_pref].weight = q->preferred[i].weight;
		x->pref[x->n_pref++].n_exprs = (uint32_t)q->preferred[i].term.n_exprs;
	}
	for (size_t i = 0; i < q->n_anti_affinity; i++) {
		struct sched_rule *ru = &x->anti[x->n_anti];

		if ((r = rule_counter(x, &q->anti_affinity[i].selector, &ru->counter)) < 0)
			return errf(r, ret_err, "anti_affinity[%zu]: invalid selector", i);
		ru->topology = q->anti_affinity[i].topology;
		x->n_anti++;
	}
	for (size_t i = 0; i < q->n_spread; i++) {
		const struct sched_spread *sp = &q->spread[i];
		struct sched_rule *ru = &x->spread[x->n_spread];
		const struct sched_counter *kc;

		if ((r = rule_counter(x, &sp->selector, &ru->counter)) < 0)
			return errf(r, ret_err, "spread[%zu]: invalid selector", i);
		kc = &c->counters[ru->counter];
		ru->topology = sp->topology;
		ru->max_skew = sp->max_skew;
		ru->soft = sp->soft;
		ru->self_match = sp->selector.same_workload ||
		    sched_labels_match(&c->in, x->labels, x->n_labels, kc->exprs, kc->n_exprs);
		if (!sp->soft)
			x->hard_spread = true;
		x->n_spread++;
	}
	/* Rules of bound instances that select this request: the workload's
	 * own rules by key, label rules by matching. */
	x->holders = c->holder_scratch;
	for (int t = 0; t < SCHED_TOPO__MAX; t++) {
		char prefix[3] = { 'H', "nrz"[t], 0 }, key[SCHED_WKEY_MAX];
		size_t len = sched_workload_key(key, prefix, q->tenant, q->workload);
		int32_t k = sched_counter_find(c, key, len);

		if (k >= 0 && c->counters[k].total)
			x->holders[x->n_holders++] = (uint32_t)k;
	}
	for (uint32_t k = 0; k < c->n_counters; k++) {
		const struct sched_counter *kc = &c->counters[k];

		if (kc->live && kc->kind == SCHED_CK_HOLDER && !kc->sel_workload && kc->total &&
		    kc->tenant == x->tenant &&
		    sched_labels_match(&c->in, x->labels, x->n_labels, kc->exprs, kc->n_exprs))
			x->holders[x->n_holders++] = k;
	}
	return 0;
}

/* ---- pipeline ---- */

/* Smallest matching count over the domains that hold a node which passed
 * the static filters: a domain the request may never use must not pin
 * the minimum at zero. */
static void
spread_minima(struct sched_ctx *x, const uint32_t *cand, uint32_t n)
{
	struct sched_cluster *c = x->c;
	bool need_zone = false, need_rack = false;
	uint32_t stamp = ++c->stamp;

	if (stamp == 0) {
		memset(c->zone_stamp, 0, c->cap_zones * sizeof(uint32_t));
		memset(c->rack_stamp, 0, c->cap_racks * sizeof(uint32_t));
		stamp = c->stamp = 1;
	}
	for (uint32_t r = 0; r < x->n_spread; r++) {
		need_zone |= x->spread[r].topology == SCHED_TOPO_ZONE;
		need_rack |= x->spread[r].topology == SCHED_TOPO_RACK;
		x->spread[r].min = INT32_MAX;
	}
	if (need_zone || need_rack)
		for (uint32_t i = 0; i < n; i++) {
			c->zone_stamp[c->hot[cand[i]].zone] = stamp;
			c->rack_stamp[c->hot[cand[i]].rack] = stamp;
		}
	for (uint32_t r = 0; r < x->n_spread; r++) {
		struct sched_rule *ru = &x->spread[r];
		const struct sched_counter *kc = &c->counters[ru->counter];
		int32_t m = INT32_MAX;

		if (ru->topology == SCHED_TOPO_NODE) {
			for (uint32_t i = 0; i < n; i++)
				if (kc->per_node[cand[i]] < m)
					m = kc->per_node[cand[i]];
		} else if (ru->topology == SCHED_TOPO_ZONE) {
			for (uint32_t z = 0; z < c->n_zones; z++)
				if (c->zone_stamp[z] == stamp && kc->per_zone[z] < m)
					m = kc->per_zone[z];
		} else {
			for (uint32_t z = 0; z < c->n_racks; z++)
				if (c->rack_stamp[z] == stamp && kc->per_rack[z] < m)
					m = kc->per_rack[z];
		}
		ru->min = m == INT32_MAX ? 0 : m;
	}
}

/* Runs filters [FROM, TO) of the table over CAND[0..N); before the
 * first placement-dependent filter it runs, computes the spread minima
 * over the nodes that passed the static ones. */
static uint32_t
run_filters(struct sched_ctx *x, uint32_t *cand, uint32_t n, int from, int to)
{
	bool minima_done = x->minima_done;

	for (int f = from; f < to && n; f++) {
		const struct sched_filter_plugin *p = &sched_filters[f];

		if (!p->is_static && !minima_done) {
			if (x->n_spread)
				spread_minima(x, cand, n);
			minima_done = true;
		}
		if (p->active(x))
			n = p->run(x, cand, n);
	}
	return n;
}

static int
first_dynamic(void)
{
	int f = 0;

	while (f < SCHED_F__MAX && sched_filters[f].is_static)
		f++;
	return f;
}

static void
put_bytes(char *buf, size_t *off, const void *p, size_t n)
{
	if (!n)
		return;
	memcpy(buf + *off, p, n);
	*off += n;
}

/* Everything the static filters read from a request and policy, as
 * bytes: equal signatures get equal verdicts on unchanged nodes. */
static size_t
static_signature(const struct sched_ctx *x, char *buf)
{
	uint8_t flags = (uint8_t)(x->req->dedicated | x->req->fips << 1 |
	    x->policy->allow_unattested << 2);
	size_t off = 0;

	put_bytes(buf, &off, &x->tenant, sizeof(x->tenant));
	put_bytes(buf, &off, &flags, 1);
	put_bytes(buf, &off, &x->n_tol, sizeof(x->n_tol));
	for (uint32_t i = 0; i < x->n_tol; i++) {
		const struct sched_ctol *t = &x->tol[i];
		uint8_t b[3] = { t->exists, t->any_effect, (uint8_t)t->effect };

		put_bytes(buf, &off, &t->key, sizeof(t->key));
		put_bytes(buf, &off, &t->value, sizeof(t->value));
		put_bytes(buf, &off, b, sizeof(b));
	}
	put_bytes(buf, &off, &x->n_aff, sizeof(x->n_aff));
	for (uint32_t i = 0; i < x->n_aff; i++) {
		put_bytes(buf, &off, &x->aff[i].n_exprs, sizeof(uint32_t));
		for (uint32_t k = 0; k < x->aff[i].n_exprs; k++) {
			const struct sched_cexpr *e = &x->aff[i].exprs[k];
			uint8_t op = (uint8_t)e->op;

			put_bytes(buf, &off, &e->key, sizeof(e->key));
			put_bytes(buf, &off, &op, 1);
			put_bytes(buf, &off, &e->num, sizeof(e->num));
			put_bytes(buf, &off, &e->n_values, sizeof(e->n_values));
			put_bytes(buf, &off, e->values, e->n_values * sizeof(uint32_t));
		}
	}
	return off;
}

/* Worst case of static_signature(). */
#define SIG_MAX (4 + 1 + 4 + SCHED_MAX_TOLERATIONS * 11 + 4 + \
	SCHED_MAX_RULES * (4 + SCHED_MAX_EXPRS * (4 + 1 + 8 + 4 + 4 * SCHED_MAX_VALUES)))

/* Leaves in CAND the nodes (name order) that pass the static filters,
 * from the cache when the same signature was filtered since the last
 * node change. Returns their number or -ENOMEM. */
static int
static_pass(struct sched_ctx *x)
{
	struct sched_cluster *c = x->c;
	struct sched_static_cache *e = NULL;
	struct sched_explain *saved = x->ex;
	_cleanup_free_ struct sched_explain *tmp = NULL;
	char sig[SIG_MAX];
	size_t len = static_signature(x, sig);
	uint32_t n;

	for (size_t k = 0; k < ELEMENTSOF(c->cache); k++) {
		struct sched_static_cache *ce = &c->cache[k];

		if (ce->sig && ce->gen == c->gen && ce->sig_len == len &&
		    memcmp(ce->sig, sig, len) == 0) {
			e = ce;
			break;
		}
	}
	if (!e) {
		/* Replace a stale entry, else the least recently used. */
		e = &c->cache[0];
		for (size_t k = 0; k < ELEMENTSOF(c->cache); k++) {
			struct sched_static_cache *ce = &c->cache[k];

			if (!ce->sig || ce->gen != c->gen) {
				e = ce;
				break;
			}
			if (ce->used < e->used)
				e = ce;
		}
		/* Counted always, so a later explained request can reuse it. */
		tmp = calloc(1, sizeof(*tmp));
		if (!tmp)
			return -ENOMEM;
		free(e->sig);
		e->sig = malloc(len ? len : 1);
		if (!e->sig)
			return -ENOMEM;
		memcpy(e->sig, sig, len);
		e->sig_len = len;
		x->ex = tmp;
		memcpy(e->nodes, c->order, c->live_nodes * sizeof(uint32_t));
		e->n = run_filters(x, e->nodes, c->live_nodes, 0, first_dynamic());
		x->ex = saved;
		memcpy(e->rejects, tmp->rejects, sizeof(e->rejects));
		e->gen = c->gen;
	}
	e->used = ++c->cache_clock;
	n = e->n;
	memcpy(c->cand, e->nodes, n * sizeof(uint32_t));
	if (x->ex)
		for (int r = 0; r < SCHED_R__MAX; r++)
			x->ex->rejects[r] += e->rejects[r];
	return (int)n;
}

/* For a sampled request with hard spread constraints: the minima over
 * every node that passes the static filters (the cached static pass),
 * not over the sample, so that a domain the sample does not reach still
 * holds the minimum down, as kube-scheduler's PodTopologySpread counts
 * every node before it scores a share of them. */
static int
sampled_spread_minima(struct sched_ctx *x)
{
	struct sched_explain *saved = x->ex;
	int n;

	x->ex = NULL;	/* the sample's own verdicts are the explained ones */
	n = static_pass(x);
	x->ex = saved;
	if (n < 0)
		return n;
	spread_minima(x, x->c->cand, (uint32_t)n);
	x->minima_done = true;
	return 0;
}

static void
describe_selector(const struct sched_request *q, const struct sched_selector *s, char *buf,
    size_t size)
{
	static const char *const ops[] = { "In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt" };
	size_t off;

	if (s->same_workload) {
		snprintf(buf, size, "workload %s/%s", q->tenant, q->workload);
		return;
	}
	off = (size_t)snprintf(buf, size, "instances of %s matching", q->tenant);
	for (size_t i = 0; i < s->n_exprs && off < size; i++) {
		const struct sched_expr *e = &s->exprs[i];

		off += (size_t)snprintf(buf + off, size - off, "%s %s %s", i ? "," : "", e->key,
		    (unsigned)e->op <= SCHED_OP_LT ? ops[e->op] : "?");
		for (size_t v = 0; v < e->n_values && off < size; v++)
			off += (size_t)snprintf(buf + off, size - off, "%s%s%s", v ? "," : " (",
			    e->values[v], v + 1 == e->n_values ? ")" : "");
	}
	if (!s->n_exprs && off < size)
		snprintf(buf + off, size - off, " anything");
}

static void
explain_rules(const struct sched_request *q, struct sched_explain *e)
{
	char sel[SCHED_DESC_MAX];

	for (size_t i = 0; i < q->n_anti_affinity; i++) {
		if (!e->anti_rule_rejects[i])
			continue;
		describe_selector(q, &q->anti_affinity[i].selector, sel, sizeof(sel));
		/* Truncation is fine: the rule index leads the text. */
		if (snprintf(e->anti_desc[i], SCHED_DESC_MAX, "anti-affinity[%zu]: %s, one per %s",
		    i, sel, topo_names[q->anti_affinity[i].topology]) < 0)
			e->anti_desc[i][0] = 0;
	}
	for (size_t i = 0; i < q->n_spread; i++) {
		if (!e->spread_rule_rejects[i])
			continue;
		describe_selector(q, &q->spread[i].selector, sel, sizeof(sel));
		if (snprintf(e->spread_desc[i], SCHED_DESC_MAX, "spread[%zu]: %s over %s, max skew %u",
		    i, sel, topo_names[q->spread[i].topology], q->spread[i].max_skew) < 0)
			e->spread_desc[i][0] = 0;
	}
}

int
sched_place(struct sched_cluster *c, const struct sched_request *req,
    const struct sched_policy *policy, struct sched_result *ret, char **ret_err)
{
	struct sched_policy defaults;
	struct sched_ctx x = { .c = c, .req = req };
	struct sched_explain *e = &ret->explain;
	uint32_t n_all, n = 0, evaluated, active = 0, best = 0;
	int64_t best_total = -1;
	int r;

	if (!policy) {
		sched_policy_default(&defaults);
		policy = &defaults;
	}
	x.policy = policy;
	if ((r = sched_request_check(req, ret_err)) < 0)
		return r;
	/* Counters created for requests that were never bound count nothing;
	 * sweep them once they pile up. */
	if (c->live_counters >= GC_FLOOR && c->live_counters >= 2 * c->gc_mark) {
		sched_counters_gc(c);
		c->gc_mark = c->live_counters;
	}
	sched_order_refresh(c);
	ret->placed = false;
	ret->node[0] = 0;
	if (policy->explain) {
		memset(e, 0, sizeof(*e));
		x.ex = e;
	}
	if ((r = ctx_build(&x, ret_err)) < 0)
		goto out;

	n_all = c->live_nodes;
	x.sampling = policy->percentage_of_nodes >= 1 && policy->percentage_of_nodes < 100;
	if (!x.sampling) {
		if ((r = static_pass(&x)) < 0)
			goto out;
		n = run_filters(&x, c->cand, (uint32_t)r, first_dynamic(), SCHED_F__MAX);
		evaluated = n_all;
	} else {
		/* Like kube-scheduler's percentageOfNodesToScore: stop once
		 * enough feasible nodes are found, starting where the last
		 * placement stopped so every node gets its turn. */
		uint64_t want = (uint64_t)n_all * policy->percentage_of_nodes / 100;
		uint32_t start = n_all ? c->next_start % n_all : 0, pos = 0;

		if (want < policy->min_feasible)
			want = policy->min_feasible;
		if (x.hard_spread && (r = sampled_spread_minima(&x)) < 0)
			goto out;
		while (pos < n_all && n < want) {
			uint32_t chunk = n_all - pos < SAMPLE_CHUNK ? n_all - pos : SAMPLE_CHUNK;

			for (uint32_t j = 0; j < chunk; j++)
				c->cand[n + j] = c->order[(start + pos + j) % n_all];
			n += run_filters(&x, c->cand + n, chunk, 0, SCHED_F__MAX);
			pos += chunk;
		}
		c->next_start = n_all ? (start + pos) % n_all : 0;
		evaluated = pos;
	}
	if (x.ex) {
		e->nodes_total = n_all;
		e->nodes_evaluated = evaluated;
		e->nodes_feasible = n;
	}
	if (n == 0)
		goto explain;

	memset(c->total, 0, n * sizeof(int64_t));
	for (int s = 0; s < SCHED_S__MAX; s++) {
		const struct sched_score_plugin *p = &sched_scores[s];
		int64_t w = policy->weights[s], *col = c->cols[s];

		if (w <= 0 || !p->active(&x))
			continue;
		active |= 1u << s;
		p->score(&x, c->cand, n, col);
		if (p->normalize)
			p->normalize(&x, col, n);
		for (uint32_t i = 0; i < n; i++)
			c->total[i] += w * col[i];
	}
	for (uint32_t i = 0; i < n; i++) {
		int64_t t = c->total[i];

		if (t > best_total ||
		    (t == best_total && c->rank[c->cand[i]] < c->rank[c->cand[best]])) {
			best_total = t;
			best = i;
		}
	}
	ret->placed = true;
	snprintf(ret->node, sizeof(ret->node), "%s",
	    sched_intern_str(&c->in, c->cold[c->cand[best]].name));
	if (x.ex) {
		e->placed = true;
		memcpy(e->node, ret->node, sizeof(e->node));
		e->active_scores = active;
		e->total = best_total;
		for (int s = 0; s < SCHED_S__MAX; s++) {
			e->weights[s] = policy->weights[s];
			if (active & (1u << s))
				e->scores[s] = c->cols[s][best];
		}
	}
explain:
	if (x.ex)
		explain_rules(req, e);
	r = 0;
out:
	ctx_done(&x);
	return r;
}

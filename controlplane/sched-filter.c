/* Filter plugins. Each one takes the candidate list, keeps the nodes that
 * pass (in order) and counts why it dropped the others, so the first
 * failing filter is what the explanation names. Run over arrays rather
 * than per node so one indirect call serves all nodes. */
#include "config.h"

#include "controlplane/sched-internal.h"

static bool
always(const struct sched_ctx *x)
{
	(void)x;
	return true;
}

/* Keeps the candidates whose flags include FLAG; the others are
 * rejected for REASON. */
static uint32_t
keep_flagged(struct sched_ctx *x, uint32_t *cand, uint32_t n, uint32_t flag,
    enum sched_reason reason)
{
	const struct sched_nhot *hot = x->c->hot;
	uint32_t k = 0;

	for (uint32_t i = 0; i < n; i++) {
		if (hot[cand[i]].flags & flag)
			cand[k++] = cand[i];
		else
			sched_reject(x, reason);
	}
	return k;
}

static uint32_t
filter_ready(struct sched_ctx *x, uint32_t *cand, uint32_t n)
{
	return keep_flagged(x, cand, n, SCHED_NF_READY, SCHED_R_NOT_READY);
}

static uint32_t
filter_attestation(struct sched_ctx *x, uint32_t *cand, uint32_t n)
{
	const struct sched_nhot *hot = x->c->hot;
	uint32_t ok = SCHED_NF_TRUSTED, k = 0;

	if (x->policy->allow_unattested)
		ok |= SCHED_NF_PENDING;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t f = hot[cand[i]].flags;

		if (f & ok)
			cand[k++] = cand[i];
		else
			sched_reject(x, f & SCHED_NF_PENDING ? SCHED_R_UNATTESTED : SCHED_R_UNTRUSTED);
	}
	return k;
}

/* A node labelled SCHED_POOL_LABEL=<tenant> takes only that tenant's
 * instances; a dedicated request takes only its tenant's pool. */
static uint32_t
filter_pool(struct sched_ctx *x, uint32_t *cand, uint32_t n)
{
	const struct sched_nhot *hot = x->c->hot;
	bool dedicated = x->req->dedicated;
	uint32_t k = 0;

	for (uint32_t i = 0; i < n; i++) {
		uint32_t pool = hot[cand[i]].pool;

		if (pool && pool != x->tenant)
			sched_reject(x, SCHED_R_POOL_OTHER_TENANT);
		else if (dedicated && !pool)
			sched_reject(x, SCHED_R_POOL_SHARED);
		else
			cand[k++] = cand[i];
	}
	return k;
}

static bool
fips_active(const struct sched_ctx *x)
{
	return x->req->fips;
}

static uint32_t
filter_fips(struct sched_ctx *x, uint32_t *cand, uint32_t n)
{
	return keep_flagged(x, cand, n, SCHED_NF_FIPS, SCHED_R_NOT_FIPS);
}

static bool
affinity_active(const struct sched_ctx *x)
{
	return x->n_aff > 0;
}

/* Required node affinity: the terms are ORed, expressions in a term ANDed. */
static uint32_t
filter_affinity(struct sched_ctx *x, uint32_t *cand, uint32_t n)
{
	const struct sched_ncold *cold = x->c->cold;
	uint32_t k = 0;

	for (uint32_t i = 0; i < n; i++) {
		const struct sched_ncold *nc = &cold[cand[i]];
		bool ok = false;

		for (uint32_t t = 0; t < x->n_aff && !ok; t++)
			ok = sched_labels_match(&x->c->in, nc->labels, nc->n_labels, x->aff[t].exprs,
			    x->aff[t].n_exprs);
		if (ok)
			cand[k++] = cand[i];
		else
			sched_reject(x, SCHED_R_AFFINITY);
	}
	return k;
}

static bool
tolerated(const struct sched_ctx *x, const struct sched_ctaint *t)
{
	for (uint32_t i = 0; i < x->n_tol; i++) {
		const struct sched_ctol *o = &x->tol[i];

		if (!o->any_effect && o->effect != t->effect)
			continue;
		if (!o->key && o->exists)
			return true;
		if (o->key == t->key && (o->exists || o->value == t->value))
			return true;
	}
	return false;
}

static uint32_t
filter_taints(struct sched_ctx *x, uint32_t *cand, uint32_t n)
{
	const struct sched_nhot *hot = x->c->hot;
	uint32_t k = 0;

	for (uint32_t i = 0; i < n; i++) {
		uint32_t s = cand[i];
		bool ok = true;

		/* Most nodes carry no taint: one flag decides. */
		if (hot[s].flags & SCHED_NF_TAINTED)
			for (uint32_t t = 0; t < x->c->cold[s].n_taints && ok; t++)
				ok = tolerated(x, &x->c->cold[s].taints[t]);
		if (ok)
			cand[k++] = s;
		else
			sched_reject(x, SCHED_R_TAINT);
	}
	return k;
}

/* Share of CAP in use once the request is added, 0..SCHED_MAX_SCORE (a
 * zero capacity counts as full). INV is the node's fixed-point inverse
 * of CAP: u < cap keeps u * inv below SCHED_MAX_SCORE << 32. */
static inline int32_t
used_frac(int64_t used, int64_t req, int64_t cap, uint64_t inv)
{
	int64_t u = used + req;

	if (cap <= 0 || u >= cap)
		return SCHED_MAX_SCORE;
	if (u <= 0)
		return 0;
	return (int32_t)(((uint64_t)u * inv) >> 32);
}

/* Also leaves the cpu and memory shares of every node it passes in
 * fcpu/fmem, so the resource scores need not read the node again. */
static uint32_t
filter_resources(struct sched_ctx *x, uint32_t *cand, uint32_t n)
{
	const struct sched_nhot *hot = x->c->hot;
	int32_t *fcpu = x->c->fcpu, *fmem = x->c->fmem;
	int64_t cpu = x->req->cpu_millis, mem = x->req->memory_mib;
	uint32_t k = 0;

	for (uint32_t i = 0; i < n; i++) {
		uint32_t s = cand[i];
		const struct sched_nhot *h = &hot[s];

		if (h->used_cpu + cpu > h->cap_cpu)
			sched_reject(x, SCHED_R_CPU);
		else if (h->used_mem + mem > h->cap_mem)
			sched_reject(x, SCHED_R_MEMORY);
		else if (h->used_slots >= h->cap_slots)
			sched_reject(x, SCHED_R_SLOTS);
		else {
			fcpu[s] = used_frac(h->used_cpu, cpu, h->cap_cpu, h->inv_cpu);
			fmem[s] = used_frac(h->used_mem, mem, h->cap_mem, h->inv_mem);
			cand[k++] = s;
		}
	}
	return k;
}

static bool
anti_active(const struct sched_ctx *x)
{
	return x->n_anti > 0 || x->n_holders > 0;
}

/* Keeps the candidates for which OK holds, in order. Inlined with its
 * constant OK, so each filter stays one loop over the array. */
static inline __attribute__((always_inline)) uint32_t
keep_if(struct sched_ctx *x, uint32_t *cand, uint32_t n,
    bool (*ok)(struct sched_ctx *, uint32_t))
{
	uint32_t k = 0;

	for (uint32_t i = 0; i < n; i++)
		if (ok(x, cand[i]))
			cand[k++] = cand[i];
	return k;
}

/* Required anti-affinity both ways: the request's own rules against the
 * instances they select, and rules held by bound instances that select
 * the request. Counters make each check one array read. */
static inline bool
anti_ok(struct sched_ctx *x, uint32_t s)
{
	const struct sched_nhot *hot = x->c->hot;
	const struct sched_counter *counters = x->c->counters;

	for (uint32_t r = 0; r < x->n_anti; r++) {
		const struct sched_rule *ru = &x->anti[r];

		if (sched_counter_at(&counters[ru->counter], &hot[s], s, ru->topology) > 0) {
			sched_reject(x, SCHED_R_ANTI_AFFINITY);
			if (x->ex)
				x->ex->anti_rule_rejects[r]++;
			return false;
		}
	}
	for (uint32_t h = 0; h < x->n_holders; h++) {
		const struct sched_counter *kc = &counters[x->holders[h]];

		if (sched_counter_at(kc, &hot[s], s, kc->topology) > 0) {
			sched_reject(x, SCHED_R_ANTI_AFFINITY_EXISTING);
			return false;
		}
	}
	return true;
}

static uint32_t
filter_anti(struct sched_ctx *x, uint32_t *cand, uint32_t n)
{
	return keep_if(x, cand, n, anti_ok);
}

static bool
spread_active(const struct sched_ctx *x)
{
	return x->hard_spread;
}

/* Hard spread: placing here must keep count(domain) + self - min over
 * eligible domains within max_skew. The minima come from the framework,
 * computed over the nodes that passed the static filters. */
static inline bool
spread_ok(struct sched_ctx *x, uint32_t s)
{
	const struct sched_nhot *hot = x->c->hot;
	const struct sched_counter *counters = x->c->counters;

	for (uint32_t r = 0; r < x->n_spread; r++) {
		const struct sched_rule *ru = &x->spread[r];
		int64_t cnt;

		if (ru->soft)
			continue;
		cnt = sched_counter_at(&counters[ru->counter], &hot[s], s, ru->topology);
		if (cnt + ru->self_match - ru->min > (int64_t)ru->max_skew) {
			sched_reject(x, SCHED_R_SPREAD);
			if (x->ex)
				x->ex->spread_rule_rejects[r]++;
			return false;
		}
	}
	return true;
}

static uint32_t
filter_spread(struct sched_ctx *x, uint32_t *cand, uint32_t n)
{
	return keep_if(x, cand, n, spread_ok);
}

static bool
volume_active(const struct sched_ctx *x)
{
	return x->req->volume_node != NULL;
}

/* A volume lives on one node: an instance using it runs there. */
static uint32_t
filter_volume(struct sched_ctx *x, uint32_t *cand, uint32_t n)
{
	const struct sched_ncold *cold = x->c->cold;
	uint32_t k = 0;

	for (uint32_t i = 0; i < n; i++) {
		if (x->volume_node && cold[cand[i]].name == x->volume_node)
			cand[k++] = cand[i];
		else
			sched_reject(x, SCHED_R_VOLUME);
	}
	return k;
}

const struct sched_filter_plugin sched_filters[SCHED_F__MAX] = {
	{ SCHED_F_READY,	 "node-ready",	  true,	 always,	  filter_ready },
	{ SCHED_F_ATTESTATION,	 "attestation",	  true,	 always,	  filter_attestation },
	{ SCHED_F_POOL,		 "tenant-pool",	  true,	 always,	  filter_pool },
	{ SCHED_F_FIPS,		 "fips",	  true,	 fips_active,	  filter_fips },
	{ SCHED_F_AFFINITY,	 "node-affinity", true,	 affinity_active, filter_affinity },
	{ SCHED_F_TAINTS,	 "taints",	  true,	 always,	  filter_taints },
	{ SCHED_F_RESOURCES,	 "resources",	  false, always,	  filter_resources },
	{ SCHED_F_ANTI_AFFINITY, "anti-affinity", false, anti_active,	  filter_anti },
	{ SCHED_F_SPREAD,	 "spread",	  false, spread_active,	  filter_spread },
	{ SCHED_F_VOLUME,	 "volume",	  false, volume_active,	  filter_volume },
};

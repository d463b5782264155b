/* Score plugins. Scores are integers in milli-points (0..SCHED_MAX_SCORE)
 * so the same inputs give the same choice on every machine; floating
 * point contraction could otherwise flip a tie between replicas of the
 * control plane built for different architectures. */
#include "config.h"

#include "controlplane/sched-internal.h"

#define MAXS	SCHED_MAX_SCORE

static bool
always(const struct sched_ctx *x)
{
	(void)x;
	return true;
}

/* The resources filter left each feasible node's cpu and memory share
 * (with the request added) in fcpu/fmem. */
static void
score_least(struct sched_ctx *x, const uint32_t *cand, uint32_t n, int64_t *out)
{
	const int32_t *fcpu = x->c->fcpu, *fmem = x->c->fmem;

	for (uint32_t i = 0; i < n; i++)
		out[i] = (2 * MAXS - fcpu[cand[i]] - fmem[cand[i]]) / 2;
}

static void
score_most(struct sched_ctx *x, const uint32_t *cand, uint32_t n, int64_t *out)
{
	const int32_t *fcpu = x->c->fcpu, *fmem = x->c->fmem;

	for (uint32_t i = 0; i < n; i++)
		out[i] = ((int64_t)fcpu[cand[i]] + fmem[cand[i]]) / 2;
}

/* Prefers nodes whose cpu and memory fill evenly, so neither resource
 * is stranded: MAXS minus half the gap between the two shares. */
static void
score_balanced(struct sched_ctx *x, const uint32_t *cand, uint32_t n, int64_t *out)
{
	const int32_t *fcpu = x->c->fcpu, *fmem = x->c->fmem;

	for (uint32_t i = 0; i < n; i++) {
		int64_t d = (int64_t)fcpu[cand[i]] - fmem[cand[i]];

		out[i] = MAXS - (d < 0 ? -d : d) / 2;
	}
}

static bool
spread_active(const struct sched_ctx *x)
{
	return x->n_spread > 0;
}

/* Raw: matching instances already in the node's domains, summed over the
 * request's spread rules (fewer is better). */
static void
score_spread(struct sched_ctx *x, const uint32_t *cand, uint32_t n, int64_t *out)
{
	const struct sched_nhot *hot = x->c->hot;
	const struct sched_counter *counters = x->c->counters;

	for (uint32_t i = 0; i < n; i++) {
		uint32_t s = cand[i];
		int64_t raw = 0;

		for (uint32_t r = 0; r < x->n_spread; r++)
			raw += sched_counter_at(&counters[x->spread[r].counter], &hot[s], s,
			    x->spread[r].topology);
		out[i] = raw;
	}
}

static void
norm_spread(struct sched_ctx *x, int64_t *out, uint32_t n)
{
	int64_t lo = INT64_MAX, hi = INT64_MIN;

	(void)x;
	for (uint32_t i = 0; i < n; i++) {
		if (out[i] < lo)
			lo = out[i];
		if (out[i] > hi)
			hi = out[i];
	}
	for (uint32_t i = 0; i < n; i++)
		out[i] = hi == lo ? MAXS : (hi - out[i]) * MAXS / (hi - lo);
}

static bool
pref_active(const struct sched_ctx *x)
{
	return x->n_pref > 0;
}

static void
score_pref(struct sched_ctx *x, const uint32_t *cand, uint32_t n, int64_t *out)
{
	for (uint32_t i = 0; i < n; i++) {
		const struct sched_ncold *nc = &x->c->cold[cand[i]];
		int64_t raw = 0;

		for (uint32_t t = 0; t < x->n_pref; t++)
			if (sched_labels_match(&x->c->in, nc->labels, nc->n_labels, x->pref[t].exprs,
			    x->pref[t].n_exprs))
				raw += x->pref[t].weight;
		out[i] = raw;
	}
}

static void
norm_pref(struct sched_ctx *x, int64_t *out, uint32_t n)
{
	int64_t hi = 0;

	(void)x;
	for (uint32_t i = 0; i < n; i++)
		if (out[i] > hi)
			hi = out[i];
	for (uint32_t i = 0; i < n; i++)
		out[i] = hi ? out[i] * MAXS / hi : 0;
}

static bool
image_active(const struct sched_ctx *x)
{
	return x->image_nodes != NULL;
}

static void
score_image(struct sched_ctx *x, const uint32_t *cand, uint32_t n, int64_t *out)
{
	const uint64_t *bits = x->image_nodes;

	for (uint32_t i = 0; i < n; i++)
		out[i] = (int64_t)((bits[cand[i] / 64] >> (cand[i] % 64)) & 1) * MAXS;
}

const struct sched_score_plugin sched_scores[SCHED_S__MAX] = {
	{ SCHED_S_LEAST_ALLOCATED,    "least-allocated",     always,	    score_least,    NULL },
	{ SCHED_S_MOST_ALLOCATED,     "most-allocated",	     always,	    score_most,	    NULL },
	{ SCHED_S_BALANCED,	      "balanced-allocation", always,	    score_balanced, NULL },
	{ SCHED_S_SPREAD,	      "spread",		     spread_active, score_spread,   norm_spread },
	{ SCHED_S_PREFERRED_AFFINITY, "preferred-affinity",  pref_active,   score_pref,	    norm_pref },
	{ SCHED_S_IMAGE_LOCALITY,     "image-locality",	     image_active,  score_image,    NULL },
};

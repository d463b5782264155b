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

/* Share of CAP in use once the request is added, 0..MAXS (over-full
 * nodes never get here; a zero capacity counts as full). */
static inline int64_t
used_frac(int64_t used, int64_t req, int64_t cap)
{
	int64_t u = used + req;

	if (cap <= 0)
		return MAXS;
	if (u <= 0)
		return 0;
	if (u >= cap)
		return MAXS;
	return u * MAXS / cap;
}

static void
score_least(struct sched_ctx *x, const uint32_t *cand, uint32_t n, int64_t *out)
{
	const struct sched_nhot *hot = x->c->hot;
	int64_t cpu = x->req->cpu_millis, mem = x->req->memory_mib;

	for (uint32_t i = 0; i < n; i++) {
		const struct sched_nhot *h = &hot[cand[i]];

		out[i] = (2 * MAXS - used_frac(h->used_cpu, cpu, h->cap_cpu) -
		    used_frac(h->used_mem, mem, h->cap_mem)) / 2;
	}
}

static void
score_most(struct sched_ctx *x, const uint32_t *cand, uint32_t n, int64_t *out)
{
	const struct sched_nhot *hot = x->c->hot;
	int64_t cpu = x->req->cpu_millis, mem = x->req->memory_mib;

	for (uint32_t i = 0; i < n; i++) {
		const struct sched_nhot *h = &hot[cand[i]];

		out[i] = (used_frac(h->used_cpu, cpu, h->cap_cpu) +
		    used_frac(h->used_mem, mem, h->cap_mem)) / 2;
	}
}

/* Prefers nodes whose cpu and memory fill evenly, so neither resource
 * is stranded: MAXS minus half the gap between the two shares. */
static void
score_balanced(struct sched_ctx *x, const uint32_t *cand, uint32_t n, int64_t *out)
{
	const struct sched_nhot *hot = x->c->hot;
	int64_t cpu = x->req->cpu_millis, mem = x->req->memory_mib;

	for (uint32_t i = 0; i < n; i++) {
		const struct sched_nhot *h = &hot[cand[i]];
		int64_t d = used_frac(h->used_cpu, cpu, h->cap_cpu) -
		    used_frac(h->used_mem, mem, h->cap_mem);

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
	return x->image != 0;
}

static void
score_image(struct sched_ctx *x, const uint32_t *cand, uint32_t n, int64_t *out)
{
	uint32_t img = x->image;

	for (uint32_t i = 0; i < n; i++) {
		const struct sched_ncold *nc = &x->c->cold[cand[i]];
		uint32_t lo = 0, hi = nc->n_images;

		while (lo < hi) {
			uint32_t mid = (lo + hi) / 2;

			if (nc->images[mid] < img)
				lo = mid + 1;
			else
				hi = mid;
		}
		out[i] = lo < nc->n_images && nc->images[lo] == img ? MAXS : 0;
	}
}

const struct sched_score_plugin sched_scores[SCHED_S__MAX] = {
	{ SCHED_S_LEAST_ALLOCATED,    "least-allocated",     always,	    score_least,    NULL },
	{ SCHED_S_MOST_ALLOCATED,     "most-allocated",	     always,	    score_most,	    NULL },
	{ SCHED_S_BALANCED,	      "balanced-allocation", always,	    score_balanced, NULL },
	{ SCHED_S_SPREAD,	      "spread",		     spread_active, score_spread,   norm_spread },
	{ SCHED_S_PREFERRED_AFFINITY, "preferred-affinity",  pref_active,   score_pref,	    norm_pref },
	{ SCHED_S_IMAGE_LOCALITY,     "image-locality",	     image_active,  score_image,    NULL },
};

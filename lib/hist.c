#include "config.h"

#include <inttypes.h>
#include <string.h>

#include "lib/clock.h"
#include "lib/hist.h"
#include "lib/macro.h"

static const uint64_t seconds_bounds[] = {
	50000, 100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000,
	25000000, 50000000, 100000000, 250000000, 500000000, 1000000000,
	2500000000, 5000000000, 10000000000,
};
static const uint64_t seconds_long_bounds[] = {
	1000000, 5000000, 10000000, 25000000, 50000000, 100000000, 250000000,
	500000000, 1000000000, 2500000000, 5000000000, 10000000000,
	30000000000, 60000000000, 120000000000,
};
static const uint64_t pow2_bounds[] = {
	1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024,
};

const struct hist_layout hist_seconds = {
	seconds_bounds, ELEMENTSOF(seconds_bounds), 1e-9,
};
const struct hist_layout hist_seconds_long = {
	seconds_long_bounds, ELEMENTSOF(seconds_long_bounds), 1e-9,
};
const struct hist_layout hist_pow2 = {
	pow2_bounds, ELEMENTSOF(pow2_bounds), 1,
};

void
hist_init(struct hist *h, const struct hist_layout *layout)
{
	size_t i;

	h->layout = layout;
	for (i = 0; i < ELEMENTSOF(h->counts); i++)
		atomic_init(&h->counts[i], 0);
	atomic_init(&h->sum, 0);
}

void
hist_observe(struct hist *h, uint64_t v)
{
	const struct hist_layout	*l = h->layout;
	size_t				 lo = 0, hi = l->nbounds, mid;

	/* the first bound >= V; nbounds (the +Inf bucket) when none */
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (l->bounds[mid] < v)
			lo = mid + 1;
		else
			hi = mid;
	}
	atomic_fetch_add_explicit(&h->counts[lo], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->sum, v, memory_order_relaxed);
}

void
hist_observe_since(struct hist *h, uint64_t start_ns)
{
	uint64_t now = bw_mono_ns();

	hist_observe(h, now > start_ns ? now - start_ns : 0);
}

uint64_t
hist_count(const struct hist *h)
{
	uint64_t	n = 0;
	size_t		i;

	for (i = 0; i <= h->layout->nbounds; i++)
		n += atomic_load_explicit(&h->counts[i], memory_order_relaxed);
	return n;
}

void
hist_render_header(struct bw_buf *b, const char *name, const char *help)
{
	bw_buf_printf(b, "# HELP %s %s\n# TYPE %s histogram\n", name, help,
	    name);
}

void
hist_render(struct bw_buf *b, const char *name, const char *labels,
    const struct hist *h)
{
	const struct hist_layout	*l = h->layout;
	const char			*sep = labels && *labels ? "," : "";
	uint64_t			 cum = 0;
	size_t				 i;

	if (!labels)
		labels = "";
	/* Read without a lock: a concurrent observation may land in the
	 * buckets and not yet in the sum; _count is the +Inf bucket so
	 * the two always agree, as the format requires. */
	for (i = 0; i <= l->nbounds; i++) {
		cum += atomic_load_explicit(&h->counts[i],
		    memory_order_relaxed);
		if (i < l->nbounds)
			bw_buf_printf(b, "%s_bucket{%s%sle=\"%.9g\"} %" PRIu64
			    "\n", name, labels, sep,
			    (double)l->bounds[i] * l->scale, cum);
		else
			bw_buf_printf(b, "%s_bucket{%s%sle=\"+Inf\"} %" PRIu64
			    "\n", name, labels, sep, cum);
	}
	bw_buf_printf(b, "%s_sum%s%s%s %.9g\n", name, *labels ? "{" : "", labels,
	    *labels ? "}" : "",
	    (double)atomic_load_explicit(&h->sum, memory_order_relaxed) *
	    l->scale);
	bw_buf_printf(b, "%s_count%s%s%s %" PRIu64 "\n", name,
	    *labels ? "{" : "", labels, *labels ? "}" : "", cum);
}

/* Fixed-bucket histograms for /metrics, cheap enough for hot paths: an
 * observation is two relaxed atomic additions and a short search, with
 * no lock, so the committer, the audit trail's appender and the event
 * loop observe the same histogram while a scrape reads it. Rendered in
 * the Prometheus text exposition format 0.0.4 (_bucket, _sum, _count). */
#ifndef BW_HIST_H
#define BW_HIST_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"

#define HIST_MAX_BUCKETS	24

/* Bucket layouts. Bounds are in the histogram's base unit (nanoseconds
 * for durations, items for sizes), ascending; +Inf is implicit. */
struct hist_layout {
	const uint64_t	*bounds;
	size_t		 nbounds;	/* at most HIST_MAX_BUCKETS */
	double		 scale;		/* base unit in the rendered unit */
};

/* 50 us .. 10 s, for request, commit, flush and TPM latencies. */
extern const struct hist_layout hist_seconds;
/* 1 ms .. 120 s, for an agent starting an instance. */
extern const struct hist_layout hist_seconds_long;
/* 1, 2, 4, ..., 1024 items. */
extern const struct hist_layout hist_pow2;

/* Zero-initialise, then hist_init(). Counts are per bucket (not
 * cumulative) so an observation touches one; a reader adds them up. */
struct hist {
	const struct hist_layout	*layout;
	_Atomic uint64_t		 counts[HIST_MAX_BUCKETS + 1];
	_Atomic uint64_t		 sum;	/* base units */
};

/* Sets H's LAYOUT (which must outlive H) and zeroes its counts. */
void hist_init(struct hist *h, const struct hist_layout *layout);

/* Counts one observation of V base units; any thread. */
void hist_observe(struct hist *h, uint64_t v);

/* Counts the time since START_NS (a bw_mono_ns() value) in
 * nanoseconds; any thread. */
void hist_observe_since(struct hist *h, uint64_t start_ns);

/* Total observations so far. */
uint64_t hist_count(const struct hist *h);

/* Appends "# HELP" and "# TYPE NAME histogram" lines to B (the first
 * failure stays in B->err, as bw_buf_printf()). */
void hist_render_header(struct bw_buf *b, const char *name, const char *help);

/* Appends H's _bucket, _sum and _count lines under NAME to B; LABELS
 * ("route=\"get\",code=\"200\"", escaped by the caller, or NULL for none)
 * go before le. Errors as hist_render_header(). */
void hist_render(struct bw_buf *b, const char *name, const char *labels,
    const struct hist *h);

#endif

/* The horizontal autoscaler of bulwarkd: a Workload with spec.autoscale
 * gets its spec.replicas set from the CPU usage its instances' agents
 * report (status.cpu_percent: percent of the instance's CPU request),
 * the way Kubernetes' HorizontalPodAutoscaler does it:
 *
 *   recommendation = ceil(replicas * usage / target), unless usage is
 *   within AUTOSCALE_TOLERANCE of the target;
 *   scale out to the lowest recommendation of the last
 *   scale_up_window_s (0: at once), scale in only to the highest one of
 *   the last stabilization_window_s, so a dip does not shrink the
 *   workload and the next peak grow it again; clamp to [min, max].
 *
 * Each change (and each change of what holds it) is a write of the
 * Workload through the commit pipeline: audited as workload.autoscale
 * with its inputs as the reason, and kept in status.autoscale. The
 * recommendations seen are kept in memory: a restarted bulwarkd starts
 * with none, and scales in no earlier than a stabilisation window after
 * its start. See docs/workloads.md, "Autoscaling". */
#ifndef BW_AUTOSCALE_H
#define BW_AUTOSCALE_H

#include <stddef.h>
#include <time.h>

#include <jansson.h>

#include "controlplane/commit.h"
#include "controlplane/model.h"

/* |usage / target - 1| up to this is steady: no change. */
#define AUTOSCALE_TOLERANCE	0.1
/* Recommendations kept per workload, in buckets of equal width that
 * cover the longer window (1 s wide for windows up to 60 s). */
#define AUTOSCALE_BUCKETS	64

struct autoscale_spec {
	long	min, max;		/* replicas, 1 <= min <= max */
	long	target;			/* percent of the CPU request */
	long	up_window_s;		/* 0: scale out at once */
	long	down_window_s;		/* stabilisation window */
};

/* spec.autoscale of the Workload spec SPEC into *RET. Returns 0, or
 * -ENOENT when SPEC has none. */
int autoscale_spec_of(const json_t *spec, struct autoscale_spec *ret);

/* The replicas that bring the average usage of CURRENT replicas to
 * TARGET percent, of which REPORTING reported USAGE_SUM percent in
 * total (the others count as idle when that recommends more replicas,
 * as at the target when it recommends fewer, so missing reports never
 * drive a change). CURRENT itself within the tolerance, when nothing
 * is reported, or when the missing reports reverse the direction. Not
 * clamped. */
long autoscale_recommend(long current, long reporting, double usage_sum,
    long target);

/* The recommendations of one workload over time. Zero-initialised. */
struct autoscale_history {
	struct {
		time_t	 start;		/* of the bucket, a multiple of width */
		long	 lo, hi;	/* the recommendations in it */
	} b[AUTOSCALE_BUCKETS];
	size_t	n;
	long	width;			/* seconds; 0 until the first record */
};

/* Records recommendation REC at NOW (monotonic seconds) in H and returns
 * the replicas to run now instead of CURRENT under S: raised only up to
 * the lowest recommendation within S's scale-up window, lowered only
 * down to the highest within its stabilisation window, then clamped to
 * [min, max]. */
long autoscale_stabilize(struct autoscale_history *h,
    const struct autoscale_spec *s, long current, long rec, time_t now);

struct autoscaler;

/* An autoscaler submitting through COMMIT. Returns 0 or -ENOMEM. */
int autoscale_new(struct committer *commit, struct autoscaler **ret);
void autoscale_free(struct autoscaler *as);	/* NULL ok */

/* One pass over the model M (its kinds K_WORKLOAD and K_INSTANCE):
 * decides each autoscaled workload's replicas at NOW (monotonic
 * seconds) and submits what changed. A workload with a write of ours in
 * flight waits for it. */
void autoscale_pass(struct autoscaler *as, const struct model *m,
    int k_workload, int k_instance, time_t now);

/* Writes of the autoscaler not yet completed. */
unsigned autoscale_inflight(const struct autoscaler *as);

#endif

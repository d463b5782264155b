/* The object API's side of /metrics: request latency by route class and
 * status, the fleet (nodes, instances, workloads) counted from the
 * store and cached until a commit touches those kinds, the agents'
 * instance start durations and the process_* series. Loop thread only,
 * except where a function says otherwise. */
#ifndef BW_METRICS_H
#define BW_METRICS_H

#include <stdint.h>

#include "lib/buf.h"

struct store;
struct metrics;

/* Route classes of bulwark_http_request_duration_seconds{route}. */
enum metrics_route {
	MR_GET, MR_LIST, MR_WRITE, MR_DELETE, MR_STATUS, MR_WATCH, MR_AUDIT,
	MR_HEALTH, MR_METRICS, MR_ENROL, MR_PRINCIPAL, MR_IMAGE,
	MR_COMPLIANCE, MR_OTHER, MR_NROUTES,
};

/* Tenants named in bulwark_instances and bulwark_workloads; the rest
 * are summed under tenant="_other". */
#define METRICS_TENANTS_MAX	20

/* A new collector reading ST (which must outlive it) into *RET (free
 * with metrics_free()). Returns 0 or -ENOMEM. */
int metrics_new(struct store *st, struct metrics **ret);
void metrics_free(struct metrics *m);	/* NULL ok */

/* The route class of a path served by a handler outside the object
 * API (/v1/enrol/, /v1/image-...). */
enum metrics_route metrics_route_of_path(const char *path);

/* Counts one answered request of class R with HTTP STATUS that began at
 * START_NS (bw_mono_ns()). */
void metrics_observe_request(struct metrics *m, enum metrics_route r,
    int status, uint64_t start_ns);

/* Counts an instance start an agent reported, SECONDS long. */
void metrics_observe_instance_start(struct metrics *m, double seconds);

/* A commit changed nodes, instances or workloads: the fleet counts are
 * read again at the next scrape, or, when reading them is costly (a
 * large fleet that keeps changing), at the first scrape once 200 times
 * the last read's duration has passed (reading takes at most 0.5% of a
 * core). Cheap; call after such a batch. */
void metrics_invalidate(struct metrics *m);

struct committer;

/* For a commit observer: invalidates the fleet counts when the batches
 * C completed since the observers last ran touched a kind they count
 * (the kinds are this module's business, not the API's). */
void metrics_commit_observed(struct metrics *m, const struct committer *c);

/* Appends the request histogram, the fleet series and the agents'
 * start histogram to B. A node is stale when its last verified quote
 * (its heartbeat) is older than STALE_S seconds. Errors stay in B->err;
 * a store that cannot be read leaves the fleet series out. */
void metrics_render(struct metrics *m, struct bw_buf *b, unsigned stale_s);

/* Appends the process_* series of this process (from /proc/self) to B. */
void metrics_render_process(struct bw_buf *b);

#endif

/* The control loops of bulwarkd: the workload controller (replicas in a
 * Workload's spec vs the Instances that exist) and the scheduler loop
 * (Instances without a node -> filter, score, bind). Both are level-
 * triggered and idempotent: each pass reads an in-memory model of the
 * store (controlplane/model.h), computes what differs from the desired
 * state, and submits the changes through the commit pipeline, so every
 * decision is audited like any API change. The model and the
 * scheduler's cluster are updated by the keys each commit batch wrote
 * (a Node write that changes nothing the scheduler reads, such as a
 * heartbeat, costs a lookup); they are rebuilt from the store at start
 * and after a gap in that feed. Passes run on the event loop after a
 * batch that changed what they read, and the workload pass also on a
 * periodic resync. */
#ifndef BW_CONTROLLER_H
#define BW_CONTROLLER_H

/* Hex digits of an instance's spec.template (see rollout()). */
#define CONTROLLER_TEMPLATE_LEN	16

#include <stdbool.h>

#include <event2/event.h>

#include "controlplane/commit.h"
#include "controlplane/store.h"

#define CONTROLLER_RESYNC_MS	5000
/* A rolling update whose ready new replicas do not grow for this long
 * is rolled back (spec.update_strategy.progress_deadline_s). */
#define CONTROLLER_PROGRESS_DEADLINE_S	120
/* Replica slots of a workload: at most 1000 replicas and 100 surge. */
#define CONTROLLER_SLOTS_MAX	1100
/* Instance names are "<workload>-<index>"; longer workload names are
 * cut so the result stays a valid 63-character name. */
#define CONTROLLER_WORKLOAD_PREFIX_MAX	56
#define CONTROLLER_LABEL_WORKLOAD	"bulwark.io/workload"

struct controller;

struct controller_options {
	bool	allow_unattested;	/* schedule on nodes not yet attested */
	int	resync_ms;		/* 0: CONTROLLER_RESYNC_MS */
	/* Asked before every pass when set: false skips it (a replica
	 * whose leadership may have lapsed while the loop was busy, before
	 * the loop got to stop the controller; daemon/ha.h). */
	bool	(*may_act)(void *arg);
	void	 *may_act_arg;
};

/* Starts the loops on BASE. Returns 0 or a negative error. */
int controller_start(struct event_base *base, struct store *st,
    struct committer *commit, const struct controller_options *o,
    struct controller **ret);

/* Runs one reconcile pass now unless one is in flight (then once that
 * completes). Used by tests and after start. */
void controller_kick(struct controller *c);

/* Keys another writer on a shared store (another bulwarkd replica,
 * docs/ha.md) changed, which this process's commit pipeline never saw:
 * applied to the model like its own. GAP: some were missed, so the
 * model is rebuilt from the store. */
void controller_foreign_changes(struct controller *c, const char *const *keys,
    size_t n, bool gap);

/* Counts since start, for metrics and tests. */
struct controller_stats {
	unsigned long long	passes, created, deleted, scheduled,
				unschedulable, errors,
				rebuilds;	/* of the model from the store */
};
void controller_stats(struct controller *c, struct controller_stats *ret);

/* The durations of the scheduler's placement decisions (seconds), for
 * /metrics; valid until controller_free(). */
struct hist;
const struct hist *controller_placement_hist(const struct controller *c);

/* For tests: compares the model and the scheduler's cluster, as kept
 * up to date by the commit feed, with both built afresh from the store.
 * Returns 0 if they agree, -EAGAIN while changes of the controller are
 * in flight or a pass is due, -BW_E_INVALID with *RET_ERR saying the
 * first difference, or another negative error. */
int controller_verify(struct controller *c, char **ret_err);

/* Stops new passes and unhooks from the commit pipeline; changes in
 * flight still complete. Call before commit_stop(), and
 * controller_free() after it, or once controller_idle(). */
void controller_detach(struct controller *c);

/* Whether none of C's changes is in the commit pipeline (then nothing
 * will call back into a detached C). */
bool controller_idle(const struct controller *c);
void controller_free(struct controller *c);	/* NULL ok */

#endif

/* Which of several bulwarkd replicas on one etcd store acts on its own:
 * every replica serves the API, one leader (elected through an etcd
 * lease, controlplane/store-etcd.h) runs the controllers and the other
 * writers that act without a request. On LMDB the one replica is always
 * the leader. docs/ha.md, "Leader election". */
#ifndef BW_DAEMON_HA_H
#define BW_DAEMON_HA_H

#include <stdbool.h>
#include <stddef.h>

#include <event2/event.h>
#include <jansson.h>

#include "controlplane/commit.h"
#include "controlplane/store.h"

#define HA_LEASE_TTL_S		3
/* A leader stops acting once this long has passed since the start of
 * its last successful keep-alive, ahead of the lease's end in etcd. */
#define HA_ACT_MS		(HA_LEASE_TTL_S * 1000 - 1000)
#define HA_LEADER_STEP_MS	1000	/* keep-alive period */
#define HA_FOLLOWER_STEP_MS	500	/* campaign period */

struct ha;

/* Called on the event loop when this replica starts or stops acting,
 * and while it leads on a shared store, with the N KEYS of objects
 * ("/r/...") written since the last call by any replica (GAP: some were
 * missed; re-read everything). ACQUIRE failing (negative) leaves the
 * replica not acting: the next check (100 ms) calls it again. */
struct ha_hooks {
	int	(*acquire)(void *arg);
	void	(*lose)(void *arg);
	void	(*changes)(void *arg, const char *const *keys, size_t n,
		    bool gap);
	void	 *arg;
};

/* Starts the election of replica ID on ST (audited through COMMIT as
 * ha.leader_acquired and ha.leader_lost). On a store without election
 * (LMDB) the replica leads from here on: HOOKS->acquire runs before the
 * call returns, and nothing is audited. */
int ha_start(struct event_base *base, struct store *st,
    struct committer *commit, const char *id, const struct ha_hooks *hooks,
    struct ha **ret, char **ret_err);

/* Whether the replica may act now, from the election's record at the
 * time of the call (the loop's own view, updated every 100 ms, can lag
 * when the loop was busy). Any thread. */
bool ha_may_act(void *ha);

/* {"role": "leader"|"follower", "id", "leader", "election"} for
 * /v1/health. */
json_t *ha_health_json(struct ha *ha);

/* Stops the election thread and revokes the lease (another replica
 * takes over without waiting for it to expire). Does not call
 * HOOKS->lose. NULL ok. */
void ha_stop(struct ha *ha);

#endif

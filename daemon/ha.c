/* Leader election of bulwarkd replicas (daemon/ha.h).
 *
 * A thread runs the election's blocking rounds against etcd (a lease
 * keep-alive, then the campaign) and records when the last round that
 * found this replica leader began. The event loop decides from that
 * record alone whether the replica acts: a keep-alive that hangs or
 * fails cannot keep it acting, because acting ends HA_ACT_MS after the
 * start of the last good round, a second before etcd itself can let the
 * lease expire (it counts from when it received the keep-alive, later
 * than the round began). */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon/ha.h"
#include "audit/trail.h"
#include "controlplane/store-etcd.h"
#include "lib/clock.h"
#include "lib/err.h"
#include "lib/log.h"

#define HA_CHECK_MS	100	/* how often the loop looks at the record */
#define HA_FEED_MAX	1000	/* changes read a round; more: a rebuild */

struct ha {
	struct store		*st;
	struct committer	*commit;
	struct ha_hooks		 hooks;
	struct event		*check_ev;
	struct store_election	*election;	/* NULL: always leader */
	char			 id[128];
	bool			 acting;	/* event loop only */
	/* Shared with the thread, under mu. */
	pthread_t		 thread;
	bool			 thread_started;
	pthread_mutex_t		 mu;
	pthread_cond_t		 cond;
	bool			 stop;
	bool			 leader;	/* the last round found us leader */
	int64_t			 last_ok_ms;	/* start of that round */
	char			 leader_id[128];
	char			 error[256];	/* of the last round, "" if none */
	/* While leading: the store's changes since FEED_REV (thread only),
	 * which the loop hands to HOOKS->changes. */
	bool			 feeding;
	uint64_t		 feed_rev;
	char			**pending;
	size_t			 n_pending;
	bool			 pending_gap;
};

/* Drops the keys not handed over yet (under MU, or on the loop after
 * taking them). */
static void
ha_keys_free(char **keys, size_t n)
{
	while (n > 0)
		free(keys[--n]);
	free(keys);
}

/* Leading: reads what was written to the store's objects since the last
 * round (by any replica: our own changes apply twice, which the model
 * notices and skips) for the loop to apply. Thread only; takes MU. */
static void
ha_feed(struct ha *ha)
{
	struct store_event	*ev = NULL;
	char			**keys;
	size_t			 n = 0, i;
	bool			 gap = false;
	int			 r;

	if (!ha->feeding) {
		/* A failed round may have come between: the loop can still
		 * be acting on what it was fed, and other replicas' writes
		 * since FEED_REV are not read. A resync covers them. */
		if (ha->feed_rev > 0) {
			pthread_mutex_lock(&ha->mu);
			ha->pending_gap = true;
			pthread_mutex_unlock(&ha->mu);
		}
		ha->feed_rev = store_revision(ha->st);
		ha->feeding = true;
		return;
	}
	r = store_changes(ha->st, "/r/", ha->feed_rev, HA_FEED_MAX, &ev, &n);
	if (r == -BW_E_COMPACTED || (r == 0 && n == HA_FEED_MAX)) {
		gap = true;
		ha->feed_rev = store_revision(ha->st);
	} else if (r < 0 || n == 0)
		return;		/* an error: the next round reads again */
	pthread_mutex_lock(&ha->mu);
	if (!gap && (keys = realloc(ha->pending, (ha->n_pending + n) *
	    sizeof(*keys)))) {
		ha->pending = keys;
		for (i = 0; i < n && (keys[ha->n_pending] = ev[i].key); i++) {
			ev[i].key = NULL;
			ha->n_pending++;
		}
		ha->feed_rev = ev[n - 1].rev;
	} else
		ha->pending_gap = true;
	pthread_mutex_unlock(&ha->mu);
	store_events_free(ev, n);
}

static void
ha_audit(struct ha *ha, const char *action, const char *reason)
{
	commit_audit_async(ha->commit, &(struct audit_record){
	    .actor = "bulwarkd", .role = "system", .tenant = "system",
	    .source = "local", .auth_method = "none", .action = action,
	    .object_kind = "Replica", .object_tenant = "system",
	    .object_name = ha->id, .outcome = "success", .reason = reason,
	    .controls = "CP-10,SC-36" });
}

/* One round; records its outcome for the event loop. */
static void
ha_round(struct ha *ha, int64_t start)
{
	_cleanup_free_ char	*err = NULL;
	char			 leader[128];
	int			 r;

	r = store_election_step(ha->election, HA_LEADER_STEP_MS, leader,
	    sizeof(leader), &err);
	if (r == 1)
		ha_feed(ha);
	else
		ha->feeding = false;
	pthread_mutex_lock(&ha->mu);
	ha->leader = r == 1;
	if (r == 1)
		ha->last_ok_ms = start;
	if (r >= 0)
		snprintf(ha->leader_id, sizeof(ha->leader_id), "%s", leader);
	if (r < 0 && strcmp(ha->error, err ? err : bw_strerror(r)) != 0)
		log_warn("leader election: %s", err ? err : bw_strerror(r));
	snprintf(ha->error, sizeof(ha->error), "%s", r < 0 ? (err ? err :
	    bw_strerror(r)) : "");
	pthread_mutex_unlock(&ha->mu);
}

static void *
ha_thread(void *arg)
{
	struct ha	*ha = arg;
	struct timespec	 ts;
	int64_t		 start;
	bool		 stop = false;

	while (!stop) {
		start = bw_mono_ms();
		ha_round(ha, start);
		pthread_mutex_lock(&ha->mu);
		ts = bw_mono_timespec((uint64_t)(start + (ha->leader ?
		    HA_LEADER_STEP_MS : HA_FOLLOWER_STEP_MS)) * 1000000u);
		while (!ha->stop && pthread_cond_timedwait(&ha->cond, &ha->mu,
		    &ts) != ETIMEDOUT)
			;
		stop = ha->stop;
		pthread_mutex_unlock(&ha->mu);
	}
	return NULL;
}

/* Under MU: the last round that found us leader began less than
 * HA_ACT_MS ago (always on a store without election). */
static bool
ha_acts_locked(const struct ha *ha)
{
	if (!ha->election)
		return true;
	return ha->leader && ha->last_ok_ms > 0 &&
	    bw_mono_ms() - ha->last_ok_ms < HA_ACT_MS;
}

bool
ha_may_act(void *arg)
{
	struct ha	*ha = arg;
	bool		 act;

	pthread_mutex_lock(&ha->mu);
	act = ha_acts_locked(ha);
	pthread_mutex_unlock(&ha->mu);
	return act;
}

/* Gives the keys the feed read to HOOKS->changes. */
static void
ha_hand_over(struct ha *ha)
{
	char	**keys;
	size_t	  n;
	bool	  gap;

	pthread_mutex_lock(&ha->mu);
	keys = ha->pending;
	n = ha->n_pending;
	gap = ha->pending_gap;
	ha->pending = NULL;
	ha->n_pending = 0;
	ha->pending_gap = false;
	pthread_mutex_unlock(&ha->mu);
	if (n > 0 || gap)
		ha->hooks.changes(ha->hooks.arg, (const char *const *)keys, n,
		    gap);
	ha_keys_free(keys, n);
}

/* The event loop's view: act while the last round that found us leader
 * began less than HA_ACT_MS ago. */
static void
ha_check(evutil_socket_t fd, short what, void *arg)
{
	struct ha	*ha = arg;
	char		 why[384] = "", leader[128];
	bool		 act;
	int64_t		 age;

	(void)fd;
	(void)what;
	pthread_mutex_lock(&ha->mu);
	age = bw_mono_ms() - ha->last_ok_ms;
	act = ha_acts_locked(ha);
	snprintf(leader, sizeof(leader), "%s", ha->leader_id);
	if (ha->acting && !act)
		snprintf(why, sizeof(why), "%s", !ha->leader ? (ha->error[0] ?
		    ha->error : "another replica holds the leader key") :
		    "no keep-alive of the lease succeeded in time");
	pthread_mutex_unlock(&ha->mu);
	if (act == ha->acting) {
		if (act)
			ha_hand_over(ha);
		return;
	}
	if (act && ha->hooks.acquire(ha->hooks.arg) < 0)
		return;		/* not acting: tried again next check */
	ha->acting = act;
	if (act) {
		snprintf(why, sizeof(why), "replica %s leads: it holds the "
		    "leader key under its %d s lease", ha->id, HA_LEASE_TTL_S);
		log_info("%s", why);
		ha_audit(ha, "ha.leader_acquired", why);
		return;
	}
	log_warn("replica %s stops leading: %s (last good keep-alive %lld "
	    "ms ago; leader now \"%s\")", ha->id, why, (long long)age, leader);
	ha->hooks.lose(ha->hooks.arg);
	ha_audit(ha, "ha.leader_lost", why);
}

static int
ha_start_election(struct ha *ha, struct event_base *base, char **ret_err)
{
	struct timeval	tv = { 0, HA_CHECK_MS * 1000 };
	int		r;

	if (!(ha->check_ev = event_new(base, -1, EV_PERSIST, ha_check, ha)) ||
	    event_add(ha->check_ev, &tv) < 0)
		return errf(-ENOMEM, ret_err, "leader election: no timer");
	if ((r = pthread_create(&ha->thread, NULL, ha_thread, ha)) != 0)
		return errf(-r, ret_err, "leader election: %s", strerror(r));
	ha->thread_started = true;
	return 0;
}

int
ha_start(struct event_base *base, struct store *st, struct committer *commit,
    const char *id, const struct ha_hooks *hooks, struct ha **ret,
    char **ret_err)
{
	struct ha	*ha;
	int		 r;

	if (!(ha = calloc(1, sizeof(*ha))))
		return errf(-ENOMEM, ret_err, "out of memory");
	pthread_mutex_init(&ha->mu, NULL);
	bw_cond_init_mono(&ha->cond);
	ha->st = st;
	ha->commit = commit;
	ha->hooks = *hooks;
	snprintf(ha->id, sizeof(ha->id), "%s", id);
	r = store_election_new(st, id, HA_LEASE_TTL_S, &ha->election, ret_err);
	if (r == -ENOTSUP) {
		ha->acting = ha->leader = true;
		snprintf(ha->leader_id, sizeof(ha->leader_id), "%s", id);
		*ret = ha;
		hooks->acquire(hooks->arg);
		return 0;
	}
	if (r < 0 || (r = ha_start_election(ha, base, ret_err)) < 0) {
		ha_stop(ha);
		return r;
	}
	*ret = ha;
	return 0;
}

json_t *
ha_health_json(struct ha *ha)
{
	json_t *o;

	if (!ha)
		return NULL;
	pthread_mutex_lock(&ha->mu);
	o = json_pack("{s:s, s:s, s:s, s:s, s:s*}", "role", ha->acting ?
	    "leader" : "follower", "id", ha->id, "leader", ha->leader_id,
	    "election", ha->election ? "etcd lease" : "none (single store)",
	    "error", ha->error[0] ? ha->error : NULL);
	pthread_mutex_unlock(&ha->mu);
	return o;
}

void
ha_stop(struct ha *ha)
{
	if (!ha)
		return;
	if (ha->check_ev)
		event_free(ha->check_ev);
	if (ha->thread_started) {
		pthread_mutex_lock(&ha->mu);
		ha->stop = true;
		pthread_cond_signal(&ha->cond);
		pthread_mutex_unlock(&ha->mu);
		pthread_join(ha->thread, NULL);
	}
	store_election_free(ha->election);
	ha_keys_free(ha->pending, ha->n_pending);
	pthread_cond_destroy(&ha->cond);
	pthread_mutex_destroy(&ha->mu);
	free(ha);
}

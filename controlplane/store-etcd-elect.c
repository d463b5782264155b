/* Leader election on etcd (controlplane/store-etcd.h): a lease per
 * candidate and one key, PREFIX e/leader, put only while it does not
 * exist (compare create_revision == 0) and attached to the lease. The
 * key goes when its holder's lease expires or is revoked; the next
 * candidate to campaign takes it. etcd's gateway answers a keep-alive
 * request with the lease's remaining TTL (none when it is gone). */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "controlplane/store-etcd-internal.h"
#include "controlplane/store-etcd.h"
#include "lib/b64.h"
#include "lib/clock.h"
#include "lib/err.h"
#include "lib/json.h"
#include "lib/macro.h"

#define ELECT_KEY	"leader"
#define ELECT_NAME	"replica/"	/* + ID: held while the replica runs */

struct store_election {
	struct etcd_store	*es;
	char			*id;
	unsigned		 ttl_s;
	uint64_t		 lease;		/* 0: none */
	bool			 named;		/* e/replica/ID under lease */
};

static int elect_lease(struct store_election *e, long timeout_ms,
    char **ret_err);
static int elect_claim_name(struct store_election *e, long timeout_ms,
    char **ret_err);

int
store_election_new(struct store *st, const char *id, unsigned ttl_s,
    struct store_election **ret, char **ret_err)
{
	struct etcd_store	*es = etcd_store_of(st);
	struct store_election	*e;
	_cleanup_free_ char	*err = NULL;
	int64_t			 deadline;
	int			 r;

	if (!es)
		return -ENOTSUP;
	if (ttl_s < 2)
		return errf(-BW_E_INVALID, ret_err, "election: a lease of at "
		    "least 2 seconds");
	if (!(e = calloc(1, sizeof(*e))) || !(e->id = strdup(id))) {
		free(e);
		return errf(-ENOMEM, ret_err, "out of memory");
	}
	e->es = es;
	e->ttl_s = ttl_s;
	/* A second replica of the same name would share its audit outbox:
	 * refuse it now, once the holder's lease had time to expire (the
	 * holder may be this replica before a crash). Other errors wait
	 * for the rounds. */
	deadline = bw_mono_ms() + (int64_t)(ttl_s + 1) * 1000;
	while ((r = elect_lease(e, 0, &err)) == 0 &&
	    (r = elect_claim_name(e, 0, &err)) == -BW_E_EXISTS &&
	    bw_mono_ms() < deadline) {
		free(err);
		err = NULL;
		nanosleep(&(struct timespec){ 0, 500 * 1000000L }, NULL);
	}
	if (r == -BW_E_EXISTS) {
		store_election_free(e);
		return errf(r, ret_err, "%s", err);
	}
	*ret = e;
	return 0;
}

/* POSTs {NAME: "LEASE"} or {"TTL": "N"} to a lease endpoint. */
static int
elect_lease_call(struct store_election *e, const char *path, const char *name,
    uint64_t v, long timeout_ms, json_t **ret, char **ret_err)
{
	char	 s[24];
	json_t	*req;
	int	 r;

	snprintf(s, sizeof(s), "%" PRIu64, v);
	if (!(req = json_pack("{s:s}", name, s)))
		return errf(-ENOMEM, ret_err, "out of memory");
	r = etcd_post_timed(e->es, path, req, timeout_ms, ret, ret_err);
	json_decref(req);
	return r;
}

/* Keeps the lease alive, or grants one when there is none or it is
 * gone. */
static int
elect_lease(struct store_election *e, long timeout_ms, char **ret_err)
{
	_cleanup_json_ json_t	*ans = NULL;
	int			 r;

	if (e->lease) {
		r = elect_lease_call(e, "/v3/lease/keepalive", "ID", e->lease,
		    timeout_ms, &ans, ret_err);
		if (r < 0 && r != -BW_E_NOTFOUND)
			return r;
		if (r < 0 && ret_err) {	/* gone: grant another */
			free(*ret_err);
			*ret_err = NULL;
		}
		if (r == 0 && etcd_num(json_object_get(ans, "result"),
		    "TTL") > 0)
			return 0;
		e->lease = 0;	/* expired: the keys went with it */
		e->named = false;
		json_decref(ans);
		ans = NULL;
	}
	if ((r = elect_lease_call(e, "/v3/lease/grant", "TTL", e->ttl_s,
	    timeout_ms, &ans, ret_err)) < 0)
		return r;
	if (!(e->lease = etcd_num(ans, "ID")))
		return errf(-BW_E_UNAVAILABLE, ret_err, "etcd granted no "
		    "lease");
	return 0;
}

/* A claim's transaction: put ID at PREFIX e/REST under the lease if
 * the key does not exist, else read it. */
static json_t *
elect_txn_req(struct store_election *e, const char *rest)
{
	char	 lease[24];
	json_t	*key = etcd_key(e->es, "e/", rest);
	json_t	*val = etcd_b64(e->id, strlen(e->id));

	if (!key || !val) {
		json_decref(key);
		json_decref(val);
		return NULL;
	}
	snprintf(lease, sizeof(lease), "%" PRIu64, e->lease);
	return json_pack("{s:[{s:O,s:s,s:s,s:s}], s:[{s:{s:O,s:o,s:s}}], "
	    "s:[{s:{s:o}}]}",
	    "compare", "key", key, "target", "CREATE", "result", "EQUAL",
	    "create_revision", "0",
	    "success", "request_put", "key", key, "value", val, "lease", lease,
	    "failure", "request_range", "key", key);
}

/* Claims PREFIX e/REST: 1 if put now, else 0 with *RET_KV (in *RET_ANS)
 * the holder's key, NULL when it went between the compare and now. */
static int
elect_claim(struct store_election *e, const char *rest, long timeout_ms,
    json_t **ret_ans, json_t **ret_kv, char **ret_err)
{
	_cleanup_json_ json_t	*req = NULL;
	int			 r;

	*ret_kv = NULL;
	if (!(req = elect_txn_req(e, rest)))
		return errf(-ENOMEM, ret_err, "out of memory");
	if ((r = etcd_post_timed(e->es, "/v3/kv/txn", req, timeout_ms,
	    ret_ans, ret_err)) < 0)
		return r;
	if (json_is_true(json_object_get(*ret_ans, "succeeded")))
		return 1;
	*ret_kv = json_array_get(json_object_get(json_object_get(
	    json_array_get(json_object_get(*ret_ans, "responses"), 0),
	    "response_range"), "kvs"), 0);
	return 0;
}

/* Claims PREFIX e/replica/ID under the lease (-BW_E_EXISTS while
 * another lease holds it). */
static int
elect_claim_name(struct store_election *e, long timeout_ms, char **ret_err)
{
	_cleanup_json_ json_t	*ans = NULL;
	json_t			*kv;
	char			 rest[sizeof(ELECT_NAME) + 256];
	int			 r;

	snprintf(rest, sizeof(rest), "%s%s", ELECT_NAME, e->id);
	if ((r = elect_claim(e, rest, timeout_ms, &ans, &kv, ret_err)) < 0)
		return r;
	if (r == 0 && !kv)
		return errf(-BW_E_UNAVAILABLE, ret_err, "replica name \"%s\": "
		    "its key changed while claimed; trying again", e->id);
	if (r == 0 && etcd_num(kv, "lease") != e->lease)
		return errf(-BW_E_EXISTS, ret_err, "replica name \"%s\" is "
		    "in use: another running bulwarkd holds the etcd key "
		    "e/%s under its lease (give each replica its own "
		    "--replica-id)", e->id, rest);
	e->named = true;
	return 0;
}

int
store_election_step(struct store_election *e, long timeout_ms, char *leader,
    size_t leader_len, char **ret_err)
{
	_cleanup_json_ json_t	*ans = NULL;
	_cleanup_free_ unsigned char *id = NULL;
	json_t			*kv;
	size_t			 n = 0;
	int			 r;

	if (leader_len)
		leader[0] = '\0';
	if ((r = elect_lease(e, timeout_ms, ret_err)) < 0 ||
	    (!e->named && (r = elect_claim_name(e, timeout_ms, ret_err)) < 0))
		return r;
	if ((r = elect_claim(e, ELECT_KEY, timeout_ms, &ans, &kv,
	    ret_err)) < 0)
		return r;
	if (r == 1) {
		snprintf(leader, leader_len, "%s", e->id);
		return 1;
	}
	if (!kv)
		return 0;	/* gone between the compare and now */
	if (json_is_string(json_object_get(kv, "value")) &&
	    b64_decode(json_string_value(json_object_get(kv, "value")), 256,
	    &id, &n) == 0)
		snprintf(leader, leader_len, "%.*s", (int)n, (const char *)id);
	/* Ours already (a round after the one that took it). */
	return etcd_num(kv, "lease") == e->lease ? 1 : 0;
}

void
store_election_free(struct store_election *e)
{
	_cleanup_json_ json_t *ans = NULL;

	if (!e)
		return;
	if (e->lease)
		(void)elect_lease_call(e, "/v3/lease/revoke", "ID", e->lease,
		    2000, &ans, NULL);
	free(e->id);
	free(e);
}

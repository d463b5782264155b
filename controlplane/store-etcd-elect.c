/* Leader election on etcd (controlplane/store-etcd.h): a lease per
 * candidate and one key, PREFIX e/leader, put only while it does not
 * exist (compare create_revision == 0) and attached to the lease. The
 * key goes when its holder's lease expires or is revoked; the next
 * candidate to campaign takes it. etcd's gateway answers a keep-alive
 * request with the lease's remaining TTL (none when it is gone). */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "controlplane/store-etcd-internal.h"
#include "controlplane/store-etcd.h"
#include "lib/b64.h"
#include "lib/err.h"
#include "lib/json.h"
#include "lib/macro.h"

#define ELECT_KEY	"leader"

struct store_election {
	struct etcd_store	*es;
	char			*id;
	unsigned		 ttl_s;
	uint64_t		 lease;		/* 0: none */
};

int
store_election_new(struct store *st, const char *id, unsigned ttl_s,
    struct store_election **ret, char **ret_err)
{
	struct etcd_store	*es = etcd_store_of(st);
	struct store_election	*e;

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
		e->lease = 0;	/* expired: the key went with it */
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

/* The campaign's transaction: put ID under the lease if the key does
 * not exist, else read it. */
static json_t *
elect_txn_req(struct store_election *e)
{
	char	 lease[24];
	json_t	*key = etcd_key(e->es, "e/", ELECT_KEY);
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

int
store_election_step(struct store_election *e, long timeout_ms, char *leader,
    size_t leader_len, char **ret_err)
{
	_cleanup_json_ json_t	*req = NULL, *ans = NULL;
	_cleanup_free_ unsigned char *id = NULL;
	json_t			*kv;
	size_t			 n = 0;
	int			 r;

	if (leader_len)
		leader[0] = '\0';
	if ((r = elect_lease(e, timeout_ms, ret_err)) < 0)
		return r;
	if (!(req = elect_txn_req(e)))
		return errf(-ENOMEM, ret_err, "out of memory");
	if ((r = etcd_post_timed(e->es, "/v3/kv/txn", req, timeout_ms, &ans,
	    ret_err)) < 0)
		return r;
	if (json_is_true(json_object_get(ans, "succeeded"))) {
		snprintf(leader, leader_len, "%s", e->id);
		return 1;
	}
	kv = json_array_get(json_object_get(json_object_get(json_array_get(
	    json_object_get(ans, "responses"), 0), "response_range"), "kvs"),
	    0);
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

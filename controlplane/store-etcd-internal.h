/* Shared by controlplane/store-etcd*.c only: the etcd store's handle and
 * its HTTPS transport. */
#ifndef BW_CONTROLPLANE_STORE_ETCD_INTERNAL_H
#define BW_CONTROLPLANE_STORE_ETCD_INTERNAL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "controlplane/store-backend.h"

#define ETCD_POOL_MAX	16
/* After the cluster was found unavailable (no member reached, or no
 * quorum: etcd's own timeout), calls fail at once for this long. */
#define ETCD_DOWN_MS	3000

struct etcd_store {
	struct store	 base;
	char		*prefix;	/* every key of the store starts with it */
	char		*outbox_tag;	/* "o/", or "o/REPLICA/" */
	char		**endpoints;	/* "host:port" */
	size_t		 n_endpoints;
	size_t		 cur;		/* endpoint that answered last */
	char		*ca, *cert, *key;
	pthread_mutex_t	 pool_mu;
	void		*pool[ETCD_POOL_MAX];	/* idle CURL handles */
	size_t		 pool_n;
	int64_t		 down_until_ms;	/* under pool_mu: etcd_post() */
	char		 down_msg[256];
	/* One batch, compaction or trim at a time from this handle;
	 * writers elsewhere are caught by the commit's compares. */
	pthread_mutex_t	 write_mu;
	uint64_t	 rev_seen;	/* highest store revision read */
	uint64_t	 compacted_seen;
	/* While a batch's before_commit hook runs: its thread and the
	 * outbox operations it adds to the batch's transaction. */
	pthread_t	 hook_thread;
	json_t		*hook_ops;	/* NULL outside a hook */
};

/* The base64 string field NAME of O, decoded (at most MAX bytes) into
 * *RET, NUL-terminated, its length in *RET_LEN; an absent or empty
 * field is an empty buffer (store-etcd-decode.c). */
int etcd_unb64(const json_t *o, const char *name, size_t max,
    unsigned char **ret, size_t *ret_len);

/* One change-log entry (STORE_PREFIX l/REV, as etcd answers a range: KV
 * with base64 "key" and "value") into EV; *RET_MATCH says whether its
 * key starts with PREFIX (EV is filled only then). The value is 'P' or
 * 'D', the key, a NUL, then a put's value or a delete's label (at most
 * STORE_LABEL_MAX bytes). 0, or -BW_E_CORRUPT, -ENOMEM, and EV owns
 * nothing (the caller frees only the events it counted). */
int etcd_event_decode(const char *store_prefix, const json_t *kv,
    const char *prefix, struct store_event *ev, int *ret_match);

/* POSTs REQ (borrowed) to PATH ("/v3/kv/txn", ...) and returns the
 * parsed answer in *RET. Errors, with a message: -BW_E_UNAVAILABLE (no
 * member reached, no quorum, or a gRPC status not mapped), or the
 * store error of etcd's gRPC status (-BW_E_COMPACTED, -BW_E_TOOLARGE,
 * -BW_E_NOTFOUND for a lease, -BW_E_DENIED, ...). Only the first kind
 * fails the calls of the next ETCD_DOWN_MS at once. */
int etcd_post(struct etcd_store *es, const char *path, json_t *req,
    json_t **ret, char **ret_err);
/* The same, each member given at most TIMEOUT_MS (0: the default; a
 * call with its own timeout ignores and does not trip the switch). */
int etcd_post_timed(struct etcd_store *es, const char *path, json_t *req,
    long timeout_ms, json_t **ret, char **ret_err);

/* ST's etcd handle, or NULL when ST is on another backend. */
struct etcd_store *etcd_store_of(struct store *st);
/* base64 JSON strings of bytes and of the key PREFIX TAG REST, and a
 * 64-bit number of an answer (the gateway writes them as strings). */
json_t *etcd_b64(const void *p, size_t len);
json_t *etcd_key(struct etcd_store *es, const char *tag, const char *rest);
uint64_t etcd_num(const json_t *o, const char *name);
void etcd_http_close(struct etcd_store *es);
/* A libcurl handle set up for ES's members (TLS, client certificate,
 * the appliance's policy), from the pool or new, and its return (a
 * handle whose options a caller changed for good is cleaned up
 * instead). NULL when out of memory. */
void *etcd_handle_get(struct etcd_store *es);
void etcd_handle_put(struct etcd_store *es, void *h);

#endif

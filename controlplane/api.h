/* The HTTPS API server: libevent evhttp on OpenSSL bufferevents, mutual
 * TLS, JSON in and out. It parses and authorises requests, reads the
 * store directly and sends every mutation through the commit pipeline.
 * The parsing half (api-route, schema, resource) has no privileges and
 * no I/O so it can move into a confined worker process. */
#ifndef BW_API_H
#define BW_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <openssl/ssl.h>
#include <event2/event.h>

#include "controlplane/commit.h"
#include "controlplane/store.h"

#define API_BODY_MAX		(1024 * 1024)
#define API_HEADERS_MAX		(16 * 1024)
#define API_TIMEOUT_SECS	30
#define API_LIST_MAX		10000	/* items in one list answer */
/* Objects in one POST /v1/apply (all in one store transaction; the
 * body stays within API_BODY_MAX). */
#define API_APPLY_ITEMS_MAX	STORE_BATCH_MAX
/* POST /v1/apply requests admitted and not yet committed, in all (each
 * object holds a few KiB until its commit); more get 503 "busy". */
#define API_APPLY_INFLIGHT_MAX	4
/* A list page given ?limit= stops once its objects take this many bytes
 * (always with at least one object), so a client with a bounded answer
 * size can read any list (docs/workloads.md, "Listing in pages"). */
#define API_LIST_PAGE_BYTES	(512 * 1024)

struct api_server;
struct bw_buf;
struct audit_trail;
struct principals;

struct quota_limits;

struct api_server_options {
	const char		*listen;	/* "127.0.0.1:8443", "[::1]:8443" */
	SSL_CTX			*ssl_ctx;	/* client certs verified when sent */
	struct store		*store;
	struct committer	*commit;
	struct audit_trail	*trail;		/* for health and audit reads; may be NULL */
	const char		*audit_dir;	/* served to auditors; may be NULL */
	/* Returns 1 if the certificate serial (hex) is revoked. May be NULL. */
	int			(*is_revoked)(void *ctx, const char *serial_hex);
	void			*revoked_ctx;
	struct principals	*principals;	/* issues and revokes credentials */
	/* Extra members for /healthz ({"tpm": ...}); returns a new
	 * reference or NULL. May be NULL. */
	json_t			*(*health_extra)(void *arg);
	void			*health_arg;
	/* Appends the daemon's own series to /metrics (scheduler, TPM,
	 * compliance, certificates) in the text format; errors stay in
	 * B->err. May be NULL. */
	void			(*metrics_extra)(struct bw_buf *b, void *arg);
	void			*metrics_arg;
	/* Open connections at most (0: API_MAX_CONNECTIONS_DEFAULT), and
	 * never more than the descriptor limit less 128. Unauthenticated
	 * ones are bounded further (API_UNAUTH_*, API_HANDSHAKE_SECS) and
	 * displaced by new ones; authenticated ones by principal, tenant
	 * and role (API_CONN_*). When authenticated connections hold every
	 * slot, a new one evicts the oldest idle connection of the
	 * principal holding the most; the listener never pauses. */
	unsigned		 max_connections;
	/* The quota of tenants without a Quota object for a resource
	 * (controlplane/quota.h); NULL: QUOTA_DEFAULT_LIMITS. */
	const struct quota_limits *default_quota;
	/* Privilege separation (privsep/worker-proto.h): when set, the TLS
	 * port is bound here but served by an unprivileged worker process,
	 * and evhttp serves the decrypted streams the worker relays over a
	 * private AF_UNIX listener at this path (api_server_adopt()). */
	const char		*plain_socket;
};

#define API_MAX_CONNECTIONS_DEFAULT	1024u

/* Limits on what clients without a valid certificate can hold (SC-5;
 * docs/operations.md). A connection is unauthenticated from accept until
 * a request on it passes identification. */
/* Absolute time from accept for the TLS handshake and the first request
 * (and, while still unauthenticated, for each next request): no idle
 * timer that a byte now and then restarts. */
#define API_HANDSHAKE_SECS		10
/* Unauthenticated connections may use this many of max_connections;
 * the rest is kept for authenticated clients (nodes, administrators). */
#define API_UNAUTH_SHARE_PCT		75
/* Unauthenticated connections from one source address at most. */
#define API_UNAUTH_PER_SOURCE		64
/* The TLS port hands a connection to accept() only once its first bytes
 * arrived, or after this long (TCP_DEFER_ACCEPT; the SYN-ACK is resent
 * then): until then an idle connection holds no slot and cannot displace
 * one that has sent its ClientHello. */
#define API_DEFER_ACCEPT_SECS		1
/* The TLS port's listen backlog (the kernel clamps it to somaxconn): it
 * also bounds the connections deferred above, a flood's idle ones. */
#define API_LISTEN_BACKLOG		4096
/* Limits on authenticated connections (SC-5, AC-10; docs/operations.md).
 * A principal (tenant and name) holds at most API_CONN_PER_PRINCIPAL; the
 * principals of one tenant at most API_CONN_PER_TENANT; tenant roles
 * (tenant-admin, tenant-user) and node watches together at most
 * max_connections less API_CONN_RESERVED_PCT (at least one slot), which
 * only system roles (a node's requests other than watches,
 * system-admins and security-auditors; or displaceable unauthenticated
 * connections) can hold. A connection over a limit evicts the oldest idle
 * connection (no request in flight) of the principal holding the most
 * within that limit, or is refused (503) if none is idle. */
#define API_CONN_PER_PRINCIPAL		32
#define API_CONN_PER_TENANT		256
#define API_CONN_RESERVED_PCT		25
/* Absolute time an authenticated connection has from the end of one
 * response to the whole of its next request (headers and body); bytes
 * of an unfinished request do not extend it. */
#define API_REQUEST_SECS		30
/* Records of unauthenticated requests are counted per source, action
 * and outcome and written as one record per interval; at most this many
 * distinct keys per interval (the rest are counted under "other"). */
#define API_ANON_AUDIT_SECS		60
#define API_ANON_AUDIT_KEYS		64
/* Watches: per principal and in all; a watch whose client cannot take
 * its next batch for API_WATCH_STALL_SECS is ended (it resumes with
 * ?since= the revision of its last line). */
#define API_WATCH_PER_PRINCIPAL		16
#define API_WATCH_MAX			512
/* A node principal's own bound: its agent holds one long poll, and may
 * open the next while the last is ending (issue 18), so 2; more would
 * let a few nodes hold the room of API_WATCH_NODE_MAX meant for a
 * fleet. */
#define API_WATCH_PER_NODE		2
#define API_WATCH_STALL_SECS		20
/* Node principals' watches (an agent's long poll, one per node) count
 * against this bound instead of API_WATCH_MAX, so a fleet neither
 * crowds out people's and controllers' watches nor is refused by them.
 * Sized for the fleet goal of 5,000 nodes and more (issue 18) with
 * room. Each holds a connection with a request in flight, which no
 * eviction frees, so node watches are also bounded by max_connections
 * less API_CONN_RESERVED_PCT (api_watch_node_max()), less the tenant
 * roles' connections open (api_watch_node_room()), and tenant roles'
 * connections by that less the node watches: a fleet larger than the
 * connections, with tenants' watches or without, cannot take every slot
 * from the administrators and auditors. */
#define API_WATCH_NODE_MAX		8192

/* The slots of MAX_CONNS (>= 1) left once API_CONN_RESERVED_PCT (at
 * least one slot when MAX_CONNS > 1) is kept for system roles: what
 * tenant roles may hold together, and node watches. */
unsigned api_conn_unreserved(unsigned max_conns);

/* How many node watches a server of MAX_CONNS connections admits:
 * API_WATCH_NODE_MAX or api_conn_unreserved(MAX_CONNS), the lower. */
unsigned api_watch_node_max(unsigned max_conns);

/* How many node watches a server of MAX_CONNS connections admits while
 * TENANT_CONNS connections of tenant roles are open: they share
 * api_conn_unreserved(MAX_CONNS), so api_watch_node_max(MAX_CONNS) less
 * TENANT_CONNS (0 if they hold it all). */
unsigned api_watch_node_room(unsigned max_conns, unsigned tenant_conns);

/* Ends the long polls (watches with poll=) of node NODE's principal
 * with what they sent so far (an empty answer when nothing changed),
 * so its agent asks the server again now: what it asks then (its log
 * exchange) is not a change in the store. Returns how many ended. */
unsigned api_watch_wake_node(struct api_server *srv, const char *node);

/* What api_watch_admit() says of one more watch. */
enum api_watch_admit {
	API_WATCH_ADMIT = 0,
	API_WATCH_FULL_PRINCIPAL,	/* the principal holds its bound */
	API_WATCH_FULL_PEOPLE,		/* API_WATCH_MAX non-node watches */
	API_WATCH_FULL_NODES,		/* NODE_MAX node watches */
};

/* Whether a principal (IS_NODE: of role node) holding MINE watches may
 * open one more while PEOPLE watches of other roles and NODES watches
 * of node principals are open, node watches being bounded by NODE_MAX
 * (api_watch_node_max()). A principal holds at most
 * api_watch_per_principal(IS_NODE). */
/* The watches one principal may hold: API_WATCH_PER_NODE for a node
 * (IS_NODE), API_WATCH_PER_PRINCIPAL for the other roles. */
unsigned api_watch_per_principal(int is_node);

enum api_watch_admit api_watch_admit(int is_node, unsigned mine,
    unsigned people, unsigned nodes, unsigned node_max);

/* Formats a peer as audit records show it: "192.0.2.1:PORT" or, for
 * IPv6, "[2001:db8::5]:PORT" (HOST NULL or empty: "unknown"). */
void api_source_format(const char *host, unsigned port, char *buf,
    size_t len);
/* The address of SOURCE (as api_source_format() makes it, or an address
 * without port) into BUF: "[::1]:443" -> "::1", "192.0.2.1:443" ->
 * "192.0.2.1", "::1" -> "::1". Returns 0, -EINVAL or -ENAMETOOLONG. */
int api_source_host(const char *source, char *buf, size_t len);

/* Binds and starts serving on BASE. Returns 0 or a negative error with
 * a message in *ret_err. */
int api_server_start(struct event_base *base, const struct api_server_options *o,
    struct api_server **ret, char **ret_err);

/* Makes new connections use CTX (a renewed server certificate); open
 * connections keep the context they were accepted with, which each
 * holds a reference to. The caller keeps ownership of CTX, as of the
 * one given to api_server_start(), and must keep it until it frees the
 * server or replaces it again; it may free the previous one now. */
void api_server_set_ssl_ctx(struct api_server *s, SSL_CTX *ctx);

/* The port actually bound (useful with port 0). */
int api_server_port(struct api_server *s);

struct authz_identity;
struct evhttp_request;

/* Extension point for endpoints that live in their own module (node
 * enrolment, compliance, evidence): requests whose path starts with
 * PREFIX ("/v1/enrol/") go to FN once the caller is identified (401 is
 * answered before FN for callers without a valid client certificate).
 * FN must answer the request and record it with api_audit(). At most
 * API_HANDLERS_MAX handlers. Returns 0 or -ENOSPC. */
#define API_HANDLERS_MAX	16
typedef void (*api_handler_fn)(struct api_server *srv,
    struct evhttp_request *req, const struct authz_identity *id,
    const char *path, void *arg);
int api_server_add_handler(struct api_server *s, const char *prefix,
    api_handler_fn fn, void *arg);

/* Helpers for extension handlers. */
void api_reply_json(struct api_server *s, struct evhttp_request *req,
    int status, json_t *body);
void api_reply_error(struct api_server *s, struct evhttp_request *req,
    int status, const char *code, const char *message);
/* Answers with the HTTP status and code that fit error R. */
void api_reply_err(struct api_server *s, struct evhttp_request *req, int r,
    const char *message);
/* Records a request that changed nothing (mutations go through the
 * commit pipeline with their own record). */
void api_audit(struct api_server *s, const struct authz_identity *id,
    const char *action, const char *kind, const char *tenant,
    const char *name, const char *outcome, const char *reason);
/* Runs WORK(ARG) on one of the server's offload workers
 * (controlplane/offload.h), then DONE(ARG, cancelled) on the loop thread,
 * which answers REQ and records it; for work that would stall the loop
 * (long reads, scans). WORK must touch only what ARG owns. Returns 0, or,
 * when the pool is full (503 "busy" with Retry-After, recorded as ACTION
 * denied) or stopping or out of memory, a negative error after answering
 * and recording REQ: the caller then frees ARG itself. */
int api_offload_submit(struct api_server *s, struct evhttp_request *req,
    const struct authz_identity *id, const char *action,
    void (*work)(void *), void (*done)(void *, bool), void *arg);
/* Reads an application/json body within the API's limits. */
int api_read_json_body(struct evhttp_request *req, json_t **ret,
    char **ret_err);
struct store *api_store(struct api_server *s);
struct committer *api_committer(struct api_server *s);

/* Sets how long after its last good quote (the Node's
 * status.last_attested_unix) a node's certificate stops standing outside
 * /v1/attest/, whatever its stored state says: the stale limit the
 * enrolment module enforces (enrol_start() calls it). 0 (the default):
 * no node stands. */
void api_server_set_attest_deadline(struct api_server *s, unsigned secs);

/* Privilege separation (options.plain_socket set). The listening TCP
 * socket the worker accepts on; owned by S. */
int api_server_tcp_fd(struct api_server *s);

/* How many connections may be unauthenticated at once (from
 * max_connections), for the worker's limit on handshakes. */
unsigned api_server_max_unauth(struct api_server *s);

/* Called once the parent's end of an adopted connection (COOKIE from
 * api_server_adopt()) is being served: FD is the end to hand to the
 * worker (the callee owns it, -1 when the stream could not be set up,
 * e.g. too many pending), then the worker relays the client's bytes
 * through it. */
typedef void (*api_adopt_fn)(void *arg, uint64_t cookie, int fd);
void api_server_set_adopt_cb(struct api_server *s, api_adopt_fn fn,
    void *arg);

/* A worker finished a TLS handshake from PEER ("addr:port") presenting
 * client certificate DER (DERLEN bytes; 0: none). Verifies DER against
 * the API's CA again (the worker is not trusted for it), connects a new
 * stream to the private listener and remembers who it belongs to; the
 * adopt callback gets its other end with COOKIE once evhttp serves it.
 * Returns 0 or a negative error with *RET_ERR (the worker is told no). */
int api_server_adopt(struct api_server *s, uint64_t cookie, const char *peer,
    const unsigned char *der, size_t derlen, char **ret_err);

/* COUNT events of connections that never reached HTTP, reported by the
 * worker: ACTION "tls.handshake_failure" or "api.connection_dropped"
 * (REASON then a drop reason: handshake_deadline, per_source,
 * unauthenticated_pool), recorded and counted in /metrics like the same
 * events in one process (aggregated per source). */
void api_server_anon_event(struct api_server *s, const char *source,
    const char *action, const char *reason, unsigned count);

/* Called with the new context whenever api_server_set_ssl_ctx() runs
 * (certificate renewal), so a worker can present the new chain. */
void api_server_set_ctx_cb(struct api_server *s,
    void (*fn)(void *arg, SSL_CTX *ctx), void *arg);

/* Unhooks S from the commit pipeline before the committer stops; S can
 * still answer the requests the committer completes while draining. */
void api_server_detach(struct api_server *s);

/* Stops serving, ends watch streams and frees S (NULL ok). Call after
 * commit_stop() when api_server_detach() ran. */
void api_server_free(struct api_server *s);

#endif

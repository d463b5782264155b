#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/param.h>
#include <sys/queue.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <netdb.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <jansson.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "audit/record.h"
#include "audit/search.h"
#include "audit/trail.h"
#include "controlplane/api-route.h"
#include "controlplane/api.h"
#include "controlplane/authz.h"
#include "controlplane/metrics.h"
#include "controlplane/principals.h"
#include "controlplane/netadmit.h"
#include "controlplane/nodeview.h"
#include "controlplane/offload.h"
#include "controlplane/quota.h"
#include "controlplane/resource.h"
#include "controlplane/schema.h"
#include "hardening/pki.h"
#include "lib/b64.h"
#include "lib/clock.h"
#include "lib/hist.h"
#include "lib/err.h"
#include "lib/ids.h"
#include "lib/json.h"
#include "lib/log.h"
#include "lib/macro.h"
#include "lib/ossl-cleanup.h"

/* Heartbeats keep idle watch streams alive through proxies and let the
 * server notice clients that went away. */
#define WATCH_HEARTBEAT_SECS	15
#define WATCH_BATCH		256
#define WATCH_POLL_MAX_MS	60000
/* Backpressure: a watch takes its next batch only while the connection's
 * output holds less than WATCH_LOW_WATER bytes, and one batch is at most
 * about WATCH_CHUNK_MAX bytes (plus one object): per watch, memory stays
 * under twice that plus the largest object, whatever the history. */
#define WATCH_LOW_WATER		(256 * 1024)
#define WATCH_CHUNK_MAX		(256 * 1024)
#define REQUEST_CONTROLS	"AU-2,AU-3,AU-12,AC-3"

struct watcher {
	struct api_server		*srv;
	struct evhttp_request		*req;
	struct authz_identity		 id;
	const struct res_kind		*kind;		/* NULL: every kind */
	uint64_t			 rev;
	/* Long poll (?poll=MS): the response ends after the first batch
	 * the watcher may see, or when this timer fires; the connection
	 * stays open for the client's next request. */
	struct event			*poll_ev;
	/* Set while the output is above the low-water mark: the pump
	 * waits for it to drain (watch_drained_cb); stall_ev ends the
	 * watch if it does not within API_WATCH_STALL_SECS. */
	int				 blocked;
	struct event			*stall_ev;
	/* the binding that granted, for identity_stands() */
	struct principals_grant		 grant;
	TAILQ_ENTRY(watcher)		 entry;
};

/* Why a connection was closed by us before it authenticated. */
enum conn_drop_reason {
	DROP_DEADLINE,		/* API_HANDSHAKE_SECS passed */
	DROP_PER_SOURCE,	/* its source held API_UNAUTH_PER_SOURCE */
	DROP_POOL,		/* the unauthenticated share was full */
	DROP_NREASONS
};
static const char *const conn_drop_names[DROP_NREASONS] = {
	"handshake_deadline", "per_source", "unauthenticated_pool",
};

/* Why we closed an authenticated connection (API_CONN_*). */
enum conn_evict_reason {
	EVICT_PRINCIPAL,	/* its principal was over API_CONN_PER_PRINCIPAL */
	EVICT_TENANT,		/* its tenant was over API_CONN_PER_TENANT */
	EVICT_TENANT_SHARE,	/* tenant roles were over their share */
	EVICT_FULL,		/* every slot was authenticated */
	EVICT_DEADLINE,		/* no whole request within API_REQUEST_SECS */
	EVICT_NREASONS
};
static const char *const conn_evict_names[EVICT_NREASONS] = {
	"principal", "tenant", "tenant_share", "full", "request_deadline",
};

/* Who holds an authenticated connection, for the limits above. */
enum conn_class {
	CONN_ANON,		/* not (yet) authenticated */
	CONN_TENANT,		/* tenant-admin, tenant-user */
	CONN_SYSTEM,		/* node, system-admin, security-auditor */
};

/* One accepted connection (SSL ex_data api_conn_index). Unauthenticated
 * ones sit on srv->unauth, oldest first, until a request on them passes
 * identify(). */
struct api_conn {
	struct conn_gate		*gate;
	struct bufferevent		*bev;	/* valid while the SSL lives */
	struct event			*timer;	/* classify, then the deadline */
	TAILQ_ENTRY(api_conn)		 all;	/* srv->conns */
	TAILQ_ENTRY(api_conn)		 entry;	/* srv->unauth */
	char				 source[INET6_ADDRSTRLEN];
	int				 linked;	/* on srv->conns */
	int				 counted;	/* in srv->nconns */
	int				 unauth;	/* on srv->unauth */
	int				 classified;
	int				 rewriting;	/* conn_out_cb */
	enum conn_class			 klass;
	char				 tenant[64];
	char				 principal[160];	/* tenant/name */
	int				 busy;		/* a request in flight */
	int				 refused;	/* over a limit: closing */
	unsigned long long		 idle_since;	/* srv->conn_seq */
	/* The request in flight, for its latency (request_observed()):
	 * HTTP/1.1 answers one at a time per connection. */
	uint64_t			 req_start_ns;	/* 0: observed */
	enum metrics_route		 req_route;
	/* Privilege separation: a decrypted stream from the worker. It is
	 * found by its evhttp connection (plain_conns), freed by evhttp's
	 * close callback (conn_plain_closed), and carries what the worker's
	 * handshake learnt, checked again here (api_server_adopt()). */
	int				 plain;
	int				 closecb_set;
	struct evhttp_connection	*evcon;
	TAILQ_ENTRY(api_conn)		 plain_entry;
	char				 peer[INET6_ADDRSTRLEN + 8];
	X509				*cert;		/* NULL: none */
	struct pki_identity		 pid;
	int				 pid_ok;
	struct principals_grant		 grant;
};

/* A stream connected to the private listener, waiting for evhttp to
 * accept its other end (matched by the stream's autobound name). */
struct plain_pending {
	TAILQ_ENTRY(plain_pending)	 entry;
	struct sockaddr_un		 name;
	socklen_t			 namelen;
	uint64_t			 cookie;
	int				 fd;	/* the end for the worker */
	char				 peer[INET6_ADDRSTRLEN + 8];
	X509				*cert;
};
#define PLAIN_PENDING_MAX	512

/* Unauthenticated requests, counted per key until the next flush. */
struct anon_count {
	char			 source[INET6_ADDRSTRLEN];
	char			 action[40];
	char			 outcome[16];
	char			 reason[120];	/* the first one's */
	unsigned long long	 n;
};

struct api_server {
	struct event_base		*base;
	struct evhttp			*http;
	struct evhttp_bound_socket	*bound;
	SSL_CTX				*ssl_ctx;
	struct store			*st;
	struct committer		*commit;
	struct audit_trail		*trail;
	char				*audit_dir;
	int				(*is_revoked)(void *, const char *);
	void				*revoked_ctx;
	struct principals		*principals;
	unsigned			 attest_deadline_s; /* node_stands() */
	struct quota_limits		 default_quota;
	struct netadmit			 netadmit;	/* tenant subnets */
	struct quota_claims		 quota;		/* usage in flight */
	json_t				*(*health_extra)(void *);
	void				*health_arg;
	void				(*metrics_extra)(struct bw_buf *,
					    void *);
	void				*metrics_arg;
	struct metrics			*metrics;
	struct event			*heartbeat;
	TAILQ_HEAD(, watcher)		 watchers;
	int				 port;
	unsigned long long		 requests[6];	/* by status class 0..5 */
	struct {
		char		 prefix[64];
		api_handler_fn	 fn;
		void		*arg;
	}				 handlers[API_HANDLERS_MAX];
	size_t				 nhandlers;
	unsigned			 applying;	/* POST /v1/apply in flight */
	unsigned long long		 tls_failures;
	int				 detached;	/* from the committer */
	/* Connection cap: at most MAX_CONNS, of which tenant roles hold at
	 * most MAX_TENANT_CONNS (API_CONN_*). */
	unsigned			 nconns, max_conns, max_tenant_conns;
	unsigned long long		 evicted[EVICT_NREASONS];
	unsigned long long		 conn_refused;
	int				 evict_recorded[EVICT_NREASONS];
	unsigned long long		 conn_seq;	/* orders idleness */
	struct conn_gate		*gate;
	TAILQ_HEAD(, api_conn)		 conns;
	TAILQ_HEAD(, api_conn)		 unauth;
	unsigned			 nunauth, max_unauth;
	unsigned long long		 dropped[DROP_NREASONS];
	struct anon_count		 anon[API_ANON_AUDIT_KEYS + 1];
	size_t				 nanon;
	unsigned long long		 anon_total;
	struct event			*anon_ev;
	unsigned long long		 watch_refused, watch_ended_slow;
	/* Watch pump passes (each batch, heartbeat, or lone pump) and
	 * what node watchers' pumps keep within one: each change's node
	 * filter (VIEW, NULL: none kept). */
	uint64_t			 pump_gen;
	struct nodeview_memo		*view;
	struct offload			*offload;	/* blocking work */
	unsigned long long		 offload_refused;
	/* privilege separation (api_server_options.plain_socket) */
	int				 privsep;
	int				 tcp_fd;
	char				 plain_path[108];
	struct evconnlistener		*plain_listener;
	TAILQ_HEAD(, plain_pending)	 pending;
	unsigned			 npending;
	api_adopt_fn			 adopt_cb;
	void				*adopt_arg;
	void				(*ctx_cb)(void *, SSL_CTX *);
	void				*ctx_arg;
};

/* Every plain connection of every server, for conn_of(). */
static TAILQ_HEAD(, api_conn) plain_conns = TAILQ_HEAD_INITIALIZER(plain_conns);

/* What a connection's SSL points to. libevent may free a connection's
 * SSL after evhttp_free() returns (deferred finalisation), so the SSLs
 * point here rather than at the server; the last one frees it once the
 * server is gone. Loop thread only. */
struct conn_gate {
	struct api_server	*srv;	/* NULL once the server is freed */
	unsigned		 refs;	/* SSLs pointing here */
};

/* One request on its way through the commit pipeline. */
struct pending {
	struct commit_req	 creq;		/* first: the pipeline hands it back */
	struct api_server	*srv;
	struct evhttp_request	*req;
	struct authz_identity	 id;
	json_t			*doc;		/* stored form to render on success */
	json_t			*prev;		/* a replace's stored object, or NULL */
	uint64_t		 prev_rev;	/* and its revision */
	const struct res_kind	*kind;
	char			 key[RES_KEY_MAX];
	char			 action[64];
	char			 tenant[64], name[64];
	char			*value;
	int			 ok_status;
	int			 net_claim;	/* netadmit claim, -1: none */
	int			 quota_claim;	/* quota claim, -1: none */
	/* What a delete revokes once it has committed (delete_revokes()):
	 * a Tenant's principals, or a Node's certificate serials. */
	int			 revoke_tenant;
	char			 revoke_serial[2][80];
};

static int api_server_index;
static int conn_authenticated(struct api_server *srv,
    struct evhttp_request *req, const struct authz_identity *id,
    char **ret_err);
static void conn_unauthenticated(struct api_server *srv,
    struct evhttp_request *req);
static void conn_request_start(struct api_server *srv,
    struct evhttp_request *req);
static unsigned conn_count(struct api_server *srv, const char *principal,
    const char *tenant, enum conn_class k);
static struct api_conn *conn_evictee(struct api_server *srv,
    const char *principal, const char *tenant, enum conn_class k,
    const struct api_conn *except);
static void conn_evict(struct api_server *srv, struct api_conn *c,
    enum conn_evict_reason why);
static void anon_flush(struct api_server *srv);
static void anon_count(struct api_server *srv, const char *source,
    const char *action, const char *outcome, const char *reason);
/* SSL ex_data slot holding the server that counts the connection; its
 * free function runs when the connection's SSL is freed. */
static int api_conn_index = -1;

/* What identify() learnt from a connection's client certificate, kept
 * with its SSL (slot api_ident_index) so that later requests on the
 * connection do not parse the subject again: renegotiation is off, so
 * the certificate cannot change under it. The certificate's trust,
 * revocation and role binding are still checked on every request. */
struct conn_ident {
	const X509		*cert;
	struct pki_identity	 pid;
	struct principals_grant	 grant;
};
static int api_ident_index = -1;

static void
ident_ex_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
    void *argp)
{
	(void)parent; (void)ad; (void)idx; (void)argl; (void)argp;
	free(ptr);
}

/* The connection's cache, created on first use; NULL if it cannot be. */
static struct conn_ident *
conn_ident_get(SSL *ssl)
{
	struct conn_ident *ci;

	if (api_ident_index < 0)
		return NULL;
	if ((ci = SSL_get_ex_data(ssl, api_ident_index)))
		return ci;
	if (!(ci = calloc(1, sizeof(*ci))))
		return NULL;
	if (SSL_set_ex_data(ssl, api_ident_index, ci) != 1) {
		free(ci);
		return NULL;
	}
	return ci;
}

static int
http_status_for(int r)
{
	switch (-r) {
	case BW_E_INVALID:	return 400;
	case BW_E_UNAUTH:	return 401;
	case BW_E_DENIED:	return 403;
	case BW_E_NOTFOUND:	return 404;
	case BW_E_EXISTS:
	case BW_E_CONFLICT:
	case BW_E_QUOTA:	return 409;
	case BW_E_COMPACTED:	return 410;
	case BW_E_TOOLARGE:	return 413;
	case BW_E_AUDIT:
	case BW_E_UNAVAILABLE:	return 503;
	case BW_E_NOSPACE:
	case ENOSPC:		return 507;
	}
	return 500;
}

static const char *
http_reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 410: return "Gone";
	case 413: return "Payload Too Large";
	case 415: return "Unsupported Media Type";
	case 429: return "Too Many Requests";
	case 503: return "Service Unavailable";
	case 507: return "Insufficient Storage";
	}
	return "Internal Server Error";
}

static struct api_conn *conn_of(struct evhttp_request *req);

/* Counts the latency of the request answered on REQ's connection with
 * STATUS, once (a watch at its start, not again at its end). */
static void
request_observed(struct api_server *srv, struct evhttp_request *req,
    int status)
{
	struct api_conn *c = conn_of(req);

	if (!c || c->gate->srv != srv || !c->req_start_ns)
		return;
	metrics_observe_request(srv->metrics, c->req_route, status,
	    c->req_start_ns);
	c->req_start_ns = 0;
}

/* Sends BUF (consumed: freed here, NULL for an empty body) as a JSON
 * answer with STATUS. */
static void
reply_evbuffer(struct api_server *srv, struct evhttp_request *req,
    int status, struct evbuffer *buf)
{
	struct evhttp_connection *evcon;
	struct bufferevent	*bev;

	if (status / 100 < (int)ELEMENTSOF(srv->requests))
		srv->requests[status / 100]++;
	request_observed(srv, req, status);
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", "application/json");
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Cache-Control", "no-store");
	evcon = evhttp_request_get_connection(req);
	evhttp_send_reply(req, status, http_reason(status), buf);
	/* evhttp queued the head and the body as two buffer chains, which
	 * the TLS bufferevent would send as two records in two writes once
	 * the socket polls writable; joined, a reply is one record, one
	 * write and one segment. */
	if (evcon && (bev = evhttp_connection_get_bufferevent(evcon)))
		(void)evbuffer_pullup(bufferevent_get_output(bev), -1);
	if (buf)
		evbuffer_free(buf);
}

/* json_dump_callback() into an evbuffer: 0, or -1 (jansson's failure)
 * from evbuffer_add(). */
static int
dump_to_evbuffer(const char *s, size_t n, void *buf)
{
	return evbuffer_add(buf, s, n);
}

static void
reply_json(struct api_server *srv, struct evhttp_request *req, int status,
    json_t *body)
{
	struct evbuffer *buf = evbuffer_new();

	if (buf && (json_dump_callback(body, dump_to_evbuffer, buf,
	    JSON_COMPACT) < 0 || evbuffer_add(buf, "\n", 1) < 0))
		evbuffer_drain(buf, evbuffer_get_length(buf));
	reply_evbuffer(srv, req, status, buf);
}

static void
reply_error(struct api_server *srv, struct evhttp_request *req, int status,
    const char *code, const char *msg)
{
	_cleanup_json_ json_t *o = json_pack("{s:{s:s, s:s}}", "error", "code",
	    code, "message", msg ? msg : http_reason(status));

	if (!o)	/* message not UTF-8: never echo such bytes back */
		o = json_pack("{s:{s:s, s:s}}", "error", "code", code,
		    "message", http_reason(status));
	reply_json(srv, req, status, o);
}

static void
reply_err_r(struct api_server *srv, struct evhttp_request *req, int r,
    const char *msg)
{
	reply_error(srv, req, http_status_for(r), bw_errcode(r),
	    msg ? msg : bw_strerror(r));
}

/* Records a request that changed nothing; it rides with the next batch. */
static void
audit_request(struct api_server *srv, const struct authz_identity *id,
    const char *action, const struct res_kind *kind, const char *tenant,
    const char *name, const char *outcome, const char *reason)
{
	api_audit(srv, id, action, kind ? kind->kind : NULL, tenant, name,
	    outcome, reason);
}

void
api_source_format(const char *host, unsigned port, char *buf, size_t len)
{
	if (!host || !host[0])
		host = "unknown";
	if (strchr(host, ':'))
		snprintf(buf, len, "[%s]:%u", host, port);
	else
		snprintf(buf, len, "%s:%u", host, port);
}

int
api_source_host(const char *source, char *buf, size_t len)
{
	const char	*end, *colon;
	size_t		 n;

	if (source[0] == '[') {
		if (!(end = strchr(source, ']')))
			return -EINVAL;
		source++;
	} else if ((colon = strchr(source, ':')) && !strchr(colon + 1, ':')) {
		end = colon;		/* IPv4 address:port */
	} else {
		end = source + strlen(source);	/* an address without port */
	}
	n = (size_t)(end - source);
	if (n >= len)
		return -ENAMETOOLONG;
	memcpy(buf, source, n);
	buf[n] = '\0';
	return 0;
}

static void
peer_address(struct evhttp_request *req, char *buf, size_t len)
{
	struct evhttp_connection	*evcon = evhttp_request_get_connection(req);
	const char			*host = NULL;
	ev_uint16_t			 port = 0;

	struct api_conn			*c = conn_of(req);

	if (c && c->plain) {
		snprintf(buf, len, "%s", c->peer[0] ? c->peer : "unknown");
		return;
	}
	if (evcon)
		evhttp_connection_get_peer(evcon, (char **)&host, &port);
	api_source_format(host, port, buf, len);
}

/* A node's standing: its Node object exists and is Trusted, with a good
 * quote within the stale limit (srv->attest_deadline_s). An Untrusted
 * node's certificate is good for re-attestation only (ATTEST_ONLY), which
 * issues a fresh one; a node without a Node object has none (deleting a
 * Node also revokes its certificate). The age of the last quote is
 * checked here too, not only by the stale scan's write (enrol.c): a node
 * that stopped attesting is refused even while nothing can be written
 * (audit trail full, AU-5). Read for every request and every pump of
 * a node's watch, never kept: the committer writes the store while the
 * loop pumps, so a Node read earlier in a pass may already be Untrusted
 * (an Untrusted node gets no further change). */
static int
node_stands(struct api_server *srv, const struct authz_identity *id,
    int attest_only, char **ret_err)
{
	_cleanup_json_ json_t	*doc = NULL;
	struct store_kv		*kv = NULL;
	char			 key[RES_KEY_MAX];
	const json_t		*st;
	const char		*att;
	json_int_t		 age;
	int			 r;

	if (id->role != ROLE_NODE || strcmp(id->role_name, "node") != 0)
		return 0;
	if ((r = res_key(res_kind_by_flag(RES_F_NODE), NULL, id->principal, key,
	    sizeof(key))) < 0)
		return errf(-BW_E_UNAUTH, ret_err, "node name %s is not valid",
		    id->principal);
	if ((r = store_get(srv->st, key, &kv)) < 0)
		return errf(-BW_E_UNAUTH, ret_err, "node %s has no Node "
		    "object: its certificate grants nothing", id->principal);
	doc = json_loadb(kv->value, kv->value_len, 0, NULL);
	store_kv_free(kv);
	st = json_object_get(doc, "status");
	att = json_string_value(json_object_get(st, "attestation"));
	if (attest_only)
		return 0;
	if (!att || strcmp(att, "Trusted") != 0)
		return errf(-BW_E_UNAUTH, ret_err, "node %s is %s: its "
		    "certificate is good for re-attestation (/v1/attest/) "
		    "only", id->principal, att ? att : "not attested");
	/* A missing time is no quote at all; a clock set back makes the
	 * age negative: still standing, as for the stale scan. */
	age = (json_int_t)time(NULL) - json_integer_value(json_object_get(st,
	    "last_attested_unix"));
	if (age > (json_int_t)srv->attest_deadline_s)
		return errf(-BW_E_UNAUTH, ret_err, "node %s: its last good "
		    "quote is %lld s old (limit %u s): its certificate is good "
		    "for re-attestation (/v1/attest/) only", id->principal,
		    (long long)age, srv->attest_deadline_s);
	return 0;
}

/* A tenant's principals stand only while their tenant exists: deleting a
 * tenant ends their access at once (and revokes their certificates,
 * principals_disable_tenant()). */
static int
tenant_stands(struct api_server *srv, const struct authz_identity *id,
    char **ret_err)
{
	struct store_kv	*kv = NULL;
	char		 key[RES_KEY_MAX];

	if (strcmp(id->tenant, RES_SYSTEM_TENANT) == 0)
		return 0;
	if (res_key(res_kind_by_flag(RES_F_TENANT_DEFINING), NULL, id->tenant,
	    key, sizeof(key)) < 0 || store_get(srv->st, key, &kv) < 0)
		return errf(-BW_E_UNAUTH, ret_err, "tenant %s of principal %s "
		    "does not exist", id->tenant, id->principal);
	store_kv_free(kv);
	return 0;
}

/* Whether identity ID, parsed from a trusted certificate, still stands:
 * the certificate is not revoked, a RoleBinding still grants its role
 * (GRANT, may be NULL: principals_binding_check()), its tenant exists,
 * and a node is Trusted (ATTEST_ONLY: exists). Checked on every request
 * and on every batch of an open watch. 0 or -BW_E_UNAUTH (why in
 * *RET_ERR). */
static int
identity_stands(struct api_server *srv, const struct authz_identity *id,
    struct principals_grant *grant, int attest_only, char **ret_err)
{
	int r;

	if (srv->is_revoked && srv->is_revoked(srv->revoked_ctx, id->serial))
		return errf(-BW_E_UNAUTH, ret_err,
		    "client certificate %s is revoked", id->serial);
	/* The certificate names a role; a RoleBinding must still grant it. */
	if (srv->principals &&
	    (r = principals_binding_check(srv->st, id, grant, ret_err)) < 0)
		return r;
	if ((r = tenant_stands(srv, id, ret_err)) < 0)
		return r;
	return node_stands(srv, id, attest_only, ret_err);
}

/* The identity PID of a verified certificate into ID, then whether it
 * still stands (identity_stands()) and the connection's admission. */
static int
identify_as(struct api_server *srv, struct evhttp_request *req,
    const struct pki_identity *pid, struct principals_grant *grant,
    struct authz_identity *id, char **ret_err)
{
	const struct evhttp_uri	*uri;
	const char		*path;
	int			 r;

	snprintf(id->principal, sizeof(id->principal), "%s", pid->principal);
	snprintf(id->tenant, sizeof(id->tenant), "%s", pid->tenant);
	snprintf(id->role_name, sizeof(id->role_name), "%s", pid->role);
	snprintf(id->serial, sizeof(id->serial), "%s", pid->serial_hex);
	id->role = authz_role_parse(id->role_name);
	if (id->role == ROLE_NONE)
		return errf(-BW_E_UNAUTH, ret_err,
		    "client certificate names unknown role \"%s\"", id->role_name);
	id->auth_method = "mtls";
	uri = evhttp_request_get_evhttp_uri(req);
	path = uri ? evhttp_uri_get_path(uri) : NULL;
	r = identity_stands(srv, id, grant,
	    path && strncmp(path, "/v1/attest/", 11) == 0, ret_err);
	if (r == 0)
		r = conn_authenticated(srv, req, id, ret_err);
	return r;
}

/* identify() for a stream relayed by the worker: the certificate came
 * with the connection and was verified again by api_server_adopt(). */
static int
identify_plain(struct api_server *srv, struct evhttp_request *req,
    struct api_conn *c, struct authz_identity *id, char **ret_err)
{
	if (!c->cert)
		return errf(-BW_E_UNAUTH, ret_err,
		    "a client certificate is required");
	if (!c->pid_ok) {
		if (pki_peer_identity(c->cert, &c->pid) < 0)
			return errf(-BW_E_UNAUTH, ret_err,
			    "client certificate subject must carry one CN "
			    "(principal), O (tenant) and OU (role)");
		c->pid_ok = 1;
	}
	return identify_as(srv, req, &c->pid, &c->grant, id, ret_err);
}

/* Maps the verified client certificate to an identity: CN is the
 * principal, O its tenant, OU its role (hardening/pki). */
static int
identify(struct api_server *srv, struct evhttp_request *req,
    struct authz_identity *id, char **ret_err)
{
	struct evhttp_connection	*evcon = evhttp_request_get_connection(req);
	struct bufferevent		*bev;
	struct pki_identity		 pid;
	struct conn_ident		*ci;
	struct api_conn			*c;
	SSL				*ssl;
	X509				*cert;
	long				 vr;

	id->auth_method = "none";
	if ((c = conn_of(req)) && c->plain)
		return identify_plain(srv, req, c, id, ret_err);
	if (!evcon || !(bev = evhttp_connection_get_bufferevent(evcon)) ||
	    !(ssl = bufferevent_openssl_get_ssl(bev)))
		return errf(-BW_E_UNAUTH, ret_err, "no TLS session");
	if (!(cert = SSL_get0_peer_certificate(ssl)))
		return errf(-BW_E_UNAUTH, ret_err,
		    "a client certificate is required");
	if ((vr = SSL_get_verify_result(ssl)) != X509_V_OK)
		return errf(-BW_E_UNAUTH, ret_err,
		    "client certificate not trusted: %s",
		    X509_verify_cert_error_string(vr));
	ci = conn_ident_get(ssl);
	if (ci && ci->cert == cert) {
		pid = ci->pid;
	} else {
		if (pki_ssl_identity(ssl, &pid) < 0)
			return errf(-BW_E_UNAUTH, ret_err,
			    "client certificate subject must carry one CN "
			    "(principal), O (tenant) and OU (role)");
		if (ci) {
			memset(ci, 0, sizeof(*ci));
			ci->cert = cert;
			ci->pid = pid;
		}
	}
	return identify_as(srv, req, &pid, ci ? &ci->grant : NULL, id,
	    ret_err);
}

static const char *
query_get(struct evhttp_request *req, struct evkeyvalq *q, const char *key)
{
	return evhttp_find_header(q, key);
}

static int
parse_u64(const char *s, uint64_t *ret)
{
	char			*end;
	unsigned long long	 v;

	if (!s || !*s || *s == '-')
		return -BW_E_INVALID;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end)
		return -BW_E_INVALID;
	*ret = v;
	return 0;
}

/* Reads the request body as one JSON value within our limits. */
static int
read_body(struct evhttp_request *req, json_t **ret, char **ret_err)
{
	struct evbuffer	*in = evhttp_request_get_input_buffer(req);
	const char	*ct;
	size_t		 len = evbuffer_get_length(in);
	unsigned char	*p;

	ct = evhttp_find_header(evhttp_request_get_input_headers(req),
	    "Content-Type");
	if (!ct || strncmp(ct, "application/json", 16) != 0 ||
	    (ct[16] != '\0' && ct[16] != ';'))
		return errf(-EPROTONOSUPPORT, ret_err,
		    "Content-Type must be application/json");
	if (len > API_BODY_MAX)
		return errf(-BW_E_TOOLARGE, ret_err,
		    "body: %zu bytes is over the limit of %d", len, API_BODY_MAX);
	if (len == 0)
		return errf(-BW_E_INVALID, ret_err, "body: is empty");
	if (!(p = evbuffer_pullup(in, -1)))
		return -ENOMEM;
	if (memchr(p, '\0', len))
		return errf(-BW_E_INVALID, ret_err, "body: contains a NUL byte");
	return json_parse_bounded((const char *)p, len, BW_JSON_MAX_DEPTH, ret,
	    ret_err);
}

static void
action_name(char *buf, size_t len, const struct res_kind *k, const char *verb)
{
	size_t i;

	snprintf(buf, len, "%s.%s", k ? k->kind : "api", verb);
	for (i = 0; buf[i] && buf[i] != '.'; i++)
		if (buf[i] >= 'A' && buf[i] <= 'Z')
			buf[i] = (char)(buf[i] - 'A' + 'a');
}

/* ---- reads ---- */

static const char *
spec_str(const json_t *doc, const char *field)
{
	return json_str_at(doc, "spec", field);
}

/* Nodes see their own Node, the instances bound to them (their
 * certificate's principal is the node's name), and the workloads and
 * networks those instances use; images are the shared catalogue. Other
 * kinds authz_check() refuses them. Which is which: the kind's flags
 * (RES_F_NODE, RES_F_NODE_USED) and node_field. */
static int
node_sees(struct api_server *srv, const struct authz_identity *id,
    const struct res_kind *k, const char *tenant, const char *name,
    const json_t *doc)
{
	if (id->role != ROLE_NODE)
		return 1;
	return nodeview_sees(srv->st, id->principal, k, tenant, name, doc);
}


static void
handle_get(struct api_server *srv, struct evhttp_request *req,
    const struct api_route *rt, const struct authz_identity *id)
{
	_cleanup_free_ char	*err = NULL;
	_cleanup_json_ json_t	*doc = NULL;
	struct store_kv		*kv = NULL;
	char			 key[RES_KEY_MAX], action[64];
	const char		*tenant = rt->kind->scope == RES_TENANT ?
	    rt->tenant : RES_SYSTEM_TENANT;
	int			 r;

	action_name(action, sizeof(action), rt->kind, "get");
	if ((r = authz_check(id, VERB_READ, rt->kind, tenant, &err)) < 0)
		goto fail;
	if ((r = res_key(rt->kind, rt->tenant, rt->name, key, sizeof(key))) < 0)
		goto fail;
	if ((r = store_get(srv->st, key, &kv)) < 0)
		goto fail;
	doc = res_render(kv->value, kv->value_len, kv->mod_rev);
	store_kv_free(kv);
	if (!doc) {
		r = -BW_E_CORRUPT;
		goto fail;
	}
	/* Tenant roles may read their own Tenant object only; a node its
	 * own Node and the instances bound to it. */
	if ((rt->kind->scope == RES_CLUSTER &&
	    (rt->kind->flags & RES_F_TENANT_DEFINING) &&
	    !authz_tenant_visible(id, rt->name)) ||
	    !node_sees(srv, id, rt->kind, tenant, rt->name, doc)) {
		r = -BW_E_NOTFOUND;
		goto fail;
	}
	if (rt->kind->flags & RES_F_DERIVED_USAGE) {
		/* usage is derived, never stored: it cannot go stale */
		json_t *used = NULL;

		if (quota_usage(srv->st, tenant, &used) == 0)
			json_object_set_new(json_object_get(doc, "status"), "used",
			    used);
	}
	audit_request(srv, id, action, rt->kind, tenant, rt->name, "success", NULL);
	reply_json(srv, req, 200, doc);
	return;
fail:
	if (r == -BW_E_NOTFOUND) {
		free(err);
		err = NULL;
	}
	audit_request(srv, id, action, rt->kind, tenant, rt->name,
	    r == -BW_E_DENIED ? "denied" : "failure", err ? err : bw_strerror(r));
	reply_err_r(srv, req, r, err);
}

static int
object_visible(struct api_server *srv, const struct authz_identity *id,
    const struct res_kind *k, const json_t *doc)
{
	if (!node_sees(srv, id, k, res_tenant(doc), res_name(doc), doc))
		return 0;
	if (k->scope == RES_TENANT)
		return authz_tenant_visible(id, res_tenant(doc));
	if (k->flags & RES_F_TENANT_DEFINING)
		return authz_tenant_visible(id, res_name(doc));
	return 1;
}

/* Reads the paging parameters of a list: LIMIT (1..API_LIST_MAX
 * objects, 0 when absent) and CONTINUE, the hex of the store key after
 * which the page starts (the key of the previous page's last object;
 * it must lie below PREFIX). *RET_AFTER is NULL when absent. */
static int
list_paging(struct evhttp_request *req, struct evkeyvalq *q,
    const char *prefix, size_t *ret_limit, char **ret_after, char **ret_err)
{
	_cleanup_free_ char	*after = NULL;
	const char		*ls = query_get(req, q, "limit");
	const char		*cs = query_get(req, q, "continue");
	uint64_t		 limit = 0;
	size_t			 n;

	if (ls && (parse_u64(ls, &limit) < 0 || limit < 1 ||
	    limit > API_LIST_MAX))
		return errf(-BW_E_INVALID, ret_err,
		    "limit: must be an integer 1..%d", API_LIST_MAX);
	if (cs) {
		n = strlen(cs);
		if (n == 0 || n % 2 || n / 2 > STORE_KEY_MAX ||
		    !(after = calloc(1, n / 2 + 1)) ||
		    hex_decode(cs, (unsigned char *)after, n / 2) < 0 ||
		    strlen(after) != n / 2 ||
		    strncmp(after, prefix, strlen(prefix)) != 0 ||
		    store_key_check(after) < 0)
			return errf(-BW_E_INVALID, ret_err, "continue: must be "
			    "the token a previous page of this list gave");
	}
	*ret_limit = (size_t)limit;
	*ret_after = TAKE_PTR(after);
	return 0;
}

/* A list answer being written: the objects go straight into BUF as the
 * items array's elements; AFTER is the key of the last object examined
 * (owned), from which the next stretch or the next page starts. */
struct list_page {
	struct evbuffer	*buf;
	char		*after;
	size_t		 items, bytes;
	size_t		 want;		/* the page's object limit */
	int		 paged;		/* ?limit= given: the byte bound too */
	/* ?fields= given: each object's projection, the bytes written */
	const struct res_fields	*fields;
};

static int
list_page_full(const struct list_page *pg)
{
	return pg->items >= pg->want ||
	    (pg->paged && pg->bytes >= API_LIST_PAGE_BYTES);
}

/* Adds the objects of KVS (one stretch of the list) that ID may see and
 * SELECTOR matches to PG, until PG is full. Returns how many of KVS it
 * examined (>= 1 unless PG was full on entry), or -ENOMEM. */
static ssize_t
list_page_add(struct api_server *srv, const struct authz_identity *id,
    const struct res_kind *k, const char *selector, struct list_page *pg,
    struct store_kv **kvs, size_t n)
{
	size_t	i;

	for (i = 0; i < n && !list_page_full(pg); i++) {
		_cleanup_json_ json_t *doc = res_render(kvs[i]->value,
		    kvs[i]->value_len, kvs[i]->mod_rev);
		_cleanup_json_ json_t *part = NULL;	/* ?fields= */
		size_t	 before = evbuffer_get_length(pg->buf);

		if (!doc || !object_visible(srv, id, k, doc) ||
		    res_label_match(doc, selector) != 1)
			continue;
		if (pg->fields && !(part = res_project(doc, pg->fields)))
			return -ENOMEM;
		if ((pg->items && evbuffer_add(pg->buf, ",", 1) < 0) ||
		    json_dump_callback(part ? part : doc, dump_to_evbuffer,
		    pg->buf, JSON_COMPACT) < 0)
			return -ENOMEM;
		pg->items++;
		pg->bytes += pg->fields ? evbuffer_get_length(pg->buf) - before :
		    kvs[i]->value_len;
	}
	if (i > 0) {
		free(pg->after);
		if (!(pg->after = strdup(kvs[i - 1]->key)))
			return -ENOMEM;
	}
	return (ssize_t)i;
}

/* Fills PG from the store below PREFIX, a stretch at a time (each read
 * asks for what the page still lacks, plus one to learn whether more
 * follow), and writes the answer's head with the first stretch's
 * revision. *RET_MORE: objects follow the page. */
static int
list_page_fill(struct api_server *srv, const struct authz_identity *id,
    const struct res_kind *k, const char *prefix, const char *selector,
    struct list_page *pg, int *ret_more)
{
	struct store_kv	**kvs = NULL;
	size_t		  n = 0;
	ssize_t		  used;
	uint64_t	  rev = 0;
	int		  full, r, head = 0;

	for (;;) {
		full = list_page_full(pg);
		r = store_list_range(srv->st, prefix, pg->after,
		    full ? 1 : pg->want - pg->items + 1, full ? 1 :
		    pg->paged ? API_LIST_PAGE_BYTES - pg->bytes : SIZE_MAX,
		    &kvs, &n, &rev);
		if (r < 0)
			return r;
		if (!head++ && evbuffer_add_printf(pg->buf, "{\"kind\":"
		    "\"%sList\",\"revision\":%" PRIu64 ",\"items\":[",
		    k->kind, rev) < 0)
			r = -ENOMEM;
		if (r < 0 || n == 0 || full) {
			store_kv_array_free(kvs, n);
			*ret_more = full && n > 0;
			return r;
		}
		used = list_page_add(srv, id, k, selector, pg, kvs, n);
		store_kv_array_free(kvs, n);
		if (used < 0)
			return (int)used;
		if ((size_t)used < n) {
			*ret_more = 1;
			return 0;
		}
	}
}

/* Lists a kind, all of it (up to API_LIST_MAX objects) or in pages:
 * ?limit=N answers at most N objects and at most about
 * API_LIST_PAGE_BYTES of them; when more follow, metadata.continue
 * holds the token that asks for the next page. The store is read a
 * stretch at a time (a page costs that page, not the whole list), the
 * objects rendered straight into the answer. A page's revision is its
 * first read's: a client that must see every change watches from the
 * first page's revision. ?fields=PATH,... answers each object's
 * projection to those paths (res_project()), and a page's byte bound
 * then counts the bytes written: a console's columns of 10,000
 * objects are a fraction of the objects. */
static void
handle_list(struct api_server *srv, struct evhttp_request *req,
    const struct api_route *rt, const struct authz_identity *id,
    struct evkeyvalq *q)
{
	_cleanup_free_ char	*err = NULL, *token = NULL;
	struct list_page	 pg = { 0 };
	struct res_fields	 fields;
	size_t			 limit = 0;
	char			 prefix[RES_KEY_MAX], action[64];
	const char		*selector = query_get(req, q, "selector");
	const char		*fs = query_get(req, q, "fields");
	int			 r, more = 0;

	action_name(action, sizeof(action), rt->kind, "list");
	if ((r = authz_check(id, VERB_READ, rt->kind, rt->tenant, &err)) < 0)
		goto fail;
	if (selector && res_label_match(NULL, selector) < 0) {
		r = errf(-BW_E_INVALID, &err,
		    "selector: must be comma-separated key=value, key!=value "
		    "or key terms");
		goto fail;
	}
	if (fs && (r = res_fields_parse(fs, &fields, &err)) < 0)
		goto fail;
	pg.fields = fs ? &fields : NULL;
	if ((r = res_prefix(rt->kind, rt->tenant[0] ? rt->tenant : NULL, prefix,
	    sizeof(prefix))) < 0)
		goto fail;
	if ((r = list_paging(req, q, prefix, &limit, &pg.after, &err)) < 0)
		goto fail;
	pg.want = limit ? limit : API_LIST_MAX;
	pg.paged = limit > 0;
	if (!(pg.buf = evbuffer_new())) {
		r = -ENOMEM;
		goto fail;
	}
	if ((r = list_page_fill(srv, id, rt->kind, prefix, selector, &pg,
	    &more)) < 0)
		goto fail;
	if (more && !(token = malloc(strlen(pg.after) * 2 + 1))) {
		r = -ENOMEM;
		goto fail;
	}
	if (evbuffer_add_printf(pg.buf, "]%s%s%s}\n", token ?
	    ",\"metadata\":{\"continue\":\"" : "", token ?
	    hex_encode(pg.after, strlen(pg.after), token) : "", token ?
	    "\"}" : "") < 0) {
		r = -ENOMEM;
		goto fail;
	}
	free(pg.after);
	audit_request(srv, id, action, rt->kind, rt->tenant, NULL, "success", NULL);
	reply_evbuffer(srv, req, 200, pg.buf);
	return;
fail:
	free(pg.after);
	if (pg.buf)
		evbuffer_free(pg.buf);
	audit_request(srv, id, action, rt->kind, rt->tenant, NULL,
	    r == -BW_E_DENIED ? "denied" : "failure", err ? err : bw_strerror(r));
	reply_err_r(srv, req, r, err);
}

/* ---- mutations ---- */

static void
pending_free(struct pending *p)
{
	netadmit_release(&p->srv->netadmit, p->net_claim);
	quota_release(&p->srv->quota, p->quota_claim);
	json_decref(p->doc);
	json_decref(p->prev);
	free(p->value);
	free(p);
}

/* 507 for a write the store refused at its high-water mark (or, should
 * a batch outgrow the headroom, LMDB's full map). */
static void
reply_store_full(struct api_server *srv, struct evhttp_request *req)
{
	struct store_capacity	 c = { 0 };
	char			 msg[320];

	(void)store_capacity(srv->st, &c);
	snprintf(msg, sizeof(msg), "the state store is full: %u%% of its "
	    "%ju MiB map in use, high-water mark %u%%; nothing was changed. "
	    "Deletes are still accepted: remove objects to free space, or "
	    "raise store.map_size_mib in bulwarkd.conf", c.used_pct,
	    (uintmax_t)(c.map_bytes >> 20), c.high_water_pct);
	/* Operators learn it from the log too, once a minute at most
	 * (each refusal is in the audit trail). Loop thread only. */
	{
		static time_t	 last;
		time_t		 now = time(NULL);

		if (now - last >= 60) {
			last = now;
			log_warn("state store full: %u%% of its %ju MiB map in "
			    "use, high-water mark %u%%: creates and replaces "
			    "get 507 until objects are deleted", c.used_pct,
			    (uintmax_t)(c.map_bytes >> 20), c.high_water_pct);
		}
	}
	reply_error(srv, req, 507, "insufficient_storage", msg);
}

static void delete_revoke_committed(struct pending *p);

static void
pending_done(struct commit_req *creq)
{
	struct pending	*p = (struct pending *)creq;
	json_t		*out;
	int		 r = creq->result;

	if (r == 0) {
		if (creq->op.type == STORE_OP_DELETE) {
			delete_revoke_committed(p);
			out = json_pack("{s:s, s:I}", "status", "deleted",
			    "revision", (json_int_t)creq->op.rev);
		} else {
			out = json_incref(p->doc);
			json_object_set_new(json_object_get(out, "metadata"),
			    "revision", json_integer((json_int_t)creq->op.rev));
		}
		reply_json(p->srv, p->req, p->ok_status, out);
		json_decref(out);
	} else if (r == -BW_E_AUDIT) {
		reply_error(p->srv, p->req, 503, "audit_unavailable",
		    "the audit record of this change could not be made durable; "
		    "nothing was changed");
	} else if (r == -BW_E_EXISTS) {
		char msg[256];

		snprintf(msg, sizeof(msg), "%s %s already exists", p->kind->kind,
		    p->name);
		reply_error(p->srv, p->req, 409, "already_exists", msg);
	} else if (r == -BW_E_CONFLICT) {
		reply_error(p->srv, p->req, 409, "conflict",
		    "metadata.revision: the object changed since that revision; "
		    "read it again and retry");
	} else if (r == -BW_E_NOTFOUND) {
		reply_err_r(p->srv, p->req, r, NULL);
	} else if (r == -BW_E_NOSPACE || r == -ENOSPC) {
		reply_store_full(p->srv, p->req);
	} else {
		log_error("commit of %s failed: %s", p->key, bw_strerror(r));
		reply_err_r(p->srv, p->req, r, NULL);
	}
	pending_free(p);
}

static struct pending *
pending_new(struct api_server *srv, struct evhttp_request *req,
    const struct authz_identity *id, const struct res_kind *k,
    const char *tenant, const char *name, const char *verb)
{
	struct pending *p;

	if (!(p = calloc(1, sizeof(*p))))
		return NULL;
	p->srv = srv;
	p->req = req;
	p->id = *id;
	p->kind = k;
	p->net_claim = -1;
	p->quota_claim = -1;
	snprintf(p->tenant, sizeof(p->tenant), "%s", tenant);
	snprintf(p->name, sizeof(p->name), "%s", name);
	action_name(p->action, sizeof(p->action), k, verb);
	p->creq.done = pending_done;
	p->creq.rec = (struct audit_record){
		.actor = p->id.principal, .role = p->id.role_name,
		.tenant = p->id.tenant, .source = p->id.source,
		.auth_method = p->id.auth_method, .action = p->action,
		.object_kind = k->kind, .object_tenant = p->tenant,
		.object_name = p->name, .controls = k->controls,
	};
	return p;
}

/* Admits the object BODY that a create (CREATE) or replace asks for:
 * checks its names against the path, the caller's rights, quota and
 * network admission, and makes the pending change into *PP. *PP is the
 * caller's to free, on failure too (it holds the claims, released by
 * pending_free()). */
static int
write_admit(struct api_server *srv, struct evhttp_request *req,
    const struct api_route *rt, const struct authz_identity *id, int create,
    json_t *body, struct pending **pp, char **ret_err)
{
	const struct res_kind	*k = NULL;
	struct pending		*p;
	const char		*tenant, *name;
	int			 r;

	if ((r = res_validate(body, rt->kind, rt->tenant[0] ? rt->tenant :
	    (id->role == ROLE_TENANT_ADMIN || id->role == ROLE_TENANT_USER ?
	    id->tenant : NULL), &k, ret_err)) < 0)
		return r;
	tenant = res_tenant(body);
	name = res_name(body);
	if (rt->tenant[0] && k->scope == RES_TENANT && strcmp(rt->tenant, tenant))
		return errf(-BW_E_INVALID, ret_err,
		    "metadata.tenant: \"%s\" does not match the path's tenant \"%s\"",
		    tenant, rt->tenant);
	if (!create && strcmp(rt->name, name) != 0)
		return errf(-BW_E_INVALID, ret_err,
		    "metadata.name: \"%s\" does not match the path's name \"%s\"",
		    name, rt->name);
	if ((r = authz_check(id, VERB_WRITE, k, tenant, ret_err)) < 0)
		return r;
	if ((k->flags & RES_F_GRANTS_ROLE) &&
	    (r = principals_binding_write_check(srv->st, id, tenant, name, body,
	    ret_err)) < 0)
		return r;
	if (!(p = *pp = pending_new(srv, req, id, k, tenant, name,
	    create ? "create" : "replace")))
		return -ENOMEM;
	/* Counts the changes still being committed; the claim is held
	 * until this one's commit ends (pending_free()). */
	if ((r = quota_check(&srv->quota, srv->st, &srv->default_quota, k,
	    body, &p->quota_claim, ret_err)) < 0)
		return r;
	if ((r = res_key(k, tenant, name, p->key, sizeof(p->key))) < 0)
		return r;
	/* Reads every tenant's networks, so it needs the claim the pending
	 * change holds until its commit ends (pending_free()). */
	if ((k->flags & RES_F_CLAIMS_SUBNET) && (r = netadmit_check(
	    &srv->netadmit, srv->st, id, body, &p->net_claim, ret_err)) < 0)
		return r;
	return 0;
}

/* What a write keeps of the object it creates or replaces. */
struct write_keep {
	char	 uid[40], created[40];
	json_t	*prev_status;		/* owned */
	int	 status_code;		/* the answer on success */
};

/* Gives a new object its identity and creation time. */
static int
write_keep_new(struct pending *p, struct write_keep *wk)
{
	int	 r;

	p->creq.op.expect_rev = STORE_REV_ABSENT;
	if ((r = bw_uuid_v4(wk->uid)) < 0)
		return r;
	bw_time_rfc3339(wk->created, sizeof(wk->created), 0);
	wk->status_code = 201;
	return 0;
}

/* Decides what the write P of BODY keeps and the revision its commit
 * expects. Replace keeps identity, creation time and status; without a
 * revision from the client it is a create-or-replace guarded by the
 * revision we read (no lost update). Returns 1 when the client's
 * revision is not the stored one (p->creq.result says the conflict). */
static int
write_keep(struct api_server *srv, struct pending *p, json_t *body,
    int create, struct write_keep *wk)
{
	struct store_kv		*cur = NULL;
	_cleanup_json_ json_t	*old = NULL;
	json_t			*prev_md;
	uint64_t		 want_rev = res_revision(body);
	int			 r;

	if (create)
		return write_keep_new(p, wk);
	r = store_get(srv->st, p->key, &cur);
	if (r == -BW_E_NOTFOUND && want_rev == 0)
		return write_keep_new(p, wk);
	if (r < 0)
		return r;
	old = json_loadb(cur->value, cur->value_len, 0, NULL);
	prev_md = json_object_get(old, "metadata");
	snprintf(wk->uid, sizeof(wk->uid), "%s", json_string_value(
	    json_object_get(prev_md, "uid")) ?: "");
	snprintf(wk->created, sizeof(wk->created), "%s", json_string_value(
	    json_object_get(prev_md, "created")) ?: "");
	if (want_rev && want_rev != cur->mod_rev) {
		p->creq.result = -BW_E_CONFLICT;
		r = 1;
		goto out;
	}
	wk->prev_status = json_incref(json_object_get(old, "status"));
	p->prev = TAKE_PTR(old);
	p->prev_rev = cur->mod_rev;
	p->creq.op.expect_rev = cur->mod_rev;
	wk->status_code = 200;
	r = 0;
out:
	store_kv_free(cur);
	return r;
}

/* Makes P's document BODY's stored form, keeping what WK says (its
 * prev_status reference is consumed). */
static int
write_form(struct pending *p, json_t *body, struct write_keep *wk)
{
	p->doc = res_stored_form(body, wk->uid, wk->created, wk->prev_status);
	json_decref(wk->prev_status);
	wk->prev_status = NULL;
	if (!p->doc)
		return -ENOMEM;
	p->ok_status = wk->status_code;
	return 0;
}

/* Makes P the put of its document (write_form()): its stored bytes. A
 * write that changes nothing is answered before it (write_unchanged()),
 * without encoding what it would not store. */
static int
write_encode(struct pending *p)
{
	if (!(p->value = json_dumps(p->doc, JSON_COMPACT | JSON_SORT_KEYS)))
		return -ENOMEM;
	p->creq.op.type = STORE_OP_PUT;
	p->creq.op.key = p->key;
	p->creq.op.value = p->value;
	p->creq.op.value_len = strlen(p->value);
	return 0;
}

/* A replace whose stored form equals the object it replaces (the same
 * spec, labels and status: a repeated apply, an administrator's
 * heartbeat) changes nothing: it is answered with the stored object and
 * its revision, makes no new revision and no watch event, and is
 * recorded as a request that changed nothing (audit_request()), as
 * Kubernetes answers a no-op update. A write queued before it and not
 * yet acknowledged is concurrent with it, so answering from the stored
 * state orders this one first. Returns 1 when answered. */
static int
write_unchanged(struct api_server *srv, struct evhttp_request *req,
    struct pending *p)
{
	if (!p->prev || !json_equal(p->prev, p->doc))
		return 0;
	/* P goes with this answer: its document becomes the answer */
	json_object_set_new(json_object_get(p->doc, "metadata"), "revision",
	    json_integer((json_int_t)p->prev_rev));
	audit_request(srv, &p->id, p->action, p->kind, p->tenant, p->name,
	    "success", "unchanged: no new revision");
	reply_json(srv, req, p->ok_status, p->doc);
	return 1;
}

/* Create (POST to a collection) and replace (PUT to an item). */
static void
handle_write(struct api_server *srv, struct evhttp_request *req,
    const struct api_route *rt, const struct authz_identity *id, int create)
{
	_cleanup_free_ char	*err = NULL;
	_cleanup_json_ json_t	*body = NULL;
	struct pending		*p = NULL;
	struct write_keep	 wk = { .prev_status = NULL };
	char			 action[64];
	int			 r;

	action_name(action, sizeof(action), rt->kind, create ? "create" : "replace");
	if ((r = read_body(req, &body, &err)) < 0 ||
	    (r = write_admit(srv, req, rt, id, create, body, &p, &err)) < 0 ||
	    (r = write_keep(srv, p, body, create, &wk)) < 0)
		goto fail;
	if (r > 0)
		goto conflict;
	if ((r = write_form(p, body, &wk)) < 0)
		goto fail;
	if (write_unchanged(srv, req, p)) {
		pending_free(p);
		return;
	}
	if ((r = write_encode(p)) < 0)
		goto fail;
	commit_submit(srv->commit, &p->creq);
	return;
conflict:
	audit_request(srv, id, action, p->kind, p->tenant, p->name, "failure",
	    "revision conflict");
	pending_free(p);
	reply_error(srv, req, 409, "conflict",
	    "metadata.revision: the object changed since that revision; "
	    "read it again and retry");
	return;
fail:
	audit_request(srv, id, action, rt->kind, rt->tenant[0] ? rt->tenant :
	    NULL, rt->name, r == -BW_E_DENIED ? "denied" : "failure",
	    err ? err : bw_strerror(r));
	if (p)
		pending_free(p);
	if (r == -EPROTONOSUPPORT)
		reply_error(srv, req, 415, "unsupported_media_type", err);
	else
		reply_err_r(srv, req, r, r == -BW_E_NOTFOUND ? NULL : err);
}

/* ---- bulk apply: POST /v1/apply ---- */

/* A bulk apply's objects, admitted one by one as their own PUT would
 * be and committed as one group: all stored in one transaction, or
 * none. */
struct apply {
	struct api_server	*srv;
	struct evhttp_request	*req;
	struct authz_identity	 id;
	struct pending		**items;	/* N admitted so far */
	size_t			 n, left;
};

static void
apply_free(struct apply *a)
{
	if (!a)
		return;
	a->srv->applying--;
	for (size_t i = 0; i < a->n; i++)
		pending_free(a->items[i]);
	free(a->items);
	free(a);
}

/* Admits ITEM of a bulk apply into *PP exactly as a PUT of it to its
 * own path (create or replace) would be: schema, authorisation, quota
 * and network admission, revision. *PP is the caller's to free, on
 * failure too. */
static int
apply_admit(struct api_server *srv, struct evhttp_request *req,
    const struct authz_identity *id, json_t *item, struct pending **pp,
    char **ret_err)
{
	struct api_route	 rt = { .type = ROUTE_ITEM };
	struct write_keep	 wk = { .prev_status = NULL };
	const char		*kind, *name, *tenant;
	json_t			*md;
	int			 r;

	if (!json_is_object(item))
		return errf(-BW_E_INVALID, ret_err, "not an object");
	kind = json_string_value(json_object_get(item, "kind"));
	md = json_object_get(item, "metadata");
	name = json_string_value(json_object_get(md, "name"));
	tenant = json_string_value(json_object_get(md, "tenant"));
	if (!kind || !(rt.kind = res_kind_by_name(kind)))
		return errf(-BW_E_INVALID, ret_err, "kind: missing or unknown");
	if (!name || !schema_is_dns_label(name))
		return errf(-BW_E_INVALID, ret_err,
		    "metadata.name: missing or not a valid name");
	snprintf(rt.name, sizeof(rt.name), "%s", name);
	/* The path a PUT would name: the object's own tenant (or, for a
	 * tenant's principal without one, its caller's: write_admit). */
	if (rt.kind->scope == RES_TENANT && tenant) {
		if (!schema_is_dns_label(tenant))
			return errf(-BW_E_INVALID, ret_err,
			    "metadata.tenant: not a valid name");
		snprintf(rt.tenant, sizeof(rt.tenant), "%s", tenant);
	}
	if ((r = write_admit(srv, req, &rt, id, 0, item, pp, ret_err)) < 0 ||
	    (r = write_keep(srv, *pp, item, 0, &wk)) < 0)
		return r;
	if (r > 0)
		return errf(-BW_E_CONFLICT, ret_err, "metadata.revision: the "
		    "object changed since that revision; read it again and "
		    "retry");
	if ((r = write_form(*pp, item, &wk)) < 0 ||
	    (r = write_encode(*pp)) < 0)
		return r;
	/* the answer names objects, it does not render them */
	json_decref((*pp)->doc);
	(*pp)->doc = NULL;
	json_decref((*pp)->prev);
	(*pp)->prev = NULL;
	return 0;
}

/* "items[I] (Kind [tenant/]name)" for messages about an object; the
 * names as the client sent them (NULL: left out). */
static void
apply_label(size_t i, const char *kind, const char *tenant, const char *name,
    char *buf, size_t len)
{
	snprintf(buf, len, "items[%zu] (%.40s %.64s%s%.64s)", i,
	    kind ? kind : "?", tenant ? tenant : "", tenant ? "/" : "",
	    name ? name : "?");
}

static void
apply_item_name(const struct pending *p, size_t i, char *buf, size_t len)
{
	apply_label(i, p->kind->kind, p->kind->scope == RES_TENANT ?
	    p->tenant : NULL, p->name, buf, len);
}

static int
apply_key_cmp(const void *x, const void *y)
{
	const struct pending *a = *(struct pending *const *)x;
	const struct pending *b = *(struct pending *const *)y;

	return strcmp(a->key, b->key);
}

/* Refuses a bulk apply naming one object twice: each would be checked
 * against the same stored revision. */
static int
apply_unique(struct apply *a, char **ret_err)
{
	_cleanup_free_ struct pending **sorted = NULL;
	char	 one[200], two[200];
	size_t	 i, j, k;

	if (!(sorted = malloc(a->n * sizeof(*sorted))))
		return -ENOMEM;
	memcpy(sorted, a->items, a->n * sizeof(*sorted));
	qsort(sorted, a->n, sizeof(*sorted), apply_key_cmp);
	for (i = 1; i < a->n; i++) {
		if (strcmp(sorted[i - 1]->key, sorted[i]->key) != 0)
			continue;
		for (j = 0; a->items[j] != sorted[i - 1]; j++)
			;
		for (k = 0; a->items[k] != sorted[i]; k++)
			;
		apply_item_name(a->items[MIN(j, k)], MIN(j, k), one, sizeof(one));
		apply_item_name(a->items[MAX(j, k)], MAX(j, k), two, sizeof(two));
		return errf(-BW_E_INVALID, ret_err, "%s: the same object as %s",
		    two, one);
	}
	return 0;
}

/* Answers a bulk apply whose group the pipeline refused (R): nothing
 * was stored; the object whose precondition failed is named. */
static void
apply_refused(struct apply *a, int r)
{
	char	 what[200] = "", msg[400];
	size_t	 i;

	for (i = 0; i < a->n; i++)
		if (a->items[i]->creq.op.result < 0) {
			apply_item_name(a->items[i], i, what, sizeof(what));
			r = a->items[i]->creq.op.result;
			break;
		}
	if (r == -BW_E_EXISTS || r == -BW_E_CONFLICT || r == -BW_E_NOTFOUND)
		snprintf(msg, sizeof(msg), "%s: changed while this apply was "
		    "committed (%s); nothing was applied: read it again and "
		    "retry", what, bw_strerror(r));
	else
		snprintf(msg, sizeof(msg), "%s%s%s; nothing was applied", what,
		    what[0] ? ": " : "", r == -BW_E_AUDIT ? "the audit "
		    "records of these changes could not be made durable" :
		    bw_strerror(r));
	audit_request(a->srv, &a->id, "api.apply", NULL, NULL, NULL,
	    "failure", msg);
	if (r == -BW_E_NOSPACE || r == -ENOSPC)
		reply_store_full(a->srv, a->req);
	else if (r == -BW_E_AUDIT)
		reply_error(a->srv, a->req, 503, "audit_unavailable", msg);
	else if (r == -BW_E_EXISTS || r == -BW_E_CONFLICT || r == -BW_E_NOTFOUND)
		reply_error(a->srv, a->req, 409, "conflict", msg);
	else
		reply_err_r(a->srv, a->req, r, msg);
}

/* The pipeline is done with one object of a bulk apply; the last one
 * answers for all and frees them. */
static void
apply_item_done(struct commit_req *creq)
{
	struct apply	*a = creq->arg;
	json_t		*out, *items, *o;
	size_t		 i;

	if (--a->left > 0)
		return;
	if (a->items[0]->creq.result < 0) {
		apply_refused(a, a->items[0]->creq.result);
		apply_free(a);
		return;
	}
	items = json_array();
	for (i = 0; items && i < a->n; i++) {
		struct pending *p = a->items[i];

		o = json_pack("{s:s, s:s, s:I, s:s}", "kind", p->kind->kind,
		    "name", p->name, "revision", (json_int_t)p->creq.op.rev,
		    "result", p->ok_status == 201 ? "created" : "configured");
		if (o && p->kind->scope == RES_TENANT)
			json_object_set_new(o, "tenant", json_string(p->tenant));
		json_array_append_new(items, o);
	}
	out = json_pack("{s:I, s:o*}", "applied", (json_int_t)a->n, "items",
	    items);
	reply_json(a->srv, a->req, 200, out);
	json_decref(out);
	apply_free(a);
}

/* Admits every object of BODY ({"items": [...]}) into A, or fails
 * naming the first one refused. */
static int
apply_admit_all(struct apply *a, json_t *body, char **ret_err)
{
	json_t			*items = json_object_get(body, "items");
	json_t			*item, *md;
	size_t			 i, n = json_array_size(items);
	char			 what[200];
	int			 r;

	if (!json_is_object(body) || !json_is_array(items) ||
	    json_object_size(body) != 1)
		return errf(-BW_E_INVALID, ret_err,
		    "body: must be {\"items\": [OBJECT, ...]}");
	if (n == 0 || n > API_APPLY_ITEMS_MAX)
		return errf(-BW_E_INVALID, ret_err, "items: %zu objects; "
		    "one request applies 1 to %d", n, API_APPLY_ITEMS_MAX);
	if (!(a->items = calloc(n, sizeof(*a->items))))
		return -ENOMEM;
	json_array_foreach(items, i, item) {
		r = apply_admit(a->srv, a->req, &a->id, item, &a->items[a->n],
		    ret_err);
		if (a->items[a->n])
			a->n++;
		if (r < 0) {
			const char *kind = json_string_value(json_object_get(
			    item, "kind"));
			const struct res_kind *k = kind ? res_kind_by_name(kind) :
			    NULL;

			md = json_object_get(item, "metadata");
			apply_label(i, kind, k && k->scope != RES_TENANT ? NULL :
			    json_string_value(json_object_get(md, "tenant")),
			    json_string_value(json_object_get(md, "name")), what,
			    sizeof(what));
			return errf_wrap(r, ret_err, "%s", what);
		}
	}
	return apply_unique(a, ret_err);
}

/* POST /v1/apply: every object authorised, admitted and recorded as
 * its own PUT would be, all stored in one transaction or none; the
 * first object refused is named with why (docs/api.md). */
static void
handle_apply(struct api_server *srv, struct evhttp_request *req,
    const struct authz_identity *id)
{
	_cleanup_free_ char	*err = NULL;
	_cleanup_json_ json_t	*body = NULL;
	struct apply		*a;
	struct commit_req	**reqs = NULL;
	int			 r;

	/* Each object admitted holds a few KiB until the commit: the
	 * requests in flight are bounded, not only their bodies. */
	if (srv->applying >= API_APPLY_INFLIGHT_MAX) {
		audit_request(srv, id, "api.apply", NULL, NULL, NULL, "denied",
		    "too many bulk applies in flight");
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Retry-After", "1");
		reply_error(srv, req, 503, "busy", "too many bulk applies in "
		    "flight; retry");
		return;
	}
	if (!(a = calloc(1, sizeof(*a)))) {
		reply_err_r(srv, req, -ENOMEM, NULL);
		return;
	}
	srv->applying++;
	a->srv = srv;
	a->req = req;
	a->id = *id;
	if ((r = read_body(req, &body, &err)) < 0 ||
	    (r = apply_admit_all(a, body, &err)) < 0)
		goto fail;
	if (!(reqs = calloc(a->n, sizeof(*reqs)))) {
		r = -ENOMEM;
		goto fail;
	}
	for (size_t i = 0; i < a->n; i++) {
		a->items[i]->creq.done = apply_item_done;
		a->items[i]->creq.arg = a;
		reqs[i] = &a->items[i]->creq;
	}
	a->left = a->n;
	commit_submit_group(srv->commit, reqs, a->n);
	free(reqs);
	return;
fail:
	audit_request(srv, id, "api.apply", NULL, NULL, NULL,
	    r == -BW_E_DENIED ? "denied" : "failure", err ? err : bw_strerror(r));
	apply_free(a);
	if (r == -EPROTONOSUPPORT)
		reply_error(srv, req, 415, "unsupported_media_type", err);
	else
		reply_err_r(srv, req, r, err);
}

/* Deleting a Node or a Tenant ends the access it carried: the node's
 * certificate and any bootstrap credential left, or every principal
 * certificate of the tenant. Decided before the delete is submitted
 * (P, for delete_revoke_committed()), done only once it has committed:
 * a delete refused (404, 409, 507) revokes nothing. Tenant system
 * cannot be deleted, nor a tenant holding a principal the caller may
 * not revoke (an auditor: authz_may_grant()). A Node's delete is pinned
 * to the revision whose serials were read (*EXPECT_REV), so a node
 * that re-enrols meanwhile makes it a conflict, not a live certificate. */
static int
delete_revokes(struct api_server *srv, const struct api_route *rt,
    const struct authz_identity *id, struct pending *p, uint64_t *expect_rev,
    char **ret_err)
{
	_cleanup_json_ json_t	*doc = NULL;
	struct store_kv		*kv = NULL;
	char			 key[RES_KEY_MAX];
	const char		*serial;
	json_t			*st;
	int			 r;

	if (rt->kind->scope != RES_CLUSTER)
		return 0;
	if (rt->kind->flags & RES_F_TENANT_DEFINING) {
		if ((r = principals_tenant_delete_check(srv->st, id, rt->name,
		    ret_err)) < 0)
			return r;
		p->revoke_tenant = srv->principals != NULL;
		return 0;
	}
	if (!srv->principals || !(rt->kind->flags & RES_F_NODE))
		return 0;
	if ((r = res_key(rt->kind, NULL, rt->name, key, sizeof(key))) < 0 ||
	    (r = store_get(srv->st, key, &kv)) < 0)
		return r == -BW_E_NOTFOUND ? 0 : r;
	if (*expect_rev == STORE_REV_ANY)
		*expect_rev = kv->mod_rev;
	doc = json_loadb(kv->value, kv->value_len, 0, NULL);
	store_kv_free(kv);
	st = json_object_get(doc, "status");
	serial = json_string_value(json_object_get(json_object_get(st,
	    "certificate"), "serial"));
	snprintf(p->revoke_serial[0], sizeof(p->revoke_serial[0]), "%s",
	    serial ? serial : "");
	serial = json_string_value(json_object_get(json_object_get(st,
	    "enrolment"), "bootstrap_serial"));
	snprintf(p->revoke_serial[1], sizeof(p->revoke_serial[1]), "%s",
	    serial ? serial : "");
	return 0;
}

/* The revocations delete_revokes() decided, for P's committed delete.
 * A failure here cannot undo the delete; it is logged and audited, and
 * the principals stay refused (tenant_stands(), node_stands()) as long
 * as their Tenant or Node does not exist. */
static void
delete_revoke_committed(struct pending *p)
{
	_cleanup_free_ char	*err = NULL;
	size_t			 i;
	int			 r = 0;

	if (!p->srv->principals)
		return;
	if (p->revoke_tenant)
		r = principals_disable_tenant(p->srv->principals, p->srv->st,
		    &p->id, p->name, &err);
	for (i = 0; r == 0 && i < ELEMENTSOF(p->revoke_serial); i++)
		if (p->revoke_serial[i][0])
			r = principals_revoke_serial(p->srv->principals,
			    p->revoke_serial[i], &err);
	if (r == 0)
		return;
	log_error("%s %s deleted, but revoking what it carried failed: %s",
	    p->kind->kind, p->name, err ? err : bw_strerror(r));
	audit_request(p->srv, &p->id, p->action, p->kind, p->tenant, p->name,
	    "failure", "deleted, but revoking its certificates failed");
}

static void
handle_delete(struct api_server *srv, struct evhttp_request *req,
    const struct api_route *rt, const struct authz_identity *id,
    struct evkeyvalq *q)
{
	_cleanup_free_ char	*err = NULL;
	struct pending		*p = NULL;
	const char		*tenant = rt->kind->scope == RES_TENANT ?
	    rt->tenant : RES_SYSTEM_TENANT;
	const char		*revs = query_get(req, q, "revision");
	char			 action[64];
	uint64_t		 rev = 0, expect_rev;
	int			 r;

	action_name(action, sizeof(action), rt->kind, "delete");
	if (revs && parse_u64(revs, &rev) < 0) {
		r = errf(-BW_E_INVALID, &err, "revision: must be an unsigned integer");
		goto fail;
	}
	if ((r = authz_check(id, VERB_WRITE, rt->kind, tenant, &err)) < 0)
		goto fail;
	if ((rt->kind->flags & RES_F_GRANTS_ROLE) &&
	    (r = principals_binding_write_check(srv->st, id, tenant, rt->name,
	    NULL, &err)) < 0)
		goto fail;
	if (!(p = pending_new(srv, req, id, rt->kind, tenant, rt->name, "delete"))) {
		r = -ENOMEM;
		goto fail;
	}
	expect_rev = rev ? rev : STORE_REV_ANY;
	if ((r = delete_revokes(srv, rt, id, p, &expect_rev, &err)) < 0)
		goto fail;
	if ((r = res_key(rt->kind, rt->tenant, rt->name, p->key, sizeof(p->key))) < 0)
		goto fail;
	p->ok_status = 200;
	p->creq.op.type = STORE_OP_DELETE;
	p->creq.op.key = p->key;
	p->creq.op.expect_rev = expect_rev;
	commit_submit(srv->commit, &p->creq);
	return;
fail:
	if (p)
		pending_free(p);
	audit_request(srv, id, action, rt->kind, tenant, rt->name,
	    r == -BW_E_DENIED ? "denied" : "failure", err ? err : bw_strerror(r));
	reply_err_r(srv, req, r, r == -BW_E_NOTFOUND ? NULL : err);
}

/* Status subresource: a node reports its own status and that of the
 * instances bound to it. Only the node itself may write (the node's
 * certificate CN is its name); spec stays the admin's. */
/* An instance status report BODY may carry the duration of the start
 * its agent measured (start_seconds, a number 0..86400); it is counted
 * once per run, when the report's "started" differs from CUR's.
 * Returns 0, or -BW_E_INVALID with *ret_err for a malformed value. */
static int
instance_start_reported(struct api_server *srv, const json_t *cur,
    const json_t *body, char **ret_err)
{
	const json_t	*v = json_object_get(body, "start_seconds");
	const char	*was = json_str_at(cur, "status", "started");
	const char	*now = json_str_at(body, "started", NULL);
	double		 d;

	if (!v)
		return 0;
	d = json_number_value(v);
	if (!json_is_number(v) || d < 0 || d > 86400)
		return errf(-BW_E_INVALID, ret_err, "status.start_seconds: "
		    "must be a number of seconds, 0..86400");
	if (now && (!was || strcmp(was, now) != 0))
		metrics_observe_instance_start(srv->metrics, d);
	return 0;
}

static void
handle_status(struct api_server *srv, struct evhttp_request *req,
    const struct api_route *rt, const struct authz_identity *id)
{
	_cleanup_free_ char	*err = NULL;
	_cleanup_json_ json_t	*body = NULL, *cur = NULL;
	struct store_kv		*kv = NULL;
	struct pending		*p = NULL;
	const char		*tenant = rt->kind->scope == RES_TENANT ?
	    rt->tenant : RES_SYSTEM_TENANT;
	const char		*owner;
	char			 action[64];
	int			 r;

	action_name(action, sizeof(action), rt->kind, "status");
	if ((r = read_body(req, &body, &err)) < 0)
		goto fail;
	if (!json_is_object(body)) {
		r = errf(-BW_E_INVALID, &err, "body: status must be a JSON object");
		goto fail;
	}
	/* The same decision as every endpoint: a node-bootstrap credential
	 * (role node to the parser) enrols and writes nothing. An enrolled
	 * node's standing (node_stands()) was checked by identify(). */
	if ((r = authz_check(id, VERB_STATUS, rt->kind, tenant, &err)) < 0)
		goto fail;
	if (!(p = pending_new(srv, req, id, rt->kind, tenant, rt->name, "status"))) {
		r = -ENOMEM;
		goto fail;
	}
	if ((r = res_key(rt->kind, rt->tenant, rt->name, p->key, sizeof(p->key))) < 0)
		goto fail;
	if ((r = store_get(srv->st, p->key, &kv)) < 0)
		goto fail;
	cur = json_loadb(kv->value, kv->value_len, 0, NULL);
	owner = rt->kind->flags & RES_F_NODE ? rt->name :
	    rt->kind->node_field ? spec_str(cur, rt->kind->node_field) : NULL;
	if (!cur || !owner || strcmp(owner, id->principal) != 0) {
		r = errf(-BW_E_DENIED, &err, "node %s may only report its own "
		    "status and its instances'", id->principal);
		goto fail;
	}
	if (rt->kind->flags & RES_F_NODE) {
		/* Allow-list: a node may write only status.agent (what its
		 * agent reports). Everything else in a Node's status (phase,
		 * attestation, golden PCRs, its enrolled identity) is the
		 * control plane's verdict and keeps its value. */
		json_t *st = json_object_get(cur, "status");
		json_t *agent = json_object_get(body, "agent");

		if (!json_is_object(st)) {
			json_object_set_new(cur, "status", json_object());
			st = json_object_get(cur, "status");
		}
		if (!json_is_object(agent)) {
			r = errf(-BW_E_INVALID, &err,
			    "status.agent: a node reports an object here and "
			    "nothing else");
			goto fail;
		}
		json_object_set(st, "agent", agent);
	} else {
		const char *ev = json_string_value(json_object_get(body,
		    "last_event"));

		if ((r = instance_start_reported(srv, cur, body, &err)) < 0)
			goto fail;
		json_object_set(cur, "status", body);
		if (ev) {
			/* the record says what happened, not just "status" */
			snprintf(p->creq.reason, sizeof(p->creq.reason), "%.150s", ev);
			p->creq.rec.reason = p->creq.reason;
		}
	}
	p->doc = json_incref(cur);
	if (!(p->value = json_dumps(cur, JSON_COMPACT | JSON_SORT_KEYS))) {
		r = -ENOMEM;
		goto fail;
	}
	p->ok_status = 200;
	p->creq.op = (struct store_op){ .type = STORE_OP_PUT, .key = p->key,
	    .value = p->value, .value_len = strlen(p->value),
	    .expect_rev = kv->mod_rev };
	store_kv_free(kv);
	commit_submit(srv->commit, &p->creq);
	return;
fail:
	store_kv_free(kv);
	if (p)
		pending_free(p);
	audit_request(srv, id, action, rt->kind, tenant, rt->name,
	    r == -BW_E_DENIED ? "denied" : "failure", err ? err : bw_strerror(r));
	if (r == -EPROTONOSUPPORT)
		reply_error(srv, req, 415, "unsupported_media_type", err);
	else
		reply_err_r(srv, req, r, r == -BW_E_NOTFOUND ? NULL : err);
}

/* ---- watch ---- */

static void
watcher_free(struct watcher *w)
{
	TAILQ_REMOVE(&w->srv->watchers, w, entry);
	if (w->poll_ev)
		event_free(w->poll_ev);
	if (w->stall_ev)
		event_free(w->stall_ev);
	free(w);
}

/* Ends the stream (the reply's last chunk) and frees the watcher. */
static void
watcher_end(struct watcher *w)
{
	evhttp_send_reply_end(w->req);	/* frees a detached request too */
	watcher_free(w);
}

static void
watch_poll_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	watcher_end(arg);
}

/* Bytes queued on the watch's connection and not yet taken by the
 * socket; (size_t)-1 once the connection is gone. */
static size_t
watcher_backlog(struct watcher *w)
{
	struct evhttp_connection	*evcon = evhttp_request_get_connection(w->req);
	struct bufferevent		*bev;

	if (!evcon || !(bev = evhttp_connection_get_bufferevent(evcon)))
		return (size_t)-1;
	return evbuffer_get_length(bufferevent_get_output(bev));
}

static int watcher_pump(struct watcher *w);

/* evhttp calls this when the connection's output has drained. */
static void
watch_drained_cb(struct evhttp_connection *evcon, void *arg)
{
	struct watcher *w = arg;

	(void)evcon;
	if (!w->blocked)
		return;
	w->blocked = 0;
	evtimer_del(w->stall_ev);
	w->srv->pump_gen++;	/* a pass of its own */
	watcher_pump(w);
}

/* Queues BUF on the stream; the drain callback stays ours. */
static void
watcher_send(struct watcher *w, struct evbuffer *buf)
{
	evhttp_send_reply_chunk_with_cb(w->req, buf, watch_drained_cb, w);
}

/* The client did not take its last batch in API_WATCH_STALL_SECS: end
 * the stream with a line saying why and where to resume. */
static void
watch_stall_cb(evutil_socket_t fd, short what, void *arg)
{
	struct watcher	*w = arg;
	struct evbuffer	*buf;

	(void)fd;
	(void)what;
	w->srv->watch_ended_slow++;
	if (evhttp_request_get_connection(w->req) && (buf = evbuffer_new())) {
		evbuffer_add_printf(buf, "{\"type\":\"ERROR\",\"revision\":%"
		    PRIu64 ",\"error\":{\"code\":\"too_slow\",\"message\":"
		    "\"the client took no data for %d s: watch again with "
		    "since=%" PRIu64 "\"}}\n", w->rev, API_WATCH_STALL_SECS,
		    w->rev);
		evhttp_send_reply_chunk(w->req, buf);
		evbuffer_free(buf);
	}
	watcher_end(w);
}

/* A stream is only as good as its identity: checked again before each
 * batch and heartbeat, as every request is, the stream ends (an ERROR
 * line, then the end) once the certificate is revoked, the role binding
 * or the tenant is gone, or a node lost trust. Returns 0, or -BW_E_UNAUTH when
 * the stream ended (the watcher is freed). */
static int
watcher_recheck(struct watcher *w)
{
	_cleanup_free_ char	*err = NULL, *s = NULL;
	_cleanup_json_ json_t	*line = NULL;
	struct evbuffer		*buf;

	if (identity_stands(w->srv, &w->id, &w->grant, 0, &err) == 0)
		return 0;
	audit_request(w->srv, &w->id, "api.watch.end", w->kind, NULL, NULL,
	    "denied", err);
	line = json_pack("{s:s, s:{s:s, s:s}}", "type", "ERROR", "error",
	    "code", "unauthenticated", "message", err ? err :
	    "the identity no longer stands");
	if (line && (s = json_dumps(line, JSON_COMPACT)) &&
	    (buf = evbuffer_new())) {
		evbuffer_add(buf, s, strlen(s));
		evbuffer_add(buf, "\n", 1);
		evhttp_send_reply_chunk(w->req, buf);
		evbuffer_free(buf);
	}
	watcher_end(w);
	return -BW_E_UNAUTH;
}

/* Sends every change after w->rev the watcher may see. Returns 0, or a
 * negative code when the stream ended (the watcher is freed): -EPIPE
 * when the client is gone or a poll's answer was sent, the recheck's or
 * the store's code otherwise. */
/* Whether S needs no escaping in JSON (names are DNS labels, kinds
 * words: this only guards the text path below). */
static int
json_plain(const char *s)
{
	for (; *s; s++)
		if (*s == '"' || *s == '\\' || (unsigned char)*s < 0x20)
			return 0;
	return 1;
}

/* Adds to BUF the watch line of the change EV (of kind K, TENANT, NAME)
 * as text, from the stored value and its revision without parsing and
 * dumping it again (res_metadata_end()): the same bytes the json_pack()
 * path gives. Returns 0, or -BW_E_INVALID for a change it does not
 * render (a delete, unusual text): the caller renders it as JSON. */
static int
watch_line_text(struct evbuffer *buf, const struct store_event *ev,
    const struct res_kind *k, const char *tenant, const char *name)
{
	int	 empty;
	long	 at;

	if (ev->type != STORE_OP_PUT || !json_plain(k->kind) ||
	    !json_plain(tenant) || !json_plain(name) ||
	    (at = res_metadata_end(ev->value, ev->value_len, &empty)) < 0)
		return -BW_E_INVALID;
	evbuffer_add_printf(buf, "{\"type\":\"PUT\",\"revision\":%ju,"
	    "\"kind\":\"%s\",\"tenant\":\"%s\",\"name\":\"%s\",\"object\":",
	    (uintmax_t)ev->rev, k->kind, tenant, name);
	evbuffer_add(buf, ev->value, (size_t)at);
	evbuffer_add_printf(buf, "%s\"revision\":%ju", empty ? "" : ",",
	    (uintmax_t)ev->rev);
	evbuffer_add(buf, (const char *)ev->value + at, ev->value_len - (size_t)at);
	evbuffer_add(buf, "}\n", 2);
	return 0;
}

/* Whether W's watch carries change EV (of kind K, TENANT, NAME) as far
 * as its node is concerned: every change for a watcher not a node's; a
 * node's filtered per object, decided once per change for every node
 * watcher of the pass (nodeview_sees_change()). 1, 0 or a store error. */
static int
watch_node_sees(struct watcher *w, const struct store_event *ev,
    const struct res_kind *k, const char *tenant, const char *name)
{
	if (w->id.role != ROLE_NODE)
		return 1;
	return nodeview_sees_change(w->srv->view, w->srv->pump_gen, w->srv->st,
	    ev, k, tenant, name, w->id.principal);
}

static int
watcher_pump(struct watcher *w)
{
	struct store_event	*ev = NULL;
	struct evbuffer		*buf;
	size_t			 n, i;
	uint64_t		 prev;
	int			 r, stop = 0;

	if (!evhttp_request_get_connection(w->req)) {
		watcher_end(w);
		return -EPIPE;
	}
	if ((r = watcher_recheck(w)) < 0)
		return r;
	for (;;) {
		size_t backlog = watcher_backlog(w);

		if (w->blocked)
			return 0;
		if (backlog == (size_t)-1) {
			watcher_end(w);
			return -EPIPE;
		}
		if (backlog >= WATCH_LOW_WATER) {
			struct timeval tv = { API_WATCH_STALL_SECS, 0 };

			w->blocked = 1;
			evtimer_add(w->stall_ev, &tv);
			return 0;
		}
		r = store_changes(w->srv->st, "/r/", w->rev, WATCH_BATCH, &ev, &n);
		if (r < 0) {
			/* Fell behind the compaction horizon: the client
			 * must list again and resume from that revision. */
			buf = evbuffer_new();
			if (buf) {
				evbuffer_add_printf(buf, "{\"type\":\"ERROR\",\"error\":"
				    "{\"code\":\"%s\",\"message\":\"%s\"}}\n",
				    bw_errcode(r), bw_strerror(r));
				evhttp_send_reply_chunk(w->req, buf);
				evbuffer_free(buf);
			}
			evhttp_send_reply_end(w->req);
			watcher_free(w);
			return r;
		}
		if (n == 0)
			break;
		if (!(buf = evbuffer_new())) {
			store_events_free(ev, n);
			break;
		}
		for (i = 0; i < n && !stop &&
		    evbuffer_get_length(buf) < WATCH_CHUNK_MAX; i++) {
			const struct res_kind	*k;
			char			 tenant[64], name[64];
			json_t			*line, *obj = NULL;
			char			*s;

			prev = w->rev;
			w->rev = ev[i].rev;
			if (res_key_parse(ev[i].key, &k, tenant, sizeof(tenant),
			    name, sizeof(name)) < 0)
				continue;
			if (w->kind && w->kind != k)
				continue;
			if (authz_check(&w->id, VERB_READ, k, tenant, NULL) < 0)
				continue;
			if (k->scope == RES_TENANT ?
			    !authz_tenant_visible(&w->id, tenant) :
			    ((k->flags & RES_F_TENANT_DEFINING) &&
			    !authz_tenant_visible(&w->id, name)))
				continue;
			/* a store that could not be read stops the batch
			 * before the change: the next pass decides it */
			if ((r = watch_node_sees(w, &ev[i], k, tenant,
			    name)) <= 0) {
				if (r < 0) {
					w->rev = prev;
					stop = 1;
				}
				continue;
			}
			if (watch_line_text(buf, &ev[i], k, tenant, name) == 0)
				continue;
			if (ev[i].type == STORE_OP_PUT)
				obj = res_render(ev[i].value, ev[i].value_len,
				    ev[i].rev);
			line = json_pack("{s:s, s:I, s:s, s:s, s:s, s:o*}",
			    "type", ev[i].type == STORE_OP_PUT ? "PUT" : "DELETE",
			    "revision", (json_int_t)ev[i].rev, "kind", k->kind,
			    "tenant", tenant, "name", name, "object", obj);
			if (!line)
				continue;
			if ((s = json_dumps(line, JSON_COMPACT))) {
				evbuffer_add(buf, s, strlen(s));
				evbuffer_add(buf, "\n", 1);
				free(s);
			}
			json_decref(line);
		}
		store_events_free(ev, n);
		if (buf) {
			size_t sent = evbuffer_get_length(buf);

			if (sent > 0)
				watcher_send(w, buf);
			evbuffer_free(buf);
			if (sent > 0 && w->poll_ev) {
				watcher_end(w);
				return -EPIPE;
			}
		}
		if (stop || (n < WATCH_BATCH && i == n))
			break;
	}
	return 0;
}

static void
watch_notify_all(struct api_server *srv)
{
	struct watcher *w, *next;

	srv->pump_gen++;
	for (w = TAILQ_FIRST(&srv->watchers); w; w = next) {
		next = TAILQ_NEXT(w, entry);
		watcher_pump(w);
	}
}

unsigned
api_watch_wake_node(struct api_server *srv, const char *node)
{
	struct watcher	*w, *next;
	unsigned	 n = 0;

	for (w = TAILQ_FIRST(&srv->watchers); w; w = next) {
		next = TAILQ_NEXT(w, entry);
		if (w->id.role == ROLE_NODE && w->poll_ev &&
		    strcmp(w->id.principal, node) == 0) {
			watcher_end(w);
			n++;
		}
	}
	return n;
}

static void
heartbeat_cb(evutil_socket_t fd, short what, void *arg)
{
	struct api_server	*srv = arg;
	struct watcher		*w, *next;
	struct evbuffer		*buf;

	srv->pump_gen++;
	for (w = TAILQ_FIRST(&srv->watchers); w; w = next) {
		next = TAILQ_NEXT(w, entry);
		if (watcher_pump(w) < 0 || w->poll_ev || w->blocked)
			continue;
		if (!(buf = evbuffer_new()))
			continue;
		evbuffer_add_printf(buf, "{\"type\":\"HEARTBEAT\",\"revision\":%"
		    PRIu64 "}\n", w->rev);
		watcher_send(w, buf);
		evbuffer_free(buf);
	}
}

unsigned
api_conn_unreserved(unsigned max_conns)
{
	unsigned reserved = max_conns * API_CONN_RESERVED_PCT / 100;

	if (reserved == 0 && max_conns > 1)
		reserved = 1;
	return max_conns - reserved;
}

unsigned
api_watch_node_room(unsigned max_conns, unsigned tenant_conns)
{
	unsigned n = api_conn_unreserved(max_conns);

	n = n > tenant_conns ? n - tenant_conns : 0;
	return n < API_WATCH_NODE_MAX ? n : API_WATCH_NODE_MAX;
}

/* The room with no tenant connection open. */
unsigned
api_watch_node_max(unsigned max_conns)
{
	return api_watch_node_room(max_conns, 0);
}

/* Node principals' watches open on SRV. */
static unsigned
watch_count_nodes(struct api_server *srv)
{
	struct watcher	*o;
	unsigned	 n = 0;

	TAILQ_FOREACH(o, &srv->watchers, entry)
		if (o->id.role == ROLE_NODE)
			n++;
	return n;
}

unsigned
api_watch_per_principal(int is_node)
{
	return is_node ? API_WATCH_PER_NODE : API_WATCH_PER_PRINCIPAL;
}

enum api_watch_admit
api_watch_admit(int is_node, unsigned mine, unsigned people, unsigned nodes,
    unsigned node_max)
{
	if (mine >= api_watch_per_principal(is_node))
		return API_WATCH_FULL_PRINCIPAL;
	if (is_node)
		return nodes >= node_max ? API_WATCH_FULL_NODES :
		    API_WATCH_ADMIT;
	return people >= API_WATCH_MAX ? API_WATCH_FULL_PEOPLE :
	    API_WATCH_ADMIT;
}

static void
handle_watch(struct api_server *srv, struct evhttp_request *req,
    const struct authz_identity *id, struct evkeyvalq *q)
{
	const char	*since = query_get(req, q, "since");
	const char	*kind = query_get(req, q, "kind");
	const char	*poll = query_get(req, q, "poll");
	struct watcher	*w, *o;
	uint64_t	 rev = 0, poll_ms = 0;
	unsigned	 people = 0, nodes = 0, mine = 0, tenants;
	unsigned	 node_max;
	enum api_watch_admit adm;
	char		 msg[160];

	if (since && parse_u64(since, &rev) < 0) {
		audit_request(srv, id, "api.watch", NULL, NULL, NULL, "failure",
		    "since: must be an unsigned integer");
		reply_error(srv, req, 400, "invalid",
		    "since: must be an unsigned integer");
		return;
	}
	if (poll && (parse_u64(poll, &poll_ms) < 0 || poll_ms < 1 ||
	    poll_ms > WATCH_POLL_MAX_MS)) {
		audit_request(srv, id, "api.watch", NULL, NULL, NULL, "failure",
		    "poll: must be an integer 1..60000 (milliseconds)");
		reply_error(srv, req, 400, "invalid",
		    "poll: must be an integer 1..60000 (milliseconds)");
		return;
	}
	if (!since)
		rev = store_revision(srv->st);
	if (rev < store_compacted_revision(srv->st)) {
		audit_request(srv, id, "api.watch", NULL, NULL, NULL, "failure",
		    "compacted");
		reply_error(srv, req, 410, "compacted",
		    "since: revision is older than the compaction horizon; "
		    "list again and watch from the list's revision");
		return;
	}
	/* Each watch holds a connection and up to a batch of memory:
	 * bounded per principal, and in all for nodes and for the rest
	 * apart (api_watch_admit()); node watches also leave the slots
	 * reserved for system roles free, sharing the others with the
	 * tenant roles' connections (api_watch_node_room(); conn_admit()
	 * counts the node watches against the tenant roles). */
	tenants = conn_count(srv, NULL, NULL, CONN_TENANT);
	node_max = api_watch_node_room(srv->max_conns, tenants);
	TAILQ_FOREACH(o, &srv->watchers, entry) {
		if (o->id.role == ROLE_NODE)
			nodes++;
		else
			people++;
		if (strcmp(o->id.principal, id->principal) == 0 &&
		    strcmp(o->id.tenant, id->tenant) == 0)
			mine++;
	}
	adm = api_watch_admit(id->role == ROLE_NODE, mine, people, nodes,
	    node_max);
	if (adm != API_WATCH_ADMIT) {
		srv->watch_refused++;
		if (adm == API_WATCH_FULL_PRINCIPAL)
			snprintf(msg, sizeof(msg), "%s already has %u open "
			    "watches (the limit per %s: %u)", id->principal,
			    mine, id->role == ROLE_NODE ? "node" : "principal",
			    api_watch_per_principal(id->role == ROLE_NODE));
		else if (adm == API_WATCH_FULL_NODES)
			snprintf(msg, sizeof(msg), "%u node watches are open "
			    "(the server's limit for nodes: %u, with %u tenant "
			    "connections open)", nodes, node_max, tenants);
		else
			snprintf(msg, sizeof(msg), "%u watches are open (the "
			    "server's limit)", people);
		audit_request(srv, id, "api.watch", NULL, NULL, NULL, "denied",
		    msg);
		reply_error(srv, req, 429, "too_many_watches", msg);
		return;
	}
	if (!(w = calloc(1, sizeof(*w))) ||
	    !(w->stall_ev = evtimer_new(srv->base, watch_stall_cb, w))) {
		free(w);
		reply_error(srv, req, 500, "internal", "out of memory");
		return;
	}
	if (kind && !(w->kind = res_kind_lookup(kind))) {
		event_free(w->stall_ev);
		free(w);
		reply_error(srv, req, 400, "invalid", "kind: unknown kind");
		return;
	}
	if (poll_ms) {
		struct timeval tv = { (time_t)(poll_ms / 1000),
		    (suseconds_t)(poll_ms % 1000) * 1000 };

		if (!(w->poll_ev = evtimer_new(srv->base, watch_poll_timeout_cb,
		    w)) || evtimer_add(w->poll_ev, &tv) < 0) {
			if (w->poll_ev)
				event_free(w->poll_ev);
			event_free(w->stall_ev);
			free(w);
			reply_error(srv, req, 500, "internal", "out of memory");
			return;
		}
	}
	w->srv = srv;
	w->req = req;
	w->id = *id;
	w->rev = rev;
	TAILQ_INSERT_TAIL(&srv->watchers, w, entry);
	audit_request(srv, id, "api.watch", w->kind, NULL, NULL, "success", NULL);
	srv->requests[2]++;
	request_observed(srv, req, 200);
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", "application/x-ndjson");
	evhttp_send_reply_start(req, 200, "OK");
	srv->pump_gen++;	/* a pass of its own */
	watcher_pump(w);
}

/* ---- audit search (security-auditor only) ---- */

#define AUDIT_SEARCH_DEFAULT	1000
#define AUDIT_SEARCH_MAX	10000

struct search_ctx {
	json_t	*items;
	size_t	 limit;
	int	 truncated;
};

static int
search_cb(const struct audit_record *rec, const char *line, size_t len,
    void *arg)
{
	struct search_ctx	*sc = arg;
	char			 ts[AUDIT_TIME_LEN + 1];
	json_t			*o;

	if (json_array_size(sc->items) >= sc->limit) {
		sc->truncated = 1;
		return 1;
	}
	audit_time_format(&rec->time, ts);
	o = json_pack("{s:I, s:s, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, "
	    "s:{s:s?, s:s?, s:s?, s:I}, s:s?, s:s?, s:s?}",
	    "seq", (json_int_t)rec->seq, "time", ts, "actor", rec->actor,
	    "role", rec->role, "tenant", rec->tenant, "source", rec->source,
	    "auth_method", rec->auth_method, "action", rec->action,
	    "object", "kind", rec->object_kind, "tenant", rec->object_tenant,
	    "name", rec->object_name, "revision",
	    (json_int_t)rec->object_revision, "outcome", rec->outcome,
	    "reason", rec->reason, "controls", rec->controls);
	if (o)
		json_array_append_new(sc->items, o);
	return 0;
}

static int
query_time(struct evkeyvalq *q, const char *key, struct timespec *ret,
    char **ret_err)
{
	const char *v = evhttp_find_header(q, key);

	if (!v)
		return 0;
	if (audit_time_parse(v, strlen(v), ret) < 0)
		return errf(-BW_E_INVALID, ret_err,
		    "%s: must be an RFC 3339 UTC time like "
		    "2026-11-26T18:00:00.000000000Z", key);
	return 0;
}

/* An audit search on an offload worker: it owns copies of everything
 * it reads (filter, directory) and touches nothing of the loop's. */
struct search_job {
	struct api_server		*srv;
	struct evhttp_request		*req;
	struct authz_identity		 id;
	struct audit_search_filter	 f;
	struct search_ctx		 sc;
	char				*dir;
	char				*strs[7];	/* f's strings */
	char				*err;
	int				 r;
};

static void
search_job_free(struct search_job *j)
{
	for (size_t i = 0; i < ELEMENTSOF(j->strs); i++)
		free(j->strs[i]);
	json_decref(j->sc.items);
	free(j->dir);
	free(j->err);
	free(j);
}

/* A search ends early when the daemon stops. */
static int
search_job_cancelled(void *arg)
{
	struct search_job *j = arg;

	if (offload_stopping(j->srv->offload))
		return errf(-BW_E_UNAVAILABLE, &j->err,
		    "the server is shutting down");
	return 0;
}

static int
search_job_cb(const struct audit_record *rec, const char *line, size_t len,
    void *arg)
{
	struct search_job	*j = arg;
	int			 r;

	if ((r = search_job_cancelled(j)) != 0)
		return r;
	return search_cb(rec, line, len, &j->sc);
}

/* Worker thread. First has the trail take the records of the requests
 * answered before the search (acknowledged mutations' records reach it
 * a little after their replies, records of requests that changed
 * nothing gather on the committer's queue): the flush may wait for the
 * committer's current batch (a store commit) and for a trail append,
 * which the loop never does. */
static void
search_job_run(void *arg)
{
	struct search_job *j = arg;

	if (j->srv->commit)
		commit_audit_flush(j->srv->commit);
	j->r = audit_search_dir(j->dir, &j->f, search_job_cb, j, &j->err);
}

/* Loop thread: answers and records the search as the loop would have. */
static void
search_job_done(void *arg, bool cancelled)
{
	struct search_job	*j = arg;
	_cleanup_json_ json_t	*out = NULL;
	int			 r = j->r;

	if (cancelled)
		r = errf(-BW_E_UNAVAILABLE, &j->err, "the server is shutting down");
	else if (r >= 0 && !(out = json_pack("{s:s, s:O, s:b}", "kind",
	    "AuditRecordList", "items", j->sc.items, "truncated",
	    j->sc.truncated)))
		r = -ENOMEM;
	if (r < 0) {
		audit_request(j->srv, &j->id, "audit.search", NULL, NULL, NULL,
		    "failure", j->err ? j->err : bw_strerror(r));
		reply_err_r(j->srv, j->req, r, j->err);
	} else {
		audit_request(j->srv, &j->id, "audit.search", NULL, NULL, NULL,
		    "success", NULL);
		reply_json(j->srv, j->req, 200, out);
	}
	search_job_free(j);
}

/* Copies the query's filter into J (strings J owns). */
static int
search_job_filter(struct search_job *j, struct evkeyvalq *q, char **ret_err)
{
	static const char *const keys[ELEMENTSOF(j->strs)] = { "actor",
	    "action", "kind", "object_tenant", "name", "outcome", "tenant" };
	const char	**dst[ELEMENTSOF(j->strs)] = { &j->f.actor, &j->f.action,
	    &j->f.object_kind, &j->f.object_tenant, &j->f.object_name,
	    &j->f.outcome, &j->f.tenant };
	const char	 *v;
	int		  r;

	for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
		if (!(v = evhttp_find_header(q, keys[i])))
			continue;
		if (!(j->strs[i] = strdup(v)))
			return -ENOMEM;
		*dst[i] = j->strs[i];
	}
	if ((r = query_time(q, "since", &j->f.since, ret_err)) < 0 ||
	    (r = query_time(q, "until", &j->f.until, ret_err)) < 0)
		return r;
	j->f.cancelled = search_job_cancelled;
	return 0;
}

static void
handle_audit_search(struct api_server *srv, struct evhttp_request *req,
    const struct authz_identity *id, struct evkeyvalq *q)
{
	struct search_job		*j;
	_cleanup_free_ char		*err = NULL;
	const char			*lim = evhttp_find_header(q, "limit");
	uint64_t			 n;
	int				 r;

	if (!(j = calloc(1, sizeof(*j)))) {
		r = -ENOMEM;
		goto fail;
	}
	j->srv = srv;
	j->req = req;
	j->id = *id;
	j->sc.limit = AUDIT_SEARCH_DEFAULT;
	if (!srv->audit_dir) {
		r = errf(-BW_E_UNAVAILABLE, &err, "no audit trail configured");
		goto fail;
	}
	if (lim) {
		if (parse_u64(lim, &n) < 0 || n == 0 || n > AUDIT_SEARCH_MAX) {
			r = errf(-BW_E_INVALID, &err, "limit: must be 1..%d",
			    AUDIT_SEARCH_MAX);
			goto fail;
		}
		j->sc.limit = n;
	}
	if ((r = search_job_filter(j, q, &err)) < 0)
		goto fail;
	if (!(j->sc.items = json_array()) || !(j->dir = strdup(srv->audit_dir))) {
		r = -ENOMEM;
		goto fail;
	}
	/* Anonymous requests' records are counted on the loop and queued
	 * at the end of their interval: queued now, the job's flush
	 * (search_job_run()) has the trail take them with the others, so
	 * a search sees every request answered before it. */
	anon_flush(srv);
	if ((r = api_offload_submit(srv, req, id, "audit.search", search_job_run,
	    search_job_done, j)) < 0)
		search_job_free(j);
	return;
fail:
	if (j)
		search_job_free(j);
	audit_request(srv, id, "audit.search", NULL, NULL, NULL, "failure",
	    err ? err : bw_strerror(r));
	reply_err_r(srv, req, r, err);
}

/* ---- misc endpoints ---- */

/* The store's capacity for /healthz; *RET_OK is 0 once it is past its
 * high-water mark (writes refused). New reference or NULL. */
static json_t *
health_store(struct api_server *srv, int *ret_ok)
{
	struct store_capacity c;

	*ret_ok = 1;
	if (store_capacity(srv->st, &c) < 0)
		return NULL;
	*ret_ok = c.writable;
	return json_pack("{s:I, s:I, s:I, s:I, s:i, s:i, s:i, s:b, s:I, s:I}",
	    "used_bytes", (json_int_t)c.used_bytes,
	    "file_bytes", (json_int_t)c.file_bytes,
	    "map_bytes", (json_int_t)c.map_bytes,
	    "log_bytes", (json_int_t)c.log_bytes,
	    "used_percent", (int)c.used_pct,
	    "high_water_percent", (int)c.high_water_pct,
	    "reserved_percent", (int)c.reserve_pct,
	    "writable", c.writable,
	    "compacted_revision", (json_int_t)c.compacted,
	    "refused_writes", (json_int_t)c.refused);
}

/* The store's capacity for /metrics. */
static void
metrics_store(struct api_server *srv, struct evbuffer *buf)
{
	struct store_capacity c;

	if (store_capacity(srv->st, &c) < 0)
		return;
	evbuffer_add_printf(buf,
	    "# HELP bulwark_store_used_bytes Store pages in use (allocated less free).\n"
	    "# TYPE bulwark_store_used_bytes gauge\n"
	    "bulwark_store_used_bytes %" PRIu64 "\n"
	    "# HELP bulwark_store_file_bytes Pages allocated in the store's data file.\n"
	    "# TYPE bulwark_store_file_bytes gauge\n"
	    "bulwark_store_file_bytes %" PRIu64 "\n"
	    "# HELP bulwark_store_map_bytes The store's map size: the most it can hold.\n"
	    "# TYPE bulwark_store_map_bytes gauge\n"
	    "bulwark_store_map_bytes %" PRIu64 "\n"
	    "# HELP bulwark_store_capacity_bytes The most the store can hold (its map size).\n"
	    "# TYPE bulwark_store_capacity_bytes gauge\n"
	    "bulwark_store_capacity_bytes %" PRIu64 "\n"
	    "# HELP bulwark_store_log_bytes Pages of the store's change log.\n"
	    "# TYPE bulwark_store_log_bytes gauge\n"
	    "bulwark_store_log_bytes %" PRIu64 "\n"
	    "# HELP bulwark_store_used_percent Used bytes of the map, in percent.\n"
	    "# TYPE bulwark_store_used_percent gauge\n"
	    "bulwark_store_used_percent %u\n"
	    "# HELP bulwark_store_high_water_percent Writes are refused (507) from this use of the map.\n"
	    "# TYPE bulwark_store_high_water_percent gauge\n"
	    "bulwark_store_high_water_percent %u\n"
	    "# HELP bulwark_store_writable 0 once the store is past its high-water mark.\n"
	    "# TYPE bulwark_store_writable gauge\n"
	    "bulwark_store_writable %d\n"
	    "# HELP bulwark_store_compacted_revision The change log's compaction horizon.\n"
	    "# TYPE bulwark_store_compacted_revision gauge\n"
	    "bulwark_store_compacted_revision %" PRIu64 "\n"
	    "# HELP bulwark_store_compactions_total Compaction transactions run.\n"
	    "# TYPE bulwark_store_compactions_total counter\n"
	    "bulwark_store_compactions_total %" PRIu64 "\n"
	    "# HELP bulwark_store_refused_writes_total Writes refused at the high-water mark.\n"
	    "# TYPE bulwark_store_refused_writes_total counter\n"
	    "bulwark_store_refused_writes_total %" PRIu64 "\n",
	    c.used_bytes, c.file_bytes, c.map_bytes, c.map_bytes, c.log_bytes,
	    c.used_pct,
	    c.high_water_pct, c.writable, c.compacted, c.compactions,
	    c.refused);
}

/* The latency histograms of the commit pipeline, the store and the
 * audit trail, and the trail's size and disk, for /metrics. */
static void
metrics_durability(struct api_server *srv, struct bw_buf *b)
{
	struct audit_status	as;
	struct audit_disk	d;

	hist_render_header(b, "bulwark_commit_batch_duration_seconds",
	    "One commit batch with mutations, from staging to durable.");
	hist_render(b, "bulwark_commit_batch_duration_seconds", NULL,
	    commit_hist_duration(srv->commit));
	hist_render_header(b, "bulwark_commit_batch_mutations",
	    "Mutations in one commit batch.");
	hist_render(b, "bulwark_commit_batch_mutations", NULL,
	    commit_hist_mutations(srv->commit));
	hist_render_header(b, "bulwark_store_flush_duration_seconds",
	    "The store's log flush that makes a write durable.");
	hist_render(b, "bulwark_store_flush_duration_seconds", NULL,
	    store_flush_hist(srv->st));
	if (!srv->trail)
		return;
	hist_render_header(b, "bulwark_audit_fsync_duration_seconds",
	    "The audit trail's fdatasync of a batch of records.");
	hist_render(b, "bulwark_audit_fsync_duration_seconds", NULL,
	    audit_trail_fsync_hist(srv->trail));
	audit_trail_status(srv->trail, &as);
	bw_buf_printf(b, "# HELP bulwark_audit_records_total Records in the "
	    "audit trail (the last sequence number).\n"
	    "# TYPE bulwark_audit_records_total counter\n"
	    "bulwark_audit_records_total %" PRIu64 "\n", as.last_seq);
	if (audit_trail_disk(srv->trail, &d) < 0)
		return;
	bw_buf_printf(b, "# HELP bulwark_audit_trail_bytes Bytes of the audit "
	    "trail's segment files.\n"
	    "# TYPE bulwark_audit_trail_bytes gauge\n"
	    "bulwark_audit_trail_bytes %" PRIu64 "\n"
	    "# HELP bulwark_audit_filesystem_avail_bytes Free bytes of the "
	    "audit trail's filesystem.\n"
	    "# TYPE bulwark_audit_filesystem_avail_bytes gauge\n"
	    "bulwark_audit_filesystem_avail_bytes %" PRIu64 "\n"
	    "# HELP bulwark_audit_filesystem_size_bytes Size of the audit "
	    "trail's filesystem.\n"
	    "# TYPE bulwark_audit_filesystem_size_bytes gauge\n"
	    "bulwark_audit_filesystem_size_bytes %" PRIu64 "\n",
	    d.trail_bytes, d.fs_avail_bytes, d.fs_size_bytes);
}

/* The series beyond the counters of handle_metrics(): latencies, the
 * fleet, the process and the daemon's own (metrics_extra). */
static void
metrics_more(struct api_server *srv, struct evbuffer *buf)
{
	struct bw_buf	b = { 0 };

	metrics_durability(srv, &b);
	metrics_render(srv->metrics, &b, srv->attest_deadline_s ?
	    srv->attest_deadline_s : 180);
	metrics_render_process(&b);
	if (srv->metrics_extra)
		srv->metrics_extra(&b, srv->metrics_arg);
	if (b.len)
		evbuffer_add(buf, b.p, b.len);
	bw_buf_done(&b);
}

/* DETAIL: the caller presented a valid certificate; anyone else learns
 * only "ok" or "degraded". */
static void
handle_health(struct api_server *srv, struct evhttp_request *req, int detail)
{
	struct commit_stats	 cs;
	struct audit_status	 as = { 0 };
	_cleanup_json_ json_t	*o = NULL;
	json_t			*store;
	int			 healthy, store_ok;

	commit_stats(srv->commit, &cs);
	if (srv->trail)
		audit_trail_status(srv->trail, &as);
	healthy = cs.audit_healthy && (!srv->trail || as.healthy);
	store = health_store(srv, &store_ok);
	o = json_pack("{s:s, s:I, s:{s:b, s:I, s:f, s:b, s:b, s:b, s:I, s:b}, s:o*}",
	    "status", healthy && store_ok ? "ok" : "degraded",
	    "revision", (json_int_t)store_revision(srv->st),
	    "audit", "healthy", healthy, "last_seq", (json_int_t)as.last_seq,
	    "fs_used_pct", as.fs_used_pct, "capacity_warning",
	    as.capacity_warning, "libaudit", as.libaudit_ok,
	    "syslog", as.syslog_ok,
	    "lost_records", (json_int_t)cs.lost_records,
	    "realtime", as.realtime, "store", store);
	if (o && srv->health_extra) {
		json_t *extra = srv->health_extra(srv->health_arg);

		if (json_is_object(extra))
			json_object_update(o, extra);
		json_decref(extra);
	}
	if (o && !detail) {
		json_t *brief = json_pack("{s:O}", "status",
		    json_object_get(o, "status"));

		json_decref(o);
		o = brief;
	}
	reply_json(srv, req, 200, o);
}

static void
handle_metrics(struct api_server *srv, struct evhttp_request *req)
{
	struct commit_stats	 cs;
	struct evbuffer		*buf = evbuffer_new();
	struct watcher		*w;
	size_t			 nw = 0;
	int			 i;

	if (!buf) {
		reply_error(srv, req, 500, "internal", "out of memory");
		return;
	}
	commit_stats(srv->commit, &cs);
	TAILQ_FOREACH(w, &srv->watchers, entry)
		nw++;
	evbuffer_add_printf(buf,
	    "# HELP bulwark_store_revision Current global store revision.\n"
	    "# TYPE bulwark_store_revision gauge\n"
	    "bulwark_store_revision %" PRIu64 "\n"
	    "# HELP bulwark_commit_batches_total Commit batches run.\n"
	    "# TYPE bulwark_commit_batches_total counter\n"
	    "bulwark_commit_batches_total %llu\n"
	    "# HELP bulwark_mutations_total Mutations committed.\n"
	    "# TYPE bulwark_mutations_total counter\n"
	    "bulwark_mutations_total %llu\n"
	    "# HELP bulwark_audit_refused_total Mutations refused because the audit record could not be made durable.\n"
	    "# TYPE bulwark_audit_refused_total counter\n"
	    "bulwark_audit_refused_total %llu\n"
	    "# HELP bulwark_audit_lost_records Records of non-mutating requests not yet accounted in the trail.\n"
	    "# TYPE bulwark_audit_lost_records gauge\n"
	    "bulwark_audit_lost_records %llu\n"
	    "# HELP bulwark_audit_healthy 1 when the audit trail accepts records.\n"
	    "# TYPE bulwark_audit_healthy gauge\n"
	    "bulwark_audit_healthy %d\n"
	    "# HELP bulwark_watchers Open watch streams.\n"
	    "# TYPE bulwark_watchers gauge\n"
	    "bulwark_watchers %zu\n"
	    "# HELP bulwark_connections Open API connections.\n"
	    "# TYPE bulwark_connections gauge\n"
	    "bulwark_connections %u\n"
	    "# HELP bulwark_connections_refused_total Authenticated connections refused (503) at a connection limit with nothing idle to evict.\n"
	    "# TYPE bulwark_connections_refused_total counter\n"
	    "bulwark_connections_refused_total %llu\n"
	    "# HELP bulwark_tls_handshake_failures_total Failed TLS handshakes.\n"
	    "# TYPE bulwark_tls_handshake_failures_total counter\n"
	    "bulwark_tls_handshake_failures_total %llu\n"
	    "# HELP bulwark_connections_unauthenticated Open connections no request has identified yet.\n"
	    "# TYPE bulwark_connections_unauthenticated gauge\n"
	    "bulwark_connections_unauthenticated %u\n"
	    "# HELP bulwark_anonymous_events_total Unauthenticated requests and connections counted for aggregated audit records.\n"
	    "# TYPE bulwark_anonymous_events_total counter\n"
	    "bulwark_anonymous_events_total %llu\n"
	    "# HELP bulwark_watches_refused_total Watches refused at the per-principal or total limit.\n"
	    "# TYPE bulwark_watches_refused_total counter\n"
	    "bulwark_watches_refused_total %llu\n"
	    "# HELP bulwark_watch_ended_slow_total Watches ended because the client took no data for too long.\n"
	    "# TYPE bulwark_watch_ended_slow_total counter\n"
	    "bulwark_watch_ended_slow_total %llu\n"
	    "# HELP bulwark_connections_dropped_total Unauthenticated connections closed by the server, by reason.\n"
	    "# TYPE bulwark_connections_dropped_total counter\n",
	    store_revision(srv->st), cs.batches, cs.mutations, cs.refused_audit,
	    cs.lost_records, cs.audit_healthy, nw, srv->nconns,
	    srv->conn_refused, srv->tls_failures, srv->nunauth,
	    srv->anon_total, srv->watch_refused, srv->watch_ended_slow);
	for (i = 0; i < DROP_NREASONS; i++)
		evbuffer_add_printf(buf,
		    "bulwark_connections_dropped_total{reason=\"%s\"} %llu\n",
		    conn_drop_names[i], srv->dropped[i]);
	evbuffer_add_printf(buf,
	    "# HELP bulwark_connections_evicted_total Authenticated connections closed by the server, by reason.\n"
	    "# TYPE bulwark_connections_evicted_total counter\n");
	for (i = 0; i < EVICT_NREASONS; i++)
		evbuffer_add_printf(buf,
		    "bulwark_connections_evicted_total{reason=\"%s\"} %llu\n",
		    conn_evict_names[i], srv->evicted[i]);
	evbuffer_add_printf(buf,
	    "# HELP bulwark_http_responses_total Responses by status class.\n"
	    "# TYPE bulwark_http_responses_total counter\n");
	for (i = 1; i < 6; i++)
		evbuffer_add_printf(buf,
		    "bulwark_http_responses_total{class=\"%dxx\"} %llu\n", i,
		    srv->requests[i]);
	metrics_store(srv, buf);
	evbuffer_add_printf(buf,
	    "# HELP bulwark_offload_jobs Long operations (audit searches) running or waiting for a worker.\n"
	    "# TYPE bulwark_offload_jobs gauge\n"
	    "bulwark_offload_jobs %u\n"
	    "# HELP bulwark_offload_refused_total Long operations refused (503 busy) with every worker busy and the queue full.\n"
	    "# TYPE bulwark_offload_refused_total counter\n"
	    "bulwark_offload_refused_total %llu\n",
	    offload_jobs(srv->offload), srv->offload_refused);
	metrics_more(srv, buf);
	srv->requests[2]++;
	request_observed(srv, req, 200);
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", "text/plain; version=0.0.4");
	evhttp_send_reply(req, 200, "OK", buf);
	evbuffer_free(buf);
}

/* What ID may do, from authz_check() itself: {"read": [plural...],
 * "write": [plural...], "audit": bool}, tenant kinds asked for ID's
 * own tenant. Clients (the console) offer exactly these actions instead
 * of guessing from the role's name. New reference or NULL. */
static json_t *
whoami_may(const struct authz_identity *id)
{
	const struct res_kind	*kinds;
	json_t			*rd = json_array(), *wr = json_array();
	size_t			 i, n;

	kinds = res_kinds(&n);
	for (i = 0; rd && wr && i < n; i++) {
		const char *t = kinds[i].scope == RES_TENANT ? id->tenant : NULL;

		if (authz_check(id, VERB_READ, &kinds[i], t, NULL) == 0)
			json_array_append_new(rd, json_string(kinds[i].plural));
		if (authz_check(id, VERB_WRITE, &kinds[i], t, NULL) == 0)
			json_array_append_new(wr, json_string(kinds[i].plural));
	}
	return json_pack("{s:o?, s:o?, s:b}", "read", rd, "write", wr, "audit",
	    authz_check(id, VERB_AUDIT_READ, NULL, NULL, NULL) == 0);
}

static void
handle_whoami(struct api_server *srv, struct evhttp_request *req,
    const struct authz_identity *id)
{
	_cleanup_json_ json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:o?}",
	    "principal", id->principal, "tenant", id->tenant, "role",
	    id->role_name, "serial", id->serial, "may", whoami_may(id));

	audit_request(srv, id, "api.whoami", NULL, NULL, NULL, "success", NULL);
	reply_json(srv, req, 200, o);
}

/* Responses leave as several TLS records; with Nagle the later ones wait
 * for the client's delayed ACK (tens of ms per request). A stream from
 * the API worker is AF_UNIX (no Nagle; the worker's TCP socket has
 * TCP_NODELAY): no failing call per request. */
static void
nodelay(struct evhttp_request *req)
{
	struct evhttp_connection	*evcon = evhttp_request_get_connection(req);
	struct bufferevent		*bev;
	evutil_socket_t			 fd;
	int				 one = 1;

	if (evcon && (bev = evhttp_connection_get_bufferevent(evcon)) &&
	    bufferevent_openssl_get_ssl(bev) &&
	    (fd = bufferevent_getfd(bev)) >= 0)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* identify() failed with R: 503 if the connection was over a limit
 * (conn_authenticated) or the store could not be read, else 401. */
static void
reply_unidentified(struct api_server *srv, struct evhttp_request *req, int r,
    const char *err)
{
	if (r == -BW_E_UNAVAILABLE && err && strstr(err, "state store"))
		reply_error(srv, req, 503, "unavailable", err);
	else if (r == -BW_E_UNAVAILABLE)
		reply_error(srv, req, 503, "too_many_connections", err ? err :
		    "connection limit reached");
	else
		reply_error(srv, req, 401, "unauthenticated", err);
}

/* Notes the route class of the request on REQ's connection. */
static void
request_route(struct evhttp_request *req, enum metrics_route r)
{
	struct api_conn *c = conn_of(req);

	if (c)
		c->req_route = r;
}

/* The route class of an object API request. */
static enum metrics_route
route_class(const struct api_route *rt, enum evhttp_cmd_type m)
{
	bool principal = rt->kind && (rt->kind->flags & RES_F_INTERNAL_WRITES);

	switch (rt->type) {
	case ROUTE_METRICS:	return MR_METRICS;
	case ROUTE_WATCH:	return MR_WATCH;
	case ROUTE_AUDIT:	return MR_AUDIT;
	case ROUTE_HEALTH:	return MR_HEALTH;
	case ROUTE_STATUS:	return MR_STATUS;
	case ROUTE_WHOAMI:	return MR_OTHER;
	case ROUTE_APPLY:	return MR_WRITE;
	case ROUTE_COLLECTION:
	case ROUTE_ITEM:
		break;
	}
	if (m == EVHTTP_REQ_GET)
		return rt->type == ROUTE_ITEM ? MR_GET : MR_LIST;
	if (principal && (m == EVHTTP_REQ_POST || m == EVHTTP_REQ_DELETE))
		return MR_PRINCIPAL;
	return m == EVHTTP_REQ_DELETE ? MR_DELETE : MR_WRITE;
}

/* A metrics principal (a Prometheus scraper) reads /metrics and nothing
 * else: 403 and a record for anything else. Returns whether ID may go
 * on to the endpoint (METRICS: it is /metrics). */
static bool
endpoint_allowed(struct api_server *srv, struct evhttp_request *req,
    const struct authz_identity *id, bool metrics)
{
	_cleanup_free_ char *err = NULL;

	if (authz_endpoint(id, metrics, &err) == 0)
		return true;
	audit_request(srv, id, "api.request", NULL, NULL, NULL, "denied", err);
	reply_error(srv, req, 403, "forbidden", err);
	return false;
}

/* Hands a request under a handler's prefix (registered by
 * api_server_add_handler) to that handler once its caller is
 * identified. Returns false when no prefix matches PATH. */
static bool
handler_dispatch(struct api_server *srv, struct evhttp_request *req,
    const char *path, struct authz_identity *id)
{
	_cleanup_free_ char	*err = NULL;
	int			 r;

	for (size_t h = 0; path && h < srv->nhandlers; h++) {
		if (strncmp(path, srv->handlers[h].prefix,
		    strlen(srv->handlers[h].prefix)) != 0)
			continue;
		request_route(req, metrics_route_of_path(path));
		if ((r = identify(srv, req, id, &err)) < 0) {
			audit_request(srv, id, "auth.failure", NULL, NULL, NULL,
			    "denied", err);
			reply_unidentified(srv, req, r, err);
			return true;
		}
		if (!endpoint_allowed(srv, req, id, false))
			return true;
		srv->handlers[h].fn(srv, req, id, path, srv->handlers[h].arg);
		return true;
	}
	return false;
}

/* Answers a route that needs a right beyond reading objects (VERB:
 * metrics, audit search): 403 and an ACTION record when ID lacks it.
 * Returns whether ID holds it. */
static bool
route_allowed(struct api_server *srv, struct evhttp_request *req,
    const struct authz_identity *id, enum authz_verb verb, const char *action)
{
	_cleanup_free_ char	*err = NULL;

	if (authz_check(id, verb, NULL, NULL, &err) == 0)
		return true;
	audit_request(srv, id, action, NULL, NULL, NULL, "denied", err);
	reply_error(srv, req, 403, "forbidden", err);
	return false;
}

/* Hands an identified request for the route RT to its handler by method
 * M. Returns false when the route does not take M (nothing answered). */
static bool
route_dispatch(struct api_server *srv, struct evhttp_request *req,
    enum evhttp_cmd_type m, const struct api_route *rt,
    const struct authz_identity *id, struct evkeyvalq *q)
{
	switch (rt->type) {
	case ROUTE_METRICS:
		if (m != EVHTTP_REQ_GET)
			return false;
		if (!route_allowed(srv, req, id, VERB_METRICS, "api.metrics"))
			break;
		audit_request(srv, id, "api.metrics", NULL, NULL, NULL,
		    "success", NULL);
		handle_metrics(srv, req);
		break;
	case ROUTE_WHOAMI:
		if (m != EVHTTP_REQ_GET)
			return false;
		handle_whoami(srv, req, id);
		break;
	case ROUTE_APPLY:
		if (m != EVHTTP_REQ_POST)
			return false;
		handle_apply(srv, req, id);
		break;
	case ROUTE_WATCH:
		if (m != EVHTTP_REQ_GET)
			return false;
		handle_watch(srv, req, id, q);
		break;
	case ROUTE_AUDIT:
		if (m != EVHTTP_REQ_GET)
			return false;
		if (!route_allowed(srv, req, id, VERB_AUDIT_READ, "audit.search"))
			break;
		handle_audit_search(srv, req, id, q);
		break;
	case ROUTE_COLLECTION:
		if (m == EVHTTP_REQ_GET)
			handle_list(srv, req, rt, id, q);
		else if (m == EVHTTP_REQ_POST && srv->principals &&
		    (rt->kind->flags & RES_F_INTERNAL_WRITES) && rt->tenant[0])
			principals_create(srv->principals, srv, req, id, rt->tenant);
		else if (m == EVHTTP_REQ_POST)
			handle_write(srv, req, rt, id, 1);
		else
			return false;
		break;
	case ROUTE_ITEM:
		if (m == EVHTTP_REQ_GET)
			handle_get(srv, req, rt, id);
		else if (m == EVHTTP_REQ_PUT)
			handle_write(srv, req, rt, id, 0);
		else if (m == EVHTTP_REQ_DELETE && srv->principals &&
		    (rt->kind->flags & RES_F_INTERNAL_WRITES))
			principals_revoke(srv->principals, srv, req, id, rt->tenant,
			    rt->name);
		else if (m == EVHTTP_REQ_DELETE)
			handle_delete(srv, req, rt, id, q);
		else
			return false;
		break;
	case ROUTE_STATUS:
		if (m == EVHTTP_REQ_PUT)
			handle_status(srv, req, rt, id);
		else
			return false;
		break;
	case ROUTE_HEALTH:
		break;
	}
	return true;
}

static void
on_request(struct evhttp_request *req, void *arg)
{
	struct api_server		*srv = arg;
	const struct evhttp_uri		*uri = evhttp_request_get_evhttp_uri(req);
	enum evhttp_cmd_type		 m = evhttp_request_get_command(req);
	struct authz_identity		 id = { 0 };
	struct api_route		 rt;
	struct evkeyvalq		 q;
	_cleanup_free_ char		*err = NULL;
	const char			*path = uri ? evhttp_uri_get_path(uri) : NULL;
	const char			*query = uri ? evhttp_uri_get_query(uri) : NULL;
	int				 r;

	TAILQ_INIT(&q);
	nodelay(req);
	conn_request_start(srv, req);
	{
		struct api_conn *c = conn_of(req);

		if (c) {
			c->req_start_ns = bw_mono_ns();
			c->req_route = MR_OTHER;
		}
	}
	/* until identify() passes, the next request has a deadline too */
	conn_unauthenticated(srv, req);
	peer_address(req, id.source, sizeof(id.source));
	if (handler_dispatch(srv, req, path, &id))
		return;
	if (!path || api_route_parse(path, &rt, &err) < 0) {
		r = identify(srv, req, &id, NULL);
		audit_request(srv, &id, "api.request", NULL, NULL, NULL,
		    r < 0 ? "denied" : "failure", "no such path");
		if (r < 0) {
			reply_unidentified(srv, req, r,
			    r == -BW_E_UNAVAILABLE ? NULL :
			    "a valid client certificate is required");
			return;
		}
		reply_error(srv, req, 404, "not_found", err ? err : "no such path");
		return;
	}
	request_route(req, route_class(&rt, m));
	if (rt.type == ROUTE_HEALTH) {
		/* open to all; without a certificate, up or down only (and
		 * counted, not recorded one by one: api_audit); a metrics
		 * principal learns what anyone does */
		int detail = identify(srv, req, &id, NULL) == 0 &&
		    authz_endpoint(&id, false, NULL) == 0;

		if (!detail)
			id.auth_method = "none";
		/* the one action open to all is reading it (the compliance
		 * fact says "GET /healthz"; HEAD is GET without the body) */
		if (m != EVHTTP_REQ_GET && m != EVHTTP_REQ_HEAD) {
			audit_request(srv, &id, "api.health", NULL, NULL, NULL,
			    "failure", "method not allowed");
			reply_error(srv, req, 405, "method_not_allowed",
			    "/healthz is read with GET");
			return;
		}
		audit_request(srv, &id, "api.health", NULL, NULL, NULL, "success",
		    NULL);
		handle_health(srv, req, detail);
		return;
	}
	if ((r = identify(srv, req, &id, &err)) < 0) {
		audit_request(srv, &id, "auth.failure", rt.kind, rt.tenant,
		    rt.name, "denied", err);
		reply_unidentified(srv, req, r, err);
		return;
	}
	if (!endpoint_allowed(srv, req, &id, rt.type == ROUTE_METRICS))
		return;
	if (query && evhttp_parse_query_str(query, &q) < 0) {
		audit_request(srv, &id, "api.request", NULL, NULL, NULL,
		    "failure", "malformed query string");
		reply_error(srv, req, 400, "invalid", "query: malformed");
		return;
	}
	if (!route_dispatch(srv, req, m, &rt, &id, &q)) {
		audit_request(srv, &id, "api.request", rt.kind, rt.tenant,
		    rt.name, "failure", "method not allowed");
		reply_error(srv, req, 405, "method_not_allowed",
		    "method not allowed on this path");
	}
	evhttp_clear_headers(&q);
}

/* Handshake failures never reach evhttp; the TLS layer reports them
 * here so they are counted and audited like any refused request. */
static void
tls_info_cb(const SSL *ssl, int where, int ret)
{
	struct api_server	*srv;
	struct sockaddr_storage	 ss;
	socklen_t		 sl = sizeof(ss);
	char			 host[INET6_ADDRSTRLEN] = "unknown";
	char			 reason[128];
	struct authz_identity	 id = { 0 };
	int			 fd;

	if (!(where & SSL_CB_ALERT) || !(where & SSL_CB_WRITE) ||
	    SSL_is_init_finished(ssl))
		return;
	srv = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), api_server_index);
	if (!srv)
		return;
	srv->tls_failures++;
	fd = SSL_get_fd(ssl);
	if (fd >= 0 && getpeername(fd, (struct sockaddr *)&ss, &sl) == 0) {
		if (ss.ss_family == AF_INET)
			inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr,
			    host, sizeof(host));
		else if (ss.ss_family == AF_INET6)
			inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr,
			    host, sizeof(host));
	}
	snprintf(id.source, sizeof(id.source), "%s", host);
	id.auth_method = "tls";
	snprintf(reason, sizeof(reason), "TLS handshake failed: %s",
	    SSL_alert_desc_string_long(ret));
	audit_request(srv, &id, "tls.handshake_failure", NULL, NULL, NULL,
	    "denied", reason);
}

/* Records one unauthenticated event: the first of its (source, action,
 * outcome) in an interval at once, the others as a count at the next
 * anon_flush(). At most two records per key and interval, and at most
 * API_ANON_AUDIT_KEYS + 1 keys. */
static void
anon_count(struct api_server *srv, const char *source, const char *action,
    const char *outcome, const char *reason)
{
	struct anon_count	*a = NULL;
	char			 host[INET6_ADDRSTRLEN];
	size_t			 i;

	/* peer_address() adds the port; one source is one address */
	if (api_source_host(source, host, sizeof(host)) < 0)
		snprintf(host, sizeof(host), "unknown");
	srv->anon_total++;
	for (i = 0; i < srv->nanon; i++) {
		if (strcmp(srv->anon[i].source, host) == 0 &&
		    strcmp(srv->anon[i].action, action) == 0 &&
		    strcmp(srv->anon[i].outcome, outcome) == 0) {
			a = &srv->anon[i];
			break;
		}
	}
	if (!a && srv->nanon < API_ANON_AUDIT_KEYS) {
		a = &srv->anon[srv->nanon++];
		snprintf(a->source, sizeof(a->source), "%s", host);
		snprintf(a->action, sizeof(a->action), "%s", action);
		snprintf(a->outcome, sizeof(a->outcome), "%s", outcome);
		snprintf(a->reason, sizeof(a->reason), "%s", reason ? reason : "");
		a->n = 0;
		if (srv->commit)
			commit_audit_async(srv->commit, &(struct audit_record){
				.actor = "anonymous", .role = "none",
				.tenant = "none", .source = a->source,
				.auth_method = "none", .action = a->action,
				.outcome = a->outcome, .reason = reason,
				.controls = "AU-2,AU-12,SC-5",
			});
		return;
	} else if (!a) {
		/* one more slot gathers whatever does not fit */
		a = &srv->anon[API_ANON_AUDIT_KEYS];
		if (a->n == 0) {
			snprintf(a->source, sizeof(a->source), "other");
			snprintf(a->action, sizeof(a->action), "api.anonymous");
			snprintf(a->outcome, sizeof(a->outcome), "failure");
			snprintf(a->reason, sizeof(a->reason), "more sources, "
			    "actions or outcomes than %d in one interval",
			    API_ANON_AUDIT_KEYS);
		}
	}
	a->n++;
}

/* Writes one record per counted key and starts a new interval. */
static void
anon_flush(struct api_server *srv)
{
	char	reason[320];
	size_t	i;

	for (i = 0; i <= API_ANON_AUDIT_KEYS; i++) {
		struct anon_count *a = &srv->anon[i];

		if (a->n == 0 || !srv->commit)
			continue;
		snprintf(reason, sizeof(reason), "%llu more unauthenticated "
		    "requests or connections from %s like the one recorded "
		    "first in the last %d s at most (aggregated): %s", a->n,
		    a->source, API_ANON_AUDIT_SECS,
		    a->reason[0] ? a->reason : "-");
		commit_audit_async(srv->commit, &(struct audit_record){
			.actor = "anonymous", .role = "none", .tenant = "none",
			.source = a->source, .auth_method = "none",
			.action = a->action, .outcome = a->outcome,
			.reason = reason, .controls = "AU-2,AU-12,SC-5",
		});
		a->n = 0;
	}
	srv->nanon = 0;
	memset(srv->evict_recorded, 0, sizeof(srv->evict_recorded));
}

static void
anon_flush_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	anon_flush(arg);
}

static void
conn_unlink_unauth(struct api_server *srv, struct api_conn *c)
{
	if (!c->unauth)
		return;
	TAILQ_REMOVE(&srv->unauth, c, entry);
	c->unauth = 0;
	srv->nunauth--;
}

/* Stops counting C (it closed, or we are closing it). */
static void
conn_release(struct api_server *srv, struct api_conn *c)
{
	conn_unlink_unauth(srv, c);
	if (c->timer)
		evtimer_del(c->timer);
	if (!c->counted)
		return;
	c->counted = 0;
	if (srv->nconns > 0)
		srv->nconns--;
}

/* Closes an unauthenticated connection: shutting the socket down makes
 * evhttp see the end of it on its next read or write and free it on
 * its own path (freeing it here could pull it from under a callback).
 * Counted in /metrics; the trail gets one record per source and
 * interval, not one per connection. */
static void
conn_drop(struct api_server *srv, struct api_conn *c,
    enum conn_drop_reason why)
{
	evutil_socket_t fd = c->bev ? bufferevent_getfd(c->bev) : -1;

	srv->dropped[why]++;
	if (!srv->detached)
		anon_count(srv, c->source[0] ? c->source : "unknown",
		    "api.connection_dropped", "denied", conn_drop_names[why]);
	if (fd >= 0)
		shutdown(fd, SHUT_RDWR);
	conn_release(srv, c);
}

/* The connection to displace: the oldest unauthenticated one (of SOURCE
 * if not NULL) that has not yet sent a whole TLS ClientHello, else the
 * oldest. A client that is really connecting is past that within a
 * round trip, so a flood of idle or dribbling connections displaces its
 * own members first. */
static struct api_conn *
conn_victim(struct api_server *srv, const char *source)
{
	struct api_conn	*c, *oldest = NULL;
	SSL		*ssl;

	TAILQ_FOREACH(c, &srv->unauth, entry) {
		if (source && strcmp(c->source, source) != 0)
			continue;
		if (!oldest)
			oldest = c;
		if (c->bev && !c->plain &&
		    (ssl = bufferevent_openssl_get_ssl(c->bev)) &&
		    SSL_get_state(ssl) == TLS_ST_BEFORE)
			return c;
	}
	return oldest;
}

static void
conn_peer(struct api_conn *c)
{
	struct sockaddr_storage	 ss;
	socklen_t		 sl = sizeof(ss);
	evutil_socket_t		 fd = bufferevent_getfd(c->bev);

	if (c->plain) {
		if (!c->peer[0] || api_source_host(c->peer, c->source,
		    sizeof(c->source)) < 0)
			snprintf(c->source, sizeof(c->source), "unknown");
		return;
	}
	snprintf(c->source, sizeof(c->source), "unknown");
	if (fd < 0 || getpeername(fd, (struct sockaddr *)&ss, &sl) < 0)
		return;
	if (ss.ss_family == AF_INET)
		inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr,
		    c->source, sizeof(c->source));
	else if (ss.ss_family == AF_INET6)
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr,
		    c->source, sizeof(c->source));
}

static void conn_out_cb(struct evbuffer *buf,
    const struct evbuffer_cb_info *info, void *arg);
static void conn_timer_cb(evutil_socket_t fd, short what, void *arg);

/* Privilege separation: the streams the worker relays (see
 * api_server_options.plain_socket). */
static void conn_forget(struct api_conn *c);

static void
conn_plain_closed(struct evhttp_connection *evcon, void *arg)
{
	struct api_conn *c = arg;

	(void)evcon;
	evbuffer_remove_cb(bufferevent_get_output(c->bev), conn_out_cb, c);
	TAILQ_REMOVE(&plain_conns, c, plain_entry);
	conn_forget(c);
}

static void
plain_pending_free(struct plain_pending *p)
{
	if (p->fd >= 0)
		close(p->fd);
	X509_free(p->cert);
	free(p);
}

/* Runs on the first loop turn after evhttp accepted C's stream on the
 * private listener, before any byte can reach it (the worker gets its
 * end only now): finds the handshake it belongs to by the stream's
 * name, hooks C's end to evhttp's close and hands the other end to the
 * worker. A stream nobody adopted is closed. Returns 0 or -ENOENT. */
static int
plain_attach(struct api_server *srv, struct api_conn *c)
{
	struct sockaddr_un	 sun;
	socklen_t		 sl = sizeof(sun);
	struct plain_pending	*p;
	bufferevent_data_cb	 rcb, wcb;
	bufferevent_event_cb	 ecb;
	void			*evcon = NULL;
	evutil_socket_t		 fd = bufferevent_getfd(c->bev);
	int			 afd;

	bufferevent_getcb(c->bev, &rcb, &wcb, &ecb, &evcon);
	if (evcon) {
		c->evcon = evcon;
		evhttp_connection_set_closecb(evcon, conn_plain_closed, c);
		c->closecb_set = 1;
	}
	memset(&sun, 0, sizeof(sun));
	if (fd >= 0 && getpeername(fd, (struct sockaddr *)&sun, &sl) == 0)
		TAILQ_FOREACH(p, &srv->pending, entry) {
			if (p->namelen != sl || memcmp(&p->name, &sun, sl) != 0)
				continue;
			TAILQ_REMOVE(&srv->pending, p, entry);
			srv->npending--;
			snprintf(c->peer, sizeof(c->peer), "%s", p->peer);
			c->cert = TAKE_PTR(p->cert);
			afd = TAKE_FD(p->fd);
			if (srv->adopt_cb)
				srv->adopt_cb(srv->adopt_arg, p->cookie, afd);
			else
				close(afd);
			plain_pending_free(p);
			return 0;
		}
	if (fd >= 0)
		shutdown(fd, SHUT_RDWR);
	conn_release(srv, c);
	return -ENOENT;
}

/* Counts C, just accepted, as open and unauthenticated, and arms its
 * timer for the next turn of the loop: evhttp gives the bufferevent its
 * socket only after bev_cb returns (conn_classify()). */
static void
conn_track(struct api_server *srv, struct api_conn *c)
{
	struct timeval now = { 0, 0 };

	srv->gate->refs++;
	evbuffer_add_cb(bufferevent_get_output(c->bev), conn_out_cb, c);
	TAILQ_INSERT_TAIL(&srv->conns, c, all);
	c->linked = 1;
	c->counted = 1;
	srv->nconns++;
	TAILQ_INSERT_TAIL(&srv->unauth, c, entry);
	c->unauth = 1;
	srv->nunauth++;
	evtimer_add(c->timer, &now);
}

static struct bufferevent *
plain_bev_new(struct api_server *srv, struct event_base *base)
{
	struct bufferevent	*bev;
	struct api_conn		*c;

	if (!(bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE)))
		return NULL;
	if (!srv->gate || !(c = calloc(1, sizeof(*c))))
		return bev;
	c->gate = srv->gate;
	c->bev = bev;
	c->plain = 1;
	if (!(c->timer = evtimer_new(base, conn_timer_cb, c))) {
		free(c);
		return bev;
	}
	TAILQ_INSERT_TAIL(&plain_conns, c, plain_entry);
	conn_track(srv, c);
	return bev;
}

/* DER as a certificate that chains to the API's CA for client use. */
static int
plain_cert(struct api_server *srv, const unsigned char *der, size_t derlen,
    X509 **ret, char **ret_err)
{
	_cleanup_(X509_freep) X509	*cert = NULL;
	X509_STORE_CTX			*vctx;
	const unsigned char		*q = der;
	int				 ok;

	if (!(cert = d2i_X509(NULL, &q, (long)derlen)) || q != der + derlen)
		return errf(-BW_E_INVALID, ret_err, "client certificate: not "
		    "one DER certificate");
	if (!(vctx = X509_STORE_CTX_new()))
		return -ENOMEM;
	ok = X509_STORE_CTX_init(vctx, SSL_CTX_get_cert_store(srv->ssl_ctx),
	    cert, NULL) == 1 &&
	    X509_STORE_CTX_set_purpose(vctx, X509_PURPOSE_SSL_CLIENT) == 1 &&
	    X509_verify_cert(vctx) == 1;
	X509_STORE_CTX_free(vctx);
	if (!ok)
		return errf(-BW_E_UNAUTH, ret_err, "client certificate: does "
		    "not verify against the CA");
	*ret = TAKE_PTR(cert);
	return 0;
}

int
api_server_adopt(struct api_server *s, uint64_t cookie, const char *peer,
    const unsigned char *der, size_t derlen, char **ret_err)
{
	_cleanup_(X509_freep) X509	*cert = NULL;
	_cleanup_close_ int		 fd = -1;
	struct sockaddr_un		 to = { .sun_family = AF_UNIX };
	struct plain_pending		*p;
	int				 r;

	if (!s->privsep)
		return errf(-EINVAL, ret_err, "not privilege-separated");
	if (s->npending >= PLAIN_PENDING_MAX)
		return errf(-EBUSY, ret_err, "%d streams waiting for the HTTP "
		    "server", PLAIN_PENDING_MAX);
	if (derlen && (r = plain_cert(s, der, derlen, &cert, ret_err)) < 0)
		return r;
	if (!(p = calloc(1, sizeof(*p))))
		return -ENOMEM;
	p->fd = -1;
	snprintf(p->peer, sizeof(p->peer), "%s", peer);
	p->cookie = cookie;
	p->namelen = sizeof(p->name);
	p->name.sun_family = AF_UNIX;
	snprintf(to.sun_path, sizeof(to.sun_path), "%s", s->plain_path);
	/* An autobound abstract name per stream tells it apart at accept. */
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    0)) < 0 ||
	    bind(fd, (struct sockaddr *)&p->name, sizeof(sa_family_t)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&p->name, &p->namelen) < 0 ||
	    connect(fd, (struct sockaddr *)&to, sizeof(to)) < 0) {
		r = errf(-errno, ret_err, "stream to the HTTP server: %s",
		    strerror(errno));
		free(p);
		return r;
	}
	p->fd = TAKE_FD(fd);
	p->cert = TAKE_PTR(cert);
	TAILQ_INSERT_TAIL(&s->pending, p, entry);
	s->npending++;
	return 0;
}

void
api_server_anon_event(struct api_server *s, const char *source,
    const char *action, const char *reason, unsigned count)
{
	int i;

	if (strcmp(action, "tls.handshake_failure") == 0)
		s->tls_failures += count;
	else
		for (i = 0; i < DROP_NREASONS; i++)
			if (strcmp(reason, conn_drop_names[i]) == 0)
				s->dropped[i] += count;
	while (!s->detached && count--)
		anon_count(s, source, action, "denied", reason);
}

int
api_server_tcp_fd(struct api_server *s)
{
	return s->tcp_fd;
}

unsigned
api_server_max_unauth(struct api_server *s)
{
	return s->max_unauth;
}

void
api_server_set_adopt_cb(struct api_server *s, api_adopt_fn fn, void *arg)
{
	s->adopt_cb = fn;
	s->adopt_arg = arg;
}

void
api_server_set_ctx_cb(struct api_server *s, void (*fn)(void *, SSL_CTX *),
    void *arg)
{
	s->ctx_cb = fn;
	s->ctx_arg = arg;
}

/* The TLS port's listening socket, in both process models. Displacement
 * picks the oldest connection that has not sent a whole ClientHello; a
 * flood from a client's own address that reconnects R times a second
 * leaves a connection accepted before its ClientHello about
 * API_UNAUTH_PER_SOURCE / R seconds (64 ms at 1,000/s), less than a
 * loaded machine may take between a client's connect and its first
 * write: its connection was displaced and its ClientHello answered with
 * a reset (api-flood.sh). Accepted only once they have spoken, clients
 * arrive with the ClientHello queued and idle connections come after
 * them. */
static int
tls_listen_tune(evutil_socket_t fd)
{
	int secs = API_DEFER_ACCEPT_SECS;

	if (setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &secs,
	    sizeof(secs)) < 0 || listen(fd, API_LISTEN_BACKLOG) < 0)
		return -errno;
	return 0;
}

/* The TCP socket the worker accepts on, and the private listener evhttp
 * serves the worker's streams from. */
static int
plain_listen(struct api_server *srv, const char *host, int port,
    const char *path, char **ret_err)
{
	struct addrinfo		 hints = { .ai_socktype = SOCK_STREAM,
	    .ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV };
	struct addrinfo		*ai = NULL;
	struct sockaddr_un	 sun = { .sun_family = AF_UNIX };
	_cleanup_close_ int	 fd = -1, ufd = -1;
	char			 ps[8];
	int			 one = 1, r;

	snprintf(ps, sizeof(ps), "%d", port);
	if ((r = getaddrinfo(host, ps, &hints, &ai)) != 0)
		return errf(-EADDRNOTAVAIL, ret_err, "cannot listen on %s:%d: "
		    "%s", host, port, gai_strerror(r));
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    0);
	r = fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one,
	    sizeof(one)) < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 ||
	    tls_listen_tune(fd) < 0 ? -errno : 0;
	freeaddrinfo(ai);
	if (r < 0)
		return errf(-EADDRNOTAVAIL, ret_err, "cannot listen on %s:%d: "
		    "%s", host, port, strerror(-r));
	if (strlen(path) >= sizeof(sun.sun_path) ||
	    strlen(path) >= sizeof(srv->plain_path))
		return errf(-ENAMETOOLONG, ret_err, "%s: too long", path);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	snprintf(srv->plain_path, sizeof(srv->plain_path), "%s", path);
	(void)unlink(path);
	if ((ufd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    0)) < 0 || bind(ufd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
	    listen(ufd, 511) < 0)
		return errf(-errno, ret_err, "%s: %s", path, strerror(errno));
	/* the connections it accepts are O_CLOEXEC too: no child the
	 * daemon starts inherits a client's (bulwarkd.c's loop_new()) */
	if (!(srv->plain_listener = evconnlistener_new(srv->base, NULL, NULL,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, ufd)))
		return errf(-ENOMEM, ret_err, "%s: listener", path);
	ufd = -1;
	if (evhttp_bind_listener(srv->http, srv->plain_listener) == NULL)
		return errf(-ENOMEM, ret_err, "%s: evhttp", path);
	srv->tcp_fd = TAKE_FD(fd);
	return 0;
}

/* Runs once right after accept (evhttp gives the bufferevent its socket
 * only after bev_cb): learns the source, applies the per-source and
 * unauthenticated limits, and arms the deadline. */
static void
conn_classify(struct api_server *srv, struct api_conn *c)
{
	struct timeval	 tv = { API_HANDSHAKE_SECS, 0 };
	struct api_conn	*v, *o;
	unsigned	 n = 0;

	c->classified = 1;
	if (c->plain && plain_attach(srv, c) < 0)
		return;
	conn_peer(c);
	TAILQ_FOREACH(o, &srv->unauth, entry)
		if (strcmp(o->source, c->source) == 0)
			n++;
	for (; n > API_UNAUTH_PER_SOURCE; n--) {
		if (!(v = conn_victim(srv, c->source)))
			break;
		conn_drop(srv, v, DROP_PER_SOURCE);
		if (v == c)
			return;
	}
	while (srv->nunauth > srv->max_unauth || srv->nconns > srv->max_conns) {
		v = conn_victim(srv, NULL);
		/* every other slot authenticated: the principal holding the
		 * most gives up its oldest idle one; none idle, C goes */
		if (v == c && srv->nunauth == 1 &&
		    (o = conn_evictee(srv, NULL, NULL, CONN_ANON, c))) {
			conn_evict(srv, o, EVICT_FULL);
			continue;
		}
		if (!v)
			break;
		conn_drop(srv, v, DROP_POOL);
		if (v == c)
			return;
	}
	if (c->unauth)
		evtimer_add(c->timer, &tv);
}

static void
conn_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct api_conn		*c = arg;
	struct api_server	*srv = c->gate->srv;

	(void)fd;
	(void)what;
	if (!srv || !c->counted)
		return;
	if (!c->classified)
		conn_classify(srv, c);
	else if (c->unauth)
		conn_drop(srv, c, DROP_DEADLINE);
	else if (!c->busy)
		conn_evict(srv, c, EVICT_DEADLINE);
}

static struct api_conn *
conn_of(struct evhttp_request *req)
{
	struct evhttp_connection	*evcon = evhttp_request_get_connection(req);
	struct bufferevent		*bev;
	SSL				*ssl;

	struct api_conn			*c;

	if (!evcon || !(bev = evhttp_connection_get_bufferevent(evcon)))
		return NULL;
	if (!(ssl = bufferevent_openssl_get_ssl(bev))) {
		TAILQ_FOREACH(c, &plain_conns, plain_entry)
			if (c->evcon == evcon)
				return c;
		return NULL;
	}
	if (api_conn_index < 0)
		return NULL;
	return SSL_get_ex_data(ssl, api_conn_index);
}

/* Authenticated connections held by PRINCIPAL (if not NULL), TENANT (if
 * not NULL) and class K (CONN_ANON: any). */
static unsigned
conn_count(struct api_server *srv, const char *principal, const char *tenant,
    enum conn_class k)
{
	struct api_conn	*c;
	unsigned	 n = 0;

	TAILQ_FOREACH(c, &srv->conns, all) {
		if (!c->counted || c->klass == CONN_ANON ||
		    (k != CONN_ANON && c->klass != k) ||
		    (principal && strcmp(c->principal, principal) != 0) ||
		    (tenant && strcmp(c->tenant, tenant) != 0))
			continue;
		n++;
	}
	return n;
}

/* The connection to evict within a limit (filters as conn_count; never
 * EXCEPT): the oldest idle one, no request in flight, of the principal
 * holding the most connections there. NULL if none is idle. Quadratic
 * in the open connections, which only a full limit makes it walk. */
static struct api_conn *
conn_evictee(struct api_server *srv, const char *principal,
    const char *tenant, enum conn_class k, const struct api_conn *except)
{
	struct api_conn	*c, *best = NULL;
	unsigned	 n, best_n = 0;

	TAILQ_FOREACH(c, &srv->conns, all) {
		if (c == except || !c->counted || c->busy || c->refused ||
		    c->klass == CONN_ANON || (k != CONN_ANON && c->klass != k) ||
		    (principal && strcmp(c->principal, principal) != 0) ||
		    (tenant && strcmp(c->tenant, tenant) != 0))
			continue;
		n = conn_count(srv, c->principal, NULL, CONN_ANON);
		if (!best || n > best_n ||
		    (n == best_n && c->idle_since < best->idle_since)) {
			best = c;
			best_n = n;
		}
	}
	return best;
}

/* Closes authenticated connection C (as conn_drop does), counts it in
 * /metrics and records the first eviction for each reason in an audit
 * interval (the count is in /metrics). */
static void
conn_evict(struct api_server *srv, struct api_conn *c,
    enum conn_evict_reason why)
{
	evutil_socket_t	fd = c->bev ? bufferevent_getfd(c->bev) : -1;
	char		reason[320];

	srv->evicted[why]++;
	if (!srv->evict_recorded[why] && !srv->detached && srv->commit) {
		srv->evict_recorded[why] = 1;
		snprintf(reason, sizeof(reason), "closed an idle connection of "
		    "%s (%s) at the connection limit (%s; %u open of %u, "
		    "tenant roles at most %u): later ones in %d s only "
		    "counted in /metrics", c->principal, c->klass ==
		    CONN_TENANT ? "tenant role" : "system role",
		    conn_evict_names[why], srv->nconns, srv->max_conns,
		    srv->max_tenant_conns, API_ANON_AUDIT_SECS);
		commit_audit_async(srv->commit, &(struct audit_record){
			.actor = "bulwarkd", .role = "system",
			.tenant = "system", .source = "local",
			.auth_method = "none",
			.action = "api.connection_limit", .outcome = "success",
			.reason = reason, .controls = "SC-5,AC-10",
		});
	}
	if (fd >= 0)
		shutdown(fd, SHUT_RDWR);
	conn_release(srv, c);
}

/* A request on REQ's connection passed identify() as ID. The first time,
 * the connection leaves the unauthenticated pool and its deadline and
 * is admitted under the API_CONN_* limits: over one, it evicts the
 * oldest idle connection of the principal holding the most within that
 * limit, or, none idle, is refused: returns -BW_E_UNAVAILABLE with a
 * message and the connection closes after the answer. */
static int
conn_authenticated(struct api_server *srv, struct evhttp_request *req,
    const struct authz_identity *id, char **ret_err)
{
	struct api_conn	*c = conn_of(req), *v;
	const char	*what = NULL;

	if (!c || c->gate->srv != srv)
		return 0;
	if (!c->unauth)
		goto check;
	conn_unlink_unauth(srv, c);
	evtimer_del(c->timer);
	c->klass = id->role == ROLE_SYSTEM_ADMIN ||
	    id->role == ROLE_SECURITY_AUDITOR || id->role == ROLE_NODE ||
	    id->role == ROLE_METRICS ? CONN_SYSTEM : CONN_TENANT;
	snprintf(c->tenant, sizeof(c->tenant), "%s", id->tenant);
	snprintf(c->principal, sizeof(c->principal), "%s/%s", id->tenant,
	    id->principal);
	c->idle_since = ++srv->conn_seq;
	if (conn_count(srv, c->principal, NULL, CONN_ANON) >
	    API_CONN_PER_PRINCIPAL) {
		what = "its principal's";
		if ((v = conn_evictee(srv, c->principal, NULL, CONN_ANON, c)))
			conn_evict(srv, v, EVICT_PRINCIPAL);
		else
			goto refuse;
	}
	if (c->klass == CONN_TENANT &&
	    conn_count(srv, NULL, c->tenant, CONN_TENANT) > API_CONN_PER_TENANT) {
		what = "its tenant's";
		if ((v = conn_evictee(srv, NULL, c->tenant, CONN_TENANT, c)))
			conn_evict(srv, v, EVICT_TENANT);
		else
			goto refuse;
	}
	/* node watches hold slots of the same share (handle_watch()) */
	if (c->klass == CONN_TENANT && conn_count(srv, NULL, NULL,
	    CONN_TENANT) + watch_count_nodes(srv) > srv->max_tenant_conns) {
		what = "the tenant roles'";
		if ((v = conn_evictee(srv, NULL, NULL, CONN_TENANT, c)))
			conn_evict(srv, v, EVICT_TENANT_SHARE);
		else
			goto refuse;
	}
check:
	if (!c->refused)
		return 0;
	return errf(-BW_E_UNAVAILABLE, ret_err, "connection limit: this "
	    "connection is being closed; retry on a new one");
refuse:
	c->refused = 1;
	srv->conn_refused++;
	evhttp_add_header(evhttp_request_get_output_headers(req), "Connection",
	    "close");
	return errf(-BW_E_UNAVAILABLE, ret_err, "connection limit: %s "
	    "connections are all busy (at most %d per principal, %d per "
	    "tenant, %u for tenant roles and node watches); retry later",
	    what,
	    API_CONN_PER_PRINCIPAL, API_CONN_PER_TENANT, srv->max_tenant_conns);
}

/* The answer to REQ is out: an authenticated connection must bring its
 * next whole request within API_REQUEST_SECS (conn_timer_cb). */
static void
conn_request_done(struct evhttp_request *req, void *arg)
{
	struct api_conn	*c = arg;
	struct timeval	 tv = { API_REQUEST_SECS, 0 };

	(void)req;
	c->busy = 0;
	if (!c->gate->srv || !c->counted)
		return;
	c->idle_since = ++c->gate->srv->conn_seq;
	if (!c->unauth && c->classified)
		evtimer_add(c->timer, &tv);
}

/* A whole request arrived on REQ's connection: it is busy (not evicted
 * for a limit) until the answer is out. */
static void
conn_request_start(struct api_server *srv, struct evhttp_request *req)
{
	struct api_conn	*c = conn_of(req);

	if (!c || c->gate->srv != srv || !c->counted)
		return;
	c->busy = 1;
	if (!c->unauth)
		evtimer_del(c->timer);
	evhttp_request_set_on_complete_cb(req, conn_request_done, c);
}

/* An unauthenticated request was answered: the next one must come within
 * API_HANDSHAKE_SECS too. */
static void
conn_unauthenticated(struct api_server *srv, struct evhttp_request *req)
{
	struct api_conn	*c = conn_of(req);
	struct timeval	 tv = { API_HANDSHAKE_SECS, 0 };

	if (c && c->unauth && c->classified && c->gate->srv == srv)
		evtimer_add(c->timer, &tv);
}

/* libevent 2.1 answers requests it refuses itself (a body over
 * evhttp_set_max_body_size, headers over the header limit, a malformed
 * request line) with a fixed HTML page and has no hook to change that.
 * Every response of ours is JSON, NDJSON or text with escaped newlines,
 * so a body that starts exactly with that page's first bytes where a
 * response body begins is libevent's: it is replaced, head and all, by
 * the API's JSON error before any of it is sent. */
static void
conn_out_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info,
    void *arg)
{
	static const char	 page[] = "<HTML><HEAD>\n<TITLE>";
	struct api_conn		*c = arg;
	struct api_server	*srv = c->gate->srv;
	struct evbuffer_ptr	 pos, head;
	struct evbuffer		*keep;
	char			 got[sizeof(page) + 8], version[9] = "HTTP/1.1";
	char			 msg[160];
	const char		*code;
	_cleanup_free_ char	*body = NULL;
	int			 status = 0;
	json_t			*o;

	if (c->rewriting || info->n_added < sizeof(page) - 1 + 3 ||
	    evbuffer_ptr_set(buf, &pos, info->orig_size, EVBUFFER_PTR_SET) < 0 ||
	    evbuffer_copyout_from(buf, &pos, got, sizeof(got) - 1) <
	    (ev_ssize_t)sizeof(page) + 2)
		return;
	got[sizeof(got) - 1] = '\0';
	if (memcmp(got, page, sizeof(page) - 1) != 0 ||
	    sscanf(got + sizeof(page) - 1, "%3d", &status) != 1)
		return;
	/* the status line of this response: the last one before its body */
	head.pos = -1;
	evbuffer_ptr_set(buf, &pos, 0, EVBUFFER_PTR_SET);
	for (;;) {
		pos = evbuffer_search(buf, "HTTP/1.", 7, &pos);
		if (pos.pos < 0 || (size_t)pos.pos >= info->orig_size)
			break;
		head = pos;
		if (evbuffer_ptr_set(buf, &pos, 1, EVBUFFER_PTR_ADD) < 0)
			break;
	}
	if (head.pos < 0)
		return;
	evbuffer_copyout_from(buf, &head, version, 8);
	switch (status) {
	case 413:
		code = "too_large";
		snprintf(msg, sizeof(msg), "request over the limit: body at "
		    "most %d bytes, headers at most %d bytes", API_BODY_MAX,
		    API_HEADERS_MAX);
		break;
	case 400:
		code = "invalid";
		snprintf(msg, sizeof(msg), "malformed HTTP request, or "
		    "headers over %d bytes", API_HEADERS_MAX);
		break;
	default:
		code = "http_error";
		snprintf(msg, sizeof(msg), "%s", http_reason(status));
	}
	o = json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", msg);
	body = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (!body || !(keep = evbuffer_new()))
		return;
	c->rewriting = 1;
	evbuffer_remove_buffer(buf, keep, (size_t)head.pos);
	evbuffer_drain(buf, evbuffer_get_length(buf));
	evbuffer_add_buffer(buf, keep);
	evbuffer_add_printf(buf, "%.8s %d %s\r\nContent-Type: application/json\r\n"
	    "Cache-Control: no-store\r\nConnection: close\r\n"
	    "Content-Length: %zu\r\n\r\n%s\n", version, status,
	    http_reason(status), strlen(body) + 1, body);
	c->rewriting = 0;
	evbuffer_free(keep);
	if (srv && status / 100 < (int)ELEMENTSOF(srv->requests))
		srv->requests[status / 100]++;
}

/* The SSL of a counted connection is freed when evhttp frees the
 * connection, on the loop thread; other SSLs carry no server. */
static void
conn_ex_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
    void *argp)
{
	(void)parent;
	(void)ad;
	(void)idx;
	(void)argl;
	(void)argp;
	struct api_conn *c = ptr;

	if (c)
		conn_forget(c);
}

/* Frees C once its connection is gone (on the loop thread), and its
 * gate with the last connection of a freed server. */
static void
conn_forget(struct api_conn *c)
{
	struct conn_gate *g = c->gate;

	if (g->srv) {
		conn_release(g->srv, c);
		if (c->linked)
			TAILQ_REMOVE(&g->srv->conns, c, all);
	}
	if (c->timer)
		event_free(c->timer);
	X509_free(c->cert);
	free(c);
	g->refs--;
	if (!g->srv && g->refs == 0)
		free(g);
}

void
api_server_set_ssl_ctx(struct api_server *s, SSL_CTX *ctx)
{
	/* A context being replaced keeps its ex_data: the connections made
	 * from it still find the server through it (tls_info_cb()). */
	SSL_CTX_set_ex_data(ctx, api_server_index, s);
	SSL_CTX_set_info_callback(ctx, tls_info_cb);
	s->ssl_ctx = ctx;
	if (s->ctx_cb)
		s->ctx_cb(s->ctx_arg, ctx);
}

static struct bufferevent *
bev_cb(struct event_base *base, void *arg)
{
	struct api_server	*srv = arg;
	struct bufferevent	*bev;
	struct api_conn		*c;
	SSL			*ssl;

	if (srv->privsep)
		return plain_bev_new(srv, base);
	if (!(ssl = SSL_new(srv->ssl_ctx)))
		return NULL;
	bev = bufferevent_openssl_socket_new(base, -1, ssl,
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	if (!bev)
		return NULL;
	if (!srv->gate || !(c = calloc(1, sizeof(*c))))
		return bev;
	c->gate = srv->gate;
	c->bev = bev;
	if (!(c->timer = evtimer_new(base, conn_timer_cb, c)) ||
	    SSL_set_ex_data(ssl, api_conn_index, c) != 1) {
		if (c->timer)
			event_free(c->timer);
		free(c);
		return bev;
	}
	conn_track(srv, c);
	return bev;
}

static int
split_listen(const char *listen, char *host, size_t hlen, int *ret_port)
{
	const char	*colon;
	char		*end;
	long		 port;

	if (listen[0] == '[') {
		const char *rb = strchr(listen, ']');

		if (!rb || rb[1] != ':' || (size_t)(rb - listen - 1) >= hlen)
			return -EINVAL;
		memcpy(host, listen + 1, (size_t)(rb - listen - 1));
		host[rb - listen - 1] = '\0';
		colon = rb + 1;
	} else {
		if (!(colon = strrchr(listen, ':')) ||
		    (size_t)(colon - listen) >= hlen)
			return -EINVAL;
		memcpy(host, listen, (size_t)(colon - listen));
		host[colon - listen] = '\0';
	}
	port = strtol(colon + 1, &end, 10);
	if (*end || port < 0 || port > 65535 || !host[0])
		return -EINVAL;
	*ret_port = (int)port;
	return 0;
}

static void
commit_observer(void *arg)
{
	struct api_server *srv = arg;

	metrics_commit_observed(srv->metrics, srv->commit);
	watch_notify_all(arg);
}

/* The connection limits of SRV from MAX (0: the default). */
static void
conn_limits_init(struct api_server *srv, unsigned max)
{
	srv->max_conns = max ? max : API_MAX_CONNECTIONS_DEFAULT;
	{
		/* Stay under the descriptor limit, with room for the
		 * store, the trail and the rest of the daemon: at EMFILE
		 * accept() would fail in a loop instead. */
		struct rlimit rl;

		if (getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
		    rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur > 128 &&
		    srv->max_conns > rl.rlim_cur - 128)
			srv->max_conns = (unsigned)(rl.rlim_cur - 128);
	}
	srv->max_tenant_conns = api_conn_unreserved(srv->max_conns);
	srv->max_unauth = srv->max_conns * API_UNAUTH_SHARE_PCT / 100;
	if (srv->max_unauth == 0)
		srv->max_unauth = 1;
}

int
api_server_start(struct event_base *base, const struct api_server_options *o,
    struct api_server **ret, char **ret_err)
{
	struct api_server	*srv;
	char			 host[256];
	int			 port, r;
	struct sockaddr_storage	 ss;
	socklen_t		 sl = sizeof(ss);
	struct timeval		 hb = { WATCH_HEARTBEAT_SECS, 0 };
	struct timeval		 anon_tv = { API_ANON_AUDIT_SECS, 0 };

	if (split_listen(o->listen, host, sizeof(host), &port) < 0)
		return errf(-BW_E_INVALID, ret_err,
		    "--listen: \"%s\" is not ADDR:PORT or [ADDR6]:PORT", o->listen);
	if (!(srv = calloc(1, sizeof(*srv))))
		return -ENOMEM;
	TAILQ_INIT(&srv->watchers);
	/* without it the pump decides per watcher, as it can */
	srv->view = nodeview_memo_new();
	TAILQ_INIT(&srv->conns);
	TAILQ_INIT(&srv->unauth);
	TAILQ_INIT(&srv->pending);
	srv->tcp_fd = -1;
	srv->base = base;
	srv->ssl_ctx = o->ssl_ctx;
	srv->st = o->store;
	srv->commit = o->commit;
	srv->trail = o->trail;
	if (o->audit_dir && !(srv->audit_dir = strdup(o->audit_dir))) {
		r = -ENOMEM;
		goto fail;
	}
	srv->is_revoked = o->is_revoked;
	srv->revoked_ctx = o->revoked_ctx;
	srv->principals = o->principals;
	srv->health_extra = o->health_extra;
	srv->health_arg = o->health_arg;
	if ((r = metrics_new(srv->st, &srv->metrics)) < 0)
		goto fail;
	srv->metrics_extra = o->metrics_extra;
	srv->metrics_arg = o->metrics_arg;
	if (api_server_index == 0)
		api_server_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);
	if (api_conn_index < 0)
		api_conn_index = SSL_get_ex_new_index(0, NULL, NULL, NULL,
		    conn_ex_free);
	if (api_ident_index < 0)
		api_ident_index = SSL_get_ex_new_index(0, NULL, NULL, NULL,
		    ident_ex_free);
	if (!(srv->gate = calloc(1, sizeof(*srv->gate)))) {
		r = -ENOMEM;
		goto fail;
	}
	srv->gate->srv = srv;
	srv->default_quota = o->default_quota ? *o->default_quota :
	    (struct quota_limits)QUOTA_DEFAULT_LIMITS;
	netadmit_set_listen(&srv->netadmit, o->listen);
	conn_limits_init(srv, o->max_connections);
	api_server_set_ssl_ctx(srv, srv->ssl_ctx);
	if (!(srv->http = evhttp_new(base))) {
		r = -ENOMEM;
		goto fail;
	}
	evhttp_set_bevcb(srv->http, bev_cb, srv);
	evhttp_set_gencb(srv->http, on_request, srv);
	evhttp_set_max_body_size(srv->http, API_BODY_MAX);
	evhttp_set_max_headers_size(srv->http, API_HEADERS_MAX);
	evhttp_set_timeout(srv->http, API_TIMEOUT_SECS);
	/* every method reaches on_request, so a refused one is audited too */
	evhttp_set_allowed_methods(srv->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST |
	    EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_HEAD |
	    EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH | EVHTTP_REQ_TRACE |
	    EVHTTP_REQ_CONNECT);
	srv->tcp_fd = -1;
	if (o->plain_socket) {
		srv->privsep = 1;
		if ((r = plain_listen(srv, host, port, o->plain_socket,
		    ret_err)) < 0)
			goto fail;
	} else if (!(srv->bound = evhttp_bind_socket_with_handle(srv->http,
	    host, (ev_uint16_t)port)) ||
	    tls_listen_tune(evhttp_bound_socket_get_fd(srv->bound)) < 0) {
		r = errf(-EADDRNOTAVAIL, ret_err, "cannot listen on %s: %s",
		    o->listen, strerror(errno));
		goto fail;
	}
	if (getsockname(srv->privsep ? srv->tcp_fd :
	    evhttp_bound_socket_get_fd(srv->bound),
	    (struct sockaddr *)&ss, &sl) == 0)
		srv->port = ntohs(ss.ss_family == AF_INET6 ?
		    ((struct sockaddr_in6 *)&ss)->sin6_port :
		    ((struct sockaddr_in *)&ss)->sin_port);
	srv->heartbeat = event_new(base, -1, EV_PERSIST, heartbeat_cb, srv);
	if (!srv->heartbeat || event_add(srv->heartbeat, &hb) < 0) {
		r = -ENOMEM;
		goto fail;
	}
	srv->anon_ev = event_new(base, -1, EV_PERSIST, anon_flush_cb, srv);
	if (!srv->anon_ev || event_add(srv->anon_ev, &anon_tv) < 0) {
		r = -ENOMEM;
		goto fail;
	}
	if ((r = offload_new(base, OFFLOAD_THREADS, OFFLOAD_QUEUE_MAX,
	    &srv->offload)) < 0) {
		r = errf(r, ret_err, "offload workers: %s", bw_strerror(r));
		goto fail;
	}
	if ((r = commit_add_observer(srv->commit, commit_observer, srv)) < 0)
		goto fail;
	*ret = srv;
	return 0;
fail:
	api_server_free(srv);
	return r;
}

int
api_server_add_handler(struct api_server *s, const char *prefix,
    api_handler_fn fn, void *arg)
{
	if (s->nhandlers == API_HANDLERS_MAX ||
	    strlen(prefix) >= sizeof(s->handlers[0].prefix))
		return -ENOSPC;
	snprintf(s->handlers[s->nhandlers].prefix,
	    sizeof(s->handlers[0].prefix), "%s", prefix);
	s->handlers[s->nhandlers].fn = fn;
	s->handlers[s->nhandlers].arg = arg;
	s->nhandlers++;
	return 0;
}

void
api_reply_json(struct api_server *s, struct evhttp_request *req, int status,
    json_t *body)
{
	reply_json(s, req, status, body);
}

void
api_reply_error(struct api_server *s, struct evhttp_request *req, int status,
    const char *code, const char *message)
{
	reply_error(s, req, status, code, message);
}

void
api_reply_err(struct api_server *s, struct evhttp_request *req, int r,
    const char *message)
{
	reply_err_r(s, req, r, message);
}

void
api_audit(struct api_server *s, const struct authz_identity *id,
    const char *action, const char *kind, const char *tenant,
    const char *name, const char *outcome, const char *reason)
{
	/* Requests without a valid certificate cost bounded trail space:
	 * counted per source and interval. Each authenticated one keeps
	 * its own record. */
	if (!s->detached && (!id->auth_method ||
	    strcmp(id->auth_method, "none") == 0 ||
	    strcmp(id->auth_method, "tls") == 0 ||
	    strcmp(action, "auth.failure") == 0)) {
		anon_count(s, id->source, action, outcome, reason);
		return;
	}
	struct audit_record rec = {
		.actor = id->principal[0] ? id->principal : "anonymous",
		.role = id->role_name[0] ? id->role_name : "none",
		.tenant = id->tenant[0] ? id->tenant : "none",
		.source = id->source,
		.auth_method = id->auth_method ? id->auth_method : "none",
		.action = action, .object_kind = kind,
		.object_tenant = tenant && *tenant ? tenant : NULL,
		.object_name = name && *name ? name : NULL,
		.outcome = outcome, .reason = reason,
		.controls = REQUEST_CONTROLS,
	};

	commit_audit_async(s->commit, &rec);
}

int
api_offload_submit(struct api_server *s, struct evhttp_request *req,
    const struct authz_identity *id, const char *action,
    void (*work)(void *), void (*done)(void *, bool), void *arg)
{
	char	msg[160], retry[16];
	int	r;

	if ((r = offload_submit(s->offload, work, done, arg)) == 0)
		return 0;
	if (r != -EBUSY && r != -ESHUTDOWN) {
		audit_request(s, id, action, NULL, NULL, NULL, "failure",
		    bw_strerror(r));
		reply_err_r(s, req, r, NULL);
		return r;
	}
	if (r == -EBUSY) {
		s->offload_refused++;
		snprintf(msg, sizeof(msg), "%u long operations are running or "
		    "waiting (the server's limit); retry later",
		    OFFLOAD_THREADS + OFFLOAD_QUEUE_MAX);
	} else
		snprintf(msg, sizeof(msg), "the server is shutting down");
	audit_request(s, id, action, NULL, NULL, NULL, "denied", msg);
	snprintf(retry, sizeof(retry), "%d", OFFLOAD_RETRY_AFTER_SECS);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After",
	    retry);
	reply_error(s, req, 503, "busy", msg);
	return r;
}

int
api_read_json_body(struct evhttp_request *req, json_t **ret, char **ret_err)
{
	int r = read_body(req, ret, ret_err);

	return r == -EPROTONOSUPPORT ? -BW_E_INVALID : r;
}

struct store *
api_store(struct api_server *s)
{
	return s->st;
}

struct committer *
api_committer(struct api_server *s)
{
	return s->commit;
}

void
api_server_set_attest_deadline(struct api_server *s, unsigned secs)
{
	s->attest_deadline_s = secs;
}

int
api_server_port(struct api_server *s)
{
	return s->port;
}

void
api_server_detach(struct api_server *s)
{
	if (!s || s->detached)
		return;
	/* jobs still running answer and record their requests now */
	offload_drain(s->offload);
	anon_flush(s);
	commit_remove_observer(s->commit, commit_observer, s);
	s->detached = 1;
}

void
api_server_free(struct api_server *s)
{
	struct watcher	*w;
	struct api_conn	*c;

	if (!s)
		return;
	/* before evhttp_free(), which frees the requests jobs answer */
	offload_free(s->offload);
	if (!s->detached && s->commit) {
		anon_flush(s);
		commit_remove_observer(s->commit, commit_observer, s);
	}
	/* a watch whose connection is gone holds a detached request that
	 * only evhttp_send_reply_end() frees */
	while ((w = TAILQ_FIRST(&s->watchers)))
		watcher_end(w);
	if (s->heartbeat)
		event_free(s->heartbeat);
	if (s->anon_ev)
		event_free(s->anon_ev);
	/* Connections' SSLs may outlive the server (deferred frees): their
	 * timers go now, with the base still there. */
	s->bound = NULL;
	while ((c = TAILQ_FIRST(&s->conns))) {
		conn_release(s, c);
		TAILQ_REMOVE(&s->conns, c, all);
		c->linked = 0;
		if (c->timer) {
			event_free(c->timer);
			c->timer = NULL;
		}
		evbuffer_remove_cb(bufferevent_get_output(c->bev), conn_out_cb, c);
		/* a plain one evhttp never reported closes goes now; the
		 * others go with evhttp_free() (conn_plain_closed()) */
		if (c->plain && !c->closecb_set) {
			TAILQ_REMOVE(&plain_conns, c, plain_entry);
			s->gate->refs--;
			X509_free(c->cert);
			free(c);
		}
	}
	while (!TAILQ_EMPTY(&s->pending)) {
		struct plain_pending *p = TAILQ_FIRST(&s->pending);

		TAILQ_REMOVE(&s->pending, p, entry);
		plain_pending_free(p);
	}
	/* Connections freed with the server count down without reopening
	 * the listener or auditing. */
	s->bound = NULL;
	s->detached = 1;
	if (s->http)
		evhttp_free(s->http);
	if (s->tcp_fd >= 0)
		close(s->tcp_fd);
	if (s->plain_path[0])
		(void)unlink(s->plain_path);
	if (s->gate) {
		s->gate->srv = NULL;
		if (s->gate->refs == 0)
			free(s->gate);
	}
	if (s->ssl_ctx) {
		SSL_CTX_set_info_callback(s->ssl_ctx, NULL);
		SSL_CTX_set_ex_data(s->ssl_ctx, api_server_index, NULL);
	}
	metrics_free(s->metrics);
	nodeview_memo_free(s->view);
	free(s->audit_dir);
	free(s);
}

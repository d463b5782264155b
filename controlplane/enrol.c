/* Node enrolment and attestation: see enrol.h and docs/identity.md.
 *
 * Every change of a node's attestation state is a store write through
 * the commit pipeline, so its audit record is durable before the answer
 * leaves (no record, no change). Requests that change nothing are
 * recorded with api_audit(). */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>

#include <event2/http.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "controlplane/api.h"
#include "controlplane/authz.h"
#include "controlplane/commit.h"
#include "controlplane/enrol.h"
#include "controlplane/resource.h"
#include "controlplane/store.h"
#include "hardening/crypto-policy.h"
#include "hardening/pki.h"
#include "identity/attest.h"
#include "lib/b64.h"
#include "lib/err.h"
#include "lib/ids.h"
#include "lib/json.h"
#include "lib/log.h"
#include "lib/macro.h"

#define ENROL_CONTROLS		"IA-3,IA-3(1),SC-17,SI-7,CM-8,AU-2"
#define BOOTSTRAP_DEFAULT_S	900
#define PEM_PUB_MAX		4096

struct enrol_session {
	int		 used;
	char		 id[33];
	char		 node[64];
	char		 serial[80];	/* of the bootstrap credential */
	unsigned char	 challenge[ENROL_CHALLENGE_LEN];
	unsigned char	 nonce[ENROL_NONCE_LEN];
	char		*ak_b64, *ak_pem, *ek_sha, *tls_pub;
	json_t		*capacity;
	time_t		 expires;
	unsigned long	 seq;
};

struct enrol_write;

struct enrol {
	struct api_server	*srv;
	struct event_base	*base;
	struct enrol_ops	 ops;
	struct enrol_options	 o;
	struct event		*timer;
	bool			 passive;	/* another replica scans */
	struct enrol_session	 sessions[ENROL_SESSIONS_MAX];
	unsigned long		 seq;
	TAILQ_HEAD(, enrol_write) writes;
	/* What the last stale scan read of each Node, in key order */
	struct stale_seen	*seen;
	size_t			 nseen;
};

/* A Node as the stale scan last read it: at revision REV (the same
 * document while the revision is the same), whether it is watched
 * (stale_candidate()) and its last good quote. */
struct stale_seen {
	char		*key;
	uint64_t	 rev;
	bool		 watched;
	json_int_t	 last;
};

/* One node write in flight; replies when the commit is durable. */
struct enrol_write {
	struct commit_req		 creq;	/* first: done() casts back */
	struct enrol			*e;	/* NULL once detached */
	struct evhttp_request		*req;	/* NULL: nothing to answer */
	char				 key[RES_KEY_MAX];
	char				 node[64];
	char				*value;
	char				 actor[64], role[32], tenant[64];
	char				 source[64], auth[16], action[48];
	char				*reason;
	int				 status;	/* HTTP status on success */
	json_t				*reply;		/* body on success */
	char				 revoke[80];	/* serial revoked once durable */
	TAILQ_ENTRY(enrol_write)	 entry;
};

/* ---- small helpers ---- */

int
enrol_sha256_hex(const void *buf, size_t len, char ret[65])
{
	unsigned char d[32];

	if (!EVP_Digest(buf, len, d, NULL, EVP_sha256(), NULL))
		return -BW_E_CRYPTO;
	hex_encode(d, sizeof(d), ret);
	return 0;
}

static int
random_hex(char *buf, size_t nbytes)
{
	unsigned char b[32];

	if (nbytes > sizeof(b) || RAND_bytes(b, (int)nbytes) != 1)
		return -BW_E_CRYPTO;
	hex_encode(b, nbytes, buf);
	return 0;
}

static json_t *
status_of(json_t *doc)
{
	json_t *st = json_object_get(doc, "status");

	if (!json_is_object(st)) {
		st = json_object();
		json_object_set_new(doc, "status", st);
	}
	return st;
}

/* Reads a binary field sent as base64, bounded. */
static int
body_b64(json_t *body, const char *key, size_t max, unsigned char **ret,
    size_t *ret_len, char **ret_err)
{
	const char	*s = json_str_at(body, key, NULL);
	int		 r;

	if (!s)
		return errf(-BW_E_INVALID, ret_err, "%s: required (base64)", key);
	if ((r = b64_decode(s, max, ret, ret_len)) < 0)
		return errf(r == -BW_E_TOOLARGE ? r : -BW_E_INVALID, ret_err,
		    "%s: %s", key, r == -BW_E_TOOLARGE ? "too large" :
		    "not valid base64");
	return 0;
}

static int
is_admin(const struct authz_identity *id)
{
	return id->role == ROLE_SYSTEM_ADMIN;
}

static int
is_role(const struct authz_identity *id, const char *role)
{
	return id->role == ROLE_NODE && strcmp(id->role_name, role) == 0;
}

/* ---- node objects ---- */

static int
node_key(const char *name, char *buf, size_t len)
{
	return res_key(res_kind_by_name("Node"), NULL, name, buf, len);
}

/* Loads node NAME into *RET_DOC with its revision. -BW_E_NOTFOUND when
 * absent. */
static int
node_load(struct enrol *e, const char *name, json_t **ret_doc,
    uint64_t *ret_rev)
{
	struct store_kv	*kv = NULL;
	char		 key[RES_KEY_MAX];
	json_t		*doc;
	int		 r;

	if (node_key(name, key, sizeof(key)) < 0)
		return -BW_E_INVALID;
	if ((r = store_get(api_store(e->srv), key, &kv)) < 0)
		return r;
	doc = json_loadb(kv->value, kv->value_len, 0, NULL);
	*ret_rev = kv->mod_rev;
	free(kv->key);
	free(kv->value);
	free(kv);
	if (!json_is_object(doc)) {
		json_decref(doc);
		return -BW_E_CORRUPT;
	}
	*ret_doc = doc;
	return 0;
}

static json_t *
node_new(const char *name)
{
	char uid[40], created[40];

	if (random_hex(uid, 16) < 0)
		return NULL;
	bw_time_rfc3339_at(created, sizeof(created), time(NULL));
	return json_pack("{s:s, s:{s:s, s:s, s:s, s:s, s:{}}, s:{}, s:{s:s, "
	    "s:s}}", "kind", "Node", "metadata", "name", name, "tenant",
	    RES_SYSTEM_TENANT, "uid", uid, "created", created, "labels", "spec",
	    "status", "phase", "Enrolling", "attestation", "Pending");
}

static void
write_free(struct enrol_write *w)
{
	free(w->value);
	free(w->reason);
	json_decref(w->reply);
	free(w);
}

static void
write_done(struct commit_req *creq)
{
	struct enrol_write	*w = (struct enrol_write *)creq;
	struct enrol		*e = w->e;
	_cleanup_free_ char	*err = NULL;
	int			 r = creq->result;

	if (!e) {
		write_free(w);
		return;
	}
	TAILQ_REMOVE(&e->writes, w, entry);
	if (r == 0 && w->revoke[0] && e->ops.revoke &&
	    e->ops.revoke(e->ops.ctx, w->revoke, &err) < 0)
		log_error("node %s: cannot revoke certificate %s: %s", w->node,
		    w->revoke, err ? err : "error");
	if (!w->req) {
		if (r < 0 && r != -BW_E_CONFLICT)
			log_error("node %s: %s not recorded: %s", w->node,
			    w->action, bw_strerror(r));
	} else if (r == 0)
		api_reply_json(e->srv, w->req, w->status, w->reply);
	else if (r == -BW_E_AUDIT)
		api_reply_error(e->srv, w->req, 503, "audit_unavailable",
		    "the audit record of this step could not be made durable; "
		    "nothing was changed");
	else if (r == -BW_E_CONFLICT || r == -BW_E_EXISTS)
		api_reply_error(e->srv, w->req, 409, "conflict",
		    "the node changed concurrently; retry");
	else
		api_reply_err(e->srv, w->req, r, NULL);
	write_free(w);
}

/* Submits DOC as node NAME's new value (EXPECT_REV: its revision, or
 * STORE_REV_ABSENT) with an audit record, and answers REQ (if any) with
 * STATUS and REPLY (taken over) once durable. The record's outcome is
 * the write's (set by the pipeline), so ACTION names what happened to
 * the node ("node.attest.failed"); OUTCOME is kept for a refused write.
 * OP_FLAGS: STORE_OP_RESERVE for an attestation verdict (a quote's or
 * the stale scan's), which must get through past the store's
 * high-water mark: else a node that failed its quote would stay Trusted
 * (it replaces the node's own object, so it adds little); 0 otherwise
 * (enrolment adds nodes: refused at the mark like any new data). */
static int
node_write(struct enrol *e, struct evhttp_request *req,
    const struct authz_identity *id, const char *name, json_t *doc,
    uint64_t expect_rev, unsigned op_flags, const char *action,
    const char *outcome, const char *reason, int status, json_t *reply,
    const char *revoke)
{
	struct enrol_write *w;

	if (!(w = calloc(1, sizeof(*w)))) {
		json_decref(reply);
		return -ENOMEM;
	}
	w->e = e;
	w->req = req;
	w->status = status;
	w->reply = reply;
	snprintf(w->node, sizeof(w->node), "%s", name);
	snprintf(w->actor, sizeof(w->actor), "%s", id ? id->principal : "bulwarkd");
	snprintf(w->role, sizeof(w->role), "%s", id ? id->role_name : "system");
	snprintf(w->tenant, sizeof(w->tenant), "%s", id ? id->tenant :
	    RES_SYSTEM_TENANT);
	snprintf(w->source, sizeof(w->source), "%s", id ? id->source : "local");
	snprintf(w->auth, sizeof(w->auth), "%s", id && id->auth_method ?
	    id->auth_method : "none");
	snprintf(w->action, sizeof(w->action), "%s", action);
	if (revoke)
		snprintf(w->revoke, sizeof(w->revoke), "%s", revoke);
	if (node_key(name, w->key, sizeof(w->key)) < 0 ||
	    !(w->value = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS)) ||
	    (reason && !(w->reason = strdup(reason)))) {
		write_free(w);
		return -ENOMEM;
	}
	w->creq.op = (struct store_op){ .type = STORE_OP_PUT, .key = w->key,
	    .value = w->value, .value_len = strlen(w->value),
	    .expect_rev = expect_rev, .flags = op_flags };
	w->creq.rec = (struct audit_record){ .actor = w->actor, .role = w->role,
	    .tenant = w->tenant, .source = w->source, .auth_method = w->auth,
	    .action = w->action, .object_kind = "Node",
	    .object_tenant = RES_SYSTEM_TENANT, .object_name = w->node,
	    .outcome = outcome, .reason = w->reason,
	    .controls = ENROL_CONTROLS };
	w->creq.done = write_done;
	TAILQ_INSERT_TAIL(&e->writes, w, entry);
	commit_submit(api_committer(e->srv), &w->creq);
	return 0;
}

/* Sets the attestation state and reason of DOC's status. */
static void
set_attestation(json_t *doc, const char *state, const char *reason)
{
	json_t	*st = status_of(doc);
	char	 now[40];

	bw_time_rfc3339_at(now, sizeof(now), time(NULL));
	json_object_set_new(st, "attestation", json_string(state));
	json_object_set_new(st, "attestation_reason", json_string(reason));
	json_object_set_new(st, "attestation_changed", json_string(now));
}

/* Reports a refusal that changes nothing: audited, then answered. */
static void
refuse(struct enrol *e, struct evhttp_request *req,
    const struct authz_identity *id, const char *action, const char *node,
    int r, const char *msg)
{
	api_audit(e->srv, id, action, "Node", RES_SYSTEM_TENANT, node,
	    r == -BW_E_DENIED || r == -BW_E_UNAUTH ? "denied" : "failure", msg);
	api_reply_err(e->srv, req, r, msg);
}

/* ---- sessions ---- */

static void
session_clear(struct enrol_session *s)
{
	free(s->ak_b64);
	free(s->ak_pem);
	free(s->ek_sha);
	free(s->tls_pub);
	json_decref(s->capacity);
	OPENSSL_cleanse(s, sizeof(*s));
}

static struct enrol_session *
session_slot(struct enrol *e)
{
	struct enrol_session	*best = NULL;
	time_t			 now = time(NULL);
	size_t			 i;

	for (i = 0; i < ENROL_SESSIONS_MAX; i++) {
		struct enrol_session *s = &e->sessions[i];

		if (s->used && s->expires < now)
			session_clear(s);
		if (!s->used)
			return s;
		if (!best || s->seq < best->seq)
			best = s;
	}
	/* Full: the oldest session goes (bounded memory under a flood). */
	session_clear(best);
	return best;
}

static struct enrol_session *
session_find(struct enrol *e, const char *sid)
{
	size_t i;

	for (i = 0; sid && i < ENROL_SESSIONS_MAX; i++)
		if (e->sessions[i].used &&
		    strcmp(e->sessions[i].id, sid) == 0 &&
		    e->sessions[i].expires >= time(NULL))
			return &e->sessions[i];
	return NULL;
}

/* ---- admin: bootstrap credential ---- */

static void
handle_bootstrap(struct enrol *e, struct evhttp_request *req,
    const struct authz_identity *id)
{
	_cleanup_json_ json_t	*body = NULL, *doc = NULL;
	_cleanup_free_ char	*err = NULL, *cert = NULL, *serial = NULL;
	_cleanup_secret_ char	*key = NULL;
	const char		*node, *old;
	char			 old_serial[80] = "", msg[256], exp[40];
	uint64_t		 rev = STORE_REV_ABSENT;
	json_int_t		 ttl = BOOTSTRAP_DEFAULT_S;
	json_t			*st, *reply;
	time_t			 expires;
	int			 r;

	if (!is_admin(id)) {
		refuse(e, req, id, "node.bootstrap", NULL, -BW_E_DENIED,
		    "only a system-admin may issue bootstrap credentials");
		return;
	}
	if ((r = api_read_json_body(req, &body, &err)) < 0) {
		refuse(e, req, id, "node.bootstrap", NULL, r, err);
		return;
	}
	node = json_str_at(body, "node", NULL);
	if (!node || pki_check_name("node", node, &err) < 0) {
		refuse(e, req, id, "node.bootstrap", NULL, -BW_E_INVALID,
		    err ? err : "node: required");
		return;
	}
	if (json_object_get(body, "ttl_seconds")) {
		ttl = json_integer_value(json_object_get(body, "ttl_seconds"));
		if (!json_is_integer(json_object_get(body, "ttl_seconds")) ||
		    ttl < 60 || ttl > (json_int_t)e->o.bootstrap_max_s) {
			snprintf(msg, sizeof(msg), "ttl_seconds: must be 60..%u",
			    e->o.bootstrap_max_s);
			refuse(e, req, id, "node.bootstrap", node, -BW_E_INVALID,
			    msg);
			return;
		}
	}
	r = node_load(e, node, &doc, &rev);
	if (r == -BW_E_NOTFOUND) {
		rev = STORE_REV_ABSENT;
		if (!(doc = node_new(node))) {
			api_reply_err(e->srv, req, -ENOMEM, NULL);
			return;
		}
	} else if (r < 0) {
		refuse(e, req, id, "node.bootstrap", node, r, bw_strerror(r));
		return;
	}
	if ((r = e->ops.issue_cert(e->ops.ctx, node, "node-bootstrap", NULL,
	    (unsigned)ttl, &cert, &key, &serial, &err)) < 0) {
		refuse(e, req, id, "node.bootstrap", node, r, err);
		return;
	}
	st = status_of(doc);
	/* An earlier, unused bootstrap credential stops working now. */
	old = json_str_at(st, "enrolment", "bootstrap_serial");
	if (old)
		snprintf(old_serial, sizeof(old_serial), "%s", old);
	expires = time(NULL) + ttl;
	bw_time_rfc3339_at(exp, sizeof(exp), expires);
	json_object_set_new(st, "enrolment", json_pack("{s:s, s:I, s:s, s:s}",
	    "bootstrap_serial", serial, "bootstrap_expires_unix",
	    (json_int_t)expires, "bootstrap_expires", exp, "issued_by",
	    id->principal));
	if (!json_object_get(st, "attestation"))
		set_attestation(doc, "Pending", "waiting for the node to enrol");
	reply = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "node", node,
	    "certificate", cert, "key", key, "ca", e->ops.ca_pem, "serial",
	    serial, "expires", exp);
	snprintf(msg, sizeof(msg), "bootstrap credential serial %s for node %s "
	    "(single use, expires %s)", serial, node, exp);
	if (!reply || node_write(e, req, id, node, doc, rev, 0,
	    "node.bootstrap", "success", msg, 201, reply,
	    old_serial[0] ? old_serial : NULL) < 0)
		api_reply_err(e->srv, req, -ENOMEM, NULL);
}

/* ---- admin: approve golden values ---- */

static void
pcrs_text(const json_t *pcrs, char *buf, size_t len)
{
	const char	*k;
	json_t		*v;
	size_t		 off = 0;

	buf[0] = '\0';
	json_object_foreach((json_t *)pcrs, k, v) {
		int n = snprintf(buf + off, len - off, "%s%s=%.16s...",
		    off ? " " : "", k, json_string_value(v) ?: "");

		if (n < 0 || (size_t)n >= len - off)
			break;
		off += (size_t)n;
	}
}

static void
handle_approve(struct enrol *e, struct evhttp_request *req,
    const struct authz_identity *id)
{
	_cleanup_json_ json_t	*body = NULL, *doc = NULL;
	_cleanup_free_ char	*err = NULL;
	const char		*node;
	json_t			*st, *pending, *pcrs, *ident;
	char			 msg[1024], vals[700];
	uint64_t		 rev;
	int			 r;

	if (!is_admin(id)) {
		refuse(e, req, id, "node.approve", NULL, -BW_E_DENIED,
		    "only a system-admin may approve golden PCR values");
		return;
	}
	if ((r = api_read_json_body(req, &body, &err)) < 0) {
		refuse(e, req, id, "node.approve", NULL, r, err);
		return;
	}
	if (!(node = json_str_at(body, "node", NULL)) ||
	    pki_check_name("node", node, NULL) < 0) {
		refuse(e, req, id, "node.approve", NULL, -BW_E_INVALID,
		    "node: required, a node name");
		return;
	}
	if ((r = node_load(e, node, &doc, &rev)) < 0) {
		refuse(e, req, id, "node.approve", node, r,
		    r == -BW_E_NOTFOUND ? "no such node" : bw_strerror(r));
		return;
	}
	st = status_of(doc);
	pending = json_object_get(st, "pending");
	pcrs = json_object_get(pending, "pcrs");
	ident = json_object_get(pending, "identity");
	if (!json_is_object(pcrs) || !json_is_object(ident)) {
		refuse(e, req, id, "node.approve", node, -BW_E_CONFLICT,
		    "the node has no quoted PCR values awaiting approval: it "
		    "must attempt enrolment first");
		return;
	}
	json_object_set(st, "golden_pcrs", pcrs);
	json_object_set(st, "identity", ident);
	json_object_del(st, "pending");
	set_attestation(doc, "Pending", "golden PCR values approved; waiting "
	    "for the node's next quote");
	pcrs_text(pcrs, vals, sizeof(vals));
	snprintf(msg, sizeof(msg), "golden PCR values approved for AK sha256 "
	    "%.16s...: %s", json_str_at(ident, "ak_sha256", NULL) ?: "?", vals);
	if (node_write(e, req, id, node, doc, rev, 0, "node.approve", "success",
	    msg, 200, json_pack("{s:s, s:s, s:O}", "node", node, "state",
	    "Approved", "golden_pcrs", pcrs), NULL) < 0)
		api_reply_err(e->srv, req, -ENOMEM, NULL);
}

/* ---- node-bootstrap: begin ---- */

static int
bootstrap_matches(const json_t *doc, const struct authz_identity *id,
    char **ret_err)
{
	const json_t	*enr = json_object_get(json_object_get(doc, "status"),
	    "enrolment");
	const char	*serial = json_str_at(enr, "bootstrap_serial", NULL);

	if (!serial || strcmp(serial, id->serial) != 0)
		return errf(-BW_E_DENIED, ret_err, "bootstrap credential %s is "
		    "not the current one for node %s (already used, or "
		    "superseded)", id->serial, id->principal);
	return 0;
}

static void
handle_begin(struct enrol *e, struct evhttp_request *req,
    const struct authz_identity *id)
{
	_cleanup_json_ json_t		*body = NULL, *doc = NULL;
	_cleanup_free_ char		*err = NULL, *ak_pem = NULL;
	_cleanup_free_ char		*cred_b64 = NULL, *nonce_b64 = NULL;
	_cleanup_free_ unsigned char	*ek = NULL, *ak = NULL, *cred = NULL;
	struct enrol_session		*s;
	const char			*node = id->principal, *tls_pub;
	char				 ek_sha[65];
	size_t				 ek_len, ak_len, cred_len;
	uint64_t			 rev;
	int				 r;

	if (!is_role(id, "node-bootstrap")) {
		refuse(e, req, id, "node.enrol.begin", NULL, -BW_E_DENIED,
		    "enrolment needs a node-bootstrap credential");
		return;
	}
	if ((r = api_read_json_body(req, &body, &err)) < 0) {
		refuse(e, req, id, "node.enrol.begin", node, r, err);
		return;
	}
	if (!json_str_at(body, "node", NULL) ||
	    strcmp(json_str_at(body, "node", NULL), node) != 0) {
		refuse(e, req, id, "node.enrol.begin", node, -BW_E_DENIED,
		    "node: must be the name in the bootstrap credential");
		return;
	}
	if ((r = node_load(e, node, &doc, &rev)) < 0 ||
	    (r = bootstrap_matches(doc, id, &err)) < 0) {
		refuse(e, req, id, "node.enrol.begin", node, r,
		    err ? err : "no such node");
		return;
	}
	tls_pub = json_str_at(body, "tls_pub", NULL);
	if (!tls_pub || strlen(tls_pub) > PEM_PUB_MAX ||
	    strncmp(tls_pub, "-----BEGIN PUBLIC KEY-----", 26) != 0) {
		refuse(e, req, id, "node.enrol.begin", node, -BW_E_INVALID,
		    "tls_pub: required, a PEM public key");
		return;
	}
	if ((r = body_b64(body, "ek_pub", ENROL_BLOB_MAX, &ek, &ek_len,
	    &err)) < 0 ||
	    (r = body_b64(body, "ak_pub", ENROL_BLOB_MAX, &ak, &ak_len,
	    &err)) < 0 ||
	    (r = e->ops.ak_pem(e->ops.ctx, ak, ak_len, &ak_pem, &err)) < 0) {
		refuse(e, req, id, "node.enrol.begin", node, r, err);
		return;
	}
	s = session_slot(e);
	if (random_hex(s->id, 16) < 0 ||
	    RAND_bytes(s->challenge, sizeof(s->challenge)) != 1 ||
	    e->ops.nonce_issue(e->ops.ctx, node, s->nonce) < 0) {
		session_clear(s);
		api_reply_err(e->srv, req, -BW_E_CRYPTO, NULL);
		return;
	}
	if ((r = e->ops.make_credential(e->ops.ctx, ek, ek_len, ak, ak_len,
	    s->challenge, sizeof(s->challenge), &cred, &cred_len, &err)) < 0) {
		session_clear(s);
		refuse(e, req, id, "node.enrol.begin", node, r, err);
		return;
	}
	enrol_sha256_hex(ek, ek_len, ek_sha);
	s->used = 1;
	s->seq = ++e->seq;
	s->expires = time(NULL) + ENROL_SESSION_TTL_S;
	snprintf(s->node, sizeof(s->node), "%s", node);
	snprintf(s->serial, sizeof(s->serial), "%s", id->serial);
	if (b64_encode(ak, ak_len, &s->ak_b64) < 0 ||
	    !(s->ak_pem = TAKE_PTR(ak_pem)) || !(s->ek_sha = strdup(ek_sha)) ||
	    !(s->tls_pub = strdup(tls_pub)) ||
	    b64_encode(cred, cred_len, &cred_b64) < 0 ||
	    b64_encode(s->nonce, sizeof(s->nonce), &nonce_b64) < 0) {
		session_clear(s);
		api_reply_err(e->srv, req, -ENOMEM, NULL);
		return;
	}
	if (json_is_object(json_object_get(body, "capacity")))
		s->capacity = json_incref(json_object_get(body, "capacity"));
	api_audit(e->srv, id, "node.enrol.begin", "Node", RES_SYSTEM_TENANT,
	    node, "success", "credential and nonce issued");
	{
		_cleanup_json_ json_t *o = json_pack("{s:s, s:s, s:s, s:s}",
		    "session", s->id, "credential", cred_b64, "nonce", nonce_b64,
		    "quote_pcrs", e->ops.quote_pcrs);

		api_reply_json(e->srv, req, 200, o);
	}
}

/* ---- node-bootstrap: complete ---- */

static json_t *
identity_json(const struct enrol_session *s)
{
	char ak_sha[65] = "";
	unsigned char *ak = NULL;
	size_t len;

	if (b64_decode(s->ak_b64, ENROL_BLOB_MAX, &ak, &len) == 0) {
		enrol_sha256_hex(ak, len, ak_sha);
		free(ak);
	}
	return json_pack("{s:s, s:s, s:s, s:s, s:s}", "ak_pub", s->ak_b64,
	    "ak_pem", s->ak_pem, "ak_sha256", ak_sha, "ek_sha256", s->ek_sha,
	    "tls_pub", s->tls_pub);
}

/* Issues the node certificate for TLS_PUB and records it in DOC's
 * status; *RET_CERT (caller frees). */
static int
issue_node_cert(struct enrol *e, json_t *doc, const char *node,
    const char *tls_pub, char **ret_cert, char **ret_err)
{
	_cleanup_free_ char	*cert = NULL, *serial = NULL;
	time_t			 now = time(NULL);
	char			 na[40];
	int			 r;

	if ((r = e->ops.issue_cert(e->ops.ctx, node, "node", tls_pub,
	    e->o.node_cert_s, &cert, NULL, &serial, ret_err)) < 0)
		return r;
	bw_time_rfc3339_at(na, sizeof(na), now + e->o.node_cert_s);
	json_object_set_new(status_of(doc), "certificate", json_pack(
	    "{s:s, s:I, s:I, s:s}", "serial", serial, "issued_unix",
	    (json_int_t)now, "not_after_unix", (json_int_t)(now +
	    e->o.node_cert_s), "not_after", na));
	*ret_cert = TAKE_PTR(cert);
	return 0;
}

static void
mark_attested(json_t *doc)
{
	json_t	*st = status_of(doc);
	time_t	 now = time(NULL);
	char	 ts[40];

	bw_time_rfc3339_at(ts, sizeof(ts), now);
	json_object_set_new(st, "last_attested", json_string(ts));
	json_object_set_new(st, "last_attested_unix", json_integer(now));
	json_object_set_new(st, "phase", json_string("Ready"));
}

/* The node's report of its TPM's dictionary-attack state (the agent's
 * tpm_da_status_json()), rebuilt from the fields known here so a node
 * stores nothing else in its status. NULL when absent or malformed. */
static json_t *
lockout_report(json_t *body)
{
	static const char *const ints[] = { "counter", "max_tries",
	    "interval_seconds", "recovery_seconds", "recovers_in_seconds",
	    "counter_clears_in_seconds" };
	json_t		*in = json_object_get(body, "tpm_lockout"), *o, *v;
	const char	*s;
	size_t		 i;

	if (!json_is_object(in) ||
	    !json_is_boolean(json_object_get(in, "in_lockout")) ||
	    !json_is_integer(json_object_get(in, "counter")) ||
	    !json_is_integer(json_object_get(in, "max_tries")))
		return NULL;
	if (!(o = json_pack("{s:b, s:b}", "in_lockout",
	    json_is_true(json_object_get(in, "in_lockout")),
	    "orderly_last_stop", json_is_true(json_object_get(in,
	    "orderly_last_stop")))))
		return NULL;
	for (i = 0; i < ELEMENTSOF(ints); i++) {
		v = json_object_get(in, ints[i]);
		if (json_is_integer(v) && json_integer_value(v) >= 0 &&
		    json_integer_value(v) <= UINT32_MAX)
			json_object_set_new(o, ints[i],
			    json_integer(json_integer_value(v)));
	}
	if ((s = json_string_value(json_object_get(in, "recovers_by"))) &&
	    strlen(s) <= 32)
		json_object_set_new(o, "recovers_by", json_string(s));
	if ((s = json_string_value(json_object_get(in, "recovers"))) &&
	    strlen(s) <= 160)
		json_object_set_new(o, "recovers", json_string(s));
	json_object_set_new(o, "reported_unix", json_integer(time(NULL)));
	return o;
}

/* One enrolment completion as handle_complete() checks it. */
struct enrol_complete {
	struct enrol_session	*s;		/* the session; NULL until found */
	json_t			*doc;		/* the Node object (owned) */
	json_t			*pcrs;		/* the quoted PCRs (owned) */
	unsigned char		*quote;		/* owned */
	size_t			 qlen;
	unsigned char		 qdata[32];
	uint64_t		 rev;		/* DOC's revision */
};

static void
enrol_complete_done(struct enrol_complete *c)
{
	json_decref(c->doc);
	json_decref(c->pcrs);
	free(c->quote);
}

/* Checks the node's answer BODY to its session: the challenge proves
 * the AK lives in the EK's TPM, and the quote over the session's nonce
 * verifies with that AK. Then loads the Node object whose bootstrap
 * credential ID is. c->s is set once the session is found. */
static int
complete_check(struct enrol *e, const struct authz_identity *id,
    json_t *body, struct enrol_complete *c, char **ret_err)
{
	_cleanup_free_ unsigned char	*chal = NULL;
	struct enrol_session		*s;
	size_t				 clen;
	int				 r;

	s = session_find(e, json_str_at(body, "session", NULL));
	if (!s || strcmp(s->node, id->principal) != 0 ||
	    strcmp(s->serial, id->serial))
		return errf(-BW_E_DENIED, ret_err,
		    "session: unknown, expired, already used, or not this "
		    "credential's: start again with /v1/enrol/begin");
	c->s = s;
	if ((r = body_b64(body, "challenge", ENROL_CHALLENGE_LEN * 2, &chal,
	    &clen, ret_err)) < 0 ||
	    (r = body_b64(body, "quote", ENROL_BLOB_MAX, &c->quote, &c->qlen,
	    ret_err)) < 0)
		return r;
	if (clen != ENROL_CHALLENGE_LEN ||
	    CRYPTO_memcmp(chal, s->challenge, ENROL_CHALLENGE_LEN) != 0)
		return errf(-BW_E_DENIED, ret_err,
		    "credential activation failed: the returned secret is not "
		    "the challenge, so the AK is not proven to live in the TPM "
		    "that holds this EK");
	if ((r = e->ops.nonce_consume(e->ops.ctx, s->node, s->nonce,
	    sizeof(s->nonce), ret_err)) < 0 ||
	    (r = attest_qualifying_data(s->nonce, sizeof(s->nonce), s->tls_pub,
	    c->qdata)) < 0 ||
	    (r = e->ops.quote_verify(e->ops.ctx, s->ak_pem, c->quote, c->qlen,
	    c->qdata, sizeof(c->qdata), NULL, &c->pcrs, ret_err)) < 0)
		return r;
	if ((r = node_load(e, id->principal, &c->doc, &c->rev)) < 0 ||
	    (r = bootstrap_matches(c->doc, id, ret_err)) < 0)
		return *ret_err ? r : errf(r, ret_err, "no node");
	return 0;
}

/* First enrolment: the values are learned only once an administrator
 * approves them (/v1/enrol/approve). */
static void
complete_pending(struct enrol *e, struct evhttp_request *req,
    const struct authz_identity *id, struct enrol_complete *c, json_t *ident,
    const char *vals)
{
	char	 msg[1024];

	json_object_set_new(status_of(c->doc), "pending", json_pack(
	    "{s:O, s:O}", "identity", ident, "pcrs", c->pcrs));
	set_attestation(c->doc, "Pending", "quote verified (EK/AK bound by "
	    "credential activation); golden PCR values await an "
	    "administrator's approval");
	snprintf(msg, sizeof(msg), "enrolment pending approval: AK "
	    "sha256 %.16s..., EK sha256 %.16s..., quoted PCRs %s",
	    json_str_at(ident, "ak_sha256", NULL), c->s->ek_sha, vals);
	session_clear(c->s);
	if (node_write(e, req, id, id->principal, c->doc, c->rev, 0,
	    "node.enrol.pending", "success", msg, 202,
	    json_pack("{s:s, s:s}", "state", "Pending", "message",
	    "waiting for an administrator to approve this node's PCR "
	    "values (bulwark node approve)"),
	    NULL) < 0)
		api_reply_err(e->srv, req, -ENOMEM, NULL);
}

/* The quote matches the golden values: the node's certificate is
 * replaced by one for its TPM-resident key. The one it held dies first
 * (fail closed). */
static void
complete_trusted(struct enrol *e, struct evhttp_request *req,
    const struct authz_identity *id, struct enrol_complete *c, json_t *ident,
    const char *vals)
{
	_cleanup_free_ char	*err = NULL, *cert = NULL;
	const char		*node = id->principal, *old;
	json_t			*st = status_of(c->doc);
	char			 msg[1024];
	int			 r;

	old = json_str_at(json_object_get(st, "certificate"), "serial", NULL);
	if (old && e->ops.revoke &&
	    (r = e->ops.revoke(e->ops.ctx, old, &err)) < 0) {
		session_clear(c->s);
		refuse(e, req, id, "node.enrol", node, r, err);
		return;
	}
	if ((r = issue_node_cert(e, c->doc, node, c->s->tls_pub, &cert,
	    &err)) < 0) {
		session_clear(c->s);
		refuse(e, req, id, "node.enrol", node, r, err);
		return;
	}
	json_object_set(st, "identity", ident);
	json_object_del(st, "enrolment");
	mark_attested(c->doc);
	set_attestation(c->doc, "Trusted", "enrolled: quote matches the golden "
	    "PCR values");
	snprintf(msg, sizeof(msg), "enrolled: node certificate serial %s "
	    "issued for the TPM-resident key; bootstrap credential %s "
	    "revoked; PCRs %s", json_str_at(json_object_get(st, "certificate"),
	    "serial", NULL), id->serial, vals);
	session_clear(c->s);
	if (node_write(e, req, id, node, c->doc, c->rev, 0, "node.enrol",
	    "success", msg, 200, json_pack("{s:s, s:s, s:s, s:i, s:s}", "state",
	    "Trusted", "certificate", cert, "ca", e->ops.ca_pem,
	    "interval_seconds", (int)e->o.attest_interval_s, "quote_pcrs",
	    e->ops.quote_pcrs), id->serial) < 0)
		api_reply_err(e->srv, req, -ENOMEM, NULL);
}

static void
handle_complete(struct enrol *e, struct evhttp_request *req,
    const struct authz_identity *id)
{
	_cleanup_json_ json_t		*body = NULL, *ident = NULL;
	_cleanup_free_ char		*err = NULL;
	struct enrol_complete		 c = { .s = NULL };
	const char			*node = id->principal;
	const json_t			*golden;
	json_t				*st, *enrolled;
	char				 msg[1024], vals[700];
	int				 r;

	if (!is_role(id, "node-bootstrap")) {
		refuse(e, req, id, "node.enrol", NULL, -BW_E_DENIED,
		    "enrolment needs a node-bootstrap credential");
		return;
	}
	if ((r = api_read_json_body(req, &body, &err)) < 0) {
		refuse(e, req, id, "node.enrol", node, r, err);
		return;
	}
	/* One attempt per session: once it is found, whatever happens
	 * next, it is gone. */
	if ((r = complete_check(e, id, body, &c, &err)) < 0) {
		if (c.s)
			session_clear(c.s);
		refuse(e, req, id, "node.enrol", node, r, err);
		goto out;
	}
	ident = identity_json(c.s);
	st = status_of(c.doc);
	enrolled = json_object_get(st, "identity");
	golden = json_object_get(st, "golden_pcrs");
	if (enrolled && strcmp(json_str_at(enrolled, "ak_sha256", NULL) ?: "",
	    json_str_at(ident, "ak_sha256", NULL) ?: "") != 0) {
		snprintf(msg, sizeof(msg), "node %s is enrolled with another TPM "
		    "(AK sha256 %.16s...); an administrator must delete the Node "
		    "object before a new TPM can enrol under this name", node,
		    json_str_at(enrolled, "ak_sha256", NULL) ?: "?");
		session_clear(c.s);
		refuse(e, req, id, "node.enrol", node, -BW_E_DENIED, msg);
		goto out;
	}
	if (c.s->capacity && !json_object_get(json_object_get(c.doc, "spec"),
	    "capacity") && json_is_object(json_object_get(c.doc, "spec")))
		json_object_set(json_object_get(c.doc, "spec"), "capacity",
		    c.s->capacity);
	pcrs_text(c.pcrs, vals, sizeof(vals));
	if (!json_is_object(golden)) {
		complete_pending(e, req, id, &c, ident, vals);
		goto out;
	}
	free(err);
	err = NULL;
	if ((r = e->ops.quote_verify(e->ops.ctx, c.s->ak_pem, c.quote, c.qlen,
	    c.qdata, sizeof(c.qdata), golden, NULL, &err)) < 0) {
		snprintf(msg, sizeof(msg), "enrolment refused: %s (quoted %s)",
		    err ? err : bw_strerror(r), vals);
		set_attestation(c.doc, "Untrusted", msg);
		session_clear(c.s);
		if (node_write(e, req, id, node, c.doc, c.rev, 0,
		    "node.enrol.refused", "denied", msg, 403,
		    json_pack("{s:{s:s, s:s}}", "error", "code", "denied",
		    "message", msg), NULL) < 0)
			api_reply_err(e->srv, req, -ENOMEM, NULL);
		goto out;
	}
	complete_trusted(e, req, id, &c, ident, vals);
out:
	enrol_complete_done(&c);
}

/* ---- node: re-attestation ---- */

static void
handle_nonce(struct enrol *e, struct evhttp_request *req,
    const struct authz_identity *id)
{
	_cleanup_free_ char	*b64 = NULL;
	_cleanup_json_ json_t	*o = NULL;
	unsigned char		 nonce[ENROL_NONCE_LEN];
	int			 r;

	if (!is_role(id, "node")) {
		refuse(e, req, id, "node.attest.nonce", NULL, -BW_E_DENIED,
		    "attestation needs a node certificate");
		return;
	}
	if ((r = e->ops.nonce_issue(e->ops.ctx, id->principal, nonce)) < 0 ||
	    (r = b64_encode(nonce, sizeof(nonce), &b64)) < 0) {
		refuse(e, req, id, "node.attest.nonce", id->principal,
		    r == -BW_E_UNAVAILABLE ? r : -BW_E_CRYPTO,
		    r == -BW_E_UNAVAILABLE ? "every attestation nonce slot "
		    "is held by other nodes' live nonces; retry" : NULL);
		return;
	}
	api_audit(e->srv, id, "node.attest.nonce", "Node", RES_SYSTEM_TENANT,
	    id->principal, "success", NULL);
	o = json_pack("{s:s, s:s, s:i}", "nonce", b64, "quote_pcrs",
	    e->ops.quote_pcrs, "interval_seconds", (int)e->o.attest_interval_s);
	api_reply_json(e->srv, req, 200, o);
}

static void
handle_quote(struct enrol *e, struct evhttp_request *req,
    const struct authz_identity *id)
{
	_cleanup_json_ json_t		*body = NULL, *doc = NULL;
	_cleanup_free_ char		*err = NULL, *cert = NULL;
	_cleanup_free_ unsigned char	*nonce = NULL, *quote = NULL;
	const char			*node = id->principal, *prev;
	json_t				*st, *ident, *golden, *reply, *c, *lock;
	char				 msg[1024], old_serial[80] = "";
	size_t				 nlen, qlen;
	uint64_t			 rev;
	int				 r, was_trusted;

	if (!is_role(id, "node")) {
		refuse(e, req, id, "node.attest", NULL, -BW_E_DENIED,
		    "attestation needs a node certificate");
		return;
	}
	if ((r = api_read_json_body(req, &body, &err)) < 0 ||
	    (r = body_b64(body, "nonce", ENROL_NONCE_LEN * 2, &nonce, &nlen,
	    &err)) < 0 ||
	    (r = body_b64(body, "quote", ENROL_BLOB_MAX, &quote, &qlen,
	    &err)) < 0) {
		refuse(e, req, id, "node.attest", node, r, err);
		return;
	}
	if ((r = node_load(e, node, &doc, &rev)) < 0) {
		refuse(e, req, id, "node.attest", node, r, "no such node");
		return;
	}
	st = status_of(doc);
	ident = json_object_get(st, "identity");
	golden = json_object_get(st, "golden_pcrs");
	if (!json_str_at(ident, "ak_pem", NULL) || !json_is_object(golden)) {
		refuse(e, req, id, "node.attest", node, -BW_E_CONFLICT,
		    "the node is not enrolled");
		return;
	}
	prev = json_str_at(st, "attestation", NULL);
	was_trusted = prev && strcmp(prev, "Trusted") == 0;
	r = e->ops.nonce_consume(e->ops.ctx, node, nonce, nlen, &err);
	if (r == 0)
		r = e->ops.quote_verify(e->ops.ctx,
		    json_str_at(ident, "ak_pem", NULL), quote, qlen, nonce,
		    nlen, golden, NULL, &err);
	if (r < 0) {
		/* A failed quote from the node's own mTLS identity: its TPM
		 * state (or whoever holds that identity) is not what was
		 * enrolled. Untrusted until a good quote. */
		snprintf(msg, sizeof(msg), "re-attestation failed: %s",
		    err ? err : bw_strerror(r));
		set_attestation(doc, "Untrusted", msg);
		if (node_write(e, req, id, node, doc, rev,
		    STORE_OP_RESERVE, "node.attest.failed",
		    "denied", msg, 403, json_pack("{s:{s:s, s:s}}", "error",
		    "code", "denied", "message", msg), NULL) < 0)
			api_reply_err(e->srv, req, -ENOMEM, NULL);
		return;
	}
	mark_attested(doc);
	set_attestation(doc, "Trusted", "quote matches the golden PCR values");
	if ((lock = lockout_report(body))) {
		json_t *tpm = json_object_get(st, "tpm");

		if (!json_is_object(tpm)) {
			tpm = json_object();
			json_object_set_new(st, "tpm", tpm);
		}
		if (tpm)
			json_object_set_new(tpm, "lockout", lock);
		else
			json_decref(lock);
	}
	if (!was_trusted)
		json_object_set_new(st, "attestation_changed", json_string(
		    json_str_at(st, "last_attested", NULL)));
	reply = json_pack("{s:s, s:i}", "state", "Trusted", "interval_seconds",
	    (int)e->o.attest_interval_s);
	c = json_object_get(st, "certificate");
	/* A node back from Untrusted gets a fresh certificate and the one
	 * it held while Untrusted is revoked once this write is durable
	 * (that one was good for re-attestation only: api.c). */
	if (!was_trusted && json_str_at(c, "serial", NULL))
		snprintf(old_serial, sizeof(old_serial), "%s",
		    json_str_at(c, "serial", NULL));
	/* Renew at half life, only for a node that just proved itself. */
	if (reply && (!c || !was_trusted || time(NULL) >=
	    json_integer_value(json_object_get(c, "issued_unix")) +
	    (json_int_t)e->o.node_cert_s / 2)) {
		if ((r = issue_node_cert(e, doc, node,
		    json_str_at(ident, "tls_pub", NULL), &cert, &err)) < 0) {
			log_error("node %s: certificate renewal failed: %s", node,
			    err ? err : bw_strerror(r));
			old_serial[0] = '\0';
		} else
			json_object_set_new(reply, "certificate",
			    json_string(cert));
	}
	snprintf(msg, sizeof(msg), "%squote verified against the golden PCR "
	    "values%s", was_trusted ? "" : "node Trusted again: ",
	    cert ? "; certificate renewed" : "");
	if (!reply || node_write(e, req, id, node, doc, rev,
	    STORE_OP_RESERVE, "node.attest",
	    "success", msg, 200, reply, old_serial[0] ? old_serial : NULL) < 0)
		api_reply_err(e->srv, req, -ENOMEM, NULL);
}

/* ---- stale quotes ---- */

/* A node the stale scan watches: a Trusted one, and an Untrusted one
 * that has quoted before and is not NotReady yet (a failed quote leaves
 * the phase Ready; if the node then dies it must still be found lost).
 * Nodes admitted unattested never quote and are not watched. */
static int
stale_candidate(json_t *st)
{
	const char	*att = json_str_at(st, "attestation", NULL);
	const char	*phase = json_str_at(st, "phase", NULL);

	if (!att)
		return 0;
	if (strcmp(att, "Trusted") == 0)
		return 1;
	return strcmp(att, "Untrusted") == 0 &&
	    json_object_get(st, "last_attested_unix") != NULL &&
	    !(phase && strcmp(phase, "NotReady") == 0);
}

static void
stale_seen_free(struct stale_seen *a, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(a[i].key);
	free(a);
}

/* The entry of the last scan for KEY at REV, or NULL; *J walks E's
 * keys, which come in the store's (sorted) order as KEY does. */
static const struct stale_seen *
stale_seen_at(const struct enrol *e, size_t *j, const char *key, uint64_t rev)
{
	int c = 1;

	while (*j < e->nseen && (c = strcmp(e->seen[*j].key, key)) < 0)
		(*j)++;
	return c == 0 && e->seen[*j].rev == rev ? &e->seen[*j] : NULL;
}

/* Marks a watched Node whose last good quote is older than the limit
 * Untrusted and NotReady. A Node at the revision the last scan read is
 * not parsed again (since 2026-12-07: parsing all 5,000 Nodes every
 * 15 s was 42 ms of the event loop): a revision names one document, so
 * whether it is watched and its last quote are what they were, and
 * only the clock moved. */
static void
stale_scan(evutil_socket_t fd, short what, void *arg)
{
	struct enrol	 *e = arg;
	struct store_kv	**kvs = NULL;
	struct stale_seen *seen = NULL;
	char		  prefix[RES_KEY_MAX], msg[256];
	size_t		  n = 0, i, j = 0;
	uint64_t	  rev;
	time_t		  now = time(NULL);

	(void)fd;
	(void)what;
	if (e->passive)
		return;
	if (res_prefix(res_kind_by_name("Node"), NULL, prefix,
	    sizeof(prefix)) < 0 ||
	    store_list(api_store(e->srv), prefix, &kvs, &n, &rev) < 0)
		return;
	/* without memory for it the next scan parses every Node again */
	seen = n ? calloc(n, sizeof(*seen)) : NULL;
	for (i = 0; i < n; i++) {
		const struct stale_seen	*was = stale_seen_at(e, &j,
		    kvs[i]->key, kvs[i]->mod_rev);
		struct stale_seen	 cur = { .rev = kvs[i]->mod_rev };
		json_t			*doc = NULL, *st;
		const char		*name;

		if (was) {
			cur.watched = was->watched;
			cur.last = was->last;
		} else {
			doc = json_loadb(kvs[i]->value, kvs[i]->value_len, 0,
			    NULL);
			st = json_object_get(doc, "status");
			cur.watched = json_str_at(doc, "metadata", "name") &&
			    stale_candidate(st);
			cur.last = json_integer_value(json_object_get(st,
			    "last_attested_unix"));
			/* Not parsed (no memory): remembered at revision
			 * 0, which no Node has, so the next scan parses it
			 * again rather than keep it from going stale. */
			if (!doc)
				cur.rev = 0;
		}
		if (cur.watched && now - cur.last > (json_int_t)e->o.attest_stale_s &&
		    (doc || (doc = json_loadb(kvs[i]->value,
		    kvs[i]->value_len, 0, NULL)))) {
			name = json_str_at(doc, "metadata", "name");
			st = json_object_get(doc, "status");
			snprintf(msg, sizeof(msg), "stale: no verified "
			    "quote for %lld s (limit %u s)",
			    (long long)(now - cur.last), e->o.attest_stale_s);
			set_attestation(doc, "Untrusted", msg);
			/* Lost: the controller reschedules its
			 * instances; a good quote makes it Ready. */
			json_object_set_new(st, "phase",
			    json_string("NotReady"));
			if (node_write(e, NULL, NULL, name, doc,
			    kvs[i]->mod_rev, STORE_OP_RESERVE,
			    "node.attest.stale",
			    "failure", msg, 0, NULL, NULL) < 0)
				log_error("node %s: cannot record a "
				    "stale attestation", name);
			else
				log_warn("node %s is Untrusted: %s",
				    name, msg);
		}
		json_decref(doc);
		if (seen) {
			cur.key = TAKE_PTR(kvs[i]->key);
			seen[i] = cur;
		}
		free(kvs[i]->key);
		free(kvs[i]->value);
		free(kvs[i]);
	}
	free(kvs);
	stale_seen_free(e->seen, e->nseen);
	e->seen = seen;
	e->nseen = seen ? n : 0;
}

/* ---- dispatch ---- */

static void
enrol_handler(struct api_server *srv, struct evhttp_request *req,
    const struct authz_identity *id, const char *path, void *arg)
{
	static const struct {
		const char	*path;
		void		(*fn)(struct enrol *, struct evhttp_request *,
				    const struct authz_identity *);
	} routes[] = {
		{ "/v1/enrol/bootstrap", handle_bootstrap },
		{ "/v1/enrol/approve", handle_approve },
		{ "/v1/enrol/begin", handle_begin },
		{ "/v1/enrol/complete", handle_complete },
		{ "/v1/attest/nonce", handle_nonce },
		{ "/v1/attest/quote", handle_quote },
	};
	struct enrol	*e = arg;
	size_t		 i;

	for (i = 0; i < ELEMENTSOF(routes); i++) {
		if (strcmp(path, routes[i].path) != 0)
			continue;
		if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
			api_audit(srv, id, "api.request", NULL, NULL, NULL,
			    "failure", "method not allowed");
			api_reply_error(srv, req, 405, "method_not_allowed",
			    "use POST");
			return;
		}
		routes[i].fn(e, req, id);
		return;
	}
	api_audit(srv, id, "api.request", NULL, NULL, NULL, "failure",
	    "no such path");
	api_reply_error(srv, req, 404, "not_found", "no such path");
}

int
enrol_start(struct event_base *base, struct api_server *srv,
    const struct enrol_ops *ops, const struct enrol_options *o,
    struct enrol **ret, char **ret_err)
{
	struct enrol	*e;
	struct timeval	 tv;
	unsigned	 ms;
	int		 r;

	if (!(e = calloc(1, sizeof(*e))))
		return -ENOMEM;
	e->srv = srv;
	e->base = base;
	e->ops = *ops;
	e->o = *o;
	TAILQ_INIT(&e->writes);
	/* Each scan reads every Node: a quarter of the stale limit is
	 * precise enough and bounds the cost with thousands of nodes. */
	ms = o->check_interval_ms;
	if (!ms) {
		ms = o->attest_stale_s * 250;
		ms = ms < 1000 ? 1000 : ms > 15000 ? 15000 : ms;
	}
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	if (!(e->timer = event_new(base, -1, EV_PERSIST, stale_scan, e)) ||
	    event_add(e->timer, &tv) < 0) {
		enrol_stop(e);
		return errf(-ENOMEM, ret_err, "enrolment: cannot start the timer");
	}
	/* The API refuses a node past the stale limit on every request
	 * too, even when this module's stale write cannot be made. */
	api_server_set_attest_deadline(srv, o->attest_stale_s);
	if ((r = api_server_add_handler(srv, "/v1/enrol/", enrol_handler, e)) < 0 ||
	    (r = api_server_add_handler(srv, "/v1/attest/", enrol_handler, e)) < 0) {
		enrol_stop(e);
		return errf(r, ret_err, "enrolment: cannot register handlers");
	}
	*ret = e;
	return 0;
}

void
enrol_set_active(struct enrol *e, bool active)
{
	e->passive = !active;
}

void
enrol_stop(struct enrol *e)
{
	struct enrol_write	*w;
	size_t			 i;

	if (!e)
		return;
	if (e->timer)
		event_free(e->timer);
	/* Writes still in the pipeline complete later, without us. */
	while ((w = TAILQ_FIRST(&e->writes))) {
		TAILQ_REMOVE(&e->writes, w, entry);
		w->e = NULL;
		w->req = NULL;
	}
	for (i = 0; i < ENROL_SESSIONS_MAX; i++)
		if (e->sessions[i].used)
			session_clear(&e->sessions[i]);
	stale_seen_free(e->seen, e->nseen);
	free(e);
}

/* Waivers: two persons accept a risk for a while (waiver-api.h). The
 * requester and the approval are kept in the Waiver's status, which only
 * these endpoints write (the kind is RES_F_SYSTEM_WRITES, so apply and
 * delete through the resource API are refused), so the approval is a
 * separate, audited act of another principal. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/http.h>
#include <jansson.h>

#include "controlplane/commit.h"
#include "controlplane/resource.h"
#include "controlplane/schema.h"
#include "controlplane/store.h"
#include "daemon/waiver-api.h"
#include "lib/err.h"
#include "lib/ids.h"
#include "lib/json.h"
#include "lib/log.h"
#include "lib/macro.h"

/* The timer looks again at least this often (a waiver written while it
 * slept is armed by its own write; this bounds any drift). */
#define WAIVER_RECHECK_S	3600

/* One write of a Waiver; owns everything it points at. */
struct wop {
	struct commit_req	 creq;		/* first */
	struct waiver_api	*wa;
	struct evhttp_request	*req;		/* NULL: the expiry timer */
	struct authz_identity	 id;
	char			 name[64];
	char			 key[RES_KEY_MAX];
	char			 action[40];
	char			 reason[512];
	char			*value;
	bool			 changes_scan;	/* tell wa->changed when done */
	int			 status;	/* HTTP status on success */
};

static const struct res_kind *
waiver_kind(void)
{
	return res_kind_by_plural("waivers");
}

static void waiver_arm(struct waiver_api *wa);

/* Counts the expiry record of waiver NAME done with RESULT; a failure
 * backs the timer off (once per round of attempts) rather than trying
 * again at once, for as long as the audit trail or the store refuses. */
static void
expiry_done(struct waiver_api *wa, const char *name, int result)
{
	time_t now = time(NULL);

	wa->inflight--;
	if (result == 0) {
		wa->expired++;
		wa->backoff_s = 0;
		wa->retry_at = 0;
		return;
	}
	if (wa->retry_at <= now) {
		wa->backoff_s = comp_waiver_backoff(wa->backoff_s);
		wa->retry_at = now + wa->backoff_s;
	}
	log_warn("waiver %s: expiry not recorded: %s; trying again in %us",
	    name, bw_strerror(result), wa->backoff_s);
}

static void
wop_done(struct commit_req *creq)
{
	struct wop		*op = (struct wop *)creq;
	struct waiver_api	*wa = op->wa;
	_cleanup_json_ json_t	*doc = NULL;

	if (op->req && creq->result == -BW_E_AUDIT)
		api_reply_error(wa->srv, op->req, 503, "audit_unavailable",
		    "the audit record could not be made durable; nothing "
		    "was changed");
	else if (op->req && creq->result == -BW_E_EXISTS)
		api_reply_error(wa->srv, op->req, 409, "already_exists",
		    "a waiver of that name exists");
	else if (op->req && creq->result == -BW_E_CONFLICT)
		api_reply_error(wa->srv, op->req, 409, "conflict", "the waiver "
		    "changed meanwhile; look at it again");
	else if (op->req && creq->result < 0)
		api_reply_err(wa->srv, op->req, creq->result, NULL);
	else if (op->req && op->value) {
		doc = res_render(op->value, strlen(op->value), creq->op.rev);
		api_reply_json(wa->srv, op->req, op->status, doc);
	} else if (op->req) {
		doc = json_pack("{s:s}", "deleted", op->name);
		api_reply_json(wa->srv, op->req, op->status, doc);
	}
	if (!op->req)
		expiry_done(wa, op->name, creq->result);
	if (creq->result == 0 && op->changes_scan && wa->changed)
		wa->changed(wa->changed_arg);
	waiver_arm(wa);
	free(op->value);
	free(op);
}

/* Submits DOC (NULL: a delete) for waiver NAME with EXPECT, recorded as
 * ACTION by OP->id with OP->reason. Takes OP. */
static void
wop_submit(struct wop *op, json_t *doc, uint64_t expect, const char *action)
{
	const struct res_kind *k = waiver_kind();

	res_key(k, NULL, op->name, op->key, sizeof(op->key));
	if (doc)
		op->value = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
	snprintf(op->action, sizeof(op->action), "%s", action);
	op->creq.op = (struct store_op){ .type = doc ? STORE_OP_PUT :
	    STORE_OP_DELETE, .key = op->key, .value = op->value,
	    .value_len = op->value ? strlen(op->value) : 0,
	    .expect_rev = expect };
	op->creq.rec = (struct audit_record){ .actor = op->id.principal,
	    .role = op->id.role_name, .tenant = op->id.tenant,
	    .source = op->id.source, .auth_method = op->id.auth_method,
	    .action = op->action, .object_kind = k->kind,
	    .object_tenant = RES_SYSTEM_TENANT, .object_name = op->name,
	    .reason = op->reason, .controls = WAIVER_CONTROLS };
	op->creq.done = wop_done;
	commit_submit(api_committer(op->wa->srv), &op->creq);
}

static struct wop *
wop_new(struct waiver_api *wa, struct evhttp_request *req,
    const struct authz_identity *id, const char *name)
{
	struct wop *op = calloc(1, sizeof(*op));

	if (!op)
		return NULL;
	op->wa = wa;
	op->req = req;
	op->id = *id;
	op->status = 200;
	snprintf(op->name, sizeof(op->name), "%s", name);
	return op;
}

/* What a waiver is about, for messages: "check au-review". */
static void
waiver_target(const json_t *doc, char *buf, size_t len)
{
	const char *c = json_str_at(doc, "spec", "control");

	snprintf(buf, len, "%s %s", c ? "control" : "check", c ? c :
	    json_str_at(doc, "spec", "check"));
}

/* Checks what the schema cannot: one target, an expiry to come, an
 * approver other than the requester. */
static int
create_check(const json_t *doc, const struct authz_identity *id, time_t now,
    char **ret_err)
{
	const char	*approver = json_str_at(doc, "spec", "approver");
	time_t		 exp;

	if (!json_str_at(doc, "spec", "control") ==
	    !json_str_at(doc, "spec", "check"))
		return errf(-BW_E_INVALID, ret_err, "spec: name exactly one of "
		    "control and check");
	if (bw_time_parse(json_str_at(doc, "spec", "expires"), &exp) < 0 ||
	    exp <= now)
		return errf(-BW_E_INVALID, ret_err, "spec.expires: must be "
		    "in the future");
	if (!comp_waiver_lifetime_ok(now, exp))
		return errf(-BW_E_INVALID, ret_err, "spec.expires: at most "
		    "%d days ahead (the longest a waiver runs); ask again "
		    "when it ends", COMP_WAIVER_MAX_DAYS);
	if (approver && strcmp(approver, id->principal) == 0)
		return errf(-BW_E_DENIED, ret_err, "spec.approver: the "
		    "requester cannot approve their own waiver (two persons)");
	return 0;
}

static int
handle_create(struct waiver_api *wa, struct evhttp_request *req,
    const struct authz_identity *id, char **ret_err)
{
	_cleanup_json_ json_t	*body = NULL, *stored = NULL, *status = NULL;
	const struct res_kind	*k;
	struct wop		*op;
	char			 uid[40], now[40], what[96];
	int			 r;

	if (id->role != ROLE_SYSTEM_ADMIN)
		return errf(-BW_E_DENIED, ret_err, "only a system-admin asks for "
		    "a waiver (role %s); a security-auditor approves it",
		    id->role_name);
	if ((r = api_read_json_body(req, &body, ret_err)) < 0)
		return r;
	if ((r = res_validate(body, waiver_kind(), NULL, &k, ret_err)) < 0 ||
	    (r = create_check(body, id, time(NULL), ret_err)) < 0)
		return r;
	if ((r = bw_uuid_v4(uid)) < 0)
		return r;
	bw_time_rfc3339(now, sizeof(now), time(NULL));
	status = json_pack("{s:s, s:s, s:s}", "state", "requested",
	    "requested_by", id->principal, "requested_at", now);
	if (!status || !(stored = res_stored_form(body, uid, now, status)) ||
	    !(op = wop_new(wa, req, id, res_name(body))))
		return -ENOMEM;
	waiver_target(stored, what, sizeof(what));
	snprintf(op->reason, sizeof(op->reason), "%s until %s: %.300s", what,
	    json_str_at(stored, "spec", "expires"),
	    json_str_at(stored, "spec", "justification"));
	op->status = 201;
	wop_submit(op, stored, STORE_REV_ABSENT, "waiver.create");
	return 0;
}

/* Whether ID may approve waiver DOC at NOW. */
static int
approve_check(const json_t *doc, const struct authz_identity *id, time_t now,
    char **ret_err)
{
	const char	*by = json_str_at(doc, "status", "requested_by");
	const char	*approver = json_str_at(doc, "spec", "approver");
	const char	*state = json_str_at(doc, "status", "state");
	time_t		 exp, req;

	/* Two persons (AC-5): whatever roles the requester holds. */
	if (!by || strcmp(by, id->principal) == 0)
		return errf(-BW_E_DENIED, ret_err, "%s asked for waiver %s and "
		    "cannot approve it: a different security-auditor must "
		    "(two persons)", id->principal, res_name(doc));
	if (id->role != ROLE_SECURITY_AUDITOR)
		return errf(-BW_E_DENIED, ret_err, "only a security-auditor "
		    "approves waivers (role %s)", id->role_name);
	if (approver && strcmp(approver, id->principal) != 0)
		return errf(-BW_E_DENIED, ret_err, "waiver %s names %s as its "
		    "approver", res_name(doc), approver);
	if (!state || strcmp(state, "requested") != 0)
		return errf(-BW_E_CONFLICT, ret_err, "waiver %s is %s, not "
		    "awaiting approval", res_name(doc), state ? state : "-");
	if (bw_time_parse(json_str_at(doc, "spec", "expires"), &exp) < 0 ||
	    exp <= now)
		return errf(-BW_E_CONFLICT, ret_err, "waiver %s has expired",
		    res_name(doc));
	if (bw_time_parse(json_str_at(doc, "status", "requested_at"),
	    &req) < 0 || !comp_waiver_lifetime_ok(req, exp))
		return errf(-BW_E_INVALID, ret_err, "waiver %s: expires more "
		    "than %d days after its request (the longest a waiver "
		    "runs); withdraw it and ask again", res_name(doc),
		    COMP_WAIVER_MAX_DAYS);
	return 0;
}

/* Reads waiver NAME into *ret_doc and its revision into *ret_rev. */
static int
waiver_get(struct waiver_api *wa, const char *name, json_t **ret_doc,
    uint64_t *ret_rev, char **ret_err)
{
	char		 key[RES_KEY_MAX];
	struct store_kv	*kv = NULL;
	json_t		*doc;
	int		 r;

	if ((r = res_key(waiver_kind(), NULL, name, key, sizeof(key))) < 0)
		return errf(r, ret_err, "name: too long");
	if ((r = store_get(api_store(wa->srv), key, &kv)) < 0)
		return errf(r, ret_err, r == -BW_E_NOTFOUND ? "no waiver %s" :
		    "waiver %s: cannot read it", name);
	doc = json_loadb(kv->value, kv->value_len, 0, NULL);
	*ret_rev = kv->mod_rev;
	store_kv_free(kv);
	if (!doc)
		return errf(-BW_E_CORRUPT, ret_err, "waiver %s: unreadable", name);
	*ret_doc = doc;
	return 0;
}

static int
handle_approve(struct waiver_api *wa, struct evhttp_request *req,
    const struct authz_identity *id, const char *name, char **ret_err)
{
	_cleanup_json_ json_t	*doc = NULL;
	json_t			*status;
	struct wop		*op;
	uint64_t		 rev;
	char			 now[40], what[96];
	int			 r;

	if ((r = waiver_get(wa, name, &doc, &rev, ret_err)) < 0 ||
	    (r = approve_check(doc, id, time(NULL), ret_err)) < 0)
		return r;
	bw_time_rfc3339(now, sizeof(now), time(NULL));
	status = json_object_get(doc, "status");
	if (json_object_set_new(status, "state", json_string("approved")) < 0 ||
	    json_object_set_new(status, "approved_by",
	    json_string(id->principal)) < 0 ||
	    json_object_set_new(status, "approved_at", json_string(now)) < 0 ||
	    !(op = wop_new(wa, req, id, name)))
		return -ENOMEM;
	waiver_target(doc, what, sizeof(what));
	snprintf(op->reason, sizeof(op->reason), "%s: risk accepted until %s, "
	    "requested by %s", what, json_str_at(doc, "spec", "expires"),
	    json_str_at(doc, "status", "requested_by"));
	op->changes_scan = true;
	wop_submit(op, doc, rev, "waiver.approve");
	return 0;
}

static int
handle_withdraw(struct waiver_api *wa, struct evhttp_request *req,
    const struct authz_identity *id, const char *name, char **ret_err)
{
	_cleanup_json_ json_t	*doc = NULL;
	struct wop		*op;
	uint64_t		 rev;
	char			 what[96];
	int			 r;

	if (id->role != ROLE_SYSTEM_ADMIN)
		return errf(-BW_E_DENIED, ret_err, "only a system-admin "
		    "withdraws a waiver (role %s)", id->role_name);
	if ((r = waiver_get(wa, name, &doc, &rev, ret_err)) < 0)
		return r;
	if (!(op = wop_new(wa, req, id, name)))
		return -ENOMEM;
	waiver_target(doc, what, sizeof(what));
	snprintf(op->reason, sizeof(op->reason), "%s: withdrawn (was %s)",
	    what, json_str_at(doc, "status", "state") ?
	    json_str_at(doc, "status", "state") : "-");
	op->changes_scan = json_str_at(doc, "status", "approved_by") != NULL;
	wop_submit(op, NULL, rev, "waiver.delete");
	return 0;
}

/* The NAME of ".../waivers/NAME[/SUFFIX]" into BUF; SUFFIX (or "") into
 * *ret_suffix. Returns 0 or -BW_E_NOTFOUND. */
static int
path_name(const char *path, char *buf, size_t len, const char **ret_suffix)
{
	const char	*p = path + strlen(WAIVER_PREFIX);
	size_t		 n;

	if (*p != '/')
		return -BW_E_NOTFOUND;
	n = strcspn(++p, "/?");
	if (n == 0 || n >= len)
		return -BW_E_NOTFOUND;
	memcpy(buf, p, n);
	buf[n] = '\0';
	if (!schema_is_dns_label(buf))
		return -BW_E_NOTFOUND;
	*ret_suffix = p + n;
	return 0;
}

void
waiver_api_handle(struct api_server *srv, struct evhttp_request *req,
    const struct authz_identity *id, const char *path, void *arg)
{
	char			 name[64] = "";
	const char		*suffix = "", *action = "waiver.request";
	_cleanup_free_ char	*err = NULL;
	struct waiver_api	*wa = arg;
	enum evhttp_cmd_type	 m = evhttp_request_get_command(req);
	int			 r;

	if (id->role != ROLE_SYSTEM_ADMIN && id->role != ROLE_SECURITY_AUDITOR)
		r = errf(-BW_E_DENIED, &err, "role %s has no business with "
		    "waivers", id->role_name);
	else if (strcmp(path, WAIVER_PREFIX) == 0 && m == EVHTTP_REQ_POST) {
		action = "waiver.create";
		r = handle_create(wa, req, id, &err);
	} else if ((r = path_name(path, name, sizeof(name), &suffix)) < 0)
		r = errf(r, &err, "no such path (waivers are read with "
		    "GET /v1/waivers)");
	else if (strcmp(suffix, "/approval") == 0 && m == EVHTTP_REQ_POST) {
		action = "waiver.approve";
		r = handle_approve(wa, req, id, name, &err);
	} else if (!*suffix && m == EVHTTP_REQ_DELETE) {
		action = "waiver.delete";
		r = handle_withdraw(wa, req, id, name, &err);
	} else
		r = errf(-BW_E_NOTFOUND, &err, "no such path or method");
	if (r >= 0)
		return;
	api_audit(srv, id, action, "Waiver", RES_SYSTEM_TENANT, name,
	    r == -BW_E_DENIED ? "denied" : "failure", err ? err :
	    bw_strerror(r));
	api_reply_err(srv, req, r, err);
}

int
waiver_api_list(struct store *st, struct comp_waiver **ret, size_t *ret_n)
{
	struct store_kv		**kvs = NULL;
	struct comp_waiver	 *w = NULL;
	char			  prefix[RES_KEY_MAX];
	size_t			  n = 0, i, m = 0;
	int			  r;

	if ((r = res_prefix(waiver_kind(), NULL, prefix, sizeof(prefix))) < 0 ||
	    (r = store_list(st, prefix, &kvs, &n, NULL)) < 0)
		return r;
	if (n && !(w = calloc(n, sizeof(*w)))) {
		store_kv_array_free(kvs, n);
		return -ENOMEM;
	}
	for (i = 0; i < n; i++) {
		_cleanup_json_ json_t	*doc = json_loadb(kvs[i]->value,
		    kvs[i]->value_len, 0, NULL);
		_cleanup_free_ char	*err = NULL;

		if (doc && comp_waiver_parse(doc, &w[m], &err) == 0)
			m++;
	}
	store_kv_array_free(kvs, n);
	*ret = w;
	*ret_n = m;
	return 0;
}

/* Records the expiry of stored waiver DOC at revision REV (state
 * "expired"), as bulwarkd. */
static void
record_expiry(struct waiver_api *wa, const struct comp_waiver *w,
    uint64_t rev, time_t now)
{
	struct authz_identity	 self = { .role = ROLE_NONE,
		.auth_method = "internal" };
	_cleanup_json_ json_t	*doc = json_deep_copy(w->doc);
	json_t			*status = json_object_get(doc, "status");
	struct wop		*op;
	char			 ts[40], exp[40], what[96];

	snprintf(self.principal, sizeof(self.principal), "bulwarkd");
	snprintf(self.tenant, sizeof(self.tenant), RES_SYSTEM_TENANT);
	snprintf(self.role_name, sizeof(self.role_name), "system");
	snprintf(self.source, sizeof(self.source), "local");
	bw_time_rfc3339(ts, sizeof(ts), now);
	bw_time_rfc3339_at(exp, sizeof(exp), w->expires);
	if (!status || json_object_set_new(status, "state",
	    json_string("expired")) < 0 || json_object_set_new(status,
	    "expired_at", json_string(ts)) < 0 ||
	    !(op = wop_new(wa, NULL, &self, w->name)))
		return;
	waiver_target(doc, what, sizeof(what));
	if (w->approved_by)
		snprintf(op->reason, sizeof(op->reason), "%s: waiver approved by "
		    "%s expired at %s; its findings count as not satisfied "
		    "again", what, w->approved_by, exp);
	else
		snprintf(op->reason, sizeof(op->reason), "%s: waiver expired at "
		    "%s unapproved (it never had an effect)", what, exp);
	op->changes_scan = w->approved_by != NULL;
	wa->inflight++;
	wop_submit(op, doc, rev, "compliance.waiver_expired");
}

/* Walks the stored waivers not yet recorded as expired: records those
 * past their expiry when RECORD, and returns the earliest expiry still to
 * come (0: none). */
static time_t
expiry_walk(struct waiver_api *wa, bool record, time_t now)
{
	struct store_kv	**kvs = NULL;
	char		  prefix[RES_KEY_MAX];
	size_t		  n = 0, i;
	time_t		  next = 0;

	if (res_prefix(waiver_kind(), NULL, prefix, sizeof(prefix)) < 0 ||
	    store_list(api_store(wa->srv), prefix, &kvs, &n, NULL) < 0)
		return now + 1;		/* try again */
	for (i = 0; i < n; i++) {
		_cleanup_json_ json_t	*doc = json_loadb(kvs[i]->value,
		    kvs[i]->value_len, 0, NULL);
		_cleanup_free_ char	*err = NULL;
		struct comp_waiver	 w;

		if (!doc || comp_waiver_parse(doc, &w, &err) < 0)
			continue;
		if (!w.expired_at && w.expires <= now && record)
			record_expiry(wa, &w, kvs[i]->mod_rev, now);
		else if (!w.expired_at && (!next || w.expires < next))
			next = w.expires;
		comp_waiver_done(&w);
	}
	store_kv_array_free(kvs, n);
	return next;
}

/* Arms the timer for the next expiry (at once for one already past that
 * is not recorded yet, once a second while a record is in flight, after
 * the back-off when the last record failed). */
static void
waiver_arm(struct waiver_api *wa)
{
	struct timeval	tv = { WAIVER_RECHECK_S, 0 };
	time_t		now = time(NULL), next;

	if (!wa->timer || wa->detached)
		return;
	next = expiry_walk(wa, false, now);
	tv.tv_sec = comp_waiver_timer_delay(next, now, wa->retry_at,
	    WAIVER_RECHECK_S);
	if (wa->inflight && tv.tv_sec < 1)
		tv.tv_sec = 1;
	/* Past the second it expires in, so time(NULL) has reached it. */
	tv.tv_usec = 10000;
	event_add(wa->timer, &tv);
}

static void
expiry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct waiver_api *wa = arg;

	(void)fd;
	(void)what;
	if (!wa->inflight && time(NULL) >= wa->retry_at)
		expiry_walk(wa, true, time(NULL));
	waiver_arm(wa);
}

int
waiver_api_init(struct waiver_api *wa, struct event_base *base,
    struct api_server *srv, void (*changed)(void *arg), void *changed_arg,
    char **ret_err)
{
	memset(wa, 0, sizeof(*wa));
	wa->srv = srv;
	wa->changed = changed;
	wa->changed_arg = changed_arg;
	if (!(wa->timer = event_new(base, -1, 0, expiry_cb, wa)))
		return errf(-ENOMEM, ret_err, "waiver expiry timer");
	waiver_arm(wa);
	return 0;
}

void
waiver_api_detach(struct waiver_api *wa)
{
	wa->detached = true;
	wa->changed = NULL;
	if (wa->timer)
		event_del(wa->timer);
}

void
waiver_api_done(struct waiver_api *wa)
{
	if (wa->timer)
		event_free(wa->timer);
	wa->timer = NULL;
}

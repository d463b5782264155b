#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/http.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "controlplane/commit.h"
#include "controlplane/principals.h"
#include "controlplane/resource.h"
#include "controlplane/schema.h"
#include "hardening/pki.h"
#include "lib/err.h"
#include "lib/ids.h"
#include "lib/fileio.h"
#include "lib/json.h"
#include "lib/log.h"
#include "lib/macro.h"
#include "lib/ossl-cleanup.h"

#define PRINCIPAL_CONTROLS	"AC-2,AC-2(4),IA-2,IA-5"

int
principals_binding_check(struct store *st, const struct authz_identity *id,
    struct principals_grant *grant, char **ret_err)
{
	const struct res_kind	*k = res_kind_by_name("RoleBinding");
	struct store_kv		**kvs = NULL;
	char			 prefix[RES_KEY_MAX];
	size_t			 n = 0, i;
	uint64_t		 rev;
	int			 found = 0, r;

	if (id->role == ROLE_NODE)
		return 0;
	if (grant && grant->key[0]) {
		struct store_kv *kv = NULL;

		found = store_get(st, grant->key, &kv) == 0 &&
		    kv->mod_rev == grant->mod_rev;
		store_kv_free(kv);
		if (found)
			return 0;
		memset(grant, 0, sizeof(*grant));
	}
	if ((r = res_prefix(k, id->tenant, prefix, sizeof(prefix))) < 0)
		return r;
	/* A store out of reach (etcd without quorum) is the server's
	 * failure, answered 503, not the client's. */
	if ((r = store_list(st, prefix, &kvs, &n, &rev)) < 0)
		return errf(r == -BW_E_UNAVAILABLE ? r : -BW_E_UNAUTH, ret_err,
		    "cannot read role bindings: the state store: %s",
		    bw_strerror(r));
	for (i = 0; i < n && !found; i++) {
		_cleanup_json_ json_t *doc = json_loadb(kvs[i]->value,
		    kvs[i]->value_len, 0, NULL);
		json_t *spec = json_object_get(doc, "spec");
		const char *p = json_string_value(json_object_get(spec, "principal"));
		const char *role = json_string_value(json_object_get(spec, "role"));

		found = p && role && strcmp(p, id->principal) == 0 &&
		    strcmp(role, id->role_name) == 0;
		if (found && grant &&
		    strlen(kvs[i]->key) < sizeof(grant->key)) {
			strcpy(grant->key, kvs[i]->key);
			grant->mod_rev = kvs[i]->mod_rev;
		}
	}
	store_kv_array_free(kvs, n);
	if (!found)
		return errf(-BW_E_UNAUTH, ret_err,
		    "no role binding grants %s to %s in tenant %s", id->role_name,
		    id->principal, id->tenant);
	return 0;
}

int
principals_binding_write_check(struct store *st,
    const struct authz_identity *id, const char *tenant, const char *name,
    const json_t *doc, char **ret_err)
{
	const struct res_kind	*k = res_kind_by_name("RoleBinding");
	struct store_kv		*kv = NULL;
	char			 key[RES_KEY_MAX];
	int			 r;

	if (doc && (r = authz_may_grant(id, json_string_value(json_object_get(
	    json_object_get(doc, "spec"), "role")), ret_err)) < 0)
		return r;
	if ((r = res_key(k, tenant, name, key, sizeof(key))) < 0)
		return r;
	/* Replacing or deleting a binding takes its role away from
	 * someone: only who may grant that role may do it. */
	r = store_get(st, key, &kv);
	if (r == -BW_E_NOTFOUND)
		return 0;
	if (r < 0)
		return r;
	{
		_cleanup_json_ json_t *old = json_loadb(kv->value,
		    kv->value_len, 0, NULL);

		r = authz_may_grant(id, json_string_value(json_object_get(
		    json_object_get(old, "spec"), "role")), ret_err);
	}
	store_kv_free(kv);
	return r;
}

json_t *
principals_binding_doc(const char *tenant, const char *principal,
    const char *role)
{
	char uid[40], now[40];

	if (bw_uuid_v4(uid) < 0)
		return NULL;
	bw_time_rfc3339(now, sizeof(now), time(NULL));
	return json_pack("{s:s, s:{s:s, s:s, s:s, s:s, s:{}}, s:{s:s, s:s}, s:{}}",
	    "kind", "RoleBinding", "metadata", "name", principal, "tenant",
	    tenant, "uid", uid, "created", now, "labels", "spec", "principal",
	    principal, "role", role, "status");
}

/* One step of a create or revoke; owns everything it points at. */
struct pop {
	struct commit_req	 creq;		/* first */
	struct principals	*p;
	struct api_server	*srv;
	struct evhttp_request	*req;
	struct authz_identity	 id;
	int			 step;
	char			 tenant[64], name[64], role[32];
	char			 key[RES_KEY_MAX];
	char			 action[48];
	char			 reason[256];
	char			*value;
	json_t			*reply;		/* sent when the last step succeeds */
};

/* A new operation on principal TENANT/NAME for REQ, or NULL without
 * memory. */
static struct pop *
pop_new(struct principals *p, struct api_server *srv,
    struct evhttp_request *req, const struct authz_identity *id,
    const char *tenant, const char *name)
{
	struct pop *op = calloc(1, sizeof(*op));

	if (!op)
		return NULL;
	op->p = p;
	op->srv = srv;
	op->req = req;
	op->id = *id;
	snprintf(op->tenant, sizeof(op->tenant), "%s", tenant);
	snprintf(op->name, sizeof(op->name), "%s", name);
	return op;
}

static void
pop_free(struct pop *op)
{
	free(op->value);
	json_decref(op->reply);
	free(op);
}

static void
pop_submit(struct pop *op, const struct res_kind *k, enum store_op_type type,
    json_t *doc, uint64_t expect, const char *action,
    void (*done)(struct commit_req *))
{
	free(op->value);
	op->value = NULL;
	res_key(k, op->tenant, op->name, op->key, sizeof(op->key));
	if (doc)
		op->value = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
	snprintf(op->action, sizeof(op->action), "%s", action);
	memset(&op->creq, 0, sizeof(op->creq));
	op->creq.op = (struct store_op){ .type = type, .key = op->key,
	    .value = op->value, .value_len = op->value ? strlen(op->value) : 0,
	    .expect_rev = expect };
	op->creq.rec = (struct audit_record){ .actor = op->id.principal,
	    .role = op->id.role_name, .tenant = op->id.tenant,
	    .source = op->id.source, .auth_method = op->id.auth_method,
	    .action = op->action, .object_kind = k->kind,
	    .object_tenant = op->tenant, .object_name = op->name,
	    .reason = op->reason[0] ? op->reason : NULL,
	    .controls = PRINCIPAL_CONTROLS };
	op->creq.done = done;
	commit_submit(api_committer(op->srv), &op->creq);
}

static void
reply_commit_error(struct pop *op, int r, const char *what)
{
	char msg[256];

	if (r == -BW_E_AUDIT) {
		api_reply_error(op->srv, op->req, 503, "audit_unavailable",
		    "the audit record could not be made durable; nothing was changed");
		return;
	}
	if (r == -BW_E_EXISTS) {
		snprintf(msg, sizeof(msg), "principal %s already exists in tenant %s",
		    op->name, op->tenant);
		api_reply_error(op->srv, op->req, 409, "already_exists", msg);
		return;
	}
	snprintf(msg, sizeof(msg), "%s: %s", what, bw_strerror(r));
	api_reply_err(op->srv, op->req, r, msg);
}

/* Replies with the error R of OP's current step and frees OP. */
static void
pop_fail(struct pop *op, int r)
{
	reply_commit_error(op, r, op->step == 0 ? "principal" :
	    "role binding");
	pop_free(op);
}

static void
create_done(struct commit_req *creq)
{
	struct pop		*op = (struct pop *)creq;
	_cleanup_json_ json_t	*rb = NULL;

	if (creq->result < 0) {
		pop_fail(op, creq->result);
		return;
	}
	if (op->step == 0) {
		/* the binding is what grants the role: write it second, so
		 * a failure leaves a principal without access (fail closed) */
		op->step = 1;
		rb = principals_binding_doc(op->tenant, op->name, op->role);
		if (!rb) {
			api_reply_error(op->srv, op->req, 500, "internal",
			    "out of memory");
			pop_free(op);
			return;
		}
		snprintf(op->reason, sizeof(op->reason), "grants %s to %s",
		    op->role, op->name);
		pop_submit(op, res_kind_by_name("RoleBinding"), STORE_OP_PUT, rb,
		    STORE_REV_ANY, "rolebinding.create", create_done);
		return;
	}
	api_reply_json(op->srv, op->req, 201, op->reply);
	pop_free(op);
}

void
principals_create(struct principals *p, struct api_server *srv,
    struct evhttp_request *req, const struct authz_identity *id,
    const char *tenant)
{
	_cleanup_json_ json_t	*body = NULL, *doc = NULL;
	_cleanup_free_ char	*err = NULL, *cert = NULL, *serial = NULL;
	_cleanup_free_ char	*ca = NULL;
	_cleanup_(EVP_PKEY_freep) EVP_PKEY	*subject_key = NULL;
	struct pop		*op = NULL;
	const char		*name = NULL, *role = NULL, *t = NULL;
	const char		*csr = NULL;
	size_t			 csr_len = 0;
	json_int_t		 days = PRINCIPAL_DAYS_DEFAULT;
	char			 uid[40], now[40], not_after[40], path[4200];
	size_t			 calen;
	int			 r;

	/* Which role this caller may grant is decided below, once the
	 * body names it; others are refused before it is read. */
	if (id->role != ROLE_SYSTEM_ADMIN && id->role != ROLE_SECURITY_AUDITOR) {
		r = errf(-BW_E_DENIED, &err, "role %s may not create principals",
		    id->role_name);
		goto fail;
	}
	if ((r = api_read_json_body(req, &body, &err)) < 0)
		goto fail;
	if (json_unpack_ex(body, NULL, JSON_STRICT, "{s:s, s?s, s:s, s?I, s?s%}",
	    "name", &name, "tenant", &t, "role", &role, "days", &days,
	    "csr", &csr, &csr_len) < 0) {
		r = errf(-BW_E_INVALID, &err, "body: must be {\"name\": NAME, "
		    "\"role\": ROLE, \"csr\": PEM, \"days\": 1..%d} and "
		    "nothing else", PRINCIPAL_DAYS_MAX);
		goto fail;
	}
	/* The binding it writes replaces any binding of that name: taking
	 * the old role away needs the right to grant it too (an auditor
	 * naming a principal "admin" must not unbind the administrator). */
	if ((r = authz_may_grant(id, role, &err)) < 0 ||
	    (r = principals_binding_write_check(api_store(srv), id, tenant,
	    name, NULL, &err)) < 0)
		goto fail;
	if (t && strcmp(t, tenant) != 0) {
		r = errf(-BW_E_INVALID, &err, "tenant: \"%s\" does not match the "
		    "path's tenant \"%s\"", t, tenant);
		goto fail;
	}
	if (days < 1 || days > PRINCIPAL_DAYS_MAX) {
		r = errf(-BW_E_INVALID, &err, "days: must be 1..%d",
		    PRINCIPAL_DAYS_MAX);
		goto fail;
	}
	if (!schema_is_dns_label(name)) {
		r = errf(-BW_E_INVALID, &err, "name: must be a DNS label");
		goto fail;
	}
	if ((r = pki_check_role(tenant, role, &err)) < 0)
		goto fail;
	/* Only the CSR's public key is certified: the private key stays
	 * with its owner (the server never makes a principal's key; the
	 * first administrator's and auditor's come from first start,
	 * pki_init_dir()), and the subject is ours, not the CSR's. */
	if (!csr) {
		r = errf(-BW_E_INVALID, &err, "csr: required: a PEM certificate "
		    "signing request for the principal's own key (bulwark "
		    "principal create makes one)");
		goto fail;
	}
	if ((r = pki_csr_public_key(csr, csr_len, &subject_key, &err)) < 0)
		goto fail;
	if (p->ca_custody) {
		EVP_PKEY *cakey = NULL;

		if ((r = p->ca_custody->load(p->ca_custody->ctx, &cakey, &err)) < 0)
			goto fail;
		r = pki_issue_for_key(p->pkidir, cakey, name, tenant, role,
		    subject_key, (unsigned)days * 86400u, &cert, NULL, &serial,
		    &err);
		EVP_PKEY_free(cakey);
	} else
		r = pki_issue_client(p->pkidir, name, tenant, role, (unsigned)days,
		    subject_key, &cert, NULL, &serial, &err);
	if (r < 0)
		goto fail;
	snprintf(path, sizeof(path), "%s/ca.crt", p->pkidir);
	if ((r = read_file_at(AT_FDCWD, path, 256 * 1024, &ca, &calen)) < 0) {
		errf(r, &err, "cannot read the CA certificate");
		goto fail;
	}
	if (!(op = pop_new(p, srv, req, id, tenant, name))) {
		r = -ENOMEM;
		goto fail;
	}
	snprintf(op->role, sizeof(op->role), "%s", role);
	snprintf(op->reason, sizeof(op->reason), "certificate serial %s, role %s, "
	    "%lld days, key from a CSR", serial, role, (long long)days);
	if ((r = bw_uuid_v4(uid)) < 0)
		goto fail;
	bw_time_rfc3339(now, sizeof(now), time(NULL));
	bw_time_rfc3339(not_after, sizeof(not_after), time(NULL) + (time_t)days * 86400);
	doc = json_pack("{s:s, s:{s:s, s:s, s:s, s:s, s:{}}, s:{s:s, s:s, s:s}, "
	    "s:{s:s}}", "kind", "Principal", "metadata", "name", name, "tenant",
	    tenant, "uid", uid, "created", now, "labels", "spec", "role", role,
	    "serial", serial, "not_after", not_after, "status", "state", "Active");
	op->reply = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "name", name,
	    "tenant", tenant, "role", role, "serial", serial, "certificate", cert,
	    "ca", ca);
	if (!doc || !op->reply) {
		r = -ENOMEM;
		goto fail;
	}
	pop_submit(op, res_kind_by_name("Principal"), STORE_OP_PUT, doc,
	    STORE_REV_ABSENT, "principal.create", create_done);
	return;
fail:
	if (op)
		pop_free(op);
	api_audit(srv, id, "principal.create", "Principal", tenant, NULL,
	    r == -BW_E_DENIED ? "denied" : "failure", err ? err : bw_strerror(r));
	api_reply_err(srv, req, r, err);
}

static void
revoke_done(struct commit_req *creq)
{
	struct pop		*op = (struct pop *)creq;
	_cleanup_json_ json_t	*out = NULL;

	if (creq->result < 0 && !(op->step == 1 &&
	    creq->result == -BW_E_NOTFOUND)) {
		pop_fail(op, creq->result);
		return;
	}
	if (op->step == 0) {
		op->step = 1;
		pop_submit(op, res_kind_by_name("RoleBinding"), STORE_OP_DELETE,
		    NULL, STORE_REV_ANY, "rolebinding.delete", revoke_done);
		return;
	}
	out = json_pack("{s:s, s:s, s:s}", "name", op->name, "tenant", op->tenant,
	    "state", "Revoked");
	api_reply_json(op->srv, op->req, 200, out);
	pop_free(op);
}

/* Who may grant a role may take it away, and nobody else; but a node
 * credential made through the principals endpoint (possible before
 * 2026-12, issue 13) must never be stuck: the administrator may revoke
 * those. 0 or -BW_E_DENIED (why in *RET_ERR). */
static int
may_revoke(const struct authz_identity *id, const char *role, char **ret_err)
{
	if (id->role == ROLE_SYSTEM_ADMIN && role &&
	    (strcmp(role, "node") == 0 || strcmp(role, "node-bootstrap") == 0))
		return 0;
	return authz_may_grant(id, role, ret_err);
}

void
principals_revoke(struct principals *p, struct api_server *srv,
    struct evhttp_request *req, const struct authz_identity *id,
    const char *tenant, const char *name)
{
	const struct res_kind	*k = res_kind_by_name("Principal");
	_cleanup_free_ char	*err = NULL;
	_cleanup_json_ json_t	*doc = NULL;
	struct store_kv		*kv = NULL;
	struct pop		*op = NULL;
	char			 key[RES_KEY_MAX], now[40];
	const char		*serial, *role;
	int			 r;

	if (id->role != ROLE_SYSTEM_ADMIN && id->role != ROLE_SECURITY_AUDITOR) {
		r = errf(-BW_E_DENIED, &err, "role %s may not revoke principals",
		    id->role_name);
		goto fail;
	}
	if ((r = res_key(k, tenant, name, key, sizeof(key))) < 0 ||
	    (r = store_get(api_store(srv), key, &kv)) < 0)
		goto fail;
	doc = json_loadb(kv->value, kv->value_len, 0, NULL);
	serial = json_str_at(doc, "spec", "serial");
	if (!serial) {
		r = errf(-BW_E_CORRUPT, &err, "principal has no serial");
		goto fail;
	}
	role = json_str_at(doc, "spec", "role");
	if ((r = may_revoke(id, role, &err)) < 0)
		goto fail;
	/* The certificate dies first: from here on no request with it
	 * passes, whatever happens to the store writes below. */
	if ((r = pki_revoke(p->pkidir, serial, &err)) < 0 ||
	    (r = pki_revoked_reload(p->revoked, p->pkidir, &err)) < 0)
		goto fail;
	if (!(op = pop_new(p, srv, req, id, tenant, name))) {
		r = -ENOMEM;
		goto fail;
	}
	snprintf(op->reason, sizeof(op->reason), "certificate serial %s revoked",
	    serial);
	bw_time_rfc3339(now, sizeof(now), time(NULL));
	json_object_set_new(doc, "status", json_pack("{s:s, s:s}", "state",
	    "Revoked", "revoked_at", now));
	pop_submit(op, k, STORE_OP_PUT, doc, kv->mod_rev, "principal.revoke",
	    revoke_done);
	store_kv_free(kv);
	return;
fail:
	store_kv_free(kv);
	api_audit(srv, id, "principal.revoke", "Principal", tenant, name,
	    r == -BW_E_DENIED ? "denied" : "failure", err ? err : bw_strerror(r));
	api_reply_err(srv, req, r, r == -BW_E_NOTFOUND ? NULL : err);
}

int
principals_revoke_serial(struct principals *p, const char *serial,
    char **ret_err)
{
	int r;

	if ((r = pki_revoke(p->pkidir, serial, ret_err)) < 0)
		return r;
	return pki_revoked_reload(p->revoked, p->pkidir, ret_err);
}

/* Calls FN for every principal of TENANT that is not revoked already,
 * with its role and serial (either may be NULL), until FN returns
 * non-zero. Returns that, or 0, or a negative error. */
static int
tenant_principals_foreach(struct store *st, const char *tenant,
    int (*fn)(const char *name, const char *role, const char *serial,
    void *arg), void *arg, char **ret_err)
{
	struct store_kv	**kvs = NULL;
	char		  prefix[RES_KEY_MAX];
	size_t		  n = 0, i;
	uint64_t	  rev;
	int		  r;

	if ((r = res_prefix(res_kind_by_name("Principal"), tenant, prefix,
	    sizeof(prefix))) < 0)
		return errf(r, ret_err, "tenant %s: no principals prefix",
		    tenant);
	if ((r = store_list(st, prefix, &kvs, &n, &rev)) < 0)
		return errf(r, ret_err, "cannot list the principals of tenant "
		    "%s: %s", tenant, bw_strerror(r));
	for (i = 0, r = 0; i < n && r == 0; i++) {
		_cleanup_json_ json_t *doc = json_loadb(kvs[i]->value,
		    kvs[i]->value_len, 0, NULL);
		json_t *spec = json_object_get(doc, "spec");
		const char *state = json_string_value(json_object_get(
		    json_object_get(doc, "status"), "state"));

		if (state && strcmp(state, "Revoked") == 0)
			continue;
		r = fn(res_name(doc), json_string_value(json_object_get(spec,
		    "role")), json_string_value(json_object_get(spec,
		    "serial")), arg);
	}
	store_kv_array_free(kvs, n);
	return r;
}

struct tenant_walk {
	struct principals		*p;
	const struct authz_identity	*id;
	char				**ret_err;
	const char			*tenant;
};

static int
walk_check(const char *name, const char *role, const char *serial, void *arg)
{
	struct tenant_walk	*w = arg;
	_cleanup_free_ char	*why = NULL;
	int			 r;

	(void)serial;
	if ((r = may_revoke(w->id, role, &why)) < 0)
		return errf(r, w->ret_err, "tenant %s: deleting it would revoke "
		    "principal %s: %s", w->tenant, name ? name : "?", why);
	return 0;
}

static int
walk_revoke(const char *name, const char *role, const char *serial,
    void *arg)
{
	struct tenant_walk *w = arg;

	(void)name;
	if (!serial)
		return 0;
	/* checked before the delete; one granted since is not the
	 * caller's to revoke (its tenant is gone: tenant_stands()) */
	if (may_revoke(w->id, role, NULL) < 0)
		return 0;
	return pki_revoke(w->p->pkidir, serial, w->ret_err);
}

int
principals_tenant_delete_check(struct store *st,
    const struct authz_identity *id, const char *tenant, char **ret_err)
{
	struct tenant_walk w = { .id = id, .ret_err = ret_err,
	    .tenant = tenant };

	if (strcmp(tenant, RES_SYSTEM_TENANT) == 0)
		return errf(-BW_E_DENIED, ret_err, "tenant %s holds the "
		    "appliance's administrators, auditors and nodes: it cannot "
		    "be deleted", RES_SYSTEM_TENANT);
	return tenant_principals_foreach(st, tenant, walk_check, &w, ret_err);
}

int
principals_disable_tenant(struct principals *p, struct store *st,
    const struct authz_identity *id, const char *tenant, char **ret_err)
{
	struct tenant_walk	w = { .p = p, .id = id, .ret_err = ret_err,
	    .tenant = tenant };
	int			r;

	if ((r = tenant_principals_foreach(st, tenant, walk_revoke, &w,
	    ret_err)) < 0)
		return r;
	return pki_revoked_reload(p->revoked, p->pkidir, ret_err);
}

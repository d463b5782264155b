#include "config.h"

#include <string.h>

#include "controlplane/authz.h"
#include "lib/err.h"
#include "lib/json.h"

static const struct {
	const char	*name;
	enum authz_role	 role;
} role_names[] = {
	{ "system-admin", ROLE_SYSTEM_ADMIN },
	{ "security-auditor", ROLE_SECURITY_AUDITOR },
	{ "tenant-admin", ROLE_TENANT_ADMIN },
	{ "tenant-user", ROLE_TENANT_USER },
	{ "node", ROLE_NODE },
	{ "metrics", ROLE_METRICS },
	/* Enrolment credential: a node role that authz_check() refuses
	 * everywhere; only the enrolment endpoints accept it. */
	{ "node-bootstrap", ROLE_NODE },
};

static int
is_bootstrap(const struct authz_identity *id)
{
	return id->role == ROLE_NODE &&
	    strcmp(id->role_name, "node-bootstrap") == 0;
}

/* What a node reads (docs/rbac.md): its own Node (RES_F_NODE), the
 * instances bound to it (node_field), the workloads and networks those
 * use (RES_F_NODE_USED) and the image catalogue (RES_F_CATALOGUE); which
 * objects of these kinds is decided per object by the API (node_sees).
 * Tenants, quotas, role bindings and principals are none of a node's
 * business. */
static int
node_may_read(const struct authz_identity *id, const struct res_kind *kind,
    char **ret_err)
{
	if (!kind || (kind->flags & (RES_F_NODE | RES_F_NODE_USED |
	    RES_F_CATALOGUE)) || kind->node_field)
		return 0;
	return errf(-BW_E_DENIED, ret_err, "node identities may not read %s "
	    "objects", kind->plural);
}

enum authz_role
authz_role_parse(const char *name)
{
	size_t i;

	for (i = 0; i < ELEMENTSOF(role_names); i++)
		if (strcmp(role_names[i].name, name) == 0)
			return role_names[i].role;
	return ROLE_NONE;
}

int
authz_tenant_visible(const struct authz_identity *id, const char *tenant)
{
	if (is_bootstrap(id))
		return 0;
	switch (id->role) {
	case ROLE_SYSTEM_ADMIN:
	case ROLE_SECURITY_AUDITOR:
	case ROLE_NODE:
		return 1;
	case ROLE_TENANT_ADMIN:
	case ROLE_TENANT_USER:
		return tenant && strcmp(tenant, id->tenant) == 0;
	case ROLE_METRICS:
	case ROLE_NONE:
		break;
	}
	return 0;
}

int
authz_endpoint(const struct authz_identity *id, bool metrics, char **ret_err)
{
	if (id->role != ROLE_METRICS || metrics)
		return 0;
	return errf(-BW_E_DENIED, ret_err, "role metrics may read /metrics "
	    "and nothing else");
}

int
authz_check(const struct authz_identity *id, enum authz_verb verb,
    const struct res_kind *kind, const char *tenant, char **ret_err)
{
	int tenant_role = id->role == ROLE_TENANT_ADMIN ||
	    id->role == ROLE_TENANT_USER;

	if (id->role == ROLE_NONE)
		return errf(-BW_E_DENIED, ret_err, "principal %s has no role",
		    id->principal);
	if (is_bootstrap(id))
		return errf(-BW_E_DENIED, ret_err, "a node-bootstrap "
		    "credential may only enrol (/v1/enrol/)");
	if (id->role == ROLE_METRICS)
		return verb == VERB_METRICS && !kind ? 0 : errf(-BW_E_DENIED,
		    ret_err, "role metrics may read /metrics and nothing else");
	/* Separation of duties (AU-9(4)): the audit trail is the
	 * auditor's alone, and the auditor changes nothing. */
	if (verb == VERB_AUDIT_READ) {
		if (id->role == ROLE_SECURITY_AUDITOR)
			return 0;
		return errf(-BW_E_DENIED, ret_err,
		    "role %s may not read the audit trail", id->role_name);
	}
	/* Only an enrolled node reports status; a bootstrap credential
	 * was refused above, whatever its role parses to. */
	if (verb == VERB_STATUS)
		return id->role == ROLE_NODE && strcmp(id->role_name,
		    "node") == 0 ? 0 : errf(-BW_E_DENIED, ret_err, "only the "
		    "node itself reports status (role %s)", id->role_name);
	if (verb == VERB_METRICS)
		return tenant_role || id->role == ROLE_NODE ? errf(-BW_E_DENIED,
		    ret_err, "role %s may not read appliance metrics",
		    id->role_name) : 0;
	if (kind && kind->scope == RES_TENANT && tenant && *tenant &&
	    tenant_role && strcmp(tenant, id->tenant) != 0)
		return errf(-BW_E_NOTFOUND, ret_err, "not found");
	if (verb == VERB_READ) {
		if (id->role == ROLE_NODE)
			return node_may_read(id, kind, ret_err);
		if (!tenant_role)
			return 0;
		/* Tenants see their own tenant object and the image
		 * catalogue; the infrastructure stays hidden. */
		if (!kind || kind->scope == RES_TENANT)
			return 0;
		if (kind->flags & (RES_F_CATALOGUE | RES_F_TENANT_DEFINING))
			return 0;
		return errf(-BW_E_DENIED, ret_err,
		    "role %s may not read %s objects", id->role_name, kind->plural);
	}
	/* VERB_WRITE */
	if (id->role == ROLE_SECURITY_AUDITOR)
		return errf(-BW_E_DENIED, ret_err,
		    "role security-auditor may not change anything");
	if (!kind)
		return errf(-BW_E_DENIED, ret_err, "not writable");
	if (kind->flags & RES_F_INTERNAL_WRITES)
		return errf(-BW_E_DENIED, ret_err,
		    "%s objects change only through their own commands",
		    kind->kind);
	/* A node reports status through the status subresource (its own
	 * Node's and its instances', checked there) and changes nothing
	 * else: never a create, replace or delete, whatever the kind. */
	if (id->role == ROLE_NODE)
		return errf(-BW_E_DENIED, ret_err, "node identities change "
		    "nothing but the status of their own Node and of the "
		    "instances bound to them (PUT .../status)");
	if (kind->flags & RES_F_SYSTEM_WRITES)
		return errf(-BW_E_DENIED, ret_err,
		    "%s objects are written by the system only", kind->kind);
	if (id->role == ROLE_SYSTEM_ADMIN)
		return 0;
	if (kind->flags & RES_F_ADMIN_WRITES)
		return errf(-BW_E_DENIED, ret_err,
		    "role %s may not change %s objects", id->role_name,
		    kind->plural);
	if (id->role == ROLE_TENANT_USER && !(kind->flags & RES_F_USER_WRITES))
		return errf(-BW_E_DENIED, ret_err,
		    "role tenant-user may change workloads only");
	return 0;
}

/* Separation of duties (AC-5, AU-9(4)): the administrator cannot make
 * the people who audit it, and nobody makes a node identity by hand. */
static const struct {
	enum authz_role	 issuer;
	const char	*role;
} grants[] = {
	{ ROLE_SYSTEM_ADMIN, "system-admin" },
	{ ROLE_SYSTEM_ADMIN, "tenant-admin" },
	{ ROLE_SYSTEM_ADMIN, "tenant-user" },
	{ ROLE_SYSTEM_ADMIN, "metrics" },
	{ ROLE_SECURITY_AUDITOR, "security-auditor" },
};

int
authz_may_grant(const struct authz_identity *issuer, const char *role,
    char **ret_err)
{
	size_t i;

	if (!role)
		return errf(-BW_E_DENIED, ret_err, "role: missing");
	if (!is_bootstrap(issuer))
		for (i = 0; i < ELEMENTSOF(grants); i++)
			if (grants[i].issuer == issuer->role &&
			    strcmp(grants[i].role, role) == 0)
				return 0;
	if (strcmp(role, "node") == 0 || strcmp(role, "node-bootstrap") == 0)
		return errf(-BW_E_DENIED, ret_err, "role %s may not grant %.32s: "
		    "node credentials come only from enrolment (/v1/enrol/), "
		    "bound to the node's TPM", issuer->role_name, role);
	if (strcmp(role, "security-auditor") == 0)
		return errf(-BW_E_DENIED, ret_err, "role %s may not grant "
		    "security-auditor: only a security-auditor makes or removes "
		    "another (separation of duties, AU-9(4))",
		    issuer->role_name);
	return errf(-BW_E_DENIED, ret_err, "role %s may not grant %.32s",
	    issuer->role_name, role);
}

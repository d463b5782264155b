/* Authorisation: the one place that decides who may do what. Every
 * endpoint asks authz_check() before touching the store. */
#ifndef BW_AUTHZ_H
#define BW_AUTHZ_H

#include <stdbool.h>

#include "controlplane/resource.h"

enum authz_role {
	ROLE_NONE,
	ROLE_SYSTEM_ADMIN,
	ROLE_SECURITY_AUDITOR,
	ROLE_TENANT_ADMIN,
	ROLE_TENANT_USER,
	ROLE_NODE,		/* a node agent's identity */
	ROLE_METRICS,		/* a scraper: GET /metrics, nothing else */
};

/* VERB_STATUS: a node reports status (PUT .../status); which objects'
 * is decided per object by the API (the node's own and its instances'). */
enum authz_verb {
	VERB_READ, VERB_WRITE, VERB_AUDIT_READ, VERB_METRICS, VERB_STATUS,
};

struct authz_identity {
	char		principal[64];
	char		tenant[64];
	enum authz_role	role;
	char		role_name[32];
	char		serial[80];
	const char	*auth_method;	/* "mtls", "none" */
	char		source[64];	/* peer address */
};

/* Maps a role name from a certificate to the enum; ROLE_NONE if unknown. */
enum authz_role authz_role_parse(const char *name);

/* Decides whether ID may perform VERB on objects of KIND in TENANT (NULL
 * or "" for a collection across tenants or a non-resource endpoint).
 * Returns 0 if allowed, -BW_E_NOTFOUND when the object is in another
 * tenant (its existence is not revealed), -BW_E_DENIED otherwise, with
 * the reason in *ret_err. */
int authz_check(const struct authz_identity *id, enum authz_verb verb,
    const struct res_kind *kind, const char *tenant, char **ret_err);

/* Decides whether ID may use an endpoint at all, before the endpoint's
 * own decision: a metrics principal uses /metrics (METRICS true) and no
 * other. Returns 0 or -BW_E_DENIED with the reason in *ret_err. */
int authz_endpoint(const struct authz_identity *id, bool metrics,
    char **ret_err);

/* Returns 1 if ID may see objects of TENANT when listing or watching. */
int authz_tenant_visible(const struct authz_identity *id, const char *tenant);

/* Decides whether ISSUER may give ROLE to a principal: issue its
 * certificate, bind it with a RoleBinding, or take it away again
 * (revoke the principal, change or delete the binding). The table is
 * docs/rbac.md's "Who may grant which role": system-admin grants
 * system-admin, tenant-admin, tenant-user and metrics; security-auditor grants
 * security-auditor; nobody grants node or node-bootstrap (enrolment
 * alone issues them, bound to the node's TPM). Returns 0 or
 * -BW_E_DENIED with the reason in *ret_err. */
int authz_may_grant(const struct authz_identity *issuer, const char *role,
    char **ret_err);

#endif

/* Principals (people and service accounts) and their role bindings.
 * `POST /v1/tenants/{t}/principals` certifies the public key of the
 * request's CSR (the private key never reaches the server) with the
 * appliance CA and records a Principal and its RoleBinding, for a role
 * the caller may grant (authz_may_grant());
 * `DELETE /v1/tenants/{t}/principals/{name}` revokes the certificate at
 * once and removes the binding. Every request's role must be backed by
 * a RoleBinding, so removing a binding takes the role away without
 * waiting for the certificate to expire (AC-2, AC-6). */
#ifndef BW_PRINCIPALS_H
#define BW_PRINCIPALS_H

#include <stdbool.h>

#include "controlplane/api.h"
#include "controlplane/authz.h"
#include "controlplane/resource.h"
#include "controlplane/store.h"

#define PRINCIPAL_DAYS_DEFAULT	90
#define PRINCIPAL_DAYS_MAX	365

struct pki_revoked;

struct pki_key_custody;

struct principals {
	char				 pkidir[4096];
	struct pki_revoked		*revoked;
	/* holder of the CA key when it is not a file (TPM-sealed); NULL:
	 * PKIDIR/ca.key */
	const struct pki_key_custody	*ca_custody;
};

/* The RoleBinding that last granted an identity its role: its key and
 * the revision it had. Zeroed: none known. */
struct principals_grant {
	char		key[RES_KEY_MAX];
	uint64_t	mod_rev;
};

/* Returns 0 when a RoleBinding in ID's tenant grants ID's role to ID's
 * principal, -BW_E_UNAUTH otherwise (message in *ret_err). Node
 * identities are bound by enrolment, not by RoleBindings. GRANT (may be
 * NULL) remembers the binding that granted, for the same identity's
 * next check: while that binding still exists at the same revision (one
 * store read) it still grants, so the tenant's bindings are not listed
 * and parsed again; any change to it, or its removal, makes the next
 * check a full one. */
int principals_binding_check(struct store *st, const struct authz_identity *id,
    struct principals_grant *grant, char **ret_err);

/* Whether ID may write DOC (NULL: delete) as the RoleBinding NAME of
 * TENANT: ID must be allowed to grant the role DOC names and the role
 * of the binding it replaces or deletes (authz_may_grant()). Returns 0
 * or a negative error (-BW_E_DENIED with the reason in *ret_err). */
int principals_binding_write_check(struct store *st,
    const struct authz_identity *id, const char *tenant, const char *name,
    const json_t *doc, char **ret_err);

/* The two endpoints; each answers REQ and records it. */
void principals_create(struct principals *p, struct api_server *srv,
    struct evhttp_request *req, const struct authz_identity *id,
    const char *tenant);
void principals_revoke(struct principals *p, struct api_server *srv,
    struct evhttp_request *req, const struct authz_identity *id,
    const char *tenant, const char *name);

/* Puts SERIAL on the revocation list, effective for the next request.
 * Returns 0 or a negative error (message in *ret_err). */
int principals_revoke_serial(struct principals *p, const char *serial,
    char **ret_err);

/* Whether ID may delete TENANT, whose deletion revokes its principals:
 * never tenant system (the administrators, auditors and nodes), and only
 * when ID may revoke every principal the tenant holds (the rule of
 * principals_revoke(), from authz_may_grant()). 0 or -BW_E_DENIED (why
 * in *RET_ERR), or another negative error. */
int principals_tenant_delete_check(struct store *st,
    const struct authz_identity *id, const char *tenant, char **ret_err);

/* Revokes the certificate of every principal of TENANT that ID may
 * revoke, once the tenant's deletion has committed (never before: a
 * refused delete leaves its principals standing). Returns 0 or a
 * negative error (message in *ret_err); a principal left unrevoked is
 * refused anyway while its tenant does not exist. */
int principals_disable_tenant(struct principals *p, struct store *st,
    const struct authz_identity *id, const char *tenant, char **ret_err);

/* Builds the stored RoleBinding granting ROLE to PRINCIPAL in TENANT
 * (named after the principal). Returns a new reference or NULL. */
json_t *principals_binding_doc(const char *tenant, const char *principal,
    const char *role);

#endif

/* The resource model: which kinds exist, how their documents are
 * validated, where they live in the store, and how stored objects are
 * rendered back with their revision. Adding a kind means adding one
 * row to the table in resource.c (see docs/architecture.md). */
#ifndef BW_RESOURCE_H
#define BW_RESOURCE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "controlplane/schema.h"

/* Tenant that owns system objects (nodes, images, tenants themselves). */
#define RES_SYSTEM_TENANT	"system"
#define RES_KEY_MAX		256

enum res_scope {
	RES_CLUSTER,		/* one namespace for the appliance */
	RES_TENANT,		/* lives inside a tenant */
};

/* Who may write objects of a kind through apply/replace/delete. */
#define RES_F_SYSTEM_WRITES	0x1	/* only controllers/agents write it */
#define RES_F_ADMIN_WRITES	0x2	/* system-admin only */
#define RES_F_INTERNAL_WRITES	0x4	/* only through its own endpoint (principals) */

struct res_kind {
	const char			*kind;		/* "Workload" */
	const char			*plural;	/* "workloads" */
	enum res_scope			 scope;
	unsigned			 flags;
	const struct schema_field	*spec;
	const char			*controls;	/* 800-53 ids a change evidences */
};

const struct res_kind *res_kind_by_name(const char *kind);
const struct res_kind *res_kind_by_plural(const char *plural);

/* Accepts a plural, singular or kind name, any case ("workload",
 * "Workloads", "wl" is not accepted). For the CLI. */
const struct res_kind *res_kind_lookup(const char *name);

/* The table, for walks (docs, RBAC tests). *ret_n receives its size. */
const struct res_kind *res_kinds(size_t *ret_n);

/* Writes the store key of object NAME of KIND in TENANT (ignored for
 * cluster kinds) into BUF. Returns 0 or -ENAMETOOLONG. */
int res_key(const struct res_kind *k, const char *tenant, const char *name,
    char *buf, size_t len);

/* Writes the key prefix listing KIND in TENANT (NULL: every tenant). */
int res_prefix(const struct res_kind *k, const char *tenant, char *buf,
    size_t len);

/* Validates a document a client sent. Checks kind (and that it equals
 * EXPECT when EXPECT is not NULL), metadata and spec; unknown fields are
 * errors. For tenant kinds a missing metadata.tenant is filled from
 * DEFAULT_TENANT when given. On success *ret_kind is set. Returns 0 or
 * -BW_E_INVALID with a field-precise message. */
int res_validate(json_t *doc, const struct res_kind *expect,
    const char *default_tenant, const struct res_kind **ret_kind,
    char **ret_err);

/* Builds the stored form of a validated document: metadata gets UID and
 * CREATED (RFC 3339) and loses revision; status from the client is
 * replaced by PREV_STATUS (NULL: empty). Returns a new reference. */
json_t *res_stored_form(const json_t *doc, const char *uid,
    const char *created, const json_t *prev_status);

/* Parses a stored value and sets metadata.revision to MOD_REV. Returns
 * a new reference, or NULL if the stored bytes are not an object. */
json_t *res_render(const void *value, size_t len, uint64_t mod_rev);

/* Convenience accessors on a document (borrowed strings, may be NULL). */
const char *res_name(const json_t *doc);
const char *res_tenant(const json_t *doc);
uint64_t res_revision(const json_t *doc);

/* Returns 1 if every "k=v" / "k!=v" / "k" term of the comma-separated
 * SELECTOR matches the object's labels, 0 if not, -BW_E_INVALID if the
 * selector is malformed. */
int res_label_match(const json_t *doc, const char *selector);

/* Splits a store key made by res_key() into its kind, tenant (the
 * system tenant for cluster kinds) and name. Returns 0 or -EINVAL. */
int res_key_parse(const char *key, const struct res_kind **ret_kind,
    char *tenant, size_t tenant_len, char *name, size_t name_len);

#endif

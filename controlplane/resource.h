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

/* A Volume's size: 16 MiB (an ext4 file system with a journal) to
 * 1 TiB. */
#define VOLUME_SIZE_MIN		(16LL << 20)
#define VOLUME_SIZE_MAX		(1LL << 40)

enum res_scope {
	RES_CLUSTER,		/* one namespace for the appliance */
	RES_TENANT,		/* lives inside a tenant */
};

/* Who may write objects of a kind through apply/replace/delete. */
#define RES_F_SYSTEM_WRITES	0x1	/* only controllers/agents write it */
#define RES_F_ADMIN_WRITES	0x2	/* system-admin only */
/* Written only through the principals endpoints (principals.c): a create
 * issues a certificate, a delete revokes it. */
#define RES_F_INTERNAL_WRITES	0x4
#define RES_F_USER_WRITES	0x8	/* tenant-users may write it too */

/* What the API server does differently for a kind (api.c, api-route.c,
 * authz.c name no kind: they ask these). */
/* An object is a node, named as the node's certificate principal: the
 * node reads it and reports its status.agent (the rest of its status is
 * the control plane's verdict); it exists while the node stands, and
 * deleting it revokes the node's certificates. One kind. */
#define RES_F_NODE		0x10
/* An object defines the tenant of its name: a tenant's principals read
 * it and stand while it exists; deleting it disables them. One kind. */
#define RES_F_TENANT_DEFINING	0x20
/* A shared catalogue: tenant roles and nodes read every object. */
#define RES_F_CATALOGUE		0x40
/* A node reads an object when an object bound to it (node_field) uses
 * it, directly or through others (ref_field, ref_kind). */
#define RES_F_NODE_USED		0x80
/* A write is a grant of a role: who may grant it is checked
 * (principals_binding_write_check()). */
#define RES_F_GRANTS_ROLE	0x100
/* A write claims address space no other tenant's objects may overlap
 * (netadmit_check()). */
#define RES_F_CLAIMS_SUBNET	0x200
/* status.used is derived from the tenant's objects on every read
 * (quota_usage()), never stored. */
#define RES_F_DERIVED_USAGE	0x400

struct res_kind {
	const char			*kind;		/* "Workload" */
	const char			*plural;	/* "workloads" */
	enum res_scope			 scope;
	unsigned			 flags;
	const struct schema_field	*spec;
	const char			*controls;	/* 800-53 ids a change evidences */
	/* spec field naming the node an object is bound to: that node reads
	 * it and reports its status (NULL: not bound to nodes). */
	const char			*node_field;
	/* spec field naming an object of kind REF_KIND (same tenant) this
	 * one uses (NULL: none). */
	const char			*ref_field;
	const char			*ref_kind;
};

const struct res_kind *res_kind_by_name(const char *kind);
const struct res_kind *res_kind_by_plural(const char *plural);

/* The first kind in the table with every bit of FLAG set, or NULL. For
 * the kinds there is one of (RES_F_NODE, RES_F_TENANT_DEFINING). */
const struct res_kind *res_kind_by_flag(unsigned flag);

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

/* Where res_render() puts the revision, read from the stored text
 * without parsing it (a watch stream renders each change this way): the
 * offset in VALUE (LEN bytes, compact JSON as stored) of the '}' that
 * closes its top-level "metadata" object, and in *RET_EMPTY whether that
 * object is empty. The text up to it, ",\"revision\":REV" (no comma when
 * empty) and the rest are what json_dumps(res_render(), JSON_COMPACT)
 * gives. Returns the offset, or -BW_E_INVALID for text not of that
 * form (the caller parses it instead). */
long res_metadata_end(const char *value, size_t len, int *ret_empty);

/* Convenience accessors on a document (borrowed strings, may be NULL). */
const char *res_name(const json_t *doc);
const char *res_tenant(const json_t *doc);
uint64_t res_revision(const json_t *doc);

/* Returns 1 if every "k=v" / "k!=v" / "k" term of the comma-separated
 * SELECTOR matches the object's labels, 0 if not, -BW_E_INVALID if the
 * selector is malformed. */
int res_label_match(const json_t *doc, const char *selector);

/* A projection of a list's objects (`?fields=`): the dotted paths of
 * the members a client wants, e.g. a console's columns. */
#define RES_FIELDS_MAX		16
#define RES_FIELD_LEN		64
struct res_fields {
	size_t	n;
	char	path[RES_FIELDS_MAX][RES_FIELD_LEN];
};

/* Parses TEXT, comma-separated dotted paths of names made of letters,
 * digits, '_' and '-' ("metadata.name,status.phase"), at most
 * RES_FIELDS_MAX of them, each shorter than RES_FIELD_LEN, into *RET.
 * Returns 0 or -BW_E_INVALID with a message. */
int res_fields_parse(const char *text, struct res_fields *ret, char **ret_err);

/* A new object holding, of DOC, only the values at F's paths (shared
 * with DOC, not copied) inside the objects that lead to them; paths
 * DOC lacks, or that cross a non-object, are left out. Returns a new
 * reference, or NULL when out of memory. */
json_t *res_project(const json_t *doc, const struct res_fields *f);

/* Splits a store key made by res_key() into its kind, tenant (the
 * system tenant for cluster kinds) and name. Returns 0 or -EINVAL. */
int res_key_parse(const char *key, const struct res_kind **ret_kind,
    char *tenant, size_t tenant_len, char *name, size_t name_len);

/* The store's labeller of deleted values (store_set_delete_label()):
 * for an object of a kind bound to nodes (node_field), the node it was
 * bound to, so a node's watch carries the DELETE of its own objects
 * and of no other node's; "" for anything else, an unbound object or a
 * node name that does not fit in SIZE. */
void res_delete_label(const char *key, const void *value, size_t len,
    char *buf, size_t size);

#endif

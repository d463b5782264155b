#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controlplane/authz-probe.h"
#include "lib/err.h"
#include "lib/json.h"
#include "lib/macro.h"

static const struct authz_probe_decide real_decide = {
	authz_check, authz_tenant_visible,
};

struct probe {
	const struct authz_probe_decide	*d;
	struct authz_probe_report	*rep;
	char				 tenants[AUTHZ_PROBE_TENANTS][64];
	unsigned			 n;
	/* Every distinct tenant name found, probed or not (owned). */
	char				**seen;
	size_t				 nseen;
};

static void
probe_free(struct probe *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->nseen; i++)
		free(p->seen[i]);
	free(p->seen);
	free(p);
}

DEFINE_TRIVIAL_CLEANUP_FUNC(struct probe *, probe_free);

/* Notes tenant T; probes it when it fits (at most AUTHZ_PROBE_TENANTS,
 * and a name an identity can hold), else counts it unprobed, so the
 * report never reads as covering tenants it skipped. */
static int
add_tenant(struct probe *p, const char *t)
{
	char **ns;

	if (!t || !*t)
		return 0;
	for (size_t i = 0; i < p->nseen; i++)
		if (strcmp(p->seen[i], t) == 0)
			return 0;
	if (!(ns = realloc(p->seen, (p->nseen + 1) * sizeof(*ns))))
		return -ENOMEM;
	p->seen = ns;
	if (!(p->seen[p->nseen] = strdup(t)))
		return -ENOMEM;
	p->nseen++;
	p->rep->tenants_found++;
	if (p->n == AUTHZ_PROBE_TENANTS || strlen(t) >= sizeof(p->tenants[0])) {
		p->rep->tenants_unprobed++;
		return 0;
	}
	snprintf(p->tenants[p->n++], sizeof(p->tenants[0]), "%s", t);
	return 0;
}

static void
identity(struct authz_identity *id, const char *tenant, int user)
{
	memset(id, 0, sizeof(*id));
	snprintf(id->principal, sizeof(id->principal), "isolation-probe");
	snprintf(id->tenant, sizeof(id->tenant), "%s", tenant);
	id->role = user ? ROLE_TENANT_USER : ROLE_TENANT_ADMIN;
	snprintf(id->role_name, sizeof(id->role_name), "%s", user ?
	    "tenant-user" : "tenant-admin");
	id->auth_method = "mtls";
	snprintf(id->source, sizeof(id->source), "local");
}

static void
leak(struct probe *p, const struct authz_identity *id, const char *what,
    const struct res_kind *k, const char *tenant, const char *name)
{
	if (!p->rep->leaks++)
		snprintf(p->rep->first_leak, sizeof(p->rep->first_leak),
		    "a %s of %s may %s %s %s/%s", id->role_name, id->tenant,
		    what, k->kind, tenant, name ? name : "*");
}

/* The decisions for ID about stored object NAME of KIND in TENANT, as
 * the API takes them: get and replace ask authz_check() with the
 * object's tenant; the cross-tenant list asks it with none and then
 * filters each object with authz_tenant_visible(). */
static void
probe_object(struct probe *p, const struct authz_identity *id,
    const struct res_kind *k, const char *tenant, const char *name)
{
	const struct authz_probe_decide *d = p->d;
	int listed = d->check(id, VERB_READ, k, "", NULL) == 0 &&
	    d->visible(id, tenant);

	if (strcmp(tenant, id->tenant) == 0) {
		p->rep->own++;
		p->rep->own_hidden += !listed;
		return;
	}
	p->rep->foreign += 3;
	if (d->check(id, VERB_READ, k, tenant, NULL) == 0)
		leak(p, id, "get", k, tenant, name);
	if (d->check(id, VERB_WRITE, k, tenant, NULL) == 0)
		leak(p, id, "replace", k, tenant, name);
	if (listed)
		leak(p, id, "list", k, tenant, name);
}

/* Another tenant's collection of KIND, whether or not it holds objects. */
static void
probe_collections(struct probe *p, const struct authz_identity *id,
    const struct res_kind *k)
{
	for (unsigned j = 0; j < p->n; j++) {
		if (strcmp(p->tenants[j], id->tenant) == 0)
			continue;
		p->rep->foreign += 2;
		if (p->d->check(id, VERB_READ, k, p->tenants[j], NULL) == 0)
			leak(p, id, "list", k, p->tenants[j], NULL);
		if (p->d->check(id, VERB_WRITE, k, p->tenants[j], NULL) == 0)
			leak(p, id, "create in", k, p->tenants[j], NULL);
	}
}

/* The objects of KIND: each tenant's principals against each object. */
static int
probe_kind(struct probe *p, struct store *st, const struct res_kind *k)
{
	struct store_kv	**kvs = NULL;
	char		  prefix[RES_KEY_MAX];
	size_t		  n = 0;
	int		  r;

	if ((r = res_prefix(k, NULL, prefix, sizeof(prefix))) < 0 ||
	    (r = store_list(st, prefix, &kvs, &n, NULL)) < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		_cleanup_json_ json_t *doc = json_loadb(kvs[i]->value,
		    kvs[i]->value_len, 0, NULL);
		const char *t = doc ? res_tenant(doc) : NULL;

		if (!t)
			continue;
		p->rep->objects++;
		for (unsigned j = 0; j < p->n * 2; j++) {
			struct authz_identity id;

			identity(&id, p->tenants[j / 2], j % 2);
			probe_object(p, &id, k, t, res_name(doc));
		}
	}
	store_kv_array_free(kvs, n);
	for (unsigned j = 0; j < p->n * 2; j++) {
		struct authz_identity id;

		identity(&id, p->tenants[j / 2], j % 2);
		probe_collections(p, &id, k);
	}
	return 0;
}

/* The tenants: Tenant objects, then those stored objects name. */
static int
collect_tenants(struct probe *p, struct store *st, const struct res_kind *all,
    size_t nk)
{
	for (size_t i = 0; i < nk; i++) {
		const struct res_kind	*k = &all[i];
		struct store_kv		**kvs = NULL;
		char			  prefix[RES_KEY_MAX];
		size_t			  n = 0;
		int			  r;

		if (k->scope != RES_TENANT && !(k->flags & RES_F_TENANT_DEFINING))
			continue;
		if ((r = res_prefix(k, NULL, prefix, sizeof(prefix))) < 0 ||
		    (r = store_list(st, prefix, &kvs, &n, NULL)) < 0)
			return r;
		for (size_t j = 0; j < n; j++) {
			_cleanup_json_ json_t *doc = json_loadb(kvs[j]->value,
			    kvs[j]->value_len, 0, NULL);

			if (doc && (r = add_tenant(p, k->scope == RES_TENANT ?
			    res_tenant(doc) : res_name(doc))) < 0)
				break;
		}
		store_kv_array_free(kvs, n);
		if (r < 0)
			return r;
	}
	return 0;
}

int
authz_probe_tenancy(struct store *st, const struct authz_probe_decide *d,
    struct authz_probe_report *ret)
{
	_cleanup_(probe_freep) struct probe *p = calloc(1, sizeof(*p));
	const struct res_kind		*all;
	size_t				 nk;
	unsigned			 found;
	int				 r;

	if (!p)
		return -ENOMEM;
	memset(ret, 0, sizeof(*ret));
	p->d = d ? d : &real_decide;
	p->rep = ret;
	all = res_kinds(&nk);
	if ((r = collect_tenants(p, st, all, nk)) < 0)
		return r;
	/* With fewer than two tenants there is nobody to be isolated
	 * from: two made-up ones still test the decisions. */
	found = ret->tenants_found;
	if (p->n < 2 && (r = add_tenant(p, "isolation-probe-a")) < 0)
		return r;
	if (p->n < 2 && (r = add_tenant(p, "isolation-probe-b")) < 0)
		return r;
	ret->tenants_found = found;
	ret->tenants = p->n;
	for (size_t i = 0; i < nk; i++) {
		if (all[i].scope != RES_TENANT)
			continue;
		ret->kinds++;
		if ((r = probe_kind(p, st, &all[i])) < 0)
			return r;
	}
	return 0;
}

int
authz_probe_isolated(const struct authz_probe_report *rep)
{
	return rep->leaks == 0 && rep->own_hidden == 0 &&
	    rep->tenants_unprobed == 0;
}

/* A live self-test of tenant isolation (AC-4, AC-4(21)) for the
 * compliance scan: the authorisation decisions the API's get, list and
 * write paths take, asked for every stored object of a tenant-scoped
 * kind on behalf of a tenant-admin and a tenant-user of each tenant. */
#ifndef BW_AUTHZ_PROBE_H
#define BW_AUTHZ_PROBE_H

#include <stdint.h>

#include "controlplane/authz.h"
#include "controlplane/store.h"

#define AUTHZ_PROBE_TENANTS	32	/* tenants probed at most */

struct authz_probe_report {
	unsigned	 tenants;	/* tenants probed (with two made-up
					   ones when fewer than two exist) */
	unsigned	 kinds;		/* tenant-scoped kinds */
	uint64_t	 objects;	/* stored objects of those kinds */
	uint64_t	 foreign;	/* decisions about another tenant's
					   objects or collections */
	uint64_t	 leaks;		/* of which allowed: must be 0 */
	uint64_t	 own;		/* a tenant's own objects listed */
	uint64_t	 own_hidden;	/* of which not visible: must be 0,
					   or the probe proves nothing */
	unsigned	 tenants_found;	/* distinct tenants the store names */
	unsigned	 tenants_unprobed; /* of those, not probed: past
					   AUTHZ_PROBE_TENANTS, or a name of
					   64 bytes or more */
	char		 first_leak[192];
};

/* The decisions probed; authz_probe_tenancy() uses authz_check() and
 * authz_tenant_visible() when given NULL (tests pass broken ones). */
struct authz_probe_decide {
	int	(*check)(const struct authz_identity *id, enum authz_verb verb,
		    const struct res_kind *kind, const char *tenant,
		    char **ret_err);
	int	(*visible)(const struct authz_identity *id, const char *tenant);
};

/* Probes the objects in ST: for each tenant T (the Tenant objects, and
 * the tenants stored objects name; at most AUTHZ_PROBE_TENANTS, the
 * others counted in RET->tenants_unprobed), a
 * tenant-admin and a tenant-user of T must not get, replace or list
 * (through the cross-tenant list and T's own) an object of another
 * tenant, nor read or write another tenant's collection of any
 * tenant-scoped kind, and must see their own objects in a list. Fills
 * *RET; returns 0, or a negative error when the store cannot be read. */
int authz_probe_tenancy(struct store *st, const struct authz_probe_decide *d,
    struct authz_probe_report *ret);
/* 1 when REP shows isolation: nothing leaked, every own object listed,
 * and every tenant probed (a bounded probe proves nothing about the
 * tenants it skipped). */
int authz_probe_isolated(const struct authz_probe_report *rep);

#endif

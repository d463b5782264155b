/* Tenant quotas, enforced at admission: a Workload or Network that would
 * take its tenant past any Quota object's limit is refused with 409
 * quota_exceeded naming the quota, the resource, what is used, what was
 * requested and the limit (SC-6, CM-3). */
#ifndef BW_QUOTA_H
#define BW_QUOTA_H

#include <jansson.h>

#include "controlplane/resource.h"
#include "controlplane/store.h"

/* Limits per tenant; a negative value is no limit. */
struct quota_limits {
	long long	cpu_millis, memory_mib, instances, workloads, networks;
};

/* The default quota every tenant has where no Quota object names a
 * resource (docs/workloads.md, "Quotas"): 100 instances, 50 workloads,
 * 8 networks, 64,000 millicores, 256 GiB of memory. */
#define QUOTA_DEFAULT_LIMITS	{ .cpu_millis = 64000, .memory_mib = 262144, \
	.instances = 100, .workloads = 50, .networks = 8 }

/* Parses SPEC, "RESOURCE=N[,RESOURCE=N...]" (N within the Quota
 * schema's range, or "none" for no limit), over *L: resources not named
 * keep their value. Returns 0 or -BW_E_INVALID with a message. */
int quota_limits_parse(const char *spec, struct quota_limits *l,
    char **ret_err);

/* Checks DOC (a validated Workload or Network about to be created or
 * replaced) against every Quota of its tenant; for a resource that no
 * Quota object of the tenant limits, DEFAULTS apply (NULL: none), so
 * instances are always counted. Returns 0, or -BW_E_QUOTA with the
 * exact message in *ret_err, or a store error. */
int quota_check(struct store *st, const struct quota_limits *defaults,
    const struct res_kind *k, const json_t *doc, char **ret_err);

/* Usage of TENANT as a JSON object {cpu_millis, memory_mib, instances,
 * workloads, networks}; *ret is a new reference. */
int quota_usage(struct store *st, const char *tenant, json_t **ret);

#endif

/* Tenant quotas, enforced at admission: a Workload or Network that would
 * take its tenant past any Quota object's limit is refused with 409
 * quota_exceeded naming the quota, the resource, what is used, what was
 * requested and the limit (SC-6, CM-3). */
#ifndef BW_QUOTA_H
#define BW_QUOTA_H

#include <jansson.h>

#include "controlplane/resource.h"
#include "controlplane/store.h"

/* Checks DOC (a validated Workload or Network about to be created or
 * replaced) against every Quota of its tenant. Returns 0, or
 * -BW_E_QUOTA with the exact message in *ret_err, or a store error. */
int quota_check(struct store *st, const struct res_kind *k, const json_t *doc,
    char **ret_err);

/* Usage of TENANT as a JSON object {cpu_millis, memory_mib, instances,
 * workloads, networks}; *ret is a new reference. */
int quota_usage(struct store *st, const char *tenant, json_t **ret);

#endif

/* Tenant quotas, enforced at admission: a Workload, Network or Volume
 * (its size_bytes count as volume_bytes) that would
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
	long long	volume_bytes;
};

/* What one Workload, Network or Volume counts for. */
struct quota_amount {
	long long	cpu_millis, memory_mib, instances, workloads, networks;
	long long	volume_bytes;
};

/* Changes admitted but not yet committed, which the store does not show
 * yet: without them, requests in flight at once would each pass against
 * the same committed usage. Admission and commit completion both run on
 * the API's event loop, so the table needs no lock. Bounded: past
 * QUOTA_CLAIMS_MAX in all or QUOTA_CLAIMS_TENANT_MAX for one tenant, a
 * change is refused with 503 until some commit ends. */
#define QUOTA_CLAIMS_MAX	256
#define QUOTA_CLAIMS_TENANT_MAX	64

struct quota_claim {
	int			used;
	int			kind;		/* Workload, Network, Volume */
	char			tenant[64], name[64];
	struct quota_amount	amount;		/* the whole object as sent */
};

struct quota_claims {
	struct quota_claim	claims[QUOTA_CLAIMS_MAX];
};

/* The default quota every tenant has where no Quota object names a
 * resource (docs/workloads.md, "Quotas"): 100 instances, 50 workloads,
 * 8 networks, 64,000 millicores, 256 GiB of memory, 1 TiB of volumes. */
#define QUOTA_DEFAULT_LIMITS	{ .cpu_millis = 64000, .memory_mib = 262144, \
	.instances = 100, .workloads = 50, .networks = 8, \
	.volume_bytes = 1LL << 40 }

/* Parses SPEC, "RESOURCE=N[,RESOURCE=N...]" (N within the Quota
 * schema's range, or "none" for no limit), over *L: resources not named
 * keep their value. Returns 0 or -BW_E_INVALID with a message. */
int quota_limits_parse(const char *spec, struct quota_limits *l,
    char **ret_err);

/* Checks DOC (a validated Workload or Network about to be created or
 * replaced) against every Quota of its tenant; for a resource that no
 * Quota object of the tenant limits, DEFAULTS apply (NULL: none), so
 * instances are always counted. Usage is the committed objects, each
 * counted at the largest of its stored form and the forms claimed in QC
 * for it (a replacement in flight counts what it adds), plus objects
 * claimed but not stored; DOC itself replaces the stored object of its
 * name. On success a Workload or Network is claimed in QC and
 * *RET_CLAIM is the claim to release with quota_release() once its
 * commit has ended, either way (-1 for other kinds). Returns 0,
 * -BW_E_QUOTA with the exact message in *ret_err, -BW_E_UNAVAILABLE
 * when too many changes are in flight, or a store error. */
int quota_check(struct quota_claims *qc, struct store *st,
    const struct quota_limits *defaults, const struct res_kind *k,
    const json_t *doc, int *ret_claim, char **ret_err);

/* Releases CLAIM of QC (ignored when negative). */
void quota_release(struct quota_claims *qc, int claim);

/* Usage of TENANT as a JSON object {cpu_millis, memory_mib, instances,
 * workloads, networks, volume_bytes}; *ret is a new reference. */
int quota_usage(struct store *st, const char *tenant, json_t **ret);

#endif

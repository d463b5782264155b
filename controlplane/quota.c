#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controlplane/quota.h"
#include "lib/err.h"
#include "lib/json.h"

static const char *const quota_fields[] = {
	"cpu_millis", "memory_mib", "instances", "workloads", "networks",
	"volume_bytes",
};

/* the Quota schema's ranges (controlplane/resource.c) */
static const long long quota_max[] = {
	100000000, 1000000000, 100000, 100000, 10000, 1LL << 50,
};

/* The kinds quotas count, as quota_claim.kind. */
enum { QK_WORKLOAD, QK_NETWORK, QK_VOLUME };
static const char *const counted_kinds[] = { "Workload", "Network", "Volume" };

static int
counted_kind(const char *kind)
{
	size_t i;

	for (i = 0; i < ELEMENTSOF(counted_kinds); i++)
		if (strcmp(counted_kinds[i], kind) == 0)
			return (int)i;
	return -BW_E_NOTFOUND;
}

static long long *
usage_field(struct quota_amount *u, size_t i)
{
	long long *f[] = { &u->cpu_millis, &u->memory_mib, &u->instances,
		&u->workloads, &u->networks, &u->volume_bytes };

	return f[i];
}

static long long
amount_get(const struct quota_amount *a, size_t i)
{
	const long long f[] = { a->cpu_millis, a->memory_mib, a->instances,
		a->workloads, a->networks, a->volume_bytes };

	return f[i];
}

static long long *
limit_field(struct quota_limits *l, size_t i)
{
	long long *f[] = { &l->cpu_millis, &l->memory_mib, &l->instances,
		&l->workloads, &l->networks, &l->volume_bytes };

	return f[i];
}

int
quota_limits_parse(const char *spec, struct quota_limits *l, char **ret_err)
{
	struct quota_limits	 out = *l;
	const char		*p = spec, *eq, *end;
	char			*num_end;
	long long		 v;
	size_t			 f, klen;

	if (!spec || !*spec)
		return errf(-BW_E_INVALID, ret_err, "default quota: empty");
	while (*p) {
		end = strchr(p, ',');
		if (!end)
			end = p + strlen(p);
		eq = memchr(p, '=', (size_t)(end - p));
		if (!eq)
			return errf(-BW_E_INVALID, ret_err, "default quota: "
			    "\"%.*s\": must be RESOURCE=N", (int)(end - p), p);
		klen = (size_t)(eq - p);
		for (f = 0; f < ELEMENTSOF(quota_fields); f++)
			if (strlen(quota_fields[f]) == klen &&
			    strncmp(quota_fields[f], p, klen) == 0)
				break;
		if (f == ELEMENTSOF(quota_fields))
			return errf(-BW_E_INVALID, ret_err, "default quota: "
			    "unknown resource \"%.*s\" (cpu_millis, memory_mib, "
			    "instances, workloads, networks, volume_bytes)", (int)klen, p);
		if ((size_t)(end - eq - 1) == 4 && strncmp(eq + 1, "none", 4) == 0)
			v = -1;
		else {
			errno = 0;
			v = strtoll(eq + 1, &num_end, 10);
			if (errno || num_end != end || eq + 1 == end ||
			    eq[1] == '+' || eq[1] == '-' || eq[1] == ' ' ||
			    v < 0 || v > quota_max[f])
				return errf(-BW_E_INVALID, ret_err, "default "
				    "quota: %s: must be 0..%lld or none",
				    quota_fields[f], quota_max[f]);
		}
		*limit_field(&out, f) = v;
		p = *end ? end + 1 : end;
		if (*end && !*p)
			return errf(-BW_E_INVALID, ret_err, "default quota: "
			    "trailing ','");
	}
	*l = out;
	return 0;
}

static void
add_workload(struct quota_amount *u, const json_t *doc)
{
	const json_t	*spec = json_object_get(doc, "spec");
	long long	 n = json_int_at(spec, "replicas", NULL, 0);
	long long	 max = json_int_at(spec, "autoscale", "max", 0);

	/* An autoscaled workload may grow to its max without asking. */
	if (max > n)
		n = max;
	/* An update's surge replicas run beside the others. */
	n += json_int_at(spec, "update_strategy", "max_surge", 0);
	u->cpu_millis += n * json_int_at(spec, "resources", "cpu_millis", 0);
	u->memory_mib += n * json_int_at(spec, "resources", "memory_mib", 0);
	u->instances += n;
	u->workloads++;
}

static void
amount_of(struct quota_amount *a, int qk, const json_t *doc)
{
	*a = (struct quota_amount){ 0 };
	if (qk == QK_WORKLOAD)
		add_workload(a, doc);
	else if (qk == QK_VOLUME)
		a->volume_bytes = json_int_at(json_object_get(doc, "spec"),
		    "size_bytes", NULL, 0);
	else
		a->networks = 1;
}

static void
amount_add(struct quota_amount *to, const struct quota_amount *a)
{
	size_t f;

	for (f = 0; f < ELEMENTSOF(quota_fields); f++)
		*usage_field(to, f) += amount_get(a, f);
}

/* Each resource at the larger of the two: an object with changes in
 * flight ends up as one of its forms, whichever commits last. */
static void
amount_max(struct quota_amount *to, const struct quota_amount *a)
{
	size_t		f;
	long long	v;

	for (f = 0; f < ELEMENTSOF(quota_fields); f++) {
		v = amount_get(a, f);
		if (v > *usage_field(to, f))
			*usage_field(to, f) = v;
	}
}

static int
claim_is(const struct quota_claim *c, const char *tenant, int qk)
{
	return c->used && c->kind == qk &&
	    strcmp(c->tenant, tenant) == 0;
}

/* Sums the tenant's objects of KIND except the one named SKIP, each at
 * the largest of its stored form and its claims in QC (may be NULL),
 * and the objects only claimed. */
static int
sum_kind(struct store *st, const struct quota_claims *qc, const char *kind,
    const char *tenant, const char *skip, struct quota_amount *u)
{
	const struct res_kind	*k = res_kind_by_name(kind);
	struct store_kv		**kvs = NULL;
	struct quota_amount	 a, m;
	char			 prefix[RES_KEY_MAX];
	size_t			 n = 0, i, j, l, nc = 0;
	size_t			 idx[QUOTA_CLAIMS_MAX];
	unsigned char		 seen[QUOTA_CLAIMS_MAX] = { 0 };
	uint64_t		 rev;
	int			 r, qk = counted_kind(kind);

	for (i = 0; qc && i < QUOTA_CLAIMS_MAX; i++)
		if (claim_is(&qc->claims[i], tenant, qk) &&
		    (!skip || strcmp(qc->claims[i].name, skip) != 0))
			idx[nc++] = i;
	if ((r = res_prefix(k, tenant, prefix, sizeof(prefix))) < 0 ||
	    (r = store_list(st, prefix, &kvs, &n, &rev)) < 0)
		return r;
	for (i = 0; i < n; i++) {
		_cleanup_json_ json_t *doc = json_loadb(kvs[i]->value,
		    kvs[i]->value_len, 0, NULL);
		const char *name = res_name(doc);

		if (!doc || (skip && name && strcmp(name, skip) == 0))
			continue;
		amount_of(&a, qk, doc);
		for (j = 0; name && j < nc; j++)
			if (strcmp(qc->claims[idx[j]].name, name) == 0) {
				amount_max(&a, &qc->claims[idx[j]].amount);
				seen[j] = 1;
			}
		amount_add(u, &a);
	}
	store_kv_array_free(kvs, n);
	/* being created: once for each name, at its largest claim */
	for (j = 0; j < nc; j++) {
		if (seen[j])
			continue;
		m = qc->claims[idx[j]].amount;
		for (l = j + 1; l < nc; l++)
			if (!seen[l] && strcmp(qc->claims[idx[l]].name,
			    qc->claims[idx[j]].name) == 0) {
				amount_max(&m, &qc->claims[idx[l]].amount);
				seen[l] = 1;
			}
		amount_add(u, &m);
	}
	return 0;
}

int
quota_usage(struct store *st, const char *tenant, json_t **ret)
{
	struct quota_amount	u = { 0 };
	int			r;

	size_t			i;

	for (i = 0; i < ELEMENTSOF(counted_kinds); i++)
		if ((r = sum_kind(st, NULL, counted_kinds[i], tenant, NULL,
		    &u)) < 0)
			return r;
	*ret = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "cpu_millis",
	    (json_int_t)u.cpu_millis, "memory_mib", (json_int_t)u.memory_mib,
	    "instances", (json_int_t)u.instances, "workloads",
	    (json_int_t)u.workloads, "networks", (json_int_t)u.networks,
	    "volume_bytes", (json_int_t)u.volume_bytes);
	return *ret ? 0 : -ENOMEM;
}

/* A free slot of QC for TENANT, or -BW_E_UNAVAILABLE past the caps. */
static int
claim_slot(const struct quota_claims *qc, const char *tenant, char **ret_err)
{
	int	slot = -1, n = 0;
	size_t	i;

	for (i = 0; i < QUOTA_CLAIMS_MAX; i++) {
		if (!qc->claims[i].used) {
			if (slot < 0)
				slot = (int)i;
		} else if (strcmp(qc->claims[i].tenant, tenant) == 0)
			n++;
	}
	if (n >= QUOTA_CLAIMS_TENANT_MAX)
		return errf(-BW_E_UNAVAILABLE, ret_err, "too many workload, "
		    "network and volume changes of tenant %s in flight (%d); retry",
		    tenant, QUOTA_CLAIMS_TENANT_MAX);
	if (slot < 0)
		return errf(-BW_E_UNAVAILABLE, ret_err, "too many workload, "
		    "network and volume changes in flight (%d); retry", QUOTA_CLAIMS_MAX);
	return slot;
}

int
quota_check(struct quota_claims *qc, struct store *st,
    const struct quota_limits *defaults, const struct res_kind *k,
    const json_t *doc, int *ret_claim, char **ret_err)
{
	struct quota_limits	 dflt = defaults ? *defaults :
	    (struct quota_limits){ -1, -1, -1, -1, -1, -1 };
	const struct res_kind	*quota_kind = res_kind_by_name("Quota");
	const char		*tenant = res_tenant(doc), *name = res_name(doc);
	struct store_kv		**kvs = NULL;
	struct quota_amount	 used = { 0 }, req, own;
	char			 prefix[RES_KEY_MAX];
	size_t			 n = 0, i, f;
	uint64_t		 rev;
	int			 r, qk = counted_kind(k->kind);
	int			 slot;

	if (qk < 0)
		return 0;
	if (!tenant || !name)
		return errf(-BW_E_INVALID, ret_err, "metadata: tenant and name "
		    "are required");
	if ((slot = claim_slot(qc, tenant, ret_err)) < 0)
		return slot;
	if ((r = res_prefix(quota_kind, tenant, prefix, sizeof(prefix))) < 0 ||
	    (r = store_list(st, prefix, &kvs, &n, &rev)) < 0)
		return r;
	/* usage without the object being replaced, plus what it asks */
	for (i = 0; i < ELEMENTSOF(counted_kinds); i++)
		if ((r = sum_kind(st, qc, counted_kinds[i], tenant,
		    (int)i == qk ? name : NULL, &used)) < 0)
			goto out;
	amount_of(&req, qk, doc);
	/* Other changes of this very object in flight may commit after it:
	 * what they ask beyond it is in use too. */
	own = req;
	for (i = 0; i < QUOTA_CLAIMS_MAX; i++)
		if (claim_is(&qc->claims[i], tenant, qk) &&
		    strcmp(qc->claims[i].name, name) == 0)
			amount_max(&own, &qc->claims[i].amount);
	for (f = 0; f < ELEMENTSOF(quota_fields); f++)
		*usage_field(&used, f) += amount_get(&own, f) -
		    amount_get(&req, f);
	for (i = 0; i < n; i++) {
		_cleanup_json_ json_t *q = json_loadb(kvs[i]->value,
		    kvs[i]->value_len, 0, NULL);
		json_t *spec = json_object_get(q, "spec");

		for (f = 0; f < ELEMENTSOF(quota_fields); f++) {
			json_t		*lim = json_object_get(spec, quota_fields[f]);
			long long	 u = *usage_field(&used, f);
			long long	 want = *usage_field(&req, f);

			if (!json_is_integer(lim))
				continue;
			/* a Quota object names it: no default for it */
			*limit_field(&dflt, f) = -1;
			if (want == 0)
				continue;
			if (u + want > json_integer_value(lim)) {
				r = errf(-BW_E_QUOTA, ret_err,
				    "quota %s/%s: %s: used %lld, requested %lld, "
				    "limit %lld", tenant, res_name(q) ?: "?",
				    quota_fields[f], u, want,
				    (long long)json_integer_value(lim));
				goto out;
			}
		}
	}
	/* Without a Quota object naming a resource the default holds:
	 * no tenant is unlimited (SC-6). */
	for (f = 0; f < ELEMENTSOF(quota_fields); f++) {
		long long lim = *limit_field(&dflt, f);
		long long u = *usage_field(&used, f), want = *usage_field(&req, f);

		if (lim < 0 || want == 0 || u + want <= lim)
			continue;
		r = errf(-BW_E_QUOTA, ret_err, "default quota of %s (no Quota "
		    "object limits it): %s: used %lld, requested %lld, limit %lld",
		    tenant, quota_fields[f], u, want, lim);
		goto out;
	}
	qc->claims[slot] = (struct quota_claim){ .used = 1,
	    .kind = qk, .amount = req };
	snprintf(qc->claims[slot].tenant, sizeof(qc->claims[0].tenant), "%s",
	    tenant);
	snprintf(qc->claims[slot].name, sizeof(qc->claims[0].name), "%s", name);
	*ret_claim = slot;
	r = 0;
out:
	store_kv_array_free(kvs, n);
	return r;
}

void
quota_release(struct quota_claims *qc, int claim)
{
	if (claim < 0 || claim >= QUOTA_CLAIMS_MAX)
		return;
	qc->claims[claim].used = 0;
}

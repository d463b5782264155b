/* The scheduler's cluster model: nodes, fault domains, bound instances
 * and the selector counters that make spread and anti-affinity O(1) per
 * node. Everything derived is updated incrementally on upsert, bind and
 * unbind; nothing here rescans the cluster per placement. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controlplane/sched-internal.h"
#include "lib/buf.h"
#include "lib/err.h"
#include "lib/json.h"

#define SCHED_TOPO_CHARS "nrz"

int
sched_check_name(const char *what, const char *s, char **ret_err)
{
	if (!s || !*s)
		return errf(-BW_E_INVALID, ret_err, "%s: must not be empty", what);
	return sched_check_value(what, s, ret_err);
}

int
sched_check_value(const char *what, const char *s, char **ret_err)
{
	size_t n;

	if (!s)
		return errf(-BW_E_INVALID, ret_err, "%s: missing", what);
	n = strnlen(s, SCHED_NAME_MAX + 1);
	if (n > SCHED_NAME_MAX)
		return errf(-BW_E_INVALID, ret_err, "%s: longer than %d bytes", what,
		    SCHED_NAME_MAX);
	/* Control bytes are refused so they can separate parts of keys. */
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return errf(-BW_E_INVALID, ret_err, "%s: control character at byte %zu",
			    what, i);
	return 0;
}

/* ---- growth ---- */

static int
grow_array(void **p, size_t elem, uint32_t old, uint32_t cap, bool zero)
{
	void *np = realloc(*p, (size_t)cap * elem);

	if (!np)
		return -ENOMEM;
	if (zero)
		memset((char *)np + (size_t)old * elem, 0, (size_t)(cap - old) * elem);
	*p = np;
	return 0;
}

static int
ensure_nodes(struct sched_cluster *c, uint32_t need)
{
	uint32_t cap, old = c->cap_nodes;
	int r;

	if (need <= old)
		return 0;
	cap = old ? old : 64;
	while (cap < need)
		cap *= 2;
	if ((r = grow_array((void **)&c->hot, sizeof(*c->hot), old, cap, true)) < 0 ||
	    (r = grow_array((void **)&c->cold, sizeof(*c->cold), old, cap, true)) < 0 ||
	    (r = grow_array((void **)&c->free_nodes, sizeof(uint32_t), old, cap, false)) < 0 ||
	    (r = grow_array((void **)&c->order, sizeof(uint32_t), old, cap, false)) < 0 ||
	    (r = grow_array((void **)&c->cand, sizeof(uint32_t), old, cap, false)) < 0 ||
	    (r = grow_array((void **)&c->total, sizeof(int64_t), old, cap, false)) < 0 ||
	    (r = grow_array((void **)&c->rank, sizeof(uint32_t), old, cap, true)) < 0 ||
	    (r = grow_array((void **)&c->fcpu, sizeof(int32_t), old, cap, false)) < 0 ||
	    (r = grow_array((void **)&c->fmem, sizeof(int32_t), old, cap, false)) < 0)
		return r;
	for (size_t k = 0; k < ELEMENTSOF(c->cache); k++)
		if ((r = grow_array((void **)&c->cache[k].nodes, sizeof(uint32_t), old, cap,
		    false)) < 0)
			return r;
	for (uint32_t k = 0; k < c->n_imgs; k++)
		if (c->imgs[k].id && (r = grow_array((void **)&c->imgs[k].bits, sizeof(uint64_t),
		    old / 64 + 1, cap / 64 + 1, true)) < 0)
			return r;
	for (int s = 0; s < SCHED_S__MAX; s++)
		if ((r = grow_array((void **)&c->cols[s], sizeof(int64_t), old, cap, false)) < 0)
			return r;
	for (uint32_t k = 0; k < c->n_counters; k++) {
		if (!c->counters[k].live)
			continue;
		if ((r = grow_array((void **)&c->counters[k].per_node, sizeof(int32_t), old,
		    cap, true)) < 0)
			return r;
	}
	c->cap_nodes = cap;
	return 0;
}

static int
ensure_domains(struct sched_cluster *c, bool rack, uint32_t need)
{
	uint32_t *capp = rack ? &c->cap_racks : &c->cap_zones;
	struct sched_domain **arr = rack ? &c->racks : &c->zones;
	uint32_t **stamp = rack ? &c->rack_stamp : &c->zone_stamp;
	uint32_t old = *capp, cap;
	int r;

	if (need <= old)
		return 0;
	cap = old ? old * 2 : 16;
	while (cap < need)
		cap *= 2;
	if ((r = grow_array((void **)arr, sizeof(**arr), old, cap, true)) < 0 ||
	    (r = grow_array((void **)stamp, sizeof(uint32_t), old, cap, true)) < 0)
		return r;
	for (uint32_t k = 0; k < c->n_counters; k++) {
		struct sched_counter *kc = &c->counters[k];

		if (!kc->live)
			continue;
		if ((r = grow_array((void **)(rack ? &kc->per_rack : &kc->per_zone),
		    sizeof(int32_t), old, cap, true)) < 0)
			return r;
	}
	*capp = cap;
	return 0;
}

static int
ensure_counters(struct sched_cluster *c, uint32_t need)
{
	uint32_t old = c->cap_counters, cap;
	int r;

	if (need <= old)
		return 0;
	cap = old ? old * 2 : 64;
	while (cap < need)
		cap *= 2;
	if ((r = grow_array((void **)&c->counters, sizeof(*c->counters), old, cap, true)) < 0 ||
	    (r = grow_array((void **)&c->free_counters, sizeof(uint32_t), old, cap, false)) < 0 ||
	    (r = grow_array((void **)&c->holder_scratch, sizeof(uint32_t), old, cap, false)) < 0)
		return r;
	c->cap_counters = cap;
	return 0;
}

/* ---- cluster ---- */

int
sched_cluster_new(struct sched_cluster **ret)
{
	struct sched_cluster *c = calloc(1, sizeof(*c));
	int r;

	if (!c)
		return -ENOMEM;
	if ((r = sched_intern_init(&c->in)) < 0 || (r = ensure_nodes(c, 64)) < 0 ||
	    (r = ensure_domains(c, false, 16)) < 0 || (r = ensure_domains(c, true, 16)) < 0 ||
	    (r = ensure_counters(c, 64)) < 0) {
		sched_cluster_free(c);
		return r;
	}
	*ret = c;
	return 0;
}

void
sched_cexprs_free(struct sched_intern *in, struct sched_cexpr *e, uint32_t n, bool refs)
{
	if (!e)
		return;
	for (uint32_t i = 0; i < n; i++) {
		if (refs) {
			sched_intern_put(in, e[i].key);
			for (uint32_t v = 0; v < e[i].n_values; v++)
				sched_intern_put(in, e[i].values[v]);
		}
		free(e[i].values);
	}
	free(e);
}

void
sched_cluster_free(struct sched_cluster *c)
{
	if (!c)
		return;
	for (uint32_t i = 0; i < c->n_nodes; i++) {
		free(c->cold[i].labels);
		free(c->cold[i].taints);
		free(c->cold[i].images);
	}
	for (uint32_t i = 0; i < c->n_insts; i++)
		free(c->insts[i].labels);
	for (uint32_t k = 0; k < c->n_counters; k++) {
		struct sched_counter *kc = &c->counters[k];

		sched_cexprs_free(&c->in, kc->exprs, kc->n_exprs, false);
		free(kc->per_node);
		free(kc->per_rack);
		free(kc->per_zone);
	}
	free(c->hot);
	free(c->cold);
	free(c->free_nodes);
	free(c->order);
	free(c->zones);
	free(c->racks);
	free(c->insts);
	free(c->free_insts);
	free(c->counters);
	free(c->free_counters);
	free(c->cand);
	free(c->total);
	free(c->rank);
	for (uint32_t k = 0; k < c->n_imgs; k++)
		free(c->imgs[k].bits);
	free(c->imgs);
	free(c->fcpu);
	free(c->fmem);
	for (size_t k = 0; k < ELEMENTSOF(c->cache); k++) {
		free(c->cache[k].nodes);
		free(c->cache[k].sig);
	}
	for (int s = 0; s < SCHED_S__MAX; s++)
		free(c->cols[s]);
	free(c->zone_stamp);
	free(c->rack_stamp);
	free(c->holder_scratch);
	sched_intern_done(&c->in);
	free(c);
}

uint32_t
sched_cluster_nodes(const struct sched_cluster *c)
{
	return c->live_nodes;
}

uint32_t
sched_cluster_instances(const struct sched_cluster *c)
{
	return c->live_insts;
}

static int
node_slot(const struct sched_cluster *c, const char *name)
{
	uint32_t id;

	if (!name)
		return -ENOENT;
	id = sched_intern_find(&c->in, name, strlen(name));
	return sched_aux_get(&c->in, id, SCHED_AUX_NODE);
}

const char *
sched_instance_node(const struct sched_cluster *c, const char *instance)
{
	uint32_t id = instance ? sched_intern_find(&c->in, instance, strlen(instance)) : 0;
	int32_t i = sched_aux_get(&c->in, id, SCHED_AUX_INST);

	if (i < 0)
		return NULL;
	return sched_intern_str(&c->in, c->cold[c->insts[i].node].name);
}

int
sched_node_usage(const struct sched_cluster *c, const char *name, int64_t *ret_cpu,
    int64_t *ret_mem, uint32_t *ret_instances)
{
	int slot = node_slot(c, name);

	if (slot < 0)
		return -BW_E_NOTFOUND;
	*ret_cpu = c->hot[slot].used_cpu;
	*ret_mem = c->hot[slot].used_mem;
	*ret_instances = c->hot[slot].used_slots;
	return 0;
}

static int
order_cmp(const void *a, const void *b, void *arg)
{
	const struct sched_cluster *c = arg;
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return strcmp(sched_intern_str(&c->in, c->cold[x].name),
	    sched_intern_str(&c->in, c->cold[y].name));
}

/* Node name order is the tie-break, so it must not depend on the order
 * nodes were added in. Re-sorted lazily after adds and removes. */
void
sched_order_refresh(struct sched_cluster *c)
{
	uint32_t n = 0;

	if (!c->order_dirty)
		return;
	for (uint32_t i = 0; i < c->n_nodes; i++)
		if (c->hot[i].flags & SCHED_NF_LIVE)
			c->order[n++] = i;
	qsort_r(c->order, n, sizeof(uint32_t), order_cmp, c);
	for (uint32_t i = 0; i < n; i++)
		c->rank[c->order[i]] = i;
	c->order_dirty = false;
}

/* ---- domains ---- */

static int
domain_get(struct sched_cluster *c, bool rack, const char *name, size_t len,
    uint32_t *ret_idx, uint32_t *ret_id)
{
	enum sched_aux aux = rack ? SCHED_AUX_RACK : SCHED_AUX_ZONE;
	struct sched_domain *d;
	uint32_t id, idx, *n;
	int32_t cur;
	int r;

	if ((r = sched_intern_get(&c->in, name, len, &id)) < 0)
		return r;
	cur = sched_aux_get(&c->in, id, aux);
	if (cur >= 0) {
		d = rack ? &c->racks[cur] : &c->zones[cur];
		d->nodes++;
		sched_intern_put(&c->in, id);	/* the domain holds one ref */
		*ret_idx = (uint32_t)cur;
		*ret_id = id;
		return 0;
	}
	n = rack ? &c->n_racks : &c->n_zones;
	d = rack ? c->racks : c->zones;
	for (idx = 0; idx < *n; idx++)
		if (!d[idx].nodes)
			break;
	if (idx == *n) {
		if ((r = ensure_domains(c, rack, *n + 1)) < 0) {
			sched_intern_put(&c->in, id);
			return r;
		}
		(*n)++;
	}
	d = rack ? &c->racks[idx] : &c->zones[idx];
	d->id = id;
	d->nodes = 1;
	sched_aux_set(&c->in, id, aux, (int32_t)idx);
	*ret_idx = idx;
	*ret_id = id;
	return 0;
}

static void
domain_put(struct sched_cluster *c, bool rack, uint32_t idx)
{
	struct sched_domain *d = rack ? &c->racks[idx] : &c->zones[idx];

	if (--d->nodes > 0)
		return;
	sched_aux_set(&c->in, d->id, rack ? SCHED_AUX_RACK : SCHED_AUX_ZONE, -1);
	sched_intern_put(&c->in, d->id);
	d->id = 0;
}

/* ---- labels and expressions ---- */

static int
lbl_cmp(const void *a, const void *b)
{
	const struct sched_lbl *x = a, *y = b;

	return x->key < y->key ? -1 : x->key > y->key;	/* ordering */
}

static int
u32_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;	/* ordering */
}

static void
labels_put(struct sched_intern *in, struct sched_lbl *l, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		sched_intern_put(in, l[i].key);
		sched_intern_put(in, l[i].value);
	}
}

/* Interns LABELS (with references) into a new array sorted by key id. */
static int
labels_intern(struct sched_intern *in, const struct sched_label *src, size_t n,
    struct sched_lbl **ret, char **ret_err, const char *what)
{
	_cleanup_free_ struct sched_lbl *l = NULL;
	uint32_t done = 0;
	char buf[64];
	int r;

	if (n > SCHED_MAX_LABELS)
		return errf(-BW_E_TOOLARGE, ret_err, "%s.labels: more than %d", what,
		    SCHED_MAX_LABELS);
	if (n && !src)
		return errf(-BW_E_INVALID, ret_err, "%s.labels: missing", what);
	for (size_t i = 0; i < n; i++) {
		snprintf(buf, sizeof(buf), "%s.labels[%zu].key", what, i);
		if ((r = sched_check_name(buf, src[i].key, ret_err)) < 0)
			return r;
		snprintf(buf, sizeof(buf), "%s.labels[%zu].value", what, i);
		if ((r = sched_check_value(buf, src[i].value, ret_err)) < 0)
			return r;
	}
	l = calloc(n ? n : 1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	for (; done < n; done++) {
		if ((r = sched_intern_get(in, src[done].key, strlen(src[done].key),
		    &l[done].key)) < 0)
			goto fail;
		if ((r = sched_intern_get(in, src[done].value, strlen(src[done].value),
		    &l[done].value)) < 0) {
			sched_intern_put(in, l[done].key);
			goto fail;
		}
	}
	qsort(l, n, sizeof(*l), lbl_cmp);
	for (size_t i = 1; i < n; i++)
		if (l[i].key == l[i - 1].key) {
			r = errf(-BW_E_INVALID, ret_err, "%s.labels: duplicate key \"%s\"", what,
			    sched_intern_str(in, l[i].key));
			goto fail;
		}
	*ret = TAKE_PTR(l);
	return 0;
fail:
	labels_put(in, l, done);
	return r;
}

static const struct sched_lbl *
label_find(const struct sched_lbl *l, uint32_t n, uint32_t key)
{
	/* Short sorted arrays: a linear scan beats bisection. */
	for (uint32_t i = 0; i < n && l[i].key <= key; i++)
		if (l[i].key == key)
			return &l[i];
	return NULL;
}

static bool
value_in(const struct sched_cexpr *e, uint32_t v)
{
	for (uint32_t i = 0; i < e->n_values; i++)
		if (e->values[i] == v)
			return true;
	return false;
}

static bool
parse_i64(const char *s, int64_t *ret)
{
	char *end;
	long long v;

	if (!*s)
		return false;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end)
		return false;
	*ret = v;
	return true;
}

bool
sched_labels_match(const struct sched_intern *in, const struct sched_lbl *labels,
    uint32_t n_labels, const struct sched_cexpr *exprs, uint32_t n_exprs)
{
	for (uint32_t i = 0; i < n_exprs; i++) {
		const struct sched_cexpr *e = &exprs[i];
		const struct sched_lbl *l = e->key ? label_find(labels, n_labels, e->key) : NULL;
		int64_t v;
		bool ok;

		switch (e->op) {
		case SCHED_OP_IN:
			ok = l && value_in(e, l->value);
			break;
		case SCHED_OP_NOT_IN:
			ok = !l || !value_in(e, l->value);
			break;
		case SCHED_OP_EXISTS:
			ok = l != NULL;
			break;
		case SCHED_OP_DOES_NOT_EXIST:
			ok = l == NULL;
			break;
		case SCHED_OP_GT:
		case SCHED_OP_LT:
			ok = l && parse_i64(sched_intern_str(in, l->value), &v) &&
			    (e->op == SCHED_OP_GT ? v > e->num : v < e->num);
			break;
		default:
			ok = false;
		}
		if (!ok)
			return false;
	}
	return true;
}

int
sched_check_exprs(const struct sched_expr *src, size_t n, char **ret_err, const char *what)
{
	char buf[96];
	int r;

	if (n > SCHED_MAX_EXPRS)
		return errf(-BW_E_TOOLARGE, ret_err, "%s: more than %d expressions", what,
		    SCHED_MAX_EXPRS);
	if (n && !src)
		return errf(-BW_E_INVALID, ret_err, "%s: expressions missing", what);
	for (size_t i = 0; i < n; i++) {
		const struct sched_expr *s = &src[i];
		bool want_values = s->op == SCHED_OP_IN || s->op == SCHED_OP_NOT_IN;
		bool want_num = s->op == SCHED_OP_GT || s->op == SCHED_OP_LT;
		int64_t num;

		snprintf(buf, sizeof(buf), "%s[%zu].key", what, i);
		if ((r = sched_check_name(buf, s->key, ret_err)) < 0)
			return r;
		if ((unsigned)s->op > SCHED_OP_LT)
			return errf(-BW_E_INVALID, ret_err, "%s[%zu].op: unknown", what, i);
		if (s->n_values > SCHED_MAX_VALUES || (s->n_values && !s->values))
			return errf(-BW_E_INVALID, ret_err, "%s[%zu].values: 0..%d required",
			    what, i, SCHED_MAX_VALUES);
		if (want_values && !s->n_values)
			return errf(-BW_E_INVALID, ret_err, "%s[%zu].values: In/NotIn need values",
			    what, i);
		if (!want_values && !want_num && s->n_values)
			return errf(-BW_E_INVALID, ret_err,
			    "%s[%zu].values: Exists/DoesNotExist take no values", what, i);
		if (want_num && (s->n_values != 1 || !s->values[0] || !parse_i64(s->values[0], &num)))
			return errf(-BW_E_INVALID, ret_err, "%s[%zu].values: Gt/Lt need one integer",
			    what, i);
		for (size_t v = 0; v < s->n_values; v++) {
			snprintf(buf, sizeof(buf), "%s[%zu].values[%zu]", what, i, v);
			if ((r = sched_check_value(buf, s->values[v], ret_err)) < 0)
				return r;
		}
	}
	return 0;
}

int
sched_compile_exprs(struct sched_intern *in, const struct sched_expr *src, size_t n,
    bool take_refs, struct sched_cexpr **ret, char **ret_err, const char *what)
{
	struct sched_cexpr *e;
	int r;

	if ((r = sched_check_exprs(src, n, ret_err, what)) < 0)
		return r;
	e = calloc(n ? n : 1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const struct sched_expr *s = &src[i];
		bool want_num = s->op == SCHED_OP_GT || s->op == SCHED_OP_LT;

		e[i].op = s->op;
		if (want_num)
			(void)parse_i64(s->values[0], &e[i].num);
		else if (s->n_values) {
			e[i].values = calloc(s->n_values, sizeof(uint32_t));
			if (!e[i].values) {
				sched_cexprs_free(in, e, (uint32_t)i, take_refs);
				return -ENOMEM;
			}
		}
		if (take_refs) {
			if ((r = sched_intern_get(in, s->key, strlen(s->key), &e[i].key)) < 0) {
				free(e[i].values);
				sched_cexprs_free(in, e, (uint32_t)i, true);
				return r;
			}
		} else
			e[i].key = sched_intern_find(in, s->key, strlen(s->key));
		if (want_num)
			continue;
		for (size_t v = 0; v < s->n_values; v++) {
			if (take_refs) {
				if ((r = sched_intern_get(in, s->values[v], strlen(s->values[v]),
				    &e[i].values[v])) < 0) {
					e[i].n_values = (uint32_t)v;
					sched_cexprs_free(in, e, (uint32_t)i + 1, true);
					return r;
				}
			} else
				e[i].values[v] = sched_intern_find(in, s->values[v],
				    strlen(s->values[v]));
			e[i].n_values = (uint32_t)v + 1;
		}
		if (e[i].n_values > 1)
			qsort(e[i].values, e[i].n_values, sizeof(uint32_t), u32_cmp);
	}
	*ret = e;
	return 0;
}

/* ---- canonical keys ---- */

static int
str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Renders one expression with its values sorted, so equal selectors
 * written in different orders share one counter. */
static int
expr_canon(const struct sched_expr *e, char **ret)
{
	const char *vals[SCHED_MAX_VALUES];
	struct bw_buf b = { 0 };
	char op = (char)('0' + e->op);
	size_t n = e->n_values;
	int r;

	if (n) {
		memcpy(vals, e->values, n * sizeof(*vals));
		qsort(vals, n, sizeof(*vals), str_cmp);
	}
	if ((r = bw_buf_append(&b, e->key, strlen(e->key))) < 0 ||
	    (r = bw_buf_append(&b, "\x1e", 1)) < 0 ||
	    (r = bw_buf_append(&b, &op, 1)) < 0)
		goto fail;
	for (size_t i = 0; i < n; i++)
		if ((r = bw_buf_append(&b, "\x1d", 1)) < 0 ||
		    (r = bw_buf_append(&b, vals[i], strlen(vals[i]))) < 0)
			goto fail;
	*ret = bw_buf_take(&b, NULL);
	return 0;
fail:
	bw_buf_done(&b);
	return r;
}

size_t
sched_workload_key(char buf[SCHED_WKEY_MAX], const char *prefix, const char *tenant,
    const char *workload)
{
	int n = snprintf(buf, SCHED_WKEY_MAX, "%sW\x1f%s\x1f%s", prefix, tenant, workload);

	/* Names are checked to SCHED_NAME_MAX, so the key always fits. */
	return n < 0 ? 0 : (size_t)n < SCHED_WKEY_MAX ? (size_t)n : SCHED_WKEY_MAX - 1;
}

int
sched_selector_key(const char *prefix, const char *tenant, const char *workload,
    const struct sched_selector *sel, char **ret, size_t *ret_len)
{
	char *parts[SCHED_MAX_EXPRS] = { 0 };
	struct bw_buf b = { 0 };
	size_t n = sel->same_workload ? 0 : sel->n_exprs;
	int r = 0;

	if (sel->same_workload) {
		char wkey[SCHED_WKEY_MAX];
		size_t wlen = sched_workload_key(wkey, prefix, tenant, workload);

		if ((r = bw_buf_append(&b, wkey, wlen)) < 0)
			goto out;
	} else {
		if ((r = bw_buf_append(&b, prefix, strlen(prefix))) < 0 ||
		    (r = bw_buf_append(&b, "L\x1f", 2)) < 0 ||
		    (r = bw_buf_append(&b, tenant, strlen(tenant))) < 0)
			goto out;
		for (size_t i = 0; i < n; i++)
			if ((r = expr_canon(&sel->exprs[i], &parts[i])) < 0)
				goto out;
		qsort(parts, n, sizeof(*parts), str_cmp);
		for (size_t i = 0; i < n; i++)
			if ((r = bw_buf_append(&b, "\x1f", 1)) < 0 ||
			    (r = bw_buf_append(&b, parts[i], strlen(parts[i]))) < 0)
				goto out;
	}
	*ret = bw_buf_take(&b, ret_len);
out:
	for (size_t i = 0; i < n; i++)
		free(parts[i]);
	bw_buf_done(&b);
	return r;
}

int
sched_holder_key(enum sched_topology t, const char *tenant, const char *workload,
    const struct sched_selector *sel, char **ret, size_t *ret_len)
{
	char prefix[3] = { 'H', SCHED_TOPO_CHARS[t], 0 };

	return sched_selector_key(prefix, tenant, workload, sel, ret, ret_len);
}

/* ---- counters ---- */

static void
counter_add(struct sched_cluster *c, struct sched_counter *k, uint32_t slot, int32_t d)
{
	k->per_node[slot] += d;
	k->per_rack[c->hot[slot].rack] += d;
	k->per_zone[c->hot[slot].zone] += d;
	k->total += (uint64_t)(int64_t)d;
}

static bool
counter_matches(const struct sched_cluster *c, const struct sched_counter *k,
    const struct sched_inst *i)
{
	if (i->tenant != k->tenant)
		return false;
	if (k->kind == SCHED_CK_WORKLOAD)
		return i->workload == k->workload;
	return sched_labels_match(&c->in, i->labels, i->n_labels, k->exprs, k->n_exprs);
}

static void
counter_free(struct sched_cluster *c, uint32_t idx)
{
	struct sched_counter *k = &c->counters[idx];

	if (k->key)
		sched_aux_set(&c->in, k->key, SCHED_AUX_COUNTER, -1);
	sched_intern_put(&c->in, k->key);
	sched_intern_put(&c->in, k->tenant);
	sched_intern_put(&c->in, k->workload);
	sched_cexprs_free(&c->in, k->exprs, k->n_exprs, true);
	free(k->per_node);
	free(k->per_rack);
	free(k->per_zone);
	memset(k, 0, sizeof(*k));
	c->free_counters[c->n_free_counters++] = idx;
	c->live_counters--;
}

void
sched_counters_gc(struct sched_cluster *c)
{
	for (uint32_t k = 0; k < c->n_counters; k++)
		if (c->counters[k].live && c->counters[k].total == 0)
			counter_free(c, k);
}

int
sched_counter_find(const struct sched_cluster *c, const char *key, size_t len)
{
	uint32_t id = sched_intern_find(&c->in, key, len);

	return sched_aux_get(&c->in, id, SCHED_AUX_COUNTER);
}

int
sched_counter_get(struct sched_cluster *c, const char *key, size_t len,
    enum sched_counter_kind kind, const char *tenant, const char *workload,
    enum sched_topology topo, const struct sched_selector *sel, uint32_t *ret_idx)
{
	struct sched_counter *k;
	uint32_t idx;
	int32_t cur = sched_counter_find(c, key, len);
	int r;

	if (cur >= 0) {
		*ret_idx = (uint32_t)cur;
		return 0;
	}
	if (!c->n_free_counters && (r = ensure_counters(c, c->n_counters + 1)) < 0)
		return r;
	idx = c->n_free_counters ? c->free_counters[--c->n_free_counters] : c->n_counters++;
	k = &c->counters[idx];
	memset(k, 0, sizeof(*k));
	k->kind = kind;
	k->topology = topo;
	k->sel_workload = sel->same_workload;
	k->live = true;
	c->live_counters++;
	k->per_node = calloc(c->cap_nodes, sizeof(int32_t));
	k->per_rack = calloc(c->cap_racks, sizeof(int32_t));
	k->per_zone = calloc(c->cap_zones, sizeof(int32_t));
	if (!k->per_node || !k->per_rack || !k->per_zone) {
		r = -ENOMEM;
		goto fail;
	}
	if ((r = sched_intern_get(&c->in, key, len, &k->key)) < 0 ||
	    (r = sched_intern_get(&c->in, tenant, strlen(tenant), &k->tenant)) < 0)
		goto fail;
	if (sel->same_workload) {
		if ((r = sched_intern_get(&c->in, workload, strlen(workload), &k->workload)) < 0)
			goto fail;
	} else {
		if ((r = sched_compile_exprs(&c->in, sel->exprs, sel->n_exprs, true, &k->exprs, NULL,
		    "selector")) < 0)
			goto fail;
		k->n_exprs = (uint32_t)sel->n_exprs;
	}
	sched_aux_set(&c->in, k->key, SCHED_AUX_COUNTER, (int32_t)idx);
	/* A new selector starts from the instances already bound: one scan
	 * per selector, after which bind and unbind keep it current. */
	if (kind != SCHED_CK_HOLDER)
		for (uint32_t i = 0; i < c->n_insts; i++)
			if (c->insts[i].live && counter_matches(c, k, &c->insts[i]))
				counter_add(c, k, c->insts[i].node, 1);
	*ret_idx = idx;
	return 0;
fail:
	if (k->key)
		sched_aux_set(&c->in, k->key, SCHED_AUX_COUNTER, -1);
	counter_free(c, idx);
	return r;
}

/* ---- image sets ---- */

/* Makes sure every image of COLD has a node set, so that setting the
 * bits later cannot fail. */
static int
imgsets_reserve(struct sched_cluster *c, const struct sched_ncold *cold)
{
	for (uint32_t m = 0; m < cold->n_images; m++) {
		uint32_t id = cold->images[m], k;
		int r;

		if (sched_aux_get(&c->in, id, SCHED_AUX_IMAGE) >= 0)
			continue;
		for (k = 0; k < c->n_imgs && c->imgs[k].id; k++)
			;
		if (k == c->n_imgs) {
			if (k == c->cap_imgs) {
				uint32_t cap = c->cap_imgs ? c->cap_imgs * 2 : 64;

				if ((r = grow_array((void **)&c->imgs, sizeof(*c->imgs), c->cap_imgs,
				    cap, true)) < 0)
					return r;
				c->cap_imgs = cap;
			}
			c->n_imgs++;
		}
		c->imgs[k].bits = calloc(c->cap_nodes / 64 + 1, sizeof(uint64_t));
		if (!c->imgs[k].bits)
			return -ENOMEM;
		c->imgs[k].id = id;
		c->imgs[k].nodes = 0;
		sched_intern_ref(&c->in, id);
		sched_aux_set(&c->in, id, SCHED_AUX_IMAGE, (int32_t)k);
	}
	return 0;
}

/* Adds (ON) or removes node SLOT in the sets of COLD's images; a set
 * left empty is freed. */
static void
imgsets_update(struct sched_cluster *c, uint32_t slot, const struct sched_ncold *cold, bool on)
{
	for (uint32_t m = 0; m < cold->n_images; m++) {
		int32_t k = sched_aux_get(&c->in, cold->images[m], SCHED_AUX_IMAGE);
		struct sched_imgset *set;

		if (k < 0)
			continue;
		set = &c->imgs[k];
		if (on) {
			set->bits[slot / 64] |= 1ULL << (slot % 64);
			set->nodes++;
			continue;
		}
		set->bits[slot / 64] &= ~(1ULL << (slot % 64));
		if (--set->nodes == 0) {
			sched_aux_set(&c->in, set->id, SCHED_AUX_IMAGE, -1);
			sched_intern_put(&c->in, set->id);
			free(set->bits);
			memset(set, 0, sizeof(*set));
		}
	}
}

/* ---- nodes ---- */

static void
cold_release(struct sched_cluster *c, struct sched_ncold *cold)
{
	labels_put(&c->in, cold->labels, cold->n_labels);
	free(cold->labels);
	cold->labels = NULL;
	cold->n_labels = 0;
	for (uint32_t i = 0; i < cold->n_taints; i++) {
		sched_intern_put(&c->in, cold->taints[i].key);
		sched_intern_put(&c->in, cold->taints[i].value);
	}
	free(cold->taints);
	cold->taints = NULL;
	cold->n_taints = 0;
	for (uint32_t i = 0; i < cold->n_images; i++)
		sched_intern_put(&c->in, cold->images[i]);
	free(cold->images);
	cold->images = NULL;
	cold->n_images = 0;
}

static int
node_validate(const struct sched_node_spec *s, char **ret_err)
{
	int r;

	if ((r = sched_check_name("node.name", s->name, ret_err)) < 0)
		return r;
	if (s->zone && (r = sched_check_name("node.zone", s->zone, ret_err)) < 0)
		return r;
	if (s->rack && (r = sched_check_name("node.rack", s->rack, ret_err)) < 0)
		return r;
	if (s->cpu_millis < 0 || s->memory_mib < 0 || s->cpu_millis > SCHED_MAX_QUANTITY ||
	    s->memory_mib > SCHED_MAX_QUANTITY)
		return errf(-BW_E_INVALID, ret_err, "node %s: capacity must be 0..2^40", s->name);
	if (s->n_taints > SCHED_MAX_TAINTS || (s->n_taints && !s->taints))
		return errf(-BW_E_INVALID, ret_err, "node %s: taints: at most %d", s->name,
		    SCHED_MAX_TAINTS);
	for (size_t i = 0; i < s->n_taints; i++) {
		if ((r = sched_check_name("node.taints.key", s->taints[i].key, ret_err)) < 0)
			return r;
		if (s->taints[i].value &&
		    (r = sched_check_value("node.taints.value", s->taints[i].value, ret_err)) < 0)
			return r;
		if ((unsigned)s->taints[i].effect > SCHED_TAINT_NO_EXECUTE)
			return errf(-BW_E_INVALID, ret_err, "node %s: taint effect unknown", s->name);
	}
	if (s->n_images > SCHED_MAX_IMAGES || (s->n_images && !s->images))
		return errf(-BW_E_INVALID, ret_err, "node %s: images: at most %d", s->name,
		    SCHED_MAX_IMAGES);
	for (size_t i = 0; i < s->n_images; i++)
		if ((r = sched_check_name("node.images", s->images[i], ret_err)) < 0)
			return r;
	if ((unsigned)s->phase > SCHED_NODE_NOT_READY ||
	    (unsigned)s->attestation > SCHED_ATTEST_UNTRUSTED)
		return errf(-BW_E_INVALID, ret_err, "node %s: phase or attestation unknown",
		    s->name);
	return 0;
}

/* Builds the interned parts of a node spec; on failure nothing is held. */
static int
cold_build(struct sched_cluster *c, const struct sched_node_spec *s, struct sched_ncold *cold,
    char **ret_err)
{
	uint32_t i = 0;
	int r;

	memset(cold, 0, sizeof(*cold));
	if ((r = labels_intern(&c->in, s->labels, s->n_labels, &cold->labels, ret_err,
	    "node")) < 0)
		return r;
	cold->n_labels = (uint32_t)s->n_labels;
	cold->taints = calloc(s->n_taints ? s->n_taints : 1, sizeof(*cold->taints));
	cold->images = calloc(s->n_images ? s->n_images : 1, sizeof(uint32_t));
	if (!cold->taints || !cold->images) {
		r = -ENOMEM;
		goto fail;
	}
	for (; i < s->n_taints; i++) {
		const char *v = s->taints[i].value ? s->taints[i].value : "";

		cold->taints[i].effect = s->taints[i].effect;
		if ((r = sched_intern_get(&c->in, s->taints[i].key, strlen(s->taints[i].key),
		    &cold->taints[i].key)) < 0)
			goto fail;
		if ((r = sched_intern_get(&c->in, v, strlen(v), &cold->taints[i].value)) < 0) {
			sched_intern_put(&c->in, cold->taints[i].key);
			goto fail;
		}
	}
	cold->n_taints = i;
	for (size_t m = 0; m < s->n_images; m++) {
		uint32_t id;

		if ((r = sched_intern_get(&c->in, s->images[m], strlen(s->images[m]), &id)) < 0)
			goto fail_images;
		cold->images[cold->n_images++] = id;
	}
	qsort(cold->images, cold->n_images, sizeof(uint32_t), u32_cmp);
	return 0;
fail_images:
	for (uint32_t m = 0; m < cold->n_images; m++)
		sched_intern_put(&c->in, cold->images[m]);
fail:
	for (uint32_t t = 0; t < i; t++) {
		sched_intern_put(&c->in, cold->taints[t].key);
		sched_intern_put(&c->in, cold->taints[t].value);
	}
	labels_put(&c->in, cold->labels, cold->n_labels);
	free(cold->labels);
	free(cold->taints);
	free(cold->images);
	memset(cold, 0, sizeof(*cold));
	return r;
}

/* Moves a node's instance counts between domains in every counter. */
static void
counters_move(struct sched_cluster *c, uint32_t slot, uint32_t zone, uint32_t rack)
{
	for (uint32_t k = 0; k < c->n_counters; k++) {
		struct sched_counter *kc = &c->counters[k];
		int32_t n;

		if (!kc->live || !(n = kc->per_node[slot]))
			continue;
		kc->per_zone[c->hot[slot].zone] -= n;
		kc->per_rack[c->hot[slot].rack] -= n;
		kc->per_zone[zone] += n;
		kc->per_rack[rack] += n;
	}
}

int
sched_node_upsert(struct sched_cluster *c, const struct sched_node_spec *s, char **ret_err)
{
	struct sched_ncold cold;
	struct sched_nhot *h;
	uint32_t name_id = 0, zone, rack, zone_id, rack_id, pool_key, flags;
	const char *zname = s->zone ? s->zone : "";
	const char *rname = s->rack ? s->rack : "";
	_cleanup_free_ char *rkey = NULL;
	int32_t slot;
	bool fresh;
	int r;

	if ((r = node_validate(s, ret_err)) < 0)
		return r;
	/* Racks are named within their zone: r1 in z1 and r1 in z2 differ. */
	if (asprintf(&rkey, "%s\x1f%s", zname, rname) < 0) {
		rkey = NULL;
		return -ENOMEM;
	}
	if ((r = cold_build(c, s, &cold, ret_err)) < 0)
		return r;
	if ((r = domain_get(c, false, zname, strlen(zname), &zone, &zone_id)) < 0)
		goto fail_cold;
	if ((r = domain_get(c, true, rkey, strlen(rkey), &rack, &rack_id)) < 0)
		goto fail_zone;
	if ((r = imgsets_reserve(c, &cold)) < 0)
		goto fail_rack;
	slot = node_slot(c, s->name);
	fresh = slot < 0;
	if (fresh) {
		if (!c->n_free_nodes && (r = ensure_nodes(c, c->n_nodes + 1)) < 0)
			goto fail_rack;
		if ((r = sched_intern_get(&c->in, s->name, strlen(s->name), &name_id)) < 0)
			goto fail_rack;
		slot = (int32_t)(c->n_free_nodes ? c->free_nodes[--c->n_free_nodes] : c->n_nodes++);
		memset(&c->hot[slot], 0, sizeof(c->hot[slot]));
		sched_aux_set(&c->in, name_id, SCHED_AUX_NODE, slot);
		c->live_nodes++;
		c->order_dirty = true;
	} else {
		name_id = c->cold[slot].name;
		if (c->hot[slot].zone != zone || c->hot[slot].rack != rack)
			counters_move(c, (uint32_t)slot, zone, rack);
		imgsets_update(c, (uint32_t)slot, &c->cold[slot], false);
		cold_release(c, &c->cold[slot]);
		domain_put(c, false, c->hot[slot].zone);
		domain_put(c, true, c->hot[slot].rack);
	}
	h = &c->hot[slot];
	cold.name = name_id;
	cold.zone_id = zone_id;
	cold.rack_id = rack_id;
	c->cold[slot] = cold;
	flags = SCHED_NF_LIVE;
	if (s->phase == SCHED_NODE_READY)
		flags |= SCHED_NF_READY;
	if (s->attestation == SCHED_ATTEST_TRUSTED)
		flags |= SCHED_NF_TRUSTED;
	else if (s->attestation == SCHED_ATTEST_PENDING)
		flags |= SCHED_NF_PENDING;
	if (s->fips)
		flags |= SCHED_NF_FIPS;
	h->flags = flags;
	h->cap_cpu = s->cpu_millis;
	h->cap_mem = s->memory_mib;
	h->inv_cpu = h->cap_cpu > 0 ? ((uint64_t)SCHED_MAX_SCORE << 32) / (uint64_t)h->cap_cpu : 0;
	h->inv_mem = h->cap_mem > 0 ? ((uint64_t)SCHED_MAX_SCORE << 32) / (uint64_t)h->cap_mem : 0;
	h->cap_slots = s->max_instances;
	h->zone = zone;
	h->rack = rack;
	if (s->n_taints)
		h->flags |= SCHED_NF_TAINTED;
	h->pool = 0;
	imgsets_update(c, (uint32_t)slot, &cold, true);
	/* Static filter verdicts depend on the node specs. */
	c->gen++;
	pool_key = sched_intern_find(&c->in, SCHED_POOL_LABEL, strlen(SCHED_POOL_LABEL));
	if (pool_key) {
		const struct sched_lbl *l = label_find(cold.labels, cold.n_labels, pool_key);

		if (l)
			h->pool = l->value;
	}
	return 0;
fail_rack:
	domain_put(c, true, rack);
fail_zone:
	domain_put(c, false, zone);
fail_cold:
	cold_release(c, &cold);
	return r;
}

int
sched_node_remove(struct sched_cluster *c, const char *name)
{
	int slot = node_slot(c, name);
	uint32_t name_id;

	if (slot < 0)
		return -BW_E_NOTFOUND;
	if (c->hot[slot].used_slots)
		return -EBUSY;
	name_id = c->cold[slot].name;
	imgsets_update(c, (uint32_t)slot, &c->cold[slot], false);
	cold_release(c, &c->cold[slot]);
	domain_put(c, false, c->hot[slot].zone);
	domain_put(c, true, c->hot[slot].rack);
	sched_aux_set(&c->in, name_id, SCHED_AUX_NODE, -1);
	sched_intern_put(&c->in, name_id);
	memset(&c->hot[slot], 0, sizeof(c->hot[slot]));
	memset(&c->cold[slot], 0, sizeof(c->cold[slot]));
	c->free_nodes[c->n_free_nodes++] = (uint32_t)slot;
	c->live_nodes--;
	c->order_dirty = true;
	c->gen++;
	return 0;
}

/* ---- instances ---- */

static void
inst_release(struct sched_cluster *c, struct sched_inst *i)
{
	sched_aux_set(&c->in, i->name, SCHED_AUX_INST, -1);
	sched_intern_put(&c->in, i->name);
	sched_intern_put(&c->in, i->tenant);
	sched_intern_put(&c->in, i->workload);
	sched_intern_put(&c->in, i->image);
	labels_put(&c->in, i->labels, i->n_labels);
	free(i->labels);
	memset(i, 0, sizeof(*i));
}

/* Adds or removes instance I (bound to its node) in every match counter. */
static void
inst_count(struct sched_cluster *c, struct sched_inst *i, int32_t d)
{
	char key[SCHED_WKEY_MAX];
	size_t len;
	int32_t k;

	/* The workload's own counter is found by key (built on the stack, so
	 * it cannot fail); label counters are few and checked one by one. */
	len = sched_workload_key(key, "M", sched_intern_str(&c->in, i->tenant),
	    sched_intern_str(&c->in, i->workload));
	if ((k = sched_counter_find(c, key, len)) >= 0)
		counter_add(c, &c->counters[k], i->node, d);
	for (uint32_t n = 0; n < c->n_counters; n++) {
		struct sched_counter *kc = &c->counters[n];

		if (kc->live && kc->kind == SCHED_CK_LABELS && counter_matches(c, kc, i))
			counter_add(c, kc, i->node, d);
	}
	for (uint32_t h = 0; h < i->n_held; h++)
		counter_add(c, &c->counters[i->held[h]], i->node, d);
}

int
sched_bind(struct sched_cluster *c, const struct sched_request *req, const char *node,
    char **ret_err)
{
	struct sched_inst *i;
	uint32_t idx, name_id;
	int slot, r;

	if ((r = sched_request_check(req, ret_err)) < 0)
		return r;
	slot = node_slot(c, node);
	if (slot < 0)
		return errf(-BW_E_NOTFOUND, ret_err, "node %s: not found", node ? node : "(null)");
	name_id = sched_intern_find(&c->in, req->instance, strlen(req->instance));
	if (sched_aux_get(&c->in, name_id, SCHED_AUX_INST) >= 0)
		return errf(-BW_E_EXISTS, ret_err, "instance %s: already bound", req->instance);
	if (c->n_free_insts == 0 && c->n_insts >= c->cap_insts) {
		uint32_t cap = c->cap_insts ? c->cap_insts * 2 : 256;

		if ((r = grow_array((void **)&c->insts, sizeof(*c->insts), c->cap_insts, cap,
		    true)) < 0 ||
		    (r = grow_array((void **)&c->free_insts, sizeof(uint32_t), c->cap_insts, cap,
		    false)) < 0)
			return r;
		c->cap_insts = cap;
	}
	idx = c->n_free_insts ? c->free_insts[--c->n_free_insts] : c->n_insts++;
	i = &c->insts[idx];
	memset(i, 0, sizeof(*i));
	if ((r = sched_intern_get(&c->in, req->instance, strlen(req->instance), &i->name)) < 0 ||
	    (r = sched_intern_get(&c->in, req->tenant, strlen(req->tenant), &i->tenant)) < 0 ||
	    (r = sched_intern_get(&c->in, req->workload, strlen(req->workload),
	    &i->workload)) < 0 ||
	    (req->image && (r = sched_intern_get(&c->in, req->image, strlen(req->image),
	    &i->image)) < 0) ||
	    (r = labels_intern(&c->in, req->labels, req->n_labels, &i->labels, ret_err,
	    "instance")) < 0)
		goto fail;
	i->n_labels = (uint32_t)req->n_labels;
	for (size_t a = 0; a < req->n_anti_affinity; a++) {
		const struct sched_anti_affinity *aa = &req->anti_affinity[a];
		_cleanup_free_ char *key = NULL;
		size_t len;

		if ((r = sched_holder_key(aa->topology, req->tenant, req->workload, &aa->selector,
		    &key, &len)) < 0 ||
		    (r = sched_counter_get(c, key, len, SCHED_CK_HOLDER, req->tenant, req->workload,
		    aa->topology, &aa->selector, &i->held[i->n_held])) < 0)
			goto fail;
		i->n_held++;
	}
	i->live = true;
	i->node = (uint32_t)slot;
	i->cpu = req->cpu_millis;
	i->mem = req->memory_mib;
	sched_aux_set(&c->in, i->name, SCHED_AUX_INST, (int32_t)idx);
	c->hot[slot].used_cpu += i->cpu;
	c->hot[slot].used_mem += i->mem;
	c->hot[slot].used_slots++;
	c->live_insts++;
	inst_count(c, i, 1);
	return 0;
fail:
	inst_release(c, i);
	c->free_insts[c->n_free_insts++] = idx;
	return r;
}

int
sched_unbind(struct sched_cluster *c, const char *instance)
{
	uint32_t id = instance ? sched_intern_find(&c->in, instance, strlen(instance)) : 0;
	int32_t idx = sched_aux_get(&c->in, id, SCHED_AUX_INST);
	struct sched_inst *i;
	struct sched_nhot *h;

	if (idx < 0)
		return -BW_E_NOTFOUND;
	i = &c->insts[idx];
	h = &c->hot[i->node];
	inst_count(c, i, -1);
	h->used_cpu -= i->cpu;
	h->used_mem -= i->mem;
	h->used_slots--;
	/* Holder counters exist only while some instance holds the rule. */
	for (uint32_t n = 0; n < i->n_held; n++)
		if (c->counters[i->held[n]].live && c->counters[i->held[n]].total == 0)
			counter_free(c, i->held[n]);
	inst_release(c, i);
	c->free_insts[c->n_free_insts++] = (uint32_t)idx;
	c->live_insts--;
	return 0;
}

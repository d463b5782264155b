/* What a node principal sees of the objects, and the watch pump's memo
 * of it (nodeview.h). */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "controlplane/nodeview.h"
#include "lib/json.h"
#include "lib/macro.h"

struct nodeview_entry {
	char		*key;		/* NULL: an empty slot */
	uint64_t	 rev;		/* the change's revision */
	int		 bound_known;
	char		*bound;		/* node_field: the node, NULL none */
	int		 users_known;
	uint64_t	 users_gen;	/* the pass USERS were read in */
	char		**users;	/* RES_F_NODE_USED: sorted */
	size_t		 nusers;
};

struct nodeview_memo {
	struct nodeview_entry	 e[NODEVIEW_MEMO];
	unsigned long long	 decided, kept;
};

static const char *
spec_str(const json_t *doc, const char *field)
{
	return json_str_at(doc, "spec", field);
}

/* Whether DOC, an object of kind FROM in TENANT, uses object NAME of
 * kind K: names it in its ref_field, or names an object that does (an
 * instance runs a workload, which is on a network). DEPTH bounds the
 * chain. */
static int
refers_to(struct store *st, const struct res_kind *from, const json_t *doc,
    const struct res_kind *k, const char *tenant, const char *name,
    size_t depth)
{
	_cleanup_json_ json_t	*next = NULL;
	const struct res_kind	*to;
	const char		*ref;
	struct store_kv		*kv = NULL;
	char			 key[RES_KEY_MAX];

	if (depth == 0 || !from->ref_field || !from->ref_kind ||
	    !(to = res_kind_by_name(from->ref_kind)) ||
	    !(ref = spec_str(doc, from->ref_field)))
		return 0;
	if (to == k)
		return strcmp(ref, name) == 0;
	if (res_key(to, tenant, ref, key, sizeof(key)) < 0 ||
	    store_get(st, key, &kv) < 0)
		return 0;
	next = json_loadb(kv->value, kv->value_len, 0, NULL);
	store_kv_free(kv);
	return refers_to(st, to, next, k, tenant, name, depth - 1);
}

/* Calls FN(NODE, ARG) for the node of each object of TENANT bound to a
 * node (ONLY: to that node only) that uses object NAME of kind K
 * (refers_to()), until FN returns non-zero; returns what FN returned
 * last (0 if never called). */
static int
nodes_using(struct store *st, const struct res_kind *k, const char *tenant,
    const char *name, const char *only, int (*fn)(const char *, void *),
    void *arg)
{
	const struct res_kind	*kinds;
	struct store_kv		**kvs = NULL;
	char			 prefix[RES_KEY_MAX];
	size_t			 nk, j, n, i;
	uint64_t		 rev;
	int			 r = 0;

	if (!tenant || !name)
		return 0;
	kinds = res_kinds(&nk);
	for (j = 0; j < nk && !r; j++) {
		const struct res_kind *bk = &kinds[j];

		n = 0;
		if (!bk->node_field || res_prefix(bk, tenant, prefix,
		    sizeof(prefix)) < 0 || store_list(st, prefix, &kvs, &n,
		    &rev) < 0)
			continue;
		for (i = 0; i < n && !r; i++) {
			_cleanup_json_ json_t	*doc = json_loadb(
			    kvs[i]->value, kvs[i]->value_len, 0, NULL);
			const char		*on = spec_str(doc,
			    bk->node_field);

			if (on && (!only || strcmp(on, only) == 0) &&
			    refers_to(st, bk, doc, k, tenant, name, nk))
				r = fn(on, arg);
		}
		store_kv_array_free(kvs, n);
		kvs = NULL;
	}
	return r;
}

static int
found_cb(const char *node, void *arg)
{
	(void)node;
	(void)arg;
	return 1;
}

int
nodeview_uses(struct store *st, const char *node, const struct res_kind *k,
    const char *tenant, const char *name)
{
	return nodes_using(st, k, tenant, name, node, found_cb, NULL) > 0;
}

int
nodeview_sees(struct store *st, const char *node, const struct res_kind *k,
    const char *tenant, const char *name, const json_t *doc)
{
	const char *bound;

	if (k->flags & RES_F_NODE)
		return name && strcmp(name, node) == 0;
	if (k->node_field) {
		bound = spec_str(doc, k->node_field);
		return bound && strcmp(bound, node) == 0;
	}
	if (k->flags & RES_F_NODE_USED)
		return nodeview_uses(st, node, k, tenant, name);
	return 1;
}

/* ---- the pump's memo ---- */

struct nodeview_memo *
nodeview_memo_new(void)
{
	return calloc(1, sizeof(struct nodeview_memo));
}

static void
users_free(struct nodeview_entry *e)
{
	size_t i;

	for (i = 0; i < e->nusers; i++)
		free(e->users[i]);
	free(e->users);
	e->users = NULL;
	e->nusers = 0;
	e->users_known = 0;
}

static void
entry_clear(struct nodeview_entry *e)
{
	users_free(e);
	free(e->key);
	free(e->bound);
	memset(e, 0, sizeof(*e));
}

void
nodeview_memo_free(struct nodeview_memo *m)
{
	size_t i;

	if (!m)
		return;
	for (i = 0; i < NODEVIEW_MEMO; i++)
		entry_clear(&m->e[i]);
	free(m);
}

void
nodeview_memo_counts(const struct nodeview_memo *m,
    unsigned long long *ret_decided, unsigned long long *ret_kept)
{
	*ret_decided = m ? m->decided : 0;
	*ret_kept = m ? m->kept : 0;
}

/* The slot of change (KEY, REV), emptied and taken for it unless it
 * holds it; NULL when the key cannot be copied. */
static struct nodeview_entry *
memo_slot(struct nodeview_memo *m, const char *key, uint64_t rev)
{
	struct nodeview_entry	*e;
	uint64_t		 h = 14695981039346656037ULL ^ rev;
	const unsigned char	*p;

	for (p = (const unsigned char *)key; *p; p++)
		h = (h ^ *p) * 1099511628211ULL;
	e = &m->e[h % NODEVIEW_MEMO];
	if (e->key && e->rev == rev && strcmp(e->key, key) == 0)
		return e;
	entry_clear(e);
	if (!(e->key = strdup(key)))
		return NULL;
	e->rev = rev;
	return e;
}

static int
users_add_cb(const char *node, void *arg)
{
	struct nodeview_entry	*e = arg;
	char			**n;

	if (!(n = reallocarray(e->users, e->nusers + 1, sizeof(*n))))
		return -ENOMEM;
	e->users = n;
	if (!(n[e->nusers] = strdup(node)))
		return -ENOMEM;
	e->nusers++;
	return 0;
}

static int
str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Whether NODE uses object NAME of kind K in TENANT, from E's users as
 * read in pass GEN (read now if not). */
static int
memo_uses(struct nodeview_memo *m, struct nodeview_entry *e, uint64_t gen,
    struct store *st, const struct res_kind *k, const char *tenant,
    const char *name, const char *node)
{
	const char *want = node;

	if (!e->users_known || e->users_gen != gen) {
		users_free(e);
		if (nodes_using(st, k, tenant, name, NULL, users_add_cb,
		    e) < 0) {
			/* out of memory: decide for this node alone */
			users_free(e);
			return nodeview_uses(st, node, k, tenant, name);
		}
		/* no user: USERS is NULL, which qsort() and bsearch()
		 * must not be given */
		if (e->nusers)
			qsort(e->users, e->nusers, sizeof(*e->users), str_cmp);
		e->users_known = 1;
		e->users_gen = gen;
		m->decided++;
	} else
		m->kept++;
	return e->nusers && bsearch(&want, e->users, e->nusers,
	    sizeof(*e->users), str_cmp) != NULL;
}

/* Whether NODE is the node EV's value (a PUT) is bound to, as E keeps
 * it (read now if not). */
static int
memo_bound(struct nodeview_memo *m, struct nodeview_entry *e,
    const struct store_event *ev, const struct res_kind *k, const char *node)
{
	if (!e->bound_known) {
		_cleanup_json_ json_t	*obj = res_render(ev->value,
		    ev->value_len, ev->rev);
		const char		*on = spec_str(obj, k->node_field);

		if (on && !(e->bound = strdup(on)))
			return strcmp(on, node) == 0;
		e->bound_known = 1;
		m->decided++;
	} else
		m->kept++;
	return e->bound && strcmp(e->bound, node) == 0;
}

int
nodeview_sees_change(struct nodeview_memo *m, uint64_t gen, struct store *st,
    const struct store_event *ev, const struct res_kind *k, const char *tenant,
    const char *name, const char *node)
{
	_cleanup_json_ json_t	*obj = NULL;
	struct nodeview_entry	*e;

	/* A node learns nothing of other nodes' objects, not even that one
	 * was deleted: a DELETE of a kind bound to nodes goes to the node
	 * the deleted value was bound to, kept as the change's label; one
	 * without a label goes to no node. */
	if (ev->type == STORE_OP_DELETE && k->node_field)
		return strcmp(ev->label, node) == 0;
	if (k->flags & RES_F_NODE)
		return strcmp(name, node) == 0;
	if (!k->node_field && !(k->flags & RES_F_NODE_USED))
		return 1;
	if (m && (e = memo_slot(m, ev->key, ev->rev))) {
		if (k->node_field)
			return memo_bound(m, e, ev, k, node);
		return memo_uses(m, e, gen, st, k, tenant, name, node);
	}
	if (ev->type == STORE_OP_PUT)
		obj = res_render(ev->value, ev->value_len, ev->rev);
	return nodeview_sees(st, node, k, tenant, name, obj);
}

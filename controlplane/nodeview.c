/* What a node principal sees of the objects, and the watch pump's memo
 * of it (nodeview.h). */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "controlplane/nodeview.h"
#include "lib/err.h"
#include "lib/json.h"
#include "lib/macro.h"

/* A change's bound node (a kind bound to nodes), kept per change. */
struct nodeview_entry {
	char		*key;		/* NULL: an empty slot */
	uint64_t	 rev;		/* the change's revision */
	int		 bound_known;
	char		*bound;		/* node_field: the node, NULL none */
};

/* The nodes using an object (RES_F_NODE_USED), kept per object for the
 * pass they were read in: every change to the object in that pass is
 * decided from one read. */
struct nodeview_users {
	char			*key;		/* NULL: an empty slot */
	char			**users;	/* sorted, distinct */
	size_t			 nusers;
	size_t			 bytes;		/* what USERS hold */
	int			 listed;	/* on the memo's HELD list */
	struct nodeview_users	*next_held;
};

struct nodeview_memo {
	struct nodeview_entry	 e[NODEVIEW_MEMO];
	struct nodeview_users	 u[NODEVIEW_MEMO];
	struct nodeview_users	*held;		/* slots of U used in GEN */
	uint64_t		 gen;
	size_t			 bytes;		/* all of U's USERS */
	size_t			 bound;		/* at most that many */
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
 * chain. 1, 0, or a store error (an object named but absent is 0: a
 * store that could not be read is not "not used"). */
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
	int			 r;

	if (depth == 0 || !from->ref_field || !from->ref_kind ||
	    !(to = res_kind_by_name(from->ref_kind)) ||
	    !(ref = spec_str(doc, from->ref_field)))
		return 0;
	if (to == k)
		return strcmp(ref, name) == 0;
	if (res_key(to, tenant, ref, key, sizeof(key)) < 0)
		return 0;
	if ((r = store_get(st, key, &kv)) < 0)
		return r == -BW_E_NOTFOUND ? 0 : r;
	next = json_loadb(kv->value, kv->value_len, 0, NULL);
	store_kv_free(kv);
	return refers_to(st, to, next, k, tenant, name, depth - 1);
}

/* Calls FN(NODE, ARG) for the node of each object of BK in TENANT (ONLY:
 * bound to that node only) that uses object NAME of kind K, until FN
 * returns non-zero; returns what FN returned last (0 if never called)
 * or a store error. */
static int
kind_nodes_using(struct store *st, const struct res_kind *bk, size_t depth,
    const struct res_kind *k, const char *tenant, const char *name,
    const char *only, int (*fn)(const char *, void *), void *arg)
{
	struct store_kv		**kvs = NULL;
	char			 prefix[RES_KEY_MAX];
	size_t			 n = 0, i;
	uint64_t		 rev;
	int			 r = 0, u;

	if (res_prefix(bk, tenant, prefix, sizeof(prefix)) < 0)
		return 0;
	if ((r = store_list(st, prefix, &kvs, &n, &rev)) < 0)
		return r;
	for (i = 0; i < n && !r; i++) {
		_cleanup_json_ json_t	*doc = json_loadb(kvs[i]->value,
		    kvs[i]->value_len, 0, NULL);
		const char		*on = spec_str(doc, bk->node_field);

		if (!on || (only && strcmp(on, only) != 0))
			continue;
		if ((u = refers_to(st, bk, doc, k, tenant, name, depth)) < 0)
			r = u;
		else if (u)
			r = fn(on, arg);
	}
	store_kv_array_free(kvs, n);
	return r;
}

/* kind_nodes_using() over every kind bound to nodes. */
static int
nodes_using(struct store *st, const struct res_kind *k, const char *tenant,
    const char *name, const char *only, int (*fn)(const char *, void *),
    void *arg)
{
	const struct res_kind	*kinds;
	size_t			 nk, j;
	int			 r = 0;

	if (!tenant || !name)
		return 0;
	kinds = res_kinds(&nk);
	for (j = 0; j < nk && !r; j++)
		if (kinds[j].node_field)
			r = kind_nodes_using(st, &kinds[j], nk, k, tenant,
			    name, only, fn, arg);
	return r;
}

static int
found_cb(const char *node, void *arg)
{
	(void)node;
	(void)arg;
	return 1;
}

/* nodeview_uses() with a store error apart: 1, 0 or the error. */
static int
uses_now(struct store *st, const char *node, const struct res_kind *k,
    const char *tenant, const char *name)
{
	return nodes_using(st, k, tenant, name, node, found_cb, NULL);
}

int
nodeview_uses(struct store *st, const char *node, const struct res_kind *k,
    const char *tenant, const char *name)
{
	/* a store that cannot be read shows nothing (fail closed) */
	return uses_now(st, node, k, tenant, name) > 0;
}

/* nodeview_sees() with a store error apart: 1, 0 or the error. */
static int
sees_now(struct store *st, const char *node, const struct res_kind *k,
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
		return uses_now(st, node, k, tenant, name);
	return 1;
}

int
nodeview_sees(struct store *st, const char *node, const struct res_kind *k,
    const char *tenant, const char *name, const json_t *doc)
{
	return sees_now(st, node, k, tenant, name, doc) > 0;
}

/* ---- the pump's memo ---- */

struct nodeview_memo *
nodeview_memo_new(void)
{
	struct nodeview_memo *m = calloc(1, sizeof(*m));

	if (m)
		m->bound = NODEVIEW_MEMO_BYTES;
	return m;
}

void
nodeview_memo_bound(struct nodeview_memo *m, size_t bytes)
{
	m->bound = bytes;
}

static void
strv_free(char **v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* Empties users slot U (it stays on the held list). */
static void
users_clear(struct nodeview_memo *m, struct nodeview_users *u)
{
	strv_free(u->users, u->nusers);
	free(u->key);
	m->bytes -= u->bytes;
	u->key = NULL;
	u->users = NULL;
	u->nusers = 0;
	u->bytes = 0;
}

/* Starts pass GEN at its first decision: the users read in an earlier
 * pass are the store as it was then, and are freed. */
static void
users_pass(struct nodeview_memo *m, uint64_t gen)
{
	struct nodeview_users *u, *next;

	if (m->gen == gen)
		return;
	for (u = m->held; u; u = next) {
		next = u->next_held;
		users_clear(m, u);
		u->listed = 0;
		u->next_held = NULL;
	}
	m->held = NULL;
	m->gen = gen;
}

static void
entry_clear(struct nodeview_entry *e)
{
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
	for (i = 0; i < NODEVIEW_MEMO; i++) {
		entry_clear(&m->e[i]);
		users_clear(m, &m->u[i]);
	}
	free(m);
}

void
nodeview_memo_counts(const struct nodeview_memo *m,
    unsigned long long *ret_decided, unsigned long long *ret_kept)
{
	*ret_decided = m ? m->decided : 0;
	*ret_kept = m ? m->kept : 0;
}

size_t
nodeview_memo_bytes(const struct nodeview_memo *m)
{
	return m ? m->bytes : 0;
}

static uint64_t
key_hash(const char *key, uint64_t seed)
{
	uint64_t		 h = 14695981039346656037ULL ^ seed;
	const unsigned char	*p;

	for (p = (const unsigned char *)key; *p; p++)
		h = (h ^ *p) * 1099511628211ULL;
	return h;
}

/* The slot of change (KEY, REV), emptied and taken for it unless it
 * holds it; NULL when the key cannot be copied. */
static struct nodeview_entry *
memo_slot(struct nodeview_memo *m, const char *key, uint64_t rev)
{
	struct nodeview_entry *e = &m->e[key_hash(key, rev) % NODEVIEW_MEMO];

	if (e->key && e->rev == rev && strcmp(e->key, key) == 0)
		return e;
	entry_clear(e);
	if (!(e->key = strdup(key)))
		return NULL;
	e->rev = rev;
	return e;
}

/* The nodes using an object, as read: every node-bound object's node
 * (duplicates until users_sort()), within a byte budget. */
struct users_read {
	char	**users;
	size_t	  nusers;
	size_t	  bytes;
	size_t	  budget;
};

static int
users_add_cb(const char *node, void *arg)
{
	struct users_read	*ur = arg;
	size_t			 len = strlen(node) + 1 + sizeof(char *);
	char			**n;

	if (len > ur->budget - ur->bytes)
		return -E2BIG;
	if (!(n = reallocarray(ur->users, ur->nusers + 1, sizeof(*n))))
		return -ENOMEM;
	ur->users = n;
	if (!(n[ur->nusers] = strdup(node)))
		return -ENOMEM;
	ur->nusers++;
	ur->bytes += len;
	return 0;
}

static int
str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorts UR's users and drops the duplicates (one a node, however many of
 * its objects use the object), counting what is left. */
static void
users_sort(struct users_read *ur)
{
	size_t i, out = 0;

	/* no user: USERS is NULL, which qsort() must not be given */
	if (!ur->nusers)
		return;
	qsort(ur->users, ur->nusers, sizeof(*ur->users), str_cmp);
	ur->bytes = 0;
	for (i = 0; i < ur->nusers; i++) {
		if (out > 0 && strcmp(ur->users[out - 1], ur->users[i]) == 0) {
			free(ur->users[i]);
			continue;
		}
		ur->users[out++] = ur->users[i];
		ur->bytes += strlen(ur->users[i]) + 1 + sizeof(char *);
	}
	ur->nusers = out;
}

/* Users slot U read now for object NAME of kind K in TENANT (key KEY):
 * 0, or a store error or what kept it from being kept (out of memory,
 * past the memo's bound), U then empty. */
static int
users_read(struct nodeview_memo *m, struct nodeview_users *u,
    const char *key, struct store *st, const struct res_kind *k,
    const char *tenant, const char *name)
{
	struct users_read	ur = { NULL, 0, 0, 0 };
	int			r;

	users_clear(m, u);
	ur.budget = m->bound > m->bytes ? m->bound - m->bytes : 0;
	if ((r = nodes_using(st, k, tenant, name, NULL, users_add_cb,
	    &ur)) < 0 || !(u->key = strdup(key))) {
		strv_free(ur.users, ur.nusers);
		return r < 0 ? r : -ENOMEM;
	}
	users_sort(&ur);
	u->users = ur.users;
	u->nusers = ur.nusers;
	u->bytes = ur.bytes;
	m->bytes += ur.bytes;
	if (!u->listed) {
		u->listed = 1;
		u->next_held = m->held;
		m->held = u;
	}
	return 0;
}

/* Whether NODE uses object NAME of kind K in TENANT (key KEY), from the
 * users read in pass GEN (read now if not): 1, 0 or a store error,
 * which is not kept. */
static int
memo_uses(struct nodeview_memo *m, uint64_t gen, const char *key,
    struct store *st, const struct res_kind *k, const char *tenant,
    const char *name, const char *node)
{
	struct nodeview_users	*u;
	const char		*want = node;

	u = &m->u[key_hash(key, 0) % NODEVIEW_MEMO];
	if (u->key && strcmp(u->key, key) == 0)
		m->kept++;
	else if (users_read(m, u, key, st, k, tenant, name) < 0)
		/* not kept (a store error, out of memory or past the
		 * bound): decided for this node alone, as read now */
		return uses_now(st, node, k, tenant, name);
	else
		m->decided++;
	return u->nusers && bsearch(&want, u->users, u->nusers,
	    sizeof(*u->users), str_cmp) != NULL;
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

	if (m)
		users_pass(m, gen);
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
	if (m && !k->node_field)
		return memo_uses(m, gen, ev->key, st, k, tenant, name, node);
	if (m && (e = memo_slot(m, ev->key, ev->rev)))
		return memo_bound(m, e, ev, k, node);
	if (ev->type == STORE_OP_PUT)
		obj = res_render(ev->value, ev->value_len, ev->rev);
	return sees_now(st, node, k, tenant, name, obj);
}

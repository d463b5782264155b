#include "config.h"

#include <errno.h>
#include <search.h>
#include <stdlib.h>
#include <string.h>

#include "controlplane/model.h"
#include "controlplane/resource.h"
#include "lib/err.h"

struct model_kind {
	const struct res_kind	*k;
	char			 prefix[RES_KEY_MAX];	/* its keys' */
	size_t			 prefix_len;
	struct model_obj	**v;	/* dense; obj->idx is its slot */
	size_t			 n, cap;
	void			*index;	/* tsearch tree of objs by key */
};

struct model {
	struct model_kind	kinds[MODEL_KINDS_MAX];
	size_t			nkinds;
};

static int
obj_cmp(const void *a, const void *b)
{
	return strcmp(((const struct model_obj *)a)->key,
	    ((const struct model_obj *)b)->key);
}

static void
obj_free(void *p)
{
	struct model_obj *o = p;

	if (!o)
		return;
	json_decref(o->doc);
	free(o->key);
	free(o);
}

static void
kind_clear(struct model_kind *mk)
{
	tdestroy(mk->index, obj_free);
	mk->index = NULL;
	free(mk->v);
	mk->v = NULL;
	mk->n = mk->cap = 0;
}

int
model_new(const char *const *kinds, size_t n, struct model **ret)
{
	struct model *m;

	if (n > MODEL_KINDS_MAX)
		return -EINVAL;
	if (!(m = calloc(1, sizeof(*m))))
		return -ENOMEM;
	for (m->nkinds = 0; m->nkinds < n; m->nkinds++) {
		struct model_kind *mk = &m->kinds[m->nkinds];

		if (!(mk->k = res_kind_by_name(kinds[m->nkinds])) ||
		    res_prefix(mk->k, NULL, mk->prefix, sizeof(mk->prefix)) < 0) {
			free(m);
			return -EINVAL;
		}
		mk->prefix_len = strlen(mk->prefix);
	}
	*ret = m;
	return 0;
}

void
model_free(struct model *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->nkinds; i++)
		kind_clear(&m->kinds[i]);
	free(m);
}

/* The kind index of KEY ("/r/<plural>/..."), or -ENOENT. */
static int
kind_of_key(const struct model *m, const char *key)
{
	for (size_t i = 0; i < m->nkinds; i++)
		if (strncmp(key, m->kinds[i].prefix, m->kinds[i].prefix_len) == 0)
			return (int)i;
	return -ENOENT;
}

static struct model_obj *
lookup(const struct model_kind *mk, const char *key)
{
	struct model_obj	 probe = { .key = (char *)key };
	struct model_obj	**p = tfind(&probe, &mk->index, obj_cmp);

	return p ? *p : NULL;
}

/* Takes DOC (rendered) into a new object at KEY. */
static int
insert(struct model_kind *mk, const char *key, json_t *doc, uint64_t rev,
    struct model_obj **ret)
{
	struct model_obj	*o;

	if (mk->n == mk->cap) {
		size_t			 cap = mk->cap ? mk->cap * 2 : 64;
		struct model_obj	**v = reallocarray(mk->v, cap, sizeof(*v));

		if (!v)
			return -ENOMEM;
		mk->v = v;
		mk->cap = cap;
	}
	if (!(o = calloc(1, sizeof(*o))) || !(o->key = strdup(key))) {
		free(o);
		return -ENOMEM;
	}
	if (!tsearch(o, &mk->index, obj_cmp)) {
		free(o->key);
		free(o);
		return -ENOMEM;
	}
	o->doc = doc;
	o->rev = rev;
	o->tenant = res_tenant(doc);
	o->name = res_name(doc);
	o->idx = mk->n;
	mk->v[mk->n++] = o;
	*ret = o;
	return 0;
}

/* Unlinks O and frees it but for its document, which is returned. */
static json_t *
remove_obj(struct model_kind *mk, struct model_obj *o)
{
	json_t *doc = o->doc;

	tdelete(o, &mk->index, obj_cmp);
	mk->v[o->idx] = mk->v[--mk->n];
	mk->v[o->idx]->idx = o->idx;
	o->doc = NULL;
	obj_free(o);
	return doc;
}

/* A stored value the controllers can use: an object with a name and a
 * tenant. Others are left out, as a store listing's reader would. */
static json_t *
render(const struct store_kv *kv)
{
	json_t *doc = res_render(kv->value, kv->value_len, kv->mod_rev);

	if (doc && (!res_name(doc) || !res_tenant(doc))) {
		json_decref(doc);
		doc = NULL;
	}
	return doc;
}

int
model_rebuild(struct model *m, struct store *st)
{
	struct store_kv		**kvs = NULL;
	struct model_obj	*o;
	char			 prefix[RES_KEY_MAX];
	size_t			 n = 0, i, k;
	int			 r = 0;

	for (k = 0; k < m->nkinds; k++)
		kind_clear(&m->kinds[k]);
	for (k = 0; k < m->nkinds && r == 0; k++) {
		if ((r = res_prefix(m->kinds[k].k, NULL, prefix,
		    sizeof(prefix))) < 0 ||
		    (r = store_list(st, prefix, &kvs, &n, NULL)) < 0)
			break;
		for (i = 0; i < n && r == 0; i++) {
			json_t *doc = render(kvs[i]);

			if (doc && (r = insert(&m->kinds[k], kvs[i]->key, doc,
			    kvs[i]->mod_rev, &o)) < 0)
				json_decref(doc);
		}
		store_kv_array_free(kvs, n);
	}
	if (r < 0)
		for (k = 0; k < m->nkinds; k++)
			kind_clear(&m->kinds[k]);
	return r;
}

/* Puts DOC (owned; NULL: deleted or unusable) at KEY in place of O
 * (may be NULL), filling *RET; CHANGED: whether the store had news. */
static int
replace(struct model_kind *mk, struct model_obj *o, const char *key,
    json_t *doc, uint64_t rev, int changed, struct model_change *ret)
{
	int r = 0;

	ret->changed = changed;
	if (o)
		ret->old = remove_obj(mk, o);
	ret->cur = NULL;
	if (doc && (r = insert(mk, key, doc, rev, &ret->cur)) < 0) {
		json_decref(doc);
		json_decref(ret->old);
		ret->old = NULL;
	}
	return r;
}

int
model_apply(struct model *m, struct store *st, const char *key,
    struct model_change *ret)
{
	struct model_kind	*mk;
	struct model_obj	*o;
	struct store_kv		*kv = NULL;
	json_t			*doc = NULL;
	int			 kind, r;

	if (!key || (kind = kind_of_key(m, key)) < 0)
		return -ENOENT;
	mk = &m->kinds[kind];
	o = lookup(mk, key);
	if ((r = store_get(st, key, &kv)) == -BW_E_NOTFOUND)
		r = 0;		/* deleted */
	else if (r < 0)
		return r;
	*ret = (struct model_change){ .kind = kind, .cur = o };
	if (kv && o && o->rev == kv->mod_rev) {
		store_kv_free(kv);
		return 0;
	}
	if (kv)
		doc = render(kv);	/* NULL: unusable now, as if deleted */
	r = replace(mk, o, key, doc, kv ? kv->mod_rev : 0, kv || o, ret);
	store_kv_free(kv);
	return r < 0 ? r : 0;
}

int
model_set(struct model *m, const char *key, json_t *doc, uint64_t rev,
    struct model_change *ret)
{
	struct model_kind	*mk;
	struct model_obj	*o;
	json_t			*md = json_object_get(doc, "metadata");
	int			 kind, r;

	if (!key || (kind = kind_of_key(m, key)) < 0 || !json_is_object(md) ||
	    !res_name(doc) || !res_tenant(doc) || rev == 0) {
		json_decref(doc);
		return -ENOENT;
	}
	mk = &m->kinds[kind];
	o = lookup(mk, key);
	*ret = (struct model_change){ .kind = kind, .cur = o };
	if (o && o->rev >= rev) {
		json_decref(doc);	/* the model has it, or a later one */
		return 0;
	}
	/* as render() makes it from the stored value */
	if (json_object_set_new(md, "revision",
	    json_integer((json_int_t)rev)) != 0) {
		json_decref(doc);
		return -ENOMEM;
	}
	r = replace(mk, o, key, doc, rev, 1, ret);
	return r < 0 ? r : 0;
}

size_t
model_count(const struct model *m, int kind)
{
	return m->kinds[kind].n;
}

struct model_obj *
model_at(const struct model *m, int kind, size_t i)
{
	return m->kinds[kind].v[i];
}

struct model_obj *
model_find(const struct model *m, int kind, const char *tenant,
    const char *name)
{
	char key[RES_KEY_MAX];

	if (res_key(m->kinds[kind].k, tenant, name, key, sizeof(key)) < 0)
		return NULL;
	return lookup(&m->kinds[kind], key);
}

struct model_obj *
model_get(const struct model *m, const char *key)
{
	int kind = kind_of_key(m, key);

	return kind < 0 ? NULL : lookup(&m->kinds[kind], key);
}

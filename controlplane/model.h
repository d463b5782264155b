/* The controllers' in-memory model of the store: the rendered objects
 * of a few kinds (Node, Workload, Instance), indexed by store key.
 * It is fed by the keys each commit batch wrote (model_apply re-reads
 * one key, so the store stays the truth and a key seen twice costs
 * nothing), and rebuilt from the store once at start and after any
 * gap in that feed (model_rebuild). Memory: one parsed document per
 * object of the kept kinds, plus its key; nothing else grows. */
#ifndef BW_MODEL_H
#define BW_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "controlplane/store.h"

#define MODEL_KINDS_MAX	8

struct model;

struct model_obj {
	char		*key;		/* store key, owned */
	json_t		*doc;		/* rendered (metadata.revision), owned */
	uint64_t	 rev;		/* mod_rev of the stored value */
	const char	*tenant, *name;	/* borrowed from doc */
	size_t		 idx;		/* position in its kind's array */
	int		 mark;		/* the caller's; 0 in a new object */
	/* The caller's, derived from doc alone (which never changes in
	 * place: a change is a new object); 0 in a new object. */
	int		 derived;
};

/* What model_apply() did to one key of a kept kind. */
struct model_change {
	int		 kind;		/* index into the kinds given to model_new */
	int		 changed;	/* 0: the model already held this revision */
	json_t		*old;		/* the previous document (owned), or NULL */
	struct model_obj *cur;		/* the object now, or NULL if deleted */
};

/* Makes an empty model keeping the N (<= MODEL_KINDS_MAX) kinds named
 * in KINDS ("Node"). Returns 0, -EINVAL or -ENOMEM. */
int model_new(const char *const *kinds, size_t n, struct model **ret);
void model_free(struct model *m);	/* NULL ok */

/* Replaces the model's content by the store's (one listing per kind).
 * Returns 0 or a negative error (the model is then empty). */
int model_rebuild(struct model *m, struct store *st);

/* Re-reads KEY from ST into the model. Returns 0 with *RET filled
 * (free ret->old with json_decref), -ENOENT when KEY is not of a kept
 * kind (nothing to do), or another negative error (the model may then
 * miss this change: rebuild). */
int model_apply(struct model *m, struct store *st, const char *key,
    struct model_change *ret);

/* Takes DOC (owned; its stored form, without metadata.revision) as
 * the value of KEY written at revision REV, as model_apply() would
 * read it back, unless the model holds REV or a later one: for a
 * write whose outcome the caller knows, which saves the store read and
 * the parse. The store stays the truth: a later model_apply() of KEY
 * finds REV there and costs one store read. Returns 0 with *RET filled
 * as model_apply() does, -ENOENT when KEY is not of a kept kind or DOC
 * not a kept object (nothing done), or -ENOMEM (rebuild). The model
 * keeps no record of deletions: a KEY deleted after REV (by another
 * replica on a shared store) is put back by this call, so the caller
 * must model_apply() KEY afterwards (the controller's observer does, on
 * the next loop turn, before any pass can read the model). */
int model_set(struct model *m, const char *key, json_t *doc, uint64_t rev,
    struct model_change *ret);

/* The objects of kind index KIND, in no particular order; positions
 * change when objects are removed. */
size_t model_count(const struct model *m, int kind);
struct model_obj *model_at(const struct model *m, int kind, size_t i);

/* The object at store KEY, or NULL. */
struct model_obj *model_get(const struct model *m, const char *key);

/* Object NAME in TENANT of kind index KIND, or NULL. */
struct model_obj *model_find(const struct model *m, int kind,
    const char *tenant, const char *name);

#endif

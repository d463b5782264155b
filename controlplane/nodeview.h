#ifndef BW_CONTROLPLANE_NODEVIEW_H
#define BW_CONTROLPLANE_NODEVIEW_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "controlplane/resource.h"
#include "controlplane/store.h"

/* What a node principal sees of the objects (docs/rbac.md): its own
 * Node (RES_F_NODE), the objects bound to it (a kind's node_field), the
 * objects those use (RES_F_NODE_USED: named in their ref_field, or by
 * an object they name), and of the other kinds what authz_check()
 * lets it read. A node's name is its certificate's principal. */

/* Whether an object of TENANT bound to NODE uses object NAME of kind K
 * (NULL TENANT or NAME: no; a store that cannot be read: no). */
int nodeview_uses(struct store *st, const char *node, const struct res_kind *k,
    const char *tenant, const char *name);

/* Whether NODE sees object NAME of kind K in TENANT, whose rendered
 * value is DOC (NULL when it is not known: a kind bound to nodes is
 * then not seen; a store that cannot be read: not seen). */
int nodeview_sees(struct store *st, const char *node, const struct res_kind *k,
    const char *tenant, const char *name, const json_t *doc);

/* The watch pump's decisions for node watchers, kept so that every
 * node watcher of a batch costs a comparison, not a parse of the change
 * (a kind bound to nodes) or a list and parse of every node-bound object
 * of the tenant (RES_F_NODE_USED) per watcher (issue 18). A change's
 * bound node comes from its immutable value and is kept per change
 * while it is in the memo (NODEVIEW_MEMO changes, a new one replacing
 * the one in its slot). Which nodes use an object depends on the store
 * now: it is kept per object for one pass (GEN: the caller's count of
 * pump passes), read when the first node watcher of the pass needs it,
 * so every change to that object in the pass is decided against that
 * one read (a time-of-check within the object's tenant: kept by its
 * key, which holds the tenant, and answered per node, so never another
 * tenant's or node's answer), and freed at the first decision of a
 * later pass. The nodes kept take at
 * most NODEVIEW_MEMO_BYTES (one copy of a node's name per object
 * however many of its objects use it); past that, or when the store
 * cannot be read, a change is decided per watcher and nothing is kept. */
#define NODEVIEW_MEMO		1024
#define NODEVIEW_MEMO_BYTES	(16u << 20)
struct nodeview_memo;

struct nodeview_memo *nodeview_memo_new(void);
void nodeview_memo_free(struct nodeview_memo *m);

/* Whether NODE's watch carries change EV (of kind K, TENANT, NAME, as
 * res_key_parse() gives them), after authz_check() passed it: a DELETE
 * of a kind bound to nodes when its label (res_delete_label()) is NODE;
 * otherwise as nodeview_sees() on the rendered value (a DELETE has
 * none), the store read in pass GEN. M may be NULL (nothing kept).
 * 1, 0, or a negative error when the store could not be read (not "not
 * seen": the caller stops before EV and decides it again later). */
int nodeview_sees_change(struct nodeview_memo *m, uint64_t gen,
    struct store *st, const struct store_event *ev, const struct res_kind *k,
    const char *tenant, const char *name, const char *node);

/* Changes decided and decided again from M, and the bytes of the nodes
 * it keeps (for tests and metrics). */
void nodeview_memo_counts(const struct nodeview_memo *m,
    unsigned long long *ret_decided, unsigned long long *ret_kept);
size_t nodeview_memo_bytes(const struct nodeview_memo *m);

/* Bounds what M keeps of the nodes using objects to BYTES instead of
 * NODEVIEW_MEMO_BYTES (for tests). */
void nodeview_memo_bound(struct nodeview_memo *m, size_t bytes);

#endif

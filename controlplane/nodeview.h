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
 * (NULL TENANT or NAME: no). */
int nodeview_uses(struct store *st, const char *node, const struct res_kind *k,
    const char *tenant, const char *name);

/* Whether NODE sees object NAME of kind K in TENANT, whose rendered
 * value is DOC (NULL when it is not known: a kind bound to nodes is
 * then not seen). */
int nodeview_sees(struct store *st, const char *node, const struct res_kind *k,
    const char *tenant, const char *name, const json_t *doc);

/* The watch pump's decisions for node watchers, kept per change so
 * that every node watcher of a batch costs a comparison, not a parse of
 * the change (a kind bound to nodes) or a list and parse of every
 * node-bound object of the tenant (RES_F_NODE_USED) per watcher (issue
 * 18). A change's bound node comes from its immutable value and is kept
 * while it is in the memo; which nodes use an object depends on the
 * store now, so it is kept for one pass (GEN: the caller's count of
 * pump passes) and decided again in the next. Bounded: NODEVIEW_MEMO
 * changes, a new one replacing the one in its slot. */
#define NODEVIEW_MEMO		1024
struct nodeview_memo;

struct nodeview_memo *nodeview_memo_new(void);
void nodeview_memo_free(struct nodeview_memo *m);

/* Whether NODE's watch carries change EV (of kind K, TENANT, NAME, as
 * res_key_parse() gives them), after authz_check() passed it: a DELETE
 * of a kind bound to nodes when its label (res_delete_label()) is NODE;
 * otherwise as nodeview_sees() on the rendered value (a DELETE has
 * none), the store read in pass GEN. M may be NULL (nothing kept). */
int nodeview_sees_change(struct nodeview_memo *m, uint64_t gen,
    struct store *st, const struct store_event *ev, const struct res_kind *k,
    const char *tenant, const char *name, const char *node);

/* Changes decided and decided again from M (for tests and metrics). */
void nodeview_memo_counts(const struct nodeview_memo *m,
    unsigned long long *ret_decided, unsigned long long *ret_kept);

#endif

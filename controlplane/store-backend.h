/* What a store backend implements. store.c validates every argument
 * (keys, sizes, flags) before calling a backend, so backends deal only
 * with storage. Not for use outside controlplane/store*.c. */
#ifndef BW_CONTROLPLANE_STORE_BACKEND_H
#define BW_CONTROLPLANE_STORE_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "controlplane/store.h"
#include "lib/hist.h"

typedef int (*store_before_commit_fn)(void *ctx, const struct store_op *ops,
    size_t n);

struct store_backend {
	const char	*name;
	void		(*close)(struct store *st);
	uint64_t	(*revision)(struct store *st);
	uint64_t	(*compacted_revision)(struct store *st);
	/* store_compacted_revision_read(): NULL where compacted_revision
	 * cannot fail (a local store). */
	int		(*compacted_revision_read)(struct store *st,
			    uint64_t *ret);
	/* store_history_revisions(): NULL where the backend keeps
	 * STORE_HISTORY_REVISIONS whatever the options say. */
	uint64_t	(*history_revisions)(struct store *st);
	int		(*get)(struct store *st, const char *key,
			    struct store_kv **ret);
	/* PREFIX is never NULL (may be ""). */
	int		(*list)(struct store *st, const char *prefix,
			    struct store_kv ***ret, size_t *ret_n,
			    uint64_t *ret_rev);
	/* store_list_range(): AFTER NULL or below PREFIX; MAX and
	 * MAX_BYTES >= 1. NULL where a backend has none (store.c then
	 * trims a whole list). */
	int		(*list_range)(struct store *st, const char *prefix,
			    const char *after, size_t max, size_t max_bytes,
			    struct store_kv ***ret, size_t *ret_n,
			    uint64_t *ret_rev);
	/* N >= 1. On entry op->rev is 0 and op->result is 0 for an op to
	 * evaluate, or the validation error of an op to skip (only without
	 * STORE_BATCH_ATOMIC). Must follow store_batch()'s contract. */
	int		(*batch)(struct store *st, struct store_op *ops,
			    size_t n, unsigned flags,
			    store_before_commit_fn before_commit, void *ctx);
	/* PREFIX is never NULL, MAX >= 1. */
	int		(*changes)(struct store *st, const char *prefix,
			    uint64_t since, size_t max,
			    struct store_event **ret, size_t *ret_n);
	/* Called with REV <= revision and REV > compacted revision as
	 * store.c saw them; the backend checks again under its write
	 * lock (another compaction may have run in between). */
	int		(*compact)(struct store *st, uint64_t rev);
	/* store_capacity() and store_maintain(); NULL where a backend
	 * has neither. */
	int		(*capacity)(struct store *st,
			    struct store_capacity *ret);
	int		(*maintain)(struct store *st);
	/* The audit outbox (store.h); NULL where a backend has none. */
	int		(*outbox_put)(struct store *st, uint64_t id,
			    const void *value, size_t len);
	int		(*outbox_remove)(struct store *st, uint64_t upto);
	int		(*outbox_trim)(struct store *st, uint64_t upto);
	int		(*outbox_list)(struct store *st, size_t max,
			    struct store_outbox_entry **ret, size_t *ret_n);
};

/* The members every backend names alike, PFX_close, PFX_get and so on
 * (all but name and capacity), for its table's initialiser. */
#define STORE_BACKEND_OPS(pfx)						\
	.close = pfx##_close,						\
	.revision = pfx##_revision,					\
	.compacted_revision = pfx##_compacted_revision,			\
	.get = pfx##_get, .list = pfx##_list,				\
	.batch = pfx##_batch, .changes = pfx##_changes,			\
	.compact = pfx##_compact, .maintain = pfx##_maintain,		\
	.outbox_put = pfx##_outbox_put,					\
	.outbox_remove = pfx##_outbox_remove,				\
	.outbox_trim = pfx##_outbox_trim,				\
	.outbox_list = pfx##_outbox_list

/* Every backend's handle starts with this, so store.c can dispatch. */
struct store {
	const struct store_backend *backend;
	/* Durations of the log flush that makes a write durable (WAL
	 * append and fdatasync, or LMDB's synced commit); the backend
	 * hist_init()s and observes it, store_flush_hist() reads it. */
	struct hist		    flush;
	/* store_set_delete_label(); NULL: no labels */
	store_label_fn		    delete_label;
};

/* The label of VALUE (LEN bytes) of KEY, about to be deleted, into BUF
 * (STORE_LABEL_MAX + 1 bytes): the labeller's, cut to a valid length,
 * or "". For the backends' writes. */
void store_delete_label(struct store *st, const char *key, const void *value,
    size_t len, char buf[STORE_LABEL_MAX + 1]);

/* Checks op->expect_rev against the current state of the key (EXISTS:
 * whether it exists, MOD_REV: its mod_rev) for an op of TYPE. Returns 0
 * if the op may be applied, else its -BW_E_* result. Shared so every
 * backend decides preconditions alike. */
int store_precondition(enum store_op_type type, uint64_t expect_rev,
    int exists, uint64_t mod_rev);

#endif

/* The control plane's state store: a revisioned key-value map with a
 * change log, behind one backend-neutral interface (LMDB embedded, etcd
 * v3 for multi-node). Every applied write bumps one global revision and
 * leaves one change-log entry at that revision, so watchers resume from
 * the revision they last saw. All functions are thread-safe: one
 * committer may write while other threads read. An acknowledged write
 * (store_batch() returned 0) is durable. */
#ifndef BW_CONTROLPLANE_STORE_H
#define BW_CONTROLPLANE_STORE_H

#include <stddef.h>
#include <stdint.h>

#define STORE_REV_ANY		0		/* no precondition */
#define STORE_REV_ABSENT	UINT64_MAX	/* key must not exist */

/* Limits every backend enforces (larger input gets -BW_E_TOOLARGE). The
 * key limit fits LMDB's default maximum key size; the value limit stays
 * under etcd's default request size. */
#define STORE_KEY_MAX		511		/* bytes, without the NUL */
#define STORE_VALUE_MAX		(1024 * 1024)	/* bytes */
/* Ops per store_batch(): a bulk apply of API_APPLY_ITEMS_MAX objects is
 * one transaction (the commit pipeline groups at most COMMIT_BATCH_MAX
 * unrelated writes). */
#define STORE_BATCH_MAX		8192
#define STORE_BATCH_BYTES_MAX	(32 * 1024 * 1024) /* keys + values per batch */

/* store_batch() flags. */
#define STORE_BATCH_ATOMIC	0x1u

struct store;

struct store_kv {
	char		*key;
	void		*value;		/* value_len bytes, then a NUL */
	size_t		 value_len;
	uint64_t	 mod_rev;	/* revision of the last put */
	uint64_t	 create_rev;	/* revision of the put that created it */
};

enum store_op_type {
	STORE_OP_PUT,
	STORE_OP_DELETE,
};

struct store_op {
	enum store_op_type	 type;
	const char		*key;
	const void		*value;		/* PUT only; may be NULL if value_len is 0 */
	size_t			 value_len;
	uint64_t		 expect_rev;	/* STORE_REV_ANY, STORE_REV_ABSENT or the required mod_rev */
	unsigned		 flags;		/* STORE_OP_RESERVE */
	int			 result;	/* out: 0 or -BW_E_* (see store_batch) */
	uint64_t		 rev;		/* out: revision assigned, 0 if not applied */
};

/* store_op flags. STORE_OP_RESERVE: a write the appliance makes to stay
 * safe (an attestation verdict: a node turning Untrusted), which may use
 * the room kept between the high-water mark and the reserve mark
 * (store_options.high_water_pct). Never for a write a client asked for. */
#define STORE_OP_RESERVE	0x1u

/* The most bytes of a delete's label (store_set_delete_label()). */
#define STORE_LABEL_MAX		63

struct store_event {
	enum store_op_type	 type;
	char			*key;
	void			*value;		/* PUT: value_len bytes then a NUL; DELETE: NULL */
	size_t			 value_len;
	uint64_t		 rev;
	/* DELETE: the label the store's labeller gave the deleted value
	 * when it was deleted ("" for none); PUT: "". */
	char			 label[STORE_LABEL_MAX + 1];
};

/* Writes into BUF (SIZE is STORE_LABEL_MAX + 1) a label for the value
 * VALUE (LEN bytes) of KEY about to be deleted, a NUL-terminated text
 * of at most STORE_LABEL_MAX bytes, or "" for none. Must be quick and
 * must not call the store: backends call it inside a write (LMDB: in
 * the write transaction, holding the writer; etcd: between the batch's
 * read and its commit). bulwarkd's, res_delete_label(), parses the
 * deleted value as JSON when its kind is bound to nodes (Instance,
 * Volume, VolumeSnapshot; up to STORE_VALUE_MAX bytes), a cost each
 * such delete adds to its commit. */
typedef void (*store_label_fn)(const char *key, const void *value,
    size_t len, char *buf, size_t size);

/* How an acknowledged write is made durable (docs/architecture.md,
 * "Store"). Both survive kill -9 and power loss. */
enum store_durability {
	/* Default. Each write transaction is appended to a preallocated
	 * write-ahead log and fdatasync()ed once; LMDB commits without
	 * syncing and is synced at checkpoints, its checkpointed snapshot
	 * kept intact until the next one. One flush per commit. */
	STORE_DURABILITY_WAL = 0,
	/* LMDB's own durable commit: data pages synced, then the meta
	 * page. Two ordered flushes per commit; no log. */
	STORE_DURABILITY_SYNC,
};

struct store_options {
	size_t	map_size;	/* LMDB map (maximum database) size in bytes; 0: 1 GiB */
	enum store_durability durability;
	/* WAL mode: a checkpoint is taken before the next write once the
	 * log holds this many bytes (0: 8 MiB), LMDB has allocated this
	 * many pages since the last one (0: 4096), or this many ms passed
	 * with writes (0: 1000). Tests lower or raise them. */
	size_t	checkpoint_bytes;
	size_t	checkpoint_pages;
	unsigned checkpoint_ms;
	/* Change-log retention, applied by store_maintain(): the log keeps
	 * at most history_revisions revisions (0: STORE_HISTORY_REVISIONS)
	 * and at most history_bytes of pages (0: STORE_HISTORY_BYTES, and
	 * never more than an eighth of the map); older entries are dropped
	 * and the compaction horizon moves past them. */
	uint64_t history_revisions;
	size_t	history_bytes;
	/* Writes that add data (puts) are refused with -BW_E_NOSPACE once
	 * the pages in use reach this percentage of the map (0:
	 * STORE_HIGH_WATER_PCT); deletes and compaction still run, so the
	 * store can always be emptied. 50..99. Puts flagged
	 * STORE_OP_RESERVE are refused only from the reserve mark, halfway
	 * between this mark and a full map (STORE_RESERVE_PCT()), so the
	 * room between them is kept for the appliance's own safety
	 * writes. In one batch, puts after the first are also refused once
	 * twice their bytes (value and change-log copy) would reach the
	 * mark: one batch overshoots a mark by one put at most. */
	unsigned high_water_pct;
};

#define STORE_HISTORY_REVISIONS	10000
#define STORE_HISTORY_BYTES	((size_t)16 << 20)
#define STORE_HIGH_WATER_PCT	90u
/* The reserve mark for high-water mark HW: 85 gives 93, 90 gives 95. */
#define STORE_RESERVE_PCT(hw)	((hw) + (100u - (hw) + 1u) / 2u)

/* Opens (creating if needed, mode 0700) the LMDB store in directory DIR
 * and stores it in *ret. OPTS may be NULL. Only one opener at a time may
 * hold a store directory: a second open, in this or another process,
 * fails with -EBUSY. On failure returns a negative error and, if RET_ERR
 * is not NULL, an allocated message in *ret_err. */
int store_open_lmdb(const char *dir, const struct store_options *opts,
    struct store **ret, char **ret_err);

/* Sets the function that labels a deleted value in the change log
 * (NULL: none, every delete's label is ""): the change log keeps for
 * each delete at most STORE_LABEL_MAX bytes of what the value was,
 * rather than the value, so a reader of the log can tell whose it was
 * (the control plane keeps the node an object was bound to). Set it
 * before the first write; deletes committed without it carry "". */
void store_set_delete_label(struct store *st, store_label_fn fn);

/* Closes ST (NULL is fine). No other call on ST may be running. */
void store_close(struct store *st);

/* Name of the backend ("lmdb"), for logs and metrics. */
const char *store_backend_name(struct store *st);

/* Returns 0 if KEY is acceptable to the store: 1..STORE_KEY_MAX bytes,
 * no control characters (bytes below 0x20 and 0x7f). Returns
 * -BW_E_INVALID or -BW_E_TOOLARGE otherwise. */
int store_key_check(const char *key);

/* Current global revision (0 for an empty store): the revision of the
 * last committed write. A commit in flight on another thread may be
 * visible to store_list() a moment before it shows here. */
uint64_t store_revision(struct store *st);

/* Revision up to which the change log was compacted (0 if never). */
uint64_t store_compacted_revision(struct store *st);

/* The same, read now with its error: a store that could not be asked
 * (an etcd cluster out of reach) is a negative error, not the last
 * horizon seen (0 before the first read). */
int store_compacted_revision_read(struct store *st, uint64_t *ret_rev);

/* The change-log retention store_maintain() applies: how many
 * revisions the log keeps (store_options.history_revisions, or the
 * backend's fixed STORE_HISTORY_REVISIONS). */
uint64_t store_history_revisions(struct store *st);

/* Looks KEY up. Returns 0 and a copy in *ret (free with store_kv_free),
 * -BW_E_NOTFOUND, or another negative error. */
int store_get(struct store *st, const char *key, struct store_kv **ret);

/* Lists the keys starting with PREFIX ("" or NULL: all keys) from one
 * consistent snapshot, sorted by key bytes. *ret (free with
 * store_kv_array_free) holds *ret_n entries (NULL if none); *ret_rev,
 * if RET_REV is not NULL, is the revision of that snapshot. */
int store_list(struct store *st, const char *prefix, struct store_kv ***ret,
    size_t *ret_n, uint64_t *ret_rev);

/* Like store_list(), one stretch of it: the keys starting with PREFIX
 * that sort after AFTER (NULL: from the first), at most MAX (>= 1) of
 * them, and no more once their values take MAX_BYTES (>= 1; the entry
 * that reaches it is the last). A page of a long list costs that page,
 * not the whole list. AFTER, when given, must start with PREFIX. */
int store_list_range(struct store *st, const char *prefix, const char *after,
    size_t max, size_t max_bytes, struct store_kv ***ret, size_t *ret_n,
    uint64_t *ret_rev);

/* Puts V (LEN bytes) at KEY if EXPECT_REV holds: STORE_REV_ANY always,
 * STORE_REV_ABSENT if KEY does not exist (else -BW_E_EXISTS), a revision
 * if KEY's mod_rev equals it (-BW_E_CONFLICT if not, -BW_E_NOTFOUND if
 * KEY does not exist). Stores the new revision in *ret_rev if RET_REV is
 * not NULL. Durable when it returns 0. */
int store_put(struct store *st, const char *key, const void *v, size_t len,
    uint64_t expect_rev, uint64_t *ret_rev);

/* Deletes KEY if EXPECT_REV holds (STORE_REV_ANY or its mod_rev;
 * STORE_REV_ABSENT is -BW_E_INVALID). -BW_E_NOTFOUND if KEY does not
 * exist. Stores the revision of the deletion in *ret_rev. */
int store_delete(struct store *st, const char *key, uint64_t expect_rev,
    uint64_t *ret_rev);

/* Applies OPS in ONE durable write transaction, in order: each op sees
 * the effect of the ops before it. Each applied op bumps the global
 * revision by one and gets it in op->rev; op->result gets 0 or the
 * reason it was not applied (-BW_E_CONFLICT, -BW_E_EXISTS,
 * -BW_E_NOTFOUND, or -BW_E_INVALID / -BW_E_TOOLARGE for a bad key or
 * value).
 *
 * FLAGS 0: every op is checked and applied on its own (group commit of
 * unrelated writers); returns 0 when committed, even if some ops failed.
 * STORE_BATCH_ATOMIC: all or nothing; if any op fails nothing is applied
 * and store_batch returns -BW_E_CONFLICT for a failed precondition (or
 * the validation error of a bad op), op->result telling which failed.
 *
 * BEFORE_COMMIT (may be NULL) is called once, with every op's result and
 * revision staged, before the durable commit, whenever there is a commit
 * to make (always without STORE_BATCH_ATOMIC, so it can also record the
 * ops that failed). If it returns < 0 nothing is committed and
 * store_batch returns that value: no audit record, no mutation. It runs
 * while the store's write lock is held: it may read the store but must
 * not write to it (that would deadlock).
 *
 * Whenever store_batch returns < 0 nothing was applied and every op->rev
 * is 0. At most STORE_BATCH_MAX ops and STORE_BATCH_BYTES_MAX bytes of
 * keys and values (else -BW_E_TOOLARGE); N == 0 does nothing. */
int store_batch(struct store *st, struct store_op *ops, size_t n,
    unsigned flags,
    int (*before_commit)(void *ctx, const struct store_op *ops, size_t n),
    void *ctx);

/* Returns the changes with revision > SINCE whose key starts with PREFIX
 * ("" or NULL: all), at most MAX (>= 1), ordered by revision, in *ret
 * (free with store_events_free; NULL if none) and *ret_n. Delete events
 * carry no value, only their label (store_set_delete_label()). Returns
 * -BW_E_COMPACTED if SINCE is below the compaction horizon (some changes
 * after SINCE are gone). */
int store_changes(struct store *st, const char *prefix, uint64_t since,
    size_t max, struct store_event **ret, size_t *ret_n);

/* Drops change-log entries with revision <= REV and moves the horizon to
 * REV (store_maintain() does it by the retention policy). REV at or
 * below the horizon does nothing; above the current revision it is
 * -BW_E_INVALID. Data (current values) is untouched. */
int store_compact(struct store *st, uint64_t rev);

/* How full the store is (store_capacity()). Figures are from the last
 * store_maintain() or open, so reading them costs nothing. */
struct store_capacity {
	uint64_t	map_bytes;	/* the most the store can hold */
	uint64_t	file_bytes;	/* allocated in the data file (its high-water) */
	uint64_t	used_bytes;	/* allocated less free for reuse */
	uint64_t	log_bytes;	/* of used_bytes, the change log */
	uint64_t	revision;
	uint64_t	compacted;	/* compaction horizon */
	uint64_t	compactions;	/* compaction transactions since open */
	uint64_t	refused;	/* puts refused past the high-water mark */
	unsigned	used_pct;	/* used_bytes of map_bytes, rounded up */
	unsigned	high_water_pct;
	unsigned	reserve_pct;	/* reserve mark: STORE_OP_RESERVE puts */
	int		writable;	/* 0: past the high-water mark */
};

/* Fills *RET. Returns 0, or -ENOTSUP for a backend without figures. */
int store_capacity(struct store *st, struct store_capacity *ret);

/* The histogram of the store's log flushes (seconds), for /metrics;
 * valid while ST is open. */
struct hist;
const struct hist *store_flush_hist(struct store *st);

/* Housekeeping after writes (the commit pipeline calls it after each
 * batch): refreshes the capacity figures and the high-water state and,
 * when the change log is past the retention of store_options by more
 * than an eighth, drops its oldest entries down to the retention, at
 * most STORE_COMPACT_CHUNK entries (and about 64 MiB of them) in one
 * short write transaction.
 * Returns 1 when more remains to drop (call again), 0 when the log is
 * within its retention, or a negative error. */
#define STORE_COMPACT_CHUNK	4096
int store_maintain(struct store *st);

/* The audit outbox: numbered opaque entries that commit atomically with
 * a batch, so that a mutation and the record describing it become
 * durable in one transaction (controlplane/commit.c keeps the audit
 * records of acknowledged mutations there until the trail has them).
 * IDs are chosen by the caller, unique, and list in increasing order. */
struct store_outbox_entry {
	uint64_t	 id;
	void		*value;
	size_t		 len;
};

#define STORE_OUTBOX_VALUE_MAX	(1024 * 1024)

/* Only from a store_batch() BEFORE_COMMIT hook, on its thread: adds
 * entry ID (VALUE, LEN bytes, copied) to the batch's transaction, which
 * then commits even if none of its ops applied. -BW_E_INVALID outside a
 * hook, -BW_E_EXISTS for a used ID, -BW_E_TOOLARGE past
 * STORE_OUTBOX_VALUE_MAX, -ENOTSUP for a backend without an outbox. */
int store_outbox_put(struct store *st, uint64_t id, const void *value,
    size_t len);

/* Only from a BEFORE_COMMIT hook: deletes the entries with id <= UPTO in
 * the batch's transaction. */
int store_outbox_remove(struct store *st, uint64_t upto);

/* Outside any batch: deletes the entries with id <= UPTO in a durable
 * transaction of its own (none when there is nothing to delete). */
int store_outbox_trim(struct store *st, uint64_t upto);

/* Returns up to MAX committed entries, lowest id first, in *RET (free
 * with store_outbox_entries_free; NULL if none) and *RET_N. */
int store_outbox_list(struct store *st, size_t max,
    struct store_outbox_entry **ret, size_t *ret_n);
void store_outbox_entries_free(struct store_outbox_entry *e, size_t n);

/* Destructors; all accept NULL. */
void store_kv_free(struct store_kv *kv);
void store_kv_array_free(struct store_kv **a, size_t n);
void store_events_free(struct store_event *e, size_t n);

#endif

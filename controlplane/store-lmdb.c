/* LMDB backend of the state store (the embedded default).
 *
 * On-disk layout (format 2), all in directory DIR:
 *
 *   DIR/store.lock  empty file; an exclusive flock() on it makes the
 *                   directory single-opener (LMDB's own POSIX locks break
 *                   when one process opens an environment twice).
 *   DIR/data.mdb    the LMDB environment, three named sub-databases:
 *   DIR/lock.mdb    LMDB's reader table and writer mutex.
 *
 *   "meta"  small fixed records, updated in the same transaction as the
 *           data they describe:
 *             "format"     u32 big-endian, 2; format 1 (before
 *                          b8e09bb) has no label after a delete's key.
 *                          This build opens both and marks a format-1
 *                          store 2 in the write transaction of its first
 *                          delete with a label (logged like any write),
 *                          so an older build refuses the store ("format
 *                          2, this build reads format 1") rather than
 *                          reading the labels as damage; a store with
 *                          no labelled delete stays format 1, readable
 *                          by the builds before
 *             "revision"   u64 big-endian, global revision = revision of
 *                          the last applied op (0: empty store)
 *             "compacted"  u64 big-endian, change-log horizon: every
 *                          entry with revision <= it has been dropped
 *   "kv"    key (the store key bytes, no NUL, 1..STORE_KEY_MAX) ->
 *             u64 BE create_rev | u64 BE mod_rev | value bytes
 *   "log"   change log, key u64 BE revision (so byte order is revision
 *           order and appends go to the end of the B-tree) ->
 *             u8 type ('P' put, 'D' delete) | u16 BE key length |
 *             key bytes | value bytes (put) or the deleted value's
 *             label, 0..STORE_LABEL_MAX bytes (delete;
 *             store_set_delete_label())
 *
 * Invariants, checked at open: the log holds exactly one entry for each
 * revision in (compacted, revision]; compacted <= revision.
 *
 * Durability (docs/architecture.md, "The store"). WAL mode (default):
 * every write transaction's puts and deletes are recorded as they are
 * made, appended as one record to store.wal and fdatasync()ed before
 * mdb_txn_commit(), which runs with MDB_NOSYNC; checkpoints sync LMDB
 * and pin the synced snapshot with a read transaction, so recovery can
 * return LMDB to it (meta pages from the log header) and replay the
 * log. Sync mode: no MDB_NOSYNC, MDB_NOMETASYNC, MDB_WRITEMAP or
 * MDB_MAPASYNC, so mdb_txn_commit() returns only after the data pages
 * and then the meta page are synced. Either way a write is acknowledged
 * only once durable, and every write transaction updates "revision",
 * the data and the log together, so a crash leaves either all of a
 * batch or none of it.
 *
 * Threads: LMDB serialises write transactions on its writer mutex, and
 * MDB_NOTLS ties reader slots to transactions rather than threads, so
 * any thread may read while the committer writes. Every call uses its
 * own short transaction; none is shared between threads. */
#include "config.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "controlplane/store-backend.h"
#include "controlplane/store-lmdb.h"
#include "controlplane/store-wal.h"
#include "controlplane/store.h"
#include "lib/buf.h"
#include "lib/clock.h"
#include "lib/err.h"
#include "lib/fileio.h"
#include "lib/json.h"
#include "lib/log.h"
#include "lib/macro.h"

#define LMDB_FORMAT		2
#define LMDB_FORMAT_OLDEST	1	/* opened; marked LMDB_FORMAT lazily */
#define LMDB_DEFAULT_MAP	((size_t)1 << 30)
#define LMDB_MIN_MAP		((size_t)256 << 10)
#define LMDB_MAX_READERS	126
#define LMDB_KV_HDR		16	/* create_rev, mod_rev */
#define LMDB_LOG_HDR		3	/* type, key length */
#define LMDB_COMPACT_CHUNK	10000	/* log entries dropped per transaction */
/* store_maintain(): at most STORE_COMPACT_CHUNK entries and about this
 * many bytes of them per transaction, so its free-list record and the
 * time it holds the writer stay small. */
#define LMDB_COMPACT_CHUNK_BYTES ((uint64_t)64 << 20)
#define LMDB_PREALLOC_CHUNK	((off_t)2 << 20)	/* zeros written ahead */
#define LMDB_PREALLOC_LOW	((off_t)1 << 20)	/* extend below this */

#define LMDB_META_FORMAT	"format"
#define LMDB_META_REVISION	"revision"
#define LMDB_META_COMPACTED	"compacted"
#define LMDB_META_OUTBOX	"outbox"	/* + u64 BE id */
#define LMDB_OUTBOX_PLEN	(sizeof(LMDB_META_OUTBOX) - 1)
#define LMDB_OUTBOX_KLEN	(LMDB_OUTBOX_PLEN + sizeof(uint64_t))

/* WAL mode (store-wal.h): checkpoint thresholds by default. */
#define LMDB_CKPT_BYTES		((size_t)8 << 20)
#define LMDB_CKPT_PAGES		((size_t)4096)
#define LMDB_CKPT_MS		1000u
/* Pages LMDB may write between two writeback kicks (512 KiB). */
#define LMDB_KICK_PAGES		((size_t)128)
/* A record entry: u8 database, u8 'P' or 'D', u16 zero, u32 key
 * length, u32 value length, key, value. */
#define LMDB_REC_ENTRY_HDR	12
enum { LMDB_DB_META = 0, LMDB_DB_KV = 1, LMDB_DB_LOG = 2 };

struct store_lmdb {
	struct store	 base;		/* first: store.c casts to it */
	MDB_env		*env;
	MDB_dbi		 meta, kv, log;
	int		 lock_fd;
	/* The store's, read at open; set to LMDB_FORMAT once the write
	 * transaction marking it (marking: lmdb_format_mark()) commits.
	 * Both only under wmu. */
	uint32_t	 format;
	bool		 marking;
	/* The batch transaction while its before_commit hook runs, and
	 * the thread running it: the outbox calls join that transaction
	 * and are refused from any other thread. */
	MDB_txn		*hook_txn;
	pthread_t	 hook_thread;
	bool		 outbox_dirty;
	/* Copies of the committed "revision" and "compacted", written
	 * only by the committing thread after a successful commit, read
	 * lock-free by anyone. */
	uint64_t	 rev;
	uint64_t	 compacted;

	/* WAL mode (NULL in sync mode). wmu serialises write
	 * transactions with checkpoints; pin is a read transaction on the
	 * last checkpoint's snapshot, so LMDB reuses none of its pages
	 * until the next checkpoint is durable; rec collects the writes of
	 * the open write transaction for the log. */
	struct store_wal *wal;
	pthread_mutex_t	 wmu;
	MDB_txn		*pin;
	bool		 recording;
	struct {
		struct bw_buf	 buf;
		bool		 failed;
	}		 rec;
	size_t		 ckpt_bytes, ckpt_pages;
	unsigned	 ckpt_ms;
	uint64_t	 ckpt_at_ms;	/* CLOCK_MONOTONIC of the last one */
	size_t		 ckpt_pgno;	/* LMDB's last page then */
	size_t		 kick_pgno;	/* ... at the last writeback kick */
	bool		 wrote;		/* a write since then */
	bool		 wmu_init;
	bool		 ready;		/* opened (and recovered) */
	int		 dfd;		/* the store directory */

	/* Retention and capacity (store_maintain). writable is read
	 * lock-free by the committing thread; cap under cap_mu. */
	uint64_t	 hist_revs;
	size_t		 hist_bytes;
	unsigned	 hw_pct, reserve_pct;
	bool		 writable, reserve_writable;
	uint64_t	 refused;	/* atomic */
	pthread_mutex_t	 cap_mu;
	bool		 cap_mu_init;
	struct store_capacity cap;
};

static struct store_lmdb *
lmdb_of(struct store *st)
{
	return (struct store_lmdb *)st;
}

/* Maps an LMDB return code to our negative errors. */
static int
lmdb_err(int rc)
{
	switch (rc) {
	case MDB_SUCCESS:
		return 0;
	case MDB_NOTFOUND:
		return -BW_E_NOTFOUND;
	case MDB_KEYEXIST:
		return -BW_E_EXISTS;
	case MDB_MAP_FULL:
		return -ENOSPC;
	case MDB_TXN_FULL:
	case MDB_BAD_VALSIZE:
		return -BW_E_TOOLARGE;
	case MDB_READERS_FULL:
	case MDB_MAP_RESIZED:
		return -EAGAIN;
	case MDB_CORRUPTED:
	case MDB_PAGE_NOTFOUND:
	case MDB_INVALID:
	case MDB_VERSION_MISMATCH:
	case MDB_INCOMPATIBLE:
		return -BW_E_CORRUPT;
	default:
		return rc > 0 ? -rc : -EIO;
	}
}

/* How a cursor walk ended: MDB_NOTFOUND (past the last entry) is not an
 * error. */
static int
lmdb_scan_err(int rc)
{
	return rc == MDB_NOTFOUND ? 0 : lmdb_err(rc);
}

static void
be64_put(void *p, uint64_t v)
{
	v = htobe64(v);
	memcpy(p, &v, sizeof(v));
}

static uint64_t
be64_get(const void *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return be64toh(v);
}

static int
lmdb_meta_get_u64(struct store_lmdb *s, MDB_txn *txn, const char *name,
    uint64_t *ret)
{
	MDB_val	 k = { strlen(name), (void *)name }, v;
	int	 rc;

	if ((rc = mdb_get(txn, s->meta, &k, &v)) != 0)
		return lmdb_err(rc);
	if (v.mv_size != sizeof(uint64_t))
		return -BW_E_CORRUPT;
	*ret = be64_get(v.mv_data);
	return 0;
}

/* Adds one write of the open write transaction to the record the log
 * gets before it commits. Only between lmdb_wbegin and lmdb_wend; a
 * failed allocation fails the commit, never the record silently. */
static void
lmdb_rec_add(struct store_lmdb *s, MDB_dbi dbi, char op, const MDB_val *k,
    const MDB_val *v)
{
	size_t	 vlen = op == 'P' && v ? v->mv_size : 0;
	size_t	 need = LMDB_REC_ENTRY_HDR + k->mv_size + vlen;
	unsigned char *p;
	uint32_t u;

	if (!s->wal || !s->recording || s->rec.failed)
		return;
	if (bw_buf_reserve(&s->rec.buf, need) < 0) {
		s->rec.failed = true;
		return;
	}
	p = (unsigned char *)s->rec.buf.p + s->rec.buf.len;
	p[0] = dbi == s->kv ? LMDB_DB_KV : dbi == s->log ? LMDB_DB_LOG :
	    LMDB_DB_META;
	p[1] = (unsigned char)op;
	p[2] = p[3] = 0;
	u = htole32((uint32_t)k->mv_size);
	memcpy(p + 4, &u, 4);
	u = htole32((uint32_t)vlen);
	memcpy(p + 8, &u, 4);
	memcpy(p + LMDB_REC_ENTRY_HDR, k->mv_data, k->mv_size);
	if (vlen)
		memcpy(p + LMDB_REC_ENTRY_HDR + k->mv_size, v->mv_data, vlen);
	bw_buf_advance(&s->rec.buf, need);
}

/* mdb_put() and mdb_del() of a write transaction, recorded for the log.
 * Not for MDB_RESERVE: those callers record once the value is filled. */
static int
lmdb_wput(struct store_lmdb *s, MDB_txn *txn, MDB_dbi dbi, MDB_val *k,
    MDB_val *v, unsigned flags)
{
	int rc = mdb_put(txn, dbi, k, v, flags);

	if (rc == 0)
		lmdb_rec_add(s, dbi, 'P', k, v);
	return rc;
}

static int
lmdb_wdel(struct store_lmdb *s, MDB_txn *txn, MDB_dbi dbi, MDB_val *k)
{
	int rc = mdb_del(txn, dbi, k, NULL);

	if (rc == 0)
		lmdb_rec_add(s, dbi, 'D', k, NULL);
	return rc;
}

/* mdb_cursor_del() of the entry under CUR, recorded by key. */
static int
lmdb_wcursor_del(struct store_lmdb *s, MDB_cursor *cur, MDB_dbi dbi,
    MDB_val *k)
{
	int rc;

	/* The key lives in the page the delete may change: record first,
	 * and drop the entry again if the delete fails (the transaction
	 * is then aborted anyway). */
	lmdb_rec_add(s, dbi, 'D', k, NULL);
	if ((rc = mdb_cursor_del(cur, 0)) != 0)
		s->rec.failed = true;
	return rc;
}

static int
lmdb_meta_put_u64(struct store_lmdb *s, MDB_txn *txn, const char *name,
    uint64_t val)
{
	unsigned char buf[sizeof(uint64_t)];
	MDB_val	 k = { strlen(name), (void *)name }, v = { sizeof(buf), buf };

	be64_put(buf, val);
	return lmdb_err(lmdb_wput(s, txn, s->meta, &k, &v, 0));
}

/* Copies LMDB key bytes into a NUL-terminated string, refusing what a
 * valid store key cannot contain. */
static int
lmdb_key_dup(const void *p, size_t len, char **ret)
{
	char	*key;

	if (len == 0 || len > STORE_KEY_MAX || memchr(p, 0, len))
		return -BW_E_CORRUPT;
	if (!(key = malloc(len + 1)))
		return -ENOMEM;
	memcpy(key, p, len);
	key[len] = 0;
	*ret = key;
	return 0;
}

/* Copies LEN value bytes and appends a NUL so text values are C
 * strings. */
static int
lmdb_value_dup(const void *p, size_t len, void **ret)
{
	char	*v;

	if (!(v = malloc(len + 1)))
		return -ENOMEM;
	if (len)
		memcpy(v, p, len);
	v[len] = 0;
	*ret = v;
	return 0;
}

static int
lmdb_kv_decode(const MDB_val *k, const MDB_val *v, struct store_kv **ret)
{
	struct store_kv *kv;
	int	 r;

	if (v->mv_size < LMDB_KV_HDR || v->mv_size - LMDB_KV_HDR > STORE_VALUE_MAX)
		return -BW_E_CORRUPT;
	if (!(kv = calloc(1, sizeof(*kv))))
		return -ENOMEM;
	kv->create_rev = be64_get(v->mv_data);
	kv->mod_rev = be64_get((const char *)v->mv_data + 8);
	kv->value_len = v->mv_size - LMDB_KV_HDR;
	if ((r = lmdb_key_dup(k->mv_data, k->mv_size, &kv->key)) < 0 ||
	    (r = lmdb_value_dup((const char *)v->mv_data + LMDB_KV_HDR,
	    kv->value_len, &kv->value)) < 0) {
		store_kv_free(kv);
		return r;
	}
	*ret = kv;
	return 0;
}

/* Decodes a change-log entry. PREFIX filters: returns 0 without filling
 * *ev when the key does not start with it, 1 when *ev was filled. */
static int
lmdb_event_decode(const MDB_val *k, const MDB_val *v, const char *prefix,
    size_t plen, struct store_event *ev)
{
	const unsigned char *p = v->mv_data;
	size_t	 klen, vlen;
	int	 r;

	if (k->mv_size != sizeof(uint64_t) || v->mv_size < LMDB_LOG_HDR)
		return -BW_E_CORRUPT;
	klen = (size_t)p[1] << 8 | p[2];
	if (klen > v->mv_size - LMDB_LOG_HDR)
		return -BW_E_CORRUPT;
	vlen = v->mv_size - LMDB_LOG_HDR - klen;
	if ((p[0] != 'P' && p[0] != 'D') ||
	    (p[0] == 'D' && vlen > STORE_LABEL_MAX) || vlen > STORE_VALUE_MAX)
		return -BW_E_CORRUPT;
	if (klen < plen || memcmp(p + LMDB_LOG_HDR, prefix, plen) != 0)
		return 0;
	memset(ev, 0, sizeof(*ev));
	ev->rev = be64_get(k->mv_data);
	ev->type = p[0] == 'P' ? STORE_OP_PUT : STORE_OP_DELETE;
	if ((r = lmdb_key_dup(p + LMDB_LOG_HDR, klen, &ev->key)) < 0)
		return r;
	if (ev->type == STORE_OP_PUT) {
		ev->value_len = vlen;
		r = lmdb_value_dup(p + LMDB_LOG_HDR + klen, vlen, &ev->value);
		if (r < 0) {
			free(ev->key);
			ev->key = NULL;
			return r;
		}
	} else if (vlen)
		memcpy(ev->label, p + LMDB_LOG_HDR + klen, vlen);
	return 1;
}

int
store_lmdb_event_decode(const void *key, size_t klen, const void *value,
    size_t vlen, const char *prefix, struct store_event *ev)
{
	MDB_val k = { .mv_size = klen, .mv_data = (void *)key };
	MDB_val v = { .mv_size = vlen, .mv_data = (void *)value };

	return lmdb_event_decode(&k, &v, prefix, strlen(prefix), ev);
}

static uint64_t
lmdb_revision(struct store *st)
{
	return __atomic_load_n(&lmdb_of(st)->rev, __ATOMIC_ACQUIRE);
}

static uint64_t
lmdb_compacted_revision(struct store *st)
{
	return __atomic_load_n(&lmdb_of(st)->compacted, __ATOMIC_ACQUIRE);
}

static int
lmdb_get(struct store *st, const char *key, struct store_kv **ret)
{
	struct store_lmdb *s = lmdb_of(st);
	MDB_txn	*txn = NULL;
	MDB_val	 k = { strlen(key), (void *)key }, v;
	int	 rc;

	if ((rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn)) != 0)
		return lmdb_err(rc);
	rc = mdb_get(txn, s->kv, &k, &v);
	rc = rc ? lmdb_err(rc) : lmdb_kv_decode(&k, &v, ret);
	mdb_txn_abort(txn);
	return rc;
}

/* Grows *A (of element size SZ, capacity *CAP) to hold at least N + 1
 * elements. */
static int
lmdb_grow(void **a, size_t *cap, size_t n, size_t sz)
{
	size_t	 ncap;
	void	*p;

	if (n < *cap)
		return 0;
	ncap = *cap ? *cap * 2 : 16;
	if (ncap < *cap || ncap > SIZE_MAX / sz)
		return -ENOMEM;
	if (!(p = realloc(*a, ncap * sz)))
		return -ENOMEM;
	*a = p;
	*cap = ncap;
	return 0;
}

/* Begins a read-only transaction *RET_TXN with a cursor *RET_CUR on DBI;
 * end both with lmdb_abort(), also after a failure. */
static int
lmdb_read_begin(struct store_lmdb *s, MDB_dbi dbi, MDB_txn **ret_txn,
    MDB_cursor **ret_cur)
{
	int rc;

	if ((rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, ret_txn)) != 0)
		return lmdb_err(rc);
	return lmdb_err(mdb_cursor_open(*ret_txn, dbi, ret_cur));
}

/* Closes CUR and aborts TXN, either of which may be NULL. */
static void
lmdb_abort(MDB_txn *txn, MDB_cursor *cur)
{
	if (cur)
		mdb_cursor_close(cur);
	if (txn)
		mdb_txn_abort(txn);
}

static int
lmdb_list_range(struct store *st, const char *prefix, const char *after,
    size_t max, size_t max_bytes, struct store_kv ***ret, size_t *ret_n,
    uint64_t *ret_rev)
{
	struct store_lmdb *s = lmdb_of(st);
	struct store_kv **a = NULL;
	MDB_cursor *cur = NULL;
	MDB_txn	*txn = NULL;
	size_t	 plen = strlen(prefix), n = 0, cap = 0, bytes = 0;
	MDB_val	 k = { plen, (void *)prefix }, v;
	uint64_t rev;
	int	 rc, r;

	if (after)
		k = (MDB_val){ strlen(after), (void *)after };
	if ((r = lmdb_read_begin(s, s->kv, &txn, &cur)) < 0 ||
	    (r = lmdb_meta_get_u64(s, txn, LMDB_META_REVISION, &rev)) < 0)
		goto out;
	rc = mdb_cursor_get(cur, &k, &v, k.mv_size ? MDB_SET_RANGE : MDB_FIRST);
	/* MDB_SET_RANGE lands on AFTER itself when it exists */
	if (rc == 0 && after && k.mv_size == strlen(after) &&
	    memcmp(k.mv_data, after, k.mv_size) == 0)
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	for (; rc == 0 && (!max || n < max) && (!max_bytes ||
	    bytes < max_bytes); rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size < plen || memcmp(k.mv_data, prefix, plen) != 0)
			break;
		if ((r = lmdb_grow((void **)&a, &cap, n, sizeof(*a))) < 0)
			goto out;
		if ((r = lmdb_kv_decode(&k, &v, &a[n])) < 0)
			goto out;
		bytes += a[n++]->value_len;
	}
	if ((r = lmdb_scan_err(rc)) < 0)
		goto out;
	*ret = TAKE_PTR(a);
	*ret_n = n;
	*ret_rev = rev;
	r = 0;
out:
	lmdb_abort(txn, cur);
	store_kv_array_free(a, n);
	return r;
}

static int
lmdb_list(struct store *st, const char *prefix, struct store_kv ***ret,
    size_t *ret_n, uint64_t *ret_rev)
{
	return lmdb_list_range(st, prefix, NULL, 0, 0, ret, ret_n, ret_rev);
}

/* Writes the "format" record, LMDB_FORMAT, recorded for the log.
 * Returns an LMDB code. */
static int
lmdb_format_put(struct store_lmdb *s, MDB_txn *txn)
{
	unsigned char fmt[4] = { 0, 0, 0, LMDB_FORMAT };
	MDB_val	 k = { strlen(LMDB_META_FORMAT), (void *)LMDB_META_FORMAT },
		 v = { sizeof(fmt), fmt };

	return lmdb_wput(s, txn, s->meta, &k, &v, 0);
}

/* Before the first labelled delete of an older store: marks it
 * LMDB_FORMAT in the same write transaction TXN, so a build of format 1
 * refuses the store at open instead of reading the label as damage.
 * Lazy, so a store without labels stays readable by such a build (after
 * a failed trial boot, say); in the transaction, so in WAL mode the log
 * record carries it and recovery replays it with the delete (an
 * unlogged commit under MDB_NOSYNC could be lost, or torn, on a power
 * cut). s->format follows once the commit succeeds (lmdb_batch()).
 * Returns an LMDB code. */
static int
lmdb_format_mark(struct store_lmdb *s, MDB_txn *txn)
{
	int rc;

	if (s->format == LMDB_FORMAT || s->marking)
		return 0;
	if ((rc = lmdb_format_put(s, txn)) == 0)
		s->marking = true;
	return rc;
}

/* Evaluates OP against the state in TXN and, if its precondition holds,
 * applies it at revision REV (data and log entry). Sets op->result.
 * Returns < 0 only for a storage failure, which dooms the transaction. */
static int
lmdb_apply(struct store_lmdb *s, MDB_txn *txn, struct store_op *op,
    uint64_t rev)
{
	size_t	 klen = strlen(op->key);
	MDB_val	 k = { klen, (void *)op->key }, v, lk, lv;
	unsigned char rkey[sizeof(uint64_t)], *p;
	uint64_t create_rev = rev, mod_rev = 0;
	char	 label[STORE_LABEL_MAX + 1] = "";
	size_t	 lablen = 0;
	bool	 exists;
	int	 rc;

	rc = mdb_get(txn, s->kv, &k, &v);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return lmdb_err(rc);
	exists = rc == 0;
	if (exists) {
		if (v.mv_size < LMDB_KV_HDR)
			return -BW_E_CORRUPT;
		create_rev = be64_get(v.mv_data);
		mod_rev = be64_get((const char *)v.mv_data + 8);
	}
	op->result = store_precondition(op->type, op->expect_rev, exists,
	    mod_rev);
	if (op->result < 0)
		return 0;

	if (op->type == STORE_OP_PUT) {
		v.mv_size = LMDB_KV_HDR + op->value_len;
		if ((rc = mdb_put(txn, s->kv, &k, &v, MDB_RESERVE)) != 0)
			return lmdb_err(rc);
		be64_put(v.mv_data, create_rev);
		be64_put((char *)v.mv_data + 8, rev);
		if (op->value_len)
			memcpy((char *)v.mv_data + LMDB_KV_HDR, op->value,
			    op->value_len);
		lmdb_rec_add(s, s->kv, 'P', &k, &v);
	} else {
		/* labelled from the value as it was, read before the
		 * delete frees its page */
		store_delete_label(&s->base, op->key,
		    (const char *)v.mv_data + LMDB_KV_HDR,
		    v.mv_size - LMDB_KV_HDR, label);
		lablen = strlen(label);
		if ((rc = lmdb_wdel(s, txn, s->kv, &k)) != 0)
			return lmdb_err(rc);
		if (lablen && (rc = lmdb_format_mark(s, txn)) != 0)
			return lmdb_err(rc);
	}

	be64_put(rkey, rev);
	lk.mv_size = sizeof(rkey);
	lk.mv_data = rkey;
	lv.mv_size = LMDB_LOG_HDR + klen +
	    (op->type == STORE_OP_PUT ? op->value_len : lablen);
	/* MDB_APPEND: revisions only grow, and LMDB refuses (KEYEXIST) an
	 * append that is not past the last key, which would mean the log
	 * and the revision counter disagree. */
	rc = mdb_put(txn, s->log, &lk, &lv, MDB_RESERVE | MDB_APPEND);
	if (rc == MDB_KEYEXIST)
		return -BW_E_CORRUPT;
	if (rc != 0)
		return lmdb_err(rc);
	p = lv.mv_data;
	p[0] = op->type == STORE_OP_PUT ? 'P' : 'D';
	p[1] = (unsigned char)(klen >> 8);
	p[2] = (unsigned char)klen;
	memcpy(p + LMDB_LOG_HDR, op->key, klen);
	if (op->type == STORE_OP_PUT && op->value_len)
		memcpy(p + LMDB_LOG_HDR + klen, op->value, op->value_len);
	else if (lablen)
		memcpy(p + LMDB_LOG_HDR + klen, label, lablen);
	lmdb_rec_add(s, s->log, 'P', &lk, &lv);
	return 0;
}

/* Keeps LMDB_PREALLOC_CHUNK of written zeros past the last page LMDB
 * uses. LMDB (without MDB_WRITEMAP) grows data.mdb by writing past its
 * end, and on ext4 an fdatasync() that must make a new size durable
 * commits the file system journal as well: a second flush, taken by
 * every commit that allocates a page. Over written zeros the commit's
 * fdatasync() flushes only data. Pages past LMDB's last page are never
 * read, so the zeros change nothing else; we only write at or past the
 * file's end, from the writing thread before LMDB writes its pages.
 * Only an optimisation: on failure LMDB grows the file itself. */
static void
lmdb_prealloc(struct store_lmdb *s)
{
	static const char zeros[64 * 1024];
	MDB_envinfo	 info;
	MDB_stat	 st;
	struct stat	 sb;
	off_t		 used, end, off;
	int		 fd;

	if (mdb_env_info(s->env, &info) != 0 || mdb_env_stat(s->env, &st) != 0 ||
	    mdb_env_get_fd(s->env, &fd) != 0 || fstat(fd, &sb) < 0)
		return;
	used = (off_t)(info.me_last_pgno + 1) * st.ms_psize;
	if (sb.st_size - used >= LMDB_PREALLOC_LOW)
		return;
	end = used + LMDB_PREALLOC_CHUNK;
	if (end > (off_t)info.me_mapsize)
		end = (off_t)info.me_mapsize;
	for (off = sb.st_size; off < end;) {
		size_t	 n = (size_t)(end - off) < sizeof(zeros) ?
		    (size_t)(end - off) : sizeof(zeros);
		if (pwrite_all(fd, zeros, n, off) < 0)
			return;
		off += (off_t)n;
	}
	if (off > sb.st_size)
		(void)fdatasync(fd);
}

/* Makes everything committed so far durable in LMDB's own files and
 * starts a new log generation whose header keeps LMDB's meta pages; then
 * pins that snapshot. Called with wmu held and no write transaction
 * open, so nothing commits between the sync and the pin.
 *
 * Why the pin makes recovery safe: LMDB never writes a page that a live
 * read transaction's snapshot can reach (copy-on-write, and freed pages
 * are reused only once no reader is older than the transaction that
 * freed them). So until the next checkpoint is durable, every page of
 * this snapshot stays as synced here, whatever a crash does to the pages
 * written after it; only the two meta pages change, and the log header
 * has their copy. */
static int
lmdb_checkpoint(struct store_lmdb *s)
{
	_cleanup_free_ unsigned char *meta = NULL;
	MDB_envinfo	 info;
	MDB_stat	 st;
	int		 fd, rc, r;

	if ((rc = mdb_env_sync(s->env, 1)) != 0)
		return lmdb_err(rc);
	if ((rc = mdb_env_info(s->env, &info)) != 0 ||
	    (rc = mdb_env_stat(s->env, &st)) != 0 ||
	    (rc = mdb_env_get_fd(s->env, &fd)) != 0)
		return lmdb_err(rc);
	if (!(meta = malloc(2 * (size_t)st.ms_psize)))
		return -ENOMEM;
	if ((r = pread_all(fd, meta, 2 * (size_t)st.ms_psize, 0)) < 0)
		return r;
	if ((r = store_wal_checkpoint(s->wal, (uint64_t)info.me_last_txnid,
	    meta, st.ms_psize)) < 0)
		return r;
	if (s->pin) {
		mdb_txn_abort(s->pin);
		s->pin = NULL;
	}
	if ((rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &s->pin)) != 0) {
		s->pin = NULL;
		return lmdb_err(rc);
	}
	s->ckpt_at_ms = bw_mono_ms();
	s->ckpt_pgno = s->kick_pgno = info.me_last_pgno;
	s->wrote = false;
	return 0;
}

static bool
lmdb_checkpoint_due(struct store_lmdb *s)
{
	MDB_envinfo info;

	if (!s->pin)
		return true;
	if (store_wal_used(s->wal) >= s->ckpt_bytes)
		return true;
	if (s->wrote && bw_mono_ms() - s->ckpt_at_ms >= s->ckpt_ms)
		return true;
	return mdb_env_info(s->env, &info) == 0 &&
	    info.me_last_pgno - s->ckpt_pgno >= s->ckpt_pages;
}

/* Starts (does not wait for) writeback of the pages LMDB wrote since
 * the last kick, once there are LMDB_KICK_PAGES of them. Between two
 * checkpoints every commit's copied pages are new ones (the pin keeps
 * LMDB from reusing freed pages), ~7 per commit and ~4096 by the next
 * checkpoint, and they must reach the disk before the checkpoint's
 * fdatasync() returns. Kicked as they come, the checkpoint itself takes
 * 1-3 ms instead of 50-130 ms (measured); the disk still has to write
 * them, so a log flush queued behind a kick's writes now and then waits
 * instead (over whole runs the two are within noise of each other). Only
 * a hint: durability never depends on it. */
static void
lmdb_writeback_kick(struct store_lmdb *s)
{
	MDB_envinfo	 info;
	int		 fd;

	if (mdb_env_info(s->env, &info) != 0 ||
	    info.me_last_pgno - s->kick_pgno < LMDB_KICK_PAGES ||
	    mdb_env_get_fd(s->env, &fd) != 0)
		return;
	(void)sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
	s->kick_pgno = info.me_last_pgno;
}

/* Begins a write transaction: takes wmu (held until lmdb_wend), takes a
 * checkpoint first when one is due, and starts recording. */
static int
lmdb_wbegin(struct store_lmdb *s, MDB_txn **ret)
{
	int rc, r;

	pthread_mutex_lock(&s->wmu);
	if (s->wal && lmdb_checkpoint_due(s) && (r = lmdb_checkpoint(s)) < 0) {
		pthread_mutex_unlock(&s->wmu);
		return r;
	}
	s->rec.buf.len = 0;
	s->rec.failed = false;
	s->recording = s->wal != NULL;
	if ((rc = mdb_txn_begin(s->env, NULL, 0, ret)) != 0) {
		s->recording = false;
		pthread_mutex_unlock(&s->wmu);
		return lmdb_err(rc);
	}
	return 0;
}

static void
lmdb_wend(struct store_lmdb *s)
{
	s->recording = false;
	pthread_mutex_unlock(&s->wmu);
}

/* Commits TXN (consumed). In WAL mode its writes are appended to the
 * log and synced first: once that returns the transaction is durable,
 * and LMDB's commit only publishes it. */
static int
lmdb_wcommit(struct store_lmdb *s, MDB_txn *txn)
{
	uint64_t	t0 = bw_mono_ns();
	int		rc, r;

	if (s->wal) {
		if (s->rec.failed) {
			mdb_txn_abort(txn);
			return -ENOMEM;
		}
		if (s->rec.buf.len > 0 && (r = store_wal_append(s->wal,
		    s->rec.buf.p, s->rec.buf.len)) < 0) {
			mdb_txn_abort(txn);
			return r;
		}
		s->wrote = true;
		hist_observe_since(&s->base.flush, t0);
	}
	rc = mdb_txn_commit(txn);
	/* in sync mode the commit is the flush */
	if (!s->wal && rc == 0)
		hist_observe_since(&s->base.flush, t0);
	if (rc == 0 && s->wal)
		lmdb_writeback_kick(s);
	if (rc != 0 && s->wal) {
		/* The log holds a transaction LMDB refused: recovery would
		 * apply it. Checkpointing now cannot include it, and a
		 * new generation makes the record stale; if even that
		 * fails, the pin is dropped so the next write retries
		 * the checkpoint before anything else. */
		if (lmdb_checkpoint(s) < 0 && s->pin) {
			mdb_txn_abort(s->pin);
			s->pin = NULL;
		}
	}
	return lmdb_err(rc);
}

/* After a write transaction failed on a full map (R -ENOSPC), with wmu
 * held: in WAL mode the checkpoint's pin keeps the pages freed since it
 * from reuse, so the next write transaction takes a checkpoint first
 * and may then reuse them (a delete or compaction must get through). */
static void
lmdb_full_hint(struct store_lmdb *s, int r)
{
	if (r != -ENOSPC || !s->wal)
		return;
	s->wrote = true;
	s->ckpt_at_ms = 0;
}

/* Whether put OP may add data (store_options.high_water_pct): below the
 * high-water mark, or the reserve mark for a STORE_OP_RESERVE put, by
 * the figures CAP of the last refresh, which predate this batch: so the
 * puts after the first one in it also count, twice (value and change-log
 * copy), the ADDED bytes of the puts before them. */
static bool
lmdb_room(struct store_lmdb *s, const struct store_op *op,
    const struct store_capacity *cap, uint64_t added)
{
	bool		 reserve = (op->flags & STORE_OP_RESERVE) != 0;
	unsigned	 pct = reserve ? s->reserve_pct : s->hw_pct;

	if (!__atomic_load_n(reserve ? &s->reserve_writable : &s->writable,
	    __ATOMIC_ACQUIRE))
		return false;
	return added == 0 || cap->used_bytes + 2 * added <
	    cap->map_bytes / 100 * pct;
}

/* After a committed batch: if it marked the store (lmdb_format_mark()),
 * the store is LMDB_FORMAT from now on; said once, as an older build
 * refuses it from then on. */
static void
lmdb_format_marked(struct store_lmdb *s)
{
	if (!s->marking)
		return;
	s->marking = false;
	s->format = LMDB_FORMAT;
	log_info("store marked format %d (first labelled delete): builds "
	    "before b8e09bb refuse it", LMDB_FORMAT);
}

static int
lmdb_batch(struct store *st, struct store_op *ops, size_t n, unsigned flags,
    store_before_commit_fn before_commit, void *ctx)
{
	struct store_lmdb *s = lmdb_of(st);
	struct store_capacity cap;
	MDB_txn	*txn = NULL;
	uint64_t rev, start, added = 0;
	bool	 failed = false;
	size_t	 i;
	int	 r;

	pthread_mutex_lock(&s->cap_mu);
	cap = s->cap;
	pthread_mutex_unlock(&s->cap_mu);
	if ((r = lmdb_wbegin(s, &txn)) < 0)
		return r;
	s->marking = false;
	if ((r = lmdb_meta_get_u64(s, txn, LMDB_META_REVISION, &rev)) < 0)
		goto out;
	start = rev;
	for (i = 0; i < n; i++) {
		if (ops[i].result < 0)
			continue;	/* refused by validation */
		/* Past the high-water mark nothing may add data; deletes
		 * (and compaction) go on, so the store can be emptied
		 * before LMDB's map is full. */
		if (ops[i].type == STORE_OP_PUT &&
		    !lmdb_room(s, &ops[i], &cap, added)) {
			ops[i].result = -BW_E_NOSPACE;
			__atomic_add_fetch(&s->refused, 1, __ATOMIC_RELAXED);
			failed = true;
			continue;
		}
		if ((r = lmdb_apply(s, txn, &ops[i], rev + 1)) < 0)
			goto out;
		if (ops[i].result < 0)
			failed = true;
		else {
			ops[i].rev = ++rev;
			if (ops[i].type == STORE_OP_PUT)
				added += strlen(ops[i].key) + ops[i].value_len;
		}
	}
	if (failed && (flags & STORE_BATCH_ATOMIC)) {
		r = -BW_E_CONFLICT;
		goto out;
	}
	if (rev != start &&
	    (r = lmdb_meta_put_u64(s, txn, LMDB_META_REVISION, rev)) < 0)
		goto out;
	if (before_commit) {
		s->outbox_dirty = false;
		s->hook_thread = pthread_self();
		__atomic_store_n(&s->hook_txn, txn, __ATOMIC_RELEASE);
		r = before_commit(ctx, ops, n);
		__atomic_store_n(&s->hook_txn, NULL, __ATOMIC_RELEASE);
		if (r < 0)
			goto out;
	}
	r = 0;
	/* Nothing applied and no outbox entry added: nothing to make
	 * durable. */
	if (rev == start && !(before_commit && s->outbox_dirty))
		goto out;
	if (!s->wal)
		lmdb_prealloc(s);
	r = lmdb_wcommit(s, txn);
	txn = NULL;
	if (r < 0)
		goto out;
	__atomic_store_n(&s->rev, rev, __ATOMIC_RELEASE);
	lmdb_format_marked(s);
out:
	if (txn)
		mdb_txn_abort(txn);
	lmdb_full_hint(s, r);
	lmdb_wend(s);
	return r;
}

static int
lmdb_changes(struct store *st, const char *prefix, uint64_t since,
    size_t max, struct store_event **ret, size_t *ret_n)
{
	struct store_lmdb *s = lmdb_of(st);
	struct store_event *a = NULL;
	unsigned char rkey[sizeof(uint64_t)];
	MDB_cursor *cur = NULL;
	MDB_txn	*txn = NULL;
	MDB_val	 k = { sizeof(rkey), rkey }, v;
	size_t	 plen = strlen(prefix), n = 0, cap = 0;
	uint64_t compacted;
	int	 rc, r;

	/* The horizon is read in the same snapshot as the log, so a
	 * concurrent compaction cannot hide a gap. */
	if ((r = lmdb_read_begin(s, s->log, &txn, &cur)) < 0 ||
	    (r = lmdb_meta_get_u64(s, txn, LMDB_META_COMPACTED,
	    &compacted)) < 0)
		goto out;
	if (since < compacted) {
		r = -BW_E_COMPACTED;
		goto out;
	}
	if (since == UINT64_MAX)
		goto done;
	be64_put(rkey, since + 1);
	rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	for (; rc == 0 && n < max; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if ((r = lmdb_grow((void **)&a, &cap, n, sizeof(*a))) < 0)
			goto out;
		if ((r = lmdb_event_decode(&k, &v, prefix, plen, &a[n])) < 0)
			goto out;
		n += r;
	}
	if ((r = lmdb_scan_err(rc)) < 0)
		goto out;
	/* NULL if none matched, as store_changes() promises: a caller
	 * seeing no events frees nothing */
	if (n == 0) {
		store_events_free(a, 0);
		a = NULL;
	}
done:
	*ret = TAKE_PTR(a);
	*ret_n = n;
	r = 0;
out:
	lmdb_abort(txn, cur);
	store_events_free(a, n);
	return r;
}

/* Drops log entries <= REV, at most LMDB_COMPACT_CHUNK per transaction
 * so a large compaction never exceeds LMDB's dirty-page limit nor holds
 * the writer lock for long; each chunk moves the horizon with it, so a
 * crash in between leaves a consistent, partly compacted log. */
static int
lmdb_compact(struct store *st, uint64_t rev)
{
	struct store_lmdb *s = lmdb_of(st);
	MDB_cursor *cur = NULL;
	MDB_txn	*txn = NULL;
	MDB_val	 k, v;
	uint64_t cur_rev, horizon, r_entry;
	size_t	 dropped;
	int	 rc, r;

	for (;;) {
		if ((r = lmdb_wbegin(s, &txn)) < 0)
			return r;
		if ((r = lmdb_meta_get_u64(s, txn, LMDB_META_REVISION,
		    &cur_rev)) < 0 ||
		    (r = lmdb_meta_get_u64(s, txn, LMDB_META_COMPACTED,
		    &horizon)) < 0)
			goto out;
		if (rev > cur_rev) {
			r = -BW_E_INVALID;
			goto out;
		}
		if (rev <= horizon) {
			r = 0;
			goto out;
		}
		if ((rc = mdb_cursor_open(txn, s->log, &cur)) != 0) {
			r = lmdb_err(rc);
			goto out;
		}
		horizon = rev;
		dropped = 0;
		/* After mdb_cursor_del() the cursor rests on the next
		 * entry, which MDB_NEXT then returns. */
		rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
		for (; rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
			if (k.mv_size != sizeof(uint64_t)) {
				r = -BW_E_CORRUPT;
				goto out;
			}
			r_entry = be64_get(k.mv_data);
			if (r_entry > rev)
				break;
			if (dropped == LMDB_COMPACT_CHUNK) {
				horizon = r_entry - 1;
				break;
			}
			if ((rc = lmdb_wcursor_del(s, cur, s->log, &k)) != 0)
				break;
			dropped++;
		}
		if ((r = lmdb_scan_err(rc)) < 0)
			goto out;
		mdb_cursor_close(cur);
		cur = NULL;
		r = lmdb_meta_put_u64(s, txn, LMDB_META_COMPACTED, horizon);
		if (r < 0)
			goto out;
		r = lmdb_wcommit(s, txn);
		txn = NULL;
		lmdb_wend(s);
		if (r < 0)
			return r;
		__atomic_store_n(&s->compacted, horizon, __ATOMIC_RELEASE);
		if (horizon == rev)
			return 0;
	}
out:
	lmdb_abort(txn, cur);
	lmdb_wend(s);
	return r;
}

/* The change log's byte budget: the configured one, never more than an
 * eighth of the map (so the history alone cannot fill a small map). */
static uint64_t
lmdb_hist_limit(struct store_lmdb *s, uint64_t map_bytes)
{
	uint64_t lim = s->hist_bytes;

	return lim < map_bytes / 8 ? lim : map_bytes / 8;
}

/* Recomputes the capacity figures from the last committed snapshot:
 * pages allocated in the file less those on LMDB's free list (whether or
 * not a reader still holds them: they are reusable once it ends), and
 * the change log's pages. Then sets the high-water state. */
static int
lmdb_capacity_refresh(struct store_lmdb *s)
{
	struct store_capacity c = { 0 };
	MDB_envinfo	 info;
	MDB_stat	 est, lst;
	MDB_cursor	*cur = NULL;
	MDB_txn		*txn = NULL;
	MDB_val		 k, v;
	uint64_t	 free_pages = 0, pages;
	int		 rc, r = 0;

	if ((rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn)) != 0)
		return lmdb_err(rc);
	if ((rc = mdb_env_info(s->env, &info)) != 0 ||
	    (rc = mdb_env_stat(s->env, &est)) != 0 ||
	    (rc = mdb_stat(txn, s->log, &lst)) != 0 ||
	    (rc = mdb_cursor_open(txn, 0, &cur)) != 0) {
		r = lmdb_err(rc);
		goto out;
	}
	/* The free list (database 0): each record an ID list whose first
	 * word is its length, as mdb_stat -f counts them. */
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	    rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		size_t cnt;

		if (v.mv_size < sizeof(cnt)) {
			r = -BW_E_CORRUPT;
			goto out;
		}
		memcpy(&cnt, v.mv_data, sizeof(cnt));
		free_pages += cnt;
	}
	if (rc != MDB_NOTFOUND) {
		r = lmdb_err(rc);
		goto out;
	}
	pages = (uint64_t)info.me_last_pgno + 1;
	c.map_bytes = info.me_mapsize;
	c.file_bytes = pages * est.ms_psize;
	c.used_bytes = (pages > free_pages ? pages - free_pages : 0) *
	    est.ms_psize;
	c.log_bytes = ((uint64_t)lst.ms_branch_pages + lst.ms_leaf_pages +
	    lst.ms_overflow_pages) * est.ms_psize;
	c.revision = lmdb_revision(&s->base);
	c.compacted = lmdb_compacted_revision(&s->base);
	c.high_water_pct = s->hw_pct;
	c.used_pct = c.map_bytes ? (unsigned)((c.used_bytes * 100 +
	    c.map_bytes - 1) / c.map_bytes) : 100;
	c.reserve_pct = s->reserve_pct;
	c.writable = c.used_pct < s->hw_pct;
	pthread_mutex_lock(&s->cap_mu);
	c.compactions = s->cap.compactions;
	s->cap = c;
	pthread_mutex_unlock(&s->cap_mu);
	__atomic_store_n(&s->writable, c.writable != 0, __ATOMIC_RELEASE);
	__atomic_store_n(&s->reserve_writable, c.used_pct < s->reserve_pct,
	    __ATOMIC_RELEASE);
out:
	if (cur)
		mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	return r;
}

static int
lmdb_capacity(struct store *st, struct store_capacity *ret)
{
	struct store_lmdb *s = lmdb_of(st);

	pthread_mutex_lock(&s->cap_mu);
	*ret = s->cap;
	pthread_mutex_unlock(&s->cap_mu);
	ret->refused = __atomic_load_n(&s->refused, __ATOMIC_RELAXED);
	return 0;
}

/* Bytes a log entry of VLEN value bytes takes in LMDB's pages: whole
 * overflow pages past the node size limit, else about the node. */
static uint64_t
lmdb_entry_bytes(size_t vlen, size_t psize)
{
	if (vlen + sizeof(uint64_t) + 8 > psize / 2 - 16)
		return ((16 + vlen + psize - 1) / psize) * psize;
	return vlen + sizeof(uint64_t) + 10;
}

/* One bounded compaction transaction by the retention policy: drops the
 * oldest log entries while more than hist_revs remain or their pages
 * exceed the byte budget, at most STORE_COMPACT_CHUNK of them and about
 * LMDB_COMPACT_CHUNK_BYTES. Sets *RET_MORE when it stopped at a chunk
 * limit. */
static int
lmdb_compact_policy(struct store_lmdb *s, uint64_t limit_bytes,
    bool *ret_more)
{
	MDB_cursor *cur = NULL;
	MDB_txn	*txn = NULL;
	MDB_stat lst;
	MDB_val	 k, v;
	uint64_t cur_rev, horizon, entries, bytes, r_entry, est, freed = 0;
	size_t	 dropped = 0;
	int	 rc, r;

	*ret_more = false;
	if ((r = lmdb_wbegin(s, &txn)) < 0)
		return r;
	if ((r = lmdb_meta_get_u64(s, txn, LMDB_META_REVISION, &cur_rev)) < 0 ||
	    (r = lmdb_meta_get_u64(s, txn, LMDB_META_COMPACTED, &horizon)) < 0)
		goto out;
	if ((rc = mdb_stat(txn, s->log, &lst)) != 0 ||
	    (rc = mdb_cursor_open(txn, s->log, &cur)) != 0) {
		r = lmdb_err(rc);
		goto out;
	}
	entries = cur_rev - horizon;
	bytes = ((uint64_t)lst.ms_branch_pages + lst.ms_leaf_pages +
	    lst.ms_overflow_pages) * lst.ms_psize;
	/* After mdb_cursor_del() the cursor rests on the next entry,
	 * which MDB_NEXT then returns. */
	rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
	for (; rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (entries <= s->hist_revs && bytes <= limit_bytes)
			break;
		if (dropped == STORE_COMPACT_CHUNK ||
		    freed >= LMDB_COMPACT_CHUNK_BYTES) {
			*ret_more = true;
			break;
		}
		if (k.mv_size != sizeof(uint64_t)) {
			r = -BW_E_CORRUPT;
			goto out;
		}
		r_entry = be64_get(k.mv_data);
		est = lmdb_entry_bytes(v.mv_size, lst.ms_psize);
		if ((rc = lmdb_wcursor_del(s, cur, s->log, &k)) != 0)
			break;
		horizon = r_entry;
		entries--;
		bytes = bytes > est ? bytes - est : 0;
		freed += est;
		dropped++;
	}
	if ((r = lmdb_scan_err(rc)) < 0)
		goto out;
	mdb_cursor_close(cur);
	cur = NULL;
	if (dropped == 0) {
		r = 0;
		goto out;
	}
	if ((r = lmdb_meta_put_u64(s, txn, LMDB_META_COMPACTED, horizon)) < 0)
		goto out;
	r = lmdb_wcommit(s, txn);
	txn = NULL;
	if (r == 0) {
		__atomic_store_n(&s->compacted, horizon, __ATOMIC_RELEASE);
		pthread_mutex_lock(&s->cap_mu);
		s->cap.compactions++;
		pthread_mutex_unlock(&s->cap_mu);
	}
out:
	lmdb_abort(txn, cur);
	lmdb_full_hint(s, r);
	lmdb_wend(s);
	return r;
}

static int
lmdb_maintain(struct store *st)
{
	struct store_lmdb *s = lmdb_of(st);
	uint64_t	 limit, entries;
	bool		 more = false;
	int		 r;

	if ((r = lmdb_capacity_refresh(s)) < 0)
		return r;
	pthread_mutex_lock(&s->cap_mu);
	limit = lmdb_hist_limit(s, s->cap.map_bytes);
	entries = s->cap.revision - s->cap.compacted;
	/* An eighth over the retention before a compaction runs, so each
	 * one drops a useful chunk instead of one entry per batch. */
	r = entries > s->hist_revs + s->hist_revs / 8 ||
	    s->cap.log_bytes > limit + limit / 8;
	pthread_mutex_unlock(&s->cap_mu);
	if (!r)
		return 0;
	if ((r = lmdb_compact_policy(s, limit, &more)) < 0)
		return r;
	if ((r = lmdb_capacity_refresh(s)) < 0)
		return r;
	return more ? 1 : 0;
}

/* The batch transaction when called from its before_commit hook on the
 * hook's own thread, else NULL. */
static MDB_txn *
lmdb_hook_txn(struct store_lmdb *s)
{
	MDB_txn *txn = __atomic_load_n(&s->hook_txn, __ATOMIC_ACQUIRE);

	if (!txn || !pthread_equal(s->hook_thread, pthread_self()))
		return NULL;
	return txn;
}

static void
lmdb_outbox_key(unsigned char kb[LMDB_OUTBOX_KLEN], uint64_t id)
{
	memcpy(kb, LMDB_META_OUTBOX, LMDB_OUTBOX_PLEN);
	be64_put(kb + LMDB_OUTBOX_PLEN, id);
}

/* Positions CUR on the first outbox entry (OP MDB_SET_RANGE) or the next
 * one (MDB_NEXT); returns MDB_NOTFOUND past the last. */
static int
lmdb_outbox_step(MDB_cursor *cur, MDB_val *k, MDB_val *v, MDB_cursor_op op)
{
	int rc;

	if (op == MDB_SET_RANGE) {
		k->mv_size = LMDB_OUTBOX_PLEN;
		k->mv_data = (void *)LMDB_META_OUTBOX;
	}
	if ((rc = mdb_cursor_get(cur, k, v, op)) != 0)
		return rc;
	if (k->mv_size < LMDB_OUTBOX_PLEN ||
	    memcmp(k->mv_data, LMDB_META_OUTBOX, LMDB_OUTBOX_PLEN) != 0)
		return MDB_NOTFOUND;
	if (k->mv_size != LMDB_OUTBOX_KLEN)
		return MDB_CORRUPTED;
	return 0;
}

static int
lmdb_outbox_put(struct store *st, uint64_t id, const void *value, size_t len)
{
	struct store_lmdb *s = lmdb_of(st);
	MDB_txn	*txn = lmdb_hook_txn(s);
	unsigned char kb[LMDB_OUTBOX_KLEN];
	MDB_val	 k = { sizeof(kb), kb }, v = { len, (void *)value };
	int	 rc;

	if (!txn)
		return -BW_E_INVALID;
	lmdb_outbox_key(kb, id);
	if ((rc = lmdb_wput(s, txn, s->meta, &k, &v, MDB_NOOVERWRITE)) != 0)
		return lmdb_err(rc);
	s->outbox_dirty = true;
	return 0;
}

/* Deletes the outbox entries with id <= UPTO in TXN; *RET_N counts them. */
static int
lmdb_outbox_del(struct store_lmdb *s, MDB_txn *txn, uint64_t upto,
    size_t *ret_n)
{
	MDB_cursor *cur = NULL;
	MDB_val	 k, v;
	size_t	 n = 0;
	int	 rc;

	if ((rc = mdb_cursor_open(txn, s->meta, &cur)) != 0)
		return lmdb_err(rc);
	/* After mdb_cursor_del() the cursor rests on the next entry,
	 * which MDB_NEXT then returns. */
	rc = lmdb_outbox_step(cur, &k, &v, MDB_SET_RANGE);
	for (; rc == 0; rc = lmdb_outbox_step(cur, &k, &v, MDB_NEXT)) {
		if (be64_get((char *)k.mv_data + LMDB_OUTBOX_PLEN) > upto)
			break;
		if ((rc = lmdb_wcursor_del(s, cur, s->meta, &k)) != 0)
			break;
		n++;
	}
	mdb_cursor_close(cur);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return lmdb_err(rc);
	*ret_n = n;
	return 0;
}

static int
lmdb_outbox_remove(struct store *st, uint64_t upto)
{
	struct store_lmdb *s = lmdb_of(st);
	MDB_txn	*txn = lmdb_hook_txn(s);
	size_t	 n;
	int	 r;

	if (!txn)
		return -BW_E_INVALID;
	if ((r = lmdb_outbox_del(s, txn, upto, &n)) < 0)
		return r;
	if (n > 0)
		s->outbox_dirty = true;
	return 0;
}

static int
lmdb_outbox_trim(struct store *st, uint64_t upto)
{
	struct store_lmdb *s = lmdb_of(st);
	MDB_txn	*txn = NULL;
	size_t	 n;
	int	 r;

	if ((r = lmdb_wbegin(s, &txn)) < 0)
		return r;
	if ((r = lmdb_outbox_del(s, txn, upto, &n)) < 0 || n == 0)
		mdb_txn_abort(txn);
	else
		r = lmdb_wcommit(s, txn);
	lmdb_wend(s);
	return r;
}

static int
lmdb_outbox_list(struct store *st, size_t max, struct store_outbox_entry **ret,
    size_t *ret_n)
{
	struct store_lmdb *s = lmdb_of(st);
	struct store_outbox_entry *a = NULL;
	MDB_cursor *cur = NULL;
	MDB_txn	*txn = NULL;
	MDB_val	 k, v;
	size_t	 n = 0, cap = 0;
	int	 rc, r = 0;

	if ((r = lmdb_read_begin(s, s->meta, &txn, &cur)) < 0)
		goto out;
	rc = lmdb_outbox_step(cur, &k, &v, MDB_SET_RANGE);
	for (; rc == 0 && n < max; rc = lmdb_outbox_step(cur, &k, &v, MDB_NEXT)) {
		if ((r = lmdb_grow((void **)&a, &cap, n, sizeof(*a))) < 0)
			goto out;
		if (!(a[n].value = malloc(v.mv_size ? v.mv_size : 1))) {
			r = -ENOMEM;
			goto out;
		}
		memcpy(a[n].value, v.mv_data, v.mv_size);
		a[n].id = be64_get((char *)k.mv_data + LMDB_OUTBOX_PLEN);
		a[n].len = v.mv_size;
		n++;
	}
	if ((r = lmdb_scan_err(rc)) < 0)
		goto out;
	*ret = TAKE_PTR(a);
	*ret_n = n;
	n = 0;
out:
	lmdb_abort(txn, cur);
	store_outbox_entries_free(a, n);
	return r;
}

static void
lmdb_close(struct store *st)
{
	struct store_lmdb *s = lmdb_of(st);

	/* A clean close syncs LMDB and removes the log: the next open has
	 * nothing to recover, and a data.mdb later restored from a backup
	 * is never rewound to a stale log's checkpoint. On any failure the
	 * log stays and the next open recovers from it. */
	if (s->wal && s->ready) {
		pthread_mutex_lock(&s->wmu);
		if (lmdb_checkpoint(s) == 0) {
			store_wal_close(s->wal);
			s->wal = NULL;
			(void)store_wal_remove(s->dfd);
		}
		pthread_mutex_unlock(&s->wmu);
	}
	if (s->pin)
		mdb_txn_abort(s->pin);
	store_wal_close(s->wal);
	bw_buf_done(&s->rec.buf);
	if (s->env)
		mdb_env_close(s->env);
	if (s->wmu_init)
		pthread_mutex_destroy(&s->wmu);
	if (s->cap_mu_init)
		pthread_mutex_destroy(&s->cap_mu);
	if (s->dfd >= 0)
		close(s->dfd);
	if (s->lock_fd >= 0)
		close(s->lock_fd);
	free(s);
}

static uint64_t
lmdb_history_revisions(struct store *st)
{
	return lmdb_of(st)->hist_revs;
}

static const struct store_backend lmdb_backend = {
	.name = "lmdb",
	STORE_BACKEND_OPS(lmdb),
	.list_range = lmdb_list_range,
	.capacity = lmdb_capacity,
	.history_revisions = lmdb_history_revisions,
};

long
store_lmdb_env_flags(struct store *st)
{
	unsigned flags;

	if (st->backend != &lmdb_backend ||
	    mdb_env_get_flags(lmdb_of(st)->env, &flags) != 0)
		return -EINVAL;
	return (long)flags;
}

/* Returns the revisions of the first and last log entries (0 if the log
 * is empty). */
static int
lmdb_log_bounds(struct store_lmdb *s, MDB_txn *txn, uint64_t *ret_first,
    uint64_t *ret_last)
{
	MDB_cursor *cur = NULL;
	MDB_val	 k, v;
	int	 rc;

	*ret_first = *ret_last = 0;
	if ((rc = mdb_cursor_open(txn, s->log, &cur)) != 0)
		return lmdb_err(rc);
	rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
	if (rc == 0 && k.mv_size == sizeof(uint64_t))
		*ret_first = be64_get(k.mv_data);
	if (rc == 0)
		rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
	if (rc == 0 && k.mv_size == sizeof(uint64_t))
		*ret_last = be64_get(k.mv_data);
	else if (rc == 0)
		rc = MDB_CORRUPTED;
	mdb_cursor_close(cur);
	return lmdb_scan_err(rc);
}

/* Opens the sub-databases, creates the meta records of a new store and
 * checks those of an existing one. */
static int
lmdb_init(struct store_lmdb *s, const char *dir, char **ret_err)
{
	MDB_txn	*txn = NULL;
	MDB_val	 k = { strlen(LMDB_META_FORMAT), (void *)LMDB_META_FORMAT }, v;
	unsigned char fmt[4];
	uint32_t format;
	uint64_t rev, compacted, first, last;
	int	 rc, r = 0;

	if ((rc = mdb_txn_begin(s->env, NULL, 0, &txn)) != 0)
		return errf(lmdb_err(rc), ret_err, "store %s: %s", dir,
		    mdb_strerror(rc));
	if ((rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &s->meta)) != 0 ||
	    (rc = mdb_dbi_open(txn, "kv", MDB_CREATE, &s->kv)) != 0 ||
	    (rc = mdb_dbi_open(txn, "log", MDB_CREATE, &s->log)) != 0) {
		r = errf(lmdb_err(rc), ret_err, "store %s: opening databases: %s",
		    dir, mdb_strerror(rc));
		goto out;
	}
	rc = mdb_get(txn, s->meta, &k, &v);
	if (rc == MDB_NOTFOUND) {
		s->format = LMDB_FORMAT;
		if ((rc = lmdb_format_put(s, txn)) != 0 ||
		    (r = lmdb_meta_put_u64(s, txn, LMDB_META_REVISION, 0)) < 0 ||
		    (r = lmdb_meta_put_u64(s, txn, LMDB_META_COMPACTED, 0)) < 0) {
			r = errf(rc ? lmdb_err(rc) : r, ret_err,
			    "store %s: cannot initialise", dir);
			goto out;
		}
	} else if (rc != 0) {
		r = errf(lmdb_err(rc), ret_err, "store %s: %s", dir,
		    mdb_strerror(rc));
		goto out;
	} else {
		if (v.mv_size != sizeof(fmt)) {
			r = errf(-BW_E_CORRUPT, ret_err,
			    "store %s: bad format record", dir);
			goto out;
		}
		memcpy(fmt, v.mv_data, sizeof(fmt));
		format = (uint32_t)fmt[0] << 24 | (uint32_t)fmt[1] << 16 |
		    (uint32_t)fmt[2] << 8 | fmt[3];
		if (format < LMDB_FORMAT_OLDEST || format > LMDB_FORMAT) {
			r = errf(-BW_E_CORRUPT, ret_err, "store %s: format %u, "
			    "this build reads formats %u to %u", dir, format,
			    LMDB_FORMAT_OLDEST, LMDB_FORMAT);
			goto out;
		}
		s->format = format;
	}
	if ((r = lmdb_meta_get_u64(s, txn, LMDB_META_REVISION, &rev)) < 0 ||
	    (r = lmdb_meta_get_u64(s, txn, LMDB_META_COMPACTED, &compacted)) < 0) {
		r = errf(r == -BW_E_NOTFOUND ? -BW_E_CORRUPT : r, ret_err,
		    "store %s: bad revision records", dir);
		goto out;
	}
	if ((r = lmdb_log_bounds(s, txn, &first, &last)) < 0) {
		r = errf(r, ret_err, "store %s: cannot read the change log", dir);
		goto out;
	}
	/* Every applied op leaves one entry and compaction drops a prefix,
	 * so the log must span exactly (compacted, revision]. */
	if (compacted > rev ||
	    (rev > compacted && (first != compacted + 1 || last != rev)) ||
	    (rev == compacted && first != 0)) {
		r = errf(-BW_E_CORRUPT, ret_err,
		    "store %s: revision %ju, compacted %ju, log %ju..%ju disagree",
		    dir, (uintmax_t)rev, (uintmax_t)compacted, (uintmax_t)first,
		    (uintmax_t)last);
		goto out;
	}
	rc = mdb_txn_commit(txn);
	txn = NULL;
	if (rc != 0) {
		r = errf(lmdb_err(rc), ret_err, "store %s: %s", dir,
		    mdb_strerror(rc));
		goto out;
	}
	s->rev = rev;
	s->compacted = compacted;
	r = 0;
out:
	if (txn)
		mdb_txn_abort(txn);
	return r;
}

static int
lmdb_sync_dir(int dfd)
{
	_cleanup_close_ int pfd = -1;

	if (fsync(dfd) < 0)
		return -errno;
	pfd = openat(dfd, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (pfd < 0 || fsync(pfd) < 0)
		return -errno;
	return 0;
}

int
store_lmdb_record_parse(const unsigned char *p, size_t len,
    store_lmdb_entry_fn fn, void *arg)
{
	size_t	 off = 0;
	uint32_t klen, vlen;
	int	 r;

	while (off < len) {
		if (len - off < LMDB_REC_ENTRY_HDR)
			return -BW_E_CORRUPT;
		memcpy(&klen, p + off + 4, 4);
		memcpy(&vlen, p + off + 8, 4);
		klen = le32toh(klen);
		vlen = le32toh(vlen);
		if (klen == 0 || p[off] > LMDB_DB_LOG ||
		    (size_t)klen > len - off - LMDB_REC_ENTRY_HDR ||
		    (size_t)vlen > len - off - LMDB_REC_ENTRY_HDR - klen ||
		    (p[off + 1] != 'P' && p[off + 1] != 'D') ||
		    (p[off + 1] == 'D' && vlen != 0))
			return -BW_E_CORRUPT;
		if ((r = fn(arg, p[off], (char)p[off + 1],
		    p + off + LMDB_REC_ENTRY_HDR, klen,
		    p + off + LMDB_REC_ENTRY_HDR + klen, vlen)) < 0)
			return r;
		off += LMDB_REC_ENTRY_HDR + (size_t)klen + vlen;
	}
	return 0;
}

struct replay_ctx {
	struct store_lmdb	*s;
	MDB_txn			*txn;
};

static int
lmdb_replay_entry(void *arg, int db, char op, const void *key, size_t klen,
    const void *value, size_t vlen)
{
	struct replay_ctx *rc = arg;
	MDB_val	 k = { klen, (void *)key }, v = { vlen, (void *)value };
	MDB_dbi	 dbi = db == LMDB_DB_KV ? rc->s->kv : db == LMDB_DB_LOG ?
	    rc->s->log : rc->s->meta;
	int	 e;

	e = op == 'P' ? mdb_put(rc->txn, dbi, &k, &v, 0) :
	    mdb_del(rc->txn, dbi, &k, NULL);
	return e == MDB_NOTFOUND ? -BW_E_CORRUPT : lmdb_err(e);
}

/* Applies one log record (the writes of one transaction) in a write
 * transaction of its own. Anything malformed is damage: the digest
 * matched, so the record is what was written. */
static int
lmdb_replay_one(void *arg, const unsigned char *p, size_t len)
{
	struct replay_ctx rc = { .s = arg };
	int	 e, r;

	if ((e = mdb_txn_begin(rc.s->env, NULL, 0, &rc.txn)) != 0)
		return lmdb_err(e);
	if ((r = store_lmdb_record_parse(p, len, lmdb_replay_entry, &rc)) < 0) {
		mdb_txn_abort(rc.txn);
		return r;
	}
	return lmdb_err(mdb_txn_commit(rc.txn));
}

/* Returns data.mdb's meta pages to the log's checkpoint (CK) unless they
 * already are: the pages written after it may be lost or torn, the
 * checkpoint's are intact (see lmdb_checkpoint). */
static int
lmdb_restore_meta(int dfd, const struct store_wal_checkpoint *ck,
    const char *dir, char **ret_err)
{
	_cleanup_free_ unsigned char *cur = NULL;
	_cleanup_close_ int fd = -1;
	size_t	 len = 2 * ck->psize;
	int	 r;

	fd = openat(dfd, "data.mdb", O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return errf(-errno, ret_err, "store %s: %s holds a checkpoint "
		    "but data.mdb cannot be opened: %s", dir, STORE_WAL_FILE,
		    strerror(errno));
	if (!(cur = malloc(len)))
		return errf(-ENOMEM, ret_err, "store %s: out of memory", dir);
	/* A short or failed read counts as different: rewrite them. */
	if (pread_all(fd, cur, len, 0) == 0 && memcmp(cur, ck->meta, len) == 0)
		return 0;
	if ((r = pwrite_all(fd, ck->meta, len, 0)) < 0)
		return errf(r, ret_err, "store %s: restoring the checkpoint's "
		    "meta pages: %s", dir, bw_strerror(r));
	if (fdatasync(fd) < 0)
		return errf(-errno, ret_err, "store %s: restoring the "
		    "checkpoint's meta pages: %s", dir, strerror(errno));
	return 1;
}

/* Allocates the handle of the store in DIR with its locks and the
 * tunables OPTS gives (or their defaults) into *RET; free it with
 * lmdb_close(). */
static int
lmdb_alloc(const char *dir, const struct store_options *opts,
    struct store_lmdb **ret, char **ret_err)
{
	struct store_lmdb *s;

	if (!(s = calloc(1, sizeof(*s))))
		return errf(-ENOMEM, ret_err, "store %s: out of memory", dir);
	s->base.backend = &lmdb_backend;
	hist_init(&s->base.flush, &hist_seconds);
	s->dfd = -1;
	s->lock_fd = -1;
	if (pthread_mutex_init(&s->wmu, NULL) != 0) {
		free(s);
		return errf(-ENOMEM, ret_err, "store %s: out of memory", dir);
	}
	s->wmu_init = true;
	if (pthread_mutex_init(&s->cap_mu, NULL) != 0) {
		lmdb_close(&s->base);
		return errf(-ENOMEM, ret_err, "store %s: out of memory", dir);
	}
	s->cap_mu_init = true;
	s->hist_revs = opts && opts->history_revisions ?
	    opts->history_revisions : STORE_HISTORY_REVISIONS;
	s->hist_bytes = opts && opts->history_bytes ? opts->history_bytes :
	    STORE_HISTORY_BYTES;
	s->hw_pct = opts && opts->high_water_pct ? opts->high_water_pct :
	    STORE_HIGH_WATER_PCT;
	s->reserve_pct = STORE_RESERVE_PCT(s->hw_pct);
	s->writable = true;
	s->reserve_writable = true;
	*ret = s;
	return 0;
}

/* Takes store.lock in the directory *DFD so that one opener at a time
 * uses the store; on success S owns the directory (*DFD is taken). */
static int
lmdb_lock(struct store_lmdb *s, int *dfd, const char *dir, char **ret_err)
{
	int	 r;

	s->lock_fd = openat(*dfd, "store.lock",
	    O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (s->lock_fd < 0)
		return errf(-errno, ret_err, "store %s: store.lock: %s", dir,
		    strerror(errno));
	if (flock(s->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		r = errno == EWOULDBLOCK ? -EBUSY : -errno;
		return errf(r, ret_err, "store %s: %s", dir, r == -EBUSY ?
		    "in use by another opener" : bw_strerror(r));
	}
	s->dfd = TAKE_FD(*dfd);
	return 0;
}

/* Opens the log and rewinds data.mdb's meta pages to its last
 * checkpoint, returned in *CK, before LMDB reads them. A log left by a
 * crash is recovered whatever mode this open asks for; a store leaving
 * WAL mode then drops it (lmdb_open_durability). */
static int
lmdb_open_wal(struct store_lmdb *s, enum store_durability durability,
    struct store_wal_checkpoint *ck, const char *dir, char **ret_err)
{
	int	 r;

	if (durability != STORE_DURABILITY_WAL &&
	    faccessat(s->dfd, STORE_WAL_FILE, F_OK, AT_SYMLINK_NOFOLLOW) != 0)
		return 0;
	if ((r = store_wal_open(s->dfd, &s->wal, ret_err)) < 0)
		return errf_wrap(r, ret_err, "store %s", dir);
	store_wal_last_checkpoint(s->wal, ck);
	if (ck->valid && (r = lmdb_restore_meta(s->dfd, ck, dir, ret_err)) < 0)
		return r;
	return 0;
}

/* Creates and opens the LMDB environment of DIR in S. */
static int
lmdb_open_env(struct store_lmdb *s, size_t map_size,
    enum store_durability durability, const char *dir, char **ret_err)
{
	int	 rc, fd, flags, dead;

	if ((rc = mdb_env_create(&s->env)) != 0)
		return errf(lmdb_err(rc), ret_err, "store %s: %s", dir,
		    mdb_strerror(rc));
	if ((rc = mdb_env_set_mapsize(s->env, map_size)) != 0 ||
	    (rc = mdb_env_set_maxdbs(s->env, 3)) != 0 ||
	    (rc = mdb_env_set_maxreaders(s->env, LMDB_MAX_READERS)) != 0)
		return errf(lmdb_err(rc), ret_err, "store %s: %s", dir,
		    mdb_strerror(rc));
	if (mdb_env_get_maxkeysize(s->env) < STORE_KEY_MAX)
		return errf(-BW_E_INVALID, ret_err,
		    "store %s: LMDB built with keys under %d bytes", dir,
		    STORE_KEY_MAX);
	/* Sync mode: no MDB_NOSYNC / MDB_NOMETASYNC / MDB_WRITEMAP, each
	 * commit is durable. WAL mode: MDB_NOSYNC, each commit is durable
	 * in the log first (lmdb_wcommit) and LMDB is synced at
	 * checkpoints. Never MDB_WRITEMAP: a stray write through the map
	 * could reach checkpointed pages. MDB_NORDAHEAD: random B-tree
	 * reads gain nothing from read-ahead and it inflates the page
	 * cache. */
	rc = mdb_env_open(s->env, dir, MDB_NOTLS | MDB_NORDAHEAD |
	    (durability == STORE_DURABILITY_WAL ? MDB_NOSYNC : 0), 0600);
	if (rc != 0)
		return errf(lmdb_err(rc), ret_err, "store %s: %s", dir,
		    mdb_strerror(rc));
	/* LMDB sets FD_CLOEXEC on every descriptor but the data file's. */
	if ((rc = mdb_env_get_fd(s->env, &fd)) != 0 ||
	    (flags = fcntl(fd, F_GETFD)) < 0 ||
	    fcntl(fd, F_SETFD, flags | FD_CLOEXEC) < 0)
		return errf(rc ? lmdb_err(rc) : -errno, ret_err,
		    "store %s: cannot set close-on-exec", dir);
	/* Reader slots of a killed process would pin old pages forever. */
	if ((rc = mdb_reader_check(s->env, &dead)) != 0)
		return errf(lmdb_err(rc), ret_err, "store %s: %s", dir,
		    mdb_strerror(rc));
	return 0;
}

/* Recovery: pins the checkpoint's snapshot, which the meta pages
 * lmdb_open_wal() restored make current, before anything writes. The
 * replay's transactions free pages of that snapshot as the ones they
 * replay did; unpinned, LMDB would reuse them two transactions later,
 * and a crash before the opening checkpoint is durable would leave meta
 * pages (the log header's, restored again) pointing at overwritten
 * pages. Held until lmdb_checkpoint() replaces it, or the log is
 * dropped (lmdb_open_durability()). */
static int
lmdb_pin_recovery(struct store_lmdb *s, const char *dir, char **ret_err)
{
	int	 rc;

	if ((rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &s->pin)) != 0) {
		s->pin = NULL;
		return errf(lmdb_err(rc), ret_err, "store %s: pinning the "
		    "checkpoint: %s", dir, mdb_strerror(rc));
	}
	return 0;
}

/* Sets up the mode DURABILITY asks for once the store is recovered: in
 * WAL mode the checkpoint tunables and a first checkpoint, otherwise a
 * synced LMDB and no log. */
static int
lmdb_open_durability(struct store_lmdb *s, const struct store_options *opts,
    enum store_durability durability, const char *dir, char **ret_err)
{
	int	 rc, r;

	if (durability != STORE_DURABILITY_WAL) {
		if (!s->wal)
			return 0;
		if ((rc = mdb_env_sync(s->env, 1)) != 0 ||
		    (r = store_wal_remove(s->dfd)) < 0)
			return errf(rc ? lmdb_err(rc) : r, ret_err, "store %s: "
			    "leaving WAL mode: %s", dir, rc ? mdb_strerror(rc) :
			    bw_strerror(r));
		store_wal_close(s->wal);
		s->wal = NULL;
		/* synced, no checkpoint to return to: nothing to pin */
		if (s->pin) {
			mdb_txn_abort(s->pin);
			s->pin = NULL;
		}
		return 0;
	}
	s->ckpt_bytes = opts && opts->checkpoint_bytes ?
	    opts->checkpoint_bytes : LMDB_CKPT_BYTES;
	s->ckpt_pages = opts && opts->checkpoint_pages ?
	    opts->checkpoint_pages : LMDB_CKPT_PAGES;
	s->ckpt_ms = opts && opts->checkpoint_ms ?
	    opts->checkpoint_ms : LMDB_CKPT_MS;
	/* Pages freed since the last checkpoint are not reused before the
	 * next one (its pin holds them): on a small map the default takes
	 * checkpoints often enough that this stays a sixteenth of the
	 * map. */
	if (!(opts && opts->checkpoint_pages)) {
		MDB_envinfo	 info;
		MDB_stat	 est;

		if (mdb_env_info(s->env, &info) == 0 &&
		    mdb_env_stat(s->env, &est) == 0 &&
		    info.me_mapsize / est.ms_psize / 16 < s->ckpt_pages)
			s->ckpt_pages = info.me_mapsize / est.ms_psize / 16;
		if (s->ckpt_pages == 0)
			s->ckpt_pages = 1;
	}
	pthread_mutex_lock(&s->wmu);
	r = lmdb_checkpoint(s);
	pthread_mutex_unlock(&s->wmu);
	if (r < 0)
		return errf(r, ret_err, "store %s: checkpoint: %s", dir,
		    bw_strerror(r));
	return 0;
}

int
store_open_lmdb(const char *dir, const struct store_options *opts,
    struct store **ret, char **ret_err)
{
	struct store_lmdb *s = NULL;
	_cleanup_close_ int dfd = -1;
	size_t	 map_size = opts && opts->map_size ? opts->map_size :
	    LMDB_DEFAULT_MAP;
	enum store_durability durability = opts ? opts->durability :
	    STORE_DURABILITY_WAL;
	struct store_wal_checkpoint ck = { 0 };
	int	 r;

	if (!dir || !dir[0] || !ret)
		return errf(-BW_E_INVALID, ret_err, "store: no directory given");
	if (map_size < LMDB_MIN_MAP)
		return errf(-BW_E_INVALID, ret_err,
		    "store %s: map_size %zu below the minimum %zu", dir,
		    map_size, LMDB_MIN_MAP);
	if (opts && opts->high_water_pct && (opts->high_water_pct < 50 ||
	    opts->high_water_pct > 99))
		return errf(-BW_E_INVALID, ret_err,
		    "store %s: high_water_pct %u: must be 50..99", dir,
		    opts->high_water_pct);
	if ((r = mkdir_p(dir, 0700)) < 0)
		return errf(r, ret_err, "store %s: cannot create: %s", dir,
		    bw_strerror(r));
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return errf(-errno, ret_err, "store %s: %s", dir, strerror(errno));
	if ((r = lmdb_alloc(dir, opts, &s, ret_err)) < 0)
		return r;
	if ((r = lmdb_lock(s, &dfd, dir, ret_err)) < 0 ||
	    (r = lmdb_open_wal(s, durability, &ck, dir, ret_err)) < 0 ||
	    (r = lmdb_open_env(s, map_size, durability, dir, ret_err)) < 0 ||
	    (ck.valid && (r = lmdb_pin_recovery(s, dir, ret_err)) < 0) ||
	    (r = lmdb_init(s, dir, ret_err)) < 0)
		goto fail;
	if (ck.valid) {
		if ((r = store_wal_replay(s->wal, lmdb_replay_one, s,
		    ret_err)) < 0) {
			r = errf_wrap(r, ret_err, "store %s: recovery", dir);
			goto fail;
		}
		if (r > 0 && (r = lmdb_init(s, dir, ret_err)) < 0)
			goto fail;
	}
	if ((r = lmdb_open_durability(s, opts, durability, dir, ret_err)) < 0)
		goto fail;
	/* LMDB syncs its files but not the directory entries naming them:
	 * sync DIR and its parent so a new store survives a power cut. */
	if ((r = lmdb_sync_dir(s->dfd)) < 0) {
		r = errf(r, ret_err, "store %s: syncing the directory: %s", dir,
		    bw_strerror(r));
		goto fail;
	}
	if ((r = lmdb_capacity_refresh(s)) < 0) {
		r = errf(r, ret_err, "store %s: reading its capacity: %s", dir,
		    bw_strerror(r));
		goto fail;
	}
	s->ready = true;
	*ret = &s->base;
	return 0;
fail:
	lmdb_close(&s->base);
	return r;
}

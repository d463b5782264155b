/* Backend-neutral front of the state store: argument validation and
 * limits live here once, so every backend accepts and refuses exactly
 * the same input, then calls go through the backend's table. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "controlplane/store-backend.h"
#include "controlplane/store.h"
#include "lib/err.h"

int
store_key_check(const char *key)
{
	size_t	 i;

	if (!key || !key[0])
		return -BW_E_INVALID;
	/* Control bytes would let a key forge log lines or confuse the
	 * path-like layout the API server builds; refuse them at the
	 * bottom so no caller can store one. */
	for (i = 0; key[i]; i++) {
		unsigned char c = (unsigned char)key[i];

		if (i >= STORE_KEY_MAX)
			return -BW_E_TOOLARGE;
		if (c < 0x20 || c == 0x7f)
			return -BW_E_INVALID;
	}
	return 0;
}

/* A prefix may be empty; otherwise it obeys the key rules. */
static int
store_prefix_check(const char *prefix)
{
	if (!prefix[0])
		return 0;
	return store_key_check(prefix);
}

int
store_precondition(enum store_op_type type, uint64_t expect_rev, int exists,
    uint64_t mod_rev)
{
	if (expect_rev == STORE_REV_ANY)
		return exists || type == STORE_OP_PUT ? 0 : -BW_E_NOTFOUND;
	if (expect_rev == STORE_REV_ABSENT)
		return exists ? -BW_E_EXISTS : 0;
	if (!exists)
		return -BW_E_NOTFOUND;
	return mod_rev == expect_rev ? 0 : -BW_E_CONFLICT;
}

void
store_close(struct store *st)
{
	if (st)
		st->backend->close(st);
}

void
store_set_delete_label(struct store *st, store_label_fn fn)
{
	if (st)
		st->delete_label = fn;
}

void
store_delete_label(struct store *st, const char *key, const void *value,
    size_t len, char buf[STORE_LABEL_MAX + 1])
{
	const char	*p;

	buf[0] = 0;
	if (!st->delete_label)
		return;
	st->delete_label(key, value, len, buf, STORE_LABEL_MAX + 1);
	buf[STORE_LABEL_MAX] = 0;
	/* The log keeps text: a label with a control byte is no label,
	 * so it matches nothing a reader compares it with. */
	for (p = buf; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f) {
			buf[0] = 0;
			return;
		}
}

const char *
store_backend_name(struct store *st)
{
	return st->backend->name;
}

uint64_t
store_revision(struct store *st)
{
	return st->backend->revision(st);
}

uint64_t
store_compacted_revision(struct store *st)
{
	return st->backend->compacted_revision(st);
}

int
store_compacted_revision_read(struct store *st, uint64_t *ret_rev)
{
	if (st->backend->compacted_revision_read)
		return st->backend->compacted_revision_read(st, ret_rev);
	*ret_rev = st->backend->compacted_revision(st);
	return 0;
}

uint64_t
store_history_revisions(struct store *st)
{
	if (st->backend->history_revisions)
		return st->backend->history_revisions(st);
	return STORE_HISTORY_REVISIONS;
}

int
store_get(struct store *st, const char *key, struct store_kv **ret)
{
	int	 r;

	if (!st || !ret)
		return -BW_E_INVALID;
	if ((r = store_key_check(key)) < 0)
		return r;
	return st->backend->get(st, key, ret);
}

int
store_list(struct store *st, const char *prefix, struct store_kv ***ret,
    size_t *ret_n, uint64_t *ret_rev)
{
	uint64_t rev;
	int	 r;

	if (!st || !ret || !ret_n)
		return -BW_E_INVALID;
	if (!prefix)
		prefix = "";
	if ((r = store_prefix_check(prefix)) < 0)
		return r;
	if ((r = st->backend->list(st, prefix, ret, ret_n, &rev)) < 0)
		return r;
	if (ret_rev)
		*ret_rev = rev;
	return 0;
}

/* store_list_range() over a backend without one: the whole list, of
 * which the stretch is kept and the rest freed. */
static int
store_list_trim(struct store *st, const char *prefix, const char *after,
    size_t max, size_t max_bytes, struct store_kv ***ret, size_t *ret_n,
    uint64_t *ret_rev)
{
	struct store_kv	**a = NULL;
	size_t		  n = 0, i, from = 0, to, bytes = 0;
	int		  r;

	if ((r = st->backend->list(st, prefix, &a, &n, ret_rev)) < 0)
		return r;
	while (after && from < n && strcmp(a[from]->key, after) <= 0)
		from++;
	for (to = from; to < n && to - from < max && bytes < max_bytes; to++)
		bytes += a[to]->value_len;
	for (i = 0; i < n; i++)
		if (i < from || i >= to)
			store_kv_free(a[i]);
	if (from > 0 && to > from)
		memmove(a, a + from, (to - from) * sizeof(*a));
	*ret_n = to - from;
	if (*ret_n == 0) {
		free(a);
		a = NULL;
	}
	*ret = a;
	return 0;
}

int
store_list_range(struct store *st, const char *prefix, const char *after,
    size_t max, size_t max_bytes, struct store_kv ***ret, size_t *ret_n,
    uint64_t *ret_rev)
{
	uint64_t rev;
	int	 r;

	if (!st || !ret || !ret_n || max < 1 || max_bytes < 1)
		return -BW_E_INVALID;
	if (!prefix)
		prefix = "";
	if ((r = store_prefix_check(prefix)) < 0)
		return r;
	if (after && ((r = store_key_check(after)) < 0 ||
	    strncmp(after, prefix, strlen(prefix)) != 0))
		return r < 0 ? r : -BW_E_INVALID;
	r = st->backend->list_range ?
	    st->backend->list_range(st, prefix, after, max, max_bytes, ret,
	    ret_n, &rev) :
	    store_list_trim(st, prefix, after, max, max_bytes, ret, ret_n, &rev);
	if (r < 0)
		return r;
	if (ret_rev)
		*ret_rev = rev;
	return 0;
}

/* Validates one op; returns 0 or its -BW_E_* result. */
static int
store_op_check(const struct store_op *op)
{
	int	 r;

	if ((r = store_key_check(op->key)) < 0)
		return r;
	switch (op->type) {
	case STORE_OP_PUT:
		if (op->value_len > STORE_VALUE_MAX)
			return -BW_E_TOOLARGE;
		if (!op->value && op->value_len > 0)
			return -BW_E_INVALID;
		return 0;
	case STORE_OP_DELETE:
		/* "Delete only if absent" can never apply anything. */
		if (op->expect_rev == STORE_REV_ABSENT)
			return -BW_E_INVALID;
		return 0;
	}
	return -BW_E_INVALID;
}

int
store_batch(struct store *st, struct store_op *ops, size_t n, unsigned flags,
    int (*before_commit)(void *ctx, const struct store_op *ops, size_t n),
    void *ctx)
{
	size_t	 i, bytes = 0;
	int	 r, failed = 0;

	if (!st || (n > 0 && !ops) || (flags & ~STORE_BATCH_ATOMIC))
		return -BW_E_INVALID;
	if (n == 0)
		return 0;
	if (n > STORE_BATCH_MAX)
		return -BW_E_TOOLARGE;
	for (i = 0; i < n; i++) {
		ops[i].rev = 0;
		ops[i].result = store_op_check(&ops[i]);
		if (ops[i].result < 0) {
			if (!failed)
				failed = ops[i].result;
			continue;
		}
		/* Both terms are bounded by the checks above, so the sum
		 * cannot wrap. */
		bytes += strlen(ops[i].key) + ops[i].value_len;
	}
	if (bytes > STORE_BATCH_BYTES_MAX)
		return -BW_E_TOOLARGE;
	if (failed && (flags & STORE_BATCH_ATOMIC))
		return failed;
	r = st->backend->batch(st, ops, n, flags, before_commit, ctx);
	if (r < 0)
		for (i = 0; i < n; i++)
			ops[i].rev = 0;
	return r;
}

/* Applies the single OP atomically; *RET_REV (when not NULL) gets its
 * revision. */
static int
store_one(struct store *st, struct store_op *op, uint64_t *ret_rev)
{
	int	 r;

	r = store_batch(st, op, 1, STORE_BATCH_ATOMIC, NULL, NULL);
	/* A failed precondition comes back as -BW_E_CONFLICT; the op says
	 * which one it was. */
	if (r == -BW_E_CONFLICT && op->result < 0)
		r = op->result;
	if (r < 0)
		return r;
	if (ret_rev)
		*ret_rev = op->rev;
	return 0;
}

int
store_put(struct store *st, const char *key, const void *v, size_t len,
    uint64_t expect_rev, uint64_t *ret_rev)
{
	struct store_op op = {
		.type = STORE_OP_PUT, .key = key, .value = v,
		.value_len = len, .expect_rev = expect_rev,
	};

	return store_one(st, &op, ret_rev);
}

int
store_delete(struct store *st, const char *key, uint64_t expect_rev,
    uint64_t *ret_rev)
{
	struct store_op op = {
		.type = STORE_OP_DELETE, .key = key, .expect_rev = expect_rev,
	};

	return store_one(st, &op, ret_rev);
}

int
store_changes(struct store *st, const char *prefix, uint64_t since,
    size_t max, struct store_event **ret, size_t *ret_n)
{
	int	 r;

	if (!st || !ret || !ret_n || max == 0)
		return -BW_E_INVALID;
	if (!prefix)
		prefix = "";
	if ((r = store_prefix_check(prefix)) < 0)
		return r;
	return st->backend->changes(st, prefix, since, max, ret, ret_n);
}

int
store_compact(struct store *st, uint64_t rev)
{
	if (!st)
		return -BW_E_INVALID;
	if (rev > st->backend->revision(st))
		return -BW_E_INVALID;
	if (rev <= st->backend->compacted_revision(st))
		return 0;
	return st->backend->compact(st, rev);
}

int
store_capacity(struct store *st, struct store_capacity *ret)
{
	if (!st || !ret)
		return -BW_E_INVALID;
	if (!st->backend->capacity)
		return -ENOTSUP;
	return st->backend->capacity(st, ret);
}

const struct hist *
store_flush_hist(struct store *st)
{
	return &st->flush;
}

int
store_maintain(struct store *st)
{
	if (!st)
		return -BW_E_INVALID;
	if (!st->backend->maintain)
		return 0;
	return st->backend->maintain(st);
}

void
store_kv_free(struct store_kv *kv)
{
	if (!kv)
		return;
	free(kv->key);
	free(kv->value);
	free(kv);
}

void
store_kv_array_free(struct store_kv **a, size_t n)
{
	size_t	 i;

	if (!a)
		return;
	for (i = 0; i < n; i++)
		store_kv_free(a[i]);
	free(a);
}

void
store_events_free(struct store_event *e, size_t n)
{
	size_t	 i;

	if (!e)
		return;
	for (i = 0; i < n; i++) {
		free(e[i].key);
		free(e[i].value);
	}
	free(e);
}

int
store_outbox_put(struct store *st, uint64_t id, const void *value, size_t len)
{
	if (!st->backend->outbox_put)
		return -ENOTSUP;
	if (len > STORE_OUTBOX_VALUE_MAX || (len && !value))
		return -BW_E_TOOLARGE;
	return st->backend->outbox_put(st, id, value, len);
}

int
store_outbox_remove(struct store *st, uint64_t upto)
{
	if (!st->backend->outbox_remove)
		return -ENOTSUP;
	return st->backend->outbox_remove(st, upto);
}

int
store_outbox_trim(struct store *st, uint64_t upto)
{
	if (!st->backend->outbox_trim)
		return -ENOTSUP;
	return st->backend->outbox_trim(st, upto);
}

int
store_outbox_list(struct store *st, size_t max, struct store_outbox_entry **ret,
    size_t *ret_n)
{
	if (!st->backend->outbox_list)
		return -ENOTSUP;
	if (max == 0)
		return -BW_E_INVALID;
	return st->backend->outbox_list(st, max, ret, ret_n);
}

void
store_outbox_entries_free(struct store_outbox_entry *e, size_t n)
{
	if (!e)
		return;
	for (size_t i = 0; i < n; i++)
		free(e[i].value);
	free(e);
}

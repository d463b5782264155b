/* The state store on etcd v3 (docs/ha.md, "Store on etcd").
 *
 * etcd gives every put of one transaction the same etcd revision, while
 * the store promises each applied op its own revision, gapless, from 0
 * for a new store. So the store keeps its own numbering in etcd, beside
 * the data, under the store's PREFIX:
 *
 *   PREFIX m/rev          the store revision (decimal)
 *   PREFIX m/compacted    the compaction horizon (decimal)
 *   PREFIX d/KEY          a key: 8-byte mod_rev, 8-byte create_rev (big
 *                         endian), then the value
 *   PREFIX l/REV          the change log: REV as 16 hex digits; a type
 *                         byte ('P' or 'D'), the key, a NUL, the value
 *                         (put) or the deleted value's label, at most
 *                         STORE_LABEL_MAX bytes (delete)
 *   PREFIX o/ID           the audit outbox, ID as 16 hex digits
 *                         (o/REPLICA/ID with store_etcd_set_replica())
 *   PREFIX e/leader       the elected leader (store-etcd-elect.c)
 *
 * A batch reads what it needs in one read transaction, decides every
 * op there (store_precondition), then commits one etcd transaction that
 * writes the keys' final states, one log entry per applied op, m/rev
 * and the outbox entries its hook added, guarded by compares on the
 * etcd mod_revision of m/rev and of every key it read: another writer
 * in between fails the compares and nothing is applied. etcd's own
 * revisions stay internal (the compares, and the horizon of etcd's
 * history compaction in store_maintain()). */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>

#include "controlplane/store-etcd-internal.h"
#include "controlplane/store-etcd.h"
#include "lib/b64.h"
#include "lib/err.h"
#include "lib/macro.h"

#define ETCD_HDR	16		/* mod_rev and create_rev before a value */
#define ETCD_PAGE	1000		/* log entries read per request */
#define ETCD_RETRIES	64		/* commits retried after a conflict */

static struct etcd_store *
etcd_of(struct store *st)
{
	return (struct etcd_store *)st;
}

/* ---- JSON of the gateway's requests and answers ---- */

json_t *
etcd_b64(const void *p, size_t len)
{
	char	*s = NULL;
	json_t	*j;

	if (b64_encode(p, len, &s) < 0)
		return NULL;
	j = json_string(s);
	free(s);
	return j;
}

/* PREFIX TAG REST as a base64 JSON string. */
json_t *
etcd_key(struct etcd_store *es, const char *tag, const char *rest)
{
	_cleanup_free_ char *k = NULL;

	if (asprintf(&k, "%s%s%s", es->prefix, tag, rest) < 0)
		return NULL;
	return etcd_b64(k, strlen(k));
}

/* The first key after every key starting with PREFIX TAG REST. */
static json_t *
etcd_key_end(struct etcd_store *es, const char *tag, const char *rest)
{
	_cleanup_free_ char *k = NULL;
	size_t	 n;

	if (asprintf(&k, "%s%s%s", es->prefix, tag, rest) < 0)
		return NULL;
	n = strlen(k);
	while (n > 0 && (unsigned char)k[n - 1] == 0xff)
		n--;
	if (n == 0)
		return etcd_b64("\0", 1);	/* to the end of the keyspace */
	k[n - 1]++;
	return etcd_b64(k, n);
}

static json_t *
etcd_hexkey(struct etcd_store *es, const char *tag, uint64_t n, int end)
{
	char	 h[17];

	snprintf(h, sizeof(h), "%016" PRIx64, n);
	return end ? etcd_key_end(es, tag, "") : etcd_key(es, tag, h);
}

static json_t *
etcd_u64(uint64_t v)
{
	char	 s[24];

	snprintf(s, sizeof(s), "%" PRIu64, v);
	return json_string(s);
}

/* The gateway writes 64-bit numbers as strings and leaves out zeros. */
uint64_t
etcd_num(const json_t *o, const char *name)
{
	const json_t *v = json_object_get(o, name);

	if (json_is_string(v))
		return strtoull(json_string_value(v), NULL, 10);
	if (json_is_integer(v))
		return (uint64_t)json_integer_value(v);
	return 0;
}

static int
etcd_append(json_t *arr, const char *kind, json_t *body)
{
	if (!body)
		return -ENOMEM;
	return json_array_append_new(arr, json_pack("{s:o}", kind, body)) < 0 ?
	    -ENOMEM : 0;
}

static int
etcd_range_op(json_t *arr, json_t *key, json_t *end, uint64_t limit)
{
	json_t	*r = json_pack("{s:o}", "key", key);

	if (!r || !key)
		return -ENOMEM;
	if (end)
		json_object_set_new(r, "range_end", end);
	if (limit)
		json_object_set_new(r, "limit", etcd_u64(limit));
	return etcd_append(arr, "request_range", r);
}

static int
etcd_put_op(json_t *arr, json_t *key, const void *v, size_t len)
{
	json_t	*val = etcd_b64(v, len);

	if (!key || !val) {
		json_decref(key);
		json_decref(val);
		return -ENOMEM;
	}
	return etcd_append(arr, "request_put", json_pack("{s:o,s:o}", "key",
	    key, "value", val));
}

static int
etcd_delete_op(json_t *arr, json_t *key, json_t *end)
{
	json_t	*r = json_pack("{s:o}", "key", key);

	if (!r || !key)
		return -ENOMEM;
	if (end)
		json_object_set_new(r, "range_end", end);
	return etcd_append(arr, "request_delete_range", r);
}

/* Compare: KEY's etcd mod_revision equals MODREV (0: the key is absent). */
static int
etcd_cmp_mod(json_t *arr, json_t *key, uint64_t modrev)
{
	if (!key)
		return -ENOMEM;
	return json_array_append_new(arr, json_pack("{s:o,s:s,s:s,s:o}",
	    "key", key, "target", "MOD", "result", "EQUAL", "mod_revision",
	    etcd_u64(modrev))) < 0 ? -ENOMEM : 0;
}

/* POSTs the transaction (compares CMP, success ops OPS; both taken) and
 * returns its answer; *RET_OK says whether the compares held. */
static int
etcd_txn(struct etcd_store *es, json_t *cmp, json_t *ops, json_t **ret,
    int *ret_ok, char **ret_err)
{
	json_t	*req = json_pack("{s:o,s:o}", "compare", cmp ? cmp :
	    json_array(), "success", ops);
	int	 r;

	if (!req)
		return errf(-ENOMEM, ret_err, "etcd: out of memory");
	r = etcd_post(es, "/v3/kv/txn", req, ret, ret_err);
	json_decref(req);
	if (r == 0 && ret_ok)
		*ret_ok = json_is_true(json_object_get(*ret, "succeeded"));
	return r;
}

/* The kvs array of the I-th response of a transaction's answer (an
 * empty array when the range found nothing). */
static json_t *
etcd_kvs(json_t *ans, size_t i)
{
	json_t	*r = json_object_get(json_array_get(json_object_get(ans,
	    "responses"), i), "response_range");

	/* NULL when absent: jansson's array calls take it as empty. */
	return json_object_get(r, "kvs");
}

/* A decimal meta value from the I-th range response, and its etcd
 * mod_revision. */
static uint64_t
etcd_meta_val(json_t *ans, size_t i, uint64_t *ret_modrev)
{
	json_t	*kv = json_array_get(etcd_kvs(ans, i), 0);
	unsigned char *v = NULL;
	size_t	 len = 0;
	uint64_t n = 0;

	if (ret_modrev)
		*ret_modrev = kv ? etcd_num(kv, "mod_revision") : 0;
	if (kv && etcd_unb64(kv, "value", 32, &v, &len) == 0)
		n = strtoull((char *)v, NULL, 10);
	free(v);
	return n;
}

static void
etcd_seen(uint64_t *slot, uint64_t v)
{
	uint64_t cur = __atomic_load_n(slot, __ATOMIC_RELAXED);

	while (v > cur && !__atomic_compare_exchange_n(slot, &cur, v, 0,
	    __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
}

/* Reads m/rev and m/compacted in one transaction. */
static int
etcd_meta(struct etcd_store *es, uint64_t *ret_rev, uint64_t *ret_rev_mod,
    uint64_t *ret_compacted, uint64_t *ret_compacted_mod, char **ret_err)
{
	json_t	*ops = json_array(), *ans = NULL;
	int	 r;

	if ((r = etcd_range_op(ops, etcd_key(es, "m/", "rev"), NULL, 0)) < 0 ||
	    (r = etcd_range_op(ops, etcd_key(es, "m/", "compacted"), NULL,
	    0)) < 0) {
		json_decref(ops);
		return errf(r, ret_err, "etcd: out of memory");
	}
	if ((r = etcd_txn(es, NULL, ops, &ans, NULL, ret_err)) < 0)
		return r;
	*ret_rev = etcd_meta_val(ans, 0, ret_rev_mod);
	*ret_compacted = etcd_meta_val(ans, 1, ret_compacted_mod);
	etcd_seen(&es->rev_seen, *ret_rev);
	etcd_seen(&es->compacted_seen, *ret_compacted);
	json_decref(ans);
	return 0;
}

/* ---- reads ---- */

/* Reads the meta keys again and returns *SLOT, the highest value seen:
 * the interface has no error here, so an unreachable cluster answers
 * with the last value read. */
static uint64_t
etcd_meta_refresh(struct etcd_store *es, uint64_t *slot)
{
	uint64_t rev, mod, comp, cmod;

	(void)etcd_meta(es, &rev, &mod, &comp, &cmod, NULL);
	return __atomic_load_n(slot, __ATOMIC_RELAXED);
}

static uint64_t
etcd_revision(struct store *st)
{
	return etcd_meta_refresh(etcd_of(st), &etcd_of(st)->rev_seen);
}

static uint64_t
etcd_compacted_revision(struct store *st)
{
	return etcd_meta_refresh(etcd_of(st), &etcd_of(st)->compacted_seen);
}

/* The horizon as the cluster answers now: its error when it does not,
 * rather than the last one seen (0 before any read). */
static int
etcd_compacted_revision_read(struct store *st, uint64_t *ret)
{
	struct etcd_store *es = etcd_of(st);
	uint64_t rev, mod, comp, cmod;
	int r;

	if ((r = etcd_meta(es, &rev, &mod, &comp, &cmod, NULL)) < 0)
		return r;
	*ret = __atomic_load_n(&es->compacted_seen, __ATOMIC_RELAXED);
	return 0;
}

/* A store_kv from one etcd kv of PREFIX d/. */
static int
etcd_kv_decode(struct etcd_store *es, const json_t *kv, struct store_kv **ret)
{
	size_t	 plen = strlen(es->prefix) + 2, klen = 0, vlen = 0;
	_cleanup_free_ unsigned char *k = NULL, *v = NULL;
	struct store_kv *o = NULL;
	int	 r;

	if ((r = etcd_unb64(kv, "key", STORE_KEY_MAX + plen, &k, &klen)) < 0 ||
	    (r = etcd_unb64(kv, "value", STORE_VALUE_MAX + ETCD_HDR, &v,
	    &vlen)) < 0)
		goto out;
	r = -BW_E_CORRUPT;
	if (klen <= plen || vlen < ETCD_HDR)
		goto out;
	r = -ENOMEM;
	if (!(o = calloc(1, sizeof(*o))) ||
	    !(o->key = strndup((char *)k + plen, klen - plen)) ||
	    !(o->value = malloc(vlen - ETCD_HDR + 1)))
		goto out;
	memcpy(o->value, v + ETCD_HDR, vlen - ETCD_HDR);
	((char *)o->value)[vlen - ETCD_HDR] = 0;
	o->value_len = vlen - ETCD_HDR;
	for (size_t i = 0; i < 8; i++) {
		o->mod_rev = o->mod_rev << 8 | v[i];
		o->create_rev = o->create_rev << 8 | v[8 + i];
	}
	*ret = TAKE_PTR(o);
	return 0;
out:
	store_kv_free(o);
	return r;
}

static int
etcd_get(struct store *st, const char *key, struct store_kv **ret)
{
	struct etcd_store *es = etcd_of(st);
	json_t	*ops = json_array(), *ans = NULL, *kv;
	int	 r;

	if ((r = etcd_range_op(ops, etcd_key(es, "d/", key), NULL, 0)) < 0) {
		json_decref(ops);
		return r;
	}
	if ((r = etcd_txn(es, NULL, ops, &ans, NULL, NULL)) < 0)
		return r;
	kv = json_array_get(etcd_kvs(ans, 0), 0);
	r = kv ? etcd_kv_decode(es, kv, ret) : -BW_E_NOTFOUND;
	json_decref(ans);
	return r;
}

static int
etcd_list(struct store *st, const char *prefix, struct store_kv ***ret,
    size_t *ret_n, uint64_t *ret_rev)
{
	struct etcd_store *es = etcd_of(st);
	json_t	*ops = json_array(), *ans = NULL, *kvs;
	struct store_kv **a = NULL;
	size_t	 n, i;
	int	 r;

	/* One transaction: the keys and m/rev from one snapshot. */
	if ((r = etcd_range_op(ops, etcd_key(es, "m/", "rev"), NULL, 0)) < 0 ||
	    (r = etcd_range_op(ops, etcd_key(es, "d/", prefix),
	    etcd_key_end(es, "d/", prefix), 0)) < 0) {
		json_decref(ops);
		return r;
	}
	if ((r = etcd_txn(es, NULL, ops, &ans, NULL, NULL)) < 0)
		return r;
	kvs = etcd_kvs(ans, 1);
	n = json_array_size(kvs);
	if (n && !(a = calloc(n, sizeof(*a)))) {
		r = -ENOMEM;
		goto out;
	}
	for (i = 0; i < n; i++)
		if ((r = etcd_kv_decode(es, json_array_get(kvs, i), &a[i])) < 0)
			goto out;
	if (ret_rev)
		*ret_rev = etcd_meta_val(ans, 0, NULL);
	*ret = a;
	*ret_n = n;
	a = NULL;
	r = 0;
out:
	store_kv_array_free(a, n);
	json_decref(ans);
	return r;
}

/* One page of the change log from FROM, read at etcd revision *AT (0:
 * now, then set), with the horizon checked against SINCE. */
static int
etcd_log_page(struct etcd_store *es, uint64_t since, uint64_t from,
    uint64_t *at, json_t **ret)
{
	json_t	*ops = json_array(), *ans = NULL, *rr;
	uint64_t comp;
	int	 r;

	if ((r = etcd_range_op(ops, etcd_key(es, "m/", "compacted"), NULL,
	    0)) < 0 || (r = etcd_range_op(ops, etcd_hexkey(es, "l/", from, 0),
	    etcd_hexkey(es, "l/", 0, 1), ETCD_PAGE)) < 0) {
		json_decref(ops);
		return r;
	}
	if (*at) {
		/* Later pages read the first page's snapshot, so a
		 * compaction in between cannot leave a silent gap. */
		rr = json_object_get(json_array_get(ops, 0), "request_range");
		json_object_set_new(rr, "revision", etcd_u64(*at));
		rr = json_object_get(json_array_get(ops, 1), "request_range");
		json_object_set_new(rr, "revision", etcd_u64(*at));
	}
	if ((r = etcd_txn(es, NULL, ops, &ans, NULL, NULL)) < 0)
		return r;
	if (!*at)
		*at = etcd_num(json_object_get(ans, "header"), "revision");
	comp = etcd_meta_val(ans, 0, NULL);
	if (since < comp) {
		json_decref(ans);
		return -BW_E_COMPACTED;
	}
	*ret = ans;
	return 0;
}

static int
etcd_changes(struct store *st, const char *prefix, uint64_t since, size_t max,
    struct store_event **ret, size_t *ret_n)
{
	struct etcd_store *es = etcd_of(st);
	struct store_event *ev = NULL, *nev;
	size_t	 n = 0, cap = 0, i, got;
	uint64_t at = 0, from = since;
	json_t	*ans = NULL, *kvs;
	int	 r = 0, match;

	do {
		/* Past UINT64_MAX nothing can follow: only the horizon
		 * is checked. */
		if ((r = etcd_log_page(es, since, from == UINT64_MAX ? from :
		    from + 1, &at, &ans)) < 0)
			goto out;
		if (from == UINT64_MAX)
			break;
		kvs = etcd_kvs(ans, 1);
		got = json_array_size(kvs);
		for (i = 0; i < got && n < max; i++) {
			if (n == cap) {
				cap = cap ? cap * 2 : 16;
				if (!(nev = realloc(ev, cap * sizeof(*ev)))) {
					r = -ENOMEM;
					goto out;
				}
				ev = nev;
			}
			if ((r = etcd_event_decode(es->prefix,
			    json_array_get(kvs, i),
			    prefix, &ev[n], &match)) < 0)
				goto out;
			from = ev[n].rev;
			if (match)
				n++;
		}
		json_decref(ans);
		ans = NULL;
		if (got < ETCD_PAGE)
			break;
	} while (n < max);
	*ret = n ? ev : NULL;
	*ret_n = n;
	if (!n)
		free(ev);
	ev = NULL;
out:
	json_decref(ans);
	if (ev)
		store_events_free(ev, n);
	return r;
}

/* ---- writes ---- */

/* What a batch knows of one key it touches: as read, then as its ops
 * leave it. */
struct etcd_kstate {
	const char	*key;
	uint64_t	 etcd_mod;	/* etcd mod_revision read (0: absent) */
	int		 exists;
	uint64_t	 mod_rev, create_rev;
	const void	*value;
	size_t		 value_len;
	int		 touched;
	/* the label of the key's value (store_delete_label()), read only
	 * for a key the batch deletes; stale once an op of the batch
	 * put another value */
	char		 label[STORE_LABEL_MAX + 1];
	int		 label_stale;
};

struct etcd_batch {
	struct etcd_kstate *ks;
	size_t		 nks;
	size_t		*op_ks;		/* op index -> ks index */
	char		(*op_label)[STORE_LABEL_MAX + 1]; /* a delete's label */
	uint64_t	 start;		/* store revision read */
	uint64_t	 meta_mod;	/* etcd mod_revision of m/rev */
};

static void
etcd_batch_clear(struct etcd_batch *b)
{
	free(b->ks);
	free(b->op_ks);
	free(b->op_label);
	memset(b, 0, sizeof(*b));
}

/* Reads m/rev and every key the ops name in one read transaction. */
static int
etcd_batch_read(struct etcd_store *es, struct store_op *ops, size_t n,
    struct etcd_batch *b, char **ret_err)
{
	json_t	*rops = json_array(), *ans = NULL, *kv;
	struct store_kv *cur = NULL;
	size_t	 i, j;
	int	 r = -ENOMEM;

	if (!rops || !(b->ks = calloc(n, sizeof(*b->ks))) ||
	    !(b->op_ks = calloc(n, sizeof(*b->op_ks))) ||
	    !(b->op_label = calloc(n, sizeof(*b->op_label))))
		goto oom;
	if ((r = etcd_range_op(rops, etcd_key(es, "m/", "rev"), NULL, 0)) < 0)
		goto oom;
	for (i = 0; i < n; i++) {
		if (ops[i].result < 0)
			continue;
		for (j = 0; j < b->nks && strcmp(b->ks[j].key, ops[i].key); j++)
			;
		b->op_ks[i] = j;
		if (j < b->nks)
			continue;
		b->ks[b->nks++].key = ops[i].key;
		if ((r = etcd_range_op(rops, etcd_key(es, "d/", ops[i].key),
		    NULL, 0)) < 0)
			goto oom;
	}
	if ((r = etcd_txn(es, NULL, rops, &ans, NULL, ret_err)) < 0)
		return r;
	b->start = etcd_meta_val(ans, 0, &b->meta_mod);
	for (j = 0; j < b->nks; j++) {
		if (!(kv = json_array_get(etcd_kvs(ans, j + 1), 0)))
			continue;
		if ((r = etcd_kv_decode(es, kv, &cur)) < 0) {
			json_decref(ans);
			return errf(r, ret_err, "etcd: key %s: cannot decode",
			    b->ks[j].key);
		}
		b->ks[j].exists = 1;
		b->ks[j].etcd_mod = etcd_num(kv, "mod_revision");
		b->ks[j].mod_rev = cur->mod_rev;
		b->ks[j].create_rev = cur->create_rev;
		for (i = 0; i < n; i++)
			if (ops[i].result == 0 && b->op_ks[i] == j &&
			    ops[i].type == STORE_OP_DELETE) {
				store_delete_label(&es->base, cur->key,
				    cur->value, cur->value_len,
				    b->ks[j].label);
				break;
			}
		store_kv_free(cur);
		cur = NULL;
	}
	json_decref(ans);
	return 0;
oom:
	json_decref(rops);
	return errf(-ENOMEM, ret_err, "etcd: out of memory");
}

/* Decides every op on what was read, in order; returns the revision
 * after the last applied op and whether any op failed. */
static uint64_t
etcd_batch_decide(struct etcd_store *es, struct store_op *ops, size_t n,
    struct etcd_batch *b, int *ret_failed)
{
	uint64_t rev = b->start;
	struct etcd_kstate *k;
	size_t	 i;

	*ret_failed = 0;
	for (i = 0; i < n; i++) {
		if (ops[i].result < 0)
			continue;
		k = &b->ks[b->op_ks[i]];
		ops[i].result = store_precondition(ops[i].type,
		    ops[i].expect_rev, k->exists, k->mod_rev);
		if (ops[i].result < 0) {
			*ret_failed = 1;
			continue;
		}
		ops[i].rev = ++rev;
		k->touched = 1;
		if (ops[i].type == STORE_OP_DELETE) {
			if (k->label_stale)
				store_delete_label(&es->base, k->key,
				    k->value, k->value_len, k->label);
			k->label_stale = 0;
			memcpy(b->op_label[i], k->label, sizeof(k->label));
			k->exists = 0;
			continue;
		}
		k->label_stale = 1;
		if (!k->exists)
			k->create_rev = rev;
		k->exists = 1;
		k->mod_rev = rev;
		k->value = ops[i].value;
		k->value_len = ops[i].value_len;
	}
	return rev;
}

static int
etcd_put_kstate(struct etcd_store *es, json_t *arr, struct etcd_kstate *k)
{
	_cleanup_free_ unsigned char *v = malloc(ETCD_HDR + k->value_len);
	size_t	 i;

	if (!v)
		return -ENOMEM;
	for (i = 0; i < 8; i++) {
		v[i] = (unsigned char)(k->mod_rev >> (56 - 8 * i));
		v[8 + i] = (unsigned char)(k->create_rev >> (56 - 8 * i));
	}
	if (k->value_len)
		memcpy(v + ETCD_HDR, k->value, k->value_len);
	return etcd_put_op(arr, etcd_key(es, "d/", k->key), v,
	    ETCD_HDR + k->value_len);
}

static int
etcd_put_log(struct etcd_store *es, json_t *arr, const struct store_op *op,
    const char *label)
{
	size_t	 kl = strlen(op->key), len = 2 + kl;
	_cleanup_free_ unsigned char *v = NULL;

	len += op->type == STORE_OP_PUT ? op->value_len : strlen(label);
	if (!(v = malloc(len)))
		return -ENOMEM;
	v[0] = op->type == STORE_OP_PUT ? 'P' : 'D';
	memcpy(v + 1, op->key, kl + 1);
	if (op->type == STORE_OP_PUT && op->value_len)
		memcpy(v + 2 + kl, op->value, op->value_len);
	else if (op->type == STORE_OP_DELETE)
		memcpy(v + 2 + kl, label, strlen(label));
	return etcd_put_op(arr, etcd_hexkey(es, "l/", op->rev, 0), v, len);
}

/* The commit transaction's compares and writes. */
static int
etcd_batch_txn(struct etcd_store *es, const struct store_op *ops, size_t n,
    struct etcd_batch *b, uint64_t rev, json_t *cmp, json_t *wops)
{
	char	 d[24];
	size_t	 i;
	int	 r;

	if ((r = etcd_cmp_mod(cmp, etcd_key(es, "m/", "rev"), b->meta_mod)) < 0)
		return r;
	for (i = 0; i < b->nks; i++) {
		if ((r = etcd_cmp_mod(cmp, etcd_key(es, "d/", b->ks[i].key),
		    b->ks[i].etcd_mod)) < 0)
			return r;
		if (!b->ks[i].touched)
			continue;
		r = b->ks[i].exists ? etcd_put_kstate(es, wops, &b->ks[i]) :
		    etcd_delete_op(wops, etcd_key(es, "d/", b->ks[i].key), NULL);
		if (r < 0)
			return r;
	}
	for (i = 0; i < n; i++)
		if (ops[i].rev && (r = etcd_put_log(es, wops, &ops[i],
		    b->op_label[i])) < 0)
			return r;
	if (rev != b->start) {
		snprintf(d, sizeof(d), "%" PRIu64, rev);
		if ((r = etcd_put_op(wops, etcd_key(es, "m/", "rev"), d,
		    strlen(d))) < 0)
			return r;
	}
	return 0;
}

/* Runs the batch's hook with an outbox op list the store_outbox_*()
 * calls from it fill, returned in *RET_OPS (also on failure). */
static int
etcd_hook(struct etcd_store *es, store_before_commit_fn fn, void *ctx,
    const struct store_op *ops, size_t n, json_t **ret_ops)
{
	json_t	*o = json_array();
	int	 r;

	if (!o)
		return -ENOMEM;
	es->hook_thread = pthread_self();
	__atomic_store_n(&es->hook_ops, o, __ATOMIC_RELEASE);
	r = fn(ctx, ops, n);
	__atomic_store_n(&es->hook_ops, NULL, __ATOMIC_RELEASE);
	*ret_ops = o;
	return r;
}

/* One attempt: read, decide, hook, commit. Returns 1 when another
 * writer changed what was read (nothing applied), 0 or < 0. */
static int
etcd_batch_once(struct etcd_store *es, struct store_op *ops, size_t n,
    unsigned flags, store_before_commit_fn before_commit, void *ctx)
{
	struct etcd_batch b = { 0 };
	json_t	*cmp = NULL, *wops = NULL, *ans = NULL, *hook_ops = NULL;
	uint64_t rev;
	int	 r, failed, ok = 0;

	if ((r = etcd_batch_read(es, ops, n, &b, NULL)) < 0)
		goto out;
	rev = etcd_batch_decide(es, ops, n, &b, &failed);
	if (failed && (flags & STORE_BATCH_ATOMIC)) {
		r = -BW_E_CONFLICT;
		goto out;
	}
	if (before_commit && (r = etcd_hook(es, before_commit, ctx, ops, n,
	    &hook_ops)) < 0)
		goto out;
	r = 0;
	/* Nothing applied and no outbox change: nothing to commit. */
	if (rev == b.start && json_array_size(hook_ops) == 0)
		goto out;
	r = -ENOMEM;
	if (!(cmp = json_array()) || !(wops = json_array()) ||
	    (hook_ops && json_array_extend(wops, hook_ops) < 0))
		goto out;
	if ((r = etcd_batch_txn(es, ops, n, &b, rev, cmp, wops)) < 0)
		goto out;
	r = etcd_txn(es, cmp, wops, &ans, &ok, NULL);
	cmp = wops = NULL;
	if (r < 0)
		goto out;
	r = ok ? 0 : 1;
	if (ok)
		etcd_seen(&es->rev_seen, rev);
out:
	json_decref(cmp);
	json_decref(wops);
	json_decref(ans);
	json_decref(hook_ops);
	etcd_batch_clear(&b);
	return r;
}

/* Waits a little, more after each lost race, at random so two writers
 * that keep colliding drift apart. */
static void
etcd_backoff(int tries)
{
	unsigned cap = 1000u << (tries < 5 ? tries : 5);	/* to 32 ms */
	struct timespec ts = { 0, 0 };

	ts.tv_nsec = (long)(random() % cap) * 1000L;
	nanosleep(&ts, NULL);
}

static int
etcd_batch(struct store *st, struct store_op *ops, size_t n, unsigned flags,
    store_before_commit_fn before_commit, void *ctx)
{
	struct etcd_store *es = etcd_of(st);
	_cleanup_free_ int *res0 = malloc(n * sizeof(int));
	size_t	 i;
	int	 r = -ENOMEM, tries;

	if (!res0)
		return r;
	for (i = 0; i < n; i++)
		res0[i] = ops[i].result;
	pthread_mutex_lock(&es->write_mu);
	for (tries = 0; tries < ETCD_RETRIES; tries++) {
		r = etcd_batch_once(es, ops, n, flags, before_commit, ctx);
		if (r != 0)
			for (i = 0; i < n; i++)
				ops[i].rev = 0;
		if (r != 1)
			break;
		for (i = 0; i < n; i++)
			ops[i].result = res0[i];
		/* Another writer came in between. Without a hook the batch
		 * is read and decided again; a hook has run and may have
		 * recorded the ops' revisions, so its caller decides. */
		if (before_commit) {
			r = -EAGAIN;
			break;
		}
		etcd_backoff(tries);
	}
	pthread_mutex_unlock(&es->write_mu);
	return r == 1 ? -EAGAIN : r;
}

static int
etcd_compact_once(struct etcd_store *es, uint64_t rev, uint64_t *ret_etcd_rev)
{
	json_t	*cmp = json_array(), *wops = json_array(), *ans = NULL;
	uint64_t cur, mod, comp, cmod = 0;
	char	 d[24];
	int	 r, ok = 0;

	if ((r = etcd_meta(es, &cur, &mod, &comp, &cmod, NULL)) < 0)
		goto out;
	r = 0;
	if (rev <= comp)
		goto out;
	r = -BW_E_INVALID;
	if (rev > cur)
		goto out;
	/* Compare on m/compacted so two compactions cannot interleave. */
	snprintf(d, sizeof(d), "%" PRIu64, rev);
	if ((r = etcd_cmp_mod(cmp, etcd_key(es, "m/", "compacted"), cmod)) < 0 ||
	    (r = etcd_delete_op(wops, etcd_hexkey(es, "l/", 0, 0),
	    etcd_hexkey(es, "l/", rev + 1, 0))) < 0 ||
	    (r = etcd_put_op(wops, etcd_key(es, "m/", "compacted"), d,
	    strlen(d))) < 0)
		goto out;
	r = etcd_txn(es, cmp, wops, &ans, &ok, NULL);
	cmp = wops = NULL;
	if (r < 0)
		goto out;
	if (!ok) {
		r = 1;
		goto out;
	}
	etcd_seen(&es->compacted_seen, rev);
	*ret_etcd_rev = etcd_num(json_object_get(ans, "header"), "revision");
	r = 0;
out:
	json_decref(cmp);
	json_decref(wops);
	json_decref(ans);
	return r;
}

static int
etcd_compact(struct store *st, uint64_t rev)
{
	struct etcd_store *es = etcd_of(st);
	json_t	*req, *ans = NULL;
	uint64_t erev = 0;
	int	 r, tries = 0;

	pthread_mutex_lock(&es->write_mu);
	while ((r = etcd_compact_once(es, rev, &erev)) == 1 &&
	    ++tries < ETCD_RETRIES)
		etcd_backoff(tries);
	pthread_mutex_unlock(&es->write_mu);
	if (r != 0 || !erev)
		return r == 1 ? -EAGAIN : r;
	/* Let etcd drop its own history of the deleted entries too. The
	 * store reads no etcd history but a paged store_changes(), which
	 * then answers -BW_E_COMPACTED and is called again. Already
	 * compacted further (by another store on the cluster) is fine. */
	if (!(req = json_pack("{s:o}", "revision", etcd_u64(erev))))
		return -ENOMEM;
	r = etcd_post(es, "/v3/kv/compaction", req, &ans, NULL);
	json_decref(req);
	json_decref(ans);
	return r == -BW_E_COMPACTED ? 0 : r;
}

/* Keeps STORE_HISTORY_REVISIONS of change log, dropped once it is past
 * that by an eighth, as the LMDB backend does by default. */
static int
etcd_maintain(struct store *st)
{
	struct etcd_store *es = etcd_of(st);
	uint64_t cur, mod, comp, cmod, keep = STORE_HISTORY_REVISIONS;
	int	 r;

	if ((r = etcd_meta(es, &cur, &mod, &comp, &cmod, NULL)) < 0)
		return r;
	if (cur - comp <= keep + keep / 8)
		return 0;
	return etcd_compact(st, cur - keep);
}

/* ---- the audit outbox ---- */

static int
etcd_in_hook(struct etcd_store *es)
{
	/* Other threads may ask while the committer's hook runs. */
	return __atomic_load_n(&es->hook_ops, __ATOMIC_ACQUIRE) &&
	    pthread_equal(es->hook_thread, pthread_self());
}

static int
etcd_outbox_put(struct store *st, uint64_t id, const void *value, size_t len)
{
	struct etcd_store *es = etcd_of(st);
	json_t	*q = json_array(), *ans = NULL, *k, *e;
	size_t	 i;
	int	 r;

	if (!etcd_in_hook(es)) {
		json_decref(q);
		return -BW_E_INVALID;
	}
	if ((r = etcd_range_op(q, etcd_hexkey(es, es->outbox_tag, id, 0), NULL, 0)) < 0 ||
	    (r = etcd_txn(es, NULL, q, &ans, NULL, NULL)) < 0)
		return r;
	r = json_array_size(etcd_kvs(ans, 0)) ? -BW_E_EXISTS : 0;
	json_decref(ans);
	if (r < 0)
		return r;
	if (!(k = etcd_hexkey(es, es->outbox_tag, id, 0)))
		return -ENOMEM;
	json_array_foreach(es->hook_ops, i, e)
		if (json_equal(json_object_get(json_object_get(e,
		    "request_put"), "key"), k)) {
			json_decref(k);
			return -BW_E_EXISTS;
		}
	return etcd_put_op(es->hook_ops, k, value, len);
}

static int
etcd_outbox_delete_op(struct etcd_store *es, json_t *arr, uint64_t upto)
{
	return etcd_delete_op(arr, etcd_hexkey(es, es->outbox_tag, 0, 0),
	    upto == UINT64_MAX ? etcd_hexkey(es, es->outbox_tag, 0, 1) :
	    etcd_hexkey(es, es->outbox_tag, upto + 1, 0));
}

static int
etcd_outbox_remove(struct store *st, uint64_t upto)
{
	struct etcd_store *es = etcd_of(st);

	if (!etcd_in_hook(es))
		return -BW_E_INVALID;
	return etcd_outbox_delete_op(es, es->hook_ops, upto);
}

static int
etcd_outbox_list(struct store *st, size_t max, struct store_outbox_entry **ret,
    size_t *ret_n)
{
	struct etcd_store *es = etcd_of(st);
	json_t	*ops = json_array(), *ans = NULL, *kvs, *kv;
	struct store_outbox_entry *e = NULL;
	size_t	 n = 0, i, kl, plen = strlen(es->prefix) +
	    strlen(es->outbox_tag);
	unsigned char *k = NULL;
	int	 r;

	if ((r = etcd_range_op(ops, etcd_hexkey(es, es->outbox_tag, 0, 0),
	    etcd_hexkey(es, es->outbox_tag, 0, 1), max)) < 0) {
		json_decref(ops);
		return r;
	}
	if ((r = etcd_txn(es, NULL, ops, &ans, NULL, NULL)) < 0)
		return r;
	kvs = etcd_kvs(ans, 0);
	if (json_array_size(kvs) && !(e = calloc(json_array_size(kvs),
	    sizeof(*e)))) {
		r = -ENOMEM;
		goto out;
	}
	json_array_foreach(kvs, i, kv) {
		if ((r = etcd_unb64(kv, "key", plen + 16, &k, &kl)) < 0 ||
		    (r = etcd_unb64(kv, "value", STORE_OUTBOX_VALUE_MAX,
		    (unsigned char **)&e[n].value, &e[n].len)) < 0)
			goto out;
		r = -BW_E_CORRUPT;
		if (kl != plen + 16)
			goto out;
		e[n++].id = strtoull((char *)k + plen, NULL, 16);
		free(k);
		k = NULL;
	}
	*ret = e;
	*ret_n = n;
	e = NULL;
	r = 0;
out:
	free(k);
	if (e)
		store_outbox_entries_free(e, n + 1);
	json_decref(ans);
	return r;
}

static int
etcd_outbox_trim(struct store *st, uint64_t upto)
{
	struct etcd_store *es = etcd_of(st);
	json_t	*ops = json_array(), *ans = NULL;
	int	 r;

	if ((r = etcd_outbox_delete_op(es, ops, upto)) < 0) {
		json_decref(ops);
		return r;
	}
	pthread_mutex_lock(&es->write_mu);
	r = etcd_txn(es, NULL, ops, &ans, NULL, NULL);
	pthread_mutex_unlock(&es->write_mu);
	json_decref(ans);
	return r;
}

/* ---- open and close ---- */

static void
etcd_close(struct store *st)
{
	struct etcd_store *es = etcd_of(st);
	size_t	 i;

	etcd_http_close(es);
	for (i = 0; i < es->n_endpoints; i++)
		free(es->endpoints[i]);
	free(es->endpoints);
	free(es->prefix);
	free(es->outbox_tag);
	free(es->ca);
	free(es->cert);
	free(es->key);
	pthread_mutex_destroy(&es->pool_mu);
	pthread_mutex_destroy(&es->write_mu);
	free(es);
}

/* No capacity figures: etcd's space is its quota
 * (--quota-backend-bytes), watched by etcd's own alarms. */
static const struct store_backend etcd_backend = {
	.name = "etcd",
	STORE_BACKEND_OPS(etcd),
	.compacted_revision_read = etcd_compacted_revision_read,
	.capacity = NULL,
};

struct etcd_store *
etcd_store_of(struct store *st)
{
	return st && st->backend == &etcd_backend ? etcd_of(st) : NULL;
}

int
store_etcd_set_replica(struct store *st, const char *name, char **ret_err)
{
	struct etcd_store	*es = etcd_store_of(st);
	char			*tag;
	size_t			 i;

	if (!es)
		return -ENOTSUP;
	for (i = 0; name[i]; i++)
		if ((unsigned char)name[i] < 0x21 || name[i] == '/' ||
		    name[i] == 0x7f)
			return errf(-BW_E_INVALID, ret_err, "replica name "
			    "\"%s\": no spaces, slashes or control characters",
			    name);
	if (i == 0 || i > 64)
		return errf(-BW_E_INVALID, ret_err, "replica name: 1 to 64 "
		    "characters");
	if (asprintf(&tag, "o/%s/", name) < 0)
		return errf(-ENOMEM, ret_err, "out of memory");
	free(es->outbox_tag);
	es->outbox_tag = tag;
	return 0;
}

/* Parses "HOST:PORT,...": every endpoint non-empty. */
static int
etcd_parse_endpoints(struct etcd_store *es, const char *s, size_t len,
    char **ret_err)
{
	const char *p = s, *end = s + len, *c;

	while (p < end) {
		char	**ne;

		c = memchr(p, ',', (size_t)(end - p));
		if (!c)
			c = end;
		if (c == p)
			return errf(-BW_E_INVALID, ret_err, "etcd spec: empty "
			    "endpoint");
		if (!(ne = realloc(es->endpoints, (es->n_endpoints + 1) *
		    sizeof(*ne))))
			return errf(-ENOMEM, ret_err, "out of memory");
		es->endpoints = ne;
		if (!(ne[es->n_endpoints] = strndup(p, (size_t)(c - p))))
			return errf(-ENOMEM, ret_err, "out of memory");
		es->n_endpoints++;
		p = c + 1;
	}
	return es->n_endpoints ? 0 : errf(-BW_E_INVALID, ret_err,
	    "etcd spec: no endpoint");
}

/* Parses "ca=FILE&cert=FILE&key=FILE" (no percent-decoding). */
static int
etcd_parse_query(struct etcd_store *es, const char *q, char **ret_err)
{
	_cleanup_free_ char *dup = strdup(q);
	char	*save = NULL, *tok, **slot;

	if (!dup)
		return errf(-ENOMEM, ret_err, "out of memory");
	for (tok = strtok_r(dup, "&", &save); tok;
	    tok = strtok_r(NULL, "&", &save)) {
		if (!strncmp(tok, "ca=", 3))
			slot = &es->ca;
		else if (!strncmp(tok, "cert=", 5))
			slot = &es->cert;
		else if (!strncmp(tok, "key=", 4))
			slot = &es->key;
		else
			return errf(-BW_E_INVALID, ret_err, "etcd spec: "
			    "unknown parameter %s", tok);
		free(*slot);
		if (!(*slot = strdup(strchr(tok, '=') + 1)))
			return errf(-ENOMEM, ret_err, "out of memory");
	}
	if (!es->ca || !es->cert || !es->key)
		return errf(-BW_E_INVALID, ret_err, "etcd spec: ca=, cert= and "
		    "key= are required (TLS with a client certificate)");
	return 0;
}

static int
etcd_parse_spec(struct etcd_store *es, const char *spec, char **ret_err)
{
	const char *hosts = spec + strlen("etcd://"), *slash, *q;
	size_t	 plen;
	int	 r;

	if (strncmp(spec, "etcd://", 7) != 0)
		return errf(-BW_E_INVALID, ret_err, "etcd spec must start with "
		    "etcd://");
	if (!(slash = strchr(hosts, '/')))
		return errf(-BW_E_INVALID, ret_err, "etcd spec: no /PREFIX");
	if ((r = etcd_parse_endpoints(es, hosts, (size_t)(slash - hosts),
	    ret_err)) < 0)
		return r;
	q = strchr(slash, '?');
	plen = q ? (size_t)(q - slash - 1) : strlen(slash + 1);
	if (plen == 0)
		return errf(-BW_E_INVALID, ret_err, "etcd spec: empty prefix");
	if (!(es->prefix = malloc(plen + 3)))
		return errf(-ENOMEM, ret_err, "out of memory");
	snprintf(es->prefix, plen + 3, "/%.*s/", (int)plen, slash + 1);
	for (const char *c = es->prefix; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			return errf(-BW_E_INVALID, ret_err, "etcd spec: control "
			    "character in the prefix");
	return etcd_parse_query(es, q ? q + 1 : "", ret_err);
}

static void
etcd_global_init(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

int
store_open_etcd(const char *spec, struct store **ret, char **ret_err)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	struct etcd_store *es;
	uint64_t rev, mod, comp, cmod;
	char	*err = NULL;
	int	 r;

	*ret = NULL;
	pthread_once(&once, etcd_global_init);
	if (!(es = calloc(1, sizeof(*es))))
		return errf(-ENOMEM, ret_err, "out of memory");
	es->base.backend = &etcd_backend;
	pthread_mutex_init(&es->pool_mu, NULL);
	pthread_mutex_init(&es->write_mu, NULL);
	if (!(es->outbox_tag = strdup("o/"))) {
		r = errf(-ENOMEM, ret_err, "out of memory");
		goto fail;
	}
	if ((r = etcd_parse_spec(es, spec, ret_err)) < 0)
		goto fail;
	/* Reach the cluster now, so a bad endpoint or certificate is
	 * reported at open. */
	if ((r = etcd_meta(es, &rev, &mod, &comp, &cmod, &err)) < 0) {
		r = errf(r, ret_err, "opening the etcd store: %s", err);
		free(err);
		goto fail;
	}
	*ret = &es->base;
	return 0;
fail:
	etcd_close(&es->base);
	return r;
}

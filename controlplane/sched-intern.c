/* String interning for the scheduler: names become dense, reference
 * counted ids. The table is keyed with SipHash under a random key so
 * names chosen by tenants cannot force long probe chains. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "controlplane/sched-internal.h"

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND do {						\
	v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32);	\
	v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2;				\
	v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0;				\
	v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32);	\
} while (0)

/* SipHash-1-3: one compression round is enough for table keying. */
static uint64_t
siphash13(uint64_t k0, uint64_t k1, const unsigned char *in, size_t len)
{
	uint64_t v0 = 0x736f6d6570736575ULL ^ k0;
	uint64_t v1 = 0x646f72616e646f6dULL ^ k1;
	uint64_t v2 = 0x6c7967656e657261ULL ^ k0;
	uint64_t v3 = 0x7465646279746573ULL ^ k1;
	uint64_t b = (uint64_t)len << 56, m;
	size_t i, left = len & 7;

	for (i = 0; i + 8 <= len; i += 8) {
		memcpy(&m, in + i, 8);
		v3 ^= m;
		SIPROUND;
		v0 ^= m;
	}
	for (size_t j = 0; j < left; j++)
		b |= (uint64_t)in[i + j] << (8 * j);
	v3 ^= b;
	SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

static uint32_t
intern_hash(const struct sched_intern *t, const char *s, size_t len)
{
	return (uint32_t)siphash13(t->k0, t->k1, (const unsigned char *)s, len);
}

int
sched_intern_init(struct sched_intern *t)
{
	uint64_t k[2];

	memset(t, 0, sizeof(*t));
	if (getrandom(k, sizeof(k), 0) != (ssize_t)sizeof(k))
		return -errno ? -errno : -EIO;
	t->k0 = k[0];
	t->k1 = k[1];
	t->table_mask = 255;
	t->table = calloc(t->table_mask + 1, sizeof(*t->table));
	if (!t->table)
		return -ENOMEM;
	t->n_ids = 1;	/* id 0 means "none" */
	return 0;
}

void
sched_intern_done(struct sched_intern *t)
{
	for (uint32_t i = 1; i < t->n_ids; i++)
		free(t->str[i]);
	free(t->str);
	free(t->len);
	free(t->hash);
	free(t->refs);
	free(t->aux);
	free(t->free_ids);
	free(t->table);
	memset(t, 0, sizeof(*t));
}

uint32_t
sched_intern_find(const struct sched_intern *t, const char *s, size_t len)
{
	uint32_t h = intern_hash(t, s, len);
	uint32_t i = h & t->table_mask;

	for (;;) {
		uint32_t id = t->table[i];

		if (!id)
			return 0;
		if (t->hash[id] == h && t->len[id] == len && memcmp(t->str[id], s, len) == 0)
			return id;
		i = (i + 1) & t->table_mask;
	}
}

static int
intern_grow_table(struct sched_intern *t)
{
	uint32_t mask = t->table_mask * 2 + 1;
	uint32_t *nt = calloc((size_t)mask + 1, sizeof(*nt));

	if (!nt)
		return -ENOMEM;
	for (uint32_t i = 0; i <= t->table_mask; i++) {
		uint32_t id = t->table[i], j;

		if (!id)
			continue;
		for (j = t->hash[id] & mask; nt[j]; j = (j + 1) & mask)
			;
		nt[j] = id;
	}
	free(t->table);
	t->table = nt;
	t->table_mask = mask;
	return 0;
}

static int
intern_grow_ids(struct sched_intern *t)
{
	uint32_t cap = t->cap_ids ? t->cap_ids * 2 : 256;
	void *p;

#define GROW(field) do {						\
	p = realloc(t->field, (size_t)cap * sizeof(*t->field));		\
	if (!p)								\
		return -ENOMEM;						\
	t->field = p;							\
} while (0)
	GROW(str);
	GROW(len);
	GROW(hash);
	GROW(refs);
	GROW(aux);
	GROW(free_ids);
#undef GROW
	t->cap_ids = cap;
	return 0;
}

int
sched_intern_get(struct sched_intern *t, const char *s, size_t len, uint32_t *ret_id)
{
	uint32_t id = sched_intern_find(t, s, len), h, i;
	char *copy;
	int r;

	if (id) {
		t->refs[id]++;
		*ret_id = id;
		return 0;
	}
	/* Keep the load factor under one half so probes stay short. */
	if ((t->used + 1) * 2 > t->table_mask + 1 && (r = intern_grow_table(t)) < 0)
		return r;
	if (!t->n_free && t->n_ids >= t->cap_ids && (r = intern_grow_ids(t)) < 0)
		return r;
	copy = malloc(len + 1);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, s, len);
	copy[len] = 0;
	id = t->n_free ? t->free_ids[--t->n_free] : t->n_ids++;
	h = intern_hash(t, s, len);
	t->str[id] = copy;
	t->len[id] = (uint32_t)len;
	t->hash[id] = h;
	t->refs[id] = 1;
	for (int k = 0; k < SCHED_AUX__MAX; k++)
		t->aux[id][k] = -1;
	for (i = h & t->table_mask; t->table[i]; i = (i + 1) & t->table_mask)
		;
	t->table[i] = id;
	t->used++;
	*ret_id = id;
	return 0;
}

void
sched_intern_ref(struct sched_intern *t, uint32_t id)
{
	t->refs[id]++;
}

void
sched_intern_put(struct sched_intern *t, uint32_t id)
{
	uint32_t i, j;

	if (!id || --t->refs[id] > 0)
		return;
	/* Backward-shift deletion keeps linear probing free of tombstones. */
	for (i = t->hash[id] & t->table_mask; t->table[i] != id; i = (i + 1) & t->table_mask)
		;
	t->table[i] = 0;
	for (j = (i + 1) & t->table_mask; t->table[j]; j = (j + 1) & t->table_mask) {
		uint32_t home = t->hash[t->table[j]] & t->table_mask;

		/* Move the entry at j into the hole unless its home lies
		 * cyclically in (i, j]. */
		if ((j > i && (home <= i || home > j)) || (j < i && home <= i && home > j)) {
			t->table[i] = t->table[j];
			t->table[j] = 0;
			i = j;
		}
	}
	free(t->str[id]);
	t->str[id] = NULL;
	t->used--;
	t->free_ids[t->n_free++] = id;
}

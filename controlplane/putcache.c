#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <openssl/evp.h>

#include "controlplane/putcache.h"

/* One allocation: the entry, then its key, tenant and reply. */
struct pc_entry {
	struct pc_entry		*next;		/* in its bucket */
	TAILQ_ENTRY(pc_entry)	 age;		/* oldest first */
	uint64_t		 hash, rev;
	unsigned char		 digest[PUTCACHE_DIGEST_LEN];
	const char		*key, *tenant, *reply;
	size_t			 reply_len, size;
	char			 data[];
};

struct putcache {
	/* fetched once: SHA256() fetches the algorithm on every call, a
	 * tenth of the event loop at 500 heartbeats a second */
	EVP_MD				 *sha256;
	EVP_MD_CTX			 *mdctx;
	struct pc_entry			**buckets;
	size_t				  nbuckets;	/* a power of two */
	size_t				  n, bytes, max_bytes;
	TAILQ_HEAD(, pc_entry)		  age;
};

#define PC_BUCKETS_MIN	256

static uint64_t
key_hash(const char *key)
{
	uint64_t h = 0xcbf29ce484222325ULL;	/* FNV-1a */

	for (; *key; key++)
		h = (h ^ (unsigned char)*key) * 0x100000001b3ULL;
	return h;
}

struct putcache *
putcache_new(size_t max_bytes)
{
	struct putcache *pc = calloc(1, sizeof(*pc));

	if (!pc)
		return NULL;
	TAILQ_INIT(&pc->age);
	pc->nbuckets = PC_BUCKETS_MIN;
	if (!(pc->buckets = calloc(pc->nbuckets, sizeof(*pc->buckets))) ||
	    !(pc->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL)) ||
	    !(pc->mdctx = EVP_MD_CTX_new())) {
		putcache_free(pc);
		return NULL;
	}
	pc->max_bytes = max_bytes ? max_bytes : PUTCACHE_MAX_BYTES;
	return pc;
}

void
putcache_free(struct putcache *pc)
{
	struct pc_entry *e;

	if (!pc)
		return;
	while ((e = TAILQ_FIRST(&pc->age))) {
		TAILQ_REMOVE(&pc->age, e, age);
		free(e);
	}
	EVP_MD_CTX_free(pc->mdctx);
	EVP_MD_free(pc->sha256);
	free(pc->buckets);
	free(pc);
}

int
putcache_digest(struct putcache *pc, const void *body, size_t len,
    unsigned char ret[PUTCACHE_DIGEST_LEN])
{
	unsigned int n = 0;

	if (!EVP_DigestInit_ex2(pc->mdctx, pc->sha256, NULL) ||
	    !EVP_DigestUpdate(pc->mdctx, body, len) ||
	    !EVP_DigestFinal_ex(pc->mdctx, ret, &n) ||
	    n != PUTCACHE_DIGEST_LEN)
		return -EIO;
	return 0;
}

/* The link that points at KEY's entry (or at the NULL ending its
 * bucket). */
static struct pc_entry **
slot_of(struct putcache *pc, const char *key, uint64_t h)
{
	struct pc_entry **s = &pc->buckets[h & (pc->nbuckets - 1)];

	while (*s && ((*s)->hash != h || strcmp((*s)->key, key) != 0))
		s = &(*s)->next;
	return s;
}

static void
entry_remove(struct putcache *pc, struct pc_entry **s)
{
	struct pc_entry *e = *s;

	*s = e->next;
	TAILQ_REMOVE(&pc->age, e, age);
	pc->n--;
	pc->bytes -= e->size;
	free(e);
}

/* Doubles the buckets once they hold more entries than buckets; a
 * failed allocation only leaves the chains longer. */
static void
grow(struct putcache *pc)
{
	struct pc_entry	**nb, *e, *next;
	size_t		  n = pc->nbuckets * 2, i;

	if (pc->n <= pc->nbuckets || !(nb = calloc(n, sizeof(*nb))))
		return;
	for (i = 0; i < pc->nbuckets; i++)
		for (e = pc->buckets[i]; e; e = next) {
			next = e->next;
			e->next = nb[e->hash & (n - 1)];
			nb[e->hash & (n - 1)] = e;
		}
	free(pc->buckets);
	pc->buckets = nb;
	pc->nbuckets = n;
}

int
putcache_find(struct putcache *pc, const char *key, uint64_t rev,
    const unsigned char digest[PUTCACHE_DIGEST_LEN],
    struct putcache_hit *ret)
{
	struct pc_entry *e;

	if (!pc)
		return 0;
	e = *slot_of(pc, key, key_hash(key));
	if (!e || e->rev != rev ||
	    memcmp(e->digest, digest, PUTCACHE_DIGEST_LEN) != 0)
		return 0;
	*ret = (struct putcache_hit){ .tenant = e->tenant, .reply = e->reply,
	    .reply_len = e->reply_len };
	return 1;
}

int
putcache_put(struct putcache *pc, const char *key, uint64_t rev,
    const unsigned char digest[PUTCACHE_DIGEST_LEN], const char *tenant,
    const char *reply, size_t reply_len)
{
	struct pc_entry	**s, *e;
	uint64_t	  h = key_hash(key);
	size_t		  klen = strlen(key) + 1, tlen, size;
	char		 *p;

	if (!tenant)
		tenant = "";
	tlen = strlen(tenant) + 1;
	size = sizeof(*e) + klen + tlen + reply_len;
	if (size > pc->max_bytes / 4)
		return -E2BIG;
	if (*(s = slot_of(pc, key, h)))
		entry_remove(pc, s);
	while (pc->bytes + size > pc->max_bytes && !TAILQ_EMPTY(&pc->age)) {
		e = TAILQ_FIRST(&pc->age);
		entry_remove(pc, slot_of(pc, e->key, e->hash));
	}
	if (!(e = malloc(size)))
		return -ENOMEM;
	p = e->data;
	e->key = memcpy(p, key, klen);
	e->tenant = memcpy(p += klen, tenant, tlen);
	e->reply = memcpy(p += tlen, reply, reply_len);
	e->reply_len = reply_len;
	e->hash = h;
	e->rev = rev;
	e->size = size;
	memcpy(e->digest, digest, PUTCACHE_DIGEST_LEN);
	s = &pc->buckets[h & (pc->nbuckets - 1)];
	e->next = *s;
	*s = e;
	TAILQ_INSERT_TAIL(&pc->age, e, age);
	pc->n++;
	pc->bytes += size;
	grow(pc);
	return 0;
}

void
putcache_drop(struct putcache *pc, const char *key)
{
	struct pc_entry **s;

	if (pc && *(s = slot_of(pc, key, key_hash(key))))
		entry_remove(pc, s);
}

size_t
putcache_entries(const struct putcache *pc)
{
	return pc ? pc->n : 0;
}

size_t
putcache_bytes(const struct putcache *pc)
{
	return pc ? pc->bytes : 0;
}

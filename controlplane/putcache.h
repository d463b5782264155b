#ifndef BULWARK_CONTROLPLANE_PUTCACHE_H
#define BULWARK_CONTROLPLANE_PUTCACHE_H

/* The answers of replaces that changed nothing (api.c's
 * write_unchanged()), kept so that the same request again is answered
 * without parsing, validating and comparing its body: an
 * administrator's heartbeat PUTs a Node's own document every few
 * seconds. An entry says: a PUT to KEY whose body had SHA-256 DIGEST,
 * while the stored object was at revision REV, was admitted (schema,
 * names, the kind's rules) and changed nothing; its answer was REPLY;
 * its caller's authorisation was checked against TENANT. Nothing else
 * of the request went into that answer (api.c says which kinds qualify),
 * so the same body at the same revision gets the same answer: any
 * commit to the object gives it a new revision, which no entry names.
 * The caller still authorises and audits every request itself.
 *
 * Bounded: at most PUTCACHE_MAX_BYTES of keys and answers, the oldest
 * entry dropped first. Loop thread only (no locking). */

#include <stddef.h>
#include <stdint.h>

#define PUTCACHE_DIGEST_LEN	32
#define PUTCACHE_MAX_BYTES	(16u << 20)

struct putcache;

/* The entry's answer, owned by the cache: valid until the next
 * putcache_put() or putcache_drop(). */
struct putcache_hit {
	const char	*tenant;	/* authorisation's tenant; "" for none */
	const char	*reply;
	size_t		 reply_len;
};

/* A cache of at most MAX_BYTES (0: PUTCACHE_MAX_BYTES). NULL when out
 * of memory. */
struct putcache *putcache_new(size_t max_bytes);

/* Frees PC and its entries; NULL is fine. */
void putcache_free(struct putcache *pc);

/* The SHA-256 of a request body of LEN bytes into RET: 0, or -EIO. */
int putcache_digest(struct putcache *pc, const void *body, size_t len,
    unsigned char ret[PUTCACHE_DIGEST_LEN]);

/* Whether a PUT to KEY with a body of DIGEST was answered unchanged at
 * revision REV: 1 and *RET (the cache's copy), or 0. */
int putcache_find(struct putcache *pc, const char *key, uint64_t rev,
    const unsigned char digest[PUTCACHE_DIGEST_LEN],
    struct putcache_hit *ret);

/* Keeps the answer REPLY (REPLY_LEN bytes, copied) of a PUT to KEY with
 * a body of DIGEST that changed nothing at revision REV, its caller
 * authorised for TENANT (NULL: none). It replaces KEY's entry; older
 * entries are dropped to stay within the bound. 0, -E2BIG for an entry
 * larger than a quarter of the bound (not kept), or -ENOMEM. */
int putcache_put(struct putcache *pc, const char *key, uint64_t rev,
    const unsigned char digest[PUTCACHE_DIGEST_LEN], const char *tenant,
    const char *reply, size_t reply_len);

/* Forgets KEY's entry, if any. */
void putcache_drop(struct putcache *pc, const char *key);

/* Entries and bytes held (for tests and /metrics). */
size_t putcache_entries(const struct putcache *pc);
size_t putcache_bytes(const struct putcache *pc);

#endif

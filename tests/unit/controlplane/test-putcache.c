/* The cache of unchanged replaces' answers (controlplane/putcache.c):
 * an entry answers only its key, revision and body digest; a new entry
 * for a key replaces the old; the bytes held stay within the bound,
 * the oldest entries going first; the digest is SHA-256. */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "controlplane/putcache.h"

static void
digest_of(unsigned char d[PUTCACHE_DIGEST_LEN], int v)
{
	memset(d, 0, PUTCACHE_DIGEST_LEN);
	d[0] = (unsigned char)v;
	d[PUTCACHE_DIGEST_LEN - 1] = (unsigned char)(v >> 8);
}

static void
test_find(void **state)
{
	struct putcache		*pc = putcache_new(0);
	struct putcache_hit	 hit;
	unsigned char		 d1[PUTCACHE_DIGEST_LEN], d2[PUTCACHE_DIGEST_LEN];

	(void)state;
	assert_non_null(pc);
	digest_of(d1, 1);
	digest_of(d2, 2);
	assert_int_equal(putcache_find(pc, "/r/nodes/a", 7, d1, &hit), 0);
	assert_int_equal(putcache_put(pc, "/r/nodes/a", 7, d1, "system",
	    "{\"a\":1}\n", 8), 0);
	assert_int_equal(putcache_find(pc, "/r/nodes/a", 7, d1, &hit), 1);
	assert_int_equal(hit.reply_len, 8);
	assert_memory_equal(hit.reply, "{\"a\":1}\n", 8);
	assert_string_equal(hit.tenant, "system");
	/* another revision (a commit to the object), another body, another
	 * object: no answer */
	assert_int_equal(putcache_find(pc, "/r/nodes/a", 8, d1, &hit), 0);
	assert_int_equal(putcache_find(pc, "/r/nodes/a", 6, d1, &hit), 0);
	assert_int_equal(putcache_find(pc, "/r/nodes/a", 7, d2, &hit), 0);
	assert_int_equal(putcache_find(pc, "/r/nodes/b", 7, d1, &hit), 0);
	/* a new answer for the key replaces the old one */
	assert_int_equal(putcache_put(pc, "/r/nodes/a", 9, d2, NULL,
	    "{\"a\":2}\n", 8), 0);
	assert_int_equal(putcache_entries(pc), 1);
	assert_int_equal(putcache_find(pc, "/r/nodes/a", 7, d1, &hit), 0);
	assert_int_equal(putcache_find(pc, "/r/nodes/a", 9, d2, &hit), 1);
	assert_string_equal(hit.tenant, "");
	assert_memory_equal(hit.reply, "{\"a\":2}\n", 8);
	putcache_drop(pc, "/r/nodes/a");
	assert_int_equal(putcache_find(pc, "/r/nodes/a", 9, d2, &hit), 0);
	assert_int_equal(putcache_entries(pc), 0);
	assert_int_equal(putcache_bytes(pc), 0);
	putcache_free(pc);
}

/* Many keys: the buckets grow and every entry is still found. */
static void
test_many(void **state)
{
	struct putcache		*pc = putcache_new(0);
	struct putcache_hit	 hit;
	unsigned char		 d[PUTCACHE_DIGEST_LEN];
	char			 key[64], reply[64];
	int			 i;

	(void)state;
	assert_non_null(pc);
	for (i = 0; i < 5000; i++) {
		snprintf(key, sizeof(key), "/r/nodes/n%d", i);
		snprintf(reply, sizeof(reply), "{\"n\":%d}\n", i);
		digest_of(d, i);
		assert_int_equal(putcache_put(pc, key, (uint64_t)i + 1, d,
		    "system", reply, strlen(reply)), 0);
	}
	assert_int_equal(putcache_entries(pc), 5000);
	for (i = 0; i < 5000; i++) {
		snprintf(key, sizeof(key), "/r/nodes/n%d", i);
		snprintf(reply, sizeof(reply), "{\"n\":%d}\n", i);
		digest_of(d, i);
		assert_int_equal(putcache_find(pc, key, (uint64_t)i + 1, d,
		    &hit), 1);
		assert_int_equal(hit.reply_len, strlen(reply));
		assert_memory_equal(hit.reply, reply, hit.reply_len);
	}
	putcache_free(pc);
}

/* The bound: the oldest entries go first, the bytes held never pass
 * it, and an entry over a quarter of it is not kept. */
static void
test_bound(void **state)
{
	struct putcache		*pc = putcache_new(4096);
	struct putcache_hit	 hit;
	unsigned char		 d[PUTCACHE_DIGEST_LEN];
	char			 key[64], reply[200], big[2048];
	int			 i;

	(void)state;
	assert_non_null(pc);
	memset(reply, 'x', sizeof(reply));
	memset(big, 'y', sizeof(big));
	digest_of(d, 1);
	for (i = 0; i < 100; i++) {
		snprintf(key, sizeof(key), "/r/nodes/n%d", i);
		assert_int_equal(putcache_put(pc, key, 1, d, "system", reply,
		    sizeof(reply)), 0);
		assert_true(putcache_bytes(pc) <= 4096);
	}
	assert_true(putcache_entries(pc) > 1 && putcache_entries(pc) < 100);
	/* the newest is there, the oldest went */
	assert_int_equal(putcache_find(pc, "/r/nodes/n99", 1, d, &hit), 1);
	assert_int_equal(putcache_find(pc, "/r/nodes/n0", 1, d, &hit), 0);
	assert_int_equal(putcache_put(pc, "/r/nodes/big", 1, d, "system", big,
	    sizeof(big)), -E2BIG);
	assert_int_equal(putcache_find(pc, "/r/nodes/big", 1, d, &hit), 0);
	putcache_free(pc);
	putcache_free(NULL);
}

/* The body's digest is SHA-256 (FIPS 180-2's "abc" vector), the same
 * for the same bytes however often it is asked. */
static void
test_digest(void **state)
{
	static const unsigned char abc[PUTCACHE_DIGEST_LEN] = {
		0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41,
		0x40, 0xde, 0x5d, 0xae, 0x22, 0x23, 0xb0, 0x03, 0x61, 0xa3,
		0x96, 0x17, 0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00,
		0x15, 0xad,
	};
	struct putcache	*pc = putcache_new(0);
	unsigned char	 d[PUTCACHE_DIGEST_LEN], e[PUTCACHE_DIGEST_LEN];

	(void)state;
	assert_non_null(pc);
	assert_int_equal(putcache_digest(pc, "abc", 3, d), 0);
	assert_memory_equal(d, abc, sizeof(abc));
	assert_int_equal(putcache_digest(pc, "abd", 3, e), 0);
	assert_memory_not_equal(d, e, sizeof(d));
	assert_int_equal(putcache_digest(pc, "abc", 3, e), 0);
	assert_memory_equal(d, e, sizeof(d));
	putcache_free(pc);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_find),
		cmocka_unit_test(test_many),
		cmocka_unit_test(test_bound),
		cmocka_unit_test(test_digest),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

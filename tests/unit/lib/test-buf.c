#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "lib/buf.h"
#include "lib/macro.h"

static void
test_append_and_take(void **state)
{
	struct bw_buf	 b = { 0 };
	char		*s;
	size_t		 len = 0;

	(void)state;
	assert_int_equal(bw_buf_append(&b, "ab", 2), 0);
	assert_int_equal(bw_buf_append_u64(&b, 0), 0);
	assert_int_equal(bw_buf_append_u64(&b, UINT64_MAX), 0);
	assert_int_equal(bw_buf_appendf(&b, " %s=%d", "x", -7), 0);
	assert_int_equal(bw_buf_append(&b, NULL, 0), 0);
	assert_string_equal(b.p, "ab018446744073709551615 x=-7");
	assert_int_equal(b.len, strlen(b.p));
	s = bw_buf_take(&b, &len);
	assert_string_equal(s, "ab018446744073709551615 x=-7");
	assert_int_equal(len, strlen(s));
	assert_null(b.p);
	assert_int_equal(b.len, 0);
	free(s);
	/* an empty buffer hands over "" */
	s = bw_buf_take(&b, NULL);
	assert_string_equal(s, "");
	free(s);
	bw_buf_done(&b);
}

/* Growth keeps every byte, NULs included, and the terminator. */
static void
test_growth(void **state)
{
	_cleanup_(bw_buf_done) struct bw_buf b = { 0 };
	size_t	i;
	char	c;

	(void)state;
	for (i = 0; i < 100000; i++) {
		c = (char)(i % 251);
		assert_int_equal(bw_buf_append(&b, &c, 1), 0);
	}
	assert_int_equal(b.len, 100000);
	assert_true(b.cap > b.len);
	assert_int_equal(b.p[b.len], '\0');
	for (i = 0; i < 100000; i++)
		assert_int_equal(b.p[i], (char)(i % 251));
	assert_int_equal(bw_buf_appendf(&b, "%0*d", 70000, 1), 0);
	assert_int_equal(b.len, 170000);
	assert_int_equal(b.p[b.len - 1], '1');
	assert_int_equal(b.p[b.len], '\0');
}

/* MAX bounds LEN exactly; a refused append leaves the buffer as it was. */
static void
test_max(void **state)
{
	_cleanup_(bw_buf_done) struct bw_buf b = { .max = 10 };

	(void)state;
	assert_int_equal(bw_buf_append(&b, "0123456", 7), 0);
	assert_int_equal(bw_buf_append(&b, "7890", 4), -EFBIG);
	assert_int_equal(bw_buf_appendf(&b, "%s", "7890"), -EFBIG);
	assert_string_equal(b.p, "0123456");
	assert_int_equal(bw_buf_append(&b, "789", 3), 0);
	assert_string_equal(b.p, "0123456789");
	assert_int_equal(bw_buf_append(&b, "", 0), 0);
	assert_int_equal(bw_buf_append(&b, "x", 1), -EFBIG);
	assert_int_equal(bw_buf_reserve(&b, 1), -EFBIG);
	assert_int_equal(bw_buf_room(&b, 4096), -EFBIG);
	/* no limit still refuses sizes that would overflow */
	b.max = 0;
	assert_int_equal(bw_buf_reserve(&b, SIZE_MAX), -EFBIG);
	assert_int_equal(bw_buf_reserve(&b, SIZE_MAX - 5), -EFBIG);
}

/* A read loop: room, write, advance, bounded by MAX. */
static void
test_room(void **state)
{
	_cleanup_(bw_buf_done) struct bw_buf b = { .max = 5000 };
	long	n;
	size_t	total = 0;

	(void)state;
	while ((n = bw_buf_room(&b, 1024)) > 0) {
		assert_true((size_t)n <= 5000 - b.len);
		assert_true(b.len + (size_t)n < b.cap);
		memset(b.p + b.len, 'r', (size_t)n);
		bw_buf_advance(&b, (size_t)n);
		total += (size_t)n;
	}
	assert_int_equal(n, -EFBIG);
	assert_int_equal(total, 5000);
	assert_int_equal(b.len, 5000);
	assert_int_equal(b.p[5000], '\0');
	assert_int_equal(strspn(b.p, "r"), 5000);
}

/* A line reader drops what it parsed and keeps the rest. */
static void
test_consume(void **state)
{
	_cleanup_(bw_buf_done) struct bw_buf b = { 0 };

	(void)state;
	bw_buf_consume(&b, 3);
	assert_int_equal(bw_buf_append(&b, "one\ntwo\nthr", 11), 0);
	bw_buf_consume(&b, 4);
	assert_string_equal(b.p, "two\nthr");
	assert_int_equal(b.len, 7);
	bw_buf_consume(&b, 100);
	assert_int_equal(b.len, 0);
	assert_string_equal(b.p, "");
}

/* A secret buffer behaves the same and is empty after done(). */
static void
test_secret(void **state)
{
	struct bw_buf	b = { .secret = true, .max = 1 << 20 };
	size_t		i;

	(void)state;
	for (i = 0; i < 2000; i++)
		assert_int_equal(bw_buf_appendf(&b, "%02zx", i % 256), 0);
	assert_int_equal(b.len, 4000);
	assert_memory_equal(b.p, "000102", 6);
	assert_memory_equal(b.p + 3998, "cf", 2);
	bw_buf_done(&b);
	assert_null(b.p);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.cap, 0);
	assert_true(b.secret);
	assert_int_equal(b.max, 1 << 20);
	bw_buf_done(&b);
}

/* bw_buf_printf() keeps the first failure and then does nothing. */
static void
test_printf_sticky(void **state)
{
	_cleanup_(bw_buf_done) struct bw_buf b = { .max = 8 };

	(void)state;
	bw_buf_printf(&b, "%s", "abc");
	assert_int_equal(b.err, 0);
	bw_buf_printf(&b, "%s", "defghi");
	assert_int_equal(b.err, -EFBIG);
	bw_buf_printf(&b, "%s", "d");
	assert_string_equal(b.p, "abc");
	assert_int_equal(b.err, -EFBIG);
	bw_buf_done(&b);
	assert_int_equal(b.err, 0);
	bw_buf_printf(&b, "%d", 12345678);
	assert_int_equal(b.err, 0);
	assert_string_equal(b.p, "12345678");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_append_and_take),
		cmocka_unit_test(test_growth),
		cmocka_unit_test(test_max),
		cmocka_unit_test(test_room),
		cmocka_unit_test(test_consume),
		cmocka_unit_test(test_secret),
		cmocka_unit_test(test_printf_sticky),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

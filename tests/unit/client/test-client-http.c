/* The HTTP client's response framing: chunked bodies decoded whole or
 * reported incomplete, malformed framing refused. The agent's long poll
 * of /v1/watch arrives chunked on a kept-alive connection, so an
 * incomplete body must never be taken for a complete one and bytes past
 * the end must be refused. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "client/client.h"
#include "lib/err.h"

static int
dechunk(const char *in, char *out, size_t *len)
{
	return client_dechunk(in, strlen(in), out, len);
}

static void
test_complete_bodies(void **state)
{
	char	out[256];
	size_t	n = 99;

	(void)state;
	assert_int_equal(dechunk("0\r\n\r\n", out, &n), 1);
	assert_int_equal(n, 0);
	assert_int_equal(dechunk("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", out,
	    &n), 1);
	assert_int_equal(n, 11);
	assert_memory_equal(out, "hello world", 11);
	/* Extensions, upper-case hex, bare LF line ends, trailers. */
	assert_int_equal(dechunk("A;x=y\r\n0123456789\r\n0\r\nX-T: 1\r\n\r\n",
	    out, &n), 1);
	assert_int_equal(n, 10);
	assert_int_equal(dechunk("3\nabc\n0\n\n", out, &n), 1);
	assert_int_equal(n, 3);
	assert_memory_equal(out, "abc", 3);
}

static void
test_in_place(void **state)
{
	char	buf[] = "4\r\n{\"a\"\r\n2\r\n:1\r\n1\r\n}\r\n0\r\n\r\n";
	size_t	n;

	(void)state;
	assert_int_equal(client_dechunk(buf, strlen(buf), buf, &n), 1);
	assert_int_equal(n, 7);
	assert_memory_equal(buf, "{\"a\":1}", 7);
}

static void
test_incomplete_is_not_complete(void **state)
{
	const char	*full = "5\r\nhello\r\n0\r\n\r\n";
	char		 out[64];
	size_t		 n, cut;

	(void)state;
	/* Every proper prefix needs more bytes, and the probe (OUT NULL)
	 * writes nothing. */
	for (cut = 0; cut < strlen(full); cut++) {
		n = 77;
		assert_int_equal(client_dechunk(full, cut, NULL, &n), 0);
		assert_int_equal(n, 77);
		assert_int_equal(client_dechunk(full, cut, out, &n), 0);
	}
}

static void
test_malformed_is_refused(void **state)
{
	static const char *const bad[] = {
		"\r\n",				/* empty size line */
		"zz\r\n",			/* not hex */
		"-1\r\n",
		" 5\r\nhello\r\n0\r\n\r\n",	/* leading blank */
		"5\r\nhelloXX0\r\n\r\n",	/* no CRLF after data */
		"5\r\nhello\rX",
		"0\r\n\r\nextra",		/* bytes after the end */
		"fffffffffffffffffffffffffffffffff\r\n",
		"123456789012345678901234567890123456789",	/* endless size line */
	};
	char	out[64];
	size_t	n;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int r = client_dechunk(bad[i], strlen(bad[i]), out, &n);

		if (r != -BW_E_INVALID)
			fail_msg("case %zu (%s) gave %d", i, bad[i], r);
	}
}

/* The one URL splitter of the CLI and the agent: default ports, a
 * bracketed IPv6 host, a path ignored; anything else refused. */
static void
test_split_url(void **state)
{
	static const struct {
		const char	*url, *host, *port;
		int		 tls;
	} good[] = {
		{ "https://ctl.example:8443/v1", "ctl.example", "8443", 1 },
		{ "https://h", "h", "443", 1 },
		{ "http://[::1]:80", "::1", "80", 0 },
		{ "http://h", "h", "80", 0 },
	};
	static const char *const bad[] = {
		"ftp://h", "https://", "https://:443", "https://h:",
		"https://[::1", "https://h:123456789012345678",
		"https://aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	};
	char	host[64], port[16];
	int	tls = -1;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_int_equal(client_split_url(good[i].url, host,
		    sizeof(host), port, sizeof(port), &tls), 0);
		assert_string_equal(host, good[i].host);
		assert_string_equal(port, good[i].port);
		assert_int_equal(tls, good[i].tls);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(client_split_url(bad[i], host, sizeof(host),
		    port, sizeof(port), &tls), -BW_E_INVALID);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_complete_bodies),
		cmocka_unit_test(test_in_place),
		cmocka_unit_test(test_incomplete_is_not_complete),
		cmocka_unit_test(test_malformed_is_refused),
		cmocka_unit_test(test_split_url),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

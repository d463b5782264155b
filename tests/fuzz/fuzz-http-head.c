/* libFuzzer target for the HTTP clients' response framing (the CLI's and
 * the agent's), which reads bytes from whatever answers on the server's
 * address: the head parser, and the same bytes as a chunked body. The input is
 * passed as is, without a terminating NUL, so ASan catches any read past
 * the LEN bytes. Invariants: nothing crashes; a success has a status in
 * 100..599, a Content-Length of -1 (absent) or more, a 0/1 chunked
 * flag, and came from a "HTTP/1." status line; a failure is
 * -BW_E_INVALID and leaves the output parameters untouched. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "client/client.h"
#include "lib/err.h"
#include "tests/fuzz/fuzz.h"

#define SENTINEL	(-424242)

/* A chunked body: -BW_E_INVALID, 0 (incomplete) or 1 (complete, never
 * longer than its input); the probe agrees with the decoding, and
 * decoding in place gives the same bytes as decoding elsewhere. */
static void
check_dechunk(const uint8_t *data, size_t size)
{
	size_t	 n1 = 0, n2 = 0, n3 = 0;
	char	*a = malloc(size + 1), *b = malloc(size + 1);
	int	 probe, r1, r2;

	FUZZ_CHECK(a && b);
	memcpy(b, data, size);
	probe = client_dechunk((const char *)data, size, NULL, &n1);
	r1 = client_dechunk((const char *)data, size, a, &n2);
	r2 = client_dechunk(b, size, b, &n3);
	FUZZ_CHECK(probe == -BW_E_INVALID || probe == 0 || probe == 1);
	FUZZ_CHECK(probe == r1 && r1 == r2);
	if (r1 == 1) {
		FUZZ_CHECK(n1 == n2 && n2 == n3 && n2 <= size);
		FUZZ_CHECK(memcmp(a, b, n2) == 0);
	}
	free(a);
	free(b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int		 status = SENTINEL, chunked = SENTINEL, r;
	long long	 clen = SENTINEL;

	check_dechunk(data, size);
	r = client_parse_head((const char *)data, size, &status, &clen, &chunked);
	if (r < 0) {
		FUZZ_CHECK(r == -BW_E_INVALID);
		FUZZ_CHECK(status == SENTINEL && clen == SENTINEL &&
		    chunked == SENTINEL);
		return 0;
	}
	FUZZ_CHECK(r == 0);
	FUZZ_CHECK(size >= 12 && memcmp(data, "HTTP/1.", 7) == 0);
	FUZZ_CHECK(status >= 100 && status <= 599);
	FUZZ_CHECK(clen >= -1);
	FUZZ_CHECK(chunked == 0 || chunked == 1);
	return 0;
}

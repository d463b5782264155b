/* libFuzzer target for the CLI's HTTP response head parser, which reads
 * bytes from whatever answers on the server's address. The input is
 * passed as is, without a terminating NUL, so ASan catches any read past
 * the LEN bytes. Invariants: nothing crashes; a success has a status in
 * 100..599, a Content-Length of -1 (absent) or more, a 0/1 chunked
 * flag, and came from a "HTTP/1." status line; a failure is
 * -BW_E_INVALID and leaves the output parameters untouched. */
#include "config.h"

#include <string.h>

#include "appliance/client.h"
#include "lib/err.h"
#include "tests/fuzz/fuzz.h"

#define SENTINEL	(-424242)

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int		 status = SENTINEL, chunked = SENTINEL, r;
	long long	 clen = SENTINEL;

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

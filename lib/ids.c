#include "config.h"

#include <stdio.h>

#include <openssl/rand.h>

#include "lib/err.h"
#include "lib/ids.h"

int
bw_uuid_v4(char buf[BW_UUID_LEN + 1])
{
	unsigned char b[16];

	if (RAND_bytes(b, sizeof(b)) != 1)
		return -BW_E_CRYPTO;
	b[6] = (b[6] & 0x0f) | 0x40;
	b[8] = (b[8] & 0x3f) | 0x80;
	snprintf(buf, BW_UUID_LEN + 1, "%02x%02x%02x%02x-%02x%02x-%02x%02x-"
	    "%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2], b[3], b[4],
	    b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
	    b[15]);
	return 0;
}

void
bw_time_rfc3339(char *buf, size_t len, time_t t)
{
	struct tm tm;

	if (t == 0)
		t = time(NULL);
	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

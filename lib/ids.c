#include "config.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>

#include "lib/b64.h"
#include "lib/err.h"
#include "lib/ids.h"

/* Random bytes for UUIDs are drawn from the DRBG a pool at a time: one
 * RAND_bytes call per request showed up at ~4% of the API's CPU (the
 * DRBG's locking and per-call set-up), one per 32 UUIDs does not. The
 * pool is per thread, so no lock; UUIDs name objects and are not
 * secrets, so the pool needs no cleansing. */
#define UUID_POOL	512

int
bw_uuid_v4(char buf[BW_UUID_LEN + 1])
{
	static _Thread_local unsigned char	pool[UUID_POOL];
	static _Thread_local size_t		left;
	unsigned char				b[16];

	if (left < sizeof(b)) {
		if (RAND_bytes(pool, sizeof(pool)) != 1)
			return -BW_E_CRYPTO;
		left = sizeof(pool);
	}
	left -= sizeof(b);
	memcpy(b, pool + left, sizeof(b));
	b[6] = (b[6] & 0x0f) | 0x40;
	b[8] = (b[8] & 0x3f) | 0x80;
	bw_uuid_format(b, buf);
	return 0;
}

void
bw_uuid_format(const unsigned char b[16], char buf[BW_UUID_LEN + 1])
{
	char *o = buf;

	for (size_t i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			*o++ = '-';
		hex_encode(b + i, 1, o);
		o += 2;
	}
}

void
bw_time_rfc3339(char *buf, size_t len, time_t t)
{
	bw_time_rfc3339_at(buf, len, t ? t : time(NULL));
}

void
bw_time_rfc3339_at(char *buf, size_t len, time_t t)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int
bw_time_parse(const char *s, time_t *ret)
{
	struct tm	 tm = { 0 };
	const char	*e;

	if (!s || !(e = strptime(s, "%Y-%m-%d", &tm)))
		return -BW_E_INVALID;
	if (*e == 'T') {
		if (!(e = strptime(e, "T%H:%M:%S", &tm)))
			return -BW_E_INVALID;
		if (*e == '.' && e[1] >= '0' && e[1] <= '9')
			for (e++; *e >= '0' && *e <= '9'; e++)
				;
	}
	if (*e == 'Z')
		e++;
	if (*e)
		return -BW_E_INVALID;
	*ret = timegm(&tm);
	return 0;
}

void
bw_time_rfc3339_ms(char *buf, size_t len, const struct timespec *ts)
{
	struct tm tm;

	gmtime_r(&ts->tv_sec, &tm);
	snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, (int)((ts->tv_nsec / 1000000) % 1000));
}

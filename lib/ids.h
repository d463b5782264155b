/* Identifiers and timestamps every part stamps on objects. */
#ifndef BW_IDS_H
#define BW_IDS_H

#include <stddef.h>
#include <time.h>

#define BW_UUID_LEN	36
#define BW_TIME_LEN	20	/* "2026-11-26T18:00:00Z" */

/* Writes a random (version 4) UUID into BUF (BW_UUID_LEN + 1 bytes).
 * Returns 0 or -BW_E_CRYPTO when the random generator fails. */
int bw_uuid_v4(char buf[BW_UUID_LEN + 1]);

/* Writes the 16 bytes B (version and variant bits already set) as a
 * UUID's 36 characters and a NUL into BUF. */
void bw_uuid_format(const unsigned char b[16], char buf[BW_UUID_LEN + 1]);

/* Writes T (0: now) as RFC 3339 UTC with second precision into BUF
 * (at least BW_TIME_LEN + 1 bytes). */
void bw_time_rfc3339(char *buf, size_t len, time_t t);

/* As bw_time_rfc3339(), for T exactly (0 is 1970-01-01T00:00:00Z). */
void bw_time_rfc3339_at(char *buf, size_t len, time_t t);

/* As bw_time_rfc3339_at(), for TS with milliseconds:
 * "2026-11-26T18:00:00.123Z" (at least BW_TIME_LEN + 5 bytes). */
void bw_time_rfc3339_ms(char *buf, size_t len, const struct timespec *ts);

/* Parses a UTC time as these formatters write it, or a date alone:
 * "YYYY-MM-DD" or "YYYY-MM-DDTHH:MM:SS", then optional fractional
 * seconds and an optional "Z" (nothing else: no offsets). Returns 0 and
 * *RET, or -BW_E_INVALID. */
int bw_time_parse(const char *s, time_t *ret);

#endif

/* One growable byte buffer for composing text and collecting bytes read,
 * with an optional maximum and a variant that wipes what it held. */
#ifndef BW_BUF_H
#define BW_BUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Zero-initialise ({ 0 }, or set MAX and SECRET first); the buffer owns
 * P. Once anything was reserved, P[LEN] is '\0', so P is a C string when
 * the bytes hold no NUL. P is NULL until then. */
struct bw_buf {
	char	*p;
	size_t	 len;	/* bytes held, not counting the NUL */
	size_t	 cap;	/* bytes allocated at P */
	size_t	 max;	/* LEN never passes it; 0: no limit */
	bool	 secret;	/* key material: every copy is wiped */
	int	 err;	/* first failure of bw_buf_printf(), or 0 */
};

/* Makes room for MORE bytes past LEN and the NUL (P may move). Returns
 * 0, -EFBIG if LEN + MORE would pass MAX, -ENOMEM. */
int bw_buf_reserve(struct bw_buf *b, size_t more);

/* Appends N bytes of P. Nothing is appended on failure. Returns 0,
 * -EFBIG past MAX, -ENOMEM. */
int bw_buf_append(struct bw_buf *b, const void *p, size_t n);

/* Appends V in decimal, as "%" PRIu64 would, without the printf
 * machinery (the audit trail formats a few per record). */
int bw_buf_append_u64(struct bw_buf *b, uint64_t v);

/* Appends printf output. Returns 0, -EINVAL (bad format), -EFBIG past
 * MAX, -ENOMEM; nothing is appended on failure. */
int bw_buf_appendf(struct bw_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int bw_buf_vappendf(struct bw_buf *b, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

/* Appends printf output for writers that check once, at the end: the
 * first failure is kept in ERR, and once ERR is set this does nothing.
 * (The other functions neither read nor set ERR.) */
void bw_buf_printf(struct bw_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* For read loops: makes room for CHUNK more bytes (fewer when MAX is
 * nearer) and returns how many may be written at P + LEN: all the room
 * the buffer has, up to MAX, at least 1. The caller then counts what it
 * wrote with bw_buf_advance(). Returns -EFBIG when LEN is MAX already,
 * -ENOMEM. */
long bw_buf_room(struct bw_buf *b, size_t chunk);

/* Counts N bytes written at P + LEN after bw_buf_reserve() or
 * bw_buf_room() made room for them, and terminates them. */
void bw_buf_advance(struct bw_buf *b, size_t n);

/* Drops the first N (at most LEN) bytes, moving the rest to the front:
 * a reader that took one line keeps the bytes after it. */
void bw_buf_consume(struct bw_buf *b, size_t n);

/* Hands the bytes to the caller (free(); for a SECRET buffer, wipe them
 * first) as a NUL-terminated string, "" when empty; *RET_LEN (may be
 * NULL) gets LEN. The buffer is left empty. Returns NULL (the buffer
 * unchanged) only when an empty buffer cannot allocate its "". */
char *bw_buf_take(struct bw_buf *b, size_t *ret_len);

/* Frees P (wiped first when SECRET) and empties the buffer, ERR too; MAX
 * and SECRET stay. Accepts an empty buffer; usable as a cleanup function:
 * _cleanup_(bw_buf_done) struct bw_buf b = { 0 }; */
void bw_buf_done(struct bw_buf *b);

#endif
